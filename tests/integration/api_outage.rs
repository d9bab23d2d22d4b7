//! A provider outage during an upload is not the document's fault: the client is told to retry
//! (503 + Retry-After), nothing is stored, and the version already searchable stays as it was.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    api::{corpus, error, get_json, upload},
    harness::{TestApp, TestDb, openai::Fault},
};

#[tokio::test]
async fn an_upload_while_the_embedding_api_is_down_is_503_and_keeps_the_previous_version() {
    let app = TestApp::spawn(TestDb::migrated().await).await;
    let admin = corpus(&app).await;
    // More failures than the embedder's attempts: the outage outlasts every retry.
    for _ in 0..16 {
        app.fake.push_fault(Fault::Status {
            status: 503,
            code: "ServiceUnavailable",
            retry_after: Some(0),
        });
    }
    let response = upload(
        &app,
        &admin,
        "hr",
        "leave.md",
        "# Annual leave\n\nEmployees get thirty-five days of paid annual leave each year.",
        json!({"team": "hr", "year": 2026}),
    )
    .await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, code, message) = error(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{message}"
    );
    assert!(
        retry_after
            .as_deref()
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "a 503 says when to retry: {retry_after:?}"
    );
    assert!(message.contains("nothing was stored"), "{message}");

    // The previous version is still the one searched, and still `ready`. The keyword leg needs no
    // embedding, so the faults the upload's retries left unused cannot touch this search.
    let found: Value = app
        .http
        .post(app.url("/v1/collections/hr/search"))
        .bearer_auth(&admin)
        .json(&json!({"query": "annual leave days", "top_k": 5, "mode": "keyword"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = found["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {found}"))
        .iter()
        .filter_map(|hit| hit["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("twenty days")),
        "the old version is searchable: {texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("thirty-five")),
        "{texts:?}"
    );
    let listed = get_json(&app, &admin, "/v1/collections/hr/documents").await;
    let statuses: Vec<&str> = listed["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ready"; 3], "{listed}");
}
