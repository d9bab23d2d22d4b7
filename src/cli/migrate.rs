//! `adbrag migrate`: bring the database to this binary's schema.

use anyhow::Context;

use crate::{
    config::MigrateArgs,
    ingest::pipeline,
    store::{self, keywords, schema},
    text::segment,
};

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database.options()?).await?;
    let applied = schema::migrate(&pool)
        .await
        .context("cannot migrate the database")?;
    let latest = schema::latest_migration();
    let mut conn = pool.acquire().await?;
    let reindexed = keywords::reindex_stale(&mut conn, |title, headings, text| {
        segment::keywords(&pipeline::model_input(title, headings, text))
    })
    .await
    .context("cannot re-derive the chunks' keyword terms")?;
    if reindexed > 0 {
        println!("re-derived the keyword terms of {reindexed} chunk(s)");
    }
    if applied.is_empty() {
        println!("the database is up to date (migration {latest})");
    } else {
        let applied: Vec<String> = applied.iter().map(i64::to_string).collect();
        println!(
            "applied migration(s) {}; the database is at migration {latest}",
            applied.join(", ")
        );
    }
    Ok(())
}
