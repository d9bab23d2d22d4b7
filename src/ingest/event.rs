//! OSS upload events (the Function Compute trigger payload) and the routes that map buckets to collections.
//!
//! Pure decoding, no I/O: [`decode`] turns a trigger body into events (one malformed event does
//! not spoil the others), [`check_key`] refuses object keys that must never be ingested, and
//! [`Routes`] (`ADBRAG_OSS_ROUTES`) says which collection and tenant an object belongs to.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// OSS's limit on the length of an object key, in bytes.
pub const MAX_KEY_BYTES: usize = 1023;

/// The tenant of a route that names none.
pub const DEFAULT_TENANT: &str = "default";

/// What an event means for the document stored under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The object was written: ingest (or re-ingest) it.
    Created,
    /// The object was deleted: delete its document.
    Removed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Removed => "removed",
        }
    }
}

/// The events we act on, by canonical name (without `oss:`).
const KNOWN_EVENTS: [(&str, Action); 8] = [
    ("ObjectCreated:PutObject", Action::Created),
    ("ObjectCreated:PostObject", Action::Created),
    ("ObjectCreated:CopyObject", Action::Created),
    ("ObjectCreated:AppendObject", Action::Created),
    ("ObjectCreated:CompleteMultipartUpload", Action::Created),
    ("ObjectCreated:PutSymlink", Action::Created),
    ("ObjectRemoved:DeleteObject", Action::Removed),
    ("ObjectRemoved:DeleteObjects", Action::Removed),
];

/// The kind of an event, from its `eventName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An event we act on; `name` is canonical (no `oss:` prefix).
    Known { name: &'static str, action: Action },
    /// Anything else (`ObjectCreated:InitiateMultipartUpload`, `ObjectModified:UpdateObjectMeta`,
    /// typos), without its `oss:` prefix: acknowledge and log it, never retry.
    Unknown(String),
}

impl EventKind {
    /// Classifies an `eventName`, with or without an `oss:` prefix.
    pub fn from_name(name: &str) -> Self {
        let bare = name.strip_prefix("oss:").unwrap_or(name);
        KNOWN_EVENTS
            .iter()
            .find(|(known, _)| *known == bare)
            .map(|&(name, action)| Self::Known { name, action })
            .unwrap_or_else(|| Self::Unknown(bare.to_owned()))
    }

    /// The name without `oss:`.
    pub fn name(&self) -> &str {
        match self {
            Self::Known { name, .. } => name,
            Self::Unknown(name) => name,
        }
    }

    /// What to do with the document; `None` for an unknown event.
    pub fn action(&self) -> Option<Action> {
        match self {
            Self::Known { action, .. } => Some(*action),
            Self::Unknown(_) => None,
        }
    }
}

/// One event of a trigger payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `eventName` exactly as in the payload (possibly `oss:`-prefixed); see `kind`.
    pub name: String,
    pub kind: EventKind,
    pub time: DateTime<Utc>,
    pub region: Option<String>,
    pub bucket: String,
    /// `oss.object.key` exactly as in the payload; see [`Event::key_candidates`].
    pub key: String,
    /// The ETag without surrounding quotes; usually absent for deletes.
    pub etag: Option<String>,
    /// The object size; absent or 0 for deletes.
    pub size: Option<u64>,
    /// `oss.object.objectMeta.userMeta` (the document's metadata); empty when absent.
    pub user_meta: Map<String, Value>,
    /// `responseElements.requestId`: the OSS request that caused the event, for logs.
    pub request_id: Option<String>,
}

/// The body is not a trigger payload at all; nothing in it can be processed.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error(
        "the body is not a Function Compute OSS trigger payload: expected {{\"events\":[…]}}: it is not JSON: {0}"
    )]
    NotJson(#[source] serde_json::Error),
    #[error(
        "the body is not a Function Compute OSS trigger payload: expected {{\"events\":[…]}}: it is JSON {0}, not an object"
    )]
    NotObject(&'static str),
    #[error(
        "the body is not a Function Compute OSS trigger payload: expected {{\"events\":[…]}}: it has no \"events\" field"
    )]
    NoEvents,
    #[error(
        "the body is not a Function Compute OSS trigger payload: expected {{\"events\":[…]}}: \"events\" is {0}, not an array"
    )]
    EventsNotArray(&'static str),
}

/// What is wrong with one field of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventProblem {
    Missing,
    Empty,
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    BadTime {
        value: String,
        detail: String,
    },
}

impl fmt::Display for EventProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is missing"),
            Self::Empty => f.write_str("is empty"),
            Self::WrongType { expected, found } => write!(f, "is {found}, expected {expected}"),
            Self::BadTime { value, detail } => {
                write!(f, "{value:?} is not an RFC 3339 time ({detail})")
            }
        }
    }
}

/// One event of a payload is malformed; the other events are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// The event's position in `events`, from 0.
    pub index: usize,
    /// The JSON path of the field within the event, e.g. `oss.object.key`; empty: the event itself.
    pub field: String,
    pub problem: EventProblem,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "events[{}]", self.index)?;
        if !self.field.is_empty() {
            write!(f, ".{}", self.field)?;
        }
        write!(
            f,
            " {}: this is not a valid OSS trigger event, it is acknowledged without ingesting; \
             check what sends the trigger",
            self.problem
        )
    }
}

impl std::error::Error for EventError {}

/// Decodes a trigger body: the envelope must be `{"events":[…]}`; each event decodes on its own.
/// `{"events":[]}` is valid and yields nothing.
pub fn decode(body: &[u8]) -> Result<Vec<Result<Event, EventError>>, PayloadError> {
    let envelope: Value = serde_json::from_slice(body).map_err(PayloadError::NotJson)?;
    let Value::Object(mut envelope) = envelope else {
        return Err(PayloadError::NotObject(json_kind(&envelope)));
    };
    match envelope.remove("events") {
        None | Some(Value::Null) => Err(PayloadError::NoEvents),
        Some(Value::Array(events)) => Ok(events
            .iter()
            .enumerate()
            .map(|(index, event)| decode_event(index, event))
            .collect()),
        Some(other) => Err(PayloadError::EventsNotArray(json_kind(&other))),
    }
}

