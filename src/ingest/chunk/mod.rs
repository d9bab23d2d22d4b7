//! Chunking: turns a parsed document's blocks into the chunks that are embedded and searched, each
//! within the embedding model's token budget. Pure: no I/O, deterministic.
//!
//! How it works:
//!
//! 1. Each block's whitespace is normalised (runs of spaces become one, lines are trimmed, blank
//!    lines dropped; a heading becomes one line).
//! 2. Each block is cut into pieces at the coarsest boundary that yields pieces within the budget:
//!    sentences always (so a chunk can end inside a paragraph), then, for a sentence over the
//!    budget, clauses, words, and as a last resort characters (never inside a UTF-8 character).
//!    Sentence and clause ends are [`crate::text::sentence`]'s, the rules the extractive answerer
//!    quotes by (`；` ends a clause). Every piece is counted once.
//! 3. Pieces are packed in order into chunks by adding up their counts, plus the counts of what
//!    joins them, rather than recounting a growing chunk. When the next piece does not fit, the
//!    chunk ends at the strongest boundary (heading > paragraph > sentence > clause > word >
//!    character) among those that leave it at least half full, the latest of equals; the pieces
//!    after the cut start the next chunk.
//! 4. Each finished chunk is counted once more as a whole, which is the `token_count` it reports.
//!    For the estimator and WordPiece a joined text never counts more than its parts and joints,
//!    so the recount only confirms. Byte-level BPE (Qwen) can count a token or two more: it
//!    attaches a space or a quote to the word after it, and merges across joints. Then the chunk's
//!    last piece moves on to the next chunk until it fits, so every chunk is within `max_tokens`
//!    as the counter measures it. Counting costs about twice the text, against the square of it
//!    for recounting a growing chunk.
//!
//! Headings: a heading always starts a new chunk, and its text opens that chunk, except that a
//! heading following nothing but headings joins them (a chapter title and its first section title
//! stay with the section's text). A short section still makes a short chunk: merging it into the
//! next would file its text under the wrong heading path.
//!
//! Overlap: a chunk after the first of its section starts with the previous chunk's trailing whole
//! sentences, as many as fit in `overlap_tokens`. When even the last sentence is longer, its
//! trailing clauses or words are used instead (never a part of a word). Overlap is dropped, from
//! its start, as far as needed for the chunk's new text to fit, and never crosses a heading.
//!
//! What the chunks keep of the text: each chunk is a slice of the document's normalised text (its
//! blocks normalised and joined by blank lines), and the chunks in order cover all of it, each
//! starting at or before the end of the one before (the overlap) or after whitespace only. The
//! property tests (`proptests.rs`) check exactly that, with the budgets and page spans.
//!
//! Files: this one (the options, the [`Chunk`] and the [`chunk`] entry point), `split.rs` (step
//! 1 and 2: normalising blocks and cutting them into pieces), `pack.rs` (steps 3 and 4, headings
//! and overlap: packing pieces into chunks). Tests live beside the code they test, with their
//! shared counters and generators in `testing.rs`; `benches/chunk.rs` measures throughput.

mod pack;
#[cfg(test)]
mod proptests;
mod split;
#[cfg(test)]
mod testing;

use crate::ingest::parse::{Block, BlockKind};
use crate::ingest::tokens::TokenCounter;
use pack::Packer;
use split::{Break, Origin, Splitter, normalise};

/// How big chunks are, in tokens as the configured [`TokenCounter`] counts them.
#[derive(Debug, Clone)]
pub struct ChunkOptions {
    /// Most tokens in one chunk, overlap included. Leave room below the embedding model's input
    /// limit for the special tokens the embedder adds (2 for BERT models).
    pub max_tokens: usize,
    /// Most tokens repeated from the end of the previous chunk at the start of the next; 0 for
    /// none.
    pub overlap_tokens: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            overlap_tokens: 64,
        }
    }
}

impl ChunkOptions {
    /// Smallest chunk size accepted: below it a chunk holds a few words, and a single rare
    /// character (up to 4 tokens) might not fit at all.
    pub const MIN_MAX_TOKENS: usize = 16;

