//! Property tests of the chunker, on generated documents of English, Chinese and mixed text, with
//! and without pages, under every test counter and budgets from the smallest valid one up.
//!
//! What is checked, for the document's normalised text `D` (each block's text as [`normalise`]
//! makes it, empty blocks left out, joined by `\n\n`, as the chunker joins blocks):
//!
//! - **Budget:** every chunk is non-empty, has no whitespace at its ends, and its `token_count` is
//!   what the chunker's own counter says of its text, at most `max_tokens`.
//! - **Text preserved, in order:** each chunk is a slice `D[s..e]`; the first starts at 0, the last
//!   ends at the end of `D`; each next chunk ends further on (`e` grows) and starts no earlier
//!   (`s` does not shrink), either at or before the previous end — the repeated `D[s..e_prev]` is
//!   the overlap, at most `overlap_tokens` and never a heading's text — or after whitespace only
//!   (the joint dropped at the cut). So the chunks with their overlaps removed and the dropped
//!   joints put back are exactly `D`. Repeated words make where a chunk lies ambiguous: the check
//!   searches for one placement of all chunks that satisfies every rule here.
//! - **Pages:** a chunk's `page_from`/`page_to` are the lowest and highest page of the blocks its
//!   slice of `D` touches (`None` when they have none), so within the input's pages; and over the
//!   chunks both only grow, as the input's pages do.
//!
//! Runs `PROPTEST_CASES` cases (default [`DEFAULT_CASES`], a few seconds in a debug build); see
//! docs/testing.md for a longer session.

use std::collections::HashSet;

use proptest::prelude::*;

use super::split::normalise;
use super::testing::{Chars, Superadditive, Words};
use super::{Chunk, ChunkOptions, chunk};
use crate::ingest::parse::{Block, BlockKind};
use crate::ingest::tokens::{EstimatingCounter, TokenCounter};

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 64;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const ENGLISH: &[&str] = &[
    "the ",
    "retrieval ",
    "chunk ",
    "PostgreSQL ",
    "embedding ",
    "leave ",
    "policy ",
    "getUserName ",
    "v4 ",
    "2024 ",
    "3.14 ",
    "e.g. ",
    "pg_hba.conf ",
    "https://example.com/a/b?c=d ",
    "word",
    ". ",
    "! ",
    "? ",
    ", ",
    "; ",
    ": ",
    "… ",
    "(see ",
    "below.) ",
    "\"quoted.\" ",
];

const CHINESE: &[&str] = &[
    "员",
    "工",
    "每",
    "年",
    "享",
    "有",
    "带",
    "薪",
    "假",
    "期",
    "规",
    "定",
    "员工",
    "年假",
    "。",
    "！",
    "？",
    "；",
    "，",
    "、",
    "：",
    "“",
    "”",
    "「",
    "」",
    "（",
    "）",
    "……",
    "１．５",
    "ＡＰＩ",
];

const WHITESPACE: &[&str] = &[
    " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u{3000}", "\u{a0}", "\u{200b}", "\u{ad}",
];

/// One piece of block text: mostly words of the block's script, some whitespace, and now and then
/// a long unbroken run that only a character split can cut.
fn piece(script: usize) -> BoxedStrategy<String> {
    let words = match script {
        0 => prop::sample::select(ENGLISH).boxed(),
        1 => prop::sample::select(CHINESE).boxed(),
        _ => prop_oneof![prop::sample::select(ENGLISH), prop::sample::select(CHINESE)].boxed(),
    };
    prop_oneof![
        12 => words.prop_map(str::to_owned),
        3 => prop::sample::select(WHITESPACE).prop_map(str::to_owned),
        1 => (prop::sample::select(vec!["x", "中", "é", "/"]), 0..300usize)
            .prop_map(|(unit, n)| unit.repeat(n)),
    ]
    .boxed()
}

fn block_text() -> impl Strategy<Value = String> {
    (0..3usize)
        .prop_flat_map(|script| prop::collection::vec(piece(script), 0..50))
        .prop_map(|pieces| pieces.concat())
}

/// Blocks, a sixth of them headings of levels 0 to 8 (clamped by the chunker), on pages that
/// never decrease, or all without pages.
fn blocks() -> impl Strategy<Value = Vec<Block>> {
    let block = (0..6usize, 0..9u8, block_text(), 0..3u32);
    (any::<bool>(), prop::collection::vec(block, 0..12)).prop_map(|(paged, blocks)| {
        let mut page = 1;
        blocks
            .into_iter()
            .map(|(kind, level, text, turn)| {
                page += turn / 2;
                Block {
                    kind: if kind == 0 {
                        BlockKind::Heading(level)
                    } else {
                        BlockKind::Paragraph
                    },
                    text,
                    page: paged.then_some(page),
                }
            })
            .collect()
    })
}

/// Valid options: from the smallest chunk size accepted, overlap below it.
fn options() -> impl Strategy<Value = ChunkOptions> {
    (ChunkOptions::MIN_MAX_TOKENS..200).prop_flat_map(|max_tokens| {
        (0..max_tokens).prop_map(move |overlap_tokens| ChunkOptions {
            max_tokens,
            overlap_tokens,
        })
    })
}

fn counter(index: usize) -> &'static dyn TokenCounter {
    const COUNTERS: [&dyn TokenCounter; 4] = [&EstimatingCounter, &Chars, &Words, &Superadditive];
    COUNTERS[index % COUNTERS.len()]
}

/// The normalised document, and for each of its blocks: its byte range in it, its page, whether it
/// is a heading.
struct Document {
    text: String,
    blocks: Vec<(std::ops::Range<usize>, Option<u32>, bool)>,
}

