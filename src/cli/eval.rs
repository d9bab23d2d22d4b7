//! `adbrag eval labelled.jsonl --collection NAME`: retrieval quality per mode, so a ranking change
//! is measured, not guessed.

use std::path::Path;

use anyhow::Context;

use crate::{
    config::EvalArgs,
    llm,
    search::{
        eval,
        retrieve::{self, Request},
    },
    store::{self, collections, search::Mode},
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
    let pool = store::connect_with_session(&args.database, &args.search.session()).await?;
    store::schema::require_ready(&pool).await?;
    let collection = collections::get(&pool, &args.tenant, &args.collection).await?;
    let embedder = llm::embedder(&args.embedding)?;

    println!(
        "{:<8} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "mode", "queries", "hit@1", "hit@3", "hit@5", "hit@10", "MRR@10", "nDCG@10"
    );
    for mode in [Mode::Vector, Mode::Keyword, Mode::Hybrid] {
        let mut ranked = Vec::with_capacity(labelled.len());
        for item in &labelled {
            let results = retrieve::search(
                &pool,
                embedder.as_ref(),
                &collection,
                &Request {
                    // Hits are chunks; enough of them to see ten distinct documents.
                    query: item.query.clone(),
                    top_k: 50,
                    mode,
                    filter: None,
                    principals: None,
                },
                &args.search,
            )
            .await?;
            ranked.push(results.hits.into_iter().map(|hit| hit.source_uri).collect());
        }
        let m = eval::evaluate(&labelled, &ranked);
        println!(
            "{:<8} {:>7} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>7.3} {:>7.3}",
            format!("{mode:?}").to_lowercase(),
            m.queries,
            m.hit_at_1,
            m.hit_at_3,
            m.hit_at_5,
            m.hit_at_10,
            m.mrr_at_10,
            m.ndcg_at_10
        );
    }
    Ok(())
}
