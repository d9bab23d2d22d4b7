//! The ingest job queue and its history (`ingest_job`).
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED`, so workers never wait on each other, and hold a
//! lease: a job whose worker died is claimable again once its lease expires. An event delivered
//! twice carries the same idempotency key and enqueues once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Upsert,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub collection_id: Uuid,
    pub kind: JobKind,
    pub source_uri: String,
    pub source_etag: Option<String>,
    /// Where the job came from: `cli`, `api`, `fc` or `queue`.
    pub origin: String,
    pub event_id: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    /// Deliveries of one event share this key, e.g. `bucket/key@etag`.
    pub idempotency_key: Option<String>,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    pub id: Uuid,
    pub collection_id: Uuid,
    pub kind: JobKind,
    pub source_uri: String,
    pub source_etag: Option<String>,
    pub origin: String,
    pub event_id: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub worker: Option<String>,
    pub last_error: Option<String>,
    pub document_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    Created(Job),
    /// A job with the same idempotency key exists; this is it, untouched.
    Duplicate(Job),
}

impl Enqueued {
    pub fn job(&self) -> &Job {
        match self {
            Enqueued::Created(job) | Enqueued::Duplicate(job) => job,
        }
    }
}

/// The columns of the row type, in a macro so queries are `concat!`ed `&'static str`s.
macro_rules! columns {
    () => {
        "id, collection_id, kind, source_uri, source_etag, origin, event_id, event_time, \
     idempotency_key, status, attempts, max_attempts, run_after, lease_until, worker, last_error, \
     document_id, created_at, updated_at, finished_at"
    };
}

/// Adds a job, unless one with the same idempotency key exists in the collection.
pub async fn enqueue(conn: &mut sqlx::PgConnection, new: &NewJob) -> Result<Enqueued> {
    let created = sqlx::query_as::<_, Job>(concat!(
        "INSERT INTO ingest_job (id, collection_id, kind, source_uri, source_etag, origin, event_id,
                                 event_time, idempotency_key, max_attempts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (collection_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING ",
        columns!(),
    ))
    .bind(Uuid::new_v4())
    .bind(new.collection_id)
    .bind(new.kind)
    .bind(&new.source_uri)
    .bind(&new.source_etag)
    .bind(&new.origin)
    .bind(&new.event_id)
    .bind(new.event_time)
    .bind(&new.idempotency_key)
    .bind(new.max_attempts)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(job) = created {
        return Ok(Enqueued::Created(job));
    }
    let existing = sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        columns!(),
        " FROM ingest_job WHERE collection_id = $1 AND idempotency_key = $2",
    ))
    .bind(new.collection_id)
    .bind(&new.idempotency_key)
    .fetch_one(conn)
    .await?;
    Ok(Enqueued::Duplicate(existing))
}

/// Records a job that its caller runs at once (the CLI ingests in-process): it starts `running`,
/// first attempt counted, and is never claimed by a worker.
pub async fn start(executor: impl PgExecutor<'_>, new: &NewJob, worker: &str) -> Result<Job> {
    Ok(sqlx::query_as::<_, Job>(concat!(
        "INSERT INTO ingest_job (id, collection_id, kind, source_uri, source_etag, origin, event_id,
                                 event_time, idempotency_key, max_attempts, status, attempts, worker)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'running', 1, $11)
         RETURNING ",
        columns!(),
    ))
    .bind(Uuid::new_v4())
    .bind(new.collection_id)
    .bind(new.kind)
    .bind(&new.source_uri)
    .bind(&new.source_etag)
    .bind(&new.origin)
    .bind(&new.event_id)
    .bind(new.event_time)
    .bind(&new.idempotency_key)
    .bind(new.max_attempts)
    .bind(worker)
    .fetch_one(executor)
    .await?)
}

/// Takes the oldest runnable job (queued and due, or running with an expired lease) for `worker`,
/// counting the attempt. `None` when there is nothing to do.
pub async fn claim(
    executor: impl PgExecutor<'_>,
    worker: &str,
    lease: Duration,
) -> Result<Option<Job>> {
    Ok(sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'running', attempts = attempts + 1, worker = $1,
             lease_until = now() + $2 * interval '1 millisecond', updated_at = now()
         WHERE id = (
             SELECT id FROM ingest_job
             WHERE (status = 'queued' AND run_after <= now())
                OR (status = 'running' AND lease_until < now())
             ORDER BY run_after
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
         RETURNING ",
        columns!(),
    ))
    .bind(worker)
    .bind(millis(lease))
    .fetch_optional(executor)
    .await?)
}

/// Marks a job done, naming the document it wrote (if any).
pub async fn succeed(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    document_id: Option<Uuid>,
) -> Result<Job> {
    sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'succeeded', document_id = coalesce($2, document_id), last_error = NULL,
             lease_until = NULL, finished_at = now(), updated_at = now()
         WHERE id = $1
         RETURNING ",
        columns!(),
    ))
    .bind(id)
    .bind(document_id)
    .fetch_optional(executor)
    .await?
    .ok_or(Error::JobNotFound(id))
}

/// Records a failed attempt. With `retry_in` and attempts left, the job is queued again after that
/// delay; otherwise it is finally `failed`. `error` must say what a person can do about it.
pub async fn fail(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<Job> {
    sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = CASE WHEN $3::bigint IS NOT NULL AND attempts < max_attempts
                           THEN 'queued' ELSE 'failed' END,
             run_after = CASE WHEN $3::bigint IS NOT NULL AND attempts < max_attempts
                              THEN now() + $3 * interval '1 millisecond' ELSE run_after END,
             finished_at = CASE WHEN $3::bigint IS NOT NULL AND attempts < max_attempts
                                THEN NULL ELSE now() END,
             last_error = $2, lease_until = NULL, updated_at = now()
         WHERE id = $1
         RETURNING ",
        columns!(),
    ))
    .bind(id)
    .bind(error)
    .bind(retry_in.map(millis))
    .fetch_optional(executor)
    .await?
    .ok_or(Error::JobNotFound(id))
}

/// How many jobs are in each status (for `/metrics`).
pub async fn count_by_status(executor: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, count(*) FROM ingest_job GROUP BY status ORDER BY status")
            .fetch_all(executor)
            .await?,
    )
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Job> {
    sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        columns!(),
        " FROM ingest_job WHERE id = $1",
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or(Error::JobNotFound(id))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
