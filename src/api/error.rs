//! API errors: `{"error": {"code", "message", "type", "param"}}` with the right status — the
//! shape the OpenAI API uses too, so its client libraries report our errors properly.
//!
//! A 4xx says what was wrong and what to do; a 5xx says nothing internal (the cause is logged in the
//! request's span, and the `x-request-id` header ties the two together).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    answer::AnswerError,
    llm::{EmbedError, chat::ChatError},
    search::retrieve::SearchError,
    store,
};

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
    /// The OpenAI error class: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `not_found_error`, `rate_limit_error` or `server_error`.
    r#type: String,
    /// The request field at fault, when there is one.
    param: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    param: Option<String>,
    /// Seconds a client should wait before retrying, sent as `Retry-After`; every 503 has one.
    retry_after: Option<u64>,
}

/// `Retry-After` of a 503 that does not say otherwise: long enough for a restarting database or a
/// throttled provider to recover, short enough that an assistant's user barely notices.
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            param: None,
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE)
                .then_some(DEFAULT_RETRY_AFTER_SECS),
        }
    }

    /// Tells the client to retry after `secs` seconds (`Retry-After`).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Names the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
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

    /// What the client is told, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => "rate_limit_error",
            status if status.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        let body = json!({ "error": {
            "code": self.code, "message": self.message, "type": kind, "param": self.param,
        } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<store::Error> for ApiError {
    /// Every store error decides its status here: no catch-all arm, so a new variant must choose.
    fn from(err: store::Error) -> Self {
        use store::Error as E;
        let (status, code) = match &err {
            E::InvalidCollectionName(_) => (StatusCode::BAD_REQUEST, "invalid_collection_name"),
            E::InvalidDimensions { .. } => (StatusCode::BAD_REQUEST, "invalid_dimensions"),
            E::CollectionExists(_) => (StatusCode::CONFLICT, "collection_exists"),
            E::CollectionNotFound(_) => (StatusCode::NOT_FOUND, "collection_not_found"),
            E::DocumentNotFound(_) => (StatusCode::NOT_FOUND, "document_not_found"),
            E::JobNotFound(_) => (StatusCode::NOT_FOUND, "job_not_found"),
            E::KeyNotFound(_) => (StatusCode::NOT_FOUND, "key_not_found"),
            E::JobNotInState { .. } => (StatusCode::CONFLICT, "job_not_in_state"),
            E::LeaseLost(_) => (StatusCode::CONFLICT, "job_taken_over"),
            E::DimensionMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "dimension_mismatch"),
            // An operator's step is missing (the message names it); retrying will not help.
            E::VectorTablePrivilege { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "vector_table_missing")
            }
            E::Connect { .. } => {
                return Self::unavailable("the database is unreachable; retry later");
            }
            E::Database(_) if err.is_transient() => {
                return Self::unavailable(
                    "the database is unavailable (restarting or overloaded); retry later",
                );
            }
            E::Database(_) => return Self::internal(&err),
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

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        let status = match err {
            ChatError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ChatError::Rejected { .. } | ChatError::Malformed(_) | ChatError::Interrupted(_) => {
                StatusCode::BAD_GATEWAY
            }
        };
        Self::new(status, err.code(), err.to_string())
    }
}

impl From<AnswerError> for ApiError {
    fn from(err: AnswerError) -> Self {
        match err {
            AnswerError::Invalid(message) => {
                Self::bad_request("invalid_messages", message).with_param("messages")
            }
            AnswerError::Search(err) => err.into(),
            AnswerError::Model(err) => err.into(),
            AnswerError::Prompt(err) => Self::internal(&err),
        }
    }
}
