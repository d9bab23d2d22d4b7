//! OCR end to end: scanned PDF pages and uploaded images become searchable text, with pages.
//!
//! Two engines, each really exercised:
//! - Model Studio's OCR model through the real OpenAI-compatible client, against the in-process
//!   fake on 127.0.0.1, which checks each request as the provider documents it (429 then
//!   success, a timeout, oversized images refused before anything is sent);
//! - Tesseract (and poppler's pdftoppm), installed by `scripts/ocr.sh`, on fixtures that
//!   `scripts/ocr.sh fixtures` renders from real text (tests/fixtures/ocr/) with a Debian font:
//!   the character error rate is bounded, a search for a scanned sentence finds its page, and a
//!   mixed PDF keeps its text pages. Without `ADBRAG_TEST_OCR_FIXTURES` and `ADBRAG_TESSERACT`
//!   these say SKIPPED on stderr, and fail when `CI` is set.

use std::{io::Write, path::Path, sync::Arc, time::Duration};

use adbrag::{
    config::IngestSettings,
    ingest::{
        chunk::ChunkOptions,
        ocr::{
            ApiConfig, Ocr, OcrChoice, OcrEngine, OcrLimits, ReadError, api::ModelStudioOcr,
            character_error_rate as cer, tesseract::Tesseract,
        },
        parse::{EncodedImage, ImageKind},
        pipeline::{IngestError, Ingested, Outcome, Pipeline},
        source::SourceObject,
        tokens::EstimatingCounter,
    },
    llm::{self, Embedder, Endpoint},
    search::retrieve::{self, Request},
    store::{
        collections::{self, Collection},
        documents,
    },
};
use chrono::{TimeZone, Utc};
use lopdf::{Document, Object, Stream, dictionary};
use serde_json::{Value, json};

use crate::{
    harness::{
        TestDb,
        openai::{FakeOpenAi, Fault},
        search_settings,
    },
    ingest::{embedding_settings, ingest_settings},
    store_collections::new_collection,
};

const DIMS: usize = 16;

struct Setup {
    db: TestDb,
    fake: FakeOpenAi,
    pipeline: Pipeline,
    embedder: Arc<dyn Embedder>,
    collection: Collection,
}

/// OCR limits for tests: quick timeouts, few attempts.
fn limits() -> OcrLimits {
    OcrLimits {
        page_timeout: Duration::from_secs(30),
        ..OcrLimits::default()
    }
}

fn api_ocr(fake: &FakeOpenAi, limits: &OcrLimits, attempts: u32) -> Arc<dyn Ocr> {
    Arc::new(
        ModelStudioOcr::new(
            &ApiConfig {
                endpoint: Endpoint {
                    base_url: fake.base_url(),
                    api_key: Some("test-key".into()),
                },
                model: "qwen-vl-ocr".into(),
                max_attempts: attempts,
            },
            limits,
        )
        .unwrap(),
    )
}

async fn setup(ocr: impl FnOnce(&FakeOpenAi) -> Option<OcrEngine>) -> Setup {
    crate::harness::init_logging();
    let db = TestDb::migrated().await;
    let fake = FakeOpenAi::start().await;
    let embedder = llm::embedder(&embedding_settings(&fake).config().unwrap()).unwrap();
    let settings = IngestSettings {
        max_pages: 2000,
        max_object_bytes: 32 << 20,
        ..ingest_settings()
    };
    let engine = ocr(&fake);
    let pipeline = Pipeline::new(
        db.pool.clone(),
        embedder.clone(),
        Arc::new(EstimatingCounter),
        settings.limits(),
        ChunkOptions {
            max_tokens: 160,
            overlap_tokens: 0,
        },
    )
    .with_ocr(engine.map_or_else(OcrChoice::default, |engine| OcrChoice::On(Arc::new(engine))));
    let mut conn = db.pool.acquire().await.unwrap();
    let collection = collections::create(&mut conn, &new_collection("acme", "scans", DIMS as i64))
        .await
        .unwrap();
    Setup {
        db,
        fake,
        pipeline,
        embedder,
        collection,
    }
}

fn with_api(fake: &FakeOpenAi) -> Option<OcrEngine> {
    let limits = limits();
    Some(OcrEngine::new(
        api_ocr(fake, &limits, 4),
        Path::new("pdftoppm"),
        limits,
    ))
}

