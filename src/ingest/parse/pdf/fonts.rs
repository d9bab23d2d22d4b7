//! Fonts: what text extraction needs from a font dictionary. How its codes become text — its
//! `ToUnicode` `CMap` (read by [`ToUnicode`]), else its simple encoding (mapped by lopdf), else the
//! CJK character set its predefined `CMap` names — how many bytes a code takes, and how far each
//! code advances (`/Widths`, a CID font's `/W`, or the standard 14 fonts' defaults). Also the
//! copies of font dictionaries without their `CMap` that keep lopdf from ever parsing one.

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

use super::cmap::{CmapBudget, ToUnicode, cjk_charset};
use super::content::GraphicsState;
use super::{MAX_STREAM_BYTES, MAX_WIDTH_ENTRIES};

/// For each font object with a `/ToUnicode` `CMap`, a copy without it. lopdf must never parse
/// a `CMap`: it expands every range code by code into a reverse map, so one hostile line
/// (`<00000000> <FFFFFFFF> <0041>`) runs for minutes and allocates without bound, out of reach
/// of any timeout. `CMap`s are read by [`ToUnicode`] instead, and lopdf gets the copy.
pub(super) fn fonts_without_cmaps(doc: &Document) -> BTreeMap<ObjectId, Dictionary> {
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

/// A font as far as text extraction needs it: how to turn its codes into text, and how far
/// each code advances.
pub(super) struct Font<'a> {
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
    pub(super) fn new(
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

    pub(super) fn decode(&self, bytes: &[u8], out: &mut String) {
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
    pub(super) fn advance(&self, bytes: &[u8], gs: &GraphicsState<'_>) -> f32 {
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
            if crate::ingest::parse::find(base, b"Courier").is_some() {
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

#[cfg(test)]
mod tests {
    use super::super::samples::pdf;
    use super::super::{blocks, parse_ok};
    use lopdf::content::{Content, Operation};
    use lopdf::{Object, StringFormat};

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
    fn a_real_subset_font_pdf_reads_through_its_tounicode_cmap() {
        // ReportLab 4 with an embedded WenQuanYi subset: simple TrueType fonts that claim
        // WinAnsiEncoding, so only the ToUnicode CMap gives the Chinese text.
        let bytes = include_bytes!("../../../../tests/fixtures/parse/reportlab-cjk-subset.pdf");
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
}
