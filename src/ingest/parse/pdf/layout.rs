//! Layout: positioned runs of text become lines, and lines paragraphs. Runs on one baseline
//! join into a line, with a space where the glyphs leave a gap (except between CJK characters);
//! a line starts a new paragraph on a wider gap than the page's usual line spacing for its font
//! size, a change of font size, a list marker or a first-line indent. Wrapped lines are joined,
//! undoing end-of-line hyphenation.

use crate::{
    ingest::parse::{collapse_whitespace, is_control, text::is_list_item},
    text::script::joins_without_space,
};

pub(super) type Point = (f32, f32);

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

/// A string shown in one go, in device space.
pub(super) struct Run<'t> {
    pub(super) text: &'t str,
    pub(super) start: Point,
    pub(super) end: Point,
    /// Unit vector along the baseline.
    pub(super) dir: Point,
    pub(super) size: f32,
}

/// A line of text: runs that share a baseline.
pub(super) struct Line {
    text: String,
    origin: Point,
    end: Point,
    dir: Point,
    size: f32,
    last_run_start: Point,
    last_run_len: usize,
}

#[derive(Default)]
pub(super) struct Lines {
    pub(super) done: Vec<Line>,
    current: Option<Line>,
    pub(super) text_len: usize,
}

impl Lines {
    pub(super) fn add_run(&mut self, run: &Run<'_>) {
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

    pub(super) fn finish_line(&mut self) {
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
    if last == ' ' || first == ' ' || (joins_without_space(last, first) && !wide) {
        return;
    }
    text.push(' ');
}

/// Groups a page's lines into paragraphs.
pub(super) fn paragraphs(lines: &[Line]) -> Vec<String> {
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
        (_, Some(l), Some(f)) if joins_without_space(l, f) => {}
        (_, Some(_), Some(_)) => paragraph.push(' '),
        _ => {}
    }
    paragraph.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::super::samples::{pdf, text_page, ucs2_hex};
    use super::super::{blocks, parse_ok};

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
}
