//! Golden tests: the sample Ramp records in `tests/fixtures/sources/` map to the documented
//! requests, bills' payments follow from the `BillRet`, and everything is valid against
//! qbXML 13.0 and 16.0.

#[path = "../../autotask/tests/support/mod.rs"]
mod support;

use qbridge_plugin_ramp::map::{REQUEST_TYPES, map};
use qbridge_plugin_ramp::response::on_response;
use qbridge_sdk::{Action, Request};
use serde_json::{Value, json};
use support::{all, assert_valid, by_key, fixture, keys};

fn mapped(kind: &str, record: &Value) -> Vec<Request> {
    let requests = map(kind, record).unwrap_or_else(|e| panic!("{e}"));
    assert_valid(&requests, REQUEST_TYPES);
    requests
}

/// What QuickBooks answers to a bill add: a `BillRet` echoing the memo (still XML-escaped
/// as sent), with the vendor's ListID, a TxnID, and lines with memos of their own.
fn bill_ret(bill: &Request) -> String {
    let memo = &bill.qbxml[bill.qbxml.find("<Memo>").unwrap()..];
    let memo = &memo[..memo.find("</Memo>").unwrap() + "</Memo>".len()];
    format!(
        "<BillRet><TxnID>1A2B-1234567890</TxnID><TimeCreated>2025-05-01T10:00:00-05:00</TimeCreated>\
         <EditSequence>1714575600</EditSequence><TxnNumber>77</TxnNumber>\
         <VendorRef><ListID>80000099-1714575600</ListID><FullName>Nordic Logistics AB</FullName></VendorRef>\
         <APAccountRef><ListID>8000000A-1</ListID><FullName>Accounts Payable</FullName></APAccountRef>\
         <TxnDate>2025-03-31</TxnDate>{memo}<AmountDue>12500.00</AmountDue>\
         <ExpenseLineRet><TxnLineID>1-1</TxnLineID><Memo>qbridge-pay/1;bank=Evil;card=Evil;B,2025-01-01,99.00,</Memo></ExpenseLineRet>\
         <LinkedTxn><TxnID>9-9</TxnID></LinkedTxn></BillRet>"
    )
}

#[test]
fn card_split_maps_to_vendor_and_credit_card_charge() {
    let requests = mapped(
        "transaction",
        &fixture("ramp-transaction-1-card-split.json"),
    );
    assert_eq!(requests.len(), 2, "{:?}", keys(&requests));
    let vendor = &requests[0];
    assert!(vendor.key.starts_with("vendor:") && vendor.adopt_existing);
    assert!(
        vendor
            .qbxml
            .contains("<Name>Café Déjà Vu - Zürich Flughafen</Name>")
    );
    assert!(
        !vendor.notes.is_empty(),
        "the en dash is transliterated with a note"
    );
    assert!(
        vendor
            .probe
            .as_deref()
            .unwrap()
            .starts_with("<VendorQueryRq>")
    );

    let charge = by_key(
        &requests,
        "transaction:3f1b6a0e-6c2d-4d2b-9a51-2c0b7f7d9e11",
    );
    let x = &charge.qbxml;
    assert_eq!(charge.request_type(), Some("CreditCardChargeAdd"));
    assert_eq!(charge.depends_on, std::slice::from_ref(&vendor.key));
    assert!(x.contains("<AccountRef><FullName>Ramp Card</FullName></AccountRef>"));
    assert!(x.contains(
        "<PayeeEntityRef><FullName>Café Déjà Vu - Zürich Flughafen</FullName></PayeeEntityRef>"
    ));
    assert_eq!(
        all(x, "TxnDate"),
        ["2025-05-03"],
        "accounting_date, not the UTC card time"
    );
    assert_eq!(
        all(x, "Amount"),
        ["800.00", "434.57"],
        "80000 + 43457 cents = 1234.57"
    );
    assert!(x.contains("<AccountRef><ListID>8000002A-1599999999</ListID></AccountRef>"));
    assert!(x.contains("<CustomerRef><ListID>80000031-1600000000</ListID></CustomerRef>"));
    assert_eq!(all(x, "ClassRef").len(), 2, "Sales:EMEA on both lines");
    let number = all(x, "RefNumber").remove(0);
    assert!(number.starts_with('~') && number.len() == 11);
    assert!(x.contains("src:ramp:transaction:3f1b6a0e-6c2d-4d2b-9a51-2c0b7f7d9e11</Memo>"));
    assert!(
        x.contains("(original 1134.56 EUR)"),
        "the foreign amount stays visible"
    );
    assert!(
        charge
            .probe
            .as_deref()
            .unwrap()
            .contains(&format!("<RefNumber>{number}</RefNumber>"))
    );
}

