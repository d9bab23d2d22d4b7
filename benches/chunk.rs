//! Chunking throughput, beside the cost of tokenizing the same text once.
//!
//! `cargo bench --bench chunk` (no database, no network; `cargo bench --bench chunk estimate` for
//! one counter). The corpus is about `CHUNKS` chunks' worth of mixed English and Chinese prose
//! under headings (11 MB). For each token counter — the estimator always, and real tokenizers when
//! `ADBRAG_TEST_TOKENIZER` lists tokenizer.json files or `ADBRAG_MODELS_DIR` holds the local
//! model — it reports, as the median of `RUNS` runs:
//!
//! - chunking the corpus with the default options (512 tokens, 64 of overlap): chunks/s and MB/s;
//! - the baseline, measured in the same run: counting each block's tokens once with the same
//!   counter, in MB/s;
//! - their ratio: what chunking costs over merely tokenizing. The chunker counts every piece once
//!   and every finished chunk once more, so about 2 is what the design promises.

mod common;

use std::{hint::black_box, path::PathBuf, time::Instant};

use adbrag::ingest::{
    chunk::{ChunkOptions, chunk},
    parse::{Block, BlockKind},
    tokens::{EstimatingCounter, TokenCounter, TokenizerCounter},
};
use common::median;

const RUNS: usize = 5;
const CHUNKS: usize = 10_000;

/// About `chunks` chunks' worth of mixed English and Chinese prose under headings.
fn corpus_of(chunks: usize) -> Vec<Block> {
    let english = "Employees accrue twenty days of paid annual leave per calendar year, and unused leave may be carried over. ";
    let chinese = "员工每年享有二十天带薪年假，未休完的年假可顺延至次年，但须经部门经理批准。";
    let block = |kind, text: String| Block {
        kind,
        text,
        page: None,
    };
    let mut blocks = Vec::new();
    for i in 0..chunks / 2 {
        blocks.push(block(BlockKind::Heading(2), format!("Section {i}")));
        blocks.push(block(BlockKind::Paragraph, english.repeat(8)));
        blocks.push(block(BlockKind::Paragraph, chinese.repeat(6)));
        blocks.push(block(BlockKind::Paragraph, english.repeat(7)));
    }
    blocks
}

/// The tokenizer.json files to measure besides the estimator.
fn tokenizers() -> Vec<PathBuf> {
    if let Some(paths) = std::env::var_os("ADBRAG_TEST_TOKENIZER") {
        return std::env::split_paths(&paths).collect();
    }
    std::env::var_os("ADBRAG_MODELS_DIR")
        .map(|dir| PathBuf::from(dir).join("all-MiniLM-L6-v2/tokenizer.json"))
        .filter(|path| path.is_file())
        .into_iter()
        .collect()
}

fn measure(blocks: &[Block], counter: &dyn TokenCounter) {
    let megabytes = blocks.iter().map(|b| b.text.len()).sum::<usize>() as f64 / 1e6;
    let options = ChunkOptions::default();
    let (mut chunking, mut counting) = (Vec::new(), Vec::new());
    let mut chunks = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let result = chunk(blocks, &options, counter);
        chunking.push(started.elapsed().as_secs_f64());
        assert!(result.iter().all(|c| c.token_count <= options.max_tokens));
        chunks = result.len();

        let started = Instant::now();
        let tokens: usize = blocks
            .iter()
            .map(|b| counter.count(black_box(&b.text)))
            .sum();
        counting.push(started.elapsed().as_secs_f64());
        black_box(tokens);
    }
    let (chunking, counting) = (median(chunking), median(counting));
    println!(
        "{}: {chunks} chunks from {megabytes:.1} MB: chunking median {chunking:.3} s = {:.0} chunks/s, {:.1} MB/s; \
         tokenizing once (baseline): median {counting:.3} s = {:.1} MB/s; ratio {:.2}",
        counter.describe(),
        chunks as f64 / chunking,
        megabytes / chunking,
        megabytes / counting,
        chunking / counting,
    );
}

fn main() {
    let only = std::env::args().nth(1).filter(|arg| !arg.starts_with('-'));
    let wanted = |name: &str| only.as_deref().is_none_or(|only| name.contains(only));
    let blocks = corpus_of(CHUNKS);
    if wanted("estimate") {
        measure(&blocks, &EstimatingCounter);
    }
    for path in tokenizers() {
        let counter = TokenizerCounter::from_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if wanted(&counter.describe()) {
            measure(&blocks, &counter);
        }
    }
}
