//! The durable queue between OSS events and the pipeline: every event becomes an `ingest_job`
//! row first (the same event delivered twice finds its row and is done once), then a job is
//! processed — inline by the Function Compute handler, or by `adbrag worker` processes claiming
//! jobs — to exactly one outcome.
//!
//! Versions of a key are ordered by the event's `eventTime` (docs/queue.md): an upsert fetches
//! the object *at the event's eTag* (If-Match), so a late event never stores content newer or
//! older than it names; the store refuses a version older than the stored one or than a
//! tombstone. A failure is either the document's fault (recorded on it, not retried) or not
//! (the database, OSS or the embedding API down: retried with backoff, then `dead`).

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{
    event::{self, Action, Event, EventKind, Routes},
    lease,
    object::{Credentials, FetchError, ObjectStores, ObjectUri, Scheme},
    pipeline::{IngestError, Pipeline},
    source::SourceObject,
};
use crate::store::{
    self,
    collections::{self, Collection, NewCollection},
    documents::{self, DeleteOutcome},
    jobs::{self, Enqueued, Job, JobKind, JobStatus, NewJob},
};

/// How jobs are retried.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub lease: Duration,
    pub max_attempts: i32,
    /// The first retry's delay; each further one doubles it, up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Where an event names no region (a backfill) and no endpoint is configured.
    pub default_region: Option<String>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            max_attempts: 5,
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(15 * 60),
            default_region: None,
        }
    }
}

impl QueueSettings {
    /// The delay before attempt `attempts + 1`: exponential, capped, with ±20 % jitter so that
    /// jobs failed by one outage do not all come back at once.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
        let delay = self
            .retry_base
            .saturating_mul(1u32 << doublings)
            .min(self.retry_cap);
        delay.mul_f64(0.8 + 0.4 * fastrand::f64())
    }
}

/// What became of an event when it was offered to the queue.
#[derive(Debug)]
pub enum Offered {
    /// A job now stands for it (new, or the one an earlier delivery created).
    Job(Box<Enqueued>),
    /// Nothing to do, for this reason (an unknown event name, an unmapped bucket, a folder
    /// marker, an unsafe key). Final: logged, never retried.
    Ignored(String),
}

/// Where a processed job stands.
#[derive(Debug, Clone)]
pub enum Processed {
    /// Finished (succeeded, failed for the document's fault, dead or cancelled).
    Final(Job),
    /// Failed for a reason that is not the document's; queued again with a delay (the job
    /// says when).
    Retry(Job),
}

impl Processed {
    pub fn job(&self) -> &Job {
        match self {
            Processed::Final(job) | Processed::Retry(job) => job,
        }
    }
}

/// What processing a job needs beyond its columns; stored as the job's `payload`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Payload {
    pub bucket: String,
    /// The key as the event gave it (possibly percent-encoded).
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// OSS user metadata, which becomes document metadata.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub user_meta: serde_json::Map<String, Value>,
}

pub struct Queue {
    pipeline: Arc<Pipeline>,
    stores: ObjectStores,
    routes: Routes,
    settings: QueueSettings,
    /// Keys for jobs processed without per-request credentials (workers, backfills); `None`: the
    /// object store's own chain (environment, RRSA, instance role).
    credentials: Option<Credentials>,
}

impl Queue {
    pub fn new(
        pipeline: Arc<Pipeline>,
        stores: ObjectStores,
        routes: Routes,
        settings: QueueSettings,
    ) -> Self {
        Self {
            pipeline,
            stores,
            routes,
            settings,
            credentials: None,
        }
    }

    /// Signs requests of jobs processed without per-request credentials with these keys.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn pool(&self) -> &PgPool {
        self.pipeline.pool()
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn stores(&self) -> &ObjectStores {
        &self.stores
    }

