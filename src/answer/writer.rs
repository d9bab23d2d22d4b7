//! Who writes an answer: a language model behind [`ChatModel`], or — the embedded default, with
//! no model and no API key — the extractive writer, which quotes the retrieved sentences that best
//! match the question, each with its [n] citation ([`super::extractive`]), and says so:
//! responses carry `extractive: true`.
//!
//! A model reads the rendered prompt; the extractive writer reads the question and the numbered
//! passages directly, so it lives here, on the answer side, rather than pretending to be a model.

use std::sync::Arc;

use futures::StreamExt;

use super::{context::Passage, extractive};
use crate::llm::chat::{
    ChatError, ChatModel, ChatRequest, Completion, Delta, DeltaStream, TokenUsage,
};

/// Sentences the extractive writer quotes per answer.
const SENTENCES: usize = 3;

/// The configured writer of answers.
#[derive(Clone)]
pub enum Writer {
    /// A language model writes from the prompt.
    Model(Arc<dyn ChatModel>),
    /// No model: the best-matching sentences of the passages are quoted.
    Extractive,
}

impl Writer {
    /// The name the extractive writer reports as its model.
    pub const EXTRACTIVE: &'static str = "extractive";

    /// The name responses report as the model.
    pub fn name(&self) -> &str {
        match self {
            Writer::Model(model) => model.name(),
            Writer::Extractive => Self::EXTRACTIVE,
        }
    }

    /// True when no language model writes: responses say so.
    pub fn is_extractive(&self) -> bool {
        matches!(self, Writer::Extractive)
    }

    /// Writes the whole answer to `question` from the prompt (a model) or the passages
    /// (extractive).
    pub async fn complete(
        &self,
        request: &ChatRequest<'_>,
        question: &str,
        passages: &[Passage],
    ) -> Result<Completion, ChatError> {
        match self {
            Writer::Model(model) => model.complete(request).await,
            Writer::Extractive => Ok(Completion {
                text: extractive::answer(question, passages, SENTENCES),
                usage: TokenUsage::default(),
                finish_reason: Some("stop".to_owned()),
            }),
        }
    }

    /// Streams the answer. The extractive writer sends one delta per line, so a terminal shows
    /// the quotes arrive as a model's answer would.
    pub async fn stream(
        &self,
        request: &ChatRequest<'_>,
        question: &str,
        passages: &[Passage],
    ) -> Result<DeltaStream, ChatError> {
        match self {
            Writer::Model(model) => model.stream(request).await,
            Writer::Extractive => {
                let text = extractive::answer(question, passages, SENTENCES);
                let mut deltas: Vec<Result<Delta, ChatError>> = text
                    .split_inclusive('\n')
                    .map(|line| Ok(Delta::Text(line.to_owned())))
                    .collect();
                deltas.push(Ok(Delta::Usage(TokenUsage::default())));
                deltas.push(Ok(Delta::Finish("stop".to_owned())));
                Ok(futures::stream::iter(deltas).boxed())
            }
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Writer").field(&self.name()).finish()
    }
}
