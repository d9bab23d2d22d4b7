//! The two SQL dialects: every statement that differs is pinned by a golden file under
//! `tests/golden/<dialect>/`, and the pgvector rendering is also run against the real PostgreSQL,
//! so the reviewed text and the behaviour cannot drift apart. `ADBRAG_UPDATE_GOLDEN=1` rewrites
//! the files after an intended change (review the diff).

use std::path::PathBuf;

use adbrag::store::{
    dialect::{self, Dialect, Dimensions},
    schema,
    search::{self, Bm25, Fusion, FusionMethod, Mode},
};
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use crate::harness::db::TestDb;

fn golden_path(dialect: Dialect, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dialect.name())
        .join(file)
}

/// Compares `actual` with the checked-in file, or rewrites it under ADBRAG_UPDATE_GOLDEN=1.
fn golden(dialect: Dialect, file: &str, actual: &str) {
    let path = golden_path(dialect, file);
    if std::env::var_os("ADBRAG_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{} is missing ({err}): run with ADBRAG_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .map_or_else(
                || expected.lines().count().min(actual.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} differs from the rendering at line {line}:\n  golden: {:?}\n  now:    {:?}\nif the change is intended, run with ADBRAG_UPDATE_GOLDEN=1 and review the diff",
            path.display(),
            expected.lines().nth(line - 1).unwrap_or(""),
            actual.lines().nth(line - 1).unwrap_or("")
        );
    }
}

fn sizes() -> Vec<Dimensions> {
    vec![
        Dimensions::new(384).unwrap(),
        Dimensions::new(1024).unwrap(),
    ]
}

/// Every session setting, as `SET` statements.
fn session(dialect: Dialect) -> String {
    let mut out = String::from("-- every connection\n");
    for (name, value) in dialect.session(None) {
        out.push_str(&format!("SET {name} = '{value}';\n"));
    }
    out.push_str("-- connections that search (ef_search 100)\n");
    for (name, value) in dialect.session(Some(100)) {
        out.push_str(&format!("SET {name} = '{value}';\n"));
    }
    out
}

/// The hybrid retrieval statement for a representative query: both legs, a filter, an ACL.
fn search_sql(dialect: Dialect) -> String {
    let filter = adbrag::search::filter::Filter::parse(&serde_json::json!({"team": "hr"})).unwrap();
    let terms = vec!["annual".to_owned(), "leave".to_owned()];
    let embedding = vec![0.0f32; 1024];
    let principals = vec!["group:hr".to_owned()];
    let query = search::Query {
        dialect,
        collection_id: Uuid::nil(),
        dimensions: Dimensions::new(1024).unwrap(),
        embedding: Some(&embedding),
        terms: &terms,
        mode: Mode::Hybrid,
        top_k: 10,
        candidates: 50,
        fusion: Fusion {
            method: FusionMethod::Rrf,
            rrf_k: 60.0,
            vector_weight: 1.0,
            keyword_weight: 1.0,
        },
        bm25: Bm25 { k1: 1.2, b: 0.75 },
        postings_per_term: 2000,
        filter: Some(&filter),
        principals: Some(&principals),
    };
    let mut sql = search::hybrid_statement(&query).sql().as_str().to_owned();
    sql.push_str(";\n");
    sql
}

#[test]
fn every_statement_that_differs_is_pinned_per_dialect() {
    for dialect in Dialect::ALL {
        golden(dialect, "schema.sql", &schema::render(dialect, &sizes()));
        golden(dialect, "session.sql", &session(dialect));
        golden(dialect, "search.sql", &search_sql(dialect));
    }
}

