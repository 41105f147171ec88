//! Property tests over generated Autotask records (generators in `support/arb.rs`): any
//! Unicode, markup, control characters and 10,000-character text; money written with float
//! artefacts, zero and negative; every optional field absent, `null` or set; 500-line
//! invoices and duplicate line ids; dates at DST changes and year ends.
//!
//! Properties: each record maps to qbXML valid against 13.0 and 16.0, or is refused with a
//! message naming the field path — never a panic, never invalid XML; and a record whose
//! figures agree up to float noise is never refused for its sums.

mod support;

use proptest::prelude::*;
use qbridge_plugin_autotask::map::{REQUEST_TYPES, map};
use serde_json::{Value, json};
use support::arb::{
    Noise, Opt, cents, config, day, instant, money, name, noise, opt, put, text, timezone,
};

/// A billing item worth `price` cents, its `extendedPrice` written with noise.
fn billing_item() -> impl Strategy<Value = (Value, i64)> {
    (
        (name(), opt(text()), opt(-40i64..400), cents(), noise()),
        (
            opt(0i64..3),
            opt(1i64..6),
            any::<bool>(),
            opt(instant()),
            opt(0i64..4),
        ),
        (opt(1i64..20), opt(text())),
    )
        .prop_map(
            |(
                (item_name, desc, quantity, price, noise),
                (group, kind, expense, date, id),
                (association, lob),
            )| {
                let mut item = json!({"itemName": item_name, "extendedPrice": money(price, noise)});
                put(&mut item, "description", desc);
                put(
                    &mut item,
                    "quantity",
                    map_opt(quantity, |q| json!(q as f64 / 4.0)),
                );
                put(&mut item, "rate", Opt::Set(money(price, Noise::Exact)));
                put(&mut item, "lineItemID", group);
                put(&mut item, "billingItemType", kind);
                put(&mut item, "itemDate", date);
                // Duplicate ids, as Autotask never sends but a hand-built push might.
                put(&mut item, "id", id);
                put(&mut item, "organizationalLevelAssociationID", association);
                put(&mut item, "lineOfBusiness", lob);
                if expense {
                    item["expenseItemID"] = json!(77);
                }
                (item, price)
            },
        )
}

fn map_opt<T, U>(o: Opt<T>, f: impl FnOnce(T) -> U) -> Opt<U> {
    match o {
        Opt::Absent => Opt::Absent,
        Opt::Null => Opt::Null,
        Opt::Set(v) => Opt::Set(f(v)),
    }
}

/// An invoice whose lines, total and tax agree exactly in cents (each written with its own
/// float noise), unless `missing` drops a line's worth from the total.
fn invoice_record() -> impl Strategy<Value = (Value, bool)> {
    (
        (name(), opt(name()), opt(text()), opt(text()), opt(text())),
        (
            any::<bool>(),
            prop_oneof![12 => proptest::collection::vec(billing_item(), 1..6),
                        1 => proptest::collection::vec(billing_item(), 500..=500)],
            timezone(),
            0i64..50_000,
            noise(),
            noise(),
        ),
        (
            opt(day()),
            day(),
            prop_oneof![6 => Just(false), 1 => Just(true)],
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (company, parent, number, po, comments),
                (exempt, items, tz, tax, total_noise, tax_noise),
                (due, date, missing, with_total),
            )| {
                let lines: i64 = items.iter().map(|(_, c)| c).sum();
                let dropped = if missing { 1_000 + lines.abs() } else { 0 };
                let mut invoice = json!({
                    "id": 5, "companyID": 9, "invoiceDateTime": date,
                    "totalTaxValue": money(tax, tax_noise),
                });
                if with_total {
                    invoice["invoiceTotal"] = money(lines + tax + dropped, total_noise);
                }
                put(&mut invoice, "invoiceNumber", number);
                put(&mut invoice, "orderNumber", po);
                put(&mut invoice, "comments", comments);
                put(&mut invoice, "dueDate", due);
                let mut company = json!({"id": 9, "companyName": company, "isTaxExempt": exempt});
                let has_parent = matches!(parent, Opt::Set(_));
                put(&mut company, "parentCompanyName", parent);
                if has_parent {
                    company["parentCompanyID"] = json!(3);
                }
                let record = json!({
                    "_qbridge": {"timezone": tz},
                    "invoice": invoice,
                    "company": company,
                    "billingItems": items.into_iter().map(|(v, _)| v).collect::<Vec<_>>(),
                });
                (record, missing && with_total)
            },
        )
}

fn company_record() -> impl Strategy<Value = Value> {
    (
        text(),
        (
            opt(text()),
            opt(text()),
            opt(text()),
            opt(text()),
            opt(text()),
        ),
        (opt(text()), any::<bool>(), opt(text())),
    )
        .prop_map(
            |(name, (phone, fax, city, addr, zip), (number, exempt, tax_id))| {
                let mut c = json!({"id": 1, "companyName": name, "isTaxExempt": exempt});
                put(&mut c, "phone", phone);
                put(&mut c, "fax", fax);
                put(&mut c, "city", city);
                put(&mut c, "address1", addr);
                put(&mut c, "postalCode", zip);
                put(&mut c, "companyNumber", number);
                put(&mut c, "taxID", tax_id);
                c
            },
        )
}

