//! Citation markers in a model's answer: keeps the `[n]` that name a passage the model was given,
//! removes the ones that do not, and records which passages were cited. Works on a streamed
//! answer as it arrives, holding back only what might still become a marker.
//!
//! A marker is an opening bracket, one or more integers of 1 to 3 digits separated by commas
//! (`,`, `，`, `、`) or spaces, and the closing bracket: `[3]`, `[1, 2]`, `[1,2]`, `[1 2]`, and the
//! full-width `【3】` some Chinese models write. `[1][2]` is two markers. Anything else in brackets
//! (`[note]`, `[a-b]`, `[2024]`, `[]`) is text. Kept markers are written canonically (`[1, 2]`,
//! `【3】` as `[3]`), numbers in the order given, without repeats.
//!
//! Filtering is a pure function of the text: the streamed output, concatenated, is the same as
//! [`filter`] on the whole answer however it was split into deltas.

use crate::text::{quote, sentence};

/// Longest text taken as a possible marker, in bytes; an opening bracket not closed within it is
/// released as text, so a stray `[` never holds back the stream for long.
const MAX_MARKER_BYTES: usize = 32;

/// Most digits in one marker number: passage counts stay far below 1,000, and a longer number in
/// brackets is more likely a year or a reference (`[2024]`) than a citation.
const MAX_DIGITS: usize = 3;

/// Filters citation markers in a streamed answer. Feed it every delta with [`push`](Self::push),
/// then call [`finish`](Self::finish) once.
#[derive(Debug, Clone, Default)]
pub struct CitationFilter {
    passages: usize,
    /// Received, not yet released: the possible start of a marker, and what decides it.
    pending: String,
    /// A space that was consumed but not yet released: it is dropped with a removed marker after
    /// it (`word [9].` becomes `word.`).
    held_space: bool,
    cited: Vec<usize>,
    dropped: usize,
}

/// What the text at an opening bracket is.
#[derive(Debug, PartialEq)]
enum Scan {
    /// A complete marker of `len` bytes.
    Marker {
        len: usize,
        numbers: Vec<usize>,
    },
    NotMarker,
    /// Could still become a marker: more text is needed to tell.
    Incomplete,
}

impl CitationFilter {
    /// A filter for an answer drawn from `passages` passages, numbered 1 to `passages`.
    pub fn new(passages: usize) -> Self {
        Self {
            passages,
            ..Self::default()
        }
    }

