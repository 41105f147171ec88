//! Pieces shared by every builder: the build result and error, references, addresses, dates,
//! GUIDs, `Parent:Child` names and the setter macro.

use std::fmt;

use crate::Request;
use crate::amount::AmountError;
use crate::text::TextProblem;

use super::xml::Writer;

/// The maximum length of a ListID or TxnID (IDTYPE).
pub(crate) const ID_MAX: usize = 36;

/// A finished qbXML request: one `<XxxRq>…</XxxRq>` element without `requestID`, and what the
/// SDK changed to make the data fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The request element, ready for [`Request::qbxml`] or [`Request::probe`].
    pub qbxml: String,
    /// Human-readable notes on every transliterated, truncated or rounded value, e.g.
    /// `CustomerAdd Name: "Café – Ltd" → "Café - Ltd" (non-Latin-1 replaced)`.
    pub notes: Vec<String>,
}

impl Built {
    /// A [`Request`] with this qbXML and notes under the idempotency `key`; set
    /// `depends_on`, `probe` and `adopt_existing` on the result as needed.
    pub fn into_request(self, key: impl Into<String>) -> Request {
        let mut request = Request::new(key, self.qbxml);
        request.notes = self.notes;
        request
    }

    /// The text of the first `<tag>` element as written (after fitting and transliteration),
    /// unescaped — e.g. the `Name` a probe must look up, which may differ from the source's.
    pub fn text_of(&self, tag: &str) -> Option<String> {
        element_text(&self.qbxml, tag)
    }
}

/// The text of the first `<tag>` in a qbXML fragment, unescaped (character references too) —
/// for a `…Ret` in a response, its own `TxnID`/`ListID`/`Memo`, which come before any line's.
pub fn element_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(unescape(&xml[start..end]))
}

/// XML character and entity references → text.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why a builder refused to produce a request. `field` names the element path, e.g.
/// `InvoiceAdd InvoiceLineAdd[2] Desc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Text that the strict policy ([`crate::text::TextPolicy::Reject`]) refuses, or a
    /// reference name too long under any policy.
    #[error("{field} {problem}: fix the source value or build with TextPolicy::Transliterate")]
    Text {
        /// The field.
        field: String,
        /// What is wrong with the text.
        problem: TextProblem,
    },
    /// A required value is empty, or held only characters QuickBooks cannot store.
    #[error("{field} is empty (or held only characters QuickBooks cannot store): give it a value")]
    Empty {
        /// The field.
        field: String,
    },
    /// A name with an empty `Parent:Child` segment, or with `:` although a parent is given.
    #[error(
        "{field} {value:?}: ':' separates parent and child names (Parent:Child), so a single name may not contain it and no part may be empty"
    )]
    Colon {
        /// The field.
        field: String,
        /// The name given.
        value: String,
    },
    /// An amount, price or quantity QuickBooks cannot store.
    #[error("{field}: {source}")]
    Amount {
        /// The field.
        field: String,
        /// What is wrong with the number.
        source: AmountError,
    },
    /// A ListID, TxnID or EditSequence that cannot be one.
    #[error(
        "{field} {value:?} is not a QuickBooks id: use the 1 to {max} printable ASCII characters QuickBooks returned"
    )]
    InvalidId {
        /// The field.
        field: String,
        /// The value given (cut to 60 characters).
        value: String,
        /// The field's maximum length.
        max: usize,
    },
    /// An ExternalGUID not of the form `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`.
    #[error(
        "{field} {value:?} is not a GUID like {{8-4-4-4-12 hex digits}}: make it with qbridge_sdk::id::external_guid"
    )]
    InvalidGuid {
        /// The field.
        field: String,
        /// The value given.
        value: String,
    },
    /// A part the request cannot go without, e.g. an invoice without lines.
    #[error("{request} needs {what}")]
    Missing {
        /// The request type.
        request: String,
        /// What is missing.
        what: &'static str,
    },
    /// A journal entry whose debits and credits differ (after rounding to cents).
    #[error(
        "JournalEntryAdd is unbalanced: debits total {debits}, credits total {credits}; they must be equal"
    )]
    Unbalanced {
        /// Sum of the debit lines.
        debits: String,
        /// Sum of the credit lines.
        credits: String,
    },
}

/// `?` on a builder inside `map`: the record is refused with the qbXML field at fault and the
/// reason (the source field is not known here; name it with [`crate::MapError::field`] when
/// the mapper knows which one fed the element).
impl From<BuildError> for crate::MapError {
    fn from(e: BuildError) -> crate::MapError {
        crate::MapError::new(format!("cannot be written as qbXML: {e}"))
    }
}

/// A reference to a QuickBooks list record (`CustomerRef`, `ItemRef`, `AccountRef` …).
/// Prefer [`Ref::list_id`] once the ListID is known: names can be renamed, ids cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// By ListID (`80000001-1234567890`).
    ListId(String),
    /// By full name, `Parent:Child` for sub-records (`Acme:Project X`, `Expenses:Travel`).
    FullName(String),
}

impl Ref {
    /// A reference by ListID.
    pub fn list_id(id: impl Into<String>) -> Ref {
        Ref::ListId(id.into())
    }