fn purchase_order_record() -> impl Strategy<Value = Value> {
    (
        (name(), opt(text()), opt(text()), opt(instant()), opt(text())),
        proptest::collection::vec((name(), -5i64..500, cents(), noise(), opt(text())), 1..5),
        (opt(cents()), noise()),
    )
        .prop_map(|((vendor, number, memo, submitted, ship), items, (freight, n))| {
            let mut po = json!({"id": 44});
            put(&mut po, "externalPONumber", number);
            put(&mut po, "generalMemo", memo);
            put(&mut po, "submitDateTime", submitted);
            put(&mut po, "shipToName", ship);
            put(&mut po, "freight", map_opt(freight, |f| money(f, n)));
            let items: Vec<Value> = items
                .into_iter()
                .map(|(product, qty, cost, n, memo)| {
                    let mut i = json!({"product": {"name": product}, "quantity": qty,
                                       "unitCost": money(cost, n)});
                    put(&mut i, "memo", memo);
                    i
                })
                .collect();
            json!({"purchaseOrder": po, "vendor": {"id": 8, "companyName": vendor}, "items": items})
        })
}

fn expense_report_record() -> impl Strategy<Value = Value> {
    (
        (name(), name(), opt(text()), opt(day())),
        proptest::collection::vec(
            (
                cents(),
                noise(),
                opt(any::<bool>()),
                opt(1i64..9),
                opt(instant()),
                opt(text()),
            ),
            0..5,
        ),
    )
        .prop_map(|((first, last, title, week), items)| {
            let mut report = json!({"id": 71});
            put(&mut report, "name", title);
            put(&mut report, "weekEnding", week);
            let items: Vec<Value> = items
                .into_iter()
                .map(|(amount, n, reimbursable, category, date, desc)| {
                    let mut i = json!({"internalCurrencyExpenseAmount": money(amount, n)});
                    put(&mut i, "isReimbursable", reimbursable);
                    put(&mut i, "expenseCategory", category);
                    put(&mut i, "expenseDate", date);
                    put(&mut i, "description", desc);
                    i
                })
                .collect();
            json!({"expenseReport": report,
                   "resource": {"id": 3, "firstName": first, "lastName": last},
                   "items": items})
        })
}

fn time_entry_record() -> impl Strategy<Value = Value> {
    (
        (opt(day()), opt(instant()), cents(), noise(), opt(cents())),
        (
            opt(any::<bool>()),
            opt(text()),
            name(),
            name(),
            name(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (worked, start, hours, n, to_bill),
                (non_billable, notes, first, company, code, on),
            )| {
                let mut entry = json!({"id": 88, "hoursWorked": money(hours, n)});
                put(&mut entry, "dateWorked", worked);
                put(&mut entry, "startDateTime", start);
                put(&mut entry, "hoursToBill", map_opt(to_bill, |c| money(c, n)));
                put(&mut entry, "isNonBillable", non_billable);
                put(&mut entry, "summaryNotes", notes);
                json!({
                    "_qbridge": {"time_tracking": on},
                    "timeEntry": entry,
                    "resource": {"id": 3, "firstName": first, "lastName": "Halpert"},
                    "company": {"id": 9, "companyName": company},
                    "billingCode": {"name": code},
                })
            },
        )
}

/// Valid qbXML, or a refusal naming a field.
fn valid_or_named(kind: &str, record: &Value) -> Result<bool, TestCaseError> {
    match map(kind, record) {
        Ok(requests) => {
            support::check_valid(&requests, REQUEST_TYPES).map_err(TestCaseError::fail)?;
            Ok(true)
        }
        Err(e) => {
            prop_assert!(e.field.is_some(), "refusal without a field: {}", e);
            Ok(false)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn invoices_map_to_valid_qbxml_or_a_named_refusal((record, missing) in invoice_record()) {
        match map("invoice", &record) {
            Ok(requests) => {
                prop_assert!(!missing, "a line's worth missing from the total was not noticed");
                support::check_valid(&requests, REQUEST_TYPES).map_err(TestCaseError::fail)?;
                let invoice = requests.last().unwrap();
                prop_assert_eq!(&invoice.key, "invoice:5");
                prop_assert!(invoice.depends_on.contains(&"customer:9".to_string()));
            }
            Err(e) => {
                prop_assert!(e.field.is_some(), "refusal without a field: {}", e);
                // Consistent figures are never refused for their sums, whatever the noise.
                prop_assert!(missing || !e.message.contains(" sum to "), "refused for float noise: {}", e);
            }
        }
    }

    #[test]
    fn companies_map_to_valid_qbxml_or_a_named_refusal(record in company_record()) {
        if !valid_or_named("company", &record)? {
            let field = map("company", &record).unwrap_err().field;
            prop_assert_eq!(field.as_deref(), Some("company.companyName"));
        }
    }

    #[test]
    fn purchase_orders_map_to_valid_qbxml_or_a_named_refusal(record in purchase_order_record()) {
        valid_or_named("purchase_order", &record)?;
    }

    #[test]
    fn expense_reports_map_to_valid_qbxml_or_a_named_refusal(record in expense_report_record()) {
        valid_or_named("expense_report", &record)?;
    }

    #[test]
    fn time_entries_map_to_valid_qbxml_or_a_named_refusal(record in time_entry_record()) {
        valid_or_named("time_entry", &record)?;
    }

    #[test]
    fn a_missing_required_field_is_named(which in 0usize..5, null in any::<bool>()) {
        let (object, field, path) = [
            ("invoice", "id", "invoice.id"),
            ("invoice", "companyID", "invoice.companyID"),
            ("invoice", "invoiceDateTime", "invoice.invoiceDateTime"),
            ("company", "companyName", "company.companyName"),
            ("company", "id", "company.id"),
        ][which];
        let mut record = support::fixture("autotask-invoice-1-basic.json");
        if null {
            record[object][field] = Value::Null;
        } else {
            record[object].as_object_mut().unwrap().remove(field);
        }
        let err = map("invoice", &record).unwrap_err();
        prop_assert_eq!(err.field.as_deref(), Some(path));
    }
}
