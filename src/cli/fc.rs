//! `adbrag fc`: the Function Compute custom-runtime handler. It listens at once: nothing at
//! start-up waits for the database, OSS or the embedding API (each invocation that cannot reach
//! them asks FC to retry), so the instance is ready well inside FC's start-up window.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::{
    api::{self, fc::FcState},
    config::FcArgs,
    ingest::{self, object::ObjectStores, queue::Queue},
    llm, store,
};

pub async fn run(args: FcArgs) -> anyhow::Result<()> {
    if args.embedding.base_url.is_none() {
        bail!(
            "adbrag fc embeds through an API, not the local model (loading it would eat Function Compute's start-up window): set ADBRAG_EMBEDDING_BASE_URL, ADBRAG_EMBEDDING_API_KEY and ADBRAG_EMBEDDING_MODEL"
        );
    }
    if args.routes.routes.is_empty() {
        bail!(
            "ADBRAG_OSS_ROUTES names no bucket, so every event would be ignored: set it to bucket[/prefix]=collection[@tenant], comma-separated"
        );
    }
    // The pool connects on first use, so the dialect's session settings come from ADBRAG_DIALECT
    // (on AnalyticDB set it to analyticdb; auto is checked at the first invocation).
    let pool = store::connect_lazy(
        &args
            .database
            .options()?
            .with_session(&args.database.dialect().unwrap_or_default().session(None)),
    );
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let lease = Duration::from_secs(args.queue.lease_secs);
    let pipeline = ingest::pipeline(
        pool.clone(),
        embedder,
        &args.ingest.config(&args.embedding)?,
    )?
    .with_lease(lease);
    let queue = Queue::new(
        Arc::new(pipeline),
        ObjectStores::new(args.objects.settings()),
        args.routes.routes.clone(),
        args.queue.settings(args.objects.oss_region.clone()),
    );
    let bind = SocketAddr::new(args.host, args.port);
    let listener = TcpListener::bind(bind).await.with_context(|| {
        format!("cannot listen on {bind}: free the port or set FC_SERVER_PORT to another")
    })?;
    tracing::info!(
        address = %listener.local_addr()?,
        routes = %args.routes.routes,
        "Function Compute handler ready"
    );
    let state = FcState {
        queue: Arc::new(queue),
        max_event_bytes: args.max_event_bytes,
        duplicate_wait: Duration::from_secs(args.duplicate_wait_secs),
        dialect: args.database.dialect(),
        schema_ready: Default::default(),
    };
    api::serve(
        listener,
        api::fc::router(state),
        api::shutdown_signal(),
        Duration::from_secs(10),
    )
    .await
    .context("the Function Compute handler failed")?;
    pool.close().await;
    Ok(())
}
