//! Retrieval latency, throughput, recall and overload behaviour on a 100k-chunk collection.
//!
//! `cargo bench --bench search` (after `scripts/pg.sh`). It loads 100,000 chunks of 384-d
//! clustered vectors with keyword text into a fresh database, then measures, each figure the median
//! of `RUNS` runs:
//!
//! 1. hybrid top-10 at concurrency 8 through the HTTP API (p50, p99, QPS), and the same retrieval as
//!    direct SQL in the same run (the baseline): the ratio is what the service adds;
//! 2. vector-leg recall@10 against exact search (a sequential scan) at several `hnsw.ef_search`;
//! 3. 3× the sustainable concurrency: accepted requests' latency, the share refused with 503, RSS.
//!
//! The service is the release `adbrag serve` binary, run as a child process so its RSS is its own.
//! Queries carry precomputed embeddings, which a small embeddings server inside the benchmark
//! hands out over the OpenAI protocol (a lookup, no model), so the figures are the service's and
//! the database's, not a model's; the HTTP figures include that embedding round trip on loopback,
//! as production includes Model Studio's.

mod common;
#[path = "../tests/integration/harness/db.rs"]
#[allow(dead_code)]
mod db;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use adbrag::{
    config::SearchSettings,
    store::{
        collections::{self, Collection, NewCollection},
        dialect::{Dialect, Dimensions},
        documents::{self, NewChunk, NewDocument},
        search::{self as sql, Mode},
        sha256,
    },
    text::segment,
};
use chrono::Utc;
use common::{Rng, Server, median, normalise, percentile, search_settings};
use futures::StreamExt;
use sqlx::PgPool;

const RUNS: usize = 3;
const DOCUMENTS: usize = 1000;
const CHUNKS_PER_DOCUMENT: usize = 100;
const DIMS: usize = 384;
const CLUSTERS: usize = 200;
const QUERIES: usize = 400;
const CONCURRENCY: usize = 8;
/// How long each overload scenario runs.
const OVERLOAD_TIME: std::time::Duration = std::time::Duration::from_secs(10);

fn near(rng: &mut Rng, center: &[f32], spread: f32) -> Vec<f32> {
    normalise(center.iter().map(|c| c + spread * rng.unit()).collect())
}

fn word(rng: &mut Rng) -> String {
    // A Zipf-like vocabulary: low ids are common, as real words are.
    let id = (rng.next() % 5000) * (rng.next() % 5000) / 5000;
    format!("w{id}")
}

/// Serves the precomputed query vectors at `POST /embeddings`, the way the OpenAI API answers.
async fn embeddings_server(vectors: HashMap<String, Vec<f32>>) -> String {
    use axum::{Json, extract::State, routing::post};
    use serde_json::{Value, json};
    async fn embeddings(
        State(vectors): State<Arc<HashMap<String, Vec<f32>>>>,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let inputs: Vec<String> = match &body["input"] {
            Value::Array(items) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            Value::String(text) => vec![text.clone()],
            _ => vec![],
        };
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let vector = vectors.get(text).expect("a benchmark query");
                json!({ "object": "embedding", "index": index, "embedding": vector })
            })
            .collect();
        Json(json!({
            "object": "list", "data": data, "model": "bench",
            "usage": { "prompt_tokens": inputs.len(), "total_tokens": inputs.len() },
        }))
    }
    let app = axum::Router::new()
        .route("/embeddings", post(embeddings))
        .with_state(Arc::new(vectors));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    use axum::serve::ListenerExt;
    tokio::spawn(async move {
        axum::serve(listener.tap_io(|tcp| drop(tcp.set_nodelay(true))), app)
            .await
            .unwrap()
    });
    format!("http://{addr}")
}

/// The service as a child process, searching through `embeddings` and admitting `max_searches`
/// at once with a queue of `queue`.
async fn serve(database_url: &str, embeddings: &str, max_searches: usize, queue: usize) -> Server {
    Server::start(
        database_url,
        &[
            ("ADBRAG_EMBEDDING_BASE_URL", embeddings.to_owned()),
            ("ADBRAG_EMBEDDING_MODEL", "bench".into()),
            ("ADBRAG_EMBEDDING_DIMENSIONS", DIMS.to_string()),
            ("ADBRAG_MAX_SEARCHES", max_searches.to_string()),
            ("ADBRAG_SEARCH_QUEUE", queue.to_string()),
            (
                "ADBRAG_SEARCH_CANDIDATES",
                settings().candidates.to_string(),
            ),
            ("ADBRAG_HNSW_EF_SEARCH", settings().ef_search.to_string()),
        ],
    )
    .await
}

