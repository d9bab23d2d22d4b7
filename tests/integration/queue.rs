//! The event path against real servers: the FC handler on a real port, the fake OSS (signed
//! requests checked), the fake OpenAI-compatible embedder, a database of its own. Ordering,
//! duplicates, leases, outages and bad input, each a test.

use std::{sync::Arc, time::Duration};

use adbrag::{
    api::fc::{self, FcState},
    cli::worker::run_workers,
    ingest::{
        chunk::ChunkOptions,
        event::Routes,
        object::{ObjectStores, StoreSettings},
        pipeline::Pipeline,
        queue::{Offered, Processed, Queue, QueueSettings},
        tokens::EstimatingCounter,
    },
    llm,
    store::jobs::{self, JobStatus},
};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    harness::{
        TestDb,
        openai::{FakeOpenAi, Fault as AiFault},
        oss::{FakeOss, Fault as OssFault, Keys},
    },
    ingest::{embedding_settings, ingest_settings},
};

const BUCKET: &str = "corp-docs";

pub struct Setup {
    pub db: TestDb,
    pub ai: FakeOpenAi,
    pub oss: FakeOss,
    pub queue: Arc<Queue>,
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn queue_settings() -> QueueSettings {
    QueueSettings {
        lease: Duration::from_secs(30),
        max_attempts: 5,
        retry_base: Duration::from_secs(60),
        retry_cap: Duration::from_secs(60),
        default_region: Some("cn-hangzhou".into()),
    }
}

pub async fn setup_with(keys: Keys, with_default_keys: bool, pool_url: Option<&str>) -> Setup {
    crate::harness::init_logging();
    let db = TestDb::migrated().await;
    let ai = FakeOpenAi::start().await;
    let oss = FakeOss::start(keys.clone()).await;
    let pool = match pool_url {
        Some(url) => sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy(url)
            .unwrap(),
        None => db.pool.clone(),
    };
    let settings = ingest_settings();
    let pipeline = Pipeline::new(
        pool,
        llm::embedder(&embedding_settings(&ai).config().unwrap()).unwrap(),
        Arc::new(EstimatingCounter),
        settings.limits(),
        ChunkOptions {
            max_tokens: settings.chunk_tokens,
            overlap_tokens: settings.chunk_overlap,
        },
    )
    .with_lease(Duration::from_secs(30));
    let stores = ObjectStores::new(StoreSettings {
        oss_endpoint: Some(oss.endpoint()),
        timeout: Duration::from_secs(5),
        ..StoreSettings::default()
    })
    .with_http_client(oss.client(&[BUCKET]));
    let routes: Routes = format!("{BUCKET}=docs@acme,{BUCKET}/hr/=hr@acme")
        .parse()
        .unwrap();
    let mut queue = Queue::new(Arc::new(pipeline), stores, routes, queue_settings());
    if with_default_keys {
        queue = queue.with_credentials(keys.credentials());
    }
    let queue = Arc::new(queue);
    let state = FcState {
        queue: queue.clone(),
        max_event_bytes: 128 * 1024,
        duplicate_wait: Duration::from_secs(30),
        dialect: None,
        schema_ready: Default::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = fc::router(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Setup {
        db,
        ai,
        oss,
        queue,
        url,
        server,
    }
}

pub async fn setup() -> Setup {
    setup_with(Keys::long_lived(), true, None).await
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
}

/// One event in the documented shape.
pub fn event(name: &str, key: &str, etag: Option<&str>, time: DateTime<Utc>) -> Value {
    let mut object = json!({"key": key, "size": 100, "deltaSize": 100});
    if let Some(etag) = etag {
        object["eTag"] = json!(etag);
    }
    json!({
        "eventName": name,
        "eventSource": "acs:oss",
        "eventTime": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": format!("acs:oss:cn-hangzhou:1234567890:{BUCKET}"), "name": BUCKET, "ownerIdentity": "1234567890"},
            "object": object,
            "ossSchemaVersion": "1.0",
            "ruleId": "adbrag-trigger"
        },
        "region": "cn-hangzhou",
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"requestId": "5F3B0D1E8C7A"},
        "userIdentity": {"principalId": "1234567890"}
    })
}

pub fn payload(events: &[Value]) -> String {
    json!({ "events": events }).to_string()
}

const HANDBOOK: &str = "# Travel\n\nEmployees book flights through the travel desk at least two weeks ahead. \
    Economy class is the rule for flights under six hours.";

pub async fn invoke(s: &Setup, body: impl Into<reqwest::Body>) -> (u16, Option<String>, Value) {
    invoke_with(s, body, &[]).await
}

async fn invoke_with(
    s: &Setup,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/invoke", s.url))
        .header("content-type", "application/octet-stream")
        .header("x-fc-request-id", "req-test-1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let fc_status = response
        .headers()
        .get("x-fc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    (status, fc_status, body)
}

fn reports(body: &Value) -> Vec<Value> {
    body["summary"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn statuses(body: &Value) -> Vec<String> {
    reports(body)
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["status"].as_str().unwrap_or("?"),
                r["outcome"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// (source_uri, version, chunk rows) of every document.
async fn documents(s: &Setup) -> Vec<(String, i32, i64)> {
    sqlx::query_as(
        "SELECT d.source_uri, d.version, (SELECT count(*) FROM chunk c WHERE c.document_id = d.id)
         FROM document d ORDER BY d.source_uri",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap()
}

async fn chunk_text(s: &Setup, uri: &str) -> String {
    let texts: Vec<String> = sqlx::query_scalar(
        "SELECT c.text FROM chunk c JOIN document d ON d.id = c.document_id
         WHERE d.source_uri = $1 ORDER BY c.ordinal",
    )
    .bind(uri)
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    texts.join("\n")
}

async fn job_count(s: &Setup) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ingest_job")
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upload_event_in_the_documented_shape_makes_the_document_searchable() {
    let s = setup().await;
    let etag = s
        .oss
        .put(BUCKET, "policies/travel.md", HANDBOOK.as_bytes(), &[]);

    let (status, fc_status, body) = invoke(
        &s,
        payload(&[event(
            "ObjectCreated:PutObject",
            "policies/travel.md",
            Some(&etag),
            at(1),
        )]),
    )
    .await;

    assert_eq!((status, fc_status), (200, None), "{body}");
    assert_eq!(statuses(&body), ["done/written"], "{body}");
    let docs = documents(&s).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].0, format!("oss://{BUCKET}/policies/travel.md"));
    assert!(docs[0].2 >= 1);
    assert!(chunk_text(&s, &docs[0].0).await.contains("travel desk"));
    // The request was signed and fetched at the event's version.
    let get = s
        .oss
        .recorded()
        .into_iter()
        .find(|r| r.method == "GET")
        .expect("a GET");
    assert!(get.headers["authorization"].starts_with("OSS LTAI-test-key:"));
    assert_eq!(
        get.headers
            .get("if-match")
            .map(|v| v.trim_matches('"').to_owned()),
        Some(etag)
    );
}

#[tokio::test]
async fn a_percent_encoded_chinese_key_with_spaces_and_plus_is_found_under_its_real_name() {
    let s = setup().await;
    let key = "文档/年度 报告+附录.md";
    let etag = s.oss.put(BUCKET, key, HANDBOOK.as_bytes(), &[]);
    let encoded =
        "%E6%96%87%E6%A1%A3/%E5%B9%B4%E5%BA%A6%20%E6%8A%A5%E5%91%8A+%E9%99%84%E5%BD%95.md";

    let (status, _, body) = invoke(
        &s,
        payload(&[event(
            "ObjectCreated:PutObject",
            encoded,
            Some(&etag),
            at(1),
        )]),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(statuses(&body), ["done/written"], "{body}");
    assert_eq!(documents(&s).await[0].0, format!("oss://{BUCKET}/{key}"));

    // The raw key as the event gave it is accepted too (a key that is not encoded).
    let etag2 = s.oss.put(BUCKET, "raw key+1.md", HANDBOOK.as_bytes(), &[]);
    let (_, _, body) = invoke(
        &s,
        payload(&[event(
            "ObjectCreated:PutObject",
            "raw key+1.md",
            Some(&etag2),
            at(2),
        )]),
    )
    .await;
    assert_eq!(statuses(&body), ["done/written"], "{body}");
}

#[tokio::test]
async fn three_events_in_one_payload_create_create_remove_each_reach_their_outcome() {
    let s = setup().await;
    let a = s
        .oss
        .put(BUCKET, "a.md", b"Alpha document about annual leave.", &[]);
    let b = s
        .oss
        .put(BUCKET, "hr/b.md", b"Beta document about sick leave.", &[]);

    let (status, _, body) = invoke(
        &s,
        payload(&[
            event("ObjectCreated:PutObject", "a.md", Some(&a), at(1)),
            event(
                "ObjectCreated:CompleteMultipartUpload",
                "hr/b.md",
                Some(&b),
                at(2),
            ),
            event("ObjectRemoved:DeleteObject", "a.md", None, at(3)),
        ]),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        statuses(&body),
        ["done/written", "done/written", "done/deleted"],
        "{body}"
    );
    // hr/ goes to its own collection by the longer route.
    let collections: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT c.tenant, c.name, count(d.id) FROM collection c LEFT JOIN document d ON d.collection_id = c.id
         GROUP BY c.tenant, c.name ORDER BY c.name",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(
        collections,
        [
            ("acme".into(), "docs".into(), 0),
            ("acme".into(), "hr".into(), 1)
        ]
    );
}

#[tokio::test]
async fn delete_objects_removes_the_document_and_everything_derived_from_it() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "gone.md", HANDBOOK.as_bytes(), &[]);
    invoke(
        &s,
        payload(&[event(
            "ObjectCreated:PostObject",
            "gone.md",
            Some(&etag),
            at(1),
        )]),
    )
    .await;
    s.oss.remove(BUCKET, "gone.md");

    let (status, _, body) = invoke(
        &s,
        payload(&[event("ObjectRemoved:DeleteObjects", "gone.md", None, at(2))]),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(statuses(&body), ["done/deleted"], "{body}");
    for table in ["document", "chunk", "keyword_posting"] {
        let left: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&s.db.pool)
                .await
                .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    let terms: i64 = sqlx::query_scalar("SELECT count(*) FROM keyword_term")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(terms, 0, "keyword statistics forget the document too");
}

#[tokio::test]
async fn bodies_that_can_never_be_processed_are_final_200s_with_the_reason() {
    let s = setup().await;
    let cases: Vec<(&str, String)> = vec![
        ("not json", "{\"events\": [".into()),
        ("no events", "{\"records\": []}".into()),
        ("too large", "x".repeat(128 * 1024 + 1)),
    ];
    for (name, body) in cases {
        let (status, fc_status, answer) = invoke(&s, body).await;
        assert_eq!((status, fc_status), (200, None), "{name}: {answer}");
        let reason = answer["summary"]["reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{name}: {answer}");
    }
    let (status, _, answer) = invoke(&s, payload(&[])).await;
    assert_eq!(status, 200);
    assert_eq!(reports(&answer).len(), 0);

    let (status, _, answer) = invoke(
        &s,
        json!({"events": [
            event("ObjectCreated:InitiateMultipartUpload", "a.md", Some("E1"), at(1)),
            {"eventName": "ObjectCreated:PutObject", "eventTime": "yesterday"},
            event("ObjectCreated:PutObject", "../etc/passwd", Some("E2"), at(1)),
            event("ObjectCreated:PutObject", "folder/", Some("E3"), at(1)),
        ]})
        .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&answer),
        ["ignored/-", "ignored/-", "ignored/-", "ignored/-"],
        "{answer}"
    );
    let mut unmapped = event("ObjectCreated:PutObject", "a.md", Some("E1"), at(1));
    unmapped["oss"]["bucket"]["name"] = json!("someone-elses-bucket");
    let (status, _, answer) = invoke(&s, payload(&[unmapped])).await;
    assert_eq!(status, 200);
    assert!(
        reports(&answer)[0]["reason"]
            .as_str()
            .unwrap()
            .contains("ADBRAG_OSS_ROUTES"),
        "{answer}"
    );
    assert_eq!(job_count(&s).await, 0, "nothing was queued");
    assert!(s.oss.recorded().is_empty(), "nothing was fetched");
}

#[tokio::test]
async fn the_same_payload_delivered_five_times_at_once_is_done_once() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "handbook.md", HANDBOOK.as_bytes(), &[]);
    let body = payload(&[event(
        "ObjectCreated:PutObject",
        "handbook.md",
        Some(&etag),
        at(1),
    )]);

    let answers = futures::future::join_all((0..5).map(|_| invoke(&s, body.clone()))).await;

    for (status, _, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
    }
    let mut seen: Vec<String> = answers.iter().flat_map(|(_, _, a)| statuses(a)).collect();
    seen.sort();
    assert_eq!(
        seen.iter().filter(|s| *s == "done/written").count(),
        1,
        "{seen:?}"
    );
    assert_eq!(job_count(&s).await, 1);
    let docs = documents(&s).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].1, 1, "one version");
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(chunks, docs[0].2, "one set of chunks");
}

