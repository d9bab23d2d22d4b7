//! Property tests for the parsers of untrusted uploads: the PDF parser (arbitrary bytes, and
//! mutations and truncations of valid generated PDFs), the HTML and Markdown parsers, and the text
//! decoder. Whatever the input, they must not panic, must keep to their limits, and must return
//! either a document or a typed [`ParseError`]; on inputs whose text is known, the text must come
//! out in order and nothing hidden or lost may be made up.
//!
//! Bounded for CI: each property runs a fixed number of cases (see [`config`]). For a longer
//! fuzzing session set `PROPTEST_CASES`, e.g. `PROPTEST_CASES=20000 cargo test --release --lib
//! ingest::parse::proptests`; a failure prints the shrunk input, which then becomes a regular
//! regression test next to the code it breaks.

use lopdf::Document;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use super::pdf::samples;
use super::{BlockKind, Format, ParseError, ParseLimits, Parsed, decode_text, parse};

/// `cases` cases, unless `PROPTEST_CASES` says otherwise (`with_cases` would override it); no
/// failure files are written into the source tree.
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        cases
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..default
    }
}

/// What every successful parse must satisfy, whatever the input.
fn check_parsed(parsed: &Parsed, limits: &ParseLimits) -> Result<(), TestCaseError> {
    prop_assert!(!parsed.blocks.is_empty());
    for block in &parsed.blocks {
        // Code and preformatted blocks keep their indentation, so only blank ones are wrong.
        prop_assert!(!block.text.trim().is_empty(), "{:?}", block);
        if let BlockKind::Heading(level) = block.kind {
            prop_assert!((1..=6).contains(&level));
        }
    }
    if parsed.format == Format::Pdf {
        let pages = parsed.pages.unwrap_or_default();
        prop_assert!(pages <= limits.max_pages, "{} pages", pages);
        for block in &parsed.blocks {
            let page = block.page.unwrap_or_default();
            prop_assert!((1..=pages).contains(&page), "page {} of {}", page, pages);
        }
        let numbers: Vec<u32> = parsed.blocks.iter().filter_map(|b| b.page).collect();
        prop_assert!(numbers.is_sorted(), "pages out of order: {:?}", numbers);
    } else {
        prop_assert!(parsed.pages.is_none());
        prop_assert!(parsed.blocks.iter().all(|b| b.page.is_none()));
    }
    Ok(())
}

/// Parses, checking the invariants of a success and that a refusal is a `TooManyPages` only
/// when the document really is over the limit.
fn parse_checked(
    bytes: &[u8],
    name: Option<&str>,
    limits: &ParseLimits,
) -> Result<Result<Parsed, ParseError>, TestCaseError> {
    let result = parse(bytes, name, limits);
    match &result {
        Ok(parsed) => check_parsed(parsed, limits)?,
        Err(ParseError::TooManyPages { pages, limit }) => {
            prop_assert_eq!(*limit, limits.max_pages);
            prop_assert!(pages > limit);
        }
        // Every message says what to do next.
        Err(error) => prop_assert!(error.to_string().contains(':'), "{}", error),
    }
    Ok(result)
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// Lower-case words of 1 to 8 letters.
fn word() -> impl Strategy<Value = String> {
    "[a-z]{1,8}"
}

/// Pages of lines of words: up to 5 pages, up to 6 lines each, up to 6 words a line.
fn page_lines() -> impl Strategy<Value = Vec<Vec<String>>> {
    let line = prop::collection::vec(word(), 1..6).prop_map(|w| w.join(" "));
    prop::collection::vec(prop::collection::vec(line, 0..6), 1..5)
}

fn generated_pdf(pages: &[Vec<String>], compressed: bool) -> Vec<u8> {
    let contents: Vec<Vec<u8>> = pages
        .iter()
        .map(|lines| samples::text_page(&lines.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    let mut doc: Document = samples::document(&contents);
    if compressed {
        doc.compress();
    }
    samples::save(&mut doc)
}

/// The words of each page's blocks, page by page.
fn page_words(parsed: &Parsed, pages: usize) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); pages];
    for block in &parsed.blocks {
        let page = usize::try_from(block.page.unwrap_or_default()).unwrap_or_default();
        if let Some(words_of_page) = page.checked_sub(1).and_then(|i| out.get_mut(i)) {
            words_of_page.extend(words(&block.text).into_iter().map(str::to_owned));
        }
    }
    out
}

