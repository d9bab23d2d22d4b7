use adbrag::store::{
    self,
    collections::{self, Collection},
    documents::{self, DeleteOutcome, DocumentStatus, NewChunk, NewDocument, WriteOutcome},
    sha256,
};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{harness::TestDb, store_collections::new_collection};

const DIMS: usize = 4;

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// A version whose every chunk says which version it belongs to: "<tag>:<ordinal>".
pub fn version(
    collection_id: Uuid,
    uri: &str,
    time: i64,
    tag: &str,
    chunks: usize,
) -> (NewDocument, Vec<NewChunk>) {
    let chunks: Vec<NewChunk> = (0..chunks)
        .map(|i| NewChunk {
            text: format!("{tag}:{i} lorem ipsum"),
            token_count: 3,
            page_from: Some(1),
            page_to: Some(1),
            heading_path: vec!["Intro".into()],
            keywords: format!("{tag} lorem ipsum"),
            embedding_sha256: [0; 32],
            embedding: vec![1.0, i as f32, 0.5, 0.25],
        })
        .collect();
    let document = NewDocument {
        collection_id,
        source_uri: uri.into(),
        source_etag: Some(format!("etag-{tag}")),
        source_time: at(time),
        content_sha256: sha256(tag),
        title: Some(format!("Title {tag}")),
        mime_type: Some("text/plain".into()),
        byte_size: 100,
        metadata: json!({ "tag": tag }),
        acl: vec![],
    };
    (document, chunks)
}

pub async fn write(
    db: &TestDb,
    collection_id: Uuid,
    uri: &str,
    time: i64,
    tag: &str,
    chunks: usize,
) -> WriteOutcome {
    let (document, chunks) = version(collection_id, uri, time, tag, chunks);
    let mut conn = db.pool.acquire().await.unwrap();
    documents::replace(&mut conn, &document, &chunks)
        .await
        .unwrap()
}

async fn collection(db: &TestDb) -> Collection {
    let mut conn = db.pool.acquire().await.unwrap();
    collections::create(&mut conn, &new_collection("acme", "docs", DIMS as i64))
        .await
        .unwrap()
}

async fn texts(db: &TestDb, document_id: Uuid) -> Vec<String> {
    documents::chunks(&db.pool, document_id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.text)
        .collect()
}

#[tokio::test]
async fn a_new_version_replaces_the_previous_one_whole_and_keeps_its_id() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    let WriteOutcome::Written {
        document_id,
        version: 1,
    } = write(&db, c.id, "oss://b/a.txt", 1, "v1", 3).await
    else {
        panic!("first write")
    };

    let second = write(&db, c.id, "oss://b/a.txt", 2, "v2", 2).await;

    assert_eq!(
        second,
        WriteOutcome::Written {
            document_id,
            version: 2
        }
    );
    assert_eq!(
        texts(&db, document_id).await,
        ["v2:0 lorem ipsum", "v2:1 lorem ipsum"]
    );
    let stored = documents::get(&db.pool, c.id, document_id).await.unwrap();
    assert_eq!(
        (stored.status, stored.chunk_count, stored.version),
        (DocumentStatus::Ready, 2, 2)
    );
    assert_eq!(stored.metadata, json!({ "tag": "v2" }));
}

#[tokio::test]
async fn a_version_older_than_the_stored_one_changes_nothing() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    let WriteOutcome::Written { document_id, .. } =
        write(&db, c.id, "oss://b/a.txt", 20, "new", 2).await
    else {
        panic!("first write")
    };

    let late = write(&db, c.id, "oss://b/a.txt", 10, "old", 5).await;

    assert_eq!(late, WriteOutcome::Stale { newer: at(20) });
    assert_eq!(
        texts(&db, document_id).await,
        ["new:0 lorem ipsum", "new:1 lorem ipsum"]
    );
    assert_eq!(
        documents::get(&db.pool, c.id, document_id)
            .await
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn the_same_content_delivered_twice_is_written_once() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    let WriteOutcome::Written { document_id, .. } =
        write(&db, c.id, "oss://b/a.txt", 1, "v1", 3).await
    else {
        panic!("first write")
    };
    let chunk_ids: Vec<Uuid> = documents::chunks(&db.pool, document_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();

    let again = write(&db, c.id, "oss://b/a.txt", 1, "v1", 3).await;

    assert_eq!(
        again,
        WriteOutcome::Unchanged {
            document_id,
            version: 1
        }
    );
    let after: Vec<Uuid> = documents::chunks(&db.pool, document_id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(after, chunk_ids, "chunks were rewritten");
}

#[tokio::test]
async fn an_embedding_of_the_wrong_size_is_refused_and_the_previous_version_stays() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    let WriteOutcome::Written { document_id, .. } =
        write(&db, c.id, "oss://b/a.txt", 1, "v1", 2).await
    else {
        panic!("first write")
    };
    let (document, mut chunks) = version(c.id, "oss://b/a.txt", 2, "v2", 3);
    chunks[2].embedding.push(9.0);

    let mut conn = db.pool.acquire().await.unwrap();
    let err = documents::replace(&mut conn, &document, &chunks)
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            store::Error::DimensionMismatch {
                ordinal: 2,
                actual: 5,
                expected: 4
            }
        ),
        "{err}"
    );
    assert_eq!(
        texts(&db, document_id).await,
        ["v1:0 lorem ipsum", "v1:1 lorem ipsum"]
    );
}

