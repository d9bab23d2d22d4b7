//! The reranker over real HTTP, against the fake Model Studio rerank server: both wire shapes,
//! retries, time limits, answers that cannot be trusted, and the API key. No database is needed.

use std::{sync::Arc, time::Duration};

use adbrag::{
    llm::rerank::{self, ModelStudioReranker, RerankApi, RerankSettings, Reranker},
    search::rerank::{RerankReport, apply_by},
};
use secrecy::SecretString;

use crate::harness::rerank::{COMPATIBLE_PATH, DASHSCOPE_PATH, FakeRerank, Fault, fake_order};

const KEY: &str = "sk-rerank-test-secret-7f3a";
const QUERY: &str = "how many days of annual leave";

fn settings(fake: &FakeRerank, model: &str) -> RerankSettings {
    RerankSettings {
        base_url: Some(fake.base_url()),
        model: model.to_owned(),
        api_key: Some(SecretString::from(KEY)),
        api: None,
        top_n: 20,
        timeout: Duration::from_secs(3),
        max_attempts: 3,
    }
}

fn client(settings: &RerankSettings) -> Arc<dyn Reranker> {
    rerank::reranker(settings)
        .expect("valid settings")
        .expect("a base URL turns reranking on")
}

fn documents() -> Vec<String> {
    [
        "Office hours are nine to five.",
        "Annual leave: employees get twenty days of annual leave.",
        "Unused leave expires at the end of March.",
        "The canteen opens at noon.",
        "How many days of leave? Twenty days of annual leave a year.",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A stand-in for a search hit: its hybrid position and its text.
#[derive(Debug, Clone, PartialEq)]
struct Passage {
    position: usize,
    text: String,
}

fn passages() -> Vec<Passage> {
    documents()
        .into_iter()
        .enumerate()
        .map(|(position, text)| Passage { position, text })
        .collect()
}

async fn rerank_passages(reranker: &dyn Reranker, top_n: usize) -> (Vec<usize>, RerankReport) {
    let (passages, report) = apply_by(reranker, QUERY, passages(), top_n, |passage: &Passage| {
        passage.text.as_str()
    })
    .await;
    (passages.iter().map(|p| p.position).collect(), report)
}

#[tokio::test]
async fn both_wire_shapes_give_the_fakes_order() {
    let expected = fake_order(QUERY, &documents());
    assert_eq!(expected, [4, 1, 2, 0, 3], "the fake's rule, spelled out");
    for (model, api, path) in [
        ("gte-rerank-v2", None, DASHSCOPE_PATH),
        ("qwen3-rerank", None, COMPATIBLE_PATH),
        ("qwen3-rerank", Some(RerankApi::DashScope), DASHSCOPE_PATH),
    ] {
        let fake = FakeRerank::start().await;
        let reranker = client(&RerankSettings {
            api,
            ..settings(&fake, model)
        });
        let ranked = reranker
            .rerank(QUERY, &documents(), 5)
            .await
            .expect("the fake answers");
        let order: Vec<usize> = ranked.iter().map(|rank| rank.index).collect();
        assert_eq!(order, expected, "{model} over {path}");
        assert!(
            ranked.windows(2).all(|pair| pair[0].score >= pair[1].score),
            "best first: {ranked:?}"
        );

        let recorded = fake.recorded();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].path, path);
        let body = &recorded[0].body;
        assert_eq!(body["model"], model);
        if path == DASHSCOPE_PATH {
            assert_eq!(body["input"]["query"], QUERY);
            assert_eq!(body["input"]["documents"].as_array().map(Vec::len), Some(5));
            assert_eq!(body["parameters"]["top_n"], 5);
            assert_eq!(body["parameters"]["return_documents"], false);
        } else {
            assert_eq!(body["query"], QUERY);
            assert_eq!(body["documents"].as_array().map(Vec::len), Some(5));
            assert_eq!(body["top_n"], 5);
            assert!(body.get("input").is_none() && body.get("instruct").is_none());
        }

        let usage = reranker.usage().snapshot();
        assert_eq!((usage.calls, usage.errors, usage.requests), (1, 0, 1));
        assert_eq!(usage.documents, 5);
        assert!(usage.tokens > 0, "the fake reports tokens: {usage:?}");
    }
}

