//! `adbrag migrate`: bring the database to this binary's schema, or print the SQL that would.

use anyhow::Context;

use crate::{
    config::MigrateArgs,
    ingest::pipeline,
    store::{
        self,
        dialect::{Dialect, Dimensions},
        keywords, schema,
    },
    text::segment,
};

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let vector_dimensions = args
        .vector_dimensions
        .iter()
        .map(|n| Dimensions::new(i64::from(*n)))
        .collect::<Result<Vec<_>, _>>()?;
    if args.print {
        // With a named dialect the SQL is rendered offline; with auto, the server decides.
        let dialect = match args.database.dialect() {
            Some(dialect) => dialect,
            None => {
                let pool = store::connect(&args.database.options().context(
                    "--print with --dialect auto reads the dialect from the server: set DATABASE_URL, or name the dialect with --dialect pgvector|analyticdb",
                )?)
                .await?;
                schema::probe(&pool).await?.dialect(None)?
            }
        };
        for n in &vector_dimensions {
            dialect.dimensions(i64::from(n.get()))?;
        }
        print!("{}", schema::render(dialect, &vector_dimensions));
        return Ok(());
    }
    let pool = store::connect(&args.database.options()?).await?;
    let (dialect, applied) = schema::migrate(&pool, args.database.dialect(), &vector_dimensions)
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
    let dialect_note = match dialect {
        Dialect::Pgvector => "PostgreSQL + pgvector",
        Dialect::AnalyticDb => "AnalyticDB for PostgreSQL",
    };
    if applied.is_empty() {
        println!("the database is up to date (migration {latest}, {dialect_note})");
    } else {
        let applied: Vec<String> = applied.iter().map(i64::to_string).collect();
        println!(
            "applied migration(s) {}; the database is at migration {latest} ({dialect_note})",
            applied.join(", ")
        );
    }
    Ok(())
}
