//! `adbrag ingest oss://bucket/prefix --collection NAME`: every object under a prefix, through
//! the same queue as upload events — one job per object version, deduplicated, leased, retried —
//! processed by this process with a progress bar (and by any `adbrag worker` running meanwhile).
//! Objects whose stored version has the listed eTag are skipped without being fetched.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::json;

use super::ingest::{find_or_create, progress_bar};
use crate::{
    config::IngestArgs,
    ingest::{
        self,
        event::Routes,
        object::{ObjectStores, ObjectUri},
        pipeline::fit_chunking,
        queue::{Payload, Processed, Queue},
    },
    llm,
    store::{
        self,
        documents::{self, DocumentStatus},
        jobs::{self, Enqueued, JobKind, JobStatus, NewJob},
    },
};

pub async fn run(args: IngestArgs, prefixes: Vec<String>) -> anyhow::Result<()> {
    let uris = prefixes
        .iter()
        .map(|text| {
            text.parse::<ObjectUri>()
                .with_context(|| format!("'{text}' is not a prefix URI"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (pool, _) = super::open(&args.database, None).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let lease = Duration::from_secs(args.queue.lease_secs);
    let pipeline = ingest::pipeline(
        pool.clone(),
        embedder.clone(),
        &args.ingest.config(&args.embedding)?,
    )?
    .with_lease(lease);
    let chunking = fit_chunking(pipeline.default_chunking(), embedder.as_ref());
    let collection = find_or_create(&pool, &args, embedder.as_ref(), &chunking).await?;
    pipeline.check_collection(&collection)?;
    let region = args.objects.oss_region.clone();
    let queue = Arc::new(Queue::new(
        Arc::new(pipeline),
        ObjectStores::new(args.objects.settings()),
        Routes::default(),
        args.queue.settings(region.clone()),
    ));

    let started = Instant::now();
    let mut job_ids = Vec::new();
    let (mut listed, mut unchanged, mut duplicates) = (0usize, 0usize, 0usize);
    for uri in &uris {
        let objects = queue
            .stores()
            .list(uri, region.as_deref(), None)
            .await
            .with_context(|| format!("cannot list {uri}"))?;
        for object in objects {
            listed += 1;
            let object_uri = ObjectUri {
                key: object.key.clone(),
                ..uri.clone()
            };
            let source_uri = object_uri.to_string();
            let stored = documents::find_by_source(&pool, collection.id, &source_uri).await?;
            if let (Some(stored), Some(etag)) = (&stored, &object.etag)
                && stored.status == DocumentStatus::Ready
                && stored.source_etag.as_deref() == Some(etag.as_str())
            {
                unchanged += 1;
                continue;
            }
            let payload = Payload {
                bucket: object_uri.bucket.clone(),
                key: object.key.clone(),
                region: region.clone(),
                event: Some("backfill".into()),
                user_meta: Default::default(),
            };
            let new = NewJob {
                collection_id: collection.id,
                kind: JobKind::Upsert,
                idempotency_key: Some(format!(
                    "backfill:{}:{source_uri}",
                    object.etag.as_deref().unwrap_or("-")
                )),
                source_uri,
                source_etag: object.etag.clone(),
                origin: "backfill".into(),
                event_id: None,
                event_time: object.last_modified,
                max_attempts: queue.settings().max_attempts,
                payload: json!(payload),
            };
            let mut conn = pool.acquire().await?;
            match jobs::enqueue(&mut conn, &new).await? {
                Enqueued::Created(job) => job_ids.push(job.id),
                Enqueued::Duplicate(job) if job.status.is_final() => duplicates += 1,
                Enqueued::Duplicate(job) => job_ids.push(job.id),
            }
        }
    }
    eprintln!(
        "{listed} object(s) listed: {} queued, {unchanged} already stored at that version, {duplicates} done by an earlier backfill",
        job_ids.len()
    );

    let progress = progress_bar(job_ids.len() as u64);
    let failed = AtomicU64::new(0);
    let retried = AtomicU64::new(0);
    let worker = format!("{}/backfill", queue.pipeline().worker());
    futures::stream::iter(job_ids)
        .map(|id| {
            let (queue, worker) = (&queue, &worker);
            async move { (id, settle(queue, id, worker).await) }
        })
        .buffer_unordered(args.parallelism.max(1))
        .for_each(|(id, result)| {
            let line = match result {
                Ok(Processed::Final(job)) if job.status == JobStatus::Succeeded => format!(
                    "ok        {}: {}",
                    job.source_uri,
                    job.outcome.as_deref().unwrap_or("done")
                ),
                Ok(processed) => {
                    let job = processed.job();
                    if matches!(processed, Processed::Retry(_)) {
                        retried.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    format!(
                        "{:<9} {}: {}",
                        job.status.as_str().to_uppercase(),
                        job.source_uri,
                        job.last_error.as_deref().unwrap_or("")
                    )
                }
                Err(err) => {
                    retried.fetch_add(1, Ordering::Relaxed);
                    format!("ERROR     job {id}: {err}")
                }
            };
            progress.println(line);
            progress.inc(1);
            async {}
        })
        .await;
    progress.finish_and_clear();
    let (failed, retried) = (failed.into_inner(), retried.into_inner());
    println!(
        "backfilled {listed} object(s) into '{}' in {:.1} s: {failed} failed, {retried} left queued for retry",
        collection.name,
        started.elapsed().as_secs_f64()
    );
    if failed + retried > 0 {
        bail!(
            "{} object(s) did not finish (listed above): `adbrag jobs list` shows them; queued ones are retried by `adbrag worker`",
            failed + retried
        );
    }
    Ok(())
}

/// Processes one queued job here, or waits for whoever holds it.
async fn settle(queue: &Queue, id: uuid::Uuid, worker: &str) -> Result<Processed, store::Error> {
    loop {
        if let Some(claim) =
            jobs::claim_id(queue.pool(), id, worker, queue.settings().lease).await?
        {
            return queue.process(&claim, None).await;
        }
        let job = jobs::get(queue.pool(), id).await?;
        if job.status.is_final() {
            return Ok(Processed::Final(job));
        }
        // Held by a worker elsewhere: its lease bounds the wait.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
