//! OCR: text for the pages that have none — scanned PDF pages and uploaded images.
//!
//! The parser ([`super::parse`]) finds the scans: pages that draw images and show no text, each
//! with its image taken from the PDF as it is (JPEG), re-encoded (Flate samples as PNG), or marked
//! for rasterising; an image upload is one scan. This module turns each into text:
//!
//! - [`render`] rasterises the pages that need it with poppler's `pdftoppm`, a bounded
//!   subprocess, at [`OcrLimits::dpi`] (lowered so the page stays within the pixel limit);
//! - an [`Ocr`] engine reads the image: [`tesseract::Tesseract`] (the local default, a bounded
//!   subprocess per page) or [`api::ModelStudioOcr`] (a vision model through the
//!   OpenAI-compatible API, with the embedder's retries and throttling);
//! - [`read_scans`] runs them for a document, in page order, within the per-document page
//!   limit, and gives back paragraphs tagged with their page (for the chunker, with page spans,
//!   as a text page's) and the `ocr` record for the document's metadata.
//!
//! A page that cannot be read (a corrupt image, an engine that crashed or ran out of time on it)
//! is skipped with a warning and the rest go on; a document none of whose scans could be read
//! fails with the first reason. An engine or API that is down fails the attempt as transient: it
//! is retried, and never blamed on the document.

pub mod api;
pub mod render;
pub mod tesseract;

use std::{path::PathBuf, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;

use super::parse::{Block, BlockKind, EncodedImage, Scan, ScanImage};
use crate::llm::Endpoint;

/// Which engine reads scans (`ADBRAG_OCR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcrMode {
    /// The API when one is configured, else Tesseract when it is installed, else off.
    Auto,
    Local,
    Api,
    Off,
}

/// OCR as configured: `config::OcrSettings::config` makes it.
#[derive(Debug, Clone)]
pub struct OcrConfig {
    pub mode: OcrMode,
    /// Tesseract's languages, as it names them, joined by `+` (`eng+chi_sim`).
    pub languages: String,
    /// The `tesseract` and `pdftoppm` programs.
    pub tesseract: PathBuf,
    pub pdftoppm: PathBuf,
    /// The vision model, when one is configured.
    pub api: Option<ApiConfig>,
    pub limits: OcrLimits,
}

/// The vision model that reads scans through the OpenAI-compatible API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub endpoint: Endpoint,
    /// E.g. `qwen-vl-ocr-latest`.
    pub model: String,
    pub max_attempts: u32,
}

/// What bounds OCR, per page and per document.
#[derive(Debug, Clone)]
pub struct OcrLimits {
    /// Scanned pages read per document (`ADBRAG_OCR_MAX_PAGES`).
    pub max_pages: u32,
    /// Time for one page (`ADBRAG_OCR_PAGE_TIMEOUT`): the engine is killed past it.
    pub page_timeout: Duration,
    /// Memory of one Tesseract or pdftoppm process, in bytes (`ADBRAG_OCR_MAX_MEMORY_MB`).
    pub max_memory: u64,
    /// Resolution pages are rasterised at (`ADBRAG_OCR_DPI`).
    pub dpi: u32,
    /// Pixels per page image (`ADBRAG_OCR_MAX_PIXELS`, checked by the parser too).
    pub max_pixels: u64,
    /// Pages read at once, across the process (`ADBRAG_OCR_CONCURRENCY`).
    pub concurrency: usize,
    /// A page whose mean word confidence (0 to 1) is below this is kept, and flagged
    /// (`ADBRAG_OCR_MIN_CONFIDENCE`).
    pub min_confidence: f32,
}

impl Default for OcrLimits {
    fn default() -> Self {
        Self {
            max_pages: 300,
            page_timeout: Duration::from_secs(60),
            max_memory: 1 << 30,
            dpi: 300,
            max_pixels: super::parse::ParseLimits::DEFAULT_MAX_IMAGE_PIXELS,
            concurrency: 2,
            min_confidence: 0.6,
        }
    }
}

/// One page as an engine read it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageText {
    /// Paragraphs in reading order.
    pub paragraphs: Vec<String>,
    /// Mean word confidence, 0 to 1, when the engine reports one (Tesseract does, the API does
    /// not).
    pub confidence: Option<f32>,
}

