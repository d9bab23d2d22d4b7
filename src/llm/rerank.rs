//! Reranking through Alibaba Cloud Model Studio: a cross-encoder reads the query with each
//! candidate passage and scores how well the passage answers it, which orders the top hits of the
//! hybrid search better than fused ranks can.
//!
//! # The wire shapes, as documented
//!
//! Checked against Model Studio's "Text rerank" API reference
//! (alibabacloud.com/help/en/model-studio/text-rerank-api, and its Chinese edition
//! help.aliyun.com/zh/model-studio/text-rerank-api), the "Rerank" guide
//! (alibabacloud.com/help/en/model-studio/rerank) and Qwen Cloud's "OpenAI compatible reranking"
//! reference (docs.qwencloud.com/api-reference/rerank/openai-rerank):
//!
//! - **DashScope native** ([`RerankApi::DashScope`]):
//!   `POST {root}/api/v1/services/rerank/text-rerank/text-rerank`, body
//!   `{"model", "input": {"query", "documents": [string…]}, "parameters": {"top_n", "return_documents"}}`;
//!   answer `{"output": {"results": [{"index", "relevance_score", "document"?}]}, "usage": {"total_tokens"}, "request_id"}`.
//!   Serves gte-rerank-v2 and (Beijing) qwen3-rerank and qwen3-vl-rerank.
//! - **OpenAI-compatible** ([`RerankApi::Compatible`]): `POST {root}/compatible-api/v1/reranks`,
//!   body `{"model", "query", "documents", "top_n", "instruct"?}`; answer
//!   `{"id", "object": "list", "model", "results": [{"index", "relevance_score", "document"?}], "usage": {"total_tokens"}}`.
//!   qwen3-rerank only. Unlike the native answer it shows no `request_id`.
//! - **Limits**: qwen3-rerank and gte-rerank-v2 take at most 500 documents a request and read at
//!   most 4,000 tokens of the query and of each document (longer input is *truncated*, not
//!   refused). A request may hold query tokens × documents + all document tokens of at most
//!   30,000 (gte-rerank-v2) or, for qwen3-rerank, 120,000 in Singapore (March and June 2026
//!   editions; the January edition and the Chinese page for Beijing say 30,000); beyond that the
//!   request is refused. qwen3-vl-rerank takes 100 texts. `top_n` larger than the document count
//!   returns them all.
//!   The older gte-rerank (v1) is discontinued on 30 May 2026.
//! - **Errors**: the native API answers an HTTP status with `{"code", "message", "request_id"}`
//!   (DashScope's status-code reference: 400 `InvalidParameter`, 401 `InvalidApiKey`, 429
//!   `Throttling`, `Throttling.RateQuota`, `Throttling.AllocationQuota`, 500 `InternalError`, …).
//!   The compatible API's error body is not shown on its page; adbrag reads the OpenAI shape
//!   `{"error": {"message", "type", "code"}}` that Model Studio's other compatible endpoints use,
//!   and the native shape, whichever comes.
//!
//! adbrag sends `return_documents: false` (it has the texts) and no `instruct` (the documented
//! default is question-answer retrieval, which is what search needs).
//!
//! # Transport
//!
//! Requests go through [`super::transport`], the same sender the embedder and the chat model use:
//! 429, 5xx, timeouts and refused connections are retried with backoff and `Retry-After`; other
//! 4xx are final. On top of that, the whole call — every attempt and backoff — is bounded by
//! [`RerankSettings::timeout`], because reranking is an optional step of a search and must not hold
//! one up for long. The API key is sent as a Bearer header marked sensitive; it is never logged,
//! and no `Debug` output or error text contains it.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_openai::{
    error::{ApiError, ApiErrorResponse, OpenAIError},
    middleware::HttpRequestFactory,
};
use async_trait::async_trait;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::counter::ConstCounter,
};
use reqwest::{
    StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{
    Usage,
    transport::{self, AdaptiveLimit, Failure, RetryPolicy, TransportError},
};

/// Most documents Model Studio's rerank models accept in one request.
pub const MAX_DOCUMENTS: usize = 500;
/// The model used when none is configured: served in Singapore and Beijing, on both APIs.
pub const DEFAULT_MODEL: &str = "qwen3-rerank";
/// Hits sent to the reranker by default.
pub const DEFAULT_TOP_N: usize = 20;
/// The longest reranking may add to a search by default, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts by default, the first included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Rerank requests in flight at once across the process (fewer while the provider throttles).
const MAX_IN_FLIGHT: usize = 32;
/// Longest response body read; a rerank answer without documents is a few dozen bytes a result.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// One document's place in the reranker's order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ranked {
    /// Position of the document in the list that was sent.
    pub index: usize,
    /// The model's relevance score (higher is more relevant).
    pub score: f64,
}

