//! The simulated QuickBooks company file behaves like QuickBooks: every rule the queue must
//! cope with (3100, 3140, 3200, 3210, 3260, iterators, error recovery, faults) is reachable,
//! every message set we build and every response it returns is valid qbXML, and real
//! QuickBooks responses parse into the outcomes the queue acts on.

use qbridge::qbxml::{
    Iteration, OnError, Outcome, Recovery, ResponseSet, build_message_set, iterator_query,
    parse_response,
};
use qbridge::sim::company::{Access, Company, Faults, ListKind, Role, TxnKind};
use qbridge::sim::{QbFailure, QuickBooks};
use qbridge_sdk::schema::{QbxmlVersion, validate};

use crate::support::{run, stderr};

fn valid_in_both_schemas(xml: &str) {
    for v in QbxmlVersion::ALL {
        if let Err(e) = validate(v, xml) {
            panic!("{e}\n{xml}");
        }
    }
}

/// A message set built by the engine's builder, checked against both schemas.
fn message_set(on_error: OnError, recovery: Recovery, requests: &[(&str, &str)]) -> String {
    let xml = build_message_set((13, 0), on_error, &recovery, requests).unwrap();
    valid_in_both_schemas(&xml);
    xml
}

fn open_company() -> Company {
    let mut c = Company::new(r"C:\Company Files\Acme.qbw");
    c.open("").unwrap();
    c
}

/// Sends a message set and parses the (schema-checked) response.
fn send(c: &mut Company, xml: &str) -> ResponseSet {
    let response = c.process(xml).unwrap();
    valid_in_both_schemas(&response);
    parse_response(response.as_bytes()).unwrap()
}

/// Sends each request in its own stopOnError set and returns the single response.
fn one(c: &mut Company, rq: &str) -> qbridge::qbxml::Response {
    let set = send(c, &message_set(OnError::Stop, Recovery::None, &[("1", rq)]));
    assert_eq!(set.responses.len(), 1);
    set.responses.into_iter().next().unwrap()
}

fn customer_add(name: &str) -> String {
    format!("<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>")
}

fn vendor_add(name: &str) -> String {
    format!("<VendorAddRq><VendorAdd><Name>{name}</Name></VendorAdd></VendorAddRq>")
}

fn item_add(name: &str) -> String {
    format!(
        "<ItemServiceAddRq><ItemServiceAdd><Name>{name}</Name><SalesOrPurchase><Price>100.00</Price>\
         <AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>"
    )
}

fn invoice_add(customer: &str, item: &str, ref_number: &str) -> String {
    format!(
        "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{customer}</FullName></CustomerRef>\
         <TxnDate>2026-11-01</TxnDate><RefNumber>{ref_number}</RefNumber>\
         <InvoiceLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Quantity>3</Quantity><Rate>40.50</Rate></InvoiceLineAdd>\
         <InvoiceLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Amount>19.50</Amount></InvoiceLineAdd>\
         </InvoiceAdd></InvoiceAddRq>"
    )
}

fn bill_add(vendor: &str, amount: &str) -> String {
    format!(
        "<BillAddRq><BillAdd><VendorRef><FullName>{vendor}</FullName></VendorRef><TxnDate>2026-11-02</TxnDate>\
         <RefNumber>B-1</RefNumber><ExpenseLineAdd><AccountRef><FullName>Office Supplies</FullName></AccountRef>\
         <Amount>{amount}</Amount></ExpenseLineAdd></BillAdd></BillAddRq>"
    )
}

fn permanent_code(r: &qbridge::qbxml::Response) -> i32 {
    match &r.outcome {
        Outcome::Permanent { code, .. } => *code,
        other => panic!("expected a permanent failure, got {other:?}: {}", r.message),
    }
}

#[test]
fn duplicate_name_gets_3100_across_customers_vendors_and_item_types() {
    let mut c = open_company();
    assert_eq!(one(&mut c, &customer_add("Acme")).outcome, Outcome::Success);
    let dup = one(&mut c, &customer_add("ACME"));
    assert_eq!(permanent_code(&dup), 3100);
    assert_eq!(
        dup.message,
        r#"The name "ACME" of the list element is already in use."#
    );
    assert_eq!(
        permanent_code(&one(&mut c, &vendor_add("Acme"))),
        3100,
        "vendors share the name list"
    );
    one(&mut c, &item_add("Consulting"));
    let other_type = "<ItemNonInventoryAddRq><ItemNonInventoryAdd><Name>Consulting</Name><SalesOrPurchase><Price>1.00</Price><AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemNonInventoryAdd></ItemNonInventoryAddRq>";
    assert_eq!(
        permanent_code(&one(&mut c, other_type)),
        3100,
        "item names span item types"
    );
    assert_eq!(c.count("Customer"), 1);
    assert_eq!(c.count("Vendor"), 0);
}

