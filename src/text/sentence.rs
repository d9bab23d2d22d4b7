//! Where sentences and clauses end, in English, Chinese and text mixing both: one splitter, used
//! by the chunker (which cuts chunks at sentence ends, and splits a sentence too long for a chunk
//! at its clauses) and by the extractive answerer (which quotes sentences), so that a sentence the
//! answerer quotes is a sentence the chunker kept whole.
//!
//! The rules:
//!
//! - **Sentence ends.** `.` `!` `?` `…` and the full-width `．` end a sentence when whitespace or
//!   the end of the text follows (so `3.14`, `e.g.x` and `pg_hba.conf` do not). `。` `！` `？` and
//!   the half-width `｡` end one whatever follows: Chinese puts no space after them. A run of stops
//!   (`?!`, `...`, `……`, `！？`) is one end, and a closing quote or bracket after the stop stays
//!   with the sentence it closes ([`super::quote::PAIRS`]): `“不可以。”`, `Ask HR (see Workday.)`.
//!   A run ends a sentence as a CJK stop does when it holds one (`……。`).
//! - **Line breaks** always end a sentence. The parsers have already joined the soft wraps of a
//!   paragraph (into a space, or into nothing between CJK characters, see
//!   [`super::script::joins_without_space`]), so a line break left in a block's text is a real
//!   one: a list item, a table row, a line of code, a `<br>`. (The extractive answerer used to
//!   join a single line break into a space, for raw files with wrapped lines; but it quotes chunk
//!   texts, where that joined lines of code and list items the chunker had kept apart.)
//! - **Clause ends**, inside a sentence: `,` `;` `:` when whitespace follows, and `，` `；` `：`
//!   `、` whatever follows, closing quotes again staying with the clause.
//! - **`；` and `;` end a clause, not a sentence.** The chunker used to treat `；` as a weak
//!   sentence end and the answerer as a full stop; it is now a clause end in both, like `;`. In
//!   the documents this serves, what follows a semicolon qualifies what precedes it — a condition,
//!   an exception, the second half of a rule (`由直属上级审批；连续休假超过 10 天的，还需部门负责人审批。`,
//!   `按规定共 158 天；难产或多胞胎按规定增加。`) — and quoting or retrieving the first half alone
//!   states the rule without its exception. It is also what `；` is: the full-width form of `;`,
//!   as `，` is of `,`. A sentence too long for one chunk is still cut there first.
//! - **Abbreviations and ellipses.** `e.g.` `i.e.` `cf.` `vs.` `viz.` never end a sentence, and an
//!   ellipsis (`...`, `…`) or `etc.` ends one only when the next word on the line is not lowercase:
//!   `you type your username, e.g. penguin, and`, `apt-file, auto-apt, … are used`, `devices such
//!   as CD-ROM etc. which are`. (Both used to end the sentence there, so the answerer quoted
//!   `you type your username, e.g.` and the chunker could cut a chunk after it.) A line break still
//!   ends the sentence.
//! - **Not handled:** other abbreviations (`Dr. Smith` ends a sentence after `Dr.`), and an ASCII
//!   stop directly followed by Chinese (`Debian.这是` stays one sentence).
//!
//! Every [`Span`] is a slice of the input without whitespace at either end, and what lies between
//! two spans is whitespace only, summed up by the later span's [`Gap`]. So on text whose whitespace
//! is normalised (single spaces and line breaks, none at the ends, as the chunker makes it),
//! [`join`] of the sentences gives back the text exactly.

use super::quote;

/// The whitespace between a span and the one before it (before the first: at the start of the
/// text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gap {
    /// Nothing: after `。` or `，` in Chinese.
    None,
    /// Spaces without a line break.
    Space,
    /// Whitespace holding a line break.
    Line,
}

impl Gap {
    /// The whitespace [`join`] puts back for the gap.
    pub fn as_str(self) -> &'static str {
        match self {
            Gap::None => "",
            Gap::Space => " ",
            Gap::Line => "\n",
        }
    }
}

