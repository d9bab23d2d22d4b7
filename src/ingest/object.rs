//! Object stores: OSS, S3-compatible stores and local files, through opendal.
//!
//! An [`ObjectUri`] names one object (`oss://bucket/key`, `s3://bucket/key`, `file:///abs/path`);
//! [`ObjectStores::fetch`] reads it into a [`SourceObject`] and [`ObjectStores::list`] lists a
//! prefix for a backfill. All three schemes take the same path: opendal's `oss`, `s3` or `fs`
//! service (root `/`), a stat (HEAD) first, so an object over the size limit is refused before a
//! byte of it is read, then one read of exactly the version the stat saw (`If-Match` on its eTag).
//!
//! **Addressing.** opendal's OSS service addresses buckets virtual-hosted style,
//! `https://bucket.oss-<region>[-internal].aliyuncs.com/key`, as OSS documents. (It also has `path`
//! and `cname` styles; we use neither: reqsign signs a path-style bucket request, a listing, over
//! the resource `/bucket` where OSS expects `/bucket/`.) An OSS endpoint must therefore be a host
//! name, never an IP address; tests point a name at their fake with
//! [`ObjectStores::with_http_client`] and `reqwest::ClientBuilder::resolve`, so they run the
//! production addressing. S3-compatible stores are addressed path style (`endpoint/bucket/key`),
//! which AWS and the emulators accept.
//!
//! **Credentials**, first found wins:
//! 1. the `credentials` argument: the STS keys Function Compute passes with each invocation
//!    ([`Credentials::from_fc_headers`]). They sign that one call's requests and are dropped
//!    with it: the opendal operator built for them is never cached.
//! 2. for OSS, the environment: `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`
//!    and optionally `ALIBABA_CLOUD_SECURITY_TOKEN` (else `OSS_ACCESS_KEY_ID`,
//!    `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`), read by reqsign itself
//!    ([`Credentials::from_env`] reads the same three).
//! 3. for OSS, what reqsign-aliyun-oss 3.2 loads itself, in the chain opendal 0.59 builds: RRSA
//!    (`AssumeRoleWithOIDC`, for ACK pods: `ALIBABA_CLOUD_ROLE_ARN`,
//!    `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`, optionally
//!    `ALIBABA_CLOUD_STS_ENDPOINT`), then the ECS instance RAM role from the metadata service at
//!    100.100.100.200 (IMDSv2 token, falling back to v1; the role name from
//!    `ALIBABA_CLOUD_ECS_METADATA` or discovered; off with
//!    `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`).
//!    reqsign also has providers for `~/.alibabacloud/credentials.ini`, `~/.aliyun/config.json`
//!    and a credentials URI, but opendal's OSS service does not use them. Loaded credentials are
//!    cached per bucket and refreshed before they expire. For S3, after the argument: opendal's
//!    AWS chain (`AWS_ACCESS_KEY_ID`…, `~/.aws`, SSO, web identity, a credential process, ECS/EC2
//!    instance roles).
//!
//! **Secrets never reach a log.** [`Credentials`] redacts them in `Debug`. reqsign logs each
//! credential provider it tries with `Debug` at level DEBUG (target `reqsign_core::api`), and its
//! static provider, which carries per-request keys, prints them in clear; so a fetch with the
//! `credentials` argument is refused while that target is enabled at DEBUG (e.g.
//! `RUST_LOG=debug`): add `reqsign_core=info` to `RUST_LOG`. opendal's own log lines show the
//! bucket, endpoint and root only, and its HTTP errors carry the URL and response headers, not the
//! request's.

use std::{
    collections::HashMap,
    fmt,
    str::FromStr,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use axum::http::{self, HeaderMap};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use opendal::{
    Buffer, ErrorKind, HttpBody, HttpTransport, HttpTransporter, OperationContext, Operator,
    layers::TimeoutLayer, services,
};
use secrecy::{ExposeSecret, SecretString};

use super::source::SourceObject;

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Oss,
    S3,
    File,
}

impl Scheme {
    /// As written in a URI: `oss`, `s3` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oss => "oss",
            Self::S3 => "s3",
            Self::File => "file",
        }
    }
}

