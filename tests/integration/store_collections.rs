use adbrag::store::{
    self,
    collections::{self, NewCollection},
    dialect::{self, Dimensions},
};
use serde_json::json;
use sqlx::{Connection, Row};

use crate::harness::TestDb;

pub fn new_collection(tenant: &str, name: &str, dimensions: i64) -> NewCollection {
    NewCollection {
        tenant: tenant.into(),
        name: name.into(),
        embedding_model: "text-embedding-v4".into(),
        dimensions,
        keyword_language: "auto".into(),
        settings: json!({}),
    }
}

#[tokio::test]
async fn a_collection_is_found_by_its_tenant_and_name_only() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();

    let created = collections::create(&mut conn, &new_collection("acme", "handbook", 8))
        .await
        .unwrap();
    collections::create(&mut conn, &new_collection("globex", "handbook", 8))
        .await
        .unwrap();

    let found = collections::get(&db.pool, "acme", "handbook")
        .await
        .unwrap();
    assert_eq!(found, created);
    let listed = collections::list(&db.pool, "acme").await.unwrap();
    assert_eq!(listed, vec![created]);
    let other_tenant = collections::get(&db.pool, "initech", "handbook")
        .await
        .unwrap_err();
    assert!(matches!(other_tenant, store::Error::CollectionNotFound(name) if name == "handbook"));
}

#[tokio::test]
async fn a_duplicate_name_in_one_tenant_is_a_conflict_that_changes_nothing() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    collections::create(&mut conn, &new_collection("acme", "handbook", 8))
        .await
        .unwrap();

    let err = collections::create(&mut conn, &new_collection("acme", "handbook", 16))
        .await
        .unwrap_err();

    assert!(matches!(err, store::Error::CollectionExists(_)), "{err}");
    assert_eq!(
        collections::get(&db.pool, "acme", "handbook")
            .await
            .unwrap()
            .dimensions,
        8
    );
}

#[tokio::test]
async fn hostile_names_and_sizes_are_refused_before_any_sql_runs() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();

    let err = collections::create(
        &mut conn,
        &new_collection("acme", "x'; DROP TABLE chunk; --", 8),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, store::Error::InvalidCollectionName(_)),
        "{err}"
    );
    let err = collections::create(&mut conn, &new_collection("acme", "ok", 0))
        .await
        .unwrap_err();
    assert!(matches!(err, store::Error::InvalidDimensions(0)), "{err}");
    assert!(
        collections::list(&db.pool, "acme")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn collections_of_different_sizes_coexist_each_served_by_its_own_vector_index() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    collections::create(&mut conn, &new_collection("acme", "local", 384))
        .await
        .unwrap();
    collections::create(&mut conn, &new_collection("acme", "cloud", 1024))
        .await
        .unwrap();
    collections::create(&mut conn, &new_collection("acme", "cloud-2", 1024))
        .await
        .unwrap();

    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'chunk' AND indexname LIKE 'chunk_embedding_hnsw_%' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        ["chunk_embedding_hnsw_1024", "chunk_embedding_hnsw_384"]
    );

    // The planner uses the partial index for a query that repeats its expression and predicate.
    let dims = Dimensions::new(384).unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let query = format!(
        "EXPLAIN SELECT id FROM chunk WHERE dimensions = 384 ORDER BY {} <=> $1::real[]::vector(384) LIMIT 10",
        dialect::embedding_expression(dims)
    );
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(vec![0.1f32; 384])
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    assert!(
        plan.iter()
            .any(|line| line.contains("chunk_embedding_hnsw_384")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn deleting_a_collection_removes_its_documents_and_chunks() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut conn, &new_collection("acme", "gone", 4))
        .await
        .unwrap();
    crate::store_documents::write(&db, collection.id, "oss://b/a.txt", 1, "v1", 3).await;

    let deleted = collections::delete(&db.pool, "acme", "gone").await.unwrap();

    assert_eq!(deleted, collection.id);
    let left: i64 =
        sqlx::query_scalar("SELECT (SELECT count(*) FROM document) + (SELECT count(*) FROM chunk)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert!(matches!(
        collections::delete(&db.pool, "acme", "gone").await,
        Err(store::Error::CollectionNotFound(_))
    ));
}
