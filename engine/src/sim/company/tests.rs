//! Unit tests: the company file driven with qbXML message sets, as QBWC drives QuickBooks.
//! Every request sent and every response returned is checked against both qbXML schemas.

use qbridge_sdk::schema::{QbxmlVersion, validate};

use super::tree::{self, Node};
use super::{Access, Company, CompanyError, ListKind, Role, TxnKind};
use crate::qbxml::PermissionArea;
use crate::sim::QuickBooks;

fn open_company() -> Company {
    let mut c = Company::new(r"C:\Company Files\Acme.qbw");
    c.open("").unwrap();
    for rq in [
        "<CustomerAddRq><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>",
        "<VendorAddRq><VendorAdd><Name>Paper Co</Name></VendorAdd></VendorAddRq>",
        "<ItemServiceAddRq><ItemServiceAdd><Name>Consulting</Name><SalesOrPurchase><Price>100.00</Price>\
         <AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>",
    ] {
        assert_eq!(status(&one(&mut c, rq)), 0);
    }
    c
}

fn schema_valid(xml: &str) {
    for v in QbxmlVersion::ALL {
        if let Err(e) = validate(v, xml) {
            panic!("{e}\n{xml}");
        }
    }
}

/// Sends one request in a stopOnError set and returns its (schema-checked) `*Rs`.
fn one(c: &mut Company, rq: &str) -> Node {
    let set = format!(
        r#"<?xml version="1.0" ?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{rq}</QBXMLMsgsRq></QBXML>"#
    );
    schema_valid(&set);
    let response = c.process(&set).unwrap();
    schema_valid(&response);
    let root = tree::parse(&response).unwrap();
    let mut msgs = root.child("QBXMLMsgsRs").unwrap().children.clone();
    assert_eq!(msgs.len(), 1, "{response}");
    msgs.remove(0)
}

fn status(rs: &Node) -> i32 {
    rs.attr("statusCode").unwrap().parse().unwrap()
}

/// The only `*Ret` child of a response.
fn ret<'a>(rs: &'a Node, name: &str) -> &'a Node {
    rs.child(name)
        .unwrap_or_else(|| panic!("no {name} in {rs:?}"))
}

fn line_ids(ret: &Node, line: &str) -> Vec<String> {
    ret.children_named(line)
        .map(|l| l.text_of("TxnLineID").unwrap().to_string())
        .collect()
}

const INVOICE_ADD: &str = "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Acme</FullName></CustomerRef>\
    <TxnDate>2026-11-01</TxnDate><RefNumber>INV-1</RefNumber><Memo>November</Memo>\
    <InvoiceLineAdd><ItemRef><FullName>Consulting</FullName></ItemRef><Desc>Design</Desc><Quantity>3</Quantity><Rate>40.50</Rate></InvoiceLineAdd>\
    <InvoiceLineAdd><ItemRef><FullName>Consulting</FullName></ItemRef><Desc>Travel</Desc><Amount>19.50</Amount></InvoiceLineAdd>\
    </InvoiceAdd></InvoiceAddRq>";

const BILL_ADD: &str = "<BillAddRq><BillAdd><VendorRef><FullName>Paper Co</FullName></VendorRef><TxnDate>2026-11-02</TxnDate>\
    <RefNumber>B-1</RefNumber><Memo>November supplies</Memo>\
    <ExpenseLineAdd><AccountRef><FullName>Office Supplies</FullName></AccountRef><Amount>70.00</Amount><Memo>Paper</Memo></ExpenseLineAdd>\
    <ExpenseLineAdd><AccountRef><FullName>Office Supplies</FullName></AccountRef><Amount>30.00</Amount><Memo>Toner</Memo></ExpenseLineAdd>\
    <ItemLineAdd><ItemRef><FullName>Consulting</FullName></ItemRef><Quantity>2</Quantity><Cost>5.00</Cost></ItemLineAdd>\
    </BillAdd></BillAddRq>";

