//! Changing what is already in QuickBooks: every Add the SDK's builders produce, and every Add
//! in the bundled plugins' golden outputs, becomes a Mod valid against Intuit's qbXML 13.0
//! and 16.0 schemas that keeps every line and value the Mod can carry; voids, deletes,
//! deactivations and queries are schema-valid; ids are read from realistic `*Ret`s; `compare`
//! finds what QuickBooks changed.
//! Run with `cargo test --release -p qbridge-sdk --features schema`.
#![cfg(feature = "schema")]

mod examples;

use examples::{amt, date, every_builder_add, name};
use qbridge_sdk::qbxml::change::*;
use qbridge_sdk::qbxml::*;
use qbridge_sdk::schema::{QbxmlVersion, validate};

fn envelope(version: QbxmlVersion, rq: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><?qbxml version=\"{version}\"?><QBXML>\
         <QBXMLMsgsRq onError=\"stopOnError\">{rq}</QBXMLMsgsRq></QBXML>"
    )
}

fn assert_valid(rq: &str) {
    for version in QbxmlVersion::ALL {
        if let Err(e) = validate(version, &envelope(version, rq)) {
            panic!("{e}\n{rq}");
        }
    }
}

/// Every Add request in the bundled plugins' golden outputs.
fn golden_adds() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/corpus");
    let mut adds = Vec::new();
    for plugin in std::fs::read_dir(root).expect("the corpus folder") {
        for file in std::fs::read_dir(plugin.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_none_or(|e| e != "golden") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // A value with a line break continues the `qbxml:` entry on the next lines, up to
            // the next `key: ` line, `== ` heading or blank line.
            let mut lines = text.lines().peekable();
            while let Some(line) = lines.next() {
                let Some(first) = line.strip_prefix("qbxml: ") else {
                    continue;
                };
                let mut rq = first.to_owned();
                while let Some(next) = lines.peek() {
                    let key = next.split_once(": ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    });
                    if key || next.starts_with("== ") || next.is_empty() {
                        break;
                    }
                    rq.push('\n');
                    rq.push_str(next);
                    lines.next();
                }
                if add_type(&rq).is_some() {
                    adds.push((path.display().to_string(), rq));
                }
            }
        }
    }
    adds
}

/// `InvoiceAdd` of `<InvoiceAddRq>…`, `None` for other requests.
fn add_type(rq: &str) -> Option<&str> {
    let open = rq.strip_prefix('<')?;
    let end = open.find(['>', ' '])?;
    open[..end].strip_suffix("AddRq").map(|_| &open[..end - 2])
}

/// Existing ids for every other line, a new one between, and the last line beyond the
/// vector's end (new too).
fn identity_for(add: &str) -> Identity {
    let lines = add_line_kinds(add).unwrap().len();
    Identity {
        id: "1A2B3C-1700000000".into(),
        edit_sequence: "1700000042".into(),
        line_ids: (0..lines.saturating_sub(1))
            .map(|i| (i % 2 == 0).then(|| format!("{:X}-1700000000", 0x100 + i)))
            .collect(),
    }
}

