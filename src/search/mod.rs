//! Retrieval. For now: `segment`, the keyword segmentation that ingest and queries share.

pub mod segment;
