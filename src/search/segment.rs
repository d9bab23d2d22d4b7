//! Keyword segmentation for Chinese and space-separated scripts: the words a chunk is indexed by
//! and a query is searched by.
//!
//! PostgreSQL's `simple` configuration cannot split Chinese, and the parsers that can (zhparser,
//! pg_jieba) are not available everywhere, AnalyticDB included. So the application segments: text
//! becomes space-separated lower-case words, which the `simple` configuration indexes as they are.
//! Ingest and query must run the same function, or their words would not meet.
//!
//! Each word is a run of letters and digits only. That keeps it one lexeme for PostgreSQL's
//! default parser (it would split `model-studio` or `3.14` itself, differently at index and query
//! time) and keeps every tsquery operator (`& | ! ( ) : * < > '` and backslash) out of queries.
//! Runs of Han characters are cut by jieba in search mode, which also offers the shorter words
//! inside a long one (中华人民共和国 → 中华, 人民, 共和国, …), so a query for a part finds the
//! whole; two adjacent single characters that jieba could not join (a word its dictionary lacks)
//! also yield the pair. Everything else is split at whatever is not a letter or digit: no
//! stemming (the `simple` configuration does none), and no segmentation of Japanese kana or Thai,
//! whose runs stay whole words.

use std::sync::LazyLock;

use jieba_rs::Jieba;

/// Loading jieba's dictionary takes about 100 ms, once per process.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Words longer than this are dropped: base64 blobs and the like are never searched for, and
/// PostgreSQL refuses lexemes over 2,046 bytes. A SHA-512 in hex (128 characters) still fits.
const MAX_WORD_BYTES: usize = 128;

/// Function words that would match nearly every chunk, and the words questions are made of ("how
/// do I…", "what is my…"), which would otherwise match every FAQ. Kept short: words such as "it",
/// "us", "as" or "may" are left in because lower-casing makes them indistinguishable from IT, US,
/// AS or May.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "at", "be", "by", "can", "could", "did", "do", "does", "for", "from",
    "has", "have", "how", "i", "in", "is", "me", "my", "of", "on", "should", "the", "this", "that",
    "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "with", "would",
    "you", "your",
];

/// Chinese particles, pronouns, connectives and question words as jieba cuts them out.
#[rustfmt::skip]
const CHINESE_STOP_WORDS: &[&str] = &[
    "的", "地", "得", "了", "着", "过", "是", "在", "和", "与", "及", "或", "而", "也", "都", "就",
    "又", "还", "之", "其", "此", "这", "那", "我", "你", "他", "她", "它", "们", "有", "被", "把",
    "对", "从", "向", "以", "于", "为", "个", "吗", "呢", "吧", "啊", "呀", "哦", "么", "所", "等",
    "则", "即", "但", "并", "且", "我们", "你们", "他们", "她们", "它们", "这个", "那个", "这些",
    "那些", "一个", "以及", "或者", "因为", "所以", "如果", "但是", "而且", "并且", "然后",
    "什么", "怎么", "怎样", "如何", "哪些", "为什么",
];

/// The words a text is indexed and searched by, space-separated, lower-case: jieba (search mode)
/// for runs of CJK characters, lower-cased alphanumeric words for other scripts; punctuation
/// dropped. The SAME function runs at ingest time (stored as a PostgreSQL `simple` tsvector via
/// to_tsvector('simple', …)) and at query time.
///
/// Repeated words are kept, so that ranking can count them.
pub fn keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    each_word(text, |word| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    });
    out
}

/// The query-side list of terms (deduplicated, order kept), for building a tsquery with bound
/// parameters.
pub fn terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    each_word(text, |word| {
        // Queries are short: a linear scan beats hashing, and keeps the order.
        if !terms.iter().any(|term| term == word) {
            terms.push(word.to_owned());
        }
    });
    terms
}

/// Calls `emit` with every word of `text`, in order.
fn each_word(text: &str, mut emit: impl FnMut(&str)) {
    let text = fold(text);
    let mut emit_kept = |word: &str, stop_words: &[&str]| {
        if !word.is_empty() && word.len() <= MAX_WORD_BYTES && !stop_words.contains(&word) {
            emit(word);
        }
    };
    let mut rest = text.as_str();
    while let Some(first) = rest.chars().next() {
        let end = if is_han(first) {
            let end = rest.find(|c: char| !is_han(c)).unwrap_or(rest.len());
            // A word missing from jieba's dictionary comes out as single characters (年假 as 年,
            // 假), which would match every text with either character. So two adjacent single
            // characters, neither a stop word, are also emitted as a pair: the pair is then a
            // word at index and query time alike.
            let mut previous_single: Option<(usize, &str)> = None;
            for token in JIEBA.cut_for_search(&rest[..end], true) {
                emit_kept(token.word, CHINESE_STOP_WORDS);
                let single =
                    token.end == token.start + 1 && !CHINESE_STOP_WORDS.contains(&token.word);
                if let Some((previous_end, previous)) = previous_single
                    && single
                    && previous_end == token.start
                {
                    emit_kept(&format!("{previous}{}", token.word), CHINESE_STOP_WORDS);
                }
                previous_single = single.then_some((token.end, token.word));
            }
            end
        } else if first.is_alphanumeric() {
            let end = rest
                .find(|c: char| !c.is_alphanumeric() || is_han(c))
                .unwrap_or(rest.len());
            emit_kept(&rest[..end], ENGLISH_STOP_WORDS);
            end
        } else {
            first.len_utf8()
        };
        rest = &rest[end..];
    }
}

