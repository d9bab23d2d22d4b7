//! `adbrag search "question" --collection NAME`: the API's retrieval, from the terminal.

use crate::{
    config::SearchArgs,
    llm,
    search::retrieve::{self, Request},
    store::{collections, search::Mode},
};

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let mode = Mode::from(args.mode);
    let filter = super::filter(args.filter.as_deref())?;
    let (pool, dialect) = super::open(&args.database, Some(args.search.ef_search)).await?;
    let collection = collections::get(&pool, &args.tenant, &args.collection).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let reranker = llm::rerank::reranker(&args.search.rerank.settings())?;
    let results = retrieve::search(
        &pool,
        embedder.as_ref(),
        reranker.as_deref(),
        &collection,
        &Request {
            query: args.query,
            top_k: args.top_k,
            mode,
            filter,
            principals: None,
        },
        &args.search.options(dialect),
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    for (rank, hit) in results.hits.iter().enumerate() {
        let pages = match (hit.page_from, hit.page_to) {
            (Some(from), Some(to)) if from != to => format!(" pp. {from}-{to}"),
            (Some(page), _) => format!(" p. {page}"),
            _ => String::new(),
        };
        println!(
            "{}. {:.4}  {}{}{}  (vector #{}, keyword #{})",
            rank + 1,
            hit.score,
            hit.title.as_deref().unwrap_or(&hit.source_uri),
            pages,
            if hit.ocr { " [OCR]" } else { "" },
            hit.vector_rank.map_or("-".into(), |r| r.to_string()),
            hit.keyword_rank.map_or("-".into(), |r| r.to_string()),
        );
        let snippet: String = hit.text.chars().take(240).collect();
        println!("   {}", snippet.replace('\n', " "));
    }
    eprintln!(
        "{} hit(s), {} mode, query embedded by {} in {:.1} ms, retrieved in {:.1} ms",
        results.hits.len(),
        mode.as_str(),
        results.embedder,
        results.timings.embed_ms,
        results.timings.retrieve_ms
    );
    Ok(())
}
