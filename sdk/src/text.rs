//! Text policy: make any Rust string fit a qbXML text field (ISO-8859-1 only, bounded length).
//!
//! QuickBooks Desktop reads qbXML text as ISO-8859-1: a character outside it makes the whole
//! request fail ("QuickBooks found an error when parsing the provided XML") or silently become
//! `?`. Every field also has a maximum length from the XSD, and an over-long value is refused
//! with status 3070. Rather than let a source record fail in QuickBooks, the builders pass each
//! value through [`fit`] with the field's limit and the plugin's [`TextPolicy`]; whatever had to
//! change is reported as a human-readable note.
//!
//! Characters that *are* ISO-8859-1 (`é`, `Ü`, `ß`, `£`, `©` …) are kept as they are.

use std::fmt;

/// What to do with text that does not fit a qbXML field as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextPolicy {
    /// Make the text fit and report every change (the default):
    /// characters outside ISO-8859-1 are transliterated (see [`transliterate`]), control
    /// characters other than tab, CR and LF are removed, and over-long text is truncated to the
    /// field's maximum number of characters.
    #[default]
    Transliterate,
    /// Strict: any text that would have to change (non-Latin-1, control characters or too long)
    /// is an error naming the field, and nothing is sent.
    Reject,
}

/// Why a value could not be used under [`TextPolicy::Reject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// The value holds characters QuickBooks cannot take (outside ISO-8859-1, or control
    /// characters).
    NotLatin1,
    /// The value is longer than the field allows.
    TooLong {
        /// Characters in the value (after transliteration).
        len: usize,
        /// The field's maximum.
        max: usize,
    },
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextProblem::NotLatin1 => {
                f.write_str("holds characters outside ISO-8859-1 or control characters")
            }
            TextProblem::TooLong { len, max } => {
                write!(f, "is {len} characters long, the field allows {max}")
            }
        }
    }
}

/// The outcome of fitting one value into a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// The value to send.
    pub text: String,
    /// Characters were replaced or removed.
    pub replaced: bool,
    /// The value was cut to the field's maximum length.
    pub truncated: bool,
}

impl Fitted {
    /// Whether the value differs from the input.
    pub fn changed(&self) -> bool {
        self.replaced || self.truncated
    }
}

/// Fit `value` into a field of at most `max` characters under `policy`.
///
/// ```
/// use qbridge_sdk::text::{fit, TextPolicy};
/// let f = fit("Café – “Ltd”", 41, TextPolicy::Transliterate).unwrap();
/// assert_eq!(f.text, "Café - \"Ltd\"");
/// assert!(f.replaced && !f.truncated);
/// ```
pub fn fit(value: &str, max: usize, policy: TextPolicy) -> Result<Fitted, TextProblem> {
    // Stream and stop at the limit, so a megabyte memo costs `max` characters of work.
    let mut text = String::with_capacity(value.len().min(max.saturating_mul(2)));
    let mut count = 0;
    let mut replaced = false;
    let mut truncated = false;
    let mut piece = String::new();
    for c in value.chars() {
        piece.clear();
        push_latin1(c, &mut piece);
        replaced |= piece.len() != c.len_utf8() || !piece.starts_with(c);
        for t in piece.chars() {
            if count == max {
                truncated = true;
                break;
            }
            text.push(t);
            count += 1;
        }
        if truncated {
            break;
        }
    }
    if policy == TextPolicy::Reject {
        if truncated {
            let whole = transliterate(value);
            return Err(if whole != value {
                TextProblem::NotLatin1
            } else {
                TextProblem::TooLong {
                    len: whole.chars().count(),
                    max,
                }
            });
        }
        if replaced {
            return Err(TextProblem::NotLatin1);
        }
    }
    Ok(Fitted {
        text,
        replaced,
        truncated,
    })
}

/// Replace every character QuickBooks cannot store with its closest ISO-8859-1 rendering.
///
/// - ISO-8859-1 printable characters, tab, CR and LF are kept.
/// - Other control characters (C0, DEL, C1) and invisible format characters (zero-width
///   space and joiner, byte-order mark, variation selectors) are removed.
/// - Typographic punctuation becomes ASCII: curly quotes → `'` / `"`, dashes and minus → `-`,
///   `…` → `...`, `•` → `*`, unusual spaces → space; `€` → `EUR`, `™` → `TM`.
/// - Latin letters with accents outside Latin-1 lose the accent (`Ł` → `L`, `ő` → `o`,
///   `š` → `s`), ligatures are spelled out (`œ` → `oe`).
/// - Emoji and pictographs are removed.
/// - Anything else (CJK, Cyrillic, …) becomes `?`, as QuickBooks itself would show it.
pub fn transliterate(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        push_latin1(c, &mut out);
    }
    out
}