/// `oss://bucket/key`, `s3://bucket/key`, `file:///abs/path` — parse + Display round-trip.
///
/// Keys are raw, not percent-encoded: `oss://docs/年报 2024+.pdf` is the key `年报 2024+.pdf`. For
/// `file`, `bucket` is empty and `key` is the absolute path (`/abs/path`). An empty key (or one
/// ending in `/`) names a prefix, for [`ObjectStores::list`]; `oss://bucket` is read as
/// `oss://bucket/`, which is how it displays.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectUri {
    pub scheme: Scheme,
    /// Empty for `file`.
    pub bucket: String,
    pub key: String,
}

/// Why a string is not an [`ObjectUri`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{uri}` is not a usable object URI: {reason}")]
pub struct UriError {
    pub uri: String,
    pub reason: String,
}

/// OSS keys are at most 1023 bytes, S3 keys 1024.
const MAX_KEY_BYTES: usize = 1023;

impl ObjectUri {
    /// The path opendal is given (its root is `/`).
    fn store_path(&self) -> &str {
        match self.scheme {
            Scheme::File => self.key.trim_start_matches('/'),
            Scheme::Oss | Scheme::S3 => &self.key,
        }
    }

    /// The last segment of the key: the object's file name.
    pub fn file_name(&self) -> Option<&str> {
        self.key.rsplit('/').next().filter(|name| !name.is_empty())
    }

    fn child(&self, store_path: &str) -> Self {
        let key = match self.scheme {
            Scheme::File => format!("/{store_path}"),
            Scheme::Oss | Scheme::S3 => store_path.to_owned(),
        };
        Self {
            scheme: self.scheme,
            bucket: self.bucket.clone(),
            key,
        }
    }
}

impl fmt::Display for ObjectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::File => write!(f, "file://{}", self.key),
            Scheme::Oss | Scheme::S3 => {
                write!(f, "{}://{}/{}", self.scheme.as_str(), self.bucket, self.key)
            }
        }
    }
}

impl FromStr for ObjectUri {
    type Err = UriError;

    fn from_str(uri: &str) -> Result<Self, UriError> {
        let refuse = |reason: &str| UriError {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            refuse("write oss://bucket/key, s3://bucket/key or file:///absolute/path")
        })?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "oss" => Scheme::Oss,
            "s3" => Scheme::S3,
            "file" => Scheme::File,
            _ => return Err(refuse("the scheme must be oss, s3 or file")),
        };
        if rest.chars().any(char::is_control) {
            return Err(refuse("it contains control characters"));
        }
        if scheme == Scheme::File {
            if !rest.starts_with('/') {
                return Err(refuse(
                    "a file URI takes an absolute path, file:///abs/path (relative paths and hosts are refused)",
                ));
            }
            if rest.split('/').skip(1).any(|s| s == "." || s == "..") || rest.contains("//") {
                return Err(refuse(
                    "the path has `.`, `..` or empty segments: give the canonical absolute path",
                ));
            }
            check_opendal_path(rest).map_err(refuse)?;
            return Ok(Self {
                scheme,
                bucket: String::new(),
                key: rest.to_owned(),
            });
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(scheme, bucket).map_err(refuse)?;
        if key.len() > MAX_KEY_BYTES {
            return Err(refuse("the key is longer than 1023 bytes"));
        }
        if key.starts_with('/') || key.starts_with('\\') || key.contains("//") {
            return Err(refuse(
                "the key starts with `/` or `\\`, or has an empty segment (`//`), which opendal cannot address",
            ));
        }
        check_opendal_path(key).map_err(refuse)?;
        Ok(Self {
            scheme,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

/// opendal trims whitespace around a path, so such a key would fetch another object.
fn check_opendal_path(path: &str) -> Result<(), &'static str> {
    if path.trim() != path {
        return Err(
            "the key begins or ends with whitespace, which opendal trims (it would fetch another object)",
        );
    }
    Ok(())
}

/// Bucket names: 3–63 lowercase letters, digits and hyphens (and dots for S3), no hyphen or dot at
/// either end. The name becomes part of a host name, so nothing else may pass.
fn check_bucket(scheme: Scheme, bucket: &str) -> Result<(), &'static str> {
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (c == '.' && scheme == Scheme::S3)
    };
    if bucket.is_empty() {
        return Err("there is no bucket: write scheme://bucket/key");
    }
    if !(3..=63).contains(&bucket.len())
        || !bucket.chars().all(allowed)
        || bucket.starts_with(['-', '.'])
        || bucket.ends_with(['-', '.'])
    {
        return Err(
            "the bucket name must be 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
        );
    }
    Ok(())
}

