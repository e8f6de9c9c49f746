//! `LoadErrors`: every problem found in one load attempt.

use std::fmt;

use crate::Problem;

/// All problems of one load, in file order. Never empty when returned as an error
/// by [`crate::bundle::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<Problem>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

impl From<Problem> for LoadErrors {
    fn from(p: Problem) -> Self {
        LoadErrors(vec![p])
    }
}
