//! The OpenAI protocol, so assistants built on the official OpenAI SDKs use adbrag unchanged:
//! `POST /v1/chat/completions` (JSON and streaming) and `GET /v1/models`.
//!
//! The `model` field picks the collection: `"<collection>"`, or `"<collection>:<chat model>"`
//! where the chat model must be the one this server answers with; `/v1/models` lists both forms.
//! Citations travel in an extra `citations` field (top level of the completion; in the last
//! chunk of a stream), which standard clients ignore. Requests with parameters adbrag cannot
//! honour are refused as OpenAI refuses them: a 400 naming the parameter.

use std::{
    convert::Infallible,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, Body, auth::Caller, chat, error::ErrorBody};
use crate::{
    answer::Event,
    llm::chat::{Message, Role},
    store::{self, collections},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/v1/models", get(models))
}

/// Parameters accepted and ignored: they do not change what adbrag can do.
const IGNORED: [&str; 9] = [
    "user",
    "seed",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "store",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
];

fn unsupported(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("unsupported_parameter", message).with_param(param)
}

/// The request, checked field by field.
struct Request {
    model: String,
    messages: Vec<Message>,
    stream: bool,
    include_usage: bool,
    max_tokens: Option<usize>,
    temperature: Option<f32>,
    /// adbrag's own extensions (send them with the SDK's `extra_body`).
    filter: Option<Value>,
    top_k: Option<usize>,
    principals: Option<Vec<String>>,
}

fn parse(body: Map<String, Value>) -> Result<Request, ApiError> {
    let mut request = Request {
        model: String::new(),
        messages: Vec::new(),
        stream: false,
        include_usage: false,
        max_tokens: None,
        temperature: None,
        filter: None,
        top_k: None,
        principals: None,
    };
    let invalid = |param: &str, expected: &str| {
        ApiError::bad_request(
            "invalid_value",
            format!("Invalid value for '{param}': expected {expected}."),
        )
        .with_param(param)
    };
    let mut model = None;
    let mut messages = None;
    for (key, value) in body {
        match key.as_str() {
            "model" => {
                model = Some(
                    value
                        .as_str()
                        .ok_or_else(|| invalid("model", "a string"))?
                        .to_owned(),
                )
            }
            "messages" => messages = Some(value),
            "stream" => request.stream = value.as_bool().unwrap_or(false),
            "stream_options" => {
                request.include_usage = value["include_usage"].as_bool().unwrap_or(false)
            }
            "n" => {
                if !(value.is_null() || value.as_u64() == Some(1)) {
                    return Err(unsupported(
                        "n",
                        "adbrag writes one answer per request: 'n' must be 1.",
                    ));
                }
            }
            "max_tokens" | "max_completion_tokens" => {
                let tokens = value
                    .as_u64()
                    .ok_or_else(|| invalid(&key, "a positive integer"))?;
                request.max_tokens = Some(tokens.max(1) as usize);
            }
            "temperature" => {
                let t = value
                    .as_f64()
                    .ok_or_else(|| invalid("temperature", "a number between 0 and 2"))?;
                if !(0.0..=2.0).contains(&t) {
                    return Err(invalid("temperature", "a number between 0 and 2"));
                }
                request.temperature = Some(t as f32);
            }
            "response_format" if value["type"] == "text" => {}
            "logprobs" if value == Value::Bool(false) => {}
            "tools" | "tool_choice" | "functions" | "function_call" => {
                return Err(unsupported(
                    &key,
                    format!(
                        "'{key}' is not supported: adbrag answers from documents and calls no tools."
                    ),
                ));
            }
            "filter" => request.filter = Some(value),
            "top_k" => {
                request.top_k = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| invalid("top_k", "a positive integer"))?
                        as usize,
                )
            }
            "principals" => {
                request.principals = Some(
                    serde_json::from_value(value)
                        .map_err(|_| invalid("principals", "an array of strings"))?,
                )
            }
            other if IGNORED.contains(&other) => {}
            other => {
                return Err(unsupported(
                    other,
                    format!(
                        "Unrecognized request argument supplied: {other}. adbrag supports model, messages, stream, stream_options, n (1), max_tokens, temperature, and its own filter, top_k and principals (docs/api.md)."
                    ),
                ));
            }
        }
    }
    request.model = model.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "you must provide a model parameter: a collection name, listed by GET /v1/models",
        )
        .with_param("model")
    })?;
    let messages = messages.ok_or_else(|| {
        ApiError::bad_request("missing_parameter", "you must provide a messages parameter: the conversation, ending with the user's question").with_param("messages")
    })?;
    request.messages = parse_messages(messages)?;
    Ok(request)
}

/// OpenAI messages: content as a string or as text parts; `developer` is a system message.
fn parse_messages(value: Value) -> Result<Vec<Message>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "invalid_value",
            "Invalid value for 'messages': expected an array of {role, content}.",
        )
        .with_param("messages"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let param = format!("messages[{i}]");
            let role = match item["role"].as_str() {
                Some("system" | "developer") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some(other) => {
                    return Err(unsupported(&format!("{param}.role"), format!("messages with role '{other}' are not supported: send system, user and assistant messages.")));
                }
                None => {
                    return Err(ApiError::bad_request("invalid_value", format!("Invalid value for '{param}.role': expected system, user or assistant.")).with_param(format!("{param}.role")));
                }
            };
            let content = match &item["content"] {
                Value::String(text) => text.clone(),
                Value::Null if role == Role::Assistant => String::new(),
                Value::Array(parts) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part["type"].as_str(), part["text"].as_str()) {
                            (Some("text"), Some(piece)) => text.push_str(piece),
                            _ => {
                                return Err(unsupported(&format!("{param}.content"), "only text content parts are supported."));
                            }
                        }
                    }
                    text
                }
                _ => {
                    return Err(ApiError::bad_request("invalid_value", format!("Invalid value for '{param}.content': expected a string or text parts.")).with_param(format!("{param}.content")));
                }
            };
            Ok(Message::new(role, content))
        })
        .collect()
}

