//! What the chunker's tests share: token counters that are easy to reason about, block builders,
//! the check that chunks fit and cover their input, and a generator of varied documents.

use super::{Chunk, ChunkOptions};
use crate::ingest::parse::{Block, BlockKind};
use crate::ingest::tokens::TokenCounter;

/// One token per character, spaces included: easy to reason about, and it makes a joint cost
/// something.
pub(super) struct Chars;

impl TokenCounter for Chars {
    fn count(&self, text: &str) -> usize {
        text.chars().count()
    }
    fn describe(&self) -> String {
        "chars".to_owned()
    }
}

/// One token per space-separated word and per non-ASCII character: whole words, so tests can
/// state limits in words.
pub(super) struct Words;

impl TokenCounter for Words {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace()
            .map(|word| {
                let wide = word.chars().filter(|c| !c.is_ascii()).count();
                wide + usize::from(word.chars().any(|c| c.is_ascii()))
            })
            .sum()
    }
    fn describe(&self) -> String {
        "words".to_owned()
    }
}

/// Counts a text as more than its parts once it is long: the kind of counter for which adding
/// up pieces under-counts, so only the final recount keeps chunks within the limit.
pub(super) struct Superadditive;

impl TokenCounter for Superadditive {
    fn count(&self, text: &str) -> usize {
        let chars = text.chars().count();
        chars + chars / 8
    }
    fn describe(&self) -> String {
        "superadditive".to_owned()
    }
}

pub(super) fn paragraph(text: &str) -> Block {
    Block {
        kind: BlockKind::Paragraph,
        text: text.to_owned(),
        page: None,
    }
}

pub(super) fn heading(level: u8, text: &str) -> Block {
    Block {
        kind: BlockKind::Heading(level),
        text: text.to_owned(),
        page: None,
    }
}

pub(super) fn on_page(page: u32, block: Block) -> Block {
    Block {
        page: Some(page),
        ..block
    }
}

pub(super) fn options(max_tokens: usize, overlap_tokens: usize) -> ChunkOptions {
    ChunkOptions {
        max_tokens,
        overlap_tokens,
    }
}

pub(super) fn texts(chunks: &[Chunk]) -> Vec<&str> {
    chunks.iter().map(|chunk| chunk.text.as_str()).collect()
}

/// "s1w1 s1w2 … s1w5." and so on: `sentences` sentences of `words` words each.
pub(super) fn numbered_sentences(prefix: &str, sentences: usize, words: usize) -> String {
    (1..=sentences)
        .map(|s| {
            let words: Vec<String> = (1..=words).map(|w| format!("{prefix}{s}w{w}")).collect();
            format!("{}.", words.join(" "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn assert_within(chunks: &[Chunk], max_tokens: usize, counter: &dyn TokenCounter) {
    for chunk in chunks {
        assert_eq!(chunk.token_count, counter.count(&chunk.text), "{chunk:?}");
        assert!(chunk.token_count <= max_tokens, "{chunk:?}");
        assert!(!chunk.text.is_empty(), "{chunk:?}");
        assert_eq!(chunk.text.trim(), chunk.text, "{chunk:?}");
    }
}

/// Checks that the chunks, with the overlap each repeats removed, are the input's text in
/// order (compared without whitespace, which chunking normalises), and returns how many
/// characters each chunk repeats. Repeated text makes where an overlap ends ambiguous, so
/// this searches for a consistent reading, depth first, remembering dead ends.
pub(super) fn assert_covers(blocks: &[Block], chunks: &[Chunk]) -> Vec<usize> {
    let input: Vec<char> = blocks
        .iter()
        .flat_map(|block| block.text.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let visible: Vec<Vec<char>> = chunks
        .iter()
        .map(|chunk| chunk.text.chars().filter(|c| !c.is_whitespace()).collect())
        .collect();
    // frames[i]: the input consumed before chunk i, and the next overlap length to try for it.
    let mut frames = vec![(0, 0)];
    let mut repeats = Vec::new();
    let mut dead_ends = std::collections::HashSet::new();
    while let Some(&(consumed, next)) = frames.last() {
        let index = frames.len() - 1;
        let Some(text) = visible.get(index) else {
            if consumed == input.len() {
                return repeats;
            }
            frames.pop();
            repeats.pop();
            continue;
        };
        // At least one new character: a chunk of nothing but overlap is a failure too.
        let found = (next..text.len().min(consumed + 1)).find(|&repeated| {
            text[..repeated] == input[consumed - repeated..consumed]
                && input[consumed..].starts_with(&text[repeated..])
                && !dead_ends.contains(&(index + 1, consumed + text.len() - repeated))
        });
        if let Some(repeated) = found {
            frames[index].1 = repeated + 1;
            repeats.push(repeated);
            frames.push((consumed + text.len() - repeated, 0));
        } else {
            dead_ends.insert((index, consumed));
            frames.pop();
            repeats.pop();
        }
    }
    panic!(
        "the chunks are not the input in order, minus overlap: {:#?}",
        texts(chunks)
    );
}

pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A document of `blocks` blocks: headings of random levels and paragraphs of English,
/// Chinese, numbers, code-like tokens, line breaks and the odd long unbroken run.
pub(super) fn generated_document(seed: u64, blocks: usize) -> Vec<Block> {
    const WORDS: &[&str] = &[
        "the",
        "retrieval",
        "chunk",
        "PostgreSQL",
        "embedding",
        "vector",
        "index",
        "query",
        "leave",
        "policy",
        "getUserName",
        "v4",
        "2024",
        "3.14",
        "e.g.",
        "(see",
        "below)",
        "\"quoted\"",
        "https://example.com/a/b?c=d",
        "员工",
        "年假",
        "带薪",
    ];
    const CJK: &[&str] = &[
        "员", "工", "每", "年", "享", "有", "带", "薪", "假", "期", "规", "定",
    ];
    const ENDS: &[&str] = &[".", "!", "?", "。", "！", "？", "；", ",", "，", ":", "、"];
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut document = Vec::with_capacity(blocks);
    let mut page = 1;
    for b in 0..blocks {
        page += u32::from(rng.below(4) == 0);
        if rng.below(6) == 0 {
            let level = 1 + rng.below(6) as u8;
            document.push(on_page(
                page,
                heading(
                    level,
                    &format!("Heading {b} {}", WORDS[rng.below(WORDS.len())]),
                ),
            ));
            continue;
        }
        let mut text = String::new();
        for _ in 0..1 + rng.below(12) {
            match rng.below(10) {
                0 => {
                    let run: String = (0..rng.below(400))
                        .map(|_| CJK[rng.below(CJK.len())])
                        .collect();
                    text.push_str(&run);
                }
                1 => text.push_str(&"x".repeat(rng.below(600))),
                _ => {
                    for _ in 0..1 + rng.below(30) {
                        if rng.below(3) == 0 {
                            text.push_str(CJK[rng.below(CJK.len())]);
                        } else {
                            text.push_str(WORDS[rng.below(WORDS.len())]);
                            text.push(' ');
                        }
                    }
                }
            }
            text.push_str(ENDS[rng.below(ENDS.len())]);
            text.push_str(match rng.below(8) {
                0 => "\n",
                1 => "",
                2 => "  \t ",
                _ => " ",
            });
        }
        document.push(on_page(page, paragraph(&text)));
    }
    document
}
