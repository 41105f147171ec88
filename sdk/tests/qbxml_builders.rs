//! Every qbXML builder, minimal and fully filled, validated against Intuit's qbXML 13.0 and
//! 16.0 schemas; setter order, text policy, names, amounts and ids as plugin authors meet them.
//! Run with `cargo test --release -p qbridge-sdk --features schema`.
#![cfg(feature = "schema")]

use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::{external_guid, ref_number};
use qbridge_sdk::qbxml::*;
use qbridge_sdk::schema::{QbxmlVersion, validate};

mod examples;
use examples::{address, amt, date, full_customer, full_expense, full_item_line, name};
use qbridge_sdk::text::{TextPolicy, TextProblem};

/// The request inside the message set the engine sends.
fn envelope(version: QbxmlVersion, rq: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"{version}\"?><QBXML>\
         <QBXMLMsgsRq onError=\"stopOnError\">{rq}</QBXMLMsgsRq></QBXML>"
    )
}

fn assert_valid(built: &Built) {
    for version in QbxmlVersion::ALL {
        if let Err(e) = validate(version, &envelope(version, &built.qbxml)) {
            panic!("{e}\n{}", built.qbxml);
        }
    }
}

fn ok(result: Result<Built, BuildError>) -> Built {
    let built = result.unwrap_or_else(|e| panic!("build failed: {e}"));
    assert_valid(&built);
    built
}

#[test]
fn the_schema_check_these_tests_rely_on_catches_wrong_order_and_length() {
    let swapped = "<CustomerAddRq><CustomerAdd><IsActive>true</IsActive><Name>A</Name></CustomerAdd></CustomerAddRq>";
    let too_long = format!(
        "<CustomerAddRq><CustomerAdd><Name>{}</Name></CustomerAdd></CustomerAddRq>",
        "A".repeat(42)
    );
    for rq in [swapped, too_long.as_str()] {
        for version in QbxmlVersion::ALL {
            assert!(validate(version, &envelope(version, rq)).is_err(), "{rq}");
        }
    }
}

const GUID: &str = "{8A4E3C2B-1D0F-5A6B-9C8D-7E6F5A4B3C2D}";

// ---- customers ----------------------------------------------------------------------------

#[test]
fn customer_add_minimal_is_valid() {
    let b = ok(CustomerAdd::new("Acme Corp").build());
    assert_eq!(
        b.qbxml,
        "<CustomerAddRq><CustomerAdd><Name>Acme Corp</Name></CustomerAdd></CustomerAddRq>"
    );
    assert!(b.notes.is_empty());
}

#[test]
fn customer_add_fully_filled_is_valid() {
    let b = ok(full_customer().build());
    assert!(b.qbxml.contains(
        "<Name>Website rebuild</Name><IsActive>true</IsActive><ClassRef><FullName>Consulting</FullName></ClassRef><ParentRef><FullName>Acme Corp</FullName></ParentRef>"
    ));
    assert!(b.qbxml.contains("<LastName>O&apos;Neil</LastName>"));
    assert!(b.qbxml.contains("<Addr2>12 Broadway &amp; 5th</Addr2>"));
    assert!(b.qbxml.contains("<OpenBalance>0.00</OpenBalance>"));
}

#[test]
fn customer_setters_in_scrambled_order_give_the_same_request() {
    let scrambled = CustomerAdd::new("Acme Corp:Website rebuild")
        .currency_ref(name("US Dollar"))
        .external_guid(GUID)
        .notes("Imported from Autotask <company 29683501>")
        .price_level_ref(name("Standard"))
        .job_type_ref(name("Web"))
        .job_desc("Rebuild of the public site")
        .job_end_date(date("2025-07-15"))
        .job_projected_end_date(date("2025-06-30"))
        .job_start_date(date("2025-02-01"))
        .credit_limit(amt("50000"))
        .account_number("29683501")
        .resale_number("R-1")
        .item_sales_tax_ref(name("NY State"))
        .sales_tax_code_ref(name("Tax"))
        .open_balance_date(date("2025-01-01"))
        .open_balance(amt("0"))
        .sales_rep_ref(name("JQ"))
        .terms_ref(name("Net 30"))
        .customer_type_ref(name("Enterprise"))
        .alt_contact("John Doe")
        .contact("Jane O'Neil")
        .cc("cfo@acme.example")
        .email("ap@acme.example")
        .fax("+1 212 555 0103")
        .alt_phone("+1 212 555 0102")
        .mobile("+1 212 555 0101")
        .phone("+1 212 555 0100")
        .print_as("Acme")
        .ship_address(address())
        .bill_address(address())
        .job_title("CFO")
        .last_name("O'Neil")
        .middle_name("Q")
        .first_name("Jane")
        .salutation("Ms.")
        .company_name("Acme Corporation")
        .class_ref(name("Consulting"))
        .is_active(true);
    assert_eq!(
        ok(scrambled.build()).qbxml,
        full_customer().build().unwrap().qbxml
    );
}