#[tokio::test]
async fn a_concurrent_reader_sees_the_old_version_or_the_new_one_never_a_mix() {
    const CHUNKS: usize = 40;
    const WRITES: i64 = 30;
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    let WriteOutcome::Written { document_id, .. } =
        write(&db, c.id, "oss://b/a.txt", 0, "v0", CHUNKS).await
    else {
        panic!("first write")
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let writer = {
        let (pool, done) = (db.pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            for i in 1..=WRITES {
                let (document, chunks) =
                    version(c.id, "oss://b/a.txt", i, &format!("v{i}"), CHUNKS);
                documents::replace(&mut conn, &document, &chunks)
                    .await
                    .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let reader = {
        let (pool, done) = (db.pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            // Bounded: stop when the writer is done, or after a generous number of reads.
            for _ in 0..20_000 {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                // One statement, as a search is: the document row and its chunks in one snapshot.
                let (document_tag, chunk_tag, tags, count): (String, String, i64, i64) =
                    sqlx::query_as(
                        "SELECT 'v' || (d.version - 1), min(split_part(c.text, ':', 1)),
                            count(DISTINCT split_part(c.text, ':', 1)), count(c.id)
                     FROM document d JOIN chunk c ON c.document_id = d.id
                     WHERE d.id = $1 AND d.status = 'ready'
                     GROUP BY d.version",
                    )
                    .bind(document_id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(tags, 1, "a read saw chunks of two versions at once");
                assert_eq!(count, CHUNKS as i64, "a read saw a partial version");
                assert_eq!(
                    chunk_tag, document_tag,
                    "a read saw chunks of another version than the row"
                );
                seen.insert(document_tag);
            }
            seen
        })
    };
    writer.await.unwrap();
    let seen = reader.await.unwrap();

    assert!(
        seen.len() >= 2,
        "the reader never overlapped the writer: saw {seen:?}"
    );
    assert_eq!(
        texts(&db, document_id).await.first().map(String::as_str),
        Some(format!("v{WRITES}:0 lorem ipsum").as_str())
    );
}

#[tokio::test]
async fn concurrent_writers_of_one_new_document_never_interleave() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;

    let writers: Vec<_> = (1..=8)
        .map(|i| {
            let pool = db.pool.clone();
            tokio::spawn(async move {
                let (document, chunks) = version(
                    c.id,
                    "oss://b/race.txt",
                    i,
                    &format!("w{i}"),
                    5 + i as usize,
                );
                let mut conn = pool.acquire().await.unwrap();
                documents::replace(&mut conn, &document, &chunks).await
            })
        })
        .collect();
    for writer in writers {
        writer
            .await
            .unwrap()
            .expect("no writer fails, whatever the interleaving");
    }

    // The newest version wins, whole, whatever order the writers ran in.
    let stored = documents::find_by_source(&db.pool, c.id, "oss://b/race.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source_time, at(8));
    let texts = texts(&db, stored.id).await;
    assert_eq!(texts.len(), 13);
    assert!(texts.iter().all(|t| t.starts_with("w8:")), "{texts:?}");
    assert_eq!(stored.chunk_count, 13);
}

#[tokio::test]
async fn a_delete_removes_everything_and_a_late_upsert_cannot_bring_it_back() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    write(&db, c.id, "oss://b/a.txt", 1, "v1", 3).await;
    let mut conn = db.pool.acquire().await.unwrap();

    let deleted = documents::delete(&mut conn, c.id, "oss://b/a.txt", at(3))
        .await
        .unwrap();
    let late = write(&db, c.id, "oss://b/a.txt", 2, "v2", 3).await;
    let replayed = write(&db, c.id, "oss://b/a.txt", 3, "v3", 3).await;

    assert!(
        matches!(deleted, DeleteOutcome::Deleted { chunks: 3, .. }),
        "{deleted:?}"
    );
    assert_eq!(late, WriteOutcome::Stale { newer: at(3) });
    assert_eq!(replayed, WriteOutcome::Stale { newer: at(3) });
    let rows: i64 =
        sqlx::query_scalar("SELECT (SELECT count(*) FROM document) + (SELECT count(*) FROM chunk)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows, 0);
    // The tombstone keeps a hash of the URI, not the URI.
    let uri_in_tombstone: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tombstone t WHERE t::text LIKE '%a.txt%')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!uri_in_tombstone);

    let reupload = write(&db, c.id, "oss://b/a.txt", 4, "v4", 1).await;
    assert!(
        matches!(reupload, WriteOutcome::Written { version: 1, .. }),
        "{reupload:?}"
    );
}

#[tokio::test]
async fn a_delete_older_than_the_stored_version_is_ignored() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    write(&db, c.id, "oss://b/a.txt", 5, "v1", 2).await;
    let mut conn = db.pool.acquire().await.unwrap();

    let outcome = documents::delete(&mut conn, c.id, "oss://b/a.txt", at(4))
        .await
        .unwrap();

    assert_eq!(outcome, DeleteOutcome::Stale { newer: at(5) });
    assert!(
        documents::find_by_source(&db.pool, c.id, "oss://b/a.txt")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        documents::delete(&mut conn, c.id, "oss://b/never.txt", at(4))
            .await
            .unwrap(),
        DeleteOutcome::Absent
    );
}

#[tokio::test]
async fn a_failed_attempt_keeps_the_previous_version_searchable() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    let WriteOutcome::Written { document_id, .. } =
        write(&db, c.id, "oss://b/a.txt", 1, "v1", 2).await
    else {
        panic!("first write")
    };
    let mut conn = db.pool.acquire().await.unwrap();

    let failed_update = documents::record_failure(
        &mut conn,
        c.id,
        "oss://b/a.txt",
        at(2),
        "no extractable text",
    )
    .await
    .unwrap();
    let failed_new =
        documents::record_failure(&mut conn, c.id, "oss://b/b.pdf", at(2), "corrupt PDF")
            .await
            .unwrap();

    assert_eq!(failed_update, document_id);
    let kept = documents::get(&db.pool, c.id, document_id).await.unwrap();
    assert_eq!(
        (kept.status, kept.error.as_deref()),
        (DocumentStatus::Ready, Some("no extractable text"))
    );
    assert_eq!(texts(&db, document_id).await.len(), 2);
    let new = documents::get(&db.pool, c.id, failed_new).await.unwrap();
    assert_eq!((new.status, new.chunk_count), (DocumentStatus::Failed, 0));

    // Its first successful version is version 1, and the error is cleared.
    let retried = write(&db, c.id, "oss://b/b.pdf", 3, "b1", 1).await;
    assert_eq!(
        retried,
        WriteOutcome::Written {
            document_id: failed_new,
            version: 1
        }
    );
    assert_eq!(
        documents::get(&db.pool, c.id, failed_new)
            .await
            .unwrap()
            .error,
        None
    );
}

#[tokio::test]
async fn chunks_are_stored_with_their_keywords_and_vectors() {
    let db = TestDb::migrated().await;
    let c = collection(&db).await;
    write(&db, c.id, "oss://b/a.txt", 1, "alpha", 3).await;

    let (keyword_hits, nearest): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM chunk WHERE keywords @@ to_tsquery('simple', 'alpha & ipsum')),
                (SELECT c.text FROM chunk_vector_4 v JOIN chunk c ON c.id = v.chunk_id
                 ORDER BY v.embedding <=> '[1, 2, 0.5, 0.25]' LIMIT 1)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();

    assert_eq!(keyword_hits, 3);
    assert_eq!(nearest, "alpha:2 lorem ipsum");
}
