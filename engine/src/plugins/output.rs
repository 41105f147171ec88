//! Checks on what a plugin returns and what its manifest says. Plugin output is untrusted
//! input: a request reaches the queue only if it is one well-formed XML element of a declared
//! type, within size limits, with valid keys ("the sandbox promise"), that the message-set
//! builder accepts and that is valid qbXML. All of it is checked when the plugin maps a
//! record, before the request can be claimed into a message set with other jobs.

use qbridge_sdk::{Manifest, Request};
use quick_xml::events::Event;

use super::PluginError;

/// Checks a call's requests; the error names the plugin and what was wrong.
pub fn check_requests(manifest: &Manifest, requests: &[Request]) -> Result<(), PluginError> {
    let fail = |problem: String| PluginError::BadOutput {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        problem,
    };
    qbridge_sdk::mapper::check_requests(manifest, requests).map_err(fail)?;
    for r in requests {
        for (what, xml) in
            std::iter::once(("qbxml", &r.qbxml)).chain(r.probe.iter().map(|p| ("probe", p)))
        {
            one_element(xml)
                .and_then(|()| fits_a_message_set(xml))
                .map_err(|e| fail(format!("request {:?}: {what} {e}", r.key)))?;
        }
        for note in &r.notes {
            if note.len() > 1024 {
                return Err(fail(format!(
                    "request {:?}: a note is longer than 1024 bytes",
                    r.key
                )));
            }
        }
    }
    Ok(())
}

/// True when `xml` is exactly one well-formed element (whitespace around it allowed; no
/// declarations, DOCTYPEs or processing instructions — the engine writes the envelope).
fn one_element(xml: &str) -> Result<(), String> {
    // quick-xml skips a byte-order mark at the start of its input, but inside the message
    // set the engine writes around the request it is a character outside the element.
    if xml.starts_with('\u{feff}') {
        return Err("starts with a byte-order mark; return only the request element".into());
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Empty(_)) => {
                if depth == 0 {
                    roots += 1;
                }
            }
            Ok(Event::Text(t)) if depth == 0 => {
                if !t.into_inner().trim().is_empty() {
                    return Err("has text outside its element".into());
                }
            }
            // quick-xml reports `&amp;` and `<![CDATA[…]]>` as their own events, not as
            // text: outside the element they are text all the same.
            Ok(Event::GeneralRef(_) | Event::CData(_)) if depth == 0 => {
                return Err("has text outside its element".into());
            }
            Ok(Event::Decl(_) | Event::DocType(_) | Event::PI(_)) => {
                return Err("contains an XML declaration, DOCTYPE or processing instruction; return only the request element".into());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("is not well-formed XML: {e}")),
        }
    }
    match (roots, depth) {
        (1, 0) => Ok(()),
        (_, d) if d > 0 => Err("is not well-formed XML: an element is not closed".into()),
        (0, _) => Err("contains no element".into()),
        (n, _) => Err(format!(
            "contains {n} elements; return exactly one per request"
        )),
    }
}

/// Checks that the request can share a message set: wrapped by the same builder the QBWC
/// session uses and valid against the newest qbXML schema shipped. Checked at map time
/// because later it is too late: the builder refuses a whole set over one bad element, and
/// QuickBooks parses a message set as one document, so one schema-invalid request would fail
/// every job claimed with it, on every retry.
fn fits_a_message_set(xml: &str) -> Result<(), String> {
    use crate::qbxml::{OnError, Recovery, build_message_set};
    use qbridge_sdk::schema::{QbxmlVersion, validate};
    let set = build_message_set((16, 0), OnError::Continue, &Recovery::None, &[("1", xml)])
        .map_err(|e| format!("cannot be sent: {e}"))?;
    validate(QbxmlVersion::V16_0, &set).map_err(|e| {
        format!(
            "is not valid qbXML ({e}); QuickBooks would reject the whole message set it is sent in"
        )
    })
}

