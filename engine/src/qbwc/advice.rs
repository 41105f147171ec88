//! HRESULTs from the QuickBooks request processor, turned into advice an admin can act on.
//!
//! The Web Connector reports them in `connectionError` (QuickBooks could not be opened) and
//! in `receiveResponseXML` (a request could not be processed). The raw code means nothing to
//! the person who has to fix it, so each known one maps to what usually causes it and what
//! to change in QuickBooks; the original message is kept at the end for support.

/// Known HRESULTs: (codes, what happened, what to do).
const TABLE: &[(&[u32], &str, &str)] = &[
    (
        &[0x8004_0408],
        "The Web Connector could not start QuickBooks.",
        "This usually means the QuickBooks user the Web Connector logs in as is already signed in elsewhere, or an administrator has the file open in single-user mode. Create a dedicated QuickBooks user for qbridge and choose it under Edit > Preferences > Integrated Applications > Properties > \"Login as\".",
    ),
    (
        &[0x8004_041D, 0x8004_0420],
        "QuickBooks does not allow this application to log in automatically.",
        "As the QuickBooks Admin, open Edit > Preferences > Integrated Applications > Company Preferences, select this application, click Properties and tick \"Allow this application to login automatically\", then choose the \"Login as\" user.",
    ),
    (
        &[0x8004_040A],
        "A different company file is open in QuickBooks.",
        "The Web Connector cannot switch files while someone has another one open. Close the company file and leave QuickBooks at \"No Company Open\" so the Web Connector can open the right one.",
    ),
    (
        &[0x8004_0418, 0x8004_041A],
        "This application has not been authorised for this company file.",
        "The first connection must be approved by the QuickBooks Admin: log in as Admin in single-user mode, run the Web Connector update once and answer \"Yes, always; allow access even if QuickBooks is not running\".",
    ),
    (
        &[0x8004_0400],
        "QuickBooks could not parse the qbXML request it was sent.",
        "The request was malformed for this QuickBooks version. The job is kept; report this with the request id to whoever maintains the mapping plugin.",
    ),
];

/// The plain-language text for `hresult` (e.g. `0x80040408`) and QuickBooks' `message`.
pub fn advice(hresult: &str, message: &str) -> String {
    let message: String = message.trim().chars().take(500).collect();
    let code = parse_hresult(hresult);
    let known = code.and_then(|c| TABLE.iter().find(|(codes, _, _)| codes.contains(&c)));
    let shown = match code {
        Some(c) => format!("0x{c:08X}"),
        None => hresult.trim().chars().take(20).collect(),
    };
    match known {
        Some((_, what, fix)) => format!("{what} {fix} (QuickBooks said: {shown} {message})"),
        None => format!(
            "QuickBooks reported an error: {shown} {message}. Check that QuickBooks is installed, the company file is reachable from this Windows user, and no dialog is open in QuickBooks; the Web Connector log (QWCLog.txt) has details."
        ),
    }
}

fn parse_hresult(s: &str) -> Option<u32> {
    let s = s.trim();
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn could_not_start_advises_a_dedicated_user() {
        let a = advice("0x80040408", "Could not start QuickBooks.");
        assert!(a.contains("dedicated QuickBooks user"), "{a}");
        assert!(a.contains("Could not start QuickBooks."), "{a}");
    }

    #[test]
    fn other_file_open_advises_no_company_open() {
        assert!(advice("0x8004040a", "").contains("No Company Open"));
        assert!(advice("0x8004041D", "").contains("login automatically"));
        assert!(advice("0x80040420", "").contains("Login as"));
        assert!(advice("0x80040418", "").contains("single-user mode"));
        assert!(advice("0x8004041A", "").contains("Admin"));
        assert!(advice("0x80040400", "parse").contains("qbXML"));
    }

    #[test]
    fn unknown_codes_get_generic_advice_with_the_code() {
        let a = advice("0x80040999", "odd");
        assert!(a.contains("0x80040999") && a.contains("QWCLog.txt"), "{a}");
    }
}
