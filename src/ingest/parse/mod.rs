//! Turns an uploaded file's bytes into text with structure: a title, and headings and
//! paragraphs in reading order (with page numbers for PDFs), ready to be chunked.
//!
//! This module decides what a file is ([`detect`]) and hands it to one parser per format.
//! Everything here is synchronous and pure, and must not panic whatever the input: uploads
//! are untrusted, so every malformed input ends as a [`ParseError`] that tells the user what
//! was wrong and what to do about it.

mod html;
pub mod image;
mod markdown;
mod pdf;
#[cfg(test)]
mod proptests;
mod text;

use std::{fmt, sync::Arc};

use crate::text::script::joins_without_space;

pub use image::ImageKind;
pub use text::decode_text;

/// A parsed document: its title if it names one, and its text as blocks in reading order.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub title: Option<String>,
    pub format: Format,
    pub blocks: Vec<Block>,
    /// Number of pages, PDFs only (including pages without text).
    pub pages: Option<u32>,
    /// What the user should know about a document that was parsed despite a problem (a PDF cut
    /// short, of which only the whole pages were read), each a sentence saying what to do.
    pub warnings: Vec<String>,
    /// Pages that show images and no text, in page order: OCR reads them (`ingest::ocr`). An
    /// image upload is one scan.
    pub scans: Vec<Scan>,
}

/// A page to read with OCR: it shows an image and no text.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// 1-based page number.
    pub page: u32,
    /// The page's size in points (1/72 inch): a PDF's `MediaBox`, an image's pixels at 300 dpi.
    pub size: (f32, f32),
    pub image: ScanImage,
}

/// Where a scanned page's pixels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanImage {
    /// An image file that OCR reads as it is: the page's one image, taken from the PDF as it
    /// is (JPEG) or re-encoded (`FlateDecode`, uncompressed), or an uploaded image. Shared: pages
    /// that draw the same image object share one copy (a PDF of 2,000 pages showing one 40 MB
    /// image must not hold 2,000 copies).
    Encoded(Arc<EncodedImage>),
    /// The page must be rasterised from the PDF: its images are in a form no OCR engine reads
    /// as it is (CCITT, JBIG2, JPEG 2000, several images, inline images).
    Render,
    /// The page cannot be read: why, as a sentence that says what to do.
    Refused(String),
}

/// An image file, its size checked against [`ParseLimits::max_image_pixels`].
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedImage {
    pub kind: ImageKind,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Pages in it: a TIFF's frames, else 1.
    pub frames: u32,
}

impl fmt::Debug for EncodedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}×{}, {} frame(s), {} bytes",
            self.kind.name(),
            self.width,
            self.height,
            self.frames,
            self.bytes.len()
        )
    }
}

/// The document formats we can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Text,
    Markdown,
    Html,
    /// An image, read by OCR.
    Image(ImageKind),
}

impl Format {
    #[must_use]
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Text => "text/plain",
            Self::Markdown => "text/markdown",
            Self::Html => "text/html",
            Self::Image(kind) => kind.mime_type(),
        }
    }

    /// A human-readable name, as used in messages to the user.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pdf => "PDF",
            Self::Text => "plain text",
            Self::Markdown => "Markdown",
            Self::Html => "HTML",
            Self::Image(kind) => kind.name(),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One unit of text: a heading or a paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
    /// 1-based page, PDFs only
    pub page: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// level 1..=6
    Heading(u8),
    Paragraph,
}

/// Limits that protect the service from documents too large to handle.
#[derive(Debug, Clone)]
pub struct ParseLimits {
    pub max_pages: u32,
    /// Pixels of one image (width × height) that OCR may be given; larger ones are refused
    /// from their headers, before anything decodes them.
    pub max_image_pixels: u64,
}

impl ParseLimits {
    pub const DEFAULT_MAX_PAGES: u32 = 2000;
    /// An A4 page scanned at 600 dpi is 35 megapixels.
    pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 50_000_000;
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_pages: Self::DEFAULT_MAX_PAGES,
            max_image_pixels: Self::DEFAULT_MAX_IMAGE_PIXELS,
        }
    }
}

