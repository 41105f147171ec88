//! Full examples of every Add the SDK's builders produce, shared by `qbxml_builders.rs` and
//! `qbxml_change.rs` (each test crate uses a part of them).
#![allow(dead_code)]

use qbridge_sdk::amount::Amount;
use qbridge_sdk::qbxml::*;

pub fn amt(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

pub fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

pub fn name(s: &str) -> Ref {
    Ref::full_name(s)
}

const GUID: &str = "{8A4E3C2B-1D0F-5A6B-9C8D-7E6F5A4B3C2D}";

pub fn address() -> Address {
    Address {
        addr1: Some("Acme Corp".into()),
        addr2: Some("12 Broadway & 5th".into()),
        addr3: Some("Suite 400".into()),
        addr4: Some("c/o Accounts".into()),
        addr5: Some("Floor 4".into()),
        city: Some("Albany".into()),
        state: Some("NY".into()),
        postal_code: Some("12207".into()),
        country: Some("USA".into()),
        note: Some("Ring twice".into()),
    }
}

pub fn full_expense() -> ExpenseLine {
    ExpenseLine::new(name("Travel:Lodging"), amt("1134.56"))
        .billable_status(BillableStatus::Billable)
        .sales_tax_code_ref(name("Non"))
        .class_ref(name("Consulting"))
        .customer_ref(name("Acme Corp:Website rebuild"))
        .memo("Hôtel Lutetia – 2 nights")
}

pub fn full_item_line() -> ItemLine {
    ItemLine::new(name("Hardware:Switch"))
        .override_item_account_ref(name("Equipment"))
        .billable_status(BillableStatus::NotBillable)
        .sales_tax_code_ref(name("Tax"))
        .class_ref(name("Ops"))
        .customer_ref(name("Acme"))
        .amount(amt("699.98"))
        .cost(amt("349.99"))
        .unit_of_measure("each")
        .quantity(amt("2"))
        .desc("24-port switch")
}

pub fn full_invoice_line() -> InvoiceLine {
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
        .desc("Remote support, February")
}

/// One full example of every Add the SDK's builders produce.
pub fn every_builder_add() -> Vec<String> {
    let mut adds = vec![
        full_customer().build(),
        VendorAdd::new("Northwind Supplies")
            .external_guid(GUID)
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
            .build(),
        InvoiceAdd::new(Ref::list_id("80000001-1234567890"))
            .line(full_invoice_line())
            .line(InvoiceLine::text("Thank you for your business."))
            .line(InvoiceLine::new(name("Labor")).amount(amt("1")))
            .external_guid(GUID)
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
            .due_date(date("2025-03-31"))
            .terms_ref(name("Net 30"))
            .po_number("PO-88231")
            .is_pending(false)
            .ship_address(address())
            .bill_address(address())
            .ref_number("10457")
            .txn_date(date("2025-03-01"))
            .template_ref(name("Intuit Service Invoice"))
            .ar_account_ref(name("Accounts Receivable"))
            .class_ref(name("Consulting"))
            .build(),
        InvoiceAdd::credit_memo(name("St. Brigid's Parish School"))
            .line(full_invoice_line())
            .line(InvoiceLine::new(name("SLA Service Credit")).amount(amt("500")))
            .external_guid(GUID)
            .customer_sales_tax_code_ref(name("Non"))
            .memo("src:29685002")
            .po_number("P")
            .ref_number("10502C")
            .txn_date(date("2025-04-30"))
            .bill_address(address())
            .build(),
        BillAdd::new(name("Northwind"))
            .item_line(full_item_line())
            .expense_line(full_expense())
            .expense_line(ExpenseLine::new(name("Office Supplies"), amt("99.99")))
            .external_guid(GUID)
            .sales_tax_code_ref(name("Non"))
            .is_tax_included(false)
            .memo("src:b-3")
            .terms_ref(name("Net 30"))
            .ref_number("INV-2025-000042-A")
            .due_date(date("2025-04-01"))
            .txn_date(date("2025-03-01"))
            .ap_account_ref(name("Accounts Payable"))
            .vendor_address(address())
            .build(),
        BillAdd::vendor_credit(name("Nordic Logistics AB"))
            .ap_account_ref(name("Accounts Payable"))
            .txn_date(date("2025-05-14"))
            .ref_number("CN-2025-000418")
            .memo("Returned pallets")
            .external_guid(GUID)
            .item_line(full_item_line())
            .expense_line(full_expense())
            .build(),
        TimeTrackingAdd::new(date("2025-03-09"), name("v-Halpert, Jim"), amt("2.5083"))
            .customer_ref(name("Acme Corp:Website rebuild"))
            .item_service_ref(name("Labor:Remote Support"))
            .rate(amt("150"))
            .class_ref(name("Ops"))
            .notes("Outlook profile repair")
            .billable_status(BillableStatus::Billable)
            .external_guid(GUID)
            .build(),
        BillPaymentAdd::check(name("Northwind"), name("Checking"))
            .applied_to(
                AppliedToTxn::new("1A2B-1234567890", amt("1500.01"))
                    .discount_account_ref(name("Discounts"))
                    .discount_amount(amt("10")),
            )
            .applied_to(AppliedToTxn::new("1A2C-1234567890", amt("2500")))
            .external_guid(GUID)
            .memo("Ramp bill payment")
            .ref_number("ACH-7731")
            .txn_date(date("2025-03-15"))
            .ap_account_ref(name("Accounts Payable"))
            .build(),
        CheckAdd::new(name("Checking"))
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
            .build(),
        PurchaseOrderAdd::new(name("Ingram"))
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
            .line(PurchaseOrderLine::new(name("Switch")).quantity(amt("1")))
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
            .build(),
        JournalEntryAdd::new()
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
            .build(),
    ];
    for make in [CreditCardAdd::charge, CreditCardAdd::credit] {
        adds.push(
            make(name("Ramp Card"))
                .item_line(full_item_line())
                .expense_line(full_expense())
                .expense_line(ExpenseLine::new(name("Office Supplies"), amt("99.99")))
                .external_guid(GUID)
                .sales_tax_code_ref(name("Non"))
                .is_tax_included(false)
                .memo("src:3f1b6a0e")
                .ref_number("R-3F1B6A0E")
                .txn_date(date("2025-03-01"))
                .payee_entity_ref(name("Hôtel Lutetia"))
                .build(),
        );
    }
    for kind in [
        ItemKind::Service,
        ItemKind::NonInventory,
        ItemKind::OtherCharge,
    ] {
        adds.push(
            ItemAdd::new(kind, "Hardware:Widget")
                .external_guid(GUID)
                .account_ref(name("Sales:Hardware"))
                .price(amt("19.99"))
                .desc("A widget")
                .sales_tax_code_ref(name("Tax"))
                .is_tax_included(false)
                .manufacturer_part_number("W-1")
                .class_ref(name("Ops"))
                .is_active(true)
                .build(),
        );
        adds.push(
            ItemAdd::new(kind, "Reimbursable")
                .parent_ref(name("Expenses"))
                .expense_account_ref(name("Cost of Goods Sold"))
                .income_account_ref(name("Reimbursed Expenses"))
                .pref_vendor_ref(name("Northwind"))
                .purchase_cost(amt("10"))
                .purchase_desc("Bought")
                .price(amt("12"))
                .desc("Sold")
                .build(),
        );
    }
    adds.into_iter()
        .map(|b| {
            b.unwrap_or_else(|e| panic!("example does not build: {e}"))
                .qbxml
        })
        .collect()
}

pub fn full_customer() -> CustomerAdd {
    CustomerAdd::new("Acme Corp:Website rebuild")
        .is_active(true)
        .class_ref(name("Consulting"))
        .company_name("Acme Corporation")
        .salutation("Ms.")
        .first_name("Jane")
        .middle_name("Q")
        .last_name("O'Neil")
        .job_title("CFO")
        .bill_address(address())
        .ship_address(address())
        .print_as("Acme")
        .phone("+1 212 555 0100")
        .mobile("+1 212 555 0101")
        .alt_phone("+1 212 555 0102")
        .fax("+1 212 555 0103")
        .email("ap@acme.example")
        .cc("cfo@acme.example")
        .contact("Jane O'Neil")
        .alt_contact("John Doe")
        .customer_type_ref(name("Enterprise"))
        .terms_ref(name("Net 30"))
        .sales_rep_ref(name("JQ"))
        .open_balance(amt("0"))
        .open_balance_date(date("2025-01-01"))
        .sales_tax_code_ref(name("Tax"))
        .item_sales_tax_ref(name("NY State"))
        .resale_number("R-1")
        .account_number("29683501")
        .credit_limit(amt("50000"))
        .job_start_date(date("2025-02-01"))
        .job_projected_end_date(date("2025-06-30"))
        .job_end_date(date("2025-07-15"))
        .job_desc("Rebuild of the public site")
        .job_type_ref(name("Web"))
        .notes("Imported from Autotask <company 29683501>")
        .price_level_ref(name("Standard"))
        .external_guid(GUID)
        .currency_ref(name("US Dollar"))
}
