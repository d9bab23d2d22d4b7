//! Settings: the command line and the environment, in one place, validated at start-up.
//!
//! Every field has a flag and an environment variable; `adbrag <command> --help` is the reference.
//! Secrets are held in [`SecretString`], whose `Debug` never shows the value, and `--help` never
//! prints their environment values.

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

mod admin;
mod queue;
pub use admin::{
    AuditArgs, AuditCommand, PurgeArgs, ReindexArgs, StatsArgs, TombstonesArgs, TombstonesCommand,
};
pub use queue::{
    FcArgs, JobsArgs, JobsCommand, ObjectStoreArgs, QueueArgs, RouteSettings, WorkerArgs,
};

/// adbrag: answers with citations from the documents in your OSS buckets.
#[derive(Debug, Parser)]
#[command(name = "adbrag", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogSettings,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (`/healthz`, `/readyz`, …) until SIGTERM or Ctrl-C.
    Serve(Box<ServeArgs>),
    /// Apply the database migrations this binary carries, then exit.
    Migrate(MigrateArgs),
    /// Ingest files or directories into a collection (parse, chunk, embed, store), then exit.
    Ingest(Box<IngestArgs>),
    /// Search a collection from the command line (the same retrieval as the API).
    Search(Box<SearchArgs>),
    /// Measure retrieval quality on a labelled JSONL file: hit@k, MRR@10, nDCG@10 per mode.
    Eval(Box<EvalArgs>),
    /// Ask a question of a collection: the answer streams to the terminal, then its citations.
    Ask(Box<AskArgs>),
    /// Create, list and revoke API keys.
    Keys(KeysArgs),
    /// Serve Function Compute's custom runtime: OSS trigger events on POST /invoke.
    Fc(Box<FcArgs>),
    /// Process queued ingest jobs (OSS events, backfills) until SIGTERM, or until none is left
    /// with --drain.
    Worker(Box<WorkerArgs>),
    /// List the ingest queue's jobs, retry dead ones, cancel one.
    Jobs(JobsArgs),
    /// Erase documents and everything derived from them, audited and verified (docs/purge.md).
    Purge(Box<PurgeArgs>),
    /// List tombstones, or lift one so a purged source can be ingested again.
    Tombstones(TombstonesArgs),
    /// The audit log: who purged what, and when.
    Audit(AuditArgs),
    /// What the database holds: collections, documents by status, chunks, table and index
    /// sizes, jobs by status.
    Stats(StatsArgs),
    /// Re-embed a collection with the configured embedder (after a change of model or size),
    /// switching in one transaction; resumes after an interruption.
    Reindex(Box<ReindexArgs>),
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,

    /// The collection to answer from.
    #[arg(long, short = 'c')]
    pub collection: String,

    /// The collection's tenant.
    #[arg(long, env = "ADBRAG_TENANT", default_value = "default")]
    pub tenant: String,

    /// Passages retrieved before context assembly.
    #[arg(long, default_value_t = 8)]
    pub top_k: usize,

    /// A metadata filter as JSON (docs/api.md has the grammar), e.g. '{"team": "hr"}'.
    #[arg(long)]
    pub filter: Option<String>,

    /// Print the whole answer as one JSON object instead of streaming text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub search: SearchSettings,

    #[command(flatten)]
    pub chat: ChatSettings,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to search for.
    pub query: String,

    #[arg(long, short = 'c')]
    pub collection: String,

    #[arg(long, env = "ADBRAG_TENANT", default_value = "default")]
    pub tenant: String,

    /// Hits to show.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,

    /// hybrid, vector or keyword.
    #[arg(long, default_value = "hybrid")]
    pub mode: String,

    /// A metadata filter as JSON, e.g. '{"team": "hr"}' (docs/api.md has the grammar).
    #[arg(long)]
    pub filter: Option<String>,

    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub search: SearchSettings,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// JSONL of {"query": …, "relevant": [paths or URIs]}; paths are relative to the current directory.
    pub file: PathBuf,

    #[arg(long, short = 'c')]
    pub collection: String,

    #[arg(long, env = "ADBRAG_TENANT", default_value = "default")]
    pub tenant: String,

    /// Print one JSON object (metrics per mode, each query's reciprocal rank per mode, hybrid's
    /// wins and losses against each leg) instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Also answer every query with the configured answerer (extractive without
    /// ADBRAG_CHAT_BASE_URL) and report the share answered, the share containing the query's
    /// `must_contain` term, and the share citing a relevant document.
    #[arg(long)]
    pub answers: bool,

    /// Passages retrieved for each answer (as `adbrag ask --top-k`).
    #[arg(long, default_value_t = 8)]
    pub answer_top_k: usize,

    #[command(flatten)]
    pub chat: ChatSettings,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub search: SearchSettings,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (shown once; only its hash is stored).
    Create {
        /// The tenant whose collections the key reaches.
        #[arg(long)]
        tenant: String,
        /// reader (list, search), writer (+ upload, delete documents) or admin (+ collections).
        #[arg(long, default_value = "reader")]
        role: crate::store::api_keys::Role,
        /// A label for people: who or what uses the key.
        #[arg(long)]
        name: String,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by id or by the prefix `keys list` shows.
    Revoke { key: String },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve without API keys: every caller is the admin of tenant "default". Development only;
    /// refused unless --bind is a loopback address.
    #[arg(long, env = "ADBRAG_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub http: HttpSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub ingest: IngestSettings,

    #[command(flatten)]
    pub search: SearchSettings,

    #[command(flatten)]
    pub chat: ChatSettings,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or directories to ingest; directories are walked recursively (hidden entries
    /// skipped). `oss://bucket/prefix` or `s3://bucket/prefix` backfills every object under the
    /// prefix through the queue.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// The collection to ingest into; created (with the configured embedder's model and size) if missing.
    #[arg(long, short = 'c')]
    pub collection: String,

    /// The tenant that owns the collection.
    #[arg(long, env = "ADBRAG_TENANT", default_value = "default")]
    pub tenant: String,

    /// Documents processed at once.
    #[arg(long, env = "ADBRAG_INGEST_PARALLELISM", default_value_t = 4)]
    pub parallelism: usize,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub ingest: IngestSettings,

    #[command(flatten)]
    pub objects: ObjectStoreArgs,

    #[command(flatten)]
    pub queue: QueueArgs,
}

/// Which embedding model turns chunks into vectors.
///
/// With no endpoint configured, adbrag embeds locally with all-MiniLM-L6-v2 (384 dimensions) from
/// `--models-dir`; `scripts/models.sh` fetches it.
#[derive(Debug, Clone, Args)]
pub struct EmbeddingSettings {
    /// OpenAI-compatible endpoint, e.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1
    /// (Model Studio, Singapore). Unset: the local embedder.
    #[arg(long = "embedding-base-url", env = "ADBRAG_EMBEDDING_BASE_URL")]
    pub base_url: Option<String>,

    /// API key for that endpoint (for Model Studio, a DashScope API key).
    #[arg(long = "embedding-api-key", env = "ADBRAG_EMBEDDING_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<SecretString>,

    /// Embedding model at the endpoint.
    #[arg(
        long = "embedding-model",
        env = "ADBRAG_EMBEDDING_MODEL",
        default_value = "text-embedding-v4"
    )]
    pub model: String,

    /// Vector size to ask the endpoint for (`dimensions`); text-embedding-v4 supports 64 to 2048.
    #[arg(
        long = "embedding-dimensions",
        env = "ADBRAG_EMBEDDING_DIMENSIONS",
        default_value_t = 1024
    )]
    pub dimensions: usize,

    /// Inputs per request; Model Studio's v3/v4 models accept at most 10.
    #[arg(
        long = "embedding-batch-size",
        env = "ADBRAG_EMBEDDING_BATCH_SIZE",
        default_value_t = 10
    )]
    pub batch_size: usize,

    /// Requests in flight at once, across all documents.
    #[arg(
        long = "embedding-concurrency",
        env = "ADBRAG_EMBEDDING_CONCURRENCY",
        default_value_t = 4
    )]
    pub concurrency: usize,

    /// Attempts per request (throttling, server errors and timeouts are retried; other 4xx are not).
    #[arg(
        long = "embedding-max-attempts",
        env = "ADBRAG_EMBEDDING_MAX_ATTEMPTS",
        default_value_t = 6
    )]
    pub max_attempts: u32,

    /// Seconds to wait for one response.
    #[arg(
        long = "embedding-timeout",
        env = "ADBRAG_EMBEDDING_TIMEOUT",
        default_value_t = 30
    )]
    pub timeout_secs: u64,

    /// Directory of local models (the embedded default embedder lives in all-MiniLM-L6-v2/ under it).
    #[arg(
        long = "models-dir",
        env = "ADBRAG_MODELS_DIR",
        default_value = "models"
    )]
    pub models_dir: PathBuf,
}