/// Orders documents by their relevance to a query.
///
/// Contract: `rerank` returns at most `top_n` entries, best first; each `index` is below
/// `documents.len()`, no index appears twice, and every score is finite. It may return fewer than
/// `top_n` (documents left out are less relevant than those returned). Retries and time limits
/// are the implementation's business; an `Err` means the caller should keep its own order.
#[async_trait]
pub trait Reranker: Send + Sync {
    fn model(&self) -> &str;
    async fn rerank(
        &self,
        query: &str,
        documents: &[String],
        top_n: usize,
    ) -> Result<Vec<Ranked>, RerankError>;
    /// Counters since start-up.
    fn usage(&self) -> &RerankUsage;
}

/// Why a rerank call gave no order. Each message says what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RerankError {
    /// The provider refused the request; the same request would be refused again.
    #[error("the rerank API refused the request ({status}{code}): {message}: {hint}")]
    Rejected {
        status: u16,
        /// The provider's error code with a leading space, or empty.
        code: String,
        message: String,
        hint: &'static str,
    },
    /// Throttling, server errors or a broken connection outlasted every retry.
    #[error(
        "the rerank API kept failing ({0}): it is throttled or unavailable; retry later, or raise ADBRAG_RERANK_TIMEOUT to allow more retries"
    )]
    Unavailable(String),
    /// The whole call, retries included, took longer than the configured timeout.
    #[error(
        "the rerank API did not answer within the {0:?} timeout: raise ADBRAG_RERANK_TIMEOUT, lower ADBRAG_RERANK_TOP_N, or check that ADBRAG_RERANK_BASE_URL is reachable"
    )]
    Timeout(Duration),
    /// A success status with a body that is not a valid rerank answer.
    #[error(
        "the rerank API answered something that is not a valid rerank response ({0}): check that ADBRAG_RERANK_API (dashscope or compatible) matches the endpoint and model"
    )]
    BadResponse(String),
    #[error(
        "{got} documents to rerank, more than the {MAX_DOCUMENTS} Model Studio accepts in one request: lower ADBRAG_RERANK_TOP_N"
    )]
    TooManyDocuments { got: usize },
}

impl RerankError {
    /// A short machine-readable name, for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RerankError::Rejected { .. } => "rerank_rejected",
            RerankError::Unavailable(_) => "rerank_unavailable",
            RerankError::Timeout(_) => "rerank_timeout",
            RerankError::BadResponse(_) => "rerank_bad_response",
            RerankError::TooManyDocuments { .. } => "rerank_too_many_documents",
        }
    }
}

/// Which of Model Studio's two rerank protocols to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RerankApi {
    /// `POST …/api/v1/services/rerank/text-rerank/text-rerank` (gte-rerank-v2, qwen3-rerank, qwen3-vl-rerank).
    #[value(name = "dashscope")]
    DashScope,
    /// `POST …/compatible-api/v1/reranks` (qwen3-rerank only).
    #[value(name = "compatible")]
    Compatible,
}

impl RerankApi {
    /// The protocol a model is served on by default: qwen3-rerank on the OpenAI-compatible API
    /// (the one Model Studio's guide leads with), every other model (gte-rerank-v2,
    /// qwen3-vl-rerank, …) on the native API, which serves them all.
    pub fn for_model(model: &str) -> Self {
        if model.trim().starts_with("qwen3-rerank") {
            RerankApi::Compatible
        } else {
            RerankApi::DashScope
        }
    }

    /// The request path, below the API root.
    pub fn path(self) -> &'static str {
        match self {
            RerankApi::DashScope => "/api/v1/services/rerank/text-rerank/text-rerank",
            RerankApi::Compatible => "/compatible-api/v1/reranks",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RerankApi::DashScope => "dashscope",
            RerankApi::Compatible => "compatible",
        }
    }
}

