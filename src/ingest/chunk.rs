//! Chunking: turns a parsed document's blocks into the chunks that are embedded and searched, each
//! within the embedding model's token budget. Pure: no I/O, deterministic.
//!
//! How it works:
//!
//! 1. Each block's whitespace is normalised (runs of spaces become one, lines are trimmed, blank
//!    lines dropped; a heading becomes one line).
//! 2. Each block is cut into pieces at the coarsest boundary that yields pieces within the budget:
//!    sentences always (so a chunk can end inside a paragraph), then, for a sentence over the
//!    budget, clauses, words, and as a last resort characters (never inside a UTF-8 character).
//!    Every piece is counted once.
//! 3. Pieces are packed in order into chunks by adding up their counts, plus the counts of what
//!    joins them, rather than recounting a growing chunk. When the next piece does not fit, the
//!    chunk ends at the strongest boundary (heading > paragraph > sentence > `；` > clause >
//!    word > character) among those that leave it at least half full, the latest of equals; the
//!    pieces after the cut start the next chunk.
//! 4. Each finished chunk is counted once more as a whole, which is the `token_count` it reports.
//!    For the estimator and WordPiece a joined text never counts more than its parts and joints,
//!    so the recount only confirms. Byte-level BPE (Qwen) can count a token or two more: it
//!    attaches a space or a quote to the word after it, and merges across joints. Then the chunk's
//!    last piece moves on to the next chunk until it fits, so every chunk is within `max_tokens`
//!    as the counter measures it. Counting costs about twice the text, against the square of it
//!    for recounting a growing chunk.
//!
//! Headings: a heading always starts a new chunk, and its text opens that chunk, except that a
//! heading following nothing but headings joins them (a chapter title and its first section title
//! stay with the section's text). A short section still makes a short chunk: merging it into the
//! next would file its text under the wrong heading path.
//!
//! Overlap: a chunk after the first of its section starts with the previous chunk's trailing whole
//! sentences, as many as fit in `overlap_tokens`. When even the last sentence is longer, its
//! trailing clauses or words are used instead (never a part of a word). Overlap is dropped, from
//! its start, as far as needed for the chunk's new text to fit, and never crosses a heading.

use crate::ingest::parse::{Block, BlockKind};
use crate::ingest::tokens::TokenCounter;

/// How big chunks are, in tokens as the configured [`TokenCounter`] counts them.
#[derive(Debug, Clone)]
pub struct ChunkOptions {
    /// Most tokens in one chunk, overlap included. Leave room below the embedding model's input
    /// limit for the special tokens the embedder adds (2 for BERT models).
    pub max_tokens: usize,
    /// Most tokens repeated from the end of the previous chunk at the start of the next; 0 for
    /// none.
    pub overlap_tokens: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            overlap_tokens: 64,
        }
    }
}

impl ChunkOptions {
    /// Smallest chunk size accepted: below it a chunk holds a few words, and a single rare
    /// character (up to 4 tokens) might not fit at all.
    pub const MIN_MAX_TOKENS: usize = 16;

    /// Checks the options once, at start-up or when a collection is created; [`chunk`] assumes
    /// they passed.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_tokens < Self::MIN_MAX_TOKENS {
            return Err(format!(
                "chunk size of {} tokens is too small: set ADBRAG_CHUNK_TOKENS to at least {} (512 is the default)",
                self.max_tokens,
                Self::MIN_MAX_TOKENS
            ));
        }
        if self.overlap_tokens >= self.max_tokens {
            return Err(format!(
                "chunk overlap of {} tokens must be less than the chunk size of {} tokens: lower ADBRAG_CHUNK_OVERLAP (64 is the default) or raise ADBRAG_CHUNK_TOKENS",
                self.overlap_tokens, self.max_tokens
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// `counter.count(&text)`, at most `max_tokens`.
    pub token_count: usize,
    /// Lowest and highest page of the blocks whose text is in the chunk; `None` without pages.
    pub page_from: Option<u32>,
    pub page_to: Option<u32>,
    /// The headings the chunk's text is under, outermost first: those in effect where its body
    /// text starts, including the headings the chunk itself opens with.
    pub heading_path: Vec<String>,
}

/// Splits `blocks` into chunks of at most `options.max_tokens` tokens as `counter` counts them.
///
/// Expects options that passed [`ChunkOptions::validate`]. With others it still ends and stays
/// deterministic: the overlap is cut below the chunk size, and with a chunk size under
/// [`ChunkOptions::MIN_MAX_TOKENS`] a character that alone counts more becomes a chunk by itself.
pub fn chunk(blocks: &[Block], options: &ChunkOptions, counter: &dyn TokenCounter) -> Vec<Chunk> {
    let max_tokens = options.max_tokens.max(1);
    let overlap_tokens = options.overlap_tokens.min(max_tokens - 1);
    let texts: Vec<String> = blocks
        .iter()
        .map(|block| normalise(&block.text, matches!(block.kind, BlockKind::Heading(_))))
        .collect();
    let splitter = Splitter {
        counter,
        max_tokens,
    };
    let mut packer = Packer::new(counter, max_tokens, overlap_tokens);
    let mut headings: Vec<(u8, &str)> = Vec::new();
    let mut path = 0;
    let mut pieces = Vec::new();
    for (block, text) in blocks.iter().zip(&texts) {
        if text.is_empty() {
            continue;
        }
        let origin = Origin {
            page: block.page,
            path,
            heading: false,
        };
        match block.kind {
            BlockKind::Heading(level) => {
                let level = level.clamp(1, 6);
                packer.start_section();
                while headings.last().is_some_and(|&(outer, _)| outer >= level) {
                    headings.pop();
                }
                headings.push((level, text));
                packer.paths.push(
                    headings
                        .iter()
                        .map(|&(_, heading)| heading.to_owned())
                        .collect(),
                );
                path = packer.paths.len() - 1;
                let origin = Origin {
                    path,
                    heading: true,
                    ..origin
                };
                splitter.block(text, Break::Heading, origin, &mut pieces);
            }
            BlockKind::Paragraph => splitter.block(text, Break::Paragraph, origin, &mut pieces),
        }
        for piece in pieces.drain(..) {
            packer.add(piece);
        }
    }
    packer.finish_section();
    packer.chunks
}

/// The boundary before a piece, weakest first: the chunker cuts at the strongest it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    Char,
    Word,
    Clause,
    /// `；`, which in Chinese often separates what English would make sentences.
    WeakSentence,
    Sentence,
    Paragraph,
    Heading,
}

/// What stood between a piece and the one before it in the (normalised) text, and is put back
/// when both land in one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joint {
    Nothing,
    Space,
    Line,
    /// Between blocks.
    BlankLine,
}