fn decode_event(index: usize, event: &Value) -> Result<Event, EventError> {
    let fields = Fields { index, root: event };
    if !event.is_object() {
        return Err(fields.error(
            "",
            EventProblem::WrongType {
                expected: "an object",
                found: json_kind(event),
            },
        ));
    }
    let name = fields.required_string("eventName")?;
    let time_text = fields.required_string("eventTime")?;
    let time = DateTime::parse_from_rfc3339(&time_text)
        .map_err(|error| {
            fields.error(
                "eventTime",
                EventProblem::BadTime {
                    value: time_text.clone(),
                    detail: error.to_string(),
                },
            )
        })?
        .with_timezone(&Utc);
    let bucket = fields.required_string("oss.bucket.name")?;
    // An empty key is decoded; `check_key` refuses it with the other unusable keys.
    let key = fields
        .string("oss.object.key")?
        .ok_or_else(|| fields.error("oss.object.key", EventProblem::Missing))?;
    let etag = fields
        .string("oss.object.eTag")?
        .map(|etag| strip_quotes(&etag).to_owned())
        .filter(|etag| !etag.is_empty());
    let size = match fields.get("oss.object.size")? {
        None => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            fields.error(
                "oss.object.size",
                EventProblem::WrongType {
                    expected: "a non-negative integer",
                    found: json_kind(value),
                },
            )
        })?),
    };
    let user_meta = match fields.get("oss.object.objectMeta.userMeta")? {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(fields.error(
                "oss.object.objectMeta.userMeta",
                EventProblem::WrongType {
                    expected: "an object",
                    found: json_kind(other),
                },
            ));
        }
    };
    Ok(Event {
        kind: EventKind::from_name(&name),
        name,
        time,
        region: fields.string("region")?,
        bucket,
        key,
        etag,
        size,
        user_meta,
        request_id: fields.string("responseElements.requestId")?,
    })
}

/// Field access within one event, with errors naming the event and the field.
struct Fields<'a> {
    index: usize,
    root: &'a Value,
}

impl<'a> Fields<'a> {
    fn error(&self, field: &str, problem: EventProblem) -> EventError {
        EventError {
            index: self.index,
            field: field.to_owned(),
            problem,
        }
    }

    /// The value at a dotted path; `None` when it (or an object on the way) is absent or null.
    fn get(&self, path: &str) -> Result<Option<&'a Value>, EventError> {
        let mut current = self.root;
        let mut walked: usize = 0;
        for part in path.split('.') {
            let Value::Object(map) = current else {
                return Err(self.error(
                    path.get(..walked.saturating_sub(1)).unwrap_or(path),
                    EventProblem::WrongType {
                        expected: "an object",
                        found: json_kind(current),
                    },
                ));
            };
            match map.get(part) {
                None | Some(Value::Null) => return Ok(None),
                Some(value) => current = value,
            }
            walked += part.len() + 1;
        }
        Ok(Some(current))
    }

    fn string(&self, path: &str) -> Result<Option<String>, EventError> {
        match self.get(path)? {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.error(
                path,
                EventProblem::WrongType {
                    expected: "a string",
                    found: json_kind(other),
                },
            )),
        }
    }

    fn required_string(&self, path: &str) -> Result<String, EventError> {
        match self.string(path)? {
            None => Err(self.error(path, EventProblem::Missing)),
            Some(text) if text.is_empty() => Err(self.error(path, EventProblem::Empty)),
            Some(text) => Ok(text),
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `"ABC"` → `ABC`; anything else unchanged.
fn strip_quotes(etag: &str) -> &str {
    etag.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(etag)
}

impl Event {
    /// What the event means for the document; `None` for an unknown event (acknowledge, log).
    pub fn action(&self) -> Option<Action> {
        self.kind.action()
    }

    /// The same for every delivery of this event (a redelivery repeats the payload, time
    /// included), distinct across (bucket, key, ETag, kind, event time).
    ///
    /// Format: `oss-v1:<created|removed|unknown>:<64 hex>`, always 79 bytes. The hex is the
    /// SHA-256 of the length-prefixed parts — a version tag, the bucket, the raw key, the kind's
    /// canonical name (so an `oss:` prefix makes no difference), the ETag (tagged present or
    /// absent) and the event time. The time matters: uploading the same bytes again after a delete
    /// has the same ETag, and must not be taken for a redelivery of the first upload. Length
    /// prefixes make it unambiguous whatever the key contains.
    pub fn idempotency_key(&self) -> String {
        let mut hash = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        part(b"adbrag-oss-event-v1");
        part(self.bucket.as_bytes());
        part(self.key.as_bytes());
        part(self.kind.name().as_bytes());
        match &self.etag {
            Some(etag) => {
                part(b"etag");
                part(etag.as_bytes());
            }
            None => part(b"no-etag"),
        }
        part(b"time");
        part(
            self.time
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .as_bytes(),
        );
        let label = self.action().map_or("unknown", Action::as_str);
        format!("oss-v1:{label}:{}", hex::encode(hash.finalize()))
    }

    /// The keys the object may be stored under, to try in order: the raw key, then, only if the
    /// raw key percent-decodes strictly (every `%` starts a valid `%XX`, the result is UTF-8) to
    /// something different, the decoded key. `+` stays `+`. Unchecked: see
    /// [`Event::safe_key_candidates`].
    pub fn key_candidates(&self) -> Vec<String> {
        key_candidates(&self.key)
    }

    /// The [`Event::key_candidates`] that pass [`check_key`], in order. When none does, the raw
    /// key's error: acknowledge the event without ingesting (a folder marker is not even worth a
    /// warning).
    pub fn safe_key_candidates(&self) -> Result<Vec<String>, KeyError> {
        let mut first_error = None;
        let mut safe = Vec::new();
        for candidate in self.key_candidates() {
            match check_key(&candidate) {
                Ok(()) => safe.push(candidate),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if safe.is_empty() => Err(error),
            _ => Ok(safe),
        }
    }
}

/// The keys an event's `key` may stand for, in the order to try them: as given, then strictly
/// percent-decoded when that differs (see [`Event::key_candidates`]). Check each with
/// [`check_key`] before use.
pub fn key_candidates(key: &str) -> Vec<String> {
    let mut candidates = vec![key.to_owned()];
    if let Some(decoded) = percent_decode_strict(key)
        && decoded != key
    {
        candidates.push(decoded);
    }
    candidates
}

/// Strict percent-decoding: `None` if there is no `%`, if any `%` is not followed by two hex
/// digits, or if the bytes are not UTF-8. `+` is left alone.
fn percent_decode_strict(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = bytes.next().and_then(hex_digit)?;
            let low = bytes.next().and_then(hex_digit)?;
            out.push((high << 4) | low);
        } else {
            out.push(byte);
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// An object key that is not ingested. `key` is the key quoted and escaped for logs (and cut
/// short when long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the object key is empty: the event is acknowledged without ingesting")]
    Empty,
    #[error(
        "object key {key} is {len} bytes, more than OSS's limit of {MAX_KEY_BYTES}: the event is acknowledged without ingesting"
    )]
    TooLong { key: String, len: usize },
    #[error(
        "object key {key} contains the control character U+{code:04X}: the event is acknowledged without ingesting"
    )]
    ControlCharacter { key: String, code: u32 },
    #[error(
        "object key {key} starts with '/', which OSS keys never do: the event is acknowledged without ingesting"
    )]
    LeadingSlash { key: String },
    #[error(
        "object key {key} has a '.' or '..' path segment: the event is acknowledged without ingesting; rename the object"
    )]
    DotSegment { key: String },
    /// Not an error as such: the caller ignores the event.
    #[error(
        "object key {key} ends in '/': it is a folder marker, not a document; the event is acknowledged without ingesting"
    )]
    FolderMarker { key: String },
}