impl fmt::Display for RerankApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to reach the reranker. Reranking is off unless `base_url` is set.
///
/// `Debug` shows whether a key is set, never the key.
#[derive(Debug, Clone)]
pub struct RerankSettings {
    /// The API root, e.g. `https://dashscope-intl.aliyuncs.com`; adbrag appends the path of
    /// [`RerankApi::path`]. A root pasted with `/api/v1`, `/compatible-api/v1` or
    /// `/compatible-mode/v1` at its end is accepted: the suffix is dropped.
    pub base_url: Option<String>,
    pub model: String,
    pub api_key: Option<SecretString>,
    /// `None`: chosen from the model's name ([`RerankApi::for_model`]).
    pub api: Option<RerankApi>,
    /// Hits sent to the reranker (1 to [`MAX_DOCUMENTS`]); hits beyond keep their order after them.
    pub top_n: usize,
    /// The longest reranking may take, every retry included; past it the hits keep their order.
    pub timeout: Duration,
    /// Attempts in all, the first included (within `timeout`).
    pub max_attempts: u32,
}

impl Default for RerankSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            model: DEFAULT_MODEL.to_owned(),
            api_key: None,
            api: None,
            top_n: DEFAULT_TOP_N,
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RerankSetupError {
    #[error(
        "ADBRAG_RERANK_BASE_URL is invalid ({0}): use the API root, e.g. https://dashscope-intl.aliyuncs.com (adbrag appends the rerank path)"
    )]
    InvalidEndpoint(String),
    #[error(
        "ADBRAG_RERANK_BASE_URL points at Model Studio but no API key is set: set ADBRAG_RERANK_API_KEY (or DASHSCOPE_API_KEY), or unset ADBRAG_RERANK_BASE_URL to search without reranking"
    )]
    MissingKey,
    #[error(
        "the rerank API key cannot be sent in an HTTP header (it holds a control character or non-ASCII text): copy the key again"
    )]
    InvalidKey,
    #[error(
        "ADBRAG_RERANK_MODEL is empty: name a rerank model, e.g. qwen3-rerank or gte-rerank-v2"
    )]
    EmptyModel,
    #[error(
        "ADBRAG_RERANK_TOP_N is {0}: it must be between 1 and {MAX_DOCUMENTS} (the most documents Model Studio reranks in one request)"
    )]
    TopN(usize),
    #[error("ADBRAG_RERANK_TIMEOUT must be more than zero")]
    ZeroTimeout,
    #[error("cannot build the HTTP client for reranking: {0}")]
    Client(String),
}

/// The configured reranker, or `None` when no `base_url` is set (reranking is off).
pub fn reranker(settings: &RerankSettings) -> Result<Option<Arc<dyn Reranker>>, RerankSetupError> {
    let Some(base_url) = settings
        .base_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
    else {
        return Ok(None);
    };
    let reranker = ModelStudioReranker::new(base_url, settings)?;
    tracing::info!(
        model = reranker.model,
        api = %reranker.api,
        endpoint = %reranker.url,
        top_n = settings.top_n,
        timeout = ?settings.timeout,
        "reranking search hits"
    );
    Ok(Some(Arc::new(reranker)))
}

/// Model Studio's reranker, over either protocol.
pub struct ModelStudioReranker {
    http: reqwest::Client,
    url: url::Url,
    api: RerankApi,
    model: String,
    /// `Bearer <key>`, marked sensitive so reqwest never prints it.
    authorization: Option<HeaderValue>,
    policy: RetryPolicy,
    timeout: Duration,
    limit: Arc<AdaptiveLimit>,
    usage: RerankUsage,
}

impl fmt::Debug for ModelStudioReranker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelStudioReranker")
            .field("url", &self.url.as_str())
            .field("api", &self.api)
            .field("model", &self.model)
            .field(
                "api_key",
                &if self.authorization.is_some() {
                    "[redacted]"
                } else {
                    "none"
                },
            )
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.policy.max_attempts)
            .finish_non_exhaustive()
    }
}

