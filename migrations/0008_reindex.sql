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
