use std::time::Duration;

use adbrag::store::{
    collections,
    jobs::{self, Enqueued, JobKind, JobStatus, NewJob},
};
use sqlx::Connection;
use uuid::Uuid;

use crate::{harness::TestDb, store_collections::new_collection};

async fn setup() -> (TestDb, Uuid) {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let c = collections::create(&mut conn, &new_collection("acme", "docs", 4))
        .await
        .unwrap();
    (db, c.id)
}

fn upsert(collection_id: Uuid, key: &str) -> NewJob {
    NewJob {
        collection_id,
        kind: JobKind::Upsert,
        source_uri: format!("oss://bucket/{key}"),
        source_etag: Some("etag-1".into()),
        origin: "fc".into(),
        event_id: Some(format!("event-{key}")),
        event_time: None,
        idempotency_key: Some(format!("bucket/{key}@etag-1")),
        max_attempts: 2,
        payload: serde_json::json!({}),
    }
}

#[tokio::test]
async fn an_event_delivered_twice_is_enqueued_once() {
    let (db, collection) = setup().await;
    let mut conn = db.pool.acquire().await.unwrap();

    let first = jobs::enqueue(&mut conn, &upsert(collection, "a.pdf"))
        .await
        .unwrap();
    let second = jobs::enqueue(&mut conn, &upsert(collection, "a.pdf"))
        .await
        .unwrap();

    let Enqueued::Created(job) = first else {
        panic!("first delivery creates")
    };
    assert_eq!(second, Enqueued::Duplicate(job));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ingest_job")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn two_workers_never_claim_the_same_job_and_never_wait_for_each_other() {
    let (db, collection) = setup().await;
    let mut conn = db.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, &upsert(collection, "a.pdf"))
        .await
        .unwrap();
    jobs::enqueue(&mut conn, &upsert(collection, "b.pdf"))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);

    // Each worker holds its claim open in its own transaction while the other claims.
    let mut one = db.pool.acquire().await.unwrap();
    let mut two = db.pool.acquire().await.unwrap();
    let mut three = db.pool.acquire().await.unwrap();
    let mut tx1 = one.begin().await.unwrap();
    let mut tx2 = two.begin().await.unwrap();
    let mut tx3 = three.begin().await.unwrap();
    let a = jobs::claim(&mut *tx1, "w1", lease)
        .await
        .unwrap()
        .expect("a job for w1");
    let b = jobs::claim(&mut *tx2, "w2", lease)
        .await
        .unwrap()
        .expect("a job for w2");
    let none = tokio::time::timeout(Duration::from_secs(10), jobs::claim(&mut *tx3, "w3", lease))
        .await
        .expect("a third claim skips locked rows instead of waiting")
        .unwrap();

    assert_ne!(a.id, b.id);
    assert_eq!(none, None);
    assert_eq!(
        (a.status, a.attempts, a.worker.as_deref()),
        (JobStatus::Running, 1, Some("w1"))
    );
}

#[tokio::test]
async fn a_job_whose_worker_died_is_claimed_again_after_its_lease() {
    let (db, collection) = setup().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let job = jobs::enqueue(&mut conn, &upsert(collection, "a.pdf"))
        .await
        .unwrap()
        .job()
        .clone();
    let claimed = jobs::claim(&db.pool, "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        jobs::claim(&db.pool, "w2", Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );

    // w1 dies: its lease runs out.
    sqlx::query("UPDATE ingest_job SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(claimed.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let reclaimed = jobs::claim(&db.pool, "w2", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(reclaimed.id, job.id);
    assert_eq!(
        (reclaimed.attempts, reclaimed.worker.as_deref()),
        (2, Some("w2"))
    );
}

#[tokio::test]
async fn a_failing_job_is_retried_until_its_attempts_run_out_then_is_dead_keeping_the_reason() {
    let (db, collection) = setup().await;
    let mut conn = db.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, &upsert(collection, "a.pdf"))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);

    let first = jobs::claim(&db.pool, "w", lease).await.unwrap().unwrap();
    let retried = jobs::fail(
        &db.pool,
        &first,
        "embedding API throttled",
        Some(Duration::ZERO),
    )
    .await
    .unwrap();
    let second = jobs::claim(&db.pool, "w", lease).await.unwrap().unwrap();
    let failed = jobs::fail(
        &db.pool,
        &second,
        "embedding API throttled",
        Some(Duration::ZERO),
    )
    .await
    .unwrap();

    assert_eq!(
        (retried.status, retried.finished_at),
        (JobStatus::Queued, None)
    );
    assert_eq!(second.attempts, 2);
    // Transient failures that outlast the attempts make the job `dead` (an operator retries it
    // once the cause is fixed), not `failed`, which is a verdict on the document.
    assert_eq!(failed.status, JobStatus::Dead);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("embedding API throttled")
    );
    assert!(failed.finished_at.is_some());
    assert_eq!(jobs::claim(&db.pool, "w", lease).await.unwrap(), None);
}

#[tokio::test]
async fn a_retry_waits_for_its_delay_and_a_success_names_the_document() {
    let (db, collection) = setup().await;
    let mut conn = db.pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, &upsert(collection, "a.pdf"))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let job = jobs::claim(&db.pool, "w", lease).await.unwrap().unwrap();

    jobs::fail(&db.pool, &job, "timeout", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        jobs::claim(&db.pool, "w", lease).await.unwrap(),
        None,
        "claimed before its delay"
    );

    // The attempt failed and is no longer running: its success is refused (fenced)...
    let document = Uuid::new_v4();
    assert!(matches!(
        jobs::succeed(&db.pool, &job, Some(document), "written").await,
        Err(adbrag::store::Error::LeaseLost(_))
    ));
    // ...while a fresh claim of the retry can succeed.
    sqlx::query("UPDATE ingest_job SET run_after = now() WHERE id = $1")
        .bind(job.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let job = jobs::claim(&db.pool, "w", lease).await.unwrap().unwrap();
    let done = jobs::succeed(&db.pool, &job, Some(document), "written")
        .await
        .unwrap();
    assert_eq!(done.outcome.as_deref(), Some("written"));
    assert_eq!(
        (done.status, done.document_id, done.last_error.clone()),
        (JobStatus::Succeeded, Some(document), None)
    );
    assert_eq!(jobs::get(&db.pool, job.id).await.unwrap(), done);
}
