//! `strHCPResponse`: the HostQuery, CompanyQuery and PreferencesQuery answers the Web
//! Connector sends with the first `sendRequestXML` of a session, and the qbXML version
//! negotiated from them.
//!
//! Parsed leniently (QuickBooks adds elements over the years) but safely: quick-xml's pull
//! reader, no DOCTYPE, bounded depth. Only what the engine uses is kept.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::envelope::MAX_DEPTH;
use crate::store::connections::{HostInfo, capped};

/// The highest qbXML version qbridge speaks.
pub const MAX_QBXML: (u32, u32) = (16, 0);

/// Why the HCP response could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HcpError {
    /// Not well-formed, a DOCTYPE, or too deep.
    #[error("the HostQuery/CompanyQuery response from QuickBooks is not usable XML: {0}")]
    Malformed(String),
}

/// What the HCP response says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hcp {
    /// Product, versions, country, supported qbXML versions and our FileID stamp.
    pub host: HostInfo,
}

/// Reads `xml`; `owner_id` picks our FileID stamp out of the company's data extensions.
pub fn parse(xml: &str, owner_id: &str) -> Result<Hcp, HcpError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut host = HostInfo::default();
    let mut ext = (String::new(), String::new(), String::new());
    let bad = |e: String| HcpError::Malformed(e);
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::DocType(_) => return Err(bad("DOCTYPE is not accepted".into())),
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(bad(format!("nested deeper than {MAX_DEPTH}")));
                }
                let local = e.local_name();
                let name: &str = local.as_ref();
                path.push(name.to_string());
                text.clear();
                if name == "DataExtRet" {
                    ext = Default::default();
                }
            }
            // Values the engine keeps are short; a huge text node is not worth buffering.
            Event::Text(t) if text.len() < 4096 => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(ch)) = r.resolve_char_ref() {
                    text.push(ch);
                } else {
                    let name: &str = &r;
                    text.push_str(match name {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "apos" => "'",
                        "quot" => "\"",
                        _ => "",
                    });
                }
            }
            Event::End(_) => {
                // Every kept value is short; QuickBooks' own are far below these caps.
                let value = capped(text.trim(), 256).to_string();
                let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
                match (parent, path.last().map(String::as_str)) {
                    (Some("HostRet"), Some("ProductName")) => host.product_name = value,
                    (Some("HostRet"), Some("MajorVersion")) => {
                        host.major = value.parse().unwrap_or(0)
                    }
                    (Some("HostRet"), Some("MinorVersion")) => {
                        host.minor = value.parse().unwrap_or(0)
                    }
                    (Some("HostRet"), Some("Country")) => host.country = capped(&value, 16).into(),
                    (Some("HostRet"), Some("SupportedQBXMLVersion"))
                        if host.supported_versions.len() < 100 && value.len() <= 16 =>
                    {
                        host.supported_versions.push(value)
                    }
                    (Some("DataExtRet"), Some("OwnerID")) => ext.0 = value,
                    (Some("DataExtRet"), Some("DataExtName")) => ext.1 = value,
                    (Some("DataExtRet"), Some("DataExtValue")) => ext.2 = value,
                    (_, Some("DataExtRet")) if same_guid(&ext.0, owner_id) && ext.1 == "FileID" => {
                        host.file_id_stamp = Some(capped(&ext.2, 64).to_string());
                    }
                    _ => {}
                }
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    host.edition = edition(&host.product_name).to_string();
    Ok(Hcp { host })
}

/// GUIDs compare without case and braces (QuickBooks lower-cases them).
pub fn same_guid(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_matches(['{', '}']).to_ascii_lowercase();
    !a.trim().is_empty() && norm(a) == norm(b)
}

fn edition(product: &str) -> &'static str {
    const EDITIONS: &[&str] = &[
        "Enterprise",
        "Accountant",
        "Premier",
        "Pro",
        "Simple Start",
        "Point of Sale",
    ];
    EDITIONS
        .iter()
        .find(|e| product.contains(*e))
        .copied()
        .unwrap_or("")
}

/// The qbXML version to use: the highest that QuickBooks supports (when it listed any),
/// that is not above what the Web Connector reported, and not above [`MAX_QBXML`].
pub fn negotiate(supported: &[String], client: (u32, u32)) -> (u32, u32) {
    let ceiling = client.min(MAX_QBXML);
    let best = supported
        .iter()
        .filter_map(|v| parse_version(v))
        .filter(|v| *v <= ceiling)
        .max();
    // Nothing listed (or nothing under the ceiling): the ceiling itself, which the Web
    // Connector reported as what the request processor speaks.
    best.unwrap_or(ceiling)
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.').unwrap_or((v.trim(), "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HCP: &str = r#"<?xml version="1.0" ?> <QBXML> <QBXMLMsgsRs> <HostQueryRs requestID="0" statusCode="0"> <HostRet> <ProductName>QuickBooks Pro 2006</ProductName> <MajorVersion>16</MajorVersion> <MinorVersion>0</MinorVersion> <Country>US</Country> <SupportedQBXMLVersion>4.1</SupportedQBXMLVersion> <SupportedQBXMLVersion>5.0</SupportedQBXMLVersion> </HostRet> </HostQueryRs> <CompanyQueryRs requestID="1"> <CompanyRet> <CompanyName>Test</CompanyName> <DataExtRet> <OwnerID>{68b5925b-4347-4784-e58d-35a2d190962f}</OwnerID> <DataExtName>AppLock</DataExtName> <DataExtValue>LOCKED</DataExtValue> </DataExtRet> <DataExtRet> <OwnerID>{68b5925b-4347-4784-e58d-35a2d190962f}</OwnerID> <DataExtName>FileID</DataExtName> <DataExtValue>{ee032e95-47f7-2564-096f-2d4545fcb021}</DataExtValue> </DataExtRet> </CompanyRet> </CompanyQueryRs> </QBXMLMsgsRs> </QBXML>"#;

    #[test]
    fn host_and_our_file_id_stamp_are_read() {
        let h = parse(HCP, "{68B5925B-4347-4784-E58D-35A2D190962F}")
            .unwrap()
            .host;
        assert_eq!(h.product_name, "QuickBooks Pro 2006");
        assert_eq!(h.edition, "Pro");
        assert_eq!((h.major, h.minor), (16, 0));
        assert_eq!(h.country, "US");
        assert_eq!(h.supported_versions, vec!["4.1", "5.0"]);
        assert_eq!(
            h.file_id_stamp.as_deref(),
            Some("{ee032e95-47f7-2564-096f-2d4545fcb021}")
        );
        assert_eq!(
            parse(HCP, "{00000000-0000-0000-0000-000000000000}")
                .unwrap()
                .host
                .file_id_stamp,
            None
        );
    }

    #[test]
    fn negotiated_version_never_exceeds_client_or_16() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(negotiate(&v(&["4.1", "5.0"]), (5, 0)), (5, 0));
        assert_eq!(negotiate(&v(&["13.0", "16.0"]), (13, 0)), (13, 0));
        assert_eq!(negotiate(&v(&["16.0", "17.0"]), (17, 0)), (16, 0));
        assert_eq!(negotiate(&[], (7, 0)), (7, 0));
        assert_eq!(negotiate(&v(&["2.0", "3.0"]), (2, 1)), (2, 0));
    }

    #[test]
    fn doctype_is_refused() {
        assert!(parse("<!DOCTYPE x><x/>", "{a}").is_err());
    }
}