#[tokio::test]
async fn an_embedding_outage_asks_fc_to_retry_and_the_retry_finishes_the_job() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "handbook.md", HANDBOOK.as_bytes(), &[]);
    // Exactly the embedder's attempts (4): the first invocation spends them all.
    for _ in 0..4 {
        s.ai.push_fault(AiFault::Status {
            status: 503,
            code: "ServiceUnavailable",
            retry_after: Some(0),
        });
    }
    let body = payload(&[event(
        "ObjectCreated:PutObject",
        "handbook.md",
        Some(&etag),
        at(1),
    )]);

    let (status, fc_status, answer) = invoke(&s, body.clone()).await;

    assert_eq!(
        (status, fc_status.as_deref()),
        (404, Some("404")),
        "{answer}"
    );
    assert_eq!(statuses(&answer), ["retry/-"], "{answer}");
    let job = jobs::list(&s.db.pool, None, 10).await.unwrap().remove(0);
    assert_eq!(job.status, JobStatus::Queued, "queued again with a delay");
    // Not the document's fault: no failed document row.
    assert!(documents(&s).await.is_empty());

    // FC redelivers the same payload once the provider is back.
    let (status, _, answer) = invoke(&s, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(&answer), ["done/written"], "{answer}");
    assert_eq!(job_count(&s).await, 1);
}

