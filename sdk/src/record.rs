//! Reading source records the way every mapper needs to: typed access to JSON fields whose
//! errors name the field's path (`invoice.billingItems[2].amount`), the per-record `_qbridge`
//! settings, dates in the firm's time zone, builder results as requests, removals (voids and
//! deletes) and line keys, key-safe ids, and a page of pulled records as `(kind, record)`
//! pairs. Nothing here is specific to one source system; the bundled Autotask and Ramp
//! plugins use it exactly as any plugin would.

use crate::amount::Amount;
use crate::qbxml::{BuildError, Built, Date, Ref};
use crate::{Action, MapError, Request};
use serde_json::Value;

/// Most entries read from any one array of a record (lines, items, payments): a record with
/// more is refused rather than mapped into an oversized request.
pub const MAX_ENTRIES: usize = 500;

/// A JSON object together with its path in the record, so every error names the field.
#[derive(Debug, Clone, Copy)]
pub struct Rec<'a> {
    value: &'a Value,
    path: &'a str,
}

/// An owned path plus the value, for array entries (`billingItems[2]`).
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The entry.
    pub value: &'a Value,
    /// Its path, e.g. `billingItems[2]`.
    pub path: String,
}

impl Entry<'_> {
    /// This entry as a [`Rec`].
    pub fn rec(&self) -> Rec<'_> {
        Rec {
            value: self.value,
            path: &self.path,
        }
    }
}

impl<'a> Rec<'a> {
    /// The record at `path` (`invoice`, `transaction`, …).
    pub fn new(value: &'a Value, path: &'a str) -> Rec<'a> {
        Rec { value, path }
    }

    /// The raw JSON value.
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// The path of `key` inside this record.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// An error about `key` of this record.
    pub fn error(&self, key: &str, message: impl Into<String>) -> MapError {
        MapError::field(self.path_of(key), message)
    }

    fn missing(&self, key: &str, what: &str) -> MapError {
        self.error(key, format!("is missing or empty; the record needs {what}"))
    }

    /// A non-blank string field; `None` when absent, null or blank.
    pub fn opt_str(&self, key: &str) -> Option<&'a str> {
        self.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// A required non-blank string field; `what` says what it is for, in the error.
    pub fn str(&self, key: &str, what: &str) -> Result<&'a str, MapError> {
        self.opt_str(key).ok_or_else(|| self.missing(key, what))
    }

    /// An id given as a JSON integer or a non-blank string; `None` when absent.
    pub fn opt_id(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        }
    }

    /// A required id (integer or string) that is safe inside an idempotency key: at most 64
    /// ASCII letters, digits, `-`, `_` or `.`.
    pub fn id(&self, key: &str) -> Result<String, MapError> {
        let id = self
            .opt_id(key)
            .ok_or_else(|| self.missing(key, "its source id"))?;
        if id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self.error(
                key,
                format!(
                    "{:?} is not an id (at most 64 ASCII letters, digits, '-', '_' or '.')",
                    id.chars().take(40).collect::<String>()
                ),
            ));
        }
        Ok(id)
    }

    /// An exact amount from a JSON number or numeric string; `None` when absent or null.
    /// Numbers are read from the JSON text digit for digit (the SDK's `exact-json`), float
    /// artefacts included: they are rounded once, where the amount is written or reconciled.
    pub fn opt_amount(&self, key: &str) -> Result<Option<Amount>, MapError> {
        let parsed = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => Amount::from_json_number(n),
            Some(Value::String(s)) => Amount::from_json_text(s.trim()),
            Some(_) => return Err(self.error(key, "is not a number")),
        };
        parsed.map(Some).map_err(|e| self.error(key, e.to_string()))
    }

    /// A required exact amount.
    pub fn amount(&self, key: &str) -> Result<Amount, MapError> {
        self.opt_amount(key)?
            .ok_or_else(|| self.missing(key, "an amount"))
    }

    /// A boolean field, `false` when absent.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A nested object; `None` when absent or not an object.
    pub fn opt_obj(&self, key: &str) -> Option<&'a Value> {
        self.get(key).filter(|v| v.is_object())
    }

    /// The entries of an array field (absent or null: none), at most [`MAX_ENTRIES`].
    pub fn entries(&self, key: &str) -> Result<Vec<Entry<'a>>, MapError> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        let array = value
            .as_array()
            .ok_or_else(|| self.error(key, "is not an array"))?;
        if array.len() > MAX_ENTRIES {
            return Err(self.error(
                key,
                format!(
                    "has {} entries; at most {MAX_ENTRIES} are mapped in one record: split the source record",
                    array.len()
                ),
            ));
        }
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, value)| Entry {
                value,
                path: format!("{}[{i}]", self.path_of(key)),
            })
            .collect())
    }

    /// A calendar date field (`2025-03-31` or `2025-03-31T00:00:00Z`): the source means the
    /// day itself, so its date part is taken without time-zone conversion.
    pub fn opt_calendar_date(&self, key: &str) -> Result<Option<Date>, MapError> {
        self.opt_str(key)
            .map(|s| Date::parse(s).map_err(|e| self.error(key, e.to_string())))
            .transpose()
    }

    /// A point-in-time field (`2025-05-02T23:48:13+00:00`) as the date it was in the firm's
    /// time zone.
    pub fn opt_local_date(&self, key: &str, settings: &Settings) -> Result<Option<Date>, MapError> {
        self.opt_str(key)
            .map(|s| local_date(s, settings.utc_offset_minutes).map_err(|e| self.error(key, e)))
            .transpose()
    }
}

