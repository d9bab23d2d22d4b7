//! Retrieval, transport-free: one function that the REST API, `adbrag search` and `adbrag eval`
//! all call. It validates the request, embeds the query, segments it into keyword terms, and runs
//! the hybrid SQL (`store::search`) in one round trip.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{
    filter::Filter,
    rerank::{self, RerankReport},
};
use crate::{
    llm::{EmbedError, Embedder, rerank::Reranker},
    store::{
        self,
        collections::Collection,
        dialect::{Dialect, Dimensions},
        search::{self as sql, Bm25, Fusion, Hit, Mode},
    },
    text::segment,
};

/// Longest query accepted, in bytes: a question, not a document.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most hits one request may ask for.
pub const MAX_TOP_K: usize = 100;

/// A search as a client asks for it.
#[derive(Debug, Clone)]
pub struct Request {
    pub query: String,
    pub top_k: usize,
    pub mode: Mode,
    pub filter: Option<Filter>,
    /// The end user's principals (user id, groups): documents with an ACL must name one of them.
    pub principals: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Results {
    pub hits: Vec<Hit>,
    pub mode: Mode,
    /// Which model embedded the query (`all-MiniLM-L6-v2 (local)` for the embedded default).
    pub embedder: String,
    /// The query's keyword terms, as the keyword leg searched them (stemmed, stop words out).
    pub keyword_terms: Vec<String>,
    /// How the legs were fused for this query (weights after any language adjustment).
    pub fusion: Fusion,
    /// What a client should know about how this query was answered: a leg left out or empty,
    /// and why. Empty when both legs ran as configured.
    pub notes: Vec<String>,
    /// What the reranker did, when one is configured (docs/rerank.md).
    pub rerank: Option<RerankReport>,
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timings {
    pub embed_ms: f64,
    pub retrieve_ms: f64,
    /// Time spent reranking (0 when no reranker is configured).
    #[serde(default)]
    pub rerank_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is empty: send the question to search for in `query`")]
    EmptyQuery,
    #[error(
        "the query is {0} bytes, more than the limit of {MAX_QUERY_BYTES}: send a question, not a document"
    )]
    QueryTooLong(usize),
    #[error("top_k must be between 1 and {MAX_TOP_K}, got {0}")]
    TopK(usize),
    #[error(
        "collection '{collection}' holds {collection_model} vectors but the server embeds queries with {model}: search it with a server configured for {collection_model}"
    )]
    EmbedderMismatch {
        collection: String,
        collection_model: String,
        model: String,
    },
    #[error("cannot embed the query: {0}")]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// How retrieval ranks, validated once at start-up (`config::SearchSettings::options`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchOptions {
    /// Candidates each leg (vector, keyword) contributes before fusion.
    pub candidates: usize,
    /// How the legs are fused, and their weights.
    pub fusion: Fusion,
    pub bm25: Bm25,
    /// The vector leg's weight for a query the embedder cannot read (a Chinese query with an
    /// English-only model); 0 leaves the vector leg out for it.
    pub unreadable_vector_weight: f64,
    /// Postings the keyword leg reads per query term, best impact first; 0 reads them all.
    pub postings_per_term: usize,
    /// Hits the reranker reorders, when one is configured.
    pub rerank_top_n: usize,
    /// The schema's dialect, from the start-up probe (`store::schema::probe`).
    pub dialect: Dialect,
}

