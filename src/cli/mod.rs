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
