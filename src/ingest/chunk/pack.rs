//! Steps 3 and 4 of chunking: packing pieces into chunks of at most `max_tokens`, cutting at the
//! strongest boundary that leaves a chunk at least half full, starting each section at its
//! heading, repeating overlap, and recounting each chunk whole.

use super::Chunk;
use super::split::{Break, Joint, Piece};
use crate::ingest::tokens::TokenCounter;
use crate::text::sentence;

/// Packs pieces into chunks, one section (the text under one heading) at a time.
pub(super) struct Packer<'a, 'c> {
    counter: &'c dyn TokenCounter,
    max_tokens: usize,
    overlap_tokens: usize,
    /// What each [`Joint`] costs, counted once.
    joint_tokens: [usize; 4],
    /// Every heading path seen; pieces refer to them by index.
    pub(super) paths: Vec<Vec<String>>,
    /// The start of the chunk being built, repeated from the previous one.
    overlap: Vec<Piece<'a>>,
    /// The chunk's new text.
    body: Vec<Piece<'a>>,
    /// Sum of the counts of `overlap` and `body` and of the joints between them.
    tokens: usize,
    pub(super) chunks: Vec<Chunk>,
}

impl<'a, 'c> Packer<'a, 'c> {
    pub(super) fn new(
        counter: &'c dyn TokenCounter,
        max_tokens: usize,
        overlap_tokens: usize,
    ) -> Self {
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

    pub(super) fn add(&mut self, piece: Piece<'a>) {
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
    pub(super) fn start_section(&mut self) {
        if self.body.iter().all(|piece| piece.origin.heading) {
            self.overlap.clear();
            self.recount();
        } else {
            self.finish_section();
        }
    }

    pub(super) fn finish_section(&mut self) {
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
            if piece.at >= Break::Sentence {
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
    /// repeat whole: the longest that starts a clause ([`sentence::clauses`]: after `, ` or `，`,
    /// say), or failing that the longest that starts a word. Each clause or word is counted once.
    fn tail_of(&self, piece: &Piece<'a>) -> Option<Piece<'a>> {
        let text = piece.text;
        // Where each clause and word after the first starts, where the text before it ends, what
        // joins them, and whether it starts a clause; in text order.
        let mut starts: Vec<(usize, usize, Joint, bool)> = Vec::new();
        let mut previous_end = 0;
        for (k, clause) in sentence::clauses(text).into_iter().enumerate() {
            if k > 0 {
                starts.push((clause.start, previous_end, clause.gap.into(), true));
            }
            for (i, _) in clause.text.match_indices(' ') {
                let space = clause.start + i;
                starts.push((space + 1, space, Joint::Space, false));
            }
            previous_end = clause.end();
        }
        let (mut clause_start, mut word_start) = (None, None);
        let mut tokens = 0;
        let mut end = text.len();
        for &(start, before, joint, clause) in starts.iter().rev() {
            if start >= end {
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
            end = before;
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
        Some(first) if first.at >= Break::Sentence => Break::Sentence,
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
    use super::super::testing::*;
    use super::super::{ChunkOptions, chunk};
    use crate::ingest::tokens::EstimatingCounter;

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
}
