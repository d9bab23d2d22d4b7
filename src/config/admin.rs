//! Settings of the admin commands: `adbrag purge`, `adbrag tombstones`, `adbrag audit`.

use clap::{Args, Subcommand};

use super::DatabaseSettings;

/// `adbrag purge`: erase documents and everything derived from them (docs/purge.md).
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// A document by id (repeatable).
    #[arg(long = "document")]
    pub documents: Vec<uuid::Uuid>,

    /// A document by its source URI, e.g. oss://bucket/key (repeatable). Tombstoned even if no
    /// document holds it yet, so a racing or replayed upload cannot bring it in.
    #[arg(long = "source")]
    pub sources: Vec<String>,

    /// Only this collection of the tenant (required with --where and --source).
    #[arg(long, short = 'c')]
    pub collection: Option<String>,

    /// Documents whose metadata matches this filter (the search filter language of
    /// docs/api.md), e.g. '{"subject-id": "42"}'.
    #[arg(long = "where")]
    pub filter: Option<String>,

    /// The tenant whose documents are purged. Alone (with no other selector), every document of
    /// the tenant — or of --collection — which needs --all-matching.
    #[arg(long, env = "ADBRAG_TENANT", default_value = "default")]
    pub tenant: String,

    /// Allow a selection that matches every document of the tenant or collection.
    #[arg(long)]
    pub all_matching: bool,

    /// List what would be removed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Then rewrite the touched tables (VACUUM FULL) so the deleted rows leave the files on disk;
    /// readers of each table wait while it is rewritten.
    #[arg(long)]
    pub vacuum: bool,

    /// Who asks, for the audit record; default: the OS user.
    #[arg(long)]
    pub actor: Option<String>,

    /// Why (e.g. the request's reference), for the audit record. Never put personal data here.
    #[arg(long)]
    pub reason: Option<String>,

    /// The receipt as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// `adbrag tombstones list|lift`.
#[derive(Debug, Args)]
pub struct TombstonesArgs {
    #[command(subcommand)]
    pub command: TombstonesCommand,

    #[arg(long, env = "ADBRAG_TENANT", default_value = "default", global = true)]
    pub tenant: String,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Subcommand)]
pub enum TombstonesCommand {
    /// The tenant's tombstones: hashes of the URIs (never the URIs), when, and why.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Let a purged or deleted source be ingested again.
    Lift {
        /// The source URI whose tombstone goes.
        source: String,
        #[arg(long, short = 'c')]
        collection: String,
        /// Who lifts it, for the audit record; default: the OS user.
        #[arg(long)]
        actor: Option<String>,
    },
}

/// `adbrag audit list`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest audit records.
    List {
        /// Only records at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        actor: Option<String>,
        /// e.g. purge, tombstone_lift.
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

/// `adbrag stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// As JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// `adbrag reindex`: re-embed a collection with the configured embedder.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// The collection to re-embed.
    #[arg(long, short = 'c')]
    pub collection: String,

    #[arg(long, env = "ADBRAG_TENANT", default_value = "default")]
    pub tenant: String,

    /// Re-embed even when the collection is already on the configured model and size.
    #[arg(long)]
    pub force: bool,

    /// Chunks embedded per round (each round is stored before the next, so a crash loses at most one).
    #[arg(long, default_value_t = 256)]
    pub batch: i64,

    /// The summary as JSON.
    #[arg(long)]
    pub json: bool,

    /// Who asks, for the audit record; default: the OS user.
    #[arg(long)]
    pub actor: Option<String>,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: super::EmbeddingSettings,
}