#[test]
fn customer_mod_needs_list_id_and_edit_sequence_and_is_valid() {
    let b = ok(CustomerMod::new("80000001-1234567890", "1234567890").build());
    assert_eq!(
        b.qbxml,
        "<CustomerModRq><CustomerMod><ListID>80000001-1234567890</ListID><EditSequence>1234567890</EditSequence></CustomerMod></CustomerModRq>"
    );
    let full = ok(CustomerMod::new("80000001-1234567890", "1234567890")
        .email("new@acme.example")
        .parent_ref(Ref::list_id("80000002-1234567890"))
        .name("Acme Renamed")
        .bill_address(address())
        .sales_tax_code_ref(name("Non"))
        .credit_limit(amt("1000"))
        .notes("n")
        .currency_ref(name("US Dollar"))
        .build());
    assert!(
        full.qbxml
            .contains("<Name>Acme Renamed</Name><ParentRef><ListID>")
    );
    let err = CustomerMod::new("bad id with spaces", "1")
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidId { .. }), "{err}");
}

#[test]
fn parent_child_names_split_into_parent_ref_and_name() {
    let b = ok(CustomerAdd::new("Acme:Region East:Website").build());
    assert!(b.qbxml.contains(
        "<Name>Website</Name><ParentRef><FullName>Acme:Region East</FullName></ParentRef>"
    ));
}

#[test]
fn a_single_name_may_not_contain_a_colon_or_empty_parts() {
    for bad in [":Acme", "Acme:", "Acme::Job"] {
        let err = CustomerAdd::new(bad).build().unwrap_err();
        assert!(matches!(err, BuildError::Colon { .. }), "{bad}: {err}");
    }
    let err = CustomerAdd::new("Acme:Job")
        .parent_ref(name("Other"))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Colon { .. }), "{err}");
    let err = VendorAdd::new("Ramp:Vendor").build().unwrap_err();
    assert!(matches!(err, BuildError::Colon { .. }), "{err}");
    let err = CustomerAdd::new("👍").build().unwrap_err();
    assert!(matches!(err, BuildError::Empty { .. }), "{err}");
}

// ---- text policy --------------------------------------------------------------------------

#[test]
fn non_latin1_text_is_transliterated_with_a_note() {
    let b = ok(CustomerAdd::new("Café Ünïcode – Ltd").build());
    assert!(b.qbxml.contains("<Name>Café Ünïcode - Ltd</Name>"));
    assert_eq!(
        b.notes,
        [r#"CustomerAdd Name: "Café Ünïcode – Ltd" → "Café Ünïcode - Ltd" (non-Latin-1 replaced)"#]
    );
}

#[test]
fn over_long_text_is_truncated_to_the_xsd_limit_with_a_note() {
    let long = "A".repeat(50);
    let b = ok(CustomerAdd::new(long.as_str())
        .phone("+1 (212) 555-0100 ext. 4711")
        .build());
    assert!(
        b.qbxml
            .contains(&format!("<Name>{}</Name>", "A".repeat(41)))
    );
    assert!(b.qbxml.contains("<Phone>+1 (212) 555-0100 ext</Phone>"));
    assert_eq!(b.notes.len(), 2);
    assert!(
        b.notes[0].contains("truncated to 41 characters"),
        "{}",
        b.notes[0]
    );
    assert!(
        b.notes[1].starts_with("CustomerAdd Phone:"),
        "{}",
        b.notes[1]
    );
}

#[test]
fn item_names_are_cut_at_31_characters_in_names_and_references() {
    let long = "Managed Services Premium Plan Gold Tier";
    let item = ok(ItemAdd::new(ItemKind::Service, long)
        .account_ref(name("Services"))
        .build());
    assert!(
        item.qbxml
            .contains("<Name>Managed Services Premium Plan G</Name>")
    );
    // The invoice line refers to the item by its source name and still finds it.
    let inv = ok(InvoiceAdd::new(name("Acme"))
        .line(InvoiceLine::new(name(long)).amount(amt("1")))
        .build());
    assert!(
        inv.qbxml
            .contains("<ItemRef><FullName>Managed Services Premium Plan G</FullName>")
    );
}

#[test]
fn a_reference_too_long_for_its_list_is_refused_rather_than_cut() {
    let err = CustomerAdd::new("Acme")
        .sales_tax_code_ref(name("Taxable"))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::Text {
            field: "CustomerAdd SalesTaxCodeRef FullName".into(),
            problem: TextProblem::TooLong { len: 7, max: 3 },
        }
    );
}

