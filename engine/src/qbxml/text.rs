//! Small text helpers shared by the qbXML reader and the simulator: entity references and
//! escaping.

use quick_xml::events::BytesRef;

/// The character an entity reference (`&amp;`, `&#233;`, `&#xE9;`) stands for, or `None`
/// for a reference qbXML cannot contain (anything but the five predefined entities and
/// character references — there is no DTD to define others).
pub(crate) fn resolve_ref(r: &BytesRef<'_>) -> Option<char> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten();
    }
    match &*r.xml10_content() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Escapes text for element content or a double-quoted attribute value.
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}
