//! Quotation marks and brackets, in pairs: one table for the crate. The sentence splitter keeps a
//! closing mark that follows a full stop with the sentence it closes (`“不可以。”`, `(see Workday.)`).

/// Opening and closing marks, as pairs. The straight quotes `"` and `'` open and close alike, so
/// they are both.
///
/// ASCII: `( )`, `[ ]`, `{ }`, `" "`, `' '`. Typographic: `“ ”`, `‘ ’`. CJK: corner brackets
/// `「 」` and `『 』`, full-width `（ ）`, `［ ］`, `｛ ｝`, book-title marks `《 》` and `〈 〉`,
/// lenticular `【 】` and `〖 〗`, tortoise-shell `〔 〕`.
pub const PAIRS: &[(char, char)] = &[
    ('(', ')'),
    ('[', ']'),
    ('{', '}'),
    ('"', '"'),
    ('\'', '\''),
    ('“', '”'),
    ('‘', '’'),
    ('「', '」'),
    ('『', '』'),
    ('（', '）'),
    ('［', '］'),
    ('｛', '｝'),
    ('《', '》'),
    ('〈', '〉'),
    ('【', '】'),
    ('〖', '〗'),
    ('〔', '〕'),
];

/// Whether `c` closes a quotation or a bracket.
pub fn is_closing(c: char) -> bool {
    PAIRS.iter().any(|&(_, close)| close == c)
}

/// Whether `c` opens a quotation or a bracket.
pub fn is_opening(c: char) -> bool {
    PAIRS.iter().any(|&(open, _)| open == c)
}

/// The mark that closes what `open` opens, if it opens anything.
pub fn closing_of(open: char) -> Option<char> {
    PAIRS
        .iter()
        .find(|&&(o, _)| o == open)
        .map(|&(_, close)| close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_marks_of_both_scripts_are_recognised() {
        for c in [
            '"', '\'', ')', ']', '}', '”', '’', '」', '』', '）', '》', '】', '〉',
        ] {
            assert!(is_closing(c), "{c:?}");
        }
        for c in ['(', '“', '「', 'a', '。', '.', ','] {
            assert!(!is_closing(c), "{c:?}");
        }
    }

    #[test]
    fn opening_marks_pair_with_their_closing_marks() {
        assert!(is_opening('“') && is_opening('「') && is_opening('('));
        assert!(!is_opening('”') && !is_opening('a'));
        assert_eq!(closing_of('「'), Some('」'));
        assert_eq!(closing_of('"'), Some('"'));
        assert_eq!(closing_of('a'), None);
        assert!(
            PAIRS
                .iter()
                .all(|&(open, close)| is_opening(open) && is_closing(close))
        );
    }
}
