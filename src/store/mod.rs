//! The store: the current [`Snapshot`] behind an atomic pointer, reloads that
//! validate a whole new bundle before swapping it in, status, and events.
//!
//! A query loads the pointer once and reads that snapshot to the end, so it
//! never sees a mix of old and new files. A reload that fails keeps the last
//! good snapshot serving and records the error until the next good reload.
//! Policies and entity data reload separately: a policy edit reuses the loaded
//! entities (unless the schema changed), so it is live in milliseconds at any
//! workspace size; an entity edit re-reads only the entity files.
//!
//! The store owns its files (`disk`: what changed, what to rebuild) and its
//! watcher ([`watch`]: file events -> debounced reloads, started with
//! [`Store::watch`]).

mod disk;
pub mod journal;
pub mod watch;

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::bundle::{Bundle, Change, Snapshot};
use crate::error::{LoadError, Problem};
use journal::Journal;

pub use watch::{Seen, WatchGuard, WatchHealth, WatchOptions, DEFAULT_DEBOUNCE, DEFAULT_RESCAN};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub enum ReloadOutcome {
    /// Nothing under the bundle changed.
    Unchanged,
    /// A new snapshot serves.
    Swapped(ChangeSummary),
    /// The new bundle is invalid; the previous snapshot keeps serving.
    Failed(Vec<Problem>),
}

/// What a successful reload changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ChangeSummary {
    /// Version before.
    pub old_version: String,
    /// Version now.
    pub new_version: String,
    /// Policy ids added.
    pub added: Vec<String>,
    /// Policy ids removed.
    pub removed: Vec<String>,
    /// Policy ids whose text changed.
    pub changed: Vec<String>,
    /// Whether the entity data was rebuilt.
    pub entities_reloaded: bool,
    /// Time to read, validate and swap.
    pub millis: u128,
}

impl std::fmt::Display for ChangeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "version {} -> {}: policies +{} -{} ~{}; entities {} ({} ms)",
            self.old_version,
            self.new_version,
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            if self.entities_reloaded {
                "reloaded"
            } else {
                "unchanged"
            },
            self.millis
        )?;
        for (sign, ids) in [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ] {
            for id in ids {
                write!(f, "\n  {sign} {id}")?;
            }
        }
        Ok(())
    }
}

/// A reload event, as sent to subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadEvent {
    /// When it finished.
    pub at: SystemTime,
    /// What happened.
    pub outcome: ReloadOutcome,
}

/// The store's health, for a status endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// Version serving now.
    pub version: String,
    /// When that snapshot was built.
    pub loaded_at: SystemTime,
    /// Errors of the last failed reload, cleared by the next good one.
    pub last_error: Option<Vec<Problem>>,
    /// When the last reload failed.
    pub last_error_at: Option<SystemTime>,
    /// Successful reloads that swapped a snapshot.
    pub reloads: u64,
    /// Failed reloads.
    pub failures: u64,
    /// Data changes taken since start.
    pub updates: u64,
    /// Changes applied over the entity files' data (recorded ones included).
    pub data_changes: u64,
    /// The entity data's version.
    pub data_version: String,
    /// The watcher, if one was started: whether it is up, its failures,
    /// and when it last looked at the disk.
    pub watcher: Option<WatcherStatus>,
}

/// The watcher's part of the status.
#[derive(Debug, Clone, Serialize)]
pub struct WatcherStatus {
    /// Whether it runs with its watches set up.
    pub up: bool,
    /// Reload panics and watch failures since start.
    pub failures: u64,
    /// When it last looked at the disk.
    pub last_check: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct Inner {
    last_error: Option<Vec<Problem>>,
    last_error_at: Option<SystemTime>,
    reloads: u64,
    failures: u64,
    updates: u64,
    subscribers: Vec<Sender<ReloadEvent>>,
}

/// A data change the store took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Updated {
    /// The snapshot version serving now.
    pub version: String,
    /// The entity data's version.
    pub data_version: String,
    /// Stored entities now.
    pub entities: usize,
    /// Time to check, record and swap, in microseconds.
    pub micros: u128,
}

/// Why a data change was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The caller's `If-Match` version is not the one serving.
    #[error("the change was made against version {expected}, but version {current} serves")]
    VersionMismatch {
        /// The version the caller expected.
        expected: String,
        /// The version serving.
        current: String,
    },
    /// The change breaks the schema or an integrity rule.
    #[error("the change is refused ({} problem(s)); nothing changed", .0.problems().len())]
    Invalid(LoadError),
    /// The change could not be made durable.
    #[error("{0}")]
    Storage(Problem),
}

