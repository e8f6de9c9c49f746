//! The decision log: one JSON line per decision, written by a thread of its
//! own so a slow disk never holds a request.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use crate::error::Problem;

/// Where decision lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (`-`).
    Stdout,
    /// Appended to a file.
    File(PathBuf),
}

/// Sends lines to the writer thread.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    tx: SyncSender<String>,
}

impl DecisionLog {
    /// Opens the target and starts the writer thread.
    pub fn open(target: &LogTarget) -> Result<DecisionLog, Problem> {
        let mut out: Box<dyn Write + Send> = match target {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        Problem::in_file(p, format!("cannot open the decision log: {e}"))
                    })?,
            ),
        };
        let (tx, rx) = sync_channel::<String>(65_536);
        std::thread::Builder::new()
            .name("teamgate-decision-log".into())
            .spawn(move || {
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.write_all(b"\n");
                    // Flush when the queue is drained, not per line.
                    let mut more = rx.try_iter().peekable();
                    while let Some(l) = more.next() {
                        let _ = out.write_all(l.as_bytes());
                        let _ = out.write_all(b"\n");
                        if more.peek().is_none() {
                            break;
                        }
                    }
                    let _ = out.flush();
                }
                let _ = out.flush();
            })
            .map_err(|e| Problem::new(format!("cannot start the decision log: {e}")))?;
        Ok(DecisionLog { tx })
    }

    /// Queues a line; drops it (with a warning) when the writer is far behind.
    pub fn write(&self, line: String) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(line) {
            tracing::warn!(target: "teamgate::decision_log", "decision log queue full: line dropped");
        }
    }
}