/// One sentence or clause: a slice of the text it was cut from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span<'a> {
    pub text: &'a str,
    /// Byte offset of `text` in the text it was cut from.
    pub start: usize,
    /// What separates it from the span before.
    pub gap: Gap,
}

impl Span<'_> {
    /// Byte offset just past `text` in the text it was cut from.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// The characters that break a line: `\n`, `\r`, vertical tab, form feed, NEL, and the Unicode
/// line and paragraph separators.
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// How a stop (of a sentence or a clause) ends what it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Only before whitespace or the end of the text: the ASCII stops.
    Spaced,
    /// Whatever follows: the CJK ones.
    Unspaced,
}

fn sentence_stop(c: char) -> Option<Stop> {
    match c {
        '.' | '!' | '?' | '…' | '．' => Some(Stop::Spaced),
        '。' | '！' | '？' | '｡' => Some(Stop::Unspaced),
        _ => None,
    }
}

fn clause_stop(c: char) -> Option<Stop> {
    match c {
        ',' | ';' | ':' => Some(Stop::Spaced),
        '，' | '；' | '：' | '、' => Some(Stop::Unspaced),
        _ => None,
    }
}

/// Whether `c` can end a sentence (when the rules above say it does where it stands).
pub fn is_sentence_stop(c: char) -> bool {
    sentence_stop(c).is_some()
}

/// Whether `c` can end a clause (when the rules above say it does where it stands).
pub fn is_clause_stop(c: char) -> bool {
    clause_stop(c).is_some()
}

/// Whether a clause starts right after `c` even without a space: `c` is one of `，；：、`.
pub fn is_unspaced_clause_stop(c: char) -> bool {
    clause_stop(c) == Some(Stop::Unspaced)
}

/// The sentences of `text`, in order (see the module documentation for the rules).
pub fn sentences(text: &str) -> Vec<Span<'_>> {
    split(text, sentence_stop, true)
}

/// The clauses of one sentence, in order (see the module documentation for the rules). Line
/// breaks are not clause ends: a sentence has none.
pub fn clauses(text: &str) -> Vec<Span<'_>> {
    split(text, clause_stop, false)
}

/// The spans joined with their gaps (the first span's gap left out): the text they were cut from,
/// with the whitespace between spans normalised to what their gaps say.
pub fn join(spans: &[Span<'_>]) -> String {
    let mut out = String::new();
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push_str(span.gap.as_str());
        }
        out.push_str(span.text);
    }
    out
}

/// Cuts `text` after every run of stops that `stop` says ends a span, and, with `lines`, at every
/// line break.
fn split<'a>(text: &'a str, stop: fn(char) -> Option<Stop>, lines: bool) -> Vec<Span<'a>> {
    let mut spans = Vec::new();
    // The span being read: its start, the end of its last non-whitespace character, its gap.
    let mut open: Option<(usize, usize, Gap)> = None;
    // The whitespace seen since the last span ended.
    let mut gap = Gap::None;
    let close = |open: &mut Option<(usize, usize, Gap)>, spans: &mut Vec<Span<'a>>| {
        if let Some((start, end, gap)) = open.take() {
            spans.push(Span {
                text: &text[start..end],
                start,
                gap,
            });
        }
    };
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let after = i + c.len_utf8();
        if c.is_whitespace() {
            if lines && is_line_break(c) {
                close(&mut open, &mut spans);
            }
            if open.is_none() {
                let this = if is_line_break(c) {
                    Gap::Line
                } else {
                    Gap::Space
                };
                gap = gap.max(this);
            }
            i = after;
            continue;
        }
        let (start, _, span_gap) = *open.get_or_insert((i, after, gap));
        gap = Gap::None;
        let Some(first) = stop(c) else {
            open = Some((start, after, span_gap));
            i = after;
            continue;
        };
        // The run of stops and closing marks that ends here.
        let mut end = after;
        let mut unspaced = first == Stop::Unspaced;
        while let Some(d) = text[end..].chars().next() {
            match stop(d) {
                Some(kind) => unspaced |= kind == Stop::Unspaced,
                None if quote::is_closing(d) => {}
                None => break,
            }
            end += d.len_utf8();
        }
        open = Some((start, end, span_gap));
        let ends = match text[end..].chars().next() {
            None => true,
            Some(next) => unspaced || (next.is_whitespace() && !continues(text, i, end)),
        };
        if ends {
            close(&mut open, &mut spans);
        }
        i = end;
    }
    close(&mut open, &mut spans);
    spans
}