    /// Feeds one streamed delta; returns the text that is safe to show now. Text that might be
    /// the start of a marker (`[`, `[1`, `[1,` … or `【`) is held back until it is complete or
    /// clearly not a marker, at most [`MAX_MARKER_BYTES`] plus a space before and a character
    /// after it.
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        self.release(false)
    }

    /// Ends the stream: releases everything held back. An unfinished marker at the very end (`[1`)
    /// is released as text.
    pub fn finish(&mut self) -> String {
        self.release(true)
    }

    /// Passage numbers cited, unique, in order of first appearance.
    pub fn cited(&self) -> &[usize] {
        &self.cited
    }

    /// Marker numbers dropped because no passage has them, counting each occurrence.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Releases what `pending` decides; at the `end` of the stream, all of it.
    fn release(&mut self, end: bool) -> String {
        let pending = std::mem::take(&mut self.pending);
        let mut out = String::with_capacity(pending.len());
        let mut rest = pending.as_str();
        while let Some(c) = rest.chars().next() {
            if c == '[' || c == '【' {
                let scan = match scan(rest) {
                    Scan::Incomplete if end => Scan::NotMarker,
                    scan => scan,
                };
                match scan {
                    Scan::Incomplete => break,
                    Scan::NotMarker => {
                        self.release_space(&mut out);
                        out.push(c);
                        rest = &rest[c.len_utf8()..];
                    }
                    Scan::Marker { len, numbers } => {
                        let after = &rest[len..];
                        let kept = self.judge(&numbers);
                        if kept.is_empty() && self.held_space {
                            // Whether the space before goes depends on what follows.
                            let next = after.chars().next();
                            if next.is_none() && !end {
                                break;
                            }
                            if next.is_none_or(|n| n.is_whitespace() || is_closing(n)) {
                                self.held_space = false;
                            }
                        }
                        self.record(&numbers);
                        if !kept.is_empty() {
                            self.release_space(&mut out);
                            write_marker(&mut out, &kept);
                        }
                        rest = after;
                    }
                }
            } else if c == ' ' {
                self.release_space(&mut out);
                self.held_space = true;
                rest = &rest[1..];
            } else {
                self.release_space(&mut out);
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if end {
            self.release_space(&mut out);
        }
        self.pending = rest.to_owned();
        out
    }

    fn release_space(&mut self, out: &mut String) {
        if std::mem::take(&mut self.held_space) {
            out.push(' ');
        }
    }

    /// The valid numbers of a marker, without repeats, in the order given.
    fn judge(&self, numbers: &[usize]) -> Vec<usize> {
        let mut kept: Vec<usize> = Vec::with_capacity(numbers.len());
        for &n in numbers {
            if (1..=self.passages).contains(&n) && !kept.contains(&n) {
                kept.push(n);
            }
        }
        kept
    }

    fn record(&mut self, numbers: &[usize]) {
        for &n in numbers {
            if !(1..=self.passages).contains(&n) {
                self.dropped += 1;
            } else if !self.cited.contains(&n) {
                self.cited.push(n);
            }
        }
    }
}

/// Filters a whole answer at once: the text with invalid markers removed and valid ones written
/// canonically, the passages cited (unique, in order of first appearance) and the number of
/// marker numbers dropped.
pub fn filter(text: &str, passages: usize) -> (String, Vec<usize>, usize) {
    let mut filter = CitationFilter::new(passages);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    (out, filter.cited, filter.dropped)
}

/// Reads a possible marker at the start of `text`, which starts with `[` or `【`.
fn scan(text: &str) -> Scan {
    #[derive(Clone, Copy)]
    enum State {
        /// After the opening bracket and any spaces.
        Open,
        /// Inside a number: its value and digit count.
        Number(usize, usize),
        /// After a number and a separator.
        Separator,
    }
    let mut chars = text.char_indices();
    let close = match chars.next() {
        Some((_, '[')) => ']',
        Some((_, '【')) => '】',
        _ => return Scan::NotMarker,
    };
    let mut numbers = Vec::new();
    let mut state = State::Open;
    for (i, c) in chars {
        let len = i + c.len_utf8();
        if len > MAX_MARKER_BYTES {
            return Scan::NotMarker;
        }
        state = match (state, c) {
            (State::Number(value, digits), '0'..='9') if digits < MAX_DIGITS => {
                State::Number(value * 10 + digit(c), digits + 1)
            }
            (State::Number(..), '0'..='9') => return Scan::NotMarker,
            (State::Open | State::Separator, '0'..='9') => State::Number(digit(c), 1),
            (State::Open, ' ') => State::Open,
            (State::Number(value, _), ' ' | ',' | '，' | '、') => {
                numbers.push(value);
                State::Separator
            }
            (State::Separator, ' ' | ',' | '，' | '、') => State::Separator,
            (State::Number(value, _), c) if c == close => {
                numbers.push(value);
                return Scan::Marker { len, numbers };
            }
            (State::Separator, c) if c == close => return Scan::Marker { len, numbers },
            _ => return Scan::NotMarker,
        };
    }
    Scan::Incomplete
}

fn digit(c: char) -> usize {
    c.to_digit(10).map_or(0, |d| d as usize)
}

/// Punctuation that follows a word without a space, so a space before it looks wrong: the stops
/// of sentences and clauses, and closing quotes and brackets (the rules of `crate::text`).
fn is_closing(c: char) -> bool {
    sentence::is_sentence_stop(c) || sentence::is_clause_stop(c) || quote::is_closing(c)
}

fn write_marker(out: &mut String, numbers: &[usize]) {
    out.push('[');
    for (i, n) in numbers.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&n.to_string());
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts where splitting matters: markers at the edges, spaces around removed markers,
    /// brackets that are not markers, multi-byte characters.
    const TRICKY: &[&str] = &[
        "Annual leave is 22 days [1]. Carry-over is 5 days [2, 9]. Ask HR [9].",
        "Cited twice [1][2], then [1,2] and [ 3 ] and [1 2] again.",
        "年假为5天【1】。病假【9】。差旅标准见【2，3】与【4、1】。",
        "Not markers: [note] [a-b] [] [ ] [2024] [1.5] [1;2] [-1] 【注】.",
        "Removed mid-sentence [9] here, and [0] and [8][9] then [9] [1].",
        "Stray [ bracket never closed and a long one [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]",
        "Unclosed at the end [1",
        "Trailing removed marker [7]",
        "   [9]   spaces   [1]   ",
        "Code: let v = [0, 1, 2]; and [1,]. Emoji 😀[1]😀 and 中文[2]。",
        "[1][2][3][4][5]",
        "[[1]] [[9]] ]1[ 【1] [1】",
    ];

    #[test]
    fn valid_markers_are_kept_and_invalid_numbers_removed() {
        let (text, cited, dropped) = filter("Leave is 22 days [1, 9]. See [3] and [2].", 3);

        assert_eq!(text, "Leave is 22 days [1]. See [3] and [2].");
        assert_eq!(cited, [1, 3, 2]);
        assert_eq!(dropped, 1);
    }

    #[test]
    fn a_marker_left_empty_goes_with_the_space_before_it() {
        assert_eq!(filter("See the policy [9].", 3).0, "See the policy.");
        assert_eq!(filter("See [9] the policy.", 3).0, "See the policy.");
        assert_eq!(filter("See the policy [9]", 3).0, "See the policy");
        assert_eq!(filter("word [8][9].", 3).0, "word.");
        assert_eq!(filter("word [9] [1].", 3).0, "word [1].");
        assert_eq!(filter("word [9]next", 3).0, "word next");
    }

    #[test]
    fn removing_markers_never_leaves_a_double_space() {
        let (text, _, dropped) = filter("a [9] b [8] [7] c [6]. d [5],e", 3);

        assert_eq!(text, "a b c. d,e");
        assert_eq!(dropped, 5);
    }

    #[test]
    fn all_marker_forms_are_recognised_and_written_canonically() {
        let (text, cited, dropped) =
            filter("x [1,2] y [1][2] z [ 3 ] w [2 3] v 【3】 u 【1，2】", 3);

        assert_eq!(text, "x [1, 2] y [1][2] z [3] w [2, 3] v [3] u [1, 2]");
        assert_eq!(cited, [1, 2, 3]);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn brackets_that_are_not_markers_are_left_alone() {
        let text = "[note] [a-b] [] [ ] [2024] [1.5] [-1] [1;2] 【注】 [x, 1]";

        let (filtered, cited, dropped) = filter(text, 3);

        assert_eq!(filtered, text);
        assert!(cited.is_empty());
        assert_eq!(dropped, 0);
    }

    #[test]
    fn an_array_literal_of_small_integers_is_taken_for_a_marker() {
        // Accepted: 0 is not a passage, so `[0, 1, 2]` loses its 0.
        assert_eq!(filter("let v = [0, 1, 2];", 3).0, "let v = [1, 2];");
    }

    #[test]
    fn repeated_numbers_are_cited_once() {
        let (text, cited, _) = filter("[2, 2] and [2] and [1]", 2);

        assert_eq!(text, "[2] and [2] and [1]");
        assert_eq!(cited, [2, 1]);
    }

    #[test]
    fn with_no_passages_every_marker_is_dropped() {
        let (text, cited, dropped) = filter("Nothing to cite [1].", 0);

        assert_eq!(text, "Nothing to cite.");
        assert!(cited.is_empty());
        assert_eq!(dropped, 1);
    }

    #[test]
    fn a_possible_marker_is_held_back_until_it_is_decided() {
        let mut filter = CitationFilter::new(3);

        assert_eq!(filter.push("Leave is 22 days ["), "Leave is 22 days");
        assert_eq!(filter.push("1"), "");
        assert_eq!(filter.push(","), "");
        assert_eq!(filter.push(" 2]"), " [1, 2]");
        assert_eq!(filter.push(" and [n"), " and [n");
        assert_eq!(filter.push("ote]."), "ote].");
        assert_eq!(filter.finish(), "");
        assert_eq!(filter.cited(), [1, 2]);
    }

    #[test]
    fn an_unclosed_bracket_is_released_once_it_is_too_long_for_a_marker() {
        let mut filter = CitationFilter::new(3);

        let first = filter.push("[1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2");
        let second = filter.push(", 3, 1]");

        assert_eq!(first, "");
        assert_eq!(second, "[1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1]");
        assert!(filter.cited().is_empty());
    }

    #[test]
    fn an_unfinished_marker_at_the_end_is_released_as_text() {
        let mut filter = CitationFilter::new(3);

        assert_eq!(filter.push("see [1"), "see");
        assert_eq!(filter.finish(), " [1");
        assert!(filter.cited().is_empty());
    }

    #[test]
    fn streaming_matches_the_whole_text_at_every_split_point() {
        for text in TRICKY {
            for passages in [0, 1, 3] {
                let (whole, cited, dropped) = filter(text, passages);
                for (split, _) in text.char_indices().skip(1) {
                    let mut filter = CitationFilter::new(passages);
                    let mut out = filter.push(&text[..split]);
                    out.push_str(&filter.push(&text[split..]));
                    out.push_str(&filter.finish());

                    assert_eq!(out, whole, "{text:?} split at {split}");
                    assert_eq!(filter.cited(), cited, "{text:?} split at {split}");
                    assert_eq!(filter.dropped(), dropped, "{text:?} split at {split}");
                }
            }
        }
    }

    #[test]
    fn streaming_matches_the_whole_text_for_random_splits() {
        // xorshift64: deterministic, no dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut random = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for text in TRICKY {
            let (whole, cited, dropped) = filter(text, 3);
            for _ in 0..200 {
                let mut filter = CitationFilter::new(3);
                let mut out = String::new();
                let mut start = 0;
                while start < text.len() {
                    // Deltas of 0 to 5 characters, empty ones included.
                    let end = text[start..]
                        .char_indices()
                        .map(|(i, _)| start + i)
                        .chain([text.len()])
                        .nth(random(6))
                        .unwrap_or(text.len());
                    out.push_str(&filter.push(&text[start..end]));
                    start = end;
                }
                out.push_str(&filter.finish());

                assert_eq!(out, whole, "{text:?}");
                assert_eq!(filter.cited(), cited, "{text:?}");
                assert_eq!(filter.dropped(), dropped, "{text:?}");
            }
        }
    }

    #[test]
    fn held_back_text_stays_small() {
        let mut filter = CitationFilter::new(3);
        let mut released = 0;
        let text =
            "Some [1, 2, 3] text [ with [stray brackets 【 and spaces    everywhere [".repeat(5);

        for c in text.chars() {
            released += filter.push(c.encode_utf8(&mut [0; 4])).len();
            assert!(
                filter.pending.len() <= MAX_MARKER_BYTES + 4,
                "{:?}",
                filter.pending
            );
        }
        released += filter.finish().len();
        assert_eq!(released, text.len());
    }
}