/// Per-record settings under `_qbridge` (the manifest cannot carry configuration, so the
/// engine or the pushing system embeds them in the record):
///
/// - `timezone`: the firm's UTC offset, `"UTC"` (default), `"+02:00"` or `"-05:00"`; used for
///   point-in-time fields. IANA names are not supported (no time-zone database in the plugin):
///   give the offset, and change it with daylight saving time.
/// - `accounts`: an object of account FullNames overriding the documented defaults; the keys
///   each plugin reads are listed in its `map` module.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    utc_offset_minutes: i32,
    accounts: serde_json::Map<String, Value>,
    all: serde_json::Map<String, Value>,
}

impl Settings {
    /// Reads `_qbridge` from the top level of `record`; absent means all defaults.
    pub fn read(record: &Value) -> Result<Settings, MapError> {
        let Some(settings) = record.get("_qbridge").filter(|v| !v.is_null()) else {
            return Ok(Settings::default());
        };
        let rec = Rec::new(settings, "_qbridge");
        let utc_offset_minutes = match rec.opt_str("timezone") {
            None => 0,
            Some(tz) => parse_offset(tz).ok_or_else(|| {
                rec.error(
                    "timezone",
                    format!("{tz:?} is not a UTC offset: write \"UTC\", \"+02:00\" or \"-05:00\""),
                )
            })?,
        };
        let accounts = match rec.get("accounts") {
            None => serde_json::Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(rec.error(
                    "accounts",
                    "is not an object of account names (e.g. {\"income\": \"Sales\"})",
                ));
            }
        };
        Ok(Settings {
            utc_offset_minutes,
            accounts,
            all: settings.as_object().cloned().unwrap_or_default(),
        })
    }

    /// The account configured under `_qbridge.accounts.<key>`, else `default`.
    pub fn account(&self, key: &str, default: &str) -> Ref {
        Ref::full_name(self.account_name(key).unwrap_or(default))
    }

    /// A non-blank text setting `_qbridge.<key>`, if any.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.all
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// Whether the switch `_qbridge.<key>` is on (`true`); off when absent.
    pub fn enabled(&self, key: &str) -> bool {
        self.all.get(key) == Some(&Value::Bool(true))
    }

    /// A non-blank text entry `_qbridge.<section>.<key>` (e.g. `classes` by id), if any.
    pub fn lookup(&self, section: &str, key: &str) -> Option<&str> {
        self.all
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// The account name configured under `_qbridge.accounts.<key>`, if any.
    pub fn account_name(&self, key: &str) -> Option<&str> {
        self.accounts
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }
}

/// `UTC`, `Z`, `+HH:MM`, `-HH:MM` or `±HHMM` → minutes east of UTC (at most ±14:00).
fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
        return None;
    }
    let (h, m): (i32, i32) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
    (h <= 14 && m < 60 && h * 60 + m <= 14 * 60).then_some(sign * (h * 60 + m))
}

/// The local date at `offset` minutes east of UTC of an ISO 8601 timestamp; a timestamp
/// without an offset is UTC, and a bare date is taken as it is.
fn local_date(text: &str, offset: i32) -> Result<Date, String> {
    let bad = || {
        format!(
            "{:?} is not an ISO 8601 timestamp like 2025-05-02T23:48:13+00:00",
            text.chars().take(40).collect::<String>()
        )
    };
    let text = text.trim();
    let Some((day, time)) = text.split_once('T') else {
        return Date::parse(text).map_err(|e| e.to_string());
    };
    let date = Date::parse(day).map_err(|_| bad())?;
    let (clock, source_offset) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        (&time[..at], parse_offset(&time[at..]).ok_or_else(bad)?)
    } else {
        (time, 0)
    };
    let mut parts = clock.split(':');
    let mut next = || parts.next().and_then(|p| p.get(..2)?.parse::<i32>().ok());
    let (Some(h), Some(m)) = (next(), next()) else {
        return Err(bad());
    };
    if h > 23 || m > 59 {
        return Err(bad());
    }
    let minutes = h * 60 + m - source_offset + offset;
    shift_days(date, minutes.div_euclid(24 * 60)).ok_or_else(bad)
}