/// How documents are split, and the limits that protect the service from a hostile or broken one.
#[derive(Debug, Clone, Args)]
pub struct IngestSettings {
    /// Largest object accepted, in bytes (checked before it is read).
    #[arg(long = "max-object-bytes", env = "ADBRAG_MAX_OBJECT_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_object_bytes: u64,

    /// Most pages accepted in one PDF.
    #[arg(long = "max-pages", env = "ADBRAG_MAX_PAGES", default_value_t = 2000)]
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
        default_value_t = 512
    )]
    pub chunk_tokens: usize,

    /// Tokens repeated from the end of one chunk at the start of the next.
    #[arg(
        long = "chunk-overlap",
        env = "ADBRAG_CHUNK_OVERLAP",
        default_value_t = 64
    )]
    pub chunk_overlap: usize,

    /// A tokenizer.json that counts tokens exactly as the embedding model does. Unset: the local
    /// model's tokenizer with the local embedder, otherwise a documented over-estimate.
    #[arg(long = "tokenizer", env = "ADBRAG_TOKENIZER")]
    pub tokenizer: Option<PathBuf>,
}

/// How retrieval ranks: the two legs of hybrid search and their fusion.
#[derive(Debug, Clone, Args)]
pub struct SearchSettings {
    /// Candidates each leg (vector, keyword) contributes before fusion.
    #[arg(
        long = "search-candidates",
        env = "ADBRAG_SEARCH_CANDIDATES",
        default_value_t = 50
    )]
    pub candidates: usize,

    /// How the legs are fused: `rrf` (weighted reciprocal rank) or `score` (weighted sum of
    /// min-max normalised scores). See docs/search.md for the measurements behind the default.
    #[arg(long = "fusion", env = "ADBRAG_FUSION", value_enum, default_value_t = FusionArg::Score)]
    pub fusion: FusionArg,

    /// The k of reciprocal rank fusion: score = Σ weight / (k + rank). Larger k flattens ranks.
    #[arg(long = "rrf-k", env = "ADBRAG_RRF_K", default_value_t = 60.0)]
    pub rrf_k: f64,

    /// BM25's k1: how quickly repeats of a term stop adding to a chunk's score.
    #[arg(long = "bm25-k1", env = "ADBRAG_BM25_K1", default_value_t = 1.2, value_parser = non_negative)]
    pub bm25_k1: f64,

    /// BM25's b: how much a long chunk is discounted (0 = not at all, 1 = fully).
    #[arg(long = "bm25-b", env = "ADBRAG_BM25_B", default_value_t = 0.75, value_parser = unit_interval)]
    pub bm25_b: f64,

    /// Weight of the vector leg in fusion.
    #[arg(
        long = "vector-weight",
        env = "ADBRAG_VECTOR_WEIGHT",
        default_value_t = 1.0
    )]
    pub vector_weight: f64,

    /// Weight of the keyword leg in fusion (the vector leg's is `ADBRAG_VECTOR_WEIGHT`). 0.75 with
    /// score fusion ranked best on both dev sets (docs/search.md).
    #[arg(
        long = "keyword-weight",
        env = "ADBRAG_KEYWORD_WEIGHT",
        default_value_t = 0.75
    )]
    pub keyword_weight: f64,

    /// Weight of the vector leg for a query in a language the embedder cannot read (a Chinese
    /// query with the English-only local model); 0 leaves the vector leg out for such queries.
    #[arg(
        long = "unreadable-vector-weight",
        env = "ADBRAG_UNREADABLE_VECTOR_WEIGHT",
        default_value_t = 0.0,
        value_parser = non_negative
    )]
    pub unreadable_vector_weight: f64,

    /// Postings the keyword leg reads per query term, best BM25 impact first: a term held by
    /// more chunks than this contributes only its best. 0 reads every posting (exhaustive BM25).
    #[arg(
        long = "keyword-postings-per-term",
        env = "ADBRAG_KEYWORD_POSTINGS_PER_TERM",
        default_value_t = 200
    )]
    pub postings_per_term: usize,

    #[command(flatten)]
    pub rerank: RerankArgs,

    /// HNSW search breadth (pgvector `hnsw.ef_search`): higher is more exact and slower.
    #[arg(
        long = "hnsw-ef-search",
        env = "ADBRAG_HNSW_EF_SEARCH",
        default_value_t = 100
    )]
    pub ef_search: u32,
}

