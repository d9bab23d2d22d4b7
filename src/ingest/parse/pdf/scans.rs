//! Scanned pages: a page that draws images and shows no text becomes a [`Scan`] for OCR.
//!
//! A scanner or a fax driver writes one image per page. When it is a JPEG (`DCTDecode`), OCR gets
//! its bytes as they are: nothing is decoded here. When it is `FlateDecode` (or uncompressed) gray
//! or RGB samples, they are inflated, within a bound computed from the declared size, and
//! re-encoded as a PNG. Anything else (CCITT G3/G4, JBIG2, JPEG 2000, indexed colours, several
//! images, inline images) is rasterised whole by the pipeline (`ingest::ocr::render`, poppler's
//! `pdftoppm`). `docs/ocr.md` has the measurements behind that split.
//!
//! Every image's declared size is checked against [`ParseLimits::max_image_pixels`] before
//! anything is decoded: a 20,000 × 20,000 page is refused with its reason, and the rest of the
//! document goes on.

use std::{collections::HashMap, sync::Arc};

use lopdf::{Document, Object, ObjectId, Stream};

use super::super::{
    EncodedImage, ImageKind, ParseError, ParseLimits, Scan, ScanImage, image::check_pixels,
};
use super::content::PageContent;

/// The share of a page its images must cover for it to be a scan (docling's threshold).
const MIN_COVERED: f32 = 0.05;

/// What each image stream drawn as a page's only image gave, by the stream's address: `Ok(None)`
/// to rasterise, `Err` the reason it is refused. Pages that draw the same stream share it, so it
/// is checked, inflated and held once.
pub(super) type Extractions = HashMap<usize, Result<Option<Arc<EncodedImage>>, String>>;

/// The scan of a page without text, or `None` for a page without images that cover it.
pub(super) fn scan(
    doc: &Document,
    number: u32,
    page_id: ObjectId,
    content: &PageContent<'_>,
    limits: &ParseLimits,
    extractions: &mut Extractions,
) -> Option<Scan> {
    let size = page_size(doc, page_id);
    // Images that cover under a twentieth of the page (a logo, a stamp) do not make a scan.
    let covered: f32 = content.images.iter().map(|image| image.area).sum();
    if !content.inline_images && covered < MIN_COVERED * size.0 * size.1 {
        return None;
    }
    let render = || ScanImage::Render;
    let image = match (content.images.as_slice(), content.inline_images) {
        ([], false) => return None,
        ([only], false) => {
            let extracted = extractions
                .entry(std::ptr::from_ref(only.stream).addr())
                .or_insert_with(|| match extract(doc, only.stream, limits) {
                    Extracted::Image(image) => Ok(Some(Arc::new(image))),
                    Extracted::Render => Ok(None),
                    Extracted::Refused(err) => Err(err.to_string()),
                });
            match extracted {
                Ok(Some(image)) => ScanImage::Encoded(Arc::clone(image)),
                Ok(None) => render(),
                Err(reason) => ScanImage::Refused(format!("page {number}: {reason}")),
            }
        }
        _ => render(),
    };
    Some(Scan {
        page: number,
        size,
        image,
    })
}

enum Extracted {
    Image(EncodedImage),
    Render,
    Refused(ParseError),
}

/// The page's one image as a file OCR reads, if it can be had without rasterising.
fn extract(doc: &Document, stream: &Stream, limits: &ParseLimits) -> Extracted {
    let int = |key: &[u8]| {
        stream
            .dict
            .get_deref(key, doc)
            .ok()
            .and_then(|o| o.as_i64().ok())
    };
    let (Some(width), Some(height)) = (int(b"Width"), int(b"Height")) else {
        return Extracted::Render;
    };
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Extracted::Render;
    };
    if width == 0 || height == 0 {
        return Extracted::Render;
    }
    if let Err(err) = check_pixels(width, height, limits) {
        return Extracted::Refused(err);
    }
    let filters = filters(doc, stream);
    let decoded = stream.dict.get(b"Decode").is_ok();
    match filters.as_slice() {
        [b"DCTDecode"] if !decoded => jpeg(stream, width, height, limits),
        [] | [b"FlateDecode"] if !decoded => samples(doc, stream, width, height),
        _ => Extracted::Render,
    }
}

