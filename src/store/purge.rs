//! GDPR-style erasure: a selection of documents and everything derived from them, removed in one
//! transaction, tombstoned so that no replayed event brings them back, audited without content,
//! and then verified (docs/purge.md).
//!
//! Derived from a document: its chunks and their vectors, its keyword postings (and its share of
//! the keyword statistics), the embedding-cache entries that no remaining chunk of its tenant uses,
//! and the `ingest_job` rows that name it (their payload holds its URI and user metadata).

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::filter::Filter;
use super::{Result, dialect, documents, keywords, sha256};

/// What to purge. Every field narrows: documents must match all that are given.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub tenant: String,
    /// One collection of the tenant; `None`: all of its collections.
    pub collection_id: Option<Uuid>,
    pub document_ids: Vec<Uuid>,
    pub source_uris: Vec<String>,
    /// A metadata filter in the search filter language.
    pub filter: Option<Filter>,
}

impl Selector {
    /// Nothing but the tenant (and maybe a collection): every document in it.
    pub fn selects_everything(&self) -> bool {
        self.document_ids.is_empty() && self.source_uris.is_empty() && self.filter.is_none()
    }

    /// The kind of selector, for the audit record (never its values: a URI or a metadata value
    /// can itself be personal data).
    pub fn kind(&self) -> &'static str {
        match (
            !self.document_ids.is_empty(),
            !self.source_uris.is_empty(),
            self.filter.is_some(),
        ) {
            (true, _, _) => "document",
            (_, true, _) => "source",
            (_, _, true) => "where",
            _ if self.collection_id.is_some() => "collection",
            _ => "tenant",
        }
    }
}

/// One selected document.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Target {
    pub id: Uuid,
    pub collection_id: Uuid,
    #[serde(skip)]
    pub source_uri: String,
    pub chunks: i64,
}

/// What a purge removes (or, dry, would remove).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub documents: u64,
    pub chunks: u64,
    pub keyword_postings: u64,
    pub cache_entries: u64,
    /// Entries the purged chunks used that other documents of the tenant still use: kept.
    pub cache_entries_shared: u64,
    pub jobs: u64,
    /// Sources that had no document but were named (`--source`): tombstoned all the same.
    pub tombstones: u64,
}

/// What a verification found; every count but the `*_shared` ones must be zero.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub documents_left: i64,
    pub chunks_left: i64,
    pub postings_left: i64,
    /// Vectors of the purged chunks, in any size's table or staged by a reindex.
    pub vectors_left: i64,
    pub jobs_left: i64,
    pub uris_left: i64,
    pub cache_entries_left: i64,
    /// Chunks of other documents whose text is identical to a purged chunk's: not the purged
    /// document's data, kept.
    pub identical_chunks_elsewhere: i64,
    /// Stored chunks that contain a distinctive phrase of a purged chunk (a sample of
    /// [`PHRASE_SAMPLE`], spread over the purged chunks; the phrases themselves are not reported:
    /// they are the document's content).
    pub phrase_hits: i64,
    pub ok: bool,
}

/// The purge's record: what went, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub audit_id: i64,
    /// The purge transaction's id: `VACUUM FULL` can only drop the purged rows once every
    /// snapshot older than it has ended ([`vacuum`]).
    #[serde(skip)]
    pub xid: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: Option<String>,
    pub selector: &'static str,
    pub documents: Vec<Uuid>,
    pub counts: Counts,
}

/// What the purge left for verification: never stored, never printed.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    collections: Vec<Uuid>,
    tenant: String,
    ids: Vec<Uuid>,
    chunk_ids: Vec<Uuid>,
    uris: Vec<String>,
    content_hashes: Vec<Vec<u8>>,
    embedding_hashes: Vec<Vec<u8>>,
    phrases: Vec<String>,
}

/// A purged chunk's id, content hash, embedding-cache hash and text (for the verification only).
type PurgedChunk = (Uuid, Vec<u8>, Option<Vec<u8>>, String);

