//! An in-process fake of Model Studio's two rerank APIs: a real axum server on 127.0.0.1:0.
//!
//! It serves the DashScope native `POST /api/v1/services/rerank/text-rerank/text-rerank` and the
//! OpenAI-compatible `POST /compatible-api/v1/reranks`, each with its own request and answer shape
//! and its own error body, and refuses a request of the other shape (or over 500 documents) with
//! 400 as the provider does. Documents are scored by a rule tests can predict ([`fake_order`]):
//! the share of the query's words a document contains, ties by position.
//!
//! It can be told to misbehave, one scripted [`Fault`] per request: an HTTP error (429 with
//! `Retry-After`, 500, 401, …), a delay, a body that is not JSON, results pointing past the
//! documents, a document ranked twice, or fewer results than asked. Every request is recorded with
//! its `Authorization` header.

use std::{
    collections::{HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const DASHSCOPE_PATH: &str = "/api/v1/services/rerank/text-rerank/text-rerank";
pub const COMPATIBLE_PATH: &str = "/compatible-api/v1/reranks";
/// Model Studio reranks at most this many documents a request.
pub const MAX_DOCUMENTS: usize = 500;

/// One scripted misbehaviour, used by the next request and then discarded.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An error status with the provider's error body; `retry_after` sets the `Retry-After` header.
    Status {
        status: u16,
        code: &'static str,
        retry_after: Option<u64>,
    },
    /// Answer normally, after this long.
    Delay(Duration),
    /// A 200 whose body is not JSON.
    MalformedBody,
    /// A result whose index is the number of documents sent (one past the last).
    OutOfRangeIndex,
    /// The best document listed twice.
    DuplicateIndex,
    /// Only this many results, whatever `top_n` asked.
    FewerResults(usize),
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: &'static str,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    faults: Mutex<VecDeque<Fault>>,
    recorded: Mutex<Vec<Recorded>>,
}

pub struct FakeRerank {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeRerank {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route(DASHSCOPE_PATH, post(dashscope))
            .route(COMPATIBLE_PATH, post(compatible))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The API root a client is configured with (like `https://dashscope-intl.aliyuncs.com`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push_fault(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push_back(fault);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }
}

impl Drop for FakeRerank {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Lower-cased words (each CJK character on its own).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .flat_map(|word| {
            if word.chars().any(|c| c as u32 >= 0x2E80) {
                word.chars().map(String::from).collect::<Vec<_>>()
            } else {
                vec![word.to_owned()]
            }
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// The fake's relevance score: the share of the query's distinct words the document contains.
pub fn fake_score(query: &str, document: &str) -> f64 {
    let query: HashSet<String> = words(query).into_iter().collect();
    if query.is_empty() {
        return 0.0;
    }
    let document: HashSet<String> = words(document).into_iter().collect();
    query.intersection(&document).count() as f64 / query.len() as f64
}

/// The order the fake ranks `documents` in: best score first, ties by position.
pub fn fake_order(query: &str, documents: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..documents.len()).collect();
    order.sort_by(|&a, &b| {
        fake_score(query, &documents[b])
            .total_cmp(&fake_score(query, &documents[a]))
            .then(a.cmp(&b))
    });
    order
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    DashScope,
    Compatible,
}

/// Each API's own error body: the native `{code, message, request_id}`, the compatible OpenAI shape.
fn provider_error(shape: Shape, status: u16, code: &str, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = format!("fake provider error: {code}");
    let body = match shape {
        Shape::DashScope => {
            json!({ "code": code, "message": message, "request_id": "fake-request" })
        }
        Shape::Compatible => json!({
            "error": { "message": message, "type": code, "param": null, "code": code },
            "request_id": "fake-request",
        }),
    };
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn dashscope(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    answer(&shared, Shape::DashScope, &headers, body).await
}

async fn compatible(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    answer(&shared, Shape::Compatible, &headers, body).await
}

async fn answer(shared: &Shared, shape: Shape, headers: &HeaderMap, body: Value) -> Response {
    shared.recorded.lock().unwrap().push(Recorded {
        path: match shape {
            Shape::DashScope => DASHSCOPE_PATH,
            Shape::Compatible => COMPATIBLE_PATH,
        },
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
    let fault = shared.faults.lock().unwrap().pop_front();
    match fault {
        Some(Fault::Status {
            status,
            code,
            retry_after,
        }) => return provider_error(shape, status, code, retry_after),
        Some(Fault::MalformedBody) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"output\": {\"results\": [",
            )
                .into_response();
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }

    // Each API reads its own shape; the other one is refused as the provider refuses it.
    let (query, documents, top_n, return_documents) = match shape {
        Shape::DashScope => (
            &body["input"]["query"],
            &body["input"]["documents"],
            &body["parameters"]["top_n"],
            body["parameters"]["return_documents"].as_bool() == Some(true),
        ),
        Shape::Compatible => (
            &body["query"],
            &body["documents"],
            &body["top_n"],
            body["return_documents"].as_bool() == Some(true),
        ),
    };
    let model = body["model"].as_str().unwrap_or_default();
    let (Some(query), Some(documents)) = (query.as_str(), documents.as_array()) else {
        return provider_error(shape, 400, "InvalidParameter", None);
    };
    let documents: Option<Vec<String>> = documents
        .iter()
        .map(|document| document.as_str().map(str::to_owned))
        .collect();
    let Some(documents) = documents else {
        return provider_error(shape, 400, "InvalidParameter", None);
    };
    if model.is_empty()
        || query.is_empty()
        || documents.is_empty()
        || documents.len() > MAX_DOCUMENTS
        || (shape == Shape::Compatible && !model.starts_with("qwen3-rerank"))
    {
        return provider_error(shape, 400, "InvalidParameter", None);
    }
    let top_n = top_n
        .as_u64()
        .map_or(documents.len(), |n| n as usize)
        .min(documents.len());
    let top_n = match &fault {
        Some(Fault::FewerResults(n)) => top_n.min(*n),
        _ => top_n,
    };
    let mut results: Vec<Value> = fake_order(query, &documents)
        .into_iter()
        .take(top_n)
        .map(|index| {
            let mut result = json!({
                "index": index,
                "relevance_score": fake_score(query, &documents[index]),
            });
            if return_documents {
                result["document"] = json!({ "text": documents[index] });
            }
            result
        })
        .collect();
    match fault {
        Some(Fault::OutOfRangeIndex) => {
            results.push(json!({ "index": documents.len(), "relevance_score": 0.0 }));
        }
        Some(Fault::DuplicateIndex) => {
            if let Some(first) = results.first().cloned() {
                results.push(first);
            }
        }
        _ => {}
    }
    let tokens: usize = std::iter::once(query)
        .chain(documents.iter().map(String::as_str))
        .map(|text| words(text).len().max(1))
        .sum();
    let usage = json!({ "total_tokens": tokens });
    Json(match shape {
        Shape::DashScope => json!({
            "output": { "results": results },
            "usage": usage,
            "request_id": "fake-request",
        }),
        Shape::Compatible => json!({
            "id": "fake-rerank",
            "object": "list",
            "model": model,
            "results": results,
            "usage": usage,
        }),
    })
    .into_response()
}