impl ModelStudioReranker {
    pub fn new(base_url: &str, settings: &RerankSettings) -> Result<Self, RerankSetupError> {
        let model = settings.model.trim().to_owned();
        if model.is_empty() {
            return Err(RerankSetupError::EmptyModel);
        }
        if !(1..=MAX_DOCUMENTS).contains(&settings.top_n) {
            return Err(RerankSetupError::TopN(settings.top_n));
        }
        if settings.timeout.is_zero() {
            return Err(RerankSetupError::ZeroTimeout);
        }
        let api = settings.api.unwrap_or_else(|| RerankApi::for_model(&model));
        let root = api_root(base_url)?;
        let url = url::Url::parse(&format!("{root}{}", api.path()))
            .map_err(|err| RerankSetupError::InvalidEndpoint(err.to_string()))?;
        let authorization = match &settings.api_key {
            Some(key) if !key.expose_secret().trim().is_empty() => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {}", key.expose_secret().trim()))
                        .map_err(|_| RerankSetupError::InvalidKey)?;
                value.set_sensitive(true);
                Some(value)
            }
            _ if url
                .host_str()
                .is_some_and(|host| host.ends_with(".aliyuncs.com")) =>
            {
                return Err(RerankSetupError::MissingKey);
            }
            _ => None,
        };
        let timeout = settings.timeout;
        let policy = RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            base_delay: Duration::from_millis(100),
            max_delay: timeout,
            timeout,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .read_timeout(timeout)
            .build()
            .map_err(|err| RerankSetupError::Client(err.to_string()))?;
        Ok(Self {
            http,
            url,
            api,
            model,
            authorization,
            policy,
            timeout,
            limit: AdaptiveLimit::new(MAX_IN_FLIGHT),
            usage: RerankUsage::default(),
        })
    }

    /// The protocol this reranker speaks.
    pub fn api(&self) -> RerankApi {
        self.api
    }

    fn body(&self, query: &str, documents: &[String], top_n: usize) -> Value {
        match self.api {
            RerankApi::DashScope => json!({
                "model": self.model,
                "input": { "query": query, "documents": documents },
                "parameters": { "top_n": top_n, "return_documents": false },
            }),
            RerankApi::Compatible => json!({
                "model": self.model,
                "query": query,
                "documents": documents,
                "top_n": top_n,
            }),
        }
    }

    /// A request that can be built again for each attempt.
    fn factory(&self, body: Vec<u8>) -> HttpRequestFactory {
        let http = self.http.clone();
        let url = self.url.clone();
        let authorization = self.authorization.clone();
        HttpRequestFactory::new(move || {
            let mut request = http
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(authorization) = &authorization {
                request = request.header(AUTHORIZATION, authorization.clone());
            }
            let request = request.build().map_err(OpenAIError::Reqwest);
            async move { request }
        })
    }

    /// One call, retries included: the answer's JSON, or why there is none.
    async fn send(&self, body: &Value) -> Result<Value, RerankError> {
        let body = serde_json::to_vec(body)
            .map_err(|err| RerankError::BadResponse(format!("cannot encode the request: {err}")))?;
        let service = transport::service(
            self.http.clone(),
            self.policy.clone(),
            self.usage.transport.clone(),
            self.limit.clone(),
        );
        let response = service
            .oneshot(self.factory(body))
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let bytes = read_body(response).await?;
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|err| {
            RerankError::BadResponse(format!(
                "the body is not JSON ({err}); it began {:?}",
                excerpt(&bytes)
            ))
        })
    }
}

#[async_trait]
impl Reranker for ModelStudioReranker {
    fn model(&self) -> &str {
        &self.model
    }

    async fn rerank(
        &self,
        query: &str,
        documents: &[String],
        top_n: usize,
    ) -> Result<Vec<Ranked>, RerankError> {
        if documents.is_empty() || top_n == 0 {
            return Ok(Vec::new());
        }
        if documents.len() > MAX_DOCUMENTS {
            return Err(RerankError::TooManyDocuments {
                got: documents.len(),
            });
        }
        let top_n = top_n.min(documents.len());
        self.usage.record_call();
        let started = Instant::now();
        let body = self.body(query, documents, top_n);
        let outcome = match tokio::time::timeout(self.timeout, self.send(&body)).await {
            Ok(Ok(answer)) => parse_answer(self.api, &answer, documents.len(), top_n),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(RerankError::Timeout(self.timeout)),
        };
        match outcome {
            Ok((ranked, tokens)) => {
                self.usage.record_reranked(documents.len() as u64, tokens);
                tracing::debug!(
                    model = self.model,
                    documents = documents.len(),
                    returned = ranked.len(),
                    tokens,
                    latency_ms = started.elapsed().as_millis() as u64,
                    "reranked"
                );
                Ok(ranked)
            }
            Err(err) => {
                self.usage.record_error();
                Err(err)
            }
        }
    }

