//! The model settings: which embedder turns chunks into vectors, and which model writes answers
//! (with the answer's token budgets).

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

use super::{ConfigError, secret};
use crate::{
    answer::AnswerConfig,
    llm::{ChatConfig, EmbeddingConfig, Endpoint},
};

/// Which embedding model turns chunks into vectors.
///
/// With no endpoint configured, adbrag embeds locally with all-MiniLM-L6-v2 (384 dimensions) from
/// `--models-dir`; `scripts/models.sh` fetches it.
#[derive(Debug, Clone, Args)]
pub struct EmbeddingSettings {
    /// OpenAI-compatible endpoint, e.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1
    /// (Model Studio, Singapore). Unset: the local embedder.
    #[arg(long = "embedding-base-url", env = "ADBRAG_EMBEDDING_BASE_URL")]
    pub base_url: Option<String>,

    /// API key for that endpoint (for Model Studio, a DashScope API key).
    #[arg(long = "embedding-api-key", env = "ADBRAG_EMBEDDING_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<SecretString>,

    /// Embedding model at the endpoint.
    #[arg(
        long = "embedding-model",
        env = "ADBRAG_EMBEDDING_MODEL",
        default_value = "text-embedding-v4"
    )]
    pub model: String,

    /// Vector size to ask the endpoint for (`dimensions`); text-embedding-v4 supports 64 to 2048.
    #[arg(
        long = "embedding-dimensions",
        env = "ADBRAG_EMBEDDING_DIMENSIONS",
        default_value_t = 1024
    )]
    pub dimensions: usize,

    /// Inputs per request; Model Studio's v3/v4 models accept at most 10.
    #[arg(
        long = "embedding-batch-size",
        env = "ADBRAG_EMBEDDING_BATCH_SIZE",
        default_value_t = 10
    )]
    pub batch_size: usize,

    /// Requests in flight at once, across all documents.
    #[arg(
        long = "embedding-concurrency",
        env = "ADBRAG_EMBEDDING_CONCURRENCY",
        default_value_t = 4
    )]
    pub concurrency: usize,

    /// Attempts per request (throttling, server errors and timeouts are retried; other 4xx are not).
    #[arg(
        long = "embedding-max-attempts",
        env = "ADBRAG_EMBEDDING_MAX_ATTEMPTS",
        default_value_t = 6
    )]
    pub max_attempts: u32,

    /// Seconds to wait for one response.
    #[arg(
        long = "embedding-timeout",
        env = "ADBRAG_EMBEDDING_TIMEOUT",
        default_value_t = 30
    )]
    pub timeout_secs: u64,

    /// Directory of local models (the embedded default embedder lives in all-MiniLM-L6-v2/ under it).
    #[arg(
        long = "models-dir",
        env = "ADBRAG_MODELS_DIR",
        default_value = "models"
    )]
    pub models_dir: PathBuf,
}