/// Adds the invoice and returns (TxnID, EditSequence, TxnLineIDs).
fn add_invoice(c: &mut Company) -> (String, String, Vec<String>) {
    let rs = one(c, INVOICE_ADD);
    assert_eq!(status(&rs), 0);
    let r = ret(&rs, "InvoiceRet");
    (
        r.text_of("TxnID").unwrap().into(),
        r.text_of("EditSequence").unwrap().into(),
        line_ids(r, "InvoiceLineRet"),
    )
}

#[test]
fn invoice_add_returns_its_lines_with_txn_line_ids() {
    let mut c = open_company();
    let rs = one(&mut c, INVOICE_ADD);
    let r = ret(&rs, "InvoiceRet");
    assert_eq!(r.text_of("Subtotal"), Some("141.00"));
    let lines: Vec<&Node> = r.children_named("InvoiceLineRet").collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0].children[0].name, "TxnLineID",
        "TxnLineID comes first"
    );
    assert_eq!(lines[0].text_of("Amount"), Some("121.50"));
    assert_eq!(lines[0].text_of("Rate"), Some("40.50"));
    assert_eq!(lines[1].text_of("Desc"), Some("Travel"));
    assert_eq!(
        lines[1].child("ItemRef").unwrap().text_of("FullName"),
        Some("Consulting")
    );
    let ids = line_ids(r, "InvoiceLineRet");
    let txn_id = r.text_of("TxnID").unwrap();
    assert!(ids[0] != ids[1] && !ids.iter().any(|i| i == txn_id));
    // A second invoice's lines get ids of their own.
    let (_, _, more) = add_invoice(&mut c);
    assert!(more.iter().all(|i| !ids.contains(i)));
    let view = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    let view_ids: Vec<_> = view.lines.iter().map(|l| l.txn_line_id.clone()).collect();
    assert_eq!(view_ids, ids);
    assert_eq!(view.lines[0].item_or_account.as_deref(), Some("Consulting"));
    assert_eq!(view.lines[0].desc.as_deref(), Some("Design"));
}

#[test]
fn invoice_mod_with_a_stale_edit_sequence_gets_3200_and_changes_nothing() {
    let mut c = open_company();
    let (id, seq, _) = add_invoice(&mut c);
    let before = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    let rs = one(
        &mut c,
        &format!(
            "<InvoiceModRq><InvoiceMod><TxnID>{id}</TxnID><EditSequence>{}</EditSequence><Memo>Changed</Memo></InvoiceMod></InvoiceModRq>",
            seq.parse::<i64>().unwrap() - 1
        ),
    );
    assert_eq!(status(&rs), 3200);
    assert!(rs.attr("statusMessage").unwrap().contains("is out-of-date"));
    assert_eq!(c.find_txn(TxnKind::Invoice, "INV-1").unwrap(), before);
    let unknown = one(
        &mut c,
        &format!(
            "<InvoiceModRq><InvoiceMod><TxnID>FFFF-1</TxnID><EditSequence>{seq}</EditSequence></InvoiceMod></InvoiceModRq>"
        ),
    );
    assert_eq!(status(&unknown), 3120);
}