#[test]
fn customers_vendors_employees_and_other_names_share_one_name_space_but_each_query_sees_its_own_list()
 {
    use qbridge::qbxml::names::NameList;
    let mut c = open_company();
    one(&mut c, &vendor_add("Acme Supply"));
    one(
        &mut c,
        "<EmployeeAddRq><EmployeeAdd><FirstName>Dana</FirstName><LastName>Lee</LastName></EmployeeAdd></EmployeeAddRq>",
    );
    one(
        &mut c,
        "<OtherNameAddRq><OtherNameAdd><Name>Landlord</Name></OtherNameAdd></OtherNameAddRq>",
    );
    for (holder, name) in [
        (NameList::Vendor, "Acme Supply"),
        (NameList::Employee, "Dana Lee"),
        (NameList::OtherName, "Landlord"),
    ] {
        assert_eq!(
            permanent_code(&one(&mut c, &customer_add(name))),
            3100,
            "{name}"
        );
        let own = one(&mut c, &NameList::Customer.lookup(name));
        assert_eq!(own.ret_count, 0, "a customer query finds no {name}");
        let found = one(&mut c, &holder.lookup(name));
        assert_eq!(found.ret_count, 1, "the {holder:?} list holds {name}");
        // Vendors, employees and other names do not nest: their Ret has a Name, no FullName.
        assert!(
            found
                .ret_xml
                .as_deref()
                .is_some_and(|x| x.contains(&format!("<Name>{name}</Name>"))),
            "{:?}",
            found.ret_xml
        );
    }
    assert_eq!(c.count("Customer"), 0);
}

#[test]
fn jobs_get_parent_child_full_names() {
    let mut c = open_company();
    one(&mut c, &customer_add("Acme"));
    let job = one(
        &mut c,
        "<CustomerAddRq><CustomerAdd><Name>Roof</Name><ParentRef><FullName>Acme</FullName></ParentRef></CustomerAdd></CustomerAddRq>",
    );
    assert_eq!(job.full_name.as_deref(), Some("Acme:Roof"));
    assert!(c.find_customer("acme:roof").is_some());
    let orphan = one(
        &mut c,
        "<CustomerAddRq><CustomerAdd><Name>Roof</Name><ParentRef><FullName>Nobody</FullName></ParentRef></CustomerAdd></CustomerAddRq>",
    );
    assert_eq!(permanent_code(&orphan), 3130);
}

#[test]
fn invoice_for_missing_customer_gets_3140_and_changes_nothing() {
    let mut c = open_company();
    one(&mut c, &item_add("Consulting"));
    let r = one(&mut c, &invoice_add("Nobody Inc", "Consulting", "1001"));
    assert_eq!(permanent_code(&r), 3140);
    assert_eq!(
        r.message,
        r#"There is an invalid reference to QuickBooks Customer "Nobody Inc" in the Invoice.  QuickBooks error message: Invalid argument.  The specified record does not exist in the list."#
    );
    assert_eq!(c.count("Invoice"), 0);
}

#[test]
fn invoice_total_comes_from_its_lines_and_raises_the_customer_balance() {
    let mut c = open_company();
    one(&mut c, &customer_add("Acme"));
    one(&mut c, &item_add("Consulting"));
    let r = one(&mut c, &invoice_add("Acme", "Consulting", "1001"));
    assert_eq!(r.outcome, Outcome::Success);
    let txn_id = r.txn_id.clone().unwrap();
    assert!(
        r.ret_xml
            .as_deref()
            .unwrap()
            .contains("<Subtotal>141.00</Subtotal>")
    );
    let invoices = c.invoices();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].txn_id, txn_id);
    assert_eq!(invoices[0].total_cents, 14_100);
    assert_eq!(invoices[0].entity.as_deref(), Some("Acme"));
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 14_100);
    let by_ref = one(
        &mut c,
        "<InvoiceQueryRq><RefNumber>1001</RefNumber></InvoiceQueryRq>",
    );
    assert_eq!(by_ref.txn_id.as_deref(), Some(txn_id.as_str()));
}

