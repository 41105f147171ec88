//! The writer every builder emits through: escaping, per-field text policy, numbers, and the
//! notes and first error of one build.
//!
//! Builders call the writer in schema order; the writer guarantees well-formed output whatever
//! the input: every text value goes through [`crate::text::fit`] (which removes control
//! characters and anything outside ISO-8859-1) and then [`escape`]. Errors do not stop the
//! walk: the first one is kept and returned by [`Writer::finish`], so builders need no `?`
//! plumbing.

use crate::amount::Amount;
use crate::text::{Fitted, TextPolicy, fit};

use super::common::{BuildError, Built};

/// Longest original value quoted in a note; the rest is elided so notes stay readable.
const NOTE_QUOTE_CHARS: usize = 60;

/// Escape the five XML special characters. The input must already be free of control
/// characters (see [`crate::text::transliterate`]).
pub(crate) fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// One build in progress.
pub(crate) struct Writer {
    out: String,
    policy: TextPolicy,
    /// Where we are, for notes and errors: `["InvoiceAdd", "InvoiceLineAdd[2]"]`.
    path: Vec<String>,
    notes: Vec<String>,
    error: Option<BuildError>,
    /// Closing tags of the request wrapper(s).
    tail: String,
}

impl Writer {
    /// `<XxxRq><Xxx>` … for an add or mod request named `name` (`CustomerAdd`).
    pub(crate) fn add(name: &str, policy: TextPolicy) -> Writer {
        Writer {
            out: format!("<{name}Rq><{name}>"),
            policy,
            path: vec![name.to_owned()],
            notes: Vec::new(),
            error: None,
            tail: format!("</{name}></{name}Rq>"),
        }
    }

    /// `<XxxRq>` … for a query named `name` (`CustomerQuery`), whose fields sit in the Rq.
    pub(crate) fn query(name: &str, policy: TextPolicy) -> Writer {
        Writer {
            out: format!("<{name}Rq>"),
            policy,
            path: vec![name.to_owned()],
            notes: Vec::new(),
            error: None,
            tail: format!("</{name}Rq>"),
        }
    }

    /// Bytes written so far, to tell whether a part of the request produced anything.
    pub(crate) fn written(&self) -> usize {
        self.out.len()
    }

