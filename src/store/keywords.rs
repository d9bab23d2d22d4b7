//! The keyword index: BM25 postings and the per-collection statistics BM25 ranks with, written and
//! removed in the caller's transaction together with the chunks they describe (migration 0005).
//!
//! A chunk's terms arrive as the space-separated string from `text::segment::keywords`. Writing
//! or removing chunks changes the statistics by a [`Delta`]: chunks and total length for the
//! collection, and chunks per term. A transaction applies ONE delta, its terms in sorted order, so
//! two writers that share terms lock their rows in the same order and never deadlock; a term whose
//! count reaches zero is deleted in the same statement, so nothing a removed document alone
//! contained stays stored.

use std::collections::{BTreeMap, HashMap};

use sqlx::PgConnection;
use uuid::Uuid;

use super::Result;
use crate::text::segment::ANALYZER_VERSION;

/// How a set of chunk writes and removals changes a collection's keyword statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub chunks: i64,
    pub terms: i64,
    /// Chunks holding each term.
    pub per_term: BTreeMap<String, i64>,
}

impl Delta {
    pub fn merge(&mut self, other: Delta) {
        self.chunks += other.chunks;
        self.terms += other.terms;
        for (term, n) in other.per_term {
            *self.per_term.entry(term).or_default() += n;
        }
        self.per_term.retain(|_, n| *n != 0);
    }
}

/// The postings of chunks about to be inserted, as parallel arrays for one `unnest` insert.
#[derive(Debug, Default)]
pub struct Postings {
    chunk_ids: Vec<Uuid>,
    terms: Vec<String>,
    tfs: Vec<i32>,
    chunk_terms: Vec<i32>,
    delta: Delta,
}

/// BM25's defaults, for the stored read order of postings (`impact`); queries score with the
/// configured values.
const IMPACT_K1: f64 = 1.2;
const IMPACT_B: f64 = 0.75;

/// BM25's term-frequency factor of one posting, given the collection's mean chunk length.
fn impact(tf: i32, chunk_terms: i32, mean_length: f64) -> f32 {
    let tf = f64::from(tf);
    let norm = 1.0 - IMPACT_B + IMPACT_B * f64::from(chunk_terms) / mean_length.max(1.0);
    (tf / (tf + IMPACT_K1 * norm)) as f32
}

impl Postings {
    /// Adds one chunk: its id and its space-separated keyword terms.
    pub fn add(&mut self, chunk_id: Uuid, keywords: &str) {
        let mut counts: HashMap<&str, i32> = HashMap::new();
        let mut length = 0i32;
        for term in keywords.split(' ').filter(|t| !t.is_empty()) {
            *counts.entry(term).or_default() += 1;
            length = length.saturating_add(1);
        }
        if length == 0 {
            return;
        }
        self.delta.chunks += 1;
        self.delta.terms += i64::from(length);
        for (term, tf) in counts {
            self.chunk_ids.push(chunk_id);
            self.terms.push(term.to_owned());
            self.tfs.push(tf);
            self.chunk_terms.push(length);
            *self.delta.per_term.entry(term.to_owned()).or_default() += 1;
        }
    }

    /// Inserts the postings and returns the statistics' change, which the caller applies once per
    /// transaction with [`apply`].
    pub async fn insert(self, conn: &mut PgConnection, collection_id: Uuid) -> Result<Delta> {
        if !self.terms.is_empty() {
            // The mean length the impacts are computed with: the collection's, or (for its first
            // document) these chunks' own.
            let stored: Option<f64> = sqlx::query_scalar(
                "SELECT terms::float8 / chunks FROM keyword_stats
                 WHERE collection_id = $1 AND chunks > 0",
            )
            .bind(collection_id)
            .fetch_optional(&mut *conn)
            .await?;
            let mean_length =
                stored.unwrap_or(self.delta.terms as f64 / self.delta.chunks.max(1) as f64);
            let impacts: Vec<f32> = self
                .tfs
                .iter()
                .zip(&self.chunk_terms)
                .map(|(&tf, &length)| impact(tf, length, mean_length))
                .collect();
            sqlx::query(
                "INSERT INTO keyword_posting (collection_id, term, chunk_id, tf, chunk_terms, impact)
                 SELECT $1, p.term, p.chunk_id, p.tf, p.chunk_terms, p.impact
                 FROM unnest($2::uuid[], $3::text[], $4::int[], $5::int[], $6::real[])
                      AS p(chunk_id, term, tf, chunk_terms, impact)",
            )
            .bind(collection_id)
            .bind(&self.chunk_ids)
            .bind(&self.terms)
            .bind(&self.tfs)
            .bind(&self.chunk_terms)
            .bind(&impacts)
            .execute(&mut *conn)
            .await?;
        }
        Ok(self.delta)
    }
}

