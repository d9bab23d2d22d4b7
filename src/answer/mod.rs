//! Answers with citations: retrieval, context assembly, the prompt, the model, and the [n]
//! markers mapped back to the documents. Transport-free: the chat endpoint, the
//! OpenAI-compatible endpoint and `adbrag ask` all call [`Answerer`].
//!
//! 1. [`Answerer::prepare`] validates the conversation, trims old turns to the history budget,
//!    condenses a follow-up into a standalone query, retrieves, and assembles numbered passages
//!    within the token budget. When no passage clears the relevance floor the answer is
//!    [`prompts::NOT_FOUND`] and the model is never called.
//! 2. [`Answerer::answer`] (one JSON answer) or [`Answerer::stream`] (events as they happen)
//!    writes the answer and resolves its citations.

pub mod citations;
pub mod context;
pub mod extractive;
pub mod prompts;
pub mod writer;

use std::{path::PathBuf, sync::Arc, time::Instant};

use futures::{Stream, StreamExt};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    ingest::tokens::{EstimatingCounter, TokenCounter},
    llm::{
        ChatConfig, Embedder,
        chat::{ChatError, ChatRequest, Delta, Message, Role, TokenUsage},
        openai_chat::OpenAiChat,
        rerank::Reranker,
    },
    search::{
        filter::Filter,
        retrieve::{self, SearchError, SearchOptions},
    },
    store::{collections::Collection, search::Mode},
    // `context` takes `is_cjk` from here.
    text::{is_cjk, segment},
};
use citations::CitationFilter;
use context::Passage;
use prompts::{NOT_FOUND, PromptError, Prompts};
pub use writer::Writer;

/// Tokens a passage's `<passage …>` wrapping costs, on top of its text.
const PASSAGE_OVERHEAD_TOKENS: usize = 40;
/// Longest standalone query the condensation may produce.
const CONDENSE_MAX_TOKENS: usize = 200;
/// Characters of a passage shown as a citation's snippet.
const SNIPPET_CHARS: usize = 300;

/// A question as a client asks it: the conversation so far, the last message being the user's.
#[derive(Debug, Clone)]
pub struct Question {
    pub messages: Vec<Message>,
    pub top_k: usize,
    pub filter: Option<Filter>,
    pub principals: Option<Vec<String>>,
}

/// Retrieval is done and the prompt is ready.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The standalone query that was searched for (the question itself on a first turn).
    pub query: String,
    /// The user's last message.
    pub question: String,
    pub passages: Vec<Passage>,
    /// The prompt for a language model: system, kept history, passages + question.
    pub messages: Vec<Message>,
    /// Earlier messages left out to fit the history budget.
    pub history_trimmed: usize,
    /// False when no passage cleared the relevance floor: the answer is NOT_FOUND.
    pub found: bool,
    /// Tokens spent condensing the question.
    pub usage: TokenUsage,
    pub timings: Timings,
    /// The client's own answer limit (never above `--chat-answer-tokens`).
    pub max_tokens: Option<usize>,
    /// The client's own sampling temperature.
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct Timings {
    pub condense_ms: f64,
    pub embed_ms: f64,
    pub retrieve_ms: f64,
    /// Reranking the hits (0 when no reranker is configured).
    pub rerank_ms: f64,
    /// From the model call to its last token.
    pub generate_ms: f64,
    /// From the model call to its first token (streams only).
    pub first_token_ms: Option<f64>,
}

/// Where a [n] marker points.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Citation {
    /// The marker's number in the answer.
    pub number: usize,
    pub document_id: Uuid,
    pub source_uri: String,
    pub title: Option<String>,
    pub page_from: Option<i32>,
    pub page_to: Option<i32>,
    /// The passage's first chunk; `chunk_ids` lists all when neighbours were merged.
    pub chunk_id: Uuid,
    pub chunk_ids: Vec<Uuid>,
    /// The beginning of the passage.
    pub snippet: String,
    /// The passage's text was read, at least in part, by OCR from a scanned page.
    pub ocr: bool,
}

