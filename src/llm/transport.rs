//! HTTP transport for the OpenAI-compatible API: timeouts and retries, under async-openai.
//!
//! async-openai builds requests and parses responses; this service sends them. It retries what a
//! retry can fix — 429 (throttling), 5xx, timeouts, refused or dropped connections — with
//! exponential backoff and full jitter, and waits at least as long as a `Retry-After` header asks.
//! It never retries other 4xx: Model Studio's `Arrearage`, `DataInspectionFailed` and
//! `InvalidParameter` are 400s that the same request will hit again. After the last attempt the
//! final response goes up unchanged, so async-openai reports the provider's own error.

use std::{sync::Arc, time::Duration};

use async_openai::{error::OpenAIError, middleware::HttpRequestFactory};
use reqwest::{StatusCode, header::RETRY_AFTER};

use super::Usage;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait for one attempt's response headers.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full jitter (a uniform wait in [0, backoff]) spreads retries of many clients apart; a
    /// `Retry-After` from the server is a floor, capped so a bad header cannot stall a job for hours.
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        let jittered = backoff.mul_f64(fastrand::f64());
        match retry_after {
            Some(after) => after.min(self.max_delay.max(Duration::from_secs(60))) + jittered / 4,
            None => jittered,
        }
    }
}

/// A transport failure after the last attempt, when there is no response to hand up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "no response within {0:?}: the API is slow or unreachable; raise the timeout or retry later"
    )]
    Timeout(Duration),
}

/// The tower service async-openai sends requests through.
pub fn service(
    http: reqwest::Client,
    policy: RetryPolicy,
    usage: Arc<Usage>,
) -> impl tower::Service<
    HttpRequestFactory,
    Response = reqwest::Response,
    Error = OpenAIError,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |factory: HttpRequestFactory| {
        let (http, policy, usage) = (http.clone(), policy.clone(), usage.clone());
        async move { send(&http, &policy, &usage, factory).await }
    })
}

async fn send(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    usage: &Usage,
    factory: HttpRequestFactory,
) -> Result<reqwest::Response, OpenAIError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        usage.record_request();
        let request = factory.build().await?;
        let last = attempt >= policy.max_attempts;
        let retry_after = match tokio::time::timeout(policy.timeout, http.execute(request)).await {
            Ok(Ok(response)) if retryable(response.status()) && !last => {
                usage.record_retry(response.status().as_u16());
                tracing::warn!(
                    status = response.status().as_u16(),
                    attempt,
                    "model API asked us to retry"
                );
                retry_after(&response)
            }
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(err)) if (err.is_connect() || err.is_timeout() || err.is_request()) && !last => {
                usage.record_retry(0);
                tracing::warn!(error = %err, attempt, "model API unreachable; retrying");
                None
            }
            Ok(Err(err)) => return Err(OpenAIError::Reqwest(err)),
            Err(_) if !last => {
                usage.record_retry(0);
                tracing::warn!(timeout = ?policy.timeout, attempt, "model API timed out; retrying");
                None
            }
            Err(_) => {
                return Err(OpenAIError::Boxed(Box::new(TransportError::Timeout(
                    policy.timeout,
                ))));
            }
        };
        tokio::time::sleep(policy.delay(attempt, retry_after)).await;
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (the form Model Studio and OpenAI send); an HTTP date is ignored.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: f64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for retry in 1..20 {
            let delay = policy.delay(retry, None);
            let cap = Duration::from_millis(100 * 2u64.pow((retry - 1).min(10)))
                .min(Duration::from_secs(1));
            assert!(delay <= cap, "retry {retry}: {delay:?} > {cap:?}");
        }
    }

    #[test]
    fn retry_after_is_a_floor_but_a_huge_one_is_capped() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        assert!(policy.delay(1, Some(Duration::from_secs(86_400))) <= Duration::from_secs(70));
    }

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable(StatusCode::BAD_GATEWAY));
        assert!(!retryable(StatusCode::BAD_REQUEST));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
    }
}