/// The values of an Add's leaves, without those of the elements the Mod dropped.
fn kept_values(add: &str, dropped: &[String]) -> Vec<String> {
    let mut text = add.to_owned();
    for d in dropped {
        let leaf = d.rsplit('/').next().unwrap();
        let (open, close) = (format!("<{leaf}>"), format!("</{leaf}>"));
        while let Some(start) = text.find(&open) {
            let end = start + text[start..].find(&close).unwrap() + close.len();
            text.replace_range(start..end, "");
        }
    }
    text.split('>')
        .filter_map(|part| part.split('<').next())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_mod(source: &str, add: &str) {
    let identity = identity_for(add);
    let changed = match to_mod(add, &identity) {
        Ok(c) => c,
        Err(ChangeError::NoMod { add: t }) if t == "BillPaymentCreditCardAdd" => return,
        Err(e) => panic!("{source}: {e}\n{add}"),
    };
    assert_valid(&changed.qbxml);
    let lines = add_line_kinds(add).unwrap().len();
    let line_mods = changed.qbxml.matches("<TxnLineID>").count();
    assert_eq!(
        line_mods, lines,
        "{source}: every line kept\n{}",
        changed.qbxml
    );
    for id in identity.line_ids.iter().flatten() {
        assert!(
            changed
                .qbxml
                .contains(&format!("<TxnLineID>{id}</TxnLineID>")),
            "{source}: line id {id}"
        );
    }
    let new_lines = lines - identity.line_ids.iter().flatten().count();
    assert_eq!(
        changed.qbxml.matches("<TxnLineID>-1</TxnLineID>").count(),
        new_lines
    );
    for value in kept_values(add, &changed.dropped) {
        assert!(
            changed.qbxml.contains(&format!(">{value}<")),
            "{source}: value {value:?} lost\n{add}\n{}",
            changed.qbxml
        );
    }
    assert!(
        changed
            .qbxml
            .contains("<EditSequence>1700000042</EditSequence>")
    );
}

#[test]
fn every_builder_add_becomes_a_schema_valid_mod_keeping_lines_and_values() {
    let adds = every_builder_add();
    assert!(adds.len() >= 17);
    for add in adds {
        check_mod("builder", &add);
    }
}

#[test]
fn every_golden_add_of_the_bundled_plugins_becomes_a_schema_valid_mod() {
    let adds = golden_adds();
    assert!(adds.len() > 20, "the corpus has Adds");
    for (source, add) in adds {
        check_mod(&source, &add);
    }
}

#[test]
fn a_mod_carries_the_changed_values_and_compare_finds_them() {
    let add = |memo: &str, amount: &str| {
        InvoiceAdd::new(name("Acme Corp"))
            .memo(memo)
            .line(InvoiceLine::new(name("Labor")).amount(amt("100")))
            .line(InvoiceLine::new(name("Travel")).amount(amt(amount)))
            .build()
            .unwrap()
            .qbxml
    };
    let before = add("March", "50");
    let after = add("March, corrected", "75.5");
    let identity = Identity {
        id: "1A-1700000000".into(),
        edit_sequence: "1700000003".into(),
        line_ids: vec![Some("1C-1700000000".into()), Some("1D-1700000000".into())],
    };
    let changed = to_mod(&after, &identity).unwrap();
    assert_valid(&changed.qbxml);
    assert!(changed.qbxml.contains("<Memo>March, corrected</Memo>"));
    assert!(changed.qbxml.contains(
        "<InvoiceLineMod><TxnLineID>1D-1700000000</TxnLineID><ItemRef><FullName>Travel</FullName></ItemRef><Amount>75.50</Amount></InvoiceLineMod>"
    ));
    // QuickBooks still holds the first version: names in its own case, amounts its way.
    let ret = "<InvoiceRet><TxnID>1A-1700000000</TxnID><EditSequence>1700000003</EditSequence>\
        <CustomerRef><ListID>80000001-1</ListID><FullName>ACME CORP</FullName></CustomerRef>\
        <Memo>March</Memo>\
        <InvoiceLineRet><TxnLineID>1C-1700000000</TxnLineID><ItemRef><FullName>labor</FullName></ItemRef><Amount>100.00</Amount></InvoiceLineRet>\
        <InvoiceLineRet><TxnLineID>1D-1700000000</TxnLineID><ItemRef><FullName>Travel</FullName></ItemRef><Amount>50.00</Amount></InvoiceLineRet>\
        </InvoiceRet>";
    assert!(
        compare(&before, ret, &[]).is_empty(),
        "100 = 100.00, names ignore case"
    );
    let diffs = compare(&changed.qbxml, ret, &[]);
    let shown: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"Memo: QuickBooks has "March", qbridge wrote "March, corrected""#,
            r#"InvoiceLine[2]/Amount: QuickBooks has "50.00", qbridge wrote "75.50""#,
        ]
    );
    let only_lines = compare(
        &after,
        ret,
        &["InvoiceLine[2]/Amount", "InvoiceLine[1]/Amount"],
    );
    assert_eq!(only_lines.len(), 1);
    assert_eq!(only_lines[0].field, "InvoiceLine[2]/Amount");
}

/// The values of the enumeration `element` in a shipped schema's `qbxml*.xsd`.
fn enumeration(version: &str, element: &str) -> Vec<String> {
    let file = format!(
        "{}/schemas/qbxml/{version}/qbxml{}.xsd",
        env!("CARGO_MANIFEST_DIR"),
        version.replace('.', "")
    );
    let xsd = std::fs::read_to_string(&file).unwrap();
    let start = xsd
        .find(&format!("<xsd:element name=\"{element}\">"))
        .unwrap();
    let end = start + xsd[start..].find("</xsd:element>").unwrap();
    xsd[start..end]
        .split("<xsd:enumeration value=\"")
        .skip(1)
        .map(|v| v.split('"').next().unwrap().to_owned())
        .collect()
}