#[test]
fn stale_edit_sequence_gets_3200_and_a_fresh_one_works() {
    let mut c = open_company();
    let added = one(&mut c, &customer_add("Acme"));
    let (id, first_seq) = (added.list_id.unwrap(), added.edit_sequence.unwrap());
    let modify = |seq: &str, company: &str| {
        format!(
            "<CustomerModRq><CustomerMod><ListID>{id}</ListID><EditSequence>{seq}</EditSequence>\
             <CompanyName>{company}</CompanyName></CustomerMod></CustomerModRq>"
        )
    };
    let m1 = one(&mut c, &modify(&first_seq, "Acme Ltd"));
    assert_eq!(m1.outcome, Outcome::Success);
    let second_seq = m1.edit_sequence.unwrap();
    assert_ne!(second_seq, first_seq, "every Mod changes the EditSequence");
    let stale = one(&mut c, &modify(&first_seq, "Acme GmbH"));
    assert_eq!(permanent_code(&stale), 3200);
    assert_eq!(
        stale.message,
        format!(r#"The provided edit sequence "{first_seq}" is out-of-date."#)
    );
    assert_eq!(
        one(&mut c, &modify(&second_seq, "Acme GmbH")).outcome,
        Outcome::Success
    );
}

#[test]
fn user_without_vendors_and_payables_gets_3260_on_bill_add() {
    let mut c = open_company();
    one(&mut c, &vendor_add("Paper Co"));
    c.add_user(
        "Sam",
        Role::new(
            "Accounts Receivable",
            &[
                (
                    qbridge::qbxml::PermissionArea::CustomersReceivables,
                    Access::Full,
                ),
                (
                    qbridge::qbxml::PermissionArea::VendorsPayables,
                    Access::View,
                ),
                (qbridge::qbxml::PermissionArea::Company, Access::View),
            ],
        ),
    );
    c.set_login_as("Sam").unwrap();
    let r = one(&mut c, &bill_add("Paper Co", "10.00"));
    assert_eq!(permanent_code(&r), 3260);
    assert_eq!(
        r.message,
        "Insufficient permission level to perform this action."
    );
    assert_eq!(c.count("Bill"), 0);
    let query = one(
        &mut c,
        "<VendorQueryRq><FullName>Paper Co</FullName></VendorQueryRq>",
    );
    assert_eq!(query.outcome, Outcome::Success, "view access still reads");
    assert_eq!(one(&mut c, &customer_add("Acme")).outcome, Outcome::Success);
}

#[test]
fn iterator_returns_1000_customers_in_10_pages_of_100() {
    let mut c = open_company();
    let adds: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("c{i}"), customer_add(&format!("Customer {i:04}"))))
        .collect();
    let pairs: Vec<(&str, &str)> = adds.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let set = send(
        &mut c,
        &message_set(OnError::Continue, Recovery::None, &pairs),
    );
    assert!(set.responses.iter().all(|r| r.outcome == Outcome::Success));
    assert_eq!(c.count("Customer"), 1000);

    let mut iteration = Iteration::Start { max_returned: 100 };
    let mut remaining = Vec::new();
    let mut seen = 0;
    let mut id_holder;
    loop {
        let rq = iterator_query(
            "CustomerQuery",
            iteration,
            "<ActiveStatus>All</ActiveStatus>",
        );
        let page = one(&mut c, &rq);
        assert_eq!(page.outcome, Outcome::Success);
        assert_eq!(page.ret_count, 100);
        seen += page.ret_count;
        remaining.push(page.iterator_remaining.unwrap());
        match page.next_page() {
            Some(id) => {
                id_holder = id.to_string();
                iteration = Iteration::Continue {
                    iterator_id: &id_holder,
                    max_returned: 100,
                };
            }
            None => break,
        }
    }
    assert_eq!(seen, 1000);
    assert_eq!(
        remaining,
        vec![900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    );
}

#[test]
fn iterators_die_with_the_session() {
    let mut c = open_company();
    one(&mut c, &customer_add("A"));
    one(&mut c, &customer_add("B"));
    let first = one(
        &mut c,
        &iterator_query("CustomerQuery", Iteration::Start { max_returned: 1 }, ""),
    );
    let id = first.next_page().unwrap().to_string();
    c.close();
    c.open("").unwrap();
    let next = iterator_query(
        "CustomerQuery",
        Iteration::Continue {
            iterator_id: &id,
            max_returned: 1,
        },
        "",
    );
    assert!(matches!(
        one(&mut c, &next).outcome,
        Outcome::Permanent { .. }
    ));
}

#[test]
fn lost_response_is_recovered_with_old_message_set_id_and_nothing_is_applied_twice() {
    let mut c = open_company();
    one(&mut c, &customer_add("Acme"));
    one(&mut c, &item_add("Consulting"));
    c.set_faults(Faults {
        lose_response_after_apply: Some(3),
        ..Faults::default()
    });
    let invoice = invoice_add("Acme", "Consulting", "1001");
    let sent = message_set(
        OnError::Stop,
        Recovery::New("job7-a1".into()),
        &[("job7", &invoice)],
    );
    assert_eq!(c.process(&sent), Err(QbFailure::ResponseLost));
    assert_eq!(
        c.count("Invoice"),
        1,
        "QuickBooks applied it before the response was lost"
    );
    c.close();

    // Next session: ask what became of the set instead of resending it.
    c.open("").unwrap();
    let ask = message_set(
        OnError::Stop,
        Recovery::Old("job7-a1".into()),
        &[("job7", &invoice)],
    );
    let recovered = send(&mut c, &ask);
    let status = recovered.message_set_status.unwrap();
    assert_eq!(status.code, Some(0));
    assert_eq!(status.message_set_id.as_deref(), Some("job7-a1"));
    assert_eq!(recovered.responses.len(), 1);
    let r = &recovered.responses[0];
    assert_eq!(r.request_id.as_deref(), Some("job7"));
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.txn_id.as_deref(), Some(c.invoices()[0].txn_id.as_str()));

    assert_eq!(c.count("Invoice"), 1, "recovery applies nothing");
    let applied: Vec<_> = c
        .write_log()
        .iter()
        .filter(|w| w.message_set_id.as_deref() == Some("job7-a1"))
        .collect();
    assert_eq!(
        applied.len(),
        1,
        "the invoice was written exactly once: {applied:?}"
    );
}

