//! The optional reranking step of a search: the first `top_n` hybrid hits go to a
//! [`Reranker`](crate::llm::rerank::Reranker), which reorders them; hits beyond `top_n` follow in
//! their hybrid order. Reranking only ever reorders: no hit is lost, none appears twice, and each
//! keeps its fields (its `score` stays the hybrid score). When the reranker fails — throttled after
//! its retries, too slow, or answering nonsense — the hits come back in their hybrid order and the
//! report says why, so a search never fails because of its reranker.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{
    llm::rerank::{Ranked, Reranker},
    store::search::Hit,
};

/// What reranking did to one search; responses carry it as `rerank`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RerankReport {
    /// The rerank model.
    pub model: String,
    /// True when the hits are in the reranker's order; false when they kept the hybrid order.
    pub applied: bool,
    /// Time spent reranking, in milliseconds (0 when there was nothing to reorder).
    pub ms: f64,
    /// Why the hits kept their hybrid order, in words; null when reranking was applied or when
    /// there were fewer than two hits to reorder.
    pub error: Option<String>,
}

/// Reranks the first `top_n` hits (see the module documentation).
pub async fn apply(
    reranker: &dyn Reranker,
    query: &str,
    hits: Vec<Hit>,
    top_n: usize,
) -> (Vec<Hit>, RerankReport) {
    apply_by(reranker, query, hits, top_n, |hit: &Hit| hit.text.as_str()).await
}

/// [`apply`] for any item whose text `text` gives.
pub async fn apply_by<T, F>(
    reranker: &dyn Reranker,
    query: &str,
    items: Vec<T>,
    top_n: usize,
    text: F,
) -> (Vec<T>, RerankReport)
where
    F: Fn(&T) -> &str,
{
    let mut report = RerankReport {
        model: reranker.model().to_owned(),
        applied: false,
        ms: 0.0,
        error: None,
    };
    let n = top_n.min(items.len());
    if n < 2 {
        return (items, report);
    }
    let documents: Vec<String> = items[..n]
        .iter()
        .map(|item| text(item).to_owned())
        .collect();
    let started = Instant::now();
    let outcome = reranker.rerank(query, &documents, n).await;
    report.ms = started.elapsed().as_secs_f64() * 1000.0;
    let problem = match outcome {
        Ok(ranked) => match check(&ranked, n) {
            Ok(()) => {
                report.applied = true;
                return (reorder(items, n, &ranked), report);
            }
            Err(problem) => problem,
        },
        Err(err) => err.to_string(),
    };
    tracing::warn!(
        model = report.model,
        error = problem,
        "reranking failed: the hits keep their hybrid order"
    );
    report.error = Some(problem);
    (items, report)
}

/// The reranker's answer must name each of the first `n` items at most once.
fn check(ranked: &[Ranked], n: usize) -> Result<(), String> {
    let mut seen = vec![false; n];
    for rank in ranked {
        match seen.get_mut(rank.index) {
            None => {
                return Err(format!(
                    "the reranker ranked hit {} of only {n} sent: the hits keep their hybrid order",
                    rank.index
                ));
            }
            Some(true) => {
                return Err(format!(
                    "the reranker ranked hit {} twice: the hits keep their hybrid order",
                    rank.index
                ));
            }
            Some(slot) => *slot = true,
        }
        if !rank.score.is_finite() {
            return Err(format!(
                "the reranker gave hit {} the score {}: the hits keep their hybrid order",
                rank.index, rank.score
            ));
        }
    }
    Ok(())
}