#[test]
fn voids_and_deletes_are_valid_for_every_type_the_schema_lists() {
    for (element, how) in [
        ("TxnVoidType", Removal::Void),
        ("TxnDelType", Removal::Delete),
    ] {
        let types = enumeration("16.0", element);
        assert!(types.len() > 10);
        let in_13 = enumeration("13.0", element);
        for t in &types {
            let changed = remove_txn(&format!("{t}Add"), "1A2B-1700000000", how).unwrap();
            assert_eq!(changed.request_type, element.strip_suffix("Type").unwrap());
            for version in QbxmlVersion::ALL {
                if version == QbxmlVersion::V13_0 && !in_13.contains(t) {
                    continue;
                }
                if let Err(e) = validate(version, &envelope(version, &changed.qbxml)) {
                    panic!("{e}\n{}", changed.qbxml);
                }
            }
            let expected =
                if how == Removal::Void || !enumeration("16.0", "TxnVoidType").contains(t) {
                    how
                } else {
                    Removal::Void
                };
            assert_eq!(removal_for(t), Some(expected), "{t}");
        }
    }
    assert_eq!(removal_for("PurchaseOrderAdd"), Some(Removal::Delete));
    assert_eq!(removal_for("VendorAdd"), None);
    assert!(remove_txn("Vendor", "1A-1", Removal::Delete).is_err());
}

#[test]
fn deactivation_is_valid_for_every_list_type_qbridge_writes() {
    let mut adds = vec![
        CustomerAdd::new("Acme").phone("1").build().unwrap().qbxml,
        VendorAdd::new("Northwind").build().unwrap().qbxml,
        "<AccountAddRq><AccountAdd><Name>Travel</Name><AccountType>Expense</AccountType></AccountAdd></AccountAddRq>".to_owned(),
        "<ClassAddRq><ClassAdd><Name>Ops</Name></ClassAdd></ClassAddRq>".to_owned(),
    ];
    for kind in [
        ItemKind::Service,
        ItemKind::NonInventory,
        ItemKind::OtherCharge,
    ] {
        adds.push(
            ItemAdd::new(kind, "Widget")
                .account_ref(name("Sales"))
                .build()
                .unwrap()
                .qbxml,
        );
    }
    let identity = Identity {
        id: "80000001-1700000000".into(),
        edit_sequence: "1700000001".into(),
        line_ids: Vec::new(),
    };
    for add in adds {
        let changed = deactivate(&add, &identity).unwrap();
        assert_valid(&changed.qbxml);
        assert!(
            changed.qbxml.contains("<IsActive>false</IsActive>"),
            "{}",
            changed.qbxml
        );
        assert!(changed.request_type.ends_with("Mod"));
    }
}

#[test]
fn queries_by_id_are_valid_for_every_builder_type() {
    for add in every_builder_add() {
        let t = add_type(&add).unwrap();
        let q = query_by_id(t, "1A2B-1700000000").unwrap();
        assert_valid(&q);
    }
    assert_eq!(
        query_by_id("ItemServiceAdd", "80000001-1700000000").unwrap(),
        "<ItemServiceQueryRq><ListID>80000001-1700000000</ListID></ItemServiceQueryRq>"
    );
}

#[test]
fn bill_payment_queries_for_duplicate_checks_are_valid() {
    let day = date("2025-03-15");
    for kind in [TxnKind::BillPaymentCheck, TxnKind::BillPaymentCreditCard] {
        for q in [
            TxnQuery::new(kind)
                .ref_number("ACH-7731")
                .include_line_items(true),
            TxnQuery::new(kind)
                .txn_date_range(day, day)
                .entity(name("Northwind"))
                .include_line_items(true)
                .include_ret_element("TxnID"),
            TxnQuery::new(kind).txn_id("1A-1700000000"),
        ] {
            assert_valid(&q.build().unwrap().qbxml);
        }
        assert!(
            TxnQuery::new(kind)
                .include_linked_txns(true)
                .build()
                .is_err()
        );
    }
    let q = TxnQuery::new(TxnKind::BillPaymentCreditCard)
        .ref_number("R-1")
        .build()
        .unwrap();
    assert_eq!(
        q.qbxml,
        "<BillPaymentCreditCardQueryRq><RefNumber>R-1</RefNumber></BillPaymentCreditCardQueryRq>"
    );
}

/// A response as QuickBooks sends it, for validating `*Ret`s against the schema.
fn response(rs: &str, ret: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><?qbxml version=\"16.0\"?><QBXML><QBXMLMsgsRs>\
         <{rs} requestID=\"1\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\">\
         {ret}</{rs}></QBXMLMsgsRs></QBXML>"
    )
}

