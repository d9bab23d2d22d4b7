//! The ingest pipeline end to end: real files, the real OpenAI-compatible client against the fake
//! server on 127.0.0.1, real PostgreSQL.

use std::sync::Arc;

use adbrag::{
    config::{EmbeddingSettings, IngestSettings},
    ingest::{
        chunk::ChunkOptions,
        pipeline::{IngestError, Ingested, Outcome, Pipeline},
        source::{self, SourceObject},
        tokens::EstimatingCounter,
    },
    llm::{self, EmbedError, Embedder},
    store::{
        collections::{self, Collection},
        documents::{self, DocumentStatus},
        jobs::{self, JobStatus},
    },
};
use chrono::{TimeZone, Utc};

use crate::{
    harness::{
        TestDb,
        openai::{FakeOpenAi, Fault, MAX_EMBEDDING_BATCH},
    },
    store_collections::new_collection,
};

const DIMS: usize = 16;

pub fn embedding_settings(fake: &FakeOpenAi) -> EmbeddingSettings {
    EmbeddingSettings {
        base_url: Some(fake.base_url()),
        api_key: Some("test-key".into()),
        model: "text-embedding-v4".into(),
        dimensions: DIMS,
        batch_size: MAX_EMBEDDING_BATCH,
        concurrency: 4,
        max_attempts: 4,
        timeout_secs: 5,
        models_dir: "models".into(),
    }
}

pub fn ingest_settings() -> IngestSettings {
    IngestSettings {
        max_object_bytes: 1024 * 1024,
        max_pages: 50,
        max_chunks: 500,
        parse_timeout_secs: 30,
        chunk_tokens: 160,
        chunk_overlap: 0,
        tokenizer: None,
        ocr: adbrag::config::OcrSettings {
            mode: adbrag::config::OcrModeArg::Off,
            ..adbrag::config::OcrSettings::default()
        },
    }
}

struct Setup {
    db: TestDb,
    fake: FakeOpenAi,
    pipeline: Pipeline,
    embedder: Arc<dyn Embedder>,
    collection: Collection,
}

async fn setup_with(
    embedding: impl FnOnce(&mut EmbeddingSettings),
    ingest: impl FnOnce(&mut IngestSettings),
) -> Setup {
    crate::harness::init_logging();
    let db = TestDb::migrated().await;
    let fake = FakeOpenAi::start().await;
    let mut embedding_settings = embedding_settings(&fake);
    embedding(&mut embedding_settings);
    let mut ingest_settings = ingest_settings();
    ingest(&mut ingest_settings);
    let embedder = llm::embedder(&embedding_settings.config().unwrap()).unwrap();
    let pipeline = Pipeline::new(
        db.pool.clone(),
        embedder.clone(),
        Arc::new(EstimatingCounter),
        ingest_settings.limits(),
        ChunkOptions {
            max_tokens: ingest_settings.chunk_tokens,
            overlap_tokens: ingest_settings.chunk_overlap,
        },
    );
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut conn, &new_collection("acme", "docs", DIMS as i64))
        .await
        .unwrap();
    Setup {
        db,
        fake,
        pipeline,
        embedder,
        collection,
    }
}

async fn setup() -> Setup {
    setup_with(|_| {}, |_| {}).await
}

fn object(name: &str, bytes: impl Into<Vec<u8>>, time: i64) -> SourceObject {
    SourceObject {
        uri: format!("oss://bucket/{name}"),
        file_name: Some(name.to_owned()),
        bytes: bytes.into(),
        etag: Some(format!("etag-{time}")),
        modified: Utc.timestamp_opt(1_700_000_000 + time, 0).unwrap(),
        metadata: serde_json::json!({}),
        acl: Vec::new(),
    }
}

