//! Answer latency and the memory of open answer streams, against the real `adbrag serve` process.
//!
//! `cargo bench --bench chat` (after `scripts/pg.sh`). It writes 2,000 chunks of keyword text with
//! the fake's embeddings into a fresh database, starts the fake OpenAI-compatible server (answering
//! instantly), and runs the release `adbrag serve` binary as a child process pointed at both, so
//! its RSS is the server's alone (no model weights: embeddings come from the fake). Then:
//!
//! 1. at concurrency 8, alternating in each of `RUNS` runs: retrieval alone
//!    (`POST …/search`, the whole response) and a streamed answer (`POST …/chat`, time to the
//!    first SSE byte and to the first answer delta). The difference of the medians is what
//!    answering adds before the first byte;
//! 2. 200 answer streams held open at once (the fake writes slowly), and the server's RSS before
//!    and while they are open.

mod common;
#[path = "../tests/integration/harness/db.rs"]
#[allow(dead_code)]
mod db;
#[path = "../tests/integration/harness/openai.rs"]
#[allow(dead_code)]
mod openai;

use std::time::{Duration, Instant};

use adbrag::{
    store::{
        collections::{self, NewCollection},
        documents::{self, NewChunk, NewDocument},
        sha256,
    },
    text::segment,
};
use chrono::Utc;
use common::{Server, median, percentile};
use futures::StreamExt;
use serde_json::json;

const RUNS: usize = 5;
const REQUESTS: usize = 400;
const CONCURRENCY: usize = 8;
const DIMS: usize = 256;
const DOCUMENTS: usize = 200;
const CHUNKS_PER_DOCUMENT: usize = 10;
const OPEN_STREAMS: usize = 200;

const TOPICS: [&str; 10] = [
    "annual leave holidays vacation days carry over",
    "expense claims receipts reimbursement finance",
    "security badges access doors visitors",
    "laptop software installation IT support tickets",
    "travel booking flights hotels per diem",
    "parental leave maternity paternity benefits",
    "performance reviews goals promotion cycle",
    "remote work home office equipment allowance",
    "health insurance dental vision coverage",
    "training budget courses conferences learning",
];

async fn start_server(db: &db::TestDb, fake: &openai::FakeOpenAi) -> Server {
    Server::start(
        &db.url,
        &[
            ("ADBRAG_EMBEDDING_BASE_URL", fake.base_url()),
            ("ADBRAG_EMBEDDING_MODEL", "bench-embed".into()),
            ("ADBRAG_EMBEDDING_DIMENSIONS", DIMS.to_string()),
            ("ADBRAG_CHAT_BASE_URL", fake.base_url()),
            ("ADBRAG_CHAT_MODEL", "bench-chat".into()),
            ("ADBRAG_MAX_STREAMS", "512".into()),
            ("ADBRAG_MAX_CHATS", "16".into()),
            ("ADBRAG_CHAT_QUEUE", "512".into()),
            ("ADBRAG_MAX_SEARCHES", "16".into()),
        ],
    )
    .await
}

async fn load(db: &db::TestDb) {
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = collections::create(
        &mut conn,
        &NewCollection {
            tenant: "default".into(),
            name: "bench".into(),
            embedding_model: "bench-embed".into(),
            dimensions: DIMS as i64,
            keyword_language: "auto".into(),
            settings: json!({}),
        },
    )
    .await
    .unwrap();
    for d in 0..DOCUMENTS {
        let topic = TOPICS[d % TOPICS.len()];
        let chunks: Vec<NewChunk> = (0..CHUNKS_PER_DOCUMENT)
            .map(|o| {
                let text = format!(
                    "Section {o} of policy {d} on {topic}. Employees should read the {topic} rules \
                     before asking. The policy owner reviews the {topic} guidance every year, and \
                     exceptions need written approval from a manager."
                );
                NewChunk {
                    keywords: segment::keywords(&text),
                    embedding_sha256: [0; 32],
                    embedding: openai::fake_embedding(&text, DIMS),
                    token_count: 60,
                    page_from: Some(o as i32 + 1),
                    page_to: Some(o as i32 + 1),
                    heading_path: vec![format!("Policy {d}")],
                    text,
                }
            })
            .collect();
        let document = NewDocument {
            collection_id: collection.id,
            source_uri: format!("bench://policy-{d}.md"),
            source_etag: None,
            source_time: Utc::now(),
            content_sha256: sha256(d.to_string()),
            title: Some(format!("Policy {d}")),
            mime_type: Some("text/markdown".into()),
            byte_size: 2000,
            metadata: json!({}),
            acl: vec![],
        };
        documents::replace(&mut conn, &document, &chunks)
            .await
            .unwrap();
    }
    sqlx::query("VACUUM ANALYZE chunk")
        .execute(&db.pool)
        .await
        .unwrap();
}

fn question(i: usize) -> String {
    let topic = TOPICS[i % TOPICS.len()];
    let word = topic.split(' ').nth(i % 3).unwrap_or(topic);
    format!("What are the rules on {word} for policy {}?", i % DOCUMENTS)
}