#[tokio::test]
async fn an_unreachable_database_asks_fc_to_retry() {
    // Nothing listens on port 1.
    let s = setup_with(
        Keys::long_lived(),
        true,
        Some("postgres://adbrag:adbrag@127.0.0.1:1/adbrag"),
    )
    .await;
    let (status, fc_status, answer) = invoke(
        &s,
        payload(&[event("ObjectCreated:PutObject", "a.md", Some("E1"), at(1))]),
    )
    .await;
    assert_eq!(
        (status, fc_status.as_deref()),
        (404, Some("404")),
        "{answer}"
    );
}

#[tokio::test]
async fn fc_per_request_sts_credentials_sign_the_fetch() {
    let keys = Keys::sts();
    let s = setup_with(keys.clone(), false, None).await;
    let etag = s.oss.put(BUCKET, "handbook.md", HANDBOOK.as_bytes(), &[]);
    let body = payload(&[event(
        "ObjectCreated:PutObject",
        "handbook.md",
        Some(&etag),
        at(1),
    )]);

    let (status, fc_status, answer) = invoke_with(
        &s,
        body,
        &[
            ("x-fc-access-key-id", &keys.access_key_id),
            ("x-fc-access-key-secret", &keys.access_key_secret),
            (
                "x-fc-security-token",
                keys.security_token.as_deref().unwrap(),
            ),
        ],
    )
    .await;

    assert_eq!((status, fc_status), (200, None), "{answer}");
    assert_eq!(statuses(&answer), ["done/written"], "{answer}");
    let get = s
        .oss
        .recorded()
        .into_iter()
        .find(|r| r.method == "GET")
        .unwrap();
    assert!(get.headers["authorization"].starts_with("OSS STS.test-key:"));
    assert!(get.headers.contains_key("x-oss-security-token"));
}

