//! Retrieval quality: a labelled query set (JSONL) and the standard metrics over what a retriever
//! returned for it. Pure functions: running the searches and mapping paths to source URIs is the
//! caller's business.
//!
//! Relevance is binary and counted per document: a retriever returns chunks, so the same source
//! URI may come back several times. Each ranked list is first reduced to its distinct documents,
//! each at its best (first) position, and ranks are positions in that reduced list; so a document
//! with three chunks at the top neither counts three times nor pushes the next document down to
//! rank 4.
//!
//! For a query whose first relevant document is at rank `r` (1-based) among the top 10:
//! - hit@k is 1 when `r ≤ k`, else 0;
//! - reciprocal rank is `1/r` (0 past rank 10);
//! - nDCG@10 is `Σ 1/log2(rank + 1)` over the relevant documents in the top 10, divided by the
//!   same sum for an ideal ranking, i.e. over ranks `1..=min(|relevant|, 10)`.
//!
//! [`Metrics`] holds their means over all queries.

use std::collections::HashSet;

/// One labelled query (a line of a JSONL file): {"query": "...", "relevant": ["file://…/leave.md", …]},
/// optionally with "must_contain": a term a correct answer contains (`adbrag eval --answers`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Labelled {
    pub query: String,
    pub relevant: Vec<String>,
    #[serde(default)]
    pub must_contain: Option<String>,
}

/// Means over the queries; all 0 when there are none.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub queries: usize,
    pub hit_at_1: f64,
    pub hit_at_3: f64,
    pub hit_at_5: f64,
    pub hit_at_10: f64,
    pub mrr_at_10: f64,
    pub ndcg_at_10: f64,
}

/// Why a labelled set could not be read. Line numbers are 1-based, as editors show them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error(
        "line {line}: {problem}: write one JSON object per line, like {{\"query\": \"how many days of annual leave do I get?\", \"relevant\": [\"examples/corpus/leave-policy.md\"]}}"
    )]
    Json { line: usize, problem: String },
    #[error("line {line}: \"query\" is empty: write the question to search for")]
    EmptyQuery { line: usize },
    #[error(
        "line {line}: \"relevant\" is empty: list the source URI of at least one document the query should find"
    )]
    NoRelevant { line: usize },
    #[error(
        "line {line}: item {item} of \"relevant\" is empty: write the source URI of a document the query should find"
    )]
    EmptyRelevant { line: usize, item: usize },
    #[error(
        "no labelled queries found: write one JSON object per line (blank lines and lines starting with # are skipped)"
    )]
    NoQueries,
}

/// Metrics are computed over the top this many documents.
const CUTOFF: usize = 10;

/// Parses a labelled set: one JSON object per line; blank lines and lines starting with `#`
/// (after leading whitespace) are skipped. Unknown keys are ignored, so a line may carry notes.
pub fn read_jsonl(text: &str) -> Result<Vec<Labelled>, EvalError> {
    // A byte-order mark from a Windows editor would otherwise make line 1 invalid JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut labelled = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let item: Labelled = serde_json::from_str(trimmed).map_err(|err| EvalError::Json {
            line,
            problem: describe_json_error(&err),
        })?;
        if item.query.trim().is_empty() {
            return Err(EvalError::EmptyQuery { line });
        }
        if item.relevant.is_empty() {
            return Err(EvalError::NoRelevant { line });
        }
        if let Some(position) = item.relevant.iter().position(|uri| uri.trim().is_empty()) {
            return Err(EvalError::EmptyRelevant {
                line,
                item: position + 1,
            });
        }
        labelled.push(item);
    }
    if labelled.is_empty() {
        return Err(EvalError::NoQueries);
    }
    Ok(labelled)
}

/// serde_json's message without its " at line 1 column N" (always line 1 here: we parse one
/// line at a time, and the caller's line number is the one that helps).
fn describe_json_error(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    format!("{message} (column {})", err.column())
}

