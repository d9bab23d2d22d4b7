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
