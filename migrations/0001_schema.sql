-- adbrag's schema: the system of record for documents, chunks, jobs, tombstones and the audit log.
--
-- This file is portable SQL that PostgreSQL and AnalyticDB for PostgreSQL both accept. The statements
-- that differ between them (the vector type, the ANN index, table distribution) are kept out of it:
-- the vector columns are added by 0002_vectors.sql, and the per-dimension vector indexes are rendered
-- at run time by src/store/dialect.rs. Never edit a migration that has shipped; add a new one.

-- A tenant-scoped corpus. Every read and write names one collection; nothing crosses collections.
CREATE TABLE collection (
    id               uuid        PRIMARY KEY,
    tenant           text        NOT NULL,
    name             text        NOT NULL,
    -- The embedding model and its output size are fixed for the life of a collection: vectors of
    -- different models are not comparable, so changing the model means reindexing into a new one.
    embedding_model  text        NOT NULL,
    dimensions       integer     NOT NULL CHECK (dimensions BETWEEN 1 AND 16000),
    -- The language hint for keyword segmentation ('auto' segments CJK and Latin scripts alike).
    keyword_language text        NOT NULL DEFAULT 'auto',
    -- Chunking and other per-collection options, interpreted by the ingest pipeline.
    settings         jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT collection_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    -- Names are unique within a tenant; the API finds a collection by (tenant, name).
    CONSTRAINT collection_tenant_name_key UNIQUE (tenant, name)
);

-- One source object (an OSS object, a file). Its id is stable across versions so citations stay valid.
CREATE TABLE document (
    id             uuid        PRIMARY KEY,
    collection_id  uuid        NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    source_uri     text        NOT NULL,
    -- The source's own version identity (the OSS ETag) and the time that orders versions (event time
    -- or Last-Modified): a version older than the stored one is ignored.
    source_etag    text,
    source_time    timestamptz NOT NULL,
    -- Incremented on every write of new content; citations name it.
    version        integer     NOT NULL DEFAULT 1,
    content_sha256 bytea       CHECK (octet_length(content_sha256) = 32),
    title          text,
    mime_type      text,
    byte_size      bigint      CHECK (byte_size >= 0),
    metadata       jsonb       NOT NULL DEFAULT '{}',
    -- Principals allowed to read this document; empty means everyone with access to the collection.
    acl            text[]      NOT NULL DEFAULT '{}',
    -- Only 'ready' documents are visible to search.
    status         text        NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    error          text,
    chunk_count    integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- One row per source object: re-uploads replace, they never duplicate.
    CONSTRAINT document_collection_source_key UNIQUE (collection_id, source_uri)
);

-- Listing a collection's documents by status (the API's `?status=` and the operators' stats).
CREATE INDEX document_collection_status_idx ON document (collection_id, status);
-- Metadata filters (`{"team": "hr"}`) use containment, which this index serves.
CREATE INDEX document_metadata_idx ON document USING gin (metadata jsonb_path_ops);

-- The searchable pieces of one document version. All chunks of a version are written and removed
-- together, in the transaction that changes the document row.
CREATE TABLE chunk (
    id             uuid     PRIMARY KEY,
    document_id    uuid     NOT NULL REFERENCES document (id) ON DELETE CASCADE,
    -- Denormalised from the document so every search filters one table by collection first.
    collection_id  uuid     NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    ordinal        integer  NOT NULL CHECK (ordinal >= 0),
    text           text     NOT NULL,
    token_count    integer  NOT NULL CHECK (token_count >= 0),
    page_from      integer,
    page_to        integer,
    -- Headings above this chunk, outermost first, e.g. ["Setup", "Database"].
    heading_path   jsonb    NOT NULL DEFAULT '[]',
    content_sha256 bytea    NOT NULL CHECK (octet_length(content_sha256) = 32),
    -- The embedding's length; also the predicate of the per-dimension vector index (see dialect.rs).
    dimensions     integer  NOT NULL,
    -- Application-segmented words (jieba for CJK, lower-cased words otherwise) in the 'simple'
    -- configuration, so the same index and query work on PostgreSQL and AnalyticDB.
    keywords       tsvector NOT NULL,
    CONSTRAINT chunk_document_ordinal_key UNIQUE (document_id, ordinal),
    CONSTRAINT chunk_pages_ordered CHECK (page_from IS NULL OR page_to IS NULL OR page_from <= page_to)
);

-- Keyword leg of hybrid search: full-text match over the segmented words.
CREATE INDEX chunk_keywords_idx ON chunk USING gin (keywords);
-- Scoping a search, counting and purging by collection.
CREATE INDEX chunk_collection_idx ON chunk (collection_id);

-- Embeddings already paid for, keyed by what determines them: re-ingesting unchanged text costs nothing.
-- It is derived personal data: purge removes entries that no remaining chunk uses.
CREATE TABLE embedding_cache (
    model        text        NOT NULL,
    dimensions   integer     NOT NULL,
    text_sha256  bytea       NOT NULL CHECK (octet_length(text_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, dimensions, text_sha256)
);

-- The durable ingest queue and its history.
CREATE TABLE ingest_job (
    id              uuid        PRIMARY KEY,
    collection_id   uuid        NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('upsert', 'delete')),
    source_uri      text        NOT NULL,
    source_etag     text,
    -- Where the job came from: 'cli', 'api', 'fc' (Function Compute), 'queue'.
    origin          text        NOT NULL,
    event_id        text,
    event_time      timestamptz,
    -- Duplicate deliveries of one event share this key (bucket, key, etag) and enqueue once.
    idempotency_key text,
    status          text        NOT NULL DEFAULT 'queued'
                                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_after       timestamptz NOT NULL DEFAULT now(),
    -- A running job whose lease has expired is claimable again (its worker died).
    lease_until     timestamptz,
    worker          text,
    last_error      text,
    document_id     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

-- Enqueueing the same event twice finds this and does nothing.
CREATE UNIQUE INDEX ingest_job_idempotency_key ON ingest_job (collection_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The claim query scans only claimable jobs, oldest first.
CREATE INDEX ingest_job_claimable_idx ON ingest_job (run_after) WHERE status IN ('queued', 'running');
-- A document's job history (the API's document view, purge).
CREATE INDEX ingest_job_source_idx ON ingest_job (collection_id, source_uri);

-- What was deleted or purged, and when, so a late or replayed event cannot bring it back: an upsert
-- whose source time is not after `removed_at` is ignored. It holds hashes, not the URI or the content:
-- a tombstone must not itself keep the personal data that a purge removed.
CREATE TABLE tombstone (
    collection_id     uuid        NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    source_uri_sha256 bytea       NOT NULL CHECK (octet_length(source_uri_sha256) = 32),
    content_sha256    bytea       CHECK (octet_length(content_sha256) = 32),
    removed_at        timestamptz NOT NULL,
    -- 'deleted' (the source object was removed) or 'purged' (an erasure request).
    reason            text        NOT NULL CHECK (reason IN ('deleted', 'purged')),
    PRIMARY KEY (collection_id, source_uri_sha256)
);

-- Who did what to which id, and when. Never document content, titles or URIs.
CREATE TABLE audit_log (
    id            bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text        NOT NULL,
    action        text        NOT NULL,
    collection_id uuid,
    subject_id    uuid,
    details       jsonb       NOT NULL DEFAULT '{}'
);

-- Audit queries are by subject ("what happened to document X") and by time.
CREATE INDEX audit_log_subject_idx ON audit_log (subject_id, at);
