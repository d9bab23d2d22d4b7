-- The keyword leg reads a common term's best postings through keyword_posting_impact_idx
-- (src/store/search.rs). With each posting's count and chunk length in the index, those postings
-- are scored from the list itself: only the (candidate, term) pairs the lists did not hold are
-- probed in the primary key. docs/search.md ("Performance") has the measurements.
DROP INDEX keyword_posting_impact_idx;
CREATE INDEX keyword_posting_impact_idx ON keyword_posting (collection_id, term, impact DESC)
    INCLUDE (chunk_id, tf, chunk_terms);
