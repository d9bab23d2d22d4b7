//! What the database holds, for `adbrag stats`: per collection, the tables and indexes, the queue.

use serde::Serialize;
use sqlx::PgConnection;

use super::Result;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CollectionStats {
    pub tenant: String,
    pub name: String,
    pub embedding_model: String,
    pub dimensions: i32,
    pub documents_ready: i64,
    pub documents_failed: i64,
    pub documents_pending: i64,
    /// Chunks, each with one vector.
    pub chunks: i64,
    pub keyword_terms: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RelationSize {
    pub name: String,
    /// `table` or `index`.
    pub kind: String,
    pub bytes: i64,
    /// The planner's estimate (`reltuples`); -1 when never analysed.
    pub rows_estimate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub collections: Vec<CollectionStats>,
    pub relations: Vec<RelationSize>,
    pub jobs: Vec<(String, i64)>,
    pub embedding_cache_entries: i64,
    pub tombstones: i64,
    pub database_bytes: i64,
}

pub async fn gather(conn: &mut PgConnection) -> Result<Stats> {
    let collections = sqlx::query_as::<_, CollectionStats>(
        "SELECT c.tenant, c.name, c.embedding_model, c.dimensions,
                count(d.id) FILTER (WHERE d.status = 'ready') AS documents_ready,
                count(d.id) FILTER (WHERE d.status = 'failed') AS documents_failed,
                count(d.id) FILTER (WHERE d.status = 'pending') AS documents_pending,
                coalesce((SELECT count(*) FROM chunk ch WHERE ch.collection_id = c.id), 0) AS chunks,
                coalesce((SELECT count(*) FROM keyword_term t WHERE t.collection_id = c.id), 0)
                    AS keyword_terms
         FROM collection c LEFT JOIN document d ON d.collection_id = c.id
         GROUP BY c.id ORDER BY c.tenant, c.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let relations = sqlx::query_as::<_, RelationSize>(
        "SELECT cl.relname::text AS name,
                CASE cl.relkind WHEN 'i' THEN 'index' ELSE 'table' END AS kind,
                pg_total_relation_size(cl.oid) AS bytes, cl.reltuples::float8 AS rows_estimate
         FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
         WHERE n.nspname = current_schema() AND cl.relkind IN ('r', 'i')
           AND cl.relname NOT LIKE '\\_sqlx%'
         ORDER BY pg_total_relation_size(cl.oid) DESC",
    )
    .fetch_all(&mut *conn)
    .await?;
    let jobs = super::jobs::count_by_status(&mut *conn).await?;
    let (cache, tombstones, database_bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM embedding_cache), (SELECT count(*) FROM tombstone),
                pg_database_size(current_database())",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Stats {
        collections,
        relations,
        jobs,
        embedding_cache_entries: cache,
        tombstones,
        database_bytes,
    })
}
