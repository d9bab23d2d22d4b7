//! An upload over the size limit is refused with 413, a message naming the limit and the setting
//! that raises it, and nothing recorded.

use adbrag::store::api_keys::Role;
use reqwest::{StatusCode, multipart};
use serde_json::json;

use crate::{
    api::{create_collection, error, get_json},
    harness::{TestApp, TestDb},
};

/// The limit the test app is served with (`harness::TestApp`: 1 MiB).
const LIMIT: usize = 1024 * 1024;

/// Uploads a text file of `size` bytes.
async fn upload_bytes(app: &TestApp, key: &str, name: &str, size: usize) -> reqwest::Response {
    let mut text = "word ".repeat(size / 5 + 1).into_bytes();
    text.truncate(size);
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(text).file_name(name.to_owned()),
    );
    app.http
        .post(app.url("/v1/collections/hr/documents"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_naming_the_limit_and_the_setting() {
    let app = TestApp::spawn(TestDb::migrated().await).await;
    let writer = app.key("acme", Role::Admin).await;
    assert_eq!(create_collection(&app, &writer, "hr").await.status(), 201);

    // Past the body limit (the limit and 64 KiB of multipart framing), and just past the file
    // limit, inside the framing's allowance: both are the same refusal.
    for (name, size) in [
        ("far-over.txt", LIMIT + 256 * 1024),
        ("just-over.txt", LIMIT + 1),
    ] {
        let (status, code, message) = error(upload_bytes(&app, &writer, name, size).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            "{name}: {message}"
        );
        assert!(message.contains("1 MiB limit"), "{name}: {message}");
        assert!(
            message.contains("ADBRAG_MAX_OBJECT_BYTES"),
            "{name}: {message}"
        );
        assert!(
            !message.contains("multipart/form-data"),
            "{name}: {message}"
        );
    }

    // Refused before ingest: no document, no job.
    let documents = get_json(&app, &writer, "/v1/collections/hr/documents").await;
    assert_eq!(documents["documents"], json!([]), "{documents}");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest_job")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);

    // At the limit, the size passes: the pipeline judges the document (here: too many chunks for
    // the test app's limit of 500).
    let (status, code, message) =
        error(upload_bytes(&app, &writer, "at-limit.txt", LIMIT).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "ingest_failed"),
        "{message}"
    );
    assert!(message.contains("chunks"), "{message}");
}
