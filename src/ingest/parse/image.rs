//! Image uploads (PNG, JPEG, TIFF): no text of their own, so each becomes a [`Scan`] per page
//! (a TIFF's frames are its pages) for OCR to read.
//!
//! Only the headers are read here: the size in pixels, and a TIFF's frames. An image larger than
//! [`ParseLimits::max_image_pixels`] is refused before anything decodes it, so a small file that
//! declares 100,000 × 100,000 pixels (an image bomb) costs nothing.

use super::{EncodedImage, Format, ParseError, ParseLimits, Parsed, Scan, ScanImage};

/// The image formats OCR reads as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Png,
    Jpeg,
    Tiff,
}

impl ImageKind {
    #[must_use]
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Tiff => "image/tiff",
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "PNG image",
            Self::Jpeg => "JPEG image",
            Self::Tiff => "TIFF image",
        }
    }

    /// The kind of an image file, from its magic number.
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(b"\xFF\xD8\xFF") {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
            Some(Self::Tiff)
        } else {
            None
        }
    }
}

/// Frames read from a TIFF's chain of directories before it is refused: far more than any
/// OCR page limit, so the refusal names the real count up to here.
const MAX_TIFF_FRAMES: u32 = 100_000;

pub(super) fn parse(
    bytes: &[u8],
    kind: ImageKind,
    limits: &ParseLimits,
) -> Result<Parsed, ParseError> {
    let image = describe(bytes, kind, limits)?;
    let frames = image.frames;
    Ok(Parsed {
        title: None,
        format: Format::Image(kind),
        blocks: Vec::new(),
        pages: Some(frames),
        warnings: Vec::new(),
        scans: vec![Scan {
            page: 1,
            size: (points(image.width), points(image.height)),
            image: ScanImage::Encoded(std::sync::Arc::new(image)),
        }],
    })
}

/// `pixels` at 300 dpi, in points.
#[allow(clippy::cast_precision_loss)]
fn points(pixels: u32) -> f32 {
    pixels as f32 / 300.0 * 72.0
}

/// The image as OCR gets it, its size checked against the limit.
///
/// # Errors
///
/// [`ParseError::CorruptImage`] when the header cannot be read, [`ParseError::ImageTooLarge`]
/// when it declares more pixels than the limit.
pub fn describe(
    bytes: &[u8],
    kind: ImageKind,
    limits: &ParseLimits,
) -> Result<EncodedImage, ParseError> {
    let (width, height, frames) = match kind {
        ImageKind::Tiff => tiff_frames(bytes).map_err(corrupt(kind))?,
        ImageKind::Png | ImageKind::Jpeg => {
            let size = imagesize::blob_size(bytes).map_err(|err| ParseError::CorruptImage {
                kind: kind.name(),
                reason: err.to_string(),
            })?;
            let dimension = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            (dimension(size.width), dimension(size.height), 1)
        }
    };
    check_pixels(width, height, limits)?;
    if width == 0 || height == 0 {
        return Err(ParseError::CorruptImage {
            kind: kind.name(),
            reason: format!("it declares {width} × {height} pixels"),
        });
    }
    Ok(EncodedImage {
        kind,
        bytes: bytes.to_vec(),
        width,
        height,
        frames,
    })
}

/// Refuses an image of more pixels than the limit, naming the variable that raises it.
///
/// # Errors
///
/// [`ParseError::ImageTooLarge`].
pub fn check_pixels(width: u32, height: u32, limits: &ParseLimits) -> Result<(), ParseError> {
    if u64::from(width) * u64::from(height) > limits.max_image_pixels {
        return Err(ParseError::ImageTooLarge {
            width,
            height,
            limit: limits.max_image_pixels,
        });
    }
    Ok(())
}

fn corrupt(kind: ImageKind) -> impl Fn(String) -> ParseError {
    move |reason| ParseError::CorruptImage {
        kind: kind.name(),
        reason,
    }
}

