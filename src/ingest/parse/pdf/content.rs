//! Content streams: the walk over a page's operators (and the forms it draws) that places each
//! string it shows. It owns the text state — the graphics state saved by `q` and restored by `Q`,
//! the text and line matrices moved by `Td`, `Tm`, `T*` and kerning — and it enforces the per-page
//! budgets of operations, decompressed bytes and form depth. Each shown string goes to [`Lines`]
//! as a positioned [`Run`].

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object, ObjectId};

use super::cmap::CmapBudget;
use super::fonts::Font;
use super::layout::{Lines, Run, paragraphs};
use super::{
    MAX_CMAP_BYTES_PER_DOCUMENT, MAX_CMAP_MAPPINGS_PER_DOCUMENT, MAX_CONTENT_PER_PAGE,
    MAX_FORM_DEPTH, MAX_OPS_PER_PAGE, MAX_STATE_DEPTH, MAX_STREAM_BYTES, MAX_TEXT_PER_PAGE,
};

/// Font size, in device units, below which sizes are treated as this (avoids dividing by zero
/// for degenerate matrices).
const MIN_SIZE: f32 = 1.0;

/// Reads the text of a document's pages, one at a time, sharing decoded fonts between them.
pub(super) struct Extractor<'a> {
    doc: &'a Document,
    stripped: &'a BTreeMap<ObjectId, Dictionary>,
    cmap_budget: CmapBudget,
    /// Decoded fonts, keyed by the address of their dictionary in `doc`, shared by all pages.
    fonts: HashMap<usize, Rc<Font<'a>>>,
}

impl<'a> Extractor<'a> {
    /// An extractor for `doc`, whose fonts with a `ToUnicode` `CMap` have copies without it in
    /// `stripped` (see [`fonts_without_cmaps`](super::fonts::fonts_without_cmaps)).
    pub(super) fn new(doc: &'a Document, stripped: &'a BTreeMap<ObjectId, Dictionary>) -> Self {
        Self {
            doc,
            stripped,
            cmap_budget: CmapBudget {
                mappings: MAX_CMAP_MAPPINGS_PER_DOCUMENT,
                bytes: MAX_CMAP_BYTES_PER_DOCUMENT,
            },
            fonts: HashMap::new(),
        }
    }

    /// The paragraphs of one page, and the images it draws (for OCR when it has no text). Fails
    /// only when the page's content cannot be read at all.
    pub(super) fn page_paragraphs(&mut self, page_id: ObjectId) -> Result<PageContent<'a>, String> {
        let content = self
            .doc
            .get_page_content_with_limit(page_id, MAX_STREAM_BYTES)
            .map_err(|e| e.to_string())?;
        let resources = self.page_resources(page_id);
        let mut page = PageState::new(content.len());
        self.run(&mut page, &content, &resources, 0);
        page.lines.finish_line();
        Ok(PageContent {
            paragraphs: paragraphs(&page.lines.done),
            images: page.images,
            inline_images: page.inline_images,
        })
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
                // An inline image: only a rasteriser sees it.
                "BI" | "EI" => page.inline_images = true,
                _ => {}
            }
        }
    }

    /// Runs a form `XObject`'s content in place, as `Do` does. Images are noted (a page of images
    /// and no text is a scan); unknown `XObjects` are skipped.
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
        let subtype = stream.dict.get(b"Subtype").and_then(Object::as_name).ok();
        if subtype == Some(b"Image") {
            let known = page
                .images
                .iter()
                .any(|drawn| std::ptr::eq(drawn.stream, stream));
            if !known && page.images.len() < MAX_IMAGES_PER_PAGE {
                page.images.push(DrawnImage {
                    stream,
                    area: (page.gs.ctm[0] * page.gs.ctm[3] - page.gs.ctm[1] * page.gs.ctm[2]).abs(),
                });
            }
            return;
        }
        if subtype != Some(b"Form") {
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

/// The parts of the graphics state that affect where text lands (saved by `q`, restored by `Q`).
#[derive(Clone)]
pub(super) struct GraphicsState<'a> {
    ctm: Matrix,
    font: Option<Rc<Font<'a>>>,
    pub(super) size: f32,
    pub(super) char_spacing: f32,
    pub(super) word_spacing: f32,
    /// Horizontal scaling, 1.0 = 100%.
    pub(super) scale: f32,
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
    /// The distinct images drawn, in drawing order.
    images: Vec<DrawnImage<'a>>,
    inline_images: bool,
}

/// What a page shows: its text, as paragraphs, and its images.
pub(super) struct PageContent<'a> {
    pub(super) paragraphs: Vec<String>,
    pub(super) images: Vec<DrawnImage<'a>>,
    /// It draws inline images (`BI` … `EI`), which are not `XObjects`.
    pub(super) inline_images: bool,
}

/// An image `XObject` a page draws, and the area it covers there (in square points: the
/// determinant of the matrix that maps the unit square onto the page).
pub(super) struct DrawnImage<'a> {
    pub(super) stream: &'a lopdf::Stream,
    pub(super) area: f32,
}

/// Distinct images noted per page: a scan has one, a page of a thousand tiles is rasterised.
const MAX_IMAGES_PER_PAGE: usize = 64;

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
            images: Vec::new(),
            inline_images: false,
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

#[cfg(test)]
mod tests {
    use super::super::samples::{document, pdf, save};
    use super::super::{blocks, parse_ok};
    use super::*;
    use crate::ingest::parse::{ParseError, ParseLimits};
    use lopdf::{Stream, dictionary};

    fn limits() -> ParseLimits {
        ParseLimits::default()
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
        let err = crate::ingest::parse::parse(&save(&mut doc), None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::NoText { .. }), "{err}");
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
        let err = crate::ingest::parse::parse(&bytes, None, &limits()).unwrap_err();
        assert!(matches!(err, ParseError::NoText { .. }), "{err}");
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    }
}