#[test]
fn reject_policy_turns_over_long_text_into_an_error_naming_the_field() {
    let err = InvoiceAdd::new(name("Acme"))
        .policy(TextPolicy::Reject)
        .line(InvoiceLine::new(name("Labor")).amount(amt("1")))
        .line(
            InvoiceLine::new(name("Labor"))
                .amount(amt("1"))
                .other1("x".repeat(30)),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::Text {
            field: "InvoiceAdd InvoiceLineAdd[2] Other1".into(),
            problem: TextProblem::TooLong { len: 30, max: 29 },
        }
    );
    assert!(
        err.to_string()
            .contains("InvoiceLineAdd[2] Other1 is 30 characters long")
    );
    let err = VendorAdd::new("Délice – Paris")
        .policy(TextPolicy::Reject)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::Text {
            problem: TextProblem::NotLatin1,
            ..
        }
    ));
    // Latin-1 text that fits passes the strict policy unchanged.
    assert!(
        ok(VendorAdd::new("Délice Paris")
            .policy(TextPolicy::Reject)
            .build())
        .notes
        .is_empty()
    );
}

#[test]
fn markup_and_control_characters_never_break_the_xml() {
    let b = ok(
        CustomerAdd::new("<b>A&B</b> \"quoted\" 'single' \u{0}\u{7}\u{1B}]]>")
            .notes("line one\r\nline two\ttab \u{FFFE}\u{FFFF} \u{D7FF}")
            .build(),
    );
    assert!(
        b.qbxml
            .contains("&lt;b&gt;A&amp;B&lt;/b&gt; &quot;quoted&quot;")
    );
}

// ---- vendors and items --------------------------------------------------------------------

#[test]
fn vendor_add_minimal_and_full_are_valid() {
    ok(VendorAdd::new("Northwind").build());
    let b = ok(VendorAdd::new("Northwind Supplies")
        .external_guid(external_guid("ramp:vendor", "v-1"))
        .currency_ref(name("US Dollar"))
        .open_balance_date(date("2025-01-01"))
        .open_balance(amt("0"))
        .is_vendor_eligible_for_1099(true)
        .vendor_tax_ident("12-3456789")
        .credit_limit(amt("10000"))
        .terms_ref(name("Net 30"))
        .vendor_type_ref(name("Suppliers"))
        .notes("From Ramp")
        .account_number("CUST-991")
        .name_on_check("Northwind Supplies LLC")
        .contact("Ann")
        .email("ar@northwind.example")
        .fax("555-0199")
        .phone("555-0100")
        .vendor_address(address())
        .last_name("Smith")
        .first_name("Ann")
        .company_name("Northwind Supplies LLC")
        .class_ref(name("Ops"))
        .is_active(true)
        .build());
    assert!(b.qbxml.starts_with(
        "<VendorAddRq><VendorAdd><Name>Northwind Supplies</Name><IsActive>true</IsActive>"
    ));
}

#[test]
fn every_item_kind_is_valid_minimal_and_full() {
    for kind in [
        ItemKind::Service,
        ItemKind::NonInventory,
        ItemKind::OtherCharge,
    ] {
        ok(ItemAdd::new(kind, "Widget")
            .account_ref(name("Sales"))
            .build());
        ok(ItemAdd::new(kind, "Hardware:Widget")
            .external_guid(GUID)
            .account_ref(name("Sales:Hardware"))
            .price(amt("19.999999"))
            .desc("A widget")
            .sales_tax_code_ref(name("Tax"))
            .is_tax_included(false)
            .manufacturer_part_number("W-1")
            .class_ref(name("Ops"))
            .is_active(true)
            .build());
        ok(ItemAdd::new(kind, "Reimbursable")
            .parent_ref(name("Expenses"))
            .expense_account_ref(name("Cost of Goods Sold"))
            .income_account_ref(name("Reimbursed Expenses"))
            .pref_vendor_ref(name("Northwind"))
            .purchase_cost(amt("10"))
            .purchase_desc("Bought")
            .price(amt("12"))
            .desc("Sold")
            .build());
    }
}

#[test]
fn an_item_needs_exactly_one_kind_of_account() {
    let none = ItemAdd::new(ItemKind::Service, "X").build().unwrap_err();
    assert!(matches!(none, BuildError::Missing { .. }), "{none}");
    let both = ItemAdd::new(ItemKind::Service, "X")
        .account_ref(name("A"))
        .income_account_ref(name("B"))
        .build()
        .unwrap_err();
    assert!(matches!(both, BuildError::Missing { .. }), "{both}");
}

// ---- invoices -----------------------------------------------------------------------------