/// The first frame's size and the number of frames, walking the chain of image file
/// directories (IFDs) without decoding any. The largest frame's size is returned, so one huge
/// frame behind a small first one is still refused.
fn tiff_frames(bytes: &[u8]) -> Result<(u32, u32, u32), String> {
    let little = match bytes.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Err("no TIFF header".to_owned()),
    };
    let u16_at = |at: usize| -> Option<u32> {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(u32::from(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }))
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut offset = u32_at(4).ok_or("the header is cut short")? as usize;
    let mut seen = std::collections::HashSet::new();
    let (mut width, mut height, mut frames) = (0u32, 0u32, 0u32);
    while offset != 0 {
        if !seen.insert(offset) {
            return Err("its directories form a loop".to_owned());
        }
        if frames >= MAX_TIFF_FRAMES {
            break;
        }
        let entries = u16_at(offset).ok_or_else(|| format!("frame {} is cut short", frames + 1))?;
        let (mut w, mut h) = (None, None);
        for i in 0..entries as usize {
            let entry = offset + 2 + i * 12;
            let tag = u16_at(entry).ok_or_else(|| format!("frame {} is cut short", frames + 1))?;
            let field_type = u16_at(entry + 2).unwrap_or(0);
            // SHORT (3) values sit in the first two bytes of the value field; LONG (4) in all four.
            let value = match field_type {
                3 => u16_at(entry + 8),
                4 => u32_at(entry + 8),
                _ => None,
            };
            match tag {
                256 => w = value,
                257 => h = value,
                _ => {}
            }
        }
        let (Some(w), Some(h)) = (w, h) else {
            return Err(format!("frame {} has no width or height", frames + 1));
        };
        if u64::from(w) * u64::from(h) > u64::from(width) * u64::from(height) {
            (width, height) = (w, h);
        }
        frames += 1;
        offset = u32_at(offset + 2 + entries as usize * 12)
            .ok_or_else(|| format!("frame {} is cut short", frames))? as usize;
    }
    if frames == 0 {
        return Err("it holds no frames".to_owned());
    }
    Ok((width, height, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ParseLimits {
        ParseLimits::default()
    }

    /// A PNG header declaring `width` × `height` (with no image data: only headers are read).
    pub(crate) fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
        bytes
    }

    /// A little-endian TIFF of `frames` directories of `width` × `height`, without pixels.
    fn tiff(frames: u32, width: u16, height: u16) -> Vec<u8> {
        let mut bytes = b"II*\0".to_vec();
        bytes.extend(8u32.to_le_bytes());
        for i in 0..frames {
            let at = u32::try_from(bytes.len()).unwrap();
            bytes.extend(2u16.to_le_bytes());
            for (tag, value) in [(256u16, width), (257, height)] {
                bytes.extend(tag.to_le_bytes());
                bytes.extend(3u16.to_le_bytes());
                bytes.extend(1u32.to_le_bytes());
                bytes.extend(value.to_le_bytes());
                bytes.extend([0, 0]);
            }
            let next = if i + 1 == frames { 0 } else { at + 2 + 24 + 4 };
            bytes.extend(next.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn an_image_bomb_is_refused_from_its_header_naming_the_variable() {
        let err = describe(&png_header(100_000, 100_000), ImageKind::Png, &limits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the image is 100000 × 100000 pixels, more than the limit of 50000000: scan it at a lower resolution, or raise ADBRAG_OCR_MAX_PIXELS"
        );
    }

    #[test]
    fn a_png_becomes_one_scanned_page() {
        let parsed = parse(&png_header(2480, 3508), ImageKind::Png, &limits()).unwrap();
        assert_eq!(parsed.format, Format::Image(ImageKind::Png));
        assert_eq!(parsed.pages, Some(1));
        let [
            Scan {
                page: 1,
                image: ScanImage::Encoded(image),
                ..
            },
        ] = parsed.scans.as_slice()
        else {
            panic!("{:?}", parsed.scans);
        };
        assert_eq!((image.width, image.height, image.frames), (2480, 3508, 1));
    }

    #[test]
    fn a_tiff_counts_its_frames_and_refuses_its_largest() {
        let image = describe(&tiff(500, 8, 8), ImageKind::Tiff, &limits()).unwrap();
        assert_eq!((image.width, image.height, image.frames), (8, 8, 500));
        let small = ParseLimits {
            max_image_pixels: 63,
            ..limits()
        };
        assert!(matches!(
            describe(&tiff(2, 8, 8), ImageKind::Tiff, &small),
            Err(ParseError::ImageTooLarge { .. })
        ));
    }

    #[test]
    fn broken_tiffs_are_corrupt_images_never_panics() {
        let mut looping = tiff(2, 8, 8);
        let end = looping.len();
        looping[end - 4..].copy_from_slice(&8u32.to_le_bytes());
        let err = describe(&looping, ImageKind::Tiff, &limits()).unwrap_err();
        assert!(err.to_string().contains("loop"), "{err}");
        let whole = tiff(3, 8, 8);
        for cut in 0..whole.len() {
            let result = describe(&whole[..cut], ImageKind::Tiff, &limits());
            assert!(
                matches!(result, Err(ParseError::CorruptImage { .. })),
                "{cut}: {result:?}"
            );
        }
    }

    #[test]
    fn a_truncated_jpeg_is_a_corrupt_image() {
        let err = describe(b"\xFF\xD8\xFF\xE0\0\x10JF", ImageKind::Jpeg, &limits()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the JPEG image could not be read"),
            "{err}"
        );
    }
}
