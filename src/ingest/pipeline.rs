//! The ingest pipeline: one source object in, one document version out — or a failure recorded
//! with a reason a person can act on, and the previous version left searchable.
//!
//! fetch (the caller) → parse (a blocking thread, bounded in time, panics contained) → OCR of
//! the pages that are scans ([`super::ocr`], bounded per page) → chunk (a blocking thread again)
//! → embed only what the cache lacks → one transaction: the version, its chunks, the new cache
//! entries and the job's success. Every attempt is an `ingest_job` row.
//!
//! The pipeline times its stages (parse, chunk, embed, write) and the waits for its pool's
//! connections in an [`Observer`] it owns; `api::metrics` registers that for `GET /metrics` (this
//! module never imports the API).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
};
use sqlx::{PgPool, Postgres, pool::PoolConnection};
use uuid::Uuid;

use super::{
    chunk::{self, Chunk, ChunkOptions},
    lease,
    ocr::{OcrChoice, ReadError},
    parse::{self, Block, Format, ParseError, ParseLimits},
    source::SourceObject,
    tokens::TokenCounter,
};
use crate::{
    llm::{EmbedError, Embedder},
    store::{
        self,
        collections::Collection,
        documents::{self, NewChunk, NewDocument, WriteOutcome},
        embedding_cache,
        jobs::{self, Job, JobKind, NewJob},
        sha256,
    },
    text::segment,
};

/// What protects the service from a hostile or broken document.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_object_bytes: u64,
    pub max_pages: u32,
    /// Pixels of one scanned page's image (`ADBRAG_OCR_MAX_PIXELS`).
    pub max_image_pixels: u64,
    pub max_chunks: usize,
    pub parse_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(
        "the object is {size} bytes, more than the limit of {max}: split it, or raise ADBRAG_MAX_OBJECT_BYTES"
    )]
    TooLarge { size: u64, max: u64 },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Ocr(#[from] ReadError),
    #[error(
        "parsing took longer than {0:?} and was abandoned: if the file is just large, raise ADBRAG_PARSE_TIMEOUT"
    )]
    ParseTimeout(Duration),
    #[error("the parser failed on this file ({0}); it was skipped: please report it with the file")]
    ParserCrashed(String),
    #[error("the document has no text to index once parsed: check that it is not blank")]
    NoChunks,
    #[error(
        "the document yields {chunks} chunks, more than the limit of {max}: split it, or raise ADBRAG_MAX_CHUNKS"
    )]
    TooManyChunks { chunks: usize, max: usize },
    #[error(
        "collection '{collection}' holds {collection_model} vectors ({collection_dimensions} dimensions) but the configured embedder is {model} ({dimensions}): ingest with the collection's model, or into another collection"
    )]
    EmbedderMismatch {
        collection: String,
        collection_model: String,
        collection_dimensions: i32,
        model: String,
        dimensions: usize,
    },
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The object store could not give the object (denied, unreachable, misconfigured).
    #[error("{0}")]
    Fetch(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl IngestError {
    /// The document itself is at fault (it cannot be parsed, is empty, too large, or the provider
    /// refused its text): the failure is recorded on the document and not retried. Anything else —
    /// the database, OSS or the embedding API down, a misconfiguration — is retried and never
    /// blamed on the document.
    pub fn is_document_fault(&self) -> bool {
        match self {
            IngestError::TooLarge { .. }
            | IngestError::Parse(_)
            | IngestError::ParseTimeout(_)
            | IngestError::ParserCrashed(_)
            | IngestError::NoChunks
            | IngestError::TooManyChunks { .. }
            | IngestError::Ocr(ReadError::TooManyPages { .. } | ReadError::NoText(_)) => true,
            // 400/413/422: this input was refused; 401, 403, 404, 429 are the account's or the
            // configuration's problem.
            IngestError::Embed(EmbedError::Rejected { status, .. }) => {
                matches!(status, 400 | 413 | 422)
            }
            IngestError::Embed(_)
            | IngestError::Ocr(ReadError::Unavailable(_))
            | IngestError::EmbedderMismatch { .. }
            | IngestError::Fetch(_)
            | IngestError::Store(_) => false,
        }
    }
}

impl From<sqlx::Error> for IngestError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(err.into())
    }
}

