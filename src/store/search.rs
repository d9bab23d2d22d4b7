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
    /// Cosine similarity to the query (1 = same direction), if the vector leg found the chunk.
    pub similarity: Option<f64>,
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

    let mut qb = QueryBuilder::<Postgres>::new("WITH ");
    if keyword {
        push_keyword_candidates(&mut qb, query);
        qb.push(", ");
    }
    qb.push("vector_leg AS (");
    if vector {
        // The expression and `dimensions = N` predicate match the partial HNSW index (dialect.rs).
        qb.push(format!(
            "SELECT c.id, row_number() OVER (ORDER BY {expression} <=> q.v) AS rank,
                    1 - ({expression} <=> q.v) AS similarity
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
        qb.push(
            "SELECT NULL::uuid AS id, NULL::bigint AS rank, NULL::float8 AS similarity WHERE false",
        );
    }
    qb.push("), keyword_leg AS (");
    if keyword {
        qb.push(
            "SELECT h.id, row_number() OVER (ORDER BY ts_rank_cd(h.keywords, q.tsq) DESC, h.id) AS rank
             FROM kw_hits h, kw_q q
             ORDER BY ts_rank_cd(h.keywords, q.tsq) DESC, h.id LIMIT ",
        )
        .push_bind(query.candidates);
    } else {
        qb.push("SELECT NULL::uuid AS id, NULL::bigint AS rank WHERE false");
    }
    qb.push(
        "), fused AS (
             SELECT coalesce(v.id, k.id) AS id, v.rank AS vector_rank, k.rank AS keyword_rank,
                    v.similarity,
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
                c.page_from, c.page_to, c.heading_path, c.text, f.vector_rank, f.keyword_rank,
                f.similarity, f.score
         FROM fused f JOIN chunk c ON c.id = f.id JOIN document d ON d.id = c.document_id
         ORDER BY f.score DESC, f.vector_rank NULLS LAST, f.keyword_rank NULLS LAST
         LIMIT ",
    )
    .push_bind(query.top_k);
    Ok(qb.build_query_as::<Hit>().fetch_all(executor).await?)
}

/// Chunks ranked at most, per tier, by the keyword leg: a multiple of the candidates it returns.
const KEYWORD_RANKED_PER_CANDIDATE: i64 = 4;
/// Terms whose pairs make the "two different words" tier (a long query's first ones).
const MAX_PAIRED_TERMS: usize = 16;

/// The keyword leg's candidates, as CTEs `kw_q` (the bound tsqueries) and `kw_hits`.
///
/// Ranking every chunk that holds any query word (ts_rank_cd on thousands of rows for common
/// words) was the cost of hybrid search. A chunk scores above a single occurrence only if it holds
/// two different query words (the pairwise-AND tsquery) or repeats one (the
/// `keywords_repeated` index, migration 0004): that "strong" set is fetched first, at most
/// `4 × candidates` of it; chunks with a single occurrence are read only when the strong set has
/// fewer than `candidates`. Measured on the 100k-chunk benchmark: the same top 10 as ranking
/// every match, up to ties (docs/api.md#performance).
fn push_keyword_candidates(qb: &mut QueryBuilder<Postgres>, query: &Query<'_>) {
    let bound = query
        .candidates
        .saturating_mul(KEYWORD_RANKED_PER_CANDIDATE);
    qb.push("kw_q AS (SELECT to_tsquery('simple', ")
        .push_bind(tsquery(query.terms))
        .push(") AS tsq, to_tsquery('simple', nullif(")
        .push_bind(pairs_tsquery(query.terms))
        .push(
            ", '')) AS pairs),
         kw_strong AS (
             SELECT c.id, c.keywords FROM chunk c JOIN document d ON d.id = c.document_id, kw_q q
             WHERE (c.keywords @@ q.pairs OR keywords_repeated(c.keywords) @@ q.tsq) AND",
        );
    push_scope(qb, query);
    qb.push(" LIMIT ").push_bind(bound).push(
        "), kw_hits AS (
             SELECT id, keywords FROM kw_strong
             UNION
             (SELECT c.id, c.keywords FROM chunk c JOIN document d ON d.id = c.document_id, kw_q q
              WHERE (SELECT count(*) FROM kw_strong) < ",
    );
    qb.push_bind(query.candidates)
        .push(" AND c.keywords @@ q.tsq AND");
    push_scope(qb, query);
    qb.push(" LIMIT ").push_bind(bound).push("))");
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

/// Any two different terms match together: `('a' & 'b') | ('a' & 'c') | ('b' & 'c')`; empty for
/// fewer than two terms.
fn pairs_tsquery(terms: &[String]) -> String {
    let terms = &terms[..terms.len().min(MAX_PAIRED_TERMS)];
    let mut pairs = Vec::new();
    for (i, a) in terms.iter().enumerate() {
        for b in &terms[i + 1..] {
            pairs.push(format!("('{a}' & '{b}')"));
        }
    }
    pairs.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_cover_every_two_terms_once() {
        let terms: Vec<String> = ["a", "b", "c"].map(String::from).into();
        assert_eq!(
            pairs_tsquery(&terms),
            "('a' & 'b') | ('a' & 'c') | ('b' & 'c')"
        );
        assert_eq!(pairs_tsquery(&terms[..1]), "");
        let many: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        assert_eq!(pairs_tsquery(&many).matches('&').count(), 16 * 15 / 2);
    }
}
