//! PDF: the text layer of each page, as paragraphs tagged with their 1-based page number.
//!
//! The pipeline, a file for each step:
//!
//! 1. [`load`] opens the document with lopdf (decrypting it when the empty user password opens
//!    it), refuses encrypted and broken files, reads the Info title, and lists the pages to read:
//!    all of them, or for a file cut short (a broken download) those that survived whole, which
//!    the result's `warnings` then tell the user.
//! 2. [`content`] walks each page's content stream, rather than reading it with
//!    `Document::extract_text`, which ignores text positioning (words and lines run together) and
//!    form `XObject`s. The walk runs the operators that move and show text, tracking the text and
//!    graphics matrices to place each run of text, and draws forms in place.
//! 3. [`fonts`] turns a font dictionary into what the walk needs: how its codes become text (a
//!    `ToUnicode` `CMap`, a simple encoding mapped by lopdf, or a CJK character set) and how far
//!    each code advances (its widths).
//! 4. [`cmap`] parses `ToUnicode` `CMap`s itself (lopdf's parser is strict and expands ranges
//!    without bound), and names the character sets behind Adobe's predefined CJK `CMap`s.
//! 5. [`layout`] joins the runs on one baseline into lines (inserting spaces where glyphs leave a
//!    gap), and groups lines into paragraphs by spacing, font size, indentation and list markers.
//!
//! This file holds the entry point, [`parse`], and the budgets. Input is hostile: every lopdf
//! error is data, recursion is bounded, and pages and documents have budgets of operations,
//! decompressed bytes and text, so that a small file cannot make parsing run for ever or exhaust
//! memory.

mod cmap;
mod content;
mod fonts;
mod layout;
mod load;
#[cfg(test)]
pub(super) mod samples;
mod scans;

use lopdf::xref::XrefRecovery;

use super::{BlockKind, Format, ParseError, ParseLimits, Parsed, push_block};
use content::Extractor;

/// Decompressed bytes of one page's content or form, far above real documents and far below
/// lopdf's 256 MiB default, so a decompression bomb fails early.
const MAX_STREAM_BYTES: usize = 64 << 20;
/// Decompressed bytes of one object stream or cross-reference stream while loading.
const MAX_LOAD_STREAM_BYTES: usize = 16 << 20;
/// Decompressed content per page, forms included, each time they are drawn; a failed
/// decompression is charged what it could have cost, so a bomb drawn again and again is cut off.
const MAX_CONTENT_PER_PAGE: usize = 256 << 20;
/// Decompressed `ToUnicode` `CMap`s per document (real ones are kilobytes).
const MAX_CMAP_BYTES_PER_DOCUMENT: usize = 64 << 20;
/// Content-stream operations per page, counting a form `XObject`'s each time it is drawn (a form
/// drawing a form a thousand times, eight levels deep, must not run for ever).
const MAX_OPS_PER_PAGE: usize = 2_000_000;
/// Text kept per page; a page with more than this is not a real page.
const MAX_TEXT_PER_PAGE: usize = 4 << 20;
const MAX_FORM_DEPTH: usize = 8;
/// Depth of saved graphics states (`q`) we track; deeper saves are counted, not stored.
const MAX_STATE_DEPTH: usize = 64;
/// Mappings kept from all of a document's `ToUnicode` `CMap`s (a range counts as one): real
/// fonts have a few thousand each, and this bounds the memory of hostile ones.
const MAX_CMAP_MAPPINGS_PER_DOCUMENT: usize = 1 << 21;
/// Entries read from a CID font's `/W` widths array.
const MAX_WIDTH_ENTRIES: usize = 65_536;

pub(super) fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<Parsed, ParseError> {
    let load::Loaded {
        doc,
        pages,
        page_count,
        truncation,
    } = load::load(bytes)?;
    if page_count == 0 {
        return Err(corrupt("no pages were found in it"));
    }
    if page_count > limits.max_pages {
        return Err(ParseError::TooManyPages {
            pages: page_count,
            limit: limits.max_pages,
        });
    }

    let stripped = fonts::fonts_without_cmaps(&doc);
    let mut extractor = Extractor::new(&doc, &stripped);
    let mut blocks = Vec::new();
    let mut scans = Vec::new();
    let mut extractions = scans::Extractions::new();
    let mut first_error = None;
    for (&number, &page_id) in &pages {
        match extractor.page_paragraphs(page_id) {
            Ok(content) => {
                let before = blocks.len();
                for paragraph in &content.paragraphs {
                    push_block(
                        &mut blocks,
                        BlockKind::Paragraph,
                        paragraph.clone(),
                        Some(number),
                    );
                }
                if blocks.len() == before
                    && let Some(scan) =
                        scans::scan(&doc, number, page_id, &content, limits, &mut extractions)
                {
                    scans.push(scan);
                }
            }
            Err(reason) => {
                first_error.get_or_insert(format!("page {number}: {reason}"));
            }
        }
    }

    if blocks.is_empty() && scans.is_empty() {
        return Err(if let Some(reason) = first_error {
            corrupt(reason)
        } else if truncation.is_some() {
            corrupt("the file is cut short, and the pages that survived whole hold no text")
        } else if doc.xref_recovery == Some(XrefRecovery::Reconstructed) {
            // A damaged file whose pages came back empty is more likely broken than scanned.
            corrupt("its cross-reference table is damaged and no text could be recovered")
        } else {
            ParseError::NoText {
                format: Format::Pdf,
            }
        });
    }
    Ok(Parsed {
        title: load::info_title(&doc),
        format: Format::Pdf,
        blocks,
        pages: Some(page_count),
        warnings: truncation.into_iter().collect(),
        scans,
    })
}

