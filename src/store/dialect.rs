//! The SQL that differs between PostgreSQL + pgvector and AnalyticDB for PostgreSQL, in one place.
//!
//! Everything else the store runs is the same text on both. What differs, and how it renders:
//!
//! | concern            | pgvector                                             | AnalyticDB (FastANN)                                              |
//! |--------------------|------------------------------------------------------|-------------------------------------------------------------------|
//! | vector tables      | `chunk_vector_N (… embedding vector(N))`             | `chunk_vector_N (… embedding real[])` + `SET STORAGE PLAIN`      |
//! | ANN index          | `hnsw (embedding vector_cosine_ops)`                 | `ann (embedding) WITH (dim = N, distancemeasure = cosine, …)`     |
//! | query vector       | `$1::real[]::vector(N)`                              | `$1::real[]`                                                      |
//! | session            | `hnsw.ef_search`, `hnsw.iterative_scan`              | `optimizer = off`, `fastann.hnsw_ef_search`                       |
//! | distribution       | none                                                 | `DISTRIBUTED BY (…)` / `REPLICATED` per table ([`distribution`])  |
//! | migrations         | `migrations/*.sql` as written                        | the same files through [`Dialect::render_migration`]             |
//! | dimension limit    | 2,000 (HNSW on `vector`)                             | 8,192 (FastANN `dim`)                                              |
//!
//! One vector table per embedding size, in both dialects (docs/database.md says why): an ANN
//! index is declared on a column of one fixed size, and AnalyticDB documents no partial or
//! expression ANN index, so collections of different sizes cannot share one indexed column.
//! Vectors travel as `real[]` parameters in both dialects, so the Rust side binds `Vec<f32>`.

use std::sync::LazyLock;

use serde::Serialize;
use sqlx::{
    AssertSqlSafe, PgConnection, SqlSafeStr,
    migrate::{Migration, Migrator},
};

use super::{Error, Result};

