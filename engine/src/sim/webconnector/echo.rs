//! `EchoQuickBooks`: a stand-in [`QuickBooks`] for `qbridge sim run` until the simulated company
//! (`sim::company`) is wired in. It keeps no data: every `*Rq` gets a `*Rs` with status 0 that
//! echoes its `requestID`, the way QuickBooks answers a request it accepted.
//!
//! The point is to exercise a server's QBWC protocol handling, not its mapping: anything that
//! checks returned records needs the real company simulator.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::sim::{QbFailure, QuickBooks};

/// The company file reported when the server does not name one.
const DEFAULT_COMPANY_FILE: &str =
    r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\Echo Company.QBW";
/// The qbXML version this stand-in claims to support.
const QBXML_VERSION: (u32, u32) = (13, 0);
/// Requests with more `*Rq` elements than this are refused like an unparsable request.
const MAX_REQUESTS_PER_SET: usize = 10_000;

/// Answers every request with a schema-shaped success response. See the module docs.
#[derive(Debug, Default)]
pub struct EchoQuickBooks {
    company_file: Option<String>,
}

impl EchoQuickBooks {
    pub fn new() -> EchoQuickBooks {
        EchoQuickBooks::default()
    }
}

impl QuickBooks for EchoQuickBooks {
    fn open(&mut self, requested_path: &str) -> Result<(), QbFailure> {
        if !requested_path.is_empty() {
            self.company_file = Some(requested_path.to_string());
        }
        Ok(())
    }

    fn company_file(&self) -> String {
        self.company_file
            .clone()
            .unwrap_or_else(|| DEFAULT_COMPANY_FILE.to_string())
    }

    fn country(&self) -> String {
        "US".to_string()
    }

    fn qbxml_version(&self) -> (u32, u32) {
        QBXML_VERSION
    }

    fn hcp_response(&mut self) -> String {
        let (major, minor) = QBXML_VERSION;
        let versions: String = (1..=major)
            .map(|v| format!("<SupportedQBXMLVersion>{v}.0</SupportedQBXMLVersion>\n"))
            .collect();
        format!(
            "<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n\
             <HostQueryRs requestID=\"0\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\">\n\
             <HostRet>\n<ProductName>QuickBooks Enterprise Solutions (qbridge echo stand-in)</ProductName>\n\
             <MajorVersion>{major}</MajorVersion>\n<MinorVersion>{minor}</MinorVersion>\n<Country>US</Country>\n\
             {versions}<IsAutomaticLogin>true</IsAutomaticLogin>\n<QBFileMode>SingleUser</QBFileMode>\n</HostRet>\n</HostQueryRs>\n\
             <CompanyQueryRs requestID=\"1\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\">\n\
             <CompanyRet>\n<IsSampleCompany>false</IsSampleCompany>\n<CompanyName>Echo Company</CompanyName>\n</CompanyRet>\n</CompanyQueryRs>\n\
             <PreferencesQueryRs requestID=\"2\" statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" />\n\
             </QBXMLMsgsRs>\n</QBXML>\n"
        )
    }

    fn process(&mut self, request: &str) -> Result<String, QbFailure> {
        let requests = request_elements(request).ok_or_else(|| QbFailure::Hresult {
            hresult: "0x80040400".to_string(),
            message: "QuickBooks found an error when parsing the provided XML text stream."
                .to_string(),
        })?;
        let mut out = String::from("<?xml version=\"1.0\" ?>\n<QBXML>\n<QBXMLMsgsRs>\n");
        for (name, request_id) in requests {
            let rs = format!("{}Rs", name.trim_end_matches("Rq"));
            let id = request_id
                .map(|id| format!(" requestID=\"{}\"", quick_xml::escape::escape(&id)))
                .unwrap_or_default();
            out.push_str(&format!(
                "<{rs}{id} statusCode=\"0\" statusSeverity=\"Info\" statusMessage=\"Status OK\" />\n"
            ));
        }
        out.push_str("</QBXMLMsgsRs>\n</QBXML>\n");
        Ok(out)
    }

    fn close(&mut self) {}
}

/// The `*Rq` children of `QBXMLMsgsRq` with their `requestID`s, or `None` when the request is
/// not a well-formed qbXML message set.
fn request_elements(request: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut reader = Reader::from_str(request);
    let mut depth = 0usize;
    let mut in_msgs = false;
    let mut saw_msgs = false;
    let mut found = Vec::new();
    loop {
        let event = reader.read_event().ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_string();
                let is_start = matches!(event, Event::Start(_));
                if in_msgs && depth == 2 && name.ends_with("Rq") {
                    if found.len() >= MAX_REQUESTS_PER_SET {
                        return None;
                    }
                    let id = e
                        .try_get_attribute("requestID")
                        .ok()?
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map(|v| v.into_owned())
                        })
                        .transpose()
                        .ok()?;
                    found.push((name.clone(), id));
                }
                if depth == 1 && name == "QBXMLMsgsRq" {
                    in_msgs = is_start;
                    saw_msgs = true;
                }
                if is_start {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.checked_sub(1)?;
                if depth == 1 {
                    in_msgs = false;
                }
            }
            Event::Eof => return (depth == 0 && saw_msgs).then_some(found),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_gets_a_success_response_echoing_its_request_id() {
        let request = r#"<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq requestID="a&amp;1"><CustomerAdd><Name>X</Name></CustomerAdd></CustomerAddRq><InvoiceQueryRq requestID="2"/></QBXMLMsgsRq></QBXML>"#;
        let response = EchoQuickBooks::new().process(request).unwrap();
        assert!(
            response.contains(r#"<CustomerAddRs requestID="a&amp;1" statusCode="0""#),
            "{response}"
        );
        assert!(
            response.contains(r#"<InvoiceQueryRs requestID="2" statusCode="0""#),
            "{response}"
        );
    }

    #[test]
    fn unparsable_request_fails_with_0x80040400() {
        let err = EchoQuickBooks::new().process("<QBXML><oops").unwrap_err();
        assert!(
            matches!(&err, QbFailure::Hresult { hresult, .. } if hresult == "0x80040400"),
            "{err:?}"
        );
    }
}