    fn usage(&self) -> &RerankUsage {
        &self.usage
    }
}

/// The API root from a configured base URL: trailing slashes and a pasted API-version suffix go.
fn api_root(base_url: &str) -> Result<String, RerankSetupError> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let root = ["/compatible-api/v1", "/compatible-mode/v1", "/api/v1"]
        .iter()
        .find_map(|suffix| trimmed.strip_suffix(suffix))
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    match url::Url::parse(root) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Ok(root.to_owned())
        }
        Ok(url) => Err(RerankSetupError::InvalidEndpoint(format!(
            "scheme '{}' or no host",
            url.scheme()
        ))),
        Err(err) => Err(RerankSetupError::InvalidEndpoint(err.to_string())),
    }
}

/// A transport failure after the last attempt (no response to read).
fn transport_error(err: OpenAIError) -> RerankError {
    if let OpenAIError::Boxed(boxed) = &err
        && let Some(TransportError::Timeout(after)) = boxed.downcast_ref::<TransportError>()
    {
        return RerankError::Timeout(*after);
    }
    match transport::classify(err) {
        Failure::Rejected {
            status,
            code,
            message,
        } => RerankError::Rejected {
            status,
            code,
            message,
            hint: hint(status),
        },
        Failure::Unavailable(message) | Failure::Interrupted(message) => {
            RerankError::Unavailable(message)
        }
        Failure::Malformed(message) => RerankError::BadResponse(message),
    }
}

/// A final error status (retries are over), sorted by the transport's rules into what to do.
fn status_error(status: StatusCode, body: &[u8]) -> RerankError {
    let (code, message) = provider_error(body);
    transport_error(OpenAIError::ApiError(ApiErrorResponse {
        status_code: status,
        api_error: ApiError {
            message,
            code,
            ..ApiError::default()
        },
    }))
}

/// What to check after a refusal.
fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            "check the API key (ADBRAG_RERANK_API_KEY or DASHSCOPE_API_KEY), that it belongs to the region of ADBRAG_RERANK_BASE_URL, and that the model is activated for it"
        }
        404 => {
            "check ADBRAG_RERANK_BASE_URL (the API root) and ADBRAG_RERANK_API (qwen3-rerank is the only model on the compatible API)"
        }
        _ => {
            "check ADBRAG_RERANK_MODEL; a request beyond the model's token limit is refused too, so lower ADBRAG_RERANK_TOP_N if the hits are long"
        }
    }
}

/// The provider's error code and message, from either error shape (or the body's start).
fn provider_error(body: &[u8]) -> (Option<String>, String) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text = excerpt(body);
        return (
            None,
            if text.is_empty() {
                "no error message".to_owned()
            } else {
                text
            },
        );
    };
    let (code, message) = match value.get("error") {
        Some(error) if error.is_object() => (
            error["code"]
                .as_str()
                .or_else(|| error["type"].as_str())
                .map(str::to_owned),
            error["message"].as_str().map(str::to_owned),
        ),
        Some(Value::String(message)) => (None, Some(message.clone())),
        _ => (
            value["code"].as_str().map(str::to_owned),
            value["message"].as_str().map(str::to_owned),
        ),
    };
    let mut message = message.unwrap_or_else(|| excerpt(body));
    if let Some(id) = value["request_id"].as_str() {
        message.push_str(&format!(" (request_id {id})"));
    }
    (code.filter(|code| !code.is_empty()), message)
}

/// The body, read to its end but no further than [`MAX_BODY_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, RerankError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(RerankError::BadResponse(format!(
                        "the body is longer than {MAX_BODY_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) if err.is_timeout() => {
                return Err(RerankError::Unavailable(format!(
                    "the answer stalled while being read: {err}"
                )));
            }
            Err(err) => {
                return Err(RerankError::Unavailable(format!(
                    "the answer broke off while being read: {err}"
                )));
            }
        }
    }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(160).collect()
}