#[tokio::test]
async fn an_object_deleted_before_its_fetch_ends_the_job_as_vanished_without_retries() {
    let s = setup().await;
    let (status, _, answer) = invoke(
        &s,
        payload(&[event(
            "ObjectCreated:PutObject",
            "never-there.md",
            Some("ABC"),
            at(1),
        )]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(&answer), ["done/vanished"], "{answer}");
    let job = jobs::list(&s.db.pool, None, 1).await.unwrap().remove(0);
    assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
}

#[tokio::test]
async fn an_object_overwritten_before_its_fetch_is_superseded_not_stored_under_the_old_event() {
    let s = setup().await;
    let old = s
        .oss
        .put(BUCKET, "a.md", b"The old text about expense claims.", &[]);
    s.oss
        .put(BUCKET, "a.md", b"The new text about expense claims.", &[]);

    let (_, _, answer) = invoke(
        &s,
        payload(&[event("ObjectCreated:PutObject", "a.md", Some(&old), at(1))]),
    )
    .await;

    assert_eq!(statuses(&answer), ["done/superseded"], "{answer}");
    assert!(documents(&s).await.is_empty());
}

#[tokio::test]
async fn a_corrupt_file_is_the_documents_fault_recorded_once_and_not_retried() {
    let s = setup().await;
    let etag = s
        .oss
        .put(BUCKET, "broken.pdf", b"%PDF-1.7\nthis is not a pdf", &[]);
    let (status, fc_status, answer) = invoke(
        &s,
        payload(&[event(
            "ObjectCreated:PutObject",
            "broken.pdf",
            Some(&etag),
            at(1),
        )]),
    )
    .await;
    assert_eq!((status, fc_status), (200, None), "{answer}");
    assert_eq!(statuses(&answer), ["failed/-"], "{answer}");
    let status: String = sqlx::query_scalar("SELECT status FROM document")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn oss_errors_that_are_not_the_documents_fault_are_retried() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "a.md", HANDBOOK.as_bytes(), &[]);
    let body = payload(&[event("ObjectCreated:PutObject", "a.md", Some(&etag), at(1))]);
    for fault in [OssFault::Status(503), OssFault::Status(403)] {
        s.oss.push_fault(fault.clone());
        let (status, fc_status, answer) = invoke(&s, body.clone()).await;
        assert_eq!(
            (status, fc_status.as_deref()),
            (404, Some("404")),
            "{fault:?}: {answer}"
        );
    }
    let (status, _, answer) = invoke(&s, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(statuses(&answer), ["done/written"], "{answer}");
}

/// One event, decoded as the FC handler decodes it.
fn decoded(value: &Value) -> adbrag::ingest::event::Event {
    adbrag::ingest::event::decode(payload(std::slice::from_ref(value)).as_bytes())
        .unwrap()
        .remove(0)
        .unwrap()
}

/// Offers the events in this order, then lets a worker process everything.
async fn deliver_in_order(s: &Setup, events: &[Value]) {
    for value in events {
        let decoded = decoded(value);
        assert!(matches!(
            s.queue.offer(&decoded, "test").await.unwrap(),
            Offered::Job(_)
        ));
        while s.queue.work_one("w").await.unwrap().is_some() {}
    }
}

#[tokio::test]
async fn create_delete_create_in_every_order_ends_as_the_newest_event_says() {
    let permutations = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in permutations {
        let s = setup().await;
        let first = s.oss.put(
            BUCKET,
            "k.md",
            b"First version: flights are booked by email.",
            &[],
        );
        let second = s.oss.put(
            BUCKET,
            "k.md",
            b"Second version: flights are booked in the portal.",
            &[],
        );
        let events = [
            event("ObjectCreated:PutObject", "k.md", Some(&first), at(1)),
            event("ObjectRemoved:DeleteObject", "k.md", None, at(2)),
            event("ObjectCreated:PutObject", "k.md", Some(&second), at(3)),
        ];
        let ordered: Vec<Value> = order.iter().map(|&i| events[i].clone()).collect();
        deliver_in_order(&s, &ordered).await;
        let uri = format!("oss://{BUCKET}/k.md");
        assert!(
            chunk_text(&s, &uri).await.contains("portal"),
            "order {order:?}: {:?}",
            documents(&s).await
        );
        assert!(
            !chunk_text(&s, &uri).await.contains("email"),
            "order {order:?}"
        );

        // And when the newest event is the delete, nothing is left, whatever the order.
        let s = setup().await;
        let first = s.oss.put(
            BUCKET,
            "k.md",
            b"First version: flights are booked by email.",
            &[],
        );
        let second = s.oss.put(
            BUCKET,
            "k.md",
            b"Second version: flights are booked in the portal.",
            &[],
        );
        s.oss.remove(BUCKET, "k.md");
        let events = [
            event("ObjectCreated:PutObject", "k.md", Some(&first), at(1)),
            event("ObjectCreated:PutObject", "k.md", Some(&second), at(2)),
            event("ObjectRemoved:DeleteObject", "k.md", None, at(3)),
        ];
        let ordered: Vec<Value> = order.iter().map(|&i| events[i].clone()).collect();
        deliver_in_order(&s, &ordered).await;
        assert!(documents(&s).await.is_empty(), "order {order:?}");
    }
}

#[tokio::test]
async fn a_replayed_old_upload_does_not_resurrect_a_deleted_document() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "k.md", HANDBOOK.as_bytes(), &[]);
    let create = event("ObjectCreated:PutObject", "k.md", Some(&etag), at(1));
    deliver_in_order(
        &s,
        &[
            create.clone(),
            event("ObjectRemoved:DeleteObject", "k.md", None, at(2)),
        ],
    )
    .await;
    assert!(documents(&s).await.is_empty());

    // The object is still there (say, the delete event came from a lifecycle rule on a replica)
    // and the old create is replayed: its job already exists and is done.
    let (_, _, answer) = invoke(&s, payload(&[create])).await;
    assert_eq!(statuses(&answer), ["duplicate/written"], "{answer}");
    assert!(documents(&s).await.is_empty());

    // A create with a new eventTime but older than the delete is stale.
    let (_, _, answer) = invoke(
        &s,
        payload(&[event(
            "ObjectCreated:CopyObject",
            "k.md",
            Some(&etag),
            at(1) + chrono::Duration::milliseconds(500),
        )]),
    )
    .await;
    assert_eq!(statuses(&answer), ["done/stale"], "{answer}");
    assert!(documents(&s).await.is_empty());
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_its_lease_and_another_finishes_without_duplicates() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "handbook.md", HANDBOOK.as_bytes(), &[]);
    let decoded = decoded(&event(
        "ObjectCreated:PutObject",
        "handbook.md",
        Some(&etag),
        at(1),
    ));
    s.queue.offer(&decoded, "test").await.unwrap();
    // The embedder hangs, so the first worker is mid-job when it is killed.
    s.ai.push_fault(AiFault::Delay(Duration::from_secs(30)));
    let queue = s.queue.clone();
    let first = tokio::spawn(async move { queue.work_one("doomed").await });
    let running = loop {
        let job = jobs::list(&s.db.pool, None, 1).await.unwrap().remove(0);
        if job.status == JobStatus::Running {
            break job;
        }
        tokio::task::yield_now().await;
    };
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // Its connections are gone with it; its lease runs out (made to, rather than waited for).
    sqlx::query("UPDATE ingest_job SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(running.id)
        .execute(&s.db.pool)
        .await
        .unwrap();

    let done = s
        .queue
        .work_one("survivor")
        .await
        .unwrap()
        .expect("the job is claimable");

    let Processed::Final(job) = done else {
        panic!("finished: {done:?}")
    };
    assert_eq!(
        (job.status, job.attempts, job.worker.as_deref()),
        (JobStatus::Succeeded, 2, Some("survivor"))
    );
    let docs = documents(&s).await;
    assert_eq!(docs.len(), 1);
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(chunks, docs[0].2, "no orphan or duplicate chunks");
    // The dead worker cannot record anything for the attempt it lost.
    assert!(matches!(
        jobs::succeed(&s.db.pool, &running, None, "written").await,
        Err(adbrag::store::Error::LeaseLost(_))
    ));
}

