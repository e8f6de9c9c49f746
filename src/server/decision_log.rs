//! The decision log: one JSON line per decision, written by a thread of its
//! own so a slow disk never holds a request.
//!
//! The queue is bounded in bytes: when the writer is that far behind, lines
//! are dropped and counted (`teamgate_decision_log_dropped_total`), not
//! logged one by one. Fields named with a mask (`context.inviteEmail`) are
//! replaced before a line is queued. The file can be reopened (SIGUSR1,
//! after a log rotation moved it) and is flushed on shutdown.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::Problem;

/// Where decision lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (`-`).
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

/// What replaces a masked field.
pub const MASKED: &str = "**masked**";

/// Default bound of the queue, in bytes.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 64 << 20;

enum Msg {
    Line(String),
    Reopen,
    Flush(Sender<()>),
}

#[derive(Debug, Default)]
struct Counters {
    queued_bytes: AtomicUsize,
    dropped: AtomicU64,
    written: AtomicU64,
}

/// Sends lines to the writer thread.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
    max_bytes: usize,
    /// Paths below `request` replaced by [`MASKED`].
    masks: Arc<Vec<Vec<String>>>,
}

fn open_target(target: &LogTarget) -> Result<Box<dyn Write + Send>, Problem> {
    Ok(match target {
        LogTarget::Stdout => Box::new(std::io::stdout()),
        LogTarget::File(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Problem::in_file(p, format!("cannot open the decision log: {e}")))?,
        ),
    })
}

impl DecisionLog {
    /// Opens the target and starts the writer thread.
    pub fn open(target: &LogTarget) -> Result<DecisionLog, Problem> {
        Self::open_with(target, DEFAULT_MAX_QUEUE_BYTES, &[])
    }

    /// [`DecisionLog::open`] with a queue bound in bytes and masks: each a
    /// dotted path below the request (`context.inviteEmail`, `principal`).
    pub fn open_with(
        target: &LogTarget,
        max_bytes: usize,
        masks: &[String],
    ) -> Result<DecisionLog, Problem> {
        let mut out = open_target(target)?;
        let (tx, rx) = channel::<Msg>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let target = target.clone();
        std::thread::Builder::new()
            .name("teamgate-decision-log".into())
            .spawn(move || {
                let write = |out: &mut Box<dyn Write + Send>, line: String| {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.write_all(b"\n");
                    c.queued_bytes.fetch_sub(line.len(), Ordering::Relaxed);
                    c.written.fetch_add(1, Ordering::Relaxed);
                };
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Line(line) => write(&mut out, line),
                        Msg::Reopen => {
                            let _ = out.flush();
                            match open_target(&target) {
                                Ok(o) => {
                                    out = o;
                                    tracing::info!(target: "teamgate::decision_log", "decision log reopened");
                                }
                                Err(p) => {
                                    tracing::error!(target: "teamgate::decision_log", "{p}; writing on to the old file")
                                }
                            }
                        }
                        Msg::Flush(ack) => {
                            let _ = out.flush();
                            let _ = ack.send(());
                        }
                    }
                    // Flush when the queue is drained, not per line.
                    if c.queued_bytes.load(Ordering::Relaxed) == 0 {
                        let _ = out.flush();
                    }
                }
                let _ = out.flush();
            })
            .map_err(|e| Problem::new(format!("cannot start the decision log: {e}")))?;
        let masks = masks
            .iter()
            .map(|m| m.split('.').map(str::to_string).collect())
            .collect();
        Ok(DecisionLog {
            tx,
            counters,
            max_bytes,
            masks: Arc::new(masks),
        })
    }

    /// Masks and queues a decision line; drops it (counted) when the queue
    /// holds its bound in bytes already.
    pub fn record(&self, mut line: Value) {
        for path in self.masks.iter() {
            let mut at = line.get_mut("request");
            for (i, key) in path.iter().enumerate() {
                let Some(v) = at else { break };
                if i + 1 == path.len() {
                    if let Some(slot) = v.get_mut(key.as_str()) {
                        *slot = Value::String(MASKED.into());
                    }
                    at = None;
                } else {
                    at = v.get_mut(key.as_str());
                }
            }
        }
        self.write(line.to_string());
    }

    /// Queues a line as it is.
    pub fn write(&self, line: String) {
        let len = line.len();
        let queued = self.counters.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if queued + len > self.max_bytes || self.tx.send(Msg::Line(line)).is_err() {
            self.counters.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            if self.counters.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(target: "teamgate::decision_log", "the decision log is behind: lines are dropped (teamgate_decision_log_dropped_total counts them)");
            }
        }
    }

    /// Reopens the file (after a log rotation moved it).
    pub fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Writes out everything queued and flushes, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack, done) = channel();
        self.tx.send(Msg::Flush(ack)).is_ok() && done.recv_timeout(timeout).is_ok()
    }

    /// Lines dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Lines written.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_bounds_reopens_and_flushes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("decisions.log");
        let log = DecisionLog::open_with(
            &LogTarget::File(path.clone()),
            1 << 20,
            &["context.inviteEmail".into(), "principal".into()],
        )
        .expect("opens");
        log.record(json!({"request": {"principal": "User::\"bob\"", "context": {"inviteEmail": "x@y.z", "other": 1}}}));
        assert!(log.flush(Duration::from_secs(10)));
        let text = std::fs::read_to_string(&path).expect("log");
        assert!(!text.contains("x@y.z") && !text.contains("bob"), "{text}");
        assert!(
            text.contains(MASKED) && text.contains("\"other\":1"),
            "{text}"
        );
        // Rotation: the file is moved away, SIGUSR1 reopens a new one.
        std::fs::rename(&path, dir.path().join("decisions.log.1")).expect("rotate");
        log.reopen();
        log.record(json!({"request": {"n": 2}}));
        assert!(log.flush(Duration::from_secs(10)));
        assert!(std::fs::read_to_string(&path)
            .expect("new log")
            .contains("\"n\":2"));
        // A queue bound smaller than one line: it is dropped and counted.
        let tiny = DecisionLog::open_with(&LogTarget::File(path.clone()), 8, &[]).expect("opens");
        tiny.write("a line longer than eight bytes".into());
        assert_eq!(tiny.dropped(), 1);
        assert!(tiny.flush(Duration::from_secs(10)));
        assert_eq!(tiny.written(), 0);
    }
}
