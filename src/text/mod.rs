//! Text rules the whole crate shares, at the bottom of it (this module imports nothing from the
//! crate): which characters are CJK ([`script`]), where sentences and clauses end ([`sentence`]),
//! which marks open and close quotations ([`quote`]), and the keyword analyzer that turns text into
//! search terms ([`segment`]). Ingest, storage, search and answering all call these, so a chunk
//! boundary, a quoted sentence and a keyword term follow the same rules.

pub mod quote;
pub mod script;
pub mod segment;
pub mod sentence;

pub use script::{is_cjk, is_han};
