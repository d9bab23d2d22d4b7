//! Model clients behind traits: an OpenAI-compatible API (Model Studio, vLLM, Ollama, …) or the
//! local, offline models that are the embedded default.

pub mod chat;
pub mod local;
pub mod openai;
pub mod openai_chat;
pub mod rerank;
pub mod transport;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use secrecy::SecretString;

/// An OpenAI-compatible API: its base URL (checked to be http(s) when a client is built) and key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// E.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1.
    pub base_url: String,
    pub api_key: Option<SecretString>,
}

/// Which embedder to build and how it behaves; `config::EmbeddingSettings::config` makes it from
/// the command line and the environment, tests and tools directly.
#[derive(Debug, Clone)]
pub struct EmbeddingConfig {
    /// The API to call; `None` embeds locally with the model under `models_dir`.
    pub endpoint: Option<Endpoint>,
    /// The model at the endpoint.
    pub model: String,
    /// Vector size asked of the endpoint (`dimensions`).
    pub dimensions: usize,
    /// Inputs per request (at least 1).
    pub batch_size: usize,
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Attempts per request, the first included (at least 1).
    pub max_attempts: u32,
    /// Time allowed for one response.
    pub timeout: Duration,
    /// Where the local models live.
    pub models_dir: PathBuf,
}

/// Which language model writes answers; `None` endpoint: no model (the extractive answerer).
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub endpoint: Option<Endpoint>,
    pub model: String,
    /// Attempts per call before its first token (at least 1).
    pub max_attempts: u32,
    /// Time allowed for the response headers, and then for each piece of the stream.
    pub timeout: Duration,
    /// Calls in flight at once, across the process.
    pub concurrency: usize,
    /// Send Model Studio's `enable_thinking: false` on non-streaming calls.
    pub qwen_fields: bool,
}

/// Turns texts into vectors.
///
/// Contract: `embed` returns one vector per input, in input order, each of exactly
/// [`dimensions`](Embedder::dimensions) floats, for cosine similarity. Two embedders with the same
/// [`model`](Embedder::model) and dimensions give the same vector for the same text, which is what
/// makes the embedding cache sound. Callers may pass any number of texts; batching, concurrency
/// limits and retries are the implementation's business.
#[async_trait]
pub trait Embedder: Send + Sync {
    fn model(&self) -> &str;
    fn dimensions(&self) -> usize;
    /// True for the offline model: responses say their vectors came from it.
    fn is_local(&self) -> bool;
    /// Whether the model was trained on Chinese. A query in a language the model cannot read
    /// gets a vector that is noise, so retrieval leans on the keyword leg for it.
    fn reads_chinese(&self) -> bool {
        true
    }
    /// Tokens the model reads per input; it ignores the rest, so chunks must be smaller.
    fn max_input_tokens(&self) -> usize {
        8192
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Counters since start-up.
    fn usage(&self) -> &Usage;
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The provider refused the request; the same request would be refused again.
    #[error("the embedding API refused the request ({status}{code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// Throttling, server errors or timeouts outlasted every retry.
    #[error(
        "the embedding API kept failing ({0}): retry later, or lower ADBRAG_EMBEDDING_CONCURRENCY"
    )]
    Unavailable(String),
    #[error("the embedding API answered something that is not an embeddings response ({0})")]
    Malformed(String),
    #[error(
        "the embedding API answered {got} vectors of {dimensions} dimensions for {expected} inputs of {expected_dimensions}: check ADBRAG_EMBEDDING_MODEL and ADBRAG_EMBEDDING_DIMENSIONS"
    )]
    WrongShape {
        got: usize,
        dimensions: usize,
        expected: usize,
        expected_dimensions: usize,
    },
    #[error("the local embedding model failed: {0}")]
    Local(String),
}

/// What an embedder has done, for logs, summaries and metrics.
#[derive(Debug, Default)]
pub struct Usage {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    inputs: AtomicU64,
    tokens: AtomicU64,
}

impl Usage {
    pub fn record_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A retried attempt; `status` 429 counts as throttling (0: no response).
    pub fn record_retry(&self, status: u16) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if status == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_embedded(&self, inputs: u64, tokens: u64) {
        self.inputs.fetch_add(inputs, Ordering::Relaxed);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> UsageSnapshot {
        UsageSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            inputs: self.inputs.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UsageSnapshot {
    /// HTTP attempts, retries included.
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    /// Texts embedded.
    pub inputs: u64,
    /// Tokens the provider reported (or the local tokenizer counted).
    pub tokens: u64,
}

impl UsageSnapshot {
    pub fn since(self, earlier: UsageSnapshot) -> UsageSnapshot {
        UsageSnapshot {
            requests: self.requests - earlier.requests,
            retries: self.retries - earlier.retries,
            throttled: self.throttled - earlier.throttled,
            inputs: self.inputs - earlier.inputs,
            tokens: self.tokens - earlier.tokens,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "the model API's base URL is invalid ({0}): use an http(s) URL ending in the API version, e.g. …/compatible-mode/v1"
    )]
    InvalidEndpoint(String),
    #[error(transparent)]
    Local(#[from] local::LocalModelError),
}

/// The configured embedder: the OpenAI-compatible API when an endpoint is set, else the local model.
pub fn embedder(config: &EmbeddingConfig) -> Result<Arc<dyn Embedder>, SetupError> {
    match &config.endpoint {
        Some(endpoint) => Ok(Arc::new(openai::OpenAiEmbedder::new(endpoint, config)?)),
        None => Ok(Arc::new(local::LocalService::load(&local_model_dir(
            &config.models_dir,
        ))?)),
    }
}

/// Refuses a base URL that is not http(s).
pub(crate) fn check_endpoint(base_url: &str) -> Result<(), SetupError> {
    match url::Url::parse(base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        Ok(url) => Err(SetupError::InvalidEndpoint(format!(
            "scheme '{}'",
            url.scheme()
        ))),
        Err(err) => Err(SetupError::InvalidEndpoint(err.to_string())),
    }
}

/// Where the local embedding model lives inside the models directory.
pub fn local_model_dir(models_dir: &Path) -> std::path::PathBuf {
    models_dir.join(local::LocalEmbedder::MODEL)
}
