//! Test harness: run the real `teamgate` binary, make scratch copies of the
//! shipped bundle to break on purpose.
#![allow(dead_code)]

pub mod pg;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the shipped bundle).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `teamgate` command run from the repository root.
pub fn teamgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_teamgate"));
    c.current_dir(repo());
    c.env_remove("TEAMGATE_BUNDLE");
    c
}

/// Runs teamgate with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    output(teamgate().args(args).output().expect("run teamgate"))
}

/// Splits a process output.
pub fn output(o: Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A copy of the shipped bundle in a temporary directory.
pub struct ScratchBundle {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl ScratchBundle {
    /// Copies schemas/, policies/ and fixtures/.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["schemas", "policies", "fixtures"] {
            copy_dir(&repo().join(sub), &dir.path().join(sub));
        }
        ScratchBundle { dir }
    }

    /// The bundle root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle root as a string, for `--bundle`.
    pub fn arg(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Reads a file of the bundle.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read bundle file")
    }

    /// Writes a file of the bundle.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write bundle file");
    }

    /// Replaces `from` by `to` in a file, which must contain it.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }
}

/// Recursively copies a directory.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
