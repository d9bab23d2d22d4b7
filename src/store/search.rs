//! Hybrid retrieval in one statement: a vector top-k and a BM25 keyword top-k over one collection's
//! ready documents, fused by weighted reciprocal rank (score = Σ wᵢ / (k + rankᵢ)) or by a weighted
//! sum of min-max normalised scores ([`FusionMethod`]).
//!
//! Everything a caller supplies is bound; the only rendered text is the embedding size (from a
//! checked [`Dimensions`]) and the filter's own SQL, which binds its values too.

use serde::Serialize;
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::filter::Filter;
use super::{
    Result,
    dialect::{self, Dialect, Dimensions},
};

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

impl Mode {
    /// The name requests and reports use (`hybrid`, `vector`, `keyword`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Vector => "vector",
            Mode::Keyword => "keyword",
        }
    }
}

/// How the two legs' rankings become one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    /// Weighted reciprocal rank fusion: Σ wᵢ / (k + rankᵢ). Only ranks count.
    #[default]
    Rrf,
    /// Weighted sum of each leg's min-max normalised score over its own candidates (cosine
    /// similarity, BM25): a strong lead in one leg counts as such.
    Score,
}

/// Fusion settings for one query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Fusion {
    pub method: FusionMethod,
    pub rrf_k: f64,
    pub vector_weight: f64,
    pub keyword_weight: f64,
}

/// Okapi BM25's parameters: `k1` saturates a term's count, `b` normalises by chunk length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    pub k1: f64,
    pub b: f64,
}

/// One retrieval, fully specified.
pub struct Query<'a> {
    /// The schema's dialect: the vector leg's table and operator differ (dialect.rs).
    pub dialect: Dialect,
    pub collection_id: Uuid,
    pub dimensions: Dimensions,
    /// The query's embedding (needed unless `mode` is keyword).
    pub embedding: Option<&'a [f32]>,
    /// Keyword terms from `text::segment::terms` (needed unless `mode` is vector).
    pub terms: &'a [String],
    pub mode: Mode,
    pub top_k: i64,
    /// How many candidates each leg contributes before fusion.
    pub candidates: i64,
    pub fusion: Fusion,
    pub bm25: Bm25,
    /// Postings read per query term, best impact first; 0 reads them all (exhaustive BM25).
    pub postings_per_term: i64,
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
    /// The chunk's BM25 score for the query, if the keyword leg found it.
    pub keyword_score: Option<f64>,
    pub score: f64,
    /// Its text was read by OCR from a scanned page (one of its pages is in the document's
    /// `metadata.ocr.pages`): quote it with care, and check it against the page.
    pub ocr: bool,
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
    let mut qb = hybrid_statement(query);
    Ok(qb.build_query_as::<Hit>().fetch_all(executor).await?)
}

