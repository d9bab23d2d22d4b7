//! The subcommands, one file each: parse nothing (clap did), call the library, print the result.

pub mod ingest;
pub mod migrate;
pub mod serve;
