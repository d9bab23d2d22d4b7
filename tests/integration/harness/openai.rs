//! An in-process fake of Model Studio's OpenAI-compatible API: a real axum server on 127.0.0.1:0.
//!
//! It serves `POST /embeddings` and `POST /chat/completions` (JSON and SSE) the way the provider
//! does — including its limits (at most 10 embedding inputs per request) and its error bodies — and
//! can be told to misbehave: answer an HTTP error (429 with `Retry-After`, 500, 400), answer slowly,
//! send malformed JSON or vectors of the wrong size, cut a stream short, or refuse requests beyond
//! a concurrency limit. It records every request so tests can assert what the client sent.
//!
//! Chat requests that carry an image (Model Studio's OCR models, `qwen-vl-ocr`) are checked as
//! the provider documents them — a base64 data URL whose media type matches the image, at most
//! 10 MB of base64, `min_pixels`/`max_pixels` beside `image_url`, and a text prompt — and answered
//! with the text a test registered for that image ([`FakeOpenAi::ocr_reads`]).

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::serve::ListenerExt;
use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Model Studio answers at most this many embedding inputs per request.
pub const MAX_EMBEDDING_BATCH: usize = 10;

/// One scripted misbehaviour, used by the next request (of either endpoint) and then discarded.
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
    MalformedJson,
    /// Embeddings of this many dimensions, whatever was asked.
    WrongDimensions(usize),
    /// A stream that ends after this many content deltas, without `finish_reason` or `[DONE]`.
    CutStream { after_deltas: usize },
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: &'static str,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    /// Each fault with the endpoint it is for (`None`: whichever request comes next).
    faults: Mutex<VecDeque<(Option<&'static str>, Fault)>>,
    recorded: Mutex<Vec<Recorded>>,
    reply: Mutex<String>,
    /// (needle, reply): a chat request whose body contains the needle gets that reply.
    scripted_replies: Mutex<Vec<(String, String)>>,
    stream_delay: Mutex<Option<Duration>>,
    streams_finished: AtomicUsize,
    streams_abandoned: AtomicUsize,
    concurrency_limit: Mutex<Option<usize>>,
    every_request_delay: Mutex<Option<Duration>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    throttled: AtomicUsize,
    /// (SHA-256 of an image, the text OCR reads in it).
    ocr_texts: Mutex<Vec<([u8; 32], String)>>,
}

