//! `adbrag ingest <file|dir>… --collection NAME`: ingest local files, with progress and a summary;
//! `adbrag ingest oss://bucket/prefix …` backfills every object under a prefix through the queue.

use std::{io::IsTerminal, sync::Mutex, time::Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::{
    config::IngestArgs,
    ingest::{
        self,
        chunk::ChunkOptions,
        pipeline::{Ingested, Outcome, fit_chunking},
        source,
    },
    llm,
    store::{
        self,
        collections::{self, Collection, NewCollection},
    },
};

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let remote: Vec<&str> = args
        .paths
        .iter()
        .filter_map(|path| path.to_str())
        .filter(|path| path.starts_with("oss://") || path.starts_with("s3://"))
        .collect();
    if !remote.is_empty() {
        if remote.len() != args.paths.len() {
            bail!(
                "give either local paths or oss:// / s3:// prefixes, not both: run adbrag ingest once for each"
            );
        }
        let prefixes = remote.iter().map(|p| (*p).to_owned()).collect();
        return super::backfill::run(args, prefixes).await;
    }
    let files = source::discover(&args.paths)?;
    if files.is_empty() {
        bail!("no files found under the given paths: check them, hidden files are skipped");
    }
    let (pool, _) = super::open(&args.database, None).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let pipeline = ingest::pipeline(
        pool.clone(),
        embedder.clone(),
        &args.ingest.config(&args.embedding)?,
    )?;
    let chunking = fit_chunking(pipeline.default_chunking(), embedder.as_ref());
    let collection = find_or_create(&pool, &args, embedder.as_ref(), &chunking).await?;
    pipeline.check_collection(&collection)?;
    if embedder.is_local() {
        eprintln!(
            "embedding locally with {} ({} dimensions); set ADBRAG_EMBEDDING_BASE_URL to use an API",
            embedder.model(),
            embedder.dimensions()
        );
    }

    let started = Instant::now();
    let usage_before = embedder.usage().snapshot();
    let progress = progress_bar(files.len() as u64);
    let summary = Mutex::new(Summary::default());
    let max_bytes = args.ingest.max_object_bytes;
    futures::stream::iter(files)
        .map(|path| {
            let (pipeline, collection) = (&pipeline, &collection);
            async move {
                let result = match source::read_file(&path, max_bytes).await {
                    Ok(object) => pipeline
                        .ingest(collection, object, "cli")
                        .await
                        .map_err(|err| err.to_string()),
                    Err(err) => Err(err.to_string()),
                };
                (path, result)
            }
        })
        .buffer_unordered(args.parallelism.max(1))
        .for_each(|(path, result)| {
            let line = summary
                .lock()
                .expect("summary lock")
                .record(&path.display().to_string(), result);
            progress.println(line);
            progress.inc(1);
            async {}
        })
        .await;
    progress.finish_and_clear();

    let summary = summary.into_inner().expect("summary lock");
    let usage = embedder.usage().snapshot().since(usage_before);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingested {} document(s) into '{}' in {seconds:.1} s: {} written, {} unchanged, {} stale, {} failed",
        summary.total(),
        collection.name,
        summary.written,
        summary.unchanged,
        summary.stale,
        summary.failed.len()
    );
    println!(
        "chunks: {} ({:.0}/s); embedded {} text(s) in {} request(s), {} token(s), {} retried; cache hits {}",
        summary.chunks,
        summary.chunks as f64 / seconds.max(1e-9),
        summary.embedded,
        usage.requests,
        usage.tokens,
        usage.retries,
        summary.cache_hits
    );
    if !summary.failed.is_empty() {
        println!("failed:");
        for (path, reason) in &summary.failed {
            println!("  {path}: {reason}");
        }
        bail!(
            "{} of {} document(s) failed (listed above); the others were ingested",
            summary.failed.len(),
            summary.total()
        );
    }
    Ok(())
}

/// The named collection; a missing one is created for the configured embedder and chunking.
pub(super) async fn find_or_create(
    pool: &sqlx::PgPool,
    args: &IngestArgs,
    embedder: &dyn llm::Embedder,
    chunking: &ChunkOptions,
) -> anyhow::Result<Collection> {
    match collections::get(pool, &args.tenant, &args.collection).await {
        Ok(collection) => Ok(collection),
        Err(store::Error::CollectionNotFound(_)) => {
            let mut conn = pool.acquire().await?;
            let collection = collections::create(
                &mut conn,
                &NewCollection {
                    tenant: args.tenant.clone(),
                    name: args.collection.clone(),
                    embedding_model: embedder.model().to_owned(),
                    dimensions: embedder.dimensions() as i64,
                    keyword_language: "auto".into(),
                    settings: json!({
                        "chunk_tokens": chunking.max_tokens,
                        "chunk_overlap": chunking.overlap_tokens,
                    }),
                },
            )
            .await
            .with_context(|| format!("cannot create collection '{}'", args.collection))?;
            eprintln!(
                "created collection '{}' ({}, {} dimensions)",
                collection.name, collection.embedding_model, collection.dimensions
            );
            Ok(collection)
        }
        Err(err) => Err(err.into()),
    }
}

pub(super) fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        // Not a terminal: plain lines only (`println` on a hidden bar still prints).
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} documents  {elapsed}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[derive(Default)]
struct Summary {
    written: usize,
    unchanged: usize,
    stale: usize,
    chunks: usize,
    embedded: usize,
    cache_hits: usize,
    failed: Vec<(String, String)>,
}

impl Summary {
    fn total(&self) -> usize {
        self.written + self.unchanged + self.stale + self.failed.len()
    }

    /// Counts one result and returns the line that reports it.
    fn record(&mut self, path: &str, result: Result<Ingested, String>) -> String {
        match result {
            Ok(done) => {
                self.chunks += done.chunks;
                self.embedded += done.embedded;
                self.cache_hits += done.cache_hits;
                match done.outcome {
                    Outcome::Written { version } => {
                        self.written += 1;
                        format!(
                            "ok        {path}: version {version}, {} chunk(s), {} embedded, {} from cache",
                            done.chunks, done.embedded, done.cache_hits
                        )
                    }
                    Outcome::Unchanged => {
                        self.unchanged += 1;
                        format!("unchanged {path}")
                    }
                    Outcome::Stale => {
                        self.stale += 1;
                        format!("stale     {path}: a newer version is stored")
                    }
                }
            }
            Err(reason) => {
                let line = format!("FAILED    {path}: {reason}");
                self.failed.push((path.to_owned(), reason));
                line
            }
        }
    }
}