#[test]
fn invoice_add_minimal_and_full_are_valid() {
    ok(InvoiceAdd::new(name("Acme"))
        .line(InvoiceLine::new(name("Labor")).amount(amt("1")))
        .build());
    let b = ok(InvoiceAdd::new(Ref::list_id("80000001-1234567890"))
        .line(
            InvoiceLine::new(name("Labor:Remote Support"))
                .other2("o2")
                .other1("o1")
                .override_item_account_ref(name("Services"))
                .sales_tax_code_ref(name("Non"))
                .service_date(date("2025-02-14"))
                .amount(amt("1750.00"))
                .class_ref(name("Consulting"))
                .rate(amt("140"))
                .unit_of_measure("hour")
                .quantity(amt("12.5"))
                .desc("Remote support, February"),
        )
        .line(InvoiceLine::text("Thank you for your business."))
        .external_guid(external_guid("autotask:invoice", "29684512"))
        .other("Batch 1841")
        .customer_sales_tax_code_ref(name("Tax"))
        .is_tax_included(false)
        .is_to_be_emailed(false)
        .is_to_be_printed(false)
        .customer_msg_ref(name("Thanks"))
        .memo("src:29684512")
        .item_sales_tax_ref(name("NY - Albany County"))
        .ship_method_ref(name("UPS"))
        .ship_date(date("2025-03-02"))
        .fob("Albany")
        .sales_rep_ref(name("JQ"))
        .due_date(date("2025-03-31T00:00:00Z"))
        .terms_ref(name("Net 30"))
        .po_number("PO-88231")
        .is_pending(false)
        .ship_address(address())
        .bill_address(address())
        .ref_number("10457")
        .txn_date(date("2025-03-01T00:00:00Z"))
        .template_ref(name("Intuit Service Invoice"))
        .ar_account_ref(name("Accounts Receivable"))
        .class_ref(name("Consulting"))
        .build());
    assert!(
        b.qbxml.contains(
            "<Quantity>12.5</Quantity><UnitOfMeasure>hour</UnitOfMeasure><Rate>140</Rate>"
        )
    );
    assert!(
        b.qbxml
            .contains("<InvoiceLineAdd><Desc>Thank you for your business.</Desc></InvoiceLineAdd>")
    );
}

#[test]
fn credit_memo_has_the_invoice_fields_and_credit_memo_lines() {
    let b = ok(InvoiceAdd::credit_memo(name("St. Brigid's Parish School"))
        .line(
            InvoiceLine::new(name("SLA Service Credit"))
                .amount(amt("500"))
                .desc("April outage"),
        )
        .external_guid(GUID)
        .customer_sales_tax_code_ref(name("Non"))
        .memo("src:29685002")
        .po_number("P")
        .ref_number("10502C")
        .txn_date(date("2025-04-30"))
        .bill_address(address())
        .build());
    assert!(b.qbxml.starts_with("<CreditMemoAddRq><CreditMemoAdd>"));
    assert!(b.qbxml.contains("<CreditMemoLineAdd><ItemRef>"));
    let err = InvoiceAdd::credit_memo(name("A")).build().unwrap_err();
    assert!(err.to_string().starts_with("CreditMemoAdd needs"), "{err}");
}

#[test]
fn an_invoice_without_lines_is_refused() {
    let err = InvoiceAdd::new(name("Acme")).build().unwrap_err();
    assert!(matches!(err, BuildError::Missing { .. }), "{err}");
}

#[test]
fn amounts_are_rounded_half_away_from_zero_with_a_note() {
    let b = ok(InvoiceAdd::new(name("Acme"))
        .line(
            InvoiceLine::new(name("Labor"))
                .amount(amt("-12.345"))
                .rate(amt("0.1234567")),
        )
        .build());
    assert!(b.qbxml.contains("<Rate>0.12346</Rate>"));
    assert!(b.qbxml.contains("<Amount>-12.35</Amount>"));
    assert_eq!(b.notes.len(), 2, "{:?}", b.notes);
    assert!(b.notes[1].starts_with("InvoiceAdd InvoiceLineAdd[1] Amount: -12.345 → -12.35"));
}

#[test]
fn amounts_beyond_13_integer_digits_are_refused_naming_the_field() {
    let err = InvoiceAdd::new(name("Acme"))
        .line(InvoiceLine::new(name("Labor")).amount(amt("12345678901234")))
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("InvoiceAdd InvoiceLineAdd[1] Amount:"),
        "{err}"
    );
}

// ---- bills, payments, cards, checks, purchase orders, journal entries ---------------------

fn expense() -> ExpenseLine {
    ExpenseLine::new(name("Office Supplies"), amt("99.99"))
}

