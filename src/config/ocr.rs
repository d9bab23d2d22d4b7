//! The OCR settings: which engine reads scanned pages and uploaded images, in which languages,
//! and the limits per page and per document. `docs/ocr.md` is the reference.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use super::{ConfigError, secret};
use crate::{
    ingest::{
        ocr::{ApiConfig, OcrConfig, OcrLimits, OcrMode},
        parse::ParseLimits,
    },
    llm::Endpoint,
};

/// `ADBRAG_OCR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OcrModeArg {
    /// The OCR API when ADBRAG_OCR_BASE_URL is set, else Tesseract when installed, else off.
    Auto,
    /// Tesseract, on this machine (refused at start-up when it or a language is missing).
    Local,
    /// The vision model at ADBRAG_OCR_BASE_URL (Model Studio's qwen-vl-ocr).
    Api,
    /// No OCR: scanned documents are refused, saying so.
    Off,
}

const LANGUAGES: &str = "eng+chi_sim";
const TESSERACT: &str = "tesseract";
const PDFTOPPM: &str = "pdftoppm";
const MODEL: &str = "qwen-vl-ocr";
const MAX_ATTEMPTS: u32 = 6;

/// Which engine reads scans, and what bounds it.
#[derive(Debug, Clone, Args)]
pub struct OcrSettings {
    /// OCR of scanned PDF pages and uploaded images.
    #[arg(id = "ocr_mode", long = "ocr", env = "ADBRAG_OCR", value_enum, default_value_t = OcrModeArg::Auto)]
    pub mode: OcrModeArg,

    /// Tesseract's languages, joined by '+' (Debian packages tesseract-ocr-eng, tesseract-ocr-chi-sim).
    #[arg(id = "ocr_languages", 
        long = "ocr-languages",
        env = "ADBRAG_OCR_LANGUAGES",
        default_value = LANGUAGES
    )]
    pub languages: String,

    /// The tesseract program.
    #[arg(id = "ocr_tesseract", long = "tesseract", env = "ADBRAG_TESSERACT", default_value = TESSERACT)]
    pub tesseract: PathBuf,

    /// poppler's pdftoppm, which rasterises the pages whose images cannot be read as they are.
    #[arg(id = "ocr_pdftoppm", long = "pdftoppm", env = "ADBRAG_PDFTOPPM", default_value = PDFTOPPM)]
    pub pdftoppm: PathBuf,

    /// OpenAI-compatible endpoint of a vision OCR model, e.g.
    /// https://dashscope-intl.aliyuncs.com/compatible-mode/v1. Unset: Tesseract.
    #[arg(
        id = "ocr_base_url",
        long = "ocr-base-url",
        env = "ADBRAG_OCR_BASE_URL"
    )]
    pub base_url: Option<String>,

    /// The OCR endpoint's API key (Model Studio: a DashScope key).
    #[arg(id = "ocr_api_key", long = "ocr-api-key", env = "ADBRAG_OCR_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<SecretString>,

    /// The OCR model at the endpoint (in Beijing also qwen-vl-ocr-latest).
    #[arg(id = "ocr_model", long = "ocr-model", env = "ADBRAG_OCR_MODEL", default_value = MODEL)]
    pub model: String,

    /// Attempts per page at the API (throttling, server errors and timeouts are retried).
    #[arg(id = "ocr_max_attempts", long = "ocr-max-attempts", env = "ADBRAG_OCR_MAX_ATTEMPTS", default_value_t = MAX_ATTEMPTS)]
    pub max_attempts: u32,

    /// Pages read at once, across the process (Tesseract processes, or API requests).
    #[arg(id = "ocr_concurrency", long = "ocr-concurrency", env = "ADBRAG_OCR_CONCURRENCY", default_value_t = OcrLimits::default().concurrency)]
    pub concurrency: usize,

    /// Scanned pages read per document; a document with more is refused.
    #[arg(id = "ocr_max_pages", long = "ocr-max-pages", env = "ADBRAG_OCR_MAX_PAGES", default_value_t = OcrLimits::default().max_pages)]
    pub max_pages: u32,

    /// Pixels per page image (width × height); larger images are refused before decoding.
    #[arg(id = "ocr_max_pixels", long = "ocr-max-pixels", env = "ADBRAG_OCR_MAX_PIXELS", default_value_t = ParseLimits::DEFAULT_MAX_IMAGE_PIXELS)]
    pub max_pixels: u64,

    /// Seconds for one page (rasterising it, and reading it); the engine is stopped past it.
    #[arg(id = "ocr_page_timeout_secs", long = "ocr-page-timeout", env = "ADBRAG_OCR_PAGE_TIMEOUT", default_value_t = OcrLimits::default().page_timeout.as_secs())]
    pub page_timeout_secs: u64,

    /// Memory of one Tesseract or pdftoppm process, in MiB.
    #[arg(id = "ocr_max_memory_mb", long = "ocr-max-memory-mb", env = "ADBRAG_OCR_MAX_MEMORY_MB", default_value_t = OcrLimits::default().max_memory >> 20)]
    pub max_memory_mb: u64,

    /// Resolution pages are rasterised at, when their image cannot be read as it is.
    #[arg(id = "ocr_dpi", long = "ocr-dpi", env = "ADBRAG_OCR_DPI", default_value_t = OcrLimits::default().dpi)]
    pub dpi: u32,

    /// A page whose mean word confidence (0 to 1) is below this is kept and flagged.
    #[arg(id = "ocr_min_confidence", long = "ocr-min-confidence", env = "ADBRAG_OCR_MIN_CONFIDENCE", default_value_t = OcrLimits::default().min_confidence)]
    pub min_confidence: f32,
}

