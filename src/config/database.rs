//! How to reach the database.

use std::time::Duration;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, secret};
use crate::store::dialect::Dialect;

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

    /// The SQL dialect: `auto` detects the server (AnalyticDB answers `SHOW adbpg_version`);
    /// `pgvector` or `analyticdb` also refuses to start against the other kind of server.
    #[arg(long = "dialect", env = "ADBRAG_DIALECT", value_enum, default_value_t = DialectArg::Auto)]
    pub dialect: DialectArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DialectArg {
    Auto,
    Pgvector,
    Analyticdb,
}

impl From<DialectArg> for Option<Dialect> {
    fn from(arg: DialectArg) -> Self {
        match arg {
            DialectArg::Auto => None,
            DialectArg::Pgvector => Some(Dialect::Pgvector),
            DialectArg::Analyticdb => Some(Dialect::AnalyticDb),
        }
    }
}

impl DatabaseSettings {
    /// The dialect asked for; `None` is auto.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect.into()
    }

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

    /// The store's connection options, validated: the URL parsed, the bounds as given.
    pub fn options(&self) -> Result<crate::store::ConnectOptions, ConfigError> {
        let connection = self
            .url()?
            .parse()
            .map_err(|err: sqlx::Error| ConfigError::Invalid {
                name: "DATABASE_URL",
                problem: err.to_string(),
            })?;
        Ok(crate::store::ConnectOptions {
            connection,
            max_connections: self.max_connections,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
        })
    }
}
