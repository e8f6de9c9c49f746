//! The store: the current [`Snapshot`] behind an atomic pointer, reloads that
//! validate a whole new bundle before swapping it in, status, and events.
//!
//! A query loads the pointer once and reads that snapshot to the end, so it
//! never sees a mix of old and new files. A reload that fails keeps the last
//! good snapshot serving and records the error until the next good reload.
//! Policies and entity data reload separately: a policy edit reuses the loaded
//! entities (unless the schema changed), so it is live in milliseconds at any
//! workspace size; an entity edit re-reads only the entity files.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::bundle::{self, BundlePaths, EntityData, LoadErrors, PackSources, PolicyPack};
use crate::{Problem, Snapshot};

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
}

#[derive(Debug, Default)]
struct Inner {
    last_error: Option<Vec<Problem>>,
    last_error_at: Option<SystemTime>,
    reloads: u64,
    failures: u64,
    subscribers: Vec<Sender<ReloadEvent>>,
}

/// The parts of a new snapshot, and whether the entities were re-read.
struct Rebuilt {
    pack: Arc<PolicyPack>,
    data: Arc<EntityData>,
    entities_reloaded: bool,
}

/// The current snapshot of one bundle, and how to reload it.
#[derive(Debug)]
pub struct Store {
    paths: BundlePaths,
    current: ArcSwap<Snapshot>,
    inner: Mutex<Inner>,
    /// Serialises reloads (the watcher, SIGHUP and the admin endpoint may race).
    reloading: Mutex<()>,
}

impl Store {
    /// Loads the bundle; fails if it is invalid (there is no last good one yet).
    pub fn open(paths: BundlePaths) -> Result<Store, LoadErrors> {
        let snap = bundle::load(&paths)?;
        Ok(Store {
            paths,
            current: ArcSwap::from_pointee(snap),
            inner: Mutex::new(Inner::default()),
            reloading: Mutex::new(()),
        })
    }

    /// The bundle's paths.
    pub fn paths(&self) -> &BundlePaths {
        &self.paths
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
            version: snap.version.clone(),
            loaded_at: snap.loaded_at,
            last_error: inner.last_error.clone(),
            last_error_at: inner.last_error_at,
            reloads: inner.reloads,
            failures: inner.failures,
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
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let old = self.current.load_full();
        let outcome = match self.build(&old) {
            Ok(None) => ReloadOutcome::Unchanged,
            Ok(Some(Rebuilt {
                pack,
                data,
                entities_reloaded,
            })) => {
                let new = Snapshot::new(pack, data);
                let summary = summarize(&old, &new, entities_reloaded, started.elapsed());
                self.current.store(Arc::new(new));
                ReloadOutcome::Swapped(summary)
            }
            Err(problems) => ReloadOutcome::Failed(problems),
        };
        self.record(&outcome);
        outcome
    }

    fn build(&self, old: &Snapshot) -> Result<Option<Rebuilt>, Vec<Problem>> {
        // Every file is read once: hashed to see what changed, then built from.
        let mut problems = Vec::new();
        let sources = PackSources::read(&self.paths, &mut problems);
        let fixtures = bundle::read_dir_files(&self.paths.fixtures, "json", &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let pack_changed = sources.hash(&self.paths.root) != old.pack.content_hash;
        let data_changed =
            bundle::hash_sources(&fixtures, &self.paths.root) != old.data.content_hash;
        if !pack_changed && !data_changed {
            return Ok(None);
        }
        let pack = if pack_changed {
            Arc::new(PolicyPack::from_sources(&self.paths, sources).map_err(|e| e.0)?)
        } else {
            old.pack.clone()
        };
        let reload_entities = data_changed || pack.schema_hash != old.pack.schema_hash;
        let data = if reload_entities {
            Arc::new(EntityData::from_files(&self.paths, &fixtures, &pack).map_err(|e| e.0)?)
        } else {
            let problems = old.data.roles.check(&pack);
            if !problems.is_empty() {
                return Err(problems);
            }
            old.data.clone()
        };
        Ok(Some(Rebuilt {
            pack,
            data,
            entities_reloaded: reload_entities,
        }))
    }

    fn record(&self, outcome: &ReloadOutcome) {
        let mut inner = self.lock();
        match outcome {
            ReloadOutcome::Unchanged => return,
            ReloadOutcome::Swapped(s) => {
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
                    tracing::error!(target: "teamgate::reload", "reload failed, last good snapshot keeps serving: {}", problem.rendered);
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

fn summarize(
    old: &Snapshot,
    new: &Snapshot,
    entities_reloaded: bool,
    took: Duration,
) -> ChangeSummary {
    let mut s = ChangeSummary {
        old_version: old.version.clone(),
        new_version: new.version.clone(),
        entities_reloaded,
        millis: took.as_millis(),
        ..ChangeSummary::default()
    };
    for (id, info) in &new.pack.index {
        match old.pack.index.get(id) {
            None => s.added.push(id.clone()),
            Some(o) if o.text != info.text => s.changed.push(id.clone()),
            Some(_) => {}
        }
    }
    s.removed = old
        .pack
        .index
        .keys()
        .filter(|id| !new.pack.index.contains_key(*id))
        .cloned()
        .collect();
    s
}