#[test]
fn unknown_old_message_set_id_reports_that_nothing_was_applied() {
    let mut c = open_company();
    let ask = message_set(OnError::Stop, Recovery::Old("never-sent".into()), &[]);
    let set = send(&mut c, &ask);
    assert_eq!(set.message_set_status.unwrap().code, Some(1));
    assert!(set.responses.is_empty());
}

#[test]
fn stop_on_error_stops_and_continue_on_error_runs_everything() {
    let mut c = open_company();
    let (a, b) = (customer_add("A"), customer_add("B"));
    let dup = customer_add("A");
    let stop = send(
        &mut c,
        &message_set(
            OnError::Stop,
            Recovery::None,
            &[("1", &a), ("2", &dup), ("3", &b)],
        ),
    );
    assert_eq!(
        stop.responses.len(),
        2,
        "nothing after the failing request is processed"
    );
    assert_eq!(permanent_code(&stop.responses[1]), 3100);
    assert!(c.find_customer("B").is_none());

    let (d, e) = (customer_add("D"), customer_add("E"));
    let cont = send(
        &mut c,
        &message_set(
            OnError::Continue,
            Recovery::None,
            &[("1", &d), ("2", &dup), ("3", &e)],
        ),
    );
    assert_eq!(cont.responses.len(), 3);
    assert!(c.find_customer("E").is_some());

    let (f, g) = (customer_add("F"), customer_add("G"));
    send(
        &mut c,
        &message_set(
            OnError::Rollback,
            Recovery::None,
            &[("1", &f), ("2", &dup), ("3", &g)],
        ),
    );
    assert!(
        c.find_customer("F").is_none(),
        "rollbackOnError undoes the set's earlier writes"
    );
}

#[test]
fn paying_more_than_the_bill_gets_3210() {
    let mut c = open_company();
    one(&mut c, &vendor_add("Paper Co"));
    let bill = one(&mut c, &bill_add("Paper Co", "50.00"));
    let bill_id = bill.txn_id.unwrap();
    let pay = |amount: &str| {
        format!(
            "<BillPaymentCheckAddRq><BillPaymentCheckAdd><PayeeEntityRef><FullName>Paper Co</FullName></PayeeEntityRef>\
             <TxnDate>2026-11-03</TxnDate><BankAccountRef><FullName>Checking</FullName></BankAccountRef>\
             <IsToBePrinted>false</IsToBePrinted><AppliedToTxnAdd><TxnID>{bill_id}</TxnID>\
             <PaymentAmount>{amount}</PaymentAmount></AppliedToTxnAdd></BillPaymentCheckAdd></BillPaymentCheckAddRq>"
        )
    };
    let over = one(&mut c, &pay("50.01"));
    assert_eq!(permanent_code(&over), 3210);
    assert_eq!(over.message, "You cannot pay more than the amount due.");
    assert_eq!(one(&mut c, &pay("20.00")).outcome, Outcome::Success);
    assert_eq!(c.transactions(TxnKind::Bill)[0].open_cents, 3_000);
    assert_eq!(
        c.find(ListKind::Vendor, "Paper Co").unwrap().balance_cents,
        3_000
    );
}

