//! The bundled example plugin: maps the customers and invoices of a small CRM ("Example CRM")
//! to qbXML. It shows the shape every plugin has — a manifest, one mapping per record kind,
//! stable keys, dependencies and probes — and is installed on first start so a new server
//! has something to run.

use qbridge_sdk::serde_json::Value;
use qbridge_sdk::{Manifest, MapError, Mapper, Request, export_mapper};

pub struct ExampleMapper;

impl Mapper for ExampleMapper {
    fn manifest() -> Manifest {
        Manifest::new("example", env!("CARGO_PKG_VERSION"), "Example CRM").request_types(&[
            "CustomerAdd",
            "CustomerQuery",
            "InvoiceAdd",
            "InvoiceQuery",
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

/// QuickBooks names are at most 41 characters.
const MAX_NAME: usize = 41;

fn customer(record: &Value) -> Result<Request, MapError> {
    let id = id_of(record, "id")?;
    let (name, notes) = fit(text(record, "name")?, MAX_NAME, "name");
    let name = escape(&name);
    let mut xml =
        format!("<CustomerAddRq><CustomerAdd><Name>{name}</Name><CompanyName>{name}</CompanyName>");
    if let Some(email) = record.get("email").and_then(Value::as_str) {
        xml.push_str(&format!("<Email>{}</Email>", escape(email)));
    }
    xml.push_str("</CustomerAdd></CustomerAddRq>");
    Ok(Request {
        key: format!("customer:{id}"),
        depends_on: vec![],
        qbxml: xml,
        probe: Some(format!(
            "<CustomerQueryRq><FullName>{name}</FullName></CustomerQueryRq>"
        )),
        adopt_existing: true,
        notes,
    })
}

fn invoice(record: &Value) -> Result<Request, MapError> {
    let id = id_of(record, "id")?;
    let customer_id = id_of(record, "customer_id")?;
    let (customer, _) = fit(text(record, "customer_name")?, MAX_NAME, "customer_name");
    let number = text(record, "number")?;
    if number.len() > 11 {
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
    let mut xml = format!(
        "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{}</FullName></CustomerRef><RefNumber>{}</RefNumber>",
        escape(&customer),
        escape(number)
    );
    for (i, line) in lines.iter().enumerate() {
        let item = text(line, "item")
            .map_err(|_| MapError::field(format!("lines[{i}].item"), "missing"))?;
        let amount = line
            .get("amount")
            .and_then(Value::as_f64)
            .ok_or_else(|| MapError::field(format!("lines[{i}].amount"), "must be a number"))?;
        xml.push_str(&format!(
            "<InvoiceLineAdd><ItemRef><FullName>{}</FullName></ItemRef><Amount>{amount:.2}</Amount></InvoiceLineAdd>",
            escape(item)
        ));
    }
    xml.push_str("</InvoiceAdd></InvoiceAddRq>");
    Ok(Request {
        key: format!("invoice:{id}"),
        depends_on: vec![format!("customer:{customer_id}")],
        qbxml: xml,
        probe: Some(format!(
            "<InvoiceQueryRq><RefNumber>{}</RefNumber></InvoiceQueryRq>",
            escape(number)
        )),
        adopt_existing: false,
        notes: vec![],
    })
}

fn id_of(record: &Value, field: &str) -> Result<String, MapError> {
    match record.get(field) {
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) => {
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

/// Truncates to `max` characters, saying so in a note for the admin.
fn fit(value: &str, max: usize, field: &str) -> (String, Vec<String>) {
    if value.chars().count() <= max {
        return (value.to_string(), vec![]);
    }
    let cut: String = value.chars().take(max).collect();
    let note = format!("{field} truncated to {max} characters: {cut:?}");
    (cut, vec![note])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
