//! Documents and their chunks: written, replaced and removed one whole version at a time.
//!
//! Every write runs in one transaction that first takes a lock on (collection, source URI), so two
//! writers of one document never interleave, and a search — one statement, one snapshot — sees the
//! previous version or the new one, never a mix. Versions are ordered by `source_time`: a write or a
//! delete older than what is stored (or than a tombstone) changes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Acquire, AssertSqlSafe, PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Error, Result, dialect, embedding_cache, keywords, sha256};
use crate::text::segment::ANALYZER_VERSION;

/// One version of a source object, as the ingest pipeline describes it.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub collection_id: Uuid,
    pub source_uri: String,
    /// The source's version identity (an OSS ETag), if it has one.
    pub source_etag: Option<String>,
    /// Orders versions: the event time or the object's Last-Modified.
    pub source_time: DateTime<Utc>,
    pub content_sha256: [u8; 32],
    pub title: Option<String>,
    pub mime_type: Option<String>,
    pub byte_size: i64,
    pub metadata: serde_json::Value,
    pub acl: Vec<String>,
}

/// One chunk of a new version. Its ordinal is its position in the slice given to [`replace`].
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub text: String,
    pub token_count: i32,
    pub page_from: Option<i32>,
    pub page_to: Option<i32>,
    pub heading_path: Vec<String>,
    /// Space-separated terms from `text::segment::keywords` (repeats kept): the chunk's BM25
    /// postings, and a `simple` tsvector for inspection.
    pub keywords: String,
    /// SHA-256 of what was embedded (`ingest::pipeline::model_input`): the embedding-cache entry
    /// this chunk uses, which a delete or purge forgets when no other chunk of the tenant uses it.
    pub embedding_sha256: [u8; 32],
    /// Must have the collection's dimensions.
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Document {
    pub id: Uuid,
    pub collection_id: Uuid,
    pub source_uri: String,
    pub source_etag: Option<String>,
    pub source_time: DateTime<Utc>,
    pub version: i32,
    #[serde(with = "hex_option")]
    #[schema(value_type = Option<String>)]
    pub content_sha256: Option<Vec<u8>>,
    pub title: Option<String>,
    pub mime_type: Option<String>,
    pub byte_size: Option<i64>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub acl: Vec<String>,
    pub status: DocumentStatus,
    pub error: Option<String>,
    pub chunk_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    Pending,
    Ready,
    Failed,
}

/// What [`replace`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The new version is stored and visible.
    Written { document_id: Uuid, version: i32 },
    /// The content is what is already stored; only its description (metadata, ACL, times) was updated.
    Unchanged { document_id: Uuid, version: i32 },
    /// Something newer is stored (a later version, or a later delete); nothing changed.
    Stale { newer: DateTime<Utc> },
}

/// What [`delete`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted {
        document_id: Uuid,
        chunks: u64,
    },
    /// No such document; the tombstone still guards against older events.
    Absent,
    /// The stored version is newer than the delete; nothing changed.
    Stale {
        newer: DateTime<Utc>,
    },
}

/// The columns of the row type, in a macro so queries are `concat!`ed `&'static str`s.
macro_rules! columns {
    () => {
        "id, collection_id, source_uri, source_etag, source_time, version, content_sha256, \
     title, mime_type, byte_size, metadata, acl, status, error, chunk_count, created_at, updated_at"
    };
}

/// Serialises writers of one document for the rest of the transaction. Keyed by (collection, URI)
/// rather than by id, because the first version has no row (and no id) to lock yet.
pub(super) async fn lock_source(
    conn: &mut PgConnection,
    collection_id: Uuid,
    source_uri: &str,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))")
        .bind(collection_id)
        .bind(source_uri)
        .execute(conn)
        .await?;
    Ok(())
}

/// When the source was last deleted or purged, if ever.
async fn tombstone_time(
    conn: &mut PgConnection,
    collection_id: Uuid,
    source_uri: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT removed_at FROM tombstone WHERE collection_id = $1 AND source_uri_sha256 = $2",
    )
    .bind(collection_id)
    .bind(sha256(source_uri).as_slice())
    .fetch_optional(conn)
    .await?)
}

