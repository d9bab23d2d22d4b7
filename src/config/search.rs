//! The retrieval settings: the two legs of hybrid search, their fusion, and the reranker.

use clap::Args;
use secrecy::SecretString;

use super::{non_negative, secret, unit_interval};
use crate::{
    search::retrieve::SearchOptions,
    store::search::{Bm25, Fusion, FusionMethod},
};

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
    /// Retrieval's options: the fusion, BM25's parameters and the legs' bounds, for a schema in
    /// this dialect (the start-up probe's, `store::schema::probe`).
    pub fn options(&self, dialect: crate::store::dialect::Dialect) -> SearchOptions {
        SearchOptions {
            dialect,
            candidates: self.candidates,
            fusion: Fusion {
                method: match self.fusion {
                    FusionArg::Rrf => FusionMethod::Rrf,
                    FusionArg::Score => FusionMethod::Score,
                },
                rrf_k: self.rrf_k,
                vector_weight: self.vector_weight,
                keyword_weight: self.keyword_weight,
            },
            bm25: Bm25 {
                k1: self.bm25_k1,
                b: self.bm25_b,
            },
            unreadable_vector_weight: self.unreadable_vector_weight,
            postings_per_term: self.postings_per_term,
            rerank_top_n: self.rerank.top_n,
        }
    }
}
