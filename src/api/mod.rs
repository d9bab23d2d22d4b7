//! The HTTP API: one `router()` for the whole service, one file per resource.
//!
//! Handlers parse the request, call one library function and shape its result; rules live below.

mod admin;
mod auth;
mod chat;
mod collections;
mod documents;
mod error;
pub mod fc;
mod health;
mod metrics;
mod openai;
mod openapi;
mod overload;
mod search;

use std::{future::Future, io, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{FromRequest, Request as AxumRequest},
    http::Request,
    middleware::from_fn_with_state,
    serve::ListenerExt,
};
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::Semaphore};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub use auth::LOCAL_TENANT;
pub use error::ApiError;
pub use metrics::Metrics;

use crate::{
    answer::Answerer,
    config::HttpSettings,
    ingest::pipeline::Pipeline,
    llm::{Embedder, rerank::Reranker},
    search::retrieve::SearchOptions,
};

/// Who may call the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Every request carries an API key (the default).
    Required,
    /// `--insecure-no-auth` (loopback binds only): every caller is the admin of the local tenant.
    InsecureLocal,
}

/// What the API is built from: the services the caller made, and the settings it serves by.
pub struct AppParts {
    pub pool: PgPool,
    pub embedder: Arc<dyn Embedder>,
    /// Reorders search hits, when configured (docs/rerank.md).
    pub reranker: Option<Arc<dyn Reranker>>,
    pub pipeline: Arc<Pipeline>,
    /// Writes answers (the chat endpoints).
    pub answerer: Arc<Answerer>,
    pub search: SearchOptions,
    /// Capacity and timeouts (the rest of `HttpSettings` is for the listener).
    pub http: HttpSettings,
    pub auth: Auth,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: usize,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub embedder: Arc<dyn Embedder>,
    /// Reorders search hits, when configured (docs/rerank.md).
    pub reranker: Option<Arc<dyn Reranker>>,
    pub pipeline: Arc<Pipeline>,
    pub search: SearchOptions,
    pub auth: Auth,
    /// Largest upload accepted.
    pub max_upload_bytes: usize,
    /// Capacity and timeouts (the rest of `HttpSettings` is for the listener).
    pub http: HttpSettings,
    pub metrics: Arc<Metrics>,
    /// Writes answers (the chat endpoints).
    pub answerer: Arc<Answerer>,
    /// Places for open answer streams (`--max-streams`).
    pub streams: Arc<Semaphore>,
}

impl AppState {
    /// The state for these parts; the metrics and the stream places are made here.
    pub fn new(parts: AppParts) -> Self {
        let AppParts {
            pool,
            embedder,
            reranker,
            pipeline,
            answerer,
            search,
            http,
            auth,
            max_upload_bytes,
        } = parts;
        Self {
            metrics: Metrics::new(embedder.clone(), reranker.clone()),
            reranker,
            streams: Arc::new(Semaphore::new(http.max_streams.max(1))),
            pool,
            embedder,
            pipeline,
            answerer,
            search,
            auth,
            max_upload_bytes,
            http,
        }
    }
}

/// The whole HTTP surface, separate from serving it so tests can call it in-process.
pub fn router(state: AppState) -> Router {
    let http = &state.http;
    let seconds = Duration::from_secs;
    let searches = overload::Gate::new(
        "search",
        http.max_searches,
        http.search_queue,
        seconds(http.request_timeout_secs),
    );
    let documents = overload::Gate::new(
        "document",
        http.max_document_requests,
        http.document_queue,
        seconds(http.upload_timeout_secs),
    );
    let collections = overload::Gate::new(
        "collection",
        http.max_searches,
        http.search_queue,
        seconds(http.request_timeout_secs),
    );
    let chats = overload::Gate::new(
        "chat",
        http.max_chats,
        http.chat_queue,
        seconds(http.request_timeout_secs),
    );
    let metrics = state.metrics.clone();
    Router::new()
        // Health checks and metrics are never shed: an overloaded server is still alive.
        .merge(health::router())
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/openapi.json", axum::routing::get(openapi::document))
        .merge(collections::router().route_layer(from_fn_with_state(collections, overload::limit)))
        .merge(admin::router())
        .merge(
            documents::router(state.max_upload_bytes)
                .route_layer(from_fn_with_state(documents, overload::limit)),
        )
        .merge(search::router().route_layer(from_fn_with_state(searches, overload::limit)))
        .merge(
            chat::router()
                .merge(openai::router())
                .route_layer(from_fn_with_state(chats, overload::limit)),
        )
        .with_state(state)
        .route_layer(from_fn_with_state(metrics, metrics::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
            })
            .on_response(DefaultOnResponse::new().level(Level::INFO))
            // Every response is logged above with its status; 5xx causes are logged where they
            // arise, and overload refusals in a summary line (overload.rs).
            .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// A JSON body whose rejection is an API error (`400 {"error": …}` naming what is wrong), not
/// axum's plain-text one.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: AxumRequest, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            // A body that parses but does not fit (axum's 422) is a bad request like any other.
            Err(rejection) => Err(ApiError::new(
                match rejection.status() {
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
                        axum::http::StatusCode::BAD_REQUEST
                    }
                    status => status,
                },
                "invalid_body",
                format!(
                    "{}: send a JSON object as documented in docs/api.md",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// Serves `app` until `shutdown` resolves, then lets in-flight requests finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    // Responses go out as soon as they are written: without TCP_NODELAY a small response written
    // in two pieces waits for the client's delayed ACK (tens of ms) between them.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stopping_tx.send(());
    });
    let deadline = async move {
        match stopping_rx.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = server => served,
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; closing anyway");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM (how Function Compute and Kubernetes stop a process) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
