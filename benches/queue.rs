//! The event path's speed, against real PostgreSQL, the fake OSS (signatures checked) and the
//! fake OpenAI-compatible embedder (instant), each figure beside a baseline measured in the same run.
//!
//! `cargo bench --bench queue` (after `scripts/pg.sh`; `ADBRAG_TEST_DATABASE_URL` points
//! elsewhere). Medians of `RUNS` runs, each on a fresh database:
//!
//! 1. throughput: `EVENTS` upload events queued, then processed by 2 workers (fetch from OSS,
//!    parse, embed, write) — against the same objects through the ingest pipeline alone, 2 at a
//!    time, no queue and no fetch;
//! 2. latency: one upload at a time, from `POST /invoke` to its answer (the document is
//!    searchable when the answer is sent: the write commits first) — against `Pipeline::ingest` of
//!    the same object, so the difference is what the queue, the event and the fetch add;
//! 3. cold start of `adbrag fc` (the release binary): from exec to the first `/invoke` answered.

mod common;
#[path = "../tests/integration/harness/db.rs"]
#[allow(dead_code)]
mod db;
#[path = "../tests/integration/harness/openai.rs"]
#[allow(dead_code)]
mod openai;
#[path = "../tests/integration/harness/oss.rs"]
#[allow(dead_code)]
mod oss;

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use adbrag::{
    api::fc::{self, FcState},
    cli::worker::run_workers,
    config::EmbeddingSettings,
    ingest::{
        chunk::ChunkOptions,
        event::{self, Routes},
        object::{ObjectStores, StoreSettings},
        pipeline::{Limits, Pipeline},
        queue::{Queue, QueueSettings},
        source::SourceObject,
        tokens::EstimatingCounter,
    },
    llm,
    store::collections::{self, NewCollection},
};
use chrono::{TimeZone, Utc};
use common::{median, percentile};
use futures::StreamExt;
use openai::FakeOpenAi;
use oss::{FakeOss, Keys};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};

const RUNS: usize = 5;
const EVENTS: usize = 200;
const LATENCY_SAMPLES: usize = 40;
const DIMS: usize = 1024;
const BUCKET: &str = "bench-docs";