#[tokio::test]
async fn a_database_restart_during_a_batch_is_retried_and_nothing_is_half_written() {
    let s = setup().await;
    for i in 0..12 {
        let key = format!("batch/{i}.md");
        let etag = s.oss.put(
            BUCKET,
            &key,
            format!("Document {i} about the canteen menu on day {i}.").as_bytes(),
            &[],
        );
        let decoded = decoded(&event("ObjectCreated:PutObject", &key, Some(&etag), at(i)));
        s.queue.offer(&decoded, "test").await.unwrap();
    }
    // Workers run into a restart: every connection to the test database is cut — what a restart
    // looks like from here — while both workers are inside a transaction. To catch them there, a
    // holder takes the documents' write locks first; the cut comes once a worker waits on one.
    let collection_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM collection WHERE name = 'docs'")
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    let observer = admin_pool(&s).await;
    let mut holder = observer.begin().await.unwrap();
    for i in 0..12 {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))")
            .bind(collection_id)
            .bind(format!("oss://{BUCKET}/batch/{i}.md"))
            .execute(&mut *holder)
            .await
            .unwrap();
    }
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let workers = tokio::spawn(run_workers(
        s.queue.clone(),
        2,
        false,
        Duration::from_millis(20),
        stop,
    ));
    crate::harness::db::wait_for_advisory_waiters(&observer, 2).await;
    crate::harness::db::cut_connections(&s.db.name, holder_pid).await;
    holder.rollback().await.unwrap();
    stop_tx.send(true).unwrap();
    let totals = workers.await.unwrap();
    // Time passes: the cut attempts' leases and retry delays run out (made to, not waited for).
    sqlx::query(
        "UPDATE ingest_job SET run_after = now(), lease_until = now() - interval '1 second'
         WHERE status IN ('queued', 'running')",
    )
    .execute(&admin_pool(&s).await)
    .await
    .unwrap();
    let (_, stop) = watch::channel(false);
    let drained = run_workers(s.queue.clone(), 2, true, Duration::from_millis(20), stop).await;
    assert!(
        totals.retried + totals.errors > 0,
        "the cuts hit jobs in flight: {totals:?} then {drained:?}"
    );

    let jobs = jobs::list(&s.db.pool, None, 100).await.unwrap();
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Succeeded),
        "{:?}",
        jobs.iter()
            .map(|j| (j.status, j.last_error.clone()))
            .collect::<Vec<_>>()
    );
    let docs = documents(&s).await;
    assert_eq!(docs.len(), 12);
    assert!(
        docs.iter()
            .all(|(_, version, chunks)| *version == 1 && *chunks >= 1),
        "{docs:?}"
    );
    let (chunks, chunk_count): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM chunk), (SELECT sum(chunk_count) FROM document)",
    )
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(chunks, chunk_count, "every document whole");
}

