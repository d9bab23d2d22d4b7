//! Purge speed, and what it costs other readers, on a 100k-chunk collection.
//!
//! `cargo bench --bench purge` (after `scripts/pg.sh`). It loads 90 documents of 1,000 chunks and
//! one of 10,000 (384-d vectors with keyword text), then, each figure the median of its runs:
//!
//! 1. purging the 10,000-chunk document (`admin::purge`, what `adbrag purge` runs), without and
//!    with `--vacuum` (VACUUM FULL of the touched tables, which rebuilds their indexes, HNSW too);
//! 2. the latency of hybrid searches of the other documents, 2 at a time, while the purge runs,
//!    against the same searches for the same time just after it, in the same run: the ratio is
//!    what a purge costs readers. The document is loaded again before each run.

mod common;
#[path = "../tests/integration/harness/db.rs"]
#[allow(dead_code)]
mod db;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use adbrag::{
    admin::{self, PurgeOutcome, PurgeRequest},
    store::{
        collections::{self, Collection, NewCollection},
        dialect::Dimensions,
        documents::{self, NewChunk, NewDocument},
        search::{self as sql, Mode},
        sha256,
    },
    text::segment,
};
use chrono::Utc;
use common::{Rng, median, normalise, percentile, search_settings};
use futures::StreamExt;
use sqlx::PgPool;

const BACKGROUND_DOCUMENTS: usize = 90;
const BACKGROUND_CHUNKS: usize = 1000;
const TARGET_CHUNKS: usize = 10_000;
const DIMS: usize = 384;
const RUNS: usize = 3;
/// `VACUUM FULL` rebuilds the HNSW index of 100k vectors: minutes on 2 cores, so once.
const VACUUM_RUNS: usize = 1;

/// A random unit vector of `DIMS`.
fn vector(rng: &mut Rng) -> Vec<f32> {
    normalise((0..DIMS).map(|_| rng.unit()).collect())
}

/// `words` random words of a 5,000-word vocabulary.
fn text(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| format!("w{}", rng.next() % 5000))
        .collect::<Vec<_>>()
        .join(" ")
}

fn document(
    collection: &Collection,
    name: &str,
    chunks: usize,
    rng: &mut Rng,
) -> (NewDocument, Vec<NewChunk>) {
    let chunks = (0..chunks)
        .map(|_| {
            let text = text(rng, 40);
            NewChunk {
                keywords: segment::keywords(&text),
                embedding_sha256: sha256(&text),
                text,
                token_count: 40,
                page_from: None,
                page_to: None,
                heading_path: vec![],
                embedding: vector(rng),
            }
        })
        .collect();
    let document = NewDocument {
        collection_id: collection.id,
        source_uri: format!("bench://{name}"),
        source_etag: None,
        source_time: Utc::now(),
        content_sha256: sha256(name),
        title: None,
        mime_type: Some("text/plain".into()),
        byte_size: 1000,
        metadata: serde_json::json!({}),
        acl: vec![],
    };
    (document, chunks)
}

/// Hybrid searches, 2 at a time, until `stop`; their latencies in ms.
async fn readers(
    pool: &PgPool,
    collection: &Collection,
    queries: &[(Vec<String>, Vec<f32>)],
    stop: Arc<AtomicBool>,
) -> Vec<f64> {
    let loops = (0..2).map(|worker| {
        let (pool, stop) = (pool.clone(), stop.clone());
        async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let (terms, vector) = &queries[i % queries.len()];
                let started = Instant::now();
                sql::hybrid(
                    &pool,
                    &sql::Query {
                        dialect: adbrag::store::dialect::Dialect::Pgvector,
                        collection_id: collection.id,
                        dimensions: Dimensions::new(DIMS as i64).unwrap(),
                        embedding: Some(vector),
                        terms,
                        mode: Mode::Hybrid,
                        top_k: 10,
                        candidates: 50,
                        fusion: search_settings()
                            .options(adbrag::store::dialect::Dialect::Pgvector)
                            .fusion,
                        bm25: search_settings()
                            .options(adbrag::store::dialect::Dialect::Pgvector)
                            .bm25,
                        postings_per_term: 200,
                        filter: None,
                        principals: None,
                    },
                )
                .await
                .unwrap();
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                i += 2;
            }
            latencies
        }
    });
    let mut all: Vec<f64> = futures::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect();
    all.sort_by(f64::total_cmp);
    all
}

/// Readers for `duration` with nothing else running.
async fn baseline(
    pool: &PgPool,
    collection: &Collection,
    queries: &[(Vec<String>, Vec<f32>)],
    duration: Duration,
) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let timer = async move {
        tokio::time::sleep(duration).await;
        flag.store(true, Ordering::Relaxed);
    };
    let (latencies, ()) = tokio::join!(readers(pool, collection, queries, stop), timer);
    latencies
}