/// `ranked[i]` is the list of source URIs returned for `labelled[i]`, best first (duplicates allowed: a document with several chunks; count a document once, at its best rank).
///
/// A query with no entry in `ranked` (the slice is shorter) counts as one that found nothing.
pub fn evaluate(labelled: &[Labelled], ranked: &[Vec<String>]) -> Metrics {
    if labelled.is_empty() {
        return Metrics::default();
    }
    let mut sum = Metrics::default();
    for (i, item) in labelled.iter().enumerate() {
        let relevant: HashSet<&str> = item.relevant.iter().map(String::as_str).collect();
        let returned = ranked.get(i).map(Vec::as_slice).unwrap_or_default();
        let top = distinct_top(returned);
        // 1-based ranks of the relevant documents among the top distinct ones.
        let hits: Vec<usize> = top
            .iter()
            .enumerate()
            .filter(|(_, uri)| relevant.contains(*uri))
            .map(|(position, _)| position + 1)
            .collect();
        if let Some(&first) = hits.first() {
            let hit = |k: usize| if first <= k { 1.0 } else { 0.0 };
            sum.hit_at_1 += hit(1);
            sum.hit_at_3 += hit(3);
            sum.hit_at_5 += hit(5);
            sum.hit_at_10 += hit(10);
            sum.mrr_at_10 += 1.0 / first as f64;
            let dcg: f64 = hits.iter().map(|&rank| gain(rank)).sum();
            let ideal: f64 = (1..=relevant.len().min(CUTOFF)).map(gain).sum();
            sum.ndcg_at_10 += dcg / ideal;
        }
    }
    let n = labelled.len() as f64;
    Metrics {
        queries: labelled.len(),
        hit_at_1: sum.hit_at_1 / n,
        hit_at_3: sum.hit_at_3 / n,
        hit_at_5: sum.hit_at_5 / n,
        hit_at_10: sum.hit_at_10 / n,
        mrr_at_10: sum.mrr_at_10 / n,
        ndcg_at_10: sum.ndcg_at_10 / n,
    }
}

/// The reciprocal rank (1/r, 0 past rank 10) of the first relevant document in one ranked list,
/// by the same per-document rule as [`evaluate`].
pub fn reciprocal_rank(item: &Labelled, returned: &[String]) -> f64 {
    distinct_top(returned)
        .iter()
        .position(|uri| item.relevant.iter().any(|r| r == uri))
        .map_or(0.0, |position| 1.0 / (position + 1) as f64)
}

/// Per-query comparison of two systems by reciprocal rank: how often `a` ranked the first
/// relevant document higher than `b`, lower, or the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WinsLosses {
    pub wins: usize,
    pub losses: usize,
    pub ties: usize,
}

pub fn wins_losses(a: &[f64], b: &[f64]) -> WinsLosses {
    let mut out = WinsLosses::default();
    for (x, y) in a.iter().zip(b) {
        if (x - y).abs() < 1e-12 {
            out.ties += 1;
        } else if x > y {
            out.wins += 1;
        } else {
            out.losses += 1;
        }
    }
    out
}

/// How the configured answerer did on a labelled set, as shares of the queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct AnswerMetrics {
    pub queries: usize,
    /// Answered at all (not "could not find").
    pub answered: f64,
    /// Containing the query's `must_contain` term, over the queries that have one.
    pub contains_term: f64,
    pub with_term: usize,
    /// Citing at least one relevant document.
    pub cites_relevant: f64,
}

/// One answer, as [`answer_metrics`] scores it (and `adbrag eval --answers --json` prints it).
#[derive(serde::Serialize)]
pub struct Answered<'a> {
    pub found: bool,
    pub text: &'a str,
    pub cited: Vec<&'a str>,
}

/// The shares over `labelled[i]` answered by `answers[i]`. The term is matched ignoring case.
pub fn answer_metrics(labelled: &[Labelled], answers: &[Answered<'_>]) -> AnswerMetrics {
    let mut m = AnswerMetrics {
        queries: labelled.len(),
        ..AnswerMetrics::default()
    };
    if labelled.is_empty() {
        return m;
    }
    let (mut answered, mut contains, mut cites) = (0usize, 0usize, 0usize);
    for (item, answer) in labelled.iter().zip(answers) {
        answered += usize::from(answer.found);
        if let Some(term) = item
            .must_contain
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            m.with_term += 1;
            contains += usize::from(
                answer
                    .text
                    .to_lowercase()
                    .contains(&term.trim().to_lowercase()),
            );
        }
        cites += usize::from(
            answer
                .cited
                .iter()
                .any(|uri| item.relevant.iter().any(|r| r == uri)),
        );
    }
    let n = labelled.len() as f64;
    m.answered = answered as f64 / n;
    m.contains_term = if m.with_term == 0 {
        0.0
    } else {
        contains as f64 / m.with_term as f64
    };
    m.cites_relevant = cites as f64 / n;
    m
}

/// The first CUTOFF distinct URIs, each at its first position.
pub fn distinct_top(returned: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    returned
        .iter()
        .map(String::as_str)
        .filter(|uri| seen.insert(*uri))
        .take(CUTOFF)
        .collect()
}

