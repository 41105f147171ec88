//! qbXML: build request message sets and parse response message sets.
//!
//! This layer knows qbXML and nothing else: no HTTP, no SOAP, no SQL. The queue hands it
//! `(requestID, <XxxRq>…</XxxRq>)` pairs produced by plugins and gets back a
//! [`ResponseSet`] whose [`Outcome`]s say what to do next (done, retry, or give up with
//! advice a person can act on). Schema validation itself lives in `qbridge_sdk::schema`;
//! [`cli`] exposes it as `qbridge validate`.

mod build;
pub mod cli;
pub mod names;
mod parse;
mod status;
pub(crate) mod text;

pub use build::{
    Iteration, MAX_MESSAGE_SET_ID_LEN, MAX_REQUEST_ID_LEN, OnError, Recovery, build_message_set,
    continue_iteration, envelope_version, iterator_query, restart_iteration, schema_for,
};
pub use parse::{
    MAX_DEPTH, MAX_RESPONSES, MessageSetStatus, RET_XML_CAP, Response, ResponseSet, parse_response,
    write_large_customer_query_response,
};
pub use status::{Outcome, PermissionArea, classify, permission_area};

/// Why a message set could not be built or a response could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QbxmlError {
    /// A requestID longer than QuickBooks accepts (it answers status 1060).
    #[error(
        "requestID {id:?} is {len} characters long; QuickBooks accepts at most {MAX_REQUEST_ID_LEN} (status 1060): use a shorter id"
    )]
    RequestIdTooLong {
        /// The offending id.
        id: String,
        /// Its length in characters.
        len: usize,
    },
    /// A newMessageSetID/oldMessageSetID longer than QuickBooks accepts.
    #[error(
        "message set id {id:?} is {len} characters long; QuickBooks accepts at most {MAX_MESSAGE_SET_ID_LEN}: use a shorter id"
    )]
    MessageSetIdTooLong {
        /// The offending id.
        id: String,
        /// Its length in characters.
        len: usize,
    },
    /// The request text is not one `<XxxRq …>` element ready for a requestID.
    #[error("request {index} is not a single <…Rq> element without a requestID: {reason}")]
    BadRequestElement {
        /// 0-based position in the message set.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The response is not well-formed XML.
    #[error("the qbXML response is not well-formed XML near byte {position}: {message}")]
    Malformed {
        /// Byte offset where the reader gave up.
        position: u64,
        /// The XML reader's explanation.
        message: String,
    },
    /// The response declares a DOCTYPE, which qbXML never does (and which could expand
    /// entities without bound).
    #[error(
        "the qbXML response contains a DOCTYPE declaration; QuickBooks never sends one, so it was refused"
    )]
    Doctype,
    /// Elements nested deeper than [`MAX_DEPTH`].
    #[error(
        "the qbXML response nests elements deeper than {MAX_DEPTH} levels; refusing it as malformed"
    )]
    TooDeep,
    /// More than [`MAX_RESPONSES`] responses in one message set.
    #[error("the qbXML response holds more than {MAX_RESPONSES} responses; refusing it")]
    TooManyResponses,
    /// No `QBXMLMsgsRs` element: not a qbXML response at all.
    #[error(
        "the document has no <QBXMLMsgsRs> element, so it is not a qbXML response (an empty or SOAP-wrapped body?)"
    )]
    NotAResponse,
    /// A `*Rs` element without the required `statusCode` attribute.
    #[error("the {kind} response has no valid statusCode attribute; the response is not usable")]
    MissingStatus {
        /// The `*Rs` element name.
        kind: String,
    },
    /// Reading the input failed.
    #[error("reading the qbXML response failed: {0}")]
    Io(#[from] std::io::Error),
}
