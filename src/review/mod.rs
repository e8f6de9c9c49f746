//! Reviewer tools: why a decision was made ([`explain`]), the permission
//! matrix of an entity set ([`matrix`]), and the decisions a policy edit
//! changes ([`diff`]).

pub mod diff;
pub mod explain;
pub mod matrix;
pub mod universe;