impl KeyError {
    /// A folder marker: ignore the event quietly.
    pub fn is_folder_marker(&self) -> bool {
        matches!(self, Self::FolderMarker { .. })
    }
}

/// Refuses keys that must not be ingested: empty, longer than 1023 bytes, with control
/// characters, a leading `/` or a `.`/`..` segment; a key ending in `/` is a
/// [`KeyError::FolderMarker`].
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    let shown = || shown_key(key);
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong {
            key: shown(),
            len: key.len(),
        });
    }
    if let Some(control) = key.chars().find(|c| c.is_control()) {
        return Err(KeyError::ControlCharacter {
            key: shown(),
            code: u32::from(control),
        });
    }
    if key.starts_with('/') {
        return Err(KeyError::LeadingSlash { key: shown() });
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(KeyError::DotSegment { key: shown() });
    }
    if key.ends_with('/') {
        return Err(KeyError::FolderMarker { key: shown() });
    }
    Ok(())
}

/// A key for messages: quoted, escaped, at most 200 characters of it.
fn shown_key(key: &str) -> String {
    const SHOWN: usize = 200;
    match key.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{:?}…", &key[..end]),
        None => format!("{key:?}"),
    }
}

/// Where objects under a bucket (and key prefix) are ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub bucket: String,
    /// A plain string prefix of the key, as in OSS trigger prefix filters: `docs` matches
    /// `docs/a.pdf` and `docs2/b.pdf`; `docs/` only the first. Empty: the whole bucket.
    pub prefix: String,
    pub collection: String,
    pub tenant: String,
}

impl fmt::Display for Route {
    /// The `ADBRAG_OSS_ROUTES` syntax, tenant always written: `bucket[/prefix]=collection@tenant`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        write!(f, "={}@{}", self.collection, self.tenant)
    }
}

/// `ADBRAG_OSS_ROUTES`: a comma-separated list of `bucket[/prefix]=collection[@tenant]`.
///
/// The prefix is everything after the first `/` up to `=`, compared as a plain string prefix, so a
/// trailing `/` matters (`b/docs` and `b/docs/` are different routes) while `b` and `b/` are the
/// same one. Whitespace around items, `=` and `@` is ignored, and so are empty items. The longest
/// matching prefix wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
}

const ROUTE_SYNTAX: &str = "write bucket[/prefix]=collection[@tenant]";

/// An `ADBRAG_OSS_ROUTES` item that cannot be used; the service should not start with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("ADBRAG_OSS_ROUTES item '{item}' has no '=': {ROUTE_SYNTAX}")]
    MissingEquals { item: String },
    #[error("ADBRAG_OSS_ROUTES item '{item}' has no bucket: {ROUTE_SYNTAX}")]
    EmptyBucket { item: String },
    #[error(
        "ADBRAG_OSS_ROUTES item '{item}': '{bucket}' is not an OSS bucket name: use 3-63 lower-case letters, digits or '-', not starting or ending with '-'"
    )]
    InvalidBucket { item: String, bucket: String },
    #[error(
        "ADBRAG_OSS_ROUTES item '{item}': the prefix {reason}, so it can never match a key: fix the prefix"
    )]
    InvalidPrefix { item: String, reason: &'static str },
    #[error("ADBRAG_OSS_ROUTES item '{item}' has no collection: {ROUTE_SYNTAX}")]
    EmptyCollection { item: String },
    #[error(
        "ADBRAG_OSS_ROUTES item '{item}': '{collection}' is not a valid collection name: use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidCollection { item: String, collection: String },
    #[error(
        "ADBRAG_OSS_ROUTES item '{item}' has an empty tenant after '@': name the tenant or drop the '@' for tenant '{DEFAULT_TENANT}'"
    )]
    EmptyTenant { item: String },
    #[error(
        "ADBRAG_OSS_ROUTES item '{item}': the tenant '{tenant}' contains whitespace or a control character: fix the tenant"
    )]
    InvalidTenant { item: String, tenant: String },
    #[error(
        "ADBRAG_OSS_ROUTES items '{first}' and '{second}' both route bucket '{bucket}' with prefix '{prefix}': keep one of them"
    )]
    Duplicate {
        first: String,
        second: String,
        bucket: String,
        prefix: String,
    },
}

impl Routes {
    /// Parses the `ADBRAG_OSS_ROUTES` syntax; an empty string is no routes.
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        let mut routes: Vec<(&str, Route)> = Vec::new();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let route = parse_route(item)?;
            if let Some((first, _)) = routes
                .iter()
                .find(|(_, seen)| seen.bucket == route.bucket && seen.prefix == route.prefix)
            {
                return Err(RouteError::Duplicate {
                    first: (*first).to_owned(),
                    second: item.to_owned(),
                    bucket: route.bucket,
                    prefix: route.prefix,
                });
            }
            routes.push((item, route));
        }
        Ok(Self {
            routes: routes.into_iter().map(|(_, route)| route).collect(),
        })
    }

    /// The route for an object: the longest prefix of `key` among the bucket's routes. Pass the
    /// key candidate being ingested.
    pub fn resolve(&self, bucket: &str, key: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|route| route.bucket == bucket && key.starts_with(route.prefix.as_str()))
            .max_by_key(|route| route.prefix.len())
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// The routes in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

