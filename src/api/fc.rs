//! The Function Compute custom-runtime handler (`adbrag fc`): OSS trigger events arrive on
//! `POST /invoke`, each becomes a queued job, and the invocation processes its jobs inline.
//!
//! The answer tells Function Compute whether to retry: `200` when every event of the payload
//! reached a final outcome — done, a duplicate of one done, ignored, or a failure that is the
//! document's fault, recorded on its job — and `404` with `x-fc-status: 404` when something that
//! is not the event's fault (the database, OSS or the embedding API) failed, so FC's asynchronous
//! retries apply. A body that can never be processed (not JSON, too large) is a final `200` with
//! the reason: retrying it would fail the same way for ever. See docs/deploy-fc.md.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Serialize;
use serde_json::json;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::{
    ingest::{
        event::{self, Event},
        object::Credentials,
        queue::{Offered, Processed, Queue},
    },
    store::{
        jobs::{self, Enqueued, Job, JobStatus},
        schema,
    },
};

/// What the handler needs.
pub struct FcState {
    pub queue: Arc<Queue>,
    pub max_event_bytes: usize,
    /// How long to wait for another invocation that is processing the same event.
    pub duplicate_wait: Duration,
    /// ADBRAG_DIALECT (`None`: auto), checked against the server on the first invocation.
    pub dialect: Option<crate::store::dialect::Dialect>,
    /// Set once the database has been seen at this binary's schema.
    pub schema_ready: OnceCell<()>,
}

pub fn router(state: FcState) -> Router {
    Router::new()
        .route("/invoke", post(invoke))
        .route("/initialize", post(initialize))
        .with_state(Arc::new(state))
}

/// FC's optional initializer: nothing to prepare that could not wait for the first event
/// (start-up must not depend on the database, OSS or the embedding API being reachable).
async fn initialize(headers: HeaderMap) -> impl IntoResponse {
    let request_id = request_id(&headers);
    println!("FC Initialize Start RequestId: {request_id}");
    println!("FC Initialize End RequestId: {request_id}");
    (StatusCode::OK, "initialized")
}

async fn invoke(State(state): State<Arc<FcState>>, headers: HeaderMap, body: Body) -> Response {
    let request_id = request_id(&headers);
    // The lines FC's log tooling looks for, on stdout.
    println!("FC Invoke Start RequestId: {request_id}");
    let started = Instant::now();
    let span = tracing::info_span!("invoke", request_id = %request_id);
    let summary = tracing::Instrument::instrument(handle(&state, &headers, body), span).await;
    tracing::info!(
        request_id = %request_id,
        retry = summary.retry,
        events = summary.events.len(),
        ms = started.elapsed().as_millis() as u64,
        "invocation done"
    );
    println!("FC Invoke End RequestId: {request_id}");
    summary.into_response(&request_id)
}

/// The answer to one invocation.
#[derive(Debug, Default, Serialize)]
struct Summary {
    /// Whether FC should retry the invocation (404 + `x-fc-status: 404`).
    retry: bool,
    /// Why the body itself was refused, or why FC should retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    events: Vec<Report>,
}

/// What became of one event.
#[derive(Debug, Serialize)]
struct Report {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// `done`, `duplicate`, `ignored`, `failed` (the document's fault, final), `dead`,
    /// `cancelled`, or `retry`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<Uuid>,
    /// The job's outcome: `written`, `unchanged`, `stale`, `deleted`, `absent`, `vanished`,
    /// `superseded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Summary {
    fn refused(reason: String) -> Self {
        tracing::warn!(reason = %reason, "event body refused (final: FC will not retry it)");
        Self {
            retry: false,
            reason: Some(reason),
            events: Vec::new(),
        }
    }