impl Citation {
    fn new(passage: &Passage) -> Self {
        let mut snippet: String = passage.text.chars().take(SNIPPET_CHARS).collect();
        if snippet.len() < passage.text.len() {
            if let Some(space) = snippet.rfind(char::is_whitespace)
                && space > SNIPPET_CHARS / 2
            {
                snippet.truncate(space);
            }
            snippet.push('…');
        }
        Self {
            number: passage.number,
            document_id: passage.document_id,
            source_uri: passage.source_uri.clone(),
            title: passage.title.clone(),
            page_from: passage.page_from,
            page_to: passage.page_to,
            chunk_id: passage.chunk_ids.first().copied().unwrap_or_default(),
            chunk_ids: passage.chunk_ids.clone(),
            snippet,
            ocr: passage.ocr,
        }
    }
}

/// A whole answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Answer {
    pub answer: String,
    /// The passages the answer cites, in the order first cited.
    pub citations: Vec<Citation>,
    /// False when the documents held nothing relevant (the model was not called).
    pub found: bool,
    /// True when no language model wrote the answer: it quotes the passages.
    pub extractive: bool,
    pub model: String,
    /// The standalone query that was searched for.
    pub query: String,
    /// Earlier messages left out to fit the history budget.
    pub history_trimmed: usize,
    /// [n] markers that pointed to no passage, removed from the answer.
    pub dropped_citations: usize,
    pub finish_reason: Option<String>,
    pub usage: TokenUsage,
    pub timings: Timings,
}

/// A passage as the `retrieval` event lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PassageRef {
    pub number: usize,
    pub document_id: Uuid,
    pub source_uri: String,
    pub title: Option<String>,
    pub page_from: Option<i32>,
    pub page_to: Option<i32>,
    pub chunk_ids: Vec<Uuid>,
    pub score: f64,
}

/// What a streamed answer sends, in order: one `Retrieval`, `Delta`s, one `Citations`, one
/// `Done`; or, when the model fails, an `Error` that ends the stream.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Event {
    Retrieval {
        query: String,
        passages: Vec<PassageRef>,
        found: bool,
        extractive: bool,
        model: String,
        history_trimmed: usize,
    },
    Delta {
        text: String,
    },
    Citations {
        citations: Vec<Citation>,
        dropped_citations: usize,
    },
    Done {
        finish_reason: Option<String>,
        usage: TokenUsage,
        timings: Timings,
    },
    Error {
        code: &'static str,
        message: String,
        usage: TokenUsage,
    },
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Retrieval { .. } => "retrieval",
            Event::Delta { .. } => "delta",
            Event::Citations { .. } => "citations",
            Event::Done { .. } => "done",
            Event::Error { .. } => "error",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Model(#[from] ChatError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Model(#[from] crate::llm::SetupError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

/// How answers use the model's context window, and where the prompts come from; validated once
/// at start-up (`config::ChatSettings::answer`).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerConfig {
    /// The model's context window in tokens: passages, history and the answer must fit in it.
    pub context_tokens: usize,
    /// Tokens reserved for the answer (sent as `max_tokens`).
    pub answer_tokens: usize,
    /// Most tokens of earlier conversation turns sent along.
    pub history_tokens: usize,
    /// Most tokens of retrieved passages put in front of the model.
    pub passage_tokens: usize,
    /// A passage found only by the vector leg must be at least this similar to the question.
    pub min_similarity: f64,
    /// Sampling temperature sent to the model.
    pub temperature: f32,
    /// Templates to use instead of the built-in prompts.
    pub prompts_dir: Option<PathBuf>,
}

/// The configured answerer: a model when `chat` names an endpoint, else the extractive writer.
pub fn answerer(chat: &ChatConfig, config: AnswerConfig) -> Result<Answerer, SetupError> {
    let writer = match &chat.endpoint {
        Some(endpoint) => Writer::Model(Arc::new(OpenAiChat::new(endpoint, chat)?)),
        None => Writer::Extractive,
    };
    let prompts = Prompts::load(config.prompts_dir.as_deref())?;
    Ok(Answerer::new(writer, prompts, config))
}

