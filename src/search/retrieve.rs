//! Retrieval, transport-free: one function that the REST API, `adbrag search` and `adbrag eval`
//! all call. It validates the request, embeds the query, segments it into keyword terms, and runs
//! the hybrid SQL (`store::search`) in one round trip.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{filter::Filter, segment};
use crate::{
    config::SearchSettings,
    llm::{EmbedError, Embedder},
    store::{
        self,
        collections::Collection,
        dialect::Dimensions,
        search::{self as sql, Hit, Mode},
    },
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
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timings {
    pub embed_ms: f64,
    pub retrieve_ms: f64,
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

/// Searches one collection.
pub async fn search(
    pool: &PgPool,
    embedder: &dyn Embedder,
    collection: &Collection,
    request: &Request,
    settings: &SearchSettings,
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

    let started = Instant::now();
    let embedding = if request.mode == Mode::Keyword {
        None
    } else {
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
        vectors.pop()
    };
    let embed_ms = started.elapsed().as_secs_f64() * 1000.0;

    let terms = segment::terms(query);
    let started = Instant::now();
    let hits = sql::hybrid(
        pool,
        &sql::Query {
            collection_id: collection.id,
            dimensions,
            embedding: embedding.as_deref(),
            terms: &terms,
            mode: request.mode,
            top_k: request.top_k as i64,
            candidates: settings.candidates.max(request.top_k) as i64,
            rrf_k: settings.rrf_k,
            vector_weight: settings.vector_weight,
            keyword_weight: settings.keyword_weight,
            filter: request.filter.as_ref(),
            principals: request.principals.as_deref(),
        },
    )
    .await?;
    let retrieve_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Results {
        hits,
        mode: request.mode,
        embedder: if embedder.is_local() {
            format!("{} (local)", embedder.model())
        } else {
            embedder.model().to_owned()
        },
        timings: Timings {
            embed_ms,
            retrieve_ms,
        },
    })
}
