//! The local answerer, for when no language model is configured: quotes the passages' sentences
//! that best match the question, each with the `[n]` of its passage. Pure and deterministic.
//!
//! Sentences are scored by the question's terms they contain (the same words keyword search
//! uses, from [`segment::terms`]), each weighted by its inverse document frequency over all the
//! candidate sentences, so that a word every sentence has counts for little.
//!
//! The rules, each measured with `adbrag eval --answers` on the dev sets (docs/answers.md),
//! bring the words a question does not share but its answer holds: a table row is one quote, never
//! cut at a `!` in a cell (`:q! | quit without saving`); a sentence that introduces the paragraph
//! after it ("… as follows:", "E.g.:", 下列命令) or is followed by a shell session (`$ …`, `# …`)
//! is quoted with that paragraph, the example that usually holds the command, or with the list of
//! one-line paragraphs it opens; a sentence followed by a table is quoted with the table; the first
//! passage, retrieval's best guess, always contributes its best sentence, and its three best
//! examples when its quotes bring fewer, and each later passage among the first three whose
//! heading names the question better brings two; a question asking where counts a path as one of its
//! words; and each quoted sentence brings the one after it in its paragraph, each quoted table row
//! the row after it.

use std::collections::HashSet;

use super::context::Passage;
use crate::text::{script::is_han, segment, sentence};

/// Shortest sentence quoted, in characters: shorter ones are list numbers and stray labels.
const MIN_SENTENCE_CHARS: usize = 3;

/// Longest sentence quoted whole, in characters; a longer one is cut, and ends in "…".
const MAX_SENTENCE_CHARS: usize = 400;

/// How far back from a forced cut a space is looked for, in characters.
const CUT_LOOKBACK_CHARS: usize = 60;

/// Bonus for a sentence of the first passage, divided by the passage's rank for later ones. Below
/// the weight of any one term (at least ln 2), so it only decides between equal matches.
const EARLY_PASSAGE_BONUS: f64 = 0.1;

/// How many examples the first passage contributes at least, when it has them.
const LEAD_EXAMPLES: usize = 3;

/// How many examples each of the first passages whose heading names the question better than the
/// first passage's contributes at least ([`heading_leads`]).
const HEADING_EXAMPLES: usize = 2;

/// Among how many of the first passages those are looked for: retrieval's later passages are too
/// often a heading's chance match.
const HEADING_PASSAGES: usize = 3;

/// In the fallback, how many passages contribute their first sentence.
const FALLBACK_PASSAGES: usize = 2;

/// A sentence is quoted only if it matches at least this share of the best sentence's match: a
/// sentence that shares one common word with the question is noise next to one that shares
/// several.
const RELATIVE_FLOOR: f64 = 0.5;

/// One sentence that may be quoted.
struct Candidate {
    /// Index into the passages.
    passage: usize,
    /// Order within its passage.
    position: usize,
    /// Which of its passage's paragraphs (blank-line separated) it is in.
    paragraph: usize,
    /// As quoted: whitespace collapsed, cut when too long.
    quote: String,
    /// Its terms, for scoring.
    terms: HashSet<String>,
    /// For recognising the same sentence in two passages.
    key: String,
    /// Ends in a question mark: never quoted, its match goes to the sentence after it.
    question: bool,
    /// A table row ("a | b | c"): never brought along as the sentence after another.
    row: bool,
    /// What follows this sentence, when it is the last of its paragraph and introduces it ("… as
    /// follows:", "E.g.:", "使用下列命令", a shell session, a list of one-line paragraphs) or
    /// stands before a table: quoted with it.
    example: Option<String>,
    /// How many paragraphs after its own the example quotes whole: their sentences are not quoted
    /// again on their own.
    example_paragraphs: usize,
}