/// Checks a manifest at install time.
pub(crate) fn check_manifest(m: &Manifest) -> Result<(), PluginError> {
    let bad =
        |what: String| PluginError::Invalid(format!("the plugin's manifest is not valid: {what}"));
    let name_ok = !m.name.is_empty()
        && m.name.len() <= 64
        && m.name.starts_with(|c: char| c.is_ascii_lowercase())
        && m.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(bad(format!(
            "name {:?} must be 1–64 lowercase letters, digits and '-', starting with a letter",
            m.name
        )));
    }
    if parse_semver(&m.version).is_none() {
        return Err(bad(format!(
            "version {:?} is not a semantic version such as 1.2.0",
            m.version
        )));
    }
    if m.request_types.is_empty() {
        return Err(bad("it declares no request types".into()));
    }
    for t in &m.request_types {
        let ok = t.len() <= 64
            && t.starts_with(|c: char| c.is_ascii_uppercase())
            && t.chars().all(|c| c.is_ascii_alphanumeric())
            && !t.ends_with("Rq");
        if !ok {
            return Err(bad(format!(
                "request type {t:?} must be a qbXML request name without `Rq`, e.g. CustomerAdd"
            )));
        }
    }
    let bounded = |list: &[String], what: &str| {
        if list.len() > 64 || list.iter().any(|s| s.is_empty() || s.len() > 253) {
            Err(bad(format!(
                "{what} must hold at most 64 non-empty entries of at most 253 bytes"
            )))
        } else {
            Ok(())
        }
    };
    bounded(&m.request_types, "request_types")?;
    bounded(&m.allowed_hosts, "allowed_hosts")?;
    bounded(&m.secrets, "secrets")?;
    super::plugin_config::check_manifest(m).map_err(bad)?;
    if !matches!(m.min_qbxml_version.as_str(), "13.0" | "16.0")
        && m.min_qbxml_version
            .split_once('.')
            .is_none_or(|(a, b)| a.parse::<u32>().is_err() || b.parse::<u32>().is_err())
    {
        return Err(bad(format!(
            "min_qbxml_version {:?} is not a version such as 13.0",
            m.min_qbxml_version
        )));
    }
    Ok(())
}

/// `major.minor.patch` with an optional `-pre` suffix, comparable.
pub(crate) fn parse_semver(v: &str) -> Option<(u64, u64, u64, Option<&str>)> {
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, Some(p)),
        Some(_) => return None,
        None => (v, None),
    };
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??, pre);
    parts.next().is_none().then_some(version)
}

/// True when `v` is a development build for `install --dev`: its pre-release is `dev` or
/// starts with `dev.` (`0.1.0-dev`, `0.1.0-dev.3`). Only these may be replaced in place,
/// because a released version number must always name the same component.
pub(crate) fn is_dev_version(v: &str) -> bool {
    matches!(parse_semver(v), Some((_, _, _, Some(pre))) if pre == "dev" || pre.starts_with("dev."))
}

/// The dev version to suggest for `v`: `1.2.0` and `1.2.0-rc1` become `1.2.0-dev`.
pub(crate) fn dev_version_of(v: &str) -> String {
    match parse_semver(v) {
        Some((a, b, c, _)) => format!("{a}.{b}.{c}-dev"),
        None => "0.1.0-dev".to_string(),
    }
}

