//! The seam between the QBWC session and the pipeline that decides what QuickBooks is asked.
//!
//! The session owns the protocol (tickets, leases, order of calls, version negotiation); a
//! [`WorkProvider`] owns the work: whether a connection has any, the next qbXML message set,
//! and what to do with each response. Methods are synchronous (the pipeline uses SQLite and
//! WASM); the session calls them on the blocking thread pool.

/// What the pipeline knows about the session it is serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    /// Session row id (stable for the session's life).
    pub session_id: i64,
    /// Connection (company file) the session holds.
    pub connection_id: i64,
    /// That connection's name.
    pub connection: String,
    /// The Web Connector user who logged in.
    pub username: String,
    /// Company file the Web Connector reported (`strCompanyFileName`).
    pub company_file: String,
    /// Country the Web Connector reported (`US`, `CA`, `UK`, …).
    pub country: String,
    /// Negotiated qbXML version: never above what QuickBooks reported, nor above 16.0.
    pub qbxml_version: (u32, u32),
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// `closeConnection`.
    Closed,
    /// No call within the idle lease, or past the absolute lifetime.
    Expired,
    /// The Web Connector could not open QuickBooks and gave up.
    ConnectionError,
    /// Left behind by an earlier engine process.
    Abandoned,
    /// Its user was disabled or had its password rotated.
    Revoked,
}

/// A pipeline failure; its text is what `getLastError` shows the Web Connector user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WorkError(pub String);

/// The pipeline as the QBWC session sees it.
pub trait WorkProvider: Send + Sync + 'static {
    /// Whether the connection has anything to do; `false` makes `authenticate` answer `none`
    /// so QuickBooks is not opened for nothing.
    fn has_work(&self, connection_id: i64) -> Result<bool, WorkError>;
    /// The next full qbXML message set, or `None` when nothing more is to be sent.
    fn next_request(&self, ctx: &SessionContext) -> Result<Option<String>, WorkError>;
    /// Handles QuickBooks' response to the last request; returns percent done (0..=100).
    fn receive_response(&self, ctx: &SessionContext, response_xml: &str) -> Result<u8, WorkError>;
    /// The request processor failed on the last request with this HRESULT and message.
    fn receive_error(
        &self,
        ctx: &SessionContext,
        hresult: &str,
        message: &str,
    ) -> Result<(), WorkError>;
    /// The session is over.
    fn session_ended(&self, ctx: &SessionContext, how: SessionEnd);
}

/// The provider `serve` uses until the pipeline is wired in: never any work.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWork;

impl WorkProvider for NoWork {
    fn has_work(&self, _connection_id: i64) -> Result<bool, WorkError> {
        Ok(false)
    }

    fn next_request(&self, _ctx: &SessionContext) -> Result<Option<String>, WorkError> {
        Ok(None)
    }

    fn receive_response(
        &self,
        _ctx: &SessionContext,
        _response_xml: &str,
    ) -> Result<u8, WorkError> {
        Ok(100)
    }

    fn receive_error(
        &self,
        _ctx: &SessionContext,
        _hresult: &str,
        _message: &str,
    ) -> Result<(), WorkError> {
        Ok(())
    }

    fn session_ended(&self, _ctx: &SessionContext, _how: SessionEnd) {}
}
