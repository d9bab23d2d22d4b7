//! Plain text: decoding bytes of unknown encoding into a `String` (shared with Markdown and
//! HTML), and splitting text into paragraphs on blank lines.
//!
//! Uploads carry no charset, so the encoding is inferred: a BOM wins; then UTF-8; then
//! chardetng's guess with a Chinese hint (real Chinese files are often GBK/GB18030). Bytes
//! that decode to control characters or nothing at all are refused rather than indexed as
//! mojibake.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE};

use super::{BlockKind, Format, ParseError, Parsed, collapse_whitespace, push_block};

/// Parses plain text into paragraphs. With `line_oriented` (CSV, logs) every line is its own
/// paragraph, because there a line is a record and blank lines are rare.
pub(super) fn parse(bytes: &[u8], line_oriented: bool) -> Result<Parsed, ParseError> {
    let text = decode_text(bytes)?;
    let mut blocks = Vec::new();
    if line_oriented {
        for line in text.lines() {
            push_block(
                &mut blocks,
                BlockKind::Paragraph,
                collapse_whitespace(line),
                None,
            );
        }
    } else {
        for paragraph in paragraphs(&text) {
            push_block(&mut blocks, BlockKind::Paragraph, paragraph, None);
        }
    }
    Ok(Parsed {
        title: None,
        format: Format::Text,
        blocks,
        pages: None,
        warnings: Vec::new(),
        scans: Vec::new(),
    })
}

/// Decodes text of unknown encoding: UTF-8 (with or without BOM), UTF-16 (with BOM, or
/// without one when the NUL pattern is unmistakable), or whatever chardetng guesses, leaning
/// towards GBK/GB18030. Newlines come back as `\n` and a leading BOM is dropped.
///
/// # Errors
///
/// [`ParseError::Empty`] for empty or whitespace-only text, [`ParseError::Unsupported`] for
/// binary data, and [`ParseError::Undecodable`] for bytes valid in no plausible encoding.
pub fn decode_text(bytes: &[u8]) -> Result<String, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let text = normalize_newlines(&decode_any(bytes)?);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(text)
}

/// Decodes with `encoding` if the bytes are entirely valid in it and the result is plausible
/// text; used for charsets that a document declares itself.
pub(super) fn decode_declared(bytes: &[u8], encoding: &'static Encoding) -> Option<String> {
    let text = encoding.decode_without_bom_handling_and_without_replacement(bytes)?;
    let text = plausible(text.into_owned()).ok()?;
    Some(normalize_newlines(&text))
}

fn decode_any(bytes: &[u8]) -> Result<String, ParseError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        return plausible(encoding.decode_without_bom_handling(body).0.into_owned());
    }
    if bytes.contains(&0) {
        // Windows "Unicode" text without BOM is the one text format full of NULs.
        if let Some(encoding) = bomless_utf16(bytes) {
            return plausible(encoding.decode_without_bom_handling(bytes).0.into_owned());
        }
        return Err(binary("binary data, with NUL bytes"));
    }
    let first_error = match std::str::from_utf8(bytes) {
        Ok(text) => return plausible(text.to_owned()),
        // Only the last character is cut short (a truncated upload): keep everything before it.
        Err(e) if e.error_len().is_none() => {
            return plausible(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned());
        }
        Err(e) => e.valid_up_to(),
    };
    if is_mostly_utf8(bytes) {
        return plausible(String::from_utf8_lossy(bytes).into_owned());
    }

    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    // The ".cn" hint makes short, ambiguous inputs fall to GBK rather than windows-1252.
    let guess = detector.guess(Some(b"cn"), Utf8Detection::Deny);
    for encoding in [guess, GB18030] {
        if let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(bytes) {
            return plausible(text.into_owned());
        }
    }
    let bad_byte = bytes.get(first_error).copied().unwrap_or_default();
    Err(ParseError::Undecodable {
        reason: format!(
            "it is not valid UTF-8 (byte 0x{bad_byte:02X} at offset {first_error}), \
             nor valid {} or GB18030",
            guess.name()
        ),
    })
}

/// UTF-8 with a few corrupt bytes (a damaged or spliced file) is still UTF-8: decoding it as a
/// legacy encoding would garble every non-ASCII character instead of a few.
fn is_mostly_utf8(bytes: &[u8]) -> bool {
    let mut invalid = 0_usize;
    let mut non_ascii = 0_usize;
    for chunk in bytes.utf8_chunks() {
        non_ascii += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.invalid().is_empty() {
            invalid += 1;
        }
    }
    invalid * 1000 <= bytes.len() && non_ascii >= 16 * invalid
}