/// Answers: which model writes them, and how much of its context window goes to what.
///
/// With no `ADBRAG_CHAT_BASE_URL` the answers are extractive: the best-matching sentences of the
/// retrieved passages, quoted with their citations, and no language model is called.
#[derive(Debug, Clone, Args)]
pub struct ChatSettings {
    /// OpenAI-compatible endpoint for answers, e.g.
    /// https://dashscope-intl.aliyuncs.com/compatible-mode/v1. Unset: extractive answers.
    #[arg(
        id = "chat_base_url",
        long = "chat-base-url",
        env = "ADBRAG_CHAT_BASE_URL"
    )]
    pub base_url: Option<String>,

    /// The chat endpoint's API key (Model Studio: a DashScope key).
    #[arg(id = "chat_api_key", long = "chat-api-key", env = "ADBRAG_CHAT_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<SecretString>,

    /// The chat model, e.g. qwen-plus.
    #[arg(
        id = "chat_model",
        long = "chat-model",
        env = "ADBRAG_CHAT_MODEL",
        default_value = "qwen-plus"
    )]
    pub model: String,

    /// The model's context window in tokens: passages, history and the answer must fit in it.
    #[arg(
        long = "chat-context-tokens",
        env = "ADBRAG_CHAT_CONTEXT_TOKENS",
        default_value_t = 32_768
    )]
    pub context_tokens: usize,

    /// Tokens reserved for the answer (sent as `max_tokens`).
    #[arg(
        long = "chat-answer-tokens",
        env = "ADBRAG_CHAT_ANSWER_TOKENS",
        default_value_t = 1024
    )]
    pub answer_tokens: usize,

    /// Most tokens of earlier conversation turns sent along; older turns are dropped (the response
    /// says how many).
    #[arg(
        long = "chat-history-tokens",
        env = "ADBRAG_CHAT_HISTORY_TOKENS",
        default_value_t = 2048
    )]
    pub history_tokens: usize,

    /// Most tokens of retrieved passages put in front of the model.
    #[arg(
        long = "chat-passage-tokens",
        env = "ADBRAG_CHAT_PASSAGE_TOKENS",
        default_value_t = 6000
    )]
    pub passage_tokens: usize,

    /// A passage found only by the vector leg must be at least this similar to the question
    /// (cosine) to be used; passages that match the question's words always qualify. When none
    /// qualifies, the answer is "I could not find this in the documents." and no model is called.
    #[arg(
        long = "chat-min-similarity",
        env = "ADBRAG_CHAT_MIN_SIMILARITY",
        default_value_t = 0.3
    )]
    pub min_similarity: f64,

    /// Sampling temperature sent to the model.
    #[arg(
        long = "chat-temperature",
        env = "ADBRAG_CHAT_TEMPERATURE",
        default_value_t = 0.2
    )]
    pub temperature: f32,

    /// Send Model Studio's `enable_thinking: false` on non-streaming calls (Qwen3 refuses them
    /// otherwise). Set false for providers that reject fields outside the OpenAI schema.
    #[arg(
        long = "chat-qwen-fields",
        env = "ADBRAG_CHAT_QWEN_FIELDS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub qwen_fields: bool,

    /// Attempts per model call before its first token (429s and 5xx are retried with backoff).
    #[arg(
        id = "chat_max_attempts",
        long = "chat-max-attempts",
        env = "ADBRAG_CHAT_MAX_ATTEMPTS",
        default_value_t = 3
    )]
    pub max_attempts: u32,

    /// Seconds to wait for the model's response headers, and then for each piece of the stream.
    #[arg(
        id = "chat_timeout_secs",
        long = "chat-timeout",
        env = "ADBRAG_CHAT_TIMEOUT",
        default_value_t = 60
    )]
    pub timeout_secs: u64,

    /// Model calls in flight at once, across the process.
    #[arg(
        id = "chat_concurrency",
        long = "chat-concurrency",
        env = "ADBRAG_CHAT_CONCURRENCY",
        default_value_t = 64
    )]
    pub concurrency: usize,

    /// Templates to use instead of the built-in prompts (a directory holding system.j2,
    /// context.j2 and condense.j2, like the repository's prompts/).
    #[arg(long = "prompts-dir", env = "ADBRAG_PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,
}

/// The endpoint a base URL and key describe; a key without a URL is a mistake worth naming.
fn endpoint(
    base_url: &Option<String>,
    api_key: &Option<SecretString>,
    key_variable: &'static str,
    hint: &'static str,
) -> Result<Option<Endpoint>, ConfigError> {
    match (base_url, api_key) {
        (Some(base_url), api_key) => Ok(Some(Endpoint {
            base_url: base_url.clone(),
            api_key: api_key.clone(),
        })),
        (None, Some(_)) => Err(ConfigError::Invalid {
            name: key_variable,
            problem: hint.to_owned(),
        }),
        (None, None) => Ok(None),
    }
}

impl EmbeddingSettings {
    /// The embedder's configuration: the API when a base URL is set, else the local model.
    pub fn config(&self) -> Result<EmbeddingConfig, ConfigError> {
        Ok(EmbeddingConfig {
            endpoint: endpoint(
                &self.base_url,
                &self.api_key,
                "ADBRAG_EMBEDDING_API_KEY",
                "it is set but ADBRAG_EMBEDDING_BASE_URL is not: set the endpoint too, e.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            )?,
            model: self.model.clone(),
            dimensions: self.dimensions,
            batch_size: self.batch_size.max(1),
            concurrency: self.concurrency.max(1),
            max_attempts: self.max_attempts.max(1),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            models_dir: self.models_dir.clone(),
        })
    }
}

impl ChatSettings {
    /// The answer model's configuration: the API when a base URL is set, else none (extractive).
    pub fn config(&self) -> Result<ChatConfig, ConfigError> {
        Ok(ChatConfig {
            endpoint: endpoint(
                &self.base_url,
                &self.api_key,
                "ADBRAG_CHAT_API_KEY",
                "it is set but ADBRAG_CHAT_BASE_URL is not: set the endpoint too, e.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1 (or unset the key for extractive answers)",
            )?,
            model: self.model.clone(),
            max_attempts: self.max_attempts.max(1),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            concurrency: self.concurrency.max(1),
            qwen_fields: self.qwen_fields,
        })
    }

    /// How answers budget the context window, and the prompts' directory.
    pub fn answer(&self) -> AnswerConfig {
        AnswerConfig {
            context_tokens: self.context_tokens,
            answer_tokens: self.answer_tokens,
            history_tokens: self.history_tokens,
            passage_tokens: self.passage_tokens,
            min_similarity: self.min_similarity,
            temperature: self.temperature,
            prompts_dir: self.prompts_dir.clone(),
        }
    }
}
