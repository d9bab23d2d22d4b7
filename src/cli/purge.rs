//! `adbrag purge`, `adbrag tombstones`, `adbrag audit`: erasure and its paper trail.
//!
//! A purge selects, shows what it will remove, asks (unless `--yes`), removes everything in one
//! transaction with its tombstones and audit record, optionally rewrites the tables, then verifies
//! and prints the receipt the operator files with the request.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use serde_json::json;

use crate::{
    config::{AuditArgs, AuditCommand, PurgeArgs, TombstonesArgs, TombstonesCommand},
    store::{
        self,
        collections::{self, Collection},
        purge::{self, Selector},
    },
};

pub async fn run(args: PurgeArgs) -> anyhow::Result<()> {
    // A dry run changes nothing and is not audited: it needs no actor.
    let actor = if args.dry_run {
        String::new()
    } else {
        actor(args.actor.as_deref())?
    };
    let filter = super::filter(args.filter.as_deref())?;
    if filter.is_some() && args.collection.is_none() {
        bail!("--where needs --collection: metadata is filtered within one collection");
    }
    let pool = store::connect(&args.database).await?;
    store::schema::require_ready(&pool).await?;
    let collection = match &args.collection {
        Some(name) => Some(collections::get(&pool, &args.tenant, name).await?),
        None => None,
    };
    let selector = Selector {
        tenant: args.tenant.clone(),
        collection_id: collection.as_ref().map(|c| c.id),
        document_ids: args.documents.clone(),
        source_uris: args.sources.clone(),
        filter,
    };
    let mut conn = pool.acquire().await?;
    let targets = purge::select(&mut conn, &selector).await?;
    let everything = purge::count_all(&mut conn, &selector).await?;
    let scope = collection.as_ref().map_or_else(
        || format!("tenant '{}'", args.tenant),
        |c| format!("collection '{}'", c.name),
    );
    // Explicit ids and URIs mean what they say; a filter (or nothing) that matches every document
    // is more likely a mistake.
    let by_name = !selector.document_ids.is_empty() || !selector.source_uris.is_empty();
    if !args.all_matching
        && !by_name
        && !targets.is_empty()
        && (selector.selects_everything() || targets.len() as i64 == everything)
    {
        bail!(
            "this selection matches all {} document(s) of {scope}: pass --all-matching if that is what you mean",
            targets.len()
        );
    }
    let counts = purge::plan(&mut conn, &args.tenant, &targets).await?;
    // --source names sources that may have no document yet: they are tombstoned all the same.
    let extra_sources = source_pairs(&pool, &args, collection.as_ref()).await?;

    if args.dry_run {
        let plan = json!({
            "dry_run": true,
            "selector": selector.kind(),
            "documents": targets,
            "counts": counts,
            "sources_to_tombstone": extra_sources.len(),
        });
        if args.json {
            println!("{plan}");
        } else {
            println!(
                "dry run: would purge {} document(s) of {scope}: {} chunk(s), {} keyword posting(s), {} cache entr(y/ies) ({} shared with other documents, kept), {} job(s); nothing was changed",
                counts.documents,
                counts.chunks,
                counts.keyword_postings,
                counts.cache_entries,
                counts.cache_entries_shared,
                counts.jobs
            );
            for target in &targets {
                println!("  document {}  {} chunk(s)", target.id, target.chunks);
            }
        }
        return Ok(());
    }

    if targets.is_empty() && extra_sources.is_empty() {
        let audit_id =
            purge::record_empty(&mut conn, &selector, &actor, args.reason.as_deref()).await?;
        let receipt = json!({"audit_id": audit_id, "documents": [], "matched": 0});
        if args.json {
            println!("{receipt}");
        } else {
            println!(
                "nothing matched in {scope}: nothing purged; the attempt is audit record {audit_id}"
            );
        }
        return Ok(());
    }

    if !args.yes {
        confirm(&format!(
            "purge {} document(s) of {scope} ({} chunk(s), {} job(s)) for good?",
            counts.documents, counts.chunks, counts.jobs
        ))?;
    }
    let (receipt, evidence) = purge::execute(
        &mut conn,
        &selector,
        &extra_sources,
        &actor,
        args.reason.as_deref(),
    )
    .await
    .context("the purge was rolled back: nothing was removed; fix the cause and run it again")?;
    let vacuumed = if args.vacuum {
        Some(
            purge::vacuum(&mut conn, &receipt.xid, std::time::Duration::from_secs(120))
                .await
                .context("the purge is done, but VACUUM FULL failed: run it again with --vacuum, or VACUUM FULL the tables by hand")?,
        )
    } else {
        None
    };
    let verification = purge::verify(&mut conn, &evidence).await?;
    if args.json {
        println!(
            "{}",
            json!({
                "receipt": receipt,
                "vacuum": vacuumed,
                "verification": verification,
            })
        );
    } else {
        println!(
            "purged {} document(s) of {scope} at {} by {} (audit record {}):",
            receipt.counts.documents,
            receipt.at.to_rfc3339(),
            receipt.actor,
            receipt.audit_id
        );
        for id in &receipt.documents {
            println!("  document {id}");
        }
        println!(
            "  removed {} chunk(s) with their vectors, {} keyword posting(s), {} cache entr(y/ies) ({} shared with other documents kept), {} job(s); {} source(s) tombstoned",
            receipt.counts.chunks,
            receipt.counts.keyword_postings,
            receipt.counts.cache_entries,
            receipt.counts.cache_entries_shared,
            receipt.counts.jobs,
            receipt.counts.documents + receipt.counts.tombstones
        );
        match &vacuumed {
            Some(v) if v.older_transactions_left > 0 => println!(
                "  VACUUM FULL of {} tables: {:.2} s, but {} transaction(s) older than the purge were still running after {:.0} s: the purged rows may remain in the files until the next VACUUM FULL",
                purge::TABLES.len(),
                v.seconds,
                v.older_transactions_left,
                v.waited_seconds
            ),
            Some(v) => println!(
                "  VACUUM FULL of {} tables: {:.2} s (of which {:.2} s waiting for older transactions)",
                purge::TABLES.len(),
                v.seconds,
                v.waited_seconds
            ),
            None => println!(
                "  not vacuumed: dead rows stay in the table files until autovacuum reuses the space (--vacuum rewrites them now)"
            ),
        }
        println!(
            "  verified: documents {}, chunks {}, postings {}, jobs {}, URIs {}, cache entries {}, phrase hits {} left → {}",
            verification.documents_left,
            verification.chunks_left,
            verification.postings_left,
            verification.jobs_left,
            verification.uris_left,
            verification.cache_entries_left,
            verification.phrase_hits,
            if verification.ok { "OK" } else { "NOT CLEAN" }
        );
    }
    if !verification.ok {
        bail!(
            "the verification found data left behind (above): report it; the purge's audit record is {}",
            receipt.audit_id
        );
    }
    Ok(())
}

