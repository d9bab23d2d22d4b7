//! `adbrag serve`: check the database, load the embedder, then serve the HTTP API until SIGTERM.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    answer,
    api::{self, AppParts, AppState, Auth},
    config::ServeArgs,
    ingest, llm,
};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    args.validate()?;
    let bind = args.http.bind;
    let (pool, dialect) = super::open(&args.database, Some(args.search.ef_search)).await?;
    let embedder = llm::embedder(&args.embedding.config()?)?;
    let pipeline = ingest::pipeline(
        pool.clone(),
        embedder.clone(),
        &args.ingest.config(&args.embedding)?,
    )?;
    let reranker = llm::rerank::reranker(&args.search.rerank.settings())?;
    let answerer =
        answer::answerer(&args.chat.config()?, args.chat.answer())?.with_reranker(reranker.clone());
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
    let state = AppState::new(AppParts {
        pool: pool.clone(),
        embedder,
        reranker,
        pipeline: Arc::new(pipeline),
        answerer: Arc::new(answerer),
        search: args.search.options(dialect),
        http: args.http.clone(),
        auth: if args.insecure_no_auth {
            Auth::InsecureLocal
        } else {
            Auth::Required
        },
        max_upload_bytes: usize::try_from(args.ingest.max_object_bytes).unwrap_or(usize::MAX),
    });
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
