//! Reviewer tools: why a decision was made ([`explain`]), the permission
//! matrix of an entity set ([`matrix`]), and the decisions a policy edit
//! changes ([`diff`]).

pub mod diff;
pub mod explain;
pub mod matrix;
pub mod profile;
pub mod universe;

/// Told how far a long computation (a matrix, a diff) got, e.g. to draw a
/// progress bar. Called from worker threads.
pub trait Progress: Sync {
    /// A stage starts with `total` steps.
    fn start(&self, stage: &str, total: u64);
    /// `n` more steps are done.
    fn advance(&self, n: u64);
    /// The stage is done.
    fn finish(&self);
}

/// No progress report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
