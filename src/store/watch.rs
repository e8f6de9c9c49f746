//! File events -> debounced reloads.
//!
//! Watches the bundle's `schemas/`, `policies/` and `fixtures/` recursively,
//! and the bundle root itself (not recursively), so that edits, new and
//! deleted files, editors' atomic saves (write a temporary file, rename it
//! over), renamed directories and the `..data` symlink swap by which
//! Kubernetes updates a mounted ConfigMap all trigger a reload. A burst of
//! events within the debounce window gives one reload. After every batch the
//! watches are set up again, because a directory reached through a symlink is
//! a different directory after a swap. A change made while the watches are
//! re-armed raises no event, so the bundle is looked at once more after
//! re-arming (an unchanged bundle costs one read and hash).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

use std::sync::Arc;

use super::Store;
use crate::bundle::Bundle;
use crate::error::Problem;

/// Default quiet period: a reload starts once the bundle has been still
/// this long -- long enough to coalesce an editor's atomic save (write a
/// temporary file, rename it over: microseconds apart) or a local copy of a
/// bundle, short enough that a save is live in well under 100 ms. A copy
/// that takes longer (rsync over a network) is made safe by a manifest or a
/// symlink swap (README, "Hot reload").
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(25);

/// Longest the watcher thread waits for an event before looking at the
/// clock (and for a stop) again.
const LOOP_TICK: Duration = Duration::from_millis(5);

/// However busy the bundle stays, a reload starts at most this long after
/// the first change of a burst (so a file rewritten every 100 ms still
/// reloads).
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// The debouncer's own window: it only groups events into batches; the
/// quiet period is kept here, over batches.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// What the events of a burst touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Only files under `policies/`: the entity files need not be hashed.
    PoliciesOnly,
    /// Anything (or a periodic look, or a look after re-arming).
    Anything,
}

/// How the watcher is doing, shared with the store's status: whether it
/// runs, how often a reload panicked or watching failed, and when the disk
/// was last looked at.
#[derive(Debug, Default)]
pub struct WatchHealth {
    up: AtomicBool,
    failures: AtomicU64,
    /// Unix time of the last look at the disk, in milliseconds (0: never).
    last_check_ms: AtomicU64,
}

impl WatchHealth {
    /// Whether the watcher thread runs with its watches set up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Reload panics and watch failures since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// When the disk was last looked at (a reload, even one that found
    /// nothing changed).
    pub fn last_check(&self) -> Option<SystemTime> {
        match self.last_check_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    fn checked(&self) {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        self.last_check_ms.store(ms, Ordering::Relaxed);
    }

    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the watcher behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// The quiet period (see [`DEFAULT_DEBOUNCE`]).
    pub debounce: Duration,
    /// The disk is looked at this often even without an event (a change
    /// whose event was lost is still seen; the last check stays fresh).
    pub rescan: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: DEFAULT_DEBOUNCE,
            rescan: DEFAULT_RESCAN,
        }
    }
}

/// Default interval of the periodic look at the disk.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(30);

/// Watches a bundle until dropped.
#[derive(Debug)]
pub struct WatchGuard {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<WatchHealth>,
}

impl WatchGuard {
    /// Starts watching the bundle; calls `on_change` (on the watcher's
    /// thread) once the bundle has been still for `debounce` after a
    /// change (or [`MAX_WAIT`] after the first change of a burst that does
    /// not stop), and once more after re-arming the watches.
    pub fn start<F>(
        bundle: &Bundle,
        debounce: Duration,
        on_change: F,
    ) -> Result<WatchGuard, Problem>
    where
        F: FnMut() + Send + 'static,
    {
        let options = WatchOptions {
            debounce,
            ..WatchOptions::default()
        };
        Self::start_with(bundle, options, Arc::new(WatchHealth::default()), on_change)
    }