/// The local, model-free answer: the passages' sentences that best match the question, quoted
/// with their `[n]` markers, one per line, at most `max_sentences` of them (each with the sentence
/// after it in its paragraph, or the example or table it introduces), and the first passage's
/// three best examples when fewer of those come from it, in passage order.
///
/// A sentence that is itself a question is never quoted: when it matches, the sentence after it
/// (its answer, in an FAQ) takes its match.
///
/// When no sentence contains a word of the question (passages found by meaning alone), the first
/// sentence of each of the first two passages is quoted instead. Empty when there are no
/// passages, no sentences or `max_sentences` is 0.
pub fn answer(question: &str, passages: &[Passage], max_sentences: usize) -> String {
    if max_sentences == 0 {
        return String::new();
    }
    let candidates = candidates(passages);
    let mut question_terms = segment::terms(question);
    if asks_where(question) {
        question_terms.push(PATH.to_owned());
    }

    // Inverse document frequency of each question term over the candidate sentences.
    let total = candidates.len() as f64;
    let weights: Vec<(&str, f64)> = question_terms
        .iter()
        .filter_map(|term| {
            let frequency = candidates.iter().filter(|c| c.terms.contains(term)).count();
            (frequency > 0).then(|| (term.as_str(), (1.0 + total / frequency as f64).ln()))
        })
        .collect();

    let mut matches: Vec<f64> = candidates
        .iter()
        .map(|candidate| {
            weights
                .iter()
                .filter(|(term, _)| candidate.terms.contains(*term))
                .map(|(_, weight)| weight)
                .sum()
        })
        .collect();
    // A question that matches (an FAQ's "Q: When is salary paid?") is not the answer; the
    // sentence after it, in the same passage, is. A question in two sentences ("Q: I lost my
    // badge. What now?") passes its match on through both.
    for i in 1..candidates.len() {
        let (before, after) = (&candidates[i - 1], &candidates[i]);
        if before.question && before.passage == after.passage {
            matches[i] = matches[i].max(matches[i - 1]);
        }
    }
    let mut scored: Vec<(f64, &Candidate)> = candidates
        .iter()
        .zip(matches.iter().copied())
        .filter(|(candidate, matched)| !candidate.question && *matched > 0.0)
        .map(|(candidate, matched)| {
            let bonus = EARLY_PASSAGE_BONUS / (candidate.passage + 1) as f64;
            (matched + bonus, candidate)
        })
        .collect();
    scored.sort_by(|(a_score, a), (b_score, b)| {
        b_score
            .total_cmp(a_score)
            .then(a.passage.cmp(&b.passage))
            .then(a.position.cmp(&b.position))
    });
    if let Some(&(best, _)) = scored.first() {
        // The first passage is retrieval's best guess: its best sentence is quoted even when a
        // later passage's matches more words, and goes first.
        let lead = scored
            .iter()
            .position(|(_, c)| c.passage == 0)
            .map(|i| scored.remove(i));
        scored.retain(|(score, _)| *score >= best * RELATIVE_FLOOR);
        if let Some(lead) = lead {
            scored.insert(0, lead);
        }
    }

    let mut chosen: Vec<&Candidate> = Vec::new();
    let mut keys: HashSet<&str> = HashSet::new();
    let matched = !scored.is_empty();
    let ranked: Box<dyn Iterator<Item = &Candidate>> = if !matched {
        // Nothing matches the words: the passages' openings, best passages first.
        let mut openings: Vec<&Candidate> = Vec::new();
        for candidate in candidates.iter().filter(|c| !c.question) {
            if openings
                .last()
                .is_none_or(|last| last.passage != candidate.passage)
                && openings.len() < FALLBACK_PASSAGES
            {
                openings.push(candidate);
            }
        }
        Box::new(openings.into_iter())
    } else {
        Box::new(scored.into_iter().map(|(_, candidate)| candidate))
    };
    for candidate in ranked {
        if chosen.len() == max_sentences {
            break;
        }
        if keys.insert(candidate.key.as_str()) {
            chosen.push(candidate);
        }
    }
    // The first passage's examples (commands, tables, lists) usually hold what the question asks
    // for in words it does not share: until [`LEAD_EXAMPLES`] of them are quoted, its sentence
    // that brings one and best matches the question (the earliest of equals) is quoted too. So are
    // the examples of a later passage whose heading names the question better than the first's:
    // the section titled "Finding all hard links" holds the command for a question about hard
    // links even when retrieval ranked a broader section first.
    if matched {
        let headed = heading_leads(passages, &weights);
        let leads = [(0, LEAD_EXAMPLES)]
            .into_iter()
            .chain(headed.into_iter().map(|p| (p, HEADING_EXAMPLES)));
        for (lead, wanted) in leads {
            while chosen
                .iter()
                .filter(|c| c.passage == lead && c.example.is_some())
                .count()
                < wanted
            {
                let best = candidates
                    .iter()
                    .zip(&matches)
                    .filter(|(c, _)| {
                        c.passage == lead
                            && c.example.is_some()
                            && !c.question
                            && !keys.contains(c.key.as_str())
                    })
                    .max_by(|(a, a_match), (b, b_match)| {
                        a_match.total_cmp(b_match).then(b.position.cmp(&a.position))
                    });
                let Some((candidate, _)) = best else {
                    break;
                };
                keys.insert(candidate.key.as_str());
                chosen.push(candidate);
            }
        }
    }
    // A quoted sentence brings the sentence after it in its paragraph, which often completes it
    // ("… by removing quiet. For the persistent change, edit GRUB_CMDLINE_…"), unless it brings
    // an example of its own; a quoted table row brings the row after it (the parsers write each
    // row as a paragraph of its own), often the package a question describes but does not name.
    let quoted = if matched { chosen.clone() } else { Vec::new() };
    for lead in quoted.into_iter().filter(|c| c.example.is_none()) {
        if let Some(next) = candidates
            .iter()
            .find(|c| c.passage == lead.passage && c.position == lead.position + 1 && !c.question)
            && ((next.paragraph == lead.paragraph && !next.row)
                || (lead.row && next.row && next.paragraph <= lead.paragraph + 1))
            && keys.insert(next.key.as_str())
        {
            chosen.push(next);
        }
    }
    // A sentence of a paragraph already quoted as another's example is not quoted again.
    let examples: HashSet<(usize, usize)> = chosen
        .iter()
        .flat_map(|c| (1..=c.example_paragraphs).map(|n| (c.passage, c.paragraph + n)))
        .collect();
    chosen.retain(|c| !examples.contains(&(c.passage, c.paragraph)));
    chosen.sort_by_key(|c| (c.passage, c.position));

    let mut out = String::new();
    for candidate in chosen {
        let Some(passage) = passages.get(candidate.passage) else {
            continue;
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&candidate.quote);
        out.push_str(&format!(" [{}]", passage.number));
        if let Some(example) = &candidate.example {
            for line in example.lines() {
                out.push_str("\n    ");
                out.push_str(line);
            }
        }
    }
    out
}

/// The term a sentence that names a file or a URL holds, and a question asking "where" asks for:
/// no word's term, which are letters and digits.
const PATH: &str = "/path";

/// Asks where something is: "where", 哪里, 在哪, 哪儿, 何处.
fn asks_where(question: &str) -> bool {
    question
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("where"))
        || ["哪里", "在哪", "哪儿", "何处"]
            .iter()
            .any(|word| question.contains(word))
}

/// Names a path or a URL: a word that starts with `/` or `~/` and goes on, or holds `://`.
fn holds_path(sentence: &str) -> bool {
    sentence
        .split(|c: char| c.is_whitespace() || "\"'“”‘’「」()（）,，。;；".contains(c))
        .any(|word| {
            (word.len() > 1 && (word.starts_with('/') || word.starts_with("~/")))
                || word.contains("://")
        })
}

/// The passages, second to [`HEADING_PASSAGES`]th, whose last heading holds more of the
/// question's term weight than the first passage's heading does, in passage order.
fn heading_leads(passages: &[Passage], weights: &[(&str, f64)]) -> Vec<usize> {
    let matched: Vec<f64> = passages
        .iter()
        .take(HEADING_PASSAGES)
        .map(|passage| {
            let heading = passage.heading_path.last().map_or("", String::as_str);
            let terms = segment::terms(heading);
            weights
                .iter()
                .filter(|(term, _)| terms.iter().any(|t| t == term))
                .map(|(_, weight)| weight)
                .sum()
        })
        .collect();
    let first = matched.first().copied().unwrap_or(0.0);
    matched
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, m)| **m > first)
        .map(|(p, _)| p)
        .collect()
}

