//! `POST /v1/collections/{name}/chat`: an answer with citations, as one JSON object or as
//! server-sent events (`retrieval`, `delta`…, `citations`, `done`; or `error`).

use std::{convert::Infallible, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
    routing::post,
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;

use super::{ApiError, AppState, Body, auth::Caller, error::ErrorBody, metrics::Metrics};
use crate::{
    answer::{Answer, Event, Prepared, Question},
    llm::chat::{Message, Role},
    search::filter::Filter,
    store::collections,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/collections/{name}/chat", post(chat))
}

/// Passages retrieved per question unless the request says otherwise.
pub const DEFAULT_TOP_K: usize = 8;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    /// The conversation, ending with the user's question. Or send `query` instead.
    messages: Option<Vec<Message>>,
    /// A single question (the same as one user message).
    query: Option<String>,
    /// Metadata filter (docs/api.md has the grammar).
    #[schema(value_type = Option<Object>)]
    filter: Option<serde_json::Value>,
    /// Passages retrieved before context assembly (default 8).
    top_k: Option<usize>,
    /// Server-sent events instead of one JSON answer.
    #[serde(default)]
    stream: bool,
    /// The end user's principals: documents with an ACL must name one of them.
    principals: Option<Vec<String>>,
}

/// The question a request asks, checked.
pub fn question(
    messages: Option<Vec<Message>>,
    query: Option<String>,
    filter: Option<&serde_json::Value>,
    top_k: Option<usize>,
    principals: Option<Vec<String>>,
) -> Result<Question, ApiError> {
    let messages = match (messages, query) {
        (Some(messages), None) => messages,
        (None, Some(query)) => vec![Message::new(Role::User, query)],
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "send either `messages` or `query`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "send the question: `query` (a string) or `messages` (the conversation)",
            )
            .with_param("messages"));
        }
    };
    let filter = filter.map(Filter::parse).transpose().map_err(|err| {
        ApiError::bad_request("invalid_filter", err.to_string()).with_param("filter")
    })?;
    Ok(Question {
        messages,
        top_k: top_k.unwrap_or(DEFAULT_TOP_K),
        filter,
        principals,
    })
}

/// Takes a place among the open answer streams, or refuses at once.
pub fn stream_slot(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    state.streams.clone().try_acquire_owned().map_err(|_| {
        tracing::warn!("overloaded: every answer stream is taken");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the server is streaming as many answers as it can hold: retry after 1 s",
        )
        .with_retry_after(1)
    })
}

/// Retrieval and context assembly, with the search timings recorded.
pub async fn prepare(
    state: &AppState,
    collection: &collections::Collection,
    question: &Question,
) -> Result<Prepared, ApiError> {
    let prepared = state
        .answerer
        .prepare(
            &state.pool,
            state.embedder.as_ref(),
            collection,
            question,
            &state.search,
        )
        .await?;
    state
        .metrics
        .observe_search(&crate::search::retrieve::Timings {
            embed_ms: prepared.timings.embed_ms,
            retrieve_ms: prepared.timings.retrieve_ms,
            rerank_ms: prepared.timings.rerank_ms,
        });
    Ok(prepared)
}

/// The whole answer, with its outcome and tokens recorded for the tenant.
pub async fn answer(
    state: &AppState,
    tenant: &str,
    prepared: Prepared,
) -> Result<Answer, ApiError> {
    match state.answerer.answer(prepared).await {
        Ok(answer) => {
            let outcome = if answer.found {
                "answered"
            } else {
                "not_found"
            };
            state.metrics.observe_answer(tenant, outcome, &answer.usage);
            Ok(answer)
        }
        Err(err) => {
            state
                .metrics
                .observe_answer(tenant, "error", &Default::default());
            Err(err.into())
        }
    }
}

/// An answer's stream, recording its outcome and tokens when it ends, and holding its slot.
pub fn observed(
    state: &AppState,
    tenant: String,
    slot: OwnedSemaphorePermit,
    prepared: Prepared,
) -> impl Stream<Item = Event> + Send + 'static {
    let metrics: Arc<Metrics> = state.metrics.clone();
    let guard = metrics.stream_opened();
    let mut found = true;
    state.answerer.clone().stream(prepared).map(move |event| {
        let _held = (&slot, &guard);
        match &event {
            Event::Retrieval { found: false, .. } => found = false,
            Event::Done { usage, timings, .. } => {
                if let Some(ms) = timings.first_token_ms {
                    metrics.observe_first_token(ms);
                }
                let outcome = if found { "answered" } else { "not_found" };
                metrics.observe_answer(&tenant, outcome, usage);
            }
            Event::Error { usage, .. } => metrics.observe_answer(&tenant, "error", usage),
            _ => {}
        }
        event
    })
}

/// Answers a question from one collection's documents, with citations (docs/api.md).
#[utoipa::path(post, path = "/v1/collections/{name}/chat", tag = "answers",
    params(("name" = String, Path)), request_body = ChatBody,
    responses((status = 200, body = Answer, description = "the answer; with `stream: true`, text/event-stream events retrieval, delta, citations, done (or error)"),
              (status = 400, body = ErrorBody, description = "an invalid body or messages"),
              (status = 404, body = ErrorBody, description = "no such collection for this tenant"),
              (status = 502, body = ErrorBody, description = "the chat or embedding model refused or broke off the request"),
              (status = 503, body = ErrorBody, description = "the chat model, the embedding API or the database is unavailable, or too many answers are streaming: retry later")))]
pub async fn chat(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<ChatBody>,
) -> Result<Response, ApiError> {
    let collection = collections::get(&state.pool, &caller.tenant, &name).await?;
    let question = question(
        body.messages,
        body.query,
        body.filter.as_ref(),
        body.top_k,
        body.principals,
    )?;
    let slot = body.stream.then(|| stream_slot(&state)).transpose()?;
    let prepared = prepare(&state, &collection, &question).await?;
    let Some(slot) = slot else {
        let answer = answer(&state, &caller.tenant, prepared).await?;
        return Ok(Json(answer).into_response());
    };
    let events = observed(&state, caller.tenant, slot, prepared).map(|event| {
        Ok::<_, Infallible>(
            SseEvent::default()
                .event(event.name())
                .json_data(&event)
                .unwrap_or_else(|_| SseEvent::default().event("error")),
        )
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
