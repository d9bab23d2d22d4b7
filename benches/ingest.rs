//! Ingest throughput, measured against real PostgreSQL and the fake OpenAI-compatible server.
//!
//! `cargo bench --bench ingest` (after `scripts/pg.sh`; `ADBRAG_TEST_DATABASE_URL` points
//! elsewhere). Each figure is the median of `RUNS` runs, each on a fresh database, and is reported
//! beside a baseline measured in the same run:
//!
//! 1. end to end (parse → chunk → embed via HTTP → one transaction per document) against the same
//!    chunks written by the store alone (what PostgreSQL costs), on a 10k-chunk corpus;
//! 2. the fake allowing at most N concurrent requests (429 above it): the request rate achieved,
//!    against the rate the limit allows;
//! 3. the local MiniLM embedder (when `models/` has it): chunks/s.
//!
//! Parsing alone (PDF pages/s, CJK text, `CMaps`) is measured by `benches/parse.rs`.

#[path = "../tests/integration/harness/db.rs"]
#[allow(dead_code)]
mod db;
#[path = "../tests/integration/harness/openai.rs"]
#[allow(dead_code)]
mod openai;

use std::{sync::Arc, time::Instant};

use adbrag::{
    config::EmbeddingSettings,
    ingest::{
        chunk::ChunkOptions,
        pipeline::{Limits, Pipeline},
        source::SourceObject,
        tokens::EstimatingCounter,
    },
    llm,
    store::{
        collections::{self, NewCollection},
        documents::{self, NewChunk, NewDocument},
        sha256,
    },
};
use chrono::Utc;
use futures::StreamExt;
use openai::FakeOpenAi;