#[test]
fn every_transaction_type_is_written_and_read_back() {
    let mut c = open_company();
    one(&mut c, &customer_add("Acme"));
    one(&mut c, &vendor_add("Paper Co"));
    one(&mut c, &item_add("Consulting"));
    let expense = "<ExpenseLineAdd><AccountRef><FullName>Office Supplies</FullName></AccountRef><Amount>12.00</Amount></ExpenseLineAdd>";
    let requests = [
        format!("<CreditCardChargeAddRq><CreditCardChargeAdd><AccountRef><FullName>Credit Card</FullName></AccountRef><PayeeEntityRef><FullName>Paper Co</FullName></PayeeEntityRef><RefNumber>CC1</RefNumber>{expense}</CreditCardChargeAdd></CreditCardChargeAddRq>"),
        format!("<CreditCardCreditAddRq><CreditCardCreditAdd><AccountRef><FullName>Credit Card</FullName></AccountRef>{expense}</CreditCardCreditAdd></CreditCardCreditAddRq>"),
        format!("<CheckAddRq><CheckAdd><AccountRef><FullName>Checking</FullName></AccountRef><PayeeEntityRef><FullName>Paper Co</FullName></PayeeEntityRef><RefNumber>101</RefNumber>{expense}</CheckAdd></CheckAddRq>"),
        "<PurchaseOrderAddRq><PurchaseOrderAdd><VendorRef><FullName>Paper Co</FullName></VendorRef><PurchaseOrderLineAdd><ItemRef><FullName>Consulting</FullName></ItemRef><Quantity>2</Quantity><Rate>5</Rate></PurchaseOrderLineAdd></PurchaseOrderAdd></PurchaseOrderAddRq>".to_string(),
        "<JournalEntryAddRq><JournalEntryAdd><RefNumber>JE1</RefNumber><JournalDebitLine><AccountRef><FullName>Office Supplies</FullName></AccountRef><Amount>7.00</Amount></JournalDebitLine><JournalCreditLine><AccountRef><FullName>Checking</FullName></AccountRef><Amount>7.00</Amount></JournalCreditLine></JournalEntryAdd></JournalEntryAddRq>".to_string(),
        bill_add("Paper Co", "9.99"),
        invoice_add("Acme", "Consulting", "2001"),
    ];
    for rq in &requests {
        let r = one(&mut c, rq);
        assert_eq!(r.outcome, Outcome::Success, "{rq}: {}", r.message);
        assert!(r.txn_id.is_some());
    }
    for (kind, query) in [
        ("CreditCardCharge", "CreditCardChargeQuery"),
        ("Check", "CheckQuery"),
        ("PurchaseOrder", "PurchaseOrderQuery"),
        ("JournalEntry", "JournalEntryQuery"),
        ("Bill", "BillQuery"),
        ("Invoice", "InvoiceQuery"),
    ] {
        let r = one(
            &mut c,
            &format!("<{query}Rq><MaxReturned>10</MaxReturned></{query}Rq>"),
        );
        assert_eq!(r.ret_count, 1, "{kind}");
    }
    let unbalanced = "<JournalEntryAddRq><JournalEntryAdd><JournalDebitLine><AccountRef><FullName>Checking</FullName></AccountRef><Amount>7.00</Amount></JournalDebitLine><JournalCreditLine><AccountRef><FullName>Checking</FullName></AccountRef><Amount>6.00</Amount></JournalCreditLine></JournalEntryAdd></JournalEntryAddRq>";
    assert_eq!(permanent_code(&one(&mut c, unbalanced)), 3210);
}

#[test]
fn queries_filter_include_and_report_no_match() {
    let mut c = open_company();
    one(&mut c, &customer_add("Alpha"));
    one(&mut c, &customer_add("Beta"));
    let none = one(
        &mut c,
        "<CustomerQueryRq><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>Zed</Name></NameFilter></CustomerQueryRq>",
    );
    assert_eq!(none.outcome, Outcome::NoMatch);
    let missing = one(
        &mut c,
        "<CustomerQueryRq><FullName>Gamma</FullName></CustomerQueryRq>",
    );
    assert_eq!(missing.outcome, Outcome::Warning(500));
    let only_names = one(
        &mut c,
        "<CustomerQueryRq><NameFilter><MatchCriterion>Contains</MatchCriterion><Name>ET</Name></NameFilter><IncludeRetElement>ListID</IncludeRetElement><IncludeRetElement>FullName</IncludeRetElement></CustomerQueryRq>",
    );
    assert_eq!(only_names.ret_count, 1);
    assert_eq!(only_names.full_name.as_deref(), Some("Beta"));
    assert!(!only_names.ret_xml.unwrap().contains("EditSequence"));
    let accounts = one(
        &mut c,
        "<AccountQueryRq><AccountType>Bank</AccountType></AccountQueryRq>",
    );
    assert_eq!(accounts.full_name.as_deref(), Some("Checking"));
}

#[test]
fn too_long_and_non_latin1_text_is_rejected_like_quickbooks() {
    let mut c = open_company();
    for (rq, limit) in [
        (customer_add(&"N".repeat(42)), 41),
        (item_add(&"I".repeat(32)), 31),
    ] {
        let xml =
            build_message_set((13, 0), OnError::Stop, &Recovery::None, &[("1", &rq)]).unwrap();
        // Our validator catches it before QuickBooks sees it...
        let errors = validate(QbxmlVersion::V13_0, &xml).unwrap_err().to_string();
        assert!(
            errors.contains(&format!("maximum length of '{limit}'")),
            "{errors}"
        );
        // ...and QuickBooks itself refuses just that request with 3070.
        let r = &send(&mut c, &xml).responses[0];
        assert_eq!(permanent_code(r), 3070);
        assert!(r.message.contains("is too long"), "{}", r.message);
    }
    let cyrillic = message_set(
        OnError::Stop,
        Recovery::None,
        &[("1", &customer_add("Москва"))],
    );
    let Err(QbFailure::Hresult { hresult, .. }) = c.process(&cyrillic) else {
        panic!("non-Latin-1 text must fail the parse")
    };
    assert_eq!(hresult, "0x80040400");
    assert_eq!(
        one(&mut c, &customer_add("Café Zürich")).outcome,
        Outcome::Success
    );
}

