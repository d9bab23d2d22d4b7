//! What the benchmarks share: the real `adbrag serve` as a child process (so its memory is
//! measured alone), and the statistics.

#![allow(dead_code, reason = "each benchmark uses its own part")]

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `target/release/adbrag serve`, stopped when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts the server on a free loopback port with `env` on top of the database URL, without
    /// authentication, and waits until `/readyz` answers 200.
    pub async fn start(database_url: &str, env: &[(&str, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_adbrag"));
        command
            .args(["serve", "--insecure-no-auth", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let server = Self {
            child: command.spawn().expect("cannot start the adbrag binary"),
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(format!("{}/readyz", server.url)).send().await
                && response.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "adbrag serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server process's resident memory, in MB.
    pub fn rss_mb(&self) -> f64 {
        rss_mb(&self.status_path())
    }

    /// Its /proc status file.
    pub fn status_path(&self) -> String {
        format!("/proc/{}/status", self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS from a /proc status file, in MB.
pub fn rss_mb(status_path: &str) -> f64 {
    std::fs::read_to_string(status_path)
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The `p` quantile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
