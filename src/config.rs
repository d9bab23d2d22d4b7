//! Settings: the command line and the environment, in one place, validated at start-up.
//!
//! Every field has a flag and an environment variable; `adbrag <command> --help` is the reference.
//! Secrets are held in [`SecretString`], whose `Debug` never shows the value, and `--help` never
//! prints their environment values.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

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
    Serve(ServeArgs),
    /// Apply the database migrations this binary carries, then exit.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub http: HttpSettings,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
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
