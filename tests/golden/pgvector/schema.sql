-- adbrag schema, pgvector dialect: the statements `adbrag migrate` applies to an empty database.

-- sqlx's migration history (sqlx creates it; the rows below are what it records).
CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);

-- ==== migration 0001 schema ====
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
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (1, 'schema', true, '\x9128c48f4f4d5bd57ad27cca6a9c0ecd52a307658a1d26c415641806f5681fb9abcd514f5d7cfb845b9e4fbe7cfc2727', 0);

-- ==== migration 0002 vectors ====
-- The vector columns, pgvector rendition. Everything that differs on AnalyticDB for PostgreSQL lives
-- here and in src/store/dialect.rs (which renders the per-dimension ANN indexes and documents the
-- AnalyticDB equivalents: `real[]` columns with `SET STORAGE PLAIN`, FastANN indexes, distribution).
--
-- Creating the extension needs a superuser (pgvector is not a trusted extension). When the service's
-- role is not one, an administrator runs `CREATE EXTENSION vector` once and this statement is a no-op.
CREATE EXTENSION IF NOT EXISTS vector;

-- `vector` without a type modifier: collections of different dimensions (384 for the local embedder,
-- 1024 for Model Studio) share one table. An HNSW index needs one fixed dimension, so each dimension
-- in use gets its own partial expression index, `((embedding::vector(N))) … WHERE dimensions = N`,
-- created with the first collection of that size (dialect.rs). Queries repeat that expression and
-- predicate so the planner can use the index.
ALTER TABLE chunk ADD COLUMN embedding vector NOT NULL;
ALTER TABLE chunk ADD CONSTRAINT chunk_embedding_dimensions CHECK (vector_dims(embedding) = dimensions);

ALTER TABLE embedding_cache ADD COLUMN embedding vector NOT NULL;
ALTER TABLE embedding_cache ADD CONSTRAINT embedding_cache_embedding_dimensions
    CHECK (vector_dims(embedding) = dimensions);
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (2, 'vectors', true, '\xbc229030fff6aeb65c5ea634a06209cc93bf123b487373154109c4f97b7d8ff594646e87915042ef4acc77c1f1529a53', 0);