/// Temporary or long-lived keys. Debug redacts the secret and token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: SecretString,
    /// Present for STS (temporary) credentials; sent as `x-oss-security-token`.
    pub security_token: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"[redacted]")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Function Compute's per-request credential headers, in the order they are reported.
const FC_HEADERS: [&str; 3] = [
    "x-fc-access-key-id",
    "x-fc-access-key-secret",
    "x-fc-security-token",
];

/// Why an invocation's credential headers cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "the invocation carries {present} but not {missing}: Function Compute sends all three when the function has a role; check the function's role (or strip all three)"
    )]
    Partial { present: String, missing: String },
    #[error("the {0} header is not visible ASCII: it cannot be a credential")]
    Unreadable(&'static str),
}

impl Credentials {
    /// The per-request STS credentials FC passes: headers `x-fc-access-key-id`,
    /// `x-fc-access-key-secret`, `x-fc-security-token`. None when absent; an error when only some
    /// are present. An empty header counts as absent.
    pub fn from_fc_headers(headers: &HeaderMap) -> Result<Option<Self>, CredentialsError> {
        let mut values = [None, None, None];
        for (value, name) in values.iter_mut().zip(FC_HEADERS) {
            if let Some(header) = headers.get(name) {
                let text = header
                    .to_str()
                    .map_err(|_| CredentialsError::Unreadable(name))?;
                if !text.is_empty() {
                    *value = Some(text.to_owned());
                }
            }
        }
        match values {
            [None, None, None] => Ok(None),
            [Some(id), Some(secret), Some(token)] => Ok(Some(Self {
                access_key_id: id,
                access_key_secret: secret.into(),
                security_token: Some(token.into()),
            })),
            _ => {
                let names = |present: bool| {
                    values
                        .iter()
                        .zip(FC_HEADERS)
                        .filter(|(value, _)| value.is_some() == present)
                        .map(|(_, name)| name)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                Err(CredentialsError::Partial {
                    present: names(true),
                    missing: names(false),
                })
            }
        }
    }

    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` /
    /// `ALIBABA_CLOUD_SECURITY_TOKEN` (optional). None unless both keys are set and not empty.
    pub fn from_env() -> Option<Self> {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|value: &String| !value.is_empty())
        };
        Some(Self {
            access_key_id: var("ALIBABA_CLOUD_ACCESS_KEY_ID")?,
            access_key_secret: var("ALIBABA_CLOUD_ACCESS_KEY_SECRET")?.into(),
            security_token: var("ALIBABA_CLOUD_SECURITY_TOKEN").map(Into::into),
        })
    }
}

/// Where the stores are and how long a request may take.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Explicit OSS endpoint (ADBRAG_OSS_ENDPOINT), e.g.
    /// `https://oss-cn-hangzhou-internal.aliyuncs.com`; buckets are addressed as its subdomains,
    /// so it must be a host name, not an IP address.
    pub oss_endpoint: Option<String>,
    /// Without an explicit endpoint: `https://oss-<region>-internal.aliyuncs.com` when true
    /// (ADBRAG_OSS_INTERNAL, for FC/ECS in the bucket's region), else
    /// `https://oss-<region>.aliyuncs.com`.
    pub oss_internal: bool,
    /// S3-compatible endpoint (ADBRAG_S3_ENDPOINT); AWS's own for the region when unset.
    pub s3_endpoint: Option<String>,
    /// ADBRAG_S3_REGION, default "us-east-1"; a fetch's `region` argument wins.
    pub s3_region: String,
    /// Per request (a stat, a read, a page of a listing), credential loading included.
    pub timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            oss_endpoint: None,
            oss_internal: false,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub uri: ObjectUri,
    pub key: String,
    /// Without quotes.
    pub etag: Option<String>,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// Why an object could not be fetched or listed. Only [`FetchError::Transient`] is worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{uri} does not exist: the object was deleted (or never written) before it could be fetched; nothing to retry"
    )]
    NotFound { uri: String },
    #[error(
        "{uri} is no longer version {expected} (now {}): a newer version was uploaded, and its own event brings it; nothing to retry",
        actual.as_deref().unwrap_or("another")
    )]
    Changed {
        uri: String,
        expected: String,
        actual: Option<String>,
    },
    #[error(
        "{uri} is {size} bytes, more than the limit of {max}: split it, or raise ADBRAG_MAX_OBJECT_BYTES"
    )]
    TooLarge { uri: String, size: u64, max: u64 },
    #[error("reading {uri} was refused: {detail}")]
    Denied { uri: String, detail: String },
    #[error("{uri} could not be fetched for now, retry later: {detail}")]
    Transient { uri: String, detail: String },
    #[error("{uri}: {detail}")]
    Invalid { uri: String, detail: String },
}

