//! OCR by a vision model behind the OpenAI-compatible API: Model Studio's `qwen-vl-ocr`, in
//! production.
//!
//! One Chat Completions request per page, as Model Studio's OCR guide shows it: a user message
//! whose content is the image, as a base64 data URL (`image_url`, with the model's `min_pixels`
//! and `max_pixels` beside it), and the plain text-recognition prompt (the model ignores system
//! messages). It goes through the same transport as the embedder and the chat model
//! ([`crate::llm::transport`]): retries with backoff on 429, 5xx and timeouts, an adaptive limit
//! on requests in flight, and the same usage counters.
//!
//! Model Studio's limits, checked before anything is sent (`docs/ocr.md` quotes the
//! documentation): width and height above 10 pixels, an aspect ratio within 200:1, at most
//! 15.68 million pixels (TIFF only up to 4K), and a base64 string of at most 10 MB. A PDF page
//! over them is rasterised again within [`MAX_PIXELS`]; an uploaded image over them is refused,
//! saying so.

use std::sync::Arc;

use async_openai::{Client, config::OpenAIConfig};
use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{ApiConfig, Ocr, OcrError, OcrLimits, PageText};
use crate::{
    ingest::parse::{EncodedImage, ImageKind, collapse_whitespace},
    llm::{
        Usage,
        transport::{self, Failure},
    },
};

/// The model's own prompt for plain text recognition (its `text_recognition` task).
const PROMPT: &str = "Please output only the text content from the image without any additional descriptions or formatting.";
/// Pixels the model scales an image down to (its default `max_pixels`, 32 × 32 × 8192): a page
/// rasterised for it is made no larger.
pub const MAX_PIXELS: u64 = 32 * 32 * 8192;
/// Its `min_pixels` default (32 × 32 × 3).
const MIN_PIXELS: u64 = 32 * 32 * 3;
/// Pixels the API accepts at most.
const HARD_MAX_PIXELS: u64 = 15_680_000;
/// Formats other than JPEG and PNG only up to 4K.
const MAX_OTHER_FORMAT_PIXELS: u64 = 3840 * 2160;
/// Length of the base64 data the API accepts ("Exceeded limit on max bytes per data-uri item :
/// 10485760").
const MAX_BASE64_BYTES: usize = 10_485_760;

pub struct ModelStudioOcr {
    client: Client<OpenAIConfig>,
    model: String,
    usage: Arc<Usage>,
}

impl ModelStudioOcr {
    /// # Errors
    ///
    /// A sentence when the base URL is not an http(s) URL.
    pub fn new(config: &ApiConfig, limits: &OcrLimits) -> Result<Self, String> {
        let (client, usage) = transport::client(
            &config.endpoint,
            limits.page_timeout,
            config.max_attempts,
            limits.concurrency,
        )
        .map_err(|err| format!("ADBRAG_OCR_BASE_URL: {err}"))?;
        Ok(Self {
            client,
            model: config.model.clone(),
            usage,
        })
    }

    fn body(&self, image: &EncodedImage, data: &str) -> Value {
        json!({
            "model": self.model,
            "messages": [{
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": { "url": format!("data:{};base64,{data}", image.kind.mime_type()) },
                        "min_pixels": MIN_PIXELS,
                        "max_pixels": MAX_PIXELS,
                    },
                    { "type": "text", "text": PROMPT },
                ],
            }],
        })
    }
}

#[async_trait]
impl Ocr for ModelStudioOcr {
    fn engine(&self) -> &str {
        &self.model
    }