/// The discounted gain of one relevant document at a 1-based rank.
fn gain(rank: usize) -> f64 {
    1.0 / (rank as f64 + 1.0).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(relevant: &[&str]) -> Labelled {
        Labelled {
            query: "q".to_owned(),
            relevant: relevant.iter().map(|s| (*s).to_owned()).collect(),
            must_contain: None,
        }
    }

    fn ranked(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| (*s).to_owned()).collect()
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn answers_are_scored_by_found_term_and_citation() {
        let mut with_term = labelled(&["a"]);
        with_term.must_contain = Some("Twenty".to_owned());
        let items = [with_term.clone(), with_term, labelled(&["b"])];
        let answers = [
            Answered {
                found: true,
                text: "You get twenty days [1].",
                cited: vec!["a"],
            },
            Answered {
                found: true,
                text: "Ask HR [1].",
                cited: vec!["c"],
            },
            Answered {
                found: false,
                text: "I could not find this.",
                cited: vec![],
            },
        ];

        let m = answer_metrics(&items, &answers);

        assert_eq!((m.queries, m.with_term), (3, 2));
        close(m.answered, 2.0 / 3.0);
        close(m.contains_term, 0.5);
        close(m.cites_relevant, 1.0 / 3.0);
    }

    #[test]
    fn reciprocal_ranks_count_documents_once_and_compare_per_query() {
        let item = labelled(&["b"]);
        close(reciprocal_rank(&item, &ranked(&["a", "a", "b"])), 0.5);
        close(reciprocal_rank(&item, &ranked(&["a"])), 0.0);
        assert_eq!(
            wins_losses(&[1.0, 0.5, 0.0, 0.2], &[0.5, 0.5, 1.0, 0.0]),
            WinsLosses {
                wins: 2,
                losses: 1,
                ties: 1
            }
        );
    }

    #[test]
    fn a_relevant_document_at_rank_two_scores_half_mrr_and_one_over_log2_3_ndcg() {
        let m = evaluate(&[labelled(&["b"])], &[ranked(&["a", "b", "c"])]);
        assert_eq!(m.queries, 1);
        close(m.hit_at_1, 0.0);
        close(m.hit_at_3, 1.0);
        close(m.hit_at_5, 1.0);
        close(m.hit_at_10, 1.0);
        close(m.mrr_at_10, 0.5);
        close(m.ndcg_at_10, 1.0 / 3f64.log2());
    }

    #[test]
    fn a_perfect_ranking_scores_one_everywhere() {
        let m = evaluate(&[labelled(&["a", "b"])], &[ranked(&["a", "b", "c"])]);
        for value in [
            m.hit_at_1,
            m.hit_at_3,
            m.hit_at_10,
            m.mrr_at_10,
            m.ndcg_at_10,
        ] {
            close(value, 1.0);
        }
    }

    #[test]
    fn ndcg_divides_by_the_ideal_for_the_number_of_relevant_documents() {
        // Relevant at ranks 1 and 3 of 2 relevant: (1 + 1/log2 4) / (1 + 1/log2 3).
        let m = evaluate(&[labelled(&["a", "c"])], &[ranked(&["a", "b", "c"])]);
        close(m.ndcg_at_10, 1.5 / (1.0 + 1.0 / 3f64.log2()));
        // Three relevant, one found at rank 1: 1 / (1 + 1/log2 3 + 1/log2 4).
        let m = evaluate(&[labelled(&["a", "x", "y"])], &[ranked(&["a", "b"])]);
        close(m.ndcg_at_10, 1.0 / (1.0 + 1.0 / 3f64.log2() + 0.5));
    }

    #[test]
    fn the_ideal_ranking_is_cut_at_ten_when_more_documents_are_relevant() {
        let relevant: Vec<String> = (0..12).map(|i| format!("d{i}")).collect();
        let relevant: Vec<&str> = relevant.iter().map(String::as_str).collect();
        let m = evaluate(&[labelled(&relevant)], &[ranked(&relevant)]);
        close(m.ndcg_at_10, 1.0);
    }

    #[test]
    fn chunks_of_one_document_count_once_at_its_best_rank() {
        // Distinct documents: a, b. b is rank 2, not 4.
        let m = evaluate(&[labelled(&["b"])], &[ranked(&["a", "a", "a", "b", "b"])]);
        close(m.mrr_at_10, 0.5);
        close(m.ndcg_at_10, 1.0 / 3f64.log2());
        // A relevant document repeated does not score more than once.
        let m = evaluate(&[labelled(&["a"])], &[ranked(&["a", "a", "a"])]);
        close(m.ndcg_at_10, 1.0);
    }

    #[test]
    fn only_the_top_ten_distinct_documents_count() {
        let mut uris: Vec<String> = (1..=9).map(|i| format!("n{i}")).collect();
        uris.push("hit".to_owned());
        let m = evaluate(&[labelled(&["hit"])], std::slice::from_ref(&uris));
        close(m.hit_at_5, 0.0);
        close(m.hit_at_10, 1.0);
        close(m.mrr_at_10, 0.1);
        close(m.ndcg_at_10, 1.0 / 11f64.log2());
        uris.insert(0, "n0".to_owned());
        let m = evaluate(&[labelled(&["hit"])], &[uris]);
        assert_eq!(
            m,
            Metrics {
                queries: 1,
                ..Metrics::default()
            }
        );
    }

    #[test]
    fn metrics_are_means_over_queries_and_a_missing_list_found_nothing() {
        let queries = [labelled(&["a"]), labelled(&["b"]), labelled(&["c"])];
        let m = evaluate(&queries, &[ranked(&["a"]), ranked(&["x", "y", "b"])]);
        assert_eq!(m.queries, 3);
        close(m.hit_at_1, 1.0 / 3.0);
        close(m.hit_at_3, 2.0 / 3.0);
        close(m.mrr_at_10, (1.0 + 1.0 / 3.0) / 3.0);
        close(m.ndcg_at_10, (1.0 + 0.5) / 3.0);
    }

    #[test]
    fn no_queries_give_all_zero_metrics() {
        assert_eq!(evaluate(&[], &[]), Metrics::default());
    }

    #[test]
    fn jsonl_skips_blank_lines_and_comments_and_tolerates_crlf_and_a_bom() {
        let text = "\u{feff}# relevant paths are relative to the repo root\r\n\r\n\
                    {\"query\": \"年假有几天？\", \"relevant\": [\"examples/corpus/a.md\"]}\r\n   \n\
                    \t# another comment\n\
                    {\"query\": \"expenses\", \"relevant\": [\"x\", \"y\"], \"note\": \"extra keys are fine\"}\n";
        let items = read_jsonl(text).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].query, "年假有几天？");
        assert_eq!(items[0].relevant, ["examples/corpus/a.md"]);
        assert_eq!(items[1].relevant, ["x", "y"]);
    }

    #[test]
    fn the_example_labelled_set_reads_and_names_files_of_the_example_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("examples/eval.jsonl")).unwrap();
        let items = read_jsonl(&text).unwrap();
        assert!(items.len() >= 30, "{} queries", items.len());
        let chinese = items
            .iter()
            .filter(|item| item.query.chars().any(crate::text::is_han))
            .count();
        assert!(chinese >= 10, "{chinese} Chinese queries");
        for uri in items.iter().flat_map(|item| &item.relevant) {
            assert!(uri.starts_with("examples/corpus/"), "{uri}");
            assert!(
                root.join(uri).is_file(),
                "{uri} is not in the example corpus"
            );
        }
    }

    #[test]
    fn jsonl_errors_name_the_line_and_what_to_fix() {
        let example = "write one JSON object per line, like {\"query\": \"how many days of annual leave do I get?\", \"relevant\": [\"examples/corpus/leave-policy.md\"]}";
        let ok = "{\"query\": \"q\", \"relevant\": [\"a\"]}";
        let cases = [
            (format!("# c\n{ok}\n{{\"query\": \"q\"}}"), format!("line 3: missing field `relevant` (column 14): {example}")),
            (format!("{ok}\n\n{{\"query\": \"q\", \"relevant\": \"a\"}}"), format!("line 3: invalid type: string \"a\", expected a sequence (column 30): {example}")),
            ("<tr><td>q</td></tr>".to_owned(), format!("line 1: expected value (column 1): {example}")),
            (format!("{ok}\n{{\"query\": \" \", \"relevant\": [\"a\"]}}"), "line 2: \"query\" is empty: write the question to search for".to_owned()),
            ("{\"query\": \"q\", \"relevant\": []}".to_owned(), "line 1: \"relevant\" is empty: list the source URI of at least one document the query should find".to_owned()),
            ("{\"query\": \"q\", \"relevant\": [\"a\", \"\"]}".to_owned(), "line 1: item 2 of \"relevant\" is empty: write the source URI of a document the query should find".to_owned()),
            ("# only comments\n\n".to_owned(), "no labelled queries found: write one JSON object per line (blank lines and lines starting with # are skipped)".to_owned()),
        ];
        for (text, message) in cases {
            match read_jsonl(&text) {
                Ok(items) => panic!("{text:?} should be refused, read {items:?}"),
                Err(err) => assert_eq!(err.to_string(), message),
            }
        }
    }
}