/// Why an engine could not read an image.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// This image cannot be read: the page is skipped with this reason.
    #[error("{0}")]
    Page(String),
    /// The engine or the API is down or misconfigured: the attempt is retried, and never blamed
    /// on the document.
    #[error("{0}")]
    Unavailable(String),
}

/// Reads the text of an image.
///
/// Contract: `read` returns one [`PageText`] per frame of the image (one, but for a multi-frame
/// TIFF), in frame order, or an error; it never panics, and it gives up on an image after the
/// configured page timeout (per frame).
#[async_trait]
pub trait Ocr: Send + Sync {
    /// What the document's metadata names as the engine, e.g. `tesseract 5.3.0 (eng+chi_sim)`.
    fn engine(&self) -> &str;
    /// Why the engine cannot take `image` as it is (too many pixels or bytes for an API), or
    /// `Ok`. A PDF page it refuses is rasterised again within [`Ocr::max_pixels`].
    ///
    /// # Errors
    ///
    /// A sentence saying what is too large.
    fn accepts(&self, image: &EncodedImage) -> Result<(), String> {
        let _ = image;
        Ok(())
    }
    /// The most pixels of a page the engine reads, if less than the configured limit.
    fn max_pixels(&self) -> Option<u64> {
        None
    }
    /// An API engine's counters (requests, retries, throttling, images and tokens), for
    /// `/metrics`.
    fn usage(&self) -> Option<&crate::llm::Usage> {
        None
    }
    async fn read(&self, image: &EncodedImage) -> Result<Vec<PageText>, OcrError>;
}

/// Why OCR could not be set up as configured; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum OcrSetupError {
    #[error(
        "ADBRAG_OCR=api needs a vision model's endpoint: set ADBRAG_OCR_BASE_URL (and ADBRAG_OCR_API_KEY), or choose ADBRAG_OCR=local"
    )]
    NoEndpoint,
    #[error("{0}")]
    Tesseract(String),
    #[error("{0}")]
    Api(String),
}

/// Whether scans are read, and by what.
#[derive(Debug, Clone)]
pub enum OcrChoice {
    On(Arc<OcrEngine>),
    /// Scans are refused; why (`ADBRAG_OCR=off`, Tesseract missing), for the refusal.
    Off(String),
}

/// The engine `config` selects, or off: configured off, or `auto` without an API and without
/// Tesseract (logged at start-up; scans are then refused, saying why).
///
/// # Errors
///
/// [`OcrSetupError`] when `local` or `api` is asked for and cannot be had.
pub fn engine(config: &OcrConfig) -> Result<OcrChoice, OcrSetupError> {
    let renderer = render::Renderer::new(&config.pdftoppm, &config.limits);
    let ocr: Arc<dyn Ocr> = match (config.mode, &config.api) {
        (OcrMode::Off, _) => return Ok(OcrChoice::Off("ADBRAG_OCR=off".to_owned())),
        (OcrMode::Api, None) => return Err(OcrSetupError::NoEndpoint),
        (OcrMode::Api | OcrMode::Auto, Some(api)) => {
            Arc::new(api::ModelStudioOcr::new(api, &config.limits).map_err(OcrSetupError::Api)?)
        }
        (OcrMode::Local, _) => Arc::new(
            tesseract::Tesseract::new(&config.tesseract, &config.languages, &config.limits)
                .map_err(OcrSetupError::Tesseract)?,
        ),
        (OcrMode::Auto, None) => {
            match tesseract::Tesseract::new(&config.tesseract, &config.languages, &config.limits) {
                Ok(engine) => Arc::new(engine),
                Err(reason) => {
                    tracing::warn!(
                        "OCR is off: {reason}; scanned documents will be refused until it is installed"
                    );
                    return Ok(OcrChoice::Off(
                        "Tesseract is not installed, and no OCR API is configured".to_owned(),
                    ));
                }
            }
        }
    };
    tracing::info!(engine = ocr.engine(), "OCR reads scanned pages");
    Ok(OcrChoice::On(Arc::new(OcrEngine {
        ocr,
        renderer,
        limits: config.limits.clone(),
        permits: Arc::new(tokio::sync::Semaphore::new(
            config.limits.concurrency.max(1),
        )),
    })))
}

impl Default for OcrChoice {
    fn default() -> Self {
        Self::Off("no OCR engine is configured".to_owned())
    }
}