/// Everything answering needs, shared by every request.
pub struct Answerer {
    pub writer: Writer,
    pub prompts: Prompts,
    pub settings: AnswerConfig,
    /// Counts prompt tokens for budgets: an upper bound, so a budget is never overrun.
    counter: EstimatingCounter,
    /// Reorders the retrieved hits before the context is assembled, when configured.
    pub reranker: Option<Arc<dyn Reranker>>,
}

impl Answerer {
    pub fn new(writer: Writer, prompts: Prompts, settings: AnswerConfig) -> Self {
        Self {
            writer,
            prompts,
            settings,
            counter: EstimatingCounter,
            reranker: None,
        }
    }

    /// Retrieval for answers reranks with this reranker (None: no reranking).
    pub fn with_reranker(mut self, reranker: Option<Arc<dyn Reranker>>) -> Self {
        self.reranker = reranker;
        self
    }

    /// The model's name as responses report it.
    pub fn model_name(&self) -> &str {
        self.writer.name()
    }

    /// Validates, condenses, retrieves and assembles.
    pub async fn prepare(
        &self,
        pool: &PgPool,
        embedder: &dyn Embedder,
        collection: &Collection,
        question: &Question,
        search: &SearchOptions,
    ) -> Result<Prepared, AnswerError> {
        let (application, history, last) = split(&question.messages)?;
        let (history, history_trimmed, history_tokens) = self.trim_history(history);
        let mut usage = TokenUsage::default();

        let started = Instant::now();
        let query = if history.is_empty() {
            last.to_owned()
        } else {
            self.condense(&history, last, &mut usage).await
        };
        let condense_ms = ms(started);

        let results = retrieve::search(
            pool,
            embedder,
            self.reranker.as_deref(),
            collection,
            &retrieve::Request {
                query: query.clone(),
                top_k: question.top_k,
                mode: Mode::Hybrid,
                filter: question.filter.clone(),
                principals: question.principals.clone(),
            },
            search,
        )
        .await?;

        let system = self.prompts.system(application.as_deref())?;
        let fixed = self.counter.count(&system) + self.counter.count(last) + history_tokens;
        let room = self
            .settings
            .context_tokens
            .saturating_sub(self.settings.answer_tokens + fixed + PASSAGE_OVERHEAD_TOKENS);
        let budget = room
            .min(self.settings.passage_tokens)
            .saturating_sub(question.top_k * PASSAGE_OVERHEAD_TOKENS);
        let assembled = context::assemble(
            &results.hits,
            self.settings.min_similarity,
            budget,
            &self.counter,
        );
        tracing::debug!(
            hits = results.hits.len(),
            passages = assembled.passages.len(),
            below_floor = assembled.below_floor,
            duplicates = assembled.duplicates,
            merged = assembled.merged,
            over_budget = assembled.over_budget,
            "context assembled"
        );

        let mut messages = Vec::with_capacity(history.len() + 2);
        messages.push(Message::new(Role::System, system));
        messages.extend(history);
        messages.push(Message::new(
            Role::User,
            self.prompts.context(&assembled.passages, last)?,
        ));
        Ok(Prepared {
            query,
            question: last.to_owned(),
            found: !assembled.passages.is_empty(),
            passages: assembled.passages,
            messages,
            history_trimmed,
            usage,
            timings: Timings {
                condense_ms,
                embed_ms: results.timings.embed_ms,
                retrieve_ms: results.timings.retrieve_ms,
                rerank_ms: results.timings.rerank_ms,
                ..Timings::default()
            },
            max_tokens: None,
            temperature: None,
        })
    }

    /// Keeps the most recent earlier turns that fit the history budget: (kept, how many were
    /// left out, the kept turns' tokens).
    fn trim_history(&self, mut history: Vec<Message>) -> (Vec<Message>, usize, usize) {
        let mut tokens = 0;
        let mut first_kept = history.len();
        for (i, message) in history.iter().enumerate().rev() {
            let more = self.counter.count(&message.content);
            if tokens + more > self.settings.history_tokens {
                break;
            }
            tokens += more;
            first_kept = i;
        }
        let kept = history.split_off(first_kept);
        (kept, first_kept, tokens)
    }

