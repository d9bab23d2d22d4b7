//! The database: every SQL statement adbrag runs lives under this module.
//!
//! Functions take an executor (`&mut PgConnection` when they run several statements, any
//! `PgExecutor` otherwise) so that the caller decides the transaction. A function whose statements
//! must be atomic opens its own (a savepoint when the caller is already in a transaction).
//! Parameters are always bound, never formatted into SQL; the one exception is the integer
//! dimension in vector table names, DDL and expressions, rendered by [`dialect`] from a checked
//! `u16`.

pub mod api_keys;
pub mod audit;
pub mod collections;
pub mod dialect;
pub mod documents;
pub mod embedding_cache;
pub mod filter;
pub mod jobs;
pub mod keywords;
pub mod purge;
pub mod reindex;
pub mod schema;
pub mod search;
pub mod stats;

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "collection name '{0}' is invalid: use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidCollectionName(String),
    #[error("collection '{0}' already exists: pick another name or delete it first")]
    CollectionExists(String),
    #[error("collection '{0}' not found: list collections to see the names that exist")]
    CollectionNotFound(String),
    #[error("document {0} not found")]
    DocumentNotFound(Uuid),
    #[error("API key '{0}' not found: `adbrag keys list` shows the keys that exist")]
    KeyNotFound(String),
    #[error("ingest job {0} not found: `adbrag jobs list` shows the jobs that exist")]
    JobNotFound(Uuid),
    #[error(
        "ingest job {0} was taken over by another worker or cancelled (this attempt's lease ran out): its result was discarded"
    )]
    LeaseLost(Uuid),
    #[error("ingest job {id} is {status} and cannot be {action}: only {allowed} jobs can")]
    JobNotInState {
        id: Uuid,
        status: jobs::JobStatus,
        action: &'static str,
        allowed: &'static str,
    },
    #[error(
        "chunk {ordinal} has a {actual}-dimension embedding but the collection stores {expected}: check the embedding model and its `dimensions` setting"
    )]
    DimensionMismatch {
        ordinal: usize,
        actual: usize,
        expected: usize,
    },
    #[error(
        "embedding dimensions must be between 1 and {max} for the {dialect} dialect, got {got}: choose a model or `dimensions` setting within that"
    )]
    InvalidDimensions {
        got: i64,
        max: u16,
        dialect: &'static str,
    },
    #[error(
        "the database role cannot create the vector table for {dimensions}-dimension embeddings: run `adbrag migrate --vector-dimensions {dimensions}` as the schema owner, then retry"
    )]
    VectorTablePrivilege { dimensions: u16 },
    // The cause goes in the message, before the hint, so the one-line chain reads in order.
    #[error("cannot connect to the database at {endpoint} ({cause}): {hint}")]
    Connect {
        endpoint: String,
        cause: sqlx::Error,
        hint: &'static str,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// A failure of the database itself (unreachable, restarting, out of connections, a
    /// serialisation conflict), not of what was asked of it: the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::Database(err) => is_transient_sqlx(err),
            _ => false,
        }
    }
}

fn is_transient_sqlx(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57P0x the server
        // shutting down or restarting, 40001/40P01 serialisation failure and deadlock.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}

/// How to reach the database: a parsed connection URL and the pool's bounds. Built and validated
/// once from the settings (`config::DatabaseSettings::options`), or directly by tests and tools.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The parsed URL (its `Debug` never shows the password).
    pub connection: PgConnectOptions,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a connection (also bounds the start-up check).
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// The same database, with session settings (`SET name = value`) sent at connection
    /// start-up, so they cost no round trip per query: e.g. [`dialect::search_session`].
    pub fn with_session(mut self, session: &[(&str, String)]) -> Self {
        self.connection = self
            .connection
            .options(session.iter().map(|(name, value)| (*name, value.as_str())));
        self
    }

    fn pool(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.connect_timeout)
    }
}

/// Opens a pool and proves the database answers, or says why it does not and what to do.
pub async fn connect(options: &ConnectOptions) -> Result<PgPool> {
    let endpoint = format!(
        "{}:{}",
        options.connection.get_host(),
        options.connection.get_port()
    );
    options
        .pool()
        .connect_with(options.connection.clone())
        .await
        .map_err(|err| explain_connect_error(&endpoint, err))
}

/// A pool that connects on first use: start-up does not depend on the database being reachable
/// (the Function Compute handler answers "retry" per invocation instead of crash-looping).
pub fn connect_lazy(options: &ConnectOptions) -> PgPool {
    options.pool().connect_lazy_with(options.connection.clone())
}

fn explain_connect_error(endpoint: &str, cause: sqlx::Error) -> Error {
    let hint = match &cause {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "start it (`scripts/pg.sh` runs a local one) or fix the host and port in DATABASE_URL"
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("28P01") => {
            "check the user name and password in DATABASE_URL"
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
            "create the database or fix its name in DATABASE_URL"
        }
        sqlx::Error::Tls(_) => "check the server's TLS setup or the sslmode in DATABASE_URL",
        _ => "check DATABASE_URL and that the server is up",
    };
    Error::Connect {
        endpoint: endpoint.to_owned(),
        cause,
        hint,
    }
}

/// A pool for tests and tools that manage their own timeouts.
pub async fn connect_url(url: &str, max_connections: u32) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await?)
}

/// SHA-256 of some bytes, the content hash used by documents, chunks and the embedding cache.
pub fn sha256(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The name of the constraint a database error violated, if any.
fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