impl Joint {
    fn as_str(self) -> &'static str {
        match self {
            Joint::Nothing => "",
            Joint::Space => " ",
            Joint::Line => "\n",
            Joint::BlankLine => "\n\n",
        }
    }
}

/// Where a piece comes from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    page: Option<u32>,
    /// Index into [`Packer::paths`].
    path: usize,
    heading: bool,
}

#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    text: &'a str,
    tokens: usize,
    joint: Joint,
    at: Break,
    origin: Origin,
}

/// A span of text with what precedes it.
#[derive(Debug, Clone, Copy)]
struct Unit<'a> {
    text: &'a str,
    joint: Joint,
    at: Break,
}

struct Splitter<'c> {
    counter: &'c dyn TokenCounter,
    max_tokens: usize,
}

impl Splitter<'_> {
    /// Cuts one block's text into pieces of at most `max_tokens`, sentence by sentence.
    fn block<'a>(&self, text: &'a str, at: Break, origin: Origin, out: &mut Vec<Piece<'a>>) {
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

/// Splits normalised text into sentences: after `.`, `!` or `?` followed by a space or the end,
/// after `。`, `！`, `？` and (weaker) `；` whatever follows, and at every line break. Closing
/// quotes and brackets stay with their sentence.
fn sentences(text: &str) -> Vec<Unit<'_>> {
    let mut cutter = Cutter {
        text,
        units: Vec::new(),
        start: 0,
        pending: (Joint::Nothing, Break::Sentence),
    };
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let after = i + c.len_utf8();
        if c == '\n' {
            cutter.cut(i, after, (Joint::Line, Break::Sentence));
            i = after;
            continue;
        }
        let strength = match c {
            '.' | '!' | '?' | '。' | '！' | '？' => Break::Sentence,
            '；' => Break::WeakSentence,
            _ => {
                i = after;
                continue;
            }
        };
        let mut end = after;
        let mut cjk = !matches!(c, '.' | '!' | '?');
        while let Some(d) = text[end..].chars().next() {
            if matches!(d, '。' | '！' | '？') {
                cjk = true;
            } else if !matches!(d, '.' | '!' | '?') && !is_closer(d) {
                break;
            }
            end += d.len_utf8();
        }
        match text[end..].chars().next() {
            None => cutter.cut(end, end, (Joint::Nothing, strength)),
            Some(' ') => cutter.cut(end, end + 1, (Joint::Space, strength)),
            // The line break is a boundary of its own, handled next.
            Some('\n') => {}
            Some(_) if cjk => cutter.cut(end, end, (Joint::Nothing, strength)),
            // "3.14", "e.g.x": not the end of a sentence.
            Some(_) => {}
        }
        i = end;
    }
    cutter.cut(text.len(), text.len(), cutter.pending);
    cutter.units
}

/// Collects the units of [`sentences`].
struct Cutter<'a> {
    text: &'a str,
    units: Vec<Unit<'a>>,
    start: usize,
    /// The boundary before the next unit.
    pending: (Joint, Break),
}

impl Cutter<'_> {
    /// Ends a unit at `end`; the next starts at `next_start`, after a boundary `next`.
    fn cut(&mut self, end: usize, next_start: usize, next: (Joint, Break)) {
        let unit = &self.text[self.start..end];
        if !unit.is_empty() {
            self.units.push(Unit {
                text: unit,
                joint: self.pending.0,
                at: self.pending.1,
            });
            self.pending = next;
        } else if next.1 > self.pending.1 || next.0 == Joint::Line {
            // Two boundaries in a row (a stop, then a line break): the stronger one counts.
            self.pending = next;
        }
        self.start = next_start;
    }
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '」' | '』' | '）' | '》' | '】' | '〉'
    )
}

/// Splits one sentence at `level`: clauses (after `,;:` and a space, or after `，、：`) or words
/// (at spaces).
fn split_at(text: &str, level: Break) -> Vec<Unit<'_>> {
    let mut units = Vec::new();
    let mut start = 0;
    let mut joint = Joint::Nothing;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, d)| d);
        let cut = match level {
            Break::Clause => match c {
                ',' | ';' | ':' if next == Some(' ') => Some((i + 1, i + 2, Joint::Space)),
                '，' | '、' | '：' if next == Some(' ') => {
                    Some((i + c.len_utf8(), i + c.len_utf8() + 1, Joint::Space))
                }
                '，' | '、' | '：' if next.is_some() => {
                    Some((i + c.len_utf8(), i + c.len_utf8(), Joint::Nothing))
                }
                _ => None,
            },
            _ => (c == ' ').then_some((i, i + 1, Joint::Space)),
        };
        if let Some((end, next_start, next_joint)) = cut {
            if end > start {
                units.push(Unit {
                    text: &text[start..end],
                    joint,
                    at: level,
                });
            }
            joint = next_joint;
            start = next_start;
            if next_start > i + c.len_utf8() {
                // Skip the space consumed with the punctuation.
                chars.next();
            }
        }
    }
    if start < text.len() {
        units.push(Unit {
            text: &text[start..],
            joint,
            at: level,
        });
    }
    units
}

