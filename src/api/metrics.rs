//! `GET /metrics`: Prometheus (OpenMetrics text) exposition.
//!
//! Request counts and latency histograms per route template (never the raw path: that would make a
//! series per document id), search time split into query embedding and SQL, the embedder's
//! requests, retries, throttling and tokens, answers and their model tokens per tenant (and per
//! request, as a histogram), time to the first token, open answer streams, ingest jobs by state,
//! database pool usage, the ingest pipeline's stage timings, how long taking a pool connection
//! waited, and the standard `process_*` series (Linux).
//!
//! Jobs, pool usage and the process series are read when scraped (the process series from
//! `/proc/self`). Stage timings and pool waits are the pipeline's [`Observer`](crate::ingest::pipeline::Observer): the pipeline owns
//! it (ingest never imports the API), and the first scrape registers it from `AppState`'s
//! pipeline. Pool waits are timed where a connection is taken explicitly: every connection the
//! pipeline takes, the API-key check of every authenticated request ([`acquire`]) and the scrape
//! itself; other handlers' queries take their connection inside sqlx, unmeasured.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

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
use sqlx::{Postgres, pool::PoolConnection};

use super::{ApiError, AppState};
use crate::{
    ingest::{
        ocr::{OcrChoice, OcrEngine},
        pipeline::Pipeline,
    },
    llm::{Embedder, chat::TokenUsage, rerank::Reranker},
    search::retrieve::Timings,
    store,
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
    /// The `process_*` series, unprefixed as every exporter serves them.
    process: Registry,
    /// The pipeline's observer, registered at the first scrape.
    pipeline: OnceLock<Registry>,
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
        #[allow(unused_mut, reason = "the process series are read on Linux only")]
        let mut process = Registry::default();
        #[cfg(target_os = "linux")]
        process.register_collector(Box::new(process::ProcessCollector));
        Arc::new(Self {
            registry,
            process,
            pipeline: OnceLock::new(),
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

/// The pipeline's series: stage timings, pool waits, and the OCR API's counters when it has one.
fn pipeline_registry(pipeline: &Pipeline) -> Registry {
    let observer = pipeline.observer();
    let mut registry = Registry::with_prefix("adbrag");
    if let OcrChoice::On(engine) = pipeline.ocr()
        && engine.usage().is_some()
    {
        registry.register_collector(Box::new(OcrUsage(engine.clone())));
    }
    registry.register(
        "ingest_stage_seconds",
        "wall time of each ingest stage that succeeded: parse (bytes to text), ocr (text for scanned pages), chunk (chunks, keywords and embedding inputs), embed (cache lookup and model call) and write (the transaction)",
        observer.stages().clone(),
    );
    registry.register(
        "db_pool_wait_seconds",
        "time taking a database connection from the pool waited: every connection of the ingest pipeline, the API-key check of each authenticated request, and scrapes (other queries take theirs unmeasured)",
        observer.pool_wait().clone(),
    );
    registry
}

/// A connection for an API request from `AppState`'s pool, its wait observed.
pub(super) async fn acquire(state: &AppState) -> Result<PoolConnection<Postgres>, ApiError> {
    state
        .pipeline
        .observer()
        .acquire(&state.pool)
        .await
        .map_err(|err| ApiError::from(store::Error::from(err)))
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
        encode_counters(
            &mut encoder,
            [
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
            ],
        )
    }
}

/// Counters read at scrape time, each `(name, help, value)`.
fn encode_counters<const N: usize>(
    encoder: &mut DescriptorEncoder,
    counters: [(&str, &str, u64); N],
) -> Result<(), std::fmt::Error> {
    for (name, help, value) in counters {
        let counter = ConstCounter::new(value);
        let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
        counter.encode(metric)?;
    }
    Ok(())
}

/// The OCR API's counters, read at scrape time.
#[derive(Debug)]
struct OcrUsage(Arc<OcrEngine>);

impl Collector for OcrUsage {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(usage) = self.0.usage().map(crate::llm::Usage::snapshot) else {
            return Ok(());
        };
        encode_counters(
            &mut encoder,
            [
                (
                    "ocr_requests",
                    "OCR API attempts, retries included",
                    usage.requests,
                ),
                (
                    "ocr_retries",
                    "OCR attempts retried (throttling, 5xx, timeouts)",
                    usage.retries,
                ),
                (
                    "ocr_throttled",
                    "OCR attempts answered 429",
                    usage.throttled,
                ),
                ("ocr_pages", "pages (images) the OCR API read", usage.inputs),
                (
                    "ocr_tokens",
                    "tokens the OCR API reported, images and text",
                    usage.tokens,
                ),
            ],
        )
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
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "application/openmetrics-text", description = "the metrics in the OpenMetrics text format (docs/api.md lists them)"),
              (status = 503, body = super::error::ErrorBody, description = "the database is unreachable (the job counts are read from it)")))]