const INVOICE_RET: &str = "<InvoiceRet><TxnID>1A2B-1700000000</TxnID>\
    <TimeCreated>2025-03-01T10:00:00-05:00</TimeCreated><TimeModified>2025-03-02T10:00:00-05:00</TimeModified>\
    <EditSequence>1700000042</EditSequence><TxnNumber>12</TxnNumber>\
    <CustomerRef><ListID>80000001-1700000000</ListID><FullName>Acme Corp</FullName></CustomerRef>\
    <TxnDate>2025-03-01</TxnDate><RefNumber>10457</RefNumber><IsPending>false</IsPending>\
    <Subtotal>1850.00</Subtotal><SalesTaxPercentage>0.00</SalesTaxPercentage><SalesTaxTotal>0.00</SalesTaxTotal>\
    <AppliedAmount>0.00</AppliedAmount><BalanceRemaining>1850.00</BalanceRemaining>\
    <Memo>Thank you</Memo><IsPaid>false</IsPaid>\
    <InvoiceLineRet><TxnLineID>1C-1700000000</TxnLineID><ItemRef><FullName>Labor</FullName></ItemRef>\
    <Desc>Remote support</Desc><Quantity>1.5</Quantity><Rate>150.00</Rate><Amount>225.00</Amount></InvoiceLineRet>\
    <InvoiceLineGroupRet><TxnLineID>1D-1700000000</TxnLineID><ItemGroupRef><FullName>Bundle</FullName></ItemGroupRef>\
    <IsPrintItemsInGroup>false</IsPrintItemsInGroup><TotalAmount>1625.00</TotalAmount>\
    <InvoiceLineRet><TxnLineID>1E-1700000000</TxnLineID><ItemRef><FullName>Workstation</FullName></ItemRef><Amount>1625.00</Amount></InvoiceLineRet>\
    </InvoiceLineGroupRet>\
    <InvoiceLineRet><TxnLineID>1F-1700000000</TxnLineID><Desc>Thanks!</Desc></InvoiceLineRet>\
    </InvoiceRet>";

const BILL_RET: &str = "<BillRet><TxnID>2A-1700000000</TxnID>\
    <TimeCreated>2025-03-01T10:00:00-05:00</TimeCreated><TimeModified>2025-03-01T10:00:00-05:00</TimeModified>\
    <EditSequence>1700000007</EditSequence>\
    <VendorRef><FullName>Northwind</FullName></VendorRef><APAccountRef><FullName>Accounts Payable</FullName></APAccountRef>\
    <TxnDate>2025-03-01</TxnDate><DueDate>2025-03-31</DueDate><AmountDue>799.97</AmountDue>\
    <RefNumber>INV-42</RefNumber><IsPaid>false</IsPaid>\
    <ExpenseLineRet><TxnLineID>2B-1700000000</TxnLineID><AccountRef><FullName>Office Supplies</FullName></AccountRef><Amount>99.99</Amount></ExpenseLineRet>\
    <ItemLineRet><TxnLineID>2C-1700000000</TxnLineID><ItemRef><FullName>Switch</FullName></ItemRef><Quantity>2</Quantity><Amount>699.98</Amount></ItemLineRet>\
    <OpenAmount>799.97</OpenAmount></BillRet>";

#[test]
fn ids_are_read_from_realistic_invoice_and_bill_rets() {
    for (rs, ret) in [("InvoiceQueryRs", INVOICE_RET), ("BillQueryRs", BILL_RET)] {
        let doc = response(rs, ret);
        if let Err(e) = validate(QbxmlVersion::V16_0, &doc) {
            panic!("the test's {rs} is not what QuickBooks sends: {e}");
        }
        assert!(ret_identity(&doc).is_some());
    }
    assert_eq!(
        ret_identity(INVOICE_RET),
        Some(("1A2B-1700000000".into(), "1700000042".into()))
    );
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    };
    assert_eq!(
        ret_line_ids(INVOICE_RET),
        pairs(&[
            ("InvoiceLine", "1C-1700000000"),
            ("InvoiceLineGroup", "1D-1700000000"),
            ("InvoiceLine", "1F-1700000000"),
        ])
    );
    assert_eq!(
        ret_line_ids(&response("BillQueryRs", BILL_RET)),
        pairs(&[
            ("ExpenseLine", "2B-1700000000"),
            ("ItemLine", "2C-1700000000")
        ])
    );
}

