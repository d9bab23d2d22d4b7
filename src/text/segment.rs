//! Keyword terms: the words a chunk is indexed by and a query is searched by, computed in the
//! application so that the same terms (and so the same BM25 statistics) work on PostgreSQL and on
//! AnalyticDB alike. Ingest and query must run the same function, or their terms would not meet;
//! [`ANALYZER_VERSION`] names this function's rules, and `adbrag migrate` re-derives the terms of
//! chunks stored under an older version (no re-embedding).
//!
//! The rules, per script:
//! - **Han** runs ([`is_han`]) become overlapping character bigrams (中华人民 → 中华, 华人, 人民), as Lucene's CJK
//!   analyzer does: no dictionary, so a word no dictionary knows (年假, a product name) is found
//!   as well as any other. Bigrams that are stop words or hold a particle are dropped. Measured
//!   against jieba's search-mode words on the Chinese dev set, bigrams ranked better (MRR@10
//!   0.672 against 0.636; docs/search.md).
//! - **Latin and other alphabetic** words are lower-cased and reduced to their Snowball (Porter 2)
//!   English stem ("updates", "updated" → "updat"; "vacuuming" → "vacuum"), after a short stop list
//!   of function and question words. Other alphabets (Cyrillic, Greek, kana, Hangul) are kept whole
//!   and unstemmed.
//! - **Identifiers** — words joined by `_`, `.` or `-` (`max_connections_per_host`, `pg_hba.conf`,
//!   `model-studio`, `3.14`) or written in camelCase (`getElementById`) — are kept whole
//!   (lower-cased, never stemmed, never a stop word) and also yield their parts as ordinary words,
//!   so `max_connections_per_host` matches whole and by `connections`. A separator counts only
//!   between two letters or digits: a sentence's full stop is not part of a word.
//!
//! Every term is letters, digits and at most the inner `_ . -` of an identifier: no whitespace, no
//! quote, no operator of any query language. Terms longer than [`MAX_WORD_BYTES`] are dropped.

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use super::script::is_han;

/// Bumped whenever a rule above changes the terms of some text: chunks stored with an older
/// version are re-derived by `adbrag migrate`.
pub const ANALYZER_VERSION: i16 = 2;

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Words longer than this are dropped: base64 blobs and the like are never searched for, and
/// PostgreSQL refuses lexemes over 2,046 bytes. A SHA-512 in hex (128 characters) still fits.
pub const MAX_WORD_BYTES: usize = 128;

/// Characters that mark grammar, not topic: a bigram holding one is not a term (的年 in 我的年假).
const PARTICLES: &[char] = &['的', '了', '着', '过', '吗', '呢', '吧', '啊', '呀', '么'];

/// Function words that would match nearly every chunk, and the words questions are made of ("how
/// do I…", "what is my…"), which would otherwise match every FAQ. Lucene's English stop set plus
/// question words, less "it", "as", "no" and "not": lower-cased, "it", "as" are IT and AS, and
/// "no"/"not" carry meaning in a question. BM25's IDF discounts the common words left in.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "at", "be", "but", "by", "can", "could", "did", "do", "does", "for",
    "from", "has", "have", "how", "i", "if", "in", "into", "is", "me", "my", "of", "on", "or",
    "should", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your",
];

/// Chinese particles, pronouns, connectives and question words: a one-character run or a bigram
/// that is one of these is not a term. Runs are cut into bigrams, so a longer word is listed by
/// its bigrams (为什么 as 为什 and 什么).
#[rustfmt::skip]
const CHINESE_STOP_WORDS: &[&str] = &[
    "的", "地", "得", "了", "着", "过", "是", "在", "和", "与", "及", "或", "而", "也", "都", "就",
    "又", "还", "之", "其", "此", "这", "那", "我", "你", "他", "她", "它", "们", "有", "被", "把",
    "对", "从", "向", "以", "于", "为", "个", "吗", "呢", "吧", "啊", "呀", "哦", "么", "所", "等",
    "则", "即", "但", "并", "且", "我们", "你们", "他们", "她们", "它们", "这个", "那个", "这些",
    "那些", "一个", "以及", "或者", "因为", "所以", "如果", "但是", "而且", "并且", "然后",
    "什么", "怎么", "怎样", "如何", "哪些", "为什",
];

/// The terms a text is indexed by, space-separated, in order, repeats kept (BM25 counts them). The
/// SAME rules as [`terms`], which the query side uses.
pub fn keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    each_term(text, |term| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(term);
    });
    out
}