#[derive(sqlx::FromRow)]
struct Stored {
    id: Uuid,
    version: i32,
    source_time: DateTime<Utc>,
    content_sha256: Option<Vec<u8>>,
    status: DocumentStatus,
}

/// Makes `new` with `chunks` the visible version of its source, replacing the previous one whole,
/// in one transaction (a savepoint if the caller already opened one). See the module docs for the
/// ordering rules.
pub async fn replace(
    conn: &mut PgConnection,
    new: &NewDocument,
    chunks: &[NewChunk],
) -> Result<WriteOutcome> {
    let mut tx = conn.begin().await?;
    lock_source(&mut tx, new.collection_id, &new.source_uri).await?;

    let dimensions: i32 = sqlx::query_scalar("SELECT dimensions FROM collection WHERE id = $1")
        .bind(new.collection_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::CollectionNotFound(new.collection_id.to_string()))?;
    let expected = usize::try_from(dimensions).unwrap_or_default();
    if let Some((ordinal, chunk)) = chunks
        .iter()
        .enumerate()
        .find(|(_, c)| c.embedding.len() != expected)
    {
        return Err(Error::DimensionMismatch {
            ordinal,
            actual: chunk.embedding.len(),
            expected,
        });
    }

    let outcome = match decide(&mut tx, new).await? {
        Decision::Done(outcome) => outcome,
        Decision::Write(Some(stored)) => {
            // A row without content is a first attempt that failed: its first real version is 1.
            let version = stored.version + i32::from(stored.content_sha256.is_some());
            let mut delta = keywords::remove_document(&mut tx, stored.id).await?;
            delete_chunks(&mut tx, new.collection_id, stored.id).await?;
            update_description(&mut tx, stored.id, new, false).await?;
            delta.merge(write_version(&mut tx, stored.id, version, new, chunks, dimensions).await?);
            keywords::apply(&mut tx, new.collection_id, &delta).await?;
            WriteOutcome::Written {
                document_id: stored.id,
                version,
            }
        }
        Decision::Write(None) => {
            let id = Uuid::new_v4();
            sqlx::query(
                "INSERT INTO document (id, collection_id, source_uri, source_time, status)
                 VALUES ($1, $2, $3, $4, 'pending')",
            )
            .bind(id)
            .bind(new.collection_id)
            .bind(&new.source_uri)
            .bind(new.source_time)
            .execute(&mut *tx)
            .await?;
            update_description(&mut tx, id, new, false).await?;
            let delta = write_version(&mut tx, id, 1, new, chunks, dimensions).await?;
            keywords::apply(&mut tx, new.collection_id, &delta).await?;
            WriteOutcome::Written {
                document_id: id,
                version: 1,
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

enum Decision {
    /// Nothing to write: the outcome is settled (stale, or unchanged and its description refreshed).
    Done(WriteOutcome),
    /// Write a new version over this stored row (or a first one).
    Write(Option<Stored>),
}

/// The ordering rules, under the caller's lock: stale against a tombstone or a newer stored
/// version; unchanged when the stored ready version has this content (its description refreshed).
async fn decide(conn: &mut PgConnection, new: &NewDocument) -> Result<Decision> {
    if let Some(removed) = tombstone_time(conn, new.collection_id, &new.source_uri).await?
        && removed >= new.source_time
    {
        return Ok(Decision::Done(WriteOutcome::Stale { newer: removed }));
    }
    let stored = sqlx::query_as::<_, Stored>(
        "SELECT id, version, source_time, content_sha256, status FROM document
         WHERE collection_id = $1 AND source_uri = $2 FOR UPDATE",
    )
    .bind(new.collection_id)
    .bind(&new.source_uri)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match stored {
        Some(stored) if stored.source_time > new.source_time => {
            Decision::Done(WriteOutcome::Stale {
                newer: stored.source_time,
            })
        }
        Some(stored)
            if stored.status == DocumentStatus::Ready
                && stored.content_sha256.as_deref() == Some(new.content_sha256.as_slice()) =>
        {
            update_description(conn, stored.id, new, true).await?;
            Decision::Done(WriteOutcome::Unchanged {
                document_id: stored.id,
                version: stored.version,
            })
        }
        stored => Decision::Write(stored),
    })
}

/// The cheap path for a source whose content may be unchanged: settles it without chunks when it
/// is stale or unchanged, and returns `None` (having changed nothing) when a new version is needed.
pub async fn refresh(conn: &mut PgConnection, new: &NewDocument) -> Result<Option<WriteOutcome>> {
    let mut tx = conn.begin().await?;
    lock_source(&mut tx, new.collection_id, &new.source_uri).await?;
    let decision = decide(&mut tx, new).await?;
    tx.commit().await?;
    Ok(match decision {
        Decision::Done(outcome) => Some(outcome),
        Decision::Write(_) => None,
    })
}

/// The fields that describe a version without changing its content. With `unchanged` (the same
/// content again, not parsed this time), what the parser derived from that content is kept: the
/// title (a PDF's or HTML's own, which citations show), the media type, and the metadata's
/// `parse_warnings`.
async fn update_description(
    conn: &mut PgConnection,
    id: Uuid,
    new: &NewDocument,
    unchanged: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE document SET source_etag = $2, source_time = $3,
                title = CASE WHEN $9 THEN title ELSE $4 END,
                mime_type = CASE WHEN $9 THEN mime_type ELSE $5 END,
                byte_size = $6, acl = $8, error = NULL, updated_at = now(),
                metadata = CASE WHEN $9 AND metadata ? 'parse_warnings' AND jsonb_typeof($7) = 'object'
                    THEN $7 || jsonb_build_object('parse_warnings', metadata -> 'parse_warnings')
                    ELSE $7 END
         WHERE id = $1",
    )
    .bind(id)
    .bind(&new.source_etag)
    .bind(new.source_time)
    .bind(&new.title)
    .bind(&new.mime_type)
    .bind(new.byte_size)
    .bind(&new.metadata)
    .bind(&new.acl)
    .bind(unchanged)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts all chunks in one statement (arrays unnested server-side) with their keyword postings,
/// and marks the document ready. Returns the keyword statistics' change, for the caller to apply
/// once in its transaction.
async fn write_version(
    conn: &mut PgConnection,
    document_id: Uuid,
    version: i32,
    new: &NewDocument,
    chunks: &[NewChunk],
    dimensions: i32,
) -> Result<keywords::Delta> {
    let n = chunks.len();
    let mut ids = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    let mut token_counts = Vec::with_capacity(n);
    let mut page_from = Vec::with_capacity(n);
    let mut page_to = Vec::with_capacity(n);
    let mut heading_paths = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut keywords = Vec::with_capacity(n);
    let mut embedding_hashes = Vec::with_capacity(n);
    // All embeddings end to end: arrays of arrays do not unnest row by row, so each row slices its own.
    let mut embeddings = Vec::with_capacity(n * chunks.first().map_or(0, |c| c.embedding.len()));
    let mut postings = keywords::Postings::default();
    for chunk in chunks {
        let id = Uuid::new_v4();
        postings.add(id, &chunk.keywords);
        ids.push(id);
        texts.push(chunk.text.as_str());
        token_counts.push(chunk.token_count);
        page_from.push(chunk.page_from);
        page_to.push(chunk.page_to);
        heading_paths.push(serde_json::json!(chunk.heading_path));
        hashes.push(sha256(&chunk.text).to_vec());
        keywords.push(chunk.keywords.as_str());
        embedding_hashes.push(chunk.embedding_sha256.to_vec());
        embeddings.extend_from_slice(&chunk.embedding);
    }
    sqlx::query(
        "INSERT INTO chunk (id, document_id, collection_id, ordinal, text, token_count, page_from,
                            page_to, heading_path, content_sha256, dimensions, keywords,
                            analyzer_version, embedding_sha256)
         SELECT c.id, $1, $2, (c.n - 1)::int, c.text, c.token_count, c.page_from, c.page_to,
                c.heading_path, c.sha, $3, to_tsvector('simple', c.keywords), $12, c.embed_sha
         FROM unnest($4::uuid[], $5::text[], $6::int[], $7::int[], $8::int[], $9::jsonb[],
                     $10::bytea[], $11::text[], $13::bytea[])
              WITH ORDINALITY AS c(id, text, token_count, page_from, page_to, heading_path, sha,
                                   keywords, embed_sha, n)",
    )
    .bind(document_id)
    .bind(new.collection_id)
    .bind(dimensions)
    .bind(&ids)
    .bind(&texts)
    .bind(&token_counts)
    .bind(&page_from)
    .bind(&page_to)
    .bind(&heading_paths)
    .bind(&hashes)
    .bind(&keywords)
    .bind(ANALYZER_VERSION)
    .bind(&embedding_hashes)
    .execute(&mut *conn)
    .await?;
    // The vectors, into their size's table (the only SQL text built at run time: a table name
    // from a checked `Dimensions`; `real[]` is assigned to pgvector's `vector(N)` by its cast).
    let size = dialect::Dimensions::new(i64::from(dimensions))?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (chunk_id, collection_id, embedding)
         SELECT v.id, $1, ($2::real[])[(v.n - 1) * $3 + 1 : v.n * $3]
         FROM unnest($4::uuid[]) WITH ORDINALITY AS v(id, n)",
        dialect::vector_table(size)
    )))
    .bind(new.collection_id)
    .bind(&embeddings)
    .bind(dimensions)
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    let delta = postings.insert(&mut *conn, new.collection_id).await?;

    sqlx::query(
        "UPDATE document SET version = $2, content_sha256 = $3, status = 'ready', chunk_count = $4
         WHERE id = $1",
    )
    .bind(document_id)
    .bind(version)
    .bind(new.content_sha256.as_slice())
    .bind(i32::try_from(n).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    Ok(delta)
}

