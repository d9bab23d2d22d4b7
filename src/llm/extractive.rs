//! The embedded default answerer: no language model, no API key. It quotes the retrieved
//! sentences that best match the question, each with its [n] citation
//! (see [`crate::answer::extractive`]), and says so: responses carry `extractive: true`.

use async_trait::async_trait;
use futures::StreamExt;

use super::chat::{
    ChatError, ChatModel, ChatRequest, ChatUsage, Completion, Delta, DeltaStream, TokenUsage,
};
use crate::answer::extractive;

/// Sentences quoted per answer.
const SENTENCES: usize = 3;

#[derive(Debug, Default)]
pub struct Extractive {
    usage: ChatUsage,
}

impl Extractive {
    pub const NAME: &'static str = "extractive";
}

#[async_trait]
impl ChatModel for Extractive {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn is_extractive(&self) -> bool {
        true
    }

    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, ChatError> {
        self.usage.record_call();
        Ok(Completion {
            text: extractive::answer(request.question, request.passages, SENTENCES),
            usage: TokenUsage::default(),
            finish_reason: Some("stop".to_owned()),
        })
    }

    async fn stream(&self, request: &ChatRequest<'_>) -> Result<DeltaStream, ChatError> {
        let completion = self.complete(request).await?;
        // One delta per line, so a terminal shows the quotes arrive as a model's answer would.
        let mut deltas: Vec<Result<Delta, ChatError>> = completion
            .text
            .split_inclusive('\n')
            .map(|line| Ok(Delta::Text(line.to_owned())))
            .collect();
        deltas.push(Ok(Delta::Usage(TokenUsage::default())));
        deltas.push(Ok(Delta::Finish("stop".to_owned())));
        Ok(futures::stream::iter(deltas).boxed())
    }

    fn usage(&self) -> &ChatUsage {
        &self.usage
    }
}
