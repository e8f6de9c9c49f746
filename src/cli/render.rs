//! Rendering at the edge: the library's errors are diagnostics with spans;
//! here they become the text a reviewer reads in a terminal.

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
use teamgate::{LoadError, Problem};

/// A problem's message and span without its location (the header line
/// already says where), for miette's snippet.
#[derive(Debug)]
struct Snippet<'a>(&'a Problem);

impl std::fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for Snippet<'_> {}

impl Diagnostic for Snippet<'_> {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.0.labels()
    }
}

/// One problem: `file:line:column: message`, then the source snippet with
/// the span underlined where the problem carries its file's text.
pub fn problem(p: &Problem) -> String {
    let mut out = p.to_string();
    if p.source_code().is_some() {
        let mut snippet = String::new();
        let handler =
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
        if handler.render_report(&mut snippet, &Snippet(p)).is_ok() {
            out.push('\n');
            out.push_str(snippet.trim_end());
        }
    }
    out
}

/// Prints load problems to stderr, with a count.
pub fn load_errors(e: &LoadError) {
    for p in e.problems() {
        eprintln!("error: {}\n", problem(p));
    }
    let n = e.problems().len();
    eprintln!(
        "{n} error{} found; nothing was loaded",
        if n == 1 { "" } else { "s" }
    );
}
