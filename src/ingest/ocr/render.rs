//! Rasterising a PDF page for OCR, with poppler's `pdftoppm` (Debian's `poppler-utils`), when its
//! image cannot be given to the engine as it is (CCITT or JBIG2 fax images, JPEG 2000, several
//! images, inline images).
//!
//! The document is written once to a private temporary file (removed when the document is done)
//! and each page is rendered from it to a grayscale PNG on stdout: `pdftoppm -f N -l N -r DPI
//! -gray -png`. The resolution is [`OcrLimits::dpi`], lowered for a large page so that it stays
//! within the pixel limit (a page too large even at 100 dpi is refused). Like Tesseract, the
//! process is killed after the page timeout and runs under `prlimit --as` when it is installed.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::sync::OnceCell;

use super::OcrLimits;
use crate::ingest::parse::{EncodedImage, ImageKind};

/// The lowest resolution worth reading: below it, body text is a few pixels high.
const MIN_DPI: u32 = 100;

#[derive(Debug)]
pub struct Renderer {
    program: PathBuf,
    dpi: u32,
    timeout: Duration,
    max_memory: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// This page cannot be rasterised.
    #[error("{0}")]
    Page(String),
    /// pdftoppm is missing or the machine failed: retried.
    #[error("{0}")]
    Unavailable(String),
}

/// A document written to a temporary file once, when its first page needs rendering.
#[derive(Default)]
pub struct Source {
    file: OnceCell<tempfile::NamedTempFile>,
}

impl Renderer {
    pub fn new(program: &Path, limits: &OcrLimits) -> Self {
        Self {
            program: program.to_owned(),
            dpi: limits.dpi,
            timeout: limits.page_timeout,
            max_memory: limits.max_memory,
        }
    }

    /// The resolution a page of `width` × `height` points is rendered at: the configured one, or
    /// less so that it stays within `max_pixels`; `None` when even [`MIN_DPI`] is too many.
    pub fn dpi_for(&self, width: f32, height: f32, max_pixels: u64) -> Option<u32> {
        let inches = f64::from(width.max(1.0)) / 72.0 * f64::from(height.max(1.0)) / 72.0;
        #[allow(clippy::cast_precision_loss)]
        let fitting = (max_pixels as f64 / inches).sqrt().floor();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let dpi = self.dpi.min(fitting.min(f64::from(u32::MAX)) as u32);
        (dpi >= MIN_DPI).then_some(dpi)
    }

    /// Page `page` of `source` (the PDF `bytes`) as a grayscale PNG of at most `max_pixels`.
    ///
    /// # Errors
    ///
    /// [`RenderError::Page`] when the page is too large or pdftoppm fails on it,
    /// [`RenderError::Unavailable`] when pdftoppm cannot run.
    pub async fn render(
        &self,
        source: &Source,
        bytes: &[u8],
        page: u32,
        (width, height): (f32, f32),
        max_pixels: u64,
    ) -> Result<EncodedImage, RenderError> {
        let Some(dpi) = self.dpi_for(width, height, max_pixels) else {
            return Err(RenderError::Page(format!(
                "it is {:.0} × {:.0} inches, too large to rasterise at {MIN_DPI} dpi within {max_pixels} pixels: raise ADBRAG_OCR_MAX_PIXELS",
                width / 72.0,
                height / 72.0
            )));
        };
        let file = source
            .file
            .get_or_try_init(|| async {
                let bytes = bytes.to_vec();
                tokio::task::spawn_blocking(move || {
                    let mut file = tempfile::Builder::new()
                        .prefix("adbrag-ocr-")
                        .suffix(".pdf")
                        .tempfile()?;
                    file.write_all(&bytes)?;
                    file.flush()?;
                    Ok::<_, std::io::Error>(file)
                })
                .await
                .map_err(|err| std::io::Error::other(err.to_string()))?
            })
            .await
            .map_err(|err| {
                RenderError::Unavailable(format!(
                    "the PDF could not be written to a temporary file to rasterise it ({err}): free space in {}",
                    std::env::temp_dir().display()
                ))
            })?;

        let mut command = prlimited(&self.program, self.max_memory);
        command
            .args(["-f", &page.to_string(), "-l", &page.to_string()])
            .args(["-r", &dpi.to_string(), "-gray", "-png", "--"])
            .arg(file.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|err| {
            RenderError::Unavailable(format!(
                "pdftoppm ({}) could not be started: {err}; install poppler-utils (scripts/ocr.sh does), or set ADBRAG_PDFTOPPM",
                self.program.display()
            ))
        })?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                RenderError::Page(format!(
                    "rasterising it took longer than {:?} and was stopped: raise ADBRAG_OCR_PAGE_TIMEOUT",
                    self.timeout
                ))
            })?
            .map_err(|err| RenderError::Unavailable(format!("pdftoppm failed to run: {err}")))?;
        if !output.status.success() || output.stdout.is_empty() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr.lines().map(str::trim).rfind(|l| !l.is_empty());
            return Err(RenderError::Page(format!(
                "it could not be rasterised ({}): re-export the PDF and upload it again",
                said.unwrap_or("pdftoppm gave no image")
            )));
        }
        let size = imagesize::blob_size(&output.stdout).map_err(|err| {
            RenderError::Page(format!("pdftoppm gave an unreadable image ({err})"))
        })?;
        Ok(EncodedImage {
            kind: ImageKind::Png,
            width: u32::try_from(size.width).unwrap_or(u32::MAX),
            height: u32::try_from(size.height).unwrap_or(u32::MAX),
            bytes: output.stdout,
            frames: 1,
        })
    }
}

/// `program` under `prlimit --as=max_memory` when util-linux's prlimit is installed.
pub fn prlimited(program: &Path, max_memory: u64) -> tokio::process::Command {
    static PRLIMIT: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        std::process::Command::new("prlimit")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if *PRLIMIT {
        let mut command = tokio::process::Command::new("prlimit");
        command
            .arg(format!("--as={max_memory}"))
            .arg("--")
            .arg(program);
        command
    } else {
        tokio::process::Command::new(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_page_is_rendered_at_a_lower_resolution_and_a_huge_one_refused() {
        let renderer = Renderer::new(Path::new("pdftoppm"), &OcrLimits::default());
        // A4 at 300 dpi is 8.7 megapixels.
        assert_eq!(renderer.dpi_for(595.0, 842.0, 50_000_000), Some(300));
        assert_eq!(renderer.dpi_for(595.0, 842.0, 4_350_000), Some(212));
        // 200 × 200 inches.
        assert_eq!(renderer.dpi_for(14_400.0, 14_400.0, 50_000_000), None);
    }
}
