//! Answers from a language model behind an OpenAI-compatible API (Model Studio's `qwen-plus`,
//! vLLM, Ollama, …), through async-openai's bring-your-own-types requests.
//!
//! The requests are JSON values rather than async-openai's typed structs because Model Studio
//! needs a field outside the OpenAI schema: Qwen3 refuses a non-streaming call unless it says
//! `enable_thinking: false`. Streams ask for `stream_options.include_usage` (the usage arrives in
//! a last chunk whose `choices` is empty) and skip `delta.reasoning_content`, the thinking that
//! some models stream before the answer.
//!
//! Retries (429, 5xx, timeouts) happen in [`super::transport`], before the response headers, so
//! before the first token: a stream that breaks later is reported, never silently restarted.

use std::sync::Arc;

use async_openai::{Client, config::OpenAIConfig, error::OpenAIError};
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{
    ChatConfig, Endpoint, SetupError, Usage,
    chat::{
        ChatError, ChatModel, ChatRequest, ChatUsage, Completion, Delta, DeltaStream, TokenUsage,
    },
    transport::{self, Failure},
};

pub struct OpenAiChat {
    client: Client<OpenAIConfig>,
    model: String,
    qwen_fields: bool,
    usage: Arc<ChatUsage>,
    /// Requests and retries, counted by the transport.
    transport_usage: Arc<Usage>,
}

impl OpenAiChat {
    pub fn new(endpoint: &Endpoint, settings: &ChatConfig) -> Result<Self, SetupError> {
        let (client, transport_usage) = transport::client(
            endpoint,
            settings.timeout,
            settings.max_attempts,
            settings.concurrency,
        )?;
        Ok(Self {
            client,
            model: settings.model.clone(),
            qwen_fields: settings.qwen_fields,
            usage: Arc::default(),
            transport_usage,
        })
    }

    /// HTTP attempts and retries so far.
    pub fn transport_usage(&self) -> &Usage {
        &self.transport_usage
    }

    fn body(&self, request: &ChatRequest<'_>, stream: bool) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        });
        if stream {
            body["stream_options"] = json!({ "include_usage": true });
        } else if self.qwen_fields {
            body["enable_thinking"] = json!(false);
        }
        body
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn name(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, ChatError> {
        self.usage.record_call();
        let response: Result<Value, _> = self
            .client
            .chat()
            .create_byot(self.body(request, false))
            .await;
        let response = response.map_err(|err| {
            self.usage.record_error();
            classify(err)
        })?;
        let choice = &response["choices"][0];
        let Some(text) = choice["message"]["content"].as_str() else {
            self.usage.record_error();
            return Err(ChatError::Malformed(
                "no choices[0].message.content".to_owned(),
            ));
        };
        let usage = usage(&response["usage"]).unwrap_or_default();
        self.usage.record_tokens(usage);
        Ok(Completion {
            text: text.to_owned(),
            usage,
            finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        })
    }

    async fn stream(&self, request: &ChatRequest<'_>) -> Result<DeltaStream, ChatError> {
        self.usage.record_call();
        let upstream = self
            .client
            .chat()
            .create_stream_byot::<Value, Value>(self.body(request, true))
            .await
            .map_err(|err| {
                self.usage.record_error();
                classify(err)
            })?;
        let state = StreamState {
            upstream,
            pending: std::collections::VecDeque::new(),
            finished: false,
            done: false,
            usage: self.usage.clone(),
        };
        Ok(futures::stream::unfold(state, next_delta).boxed())
    }

    fn usage(&self) -> &ChatUsage {
        &self.usage
    }
}

struct StreamState {
    upstream: std::pin::Pin<Box<dyn futures::Stream<Item = Result<Value, OpenAIError>> + Send>>,
    pending: std::collections::VecDeque<Delta>,
    /// A finish_reason has arrived.
    finished: bool,
    /// Nothing more will be yielded.
    done: bool,
    usage: Arc<ChatUsage>,
}

/// Turns the provider's chunks into deltas: content pieces, then the finish, then usage (which
/// may come in a chunk of its own with no choices). Reasoning deltas are skipped.
async fn next_delta(mut state: StreamState) -> Option<(Result<Delta, ChatError>, StreamState)> {
    loop {
        if let Some(delta) = state.pending.pop_front() {
            return Some((Ok(delta), state));
        }
        if state.done {
            return None;
        }
        match state.upstream.next().await {
            Some(Ok(chunk)) => {
                if let Some(usage) = usage(&chunk["usage"]) {
                    state.usage.record_tokens(usage);
                    state.pending.push_back(Delta::Usage(usage));
                }
                let Some(choices) = chunk["choices"].as_array() else {
                    state.done = true;
                    return Some((
                        Err(ChatError::Malformed(
                            "a stream chunk without choices".into(),
                        )),
                        state,
                    ));
                };
                if let Some(choice) = choices.first() {
                    if let Some(text) = choice["delta"]["content"].as_str()
                        && !text.is_empty()
                    {
                        state.pending.push_back(Delta::Text(text.to_owned()));
                    }
                    if let Some(reason) = choice["finish_reason"].as_str() {
                        state.finished = true;
                        state.pending.push_back(Delta::Finish(reason.to_owned()));
                    }
                }
            }
            Some(Err(err)) => {
                state.done = true;
                state.usage.record_error();
                let err = match classify(err) {
                    ChatError::Malformed(message) => ChatError::Malformed(message),
                    other => ChatError::Interrupted(other.to_string()),
                };
                return Some((Err(err), state));
            }
            None => {
                state.done = true;
                if !state.finished {
                    state.usage.record_error();
                    return Some((
                        Err(ChatError::Interrupted(
                            "the stream ended without a finish_reason".into(),
                        )),
                        state,
                    ));
                }
            }
        }
    }
}

fn usage(value: &Value) -> Option<TokenUsage> {
    let prompt_tokens = value["prompt_tokens"].as_u64()?;
    let completion_tokens = value["completion_tokens"].as_u64().unwrap_or(0);
    Some(TokenUsage {
        prompt_tokens,
        completion_tokens,
        total_tokens: value["total_tokens"]
            .as_u64()
            .unwrap_or(prompt_tokens + completion_tokens),
    })
}

/// Sorts a final error (retries are over) into what the caller can do about it.
fn classify(err: OpenAIError) -> ChatError {
    match transport::classify(err) {
        Failure::Rejected {
            status,
            code,
            message,
        } => ChatError::Rejected {
            status,
            code,
            message,
        },
        Failure::Unavailable(message) => ChatError::Unavailable(message),
        Failure::Malformed(message) => ChatError::Malformed(message),
        Failure::Interrupted(message) => ChatError::Interrupted(message),
    }
}