#[test]
fn a_refund_is_a_card_credit_of_absolute_amounts() {
    let requests = mapped("transaction", &fixture("ramp-transaction-2-refund.json"));
    let credit = requests.last().unwrap();
    assert_eq!(credit.request_type(), Some("CreditCardCreditAdd"));
    let x = &credit.qbxml;
    assert!(x.contains("<AccountRef><FullName>Ramp Visa</FullName></AccountRef>"));
    assert_eq!(all(x, "Amount"), ["89.99"]);
    assert!(x.contains("<BillableStatus>NotBillable</BillableStatus>"));
    // 02:15 UTC on June 1st is May 31st in UTC−4.
    assert_eq!(all(x, "TxnDate"), ["2025-05-31"]);
    assert!(
        credit
            .probe
            .as_deref()
            .unwrap()
            .starts_with("<CreditCardCreditQueryRq>")
    );
}

#[test]
fn refunded_split_lines_are_negated_too() {
    let mut record = fixture("ramp-transaction-1-card-split.json");
    let t = &mut record["transaction"];
    t["amount"] = json!(-1234.57);
    t["line_items"][0]["amount"]["amount"] = json!(-80000);
    t["line_items"][1]["amount"]["amount"] = json!(-43457);
    let requests = mapped("transaction", &record);
    assert_eq!(all(&requests[1].qbxml, "Amount"), ["800.00", "434.57"]);
}

#[test]
fn a_split_that_does_not_add_up_is_refused_naming_the_field() {
    let mut record = fixture("ramp-transaction-1-card-split.json");
    record["transaction"]["line_items"][1]["amount"]["amount"] = json!(43456);
    let err = map("transaction", &record).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("transaction.amount"));
    assert!(err.message.contains("1234.56"), "{err}");
}

#[test]
fn transactions_not_settled_are_refused_and_declined_ones_voided() {
    let mut record = fixture("ramp-transaction-1-card-split.json");
    let written = mapped("transaction", &record).pop().unwrap();
    record["transaction"]["state"] = json!("PENDING");
    assert_eq!(
        map("transaction", &record).unwrap_err().field.as_deref(),
        Some("transaction.state")
    );
    record["transaction"]["state"] = json!("DECLINED");
    let requests = mapped("transaction", &record);
    assert_eq!(keys(&requests), [written.key.as_str()], "not the merchant");
    assert_eq!(requests[0].action, Action::Void);
    assert_eq!(
        requests[0].qbxml, written.qbxml,
        "the charge that was written"
    );
    assert!(requests[0].depends_on.is_empty());
}

#[test]
fn an_archived_bill_is_voided_and_line_ids_are_line_keys() {
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["is_archived"] = json!(true);
    let requests = mapped("bill", &record);
    assert_eq!(requests.len(), 1);
    assert!(requests[0].key.starts_with("bill:"));
    assert_eq!(requests[0].action, Action::Void);

    let mut record = fixture("ramp-transaction-1-card-split.json");
    let count = record["transaction"]["line_items"]
        .as_array()
        .unwrap()
        .len();
    for (n, line) in record["transaction"]["line_items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        line["id"] = json!(format!("line-{n}"));
    }
    let charge = mapped("transaction", &record).pop().unwrap();
    assert_eq!(charge.line_keys.len(), count);
    assert_eq!(charge.line_keys[0], "line-0");
    record["transaction"]["line_items"][0]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let charge = mapped("transaction", &record).pop().unwrap();
    assert!(charge.line_keys.is_empty(), "all lines keyed, or none");
}

#[test]
fn a_line_without_a_gl_account_is_refused() {
    let mut record = fixture("ramp-transaction-1-card-split.json");
    record["transaction"]["line_items"][1]["accounting_field_selections"] = json!([]);
    record["transaction"]["accounting_field_selections"] = json!([]);
    let err = map("transaction", &record).unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("transaction.line_items[1].accounting_field_selections")
    );
}