    fn accepts(&self, image: &EncodedImage) -> Result<(), String> {
        let pixels = u64::from(image.width) * u64::from(image.height);
        let (long, short) = (
            image.width.max(image.height),
            image.width.min(image.height).max(1),
        );
        if image.frames > 1 {
            return Err(format!(
                "the OCR API reads one image at a time and this TIFF has {} frames: upload the pages as a PDF, or use ADBRAG_OCR=local",
                image.frames
            ));
        }
        if image.width <= 10 || image.height <= 10 || long / short > 200 {
            return Err(format!(
                "the image is {} × {} pixels, and the OCR API needs both sides above 10 pixels and at most 200:1: scan the page again",
                image.width, image.height
            ));
        }
        let limit = match image.kind {
            ImageKind::Png | ImageKind::Jpeg => HARD_MAX_PIXELS,
            ImageKind::Tiff => MAX_OTHER_FORMAT_PIXELS,
        };
        if pixels > limit {
            return Err(format!(
                "the image is {} × {} pixels, more than the OCR API accepts in a {} ({limit}): scan it at a lower resolution, or use ADBRAG_OCR=local",
                image.width,
                image.height,
                image.kind.name(),
            ));
        }
        let encoded = image.bytes.len().div_ceil(3) * 4;
        if encoded > MAX_BASE64_BYTES {
            return Err(format!(
                "the image is {} bytes, {encoded} in base64, more than the OCR API accepts ({MAX_BASE64_BYTES}): save it as a smaller JPEG, or use ADBRAG_OCR=local",
                image.bytes.len()
            ));
        }
        Ok(())
    }

    fn max_pixels(&self) -> Option<u64> {
        Some(MAX_PIXELS)
    }

    fn usage(&self) -> Option<&Usage> {
        Some(&self.usage)
    }

    async fn read(&self, image: &EncodedImage) -> Result<Vec<PageText>, OcrError> {
        self.accepts(image).map_err(OcrError::Page)?;
        let data = base64::engine::general_purpose::STANDARD.encode(&image.bytes);
        let response: Result<Value, _> = self
            .client
            .chat()
            .create_byot(self.body(image, &data))
            .await;
        let response = response.map_err(|err| match transport::classify(err) {
            // The image was refused (too large, undecodable, filtered): this page's fault.
            Failure::Rejected {
                status: status @ (400 | 413 | 422),
                code,
                message,
            } => OcrError::Page(format!(
                "the OCR API refused the image ({status}{code}: {message}): re-scan the page, or use ADBRAG_OCR=local"
            )),
            // 401, 403, 404: the key, the account or the model name.
            Failure::Rejected {
                status,
                code,
                message,
            } => OcrError::Unavailable(format!(
                "the OCR API refused the request ({status}{code}: {message}): check ADBRAG_OCR_API_KEY and ADBRAG_OCR_MODEL"
            )),
            Failure::Unavailable(message)
            | Failure::Interrupted(message)
            | Failure::Malformed(message) => OcrError::Unavailable(format!(
                "the OCR API kept failing ({message}): retry later, or lower ADBRAG_OCR_CONCURRENCY"
            )),
        })?;
        let Some(text) = response["choices"][0]["message"]["content"].as_str() else {
            return Err(OcrError::Unavailable(
                "the OCR API answered without choices[0].message.content".to_owned(),
            ));
        };
        let tokens = response["usage"]["total_tokens"].as_u64().unwrap_or(0);
        self.usage.record_embedded(1, tokens);
        if response["choices"][0]["finish_reason"].as_str() == Some("length") {
            tracing::warn!(
                model = %self.model,
                "the OCR model's answer was cut at its output limit: the page's end is missing"
            );
        }
        Ok(vec![PageText {
            paragraphs: paragraphs(text),
            confidence: None,
        }])
    }
}

/// The model's text as paragraphs: a code fence around it dropped, a blank line between
/// paragraphs, and each paragraph's lines joined as the parsers join wrapped lines
/// ([`collapse_whitespace`]: no space between CJK characters).
fn paragraphs(text: &str) -> Vec<String> {
    let text = text.trim();
    let text = text.strip_prefix("```").map_or(text, |rest| {
        rest.split_once('\n').map_or("", |(_, body)| body)
    });
    let text = text.trim_end().strip_suffix("```").unwrap_or(text);
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain([""]) {
        if line.trim().is_empty() {
            let paragraph = collapse_whitespace(&current);
            if !paragraph.is_empty() {
                paragraphs.push(paragraph);
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    paragraphs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_go_lines_join_and_blank_lines_part_paragraphs() {
        assert_eq!(
            paragraphs("```text\nDebian is a\nfree system.\n\n中文\n段落\n```"),
            ["Debian is a free system.", "中文段落"]
        );
        assert!(paragraphs("  ").is_empty());
    }
}