#[test]
fn out_of_order_element_fails_validation_and_quickbooks_rejects_it() {
    let bad = r#"<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><InvoiceAddRq requestID="1"><InvoiceAdd><TxnDate>2026-11-01</TxnDate><CustomerRef><FullName>Acme</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq></QBXMLMsgsRq></QBXML>"#;
    for v in QbxmlVersion::ALL {
        let errors = validate(v, bad).unwrap_err();
        let text = errors.to_string();
        assert!(
            text.contains("TxnDate") && text.contains("CustomerRef"),
            "{text}"
        );
        assert!(errors.errors[0].line.is_some());
    }
    let mut c = open_company();
    assert_eq!(
        c.process(bad),
        Err(QbFailure::Hresult {
            hresult: "0x80040400".into(),
            message: "QuickBooks found an error when parsing the provided XML text stream.".into(),
        })
    );
    assert!(matches!(
        c.process("<QBXML><QBXMLMsgsRq"),
        Err(QbFailure::Hresult { .. })
    ));
}

#[test]
fn open_fails_the_way_real_installations_do() {
    let cases = [
        (
            Faults {
                user_already_logged_in: true,
                ..Faults::default()
            },
            "0x80040408",
        ),
        (
            Faults {
                other_company_open: true,
                ..Faults::default()
            },
            "0x8004040A",
        ),
        (
            Faults {
                auto_login_denied: true,
                ..Faults::default()
            },
            "0x8004041D",
        ),
    ];
    for (faults, expected) in cases {
        let mut c = Company::new("Acme.qbw");
        c.set_faults(faults);
        match c.open("") {
            Err(QbFailure::Hresult { hresult, message }) => {
                assert_eq!(hresult, expected);
                assert!(!message.is_empty());
            }
            other => panic!("expected {expected}, got {other:?}"),
        }
    }
    let mut c = Company::new("Acme.qbw");
    assert!(
        matches!(c.open("Other.qbw"), Err(QbFailure::Hresult { hresult, .. }) if hresult == "0x8004040A")
    );
    assert!(
        matches!(c.process("<QBXML/>"), Err(QbFailure::Hresult { .. })),
        "closed file"
    );
}

#[test]
fn lock_errors_follow_the_seed() {
    let outcomes = |seed: u64| {
        let mut c = open_company();
        c.set_faults(Faults {
            lock_error_probability: 0.5,
            seed,
            ..Faults::default()
        });
        (0..20)
            .map(|i| one(&mut c, &customer_add(&format!("C{i}"))).outcome)
            .collect::<Vec<_>>()
    };
    let first = outcomes(7);
    assert_eq!(first, outcomes(7), "same seed, same failures");
    assert!(first.contains(&Outcome::Transient(3175)));
    assert!(first.contains(&Outcome::Success));
}

#[test]
fn company_file_survives_save_and_load_with_its_recovery_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("company.json");
    let mut c = open_company();
    let add = customer_add("Acme");
    send(
        &mut c,
        &message_set(OnError::Stop, Recovery::New("s1".into()), &[("1", &add)]),
    );
    c.save(&path).unwrap();
    let mut loaded = Company::load(&path).unwrap();
    loaded.open("").unwrap();
    assert!(loaded.find_customer("Acme").is_some());
    let recovered = send(
        &mut loaded,
        &message_set(OnError::Stop, Recovery::Old("s1".into()), &[]),
    );
    assert_eq!(recovered.message_set_status.unwrap().code, Some(0));
    assert_eq!(permanent_code(&one(&mut loaded, &add)), 3100);
    std::fs::write(&path, "{not json").unwrap();
    assert!(
        Company::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a simulated company file")
    );
}

#[test]
fn hcp_response_answers_host_company_and_preferences() {
    let mut c = open_company();
    let hcp = c.hcp_response();
    valid_in_both_schemas(&hcp);
    let set = parse_response(hcp.as_bytes()).unwrap();
    let kinds: Vec<_> = set.responses.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["HostQueryRs", "CompanyQueryRs", "PreferencesQueryRs"]
    );
    assert!(set.responses.iter().all(|r| r.outcome == Outcome::Success));
    assert!(
        set.responses[0]
            .ret_xml
            .as_deref()
            .unwrap()
            .contains("<SupportedQBXMLVersion>16.0</SupportedQBXMLVersion>")
    );
}

/// The qbXML inside a captured receiveResponseXML SOAP envelope.
fn soap_response_text(envelope: &str) -> String {
    let start = envelope.find("<response>").unwrap() + "<response>".len();
    let end = envelope.find("</response>").unwrap();
    quick_xml::escape::unescape(&envelope[start..end])
        .unwrap()
        .into_owned()
}

