//! `/v1/collections/{name}/documents`: upload (ingested at once), list, show and delete documents.

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Multipart, Path, Query, State},
    http::StatusCode,
    routing::get,
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiError, AppState, auth::Caller, error::ErrorBody};
use crate::{
    ingest::{
        pipeline::{IngestError, Outcome},
        source::SourceObject,
    },
    store::{
        self,
        api_keys::Role,
        collections,
        documents::{self, Document, DocumentStatus},
        jobs,
    },
};

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/collections/{name}/documents", get(list).post(upload))
        .route(
            "/v1/collections/{name}/documents/{id}",
            get(show).delete(remove),
        )
        // Room for the multipart framing around the largest accepted file.
        .layer(DefaultBodyLimit::max(
            max_upload_bytes.saturating_add(64 * 1024),
        ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<DocumentStatus>,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    20
}

/// A page of the collection's documents, newest first.
#[utoipa::path(get, path = "/v1/collections/{name}/documents", tag = "documents",
    params(("name" = String, Path), ListQuery),
    responses((status = 200, description = "`{\"documents\": [Document], \"limit\", \"offset\"}`"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|err| {
        ApiError::bad_request(
            "invalid_query",
            format!("{err}: use ?status=ready|pending|failed&limit=1..100&offset=0.."),
        )
    })?;
    if !(1..=100).contains(&query.limit) || query.offset < 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be 1..100 and offset 0 or more",
        ));
    }
    let collection = collections::get(&state.pool, &caller.tenant, &name).await?;
    let documents = documents::list(
        &state.pool,
        collection.id,
        query.status,
        query.limit,
        query.offset,
    )
    .await?;
    Ok(Json(
        json!({ "documents": documents, "limit": query.limit, "offset": query.offset }),
    ))
}

/// One document: status, error, version, chunk count, metadata.
#[utoipa::path(get, path = "/v1/collections/{name}/documents/{id}", tag = "documents",
    params(("name" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Document), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Document>, ApiError> {
    let collection = collections::get(&state.pool, &caller.tenant, &name).await?;
    let id = parse_id(&id)?;
    Ok(Json(documents::get(&state.pool, collection.id, id).await?))
}

/// Delete a document and its chunks (writer).
#[utoipa::path(delete, path = "/v1/collections/{name}/documents/{id}", tag = "documents",
    params(("name" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Writer)?;
    let collection = collections::get(&state.pool, &caller.tenant, &name).await?;
    let document = documents::get(&state.pool, collection.id, parse_id(&id)?).await?;
    let mut conn = state.pool.acquire().await.map_err(store::Error::from)?;
    documents::delete(&mut conn, collection.id, &document.source_uri, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Multipart: a `file` part (its file name names the document: `upload://<name>`; uploading the
/// same name again replaces it), and optionally `source_uri` to name it yourself.
#[utoipa::path(post, path = "/v1/collections/{name}/documents", tag = "documents",
    params(("name" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "parts: `file` (required), `source_uri`, `metadata` (JSON object), `acl` (JSON array)"),
    responses((status = 201, description = "`{\"job\": Job, \"document_id\", \"chunks\"}`"),
              (status = 200, description = "unchanged content"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Writer)?;
    let collection = collections::get(&state.pool, &caller.tenant, &name).await?;
    let mut multipart = multipart.map_err(|err| {
        ApiError::bad_request(
            "invalid_upload",
            format!("{err}: send multipart/form-data with a `file` part"),
        )
    })?;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut source_uri: Option<String> = None;
    let mut metadata = json!({});
    let mut acl: Vec<String> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|err| {
        ApiError::bad_request(
            "invalid_upload",
            format!("the upload is malformed ({err}): send multipart/form-data with a `file` part"),
        )
    })? {
        match field.name() {
            Some("file") => {
                let file_name = field
                    .file_name()
                    .map(str::to_owned)
                    .filter(|name| !name.trim().is_empty())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_upload",
                            "the `file` part has no usable file name: give it a UTF-8 file name",
                        )
                    })?;
                let bytes = field.bytes().await.map_err(|err| {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the upload could not be read ({err}); files over the size limit are refused"))
                })?;
                file = Some((file_name, bytes.to_vec()));
            }
            Some("source_uri") => {
                source_uri = Some(
                    field
                        .text()
                        .await
                        .map_err(|err| ApiError::bad_request("invalid_upload", err.to_string()))?,
                );
            }
            Some("metadata") => {
                let text = field
                    .text()
                    .await
                    .map_err(|err| ApiError::bad_request("invalid_upload", err.to_string()))?;
                metadata = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_metadata",
                            "the `metadata` part must be a JSON object, e.g. {\"team\": \"hr\"}",
                        )
                    })?;
            }
            Some("acl") => {
                let text = field
                    .text()
                    .await
                    .map_err(|err| ApiError::bad_request("invalid_upload", err.to_string()))?;
                acl = serde_json::from_str(&text).map_err(|_| {
                    ApiError::bad_request("invalid_acl", "the `acl` part must be a JSON array of principal names, e.g. [\"group:hr\"]")
                })?;
            }
            _ => {}
        }
    }
    let (file_name, bytes) = file.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_upload",
            "no `file` part: send the document as a multipart part named `file`",
        )
    })?;
    let object = SourceObject {
        uri: source_uri.unwrap_or_else(|| format!("upload://{file_name}")),
        file_name: Some(file_name),
        bytes,
        etag: None,
        modified: Utc::now(),
        metadata,
        acl,
    };
    let uri = object.uri.clone();
    match state.pipeline.ingest(&collection, object, "api").await {
        Ok(done) => {
            let job = jobs::get(&state.pool, done.job_id).await?;
            let status = if matches!(done.outcome, Outcome::Written { .. }) {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                status,
                Json(json!({ "job": job, "document_id": done.document_id, "chunks": done.chunks })),
            ))
        }
        Err(IngestError::Store(err)) => Err(err.into()),
        Err(err @ IngestError::EmbedderMismatch { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "embedder_mismatch",
            err.to_string(),
        )),
        // The provider or the object store is down: not the document's fault, nothing stored.
        Err(err) if !err.is_document_fault() => Err(ApiError::unavailable(format!(
            "{err}; nothing was stored: retry the upload later"
        ))),
        Err(err) => {
            let document = documents::find_by_source(&state.pool, collection.id, &uri).await?;
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ingest_failed",
                format!(
                    "{err}{}",
                    document
                        .map(|d| format!(" (document {})", d.id))
                        .unwrap_or_default()
                ),
            ))
        }
    }
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("'{id}' is not a document id: ids are UUIDs, as listed by GET …/documents"),
        )
    })
}