/// Collapses whitespace: runs of spaces (any Unicode space, tabs, control characters) become one
/// space, line breaks one `\n` (a space in a heading), and none is left at either end. Zero-width
/// characters and soft hyphens, invisible noise from PDFs and HTML, are dropped.
fn normalise(text: &str, heading: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<char> = None;
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
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

/// Packs pieces into chunks, one section (the text under one heading) at a time.
struct Packer<'a, 'c> {
    counter: &'c dyn TokenCounter,
    max_tokens: usize,
    overlap_tokens: usize,
    /// What each [`Joint`] costs, counted once.
    joint_tokens: [usize; 4],
    /// Every heading path seen; pieces refer to them by index.
    paths: Vec<Vec<String>>,
    /// The start of the chunk being built, repeated from the previous one.
    overlap: Vec<Piece<'a>>,
    /// The chunk's new text.
    body: Vec<Piece<'a>>,
    /// Sum of the counts of `overlap` and `body` and of the joints between them.
    tokens: usize,
    chunks: Vec<Chunk>,
}

impl<'a, 'c> Packer<'a, 'c> {
    fn new(counter: &'c dyn TokenCounter, max_tokens: usize, overlap_tokens: usize) -> Self {
        let joint_tokens = [Joint::Nothing, Joint::Space, Joint::Line, Joint::BlankLine]
            .map(|joint| counter.count(joint.as_str()));
        Self {
            counter,
            max_tokens,
            overlap_tokens,
            joint_tokens,
            paths: vec![Vec::new()],
            overlap: Vec::new(),
            body: Vec::new(),
            tokens: 0,
            chunks: Vec::new(),
        }
    }

    fn joint_tokens(&self, joint: Joint) -> usize {
        self.joint_tokens[joint as usize]
    }

    /// Tokens of `pieces` joined, by adding up.
    fn sum(&self, pieces: &[Piece<'a>]) -> usize {
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                if i == 0 {
                    piece.tokens
                } else {
                    self.joint_tokens(piece.joint) + piece.tokens
                }
            })
            .sum()
    }

    fn recount(&mut self) {
        let overlap = self.sum(&self.overlap);
        let body = self.sum(&self.body);
        self.tokens = match (self.overlap.is_empty(), self.body.first()) {
            (false, Some(first)) => overlap + self.joint_tokens(first.joint) + body,
            _ => overlap + body,
        };
    }

    fn is_empty(&self) -> bool {
        self.overlap.is_empty() && self.body.is_empty()
    }

    /// What `piece` adds to the chunk.
    fn cost(&self, piece: &Piece<'a>) -> usize {
        if self.is_empty() {
            piece.tokens
        } else {
            self.joint_tokens(piece.joint) + piece.tokens
        }
    }

    /// Drops the overlap's first sentence (or word, if it starts with one), so that it still
    /// starts where a sentence (or word) does.
    fn drop_oldest_overlap(&mut self) {
        let next = oldest_dropped(&self.overlap);
        self.overlap.drain(..next);
        self.recount();
    }

    fn add(&mut self, piece: Piece<'a>) {
        loop {
            if self.is_empty() || self.tokens + self.cost(&piece) <= self.max_tokens {
                self.tokens += self.cost(&piece);
                self.body.push(piece);
                return;
            }
            if self.body.is_empty() {
                // Only overlap stands in the way: give up its oldest sentence.
                self.drop_oldest_overlap();
            } else {
                self.close(piece.at);
            }
        }
    }

    /// A heading is coming: finish the current section, unless it is only headings so far.
    fn start_section(&mut self) {
        if self.body.iter().all(|piece| piece.origin.heading) {
            self.overlap.clear();
            self.recount();
        } else {
            self.finish_section();
        }
    }

    fn finish_section(&mut self) {
        while !self.body.is_empty() {
            let rest = self.emit();
            self.continue_with(rest);
        }
        self.overlap.clear();
        self.tokens = 0;
    }

    /// Ends the chunk at the best boundary before the piece that does not fit (whose boundary is
    /// `next`), and starts the next chunk with the rest.
    fn close(&mut self, next: Break) {
        let overlap = if self.overlap.is_empty() {
            0
        } else {
            self.sum(&self.overlap) + self.body.first().map_or(0, |p| self.joint_tokens(p.joint))
        };
        let room = self.max_tokens.saturating_sub(overlap);
        let mut best: Option<(Break, usize)> = None;
        let mut filled = 0;
        for k in 1..=self.body.len() {
            filled += if k == 1 {
                self.body[0].tokens
            } else {
                self.joint_tokens(self.body[k - 1].joint) + self.body[k - 1].tokens
            };
            let strength = self.body.get(k).map_or(next, |piece| piece.at);
            if 2 * filled >= room && best.is_none_or(|(best, _)| strength >= best) {
                best = Some((strength, k));
            }
        }
        let cut = best.map_or(self.body.len(), |(_, k)| k);
        let after = self.body.split_off(cut);
        let mut rest = self.emit();
        rest.extend(after);
        self.continue_with(rest);
    }

    /// Emits `overlap` + `body` as a chunk, after counting it whole; returns the pieces that had
    /// to leave it for it to fit (rarely any).
    fn emit(&mut self) -> Vec<Piece<'a>> {
        let mut returned = Vec::new();
        loop {
            let text = join(self.overlap.iter().chain(&self.body));
            let tokens = self.counter.count(&text);
            if tokens <= self.max_tokens || (self.overlap.is_empty() && self.body.len() <= 1) {
                self.chunks.push(self.finish(text, tokens));
                returned.reverse();
                return returned;
            }
            // Over by a token or two: the last piece moves on to the next chunk, or, when it is
            // the only new one, the overlap shrinks.
            if self.body.len() > 1 {
                returned.extend(self.body.pop());
            } else {
                self.drop_oldest_overlap();
            }
        }
    }

    fn finish(&self, text: String, token_count: usize) -> Chunk {
        let pieces = || self.overlap.iter().chain(&self.body);
        let pages = || pieces().filter_map(|piece| piece.origin.page);
        let path = pieces()
            .find(|piece| !piece.origin.heading)
            .or_else(|| pieces().last())
            .map_or(0, |piece| piece.origin.path);
        Chunk {
            text,
            token_count,
            page_from: pages().min(),
            page_to: pages().max(),
            heading_path: self.paths.get(path).cloned().unwrap_or_default(),
        }
    }

    /// After a chunk was emitted: the next starts with overlap from it, then `rest`.
    fn continue_with(&mut self, rest: Vec<Piece<'a>>) {
        let emitted: Vec<Piece<'a>> = self.overlap.drain(..).chain(self.body.drain(..)).collect();
        self.overlap = self.overlap_from(&emitted);
        self.body = rest;
        self.recount();
        while self.tokens > self.max_tokens && !self.overlap.is_empty() {
            self.drop_oldest_overlap();
        }
    }

    /// The longest run of trailing whole sentences of `emitted` within `overlap_tokens`, or
    /// failing that of trailing clauses or words.
    fn overlap_from(&self, emitted: &[Piece<'a>]) -> Vec<Piece<'a>> {
        if self.overlap_tokens == 0 {
            return Vec::new();
        }
        let mut sentence_start = None;
        let mut word_start = None;
        let mut tokens = 0;
        for (i, piece) in emitted.iter().enumerate().rev() {
            if piece.origin.heading {
                break;
            }
            tokens += piece.tokens;
            if tokens > self.overlap_tokens {
                break;
            }
            if piece.at >= Break::WeakSentence {
                sentence_start = Some(i);
            }
            if piece.at >= Break::Word {
                word_start = Some(i);
            }
            tokens += self.joint_tokens(piece.joint);
        }
        if let Some(start) = sentence_start.or(word_start) {
            // Adding up may under-count for some counter; the joined overlap is counted once to
            // be sure, and shortened from its start while over.
            let mut overlap = &emitted[start..];
            while !overlap.is_empty()
                && self.counter.count(&join(overlap.iter())) > self.overlap_tokens
            {
                overlap = &overlap[oldest_dropped(overlap)..];
            }
            return overlap.to_vec();
        }
        match emitted.last() {
            Some(last) if !last.origin.heading && last.at > Break::Char => {
                self.tail_of(last).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// The tail of `piece` within `overlap_tokens` for overlap out of a sentence too long to
    /// repeat whole: the longest that starts a clause (after `, ` or `，`, say), or failing that
    /// the longest that starts a word. Each clause or word is counted once.
    fn tail_of(&self, piece: &Piece<'a>) -> Option<Piece<'a>> {
        let text = piece.text;
        let (mut clause_start, mut word_start) = (None, None);
        let mut tokens = 0;
        let mut end = text.len();
        for (i, c) in text.char_indices().rev() {
            let start = i + c.len_utf8();
            let (joint, clause) = match c {
                ' ' => (Joint::Space, text[..i].ends_with([',', ';', ':'])),
                '，' | '、' | '：' | '；' => (Joint::Nothing, true),
                _ => continue,
            };
            if start >= end {
                // A clause mark that ends the piece belongs to the last clause.
                continue;
            }
            tokens += self.counter.count(&text[start..end]);
            if tokens > self.overlap_tokens {
                break;
            }
            word_start = Some(start);
            if clause {
                clause_start = Some(start);
            }
            tokens += self.joint_tokens(joint);
            // The space goes; a clause mark stays with the clause before it.
            end = if joint == Joint::Space { i } else { start };
        }
        let tail = &text[clause_start.or(word_start)?..];
        let tokens = self.counter.count(tail);
        (tokens <= self.overlap_tokens).then_some(Piece {
            text: tail,
            tokens,
            joint: Joint::Nothing,
            at: Break::Word,
            origin: piece.origin,
        })
    }
}

/// Where `overlap` starts once its first sentence is dropped, or its first word if it starts with
/// a word: never inside a sentence that it started with whole, never inside a word.
fn oldest_dropped(overlap: &[Piece<'_>]) -> usize {
    let floor = match overlap.first() {
        Some(first) if first.at >= Break::WeakSentence => Break::WeakSentence,
        _ => Break::Word,
    };
    overlap
        .iter()
        .skip(1)
        .position(|piece| piece.at >= floor)
        .map_or(overlap.len(), |i| i + 1)
}

fn join<'p, 'a: 'p>(pieces: impl Iterator<Item = &'p Piece<'a>>) -> String {
    let mut text = String::new();
    for piece in pieces {
        if !text.is_empty() {
            text.push_str(piece.joint.as_str());
        }
        text.push_str(piece.text);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ingest::tokens::{EstimatingCounter, TokenizerCounter};

    /// One token per character, spaces included: easy to reason about, and it makes a joint cost
    /// something.
    struct Chars;

    impl TokenCounter for Chars {
        fn count(&self, text: &str) -> usize {
            text.chars().count()
        }
        fn describe(&self) -> String {
            "chars".to_owned()
        }
    }

    /// One token per space-separated word and per non-ASCII character: whole words, so tests can
    /// state limits in words.
    struct Words;

    impl TokenCounter for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace()
                .map(|word| {
                    let wide = word.chars().filter(|c| !c.is_ascii()).count();
                    wide + usize::from(word.chars().any(|c| c.is_ascii()))
                })
                .sum()
        }
        fn describe(&self) -> String {
            "words".to_owned()
        }
    }

    /// Counts a text as more than its parts once it is long: the kind of counter for which adding
    /// up pieces under-counts, so only the final recount keeps chunks within the limit.
    struct Superadditive;

    impl TokenCounter for Superadditive {
        fn count(&self, text: &str) -> usize {
            let chars = text.chars().count();
            chars + chars / 8
        }
        fn describe(&self) -> String {
            "superadditive".to_owned()
        }
    }

    fn paragraph(text: &str) -> Block {
        Block {
            kind: BlockKind::Paragraph,
            text: text.to_owned(),
            page: None,
        }
    }

    fn heading(level: u8, text: &str) -> Block {
        Block {
            kind: BlockKind::Heading(level),
            text: text.to_owned(),
            page: None,
        }
    }

    fn on_page(page: u32, block: Block) -> Block {
        Block {
            page: Some(page),
            ..block
        }
    }

    fn options(max_tokens: usize, overlap_tokens: usize) -> ChunkOptions {
        ChunkOptions {
            max_tokens,
            overlap_tokens,
        }
    }

    fn texts(chunks: &[Chunk]) -> Vec<&str> {
        chunks.iter().map(|chunk| chunk.text.as_str()).collect()
    }

    /// "s1w1 s1w2 … s1w5." and so on: `sentences` sentences of `words` words each.
    fn numbered_sentences(prefix: &str, sentences: usize, words: usize) -> String {
        (1..=sentences)
            .map(|s| {
                let words: Vec<String> = (1..=words).map(|w| format!("{prefix}{s}w{w}")).collect();
                format!("{}.", words.join(" "))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn assert_within(chunks: &[Chunk], max_tokens: usize, counter: &dyn TokenCounter) {
        for chunk in chunks {
            assert_eq!(chunk.token_count, counter.count(&chunk.text), "{chunk:?}");
            assert!(chunk.token_count <= max_tokens, "{chunk:?}");
            assert!(!chunk.text.is_empty(), "{chunk:?}");
            assert_eq!(chunk.text.trim(), chunk.text, "{chunk:?}");
        }
    }

    #[test]
    fn default_options_are_512_tokens_with_64_of_overlap_and_valid() {
        let defaults = ChunkOptions::default();

        assert_eq!((defaults.max_tokens, defaults.overlap_tokens), (512, 64));
        assert_eq!(defaults.validate(), Ok(()));
    }

    #[test]
    fn an_overlap_as_large_as_the_chunk_is_refused_with_what_to_set() {
        let error = options(256, 256).validate().expect_err("invalid");

        assert!(error.contains("ADBRAG_CHUNK_OVERLAP"), "{error}");
        assert!(error.contains("256"), "{error}");
    }

    #[test]
    fn a_chunk_size_below_sixteen_is_refused_with_what_to_set() {
        let error = options(8, 0).validate().expect_err("invalid");

        assert!(error.contains("ADBRAG_CHUNK_TOKENS"), "{error}");
        assert!(error.contains("16"), "{error}");
    }

    #[test]
    fn invalid_options_still_give_chunks_within_the_limit() {
        let blocks = [paragraph(&numbered_sentences("s", 20, 4))];

        let chunks = chunk(&blocks, &options(6, 50), &Words);

        assert!(chunks.len() > 1);
        assert_within(&chunks, 6, &Words);
    }

    #[test]
    fn an_empty_document_has_no_chunks() {
        let blocks = [
            paragraph(""),
            paragraph("  \n\t \u{3000}"),
            heading(2, " \n "),
        ];

        assert!(chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter).is_empty());
        assert!(chunk(&[], &ChunkOptions::default(), &EstimatingCounter).is_empty());
    }

    #[test]
    fn short_paragraphs_are_packed_into_one_chunk_separated_by_blank_lines() {
        let blocks = [paragraph("First paragraph."), paragraph("Second one.")];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(texts(&chunks), ["First paragraph.\n\nSecond one."]);
        assert_eq!(
            chunks[0].token_count,
            EstimatingCounter.count(&chunks[0].text)
        );
    }

    #[test]
    fn whitespace_is_normalised() {
        let blocks = [paragraph(
            "  Tabs\tand   runs  of\u{a0}spaces.  \r\n\r\n\n  Next   line\u{200b}. \n",
        )];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(texts(&chunks), ["Tabs and runs of spaces.\nNext line."]);
    }

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
    fn a_semicolon_is_a_weaker_break_than_a_full_stop() {
        // Either cut leaves the first chunk at least half full; the full stop wins over the later
        // semicolon.
        let text = "甲甲甲甲甲甲甲甲。乙乙乙乙；丙丙丙丙丙丙丙丙丙丙丙丙丙";
        let blocks = [paragraph(text)];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(texts(&chunks)[0], "甲甲甲甲甲甲甲甲。");
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
    fn a_heading_starts_a_new_chunk_and_opens_its_text() {
        let blocks = [
            paragraph("Intro text."),
            heading(1, "Leave"),
            paragraph("Annual leave is twenty days."),
        ];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(
            texts(&chunks),
            ["Intro text.", "Leave\n\nAnnual leave is twenty days."]
        );
        assert_eq!(chunks[0].heading_path, Vec::<String>::new());
        assert_eq!(chunks[1].heading_path, ["Leave"]);
    }

    #[test]
    fn consecutive_headings_stay_with_the_text_that_follows() {
        let blocks = [
            heading(1, "Handbook"),
            heading(2, "Leave"),
            paragraph("Annual leave is twenty days."),
        ];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(
            texts(&chunks),
            ["Handbook\n\nLeave\n\nAnnual leave is twenty days."]
        );
        assert_eq!(chunks[0].heading_path, ["Handbook", "Leave"]);
    }

    #[test]
    fn a_heading_at_the_end_of_a_document_is_a_chunk_of_its_own() {
        let blocks = [paragraph("Body."), heading(2, "Appendix")];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(texts(&chunks), ["Body.", "Appendix"]);
        assert_eq!(chunks[1].heading_path, ["Appendix"]);
    }

    #[test]
    fn the_heading_path_pops_when_a_shallower_heading_follows() {
        let blocks = [
            heading(1, "Handbook"),
            paragraph("a."),
            heading(2, "Leave"),
            paragraph("b."),
            heading(3, "Annual"),
            paragraph("c."),
            heading(2, "Pay"),
            paragraph("d."),
            heading(3, "Bonus"),
            paragraph("e."),
            heading(1, "Appendix"),
            paragraph("f."),
        ];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        let paths: Vec<Vec<String>> = chunks.into_iter().map(|c| c.heading_path).collect();
        assert_eq!(
            paths,
            [
                vec!["Handbook"],
                vec!["Handbook", "Leave"],
                vec!["Handbook", "Leave", "Annual"],
                vec!["Handbook", "Pay"],
                vec!["Handbook", "Pay", "Bonus"],
                vec!["Appendix"],
            ]
        );
    }

    #[test]
    fn a_heading_spread_over_lines_becomes_one_line() {
        let blocks = [heading(2, " Annual\n  leave "), paragraph("Twenty days.")];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &EstimatingCounter);

        assert_eq!(chunks[0].heading_path, ["Annual leave"]);
        assert!(chunks[0].text.starts_with("Annual leave\n\n"));
    }

    #[test]
    fn pages_span_the_blocks_whose_text_is_in_the_chunk() {
        let blocks = [
            on_page(3, paragraph("On page three.")),
            on_page(4, paragraph("On page four.")),
            on_page(5, paragraph(&numbered_sentences("p", 3, 5))),
        ];

        // Three words, three, then three sentences of five: 16 words take the first two sentences.
        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(
            chunks
                .iter()
                .map(|c| (c.page_from, c.page_to))
                .collect::<Vec<_>>(),
            [(Some(3), Some(5)), (Some(5), Some(5))]
        );
    }

    #[test]
    fn chunks_of_blocks_without_pages_have_no_pages() {
        let chunks = chunk(&[paragraph("Text.")], &ChunkOptions::default(), &Words);

        assert_eq!((chunks[0].page_from, chunks[0].page_to), (None, None));
    }

    #[test]
    fn each_chunk_after_the_first_starts_with_the_previous_chunks_last_sentences() {
        let blocks = [paragraph(&numbered_sentences("s", 6, 4))];

        let chunks = chunk(&blocks, &options(16, 5), &Words);

        assert_eq!(
            texts(&chunks),
            [
                "s1w1 s1w2 s1w3 s1w4. s2w1 s2w2 s2w3 s2w4. s3w1 s3w2 s3w3 s3w4. s4w1 s4w2 s4w3 s4w4.",
                "s4w1 s4w2 s4w3 s4w4. s5w1 s5w2 s5w3 s5w4. s6w1 s6w2 s6w3 s6w4.",
            ]
        );
        assert_within(&chunks, 16, &Words);
    }

    #[test]
    fn overlap_from_a_sentence_too_long_to_repeat_is_its_last_words() {
        let blocks = [paragraph(&numbered_sentences("s", 3, 10))];

        let chunks = chunk(&blocks, &options(16, 3), &Words);

        assert_eq!(
            chunks[1].text,
            "s1w8 s1w9 s1w10. s2w1 s2w2 s2w3 s2w4 s2w5 s2w6 s2w7 s2w8 s2w9 s2w10."
        );
        assert_within(&chunks, 16, &Words);
    }

    #[test]
    fn overlap_from_a_long_chinese_sentence_is_its_last_clauses() {
        // The first sentence (21) is longer than the overlap (7): its last clause is repeated.
        let text = "第一条规定甲，第二条规定乙，第三条规定丙。第五条规定戊。";
        let blocks = [paragraph(text)];

        let chunks = chunk(&blocks, &options(24, 7), &Words);

        assert_eq!(
            texts(&chunks),
            [
                "第一条规定甲，第二条规定乙，第三条规定丙。",
                "第三条规定丙。第五条规定戊。"
            ]
        );
    }

    #[test]
    fn overlap_out_of_a_long_sentence_prefers_to_start_a_clause() {
        let text = "one two three four five, six seven eight nine ten eleven. Next sentence here.";
        let blocks = [paragraph(text)];

        // Eight words back would start at "four"; the clause starts at "six".
        let chunks = chunk(&blocks, &options(12, 8), &Words);

        assert_eq!(
            chunks[1].text,
            "six seven eight nine ten eleven. Next sentence here."
        );
    }

    #[test]
    fn overlap_never_starts_inside_a_word() {
        // Pieces of an over-long word are never repeated; the word after them is.
        let blocks = [paragraph(&format!("{} tail words here.", "x".repeat(40)))];

        let chunks = chunk(&blocks, &options(16, 8), &Chars);

        assert_eq!(
            texts(&chunks),
            [
                "xxxxxxxxxxxxxxxx",
                "xxxxxxxxxxxxxxxx",
                "xxxxxxxx tail",
                "tail words here."
            ]
        );
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
    fn heading_levels_outside_one_to_six_are_clamped() {
        let blocks = [
            heading(0, "Zero"),
            heading(9, "Nine"),
            paragraph("a."),
            heading(1, "One"),
            paragraph("b."),
        ];

        let chunks = chunk(&blocks, &ChunkOptions::default(), &Words);

        assert_eq!(chunks[0].heading_path, ["Zero", "Nine"]);
        assert_eq!(chunks[1].heading_path, ["One"]);
    }

    #[test]
    fn overlap_never_crosses_a_heading() {
        let blocks = [
            paragraph(&numbered_sentences("a", 3, 3)),
            heading(2, "Next"),
            paragraph(&numbered_sentences("b", 3, 3)),
        ];

        let chunks = chunk(&blocks, &options(16, 6), &Words);

        assert_eq!(
            texts(&chunks),
            [
                numbered_sentences("a", 3, 3),
                format!("Next\n\n{}", numbered_sentences("b", 3, 3))
            ]
        );
    }

    #[test]
    fn zero_overlap_repeats_nothing() {
        let blocks = [paragraph(&numbered_sentences("s", 6, 4))];

        let chunks = chunk(&blocks, &options(16, 0), &Words);

        assert_eq!(texts(&chunks).join(" "), numbered_sentences("s", 6, 4));
    }

    #[test]
    fn overlap_gives_way_so_the_new_text_fits() {
        // Each sentence is 12 words: with 8 of overlap a chunk could not take a new sentence.
        let blocks = [paragraph(&numbered_sentences("s", 3, 12))];

        let chunks = chunk(&blocks, &options(16, 8), &Words);

        assert_eq!(chunks.len(), 3);
        assert_within(&chunks, 16, &Words);
        assert!(chunks[1].text.starts_with("s2w1 "), "{}", chunks[1].text);
    }

    #[test]
    fn a_paragraph_break_is_preferred_to_a_later_sentence_break() {
        let blocks = [
            paragraph(&numbered_sentences("a", 3, 3)),
            paragraph(&numbered_sentences("b", 3, 3)),
        ];

        // Nine words of a, then three of b fit in 12, but the paragraph break at 9 leaves the chunk
        // more than half full.
        let chunks = chunk(&blocks, &options(12, 0), &Words);

        assert_eq!(
            texts(&chunks),
            [numbered_sentences("a", 3, 3), numbered_sentences("b", 3, 3)]
        );
    }

    #[test]
    fn a_sentence_break_wins_when_the_paragraph_break_would_leave_the_chunk_nearly_empty() {
        let blocks = [paragraph("One."), paragraph(&numbered_sentences("b", 6, 3))];

        let chunks = chunk(&blocks, &options(12, 0), &Words);

        assert!(
            chunks[0].text.starts_with("One.\n\nb1w1"),
            "{}",
            chunks[0].text
        );
    }

    #[test]
    fn a_counter_that_counts_joined_text_as_more_than_its_parts_is_still_obeyed() {
        let blocks = [paragraph(&numbered_sentences("s", 40, 3))];

        for overlap in [0, 10] {
            let chunks = chunk(&blocks, &options(64, overlap), &Superadditive);

            assert_within(&chunks, 64, &Superadditive);
            assert_covers(&blocks, &chunks);
        }
    }

    #[test]
    fn chunking_is_deterministic() {
        let blocks = generated_document(7, 200);

        let first = chunk(&blocks, &options(64, 16), &EstimatingCounter);
        let second = chunk(&blocks, &options(64, 16), &EstimatingCounter);

        assert_eq!(first, second);
    }

    /// Checks that the chunks, with the overlap each repeats removed, are the input's text in
    /// order (compared without whitespace, which chunking normalises), and returns how many
    /// characters each chunk repeats. Repeated text makes where an overlap ends ambiguous, so
    /// this searches for a consistent reading, depth first, remembering dead ends.
    fn assert_covers(blocks: &[Block], chunks: &[Chunk]) -> Vec<usize> {
        let input: Vec<char> = blocks
            .iter()
            .flat_map(|block| block.text.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let visible: Vec<Vec<char>> = chunks
            .iter()
            .map(|chunk| chunk.text.chars().filter(|c| !c.is_whitespace()).collect())
            .collect();
        // frames[i]: the input consumed before chunk i, and the next overlap length to try for it.
        let mut frames = vec![(0, 0)];
        let mut repeats = Vec::new();
        let mut dead_ends = std::collections::HashSet::new();
        while let Some(&(consumed, next)) = frames.last() {
            let index = frames.len() - 1;
            let Some(text) = visible.get(index) else {
                if consumed == input.len() {
                    return repeats;
                }
                frames.pop();
                repeats.pop();
                continue;
            };
            // At least one new character: a chunk of nothing but overlap is a failure too.
            let found = (next..text.len().min(consumed + 1)).find(|&repeated| {
                text[..repeated] == input[consumed - repeated..consumed]
                    && input[consumed..].starts_with(&text[repeated..])
                    && !dead_ends.contains(&(index + 1, consumed + text.len() - repeated))
            });
            if let Some(repeated) = found {
                frames[index].1 = repeated + 1;
                repeats.push(repeated);
                frames.push((consumed + text.len() - repeated, 0));
            } else {
                dead_ends.insert((index, consumed));
                frames.pop();
                repeats.pop();
            }
        }
        panic!(
            "the chunks are not the input in order, minus overlap: {:#?}",
            texts(chunks)
        );
    }

    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A document of `blocks` blocks: headings of random levels and paragraphs of English,
    /// Chinese, numbers, code-like tokens, line breaks and the odd long unbroken run.
    fn generated_document(seed: u64, blocks: usize) -> Vec<Block> {
        const WORDS: &[&str] = &[
            "the",
            "retrieval",
            "chunk",
            "PostgreSQL",
            "embedding",
            "vector",
            "index",
            "query",
            "leave",
            "policy",
            "getUserName",
            "v4",
            "2024",
            "3.14",
            "e.g.",
            "(see",
            "below)",
            "\"quoted\"",
            "https://example.com/a/b?c=d",
            "员工",
            "年假",
            "带薪",
        ];
        const CJK: &[&str] = &[
            "员", "工", "每", "年", "享", "有", "带", "薪", "假", "期", "规", "定",
        ];
        const ENDS: &[&str] = &[".", "!", "?", "。", "！", "？", "；", ",", "，", ":", "、"];
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut document = Vec::with_capacity(blocks);
        let mut page = 1;
        for b in 0..blocks {
            page += u32::from(rng.below(4) == 0);
            if rng.below(6) == 0 {
                let level = 1 + rng.below(6) as u8;
                document.push(on_page(
                    page,
                    heading(
                        level,
                        &format!("Heading {b} {}", WORDS[rng.below(WORDS.len())]),
                    ),
                ));
                continue;
            }
            let mut text = String::new();
            for _ in 0..1 + rng.below(12) {
                match rng.below(10) {
                    0 => {
                        let run: String = (0..rng.below(400))
                            .map(|_| CJK[rng.below(CJK.len())])
                            .collect();
                        text.push_str(&run);
                    }
                    1 => text.push_str(&"x".repeat(rng.below(600))),
                    _ => {
                        for _ in 0..1 + rng.below(30) {
                            if rng.below(3) == 0 {
                                text.push_str(CJK[rng.below(CJK.len())]);
                            } else {
                                text.push_str(WORDS[rng.below(WORDS.len())]);
                                text.push(' ');
                            }
                        }
                    }
                }
                text.push_str(ENDS[rng.below(ENDS.len())]);
                text.push_str(match rng.below(8) {
                    0 => "\n",
                    1 => "",
                    2 => "  \t ",
                    _ => " ",
                });
            }
            document.push(on_page(page, paragraph(&text)));
        }
        document
    }

    #[test]
    fn every_chunk_fits_and_the_chunks_cover_generated_documents_in_order() {
        let counters: [&dyn TokenCounter; 4] = [&EstimatingCounter, &Chars, &Words, &Superadditive];
        for seed in 0..6 {
            let blocks = generated_document(seed, 60);
            for counter in counters {
                for (max_tokens, overlap_tokens) in
                    [(16, 0), (16, 15), (40, 8), (128, 32), (512, 64), (512, 0)]
                {
                    let chunks = chunk(&blocks, &options(max_tokens, overlap_tokens), counter);
                    let context = format!(
                        "seed {seed}, {}, {max_tokens}/{overlap_tokens}",
                        counter.describe()
                    );

                    assert_within(&chunks, max_tokens, counter);
                    let repeats = assert_covers(&blocks, &chunks);
                    for (chunk, repeated) in chunks.iter().zip(repeats) {
                        let overlap: String = chunk
                            .text
                            .chars()
                            .scan(0, |seen, c| {
                                let take = *seen < repeated;
                                *seen += usize::from(!c.is_whitespace());
                                take.then_some(c)
                            })
                            .collect();
                        assert!(
                            counter.count(overlap.trim()) <= overlap_tokens,
                            "{context}: overlap {overlap:?} in {:?}",
                            chunk.text
                        );
                        assert!(chunk.page_from <= chunk.page_to, "{context}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_chunk_fits_a_real_tokenizer_and_the_chunks_cover_generated_documents() {
        let Some(paths) = std::env::var_os("ADBRAG_TEST_TOKENIZER") else {
            println!("skipped: set ADBRAG_TEST_TOKENIZER to a tokenizer.json to chunk with it");
            return;
        };
        for path in std::env::split_paths(&paths) {
            let counter = TokenizerCounter::from_file(&path).expect("ADBRAG_TEST_TOKENIZER loads");
            for seed in 0..3 {
                let blocks = generated_document(seed, 60);
                for (max_tokens, overlap_tokens) in [(16, 8), (128, 32), (512, 64)] {
                    let chunks = chunk(&blocks, &options(max_tokens, overlap_tokens), &counter);

                    assert_within(&chunks, max_tokens, &counter);
                    assert_covers(&blocks, &chunks);
                }
            }
        }
    }

    /// About `chunks` chunks' worth of mixed English and Chinese prose under headings.
    fn corpus_of(chunks: usize) -> Vec<Block> {
        let english = "Employees accrue twenty days of paid annual leave per calendar year, and unused leave may be carried over. ";
        let chinese = "员工每年享有二十天带薪年假，未休完的年假可顺延至次年，但须经部门经理批准。";
        let mut blocks = Vec::new();
        for i in 0..chunks / 2 {
            blocks.push(heading(2, &format!("Section {i}")));
            blocks.push(paragraph(&english.repeat(8)));
            blocks.push(paragraph(&chinese.repeat(6)));
            blocks.push(paragraph(&english.repeat(7)));
        }
        blocks
    }

    fn measure(counter: &dyn TokenCounter) {
        let blocks = corpus_of(10_000);
        let started = Instant::now();
        let chunks = chunk(&blocks, &ChunkOptions::default(), counter);
        let elapsed = started.elapsed();
        let bytes: usize = blocks.iter().map(|b| b.text.len()).sum();
        println!(
            "{}: {} chunks from {:.1} MB in {:.3} s = {:.0} chunks/s",
            counter.describe(),
            chunks.len(),
            bytes as f64 / 1e6,
            elapsed.as_secs_f64(),
            chunks.len() as f64 / elapsed.as_secs_f64()
        );
        assert_within(&chunks, 512, counter);
    }

    /// `cargo test --release -- --ignored --nocapture throughput` (with ADBRAG_TEST_TOKENIZER for
    /// real tokenizers).
    #[test]
    #[ignore = "a measurement: run in release"]
    fn throughput_of_ten_thousand_chunks() {
        measure(&EstimatingCounter);
        if let Some(paths) = std::env::var_os("ADBRAG_TEST_TOKENIZER") {
            for path in std::env::split_paths(&paths) {
                let counter =
                    TokenizerCounter::from_file(&path).expect("ADBRAG_TEST_TOKENIZER loads");
                measure(&counter);
            }
        }
    }
}
