//! A simulated QuickBooks company file that behaves like QuickBooks, not like a mock.
//!
//! [`Company`] implements [`crate::sim::QuickBooks`]: it checks each request message set
//! against the qbXML schema, runs it against in-memory lists and transactions with
//! QuickBooks' rules (shared name space → 3100, missing references → 3140, stale
//! EditSequence → 3200, the "Login as" user's role → 3260, field lengths → 3070, paying
//! more than is due → 3210), honours onError and qbXML error recovery
//! (`newMessageSetID`/`oldMessageSetID`), and fails on demand the way real installations do
//! ([`Faults`]). Transactions keep their lines, each with a TxnLineID, and can be modified
//! (`…ModRq`, with QuickBooks' line rules), voided (`TxnVoidRq`) and deleted (`TxnDelRq`).
//! It can be saved to and loaded from JSON so `qbridge sim` keeps a company file between
//! runs. Inspection methods let tests prove what was applied, and how often, and a
//! bookkeeper's edits in QuickBooks between sessions can be played
//! ([`Company::edit_list_as_bookkeeper`], [`Company::edit_txn_as_bookkeeper`]).
//!
//! Parts: `handlers.rs` dispatches requests and runs queries, `lists.rs` list adds and
//! mods, `txns.rs` transaction adds, mods, voids and deletes with the balances they move,
//! `lines.rs` transaction lines, `rets.rs` the `*Ret` elements, `inspect.rs` what tests see,
//! `model.rs` the records, `tree.rs` the request parser.
//!
//! Where QuickBooks' behaviour is not documented the simulator makes a documented choice:
//! - stopOnError / rollbackOnError: requests after the failing one get no response;
//!   rollbackOnError also undoes the set's earlier writes (their responses still say OK).
//! - `oldMessageSetID` answers only the recovery question; the set's requests are not run.
//!   A matching id returns the stored responses with `messageSetStatusCode="0"`, an unknown
//!   one an empty set with `messageSetStatusCode="1"` (nothing of it was applied).
//! - Add and Mod responses carry the lines; transaction queries return them only with
//!   `IncludeLineItems` `true`. Lines are kept for invoices, credit memos, sales receipts,
//!   estimates, sales orders, purchase orders, bills, vendor credits, checks and credit card
//!   charges and credits; journal entry lines are only totalled, and line groups
//!   (`…LineGroupAdd`/`…Mod`, `ItemGroupLine…`) are refused with 1000. Credit memos and
//!   vendor credits lower the balance by their total and keep it open (nothing applies
//!   them); sales receipts, estimates and orders move no balance.
//! - Mods are implemented for the types that keep lines. A Mod that lists a line twice gets
//!   3000. A bill cannot be modified below what its payments cover, nor voided or deleted
//!   while payments are applied to it: 3210 (void or delete the payments first). A voided or
//!   deleted bill payment no longer pays its bills.
//! - A void sets every amount (lines, total, open amount) to zero, takes the transaction's
//!   effect off the balances and prefixes the memo with `VOID:`. Voiding a voided
//!   transaction answers OK and changes nothing (no new EditSequence, no write-log entry).
//!   A Mod that gives a voided transaction a non-zero total un-voids it.
//! - TxnIDs and TxnLineIDs come from one sequence, so no line id equals a transaction id
//!   (TxnNumbers, taken from it too, skip the numbers lines used).
//! - A bookkeeper's edit is a Mod by another user: new EditSequence and TimeModified, the
//!   same refusals, but no write-log entry (the log records integrated applications).
//! - A Continue for an unknown or expired iteratorID gets 3120 (object not found).
//! - Query by ListID/FullName/TxnID/RefNumber that misses gets 500 (Warn); a filter that
//!   matches nothing gets 1 (no match).

mod handlers;
mod inspect;
mod lines;
mod lists;
mod model;
mod rets;
#[cfg(test)]
mod tests;
mod tree;
mod txns;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::handlers::{Reply, Table};
pub use self::inspect::{LineView, ListView, TxnView};
pub use self::model::{ListKind, TxnKind};
use self::rets::Shape;
use crate::qbxml::text::escape;
use crate::qbxml::{OnError, PermissionArea, permission_area};
use crate::sim::{QbFailure, QuickBooks};

