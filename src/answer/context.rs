//! Context assembly: turns retrieval hits into the numbered passages a model answers from, within a
//! token budget. Pure: no I/O, deterministic.
//!
//! How it works:
//!
//! 1. Hits below the relevance floor are dropped: a hit stays if it matched query words (it has a
//!    keyword rank) or its cosine similarity reaches the floor. Fusion ranks everything the legs
//!    return, so without a floor a question about nothing in the collection would still fill the
//!    context with the least unrelated chunks.
//! 2. Duplicates are dropped: the same chunk twice, or the same text (whitespace aside) in two
//!    chunks, as documents re-uploaded under another name have.
//! 3. Neighbours are merged: chunks of one document version with consecutive ordinals become one
//!    passage, with the overlap the chunker repeats at the start of each chunk removed, so the
//!    model reads a passage once rather than in pieces.
//! 4. Passages are ordered by their best score and added while they fit the budget.

use std::collections::HashSet;

use serde::Serialize;
use uuid::Uuid;

use crate::ingest::tokens::TokenCounter;
use crate::store::search::Hit;
use crate::text::{quote, sentence};

/// Longest overlap looked for between neighbouring chunks, in bytes. The chunker repeats at most
/// its overlap budget (64 tokens by default, a few hundred bytes); the cap bounds the quadratic
/// search on pathological text.
const MAX_OVERLAP_BYTES: usize = 4000;

/// Shortest overlap removed when it is not at a word boundary. Two chunks written without overlap
/// can still share a few characters by chance (one ends in "the", the next starts with "then"),
/// and removing those would glue words together.
const MIN_BLIND_OVERLAP_BYTES: usize = 16;

/// How far back from a forced cut a sentence or word boundary is looked for, in bytes.
const TRUNCATION_LOOKBACK_BYTES: usize = 300;

/// One numbered passage as the model sees it (`[n]`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Passage {
    /// 1-based: the `n` the model cites as `[n]`.
    pub number: usize,
    pub document_id: Uuid,
    pub source_uri: String,
    pub title: Option<String>,
    pub page_from: Option<i32>,
    pub page_to: Option<i32>,
    /// The headings above the passage's first chunk, outermost first.
    pub heading_path: Vec<String>,
    /// The chunks merged into this passage, in document order.
    pub chunk_ids: Vec<Uuid>,
    pub text: String,
    /// The best fused score among its chunks.
    pub score: f64,
    /// Tokens of `text` by the counter used to fit the budget.
    pub tokens: usize,
    /// Some of its text was read by OCR from a scanned page.
    pub ocr: bool,
}

/// The passages chosen, and why the other hits were not.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assembled {
    /// Numbered 1..=n in the order the model sees them, best first.
    pub passages: Vec<Passage>,
    /// Hits dropped for neither matching query words nor reaching the similarity floor.
    pub below_floor: usize,
    /// Hits dropped as the same chunk or the same text as a better hit.
    pub duplicates: usize,
    /// Chunks folded into a passage started by a neighbouring chunk.
    pub merged: usize,
    /// Passages (not chunks) left out because they did not fit the budget.
    pub over_budget: usize,
}

/// A run of neighbouring hits that becomes one passage.
struct Run<'h> {
    /// In ordinal order.
    hits: Vec<&'h Hit>,
    /// Position of its best-ranked hit in the input, for ordering ties.
    first_index: usize,
    score: f64,
}

