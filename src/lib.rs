//! teamgate: permissions of collaboration software (workspaces, projects,
//! tasks, time tracking) as Cedar policies, answered in-process, from the
//! command line and over HTTP.
//!
//! The library face is a handful of types:
//! - [`Bundle`]: where a policy bundle lives (schemas, policies, entity data);
//!   [`Bundle::load`] gives a [`Snapshot`] or a [`LoadError`] listing every
//!   problem with its file, line and column.
//! - [`Snapshot`]: one validated, immutable bundle. [`Snapshot::decide`] is the
//!   one way to decide a [`Query`]; it returns a [`Decision`] and fails closed.
//! - [`Overlay`]: entities a single request brings, checked like the stored ones.
//! - [`Store`]: the current snapshot behind an atomic pointer, reloaded from
//!   disk (and watched with [`Store::watch`]).
//!
//! ```
//! use teamgate::{Bundle, Query};
//! let snapshot = Bundle::new(env!("CARGO_MANIFEST_DIR")).load()?;
//! let query = Query::parse(r#"User::"bob""#, "viewProject", r#"Project::"website""#)?;
//! let decision = snapshot.decide(&query, None);
//! assert!(decision.is_allowed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Rooms, with dependencies pointing one way: `server` and the CLI (in the
//! binary) use [`store`], which uses `bundle`, which uses `engine` (plain
//! Cedar slicing and fail-closed evaluation); [`domain`] (the workspace
//! vocabulary and integrity rules) stands beside them. [`scenario`] and
//! [`review`] are the reviewer's tools on top of a snapshot.
#![warn(missing_docs)]
// `Problem` carries file, line, column, JSON path and a snippet; it is only
// built on error paths, so its size does not matter.
#![allow(clippy::result_large_err)]

#[cfg(feature = "cli")]
pub mod alloc;
mod bundle;
pub mod domain;
mod engine;
mod error;
mod layered;
#[cfg(feature = "prove")]
pub mod prove;
mod query;
pub mod review;
pub mod sarif;
pub mod scenario;
pub mod server;
pub mod source;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use bundle::{
    check_cedar_text, decision_cache_counts, set_decision_cache, write_manifest, Bundle, Change,
    Effect, EntityRef, Overlay, OverlayBuilder, PolicyInfo, Snapshot, MANIFEST_FILE, MAX_NESTING,
    MAX_OPERATORS, SYSTEM_ROLES_LOCK,
};
pub use engine::Strategy;
pub use error::{error_chain, line_col, offset_of, Field, LoadError, Problem, RequestError};
pub use query::{parse_action, parse_uid, uid_of, Decision, Query, Verdict};
pub use store::Store;

/// A hash map with foldhash (seeded per process) instead of SipHash: the
/// maps and sets looked up on every request.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set with foldhash, like [`FastMap`].
pub(crate) type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// Cedar's types that appear in teamgate's API.
pub use cedar_policy;
