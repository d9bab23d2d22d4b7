//! HTTP transport for the OpenAI-compatible API: timeouts and retries, under async-openai.
//!
//! async-openai builds requests and parses responses; this service sends them. It retries what a
//! retry can fix — 429 (throttling), 5xx, timeouts, refused or dropped connections — with
//! exponential backoff and full jitter, and waits at least as long as a `Retry-After` header asks.
//! It never retries other 4xx: Model Studio's `Arrearage`, `DataInspectionFailed` and
//! `InvalidParameter` are 400s that the same request will hit again. After the last attempt the
//! final response goes up unchanged, so async-openai reports the provider's own error.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_openai::{
    Client, config::OpenAIConfig, error::OpenAIError, middleware::HttpRequestFactory,
};
use reqwest::{StatusCode, header::RETRY_AFTER};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

use super::{Endpoint, SetupError, Usage};

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

/// How many attempts may be in flight at once, adapted to what the provider accepts.
///
/// Starts at the configured maximum. Each 429 lowers the limit by one (to at least one), so a
/// burst of N refusals settles on the provider's real concurrency in one round; a long run of
/// successes (`PROBE_AFTER` in a row) raises it by one again, to find out whether the quota grew.
/// A throttled attempt gives its slot back while it waits out its backoff.
#[derive(Debug)]
pub struct AdaptiveLimit {
    permits: Arc<Semaphore>,
    max: usize,
    state: Mutex<LimitState>,
}

#[derive(Debug)]
struct LimitState {
    limit: usize,
    successes: usize,
}

/// Consecutive successes before the limit is raised by one.
const PROBE_AFTER: usize = 200;

impl AdaptiveLimit {
    pub fn new(max: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
            state: Mutex::new(LimitState {
                limit: max,
                successes: 0,
            }),
        })
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state.lock().map_or(self.max, |state| state.limit)
    }

    fn throttled(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.successes = 0;
        if state.limit > 1 {
            state.limit -= 1;
            // Take one permit out of circulation as soon as one is free.
            let permits = self.permits.clone();
            tokio::spawn(async move {
                if let Ok(permit) = permits.acquire_owned().await {
                    permit.forget();
                }
            });
            tracing::info!(
                limit = state.limit,
                "model API throttled us: fewer requests in flight"
            );
        }
    }

    fn succeeded(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.successes += 1;
        if state.successes >= PROBE_AFTER && state.limit < self.max {
            state.successes = 0;
            state.limit += 1;
            self.permits.add_permits(1);
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

/// A client for `endpoint` whose requests go through [`service`], for calls that wait for one
/// response (the chat model, the OCR model): `timeout` bounds the wait for the headers and then
/// for each piece of the body, `max_attempts` and the adaptive limit of `concurrency` as
/// [`RetryPolicy`] and [`AdaptiveLimit`] say. Returns the client and its attempt counters.
///
/// # Errors
///
/// [`SetupError::InvalidEndpoint`] for a base URL that is not http(s).
pub fn client(
    endpoint: &Endpoint,
    timeout: Duration,
    max_attempts: u32,
    concurrency: usize,
) -> Result<(Client<OpenAIConfig>, Arc<Usage>), SetupError> {
    let base_url = endpoint.base_url.as_str();
    super::check_endpoint(base_url)?;
    let timeout = timeout.max(Duration::from_millis(1));
    let policy = RetryPolicy {
        max_attempts: max_attempts.max(1),
        timeout,
        ..RetryPolicy::default()
    };
    // `read_timeout` bounds every wait for the next bytes, so a stalled stream ends too.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(timeout)
        .build()
        .map_err(|err| SetupError::InvalidEndpoint(err.to_string()))?;
    let mut config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/'));
    if let Some(key) = &endpoint.api_key {
        config = config.with_api_key(key.expose_secret());
    }
    let usage = Arc::new(Usage::default());
    let client = Client::with_config(config).with_http_service(service(
        http,
        policy,
        usage.clone(),
        AdaptiveLimit::new(concurrency),
    ));
    Ok((client, usage))
}

/// The tower service async-openai sends requests through.
pub fn service(
    http: reqwest::Client,
    policy: RetryPolicy,
    usage: Arc<Usage>,
    limit: Arc<AdaptiveLimit>,
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
        let (http, policy, usage, limit) =
            (http.clone(), policy.clone(), usage.clone(), limit.clone());
        async move { send(&http, &policy, &usage, &limit, factory).await }
    })
}

async fn send(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    usage: &Usage,
    limit: &AdaptiveLimit,
    factory: HttpRequestFactory,
) -> Result<reqwest::Response, OpenAIError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = factory.build().await?;
        let last = attempt >= policy.max_attempts;
        // A slot for this attempt only: released before any backoff sleep.
        let slot =
            limit.permits.acquire().await.map_err(|_| {
                OpenAIError::Boxed(Box::new(TransportError::Timeout(Duration::ZERO)))
            })?;
        usage.record_request();
        let outcome = tokio::time::timeout(policy.timeout, http.execute(request)).await;
        drop(slot);
        match &outcome {
            Ok(Ok(response)) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                limit.throttled();
            }
            Ok(Ok(response)) if response.status().is_success() => limit.succeeded(),
            _ => {}
        }
        let retry_after = match outcome {
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

/// A final error from the API (retries are over), sorted by what the caller can do about it.
#[derive(Debug)]
pub enum Failure {
    /// The provider refused the request; sending it again would be refused again.
    Rejected {
        status: u16,
        /// The provider's error code with a leading space, or empty.
        code: String,
        message: String,
    },
    /// Throttling, server errors, timeouts or a broken connection.
    Unavailable(String),
    /// An answer that is not what the protocol says.
    Malformed(String),
    /// A stream that broke after it began.
    Interrupted(String),
}

/// Sorts async-openai's error into a [`Failure`].
pub fn classify(err: OpenAIError) -> Failure {
    match err {
        OpenAIError::ApiError(err) => {
            let status = err.status_code.as_u16();
            if retryable(err.status_code) {
                Failure::Unavailable(err.to_string())
            } else {
                Failure::Rejected {
                    status,
                    code: err
                        .api_error
                        .code
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default(),
                    message: err.api_error.message,
                }
            }
        }
        OpenAIError::JSONDeserialize(err, body) => {
            let excerpt: String = body.chars().take(120).collect();
            Failure::Malformed(format!("{err}; the body began {excerpt:?}"))
        }
        OpenAIError::Reqwest(err) => Failure::Unavailable(err.to_string()),
        OpenAIError::Boxed(err) => Failure::Unavailable(err.to_string()),
        OpenAIError::StreamError(err) => Failure::Interrupted(err.to_string()),
        other => Failure::Malformed(other.to_string()),
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

    #[tokio::test]
    async fn throttling_lowers_the_limit_and_a_long_quiet_run_raises_it_again() {
        let limit = AdaptiveLimit::new(4);
        for _ in 0..5 {
            limit.throttled();
        }
        assert_eq!(limit.limit(), 1);
        for _ in 0..PROBE_AFTER - 1 {
            limit.succeeded();
        }
        assert_eq!(limit.limit(), 1);
        limit.succeeded();
        assert_eq!(limit.limit(), 2);
    }

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable(StatusCode::BAD_GATEWAY));
        assert!(!retryable(StatusCode::BAD_REQUEST));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
    }
}
