//! Holding a job's lease while its work runs: renewed every third of its length, and the work
//! abandoned the moment the lease turns out to be lost (another worker took the job over, or an
//! operator cancelled it), so two workers never both believe they own one attempt.

use std::{future::Future, time::Duration};

use sqlx::PgPool;

use crate::store::{self, jobs, jobs::Job};

/// Runs `work` for the claimed attempt `claim`, renewing its lease. If a renewal finds the attempt
/// no longer current, `work` is dropped (cancelled at its next await) and `Err(LeaseLost)` is
/// returned. A renewal that fails because the database is unreachable is not a loss: the work goes
/// on, and its own writes meet the same outage (or succeed, fenced, if it comes back in time).
pub async fn hold<T, E>(
    pool: &PgPool,
    claim: &Job,
    lease: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E>
where
    E: From<store::Error>,
{
    let renew_every = (lease / 3).max(Duration::from_millis(100));
    let renewals = async {
        let mut ticks = tokio::time::interval(renew_every);
        ticks.tick().await; // the first tick is immediate; the claim itself set the lease
        loop {
            ticks.tick().await;
            match jobs::renew(pool, claim, lease).await {
                Ok(true) => {}
                Ok(false) => return store::Error::LeaseLost(claim.id),
                Err(err) => {
                    tracing::warn!(job = %claim.id, error = %err, "cannot renew the job's lease; carrying on");
                }
            }
        }
    };
    tokio::select! {
        result = work => result,
        lost = renewals => Err(E::from(lost)),
    }
}