impl FetchError {
    /// Only Transient (5xx, throttling, timeouts, connection errors) is; the rest are final.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    fn invalid(uri: &ObjectUri, detail: impl Into<String>) -> Self {
        Self::Invalid {
            uri: uri.to_string(),
            detail: detail.into(),
        }
    }
}

/// Fetches and lists objects; one per process, shared by the workers.
pub struct ObjectStores {
    settings: StoreSettings,
    /// Or why the HTTP client could not be built (reported by every OSS/S3 call).
    transport: Result<HttpTransporter, String>,
    /// Operators that load credentials themselves (no per-request keys), by store.
    shared: Mutex<HashMap<Store, Operator>>,
}

/// One store: what an operator is built from (and cached by).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Store {
    scheme: Scheme,
    bucket: String,
    endpoint: Option<String>,
    region: String,
}

impl fmt::Debug for ObjectStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStores")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ObjectStores {
    /// The stores, over a default HTTP client (no redirects followed, connect timeout at most
    /// 10 s). Nothing is contacted until the first fetch.
    pub fn new(settings: StoreSettings) -> Self {
        let transport = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(|client| HttpTransporter::new(ReqwestTransport(client)))
            .map_err(|err| format!("cannot build the HTTP client: {err}"));
        Self {
            settings,
            transport,
            shared: Mutex::new(HashMap::new()),
        }
    }

    /// Sends OSS and S3 requests through this client instead of the default one: for tests and
    /// custom DNS (`reqwest::ClientBuilder::resolve`), proxies or TLS roots. Timeouts stay the
    /// settings' own.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.transport = Ok(HttpTransporter::new(ReqwestTransport(client)));
        self.shared
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self
    }

    /// Fetches one object: stat first (HEAD), refused when larger than `max_bytes` before reading;
    /// when `etag` is given, reads only that version (If-Match) and reports `Changed` if the object
    /// now has another eTag. Without one, reads the version the stat saw, and a change between the
    /// two is `Transient` (a retry fetches the new version). `region` locates an OSS bucket when no
    /// endpoint is configured (`cn-hangzhou`), and overrides the S3 region.
    pub async fn fetch(
        &self,
        uri: &ObjectUri,
        region: Option<&str>,
        etag: Option<&str>,
        credentials: Option<&Credentials>,
        max_bytes: u64,
    ) -> Result<SourceObject, FetchError> {
        if uri.key.is_empty() || uri.key.ends_with('/') {
            return Err(FetchError::invalid(
                uri,
                "this names a prefix, not an object: give the key of one object",
            ));
        }
        let expected = etag.map(unquote).filter(|etag| !etag.is_empty());
        if uri.scheme == Scheme::File && expected.is_some() {
            return Err(FetchError::invalid(
                uri,
                "local files have no eTag: fetch them without one",
            ));
        }
        let operator = self.operator(uri, region, credentials)?;
        let path = uri.store_path();
        let meta = operator
            .stat(path)
            .await
            .map_err(|err| classify(uri, &err))?;
        if meta.is_dir() {
            return Err(FetchError::invalid(
                uri,
                "this is a directory, not a file: list it instead",
            ));
        }
        let size = meta.content_length();
        if size > max_bytes {
            return Err(FetchError::TooLarge {
                uri: uri.to_string(),
                size,
                max: max_bytes,
            });
        }
        let actual = meta.etag().map(unquote);
        // OSS writes eTags in upper-case hex, S3 in lower; some callers normalise them.
        if let Some(expected) = &expected
            && !actual
                .as_deref()
                .is_some_and(|actual| actual.eq_ignore_ascii_case(expected))
        {
            return Err(FetchError::Changed {
                uri: uri.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
        let read = match &actual {
            Some(pinned) => {
                operator
                    .read_with(path)
                    .if_match(&format!("\"{pinned}\""))
                    .await
            }
            None => operator.read(path).await,
        };
        let bytes = match read {
            Ok(buffer) => buffer.to_vec(),
            Err(err) if err.kind() == ErrorKind::ConditionNotMatch => {
                return Err(match expected {
                    Some(expected) => FetchError::Changed {
                        uri: uri.to_string(),
                        expected,
                        actual: None,
                    },
                    None => FetchError::Transient {
                        uri: uri.to_string(),
                        detail: "the object changed while it was being read".to_owned(),
                    },
                });
            }
            Err(err) => return Err(classify(uri, &err)),
        };
        // A local file can grow between the stat and the read.
        if bytes.len() as u64 > max_bytes {
            return Err(FetchError::TooLarge {
                uri: uri.to_string(),
                size: bytes.len() as u64,
                max: max_bytes,
            });
        }
        let metadata = meta
            .user_metadata()
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), serde_json::Value::from(value)))
                    .collect::<serde_json::Map<_, _>>()
            })
            .unwrap_or_default();
        Ok(SourceObject {
            uri: uri.to_string(),
            file_name: uri.file_name().map(str::to_owned),
            bytes,
            etag: actual,
            modified: meta.last_modified().map(to_chrono).unwrap_or_else(Utc::now),
            metadata: serde_json::Value::Object(metadata),
            acl: Vec::new(),
        })
    }

    /// Lists the objects under a prefix (for backfilling a prefix): key, etag, size,
    /// last_modified, in key order. Folder markers (keys ending in '/') are skipped. The prefix is
    /// a plain string prefix for OSS and S3 (`docs/2024` matches `docs/2024-q1.pdf`); for `file://`
    /// it must be a directory.
    pub async fn list(
        &self,
        prefix: &ObjectUri,
        region: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<Vec<ObjectInfo>, FetchError> {
        let operator = self.operator(prefix, region, credentials)?;
        let mut path = prefix.store_path().to_owned();
        if prefix.scheme == Scheme::File && !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        let entries = operator
            .list_with(&path)
            .recursive(true)
            .await
            .map_err(|err| classify(prefix, &err))?;
        let mut objects: Vec<ObjectInfo> = entries
            .into_iter()
            .filter(|entry| !entry.path().ends_with('/') && entry.metadata().is_file())
            .map(|entry| {
                let meta = entry.metadata();
                let uri = prefix.child(entry.path());
                ObjectInfo {
                    key: uri.key.clone(),
                    uri,
                    etag: meta.etag().map(unquote),
                    size: meta.content_length(),
                    last_modified: meta.last_modified().map(to_chrono),
                }
            })
            .collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// The operator for `uri`'s store: a fresh one for per-request credentials, else a shared one.
    fn operator(
        &self,
        uri: &ObjectUri,
        region: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<Operator, FetchError> {
        if let Some(credentials) = credentials {
            if credentials.access_key_id.is_empty()
                || credentials.access_key_secret.expose_secret().is_empty()
            {
                return Err(FetchError::invalid(
                    uri,
                    "the credentials have an empty key id or secret",
                ));
            }
            if uri.scheme != Scheme::File && secrets_would_be_logged() {
                return Err(FetchError::invalid(
                    uri,
                    "debug logging is on for reqsign_core, which would print these per-request credentials: add `reqsign_core=info` to RUST_LOG",
                ));
            }
        }
        let store = self.store(uri, region)?;
        let shared = credentials.is_none();
        if shared
            && let Some(operator) = self
                .shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&store)
        {
            return Ok(operator.clone());
        }
        let operator = build_operator(&store, credentials).map_err(|err| {
            FetchError::invalid(uri, format!("the store is misconfigured: {err}"))
        })?;
        let mut operator = operator.layer(
            TimeoutLayer::new()
                .with_timeout(self.settings.timeout)
                .with_io_timeout(self.settings.timeout),
        );
        if uri.scheme != Scheme::File {
            let transport = self
                .transport
                .clone()
                .map_err(|err| FetchError::invalid(uri, err))?;
            operator =
                operator.with_context(OperationContext::new().with_http_transport(transport));
        }
        if shared {
            self.shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(store, operator.clone());
        }
        Ok(operator)
    }

    /// Where `uri`'s store is, checked.
    fn store(&self, uri: &ObjectUri, region: Option<&str>) -> Result<Store, FetchError> {
        let (endpoint, region) = match uri.scheme {
            Scheme::File => (None, String::new()),
            Scheme::Oss => (Some(self.oss_endpoint(uri, region)?), String::new()),
            Scheme::S3 => {
                let region = match region {
                    Some(region) => checked_region(uri, region)?,
                    None => self.settings.s3_region.clone(),
                };
                (self.settings.s3_endpoint.clone(), region)
            }
        };
        Ok(Store {
            scheme: uri.scheme,
            bucket: uri.bucket.clone(),
            endpoint,
            region,
        })
    }

    /// The configured endpoint, checked, or the region's public or internal one.
    fn oss_endpoint(&self, uri: &ObjectUri, region: Option<&str>) -> Result<String, FetchError> {
        if let Some(endpoint) = &self.settings.oss_endpoint {
            let refuse = |why: &str| {
                FetchError::invalid(uri, format!("ADBRAG_OSS_ENDPOINT `{endpoint}` {why}"))
            };
            let parsed = url::Url::parse(endpoint).map_err(|_| {
                refuse("is not a URL: write it like https://oss-cn-hangzhou-internal.aliyuncs.com")
            })?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.path() != "/"
                || parsed.query().is_some()
            {
                return Err(refuse(
                    "must be http(s)://host[:port] with no path, like https://oss-cn-hangzhou.aliyuncs.com",
                ));
            }
            if !matches!(parsed.host(), Some(url::Host::Domain(_))) {
                return Err(refuse(
                    "must be a host name: OSS addresses a bucket as a subdomain (bucket.host), which an IP address cannot have",
                ));
            }
            return Ok(endpoint.trim_end_matches('/').to_owned());
        }
        let region = region.ok_or_else(|| {
            FetchError::invalid(
                uri,
                "the bucket's region is unknown: pass it (the OSS event carries it) or set ADBRAG_OSS_ENDPOINT",
            )
        })?;
        let region = checked_region(uri, region.strip_prefix("oss-").unwrap_or(region))?;
        let internal = if self.settings.oss_internal {
            "-internal"
        } else {
            ""
        };
        Ok(format!("https://oss-{region}{internal}.aliyuncs.com"))
    }
}

/// opendal's `fs` (root `/`), `oss` or `s3` service for `store`, signing with `credentials` when
/// given, else with what the service's credential chain loads.
fn build_operator(store: &Store, credentials: Option<&Credentials>) -> opendal::Result<Operator> {
    match store.scheme {
        Scheme::File => Operator::new(services::Fs::default().root("/")),
        Scheme::Oss => {
            let mut builder = services::Oss::default().root("/").bucket(&store.bucket);
            if let Some(endpoint) = &store.endpoint {
                builder = builder.endpoint(endpoint);
            }
            if let Some(credentials) = credentials {
                builder = builder
                    .access_key_id(&credentials.access_key_id)
                    .access_key_secret(credentials.access_key_secret.expose_secret());
                if let Some(token) = &credentials.security_token {
                    builder = builder.security_token(token.expose_secret());
                }
            }
            Operator::new(builder)
        }
        Scheme::S3 => {
            let mut builder = services::S3::default()
                .root("/")
                .bucket(&store.bucket)
                .region(&store.region);
            if let Some(endpoint) = &store.endpoint {
                builder = builder.endpoint(endpoint);
            }
            if let Some(credentials) = credentials {
                builder = builder
                    .access_key_id(&credentials.access_key_id)
                    .secret_access_key(credentials.access_key_secret.expose_secret());
                if let Some(token) = &credentials.security_token {
                    builder = builder.session_token(token.expose_secret());
                }
            }
            Operator::new(builder)
        }
    }
}

/// Region ids become part of a host name: lowercase letters, digits and hyphens only.
fn checked_region(uri: &ObjectUri, region: &str) -> Result<String, FetchError> {
    let valid = !region.is_empty()
        && region.len() <= 40
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(region.to_owned())
    } else {
        Err(FetchError::invalid(
            uri,
            format!("`{region}` is not a region id (like cn-hangzhou or us-east-1)"),
        ))
    }
}