fn limits(max_pages: u32) -> ParseLimits {
    ParseLimits {
        max_pages,
        ..ParseLimits::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn any_bytes_after_a_pdf_header_parse_or_fail_cleanly(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        max_pages in 1_u32..4,
    ) {
        let mut bytes = b"%PDF-1.7\n".to_vec();
        bytes.extend_from_slice(&body);
        let _ = parse_checked(&bytes, Some("x.pdf"), &limits(max_pages))?;
    }

    #[test]
    fn any_bytes_under_any_name_parse_or_fail_cleanly(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        name in prop::sample::select(vec![None, Some("x.txt"), Some("x.md"), Some("x.html"), Some("x.pdf"), Some("x.csv")]),
    ) {
        let _ = parse_checked(&bytes, name, &ParseLimits::default())?;
        let _ = super::detect(&bytes, name);
    }

    #[test]
    fn valid_utf8_decodes_to_itself_with_newlines_normalised(
        text in "[^\\p{Cc}\\p{Co}\u{FFFD}]{0,200}|[\\PC\t\n\r]{0,200}",
    ) {
        let plain = text.chars().all(|c| {
            (!c.is_control() || matches!(c, '\t' | '\n' | '\r'))
                && c != '\u{FFFD}'
                && !('\u{E000}'..='\u{F8FF}').contains(&c)
        });
        // A leading U+FEFF is a BOM, and so is one after it.
        let unbommed = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
        let expected = unbommed
            .strip_prefix('\u{FEFF}')
            .unwrap_or(unbommed)
            .replace("\r\n", "\n")
            .replace('\r', "\n");
        match decode_text(text.as_bytes()) {
            Ok(decoded) => {
                prop_assert!(plain || !decoded.trim().is_empty());
                if plain {
                    prop_assert_eq!(decoded, expected);
                }
            }
            Err(ParseError::Empty) => prop_assert!(expected.trim().is_empty()),
            // Text of control or private-use characters is taken for binary data.
            Err(ParseError::Unsupported { .. }) => prop_assert!(!plain),
            Err(error) => prop_assert!(false, "{}", error),
        }
    }

    #[test]
    fn utf16_with_a_bom_decodes_to_the_same_text(text in "[\\PC\n]{1,100}", big_endian: bool) {
        let mut bytes: Vec<u8> = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for unit in text.encode_utf16() {
            bytes.extend(if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        let plain = !text.chars().any(|c| c == '\u{FFFD}' || ('\u{E000}'..='\u{F8FF}').contains(&c));
        match decode_text(&bytes) {
            Ok(decoded) => {
                if plain {
                    prop_assert_eq!(decoded, text.strip_prefix('\u{FEFF}').unwrap_or(&text));
                }
            }
            Err(ParseError::Empty) => {
                prop_assert!(text.trim_start_matches('\u{FEFF}').trim().is_empty(), "{:?}", text);
            }
            Err(ParseError::Unsupported { .. }) => prop_assert!(!plain),
            Err(error) => prop_assert!(false, "{}", error),
        }
    }

    #[test]
    fn decoding_any_bytes_gives_text_or_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        match decode_text(&bytes) {
            Ok(text) => {
                prop_assert!(!text.trim().is_empty());
                prop_assert!(!text.contains('\r'));
                prop_assert!(!text.starts_with('\u{FEFF}'), "{:?}", text);
            }
            Err(ParseError::Empty | ParseError::Unsupported { .. } | ParseError::Undecodable { .. }) => {}
            Err(error) => prop_assert!(false, "{}", error),
        }
    }
}

/// A piece of an HTML or Markdown document.
#[derive(Debug, Clone)]
enum Piece {
    /// Visible text, in a paragraph.
    Paragraph(Vec<String>),
    Heading(u8, Vec<String>),
    /// Visible text in a list item.
    Item(Vec<String>),
    /// Text no reader sees.
    Script(Vec<String>),
    Style(Vec<String>),
}

/// Pieces whose words are numbered in document order: `v<n>` visible, `h<n>` hidden.
fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    let piece = (0_u8..5, 1_u8..7, 1_usize..6);
    prop::collection::vec(piece, 1..12).prop_map(|specs| {
        let mut n = 0;
        let mut next = |prefix: &str, count: usize| {
            (0..count)
                .map(|_| {
                    n += 1;
                    format!("{prefix}{n}")
                })
                .collect::<Vec<_>>()
        };
        specs
            .into_iter()
            .map(|(kind, level, count)| match kind {
                0 => Piece::Paragraph(next("v", count)),
                1 => Piece::Heading(level, next("v", count)),
                2 => Piece::Item(next("v", count)),
                3 => Piece::Script(next("h", count)),
                _ => Piece::Style(next("h", count)),
            })
            .collect()
    })
}

fn visible(pieces: &[Piece]) -> Vec<String> {
    pieces
        .iter()
        .flat_map(|piece| match piece {
            Piece::Paragraph(w) | Piece::Heading(_, w) | Piece::Item(w) => w.clone(),
            Piece::Script(_) | Piece::Style(_) => Vec::new(),
        })
        .collect()
}

fn html_of(pieces: &[Piece]) -> String {
    let mut html = String::from("<!DOCTYPE html><html><head><title>t</title></head><body>\n");
    for piece in pieces {
        let text = match piece {
            Piece::Paragraph(w) => format!("<p>{}</p>", w.join(" ")),
            Piece::Heading(level, w) => format!("<h{level}>{}</h{level}>", w.join(" ")),
            Piece::Item(w) => format!("<ul><li>{}</li></ul>", w.join(" ")),
            Piece::Script(w) => format!("<script>var x = \"<p>{}</p>\";</script>", w.join(" ")),
            Piece::Style(w) => {
                format!("<style>p::after {{ content: \"{}\" }}</style>", w.join(" "))
            }
        };
        html.push_str(&text);
        html.push('\n');
    }
    html.push_str("</body></html>\n");
    html
}

fn markdown_of(pieces: &[Piece]) -> String {
    let blocks: Vec<String> = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Paragraph(w) => w.join(" "),
            Piece::Heading(level, w) => {
                format!("{} {}", "#".repeat(usize::from(*level)), w.join(" "))
            }
            Piece::Item(w) => format!("- {}", w.join(" ")),
            Piece::Script(w) => format!("<script>\nvar x = \"{}\";\n</script>", w.join(" ")),
            Piece::Style(w) => format!(
                "<style>\np::after {{ content: \"{}\" }}\n</style>",
                w.join(" ")
            ),
        })
        .collect();
    blocks.join("\n\n")
}