    /// A reference by full name. Each `:`-separated part is fitted like the name it refers to
    /// (41 characters for customers and vendors, 31 for items, accounts and classes), so a
    /// reference finds a record whose over-long name the SDK truncated when adding it.
    pub fn full_name(name: impl Into<String>) -> Ref {
        Ref::FullName(name.into())
    }
}

/// A postal address (`BillAddress`, `ShipAddress`, `VendorAddress`, `Address`). Every field
/// is optional; text is fitted to the XSD limits (lines 41, City 31, State 21, PostalCode 13,
/// Country 31, Note 41).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// First line.
    pub addr1: Option<String>,
    /// Second line.
    pub addr2: Option<String>,
    /// Third line.
    pub addr3: Option<String>,
    /// Fourth line.
    pub addr4: Option<String>,
    /// Fifth line.
    pub addr5: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Postal or ZIP code.
    pub postal_code: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// A note printed with the address.
    pub note: Option<String>,
}

/// A calendar date (DATETYPE, written `YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a date: write YYYY-MM-DD (a time after it, as in 2025-03-01T00:00:00Z, is ignored)"
)]
pub struct DateError(String);

impl Date {
    /// The date `year-month-day`, checked against the calendar (years 1000 to 9999).
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, DateError> {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        if (1000..=9999).contains(&year) && (1..=days).contains(&day) {
            Ok(Date { year, month, day })
        } else {
            Err(DateError(format!("{year:04}-{month:02}-{day:02}")))
        }
    }

    /// Parse `YYYY-MM-DD`, or the date part of an ISO 8601 timestamp
    /// (`2025-03-01T00:00:00Z` → 2025-03-01; no time-zone conversion is made).
    pub fn parse(text: &str) -> Result<Date, DateError> {
        let bad = || DateError(text.chars().take(40).collect());
        let date = text.trim();
        let date = date.split_once('T').map_or(date, |(d, _)| d);
        let mut parts = date.split('-');
        let mut next = |len: usize| {
            parts
                .next()
                .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
        };
        let (Some(y), Some(m), Some(d)) = (next(4), next(2), next(2)) else {
            return Err(bad());
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Date::new(y, m as u8, d as u8).map_err(|_| bad())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Generate `pub fn field(mut self, value: impl Into<T>) -> Self` setters that store
/// `Some(value)` in `self.field` (or `self.$inner.field`).
macro_rules! setters {
    ($inner:ident; $($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<$ty>) -> Self {
            self.$inner.$name = Some(value.into());
            self
        }
    )*};
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<$ty>) -> Self {
            self.$name = Some(value.into());
            self
        }
    )*};
}
pub(crate) use setters;

/// `(total, per segment)` FullName limits of a reference element, from the XSD; the segment
/// limit is the Name limit of the record kind it refers to.
fn full_name_limits(tag: &str) -> (usize, Option<usize>) {
    match tag {
        "CustomerRef" | "EntityRef" | "PayeeEntityRef" | "ShipToEntityRef" => (209, Some(41)),
        "VendorRef" | "PrefVendorRef" => (41, Some(41)),
        "AccountRef"
        | "APAccountRef"
        | "ARAccountRef"
        | "BankAccountRef"
        | "CreditCardAccountRef"
        | "OverrideItemAccountRef"
        | "DiscountAccountRef"
        | "IncomeAccountRef"
        | "ExpenseAccountRef"
        | "ClassRef"
        | "ItemRef" => (159, Some(31)),
        "SalesTaxCodeRef" | "CustomerSalesTaxCodeRef" => (3, None),
        "SalesRepRef" => (5, None),
        "ShipMethodRef" => (15, None),
        "TermsRef" | "TemplateRef" | "ItemSalesTaxRef" | "PriceLevelRef" => (31, None),
        "CurrencyRef" => (64, None),
        "CustomerMsgRef" => (101, None),
        _ => (159, None),
    }
}

impl Writer {
    /// A `…Ref` element with the limits of its tag.
    pub(crate) fn reference(&mut self, tag: &str, value: Option<&Ref>) {
        let (total, segment) = full_name_limits(tag);
        self.reference_with(tag, value, total, segment);
    }

    /// A `…Ref` element whose FullName may be `total` characters, each `:` part `segment`.
    pub(crate) fn reference_with(
        &mut self,
        tag: &str,
        value: Option<&Ref>,
        total: usize,
        segment: Option<usize>,
    ) {
        let Some(value) = value else { return };
        self.element(tag, |w| match value {
            Ref::ListId(id) => w.id("ListID", id, ID_MAX),
            // Without a per-part limit (terms, tax codes …) a long name is refused, never cut.
            Ref::FullName(name) => {
                w.full_name("FullName", name, total, segment.unwrap_or(usize::MAX));
            }
        });
    }

