//! Ingestion: source objects become searchable document versions.
//!
//! `source` reads objects, `parse` turns bytes into structured text, `chunk` splits it by tokens
//! (`tokens` counts them), `pipeline` embeds and writes, one transaction per document.

pub mod chunk;
pub mod parse;
pub mod pipeline;
pub mod source;
pub mod tokens;

use std::sync::Arc;

use crate::{config::IngestSettings, llm};

/// The token counter for chunking: the configured tokenizer.json, else the local model's own
/// tokenizer when embedding locally, else the documented over-estimate.
pub fn token_counter(
    settings: &IngestSettings,
    embedding: &crate::config::EmbeddingSettings,
    embedder: &dyn llm::Embedder,
) -> Result<Arc<dyn tokens::TokenCounter>, tokens::TokenizerError> {
    if let Some(path) = &settings.tokenizer {
        return Ok(Arc::new(tokens::TokenizerCounter::from_file(path)?));
    }
    if embedder.is_local() {
        let path = llm::local_model_dir(&embedding.models_dir).join("tokenizer.json");
        return Ok(Arc::new(tokens::TokenizerCounter::from_file(&path)?));
    }
    Ok(Arc::new(tokens::EstimatingCounter))
}