#[test]
fn invoice_mod_replaces_the_lines_by_exactly_those_listed() {
    let mut c = open_company();
    let (id, seq, ids) = add_invoice(&mut c);
    let rs = one(
        &mut c,
        &format!(
            "<InvoiceModRq><InvoiceMod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence>\
             <InvoiceLineMod><TxnLineID>{}</TxnLineID><Amount>100.00</Amount></InvoiceLineMod>\
             <InvoiceLineMod><TxnLineID>-1</TxnLineID><ItemRef><FullName>Consulting</FullName></ItemRef><Desc>Extra</Desc><Quantity>2</Quantity><Rate>10.00</Rate></InvoiceLineMod>\
             </InvoiceMod></InvoiceModRq>",
            ids[0]
        ),
    );
    assert_eq!(status(&rs), 0);
    let r = ret(&rs, "InvoiceRet");
    assert_eq!(r.text_of("Subtotal"), Some("120.00"));
    assert_ne!(r.text_of("EditSequence"), Some(seq.as_str()));
    let now = line_ids(r, "InvoiceLineRet");
    assert_eq!(now.len(), 2);
    assert_eq!(now[0], ids[0], "the modified line keeps its id");
    assert!(!ids.contains(&now[1]), "the new line gets a new id");
    let view = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    let amounts: Vec<i64> = view.lines.iter().map(|l| l.amount_cents).collect();
    assert_eq!(amounts, [10_000, 2_000]);
    assert_eq!(
        view.lines[0].desc.as_deref(),
        Some("Design"),
        "fields not given are kept"
    );
    assert_eq!((view.total_cents, view.open_cents), (12_000, 12_000));
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 12_000);
    assert_eq!(c.write_log().last().unwrap().request, "InvoiceMod");

    // A Mod without line elements leaves the lines as they are.
    let seq = view.edit_sequence;
    let rs = one(
        &mut c,
        &format!(
            "<InvoiceModRq><InvoiceMod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence><Memo>December</Memo></InvoiceMod></InvoiceModRq>"
        ),
    );
    assert_eq!(status(&rs), 0);
    let view = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    assert_eq!(view.memo.as_deref(), Some("December"));
    assert_eq!(view.lines.len(), 2);
    assert_eq!(view.total_cents, 12_000);
}

#[test]
fn bill_mod_replaces_expense_lines_and_keeps_item_lines() {
    let mut c = open_company();
    let rs = one(&mut c, BILL_ADD);
    let r = ret(&rs, "BillRet");
    assert_eq!(r.text_of("AmountDue"), Some("110.00"));
    let (id, seq) = (
        r.text_of("TxnID").unwrap(),
        r.text_of("EditSequence").unwrap(),
    );
    let expense = line_ids(r, "ExpenseLineRet");
    let item = line_ids(r, "ItemLineRet");
    assert_eq!((expense.len(), item.len()), (2, 1));
    let rs = one(
        &mut c,
        &format!(
            "<BillModRq><BillMod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence>\
             <ExpenseLineMod><TxnLineID>{}</TxnLineID><Amount>40.00</Amount></ExpenseLineMod></BillMod></BillModRq>",
            expense[1]
        ),
    );
    assert_eq!(status(&rs), 0);
    let r = ret(&rs, "BillRet");
    assert_eq!(line_ids(r, "ExpenseLineRet"), [expense[1].clone()]);
    assert_eq!(
        line_ids(r, "ItemLineRet"),
        item,
        "item lines not listed are kept"
    );
    let kept = r.child("ExpenseLineRet").unwrap();
    assert_eq!(kept.text_of("Memo"), Some("Toner"));
    assert_eq!(r.text_of("AmountDue"), Some("50.00"));
    assert_eq!(r.text_of("OpenAmount"), Some("50.00"));
    assert_eq!(
        c.find(ListKind::Vendor, "Paper Co").unwrap().balance_cents,
        5_000
    );
    let view = c.find_txn(TxnKind::Bill, "B-1").unwrap();
    assert_eq!(
        view.lines[0].item_or_account.as_deref(),
        Some("Office Supplies")
    );
}

#[test]
fn an_unknown_txn_line_id_gets_3120_and_changes_nothing() {
    let mut c = open_company();
    let (id, seq, ids) = add_invoice(&mut c);
    let before = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    let rs = one(
        &mut c,
        &format!(
            "<InvoiceModRq><InvoiceMod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence>\
             <InvoiceLineMod><TxnLineID>{}</TxnLineID></InvoiceLineMod>\
             <InvoiceLineMod><TxnLineID>999-1</TxnLineID><Amount>1.00</Amount></InvoiceLineMod></InvoiceMod></InvoiceModRq>",
            ids[0]
        ),
    );
    assert_eq!(status(&rs), 3120);
    assert!(rs.attr("statusMessage").unwrap().contains("999-1"));
    assert_eq!(c.find_txn(TxnKind::Invoice, "INV-1").unwrap(), before);
}