/// The optional reranker of the first hits (docs/rerank.md). Off unless a base URL is set.
#[derive(Debug, Clone, Args)]
pub struct RerankArgs {
    /// Model Studio's API root for reranking, e.g. https://dashscope-intl.aliyuncs.com (adbrag
    /// appends the rerank path). Unset: no reranking.
    #[arg(
        id = "rerank_base_url",
        long = "rerank-base-url",
        env = "ADBRAG_RERANK_BASE_URL"
    )]
    pub base_url: Option<String>,

    /// The rerank model, e.g. qwen3-rerank (OpenAI-compatible API) or gte-rerank-v2 (DashScope API).
    #[arg(id = "rerank_model", long = "rerank-model", env = "ADBRAG_RERANK_MODEL", default_value = crate::llm::rerank::DEFAULT_MODEL)]
    pub model: String,

    /// The rerank endpoint's API key (Model Studio: a DashScope key). Unset: DASHSCOPE_API_KEY.
    #[arg(id = "rerank_api_key", long = "rerank-api-key", env = "ADBRAG_RERANK_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<SecretString>,

    /// Which rerank protocol to speak; auto: compatible for qwen3-rerank*, dashscope for every
    /// other model.
    #[arg(id = "rerank_api", long = "rerank-api", env = "ADBRAG_RERANK_API", value_enum, default_value_t = RerankApiArg::Auto)]
    pub api: RerankApiArg,

    /// How many of the best hybrid hits the reranker reorders (1-500); hits beyond follow in
    /// their hybrid order.
    #[arg(id = "rerank_top_n", long = "rerank-top-n", env = "ADBRAG_RERANK_TOP_N", default_value_t = crate::llm::rerank::DEFAULT_TOP_N)]
    pub top_n: usize,

    /// Seconds reranking may add to a search, retries included (fractions allowed, e.g. 1.5);
    /// past it the hits keep their hybrid order.
    #[arg(
        id = "rerank_timeout",
        long = "rerank-timeout",
        env = "ADBRAG_RERANK_TIMEOUT",
        default_value_t = 3.0
    )]
    pub timeout_secs: f64,

    /// Attempts per rerank call, the first included; 429, 5xx and timeouts are retried within
    /// the timeout.
    #[arg(id = "rerank_max_attempts", long = "rerank-max-attempts", env = "ADBRAG_RERANK_MAX_ATTEMPTS", default_value_t = crate::llm::rerank::DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,
}