    /// Makes an event a job, or finds the job an earlier delivery of it made. Events that can
    /// never be processed are [`Offered::Ignored`] without touching the database.
    pub async fn offer(&self, event: &Event, origin: &str) -> Result<Offered, store::Error> {
        let action = match &event.kind {
            EventKind::Known { action, .. } => *action,
            EventKind::Unknown(name) => {
                return Ok(Offered::Ignored(format!(
                    "event '{name}' is not an upload or a delete; acknowledged and ignored"
                )));
            }
        };
        if let Some(reason) = unusable_key(event) {
            return Ok(Offered::Ignored(reason));
        }
        let Some(route) = self.routes.resolve(&event.bucket, &event.key) else {
            return Ok(Offered::Ignored(format!(
                "no route in ADBRAG_OSS_ROUTES for bucket '{}' and this key: acknowledged and ignored; add a route such as '{}=COLLECTION' to ingest it",
                event.bucket, event.bucket
            )));
        };
        let collection = self.collection(&route.tenant, &route.collection).await?;
        let payload = Payload {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            region: event.region.clone(),
            event: Some(event.name.clone()),
            user_meta: event.user_meta.clone(),
        };
        let new = NewJob {
            collection_id: collection.id,
            kind: match action {
                Action::Created => JobKind::Upsert,
                Action::Removed => JobKind::Delete,
            },
            source_uri: oss_uri(&event.bucket, &event.key),
            source_etag: event.etag.clone(),
            origin: origin.to_owned(),
            event_id: event.request_id.clone(),
            event_time: Some(event.time),
            idempotency_key: Some(event.idempotency_key()),
            max_attempts: self.settings.max_attempts,
            payload: serde_json::to_value(&payload).unwrap_or_else(|_| json!({})),
        };
        let mut conn = self.pool().acquire().await?;
        Ok(Offered::Job(Box::new(
            jobs::enqueue(&mut conn, &new).await?,
        )))
    }

    /// The route's collection, created for the configured embedder when it does not exist yet
    /// (as `adbrag ingest` does), so the first upload to a new route is not lost.
    async fn collection(&self, tenant: &str, name: &str) -> Result<Collection, store::Error> {
        match collections::get(self.pool(), tenant, name).await {
            Err(store::Error::CollectionNotFound(_)) => {}
            found => return found,
        }
        let embedder = self.pipeline.embedder();
        let chunking = self.pipeline.default_chunking();
        let mut conn = self.pool().acquire().await?;
        let created = collections::create(
            &mut conn,
            &NewCollection {
                tenant: tenant.to_owned(),
                name: name.to_owned(),
                embedding_model: embedder.model().to_owned(),
                dimensions: embedder.dimensions() as i64,
                keyword_language: "auto".into(),
                settings: json!({
                    "chunk_tokens": chunking.max_tokens,
                    "chunk_overlap": chunking.overlap_tokens,
                }),
            },
        )
        .await;
        match created {
            Ok(collection) => {
                tracing::info!(
                    tenant,
                    collection = name,
                    "created the collection a route names"
                );
                Ok(collection)
            }
            // Another delivery created it first.
            Err(store::Error::CollectionExists(_)) => {
                collections::get(self.pool(), tenant, name).await
            }
            Err(err) => Err(err),
        }
    }

    /// Claims the oldest runnable job and processes it. `None` when there is nothing to do.
    pub async fn work_one(&self, worker: &str) -> Result<Option<Processed>, store::Error> {
        match jobs::claim(self.pool(), worker, self.settings.lease).await? {
            Some(claim) => Ok(Some(self.process(&claim, None).await?)),
            None => Ok(None),
        }
    }

    /// Processes a claimed job to a final outcome or a retry, and records it. `credentials` are
    /// the caller's for this job only (Function Compute's per-request STS keys). An error means
    /// the outcome could not be recorded (the database went away): the job's lease runs out and
    /// it is claimed again.
    pub async fn process(
        &self,
        claim: &Job,
        credentials: Option<&Credentials>,
    ) -> Result<Processed, store::Error> {
        let collection = match collections::get_by_id(self.pool(), claim.collection_id).await {
            Ok(collection) => collection,
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => {
                // The collection was deleted after the job was queued: nothing to write into.
                let job = jobs::fail(self.pool(), claim, &err.to_string(), None).await?;
                return Ok(Processed::Final(job));
            }
        };
        let payload: Payload = serde_json::from_value(claim.payload.clone()).unwrap_or_default();
        let credentials = credentials.or(self.credentials.as_ref());
        let span = tracing::info_span!("job", job = %claim.id, kind = ?claim.kind, attempt = claim.attempts);
        let result = tracing::Instrument::instrument(
            async {
                match claim.kind {
                    JobKind::Upsert => self.upsert(&collection, claim, &payload, credentials).await,
                    JobKind::Delete => self.delete(&collection, claim, &payload).await,
                }
            },
            span,
        )
        .await;
        match result {
            Ok(job) => Ok(Processed::Final(job)),
            Err(err) => {
                let retry_in = self.settings.backoff(claim.attempts);
                let job = self
                    .pipeline
                    .record_failure(
                        &collection,
                        &claim.source_uri,
                        claim.event_time.unwrap_or(claim.created_at),
                        claim,
                        &err,
                        Some(retry_in),
                    )
                    .await?;
                Ok(match job.status {
                    JobStatus::Queued => Processed::Retry(job),
                    _ => Processed::Final(job),
                })
            }
        }
    }

