//! Settings: the command line and the environment, in one place, validated once at start-up.
//!
//! Two levels, as in ripgrep's low-level and high-level arguments. The clap structs here are the
//! *low level*: every field has a flag and an environment variable, and `adbrag <command> --help`
//! is the reference. Each settings group then turns itself, once, into the *high-level* value the
//! layer below takes (`DatabaseSettings::options` → `store::ConnectOptions`,
//! `EmbeddingSettings::config` → `llm::EmbeddingConfig`, `SearchSettings::options` →
//! `search::retrieve::SearchOptions`, `ChatSettings::answer` → `answer::AnswerConfig`,
//! `IngestSettings::config` → `ingest::IngestConfig`, `OcrSettings::config` → `ingest::ocr::OcrConfig`), refusing values that make no sense with a
//! [`ConfigError`] that names the variable. Nothing below this module reads a flag, an environment
//! variable or a clap type.
//!
//! Defaults live once: where a layer below owns a default (`ChunkOptions`, `ParseLimits`, the
//! reranker's), the flag's default refers to it.
//!
//! - [`commands`]: the command tree (`Cli`, `Command`) and each command's arguments;
//! - [`database`], [`models`] (embedder and answers), [`ingest`] (with [`ocr`]), [`search`], [`http`] (and
//!   logging), [`queue`] (objects, queue, Function Compute, worker), [`admin`] (purge, audit,
//!   stats, reindex): the settings groups the commands flatten.
//!
//! Secrets are held in [`SecretString`], whose `Debug` never shows the value, and `--help` never
//! prints their environment values.

use std::convert::Infallible;

use secrecy::SecretString;

pub mod admin;
pub mod commands;
pub mod database;
pub mod http;
pub mod ingest;
pub mod models;
pub mod ocr;
pub mod queue;
pub mod search;

pub use admin::{
    AuditArgs, AuditCommand, PurgeArgs, ReindexArgs, StatsArgs, TombstonesArgs, TombstonesCommand,
};
pub use commands::{
    AskArgs, Cli, Command, EvalArgs, IngestArgs, KeysArgs, KeysCommand, MigrateArgs, SearchArgs,
    ServeArgs,
};
pub use database::DatabaseSettings;
pub use http::{HttpSettings, LogFormat, LogSettings};
pub use ingest::IngestSettings;
pub use models::{ChatSettings, EmbeddingSettings};
pub use ocr::{OcrModeArg, OcrSettings};
pub use queue::{
    FcArgs, JobsArgs, JobsCommand, ObjectStoreArgs, QueueArgs, RouteSettings, WorkerArgs,
};
pub use search::{FusionArg, RerankApiArg, RerankArgs, SearchSettings};

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

pub(crate) fn non_negative(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "expected a number ≥ 0 (1.2 is the usual k1), got '{value}'"
        )),
    }
}

pub(crate) fn unit_interval(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a number from 0 to 1 (0.75 is the usual b), got '{value}'"
        )),
    }
}

pub(crate) fn secret(value: &str) -> Result<SecretString, Infallible> {
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
            dialect: database::DialectArg::Auto,
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
