//! Integration tests against a real PostgreSQL + pgvector (the cluster `scripts/pg.sh` runs), each
//! test in a database of its own. One test binary, so the dependencies link once.

mod api;
mod api_health;
mod api_outage;
mod chat;
mod cli;
mod cli_queue;
mod containers;
mod dialect;
mod fake_openai;
mod harness;
mod ingest;
mod keywords;
mod layering;
mod metrics;
mod object_store;
mod ocr;
mod pg_script;
mod purge;
mod queue;
mod reindex;
mod rerank;
mod roles;
mod search_filter;
mod store_collections;
mod store_documents;
mod store_jobs;
mod upload_limit;
