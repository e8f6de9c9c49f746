//! Reports of a scenario run: text for people, JSON for programs, JUnit XML
//! for CI systems.

use serde_json::json;

use super::outcome::FileReport;
use crate::Snapshot;

/// (passed, failed) scenarios; a file that cannot load counts as one failure.
pub fn counts(reports: &[FileReport]) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    for f in reports {
        if f.error.is_some() {
            failed += 1;
        }
        for s in &f.scenarios {
            if s.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    (passed, failed)
}

/// One line per scenario; for each failure the expected and actual decision,
/// the determining policies with file:line, and the errors.
pub fn text(reports: &[FileReport], snap: &Snapshot) -> String {
    let mut out = String::new();
    for f in reports {
        out.push_str(&format!("{}\n", f.path));
        if let Some(e) = &f.error {
            out.push_str(&format!("  FAIL  file cannot load: {e}\n"));
            continue;
        }
        for s in &f.scenarios {
            let rules = if s.rules.is_empty() {
                String::new()
            } else {
                format!(" [{}]", s.rules.join(", "))
            };
            if s.passed() {
                out.push_str(&format!(
                    "  ok    {}{rules} ({} requests)\n",
                    s.name,
                    s.outcomes.len()
                ));
                continue;
            }
            out.push_str(&format!("  FAIL  {}{rules}\n", s.name));
            if let Some(e) = &s.error {
                out.push_str(&format!("        cannot run: {e}\n"));
            }
            for o in s.outcomes.iter().filter(|o| !o.failures.is_empty()) {
                let line = o
                    .line
                    .map(|l| format!(" ({}:{l})", f.path))
                    .unwrap_or_default();
                out.push_str(&format!("        {}{line}\n", o.request));
                for why in &o.failures {
                    out.push_str(&format!("          {why}\n"));
                }
                for id in o.decision.reasons() {
                    let at = snap
                        .policy(id)
                        .map(|i| format!("  {} {}", i.effect(), i.location()))
                        .unwrap_or_default();
                    out.push_str(&format!("          determined by {id}{at}\n"));
                }
                if o.decision.reasons().is_empty() && o.decision.errors().is_empty() {
                    out.push_str("          no policy applied\n");
                }
                for e in o.decision.errors() {
                    out.push_str(&format!("          error: {e}\n"));
                }
            }
        }
    }
    let (p, fl) = counts(reports);
    out.push_str(&format!("\n{p} passed, {fl} failed\n"));
    out
}

/// The whole run as JSON.
pub fn json(reports: &[FileReport]) -> String {
    let (passed, failed) = counts(reports);
    format!(
        "{:#}",
        json!({ "passed": passed, "failed": failed, "files": reports })
    )
}

/// Text escaped for XML attributes and content (control characters other
/// than newline and tab dropped).
pub fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Failed scenarios and files that cannot load as SARIF 2.1.0: a result per
/// failing request, under each rule its scenario names (or `scenario`), at
/// the request's line.
pub fn sarif(reports: &[FileReport]) -> String {
    use crate::sarif::{document, Finding};
    let mut findings = Vec::new();
    for f in reports {
        if let Some(e) = &f.error {
            findings.push(Finding::of_problem(e, "error"));
        }
        for s in &f.scenarios {
            let rules: Vec<String> = if s.rules.is_empty() {
                vec!["scenario".to_string()]
            } else {
                s.rules.clone()
            };
            let mut failed = Vec::new();
            if let Some(e) = &s.error {
                failed.push((
                    format!("scenario {:?} cannot run: {}", s.name, e.message()),
                    e.line(),
                ));
            }
            for o in s.outcomes.iter().filter(|o| !o.failures.is_empty()) {
                failed.push((
                    format!(
                        "scenario {:?}: {}: {}",
                        s.name,
                        o.request,
                        o.failures.join("; ")
                    ),
                    o.line,
                ));
            }
            for (message, line) in failed {
                for rule in &rules {
                    findings.push(Finding {
                        rule: rule.clone(),
                        level: "error",
                        message: message.clone(),
                        file: Some(f.path.clone()),
                        line,
                        column: None,
                    });
                }
            }
        }
    }
    format!("{:#}\n", document(&findings))
}

/// JUnit XML: a test suite per file, a test case per scenario.
pub fn junit(reports: &[FileReport], snap: &Snapshot) -> String {
    let (passed, failed) = counts(reports);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"teamgate\" tests=\"{}\" failures=\"{failed}\">\n",
        passed + failed
    );
    for f in reports {
        let failures =
            f.scenarios.iter().filter(|s| !s.passed()).count() + usize::from(f.error.is_some());
        let tests = f.scenarios.len() + usize::from(f.error.is_some());
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\">\n",
            esc(&f.path)
        ));
        if let Some(e) = &f.error {
            out.push_str(&format!(
                "    <testcase classname=\"{0}\" name=\"(load)\">\n      <failure message=\"file cannot load\">{1}</failure>\n    </testcase>\n",
                esc(&f.path),
                esc(&e.to_string())
            ));
        }
        for s in &f.scenarios {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                esc(&f.path),
                esc(&s.name)
            ));
            if s.passed() {
                out.push_str("/>\n");
                continue;
            }
            let mut body = String::new();
            if let Some(e) = &s.error {
                body.push_str(&format!("cannot run: {e}\n"));
            }
            for o in s.outcomes.iter().filter(|o| !o.failures.is_empty()) {
                body.push_str(&format!("{}\n", o.request));
                for why in &o.failures {
                    body.push_str(&format!("  {why}\n"));
                }
                for id in o.decision.reasons() {
                    let at = snap.policy(id).map(|i| i.location()).unwrap_or_default();
                    body.push_str(&format!("  determined by {id} {at}\n"));
                }
                for e in o.decision.errors() {
                    body.push_str(&format!("  error: {e}\n"));
                }
            }
            let first = body.lines().nth(1).unwrap_or("failed").trim().to_string();
            out.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                esc(&first),
                esc(&body)
            ));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
