//! `POST /v1/admin/purge`: the purge of docs/purge.md for admin keys, with the CLI's selectors.

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, AppState, Body, auth::Caller};
use crate::{
    admin::{self, PurgeError, PurgeOutcome, PurgeRequest},
    search::filter::Filter,
    store::api_keys::Role,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/admin/purge", post(purge))
}

/// What to purge in the caller's tenant; every given selector narrows.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// One collection (required with `where`).
    collection: Option<String>,
    #[serde(default)]
    documents: Vec<Uuid>,
    /// Source URIs; tombstoned even if no document holds them yet.
    #[serde(default)]
    sources: Vec<String>,
    /// A metadata filter, as in search.
    #[serde(rename = "where")]
    #[schema(value_type = Option<Object>)]
    filter: Option<serde_json::Value>,
    /// Allow a selection that matches every document of the tenant or collection.
    #[serde(default)]
    all_matching: bool,
    /// List what would go, change nothing.
    #[serde(default)]
    dry_run: bool,
    /// For the audit record (a ticket reference, never personal data).
    reason: Option<String>,
}

/// Purge documents and everything derived from them (admin). The answer is the dry run's plan or
/// the receipt with its verification. `VACUUM FULL` is not offered here: it locks tables for
/// the duration; run `adbrag purge --vacuum` in a maintenance window.
#[utoipa::path(post, path = "/v1/admin/purge", tag = "admin",
    request_body = PurgeBody,
    responses((status = 200, description = "`{\"result\": \"dry_run\"|\"nothing_matched\"|\"purged\", …}`"),
              (status = 400, body = super::error::ErrorBody, description = "a malformed filter, or a filter without a collection"),
              (status = 403, body = super::error::ErrorBody, description = "not an admin key"),
              (status = 409, body = super::error::ErrorBody, description = "the selection matches every document; set all_matching"),
              (status = 503, body = super::error::ErrorBody, description = "the database failed mid-purge: rolled back, retry")))]
pub async fn purge(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<PurgeBody>,
) -> Result<Json<PurgeOutcome>, ApiError> {
    caller.require(Role::Admin)?;
    let filter = body
        .filter
        .as_ref()
        .map(Filter::parse)
        .transpose()
        .map_err(|err| ApiError::bad_request("invalid_filter", err.to_string()))?;
    let request = PurgeRequest {
        tenant: caller.tenant.clone(),
        collection: body.collection,
        documents: body.documents,
        sources: body.sources,
        filter,
        all_matching: body.all_matching,
        dry_run: body.dry_run,
        vacuum: false,
        actor: caller.actor.clone(),
        reason: body.reason,
    };
    match admin::purge(&state.pool, &request).await {
        Ok(outcome) => Ok(Json(outcome)),
        Err(err @ PurgeError::FilterNeedsCollection) => {
            Err(ApiError::bad_request("invalid_selector", err.to_string()))
        }
        Err(err @ PurgeError::MatchesEverything { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "matches_everything",
            err.to_string(),
        )),
        Err(err @ PurgeError::RolledBack(_)) => Err(ApiError::unavailable(err.to_string())),
        Err(PurgeError::Store(err)) => Err(err.into()),
    }
}
