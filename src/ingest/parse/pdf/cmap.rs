//! `CMaps`: the `ToUnicode` `CMaps` that map a font's codes to text, parsed here rather than by
//! lopdf (see [`ToUnicode`]) within a per-document budget ([`CmapBudget`]); and the character sets
//! behind Adobe's predefined CJK `CMaps` (GBK, Big5, Shift-JIS, …), for composite fonts that come
//! without a `ToUnicode` `CMap`.

/// What reading this document's `ToUnicode` `CMap`s may still cost.
pub(super) struct CmapBudget {
    /// Mappings kept (see [`MAX_CMAP_MAPPINGS_PER_DOCUMENT`](super::MAX_CMAP_MAPPINGS_PER_DOCUMENT)).
    pub(super) mappings: usize,
    /// Bytes decompressed (see [`MAX_CMAP_BYTES_PER_DOCUMENT`](super::MAX_CMAP_BYTES_PER_DOCUMENT)).
    pub(super) bytes: usize,
}

/// A `ToUnicode` `CMap`: which text each character code stands for.
///
/// Parsed here rather than by lopdf, whose parser rejects `CMap`s that stray from Adobe's
/// template and expands ranges code by code. This one reads any sequence of `codespacerange`,
/// `bfchar` and `bfrange` sections and keeps ranges as ranges.
pub(super) struct ToUnicode {
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
    pub(super) fn parse(cmap: &[u8], budget: &mut usize) -> Option<Self> {
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

    pub(super) fn decode(&self, bytes: &[u8], out: &mut String) {
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
pub(super) fn cjk_charset(cmap: &[u8]) -> Option<&'static encoding_rs::Encoding> {
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
    use super::super::samples::cmap_font_pdf;
    use super::super::{blocks, parse_ok};
    use super::*;

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
}