const RUNS: usize = 5;
const DOCUMENTS: usize = 500;
const PARAGRAPHS_PER_DOCUMENT: usize = 20;
const DIMS: usize = 1024;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A document of `PARAGRAPHS_PER_DOCUMENT` distinct paragraphs, each its own ~40-token chunk.
fn document(d: usize) -> String {
    (0..PARAGRAPHS_PER_DOCUMENT)
        .map(|p| {
            format!(
                "Section {p} of handbook {d}. Employees in region {d} follow rule {p} when they book \
                 travel, claim expenses or request leave; managers approve within {p} days."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn settings(fake: &FakeOpenAi, concurrency: usize) -> EmbeddingSettings {
    EmbeddingSettings {
        base_url: Some(fake.base_url()),
        api_key: Some("bench".into()),
        model: "text-embedding-v4".into(),
        dimensions: DIMS,
        batch_size: 10,
        concurrency,
        max_attempts: 20,
        timeout_secs: 30,
        models_dir: "models".into(),
    }
}

struct Run {
    chunks: usize,
    seconds: f64,
    requests: u64,
    throttled: u64,
}

async fn end_to_end(fake: &FakeOpenAi, concurrency: usize, documents: usize) -> Run {
    let db = db::TestDb::migrated().await;
    let embedder = llm::embedder(&settings(fake, concurrency).config().unwrap()).unwrap();
    let pipeline = Pipeline::new(
        db.pool.clone(),
        embedder.clone(),
        Arc::new(EstimatingCounter),
        Limits {
            max_object_bytes: 10 << 20,
            max_pages: 1000,
            max_image_pixels: adbrag::ingest::parse::ParseLimits::DEFAULT_MAX_IMAGE_PIXELS,
            max_chunks: 10_000,
            parse_timeout: std::time::Duration::from_secs(60),
        },
        ChunkOptions {
            max_tokens: 64,
            overlap_tokens: 0,
        },
    );
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut conn, &new_collection(DIMS))
        .await
        .unwrap();
    drop(conn);
    let objects: Vec<SourceObject> = (0..documents)
        .map(|d| SourceObject {
            uri: format!("oss://bench/{d}.txt"),
            file_name: Some(format!("{d}.txt")),
            bytes: document(d).into_bytes(),
            etag: None,
            modified: Utc::now(),
            metadata: serde_json::json!({}),
            acl: Vec::new(),
        })
        .collect();
    let started = Instant::now();
    let chunks: usize = futures::stream::iter(objects)
        .map(|object| {
            let (pipeline, collection) = (&pipeline, &collection);
            async move {
                pipeline
                    .ingest(collection, object, "bench")
                    .await
                    .unwrap()
                    .chunks
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    let seconds = started.elapsed().as_secs_f64();
    let usage = embedder.usage().snapshot();
    Run {
        chunks,
        seconds,
        requests: usage.requests,
        throttled: usage.throttled,
    }
}

/// The same number of chunks, with precomputed vectors, written by the store alone.
async fn store_only(chunks_per_document: usize, documents: usize) -> f64 {
    let db = db::TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut conn, &new_collection(DIMS))
        .await
        .unwrap();
    drop(conn);
    let vector = openai::fake_embedding("a typical paragraph", DIMS);
    let started = Instant::now();
    futures::stream::iter(0..documents)
        .map(|d| {
            let (pool, vector) = (db.pool.clone(), vector.clone());
            async move {
                let chunks: Vec<NewChunk> = (0..chunks_per_document)
                    .map(|p| NewChunk {
                        text: format!("Section {p} of handbook {d}"),
                        token_count: 40,
                        page_from: None,
                        page_to: None,
                        heading_path: vec![],
                        keywords: format!("section {p} handbook {d}"),
                        embedding_sha256: [0; 32],
                        embedding: vector.clone(),
                    })
                    .collect();
                let document = NewDocument {
                    collection_id: collection.id,
                    source_uri: format!("oss://bench/{d}.txt"),
                    source_etag: None,
                    source_time: Utc::now(),
                    content_sha256: sha256(d.to_string()),
                    title: None,
                    mime_type: Some("text/plain".into()),
                    byte_size: 1000,
                    metadata: serde_json::json!({}),
                    acl: vec![],
                };
                let mut conn = pool.acquire().await.unwrap();
                documents::replace(&mut conn, &document, &chunks)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    started.elapsed().as_secs_f64()
}

fn new_collection(dimensions: usize) -> NewCollection {
    NewCollection {
        tenant: "bench".into(),
        name: "bench".into(),
        embedding_model: "text-embedding-v4".into(),
        dimensions: dimensions as i64,
        keyword_language: "auto".into(),
        settings: serde_json::json!({}),
    }
}

async fn bench_end_to_end() {
    let fake = FakeOpenAi::start().await;
    let mut rates = Vec::new();
    let mut baseline = Vec::new();
    let mut chunks = 0;
    for _ in 0..RUNS {
        let run = end_to_end(&fake, 8, DOCUMENTS).await;
        chunks = run.chunks;
        rates.push(run.chunks as f64 / run.seconds);
        let seconds = store_only(run.chunks / DOCUMENTS, DOCUMENTS).await;
        baseline.push(run.chunks as f64 / seconds);
    }
    let (rate, base) = (median(rates), median(baseline));
    println!(
        "end to end, {chunks} chunks in {DOCUMENTS} documents, {DIMS}-d, instant fake API: median {rate:.0} chunks/s; \
         store alone: {base:.0} chunks/s; ratio {:.2}",
        rate / base
    );
}

async fn bench_rate_limited() {
    // The API is the bottleneck here: 100 ms a request, at most 4 at once = 40 requests/s, far
    // below what the machine can parse and store, so the figure measures how well the pipeline
    // keeps the provider's allowance busy.
    const LIMIT: usize = 4;
    const DELAY_MS: u64 = 100;
    const DOCUMENTS: usize = 40;
    let allowed = LIMIT as f64 * 1000.0 / DELAY_MS as f64;
    // Baseline, same run: the embedder alone sending the same number of requests.
    let mut baseline = Vec::new();
    for _ in 0..RUNS {
        let fake = FakeOpenAi::start().await;
        fake.limit_concurrency(LIMIT);
        fake.delay_every_request(std::time::Duration::from_millis(DELAY_MS));
        let embedder = llm::embedder(&settings(&fake, LIMIT).config().unwrap()).unwrap();
        let texts: Vec<String> = (0..DOCUMENTS * 40).map(|i| format!("text {i}")).collect();
        let started = Instant::now();
        embedder.embed(&texts).await.unwrap();
        let requests = embedder.usage().snapshot().requests;
        baseline.push(requests as f64 / started.elapsed().as_secs_f64());
    }
    let baseline = median(baseline);
    println!(
        "rate-limited fake (at most {LIMIT} in flight, {DELAY_MS} ms each = {allowed:.0} req/s allowed): \
         embedder alone {baseline:.1} req/s ({:.0}% of allowed)",
        baseline / allowed * 100.0
    );
    for concurrency in [LIMIT, 2 * LIMIT] {
        let mut rates = Vec::new();
        let mut throttled = Vec::new();
        for _ in 0..RUNS {
            let fake = FakeOpenAi::start().await;
            fake.limit_concurrency(LIMIT);
            fake.delay_every_request(std::time::Duration::from_millis(DELAY_MS));
            let run = end_to_end(&fake, concurrency, DOCUMENTS).await;
            let admitted = run.requests - run.throttled;
            rates.push(admitted as f64 / run.seconds);
            throttled.push(run.throttled as f64);
        }
        let rate = median(rates);
        println!(
            "  pipeline, embedding concurrency {concurrency}: median {rate:.1} req/s = {:.0}% of allowed, \
             {:.2} of the embedder alone; median {:.0} requests throttled (all documents succeeded)",
            rate / allowed * 100.0,
            rate / baseline,
            median(throttled)
        );
    }
}

async fn bench_local_embedder() {
    let settings = EmbeddingSettings {
        base_url: None,
        api_key: None,
        models_dir: std::env::var("ADBRAG_MODELS_DIR")
            .unwrap_or_else(|_| "models".into())
            .into(),
        ..settings(&FakeOpenAi::start().await, 1)
    };
    let embedder = match llm::embedder(&settings.config().unwrap()) {
        Ok(embedder) => embedder,
        Err(err) => {
            println!("local embedder: skipped ({err})");
            return;
        }
    };
    let texts: Vec<String> = (0..64)
        .map(|i| document(i).chars().take(800).collect())
        .collect();
    embedder.embed(&texts[..8]).await.unwrap();
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        embedder.embed(&texts).await.unwrap();
        rates.push(texts.len() as f64 / started.elapsed().as_secs_f64());
    }
    println!(
        "local {} ({}-d), chunks of ~150 words: median {:.1} chunks/s",
        embedder.model(),
        embedder.dimensions(),
        median(rates)
    );
}

fn main() {
    let only = std::env::args().nth(1).filter(|arg| !arg.starts_with('-'));
    let wanted = |name: &str| only.as_deref().is_none_or(|only| name.contains(only));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if wanted("end_to_end") {
            bench_end_to_end().await;
        }
        if wanted("rate_limited") {
            bench_rate_limited().await;
        }
        if wanted("local") {
            bench_local_embedder().await;
        }
    });
}