    fn into_response(self, request_id: &str) -> Response {
        let status = if self.retry {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        let mut response = (
            status,
            Json(json!({"request_id": request_id, "summary": self})),
        )
            .into_response();
        if status == StatusCode::NOT_FOUND {
            // Without it, FC records the invocation as a success whatever the status code.
            response.headers_mut().insert(
                HeaderName::from_static("x-fc-status"),
                HeaderValue::from_static("404"),
            );
        }
        response
    }
}

async fn handle(state: &FcState, headers: &HeaderMap, body: Body) -> Summary {
    let bytes = match axum::body::to_bytes(body, state.max_event_bytes).await {
        Ok(bytes) => bytes,
        Err(err) => {
            return Summary::refused(format!(
                "the event body could not be read whole within {} bytes ({err}): Function Compute's asynchronous events are at most 128 KB; raise ADBRAG_FC_MAX_EVENT_BYTES if yours are larger",
                state.max_event_bytes
            ));
        }
    };
    let events = match event::decode(&bytes) {
        Ok(events) => events,
        Err(err) => return Summary::refused(err.to_string()),
    };
    let credentials = match Credentials::from_fc_headers(headers) {
        Ok(credentials) => credentials,
        Err(err) => {
            return Summary {
                retry: true,
                reason: Some(err.to_string()),
                events: Vec::new(),
            };
        }
    };
    if let Err(reason) = ensure_schema(state).await {
        return Summary {
            retry: true,
            reason: Some(reason),
            events: Vec::new(),
        };
    }

    let mut summary = Summary::default();
    for (index, decoded) in events.into_iter().enumerate() {
        let report = match decoded {
            Err(err) => Report {
                index,
                event: None,
                bucket: None,
                key: None,
                status: "ignored",
                job: None,
                outcome: None,
                reason: Some(err.to_string()),
            },
            Ok(event) => settle(state, index, &event, credentials.as_ref()).await,
        };
        if report.status == "ignored" {
            tracing::warn!(
                index,
                reason = report.reason.as_deref().unwrap_or(""),
                "event ignored"
            );
        }
        summary.retry |= report.status == "retry";
        summary.events.push(report);
    }
    if summary.retry {
        summary.reason = Some(
            "an event failed for a reason that is not its own (see its report); Function Compute should retry the invocation".into(),
        );
    }
    summary
}

/// Checks once that the database is reachable and migrated; until it is, every invocation asks
/// to be retried.
async fn ensure_schema(state: &FcState) -> Result<(), String> {
    state
        .schema_ready
        .get_or_try_init(|| async {
            schema::require_ready(state.queue.pool(), state.dialect)
                .await
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
        .await
        .map(|_| ())
}

/// Takes one event to its outcome: offered to the queue, then its job processed here — unless it
/// was already finished (a duplicate), or another invocation holds it (then this one waits for
/// that one, up to `duplicate_wait`).
async fn settle(
    state: &FcState,
    index: usize,
    event: &Event,
    credentials: Option<&Credentials>,
) -> Report {
    let mut report = Report {
        index,
        event: Some(event.name.clone()),
        bucket: Some(event.bucket.clone()),
        key: Some(event.key.clone()),
        status: "retry",
        job: None,
        outcome: None,
        reason: None,
    };
    let queue = &state.queue;
    let mut job = match queue.offer(event, "fc").await {
        Err(err) => {
            report.reason = Some(format!("{err}; the event was not queued"));
            return report;
        }
        Ok(Offered::Ignored(reason)) => {
            report.status = "ignored";
            report.reason = Some(reason);
            return report;
        }
        Ok(Offered::Job(enqueued)) => match *enqueued {
            Enqueued::Created(job) | Enqueued::Duplicate(job) => job,
        },
    };
    report.job = Some(job.id);
    let worker = format!("{}/fc", queue.pipeline().worker());
    let deadline = Instant::now() + state.duplicate_wait;
    loop {
        // Finished by an earlier delivery, or by the invocation this one waited for.
        if job.status.is_final() {
            return finished(report, &job, true);
        }
        let claimed = jobs::claim_id(queue.pool(), job.id, &worker, queue.settings().lease).await;
        match claimed {
            Ok(Some(claim)) => {
                return match queue.process(&claim, credentials).await {
                    Ok(Processed::Final(job)) => finished(report, &job, false),
                    Ok(Processed::Retry(job)) => {
                        report.reason = job.last_error.clone();
                        report
                    }
                    Err(err) => {
                        report.reason = Some(format!("{err}; the job is retried"));
                        report
                    }
                };
            }
            Ok(None) => {}
            Err(err) => {
                report.reason = Some(format!("{err}; the job is retried"));
                return report;
            }
        }
        // Another invocation or worker holds it: wait for its outcome, or for its lease to run out.
        if Instant::now() >= deadline {
            report.reason = Some(format!(
                "job {} is still being processed elsewhere after {:?}; retry to learn its outcome",
                job.id, state.duplicate_wait
            ));
            return report;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        match jobs::get(queue.pool(), job.id).await {
            Ok(current) => job = current,
            Err(err) => {
                report.reason = Some(format!("{err}; the job is retried"));
                return report;
            }
        }
    }
}

/// The report of a job that reached a final status; `duplicate` when another delivery did the work.
fn finished(mut report: Report, job: &Job, duplicate: bool) -> Report {
    report.outcome = job.outcome.clone();
    report.status = match job.status {
        JobStatus::Succeeded if duplicate => "duplicate",
        JobStatus::Succeeded => "done",
        JobStatus::Failed => "failed",
        JobStatus::Dead => "dead",
        JobStatus::Cancelled => "cancelled",
        JobStatus::Queued | JobStatus::Running => "retry",
    };
    if job.status != JobStatus::Succeeded {
        report.reason = job.last_error.clone();
    }
    report
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-fc-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}