impl Default for OcrSettings {
    /// The flags' defaults (for tools and tests that build settings without a command line).
    fn default() -> Self {
        let limits = OcrLimits::default();
        Self {
            mode: OcrModeArg::Auto,
            languages: LANGUAGES.to_owned(),
            tesseract: TESSERACT.into(),
            pdftoppm: PDFTOPPM.into(),
            base_url: None,
            api_key: None,
            model: MODEL.to_owned(),
            max_attempts: MAX_ATTEMPTS,
            concurrency: limits.concurrency,
            max_pages: limits.max_pages,
            max_pixels: ParseLimits::DEFAULT_MAX_IMAGE_PIXELS,
            page_timeout_secs: limits.page_timeout.as_secs(),
            max_memory_mb: limits.max_memory >> 20,
            dpi: limits.dpi,
            min_confidence: limits.min_confidence,
        }
    }
}

impl OcrSettings {
    /// The OCR configuration. Refuses a resolution outside 72–1200 dpi, a confidence floor outside
    /// 0–1, and an API key without an endpoint.
    pub fn config(&self) -> Result<OcrConfig, ConfigError> {
        if !(72..=1200).contains(&self.dpi) {
            return Err(ConfigError::Invalid {
                name: "ADBRAG_OCR_DPI",
                problem: format!("{} is outside 72 to 1200", self.dpi),
            });
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(ConfigError::Invalid {
                name: "ADBRAG_OCR_MIN_CONFIDENCE",
                problem: format!("{} is outside 0 to 1", self.min_confidence),
            });
        }
        if self.api_key.is_some() && self.base_url.is_none() {
            return Err(ConfigError::Missing {
                name: "ADBRAG_OCR_BASE_URL",
                hint: "ADBRAG_OCR_API_KEY is set, but no endpoint to send it to: set ADBRAG_OCR_BASE_URL (e.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1), or unset the key",
            });
        }
        let api = self.base_url.as_ref().map(|base_url| ApiConfig {
            endpoint: Endpoint {
                base_url: base_url.clone(),
                api_key: self.api_key.clone(),
            },
            model: self.model.clone(),
            max_attempts: self.max_attempts.max(1),
        });
        Ok(OcrConfig {
            mode: match self.mode {
                OcrModeArg::Auto => OcrMode::Auto,
                OcrModeArg::Local => OcrMode::Local,
                OcrModeArg::Api => OcrMode::Api,
                OcrModeArg::Off => OcrMode::Off,
            },
            languages: self.languages.clone(),
            tesseract: self.tesseract.clone(),
            pdftoppm: self.pdftoppm.clone(),
            api,
            limits: OcrLimits {
                max_pages: self.max_pages,
                page_timeout: Duration::from_secs(self.page_timeout_secs.max(1)),
                max_memory: self.max_memory_mb.max(64) << 20,
                dpi: self.dpi,
                max_pixels: self.max_pixels,
                concurrency: self.concurrency.max(1),
                min_confidence: self.min_confidence,
            },
        })
    }
}