/// The retrieval's one statement, with its parameters bound (`.sql()` shows the text: the
/// golden tests pin it per dialect).
pub fn hybrid_statement(query: &Query<'_>) -> QueryBuilder<Postgres> {
    let vector = query.mode != Mode::Keyword && query.embedding.is_some();
    let keyword = query.mode != Mode::Vector && !query.terms.is_empty();
    let vectors = dialect::vector_table(query.dimensions);
    let query_vector = query.dialect.query_vector("q.p", query.dimensions);

    let mut qb = QueryBuilder::<Postgres>::new("WITH ");
    if keyword {
        push_bm25(&mut qb, query);
        qb.push(", ");
    }
    qb.push("vector_leg AS (");
    if vector {
        // `ORDER BY embedding <=> vector LIMIT k` on the size's own table is what its ANN index
        // serves, in both dialects; the join to chunk stays on each segment on AnalyticDB (both
        // are distributed by chunk id).
        // The nearest first, then ranked outside: AnalyticDB serves an ANN query whose ORDER BY is
        // the one distance term, ascending, with a LIMIT and no window function beside it.
        qb.push(format!(
            "SELECT id, row_number() OVER (ORDER BY distance, id) AS rank, 1 - distance AS similarity
             FROM (SELECT v.chunk_id AS id, v.embedding <=> q.v AS distance
             FROM {vectors} v JOIN chunk c ON c.id = v.chunk_id
                  JOIN document d ON d.id = c.document_id,
                  (SELECT {query_vector} AS v FROM (SELECT "
        ))
        .push_bind(query.embedding.unwrap_or_default())
        .push("::real[] AS p) q) q WHERE v.collection_id = ")
        .push_bind(query.collection_id)
        .push(" AND");
        push_scope(&mut qb, query);
        qb.push(" ORDER BY v.embedding <=> q.v LIMIT ")
            .push_bind(query.candidates)
            .push(") nearest");
    } else {
        qb.push(
            "SELECT NULL::uuid AS id, NULL::bigint AS rank, NULL::float8 AS similarity WHERE false",
        );
    }
    qb.push("), keyword_leg AS (");
    if keyword {
        // Ranked first, then scoped: the best 2 × candidates scores are checked against the
        // scope, best first, until `candidates` pass; every scored chunk is checked only when
        // fewer pass (a narrow filter). Either way the result is the scoped top `candidates`, ties
        // broken by id.
        qb.push(
            "SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank, score FROM (
                 SELECT chunk_id AS id, score FROM kw_top_scoped
                 UNION
                 SELECT k.chunk_id, k.score
                 FROM kw_scored k JOIN chunk c ON c.id = k.chunk_id
                      JOIN document d ON d.id = c.document_id
                 WHERE (SELECT count(*) FROM kw_top_scoped) < ",
        )
        .push_bind(query.candidates)
        .push(" AND");
        push_scope(&mut qb, query);
        qb.push(" ORDER BY score DESC, id LIMIT ")
            .push_bind(query.candidates)
            .push(") top");
    } else {
        qb.push("SELECT NULL::uuid AS id, NULL::bigint AS rank, NULL::float8 AS score WHERE false");
    }
    qb.push(
        "), vector_range AS (SELECT min(similarity) AS lo, max(similarity) AS hi FROM vector_leg),
            keyword_range AS (SELECT min(score) AS lo, max(score) AS hi FROM keyword_leg),
         fused AS (
             SELECT coalesce(v.id, k.id) AS id, v.rank AS vector_rank, k.rank AS keyword_rank,
                    v.similarity, k.score AS keyword_score, ",
    );
    push_fusion(&mut qb, &query.fusion);
    // The best `top_k` are chosen before chunk and document are read for them (text, OCR pages):
    // both legs return only chunks they joined to their document in scope, so the join drops
    // none. Ties end with the chunk id, so one query always ranks the same.
    qb.push(
        " AS score
             FROM vector_leg v FULL OUTER JOIN keyword_leg k ON v.id = k.id,
                  vector_range vr, keyword_range kr),
         best AS (
             SELECT * FROM fused
             ORDER BY score DESC, vector_rank NULLS LAST, keyword_rank NULLS LAST, id
             LIMIT ",
    )
    .push_bind(query.top_k)
    .push(
        ")
         SELECT c.id AS chunk_id, c.document_id, d.source_uri, d.title, d.version, c.ordinal,
                c.page_from, c.page_to, c.heading_path, c.text, f.vector_rank, f.keyword_rank,
                f.similarity, f.keyword_score, f.score,
                EXISTS (SELECT 1 FROM jsonb_array_elements_text(d.metadata #> '{ocr,pages}') p
                        WHERE p.value::int BETWEEN c.page_from AND c.page_to) AS ocr
         FROM best f JOIN chunk c ON c.id = f.id JOIN document d ON d.id = c.document_id
         ORDER BY f.score DESC, f.vector_rank NULLS LAST, f.keyword_rank NULLS LAST, f.id",
    );
    qb
}

/// The fused score of a row of `vector_leg v FULL OUTER JOIN keyword_leg k`, with each leg's
/// score range in `vr` and `kr`.
fn push_fusion(qb: &mut QueryBuilder<Postgres>, fusion: &Fusion) {
    match fusion.method {
        FusionMethod::Rrf => {
            qb.push("coalesce(")
                .push_bind(fusion.vector_weight)
                .push("::float8 / (")
                .push_bind(fusion.rrf_k)
                .push("::float8 + v.rank), 0) + coalesce(")
                .push_bind(fusion.keyword_weight)
                .push("::float8 / (")
                .push_bind(fusion.rrf_k)
                .push("::float8 + k.rank), 0)");
        }
        FusionMethod::Score => {
            // A leg whose candidates all score the same gives each of them 1.
            qb.push("CASE WHEN v.id IS NULL THEN 0 ELSE ")
                .push_bind(fusion.vector_weight)
                .push(
                    "::float8 * CASE WHEN vr.hi > vr.lo
                         THEN (v.similarity - vr.lo) / (vr.hi - vr.lo) ELSE 1 END END
                     + CASE WHEN k.id IS NULL THEN 0 ELSE ",
                )
                .push_bind(fusion.keyword_weight)
                .push(
                    "::float8 * CASE WHEN kr.hi > kr.lo
                         THEN (k.score - kr.lo) / (kr.hi - kr.lo) ELSE 1 END END",
                );
        }
    }
}

/// Query terms scored at most: the rarest (highest IDF) of a longer query. A question has a dozen.
pub const MAX_SCORED_TERMS: i64 = 64;

/// The keyword leg's BM25 scores, as CTEs `kw_stats`, `kw_terms`, `kw_postings` and `kw_scored`:
/// Okapi BM25 with IDF = ln(1 + (N − df + 0.5) / (df + 0.5)) and the collection's mean chunk
/// length, from the statistics kept with every write (store::keywords). Candidates are every
/// chunk holding a query term (`postings_per_term` 0), or each term's `postings_per_term` best
/// postings by stored impact; either way each candidate's score is exact.
fn push_bm25(qb: &mut QueryBuilder<Postgres>, query: &Query<'_>) {
    qb.push(
        "kw_stats AS (
             SELECT chunks::float8 AS n, terms::float8 / greatest(chunks, 1) AS mean_length
             FROM keyword_stats WHERE collection_id = ",
    )
    .push_bind(query.collection_id)
    .push(
        "), kw_terms AS (
             SELECT t.term, t.chunks AS df, ln(1 + (s.n - t.chunks + 0.5) / (t.chunks + 0.5)) AS idf
             FROM keyword_term t, kw_stats s
             WHERE t.collection_id = ",
    )
    .push_bind(query.collection_id)
    .push(" AND t.term = ANY(")
    .push_bind(query.terms)
    .push("::text[]) ORDER BY idf DESC, t.term LIMIT ")
    .push_bind(MAX_SCORED_TERMS)
    .push("), ");
    if query.postings_per_term > 0 {
        // A rare term (held by at most `postings_per_term` chunks) is read whole; a common one
        // contributes its best postings by impact, with their counts (the impact index carries
        // them). Every candidate is then scored exactly: a rare term's postings are all at hand,
        // a common term's best are read with its list, and each (candidate, common term) pair
        // not read so is probed, one primary-key lookup each — OFFSET 0 keeps the planner from
        // turning those probes into a scan of every posting of the common term. A chunk the bound
        // leaves out holds only common terms, none of them among its best.
        let m = query.postings_per_term;
        qb.push(
            "kw_rare AS (
                 SELECT p.chunk_id, p.term, p.tf, p.chunk_terms
                 FROM kw_terms q JOIN keyword_posting p ON p.term = q.term
                 WHERE q.df <= ",
        )
        .push_bind(m)
        .push(" AND p.collection_id = ")
        .push_bind(query.collection_id)
        .push(
            "), kw_listed AS (
                 SELECT b.chunk_id, q.term, b.tf, b.chunk_terms FROM kw_terms q CROSS JOIN LATERAL (
                     SELECT p.chunk_id, p.tf, p.chunk_terms FROM keyword_posting p
                     WHERE p.collection_id = ",
        )
        .push_bind(query.collection_id)
        .push(" AND p.term = q.term ORDER BY p.impact DESC LIMIT ")
        .push_bind(m)
        .push(") b WHERE q.df > ")
        .push_bind(m)
        .push(
            "), kw_unread AS (
                 SELECT k.chunk_id, q.term
                 FROM (SELECT chunk_id FROM kw_rare UNION SELECT chunk_id FROM kw_listed) k
                      CROSS JOIN kw_terms q WHERE q.df > ",
        )
        .push_bind(m)
        .push(
            " EXCEPT SELECT chunk_id, term FROM kw_listed
             ), kw_postings AS (
                 SELECT chunk_id, term, tf, chunk_terms FROM kw_rare
                 UNION ALL
                 SELECT chunk_id, term, tf, chunk_terms FROM kw_listed
                 UNION ALL
                 SELECT u.chunk_id, u.term, p.tf, p.chunk_terms FROM kw_unread u CROSS JOIN LATERAL (
                     SELECT p.tf, p.chunk_terms FROM keyword_posting p
                     WHERE p.collection_id = ",
        )
        .push_bind(query.collection_id)
        .push(" AND p.term = u.term AND p.chunk_id = u.chunk_id OFFSET 0) p), ");
    } else {
        qb.push(
            "kw_postings AS (
                 SELECT p.chunk_id, p.term, p.tf, p.chunk_terms
                 FROM kw_terms q JOIN keyword_posting p ON p.term = q.term
                 WHERE p.collection_id = ",
        )
        .push_bind(query.collection_id)
        .push("), ");
    }
    qb.push(
        "kw_scored AS (
             SELECT p.chunk_id, sum(q.idf * p.tf * (",
    )
    .push_bind(query.bm25.k1)
    .push("::float8 + 1) / (p.tf + ")
    .push_bind(query.bm25.k1)
    .push("::float8 * (1 - ")
    .push_bind(query.bm25.b)
    .push("::float8 + ")
    .push_bind(query.bm25.b)
    .push(
        "::float8 * p.chunk_terms / s.mean_length))) AS score
             FROM kw_postings p JOIN kw_terms q ON q.term = p.term, kw_stats s
             GROUP BY p.chunk_id),
         kw_top AS (SELECT chunk_id, score FROM kw_scored ORDER BY score DESC, chunk_id LIMIT ",
    )
    .push_bind(query.candidates.saturating_mul(2))
    .push(
        "), kw_top_scoped AS (
             SELECT k.chunk_id, k.score FROM kw_top k JOIN chunk c ON c.id = k.chunk_id
                  JOIN document d ON d.id = c.document_id
             WHERE",
    );
    push_scope(qb, query);
    // `kw_top` comes out in score order, so the joins stop once `candidates` rows pass the scope:
    // any prefix of the ranking that long holds the scoped top `candidates`.
    qb.push(" ORDER BY k.score DESC, k.chunk_id LIMIT ")
        .push_bind(query.candidates)
        .push(")");
}