#[test]
fn line_groups_are_refused_with_a_clear_message() {
    let mut c = open_company();
    let rs = one(
        &mut c,
        "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Acme</FullName></CustomerRef>\
         <InvoiceLineGroupAdd><ItemGroupRef><FullName>Bundle</FullName></ItemGroupRef></InvoiceLineGroupAdd></InvoiceAdd></InvoiceAddRq>",
    );
    assert_eq!(status(&rs), 1000);
    assert!(
        rs.attr("statusMessage")
            .unwrap()
            .contains("InvoiceLineGroupAdd")
    );
    assert_eq!(c.count("Invoice"), 0);
}

#[test]
fn txn_void_zeroes_every_amount_and_keeps_the_transaction() {
    let mut c = open_company();
    let (id, _, _) = add_invoice(&mut c);
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 14_100);
    let void =
        format!("<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>{id}</TxnID></TxnVoidRq>");
    let rs = one(&mut c, &void);
    assert_eq!(status(&rs), 0);
    assert_eq!(rs.text_of("TxnVoidType"), Some("Invoice"));
    assert_eq!(rs.text_of("TxnID"), Some(id.as_str()));
    let view = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    assert!(view.is_voided);
    assert_eq!((view.total_cents, view.open_cents), (0, 0));
    assert!(view.lines.len() == 2 && view.lines.iter().all(|l| l.amount_cents == 0));
    assert_eq!(view.memo.as_deref(), Some("VOID: November"));
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 0);
    assert_eq!(c.write_log().last().unwrap().request, "TxnVoid");

    // Voiding again answers OK and changes nothing more.
    let logged = c.write_log().len();
    assert_eq!(status(&one(&mut c, &void)), 0);
    assert_eq!(c.find_txn(TxnKind::Invoice, "INV-1").unwrap(), view);
    assert_eq!(c.write_log().len(), logged);

    let unknown = one(
        &mut c,
        "<TxnVoidRq><TxnVoidType>Bill</TxnVoidType><TxnID>FFFF-1</TxnID></TxnVoidRq>",
    );
    assert_eq!(status(&unknown), 3120);
}

#[test]
fn txn_del_removes_the_transaction_and_its_balance() {
    let mut c = open_company();
    let (id, _, _) = add_invoice(&mut c);
    let wrong_type =
        format!("<TxnDelRq><TxnDelType>Bill</TxnDelType><TxnID>{id}</TxnID></TxnDelRq>");
    assert_eq!(status(&one(&mut c, &wrong_type)), 3120);
    let rs = one(
        &mut c,
        &format!("<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{id}</TxnID></TxnDelRq>"),
    );
    assert_eq!(status(&rs), 0);
    assert_eq!(rs.text_of("TxnID"), Some(id.as_str()));
    assert!(rs.text_of("TimeDeleted").is_some());
    assert!(c.invoices().is_empty());
    assert_eq!(c.find_txn(TxnKind::Invoice, "INV-1"), None);
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 0);
    assert_eq!(c.write_log().last().unwrap().request, "TxnDel");
    let query = one(
        &mut c,
        &format!("<InvoiceQueryRq><TxnID>{id}</TxnID></InvoiceQueryRq>"),
    );
    assert_eq!(status(&query), 500, "a deleted invoice is not found");
}

