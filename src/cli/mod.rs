//! The subcommands, one file each: parse nothing (clap did), call the library, print the result.

pub mod ask;
pub mod backfill;
pub mod eval;
pub mod fc;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod migrate;
pub mod purge;
pub mod reindex;
pub mod search;
pub mod serve;
pub mod stats;
pub mod worker;

/// Connects to the database, probes the server, settles the dialect (ADBRAG_DIALECT against what
/// the server is) and checks that the schema can serve this binary. Returns the pool — with the
/// dialect's session settings, and its search settings when `ef_search` is given — and the dialect.
async fn open(
    database: &crate::config::DatabaseSettings,
    ef_search: Option<u32>,
) -> anyhow::Result<(sqlx::PgPool, crate::store::dialect::Dialect)> {
    use crate::store;
    let options = database.options()?;
    let pool = store::connect(&options).await?;
    let dialect = store::schema::require_ready(&pool, database.dialect()).await?;
    let session = dialect.session(ef_search);
    if session.is_empty() {
        return Ok((pool, dialect));
    }
    // Session settings travel in the start-up packet, so they cost no round trip per query.
    pool.close().await;
    Ok((
        store::connect(&options.with_session(&session)).await?,
        dialect,
    ))
}

/// A `--filter` argument: JSON, in the grammar of docs/api.md.
fn filter(text: Option<&str>) -> anyhow::Result<Option<crate::search::filter::Filter>> {
    use anyhow::Context;
    text.map(|text| -> anyhow::Result<_> {
        let value: serde_json::Value = serde_json::from_str(text)
            .context("--filter is not JSON: pass an object such as '{\"team\": \"hr\"}'")?;
        Ok(crate::search::filter::Filter::parse(&value)?)
    })
    .transpose()
}