-- ==== migration 0003 api keys ====
-- API keys: who may call the HTTP API, for which tenant, with which role. Only a SHA-256 of each key
-- is stored (keys are 256-bit random, so a plain hash is enough to make a stolen table useless);
-- the key itself is shown once, when `adbrag keys create` makes it.
CREATE TABLE api_key (
    id            uuid        PRIMARY KEY,
    tenant        text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    name          text        NOT NULL,
    -- The key's first characters, kept to tell keys apart in listings and logs.
    prefix        text        NOT NULL,
    secret_sha256 bytea       NOT NULL CHECK (octet_length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- Every request looks its key up by hash.
CREATE UNIQUE INDEX api_key_secret_idx ON api_key (secret_sha256);
-- `adbrag keys list --tenant`.
CREATE INDEX api_key_tenant_idx ON api_key (tenant);
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (3, 'api keys', true, '\x1758fbbb32bdbb82e8da9484102d9e415544e29c4877161ae36ac305d0f6beeceb66ad7d512b5852e687f45f9de52464', 0);

-- ==== migration 0004 keyword tiers ====
-- The keyword leg ranks by how often the query's words occur in a chunk (ts_rank_cd). A chunk can
-- score above a single occurrence only if it holds two different query words or repeats one. The
-- first kind is found with a pairwise-AND tsquery on chunk_keywords_idx; this index finds the
-- second kind. Together they are the "strong" set the leg ranks first, so a query of common words
-- ranks a bounded set instead of every chunk that mentions one of them (src/store/search.rs).
--
-- Needs PostgreSQL 9.6+ (unnest(tsvector), array_to_tsvector): true of PostgreSQL 15 and of
-- AnalyticDB for PostgreSQL 7 (PostgreSQL 12 based).
CREATE FUNCTION keywords_repeated(keywords tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(coalesce(array_agg(lexeme), '{}'))
    FROM unnest(keywords)
    WHERE cardinality(positions) >= 2
$$;

CREATE INDEX chunk_keywords_repeated_idx ON chunk USING gin (keywords_repeated(keywords));
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (4, 'keyword tiers', true, '\xc77431be50cfad5bf2286f3174cb03756cee395229ac61c49918f96e36898669732e073580b617280bd21773026399a4', 0);

-- ==== migration 0005 bm25 ====
-- BM25 for the keyword leg (src/store/keywords.rs, src/store/search.rs).
--
-- Terms are computed by the application (src/search/segment.rs: Snowball English stems, jieba
-- words, identifiers whole and in parts), so the same tables work on PostgreSQL and AnalyticDB.
-- Per collection the statistics BM25 needs are kept in the same transaction as every chunk write
-- and delete: the number of chunks and their total length in terms (keyword_stats), and how many
-- chunks hold each term (keyword_term). A term's row is deleted when its last chunk goes, so no
-- term that only a removed document contained stays stored. keyword_posting is the inverted
-- index: one row per (term, chunk) with the term's count in the chunk and the chunk's length, read
-- with an index-only scan of its primary key.
--
-- The chunks stored before this migration have no postings yet: `adbrag migrate` derives them from
-- the chunks' text (chunk.analyzer_version < the binary's), in batches, without re-embedding.

CREATE TABLE keyword_stats (
    collection_id uuid   PRIMARY KEY REFERENCES collection (id) ON DELETE CASCADE,
    -- Chunks with postings, and the sum of their lengths (terms, repeats counted).
    chunks        bigint NOT NULL DEFAULT 0,
    terms         bigint NOT NULL DEFAULT 0
);

CREATE TABLE keyword_term (
    collection_id uuid    NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    term          text    NOT NULL,
    -- Chunks holding the term (its document frequency). No CHECK: a decrement travels through
    -- INSERT … ON CONFLICT as a negative proposal; rows that reach 0 are deleted in the same statement.
    chunks        integer NOT NULL,
    PRIMARY KEY (collection_id, term)
);

CREATE TABLE keyword_posting (
    collection_id uuid    NOT NULL,
    term          text    NOT NULL,
    chunk_id      uuid    NOT NULL REFERENCES chunk (id) ON DELETE CASCADE,
    -- The term's occurrences in the chunk, and the chunk's length in terms.
    tf            integer NOT NULL CHECK (tf > 0),
    chunk_terms   integer NOT NULL CHECK (chunk_terms > 0),
    -- BM25's term-frequency factor tf / (tf + k1 (1 - b + b len / avglen)) with the default k1, b
    -- and the collection's mean length when written: the order in which a common term's postings
    -- are read (keyword_posting_impact_idx). Scores are always computed exactly, from tf and
    -- chunk_terms, with the current statistics.
    impact        real    NOT NULL,
    PRIMARY KEY (collection_id, term, chunk_id) INCLUDE (tf, chunk_terms)
);

-- A common term's postings, best first: the keyword leg reads at most
-- ADBRAG_KEYWORD_POSTINGS_PER_TERM of them (docs/search.md).
CREATE INDEX keyword_posting_impact_idx ON keyword_posting (collection_id, term, impact DESC)
    INCLUDE (chunk_id);

-- Removing a document's postings, and the cascade from chunk.
CREATE INDEX keyword_posting_chunk_idx ON keyword_posting (chunk_id);

-- Which rules derived a chunk's terms (0: stored before this migration, no postings yet).
ALTER TABLE chunk ADD COLUMN analyzer_version smallint NOT NULL DEFAULT 0;

-- The tsvector ranking this replaces. The keywords column stays (the chunk's terms, for
-- inspection and for an AnalyticDB full-text option); nothing searches it any more.
DROP INDEX chunk_keywords_repeated_idx;
DROP FUNCTION keywords_repeated(tsvector);
DROP INDEX chunk_keywords_idx;
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (5, 'bm25', true, '\xc9f1ed37aa3f8b625f2c651dc8e9fdf97d5eb0daa2759ec05d67c5dd8552fc6ea07f20bc91e81322ce0807282cc4bde6', 0);

-- ==== migration 0006 queue ====
-- The durable queue that OSS upload events go through (src/ingest/queue.rs, `adbrag worker`,
-- `adbrag fc`, `adbrag jobs`).
--
-- Two statuses join the four of 0001: 'dead' is a job whose transient failures (the embedding API
-- or OSS down, the database restarted) outlasted its attempts — an operator retries it with
-- `adbrag jobs retry` once the cause is fixed — as opposed to 'failed', a final verdict on the
-- document itself (a corrupt PDF); 'cancelled' is a job an operator stopped.
ALTER TABLE ingest_job DROP CONSTRAINT ingest_job_status_check;
ALTER TABLE ingest_job ADD CONSTRAINT ingest_job_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'));

-- What a finished job did, in one word: 'written', 'unchanged', 'stale', 'deleted', 'absent',
-- 'vanished' (the object was gone before it could be fetched), 'superseded' (the object had
-- already been replaced by a newer version, whose own event brings it). docs/queue.md lists them.
ALTER TABLE ingest_job ADD COLUMN outcome text;

-- What the worker needs to process a job beyond its columns: the event's region, its OSS user
-- metadata (which becomes document metadata), the key as the event gave it. It names the source
-- object, so a purge removes the job with the document.
ALTER TABLE ingest_job ADD COLUMN payload jsonb NOT NULL DEFAULT '{}';

-- `adbrag jobs list --status dead` and the metrics read jobs by status, newest first.
CREATE INDEX ingest_job_status_idx ON ingest_job (status, updated_at DESC);
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (6, 'queue', true, '\xc1555e29945ccd02f9be5397aca29bc1dd1cdc91c8b20c6468c3f910a0e7d8285275aeef29b462b32bef3aec4a7a291d', 0);

-- ==== migration 0007 tenant cache ====
-- The embedding cache becomes per tenant, and every chunk remembers which cache entry it used.
--
-- Keyed across tenants, a cache hit told tenant B that some other tenant holds the same text, and a
-- purge could not tell whose entry it removed. Now an entry belongs to one tenant; a purge removes
-- the entries that no remaining chunk of that tenant uses (src/store/purge.rs).
--
-- `chunk.embedding_sha256` is the hash of what was embedded (title > headings, then the text:
-- ingest::pipeline::model_input), recorded when the chunk is written: recomputing it later would
-- be wrong once a document's title changed without re-embedding.
--
-- Like 0002, this names the `vector` type: on AnalyticDB the column is rendered as 0002's is there.

ALTER TABLE chunk ADD COLUMN embedding_sha256 bytea
    CHECK (embedding_sha256 IS NULL OR octet_length(embedding_sha256) = 32);

-- Existing chunks: the same text model_input builds, hashed here. The embedded title is the parsed
-- one; a document without one stores its file name as its title instead, which the embedder never
-- saw, so a title equal to the URI's last segment is left out. (Where this guess is wrong — a title
-- changed since embedding, an upload named otherwise than its URI — the old entry matches no chunk
-- and is dropped below: one embedding call if that text comes again, never a kept leftover.)
UPDATE chunk c
SET embedding_sha256 = sha256(convert_to((
        SELECT CASE WHEN cardinality(ctx.parts) = 0 THEN c.text
                    ELSE array_to_string(ctx.parts, ' > ') || E'\n\n' || c.text END
        FROM (SELECT array_remove(ARRAY[nullif(d.title, regexp_replace(d.source_uri, '^.*/', ''))], NULL)
                     || coalesce((SELECT array_agg(h.value ORDER BY h.n)
                                  FROM jsonb_array_elements_text(c.heading_path)
                                       WITH ORDINALITY AS h(value, n)), '{}') AS parts
              FROM document d WHERE d.id = c.document_id) ctx), 'UTF8'));

CREATE INDEX chunk_embedding_sha256_idx ON chunk (embedding_sha256);

-- Each entry goes to every tenant whose chunks use it; entries no chunk uses (left by deleted
-- documents: derived personal data that should not have outlived them) are dropped.
CREATE TABLE embedding_cache_tenant (
    tenant       text        NOT NULL,
    model        text        NOT NULL,
    dimensions   integer     NOT NULL,
    text_sha256  bytea       NOT NULL CHECK (octet_length(text_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    embedding    vector      NOT NULL,
    CONSTRAINT embedding_cache_embedding_dimensions CHECK (vector_dims(embedding) = dimensions),
    PRIMARY KEY (tenant, model, dimensions, text_sha256)
);
INSERT INTO embedding_cache_tenant (tenant, model, dimensions, text_sha256, created_at, embedding)
SELECT DISTINCT ON (col.tenant, e.model, e.dimensions, e.text_sha256)
       col.tenant, e.model, e.dimensions, e.text_sha256, e.created_at, e.embedding
FROM embedding_cache e
JOIN chunk c ON c.embedding_sha256 = e.text_sha256 AND c.dimensions = e.dimensions
JOIN collection col ON col.id = c.collection_id AND col.embedding_model = e.model;
DROP TABLE embedding_cache;
ALTER TABLE embedding_cache_tenant RENAME TO embedding_cache;
ALTER INDEX embedding_cache_tenant_pkey RENAME TO embedding_cache_pkey;
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (7, 'tenant cache', true, '\x2004f9486050ea4041e26be729095430ea30e867430073cf58e68b68cd7588e55402a47f2770ed58a2f5510f454fd2eb', 0);

-- ==== migration 0008 reindex ====
-- `adbrag reindex`: the new vectors of a collection's chunks, built beside the old ones (which
-- keep serving searches) and switched in one transaction (src/store/reindex.rs). Rows left by an
-- interrupted reindex are what it resumes from. They are derived from the chunks, so they go with
-- them (ON DELETE CASCADE), purges included.
CREATE TABLE reindex_vector (
    chunk_id      uuid        PRIMARY KEY REFERENCES chunk (id) ON DELETE CASCADE,
    collection_id uuid        NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    model         text        NOT NULL,
    dimensions    integer     NOT NULL,
    embedding     vector      NOT NULL CHECK (vector_dims(embedding) = dimensions),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reindex_vector_collection_idx ON reindex_vector (collection_id, model, dimensions);
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (8, 'reindex', true, '\x11087725ad781c3ca7f4269112e7fd549dd79ceec38fd0baf09bfc9cb369c4cadd64bd09abc7cda3aede6fa8ead1bd5c', 0);

-- ==== migration 0009 vector tables ====
-- One vector table per embedding size, in both dialects (docs/database.md, "Vectors"): an ANN
-- index is declared on a column of one fixed size, and AnalyticDB's FastANN documents no partial
-- or expression index, so the partial HNSW index per size of 0002 has no AnalyticDB equivalent.
-- `chunk_vector_N (chunk_id, collection_id, embedding)` holds the vectors of every collection of
-- size N; src/store/dialect.rs renders each table with its index when the first collection of that
-- size is created. The vectors nothing searches (the embedding cache, a reindex's new vectors) are
-- plain `real[]` in both dialects, so the SQL that reads and writes them is the same text.
--
-- The dialect the schema was rendered in, written once by `adbrag migrate`; the start-up probe
-- refuses a server or ADBRAG_DIALECT that disagrees with it.
CREATE TABLE schema_dialect (
    dialect text PRIMARY KEY CHECK (dialect IN ('pgvector', 'analyticdb'))
);

-- dialect: pgvector only
-- Existing pgvector databases: each size's vectors move to their own table (the same statements
-- dialect.rs renders for pgvector, checked equal by tests/integration/dialect.rs), then the old
-- column goes with its partial indexes.
DO $$
DECLARE
    n integer;
BEGIN
    FOR n IN SELECT dimensions FROM collection WHERE dimensions <= 2000
             UNION SELECT dimensions FROM chunk ORDER BY 1 LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS chunk_vector_%1$s (
    chunk_id      uuid PRIMARY KEY REFERENCES chunk (id),
    collection_id uuid NOT NULL,
    embedding     vector(%1$s) NOT NULL
)', n);
        EXECUTE format('INSERT INTO chunk_vector_%1$s (chunk_id, collection_id, embedding)
                        SELECT id, collection_id, embedding FROM chunk WHERE dimensions = %1$s', n);
        EXECUTE format('CREATE INDEX IF NOT EXISTS chunk_vector_%1$s_ann ON chunk_vector_%1$s USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)', n);
        EXECUTE format('CREATE INDEX IF NOT EXISTS chunk_vector_%1$s_collection_idx ON chunk_vector_%1$s (collection_id)', n);
    END LOOP;
END $$;

ALTER TABLE embedding_cache DROP CONSTRAINT embedding_cache_embedding_dimensions;
ALTER TABLE embedding_cache ALTER COLUMN embedding TYPE real[] USING embedding::real[];
ALTER TABLE embedding_cache ADD CONSTRAINT embedding_cache_embedding_dimensions
    CHECK (array_length(embedding, 1) = dimensions);
ALTER TABLE reindex_vector DROP CONSTRAINT reindex_vector_check;
ALTER TABLE reindex_vector ALTER COLUMN embedding TYPE real[] USING embedding::real[];
ALTER TABLE reindex_vector ADD CONSTRAINT reindex_vector_check
    CHECK (array_length(embedding, 1) = dimensions);
-- dialect: end

-- The old column, its size check and (pgvector) its partial HNSW indexes.
ALTER TABLE chunk DROP COLUMN embedding;
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9, 'vector tables', true, '\x28a493615a277ae2824228070ae66e1c5c2c5259c044ea9c6704273410086d4214bcea97708f43b1d5f298241af90e2d', 0);

-- ==== migration 0010 roles ====
-- Least privilege (docs/database.md, "Roles"): three group roles, NOLOGIN, to which an
-- administrator grants login users.
-- - adbrag_owner: for the login that owns the schema and runs `adbrag migrate` (which also
--   creates the vector table of a new embedding size); it holds no grants of its own here,
--   because an owner needs none.
-- - adbrag_writer: ingestion, the worker, uploads through the API, purge, key management: reads
--   and writes rows, changes no schema.
-- - adbrag_reader: the query path (search, chat, eval, stats): reads only.
-- Role names are global to the server; the grants are per database. Creating the roles needs
-- CREATEROLE; without it an administrator creates them first and this migration only grants.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'adbrag_owner')
       OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'adbrag_writer')
       OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'adbrag_reader') THEN
        IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'adbrag needs the roles adbrag_owner, adbrag_writer and adbrag_reader: run `adbrag migrate` as a role with CREATEROLE, or have an administrator create them (NOLOGIN) first; docs/database.md, "Roles"';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'adbrag_owner') THEN
            BEGIN
                CREATE ROLE adbrag_owner NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database's migration created it meanwhile
            END;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'adbrag_writer') THEN
            BEGIN
                CREATE ROLE adbrag_writer NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database's migration created it meanwhile
            END;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'adbrag_reader') THEN
            BEGIN
                CREATE ROLE adbrag_reader NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database's migration created it meanwhile
            END;
        END IF;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO adbrag_reader, adbrag_writer;