/// Builds the model's context from `hits` (best first, as retrieval returns them): drops hits
/// below the floor (`keyword_rank` absent and `similarity` under `min_similarity`) and duplicates,
/// merges neighbouring chunks, orders the passages by best score and keeps those that fit in
/// `budget_tokens` as `counter` counts them.
///
/// A passage that does not fit is skipped and later, smaller ones may still fit. When the best
/// passage alone is over the budget, it is cut to fit rather than leaving the model nothing
/// (unless the budget is 0).
pub fn assemble(
    hits: &[Hit],
    min_similarity: f64,
    budget_tokens: usize,
    counter: &dyn TokenCounter,
) -> Assembled {
    let mut assembled = Assembled::default();

    // 1 and 2: the floor, then duplicates of hits already kept.
    let mut kept: Vec<(usize, &Hit)> = Vec::with_capacity(hits.len());
    let mut seen_chunks: HashSet<Uuid> = HashSet::new();
    let mut seen_texts: HashSet<String> = HashSet::new();
    for (index, hit) in hits.iter().enumerate() {
        let relevant =
            hit.keyword_rank.is_some() || hit.similarity.is_some_and(|s| s >= min_similarity);
        if !relevant {
            assembled.below_floor += 1;
            continue;
        }
        let new_chunk = seen_chunks.insert(hit.chunk_id);
        let new_text = seen_texts.insert(normalise_whitespace(&hit.text));
        if !new_chunk || !new_text {
            assembled.duplicates += 1;
            continue;
        }
        kept.push((index, hit));
    }

    // 3: runs of consecutive ordinals within one document version.
    kept.sort_by(|(ia, a), (ib, b)| {
        (a.document_id, a.version, a.ordinal, *ia).cmp(&(b.document_id, b.version, b.ordinal, *ib))
    });
    let mut runs: Vec<Run<'_>> = Vec::new();
    for (index, hit) in kept {
        if let Some(run) = runs.last_mut()
            && let Some(last) = run.hits.last()
            && last.document_id == hit.document_id
            && last.version == hit.version
            && last.ordinal.checked_add(1) == Some(hit.ordinal)
        {
            run.hits.push(hit);
            run.first_index = run.first_index.min(index);
            run.score = run.score.max(hit.score);
            assembled.merged += 1;
            continue;
        }
        runs.push(Run {
            hits: vec![hit],
            first_index: index,
            score: hit.score,
        });
    }

    // 4: best score first, ties in retrieval order.
    runs.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.first_index.cmp(&b.first_index))
    });
    let mut used = 0usize;
    for (position, run) in runs.iter().enumerate() {
        let mut passage = passage(run, counter);
        if used.saturating_add(passage.tokens) > budget_tokens {
            let truncated = (position == 0 && budget_tokens > 0)
                .then(|| truncate_to_fit(&passage.text, budget_tokens, counter))
                .flatten();
            match truncated {
                Some((text, tokens)) => {
                    passage.text = text;
                    passage.tokens = tokens;
                }
                None => {
                    assembled.over_budget += 1;
                    continue;
                }
            }
        }
        used += passage.tokens;
        passage.number = assembled.passages.len() + 1;
        assembled.passages.push(passage);
    }
    assembled
}

/// The passage for one run, not yet numbered.
fn passage(run: &Run<'_>, counter: &dyn TokenCounter) -> Passage {
    let mut text = String::new();
    for hit in &run.hits {
        join_overlapping(&mut text, &hit.text);
    }
    let first = run.hits.first();
    let tokens = counter.count(&text);
    Passage {
        number: 0,
        document_id: first.map(|h| h.document_id).unwrap_or_default(),
        source_uri: first.map(|h| h.source_uri.clone()).unwrap_or_default(),
        title: first.and_then(|h| h.title.clone()),
        page_from: run.hits.iter().filter_map(|h| h.page_from).min(),
        page_to: run.hits.iter().filter_map(|h| h.page_to).max(),
        heading_path: first.map(|h| strings(&h.heading_path)).unwrap_or_default(),
        chunk_ids: run.hits.iter().map(|h| h.chunk_id).collect(),
        text,
        score: run.score,
        tokens,
        ocr: run.hits.iter().any(|h| h.ocr),
    }
}

/// Appends `next` to `text`, leaving out the longest start of `next` that `text` already ends with
/// (the chunker's overlap); without one, the two are separated by a blank line.
fn join_overlapping(text: &mut String, next: &str) {
    if text.is_empty() {
        text.push_str(next);
        return;
    }
    let overlap = overlap(text, next);
    if overlap == 0 {
        text.push_str("\n\n");
    }
    text.push_str(next.get(overlap..).unwrap_or_default());
}

/// Length in bytes of the longest suffix of `a` that is a prefix of `b`, if it is believable as
/// the chunker's overlap: long enough not to be chance, or starting and ending at word boundaries.
fn overlap(a: &str, b: &str) -> usize {
    let longest = a.len().min(b.len()).min(MAX_OVERLAP_BYTES);
    (1..=longest)
        .rev()
        .filter(|&k| b.is_char_boundary(k))
        .find(|&k| {
            let start = a.len() - k;
            a.as_bytes().get(start..) == b.as_bytes().get(..k)
                && (k >= MIN_BLIND_OVERLAP_BYTES || at_word_boundaries(a, start, b, k))
        })
        .unwrap_or(0)
}