/// Abbreviations that never end a sentence: `Bring ID, e.g. a passport.`
const NEVER_LAST: [&str; 5] = ["e.g", "i.e", "cf", "vs", "viz"];

/// Whether the spaced stops `text[stop..end]`, whitespace after them, leave the sentence open:
/// they close one of [`NEVER_LAST`] on the same line, or they are an ellipsis or close `etc` and
/// a lowercase word follows on the same line (`apt-file, auto-apt, … are used`, `devices such as
/// CD-ROM etc. which are`).
fn continues(text: &str, stop: usize, end: usize) -> bool {
    let run = &text[stop..end];
    // A run of clause stops (`e.g, then`) is not a sentence's end to begin with.
    if !run.starts_with(is_sentence_stop) {
        return false;
    }
    let before = &text[..stop];
    let word = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphabetic() || *c == '.')
        .last()
        .map_or("", |(start, _)| &before[start..]);
    let Some(next) = text[end..]
        .chars()
        .find(|c| !c.is_whitespace() || is_line_break(*c))
    else {
        return false;
    };
    if is_line_break(next) {
        return false;
    }
    let dots = run.chars().filter(|c| *c == '.').count();
    let ellipsis = run.contains('…') || dots > 1;
    if !ellipsis && NEVER_LAST.iter().any(|a| word.eq_ignore_ascii_case(a)) {
        return true;
    }
    (ellipsis || word.eq_ignore_ascii_case("etc")) && next.is_lowercase()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn texts<'a>(spans: &[Span<'a>]) -> Vec<&'a str> {
        spans.iter().map(|span| span.text).collect()
    }

    fn gaps(spans: &[Span<'_>]) -> Vec<Gap> {
        spans.iter().map(|span| span.gap).collect()
    }

    #[test]
    fn english_sentences_end_at_stops_followed_by_whitespace() {
        let text = "Leave accrues monthly at 1.83 days. Is it paid? Yes!\n\nAsk HR (see Workday.) Then wait";

        let spans = sentences(text);

        assert_eq!(
            texts(&spans),
            [
                "Leave accrues monthly at 1.83 days.",
                "Is it paid?",
                "Yes!",
                "Ask HR (see Workday.)",
                "Then wait",
            ]
        );
        assert_eq!(
            gaps(&spans),
            [Gap::None, Gap::Space, Gap::Space, Gap::Line, Gap::Space]
        );
    }

    #[test]
    fn decimals_file_names_and_inner_dots_do_not_end_a_sentence() {
        assert_eq!(
            texts(&sentences(
                "Pi is 3.14 and pg_hba.conf is read. e.g.x stays"
            )),
            ["Pi is 3.14 and pg_hba.conf is read.", "e.g.x stays"]
        );
    }

    #[test]
    fn abbreviations_and_ellipses_before_a_lowercase_word_leave_the_sentence_open() {
        assert_eq!(
            texts(&sentences(
                "Bring ID, e.g. a passport (i.e. photo ID) or cf. 3 forms. Then go"
            )),
            [
                "Bring ID, e.g. a passport (i.e. photo ID) or cf. 3 forms.",
                "Then go"
            ]
        );
        assert_eq!(
            texts(&sentences(
                "Tools such as apt-file, auto-apt, … are used. Devices etc. which are files."
            )),
            [
                "Tools such as apt-file, auto-apt, … are used.",
                "Devices etc. which are files."
            ]
        );
        // A capital after `etc.` or an ellipsis, or a line break after any of them, ends it.
        assert_eq!(
            texts(&sentences(
                "Disks, tapes etc. Then more... Next, e.g.\nnew line"
            )),
            [
                "Disks, tapes etc.",
                "Then more...",
                "Next, e.g.",
                "new line"
            ]
        );
        // A word that only ends like one is no abbreviation.
        assert_eq!(
            texts(&sentences("Use cvs. it works")),
            ["Use cvs.", "it works"]
        );
    }

    #[test]
    fn chinese_sentences_end_at_full_stops_without_spaces() {
        // `；` ends a clause, not a sentence (the extractive answerer used to quote
        // "未休完的可结转至次年；" alone).
        let text =
            "员工每年享有5天年假。未休完的可结转至次年；逾期清零！是否可以折现？“不可以。”其他";

        let spans = sentences(text);

        assert_eq!(
            texts(&spans),
            [
                "员工每年享有5天年假。",
                "未休完的可结转至次年；逾期清零！",
                "是否可以折现？",
                "“不可以。”",
                "其他",
            ]
        );
        assert!(spans.iter().all(|span| span.gap == Gap::None));
        assert_eq!(join(&spans), text);
    }

    #[test]
    fn a_run_of_stops_and_closing_marks_is_one_end() {
        assert_eq!(
            texts(&sentences(
                "Really?! Yes... No.” Then 真的吗？！“是。”」好……。完"
            )),
            [
                "Really?!",
                "Yes...",
                "No.”",
                "Then 真的吗？！",
                "“是。”」",
                "好……。",
                "完"
            ]
        );
    }

    #[test]
    fn an_ellipsis_ends_a_sentence_only_before_whitespace() {
        assert_eq!(
            texts(&sentences("Wait… Then go. 他说……我不知道。")),
            ["Wait…", "Then go.", "他说……我不知道。"]
        );
    }

    #[test]
    fn full_width_and_half_width_variants_of_the_stops() {
        assert_eq!(
            texts(&sentences("第１．５版．下一句｡再一句！ＯＫ？完")),
            ["第１．５版．下一句｡", "再一句！", "ＯＫ？", "完"]
        );
        assert_eq!(texts(&sentences("版本１．５． 完")), ["版本１．５．", "完"]);
    }

    #[test]
    fn every_line_break_ends_a_sentence() {
        // The answerer used to join "on\nthe" into one sentence; the parsers already join soft
        // wraps, so a line break left in a chunk is a real one, and the chunker always cut there.
        let text = "You are paid on\nthe last working day.\n- first item\n- second item\n\nHeading\n\n年假\n制度";

        let spans = sentences(text);

        assert_eq!(
            texts(&spans),
            [
                "You are paid on",
                "the last working day.",
                "- first item",
                "- second item",
                "Heading",
                "年假",
                "制度",
            ]
        );
        assert!(spans[1..].iter().all(|span| span.gap == Gap::Line));
    }

    #[test]
    fn mixed_text_ends_at_each_scripts_own_stops() {
        let text = "Debian 使用 apt 管理软件包。Run apt update first. 然后安装！Debian.这是一句";

        assert_eq!(
            texts(&sentences(text)),
            [
                "Debian 使用 apt 管理软件包。",
                "Run apt update first.",
                "然后安装！",
                "Debian.这是一句",
            ]
        );
    }

    #[test]
    fn whitespace_around_sentences_is_not_part_of_them() {
        let spans = sentences("  One.   Two \t\n  three。 四  ");

        assert_eq!(texts(&spans), ["One.", "Two", "three。", "四"]);
        assert_eq!(
            gaps(&spans),
            [Gap::Space, Gap::Space, Gap::Line, Gap::Space]
        );
        assert_eq!(join(&spans), "One. Two\nthree。 四");
        assert!(sentences("").is_empty() && sentences(" \n\t").is_empty());
    }

    #[test]
    fn clauses_end_at_commas_semicolons_and_colons() {
        let text = "alpha beta, gamma; delta: epsilon,zeta 12:30 http://x";

        let spans = clauses(text);

        assert_eq!(
            texts(&spans),
            [
                "alpha beta,",
                "gamma;",
                "delta:",
                "epsilon,zeta 12:30 http://x"
            ]
        );
        assert_eq!(join(&spans), text);
    }

    #[test]
    fn chinese_clauses_end_at_full_width_marks_whatever_follows() {
        let text = "第一条规定甲，第二条规定乙、丙；第三条：丁， 戊“己，”庚";

        let spans = clauses(text);

        assert_eq!(
            texts(&spans),
            [
                "第一条规定甲，",
                "第二条规定乙、",
                "丙；",
                "第三条：",
                "丁，",
                "戊“己，”",
                "庚"
            ]
        );
        assert_eq!(spans[5].gap, Gap::Space);
        assert_eq!(join(&spans), text);
    }

    #[test]
    fn a_semicolon_ends_a_clause_in_both_scripts_and_never_a_sentence() {
        assert_eq!(sentences("甲；乙; 丙。").len(), 1);
        assert_eq!(texts(&clauses("甲；乙; 丙。")), ["甲；", "乙;", "丙。"]);
    }

    #[test]
    fn spans_know_where_they_are() {
        let text = "一。 Two.";
        for span in sentences(text) {
            assert_eq!(&text[span.start..span.end()], span.text);
        }
    }

    /// Text from pieces that exercise every rule: words of both scripts, every stop and clause
    /// mark, closing and opening marks, digits with dots, and whitespace of every kind.
    fn text_strategy() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "word", "Debian", "3.14", "e.g.", "中", "文", "年假", "。", "！", "？", "｡", ".", "!",
            "?", "…", "．", "，", "；", "：", "、", ",", ";", ":", "”", "“", ")", "(", "」", "'",
            "\"", " ", " ", "  ", "\n", "\t", "\u{3000}", "\r\n", "😀", "é",
        ]);
        prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
    }

    /// What a span list must be for `text`: slices of it in order, without whitespace at their
    /// ends or line breaks inside (for sentences), and only whitespace between them, its kind
    /// what the gap says.
    fn check_spans(text: &str, spans: &[Span<'_>]) -> Result<(), TestCaseError> {
        let mut at = 0;
        for span in spans {
            prop_assert!(!span.text.is_empty());
            prop_assert_eq!(&text[span.start..span.end()], span.text);
            prop_assert_eq!(span.text.trim(), span.text);
            prop_assert!(!span.text.contains(is_line_break), "{:?}", span);
            let between = &text[at..span.start];
            prop_assert!(between.chars().all(char::is_whitespace), "{:?}", between);
            let expected = if between.contains(is_line_break) {
                Gap::Line
            } else if between.is_empty() {
                Gap::None
            } else {
                Gap::Space
            };
            prop_assert_eq!(span.gap, expected);
            at = span.end();
        }
        prop_assert!(text[at..].chars().all(char::is_whitespace));
        Ok(())
    }

    proptest! {
        #[test]
        fn sentences_are_the_text_in_order_split_only_at_whitespace_or_stops(text in text_strategy()) {
            let spans = sentences(&text);
            check_spans(&text, &spans)?;
            // Every sentence but the last ends at a stop (or closing mark) or before a line break.
            for pair in spans.windows(2) {
                let last = pair[0].text.chars().next_back().unwrap_or(' ');
                prop_assert!(
                    is_sentence_stop(last) || quote::is_closing(last) || pair[1].gap == Gap::Line,
                    "{:?}", pair
                );
            }
        }

        #[test]
        fn normalised_text_is_given_back_exactly_by_joining_its_sentences(text in text_strategy()) {
            // Whitespace normalised as the chunker does: single spaces and line breaks, none at
            // the ends.
            let mut normalised = String::new();
            for line in text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")) {
                if line.is_empty() {
                    continue;
                }
                if !normalised.is_empty() {
                    normalised.push('\n');
                }
                normalised.push_str(&line);
            }
            prop_assert_eq!(join(&sentences(&normalised)), normalised.clone());
            for sentence in sentences(&normalised) {
                prop_assert_eq!(join(&clauses(sentence.text)), sentence.text);
            }
        }

        #[test]
        fn clauses_are_the_sentence_in_order(text in text_strategy()) {
            for sentence in sentences(&text) {
                check_spans(sentence.text, &clauses(sentence.text))?;
            }
        }
    }
}