/// Largest request message set accepted; QuickBooks' own limit is not documented, and the
/// queue sends far smaller sets.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Longest requestID QuickBooks accepts (status 1060 beyond).
const MAX_REQUEST_ID: usize = 50;

/// How much of an area a role grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Access {
    /// Nothing.
    None,
    /// Read only: queries work, writes get 3260.
    View,
    /// Read and write.
    Full,
}

/// A QuickBooks role: the access it grants per area (areas not listed: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Role name, e.g. `Accounts Receivable`.
    pub name: String,
    /// Access per area.
    pub areas: BTreeMap<PermissionArea, Access>,
}

impl Role {
    /// A role granting `areas`.
    pub fn new(name: &str, areas: &[(PermissionArea, Access)]) -> Role {
        Role {
            name: name.into(),
            areas: areas.iter().copied().collect(),
        }
    }

    /// QuickBooks' Admin: every area, full access.
    pub fn admin() -> Role {
        let all: Vec<_> = PermissionArea::ALL
            .iter()
            .map(|a| (*a, Access::Full))
            .collect();
        Role::new("Admin", &all)
    }

    /// What the role grants in `area`.
    pub fn access(&self, area: PermissionArea) -> Access {
        self.areas.get(&area).copied().unwrap_or(Access::None)
    }
}

/// A QuickBooks user of the company file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

/// Failures to produce on demand (settable in code or from the `faults` object of the JSON
/// file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The "Login as" user is signed in elsewhere: `open` fails with 0x80040408.
    pub user_already_logged_in: bool,
    /// Another company file is open in QuickBooks: `open` fails with 0x8004040A.
    pub other_company_open: bool,
    /// "Allow this application to login automatically" is off: `open` fails with 0x8004041D.
    pub auto_login_denied: bool,
    /// Apply the n-th (1-based) message set that writes, then lose its response.
    pub lose_response_after_apply: Option<u32>,
    /// Probability (0–1) that a write gets 3175 "could not be locked".
    pub lock_error_probability: f64,
    /// Seed of the random generator behind `lock_error_probability`.
    pub seed: u64,
    /// Delay before each message set is processed, in milliseconds.
    pub latency_ms: u64,
}

/// One applied write, for tests that prove nothing was applied twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteLogEntry {
    /// The message set's newMessageSetID, if it had one.
    pub message_set_id: Option<String>,
    /// What was written: the object for an Add (`Invoice`), `…Mod` for a modification,
    /// `TxnVoid` or `TxnDel`.
    pub request: String,
    /// ListID or TxnID.
    pub id: String,
    /// FullName (lists) or RefNumber (transactions).
    pub name: String,
}

/// Why a company file could not be loaded, saved or changed.
#[derive(Debug, thiserror::Error)]
pub enum CompanyError {
    /// Reading or writing the JSON file failed.
    #[error("cannot access simulated company file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The JSON is not a simulated company file.
    #[error(
        "{path} is not a simulated company file ({source}); fix it or delete it to start a new one"
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde found.
        source: serde_json::Error,
    },
    /// `set_login_as` named a user the company file does not have.
    #[error("the company file has no user {0:?}; add it with add_user first")]
    UnknownUser(String),
    /// A bookkeeper's edit named a record the company file does not have.
    #[error("the company file has no {kind} {name:?}")]
    NoSuchRecord {
        /// The list or transaction type, e.g. `Customer`.
        kind: &'static str,
        /// The FullName or RefNumber given.
        name: String,
    },
    /// A bookkeeper's edit named a field the simulator does not edit on that type.
    #[error("a bookkeeper's edit of a {kind} cannot change {field:?}; editable: {editable}")]
    UnknownField {
        /// The list or transaction type.
        kind: &'static str,
        /// The field given.
        field: String,
        /// The fields that can be edited, comma-separated.
        editable: String,
    },
    /// QuickBooks would refuse the edit (e.g. 3100 for a name in use, 3070 for a value too
    /// long).
    #[error("QuickBooks refuses the edit with status {code}: {message}")]
    Refused {
        /// The statusCode QuickBooks would give.
        code: i32,
        /// Its statusMessage.
        message: String,
    },
}

/// Everything a write can change (so rollbackOnError can restore it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    clock: i64,
    next_list: u32,
    next_txn: u32,
    lists: Vec<model::ListRecord>,
    txns: Vec<model::TxnRecord>,
    write_log: Vec<WriteLogEntry>,
}

