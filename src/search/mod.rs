//! Retrieval: `retrieve` (the operation the API and CLI share), `filter` (metadata filters compiled
//! to bound SQL) and `eval` (quality metrics). Keyword segmentation, shared with ingest, is
//! [`crate::text::segment`].

pub mod eval;
pub mod filter;
pub mod rerank;
pub mod retrieve;