pub struct FakeOpenAi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            reply: Mutex::new("The answer is in the documents [1].".to_owned()),
            ..Shared::default()
        });
        let app = Router::new()
            .route("/embeddings", post(embeddings))
            .route("/chat/completions", post(chat))
            // The provider takes 10 MB of base64 per image; axum's default is 2 MB.
            .layer(axum::extract::DefaultBodyLimit::max(24 << 20))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener.tap_io(|tcp| drop(tcp.set_nodelay(true))), app)
                .await
                .unwrap();
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The base URL a client is configured with (like `…/compatible-mode/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push_fault(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push_back((None, fault));
    }

    /// A fault for the next chat completions request only (embeddings pass untouched).
    pub fn push_chat_fault(&self, fault: Fault) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .push_back((Some("/chat/completions"), fault));
    }

    /// The assistant's reply for the next chat completions.
    pub fn set_reply(&self, reply: &str) {
        *self.shared.reply.lock().unwrap() = reply.to_owned();
    }

    /// A chat request whose body contains `needle` is answered with `reply` instead.
    pub fn reply_when(&self, needle: &str, reply: &str) {
        self.shared
            .scripted_replies
            .lock()
            .unwrap()
            .push((needle.to_owned(), reply.to_owned()));
    }

    /// An OCR request for `image` (its exact bytes) is answered with `text`.
    pub fn ocr_reads(&self, image: &[u8], text: &str) {
        self.shared
            .ocr_texts
            .lock()
            .unwrap()
            .push((sha256(image), text.to_owned()));
    }

    /// Wait this long before each streamed chunk (a model writing slowly).
    pub fn stream_slowly(&self, delay: Duration) {
        *self.shared.stream_delay.lock().unwrap() = Some(delay);
    }

    /// Streams sent to the end.
    pub fn streams_finished(&self) -> usize {
        self.shared.streams_finished.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before the end (the connection was dropped).
    pub fn streams_abandoned(&self) -> usize {
        self.shared.streams_abandoned.load(Ordering::SeqCst)
    }

    /// Take this long to answer every request (a model's latency), on top of any scripted fault.
    pub fn delay_every_request(&self, delay: Duration) {
        *self.shared.every_request_delay.lock().unwrap() = Some(delay);
    }

    /// Answer 429 `Throttling` to any request beyond `limit` in flight at once.
    pub fn limit_concurrency(&self, limit: usize) {
        *self.shared.concurrency_limit.lock().unwrap() = Some(limit);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// Requests answered 429 because of the concurrency limit.
    pub fn throttled(&self) -> usize {
        self.shared.throttled.load(Ordering::SeqCst)
    }

    /// The most requests that were ever in flight at once (and admitted).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A deterministic embedding with some meaning: each word (lower-cased; each CJK character on its
/// own) adds to a hashed bucket, and the result is L2-normalised, so texts sharing words are close.
pub fn fake_embedding(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dimensions.max(1)];
    let lower = text.to_lowercase();
    let words = lower
        .split(|c: char| !c.is_alphanumeric())
        .flat_map(|word| {
            if word.chars().any(|c| c as u32 >= 0x2E80) {
                word.chars().map(String::from).collect::<Vec<_>>()
            } else {
                vec![word.to_owned()]
            }
        })
        .filter(|word| !word.is_empty());
    for word in words {
        // FNV-1a: stable across runs and platforms, unlike the std hasher.
        let hash = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let bucket = (hash % vector.len() as u64) as usize;
        vector[bucket] += if hash & (1 << 63) == 0 { 1.0 } else { -1.0 };
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        vector[0] = 1.0;
    } else {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Counts a request in flight for as long as it lives.
/// Counts a stream as finished or abandoned when the server drops it.
struct StreamProgress {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for StreamProgress {
    fn drop(&mut self) {
        let counter = if self.finished {
            &self.shared.streams_finished
        } else {
            &self.shared.streams_abandoned
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Records the request, applies the concurrency limit and any scripted fault. `Err` is the response
/// to send instead of a normal answer; `Ok` carries a fault that shapes the normal answer.
async fn admit(
    shared: &Arc<Shared>,
    path: &'static str,
    body: &Value,
) -> Result<(InFlight, Option<Fault>), Response> {
    shared.recorded.lock().unwrap().push(Recorded {
        path,
        body: body.clone(),
    });
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let guard = InFlight(shared.clone());
    let limit = *shared.concurrency_limit.lock().unwrap();
    if limit.is_some_and(|limit| now > limit) {
        shared.throttled.fetch_add(1, Ordering::SeqCst);
        return Err(provider_error(429, "Throttling", Some(1)));
    }
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let latency = *shared.every_request_delay.lock().unwrap();
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut faults = shared.faults.lock().unwrap();
        faults
            .iter()
            .position(|(only, _)| only.is_none_or(|only| only == path))
            .and_then(|at| faults.remove(at))
            .map(|(_, fault)| fault)
    };
    match fault {
        Some(Fault::Status {
            status,
            code,
            retry_after,
        }) => Err(provider_error(status, code, retry_after)),
        Some(Fault::MalformedJson) => Err((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"object\": \"list\", \"data\": [",
        )
            .into_response()),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok((guard, None))
        }
        other => Ok((guard, other)),
    }
}

fn provider_error(status: u16, code: &str, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "error": {
            "message": format!("fake provider error: {code}"),
            "type": code,
            "param": null,
            "code": code,
        },
        "request_id": "fake-request",
    });
    let mut response = (status, Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn embeddings(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    let (_in_flight, fault) = match admit(&shared, "/embeddings", &body).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let inputs: Vec<String> = match &body["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => return provider_error(400, "InvalidParameter", None),
    };
    if inputs.is_empty() || inputs.len() > MAX_EMBEDDING_BATCH {
        return provider_error(400, "InvalidParameter", None);
    }
    let dimensions = match fault {
        Some(Fault::WrongDimensions(n)) => n,
        _ => body["dimensions"].as_u64().unwrap_or(1024) as usize,
    };
    let tokens: usize = inputs
        .iter()
        .map(|text| text.split_whitespace().count().max(1))
        .sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({ "object": "embedding", "index": index, "embedding": fake_embedding(text, dimensions) })
        })
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
    .into_response()
}

async fn chat(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    let (in_flight, fault) = match admit(&shared, "/chat/completions", &body).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let ocr = match ocr_reply(&shared, &body) {
        Ok(ocr) => ocr,
        Err(response) => return *response,
    };
    let text = body.to_string();
    let scripted = shared
        .scripted_replies
        .lock()
        .unwrap()
        .iter()
        .find(|(needle, _)| text.contains(needle.as_str()))
        .map(|(_, reply)| reply.clone());
    let reply = ocr
        .or(scripted)
        .unwrap_or_else(|| shared.reply.lock().unwrap().clone());
    let model = body["model"].as_str().unwrap_or("fake").to_owned();
    let prompt_tokens = body.to_string().split_whitespace().count();
    let completion_tokens = reply.split_whitespace().count();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    if body["stream"].as_bool() != Some(true) {
        return Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": reply },
                "finish_reason": "stop",
            }],
            "usage": usage,
        }))
        .into_response();
    }

    let chunk = |delta: Value, finish: Option<&str>| {
        json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    };
    let mut events = vec![
        chunk(json!({ "role": "assistant", "content": "" }), None),
        chunk(
            json!({ "reasoning_content": "Looking at the passages." }),
            None,
        ),
    ];
    let words: Vec<String> = reply.split_inclusive(' ').map(str::to_owned).collect();
    let cut = match fault {
        Some(Fault::CutStream { after_deltas }) => Some(after_deltas),
        _ => None,
    };
    for word in words.iter().take(cut.unwrap_or(usize::MAX)) {
        events.push(chunk(json!({ "content": word }), None));
    }
    let mut lines: Vec<String> = events.iter().map(Value::to_string).collect();
    if cut.is_none() {
        lines.push(chunk(json!({}), Some("stop")).to_string());
        if body["stream_options"]["include_usage"].as_bool() == Some(true) {
            lines.push(
                json!({
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                })
                .to_string(),
            );
        }
        lines.push("[DONE]".to_owned());
    }
    // Server-sent events as the provider writes them; a cut stream ends with a transport error, as
    // a dropped upstream connection does.
    let events = futures::stream::iter(lines)
        .map(|line| Ok::<_, std::io::Error>(format!("data: {line}\n\n")));
    let cut_off = futures::stream::iter(cut).then(|_| async {
        // Let the server flush what was sent so far, then drop the connection.
        tokio::task::yield_now().await;
        Err(std::io::Error::other("connection reset by the fake"))
    });
    let delay = *shared.stream_delay.lock().unwrap();
    let progress = StreamProgress {
        shared: shared.clone(),
        finished: false,
    };
    let stream = events
        .then(move |event| async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            event
        })
        .chain(cut_off)
        .chain(futures::stream::once(async {
            Ok::<_, std::io::Error>(String::new())
        }))
        .scan(progress, |progress, event| {
            // The empty marker after the last event: the whole stream was taken.
            if matches!(&event, Ok(line) if line.is_empty()) {
                progress.finished = true;
            }
            std::future::ready(Some(event))
        })
        .map(move |event| {
            let _counted_until_sent = &in_flight;
            event
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// For a request with an image: the registered text (empty when none is), after checking the
/// request as Model Studio would; `Ok(None)` for a request without one.
fn ocr_reply(shared: &Shared, body: &Value) -> Result<Option<String>, Box<Response>> {
    use base64::Engine as _;
    let Some(parts) = body["messages"][0]["content"].as_array() else {
        return Ok(None);
    };
    let Some(image) = parts.iter().find(|part| part["type"] == "image_url") else {
        return Ok(None);
    };
    let invalid = |message: &str| {
        let mut response = provider_error(400, "InvalidParameter", None);
        *response.body_mut() = Body::from(
            json!({ "error": { "code": "InvalidParameter", "message": message, "type": "invalid_request_error" } })
                .to_string(),
        );
        Box::new(response)
    };
    if body["messages"].as_array().map(Vec::len) != Some(1) || body["messages"][0]["role"] != "user"
    {
        return Err(invalid("Qwen-OCR takes one user message"));
    }
    if !parts
        .iter()
        .any(|part| part["type"] == "text" && part["text"].is_string())
    {
        return Err(invalid("no text prompt"));
    }
    if !image["min_pixels"].is_u64() || !image["max_pixels"].is_u64() {
        return Err(invalid("min_pixels and max_pixels belong beside image_url"));
    }
    let url = image["image_url"]["url"].as_str().unwrap_or_default();
    let Some((media, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    else {
        return Err(invalid("The provided URL does not appear to be valid"));
    };
    if data.len() > 10_485_760 {
        return Err(invalid(
            "Exceeded limit on max bytes per data-uri item : 10485760",
        ));
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
        return Err(invalid(
            "Failed to decode the image during the data inspection.",
        ));
    };
    let matches = match media {
        "image/png" => bytes.starts_with(b"\x89PNG"),
        "image/jpeg" => bytes.starts_with(b"\xFF\xD8"),
        "image/tiff" => bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*"),
        _ => false,
    };
    if !matches {
        return Err(invalid(
            "The media format is not supported or incorrect for the data inspection.",
        ));
    }
    let hash = sha256(&bytes);
    Ok(Some(
        shared
            .ocr_texts
            .lock()
            .unwrap()
            .iter()
            .find(|(known, _)| *known == hash)
            .map(|(_, text)| text.clone())
            .unwrap_or_default(),
    ))
}