/// The ranked items first, in the reranker's order; then the rest of the first `n`, in their
/// order; then the items past `n`, in theirs. `ranked` has passed [`check`].
fn reorder<T>(items: Vec<T>, n: usize, ranked: &[Ranked]) -> Vec<T> {
    let total = items.len();
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(total);
    for rank in ranked {
        if let Some(item) = slots.get_mut(rank.index).and_then(Option::take) {
            ordered.push(item);
        }
    }
    ordered.extend(slots.iter_mut().take(n).filter_map(Option::take));
    ordered.extend(slots.into_iter().skip(n).flatten());
    ordered
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::llm::rerank::{RerankError, RerankUsage};

    // The tests reorder plain strings through `apply_by`, which `apply` calls with each hit's
    // `text`; they build no `Hit`, so they do not depend on its other fields.

    /// Answers what it is told and remembers what it was sent.
    struct Scripted {
        answer: Result<Vec<Ranked>, RerankError>,
        sent: Mutex<Vec<(String, Vec<String>, usize)>>,
        usage: RerankUsage,
    }

    impl Scripted {
        fn new(answer: Result<Vec<Ranked>, RerankError>) -> Self {
            Self {
                answer,
                sent: Mutex::default(),
                usage: RerankUsage::default(),
            }
        }

        fn ranks(indices: &[usize]) -> Self {
            Self::new(Ok(indices
                .iter()
                .enumerate()
                .map(|(at, &index)| Ranked {
                    index,
                    score: 1.0 - at as f64 / 100.0,
                })
                .collect()))
        }

        fn calls(&self) -> Vec<(String, Vec<String>, usize)> {
            self.sent
                .lock()
                .map(|sent| sent.clone())
                .unwrap_or_default()
        }
    }

    #[async_trait]
    impl Reranker for Scripted {
        fn model(&self) -> &str {
            "scripted"
        }

        async fn rerank(
            &self,
            query: &str,
            documents: &[String],
            top_n: usize,
        ) -> Result<Vec<Ranked>, RerankError> {
            if let Ok(mut sent) = self.sent.lock() {
                sent.push((query.to_owned(), documents.to_vec(), top_n));
            }
            self.answer.clone()
        }

        fn usage(&self) -> &RerankUsage {
            &self.usage
        }
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    async fn run(
        reranker: &Scripted,
        items: Vec<String>,
        top_n: usize,
    ) -> (Vec<String>, RerankReport) {
        apply_by(reranker, "q", items, top_n, |item: &String| item.as_str()).await
    }

    #[tokio::test]
    async fn the_first_top_n_are_reordered_and_the_rest_follow_in_order() {
        let reranker = Scripted::ranks(&[2, 0, 1]);
        let (items, report) = run(&reranker, texts(5), 3).await;
        assert_eq!(items, ["t2", "t0", "t1", "t3", "t4"]);
        assert!(report.applied);
        assert_eq!(report.error, None);
        assert_eq!(report.model, "scripted");
        assert_eq!(
            reranker.calls(),
            [("q".to_owned(), texts(3), 3)],
            "only the first top_n texts are sent"
        );
    }

    #[tokio::test]
    async fn unranked_hits_keep_their_relative_order_after_the_ranked_ones() {
        let reranker = Scripted::ranks(&[3, 1]);
        let (items, report) = run(&reranker, texts(6), 4).await;
        assert_eq!(items, ["t3", "t1", "t0", "t2", "t4", "t5"]);
        assert!(report.applied);
    }

    #[tokio::test]
    async fn an_error_keeps_the_hybrid_order_and_says_why() {
        let reranker = Scripted::new(Err(RerankError::Timeout(std::time::Duration::from_secs(3))));
        let (items, report) = run(&reranker, texts(4), 10).await;
        assert_eq!(items, texts(4));
        assert!(!report.applied);
        let error = report.error.expect("an error");
        assert!(
            error.contains("did not answer within the 3s timeout"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_answer_that_breaks_the_contract_is_not_trusted() {
        for (ranked, expected) in [
            (
                vec![Ranked {
                    index: 5,
                    score: 1.0,
                }],
                "ranked hit 5 of only 3",
            ),
            (
                vec![
                    Ranked {
                        index: 1,
                        score: 1.0,
                    },
                    Ranked {
                        index: 1,
                        score: 0.5,
                    },
                ],
                "ranked hit 1 twice",
            ),
            (
                vec![Ranked {
                    index: 0,
                    score: f64::NAN,
                }],
                "the score NaN",
            ),
        ] {
            let reranker = Scripted::new(Ok(ranked));
            let (items, report) = run(&reranker, texts(3), 3).await;
            assert_eq!(items, texts(3), "nothing lost, nothing moved");
            assert!(!report.applied);
            let error = report.error.expect("an error");
            assert!(error.contains(expected), "{error}");
        }
    }

    #[tokio::test]
    async fn fewer_than_two_hits_need_no_call() {
        for n in [0, 1] {
            let reranker = Scripted::ranks(&[0]);
            let (items, report) = run(&reranker, texts(n), 20).await;
            assert_eq!(items, texts(n));
            assert!(!report.applied);
            assert_eq!(report.error, None);
            assert!(reranker.calls().is_empty());
        }
        let reranker = Scripted::ranks(&[0]);
        let (items, _) = run(&reranker, texts(3), 1).await;
        assert_eq!(items, texts(3));
        assert!(reranker.calls().is_empty(), "top_n 1 reorders nothing");
    }

    #[tokio::test]
    async fn an_empty_answer_keeps_the_order_but_counts_as_applied() {
        let reranker = Scripted::ranks(&[]);
        let (items, report) = run(&reranker, texts(3), 3).await;
        assert_eq!(items, texts(3));
        assert!(report.applied);
    }
}
