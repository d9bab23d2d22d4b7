//! Settings of the event path: the OSS routes, the object stores, the queue's leases and retries,
//! and the commands built on them (`adbrag fc`, `adbrag worker`, `adbrag jobs`).

use std::time::Duration;

use clap::{Args, Subcommand};

use super::{DatabaseSettings, EmbeddingSettings, IngestSettings};
use crate::{
    ingest::{event::Routes, object::StoreSettings, queue::QueueSettings},
    store::jobs::JobStatus,
};

/// Which bucket (and key prefix) feeds which collection.
#[derive(Debug, Clone, Args)]
pub struct RouteSettings {
    /// Comma-separated `bucket[/prefix]=collection[@tenant]` (tenant `default` when omitted);
    /// the longest matching prefix wins. Events for an unrouted bucket are acknowledged and
    /// ignored. Example: `corp-docs/hr/=hr@acme,corp-docs=general@acme`.
    #[arg(long = "oss-routes", env = "ADBRAG_OSS_ROUTES", value_parser = routes)]
    pub routes: Routes,
}

fn routes(text: &str) -> Result<Routes, String> {
    text.parse::<Routes>().map_err(|err| err.to_string())
}

/// How objects are fetched from OSS and S3-compatible stores.
#[derive(Debug, Clone, Args)]
pub struct ObjectStoreArgs {
    /// The OSS endpoint, e.g. https://oss-cn-hangzhou-internal.aliyuncs.com. Unset: derived from
    /// the event's region (see --oss-internal).
    #[arg(long = "oss-endpoint", env = "ADBRAG_OSS_ENDPOINT")]
    pub oss_endpoint: Option<String>,

    /// Without --oss-endpoint, fetch through the region's internal endpoint
    /// (oss-<region>-internal.aliyuncs.com): free and faster from Function Compute or ECS in the
    /// bucket's region, unreachable from elsewhere.
    #[arg(long = "oss-internal", env = "ADBRAG_OSS_INTERNAL", default_value_t = false, action = clap::ArgAction::Set)]
    pub oss_internal: bool,

    /// The region of buckets named without an event (a backfill), e.g. cn-hangzhou.
    #[arg(long = "oss-region", env = "ADBRAG_OSS_REGION")]
    pub oss_region: Option<String>,

    /// The endpoint of an S3-compatible store, for s3:// sources.
    #[arg(long = "s3-endpoint", env = "ADBRAG_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The region s3:// requests are signed for.
    #[arg(
        long = "s3-region",
        env = "ADBRAG_S3_REGION",
        default_value = "us-east-1"
    )]
    pub s3_region: String,

    /// Seconds one object-store request may take.
    #[arg(
        long = "object-timeout",
        env = "ADBRAG_OBJECT_TIMEOUT",
        default_value_t = 60
    )]
    pub object_timeout_secs: u64,
}

impl ObjectStoreArgs {
    pub fn settings(&self) -> StoreSettings {
        StoreSettings {
            oss_endpoint: self.oss_endpoint.clone(),
            oss_internal: self.oss_internal,
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            timeout: Duration::from_secs(self.object_timeout_secs.max(1)),
        }
    }
}

/// Leases and retries of queued jobs.
#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Seconds a job's lease lasts; renewed every third of it while the job runs. A worker that
    /// dies loses its jobs to others after at most this long.
    #[arg(long = "job-lease", env = "ADBRAG_JOB_LEASE", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_secs: u64,

    /// Attempts before a job that keeps failing for transient reasons is `dead`.
    #[arg(long = "job-max-attempts", env = "ADBRAG_JOB_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub job_max_attempts: i32,

    /// Seconds before the first retry; each further retry waits twice as long.
    #[arg(
        long = "job-retry-base",
        env = "ADBRAG_JOB_RETRY_BASE",
        default_value_t = 10
    )]
    pub retry_base_secs: u64,

    /// The longest wait between retries, in seconds.
    #[arg(
        long = "job-retry-cap",
        env = "ADBRAG_JOB_RETRY_CAP",
        default_value_t = 900
    )]
    pub retry_cap_secs: u64,
}