/// The current snapshot of one bundle, and how to reload it.
#[derive(Debug)]
pub struct Store {
    bundle: Bundle,
    current: ArcSwap<Snapshot>,
    inner: Mutex<Inner>,
    /// Serialises policy reloads (the watcher, SIGHUP and the admin
    /// endpoint may race). Taken before `data_changes` when both are.
    policy_reloads: Mutex<()>,
    /// Serialises entity data changes (the data API, the entity source, a
    /// reload that reads the entity files again). A policy reload does not
    /// wait for it: it builds its policies over the data it saw, then puts
    /// them over whatever data is current (see [`disk::combine`]).
    data_changes: Mutex<()>,
    /// Held only to combine the latest policies and data into the snapshot
    /// served, and to swap it in.
    swapping: Mutex<()>,
    /// Where data changes are kept, if anywhere.
    journal: Option<Journal>,
    /// The watcher's health, once one was started.
    watch_health: Mutex<Option<Arc<watch::WatchHealth>>>,
}

impl Store {
    /// Loads the bundle; fails if it is invalid (there is no last good one yet).
    pub fn open(bundle: Bundle) -> Result<Store, LoadError> {
        Self::open_with(bundle, None)
    }

    /// Loads the bundle and applies the changes recorded in `journal` over
    /// its entity files; later changes ([`Store::update`]) are recorded there.
    pub fn open_with(bundle: Bundle, journal: Option<Journal>) -> Result<Store, LoadError> {
        let snap = bundle.load()?;
        let snap = replay(snap, journal.as_ref()).map_err(LoadError::new)?;
        Ok(Store {
            bundle,
            current: ArcSwap::from_pointee(snap),
            inner: Mutex::new(Inner::default()),
            policy_reloads: Mutex::new(()),
            data_changes: Mutex::new(()),
            swapping: Mutex::new(()),
            journal,
            watch_health: Mutex::new(None),
        })
    }

    /// The journal data changes are recorded in, if any.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Applies a change to the entity data: checked whole, recorded in the
    /// journal (durably) and then served, or refused with nothing changed.
    /// With `if_match`, refused unless that version is the one serving.
    pub fn update(&self, change: &Change, if_match: Option<&str>) -> Result<Updated, UpdateError> {
        self.apply(change, if_match, None, "request body")
    }

    /// Applies a change read from an outside source of truth (the database
    /// the sidecar follows) as [`Store::update`] does, but the data version
    /// is made from `content` -- a hash of the source's content after the
    /// change -- instead of the chain of changes, so every sidecar following
    /// the same source serves the same data version, however its changes
    /// were batched. `label` names the source in problems.
    pub fn apply_from_source(
        &self,
        change: &Change,
        content: &str,
        label: &str,
    ) -> Result<Updated, UpdateError> {
        self.apply(change, None, Some(content), label)
    }

    fn apply(
        &self,
        change: &Change,
        if_match: Option<&str>,
        content: Option<&str>,
        label: &str,
    ) -> Result<Updated, UpdateError> {
        let _one_change_at_a_time = self.data_changes.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let old = self.current.load_full();
        let version_matches = |current: &Snapshot| match if_match {
            Some(expected) if expected != current.version() => Err(UpdateError::VersionMismatch {
                expected: expected.to_string(),
                current: current.version().to_string(),
            }),
            _ => Ok(()),
        };
        version_matches(&old)?;
        let digest = match content {
            Some(c) => c.to_string(),
            None => change.chain(old.updates_digest()),
        };
        let changes = old.data_changes() + 1;
        // Built without holding up policy reloads, which may swap in new
        // policies meanwhile.
        let built = old
            .with_change_as(change, label, digest.clone(), changes)
            .map_err(UpdateError::Invalid)?;
        let swapping = self.swapping.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current.load_full();
        let new = if Arc::ptr_eq(current.pack(), old.pack()) {
            built
        } else {
            // New policies arrived while the change was built: the changed
            // data goes under them, checked as their reload checked the data.
            version_matches(&current)?;
            match disk::combine(current.pack(), &built) {
                Ok(new) => new,
                // They do not fit the data as changed (rare: a role file
                // removed, the schema changed): the change is built again
                // under them, with their checks.
                Err(_) => current
                    .with_change_as(change, label, digest.clone(), changes)
                    .map_err(UpdateError::Invalid)?,
            }
        };
        if let Some(j) = &self.journal {
            j.record(change, &digest, changes)
                .map_err(UpdateError::Storage)?;
        }
        let updated = Updated {
            version: new.version().to_string(),
            data_version: new.data_version().to_string(),
            entities: new.entity_count(),
            micros: started.elapsed().as_micros(),
        };
        let mut inner = self.lock();
        self.current.store(Arc::new(new));
        inner.updates += 1;
        drop(inner);
        drop(swapping);
        tracing::info!(
            target: "teamgate::data",
            "data change {changes}: version {} -> {} ({} upserted, {} deleted{}, {} µs)",
            old.version(),
            updated.version,
            change.upserts().len(),
            change.deletes().len(),
            if change.replaces_all() { ", all data replaced" } else { "" },
            updated.micros
        );
        Ok(updated)
    }