/// AnalyticDB's rule, checked on the rendered schema: every table is distributed, and on a
/// hash-distributed table every primary key and unique index contains the distribution key.
#[test]
fn analyticdb_keys_contain_their_distribution_key() {
    let sql = schema::render(Dialect::AnalyticDb, &sizes());
    let mut hashed: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut replicated = std::collections::HashSet::new();
    let lines: Vec<&str> = sql.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            let name = rest
                .trim_start_matches("IF NOT EXISTS ")
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            let mut keys: Vec<Vec<String>> = Vec::new();
            let mut j = i + 1;
            while !lines[j].starts_with(')') {
                let item = lines[j].trim();
                if item.starts_with("--") {
                    j += 1;
                    continue;
                }
                if let Some(cols) = item
                    .split_once("PRIMARY KEY (")
                    .or_else(|| item.split_once("UNIQUE ("))
                    .map(|(_, rest)| rest.split(')').next().unwrap())
                {
                    keys.push(cols.split(',').map(|c| c.trim().to_owned()).collect());
                } else if item.contains("PRIMARY KEY") || item.contains(" UNIQUE") {
                    keys.push(vec![item.split_whitespace().next().unwrap().to_owned()]);
                }
                j += 1;
            }
            let policy = lines[j];
            if name == "_sqlx_migrations" {
                // sqlx's own DDL, without a clause: AnalyticDB distributes it by its primary key.
                i = j + 1;
                continue;
            }
            assert!(
                policy.contains("DISTRIBUTED"),
                "{name} has no distribution: {policy}"
            );
            if policy.contains("REPLICATED") {
                replicated.insert(name);
            } else {
                let key: Vec<String> = policy
                    .split_once("DISTRIBUTED BY (")
                    .unwrap()
                    .1
                    .split(')')
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .collect();
                for unique in &keys {
                    for column in &key {
                        assert!(
                            unique.contains(column),
                            "{name}: key ({}) lacks distribution column {column}",
                            unique.join(", ")
                        );
                    }
                }
                hashed.insert(name, key);
            }
            i = j;
        } else if let Some(rest) = line.strip_prefix("CREATE UNIQUE INDEX ") {
            let (_, target) = rest.split_once(" ON ").unwrap();
            let table = target.split_whitespace().next().unwrap();
            let cols: Vec<&str> = target
                .split_once('(')
                .unwrap()
                .1
                .split(')')
                .next()
                .unwrap()
                .split(',')
                .map(str::trim)
                .collect();
            if let Some(key) = hashed.get(table) {
                for column in key {
                    assert!(cols.contains(&column.as_str()), "{line}: lacks {column}");
                }
            } else {
                assert!(replicated.contains(table), "{line}: unknown table {table}");
            }
        }
        i += 1;
    }
    for table in [
        "chunk",
        "keyword_posting",
        "chunk_vector_1024",
        "ingest_job",
    ] {
        assert!(hashed.contains_key(table), "{table} should be hashed");
    }
    for table in ["collection", "document", "api_key"] {
        assert!(replicated.contains(table), "{table} should be replicated");
    }
}

#[test]
fn analyticdb_renders_nothing_only_pgvector_has() {
    let sql = schema::render(Dialect::AnalyticDb, &sizes());
    for absent in [
        "CREATE EXTENSION",
        "vector_dims",
        " vector ",
        " vector(",
        "::vector",
        "USING hnsw",
        "REFERENCES",
        "ON DELETE CASCADE",
    ] {
        let found: Vec<&str> = sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--") && l.contains(absent))
            .collect();
        assert!(
            found.is_empty(),
            "{absent:?} in the AnalyticDB schema: {found:#?}"
        );
    }
    assert!(sql.contains("USING ann (embedding) WITH (dim = 1024, distancemeasure = cosine"));
    assert!(sql.contains("ALTER TABLE chunk_vector_1024 ALTER COLUMN embedding SET STORAGE PLAIN"));
}

/// The SQL `migrate --print` shows for pgvector, run as a script on an empty database, builds the
/// same schema as `migrate` itself.
#[tokio::test]
async fn the_printed_pgvector_schema_is_what_migrate_builds() {
    let migrated = TestDb::empty().await;
    schema::migrate(&migrated.pool, None, &sizes())
        .await
        .unwrap();
    let printed = TestDb::empty().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(schema::render(
        Dialect::Pgvector,
        &sizes(),
    )))
    .execute(&printed.pool)
    .await
    .expect("the printed SQL runs as a script");

    assert_eq!(catalog(&printed).await, catalog(&migrated).await);
    // The history rows are what migrate writes: the database is ready, and migrate has nothing
    // left to apply.
    schema::require_ready(&printed.pool, None).await.unwrap();
    let (_, applied) = schema::migrate(&printed.pool, None, &[]).await.unwrap();
    assert!(applied.is_empty(), "{applied:?}");
    let recorded: String = sqlx::query_scalar("SELECT dialect FROM schema_dialect")
        .fetch_one(&printed.pool)
        .await
        .unwrap();
    assert_eq!(recorded, "pgvector");
}