#[test]
fn bill_add_minimal_and_full_are_valid() {
    ok(BillAdd::new(name("Northwind"))
        .expense_line(expense())
        .build());
    let b = ok(BillAdd::new(name("Northwind"))
        .item_line(full_item_line())
        .expense_line(full_expense())
        .external_guid(external_guid("ramp:bill", "b-3"))
        .sales_tax_code_ref(name("Non"))
        .is_tax_included(false)
        .memo("src:b-3")
        .terms_ref(name("Net 30"))
        .ref_number(ref_number("", "INV-2025-000042-A", 20).unwrap())
        .due_date(date("2025-04-01"))
        .txn_date(date("2025-03-01"))
        .ap_account_ref(name("Accounts Payable"))
        .vendor_address(address())
        .build());
    let expense_at = b.qbxml.find("<ExpenseLineAdd>").unwrap();
    let item_at = b.qbxml.find("<ItemLineAdd>").unwrap();
    assert!(expense_at < item_at, "expense lines come before item lines");
    assert!(b.qbxml.contains("<RefNumber>INV-2025-000042-A</RefNumber>"));
    assert!(BillAdd::new(name("Northwind")).build().is_err());
}

#[test]
fn time_tracking_add_and_its_date_probe_are_valid() {
    let built = ok(
        TimeTrackingAdd::new(date("2025-03-09"), name("v-Halpert, Jim"), amt("2.5083"))
            .customer_ref(name("Acme Corp:Website rebuild"))
            .item_service_ref(name("Labor:Remote Support"))
            .rate(amt("150"))
            .class_ref(name("Ops"))
            .notes("Outlook profile repair")
            .billable_status(BillableStatus::Billable)
            .external_guid(GUID)
            .build(),
    );
    // 2.5083 h is 150.498 minutes: 2 h 30 min.
    assert!(built.qbxml.contains("<Duration>PT2H30M0S</Duration>"));
    let zero = TimeTrackingAdd::new(date("2025-03-09"), name("x"), amt("0.001")).build();
    assert!(matches!(zero, Err(BuildError::Missing { .. })));
    let day = date("2025-03-09");
    ok(TxnQuery::new(TxnKind::TimeTracking)
        .txn_date_range(day, day)
        .include_ret_element("TxnID")
        .include_ret_element("Notes")
        .build());
}

#[test]
fn vendor_credit_add_is_valid_and_has_no_due_date_or_terms() {
    let built = ok(BillAdd::vendor_credit(name("Nordic Logistics AB"))
        .ap_account_ref(name("Accounts Payable"))
        .txn_date(date("2025-05-14"))
        .ref_number("CN-2025-000418")
        .memo("Returned pallets")
        .external_guid(GUID)
        .expense_line(ExpenseLine::new(name("Freight In"), amt("500")))
        .build());
    assert!(
        built
            .qbxml
            .starts_with("<VendorCreditAddRq><VendorCreditAdd><VendorRef>")
    );
    let err = BillAdd::vendor_credit(name("Nordic Logistics AB"))
        .due_date(date("2025-06-14"))
        .expense_line(ExpenseLine::new(name("Freight In"), amt("500")))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Missing { .. }), "{err}");
}

#[test]
fn bill_payments_by_check_and_card_are_valid() {
    let applied = AppliedToTxn::new("1A2B-1234567890", amt("1500.01"));
    ok(BillPaymentAdd::check(name("Northwind"), name("Checking"))
        .applied_to(applied.clone())
        .build());
    let b = ok(BillPaymentAdd::check(name("Northwind"), name("Checking"))
        .applied_to(
            applied
                .clone()
                .discount_account_ref(name("Discounts"))
                .discount_amount(amt("10")),
        )
        .applied_to(AppliedToTxn::new("1A2C-1234567890", amt("2500")))
        .external_guid(GUID)
        .memo("Ramp bill payment")
        .ref_number("ACH-7731")
        .txn_date(date("2025-03-15"))
        .ap_account_ref(name("Accounts Payable"))
        .build());
    assert!(
        b.qbxml
            .contains("</BankAccountRef><RefNumber>ACH-7731</RefNumber>")
    );
    let printed = ok(BillPaymentAdd::check(name("Northwind"), name("Checking"))
        .is_to_be_printed(true)
        .applied_to(applied.clone())
        .build());
    assert!(
        printed
            .qbxml
            .contains("<IsToBePrinted>true</IsToBePrinted>")
    );
    assert!(
        BillPaymentAdd::check(name("N"), name("C"))
            .is_to_be_printed(true)
            .ref_number("1")
            .applied_to(applied.clone())
            .build()
            .is_err()
    );
    ok(
        BillPaymentAdd::credit_card(name("Northwind"), name("Ramp Card"))
            .applied_to(applied.clone())
            .build(),
    );
    ok(
        BillPaymentAdd::credit_card(name("Northwind"), name("Ramp Card"))
            .external_guid(GUID)
            .memo("m")
            .ref_number("R-1")
            .txn_date(date("2025-03-15"))
            .ap_account_ref(name("Accounts Payable"))
            .applied_to(applied)
            .build(),
    );
    assert!(BillPaymentAdd::check(name("N"), name("C")).build().is_err());
}