/// True when a DEBUG event of reqsign's credential chain would be recorded: it prints the static
/// provider (per-request keys) with `Debug`, in clear.
fn secrets_would_be_logged() -> bool {
    tracing::enabled!(target: "reqsign_core::api", tracing::Level::DEBUG)
}

fn unquote(etag: &str) -> String {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"').to_owned()
}

fn to_chrono(timestamp: opendal::raw::Timestamp) -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::from(timestamp))
}

/// What an opendal error means for the job: final or worth a retry, with advice.
fn classify(uri: &ObjectUri, err: &opendal::Error) -> FetchError {
    let uri_text = uri.to_string();
    // opendal's wrapper for reqsign failures; the chain reports "no credential found" this way.
    if err.message() == "signing http request" {
        let advice = match uri.scheme {
            Scheme::S3 => {
                "pass the keys, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the instance a role"
            }
            Scheme::Oss | Scheme::File => {
                "pass the invocation's own (Function Compute's x-fc-* headers), set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or give the instance or pod a RAM role"
            }
        };
        return FetchError::Denied {
            uri: uri_text,
            detail: format!("no credentials to sign with: {advice} ({})", brief(err)),
        };
    }
    match err.kind() {
        ErrorKind::NotFound => FetchError::NotFound { uri: uri_text },
        ErrorKind::PermissionDenied => {
            let advice = match uri.scheme {
                Scheme::Oss => {
                    "grant oss:GetObject (oss:ListObjects to list) on the bucket to the RAM role or user whose keys sign — for Function Compute, the function's role — and check the keys are current and the endpoint is the bucket's region"
                }
                Scheme::S3 => {
                    "grant s3:GetObject (s3:ListBucket to list) to the keys' user or role, and check the keys and region"
                }
                Scheme::File => "make the file readable by the service's user",
            };
            FetchError::Denied {
                uri: uri_text,
                detail: format!("{advice} ({})", brief(err)),
            }
        }
        ErrorKind::RateLimited => FetchError::Transient {
            uri: uri_text,
            detail: format!("throttled ({})", brief(err)),
        },
        _ if err.is_temporary() => FetchError::Transient {
            uri: uri_text,
            detail: brief(err),
        },
        ErrorKind::ConfigInvalid | ErrorKind::Unsupported => FetchError::Invalid {
            uri: uri_text,
            detail: format!("the store is misconfigured: {}", brief(err)),
        },
        _ => FetchError::Invalid {
            uri: uri_text,
            detail: format!(
                "the store refused the request, and a retry would not help: {}",
                brief(err)
            ),
        },
    }
}

