//! teamgate: permissions of collaboration software (workspaces, projects,
//! tasks, time tracking) as Cedar policies, answered in-process, from the
//! command line and over HTTP.
//!
//! The pieces, with dependencies pointing one way:
//! - [`bundle`] reads a bundle directory into an immutable [`Snapshot`];
//! - [`engine`] decides a [`Query`] against a snapshot, failing closed;
//! - `cli` (in the binary) and the server use them.
#![warn(missing_docs)]
// `Problem` carries file, line, JSON path and a rendered snippet; it is only
// built on error paths, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod bundle;
pub mod cli;
pub mod engine;
pub mod problem;
pub mod review;
pub mod scenario;
pub mod server;
pub mod store;
pub mod synth;
pub mod universe;
pub mod watch;

pub use bundle::{load, BundlePaths, LoadErrors, PolicyPack, Snapshot};
pub use engine::{Decision, Engine, Query, RequestError, RequestErrorKind, Strategy};
pub use problem::Problem;
pub use store::{ReloadOutcome, Store};
