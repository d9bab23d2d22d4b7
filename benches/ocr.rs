//! OCR speed and accuracy: pages per second and character error rate (CER), local and API.
//!
//! `cargo bench --bench ocr` after `scripts/ocr.sh` and `scripts/ocr.sh fixtures` (export the
//! lines they print: `ADBRAG_TESSERACT`, `ADBRAG_PDFTOPPM`, `ADBRAG_TEST_OCR_FIXTURES`). For each
//! fixture page (English and Chinese, rendered from real text at 150 and 300 dpi), `RUNS` runs:
//!
//! 1. **local**: Tesseract as adbrag runs it (a subprocess per page, `OMP_THREAD_LIMIT=1`): the
//!    median seconds per page, pages per second at `ADBRAG_OCR_CONCURRENCY` pages at once, and
//!    the CER against the source text;
//! 2. **page images**: the scanned PDF's page taken as it is (its JPEG, no decoding) against
//!    rasterised by pdftoppm at 300 dpi, per page, and the CER Tesseract reaches on each;
//! 3. **API**: the Model Studio client against the in-process fake that answers at once, so the
//!    time is what adbrag adds per page (base64, the request, the JSON), not the model's.
//!
//! Medians of `RUNS`; everything runs in one process on this machine, one after the other.

#[path = "../tests/integration/harness/openai.rs"]
#[allow(dead_code)]
mod openai;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use adbrag::{
    ingest::{
        ocr::{
            ApiConfig, Ocr, OcrEngine, OcrLimits, api::ModelStudioOcr, character_error_rate,
            tesseract::Tesseract,
        },
        parse::{self, EncodedImage, ImageKind, ParseLimits, ScanImage},
    },
    llm::Endpoint,
};
use serde_json::Value;

const RUNS: usize = 3;
const API_PAGES: usize = 200;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env(name: &str) -> PathBuf {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!("{name} is not set: run scripts/ocr.sh and scripts/ocr.sh fixtures, and export the lines they print")
        })
        .into()
}

fn image(path: &Path) -> EncodedImage {
    let bytes = std::fs::read(path).unwrap();
    let kind = ImageKind::sniff(&bytes).unwrap();
    parse::image::describe(&bytes, kind, &ParseLimits::default()).unwrap()
}

