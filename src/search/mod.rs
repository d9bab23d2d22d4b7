//! Retrieval: `retrieve` (the operation the API and CLI share), `filter` (metadata filters compiled
//! to bound SQL), `segment` (keyword segmentation shared with ingest) and `eval` (quality metrics).

pub mod eval;
pub mod filter;
pub mod rerank;
pub mod retrieve;
pub mod segment;
