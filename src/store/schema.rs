//! Migrations and the checks that say whether a database can serve this binary.

use serde::Serialize;
use sqlx::{PgPool, migrate::Migrator};

use super::Result;

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The newest migration this binary carries.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// What the database looks like to this binary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest successfully applied migration, if any.
    pub applied: Option<i64>,
    /// The newest migration this binary carries.
    pub latest: i64,
    /// A migration that started and did not finish (sqlx records it as unsuccessful).
    pub failed: Option<i64>,
    /// The installed pgvector version, if the extension is created in this database.
    pub pgvector: Option<String>,
    /// Whether the server has pgvector available to `CREATE EXTENSION`.
    pub pgvector_available: bool,
}

impl SchemaStatus {
    /// Why this database cannot serve the binary, one sentence each with what to do; empty when ready.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(version) = self.failed {
            problems.push(format!(
                "migration {version} failed part-way: fix the cause shown in the migrate output, then run `adbrag migrate` again"
            ));
        }
        match self.applied {
            Some(applied) if applied > self.latest => problems.push(format!(
                "the database is at migration {applied}, newer than this binary's {}: run a newer adbrag",
                self.latest
            )),
            Some(applied) if applied < self.latest => problems.push(format!(
                "the database is at migration {applied} but this binary needs {}: run `adbrag migrate`",
                self.latest
            )),
            None => problems.push(format!(
                "the database has no adbrag schema (this binary needs migration {}): run `adbrag migrate`",
                self.latest
            )),
            Some(_) => {}
        }
        if self.pgvector.is_none() {
            problems.push(if self.pgvector_available {
                "the pgvector extension is not created in this database: run `adbrag migrate`"
                    .to_owned()
            } else {
                PGVECTOR_MISSING.to_owned()
            });
        }
        problems
    }
}

const PGVECTOR_MISSING: &str = "the database server does not have pgvector: install it (`scripts/pg.sh` builds it for a local cluster; on a managed service enable the `vector` extension)";

/// Reads the migration history and the pgvector extension's state.
pub async fn status(pool: &PgPool) -> Result<SchemaStatus> {
    let has_history: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    let (applied, failed) = if has_history {
        sqlx::query_as(
            "SELECT max(version) FILTER (WHERE success), min(version) FILTER (WHERE NOT success)
             FROM _sqlx_migrations",
        )
        .fetch_one(pool)
        .await?
    } else {
        (None, None)
    };
    let (pgvector, pgvector_available): (Option<String>, bool) = sqlx::query_as(
        "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector'),
                EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
    )
    .fetch_one(pool)
    .await?;
    Ok(SchemaStatus {
        applied,
        latest: latest_migration(),
        failed,
        pgvector,
        pgvector_available,
    })
}

/// Refuses a database this binary cannot use, naming each problem and its fix.
pub async fn require_ready(pool: &PgPool) -> Result<(), MigrateError> {
    let mut problems = status(pool).await?.problems();
    if problems.is_empty() {
        // Chunks whose keyword terms an older analyzer derived would not meet this binary's
        // query terms: `adbrag migrate` re-derives them (store::keywords::reindex_stale).
        let stale: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chunk WHERE analyzer_version <> $1)")
                .bind(crate::text::segment::ANALYZER_VERSION)
                .fetch_one(pool)
                .await
                .map_err(super::Error::from)?;
        if stale {
            problems.push(
                "some chunks' keyword terms were derived by an older version of adbrag: run `adbrag migrate` to re-derive them (no re-embedding)"
                    .to_owned(),
            );
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(MigrateError::Refused(format!(
        "the database cannot serve this binary: {}",
        problems.join("; ")
    )))
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] super::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Brings the database to this binary's schema. Refuses, without changing anything, a database that
/// is newer than the binary or a server without pgvector. Returns the migrations it applied.
pub async fn migrate(pool: &PgPool) -> Result<Vec<i64>, MigrateError> {
    let before = status(pool).await?;
    if let Some(applied) = before.applied.filter(|applied| *applied > before.latest) {
        return Err(MigrateError::Refused(format!(
            "the database is at migration {applied}, newer than this binary's {}: run a newer adbrag",
            before.latest
        )));
    }
    if before.pgvector.is_none() && !before.pgvector_available {
        return Err(MigrateError::Refused(PGVECTOR_MISSING.to_owned()));
    }
    MIGRATOR.run(pool).await?;
    let from = before.applied.unwrap_or(0);
    Ok(MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|version| *version > from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> SchemaStatus {
        SchemaStatus {
            applied: Some(2),
            latest: 2,
            failed: None,
            pgvector: Some("0.8.0".into()),
            pgvector_available: true,
        }
    }

    #[test]
    fn a_current_database_with_pgvector_is_ready() {
        assert_eq!(ready().problems(), Vec::<String>::new());
    }

    #[test]
    fn each_problem_names_what_to_do() {
        let behind = SchemaStatus {
            applied: Some(1),
            ..ready()
        };
        assert_eq!(
            behind.problems(),
            ["the database is at migration 1 but this binary needs 2: run `adbrag migrate`"]
        );

        let ahead = SchemaStatus {
            applied: Some(3),
            ..ready()
        };
        assert!(ahead.problems()[0].contains("run a newer adbrag"));

        let empty = SchemaStatus {
            applied: None,
            pgvector: None,
            ..ready()
        };
        assert_eq!(empty.problems().len(), 2);

        let no_pgvector = SchemaStatus {
            pgvector: None,
            pgvector_available: false,
            ..ready()
        };
        assert!(no_pgvector.problems()[0].contains("does not have pgvector"));
    }

    #[test]
    fn the_binary_carries_its_migrations_in_order() {
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted);
        assert_eq!(latest_migration(), *versions.last().unwrap());
    }
}
