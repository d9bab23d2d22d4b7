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