#[test]
fn a_paid_bill_keeps_what_its_payments_cover() {
    let mut c = open_company();
    let rs = one(&mut c, BILL_ADD);
    let r = ret(&rs, "BillRet");
    let (bill, seq) = (
        r.text_of("TxnID").unwrap().to_string(),
        r.text_of("EditSequence").unwrap().to_string(),
    );
    let rs = one(
        &mut c,
        &format!(
            "<BillPaymentCheckAddRq><BillPaymentCheckAdd><PayeeEntityRef><FullName>Paper Co</FullName></PayeeEntityRef>\
             <BankAccountRef><FullName>Checking</FullName></BankAccountRef><IsToBePrinted>true</IsToBePrinted>\
             <AppliedToTxnAdd><TxnID>{bill}</TxnID><PaymentAmount>60.00</PaymentAmount></AppliedToTxnAdd>\
             </BillPaymentCheckAdd></BillPaymentCheckAddRq>"
        ),
    );
    assert_eq!(status(&rs), 0);
    let payment = ret(&rs, "BillPaymentCheckRet")
        .text_of("TxnID")
        .unwrap()
        .to_string();
    assert_eq!(
        c.find(ListKind::Vendor, "Paper Co").unwrap().balance_cents,
        5_000
    );

    let below = one(
        &mut c,
        &format!(
            "<BillModRq><BillMod><TxnID>{bill}</TxnID><EditSequence>{seq}</EditSequence>\
             <ExpenseLineMod><TxnLineID>-1</TxnLineID><Amount>40.00</Amount></ExpenseLineMod><ClearItemLines>true</ClearItemLines>\
             </BillMod></BillModRq>"
        ),
    );
    assert_eq!(status(&below), 3210);
    for rq in [
        format!("<TxnDelRq><TxnDelType>Bill</TxnDelType><TxnID>{bill}</TxnID></TxnDelRq>"),
        format!("<TxnVoidRq><TxnVoidType>Bill</TxnVoidType><TxnID>{bill}</TxnID></TxnVoidRq>"),
    ] {
        assert_eq!(status(&one(&mut c, &rq)), 3210);
    }
    assert_eq!(c.find_txn(TxnKind::Bill, "B-1").unwrap().open_cents, 5_000);

    // Deleting the payment gives the bill and the vendor their amounts back.
    let rs = one(
        &mut c,
        &format!(
            "<TxnDelRq><TxnDelType>BillPaymentCheck</TxnDelType><TxnID>{payment}</TxnID></TxnDelRq>"
        ),
    );
    assert_eq!(status(&rs), 0);
    assert_eq!(c.find_txn(TxnKind::Bill, "B-1").unwrap().open_cents, 11_000);
    assert_eq!(
        c.find(ListKind::Vendor, "Paper Co").unwrap().balance_cents,
        11_000
    );
    let rs = one(
        &mut c,
        &format!("<TxnDelRq><TxnDelType>Bill</TxnDelType><TxnID>{bill}</TxnID></TxnDelRq>"),
    );
    assert_eq!(status(&rs), 0);
    assert_eq!(
        c.find(ListKind::Vendor, "Paper Co").unwrap().balance_cents,
        0
    );
}

#[test]
fn a_deactivated_customer_leaves_active_only_queries() {
    let mut c = open_company();
    one(
        &mut c,
        "<CustomerAddRq><CustomerAdd><Name>Globex</Name></CustomerAdd></CustomerAddRq>",
    );
    let acme = c.find_customer("Acme").unwrap();
    let rs = one(
        &mut c,
        &format!(
            "<CustomerModRq><CustomerMod><ListID>{}</ListID><EditSequence>{}</EditSequence><IsActive>false</IsActive></CustomerMod></CustomerModRq>",
            acme.list_id, acme.edit_sequence
        ),
    );
    assert_eq!(status(&rs), 0);
    assert!(!c.find_customer("Acme").unwrap().is_active);
    let names = |c: &mut Company, filter: &str| -> Vec<String> {
        let rs = one(c, &format!("<CustomerQueryRq>{filter}</CustomerQueryRq>"));
        rs.children_named("CustomerRet")
            .map(|r| r.text_of("Name").unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&mut c, ""), ["Globex"]);
    assert_eq!(
        names(&mut c, "<ActiveStatus>ActiveOnly</ActiveStatus>"),
        ["Globex"]
    );
    assert_eq!(
        names(&mut c, "<ActiveStatus>InactiveOnly</ActiveStatus>"),
        ["Acme"]
    );
    assert_eq!(
        names(&mut c, "<ActiveStatus>All</ActiveStatus>"),
        ["Acme", "Globex"]
    );
}

