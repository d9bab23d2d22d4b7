//! `/v1/collections`: create, list, show and delete a tenant's collections.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Body, auth::Caller, error::ErrorBody};
use crate::store::{
    api_keys::Role,
    collections::{self, Collection, NewCollection},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/collections", get(list).post(create))
        .route("/v1/collections/{name}", get(show).delete(remove))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    /// Tokens per chunk for documents of this collection.
    chunk_tokens: Option<usize>,
    chunk_overlap: Option<usize>,
}

/// Create a collection (admin). Its embedding model and size are the server's embedder's.
#[utoipa::path(post, path = "/v1/collections", operation_id = "create_collection", tag = "collections", request_body = CreateBody,
    responses((status = 201, body = Collection, description = "the collection, created"),
              (status = 400, body = ErrorBody, description = "an invalid name (1–63 of `a-z 0-9 - _`) or chunking options"),
              (status = 403, body = ErrorBody, description = "the key's role is below admin"),
              (status = 409, body = ErrorBody, description = "the tenant already has a collection of this name")))]
pub async fn create(
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

/// The caller's tenant's collections.
#[utoipa::path(get, path = "/v1/collections", operation_id = "list_collections", tag = "collections",
    responses((status = 200, description = "the tenant's collections: `{\"collections\": [Collection]}`"),
              (status = 401, body = ErrorBody, description = "a missing, malformed, unknown or revoked API key")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let collections = collections::list(&state.pool, &caller.tenant).await?;
    Ok(Json(json!({ "collections": collections })))
}

/// One collection.
#[utoipa::path(get, path = "/v1/collections/{name}", operation_id = "show_collection", tag = "collections",
    params(("name" = String, Path)),
    responses((status = 200, body = Collection, description = "the collection"),
              (status = 404, body = ErrorBody, description = "no such collection for this tenant")))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(
        collections::get(&state.pool, &caller.tenant, &name).await?,
    ))
}

/// Delete a collection with its documents, chunks and jobs (admin).
#[utoipa::path(delete, path = "/v1/collections/{name}", operation_id = "delete_collection", tag = "collections",
    params(("name" = String, Path)),
    responses((status = 204, description = "deleted, with its documents, chunks and jobs"),
              (status = 403, body = ErrorBody, description = "the key's role is below admin"),
              (status = 404, body = ErrorBody, description = "no such collection for this tenant")))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(crate::store::Error::from)?;
    collections::delete(&mut conn, &caller.tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
