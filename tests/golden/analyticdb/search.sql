WITH kw_stats AS (
             SELECT chunks::float8 AS n, terms::float8 / greatest(chunks, 1) AS mean_length
             FROM keyword_stats WHERE collection_id = $1), kw_terms AS (
             SELECT t.term, t.chunks AS df, ln(1 + (s.n - t.chunks + 0.5) / (t.chunks + 0.5)) AS idf
             FROM keyword_term t, kw_stats s
             WHERE t.collection_id = $2 AND t.term = ANY($3::text[]) ORDER BY idf DESC, t.term LIMIT $4), kw_rare AS (
                 SELECT p.chunk_id, p.term, p.tf, p.chunk_terms
                 FROM kw_terms q JOIN keyword_posting p ON p.term = q.term
                 WHERE q.df <= $5 AND p.collection_id = $6), kw_listed AS (
                 SELECT b.chunk_id, q.term, b.tf, b.chunk_terms FROM kw_terms q CROSS JOIN LATERAL (
                     SELECT p.chunk_id, p.tf, p.chunk_terms FROM keyword_posting p
                     WHERE p.collection_id = $7 AND p.term = q.term ORDER BY p.impact DESC LIMIT $8) b WHERE q.df > $9), kw_unread AS (
                 SELECT k.chunk_id, q.term
                 FROM (SELECT chunk_id FROM kw_rare UNION SELECT chunk_id FROM kw_listed) k
                      CROSS JOIN kw_terms q WHERE q.df > $10 EXCEPT SELECT chunk_id, term FROM kw_listed
             ), kw_postings AS (
                 SELECT chunk_id, term, tf, chunk_terms FROM kw_rare
                 UNION ALL
                 SELECT chunk_id, term, tf, chunk_terms FROM kw_listed
                 UNION ALL
                 SELECT u.chunk_id, u.term, p.tf, p.chunk_terms FROM kw_unread u CROSS JOIN LATERAL (
                     SELECT p.tf, p.chunk_terms FROM keyword_posting p
                     WHERE p.collection_id = $11 AND p.term = u.term AND p.chunk_id = u.chunk_id OFFSET 0) p), kw_scored AS (
             SELECT p.chunk_id, sum(q.idf * p.tf * ($12::float8 + 1) / (p.tf + $13::float8 * (1 - $14::float8 + $15::float8 * p.chunk_terms / s.mean_length))) AS score
             FROM kw_postings p JOIN kw_terms q ON q.term = p.term, kw_stats s
             GROUP BY p.chunk_id),
         kw_top AS (SELECT chunk_id, score FROM kw_scored ORDER BY score DESC, chunk_id LIMIT $16), kw_top_scoped AS (
             SELECT k.chunk_id, k.score FROM kw_top k JOIN chunk c ON c.id = k.chunk_id
                  JOIN document d ON d.id = c.document_id
             WHERE c.collection_id = $17 AND d.status = 'ready' AND ((d.metadata @> $18::jsonb)) AND (d.acl = '{}' OR d.acl && $19::text[]) ORDER BY k.score DESC, k.chunk_id LIMIT $20), vector_leg AS (SELECT id, row_number() OVER (ORDER BY distance, id) AS rank, 1 - distance AS similarity
             FROM (SELECT v.chunk_id AS id, v.embedding <=> q.v AS distance
             FROM chunk_vector_1024 v JOIN chunk c ON c.id = v.chunk_id
                  JOIN document d ON d.id = c.document_id,
                  (SELECT q.p::real[] AS v FROM (SELECT $21::real[] AS p) q) q WHERE v.collection_id = $22 AND c.collection_id = $23 AND d.status = 'ready' AND ((d.metadata @> $24::jsonb)) AND (d.acl = '{}' OR d.acl && $25::text[]) ORDER BY v.embedding <=> q.v LIMIT $26) nearest), keyword_leg AS (SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank, score FROM (
                 SELECT chunk_id AS id, score FROM kw_top_scoped
                 UNION
                 SELECT k.chunk_id, k.score
                 FROM kw_scored k JOIN chunk c ON c.id = k.chunk_id
                      JOIN document d ON d.id = c.document_id
                 WHERE (SELECT count(*) FROM kw_top_scoped) < $27 AND c.collection_id = $28 AND d.status = 'ready' AND ((d.metadata @> $29::jsonb)) AND (d.acl = '{}' OR d.acl && $30::text[]) ORDER BY score DESC, id LIMIT $31) top), vector_range AS (SELECT min(similarity) AS lo, max(similarity) AS hi FROM vector_leg),
            keyword_range AS (SELECT min(score) AS lo, max(score) AS hi FROM keyword_leg),
         fused AS (
             SELECT coalesce(v.id, k.id) AS id, v.rank AS vector_rank, k.rank AS keyword_rank,
                    v.similarity, k.score AS keyword_score, coalesce($32::float8 / ($33::float8 + v.rank), 0) + coalesce($34::float8 / ($35::float8 + k.rank), 0) AS score
             FROM vector_leg v FULL OUTER JOIN keyword_leg k ON v.id = k.id,
                  vector_range vr, keyword_range kr),
         best AS (
             SELECT * FROM fused
             ORDER BY score DESC, vector_rank NULLS LAST, keyword_rank NULLS LAST, id
             LIMIT $36)
         SELECT c.id AS chunk_id, c.document_id, d.source_uri, d.title, d.version, c.ordinal,
                c.page_from, c.page_to, c.heading_path, c.text, f.vector_rank, f.keyword_rank,
                f.similarity, f.keyword_score, f.score,
                EXISTS (SELECT 1 FROM jsonb_array_elements_text(d.metadata #> '{ocr,pages}') p
                        WHERE p.value::int BETWEEN c.page_from AND c.page_to) AS ocr
         FROM best f JOIN chunk c ON c.id = f.id JOIN document d ON d.id = c.document_id
         ORDER BY f.score DESC, f.vector_rank NULLS LAST, f.keyword_rank NULLS LAST, f.id;
