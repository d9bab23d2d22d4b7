//! The ingest job queue and its history (`ingest_job`).
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED`, so workers never wait on each other, and hold a
//! lease: a job whose worker died is claimable again once its lease expires. An event delivered
//! twice carries the same idempotency key and enqueues once.
//!
//! Every write that ends an attempt is fenced by the claim it belongs to (job, worker, attempt): a
//! worker whose lease expired and whose job another worker took over cannot record a result, and
//! because the document write and the job's success share one transaction, neither is kept.
//!
//! Statuses: `queued` → `running` → `succeeded` (with an [`outcome`](Job::outcome)), `failed` (a
//! final verdict on the document: it cannot be parsed), `dead` (transient failures outlasted the
//! attempts: retry it once the cause is fixed) or `cancelled` (by an operator).

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

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Upsert => "upsert",
            JobKind::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Dead,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Dead,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Nothing more happens to the job unless an operator retries it.
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown job status '{text}': use one of queued, running, succeeded, failed, dead, cancelled"
                )
            })
    }
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
    /// What processing needs beyond the columns (the event's region and user metadata).
    pub payload: serde_json::Value,
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
    /// What a finished job did: `written`, `unchanged`, `stale`, `deleted`, `absent`, `vanished`,
    /// `superseded` (docs/queue.md).
    pub outcome: Option<String>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
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

/// Finishes as `dead` the running jobs whose lease expired on their last attempt ([`reap`]).
macro_rules! reap_sql {
    () => {
        "UPDATE ingest_job
         SET status = 'dead', lease_until = NULL, finished_at = now(), updated_at = now(),
             last_error = 'its worker ' || coalesce(worker, '?') || ' stopped during attempt '
                          || attempts || ' of ' || max_attempts
                          || ' (the lease expired): `adbrag jobs retry ' || id || '` runs it again'
         WHERE status = 'running' AND lease_until < now() AND attempts >= max_attempts"
    };
}

/// The columns of the row type, in a macro so queries are `concat!`ed `&'static str`s.
macro_rules! columns {
    () => {
        "id, collection_id, kind, source_uri, source_etag, origin, event_id, event_time, \
     idempotency_key, status, attempts, max_attempts, run_after, lease_until, worker, last_error, \
     document_id, outcome, payload, created_at, updated_at, finished_at"
    };
}

