//! The audit log: who changed what, and when — never document content, titles or URIs.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::Result;

/// Records one change. `details` must hold ids, counts and reasons only.
pub async fn record(
    executor: impl PgExecutor<'_>,
    actor: &str,
    action: &str,
    collection_id: Option<Uuid>,
    subject_id: Option<Uuid>,
    details: &serde_json::Value,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_log (actor, action, collection_id, subject_id, details)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(actor)
    .bind(action)
    .bind(collection_id)
    .bind(subject_id)
    .bind(details)
    .fetch_one(executor)
    .await?)
}

/// One audit record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub collection_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub details: serde_json::Value,
}

pub async fn list(
    conn: &mut PgConnection,
    since: Option<DateTime<Utc>>,
    actor: Option<&str>,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRecord>> {
    Ok(sqlx::query_as(
        "SELECT id, at, actor, action, collection_id, subject_id, details FROM audit_log
         WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::text IS NULL OR actor = $2)
           AND ($3::text IS NULL OR action = $3)
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind(since)
    .bind(actor)
    .bind(action)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