#[test]
fn a_bookkeepers_edit_makes_the_old_edit_sequence_stale() {
    let mut c = open_company();
    let (id, seq, _) = add_invoice(&mut c);
    let logged = c.write_log().len();
    c.edit_txn_as_bookkeeper(TxnKind::Invoice, "INV-1", "Memo", "Called the client")
        .unwrap();
    let view = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    assert_eq!(view.memo.as_deref(), Some("Called the client"));
    assert_ne!(view.edit_sequence, seq);
    let stale = one(
        &mut c,
        &format!(
            "<InvoiceModRq><InvoiceMod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence><Memo>Ours</Memo></InvoiceMod></InvoiceModRq>"
        ),
    );
    assert_eq!(status(&stale), 3200);

    let acme = c.find_customer("Acme").unwrap();
    c.edit_list_as_bookkeeper(ListKind::Customer, "Acme", "Phone", "555-0100")
        .unwrap();
    let stale = one(
        &mut c,
        &format!(
            "<CustomerModRq><CustomerMod><ListID>{}</ListID><EditSequence>{}</EditSequence><Phone>555-0199</Phone></CustomerMod></CustomerModRq>",
            acme.list_id, acme.edit_sequence
        ),
    );
    assert_eq!(status(&stale), 3200);
    let rs = one(
        &mut c,
        &format!(
            "<CustomerQueryRq><ListID>{}</ListID></CustomerQueryRq>",
            acme.list_id
        ),
    );
    assert_eq!(ret(&rs, "CustomerRet").text_of("Phone"), Some("555-0100"));
    c.edit_list_as_bookkeeper(ListKind::Customer, "Acme", "Name", "Acme Corp")
        .unwrap();
    assert!(c.find_customer("Acme Corp").is_some());
    assert_eq!(
        c.write_log().len(),
        logged,
        "bookkeepers' edits are not logged"
    );

    assert!(matches!(
        c.edit_list_as_bookkeeper(ListKind::Customer, "Acme Corp", "Balance", "1"),
        Err(CompanyError::UnknownField { .. })
    ));
    assert!(matches!(
        c.edit_txn_as_bookkeeper(TxnKind::Invoice, "INV-404", "Memo", "x"),
        Err(CompanyError::NoSuchRecord { .. })
    ));
    assert!(matches!(
        c.edit_txn_as_bookkeeper(TxnKind::Invoice, "INV-1", "TxnDate", "1 Nov 2026"),
        Err(CompanyError::Refused { code: 3020, .. })
    ));
    c.edit_txn_as_bookkeeper(TxnKind::Invoice, "INV-1", "TxnDate", "2026-11-30")
        .unwrap();
    assert!(matches!(
        c.edit_list_as_bookkeeper(ListKind::Customer, "Acme Corp", "Name", "Paper Co"),
        Err(CompanyError::Refused { code: 3100, .. })
    ));
}

#[test]
fn queries_return_lines_only_with_include_line_items() {
    let mut c = open_company();
    add_invoice(&mut c);
    let plain = one(
        &mut c,
        "<InvoiceQueryRq><RefNumber>INV-1</RefNumber></InvoiceQueryRq>",
    );
    assert_eq!(
        ret(&plain, "InvoiceRet")
            .children_named("InvoiceLineRet")
            .count(),
        0
    );
    let full = one(
        &mut c,
        "<InvoiceQueryRq><RefNumber>INV-1</RefNumber><IncludeLineItems>true</IncludeLineItems></InvoiceQueryRq>",
    );
    assert_eq!(
        ret(&full, "InvoiceRet")
            .children_named("InvoiceLineRet")
            .count(),
        2
    );
}