pub async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let metrics = &state.metrics;
    let counts: Vec<(String, i64)> =
        crate::store::jobs::count_by_status(&mut *acquire(&state).await?).await?;
    metrics.jobs.clear();
    for (status, count) in counts {
        metrics
            .jobs
            .get_or_create(&StatusLabels { status })
            .set(count);
    }
    metrics.pool_connections.set(i64::from(state.pool.size()));
    metrics.pool_idle.set(state.pool.num_idle() as i64);
    let pipeline = metrics
        .pipeline
        .get_or_init(|| pipeline_registry(&state.pipeline));
    let body = exposition(&[&metrics.registry, pipeline, &metrics.process])
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

/// One OpenMetrics exposition of several registries.
fn exposition(registries: &[&Registry]) -> Result<String, std::fmt::Error> {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut body = String::new();
    for registry in registries {
        encode_registry(&mut body, registry)?;
    }
    encode_eof(&mut body)?;
    Ok(body)
}

/// The standard process series of every Prometheus client, read from `/proc/self` at each scrape,
/// with the names, types, units and help texts of the Go client's process collector.
#[cfg(target_os = "linux")]
mod process {
    use std::fs;

    use prometheus_client::{
        collector::Collector,
        encoding::{DescriptorEncoder, EncodeMetric},
        metrics::{counter::ConstCounter, gauge::ConstGauge},
        registry::Unit,
    };

    /// Clock ticks per second in `/proc` times (`USER_HZ`): 100 on every Linux architecture, and
    /// what the Go client's procfs assumes too (reading it needs `sysconf`, which is unsafe FFI).
    const USER_HZ: f64 = 100.0;

    #[derive(Debug)]
    pub struct ProcessCollector;