/// An engine, the renderer for pages it cannot have as they are, and the limits.
pub struct OcrEngine {
    ocr: Arc<dyn Ocr>,
    renderer: render::Renderer,
    limits: OcrLimits,
    /// Pages read at once, across documents.
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for OcrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcrEngine")
            .field("engine", &self.ocr.engine())
            .finish_non_exhaustive()
    }
}

/// What OCR made of a document's scans.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// Paragraphs with their pages, in page order.
    pub blocks: Vec<Block>,
    /// For the document's metadata, as `ocr`.
    pub record: serde_json::Value,
    /// Pages skipped, each a sentence saying why and what to do.
    pub warnings: Vec<String>,
}

/// Why a document's scans could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "the document has {pages} scanned pages to read with OCR, more than the limit of {limit}: split it, or raise ADBRAG_OCR_MAX_PAGES"
    )]
    TooManyPages { pages: u32, limit: u32 },
    /// No scan gave any text: the first page's reason.
    #[error("OCR found no text in the document: {0}")]
    NoText(String),
    #[error("OCR is unavailable ({0}): the document will be retried")]
    Unavailable(String),
}

impl OcrEngine {
    /// An engine over `ocr` (tests and tools; [`engine`] builds the configured one).
    pub fn new(ocr: Arc<dyn Ocr>, pdftoppm: &std::path::Path, limits: OcrLimits) -> Self {
        Self {
            renderer: render::Renderer::new(pdftoppm, &limits),
            permits: Arc::new(tokio::sync::Semaphore::new(limits.concurrency.max(1))),
            ocr,
            limits,
        }
    }

    pub fn name(&self) -> &str {
        self.ocr.engine()
    }

    /// The API engine's counters; `None` for Tesseract.
    pub fn usage(&self) -> Option<&crate::llm::Usage> {
        self.ocr.usage()
    }

    /// Page `scan` of `pdf` rasterised as OCR would get it, whatever its image (the benchmark
    /// compares this with the image taken as it is).
    ///
    /// # Errors
    ///
    /// Why the page could not be rasterised.
    pub async fn rasterise(&self, pdf: &[u8], scan: &Scan) -> Result<EncodedImage, String> {
        let file = render::Source::default();
        self.renderer
            .render(&file, pdf, scan.page, scan.size, self.limits.max_pixels)
            .await
            .map_err(|err| err.to_string())
    }

    /// Reads `scans` of the document `source`: the PDF's bytes, for the pages to rasterise, or
    /// `None` for an image upload.
    ///
    /// # Errors
    ///
    /// [`ReadError`]: too many pages, no text at all, or the engine unavailable.
    pub async fn read_scans(
        &self,
        source: Option<&[u8]>,
        scans: Vec<Scan>,
    ) -> Result<Read, ReadError> {
        let pages = scans.iter().map(frames).sum::<u32>();
        if pages > self.limits.max_pages {
            return Err(ReadError::TooManyPages {
                pages,
                limit: self.limits.max_pages,
            });
        }
        let file = render::Source::default();
        let file = &file;
        let results: Vec<(u32, Result<Vec<PageText>, OcrError>)> =
            futures::stream::iter(scans.into_iter().map(|scan| async move {
                let page = scan.page;
                (page, self.read_scan(source, file, scan).await)
            }))
            .buffered(self.limits.concurrency.max(1))
            .collect()
            .await;

        let mut read = Read::default();
        let (mut read_pages, mut low, mut confidences) = (Vec::new(), Vec::new(), Vec::new());
        for (first_page, result) in results {
            let texts = match result {
                Ok(texts) => texts,
                Err(OcrError::Unavailable(reason)) => return Err(ReadError::Unavailable(reason)),
                Err(OcrError::Page(reason)) => {
                    read.warnings.push(reason);
                    continue;
                }
            };
            for (page, text) in (first_page..).zip(texts) {
                if text.paragraphs.is_empty() {
                    continue;
                }
                read_pages.push(page);
                if let Some(confidence) = text.confidence {
                    confidences.push(confidence);
                    if confidence < self.limits.min_confidence {
                        low.push(page);
                    }
                }
                for paragraph in text.paragraphs {
                    read.blocks.push(Block {
                        kind: BlockKind::Paragraph,
                        text: paragraph,
                        page: Some(page),
                    });
                }
            }
        }
        if read.blocks.is_empty() {
            return Err(ReadError::NoText(read.warnings.first().cloned().unwrap_or_else(
                || "its scanned pages are blank, or too faint to read: scan them again at 300 dpi".to_owned(),
            )));
        }
        let mean = (!confidences.is_empty()).then(|| {
            let mean = confidences.iter().sum::<f32>() / confidences.len() as f32;
            (f64::from(mean) * 1000.0).round() / 1000.0
        });
        read.record = serde_json::json!({
            "engine": self.ocr.engine(),
            "pages": read_pages,
            "mean_confidence": mean,
            "low_confidence_pages": low,
        });
        if !low.is_empty() {
            read.warnings.push(format!(
                "OCR read {} with low confidence (below {}): check the text of {}, or scan again at 300 dpi",
                plural(low.len(), "page"),
                self.limits.min_confidence,
                if low.len() == 1 { "that page" } else { "those pages" },
            ));
        }
        Ok(read)
    }