/// The (collection, URI) pairs `--source` names: in `--collection`, or in every collection of the
/// tenant.
async fn source_pairs(
    pool: &sqlx::PgPool,
    args: &PurgeArgs,
    collection: Option<&Collection>,
) -> anyhow::Result<Vec<(uuid::Uuid, String)>> {
    if args.sources.is_empty() {
        return Ok(Vec::new());
    }
    let collections = match collection {
        Some(collection) => vec![collection.clone()],
        None => collections::list(pool, &args.tenant).await?,
    };
    Ok(collections
        .iter()
        .flat_map(|c| args.sources.iter().map(move |uri| (c.id, uri.clone())))
        .collect())
}

/// `--actor`, else the OS user; refused when neither is known.
fn actor(given: Option<&str>) -> anyhow::Result<String> {
    if let Some(actor) = given.filter(|a| !a.trim().is_empty()) {
        return Ok(actor.trim().to_owned());
    }
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .context("no --actor given and the OS user is unknown (USER and LOGNAME are unset): pass --actor NAME, who asks for this")
}

fn confirm(question: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "{question} — stdin is not a terminal, so nobody can confirm: pass --yes to go ahead, or --dry-run to look first"
        );
    }
    eprint!("{question} Type 'yes' to go ahead: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("not confirmed: nothing was purged");
    }
    Ok(())
}

pub async fn tombstones(args: TombstonesArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database).await?;
    let mut conn = pool.acquire().await?;
    match args.command {
        TombstonesCommand::List { json } => {
            for stone in purge::tombstones(&mut conn, &args.tenant).await? {
                if json {
                    println!("{}", serde_json::to_string(&stone)?);
                } else {
                    println!(
                        "{}  {}  {:<7} {}",
                        stone.collection_id,
                        hex::encode(&stone.source_uri_sha256),
                        stone.reason,
                        if stone.removed_at >= purge::purge_horizon() {
                            "until lifted".to_owned()
                        } else {
                            format!("events up to {}", stone.removed_at.to_rfc3339())
                        }
                    );
                }
            }
        }
        TombstonesCommand::Lift {
            source,
            collection,
            actor: given,
        } => {
            let actor = actor(given.as_deref())?;
            let collection = collections::get(&pool, &args.tenant, &collection).await?;
            if purge::lift(&mut conn, collection.id, &source, &actor).await? {
                println!("lifted the tombstone of {source}: it can be ingested again");
            } else {
                println!(
                    "{source} had no tombstone in '{}': nothing to lift (the attempt is audited)",
                    collection.name
                );
            }
        }
    }
    Ok(())
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let pool = store::connect(&args.database).await?;
    let mut conn = pool.acquire().await?;
    let AuditCommand::List {
        since,
        actor,
        action,
        limit,
        json,
    } = args.command;
    for record in purge::audit(
        &mut conn,
        since,
        actor.as_deref(),
        action.as_deref(),
        limit.max(1),
    )
    .await?
    {
        if json {
            println!("{}", serde_json::to_string(&record)?);
        } else {
            println!(
                "{:>6}  {}  {:<16} {:<14} {}",
                record.id,
                record.at.format("%Y-%m-%d %H:%M:%S"),
                record.actor,
                record.action,
                record.details
            );
        }
    }
    Ok(())
}