/// True when `a` is a newer version than `b` (a pre-release is older than its release).
pub(crate) fn is_newer(a: &str, b: &str) -> bool {
    match (parse_semver(a), parse_semver(b)) {
        (Some((a1, a2, a3, ap)), Some((b1, b2, b3, bp))) => match (a1, a2, a3).cmp(&(b1, b2, b3)) {
            std::cmp::Ordering::Equal => match (ap, bp) {
                (None, Some(_)) => true,
                (Some(x), Some(y)) => x > y,
                _ => false,
            },
            other => other.is_gt(),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_well_formed_element_is_accepted() {
        assert!(
            one_element(
                "<CustomerAddRq><CustomerAdd><Name>A &amp; B</Name></CustomerAdd></CustomerAddRq>"
            )
            .is_ok()
        );
        assert!(one_element("  <HostQueryRq/>\n").is_ok());
        assert!(one_element("<A><B></A>").is_err());
        assert!(one_element("<A/><B/>").unwrap_err().contains("2 elements"));
        assert!(one_element("<A>").is_err());
        assert!(one_element("x<A/>").is_err());
        assert!(one_element("<?xml version=\"1.0\"?><A/>").is_err());
        assert!(one_element("<!DOCTYPE a [<!ENTITY x \"y\">]><A/>").is_err());
    }

    /// Found by the `plugin_output` fuzz target: an entity reference after the element was
    /// accepted, so the queue would have sent `<A/>&amp;` as a request.
    #[test]
    fn references_and_cdata_outside_the_element_are_text_outside_it() {
        for xml in ["<A/>&amp;", "&#65;<A/>", "<A/><![CDATA[x]]>"] {
            let err = one_element(xml).unwrap_err();
            assert!(err.contains("text outside"), "{xml}: {err}");
        }
        assert!(one_element("<A>&amp;<![CDATA[x]]></A>").is_ok());
    }

    /// Found by the `plugin_output` fuzz target: quick-xml swallows a leading byte-order
    /// mark, so `\u{feff}<A/>` passed as one element.
    #[test]
    fn a_leading_byte_order_mark_is_refused() {
        let err = one_element("\u{feff}<InvoiceAdd/>").unwrap_err();
        assert!(err.contains("byte-order mark"), "{err}");
    }

    fn manifest() -> Manifest {
        let mut m = Manifest::new("t", "1.0.0", "Test");
        m.request_types = vec!["CustomerAdd".into()];
        m
    }

    fn request(xml: &str) -> Request {
        Request::new("customer:1", xml)
    }

    #[test]
    fn a_request_that_would_fail_its_message_set_is_refused_when_mapped() {
        let m = manifest();
        let good = "<CustomerAddRq><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>";
        check_requests(&m, &[request(good)]).unwrap();
        for (xml, why) in [
            // Out of schema order: QuickBooks rejects the whole set as unparseable.
            (
                "<CustomerAddRq><CustomerAdd><CompanyName>A</CompanyName><Name>Acme</Name></CustomerAdd></CustomerAddRq>",
                "not valid qbXML",
            ),
            // The builder inserts the requestID; one already there fails the whole set.
            (
                "<CustomerAddRq requestID=\"9\"><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>",
                "requestID",
            ),
            // Declared type, but not a request element the builder can send.
            ("<CustomerAdd><Name>Acme</Name></CustomerAdd>", "Rq"),
        ] {
            let err = check_requests(&m, &[request(xml)]).unwrap_err().to_string();
            assert!(err.contains(why), "{xml}: {err}");
        }
    }

    #[test]
    fn versions_compare_semantically() {
        assert!(is_newer("1.10.0", "1.9.0"));
        assert!(is_newer("2.0.0", "2.0.0-rc1"));
        assert!(!is_newer("1.0.0", "1.0.0"));
        assert!(parse_semver("1.0").is_none());
    }

    #[test]
    fn only_a_dev_pre_release_is_a_dev_version() {
        for v in ["0.1.0-dev", "2.3.4-dev.7"] {
            assert!(is_dev_version(v), "{v}");
        }
        for v in [
            "0.1.0",
            "0.1.0-rc1",
            "0.1.0-develop",
            "0.1.0-",
            "dev",
            "0.1-dev",
        ] {
            assert!(!is_dev_version(v), "{v}");
        }
        assert_eq!(dev_version_of("1.2.0"), "1.2.0-dev");
        assert_eq!(dev_version_of("1.2.0-rc1"), "1.2.0-dev");
    }
}