    async fn read_scan(
        &self,
        source: Option<&[u8]>,
        file: &render::Source,
        scan: Scan,
    ) -> Result<Vec<PageText>, OcrError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| OcrError::Unavailable("shutting down".to_owned()))?;
        let page = scan.page;
        let on_page = |reason: String| OcrError::Page(format!("page {page}: {reason}"));
        match scan.image {
            ScanImage::Refused(reason) => return Err(OcrError::Page(reason)),
            ScanImage::Render => {}
            ScanImage::Encoded(image) => match self.ocr.accepts(&image) {
                Ok(()) => return self.read_image(page, &image).await,
                // A PDF's page can be had smaller; an uploaded image cannot.
                Err(reason) if source.is_none() => return Err(on_page(reason)),
                Err(_) => {}
            },
        }
        let Some(bytes) = source else {
            return Err(on_page("there is no PDF to rasterise it from".to_owned()));
        };
        let max_pixels = self.ocr.max_pixels().map_or(self.limits.max_pixels, |max| {
            max.min(self.limits.max_pixels)
        });
        let image = self
            .renderer
            .render(file, bytes, page, scan.size, max_pixels)
            .await
            .map_err(|err| match err {
                render::RenderError::Page(reason) => on_page(reason),
                render::RenderError::Unavailable(reason) => OcrError::Unavailable(reason),
            })?;
        self.ocr.accepts(&image).map_err(on_page)?;
        self.read_image(page, &image).await
    }

    async fn read_image(&self, page: u32, image: &EncodedImage) -> Result<Vec<PageText>, OcrError> {
        self.ocr.read(image).await.map_err(|err| match err {
            OcrError::Page(reason) if image.frames <= 1 => {
                OcrError::Page(format!("page {page}: {reason}"))
            }
            other => other,
        })
    }
}

/// Character error rate of `hypothesis` against `reference`: their edit distance (Levenshtein,
/// over characters) divided by the reference's length, after whitespace is collapsed — removed
/// entirely for Chinese, which has no spaces between words. What the OCR tests bound and the
/// OCR benchmark reports.
#[must_use]
pub fn character_error_rate(reference: &str, hypothesis: &str, chinese: bool) -> f64 {
    let norm = |text: &str| -> Vec<char> {
        if chinese {
            text.chars().filter(|c| !c.is_whitespace()).collect()
        } else {
            text.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .collect()
        }
    };
    let (r, h) = (norm(reference), norm(hypothesis));
    let mut previous: Vec<usize> = (0..=h.len()).collect();
    for (i, rc) in r.iter().enumerate() {
        let mut current = vec![i + 1; h.len() + 1];
        for (j, hc) in h.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(rc != hc))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = previous[h.len()] as f64 / r.len().max(1) as f64;
    rate
}

