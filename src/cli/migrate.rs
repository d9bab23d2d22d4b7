//! `adbrag migrate`: bring the database to this binary's schema.

use anyhow::Context;

use crate::{
    config::MigrateArgs,
    store::{self, schema},
};

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database).await?;
    let applied = schema::migrate(&pool)
        .await
        .context("cannot migrate the database")?;
    let latest = schema::latest_migration();
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