#[test]
fn bill_maps_with_hashed_ref_number_item_line_and_payment_plan() {
    let requests = mapped("bill", &fixture("ramp-bill-3-partial-payments.json"));
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0]
            .qbxml
            .contains("<Name>Nordic Logistics AB</Name>")
    );
    let bill = by_key(&requests, "bill:6e3816e3-0e53-42ae-b075-bdb0adff10c4");
    let x = &bill.qbxml;
    assert_eq!(all(x, "TxnDate"), ["2025-03-31"]);
    assert_eq!(all(x, "DueDate"), ["2025-04-30"]);
    let number = all(x, "RefNumber").remove(0);
    assert!(number.starts_with('~') && number.len() == 20, "{number}");
    assert!(
        bill.notes
            .iter()
            .any(|n| n.contains("INV/2025/EMEA/0000012345"))
    );
    assert_eq!(
        all(x, "Amount"),
        ["9999.99", "1500.01", "1000.00"],
        "sum 12500.00"
    );
    assert!(x.contains("<ItemRef><ListID>80000102-1599999999</ListID></ItemRef>"));
    assert!(x.contains("<Quantity>40</Quantity><Cost>25</Cost><Amount>1000.00</Amount>"));
    let memo = all(x, "Memo").remove(0);
    assert!(
        memo.starts_with("INV/2025/EMEA/0000012345 Q2 freight"),
        "{memo}"
    );
    assert!(memo.ends_with(
        "src:ramp:bill:6e3816e3-0e53-42ae-b075-bdb0adff10c4 qbridge-pay/1;bank=Ramp Bill Pay;card=Ramp Card;B,2025-04-25,10000.00,A6PMDVX628;C,2025-04-28,2500.00,Q9ZK2M1T4B"
    ), "{memo}");
    assert!(bill.probe.as_deref().unwrap().starts_with("<BillQueryRq>"));
}

#[test]
fn bill_response_yields_one_payment_per_ramp_payment() {
    let requests = mapped("bill", &fixture("ramp-bill-3-partial-payments.json"));
    let bill = requests.last().unwrap();
    let payments = on_response(&bill.key, &bill_ret(bill)).unwrap();
    assert_valid(&payments, REQUEST_TYPES);
    assert_eq!(
        keys(&payments),
        [
            "bill-payment:6e3816e3-0e53-42ae-b075-bdb0adff10c4:A6PMDVX628",
            "bill-payment:6e3816e3-0e53-42ae-b075-bdb0adff10c4:Q9ZK2M1T4B"
        ]
    );
    let (ach, card) = (&payments[0], &payments[1]);
    assert_eq!(ach.request_type(), Some("BillPaymentCheckAdd"));
    assert_eq!(card.request_type(), Some("BillPaymentCreditCardAdd"));
    for p in &payments {
        assert_eq!(p.depends_on, std::slice::from_ref(&bill.key));
        assert!(
            p.qbxml
                .contains("<PayeeEntityRef><ListID>80000099-1714575600</ListID></PayeeEntityRef>")
        );
        assert!(
            p.qbxml
                .contains("<AppliedToTxnAdd><TxnID>1A2B-1234567890</TxnID>")
        );
    }
    assert!(
        ach.qbxml
            .contains("<BankAccountRef><FullName>Ramp Bill Pay</FullName></BankAccountRef>")
    );
    assert!(
        card.qbxml.contains(
            "<CreditCardAccountRef><FullName>Ramp Card</FullName></CreditCardAccountRef>"
        )
    );
    assert_eq!(all(&ach.qbxml, "PaymentAmount"), ["10000.00"]);
    assert_eq!(all(&card.qbxml, "PaymentAmount"), ["2500.00"]);
    assert_eq!(all(&ach.qbxml, "TxnDate"), ["2025-04-25"]);
    assert_eq!(all(&ach.qbxml, "RefNumber"), ["A6PMDVX628"]);
    assert_eq!(
        on_response(&bill.key, &bill_ret(bill)).unwrap(),
        payments,
        "deterministic"
    );
}

