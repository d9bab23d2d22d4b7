//! PDF: the text layer of each page, as paragraphs tagged with their 1-based page number.
//!
//! lopdf loads the document (decrypting it when the empty user password opens it) and maps
//! simple fonts' encodings. The rest is done here: `ToUnicode` `CMap`s are parsed by
//! [`ToUnicode`] (lopdf's parser is strict and expands ranges without bound), and content
//! streams are walked rather than read with `Document::extract_text`, which ignores text
//! positioning (words and lines run together) and form `XObject`s. The walk tracks the text
//! and graphics matrices to place each run of text, joins runs on one baseline into lines
//! (inserting spaces where glyphs leave a gap), and groups lines into paragraphs by spacing,
//! font size, indentation and list markers.
//!
//! Input is hostile: every lopdf error is data, recursion is bounded, and pages and documents
//! have budgets of operations, decompressed bytes and text, so that a small file cannot make
//! parsing run for ever or exhaust memory.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use lopdf::content::Content;
use lopdf::xref::XrefRecovery;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

use super::{
    BlockKind, Format, ParseError, ParseLimits, Parsed, collapse_whitespace, is_cjk, is_control,
    push_block, text::is_list_item,
};

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
/// Font size, in device units, below which sizes are treated as this (avoids dividing by zero
/// for degenerate matrices).
const MIN_SIZE: f32 = 1.0;

pub(super) fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<Parsed, ParseError> {
    let doc = load(bytes)?;
    let pages = doc.get_pages();
    let page_count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    if page_count == 0 {
        return Err(corrupt("no pages were found in it"));
    }
    if page_count > limits.max_pages {
        return Err(ParseError::TooManyPages {
            pages: page_count,
            limit: limits.max_pages,
        });
    }

    let stripped = fonts_without_cmaps(&doc);
    let mut extractor = Extractor {
        doc: &doc,
        stripped: &stripped,
        cmap_budget: CmapBudget {
            mappings: MAX_CMAP_MAPPINGS_PER_DOCUMENT,
            bytes: MAX_CMAP_BYTES_PER_DOCUMENT,
        },
        fonts: HashMap::new(),
    };
    let mut blocks = Vec::new();
    let mut first_error = None;
    for (&number, &page_id) in &pages {
        match extractor.page_paragraphs(page_id) {
            Ok(paragraphs) => {
                for paragraph in paragraphs {
                    push_block(&mut blocks, BlockKind::Paragraph, paragraph, Some(number));
                }
            }
            Err(reason) => {
                first_error.get_or_insert(format!("page {number}: {reason}"));
            }
        }
    }

    if blocks.is_empty() {
        return Err(if let Some(reason) = first_error {
            corrupt(reason)
        } else if doc.xref_recovery == Some(XrefRecovery::Reconstructed) {
            // A damaged file whose pages came back empty is more likely broken than scanned.
            corrupt("its cross-reference table is damaged and no text could be recovered")
        } else {
            ParseError::ScannedPdf { pages: page_count }
        });
    }
    Ok(Parsed {
        title: info_title(&doc),
        format: Format::Pdf,
        blocks,
        pages: Some(page_count),
    })
}

fn corrupt(reason: impl Into<String>) -> ParseError {
    ParseError::CorruptPdf {
        reason: reason.into(),
    }
}

fn load(bytes: &[u8]) -> Result<Document, ParseError> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_LOAD_STREAM_BYTES),
        ..lopdf::LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(bytes, options).map_err(|error| match error {
        lopdf::Error::Decryption(_)
        | lopdf::Error::InvalidPassword
        | lopdf::Error::UnsupportedSecurityHandler(_) => ParseError::EncryptedPdf,
        error => corrupt(error.to_string()),
    })?;
    // lopdf opens a document whose empty user password works and drops /Encrypt; one that
    // needs a real password loads with /Encrypt still there and nothing readable.
    if doc.trailer.has(b"Encrypt") {
        return Err(ParseError::EncryptedPdf);
    }
    // lenient loading rebuilds a lost cross-reference table by scanning for objects, which
    // "succeeds" on half a file: without the end marker too, the upload was cut short, and
    // indexing half a document would silently lose the rest.
    if doc.xref_recovery == Some(XrefRecovery::Reconstructed) && !has_eof_marker(bytes) {
        return Err(corrupt(
            "the file is cut short: it has no %%EOF marker and no cross-reference table",
        ));
    }
    Ok(doc)
}

fn has_eof_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    super::find(tail, b"%%EOF").is_some()
}

/// The Info dictionary's `/Title`, if present and not blank.
fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = doc.dereference(info).ok()?.1.as_dict().ok()?;
    let title = doc.dereference(info.get(b"Title").ok()?).ok()?.1;
    let bytes = title.as_str().ok()?;
    // Some producers write UTF-8 where PDFDocEncoding (Latin) belongs; valid UTF-8 with
    // non-ASCII characters is almost never PDFDocEncoding text, so read it as UTF-8.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if !text.is_ascii() && !bytes.starts_with(b"\xFE\xFF") => text.to_owned(),
        _ => lopdf::decode_text_string(title).ok()?,
    };
    let title = collapse_whitespace(&text);
    (!title.is_empty()).then_some(title)
}

/// For each font object with a `/ToUnicode` `CMap`, a copy without it. lopdf must never parse
/// a `CMap`: it expands every range code by code into a reverse map, so one hostile line
/// (`<00000000> <FFFFFFFF> <0041>`) runs for minutes and allocates without bound, out of reach
/// of any timeout. `CMap`s are read by [`ToUnicode`] instead, and lopdf gets the copy.
fn fonts_without_cmaps(doc: &Document) -> BTreeMap<ObjectId, Dictionary> {
    let mut stripped = BTreeMap::new();
    for (&id, object) in &doc.objects {
        let Ok(dict) = object.as_dict() else {
            continue;
        };
        if dict.has_type(b"Font") && dict.has(b"ToUnicode") {
            let mut copy = dict.clone();
            copy.remove(b"ToUnicode");
            stripped.insert(id, copy);
        }
    }
    stripped
}

struct Extractor<'a> {
    doc: &'a Document,
    stripped: &'a BTreeMap<ObjectId, Dictionary>,
    cmap_budget: CmapBudget,
    /// Decoded fonts, keyed by the address of their dictionary in `doc`, shared by all pages.
    fonts: HashMap<usize, Rc<Font<'a>>>,
}

/// What reading this document's `ToUnicode` `CMap`s may still cost.
struct CmapBudget {
    /// Mappings kept (see [`MAX_CMAP_MAPPINGS_PER_DOCUMENT`]).
    mappings: usize,
    /// Bytes decompressed (see [`MAX_CMAP_BYTES_PER_DOCUMENT`]).
    bytes: usize,
}

impl<'a> Extractor<'a> {
    /// The paragraphs of one page. Fails only when the page's content cannot be read at all.
    fn page_paragraphs(&mut self, page_id: ObjectId) -> Result<Vec<String>, String> {
        let content = self
            .doc
            .get_page_content_with_limit(page_id, MAX_STREAM_BYTES)
            .map_err(|e| e.to_string())?;
        let resources = self.page_resources(page_id);
        let mut page = PageState::new(content.len());
        self.run(&mut page, &content, &resources, 0);
        page.lines.finish_line();
        Ok(paragraphs(&page.lines.done))
    }

