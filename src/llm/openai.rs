//! Embeddings from an OpenAI-compatible API (Model Studio's compatible mode, vLLM, Ollama, …).
//!
//! Texts go out in batches (Model Studio's v3/v4 models take at most 10 inputs a request), several
//! batches at once but never more than `concurrency` requests in flight across the whole process —
//! fewer when the provider throttles (see [`transport::AdaptiveLimit`]) — each retried by
//! [`super::transport`] when the provider throttles or fails.

use std::{sync::Arc, time::Duration};

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::OpenAIError,
    types::embeddings::{CreateEmbeddingRequestArgs, EncodingFormat},
};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;

use super::{
    EmbedError, Embedder, EmbeddingConfig, Endpoint, SetupError, Usage,
    transport::{self, AdaptiveLimit, Failure, RetryPolicy},
};

pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    dimensions: usize,
    batch_size: usize,
    concurrency: usize,
    usage: Arc<Usage>,
}

impl OpenAiEmbedder {
    pub fn new(endpoint: &Endpoint, settings: &EmbeddingConfig) -> Result<Self, SetupError> {
        let base_url = endpoint.base_url.as_str();
        super::check_endpoint(base_url)?;
        let usage = Arc::new(Usage::default());
        let policy = RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            timeout: settings.timeout.max(Duration::from_millis(1)),
            ..RetryPolicy::default()
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .build()
            .map_err(|err| SetupError::InvalidEndpoint(err.to_string()))?;
        let mut config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/'));
        if let Some(key) = &endpoint.api_key {
            config = config.with_api_key(key.expose_secret());
        }
        let concurrency = settings.concurrency.max(1);
        let limit = AdaptiveLimit::new(concurrency);
        let client = Client::with_config(config).with_http_service(transport::service(
            http,
            policy,
            usage.clone(),
            limit,
        ));
        Ok(Self {
            client,
            model: settings.model.clone(),
            dimensions: settings.dimensions,
            batch_size: settings.batch_size.max(1),
            concurrency,
            usage,
        })
    }

    async fn embed_batch(&self, batch: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let request = CreateEmbeddingRequestArgs::default()
            .model(&self.model)
            .input(batch.to_vec())
            .dimensions(u32::try_from(self.dimensions).unwrap_or(u32::MAX))
            .encoding_format(EncodingFormat::Float)
            .build()
            .map_err(|err| EmbedError::Malformed(err.to_string()))?;
        let started = std::time::Instant::now();
        let response = self
            .client
            .embeddings()
            .create(request)
            .await
            .map_err(classify)?;
        let mut data = response.data;
        data.sort_by_key(|embedding| embedding.index);
        let wrong_dimensions = data.iter().find(|e| e.embedding.len() != self.dimensions);
        if data.len() != batch.len() || wrong_dimensions.is_some() {
            return Err(EmbedError::WrongShape {
                got: data.len(),
                dimensions: wrong_dimensions.map_or(self.dimensions, |e| e.embedding.len()),
                expected: batch.len(),
                expected_dimensions: self.dimensions,
            });
        }
        let tokens = u64::from(response.usage.total_tokens);
        self.usage.record_embedded(batch.len() as u64, tokens);
        tracing::debug!(
            inputs = batch.len(),
            tokens,
            latency_ms = started.elapsed().as_millis() as u64,
            "embedded"
        );
        Ok(data.into_iter().map(|e| e.embedding).collect())
    }
}

/// Sorts a final error (retries are over) into what the caller can do about it.
fn classify(err: OpenAIError) -> EmbedError {
    match transport::classify(err) {
        Failure::Rejected {
            status,
            code,
            message,
        } => EmbedError::Rejected {
            status,
            code,
            message,
        },
        Failure::Unavailable(message) | Failure::Interrupted(message) => {
            EmbedError::Unavailable(message)
        }
        Failure::Malformed(message) => EmbedError::Malformed(message),
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn is_local(&self) -> bool {
        false
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let requests: Vec<_> = texts
            .chunks(self.batch_size)
            .map(|batch| self.embed_batch(batch))
            .collect();
        let batches: Vec<Vec<Vec<f32>>> = futures::stream::iter(requests)
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    fn usage(&self) -> &Usage {
        &self.usage
    }
}