    /// A full name (`Parent:Child`) of at most `total` characters, each part fitted into
    /// `segment`; too long in total is an error under any policy, since a cut reference
    /// would point at another record.
    pub(crate) fn full_name(&mut self, tag: &str, name: &str, total: usize, segment: usize) {
        let Some(parts) = self.name_parts(tag, name, segment) else {
            return;
        };
        let full = parts.join(":");
        let len = full.chars().count();
        if len > total {
            let field = self.field(tag);
            self.fail(BuildError::Text {
                field,
                problem: TextProblem::TooLong { len, max: total },
            });
        } else {
            self.raw(tag, &full);
        }
    }

    /// Split `Parent:Child` and fit each part into `segment` characters; `None` (error
    /// recorded) when a part is empty.
    pub(crate) fn name_parts(
        &mut self,
        tag: &str,
        name: &str,
        segment: usize,
    ) -> Option<Vec<String>> {
        let mut parts = Vec::new();
        for part in name.split(':') {
            let fitted = self.fitted(tag, part, segment)?;
            if fitted.trim().is_empty() {
                let field = self.field(tag);
                self.fail(if name.contains(':') {
                    BuildError::Colon {
                        field,
                        value: name.chars().take(60).collect(),
                    }
                } else {
                    BuildError::Empty { field }
                });
                return None;
            }
            parts.push(fitted);
        }
        Some(parts)
    }

    /// The `Name` (and `ParentRef`) of a list add or mod: `Parent:Child` becomes
    /// `ParentRef/FullName = Parent` and `Name = Child`, unless `parent` is given explicitly, in
    /// which case the name may not contain `:`. Writes the Name now and returns the ParentRef
    /// to write at its own place in the schema order.
    pub(crate) fn list_name(
        &mut self,
        name: Option<&str>,
        parent: Option<&Ref>,
        max: usize,
    ) -> Option<Ref> {
        let Some(name) = name else {
            return parent.cloned();
        };
        if parent.is_some() && name.contains(':') {
            let field = self.field("Name");
            self.fail(BuildError::Colon {
                field,
                value: name.chars().take(60).collect(),
            });
            return None;
        }
        let mut parts = self.name_parts("Name", name, max)?;
        let leaf = parts.pop().unwrap_or_default();
        self.required_text("Name", &leaf, max);
        if parts.is_empty() {
            parent.cloned()
        } else {
            Some(Ref::FullName(parts.join(":")))
        }
    }

    /// An address aggregate.
    pub(crate) fn address(&mut self, tag: &str, value: Option<&Address>) {
        let Some(a) = value else { return };
        self.element(tag, |w| {
            for (tag, v) in [
                ("Addr1", &a.addr1),
                ("Addr2", &a.addr2),
                ("Addr3", &a.addr3),
                ("Addr4", &a.addr4),
                ("Addr5", &a.addr5),
            ] {
                w.text(tag, v.as_deref(), 41);
            }
            w.text("City", a.city.as_deref(), 31);
            w.text("State", a.state.as_deref(), 21);
            w.text("PostalCode", a.postal_code.as_deref(), 13);
            w.text("Country", a.country.as_deref(), 31);
            w.text("Note", a.note.as_deref(), 41);
        });
    }

    /// An optional date.
    pub(crate) fn date(&mut self, tag: &str, value: Option<Date>) {
        if let Some(d) = value {
            self.raw(tag, &d.to_string());
        }
    }

    /// An optional `ExternalGUID`: `{8-4-4-4-12}` hex digits.
    pub(crate) fn guid(&mut self, tag: &str, value: Option<&str>) {
        let Some(v) = value else { return };
        // GUIDTYPE also allows "0" (e.g. OwnerID 0: public custom fields).
        if v == "0" {
            self.raw(tag, v);
            return;
        }
        let groups: Vec<&str> = v
            .strip_prefix('{')
            .and_then(|v| v.strip_suffix('}'))
            .map(|inner| inner.split('-').collect())
            .unwrap_or_default();
        let ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            self.raw(tag, v);
        } else {
            let field = self.field(tag);
            self.fail(BuildError::InvalidGuid {
                field,
                value: v.chars().take(60).collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn entities_are_unescaped() {
        assert_eq!(
            unescape("A &amp; B &lt;&#233;&#x41;&gt; &bogus; &"),
            "A & B <éA> &bogus; &"
        );
    }

    #[test]
    fn text_of_reads_the_name_as_written_unescaped() {
        let built = super::super::CustomerAdd::new("Café “Ünïcode” & <Sons>")
            .build()
            .unwrap();
        let sent = built.text_of("Name").unwrap();
        assert!(sent.contains("& <Sons>"), "{sent}");
        assert!(
            !sent.contains('“'),
            "non-Latin-1 quotes were replaced: {sent}"
        );
        assert_eq!(built.text_of("NoSuchTag"), None);
    }

    use super::*;

    #[test]
    fn dates_parse_plain_and_timestamp_forms() {
        assert_eq!(Date::parse("2025-03-01").unwrap().to_string(), "2025-03-01");
        assert_eq!(
            Date::parse("2025-03-31T00:00:00Z").unwrap(),
            Date::new(2025, 3, 31).unwrap()
        );
        assert!(Date::parse("2024-02-29").is_ok());
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "25-03-01",
            "2025-3-1",
            "",
            "2025-03-01-02",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