    impl Collector for ProcessCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let stats = Stats::read();
            if let Some(seconds) = stats.cpu_seconds {
                let counter = ConstCounter::new(seconds);
                let metric = encoder.encode_descriptor(
                    "process_cpu",
                    "Total user and system CPU time spent in seconds.",
                    Some(&Unit::Seconds),
                    counter.metric_type(),
                )?;
                counter.encode(metric)?;
            }
            for (name, help, unit, value) in [
                (
                    "process_open_fds",
                    "Number of open file descriptors.",
                    None,
                    stats.open_fds,
                ),
                (
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    None,
                    stats.max_fds,
                ),
                (
                    "process_virtual_memory",
                    "Virtual memory size in bytes.",
                    Some(Unit::Bytes),
                    stats.virtual_bytes,
                ),
                (
                    "process_resident_memory",
                    "Resident memory size in bytes.",
                    Some(Unit::Bytes),
                    stats.resident_bytes,
                ),
            ] {
                if let Some(value) = value {
                    let gauge = ConstGauge::new(value);
                    let metric = encoder.encode_descriptor(
                        name,
                        help,
                        unit.as_ref(),
                        gauge.metric_type(),
                    )?;
                    gauge.encode(metric)?;
                }
            }
            if let Some(seconds) = stats.start_time_seconds {
                let gauge = ConstGauge::new(seconds);
                let metric = encoder.encode_descriptor(
                    "process_start_time",
                    "Start time of the process since unix epoch in seconds.",
                    Some(&Unit::Seconds),
                    gauge.metric_type(),
                )?;
                gauge.encode(metric)?;
            }
            Ok(())
        }
    }

    /// What one scrape read; a value `/proc` did not give is left out of the exposition.
    #[derive(Debug, Default, PartialEq)]
    pub struct Stats {
        pub cpu_seconds: Option<f64>,
        pub resident_bytes: Option<u64>,
        pub virtual_bytes: Option<u64>,
        pub open_fds: Option<u64>,
        pub max_fds: Option<u64>,
        pub start_time_seconds: Option<f64>,
    }

    impl Stats {
        pub fn read() -> Self {
            let read = |path: &str| fs::read_to_string(path).ok();
            let stat = read("/proc/self/stat").as_deref().and_then(Stat::parse);
            let boot_time = read("/proc/stat").as_deref().and_then(boot_time);
            Self {
                cpu_seconds: stat
                    .as_ref()
                    .map(|stat| (stat.utime + stat.stime) as f64 / USER_HZ),
                resident_bytes: read("/proc/self/status")
                    .as_deref()
                    .and_then(resident_bytes),
                virtual_bytes: stat.as_ref().map(|stat| stat.vsize),
                // The directory's own descriptor, open while it is read, is counted: as the Go
                // client counts.
                open_fds: fs::read_dir("/proc/self/fd")
                    .ok()
                    .map(|entries| entries.count() as u64),
                max_fds: read("/proc/self/limits")
                    .as_deref()
                    .and_then(max_open_files),
                start_time_seconds: stat
                    .zip(boot_time)
                    .map(|(stat, boot)| boot as f64 + stat.starttime as f64 / USER_HZ),
            }
        }
    }

    /// The fields of `/proc/self/stat` the series need (proc(5) numbers them from 1).
    #[derive(Debug, PartialEq)]
    pub struct Stat {
        /// 14, 15: CPU time in user and kernel mode, in clock ticks.
        pub utime: u64,
        pub stime: u64,
        /// 22: when the process started, in clock ticks after boot.
        pub starttime: u64,
        /// 23: virtual memory size in bytes.
        pub vsize: u64,
    }

    impl Stat {
        pub fn parse(text: &str) -> Option<Self> {
            // Field 2 is the command name in parentheses, which may itself hold spaces and
            // parentheses: the fields that follow start after the last ')', with field 3.
            let (_, rest) = text.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
            Some(Self {
                utime: field(14)?,
                stime: field(15)?,
                starttime: field(22)?,
                vsize: field(23)?,
            })
        }
    }

    /// `VmRSS` of `/proc/self/status` (kB), in bytes: the resident pages the Go client counts.
    pub fn resident_bytes(status: &str) -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// `btime` of `/proc/stat`: boot time, in seconds since the epoch.
    pub fn boot_time(stat: &str) -> Option<u64> {
        stat.lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }

    /// The soft limit on open files, from `/proc/self/limits` (None when unlimited).
    pub fn max_open_files(limits: &str) -> Option<u64> {
        let line = limits
            .lines()
            .find_map(|line| line.strip_prefix("Max open files"))?;
        line.split_whitespace().next()?.parse().ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_are_read_after_a_command_name_with_spaces_and_parentheses() {
            let stat = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 2315 0 0 0 \
                        731 152 0 0 20 0 9 0 123456 1073741824 3000 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 17987 0 0 0 17 1 0 0 0 0 0";
            assert_eq!(
                Stat::parse(stat),
                Some(Stat {
                    utime: 731,
                    stime: 152,
                    starttime: 123456,
                    vsize: 1073741824,
                })
            );
            assert_eq!(Stat::parse("4242 (truncated) S 1 2"), None);
            assert_eq!(Stat::parse("no parenthesis"), None);
        }

        #[test]
        fn status_limits_and_boot_time_are_read_from_their_lines() {
            let status = "Name:\tadbrag\nVmSize:\t  123456 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
            assert_eq!(resident_bytes(status), Some(20480 * 1024));
            assert_eq!(resident_bytes("Name:\tadbrag\n"), None);

            let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max cpu time              unlimited            unlimited            seconds   \n\
                          Max open files            1024                 524288               files     \n";
            assert_eq!(max_open_files(limits), Some(1024));
            assert_eq!(
                max_open_files(
                    "Max open files            unlimited            unlimited            files"
                ),
                None
            );

            assert_eq!(
                boot_time("cpu  1 2 3\nintr 5\nbtime 1767225600\nprocesses 7\n"),
                Some(1767225600)
            );
            assert_eq!(boot_time("cpu  1 2 3\n"), None);
        }

        #[test]
        fn this_process_reads_as_alive() {
            let stats = Stats::read();
            assert!(stats.resident_bytes.unwrap() > 0, "{stats:?}");
            assert!(stats.virtual_bytes.unwrap() >= stats.resident_bytes.unwrap());
            assert!(stats.open_fds.unwrap() >= 3, "{stats:?}");
            assert!(stats.max_fds.unwrap() >= stats.open_fds.unwrap());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let started = stats.start_time_seconds.unwrap();
            assert!(
                started <= now + 1.0 && started > now - 86_400.0,
                "{started} vs {now}"
            );
            assert!(stats.cpu_seconds.unwrap() >= 0.0);
        }
    }
}