/// The SQL dialect of the database server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL with the pgvector extension (local, tests, RDS/PolarDB in production).
    #[default]
    Pgvector,
    /// AnalyticDB for PostgreSQL 7 with FastANN (Vector Search Engine Optimization).
    #[serde(rename = "analyticdb")]
    AnalyticDb,
}

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::Pgvector, Dialect::AnalyticDb];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Pgvector => "pgvector",
            Dialect::AnalyticDb => "analyticdb",
        }
    }

    /// The largest embedding its ANN index takes: pgvector's HNSW indexes `vector` up to 2,000
    /// dimensions; FastANN's `dim` goes to 8,192.
    pub fn max_dimensions(self) -> u16 {
        match self {
            Dialect::Pgvector => 2000,
            Dialect::AnalyticDb => 8192,
        }
    }

    /// Checks an embedding size against this dialect's index limit.
    pub fn dimensions(self, dimensions: i64) -> Result<Dimensions> {
        match u16::try_from(dimensions) {
            Ok(d) if (1..=self.max_dimensions()).contains(&d) => Ok(Dimensions(d)),
            _ => Err(Error::InvalidDimensions {
                got: dimensions,
                max: self.max_dimensions(),
                dialect: self.name(),
            }),
        }
    }

    /// Session settings for every connection, and with `ef_search` those that search.
    ///
    /// pgvector, for searches: the HNSW breadth `ef_search` (higher is more exact and slower),
    /// iterative scan so a filtered search still finds its candidates among matching rows, and
    /// custom plans always: the search statement is prepared, and its generic plan (which
    /// PostgreSQL may switch to after five executions) cannot see the query vector — measured on
    /// 100k chunks it took 90–130 ms where the custom plan takes 4.5.
    ///
    /// AnalyticDB, always: the PostgreSQL planner, not ORCA (AnalyticDB's peers run vector
    /// queries so, and `FOR UPDATE SKIP LOCKED`, the job queue's claim, keeps row locks only under
    /// it); for searches FastANN's breadth and custom plans. The breadth's name is taken from
    /// AnalyticDB's public benchmark clients, not the reference documentation
    /// (docs/analyticdb.md): a server that does not know a dotted name keeps it as an inert
    /// placeholder setting, so a wrong name costs recall, never a refusal.
    pub fn session(self, ef_search: Option<u32>) -> Vec<(&'static str, String)> {
        let mut settings = Vec::new();
        match self {
            Dialect::Pgvector => {
                if let Some(ef) = ef_search {
                    settings.push(("hnsw.ef_search", ef.to_string()));
                    settings.push(("hnsw.iterative_scan", "relaxed_order".to_owned()));
                }
            }
            Dialect::AnalyticDb => {
                settings.push(("optimizer", "off".to_owned()));
                if let Some(ef) = ef_search {
                    settings.push(("fastann.hnsw_ef_search", ef.to_string()));
                }
            }
        }
        if ef_search.is_some() {
            settings.push(("plan_cache_mode", "force_custom_plan".to_owned()));
        }
        settings
    }

    /// The query vector, from a `real[]` parameter, as the ANN operator's right-hand side.
    pub fn query_vector(self, parameter: &str, dimensions: Dimensions) -> String {
        match self {
            Dialect::Pgvector => format!("{parameter}::real[]::vector({})", dimensions.0),
            Dialect::AnalyticDb => format!("{parameter}::real[]"),
        }
    }

    /// The statements that create the vector table for one embedding size, with its indexes and
    /// grants, in order. Each is idempotent (`IF NOT EXISTS`, grants repeat harmlessly).
    ///
    /// pgvector: HNSW with `m = 16, ef_construction = 64` (pgvector's defaults: recall ≥ 0.95 at
    /// the default `ef_search` for the corpus sizes we serve, at a build cost that keeps ingest
    /// fast), cosine distance to match the `<=>` the search uses. `chunk_id` references `chunk`
    /// without a cascade: the store deletes vectors itself (AnalyticDB enforces no foreign keys,
    /// so the same code must work without them), and the reference makes a forgotten delete
    /// fail here, in the tests, instead of leaving a vector behind.
    ///
    /// AnalyticDB: `real[]` stored PLAIN (FastANN reads the array in place; every peer sets
    /// it before indexing), distributed by chunk like the chunk table so the join to `chunk`
    /// stays on each segment, cosine distance for `<=>`, `hnsw_m` by size as the
    /// CreateVectorIndex API advises (16 up to 384 dimensions, 32 to 768, 64 to 1024, 128
    /// above), `hnsw_ef_construction` left at its default (600), the index in segment-page
    /// storage (`external_storage = 0`, through shared buffers) and no product quantisation
    /// (`pq_enable = 0`): PQ trains on the rows present and pays only beyond ~500k vectors
    /// (docs/operations.md).
    pub fn vector_table_ddl(self, dimensions: Dimensions) -> Vec<String> {
        let n = dimensions.0;
        let table = vector_table(dimensions);
        let mut ddl = match self {
            Dialect::Pgvector => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {table} (\n    \
                     chunk_id      uuid PRIMARY KEY REFERENCES chunk (id),\n    \
                     collection_id uuid NOT NULL,\n    \
                     embedding     vector({n}) NOT NULL\n)"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {table}_ann ON {table} \
                     USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
                ),
            ],
            Dialect::AnalyticDb => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {table} (\n    \
                     chunk_id      uuid PRIMARY KEY,\n    \
                     collection_id uuid NOT NULL,\n    \
                     embedding     real[] NOT NULL CHECK (array_length(embedding, 1) = {n})\n\
                     ) DISTRIBUTED BY (chunk_id)"
                ),
                format!("ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE PLAIN"),
                format!(
                    "CREATE INDEX IF NOT EXISTS {table}_ann ON {table} USING ann (embedding) \
                     WITH (dim = {n}, distancemeasure = cosine, hnsw_m = {m}, pq_enable = 0, \
                     external_storage = 0)",
                    m = match n {
                        ..=384 => 16,
                        385..=768 => 32,
                        769..=1024 => 64,
                        _ => 128,
                    }
                ),
            ],
        };
        ddl.push(format!(
            "CREATE INDEX IF NOT EXISTS {table}_collection_idx ON {table} (collection_id)"
        ));
        ddl.push(format!("GRANT SELECT ON {table} TO adbrag_reader"));
        ddl.push(format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO adbrag_writer"
        ));
        ddl
    }

    /// This dialect's migrator: pgvector runs `migrations/` as written; AnalyticDB runs the same
    /// files rendered by [`Dialect::render_migration`] (so its checksums are its own).
    pub fn migrator(self) -> &'static Migrator {
        static ANALYTICDB: LazyLock<Migrator> = LazyLock::new(|| {
            Migrator::with_migrations(
                super::schema::MIGRATOR
                    .iter()
                    .map(|m| {
                        Migration::new(
                            m.version,
                            m.description.clone(),
                            m.migration_type,
                            AssertSqlSafe(Dialect::AnalyticDb.render_migration(m.sql.as_str()))
                                .into_sql_str(),
                            m.no_tx,
                        )
                    })
                    .collect(),
            )
        });
        match self {
            Dialect::Pgvector => &super::schema::MIGRATOR,
            Dialect::AnalyticDb => &ANALYTICDB,
        }
    }

    /// A migration's SQL in this dialect. pgvector: unchanged. AnalyticDB, line by line:
    /// - `CREATE EXTENSION IF NOT EXISTS vector` goes (FastANN is enabled in the console; the
    ///   start-up probe checks it);
    /// - an `embedding vector` column becomes `embedding real[]`, `vector_dims(x)` becomes
    ///   `array_length(x, 1)`;
    /// - `REFERENCES … [ON DELETE CASCADE]` goes: AnalyticDB does not enforce foreign keys, and
    ///   the store deletes dependent rows itself;
    /// - every `CREATE TABLE` ends with its [`distribution`];
    /// - a unique constraint that cannot hold the distribution key becomes a plain index
    ///   or takes the distribution key in ([`KEY_REWRITES`]);
    /// - lines between `-- dialect: pgvector only` and `-- dialect: end` go (they move data of
    ///   older pgvector layouts; an AnalyticDB database starts empty at the newest layout).
    pub fn render_migration(self, sql: &str) -> String {
        if self == Dialect::Pgvector {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 256);
        let mut table: Option<&str> = None;
        let mut pending: Vec<&KeyRewrite> = Vec::new();
        let mut skipping = false;
        for line in sql.lines() {
            let trimmed = line.trim();
            if trimmed == "-- dialect: pgvector only" {
                skipping = true;
                out.push_str("-- [analyticdb] a pgvector-only block is left out here\n");
                continue;
            }
            if skipping {
                skipping = trimmed != "-- dialect: end";
                continue;
            }
            if trimmed.eq_ignore_ascii_case("CREATE EXTENSION IF NOT EXISTS vector;") {
                out.push_str(
                    "-- [analyticdb] no CREATE EXTENSION: FastANN comes with Vector Search Engine Optimization (the start-up probe checks it)\n",
                );
                continue;
            }
            if let Some(name) = trimmed
                .strip_prefix("CREATE TABLE ")
                .and_then(|rest| rest.strip_suffix(" ("))
            {
                table = Some(name.trim_start_matches("IF NOT EXISTS ").trim());
            }
            if let Some(current) = table {
                if let Some(rewrite) = KEY_REWRITES
                    .iter()
                    .find(|r| r.table == current && trimmed.starts_with(r.line))
                {
                    out.push_str(&format!("    -- [analyticdb] {}\n", rewrite.why));
                    if let Some(replacement) = rewrite.replacement {
                        out.push_str(replacement);
                        out.push('\n');
                    }
                    pending.push(rewrite);
                    continue;
                }
                if line.starts_with(");") {
                    let policy = distribution(current).unwrap_or_else(|| {
                        panic!("table {current} has no AnalyticDB distribution policy: add it to dialect::distribution")
                    });
                    for rewrite in &pending {
                        if let Some(key) = rewrite.key {
                            // The previous line is the table's last item: it now needs a comma.
                            out.truncate(out.trim_end().len());
                            out.push_str(",\n    ");
                            out.push_str(key);
                            out.push('\n');
                        }
                    }
                    out.push_str(&format!(") {policy};\n"));
                    for rewrite in pending.drain(..) {
                        if let Some(index) = rewrite.index {
                            out.push_str(index);
                            out.push('\n');
                        }
                    }
                    table = None;
                    continue;
                }
            }
            out.push_str(&render_line(line));
            out.push('\n');
        }
        out
    }
}