    /// A follow-up ("and for contractors?") as a query that stands alone. The extractive
    /// answerer has no model to ask: a short follow-up is searched together with the previous
    /// question. If the model fails, the follow-up is searched as it is.
    async fn condense(&self, history: &[Message], last: &str, usage: &mut TokenUsage) -> String {
        if self.writer.is_extractive() {
            let previous = history.iter().rev().find(|m| m.role == Role::User);
            return match previous {
                Some(previous) if segment::terms(last).len() < 4 => {
                    format!("{} {last}", previous.content)
                }
                _ => last.to_owned(),
            };
        }
        let prompt = match self.prompts.condense(history, last) {
            Ok(prompt) => prompt,
            Err(err) => {
                tracing::warn!(error = %err, "cannot render the condensation prompt");
                return last.to_owned();
            }
        };
        let messages = [Message::new(Role::User, prompt)];
        let request = ChatRequest {
            messages: &messages,
            max_tokens: CONDENSE_MAX_TOKENS,
            temperature: 0.0,
        };
        match self.writer.complete(&request, last, &[]).await {
            Ok(completion) => {
                usage.add(completion.usage);
                let query = completion.text.trim();
                if query.is_empty() || query.len() > retrieve::MAX_QUERY_BYTES {
                    last.to_owned()
                } else {
                    query.to_owned()
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot condense the follow-up; searching it as asked");
                last.to_owned()
            }
        }
    }

    fn request<'a>(&self, prepared: &'a Prepared) -> ChatRequest<'a> {
        ChatRequest {
            messages: &prepared.messages,
            max_tokens: prepared
                .max_tokens
                .map_or(self.settings.answer_tokens, |max| {
                    max.min(self.settings.answer_tokens)
                }),
            temperature: prepared.temperature.unwrap_or(self.settings.temperature),
        }
    }

    /// Writes the whole answer.
    pub async fn answer(&self, prepared: Prepared) -> Result<Answer, AnswerError> {
        let mut usage = prepared.usage;
        let mut timings = prepared.timings;
        let (text, finish_reason) = if prepared.found {
            let started = Instant::now();
            let completion = self
                .writer
                .complete(
                    &self.request(&prepared),
                    &prepared.question,
                    &prepared.passages,
                )
                .await?;
            timings.generate_ms = ms(started);
            usage.add(completion.usage);
            (completion.text, completion.finish_reason)
        } else {
            (NOT_FOUND.to_owned(), Some("stop".to_owned()))
        };
        let (answer, cited, dropped_citations) = citations::filter(&text, prepared.passages.len());
        Ok(Answer {
            answer,
            citations: resolve(&prepared.passages, &cited),
            found: prepared.found,
            extractive: self.writer.is_extractive(),
            model: self.writer.name().to_owned(),
            query: prepared.query,
            history_trimmed: prepared.history_trimmed,
            dropped_citations,
            finish_reason,
            usage,
            timings,
        })
    }

    /// Streams the answer as [`Event`]s. Dropping the stream cancels the model call.
    pub fn stream(self: Arc<Self>, prepared: Prepared) -> impl Stream<Item = Event> + Send {
        async_stream::stream! {
            let mut usage = prepared.usage;
            let mut timings = prepared.timings;
            yield Event::Retrieval {
                query: prepared.query.clone(),
                passages: prepared.passages.iter().map(PassageRef::new).collect(),
                found: prepared.found,
                extractive: self.writer.is_extractive(),
                model: self.writer.name().to_owned(),
                history_trimmed: prepared.history_trimmed,
            };
            if !prepared.found {
                yield Event::Delta { text: NOT_FOUND.to_owned() };
                yield Event::Citations { citations: vec![], dropped_citations: 0 };
                yield Event::Done { finish_reason: Some("stop".to_owned()), usage, timings };
                return;
            }
            let started = Instant::now();
            let mut deltas = match self
                .writer
                .stream(&self.request(&prepared), &prepared.question, &prepared.passages)
                .await
            {
                Ok(deltas) => deltas,
                Err(err) => {
                    yield Event::Error { code: err.code(), message: err.to_string(), usage };
                    return;
                }
            };
            let mut filter = CitationFilter::new(prepared.passages.len());
            let mut finish_reason = None;
            while let Some(delta) = deltas.next().await {
                match delta {
                    Ok(Delta::Text(text)) => {
                        timings.first_token_ms.get_or_insert_with(|| ms(started));
                        let text = filter.push(&text);
                        if !text.is_empty() {
                            yield Event::Delta { text };
                        }
                    }
                    Ok(Delta::Usage(more)) => usage.add(more),
                    Ok(Delta::Finish(reason)) => finish_reason = Some(reason),
                    Err(err) => {
                        let text = filter.finish();
                        if !text.is_empty() {
                            yield Event::Delta { text };
                        }
                        yield Event::Error { code: err.code(), message: err.to_string(), usage };
                        return;
                    }
                }
            }
            let text = filter.finish();
            if !text.is_empty() {
                yield Event::Delta { text };
            }
            timings.generate_ms = ms(started);
            yield Event::Citations {
                citations: resolve(&prepared.passages, filter.cited()),
                dropped_citations: filter.dropped(),
            };
            yield Event::Done { finish_reason, usage, timings };
        }
    }
}