/// A fresh pool on the test database (the queue's own connections may have just been cut).
async fn admin_pool(s: &Setup) -> sqlx::PgPool {
    sqlx::PgPool::connect(&s.db.url).await.unwrap()
}

#[tokio::test]
async fn a_job_out_of_attempts_is_dead_and_an_operator_can_retry_or_cancel_it() {
    let s = setup().await;
    let etag = s.oss.put(BUCKET, "a.md", HANDBOOK.as_bytes(), &[]);
    let decoded = decoded(&event(
        "ObjectCreated:PutObject",
        "a.md",
        Some(&etag),
        at(1),
    ));
    let Offered::Job(enqueued) = s.queue.offer(&decoded, "test").await.unwrap() else {
        panic!("queued")
    };
    let id = enqueued.job().id;
    let attempts = queue_settings().max_attempts;
    for attempt in 1..=attempts {
        s.oss.push_fault(OssFault::Status(500));
        let claim = jobs::claim_id(&s.db.pool, id, "w", Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        let processed = s.queue.process(&claim, None).await.unwrap();
        assert_eq!(processed.job().attempts, attempt);
        if attempt < attempts {
            assert!(matches!(processed, Processed::Retry(_)), "{processed:?}");
        } else {
            assert_eq!(processed.job().status, JobStatus::Dead, "{processed:?}");
        }
    }
    let mut conn = s.db.pool.acquire().await.unwrap();
    let retried = jobs::retry_dead(&mut *conn).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        (retried[0].status, retried[0].attempts),
        (JobStatus::Queued, 0)
    );
    let cancelled = jobs::cancel(&mut conn, id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(
        s.queue.work_one("w").await.unwrap().is_none(),
        "a cancelled job is not claimed"
    );
    assert!(matches!(
        jobs::cancel(&mut conn, id).await,
        Err(adbrag::store::Error::JobNotInState { .. })
    ));
    jobs::retry(&mut conn, id).await.unwrap();
    let Some(Processed::Final(job)) = s.queue.work_one("w").await.unwrap() else {
        panic!("processed")
    };
    assert_eq!(job.outcome.as_deref(), Some("written"));
}

#[tokio::test]
async fn a_killed_in_process_ingest_leaves_dead_jobs_not_running_ones() {
    let s = setup().await;
    let collection = adbrag::store::collections::create(
        &mut s.db.pool.acquire().await.unwrap(),
        &crate::store_collections::new_collection("acme", "cli", 16),
    )
    .await
    .unwrap();
    let job = jobs::start(
        &s.db.pool,
        &jobs::NewJob {
            collection_id: collection.id,
            kind: jobs::JobKind::Upsert,
            source_uri: "file:///tmp/a.md".into(),
            source_etag: None,
            origin: "cli".into(),
            event_id: None,
            event_time: None,
            idempotency_key: None,
            max_attempts: 1,
            payload: json!({}),
        },
        "host:123",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(job.lease_until.is_some(), "in-process jobs hold a lease");
    // SIGKILL: nobody renews it.
    sqlx::query("UPDATE ingest_job SET lease_until = now() - interval '1 second'")
        .execute(&s.db.pool)
        .await
        .unwrap();
    assert!(
        s.queue.work_one("w").await.unwrap().is_none(),
        "not claimed: no attempts left"
    );
    let job = jobs::get(&s.db.pool, job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Dead);
    assert!(
        job.last_error
            .unwrap()
            .contains("host:123 stopped during attempt 1 of 1")
    );
}