/// Deletes a document's chunks, their vectors and any reindex vectors, then the embedding-cache
/// entries they used that no other chunk of the tenant uses: derived data goes with what it was
/// derived from. Each table by name (AnalyticDB's foreign keys do not cascade). Returns how many
/// chunks went. The keyword postings are the caller's (`keywords::remove_document`, before this).
pub async fn delete_chunks(
    conn: &mut PgConnection,
    collection_id: Uuid,
    document_id: Uuid,
) -> Result<u64> {
    let (tenant, dimensions): (String, i32) =
        sqlx::query_as("SELECT tenant, dimensions FROM collection WHERE id = $1")
            .bind(collection_id)
            .fetch_one(&mut *conn)
            .await?;
    dialect::delete_vectors(
        &mut *conn,
        dimensions,
        "USING chunk c WHERE c.id = v.chunk_id AND c.document_id = $1",
        document_id,
    )
    .await?;
    sqlx::query(
        "DELETE FROM reindex_vector r USING chunk c WHERE c.id = r.chunk_id AND c.document_id = $1",
    )
    .bind(document_id)
    .execute(&mut *conn)
    .await?;
    let hashes: Vec<Option<Vec<u8>>> =
        sqlx::query_scalar("DELETE FROM chunk WHERE document_id = $1 RETURNING embedding_sha256")
            .bind(document_id)
            .fetch_all(&mut *conn)
            .await?;
    let chunks = hashes.len() as u64;
    let mut hashes: Vec<Vec<u8>> = hashes.into_iter().flatten().collect();
    hashes.sort();
    hashes.dedup();
    embedding_cache::forget(&mut *conn, &tenant, &hashes).await?;
    Ok(chunks)
}

