//! Validation of qbXML documents against Intuit's XSD (feature `schema`, native only).
//!
//! QuickBooks rejects a request whose elements are out of schema order, too long or unknown,
//! usually with an unhelpful "error when parsing the provided XML". Validating every request we
//! generate, in tests and at run time, catches that before QuickBooks sees it.
//!
//! libxml2 is the validator: it gives the same verdicts as lxml on every case measured, while
//! the pure-Rust option accepted out-of-order qbXML. Its objects are neither `Send` nor `Sync`,
//! so each thread loads its own copy of a schema on first use (≈ 60 ms, then µs per document).
//! The XSD files are embedded in the binary, so validation works wherever the binary runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libxml::parser::{Parser, ParserOptions};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};

/// A qbXML schema version we ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QbxmlVersion {
    /// qbXML 13.0 (QuickBooks 2014 and later).
    V13_0,
    /// qbXML 16.0 (QuickBooks 2021 and later).
    V16_0,
}

impl QbxmlVersion {
    /// Every shipped version, oldest first.
    pub const ALL: [QbxmlVersion; 2] = [QbxmlVersion::V13_0, QbxmlVersion::V16_0];

    /// `(major, minor)`.
    pub fn number(self) -> (u32, u32) {
        match self {
            QbxmlVersion::V13_0 => (13, 0),
            QbxmlVersion::V16_0 => (16, 0),
        }
    }

    /// The newest shipped schema not above `(major, minor)`, or `None` when the client is
    /// older than every shipped schema.
    pub fn highest_supported(major: u32, minor: u32) -> Option<QbxmlVersion> {
        Self::ALL
            .into_iter()
            .rev()
            .find(|v| v.number() <= (major, minor))
    }

    fn files(self) -> [(&'static str, &'static str); 4] {
        macro_rules! xsd {
            ($dir:literal, $name:literal) => {
                (
                    $name,
                    include_str!(concat!("../schemas/qbxml/", $dir, "/", $name)),
                )
            };
        }
        match self {
            QbxmlVersion::V13_0 => [
                xsd!("13.0", "qbxmlops130.xsd"),
                xsd!("13.0", "qbxml130.xsd"),
                xsd!("13.0", "qbxmlso130.xsd"),
                xsd!("13.0", "qbxmltypes130.xsd"),
            ],
            QbxmlVersion::V16_0 => [
                xsd!("16.0", "qbxmlops160.xsd"),
                xsd!("16.0", "qbxml160.xsd"),
                xsd!("16.0", "qbxmlso160.xsd"),
                xsd!("16.0", "qbxmltypes160.xsd"),
            ],
        }
    }
}

impl fmt::Display for QbxmlVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.number();
        write!(f, "{major}.{minor}")
    }
}

impl std::str::FromStr for QbxmlVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "13" | "13.0" => Ok(QbxmlVersion::V13_0),
            "16" | "16.0" => Ok(QbxmlVersion::V16_0),
            other => Err(format!(
                "unknown qbXML schema version {other:?}: expected 13.0 or 16.0"
            )),
        }
    }
}

/// One problem libxml2 found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// 1-based line in the validated document, when known.
    pub line: Option<u32>,
    /// libxml2's message, e.g. `Element 'TxnDate': This element is not expected. Expected is
    /// ( CustomerRef ).`
    pub message: String,
}

