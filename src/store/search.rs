//! Hybrid retrieval in one statement: a vector top-k and a keyword top-k over one collection's ready
//! documents, fused by weighted reciprocal rank (score = Σ wᵢ / (k + rankᵢ)).
//!
//! Everything a caller supplies is bound; the only rendered text is the embedding size (from a
//! checked [`Dimensions`]) and the filter's own SQL, which binds its values too.

use serde::Serialize;
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    Result,
    dialect::{self, Dimensions},
};
use crate::search::filter::Filter;

/// Which legs run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Vector,
    Keyword,
}

/// One retrieval, fully specified.
pub struct Query<'a> {
    pub collection_id: Uuid,
    pub dimensions: Dimensions,
    /// The query's embedding (needed unless `mode` is keyword).
    pub embedding: Option<&'a [f32]>,
    /// Keyword terms from `search::segment::terms` (needed unless `mode` is vector).
    pub terms: &'a [String],
    pub mode: Mode,
    pub top_k: i64,
    /// How many candidates each leg contributes before fusion.
    pub candidates: i64,
    pub rrf_k: f64,
    pub vector_weight: f64,
    pub keyword_weight: f64,
    pub filter: Option<&'a Filter>,
    /// When set, only documents whose ACL is empty or names one of these principals.
    pub principals: Option<&'a [String]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Hit {
    pub chunk_id: Uuid,
    pub document_id: Uuid,
    pub source_uri: String,
    pub title: Option<String>,
    pub version: i32,
    pub ordinal: i32,
    pub page_from: Option<i32>,
    pub page_to: Option<i32>,
    #[schema(value_type = Vec<String>)]
    pub heading_path: serde_json::Value,
    pub text: String,
    /// Rank in the vector leg (1 = nearest), if the chunk was among its candidates.
    pub vector_rank: Option<i64>,
    /// Rank in the keyword leg, if the chunk was among its candidates.
    pub keyword_rank: Option<i64>,
    pub score: f64,
}

/// The conditions every leg shares: this collection, ready documents, the filter and the ACL.
fn push_scope(qb: &mut QueryBuilder<Postgres>, query: &Query<'_>) {
    qb.push(" c.collection_id = ")
        .push_bind(query.collection_id)
        .push(" AND d.status = 'ready'");
    if let Some(filter) = query.filter {
        qb.push(" AND (");
        filter.push_sql(qb, "d.metadata");
        qb.push(")");
    }
    if let Some(principals) = query.principals {
        qb.push(" AND (d.acl = '{}' OR d.acl && ")
            .push_bind(principals)
            .push("::text[])");
    }
}

/// Runs the retrieval in one round trip, best first.
pub async fn hybrid(executor: impl PgExecutor<'_>, query: &Query<'_>) -> Result<Vec<Hit>> {
    let vector = query.mode != Mode::Keyword && query.embedding.is_some();
    let keyword = query.mode != Mode::Vector && !query.terms.is_empty();
    let n = query.dimensions.get();
    let expression = dialect::embedding_expression(query.dimensions);

    let mut qb = QueryBuilder::<Postgres>::new("WITH vector_leg AS (");
    if vector {
        // The expression and `dimensions = N` predicate match the partial HNSW index (dialect.rs).
        qb.push(format!(
            "SELECT c.id, row_number() OVER (ORDER BY {expression} <=> q.v) AS rank
             FROM chunk c JOIN document d ON d.id = c.document_id,
                  (SELECT "
        ))
        .push_bind(query.embedding.unwrap_or_default())
        .push(format!(
            "::real[]::vector({n}) AS v) q
             WHERE c.dimensions = {n} AND"
        ));
        push_scope(&mut qb, query);
        qb.push(format!(" ORDER BY {expression} <=> q.v LIMIT "))
            .push_bind(query.candidates);
    } else {
        qb.push("SELECT NULL::uuid AS id, NULL::bigint AS rank WHERE false");
    }
    qb.push("), keyword_leg AS (");
    if keyword {
        qb.push(
            "SELECT c.id, row_number() OVER (ORDER BY ts_rank_cd(c.keywords, q.tsq) DESC, c.id) AS rank
             FROM chunk c JOIN document d ON d.id = c.document_id,
                  (SELECT to_tsquery('simple', ",
        )
        .push_bind(tsquery(query.terms))
        .push(") AS tsq) q WHERE c.keywords @@ q.tsq AND");
        push_scope(&mut qb, query);
        qb.push(" ORDER BY ts_rank_cd(c.keywords, q.tsq) DESC, c.id LIMIT ")
            .push_bind(query.candidates);
    } else {
        qb.push("SELECT NULL::uuid AS id, NULL::bigint AS rank WHERE false");
    }
    qb.push(
        "), fused AS (
             SELECT coalesce(v.id, k.id) AS id, v.rank AS vector_rank, k.rank AS keyword_rank,
                    coalesce(",
    )
    .push_bind(query.vector_weight)
    .push("::float8 / (")
    .push_bind(query.rrf_k)
    .push("::float8 + v.rank), 0) + coalesce(")
    .push_bind(query.keyword_weight)
    .push("::float8 / (")
    .push_bind(query.rrf_k)
    .push(
        "::float8 + k.rank), 0) AS score
             FROM vector_leg v FULL OUTER JOIN keyword_leg k ON v.id = k.id)
         SELECT c.id AS chunk_id, c.document_id, d.source_uri, d.title, d.version, c.ordinal,
                c.page_from, c.page_to, c.heading_path, c.text, f.vector_rank, f.keyword_rank, f.score
         FROM fused f JOIN chunk c ON c.id = f.id JOIN document d ON d.id = c.document_id
         ORDER BY f.score DESC, f.vector_rank NULLS LAST, f.keyword_rank NULLS LAST
         LIMIT ",
    )
    .push_bind(query.top_k);
    Ok(qb.build_query_as::<Hit>().fetch_all(executor).await?)
}

/// Any of the terms matches (ranking rewards chunks that match more, and closer together). Terms
/// come from the segmenter, which strips every tsquery operator, and travel as a bound parameter.
fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|term| format!("'{term}'"))
        .collect::<Vec<_>>()
        .join(" | ")
}