/// Twelve sections about different things; each heading starts a chunk of its own.
fn handbook(edited: Option<usize>) -> String {
    let topics = [
        "annual leave",
        "sick leave",
        "expense claims",
        "travel booking",
        "laptop security",
        "office access",
        "parental leave",
        "overtime pay",
        "remote work",
        "health insurance",
        "training budget",
        "code of conduct",
    ];
    topics
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            let extra = if edited == Some(i) { " This paragraph was revised in 2026." } else { "" };
            format!(
                "## Policy {i}\n\nPolicy {i} covers {topic}. Employees should read the {topic} rules \
                 carefully and ask their manager when unsure about {topic}.{extra}"
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn ingest(s: &Setup, object: SourceObject) -> Result<Ingested, IngestError> {
    s.pipeline.ingest(&s.collection, object, "test").await
}

fn embedding_requests(fake: &FakeOpenAi) -> Vec<usize> {
    fake.recorded()
        .iter()
        .filter(|r| r.path == "/embeddings")
        .map(|r| r.body["input"].as_array().map_or(1, Vec::len))
        .collect()
}

async fn visible_chunks(s: &Setup, uri: &str) -> usize {
    match documents::find_by_source(&s.db.pool, s.collection.id, uri)
        .await
        .unwrap()
    {
        Some(document) => documents::chunks(&s.db.pool, document.id)
            .await
            .unwrap()
            .len(),
        None => 0,
    }
}

#[tokio::test]
async fn a_document_becomes_chunks_with_vectors_keywords_and_a_job_record() {
    let s = setup().await;

    let done = ingest(&s, object("handbook.md", handbook(None), 1))
        .await
        .unwrap();

    assert_eq!(done.outcome, Outcome::Written { version: 1 });
    assert_eq!(done.chunks, 12, "{done:?}");
    assert_eq!(done.embedded, done.chunks);
    let requests = embedding_requests(&s.fake);
    assert!(
        requests.iter().all(|n| *n <= MAX_EMBEDDING_BATCH),
        "{requests:?}"
    );
    assert_eq!(requests.iter().sum::<usize>(), done.chunks);
    assert_eq!(s.fake.recorded()[0].body["dimensions"], DIMS);

    let document = documents::get(&s.db.pool, s.collection.id, done.document_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (document.status, document.chunk_count as usize),
        (DocumentStatus::Ready, done.chunks)
    );
    assert_eq!(document.mime_type.as_deref(), Some("text/markdown"));
    // Chunks holding both terms of "parental leave", as the analyzer derives them (stemmed).
    let keyword_hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT chunk_id FROM keyword_posting WHERE term = ANY($1)
                               GROUP BY chunk_id HAVING count(*) = 2) both_terms",
    )
    .bind(adbrag::text::segment::terms("parental leave"))
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert!(keyword_hits >= 1);
    let job = jobs::get(&s.db.pool, done.job_id).await.unwrap();
    assert_eq!(
        (job.status, job.document_id),
        (JobStatus::Succeeded, done.document_id)
    );
}

#[tokio::test]
async fn reingesting_an_unchanged_document_makes_no_embedding_calls() {
    let s = setup().await;
    ingest(&s, object("handbook.md", handbook(None), 1))
        .await
        .unwrap();
    let calls = s.fake.recorded().len();

    let again = ingest(&s, object("handbook.md", handbook(None), 2))
        .await
        .unwrap();

    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(
        s.fake.recorded().len(),
        calls,
        "the unchanged document was embedded again"
    );
}

#[tokio::test]
async fn reingesting_an_unchanged_document_keeps_its_parsed_title_and_type() {
    let s = setup().await;
    let html = "<html><head><title>Travel policy 2026</title></head><body><h1>Trains</h1>\
                <p>Book second class for trips under four hours.</p></body></html>";
    let first = ingest(&s, object("travel.html", html, 1)).await.unwrap();
    let read = || async {
        sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT title, mime_type FROM document WHERE id = $1",
        )
        .bind(first.document_id)
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
    };
    let parsed = read().await;
    assert_eq!(
        parsed.0.as_deref(),
        Some("Travel policy 2026"),
        "{parsed:?}"
    );
    assert!(parsed.1.is_some(), "{parsed:?}");

    let again = ingest(&s, object("travel.html", html, 2)).await.unwrap();

    assert_eq!(again.outcome, Outcome::Unchanged);
    // Not parsed again, so not described again: the file name must not replace the title.
    assert_eq!(read().await, parsed);
}

#[tokio::test]
async fn editing_one_paragraph_re_embeds_only_the_chunk_that_changed() {
    let s = setup().await;
    let first = ingest(&s, object("handbook.md", handbook(None), 1))
        .await
        .unwrap();

    let edited = ingest(&s, object("handbook.md", handbook(Some(5)), 2))
        .await
        .unwrap();

    assert_eq!(edited.outcome, Outcome::Written { version: 2 });
    assert_eq!(edited.chunks, first.chunks);
    assert_eq!(edited.embedded, 1, "{edited:?}");
    assert_eq!(edited.cache_hits, first.chunks - 1);
}

