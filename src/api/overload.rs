//! Load shedding: a bounded number of requests in flight per route class, a short bounded queue in
//! front of it, and beyond that an immediate `503` with `Retry-After`.
//!
//! The outage to avoid is the out-of-memory cascade: a server that accepts every request under
//! overload holds them all, grows, slows, and falls over. Refusing early keeps the accepted
//! requests fast and the memory flat; clients (and load balancers) retry elsewhere or later.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use super::ApiError;

/// Limits for one class of routes.
#[derive(Debug)]
pub struct Gate {
    class: &'static str,
    in_flight: Semaphore,
    queue: Semaphore,
    /// Longest a queued request waits for a slot before it is refused after all.
    max_wait: Duration,
    /// Longest a request may run once admitted.
    timeout: Duration,
    retry_after_secs: u64,
    /// Refusals not yet logged, and when the last log line was written: under a flood one line a
    /// second says how many were refused, instead of a line each (which would feed the overload).
    unlogged: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Gate {
    pub fn new(
        class: &'static str,
        in_flight: usize,
        queue: usize,
        timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            class,
            in_flight: Semaphore::new(in_flight.max(1)),
            queue: Semaphore::new(queue),
            max_wait: Duration::from_secs(2),
            timeout,
            retry_after_secs: 1,
            unlogged: AtomicU64::new(0),
            last_log: Mutex::new(None),
        })
    }

    fn refuse(&self) -> Response {
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_log.try_lock()
            && last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            *last = Some(Instant::now());
            let refused = self.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(class = self.class, refused, "overloaded: requests refused");
        }
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "the server is at capacity for {} requests: retry after {} s",
                self.class, self.retry_after_secs
            ),
        )
        .with_retry_after(self.retry_after_secs)
        .into_response()
    }
}

/// The middleware: take a slot, or a queue place and then a slot, or refuse at once.
pub async fn limit(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let _slot = match gate.in_flight.try_acquire() {
        Ok(slot) => slot,
        Err(_) => {
            let Ok(_place) = gate.queue.try_acquire() else {
                return gate.refuse();
            };
            match tokio::time::timeout(gate.max_wait, gate.in_flight.acquire()).await {
                Ok(Ok(slot)) => slot,
                _ => return gate.refuse(),
            }
        }
    };
    match tokio::time::timeout(gate.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(class = gate.class, timeout = ?gate.timeout, "request timed out");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than {} s and was abandoned: retry, with a smaller request if you can",
                    gate.timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}
