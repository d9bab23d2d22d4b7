use adbrag::store::{
    self,
    collections::{self, NewCollection},
    dialect::{self, Dialect, Dimensions},
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
    assert!(
        matches!(err, store::Error::InvalidDimensions { got: 0, .. }),
        "{err}"
    );
    assert!(
        collections::list(&db.pool, "acme")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn collections_of_different_sizes_coexist_each_in_its_own_vector_table() {
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

    let sizes: Vec<u16> = dialect::vector_tables(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(Dimensions::get)
        .collect();
    assert_eq!(sizes, [384, 1024]);
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname FROM pg_indexes WHERE tablename LIKE 'chunk_vector_%' AND indexname LIKE '%_ann' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(indexes, ["chunk_vector_1024_ann", "chunk_vector_384_ann"]);

    // The planner uses the size's HNSW index for the vector leg's query shape.
    let dims = Dimensions::new(384).unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let query = format!(
        "EXPLAIN SELECT chunk_id FROM {} ORDER BY embedding <=> {} LIMIT 10",
        dialect::vector_table(dims),
        Dialect::Pgvector.query_vector("$1", dims)
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
            .any(|line| line.contains("chunk_vector_384_ann")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn a_size_above_the_dialects_limit_is_refused_before_anything_changes() {
    let db = TestDb::migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let err = collections::create(&mut conn, &new_collection("acme", "huge", 2001))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "embedding dimensions must be between 1 and 2000 for the pgvector dialect, got 2001: choose a model or `dimensions` setting within that"
    );
    assert!(dialect::vector_tables(&mut conn).await.unwrap().is_empty());
    assert!(
        collections::list(&db.pool, "acme")
            .await
            .unwrap()
            .is_empty()
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

    let vectors = "SELECT count(*) FROM chunk_vector_4";
    let before: i64 = sqlx::query_scalar(vectors)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(before, 3);

    let deleted = collections::delete(&mut conn, "acme", "gone")
        .await
        .unwrap();

    assert_eq!(deleted, collection.id);
    // Each table by name: what foreign keys would have cascaded on PostgreSQL, and what nothing
    // cascades on AnalyticDB.
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM document) + (SELECT count(*) FROM chunk)
              + (SELECT count(*) FROM chunk_vector_4) + (SELECT count(*) FROM keyword_posting)
              + (SELECT count(*) FROM keyword_term) + (SELECT count(*) FROM keyword_stats)
              + (SELECT count(*) FROM embedding_cache)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    assert!(matches!(
        collections::delete(&mut conn, "acme", "gone").await,
        Err(store::Error::CollectionNotFound(_))
    ));
}