#[test]
fn credit_card_charges_and_credits_are_valid() {
    for make in [CreditCardAdd::charge, CreditCardAdd::credit] {
        ok(make(name("Ramp Card")).expense_line(expense()).build());
        ok(make(name("Ramp Card"))
            .item_line(full_item_line())
            .expense_line(full_expense())
            .expense_line(expense())
            .external_guid(GUID)
            .sales_tax_code_ref(name("Non"))
            .is_tax_included(false)
            .memo("src:3f1b6a0e")
            .ref_number(ref_number("R", "3f1b6a0e-6c2d-4d2b-9a51-2c0b7f7d9e11", 11).unwrap())
            .txn_date(date("2025-03-01"))
            .payee_entity_ref(name("Hôtel Lutetia"))
            .build());
    }
    let credit = ok(CreditCardAdd::credit(name("Ramp Card"))
        .expense_line(expense())
        .build());
    assert!(
        credit
            .qbxml
            .starts_with("<CreditCardCreditAddRq><CreditCardCreditAdd>")
    );
}

#[test]
fn check_add_minimal_and_full_are_valid() {
    ok(CheckAdd::new(name("Checking"))
        .expense_line(expense())
        .build());
    ok(CheckAdd::new(name("Checking"))
        .item_line(full_item_line())
        .expense_line(full_expense())
        .external_guid(GUID)
        .sales_tax_code_ref(name("Non"))
        .is_tax_included(false)
        .is_to_be_printed(false)
        .address(address())
        .memo("m")
        .txn_date(date("2025-03-01"))
        .ref_number("1042")
        .payee_entity_ref(name("City Water"))
        .build());
}

#[test]
fn purchase_order_add_minimal_and_full_are_valid() {
    ok(PurchaseOrderAdd::new(name("Ingram"))
        .line(PurchaseOrderLine::new(name("Switch")).quantity(amt("1")))
        .build());
    ok(PurchaseOrderAdd::new(name("Ingram"))
        .line(
            PurchaseOrderLine::new(name("Hardware:Switch"))
                .other2("b")
                .other1("a")
                .override_item_account_ref(name("Equipment"))
                .sales_tax_code_ref(name("Non"))
                .service_date(date("2025-03-05"))
                .customer_ref(name("Acme"))
                .amount(amt("699.98"))
                .class_ref(name("Ops"))
                .rate(amt("349.99"))
                .unit_of_measure("each")
                .quantity(amt("2"))
                .desc("24-port")
                .manufacturer_part_number("SW-24"),
        )
        .external_guid(GUID)
        .other2("o2")
        .other1("o1")
        .sales_tax_code_ref(name("Non"))
        .is_tax_included(false)
        .is_to_be_emailed(false)
        .is_to_be_printed(false)
        .vendor_msg("Please ship together")
        .memo("Autotask PO 88231")
        .fob("Origin")
        .ship_method_ref(name("UPS"))
        .expected_date(date("2025-03-10"))
        .due_date(date("2025-03-31"))
        .terms_ref(name("Net 30"))
        .ship_address(address())
        .vendor_address(address())
        .ref_number("PO-88231")
        .txn_date(date("2025-03-01"))
        .template_ref(name("Custom Purchase Order"))
        .ship_to_entity_ref(name("Acme"))
        .class_ref(name("Ops"))
        .build());
    assert!(PurchaseOrderAdd::new(name("Ingram")).build().is_err());
}

#[test]
fn journal_entries_must_balance() {
    let debit = JournalLine::debit(name("Prepaid Expenses"), amt("100.005"));
    let credit = JournalLine::credit(name("Checking"), amt("100.01"));
    ok(JournalEntryAdd::new()
        .line(debit.clone())
        .line(credit.clone())
        .build());
    ok(JournalEntryAdd::new()
        .line(
            JournalLine::debit(name("Accounts Receivable"), amt("50"))
                .billable_status(BillableStatus::NotBillable)
                .class_ref(name("Ops"))
                .entity_ref(name("Acme"))
                .memo("reclass"),
        )
        .line(JournalLine::debit(name("Prepaid Expenses"), amt("50")))
        .line(JournalLine::credit(name("Checking"), amt("100")).memo("paid"))
        .external_guid(GUID)
        .is_adjustment(true)
        .memo("Quarter-end reclass")
        .ref_number("JE-1")
        .txn_date(date("2025-03-31"))
        .build());
    let err = JournalEntryAdd::new()
        .line(debit)
        .line(JournalLine::credit(name("Checking"), amt("100")))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::Unbalanced {
            debits: "100.01".into(),
            credits: "100.00".into()
        }
    );
    let one_sided = JournalEntryAdd::new().line(credit).build().unwrap_err();
    assert!(
        matches!(one_sided, BuildError::Missing { .. }),
        "{one_sided}"
    );
}

// ---- queries ------------------------------------------------------------------------------

