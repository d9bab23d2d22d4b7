//! `/v1/collections`: create, list, show and delete a tenant's collections.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Body, auth::Caller};
use crate::store::{
    api_keys::Role,
    collections::{self, Collection, NewCollection},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/collections", get(list).post(create))
        .route("/v1/collections/{name}", get(show).delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    /// Tokens per chunk for documents of this collection.
    chunk_tokens: Option<usize>,
    chunk_overlap: Option<usize>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Collection>), ApiError> {
    caller.require(Role::Admin)?;
    let mut settings = json!({});
    if let Some(tokens) = body.chunk_tokens {
        settings["chunk_tokens"] = json!(tokens);
    }
    if let Some(overlap) = body.chunk_overlap {
        settings["chunk_overlap"] = json!(overlap);
    }
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(crate::store::Error::from)?;
    let collection = collections::create(
        &mut conn,
        &NewCollection {
            tenant: caller.tenant,
            name: body.name,
            embedding_model: state.embedder.model().to_owned(),
            dimensions: state.embedder.dimensions() as i64,
            keyword_language: "auto".into(),
            settings,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(collection)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let collections = collections::list(&state.pool, &caller.tenant).await?;
    Ok(Json(json!({ "collections": collections })))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(
        collections::get(&state.pool, &caller.tenant, &name).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    collections::delete(&state.pool, &caller.tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
