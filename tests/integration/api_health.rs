use serde_json::Value;

use crate::harness::{TestApp, TestDb};

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = TestApp::spawn(TestDb::empty().await).await;

    let response = app.http.get(app.url("/healthz")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn readyz_is_ready_on_a_migrated_database_with_pgvector() {
    let app = TestApp::spawn(TestDb::migrated().await).await;

    let response = app.http.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["migration"], adbrag::store::schema::latest_migration());
    assert!(
        body["pgvector"]
            .as_str()
            .is_some_and(|v| v.starts_with("0.")),
        "{body}"
    );
}

#[tokio::test]
async fn readyz_names_what_is_missing_on_an_unmigrated_database() {
    let app = TestApp::spawn(TestDb::empty().await).await;

    let response = app.http.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no adbrag schema"), "{message}");
    assert!(message.contains("run `adbrag migrate`"), "{message}");
}

#[tokio::test]
async fn readyz_says_unavailable_when_the_database_goes_away() {
    let app = TestApp::spawn(TestDb::migrated().await).await;
    let name = &app.db.name;
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Cut every connection the service holds, and keep new ones out.
    let mut admin =
        <sqlx::PgConnection as sqlx::Connection>::connect(&crate::harness::db::admin_url())
            .await
            .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&mut admin)
        .await
        .unwrap();

    let response = app.http.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("database"), "{message}");
    assert!(!message.contains("password"), "{message}");
}
