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