fn push_latin1(c: char, out: &mut String) {
    let code = c as u32;
    match code {
        0x09 | 0x0A | 0x0D => out.push(c),
        0x00..=0x1F | 0x7F..=0x9F => {}
        0x20..=0x7E | 0xA0..=0xFF => out.push(c),
        0x0100..=0x017F => match c {
            'Ĳ' => out.push_str("IJ"),
            'ĳ' => out.push_str("ij"),
            'Œ' => out.push_str("OE"),
            'œ' => out.push_str("oe"),
            _ => out.push(LATIN_EXTENDED_A_BASE[(code - 0x0100) as usize] as char),
        },
        _ => match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{2039}'
            | '\u{203A}' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => out.push('"'),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push('-'),
            '\u{2026}' => out.push_str("..."),
            '\u{2022}' | '\u{2023}' | '\u{2043}' => out.push('*'),
            '\u{20AC}' => out.push_str("EUR"),
            '\u{2122}' => out.push_str("TM"),
            '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => out.push(' '),
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}' => {}
            '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}' => {}
            _ => out.push('?'),
        },
    }
}

/// Base letters of U+0100..=U+017F (Latin Extended-A), one per code point; the four
/// ligatures are spelled out before this table is consulted (their slots hold `_`).
const LATIN_EXTENDED_A_BASE: &[u8; 128] = b"AaAaAaCcCcCcCcDd\
DdEeEeEeEeEeGgGg\
GgGgHhHhIiIiIiIi\
Ii__JjKkkLlLlLlL\
lLlNnNnNnnNnOoOo\
Oo__RrRrRrSsSsSs\
SsTtTtTtUuUuUuUu\
UuUuWwYyYZzZzZzs";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_letters_are_kept() {
        assert_eq!(
            transliterate("Café Ünïcode ß £ © ½"),
            "Café Ünïcode ß £ © ½"
        );
    }

    #[test]
    fn typographic_punctuation_becomes_ascii() {
        assert_eq!(
            transliterate("‘a’ “b” c–d—e … € ™ •"),
            "'a' \"b\" c-d-e ... EUR TM *"
        );
    }

    #[test]
    fn accented_letters_outside_latin1_lose_the_accent() {
        assert_eq!(transliterate("Łódź Škoda Œuvre ő"), "Lódz Skoda OEuvre o");
    }

    #[test]
    fn emoji_and_invisible_characters_are_removed() {
        assert_eq!(transliterate("Go 👍🏽 team\u{200D}\u{FE0F}!"), "Go  team!");
    }

    #[test]
    fn control_characters_are_removed_but_line_breaks_kept() {
        assert_eq!(
            transliterate("a\u{0}b\u{1B}c\u{85}d\te\r\nf"),
            "abcd\te\r\nf"
        );
    }

    #[test]
    fn other_scripts_become_question_marks() {
        assert_eq!(transliterate("東京 Москва"), "?? ??????");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let f = fit("ééééé", 3, TextPolicy::Transliterate).unwrap();
        assert_eq!(f.text, "ééé");
        assert!(f.truncated && !f.replaced);
    }

    #[test]
    fn reject_refuses_long_or_non_latin1_text() {
        assert_eq!(
            fit("abcd", 3, TextPolicy::Reject),
            Err(TextProblem::TooLong { len: 4, max: 3 })
        );
        assert_eq!(
            fit("a–b", 9, TextPolicy::Reject),
            Err(TextProblem::NotLatin1)
        );
        assert_eq!(fit("Café", 4, TextPolicy::Reject).unwrap().text, "Café");
    }

    #[test]
    fn the_table_maps_every_latin_extended_a_letter_to_a_letter() {
        for code in 0x0100u32..=0x017F {
            let c = char::from_u32(code).unwrap();
            let t = transliterate(&c.to_string());
            assert!(
                !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic()),
                "{c} -> {t}"
            );
        }
    }
}