/// Why a document is not valid qbXML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaErrors {
    /// The schema the document was checked against.
    pub version: QbxmlVersion,
    /// What is wrong, in document order.
    pub errors: Vec<SchemaError>,
}

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not valid qbXML {}:", self.version)?;
        for e in &self.errors {
            match e.line {
                Some(line) => write!(f, " line {line}: {}", e.message)?,
                None => write!(f, " {}", e.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for SchemaErrors {}

thread_local! {
    static VALIDATORS: RefCell<HashMap<QbxmlVersion, SchemaValidationContext>> = RefCell::new(HashMap::new());
}

/// Validates a complete qbXML document (`<?xml?><?qbxml?><QBXML>…`) against `version`.
///
/// Documents with a DOCTYPE are refused without parsing: qbXML never has one and it is the
/// door to entity expansion attacks.
pub fn validate(version: QbxmlVersion, xml: &str) -> Result<(), SchemaErrors> {
    let fail = |message: String| SchemaErrors {
        version,
        errors: vec![SchemaError {
            line: None,
            message,
        }],
    };
    if xml.contains("<!DOCTYPE") {
        return Err(fail("a DOCTYPE is not allowed in qbXML".into()));
    }
    let options = ParserOptions {
        no_net: true,
        no_error: true,
        no_warning: true,
        ..ParserOptions::default()
    };
    let doc = Parser::default()
        .parse_string_with_options(xml, options)
        .map_err(|e| fail(format!("not well-formed XML ({e:?})")))?;
    VALIDATORS.with(|cell| {
        let mut map = cell.borrow_mut();
        let ctx = match map.entry(version) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(load(version).map_err(fail)?),
        };
        ctx.validate_document(&doc).map_err(|errors| SchemaErrors {
            version,
            errors: errors
                .into_iter()
                .map(|e| SchemaError {
                    line: e.line.and_then(|l| u32::try_from(l).ok()),
                    message: e.message.unwrap_or_default().trim().to_string(),
                })
                .collect(),
        })
    })
}

/// The schema files are written once per process to a private temporary folder, because
/// libxml2 resolves `xs:include` relative to the including file.
fn schema_dir() -> Result<&'static PathBuf, String> {
    static DIR: OnceLock<Result<(tempfile::TempDir, PathBuf), String>> = OnceLock::new();
    let entry = DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("qbridge-xsd-")
            .tempdir()
            .map_err(|e| format!("cannot create a folder for the qbXML schemas: {e}"))?;
        for version in QbxmlVersion::ALL {
            let sub = dir.path().join(version.to_string());
            std::fs::create_dir(&sub).map_err(|e| e.to_string())?;
            for (name, text) in version.files() {
                std::fs::write(sub.join(name), text).map_err(|e| e.to_string())?;
            }
        }
        let path = dir.path().to_path_buf();
        Ok((dir, path))
    });
    entry.as_ref().map(|(_, p)| p).map_err(Clone::clone)
}

fn load(version: QbxmlVersion) -> Result<SchemaValidationContext, String> {
    let root = schema_dir()?
        .join(version.to_string())
        .join(version.files()[0].0);
    let root = root.to_str().ok_or("schema path is not UTF-8")?;
    let mut parser = SchemaParserContext::from_file(root);
    SchemaValidationContext::from_parser(&mut parser).map_err(|errors| {
        let text: Vec<String> = errors.into_iter().filter_map(|e| e.message).collect();
        format!(
            "cannot load the qbXML {version} schema: {}",
            text.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><InvoiceAddRq requestID="1"><InvoiceAdd>{body}</InvoiceAdd></InvoiceAddRq></QBXMLMsgsRq></QBXML>"#
        )
    }

    const GOOD: &str = "<CustomerRef><FullName>Acme</FullName></CustomerRef><TxnDate>2025-03-01</TxnDate><InvoiceLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Amount>10.00</Amount></InvoiceLineAdd>";

    #[test]
    fn valid_invoice_passes_both_versions() {
        for v in QbxmlVersion::ALL {
            validate(v, &invoice(GOOD)).unwrap();
        }
    }

    #[test]
    fn out_of_order_element_fails_with_a_useful_message() {
        let bad = "<TxnDate>2025-03-01</TxnDate><CustomerRef><FullName>Acme</FullName></CustomerRef><InvoiceLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Amount>10.00</Amount></InvoiceLineAdd>";
        for v in QbxmlVersion::ALL {
            let err = validate(v, &invoice(bad)).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("'TxnDate'") && text.contains("CustomerRef"),
                "{text}"
            );
        }
    }

    #[test]
    fn too_long_ref_number_fails() {
        let bad = GOOD.replace(
            "<TxnDate>2025-03-01</TxnDate>",
            "<TxnDate>2025-03-01</TxnDate><RefNumber>12345678901234</RefNumber>",
        );
        assert!(validate(QbxmlVersion::V13_0, &invoice(&bad)).is_err());
    }

    #[test]
    fn doctype_and_garbage_are_refused() {
        assert!(
            validate(
                QbxmlVersion::V13_0,
                "<!DOCTYPE x [<!ENTITY a 'b'>]><QBXML/>"
            )
            .is_err()
        );
        assert!(validate(QbxmlVersion::V13_0, "<QBXML><unclosed>").is_err());
    }

    #[test]
    fn version_selection_never_exceeds_the_client() {
        assert_eq!(
            QbxmlVersion::highest_supported(16, 0),
            Some(QbxmlVersion::V16_0)
        );
        assert_eq!(
            QbxmlVersion::highest_supported(15, 0),
            Some(QbxmlVersion::V13_0)
        );
        assert_eq!(QbxmlVersion::highest_supported(12, 0), None);
    }

    #[test]
    fn validators_work_on_several_threads() {
        let handles: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(|| validate(QbxmlVersion::V13_0, &invoice(GOOD)).is_ok()))
            .collect();
        assert!(handles.into_iter().all(|h| h.join().unwrap()));
    }
}
