//! Where an Autotask pull stands: one part per kind of change, each a high-water mark, so a
//! page asks Autotask only for what happened since.
//!
//! Autotask's Invoice, PurchaseOrder and ExpenseReport entities have no last-modified field
//! (see the research notes on Autotask change detection), so the pull follows the dates each
//! one does have:
//!
//! | part | query | what it finds |
//! |---|---|---|
//! | `after_id` | invoices with `id > after_id`, not voided | new invoices (ids only grow) |
//! | `voided_invoices` | `voidedDate > after`, `isVoided`, `id <= after_id` | voids of invoices already pulled |
//! | `purchase_orders` | `submitDateTime > after` | purchase orders sent to the vendor |
//! | `cancelled_purchase_orders` | `cancelDateTime > after`, `submitDateTime <= purchase_orders.after` | cancellations of purchase orders already pulled |
//! | `expense_reports` | `approvedDate > after` | approved expense reports |
//!
//! A date part ([`Scan`]) pages by id within one mark: a full page keeps the mark and goes on
//! after the page's last id, remembering the latest date seen; a short page moves the mark to
//! that date. A page with nothing new leaves the cursor as it was, which ends the run.
//!
//! The zone's API root comes from the plugin's `zone` config; cursors written before carried
//! it as `base`, which must then name the configured zone (a cursor of another database is
//! refused rather than pulled from the wrong one).
//!
//! The first cursor format, `{"after_id", "base"}`, is still read: the parts it lacks start
//! at the time of that pull, so an upgrade neither re-reads past voids nor imports the
//! history of purchase orders and expense reports. A pull with no cursor at all starts every
//! part at the beginning, except voids (nothing voided before the first pull was booked).

use serde_json::{Value, json};

/// The mark of a part that starts at the beginning.
pub const BEGINNING: &str = "2000-01-01T00:00:00Z";

/// One date-driven part of the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Records dated after this were not seen yet (Autotask's date text, as it returned it).
    pub after: String,
    /// Within a mark whose records fill more than a page: the last id read.
    pub after_id: i64,
    /// The latest date read in the pages of this mark so far.
    pub latest: Option<String>,
}

impl Scan {
    fn starting(at: &str) -> Scan {
        Scan {
            after: at.to_string(),
            after_id: 0,
            latest: None,
        }
    }

    fn read(v: &Value, name: &str, default: &str) -> Result<Scan, String> {
        let part = &v[name];
        if part.is_null() {
            return Ok(Scan::starting(default));
        }
        let bad = |what: &str| format!("cursor part {name:?} has no {what}");
        Ok(Scan {
            after: part["after"]
                .as_str()
                .filter(|s| is_date_text(s))
                .ok_or_else(|| bad("date text after"))?
                .to_string(),
            after_id: part
                .get("after_id")
                .map_or(Some(0), Value::as_i64)
                .ok_or_else(|| bad("integer after_id"))?,
            latest: match part.get("latest") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_str()
                        .filter(|s| is_date_text(s))
                        .ok_or_else(|| bad("date text latest"))?
                        .to_string(),
                ),
            },
        })
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"after": self.after});
        if self.after_id > 0 {
            v["after_id"] = json!(self.after_id);
        }
        if let Some(latest) = &self.latest {
            v["latest"] = json!(latest);
        }
        v
    }

    /// The query filter of this part on `field`: after the mark, after the last id read.
    pub fn filter(&self, field: &str) -> Vec<Value> {
        vec![
            json!({"op": "gt", "field": field, "value": self.after}),
            json!({"op": "gt", "field": "id", "value": self.after_id}),
        ]
    }

    /// The part after a page of `records` (dated by `field`) that asked for `page_size`.
    pub fn advance(&self, records: &[Value], field: &str, page_size: usize) -> Scan {
        let latest = records
            .iter()
            .filter_map(|r| r[field].as_str())
            .chain(self.latest.as_deref())
            .max_by(|a, b| date_order(a).cmp(&date_order(b)))
            .map(str::to_string);
        let last_id = records.iter().filter_map(|r| r["id"].as_i64()).max();
        match (last_id, latest) {
            (Some(id), latest) if records.len() >= page_size => Scan {
                after: self.after.clone(),
                after_id: id,
                latest,
            },
            (_, Some(latest)) => Scan::starting(&latest),
            (None, None) => self.clone(),
            (Some(_), None) => Scan::starting(&self.after),
        }
    }
}

/// How two Autotask date texts compare: Autotask writes some with a zone suffix and
/// fractions (`2025-03-01T06:15:22.113Z`) and some without (`2025-03-05T00:00:00`), so the
/// date and time to the second decide first.
fn date_order(text: &str) -> (&str, &str) {
    (text.get(..19).unwrap_or(text), text)
}