/// The name of the table that holds the vectors of one embedding size.
pub fn vector_table(dimensions: Dimensions) -> String {
    format!("chunk_vector_{}", dimensions.0)
}

/// How AnalyticDB spreads each table over its segments, and why:
/// - small, read by every search, written rarely: `REPLICATED` (a copy on each segment, so joins
///   to them never move rows, and their unique keys need no distribution column);
/// - large: hashed on the key that keeps a join local — chunks, their vectors and keyword postings
///   all by chunk id, so the search's joins run segment by segment.
///
/// Every primary key and unique index contains the hash key (AnalyticDB's rule), which the
/// golden test checks on the rendered schema.
pub fn distribution(table: &str) -> Option<&'static str> {
    Some(match table {
        "collection" | "document" | "api_key" | "schema_dialect" => "DISTRIBUTED REPLICATED",
        "ingest_job" | "keyword_stats" => "DISTRIBUTED BY (collection_id)",
        "chunk" | "audit_log" => "DISTRIBUTED BY (id)",
        "keyword_posting" | "reindex_vector" => "DISTRIBUTED BY (chunk_id)",
        "keyword_term" => "DISTRIBUTED BY (term)",
        "tombstone" => "DISTRIBUTED BY (source_uri_sha256)",
        "embedding_cache" | "embedding_cache_tenant" => "DISTRIBUTED BY (text_sha256)",
        _ => return None,
    })
}