#[test]
fn a_bill_paid_after_it_synced_gets_its_payments_once_against_ramps_txn_id() {
    let paid = fixture("ramp-bill-3-partial-payments.json");
    // When it synced it was unpaid: that is the bill QuickBooks has.
    let mut unpaid = paid.clone();
    unpaid["bill"]["payments"] = json!([]);
    unpaid["bill"].as_object_mut().unwrap().remove("payment");
    let written = mapped("bill", &unpaid).pop().unwrap();
    assert!(
        on_response(&written.key, &bill_ret(&written))
            .unwrap()
            .is_empty()
    );

    let mut record = paid.clone();
    record["bill"]["sync_status"] = json!("BILL_SYNCED");
    record["bill"]["remote_id"] = json!("1A2B-1234567890");
    let requests = mapped("bill", &record);
    let bill = by_key(&requests, &written.key);
    assert_eq!(
        bill.qbxml, written.qbxml,
        "the bill itself is unchanged: no new version"
    );
    let payments: Vec<&Request> = requests
        .iter()
        .filter(|r| r.key.starts_with("bill-payment:"))
        .collect();
    // The same keys a bill paid before it synced gets from its BillRet.
    let from_plan = on_response(
        &written.key,
        &bill_ret(&mapped("bill", &paid).pop().unwrap()),
    )
    .unwrap();
    assert_eq!(
        payments.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
        keys(&from_plan)
    );
    for p in &payments {
        assert_eq!(p.depends_on, std::slice::from_ref(&written.key));
        assert!(
            p.qbxml
                .contains("<AppliedToTxnAdd><TxnID>1A2B-1234567890</TxnID>")
        );
        let probe = p.probe.as_deref().unwrap();
        assert!(
            probe.starts_with("<BillPaymentCheckQueryRq><RefNumber>")
                || probe.starts_with("<BillPaymentCreditCardQueryRq><RefNumber>"),
            "{probe}"
        );
    }
    assert_eq!(
        payments[0].probe.as_deref().unwrap(),
        from_plan[0].probe.as_deref().unwrap()
    );
    assert!(payments[0].probe.as_deref().unwrap().contains("A6PMDVX628"));
    assert_eq!(
        mapped("bill", &record),
        requests,
        "a second pull asks the same"
    );

    record["bill"].as_object_mut().unwrap().remove("remote_id");
    assert_eq!(
        map("bill", &record).unwrap_err().field.as_deref(),
        Some("bill.remote_id")
    );
}

#[test]
fn responses_to_other_requests_or_without_a_plan_have_no_follow_ups() {
    assert_eq!(on_response("vendor:x", "<VendorRet/>").unwrap(), vec![]);
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["payments"] = json!([]);
    record["bill"].as_object_mut().unwrap().remove("payment");
    let requests = mapped("bill", &record);
    let bill = requests.last().unwrap();
    assert!(!bill.qbxml.contains("qbridge-pay/1"));
    assert_eq!(on_response(&bill.key, &bill_ret(bill)).unwrap(), vec![]);
}

#[test]
fn a_source_memo_cannot_smuggle_in_payments() {
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["payments"] = json!([]);
    record["bill"].as_object_mut().unwrap().remove("payment");
    record["bill"]["memo"] = json!("qbridge-pay/1;bank=X;card=Y;B,2025-01-01,1000000.00,");
    let requests = mapped("bill", &record);
    let bill = requests.last().unwrap();
    assert_eq!(on_response(&bill.key, &bill_ret(bill)).unwrap(), vec![]);
}

#[test]
fn vendor_credits_and_manual_payments_are_noted_not_paid() {
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["payments"][1]["payment_method"] = json!("VENDOR_CREDIT");
    let requests = mapped("bill", &record);
    let bill = requests.last().unwrap();
    assert!(bill.notes.iter().any(|n| n.contains("VENDOR_CREDIT")));
    assert_eq!(on_response(&bill.key, &bill_ret(bill)).unwrap().len(), 1);
}

#[test]
fn a_bill_with_a_known_vendor_refers_to_its_list_id() {
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["vendor"]["remote_id"] = json!("80000077-1599999999");
    let requests = mapped("bill", &record);
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0]
            .qbxml
            .contains("<VendorRef><ListID>80000077-1599999999</ListID></VendorRef>")
    );
    assert!(requests[0].depends_on.is_empty());
}

