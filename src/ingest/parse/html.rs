//! HTML: the visible text of a page as heading and paragraph blocks, read with scraper
//! (html5ever), which also decodes entities and repairs broken markup.
//!
//! What a reader would not see is dropped: scripts, styles, templates, SVG, hidden elements,
//! navigation, and the head (except its `<title>`). Block-level elements end a block; a table
//! row becomes one paragraph with cells separated by " | "; `<pre>` keeps its layout.

use scraper::{Html, Node, node::Element};

use super::{
    Block, BlockKind, Format, ParseError, Parsed, collapse_whitespace, first_h1, push_block, text,
};

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let source = decode(bytes)?;
    let document = Html::parse_document(&source);
    let mut walker = Walker::default();
    walker.walk(&document);
    let title = walker.title.take().or_else(|| first_h1(&walker.blocks));
    Ok(Parsed {
        title,
        format: Format::Html,
        blocks: walker.blocks,
        pages: None,
        warnings: Vec::new(),
        scans: Vec::new(),
    })
}

/// Blocks of an HTML fragment, such as a raw HTML block inside Markdown.
pub(super) fn fragment_blocks(fragment: &str) -> Vec<Block> {
    let mut walker = Walker::default();
    walker.walk(&Html::parse_fragment(fragment));
    walker.blocks
}

/// Decodes HTML, honouring a `<meta charset>` when the bytes are not already UTF-8 (a BOM
/// or valid UTF-8 is stronger evidence than a declaration that is often stale).
pub(super) fn decode(bytes: &[u8]) -> Result<String, ParseError> {
    let has_bom = encoding_rs::Encoding::for_bom(bytes).is_some();
    if !has_bom
        && std::str::from_utf8(bytes).is_err()
        && let Some(encoding) = declared_charset(bytes)
        && let Some(text) = text::decode_declared(bytes, encoding)
        && !text.trim().is_empty()
    {
        return Ok(text);
    }
    text::decode_text(bytes)
}

/// The charset named by a `<meta charset=…>` or `<meta http-equiv … content="…; charset=…">`
/// in the first 2 KiB.
fn declared_charset(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = bytes[..bytes.len().min(2048)].to_ascii_lowercase();
    let mut rest = head.as_slice();
    while let Some(start) = super::find(rest, b"<meta") {
        let tag = &rest[start..];
        let end = tag.iter().position(|&b| b == b'>').unwrap_or(tag.len());
        let tag = &tag[..end];
        if let Some(at) = super::find(tag, b"charset") {
            let value = tag[at + b"charset".len()..]
                .trim_ascii_start()
                .strip_prefix(b"=")
                .map(<[u8]>::trim_ascii_start)
                .unwrap_or_default();
            let value = value.strip_prefix(b"\"").unwrap_or(value);
            let value = value.strip_prefix(b"'").unwrap_or(value);
            let len = value
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || b"-_:.".contains(b)))
                .unwrap_or(value.len());
            if let Some(encoding) = encoding_rs::Encoding::for_label(&value[..len]) {
                // As in browsers: a UTF-16 declaration in bytes that are ASCII-compatible
                // enough to be read is wrong, and means UTF-8.
                return Some(
                    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
                        encoding_rs::UTF_8
                    } else {
                        encoding
                    },
                );
            }
        }
        rest = &rest[start + end..];
    }
    None
}

#[derive(Default)]
struct Walker {
    blocks: Vec<Block>,
    /// Lines of the block being read; `<br>` starts a new one.
    lines: Vec<String>,
    heading: Option<u8>,
    /// Depth of `<pre>` elements, whose whitespace is kept.
    pre: usize,
    /// Depth of table rows: inside one, block elements don't end the block.
    rows: usize,
    cells_in_row: usize,
    in_title: usize,
    title_text: String,
    title: Option<String>,
}