/// `YYYY-MM-DDTHH:MM:SS…`: what a mark may hold (it is sent back to Autotask as a value).
fn is_date_text(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() <= 40
        && b.len() >= 19
        && b[4] == b'-'
        && b[10] == b'T'
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "-:T.Z+".contains(c))
}

/// Where the pull stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Highest invoice id already pulled (0: none).
    pub after_id: i64,
    /// API root of the database's zone (from the plugin's `zone` config, not the cursor text).
    pub base: String,
    /// Voids of invoices already pulled, by `voidedDate`.
    pub voided_invoices: Scan,
    /// Submitted purchase orders, by `submitDateTime`.
    pub purchase_orders: Scan,
    /// Cancelled purchase orders, by `cancelDateTime`.
    pub cancelled_purchase_orders: Scan,
    /// Approved expense reports, by `approvedDate`.
    pub expense_reports: Scan,
}

impl Cursor {
    /// Reads a cursor (`None`: from the start) for the zone's API root `base`; `now` (RFC 3339
    /// UTC) starts the parts an older cursor lacks, and the voids of a new one.
    pub fn parse(cursor: Option<&str>, now: &str, base: &str) -> Result<Cursor, String> {
        let Some(text) = cursor else {
            return Ok(Cursor {
                after_id: 0,
                base: base.to_string(),
                voided_invoices: Scan::starting(now),
                purchase_orders: Scan::starting(BEGINNING),
                cancelled_purchase_orders: Scan::starting(now),
                expense_reports: Scan::starting(BEGINNING),
            });
        };
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("cursor {text:?} is not JSON like {{\"after_id\": 123}}: {e}"))?;
        let after_id = v["after_id"]
            .as_i64()
            .ok_or_else(|| format!("cursor {text:?} has no integer after_id"))?;
        if let Some(legacy) = v["base"].as_str() {
            crate::pull::check_legacy_base("cursor", legacy, base)?;
        }
        Ok(Cursor {
            after_id,
            base: base.to_string(),
            voided_invoices: Scan::read(&v, "voided_invoices", now)?,
            purchase_orders: Scan::read(&v, "purchase_orders", now)?,
            cancelled_purchase_orders: Scan::read(&v, "cancelled_purchase_orders", now)?,
            expense_reports: Scan::read(&v, "expense_reports", now)?,
        })
    }

    /// The cursor as text.
    pub fn to_text(&self) -> String {
        json!({
            "after_id": self.after_id,
            "voided_invoices": self.voided_invoices.to_value(),
            "purchase_orders": self.purchase_orders.to_value(),
            "cancelled_purchase_orders": self.cancelled_purchase_orders.to_value(),
            "expense_reports": self.expense_reports.to_value(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-05T12:00:00Z";

    #[test]
    fn an_old_cursor_gains_parts_starting_now_and_a_new_one_starts_at_the_beginning() {
        let old = r#"{"after_id": 29684000, "base": "https://webservices5.autotask.net/atservicesrest/v1.0"}"#;
        let zone5 = "https://webservices5.autotask.net/atservicesrest/v1.0";
        let c = Cursor::parse(Some(old), NOW, zone5).unwrap();
        assert_eq!(c.after_id, 29684000);
        assert_eq!(c.purchase_orders, Scan::starting(NOW));
        assert_eq!(c.voided_invoices, Scan::starting(NOW));
        assert_eq!(
            Cursor::parse(Some(&c.to_text()), "later", zone5).unwrap(),
            c
        );
        let fresh = Cursor::parse(None, NOW, zone5).unwrap();
        assert_eq!(fresh.expense_reports, Scan::starting(BEGINNING));
        assert_eq!(fresh.voided_invoices, Scan::starting(NOW));
        let bad = r#"{"after_id": 1, "expense_reports": {"after": "yesterday"}}"#;
        assert!(
            Cursor::parse(Some(bad), NOW, zone5)
                .unwrap_err()
                .contains("expense_reports")
        );
    }

    #[test]
    fn a_full_page_keeps_the_mark_and_a_short_one_moves_it_to_the_latest_date() {
        let scan = Scan::starting("2025-03-01T00:00:00Z");
        let page = [
            json!({"id": 7, "voidedDate": "2025-03-05T00:00:00"}),
            json!({"id": 9, "voidedDate": "2025-03-04T10:00:00.500Z"}),
        ];
        let full = scan.advance(&page, "voidedDate", 2);
        assert_eq!(full.after, scan.after);
        assert_eq!(full.after_id, 9);
        assert_eq!(full.latest.as_deref(), Some("2025-03-05T00:00:00"));
        let done = full.advance(&[], "voidedDate", 2);
        assert_eq!(done, Scan::starting("2025-03-05T00:00:00"));
        assert_eq!(
            done.advance(&[], "voidedDate", 2),
            done,
            "nothing new: unchanged"
        );
        assert_eq!(
            scan.advance(&page[1..], "voidedDate", 2),
            Scan::starting("2025-03-04T10:00:00.500Z")
        );
    }
}
