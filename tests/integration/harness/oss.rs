//! A fake OSS on 127.0.0.1: HeadObject, GetObject and ListObjectsV2, with signatures checked.
//!
//! Buckets are virtual hosts of [`DOMAIN`] (`bucket.oss-test.localhost:PORT`), the way opendal
//! addresses them; [`FakeOss::client`] maps those names to the fake. Every request must be signed
//! as reqsign-aliyun-oss signs by default (V1: `Authorization: OSS <ak>:<base64 HMAC-SHA1>`), and
//! the fake recomputes the signature from what it received — verb, Content-MD5, Content-Type, Date
//! (at most 15 minutes off), the `x-oss-*` headers, and the resource `/bucket/key` (decoded) with
//! the query's sub-resources — with the secret it was started with. With an STS token configured,
//! `x-oss-security-token` must equal it (and be absent without one). Refusals are 403s with OSS's
//! XML error body and codes: AccessDenied, InvalidArgument, InvalidAccessKeyId,
//! SignatureDoesNotMatch, InvalidSecurityToken, RequestTimeTooSkewed.
//!
//! Objects get OSS's eTag (upper-case hex MD5, quoted on the wire); `If-Match` is honoured (412
//! PreconditionFailed). What opendal does not send for a whole read or a recursive listing
//! (`Range`, `delimiter`, `start-after`) is refused with 501, so a change in opendal shows.
//! Scripted [`Fault`]s apply to the next requests in order (an error status or a delay), and
//! [`FakeOss::replace_before_next_get`] swaps an object's content just before the next GET, as an
//! upload racing a fetch would. Every request is recorded, the signature and the token redacted.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use adbrag::ingest::object::Credentials;
use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, Uri, header},
    response::Response,
};
use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use hmac::{KeyInit, Mac};
use md5::Digest;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

/// Buckets are its subdomains; the endpoint is `http://oss-test.localhost:PORT`.
pub const DOMAIN: &str = "oss-test.localhost";
/// What a recorded secret reads.
pub const REDACTED: &str = "<redacted>";

/// The keys the fake accepts.
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl Keys {
    pub fn long_lived() -> Self {
        Self {
            access_key_id: "LTAI-test-key".into(),
            access_key_secret: "test-secret-0123456789".into(),
            security_token: None,
        }
    }

    pub fn sts() -> Self {
        Self {
            access_key_id: "STS.test-key".into(),
            access_key_secret: "sts-secret-0123456789".into(),
            security_token: Some("CAIS-test-security-token".into()),
        }
    }

    pub fn credentials(&self) -> Credentials {
        Credentials {
            access_key_id: self.access_key_id.clone(),
            access_key_secret: self.access_key_secret.clone().into(),
            security_token: self.security_token.clone().map(Into::into),
        }
    }
}

/// One scripted misbehaviour, used by the next request and then discarded.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An error status with OSS's XML body (403 AccessDenied, 500 InternalError, 503 …).
    Status(u16),
    /// Answer normally, after this long.
    Delay(Duration),
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// From the Host header.
    pub bucket: String,
    /// As sent, still percent-encoded.
    pub raw_path: String,
    /// Decoded.
    pub key: String,
    pub query: String,
    /// Lower-case names; `authorization` reads `OSS <ak>:<redacted>`, `x-oss-security-token`
    /// [`REDACTED`].
    pub headers: BTreeMap<String, String>,
}

#[derive(Default)]
struct Object {
    bytes: Vec<u8>,
    etag: String,
    modified: DateTime<Utc>,
    meta: Vec<(String, String)>,
}

struct Shared {
    keys: Keys,
    objects: Mutex<BTreeMap<(String, String), Object>>,
    faults: Mutex<VecDeque<Fault>>,
    replace: Mutex<Option<(String, String, Vec<u8>)>>,
    recorded: Mutex<Vec<Recorded>>,
    page_size: AtomicUsize,
}