/// A handbook-sized document: ten paragraphs, each a chunk.
fn document(d: usize) -> String {
    (0..10)
        .map(|p| {
            format!(
                "Section {p} of policy {d}. Staff in office {d} follow rule {p} for travel, expenses \
                 and leave; a manager approves requests within {p} working days of receiving them."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn embedding(fake: &FakeOpenAi) -> EmbeddingSettings {
    EmbeddingSettings {
        base_url: Some(fake.base_url()),
        api_key: Some("bench".into()),
        model: "text-embedding-v4".into(),
        dimensions: DIMS,
        batch_size: 10,
        concurrency: 4,
        max_attempts: 5,
        timeout_secs: 30,
        models_dir: "models".into(),
    }
}

struct Rig {
    _db: db::TestDb,
    oss: FakeOss,
    queue: Arc<Queue>,
    pipeline: Arc<Pipeline>,
    url: String,
}

async fn rig(fake: &FakeOpenAi) -> Rig {
    let db = db::TestDb::migrated().await;
    let pipeline = Arc::new(Pipeline::new(
        db.pool.clone(),
        llm::embedder(&embedding(fake).config().unwrap()).unwrap(),
        Arc::new(EstimatingCounter),
        Limits {
            max_object_bytes: 10 << 20,
            max_pages: 100,
            max_image_pixels: adbrag::ingest::parse::ParseLimits::DEFAULT_MAX_IMAGE_PIXELS,
            max_chunks: 1000,
            parse_timeout: Duration::from_secs(60),
        },
        ChunkOptions {
            max_tokens: 64,
            overlap_tokens: 0,
        },
    ));
    let keys = Keys::long_lived();
    let oss = FakeOss::start(keys.clone()).await;
    let stores = ObjectStores::new(StoreSettings {
        oss_endpoint: Some(oss.endpoint()),
        ..StoreSettings::default()
    })
    .with_http_client(oss.client(&[BUCKET]));
    let routes: Routes = format!("{BUCKET}=bench@bench").parse().unwrap();
    let queue = Arc::new(
        Queue::new(pipeline.clone(), stores, routes, QueueSettings::default())
            .with_credentials(keys.credentials()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = fc::router(FcState {
        queue: queue.clone(),
        max_event_bytes: 128 * 1024,
        duplicate_wait: Duration::from_secs(60),
        dialect: None,
        schema_ready: Default::default(),
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The collection the route names, made up front so neither leg pays for creating it.
    let mut conn = db.pool.acquire().await.unwrap();
    collections::create(
        &mut conn,
        &NewCollection {
            tenant: "bench".into(),
            name: "bench".into(),
            embedding_model: "text-embedding-v4".into(),
            dimensions: DIMS as i64,
            keyword_language: "auto".into(),
            settings: json!({"chunk_tokens": 64, "chunk_overlap": 0}),
        },
    )
    .await
    .unwrap();
    Rig {
        _db: db,
        oss,
        queue,
        pipeline,
        url,
    }
}

fn event(key: &str, etag: &str, n: usize) -> serde_json::Value {
    let time = Utc.timestamp_opt(1_790_000_000 + n as i64, 0).unwrap();
    json!({
        "eventName": "ObjectCreated:PutObject",
        "eventSource": "acs:oss",
        "eventTime": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "region": "cn-hangzhou",
        "oss": {"bucket": {"name": BUCKET}, "object": {"key": key, "eTag": etag, "size": 1000}}
    })
}

fn object(d: usize, prefix: &str) -> SourceObject {
    SourceObject {
        uri: format!("oss://{BUCKET}/{prefix}/{d}.txt"),
        file_name: Some(format!("{d}.txt")),
        bytes: document(d).into_bytes(),
        etag: None,
        modified: Utc::now(),
        metadata: json!({}),
        acl: Vec::new(),
    }
}

/// Documents/s through the pipeline alone, 2 at a time.
async fn pipeline_alone(rig: &Rig, offset: usize) -> f64 {
    let collection = collections::get(rig.queue.pool(), "bench", "bench")
        .await
        .unwrap();
    let started = Instant::now();
    futures::stream::iter(0..EVENTS)
        .map(|d| {
            let (pipeline, collection) = (&rig.pipeline, &collection);
            async move {
                pipeline
                    .ingest(collection, object(offset + d, "direct"), "bench")
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(2)
        .collect::<Vec<_>>()
        .await;
    EVENTS as f64 / started.elapsed().as_secs_f64()
}

/// Events/s: queued, then drained by 2 workers.
async fn queue_two_workers(rig: &Rig, offset: usize) -> f64 {
    let mut events = Vec::new();
    for d in 0..EVENTS {
        let key = format!("queued/{}.txt", offset + d);
        let etag = rig
            .oss
            .put(BUCKET, &key, document(offset + d).as_bytes(), &[]);
        events.push(event(&key, &etag, offset + d));
    }
    let started = Instant::now();
    for value in &events {
        let body = json!({ "events": [value] }).to_string();
        let decoded = event::decode(body.as_bytes()).unwrap().remove(0).unwrap();
        rig.queue.offer(&decoded, "bench").await.unwrap();
    }
    let (_, stop) = watch::channel(false);
    let totals = run_workers(rig.queue.clone(), 2, true, Duration::from_millis(10), stop).await;
    assert_eq!(totals.finished as usize, EVENTS, "{totals:?}");
    EVENTS as f64 / started.elapsed().as_secs_f64()
}

/// (invoke latencies, pipeline latencies) in ms, one document at a time.
async fn latencies(rig: &Rig, offset: usize) -> (Vec<f64>, Vec<f64>) {
    let client = reqwest::Client::new();
    let collection = collections::get(rig.queue.pool(), "bench", "bench")
        .await
        .unwrap();
    let (mut invoke, mut direct) = (Vec::new(), Vec::new());
    for d in 0..LATENCY_SAMPLES {
        let n = offset + d;
        let key = format!("latency/{n}.txt");
        let etag = rig.oss.put(BUCKET, &key, document(n).as_bytes(), &[]);
        let body = json!({ "events": [event(&key, &etag, n)] }).to_string();
        let started = Instant::now();
        let response = client
            .post(format!("{}/invoke", rig.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.unwrap();
        invoke.push(started.elapsed().as_secs_f64() * 1000.0);

        let started = Instant::now();
        rig.pipeline
            .ingest(&collection, object(n, "latency-direct"), "bench")
            .await
            .unwrap();
        direct.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (invoke, direct)
}

/// Milliseconds from exec of `adbrag fc` to its first answered `/invoke`.
async fn cold_start(binary: &str, fake: &FakeOpenAi, database_url: &str) -> f64 {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("fc")
        .env("FC_SERVER_PORT", port.to_string())
        .env("ADBRAG_FC_HOST", "127.0.0.1")
        .env("DATABASE_URL", database_url)
        .env("ADBRAG_EMBEDDING_BASE_URL", fake.base_url())
        .env("ADBRAG_EMBEDDING_API_KEY", "bench")
        .env("ADBRAG_OSS_ROUTES", format!("{BUCKET}=bench@bench"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the release binary runs");
    let elapsed = loop {
        if let Ok(response) = client
            .post(format!("http://127.0.0.1:{port}/invoke"))
            .body(r#"{"events":[]}"#)
            .send()
            .await
            && response.status() == 200
        {
            break started.elapsed().as_secs_f64() * 1000.0;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not ready in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

#[tokio::main]
async fn main() {
    let fake = FakeOpenAi::start().await;
    let (mut alone, mut queued, mut invoke, mut direct) = (vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        let rig = rig(&fake).await;
        // Alternate which leg goes first, so neither always meets a warm or a cold database.
        let offset = run * 10 * EVENTS;
        if run % 2 == 0 {
            alone.push(pipeline_alone(&rig, offset).await);
            queued.push(queue_two_workers(&rig, offset + EVENTS).await);
        } else {
            queued.push(queue_two_workers(&rig, offset + EVENTS).await);
            alone.push(pipeline_alone(&rig, offset).await);
        }
        let (i, d) = latencies(&rig, offset + 2 * EVENTS).await;
        invoke.extend(i);
        direct.extend(d);
        eprintln!(
            "run {run}: pipeline alone {:.1} docs/s, queue with 2 workers {:.1} events/s",
            alone[run], queued[run]
        );
    }
    invoke.sort_by(f64::total_cmp);
    direct.sort_by(f64::total_cmp);
    let (a, q) = (median(alone), median(queued));
    println!("throughput ({EVENTS} events, median of {RUNS} runs):");
    println!("  pipeline alone, 2 at a time : {a:>8.1} documents/s");
    println!(
        "  queue, 2 workers (fetch+all) : {q:>8.1} events/s  ({:.2}x the pipeline)",
        q / a
    );
    println!(
        "latency, one document at a time ({} samples):",
        invoke.len()
    );
    println!(
        "  /invoke → searchable : median {:.1} ms, p95 {:.1} ms",
        percentile(&invoke, 0.5),
        percentile(&invoke, 0.95)
    );
    println!(
        "  pipeline alone       : median {:.1} ms, p95 {:.1} ms",
        percentile(&direct, 0.5),
        percentile(&direct, 0.95)
    );
    println!(
        "  added by event + queue + fetch: median {:.1} ms",
        percentile(&invoke, 0.5) - percentile(&direct, 0.5)
    );

    let binary = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/adbrag");
    if std::path::Path::new(binary).exists() {
        let database = db::TestDb::migrated().await;
        let mut starts = Vec::new();
        for _ in 0..RUNS {
            starts.push(cold_start(binary, &fake, &database.url).await);
        }
        println!(
            "cold start of `adbrag fc` (exec → first /invoke answered), median of {RUNS}: {:.0} ms (min {:.0}, max {:.0})",
            median(starts.clone()),
            starts.iter().cloned().fold(f64::INFINITY, f64::min),
            starts.iter().cloned().fold(0.0, f64::max)
        );
    } else {
        println!("cold start: SKIPPED, build the binary first: cargo build --release");
    }
}
