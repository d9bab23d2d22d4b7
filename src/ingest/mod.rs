//! Ingestion: source objects become searchable document versions.
//!
//! `source` reads objects, `parse` turns bytes into structured text, `chunk` splits it by tokens
//! (`tokens` counts them), `pipeline` embeds and writes, one transaction per document.

pub mod chunk;
pub mod event;
pub mod lease;
pub mod object;
pub mod parse;
pub mod pipeline;
pub mod queue;
pub mod source;
pub mod tokens;

use std::sync::Arc;

use sqlx::PgPool;

use crate::{
    config::{EmbeddingSettings, IngestSettings},
    llm,
};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid chunking options: {0}")]
    Chunking(String),
    #[error(transparent)]
    Tokenizer(#[from] tokens::TokenizerError),
}

/// The pipeline the settings describe, for `embedder`; refuses chunking options that make no sense.
pub fn pipeline(
    pool: PgPool,
    embedder: Arc<dyn llm::Embedder>,
    embedding: &EmbeddingSettings,
    settings: &IngestSettings,
) -> Result<pipeline::Pipeline, SetupError> {
    let chunking = chunk::ChunkOptions {
        max_tokens: settings.chunk_tokens,
        overlap_tokens: settings.chunk_overlap,
    };
    chunking.validate().map_err(SetupError::Chunking)?;
    let counter = token_counter(settings, embedding, embedder.as_ref())?;
    Ok(pipeline::Pipeline::new(
        pool,
        embedder,
        counter,
        pipeline::Limits::from(settings),
        chunking,
    ))
}

/// The token counter for chunking: the configured tokenizer.json, else the local model's own
/// tokenizer when embedding locally, else the documented over-estimate.
pub fn token_counter(
    settings: &IngestSettings,
    embedding: &EmbeddingSettings,
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