/// Deletes the postings of a document's chunks (before the chunks themselves go) and returns the
/// statistics' change, negative.
pub async fn remove_document(conn: &mut PgConnection, document_id: Uuid) -> Result<Delta> {
    let chunk_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM chunk WHERE document_id = $1")
        .bind(document_id)
        .fetch_all(&mut *conn)
        .await?;
    delete_postings(conn, &chunk_ids).await
}

/// Deletes these chunks' postings in one statement and returns what they counted, negative: a row
/// per term, and one row (no term) with the chunks and their total length.
async fn delete_postings(conn: &mut PgConnection, chunk_ids: &[Uuid]) -> Result<Delta> {
    if chunk_ids.is_empty() {
        return Ok(Delta::default());
    }
    let rows: Vec<(Option<String>, i64, i64)> = sqlx::query_as(
        "WITH gone AS (
             DELETE FROM keyword_posting WHERE chunk_id = ANY($1)
             RETURNING term, chunk_id, chunk_terms)
         SELECT term, count(*), 0::bigint FROM gone GROUP BY term
         UNION ALL
         SELECT NULL, count(*), coalesce(sum(chunk_terms), 0)::bigint
         FROM (SELECT DISTINCT chunk_id, chunk_terms FROM gone) chunks",
    )
    .bind(chunk_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut delta = Delta::default();
    for (term, n, length) in rows {
        match term {
            Some(term) => {
                delta.per_term.insert(term, -n);
            }
            None => {
                delta.chunks = -n;
                delta.terms = -length;
            }
        }
    }
    Ok(delta)
}

/// Applies a delta to a collection's statistics: terms in sorted order (see the module docs), then
/// the collection's totals. Terms left with no chunk are deleted.
pub async fn apply(conn: &mut PgConnection, collection_id: Uuid, delta: &Delta) -> Result<()> {
    if delta.per_term.is_empty() && delta.chunks == 0 && delta.terms == 0 {
        return Ok(());
    }
    let (terms, counts): (Vec<&str>, Vec<i64>) = delta
        .per_term
        .iter()
        .map(|(term, n)| (term.as_str(), *n))
        .unzip();
    if !terms.is_empty() {
        // BTreeMap iteration is sorted; WITH ORDINALITY keeps that order through the insert.
        sqlx::query(
            "INSERT INTO keyword_term (collection_id, term, chunks)
             SELECT $1, t.term, t.n FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY
                 AS t(term, n, i)
             ORDER BY t.i
             ON CONFLICT (collection_id, term) DO UPDATE
                 SET chunks = keyword_term.chunks + EXCLUDED.chunks",
        )
        .bind(collection_id)
        .bind(&terms)
        .bind(&counts)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "DELETE FROM keyword_term
             WHERE collection_id = $1 AND term = ANY($2::text[]) AND chunks <= 0",
        )
        .bind(collection_id)
        .bind(&terms)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO keyword_stats (collection_id, chunks, terms) VALUES ($1, $2, $3)
         ON CONFLICT (collection_id) DO UPDATE
             SET chunks = keyword_stats.chunks + EXCLUDED.chunks,
                 terms = keyword_stats.terms + EXCLUDED.terms",
    )
    .bind(collection_id)
    .bind(delta.chunks)
    .bind(delta.terms)
    .execute(conn)
    .await?;
    Ok(())
}