#[test]
fn list_queries_are_valid_for_every_list() {
    for kind in [
        ListKind::Customer,
        ListKind::Vendor,
        ListKind::Item,
        ListKind::Account,
        ListKind::Class,
    ] {
        ok(ListQuery::new(kind).build());
        ok(ListQuery::new(kind)
            .list_id("80000001-1234567890")
            .list_id("80000002-1234567890")
            .include_ret_element("ListID")
            .build());
        ok(ListQuery::new(kind).full_name("Acme:Website").build());
        ok(ListQuery::new(kind)
            .include_ret_element("EditSequence")
            .name_filter(MatchCriterion::StartsWith, "Ac")
            .active_status(ActiveStatus::All)
            .max_returned(10)
            .build());
        assert!(
            ListQuery::new(kind)
                .list_id("1")
                .full_name("A")
                .build()
                .is_err()
        );
        if matches!(kind, ListKind::Account | ListKind::Class) {
            let refused = ListQuery::new(kind).iterate(200).build().unwrap_err();
            assert!(refused.to_string().contains("no iterator"), "{refused}");
            continue;
        }
        let paged = ok(ListQuery::new(kind)
            .iterate(200)
            .active_status(ActiveStatus::All)
            .include_ret_element("ListID")
            .build())
        .qbxml;
        assert!(
            paged.contains(r#"Rq iterator="Start"><MaxReturned>200</MaxReturned>"#),
            "{paged}"
        );
    }
}

#[test]
fn transaction_probes_are_valid_for_every_type() {
    let day = date("2025-03-01");
    for kind in [
        TxnKind::Invoice,
        TxnKind::CreditMemo,
        TxnKind::Bill,
        TxnKind::PurchaseOrder,
        TxnKind::Check,
        TxnKind::CreditCardCharge,
        TxnKind::CreditCardCredit,
        TxnKind::JournalEntry,
    ] {
        ok(TxnQuery::new(kind).build());
        ok(TxnQuery::new(kind).ref_number("10457").build());
        ok(TxnQuery::new(kind)
            .txn_id("1A2B-1234567890")
            .include_line_items(true)
            .build());
        ok(TxnQuery::new(kind)
            .include_ret_element("TxnID")
            .include_ret_element("ExternalGUID")
            .entity(name("Acme Corp"))
            .txn_date_range(day, day)
            .max_returned(5)
            .build());
        ok(TxnQuery::new(kind)
            .entity(Ref::list_id("80000001-1234567890"))
            .build());
        assert!(
            TxnQuery::new(kind)
                .txn_id("1")
                .ref_number("2")
                .build()
                .is_err()
        );
    }
    ok(TxnQuery::new(TxnKind::Invoice)
        .include_linked_txns(true)
        .paid_status(PaidStatus::NotPaidOnly)
        .build());
    assert!(
        TxnQuery::new(TxnKind::CreditCardCharge)
            .paid_status(PaidStatus::All)
            .build()
            .is_err()
    );
}

#[test]
fn host_and_company_queries_are_valid() {
    ok(HostQuery::new().build());
    ok(HostQuery::new()
        .include_ret_element("SupportedQBXMLVersion")
        .build());
    ok(CompanyQuery::new().build());
    ok(CompanyQuery::new()
        .include_ret_element("CompanyName")
        .owner_id("0")
        .owner_id(GUID)
        .build());
}

#[test]
fn built_requests_carry_their_notes_into_the_request() {
    let request = CustomerAdd::new("Café – Ltd")
        .build()
        .unwrap()
        .into_request("customer:29683501");
    assert_eq!(request.request_type(), Some("CustomerAdd"));
    assert_eq!(request.key, "customer:29683501");
    assert_eq!(request.notes.len(), 1);
}

// ---- property test ------------------------------------------------------------------------

/// xorshift64*: a seeded generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Unicode text, often long, mixing what sources really send with what breaks XML.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            " ",
            ":",
            "&",
            "<",
            ">",
            "\"",
            "'",
            "]]>",
            "é",
            "Ü",
            "ß",
            "ÿ",
            "–",
            "—",
            "“",
            "”",
            "…",
            "€",
            "™",
            "Ł",
            "œ",
            "東",
            "Ж",
            "👍🏽",
            "\u{200D}",
            "\u{FEFF}",
            "\u{0}",
            "\u{7}",
            "\u{1B}",
            "\u{85}",
            "\t",
            "\r\n",
            "\u{FFFF}",
            "\u{10FFFF}",
            "\u{D7FF}",
            "\u{E000}",
        ];
        let len = match self.below(4) {
            0 => 0,
            1 => self.below(8),
            2 => self.below(60),
            _ => self.below(300),
        };
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn amount(&mut self) -> Amount {
        let mantissa = (self.next() as i64) >> self.below(64);
        let cents = (self.next() as i64) % 1_000_000_000;
        match self.below(4) {
            0 => Amount::from_cents(-cents.abs()),
            1 => Amount::from_minor_units(mantissa, 10u64.pow(self.below(6) as u32)).unwrap(),
            2 => Amount::parse(&format!("{}.{}", cents, self.below(100_000))).unwrap(),
            _ => Amount::from_cents(cents),
        }
    }
}