/// (purge seconds, reader latencies during it, reader latencies for as long just before).
async fn run(
    pool: &PgPool,
    collection: &Collection,
    queries: &[(Vec<String>, Vec<f32>)],
    target: &str,
    vacuum: bool,
) -> (f64, Vec<f64>, Vec<f64>) {
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM document WHERE source_uri = $1")
        .bind(target)
        .fetch_one(pool)
        .await
        .unwrap();
    let request = PurgeRequest {
        tenant: "default".into(),
        collection: Some("bench".into()),
        documents: vec![id],
        vacuum,
        actor: "bench".into(),
        ..PurgeRequest::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let purge = async {
        let started = Instant::now();
        let outcome = admin::purge(pool, &request).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        flag.store(true, Ordering::Relaxed);
        match outcome {
            PurgeOutcome::Purged { verification, .. } => assert!(verification.ok),
            other => panic!("not purged: {other:?}"),
        }
        seconds
    };
    let (during, seconds) = tokio::join!(readers(pool, collection, queries, stop), purge);
    let before = baseline(
        pool,
        collection,
        queries,
        Duration::from_secs_f64(seconds.max(1.0)),
    )
    .await;
    (seconds, during, before)
}

#[tokio::main]
async fn main() {
    let db = db::TestDb::migrated().await;
    let pool = db.pool.clone();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut conn = pool.acquire().await.unwrap();
    let collection = collections::create(
        &mut conn,
        &NewCollection {
            tenant: "default".into(),
            name: "bench".into(),
            embedding_model: "bench".into(),
            dimensions: DIMS as i64,
            keyword_language: "auto".into(),
            settings: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    drop(conn);
    let started = Instant::now();
    let background: Vec<_> = (0..BACKGROUND_DOCUMENTS)
        .map(|d| document(&collection, &d.to_string(), BACKGROUND_CHUNKS, &mut rng))
        .collect();
    futures::stream::iter(background)
        .map(|(document, chunks)| {
            let pool = pool.clone();
            async move {
                let mut conn = pool.acquire().await.unwrap();
                documents::replace(&mut conn, &document, &chunks)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(2)
        .collect::<Vec<_>>()
        .await;
    let queries: Vec<(Vec<String>, Vec<f32>)> = (0..100)
        .map(|_| (segment::terms(&text(&mut rng, 3)), vector(&mut rng)))
        .collect();
    println!(
        "loaded {} background chunks in {:.0} s",
        BACKGROUND_DOCUMENTS * BACKGROUND_CHUNKS,
        started.elapsed().as_secs_f64()
    );

    for (label, vacuum, runs) in [
        ("without --vacuum", false, RUNS),
        ("with --vacuum", true, VACUUM_RUNS),
    ] {
        let (mut seconds, mut ratio50, mut ratio95, mut during95, mut before95) =
            (vec![], vec![], vec![], vec![], vec![]);
        for run_index in 0..runs {
            let name = format!("target-{label}-{run_index}");
            let (document, chunks) = document(&collection, &name, TARGET_CHUNKS, &mut rng);
            let mut conn = pool.acquire().await.unwrap();
            documents::replace(&mut conn, &document, &chunks)
                .await
                .unwrap();
            drop(conn);
            // ANALYZE only: a plain VACUUM after the previous run's purge repairs the HNSW graph
            // around 10k deleted vectors, which takes minutes (autovacuum's job in production).
            sqlx::query("ANALYZE chunk, keyword_posting")
                .execute(&pool)
                .await
                .unwrap();
            let (s, during, before) = run(
                &pool,
                &collection,
                &queries,
                &format!("bench://{name}"),
                vacuum,
            )
            .await;
            let (d50, d95) = (percentile(&during, 0.5), percentile(&during, 0.95));
            let (b50, b95) = (percentile(&before, 0.5), percentile(&before, 0.95));
            println!(
                "  {label} run {run_index}: purge {s:.2} s; readers during: {} searches, p50 {d50:.1} ms, p95 {d95:.1} ms; alone, just after: p50 {b50:.1} ms, p95 {b95:.1} ms",
                during.len()
            );
            seconds.push(s);
            ratio50.push(d50 / b50);
            ratio95.push(d95 / b95);
            during95.push(d95);
            before95.push(b95);
        }
        println!(
            "purge of one {TARGET_CHUNKS}-chunk document of a {}-chunk collection, {label}: median {:.2} s; readers' latency during it / alone: p50 {:.2}x, p95 {:.2}x (p95 {:.1} ms vs {:.1} ms)",
            BACKGROUND_DOCUMENTS * BACKGROUND_CHUNKS + TARGET_CHUNKS,
            median(seconds),
            median(ratio50),
            median(ratio95),
            median(during95),
            median(before95)
        );
    }
}
