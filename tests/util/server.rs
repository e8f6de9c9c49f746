//! A `teamgate serve` child process, and HTTP helpers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{teamgate, ScratchBundle};

/// A `teamgate serve` child process on an ephemeral loopback port.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _bundle: ScratchBundle,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Self::start_with(ScratchBundle::new(), extra)
    }

    pub fn start_with(bundle: ScratchBundle, extra: &[&str]) -> Server {
        let mut cmd = teamgate();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bundle",
            &bundle.arg(),
        ])
        .args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start teamgate serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            base: format!("http://{addr}"),
            _bundle: bundle,
        }
    }

    pub fn bundle(&self) -> &ScratchBundle {
        &self._bundle
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = client()
            .post(format!("{}{path}", self.base))
            .body(body.to_string())
            .send()
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let r = client()
            .get(format!("{}{path}", self.base))
            .send()
            .expect("get");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub fn ask(p: &str, a: &str, r: &str) -> String {
    json!({"principal": p, "action": a, "resource": r}).to_string()
}

pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}