fn never_invalid(result: Result<Built, BuildError>) -> bool {
    match result {
        Ok(built) => {
            assert_valid(&built);
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn random_input_never_panics_and_never_produces_invalid_qbxml() {
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let mut built = 0;
    for round in 0..300 {
        let policy = if round % 5 == 0 {
            TextPolicy::Reject
        } else {
            TextPolicy::Transliterate
        };
        let customer = CustomerAdd::new(rng.text())
            .company_name(rng.text())
            .notes(rng.text())
            .email(rng.text())
            .bill_address(Address {
                addr1: Some(rng.text()),
                city: Some(rng.text()),
                postal_code: Some(rng.text()),
                ..Address::default()
            })
            .credit_limit(rng.amount())
            .parent_ref(name(&rng.text()))
            .policy(policy);
        let invoice = InvoiceAdd::new(name(&rng.text()))
            .ref_number(rng.text())
            .memo(rng.text())
            .po_number(rng.text())
            .line(
                InvoiceLine::new(name(&rng.text()))
                    .desc(rng.text())
                    .quantity(rng.amount())
                    .rate(rng.amount())
                    .amount(rng.amount()),
            )
            .line(InvoiceLine::text(rng.text()))
            .policy(policy);
        let card = CreditCardAdd::charge(name(&rng.text()))
            .payee_entity_ref(name(&rng.text()))
            .memo(rng.text())
            .expense_line(
                ExpenseLine::new(name(&rng.text()), rng.amount())
                    .memo(rng.text())
                    .customer_ref(name(&rng.text())),
            )
            .policy(policy);
        let total = rng.amount();
        let journal = JournalEntryAdd::new()
            .memo(rng.text())
            .line(JournalLine::debit(name(&rng.text()), total).memo(rng.text()))
            .line(JournalLine::credit(name(&rng.text()), total))
            .policy(policy);
        let item = ItemAdd::new(ItemKind::NonInventory, rng.text())
            .account_ref(name(&rng.text()))
            .price(rng.amount())
            .policy(policy);
        let query = ListQuery::new(ListKind::Customer)
            .name_filter(MatchCriterion::Contains, rng.text())
            .policy(policy);
        let bill = BillAdd::new(name(&rng.text()))
            .ref_number(rng.text())
            .vendor_address(Address {
                addr5: Some(rng.text()),
                state: Some(rng.text()),
                ..Address::default()
            })
            .item_line(
                ItemLine::new(name(&rng.text()))
                    .desc(rng.text())
                    .quantity(rng.amount())
                    .cost(rng.amount())
                    .amount(rng.amount()),
            )
            .policy(policy);
        let check = CheckAdd::new(name(&rng.text()))
            .ref_number(rng.text())
            .expense_line(ExpenseLine::new(name(&rng.text()), rng.amount()))
            .policy(policy);
        let order = PurchaseOrderAdd::new(name(&rng.text()))
            .vendor_msg(rng.text())
            .other1(rng.text())
            .line(
                PurchaseOrderLine::new(name(&rng.text()))
                    .manufacturer_part_number(rng.text())
                    .rate(rng.amount()),
            )
            .policy(policy);
        let payment = BillPaymentAdd::check(name(&rng.text()), name(&rng.text()))
            .ref_number(rng.text())
            .memo(rng.text())
            .applied_to(AppliedToTxn::new(rng.text(), rng.amount()))
            .policy(policy);
        let probe = TxnQuery::new(TxnKind::Bill)
            .ref_number(rng.text())
            .include_ret_element(rng.text())
            .policy(policy);
        for result in [
            bill.build(),
            check.build(),
            order.build(),
            payment.build(),
            probe.build(),
            customer.build(),
            invoice.build(),
            card.build(),
            journal.build(),
            item.build(),
            query.build(),
            VendorAdd::new(rng.text()).policy(policy).build(),
        ] {
            built += usize::from(never_invalid(result));
        }
    }
    // The generator must exercise the success path, not only errors.
    assert!(built > 600, "only {built} requests built");
}

#[test]
fn a_build_error_becomes_a_map_error_with_the_qbxml_field() {
    fn map() -> Result<qbridge_sdk::Request, qbridge_sdk::MapError> {
        Ok(CustomerAdd::new("").build()?.into_request("customer:1"))
    }
    let e = map().unwrap_err();
    assert!(e.message.contains("cannot be written as qbXML"), "{e}");
    assert!(e.message.contains("Name"), "{e}");
}
