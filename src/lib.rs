//! adbrag: retrieval-augmented generation over the documents in OSS buckets, stored in PostgreSQL +
//! pgvector or AnalyticDB for PostgreSQL. ARCHITECTURE.md explains the design; this crate is laid out
//! as it describes: `api` and `cli` on top, `store` (all SQL) at the bottom.

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