/// Why a file could not be parsed. Each message says what was wrong and what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the file is empty: upload a document with text in it")]
    Empty,

    /// `looks_like` names what the content appears to be, e.g. "a PNG image".
    #[error(
        "unsupported file type (looks like {looks_like}): supported types are PDF, plain text, Markdown, HTML, and PNG, JPEG and TIFF images"
    )]
    Unsupported { looks_like: String },

    #[error("the PDF is corrupt or truncated ({reason}): re-export it and upload again")]
    CorruptPdf { reason: String },

    #[error("the PDF is encrypted: upload a copy without a password")]
    EncryptedPdf,

    /// Pages of images and no text, and no OCR to read them (`ADBRAG_OCR=off`, or no engine).
    #[error("no extractable text: the {format} is a scan and OCR is off ({why}): {hint}")]
    NeedsOcr {
        format: Format,
        why: String,
        hint: &'static str,
    },

    #[error("the {kind} could not be read ({reason}): re-scan or re-export it and upload again")]
    CorruptImage { kind: &'static str, reason: String },

    #[error(
        "the image is {width} × {height} pixels, more than the limit of {limit}: scan it at a lower resolution, or raise ADBRAG_OCR_MAX_PIXELS"
    )]
    ImageTooLarge { width: u32, height: u32, limit: u64 },

    #[error(
        "the PDF has {pages} pages, more than the limit of {limit}: split it, or raise ADBRAG_MAX_PAGES"
    )]
    TooManyPages { pages: u32, limit: u32 },

    #[error("the text could not be decoded ({reason}): save it as UTF-8 and upload again")]
    Undecodable { reason: String },

    /// The file decoded, but holds no visible text (an HTML page of scripts, a Markdown file
    /// of front matter only).
    #[error("no visible text found in the {format} document: upload a document with text in it")]
    NoText { format: Format },
}

/// Parses `bytes` into blocks of text. `file_name` (if known) helps detection, but content wins
/// over a misleading extension.
///
/// # Errors
///
/// Any [`ParseError`]: the file is empty, of an unsupported type, undecodable, a corrupt,
/// encrypted, scanned or too long PDF, or holds no visible text.
pub fn parse(
    bytes: &[u8],
    file_name: Option<&str>,
    limits: &ParseLimits,
) -> Result<Parsed, ParseError> {
    let format = sniff(bytes, file_name)?;
    let parsed = match format {
        Format::Pdf => pdf::parse(bytes, limits)?,
        Format::Text => text::parse(bytes, is_line_oriented(file_name))?,
        Format::Markdown => markdown::parse(bytes)?,
        Format::Html => html::parse(bytes)?,
        Format::Image(kind) => image::parse(bytes, kind, limits)?,
    };
    if parsed.blocks.is_empty() && parsed.scans.is_empty() {
        // The PDF parser reports its own, more specific, error for this.
        return Err(ParseError::NoText { format });
    }
    Ok(parsed)
}

/// Says which format `bytes` are, and checks that text formats decode to some text. PDFs are
/// recognised by their header only: their structure is checked by [`parse`].
///
/// # Errors
///
/// [`ParseError::Empty`], [`ParseError::Unsupported`], [`ParseError::Undecodable`], or
/// [`ParseError::CorruptPdf`] for a file named `.pdf` that is not one.
pub fn detect(bytes: &[u8], file_name: Option<&str>) -> Result<Format, ParseError> {
    let format = sniff(bytes, file_name)?;
    match format {
        Format::Pdf | Format::Image(_) => {}
        Format::Html => {
            html::decode(bytes)?;
        }
        Format::Text | Format::Markdown => {
            decode_text(bytes)?;
        }
    }
    Ok(format)
}

