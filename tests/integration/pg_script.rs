//! `scripts/pg.sh` on a throwaway cluster of its own (a temporary directory and a free port, never
//! the shared test cluster): after the PostgreSQL binaries change beneath a running server, as an
//! `apt-get upgrade` does, it restarts the cluster from them and says so.
//!
//! The upgrade is faked: a binaries directory whose `postgres --version` reports another version
//! (`pg_ctl`, `initdb` and `psql` there are links to the real ones, and run the real server).
//! Without PostgreSQL 15's binaries the test says SKIPPED on stderr, and fails when `CI` is set.

use std::{
    io::Write,
    net::TcpListener,
    os::unix::fs::{PermissionsExt, symlink},
    path::{Path, PathBuf},
    process::{Command, Output},
};

const REAL_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private cluster run by `scripts/pg.sh` from a binaries directory the test controls.
struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!("adbrag-pg-sh-{}", uuid::Uuid::new_v4()));
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // The cluster's owner (`postgres`, when the tests run as root) must reach the links.
        for dir in [&root, &bin] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for tool in ["pg_ctl", "initdb", "psql"] {
            symlink(Path::new(REAL_BIN).join(tool), bin.join(tool)).unwrap();
        }
        // pgvector's files in a directory of the test's own: pg.sh finds them built (and never
        // rebuilds the machine's pgvector for the fake version).
        let share = root.join("share");
        std::fs::create_dir_all(share.join("extension")).unwrap();
        std::fs::write(share.join("extension/vector.control"), "").unwrap();
        executable(
            &bin.join("pg_config"),
            &format!(
                "#!/bin/sh\nif [ \"$1\" = --sharedir ]; then echo '{}'; exit 0; fi\nexec {REAL_BIN}/pg_config \"$@\"\n",
                share.display()
            ),
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { root, bin, port };
        cluster.binaries_report(None);
        cluster
    }

    /// The installed binaries' `postgres --version`: the real one, or `version` (a fake upgrade).
    fn binaries_report(&self, version: Option<&str>) {
        let postgres = self.bin.join("postgres");
        let _ = std::fs::remove_file(&postgres);
        match version {
            None => symlink(Path::new(REAL_BIN).join("postgres"), &postgres).unwrap(),
            Some(version) => executable(
                &postgres,
                &format!(
                    "#!/bin/sh\nif [ \"$1\" = --version ] || [ \"$1\" = -V ]; then echo 'postgres (PostgreSQL) {version} (a fake upgrade)'; exit 0; fi\nexec {REAL_BIN}/postgres \"$@\"\n"
                ),
            ),
        }
    }

    fn pg_sh(&self, command: &str) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
        Command::new(script)
            .arg(command)
            .env("ADBRAG_PG_DIR", self.root.join("pg"))
            .env("ADBRAG_PG_PORT", self.port.to_string())
            .env("ADBRAG_PG_BIN", &self.bin)
            .env("ADBRAG_PG_DB", "adbrag")
            .output()
            .unwrap()
    }

    /// Runs `pg.sh start`, asserting success; returns its stderr.
    fn start(&self) -> String {
        let output = self.pg_sh("start");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "pg.sh failed:\n{stdout}{stderr}");
        assert!(
            stdout.contains(&format!(
                "DATABASE_URL=postgres://adbrag:adbrag@127.0.0.1:{}/adbrag",
                self.port
            )),
            "{stdout}"
        );
        stderr
    }

    /// The running postmaster's process id (the first line of postmaster.pid).
    fn postmaster(&self) -> String {
        let pid = std::fs::read_to_string(self.root.join("pg/data/postmaster.pid")).unwrap();
        pid.lines().next().unwrap().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The real binaries stop it whatever the test left the fake reporting.
        self.binaries_report(None);
        let _ = self.pg_sh("stop");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn executable(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn real_version() -> String {
    let output = Command::new(Path::new(REAL_BIN).join("postgres"))
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().nth(2).unwrap().to_owned()
}

#[test]
fn pg_sh_restarts_a_running_cluster_whose_binaries_were_upgraded_beneath_it() {
    if !Path::new(REAL_BIN).join("postgres").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL 15 is not installed in {REAL_BIN}, and CI is set: run scripts/pg.sh (scripts/test.sh does)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: pg_sh_restarts_a_running_cluster_whose_binaries_were_upgraded_beneath_it: PostgreSQL 15 is not installed in {REAL_BIN}; run scripts/pg.sh"
        );
        return;
    }
    let cluster = Cluster::new();
    let real = real_version();

    cluster.start();
    let first = cluster.postmaster();

    // Same binaries: the running cluster is reused.
    let again = cluster.start();
    assert!(!again.contains("restarting"), "{again}");
    assert_eq!(cluster.postmaster(), first, "restarted without a reason");

    // The binaries now say 15.99: the server still running is the old one.
    cluster.binaries_report(Some("15.99"));
    let upgraded = cluster.start();
    let says = format!(
        "pg.sh: the running server is PostgreSQL {real} but the installed binaries are 15.99 (upgraded beneath it): restarting the cluster"
    );
    assert_eq!(
        upgraded.lines().filter(|line| *line == says).count(),
        1,
        "expected {says:?} once in:\n{upgraded}"
    );
    assert_ne!(cluster.postmaster(), first, "not restarted:\n{upgraded}");
    let url = cluster.pg_sh("url");
    assert!(url.status.success(), "the restarted cluster is not running");
}