/// The query-side list of terms: deduplicated, first occurrence order kept.
pub fn terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    each_term(text, |term| {
        // Queries are short: a linear scan beats hashing, and keeps the order.
        if !terms.iter().any(|t| t == term) {
            terms.push(term.to_owned());
        }
    });
    terms
}

/// How much of a text is Chinese: Han characters over Han characters plus words of other
/// scripts (a Han character carries about as much as a word: "mkfifo 命名管道" is 4 of 5).
/// Used to tell whether an embedder can read a query.
pub fn han_share(text: &str) -> f64 {
    let (mut han, mut words) = (0usize, 0usize);
    let mut in_word = false;
    for c in text.chars() {
        if is_han(c) {
            han += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            words += usize::from(!in_word);
            in_word = true;
        } else {
            in_word = false;
        }
    }
    if han + words == 0 {
        0.0
    } else {
        han as f64 / (han + words) as f64
    }
}

/// Calls `emit` with every term of `text`, in order.
fn each_term(text: &str, mut emit: impl FnMut(&str)) {
    let text = fold(text);
    let mut rest = text.as_str();
    while let Some(first) = rest.chars().next() {
        let end = if is_han(first) {
            let end = rest.find(|c: char| !is_han(c)).unwrap_or(rest.len());
            han_terms(&rest[..end], &mut emit);
            end
        } else if first.is_alphanumeric() {
            let end = identifier_end(rest);
            word_terms(&rest[..end], &mut emit);
            end
        } else {
            first.len_utf8()
        };
        rest = &rest[end..];
    }
}

/// Overlapping bigrams of a run of Han characters (中华人民 → 中华, 华人, 人民), as Lucene's CJK
/// analyzer indexes them; a run of one character is its own term. Bigrams that are stop words
/// (什么, 我们, …) or hold a particle (的, 了, 吗, …) are left out.
fn han_terms(run: &str, emit: &mut impl FnMut(&str)) {
    let mut chars = run.char_indices().peekable();
    if let Some(&(_, only)) = chars.peek()
        && run.len() == only.len_utf8()
    {
        if !CHINESE_STOP_WORDS.contains(&run) {
            emit(run);
        }
        return;
    }
    while let Some((i, first)) = chars.next() {
        let Some(&(j, second)) = chars.peek() else {
            break;
        };
        let pair = &run[i..j + second.len_utf8()];
        if !CHINESE_STOP_WORDS.contains(&pair)
            && !PARTICLES.contains(&first)
            && !PARTICLES.contains(&second)
        {
            emit(pair);
        }
    }
}

/// Where the word (or identifier) starting `rest` ends: letters and digits, joined by single
/// `_ . -` separators that stand between two letters or digits. Han characters end it.
fn identifier_end(rest: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() && !is_han(c);
    let mut end = 0;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_word(c) {
            end = i + c.len_utf8();
        } else if matches!(c, '_' | '.' | '-')
            && end == i
            && chars.peek().is_some_and(|&(_, next)| is_word(next))
        {
            continue;
        } else {
            break;
        }
    }
    end
}

/// The terms of one word or identifier, in its original case (camelCase needs it): the whole
/// identifier when it has parts, then each part lower-cased, stemmed, stop words left out.
fn word_terms(word: &str, emit: &mut impl FnMut(&str)) {
    let parts = split_parts(word);
    if parts.len() > 1 {
        let whole = word.to_lowercase();
        if whole.len() <= MAX_WORD_BYTES {
            emit(&whole);
        }
    }
    for part in parts {
        let part = part.to_lowercase();
        if part.is_empty() || part.len() > MAX_WORD_BYTES || ENGLISH_STOP_WORDS.contains(&&*part) {
            continue;
        }
        if part.is_ascii() {
            emit(&ENGLISH.stem(&part));
        } else {
            // The English stemmer knows English suffixes only: other alphabets stay whole.
            emit(&part);
        }
    }
}

