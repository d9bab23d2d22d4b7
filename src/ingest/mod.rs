//! Ingestion: source objects become searchable document versions.
//!
//! `source` reads objects, `parse` turns bytes into structured text, `ocr` reads the pages that
//! are scans, `chunk` splits it by tokens (`tokens` counts them), `pipeline` embeds and writes,
//! one transaction per document.

pub mod chunk;
pub mod event;
pub mod lease;
pub mod object;
pub mod ocr;
pub mod parse;
pub mod pipeline;
pub mod queue;
pub mod source;
pub mod tokens;

use std::{path::PathBuf, sync::Arc};

use sqlx::PgPool;

use crate::llm;

/// How ingestion splits documents and what protects it, validated once at start-up
/// (`config::IngestSettings::config`).
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub limits: pipeline::Limits,
    /// Chunk size and overlap for collections that do not set their own, validated
    /// ([`chunk::ChunkOptions::validate`]).
    pub chunking: chunk::ChunkOptions,
    /// A tokenizer.json that counts tokens as the embedding model does; `None`: the documented
    /// over-estimate.
    pub tokenizer: Option<PathBuf>,
    /// Which engine reads scanned pages and images.
    pub ocr: ocr::OcrConfig,
}

/// Why the pipeline could not be built as configured.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Tokenizer(#[from] tokens::TokenizerError),
    #[error(transparent)]
    Ocr(#[from] ocr::OcrSetupError),
}

/// The pipeline `config` describes, for `embedder` (its chunking already validated), with the
/// OCR engine it selects.
pub fn pipeline(
    pool: PgPool,
    embedder: Arc<dyn llm::Embedder>,
    config: &IngestConfig,
) -> Result<pipeline::Pipeline, SetupError> {
    let counter = token_counter(config)?;
    Ok(pipeline::Pipeline::new(
        pool,
        embedder,
        counter,
        config.limits.clone(),
        config.chunking.clone(),
    )
    .with_ocr(ocr::engine(&config.ocr)?))
}

/// The token counter for chunking: the configured tokenizer.json, else the documented
/// over-estimate.
pub fn token_counter(
    config: &IngestConfig,
) -> Result<Arc<dyn tokens::TokenCounter>, tokens::TokenizerError> {
    match &config.tokenizer {
        Some(path) => Ok(Arc::new(tokens::TokenizerCounter::from_file(path)?)),
        None => Ok(Arc::new(tokens::EstimatingCounter)),
    }
}