-- Everything the query path reads, and nothing it could change.
GRANT SELECT ON collection, document, chunk, keyword_stats, keyword_term, keyword_posting,
                api_key, schema_dialect, _sqlx_migrations
    TO adbrag_reader;

-- Rows, not schema. audit_log and tombstone take inserts (a purge is audited); the migration
-- history is read, to check the schema, never written.
GRANT SELECT, INSERT, UPDATE, DELETE ON collection, document, chunk, keyword_stats, keyword_term,
                keyword_posting, embedding_cache, ingest_job, tombstone, reindex_vector, api_key
    TO adbrag_writer;
GRANT SELECT, INSERT ON audit_log TO adbrag_writer;
GRANT SELECT ON schema_dialect, _sqlx_migrations TO adbrag_writer;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO adbrag_writer;

-- dialect: pgvector only
-- The vector tables that already exist (0009); later ones get the same grants when created.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema() AND tablename ~ '^chunk_vector_[0-9]+$' LOOP
        EXECUTE format('GRANT SELECT ON %I TO adbrag_reader', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO adbrag_writer', t);
    END LOOP;
END $$;
-- dialect: end
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (10, 'roles', true, '\x85bcfdef17d7eb8a2ed69d24fc97606fdefaccec62ac98fd81be66d91e4a6a642d91197302730c5c75e5c8d5de46df0e', 0);

-- ==== migration 0011 impact counts ====
-- The keyword leg reads a common term's best postings through keyword_posting_impact_idx
-- (src/store/search.rs). With each posting's count and chunk length in the index, those postings
-- are scored from the list itself: only the (candidate, term) pairs the lists did not hold are
-- probed in the primary key. docs/search.md ("Performance") has the measurements.
DROP INDEX keyword_posting_impact_idx;
CREATE INDEX keyword_posting_impact_idx ON keyword_posting (collection_id, term, impact DESC)
    INCLUDE (chunk_id, tf, chunk_terms);
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (11, 'impact counts', true, '\x21968126ddbf44fad76d2ae291556d0168c47aeffe0b131fd263ce6845415f4278044bfbd6e77f4f2fdadf6b85c6f352', 0);

-- ==== after the migrations ====
INSERT INTO schema_dialect (dialect) SELECT 'pgvector' WHERE NOT EXISTS (SELECT 1 FROM schema_dialect);
CREATE TABLE IF NOT EXISTS chunk_vector_384 (
    chunk_id      uuid PRIMARY KEY REFERENCES chunk (id),
    collection_id uuid NOT NULL,
    embedding     vector(384) NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_vector_384_ann ON chunk_vector_384 USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS chunk_vector_384_collection_idx ON chunk_vector_384 (collection_id);
GRANT SELECT ON chunk_vector_384 TO adbrag_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON chunk_vector_384 TO adbrag_writer;
CREATE TABLE IF NOT EXISTS chunk_vector_1024 (
    chunk_id      uuid PRIMARY KEY REFERENCES chunk (id),
    collection_id uuid NOT NULL,
    embedding     vector(1024) NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_vector_1024_ann ON chunk_vector_1024 USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS chunk_vector_1024_collection_idx ON chunk_vector_1024 (collection_id);
GRANT SELECT ON chunk_vector_1024 TO adbrag_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON chunk_vector_1024 TO adbrag_writer;