/// `--rerank-api` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RerankApiArg {
    Auto,
    Dashscope,
    Compatible,
}

impl Default for RerankArgs {
    /// Reranking off, every other value its default.
    fn default() -> Self {
        let d = crate::llm::rerank::RerankSettings::default();
        Self {
            base_url: None,
            model: d.model,
            api_key: None,
            api: RerankApiArg::Auto,
            top_n: d.top_n,
            timeout_secs: d.timeout.as_secs_f64(),
            max_attempts: d.max_attempts,
        }
    }
}

impl RerankArgs {
    /// The client's settings; the key falls back to `DASHSCOPE_API_KEY`.
    pub fn settings(&self) -> crate::llm::rerank::RerankSettings {
        use crate::llm::rerank::{RerankApi, RerankSettings};
        RerankSettings {
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            api_key: self.api_key.clone().or_else(|| {
                std::env::var("DASHSCOPE_API_KEY")
                    .ok()
                    .filter(|key| !key.is_empty())
                    .map(SecretString::from)
            }),
            api: match self.api {
                RerankApiArg::Auto => None,
                RerankApiArg::Dashscope => Some(RerankApi::DashScope),
                RerankApiArg::Compatible => Some(RerankApi::Compatible),
            },
            top_n: self.top_n,
            // A negative or unrepresentable value is refused as a zero timeout.
            timeout: std::time::Duration::try_from_secs_f64(self.timeout_secs).unwrap_or_default(),
            max_attempts: self.max_attempts,
        }
    }
}