struct Corpus {
    collection: Collection,
    queries: Vec<(String, Vec<f32>)>,
}

async fn load(pool: &PgPool) -> Corpus {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centers: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| normalise((0..DIMS).map(|_| rng.unit()).collect()))
        .collect();
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
    let documents: Vec<(NewDocument, Vec<NewChunk>)> = (0..DOCUMENTS)
        .map(|d| {
            let chunks = (0..CHUNKS_PER_DOCUMENT)
                .map(|_| {
                    let center = &centers[(rng.next() % CLUSTERS as u64) as usize];
                    let text: Vec<String> = (0..40).map(|_| word(&mut rng)).collect();
                    let text = text.join(" ");
                    NewChunk {
                        keywords: segment::keywords(&text),
                        text,
                        token_count: 40,
                        page_from: None,
                        page_to: None,
                        heading_path: vec![],
                        embedding_sha256: [0; 32],
                        embedding: near(&mut rng, center, 0.08),
                    }
                })
                .collect();
            let document = NewDocument {
                collection_id: collection.id,
                source_uri: format!("bench://{d}"),
                source_etag: None,
                source_time: Utc::now(),
                content_sha256: sha256(d.to_string()),
                title: Some(format!("Document {d}")),
                mime_type: Some("text/plain".into()),
                byte_size: 1000,
                metadata: serde_json::json!({ "group": d % 10 }),
                acl: vec![],
            };
            (document, chunks)
        })
        .collect();
    futures::stream::iter(documents)
        .map(|(document, chunks)| {
            let pool = pool.clone();
            async move {
                let mut conn = pool.acquire().await.unwrap();
                documents::replace(&mut conn, &document, &chunks)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    sqlx::query("VACUUM ANALYZE chunk, keyword_posting, keyword_term, keyword_stats")
        .execute(pool)
        .await
        .unwrap();
    println!(
        "loaded {} chunks ({DIMS}-d, {CLUSTERS} clusters) in {:.0} s",
        DOCUMENTS * CHUNKS_PER_DOCUMENT,
        started.elapsed().as_secs_f64()
    );
    let queries = (0..QUERIES)
        .map(|q| {
            let center = &centers[(rng.next() % CLUSTERS as u64) as usize];
            let text = format!("q{q} {} {}", word(&mut rng), word(&mut rng));
            (text, near(&mut rng, center, 0.08))
        })
        .collect();
    Corpus {
        collection,
        queries,
    }
}

fn settings() -> SearchSettings {
    search_settings()
}

/// Runs `total` calls of `call` at `concurrency`; returns sorted latencies (ms) and the wall time.
async fn drive<F, Fut>(concurrency: usize, total: usize, call: F) -> (Vec<f64>, f64)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut latencies: Vec<f64> = futures::stream::iter(0..total)
        .map(|i| {
            let call = &call;
            async move {
                let t = Instant::now();
                let ok = call(i).await;
                ok.then(|| t.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|latency| async move { latency })
        .collect()
        .await;
    latencies.sort_by(f64::total_cmp);
    (latencies, started.elapsed().as_secs_f64())
}

fn sql_query<'a>(
    corpus: &'a Corpus,
    terms: &'a [String],
    vector: &'a [f32],
    mode: Mode,
) -> sql::Query<'a> {
    sql::Query {
        dialect: Dialect::Pgvector,
        collection_id: corpus.collection.id,
        dimensions: Dimensions::new(DIMS as i64).unwrap(),
        embedding: Some(vector),
        terms,
        mode,
        top_k: 10,
        candidates: 50,
        fusion: settings().options(Dialect::Pgvector).fusion,
        bm25: settings().options(Dialect::Pgvector).bm25,
        postings_per_term: settings().postings_per_term as i64,
        filter: None,
        principals: None,
    }
}

#[tokio::main]
async fn main() {
    let db = db::TestDb::migrated().await;
    // The pool the service would use: ef_search and iterative scans set at connection start.
    let mut options: sqlx::postgres::PgConnectOptions = db.url.parse().unwrap();
    options = options.options(
        Dialect::Pgvector
            .session(Some(settings().ef_search))
            .iter()
            .map(|(k, v)| (*k, v.as_str())),
    );
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .unwrap();
    let corpus = load(&pool).await;
    if std::env::var_os("ADBRAG_BENCH_KEEP_DATABASE").is_some() {
        // For EXPLAIN by hand: the loaded database stays, and nothing is measured.
        println!("kept {} (drop it when done)", db.url);
        std::mem::forget(db);
        return;
    }
    let embeddings = embeddings_server(corpus.queries.iter().cloned().collect()).await;
    let server = serve(&db.url, &embeddings, 32, 64).await;
    let rss_idle = server.rss_mb();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/collections/bench/search", server.url);
    let total = QUERIES * 3;

    // The baseline: query i's hybrid retrieval as direct SQL.
    let hybrid_sql = |i: usize| {
        let (text, vector) = &corpus.queries[i % QUERIES];
        let (pool, corpus) = (pool.clone(), &corpus);
        async move {
            let terms = segment::terms(text);
            sql::hybrid(&pool, &sql_query(corpus, &terms, vector, Mode::Hybrid))
                .await
                .is_ok()
        }
    };

    // 1. HTTP hybrid vs the same SQL, same run.
    let (mut http_p50, mut http_p99, mut qps, mut sql_p50, mut sql_p99) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let (sql_latencies, _) = drive(CONCURRENCY, total, &hybrid_sql).await;
        let (http_latencies, seconds) = drive(CONCURRENCY, total, |i| {
            let (http, url) = (http.clone(), url.clone());
            let query = corpus.queries[i % QUERIES].0.clone();
            async move {
                let response = http
                    .post(url)
                    .json(&serde_json::json!({ "query": query, "top_k": 10 }))
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status() == 200 => response.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        assert_eq!(http_latencies.len(), total, "every HTTP search succeeded");
        sql_p50.push(percentile(&sql_latencies, 0.5));
        sql_p99.push(percentile(&sql_latencies, 0.99));
        http_p50.push(percentile(&http_latencies, 0.5));
        http_p99.push(percentile(&http_latencies, 0.99));
        qps.push(total as f64 / seconds);
    }
    let (h50, h99, s50, s99) = (
        median(http_p50),
        median(http_p99),
        median(sql_p50),
        median(sql_p99),
    );
    println!(
        "hybrid top-10, 100k chunks, concurrency {CONCURRENCY}: HTTP p50 {h50:.1} ms, p99 {h99:.1} ms, {:.0} QPS; \
         direct SQL p50 {s50:.1} ms, p99 {s99:.1} ms; HTTP/SQL p50 ratio {:.2}",
        median(qps),
        h50 / s50
    );
    let (sequential, _) = drive(1, QUERIES, &hybrid_sql).await;
    println!(
        "the same SQL one query at a time: p50 {:.1} ms, p99 {:.1} ms (at concurrency {CONCURRENCY} on 2 cores a query waits for about {} others)",
        percentile(&sequential, 0.5),
        percentile(&sequential, 0.99),
        CONCURRENCY / 2 - 1,
    );
    let (keyword_alone, _) = drive(1, QUERIES, |i| {
        let (text, vector) = &corpus.queries[i % QUERIES];
        let (pool, corpus) = (pool.clone(), &corpus);
        async move {
            let terms = segment::terms(text);
            sql::hybrid(&pool, &sql_query(corpus, &terms, vector, Mode::Keyword))
                .await
                .is_ok()
        }
    })
    .await;
    println!(
        "the keyword leg alone, one query at a time: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&keyword_alone, 0.5),
        percentile(&keyword_alone, 0.99),
    );
    println!(
        "server RSS (the adbrag process alone, no model weights): {rss_idle:.0} MB ready, {:.0} MB after the HTTP runs",
        server.rss_mb()
    );
    drop(server);

    // 2. Recall@10 of the vector leg against exact search, per ef_search.
    let sample: Vec<&(String, Vec<f32>)> = corpus.queries.iter().take(100).collect();
    let mut exact: Vec<Vec<uuid::Uuid>> = Vec::new();
    for (_, vector) in &sample {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL enable_indexscan = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT chunk_id FROM chunk_vector_384 WHERE collection_id = $1 ORDER BY embedding <=> $2::real[]::vector(384) LIMIT 10",
        )
        .bind(corpus.collection.id)
        .bind(vector)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        exact.push(ids);
    }
    for ef in [20, 40, 100, 200] {
        let mut found = 0usize;
        let mut latencies = Vec::new();
        for ((text, vector), truth) in sample.iter().zip(&exact) {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SET LOCAL hnsw.ef_search = {ef}"
            )))
            .execute(&mut *tx)
            .await
            .unwrap();
            let terms = segment::terms(text);
            let t = Instant::now();
            let hits = sql::hybrid(&mut *tx, &sql_query(&corpus, &terms, vector, Mode::Vector))
                .await
                .unwrap();
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            found += hits.iter().filter(|h| truth.contains(&h.chunk_id)).count();
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "vector leg, ef_search {ef:>3}: recall@10 {:.3}, p50 {:.1} ms (sequential)",
            found as f64 / (10 * sample.len()) as f64,
            percentile(&latencies, 0.5)
        );
    }

    // 3. Three times the sustainable concurrency against a server sized for CONCURRENCY: clients
    // that wait out Retry-After, then clients that retry at once (a flood).
    let small = serve(&db.url, &embeddings, CONCURRENCY, CONCURRENCY).await;
    let url = format!("{}/v1/collections/bench/search", small.url);
    for polite in [true, false] {
        let rss_start = small.rss_mb();
        let peak = Arc::new(std::sync::Mutex::new(rss_start));
        let deadline = Instant::now() + OVERLOAD_TIME;
        let sampler = {
            let (peak, pid_rss) = (peak.clone(), small.status_path());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let rss = common::rss_mb(&pid_rss);
                    {
                        let mut peak = peak.lock().unwrap();
                        *peak = peak.max(rss);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            })
        };
        let refused = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..3 * CONCURRENCY)
            .map(|client| {
                let (http, url, refused) = (http.clone(), url.clone(), refused.clone());
                let queries: Vec<String> = corpus.queries.iter().map(|(q, _)| q.clone()).collect();
                tokio::spawn(async move {
                    let mut accepted = Vec::new();
                    let mut i = client;
                    while Instant::now() < deadline {
                        i += 3 * CONCURRENCY;
                        let t = Instant::now();
                        let response = http
                            .post(&url)
                            .json(&serde_json::json!({ "query": queries[i % QUERIES] }))
                            .send()
                            .await
                            .unwrap();
                        if response.status() == 503 {
                            let retry_after: u64 = response.headers()["retry-after"]
                                .to_str()
                                .unwrap()
                                .parse()
                                .unwrap();
                            refused.fetch_add(1, Ordering::Relaxed);
                            if polite {
                                tokio::time::sleep(std::time::Duration::from_secs(retry_after))
                                    .await;
                            }
                        } else {
                            assert_eq!(response.status(), 200);
                            response.bytes().await.unwrap();
                            accepted.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    accepted
                })
            })
            .collect();
        let mut accepted = Vec::new();
        for client in clients {
            accepted.extend(client.await.unwrap());
        }
        sampler.await.unwrap();
        accepted.sort_by(f64::total_cmp);
        println!(
            "3x load for {} s, {} clients {} (server admits {CONCURRENCY} + queue {CONCURRENCY}): accepted {} ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms; refused with 503 + Retry-After {}; server RSS {rss_start:.0} MB at start, {:.0} MB peak, {:.0} MB at end",
            OVERLOAD_TIME.as_secs(),
            3 * CONCURRENCY,
            if polite {
                "waiting out Retry-After"
            } else {
                "retrying at once"
            },
            accepted.len(),
            accepted.len() as f64 / OVERLOAD_TIME.as_secs_f64(),
            percentile(&accepted, 0.5),
            percentile(&accepted, 0.99),
            refused.load(Ordering::Relaxed),
            *peak.lock().unwrap(),
            small.rss_mb()
        );
    }
}
