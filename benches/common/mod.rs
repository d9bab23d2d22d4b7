//! What the benchmarks share: the real `adbrag serve` as a child process (so its memory is
//! measured alone), the statistics, a deterministic generator for synthetic corpora, and the
//! search settings the retrieval benchmarks run with.

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

/// Deterministic pseudo-random numbers (xorshift), so every run loads the same corpus.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1].
    pub fn unit(&mut self) -> f32 {
        (self.next() % 2_000_001) as f32 / 1_000_000.0 - 1.0
    }
}

pub fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// The service's default retrieval settings, as the benchmarks query with them.
pub fn search_settings() -> adbrag::config::SearchSettings {
    adbrag::config::SearchSettings {
        candidates: 50,
        fusion: adbrag::config::FusionArg::Score,
        rrf_k: 60.0,
        bm25_k1: 1.2,
        bm25_b: 0.75,
        vector_weight: 1.0,
        keyword_weight: 0.75,
        unreadable_vector_weight: 0.0,
        postings_per_term: 200,
        rerank: Default::default(),
        ef_search: 100,
    }
}