/// The last message set with a newMessageSetID, kept for error recovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSet {
    id: String,
    responses: String,
}

/// An open iterator: what is left to return.
#[derive(Debug)]
pub(crate) struct IteratorState {
    table: Table,
    remaining: Vec<String>,
    shape: Shape,
}

/// State that lives only while QuickBooks has the file open.
#[derive(Debug, Default)]
struct Session {
    open: bool,
    iterators: HashMap<String, IteratorState>,
    iterator_seq: u64,
    rng: u64,
}

/// The simulated company file. See the module documentation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Company {
    file: String,
    country: String,
    version: (u32, u32),
    product: String,
    data: Data,
    users: Vec<User>,
    login_as: String,
    application: String,
    /// Per application: its last message set with a newMessageSetID.
    recovery: BTreeMap<String, StoredSet>,
    faults: Faults,
    write_sets_applied: u32,
    #[serde(skip)]
    session: Session,
    #[serde(skip)]
    current_set_id: Option<String>,
}

/// The accounts a new company file starts with.
const STARTING_ACCOUNTS: [(&str, &str); 6] = [
    ("Accounts Receivable", "AccountsReceivable"),
    ("Accounts Payable", "AccountsPayable"),
    ("Checking", "Bank"),
    ("Credit Card", "CreditCard"),
    ("Services", "Income"),
    ("Office Supplies", "Expense"),
];

impl Company {
    /// A new US company file at `file` (the path QBWC reports), with a starting chart of
    /// accounts and one user, Admin, who is also the "Login as" user.
    pub fn new(file: &str) -> Company {
        let mut c = Company {
            file: file.into(),
            country: "US".into(),
            version: (16, 0),
            product: "QuickBooks Enterprise Solutions 24.0 (simulated)".into(),
            data: Data {
                clock: 1_700_000_000,
                ..Data::default()
            },
            users: vec![User {
                name: "Admin".into(),
                role: Role::admin(),
            }],
            login_as: "Admin".into(),
            application: "qbridge".into(),
            recovery: BTreeMap::new(),
            faults: Faults::default(),
            write_sets_applied: 0,
            session: Session::default(),
            current_set_id: None,
        };
        for (name, kind) in STARTING_ACCOUNTS {
            let xml = format!(
                "<AccountAddRq><AccountAdd><Name>{name}</Name><AccountType>{kind}</AccountType></AccountAdd></AccountAddRq>"
            );
            // Fixed, distinct, valid names: neither the parse nor the add can fail.
            if let Some(rq) = tree::parse(&xml) {
                let _ = c.handle(&rq);
            }
        }
        c.data.write_log.clear();
        c
    }

    /// Loads a company file saved with [`Company::save`].
    pub fn load(path: &Path) -> Result<Company, CompanyError> {
        let text = std::fs::read_to_string(path).map_err(|source| CompanyError::Io {
            path: path.into(),
            source,
        })?;
        let mut c: Company = serde_json::from_str(&text).map_err(|source| CompanyError::Json {
            path: path.into(),
            source,
        })?;
        c.session.rng = c.faults.seed;
        Ok(c)
    }