/// Checks an answer and turns it into ranks, best first, with the tokens it reports.
fn parse_answer(
    api: RerankApi,
    answer: &Value,
    documents: usize,
    top_n: usize,
) -> Result<(Vec<Ranked>, u64), RerankError> {
    let (results, field) = match api {
        RerankApi::DashScope => (&answer["output"]["results"], "output.results"),
        RerankApi::Compatible => (&answer["results"], "results"),
    };
    let Some(results) = results.as_array() else {
        return Err(RerankError::BadResponse(format!("no {field} array")));
    };
    if results.is_empty() && documents > 0 {
        return Err(RerankError::BadResponse(format!(
            "{field} is empty for {documents} documents"
        )));
    }
    let mut seen = vec![false; documents];
    let mut ranked = Vec::with_capacity(results.len());
    for (at, result) in results.iter().enumerate() {
        let Some(index) = result["index"].as_u64() else {
            return Err(RerankError::BadResponse(format!(
                "{field}[{at}] has no non-negative integer index"
            )));
        };
        let Some((index, slot)) = usize::try_from(index)
            .ok()
            .and_then(|index| Some((index, seen.get_mut(index)?)))
        else {
            return Err(RerankError::BadResponse(format!(
                "{field}[{at}] points at document {index}, but only {documents} were sent"
            )));
        };
        if *slot {
            return Err(RerankError::BadResponse(format!(
                "{field}[{at}] ranks document {index} a second time"
            )));
        }
        *slot = true;
        let score = match result["relevance_score"].as_f64() {
            Some(score) if score.is_finite() => score,
            _ => {
                return Err(RerankError::BadResponse(format!(
                    "{field}[{at}] has no finite relevance_score"
                )));
            }
        };
        ranked.push(Ranked { index, score });
    }
    // Best first whatever order the answer used; equal scores keep the order of the documents.
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    ranked.truncate(top_n);
    let tokens = answer["usage"]["total_tokens"].as_u64().unwrap_or(0);
    Ok((ranked, tokens))
}

/// What a reranker has done, for logs and metrics.
#[derive(Debug, Default)]
pub struct RerankUsage {
    calls: AtomicU64,
    errors: AtomicU64,
    documents: AtomicU64,
    tokens: AtomicU64,
    /// HTTP attempts, retries and throttling, counted by the transport.
    transport: Arc<Usage>,
}

impl RerankUsage {
    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_reranked(&self, documents: u64, tokens: u64) {
        self.documents.fetch_add(documents, Ordering::Relaxed);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> RerankUsageSnapshot {
        let transport = self.transport.snapshot();
        RerankUsageSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            requests: transport.requests,
            retries: transport.retries,
            throttled: transport.throttled,
            documents: self.documents.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RerankUsageSnapshot {
    /// Rerank calls (one per search that was reranked or tried to be).
    pub calls: u64,
    /// Calls that gave no order (the hits kept their hybrid order).
    pub errors: u64,
    /// HTTP attempts, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Attempts answered 429.
    pub throttled: u64,
    /// Documents reranked by successful calls.
    pub documents: u64,
    /// Tokens the provider reported.
    pub tokens: u64,
}

/// The reranker's counters for `/metrics`, read at scrape time:
/// `registry.register_collector(Box::new(UsageCollector(reranker.clone())))`.
pub struct UsageCollector(pub Arc<dyn Reranker>);

impl fmt::Debug for UsageCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UsageCollector")
            .field(&self.0.model())
            .finish()
    }
}

impl Collector for UsageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let usage = self.0.usage().snapshot();
        for (name, help, value) in [
            (
                "rerank_calls",
                "rerank calls, one per search sent to the reranker",
                usage.calls,
            ),
            (
                "rerank_errors",
                "rerank calls that failed; those searches kept their hybrid order",
                usage.errors,
            ),
            (
                "rerank_requests",
                "rerank API attempts, retries included",
                usage.requests,
            ),
            (
                "rerank_retries",
                "rerank attempts retried (throttling, 5xx, timeouts)",
                usage.retries,
            ),
            (
                "rerank_throttled",
                "rerank attempts answered 429",
                usage.throttled,
            ),
            (
                "rerank_documents",
                "documents reranked by successful calls",
                usage.documents,
            ),
            (
                "rerank_tokens",
                "rerank tokens, as the provider reported",
                usage.tokens,
            ),
        ] {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base_url: &str, model: &str) -> RerankSettings {
        RerankSettings {
            base_url: Some(base_url.to_owned()),
            model: model.to_owned(),
            api_key: Some(SecretString::from("sk-unit-secret")),
            ..RerankSettings::default()
        }
    }

