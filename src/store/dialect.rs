//! The SQL that differs between PostgreSQL + pgvector and AnalyticDB for PostgreSQL, in one place.
//!
//! Today adbrag renders the pgvector dialect (local development, tests, PostgreSQL in production).
//! AnalyticDB differs only in the statements rendered here and in `migrations/0002_vectors.sql`
//! (docs/database.md, "AnalyticDB for PostgreSQL"), so supporting it means adding a second rendition of these, not touching the
//! rest of the store:
//!
//! | concern            | pgvector (rendered here)                                        | AnalyticDB                                                                  |
//! |--------------------|-----------------------------------------------------------------|-----------------------------------------------------------------------------|
//! | vector column      | `embedding vector` (no type modifier)                           | `embedding real[]` + `ALTER COLUMN embedding SET STORAGE PLAIN`             |
//! | ANN index          | `hnsw ((embedding::vector(N)) vector_cosine_ops) WHERE dimensions = N` | `ann (embedding) WITH (dim=N, distancemeasure=cosine, hnsw_m=64, pq_enable=0)` |
//! | query vector       | `$1::real[]::vector(N)`                                         | `$1::real[]`                                                                |
//! | distribution       | none                                                            | `DISTRIBUTED BY (document_id)` on chunk; keys must include it                |
//!
//! Vectors travel as `real[]` parameters in both dialects, so the Rust side binds `Vec<f32>` and
//! never needs a dialect-specific type.

use sqlx::PgConnection;

use super::{Error, Result};

/// pgvector's HNSW index supports up to 2,000 dimensions for `vector`; the column holds up to 16,000.
pub const MAX_DIMENSIONS: u16 = 2000;

/// A checked embedding size: the only value ever rendered into SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimensions(u16);

impl Dimensions {
    pub fn new(dimensions: i64) -> Result<Self> {
        match u16::try_from(dimensions) {
            Ok(d) if (1..=MAX_DIMENSIONS).contains(&d) => Ok(Self(d)),
            _ => Err(Error::InvalidDimensions(dimensions)),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Session settings for every database connection that searches: the HNSW breadth `ef_search`
/// (higher is more exact and slower), pgvector's iterative scan, so a filtered search still finds
/// its candidates among matching rows, and custom plans always: the search statement is prepared,
/// and its generic plan (which PostgreSQL may switch to after five executions) cannot see the
/// query vector or the tsqueries — measured on 100k chunks it took 90–130 ms where the custom
/// plan takes 4.5.
pub fn search_session(ef_search: u32) -> Vec<(&'static str, String)> {
    vec![
        ("hnsw.ef_search", ef_search.to_string()),
        ("hnsw.iterative_scan", "relaxed_order".to_owned()),
        ("plan_cache_mode", "force_custom_plan".to_owned()),
    ]
}

/// The name of the vector index that serves collections of this size.
pub fn vector_index_name(dimensions: Dimensions) -> String {
    format!("chunk_embedding_hnsw_{}", dimensions.0)
}

/// DDL for the vector index that serves every collection of one embedding size.
///
/// One partial expression index per size, because an HNSW index needs a fixed dimension while
/// collections of different sizes share the `chunk` table. Cosine distance, matching the
/// `<=>` operator the search leg uses (the operator must match the index's opclass to use it).
/// `m = 16, ef_construction = 64` are pgvector's defaults: recall ≥ 0.95 at the default
/// `ef_search` for the corpus sizes we serve, at a build cost that keeps ingest fast.
pub fn vector_index_ddl(dimensions: Dimensions) -> String {
    let n = dimensions.0;
    format!(
        "CREATE INDEX IF NOT EXISTS {name} ON chunk USING hnsw ((embedding::vector({n})) vector_cosine_ops) \
         WITH (m = 16, ef_construction = 64) WHERE dimensions = {n}",
        name = vector_index_name(dimensions)
    )
}

/// The embedding expression a vector query must use for the planner to pick the index above.
pub fn embedding_expression(dimensions: Dimensions) -> String {
    format!("embedding::vector({})", dimensions.0)
}

/// Creates the vector index for this size unless it exists. Runs inside the caller's transaction.
///
/// The first collection of a new size pays for it: `CREATE INDEX` scans `chunk` once (no row
/// matches the predicate yet, so it builds nothing) and blocks chunk writes for that scan.
pub async fn ensure_vector_index(conn: &mut PgConnection, dimensions: Dimensions) -> Result<()> {
    // Two transactions creating the same index race on its name; serialise index DDL.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('adbrag:vector-index-ddl', 0))")
        .execute(&mut *conn)
        .await?;
    // The only SQL text built at run time: an index name and size from a checked `Dimensions`.
    sqlx::query(sqlx::AssertSqlSafe(vector_index_ddl(dimensions)))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_checked_sizes_reach_sql() {
        assert!(Dimensions::new(0).is_err());
        assert!(Dimensions::new(-384).is_err());
        assert!(Dimensions::new(2001).is_err());
        assert!(Dimensions::new(i64::from(u16::MAX) + 385).is_err());
        assert_eq!(Dimensions::new(384).unwrap().get(), 384);
    }

    #[test]
    fn the_index_is_partial_on_its_own_size() {
        let ddl = vector_index_ddl(Dimensions::new(1024).unwrap());
        assert!(ddl.contains("chunk_embedding_hnsw_1024"), "{ddl}");
        assert!(
            ddl.contains("(embedding::vector(1024)) vector_cosine_ops"),
            "{ddl}"
        );
        assert!(ddl.ends_with("WHERE dimensions = 1024"), "{ddl}");
    }
}
