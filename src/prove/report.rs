//! How `prove` results read: text for people, JUnit XML for CI.

use super::{Outcome, Status};

fn counts(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let n = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    (n(Status::Proved), n(Status::Violated), n(Status::Unknown))
}

/// The words of a report: invariants are proved or violated, the request
/// shapes of a diff are equivalent or differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    /// `prove`.
    Invariants,
    /// `diff --prove`.
    Diff,
}

/// One line per outcome, a counterexample and its replay command under a
/// violation, and a summary line.
pub fn text(outcomes: &[Outcome], words: Words) -> String {
    let mut out = String::new();
    let width = outcomes.iter().map(|o| o.id.len()).max().unwrap_or(0);
    let [proved, violated] = match words {
        Words::Invariants => ["proved", "violated"],
        Words::Diff => ["equivalent", "differ"],
    };
    for o in outcomes {
        let word = match o.status {
            Status::Proved => proved.to_string(),
            Status::Violated => violated.to_uppercase(),
            Status::Unknown => "unknown".to_string(),
        };
        let rules = if o.rules.is_empty() {
            String::new()
        } else {
            format!("  ({})", o.rules.join(", "))
        };
        let what = match words {
            Words::Invariants => format!("  {}{rules}", o.property),
            Words::Diff => String::new(),
        };
        out.push_str(&format!(
            "{word:10}  {:width$}{what}  [{} shapes, {} checks, {} ms]\n",
            o.id, o.shapes, o.checks, o.millis
        ));
        if let Some(r) = &o.reason {
            out.push_str(&format!("            {r}\n"));
        }
        if let Some(c) = &o.counterexample {
            out.push_str(&format!(
                "            counterexample: {} {} {}",
                c.principal, c.action, c.resource
            ));
            if c.context.as_object().is_some_and(|m| !m.is_empty()) {
                out.push_str(&format!(" context {}", c.context));
            }
            out.push('\n');
            if let Some(p) = &c.policy {
                out.push_str(&format!("            policy that errors: {p}\n"));
            }
            out.push_str(&format!("            decision: {}\n", c.decision));
            if let Some(r) = &c.replay {
                out.push_str(&format!("            replay: {}\n", r.command));
            }
        }
    }
    let (p, v, u) = counts(outcomes);
    out.push_str(&format!("{p} {proved}, {v} {violated}, {u} unknown\n"));
    out
}

/// JUnit XML: one test case per outcome; a violation is a failure, an
/// unknown an error.
pub fn junit(outcomes: &[Outcome], suite: &str) -> String {
    let esc = crate::scenario::report::esc;
    let (_, v, u) = counts(outcomes);
    let total_ms: u64 = outcomes.iter().map(|o| o.millis).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"teamgate prove\" tests=\"{}\" failures=\"{v}\" errors=\"{u}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{v}\" errors=\"{u}\" time=\"{:.3}\">\n",
        outcomes.len(),
        esc(suite),
        outcomes.len(),
        total_ms as f64 / 1000.0
    );
    for o in outcomes {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            esc(suite),
            esc(&o.id),
            o.millis as f64 / 1000.0
        ));
        let reason = o.reason.clone().unwrap_or_default();
        match o.status {
            Status::Proved => out.push_str("/>\n"),
            Status::Violated => {
                let mut body = reason.clone();
                if let Some(c) = &o.counterexample {
                    body.push_str(&format!(
                        "\ncounterexample: {} {} {} context {}\ndecision: {}",
                        c.principal, c.action, c.resource, c.context, c.decision
                    ));
                    if let Some(r) = &c.replay {
                        body.push_str(&format!("\nreplay: {}", r.command));
                    }
                }
                out.push_str(&format!(
                    ">\n      <failure message=\"{} violated\">{}</failure>\n    </testcase>\n",
                    esc(&o.property),
                    esc(&body)
                ));
            }
            Status::Unknown => out.push_str(&format!(
                ">\n      <error message=\"unknown\">{}</error>\n    </testcase>\n",
                esc(&reason)
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