impl Walker {
    /// Visits the tree in document order without recursion, so deeply nested markup cannot
    /// overflow the stack.
    fn walk(&mut self, document: &Html) {
        let root = document.tree.root();
        let mut node = root;
        'walk: loop {
            if self.open(node.value())
                && let Some(child) = node.first_child()
            {
                node = child;
                continue;
            }
            loop {
                self.close(node.value());
                if node.id() == root.id() {
                    break 'walk;
                }
                if let Some(next) = node.next_sibling() {
                    node = next;
                    continue 'walk;
                }
                match node.parent() {
                    Some(parent) => node = parent,
                    None => break 'walk,
                }
            }
        }
        self.flush();
    }

    /// Handles the start of a node; returns whether to visit its children.
    fn open(&mut self, node: &Node) -> bool {
        match node {
            Node::Text(text) => {
                if self.in_title > 0 {
                    self.title_text.push_str(text);
                } else {
                    self.line().push_str(text);
                }
                false
            }
            Node::Element(element) => self.open_element(element),
            Node::Document | Node::Fragment => true,
            Node::Doctype(_) | Node::Comment(_) | Node::ProcessingInstruction(_) => false,
        }
    }

    fn open_element(&mut self, element: &Element) -> bool {
        if is_hidden(element) {
            return false;
        }
        let name = element.name();
        match name {
            "title" => self.in_title += 1,
            "br" => {
                if self.pre > 0 {
                    self.line().push('\n');
                } else {
                    self.lines.push(String::new());
                }
            }
            "pre" => {
                self.end_block();
                self.pre += 1;
            }
            "tr" => {
                self.flush();
                self.rows += 1;
                self.cells_in_row = 0;
            }
            "td" | "th" if self.rows > 0 => {
                if self.cells_in_row > 0 {
                    self.line().push_str(" | ");
                }
                self.cells_in_row += 1;
            }
            _ => {
                if let Some(level) = heading_level(name) {
                    self.end_block();
                    self.heading = Some(level);
                } else if is_block(name) {
                    self.end_block();
                }
            }
        }
        true
    }

    fn close(&mut self, node: &Node) {
        let Node::Element(element) = node else {
            return;
        };
        if is_hidden(element) {
            return;
        }
        match element.name() {
            "title" => {
                self.in_title = self.in_title.saturating_sub(1);
                if self.in_title == 0 && self.title.is_none() {
                    let title = collapse_whitespace(&std::mem::take(&mut self.title_text));
                    self.title = (!title.is_empty()).then_some(title);
                }
            }
            "pre" => {
                self.flush();
                self.pre = self.pre.saturating_sub(1);
            }
            "tr" => {
                self.flush();
                self.rows = self.rows.saturating_sub(1);
            }
            "td" | "th" if self.rows > 0 => {}
            name if heading_level(name).is_some() => self.flush(),
            name if is_block(name) => self.end_block(),
            _ => {}
        }
    }

    /// A block-level boundary: ends the current block, except inside a table row, whose cells
    /// may hold paragraphs of their own but make one row of text.
    fn end_block(&mut self) {
        if self.rows > 0 {
            self.line().push(' ');
        } else {
            self.flush();
        }
    }

    fn line(&mut self) -> &mut String {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
        let last = self.lines.len() - 1;
        &mut self.lines[last]
    }

    fn flush(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        let text = if self.pre > 0 {
            let raw = lines.join("\n");
            raw.trim_matches(['\n', '\r']).trim_end().to_owned()
        } else {
            let mut text = String::new();
            for line in lines.iter().map(|l| collapse_whitespace(l)) {
                if line.is_empty() {
                    continue;
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&line);
            }
            text
        };
        let kind = self
            .heading
            .take()
            .map_or(BlockKind::Paragraph, BlockKind::Heading);
        push_block(&mut self.blocks, kind, text, None);
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Elements whose content a reader never sees, or that are page chrome rather than content.
fn is_hidden(element: &Element) -> bool {
    let name = element.name();
    if matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "embed"
            | "canvas"
            | "audio"
            | "video"
            | "select"
            | "datalist"
            | "nav"
    ) {
        return true;
    }
    if element.attr("hidden").is_some()
        || element
            .attr("aria-hidden")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || element
            .attr("role")
            .is_some_and(|v| v.eq_ignore_ascii_case("navigation"))
    {
        return true;
    }
    element.attr("style").is_some_and(|style| {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        style.contains("display:none") || style.contains("visibility:hidden")
    })
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "li"
            | "main"
            | "menu"
            | "ol"
            | "p"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "ul"
            | "textarea"
            | "option"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(parsed: &Parsed) -> Vec<(BlockKind, &str)> {
        parsed
            .blocks
            .iter()
            .map(|b| (b.kind, b.text.as_str()))
            .collect()
    }

    #[test]
    fn visible_text_becomes_blocks_and_scripts_styles_and_nav_are_dropped() {
        let page = r#"<!DOCTYPE html>
<html><head>
  <title>  Page   Title </title>
  <style>body { color: red }</style>
  <script>var secret = "SCRIPT_TEXT";</script>
</head>
<body>
  <nav><a href="/">Home</a> <a href="/x">NAV_TEXT</a></nav>
  <h1>Main  heading</h1>
  <p>First &amp; <b>bold</b>
     paragraph.</p>
  <div>Loose div text<p>inner p</p>tail</div>
  <h2>Sub</h2>
  <ul><li>one</li><li>two <span>parts</span></li></ul>
  <table><tr><th>Name</th><th>Price</th></tr><tr><td><p>Tea</p></td><td>3</td></tr></table>
  <pre>fn main() {
    println!();
}</pre>
  <noscript>NOSCRIPT_TEXT</noscript>
  <template><p>TEMPLATE_TEXT</p></template>
  <svg><text>SVG_TEXT</text></svg>
  <p hidden>HIDDEN_TEXT</p><p style="display: none">NONE_TEXT</p>
  <p>Line one<br>line two</p>
</body></html>"#;
        let parsed = parse(page.as_bytes()).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Page Title"));
        assert_eq!(
            blocks(&parsed),
            [
                (BlockKind::Heading(1), "Main heading"),
                (BlockKind::Paragraph, "First & bold paragraph."),
                (BlockKind::Paragraph, "Loose div text"),
                (BlockKind::Paragraph, "inner p"),
                (BlockKind::Paragraph, "tail"),
                (BlockKind::Heading(2), "Sub"),
                (BlockKind::Paragraph, "one"),
                (BlockKind::Paragraph, "two parts"),
                (BlockKind::Paragraph, "Name | Price"),
                (BlockKind::Paragraph, "Tea | 3"),
                (BlockKind::Paragraph, "fn main() {\n    println!();\n}"),
                (BlockKind::Paragraph, "Line one\nline two"),
            ]
        );
        let all: String = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        for hidden in [
            "SCRIPT_TEXT",
            "NAV_TEXT",
            "NOSCRIPT_TEXT",
            "TEMPLATE_TEXT",
            "SVG_TEXT",
            "HIDDEN_TEXT",
            "NONE_TEXT",
            "color: red",
        ] {
            assert!(!all.contains(hidden), "{hidden} leaked into {all:?}");
        }
    }

    #[test]
    fn the_first_h1_is_the_title_when_there_is_no_title_element() {
        let parsed =
            parse("<body><h2>二级</h2><h1>中文标题</h1><p>正文</p></body>".as_bytes()).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("中文标题"));
    }

    #[test]
    fn a_meta_charset_is_honoured() {
        let html = "<html><head><meta charset=\"gb2312\"><title>标题</title></head><body><p>这是GBK编码的网页。</p></body></html>";
        let (bytes, _, _) = encoding_rs::GBK.encode(html);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("标题"));
        assert_eq!(
            blocks(&parsed),
            [(BlockKind::Paragraph, "这是GBK编码的网页。")]
        );

        let html =
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Big5\"><p>繁體中文</p>";
        let (bytes, _, _) = encoding_rs::BIG5.encode(html);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(blocks(&parsed), [(BlockKind::Paragraph, "繁體中文")]);
    }

    #[test]
    fn utf8_wins_over_a_stale_charset_declaration() {
        let html = "<meta charset=\"gbk\"><p>其实是UTF-8</p>";
        let parsed = parse(html.as_bytes()).unwrap();
        assert_eq!(blocks(&parsed), [(BlockKind::Paragraph, "其实是UTF-8")]);
    }

    #[test]
    fn chinese_source_line_breaks_do_not_become_spaces() {
        let parsed = parse("<p>第一行\n第二行</p>".as_bytes()).unwrap();
        assert_eq!(blocks(&parsed), [(BlockKind::Paragraph, "第一行第二行")]);
    }

    #[test]
    fn a_page_of_scripts_only_has_no_text() {
        let err = super::super::parse(
            b"<html><head><script>x()</script></head><body></body></html>",
            Some("a.html"),
            &super::super::ParseLimits::default(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::NoText {
                    format: Format::Html
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn deeply_nested_markup_does_not_overflow_the_stack() {
        // Spans, not divs: html5ever checks scopes on every <div>, quadratic at this depth.
        let depth = 50_000;
        let html = format!(
            "<p>{}deep{}</p>",
            "<span>".repeat(depth),
            "</span>".repeat(depth)
        );
        let parsed = parse(html.as_bytes()).unwrap();
        assert_eq!(blocks(&parsed), [(BlockKind::Paragraph, "deep")]);
    }
}
