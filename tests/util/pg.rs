//! A throw-away PostgreSQL cluster for a test: `initdb` in a temporary
//! directory, `pg_ctl start` on a free loopback port, removed on drop. As
//! root (CI containers), the cluster runs as the `postgres` user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the PostgreSQL server programs are: `$PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin` (Debian), or `initdb` on PATH.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(d));
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    debian.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = debian.pop() {
        return Some(d);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| d.join("initdb").is_file())
}

/// True when PostgreSQL is installed; otherwise says so (and fails when
/// `TEAMGATE_REQUIRE_POSTGRES` is set, as in CI).
pub fn available() -> bool {
    let found = bin_dir().is_some();
    if !found {
        assert!(
            std::env::var_os("TEAMGATE_REQUIRE_POSTGRES").is_none(),
            "TEAMGATE_REQUIRE_POSTGRES is set but PostgreSQL is not installed"
        );
        eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql)");
    }
    found
}

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn check(what: &str, o: std::io::Result<Output>) -> Output {
    let o = o.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

impl Cluster {
    /// Starts a cluster with a `teamgate` login role (password `teamgate`).
    pub fn start() -> Cluster {
        let bin = bin_dir().expect("PostgreSQL is installed");
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            check(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path())
                    .output(),
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let c = Cluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = c.data();
        check(
            "initdb",
            c.command("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data)
                .output(),
        );
        c.pg_ctl("start");
        c.sql("CREATE ROLE teamgate LOGIN PASSWORD 'teamgate' CREATEDB; GRANT ALL ON SCHEMA public TO teamgate;");
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `pg_ctl start|stop|restart`, waiting until done.
    pub fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        check(
            &format!("pg_ctl {action}"),
            self.command("pg_ctl")
                .args(["-w", "-m", "fast", "-D"])
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(log)
                .arg(action)
                .output(),
        );
    }

    /// The URL of the superuser.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL teamgate connects with.
    pub fn url(&self) -> String {
        format!(
            "postgres://teamgate:teamgate@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// Runs SQL as the superuser with psql; returns its output (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> String {
        let o = check(
            &format!("psql {sql}"),
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
                .arg(self.admin_url())
                .args(["-c", sql])
                .output(),
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// The cluster's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output();
    }
}