#[test]
fn real_flowlink_captures_parse_into_the_right_outcomes() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/captures/flowlink"
    );
    let sales = std::fs::read_to_string(format!("{dir}/sales_order_add_rs_raw.xml"));
    let Ok(sales) = sales else {
        panic!("the captures are expected at {dir}")
    };
    let set = parse_response(soap_response_text(&sales).as_bytes()).unwrap();
    assert_eq!(set.responses[0].outcome, Outcome::NoMatch);
    assert_eq!(set.responses[1].outcome, Outcome::NoMatch);
    let failures: Vec<_> = set
        .responses
        .iter()
        .filter(|r| r.status_code == 3140)
        .collect();
    assert!(!failures.is_empty());
    for f in failures {
        assert!(matches!(f.outcome, Outcome::Permanent { code: 3140, .. }));
    }
    let added = set
        .responses
        .iter()
        .find(|r| r.kind == "SalesOrderAddRs")
        .unwrap();
    assert_eq!(added.txn_id.as_deref(), Some("4C-1415942229"));
    assert_eq!(added.ref_number.as_deref(), Some("13"));

    let items = std::fs::read_to_string(format!("{dir}/item_inventory_query_rs_raw.xml")).unwrap();
    let set = parse_response(soap_response_text(&items).as_bytes()).unwrap();
    assert_eq!(set.responses[0].outcome, Outcome::Success);
    assert_eq!(
        set.responses[0].list_id.as_deref(),
        Some("80000027-1415713663")
    );
}