impl FromStr for Routes {
    type Err = RouteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Routes {
    /// The `ADBRAG_OSS_ROUTES` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, route) in self.routes.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{route}")?;
        }
        Ok(())
    }
}

fn parse_route(item: &str) -> Result<Route, RouteError> {
    let owned = || item.to_owned();
    let (target, destination) = item
        .split_once('=')
        .ok_or_else(|| RouteError::MissingEquals { item: owned() })?;
    let target = target.trim();
    let (bucket, prefix) = target.split_once('/').unwrap_or((target, ""));
    if bucket.is_empty() {
        return Err(RouteError::EmptyBucket { item: owned() });
    }
    if !is_valid_bucket(bucket) {
        return Err(RouteError::InvalidBucket {
            item: owned(),
            bucket: bucket.to_owned(),
        });
    }
    if prefix.starts_with('/') {
        return Err(RouteError::InvalidPrefix {
            item: owned(),
            reason: "starts with '/' (OSS keys never do)",
        });
    }
    if prefix.chars().any(char::is_control) {
        return Err(RouteError::InvalidPrefix {
            item: owned(),
            reason: "contains a control character (OSS keys ingested never do)",
        });
    }
    let destination = destination.trim();
    let (collection, tenant) = match destination.split_once('@') {
        Some((collection, tenant)) => (collection.trim(), Some(tenant.trim())),
        None => (destination, None),
    };
    if collection.is_empty() {
        return Err(RouteError::EmptyCollection { item: owned() });
    }
    if !crate::store::collections::is_valid_name(collection) {
        return Err(RouteError::InvalidCollection {
            item: owned(),
            collection: collection.to_owned(),
        });
    }
    let tenant = match tenant {
        None => DEFAULT_TENANT,
        Some("") => return Err(RouteError::EmptyTenant { item: owned() }),
        Some(tenant) if tenant.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            return Err(RouteError::InvalidTenant {
                item: owned(),
                tenant: tenant.to_owned(),
            });
        }
        Some(tenant) => tenant,
    };
    Ok(Route {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        collection: collection.to_owned(),
        tenant: tenant.to_owned(),
    })
}