/// What one successful ingest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub job_id: Uuid,
    pub document_id: Option<Uuid>,
    pub outcome: Outcome,
    /// Chunks this attempt prepared: 0 when the stored version settled it without parsing.
    pub chunks: usize,
    /// Texts sent to the embedding model.
    pub embedded: usize,
    /// Chunks whose vector came from the cache.
    pub cache_hits: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new version is visible.
    Written { version: i32 },
    /// The stored version already has this content.
    Unchanged,
    /// Something newer is stored (or the source was deleted later); nothing changed.
    Stale,
}

impl Outcome {
    /// The word a finished job records (`ingest_job.outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Written { .. } => "written",
            Outcome::Unchanged => "unchanged",
            Outcome::Stale => "stale",
        }
    }
}

/// A step of an ingest, as [`Observer`] times it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Stage {
    /// Bytes to structured text (on the parser's thread).
    Parse,
    /// Text for the scanned pages (only documents that have some).
    Ocr,
    /// Text to chunks, with their keywords and embedding inputs.
    Chunk,
    /// Vectors for the chunks: the cache lookup and the model call for what it lacks.
    Embed,
    /// The transaction that stores the version, its chunks, the new cache entries and the job.
    Write,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Parse,
        Stage::Ocr,
        Stage::Chunk,
        Stage::Embed,
        Stage::Write,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Ocr => "ocr",
            Stage::Chunk => "chunk",
            Stage::Embed => "embed",
            Stage::Write => "write",
        }
    }
}

/// The label of a stage's histogram: `stage="parse"` etc.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: &'static str,
}

/// What the pipeline measures, for whoever exposes metrics (`api::metrics` registers both series
/// for `GET /metrics`): the seconds each stage took, when it succeeded, and how long taking a
/// connection from the pool waited. Clones share their series.
///
/// The pool-wait histogram counts every connection the pipeline takes, and those the API takes
/// through [`Observer::acquire`] from the same pool (`AppState`'s pool is the pipeline's).
#[derive(Clone, Debug)]
pub struct Observer {
    stages: Family<StageLabels, Histogram>,
    pool_wait: Histogram,
}

/// 1 ms to ~131 s: a large PDF parses, and a remote model embeds, for minutes at worst.
fn stage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

impl Default for Observer {
    fn default() -> Self {
        let stages = Family::<StageLabels, Histogram>::new_with_constructor(
            stage_histogram as fn() -> Histogram,
        );
        // Every stage is exposed from the start, at zero, so a dashboard's series never appear late.
        for stage in Stage::ALL {
            drop(stages.get_or_create(&StageLabels {
                stage: stage.as_str(),
            }));
        }
        Self {
            stages,
            // 0.1 ms (an idle connection) to ~52 s (past the default acquire timeout of 30 s).
            pool_wait: Histogram::new(exponential_buckets(0.0001, 2.0, 20)),
        }
    }
}

impl Observer {
    /// Seconds per stage, by `stage` (register it: its name is the registrant's choice).
    pub fn stages(&self) -> &Family<StageLabels, Histogram> {
        &self.stages
    }

    /// Seconds each connection waited for.
    pub fn pool_wait(&self) -> &Histogram {
        &self.pool_wait
    }