/// A JPEG as it is, its own header checked: it is what OCR will decode.
fn jpeg(stream: &Stream, width: u32, height: u32, limits: &ParseLimits) -> Extracted {
    match super::super::image::describe(&stream.content, ImageKind::Jpeg, limits) {
        Ok(image) => Extracted::Image(image),
        Err(ParseError::CorruptImage { reason, .. }) => {
            Extracted::Refused(ParseError::CorruptImage {
                kind: "page's JPEG image",
                reason: format!("{reason}; it declares {width} × {height} pixels"),
            })
        }
        Err(err) => Extracted::Refused(err),
    }
}

/// Gray or RGB samples of 8 bits (or 1-bit gray and image masks) as a PNG.
fn samples(doc: &Document, stream: &Stream, width: u32, height: u32) -> Extracted {
    let mask = stream
        .dict
        .get(b"ImageMask")
        .and_then(Object::as_bool)
        .unwrap_or(false);
    let bits = stream
        .dict
        .get_deref(b"BitsPerComponent", doc)
        .ok()
        .and_then(|o| o.as_i64().ok())
        .unwrap_or(if mask { 1 } else { 8 });
    let components = if mask {
        Some(1)
    } else {
        stream
            .dict
            .get_deref(b"ColorSpace", doc)
            .ok()
            .and_then(|space| components(doc, space))
    };
    let (color, bit_depth, channels) = match (components, bits) {
        (Some(1), 1) => (png::ColorType::Grayscale, png::BitDepth::One, 1),
        (Some(1), 8) => (png::ColorType::Grayscale, png::BitDepth::Eight, 1),
        (Some(3), 8) => (png::ColorType::Rgb, png::BitDepth::Eight, 3),
        _ => return Extracted::Render,
    };
    let bits_per_row = u64::from(width) * channels * u64::try_from(bits).unwrap_or(8);
    let Ok(expected) = usize::try_from(bits_per_row.div_ceil(8) * u64::from(height)) else {
        return Extracted::Render;
    };
    // The bound is the declared size (checked against the pixel limit): a stream that inflates
    // past it is not this image.
    let data = match stream.get_plain_content_with_limit(expected.saturating_add(1024)) {
        Ok(data) if data.len() >= expected => data,
        Ok(data) => {
            return Extracted::Refused(ParseError::CorruptImage {
                kind: "page's image",
                reason: format!(
                    "its data is cut short: {} bytes of the {expected} that {width} × {height} pixels need",
                    data.len()
                ),
            });
        }
        Err(err) => {
            return Extracted::Refused(ParseError::CorruptImage {
                kind: "page's image",
                reason: err.to_string(),
            });
        }
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(bit_depth);
    // An image mask paints where its samples are 0, which PNG's 1-bit gray also shows as black.
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&data[..expected]));
    match written {
        Ok(()) => Extracted::Image(EncodedImage {
            kind: ImageKind::Png,
            bytes,
            width,
            height,
            frames: 1,
        }),
        Err(_) => Extracted::Render,
    }
}

/// The stream's filters, in decoding order (a name or an array of names).
fn filters<'a>(doc: &'a Document, stream: &'a Stream) -> Vec<&'a [u8]> {
    match stream.dict.get_deref(b"Filter", doc) {
        Ok(Object::Name(name)) => vec![name.as_slice()],
        Ok(Object::Array(names)) => names.iter().filter_map(|o| o.as_name().ok()).collect(),
        _ => Vec::new(),
    }
}

