//! The queue's commands as an operator runs them: `adbrag fc`, `adbrag jobs`, and a backfill of
//! an S3 prefix through the queue (against moto).

use std::{
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::harness::{TestDb, openai::FakeOpenAi};

fn adbrag() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_adbrag"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env_remove("ADBRAG_OSS_ROUTES")
        .env_remove("ADBRAG_EMBEDDING_BASE_URL")
        .env("ADBRAG_LOG_FORMAT", "json");
    command
}

#[test]
fn fc_without_an_embedding_api_refuses_to_start_and_says_what_to_set() {
    let output = adbrag()
        .args(["fc", "--port", "0"])
        .env("DATABASE_URL", "postgres://a:b@127.0.0.1:1/x")
        .env("ADBRAG_OSS_ROUTES", "docs-bucket=docs")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ADBRAG_EMBEDDING_BASE_URL"), "{stderr}");

    let output = adbrag()
        .args(["fc", "--port", "0"])
        .env("DATABASE_URL", "postgres://a:b@127.0.0.1:1/x")
        .env("ADBRAG_OSS_ROUTES", "docs-bucket=docs,docs-bucket=other")
        .env("ADBRAG_EMBEDDING_BASE_URL", "http://127.0.0.1:1/v1")
        .output()
        .unwrap();
    assert!(!output.status.success(), "duplicate routes are refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("docs-bucket"), "{stderr}");
}

#[tokio::test]
async fn fc_listens_at_once_and_logs_the_invocation_lines_fc_expects() {
    let db = TestDb::migrated().await;
    let fake = FakeOpenAi::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = adbrag()
        .arg("fc")
        .env("FC_SERVER_PORT", port.to_string())
        .env("ADBRAG_FC_HOST", "127.0.0.1")
        .env("DATABASE_URL", &db.url)
        .env("ADBRAG_EMBEDDING_BASE_URL", fake.base_url())
        .env("ADBRAG_EMBEDDING_API_KEY", "test")
        .env("ADBRAG_OSS_ROUTES", "docs-bucket=docs@acme")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = loop {
        match client
            .post(format!("http://127.0.0.1:{port}/invoke"))
            .header("x-fc-request-id", "req-cli-7")
            .body(r#"{"events":[{"eventName":"ObjectModified:UpdateObjectMeta","eventTime":"2026-12-01T00:00:00.000Z","oss":{"bucket":{"name":"docs-bucket"},"object":{"key":"a.md"}}}]}"#)
            .send()
            .await
        {
            Ok(response) => break response,
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::task::yield_now().await;
            }
            Err(err) => panic!("adbrag fc never listened: {err}"),
        }
    };
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["summary"]["events"][0]["status"], "ignored", "{body}");
    let _ = child.kill();
    let _ = child.wait();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(
        stdout.contains("FC Invoke Start RequestId: req-cli-7")
            && stdout.contains("FC Invoke End RequestId: req-cli-7"),
        "{stdout}"
    );
}

#[tokio::test]
async fn jobs_list_retry_and_cancel_act_on_the_queue() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = adbrag::store::collections::create(
        &mut conn,
        &crate::store_collections::new_collection("acme", "docs", 4),
    )
    .await
    .unwrap();
    let job = adbrag::store::jobs::start(
        &db.pool,
        &adbrag::store::jobs::NewJob {
            collection_id: collection.id,
            kind: adbrag::store::jobs::JobKind::Upsert,
            source_uri: "oss://b/a.md".into(),
            source_etag: None,
            origin: "cli".into(),
            event_id: None,
            event_time: None,
            idempotency_key: None,
            max_attempts: 1,
            payload: serde_json::json!({}),
        },
        "killed-host:1",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE ingest_job SET lease_until = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();

    let list = adbrag()
        .args(["jobs", "list", "--status", "dead", "--json"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "the killed job is listed as dead");
    assert_eq!(lines[0]["id"], job.id.to_string());
    assert!(
        lines[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("killed-host:1")
    );

    let retry = adbrag()
        .args(["jobs", "retry", "--all-dead", "--actor", "ops"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(retry.status.success());
    assert!(String::from_utf8_lossy(&retry.stdout).contains("queued 1 dead job"));
    let cancel = adbrag()
        .args(["jobs", "cancel", &job.id.to_string(), "--actor", "ops"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(cancel.status.success());
    let again = adbrag()
        .args(["jobs", "cancel", &job.id.to_string(), "--actor", "ops"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("is cancelled and cannot be cancelled"),
        "{stderr}"
    );
}

// Multi-threaded: the test blocks on the child process while the fake embedder answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_of_an_s3_prefix_backfills_it_through_the_queue_and_skips_what_is_stored() {
    let Some(endpoint) = crate::object_store::s3_endpoint(
        "ingest_of_an_s3_prefix_backfills_it_through_the_queue_and_skips_what_is_stored",
    ) else {
        return;
    };
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let db = TestDb::migrated().await;
    let fake = FakeOpenAi::start().await;
    let bucket = format!(
        "backfill-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        http.put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    for (key, text) in [
        (
            "manuals/a.md",
            "Alpha: the printer on floor two needs a badge.",
        ),
        ("manuals/b.md", "Beta: the canteen opens at eight."),
        ("elsewhere/c.md", "Gamma: not under the prefix."),
    ] {
        let put = http
            .put(format!("{endpoint}/{bucket}/{key}"))
            .body(text)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
    }
    let backfill = || {
        adbrag()
            .args([
                "ingest",
                &format!("s3://{bucket}/manuals/"),
                "--collection",
                "manuals",
            ])
            .env("DATABASE_URL", &db.url)
            .env("ADBRAG_S3_ENDPOINT", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("ADBRAG_EMBEDDING_BASE_URL", fake.base_url())
            .env("ADBRAG_EMBEDDING_API_KEY", "test")
            .output()
            .unwrap()
    };

    let first = backfill();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let documents: Vec<String> =
        sqlx::query_scalar("SELECT source_uri FROM document WHERE status = 'ready' ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        documents,
        [
            format!("s3://{bucket}/manuals/a.md"),
            format!("s3://{bucket}/manuals/b.md")
        ]
    );
    let origins: Vec<(String, String)> =
        sqlx::query_as("SELECT origin, status FROM ingest_job ORDER BY source_uri")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        origins,
        [
            ("backfill".into(), "succeeded".into()),
            ("backfill".into(), "succeeded".into())
        ]
    );

    // Run again: both are stored at the listed eTag, so nothing is queued or fetched.
    let second = backfill();
    assert!(second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("0 queued, 2 already stored"), "{stderr}");
}