    /// The finished request, or the first error met.
    pub(crate) fn finish(mut self) -> Result<Built, BuildError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.push_str(&self.tail);
        Ok(Built {
            qbxml: self.out,
            notes: self.notes,
        })
    }

    /// Record an error (the first one wins).
    pub(crate) fn fail(&mut self, error: BuildError) {
        self.error.get_or_insert(error);
    }

    /// The field `tag` at the current position, e.g. `InvoiceAdd InvoiceLineAdd[2] Desc`.
    pub(crate) fn field(&self, tag: &str) -> String {
        let mut f = self.path.join(" ");
        if !tag.is_empty() {
            f.push(' ');
            f.push_str(tag);
        }
        f
    }

    /// An aggregate element; left out entirely when `body` writes nothing into it.
    pub(crate) fn element(&mut self, tag: &str, body: impl FnOnce(&mut Writer)) {
        self.scoped(tag, tag.to_owned(), body);
    }

    /// The `index`-th (0-based) repeated aggregate, named `Tag[n]` (1-based) in notes.
    pub(crate) fn item(&mut self, tag: &str, index: usize, body: impl FnOnce(&mut Writer)) {
        self.scoped(tag, format!("{tag}[{}]", index + 1), body);
    }

    fn scoped(&mut self, tag: &str, label: String, body: impl FnOnce(&mut Writer)) {
        let start = self.out.len();
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        let inner = self.out.len();
        self.path.push(label);
        body(self);
        self.path.pop();
        if self.out.len() == inner {
            self.out.truncate(start);
        } else {
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
    }

    /// A value that is already valid text for the field (enumerations, numbers, dates).
    pub(crate) fn raw(&mut self, tag: &str, value: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        escape(value, &mut self.out);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// Fit `value` into `max` characters under the policy, noting any change; `None` when the
    /// value is refused (the error is recorded).
    pub(crate) fn fitted(&mut self, tag: &str, value: &str, max: usize) -> Option<String> {
        match fit(value, max, self.policy) {
            Ok(f) => {
                self.note_change(tag, value, &f);
                Some(f.text)
            }
            Err(problem) => {
                let field = self.field(tag);
                self.fail(BuildError::Text { field, problem });
                None
            }
        }
    }

    fn note_change(&mut self, tag: &str, original: &str, fitted: &Fitted) {
        if !fitted.changed() {
            return;
        }
        let mut why = Vec::new();
        if fitted.replaced {
            why.push("non-Latin-1 replaced".to_owned());
        }
        if fitted.truncated {
            why.push(format!(
                "truncated to {} characters",
                fitted.text.chars().count()
            ));
        }
        let note = format!(
            "{}: {} → {} ({})",
            self.field(tag),
            quote(original),
            quote(&fitted.text),
            why.join(", ")
        );
        self.notes.push(note);
    }

    /// An optional text field of at most `max` characters; empty text is left out.
    pub(crate) fn text(&mut self, tag: &str, value: Option<&str>, max: usize) {
        let Some(value) = value else { return };
        if let Some(text) = self.fitted(tag, value, max)
            && !text.is_empty()
        {
            self.raw(tag, &text);
        }
    }

    /// A required text field: empty (or emptied by the policy) is an error.
    pub(crate) fn required_text(&mut self, tag: &str, value: &str, max: usize) {
        if let Some(text) = self.fitted(tag, value, max) {
            if text.trim().is_empty() {
                let field = self.field(tag);
                self.fail(BuildError::Empty { field });
            } else {
                self.raw(tag, &text);
            }
        }
    }

    /// A QuickBooks id (ListID, TxnID, EditSequence): printable ASCII of at most `max`
    /// characters, never altered.
    pub(crate) fn id(&mut self, tag: &str, value: &str, max: usize) {
        if value.is_empty() || value.len() > max || !value.chars().all(|c| c.is_ascii_graphic()) {
            let field = self.field(tag);
            self.fail(BuildError::InvalidId {
                field,
                value: value.chars().take(NOTE_QUOTE_CHARS).collect(),
                max,
            });
        } else {
            self.raw(tag, value);
        }
    }

    /// An optional boolean.
    pub(crate) fn boolean(&mut self, tag: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.raw(tag, if v { "true" } else { "false" });
        }
    }

    /// An optional AMTTYPE (2 decimals), noting rounding.
    pub(crate) fn amount(&mut self, tag: &str, value: Option<Amount>) {
        self.number(tag, value, 2, Amount::to_qb_amount);
    }

    /// An optional PRICETYPE or QUANTYPE (≤ 5 decimals), noting rounding.
    pub(crate) fn price(&mut self, tag: &str, value: Option<Amount>) {
        self.number(tag, value, 5, Amount::to_qb_price);
    }

    fn number(
        &mut self,
        tag: &str,
        value: Option<Amount>,
        decimals: u32,
        format: fn(&Amount) -> Result<String, crate::amount::AmountError>,
    ) {
        let Some(value) = value else { return };
        match format(&value) {
            Ok(text) => {
                if value.rounded(decimals) != value {
                    let note = format!(
                        "{}: {value} → {text} (rounded half away from zero to {decimals} decimals)",
                        self.field(tag)
                    );
                    self.notes.push(note);
                }
                self.raw(tag, &text);
            }
            Err(source) => {
                let field = self.field(tag);
                self.fail(BuildError::Amount { field, source });
            }
        }
    }
}

/// `"text"`, cut to [`NOTE_QUOTE_CHARS`] characters with an ellipsis.
fn quote(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(NOTE_QUOTE_CHARS).collect();
    let more = if chars.next().is_some() { "…" } else { "" };
    format!("{head:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_special_characters_are_escaped() {
        let mut out = String::new();
        escape(r#"A&B <c> "d" 'e'"#, &mut out);
        assert_eq!(out, "A&amp;B &lt;c&gt; &quot;d&quot; &apos;e&apos;");
    }

    #[test]
    fn empty_aggregates_are_left_out() {
        let mut w = Writer::query("HostQuery", TextPolicy::Transliterate);
        w.element("Outer", |w| w.text("Inner", None, 5));
        assert_eq!(w.finish().unwrap().qbxml, "<HostQueryRq></HostQueryRq>");
    }

    #[test]
    fn notes_name_the_field_and_the_change() {
        let mut w = Writer::add("CustomerAdd", TextPolicy::Transliterate);
        w.text("Name", Some("Café Ünïcode – Ltd"), 41);
        let built = w.finish().unwrap();
        assert_eq!(
            built.notes,
            [
                r#"CustomerAdd Name: "Café Ünïcode – Ltd" → "Café Ünïcode - Ltd" (non-Latin-1 replaced)"#
            ]
        );
    }
}