/// UTF-16 without BOM shows up as NUL in every other byte of ASCII-range text.
pub(super) fn bomless_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let (pairs, _) = bytes[..bytes.len().min(4096)].as_chunks::<2>();
    if pairs.len() < 4 {
        return None;
    }
    let even_nuls = pairs.iter().filter(|p| p[0] == 0).count();
    let odd_nuls = pairs.iter().filter(|p| p[1] == 0).count();
    let mostly = |n: usize| n * 10 >= pairs.len() * 4;
    let rarely = |n: usize| n * 20 <= pairs.len();
    if mostly(odd_nuls) && rarely(even_nuls) {
        Some(UTF_16LE)
    } else if mostly(even_nuls) && rarely(odd_nuls) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Refuses "text" made of control characters, replacement characters or private-use code
/// points: that is binary data decoded in some encoding that happens to accept any byte.
fn plausible(text: String) -> Result<String, ParseError> {
    let mut total = 0_usize;
    let mut bad = 0_usize;
    for c in text.chars() {
        total += 1;
        let allowed_control = matches!(c, '\t' | '\n' | '\r' | '\u{c}' | '\u{1b}');
        if (c.is_control() && !allowed_control)
            || c == '\u{FFFD}'
            || ('\u{E000}'..='\u{F8FF}').contains(&c)
        {
            bad += 1;
        }
    }
    if bad > 2 + total / 50 {
        return Err(binary("binary data"));
    }
    Ok(text)
}

fn binary(looks_like: &str) -> ParseError {
    ParseError::Unsupported {
        looks_like: looks_like.to_owned(),
    }
}

fn normalize_newlines(text: &str) -> String {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Splits text into paragraphs on blank lines (and form feeds, which are page breaks). Line
/// wraps inside a paragraph collapse to a space (or nothing between CJK characters), except
/// before a list item, which keeps its own line.
pub(super) fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in text.split(['\n', '\u{c}']) {
        if line.trim().is_empty() {
            flush_paragraph(&mut lines, &mut out);
        } else {
            lines.push(line);
        }
    }
    flush_paragraph(&mut lines, &mut out);
    out
}

fn flush_paragraph(lines: &mut Vec<&str>, out: &mut Vec<String>) {
    let mut paragraph = String::new();
    let mut segment = String::new();
    for line in lines.drain(..) {
        if is_list_item(line) && !segment.is_empty() {
            append_line(&mut paragraph, &collapse_whitespace(&segment));
            segment.clear();
        }
        segment.push_str(line);
        segment.push('\n');
    }
    append_line(&mut paragraph, &collapse_whitespace(&segment));
    if !paragraph.is_empty() {
        out.push(paragraph);
    }
}

fn append_line(paragraph: &mut String, line: &str) {
    if line.is_empty() {
        return;
    }
    if !paragraph.is_empty() {
        paragraph.push('\n');
    }
    paragraph.push_str(line);
}

