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