/// A tombstone's time for a purge: later than any event, so nothing older *or newer* brings the
/// source back until an operator lifts it (`adbrag tombstones lift`).
pub fn purge_horizon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The documents `selector` matches, in a stable order.
pub async fn select(conn: &mut PgConnection, selector: &Selector) -> Result<Vec<Target>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT d.id, d.collection_id, d.source_uri, d.chunk_count::bigint AS chunks
         FROM document d JOIN collection c ON c.id = d.collection_id
         WHERE c.tenant = ",
    );
    qb.push_bind(&selector.tenant);
    if let Some(collection) = selector.collection_id {
        qb.push(" AND d.collection_id = ").push_bind(collection);
    }
    if !selector.document_ids.is_empty() {
        qb.push(" AND d.id = ANY(")
            .push_bind(&selector.document_ids)
            .push(")");
    }
    if !selector.source_uris.is_empty() {
        qb.push(" AND d.source_uri = ANY(")
            .push_bind(&selector.source_uris)
            .push(")");
    }
    if let Some(filter) = &selector.filter {
        qb.push(" AND (");
        filter.push_sql(&mut qb, "d.metadata");
        qb.push(")");
    }
    qb.push(" ORDER BY d.collection_id, d.source_uri");
    Ok(qb.build_query_as::<Target>().fetch_all(conn).await?)
}

/// How many documents the tenant (or one collection) holds: what "match everything" would mean.
pub async fn count_all(conn: &mut PgConnection, selector: &Selector) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM document d JOIN collection c ON c.id = d.collection_id
         WHERE c.tenant = $1 AND ($2::uuid IS NULL OR d.collection_id = $2)",
    )
    .bind(&selector.tenant)
    .bind(selector.collection_id)
    .fetch_one(conn)
    .await?)
}

/// What purging `targets` would remove, changing nothing.
pub async fn plan(conn: &mut PgConnection, tenant: &str, targets: &[Target]) -> Result<Counts> {
    let ids: Vec<Uuid> = targets.iter().map(|t| t.id).collect();
    let (chunks, postings): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM chunk WHERE document_id = ANY($1)),
                (SELECT count(*) FROM keyword_posting p JOIN chunk c ON c.id = p.chunk_id
                 WHERE c.document_id = ANY($1))",
    )
    .bind(&ids)
    .fetch_one(&mut *conn)
    .await?;
    let (cache, shared): (i64, i64) = sqlx::query_as(
        "WITH used AS (SELECT DISTINCT embedding_sha256 AS h FROM chunk WHERE document_id = ANY($1)),
              entries AS (
                  SELECT e.text_sha256,
                         EXISTS (SELECT 1 FROM chunk c JOIN collection col ON col.id = c.collection_id
                                 WHERE c.embedding_sha256 = e.text_sha256 AND col.tenant = $2
                                   AND NOT (c.document_id = ANY($1))) AS shared
                  FROM embedding_cache e JOIN used ON used.h = e.text_sha256
                  WHERE e.tenant = $2)
         SELECT count(*) FILTER (WHERE NOT shared), count(*) FILTER (WHERE shared) FROM entries",
    )
    .bind(&ids)
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await?;
    let jobs = count_jobs(conn, targets).await?;
    Ok(Counts {
        documents: targets.len() as u64,
        chunks: chunks as u64,
        keyword_postings: postings as u64,
        cache_entries: cache as u64,
        cache_entries_shared: shared as u64,
        jobs,
        tombstones: 0,
    })
}

async fn count_jobs(conn: &mut PgConnection, targets: &[Target]) -> Result<u64> {
    let ids: Vec<Uuid> = targets.iter().map(|t| t.id).collect();
    let collections: Vec<Uuid> = targets.iter().map(|t| t.collection_id).collect();
    let uris: Vec<&str> = targets.iter().map(|t| t.source_uri.as_str()).collect();
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM ingest_job j
         WHERE j.document_id = ANY($1)
            OR (j.collection_id, j.source_uri) IN (SELECT * FROM unnest($2::uuid[], $3::text[]))",
    )
    .bind(&ids)
    .bind(&collections)
    .bind(&uris)
    .fetch_one(conn)
    .await? as u64)
}

