//! Migrations and the checks that say whether a database can serve this binary.

use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool, migrate::Migrator};

use super::{
    Result,
    dialect::{Dialect, Dimensions},
};

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The newest migration this binary carries.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// What the server is and has, read once at start-up (`probe`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Server {
    /// `SHOW server_version`, e.g. "15.8" (AnalyticDB 7 reports its PostgreSQL base, 12.x).
    pub server_version: String,
    /// `SHOW adbpg_version` (e.g. "7.2.1.3"), only AnalyticDB has it.
    pub adbpg_version: Option<String>,
    /// Extensions created in this database, with their versions.
    pub extensions: Vec<(String, String)>,
    /// Whether the server could `CREATE EXTENSION vector` (pgvector installed).
    pub pgvector_available: bool,
}

/// The oldest AnalyticDB adbrag renders for: 7.2.1.2 brings FastANN's cosine distance to 7.x
/// and `pgsearch`.
pub const MIN_ADBPG_VERSION: [u32; 4] = [7, 2, 1, 2];
/// The oldest PostgreSQL: 12 is AnalyticDB 7's base, and every statement adbrag runs works there.
pub const MIN_POSTGRES_MAJOR: u32 = 12;

impl Server {
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// What the server is.
    pub fn detected(&self) -> Dialect {
        if self.adbpg_version.is_some() {
            Dialect::AnalyticDb
        } else {
            Dialect::Pgvector
        }
    }

