//! `GET /openapi.json`: the OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

use super::{admin, chat, collections, documents, error, health, metrics, openai, search};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "adbrag",
        description = "Retrieval over your documents, with citations. Every /v1 route needs `Authorization: Bearer <API key>` (see docs/api.md)."
    ),
    paths(
        collections::create,
        collections::list,
        collections::show,
        collections::remove,
        documents::upload,
        documents::list,
        documents::show,
        documents::remove,
        search::search,
        chat::chat,
        openai::completions,
        openai::models,
        health::healthz,
        health::readyz,
        metrics::render,
        admin::purge,
    ),
    components(schemas(error::ErrorBody, crate::store::jobs::Job, crate::answer::PassageRef))
)]
pub struct ApiDoc;

/// The document, as JSON.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