impl PassageRef {
    fn new(passage: &Passage) -> Self {
        Self {
            number: passage.number,
            document_id: passage.document_id,
            source_uri: passage.source_uri.clone(),
            title: passage.title.clone(),
            page_from: passage.page_from,
            page_to: passage.page_to,
            chunk_ids: passage.chunk_ids.clone(),
            score: passage.score,
        }
    }
}

/// The cited passages, in the order first cited.
fn resolve(passages: &[Passage], cited: &[usize]) -> Vec<Citation> {
    cited
        .iter()
        .filter_map(|n| passages.iter().find(|p| p.number == *n))
        .map(Citation::new)
        .collect()
}

/// The client's system messages (joined), the earlier turns, and the question (the last message,
/// which must be the user's).
fn split(messages: &[Message]) -> Result<(Option<String>, Vec<Message>, &str), AnswerError> {
    let Some(last) = messages.last() else {
        return Err(AnswerError::Invalid(
            "messages is empty: send the conversation, ending with the user's question".into(),
        ));
    };
    if !messages.iter().any(|m| m.role == Role::User) {
        return Err(AnswerError::Invalid(
            "there is no user message: add the question as a message with role \"user\"".into(),
        ));
    }
    if last.role != Role::User {
        return Err(AnswerError::Invalid(format!(
            "the last message is the {}'s: end the conversation with the user's question",
            last.role.as_str()
        )));
    }
    if last.content.trim().is_empty() {
        return Err(AnswerError::Invalid(
            "the question is empty: put the question in the last user message".into(),
        ));
    }
    let system: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.trim())
        .filter(|c| !c.is_empty())
        .collect();
    let application = (!system.is_empty()).then(|| system.join("\n"));
    let history = messages[..messages.len() - 1]
        .iter()
        .filter(|m| m.role != Role::System)
        .cloned()
        .collect();
    Ok((application, history, last.content.trim()))
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Message {
        Message::new(Role::User, text)
    }

    #[test]
    fn a_conversation_must_end_with_a_user_question() {
        assert!(split(&[]).unwrap_err().to_string().contains("empty"));
        let only_system = [Message::new(Role::System, "be nice")];
        assert!(
            split(&only_system)
                .unwrap_err()
                .to_string()
                .contains("no user message")
        );
        let ends_with_assistant = [user("hi"), Message::new(Role::Assistant, "hello")];
        assert!(
            split(&ends_with_assistant)
                .unwrap_err()
                .to_string()
                .contains("assistant")
        );
        assert!(
            split(&[user("  ")])
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn system_messages_become_application_notes_and_the_rest_history() {
        let messages = [
            Message::new(Role::System, "Answer in French."),
            user("What is the leave policy?"),
            Message::new(Role::Assistant, "25 days [1]."),
            user(" And for contractors? "),
        ];
        let (application, history, last) = split(&messages).unwrap();
        assert_eq!(application.as_deref(), Some("Answer in French."));
        assert_eq!(history.len(), 2);
        assert_eq!(last, "And for contractors?");
    }
}
