//! adbrag: retrieval-augmented generation over the documents in OSS buckets, stored in PostgreSQL +
//! pgvector or AnalyticDB for PostgreSQL. `docs/architecture.md` explains the design.
//!
//! The modules are layers, and each uses only those below it (the table in
//! `docs/architecture.md`, checked against the `use` lines by `tests/integration/layering.rs`):
//! `cli` and `api` on top, then `config` (settings, validated once), `admin` and `answer`,
//! `search`, `ingest`, `llm` and `store` (all SQL), and `text` (script, sentence and keyword
//! rules) at the bottom.

pub mod admin;
pub mod answer;
pub mod api;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod llm;
pub mod search;
pub mod store;
pub mod telemetry;
pub mod text;
