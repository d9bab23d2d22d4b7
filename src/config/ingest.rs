//! The ingest settings: how documents are split, and the limits that protect the service.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::{ConfigError, EmbeddingSettings, OcrSettings};
use crate::{
    ingest::{IngestConfig, chunk::ChunkOptions, parse::ParseLimits, pipeline::Limits},
    llm,
};

/// How documents are split, and the limits that protect the service from a hostile or broken one.
#[derive(Debug, Clone, Args)]
pub struct IngestSettings {
    /// Largest object accepted, in bytes (checked before it is read).
    #[arg(long = "max-object-bytes", env = "ADBRAG_MAX_OBJECT_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_object_bytes: u64,

    /// Most pages accepted in one PDF.
    #[arg(long = "max-pages", env = "ADBRAG_MAX_PAGES", default_value_t = ParseLimits::DEFAULT_MAX_PAGES)]
    pub max_pages: u32,

    /// Most chunks one document may produce.
    #[arg(
        long = "max-chunks",
        env = "ADBRAG_MAX_CHUNKS",
        default_value_t = 20_000
    )]
    pub max_chunks: usize,

    /// Seconds one document may spend being parsed and chunked.
    #[arg(
        long = "parse-timeout",
        env = "ADBRAG_PARSE_TIMEOUT",
        default_value_t = 120
    )]
    pub parse_timeout_secs: u64,

    /// Tokens per chunk (default for new collections).
    #[arg(
        long = "chunk-tokens",
        env = "ADBRAG_CHUNK_TOKENS",
        default_value_t = ChunkOptions::default().max_tokens
    )]
    pub chunk_tokens: usize,

    /// Tokens repeated from the end of one chunk at the start of the next.
    #[arg(
        long = "chunk-overlap",
        env = "ADBRAG_CHUNK_OVERLAP",
        default_value_t = ChunkOptions::default().overlap_tokens
    )]
    pub chunk_overlap: usize,

    /// A tokenizer.json that counts tokens exactly as the embedding model does. Unset: the local
    /// model's tokenizer with the local embedder, otherwise a documented over-estimate.
    #[arg(long = "tokenizer", env = "ADBRAG_TOKENIZER")]
    pub tokenizer: Option<PathBuf>,

    #[command(flatten)]
    pub ocr: OcrSettings,
}

impl IngestSettings {
    /// The ingest configuration: the limits, the default chunking, and the tokenizer that counts
    /// tokens — the one given, else the local model's own when embedding locally, else none
    /// (the documented over-estimate).
    /// Refuses a chunking that makes no sense (a size below the minimum, an overlap not below it).
    pub fn config(&self, embedding: &EmbeddingSettings) -> Result<IngestConfig, ConfigError> {
        let tokenizer = self.tokenizer.clone().or_else(|| {
            embedding
                .base_url
                .is_none()
                .then(|| llm::local_model_dir(&embedding.models_dir).join("tokenizer.json"))
        });
        let chunking = ChunkOptions {
            max_tokens: self.chunk_tokens,
            overlap_tokens: self.chunk_overlap,
        };
        chunking
            .validate()
            .map_err(|problem| ConfigError::Invalid {
                name: "the chunking (ADBRAG_CHUNK_TOKENS, ADBRAG_CHUNK_OVERLAP)",
                problem,
            })?;
        Ok(IngestConfig {
            limits: self.limits(),
            chunking,
            tokenizer,
            ocr: self.ocr.config()?,
        })
    }

    /// What protects the service from a hostile or broken document.
    pub fn limits(&self) -> Limits {
        Limits {
            max_object_bytes: self.max_object_bytes,
            max_pages: self.max_pages,
            max_image_pixels: self.ocr.max_pixels,
            max_chunks: self.max_chunks,
            parse_timeout: Duration::from_secs(self.parse_timeout_secs.max(1)),
        }
    }
}