    /// Checks the options once, at start-up or when a collection is created; [`chunk`] assumes
    /// they passed.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_tokens < Self::MIN_MAX_TOKENS {
            return Err(format!(
                "chunk size of {} tokens is too small: set ADBRAG_CHUNK_TOKENS to at least {} (512 is the default)",
                self.max_tokens,
                Self::MIN_MAX_TOKENS
            ));
        }
        if self.overlap_tokens >= self.max_tokens {
            return Err(format!(
                "chunk overlap of {} tokens must be less than the chunk size of {} tokens: lower ADBRAG_CHUNK_OVERLAP (64 is the default) or raise ADBRAG_CHUNK_TOKENS",
                self.overlap_tokens, self.max_tokens
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// `counter.count(&text)`, at most `max_tokens`.
    pub token_count: usize,
    /// Lowest and highest page of the blocks whose text is in the chunk; `None` without pages.
    pub page_from: Option<u32>,
    pub page_to: Option<u32>,
    /// The headings the chunk's text is under, outermost first: those in effect where its body
    /// text starts, including the headings the chunk itself opens with.
    pub heading_path: Vec<String>,
}

/// Splits `blocks` into chunks of at most `options.max_tokens` tokens as `counter` counts them.
///
/// Expects options that passed [`ChunkOptions::validate`]. With others it still ends and stays
/// deterministic: the overlap is cut below the chunk size, and with a chunk size under
/// [`ChunkOptions::MIN_MAX_TOKENS`] a character that alone counts more becomes a chunk by itself.
pub fn chunk(blocks: &[Block], options: &ChunkOptions, counter: &dyn TokenCounter) -> Vec<Chunk> {
    let max_tokens = options.max_tokens.max(1);
    let overlap_tokens = options.overlap_tokens.min(max_tokens - 1);
    let texts: Vec<String> = blocks
        .iter()
        .map(|block| normalise(&block.text, matches!(block.kind, BlockKind::Heading(_))))
        .collect();
    let splitter = Splitter {
        counter,
        max_tokens,
    };
    let mut packer = Packer::new(counter, max_tokens, overlap_tokens);
    let mut headings: Vec<(u8, &str)> = Vec::new();
    let mut path = 0;
    let mut pieces = Vec::new();
    for (block, text) in blocks.iter().zip(&texts) {
        if text.is_empty() {
            continue;
        }
        let origin = Origin {
            page: block.page,
            path,
            heading: false,
        };
        match block.kind {
            BlockKind::Heading(level) => {
                let level = level.clamp(1, 6);
                packer.start_section();
                while headings.last().is_some_and(|&(outer, _)| outer >= level) {
                    headings.pop();
                }
                headings.push((level, text));
                packer.paths.push(
                    headings
                        .iter()
                        .map(|&(_, heading)| heading.to_owned())
                        .collect(),
                );
                path = packer.paths.len() - 1;
                let origin = Origin {
                    path,
                    heading: true,
                    ..origin
                };
                splitter.block(text, Break::Heading, origin, &mut pieces);
            }
            BlockKind::Paragraph => splitter.block(text, Break::Paragraph, origin, &mut pieces),
        }
        for piece in pieces.drain(..) {
            packer.add(piece);
        }
    }
    packer.finish_section();
    packer.chunks
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::testing::*;
    use super::*;
    use crate::ingest::tokens::{EstimatingCounter, TokenizerCounter};

    #[test]
    fn default_options_are_512_tokens_with_64_of_overlap_and_valid() {
        let defaults = ChunkOptions::default();

        assert_eq!((defaults.max_tokens, defaults.overlap_tokens), (512, 64));
        assert_eq!(defaults.validate(), Ok(()));
    }

    #[test]
    fn an_overlap_as_large_as_the_chunk_is_refused_with_what_to_set() {
        let error = options(256, 256).validate().expect_err("invalid");

        assert!(error.contains("ADBRAG_CHUNK_OVERLAP"), "{error}");
        assert!(error.contains("256"), "{error}");
    }

    #[test]
    fn a_chunk_size_below_sixteen_is_refused_with_what_to_set() {
        let error = options(8, 0).validate().expect_err("invalid");

        assert!(error.contains("ADBRAG_CHUNK_TOKENS"), "{error}");
        assert!(error.contains("16"), "{error}");
    }

    #[test]
    fn invalid_options_still_give_chunks_within_the_limit() {
        let blocks = [paragraph(&numbered_sentences("s", 20, 4))];

        let chunks = chunk(&blocks, &options(6, 50), &Words);

        assert!(chunks.len() > 1);
        assert_within(&chunks, 6, &Words);
    }

    #[test]
    fn an_empty_document_has_no_chunks() {
        let blocks = [
            paragraph(""),
            paragraph("  \n\t \u{3000}"),
            heading(2, " \n "),
        ];

        assert!(chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter).is_empty());
        assert!(chunk(&[], &ChunkOptions::default(), &EstimatingCounter).is_empty());
    }

    #[test]
    fn short_paragraphs_are_packed_into_one_chunk_separated_by_blank_lines() {
        let blocks = [paragraph("First paragraph."), paragraph("Second one.")];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(texts(&chunks), ["First paragraph.\n\nSecond one."]);
        assert_eq!(
            chunks[0].token_count,
            EstimatingCounter.count(&chunks[0].text)
        );
    }

    #[test]
    fn whitespace_is_normalised() {
        let blocks = [paragraph(
            "  Tabs\tand   runs  of\u{a0}spaces.  \r\n\r\n\n  Next   line\u{200b}. \n",
        )];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(texts(&chunks), ["Tabs and runs of spaces.\nNext line."]);
    }

    #[test]
    fn chunking_is_deterministic() {
        let blocks = generated_document(7, 200);

        let first = chunk(&blocks, &options(64, 16), &EstimatingCounter);
        let second = chunk(&blocks, &options(64, 16), &EstimatingCounter);

        assert_eq!(first, second);
    }

    #[test]
    fn every_chunk_fits_and_the_chunks_cover_generated_documents_in_order() {
        let counters: [&dyn TokenCounter; 4] = [&EstimatingCounter, &Chars, &Words, &Superadditive];
        for seed in 0..6 {
            let blocks = generated_document(seed, 60);
            for counter in counters {
                for (max_tokens, overlap_tokens) in
                    [(16, 0), (16, 15), (40, 8), (128, 32), (512, 64), (512, 0)]
                {
                    let chunks = chunk(&blocks, &options(max_tokens, overlap_tokens), counter);
                    let context = format!(
                        "seed {seed}, {}, {max_tokens}/{overlap_tokens}",
                        counter.describe()
                    );

                    assert_within(&chunks, max_tokens, counter);
                    let repeats = assert_covers(&blocks, &chunks);
                    for (chunk, repeated) in chunks.iter().zip(repeats) {
                        let overlap: String = chunk
                            .text
                            .chars()
                            .scan(0, |seen, c| {
                                let take = *seen < repeated;
                                *seen += usize::from(!c.is_whitespace());
                                take.then_some(c)
                            })
                            .collect();
                        assert!(
                            counter.count(overlap.trim()) <= overlap_tokens,
                            "{context}: overlap {overlap:?} in {:?}",
                            chunk.text
                        );
                        assert!(chunk.page_from <= chunk.page_to, "{context}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_chunk_fits_a_real_tokenizer_and_the_chunks_cover_generated_documents() {
        let test = "every_chunk_fits_a_real_tokenizer_and_the_chunks_cover_generated_documents";
        for path in real_tokenizers(test) {
            let counter = TokenizerCounter::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for seed in 0..3 {
                let blocks = generated_document(seed, 60);
                for (max_tokens, overlap_tokens) in [(16, 8), (128, 32), (512, 64)] {
                    let chunks = chunk(&blocks, &options(max_tokens, overlap_tokens), &counter);

                    assert_within(&chunks, max_tokens, &counter);
                    assert_covers(&blocks, &chunks);
                }
            }
        }
    }

    /// The tokenizer.json files of `ADBRAG_TEST_TOKENIZER` (a path list), else the local model's
    /// under `ADBRAG_MODELS_DIR`; with neither, none, and a visible SKIPPED (in CI, a failure).
    fn real_tokenizers(test: &str) -> Vec<std::path::PathBuf> {
        if let Some(paths) = std::env::var_os("ADBRAG_TEST_TOKENIZER") {
            return std::env::split_paths(&paths).collect();
        }
        if let Some(dir) = std::env::var_os("ADBRAG_MODELS_DIR") {
            let model = crate::llm::local::LocalEmbedder::MODEL;
            return vec![
                std::path::Path::new(&dir)
                    .join(model)
                    .join("tokenizer.json"),
            ];
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: neither ADBRAG_TEST_TOKENIZER nor ADBRAG_MODELS_DIR is set, and CI is: run scripts/models.sh and export ADBRAG_MODELS_DIR"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test}: neither ADBRAG_TEST_TOKENIZER nor ADBRAG_MODELS_DIR is set; run scripts/models.sh and export ADBRAG_MODELS_DIR (or set ADBRAG_TEST_TOKENIZER to tokenizer.json files)"
        );
        Vec::new()
    }
}