/// OSS bucket naming: 3-63 lower-case letters, digits and '-', not starting or ending with '-'.
fn is_valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    type PayloadCheck = fn(&PayloadError) -> bool;
    type RouteCheck = fn(&RouteError) -> bool;

    /// The documented payload shape, one event.
    const DOCUMENTED: &str = r#"{"events":[{"eventName":"ObjectCreated:PutObject","eventSource":"acs:oss","eventTime":"2026-11-30T08:21:42.000Z","eventVersion":"1.0",
 "oss":{"bucket":{"arn":"acs:oss:cn-hangzhou:1234567890:my-bucket","name":"my-bucket","ownerIdentity":"1234567890"},
        "object":{"deltaSize":1234,"eTag":"0AB1C2D3E4F5A6B7C8D9E0F1A2B3C4D5","key":"docs/a.pdf","size":1234,
                  "objectMeta":{"userMeta":{"subject-id":"42"},"mimeType":"application/pdf"}},
        "ossSchemaVersion":"1.0","ruleId":"rule-1"},
 "region":"cn-hangzhou","requestParameters":{"sourceIPAddress":"10.0.0.1"},"responseElements":{"requestId":"5F1A2B3C4D5E6F7A8B9C0D1E"},
 "userIdentity":{"principalId":"1234567890"}}]}"#;

    fn event_json(name: &str, key: &str, etag: Option<&str>) -> Value {
        let mut object = json!({ "key": key, "size": 10 });
        if let Some(etag) = etag {
            object["eTag"] = json!(etag);
        }
        json!({
            "eventName": name,
            "eventTime": "2026-11-30T08:21:42Z",
            "region": "cn-hangzhou",
            "oss": { "bucket": { "name": "my-bucket" }, "object": object },
        })
    }

    fn decode_all(events: Vec<Value>) -> Vec<Result<Event, EventError>> {
        let body = serde_json::to_vec(&json!({ "events": events })).expect("serializes");
        decode(&body).expect("a valid envelope")
    }

    fn one(event: Value) -> Result<Event, EventError> {
        let mut decoded = decode_all(vec![event]);
        assert_eq!(decoded.len(), 1);
        decoded.remove(0)
    }

    fn ok(event: Value) -> Event {
        one(event).expect("a valid event")
    }

    fn event_with_key(key: &str) -> Event {
        ok(event_json("ObjectCreated:PutObject", key, Some("E")))
    }

    #[test]
    fn decodes_the_documented_payload() {
        let decoded = decode(DOCUMENTED.as_bytes()).expect("valid envelope");
        assert_eq!(decoded.len(), 1);
        let event = decoded[0].as_ref().expect("valid event");
        assert_eq!(event.name, "ObjectCreated:PutObject");
        assert_eq!(
            event.kind,
            EventKind::Known {
                name: "ObjectCreated:PutObject",
                action: Action::Created
            }
        );
        assert_eq!(event.action(), Some(Action::Created));
        assert_eq!(
            event.time,
            DateTime::parse_from_rfc3339("2026-11-30T08:21:42Z")
                .expect("time")
                .with_timezone(&Utc)
        );
        assert_eq!(event.region.as_deref(), Some("cn-hangzhou"));
        assert_eq!(event.bucket, "my-bucket");
        assert_eq!(event.key, "docs/a.pdf");
        assert_eq!(
            event.etag.as_deref(),
            Some("0AB1C2D3E4F5A6B7C8D9E0F1A2B3C4D5")
        );
        assert_eq!(event.size, Some(1234));
        assert_eq!(
            Value::Object(event.user_meta.clone()),
            json!({"subject-id": "42"})
        );
        assert_eq!(
            event.request_id.as_deref(),
            Some("5F1A2B3C4D5E6F7A8B9C0D1E")
        );
    }

    #[test]
    fn decodes_several_events_in_order() {
        let decoded = decode_all(vec![
            event_json("ObjectCreated:PutObject", "a.pdf", Some("A")),
            event_json("ObjectCreated:PostObject", "b.pdf", Some("B")),
            event_json("ObjectRemoved:DeleteObject", "c.pdf", None),
        ]);
        let events: Vec<Event> = decoded
            .into_iter()
            .map(|event| event.expect("valid"))
            .collect();
        let summary: Vec<(&str, Option<Action>, Option<&str>)> = events
            .iter()
            .map(|e| (e.key.as_str(), e.action(), e.etag.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("a.pdf", Some(Action::Created), Some("A")),
                ("b.pdf", Some(Action::Created), Some("B")),
                ("c.pdf", Some(Action::Removed), None),
            ]
        );
    }

    #[test]
    fn classifies_every_known_event_and_nothing_else() {
        for (name, action) in [
            ("ObjectCreated:PutObject", Action::Created),
            ("ObjectCreated:PostObject", Action::Created),
            ("ObjectCreated:CopyObject", Action::Created),
            ("ObjectCreated:AppendObject", Action::Created),
            ("ObjectCreated:CompleteMultipartUpload", Action::Created),
            ("ObjectCreated:PutSymlink", Action::Created),
            ("ObjectRemoved:DeleteObject", Action::Removed),
            ("ObjectRemoved:DeleteObjects", Action::Removed),
        ] {
            assert_eq!(EventKind::from_name(name).action(), Some(action), "{name}");
        }
        for name in [
            "ObjectCreated:InitiateMultipartUpload",
            "ObjectModified:UpdateObjectMeta",
            "ObjectCreated:putobject",
            "ObjectCreated:*",
            "PutObject",
            "",
        ] {
            assert_eq!(
                EventKind::from_name(name),
                EventKind::Unknown(name.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn decodes_multipart_uploads_and_batch_deletes() {
        let created = ok(event_json(
            "ObjectCreated:CompleteMultipartUpload",
            "big.pdf",
            Some("\"3F-2\""),
        ));
        assert_eq!(created.action(), Some(Action::Created));
        assert_eq!(created.kind.name(), "ObjectCreated:CompleteMultipartUpload");
        let removed = ok(event_json("ObjectRemoved:DeleteObjects", "big.pdf", None));
        assert_eq!(removed.action(), Some(Action::Removed));
        assert_eq!(removed.kind.name(), "ObjectRemoved:DeleteObjects");
        assert_eq!(removed.etag, None);
    }

    #[test]
    fn an_unknown_event_decodes_as_unknown() {
        let event = ok(event_json(
            "ObjectCreated:InitiateMultipartUpload",
            "a.pdf",
            None,
        ));
        assert_eq!(
            event.kind,
            EventKind::Unknown("ObjectCreated:InitiateMultipartUpload".to_owned())
        );
        assert_eq!(event.action(), None);
        assert!(event.idempotency_key().starts_with("oss-v1:unknown:"));
    }

    #[test]
    fn an_oss_prefix_is_stripped_from_the_kind_only() {
        let event = ok(event_json("oss:ObjectRemoved:DeleteObject", "a.pdf", None));
        assert_eq!(event.name, "oss:ObjectRemoved:DeleteObject");
        assert_eq!(event.kind.name(), "ObjectRemoved:DeleteObject");
        assert_eq!(event.action(), Some(Action::Removed));
        assert_eq!(
            EventKind::from_name("oss:ObjectModified:UpdateObjectMeta"),
            EventKind::Unknown("ObjectModified:UpdateObjectMeta".to_owned())
        );
        let plain = ok(event_json("ObjectRemoved:DeleteObject", "a.pdf", None));
        assert_eq!(event.idempotency_key(), plain.idempotency_key());
    }

    #[test]
    fn no_events_is_valid() {
        assert!(decode(br#"{"events":[]}"#).expect("valid").is_empty());
    }

    #[test]
    fn etags_lose_their_quotes() {
        let quoted = ok(event_json("ObjectCreated:PutObject", "a", Some("\"ABC\"")));
        assert_eq!(quoted.etag.as_deref(), Some("ABC"));
        let bare = ok(event_json("ObjectCreated:PutObject", "a", Some("ABC")));
        assert_eq!(bare.etag.as_deref(), Some("ABC"));
        assert_eq!(quoted.idempotency_key(), bare.idempotency_key());
        let empty = ok(event_json("ObjectCreated:PutObject", "a", Some("\"\"")));
        assert_eq!(empty.etag, None);
    }

    #[test]
    fn user_meta_is_optional() {
        let mut with_meta = event_json("ObjectCreated:PutObject", "a", Some("E"));
        with_meta["oss"]["object"]["objectMeta"] =
            json!({"userMeta": {"owner": "hr", "lang": "zh"}, "mimeType": "text/plain"});
        let event = ok(with_meta);
        assert_eq!(
            Value::Object(event.user_meta),
            json!({"owner": "hr", "lang": "zh"})
        );

        let without = ok(event_json("ObjectCreated:PutObject", "a", Some("E")));
        assert!(without.user_meta.is_empty());
        assert_eq!(without.request_id, None);

        let mut no_user_meta = event_json("ObjectCreated:PutObject", "a", Some("E"));
        no_user_meta["oss"]["object"]["objectMeta"] = json!({"mimeType": "text/plain"});
        assert!(ok(no_user_meta).user_meta.is_empty());
    }

    #[test]
    fn deletes_without_size_decode() {
        let mut event = event_json("ObjectRemoved:DeleteObject", "a", None);
        event["oss"]["object"]
            .as_object_mut()
            .expect("object")
            .remove("size");
        assert_eq!(ok(event).size, None);
    }

    #[test]
    fn refuses_bodies_that_are_not_payloads() {
        let cases: [(&[u8], PayloadCheck); 7] = [
            (b"not json", |e| matches!(e, PayloadError::NotJson(_))),
            (b"", |e| matches!(e, PayloadError::NotJson(_))),
            (br#"[{"eventName":"x"}]"#, |e| {
                matches!(e, PayloadError::NotObject("an array"))
            }),
            (b"{}", |e| matches!(e, PayloadError::NoEvents)),
            (br#"{"Records":[]}"#, |e| {
                matches!(e, PayloadError::NoEvents)
            }),
            (br#"{"events":{"eventName":"x"}}"#, |e| {
                matches!(e, PayloadError::EventsNotArray("an object"))
            }),
            (br#"{"events":"[]"}"#, |e| {
                matches!(e, PayloadError::EventsNotArray("a string"))
            }),
        ];
        for (body, expected) in cases {
            let error = decode(body).expect_err("not a payload");
            assert!(expected(&error), "{error:?}");
            let message = error.to_string();
            assert!(
                message.starts_with(
                    "the body is not a Function Compute OSS trigger payload: expected {\"events\":[…]}: "
                ),
                "{message}"
            );
        }
    }

    #[test]
    fn one_bad_event_spoils_only_itself() {
        let mut no_key = event_json("ObjectCreated:PutObject", "x", Some("E"));
        no_key["oss"]["object"]
            .as_object_mut()
            .expect("object")
            .remove("key");
        let decoded = decode_all(vec![
            event_json("ObjectCreated:PutObject", "a", Some("A")),
            no_key,
            event_json("ObjectCreated:PutObject", "c", Some("C")),
        ]);
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[0].as_ref().expect("valid").key, "a");
        assert_eq!(decoded[2].as_ref().expect("valid").key, "c");
        let error = decoded[1].as_ref().expect_err("no key");
        assert_eq!(
            error,
            &EventError {
                index: 1,
                field: "oss.object.key".to_owned(),
                problem: EventProblem::Missing
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("events[1].oss.object.key is missing: "),
            "{error}"
        );
    }

    #[test]
    fn malformed_events_name_the_field() {
        let base = || event_json("ObjectCreated:PutObject", "a", Some("E"));
        let mut cases: Vec<(Value, &str, EventProblem)> = Vec::new();

        let mut event = base();
        event.as_object_mut().expect("object").remove("eventTime");
        cases.push((event, "eventTime", EventProblem::Missing));

        let mut event = base();
        event["eventTime"] = json!("yesterday");
        let detail = DateTime::parse_from_rfc3339("yesterday")
            .expect_err("bad")
            .to_string();
        cases.push((
            event,
            "eventTime",
            EventProblem::BadTime {
                value: "yesterday".to_owned(),
                detail,
            },
        ));

        let mut event = base();
        event["eventTime"] = json!(1_700_000_000);
        cases.push((
            event,
            "eventTime",
            EventProblem::WrongType {
                expected: "a string",
                found: "a number",
            },
        ));

        let mut event = base();
        event["oss"]["bucket"] = json!({});
        cases.push((event, "oss.bucket.name", EventProblem::Missing));

        let mut event = base();
        event["oss"]["bucket"]["name"] = json!("");
        cases.push((event, "oss.bucket.name", EventProblem::Empty));

        let mut event = base();
        event["oss"] = json!("my-bucket");
        cases.push((
            event,
            "oss",
            EventProblem::WrongType {
                expected: "an object",
                found: "a string",
            },
        ));

        let mut event = base();
        event.as_object_mut().expect("object").remove("eventName");
        cases.push((event, "eventName", EventProblem::Missing));

        let mut event = base();
        event["oss"]["object"]["size"] = json!(-1);
        cases.push((
            event,
            "oss.object.size",
            EventProblem::WrongType {
                expected: "a non-negative integer",
                found: "a number",
            },
        ));

        let mut event = base();
        event["oss"]["object"]["objectMeta"] = json!({"userMeta": ["a"]});
        cases.push((
            event,
            "oss.object.objectMeta.userMeta",
            EventProblem::WrongType {
                expected: "an object",
                found: "an array",
            },
        ));

        cases.push((
            json!("ObjectCreated:PutObject"),
            "",
            EventProblem::WrongType {
                expected: "an object",
                found: "a string",
            },
        ));

        for (event, field, problem) in cases {
            let error = one(event).expect_err(field);
            assert_eq!(error.index, 0);
            assert_eq!(error.field, field);
            assert_eq!(error.problem, problem, "{field}");
        }
    }

    #[test]
    fn the_event_itself_not_an_object_reads_well() {
        let error = one(json!(42)).expect_err("not an object");
        assert!(
            error
                .to_string()
                .starts_with("events[0] is a number, expected an object: "),
            "{error}"
        );
    }

    #[test]
    fn idempotency_keys_are_stable_and_distinct() {
        let put = || {
            ok(event_json(
                "ObjectCreated:PutObject",
                "docs/a.pdf",
                Some("E1"),
            ))
        };
        assert_eq!(put().idempotency_key(), put().idempotency_key());
        let key = put().idempotency_key();
        assert!(key.starts_with("oss-v1:created:"), "{key}");
        assert_eq!(key.len(), "oss-v1:created:".len() + 64);

        let remove_same_etag = ok(event_json(
            "ObjectRemoved:DeleteObject",
            "docs/a.pdf",
            Some("E1"),
        ));
        assert_ne!(remove_same_etag.idempotency_key(), key);
        assert!(
            remove_same_etag
                .idempotency_key()
                .starts_with("oss-v1:removed:")
        );

        let other_etag = ok(event_json(
            "ObjectCreated:PutObject",
            "docs/a.pdf",
            Some("E2"),
        ));
        assert_ne!(other_etag.idempotency_key(), key);
        let no_etag = ok(event_json("ObjectCreated:PutObject", "docs/a.pdf", None));
        assert_ne!(no_etag.idempotency_key(), key);
        let other_key = ok(event_json(
            "ObjectCreated:PutObject",
            "docs/b.pdf",
            Some("E1"),
        ));
        assert_ne!(other_key.idempotency_key(), key);
        let mut other_bucket = put();
        other_bucket.bucket = "other-bucket".to_owned();
        assert_ne!(other_bucket.idempotency_key(), key);

        // The same bytes uploaded again later (after a delete, say) are another event.
        let mut later = put();
        later.time += chrono::Duration::seconds(5);
        assert_ne!(later.idempotency_key(), key);
    }

    #[test]
    fn deletes_without_etag_differ_by_time() {
        let delete = ok(event_json("ObjectRemoved:DeleteObject", "a.pdf", None));
        assert_eq!(
            delete.idempotency_key(),
            ok(event_json("ObjectRemoved:DeleteObject", "a.pdf", None)).idempotency_key()
        );
        let mut later = delete.clone();
        later.time += chrono::Duration::milliseconds(1);
        assert_ne!(later.idempotency_key(), delete.idempotency_key());
    }

    #[test]
    fn idempotency_keys_do_not_collide_on_separators() {
        // Each pair would be equal if the parts were simply joined with '/', ':', '@' or '\0'.
        let make = |bucket: &str, key: &str, etag: Option<&str>| {
            let mut event = event_with_key(key);
            event.bucket = bucket.to_owned();
            event.etag = etag.map(str::to_owned);
            event.idempotency_key()
        };
        let pairs = [
            (make("b", "x/y", Some("e")), make("b/x", "y", Some("e"))),
            (make("b", "x@e", None), make("b", "x", Some("e"))),
            (make("b", "x:e", Some("f")), make("b", "x", Some("e:f"))),
            (make("b", "x\0e", Some("f")), make("b", "x", Some("e\0f"))),
            (make("b", "x", Some("")), make("b", "x", None)),
        ];
        for (index, (left, right)) in pairs.iter().enumerate() {
            assert_ne!(left, right, "pair {index}");
        }
        let long = make("b", &"k".repeat(5000), Some("e"));
        assert_eq!(long.len(), 79);
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode_strict("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode_strict("a+b%2Bc").as_deref(), Some("a+b+c"));
        assert_eq!(percent_decode_strict("%e6%96%87").as_deref(), Some("文"));
        assert_eq!(percent_decode_strict("plain"), None);
        for bad in ["100%", "%zz", "%E6%96", "%2", "a%20%g0", "%%20"] {
            assert_eq!(percent_decode_strict(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_candidates_raw_first_then_decoded() {
        let raw = "文档/年度 报告+附录.pdf";
        assert_eq!(event_with_key(raw).key_candidates(), [raw]);
        let encoded =
            "%E6%96%87%E6%A1%A3/%E5%B9%B4%E5%BA%A6%20%E6%8A%A5%E5%91%8A+%E9%99%84%E5%BD%95.pdf";
        assert_eq!(event_with_key(encoded).key_candidates(), [encoded, raw]);
        assert_eq!(
            event_with_key("a%20b+c.pdf").key_candidates(),
            ["a%20b+c.pdf", "a b+c.pdf"]
        );
        for key in [
            "a b+c.pdf",
            "a+b.pdf",
            "100%",
            "%zz.pdf",
            "x/%E6%96.pdf",
            "50%off %20.pdf",
        ] {
            assert_eq!(event_with_key(key).key_candidates(), [key], "{key}");
        }
    }

    #[test]
    fn checks_keys() {
        for good in [
            "a.pdf",
            "docs/a.pdf",
            "文档/年度 报告+附录.pdf",
            "a..b/c.pdf",
            ".hidden",
            "a/.../b",
            "a//b",
            &"k".repeat(MAX_KEY_BYTES),
        ] {
            assert_eq!(check_key(good), Ok(()), "{good}");
        }
        assert_eq!(check_key(""), Err(KeyError::Empty));
        assert!(matches!(
            check_key(&"k".repeat(MAX_KEY_BYTES + 1)),
            Err(KeyError::TooLong { len: 1024, .. })
        ));
        for dots in ["a/../b", "../x", "./x", "a/.", "a/..", "..", "."] {
            assert!(
                matches!(check_key(dots), Err(KeyError::DotSegment { .. })),
                "{dots}"
            );
        }
        assert!(matches!(
            check_key("/a.pdf"),
            Err(KeyError::LeadingSlash { .. })
        ));
        assert!(matches!(
            check_key("a\0b"),
            Err(KeyError::ControlCharacter { code: 0, .. })
        ));
        assert!(matches!(
            check_key("a\nb"),
            Err(KeyError::ControlCharacter { code: 0x0A, .. })
        ));
        assert!(matches!(
            check_key("a\u{7f}"),
            Err(KeyError::ControlCharacter { code: 0x7F, .. })
        ));
        let folder = check_key("docs/").expect_err("folder");
        assert!(folder.is_folder_marker());
        assert!(!check_key("../").expect_err("dots").is_folder_marker());
    }

    #[test]
    fn key_errors_say_the_event_is_acknowledged() {
        let errors = [
            check_key(""),
            check_key("a/../b"),
            check_key("a\u{1}"),
            check_key("/a"),
            check_key("docs/"),
            check_key(&"k".repeat(2000)),
        ];
        for error in errors {
            let message = error.expect_err("refused").to_string();
            assert!(
                message.contains("acknowledged without ingesting"),
                "{message}"
            );
        }
        let message = check_key("a\nb").expect_err("refused").to_string();
        assert!(message.contains(r#""a\nb""#), "{message}");
        let message = check_key(&"k".repeat(2000))
            .expect_err("refused")
            .to_string();
        assert!(message.len() < 400, "{message}");
    }

    #[test]
    fn safe_candidates_drop_unsafe_decodings() {
        let event = event_with_key("..%2Fsecret.pdf");
        assert_eq!(event.key_candidates(), ["..%2Fsecret.pdf", "../secret.pdf"]);
        assert_eq!(
            event.safe_key_candidates(),
            Ok(vec!["..%2Fsecret.pdf".to_owned()])
        );
        assert_eq!(
            event_with_key("a%00b").safe_key_candidates(),
            Ok(vec!["a%00b".to_owned()])
        );
        assert!(matches!(
            event_with_key("a/../b%20c").safe_key_candidates(),
            Err(KeyError::DotSegment { .. })
        ));
        assert!(
            event_with_key("docs/")
                .safe_key_candidates()
                .expect_err("folder")
                .is_folder_marker()
        );
        let encoded = "%E6%96%87%E6%A1%A3/a%20b.pdf";
        assert_eq!(
            event_with_key(encoded).safe_key_candidates(),
            Ok(vec![encoded.to_owned(), "文档/a b.pdf".to_owned()])
        );
        // Too long encoded, fine decoded: the decoded key is still tried.
        let long_encoded = "%E6%96%87".repeat(200);
        assert_eq!(
            event_with_key(&long_encoded).safe_key_candidates(),
            Ok(vec!["文".repeat(200)])
        );
    }

    fn route(bucket: &str, prefix: &str, collection: &str, tenant: &str) -> Route {
        Route {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            collection: collection.to_owned(),
            tenant: tenant.to_owned(),
        }
    }

    #[test]
    fn parses_routes() {
        let routes: Routes =
            " my-bucket=docs , ,my-bucket/hr/=hr-docs@acme,other-bucket/a b=kb_1@t2,"
                .parse()
                .expect("valid");
        assert_eq!(routes.len(), 3);
        assert_eq!(
            routes.iter().cloned().collect::<Vec<_>>(),
            [
                route("my-bucket", "", "docs", DEFAULT_TENANT),
                route("my-bucket", "hr/", "hr-docs", "acme"),
                route("other-bucket", "a b", "kb_1", "t2"),
            ]
        );
        let spaced = Routes::parse("my-bucket/x = docs @ acme").expect("valid");
        assert_eq!(
            spaced.iter().next(),
            Some(&route("my-bucket", "x", "docs", "acme"))
        );
        assert!(Routes::parse("").expect("empty").is_empty());
        assert!(Routes::parse(" , ,").expect("empty").is_empty());
    }

    #[test]
    fn routes_display_round_trips() {
        let text = "my-bucket=docs,my-bucket/hr/=hr-docs@acme,abc/x@y=kb";
        let routes = Routes::parse(text).expect("valid");
        assert_eq!(
            routes.to_string(),
            "my-bucket=docs@default,my-bucket/hr/=hr-docs@acme,abc/x@y=kb@default"
        );
        assert_eq!(Routes::parse(&routes.to_string()), Ok(routes.clone()));
        for route in routes.iter() {
            let again = Routes::parse(&route.to_string()).expect("valid");
            assert_eq!(again.iter().next(), Some(route));
        }
    }

    #[test]
    fn resolves_the_longest_prefix() {
        let routes = Routes::parse(
            "my-bucket=all,my-bucket/docs=docs,my-bucket/docs/hr/=hr,other-bucket/x/=x@t",
        )
        .expect("valid");
        let resolve = |bucket: &str, key: &str| {
            routes
                .resolve(bucket, key)
                .map(|route| route.collection.as_str())
        };
        assert_eq!(resolve("my-bucket", "readme.md"), Some("all"));
        assert_eq!(resolve("my-bucket", "docs/a.pdf"), Some("docs"));
        assert_eq!(resolve("my-bucket", "docs2/a.pdf"), Some("docs"));
        assert_eq!(resolve("my-bucket", "docs/hr/a.pdf"), Some("hr"));
        assert_eq!(resolve("my-bucket", "docs/hr"), Some("docs"));
        assert_eq!(resolve("other-bucket", "x/a.pdf"), Some("x"));
        assert_eq!(resolve("other-bucket", "y/a.pdf"), None);
        assert_eq!(resolve("third-bucket", "docs/a.pdf"), None);
        assert_eq!(
            routes
                .resolve("other-bucket", "x/a")
                .map(|r| r.tenant.as_str()),
            Some("t")
        );
        // Order in the list does not matter.
        let reversed = Routes::parse("my-bucket/docs/hr/=hr,my-bucket/docs=docs,my-bucket=all")
            .expect("valid");
        assert_eq!(
            reversed
                .resolve("my-bucket", "docs/hr/a.pdf")
                .map(|r| r.collection.as_str()),
            Some("hr")
        );
    }

    #[test]
    fn refuses_duplicate_routes() {
        let error = Routes::parse("my-bucket/docs=a, my-bucket/docs=b@t").expect_err("dup");
        assert_eq!(
            error,
            RouteError::Duplicate {
                first: "my-bucket/docs=a".to_owned(),
                second: "my-bucket/docs=b@t".to_owned(),
                bucket: "my-bucket".to_owned(),
                prefix: "docs".to_owned(),
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("'my-bucket/docs=a'") && message.contains("'my-bucket/docs=b@t'"),
            "{message}"
        );
        assert!(matches!(
            Routes::parse("my-bucket=a,my-bucket/=b"),
            Err(RouteError::Duplicate { .. })
        ));
        // A trailing slash makes a different prefix.
        assert_eq!(
            Routes::parse("my-bucket/docs=a,my-bucket/docs/=b")
                .expect("distinct")
                .len(),
            2
        );
    }

    #[test]
    fn refuses_bad_routes() {
        let cases: [(&str, RouteCheck); 14] = [
            ("my-bucket", |e| {
                matches!(e, RouteError::MissingEquals { .. })
            }),
            ("=docs", |e| matches!(e, RouteError::EmptyBucket { .. })),
            ("/x=docs", |e| matches!(e, RouteError::EmptyBucket { .. })),
            ("ab=docs", |e| matches!(e, RouteError::InvalidBucket { .. })),
            ("My-Bucket=docs", |e| {
                matches!(e, RouteError::InvalidBucket { .. })
            }),
            ("-bucket=docs", |e| {
                matches!(e, RouteError::InvalidBucket { .. })
            }),
            ("bucket-=docs", |e| {
                matches!(e, RouteError::InvalidBucket { .. })
            }),
            ("my_bucket=docs", |e| {
                matches!(e, RouteError::InvalidBucket { .. })
            }),
            ("my-bucket//x=docs", |e| {
                matches!(e, RouteError::InvalidPrefix { .. })
            }),
            ("my-bucket=", |e| {
                matches!(e, RouteError::EmptyCollection { .. })
            }),
            ("my-bucket=@t", |e| {
                matches!(e, RouteError::EmptyCollection { .. })
            }),
            ("my-bucket=Docs", |e| {
                matches!(e, RouteError::InvalidCollection { .. })
            }),
            ("my-bucket=docs@", |e| {
                matches!(e, RouteError::EmptyTenant { .. })
            }),
            ("my-bucket=docs@a b", |e| {
                matches!(e, RouteError::InvalidTenant { .. })
            }),
        ];
        for (item, expected) in cases {
            let error = Routes::parse(&format!("good-bucket=docs, {item} ")).expect_err(item);
            assert!(expected(&error), "{item}: {error:?}");
            assert!(
                error.to_string().contains(&format!("item '{item}'")),
                "{error}"
            );
        }
        assert!(Routes::parse(&format!("{}=docs", "a".repeat(63))).is_ok());
        assert!(Routes::parse(&format!("{}=docs", "a".repeat(64))).is_err());
        assert_eq!(
            Routes::parse("docs=")
                .expect_err("no collection")
                .to_string(),
            "ADBRAG_OSS_ROUTES item 'docs=' has no collection: write bucket[/prefix]=collection[@tenant]"
        );
    }
}
