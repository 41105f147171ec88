//! The bundled example plugin: maps the customers and invoices of a small CRM ("Example CRM")
//! to qbXML. It shows the shape every plugin has — a manifest, one mapping per record kind,
//! stable keys, dependencies and probes — and is installed on first start so a new server
//! has something to run. Records that change after they synced need nothing more than
//! mapping them again: declaring `CustomerMod`/`InvoiceMod` lets the engine send a changed
//! record as the matching Mod, line keys keep each invoice line's identity across edits, and
//! a voided invoice maps to its Add with `Action::Void` (declared as `TxnVoid`).

use qbridge_sdk::amount::Amount;
use qbridge_sdk::qbxml::{
    BuildError, Built, CustomerAdd, InvoiceAdd, InvoiceLine, ListKind, ListQuery, Ref, TxnKind,
    TxnQuery,
};
use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Action, Manifest, MapError, Mapper, Request, export_mapper};

pub struct ExampleMapper;

impl Mapper for ExampleMapper {
    fn manifest() -> Manifest {
        Manifest::new("example", env!("CARGO_PKG_VERSION"), "Example CRM").request_types(&[
            "CustomerAdd",
            "CustomerMod",
            "CustomerQuery",
            "InvoiceAdd",
            "InvoiceMod",
            "InvoiceQuery",
            "TxnVoid",
        ])
    }

    fn map(kind: &str, record: &Value) -> Result<Vec<Request>, MapError> {
        match kind {
            "customer" => Ok(vec![customer(record)?]),
            "invoice" => Ok(vec![invoice(record)?]),
            other => Err(MapError::new(format!(
                "unknown record kind {other:?}; this plugin maps `customer` and `invoice`"
            ))),
        }
    }
}

export_mapper!(ExampleMapper);

/// Most lines one invoice may have; a longer one is refused rather than cut.
const MAX_LINES: usize = 500;

/// The SDK's builders do the work every plugin needs: elements in schema order, text fitted
/// to QuickBooks' lengths and to ISO-8859-1 (each change noted), escaping, exact amounts.
fn built(result: Result<Built, BuildError>, key: String, field: &str) -> Result<Request, MapError> {
    result
        .map(|b| b.into_request(key))
        .map_err(|e| MapError::field(field, format!("cannot be written as qbXML: {e}")))
}

fn customer(record: &Value) -> Result<Request, MapError> {
    let id = id_of(record, "id")?;
    let name = text(record, "name")?;
    let mut add = CustomerAdd::new(name).company_name(name);
    if let Some(email) = record.get("email").and_then(Value::as_str) {
        add = add.email(email);
    }
    let built = add
        .build()
        .map_err(|e| MapError::field("name", format!("cannot be written as qbXML: {e}")))?;
    // The probe must look up the name the request really carries (it may have been fitted).
    let sent = built.text_of("Name").unwrap_or_else(|| name.to_string());
    let req = built.into_request(format!("customer:{id}"));
    let probe = ListQuery::new(ListKind::Customer)
        .full_name(sent)
        .build()
        .map_err(|e| MapError::field("name", format!("cannot be looked up: {e}")))?;
    // A customer found by name is adopted as it is only if these match; otherwise it is
    // changed to the CRM's version.
    Ok(req
        .probe(probe.qbxml)
        .adopt_existing()
        .significant(["Name", "CompanyName", "Email"]))
}

fn invoice(record: &Value) -> Result<Request, MapError> {
    let id = id_of(record, "id")?;
    let customer_id = id_of(record, "customer_id")?;
    let customer = text(record, "customer_name")?;
    let number = text(record, "number")?;
    if number.chars().count() > 11 {
        return Err(MapError::field(
            "number",
            "QuickBooks invoice numbers are at most 11 characters",
        ));
    }
    let lines = record
        .get("lines")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| MapError::field("lines", "an invoice needs at least one line"))?;
    if lines.len() > MAX_LINES {
        return Err(MapError::field(
            "lines",
            format!("has {} lines; at most {MAX_LINES} are mapped", lines.len()),
        ));
    }
    let mut add = InvoiceAdd::new(Ref::full_name(customer)).ref_number(number);
    let mut line_keys = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        // A line id lets an edit keep QuickBooks' TxnLineID for the lines it keeps; without
        // ids the engine pairs lines by position.
        if let Some(id) = line.get("id") {
            let id = id_of(line, "id").map_err(|_| {
                MapError::field(format!("lines[{i}].id"), format!("{id} is not an id"))
            })?;
            line_keys.push(id);
        }
        let item =
            text(line, "item").map_err(|_| MapError::missing(&format!("lines[{i}].item")))?;
        let field = format!("lines[{i}].amount");
        // Read from the JSON text (feature exact-json), never through f64.
        let amount = match line.get("amount") {
            Some(Value::Number(n)) => Amount::from_json_number(n),
            Some(Value::String(s)) => Amount::from_json_text(s),
            _ => return Err(MapError::field(field, "must be a number")),
        }
        .map_err(|e| MapError::field(&field, e.to_string()))?;
        add = add.line(InvoiceLine::new(Ref::full_name(item)).amount(amount));
    }
    if !line_keys.is_empty() && line_keys.len() != lines.len() {
        return Err(MapError::field(
            "lines",
            "either every line has an id or none has",
        ));
    }
    let req = built(add.build(), format!("invoice:{id}"), "lines")?;
    let probe = TxnQuery::new(TxnKind::Invoice)
        .ref_number(number)
        .build()
        .map_err(|e| MapError::field("number", format!("cannot be looked up: {e}")))?;
    let voided = record
        .get("voided")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(req
        .depends_on([format!("customer:{customer_id}")])
        .probe(probe.qbxml)
        .line_keys(line_keys)
        .action(if voided { Action::Void } else { Action::Write }))
}

/// An id (a JSON integer, or letters and digits) that is safe inside an idempotency key.
fn id_of(record: &Value, field: &str) -> Result<String, MapError> {
    match record.get(field) {
        Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Ok(s.clone())
        }
        _ => Err(MapError::missing(field)),
    }
}

fn text<'a>(record: &'a Value, field: &str) -> Result<&'a str, MapError> {
    record
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MapError::missing(field))
}
