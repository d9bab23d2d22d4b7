//! PDF parsing speed, in process: no database, no network.
//!
//! `cargo bench --bench parse` (`cargo bench --bench parse -- cjk` runs only the benchmarks whose
//! name contains "cjk"). Each figure is the median of `RUNS` runs, beside a baseline
//! measured in the same run:
//!
//! 1. `latin`: pages/s on a generated `PAGES`-page, text-dense, compressed PDF of Helvetica text
//!    (40 lines a page), against lopdf loading the same file alone (what reading the file costs
//!    before any text is extracted);
//! 2. `cjk`: the same pages with five lines of Chinese in a font with a predefined CJK `CMap`
//!    (UniGB-UCS2-H) added to each, against `latin`;
//! 3. `cmap`: a page drawn with 500 Identity-H fonts whose `ToUnicode` `CMap`s each map all 65,536
//!    two-byte codes with one range (a range lopdf's own parser would expand code by code; ours
//!    keeps it as a range): time, and how much the process's peak memory (`VmHWM`) grew, against
//!    the same fonts with 256-code ranges.
//!
//! The PDFs are generated with the unit tests' builders (`src/ingest/parse/pdf/samples.rs`).

#[path = "../src/ingest/parse/pdf/samples.rs"]
#[allow(dead_code)]
mod samples;

use std::time::Instant;

use adbrag::ingest::parse::{self, ParseLimits, Parsed};
use lopdf::Document;

const RUNS: usize = 5;
const PAGES: usize = 200;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn parse_pdf(bytes: &[u8]) -> Parsed {
    parse::parse(
        bytes,
        Some("bench.pdf"),
        &ParseLimits {
            max_pages: 1000,
            ..ParseLimits::default()
        },
    )
    .unwrap()
}

/// Median seconds of `RUNS` runs of `f`.
fn time(mut f: impl FnMut()) -> f64 {
    median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// A compressed PDF of `PAGES` copies of `page`.
fn document(page: &[u8]) -> Vec<u8> {
    let mut doc = samples::document(&vec![page.to_vec(); PAGES]);
    doc.compress();
    samples::save(&mut doc)
}

fn latin_page() -> Vec<u8> {
    let line = "The quick brown fox jumps over the lazy dog, again and again and again.";
    samples::text_page(&[line; 40])
}

fn cjk_page() -> Vec<u8> {
    let mut page = latin_page();
    let chinese = samples::ucs2_hex("敏捷的棕色狐狸跳过了懒狗。");
    for y in [120, 105, 90, 75, 60] {
        page.extend_from_slice(format!("BT /F2 12 Tf 72 {y} Td {chinese} Tj ET\n").as_bytes());
    }
    page
}

/// Median pages/s of parsing `bytes`, which must give `PAGES` pages.
fn pages_per_second(bytes: &[u8]) -> f64 {
    let seconds = time(|| {
        let parsed = parse_pdf(bytes);
        assert_eq!(parsed.pages, Some(PAGES as u32));
    });
    PAGES as f64 / seconds
}

fn bench_latin() -> f64 {
    let bytes = document(&latin_page());
    let load = PAGES as f64 / time(|| drop(Document::load_mem(&bytes).unwrap()));
    let rate = pages_per_second(&bytes);
    println!(
        "latin: {PAGES} pages ({} KiB): median {rate:.0} pages/s; lopdf load alone {load:.0} pages/s; \
         ratio {:.2}",
        bytes.len() / 1024,
        rate / load
    );
    rate
}

fn bench_cjk(latin: Option<f64>) {
    let bytes = document(&cjk_page());
    let rate = pages_per_second(&bytes);
    let latin = latin.unwrap_or_else(|| pages_per_second(&document(&latin_page())));
    println!(
        "cjk: {PAGES} pages ({} KiB) with 5 lines of Chinese (UniGB-UCS2-H) each: median {rate:.0} \
         pages/s; latin alone {latin:.0} pages/s; ratio {:.2}",
        bytes.len() / 1024,
        rate / latin
    );
}

/// The process's peak resident memory so far (`VmHWM`), in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn bench_cmap() {
    let small = samples::cmap_font_pdf("<0000> <00FF> <0000>", 500);
    let baseline = time(|| drop(parse_pdf(&small)));
    let full = samples::cmap_font_pdf("<0000> <FFFF> <0000>", 500);
    let before = peak_mib();
    let seconds = time(|| drop(parse_pdf(&full)));
    let growth = peak_mib() - before;
    println!(
        "cmap: 500 fonts with 65,536-code ToUnicode ranges: median {:.1} ms, peak memory \
         +{growth:.0} MiB; with 256-code ranges {:.1} ms; ratio {:.2}",
        seconds * 1000.0,
        baseline * 1000.0,
        seconds / baseline
    );
}

fn main() {
    let only = std::env::args().nth(1).filter(|arg| !arg.starts_with('-'));
    let wanted = |name: &str| only.as_deref().is_none_or(|only| name.contains(only));
    // First, so that its peak memory is not hidden by the others'.
    if wanted("cmap") {
        bench_cmap();
    }
    let latin = wanted("latin").then(bench_latin);
    if wanted("cjk") {
        bench_cjk(latin);
    }
}