impl QueueArgs {
    pub fn settings(&self, default_region: Option<String>) -> QueueSettings {
        QueueSettings {
            lease: Duration::from_secs(self.lease_secs),
            max_attempts: self.job_max_attempts,
            retry_base: Duration::from_secs(self.retry_base_secs),
            retry_cap: Duration::from_secs(self.retry_cap_secs.max(self.retry_base_secs)),
            default_region,
        }
    }
}

/// `adbrag fc`: the Function Compute custom-runtime handler.
#[derive(Debug, Args)]
pub struct FcArgs {
    /// The port to listen on, on every interface (Function Compute sets FC_SERVER_PORT and
    /// refuses a loopback-only server).
    #[arg(long = "port", env = "FC_SERVER_PORT", default_value_t = 9000)]
    pub port: u16,

    /// The interface to listen on; 0.0.0.0 in Function Compute.
    #[arg(long = "host", env = "ADBRAG_FC_HOST", default_value = "0.0.0.0")]
    pub host: std::net::IpAddr,

    /// Largest event body accepted, in bytes (Function Compute caps asynchronous invocations at
    /// 128 KB).
    #[arg(
        long = "max-event-bytes",
        env = "ADBRAG_FC_MAX_EVENT_BYTES",
        default_value_t = 128 * 1024
    )]
    pub max_event_bytes: usize,

    /// Seconds an invocation waits for another one processing the same event (a duplicate
    /// delivery) before asking Function Compute to retry.
    #[arg(
        long = "duplicate-wait",
        env = "ADBRAG_FC_DUPLICATE_WAIT",
        default_value_t = 120
    )]
    pub duplicate_wait_secs: u64,

    #[command(flatten)]
    pub routes: RouteSettings,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub ingest: IngestSettings,

    #[command(flatten)]
    pub objects: ObjectStoreArgs,

    #[command(flatten)]
    pub queue: QueueArgs,
}

/// `adbrag worker`: processes queued jobs until SIGTERM.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs processed at once by this process.
    #[arg(
        long = "concurrency",
        env = "ADBRAG_WORKER_CONCURRENCY",
        default_value_t = 2
    )]
    pub worker_concurrency: usize,

    /// Exit once the queue has no runnable job (for batch runs and cron), instead of waiting
    /// for more.
    #[arg(long)]
    pub drain: bool,

    /// Milliseconds an idle worker waits before looking for jobs again.
    #[arg(
        long = "poll-interval",
        env = "ADBRAG_WORKER_POLL_MS",
        default_value_t = 1000
    )]
    pub poll_ms: u64,

    /// Routes are not needed to process jobs (each names its collection); accepted so one
    /// environment serves `adbrag fc` and `adbrag worker`.
    #[arg(long = "oss-routes", env = "ADBRAG_OSS_ROUTES", hide = true)]
    pub routes: Option<String>,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub embedding: EmbeddingSettings,

    #[command(flatten)]
    pub ingest: IngestSettings,

    #[command(flatten)]
    pub objects: ObjectStoreArgs,

    #[command(flatten)]
    pub queue: QueueArgs,
}

/// `adbrag jobs …`: look at the queue and act on it.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: JobsCommand,

    /// Who acts, for the audit record of a retry or cancel; default: the OS user.
    #[arg(long, global = true)]
    pub actor: Option<String>,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// The newest jobs, optionally of one status.
    List {
        /// queued, running, succeeded, failed, dead or cancelled.
        #[arg(long)]
        status: Option<JobStatus>,
        /// Most jobs shown.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Queue a dead, failed or cancelled job again, with its attempts reset.
    Retry {
        /// The job's id.
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        id: Option<uuid::Uuid>,
        /// Every dead job.
        #[arg(long)]
        all_dead: bool,
    },
    /// Stop a job that has not finished; a running attempt's result is discarded.
    Cancel { id: uuid::Uuid },
}