    fn page_resources(&self, page_id: ObjectId) -> Vec<&'a Dictionary> {
        let Ok((direct, ids)) = self.doc.get_page_resources(page_id) else {
            return Vec::new();
        };
        direct
            .into_iter()
            .chain(
                ids.into_iter()
                    .filter_map(|id| self.doc.get_dictionary(id).ok()),
            )
            .collect()
    }

    /// Looks `name` up in a resource category (`/Font`, `/XObject`) of the first resource
    /// dictionary that has it; returns the object's id (if indirect) and the object.
    fn resource(
        &self,
        resources: &[&'a Dictionary],
        category: &[u8],
        name: &[u8],
    ) -> Option<(Option<ObjectId>, &'a Object)> {
        resources.iter().find_map(|dict| {
            let entries = dict
                .get_deref(category, self.doc)
                .and_then(Object::as_dict)
                .ok()?;
            self.doc.dereference(entries.get(name).ok()?).ok()
        })
    }

    fn font(&mut self, resources: &[&'a Dictionary], name: &[u8]) -> Option<Rc<Font<'a>>> {
        let (id, object) = self.resource(resources, b"Font", name)?;
        let dict = object.as_dict().ok()?;
        let Self {
            doc,
            stripped,
            cmap_budget,
            fonts,
        } = self;
        let font = fonts
            .entry(std::ptr::from_ref(dict).addr())
            .or_insert_with(|| {
                let stripped = id.and_then(|id| stripped.get(&id));
                Rc::new(Font::new(doc, dict, stripped, cmap_budget))
            });
        Some(Rc::clone(font))
    }

    /// Walks a content stream, recording the text it shows.
    fn run(
        &mut self,
        page: &mut PageState<'a>,
        content: &[u8],
        resources: &[&'a Dictionary],
        depth: usize,
    ) {
        for operation in Content::decode_iter(content) {
            // A syntax error ends the stream; what came before it still counts.
            let Ok(operation) = operation else { break };
            page.ops += 1;
            if page.ops > MAX_OPS_PER_PAGE || page.lines.text_len > MAX_TEXT_PER_PAGE {
                break;
            }
            let operands = operation.operands.as_slice();
            let number = |i: usize| {
                operands
                    .get(i)
                    .and_then(|o| o.as_float().ok())
                    .filter(|n| n.is_finite())
            };
            match operation.operator.as_str() {
                "q" => page.save(),
                "Q" => page.restore(),
                "cm" => {
                    if let Some(m) = matrix(operands) {
                        page.gs.ctm = mul(&m, &page.gs.ctm);
                    }
                }
                "BT" => {
                    page.tm = IDENTITY;
                    page.tlm = IDENTITY;
                }
                "Tf" => {
                    page.gs.font = operands
                        .first()
                        .and_then(|o| o.as_name().ok())
                        .and_then(|name| self.font(resources, name));
                    if let Some(size) = number(1) {
                        page.gs.size = size;
                    }
                }
                "Tc" => page.gs.char_spacing = number(0).unwrap_or(0.0),
                "Tw" => page.gs.word_spacing = number(0).unwrap_or(0.0),
                "Tz" => page.gs.scale = number(0).unwrap_or(100.0) / 100.0,
                "TL" => page.gs.leading = number(0).unwrap_or(0.0),
                "Td" | "TD" => {
                    if let (Some(x), Some(y)) = (number(0), number(1)) {
                        if operation.operator == "TD" {
                            page.gs.leading = -y;
                        }
                        page.move_line(x, y);
                    }
                }
                "Tm" => {
                    if let Some(m) = matrix(operands) {
                        page.tm = m;
                        page.tlm = m;
                    }
                }
                "T*" => page.next_line(),
                "Tj" => page.show(operands.first()),
                "'" => {
                    page.next_line();
                    page.show(operands.first());
                }
                "\"" => {
                    page.gs.word_spacing = number(0).unwrap_or(0.0);
                    page.gs.char_spacing = number(1).unwrap_or(0.0);
                    page.next_line();
                    page.show(operands.get(2));
                }
                "TJ" => {
                    let Some(Ok(items)) = operands.first().map(Object::as_array) else {
                        continue;
                    };
                    for item in items {
                        match item {
                            Object::String(..) => page.show(Some(item)),
                            other => {
                                if let Ok(n) = other.as_float() {
                                    page.kern(n);
                                }
                            }
                        }
                    }
                }
                "Do" if depth < MAX_FORM_DEPTH => {
                    if let Some(name) = operands.first().and_then(|o| o.as_name().ok()) {
                        self.draw_form(page, resources, name, depth);
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs a form `XObject`'s content in place, as `Do` does (images and unknown `XObjects` are
    /// skipped: they hold no text layer).
    fn draw_form(
        &mut self,
        page: &mut PageState<'a>,
        resources: &[&'a Dictionary],
        name: &[u8],
        depth: usize,
    ) {
        let Some((id, object)) = self.resource(resources, b"XObject", name) else {
            return;
        };
        let Ok(stream) = object.as_stream() else {
            return;
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
            return;
        }
        // A form that draws itself (directly or not) would loop until the budget runs out.
        if id.is_some_and(|id| page.forms.contains(&id)) {
            return;
        }
        let limit = MAX_CONTENT_PER_PAGE
            .saturating_sub(page.content_bytes)
            .min(MAX_STREAM_BYTES);
        let Ok(content) = stream.get_plain_content_with_limit(limit) else {
            page.content_bytes += limit;
            return;
        };
        page.content_bytes += content.len();
        let own_resources = stream
            .dict
            .get_deref(b"Resources", self.doc)
            .and_then(Object::as_dict)
            .ok();
        let form_resources: Vec<&'a Dictionary> = match own_resources {
            Some(dict) => vec![dict],
            None => resources.to_vec(),
        };
        page.save();
        if let Some(m) = stream
            .dict
            .get_deref(b"Matrix", self.doc)
            .ok()
            .and_then(|m| m.as_array().ok())
            .and_then(|m| matrix(m))
        {
            page.gs.ctm = mul(&m, &page.gs.ctm);
        }
        if let Some(id) = id {
            page.forms.push(id);
        }
        self.run(page, &content, &form_resources, depth + 1);
        if id.is_some() {
            page.forms.pop();
        }
        page.restore();
    }
}

type Matrix = [f32; 6];
type Point = (f32, f32);

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `a × b` for PDF's row-vector matrices `[a b c d e f]`.
fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

fn matrix(operands: &[Object]) -> Option<Matrix> {
    if operands.len() != 6 {
        return None;
    }
    let mut m = [0.0; 6];
    for (slot, operand) in m.iter_mut().zip(operands) {
        *slot = operand.as_float().ok().filter(|n| n.is_finite())?;
    }
    Some(m)
}

fn translate(x: f32, y: f32) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, x, y]
}

fn sub(a: Point, b: Point) -> Point {
    (a.0 - b.0, a.1 - b.1)
}

fn dot(a: Point, b: Point) -> f32 {
    a.0 * b.0 + a.1 * b.1
}

/// The text direction's normal, pointing "up" the page for upright text.
fn normal(dir: Point) -> Point {
    (-dir.1, dir.0)
}

/// The parts of the graphics state that affect where text lands (saved by `q`, restored by `Q`).
#[derive(Clone)]
struct GraphicsState<'a> {
    ctm: Matrix,
    font: Option<Rc<Font<'a>>>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    /// Horizontal scaling, 1.0 = 100%.
    scale: f32,
    leading: f32,
}

impl Default for GraphicsState<'_> {
    fn default() -> Self {
        Self {
            ctm: IDENTITY,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
        }
    }
}

struct PageState<'a> {
    gs: GraphicsState<'a>,
    saved: Vec<GraphicsState<'a>>,
    /// `q`s beyond `MAX_STATE_DEPTH`, so their `Q`s don't pop states saved before them.
    unsaved: usize,
    tm: Matrix,
    tlm: Matrix,
    ops: usize,
    /// Decompressed content read so far (see [`MAX_CONTENT_PER_PAGE`]).
    content_bytes: usize,
    /// Forms being drawn, innermost last.
    forms: Vec<ObjectId>,
    lines: Lines,
}

impl PageState<'_> {
    fn new(content_bytes: usize) -> Self {
        Self {
            gs: GraphicsState::default(),
            saved: Vec::new(),
            unsaved: 0,
            tm: IDENTITY,
            tlm: IDENTITY,
            ops: 0,
            content_bytes,
            forms: Vec::new(),
            lines: Lines::default(),
        }
    }

    fn save(&mut self) {
        if self.saved.len() < MAX_STATE_DEPTH {
            self.saved.push(self.gs.clone());
        } else {
            self.unsaved += 1;
        }
    }

    fn restore(&mut self) {
        if self.unsaved > 0 {
            self.unsaved -= 1;
        } else if let Some(gs) = self.saved.pop() {
            self.gs = gs;
        }
    }

    fn move_line(&mut self, x: f32, y: f32) {
        self.tlm = mul(&translate(x, y), &self.tlm);
        self.tm = self.tlm;
    }

    fn next_line(&mut self) {
        self.move_line(0.0, -self.gs.leading);
    }

    /// Moves along the baseline by a `TJ` adjustment (thousandths of the font size).
    fn kern(&mut self, adjustment: f32) {
        let tx = -adjustment / 1000.0 * self.gs.size * self.gs.scale;
        if tx.is_finite() {
            self.tm = mul(&translate(tx, 0.0), &self.tm);
        }
    }

    /// Shows a string: decodes it, places it, and advances the text matrix past it.
    fn show(&mut self, operand: Option<&Object>) {
        let Some(Ok(bytes)) = operand.map(Object::as_str) else {
            return;
        };
        let Some(font) = &self.gs.font else {
            return;
        };
        let mut text = String::new();
        font.decode(bytes, &mut text);

        let start_matrix = mul(&self.tm, &self.gs.ctm);
        let tx = font.advance(bytes, &self.gs);
        if tx.is_finite() {
            self.tm = mul(&translate(tx, 0.0), &self.tm);
        }
        let end_matrix = mul(&self.tm, &self.gs.ctm);

        let (dx, dy) = (start_matrix[0], start_matrix[1]);
        let length = dx.hypot(dy);
        let dir = if length > 0.0 && length.is_finite() {
            (dx / length, dy / length)
        } else {
            (1.0, 0.0)
        };
        let size = (self.gs.size * start_matrix[2].hypot(start_matrix[3])).abs();
        self.lines.add_run(&Run {
            text: &text,
            start: (start_matrix[4], start_matrix[5]),
            end: (end_matrix[4], end_matrix[5]),
            dir,
            size: if size.is_finite() {
                size.max(MIN_SIZE)
            } else {
                MIN_SIZE
            },
        });
    }
}

/// A string shown in one go, in device space.
struct Run<'t> {
    text: &'t str,
    start: Point,
    end: Point,
    /// Unit vector along the baseline.
    dir: Point,
    size: f32,
}

/// A line of text: runs that share a baseline.
struct Line {
    text: String,
    origin: Point,
    end: Point,
    dir: Point,
    size: f32,
    last_run_start: Point,
    last_run_len: usize,
}

#[derive(Default)]
struct Lines {
    done: Vec<Line>,
    current: Option<Line>,
    text_len: usize,
}

impl Lines {
    fn add_run(&mut self, run: &Run<'_>) {
        let text: String = run
            .text
            .chars()
            .filter(|&c| !is_control(c))
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        if text.is_empty() {
            return;
        }
        self.text_len += text.len();
        if let Some(line) = &mut self.current {
            let size = line.size.max(run.size);
            let across = dot(sub(run.start, line.origin), normal(line.dir));
            let same_direction = dot(run.dir, line.dir) > 0.9;
            if same_direction && across.abs() < 0.5 * size {
                let gap = dot(sub(run.start, line.end), line.dir);
                // Fake bold and shadows draw the same text twice, a hair apart.
                let repeated = line.last_run_len == text.len()
                    && line.text.ends_with(&text)
                    && dot(sub(run.start, line.last_run_start), line.dir).abs() < 0.2 * size;
                if repeated {
                    return;
                }
                // A gap of more than ~a sixth of an em is a word space that was positioned
                // rather than typed; going backwards means the line was drawn out of order.
                if gap > 0.15 * size || gap < -0.5 * size {
                    push_space(&mut line.text, &text, gap > 0.8 * size);
                }
                line.text.push_str(&text);
                line.end = run.end;
                line.size = size;
                line.last_run_start = run.start;
                line.last_run_len = text.len();
                return;
            }
        }
        self.finish_line();
        self.current = Some(Line {
            last_run_len: text.len(),
            text,
            origin: run.start,
            end: run.end,
            dir: run.dir,
            size: run.size,
            last_run_start: run.start,
        });
    }

    fn finish_line(&mut self) {
        if let Some(mut line) = self.current.take() {
            line.text = collapse_whitespace(&line.text);
            if !line.text.is_empty() {
                self.done.push(line);
            }
        }
    }
}

/// Adds a word space before `next`, unless there already is one or both sides are CJK (which
/// is written without spaces) and the gap is not `wide` (as between table cells).
fn push_space(text: &mut String, next: &str, wide: bool) {
    let Some(last) = text.chars().next_back() else {
        return;
    };
    let Some(first) = next.chars().next() else {
        return;
    };
    if last == ' ' || first == ' ' || (is_cjk(last) && is_cjk(first) && !wide) {
        return;
    }
    text.push(' ');
}

/// Groups a page's lines into paragraphs.
fn paragraphs(lines: &[Line]) -> Vec<String> {
    let spacing = LineSpacing::of(lines);
    let margin = lines
        .iter()
        .map(|line| dot(line.origin, line.dir))
        .fold(f32::INFINITY, f32::min);

    let mut out = Vec::new();
    let mut paragraph = String::new();
    let mut previous: Option<&Line> = None;
    for line in lines {
        if let Some(previous) = previous {
            if starts_paragraph(previous, line, &spacing, margin) {
                out.push(std::mem::take(&mut paragraph));
            } else {
                join_line(&mut paragraph, &line.text);
            }
        }
        if paragraph.is_empty() {
            paragraph.push_str(&line.text);
        }
        previous = Some(line);
    }
    out.push(paragraph);
    out.retain(|p| !p.is_empty());
    out
}

/// The usual distance between lines of text, relative to font size, for each font size on a
/// page: the lower quartile of the gaps between consecutive lines of that size, which is the
/// spacing within paragraphs whatever the document's leading. Per size, because body text,
/// footnotes and text in another script often have different leading on one page.
struct LineSpacing {
    /// `(smallest size, largest size, spacing)` of groups of similar sizes.
    groups: Vec<(f32, f32, f32)>,
}

impl LineSpacing {
    fn of(lines: &[Line]) -> Self {
        let mut samples: Vec<(f32, f32)> = lines
            .windows(2)
            .filter_map(|pair| {
                let [previous, line] = pair else { return None };
                let size = previous.size.max(line.size);
                if (previous.size - line.size).abs() > 0.05 * size {
                    return None;
                }
                let ratio = line_gap(previous, line) / size;
                (0.5..3.0).contains(&ratio).then_some((line.size, ratio))
            })
            .collect();
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut groups = Vec::new();
        let mut rest = samples.as_slice();
        while let Some(&(smallest, _)) = rest.first() {
            let len = rest.partition_point(|&(size, _)| size <= smallest * 1.05);
            let (group, tail) = rest.split_at(len.max(1));
            rest = tail;
            let mut ratios: Vec<f32> = group.iter().map(|&(_, ratio)| ratio).collect();
            ratios.sort_by(f32::total_cmp);
            if let (Some(&(largest, _)), Some(&spacing)) =
                (group.last(), ratios.get(ratios.len() / 4))
            {
                groups.push((smallest, largest, spacing));
            }
        }
        Self { groups }
    }

    fn for_size(&self, size: f32) -> Option<f32> {
        self.groups
            .iter()
            .find(|&&(smallest, largest, _)| (smallest..=largest).contains(&size))
            .map(|&(_, _, spacing)| spacing)
    }
}

/// Distance from `previous`'s baseline down to `line`'s.
fn line_gap(previous: &Line, line: &Line) -> f32 {
    dot(sub(previous.origin, line.origin), normal(previous.dir))
}

fn starts_paragraph(previous: &Line, line: &Line, spacing: &LineSpacing, margin: f32) -> bool {
    let size = previous.size.max(line.size);
    if dot(previous.dir, line.dir) < 0.9 {
        return true;
    }
    let gap = line_gap(previous, line) / size;
    // Moving up (a new column or a block out of reading order) or a much wider gap.
    if !(0.3..).contains(&gap) {
        return true;
    }
    let widened = match spacing.for_size(line.size) {
        Some(spacing) => gap > (spacing * 1.2).max(spacing + 0.25),
        None => gap > 1.9,
    };
    if widened {
        return true;
    }
    // A change of font size is a heading starting or ending.
    if (previous.size - line.size).abs() > 0.15 * size {
        return true;
    }
    if is_list_item(&line.text) {
        return true;
    }
    // A first-line indent after a line that started at the margin (not a hanging indent
    // under a list item).
    let indent = |l: &Line| (dot(l.origin, l.dir) - margin) / size;
    indent(line) > 1.0 && indent(previous) < 0.5 && !is_list_item(&previous.text)
}

/// Appends a wrapped line to a paragraph: undoes end-of-line hyphenation ("docu-" + "ment"),
/// and joins CJK without a space.
fn join_line(paragraph: &mut String, line: &str) {
    let mut tail = paragraph.chars().rev();
    let (last, before) = (tail.next(), tail.next());
    let first = line.chars().next();
    match (before, last, first) {
        (Some(b), Some('-'), Some(f)) if b.is_alphabetic() && f.is_lowercase() => {
            paragraph.pop();
        }
        (_, Some(l), Some(f)) if is_cjk(l) && is_cjk(f) => {}
        (_, Some(_), Some(_)) => paragraph.push(' '),
        _ => {}
    }
    paragraph.push_str(line);
}

/// A font as far as text extraction needs it: how to turn its codes into text, and how far
/// each code advances.
struct Font<'a> {
    decoder: Decoder<'a>,
    codes: Codes,
    widths: Widths,
    /// Text-space units per glyph-space width unit: 1/1000, except for Type3 fonts.
    width_scale: f32,
}