/// Adds, mods (one line changed, one added) and queries a transaction of every type that
/// keeps lines; every response is schema-checked by `one`.
#[test]
fn every_type_with_lines_adds_mods_and_queries_schema_valid() {
    let mut c = open_company();
    let item = "<ItemRef><FullName>Consulting</FullName></ItemRef>";
    let customer = "<CustomerRef><FullName>Acme</FullName></CustomerRef>";
    let vendor = "<VendorRef><FullName>Paper Co</FullName></VendorRef>";
    let checking = "<AccountRef><FullName>Checking</FullName></AccountRef>";
    let card = "<AccountRef><FullName>Credit Card</FullName></AccountRef>";
    let cases = [
        (TxnKind::Invoice, customer),
        (TxnKind::CreditMemo, customer),
        (TxnKind::SalesReceipt, customer),
        (TxnKind::Estimate, customer),
        (TxnKind::SalesOrder, customer),
        (TxnKind::PurchaseOrder, vendor),
        (TxnKind::Bill, vendor),
        (TxnKind::VendorCredit, vendor),
        (TxnKind::Check, checking),
        (TxnKind::CreditCardCharge, card),
        (TxnKind::CreditCardCredit, card),
    ];
    for (kind, header) in cases {
        let tag = kind.tag();
        let line = kind.item_line().unwrap();
        // Purchases have expense lines too (12.00) and price item lines by Cost.
        let (expense, price, extra) = if kind.has_expense_lines() {
            (
                "<ExpenseLineAdd><AccountRef><FullName>Office Supplies</FullName></AccountRef><Amount>12.00</Amount></ExpenseLineAdd>",
                "Cost",
                1_200,
            )
        } else {
            ("", "Rate", 0)
        };
        let rs = one(
            &mut c,
            &format!(
                "<{tag}AddRq><{tag}Add>{header}<RefNumber>R1</RefNumber>{expense}\
                 <{line}Add>{item}<Quantity>2</Quantity><{price}>7.25</{price}></{line}Add></{tag}Add></{tag}AddRq>"
            ),
        );
        assert_eq!(status(&rs), 0, "{tag}: {rs:?}");
        let r = ret(&rs, &format!("{tag}Ret"));
        let ids = line_ids(r, &format!("{line}Ret"));
        assert_eq!(ids.len(), 1, "{tag}");
        let (id, seq) = (
            r.text_of("TxnID").unwrap(),
            r.text_of("EditSequence").unwrap(),
        );
        let rs = one(
            &mut c,
            &format!(
                "<{tag}ModRq><{tag}Mod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence>\
                 <{line}Mod><TxnLineID>{}</TxnLineID><Quantity>4</Quantity></{line}Mod>\
                 <{line}Mod><TxnLineID>-1</TxnLineID>{item}<Amount>1.00</Amount></{line}Mod></{tag}Mod></{tag}ModRq>",
                ids[0]
            ),
        );
        assert_eq!(status(&rs), 0, "{tag}: {rs:?}");
        let view = c.find_txn(kind, "R1").unwrap();
        assert_eq!(
            view.total_cents,
            3_000 + extra,
            "{tag}: quantity 4 × 7.25 + 1.00 (+ 12.00 of expenses)"
        );
        let rs = one(
            &mut c,
            &format!(
                "<{tag}QueryRq><RefNumber>R1</RefNumber><IncludeLineItems>true</IncludeLineItems></{tag}QueryRq>"
            ),
        );
        assert_eq!(status(&rs), 0);
        assert_eq!(
            ret(&rs, &format!("{tag}Ret"))
                .children_named(&format!("{line}Ret"))
                .count(),
            2,
            "{tag}"
        );
    }
    // Invoice +30, credit memo -30; bill +42, vendor credit -42.
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 0);
    assert_eq!(
        c.find(ListKind::Vendor, "Paper Co").unwrap().balance_cents,
        0
    );
}