/// A chunk to re-derive: id, collection, its document's title, its headings, its text.
type StaleChunk = (
    Uuid,
    Uuid,
    Option<String>,
    sqlx::types::Json<Vec<String>>,
    String,
);

/// Chunks per batch when [`reindex_stale`] re-derives terms.
const REINDEX_BATCH: i64 = 500;

/// Re-derives the terms and postings of every chunk stored under an older analyzer version (or
/// before migration 0005), from its document's title, its headings and its text (`keywords`
/// turns those into the terms, as ingest does), in transactions of [`REINDEX_BATCH`] chunks of one
/// collection. Vectors are untouched. Returns how many chunks were re-derived. Safe to interrupt
/// and run again: each batch commits whole.
pub async fn reindex_stale(
    conn: &mut PgConnection,
    keywords: impl Fn(Option<&str>, &[String], &str) -> String,
) -> Result<u64> {
    use sqlx::Connection;
    let mut done = 0u64;
    loop {
        let mut tx = conn.begin().await?;
        let batch: Vec<StaleChunk> = sqlx::query_as(
            "SELECT c.id, c.collection_id, d.title, c.heading_path, c.text
                 FROM chunk c JOIN document d ON d.id = c.document_id
                 WHERE c.analyzer_version <> $1
                   AND c.collection_id = (SELECT collection_id FROM chunk
                                          WHERE analyzer_version <> $1 LIMIT 1)
                 ORDER BY c.id LIMIT $2 FOR UPDATE OF c",
        )
        .bind(ANALYZER_VERSION)
        .bind(REINDEX_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(collection_id) = batch.first().map(|(_, c, ..)| *c) else {
            return Ok(done);
        };
        let ids: Vec<Uuid> = batch.iter().map(|(id, ..)| *id).collect();
        // What the old postings of these chunks counted (none before migration 0005).
        let mut delta = delete_postings(&mut tx, &ids).await?;
        let mut postings = Postings::default();
        let mut all_keywords = Vec::with_capacity(batch.len());
        for (id, _, title, headings, text) in &batch {
            let words = keywords(title.as_deref(), headings, text);
            postings.add(*id, &words);
            all_keywords.push(words);
        }
        delta.merge(postings.insert(&mut tx, collection_id).await?);
        sqlx::query(
            "UPDATE chunk c SET keywords = to_tsvector('simple', k.words), analyzer_version = $3
             FROM unnest($1::uuid[], $2::text[]) AS k(id, words) WHERE c.id = k.id",
        )
        .bind(&ids)
        .bind(&all_keywords)
        .bind(ANALYZER_VERSION)
        .execute(&mut *tx)
        .await?;
        apply(&mut tx, collection_id, &delta).await?;
        tx.commit().await?;
        done += batch.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_count_each_term_once_per_chunk_and_the_length_with_repeats() {
        let mut postings = Postings::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        postings.add(a, "leav polici leav");
        postings.add(b, "leav balanc");
        postings.add(Uuid::new_v4(), "");

        assert_eq!(postings.delta.chunks, 2);
        assert_eq!(postings.delta.terms, 5);
        assert_eq!(postings.delta.per_term["leav"], 2);
        assert_eq!(postings.delta.per_term["polici"], 1);
        let leave_in_a = (0..postings.terms.len())
            .find(|&i| postings.chunk_ids[i] == a && postings.terms[i] == "leav")
            .map(|i| (postings.tfs[i], postings.chunk_terms[i]));
        assert_eq!(leave_in_a, Some((2, 3)));
    }

    #[test]
    fn a_merged_delta_drops_terms_that_cancel_out() {
        let mut removed = Delta {
            chunks: -1,
            terms: -3,
            per_term: [("a".to_owned(), -1), ("b".to_owned(), -1)].into(),
        };
        removed.merge(Delta {
            chunks: 1,
            terms: 2,
            per_term: [("a".to_owned(), 1), ("c".to_owned(), 1)].into(),
        });

        assert_eq!(removed.chunks, 0);
        assert_eq!(removed.terms, -1);
        assert_eq!(
            removed.per_term,
            BTreeMap::from([("b".to_owned(), -1), ("c".to_owned(), 1)])
        );
    }
}
