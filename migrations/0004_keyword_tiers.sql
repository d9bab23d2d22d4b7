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