    #[test]
    fn the_model_name_chooses_the_protocol_unless_told() {
        assert_eq!(RerankApi::for_model("qwen3-rerank"), RerankApi::Compatible);
        assert_eq!(RerankApi::for_model("gte-rerank-v2"), RerankApi::DashScope);
        assert_eq!(RerankApi::for_model("gte-rerank"), RerankApi::DashScope);
        assert_eq!(
            RerankApi::for_model("qwen3-vl-rerank"),
            RerankApi::DashScope
        );
        let told = RerankSettings {
            api: Some(RerankApi::DashScope),
            ..settings("https://dashscope-intl.aliyuncs.com", "qwen3-rerank")
        };
        let reranker = ModelStudioReranker::new("https://dashscope-intl.aliyuncs.com", &told)
            .expect("valid settings");
        assert_eq!(reranker.api(), RerankApi::DashScope);
        assert_eq!(
            reranker.url.as_str(),
            "https://dashscope-intl.aliyuncs.com/api/v1/services/rerank/text-rerank/text-rerank"
        );
    }

    #[test]
    fn a_pasted_api_suffix_is_dropped_from_the_root() {
        for base in [
            "https://dashscope-intl.aliyuncs.com",
            "https://dashscope-intl.aliyuncs.com/",
            "https://dashscope-intl.aliyuncs.com/compatible-api/v1",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
            "https://dashscope-intl.aliyuncs.com/api/v1",
        ] {
            assert_eq!(
                api_root(base).expect("a valid root"),
                "https://dashscope-intl.aliyuncs.com",
                "{base}"
            );
        }
        assert!(matches!(
            api_root("ftp://example.com"),
            Err(RerankSetupError::InvalidEndpoint(_))
        ));
        assert!(matches!(
            api_root("not a url"),
            Err(RerankSetupError::InvalidEndpoint(_))
        ));
    }

    #[test]
    fn reranking_is_off_without_a_base_url_and_settings_are_checked() {
        assert!(
            reranker(&RerankSettings::default())
                .expect("no error")
                .is_none()
        );
        let no_key = RerankSettings {
            api_key: None,
            ..settings("https://dashscope.aliyuncs.com", "gte-rerank-v2")
        };
        assert!(matches!(
            reranker(&no_key),
            Err(RerankSetupError::MissingKey)
        ));
        // A self-hosted endpoint may need no key.
        let local = RerankSettings {
            api_key: None,
            ..settings("http://127.0.0.1:9", "gte-rerank-v2")
        };
        assert!(reranker(&local).expect("valid").is_some());
        for top_n in [0, MAX_DOCUMENTS + 1] {
            let bad = RerankSettings {
                top_n,
                ..settings("http://127.0.0.1:9", "gte-rerank-v2")
            };
            assert!(matches!(
                reranker(&bad),
                Err(RerankSetupError::TopN(n)) if n == top_n
            ));
        }
        let zero = RerankSettings {
            timeout: Duration::ZERO,
            ..settings("http://127.0.0.1:9", "gte-rerank-v2")
        };
        assert!(matches!(
            reranker(&zero),
            Err(RerankSetupError::ZeroTimeout)
        ));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let settings = settings("http://127.0.0.1:9", "qwen3-rerank");
        let reranker = ModelStudioReranker::new("http://127.0.0.1:9", &settings).expect("valid");
        for text in [format!("{settings:?}"), format!("{reranker:?}")] {
            assert!(!text.contains("sk-unit-secret"), "{text}");
        }
        assert!(format!("{reranker:?}").contains("[redacted]"));
    }

    #[test]
    fn both_request_shapes_are_as_documented() {
        let documents = vec!["a".to_owned(), "b".to_owned()];
        let native = ModelStudioReranker::new(
            "http://127.0.0.1:9",
            &settings("http://127.0.0.1:9", "gte-rerank-v2"),
        )
        .expect("valid");
        assert_eq!(
            native.body("q", &documents, 2),
            json!({
                "model": "gte-rerank-v2",
                "input": {"query": "q", "documents": ["a", "b"]},
                "parameters": {"top_n": 2, "return_documents": false},
            })
        );
        let compatible = ModelStudioReranker::new(
            "http://127.0.0.1:9",
            &settings("http://127.0.0.1:9", "qwen3-rerank"),
        )
        .expect("valid");
        assert_eq!(
            compatible.body("q", &documents, 1),
            json!({"model": "qwen3-rerank", "query": "q", "documents": ["a", "b"], "top_n": 1})
        );
    }