fn object(name: &str, bytes: Vec<u8>) -> SourceObject {
    SourceObject {
        uri: format!("oss://bucket/{name}"),
        file_name: Some(name.to_owned()),
        bytes,
        etag: Some(format!("etag-{name}")),
        modified: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        metadata: json!({}),
        acl: Vec::new(),
    }
}

/// A JPEG header of `width` × `height` (SOI, SOF0, EOI; `salt` makes each one distinct). The
/// fake API does not decode it: it answers the text registered for these bytes.
fn jpeg(width: u16, height: u16, salt: u8) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xFE, 0, 3, salt, 0xFF, 0xC0, 0, 11, 8];
    bytes.extend(height.to_be_bytes());
    bytes.extend(width.to_be_bytes());
    bytes.extend([1, 1, 0x11, 0, 0xFF, 0xD9]);
    bytes
}

/// A PNG header of `width` × `height`, padded with `padding` bytes.
fn png(width: u32, height: u32, padding: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend(width.to_be_bytes());
    bytes.extend(height.to_be_bytes());
    bytes.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes.resize(bytes.len() + padding, 0);
    bytes
}

/// One page of a test PDF: text (Helvetica), or a full-page image stream.
enum Page {
    Text(&'static str),
    Image(Stream),
}

fn dct(bytes: Vec<u8>, width: i64, height: i64) -> Stream {
    Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => width, "Height" => height, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "DCTDecode" },
        bytes,
    )
}

fn pdf(pages: Vec<Page>) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(
        dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
    );
    let mut kids = Vec::new();
    for page in pages {
        let (content, resources) = match page {
            Page::Text(text) => (
                format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET").into_bytes(),
                dictionary! { "Font" => dictionary! { "F1" => font } },
            ),
            Page::Image(image) => {
                let image = doc.add_object(image);
                (
                    b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(),
                    dictionary! { "XObject" => dictionary! { "Im1" => image } },
                )
            }
        };
        let content = doc.add_object(Stream::new(dictionary! {}, content));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        })));
    }
    let count = i64::try_from(kids.len()).unwrap();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

async fn search(s: &Setup, query: &str) -> retrieve::Results {
    retrieve::search(
        &s.db.pool,
        s.embedder.as_ref(),
        None,
        &s.collection,
        &Request {
            query: query.to_owned(),
            top_k: 5,
            mode: adbrag::store::search::Mode::Hybrid,
            filter: None,
            principals: None,
        },
        &search_settings().options(adbrag::store::dialect::Dialect::Pgvector),
    )
    .await
    .unwrap()
}

