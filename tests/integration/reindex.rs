//! `adbrag reindex` against real PostgreSQL and the fake embedding API: a collection moves to
//! another model and size in one switch, an interrupted run resumes, a failed one changes nothing.

use std::process::Command;

use adbrag::{
    ingest::source::SourceObject,
    store::collections::{self, Collection},
};
use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::{
    harness::{TestDb, openai::Fault},
    queue::{Setup, setup},
    store_collections::new_collection,
};

async fn corpus(s: &Setup) -> Collection {
    let mut conn = s.db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut conn, &new_collection("acme", "docs", 16))
        .await
        .unwrap();
    for (i, text) in [
        "Annual leave is twenty-five days a year.\n\nUnused days carry over until March.",
        "Expense claims need a receipt.\n\nManagers approve them within five days.",
        "Laptops are encrypted.\n\nReport a lost laptop to the service desk at once.",
    ]
    .iter()
    .enumerate()
    {
        s.queue
            .pipeline()
            .ingest(
                &collection,
                SourceObject {
                    uri: format!("oss://corp-docs/{i}.txt"),
                    file_name: Some(format!("{i}.txt")),
                    bytes: text.as_bytes().to_vec(),
                    etag: None,
                    modified: Utc.timestamp_opt(1_790_000_000, 0).unwrap(),
                    metadata: json!({}),
                    acl: vec![],
                },
                "test",
            )
            .await
            .unwrap();
    }
    collection
}

fn reindex(db: &TestDb, base_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_adbrag"));
    command
        .env_remove("RUST_LOG")
        .env("ADBRAG_LOG_FORMAT", "json")
        .env("DATABASE_URL", &db.url)
        .env("ADBRAG_EMBEDDING_BASE_URL", base_url)
        .env("ADBRAG_EMBEDDING_API_KEY", "test")
        .env("ADBRAG_EMBEDDING_MODEL", "text-embedding-v3")
        .env("ADBRAG_EMBEDDING_DIMENSIONS", "8")
        .env("ADBRAG_EMBEDDING_MAX_ATTEMPTS", "2")
        .args([
            "reindex",
            "--collection",
            "docs",
            "--tenant",
            "acme",
            "--actor",
            "ops",
        ]);
    command
}

async fn shape(db: &TestDb) -> (String, i32, Vec<i32>, i64) {
    let (model, dims): (String, i32) =
        sqlx::query_as("SELECT embedding_model, dimensions FROM collection WHERE name = 'docs'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    // The sizes of the stored vectors, from every size's table.
    let mut conn = db.pool.acquire().await.unwrap();
    let mut chunk_dims: Vec<i32> = Vec::new();
    for size in adbrag::store::dialect::vector_tables(&mut conn)
        .await
        .unwrap()
    {
        let dims: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT vector_dims(embedding) FROM {}",
            adbrag::store::dialect::vector_table(size)
        )))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        chunk_dims.extend(dims);
    }
    chunk_dims.sort_unstable();
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM reindex_vector")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    (model, dims, chunk_dims, staged)
}

// Multi-threaded: the test waits on the child process while the fake embedder answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_moves_to_another_model_in_one_switch_and_an_interrupted_run_resumes() {
    let s = setup().await;
    let collection = corpus(&s).await;
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM chunk")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert!(chunks >= 3);

    // A failing provider (every attempt, 2): nothing changes.
    for _ in 0..2 {
        s.ai.push_fault(Fault::Status {
            status: 500,
            code: "InternalError",
            retry_after: Some(0),
        });
    }
    let failed = reindex(&s.db, &s.ai.base_url()).output().unwrap();
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("run the same command again to resume"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(
        shape(&s.db).await,
        ("text-embedding-v4".into(), 16, vec![16], 0)
    );

    // An interrupted run left new vectors for one chunk: the next run embeds only the rest.
    let first: uuid::Uuid = sqlx::query_scalar("SELECT id FROM chunk ORDER BY id LIMIT 1")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO reindex_vector (chunk_id, collection_id, model, dimensions, embedding)
         VALUES ($1, $2, 'text-embedding-v3', 8, '{1,0,0,0,0,0,0,0}')",
    )
    .bind(first)
    .bind(collection.id)
    .execute(&s.db.pool)
    .await
    .unwrap();
    let requests_before = s.ai.recorded().len();
    let done = reindex(&s.db, &s.ai.base_url()).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stderr).contains(&format!("resuming: 1 of {chunks}")));
    let embedded: usize = s.ai.recorded()[requests_before..]
        .iter()
        .filter(|r| r.path.contains("embeddings"))
        .map(|r| r.body["input"].as_array().map_or(1, Vec::len))
        .sum();
    assert_eq!(
        embedded as i64,
        chunks - 1,
        "only the chunks without a new vector"
    );
    assert_eq!(
        shape(&s.db).await,
        ("text-embedding-v3".into(), 8, vec![8], 0)
    );
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'reindex'")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(audit, 1);

    // Already there: nothing to do.
    let again = reindex(&s.db, &s.ai.base_url()).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
}