    /// [`WatchGuard::start`] with every option, reporting to `health`. A
    /// panic in `on_change` is caught and counted, and watching goes on; a
    /// watch that cannot be set up (e.g. the inotify limit) is a warning,
    /// counted, and set up again at the next look.
    pub fn start_with<F>(
        bundle: &Bundle,
        options: WatchOptions,
        health: Arc<WatchHealth>,
        mut on_change: F,
    ) -> Result<WatchGuard, Problem>
    where
        F: FnMut() + Send + 'static,
    {
        Self::start_hinted(bundle, options, health, move |_| on_change())
    }

    /// [`WatchGuard::start_with`], telling `on_change` what the events of
    /// the burst touched ([`Seen`]): a save under `policies/` alone need not
    /// look at the entity files.
    pub fn start_hinted<F>(
        bundle: &Bundle,
        options: WatchOptions,
        health: Arc<WatchHealth>,
        mut on_change: F,
    ) -> Result<WatchGuard, Problem>
    where
        F: FnMut(Seen) + Send + 'static,
    {
        let debounce = options.debounce;
        let policies_dir = bundle.policies().to_path_buf();
        let (event_tx, event_rx) = channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(BATCH_WINDOW.min(debounce), None, event_tx)
            .map_err(|e| Problem::in_file(bundle.root(), format!("cannot watch: {e}")))?;
        let mut targets: Vec<(PathBuf, RecursiveMode)> = vec![
            (bundle.root().to_path_buf(), RecursiveMode::NonRecursive),
            (bundle.schemas().to_path_buf(), RecursiveMode::Recursive),
            (bundle.policies().to_path_buf(), RecursiveMode::Recursive),
            (bundle.fixtures().to_path_buf(), RecursiveMode::Recursive),
        ];
        // A bundle root that is itself a link (`current -> releases/v2`, the
        // atomic way to deploy) is swapped in its parent directory.
        let root_is_link =
            std::fs::symlink_metadata(bundle.root()).is_ok_and(|m| m.file_type().is_symlink());
        if let Some(parent) = bundle.root().parent().filter(|_| root_is_link) {
            let parent = if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            };
            targets.push((parent, RecursiveMode::NonRecursive));
        }
        debouncer
            .watch(bundle.root(), RecursiveMode::NonRecursive)
            .map_err(|e| Problem::in_file(bundle.root(), format!("cannot watch: {e}")))?;
        let h = health.clone();
        // Sets the watches up again; false when one could not be.
        let rewatch = move |d: &mut notify_debouncer_full::Debouncer<_, _>| {
            let mut ok = true;
            for (path, mode) in &targets {
                let _ = d.unwatch(path);
                if let Err(e) = d.watch(path, *mode) {
                    // A directory may be missing for a moment during a
                    // rename (the root watch brings us back when it
                    // reappears); a watch limit is not: both are warned of.
                    tracing::warn!(target: "teamgate::watch", "not watching {}: {e}", path.display());
                    h.failed();
                    ok = false;
                }
            }
            ok
        };
        health.up.store(rewatch(&mut debouncer), Ordering::Relaxed);
        health.checked();
        let h = health.clone();
        let mut look = move |seen: Seen| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_change(seen)));
            match r {
                Ok(()) => h.checked(),
                Err(_) => {
                    h.failed();
                    tracing::error!(target: "teamgate::watch", "a reload panicked; the last good snapshot keeps serving and watching goes on");
                }
            }
        };
        let (stop_tx, stop_rx) = channel::<()>();
        let h = health.clone();
        let thread = std::thread::Builder::new()
            .name("teamgate-watch".into())
            .spawn(move || {
                // (first change of the burst, last change) while one waits.
                let mut pending: Option<(Instant, Instant)> = None;
                // Whether every event of the burst was under policies/.
                let mut policies_only = true;
                let mut last_look = Instant::now();
                loop {
                    match stop_rx.try_recv() {
                        Ok(()) | Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
                        Err(std::sync::mpsc::TryRecvError::Empty) => {}
                    }
                    // When the last change of the events received now was
                    // made: the debouncer hands events over after its own
                    // batch window, and the quiet period counts from the
                    // change, not from its delivery.
                    // Wake when the quiet period of a pending burst ends,
                    // and at least every 5 ms (to see a stop).
                    let wait = pending.map_or(LOOP_TICK, |(_, last)| {
                        (last + debounce)
                            .saturating_duration_since(Instant::now())
                            .min(LOOP_TICK)
                    });
                    let changed = match event_rx.recv_timeout(wait) {
                        Ok(Ok(events)) => {
                            let relevant: Vec<_> =
                                events.iter().filter(|e| relevant(&e.kind)).collect();
                            policies_only &= relevant.iter().all(|e| {
                                !e.paths.is_empty()
                                    && e.paths.iter().all(|p| p.starts_with(&policies_dir))
                            });
                            relevant.iter().map(|e| e.time).max()
                        }
                        Ok(Err(errors)) => {
                            for e in errors {
                                tracing::warn!(target: "teamgate::watch", "watch error: {e}");
                                h.failed();
                            }
                            policies_only = false;
                            Some(Instant::now())
                        }
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            h.up.store(false, Ordering::Relaxed);
                            tracing::error!(target: "teamgate::watch", "the file watcher stopped; reload with SIGHUP or POST /v1/reload");
                            break;
                        }
                    };
                    let now = Instant::now();
                    if let Some(at) = changed {
                        let at = at.min(now);
                        pending = Some(pending.map_or((at, at), |(first, last)| {
                            (first.min(at), last.max(at))
                        }));
                    }
                    let due = match pending {
                        Some((first, last)) => now - last >= debounce || now - first >= MAX_WAIT,
                        // Nothing happened: look anyway now and then.
                        None => now - last_look >= options.rescan,
                    };
                    if !due {
                        continue;
                    }
                    let seen = if pending.is_some() && policies_only {
                        Seen::PoliciesOnly
                    } else {
                        Seen::Anything
                    };
                    pending = None;
                    policies_only = true;
                    look(seen);
                    h.up.store(rewatch(&mut debouncer), Ordering::Relaxed);
                    // A change made while the watches were re-armed
                    // raised no event: look at the whole disk once more.
                    look(Seen::Anything);
                    last_look = Instant::now();
                }
                h.up.store(false, Ordering::Relaxed);
            })
            .map_err(|e| Problem::new(format!("cannot start the watcher thread: {e}")))?;
        Ok(WatchGuard {
            stop: Some(stop_tx),
            thread: Some(thread),
            health,
        })
    }

    /// How the watcher is doing.
    pub fn health(&self) -> &Arc<WatchHealth> {
        &self.health
    }
}

/// Reads (our own included) are not changes; a write being closed is.
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Store {
    /// Watches the store's bundle and reloads on every debounced change,
    /// until the guard is dropped. Reload outcomes reach subscribers
    /// ([`Store::subscribe`]) and the status.
    pub fn watch(self: &Arc<Self>) -> Result<WatchGuard, Problem> {
        self.watch_with(DEFAULT_DEBOUNCE)
    }

    /// [`Store::watch`] with another debounce window.
    pub fn watch_with(self: &Arc<Self>, debounce: Duration) -> Result<WatchGuard, Problem> {
        self.watch_options(WatchOptions {
            debounce,
            ..WatchOptions::default()
        })
    }

    /// [`Store::watch`] with every option; the watcher's health shows in
    /// [`Store::status`].
    pub fn watch_options(self: &Arc<Self>, options: WatchOptions) -> Result<WatchGuard, Problem> {
        let store = Arc::clone(self);
        let health = Arc::new(WatchHealth::default());
        *self.watch_health.lock().unwrap_or_else(|e| e.into_inner()) = Some(health.clone());
        WatchGuard::start_hinted(&self.bundle, options, health, move |seen| {
            store.reload_seen(seen);
        })
    }
}