/// Colour components of a colour space we can re-encode as PNG samples: gray (1) or RGB (3).
fn components(doc: &Document, space: &Object) -> Option<u64> {
    match space {
        Object::Name(name) => match name.as_slice() {
            b"DeviceGray" | b"CalGray" | b"G" => Some(1),
            b"DeviceRGB" | b"CalRGB" | b"RGB" => Some(3),
            _ => None,
        },
        Object::Array(items) => match items.first()?.as_name().ok()? {
            b"CalGray" => Some(1),
            b"CalRGB" => Some(3),
            b"ICCBased" => {
                let profile = doc.dereference(items.get(1)?).ok()?.1.as_stream().ok()?;
                match profile.dict.get(b"N").and_then(Object::as_i64).ok()? {
                    1 => Some(1),
                    3 => Some(3),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

/// The page's `MediaBox` (inherited from the page tree if the page has none), in points; US
/// Letter if none is found.
fn page_size(doc: &Document, page_id: ObjectId) -> (f32, f32) {
    let mut node = doc.get_dictionary(page_id).ok();
    for _ in 0..32 {
        let Some(dict) = node else { break };
        if let Ok(Object::Array(corners)) = dict.get_deref(b"MediaBox", doc) {
            let n: Vec<f32> = corners
                .iter()
                .filter_map(|o| o.as_float().ok())
                .filter(|n| n.is_finite())
                .collect();
            if let [x0, y0, x1, y1] = n[..] {
                return ((x1 - x0).abs(), (y1 - y0).abs());
            }
        }
        node = dict
            .get(b"Parent")
            .and_then(Object::as_reference)
            .ok()
            .and_then(|id| doc.get_dictionary(id).ok());
    }
    (612.0, 792.0)
}

#[cfg(test)]
mod tests {
    use super::super::samples::{document, save, text_page};
    use super::*;
    use crate::ingest::parse::{Parsed, parse};
    use lopdf::{Stream, dictionary};

    /// A PDF whose pages each draw one full-page image made by `image` (or show `text`).
    fn scanned(pages: Vec<Result<Stream, &str>>) -> Vec<u8> {
        let contents = pages
            .iter()
            .map(|page| match page {
                Ok(_) => b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(),
                Err(text) => text_page(&[text]),
            })
            .collect::<Vec<_>>();
        let mut doc = document(&contents);
        let page_ids: Vec<ObjectId> = doc.get_pages().values().copied().collect();
        for (page, page_id) in pages.into_iter().zip(page_ids) {
            if let Ok(image) = page {
                let image = doc.add_object(image);
                let dict = doc.get_dictionary_mut(page_id).unwrap();
                dict.set(
                    "Resources",
                    dictionary! { "XObject" => dictionary! { "Im1" => image } },
                );
            }
        }
        save(&mut doc)
    }

    fn gray(width: i64, height: i64, data: Vec<u8>) -> Stream {
        Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => width, "Height" => height, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
            data,
        )
    }

    fn parse_pdf(bytes: &[u8]) -> Parsed {
        parse(bytes, Some("scan.pdf"), &ParseLimits::default()).unwrap()
    }

    /// The smallest JPEG imagesize reads: SOI, an SOF0 of `width` × `height`, EOI.
    fn jpeg_bytes(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8];
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend([1, 1, 0x11, 0, 0xFF, 0xD9]);
        bytes
    }

    #[test]
    fn a_mixed_pdf_keeps_its_text_pages_and_scans_only_the_image_page() {
        let mut jpeg = gray(2, 2, jpeg_bytes(2, 2));
        jpeg.dict.set("Filter", "DCTDecode");
        let parsed = parse_pdf(&scanned(vec![
            Err("Typed page one."),
            Ok(jpeg),
            Err("Typed page three."),
        ]));
        assert_eq!(
            super::super::blocks(&parsed),
            [(Some(1), "Typed page one."), (Some(3), "Typed page three.")]
        );
        let [
            Scan {
                page: 2,
                image: ScanImage::Encoded(image),
                ..
            },
        ] = parsed.scans.as_slice()
        else {
            panic!("{:?}", parsed.scans);
        };
        // Passed through: the very bytes of the stream.
        assert_eq!(
            (image.kind, image.bytes.clone()),
            (ImageKind::Jpeg, jpeg_bytes(2, 2))
        );
    }

    #[test]
    fn flate_gray_samples_become_a_png_of_the_same_pixels() {
        let mut image = gray(3, 2, vec![0, 128, 255, 255, 128, 0]);
        image.compress().unwrap();
        let parsed = parse_pdf(&scanned(vec![Ok(image)]));
        let [
            Scan {
                image: ScanImage::Encoded(png),
                ..
            },
        ] = parsed.scans.as_slice()
        else {
            panic!("{:?}", parsed.scans);
        };
        assert_eq!(png.kind, ImageKind::Png);
        let decoder = png::Decoder::new(std::io::Cursor::new(png.bytes.clone()));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        assert_eq!(pixels, [0, 128, 255, 255, 128, 0]);
    }

    #[test]
    fn a_page_larger_than_the_pixel_limit_is_refused_without_decoding_it() {
        // 20,000 × 20,000 declared, with a few bytes of data: never inflated.
        let bomb = gray(20_000, 20_000, vec![0; 16]);
        let parsed = parse_pdf(&scanned(vec![Ok(bomb), Err("Text.")]));
        let [
            Scan {
                page: 1,
                image: ScanImage::Refused(reason),
                ..
            },
        ] = parsed.scans.as_slice()
        else {
            panic!("{:?}", parsed.scans);
        };
        assert_eq!(
            reason,
            "page 1: the image is 20000 × 20000 pixels, more than the limit of 50000000: scan it at a lower resolution, or raise ADBRAG_OCR_MAX_PIXELS"
        );
    }

    #[test]
    fn a_corrupt_jpeg_or_short_samples_are_refused_naming_the_page() {
        let mut garbage = gray(100, 100, vec![0xFF, 0xD8, 0x12, 0x34, 0x56]);
        garbage.dict.set("Filter", "DCTDecode");
        let short = gray(100, 100, vec![0; 10]);
        let parsed = parse_pdf(&scanned(vec![Ok(garbage), Ok(short)]));
        let reasons: Vec<&str> = parsed
            .scans
            .iter()
            .map(|scan| match &scan.image {
                ScanImage::Refused(reason) => reason.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            reasons[0].starts_with("page 1: the page's JPEG image could not be read"),
            "{}",
            reasons[0]
        );
        assert!(reasons[1].starts_with("page 2: the page's image could not be read (its data is cut short: 10 bytes of the 10000"), "{}", reasons[1]);
    }

    #[test]
    fn ccitt_and_tiled_pages_are_rasterised() {
        let mut fax = gray(1700, 2200, vec![0; 16]);
        fax.dict.set("Filter", "CCITTFaxDecode");
        let parsed = parse_pdf(&scanned(vec![Ok(fax)]));
        assert_eq!(
            parsed.scans,
            [Scan {
                page: 1,
                size: (595.0, 842.0),
                image: ScanImage::Render
            }]
        );
    }

    #[test]
    fn pages_drawing_the_same_image_share_one_copy_of_it() {
        let mut doc = document(&vec![b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(); 3]);
        let mut jpeg = gray(2, 2, jpeg_bytes(2, 2));
        jpeg.dict.set("Filter", "DCTDecode");
        let image = doc.add_object(jpeg);
        for page_id in doc.get_pages().into_values() {
            doc.get_dictionary_mut(page_id).unwrap().set(
                "Resources",
                dictionary! { "XObject" => dictionary! { "Im1" => image } },
            );
        }
        let parsed = parse_pdf(&save(&mut doc));
        let images: Vec<&Arc<EncodedImage>> = parsed
            .scans
            .iter()
            .map(|scan| match &scan.image {
                ScanImage::Encoded(image) => image,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(images.len(), 3);
        assert!(images.iter().all(|image| Arc::ptr_eq(image, images[0])));
    }

    #[test]
    fn blank_pages_without_images_are_not_scans() {
        let parsed = parse_pdf(&super::super::samples::pdf(&[
            text_page(&["Only text."]),
            Vec::new(),
        ]));
        assert!(parsed.scans.is_empty(), "{:?}", parsed.scans);
    }
}
