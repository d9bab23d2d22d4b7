//! Language models that write answers, behind one trait: today a model behind an
//! OpenAI-compatible API ([`OpenAiChat`](super::openai_chat::OpenAiChat)). The extractive answer,
//! which calls no model, is written on the answer side (`answer::writer`).

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The name the API uses ("system", "user", "assistant").
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// One call: the rendered prompt, the answer's budget and the sampling temperature.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    pub messages: &'a [Message],
    pub max_tokens: usize,
    pub temperature: f32,
}

/// Tokens a call consumed, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    pub fn add(&mut self, other: TokenUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

/// A whole answer.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub text: String,
    pub usage: TokenUsage,
    /// The provider's `finish_reason` (`stop`, `length`, …).
    pub finish_reason: Option<String>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    Usage(TokenUsage),
    Finish(String),
}

pub type DeltaStream = BoxStream<'static, Result<Delta, ChatError>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// The provider refused the request; sending it again would be refused again.
    #[error("the chat model refused the request ({status}{code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// Throttling, server errors or timeouts outlasted every retry.
    #[error("the chat model is unavailable ({0}): retry later")]
    Unavailable(String),
    #[error("the chat model answered something that is not a chat completion ({0})")]
    Malformed(String),
    /// The stream broke after it had begun: what was sent so far is incomplete.
    #[error("the chat model's answer broke off ({0}): ask again")]
    Interrupted(String),
}

impl ChatError {
    /// A short machine-readable name, for API errors and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::Rejected { .. } => "model_rejected",
            ChatError::Unavailable(_) => "model_unavailable",
            ChatError::Malformed(_) => "model_malformed",
            ChatError::Interrupted(_) => "model_interrupted",
        }
    }
}

/// Writes answers.
///
/// Contract: `stream` yields text deltas, at most one usage and then one finish; a stream that
/// ends without a finish is incomplete, and the implementation reports it as
/// [`ChatError::Interrupted`]. Retries happen only before the first delta. Dropping the stream
/// cancels the call upstream.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The model's name (as clients see it in `/v1/models`).
    fn name(&self) -> &str;
    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, ChatError>;
    async fn stream(&self, request: &ChatRequest<'_>) -> Result<DeltaStream, ChatError>;
    /// Counters since start-up.
    fn usage(&self) -> &ChatUsage;
}

/// What a chat model has done, for logs and metrics.
#[derive(Debug, Default)]
pub struct ChatUsage {
    calls: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl ChatUsage {
    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_tokens(&self, usage: TokenUsage) {
        self.prompt_tokens
            .fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(usage.completion_tokens, Ordering::Relaxed);
    }

    /// (calls, errors, prompt tokens, completion tokens)
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.prompt_tokens.load(Ordering::Relaxed),
            self.completion_tokens.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_names_itself_as_its_json_does() {
        for role in [Role::System, Role::User, Role::Assistant] {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
    }
}