async fn document(s: &Setup, name: &str) -> documents::Document {
    documents::find_by_source(&s.db.pool, s.collection.id, &format!("oss://bucket/{name}"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{name} was not stored"))
}

/// Ingests `bytes` as `name` through the setup's pipeline.
async fn ingest(s: &Setup, name: &str, bytes: Vec<u8>) -> Result<Ingested, IngestError> {
    s.pipeline
        .ingest(&s.collection, object(name, bytes), "test")
        .await
}

/// The document's chunks (no overlap) joined, whitespace collapsed.
async fn whole_text(s: &Setup, name: &str) -> String {
    let texts: Vec<String> = page_texts(s, name)
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    texts
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

async fn page_texts(s: &Setup, name: &str) -> Vec<(Option<i32>, String)> {
    let document = document(s, name).await;
    documents::chunks(&s.db.pool, document.id)
        .await
        .unwrap()
        .into_iter()
        .map(|chunk| (chunk.page_from, chunk.text))
        .collect()
}

const AUDIT: &str = "The quarterly audit of the cold storage rooms found the humidity logger on the third floor had stopped recording in March.";

// ---- The Model Studio path, against the fake ----

#[tokio::test]
async fn a_mixed_pdf_keeps_its_text_pages_and_the_api_reads_its_scanned_page() {
    let s = setup(with_api).await;
    let scan = jpeg(1240, 1754, 1);
    s.fake
        .ocr_reads(&scan, &format!("{AUDIT}\n\nThe logger was replaced."));
    let bytes = pdf(vec![
        Page::Text("Facilities report, typed page one."),
        Page::Image(dct(scan, 1240, 1754)),
        Page::Text("Typed page three closes the report."),
    ]);
    let done = ingest(&s, "report.pdf", bytes).await.unwrap();
    assert!(matches!(done.outcome, Outcome::Written { .. }));

    // In page order, the text pages as they are, the scanned one as the API read it.
    assert_eq!(
        whole_text(&s, "report.pdf").await,
        format!(
            "Facilities report, typed page one. {AUDIT} The logger was replaced. Typed page three closes the report."
        )
    );
    let document = document(&s, "report.pdf").await;
    assert_eq!(
        document.metadata["ocr"],
        json!({ "engine": "qwen-vl-ocr", "pages": [2], "mean_confidence": null, "low_confidence_pages": [] })
    );

    // One request, the page's JPEG as it is, in the documented shape (the fake checks it).
    let requests: Vec<Value> = s
        .fake
        .recorded()
        .into_iter()
        .filter(|r| r.path == "/chat/completions")
        .map(|r| r.body)
        .collect();
    assert_eq!(requests.len(), 1);
    let url = requests[0]["messages"][0]["content"][0]["image_url"]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("data:image/jpeg;base64,/9j/"), "{url:.40}");

    let results = search(&s, "humidity logger cold storage audit").await;
    let top = &results.hits[0];
    assert!(top.text.contains(AUDIT), "{:?}", results.hits);
    // The hit says its text came from OCR.
    assert!(top.ocr, "{top:?}");
    assert!(
        top.page_from <= Some(2) && top.page_to >= Some(2),
        "{:?}",
        results.hits
    );
}

#[tokio::test]
async fn a_429_is_retried_and_the_image_is_then_read() {
    let s = setup(with_api).await;
    let scan = png(1654, 2339, 64);
    s.fake.ocr_reads(&scan, AUDIT);
    s.fake.push_chat_fault(Fault::Status {
        status: 429,
        code: "Throttling.RateQuota",
        retry_after: Some(0),
    });
    ingest(&s, "fax.png", scan).await.unwrap();
    let texts = page_texts(&s, "fax.png").await;
    assert_eq!(texts, [(Some(1), AUDIT.to_owned())]);
    let chats = s
        .fake
        .recorded()
        .iter()
        .filter(|r| r.path == "/chat/completions")
        .count();
    assert_eq!(chats, 2, "one 429, one success");
    assert_eq!(
        document(&s, "fax.png").await.mime_type.as_deref(),
        Some("image/png")
    );
}

#[tokio::test]
async fn an_api_that_times_out_fails_the_attempt_as_transient_never_the_documents_fault() {
    let s = setup(|fake| {
        let limits = OcrLimits {
            page_timeout: Duration::from_millis(300),
            ..limits()
        };
        Some(OcrEngine::new(
            api_ocr(fake, &limits, 1),
            Path::new("pdftoppm"),
            limits,
        ))
    })
    .await;
    let scan = png(1654, 2339, 0);
    s.fake.ocr_reads(&scan, AUDIT);
    s.fake.push_chat_fault(Fault::Delay(Duration::from_secs(3)));
    let err = ingest(&s, "slow.png", scan).await.unwrap_err();
    assert!(
        matches!(err, IngestError::Ocr(ReadError::Unavailable(_))),
        "{err}"
    );
    assert!(!err.is_document_fault(), "{err}");
    assert!(err.to_string().contains("retried"), "{err}");
    // Nothing was recorded against the document.
    let stored = documents::find_by_source(&s.db.pool, s.collection.id, "oss://bucket/slow.png")
        .await
        .unwrap();
    assert!(stored.is_none(), "{stored:?}");
}

#[tokio::test]
async fn images_over_the_apis_limits_are_refused_before_anything_is_sent() {
    let s = setup(with_api).await;
    // 16 megapixels (the API takes 15.68 at most), and 8 MB (over 10 MB once in base64).
    for (name, image, says) in [
        (
            "huge.png",
            png(4000, 4000, 0),
            "more than the OCR API accepts in a PNG image",
        ),
        (
            "heavy.png",
            png(2000, 2000, 8 << 20),
            "in base64, more than the OCR API accepts",
        ),
    ] {
        let err = ingest(&s, name, image).await.unwrap_err();
        assert!(err.is_document_fault(), "{err}");
        assert!(err.to_string().contains(says), "{name}: {err}");
        assert!(
            err.to_string().contains("ADBRAG_OCR=local"),
            "{name}: {err}"
        );
    }
    assert!(
        s.fake
            .recorded()
            .iter()
            .all(|r| r.path != "/chat/completions"),
        "no image was sent"
    );
}

#[tokio::test]
async fn bad_scans_are_refused_with_their_reason_and_the_rest_of_the_batch_goes_on() {
    let s = setup(with_api).await;
    let good = jpeg(1240, 1754, 2);
    s.fake.ocr_reads(&good, AUDIT);

    // An image bomb: 100,000 × 100,000 declared in a tiny file.
    let bomb = png(100_000, 100_000, 0);
    // A TIFF of 500 (empty) frames.
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    for i in 0..500u32 {
        let at = u32::try_from(tiff.len()).unwrap();
        tiff.extend(2u16.to_le_bytes());
        for tag in [256u16, 257] {
            tiff.extend(tag.to_le_bytes());
            tiff.extend(3u16.to_le_bytes());
            tiff.extend(1u32.to_le_bytes());
            tiff.extend([8, 0, 0, 0]);
        }
        tiff.extend((if i == 499 { 0 } else { at + 30 }).to_le_bytes());
    }
    // 2,000 blank scanned pages (one shared image).
    let blank = {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let image = doc.add_object(dct(jpeg(8, 8, 3), 8, 8));
        let content = doc.add_object(Stream::new(
            dictionary! {},
            b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(),
        ));
        let kids: Vec<Object> = (0..2000)
            .map(|_| {
                doc.add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => content,
                    "Resources" => dictionary! { "XObject" => dictionary! { "Im1" => image } },
                    "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                })
                .into()
            })
            .collect();
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => 2000 }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    };
    // A corrupt embedded image on page 1, a good scan on page 2.
    let corrupt = pdf(vec![
        Page::Image(dct(vec![0xFF, 0xD8, 0x13, 0x37, 0x00, 0x42], 2480, 3508)),
        Page::Image(dct(good.clone(), 1240, 1754)),
    ]);

    for (name, bytes, says) in [
        (
            "bomb.png",
            bomb,
            "the image is 100000 × 100000 pixels, more than the limit of 50000000: scan it at a lower resolution, or raise ADBRAG_OCR_MAX_PIXELS",
        ),
        (
            "frames.tiff",
            tiff,
            "the document has 500 scanned pages to read with OCR, more than the limit of 300: split it, or raise ADBRAG_OCR_MAX_PAGES",
        ),
        (
            "blank.pdf",
            blank,
            "the document has 2000 scanned pages to read with OCR, more than the limit of 300: split it, or raise ADBRAG_OCR_MAX_PAGES",
        ),
    ] {
        let err = ingest(&s, name, bytes).await.unwrap_err();
        assert!(err.is_document_fault(), "{name}: {err}");
        assert_eq!(err.to_string(), says, "{name}");
        let failed = document(&s, name).await;
        assert_eq!(failed.error.as_deref(), Some(says), "{name}");
    }
    let done = ingest(&s, "corrupt.pdf", corrupt).await.unwrap();
    assert!(matches!(done.outcome, Outcome::Written { .. }));
    assert_eq!(
        page_texts(&s, "corrupt.pdf").await,
        [(Some(2), AUDIT.to_owned())]
    );
    let kept = document(&s, "corrupt.pdf").await;
    let warnings = kept.metadata["parse_warnings"].to_string();
    assert!(
        warnings.contains("page 1: the page's JPEG image could not be read"),
        "{warnings}"
    );
    assert_eq!(kept.metadata["ocr"]["pages"], json!([2]));
    // Only the good page went to the API.
    let chats = s
        .fake
        .recorded()
        .iter()
        .filter(|r| r.path == "/chat/completions")
        .count();
    assert_eq!(chats, 1);
}

#[tokio::test]
async fn with_ocr_off_a_scan_is_refused_saying_how_to_turn_it_on() {
    let s = setup(|_| None).await;
    let err = ingest(
        &s,
        "scan.pdf",
        pdf(vec![Page::Image(dct(jpeg(100, 100, 4), 100, 100))]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no extractable text: the PDF is a scan and OCR is off (no OCR engine is configured): set ADBRAG_OCR=auto with Tesseract installed (scripts/ocr.sh), or run OCR on it and upload the result"
    );
    // A mixed PDF keeps its text, and says which pages it could not read.
    ingest(
        &s,
        "mixed.pdf",
        pdf(vec![
            Page::Text("Typed."),
            Page::Image(dct(jpeg(100, 100, 5), 100, 100)),
        ]),
    )
    .await
    .unwrap();
    let mixed = document(&s, "mixed.pdf").await;
    assert!(
        mixed.metadata["parse_warnings"]
            .to_string()
            .contains("Page 2 of this PDF is a scan without text, and OCR is off"),
        "{}",
        mixed.metadata
    );
}

// ---- Tesseract, on fixtures rendered from real text ----

/// The fixtures directory and the Tesseract and pdftoppm programs, or None with a visible
/// SKIPPED; in CI, a failure.
fn local_ocr(test: &str) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("ADBRAG_TEST_OCR_FIXTURES"),
        var("ADBRAG_TESSERACT"),
        var("ADBRAG_PDFTOPPM"),
    ) {
        (Some(fixtures), Some(tesseract), Some(pdftoppm)) => {
            Some((fixtures.into(), tesseract.into(), pdftoppm.into()))
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: ADBRAG_TEST_OCR_FIXTURES, ADBRAG_TESSERACT or ADBRAG_PDFTOPPM is not set, and CI is: run scripts/ocr.sh and scripts/ocr.sh fixtures (scripts/test.sh does) and export the lines they print"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test}: ADBRAG_TEST_OCR_FIXTURES, ADBRAG_TESSERACT or ADBRAG_PDFTOPPM is not set; run scripts/ocr.sh and scripts/ocr.sh fixtures and export the lines they print"
            );
            None
        }
    }
}