/// Searches one collection; with a reranker, its first hits are reordered by it.
pub async fn search(
    pool: &PgPool,
    embedder: &dyn Embedder,
    reranker: Option<&dyn Reranker>,
    collection: &Collection,
    request: &Request,
    settings: &SearchOptions,
) -> Result<Results, SearchError> {
    let query = request.query.trim();
    if query.is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(SearchError::QueryTooLong(query.len()));
    }
    if !(1..=MAX_TOP_K).contains(&request.top_k) {
        return Err(SearchError::TopK(request.top_k));
    }
    let dimensions = Dimensions::new(i64::from(collection.dimensions))?;

    let terms = segment::terms(query);
    let mut notes = Vec::new();
    let mut fusion = settings.fusion;
    let mut mode = request.mode;
    if mode != Mode::Vector && terms.is_empty() {
        notes.push(
            "the query has no keyword terms (only stop words, punctuation or over-long words): \
             the keyword leg is empty"
                .to_owned(),
        );
    }
    // A query the embedder cannot read gets a vector that is noise: lean on the keyword leg.
    if mode == Mode::Hybrid
        && !terms.is_empty()
        && !embedder.reads_chinese()
        && segment::han_share(query) >= 0.5
    {
        fusion.vector_weight = settings.unreadable_vector_weight;
        notes.push(format!(
            "{} does not read Chinese: {}",
            embedder.model(),
            if fusion.vector_weight == 0.0 {
                "the vector leg is left out, results are the keyword leg's".to_owned()
            } else {
                format!("the vector leg's weight is {}", fusion.vector_weight)
            }
        ));
        if fusion.vector_weight == 0.0 {
            mode = Mode::Keyword;
        }
    }

    let bm25 = settings.bm25;
    // The reranker may lift a hit from below top_k: it is sent top_n, then the list is cut.
    let fetched = match reranker {
        Some(_) => request.top_k.max(settings.rerank_top_n),
        None => request.top_k,
    };
    let candidates = settings.candidates.max(fetched) as i64;
    // Every field is Copy: `..base` below copies them, so `base` serves both runs.
    let base = sql::Query {
        dialect: settings.dialect,
        collection_id: collection.id,
        dimensions,
        embedding: None,
        terms: &terms,
        mode,
        top_k: fetched as i64,
        candidates,
        fusion,
        bm25,
        postings_per_term: settings.postings_per_term as i64,
        filter: request.filter.as_ref(),
        principals: request.principals.as_deref(),
    };

    let started = Instant::now();
    let mut embedding = if mode == Mode::Keyword {
        None
    } else {
        Some(embed(embedder, collection, dimensions, query).await?)
    };
    let mut embed_ms = started.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let mut hits = sql::hybrid(
        pool,
        &sql::Query {
            embedding: embedding.as_deref(),
            ..base
        },
    )
    .await?;
    if mode != Mode::Vector && !terms.is_empty() && !hits.iter().any(|h| h.keyword_rank.is_some()) {
        let mut note =
            "no chunk in this collection holds any of the query's keyword terms".to_owned();
        if mode != request.mode {
            // The language rule left the vector leg out, and the keyword leg found nothing: a
            // weak vector leg is better than no result.
            let embedded = Instant::now();
            embedding = Some(embed(embedder, collection, dimensions, query).await?);
            embed_ms += embedded.elapsed().as_secs_f64() * 1000.0;
            mode = request.mode;
            fusion.vector_weight = settings.fusion.vector_weight;
            note.push_str(", so the vector leg ran after all");
            hits = sql::hybrid(
                pool,
                &sql::Query {
                    embedding: embedding.as_deref(),
                    mode,
                    fusion,
                    ..base
                },
            )
            .await?;
        }
        notes.push(note);
    }
    let retrieve_ms = started.elapsed().as_secs_f64() * 1000.0;
    let rerank = match reranker {
        Some(reranker) => {
            let (reranked, report) =
                rerank::apply(reranker, query, hits, settings.rerank_top_n).await;
            hits = reranked;
            if let Some(error) = &report.error {
                notes.push(format!(
                    "the hits are in hybrid order: reranking failed ({error})"
                ));
            }
            Some(report)
        }
        None => None,
    };
    hits.truncate(request.top_k);
    let rerank_ms = rerank.as_ref().map_or(0.0, |report| report.ms);
    Ok(Results {
        hits,
        mode: request.mode,
        keyword_terms: terms.clone(),
        fusion,
        notes,
        rerank,
        embedder: if embedder.is_local() {
            format!("{} (local)", embedder.model())
        } else {
            embedder.model().to_owned()
        },
        timings: Timings {
            embed_ms,
            retrieve_ms,
            rerank_ms,
        },
    })
}

/// The query's vector, after checking that this embedder is the collection's.
async fn embed(
    embedder: &dyn Embedder,
    collection: &Collection,
    dimensions: Dimensions,
    query: &str,
) -> Result<Vec<f32>, SearchError> {
    if collection.embedding_model != embedder.model()
        || usize::from(dimensions.get()) != embedder.dimensions()
    {
        return Err(SearchError::EmbedderMismatch {
            collection: collection.name.clone(),
            collection_model: collection.embedding_model.clone(),
            model: embedder.model().to_owned(),
        });
    }
    let mut vectors = embedder.embed(&[query.to_owned()]).await?;
    vectors.pop().ok_or_else(|| {
        SearchError::Embed(EmbedError::Malformed(
            "no vector came back for the query".to_owned(),
        ))
    })
}