fn document(blocks: &[Block]) -> Document {
    let mut document = Document {
        text: String::new(),
        blocks: Vec::new(),
    };
    for block in blocks {
        let heading = matches!(block.kind, BlockKind::Heading(_));
        let text = normalise(&block.text, heading);
        if text.is_empty() {
            continue;
        }
        if !document.text.is_empty() {
            document.text.push_str("\n\n");
        }
        let start = document.text.len();
        document.text.push_str(&text);
        document
            .blocks
            .push((start..document.text.len(), block.page, heading));
    }
    document
}

/// Whether the chunk at `start` satisfies the rules that depend on where it lies: its pages, and
/// for the overlap with the previous chunk (ending at `previous_end`), the budget and no heading.
fn placement_is_valid(
    document: &Document,
    chunk: &Chunk,
    start: usize,
    previous_end: usize,
    options: &ChunkOptions,
    counter: &dyn TokenCounter,
) -> bool {
    let end = start + chunk.text.len();
    let touched = || {
        document
            .blocks
            .iter()
            .filter(move |(range, _, _)| range.start < end && start < range.end)
    };
    let pages = || touched().filter_map(|&(_, page, _)| page);
    if (chunk.page_from, chunk.page_to) != (pages().min(), pages().max()) {
        return false;
    }
    if start < previous_end {
        let overlap = &document.text[start..previous_end];
        let in_heading = document
            .blocks
            .iter()
            .any(|(range, _, heading)| *heading && range.start < previous_end && start < range.end);
        if in_heading || counter.count(overlap.trim()) > options.overlap_tokens {
            return false;
        }
    }
    true
}

/// Where each chunk starts in the document, for a placement satisfying every rule of the module
/// documentation, or `None` when there is none. Depth first, remembering dead ends.
fn place(
    document: &Document,
    chunks: &[Chunk],
    options: &ChunkOptions,
    counter: &dyn TokenCounter,
) -> Option<Vec<usize>> {
    fn search(
        i: usize,
        previous: (usize, usize),
        starts: &mut Vec<usize>,
        dead: &mut HashSet<(usize, usize)>,
        context: (&Document, &[Chunk], &ChunkOptions, &dyn TokenCounter),
    ) -> bool {
        let (document, chunks, options, counter) = context;
        let text = document.text.as_str();
        let Some(chunk) = chunks.get(i) else {
            return previous.1 == text.len();
        };
        let (previous_start, previous_end) = previous;
        let joint = text[previous_end..]
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(text.len() - previous_end);
        let latest = if i == 0 { 0 } else { previous_end + joint };
        for start in (previous_start..=latest).rev() {
            let end = start + chunk.text.len();
            if !text.is_char_boundary(start)
                || end <= previous_end
                || !text[start..].starts_with(&chunk.text)
                || dead.contains(&(i, start))
                || !placement_is_valid(document, chunk, start, previous_end, options, counter)
            {
                continue;
            }
            starts.push(start);
            if search(i + 1, (start, end), starts, dead, context) {
                return true;
            }
            starts.pop();
            dead.insert((i, start));
        }
        false
    }
    let mut starts = Vec::new();
    let found = search(
        0,
        (0, 0),
        &mut starts,
        &mut HashSet::new(),
        (document, chunks, options, counter),
    );
    found.then_some(starts)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chunks_fit_their_budget_and_are_the_normalised_text_in_order_with_its_pages(
        blocks in blocks(),
        options in options(),
        counter_index in 0..4usize,
    ) {
        let counter = counter(counter_index);
        let chunks = chunk(&blocks, &options, counter);

        for chunk in &chunks {
            prop_assert!(!chunk.text.is_empty());
            prop_assert_eq!(chunk.text.trim(), chunk.text.as_str());
            prop_assert_eq!(chunk.token_count, counter.count(&chunk.text), "{:?}", chunk);
            prop_assert!(chunk.token_count <= options.max_tokens, "{:?}", chunk);
        }

        let document = document(&blocks);
        prop_assert!(
            place(&document, &chunks, &options, counter).is_some(),
            "no placement of the chunks in the normalised text {:?} satisfies the rules: {:#?}",
            document.text,
            chunks.iter().map(|c| (&c.text, c.page_from, c.page_to)).collect::<Vec<_>>()
        );

        let input_pages: Vec<u32> = blocks.iter().filter_map(|b| b.page).collect();
        for pair in chunks.windows(2) {
            prop_assert!(pair[0].page_from <= pair[1].page_from, "{:?}", pair);
            prop_assert!(pair[0].page_to <= pair[1].page_to, "{:?}", pair);
        }
        for chunk in &chunks {
            prop_assert!(chunk.page_from <= chunk.page_to);
            if let (Some(from), Some(to)) = (chunk.page_from, chunk.page_to) {
                prop_assert!(input_pages.iter().min() <= Some(&from));
                prop_assert!(input_pages.iter().max() >= Some(&to));
            } else {
                prop_assert_eq!((chunk.page_from, chunk.page_to), (None, None));
            }
        }
    }

    #[test]
    fn normalising_keeps_every_visible_character_in_order(text in block_text(), heading in any::<bool>()) {
        let normalised = normalise(&text, heading);
        let visible = |text: &str| -> String {
            text.chars()
                .filter(|&c| !c.is_whitespace() && !c.is_control())
                .filter(|c| !matches!(c, '\u{FEFF}' | '\u{200B}' | '\u{00AD}' | '\u{2060}'))
                .collect()
        };

        prop_assert_eq!(visible(&normalised), visible(&text));
        prop_assert_eq!(normalised.trim(), normalised.as_str());
        prop_assert!(!normalised.contains("  ") && !normalised.contains("\n\n"));
        prop_assert!(!normalised.contains(" \n") && !normalised.contains("\n "));
        prop_assert!(!heading || !normalised.contains('\n'));
    }
}