fn manifest(fixtures: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures.join("manifest.json")).unwrap()).unwrap()
}

/// The source text of each page of fixture `file`, from the manifest.
fn expected_pages(manifest: &Value, file: &str) -> Vec<String> {
    let entry = manifest
        .as_array()
        .and_then(|all| all.iter().find(|f| f["file"] == file))
        .unwrap_or_else(|| panic!("{file} is not in the manifest"));
    entry["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|page| page["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn image(fixtures: &Path, file: &str) -> EncodedImage {
    let bytes = std::fs::read(fixtures.join(file)).unwrap();
    let kind = ImageKind::sniff(&bytes).unwrap();
    adbrag::ingest::parse::image::describe(&bytes, kind, &Default::default()).unwrap()
}

#[tokio::test]
async fn tesseract_reads_real_text_within_a_character_error_rate_bound() {
    let Some((fixtures, tesseract, _)) =
        local_ocr("tesseract_reads_real_text_within_a_character_error_rate_bound")
    else {
        return;
    };
    let manifest = manifest(&fixtures);
    let engine = Tesseract::new(&tesseract, "eng+chi_sim", &limits()).unwrap();
    assert!(
        engine.engine().starts_with("tesseract 5"),
        "{}",
        engine.engine()
    );
    let mut report = String::new();
    // (fixture, Chinese, the bound): docs/ocr.md has the measured rates (0.0–0.3 % in English,
    // 2–3.5 % in Chinese), which `cargo bench --bench ocr` reports.
    for (file, chinese, bound) in [
        ("en-300.png", false, 0.01),
        ("en-150.png", false, 0.01),
        ("en-300.jpg", false, 0.01),
        ("en-skewed-300.png", false, 0.02),
        ("en-lowcontrast-300.png", false, 0.02),
        ("zh-300.png", true, 0.06),
        ("zh-150.png", true, 0.06),
    ] {
        let pages = engine.read(&image(&fixtures, file)).await.unwrap();
        let text = pages[0].paragraphs.join("\n\n");
        let rate = cer(&expected_pages(&manifest, file)[0], &text, chinese);
        report += &format!(
            "{file}: CER {rate:.4}, confidence {:?}\n",
            pages[0].confidence
        );
        assert!(
            rate <= bound,
            "{file}: CER {rate:.4} > {bound}\n{report}\n--- read:\n{text}"
        );
    }
    eprintln!("{report}");
}

#[tokio::test]
async fn tesseract_reads_each_frame_of_a_tiff_as_a_page() {
    let Some((fixtures, tesseract, _)) =
        local_ocr("tesseract_reads_each_frame_of_a_tiff_as_a_page")
    else {
        return;
    };
    let manifest = manifest(&fixtures);
    let engine = Tesseract::new(&tesseract, "eng", &limits()).unwrap();
    let pages = engine.read(&image(&fixtures, "en-300.tiff")).await.unwrap();
    let expected = expected_pages(&manifest, "en-300.tiff");
    assert_eq!(pages.len(), expected.len());
    for (page, expected) in pages.iter().zip(&expected) {
        let rate = cer(expected, &page.paragraphs.join("\n\n"), false);
        assert!(rate < 0.05, "CER {rate}");
    }
}

fn with_tesseract(tesseract: &Path, pdftoppm: &Path) -> OcrEngine {
    let limits = limits();
    OcrEngine::new(
        Arc::new(Tesseract::new(tesseract, "eng+chi_sim", &limits).unwrap()),
        pdftoppm,
        limits,
    )
}

#[tokio::test]
async fn a_scanned_pdf_is_searchable_by_a_sentence_of_its_page() {
    let Some((fixtures, tesseract, pdftoppm)) =
        local_ocr("a_scanned_pdf_is_searchable_by_a_sentence_of_its_page")
    else {
        return;
    };
    let manifest = manifest(&fixtures);
    let s = setup(|_| Some(with_tesseract(&tesseract, &pdftoppm))).await;
    for file in ["scanned.pdf", "scanned-flate.pdf"] {
        let bytes = std::fs::read(fixtures.join(file)).unwrap();
        ingest(&s, file, bytes).await.unwrap();
        let stored = document(&s, file).await;
        assert!(
            stored.metadata["ocr"]["engine"]
                .as_str()
                .unwrap()
                .starts_with("tesseract 5"),
            "{}",
            stored.metadata
        );
        assert!(stored.metadata["ocr"]["mean_confidence"].as_f64().unwrap() > 0.7);
    }
    let expected = expected_pages(&manifest, "scanned.pdf");
    for (page, text) in expected.iter().enumerate() {
        // The page's second sentence (or its first), as someone would search for it.
        let sentences: Vec<&str> = text
            .split_inclusive(['.', '。'])
            .map(str::trim)
            .filter(|s| s.chars().count() > 12)
            .collect();
        let query = sentences.get(1).or(sentences.first()).unwrap();
        let results = search(&s, query).await;
        let top = &results.hits[0];
        assert_eq!(
            (top.source_uri.as_str(), top.page_from),
            (
                "oss://bucket/scanned.pdf",
                Some(i32::try_from(page + 1).unwrap())
            ),
            "{query}: {:?}",
            results
                .hits
                .iter()
                .map(|h| (&h.source_uri, h.page_from))
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_mixed_pdf_ocrs_only_its_scanned_page() {
    let Some((fixtures, tesseract, pdftoppm)) = local_ocr("a_mixed_pdf_ocrs_only_its_scanned_page")
    else {
        return;
    };
    let manifest = manifest(&fixtures);
    let s = setup(|_| Some(with_tesseract(&tesseract, &pdftoppm))).await;
    let bytes = std::fs::read(fixtures.join("mixed.pdf")).unwrap();
    ingest(&s, "mixed.pdf", bytes.clone()).await.unwrap();
    let stored = document(&s, "mixed.pdf").await;
    assert_eq!(
        stored.metadata["ocr"]["pages"],
        json!([2]),
        "{}",
        stored.metadata
    );
    // The text pages are exactly what the parser reads from their text layer; between them,
    // page 2 as Tesseract read it.
    let parsed =
        adbrag::ingest::parse::parse(&bytes, Some("mixed.pdf"), &Default::default()).unwrap();
    let layer = |page: u32| {
        let texts: Vec<&str> = parsed
            .blocks
            .iter()
            .filter(|b| b.page == Some(page))
            .map(|b| b.text.as_str())
            .collect();
        texts.join(" ")
    };
    let whole = whole_text(&s, "mixed.pdf").await;
    let (first, third) = (layer(1), layer(3));
    assert!(!first.is_empty() && !third.is_empty());
    assert!(whole.starts_with(&first), "{whole}");
    assert!(whole.ends_with(&third), "{whole}");
    let scanned = &whole[first.len()..whole.len() - third.len()];
    let rate = cer(&expected_pages(&manifest, "mixed.pdf")[1], scanned, false);
    assert!(rate < 0.05, "page 2 CER {rate}: {scanned}");
}

#[tokio::test]
async fn the_bad_fixtures_are_refused_or_bounded_and_the_rest_goes_on() {
    let Some((fixtures, tesseract, pdftoppm)) =
        local_ocr("the_bad_fixtures_are_refused_or_bounded_and_the_rest_goes_on")
    else {
        return;
    };
    let manifest = manifest(&fixtures);
    let s = setup(|_| Some(with_tesseract(&tesseract, &pdftoppm))).await;
    for (file, says) in [
        ("bad/bomb.png", "raise ADBRAG_OCR_MAX_PIXELS"),
        (
            "bad/frames-500.tiff",
            "the document has 500 scanned pages to read with OCR, more than the limit of 300: split it, or raise ADBRAG_OCR_MAX_PAGES",
        ),
        (
            "bad/blank-2000.pdf",
            "the document has 2000 scanned pages to read with OCR, more than the limit of 300: split it, or raise ADBRAG_OCR_MAX_PAGES",
        ),
    ] {
        let bytes = std::fs::read(fixtures.join(file)).unwrap();
        let started = std::time::Instant::now();
        let err = ingest(&s, file, bytes).await.unwrap_err();
        assert!(err.is_document_fault(), "{file}: {err}");
        assert!(err.to_string().contains(says), "{file}: {err}");
        // Refused from headers and counts, before any page is read.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{file}: {:?}",
            started.elapsed()
        );
    }
    let bytes = std::fs::read(fixtures.join("bad/corrupt-image.pdf")).unwrap();
    ingest(&s, "corrupt-image.pdf", bytes).await.unwrap();
    let kept = document(&s, "corrupt-image.pdf").await;
    assert_eq!(
        kept.metadata["ocr"]["pages"],
        json!([2]),
        "{}",
        kept.metadata
    );
    assert!(
        kept.metadata["parse_warnings"]
            .to_string()
            .contains("page 1: "),
        "{}",
        kept.metadata
    );
    let rate = cer(
        &expected_pages(&manifest, "bad/corrupt-image.pdf")[1],
        &whole_text(&s, "corrupt-image.pdf").await,
        true,
    );
    assert!(rate < 0.06, "page 2 CER {rate}");
}

/// A stand-in for the tesseract program: it answers `--version` and `--list-langs` as Tesseract
/// does, then behaves as `behaviour` says on the image (a shell snippet run after reading stdin).
fn fake_tesseract(dir: &Path, name: &str, behaviour: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n--version) echo 'tesseract 5.3.0'; exit 0 ;;\n--list-langs) printf 'List of available languages in \"/x\" (2):\\nchi_sim\\neng\\n'; exit 0 ;;\nesac\ncat >/dev/null\n{behaviour}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn an_engine_that_hangs_or_crashes_loses_only_that_page() {
    let dir = tempfile::tempdir().unwrap();
    let limits = OcrLimits {
        page_timeout: Duration::from_millis(500),
        ..OcrLimits::default()
    };
    let page = EncodedImage {
        kind: ImageKind::Png,
        bytes: png(100, 100, 16),
        width: 100,
        height: 100,
        frames: 1,
    };
    let hangs = Tesseract::new(
        &fake_tesseract(dir.path(), "hangs", "exec sleep 30"),
        "eng",
        &limits,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = hangs.read(&page).await.unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err,
        "OCR took longer than 500ms and was stopped: if the page is just dense, raise ADBRAG_OCR_PAGE_TIMEOUT"
    );
    let crashes = Tesseract::new(
        &fake_tesseract(dir.path(), "crashes", "kill -SEGV $$"),
        "eng",
        &limits,
    )
    .unwrap();
    let err = crashes.read(&page).await.unwrap_err().to_string();
    assert!(
        err.starts_with("Tesseract crashed on the image or ran out of memory"),
        "{err}"
    );
    let refuses = Tesseract::new(
        &fake_tesseract(
            dir.path(),
            "refuses",
            "echo 'Error in pixReadMem: Unknown format: no pix returned' >&2; exit 1",
        ),
        "eng",
        &limits,
    )
    .unwrap();
    let err = refuses.read(&page).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "Tesseract could not read the image (exit 1: Error in pixReadMem: Unknown format: no pix returned): re-scan or re-export it"
    );
    // A language it lacks is refused at start-up, naming the package and the variable.
    let err = Tesseract::new(
        &fake_tesseract(dir.path(), "eng-only", ""),
        "eng+jpn",
        &limits,
    )
    .err()
    .unwrap();
    assert_eq!(
        err,
        "Tesseract has no jpn language data (it has: chi_sim, eng): install tesseract-ocr-jpn (scripts/ocr.sh installs eng and chi_sim), or change ADBRAG_OCR_LANGUAGES"
    );
}
