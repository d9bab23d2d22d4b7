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