/// A key that AnalyticDB cannot keep as written on a hash-distributed table (every primary key
/// and unique constraint must contain the distribution key), and what replaces it there.
pub struct KeyRewrite {
    pub table: &'static str,
    /// The start of the (trimmed) line that declares the key.
    pub line: &'static str,
    /// The line in its place, if any.
    pub replacement: Option<&'static str>,
    /// A table constraint added at the end of the table.
    pub key: Option<&'static str>,
    /// A statement after the table.
    pub index: Option<&'static str>,
    /// Said in a comment where the line was.
    pub why: &'static str,
}

/// - `chunk (document_id, ordinal)`: chunks are hashed by id (so vectors and postings join them
///   locally), and a document's chunks are only ever written all together, in the transaction
///   that removed the previous version's, so the order stays unique without the constraint.
/// - `ingest_job`: hashed by collection (the idempotency key is unique per collection), so the
///   primary key becomes (collection_id, id); ids are random UUIDs, unique on their own.
pub const KEY_REWRITES: [KeyRewrite; 2] = [
    KeyRewrite {
        table: "chunk",
        line: "CONSTRAINT chunk_document_ordinal_key UNIQUE",
        replacement: None,
        key: None,
        index: Some("CREATE INDEX chunk_document_ordinal_idx ON chunk (document_id, ordinal);"),
        why: "chunk_document_ordinal_key becomes a plain index (below): chunks are hashed by id",
    },
    KeyRewrite {
        table: "ingest_job",
        line: "id              uuid        PRIMARY KEY,",
        replacement: Some("    id              uuid        NOT NULL,"),
        key: Some("PRIMARY KEY (collection_id, id)"),
        index: None,
        why: "the primary key holds the distribution key: (collection_id, id), at the end",
    },
];

/// One line of a migration in the AnalyticDB dialect (the column and function rewrites).
fn render_line(line: &str) -> String {
    let mut line = line.replace("vector_dims(embedding)", "array_length(embedding, 1)");
    // `embedding vector` (any spacing) as a column type.
    if let Some(at) = line.find("embedding ") {
        let rest = &line[at + "embedding".len()..];
        let spaces = rest.len() - rest.trim_start().len();
        let after = &rest[spaces..];
        if after.starts_with("vector ") || after.starts_with("vector,") || after == "vector" {
            let start = at + "embedding".len() + spaces;
            line.replace_range(start..start + "vector".len(), "real[]");
        }
    }
    // Foreign keys: AnalyticDB accepts them and enforces nothing, so they are left out (the store
    // deletes dependent rows itself).
    if let Some(at) = line.find(" REFERENCES ") {
        let after = &line[at + " REFERENCES ".len()..];
        // `table (column)` then an optional `ON DELETE CASCADE`.
        if let Some(close) = after.find(')') {
            let mut end = at + " REFERENCES ".len() + close + 1;
            if line[end..].starts_with(" ON DELETE CASCADE") {
                end += " ON DELETE CASCADE".len();
            }
            line.replace_range(at..end, "");
        }
    }
    line
}

/// A checked embedding size: the only value ever rendered into SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dimensions(u16);

impl Dimensions {
    /// The largest size any dialect indexes; [`Dialect::dimensions`] checks a dialect's own limit.
    pub const MAX: u16 = 8192;

    pub fn new(dimensions: i64) -> Result<Self> {
        match u16::try_from(dimensions) {
            Ok(d) if (1..=Self::MAX).contains(&d) => Ok(Self(d)),
            _ => Err(Error::InvalidDimensions {
                got: dimensions,
                max: Self::MAX,
                dialect: "any",
            }),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Creates the vector table for this size unless it exists. Runs inside the caller's
/// transaction. The first collection of a new size pays for it (an empty table and index).
///
/// Creating a table needs the schema owner's privileges: when the service runs as
/// `adbrag_writer` the table must exist already (`adbrag migrate --vector-dimensions N` as the
/// owner makes it), and this says so instead of failing on the `CREATE`.
pub async fn ensure_vector_table(
    conn: &mut PgConnection,
    dialect: Dialect,
    dimensions: Dimensions,
) -> Result<()> {
    dialect.dimensions(i64::from(dimensions.get()))?;
    if vector_table_exists(&mut *conn, dimensions).await? {
        return Ok(());
    }
    // Two transactions creating the same table race on its name; serialise the DDL.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('adbrag:vector-index-ddl', 0))")
        .execute(&mut *conn)
        .await?;
    for statement in dialect.vector_table_ddl(dimensions) {
        // The only SQL text built at run time: a table name and size from a checked `Dimensions`.
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut *conn)
            .await
            .map_err(|err| match &err {
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => {
                    Error::VectorTablePrivilege {
                        dimensions: dimensions.get(),
                    }
                }
                _ => Error::Database(err),
            })?;
    }
    Ok(())
}

impl Dialect {
    /// The dialect the schema was rendered in, as `adbrag migrate` recorded it.
    pub async fn of(conn: &mut PgConnection) -> Result<Dialect> {
        let recorded: Option<String> = sqlx::query_scalar("SELECT dialect FROM schema_dialect")
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match recorded.as_deref() {
            Some("analyticdb") => Dialect::AnalyticDb,
            // Recorded by every migrate since 0009; before that, only pgvector existed.
            _ => Dialect::Pgvector,
        })
    }

    /// The dialect named by `name` (`pgvector`, `analyticdb`).
    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Whether the vector table of this size exists.
pub async fn vector_table_exists(conn: &mut PgConnection, dimensions: Dimensions) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(vector_table(dimensions))
        .fetch_one(&mut *conn)
        .await?)
}

