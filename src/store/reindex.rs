//! Re-embedding a collection (`adbrag reindex`): new vectors are built beside the old ones in
//! `reindex_vector` — searches keep using the old ones meanwhile — and switched in one
//! transaction, so search never sees a half-built collection. A crash loses nothing: the next run
//! resumes with the chunks that have no new vector yet.

use serde::Serialize;
use sqlx::{Acquire, AssertSqlSafe, PgConnection};
use uuid::Uuid;

use super::{Result, dialect};

/// A chunk to embed again: what the embedding model reads is rebuilt from these.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    pub id: Uuid,
    pub text: String,
    pub heading_path: serde_json::Value,
    pub title: Option<String>,
}

/// Where a reindex stands.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub chunks: i64,
    pub done: i64,
}

/// Rows built for another target (a run with other settings that was interrupted) are useless to
/// this one: dropped.
pub async fn discard_other_targets(
    conn: &mut PgConnection,
    collection_id: Uuid,
    model: &str,
    dimensions: i32,
) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM reindex_vector WHERE collection_id = $1 AND (model <> $2 OR dimensions <> $3)",
    )
    .bind(collection_id)
    .bind(model)
    .bind(dimensions)
    .execute(conn)
    .await?
    .rows_affected())
}

pub async fn progress(conn: &mut PgConnection, collection_id: Uuid) -> Result<Progress> {
    let (chunks, done): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM chunk WHERE collection_id = $1),
                (SELECT count(*) FROM reindex_vector WHERE collection_id = $1)",
    )
    .bind(collection_id)
    .fetch_one(conn)
    .await?;
    Ok(Progress { chunks, done })
}

/// The next chunks without a new vector, at most `limit`.
pub async fn pending(
    conn: &mut PgConnection,
    collection_id: Uuid,
    limit: i64,
) -> Result<Vec<Pending>> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.text, c.heading_path, d.title
         FROM chunk c JOIN document d ON d.id = c.document_id
         WHERE c.collection_id = $1
           AND NOT EXISTS (SELECT 1 FROM reindex_vector r WHERE r.chunk_id = c.id)
         ORDER BY c.id LIMIT $2",
    )
    .bind(collection_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Stores new vectors (all of `dimensions` floats). A chunk deleted meanwhile is skipped.
pub async fn store(
    conn: &mut PgConnection,
    collection_id: Uuid,
    model: &str,
    dimensions: i32,
    vectors: &[(Uuid, Vec<f32>)],
) -> Result<u64> {
    let ids: Vec<Uuid> = vectors.iter().map(|(id, _)| *id).collect();
    let flat: Vec<f32> = vectors
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    Ok(sqlx::query(
        "INSERT INTO reindex_vector (chunk_id, collection_id, model, dimensions, embedding)
         SELECT v.id, $2, $3, $4, ($5::real[])[(v.n - 1) * $4 + 1 : v.n * $4]
         FROM unnest($1::uuid[]) WITH ORDINALITY AS v(id, n)
         WHERE EXISTS (SELECT 1 FROM chunk c WHERE c.id = v.id)
         ON CONFLICT (chunk_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(collection_id)
    .bind(model)
    .bind(dimensions)
    .bind(&flat)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Switches the collection to the new vectors in one transaction, if every chunk has one; `false`
/// (nothing changed) when chunks written meanwhile still lack theirs. Writes to the chunk table
/// wait for the switch (it holds a lock that excludes them), searches do not.
pub async fn switch(
    conn: &mut PgConnection,
    collection_id: Uuid,
    model: &str,
    dimensions: dialect::Dimensions,
    actor: &str,
) -> Result<bool> {
    let mut tx = conn.begin().await?;
    sqlx::query("LOCK TABLE chunk IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let missing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chunk c WHERE c.collection_id = $1
           AND NOT EXISTS (SELECT 1 FROM reindex_vector r WHERE r.chunk_id = c.id)",
    )
    .bind(collection_id)
    .fetch_one(&mut *tx)
    .await?;
    if missing > 0 {
        return Ok(false);
    }
    let dialect = dialect::Dialect::of(&mut tx).await?;
    dialect::ensure_vector_table(&mut tx, dialect, dimensions).await?;
    let dims = i32::from(dimensions.get());
    let old: i32 = sqlx::query_scalar("SELECT dimensions FROM collection WHERE id = $1")
        .bind(collection_id)
        .fetch_one(&mut *tx)
        .await?;
    // The old vectors go, the new ones come (the only SQL text built at run time: a table name
    // from a checked `Dimensions`).
    dialect::delete_vectors(&mut tx, old, "WHERE v.collection_id = $1", collection_id).await?;
    let switched = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (chunk_id, collection_id, embedding)
         SELECT r.chunk_id, r.collection_id, r.embedding FROM reindex_vector r
         WHERE r.collection_id = $1",
        dialect::vector_table(dimensions)
    )))
    .bind(collection_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE chunk SET dimensions = $2 WHERE collection_id = $1")
        .bind(collection_id)
        .bind(dims)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE collection SET embedding_model = $2, dimensions = $3 WHERE id = $1")
        .bind(collection_id)
        .bind(model)
        .bind(dims)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM reindex_vector WHERE collection_id = $1")
        .bind(collection_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO audit_log (actor, action, collection_id, details) VALUES ($1, 'reindex', $2, $3)",
    )
    .bind(actor)
    .bind(collection_id)
    .bind(serde_json::json!({ "model": model, "dimensions": dims, "chunks": switched }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