#[test]
fn bill_totals_must_match_and_missing_fields_are_named() {
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["amount"]["amount"] = json!(1250001);
    assert_eq!(
        map("bill", &record).unwrap_err().field.as_deref(),
        Some("bill.amount")
    );
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["vendor"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    assert_eq!(
        map("bill", &record).unwrap_err().field.as_deref(),
        Some("bill.vendor.name")
    );
    let mut record = fixture("ramp-bill-3-partial-payments.json");
    record["bill"]["line_items"][0]["amount"]["currency_code"] = json!("EUR");
    assert_eq!(
        map("bill", &record).unwrap_err().field.as_deref(),
        Some("bill.line_items[0].amount.currency_code")
    );
}

#[test]
fn reimbursement_is_a_bill_to_the_employee_then_its_payment() {
    let requests = mapped(
        "reimbursement",
        &fixture("ramp-reimbursement-1-mileage.json"),
    );
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0]
            .qbxml
            .contains("<Name>Renée O&apos;Connor - Ramp</Name>")
    );
    let bill = &requests[1];
    assert_eq!(
        bill.key,
        "reimbursement:9d1f2e3a-4b5c-4d6e-8f70-1a2b3c4d5e6f"
    );
    let x = &bill.qbxml;
    assert_eq!(all(x, "Amount"), ["18.99", "45.21"]);
    assert!(x.contains("<AccountRef><FullName>Office Supplies:Printing</FullName></AccountRef>"));
    assert_eq!(all(x, "TxnDate"), ["2025-05-06"]);
    let payments = on_response(&bill.key, &bill_ret(bill)).unwrap();
    assert_valid(&payments, REQUEST_TYPES);
    assert_eq!(
        keys(&payments),
        ["reimbursement-payment:9d1f2e3a-4b5c-4d6e-8f70-1a2b3c4d5e6f:RB-20250509-17"]
    );
    assert_eq!(payments[0].request_type(), Some("BillPaymentCheckAdd"));
    assert_eq!(all(&payments[0].qbxml, "PaymentAmount"), ["64.20"]);
    assert_eq!(all(&payments[0].qbxml, "TxnDate"), ["2025-05-09"]);
}

#[test]
fn paybacks_and_user_to_business_reimbursements_map_to_nothing() {
    for (field, value) in [("type", "PAYBACK_FULL"), ("direction", "USER_TO_BUSINESS")] {
        let mut record = fixture("ramp-reimbursement-1-mileage.json");
        record["reimbursement"][field] = json!(value);
        assert_eq!(map("reimbursement", &record).unwrap(), vec![], "{value}");
    }
}

#[test]
fn the_manifest_declares_the_types_the_samples_emit_and_their_changes() {
    let samples = [
        ("transaction", "ramp-transaction-1-card-split.json"),
        ("transaction", "ramp-transaction-2-refund.json"),
        ("bill", "ramp-bill-3-partial-payments.json"),
        ("reimbursement", "ramp-reimbursement-1-mileage.json"),
        ("transfer", "ramp-transfer-1-statement-payment.json"),
        ("cashback", "ramp-cashback-1.json"),
        ("vendor_credit", "ramp-vendor-credit-1.json"),
    ];
    let mut requests = Vec::new();
    for (kind, file) in samples {
        let mapped = mapped(kind, &fixture(file));
        let last = mapped.last().unwrap();
        requests.extend(on_response(&last.key, &bill_ret(last)).unwrap());
        requests.extend(mapped);
    }
    requests.extend(mapped(
        "quickbooks-lists",
        &json!({"id": "daily-2026-12-04"}),
    ));
    let mut emitted = std::collections::BTreeSet::new();
    for xml in requests
        .iter()
        .flat_map(|r| std::iter::once(&r.qbxml).chain(r.probe.iter()))
    {
        let root = qbridge_sdk::root_element(xml).unwrap();
        let ty = root.strip_suffix("Rq").unwrap();
        emitted.insert(ty.to_string());
        // The engine turns a changed record's Add into its Mod only if declared; QuickBooks
        // has no Mod of a card bill payment.
        if let Some(object) = ty.strip_suffix("Add")
            && object != "BillPaymentCreditCard"
        {
            emitted.insert(format!("{object}Mod"));
        }
    }
    emitted.extend(["TxnVoid".to_string(), "TxnDel".to_string()]);
    let declared: std::collections::BTreeSet<String> =
        REQUEST_TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(emitted, declared);
}