    /// Fetches the object at the event's eTag and ingests it. Returns the finished job.
    async fn upsert(
        &self,
        collection: &Collection,
        claim: &Job,
        payload: &Payload,
        credentials: Option<&Credentials>,
    ) -> Result<Job, IngestError> {
        let region = payload
            .region
            .as_deref()
            .or(self.settings.default_region.as_deref());
        let uri = match claim.source_uri.parse::<ObjectUri>() {
            Ok(uri) => uri,
            Err(err) => {
                return Ok(jobs::fail(self.pool(), claim, &err.to_string(), None).await?);
            }
        };
        let max_bytes = self.pipeline.max_object_bytes();
        for key in candidates(&uri) {
            let candidate = ObjectUri {
                key: key.clone(),
                ..uri.clone()
            };
            let fetched = lease::hold(self.pool(), claim, self.settings.lease, async {
                Ok::<_, IngestError>(
                    self.stores
                        .fetch(
                            &candidate,
                            region,
                            claim.source_etag.as_deref(),
                            credentials,
                            max_bytes,
                        )
                        .await,
                )
            })
            .await?;
            match fetched {
                Ok(object) => {
                    let object = describe(object, claim, payload);
                    let done = self
                        .pipeline
                        .ingest_claimed(collection, object, claim)
                        .await?;
                    return Ok(jobs::get(self.pool(), done.job_id).await?);
                }
                Err(FetchError::NotFound { .. }) => continue,
                Err(FetchError::Changed { .. }) => {
                    return Ok(jobs::succeed(self.pool(), claim, None, "superseded").await?);
                }
                Err(FetchError::TooLarge { size, max, .. }) => {
                    return Err(IngestError::TooLarge { size, max });
                }
                Err(err) => return Err(IngestError::Fetch(err.to_string())),
            }
        }
        // Deleted before it could be fetched: its ObjectRemoved event removes the document.
        Ok(jobs::succeed(self.pool(), claim, None, "vanished").await?)
    }

    /// Removes the document (and everything derived from it) and finishes the job, in one
    /// transaction.
    async fn delete(
        &self,
        collection: &Collection,
        claim: &Job,
        _payload: &Payload,
    ) -> Result<Job, IngestError> {
        let time = claim.event_time.unwrap_or(claim.created_at);
        let uri = claim.source_uri.parse::<ObjectUri>().ok();
        let candidates: Vec<String> = match &uri {
            Some(uri) => candidates(uri)
                .into_iter()
                .map(|key| ObjectUri { key, ..uri.clone() }.to_string())
                .collect(),
            None => vec![claim.source_uri.clone()],
        };
        let work = async {
            let mut tx = self.pool().begin().await?;
            // The stored form of the key if either is stored, else both are tombstoned so that
            // no older upload of either form comes back.
            let mut stored = None;
            for uri in &candidates {
                if documents::find_by_source(&mut *tx, collection.id, uri)
                    .await?
                    .is_some()
                {
                    stored = Some(uri.clone());
                    break;
                }
            }
            let targets = stored.map_or(candidates.clone(), |uri| vec![uri]);
            let mut outcome = "absent";
            let mut document = None;
            for uri in &targets {
                match documents::delete(&mut tx, collection.id, uri, time).await? {
                    DeleteOutcome::Deleted { document_id, .. } => {
                        outcome = "deleted";
                        document = Some(document_id);
                    }
                    DeleteOutcome::Stale { .. } => outcome = "stale",
                    DeleteOutcome::Absent => {}
                }
            }
            let job = jobs::succeed(&mut *tx, claim, document, outcome).await?;
            tx.commit().await?;
            Ok::<_, IngestError>(job)
        };
        lease::hold(self.pool(), claim, self.settings.lease, work).await
    }
}

/// The object's keys to try, in order: as the event gave it, then percent-decoded.
fn candidates(uri: &ObjectUri) -> Vec<String> {
    if uri.scheme == Scheme::File {
        return vec![uri.key.clone()];
    }
    event::key_candidates(&uri.key)
        .into_iter()
        .filter(|key| event::check_key(key).is_ok())
        .collect()
}

/// The fetched object as the event describes it: versions are ordered by the event's time, and
/// the event's user metadata fills in what the object's headers lack.
fn describe(mut object: SourceObject, claim: &Job, payload: &Payload) -> SourceObject {
    if let Some(time) = claim.event_time {
        object.modified = time;
    }
    if let Value::Object(metadata) = &mut object.metadata {
        for (name, value) in &payload.user_meta {
            metadata
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    object
}

/// Why an event's key cannot be processed, if it cannot.
fn unusable_key(event: &Event) -> Option<String> {
    event.safe_key_candidates().err().map(|err| err.to_string())
}

pub fn oss_uri(bucket: &str, key: &str) -> String {
    ObjectUri {
        scheme: Scheme::Oss,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    }
    .to_string()
}
