//! `adbrag serve`: check the database, load the embedder, then serve the HTTP API until SIGTERM.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::{
    answer,
    api::{self, AppState},
    config::ServeArgs,
    ingest, llm,
    store::{self, schema},
};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let bind = args.http.bind;
    if args.insecure_no_auth && !bind.ip().is_loopback() {
        bail!(
            "--insecure-no-auth serves without API keys and is refused on {bind}: bind a loopback address (127.0.0.1) or drop the flag and create keys with `adbrag keys create`"
        );
    }
    let pool = store::connect_with_session(&args.database, &args.search.session()).await?;
    schema::require_ready(&pool).await?;
    let embedder = llm::embedder(&args.embedding)?;
    let pipeline = ingest::pipeline(
        pool.clone(),
        embedder.clone(),
        &args.embedding,
        &args.ingest,
    )?;
    let reranker = llm::rerank::reranker(&args.search.rerank.settings())?;
    let answerer = answer::answerer(&args.chat)?.with_reranker(reranker.clone());
    if args.insecure_no_auth {
        tracing::warn!(
            tenant = api::LOCAL_TENANT,
            "serving WITHOUT authentication (--insecure-no-auth)"
        );
    }

    let listener = TcpListener::bind(bind).await.with_context(|| {
        format!(
            "cannot listen on {bind}: free the port or choose another with --bind (ADBRAG_BIND)"
        )
    })?;
    tracing::info!(
        address = %listener.local_addr()?,
        embedder = embedder.model(),
        local = embedder.is_local(),
        answers = answerer.model_name(),
        rerank = reranker.as_ref().map(|r| r.model()),
        "serving"
    );
    let state = AppState::new(
        pool.clone(),
        embedder,
        reranker,
        Arc::new(pipeline),
        Arc::new(answerer),
        args.search,
        args.http.clone(),
        !args.insecure_no_auth,
        usize::try_from(args.ingest.max_object_bytes).unwrap_or(usize::MAX),
    );
    api::serve(
        listener,
        api::router(state),
        api::shutdown_signal(),
        Duration::from_secs(args.http.shutdown_grace_secs),
    )
    .await
    .context("the HTTP server failed")?;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}
