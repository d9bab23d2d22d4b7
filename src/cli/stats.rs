//! `adbrag stats`: what the database holds, for operators and capacity planning.

use crate::{
    config::StatsArgs,
    store::{self, stats},
};

pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database.options()?).await?;
    let mut conn = pool.acquire().await?;
    let stats = stats::gather(&mut conn).await?;
    if args.json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    println!(
        "{:<12} {:<20} {:<20} {:>5} {:>8} {:>7} {:>7} {:>9} {:>8}",
        "tenant", "collection", "model", "dims", "ready", "failed", "pending", "chunks", "terms"
    );
    for c in &stats.collections {
        println!(
            "{:<12} {:<20} {:<20} {:>5} {:>8} {:>7} {:>7} {:>9} {:>8}",
            c.tenant,
            c.name,
            c.embedding_model,
            c.dimensions,
            c.documents_ready,
            c.documents_failed,
            c.documents_pending,
            c.chunks,
            c.keyword_terms
        );
    }
    println!();
    let jobs: Vec<String> = stats.jobs.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!(
        "jobs: {}",
        if jobs.is_empty() {
            "none".to_owned()
        } else {
            jobs.join(", ")
        }
    );
    println!(
        "embedding cache: {} entries; tombstones: {}; database: {}",
        stats.embedding_cache_entries,
        stats.tombstones,
        human(stats.database_bytes)
    );
    println!("largest tables and indexes:");
    for relation in stats.relations.iter().take(12) {
        println!(
            "  {:<40} {:<5} {:>10}  ~{:.0} rows",
            relation.name,
            relation.kind,
            human(relation.bytes),
            relation.rows_estimate.max(0.0)
        );
    }
    Ok(())
}

fn human(bytes: i64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}
