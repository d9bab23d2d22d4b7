//! `adbrag jobs list|retry|cancel`: the ingest queue, for operators.

use serde_json::json;

use crate::{
    config::{JobsArgs, JobsCommand},
    store::{self, audit, jobs},
};

pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database.options()?).await?;
    match args.command {
        JobsCommand::List {
            status,
            limit,
            json,
        } => {
            // A job whose worker died on its last attempt shows as dead, not running for ever.
            jobs::reap(&pool).await?;
            let listed = jobs::list(&pool, status, limit.max(1)).await?;
            if json {
                for job in &listed {
                    println!("{}", serde_json::to_string(job)?);
                }
                return Ok(());
            }
            if listed.is_empty() {
                eprintln!(
                    "no jobs{}",
                    status.map(|s| format!(" are {s}")).unwrap_or_default()
                );
            }
            for job in &listed {
                println!(
                    "{}  {:<9} {:<6} {:<10} {}/{}  {}  {}{}",
                    job.id,
                    job.status,
                    job.kind.as_str(),
                    job.outcome.as_deref().unwrap_or("-"),
                    job.attempts,
                    job.max_attempts,
                    job.updated_at.format("%Y-%m-%d %H:%M:%S"),
                    job.source_uri,
                    job.last_error
                        .as_deref()
                        .map(|e| format!("\n    {e}"))
                        .unwrap_or_default()
                );
            }
        }
        JobsCommand::Retry { id, all_dead } => {
            let actor = super::purge::actor(args.actor.as_deref())?;
            let mut conn = pool.acquire().await?;
            if all_dead {
                let retried = jobs::retry_dead(&mut *conn).await?;
                let ids: Vec<_> = retried.iter().map(|job| job.id).collect();
                let details = json!({ "jobs": ids });
                audit::record(&mut *conn, &actor, "jobs_retry", None, None, &details).await?;
                println!(
                    "queued {} dead job(s) again; a worker picks them up",
                    retried.len()
                );
            } else if let Some(id) = id {
                let job = jobs::retry(&mut conn, id).await?;
                let (collection, subject) = (Some(job.collection_id), Some(job.id));
                audit::record(
                    &mut *conn,
                    &actor,
                    "jobs_retry",
                    collection,
                    subject,
                    &json!({}),
                )
                .await?;
                println!(
                    "queued job {} again ({}); a worker picks it up",
                    job.id, job.source_uri
                );
            }
        }
        JobsCommand::Cancel { id } => {
            let actor = super::purge::actor(args.actor.as_deref())?;
            let mut conn = pool.acquire().await?;
            let job = jobs::cancel(&mut conn, id).await?;
            let (collection, subject) = (Some(job.collection_id), Some(job.id));
            audit::record(
                &mut *conn,
                &actor,
                "jobs_cancel",
                collection,
                subject,
                &json!({}),
            )
            .await?;
            println!("cancelled job {} ({})", job.id, job.source_uri);
        }
    }
    Ok(())
}
