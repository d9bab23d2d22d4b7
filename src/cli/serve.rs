//! `adbrag serve`: check the database, then serve the HTTP API until SIGTERM or Ctrl-C.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::{
    api::{self, AppState},
    config::ServeArgs,
    store::{self, schema},
};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database).await?;
    let status = schema::status(&pool)
        .await
        .context("cannot read the database's schema version")?;
    let problems = status.problems();
    if !problems.is_empty() {
        bail!(
            "the database cannot serve this binary: {}",
            problems.join("; ")
        );
    }

    let bind = args.http.bind;
    let listener = TcpListener::bind(bind).await.with_context(|| {
        format!(
            "cannot listen on {bind}: free the port or choose another with --bind (ADBRAG_BIND)"
        )
    })?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    api::serve(
        listener,
        api::router(AppState::new(pool.clone())),
        api::shutdown_signal(),
        Duration::from_secs(args.http.shutdown_grace_secs),
    )
    .await
    .context("the HTTP server failed")?;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}