#[test]
fn validate_cli_accepts_a_valid_file_and_explains_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.xml");
    std::fs::write(
        &good,
        message_set(
            OnError::Stop,
            Recovery::None,
            &[("1", &customer_add("Acme"))],
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["validate", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "valid (qbXML 13.0)"
    );
    let out = run(
        dir.path(),
        &["validate", "--version", "16.0", good.to_str().unwrap()],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "valid (qbXML 16.0)"
    );

    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<?xml version=\"1.0\"?>\n<?qbxml version=\"16.0\"?>\n<QBXML><QBXMLMsgsRq onError=\"stopOnError\">\n<InvoiceAddRq><InvoiceAdd>\n<TxnDate>2026-11-01</TxnDate>\n<CustomerRef><FullName>A</FullName></CustomerRef></InvoiceAdd></InvoiceAddRq></QBXMLMsgsRq></QBXML>\n",
    )
    .unwrap();
    let out = run(dir.path(), &["validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad.xml:5:") && stdout.contains("TxnDate"),
        "{stdout}"
    );
    assert!(
        stderr(&out).contains("not valid qbXML 16.0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_list_type_is_written_and_read_back() {
    let mut c = open_company();
    let sales = "<SalesOrPurchase><Price>5.00</Price><AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase>";
    let adds = [
        "<EmployeeAddRq><EmployeeAdd><FirstName>Ada</FirstName><LastName>Lovelace</LastName><Phone>555-0101</Phone></EmployeeAdd></EmployeeAddRq>".to_string(),
        "<OtherNameAddRq><OtherNameAdd><Name>Landlord</Name><CompanyName>Estates Ltd</CompanyName><Email>rent@example.com</Email></OtherNameAdd></OtherNameAddRq>".to_string(),
        "<ClassAddRq><ClassAdd><Name>East</Name></ClassAdd></ClassAddRq>".to_string(),
        "<ClassAddRq><ClassAdd><Name>Boston</Name><ParentRef><FullName>East</FullName></ParentRef></ClassAdd></ClassAddRq>".to_string(),
        "<AccountAddRq><AccountAdd><Name>Software</Name><AccountType>Expense</AccountType><AccountNumber>6100</AccountNumber><Desc>Subscriptions</Desc></AccountAdd></AccountAddRq>".to_string(),
        format!("<ItemNonInventoryAddRq><ItemNonInventoryAdd><Name>Cable</Name>{sales}</ItemNonInventoryAdd></ItemNonInventoryAddRq>"),
        format!("<ItemOtherChargeAddRq><ItemOtherChargeAdd><Name>Shipping</Name>{sales}</ItemOtherChargeAdd></ItemOtherChargeAddRq>"),
        item_add("Consulting"),
        "<VendorAddRq><VendorAdd><Name>Paper Co</Name><CompanyName>Paper Company</CompanyName><FirstName>Pat</FirstName></VendorAdd></VendorAddRq>".to_string(),
    ];
    for rq in &adds {
        let r = one(&mut c, rq);
        assert_eq!(r.outcome, Outcome::Success, "{rq}: {}", r.message);
        assert!(r.list_id.is_some());
    }
    assert!(
        c.find(ListKind::Employee, "Ada Lovelace").is_some(),
        "EmployeeAdd without Name"
    );
    assert!(c.find(ListKind::Class, "East:Boston").is_some());
    for (query, count) in [
        ("EmployeeQuery", 1),
        ("OtherNameQuery", 1),
        ("ClassQuery", 2),
        ("ItemQuery", 3),
        ("ItemOtherChargeQuery", 1),
        ("VendorQuery", 1),
        ("AccountQuery", 7),
    ] {
        let r = one(&mut c, &format!("<{query}Rq/>"));
        assert_eq!(r.ret_count, count, "{query}");
    }
    let sam = "<EmployeeAddRq><EmployeeAdd><Name>Landlord</Name></EmployeeAdd></EmployeeAddRq>";
    assert_eq!(
        permanent_code(&one(&mut c, sam)),
        3100,
        "employees share the name list"
    );
}

#[test]
fn renaming_a_customer_renames_its_jobs_and_respects_unique_names() {
    let mut c = open_company();
    let acme = one(&mut c, &customer_add("Acme"));
    one(&mut c, &customer_add("Globex"));
    one(
        &mut c,
        "<CustomerAddRq><CustomerAdd><Name>Roof</Name><ParentRef><FullName>Acme</FullName></ParentRef></CustomerAdd></CustomerAddRq>",
    );
    let rename = |name: &str, seq: &str| {
        format!(
            "<CustomerModRq><CustomerMod><ListID>{}</ListID><EditSequence>{seq}</EditSequence><Name>{name}</Name></CustomerMod></CustomerModRq>",
            acme.list_id.as_deref().unwrap()
        )
    };
    let seq = acme.edit_sequence.clone().unwrap();
    assert_eq!(permanent_code(&one(&mut c, &rename("Globex", &seq))), 3100);
    assert_eq!(
        one(&mut c, &rename("Acme Corp", &seq)).outcome,
        Outcome::Success
    );
    assert!(c.find_customer("Acme Corp:Roof").is_some());
    assert!(c.find_customer("Acme:Roof").is_none());
    let renamed = c.find_customer("Acme Corp").unwrap();
    let under_own_job = format!(
        "<CustomerModRq><CustomerMod><ListID>{}</ListID><EditSequence>{}</EditSequence><ParentRef><FullName>Acme Corp:Roof</FullName></ParentRef></CustomerMod></CustomerModRq>",
        renamed.list_id, renamed.edit_sequence
    );
    assert_eq!(
        permanent_code(&one(&mut c, &under_own_job)),
        3130,
        "no cycles"
    );
    let gone = "<CustomerModRq><CustomerMod><ListID>80FFFFFF-1</ListID><EditSequence>1</EditSequence><Name>X</Name></CustomerMod></CustomerModRq>";
    assert_eq!(permanent_code(&one(&mut c, gone)), 3120);
}

#[test]
fn bill_paid_by_credit_card_is_no_longer_open() {
    let mut c = open_company();
    one(&mut c, &vendor_add("Paper Co"));
    let bill_id = one(&mut c, &bill_add("Paper Co", "25.00")).txn_id.unwrap();
    let pay = format!(
        "<BillPaymentCreditCardAddRq><BillPaymentCreditCardAdd><PayeeEntityRef><FullName>Paper Co</FullName></PayeeEntityRef>\
         <CreditCardAccountRef><FullName>Credit Card</FullName></CreditCardAccountRef>\
         <AppliedToTxnAdd><TxnID>{bill_id}</TxnID><PaymentAmount>25.00</PaymentAmount></AppliedToTxnAdd>\
         </BillPaymentCreditCardAdd></BillPaymentCreditCardAddRq>"
    );
    assert_eq!(one(&mut c, &pay).outcome, Outcome::Success);
    assert_eq!(c.transactions(TxnKind::Bill)[0].open_cents, 0);
    let again = one(&mut c, &pay);
    assert_eq!(
        permanent_code(&again),
        3210,
        "a paid bill has nothing left to pay"
    );
    let unknown = pay.replace(&bill_id, "FFFF-1");
    assert_eq!(permanent_code(&one(&mut c, &unknown)), 3120);
}

#[test]
fn faults_are_read_from_json_and_typos_are_refused() {
    let faults: Faults = serde_json::from_str(
        r#"{"lose_response_after_apply": 2, "lock_error_probability": 0.25, "seed": 9, "latency_ms": 5}"#,
    )
    .unwrap();
    assert_eq!(faults.lose_response_after_apply, Some(2));
    assert_eq!(faults.latency_ms, 5);
    assert!(serde_json::from_str::<Faults>(r#"{"lock_error_probabilty": 0.5}"#).is_err());
}

#[test]
fn slow_quickbooks_still_answers() {
    let mut c = open_company();
    c.set_faults(Faults {
        latency_ms: 20,
        ..Faults::default()
    });
    assert_eq!(one(&mut c, &customer_add("Acme")).outcome, Outcome::Success);
}

#[test]
fn a_newer_qbxml_version_than_quickbooks_supports_is_refused() {
    let mut c = Company::new("Acme.qbw");
    c.set_qbxml_version((13, 0));
    c.open("").unwrap();
    let newer = build_message_set(
        (16, 0),
        OnError::Stop,
        &Recovery::None,
        &[("1", &customer_add("A"))],
    )
    .unwrap();
    assert!(
        matches!(c.process(&newer), Err(QbFailure::Hresult { hresult, .. }) if hresult == "0x80040423")
    );
    let older = message_set(OnError::Stop, Recovery::None, &[("1", &customer_add("A"))]);
    assert_eq!(send(&mut c, &older).responses[0].outcome, Outcome::Success);
}