/// Every quotable sentence of every passage, in passage and text order. A sentence that is one of
/// the passage's headings is left out: the chunker opens a chunk with its heading, which would
/// otherwise match the question as well as the text under it.
fn candidates(passages: &[Passage]) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for (index, passage) in passages.iter().enumerate() {
        let headings: HashSet<String> = passage.heading_path.iter().map(|h| key(h)).collect();
        let paragraphs = paragraphs(&passage.text);
        let mut position = 0;
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let units = units(paragraph);
            for (u, sentence) in units.iter().enumerate() {
                let key = key(sentence);
                let length = sentence.chars().count();
                let markdown_heading = sentence.starts_with('#');
                // "E.g.:" after a sentence: the sentence before it brings the example.
                if length < MIN_SENTENCE_CHARS
                    || (u > 0 && u + 1 == units.len() && is_trailer(sentence))
                    || key.is_empty()
                    || markdown_heading
                    || headings.contains(&key)
                {
                    continue;
                }
                // "… can be set up by creating "x". E.g.:" ends in a trailer that is not a
                // sentence of its own; the sentence before it introduces what follows.
                let rest = &units[u + 1..];
                let trailer = rest.len() == 1 && is_trailer(&rest[0]);
                let next = paragraphs.get(p + 1).map(Vec::as_slice);
                let announces = rest.is_empty() && introduces(sentence);
                let before_session = rest.is_empty() && next.is_some_and(is_command);
                // A short line without closing punctuation is a heading, unless it announces the
                // session after it ("尝试下列例子", "Try the following").
                if looks_like_heading(sentence) && !(announces && before_session) {
                    continue;
                }
                let introduced = trailer || announces || before_session;
                // A sentence that ends its paragraph before a table brings the table, whether or
                // not it announces it: rows are lines of their own, which no question's words
                // reach but the ones they share with a cell.
                let table = if (trailer || rest.is_empty()) && !is_row(sentence) {
                    table_after(&paragraphs[p + 1..])
                } else {
                    &[]
                };
                let (example, example_paragraphs) = if !table.is_empty() {
                    quote_example(table)
                } else if introduced {
                    // A session or list cut short still covers its first paragraph.
                    let (quoted, shown) = quote_example(example_after(&paragraphs[p + 1..]));
                    let floor = usize::from(quoted.is_some());
                    (quoted, shown.max(floor))
                } else {
                    (None, 0)
                };
                candidates.push(Candidate {
                    passage: index,
                    position,
                    paragraph: p,
                    quote: shorten(sentence),
                    terms: segment::terms(sentence)
                        .into_iter()
                        .chain(holds_path(sentence).then(|| PATH.to_owned()))
                        .collect(),
                    key,
                    question: is_question(sentence),
                    row: is_row(sentence),
                    example,
                    example_paragraphs,
                });
                position += 1;
            }
        }
    }
    candidates
}

/// Longest trailer after an introducing sentence ("E.g.:", "例如：") that still lets it bring the
/// example that follows, in characters.
const MAX_TRAILER_CHARS: usize = 12;

/// A short unit that only announces what follows ("E.g.:", "例如："): after a sentence, it is
/// no quote of its own, and the sentence before it brings the example.
fn is_trailer(unit: &str) -> bool {
    unit.chars().count() <= MAX_TRAILER_CHARS && introduces(unit)
}

/// Most lines of an example quoted with the sentence that introduces it.
const MAX_EXAMPLE_LINES: usize = 8;

/// Most characters of an example quoted with the sentence that introduces it.
const MAX_EXAMPLE_CHARS: usize = 600;

/// Says that what follows is its example: ends in a colon, or announces it ("as follows", "the
/// following", 如下, 下列, 以下).
fn introduces(sentence: &str) -> bool {
    let trimmed = sentence.trim_end();
    if trimmed.ends_with([':', '：']) {
        return true;
    }
    let lower = trimmed.to_lowercase();
    let lower = lower.trim_end_matches(['.', '。']);
    lower.ends_with("as follows")
        || lower.contains("the following")
        || lower.ends_with("e.g")
        || lower.ends_with("below")
        || ["如下", "下列", "以下", "下面"]
            .iter()
            .any(|word| trimmed.contains(word))
}

/// A paragraph that is a shell session or code: its first line starts with a prompt (`$ `, or
/// `# ` before a lower-case command, unlike a Markdown heading) or opens a fenced block.
fn is_command(paragraph: &[&str]) -> bool {
    let first = paragraph.first().map_or("", |line| line.trim_start());
    first.starts_with("$ ")
        || first.starts_with("```")
        || first.starts_with("#!")
        || first
            .strip_prefix("# ")
            .is_some_and(|command| command.starts_with(|c: char| c.is_ascii_lowercase()))
}

/// Lines as an example quotes them, and how many of them it shows: each line trimmed, at most
/// [`MAX_EXAMPLE_LINES`] and [`MAX_EXAMPLE_CHARS`], "…" marking what was left out.
fn example(paragraph: &[&str]) -> (String, usize) {
    let mut out = String::new();
    let (mut chars, mut shown) = (0, 0);
    for (i, line) in paragraph.iter().map(|l| l.trim()).enumerate() {
        let length = line.chars().count();
        if i == MAX_EXAMPLE_LINES || (i > 0 && chars + length > MAX_EXAMPLE_CHARS) {
            out.push_str("\n…");
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        // A first line longer than the whole allowance is cut like a long sentence.
        out.push_str(&shorten(line));
        chars += length;
        shown += 1;
    }
    (out, shown)
}

/// An introduced example's paragraphs, from `following` (the paragraphs after the sentence's): a
/// shell session or a block of several lines alone, or a one-line paragraph and the one-line
/// paragraphs after it that carry on its list (the parsers write each list item as a paragraph of
/// its own), stopping before a shell session, a table or its caption, or a paragraph that
/// introduces an example of its own.
fn example_after<'a, 'p>(following: &'p [Vec<&'a str>]) -> &'p [Vec<&'a str>] {
    let Some(first) = following.first() else {
        return following;
    };
    if is_command(first) || first.len() > 1 {
        return &following[..1];
    }
    let items = following[1..]
        .iter()
        .take_while(|paragraph| match paragraph.as_slice() {
            [line] => {
                !is_command(paragraph) && !is_caption(line) && !is_row(line) && !introduces(line)
            }
            _ => false,
        })
        .count();
    &following[..1 + items]
}