/// opendal's message, bounded: its context (the URL, the response's headers) can be long.
fn brief(err: &opendal::Error) -> String {
    const MAX: usize = 600;
    let text = err.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// opendal's HTTP transport over our reqwest client (the `opendal` facade only installs its own
/// with features we do not build).
#[derive(Clone)]
struct ReqwestTransport(reqwest::Client);

impl HttpTransport for ReqwestTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let (parts, body) = req.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|err| {
            opendal::Error::new(ErrorKind::Unexpected, "request url is invalid").set_source(err)
        })?;
        let is_head = parts.method == http::Method::HEAD;
        let mut request = self
            .0
            .request(parts.method, url)
            .headers(parts.headers)
            .version(parts.version);
        if !body.is_empty() {
            request = request.body(body.to_bytes());
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let content_length = if is_head
            || response
                .headers()
                .contains_key(http::header::CONTENT_ENCODING)
        {
            None
        } else {
            opendal::raw::parse_content_length(response.headers())?
        };
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version())
            .extension(parts.uri);
        if let Some(headers) = builder.headers_mut() {
            std::mem::swap(headers, response.headers_mut());
        }
        let stream = response
            .bytes_stream()
            .map_ok(Buffer::from)
            .map_err(transport_error);
        builder
            .body(HttpBody::new(stream, content_length))
            .map_err(|err| {
                opendal::Error::new(ErrorKind::Unexpected, "cannot build the response")
                    .set_source(err)
            })
    }
}

fn transport_error(err: reqwest::Error) -> opendal::Error {
    let temporary = err.is_timeout()
        || err.is_connect()
        || err.is_request()
        || err.is_body()
        || err.is_decode();
    let err = opendal::Error::new(ErrorKind::Unexpected, "the HTTP request failed")
        .set_source(err.without_url());
    if temporary { err.set_temporary() } else { err }
}