/// Purges what `selector` matches, in one transaction, and writes the tombstones and the audit
/// record in it. `extra_sources` are (collection, URI) pairs named by the operator that may have
/// no document (yet): they are locked and tombstoned too, so an ingest racing the purge loses.
pub async fn execute(
    conn: &mut PgConnection,
    selector: &Selector,
    extra_sources: &[(Uuid, String)],
    actor: &str,
    reason: Option<&str>,
) -> Result<(Receipt, Evidence)> {
    let mut tx = conn.begin().await?;
    // The 32-bit xid, as `pg_current_xact_id()::xid` gives it on PostgreSQL 13+; txid_current()
    // also exists on AnalyticDB 7 (PostgreSQL 12).
    let xid: String = sqlx::query_scalar("SELECT (txid_current() % 4294967296)::text")
        .fetch_one(&mut *tx)
        .await?;
    // Lock every source first (sorted: two purges never deadlock), then select again under the
    // locks: a version an ingest committed meanwhile is purged too.
    let mut sources: BTreeSet<(Uuid, String)> = select(&mut tx, selector)
        .await?
        .into_iter()
        .map(|t| (t.collection_id, t.source_uri))
        .collect();
    sources.extend(extra_sources.iter().cloned());
    for (collection, uri) in &sources {
        documents::lock_source(&mut tx, *collection, uri).await?;
    }
    let targets = select(&mut tx, selector).await?;
    let mut counts = plan(&mut tx, &selector.tenant, &targets).await?;
    let mut evidence = Evidence {
        collections: targets.iter().map(|t| t.collection_id).collect(),
        tenant: selector.tenant.clone(),
        ids: targets.iter().map(|t| t.id).collect(),
        uris: targets.iter().map(|t| t.source_uri.clone()).collect(),
        ..Evidence::default()
    };
    evidence.collections.sort();
    evidence.collections.dedup();
    let rows: Vec<PurgedChunk> = sqlx::query_as(
        "SELECT id, content_sha256, embedding_sha256, text FROM chunk WHERE document_id = ANY($1)",
    )
    .bind(&evidence.ids)
    .fetch_all(&mut *tx)
    .await?;
    for (id, content, embedding, text) in rows {
        evidence.chunk_ids.push(id);
        evidence.content_hashes.push(content);
        evidence.embedding_hashes.extend(embedding);
        if let Some(phrase) = distinctive_phrase(&text) {
            evidence.phrases.push(phrase);
        }
    }
    sqlx::query(
        "DELETE FROM ingest_job j
         WHERE j.document_id = ANY($1)
            OR (j.collection_id, j.source_uri) IN (SELECT * FROM unnest($2::uuid[], $3::text[]))",
    )
    .bind(&evidence.ids)
    .bind(targets.iter().map(|t| t.collection_id).collect::<Vec<_>>())
    .bind(&evidence.uris)
    .execute(&mut *tx)
    .await?;
    for target in &targets {
        let delta = keywords::remove_document(&mut tx, target.id).await?;
        keywords::apply(&mut tx, target.collection_id, &delta).await?;
        documents::delete_chunks(&mut tx, target.collection_id, target.id).await?;
        sqlx::query("DELETE FROM document WHERE id = $1")
            .bind(target.id)
            .execute(&mut *tx)
            .await?;
    }
    let with_document: BTreeSet<(Uuid, String)> = targets
        .iter()
        .map(|t| (t.collection_id, t.source_uri.clone()))
        .collect();
    counts.tombstones = sources.difference(&with_document).count() as u64;
    for (collection, uri) in &sources {
        sqlx::query(
            "INSERT INTO tombstone (collection_id, source_uri_sha256, removed_at, reason)
             VALUES ($1, $2, $3, 'purged')
             ON CONFLICT (collection_id, source_uri_sha256) DO UPDATE
                SET removed_at = EXCLUDED.removed_at, reason = 'purged'",
        )
        .bind(collection)
        .bind(sha256(uri).as_slice())
        .bind(purge_horizon())
        .execute(&mut *tx)
        .await?;
    }
    let details = serde_json::json!({
        "selector": selector.kind(),
        "reason": reason,
        "documents": evidence.ids,
        "counts": counts,
    });
    let (audit_id, at): (i64, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO audit_log (actor, action, collection_id, subject_id, details)
         VALUES ($1, 'purge', $2, $3, $4) RETURNING id, at",
    )
    .bind(actor)
    .bind(selector.collection_id)
    .bind((evidence.ids.len() == 1).then(|| evidence.ids[0]))
    .bind(&details)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        Receipt {
            audit_id,
            xid,
            at,
            actor: actor.to_owned(),
            reason: reason.map(str::to_owned),
            selector: selector.kind(),
            documents: evidence.ids.clone(),
            counts,
        },
        evidence,
    ))
}

