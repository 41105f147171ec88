//! Simulators: a QuickBooks company file (`company`) and a Web Connector (`webconnector`).
//!
//! Nobody who writes a mapper or runs CI has Windows and QuickBooks at hand; these two let
//! the tests, `qbridge sim` and `qbridge demo` prove that work really reaches QuickBooks. The
//! [`QuickBooks`] trait is the seam between them: the simulated Web Connector drives any
//! implementation of it, exactly as the real QBWC drives the QuickBooks request processor.

pub mod company;

/// A failure of the QuickBooks side, as the Web Connector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QbFailure {
    /// The request processor failed with an HRESULT (e.g. `0x80040408` could not start
    /// QuickBooks, `0x80040400` unparsable qbXML). Opening failures go to `connectionError`,
    /// processing failures to `receiveResponseXML` with an empty response.
    Hresult {
        /// Hex string as QBWC sends it, e.g. `0x8004040A`.
        hresult: String,
        /// The request processor's message, verbatim.
        message: String,
    },
    /// QuickBooks applied the request but the reply never reached the server (network cut,
    /// QBWC crash). The Web Connector abandons the session without calling the server again.
    ResponseLost,
}

/// What the simulated Web Connector talks to: QuickBooks with a company file.
pub trait QuickBooks: Send {
    /// Opens the company file the server asked for (`""` = whatever is open). Failures here
    /// are reported through `connectionError`.
    fn open(&mut self, requested_path: &str) -> Result<(), QbFailure>;
    /// The company file path QBWC reports in `strCompanyFileName`.
    fn company_file(&self) -> String;
    /// Country code reported in `qbXMLCountry` (e.g. `US`).
    fn country(&self) -> String;
    /// Highest qbXML version the request processor supports, `(major, minor)`.
    fn qbxml_version(&self) -> (u32, u32);
    /// The HostQuery/CompanyQuery/PreferencesQuery response message set QBWC sends as
    /// `strHCPResponse` on the first `sendRequestXML` of a session.
    fn hcp_response(&mut self) -> String;
    /// Runs one qbXML request message set and returns the response message set.
    fn process(&mut self, request: &str) -> Result<String, QbFailure>;
    /// Ends the QuickBooks session (iterators die with it).
    fn close(&mut self);
}

pub mod cli;
pub mod webconnector;
