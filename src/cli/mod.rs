//! The subcommands, one file each: parse nothing (clap did), call the library, print the result.

pub mod ask;
pub mod eval;
pub mod ingest;
pub mod keys;
pub mod migrate;
pub mod search;
pub mod serve;
