//! `adbrag worker`: claims queued ingest jobs and processes them, `--concurrency` at a time, until
//! SIGTERM (finishing the jobs in hand) or, with `--drain`, until no job is runnable.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{
    api,
    config::WorkerArgs,
    ingest::{
        self,
        event::Routes,
        object::ObjectStores,
        queue::{Processed, Queue},
    },
    llm,
};

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let (pool, _) = super::open(&args.database, None).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let lease = Duration::from_secs(args.queue.lease_secs);
    let pipeline = ingest::pipeline(
        pool.clone(),
        embedder,
        &args.ingest.config(&args.embedding)?,
    )?
    .with_lease(lease);
    let queue = Arc::new(Queue::new(
        Arc::new(pipeline),
        ObjectStores::new(args.objects.settings()),
        Routes::default(),
        args.queue.settings(args.objects.oss_region.clone()),
    ));
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        api::shutdown_signal().await;
        tracing::info!("stopping: finishing the jobs in hand");
        let _ = stop_tx.send(true);
    });
    let totals = run_workers(
        queue,
        args.worker_concurrency.max(1),
        args.drain,
        Duration::from_millis(args.poll_ms.max(10)),
        stop,
    )
    .await;
    println!(
        "worker stopped: {} job(s) finished, {} to be retried, {} error(s) reaching the database",
        totals.finished, totals.retried, totals.errors
    );
    pool.close().await;
    Ok(())
}

/// What a set of workers did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub finished: u64,
    pub retried: u64,
    pub errors: u64,
}

/// Runs `concurrency` claim-process loops until `stop` turns true or, with `drain`, until each
/// finds nothing runnable. Exposed for tests and benchmarks.
pub async fn run_workers(
    queue: Arc<Queue>,
    concurrency: usize,
    drain: bool,
    idle: Duration,
    stop: watch::Receiver<bool>,
) -> Totals {
    let loops = (0..concurrency).map(|index| {
        let queue = queue.clone();
        let mut stop = stop.clone();
        let name = format!("{}/{index}", queue.pipeline().worker());
        async move {
            let mut totals = Totals::default();
            while !*stop.borrow() {
                match queue.work_one(&name).await {
                    Ok(Some(Processed::Final(_))) => totals.finished += 1,
                    Ok(Some(Processed::Retry(_))) => totals.retried += 1,
                    Ok(None) if drain => break,
                    Ok(None) => {
                        let _ = tokio::time::timeout(idle, stop.changed()).await;
                    }
                    Err(err) => {
                        totals.errors += 1;
                        tracing::warn!(worker = %name, error = %err, "cannot reach the queue; retrying shortly");
                        let _ = tokio::time::timeout(idle, stop.changed()).await;
                    }
                }
            }
            totals
        }
    });
    futures::future::join_all(loops)
        .await
        .into_iter()
        .fold(Totals::default(), |sum, t| Totals {
            finished: sum.finished + t.finished,
            retried: sum.retried + t.retried,
            errors: sum.errors + t.errors,
        })
}
