//! `adbrag eval labelled.jsonl --collection NAME`: retrieval quality per mode, so a ranking change
//! is measured, not guessed.

use std::path::Path;

use anyhow::Context;

use crate::{
    answer::{self, Question},
    config::EvalArgs,
    llm,
    llm::chat::{Message, Role},
    search::{
        eval,
        retrieve::{self, Request},
    },
    store::{collections, search::Mode},
};

pub async fn run(args: EvalArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut labelled = eval::read_jsonl(&text)?;
    // Paths in the file name documents as `adbrag ingest` stored them: file:// + canonical path.
    for item in &mut labelled {
        for relevant in &mut item.relevant {
            if !relevant.contains("://")
                && let Ok(path) = Path::new(relevant.as_str()).canonicalize()
            {
                *relevant = format!("file://{}", path.display());
            }
        }
    }
    let (pool, dialect) = super::open(&args.database, Some(args.search.ef_search)).await?;
    let collection = collections::get(&pool, &args.tenant, &args.collection).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let reranker = llm::rerank::reranker(&args.search.rerank.settings())?;
    let options = args.search.options(dialect);

    let modes = [Mode::Vector, Mode::Keyword, Mode::Hybrid];
    let mut metrics = Vec::with_capacity(modes.len());
    // reciprocal[m][q]: query q's reciprocal rank in mode m.
    let mut reciprocal: Vec<Vec<f64>> = Vec::with_capacity(modes.len());
    let mut notes: Vec<Vec<String>> = vec![Vec::new(); labelled.len()];
    // top[m][q]: query q's first ten distinct documents in mode m, for comparing rankings.
    let mut top: Vec<Vec<Vec<String>>> = Vec::with_capacity(modes.len());
    for mode in modes {
        let mut ranked = Vec::with_capacity(labelled.len());
        for (q, item) in labelled.iter().enumerate() {
            let results = retrieve::search(
                &pool,
                embedder.as_ref(),
                reranker.as_deref(),
                &collection,
                &Request {
                    // Hits are chunks; enough of them to see ten distinct documents.
                    query: item.query.clone(),
                    top_k: 50,
                    mode,
                    filter: None,
                    principals: None,
                },
                &options,
            )
            .await?;
            if mode == Mode::Hybrid {
                notes[q] = results.notes;
            }
            ranked.push(
                results
                    .hits
                    .into_iter()
                    .map(|hit| hit.source_uri)
                    .collect::<Vec<_>>(),
            );
        }
        metrics.push(eval::evaluate(&labelled, &ranked));
        top.push(
            ranked
                .iter()
                .map(|r| {
                    eval::distinct_top(r)
                        .into_iter()
                        .map(str::to_owned)
                        .collect()
                })
                .collect(),
        );
        reciprocal.push(
            labelled
                .iter()
                .zip(&ranked)
                .map(|(item, returned)| eval::reciprocal_rank(item, returned))
                .collect(),
        );
    }
    let answers = if args.answers {
        Some(
            answer_all(
                &args,
                &pool,
                embedder.as_ref(),
                reranker.clone(),
                &collection,
                &labelled,
                &options,
            )
            .await?,
        )
    } else {
        None
    };
    // Each answer as it is scored, and as `--json` prints it.
    let scored: Vec<eval::Answered<'_>> = answers
        .iter()
        .flat_map(|(_, each)| each)
        .map(|a| eval::Answered {
            found: a.found,
            text: &a.answer,
            cited: a.citations.iter().map(|c| c.source_uri.as_str()).collect(),
        })
        .collect();
    let answer_metrics = answers
        .as_ref()
        .map(|(model, _)| (model, eval::answer_metrics(&labelled, &scored)));
    let hybrid_vs_vector = eval::wins_losses(&reciprocal[2], &reciprocal[0]);
    let hybrid_vs_keyword = eval::wins_losses(&reciprocal[2], &reciprocal[1]);

    if args.json {
        let queries: Vec<serde_json::Value> = labelled
            .iter()
            .enumerate()
            .map(|(q, item)| {
                serde_json::json!({
                    "query": item.query,
                    "reciprocal_rank": {
                        "vector": reciprocal[0][q],
                        "keyword": reciprocal[1][q],
                        "hybrid": reciprocal[2][q],
                    },
                    "notes": notes[q],
                    "top10": {
                        "vector": top[0][q],
                        "keyword": top[1][q],
                        "hybrid": top[2][q],
                    },
                    "answer": scored.get(q),
                })
            })
            .collect();
        let report = serde_json::json!({
            "collection": args.collection,
            "fusion": options.fusion,
            "modes": {
                "vector": metrics[0],
                "keyword": metrics[1],
                "hybrid": metrics[2],
            },
            "hybrid_vs_vector": hybrid_vs_vector,
            "hybrid_vs_keyword": hybrid_vs_keyword,
            "answers": answer_metrics,
            "queries": queries,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:<8} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "mode", "queries", "hit@1", "hit@3", "hit@5", "hit@10", "MRR@10", "nDCG@10"
    );
    for (mode, m) in modes.iter().zip(&metrics) {
        println!(
            "{:<8} {:>7} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>7.3} {:>7.3}",
            mode.as_str(),
            m.queries,
            m.hit_at_1,
            m.hit_at_3,
            m.hit_at_5,
            m.hit_at_10,
            m.mrr_at_10,
            m.ndcg_at_10
        );
    }
    for (leg, wl) in [("vector", hybrid_vs_vector), ("keyword", hybrid_vs_keyword)] {
        println!(
            "hybrid against {leg}: better on {}, worse on {}, the same on {} queries (reciprocal rank)",
            wl.wins, wl.losses, wl.ties
        );
    }
    if let Some((model, m)) = &answer_metrics {
        println!(
            "answers by {model}: {:.3} answered, {:.3} contain the expected term ({} queries have one), {:.3} cite a relevant document",
            m.answered, m.contains_term, m.with_term, m.cites_relevant
        );
    }
    Ok(())
}

/// Answers every labelled query with the configured answerer: its name and the answers, in order.
async fn answer_all(
    args: &EvalArgs,
    pool: &sqlx::PgPool,
    embedder: &dyn llm::Embedder,
    reranker: Option<std::sync::Arc<dyn llm::rerank::Reranker>>,
    collection: &collections::Collection,
    labelled: &[eval::Labelled],
    options: &crate::search::retrieve::SearchOptions,
) -> anyhow::Result<(String, Vec<answer::Answer>)> {
    let answerer =
        answer::answerer(&args.chat.config()?, args.chat.answer())?.with_reranker(reranker);
    let mut answers = Vec::with_capacity(labelled.len());
    for item in labelled {
        let question = Question {
            messages: vec![Message::new(Role::User, item.query.clone())],
            top_k: args.answer_top_k,
            filter: None,
            principals: None,
        };
        let prepared = answerer
            .prepare(pool, embedder, collection, &question, options)
            .await?;
        answers.push(answerer.answer(prepared).await?);
    }
    Ok((answerer.model_name().to_owned(), answers))
}