/// Whether `a[start..]` (equal to `b[..end]`) begins a word in `a` and ends one in `b`.
fn at_word_boundaries(a: &str, start: usize, b: &str, end: usize) -> bool {
    let before = a.get(..start).and_then(|s| s.chars().next_back());
    let after = b.get(end..).and_then(|s| s.chars().next());
    let first = b.get(..end).and_then(|s| s.chars().next());
    let last = b.get(..end).and_then(|s| s.chars().next_back());
    let joins = |x: Option<char>, y: Option<char>| match (x, y) {
        (Some(x), Some(y)) => x.is_alphanumeric() && y.is_alphanumeric() && !super::is_cjk(x),
        _ => false,
    };
    !joins(before, first) && !joins(last, after)
}

/// The longest start of `text` that fits in `budget` tokens, ended at a sentence or word boundary
/// when one is near; `None` when not even one character fits.
fn truncate_to_fit(
    text: &str,
    budget: usize,
    counter: &dyn TokenCounter,
) -> Option<(String, usize)> {
    let mut ends: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    ends.push(text.len());
    // Binary search for the last end whose prefix fits. Counts are not strictly monotonic (a
    // space before a word can be free), so this finds a fitting prefix, near the longest.
    let fits = |end: usize| text.get(..end).is_some_and(|p| counter.count(p) <= budget);
    let (mut lo, mut hi) = (0usize, ends.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ends.get(mid).is_some_and(|&end| fits(end)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let cut = *ends.get(lo.checked_sub(1)?)?;
    let prefix = text.get(..cut)?;
    let nicer = nice_cut(prefix).and_then(|end| prefix.get(..end));
    let chosen = nicer
        .map(str::trim_end)
        .filter(|p| !p.is_empty() && counter.count(p) <= budget)
        .unwrap_or(prefix)
        .trim_end();
    (!chosen.is_empty()).then(|| (chosen.to_owned(), counter.count(chosen)))
}

/// A sentence end within the last [`TRUNCATION_LOOKBACK_BYTES`] of `prefix`, else a whitespace.
fn nice_cut(prefix: &str) -> Option<usize> {
    let window_start = prefix.len().saturating_sub(TRUNCATION_LOOKBACK_BYTES);
    // Every sentence the splitter finds ends where the next begins; the last one ends at a stop
    // only if its text does (it may be a sentence cut off by the budget).
    let spans = sentence::sentences(prefix);
    let ended = |span: &sentence::Span<'_>| {
        span.text
            .trim_end_matches(quote::is_closing)
            .chars()
            .next_back()
            .is_some_and(sentence::is_sentence_stop)
    };
    let last_sentence = spans
        .iter()
        .enumerate()
        .filter(|&(i, span)| i + 1 < spans.len() || ended(span))
        .map(|(_, span)| span.end())
        .rfind(|&end| end >= window_start);
    let last_space = prefix
        .char_indices()
        .filter(|&(i, c)| i >= window_start && i > 0 && c.is_whitespace())
        .map(|(i, _)| i)
        .next_back();
    last_sentence.or(last_space)
}

/// The JSON array of strings a chunk's heading path is stored as; anything else is skipped.
fn strings(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Runs of whitespace as one space, none at either end.
fn normalise_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tokens::EstimatingCounter;

    /// One token per character, so budgets in tests are easy to reason about.
    struct CharCounter;

    impl TokenCounter for CharCounter {
        fn count(&self, text: &str) -> usize {
            text.chars().count()
        }

        fn describe(&self) -> String {
            "chars".to_owned()
        }
    }

    fn doc(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn chunk(document: u128, ordinal: i32) -> Uuid {
        Uuid::from_u128((document << 32) | ordinal as u128)
    }

    /// A keyword hit of chunk `ordinal` of document `document`, version 1.
    fn hit(document: u128, ordinal: i32, text: &str, score: f64) -> Hit {
        Hit {
            chunk_id: chunk(document, ordinal),
            document_id: doc(document),
            source_uri: format!("oss://bucket/doc-{document}.md"),
            title: Some(format!("Document {document}")),
            version: 1,
            ordinal,
            page_from: None,
            page_to: None,
            heading_path: serde_json::json!(["Handbook", "Leave"]),
            text: text.to_owned(),
            vector_rank: None,
            keyword_rank: Some(1),
            similarity: None,
            keyword_score: Some(score),
            ocr: false,
            score,
        }
    }

    fn vector_hit(document: u128, ordinal: i32, text: &str, similarity: f64) -> Hit {
        Hit {
            keyword_rank: None,
            vector_rank: Some(1),
            similarity: Some(similarity),
            ..hit(document, ordinal, text, similarity)
        }
    }

    #[test]
    fn hits_below_the_floor_are_dropped_unless_they_matched_query_words() {
        let hits = [
            vector_hit(1, 0, "close in meaning", 0.8),
            vector_hit(2, 0, "far in meaning", 0.2),
            Hit {
                similarity: Some(0.1),
                ..hit(3, 0, "matched a query word", 0.05)
            },
            Hit {
                similarity: None,
                ..vector_hit(4, 0, "no similarity at all", 0.01)
            },
        ];

        let assembled = assemble(&hits, 0.5, 1000, &CharCounter);

        let texts: Vec<&str> = assembled.passages.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["close in meaning", "matched a query word"]);
        assert_eq!(assembled.below_floor, 2);
    }

    #[test]
    fn the_same_chunk_or_the_same_text_is_kept_once() {
        let hits = [
            hit(1, 0, "Annual leave is 22 days.", 0.9),
            hit(1, 0, "Annual leave is 22 days.", 0.8),
            hit(2, 5, "  Annual leave\nis 22   days. ", 0.7),
            hit(3, 0, "annual leave is 22 days.", 0.6),
        ];

        let assembled = assemble(&hits, 0.5, 1000, &CharCounter);

        assert_eq!(assembled.duplicates, 2);
        let texts: Vec<&str> = assembled.passages.iter().map(|p| p.text.as_str()).collect();
        // Case matters: the lower-case copy is another text.
        assert_eq!(
            texts,
            ["Annual leave is 22 days.", "annual leave is 22 days."]
        );
    }

    #[test]
    fn consecutive_chunks_merge_in_ordinal_order_without_their_overlap() {
        let hits = [
            Hit {
                page_from: Some(3),
                page_to: Some(3),
                heading_path: serde_json::json!(["Later heading"]),
                ..hit(
                    1,
                    5,
                    "Carried-over days must be taken by 31 March. After that they lapse.",
                    0.9,
                )
            },
            Hit {
                page_from: Some(2),
                page_to: Some(3),
                ..hit(
                    1,
                    4,
                    "You may carry up to 5 unused days. Carried-over days must be taken by 31 March.",
                    0.7,
                )
            },
            Hit {
                page_from: None,
                page_to: Some(4),
                ..hit(1, 6, "After that they lapse. Ask HR for exceptions.", 0.5)
            },
        ];

        let assembled = assemble(&hits, 0.5, 1000, &CharCounter);

        assert_eq!(assembled.passages.len(), 1, "{:?}", assembled.passages);
        let passage = &assembled.passages[0];
        assert_eq!(
            passage.text,
            "You may carry up to 5 unused days. Carried-over days must be taken by 31 March. After that they lapse. Ask HR for exceptions."
        );
        assert_eq!(passage.chunk_ids, [chunk(1, 4), chunk(1, 5), chunk(1, 6)]);
        assert_eq!((passage.page_from, passage.page_to), (Some(2), Some(4)));
        assert_eq!(passage.heading_path, ["Handbook", "Leave"]);
        assert_eq!(passage.score, 0.9);
        assert_eq!(passage.tokens, passage.text.chars().count());
        assert_eq!(assembled.merged, 2);
    }

    #[test]
    fn neighbours_without_overlap_are_joined_by_a_blank_line() {
        let hits = [
            hit(1, 0, "The policy ends with the", 0.9),
            hit(1, 1, "then clause starts here.", 0.8),
        ];

        let assembled = assemble(&hits, 0.5, 1000, &CharCounter);

        // "the" / "then" share characters by chance; that is not overlap.
        assert_eq!(
            assembled.passages[0].text,
            "The policy ends with the\n\nthen clause starts here."
        );
    }

    #[test]
    fn chinese_chunks_merge_without_their_overlap() {
        let hits = [
            hit(7, 1, "未休完的年假可顺延至次年。须在3月31日前休完。", 0.9),
            hit(7, 2, "须在3月31日前休完。逾期自动清零。", 0.8),
        ];

        let assembled = assemble(&hits, 0.5, 1000, &EstimatingCounter);

        assert_eq!(
            assembled.passages[0].text,
            "未休完的年假可顺延至次年。须在3月31日前休完。逾期自动清零。"
        );
    }

    #[test]
    fn chunks_of_other_documents_versions_or_with_gaps_stay_apart() {
        let hits = [
            hit(1, 1, "one", 0.9),
            hit(1, 3, "three", 0.8),
            Hit {
                version: 2,
                ..hit(1, 2, "two of another version", 0.7)
            },
            hit(2, 2, "two of another document", 0.6),
        ];

        let assembled = assemble(&hits, 0.5, 1000, &CharCounter);

        assert_eq!(assembled.passages.len(), 4);
        assert_eq!(assembled.merged, 0);
    }

    #[test]
    fn passages_are_numbered_by_best_score_ties_in_retrieval_order() {
        let hits = [
            hit(1, 0, "first", 0.5),
            hit(2, 0, "second", 0.5),
            hit(3, 1, "third, merged with a better chunk", 0.4),
            hit(3, 0, "better", 0.9),
        ];

        let assembled = assemble(&hits, 0.5, 1000, &CharCounter);

        let order: Vec<(usize, &str)> = assembled
            .passages
            .iter()
            .map(|p| (p.number, p.text.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (1, "better\n\nthird, merged with a better chunk"),
                (2, "first"),
                (3, "second"),
            ]
        );
    }

    #[test]
    fn a_passage_over_the_budget_is_skipped_and_numbering_stays_contiguous() {
        let hits = [
            hit(1, 0, "twelve chars", 0.9),
            hit(2, 0, "this one is far too long to fit", 0.8),
            hit(3, 0, "tiny", 0.7),
        ];

        let assembled = assemble(&hits, 0.5, 20, &CharCounter);

        let numbered: Vec<(usize, &str)> = assembled
            .passages
            .iter()
            .map(|p| (p.number, p.text.as_str()))
            .collect();
        assert_eq!(numbered, [(1, "twelve chars"), (2, "tiny")]);
        assert_eq!(assembled.over_budget, 1);
        let total: usize = assembled.passages.iter().map(|p| p.tokens).sum();
        assert!(total <= 20);
    }

    #[test]
    fn a_first_passage_over_the_whole_budget_is_cut_at_a_sentence_end() {
        let text = "Leave accrues monthly. Unused days carry over. Ask your manager first.";
        let hits = [hit(1, 0, text, 0.9), hit(2, 0, "another passage", 0.8)];

        let assembled = assemble(&hits, 0.5, 50, &CharCounter);

        assert_eq!(assembled.passages.len(), 1);
        let passage = &assembled.passages[0];
        assert_eq!(
            passage.text,
            "Leave accrues monthly. Unused days carry over."
        );
        assert!(passage.tokens <= 50);
        assert_eq!(assembled.over_budget, 1);
    }

    #[test]
    fn a_cut_without_a_boundary_nearby_lands_on_a_character_boundary() {
        let text = "年".repeat(200);
        let hits = [hit(1, 0, &text, 0.9)];

        let assembled = assemble(&hits, 0.5, 21, &EstimatingCounter);

        // Two estimated tokens per Han character: ten fit in 21.
        assert_eq!(assembled.passages[0].text, "年".repeat(10));
        assert_eq!(assembled.passages[0].tokens, 20);
    }

    #[test]
    fn a_zero_budget_yields_no_passages() {
        let hits = [hit(1, 0, "anything", 0.9)];

        let assembled = assemble(&hits, 0.5, 0, &CharCounter);

        assert!(assembled.passages.is_empty());
        assert_eq!(assembled.over_budget, 1);
    }

    #[test]
    fn no_hits_yield_no_passages() {
        assert_eq!(assemble(&[], 0.5, 100, &CharCounter), Assembled::default());
    }

    #[test]
    fn a_heading_path_that_is_not_a_list_of_strings_is_read_leniently() {
        let hits = [
            Hit {
                heading_path: serde_json::json!(["A", 1, null, "B"]),
                ..hit(1, 0, "one", 0.9)
            },
            Hit {
                heading_path: serde_json::json!({"not": "a list"}),
                ..hit(2, 0, "two", 0.8)
            },
        ];

        let assembled = assemble(&hits, 0.5, 100, &CharCounter);

        assert_eq!(assembled.passages[0].heading_path, ["A", "B"]);
        assert!(assembled.passages[1].heading_path.is_empty());
    }
}