#[test]
fn lines_pair_by_kind_and_position_into_a_valid_mod() {
    // The engine's use: Add line kinds matched with the Ret's ids, kind by kind.
    let add = BillAdd::new(name("Northwind"))
        .expense_line(ExpenseLine::new(name("Office Supplies"), amt("120")))
        .item_line(
            ItemLine::new(name("Switch"))
                .quantity(amt("2"))
                .amount(amt("699.98")),
        )
        .item_line(ItemLine::new(name("Cable")).amount(amt("5")))
        .build()
        .unwrap()
        .qbxml;
    let kinds = add_line_kinds(&add).unwrap();
    assert_eq!(kinds, ["ExpenseLine", "ItemLine", "ItemLine"]);
    let current = ret_line_ids(BILL_RET);
    let mut used = vec![false; current.len()];
    let line_ids = kinds
        .iter()
        .map(|kind| {
            let at = current
                .iter()
                .enumerate()
                .position(|(i, (k, _))| k == kind && !used[i])?;
            used[at] = true;
            Some(current[at].1.clone())
        })
        .collect();
    let identity = Identity {
        id: "2A-1700000000".into(),
        edit_sequence: "1700000007".into(),
        line_ids,
    };
    let changed = to_mod(&add, &identity).unwrap();
    assert_valid(&changed.qbxml);
    assert!(
        changed
            .qbxml
            .contains("<ExpenseLineMod><TxnLineID>2B-1700000000</TxnLineID>")
    );
    assert!(
        changed
            .qbxml
            .contains("<ItemLineMod><TxnLineID>2C-1700000000</TxnLineID>")
    );
    assert!(
        changed
            .qbxml
            .contains("<ItemLineMod><TxnLineID>-1</TxnLineID><ItemRef><FullName>Cable")
    );
    let diffs = compare(&add, BILL_RET, &[]);
    assert_eq!(
        diffs.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(),
        [
            "ExpenseLine[1]/Amount",
            "ItemLine[2]/ItemRef/FullName",
            "ItemLine[2]/Amount"
        ]
    );
}

#[test]
fn adds_the_builders_do_not_write_convert_too() {
    let adds = [
        "<EstimateAddRq><EstimateAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><TxnDate>2025-03-01</TxnDate><Memo>Quote</Memo><ExternalGUID>{8A4E3C2B-1D0F-5A6B-9C8D-7E6F5A4B3C2D}</ExternalGUID><EstimateLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Quantity>3</Quantity><Rate>100</Rate></EstimateLineAdd><EstimateLineGroupAdd><ItemGroupRef><FullName>Bundle</FullName></ItemGroupRef><Quantity>1</Quantity></EstimateLineGroupAdd></EstimateAdd></EstimateAddRq>",
        "<SalesOrderAddRq><SalesOrderAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><RefNumber>SO-1</RefNumber><SalesOrderLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Amount>10.00</Amount></SalesOrderLineAdd></SalesOrderAdd></SalesOrderAddRq>",
        "<SalesReceiptAddRq><SalesReceiptAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><TxnDate>2025-03-01</TxnDate><DepositToAccountRef><FullName>Undeposited Funds</FullName></DepositToAccountRef><SalesReceiptLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Amount>10.00</Amount></SalesReceiptLineAdd><SalesReceiptLineAdd><Desc>Thanks</Desc></SalesReceiptLineAdd></SalesReceiptAdd></SalesReceiptAddRq>",
        "<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><TxnDate>2025-03-20</TxnDate><TotalAmount>10.00</TotalAmount><Memo>Paid</Memo><AppliedToTxnAdd><TxnID>1A-1700000000</TxnID><PaymentAmount>10.00</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>",
        "<EmployeeAddRq><EmployeeAdd><FirstName>Jim</FirstName><LastName>Halpert</LastName><Phone>555</Phone></EmployeeAdd></EmployeeAddRq>",
        "<ItemInventoryAddRq><ItemInventoryAdd><Name>Switch</Name><SalesPrice>19.99</SalesPrice><IncomeAccountRef><FullName>Sales</FullName></IncomeAccountRef><COGSAccountRef><FullName>COGS</FullName></COGSAccountRef><AssetAccountRef><FullName>Inventory</FullName></AssetAccountRef><QuantityOnHand>5</QuantityOnHand></ItemInventoryAdd></ItemInventoryAddRq>",
    ];
    for add in adds {
        assert_valid(add);
        check_mod("hand-written", add);
    }
    let payment = to_mod(adds[3], &identity_for(adds[3])).unwrap();
    assert!(payment.qbxml.contains(
        "<AppliedToTxnMod><TxnID>1A-1700000000</TxnID><PaymentAmount>10.00</PaymentAmount></AppliedToTxnMod>"
    ));
    let item = to_mod(adds[5], &identity_for(adds[5])).unwrap();
    assert_eq!(item.dropped, ["QuantityOnHand"]);
}