    pub fn observe(&self, stage: Stage, elapsed: Duration) {
        self.stages
            .get_or_create(&StageLabels {
                stage: stage.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A connection from `pool`, its wait observed (a failed acquire too: a timeout is a wait).
    pub async fn acquire(&self, pool: &PgPool) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let started = Instant::now();
        let conn = pool.acquire().await;
        self.pool_wait.observe(started.elapsed().as_secs_f64());
        conn
    }
}

/// How long an in-process job's lease lasts without renewal (renewed every third of it).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Tokens kept free in the embedding model's input for the title and headings of a chunk.
const EMBED_CONTEXT_TOKENS: usize = 64;

pub struct Pipeline {
    pool: PgPool,
    embedder: Arc<dyn Embedder>,
    counter: Arc<dyn TokenCounter>,
    limits: Limits,
    chunking: ChunkOptions,
    worker: String,
    lease: Duration,
    observer: Observer,
    ocr: OcrChoice,
}

/// A chunk ready to embed and store.
struct Prepared {
    chunk: Chunk,
    keywords: String,
    /// What the embedding model sees: the chunk with its title and headings for context.
    embed_input: String,
}

struct Parsed {
    title: Option<String>,
    mime_type: &'static str,
    chunks: Vec<Prepared>,
    /// The parser's and OCR's warnings (see [`parse::Parsed::warnings`]).
    warnings: Vec<String>,
    /// What OCR did, for the metadata's `ocr` (null when no page was a scan).
    ocr: serde_json::Value,
}

impl Pipeline {
    pub fn new(
        pool: PgPool,
        embedder: Arc<dyn Embedder>,
        counter: Arc<dyn TokenCounter>,
        limits: Limits,
        chunking: ChunkOptions,
    ) -> Self {
        let worker = format!(
            "{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
            std::process::id()
        );
        Self {
            pool,
            embedder,
            counter,
            limits,
            chunking,
            worker,
            lease: DEFAULT_LEASE,
            observer: Observer::default(),
            ocr: OcrChoice::default(),
        }
    }

    /// Whether and how scanned pages are read.
    pub fn ocr(&self) -> &OcrChoice {
        &self.ocr
    }

    /// Reads scanned pages with this engine (without one, scans are refused, saying why).
    pub fn with_ocr(mut self, ocr: OcrChoice) -> Self {
        self.ocr = ocr;
        self
    }

    /// Its stage timings and pool waits.
    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    /// The lease its jobs hold (`ADBRAG_JOB_LEASE`).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Who this process is in `ingest_job.worker`: host and process id.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn max_object_bytes(&self) -> u64 {
        self.limits.max_object_bytes
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The default chunking options, as configured (before fitting to a collection and embedder).
    pub fn default_chunking(&self) -> &ChunkOptions {
        &self.chunking
    }

    /// Refuses a collection whose vectors come from another model than this pipeline's embedder.
    pub fn check_collection(&self, collection: &Collection) -> Result<(), IngestError> {
        let same_size =
            usize::try_from(collection.dimensions).ok() == Some(self.embedder.dimensions());
        if collection.embedding_model == self.embedder.model() && same_size {
            return Ok(());
        }
        Err(IngestError::EmbedderMismatch {
            collection: collection.name.clone(),
            collection_model: collection.embedding_model.clone(),
            collection_dimensions: collection.dimensions,
            model: self.embedder.model().to_owned(),
            dimensions: self.embedder.dimensions(),
        })
    }

    /// The collection's chunking options (its `settings`), else the pipeline's defaults, fitted
    /// to the embedder.
    fn chunking(&self, collection: &Collection) -> ChunkOptions {
        let setting = |key: &str| {
            collection.settings[key]
                .as_u64()
                .and_then(|value| usize::try_from(value).ok())
        };
        fit_chunking(
            &ChunkOptions {
                max_tokens: setting("chunk_tokens").unwrap_or(self.chunking.max_tokens),
                overlap_tokens: setting("chunk_overlap").unwrap_or(self.chunking.overlap_tokens),
            },
            self.embedder.as_ref(),
        )
    }

    /// Ingests one object as a new version of its document, recording the attempt as a job of its
    /// own (leased, so a killed process leaves no job `running` for ever). A failure is recorded
    /// on the job, and on the document when the document is at fault.
    pub async fn ingest(
        &self,
        collection: &Collection,
        object: SourceObject,
        origin: &str,
    ) -> Result<Ingested, IngestError> {
        let job = jobs::start(
            &mut *self.observer.acquire(&self.pool).await?,
            &NewJob {
                collection_id: collection.id,
                kind: JobKind::Upsert,
                source_uri: object.uri.clone(),
                source_etag: object.etag.clone(),
                origin: origin.to_owned(),
                event_id: None,
                event_time: Some(object.modified),
                idempotency_key: None,
                max_attempts: 1,
                payload: serde_json::json!({}),
            },
            &self.worker,
            self.lease,
        )
        .await?;
        let (uri, modified) = (object.uri.clone(), object.modified);
        let result = self.ingest_claimed(collection, object, &job).await;
        if let Err(err) = &result {
            // One attempt only: a transient failure makes the job `dead` (retry it later), a
            // document's fault makes it `failed`.
            self.record_failure(collection, &uri, modified, &job, err, Some(Duration::ZERO))
                .await?;
        }
        result
    }

    /// Ingests one object under a claimed job, holding its lease: the job's success is written in
    /// the document's transaction, so both are kept or neither. On failure nothing is recorded:
    /// the caller decides ([`Pipeline::record_failure`]).
    pub async fn ingest_claimed(
        &self,
        collection: &Collection,
        object: SourceObject,
        claim: &Job,
    ) -> Result<Ingested, IngestError> {
        let span = tracing::info_span!("ingest", job = %claim.id, collection = %collection.name);
        let work = tracing::Instrument::instrument(self.run(collection, object, claim), span);
        lease::hold(&self.pool, claim, self.lease, work).await
    }

    /// Records that a claimed attempt failed: on the document when it is at fault (its previous
    /// version stays searchable), and on the job, which is retried after `retry_in` unless the
    /// document is at fault (then it is `failed`) or its attempts are spent (then it is `dead`).
    pub async fn record_failure(
        &self,
        collection: &Collection,
        uri: &str,
        modified: chrono::DateTime<chrono::Utc>,
        claim: &Job,
        err: &IngestError,
        retry_in: Option<Duration>,
    ) -> Result<Job, store::Error> {
        let reason = err.to_string();
        if matches!(err, IngestError::Store(store::Error::LeaseLost(_))) {
            tracing::warn!(job = %claim.id, "the job was taken over or cancelled; this attempt's result is discarded");
            return Ok(claim.clone());
        }
        tracing::warn!(job = %claim.id, error = %reason, "ingest failed");
        let mut conn = self.observer.acquire(&self.pool).await?;
        let retry_in = if err.is_document_fault() {
            documents::record_failure(&mut conn, collection.id, uri, modified, &reason).await?;
            None
        } else {
            retry_in
        };
        jobs::fail(&mut *conn, claim, &reason, retry_in).await
    }

    async fn run(
        &self,
        collection: &Collection,
        object: SourceObject,
        claim: &Job,
    ) -> Result<Ingested, IngestError> {
        self.check_collection(collection)?;
        let size = object.bytes.len() as u64;
        if size > self.limits.max_object_bytes {
            return Err(IngestError::TooLarge {
                size,
                max: self.limits.max_object_bytes,
            });
        }
        let mut document = NewDocument {
            collection_id: collection.id,
            source_uri: object.uri,
            source_etag: object.etag,
            source_time: object.modified,
            content_sha256: sha256(&object.bytes),
            title: object.file_name.clone(),
            mime_type: None,
            byte_size: i64::try_from(size).unwrap_or(i64::MAX),
            metadata: object.metadata,
            acl: object.acl,
        };

        // The same bytes again, or an older version: settled without parsing or embedding.
        let mut conn = self.observer.acquire(&self.pool).await?;
        if let Some(outcome) = documents::refresh(&mut conn, &document).await? {
            drop(conn);
            return self.finish(claim, outcome).await;
        }
        drop(conn);

        // The bytes move to the parser's thread: a large document is never copied.
        let parsed = self
            .parse(collection, object.bytes, object.file_name)
            .await?;
        document.title = parsed.title.or(document.title);
        document.mime_type = Some(parsed.mime_type.to_owned());
        for warning in &parsed.warnings {
            tracing::warn!(source = %document.source_uri, "{warning}");
        }
        record_parse_warnings(&mut document.metadata, &parsed.warnings);
        record_ocr(&mut document.metadata, parsed.ocr);

        let started = Instant::now();
        let (vectors, cache_hits, new_entries) =
            self.embed(&collection.tenant, &parsed.chunks).await?;
        self.observer.observe(Stage::Embed, started.elapsed());
        let chunks: Vec<NewChunk> = parsed
            .chunks
            .iter()
            .zip(vectors)
            .map(|(prepared, embedding)| NewChunk {
                text: prepared.chunk.text.clone(),
                token_count: i32::try_from(prepared.chunk.token_count).unwrap_or(i32::MAX),
                page_from: prepared.chunk.page_from.and_then(|p| i32::try_from(p).ok()),
                page_to: prepared.chunk.page_to.and_then(|p| i32::try_from(p).ok()),
                heading_path: prepared.chunk.heading_path.clone(),
                keywords: prepared.keywords.clone(),
                embedding_sha256: sha256(&prepared.embed_input),
                embedding,
            })
            .collect();

        let started = Instant::now();
        let mut conn = self.observer.acquire(&self.pool).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let outcome = documents::replace(&mut tx, &document, &chunks).await?;
        // Only a version that was written keeps its vectors: a stale one (a newer version, a
        // delete or a purge won the race) must not leave derived data behind in the cache.
        if matches!(outcome, WriteOutcome::Written { .. }) {
            let entries: Vec<([u8; 32], &[f32])> = new_entries
                .iter()
                .map(|(hash, vector)| (*hash, vector.as_slice()))
                .collect();
            embedding_cache::insert(
                &mut *tx,
                &collection.tenant,
                self.embedder.model(),
                self.embedder.dimensions(),
                &entries,
            )
            .await?;
        }
        let document_id = outcome_document(&outcome);
        let done: Outcome = outcome.clone().into();
        jobs::succeed(&mut *tx, claim, document_id, done.as_str()).await?;
        tx.commit().await?;
        drop(conn);
        self.observer.observe(Stage::Write, started.elapsed());
        tracing::info!(
            document = %document_id.map_or_else(|| "none (stale)".to_owned(), |id| id.to_string()),
            chunks = chunks.len(),
            embedded = new_entries.len(),
            cache_hits,
            tokens = chunks.iter().map(|c| i64::from(c.token_count)).sum::<i64>(),
            "ingested"
        );
        Ok(Ingested {
            job_id: claim.id,
            document_id,
            outcome: done,
            chunks: chunks.len(),
            embedded: new_entries.len(),
            cache_hits,
        })
    }

    /// Settles a job the stored version already answers (unchanged or stale content): nothing
    /// was parsed, chunked or embedded.
    async fn finish(&self, claim: &Job, outcome: WriteOutcome) -> Result<Ingested, IngestError> {
        let document_id = outcome_document(&outcome);
        let done: Outcome = outcome.into();
        jobs::succeed(
            &mut *self.observer.acquire(&self.pool).await?,
            claim,
            document_id,
            done.as_str(),
        )
        .await?;
        Ok(Ingested {
            job_id: claim.id,
            document_id,
            outcome: done,
            chunks: 0,
            embedded: 0,
            cache_hits: 0,
        })
    }

    /// Parses on a blocking thread (bounded in time, a panic becomes an error), reads the scanned
    /// pages with OCR, then chunks and segments on a blocking thread again.
    async fn parse(
        &self,
        collection: &Collection,
        bytes: Vec<u8>,
        file_name: Option<String>,
    ) -> Result<Parsed, IngestError> {
        let limits = ParseLimits {
            max_pages: self.limits.max_pages,
            max_image_pixels: self.limits.max_image_pixels,
        };
        let observer = self.observer.clone();
        let (bytes, parsed) = self
            .blocking(move || {
                let started = Instant::now();
                let parsed = parse::parse(&bytes, file_name.as_deref(), &limits);
                observer.observe(Stage::Parse, started.elapsed());
                Ok((bytes, parsed?))
            })
            .await?;
        let parse::Parsed {
            title,
            format,
            mut blocks,
            mut warnings,
            scans,
            ..
        } = parsed;
        let mut ocr = serde_json::Value::Null;
        if !scans.is_empty() {
            let engine = match &self.ocr {
                OcrChoice::On(engine) => engine,
                OcrChoice::Off(why) if blocks.is_empty() => {
                    return Err(ParseError::NeedsOcr {
                        format,
                        why: why.clone(),
                        hint: "set ADBRAG_OCR=auto with Tesseract installed (scripts/ocr.sh), or run OCR on it and upload the result",
                    }
                    .into());
                }
                OcrChoice::Off(why) => {
                    warnings.push(format!(
                        "{} without text, and OCR is off ({why}): that text is missing; set ADBRAG_OCR=auto to read it",
                        scanned_pages(&scans.iter().map(|scan| scan.page).collect::<Vec<_>>())
                    ));
                    return self
                        .chunk(collection, title, format, blocks, warnings, ocr)
                        .await;
                }
            };
            let started = Instant::now();
            let source = (format == Format::Pdf).then_some(bytes.as_slice());
            let read = match engine.read_scans(source, scans).await {
                // A PDF with text of its own keeps it when its scans give nothing.
                Err(ReadError::NoText(reason)) if !blocks.is_empty() => {
                    warnings.push(format!("OCR found no text in the scanned pages: {reason}"));
                    None
                }
                other => Some(other?),
            };
            self.observer.observe(Stage::Ocr, started.elapsed());
            if let Some(read) = read {
                blocks.extend(read.blocks);
                // Text pages and scanned pages in page order (the sort is stable within a page).
                blocks.sort_by_key(|block| block.page);
                warnings.extend(read.warnings);
                ocr = read.record;
            }
        }
        drop(bytes);
        self.chunk(collection, title, format, blocks, warnings, ocr)
            .await
    }

    /// Chunks `blocks` and derives each chunk's keywords and embedding input, on a blocking
    /// thread.
    async fn chunk(
        &self,
        collection: &Collection,
        title: Option<String>,
        format: Format,
        blocks: Vec<Block>,
        warnings: Vec<String>,
        ocr: serde_json::Value,
    ) -> Result<Parsed, IngestError> {
        let max_chunks = self.limits.max_chunks;
        let options = self.chunking(collection);
        let counter = self.counter.clone();
        let observer = self.observer.clone();
        self.blocking(move || {
            let started = Instant::now();
            let chunks = prepare(
                &blocks,
                title.as_deref(),
                max_chunks,
                &options,
                counter.as_ref(),
            )?;
            observer.observe(Stage::Chunk, started.elapsed());
            Ok(Parsed {
                title,
                mime_type: format.mime_type(),
                chunks,
                warnings,
                ocr,
            })
        })
        .await
    }

    /// Runs `work` on a blocking thread within the parse timeout; a panic becomes an error.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
    ) -> Result<T, IngestError> {
        let task = tokio::task::spawn_blocking(work);
        // A timed-out parse cannot be killed (it is a thread): it finishes in the background and
        // its result is dropped. The timeout frees the job, and the limits bound the work.
        match tokio::time::timeout(self.limits.parse_timeout, task).await {
            Err(_) => Err(IngestError::ParseTimeout(self.limits.parse_timeout)),
            Ok(Err(join)) => Err(IngestError::ParserCrashed(panic_message(join))),
            Ok(Ok(result)) => result,
        }
    }

    /// Vectors for every chunk, in order: cached ones from the cache, the rest from the model (each
    /// distinct text once). Returns the vectors, the cache hits, and the new cache entries.
    async fn embed(
        &self,
        tenant: &str,
        chunks: &[Prepared],
    ) -> Result<(Vec<Vec<f32>>, usize, Vec<([u8; 32], Vec<f32>)>), IngestError> {
        let hashes: Vec<[u8; 32]> = chunks.iter().map(|c| sha256(&c.embed_input)).collect();
        let mut known = embedding_cache::lookup(
            &mut *self.observer.acquire(&self.pool).await?,
            tenant,
            self.embedder.model(),
            self.embedder.dimensions(),
            &hashes,
        )
        .await?;
        let cache_hits = hashes
            .iter()
            .filter(|hash| known.contains_key(*hash))
            .count();

        let mut missing: Vec<[u8; 32]> = Vec::new();
        let mut inputs: Vec<String> = Vec::new();
        let mut queued: HashMap<[u8; 32], ()> = HashMap::new();
        for (hash, chunk) in hashes.iter().zip(chunks) {
            if !known.contains_key(hash) && queued.insert(*hash, ()).is_none() {
                missing.push(*hash);
                inputs.push(chunk.embed_input.clone());
            }
        }
        let mut new_entries = Vec::with_capacity(missing.len());
        if !inputs.is_empty() {
            let vectors = self.embedder.embed(&inputs).await?;
            for (hash, vector) in missing.into_iter().zip(vectors) {
                known.insert(hash, vector.clone());
                new_entries.push((hash, vector));
            }
        }
        let vectors = hashes
            .iter()
            .map(|hash| known.get(hash).cloned().unwrap_or_default())
            .collect();
        Ok((vectors, cache_hits, new_entries))
    }
}

/// Chunking options that fit the embedder: room is left for the title and headings embedded with
/// each chunk, inside what the model reads (the local MiniLM reads only 256 tokens; past that it
/// would ignore the end of a chunk).
pub fn fit_chunking(options: &ChunkOptions, embedder: &dyn Embedder) -> ChunkOptions {
    let max_tokens = options.max_tokens.min(
        embedder
            .max_input_tokens()
            .saturating_sub(EMBED_CONTEXT_TOKENS)
            .max(ChunkOptions::MIN_MAX_TOKENS),
    );
    ChunkOptions {
        max_tokens,
        overlap_tokens: options.overlap_tokens.min(max_tokens / 4),
    }
}

fn outcome_document(outcome: &WriteOutcome) -> Option<Uuid> {
    match outcome {
        WriteOutcome::Written { document_id, .. } | WriteOutcome::Unchanged { document_id, .. } => {
            Some(*document_id)
        }
        WriteOutcome::Stale { .. } => None,
    }
}

impl From<WriteOutcome> for Outcome {
    fn from(outcome: WriteOutcome) -> Self {
        match outcome {
            WriteOutcome::Written { version, .. } => Outcome::Written { version },
            WriteOutcome::Unchanged { .. } => Outcome::Unchanged,
            WriteOutcome::Stale { .. } => Outcome::Stale,
        }
    }
}

/// The CPU part after parsing: blocks → chunks → keywords and embedding inputs.
fn prepare(
    blocks: &[Block],
    title: Option<&str>,
    max_chunks: usize,
    options: &ChunkOptions,
    counter: &dyn TokenCounter,
) -> Result<Vec<Prepared>, IngestError> {
    let chunks = chunk::chunk(blocks, options, counter);
    if chunks.is_empty() {
        return Err(IngestError::NoChunks);
    }
    if chunks.len() > max_chunks {
        return Err(IngestError::TooManyChunks {
            chunks: chunks.len(),
            max: max_chunks,
        });
    }
    Ok(chunks
        .into_iter()
        .map(|chunk| {
            let embed_input = model_input(title, &chunk.heading_path, &chunk.text);
            // Keyword search reads what the embedder reads: the title and headings name a
            // passage's topic for both legs.
            let keywords = segment::keywords(&embed_input);
            Prepared {
                chunk,
                keywords,
                embed_input,
            }
        })
        .collect())
}

/// "Page 3 of this PDF is a scan" or "Pages 2, 5 and 9 of this PDF are scans".
fn scanned_pages(pages: &[u32]) -> String {
    match pages {
        [page] => format!("Page {page} of this PDF is a scan"),
        [rest @ .., last] => format!(
            "Pages {} and {last} of this PDF are scans",
            rest.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        [] => "No page of this PDF is a scan".to_owned(),
    }
}

/// Puts what OCR did in the document's metadata as `ocr` (`engine`, `pages`, `mean_confidence`,
/// `low_confidence_pages`), where search results and citations can tell that a page's text was
/// read from a scan. Nothing when no page was one.
fn record_ocr(metadata: &mut serde_json::Value, ocr: serde_json::Value) {
    if ocr.is_null() {
        return;
    }
    if metadata.is_null() {
        *metadata = serde_json::json!({});
    }
    if let Some(object) = metadata.as_object_mut() {
        object.insert("ocr".to_owned(), ocr);
    }
}

/// Puts the parser's warnings in the document's metadata as `parse_warnings` (a list of
/// sentences), where whoever looks at the document sees what was wrong with the file and what to
/// do about it. Metadata that is not an object (never, from our sources) is left alone.
fn record_parse_warnings(metadata: &mut serde_json::Value, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    if metadata.is_null() {
        *metadata = serde_json::json!({});
    }
    if let Some(object) = metadata.as_object_mut() {
        object.insert("parse_warnings".to_owned(), serde_json::json!(warnings));
    }
}

/// The chunk as the embedding model and the keyword index see it: headings give a passage its
/// topic ("Leave > Sick leave" makes "up to 10 days" findable), the title its document. `adbrag
/// migrate` rebuilds the same text from the stored title, headings and chunk text.
pub fn model_input(title: Option<&str>, heading_path: &[String], text: &str) -> String {
    let mut context: Vec<&str> = title.into_iter().collect();
    context.extend(heading_path.iter().map(String::as_str));
    if context.is_empty() {
        text.to_owned()
    } else {
        format!("{}\n\n{}", context.join(" > "), text)
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if !join.is_panic() {
        return join.to_string();
    }
    let payload = join.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
