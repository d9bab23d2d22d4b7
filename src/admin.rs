//! Operator actions that the CLI and the admin API share: a purge request, checked, planned or
//! carried out, verified. The SQL is `store::purge`'s; this is the policy around it.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    search::filter::Filter,
    store::{
        self, collections,
        purge::{self, Counts, Receipt, Selector, Target, Vacuumed, Verification},
    },
};

/// A purge as asked for.
#[derive(Debug, Clone, Default)]
pub struct PurgeRequest {
    pub tenant: String,
    pub collection: Option<String>,
    pub documents: Vec<Uuid>,
    pub sources: Vec<String>,
    pub filter: Option<Filter>,
    pub all_matching: bool,
    pub dry_run: bool,
    pub vacuum: bool,
    pub actor: String,
    pub reason: Option<String>,
}

/// What a purge did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PurgeOutcome {
    DryRun {
        selector: &'static str,
        documents: Vec<Target>,
        counts: Counts,
        sources_to_tombstone: usize,
    },
    /// Nothing matched; the attempt is audited.
    NothingMatched { audit_id: i64 },
    Purged {
        receipt: Receipt,
        vacuum: Option<Vacuumed>,
        verification: Verification,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("a metadata filter needs a collection: metadata is filtered within one collection")]
    FilterNeedsCollection,
    #[error(
        "this selection matches all {count} document(s) of {scope}: pass --all-matching (\"all_matching\": true) if that is what you mean"
    )]
    MatchesEverything { count: usize, scope: String },
    #[error("the purge was rolled back: nothing was removed ({0}); fix the cause and run it again")]
    RolledBack(store::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Checks, plans and (unless dry) carries out a purge, then verifies it.
pub async fn purge(pool: &PgPool, request: &PurgeRequest) -> Result<PurgeOutcome, PurgeError> {
    if request.filter.is_some() && request.collection.is_none() {
        return Err(PurgeError::FilterNeedsCollection);
    }
    let collection = match &request.collection {
        Some(name) => Some(collections::get(pool, &request.tenant, name).await?),
        None => None,
    };
    let selector = Selector {
        tenant: request.tenant.clone(),
        collection_id: collection.as_ref().map(|c| c.id),
        document_ids: request.documents.clone(),
        source_uris: request.sources.clone(),
        filter: request.filter.clone(),
    };
    let scope = collection.as_ref().map_or_else(
        || format!("tenant '{}'", request.tenant),
        |c| format!("collection '{}'", c.name),
    );
    let mut conn = pool.acquire().await.map_err(store::Error::from)?;
    let targets = purge::select(&mut conn, &selector).await?;
    let everything = purge::count_all(&mut conn, &selector).await?;
    // Explicit ids and URIs mean what they say; a filter (or nothing) that matches every document
    // is more likely a mistake.
    let by_name = !selector.document_ids.is_empty() || !selector.source_uris.is_empty();
    if !request.all_matching
        && !by_name
        && !targets.is_empty()
        && (selector.selects_everything() || targets.len() as i64 == everything)
    {
        return Err(PurgeError::MatchesEverything {
            count: targets.len(),
            scope,
        });
    }
    // --source names sources that may have no document yet: they are tombstoned all the same.
    let extra_sources: Vec<(Uuid, String)> = if request.sources.is_empty() {
        Vec::new()
    } else {
        let collections = match &collection {
            Some(collection) => vec![collection.clone()],
            None => collections::list(pool, &request.tenant).await?,
        };
        collections
            .iter()
            .flat_map(|c| request.sources.iter().map(move |uri| (c.id, uri.clone())))
            .collect()
    };
    if request.dry_run {
        let counts = purge::plan(&mut conn, &request.tenant, &targets).await?;
        return Ok(PurgeOutcome::DryRun {
            selector: selector.kind(),
            documents: targets,
            counts,
            sources_to_tombstone: extra_sources.len(),
        });
    }
    if targets.is_empty() && extra_sources.is_empty() {
        let audit_id = purge::record_empty(
            &mut conn,
            &selector,
            &request.actor,
            request.reason.as_deref(),
        )
        .await?;
        return Ok(PurgeOutcome::NothingMatched { audit_id });
    }
    let (receipt, evidence) = purge::execute(
        &mut conn,
        &selector,
        &extra_sources,
        &request.actor,
        request.reason.as_deref(),
    )
    .await
    .map_err(PurgeError::RolledBack)?;
    let vacuum = if request.vacuum {
        Some(purge::vacuum(&mut conn, &receipt.xid, std::time::Duration::from_secs(120)).await?)
    } else {
        None
    };
    let verification = purge::verify(&mut conn, &evidence).await?;
    Ok(PurgeOutcome::Purged {
        receipt,
        vacuum,
        verification,
    })
}