#[test]
fn a_statement_payment_is_a_check_from_the_bank_to_the_card_account() {
    let requests = mapped(
        "transfer",
        &fixture("ramp-transfer-1-statement-payment.json"),
    );
    assert_eq!(
        keys(&requests),
        ["transfer:4b9e1d2a-7c3f-4e5a-8b6c-0d1e2f3a4b5c"]
    );
    let x = &requests[0].qbxml;
    assert!(
        x.starts_with("<CheckAddRq><CheckAdd><AccountRef><FullName>Operating Checking</FullName>")
    );
    assert_eq!(all(x, "Amount"), ["48213.37"]);
    assert!(x.contains("<ExpenseLineAdd><AccountRef><FullName>Ramp Card</FullName>"));
    assert_eq!(
        all(x, "TxnDate"),
        ["2025-06-30"],
        "03:12 UTC is the evening before in -05:00"
    );
    let mut pending = fixture("ramp-transfer-1-statement-payment.json");
    pending["transfer"]["status"] = json!("PROCESSING_BY_ODFI");
    assert_eq!(
        map("transfer", &pending).unwrap_err().field.as_deref(),
        Some("transfer.status")
    );
    pending["transfer"]["status"] = json!("CANCELED");
    assert_eq!(map("transfer", &pending).unwrap(), vec![]);
}

#[test]
fn cashback_is_a_card_credit_to_the_rewards_account() {
    let requests = mapped("cashback", &fixture("ramp-cashback-1.json"));
    let x = &requests[0].qbxml;
    assert!(x.starts_with("<CreditCardCreditAddRq>"));
    assert_eq!(all(x, "Amount"), ["182.44"]);
    assert!(x.contains("<FullName>Other Income:Card Rewards</FullName>"));
    assert!(
        requests[0]
            .probe
            .as_deref()
            .unwrap()
            .starts_with("<CreditCardCreditQueryRq>")
    );
}

#[test]
fn a_vendor_credit_is_a_vendor_credit_add_with_its_coded_lines() {
    let requests = mapped("vendor_credit", &fixture("ramp-vendor-credit-1.json"));
    assert_eq!(
        requests.len(),
        1,
        "the vendor is known by ListID: {:?}",
        keys(&requests)
    );
    let x = &requests[0].qbxml;
    assert!(x.starts_with(
        "<VendorCreditAddRq><VendorCreditAdd><VendorRef><ListID>80000099-1714575600</ListID>"
    ));
    assert_eq!(all(x, "RefNumber"), ["CN-2025-000418"]);
    assert_eq!(all(x, "Amount"), ["500.00", "112.50"]);
    assert!(x.contains("<FullName>Shipping:Handling</FullName>"));
    assert!(
        requests[0]
            .probe
            .as_deref()
            .unwrap()
            .starts_with("<VendorCreditQueryRq>")
    );
    let mut short = fixture("ramp-vendor-credit-1.json");
    short["vendor_credit"]["amount"]["amount"] = json!(61000);
    let err = map("vendor_credit", &short).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("vendor_credit.amount"));
    assert!(
        err.message.contains("612.50") && err.message.contains("610.00"),
        "{err}"
    );
}

#[test]
fn receipts_are_linked_in_the_memo_never_their_presigned_urls() {
    let mut record = fixture("ramp-transaction-1-card-split.json");
    record["transaction"]["receipts"] = json!(["r-1", "r-2"]);
    let requests = mapped("transaction", &record);
    let charge = requests.last().unwrap();
    let memo = &all(&charge.qbxml, "Memo")[0];
    assert!(
        memo.contains("2 receipts in Ramp: https://app.ramp.com/transactions/"),
        "{memo}"
    );
    assert!(!memo.contains("X-Amz"), "{memo}");
}

#[test]
fn a_header_amount_written_with_float_noise_maps_with_a_note() {
    let text = std::fs::read_to_string(format!(
        "{}/../../tests/fixtures/sources/ramp-transaction-1-card-split.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let record: Value = serde_json::from_str(&text).unwrap();
    let amount = record["transaction"]["amount"].to_string();
    let noisy: Value = serde_json::from_str(&text.replacen(
        &format!("\"amount\": {amount}"),
        &format!("\"amount\": {amount}00000000001"),
        1,
    ))
    .unwrap();
    assert_ne!(
        noisy["transaction"]["amount"],
        record["transaction"]["amount"]
    );
    let requests = mapped("transaction", &noisy);
    let charge = requests.last().unwrap();
    assert!(
        charge.notes.iter().any(|n| n.starts_with("rounding:")),
        "{:?}",
        charge.notes
    );
}
