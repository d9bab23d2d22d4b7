//! The command tree: `adbrag <command>` and each command's own arguments; each command flattens
//! the settings groups (the sibling modules) it needs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::store::search::Mode;

use super::{
    AuditArgs, ChatSettings, ConfigError, DatabaseSettings, EmbeddingSettings, FcArgs,
    HttpSettings, IngestSettings, JobsArgs, LogSettings, ObjectStoreArgs, PurgeArgs, QueueArgs,
    ReindexArgs, SearchSettings, StatsArgs, TombstonesArgs, WorkerArgs,
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

    /// Which legs run: both fused, or one alone.
    #[arg(long, value_enum, default_value_t = ModeArg::Hybrid)]
    pub mode: ModeArg,

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
    /// wins and losses against each leg, and with --answers each query's answer and citations)
    /// instead of the table.
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

    /// Print the SQL that migrate applies to an empty database (every migration as rendered for
    /// the dialect, then the vector tables) instead of applying it, for a DBA to review. Needs
    /// no database when --dialect names one.
    #[arg(long)]
    pub print: bool,

    /// Also create the vector tables for these embedding sizes (comma-separated, e.g.
    /// 384,1024), so a service running as `adbrag_writer`, which may not create tables, can
    /// make collections of those sizes.
    #[arg(long = "vector-dimensions", value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..))]
    pub vector_dimensions: Vec<u16>,
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

impl ServeArgs {
    /// Refuses `--insecure-no-auth` on anything but a loopback address.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bind = self.http.bind;
        if self.insecure_no_auth && !bind.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                name: "ADBRAG_INSECURE_NO_AUTH",
                problem: format!(
                    "--insecure-no-auth serves without API keys and is refused on {bind}: bind a loopback address (127.0.0.1) or drop the flag and create keys with `adbrag keys create`"
                ),
            });
        }
        Ok(())
    }
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Hybrid,
    Vector,
    Keyword,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Hybrid => Mode::Hybrid,
            ModeArg::Vector => Mode::Vector,
            ModeArg::Keyword => Mode::Keyword,
        }
    }
}
