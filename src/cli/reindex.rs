//! `adbrag reindex --collection NAME`: re-embed every chunk with the configured embedder (after a
//! change of model or dimensions). New vectors are built beside the old ones, which keep serving
//! searches, and switched in one transaction; an interrupted run resumes where it stopped.

use std::time::Instant;

use anyhow::{Context, bail};

use super::ingest::progress_bar;
use crate::{
    config::ReindexArgs,
    ingest::pipeline::model_input,
    llm,
    store::{collections, dialect::Dimensions, embedding_cache, reindex, sha256},
};

pub async fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let actor = super::purge::actor(args.actor.as_deref())?;
    let (pool, _) = super::open(&args.database, None).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let collection = collections::get(&pool, &args.tenant, &args.collection).await?;
    let model = embedder.model().to_owned();
    let dimensions = Dimensions::new(embedder.dimensions() as i64)?;
    let dims = i32::from(dimensions.get());
    if collection.embedding_model == model && collection.dimensions == dims && !args.force {
        println!(
            "collection '{}' is already embedded with {model} ({dims} dimensions): nothing to do (--force re-embeds anyway)",
            collection.name
        );
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    let discarded = reindex::discard_other_targets(&mut conn, collection.id, &model, dims).await?;
    if discarded > 0 {
        eprintln!("dropped {discarded} vector(s) an interrupted reindex built for another model");
    }
    let started = Instant::now();
    let usage_before = embedder.usage().snapshot();
    for _attempt in 0..5 {
        let progress = reindex::progress(&mut conn, collection.id).await?;
        if progress.done > 0 {
            eprintln!(
                "resuming: {} of {} chunk(s) already have their new vector",
                progress.done, progress.chunks
            );
        }
        let bar = progress_bar(u64::try_from(progress.chunks - progress.done).unwrap_or(0));
        loop {
            let batch = reindex::pending(&mut conn, collection.id, args.batch.max(1)).await?;
            if batch.is_empty() {
                break;
            }
            let inputs: Vec<String> = batch
                .iter()
                .map(|chunk| {
                    let headings: Vec<String> =
                        serde_json::from_value(chunk.heading_path.clone()).unwrap_or_default();
                    model_input(chunk.title.as_deref(), &headings, &chunk.text)
                })
                .collect();
            let hashes: Vec<[u8; 32]> = inputs.iter().map(sha256).collect();
            let cached = embedding_cache::lookup(
                &mut *conn,
                &collection.tenant,
                &model,
                embedder.dimensions(),
                &hashes,
            )
            .await?;
            let missing: Vec<usize> = (0..batch.len())
                .filter(|&i| !cached.contains_key(&hashes[i]))
                .collect();
            let texts: Vec<String> = missing.iter().map(|&i| inputs[i].clone()).collect();
            let fresh = if texts.is_empty() {
                Vec::new()
            } else {
                embedder
                    .embed(&texts)
                    .await
                    .context("the embedding API failed; what was built so far is kept: run the same command again to resume")?
            };
            let mut vectors: Vec<(uuid::Uuid, Vec<f32>)> = Vec::with_capacity(batch.len());
            let mut new_entries: Vec<([u8; 32], Vec<f32>)> = Vec::new();
            let mut fresh = fresh.into_iter();
            for (i, chunk) in batch.iter().enumerate() {
                let vector = match cached.get(&hashes[i]) {
                    Some(vector) => vector.clone(),
                    None => {
                        let vector = fresh.next().unwrap_or_default();
                        new_entries.push((hashes[i], vector.clone()));
                        vector
                    }
                };
                vectors.push((chunk.id, vector));
            }
            let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
            reindex::store(&mut tx, collection.id, &model, dims, &vectors).await?;
            let entries: Vec<([u8; 32], &[f32])> = new_entries
                .iter()
                .map(|(hash, vector)| (*hash, vector.as_slice()))
                .collect();
            embedding_cache::insert(
                &mut *tx,
                &collection.tenant,
                &model,
                embedder.dimensions(),
                &entries,
            )
            .await?;
            tx.commit().await?;
            bar.inc(batch.len() as u64);
        }
        bar.finish_and_clear();
        if reindex::switch(&mut conn, collection.id, &model, dimensions, &actor).await? {
            let usage = embedder.usage().snapshot().since(usage_before);
            let seconds = started.elapsed().as_secs_f64();
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "collection": collection.name, "model": model, "dimensions": dims,
                        "seconds": seconds, "requests": usage.requests, "tokens": usage.tokens,
                    })
                );
            } else {
                println!(
                    "reindexed '{}' to {model} ({dims} dimensions) in {seconds:.1} s: {} request(s), {} token(s); searches now use the new vectors",
                    collection.name, usage.requests, usage.tokens
                );
            }
            return Ok(());
        }
        // Documents written meanwhile have chunks without new vectors: another round.
    }
    bail!(
        "documents kept arriving faster than they could be re-embedded: stop ingesting into '{}' for a moment and run the command again (it resumes)",
        collection.name
    )
}
