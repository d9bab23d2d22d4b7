//! Which script a character belongs to, as far as text handling cares: whether words are written
//! with spaces between them. One table for the whole crate: the parsers join a line wrap between
//! two such characters without a space, the context builder tells a word boundary from a run of
//! ideographs, and the keyword analyzer ([`super::segment`]) cuts Han runs into bigrams.

/// Whether `c` belongs to a script written without spaces between words (Chinese, Japanese), or is
/// punctuation of such text, so that two of them side by side join with nothing between them, and
/// a line break between them was only a wrap.
///
/// The table, by Unicode block:
///
/// | range | what |
/// |---|---|
/// | U+2E80–U+2FDF | CJK radicals supplement, Kangxi radicals |
/// | U+3000–U+303F | CJK symbols and punctuation (`。`, `、`, `「」`, the ideographic space) |
/// | U+3040–U+30FF | hiragana, katakana |
/// | U+3100–U+312F, U+31A0–U+31BF | bopomofo, bopomofo extended |
/// | U+31C0–U+31FF | CJK strokes, katakana phonetic extensions |
/// | U+3400–U+4DBF | CJK unified ideographs extension A |
/// | U+4E00–U+9FFF | CJK unified ideographs |
/// | U+F900–U+FAFF | CJK compatibility ideographs |
/// | U+FE30–U+FE4F | CJK compatibility forms (vertical punctuation) |
/// | U+FF00–U+FFEF | half-width and full-width forms (`，`, `！`, `ＡＰＩ`, half-width katakana) |
/// | U+1B000–U+1B16F | kana supplement and extended |
/// | U+20000–U+3FFFF | ideographs of extension B and later, compatibility supplement |
///
/// Hangul is not in it: Korean puts spaces between words. Every [`is_han`] character is in it.
pub fn is_cjk(c: char) -> bool {
    matches!(
        u32::from(c),
        0x2E80..=0x2FDF
            | 0x3000..=0x303F
            | 0x3040..=0x30FF
            | 0x3100..=0x312F
            | 0x31A0..=0x31BF
            | 0x31C0..=0x31FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFFEF
            | 0x1B000..=0x1B16F
            | 0x20000..=0x3FFFF
    )
}

/// Han characters only, the narrower set the keyword analyzer makes bigrams of: the unified
/// ideographs and their extensions A to F, and the compatibility ideographs. Part of the analyzer's
/// rules ([`super::segment::ANALYZER_VERSION`]): changing it changes stored terms.
pub fn is_han(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF | 0x2F800..=0x2FA1F
    )
}

/// Whether a line break (or other whitespace) between `before` and `after` is only a wrap that
/// joins them with nothing: both are [`is_cjk`]. Between anything else it stands for a space.
pub fn joins_without_space(before: char, after: char) -> bool {
    is_cjk(before) && is_cjk(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_japanese_and_their_punctuation_are_cjk_and_other_scripts_are_not() {
        for c in [
            '中', '文', '。', '，', '、', '「', '」', 'か', 'カ', 'ㄅ', '㐀', '𠀀', '！', '？',
            'Ａ', '\u{3000}',
        ] {
            assert!(is_cjk(c), "{c:?}");
        }
        for c in [
            'a', 'Z', '1', '.', ',', ' ', 'é', 'Ж', 'α', '한', '😀', '—', '…',
        ] {
            assert!(!is_cjk(c), "{c:?}");
        }
    }

    #[test]
    fn han_is_the_ideographs_only() {
        for c in ['中', '㐀', '𠀀', '豈'] {
            assert!(is_han(c), "{c:?}");
        }
        for c in ['。', 'か', 'カ', 'ㄅ', '，', 'Ａ', 'a', '한'] {
            assert!(!is_han(c), "{c:?}");
        }
    }

    #[test]
    fn every_han_character_is_cjk() {
        let failures: Vec<char> = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|&c| is_han(c) && !is_cjk(c))
            .collect();

        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn only_two_cjk_characters_join_without_a_space() {
        assert!(joins_without_space('中', '文'));
        assert!(joins_without_space('。', '下'));
        assert!(!joins_without_space('中', 'a'));
        assert!(!joins_without_space('a', '中'));
        assert!(!joins_without_space('a', 'b'));
    }
}