/// Deletes the vectors that `filter` selects from the table of this size, if it exists (a size
/// above every limit has none). `filter` is fixed SQL text over `v`, the vector table, binding
/// `$1`, e.g. `WHERE v.collection_id = $1`. Returns how many went.
pub async fn delete_vectors(
    conn: &mut PgConnection,
    dimensions: i32,
    filter: &'static str,
    id: uuid::Uuid,
) -> Result<u64> {
    let Ok(size) = Dimensions::new(i64::from(dimensions)) else {
        return Ok(0);
    };
    if !vector_table_exists(&mut *conn, size).await? {
        return Ok(0);
    }
    // The only SQL text built at run time: a table name from a checked `Dimensions`.
    Ok(sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {} v {filter}",
        vector_table(size)
    )))
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The vector tables that exist, by size.
pub async fn vector_tables(conn: &mut PgConnection) -> Result<Vec<Dimensions>> {
    let sizes: Vec<String> = sqlx::query_scalar(
        "SELECT substr(tablename, length('chunk_vector_') + 1) FROM pg_tables
         WHERE schemaname = current_schema() AND tablename ~ '^chunk_vector_[0-9]+$'
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut sizes: Vec<Dimensions> = sizes
        .iter()
        .filter_map(|s| s.parse::<i64>().ok())
        .filter_map(|n| Dimensions::new(n).ok())
        .collect();
    sizes.sort();
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_checked_sizes_reach_sql() {
        assert!(Dimensions::new(0).is_err());
        assert!(Dimensions::new(-384).is_err());
        assert!(Dimensions::new(8193).is_err());
        assert!(Dimensions::new(i64::from(u16::MAX) + 385).is_err());
        assert_eq!(Dimensions::new(384).unwrap().get(), 384);
    }

    #[test]
    fn each_dialect_has_its_own_limit() {
        assert!(Dialect::Pgvector.dimensions(2000).is_ok());
        let err = Dialect::Pgvector.dimensions(2001).unwrap_err().to_string();
        assert!(err.contains("2000") && err.contains("pgvector"), "{err}");
        assert!(Dialect::AnalyticDb.dimensions(8192).is_ok());
        assert!(Dialect::AnalyticDb.dimensions(8193).is_err());
    }

    #[test]
    fn columns_and_references_render_for_analyticdb() {
        assert_eq!(
            render_line("ALTER TABLE chunk ADD COLUMN embedding vector NOT NULL;"),
            "ALTER TABLE chunk ADD COLUMN embedding real[] NOT NULL;"
        );
        assert_eq!(
            render_line(
                "    embedding     vector      NOT NULL CHECK (vector_dims(embedding) = dimensions),"
            ),
            "    embedding     real[]      NOT NULL CHECK (array_length(embedding, 1) = dimensions),"
        );
        assert_eq!(
            render_line(
                "    document_id    uuid     NOT NULL REFERENCES document (id) ON DELETE CASCADE,"
            ),
            "    document_id    uuid     NOT NULL,"
        );
        // Words that merely contain the type's name are left alone.
        assert_eq!(
            render_line("-- the vector columns, vectors"),
            "-- the vector columns, vectors"
        );
    }

    #[test]
    fn pgvector_renders_migrations_as_written() {
        for m in super::super::schema::MIGRATOR.iter() {
            assert_eq!(
                Dialect::Pgvector.render_migration(m.sql.as_str()),
                m.sql.as_str()
            );
        }
    }
}
