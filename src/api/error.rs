//! API errors: `{"error": {"code", "message"}}` with the right status.
//!
//! A 4xx says what was wrong and what to do; a 5xx says nothing internal (the cause is logged in the
//! request's span, and the `x-request-id` header ties the two together).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{llm::EmbedError, search::retrieve::SearchError, store};

/// The body of every error response (for the OpenAPI document; `ApiError` writes it).
#[derive(utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "describes the JSON that ApiError::into_response writes"
)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "describes the JSON that ApiError::into_response writes"
)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_query`, `collection_not_found`, `overloaded`, …
    code: String,
    /// What was wrong and what to do.
    message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A 400 with a code and a message that says what to fix.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 503 for a dependency that is down or not ready; the message is for operators.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A 500: logs `err` with its cause chain and tells the client nothing about it.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; retry later, and quote the x-request-id header if it persists",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<store::Error> for ApiError {
    /// Every store error decides its status here: no catch-all arm, so a new variant must choose.
    fn from(err: store::Error) -> Self {
        use store::Error as E;
        let (status, code) = match &err {
            E::InvalidCollectionName(_) => (StatusCode::BAD_REQUEST, "invalid_collection_name"),
            E::InvalidDimensions(_) => (StatusCode::BAD_REQUEST, "invalid_dimensions"),
            E::CollectionExists(_) => (StatusCode::CONFLICT, "collection_exists"),
            E::CollectionNotFound(_) => (StatusCode::NOT_FOUND, "collection_not_found"),
            E::DocumentNotFound(_) => (StatusCode::NOT_FOUND, "document_not_found"),
            E::JobNotFound(_) => (StatusCode::NOT_FOUND, "job_not_found"),
            E::KeyNotFound(_) => (StatusCode::NOT_FOUND, "key_not_found"),
            E::DimensionMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "dimension_mismatch"),
            E::Connect { .. } => {
                return Self::unavailable("the database is unreachable; retry later");
            }
            E::Config(_) | E::Database(_) => return Self::internal(&err),
        };
        Self::new(status, code, err.to_string())
    }
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::EmptyQuery | SearchError::QueryTooLong(_) | SearchError::TopK(_) => {
                Self::bad_request("invalid_query", err.to_string())
            }
            SearchError::EmbedderMismatch { .. } => {
                Self::new(StatusCode::CONFLICT, "embedder_mismatch", err.to_string())
            }
            SearchError::Embed(EmbedError::Rejected { .. } | EmbedError::WrongShape { .. }) => {
                Self::new(StatusCode::BAD_GATEWAY, "embedding_failed", err.to_string())
            }
            SearchError::Embed(
                EmbedError::Unavailable(_) | EmbedError::Malformed(_) | EmbedError::Local(_),
            ) => Self::unavailable(format!("{err}; retry later")),
            SearchError::Store(err) => err.into(),
        }
    }
}
