//! Limits on the shape of policy and schema text, checked before Cedar
//! parses it: Cedar's parser, validator and evaluator recurse over the
//! nesting of an expression, so text nested deeply enough (thousands of
//! parentheses, or a chain of thousands of `&&`) would exhaust a thread's
//! stack and abort the process. Real policies stay far below these bounds
//! (the shipped pack: at most 28 operators in one policy).

use std::path::Path;

use crate::error::Problem;

/// Deepest nesting of `(`, `[` and `{` in a policy or schema file.
pub const MAX_NESTING: usize = 32;

/// Most operators (`&&`, `==`, `.`, `in`, ...) in one policy.
pub const MAX_OPERATORS: usize = 256;

/// Checks the nesting of a file, and for a policy file the operators of
/// each policy; the problem points at where a bound is passed.
pub fn check_cedar_text(rel: &Path, text: &str, policies: bool) -> Result<(), Problem> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut statement_start = 0usize;
    let mut i = 0usize;
    let word_at = |i: usize, w: &str| {
        bytes[i..].starts_with(w.as_bytes())
            && (i == 0 || !is_ident(bytes[i - 1]))
            && bytes.get(i + w.len()).is_none_or(|b| !is_ident(*b))
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Problem::at_offset(
                        rel,
                        text,
                        i,
                        format!(
                            "nested more than {MAX_NESTING} levels deep: teamgate refuses text \
                             nested deep enough to exhaust a parser's stack"
                        ),
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b';' if depth == 0 => {
                operators = 0;
                statement_start = i + 1;
            }
            _ if policies => {
                let op = match b {
                    b'&' | b'|' | b'=' if bytes.get(i + 1) == Some(&b) => 2,
                    b'!' | b'<' | b'>' if bytes.get(i + 1) == Some(&b'=') => 2,
                    b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'.' => 1,
                    _ => ["in", "has", "like", "is", "if"]
                        .iter()
                        .find(|w| word_at(i, w))
                        .map_or(0, |w| w.len()),
                };
                if op > 0 {
                    operators += 1;
                    if operators > MAX_OPERATORS {
                        return Err(Problem::at_offset(
                            rel,
                            text,
                            statement_start + leading_space(&bytes[statement_start..]),
                            format!(
                                "this policy has more than {MAX_OPERATORS} operators: split it \
                                 (teamgate refuses expressions deep enough to exhaust a stack)"
                            ),
                        ));
                    }
                    i += op;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn leading_space(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_policies_pass_and_deep_ones_are_located() {
        let p = Path::new("p.cedar");
        let ok = "permit (principal, action, resource) when { principal.role == Role::\"x\" && \"((((\" like \"*\" };";
        assert!(check_cedar_text(p, ok, true).is_ok());
        let deep = format!(
            "permit (principal, action, resource) when {{ {}true{} }};",
            "(".repeat(40),
            ")".repeat(40)
        );
        let e = check_cedar_text(p, &deep, true).expect_err("too deep");
        assert!(e.message().contains("nested more than 32"), "{e:?}");
        assert_eq!(e.line(), Some(1));
        let chain = format!("permit (principal, action, resource);\npermit (principal, action, resource) when {{ {} }};", vec!["true"; 300].join(" && "));
        let e = check_cedar_text(p, &chain, true).expect_err("too many operators");
        assert!(e.message().contains("more than 256 operators"), "{e:?}");
        assert_eq!(e.line(), Some(2));
        // Identifiers that contain keywords are not operators.
        let words = format!(
            "permit (principal, action, resource) when {{ {} }};",
            vec!["context.inside"; 100].join(" || ")
        );
        assert!(check_cedar_text(p, &words, true).is_ok());
    }
}