/// The numbered words of the blocks, in order; and whether any hidden word or markup of a
/// hidden element leaked into them.
fn numbered_words(parsed: &Parsed) -> (Vec<String>, bool) {
    let text: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
    let text = text.join("\n");
    let leaked = [
        "<script", "</script", "<style", "</style", "var x", "content:",
    ]
    .iter()
    .any(|markup| text.contains(markup));
    let mut out = Vec::new();
    let mut hidden = false;
    for word in words(&text) {
        let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let numbered = |prefix| {
            word.strip_prefix(prefix)
                .is_some_and(|n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if numbered('v') {
            out.push(word.to_owned());
        } else if numbered('h') {
            hidden = true;
        }
    }
    (out, leaked || hidden)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn html_shows_its_visible_text_in_order_and_never_scripts_or_styles(pieces in pieces()) {
        match parse(html_of(&pieces).as_bytes(), Some("x.html"), &ParseLimits::default()) {
            Ok(parsed) => {
                check_parsed(&parsed, &ParseLimits::default())?;
                prop_assert_eq!(parsed.format, Format::Html);
                let (shown, leaked) = numbered_words(&parsed);
                prop_assert!(!leaked, "{:?}", parsed.blocks);
                prop_assert_eq!(shown, visible(&pieces));
            }
            // Only scripts and styles: nothing to show.
            Err(ParseError::NoText { format: Format::Html }) => prop_assert!(visible(&pieces).is_empty()),
            Err(error) => prop_assert!(false, "{}", error),
        }
    }

    #[test]
    fn markdown_shows_its_visible_text_in_order_and_never_raw_scripts(pieces in pieces()) {
        let source = markdown_of(&pieces);
        match parse(source.as_bytes(), Some("x.md"), &ParseLimits::default()) {
            Ok(parsed) => {
                check_parsed(&parsed, &ParseLimits::default())?;
                prop_assert_eq!(parsed.format, Format::Markdown);
                let (shown, leaked) = numbered_words(&parsed);
                prop_assert!(!leaked, "{:?}", parsed.blocks);
                prop_assert_eq!(shown, visible(&pieces));
            }
            // Only scripts and styles: nothing to show.
            Err(ParseError::NoText { format: Format::Markdown }) => prop_assert!(visible(&pieces).is_empty()),
            Err(error) => prop_assert!(false, "{}", error),
        }
    }

    #[test]
    fn any_text_as_html_or_markdown_parses_or_fails_cleanly(
        text in "(<[a-z/!]{0,8}[^>]{0,12}>|[^<]{0,20}|&[a-z#0-9]{0,6};?|\n\n|#+ |[-*>|`]{1,3})*",
        html: bool,
    ) {
        let name = if html { "x.html" } else { "x.md" };
        let _ = parse_checked(text.as_bytes(), Some(name), &ParseLimits::default())?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_valid_pdf_gives_each_pages_words_in_order(
        pages in page_lines(),
        compressed: bool,
        max_pages in 1_u32..6,
    ) {
        let bytes = generated_pdf(&pages, compressed);
        let expected: Vec<Vec<String>> = pages
            .iter()
            .map(|lines| lines.iter().flat_map(|l| words(l)).map(str::to_owned).collect())
            .collect();
        let page_count = u32::try_from(pages.len()).unwrap();
        match parse_checked(&bytes, Some("x.pdf"), &limits(max_pages))? {
            Ok(parsed) => {
                prop_assert_eq!(parsed.pages, Some(page_count));
                prop_assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
                prop_assert_eq!(page_words(&parsed, pages.len()), expected);
            }
            Err(ParseError::TooManyPages { pages: found, .. }) => prop_assert_eq!(found, page_count),
            Err(ParseError::NoText { .. }) => prop_assert!(expected.iter().all(Vec::is_empty)),
            Err(error) => prop_assert!(false, "{}", error),
        }
    }

    #[test]
    fn a_truncated_pdf_keeps_whole_pages_only_and_says_so(
        pages in page_lines(),
        compressed: bool,
        cut in 0.0_f64..1.0,
    ) {
        let bytes = generated_pdf(&pages, compressed);
        let full = parse(&bytes, Some("x.pdf"), &ParseLimits::default());
        let cut = (bytes.len() as f64 * cut) as usize;
        let Ok(parsed) = parse_checked(&bytes[..cut], Some("x.pdf"), &ParseLimits::default())? else {
            return Ok(());
        };
        let full = full.map_err(|e| TestCaseError::fail(e.to_string()))?;
        // A page is either all there, as in the whole file, or not there at all.
        let (kept, all) = (page_words(&parsed, pages.len()), page_words(&full, pages.len()));
        let shown: Vec<usize> = (0..pages.len()).filter(|&i| !kept[i].is_empty()).collect();
        for &i in &shown {
            prop_assert_eq!(&kept[i], &all[i], "page {}", i + 1);
        }
        let blocks = |p: &Parsed| p.blocks.iter().map(|b| (b.page, b.text.clone())).collect::<Vec<_>>();
        let kept_blocks = blocks(&parsed);
        let full_kept: Vec<_> = blocks(&full)
            .into_iter()
            .filter(|(page, _)| page.is_some_and(|p| shown.contains(&(p as usize - 1))))
            .collect();
        prop_assert_eq!(kept_blocks, full_kept);
        // Whatever is missing, the user is told.
        if parsed.blocks != full.blocks {
            prop_assert_eq!(parsed.warnings.len(), 1);
            prop_assert!(parsed.warnings[0].starts_with("the PDF is truncated"), "{:?}", parsed.warnings);
        }
    }

    #[test]
    fn a_mutated_pdf_parses_or_fails_cleanly(
        pages in page_lines(),
        compressed: bool,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0_u8..3), 1..8),
        max_pages in 1_u32..6,
    ) {
        let mut bytes = generated_pdf(&pages, compressed);
        for (at, byte, how) in edits {
            let at = at.index(bytes.len());
            match how {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let _ = parse_checked(&bytes, Some("x.pdf"), &limits(max_pages))?;
    }
}