fn expected(manifest: &Value, file: &str, page: usize) -> String {
    manifest
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == file)
        .unwrap()["pages"][page]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let fixtures = env("ADBRAG_TEST_OCR_FIXTURES");
    let tesseract = env("ADBRAG_TESSERACT");
    let pdftoppm = env("ADBRAG_PDFTOPPM");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("manifest.json")).unwrap()).unwrap();
    let limits = OcrLimits::default();
    let engine = Tesseract::new(&tesseract, "eng+chi_sim", &limits).unwrap();
    println!("engine: {}, {RUNS} runs, medians", engine.engine());

    println!("\n1. local OCR, one page at a time (pages/s = 1 / median)");
    println!("| page | pixels | median s/page | pages/s | CER |");
    println!("|---|---|---|---|---|");
    for (file, chinese) in [
        ("en-150.png", false),
        ("en-300.png", false),
        ("zh-150.png", true),
        ("zh-300.png", true),
    ] {
        let page = image(&fixtures.join(file));
        let mut times = Vec::new();
        let mut rate = 0.0;
        for _ in 0..RUNS {
            let started = Instant::now();
            let text = engine.read(&page).await.unwrap();
            times.push(started.elapsed().as_secs_f64());
            rate = character_error_rate(
                &expected(&manifest, file, 0),
                &text[0].paragraphs.join("\n\n"),
                chinese,
            );
        }
        let seconds = median(times);
        println!(
            "| {file} | {}×{} | {seconds:.2} | {:.2} | {rate:.4} |",
            page.width,
            page.height,
            1.0 / seconds
        );
    }

    println!(
        "\n   the same 4 pages, {} at once (ADBRAG_OCR_CONCURRENCY):",
        limits.concurrency
    );
    let engine = Arc::new(engine);
    let pages: Vec<EncodedImage> = ["en-150.png", "en-300.png", "zh-150.png", "zh-300.png"]
        .iter()
        .map(|file| image(&fixtures.join(file)))
        .collect();
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(limits.concurrency));
        let tasks: Vec<_> = pages
            .iter()
            .cloned()
            .map(|page| {
                let (engine, semaphore) = (engine.clone(), semaphore.clone());
                tokio::spawn(async move {
                    let _permit = semaphore.acquire().await.unwrap();
                    engine.read(&page).await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        rates.push(pages.len() as f64 / started.elapsed().as_secs_f64());
    }
    println!("   {:.2} pages/s (median of {RUNS})", median(rates));

    println!("\n2. page images from scanned.pdf: as they are (JPEG) vs rasterised by pdftoppm");
    let pdf = std::fs::read(fixtures.join("scanned.pdf")).unwrap();
    let parsed = parse::parse(&pdf, Some("scanned.pdf"), &ParseLimits::default()).unwrap();
    let ocr = OcrEngine::new(engine.clone(), &pdftoppm, limits.clone());
    println!("| page | image | median s to get it | its pixels | then OCR s | CER |");
    println!("|---|---|---|---|---|---|");
    for (index, scan) in parsed.scans.iter().enumerate() {
        let chinese = index == 1;
        let reference = expected(&manifest, "scanned.pdf", index);
        if let ScanImage::Encoded(image) = &scan.image {
            // Taking it costs the parse only, which the parse benchmark measures.
            let started = Instant::now();
            let text = engine.read(image).await.unwrap();
            let ocr_s = started.elapsed().as_secs_f64();
            let rate = character_error_rate(&reference, &text[0].paragraphs.join("\n\n"), chinese);
            println!(
                "| {} | as it is ({}) | 0 | {}×{} | {ocr_s:.2} | {rate:.4} |",
                scan.page,
                image.kind.name(),
                image.width,
                image.height
            );
        }
        let mut times = Vec::new();
        let mut rendered = None;
        for _ in 0..RUNS {
            let started = Instant::now();
            let image = ocr.rasterise(&pdf, scan).await.unwrap();
            times.push(started.elapsed().as_secs_f64());
            rendered = Some(image);
        }
        let rendered = rendered.unwrap();
        let started = Instant::now();
        let text = engine.read(&rendered).await.unwrap();
        let ocr_s = started.elapsed().as_secs_f64();
        let rate = character_error_rate(&reference, &text[0].paragraphs.join("\n\n"), chinese);
        println!(
            "| {} | pdftoppm, {} dpi | {:.3} | {}×{} | {ocr_s:.2} | {rate:.4} |",
            scan.page,
            limits.dpi,
            median(times),
            rendered.width,
            rendered.height
        );
    }

    println!("\n3. API client against the instant fake ({API_PAGES} pages, one at a time)");
    let fake = openai::FakeOpenAi::start().await;
    let api = ModelStudioOcr::new(
        &ApiConfig {
            endpoint: Endpoint {
                base_url: fake.base_url(),
                api_key: Some("bench".into()),
            },
            model: "qwen-vl-ocr".into(),
            max_attempts: 1,
        },
        &OcrLimits {
            page_timeout: Duration::from_secs(30),
            ..limits
        },
    )
    .unwrap();
    println!("| page | bytes | median ms/page | pages/s |");
    println!("|---|---|---|---|");
    for file in ["en-300.png", "en-300.jpg", "zh-300.png"] {
        let page = image(&fixtures.join(file));
        fake.ocr_reads(&page.bytes, &expected(&manifest, file, 0));
        let mut medians = Vec::new();
        for _ in 0..RUNS {
            let mut times = Vec::new();
            for _ in 0..API_PAGES / RUNS {
                let started = Instant::now();
                api.read(&page).await.unwrap();
                times.push(started.elapsed().as_secs_f64());
            }
            medians.push(median(times));
        }
        let seconds = median(medians);
        println!(
            "| {file} | {} | {:.2} | {:.0} |",
            page.bytes.len(),
            seconds * 1000.0,
            1.0 / seconds
        );
    }
}