/// Records that ingesting a source failed. A source with a ready version keeps it (searchable) and
/// carries the error; a source seen for the first time gets a `failed` row, so the failure is
/// visible where its document would be. An attempt older than the stored version records nothing.
pub async fn record_failure(
    conn: &mut PgConnection,
    collection_id: Uuid,
    source_uri: &str,
    source_time: DateTime<Utc>,
    error: &str,
) -> Result<Uuid> {
    let mut tx = conn.begin().await?;
    lock_source(&mut tx, collection_id, source_uri).await?;
    let id = sqlx::query_scalar(
        "INSERT INTO document (id, collection_id, source_uri, source_time, status, error)
         VALUES ($1, $2, $3, $4, 'failed', $5)
         ON CONFLICT (collection_id, source_uri) DO UPDATE
            SET error = EXCLUDED.error,
                status = CASE WHEN document.status = 'ready' THEN 'ready' ELSE 'failed' END,
                updated_at = now()
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(collection_id)
    .bind(source_uri)
    .bind(source_time)
    .bind(error)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Removes a source's document and its chunks, and leaves a tombstone at `source_time` so that an
/// older upsert delivered late cannot bring it back.
pub async fn delete(
    conn: &mut PgConnection,
    collection_id: Uuid,
    source_uri: &str,
    source_time: DateTime<Utc>,
) -> Result<DeleteOutcome> {
    let mut tx = conn.begin().await?;
    lock_source(&mut tx, collection_id, source_uri).await?;
    let stored: Option<(Uuid, DateTime<Utc>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT id, source_time, content_sha256 FROM document
         WHERE collection_id = $1 AND source_uri = $2 FOR UPDATE",
    )
    .bind(collection_id)
    .bind(source_uri)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((_, stored_time, _)) = &stored
        && *stored_time > source_time
    {
        return Ok(DeleteOutcome::Stale {
            newer: *stored_time,
        });
    }
    sqlx::query(
        "INSERT INTO tombstone (collection_id, source_uri_sha256, content_sha256, removed_at, reason)
         VALUES ($1, $2, $3, $4, 'deleted')
         ON CONFLICT (collection_id, source_uri_sha256) DO UPDATE
            SET removed_at = greatest(tombstone.removed_at, EXCLUDED.removed_at),
                content_sha256 = coalesce(EXCLUDED.content_sha256, tombstone.content_sha256)",
    )
    .bind(collection_id)
    .bind(sha256(source_uri).as_slice())
    .bind(stored.as_ref().and_then(|(_, _, sha)| sha.as_deref()))
    .bind(source_time)
    .execute(&mut *tx)
    .await?;
    let outcome = match stored {
        Some((document_id, _, _)) => {
            let delta = keywords::remove_document(&mut tx, document_id).await?;
            keywords::apply(&mut tx, collection_id, &delta).await?;
            let chunks = delete_chunks(&mut tx, collection_id, document_id).await?;
            sqlx::query("DELETE FROM document WHERE id = $1")
                .bind(document_id)
                .execute(&mut *tx)
                .await?;
            DeleteOutcome::Deleted {
                document_id,
                chunks,
            }
        }
        None => DeleteOutcome::Absent,
    };
    tx.commit().await?;
    Ok(outcome)
}

pub async fn get(executor: impl PgExecutor<'_>, collection_id: Uuid, id: Uuid) -> Result<Document> {
    sqlx::query_as::<_, Document>(concat!(
        "SELECT ",
        columns!(),
        " FROM document WHERE collection_id = $1 AND id = $2",
    ))
    .bind(collection_id)
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or(Error::DocumentNotFound(id))
}

pub async fn find_by_source(
    executor: impl PgExecutor<'_>,
    collection_id: Uuid,
    source_uri: &str,
) -> Result<Option<Document>> {
    Ok(sqlx::query_as::<_, Document>(concat!(
        "SELECT ",
        columns!(),
        " FROM document WHERE collection_id = $1 AND source_uri = $2",
    ))
    .bind(collection_id)
    .bind(source_uri)
    .fetch_optional(executor)
    .await?)
}

/// One page of a collection's documents, newest first, optionally of one status.
pub async fn list(
    executor: impl PgExecutor<'_>,
    collection_id: Uuid,
    status: Option<DocumentStatus>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Document>> {
    Ok(sqlx::query_as::<_, Document>(concat!(
        "SELECT ",
        columns!(),
        " FROM document WHERE collection_id = $1 AND ($2::text IS NULL OR status = $2)
          ORDER BY updated_at DESC, id LIMIT $3 OFFSET $4",
    ))
    .bind(collection_id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(executor)
    .await?)
}

/// A stored chunk, as citations and tests read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Chunk {
    pub id: Uuid,
    pub document_id: Uuid,
    pub ordinal: i32,
    pub text: String,
    pub token_count: i32,
    pub page_from: Option<i32>,
    pub page_to: Option<i32>,
    pub heading_path: serde_json::Value,
}

/// A document's chunks in order.
pub async fn chunks(executor: impl PgExecutor<'_>, document_id: Uuid) -> Result<Vec<Chunk>> {
    Ok(sqlx::query_as::<_, Chunk>(
        "SELECT id, document_id, ordinal, text, token_count, page_from, page_to, heading_path
         FROM chunk WHERE document_id = $1 ORDER BY ordinal",
    )
    .bind(document_id)
    .fetch_all(executor)
    .await?)
}

mod hex_option {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_some(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }
}