/// Adds a job, unless one with the same idempotency key exists in the collection.
pub async fn enqueue(conn: &mut sqlx::PgConnection, new: &NewJob) -> Result<Enqueued> {
    let created = sqlx::query_as::<_, Job>(concat!(
        "INSERT INTO ingest_job (id, collection_id, kind, source_uri, source_etag, origin, event_id,
                                 event_time, idempotency_key, max_attempts, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
    .bind(&new.payload)
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
/// first attempt counted, under a lease its caller renews like a worker's ([`renew`]). If the
/// process dies, the lease runs out and the job is finished as `dead` (no attempts left) the next
/// time anyone claims or lists jobs, instead of staying `running` for ever.
pub async fn start(
    executor: impl PgExecutor<'_>,
    new: &NewJob,
    worker: &str,
    lease: Duration,
) -> Result<Job> {
    Ok(sqlx::query_as::<_, Job>(concat!(
        "INSERT INTO ingest_job (id, collection_id, kind, source_uri, source_etag, origin, event_id,
                                 event_time, idempotency_key, max_attempts, payload, status,
                                 attempts, worker, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'running', 1, $12,
                 now() + $13 * interval '1 millisecond')
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
    .bind(&new.payload)
    .bind(worker)
    .bind(millis(lease))
    .fetch_one(executor)
    .await?)
}

/// Takes the oldest runnable job (queued and due, or running with an expired lease and attempts
/// left) for `worker`, counting the attempt. `None` when there is nothing to do. Jobs whose worker
/// died on their last attempt are finished as `dead` first ([`reap`]).
pub async fn claim(
    executor: impl PgExecutor<'_>,
    worker: &str,
    lease: Duration,
) -> Result<Option<Job>> {
    // One statement: the reaping and the claim touch disjoint rows (attempts left or not).
    Ok(sqlx::query_as::<_, Job>(concat!(
        "WITH reaped AS (",
        reap_sql!(),
        ")
         UPDATE ingest_job
         SET status = 'running', attempts = attempts + 1, worker = $1,
             lease_until = now() + $2 * interval '1 millisecond', updated_at = now()
         WHERE id = (
             SELECT id FROM ingest_job
             WHERE (status = 'queued' AND run_after <= now())
                OR (status = 'running' AND lease_until < now() AND attempts < max_attempts)
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

/// Takes one given job for `worker` if it can be taken: queued (whatever its `run_after`: the
/// caller is the retry, e.g. Function Compute redelivering the event), or running with an expired
/// lease and attempts left. `None` when it is finished or another worker holds it.
pub async fn claim_id(
    executor: impl PgExecutor<'_>,
    id: Uuid,
    worker: &str,
    lease: Duration,
) -> Result<Option<Job>> {
    Ok(sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'running', attempts = attempts + 1, worker = $2,
             lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
         WHERE id = (
             SELECT id FROM ingest_job
             WHERE id = $1
               AND (status = 'queued'
                    OR (status = 'running' AND lease_until < now() AND attempts < max_attempts))
             FOR UPDATE SKIP LOCKED)
         RETURNING ",
        columns!(),
    ))
    .bind(id)
    .bind(worker)
    .bind(millis(lease))
    .fetch_optional(executor)
    .await?)
}

/// Finishes as `dead` every running job whose worker stopped renewing its lease on its last
/// attempt (a killed `adbrag ingest`, a worker that died on attempt N of N). Returns how many.
pub async fn reap(executor: impl PgExecutor<'_>) -> Result<u64> {
    Ok(sqlx::query(reap_sql!())
        .execute(executor)
        .await?
        .rows_affected())
}

/// Extends the lease of a claimed attempt. `false` when the attempt is no longer the job's current
/// one (another worker took it over, or an operator cancelled it): its result must be discarded.
pub async fn renew(executor: impl PgExecutor<'_>, claim: &Job, lease: Duration) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE ingest_job SET lease_until = now() + $4 * interval '1 millisecond'
         WHERE id = $1 AND status = 'running' AND worker = $2 AND attempts = $3",
    )
    .bind(claim.id)
    .bind(&claim.worker)
    .bind(claim.attempts)
    .bind(millis(lease))
    .execute(executor)
    .await?
    .rows_affected()
        == 1)
}

/// Marks a claimed attempt done, naming the document it wrote (if any) and what it did. Fails with
/// [`Error::LeaseLost`] when the attempt is no longer current; in the document's transaction, that
/// discards the write too.
pub async fn succeed(
    executor: impl PgExecutor<'_>,
    claim: &Job,
    document_id: Option<Uuid>,
    outcome: &str,
) -> Result<Job> {
    sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'succeeded', document_id = coalesce($4, document_id), outcome = $5,
             last_error = NULL, lease_until = NULL, finished_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'running' AND worker = $2 AND attempts = $3
         RETURNING ",
        columns!(),
    ))
    .bind(claim.id)
    .bind(&claim.worker)
    .bind(claim.attempts)
    .bind(document_id)
    .bind(outcome)
    .fetch_optional(executor)
    .await?
    .ok_or(Error::LeaseLost(claim.id))
}

/// Records a failed attempt. `retry_in` says the failure was transient: with attempts left the job
/// is queued again after that delay, else it is `dead`. Without it the failure is a verdict on the
/// document and the job is `failed`. `error` must say what a person can do about it.
pub async fn fail(
    executor: impl PgExecutor<'_>,
    claim: &Job,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<Job> {
    sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = CASE WHEN $5::bigint IS NULL THEN 'failed'
                           WHEN attempts < max_attempts THEN 'queued'
                           ELSE 'dead' END,
             run_after = CASE WHEN $5::bigint IS NOT NULL AND attempts < max_attempts
                              THEN now() + $5 * interval '1 millisecond' ELSE run_after END,
             finished_at = CASE WHEN $5::bigint IS NOT NULL AND attempts < max_attempts
                                THEN NULL ELSE now() END,
             last_error = $4, lease_until = NULL, updated_at = now()
         WHERE id = $1 AND status = 'running' AND worker = $2 AND attempts = $3
         RETURNING ",
        columns!(),
    ))
    .bind(claim.id)
    .bind(&claim.worker)
    .bind(claim.attempts)
    .bind(error)
    .bind(retry_in.map(millis))
    .fetch_optional(executor)
    .await?
    .ok_or(Error::LeaseLost(claim.id))
}

/// Puts a running attempt back in the queue without counting it (a worker shutting down).
pub async fn release(executor: impl PgExecutor<'_>, claim: &Job) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE ingest_job
         SET status = 'queued', attempts = greatest(attempts - 1, 0), lease_until = NULL,
             worker = NULL, run_after = now(), updated_at = now()
         WHERE id = $1 AND status = 'running' AND worker = $2 AND attempts = $3",
    )
    .bind(claim.id)
    .bind(&claim.worker)
    .bind(claim.attempts)
    .execute(executor)
    .await?
    .rows_affected()
        == 1)
}