pub struct FakeOss {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOss {
    pub async fn start(keys: Keys) -> Self {
        let shared = Arc::new(Shared {
            keys,
            objects: Mutex::default(),
            faults: Mutex::default(),
            replace: Mutex::default(),
            recorded: Mutex::default(),
            page_size: AtomicUsize::new(1000),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// What ADBRAG_OSS_ENDPOINT would be.
    pub fn endpoint(&self) -> String {
        format!("http://{DOMAIN}:{}", self.addr.port())
    }

    /// A client that resolves `<bucket>.oss-test.localhost` to the fake, for these buckets.
    pub fn client(&self, buckets: &[&str]) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().no_proxy();
        for bucket in buckets {
            builder = builder.resolve(&format!("{bucket}.{DOMAIN}"), self.addr);
        }
        builder.build().unwrap()
    }

    /// Stores an object (replacing any) and returns its eTag, unquoted.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8], meta: &[(&str, &str)]) -> String {
        let mut objects = self.shared.objects.lock().unwrap();
        let object = objects.entry((bucket.into(), key.into())).or_default();
        object.meta = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        set_content(object, bytes.to_vec());
        object.etag.clone()
    }

    pub fn remove(&self, bucket: &str, key: &str) {
        let mut objects = self.shared.objects.lock().unwrap();
        objects.remove(&(bucket.into(), key.into()));
    }

    /// When the object was last put (what Last-Modified says).
    pub fn modified(&self, bucket: &str, key: &str) -> Option<DateTime<Utc>> {
        let objects = self.shared.objects.lock().unwrap();
        objects
            .get(&(bucket.into(), key.into()))
            .map(|o| o.modified)
    }

    pub fn push_fault(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push_back(fault);
    }

    /// The next GET of this object first replaces its content (a new eTag), metadata kept.
    pub fn replace_before_next_get(&self, bucket: &str, key: &str, bytes: &[u8]) {
        *self.shared.replace.lock().unwrap() = Some((bucket.into(), key.into(), bytes.to_vec()));
    }

    /// ListObjectsV2 pages hold at most this many entries (default 1000, as OSS).
    pub fn set_page_size(&self, size: usize) {
        self.shared.page_size.store(size.max(1), Ordering::Relaxed);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// The recorded methods, in order: `["HEAD", "GET"]`.
    pub fn methods(&self) -> Vec<String> {
        self.recorded().into_iter().map(|r| r.method).collect()
    }
}

impl Drop for FakeOss {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn set_content(object: &mut Object, bytes: Vec<u8>) {
    object.etag = hex::encode_upper(md5::Md5::digest(&bytes));
    object.bytes = bytes;
    object.modified = Utc::now().trunc_subsecs(0);
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let host = header_str(&headers, "host");
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let bucket = host.strip_suffix(&format!(".{DOMAIN}")).unwrap_or("");
    let query = uri.query().unwrap_or("");
    let Ok(key) = percent_decode_str(uri.path().trim_start_matches('/')).decode_utf8() else {
        return error(400, "InvalidURI", "the path is not percent-encoded UTF-8");
    };
    let recorded = headers.iter().map(|(name, value)| {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let value = match (name.as_str(), value.split_once(':')) {
            // The key id stays: tests check which keys signed.
            ("authorization", Some((id, _))) => format!("{id}:{REDACTED}"),
            ("authorization" | "x-oss-security-token", _) => REDACTED.to_owned(),
            _ => value,
        };
        (name.as_str().to_owned(), value)
    });
    shared.recorded.lock().unwrap().push(Recorded {
        method: method.to_string(),
        bucket: bucket.to_owned(),
        raw_path: uri.path().to_owned(),
        key: key.to_string(),
        query: query.to_owned(),
        headers: recorded.collect(),
    });

    let fault = shared.faults.lock().unwrap().pop_front();
    match fault {
        Some(Fault::Status(status)) => {
            let code = match status {
                403 => "AccessDenied",
                429 => "TooManyRequests",
                500 => "InternalError",
                503 => "ServiceUnavailable",
                _ => "InjectedFault",
            };
            return error(status, code, "a fault the test scripted");
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    if bucket.is_empty() {
        return error(400, "InvalidBucketName", "no bucket in Host");
    }
    if let Err((code, message)) = verify(&shared.keys, &method, bucket, &key, query, &headers) {
        return error(403, code, &message);
    }
    match (&method, key.is_empty()) {
        (&Method::HEAD | &Method::GET, false) => object(&shared, &method, bucket, &key, &headers),
        (&Method::GET, true) => list(&shared, bucket, query),
        _ => error(405, "MethodNotAllowed", "the fake serves HEAD and GET only"),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The V1 header signature check, as OSS does it: Err((code, message)).
fn verify(
    keys: &Keys,
    method: &Method,
    bucket: &str,
    key: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<(), (&'static str, String)> {
    let refuse = |code, message: &str| Err((code, message.to_owned()));
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return refuse("AccessDenied", "anonymous access is forbidden");
    };
    let parsed = auth.to_str().ok().and_then(|v| v.strip_prefix("OSS "));
    let Some((access_key_id, signature)) = parsed.and_then(|v| v.split_once(':')) else {
        return refuse("InvalidArgument", "not `OSS AccessKeyId:Signature`");
    };
    if access_key_id != keys.access_key_id {
        return refuse("InvalidAccessKeyId", "the OSS access key id does not exist");
    }
    let date = header_str(headers, "date");
    let Ok(sent) = DateTime::parse_from_rfc2822(date) else {
        return refuse("AccessDenied", "the Date header is missing or malformed");
    };
    if (Utc::now() - sent.with_timezone(&Utc)).abs() > chrono::Duration::minutes(15) {
        return refuse("RequestTimeTooSkewed", "Date is 15+ minutes off");
    }
    let token = headers.get("x-oss-security-token").map(|v| v.as_bytes());
    if token != keys.security_token.as_ref().map(|t| t.as_bytes()) {
        return refuse("InvalidSecurityToken", "wrong, missing or unexpected token");
    }
    let mut oss_headers: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-oss-"))
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("")))
        .collect();
    oss_headers.sort_by_key(|(name, _)| *name);
    let md5 = header_str(headers, "content-md5");
    let mut to_sign = format!("{method}\n{md5}\n{}\n", header_str(headers, "content-type"));
    to_sign.push_str(&format!("{date}\n"));
    for (name, value) in oss_headers {
        to_sign.push_str(&format!("{name}:{value}\n"));
    }
    // The resource: the decoded key, and the sub-resources of the query, sorted.
    to_sign.push_str(&format!("/{bucket}/{key}"));
    let mut subs: Vec<_> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| SUB_RESOURCES.split_whitespace().any(|s| s == k))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        let separator = if i == 0 { '?' } else { '&' };
        match v.is_empty() {
            true => to_sign.push_str(&format!("{separator}{k}")),
            false => to_sign.push_str(&format!("{separator}{k}={v}")),
        }
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(keys.access_key_secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if expected != signature {
        let message = format!("the signature we calculated differs; StringToSign: {to_sign:?}");
        return refuse("SignatureDoesNotMatch", &message);
    }
    Ok(())
}

/// Query parameters that are part of the signed resource (the OSS SDKs' list, abridged to what
/// reads and listings can carry).
const SUB_RESOURCES: &str = "acl append continuation-token delete objectMeta partNumber position \
    response-cache-control response-content-disposition response-content-encoding \
    response-content-language response-content-type response-expires security-token symlink \
    tagging uploadId uploads versionId versioning versions x-oss-process";

fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let pairs = query.split('&').filter(|pair| !pair.is_empty());
    pairs
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn object(
    shared: &Shared,
    method: &Method,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> Response {
    if headers.contains_key(header::RANGE) {
        return error(501, "NotImplemented", "the fake serves no Range");
    }
    let mut objects = shared.objects.lock().unwrap();
    let replace = match method {
        &Method::GET => shared.replace.lock().unwrap().take(),
        _ => None,
    };
    if let Some((b, k, bytes)) = replace
        && let Some(object) = objects.get_mut(&(b, k))
    {
        set_content(object, bytes);
    }
    let Some(object) = objects.get(&(bucket.into(), key.into())) else {
        return error(404, "NoSuchKey", "The specified key does not exist.");
    };
    let if_match = header_str(headers, "if-match");
    if !if_match.is_empty() && if_match.trim_matches('"') != object.etag {
        let message = "At least one of the pre-conditions you specified did not hold";
        return error(412, "PreconditionFailed", message);
    }
    let modified = object.modified.format("%a, %d %b %Y %H:%M:%S GMT");
    let mut response = Response::builder()
        .header(header::ETAG, format!("\"{}\"", object.etag))
        .header(header::LAST_MODIFIED, modified.to_string())
        .header(header::CONTENT_TYPE, "application/octet-stream");
    for (name, value) in &object.meta {
        response = response.header(format!("x-oss-meta-{name}"), value);
    }
    let response = match method {
        &Method::HEAD => response
            .header(header::CONTENT_LENGTH, object.bytes.len())
            .body(Body::empty()),
        _ => response.body(Body::from(object.bytes.clone())),
    };
    response.unwrap()
}

fn list(shared: &Shared, bucket: &str, query: &str) -> Response {
    let params: HashMap<String, String> = query_pairs(query).into_iter().collect();
    let param = |name: &str| params.get(name).map_or("", String::as_str);
    if param("list-type") != "2" {
        return error(
            400,
            "InvalidArgument",
            "the fake lists with list-type=2 only",
        );
    }
    if !param("delimiter").is_empty() || !param("start-after").is_empty() {
        return error(501, "NotImplemented", "no delimiter or start-after");
    }
    let (prefix, token) = (param("prefix"), param("continuation-token"));
    let max_keys: usize = param("max-keys").parse().unwrap_or(1000);
    let page = max_keys.min(shared.page_size.load(Ordering::Relaxed));
    let objects = shared.objects.lock().unwrap();
    let mut matching = objects
        .range((bucket.to_owned(), token.to_owned())..)
        .take_while(|((b, _), _)| b == bucket)
        .filter(|((_, key), _)| key.starts_with(prefix));
    let mut contents = String::new();
    let mut count = 0;
    for ((_, key), object) in matching.by_ref().take(page) {
        count += 1;
        contents.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Type>Normal</Type><Size>{}</Size><StorageClass>Standard</StorageClass></Contents>",
            xml_escape(key),
            object.modified.format("%Y-%m-%dT%H:%M:%S.000Z"),
            object.etag,
            object.bytes.len()
        ));
    }
    // The token is the next key: opaque to clients, as OSS's are.
    let next = matching.next().map_or(String::new(), |((_, key), _)| {
        format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            xml_escape(key)
        )
    });
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>{bucket}</Name><Prefix>{}</Prefix><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{}</IsTruncated><KeyCount>{count}</KeyCount>{next}{contents}</ListBucketResult>",
        xml_escape(prefix),
        !next.is_empty(),
    );
    let response = Response::builder().header(header::CONTENT_TYPE, "application/xml");
    response.body(Body::from(xml)).unwrap()
}

fn xml_escape(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;");
    escaped.replace('>', "&gt;").replace('"', "&quot;")
}

/// OSS's error answer: the status, `application/xml`, and `<Error><Code>…` (no body for HEAD).
fn error(status: u16, code: &str, message: &str) -> Response {
    let request_id = format!("{:024X}", fastrand::u128(..) >> 32);
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  <Message>{}</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>{DOMAIN}</HostId>\n</Error>\n",
        xml_escape(message)
    );
    let response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml");
    response
        .header("x-oss-request-id", request_id)
        .body(Body::from(xml))
        .unwrap()
}
