//! Steps 1 and 2 of chunking: normalising a block's whitespace, then cutting it into pieces
//! within the budget, at the coarsest boundary that allows: sentences, clauses (both as
//! [`crate::text::sentence`] finds them), words, characters.

use crate::ingest::tokens::TokenCounter;
use crate::text::sentence::{self, Gap, is_line_break};

/// The boundary before a piece, weakest first: the chunker cuts at the strongest it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Break {
    Char,
    Word,
    /// After `,` `;` `:` and a space, or after `，` `；` `：` `、`.
    Clause,
    Sentence,
    Paragraph,
    Heading,
}

/// What stood between a piece and the one before it in the (normalised) text, and is put back
/// when both land in one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Joint {
    Nothing,
    Space,
    Line,
    /// Between blocks.
    BlankLine,
}

impl Joint {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Joint::Nothing => "",
            Joint::Space => " ",
            Joint::Line => "\n",
            Joint::BlankLine => "\n\n",
        }
    }
}

impl From<Gap> for Joint {
    fn from(gap: Gap) -> Self {
        match gap {
            Gap::None => Joint::Nothing,
            Gap::Space => Joint::Space,
            Gap::Line => Joint::Line,
        }
    }
}

/// Where a piece comes from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    pub(super) page: Option<u32>,
    /// Index into [`Packer::paths`](super::pack::Packer).
    pub(super) path: usize,
    pub(super) heading: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Piece<'a> {
    pub(super) text: &'a str,
    pub(super) tokens: usize,
    pub(super) joint: Joint,
    pub(super) at: Break,
    pub(super) origin: Origin,
}

/// A span of text with what precedes it.
#[derive(Debug, Clone, Copy)]
struct Unit<'a> {
    text: &'a str,
    joint: Joint,
    at: Break,
}

pub(super) struct Splitter<'c> {
    pub(super) counter: &'c dyn TokenCounter,
    pub(super) max_tokens: usize,
}

impl Splitter<'_> {
    /// Cuts one block's text into pieces of at most `max_tokens`, sentence by sentence.
    pub(super) fn block<'a>(
        &self,
        text: &'a str,
        at: Break,
        origin: Origin,
        out: &mut Vec<Piece<'a>>,
    ) {
        let mut units = sentences(text);
        if let Some(first) = units.first_mut() {
            first.joint = Joint::BlankLine;
            first.at = at;
        }
        for unit in units {
            self.fit(unit, None, Break::Clause, origin, out);
        }
    }

    /// Emits `unit` as one piece if it fits, or split at `finer` boundaries (and finer still).
    fn fit<'a>(
        &self,
        unit: Unit<'a>,
        tokens: Option<usize>,
        finer: Break,
        origin: Origin,
        out: &mut Vec<Piece<'a>>,
    ) {
        let tokens = tokens.unwrap_or_else(|| self.counter.count(unit.text));
        if tokens <= self.max_tokens {
            out.push(Piece {
                text: unit.text,
                tokens,
                joint: unit.joint,
                at: unit.at,
                origin,
            });
            return;
        }
        let (mut parts, next) = match finer {
            Break::Clause => (split_at(unit.text, Break::Clause), Break::Word),
            Break::Word => (split_at(unit.text, Break::Word), Break::Char),
            _ => return self.hard_split(unit, origin, out),
        };
        if let [only] = parts.as_slice() {
            // Nothing to split at this level: go finer without counting the same text again.
            let only = Unit {
                text: only.text,
                ..unit
            };
            return self.fit(only, Some(tokens), next, origin, out);
        }
        if let Some(first) = parts.first_mut() {
            first.joint = unit.joint;
            first.at = unit.at;
        }
        for part in parts {
            self.fit(part, None, next, origin, out);
        }
    }

    /// The last resort: the longest run of characters that fits, preferring to end it after
    /// punctuation (`/`, `-`, `，`, …) in its last quarter, as in a long URL or path.
    fn hard_split<'a>(&self, unit: Unit<'a>, origin: Origin, out: &mut Vec<Piece<'a>>) {
        // Byte offsets of every character end, so cuts never fall inside a character.
        let ends: Vec<usize> = unit
            .text
            .char_indices()
            .map(|(start, c)| start + c.len_utf8())
            .collect();
        let mut start = 0;
        let mut joint = unit.joint;
        let mut at = unit.at;
        while start < ends.len() {
            let base = if start == 0 { 0 } else { ends[start - 1] };
            let count = |end: usize| self.counter.count(&unit.text[base..ends[end]]);
            let (mut last, mut tokens) = self.longest_fit(start, ends.len() - 1, &count);
            let floor = start + (last - start) * 3 / 4;
            if last + 1 < ends.len()
                && let Some(cut) = (floor..last).rev().find(|&i| {
                    unit.text[..ends[i]]
                        .chars()
                        .next_back()
                        .is_some_and(is_soft_cut)
                })
            {
                let cut_tokens = count(cut);
                if cut_tokens <= self.max_tokens {
                    (last, tokens) = (cut, cut_tokens);
                }
            }
            out.push(Piece {
                text: &unit.text[base..ends[last]],
                tokens,
                joint,
                at,
                origin,
            });
            joint = Joint::Nothing;
            at = Break::Char;
            start = last + 1;
        }
    }

    /// The largest `end` in `start..=limit` with `count(end) <= max_tokens` (at least `start`,
    /// even if that one character is over), found by galloping then bisecting, so a long text costs
    /// a few counts per piece rather than one per character.
    fn longest_fit(
        &self,
        start: usize,
        limit: usize,
        count: &dyn Fn(usize) -> usize,
    ) -> (usize, usize) {
        let mut good = (start, count(start));
        let mut step = self.max_tokens;
        let mut bad = None;
        while bad.is_none() && good.0 < limit {
            let probe = (good.0 + step).min(limit);
            let tokens = count(probe);
            if tokens <= self.max_tokens {
                good = (probe, tokens);
                step *= 2;
            } else {
                bad = Some(probe);
            }
        }
        if let Some(mut bad) = bad {
            while bad - good.0 > 1 {
                let middle = good.0 + (bad - good.0) / 2;
                let tokens = count(middle);
                if tokens <= self.max_tokens {
                    good = (middle, tokens);
                } else {
                    bad = middle;
                }
            }
        }
        good
    }
}