/// Queues a finished job again with its attempts reset (`adbrag jobs retry`): `dead`, `failed` or
/// `cancelled` ones. A job still queued or running is refused.
pub async fn retry(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Job> {
    let retried = sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'queued', attempts = 0, run_after = now(), lease_until = NULL,
             finished_at = NULL, outcome = NULL, updated_at = now()
         WHERE id = $1 AND status IN ('dead', 'failed', 'cancelled')
         RETURNING ",
        columns!(),
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match retried {
        Some(job) => Ok(job),
        None => Err(not_in_state(conn, id, "retried", "dead, failed or cancelled").await),
    }
}

/// Queues every `dead` job again (`adbrag jobs retry --all-dead`); returns them.
pub async fn retry_dead(executor: impl PgExecutor<'_>) -> Result<Vec<Job>> {
    Ok(sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'queued', attempts = 0, run_after = now(), lease_until = NULL,
             finished_at = NULL, outcome = NULL, updated_at = now()
         WHERE status = 'dead'
         RETURNING ",
        columns!(),
    ))
    .fetch_all(executor)
    .await?)
}

/// Stops a job that has not finished (`adbrag jobs cancel`). A running attempt's result is
/// discarded: its fenced success finds the job cancelled. Finished jobs are refused.
pub async fn cancel(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Job> {
    let cancelled = sqlx::query_as::<_, Job>(concat!(
        "UPDATE ingest_job
         SET status = 'cancelled', lease_until = NULL, finished_at = now(), updated_at = now(),
             last_error = coalesce(last_error, 'cancelled by an operator')
         WHERE id = $1 AND status IN ('queued', 'running', 'dead', 'failed')
         RETURNING ",
        columns!(),
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match cancelled {
        Some(job) => Ok(job),
        None => Err(not_in_state(conn, id, "cancelled", "queued, running, dead or failed").await),
    }
}

/// Why an operator's action found no job to act on: it does not exist, or is in another state.
async fn not_in_state(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    action: &'static str,
    allowed: &'static str,
) -> Error {
    match get(conn, id).await {
        Ok(job) => Error::JobNotInState {
            id,
            status: job.status,
            action,
            allowed,
        },
        Err(err) => err,
    }
}

/// The newest jobs, optionally of one status, at most `limit`.
pub async fn list(
    executor: impl PgExecutor<'_>,
    status: Option<JobStatus>,
    limit: i64,
) -> Result<Vec<Job>> {
    Ok(sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        columns!(),
        " FROM ingest_job WHERE ($1::text IS NULL OR status = $1)
          ORDER BY updated_at DESC, id LIMIT $2",
    ))
    .bind(status.map(JobStatus::as_str))
    .bind(limit)
    .fetch_all(executor)
    .await?)
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