/// Latencies (ms) of `REQUESTS` calls at `CONCURRENCY`, each returning its own measurement(s).
async fn drive<F, Fut>(call: F) -> Vec<(f64, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = (f64, f64)>,
{
    futures::stream::iter(0..REQUESTS)
        .map(call)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

#[tokio::main]
async fn main() {
    let db = db::TestDb::migrated().await;
    let fake = openai::FakeOpenAi::start().await;
    fake.set_reply(
        "The rules are in the policy [1], and exceptions need a manager's approval [2].",
    );
    load(&db).await;
    let server = start_server(&db, &fake).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let search_url = format!("{}/v1/collections/bench/search", server.url);
    let chat_url = format!("{}/v1/collections/bench/chat", server.url);

    // Warm up both paths (connections, plans, caches).
    for i in 0..50 {
        let body = json!({ "query": question(i), "top_k": 8 });
        http.post(&search_url).json(&body).send().await.unwrap();
        http.post(&chat_url).json(&body).send().await.unwrap();
    }

    let mut search_p50 = Vec::new();
    let mut search_p95 = Vec::new();
    let mut ttfb_p50 = Vec::new();
    let mut ttfb_p95 = Vec::new();
    let mut first_delta_p50 = Vec::new();
    for run in 0..RUNS {
        let mut search: Vec<f64> = drive(|i| {
            let (http, url) = (http.clone(), search_url.clone());
            async move {
                let started = Instant::now();
                let response = http
                    .post(url)
                    .json(&json!({ "query": question(i + run), "top_k": 8 }))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                response.bytes().await.unwrap();
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                (ms, ms)
            }
        })
        .await
        .into_iter()
        .map(|(ms, _)| ms)
        .collect();
        let chat = drive(|i| {
            let (http, url) = (http.clone(), chat_url.clone());
            async move {
                let started = Instant::now();
                let mut response = http
                    .post(url)
                    .json(&json!({ "query": question(i + run), "top_k": 8, "stream": true }))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                let mut seen = String::new();
                let mut first_byte = None;
                let mut first_delta = None;
                while let Some(chunk) = response.chunk().await.unwrap() {
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    first_byte.get_or_insert(ms);
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                    if first_delta.is_none() && seen.contains("event: delta") {
                        first_delta = Some(ms);
                    }
                }
                assert!(seen.contains("event: done"), "{seen}");
                (first_byte.unwrap(), first_delta.unwrap())
            }
        })
        .await;
        let mut ttfb: Vec<f64> = chat.iter().map(|(ttfb, _)| *ttfb).collect();
        let mut delta: Vec<f64> = chat.iter().map(|(_, delta)| *delta).collect();
        for values in [&mut search, &mut ttfb, &mut delta] {
            values.sort_by(f64::total_cmp);
        }
        println!(
            "run {run}: search p50 {:.2} p95 {:.2} ms | chat first byte p50 {:.2} p95 {:.2} ms | first delta p50 {:.2} ms",
            percentile(&search, 0.5),
            percentile(&search, 0.95),
            percentile(&ttfb, 0.5),
            percentile(&ttfb, 0.95),
            percentile(&delta, 0.5),
        );
        search_p50.push(percentile(&search, 0.5));
        search_p95.push(percentile(&search, 0.95));
        ttfb_p50.push(percentile(&ttfb, 0.5));
        ttfb_p95.push(percentile(&ttfb, 0.95));
        first_delta_p50.push(percentile(&delta, 0.5));
    }
    // Each run's chat p50 against the same run's retrieval p50, then the median of those.
    let added = median(
        ttfb_p50
            .iter()
            .zip(&search_p50)
            .map(|(chat, search)| chat - search)
            .collect(),
    );
    let (search50, ttfb50) = (median(search_p50), median(ttfb_p50));
    println!(
        "\nmedian of {RUNS} runs at concurrency {CONCURRENCY}: retrieval alone p50 {search50:.2} ms (p95 {:.2}); \
         chat first SSE byte p50 {ttfb50:.2} ms (p95 {:.2}); first answer delta p50 {:.2} ms; \
         added before the first byte: {added:.2} ms (target ≤ 5)",
        median(search_p95),
        median(ttfb_p95),
        median(first_delta_p50),
    );

    // 200 streams held open: the fake writes one piece every 200 ms, for about 20 s.
    fake.set_reply(&"word ".repeat(100));
    fake.stream_slowly(Duration::from_millis(200));
    let idle = server.rss_mb();
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<()>(OPEN_STREAMS);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let streams: Vec<_> = (0..OPEN_STREAMS)
        .map(|i| {
            let (http, url, opened, mut release) = (
                http.clone(),
                chat_url.clone(),
                opened_tx.clone(),
                release_rx.clone(),
            );
            tokio::spawn(async move {
                let mut response = http
                    .post(url)
                    .json(&json!({ "query": question(i), "stream": true }))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                let mut seen = String::new();
                while !seen.contains("event: delta") {
                    let chunk = response.chunk().await.unwrap().unwrap();
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                }
                opened.send(()).await.unwrap();
                let _ = release.changed().await;
            })
        })
        .collect();
    for _ in 0..OPEN_STREAMS {
        opened_rx.recv().await.unwrap();
    }
    let open = server.rss_mb();
    let metrics = http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = metrics
        .lines()
        .find(|line| line.starts_with("adbrag_answer_streams_open"))
        .unwrap_or("adbrag_answer_streams_open ?")
        .to_owned();
    release_tx.send(true).unwrap();
    for stream in streams {
        stream.await.unwrap();
    }
    println!(
        "{OPEN_STREAMS} open answer streams: server RSS {open:.1} MB (idle after the latency runs {idle:.1} MB, +{:.1} MB, {:.0} KB per stream); {gauge} (target ≤ 200 MB RSS)",
        open - idle,
        (open - idle) * 1024.0 / OPEN_STREAMS as f64,
    );
}
