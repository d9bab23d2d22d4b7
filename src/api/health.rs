//! `/healthz` (the process answers) and `/readyz` (it can serve: database reachable, schema current
//! and of this process's dialect, pgvector installed on PostgreSQL).

use std::time::Duration;

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::store::schema;

/// How long `/readyz` waits for the database before calling it unreachable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "`{\"status\": \"ok\"}`: the process answers")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Database reachable, schema current, pgvector installed; otherwise 503 naming each problem.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready: the database answers, its schema is current and pgvector is installed"),
              (status = 503, body = super::error::ErrorBody, description = "not ready: the message names each problem")))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let dialect = state.search.dialect;
    let check = async {
        let server = schema::probe(&state.pool).await?;
        schema::status(&state.pool, &server, dialect).await
    };
    let status = match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check: database query failed");
            return Err(ApiError::unavailable(
                "the database is unreachable: check that it is up and that DATABASE_URL points to it",
            ));
        }
        Err(_) => {
            return Err(ApiError::unavailable(format!(
                "the database did not answer within {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
    };
    let problems = status.problems();
    if !problems.is_empty() {
        return Err(ApiError::unavailable(problems.join("; ")));
    }
    Ok(Json(json!({
        "status": "ready",
        "migration": status.applied,
        "dialect": status.dialect,
        "pgvector": status.pgvector,
    })))
}