/// `--fusion` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FusionArg {
    Rrf,
    Score,
}

impl SearchSettings {
    /// The fusion this configuration asks for.
    pub fn fusion(&self) -> crate::store::search::Fusion {
        use crate::store::search::{Fusion, FusionMethod};
        Fusion {
            method: match self.fusion {
                FusionArg::Rrf => FusionMethod::Rrf,
                FusionArg::Score => FusionMethod::Score,
            },
            rrf_k: self.rrf_k,
            vector_weight: self.vector_weight,
            keyword_weight: self.keyword_weight,
        }
    }

    /// BM25's parameters.
    pub fn bm25(&self) -> crate::store::search::Bm25 {
        crate::store::search::Bm25 {
            k1: self.bm25_k1,
            b: self.bm25_b,
        }
    }

    /// Session settings for every database connection that searches: the HNSW breadth,
    /// pgvector's iterative scan, so a filtered search still finds `candidates` matching rows, and
    /// custom plans always: the search statement is prepared, and its generic plan (which
    /// PostgreSQL may switch to after five executions) cannot see the query vector or the
    /// tsqueries — measured on 100k chunks it took 90–130 ms where the custom plan takes 4.5.
    pub fn session(&self) -> Vec<(&'static str, String)> {
        vec![
            ("hnsw.ef_search", self.ef_search.to_string()),
            ("hnsw.iterative_scan", "relaxed_order".to_owned()),
            ("plan_cache_mode", "force_custom_plan".to_owned()),
        ]
    }
}