#[tokio::test]
async fn top_n_is_sent_and_only_that_many_come_back() {
    let fake = FakeRerank::start().await;
    let reranker = client(&settings(&fake, "gte-rerank-v2"));
    let ranked = reranker
        .rerank(QUERY, &documents(), 2)
        .await
        .expect("the fake answers");
    let order: Vec<usize> = ranked.iter().map(|rank| rank.index).collect();
    assert_eq!(order, [4, 1]);
    assert_eq!(fake.recorded()[0].body["parameters"]["top_n"], 2);
}

#[tokio::test]
async fn hits_past_top_n_are_not_sent_and_follow_in_their_order() {
    let fake = FakeRerank::start().await;
    let reranker = client(&settings(&fake, "qwen3-rerank"));
    let (order, report) = rerank_passages(reranker.as_ref(), 3).await;
    // Of the first three, 1 matches best, then 2, then 0; 3 and 4 were never sent.
    assert_eq!(order, [1, 2, 0, 3, 4]);
    assert!(report.applied, "{report:?}");
    assert_eq!(report.model, "qwen3-rerank");
    assert_eq!(report.error, None);
    assert!(report.ms > 0.0);
    let sent = &fake.recorded()[0].body["documents"];
    assert_eq!(sent.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn throttling_then_success_is_retried() {
    let fake = FakeRerank::start().await;
    fake.push_fault(Fault::Status {
        status: 429,
        code: "Throttling.RateQuota",
        retry_after: Some(0),
    });
    let reranker = client(&settings(&fake, "gte-rerank-v2"));
    let (order, report) = rerank_passages(reranker.as_ref(), 20).await;
    assert!(report.applied, "{report:?}");
    assert_eq!(order, [4, 1, 2, 0, 3]);
    assert_eq!(fake.recorded().len(), 2, "one 429, one success");
    let usage = reranker.usage().snapshot();
    assert_eq!(
        (
            usage.calls,
            usage.errors,
            usage.requests,
            usage.retries,
            usage.throttled
        ),
        (1, 0, 2, 1, 1)
    );
}

#[tokio::test]
async fn a_server_error_that_persists_falls_back_after_every_attempt() {
    let fake = FakeRerank::start().await;
    for _ in 0..2 {
        fake.push_fault(Fault::Status {
            status: 500,
            code: "InternalError",
            retry_after: None,
        });
    }
    let reranker = client(&RerankSettings {
        max_attempts: 2,
        ..settings(&fake, "gte-rerank-v2")
    });
    let (order, report) = rerank_passages(reranker.as_ref(), 20).await;
    assert_eq!(order, [0, 1, 2, 3, 4], "the hybrid order, untouched");
    assert!(!report.applied);
    let error = report.error.expect("an error");
    assert!(error.contains("kept failing"), "{error}");
    assert!(error.contains("500"), "{error}");
    assert_eq!(fake.recorded().len(), 2);
    assert_eq!(reranker.usage().snapshot().errors, 1);
}

#[tokio::test]
async fn a_rejection_is_not_retried_and_says_what_to_check() {
    for model in ["gte-rerank-v2", "qwen3-rerank"] {
        let fake = FakeRerank::start().await;
        fake.push_fault(Fault::Status {
            status: 401,
            code: "InvalidApiKey",
            retry_after: None,
        });
        let reranker = client(&settings(&fake, model));
        let (order, report) = rerank_passages(reranker.as_ref(), 20).await;
        assert_eq!(order, [0, 1, 2, 3, 4]);
        assert!(!report.applied);
        let error = report.error.expect("an error");
        assert!(
            error.contains("refused the request (401 InvalidApiKey)"),
            "{model}: {error}"
        );
        assert!(
            error.contains("fake provider error: InvalidApiKey"),
            "{model}: {error}"
        );
        assert!(error.contains("ADBRAG_RERANK_API_KEY"), "{model}: {error}");
        assert_eq!(fake.recorded().len(), 1, "{model}: a 401 is final");
    }
}

#[tokio::test]
async fn a_slow_answer_falls_back_at_the_timeout() {
    let fake = FakeRerank::start().await;
    fake.push_fault(Fault::Delay(Duration::from_secs(3)));
    let reranker = client(&RerankSettings {
        timeout: Duration::from_millis(300),
        ..settings(&fake, "gte-rerank-v2")
    });
    let (order, report) = rerank_passages(reranker.as_ref(), 20).await;
    assert_eq!(order, [0, 1, 2, 3, 4]);
    assert!(!report.applied);
    let error = report.error.expect("an error");
    assert!(
        error.contains("did not answer within the 300ms timeout"),
        "{error}"
    );
    assert!(error.contains("ADBRAG_RERANK_TIMEOUT"), "{error}");
    assert!(
        report.ms < 1500.0,
        "the timeout bounds the whole call: {} ms",
        report.ms
    );
    assert_eq!(reranker.usage().snapshot().errors, 1);
}

#[tokio::test]
async fn answers_that_cannot_be_trusted_fall_back_with_a_clear_error() {
    for (fault, expected) in [
        (Fault::MalformedBody, "the body is not JSON"),
        (
            Fault::OutOfRangeIndex,
            "points at document 5, but only 5 were sent",
        ),
        (Fault::DuplicateIndex, "a second time"),
    ] {
        for model in ["gte-rerank-v2", "qwen3-rerank"] {
            let fake = FakeRerank::start().await;
            fake.push_fault(fault.clone());
            let reranker = client(&settings(&fake, model));
            let (order, report) = rerank_passages(reranker.as_ref(), 20).await;
            assert_eq!(order, [0, 1, 2, 3, 4], "{model} {fault:?}");
            assert!(!report.applied);
            let error = report.error.expect("an error");
            assert!(
                error.contains("not a valid rerank response") && error.contains(expected),
                "{model} {fault:?}: {error}"
            );
            assert_eq!(fake.recorded().len(), 1, "a bad answer is not retried");
            assert_eq!(reranker.usage().snapshot().errors, 1);
        }
    }
}

#[tokio::test]
async fn partial_results_leave_the_rest_in_hybrid_order() {
    let fake = FakeRerank::start().await;
    fake.push_fault(Fault::FewerResults(2));
    let reranker = client(&settings(&fake, "qwen3-rerank"));
    let (order, report) = rerank_passages(reranker.as_ref(), 20).await;
    assert!(report.applied, "{report:?}");
    // 4 and 1 came back; 0, 2 and 3 follow in their hybrid order.
    assert_eq!(order, [4, 1, 0, 2, 3]);
}

#[tokio::test]
async fn the_key_is_a_bearer_header_and_appears_nowhere_else() {
    let fake = FakeRerank::start().await;
    let settings = settings(&fake, "gte-rerank-v2");
    let reranker = client(&settings);
    reranker
        .rerank(QUERY, &documents(), 5)
        .await
        .expect("the fake answers");
    assert_eq!(
        fake.recorded()[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );

    fake.push_fault(Fault::Status {
        status: 401,
        code: "InvalidApiKey",
        retry_after: None,
    });
    let err = reranker
        .rerank(QUERY, &documents(), 5)
        .await
        .expect_err("refused");
    let (_, report) = rerank_passages(reranker.as_ref(), 20).await;
    fake.push_fault(Fault::Delay(Duration::from_secs(2)));
    let timed_out = client(&RerankSettings {
        timeout: Duration::from_millis(200),
        ..settings.clone()
    })
    .rerank(QUERY, &documents(), 5)
    .await
    .expect_err("too slow");
    let direct = ModelStudioReranker::new(&fake.base_url(), &settings).expect("valid");
    for text in [
        format!("{settings:?}"),
        format!("{direct:?}"),
        err.to_string(),
        format!("{err:?}"),
        timed_out.to_string(),
        format!("{report:?}"),
    ] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(!text.contains("7f3a"), "part of the key leaked: {text}");
    }
}