#[cfg(test)]
mod ocr_tests {
    use super::*;
    use crate::{
        ingest::{
            chunk::ChunkOptions,
            ocr::{ApiConfig, OcrLimits, api::ModelStudioOcr},
            pipeline::Limits,
            tokens::EstimatingCounter,
        },
        llm::{EmbeddingConfig, Endpoint},
    };

    #[tokio::test]
    async fn the_ocr_apis_counters_are_exposed_with_the_pipelines_series() {
        let endpoint = Endpoint {
            base_url: "http://127.0.0.1:9".to_owned(),
            api_key: None,
        };
        let embedder = crate::llm::embedder(&EmbeddingConfig {
            endpoint: Some(endpoint.clone()),
            model: "m".into(),
            dimensions: 8,
            batch_size: 1,
            concurrency: 1,
            max_attempts: 1,
            timeout: std::time::Duration::from_secs(1),
            models_dir: "models".into(),
        })
        .unwrap();
        let limits = OcrLimits::default();
        let ocr = ModelStudioOcr::new(
            &ApiConfig {
                endpoint,
                model: "qwen-vl-ocr".into(),
                max_attempts: 1,
            },
            &limits,
        )
        .unwrap();
        let engine = OcrEngine::new(Arc::new(ocr), std::path::Path::new("pdftoppm"), limits);
        let pool = sqlx::PgPool::connect_lazy("postgres://nobody@127.0.0.1:9/none").unwrap();
        let pipeline = Pipeline::new(
            pool,
            embedder,
            Arc::new(EstimatingCounter),
            Limits {
                max_object_bytes: 1,
                max_pages: 1,
                max_image_pixels: 1,
                max_chunks: 1,
                parse_timeout: std::time::Duration::from_secs(1),
            },
            ChunkOptions::default(),
        );
        let without = exposition(&[&pipeline_registry(&pipeline)]).unwrap();
        assert!(!without.contains("adbrag_ocr_"), "{without}");
        let pipeline = pipeline.with_ocr(OcrChoice::On(Arc::new(engine)));
        let with = exposition(&[&pipeline_registry(&pipeline)]).unwrap();
        for series in [
            "adbrag_ocr_requests_total 0",
            "adbrag_ocr_pages_total 0",
            "adbrag_ocr_tokens_total 0",
        ] {
            assert!(with.contains(series), "{series}: {with}");
        }
    }
}