/// The parts of an identifier: split at `_ . -` and at camelCase boundaries (`getElementById` →
/// get, Element, By, Id; `HTTPServer` → HTTP, Server). One part for a plain word.
fn split_parts(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in word.split(['_', '.', '-']) {
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for k in 1..chars.len() {
            let (i, c) = chars[k];
            let (_, previous) = chars[k - 1];
            let next_lower = chars.get(k + 1).is_some_and(|&(_, n)| n.is_lowercase());
            // lower→Upper (getElement), or the last capital of a run before lower (HTTPServer).
            let boundary = c.is_uppercase()
                && (previous.is_lowercase() || (previous.is_uppercase() && next_lower));
            if boundary {
                parts.push(&piece[start..i]);
                start = i;
            }
        }
        parts.push(&piece[start..]);
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// Folds full-width ASCII (common in Chinese documents: ＡＰＩ, ２０２４) to ASCII, so both
/// spellings are one word. Case is kept here (camelCase splitting needs it) and lowered per term.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match u32::from(c) {
            code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_plain_term(term: &str) -> bool {
        !term.is_empty()
            && term
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !term.starts_with(['_', '.', '-'])
            && !term.ends_with(['_', '.', '-'])
    }

    fn has(terms: &[String], word: &str) -> bool {
        terms.iter().any(|t| t == word)
    }

    #[test]
    fn a_chinese_sentence_is_cut_into_words() {
        let terms = terms("员工每年享有二十天带薪年假");

        for word in ["员工", "带薪", "年假"] {
            assert!(has(&terms, word), "{word} missing from {terms:?}");
        }
    }

    #[test]
    fn a_mixed_sentence_yields_stemmed_english_words_and_chinese_words() {
        let terms = terms("Model Studio 的 API 限流");

        for word in ["model", "studio", "api", "限流"] {
            assert!(has(&terms, word), "{word} missing from {terms:?}");
        }
        assert!(!has(&terms, "的"), "{terms:?}");
    }

    #[test]
    fn english_words_are_stemmed_the_same_at_index_and_query_time() {
        assert_eq!(terms("updates"), terms("update"));
        assert_eq!(terms("updated"), terms("updating"));
        assert_eq!(terms("vacuuming"), ["vacuum"]);
        assert_eq!(terms("Connections"), terms("connection"));
        assert_eq!(keywords("The packages were upgraded"), "packag upgrad");
    }

    #[test]
    fn stop_words_and_question_words_are_dropped() {
        assert!(
            terms("how do I do this and what is it for")
                .iter()
                .all(|t| t == "it")
        );
        assert!(terms("what is the").is_empty());
        // A question word of three characters, listed by its bigrams.
        assert!(terms("为什么").is_empty());
        assert_eq!(terms("为什么磁盘"), ["磁盘"]);
    }

    #[test]
    fn identifiers_match_whole_and_by_their_parts() {
        let terms = terms("set max_connections_per_host in pg_hba.conf");

        for term in [
            "max_connections_per_host",
            "max",
            "connect",
            "host",
            "pg_hba.conf",
            "hba",
            "conf",
        ] {
            assert!(has(&terms, term), "{term} missing from {terms:?}");
        }
        // The query for one part finds the identifier's chunk.
        let document = keywords("max_connections_per_host = 10");
        assert!(document.split(' ').any(|w| w == "connect"), "{document}");
    }

    #[test]
    fn camel_case_is_split_and_kept_whole() {
        let terms = terms("getElementById HTTPServer");

        for term in [
            "getelementbyid",
            "get",
            "element",
            "id",
            "httpserver",
            "http",
            "server",
        ] {
            assert!(has(&terms, term), "{term} missing from {terms:?}");
        }
        assert!(has(&super::terms("IPv6"), "ipv6"));
        assert_eq!(
            split_parts("getElementById"),
            ["get", "Element", "By", "Id"]
        );
        assert_eq!(split_parts("HTTPServer"), ["HTTP", "Server"]);
    }

    #[test]
    fn a_full_stop_or_a_dash_at_a_word_boundary_is_not_part_of_it() {
        assert_eq!(terms("run apt. -v - x"), ["run", "apt", "v", "x"]);
        assert_eq!(terms("3.14"), ["3.14", "3", "14"]);
        assert_eq!(terms("a__b"), ["b"]);
    }

    #[test]
    fn chinese_particles_and_punctuation_do_not_become_terms() {
        let terms = terms("我的年假是多少？请在系统里查询，谢谢。");

        for word in ["我", "的", "是", "在", "？", "，", "。"] {
            assert!(!has(&terms, word), "{word} in {terms:?}");
        }
        assert!(has(&terms, "年假"), "{terms:?}");
    }

    #[test]
    fn a_hostile_string_yields_only_plain_terms() {
        let terms = terms(r"a' & b | !c:* <-> (d) \e");

        // "a" is an English stop word.
        assert_eq!(terms, ["b", "c", "d", "e"]);
    }

    #[test]
    fn query_operators_never_survive_in_any_term() {
        let text =
            r#"x&y|z!w(v)u:t*s<r>q'p\o "n" `m` ~l @k #j $i %h ^g =f +e ?d ,c ;b [a] {z} a-'b c.-d"#;

        let terms = terms(text);

        assert!(!terms.is_empty());
        assert!(terms.iter().all(|t| is_plain_term(t)), "{terms:?}");
    }

    #[test]
    fn empty_or_punctuation_only_text_yields_nothing() {
        for text in ["", "   ", "，。！？…—“”", "&|!():*<>'\\", "\n\t", "_.-"] {
            assert_eq!(keywords(text), "", "{text:?}");
            assert!(terms(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn terms_are_deduplicated_in_order_while_keywords_keep_repeats() {
        let text = "Leave policy: leave requests, LEAVE balance.";

        assert_eq!(terms(text), ["leav", "polici", "request", "balanc"]);
        assert_eq!(keywords(text), "leav polici leav request leav balanc");
    }

    #[test]
    fn full_width_letters_and_digits_are_the_same_terms_as_ascii() {
        assert_eq!(terms("ＡＰＩ　２０２４"), terms("API 2024"));
    }

    #[test]
    fn a_long_run_of_characters_is_not_a_term() {
        let blob = "q".repeat(MAX_WORD_BYTES + 1);
        let sha512 = "a".repeat(128);

        assert_eq!(terms(&format!("{blob} key")), ["key"]);
        assert_eq!(terms(&sha512), [sha512]);
        assert!(terms(&"x".repeat(2048)).is_empty());
    }

    #[test]
    fn a_word_no_dictionary_knows_is_found_as_a_pair_of_characters() {
        // jieba's dictionary lacks 年假: bigrams need none.
        let document = keywords("员工每年享有二十天带薪年假");
        let query = terms("年假");

        assert!(has(&query, "年假"), "{query:?}");
        assert!(document.split(' ').any(|w| w == "年假"), "{document}");
    }

    #[test]
    fn particles_do_not_pair_up() {
        let terms = terms("我的年假是多少");

        assert!(
            !terms
                .iter()
                .any(|t| t == "我的" || t == "的年" || t == "我" || t == "的"),
            "{terms:?}"
        );
        assert!(has(&terms, "年假") && has(&terms, "多少"), "{terms:?}");
    }

    #[test]
    fn a_query_for_part_of_a_compound_word_finds_the_whole() {
        let document = keywords("中华人民共和国个人信息保护法");
        let stored: Vec<&str> = document.split(' ').collect();

        for part in ["共和国", "个人信息", "保护法", "人民"] {
            for term in terms(part) {
                assert!(
                    stored.contains(&term.as_str()),
                    "{term} of {part} not in {document}"
                );
            }
        }
        assert_eq!(terms("中华人民"), ["中华", "华人", "人民"]);
        assert_eq!(terms("法"), ["法"]);
    }

    #[test]
    fn han_share_tells_chinese_queries_from_english_ones() {
        assert!(han_share("如何配置网络") > 0.99);
        assert!(han_share("how do I configure the network") < 0.01);
        assert!(han_share("Debian 的 apt 怎么用") > 0.5);
        assert!(han_share("mkfifo 命名管道") > 0.5);
        assert!(han_share("configure the apt 源") < 0.5);
        assert_eq!(han_share("?? 123"), 0.0);
    }

    #[test]
    fn keywords_are_the_terms_with_their_repeats_for_any_text() {
        let samples = [
            "员工每年享有二十天带薪年假，年假可顺延。",
            "PostgreSQL + pgvector 的 HNSW 索引（m=16, ef_construction=64）",
            "Ünïcödé naïve café ΑΒΓ абв 東京は日本の首都です 한국어 문장",
            "😀 emoji 🎉 and symbols ∀x∈ℝ → ok; getElementById(x.y-z)",
        ];
        for text in samples {
            let keywords = keywords(text);
            let terms = terms(text);
            let mut seen: Vec<&str> = Vec::new();
            for word in keywords.split(' ') {
                assert!(is_plain_term(word), "{word:?} in {keywords:?}");
                if !seen.contains(&word) {
                    seen.push(word);
                }
            }
            assert_eq!(seen, terms, "{text:?}");
        }
    }
}
