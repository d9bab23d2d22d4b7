//! `GET /metrics`: Prometheus (OpenMetrics text) exposition.
//!
//! Request counts and latency histograms per route template (never the raw path: that would make a
//! series per document id), search time split into query embedding and SQL, the embedder's
//! requests, retries, throttling and tokens, answers and their model tokens per tenant (and per
//! request, as a histogram), time to the first token, open answer streams, ingest jobs by state,
//! and database pool usage.
//! The last two are read when scraped.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header::CONTENT_TYPE,
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use super::{ApiError, AppState};
use crate::{
    llm::{Embedder, chat::TokenUsage, rerank::Reranker},
    search::retrieve::Timings,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    tenant: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    tenant: String,
    outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    answers: Family<AnswerLabels, Counter>,
    answer_tokens: Family<TokenLabels, Counter>,
    request_tokens: Histogram,
    first_token: Histogram,
    streams_open: Gauge,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    search: Family<PhaseLabels, Histogram>,
    jobs: Family<StatusLabels, Gauge>,
    pool_connections: Gauge,
    pool_idle: Gauge,
}

fn seconds_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new(embedder: Arc<dyn Embedder>, reranker: Option<Arc<dyn Reranker>>) -> Arc<Self> {
        let mut registry = Registry::with_prefix("adbrag");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        let search = Family::<PhaseLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "search_duration_seconds",
            "search time by phase: embed (the query embedding), sql (both legs and fusion, one statement) and rerank (when configured)",
            search.clone(),
        );
        let jobs = Family::<StatusLabels, Gauge>::default();
        registry.register("ingest_jobs", "ingest jobs by status", jobs.clone());
        let pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "database connections open",
            pool_connections.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "database connections idle",
            pool_idle.clone(),
        );
        registry.register_collector(Box::new(EmbedderUsage(embedder)));
        if let Some(reranker) = reranker {
            registry.register_collector(Box::new(crate::llm::rerank::UsageCollector(reranker)));
        }
        let answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "answers",
            "answers by tenant and outcome: answered, not_found (no passage relevant, no model call) or error",
            answers.clone(),
        );
        let answer_tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "answer_tokens",
            "chat model tokens by tenant and kind (prompt, completion), condensation included",
            answer_tokens.clone(),
        );
        // 16 to ~500k tokens.
        let request_tokens = Histogram::new(exponential_buckets(16.0, 2.0, 16));
        registry.register(
            "answer_request_tokens",
            "chat model tokens (prompt + completion) per answer",
            request_tokens.clone(),
        );
        let first_token = seconds_histogram();
        registry.register(
            "answer_first_token_seconds",
            "time from the model call to the first token of a streamed answer",
            first_token.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "answer_streams_open",
            "answers streaming now",
            streams_open.clone(),
        );
        Arc::new(Self {
            registry,
            answers,
            answer_tokens,
            request_tokens,
            first_token,
            streams_open,
            requests,
            latency,
            search,
            jobs,
            pool_connections,
            pool_idle,
        })
    }

    /// One answer's outcome and token usage, for its tenant.
    pub fn observe_answer(&self, tenant: &str, outcome: &'static str, usage: &TokenUsage) {
        self.answers
            .get_or_create(&AnswerLabels {
                tenant: tenant.to_owned(),
                outcome,
            })
            .inc();
        for (kind, tokens) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            self.answer_tokens
                .get_or_create(&TokenLabels {
                    tenant: tenant.to_owned(),
                    kind,
                })
                .inc_by(tokens);
        }
        if usage.total_tokens > 0 {
            self.request_tokens.observe(usage.total_tokens as f64);
        }
    }

    pub fn observe_first_token(&self, ms: f64) {
        self.first_token.observe(ms / 1000.0);
    }

    /// Counts an open stream until the guard drops.
    pub fn stream_opened(self: &Arc<Self>) -> StreamGuard {
        self.streams_open.inc();
        StreamGuard(self.clone())
    }

    pub fn observe_search(&self, timings: &Timings) {
        self.search
            .get_or_create(&PhaseLabels { phase: "embed" })
            .observe(timings.embed_ms / 1000.0);
        self.search
            .get_or_create(&PhaseLabels { phase: "sql" })
            .observe(timings.retrieve_ms / 1000.0);
        if timings.rerank_ms > 0.0 {
            self.search
                .get_or_create(&PhaseLabels { phase: "rerank" })
                .observe(timings.rerank_ms / 1000.0);
        }
    }
}

/// Holds one place in the open-streams gauge.
pub struct StreamGuard(Arc<Metrics>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams_open.dec();
    }
}

/// The embedder's counters, read at scrape time.
struct EmbedderUsage(Arc<dyn Embedder>);

impl std::fmt::Debug for EmbedderUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EmbedderUsage")
            .field(&self.0.model())
            .finish()
    }
}

impl Collector for EmbedderUsage {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let usage = self.0.usage().snapshot();
        for (name, help, value) in [
            (
                "embedding_requests",
                "embedding API attempts, retries included",
                usage.requests,
            ),
            (
                "embedding_retries",
                "embedding attempts retried (throttling, 5xx, timeouts)",
                usage.retries,
            ),
            (
                "embedding_throttled",
                "embedding attempts answered 429",
                usage.throttled,
            ),
            ("embedding_inputs", "texts embedded", usage.inputs),
            (
                "embedding_tokens",
                "tokens embedded, as the provider reported",
                usage.tokens,
            ),
        ] {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "application/openmetrics-text")))]
pub async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let metrics = &state.metrics;
    let counts: Vec<(String, i64)> = crate::store::jobs::count_by_status(&state.pool).await?;
    metrics.jobs.clear();
    for (status, count) in counts {
        metrics
            .jobs
            .get_or_create(&StatusLabels { status })
            .set(count);
    }
    metrics.pool_connections.set(i64::from(state.pool.size()));
    metrics.pool_idle.set(state.pool.num_idle() as i64);
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &metrics.registry)
        .map_err(|err| ApiError::internal(&err))?;
    Ok((
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