/// The collection a `model` names, and the chat model suffix matches ours.
async fn collection_for(
    state: &AppState,
    tenant: &str,
    model: &str,
) -> Result<collections::Collection, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("The model '{model}' does not exist or you do not have access to it: GET /v1/models lists the collections this key can ask."),
        )
        .with_param("model")
    };
    let (name, chat_model) = match model.split_once(':') {
        Some((name, chat_model)) => (name, Some(chat_model)),
        None => (model, None),
    };
    if chat_model.is_some_and(|m| m != state.answerer.model_name()) {
        return Err(not_found());
    }
    match collections::get(&state.pool, tenant, name).await {
        Ok(collection) => Ok(collection),
        Err(store::Error::CollectionNotFound(_) | store::Error::InvalidCollectionName(_)) => {
            Err(not_found())
        }
        Err(err) => Err(err.into()),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An OpenAI-compatible chat completion over a collection (docs/api.md#openai-compatible).
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    request_body(content = Object, description = "an OpenAI chat completions request; `model` names the collection"),
    responses((status = 200, description = "an OpenAI chat.completion, or chat.completion.chunk events when streaming; plus `citations`"),
              (status = 400, body = ErrorBody, description = "a missing, invalid or unsupported parameter (named in `param`)"),
              (status = 404, body = ErrorBody, description = "the model names no collection of this tenant"),
              (status = 503, body = ErrorBody, description = "the chat model, the embedding API or the database is unavailable: retry later")))]
pub async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let request = parse(body)?;
    let collection = collection_for(&state, &caller.tenant, &request.model).await?;
    let question = chat::question(
        Some(request.messages),
        None,
        request.filter.as_ref(),
        request.top_k,
        request.principals,
    )?;
    let slot = request
        .stream
        .then(|| chat::stream_slot(&state))
        .transpose()?;
    let mut prepared = chat::prepare(&state, &collection, &question).await?;
    if let Some(max) = request.max_tokens {
        prepared.max_tokens = Some(max);
    }
    if let Some(t) = request.temperature {
        prepared.temperature = Some(t);
    }
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = now();
    let model = request.model;

    let Some(slot) = slot else {
        let answer = chat::answer(&state, &caller.tenant, prepared).await?;
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": answer.answer, "refusal": null },
                "finish_reason": answer.finish_reason.as_deref().unwrap_or("stop"),
                "logprobs": null,
            }],
            "usage": answer.usage,
            "citations": answer.citations,
            "adbrag": {
                "found": answer.found,
                "extractive": answer.extractive,
                "query": answer.query,
                "history_trimmed": answer.history_trimmed,
                "dropped_citations": answer.dropped_citations,
                "timings": answer.timings,
            },
        }))
        .into_response());
    };

    let include_usage = request.include_usage;
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish, "logprobs": null }],
        })
    };
    let mut held = Value::Null;
    let events = chat::observed(&state, caller.tenant, slot, prepared).flat_map(move |event| {
        let data: Vec<Value> = match event {
            Event::Retrieval { history_trimmed, .. } => {
                let mut first = chunk(json!({ "role": "assistant", "content": "" }), None);
                first["adbrag"] = json!({ "history_trimmed": history_trimmed });
                vec![first]
            }
            Event::Delta { text } => vec![chunk(json!({ "content": text }), None)],
            Event::Citations { citations, dropped_citations } => {
                // Held until `done` brings the finish reason: they travel in the last chunk.
                held = json!({ "citations": citations, "dropped_citations": dropped_citations });
                vec![]
            }
            Event::Done { finish_reason, usage, .. } => {
                let mut last = chunk(json!({}), Some(finish_reason.as_deref().unwrap_or("stop")));
                last["citations"] = held["citations"].take();
                last["adbrag"] = json!({ "dropped_citations": held["dropped_citations"].take() });
                let mut out = vec![last];
                if include_usage {
                    let mut usage_chunk = chunk(json!({}), None);
                    usage_chunk["choices"] = json!([]);
                    usage_chunk["usage"] = json!(usage);
                    out.push(usage_chunk);
                }
                out.push(Value::String("[DONE]".to_owned()));
                out
            }
            Event::Error { code, message, .. } => {
                vec![json!({ "error": { "message": message, "type": "server_error", "param": null, "code": code } })]
            }
        };
        futures::stream::iter(data.into_iter().map(|value| {
            let event = match value {
                Value::String(done) => SseEvent::default().data(done),
                value => SseEvent::default().data(value.to_string()),
            };
            Ok::<_, Infallible>(event)
        }))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The collections this key can ask, as OpenAI models: `<collection>` and
/// `<collection>:<chat model>`.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, description = "an OpenAI model list"),
              (status = 401, body = ErrorBody, description = "a missing, malformed, unknown or revoked API key")))]
pub async fn models(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let chat_model = state.answerer.model_name();
    let data: Vec<Value> = collections::list(&state.pool, &caller.tenant)
        .await?
        .into_iter()
        .flat_map(|collection| {
            let created = collection.created_at.timestamp();
            [
                collection.name.clone(),
                format!("{}:{chat_model}", collection.name),
            ]
            .map(|id| json!({ "id": id, "object": "model", "created": created, "owned_by": collection.tenant }))
        })
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })).into_response())
}