    /// The dialect to use: `requested` (ADBRAG_DIALECT; `None` is auto) checked against what the
    /// server is and has, or one sentence saying what is wrong and what to do.
    pub fn dialect(&self, requested: Option<Dialect>) -> Result<Dialect, MigrateError> {
        let detected = self.detected();
        let dialect = requested.unwrap_or(detected);
        let what = match &self.adbpg_version {
            Some(v) => format!("AnalyticDB for PostgreSQL {v}"),
            None => format!("PostgreSQL {}", self.server_version),
        };
        if dialect != detected {
            return Err(MigrateError::Refused(format!(
                "ADBRAG_DIALECT is {} but the server is {what}: set ADBRAG_DIALECT={} (or auto), or point DATABASE_URL at the server you meant",
                dialect.name(),
                detected.name()
            )));
        }
        match dialect {
            Dialect::Pgvector => {
                let major = leading_numbers(&self.server_version)
                    .first()
                    .copied()
                    .unwrap_or(0);
                if major < MIN_POSTGRES_MAJOR {
                    return Err(MigrateError::Refused(format!(
                        "{what} is too old: adbrag needs PostgreSQL {MIN_POSTGRES_MAJOR} or newer"
                    )));
                }
            }
            Dialect::AnalyticDb => {
                let version = leading_numbers(self.adbpg_version.as_deref().unwrap_or(""));
                if version.as_slice() < MIN_ADBPG_VERSION.as_slice() {
                    return Err(MigrateError::Refused(format!(
                        "{what} is not supported: adbrag needs AnalyticDB for PostgreSQL 7.2.1.2 or newer (upgrade the minor version in the console; 6.x is not supported)"
                    )));
                }
                if self.extension("fastann").is_none() {
                    return Err(MigrateError::Refused(
                        "FastANN is not installed: enable Vector Search Engine Optimization in the AnalyticDB console (needs 7.2.1.2+; the instance restarts)"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(dialect)
    }
}

/// "7.2.1.3" → [7, 2, 1, 3]; "15.8 (Debian 15.8-1)" → [15, 8].
fn leading_numbers(version: &str) -> Vec<u32> {
    version
        .split_whitespace()
        .next()
        .unwrap_or("")
        .split('.')
        .map_while(|part| part.parse().ok())
        .collect()
}

/// Reads what the server is: its version, AnalyticDB's version if it is one, its extensions.
pub async fn probe(pool: &PgPool) -> Result<Server> {
    // One round trip: `/readyz` runs this on every call. Only AnalyticDB has `adbpg_version`;
    // current_setting(…, true) is NULL elsewhere.
    let (server_version, adbpg_version, names, versions, pgvector_available): (
        String,
        Option<String>,
        Vec<String>,
        Vec<String>,
        bool,
    ) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('adbpg_version', true),
                coalesce((SELECT array_agg(extname::text ORDER BY extname) FROM pg_extension), '{}'),
                coalesce((SELECT array_agg(extversion ORDER BY extname) FROM pg_extension), '{}'),
                EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
    )
    .fetch_one(pool)
    .await?;
    Ok(Server {
        server_version,
        adbpg_version: adbpg_version.filter(|v| !v.is_empty()),
        extensions: names.into_iter().zip(versions).collect(),
        pgvector_available,
    })
}

/// What the database's schema looks like to this binary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest successfully applied migration, if any.
    pub applied: Option<i64>,
    /// The newest migration this binary carries.
    pub latest: i64,
    /// A migration that started and did not finish (sqlx records it as unsuccessful).
    pub failed: Option<i64>,
    /// The dialect the schema was rendered in, as migrate recorded it (0009 on).
    pub recorded: Option<Dialect>,
    /// The dialect this process runs (the probe's).
    pub dialect: Dialect,
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
        if let Some(recorded) = self.recorded.filter(|r| *r != self.dialect) {
            problems.push(format!(
                "the schema was created for {} but this server is {}: point DATABASE_URL at the database you meant",
                recorded.name(),
                self.dialect.name()
            ));
        }
        if self.dialect == Dialect::Pgvector && self.pgvector.is_none() {
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

/// Reads the migration history and the recorded dialect.
pub async fn status(pool: &PgPool, server: &Server, dialect: Dialect) -> Result<SchemaStatus> {
    let (has_history, has_dialect): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, to_regclass('schema_dialect') IS NOT NULL",
    )
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
    let recorded = if has_dialect {
        let name: Option<String> = sqlx::query_scalar("SELECT dialect FROM schema_dialect")
            .fetch_optional(pool)
            .await?;
        name.as_deref().and_then(Dialect::parse)
    } else {
        None
    };
    Ok(SchemaStatus {
        applied,
        latest: latest_migration(),
        failed,
        recorded,
        dialect,
        pgvector: server.extension("vector").map(str::to_owned),
        pgvector_available: server.pgvector_available,
    })
}

/// Probes the server, settles the dialect (`requested`: ADBRAG_DIALECT, `None` for auto) and
/// refuses a database this binary cannot use, naming each problem and its fix.
pub async fn require_ready(
    pool: &PgPool,
    requested: Option<Dialect>,
) -> Result<Dialect, MigrateError> {
    let server = probe(pool).await?;
    let dialect = server.dialect(requested)?;
    let mut problems = status(pool, &server, dialect).await?.problems();
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
        return Ok(dialect);
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

impl From<sqlx::Error> for MigrateError {
    fn from(err: sqlx::Error) -> Self {
        MigrateError::Store(err.into())
    }
}

/// What `migrate` runs after the migrations, in order: the dialect's record and the vector tables
/// of the sizes asked for.
fn after_migrations(dialect: Dialect, vector_dimensions: &[Dimensions]) -> Vec<String> {
    let mut statements = vec![format!(
        "INSERT INTO schema_dialect (dialect) SELECT '{}' WHERE NOT EXISTS (SELECT 1 FROM schema_dialect)",
        dialect.name()
    )];
    for dimensions in vector_dimensions {
        statements.extend(dialect.vector_table_ddl(*dimensions));
    }
    statements
}

/// The exact SQL `migrate` applies to an empty database in this dialect, for a DBA to review (or
/// run with `psql -v ON_ERROR_STOP=1 -1 -f`): the migration history table sqlx keeps, every
/// migration as rendered, each followed by the history row `migrate` writes for it (so a later
/// `adbrag migrate` finds them applied), then the dialect's record and the vector tables.
pub fn render(dialect: Dialect, vector_dimensions: &[Dimensions]) -> String {
    let mut out = format!(
        "-- adbrag schema, {} dialect: the statements `adbrag migrate` applies to an empty database.\n\n\
         -- sqlx's migration history (sqlx creates it; the rows below are what it records).\n\
         CREATE TABLE IF NOT EXISTS _sqlx_migrations (\n    \
         version BIGINT PRIMARY KEY,\n    \
         description TEXT NOT NULL,\n    \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),\n    \
         success BOOLEAN NOT NULL,\n    \
         checksum BYTEA NOT NULL,\n    \
         execution_time BIGINT NOT NULL\n);\n",
        dialect.name()
    );
    for m in dialect.migrator().iter() {
        out.push_str(&format!(
            "\n-- ==== migration {:04} {} ====\n",
            m.version, m.description
        ));
        out.push_str(m.sql.as_str().trim_end());
        out.push('\n');
        out.push_str(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({}, '{}', true, '\\x{}', 0);\n",
            m.version,
            m.description.replace('\'', "''"),
            hex::encode(&*m.checksum)
        ));
    }
    out.push_str("\n-- ==== after the migrations ====\n");
    for statement in after_migrations(dialect, vector_dimensions) {
        out.push_str(&statement);
        out.push_str(";\n");
    }
    out
}

/// Brings the database to this binary's schema in the dialect the probe settles (`requested`:
/// ADBRAG_DIALECT, `None` for auto), records the dialect, and creates the vector tables of
/// `vector_dimensions`. Refuses, without changing anything, a server that does not match or lacks
/// what the dialect needs, a database newer than the binary or of the other dialect, a size above
/// the dialect's limit. Returns the dialect and the migrations it applied.
pub async fn migrate(
    pool: &PgPool,
    requested: Option<Dialect>,
    vector_dimensions: &[Dimensions],
) -> Result<(Dialect, Vec<i64>), MigrateError> {
    let server = probe(pool).await?;
    let dialect = server.dialect(requested)?;
    let before = status(pool, &server, dialect).await?;
    if let Some(applied) = before.applied.filter(|applied| *applied > before.latest) {
        return Err(MigrateError::Refused(format!(
            "the database is at migration {applied}, newer than this binary's {}: run a newer adbrag",
            before.latest
        )));
    }
    if let Some(recorded) = before.recorded.filter(|r| *r != dialect) {
        return Err(MigrateError::Refused(format!(
            "the schema was created for {} and cannot be migrated as {}: point DATABASE_URL at the database you meant",
            recorded.name(),
            dialect.name()
        )));
    }
    if dialect == Dialect::Pgvector && before.pgvector.is_none() && !before.pgvector_available {
        return Err(MigrateError::Refused(PGVECTOR_MISSING.to_owned()));
    }
    for dimensions in vector_dimensions {
        dialect.dimensions(i64::from(dimensions.get()))?;
    }
    dialect.migrator().run(pool).await?;
    let mut tx = pool.begin().await?;
    for statement in after_migrations(dialect, vector_dimensions) {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let from = before.applied.unwrap_or(0);
    Ok((
        dialect,
        MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|version| *version > from)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> SchemaStatus {
        SchemaStatus {
            applied: Some(2),
            latest: 2,
            failed: None,
            recorded: Some(Dialect::Pgvector),
            dialect: Dialect::Pgvector,
            pgvector: Some("0.8.0".into()),
            pgvector_available: true,
        }
    }

    fn postgres() -> Server {
        Server {
            server_version: "15.8 (Debian 15.8-1.pgdg120+1)".into(),
            adbpg_version: None,
            extensions: vec![
                ("plpgsql".into(), "1.0".into()),
                ("vector".into(), "0.8.0".into()),
            ],
            pgvector_available: true,
        }
    }

    fn analyticdb() -> Server {
        Server {
            server_version: "12.12".into(),
            adbpg_version: Some("7.2.1.3".into()),
            extensions: vec![
                ("fastann".into(), "1.0".into()),
                ("pgsearch".into(), "1.0".into()),
            ],
            pgvector_available: false,
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
            recorded: None,
            ..ready()
        };
        assert_eq!(empty.problems().len(), 2);

        let no_pgvector = SchemaStatus {
            pgvector: None,
            pgvector_available: false,
            ..ready()
        };
        assert!(no_pgvector.problems()[0].contains("does not have pgvector"));

        let other = SchemaStatus {
            recorded: Some(Dialect::AnalyticDb),
            ..ready()
        };
        assert!(
            other.problems()[0].contains("created for analyticdb"),
            "{:?}",
            other.problems()
        );
    }

    #[test]
    fn auto_detects_the_server() {
        assert_eq!(postgres().dialect(None).unwrap(), Dialect::Pgvector);
        assert_eq!(analyticdb().dialect(None).unwrap(), Dialect::AnalyticDb);
    }

    #[test]
    fn the_probe_refuses_with_one_clear_line() {
        let wrong = postgres()
            .dialect(Some(Dialect::AnalyticDb))
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("ADBRAG_DIALECT is analyticdb but the server is PostgreSQL 15.8"),
            "{wrong}"
        );
        let wrong = analyticdb()
            .dialect(Some(Dialect::Pgvector))
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("set ADBRAG_DIALECT=analyticdb"), "{wrong}");

        let no_fastann = Server {
            extensions: vec![("pgsearch".into(), "1.0".into())],
            ..analyticdb()
        };
        let err = no_fastann.dialect(None).unwrap_err().to_string();
        assert_eq!(
            err,
            "FastANN is not installed: enable Vector Search Engine Optimization in the AnalyticDB console (needs 7.2.1.2+; the instance restarts)"
        );

        for old in ["6.3.10.18", "7.0.5.0", "7.2.1.1"] {
            let server = Server {
                adbpg_version: Some(old.into()),
                ..analyticdb()
            };
            let err = server.dialect(None).unwrap_err().to_string();
            assert!(
                err.contains("needs AnalyticDB for PostgreSQL 7.2.1.2 or newer"),
                "{old}: {err}"
            );
        }
        assert!(
            Server {
                adbpg_version: Some("7.10.0.0".into()),
                ..analyticdb()
            }
            .dialect(None)
            .is_ok()
        );

        let ancient = Server {
            server_version: "11.22".into(),
            ..postgres()
        };
        assert!(
            ancient
                .dialect(None)
                .unwrap_err()
                .to_string()
                .contains("needs PostgreSQL 12")
        );
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