#[test]
fn voiding_a_credit_memo_gives_the_customer_balance_back() {
    let mut c = open_company();
    add_invoice(&mut c);
    let rs = one(
        &mut c,
        "<CreditMemoAddRq><CreditMemoAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><RefNumber>CM-1</RefNumber>\
         <CreditMemoLineAdd><ItemRef><FullName>Consulting</FullName></ItemRef><Amount>41.00</Amount></CreditMemoLineAdd>\
         </CreditMemoAdd></CreditMemoAddRq>",
    );
    let r = ret(&rs, "CreditMemoRet");
    assert_eq!(r.text_of("CreditRemaining"), Some("41.00"));
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 10_000);
    let id = r.text_of("TxnID").unwrap();
    let rs = one(
        &mut c,
        &format!("<TxnVoidRq><TxnVoidType>CreditMemo</TxnVoidType><TxnID>{id}</TxnID></TxnVoidRq>"),
    );
    assert_eq!(status(&rs), 0);
    assert_eq!(c.find_customer("Acme").unwrap().balance_cents, 14_100);
    assert!(c.find_txn(TxnKind::CreditMemo, "CM-1").unwrap().is_voided);
}

#[test]
fn a_file_saved_before_lines_were_kept_still_loads() {
    let mut c = open_company();
    add_invoice(&mut c);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("company.json");
    c.save(&path).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for t in json["data"]["txns"].as_array_mut().unwrap() {
        let t = t.as_object_mut().unwrap();
        assert!(t.remove("lines").is_some() && t.remove("voided").is_some());
    }
    std::fs::write(&path, json.to_string()).unwrap();
    let old = Company::load(&path).unwrap();
    let view = old.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    assert!(view.lines.is_empty() && !view.is_voided);
    assert_eq!(view.total_cents, 14_100);
}

#[test]
fn voiding_or_deleting_needs_full_access_to_the_transactions_area() {
    let mut c = open_company();
    let (id, _, _) = add_invoice(&mut c);
    c.add_user(
        "Clerk",
        Role::new(
            "View receivables",
            &[(PermissionArea::CustomersReceivables, Access::View)],
        ),
    );
    c.set_login_as("Clerk").unwrap();
    for rq in [
        format!("<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>{id}</TxnID></TxnVoidRq>"),
        format!("<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{id}</TxnID></TxnDelRq>"),
    ] {
        assert_eq!(status(&one(&mut c, &rq)), 3260);
    }
    let view = c.find_txn(TxnKind::Invoice, "INV-1").unwrap();
    assert!(!view.is_voided && view.total_cents == 14_100);
}

#[test]
fn clear_lines_and_empty_fields_clear_what_they_name() {
    let mut c = open_company();
    let rs = one(&mut c, BILL_ADD);
    let r = ret(&rs, "BillRet");
    let (id, seq) = (
        r.text_of("TxnID").unwrap(),
        r.text_of("EditSequence").unwrap(),
    );
    let expense = line_ids(r, "ExpenseLineRet");
    assert_eq!(r.text_of("Memo"), Some("November supplies"));
    let rs = one(
        &mut c,
        &format!(
            "<BillModRq><BillMod><TxnID>{id}</TxnID><EditSequence>{seq}</EditSequence><Memo></Memo>\
             <ExpenseLineMod><TxnLineID>{}</TxnLineID><Memo></Memo></ExpenseLineMod><ClearItemLines>true</ClearItemLines>\
             </BillMod></BillModRq>",
            expense[0]
        ),
    );
    assert_eq!(status(&rs), 0);
    let r = ret(&rs, "BillRet");
    assert_eq!(r.children_named("ItemLineRet").count(), 0);
    assert_eq!(line_ids(r, "ExpenseLineRet"), [expense[0].clone()]);
    assert_eq!(r.child("ExpenseLineRet").unwrap().text_of("Memo"), None);
    assert_eq!(r.text_of("AmountDue"), Some("70.00"));
    let view = c.find_txn(TxnKind::Bill, "B-1").unwrap();
    assert_eq!(view.memo, None);
    assert_eq!(view.open_cents, 7_000);
}