    #[test]
    fn a_valid_answer_becomes_ranks_best_first() {
        let answer = json!({
            "output": {"results": [
                {"index": 2, "relevance_score": 0.5},
                {"index": 0, "relevance_score": 0.9},
                {"index": 1, "relevance_score": 0.5},
            ]},
            "usage": {"total_tokens": 42},
            "request_id": "r",
        });
        let (ranked, tokens) = parse_answer(RerankApi::DashScope, &answer, 3, 3).expect("valid");
        let order: Vec<usize> = ranked.iter().map(|r| r.index).collect();
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(tokens, 42);
        let compatible = json!({"results": [{"index": 1, "relevance_score": 0.7}], "usage": {}});
        let (ranked, tokens) =
            parse_answer(RerankApi::Compatible, &compatible, 2, 2).expect("valid");
        assert_eq!(
            ranked,
            [Ranked {
                index: 1,
                score: 0.7
            }]
        );
        assert_eq!(tokens, 0);
    }

    #[test]
    fn invalid_answers_are_refused_with_the_reason() {
        let cases = [
            (json!({"results": []}), "no output.results"),
            (
                json!({"output": {"results": []}}),
                "is empty for 3 documents",
            ),
            (
                json!({"output": {"results": [{"index": 3, "relevance_score": 0.1}]}}),
                "only 3 were sent",
            ),
            (
                json!({"output": {"results": [{"index": -1, "relevance_score": 0.1}]}}),
                "no non-negative integer index",
            ),
            (
                json!({"output": {"results": [
                    {"index": 1, "relevance_score": 0.1},
                    {"index": 1, "relevance_score": 0.2},
                ]}}),
                "a second time",
            ),
            (
                json!({"output": {"results": [{"index": 0, "relevance_score": "high"}]}}),
                "no finite relevance_score",
            ),
        ];
        for (answer, expected) in cases {
            let err = parse_answer(RerankApi::DashScope, &answer, 3, 3).expect_err("invalid");
            assert!(matches!(err, RerankError::BadResponse(_)));
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        let native = br#"{"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "abc"}"#;
        assert_eq!(
            provider_error(native),
            (
                Some("InvalidApiKey".to_owned()),
                "Invalid API-key provided. (request_id abc)".to_owned()
            )
        );
        let compatible = br#"{"error": {"message": "bad model", "type": "invalid_request_error", "code": "invalid_parameter_error"}}"#;
        assert_eq!(
            provider_error(compatible),
            (
                Some("invalid_parameter_error".to_owned()),
                "bad model".to_owned()
            )
        );
        assert_eq!(
            provider_error(b"<html>gateway</html>").1,
            "<html>gateway</html>"
        );
        match status_error(StatusCode::UNAUTHORIZED, native) {
            RerankError::Rejected { status, code, .. } => {
                assert_eq!((status, code.as_str()), (401, " InvalidApiKey"));
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(matches!(
            status_error(StatusCode::TOO_MANY_REQUESTS, b"{}"),
            RerankError::Unavailable(_)
        ));
        assert!(matches!(
            status_error(StatusCode::BAD_GATEWAY, b""),
            RerankError::Unavailable(_)
        ));
    }

    #[test]
    fn the_counters_are_exposed_as_prometheus_metrics() {
        let reranker = ModelStudioReranker::new(
            "http://127.0.0.1:9",
            &settings("http://127.0.0.1:9", "qwen3-rerank"),
        )
        .expect("valid");
        reranker.usage().record_call();
        reranker.usage().record_reranked(20, 345);
        let mut registry = prometheus_client::registry::Registry::with_prefix("adbrag");
        registry.register_collector(Box::new(UsageCollector(Arc::new(reranker))));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            "adbrag_rerank_calls_total 1",
            "adbrag_rerank_errors_total 0",
            "adbrag_rerank_requests_total 0",
            "adbrag_rerank_retries_total 0",
            "adbrag_rerank_throttled_total 0",
            "adbrag_rerank_documents_total 20",
            "adbrag_rerank_tokens_total 345",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