/// Paragraphs quoted as an example (none for none), and how many of them it shows whole.
fn quote_example(paragraphs: &[Vec<&str>]) -> (Option<String>, usize) {
    if paragraphs.is_empty() {
        return (None, 0);
    }
    let lines: Vec<&str> = paragraphs.iter().flatten().copied().collect();
    let (quoted, shown) = example(&lines);
    (Some(quoted), paragraphs_within(paragraphs, shown))
}

/// The table that opens `following` (the paragraphs after a sentence's): its caption ("Table
/// 5.2. …", "表 8.1. …") if it has one, then each paragraph whose every line has cells, up to the
/// first that has not, and a shell session right after them. Empty when no row follows.
fn table_after<'a, 'p>(following: &'p [Vec<&'a str>]) -> &'p [Vec<&'a str>] {
    let captioned = following
        .first()
        .is_some_and(|first| first.len() == 1 && is_caption(first[0]));
    let start = usize::from(captioned);
    let rows = following[start..]
        .iter()
        .take_while(|paragraph| paragraph.iter().all(|line| line.contains(" | ")))
        .count();
    if rows == 0 {
        &[]
    } else {
        // A session right after the rows shows their values in use ("# nice -19 top").
        let session = following
            .get(start + rows)
            .is_some_and(|paragraph| is_command(paragraph));
        &following[..start + rows + usize::from(session)]
    }
}

/// How many of `paragraphs` lie whole within their first `lines` lines.
fn paragraphs_within(paragraphs: &[Vec<&str>], lines: usize) -> usize {
    let mut seen = 0;
    paragraphs
        .iter()
        .take_while(|paragraph| {
            seen += paragraph.len();
            seen <= lines
        })
        .count()
}

/// A table's caption as the parsers write one: "Table 5.2. …" or "表 8.1. …".
fn is_caption(line: &str) -> bool {
    let line = line.trim_start();
    line.strip_prefix("Table ")
        .or_else(|| line.strip_prefix("表 "))
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The passage's paragraphs, each its non-blank lines: its text split at blank lines.
fn paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut out = vec![Vec::new()];
    for line in text.lines() {
        match out.last_mut() {
            Some(current) if !line.trim().is_empty() => current.push(line),
            Some(current) if !current.is_empty() => out.push(Vec::new()),
            _ => {}
        }
    }
    out.retain(|paragraph| !paragraph.is_empty());
    out
}

/// A table row, as the parsers write one: cells joined by " | ", or Markdown's leading `|`.
fn is_row(line: &str) -> bool {
    line.contains(" | ") || line.trim_start().starts_with('|')
}

/// A paragraph's quotable units: each table row ("a | b | c") whole, whatever its cells'
/// punctuation (`:q! | quit without saving`), every other line cut into its sentences.
fn units(paragraph: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for line in paragraph {
        if is_row(line) {
            out.push(collapse(line));
        } else {
            out.extend(sentences(line));
        }
    }
    out
}

/// Widest line without closing punctuation that is taken for a heading rather than a sentence, in
/// columns: a Han character is two ("Securing the root password", "5.1.2. 网络接口名称").
const MAX_HEADING_COLUMNS: usize = 40;

/// A short line with no closing punctuation and no table cells: a heading of a chunk merged into
/// the passage ("二、公司福利年假", "Carry-over"), whose words match the question as well as the
/// text under it but which answers nothing.
fn looks_like_heading(sentence: &str) -> bool {
    let closed = sentence.trim_end().ends_with(|c: char| {
        matches!(
            c,
            '.' | '!'
                | '?'
                | '。'
                | '！'
                | '？'
                | '；'
                | ';'
                | ':'
                | '：'
                | ')'
                | '）'
                | '"'
                | '”'
                | '」'
        )
    });
    let columns: usize = sentence
        .chars()
        .map(|c| if is_han(c) { 2 } else { 1 })
        .sum();
    !closed && !sentence.contains('|') && columns <= MAX_HEADING_COLUMNS
}

/// Splits `text` into sentences by the rules the chunker cuts chunks by ([`sentence::sentences`]:
/// `. ! ?` before whitespace, `。！？` anywhere, closing quotes after them staying with the
/// sentence, every line break), each with its whitespace collapsed.
fn sentences(text: &str) -> Vec<String> {
    sentence::sentences(text)
        .into_iter()
        .map(|span| collapse(span.text))
        .collect()
}

/// Every run of whitespace as one space, the ends trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Ends in a question mark, or opens an FAQ question (`Q:`, `问：`).
fn is_question(sentence: &str) -> bool {
    sentence.ends_with(['?', '？'])
        || ["Q:", "Q：", "问：", "问:"]
            .iter()
            .any(|opening| sentence.starts_with(opening))
}

/// A sentence of at most [`MAX_SENTENCE_CHARS`], cut at a space if one is near, else at a
/// character, and marked with "…" when cut.
fn shorten(sentence: &str) -> String {
    let Some((cut, _)) = sentence.char_indices().nth(MAX_SENTENCE_CHARS) else {
        return sentence.to_owned();
    };
    let head = &sentence[..cut];
    let lookback = head
        .char_indices()
        .rev()
        .nth(CUT_LOOKBACK_CHARS)
        .map_or(0, |(i, _)| i);
    let end = head
        .rfind(' ')
        .filter(|&space| space >= lookback && space > 0)
        .unwrap_or(cut);
    format!("{}…", head[..end].trim_end())
}