/// Decides the format from magic numbers, the start of the text and the extension, without
/// decoding the whole file.
fn sniff(bytes: &[u8], file_name: Option<&str>) -> Result<Format, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let ext = extension(file_name);
    if has_pdf_header(bytes, ext.as_deref() == Some("pdf")) {
        return Ok(Format::Pdf);
    }
    if let Some(kind) = ImageKind::sniff(bytes) {
        return Ok(Format::Image(kind));
    }
    if let Some(looks_like) = binary_signature(bytes) {
        return Err(ParseError::Unsupported {
            looks_like: looks_like.to_owned(),
        });
    }
    if ext.as_deref() == Some("pdf") {
        return Err(ParseError::CorruptPdf {
            reason: format!(
                "the file is named {:?} but does not start with a %PDF- header",
                file_name.unwrap_or_default()
            ),
        });
    }
    if looks_like_html(&text_prefix(bytes)) {
        return Ok(Format::Html);
    }
    Ok(match ext.as_deref() {
        Some("html" | "htm" | "xhtml" | "shtml") => Format::Html,
        Some("md" | "markdown" | "mdx" | "mkd" | "mdown") => Format::Markdown,
        _ => Format::Text,
    })
}

/// The lower-cased extension of `file_name`, if it has one.
fn extension(file_name: Option<&str>) -> Option<String> {
    let name = file_name?.rsplit(['/', '\\']).next()?;
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// Files whose lines are records (a CSV row, a log entry), so each line is its own paragraph.
fn is_line_oriented(file_name: Option<&str>) -> bool {
    matches!(extension(file_name).as_deref(), Some("csv" | "tsv" | "log"))
}

fn has_pdf_header(bytes: &[u8], named_pdf: bool) -> bool {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = start.trim_ascii_start();
    if start.starts_with(b"%PDF-") {
        return true;
    }
    // Readers accept a header anywhere in the first 1024 bytes (some producers prepend junk).
    // Only trust that for files that say they are PDFs: a text *about* PDFs may quote "%PDF-".
    named_pdf && find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_some()
}

/// What a file of a known binary format looks like, from its magic number.
fn binary_signature(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| {
        bytes
            .get(offset..offset + magic.len())
            .is_some_and(|s| s == magic)
    };
    let has_nul_early = bytes.iter().take(64).any(|&b| b == 0);
    let kind = if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        zip_kind(bytes)
    } else if starts(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        "an old Microsoft Office document (.doc, .xls or .ppt)"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "a PNG image"
    } else if starts(b"\xFF\xD8\xFF") {
        "a JPEG image"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "a GIF image"
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        "a WebP image"
    } else if starts(b"RIFF") && at(8, b"WAVE") {
        "a WAV audio file"
    } else if starts(b"RIFF") && at(8, b"AVI ") {
        "an AVI video"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "a TIFF image"
    } else if starts(b"BM") && has_nul_early {
        "a BMP image"
    } else if at(4, b"ftyp") {
        "an MP4, QuickTime or HEIC media file"
    } else if starts(b"ID3") || starts(b"\xFF\xFB") {
        "an MP3 audio file"
    } else if starts(b"OggS") {
        "an Ogg media file"
    } else if starts(b"fLaC") {
        "a FLAC audio file"
    } else if starts(b"\x1A\x45\xDF\xA3") {
        "a Matroska/WebM video"
    } else if starts(b"\x1F\x8B") {
        "a gzip archive"
    } else if starts(b"BZh") && bytes.get(3).is_some_and(u8::is_ascii_digit) {
        "a bzip2 archive"
    } else if starts(b"\xFD7zXZ\0") {
        "an xz archive"
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        "a 7-Zip archive"
    } else if starts(b"Rar!\x1A\x07") {
        "a RAR archive"
    } else if starts(b"\x28\xB5\x2F\xFD") {
        "a zstd archive"
    } else if at(257, b"ustar") {
        "a tar archive"
    } else if starts(b"\x7FELF") {
        "an executable program (ELF)"
    } else if starts(b"MZ") && has_nul_early {
        "a Windows executable"
    } else if starts(b"\xCA\xFE\xBA\xBE")
        || starts(b"\xFE\xED\xFA\xCE")
        || starts(b"\xFE\xED\xFA\xCF")
        || starts(b"\xCE\xFA\xED\xFE")
        || starts(b"\xCF\xFA\xED\xFE")
    {
        "an executable program (Mach-O or Java class)"
    } else if starts(b"\0asm") {
        "a WebAssembly module"
    } else if starts(b"SQLite format 3\0") {
        "an SQLite database"
    } else if starts(b"wOFF") || starts(b"wOF2") || starts(b"OTTO") {
        "a font file"
    } else if starts(b"AT&TFORM") {
        "a DjVu document"
    } else if starts(b"%!PS") {
        "a PostScript file"
    } else if starts(b"{\\rtf") {
        "an RTF document"
    } else {
        return None;
    };
    Some(kind)
}