    /// Saves the company file as JSON (written to a temporary file, then renamed, so a
    /// crash never leaves half a file).
    pub fn save(&self, path: &Path) -> Result<(), CompanyError> {
        let io = |source| CompanyError::Io {
            path: path.into(),
            source,
        };
        let json = serde_json::to_string_pretty(self).map_err(|source| CompanyError::Json {
            path: path.into(),
            source,
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Replaces the fault configuration (and reseeds the random generator).
    pub fn set_faults(&mut self, faults: Faults) {
        self.session.rng = faults.seed;
        self.faults = faults;
    }

    /// The current fault configuration.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Sets the qbXML version the request processor reports (default 16.0).
    pub fn set_qbxml_version(&mut self, version: (u32, u32)) {
        self.version = version;
    }

    /// Adds (or replaces) a QuickBooks user.
    pub fn add_user(&mut self, name: &str, role: Role) {
        self.users.retain(|u| u.name != name);
        self.users.push(User {
            name: name.into(),
            role,
        });
    }

    /// Chooses the "Login as" user the application runs as.
    pub fn set_login_as(&mut self, name: &str) -> Result<(), CompanyError> {
        if !self.users.iter().any(|u| u.name == name) {
            return Err(CompanyError::UnknownUser(name.into()));
        }
        self.login_as = name.into();
        Ok(())
    }

    /// Chooses the integrated application whose error-recovery state requests use
    /// (QuickBooks keeps one per application; default `qbridge`).
    pub fn set_application(&mut self, name: &str) {
        self.application = name.into();
    }

    fn role(&self) -> Option<&Role> {
        self.users
            .iter()
            .find(|u| u.name == self.login_as)
            .map(|u| &u.role)
    }

    /// A deterministic draw in [0, 1) (splitmix64).
    fn draw(&mut self) -> f64 {
        self.session.rng = self.session.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.session.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Runs one request with the checks QuickBooks makes before the request itself.
    fn run_request(&mut self, rq: &tree::Node) -> (Reply, bool) {
        let op = rq.name.strip_suffix("Rq").unwrap_or(&rq.name);
        let write = ["Add", "Mod", "Del", "Void"]
            .iter()
            .any(|s| op.ends_with(s));
        if let Some(id) = rq.attr("requestID")
            && id.chars().count() > MAX_REQUEST_ID
        {
            let msg =
                format!("The requestID \"{id}\" is invalid (possibly too long, max 50 chars).");
            return (Reply::error(1060, msg), false);
        }
        if let Some(area) = permission_area(&rq.name) {
            let needed = if write { Access::Full } else { Access::View };
            let granted = self.role().map_or(Access::None, |r| r.access(area));
            if granted < needed {
                return (
                    Reply::error(
                        3260,
                        "Insufficient permission level to perform this action.",
                    ),
                    false,
                );
            }
        }
        if write
            && self.faults.lock_error_probability > 0.0
            && self.draw() < self.faults.lock_error_probability
        {
            return (
                Reply::error(
                    3175,
                    "The transaction could not be locked. It is in use by another user.",
                ),
                false,
            );
        }
        let reply = self.handle(rq).unwrap_or_else(|e| e);
        let applied = write && reply.code == 0;
        (reply, applied)
    }

    fn run_message_set(&mut self, request: &str) -> Result<String, QbFailure> {
        // QuickBooks reads Latin-1 text only; anything else fails the parse (research §3).
        if request.len() > MAX_REQUEST_BYTES || request.chars().any(|c| u32::from(c) > 0xFF) {
            return Err(parse_error());
        }
        if crate::qbxml::cli::declared_number(request).is_some_and(|v| v > self.version) {
            return Err(hresult(
                "0x80040423",
                "The version of QBXML that was requested is not supported or is unknown.",
            ));
        }
        let version = crate::qbxml::cli::declared_version(request);
        if let Err(invalid) = qbridge_sdk::schema::validate(version, request) {
            // QuickBooks answers an over-long string with status 3070 on that request, not
            // with a parse failure of the whole set; the length checks below do that.
            let only_lengths = invalid
                .errors
                .iter()
                .all(|e| e.message.contains("facet 'maxLength'"));
            if !only_lengths {
                return Err(parse_error());
            }
        }
        let root = tree::parse(request).ok_or_else(parse_error)?;
        let msgs = root.child("QBXMLMsgsRq").ok_or_else(parse_error)?;
        let on_error = msgs
            .attr("onError")
            .and_then(OnError::parse)
            .ok_or_else(parse_error)?;
        if let Some(old) = msgs.attr("oldMessageSetID") {
            return Ok(self.recover(old));
        }
        let new_id = msgs.attr("newMessageSetID").map(str::to_string);
        self.current_set_id = new_id.clone();
        let snapshot = (on_error == OnError::Rollback).then(|| self.data.clone());
        let mut body = String::new();
        let mut applied = false;
        let mut failed = false;
        for rq in &msgs.children {
            let (reply, wrote) = self.run_request(rq);
            applied |= wrote;
            body.push_str(&rs_element(rq, &reply));
            if reply.severity == "Error" {
                failed = true;
                if on_error != OnError::Continue {
                    break;
                }
            }
        }
        self.current_set_id = None;
        if failed && let Some(before) = snapshot {
            self.data = before;
            applied = false;
        }
        let attrs = new_id
            .as_ref()
            .map(|id| format!(r#" newMessageSetID="{}""#, escape(id)))
            .unwrap_or_default();
        let response = wrap(&attrs, &body);
        if let Some(id) = new_id {
            self.recovery.insert(
                self.application.clone(),
                StoredSet {
                    id,
                    responses: body,
                },
            );
        }
        if applied {
            self.write_sets_applied += 1;
            if self.faults.lose_response_after_apply == Some(self.write_sets_applied) {
                return Err(QbFailure::ResponseLost);
            }
        }
        Ok(response)
    }

    /// Answers an `oldMessageSetID`: the stored responses if it names this application's
    /// last message set, otherwise "no such set" (so nothing of it was applied).
    fn recover(&self, old: &str) -> String {
        match self.recovery.get(&self.application) {
            Some(s) if s.id == old => wrap(
                &format!(
                    r#" newMessageSetID="{}" messageSetStatusCode="0""#,
                    escape(old)
                ),
                &s.responses,
            ),
            _ => wrap(r#" messageSetStatusCode="1""#, ""),
        }
    }
}

fn parse_error() -> QbFailure {
    QbFailure::Hresult {
        hresult: "0x80040400".into(),
        message: "QuickBooks found an error when parsing the provided XML text stream.".into(),
    }
}

fn hresult(code: &str, message: &str) -> QbFailure {
    QbFailure::Hresult {
        hresult: code.into(),
        message: message.into(),
    }
}

fn wrap(attrs: &str, body: &str) -> String {
    format!(r#"<?xml version="1.0" ?><QBXML><QBXMLMsgsRs{attrs}>{body}</QBXMLMsgsRs></QBXML>"#)
}

fn rs_element(rq: &tree::Node, reply: &Reply) -> String {
    let base = rq.name.strip_suffix("Rq").unwrap_or(&rq.name);
    let mut attrs = String::new();
    if let Some(id) = rq.attr("requestID") {
        attrs.push_str(&format!(r#" requestID="{}""#, escape(id)));
    }
    attrs.push_str(&format!(
        r#" statusCode="{}" statusSeverity="{}" statusMessage="{}""#,
        reply.code,
        reply.severity,
        escape(&reply.message)
    ));
    if let Some((id, left)) = &reply.iterator {
        attrs.push_str(&format!(
            r#" iteratorRemainingCount="{left}" iteratorID="{}""#,
            escape(id)
        ));
    }
    if reply.body.is_empty() {
        format!("<{base}Rs{attrs}/>")
    } else {
        format!("<{base}Rs{attrs}>{}</{base}Rs>", reply.body)
    }
}

/// The request QBWC sends on the first `sendRequestXML` of a session.
const HCP_REQUEST: &str = r#"<?xml version="1.0" ?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError"><HostQueryRq requestID="0"/><CompanyQueryRq requestID="1"/><PreferencesQueryRq requestID="2"/></QBXMLMsgsRq></QBXML>"#;

impl QuickBooks for Company {
    fn open(&mut self, requested_path: &str) -> Result<(), QbFailure> {
        if self.faults.user_already_logged_in {
            return Err(hresult("0x80040408", "Could not start QuickBooks."));
        }
        let other_file =
            !requested_path.is_empty() && !requested_path.eq_ignore_ascii_case(&self.file);
        if self.faults.other_company_open || other_file {
            return Err(hresult(
                "0x8004040A",
                "The company data file is already open and it is different from the one requested.",
            ));
        }
        if self.faults.auto_login_denied {
            return Err(hresult(
                "0x8004041D",
                "This application is not allowed to log into this QuickBooks company data file automatically. The QuickBooks administrator can grant permission for an automatic login through the Integrated Application preferences.",
            ));
        }
        self.session.open = true;
        Ok(())
    }

    fn company_file(&self) -> String {
        self.file.clone()
    }

    fn country(&self) -> String {
        self.country.clone()
    }

    fn qbxml_version(&self) -> (u32, u32) {
        self.version
    }

    fn hcp_response(&mut self) -> String {
        self.run_message_set(HCP_REQUEST).unwrap_or_default()
    }

    fn process(&mut self, request: &str) -> Result<String, QbFailure> {
        let latency = Duration::from_millis(self.faults.latency_ms);
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        if !self.session.open {
            return Err(hresult("0x80040401", "Could not access QuickBooks."));
        }
        self.run_message_set(request)
    }

    fn close(&mut self) {
        self.session.open = false;
        self.session.iterators.clear();
    }
}