enum Decoder<'a> {
    Unicode(ToUnicode),
    Pdf(Encoding<'a>),
    /// Composite fonts with a predefined CJK `CMap` whose codes are a standard character set.
    Charset(&'static encoding_rs::Encoding),
    /// No way to text (an Identity-encoded font without `ToUnicode`): glyph ids, not characters.
    Opaque,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Codes {
    /// Simple fonts: one byte per glyph.
    One,
    /// Composite fonts with two-byte codes (Identity, UCS-2).
    Two,
    /// Composite fonts with a legacy CJK `CMap`: one byte for ASCII, two otherwise.
    Mixed,
}

struct Widths {
    first_char: u32,
    simple: Vec<f32>,
    /// `(first CID, last CID, width)` ranges from a CID font's `/W`, sorted.
    cid: Vec<(u32, u32, f32)>,
    /// Whether codes are `CIDs` (Identity `CMaps`), so `cid` applies.
    identity: bool,
    default: f32,
}

impl<'a> Font<'a> {
    fn new(
        doc: &'a Document,
        dict: &'a Dictionary,
        stripped: Option<&'a Dictionary>,
        cmap_budget: &mut CmapBudget,
    ) -> Self {
        let subtype = dict.get(b"Subtype").and_then(Object::as_name).ok();
        let composite = subtype == Some(b"Type0");
        let cmap = dict
            .get_deref(b"Encoding", doc)
            .and_then(Object::as_name)
            .ok();
        let identity = matches!(cmap, Some(b"Identity-H" | b"Identity-V"));

        // A ToUnicode `CMap` is the reliable map to text, so it comes before `/Encoding`.
        let to_unicode = dict
            .get_deref(b"ToUnicode", doc)
            .and_then(Object::as_stream)
            .ok()
            .and_then(|stream| {
                let limit = cmap_budget.bytes;
                let content = stream.get_plain_content_with_limit(limit);
                cmap_budget.bytes -= content.as_ref().map_or(limit, Vec::len);
                content.ok()
            })
            .and_then(|content| ToUnicode::parse(&content, &mut cmap_budget.mappings));
        let decoder = if let Some(map) = to_unicode {
            Decoder::Unicode(map)
        } else if composite {
            cmap.and_then(cjk_charset)
                .map_or(Decoder::Opaque, Decoder::Charset)
        } else {
            // lopdf reads the `/ToUnicode` of a font without `/Encoding` (or with an Identity
            // one): hand it a copy without one (an inline font dictionary has no copy, and so
            // no text).
            let lopdf_safe = !dict.has(b"ToUnicode") || (dict.has(b"Encoding") && !identity);
            stripped
                .or(lopdf_safe.then_some(dict))
                .and_then(|d| d.get_font_encoding_with_limit(doc, MAX_STREAM_BYTES).ok())
                .map_or(Decoder::Opaque, Decoder::Pdf)
        };

        let codes = match cmap {
            _ if !composite => Codes::One,
            Some(name) if cjk_charset(name).is_some_and(|e| e != encoding_rs::UTF_16BE) => {
                Codes::Mixed
            }
            _ => Codes::Two,
        };
        let widths = if composite {
            cid_widths(doc, dict, identity)
        } else {
            simple_widths(doc, dict)
        };
        let width_scale = if subtype == Some(b"Type3") {
            dict.get_deref(b"FontMatrix", doc)
                .and_then(Object::as_array)
                .ok()
                .and_then(|m| m.first())
                .and_then(|a| a.as_float().ok())
                .filter(|a| a.is_finite() && *a != 0.0)
                .unwrap_or(0.001)
        } else {
            0.001
        };
        Self {
            decoder,
            codes,
            widths,
            width_scale,
        }
    }

    fn decode(&self, bytes: &[u8], out: &mut String) {
        match &self.decoder {
            Decoder::Unicode(map) => map.decode(bytes, out),
            // A code the encoding can't map costs that string, not the page.
            Decoder::Pdf(encoding) => {
                let _ = encoding.write_to_string(bytes, out);
            }
            Decoder::Charset(encoding) => {
                out.push_str(&encoding.decode_without_bom_handling(bytes).0);
            }
            Decoder::Opaque => {}
        }
    }

    /// How far showing `bytes` moves the text position, in unscaled text space.
    fn advance(&self, bytes: &[u8], gs: &GraphicsState<'_>) -> f32 {
        let mut width = 0.0_f32;
        let mut glyphs = 0_u16;
        let mut spaces = 0_u16;
        let mut count = |w: f32, space: bool| {
            width += w;
            glyphs = glyphs.saturating_add(1);
            spaces = spaces.saturating_add(u16::from(space));
        };
        match self.codes {
            Codes::One => {
                for &b in bytes {
                    count(self.widths.simple(b), b == b' ');
                }
            }
            Codes::Two => {
                for pair in bytes.chunks(2) {
                    let code = pair.iter().fold(0_u32, |code, &b| code << 8 | u32::from(b));
                    count(self.widths.cid(code), false);
                }
            }
            Codes::Mixed => {
                let mut iter = bytes.iter();
                while let Some(&b) = iter.next() {
                    if b < 0x80 {
                        count(self.widths.default / 2.0, b == b' ');
                    } else {
                        iter.next();
                        count(self.widths.default, false);
                    }
                }
            }
        }
        (width * self.width_scale * gs.size
            + f32::from(glyphs) * gs.char_spacing
            + f32::from(spaces) * gs.word_spacing)
            * gs.scale
    }
}

impl Widths {
    fn simple(&self, code: u8) -> f32 {
        u32::from(code)
            .checked_sub(self.first_char)
            .and_then(|i| self.simple.get(usize::try_from(i).ok()?))
            .copied()
            .filter(|w| *w > 0.0)
            .unwrap_or(self.default)
    }

    fn cid(&self, code: u32) -> f32 {
        if !self.identity {
            return self.default;
        }
        let after = self.cid.partition_point(|&(first, _, _)| first <= code);
        after
            .checked_sub(1)
            .and_then(|i| self.cid.get(i))
            .filter(|&&(_, last, _)| code <= last)
            .map_or(self.default, |&(_, _, w)| w)
    }
}

fn float(doc: &Document, object: &Object) -> Option<f32> {
    doc.dereference(object)
        .ok()?
        .1
        .as_float()
        .ok()
        .filter(|n| n.is_finite())
}

fn integer(doc: &Document, object: &Object) -> Option<i64> {
    doc.dereference(object).ok()?.1.as_i64().ok()
}

fn simple_widths(doc: &Document, dict: &Dictionary) -> Widths {
    let first_char = dict
        .get(b"FirstChar")
        .ok()
        .and_then(|o| integer(doc, o))
        .and_then(|i| u32::try_from(i.clamp(0, 255)).ok())
        .unwrap_or(0);
    let simple: Vec<f32> = dict
        .get_deref(b"Widths", doc)
        .and_then(Object::as_array)
        .map(|widths| {
            widths
                .iter()
                .take(256)
                .map(|w| float(doc, w).unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    let missing = dict
        .get_deref(b"FontDescriptor", doc)
        .and_then(Object::as_dict)
        .and_then(|d| d.get(b"MissingWidth"))
        .ok()
        .and_then(|o| float(doc, o))
        .filter(|w| *w > 0.0);
    let positive: Vec<f32> = simple.iter().copied().filter(|w| *w > 0.0).collect();
    let default = missing.unwrap_or_else(|| {
        if positive.is_empty() {
            // The standard 14 fonts come without widths: Courier is fixed-pitch at 600, the
            // others average about half an em.
            let base = dict
                .get(b"BaseFont")
                .and_then(Object::as_name)
                .unwrap_or_default();
            if super::find(base, b"Courier").is_some() {
                600.0
            } else {
                500.0
            }
        } else {
            // At most 256 widths, so the count converts exactly.
            positive.iter().sum::<f32>()
                / f32::from(u16::try_from(positive.len()).unwrap_or(u16::MAX))
        }
    });
    Widths {
        first_char,
        simple,
        cid: Vec::new(),
        identity: false,
        default,
    }
}

fn cid_widths(doc: &Document, dict: &Dictionary, identity: bool) -> Widths {
    let descendant = dict
        .get_deref(b"DescendantFonts", doc)
        .and_then(Object::as_array)
        .ok()
        .and_then(|fonts| fonts.first())
        .and_then(|font| doc.dereference(font).ok())
        .and_then(|(_, font)| font.as_dict().ok());
    let default = descendant
        .and_then(|d| d.get(b"DW").ok())
        .and_then(|o| float(doc, o))
        .filter(|w| *w > 0.0)
        .unwrap_or(1000.0);
    let mut cid = Vec::new();
    if let Some(w) = descendant
        .and_then(|d| d.get_deref(b"W", doc).ok())
        .and_then(|w| w.as_array().ok())
    {
        // Clamped to the CID range so that counting up from one cannot overflow.
        let cid_of =
            |o: &Object| integer(doc, o).and_then(|i| u32::try_from(i.clamp(0, 65_535)).ok());
        let mut items = w.iter();
        // `/W` mixes `c [w1 w2 …]` and `c_first c_last w` entries.
        while let Some(first) = items.next().and_then(cid_of) {
            if cid.len() >= MAX_WIDTH_ENTRIES {
                break;
            }
            let Some(next) = items
                .next()
                .and_then(|o| doc.dereference(o).ok())
                .map(|o| o.1)
            else {
                break;
            };
            if let Ok(list) = next.as_array() {
                for (code, width) in (first..).zip(list.iter().take(MAX_WIDTH_ENTRIES)) {
                    cid.push((code, code, float(doc, width).unwrap_or(default)));
                }
            } else {
                let Some(last) = cid_of(next) else { break };
                let Some(width) = items.next().and_then(|o| float(doc, o)) else {
                    break;
                };
                cid.push((first, last, width));
            }
        }
        cid.sort_by_key(|&(first, _, _)| first);
    }
    Widths {
        first_char: 0,
        simple: Vec::new(),
        cid,
        identity,
        default,
    }
}

/// A `ToUnicode` `CMap`: which text each character code stands for.
///
/// Parsed here rather than by lopdf, whose parser rejects `CMap`s that stray from Adobe's
/// template and expands ranges code by code. This one reads any sequence of `codespacerange`,
/// `bfchar` and `bfrange` sections and keeps ranges as ranges.
struct ToUnicode {
    /// `(low, high, length in bytes)`.
    codespace: Vec<(u32, u32, usize)>,
    /// Sorted by `(len, first)`.
    mappings: Vec<Mapping>,
    /// Code length to assume when nothing else says.
    default_len: usize,
}

struct Mapping {
    len: usize,
    first: u32,
    last: u32,
    target: Target,
}

enum Target {
    /// UTF-16 text for `first`; each later code increments its last unit.
    Base(Vec<u16>),
    /// UTF-16 text for each code from `first`.
    Each(Vec<Vec<u16>>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Codespace,
    Chars,
    Ranges,
}

enum Token {
    Hex(Vec<u8>),
    Word(Vec<u8>),
    Open,
    Close,
}

impl ToUnicode {
    /// Reads a `CMap`, adding at most `budget` mappings (and charging them to it). `None` when
    /// it maps nothing.
    fn parse(cmap: &[u8], budget: &mut usize) -> Option<Self> {
        let mut map = Self {
            codespace: Vec::new(),
            mappings: Vec::new(),
            default_len: 1,
        };
        let mut section = None;
        let mut operands: Vec<Vec<u8>> = Vec::new();
        let mut array: Option<Vec<Vec<u16>>> = None;
        let mut input = cmap;
        while *budget > 0 {
            let Some(token) = next_token(&mut input) else {
                break;
            };
            match token {
                Token::Word(word) => {
                    section = match word.as_slice() {
                        b"begincodespacerange" => Some(Section::Codespace),
                        b"beginbfchar" => Some(Section::Chars),
                        b"beginbfrange" => Some(Section::Ranges),
                        word if word.starts_with(b"end") => None,
                        _ => section,
                    };
                    operands.clear();
                    array = None;
                }
                Token::Hex(bytes) => {
                    if let Some(array) = &mut array {
                        array.push(utf16_units(&bytes));
                        continue;
                    }
                    operands.push(bytes);
                    match (section, operands.as_slice()) {
                        (Some(Section::Codespace), [low, high]) => {
                            if let (Some(low), Some(high)) = (code(low), code(high)) {
                                map.codespace.push((low.0, high.0, low.1));
                            }
                            operands.clear();
                        }
                        (Some(Section::Chars), [source, target]) => {
                            if let Some((first, len)) = code(source) {
                                map.push(len, first, first, Target::Base(utf16_units(target)));
                                *budget -= 1;
                            }
                            operands.clear();
                        }
                        (Some(Section::Ranges), [low, high, target]) => {
                            if let (Some((first, len)), Some((last, _))) = (code(low), code(high)) {
                                map.push(len, first, last, Target::Base(utf16_units(target)));
                                *budget -= 1;
                            }
                            operands.clear();
                        }
                        (None, _) => operands.clear(),
                        _ => {}
                    }
                }
                Token::Open => {
                    if section == Some(Section::Ranges) && operands.len() == 2 {
                        array = Some(Vec::new());
                    }
                }
                Token::Close => {
                    if let (Some(targets), [low, high]) = (array.take(), operands.as_slice())
                        && let (Some((first, len)), Some((last, _))) = (code(low), code(high))
                    {
                        *budget = budget.saturating_sub(targets.len());
                        map.push(len, first, last, Target::Each(targets));
                    }
                    operands.clear();
                }
            }
        }
        if map.mappings.is_empty() {
            return None;
        }
        map.mappings.sort_by_key(|m| (m.len, m.first));
        map.default_len = map
            .codespace
            .iter()
            .map(|&(_, _, len)| len)
            .min()
            .unwrap_or_else(|| map.mappings.iter().map(|m| m.len).min().unwrap_or(1));
        Some(map)
    }

    fn push(&mut self, len: usize, first: u32, last: u32, target: Target) {
        if first <= last {
            self.mappings.push(Mapping {
                len,
                first,
                last,
                target,
            });
        }
    }

    fn decode(&self, bytes: &[u8], out: &mut String) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = self.code_len(rest).min(rest.len());
            let (code_bytes, tail) = rest.split_at(len);
            rest = tail;
            let code = code_bytes.iter().fold(0_u32, |c, &b| c << 8 | u32::from(b));
            self.push_text(len, code, out);
        }
    }

    /// The length of the code at the start of `bytes`: the shortest that falls in the code
    /// space (or, without one, that has a mapping).
    fn code_len(&self, bytes: &[u8]) -> usize {
        (1..=bytes.len().min(4))
            .find(|&len| {
                let prefix = &bytes[..len];
                if self.codespace.is_empty() {
                    let code = prefix.iter().fold(0_u32, |c, &b| c << 8 | u32::from(b));
                    self.find(len, code).is_some()
                } else {
                    self.codespace.iter().any(|&(low, high, space_len)| {
                        space_len == len
                            && prefix.iter().enumerate().all(|(i, &b)| {
                                let shift = 8 * (len - 1 - i);
                                (low >> shift & 0xFF) <= u32::from(b)
                                    && u32::from(b) <= (high >> shift & 0xFF)
                            })
                    })
                }
            })
            .unwrap_or(self.default_len)
    }

    fn find(&self, len: usize, code: u32) -> Option<&Mapping> {
        let after = self
            .mappings
            .partition_point(|m| (m.len, m.first) <= (len, code));
        let mapping = self.mappings.get(after.checked_sub(1)?)?;
        (mapping.len == len && code <= mapping.last).then_some(mapping)
    }

    fn push_text(&self, len: usize, code: u32, out: &mut String) {
        let Some(mapping) = self.find(len, code) else {
            return;
        };
        let offset = code - mapping.first;
        let units: &[u16] = match &mapping.target {
            Target::Base(base) => {
                let Some((last, init)) = base.split_last() else {
                    return;
                };
                // Offsets wrap within the last UTF-16 unit, as the spec's ranges do.
                let last = last.wrapping_add(u16::try_from(offset & 0xFFFF).unwrap_or(0));
                let units = init.iter().copied().chain([last]);
                out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
                return;
            }
            Target::Each(targets) => {
                let Some(units) = usize::try_from(offset).ok().and_then(|i| targets.get(i)) else {
                    return;
                };
                units
            }
        };
        out.extend(char::decode_utf16(units.iter().copied()).map(|c| c.unwrap_or('\u{FFFD}')));
    }
}

/// A source code (1 to 4 bytes) and its length.
fn code(bytes: &[u8]) -> Option<(u32, usize)> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some((
        bytes.iter().fold(0_u32, |c, &b| c << 8 | u32::from(b)),
        bytes.len(),
    ))
}

/// Destination bytes as UTF-16BE code units (at most 256, as the spec allows).
fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks(2)
        .take(256)
        .map(|pair| match *pair {
            [high, low] => u16::from_be_bytes([high, low]),
            [single] => u16::from(single),
            _ => 0,
        })
        .collect()
}

/// The next token of a `CMap` (PostScript): hex strings, words, and array brackets; names,
/// literal strings, comments and dictionaries are skipped.
fn next_token(input: &mut &[u8]) -> Option<Token> {
    loop {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        match byte {
            b'%' => {
                let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
                *input = &rest[end.unwrap_or(rest.len())..];
            }
            b'(' => {
                // Literal strings nest parentheses and escape them with backslashes.
                let mut depth = 1_usize;
                let mut escaped = false;
                let end = rest.iter().position(|&b| {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'(' {
                        depth += 1;
                    } else if b == b')' {
                        depth -= 1;
                    }
                    depth == 0
                });
                *input = end.map_or(&[][..], |end| &rest[end + 1..]);
            }
            b'<' if rest.first() == Some(&b'<') => *input = &rest[1..],
            b'<' => {
                let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                let digits: Vec<u8> = rest[..end]
                    .iter()
                    .filter_map(|&d| char::from(d).to_digit(16))
                    .filter_map(|d| u8::try_from(d).ok())
                    .collect();
                *input = rest.get(end + 1..).unwrap_or_default();
                // An odd final digit is followed by an implied 0.
                let bytes = digits
                    .chunks(2)
                    .map(|pair| pair[0] << 4 | pair.get(1).copied().unwrap_or(0))
                    .collect();
                return Some(Token::Hex(bytes));
            }
            b'[' => return Some(Token::Open),
            b']' => return Some(Token::Close),
            b'/' => {
                let end = rest
                    .iter()
                    .position(|&b| !is_regular(b))
                    .unwrap_or(rest.len());
                *input = &rest[end..];
            }
            b if is_regular(b) => {
                let end = rest
                    .iter()
                    .position(|&b| !is_regular(b))
                    .unwrap_or(rest.len());
                let mut word = vec![b];
                word.extend_from_slice(&rest[..end]);
                *input = &rest[end..];
                return Some(Token::Word(word));
            }
            _ => {}
        }
    }
}

/// PostScript's regular characters: neither whitespace nor delimiters.
fn is_regular(byte: u8) -> bool {
    !byte.is_ascii_whitespace()
        && byte != 0
        && !matches!(
            byte,
            b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
        )
}

/// The character set behind a predefined CJK `CMap` (Adobe's names), for composite fonts that
/// come without a `ToUnicode` `CMap`: their codes are then plain GBK, Big5, Shift-JIS, … text.
fn cjk_charset(cmap: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let name = std::str::from_utf8(cmap).ok()?;
    let base = name
        .strip_suffix("-H")
        .or_else(|| name.strip_suffix("-V"))
        .unwrap_or(name);
    if base.starts_with("Uni") && (base.ends_with("-UCS2") || base.ends_with("-UTF16")) {
        return Some(encoding_rs::UTF_16BE);
    }
    if base.starts_with("Uni") && base.ends_with("-UTF8") {
        return Some(encoding_rs::UTF_8);
    }
    match base {
        "GB-EUC" | "GBpc-EUC" | "GBK-EUC" | "GBKp-EUC" | "GBK2K" => Some(encoding_rs::GB18030),
        "B5pc" | "ETen-B5" | "ETenms-B5" | "HKscs-B5" | "B5" => Some(encoding_rs::BIG5),
        "90ms-RKSJ" | "90msp-RKSJ" | "90pv-RKSJ" | "83pv-RKSJ" | "78ms-RKSJ" | "Add-RKSJ"
        | "Ext-RKSJ" => Some(encoding_rs::SHIFT_JIS),
        "EUC" => Some(encoding_rs::EUC_JP),
        "KSC-EUC" | "KSCms-UHC" | "KSCpc-EUC" => Some(encoding_rs::EUC_KR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::content::Operation;
    use lopdf::{Stream, StringFormat, dictionary};

    fn limits() -> ParseLimits {
        ParseLimits::default()
    }

    /// A document with fonts /F1 (Helvetica), /F2 (Chinese, UniGB-UCS2-H) and /F3 (Identity-H
    /// with a `ToUnicode` `CMap` mapping `CIDs` 1 and 2 to 中 and 文), and one page per content
    /// stream.
    fn document(pages: &[Vec<u8>]) -> Document {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let helvetica = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
        });
        let song = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "BaseFont" => "STSong-Light",
            "Encoding" => "UniGB-UCS2-H",
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "Type" => "Font",
                "Subtype" => "CIDFontType0",
                "BaseFont" => "STSong-Light",
                "CIDSystemInfo" => dictionary! {
                    "Registry" => Object::string_literal("Adobe"),
                    "Ordering" => Object::string_literal("GB1"),
                    "Supplement" => 2,
                },
                "DW" => 1000,
            })],
        });
        let cmap = doc.add_object(Stream::new(
            dictionary! {},
            b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n\
1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
2 beginbfchar <0001> <4E2D> <0002> <6587> endbfchar\n\
endcmap CMapName currentdict /CMap defineresource pop end end\n"
                .to_vec(),
        ));
        let subset = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "BaseFont" => "ABCDEF+SimSun",
            "Encoding" => "Identity-H",
            "ToUnicode" => cmap,
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "Type" => "Font",
                "Subtype" => "CIDFontType2",
                "BaseFont" => "ABCDEF+SimSun",
                "DW" => 1000,
                "W" => vec![1.into(), vec![1000.into(), 1000.into()].into()],
            })],
        });
        let resources = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => helvetica, "F2" => song, "F3" => subset },
        });
        let mut kids = Vec::new();
        for content in pages {
            let content_id = doc.add_object(Stream::new(dictionary! {}, content.clone()));
            kids.push(Object::Reference(doc.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "Contents" => content_id,
            })));
        }
        let count = i64::try_from(kids.len()).unwrap();
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => kids,
                "Count" => count,
                "Resources" => resources,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        doc
    }

    fn save(doc: &mut Document) -> Vec<u8> {
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    }

    /// A page of Helvetica lines, one `BT … ET` each; an empty line leaves a blank line.
    fn text_page(lines: &[&str]) -> Vec<u8> {
        let mut operations = Vec::new();
        let mut y = 760.0_f32;
        for line in lines {
            if !line.is_empty() {
                operations.extend([
                    Operation::new("BT", vec![]),
                    Operation::new("Tf", vec!["F1".into(), 12.into()]),
                    Operation::new("Td", vec![72.into(), y.into()]),
                    Operation::new("Tj", vec![Object::string_literal(*line)]),
                    Operation::new("ET", vec![]),
                ]);
            }
            y -= 14.4;
        }
        Content { operations }.encode().unwrap()
    }

    fn pdf(pages: &[Vec<u8>]) -> Vec<u8> {
        save(&mut document(pages))
    }

    fn blocks(parsed: &Parsed) -> Vec<(Option<u32>, &str)> {
        parsed
            .blocks
            .iter()
            .map(|b| (b.page, b.text.as_str()))
            .collect()
    }

    fn parse_ok(bytes: &[u8]) -> Parsed {
        super::super::parse(bytes, Some("doc.pdf"), &limits()).unwrap()
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
    fn the_info_title_becomes_the_title() {
        let mut doc = document(&[text_page(&["Body"])]);
        let info =
            doc.add_object(dictionary! { "Title" => Object::string_literal("  Annual   Report ") });
        doc.trailer.set("Info", info);
        assert_eq!(
            parse_ok(&save(&mut doc)).title.as_deref(),
            Some("Annual Report")
        );

        let mut doc = document(&[text_page(&["Body"])]);
        let info = doc.add_object(dictionary! { "Title" => lopdf::text_string("年度报告") });
        doc.trailer.set("Info", info);
        assert_eq!(parse_ok(&save(&mut doc)).title.as_deref(), Some("年度报告"));

        let mut doc = document(&[text_page(&["Body"])]);
        let info = doc.add_object(dictionary! { "Title" => Object::string_literal(" ") });
        doc.trailer.set("Info", info);
        assert_eq!(parse_ok(&save(&mut doc)).title, None);
    }

    #[test]
    fn chinese_text_is_read_through_cjk_cmaps_and_tounicode() {
        let ucs2: Vec<u8> = "中文文档"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F2".into(), 12.into()]),
                Operation::new("Td", vec![72.into(), 700.into()]),
                Operation::new("Tj", vec![Object::String(ucs2, StringFormat::Hexadecimal)]),
                Operation::new("Tf", vec!["F3".into(), 12.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::String(vec![0, 1, 0, 2], StringFormat::Hexadecimal)],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let parsed = parse_ok(&pdf(&[content.encode().unwrap()]));
        assert_eq!(blocks(&parsed), [(Some(1), "中文文档中文")]);
    }

    #[test]
    fn positioned_words_get_spaces_and_kerned_letters_do_not() {
        let content = b"BT /F1 12 Tf 72 700 Td (Hello) Tj 40 0 Td (World) Tj ET\n\
BT /F1 12 Tf 72 680 Td [(Ker) -20 (ned) -300 (words)] TJ ET\n\
BT /F1 12 Tf 72 660 Td (Bold) Tj ET BT /F1 12 Tf 72.3 660 Td (Bold) Tj ET";
        let parsed = parse_ok(&pdf(&[content.to_vec()]));
        assert_eq!(
            blocks(&parsed),
            [(Some(1), "Hello World Kerned words Bold")]
        );
    }

    #[test]
    fn hyphenated_line_ends_are_joined_and_list_items_split() {
        let parsed = parse_ok(&pdf(&[text_page(&[
            "Extraction of docu-",
            "ments works.",
            "- first item",
            "- second item",
        ])]));
        assert_eq!(
            blocks(&parsed),
            [
                (Some(1), "Extraction of documents works."),
                (Some(1), "- first item"),
                (Some(1), "- second item"),
            ]
        );
    }

    #[test]
    fn a_heading_in_a_larger_font_is_its_own_paragraph() {
        let content = b"BT /F1 20 Tf 72 760 Td (Introduction) Tj ET\n\
BT /F1 10 Tf 72 736 Td (Body text starts here and) Tj ET\n\
BT /F1 10 Tf 72 724 Td (continues on this line.) Tj ET";
        let parsed = parse_ok(&pdf(&[content.to_vec()]));
        assert_eq!(
            blocks(&parsed),
            [
                (Some(1), "Introduction"),
                (Some(1), "Body text starts here and continues on this line."),
            ]
        );
    }

    #[test]
    fn text_inside_form_xobjects_is_found() {
        let mut doc = document(&[b"q 1 0 0 1 0 -100 cm /X1 Do Q".to_vec()]);
        let form = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 595.into(), 842.into()] },
            b"BT /F1 12 Tf 72 700 Td (Inside a form) Tj ET /X1 Do".to_vec(),
        ));
        let page_id = *doc.get_pages().get(&1).unwrap();
        let page = doc.get_dictionary_mut(page_id).unwrap();
        page.set(
            "Resources",
            dictionary! {
                "Font" => dictionary! { "F1" => dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" } },
                "XObject" => dictionary! { "X1" => form },
            },
        );
        let parsed = parse_ok(&save(&mut doc));
        assert_eq!(blocks(&parsed), [(Some(1), "Inside a form")]);
    }

    #[test]
    fn a_truncated_pdf_is_corrupt() {
        let bytes = pdf(&[
            text_page(&["one"]),
            text_page(&["two"]),
            text_page(&["three"]),
        ]);
        let err =
            super::super::parse(&bytes[..bytes.len() / 2], Some("doc.pdf"), &limits()).unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
        assert!(
            err.to_string().ends_with(": re-export it and upload again"),
            "{err}"
        );
    }

    #[test]
    fn garbage_after_the_header_is_corrupt() {
        let mut bytes = b"%PDF-1.7\n".to_vec();
        let mut x = 7_u32;
        for _ in 0..4000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            bytes.push(x.to_be_bytes()[1]);
        }
        let err = super::super::parse(&bytes, None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
        let err = super::super::parse(b"%PDF-1.4\n%%EOF\n", None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::CorruptPdf { .. }), "{err}");
    }

    fn encrypted(user_password: &str) -> Vec<u8> {
        let mut doc = document(&[text_page(&["Secret text"])]);
        let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Literal);
        doc.trailer.set("ID", vec![id.clone(), id]);
        let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: lopdf::Permissions::all(),
        })
        .unwrap();
        doc.encrypt(&state).unwrap();
        save(&mut doc)
    }

    #[test]
    fn an_encrypted_pdf_needing_a_password_is_refused() {
        let err = super::super::parse(&encrypted("secret"), None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::EncryptedPdf), "{err}");
        assert_eq!(
            err.to_string(),
            "the PDF is encrypted: upload a copy without a password"
        );
    }

    #[test]
    fn an_encrypted_pdf_with_an_empty_user_password_is_decrypted() {
        let parsed = parse_ok(&encrypted(""));
        assert_eq!(blocks(&parsed), [(Some(1), "Secret text")]);
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
        let err = super::super::parse(&save(&mut doc), None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::ScannedPdf { pages: 2 }), "{err}");
        assert_eq!(
            err.to_string(),
            "no extractable text: scanned PDF? run OCR on it and upload the result"
        );
    }

    #[test]
    fn too_many_pages_are_refused_naming_both_numbers() {
        let bytes = pdf(&vec![text_page(&["x"]); 5]);
        let err = super::super::parse(&bytes, None, &ParseLimits { max_pages: 3 }).unwrap_err();
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

    #[test]
    fn a_form_drawing_itself_many_times_stays_within_budget() {
        let mut doc = document(&[b"/X1 Do".to_vec()]);
        let form_id = doc.new_object_id();
        let form = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form", "Resources" => dictionary! { "XObject" => dictionary! { "X1" => form_id, "X2" => form_id } } },
            b"/X1 Do /X2 Do /X1 Do /X2 Do".to_vec(),
        );
        doc.objects.insert(form_id, Object::Stream(form));
        let page_id = *doc.get_pages().get(&1).unwrap();
        doc.get_dictionary_mut(page_id).unwrap().set(
            "Resources",
            dictionary! { "XObject" => dictionary! { "X1" => form_id } },
        );
        let err = super::super::parse(&save(&mut doc), None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::ScannedPdf { .. }), "{err}");
    }

    fn ucs2_hex(text: &str) -> String {
        let hex: String = text
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .map(|b| format!("{b:02X}"))
            .collect();
        format!("<{hex}>")
    }

    #[test]
    fn line_spacing_is_judged_per_font_size_and_wide_cjk_gaps_are_spaces() {
        let content = format!(
            "BT /F1 10 Tf 72 760 Td (English line one,) Tj 0 -12 Td (line two,) Tj 0 -12 Td (line three.) Tj ET\n\
BT /F2 11 Tf 72 700 Td {} Tj 0 -16 Td {} Tj 0 -22 Td {} Tj ET\n\
BT /F2 11 Tf 72 600 Td {} Tj 100 0 Td {} Tj ET",
            ucs2_hex("第一段第一行，"),
            ucs2_hex("第一段第二行。"),
            ucs2_hex("第二段。"),
            ucs2_hex("名称"),
            ucs2_hex("价格"),
        );
        let parsed = parse_ok(&pdf(&[content.into_bytes()]));
        assert_eq!(
            blocks(&parsed),
            [
                (Some(1), "English line one, line two, line three."),
                (Some(1), "第一段第一行，第一段第二行。"),
                (Some(1), "第二段。"),
                (Some(1), "名称 价格"),
            ]
        );
    }

    #[test]
    fn a_real_subset_font_pdf_reads_through_its_tounicode_cmap() {
        // ReportLab 4 with an embedded WenQuanYi subset: simple TrueType fonts that claim
        // WinAnsiEncoding, so only the ToUnicode CMap gives the Chinese text.
        let bytes = include_bytes!("../../../tests/fixtures/parse/reportlab-cjk-subset.pdf");
        let parsed = parse_ok(bytes);
        assert_eq!(parsed.title.as_deref(), Some("中文测试"));
        assert_eq!(parsed.pages, Some(2));
        assert_eq!(
            blocks(&parsed),
            [
                (Some(1), "第一章"),
                (
                    Some(1),
                    &*"中文文本用于测试分段，文本中文用于测试。".repeat(3)
                ),
                (Some(1), "Mixed 中文 and English text."),
                (Some(2), "第二章"),
                (Some(2), "测试文本。"),
            ]
        );
    }

    /// A page showing `<0001>` in an Identity-H font whose `ToUnicode` `CMap` has `ranges`.
    fn cmap_font_pdf(ranges: &str, fonts: usize) -> Vec<u8> {
        let mut content = text_page(&["Latin text"]);
        for i in 0..fonts {
            content.extend_from_slice(
                format!("BT /C{i} 12 Tf 72 {} Td <0001> Tj ET\n", 600 - i).as_bytes(),
            );
        }
        let mut doc = document(&[content]);
        let cmap = doc.add_object(Stream::new(
            dictionary! {},
            format!(
                "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
/CMapName /Test-UCS def /CMapType 2 def\n\
1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
1 beginbfrange\n{ranges}\nendbfrange\nendcmap CMapName currentdict /CMap defineresource pop end end\n"
            )
            .into_bytes(),
        ));
        let mut font_dict = Dictionary::new();
        for i in 0..fonts {
            let font = doc.add_object(dictionary! {
                "Type" => "Font",
                "Subtype" => "Type0",
                "BaseFont" => "X",
                "Encoding" => "Identity-H",
                "ToUnicode" => cmap,
            });
            font_dict.set(format!("C{i}"), font);
        }
        font_dict.set(
            "F1",
            dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
        );
        let page_id = *doc.get_pages().get(&1).unwrap();
        doc.get_dictionary_mut(page_id)
            .unwrap()
            .set("Resources", dictionary! { "Font" => font_dict });
        save(&mut doc)
    }

    #[test]
    fn a_cmap_with_a_huge_range_is_not_expanded() {
        let bytes = cmap_font_pdf("<00000000> <FFFFFFFF> <0041>", 1);
        let start = std::time::Instant::now();
        let parsed = parse_ok(&bytes);
        assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
        assert_eq!(blocks(&parsed), [(Some(1), "Latin text")]);
    }

    #[test]
    fn a_cmap_with_ordinary_ranges_is_used() {
        let parsed = parse_ok(&cmap_font_pdf("<0000> <00FF> <4E00>", 1));
        assert_eq!(blocks(&parsed), [(Some(1), "Latin text"), (Some(1), "丁")]);
    }

    fn decode_with(cmap: &[u8], bytes: &[u8]) -> String {
        let mut budget = 1000;
        let map = ToUnicode::parse(cmap, &mut budget).unwrap();
        let mut out = String::new();
        map.decode(bytes, &mut out);
        out
    }

    #[test]
    fn tounicode_cmaps_map_chars_ranges_and_arrays() {
        let cmap = b"%!PS comment <00>\n/CIDInit /ProcSet findresource begin\n\
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS (x\\)) <0001>) >> def\n\
1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
2 beginbfchar <0001> <4E2D> <0002> <D840DC00> endbfchar\n\
2 beginbfrange <0010> <0012> <0041>\n<0020> <0021> [<6587> <00660069>] endbfrange\n";
        assert_eq!(
            decode_with(
                cmap,
                &[0, 1, 0, 2, 0, 0x10, 0, 0x12, 0, 0x20, 0, 0x21, 0, 0x99]
            ),
            "中\u{20000}AC文fi"
        );
    }

    #[test]
    fn tounicode_cmaps_without_a_code_space_use_their_mappings_lengths() {
        let cmap =
            b"beginbfchar <41> <0061> endbfchar beginbfrange <4230> <4231> <0030> endbfrange";
        assert_eq!(decode_with(cmap, b"AB0B1"), "a01");
    }

    #[test]
    fn a_tounicode_cmap_that_maps_nothing_is_none() {
        let mut budget = 10;
        assert!(ToUnicode::parse(b"begincmap endcmap <0001> <0041>", &mut budget).is_none());
        assert!(ToUnicode::parse(b"", &mut budget).is_none());
    }

    #[test]
    fn tounicode_mappings_are_charged_to_the_budget() {
        let mut budget = 2;
        let map = ToUnicode::parse(
            b"beginbfchar <01> <0041> <02> <0042> <03> <0043> endbfchar",
            &mut budget,
        )
        .unwrap();
        assert_eq!((map.mappings.len(), budget), (2, 0));
    }

    /// Memory and time for a document whose fonts use up the whole `CMap` budget. Run with
    /// `cargo test --release -- --ignored --nocapture cmap_budget_cost`.
    #[test]
    #[ignore = "benchmark"]
    fn cmap_budget_cost() {
        let bytes = cmap_font_pdf("<0000> <FFFF> <0000>", 500);
        let start = std::time::Instant::now();
        let parsed = parse_ok(&bytes);
        println!("{} blocks in {:?}", parsed.blocks.len(), start.elapsed());
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        for line in status.lines().filter(|l| l.starts_with("VmHWM")) {
            println!("{line}");
        }
    }

    #[test]
    fn a_form_that_inflates_past_the_limit_is_not_inflated_a_thousand_times() {
        let mut doc = document(&[b"/X1 Do ".repeat(1000)]);
        let mut bomb = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form" },
            vec![b' '; MAX_STREAM_BYTES + 1],
        );
        bomb.compress().unwrap();
        let bomb = doc.add_object(bomb);
        let page_id = *doc.get_pages().get(&1).unwrap();
        doc.get_dictionary_mut(page_id).unwrap().set(
            "Resources",
            dictionary! { "XObject" => dictionary! { "X1" => bomb } },
        );
        let bytes = save(&mut doc);
        let start = std::time::Instant::now();
        let err = super::super::parse(&bytes, None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::ScannedPdf { .. }), "{err}");
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    }

    /// Throughput on a generated 200-page, text-dense, compressed PDF. Run with
    /// `cargo test --release -- --ignored --nocapture pages_per_second`.
    #[test]
    #[ignore = "benchmark"]
    fn pages_per_second() {
        let line = "The quick brown fox jumps over the lazy dog, again and again and again.";
        let mut page = text_page(&[line; 40]);
        let chinese: Vec<u8> = "敏捷的棕色狐狸跳过了懒狗。"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        for y in [120, 105, 90, 75, 60] {
            page.extend_from_slice(format!("BT /F2 12 Tf 72 {y} Td <").as_bytes());
            page.extend(chinese.iter().flat_map(|b| format!("{b:02X}").into_bytes()));
            page.extend_from_slice(b"> Tj ET\n");
        }
        let mut doc = document(&vec![page; 200]);
        doc.compress();
        let bytes = save(&mut doc);
        let start = std::time::Instant::now();
        let runs = 5;
        for _ in 0..runs {
            let parsed = parse_ok(&bytes);
            assert_eq!(parsed.pages, Some(200));
        }
        let seconds = start.elapsed().as_secs_f64() / f64::from(runs);
        println!(
            "200 pages ({} KiB) in {:.1} ms: {:.0} pages/s",
            bytes.len() / 1024,
            seconds * 1000.0,
            200.0 / seconds
        );
    }
}