/// Office documents and e-books are ZIP archives; name the one the user most likely has.
fn zip_kind(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    if find(head, b"mimetypeapplication/epub+zip").is_some() {
        "an EPUB e-book"
    } else if find(head, b"mimetypeapplication/vnd.oasis.opendocument").is_some() {
        "an OpenDocument file (.odt, .ods or .odp)"
    } else if find(head, b"word/").is_some() {
        "a Word document (.docx)"
    } else if find(head, b"ppt/").is_some() {
        "a PowerPoint presentation (.pptx)"
    } else if find(head, b"xl/").is_some() {
        "an Excel workbook (.xlsx)"
    } else {
        "a ZIP archive"
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The first kilobyte or so as lower-case text, decoded just well enough to sniff markup.
fn text_prefix(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(2048)];
    let (encoding, bom_len) = encoding_rs::Encoding::for_bom(head)
        .or_else(|| text::bomless_utf16(head).map(|e| (e, 0)))
        .unwrap_or((encoding_rs::UTF_8, 0));
    let body = head.get(bom_len..).unwrap_or_default();
    // Non-UTF-8 ASCII-compatible encodings keep markup ASCII, so lossy UTF-8 sniffs them too.
    let (text, _) = encoding.decode_without_bom_handling(body);
    text.to_lowercase()
}

/// Whether text starts like an HTML document (after any XML declaration or comments).
fn looks_like_html(prefix: &str) -> bool {
    let start = prefix.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if !start.starts_with('<') {
        return false;
    }
    ["<!doctype html", "<html", "<head", "<body"]
        .iter()
        .any(|tag| has_tag(start, tag))
}

/// Whether `text` contains `tag` as a whole tag name (`<head>` but not `<header>`).
fn has_tag(text: &str, tag: &str) -> bool {
    text.match_indices(tag).any(|(i, _)| {
        text[i + tag.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == '>' || c == '/' || c.is_whitespace())
    })
}

/// Collapses every run of whitespace to one space, except that a run containing a line break
/// between two CJK characters ([`joins_without_space`]) disappears (it was only a line wrap). Trims
/// both ends.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<bool> = None; // Some(run contained a line break)
    for c in text.chars() {
        if c.is_whitespace() {
            let newline = matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
            pending = Some(pending.unwrap_or(false) || newline);
            continue;
        }
        if is_control(c) {
            continue;
        }
        if let Some(had_newline) = pending.take() {
            let joins_cjk = had_newline
                && out
                    .chars()
                    .next_back()
                    .is_some_and(|last| joins_without_space(last, c));
            if !out.is_empty() && !joins_cjk {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out
}

/// Control characters that carry no text (tabs and line breaks are whitespace, handled apart).
fn is_control(c: char) -> bool {
    (c.is_control() && !c.is_whitespace()) || c == '\u{FFFD}' || c == '\u{FEFF}'
}

/// Appends a block unless its text is empty.
fn push_block(blocks: &mut Vec<Block>, kind: BlockKind, text: String, page: Option<u32>) {
    if !text.is_empty() {
        blocks.push(Block { kind, text, page });
    }
}

/// The first level-1 heading, used as the title when the document names none itself.
fn first_h1(blocks: &[Block]) -> Option<String> {
    blocks
        .iter()
        .find(|b| b.kind == BlockKind::Heading(1))
        .map(|b| b.text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ParseLimits {
        ParseLimits::default()
    }

    #[test]
    fn an_empty_file_is_refused_as_empty() {
        let err = parse(b"", Some("a.txt"), &limits()).unwrap_err();
        assert!(matches!(err, ParseError::Empty), "{err}");
        assert_eq!(
            err.to_string(),
            "the file is empty: upload a document with text in it"
        );
    }

    #[test]
    fn a_whitespace_only_file_is_refused_as_empty_whatever_its_encoding() {
        for (bytes, name) in [
            (&b" \n\t\r\n  "[..], Some("a.txt")),
            (&b"   "[..], Some("a.pdf")),
            (&b"\xEF\xBB\xBF  \n"[..], None),
            (&b"\xFF\xFE \0\n\0"[..], Some("a.md")),
            ("\u{3000}\u{3000}\n".as_bytes(), Some("a.txt")),
        ] {
            let err = parse(bytes, name, &limits()).unwrap_err();
            assert!(matches!(err, ParseError::Empty), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn png_bytes_named_txt_are_read_as_an_image_and_a_gif_is_refused() {
        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
        let parsed = parse(png, Some("x.txt"), &limits()).unwrap();
        assert_eq!(parsed.format, Format::Image(ImageKind::Png));
        assert_eq!(parsed.scans.len(), 1);
        let err = parse(b"GIF89a\x01\0\x01\0", Some("x.txt"), &limits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported file type (looks like a GIF image): supported types are PDF, plain text, Markdown, HTML, and PNG, JPEG and TIFF images"
        );
    }

    #[test]
    fn a_docx_is_refused_naming_it_a_word_document() {
        let docx = b"PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0word/document.xml\0\0";
        let err = detect(docx, Some("report.docx")).unwrap_err();
        assert!(err.to_string().contains("a Word document (.docx)"), "{err}");
        let zip = b"PK\x03\x04\x14\0\0\0\0\0data.bin";
        let err = detect(zip, Some("x.txt")).unwrap_err();
        assert!(err.to_string().contains("a ZIP archive"), "{err}");
    }

    #[test]
    fn random_binary_with_nul_bytes_named_txt_is_refused_as_binary() {
        let mut bytes = Vec::new();
        let mut x = 0x2545_F491_u32;
        for _ in 0..512 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.push(x.to_le_bytes()[0]);
        }
        bytes[10] = 0;
        let err = parse(&bytes, Some("notes.txt"), &limits()).unwrap_err();
        assert!(
            matches!(&err, ParseError::Unsupported { looks_like } if looks_like.contains("binary")),
            "{err}"
        );
    }

    #[test]
    fn pdf_magic_wins_over_a_txt_extension() {
        assert_eq!(
            detect(b"%PDF-1.7\n%...", Some("notes.txt")).unwrap(),
            Format::Pdf
        );
    }

    #[test]
    fn html_content_wins_over_a_txt_or_md_extension() {
        let page =
            b"\n  <!DOCTYPE html><html><head><title>T</title></head><body><p>Hi</p></body></html>";
        assert_eq!(detect(page, Some("page.txt")).unwrap(), Format::Html);
        assert_eq!(detect(page, Some("page.md")).unwrap(), Format::Html);
        assert_eq!(detect(page, None).unwrap(), Format::Html);
        let parsed = parse(page, Some("page.txt"), &limits()).unwrap();
        assert_eq!(parsed.format, Format::Html);
        assert_eq!(parsed.title.as_deref(), Some("T"));
    }

    #[test]
    fn a_header_tag_is_not_mistaken_for_a_head_tag() {
        let md = b"<header>not a page</header>\n\n# Title\n";
        assert_eq!(detect(md, Some("a.md")).unwrap(), Format::Markdown);
    }

    #[test]
    fn extensions_pick_the_text_family_member() {
        assert_eq!(detect(b"# Hi", Some("a.md")).unwrap(), Format::Markdown);
        assert_eq!(
            detect(b"# Hi", Some("dir/A.MARKDOWN")).unwrap(),
            Format::Markdown
        );
        assert_eq!(detect(b"<p>Hi</p>", Some("a.htm")).unwrap(), Format::Html);
        assert_eq!(detect(b"# Hi", Some("a.txt")).unwrap(), Format::Text);
        assert_eq!(detect(b"# Hi", Some("a.rst")).unwrap(), Format::Text);
        assert_eq!(detect(b"# Hi", Some("Makefile")).unwrap(), Format::Text);
        assert_eq!(detect(b"# Hi", None).unwrap(), Format::Text);
    }

    #[test]
    fn utf16_html_is_sniffed_after_decoding() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "<html><body><h1>标题</h1></body></html>".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(detect(&bytes, Some("x.txt")).unwrap(), Format::Html);
        let parsed = parse(&bytes, None, &limits()).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("标题"));
    }

    #[test]
    fn a_file_named_pdf_without_the_header_is_a_corrupt_pdf() {
        let err = parse(
            b"<html>oops, an error page</html>",
            Some("report.pdf"),
            &limits(),
        )
        .unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
        assert!(err.to_string().contains("\"report.pdf\""), "{err}");
    }

    #[test]
    fn a_png_named_pdf_is_read_as_the_image_it_is() {
        let err = parse(b"\x89PNG\r\n\x1a\n\0\0", Some("scan.pdf"), &limits()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the PNG image could not be read"),
            "{err}"
        );
    }

    #[test]
    fn formats_have_mime_types_and_names() {
        assert_eq!(Format::Pdf.mime_type(), "application/pdf");
        assert_eq!(Format::Markdown.mime_type(), "text/markdown");
        assert_eq!(Format::Text.name(), "plain text");
        assert_eq!(Format::Html.to_string(), "HTML");
    }

    #[test]
    fn whitespace_collapses_but_cjk_line_wraps_vanish() {
        assert_eq!(collapse_whitespace("  a \n\t b  "), "a b");
        assert_eq!(collapse_whitespace("中文\n文本"), "中文文本");
        assert_eq!(collapse_whitespace("中文 文本"), "中文 文本");
        assert_eq!(collapse_whitespace("Rust\n语言"), "Rust 语言");
        assert_eq!(collapse_whitespace("a\u{0}b\u{FFFD}c"), "abc");
    }

    #[test]
    fn parsing_never_panics_on_pseudo_random_bytes() {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let prefixes: [&[u8]; 8] = [
            b"",
            b"%PDF-1.4\n",
            b"<html><body>",
            b"---\ntitle: x\n",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"\xFE\xFF",
            b"PK\x03\x04",
        ];
        let names = [
            None,
            Some("x.txt"),
            Some("x.md"),
            Some("x.html"),
            Some("x.pdf"),
        ];
        for i in 0..200_usize {
            let len = usize::try_from(next() % 1500).unwrap();
            let mut bytes = prefixes[i % prefixes.len()].to_vec();
            // Mostly-text inputs exercise the decoders; fully random ones the refusals.
            let texty = i % 3 != 0;
            for _ in 0..len {
                let r = next();
                let b = r.to_le_bytes()[1];
                bytes.push(if texty && b >= 0x80 && r % 4 != 0 {
                    b" <>/#-\n\tabcdefghij()[]0123456789"[usize::from(b) % 32]
                } else {
                    b
                });
            }
            let name = names[i % names.len()];
            let _ = parse(&bytes, name, &limits());
            let _ = detect(&bytes, name);
        }
    }
}