fn is_soft_cut(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | '-'
            | '_'
            | '.'
            | ','
            | ';'
            | ':'
            | '&'
            | '?'
            | '='
            | '#'
            | '|'
            | '，'
            | '、'
            | '。'
            | '：'
            | '；'
    )
}

/// The sentences of normalised text ([`sentence::sentences`]), with what joins each to the one
/// before.
fn sentences(text: &str) -> Vec<Unit<'_>> {
    units(sentence::sentences(text), Break::Sentence)
}

/// Splits one sentence at `level`: clauses ([`sentence::clauses`]) or words (at spaces).
fn split_at(text: &str, level: Break) -> Vec<Unit<'_>> {
    if level == Break::Clause {
        return units(sentence::clauses(text), Break::Clause);
    }
    let mut units = Vec::new();
    let mut joint = Joint::Nothing;
    for word in text.split(' ') {
        if !word.is_empty() {
            units.push(Unit {
                text: word,
                joint,
                at: level,
            });
        }
        joint = Joint::Space;
    }
    units
}

fn units(spans: Vec<sentence::Span<'_>>, at: Break) -> Vec<Unit<'_>> {
    spans
        .into_iter()
        .map(|span| Unit {
            text: span.text,
            joint: span.gap.into(),
            at,
        })
        .collect()
}

/// Collapses whitespace: runs of spaces (any Unicode space, tabs, control characters) become one
/// space, line breaks one `\n` (a space in a heading), and none is left at either end. Zero-width
/// characters and soft hyphens, invisible noise from PDFs and HTML, are dropped.
pub(super) fn normalise(text: &str, heading: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<char> = None;
    for c in text.chars() {
        match c {
            c if is_line_break(c) => {
                pending = Some(if heading { ' ' } else { '\n' });
            }
            '\u{FEFF}' | '\u{200B}' | '\u{00AD}' | '\u{2060}' => {}
            c if c.is_whitespace() || c.is_control() => {
                pending.get_or_insert(' ');
            }
            c => {
                if let Some(space) = pending.take()
                    && !out.is_empty()
                {
                    out.push(space);
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::testing::*;
    use super::super::{ChunkOptions, chunk};
    use crate::ingest::tokens::EstimatingCounter;

    #[test]
    fn a_paragraph_longer_than_the_limit_is_split_at_sentences() {
        let blocks = [paragraph(&numbered_sentences("s", 5, 5))];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(
            texts(&chunks),
            [
                numbered_sentences("s", 3, 5),
                "s4w1 s4w2 s4w3 s4w4 s4w5. s5w1 s5w2 s5w3 s5w4 s5w5.".to_owned()
            ]
        );
    }

    #[test]
    fn chinese_sentences_end_at_full_width_stops_and_join_without_spaces() {
        let text = "第一句话很短。第二句话也很短！第三句话是问题吗？第四句话结束了。";
        let blocks = [paragraph(text)];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(
            texts(&chunks),
            [
                "第一句话很短。第二句话也很短！",
                "第三句话是问题吗？",
                "第四句话结束了。"
            ]
        );
        assert_within(&chunks, 16, &Words);
    }

    #[test]
    fn a_semicolon_ends_a_clause_so_a_sentence_that_fits_is_not_cut_there() {
        // Seven tokens, then thirteen: the sentence with `；` fits in 16, so it starts the next
        // chunk whole. (When `；` was a weak sentence end, the first chunk went on to it.)
        let text = "甲甲甲甲甲甲。乙乙乙乙乙乙；丙丙丙丙丙丙。";
        let blocks = [paragraph(text)];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(
            texts(&chunks),
            ["甲甲甲甲甲甲。", "乙乙乙乙乙乙；丙丙丙丙丙丙。"]
        );
    }

    #[test]
    fn a_sentence_over_the_limit_is_cut_at_a_semicolon_as_at_any_clause_end() {
        // The first sentence (9) and the first clause of the second (5) fit; the full stop is the
        // stronger break and leaves the chunk half full, so it wins over the later `；`.
        let text = "甲甲甲甲甲甲甲甲。乙乙乙乙；丙丙丙丙丙丙丙丙丙丙丙丙丙";
        let blocks = [paragraph(text)];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(
            texts(&chunks),
            [
                "甲甲甲甲甲甲甲甲。",
                "乙乙乙乙；",
                "丙丙丙丙丙丙丙丙丙丙丙丙丙"
            ]
        );
    }

    #[test]
    fn a_sentence_longer_than_the_limit_is_split_at_clauses_then_words() {
        let text = "alpha beta gamma, delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau, upsilon phi.";
        let blocks = [paragraph(text)];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_within(&chunks, 16, &Words);
        assert_eq!(chunks[0].text, "alpha beta gamma,");
        assert_eq!(texts(&chunks).join(" "), text);
    }

    #[test]
    fn a_hundred_kilobyte_paragraph_without_spaces_is_split_by_characters() {
        for unit in ["a", "中", "😀", "é"] {
            let text = unit.repeat(100 * 1024 / unit.len());
            let blocks = [paragraph(&text)];

            let started = Instant::now();
            let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);
            let elapsed = started.elapsed();

            assert_within(&chunks, 512, &EstimatingCounter);
            assert_eq!(texts(&chunks).concat(), text, "{unit}");
            // Nearly full chunks: the split finds the longest run that fits.
            assert!(
                chunks[0].token_count > 500,
                "{unit}: {}",
                chunks[0].token_count
            );
            assert!(elapsed.as_secs() < 5, "{unit}: {elapsed:?}");
        }
    }

    #[test]
    fn a_character_split_prefers_to_cut_after_punctuation() {
        let url = format!("https://example.com/{}", "segment/".repeat(40));
        let blocks = [paragraph(&url)];

        let chunks = chunk(&blocks, &options(100, 0), &Chars);

        assert!(chunks.len() > 1);
        assert!(chunks[0].text.ends_with('/'), "{}", chunks[0].text);
        assert_eq!(texts(&chunks).concat(), url);
    }

    #[test]
    fn a_heading_longer_than_the_limit_is_split_like_a_paragraph() {
        let title = numbered_sentences("h", 2, 10);
        let blocks = [heading(1, &title), paragraph("Body.")];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_within(&chunks, 16, &Words);
        assert_covers(&blocks, &chunks);
        assert!(chunks.iter().all(|c| c.heading_path == [title.clone()]));
    }

    #[test]
    fn a_heading_spread_over_lines_becomes_one_line() {
        let blocks = [heading(2, " Annual\n  leave "), paragraph("Twenty days.")];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(chunks[0].heading_path, ["Annual leave"]);
        assert!(chunks[0].text.starts_with("Annual leave\n\n"));
    }
}