fn frames(scan: &Scan) -> u32 {
    match &scan.image {
        ScanImage::Encoded(image) => image.frames.max(1),
        ScanImage::Render | ScanImage::Refused(_) => 1,
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::ImageKind;

    /// Reads every image as the text it was made with (its bytes), with a fixed confidence;
    /// bytes "corrupt" fail the page, "down" fail as unavailable.
    struct Echo(f32);

    #[async_trait]
    impl Ocr for Echo {
        fn engine(&self) -> &str {
            "echo"
        }
        async fn read(&self, image: &EncodedImage) -> Result<Vec<PageText>, OcrError> {
            match image.bytes.as_slice() {
                b"corrupt" => Err(OcrError::Page("the image could not be read".into())),
                b"down" => Err(OcrError::Unavailable("the engine is down".into())),
                text => Ok((0..image.frames)
                    .map(|_| PageText {
                        paragraphs: vec![String::from_utf8_lossy(text).into_owned()],
                        confidence: Some(self.0),
                    })
                    .collect()),
            }
        }
    }

    fn scan(page: u32, text: &str) -> Scan {
        Scan {
            page,
            size: (595.0, 842.0),
            image: ScanImage::Encoded(Arc::new(EncodedImage {
                kind: ImageKind::Png,
                bytes: text.as_bytes().to_vec(),
                width: 10,
                height: 10,
                frames: 1,
            })),
        }
    }

    fn engine(confidence: f32, limits: OcrLimits) -> OcrEngine {
        OcrEngine::new(
            Arc::new(Echo(confidence)),
            std::path::Path::new("pdftoppm"),
            limits,
        )
    }

    #[test]
    fn the_character_error_rate_counts_edits_over_the_reference() {
        assert!(character_error_rate("free  software", "free software", false).abs() < 1e-9);
        assert!((character_error_rate("abcd", "abxd", false) - 0.25).abs() < 1e-9);
        assert!((character_error_rate("中文 文本", "中文文木", true) - 0.25).abs() < 1e-9);
        assert!((character_error_rate("abc", "", false) - 1.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn pages_come_back_in_order_with_the_record() {
        let read = engine(0.9, OcrLimits::default())
            .read_scans(None, vec![scan(2, "two"), scan(5, "five")])
            .await
            .unwrap();
        let pages: Vec<(Option<u32>, &str)> = read
            .blocks
            .iter()
            .map(|b| (b.page, b.text.as_str()))
            .collect();
        assert_eq!(pages, [(Some(2), "two"), (Some(5), "five")]);
        assert_eq!(
            read.record,
            serde_json::json!({ "engine": "echo", "pages": [2, 5], "mean_confidence": 0.9, "low_confidence_pages": [] })
        );
        assert!(read.warnings.is_empty());
    }

    #[tokio::test]
    async fn a_corrupt_page_is_skipped_with_its_reason_and_the_rest_goes_on() {
        let read = engine(0.9, OcrLimits::default())
            .read_scans(None, vec![scan(1, "corrupt"), scan(2, "fine")])
            .await
            .unwrap();
        assert_eq!(read.blocks.len(), 1);
        assert_eq!(read.warnings, ["page 1: the image could not be read"]);
        let refused = Scan {
            page: 3,
            size: (595.0, 842.0),
            image: ScanImage::Refused("page 3: too big".into()),
        };
        let err = engine(0.9, OcrLimits::default())
            .read_scans(None, vec![refused, scan(4, "corrupt")])
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OCR found no text in the document: page 3: too big"
        );
    }

    #[tokio::test]
    async fn low_confidence_pages_are_kept_and_flagged() {
        let read = engine(0.4, OcrLimits::default())
            .read_scans(None, vec![scan(1, "faint")])
            .await
            .unwrap();
        assert_eq!(read.blocks.len(), 1);
        assert_eq!(read.record["low_confidence_pages"], serde_json::json!([1]));
        assert_eq!(
            read.warnings,
            [
                "OCR read 1 page with low confidence (below 0.6): check the text of that page, or scan again at 300 dpi"
            ]
        );
    }

    #[tokio::test]
    async fn too_many_pages_are_refused_before_any_is_read_naming_the_variable() {
        let limits = OcrLimits {
            max_pages: 3,
            ..OcrLimits::default()
        };
        let mut tiff = scan(1, "down");
        if let ScanImage::Encoded(image) = &mut tiff.image {
            Arc::make_mut(image).frames = 500;
        }
        let err = engine(0.9, limits)
            .read_scans(None, vec![tiff])
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the document has 500 scanned pages to read with OCR, more than the limit of 3: split it, or raise ADBRAG_OCR_MAX_PAGES"
        );
    }

    #[tokio::test]
    async fn an_engine_that_is_down_fails_the_document_as_transient() {
        let err = engine(0.9, OcrLimits::default())
            .read_scans(None, vec![scan(1, "fine"), scan(2, "down")])
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Unavailable(_)), "{err}");
    }
}