/// Proves the purge: nothing references the purged ids, chunks or URIs; no cache entry with their
/// hashes is left unless another document of the tenant uses it; no stored chunk contains a
/// distinctive phrase of theirs.
pub async fn verify(conn: &mut PgConnection, evidence: &Evidence) -> Result<Verification> {
    let row: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM document WHERE id = ANY($1)),
           (SELECT count(*) FROM chunk WHERE document_id = ANY($1) OR id = ANY($2)),
           (SELECT count(*) FROM keyword_posting WHERE chunk_id = ANY($2)),
           (SELECT count(*) FROM ingest_job WHERE document_id = ANY($1)
                   OR (collection_id = ANY($4) AND source_uri = ANY($3))),
           (SELECT count(*) FROM document WHERE collection_id = ANY($4) AND source_uri = ANY($3)),
           (SELECT count(*) FROM embedding_cache e
            WHERE e.tenant = $5 AND e.text_sha256 = ANY($6)
              AND NOT EXISTS (SELECT 1 FROM chunk c JOIN collection col ON col.id = c.collection_id
                              WHERE c.embedding_sha256 = e.text_sha256 AND col.tenant = e.tenant)),
           (SELECT count(*) FROM chunk WHERE collection_id = ANY($4) AND content_sha256 = ANY($7))",
    )
    .bind(&evidence.ids)
    .bind(&evidence.chunk_ids)
    .bind(&evidence.uris)
    .bind(&evidence.collections)
    .bind(&evidence.tenant)
    .bind(&evidence.embedding_hashes)
    .bind(&evidence.content_hashes)
    .fetch_one(&mut *conn)
    .await?;
    // A sample of the purged chunks' phrases, spread over the document (a scan per phrase would
    // cost a scan of the collection per chunk). Chunks identical to a purged one belong to other
    // documents: a phrase in one of those is not evidence.
    let step = (evidence.phrases.len() / PHRASE_SAMPLE).max(1);
    let sample: Vec<&String> = evidence
        .phrases
        .iter()
        .step_by(step)
        .take(PHRASE_SAMPLE)
        .collect();
    let phrase_hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chunk c
         WHERE c.collection_id = ANY($1) AND NOT (c.content_sha256 = ANY($3))
           AND EXISTS (SELECT 1 FROM unnest($2::text[]) AS p(phrase) WHERE strpos(c.text, p.phrase) > 0)",
    )
    .bind(&evidence.collections)
    .bind(&sample)
    .bind(&evidence.content_hashes)
    .fetch_one(&mut *conn)
    .await?;
    // Every size's table: a reindex may have moved the collection between sizes.
    let mut vectors_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reindex_vector WHERE chunk_id = ANY($1)")
            .bind(&evidence.chunk_ids)
            .fetch_one(&mut *conn)
            .await?;
    for size in dialect::vector_tables(&mut *conn).await? {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {} WHERE chunk_id = ANY($1)",
            dialect::vector_table(size)
        )))
        .bind(&evidence.chunk_ids)
        .fetch_one(&mut *conn)
        .await?;
        vectors_left += left;
    }
    let (documents_left, chunks_left, postings_left, jobs_left, uris_left, cache_left, identical) =
        row;
    let ok = documents_left
        + chunks_left
        + postings_left
        + vectors_left
        + jobs_left
        + uris_left
        + cache_left
        == 0
        && phrase_hits == 0;
    Ok(Verification {
        documents_left,
        chunks_left,
        postings_left,
        vectors_left,
        jobs_left,
        uris_left,
        cache_entries_left: cache_left,
        identical_chunks_elsewhere: identical,
        phrase_hits,
        ok,
    })
}

/// How many distinctive phrases [`verify`] looks for.
pub const PHRASE_SAMPLE: usize = 16;

/// The first eight words of a chunk: specific enough that another document rarely repeats them.
fn distinctive_phrase(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().take(8).collect();
    if words.is_empty() {
        return None;
    }
    // CJK text has no spaces: the first 12 characters instead.
    let phrase = if words.len() < 3 {
        text.trim().chars().take(12).collect()
    } else {
        words.join(" ")
    };
    // The stored text separates words by whatever whitespace it had: search for the first word
    // run that appears verbatim.
    if text.contains(&phrase) {
        Some(phrase)
    } else {
        words.first().map(|w| (*w).to_owned())
    }
}

/// The tables a purge touches, for `VACUUM`, besides every size's vector table.
pub const TABLES: [&str; 9] = [
    "chunk",
    "reindex_vector",
    "document",
    "keyword_posting",
    "keyword_term",
    "keyword_stats",
    "embedding_cache",
    "ingest_job",
    "tombstone",
];

