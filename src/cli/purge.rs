//! `adbrag purge`, `adbrag tombstones`, `adbrag audit`: erasure and its paper trail.
//!
//! A purge selects, shows what it will remove, asks (unless `--yes`), removes everything in one
//! transaction with its tombstones and audit record, optionally rewrites the tables, then verifies
//! and prints the receipt the operator files with the request.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};

use crate::{
    admin::{self, PurgeOutcome, PurgeRequest},
    config::{AuditArgs, AuditCommand, PurgeArgs, TombstonesArgs, TombstonesCommand},
    store::{self, collections, purge},
};

pub async fn run(args: PurgeArgs) -> anyhow::Result<()> {
    // A dry run changes nothing and is not audited: it needs no actor.
    let actor = if args.dry_run {
        String::new()
    } else {
        actor(args.actor.as_deref())?
    };
    let (pool, _) = super::open(&args.database, None).await?;
    let mut request = PurgeRequest {
        tenant: args.tenant.clone(),
        collection: args.collection.clone(),
        documents: args.documents.clone(),
        sources: args.sources.clone(),
        filter: super::filter(args.filter.as_deref())?,
        all_matching: args.all_matching,
        dry_run: true,
        vacuum: args.vacuum,
        actor,
        reason: args.reason.clone(),
    };
    // Always look first: the plan is what a dry run prints and what the confirmation shows.
    let plan = admin::purge(&pool, &request).await?;
    if args.dry_run {
        return print(&plan, args.json);
    }
    if let PurgeOutcome::DryRun { counts, .. } = &plan
        && counts.documents > 0
        && !args.yes
    {
        confirm(&format!(
            "purge {} document(s) ({} chunk(s), {} job(s)) for good?",
            counts.documents, counts.chunks, counts.jobs
        ))?;
    }
    request.dry_run = false;
    let outcome = admin::purge(&pool, &request).await?;
    print(&outcome, args.json)?;
    if let PurgeOutcome::Purged {
        verification,
        receipt,
        ..
    } = &outcome
        && !verification.ok
    {
        bail!(
            "the verification found data left behind (above): report it; the purge's audit record is {}",
            receipt.audit_id
        );
    }
    Ok(())
}

fn print(outcome: &PurgeOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(outcome)?);
        return Ok(());
    }
    match outcome {
        PurgeOutcome::DryRun {
            documents, counts, ..
        } => {
            println!(
                "dry run: would purge {} document(s): {} chunk(s), {} keyword posting(s), {} cache entr(y/ies) ({} shared with other documents, kept), {} job(s); nothing was changed",
                counts.documents,
                counts.chunks,
                counts.keyword_postings,
                counts.cache_entries,
                counts.cache_entries_shared,
                counts.jobs
            );
            for target in documents {
                println!("  document {}  {} chunk(s)", target.id, target.chunks);
            }
        }
        PurgeOutcome::NothingMatched { audit_id } => {
            println!("nothing matched: nothing purged; the attempt is audit record {audit_id}");
        }
        PurgeOutcome::Purged {
            receipt,
            vacuum,
            verification,
        } => {
            println!(
                "purged {} document(s) at {} by {} (audit record {}):",
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
            match vacuum {
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
                "  verified: documents {}, chunks {}, postings {}, vectors {}, jobs {}, URIs {}, cache entries {}, phrase hits {} left → {}",
                verification.documents_left,
                verification.chunks_left,
                verification.postings_left,
                verification.vectors_left,
                verification.jobs_left,
                verification.uris_left,
                verification.cache_entries_left,
                verification.phrase_hits,
                if verification.ok { "OK" } else { "NOT CLEAN" }
            );
        }
    }
    Ok(())
}

/// `--actor`, else the OS user; refused when neither is known.
pub(super) fn actor(given: Option<&str>) -> anyhow::Result<String> {
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
    let pool = store::connect(&args.database.options()?).await?;
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
    let pool = store::connect(&args.database.options()?).await?;
    let mut conn = pool.acquire().await?;
    let AuditCommand::List {
        since,
        actor,
        action,
        limit,
        json,
    } = args.command;
    for record in store::audit::list(
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
