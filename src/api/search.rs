//! `POST /v1/collections/{name}/search`: hybrid retrieval over one collection.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::post,
};
use serde::Deserialize;

use super::{ApiError, AppState, Body, auth::Caller, error::ErrorBody};
use crate::{
    search::{
        filter::Filter,
        retrieve::{self, Request, Results},
    },
    store::{collections, search::Mode},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/collections/{name}/search", post(search))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    query: String,
    #[serde(default = "default_top_k")]
    top_k: usize,
    #[serde(default)]
    mode: Mode,
    #[schema(value_type = Option<Object>)]
    filter: Option<serde_json::Value>,
    principals: Option<Vec<String>>,
}

fn default_top_k() -> usize {
    10
}

/// Hybrid retrieval over one collection (docs/api.md has the filter grammar).
#[utoipa::path(post, path = "/v1/collections/{name}/search", tag = "search",
    params(("name" = String, Path)), request_body = SearchBody,
    responses((status = 200, body = Results, description = "the hits, best first, with how each leg ranked them"),
              (status = 400, body = ErrorBody, description = "an invalid query, filter or body"),
              (status = 404, body = ErrorBody, description = "no such collection for this tenant"),
              (status = 409, body = ErrorBody, description = "the collection was built with another embedding model than the server's"),
              (status = 503, body = ErrorBody, description = "the embedding API or the database is unavailable: retry later")))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body<SearchBody>,
) -> Result<Json<Results>, ApiError> {
    let collection = collections::get(&state.pool, &caller.tenant, &name).await?;
    let filter = body
        .filter
        .as_ref()
        .map(Filter::parse)
        .transpose()
        .map_err(|err| ApiError::bad_request("invalid_filter", err.to_string()))?;
    let request = Request {
        query: body.query,
        top_k: body.top_k,
        mode: body.mode,
        filter,
        principals: body.principals,
    };
    let results = retrieve::search(
        &state.pool,
        state.embedder.as_ref(),
        state.reranker.as_deref(),
        &collection,
        &request,
        &state.search,
    )
    .await?;
    state.metrics.observe_search(&results.timings);
    Ok(Json(results))
}