fn corrupt(reason: impl Into<String>) -> ParseError {
    ParseError::CorruptPdf {
        reason: reason.into(),
    }
}

#[cfg(test)]
fn parse_ok(bytes: &[u8]) -> Parsed {
    super::parse(bytes, Some("doc.pdf"), &ParseLimits::default()).unwrap()
}

/// The page and text of each block.
#[cfg(test)]
fn blocks(parsed: &Parsed) -> Vec<(Option<u32>, &str)> {
    parsed
        .blocks
        .iter()
        .map(|b| (b.page, b.text.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::samples::{document, pdf, save, text_page};
    use super::*;
    use lopdf::{Stream, dictionary};

    fn limits() -> ParseLimits {
        ParseLimits::default()
    }

    #[test]
    fn text_on_pages_one_and_three_keeps_its_page_numbers() {
        let bytes = pdf(&[
            text_page(&[
                "Page one first paragraph,",
                "wrapped onto a second line.",
                "",
                "Page one second paragraph.",
            ]),
            b"0 0 100 100 re f".to_vec(),
            text_page(&["Third page."]),
        ]);
        let parsed = parse_ok(&bytes);
        assert_eq!(parsed.pages, Some(3));
        assert_eq!(parsed.format, Format::Pdf);
        assert_eq!(
            blocks(&parsed),
            [
                (
                    Some(1),
                    "Page one first paragraph, wrapped onto a second line."
                ),
                (Some(1), "Page one second paragraph."),
                (Some(3), "Third page."),
            ]
        );
        assert!(parsed.blocks.iter().all(|b| b.kind == BlockKind::Paragraph));
        assert_eq!(parsed.title, None);
    }

    #[test]
    fn pages_without_text_are_a_scanned_pdf() {
        let mut doc = document(&[Vec::new(), Vec::new()]);
        let image = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 1, "Height" => 1, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
            vec![0x80],
        ));
        for (_, page_id) in doc.get_pages() {
            let content = doc.add_object(Stream::new(
                dictionary! {},
                b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(),
            ));
            let page = doc.get_dictionary_mut(page_id).unwrap();
            page.set("Contents", content);
            page.set(
                "Resources",
                dictionary! { "XObject" => dictionary! { "Im1" => image } },
            );
        }
        let parsed = super::super::parse(&save(&mut doc), None, &limits()).unwrap();
        assert!(parsed.blocks.is_empty());
        // 1 × 1 gray samples, re-encoded for OCR, one scan per page.
        assert_eq!(
            parsed
                .scans
                .iter()
                .map(|scan| scan.page)
                .collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn pages_without_text_or_images_are_no_text() {
        let err = super::super::parse(
            &pdf(&[Vec::new(), b"0 0 9 9 re f".to_vec()]),
            None,
            &limits(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no visible text found in the PDF document: upload a document with text in it"
        );
    }

    #[test]
    fn too_many_pages_are_refused_naming_both_numbers() {
        let bytes = pdf(&vec![text_page(&["x"]); 5]);
        let err = super::super::parse(
            &bytes,
            None,
            &ParseLimits {
                max_pages: 3,
                ..ParseLimits::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the PDF has 5 pages, more than the limit of 3: split it, or raise ADBRAG_MAX_PAGES"
        );
    }

    #[test]
    fn compressed_content_streams_are_read() {
        let mut doc = document(&[text_page(&["Compressed text"])]);
        doc.compress();
        assert_eq!(
            blocks(&parse_ok(&save(&mut doc))),
            [(Some(1), "Compressed text")]
        );
    }

    #[test]
    fn truncated_and_mutated_pdfs_never_panic() {
        let mut doc = document(&[
            text_page(&["alpha beta", "", "gamma"]),
            Vec::new(),
            text_page(&["delta"]),
        ]);
        let plain = save(&mut doc);
        doc.compress();
        let compressed = save(&mut doc);
        for bytes in [&plain, &compressed] {
            let step = (bytes.len() / 150).max(1);
            for cut in (0..bytes.len()).step_by(step) {
                let _ = super::super::parse(&bytes[..cut], Some("x.pdf"), &limits());
            }
            let mut x = 0x1234_5678_u32;
            for _ in 0..100 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let mut mutated = bytes.clone();
                let at = usize::try_from(x).unwrap() % mutated.len();
                mutated[at] = x.to_le_bytes()[3];
                let _ = super::super::parse(&mutated, Some("x.pdf"), &limits());
            }
        }
    }
}