/// Whether a line starts a list item: a bullet, "1." / "1)" / "1、", "(1)", "一、" or "（一）".
pub(super) fn is_list_item(line: &str) -> bool {
    let line = line.trim_start();
    let mut chars = line.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if matches!(first, '•' | '●' | '▪' | '◦' | '■' | '□' | '◆' | '‣' | '·') {
        return true;
    }
    if matches!(first, '-' | '*' | '+' | '–') {
        return chars.next().is_some_and(char::is_whitespace);
    }
    let is_numeral = |c: char| c.is_ascii_digit() || "一二三四五六七八九十".contains(c);
    if let Some(rest) = line.strip_prefix(['(', '（']) {
        let digits = rest.chars().take_while(|&c| is_numeral(c)).count();
        return (1..=3).contains(&digits)
            && rest
                .chars()
                .nth(digits)
                .is_some_and(|c| c == ')' || c == '）');
    }
    let digits = line.chars().take_while(|&c| is_numeral(c)).count();
    if !(1..=3).contains(&digits) {
        return false;
    }
    let mut rest = line.chars().skip(digits);
    match rest.next() {
        Some('、') => true,
        Some('.' | ')') => rest.next().is_some_and(char::is_whitespace),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(parsed: &Parsed) -> Vec<&str> {
        parsed.blocks.iter().map(|b| b.text.as_str()).collect()
    }

    #[test]
    fn utf8_text_splits_into_paragraphs_on_blank_lines() {
        let parsed = parse(
            b"First line\r\nstill first.\r\n\r\n  \r\nSecond\tpara.\n",
            false,
        )
        .unwrap();
        assert_eq!(texts(&parsed), ["First line still first.", "Second para."]);
        assert!(
            parsed
                .blocks
                .iter()
                .all(|b| b.kind == BlockKind::Paragraph && b.page.is_none())
        );
        assert_eq!(parsed.title, None);
        assert_eq!(parsed.format, Format::Text);
    }

    #[test]
    fn chinese_line_wraps_join_without_a_space() {
        let parsed = parse("第一段第一行\n第一段第二行。\n\n第二段".as_bytes(), false).unwrap();
        assert_eq!(texts(&parsed), ["第一段第一行第一段第二行。", "第二段"]);
    }

    #[test]
    fn list_items_keep_their_own_lines() {
        let parsed = parse(
            b"Requirements:\n- Rust\n- PostgreSQL with\n  pgvector\n1. one\n",
            false,
        )
        .unwrap();
        assert_eq!(
            texts(&parsed),
            ["Requirements:\n- Rust\n- PostgreSQL with pgvector\n1. one"]
        );
    }

    #[test]
    fn utf8_with_bom_drops_the_bom() {
        let parsed = parse("\u{FEFF}你好，世界".as_bytes(), false).unwrap();
        assert_eq!(texts(&parsed), ["你好，世界"]);
    }

    #[test]
    fn gbk_chinese_text_is_decoded() {
        let original = "中文文档测试。\n\n这是用GBK编码保存的文本文件，常见于Windows系统。";
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(original);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&gbk).is_err());
        let parsed = super::super::parse(
            &gbk,
            Some("说明.txt"),
            &super::super::ParseLimits::default(),
        )
        .unwrap();
        assert_eq!(
            texts(&parsed),
            [
                "中文文档测试。",
                "这是用GBK编码保存的文本文件，常见于Windows系统。"
            ]
        );
    }

    #[test]
    fn a_short_gbk_snippet_is_decoded() {
        let (gbk, _, _) = encoding_rs::GBK.encode("价格：100元");
        assert_eq!(decode_text(&gbk).unwrap(), "价格：100元");
    }

    #[test]
    fn utf16le_with_bom_is_decoded() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "Hello 世界\r\n\r\n第二段".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let parsed = parse(&bytes, false).unwrap();
        assert_eq!(texts(&parsed), ["Hello 世界", "第二段"]);
    }

    #[test]
    fn utf16be_with_bom_is_decoded() {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in "Grüße, 中文".encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(decode_text(&bytes).unwrap(), "Grüße, 中文");
    }

    #[test]
    fn utf16le_without_bom_is_recognised_by_its_nul_pattern() {
        let mut bytes = Vec::new();
        for unit in "plain ASCII mostly, 和一些中文".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(
            decode_text(&bytes).unwrap(),
            "plain ASCII mostly, 和一些中文"
        );
    }

    #[test]
    fn a_truncated_last_utf8_character_is_dropped() {
        let bytes = "完整的句子。".as_bytes();
        let cut = &bytes[..bytes.len() - 1];
        assert_eq!(decode_text(cut).unwrap(), "完整的句子");
    }

    #[test]
    fn utf8_with_one_corrupt_byte_stays_utf8() {
        let mut bytes = "这是一段很长的中文文本，用来测试损坏的字节。"
            .repeat(100)
            .into_bytes();
        bytes[300] = 0xFF;
        let text = decode_text(&bytes).unwrap();
        assert!(text.starts_with("这是一段很长的中文文本"), "{text}");
    }

    #[test]
    fn latin1_text_is_decoded_as_windows_1252() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252
            .encode("Le café est très bon. Ça coûte deux euros à l'hôtel, déjà payé.");
        let text = decode_text(&bytes).unwrap();
        assert!(text.contains("café") && text.contains("hôtel"), "{text}");
    }

    #[test]
    fn invalid_utf8_that_is_no_other_encoding_is_refused() {
        // Lead bytes followed by ASCII controls: invalid in UTF-8, GBK and GB18030, and
        // full of control characters in any single-byte encoding.
        let bytes = b"\xC3\x01\xE2\x02\xF0\x03\x81\x04\xFE\x05\xFF\x06\xC0\x07\xE9\x0E\x8F\x10";
        let err = decode_text(bytes).unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::Undecodable { .. } | ParseError::Unsupported { .. }
            ),
            "{err}"
        );
        let err = decode_text(b"\xE4\xB8\x01\xFF\x9F\x81\x02\x03\x04\x05\x06\x07\x08").unwrap_err();
        assert!(err.to_string().contains("upload"), "{err}");
    }

    #[test]
    fn undecodable_text_names_the_offending_byte() {
        // 0x81 is unmapped in windows-1252 and a GBK lead byte that a space cannot follow,
        // so no candidate encoding accepts these bytes.
        let err = decode_text(b"abc \x81\x20 def \x81\x20 ghi \xFF").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the text could not be decoded (it is not valid UTF-8 (byte 0x81 at offset 4), \
             nor valid GBK or GB18030): save it as UTF-8 and upload again"
        );
    }

    #[test]
    fn csv_lines_are_separate_paragraphs() {
        let parsed = super::super::parse(
            b"name,price\napple,1\n\npear,2\n",
            Some("prices.csv"),
            &super::super::ParseLimits::default(),
        )
        .unwrap();
        assert_eq!(texts(&parsed), ["name,price", "apple,1", "pear,2"]);
    }

    #[test]
    fn list_items_are_recognised() {
        for item in [
            "- a",
            "* a",
            "• a",
            "1. a",
            "12) a",
            "3、内容",
            "一、总则",
            "（二）细则",
            "(3) c",
        ] {
            assert!(is_list_item(item), "{item}");
        }
        for line in ["-a", "1.5 litres", "2024年", "plain", "（注）", "1234. a"] {
            assert!(!is_list_item(line), "{line}");
        }
    }
}