/// Columns, constraints and indexes of the public schema, as text.
async fn catalog(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('column %s.%s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull)
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relname <> '_sqlx_migrations'
         UNION ALL
         SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         UNION ALL
         SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
           AND tablename <> '_sqlx_migrations'
         UNION ALL
         SELECT format('grant %s %s %s', table_name, grantee, privilege_type)
         FROM information_schema.role_table_grants
         WHERE table_schema = 'public' AND grantee LIKE 'adbrag\\_%' AND table_name <> '_sqlx_migrations'
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// A pgvector database from before 0009 (vectors in `chunk.embedding`, one partial index per
/// size) moves to one table per size: the vectors move, nothing else changes, and the tables are
/// the ones dialect.rs renders for a new size.
#[tokio::test]
async fn migration_9_moves_existing_vectors_into_tables_of_their_size() {
    let db = TestDb::empty().await;
    schema::MIGRATOR
        .run_to(8, &db.pool)
        .await
        .expect("migrations 1-8");
    let collection = Uuid::new_v4();
    let document = Uuid::new_v4();
    let chunk = Uuid::new_v4();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO collection (id, tenant, name, embedding_model, dimensions) VALUES ('{collection}', 'acme', 'old', 'm', 3);
         CREATE INDEX chunk_embedding_hnsw_3 ON chunk USING hnsw ((embedding::vector(3)) vector_cosine_ops) WHERE dimensions = 3;
         INSERT INTO document (id, collection_id, source_uri, source_time, status) VALUES ('{document}', '{collection}', 'oss://b/a', now(), 'ready');
         INSERT INTO chunk (id, document_id, collection_id, ordinal, text, token_count, content_sha256, dimensions, keywords, embedding)
         VALUES ('{chunk}', '{document}', '{collection}', 0, 'a', 1, sha256('a'), 3, to_tsvector('simple', 'a'), '[1,2,3]');
         INSERT INTO embedding_cache (tenant, model, dimensions, text_sha256, embedding) VALUES ('acme', 'm', 3, sha256('a'), '[1,2,3]');"
    )))
    .execute(&db.pool)
    .await
    .unwrap();

    schema::migrate(&db.pool, None, &[]).await.unwrap();

    let moved: (Uuid, Uuid, String) =
        sqlx::query_as("SELECT chunk_id, collection_id, embedding::text FROM chunk_vector_3")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(moved, (chunk, collection, "[1,2,3]".to_owned()));
    let cached: Vec<f32> = sqlx::query_scalar("SELECT embedding FROM embedding_cache")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(cached, [1.0, 2.0, 3.0]);
    let old_column: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'chunk' AND column_name = 'embedding')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        !old_column,
        "chunk.embedding and its partial index are gone"
    );

    // The migrated table is the one a new size gets, up to its size.
    let mut conn = db.pool.acquire().await.unwrap();
    dialect::ensure_vector_table(&mut conn, Dialect::Pgvector, Dimensions::new(5).unwrap())
        .await
        .unwrap();
    let shape = |n: u16| {
        let sql = format!(
            "SELECT replace(format('%s', array_agg(d ORDER BY d)), '_{n}', '_N') FROM (
                 SELECT format('%s %s', attname, replace(format_type(atttypid, atttypmod), '({n})', '(N)')) AS d
                 FROM pg_attribute WHERE attrelid = 'chunk_vector_{n}'::regclass AND attnum > 0
                 UNION ALL SELECT replace(indexdef, '_{n}', '_N') FROM pg_indexes WHERE tablename = 'chunk_vector_{n}'
                 UNION ALL SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'chunk_vector_{n}'::regclass
                 UNION ALL SELECT format('%s %s', grantee, privilege_type) FROM information_schema.role_table_grants
                           WHERE table_name = 'chunk_vector_{n}' AND grantee LIKE 'adbrag\\_%') s(d)"
        );
        sql
    };
    let old: String = sqlx::query_scalar(sqlx::AssertSqlSafe(shape(3)))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let new: String = sqlx::query_scalar(sqlx::AssertSqlSafe(shape(5)))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(old, new);
}

#[tokio::test]
async fn a_dialect_that_does_not_match_the_server_is_refused_before_anything_changes() {
    let db = TestDb::empty().await;
    let err = schema::migrate(&db.pool, Some(Dialect::AnalyticDb), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ADBRAG_DIALECT is analyticdb but the server is PostgreSQL "),
        "{err}"
    );
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(tables, 0, "nothing was created");

    // A size above pgvector's HNSW limit, before any migration runs.
    let err = schema::migrate(&db.pool, None, &[Dimensions::new(4096).unwrap()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("between 1 and 2000 for the pgvector dialect"),
        "{err}"
    );
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(tables, 0, "nothing was created");
}

#[tokio::test]
async fn a_schema_of_the_other_dialect_is_refused_at_start_up() {
    let db = TestDb::migrated().await;
    sqlx::query("UPDATE schema_dialect SET dialect = 'analyticdb'")
        .execute(&db.pool)
        .await
        .unwrap();
    let err = schema::require_ready(&db.pool, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the schema was created for analyticdb but this server is pgvector"),
        "{err}"
    );
}

/// The probe of the real server: PostgreSQL, with pgvector, and no AnalyticDB version.
#[tokio::test]
async fn the_probe_reads_the_server() {
    let db = TestDb::migrated().await;
    let server = schema::probe(&db.pool).await.unwrap();
    assert_eq!(server.adbpg_version, None);
    assert!(server.extension("vector").is_some(), "{server:?}");
    assert_eq!(server.dialect(None).unwrap(), Dialect::Pgvector);
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    assert_eq!(Dialect::of(&mut conn).await.unwrap(), Dialect::Pgvector);
    let row = sqlx::query("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), server.server_version);
}