/// Lower-cases, and folds full-width ASCII (common in Chinese documents: ＡＰＩ, ２０２４) to
/// ASCII, so both spellings are one word.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match u32::from(c) {
            code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Han characters, as jieba's dictionary covers them: the unified ideographs and their
/// extensions, and the compatibility ideographs.
fn is_han(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_plain_word(term: &str) -> bool {
        !term.is_empty() && term.chars().all(char::is_alphanumeric)
    }

    #[test]
    fn a_chinese_sentence_is_cut_into_words() {
        let terms = terms("员工每年享有二十天带薪年假");

        for word in ["员工", "带薪", "年假"] {
            assert!(
                terms.iter().any(|t| t == word),
                "{word} missing from {terms:?}"
            );
        }
    }

    #[test]
    fn a_mixed_sentence_yields_lower_case_english_words_and_chinese_words() {
        let terms = terms("Model Studio 的 API 限流");

        for word in ["model", "studio", "api", "限流"] {
            assert!(
                terms.iter().any(|t| t == word),
                "{word} missing from {terms:?}"
            );
        }
        assert!(!terms.iter().any(|t| t == "的"), "{terms:?}");
    }

    #[test]
    fn chinese_particles_and_punctuation_do_not_become_terms() {
        let terms = terms("我的年假是多少？请在系统里查询，谢谢。");

        for word in ["我", "的", "是", "在", "？", "，", "。"] {
            assert!(!terms.iter().any(|t| t == word), "{word} in {terms:?}");
        }
        assert!(terms.iter().any(|t| t == "年假"), "{terms:?}");
    }

    #[test]
    fn a_hostile_string_yields_only_plain_words() {
        let terms = terms(r"a' & b | !c:* <-> (d) \e");

        // "a" is an English stop word.
        assert_eq!(terms, ["b", "c", "d", "e"]);
    }

    #[test]
    fn tsquery_operators_never_survive_in_any_term() {
        let text = r#"x&y|z!w(v)u:t*s<r>q'p\o "n" `m` ~l @k #j $i %h ^g =f +e ?d ,c ;b [a] {z}"#;

        let terms = terms(text);

        assert!(!terms.is_empty());
        assert!(terms.iter().all(|t| is_plain_word(t)), "{terms:?}");
    }

    #[test]
    fn empty_or_punctuation_only_text_yields_nothing() {
        for text in ["", "   ", "，。！？…—“”", "&|!():*<>'\\", "\n\t"] {
            assert_eq!(keywords(text), "", "{text:?}");
            assert!(terms(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn terms_are_deduplicated_in_order_while_keywords_keep_repeats() {
        let text = "Leave policy: leave requests, LEAVE balance.";

        assert_eq!(terms(text), ["leave", "policy", "requests", "balance"]);
        assert_eq!(keywords(text), "leave policy leave requests leave balance");
    }

    #[test]
    fn full_width_letters_and_digits_are_the_same_words_as_ascii() {
        assert_eq!(terms("ＡＰＩ　２０２４"), terms("API 2024"));
    }

    #[test]
    fn words_joined_by_punctuation_are_split_into_plain_words() {
        assert_eq!(
            terms("model-studio v3.14 user_id"),
            ["model", "studio", "v3", "14", "user", "id"]
        );
    }

    #[test]
    fn a_long_run_of_characters_is_not_a_word() {
        let blob = "q".repeat(MAX_WORD_BYTES + 1);
        let sha512 = "a".repeat(128);

        assert_eq!(terms(&format!("{blob} key")), ["key"]);
        assert_eq!(terms(&sha512), [sha512]);
    }

    #[test]
    fn a_word_missing_from_the_dictionary_is_found_as_a_pair_of_characters() {
        // jieba's dictionary lacks 年假 and cuts it into 年 and 假.
        let document = keywords("员工每年享有二十天带薪年假");
        let query = terms("年假");

        assert!(query.iter().any(|t| t == "年假"), "{query:?}");
        assert!(document.split(' ').any(|w| w == "年假"), "{document}");
    }

    #[test]
    fn stop_characters_do_not_pair_up() {
        let terms = terms("我的年假是多少");

        assert!(
            !terms
                .iter()
                .any(|t| t == "我的" || t == "的年" || t == "假是"),
            "{terms:?}"
        );
    }

    #[test]
    fn a_compound_chinese_word_also_yields_its_parts() {
        let terms = terms("中华人民共和国个人信息保护法");

        for word in ["中华", "人民", "共和国", "个人信息", "保护法"] {
            assert!(
                terms.iter().any(|t| t == word),
                "{word} missing from {terms:?}"
            );
        }
    }

    #[test]
    fn keywords_are_the_terms_with_their_repeats_for_any_text() {
        let samples = [
            "员工每年享有二十天带薪年假，年假可顺延。",
            "PostgreSQL + pgvector 的 HNSW 索引（m=16, ef_construction=64）",
            "Ünïcödé naïve café ΑΒΓ абв 東京は日本の首都です 한국어 문장",
            "😀 emoji 🎉 and symbols ∀x∈ℝ → ok",
        ];
        for text in samples {
            let keywords = keywords(text);
            let terms = terms(text);
            let mut seen: Vec<&str> = Vec::new();
            for word in keywords.split(' ') {
                assert!(is_plain_word(word), "{word:?} in {keywords:?}");
                if !seen.contains(&word) {
                    seen.push(word);
                }
            }
            assert_eq!(seen, terms, "{text:?}");
        }
    }
}