/// Answers: which model writes them, and how much of its context window goes to what.
///
/// With no `ADBRAG_CHAT_BASE_URL` the answers are extractive: the best-matching sentences of the
/// retrieved passages, quoted with their citations, and no language model is called.
#[derive(Debug, Clone, Args)]
pub struct ChatSettings {
    /// OpenAI-compatible endpoint for answers, e.g.
    /// https://dashscope-intl.aliyuncs.com/compatible-mode/v1. Unset: extractive answers.
    #[arg(
        id = "chat_base_url",
        long = "chat-base-url",
        env = "ADBRAG_CHAT_BASE_URL"
    )]
    pub base_url: Option<String>,

    /// The chat endpoint's API key (Model Studio: a DashScope key).
    #[arg(id = "chat_api_key", long = "chat-api-key", env = "ADBRAG_CHAT_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<SecretString>,

    /// The chat model, e.g. qwen-plus.
    #[arg(
        id = "chat_model",
        long = "chat-model",
        env = "ADBRAG_CHAT_MODEL",
        default_value = "qwen-plus"
    )]
    pub model: String,

    /// The model's context window in tokens: passages, history and the answer must fit in it.
    #[arg(
        long = "chat-context-tokens",
        env = "ADBRAG_CHAT_CONTEXT_TOKENS",
        default_value_t = 32_768
    )]
    pub context_tokens: usize,

    /// Tokens reserved for the answer (sent as `max_tokens`).
    #[arg(
        long = "chat-answer-tokens",
        env = "ADBRAG_CHAT_ANSWER_TOKENS",
        default_value_t = 1024
    )]
    pub answer_tokens: usize,

    /// Most tokens of earlier conversation turns sent along; older turns are dropped (the response
    /// says how many).
    #[arg(
        long = "chat-history-tokens",
        env = "ADBRAG_CHAT_HISTORY_TOKENS",
        default_value_t = 2048
    )]
    pub history_tokens: usize,

    /// Most tokens of retrieved passages put in front of the model.
    #[arg(
        long = "chat-passage-tokens",
        env = "ADBRAG_CHAT_PASSAGE_TOKENS",
        default_value_t = 6000
    )]
    pub passage_tokens: usize,

    /// A passage found only by the vector leg must be at least this similar to the question
    /// (cosine) to be used; passages that match the question's words always qualify. When none
    /// qualifies, the answer is "I could not find this in the documents." and no model is called.
    #[arg(
        long = "chat-min-similarity",
        env = "ADBRAG_CHAT_MIN_SIMILARITY",
        default_value_t = 0.3
    )]
    pub min_similarity: f64,

    /// Sampling temperature sent to the model.
    #[arg(
        long = "chat-temperature",
        env = "ADBRAG_CHAT_TEMPERATURE",
        default_value_t = 0.2
    )]
    pub temperature: f32,

    /// Send Model Studio's `enable_thinking: false` on non-streaming calls (Qwen3 refuses them
    /// otherwise). Set false for providers that reject fields outside the OpenAI schema.
    #[arg(
        long = "chat-qwen-fields",
        env = "ADBRAG_CHAT_QWEN_FIELDS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub qwen_fields: bool,

    /// Attempts per model call before its first token (429s and 5xx are retried with backoff).
    #[arg(
        id = "chat_max_attempts",
        long = "chat-max-attempts",
        env = "ADBRAG_CHAT_MAX_ATTEMPTS",
        default_value_t = 3
    )]
    pub max_attempts: u32,

    /// Seconds to wait for the model's response headers, and then for each piece of the stream.
    #[arg(
        id = "chat_timeout_secs",
        long = "chat-timeout",
        env = "ADBRAG_CHAT_TIMEOUT",
        default_value_t = 60
    )]
    pub timeout_secs: u64,

    /// Model calls in flight at once, across the process.
    #[arg(
        id = "chat_concurrency",
        long = "chat-concurrency",
        env = "ADBRAG_CHAT_CONCURRENCY",
        default_value_t = 64
    )]
    pub concurrency: usize,

    /// Templates to use instead of the built-in prompts (a directory holding system.j2,
    /// context.j2 and condense.j2, like the repository's prompts/).
    #[arg(long = "prompts-dir", env = "ADBRAG_PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,
}

/// How to reach the database (PostgreSQL + pgvector, or AnalyticDB for PostgreSQL).
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Connection URL, e.g. postgres://user:password@host:5432/adbrag. For a local database run
    /// `scripts/pg.sh`, which starts one and prints this URL.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, value_parser = secret)]
    pub url: Option<SecretString>,

    /// Most connections the pool opens.
    #[arg(
        long = "db-max-connections",
        env = "ADBRAG_DB_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub max_connections: u32,

    /// Seconds to wait for a connection (also bounds the start-up check).
    #[arg(
        long = "db-connect-timeout",
        env = "ADBRAG_DB_CONNECT_TIMEOUT",
        default_value_t = 5
    )]
    pub connect_timeout_secs: u64,
}