#[tokio::test]
async fn the_same_file_under_two_names_is_embedded_once() {
    let s = setup().await;
    ingest(&s, object("a.md", handbook(None), 1)).await.unwrap();

    let copy = ingest(&s, object("copy-of-a.md", handbook(None), 1))
        .await
        .unwrap();

    assert_eq!((copy.embedded, copy.cache_hits), (0, copy.chunks));
}

#[tokio::test]
async fn a_throttling_storm_is_retried_until_it_passes() {
    let s = setup().await;
    for _ in 0..3 {
        s.fake.push_fault(Fault::Status {
            status: 429,
            code: "Throttling.RateQuota",
            retry_after: Some(0),
        });
    }

    let done = ingest(&s, object("short.txt", "Leave is twenty days a year.", 1))
        .await
        .unwrap();

    assert_eq!(done.outcome, Outcome::Written { version: 1 });
    let usage = s.embedder.usage().snapshot();
    assert_eq!((usage.retries, usage.throttled, usage.requests), (3, 3, 4));
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_the_job_fails_with_the_providers_message() {
    let s = setup().await;
    s.fake.push_fault(Fault::Status {
        status: 400,
        code: "Arrearage",
        retry_after: None,
    });

    let err = ingest(&s, object("short.txt", "Leave is twenty days a year.", 1))
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            IngestError::Embed(EmbedError::Rejected { status: 400, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Arrearage"), "{err}");
    assert_eq!(s.fake.recorded().len(), 1, "a 400 was retried");
    let job: (String, String) = sqlx::query_as("SELECT status, last_error FROM ingest_job")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(job.0, "failed");
    assert!(job.1.contains("Arrearage"), "{}", job.1);
}

#[tokio::test]
async fn server_errors_past_the_retry_budget_leave_the_job_dead_and_the_document_untouched() {
    let s = setup().await;
    ingest(&s, object("handbook.md", handbook(None), 1))
        .await
        .unwrap();
    let before = visible_chunks(&s, "oss://bucket/handbook.md").await;
    for _ in 0..4 {
        s.fake.push_fault(Fault::Status {
            status: 500,
            code: "InternalError",
            retry_after: Some(0),
        });
    }

    let err = ingest(&s, object("handbook.md", handbook(Some(3)), 2))
        .await
        .unwrap_err();

    assert!(
        matches!(err, IngestError::Embed(EmbedError::Unavailable(_))),
        "{err}"
    );
    assert_eq!(visible_chunks(&s, "oss://bucket/handbook.md").await, before);
    let document =
        documents::find_by_source(&s.db.pool, s.collection.id, "oss://bucket/handbook.md")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        (document.status, document.version),
        (DocumentStatus::Ready, 1)
    );
    // An outage is not the document's fault: nothing is recorded on it. The job is `dead`
    // (retry it once the provider is back), with the reason.
    assert_eq!(document.error, None, "{document:?}");
    let job: (String, Option<String>) = sqlx::query_as(
        "SELECT status, last_error FROM ingest_job ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(job.0, "dead");
    assert!(
        job.1.as_deref().is_some_and(|e| e.contains("kept failing")),
        "{job:?}"
    );
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_retried() {
    let s = setup_with(|e| e.timeout_secs = 1, |_| {}).await;
    s.fake
        .push_fault(Fault::Delay(std::time::Duration::from_secs(3)));

    let done = ingest(&s, object("short.txt", "Leave is twenty days a year.", 1))
        .await
        .unwrap();

    assert_eq!(done.outcome, Outcome::Written { version: 1 });
    assert_eq!(s.embedder.usage().snapshot().retries, 1);
}

#[tokio::test]
async fn malformed_json_and_wrong_sizes_fail_the_job_with_a_reason_and_store_nothing() {
    let s = setup().await;
    s.fake.push_fault(Fault::MalformedJson);
    s.fake.push_fault(Fault::WrongDimensions(DIMS - 1));

    let malformed = ingest(&s, object("a.txt", "Leave is twenty days a year.", 1))
        .await
        .unwrap_err();
    let wrong = ingest(&s, object("b.txt", "Expenses are paid monthly.", 1))
        .await
        .unwrap_err();

    assert!(
        matches!(malformed, IngestError::Embed(EmbedError::Malformed(_))),
        "{malformed}"
    );
    assert!(
        matches!(wrong, IngestError::Embed(EmbedError::WrongShape { .. })),
        "{wrong}"
    );
    assert!(
        wrong.to_string().contains("ADBRAG_EMBEDDING_DIMENSIONS"),
        "{wrong}"
    );
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(chunks, 0);
}

#[tokio::test]
async fn bad_files_fail_with_reasons_and_good_ones_in_the_same_run_are_unaffected() {
    let s = setup_with(|_| {}, |i| i.max_object_bytes = 10_000).await;
    let (gbk, _, _) = encoding_rs::GBK.encode("员工每年享有二十天带薪年假。报销需在三十天内提交。");
    let cases: Vec<(SourceObject, &str)> = vec![
        (object("empty.txt", Vec::new(), 1), "empty"),
        (
            object(
                "binary.txt",
                vec![0u8, 159, 146, 150, 0, 1, 2, 3, 255, 0],
                1,
            ),
            "unsupported",
        ),
        (
            object(
                "broken.pdf",
                b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog".to_vec(),
                1,
            ),
            "corrupt",
        ),
        (
            object("huge.txt", "word ".repeat(5_000), 1),
            "more than the limit",
        ),
        (
            object("photo.gif", b"GIF89a\x01\0\x01\0\0\0\0".to_vec(), 1),
            "unsupported",
        ),
        (
            object("photo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), 1),
            "the png image could not be read",
        ),
    ];
    let good = object("gbk.txt", gbk.into_owned(), 1);

    let (bad_results, good_result) = tokio::join!(
        futures::future::join_all(cases.iter().map(|(object, _)| ingest(&s, object.clone()))),
        ingest(&s, good),
    );

    for ((object, expected), result) in cases.iter().zip(bad_results) {
        let err = result.expect_err(&object.uri).to_string();
        assert!(
            err.to_lowercase().contains(expected),
            "{}: {err}",
            object.uri
        );
        assert_eq!(visible_chunks(&s, &object.uri).await, 0, "{}", object.uri);
        let document = documents::find_by_source(&s.db.pool, s.collection.id, &object.uri)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(document.status, DocumentStatus::Failed, "{}", object.uri);
    }
    let good = good_result.unwrap();
    assert_eq!(good.outcome, Outcome::Written { version: 1 });
    let text: String = sqlx::query_scalar("SELECT string_agg(text, ' ') FROM chunk")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert!(text.contains("带薪年假"), "{text}");
    let failed_jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ingest_job WHERE status = 'failed'")
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    assert_eq!(failed_jobs, cases.len() as i64);
}

#[tokio::test]
async fn a_collection_of_another_model_is_refused_before_any_work() {
    let s = setup().await;
    let mut conn = s.db.pool.acquire().await.unwrap();
    let mut other = new_collection("acme", "other", DIMS as i64);
    other.embedding_model = "text-embedding-v3".into();
    let other = collections::create(&mut conn, &other).await.unwrap();

    let err = s
        .pipeline
        .ingest(&other, object("a.txt", "text", 1), "test")
        .await
        .unwrap_err();

    assert!(matches!(err, IngestError::EmbedderMismatch { .. }), "{err}");
    assert!(s.fake.recorded().is_empty());
}

#[tokio::test]
async fn files_over_the_limit_are_refused_before_they_are_read() {
    let dir = tempdir();
    std::fs::write(dir.join("big.txt"), "x".repeat(2048)).unwrap();

    let err = source::read_file(&dir.join("big.txt"), 1024)
        .await
        .unwrap_err();

    assert!(
        err.to_string()
            .contains("2048 bytes, more than the limit of 1024"),
        "{err}"
    );
    assert!(err.to_string().contains("ADBRAG_MAX_OBJECT_BYTES"), "{err}");
}

#[test]
fn directories_are_walked_in_order_skipping_hidden_entries() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    for file in ["b.txt", "a.md", "sub/c.html", ".hidden.txt", ".git/config"] {
        std::fs::write(dir.join(file), "x").unwrap();
    }

    let found = source::discover(std::slice::from_ref(&dir)).unwrap();

    let names: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a.md", "b.txt", "sub/c.html"]);
}

/// A fresh directory under the system temp dir (removed by the OS; tests never share one).
pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("adbrag-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The embedded default's settings and embedder: no API, the local MiniLM (scripts/models.sh).
pub async fn local_embedder() -> (EmbeddingSettings, Arc<dyn Embedder>) {
    let models_dir = std::env::var("ADBRAG_MODELS_DIR").unwrap_or_else(|_| "models".into());
    let settings = EmbeddingSettings {
        base_url: None,
        api_key: None,
        models_dir: models_dir.clone().into(),
        ..embedding_settings(&FakeOpenAi::start().await)
    };
    let embedder = llm::embedder(&settings.config().unwrap()).unwrap_or_else(|err| {
        panic!("{err} (run scripts/models.sh; ADBRAG_MODELS_DIR={models_dir})")
    });
    (settings, embedder)
}

/// The embedded default: no API at all, vectors from the local MiniLM (fetched by scripts/models.sh).
#[tokio::test]
async fn the_local_embedder_ingests_offline_and_finds_the_closest_passage() {
    let db = TestDb::migrated().await;
    let (settings, embedder) = local_embedder().await;
    let ingest = ingest_settings();
    let counter = adbrag::ingest::token_counter(&ingest.config(&settings).unwrap()).unwrap();
    let pipeline = Pipeline::new(
        db.pool.clone(),
        embedder.clone(),
        counter,
        ingest.limits(),
        ChunkOptions {
            max_tokens: 512,
            overlap_tokens: 64,
        },
    );
    let mut conn = db.pool.acquire().await.unwrap();
    let mut new = new_collection("acme", "local", 384);
    new.embedding_model = "all-MiniLM-L6-v2".into();
    let collection = collections::create(&mut conn, &new).await.unwrap();

    let done = pipeline
        .ingest(
            &collection,
            object("handbook.md", handbook(None), 1),
            "test",
        )
        .await
        .unwrap();

    assert_eq!(done.outcome, Outcome::Written { version: 1 });
    assert!(embedder.is_local());
    let query = embedder
        .embed(&["How do I get reimbursed for expenses?".to_owned()])
        .await
        .unwrap();
    let nearest: String = sqlx::query_scalar(
        "SELECT c.text FROM chunk_vector_384 v JOIN chunk c ON c.id = v.chunk_id ORDER BY v.embedding <=> $1::real[]::vector(384) LIMIT 1",
    )
    .bind(&query[0])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(nearest.contains("expense claims"), "{nearest}");
    // Chunks fit what the model reads, title and headings included.
    let longest: i32 = sqlx::query_scalar("SELECT max(token_count) FROM chunk")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(longest as usize <= 256 - 64, "{longest}");
}

#[tokio::test]
async fn a_truncated_pdf_keeps_its_whole_pages_and_the_document_says_it_was_truncated() {
    let s = setup().await;
    // ReportLab's file ends with page 2's content stream: cut inside it, page 1 is whole.
    let pdf = include_bytes!("../fixtures/parse/reportlab-cjk-subset.pdf");
    let last_object = pdf.windows(9).position(|w| w == b"\n13 0 obj").unwrap();
    let cut = pdf[..last_object + 40].to_vec();

    let done = ingest(&s, object("report.pdf", cut.clone(), 1))
        .await
        .unwrap();

    assert_eq!(done.outcome, Outcome::Written { version: 1 });
    let id = done.document_id.unwrap();
    let document = documents::get(&s.db.pool, s.collection.id, id)
        .await
        .unwrap();
    let warnings = document.metadata["parse_warnings"].clone();
    assert_eq!(
        warnings,
        serde_json::json!([
            "the PDF is truncated (a broken download?): kept the 1 whole page of at least 2; \
             upload the complete file to index the rest"
        ])
    );
    let chunks = documents::chunks(&s.db.pool, id).await.unwrap();
    let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
    assert!(text.contains("第一章"), "{text}");
    assert!(!text.contains("第二章"), "page 2 was cut, yet: {text}");
    assert!(chunks.iter().all(|c| c.page_to == Some(1)), "{chunks:?}");

    // The same bytes again (a backfill run twice) are not parsed again: the note stays.
    let again = ingest(&s, object("report.pdf", cut, 2)).await.unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    let document = documents::get(&s.db.pool, s.collection.id, id)
        .await
        .unwrap();
    assert_eq!(document.metadata["parse_warnings"], warnings);

    // The complete file is a new version without the note.
    let whole = ingest(&s, object("report.pdf", pdf.to_vec(), 3))
        .await
        .unwrap();
    assert_eq!(whole.outcome, Outcome::Written { version: 2 });
    let document = documents::get(&s.db.pool, s.collection.id, id)
        .await
        .unwrap();
    assert_eq!(document.metadata.get("parse_warnings"), None);
}
