//! Markdown: `CommonMark` (plus GitHub tables, task lists, footnotes) read with `pulldown-cmark`
//! into heading and paragraph blocks.
//!
//! List items, block quotes, table rows and code blocks become paragraphs of their own, so a
//! chunk boundary never has to cut through one; code keeps its line breaks. Front matter is
//! metadata, not content: it is skipped, though its `title:` is used when there is no H1.
//! Raw HTML blocks are run through the HTML parser so their text counts and their tags don't.

use pulldown_cmark::{Event, HeadingLevel, MetadataBlockKind, Options, Parser, Tag, TagEnd};

use super::{
    Block, BlockKind, Format, ParseError, Parsed, collapse_whitespace, first_h1, html, push_block,
    text::decode_text,
};

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let source = decode_text(bytes)?;
    Ok(parse_str(&source))
}

fn parse_str(source: &str) -> Parsed {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS
        | Options::ENABLE_MATH
        | Options::ENABLE_GFM
        | Options::ENABLE_DEFINITION_LIST;
    let mut builder = Builder::default();
    for event in Parser::new_ext(source, options) {
        builder.event(event);
    }
    builder.flush();
    let title = first_h1(&builder.blocks).or(builder.front_matter_title);
    Parsed {
        title,
        format: Format::Markdown,
        blocks: builder.blocks,
        pages: None,
        warnings: Vec::new(),
        scans: Vec::new(),
    }
}

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    /// Inline text of the block being read.
    text: String,
    heading: Option<u8>,
    /// Inside a fenced or indented code block, whose text is kept verbatim.
    in_code: bool,
    /// Raw HTML of the current HTML block, parsed when it ends.
    html: String,
    in_metadata: bool,
    front_matter: String,
    front_matter_title: Option<String>,
    /// Cells already seen in the current table row, to place separators.
    cells_in_row: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) {
        if self.in_metadata {
            match event {
                Event::Text(text) => self.front_matter.push_str(&text),
                Event::End(TagEnd::MetadataBlock(kind)) => {
                    self.in_metadata = false;
                    self.front_matter_title = front_matter_title(&self.front_matter, kind);
                }
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(&tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Code(text) => self.text.push_str(&text),
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                self.text.push(' ');
                self.text.push_str(&math);
                self.text.push(' ');
            }
            Event::Html(raw) => self.html.push_str(&raw),
            Event::SoftBreak | Event::HardBreak => self.text.push('\n'),
            Event::Rule => self.flush(),
            Event::InlineHtml(_) | Event::FootnoteReference(_) | Event::TaskListMarker(_) => {}
        }
    }

    fn start(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush();
                self.heading = Some(heading_level(*level));
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.in_code = true;
            }
            Tag::MetadataBlock(_) => {
                self.flush();
                self.in_metadata = true;
            }
            Tag::TableHead | Tag::TableRow => {
                self.flush();
                self.cells_in_row = 0;
            }
            Tag::TableCell => {
                if self.cells_in_row > 0 {
                    self.text.push_str(" | ");
                }
                self.cells_in_row += 1;
            }
            Tag::Paragraph
            | Tag::BlockQuote(_)
            | Tag::HtmlBlock
            | Tag::List(_)
            | Tag::Item
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Table(_) => self.flush(),
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::Link { .. }
            | Tag::Image { .. } => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::HtmlBlock => {
                let raw = std::mem::take(&mut self.html);
                self.blocks.extend(html::fragment_blocks(&raw));
            }
            TagEnd::Heading(_)
            | TagEnd::CodeBlock
            | TagEnd::Paragraph
            | TagEnd::BlockQuote(_)
            | TagEnd::List(_)
            | TagEnd::Item
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Table
            | TagEnd::TableHead
            | TagEnd::TableRow => self.flush(),
            TagEnd::TableCell
            | TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image
            | TagEnd::MetadataBlock(_) => {}
        }
    }

    /// Ends the block being read, if it has any text.
    fn flush(&mut self) {
        let raw = std::mem::take(&mut self.text);
        let text = if self.in_code {
            // Code keeps its layout: only the blank edges go.
            raw.trim_matches('\n').trim_end().to_owned()
        } else {
            collapse_whitespace(&raw)
        };
        let kind = self
            .heading
            .take()
            .map_or(BlockKind::Paragraph, BlockKind::Heading);
        self.in_code = false;
        push_block(&mut self.blocks, kind, text, None);
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// The `title` of YAML (`title: x`) or TOML (`title = "x"`) front matter, read by line: a full
/// YAML parser is not worth a dependency for one optional field.
fn front_matter_title(front_matter: &str, kind: MetadataBlockKind) -> Option<String> {
    let separator = match kind {
        MetadataBlockKind::YamlStyle => ':',
        MetadataBlockKind::PlusesStyle => '=',
    };
    front_matter.lines().find_map(|line| {
        let (key, value) = line.split_once(separator)?;
        if key.trim() != "title" {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        let value = collapse_whitespace(value);
        (!value.is_empty()).then_some(value)
    })
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
    fn front_matter_headings_lists_and_code_become_blocks() {
        let source = "---\ntitle: Front Title\nsecret: do-not-index\n---\n\
# 安装指南\n\nIntro *text* that\nwraps.\n\n## Steps\n\n- first item\n- second item\n  - nested item\n\n\
### Build\n\n```sh\ncargo build --release\n  ./run\n```\n\n> a quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let parsed = parse(source.as_bytes()).unwrap();
        assert_eq!(
            blocks(&parsed),
            [
                (BlockKind::Heading(1), "安装指南"),
                (BlockKind::Paragraph, "Intro text that wraps."),
                (BlockKind::Heading(2), "Steps"),
                (BlockKind::Paragraph, "first item"),
                (BlockKind::Paragraph, "second item"),
                (BlockKind::Paragraph, "nested item"),
                (BlockKind::Heading(3), "Build"),
                (BlockKind::Paragraph, "cargo build --release\n  ./run"),
                (BlockKind::Paragraph, "a quote"),
                (BlockKind::Paragraph, "a | b"),
                (BlockKind::Paragraph, "1 | 2"),
            ]
        );
        assert_eq!(parsed.title.as_deref(), Some("安装指南"));
        assert!(
            parsed
                .blocks
                .iter()
                .all(|b| !b.text.contains("do-not-index"))
        );
        assert_eq!(parsed.format, Format::Markdown);
    }

    #[test]
    fn front_matter_title_is_used_without_an_h1() {
        let parsed = parse(b"---\ntitle: \"My Notes\"\n---\n\n## Only h2\n\nbody\n").unwrap();
        assert_eq!(parsed.title.as_deref(), Some("My Notes"));
        let parsed = parse(b"+++\ntitle = 'Hugo page'\n+++\n\nbody\n").unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Hugo page"));
        assert_eq!(blocks(&parsed), [(BlockKind::Paragraph, "body")]);
    }

    #[test]
    fn chinese_soft_breaks_join_without_spaces() {
        let parsed = parse("# 标题\n\n第一行\n第二行\n".as_bytes()).unwrap();
        assert_eq!(
            blocks(&parsed),
            [
                (BlockKind::Heading(1), "标题"),
                (BlockKind::Paragraph, "第一行第二行")
            ]
        );
    }

    #[test]
    fn setext_headings_and_inline_code_are_read() {
        let parsed = parse(b"Title\n=====\n\nUse `cargo test` here.\n\nSub\n---\n").unwrap();
        assert_eq!(
            blocks(&parsed),
            [
                (BlockKind::Heading(1), "Title"),
                (BlockKind::Paragraph, "Use cargo test here."),
                (BlockKind::Heading(2), "Sub"),
            ]
        );
    }

    #[test]
    fn raw_html_blocks_keep_their_text_but_not_their_tags_or_scripts() {
        let parsed = parse(
            b"<div align=\"center\">\n<h1>Project</h1>\n<p>Fast &amp; small</p>\n</div>\n\n<script>alert(1)</script>\n\nText <br> more\n",
        )
        .unwrap();
        assert_eq!(
            blocks(&parsed),
            [
                (BlockKind::Heading(1), "Project"),
                (BlockKind::Paragraph, "Fast & small"),
                (BlockKind::Paragraph, "Text more"),
            ]
        );
        assert_eq!(parsed.title.as_deref(), Some("Project"));
    }

    #[test]
    fn front_matter_only_has_no_text() {
        let err = super::super::parse(
            b"---\ntitle: x\n---\n",
            Some("a.md"),
            &super::super::ParseLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ParseError::NoText { .. }), "{err}");
    }
}