impl DatabaseSettings {
    /// The URL, checked: set, and a `postgres://` or `postgresql://` URL.
    pub fn url(&self) -> Result<&str, ConfigError> {
        let url = self
            .url
            .as_ref()
            .ok_or(ConfigError::Missing {
                name: "DATABASE_URL",
                hint: "set it to a postgres:// URL; `scripts/pg.sh` starts a local database and prints one",
            })?
            .expose_secret();
        match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => Ok(url),
            // The value may hold a password: name the problem, never echo the value.
            Ok(parsed) => Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                problem: format!("its scheme is '{}', not postgres://", parsed.scheme()),
            }),
            Err(err) => Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                problem: format!("it is not a URL ({err})"),
            }),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
    /// Address to listen on. Function Compute custom runtimes expect 0.0.0.0:9000.
    #[arg(long = "bind", env = "ADBRAG_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Seconds to let in-flight requests finish after SIGTERM before closing anyway.
    #[arg(
        long = "shutdown-grace",
        env = "ADBRAG_SHUTDOWN_GRACE",
        default_value_t = 30
    )]
    pub shutdown_grace_secs: u64,

    /// Searches served at once; more wait in a short queue, and beyond it get 503 + Retry-After.
    #[arg(
        long = "max-searches",
        env = "ADBRAG_MAX_SEARCHES",
        default_value_t = 32
    )]
    pub max_searches: usize,

    /// Searches that may wait for a slot (up to 2 s) before new ones are refused.
    #[arg(
        long = "search-queue",
        env = "ADBRAG_SEARCH_QUEUE",
        default_value_t = 64
    )]
    pub search_queue: usize,

    /// Document requests (uploads are ingested in the request) served at once.
    #[arg(
        long = "max-document-requests",
        env = "ADBRAG_MAX_DOCUMENT_REQUESTS",
        default_value_t = 4
    )]
    pub max_document_requests: usize,

    /// Document requests that may wait for a slot.
    #[arg(
        long = "document-queue",
        env = "ADBRAG_DOCUMENT_QUEUE",
        default_value_t = 16
    )]
    pub document_queue: usize,

    /// Seconds a search or collection request may run before it is abandoned with a 503.
    #[arg(
        long = "request-timeout",
        env = "ADBRAG_REQUEST_TIMEOUT",
        default_value_t = 30
    )]
    pub request_timeout_secs: u64,

    /// Chat requests retrieving at once (an answer's retrieval and set-up; its stream is counted
    /// by `--max-streams`).
    #[arg(long = "max-chats", env = "ADBRAG_MAX_CHATS", default_value_t = 16)]
    pub max_chats: usize,

    /// Chat requests waiting for a slot before further ones are refused with 503.
    #[arg(long = "chat-queue", env = "ADBRAG_CHAT_QUEUE", default_value_t = 64)]
    pub chat_queue: usize,

    /// Answers streaming at once; beyond it a chat request is refused with 503 + Retry-After.
    #[arg(
        long = "max-streams",
        env = "ADBRAG_MAX_STREAMS",
        default_value_t = 512
    )]
    pub max_streams: usize,

    /// Seconds a document request (an upload is parsed and embedded in it) may run.
    #[arg(
        long = "upload-timeout",
        env = "ADBRAG_UPLOAD_TIMEOUT",
        default_value_t = 300
    )]
    pub upload_timeout_secs: u64,
}

/// Logging: `RUST_LOG` picks what is logged, this picks how it looks.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log format: `pretty` for people, `json` for log collectors, `auto` picks pretty on a terminal.
    #[arg(long = "log-format", env = "ADBRAG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

fn non_negative(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "expected a number ≥ 0 (1.2 is the usual k1), got '{value}'"
        )),
    }
}

fn unit_interval(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a number from 0 to 1 (0.75 is the usual b), got '{value}'"
        )),
    }
}

fn secret(value: &str) -> Result<SecretString, Infallible> {
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(url: Option<&str>) -> DatabaseSettings {
        DatabaseSettings {
            url: url.map(SecretString::from),
            max_connections: 1,
            connect_timeout_secs: 1,
        }
    }

    #[test]
    fn a_missing_database_url_says_how_to_get_one() {
        let err = database(None).url().unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL is not set"), "{err}");
        assert!(err.contains("scripts/pg.sh"), "{err}");
    }

    #[test]
    fn an_invalid_database_url_is_refused_without_echoing_the_password() {
        let err = database(Some("mysql://me:hunter2@db/x"))
            .url()
            .unwrap_err()
            .to_string();
        assert!(err.contains("'mysql'"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        let err = database(Some("not a url hunter2"))
            .url()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let settings = database(Some("postgres://me:hunter2@db/x"));
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