/// What [`vacuum`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Vacuumed {
    pub seconds: f64,
    /// Seconds spent waiting for transactions older than the purge to end (their snapshots could
    /// still see the purged rows, and `VACUUM FULL` keeps what a snapshot can see).
    pub waited_seconds: f64,
    /// Older transactions still running when the wait gave up: the purged rows may remain in the
    /// files until the next `VACUUM FULL`.
    pub older_transactions_left: i64,
}

/// Rewrites the tables a purge touched (`VACUUM FULL`), so the deleted rows and their index
/// entries are gone from the files on disk, not just marked dead. First waits (up to `wait`) for
/// every transaction that started before the purge `xid` to end — in any database, since a
/// backend still starting up counts for all of them, and an autovacuum's ANALYZE counts too —
/// because `VACUUM FULL` copies rows such a snapshot can still see.
/// Takes each table's exclusive lock in turn: readers of that table wait while it is rewritten.
pub async fn vacuum(
    conn: &mut PgConnection,
    xid: &str,
    wait: std::time::Duration,
) -> Result<Vacuumed> {
    let started = std::time::Instant::now();
    let older = loop {
        let older: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid()
               AND (age(backend_xmin) >= age($1::text::xid) OR age(backend_xid) >= age($1::text::xid))",
        )
        .bind(xid)
        .fetch_one(&mut *conn)
        .await?;
        if older == 0 || started.elapsed() >= wait {
            break older;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let waited_seconds = started.elapsed().as_secs_f64();
    let vectors: Vec<String> = dialect::vector_tables(&mut *conn)
        .await?
        .into_iter()
        .map(dialect::vector_table)
        .collect();
    for table in TABLES
        .iter()
        .copied()
        .chain(vectors.iter().map(String::as_str))
    {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "VACUUM (FULL, ANALYZE) {table}"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(Vacuumed {
        seconds: started.elapsed().as_secs_f64(),
        waited_seconds,
        older_transactions_left: older,
    })
}

/// A tombstone as `adbrag tombstones list` shows it: hashes, never the URI.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Tombstone {
    pub collection_id: Uuid,
    #[serde(serialize_with = "hex_bytes")]
    pub source_uri_sha256: Vec<u8>,
    pub removed_at: DateTime<Utc>,
    pub reason: String,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

pub async fn tombstones(conn: &mut PgConnection, tenant: &str) -> Result<Vec<Tombstone>> {
    Ok(sqlx::query_as(
        "SELECT t.collection_id, t.source_uri_sha256, t.removed_at, t.reason
         FROM tombstone t JOIN collection c ON c.id = t.collection_id
         WHERE c.tenant = $1 ORDER BY t.removed_at DESC",
    )
    .bind(tenant)
    .fetch_all(conn)
    .await?)
}

/// Lifts the tombstone of a source so it can be ingested again; audited. Returns whether one was
/// there.
pub async fn lift(
    conn: &mut PgConnection,
    collection_id: Uuid,
    source_uri: &str,
    actor: &str,
) -> Result<bool> {
    let mut tx = conn.begin().await?;
    let lifted =
        sqlx::query("DELETE FROM tombstone WHERE collection_id = $1 AND source_uri_sha256 = $2")
            .bind(collection_id)
            .bind(sha256(source_uri).as_slice())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
    sqlx::query(
        "INSERT INTO audit_log (actor, action, collection_id, details)
         VALUES ($1, 'tombstone_lift', $2, $3)",
    )
    .bind(actor)
    .bind(collection_id)
    .bind(serde_json::json!({
        "source_uri_sha256": hex::encode(sha256(source_uri)),
        "lifted": lifted,
    }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(lifted)
}

/// Records an attempt that purged nothing (a selector that matched no document), so the request is
/// on file all the same.
pub async fn record_empty(
    conn: &mut PgConnection,
    selector: &Selector,
    actor: &str,
    reason: Option<&str>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_log (actor, action, collection_id, details)
         VALUES ($1, 'purge', $2, $3) RETURNING id",
    )
    .bind(actor)
    .bind(selector.collection_id)
    .bind(serde_json::json!({
        "selector": selector.kind(),
        "reason": reason,
        "documents": [],
        "matched": 0,
    }))
    .fetch_one(conn)
    .await?)
}
