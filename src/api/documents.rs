//! `/v1/collections/{name}/documents`: upload (ingested at once), list, show and delete documents.

use axum::{
    Json, Router,
    extract::{
        DefaultBodyLimit, Multipart, Path, Query, State,
        multipart::{MultipartError, MultipartRejection},
    },
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
#[into_params(parameter_in = Query)]
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
#[utoipa::path(get, path = "/v1/collections/{name}/documents", operation_id = "list_documents", tag = "documents",
    params(("name" = String, Path), ListQuery),
    responses((status = 200, description = "a page of documents, newest first: `{\"documents\": [Document], \"limit\", \"offset\"}`"),
              (status = 400, body = ErrorBody, description = "an unknown status, or limit outside 1..100 or a negative offset"),
              (status = 404, body = ErrorBody, description = "no such collection for this tenant")))]
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
#[utoipa::path(get, path = "/v1/collections/{name}/documents/{id}", operation_id = "show_document", tag = "documents",
    params(("name" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Document, description = "the document"),
              (status = 400, body = ErrorBody, description = "the id is not a UUID"),
              (status = 404, body = ErrorBody, description = "no such collection or document for this tenant")))]
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
#[utoipa::path(delete, path = "/v1/collections/{name}/documents/{id}", operation_id = "delete_document", tag = "documents",
    params(("name" = String, Path), ("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "deleted, with its chunks, vectors and keyword postings"),
              (status = 400, body = ErrorBody, description = "the id is not a UUID"),
              (status = 403, body = ErrorBody, description = "the key's role is below writer"),
              (status = 404, body = ErrorBody, description = "no such collection or document for this tenant")))]
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
#[utoipa::path(post, path = "/v1/collections/{name}/documents", operation_id = "upload_document", tag = "documents",
    params(("name" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "parts: `file` (required), `source_uri`, `metadata` (JSON object), `acl` (JSON array)"),
    responses((status = 201, description = "ingested: `{\"job\": Job, \"document_id\", \"chunks\"}`"),
              (status = 200, description = "the stored version already has this content: `{\"job\": Job, \"document_id\", \"chunks\": 0}`"),
              (status = 400, body = ErrorBody, description = "not multipart/form-data, no `file` part, or a malformed `metadata` or `acl` part"),
              (status = 403, body = ErrorBody, description = "the key's role is below writer"),
              (status = 404, body = ErrorBody, description = "no such collection for this tenant"),
              (status = 409, body = ErrorBody, description = "the collection was built with another embedding model than the server's"),
              (status = 413, body = ErrorBody, description = "the file is larger than the server's limit (`ADBRAG_MAX_OBJECT_BYTES`)"),
              (status = 422, body = ErrorBody, description = "the document itself cannot be ingested (unreadable, empty, too many chunks); the failure is recorded"),
              (status = 503, body = ErrorBody, description = "the embedding API or the database is down: nothing was stored, retry")))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
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
    let limit = state.max_upload_bytes;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|err| unreadable(&err, limit))?
    {
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
                let bytes = field.bytes().await.map_err(|err| unreadable(&err, limit))?;
                // Within the multipart framing's allowance the body limit lets a file just over
                // the limit through: it is refused the same way.
                if bytes.len() > limit {
                    return Err(too_large(limit));
                }
                file = Some((file_name, bytes.to_vec()));
            }
            Some("source_uri") => {
                source_uri = Some(field.text().await.map_err(|err| unreadable(&err, limit))?);
            }
            Some("metadata") => {
                let text = field.text().await.map_err(|err| unreadable(&err, limit))?;
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
                let text = field.text().await.map_err(|err| unreadable(&err, limit))?;
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

/// A multipart body that could not be read: over the size limit, or malformed.
fn unreadable(err: &MultipartError, limit: usize) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(limit);
    }
    ApiError::bad_request(
        "invalid_upload",
        format!("the upload is malformed ({err}): send multipart/form-data with a `file` part"),
    )
}

/// 413, naming the limit and the setting that raises it.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "the upload is larger than the {} limit: split the document, or have the operator raise ADBRAG_MAX_OBJECT_BYTES (--max-object-bytes)",
            human_size(limit)
        ),
    )
}

/// A size as people write it: `100 MiB`, `512 KiB`, or bytes when neither is whole.
fn human_size(size: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match size {
        0 => "0 bytes".to_owned(),
        size if size % MIB == 0 => format!("{} MiB", size / MIB),
        size if size % KIB == 0 => format!("{} KiB", size / KIB),
        size => format!("{size} bytes"),
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