    /// The bundle it serves.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The snapshot serving now. Hold it for the whole query.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Current version, last error and counters.
    pub fn status(&self) -> StoreStatus {
        let snap = self.current.load();
        let inner = self.lock();
        StoreStatus {
            version: snap.version().to_string(),
            loaded_at: snap.loaded_at(),
            last_error: inner.last_error.clone(),
            last_error_at: inner.last_error_at,
            reloads: inner.reloads,
            failures: inner.failures,
            updates: inner.updates,
            data_changes: snap.data_changes(),
            data_version: snap.data_version().to_string(),
            watcher: self
                .watch_health
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|h| WatcherStatus {
                    up: h.is_up(),
                    failures: h.failures(),
                    last_check: h.last_check(),
                }),
        }
    }

    /// Every reload from now on is sent to the returned receiver.
    pub fn subscribe(&self) -> Receiver<ReloadEvent> {
        let (tx, rx) = channel();
        self.lock().subscribers.push(tx);
        rx
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner inconsistent (plain
        // counters and options), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the bundle again; validates whatever changed; swaps a new
    /// snapshot in only if all of it is valid.
    pub fn reload(&self) -> ReloadOutcome {
        self.reload_seen(watch::Seen::Anything)
    }

    /// [`Store::reload`] knowing what changed: after a save under
    /// `policies/` alone the entity files are not hashed (at 100,000 users
    /// that is 41 MB read for nothing). With a required manifest everything
    /// is read, as the manifest covers it all.
    pub fn reload_seen(&self, seen: watch::Seen) -> ReloadOutcome {
        let _one_reload_at_a_time = self
            .policy_reloads
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let old = self.current.load_full();
        let policies_only = seen == watch::Seen::PoliciesOnly && !self.bundle.requires_manifest();
        // Built without waiting for a data change in progress.
        let rebuilt = match disk::rebuild(&self.bundle, &old, policies_only) {
            Ok(Some(rebuilt)) if rebuilt.reread_entities(&old) => {
                return self.reload_entities(rebuilt, old, policies_only, started);
            }
            other => other,
        };
        let swapping = self.swapping.lock().unwrap_or_else(|e| e.into_inner());
        let (outcome, new) = match rebuilt {
            Ok(None) => (ReloadOutcome::Unchanged, None),
            Ok(Some(rebuilt)) => {
                // New policies over the data serving now, which a data
                // change may have replaced while they were built.
                let current = self.current.load_full();
                let new = if Arc::ptr_eq(current.data(), old.data()) {
                    Ok(rebuilt.into_snapshot())
                } else {
                    rebuilt.over(&current)
                };
                swapped(&current, new, false, started)
            }
            Err(problems) => (ReloadOutcome::Failed(problems), None),
        };
        self.record(&outcome, new);
        drop(swapping);
        self.after_reload(outcome, old)
    }

    /// A reload that read the entity files again (`rebuilt`, over `seen`):
    /// that is a data change, in turn with the others (under
    /// `data_changes`); built again if another change came first.
    fn reload_entities(
        &self,
        rebuilt: disk::Rebuilt,
        seen: Arc<Snapshot>,
        policies_only: bool,
        started: Instant,
    ) -> ReloadOutcome {
        let _data = self.data_changes.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let rebuilt = if Arc::ptr_eq(&old, &seen) {
            Ok(Some(rebuilt))
        } else {
            disk::rebuild(&self.bundle, &old, policies_only)
        };
        let (outcome, new) = match rebuilt {
            Ok(None) => (ReloadOutcome::Unchanged, None),
            Ok(Some(rebuilt)) => {
                let new = rebuilt.into_snapshot();
                let reloaded = rebuilt_entities(&old, &new);
                // Entity files read again: the recorded changes go over them.
                let new = if reloaded {
                    replay(new, self.journal.as_ref())
                } else {
                    Ok(new)
                };
                swapped(&old, new, reloaded, started)
            }
            Err(problems) => (ReloadOutcome::Failed(problems), None),
        };
        let swapping = self.swapping.lock().unwrap_or_else(|e| e.into_inner());
        self.record(&outcome, new);
        drop(swapping);
        self.after_reload(outcome, old)
    }

    fn after_reload(&self, outcome: ReloadOutcome, old: Arc<Snapshot>) -> ReloadOutcome {
        if matches!(&outcome, ReloadOutcome::Swapped(s) if s.entities_reloaded) {
            // The old entity data goes once the last query holding it ends;
            // give what is already free back to the system.
            drop(old);
            crate::bundle::release_free_memory();
        }
        outcome
    }

    /// Updates the status and, for a swap, publishes the new snapshot while
    /// holding the status lock, so whoever sees the new snapshot also sees
    /// the status that goes with it.
    fn record(&self, outcome: &ReloadOutcome, new: Option<Arc<Snapshot>>) {
        let mut inner = self.lock();
        match outcome {
            ReloadOutcome::Unchanged => {
                // The disk matches the served snapshot again (e.g. a broken
                // file was restored to its old content): nothing is wrong.
                if inner.last_error.take().is_some() {
                    inner.last_error_at = None;
                    tracing::info!(target: "teamgate::reload", "the bundle on disk matches the served version again");
                }
                return;
            }
            ReloadOutcome::Swapped(s) => {
                if let Some(new) = new {
                    self.current.store(new);
                }
                inner.reloads += 1;
                inner.last_error = None;
                inner.last_error_at = None;
                tracing::info!(target: "teamgate::reload", "{s}");
            }
            ReloadOutcome::Failed(p) => {
                inner.failures += 1;
                inner.last_error = Some(p.clone());
                inner.last_error_at = Some(SystemTime::now());
                for problem in p {
                    tracing::error!(target: "teamgate::reload", "reload failed, last good snapshot keeps serving: {problem}");
                }
            }
        }
        let event = ReloadEvent {
            at: SystemTime::now(),
            outcome: outcome.clone(),
        };
        inner
            .subscribers
            .retain(|tx| tx.send(event.clone()).is_ok());
    }
}

/// The snapshot with the journal's recorded changes applied over its
/// entity files' data.
fn replay(snap: Snapshot, journal: Option<&Journal>) -> Result<Snapshot, Vec<Problem>> {
    let Some(j) = journal else {
        return Ok(snap);
    };
    let Some(r) = j.recorded().map_err(|p| vec![p])? else {
        return Ok(snap);
    };
    let label = format!("changes recorded in {}", j.path().display());
    snap.with_change_as(&r.change, &label, r.digest, r.changes)
        .map_err(|e| {
            let mut problems = e.into_problems();
            problems.push(Problem::in_file(
                j.path(),
                "the changes recorded in the data store no longer fit the entity files; \
                 fix the files, or start afresh from them with `teamgate data reset`",
            ));
            problems
        })
}

/// The outcome of a rebuilt snapshot replacing `old` (or failing).
fn swapped(
    old: &Snapshot,
    new: Result<Snapshot, Vec<Problem>>,
    entities_reloaded: bool,
    started: Instant,
) -> (ReloadOutcome, Option<Arc<Snapshot>>) {
    match new {
        Ok(new) => {
            let summary = summarize(old, &new, entities_reloaded, started.elapsed());
            (ReloadOutcome::Swapped(summary), Some(Arc::new(new)))
        }
        Err(problems) => (ReloadOutcome::Failed(problems), None),
    }
}

/// Whether `new` holds other entity data than `old` (not the same `Arc`).
fn rebuilt_entities(old: &Snapshot, new: &Snapshot) -> bool {
    !Arc::ptr_eq(old.data(), new.data())
}

fn summarize(
    old: &Snapshot,
    new: &Snapshot,
    entities_reloaded: bool,
    took: Duration,
) -> ChangeSummary {
    let mut s = ChangeSummary {
        old_version: old.version().to_string(),
        new_version: new.version().to_string(),
        entities_reloaded,
        millis: took.as_millis(),
        ..ChangeSummary::default()
    };
    for info in new.policies() {
        match old.policy(info.id()) {
            None => s.added.push(info.id().to_string()),
            Some(o) if o.text() != info.text() => s.changed.push(info.id().to_string()),
            Some(_) => {}
        }
    }
    s.removed = old
        .policies()
        .filter(|p| new.policy(p.id()).is_none())
        .map(|p| p.id().to_string())
        .collect();
    s
}