/// Lower-case letters and digits only: two sentences with the same key say the same thing.
fn key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn passage(number: usize, text: &str) -> Passage {
        Passage {
            number,
            document_id: Uuid::from_u128(number as u128),
            source_uri: format!("oss://bucket/{number}.md"),
            title: None,
            page_from: None,
            page_to: None,
            heading_path: Vec::new(),
            chunk_ids: vec![Uuid::from_u128(100 + number as u128)],
            text: text.to_owned(),
            score: 1.0 / number as f64,
            tokens: 0,
            ocr: false,
        }
    }

    fn corpus_passages(files: &[&str]) -> Vec<Passage> {
        files
            .iter()
            .enumerate()
            .map(|(i, text)| passage(i + 1, text))
            .collect()
    }

    #[test]
    fn a_heading_merged_into_a_passage_is_not_quoted() {
        let passages = [passage(
            1,
            "二、公司福利年假\n\n在法定年假之外，公司每年额外给予 5 天福利年假。",
        )];
        let text = answer("福利年假有几天？", &passages, 3);
        assert_eq!(text, "在法定年假之外，公司每年额外给予 5 天福利年假。 [1]");
        assert!(looks_like_heading("Carry-over"));
        // Widths in columns, a Han character two: a long English heading is still one; a Chinese
        // list item with fewer characters but more columns is not, nor is a long English line.
        assert!(looks_like_heading(
            "Undeleting deleted but still open files"
        ));
        assert!(!looks_like_heading(
            "差分传输算法只会发送源文件与已存在的目标文件之间的差异部分"
        ));
        assert!(!looks_like_heading(
            "One can avoid having to remember passwords for remote systems"
        ));
        assert!(!looks_like_heading("Leave expires in March."));
        assert!(!looks_like_heading("| 满 1 年不满 10 年 | 5 天 |"));
    }

    #[test]
    fn a_sentence_sharing_one_word_is_not_quoted_beside_one_sharing_several() {
        let passages = [
            passage(
                1,
                "Staff get 22 days of paid annual leave. Leave is booked in Workday.",
            ),
            passage(2, "Bank details change when you get a new account."),
        ];
        let text = answer("How many days of annual leave do I get?", &passages, 3);
        assert!(text.contains("22 days of paid annual leave. [1]"), "{text}");
        assert!(!text.contains("Bank details"), "{text}");
    }

    #[test]
    fn english_sentences_end_at_stops_followed_by_space() {
        let text = "Leave accrues monthly at 1.83 days. Is it paid? Yes!\n\nAsk HR (see Workday.) Then wait";

        assert_eq!(
            sentences(text),
            [
                "Leave accrues monthly at 1.83 days.",
                "Is it paid?",
                "Yes!",
                "Ask HR (see Workday.)",
                "Then wait",
            ]
        );
    }

    #[test]
    fn chinese_sentences_end_at_full_stops_without_spaces() {
        let text =
            "员工每年享有5天年假。未休完的可结转至次年；逾期清零！是否可以折现？“不可以。”其他";

        assert_eq!(
            sentences(text),
            [
                "员工每年享有5天年假。",
                // `；` ends a clause, not a sentence: the second half qualifies the first.
                "未休完的可结转至次年；逾期清零！",
                "是否可以折现？",
                "“不可以。”",
                "其他",
            ]
        );
    }

    #[test]
    fn every_line_break_ends_a_sentence_as_it_ends_a_chunk_piece() {
        // Passages are chunk texts, whose soft wraps the parsers have already joined: a line
        // break left in one is a list item, a table row or a line of code, and the chunker cuts
        // there. (Lines were once joined here, "You are paid on the last working day.")
        let text = "You are paid on\nthe last working day.\n- first item\n- second item\n\nHeading\n\n年假\n制度";

        assert_eq!(
            sentences(text),
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
    }

    #[test]
    fn a_long_sentence_is_cut_at_a_word_and_marked() {
        let sentence = "word ".repeat(200);

        let short = shorten(sentence.trim_end());

        assert!(short.ends_with("word…"), "{short}");
        assert!(short.chars().count() <= MAX_SENTENCE_CHARS + 1);
        let chinese = shorten(&"年".repeat(500));
        assert_eq!(chinese, format!("{}…", "年".repeat(MAX_SENTENCE_CHARS)));
    }

    #[test]
    fn the_best_matching_sentences_are_quoted_in_passage_order_with_their_markers() {
        let passages = corpus_passages(&[
            "Full-time employees receive 22 working days of paid annual leave per calendar year. Leave accrues monthly.",
            "You may carry up to 5 unused days into the next year. Carried-over days must be taken by 31 March.",
            "Annual leave days are booked in Workday.",
        ]);

        let answer = answer("How many days of annual leave do I get?", &passages, 2);

        assert_eq!(
            answer,
            "Full-time employees receive 22 working days of paid annual leave per calendar year. [1]\n\
             Leave accrues monthly. [1]\n\
             Annual leave days are booked in Workday. [3]"
        );
    }

    #[test]
    fn a_rare_question_word_outweighs_a_common_one() {
        let passages = corpus_passages(&[
            "Leave is approved by your manager.\n\nLeave requests go through Workday.\n\nSick leave needs a doctor's note from the third day.\n\nLeave is paid.",
        ]);

        let answer = answer("sick leave", &passages, 1);

        assert_eq!(
            answer,
            "Sick leave needs a doctor's note from the third day. [1]"
        );
    }

    #[test]
    fn the_first_passage_always_contributes_its_best_sentence_first() {
        let passages = corpus_passages(&[
            "Leave is approved by your manager.",
            "Sick leave needs a doctor's note from the third day.",
        ]);

        // A later passage matches more words, but retrieval ranked the first one first.
        assert_eq!(
            answer("sick leave", &passages, 1),
            "Leave is approved by your manager. [1]"
        );
        assert_eq!(
            answer("sick leave", &passages, 2),
            "Leave is approved by your manager. [1]\nSick leave needs a doctor's note from the third day. [2]"
        );
    }

    #[test]
    fn chinese_questions_find_chinese_sentences_in_the_corpus() {
        let annual = include_str!("../../examples/corpus/zh-annual-leave.md");
        let travel = include_str!("../../examples/corpus/zh-travel-standards.txt");
        let passages = corpus_passages(&[travel, annual]);

        let answer = answer("年假最多可以结转几天？", &passages, 2);

        assert!(
            answer
                .lines()
                .any(|line| line.contains("最多可结转") && line.ends_with("[2]")),
            "{answer}"
        );
    }

    #[test]
    fn english_questions_find_english_sentences_in_the_corpus() {
        let leave = include_str!("../../examples/corpus/leave-policy.md");
        let faq = include_str!("../../examples/corpus/faq.txt");
        let passages = corpus_passages(&[faq, leave]);

        let answer = answer("When is salary paid?", &passages, 3);

        let first = answer.lines().next().unwrap_or_default();
        assert_eq!(first, "A: On the 25th of each month. [1]", "{answer}");
        assert!(!answer.contains("Q: When is salary paid?"), "{answer}");
        // Three sentences, each with at most the one after it.
        assert!((3..=6).contains(&answer.lines().count()), "{answer}");
    }

    #[test]
    fn without_any_matching_word_the_first_sentences_of_the_first_two_passages_are_quoted() {
        let passages = corpus_passages(&[
            "员工每年享有5天福利年假。试用期满后即可使用。",
            "Full-time employees receive 22 days. Leave accrues monthly.",
            "Never quoted.",
        ]);

        let answer = answer("vacation entitlement", &passages, 3);

        assert_eq!(
            answer,
            "员工每年享有5天福利年假。 [1]\nFull-time employees receive 22 days. [2]"
        );
    }

    #[test]
    fn the_same_sentence_in_two_passages_is_quoted_once() {
        let passages = corpus_passages(&[
            "Annual leave is 22 days.",
            "annual  leave is 22 days!",
            "Annual leave accrues monthly.",
        ]);

        let answer = answer("annual leave", &passages, 2);

        assert_eq!(
            answer,
            "Annual leave is 22 days. [1]\nAnnual leave accrues monthly. [3]"
        );
    }

    #[test]
    fn a_heading_that_opens_the_passage_is_not_quoted() {
        let mut passage = passage(1, "Annual leave\n\nYou receive 22 days of annual leave.");
        passage.heading_path = vec!["Leave Policy".to_owned(), "Annual leave".to_owned()];

        let answer = answer("annual leave", &[passage], 1);

        assert_eq!(answer, "You receive 22 days of annual leave. [1]");
    }

    #[test]
    fn a_matching_question_hands_its_match_to_the_sentence_after_it() {
        let passages = corpus_passages(&[
            "Q: I lost my access badge. What now? A: Report it to Facilities the same day.\n\n问：工资几号发？答：每月25日。",
        ]);

        assert_eq!(
            answer("lost access badge", &passages, 1),
            "A: Report it to Facilities the same day. [1]"
        );
        assert_eq!(answer("工资几号发", &passages, 1), "答：每月25日。 [1]");
    }

    #[test]
    fn markdown_headings_and_table_rows_stay_lines_of_their_own() {
        let text = "# Travel\nHotels are booked in Navan.\n| City | Limit |\n|---|---|\n| London | 250 EUR |";

        assert_eq!(
            sentences(text),
            [
                "# Travel",
                "Hotels are booked in Navan.",
                "| City | Limit |",
                "|---|---|",
                "| London | 250 EUR |",
            ]
        );
        let passages = corpus_passages(&[text]);
        assert_eq!(
            answer("travel hotels", &passages, 3),
            "Hotels are booked in Navan. [1]"
        );
    }

    #[test]
    fn markers_use_the_passage_numbers() {
        let passages = [passage(4, "Only this sentence mentions badges.")];

        assert_eq!(
            answer("badges", &passages, 3),
            "Only this sentence mentions badges. [4]"
        );
    }

    #[test]
    fn no_passages_or_no_room_yield_an_empty_answer() {
        let passages = corpus_passages(&["Some text here."]);

        assert_eq!(answer("anything", &[], 3), "");
        assert_eq!(answer("text", &passages, 0), "");
        assert_eq!(answer("text", &corpus_passages(&["a", "!!"]), 3), "");
    }

    #[test]
    fn the_answer_is_deterministic() {
        let annual = include_str!("../../examples/corpus/zh-annual-leave.md");
        let leave = include_str!("../../examples/corpus/leave-policy.md");
        let passages = corpus_passages(&[leave, annual]);

        let first = answer("annual leave 年假 carry over 结转", &passages, 4);

        assert!((4..=8).contains(&first.lines().count()), "{first}");
        for _ in 0..3 {
            assert_eq!(
                answer("annual leave 年假 carry over 结转", &passages, 4),
                first
            );
        }
    }

    #[test]
    fn a_sentence_that_introduces_an_example_is_quoted_with_it() {
        let text = "A static network configuration can be set up by creating \"/etc/systemd/network/static.network\". E.g.:\n\n[Match]\nName=en*\n[Network]\nAddress=192.168.0.15/24\n\nDHCP is the other way.";
        let passages = corpus_passages(&[text]);

        assert_eq!(
            answer("configure a static network", &passages, 3),
            "A static network configuration can be set up by creating \"/etc/systemd/network/static.network\". [1]\n    [Match]\n    Name=en*\n    [Network]\n    Address=192.168.0.15/24"
        );
        // Chinese announces its example with 下列 and no colon.
        let text = "你可以使用下列命令中的一个来打印 3 份有装订页码的文件。\n\n$ lpr -#3 -o Collate=True filename";
        let quoted = answer("打印三份并且装订", &corpus_passages(&[text]), 3);
        assert!(
            quoted.ends_with("\n    $ lpr -#3 -o Collate=True filename"),
            "{quoted}"
        );
    }

    #[test]
    fn a_shell_session_after_a_sentence_is_its_example_and_a_long_one_is_cut() {
        let text =
            "Erase everything by overwriting it with random data.\n\n# shred -v -n 1 /dev/sda";
        let quoted = answer(
            "erase everything with random data",
            &corpus_passages(&[text]),
            3,
        );
        assert!(
            quoted.ends_with("[1]\n    # shred -v -n 1 /dev/sda"),
            "{quoted}"
        );

        let session: Vec<String> = (1..=12).map(|i| format!("$ step {i}")).collect();
        let text = format!("Run these steps as follows.\n\n{}", session.join("\n"));
        let quoted = answer("run these steps", &corpus_passages(&[&text]), 3);
        let lines: Vec<&str> = quoted.lines().collect();
        assert_eq!(lines.len(), 1 + MAX_EXAMPLE_LINES + 1, "{quoted}");
        assert_eq!(lines[MAX_EXAMPLE_LINES], "    $ step 8");
        assert_eq!(lines[MAX_EXAMPLE_LINES + 1], "    …");
        // An example whose first line is longer than the allowance is cut like a sentence.
        let long = format!("$ echo {}", "word ".repeat(200));
        let text = format!("Run these steps as follows.\n\n{long}\n$ next");
        let quoted = answer("run these steps", &corpus_passages(&[&text]), 3);
        let lines: Vec<&str> = quoted.lines().collect();
        assert_eq!(lines.len(), 3, "{quoted}");
        assert!(lines[1].ends_with('…'), "{quoted}");
        assert!(
            lines[1].chars().count() <= 4 + MAX_SENTENCE_CHARS + 1,
            "{quoted}"
        );
        assert_eq!(lines[2], "    …");
        // A sentence in the middle of its paragraph introduces nothing.
        let text = "Run these steps as follows. Then stop.\n\nNothing else is needed.";
        let quoted = answer("run these steps", &corpus_passages(&[text]), 1);
        assert_eq!(quoted, "Run these steps as follows. [1]\nThen stop. [1]");
    }

    #[test]
    fn a_markdown_heading_is_no_shell_session_and_an_example_is_quoted_once() {
        let text = "Hotels are booked in Navan.\n\n# Travel limits\n\nTaxis are refunded.";
        assert_eq!(
            answer("hotels booked", &corpus_passages(&[text]), 3),
            "Hotels are booked in Navan. [1]"
        );

        let text = "Book hotels as follows:\n\nbook hotels | open Navan | pick hotels";
        let quoted = answer("book hotels", &corpus_passages(&[text]), 3);
        assert_eq!(
            quoted,
            "Book hotels as follows: [1]\n    book hotels | open Navan | pick hotels"
        );
    }

    #[test]
    fn a_sentence_before_a_table_brings_its_caption_and_rows_once() {
        // The parsers write each row as a paragraph of its own, after a caption.
        let text = "Each class has address ranges reserved for local networks.\n\nTable 5.2. List of network address ranges\n\nClass | network addresses\n\nA | 10.x.x.x\n\nC | 192.168.0.x — 192.168.255.x\n\nThese never reach the Internet.";
        let quoted = answer(
            "which class address ranges are reserved for local networks",
            &corpus_passages(&[text]),
            3,
        );
        assert_eq!(
            quoted,
            "Each class has address ranges reserved for local networks. [1]\n    Table 5.2. List of network address ranges\n    Class | network addresses\n    A | 10.x.x.x\n    C | 192.168.0.x — 192.168.255.x"
        );
        // A one-cell line is an admonition's label ("| Note"), not a table.
        let text =
            "Local networks use reserved ranges.\n\n| Note\n\nThey never reach the Internet.";
        let quoted = answer("local networks ranges", &corpus_passages(&[text]), 1);
        assert_eq!(quoted, "Local networks use reserved ranges. [1]");
        // A row that is also quoted on its own merit appears once, inside the table.
        let text = "Rows follow.\n\nA | 10.x.x.x\n\nC | 192.168.0.x";
        let quoted = answer("rows follow 192.168.0.x", &corpus_passages(&[text]), 3);
        assert_eq!(quoted.matches("192.168.0.x").count(), 1, "{quoted}");
    }

    #[test]
    fn the_first_passage_brings_its_three_best_examples_when_its_quotes_bring_none() {
        let first = "The password of a user is asked by sudo.\n\nTo let a user run sudo without it, add a line as follows.\n\n# echo \"penguin ALL=(ALL) NOPASSWD:ALL\" >> /etc/sudoers\n\nTo check a file, run visudo as follows.\n\n# visudo -c\n\nTo read the manual, run man as follows.\n\n$ man sudoers\n\nTo see the log, run journalctl as follows.\n\n$ journalctl -t sudo";
        let second = "A user password is asked by sudo, and by su for root.";
        let passages = corpus_passages(&[first, second]);
        let quoted = answer("sudo asked the user password", &passages, 1);
        assert!(
            quoted.starts_with("The password of a user is asked by sudo. [1]"),
            "{quoted}"
        );
        // The three that match best (two of them share no word: the earliest of equals).
        assert!(
            quoted.contains("\n    # echo \"penguin ALL=(ALL) NOPASSWD:ALL\" >> /etc/sudoers"),
            "{quoted}"
        );
        assert!(quoted.contains("\n    # visudo -c"), "{quoted}");
        assert!(quoted.contains("\n    $ man sudoers"), "{quoted}");
        assert!(!quoted.contains("journalctl"), "{quoted}");
        // Not in the fallback, where no sentence matches: the openings are all that is quoted.
        let quoted = answer("kernel modules", &passages, 1);
        assert!(!quoted.contains("NOPASSWD"), "{quoted}");
    }

    #[test]
    fn a_later_passage_whose_heading_names_the_question_brings_its_examples() {
        let mut passages = corpus_passages(&[
            "There are two ways to link a file to another name.\n\nA hard link is made as follows.\n\n$ ln foo bar",
            "Files that are hard links share an inode number. Search by it as follows.\n\n# find /path/to/mount/point -xdev -inum 2738404",
            "Inodes are listed as follows.\n\n$ ls -li",
            "Their count is shown as follows.\n\n$ stat foo",
        ]);
        passages[0].heading_path = vec!["1.2.7. Links".into()];
        passages[1].heading_path = vec!["9.8.11. Searching for hard links".into()];
        passages[2].heading_path = vec!["Inodes of hard links".into()];
        passages[3].heading_path = vec!["Counting hard links".into()];
        let quoted = answer("how do I find all hard links of a file", &passages, 1);
        assert!(
            quoted.contains("\n    # find /path/to/mount/point -xdev -inum 2738404"),
            "{quoted}"
        );
        // Each of the first three passages whose heading is better brings its examples; the
        // fourth is too far down.
        assert!(quoted.contains("\n    $ ls -li"), "{quoted}");
        assert!(!quoted.contains("stat foo"), "{quoted}");
        // The first passage's heading as good: only its own examples are brought.
        passages[0].heading_path = vec!["1.2.7. Hard links".into()];
        let quoted = answer("how do I find all hard links of a file", &passages, 1);
        assert!(!quoted.contains("-inum"), "{quoted}");
        assert!(quoted.contains("$ ln foo bar"), "{quoted}");
    }

    #[test]
    fn a_question_asking_where_is_answered_by_a_sentence_naming_a_path() {
        let passages = corpus_passages(&[
            "The fsck command checks and repairs file systems at boot. Running it on a mounted file system is unsafe.\n\nThe boot scripts run fsck for every file system; the results are kept in \"/var/log/fsck/\".",
        ]);
        let question = "where do I see the results of the file system check at boot?";
        let quoted = answer(question, &passages, 1);
        assert!(quoted.contains("/var/log/fsck/"), "{quoted}");
        assert!(asks_where(question) && asks_where("结果在哪里看") && !asks_where("nowhere to go"));
        assert!(holds_path("see \"/var/log/fsck/\".") && holds_path("at https://example.org"));
        assert!(!holds_path("and/or 1/2") && !holds_path("a / b"));
        // Not asked where: the sentence that matches best alone.
        let quoted = answer("check file systems at boot", &passages, 1);
        assert!(!quoted.contains("/var/log/fsck/"), "{quoted}");
    }

    #[test]
    fn an_introduced_list_is_quoted_item_by_item_up_to_the_next_introduction() {
        // The parsers write each list item as a paragraph of its own.
        let text = "Home servers cannot send mail directly. This is because:\n\nPort 25 is blocked.\n\nMail must go via the submission port (587).\n\nSpam filters distrust home addresses.\n\nSend through a relay as follows.\n\n$ relay --port 587";
        let quoted = answer(
            "why can home servers not send mail",
            &corpus_passages(&[text]),
            1,
        );
        let lines: Vec<&str> = quoted.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "Home servers cannot send mail directly. [1]",
                "This is because: [1]",
                "    Port 25 is blocked.",
                "    Mail must go via the submission port (587).",
                "    Spam filters distrust home addresses.",
            ],
            "{quoted}"
        );
        // The list's items are not quoted again; the next introduction brings its own example.
        assert_eq!(quoted.matches("Port 25").count(), 1, "{quoted}");
        assert!(quoted.ends_with("[1]\n    $ relay --port 587"), "{quoted}");
    }

    #[test]
    fn a_table_row_is_one_quote_whatever_its_cells_punctuation() {
        let text = "command | meaning\n:w | save the file\n:q! | quit without saving the file";
        let passages = corpus_passages(&[text]);

        assert_eq!(
            answer("quit without saving", &passages, 1),
            ":q! | quit without saving the file [1]"
        );
        // A quoted row brings the row after it, in one paragraph or, as the parsers write
        // tables, in the next; a row never brings a sentence, nor a sentence a row.
        let text = "package | use\n\nunpaper | clean scanned pages for OCR\n\ntesseract-ocr | OCR scanned pages to text\n\nOther tools exist.";
        assert_eq!(
            answer("clean scanned pages", &corpus_passages(&[text]), 1),
            "unpaper | clean scanned pages for OCR [1]\ntesseract-ocr | OCR scanned pages to text [1]"
        );
        let quoted = answer("OCR text", &corpus_passages(&[text]), 1);
        assert_eq!(quoted, "tesseract-ocr | OCR scanned pages to text [1]");
    }

    #[test]
    fn sessions_are_found_after_a_short_announcement_a_table_and_a_shebang() {
        // A short line without closing punctuation is a heading, unless it announces a session.
        let text =
            "命名管道是一个像管道一样的文件。\n\n尝试下列例子\n\n$ mkfifo mypipe\n$ cat mypipe";
        let quoted = answer("命名管道", &corpus_passages(&[text]), 1);
        assert!(
            quoted.contains("尝试下列例子 [1]\n    $ mkfifo mypipe\n    $ cat mypipe"),
            "{quoted}"
        );
        let text = "命名管道是一个像管道一样的文件。\n\n下列例子\n\n它从另一端出来。";
        let quoted = answer("命名管道", &corpus_passages(&[text]), 1);
        assert!(!quoted.contains("下列例子"), "{quoted}");
        // A session right after a table's rows comes with the table.
        let text = "进程的调度优先级是被一个进程优先级值控制。\n\n表 9.9. 调度优先级值列表\n\n19 | 最低优先级进程\n\n-20 | 最高优先级进程\n\n# nice -19 top\n\n小心使用这个命令。";
        let quoted = answer("调度优先级", &corpus_passages(&[text]), 1);
        assert!(
            quoted.contains("    -20 | 最高优先级进程\n    # nice -19 top"),
            "{quoted}"
        );
        assert!(!quoted.contains("小心"), "{quoted}");
        // A script opens with its shebang.
        let text = "Here is a script that converts the file names.\n\n#!/bin/sh\nfor x in *; do mv \"$x\" \"$(echo \"$x\" | iconv -t utf-8)\"; done";
        let quoted = answer("convert file names", &corpus_passages(&[text]), 1);
        assert!(
            quoted.contains("\n    #!/bin/sh\n    for x in *"),
            "{quoted}"
        );
    }

    #[test]
    fn the_first_passage_leads_with_the_sentence_that_completes_it() {
        let passages = corpus_passages(&[
            "You can see the kernel boot messages by removing quiet. For the persistent change, edit GRUB_CMDLINE_LINUX_DEFAULT.",
            "Boot messages, kernel boot messages and a quiet screen are all boot screen topics.",
        ]);

        let quoted = answer("see kernel boot messages, not a quiet screen", &passages, 1);

        assert_eq!(
            quoted,
            "You can see the kernel boot messages by removing quiet. [1]\nFor the persistent change, edit GRUB_CMDLINE_LINUX_DEFAULT. [1]"
        );
    }
}