/// `date` moved by `days` (a few days at most here).
fn shift_days(date: Date, days: i32) -> Option<Date> {
    let text = date.to_string();
    let (y, m, d): (i64, i64, i64) = (
        text[..4].parse().ok()?,
        text[5..7].parse().ok()?,
        text[8..10].parse().ok()?,
    );
    // Days from civil and back (Howard Hinnant's algorithms), to cross month and year ends.
    let y_adj = if m <= 2 { y - 1 } else { y };
    let era = y_adj.div_euclid(400);
    let yoe = y_adj - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let z = era * 146_097 + doe + i64::from(days);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date::new(u16::try_from(year).ok()?, month as u8, day as u8).ok()
}

/// A builder's result as a [`Request`] under `key`, or a [`MapError`] naming `what` (the
/// source record) and the qbXML field the builder refused.
pub fn request(
    built: Result<Built, BuildError>,
    key: &str,
    what: &str,
) -> Result<Request, MapError> {
    built
        .map(|b| b.into_request(key))
        .map_err(|e| MapError::field(what, format!("cannot be written as qbXML: {e}")))
}

/// What a record removed at the source asks of QuickBooks: only the request for `key` (the
/// transaction itself, never its customer, vendor or items), with `action`. Its dependencies
/// are dropped: a void or delete needs nothing but the object, and the engine never sends it
/// if QuickBooks never had the object.
pub fn removal(requests: Vec<Request>, key: &str, action: Action) -> Vec<Request> {
    requests
        .into_iter()
        .filter(|r| r.key == key)
        .map(|r| r.depends_on(Vec::<String>::new()).action(action))
        .collect()
}

/// Stable line keys of a transaction: one per line, in document order, or none (the engine
/// then pairs lines by position) unless every line has an id, since a partial set would pair
/// some lines by key and shift the rest.
pub fn line_keys(ids: Vec<Option<String>>) -> Vec<String> {
    ids.into_iter()
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

/// The source-side record for `key`: `record[key]` when the record is a bundle wrapping it
/// (`{"invoice": {…}, …}`), else the record itself.
pub fn unwrap<'a>(record: &'a Value, key: &str) -> &'a Value {
    record.get(key).filter(|v| v.is_object()).unwrap_or(record)
}

/// A string safe inside an idempotency key (ASCII letters, digits, `-`, `_`, `.`): the value
/// itself when it is such a string of at most 64 characters, else a UUIDv5 of it.
pub fn key_part(namespace: &str, value: &str) -> String {
    if !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        value.to_string()
    } else {
        let guid = crate::id::external_guid(namespace, value);
        guid.trim_matches(['{', '}']).to_ascii_lowercase()
    }
}

/// One page of pulled records as a plugin's pull logic builds it: `(kind, record)` pairs and
/// the cursor of the next page; [`Records::into_page`] makes the [`crate::Page`] `pull` returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Records {
    /// The records, as later passed to `map`.
    pub records: Vec<(String, Value)>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Records {
    /// The page `Mapper::pull` returns.
    pub fn into_page(self) -> crate::Page {
        crate::Page {
            records: self
                .records
                .into_iter()
                .map(|(kind, record)| crate::PulledRecord { kind, record })
                .collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_become_the_firms_local_date() {
        let at = |t: &str, off: i32| local_date(t, off).unwrap().to_string();
        assert_eq!(at("2025-05-02T23:48:13+00:00", 0), "2025-05-02");
        assert_eq!(at("2025-05-02T23:48:13+00:00", 120), "2025-05-03");
        assert_eq!(at("2025-01-01T03:00:00Z", -300), "2024-12-31");
        assert_eq!(at("2024-02-28T23:30:00.113Z", 60), "2024-02-29");
        assert_eq!(at("2025-03-01T06:15:22-07:00", 0), "2025-03-01");
        assert_eq!(at("2025-03-01", -300), "2025-03-01");
        assert!(local_date("2025-03-01T25:00:00Z", 0).is_err());
        assert!(local_date("yesterday", 0).is_err());
    }

    #[test]
    fn offsets_parse_and_nonsense_is_refused() {
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("+02:00"), Some(120));
        assert_eq!(parse_offset("-0530"), Some(-330));
        for bad in ["Europe/Berlin", "+2", "+15:00", "", "+02:60"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        let err =
            Settings::read(&json!({"_qbridge": {"timezone": "America/New_York"}})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("_qbridge.timezone"));
    }

    #[test]
    fn ids_must_be_key_safe_and_errors_name_the_path() {
        let v = json!({"id": "a b", "n": 7, "amt": "12.345", "bad": true});
        let rec = Rec::new(&v, "invoice");
        assert_eq!(rec.id("n").unwrap(), "7");
        assert_eq!(
            rec.id("id").unwrap_err().field.as_deref(),
            Some("invoice.id")
        );
        assert_eq!(
            rec.id("none").unwrap_err().field.as_deref(),
            Some("invoice.none")
        );
        assert_eq!(rec.amount("amt").unwrap().to_string(), "12.345");
        assert!(rec.amount("bad").is_err());
        assert_eq!(key_part("x", "A-1"), "A-1");
        assert_eq!(key_part("x", "A 1").len(), 36);
    }
}
