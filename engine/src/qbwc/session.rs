//! The QBWC protocol state machine: what each method means for a session.
//!
//! A session starts at `authenticate` (which leases the connection's company file to one
//! Web Connector at a time), negotiates the qbXML version on its first `sendRequestXML`,
//! then alternates `sendRequestXML`/`receiveResponseXML` until the pipeline has nothing
//! left, and ends at `closeConnection`, after too many `connectionError`s, or when its lease
//! runs out. All of it is in the store, so a restart or a second engine thread sees the same
//! state, and a ticket the store does not know simply takes each method's error path.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::auth::{self, Verdict};
use super::envelope::{MAX_CREDENTIAL, MAX_TICKET, Method, Reply, SoapRequest};
use super::work::{SessionContext, SessionEnd, WorkError};
use super::{Service, advice, hcp, qwc};
use crate::store::audit::now_ms;
use crate::store::connections::{
    Claim, EndReason, LeaseRules, Negotiated, SessionLookup, SessionState,
};
use crate::store::{Store, StoreError};

/// Text `getLastError` gives for a ticket the store does not know.
const UNKNOWN_TICKET: &str = "This Web Connector session is no longer valid (it was closed, timed out, its user was disabled or given a new password, or the qbridge server restarted). The Web Connector starts a new one at its next scheduled run.";

/// A request the protocol's own error paths cannot answer: the server cannot serve it now
/// (a soap:Server fault). Wrong requests are refused earlier, by the envelope parser.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{0}")]
    Server(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "QBWC request failed in the store");
        Failure::Server(format!(
            "qbridge could not read or write its database ({e}). The Web Connector will retry at its next run; if this persists run `qbridge doctor` on the server."
        ))
    }
}

/// Answers one parsed request.
pub(crate) async fn handle(
    svc: &Arc<Service>,
    req: SoapRequest,
    ip: IpAddr,
) -> Result<Reply, Failure> {
    match req.method {
        Method::ServerVersion | Method::GetServerVersion => Ok(Reply::Text(format!(
            "qbridge {}",
            env!("CARGO_PKG_VERSION")
        ))),
        Method::ClientVersion => Ok(Reply::Text(client_version(
            req.param("strVersion"),
            &svc.config.qbwc_min_client_version,
        ))),
        Method::Authenticate => authenticate(svc, &req, ip).await,
        Method::SendRequestXml => send_request(svc, &req).await,
        Method::ReceiveResponseXml => receive_response(svc, &req).await,
        Method::ConnectionError => connection_error(svc, &req).await,
        Method::GetLastError => match live(svc, req.param("ticket")).await? {
            Some(s) => Ok(Reply::Text(s.last_error)),
            None => Ok(Reply::Text(UNKNOWN_TICKET.into())),
        },
        Method::CloseConnection => close(svc, req.param("ticket")).await,
        Method::GetInteractiveUrl => Ok(Reply::Text(String::new())),
        Method::InteractiveDone => Ok(Reply::Text("Done".into())),
        Method::InteractiveRejected => Ok(Reply::Text(
            "qbridge does not use interactive mode; nothing to do.".into(),
        )),
    }
}

/// `""` to carry on, `O:<min>` when the Web Connector is older than the configured minimum,
/// `W:` when its version cannot be read.
pub(crate) fn client_version(reported: &str, minimum: &str) -> String {
    match (version_parts(reported), version_parts(minimum)) {
        (Some(have), Some(need)) if have < need => format!("O:{minimum}"),
        (Some(_), _) => String::new(),
        (None, _) => format!(
            "W:qbridge could not read this Web Connector's version ({:?}); it needs {minimum} or newer. Continue only if you are sure it is up to date.",
            reported.chars().take(40).collect::<String>()
        ),
    }
}

fn version_parts(v: &str) -> Option<[u32; 4]> {
    let mut out = [0u32; 4];
    let parts: Vec<&str> = v.trim().split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    for (slot, p) in out.iter_mut().zip(parts) {
        *slot = p.parse().ok()?;
    }
    Some(out)
}

/// A fresh ticket (32 CSPRNG bytes, hex) and the SHA-256 the store keeps instead of it.
fn new_ticket() -> Result<(String, String), Failure> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::Server(format!("the system random source failed: {e}")))?;
    let ticket: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = ticket_hash(&ticket);
    Ok((ticket, hash))
}

pub(crate) fn ticket_hash(ticket: &str) -> String {
    Sha256::digest(ticket.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn rules(svc: &Service) -> LeaseRules {
    LeaseRules {
        idle_ms: svc.config.qbwc_session_idle.as_millis() as i64,
        absolute_ms: svc.config.qbwc_session_max.as_millis() as i64,
    }
}

/// Runs a store call on the blocking pool.
async fn db<T: Send + 'static>(
    svc: &Arc<Service>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Failure> {
    let store = svc.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(Failure::Server(format!("internal error: {e}"))),
    }
}

/// Runs a pipeline call on the blocking pool; a panic becomes a [`WorkError`].
async fn work<T: Send + 'static>(
    svc: &Arc<Service>,
    f: impl FnOnce(&dyn super::WorkProvider) -> Result<T, WorkError> + Send + 'static,
) -> Result<T, WorkError> {
    let provider = svc.work.clone();
    tokio::task::spawn_blocking(move || f(provider.as_ref()))
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "the pipeline panicked");
            Err(WorkError(
                "qbridge hit an internal error while preparing work; see the server log.".into(),
            ))
        })
}

fn context(s: &SessionState) -> SessionContext {
    SessionContext {
        session_id: s.id,
        connection_id: s.connection_id,
        connection: s.connection.clone(),
        username: s.username.clone(),
        company_file: if s.company_file.is_empty() {
            s.configured_company_file.clone()
        } else {
            s.company_file.clone()
        },
        country: s.country.clone(),
        qbxml_version: s.qbxml_version,
    }
}

/// Tells the pipeline that sessions ended (expired, abandoned, closed, …).
async fn notify_ended(svc: &Arc<Service>, ended: Vec<(SessionState, EndReason)>) {
    for (state, reason) in ended {
        let how = match reason {
            EndReason::Closed => SessionEnd::Closed,
            EndReason::Expired => SessionEnd::Expired,
            EndReason::ConnectionError => SessionEnd::ConnectionError,
            EndReason::Abandoned => SessionEnd::Abandoned,
            EndReason::Revoked => SessionEnd::Revoked,
        };
        tracing::info!(session = state.id, connection = %state.connection, ?how, "QBWC session ended");
        let ctx = context(&state);
        let _ = work(svc, move |w| {
            w.session_ended(&ctx, how);
            Ok(())
        })
        .await;
    }
}

/// The live session for `ticket`, lease extended; `None` for unknown or expired tickets.
async fn live(svc: &Arc<Service>, ticket: &str) -> Result<Option<SessionState>, Failure> {
    if ticket.is_empty() || ticket.len() > MAX_TICKET {
        return Ok(None);
    }
    let hash = ticket_hash(ticket);
    let rules = rules(svc);
    match db(svc, move |s| s.touch_qbwc_session(&hash, rules)).await? {
        SessionLookup::Live(s) => Ok(Some(s)),
        SessionLookup::Expired(s) => {
            notify_ended(svc, vec![(s, EndReason::Expired)]).await;
            Ok(None)
        }
        SessionLookup::Revoked(s) => {
            tracing::warn!(session = s.id, connection = %s.connection, username = %s.username, "QBWC call refused: the session's user was disabled or given a new password");
            notify_ended(svc, vec![(s, EndReason::Revoked)]).await;
            Ok(None)
        }
        SessionLookup::Unknown => Ok(None),
    }
}

/// Charges a failed login to this node's buckets and the cluster's. The login is refused
/// either way, so a database that cannot record it is logged, not answered as a fault.
async fn charge_failure(svc: &Arc<Service>, username: &str, ip: IpAddr) {
    svc.guard.charge_failure(username, ip);
    let shared = svc.guard.shared_buckets(username, ip);
    if let Err(e) = db(svc, move |s| s.charge_login_failure(&shared, now_ms())).await {
        tracing::error!(error = ?e, "a failed login could not be counted in the database");
    }
}

async fn authenticate(svc: &Arc<Service>, req: &SoapRequest, ip: IpAddr) -> Result<Reply, Failure> {
    let username = req.param("strUserName").to_string();
    let password = req.param("strPassword").to_string();
    // Rejections still carry a (useless) ticket: QBWC expects one in every answer.
    let (decoy, _) = new_ticket()?;
    let answer = |ticket: &str, status: &str| Reply::Strings(vec![ticket.into(), status.into()]);
    let shown = || username.chars().take(64).collect::<String>();
    if username.is_empty() || username.len() > MAX_CREDENTIAL || password.len() > MAX_CREDENTIAL {
        charge_failure(svc, &username, ip).await;
        crate::metrics::global().login_refused(crate::metrics::LoginRefusal::BadCredentials);
        tracing::warn!(%ip, "QBWC login refused: empty or overlong credentials");
        return Ok(answer(&decoy, "nvu"));
    }
    // This node's buckets first (a flood is refused without a database round trip), then
    // the cluster's.
    let shared = svc.guard.shared_buckets(&username, ip);
    if !svc.guard.allowed(&username, ip)
        || !db(svc, move |s| s.login_allowed(&shared, now_ms())).await?
    {
        crate::metrics::global().login_refused(crate::metrics::LoginRefusal::Throttled);
        tracing::warn!(%ip, username = %shown(), "QBWC login refused before verification: too many failed attempts from this address or for this user");
        return Ok(answer(&decoy, "nvu"));
    }
    let key = match &svc.key {
        Ok(k) => k.clone(),
        Err(e) => return Err(Failure::Server(e.clone())),
    };
    let name = username.clone();
    let user = db(svc, move |s| s.qbwc_user(&name)).await?;
    let verdict = svc
        .guard
        .verify(
            &key,
            password.clone(),
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await;
    let user = match (user, verdict) {
        (_, Verdict::Busy) => {
            crate::metrics::global().login_refused(crate::metrics::LoginRefusal::Busy);
            tracing::warn!(%ip, username = %shown(), "QBWC login answered busy: the password verification queue is full");
            return Ok(answer(&decoy, "busy"));
        }
        (Some(u), Verdict::Match) if !u.disabled => u,
        _ => {
            charge_failure(svc, &username, ip).await;
            crate::metrics::global().login_refused(crate::metrics::LoginRefusal::BadCredentials);
            tracing::warn!(%ip, username = %shown(), "QBWC login failed: unknown user, wrong password or disabled user");
            return Ok(answer(&decoy, "nvu"));
        }
    };
    if auth::is_legacy_hash(&user.password_hash) {
        // The password is right: store it in the HMAC form from now on.
        let (id, old, new) = (
            user.id,
            user.password_hash.clone(),
            key.hash_generated(&password),
        );
        if db(svc, move |s| s.upgrade_qbwc_password_hash(id, &old, &new)).await? {
            tracing::info!(username = %user.username, "Web Connector password hash upgraded from argon2id to HMAC-SHA-256");
        }
    }
    let connection_id = user.connection_id;
    match work(svc, move |w| w.has_work(connection_id)).await {
        Ok(true) => {}
        Ok(false) => return Ok(answer(&decoy, "none")),
        Err(e) => {
            let text = e.0.clone();
            db(svc, move |s| {
                s.record_connection_error(connection_id, &text)
            })
            .await?;
            tracing::error!(connection = %user.connection, error = %e, "the pipeline could not tell whether there is work");
            return Ok(answer(&decoy, "none"));
        }
    }
    let (ticket, hash) = new_ticket()?;
    // Logs carry a prefix of the ticket's hash, never the ticket.
    let ticket_ref = hash[..8].to_string();
    let rules = rules(svc);
    let claimer = user.clone();
    let (claim, ended) = db(svc, move |s| s.claim_qbwc_session(&hash, &claimer, rules)).await?;
    notify_ended(svc, ended).await;
    match claim {
        Claim::Busy => {
            tracing::info!(connection = %user.connection, username = %user.username, "company file busy with another session");
            Ok(answer(&decoy, "busy"))
        }
        Claim::Granted(id) => {
            let name = user.connection.clone();
            let connection = db(svc, move |s| s.connection(&name)).await?;
            tracing::info!(session = id, ticket_ref, connection = %user.connection, username = %user.username, "QBWC session started");
            Ok(answer(&ticket, &connection.company_file))
        }
    }
}

fn path_warning(a: (&str, &str), b: (&str, &str)) -> String {
    format!(
        "Web Connector users {:?} and {:?} open this company file through different paths ({} vs {}). QuickBooks then treats them as different files and syncs fail with \"could not open\" or \"a different company file is open\". Fix: open the file through the same path on every PC (preferably the UNC path \\\\server\\share\\file.qbw rather than a mapped drive letter), then run `qbridge connection clear-path <connection>`.",
        a.0, b.0, a.1, b.1
    )
}

/// First `sendRequestXML` of a session: read what QuickBooks reported, negotiate the qbXML
/// version, check the FileID stamp, and record the company-file path this user reported.
async fn negotiate(
    svc: &Arc<Service>,
    s: &mut SessionState,
    req: &SoapRequest,
) -> Result<(), Failure> {
    let client = (
        req.param("qbXMLMajorVers").trim().parse().unwrap_or(0u32),
        req.param("qbXMLMinorVers").trim().parse().unwrap_or(0u32),
    );
    let hcp_xml = req.param("strHCPResponse").to_string();
    let owner = db(svc, qwc::owner_id).await?;
    let mut wrong_file = false;
    let version = if hcp_xml.trim().is_empty() {
        client.min(hcp::MAX_QBXML)
    } else {
        match hcp::parse(&hcp_xml, &owner) {
            Ok(parsed) => {
                let mut host = parsed.host;
                host.qbxml_version = hcp::negotiate(&host.supported_versions, client);
                if let Some(stamp) = host.file_id_stamp.clone() {
                    let id = s.connection_id;
                    let ours = db(svc, move |st| st.connection_file_ids(id)).await?;
                    wrong_file = !ours.iter().any(|f| hcp::same_guid(&stamp, f));
                }
                let version = host.qbxml_version;
                let id = s.connection_id;
                db(svc, move |st| st.record_host_info(id, &host)).await?;
                version
            }
            Err(e) => {
                tracing::warn!(connection = %s.connection, error = %e, "ignoring unreadable HCP response");
                client.min(hcp::MAX_QBXML)
            }
        }
    };
    let company_file = req.param("strCompanyFileName").to_string();
    let country = req.param("qbXMLCountry").to_string();
    if !company_file.is_empty() {
        let (user_id, path) = (s.user_id, company_file.clone());
        if let Some(w) = db(svc, move |st| {
            st.record_reported_path(user_id, &path, path_warning)
        })
        .await?
        {
            tracing::warn!(connection = %s.connection, "{w}");
        }
    }
    let id = s.id;
    let (cf, co) = (company_file.clone(), country.clone());
    db(svc, move |st| {
        st.set_qbwc_negotiated(
            id,
            &Negotiated {
                company_file: &cf,
                country: &co,
                qbxml_version: version,
                wrong_file,
            },
        )
    })
    .await?;
    s.company_file = company_file;
    s.country = country;
    s.qbxml_version = version;
    s.wrong_file = wrong_file;
    s.negotiated = true;
    Ok(())
}

async fn send_request(svc: &Arc<Service>, req: &SoapRequest) -> Result<Reply, Failure> {
    let Some(mut s) = live(svc, req.param("ticket")).await? else {
        return Ok(Reply::Text(String::new()));
    };
    if !s.negotiated {
        negotiate(svc, &mut s, req).await?;
    }
    let id = s.id;
    if s.wrong_file {
        let text = format!(
            "The open company file was set up for another qbridge connection (its FileID stamp is not one of connection {:?}). Nothing was sent, to keep records out of the wrong books. Open the right company file, or issue this user's QWC file from the connection that owns this file.",
            s.connection
        );
        let t = text.clone();
        let conn = s.connection_id;
        db(svc, move |st| st.set_qbwc_progress(conn, id, false, &t)).await?;
        db(svc, move |st| st.record_connection_error(conn, &text)).await?;
        return Ok(Reply::Text(String::new()));
    }
    let ctx = context(&s);
    let (reply, awaiting, last_error) = match work(svc, move |w| w.next_request(&ctx)).await {
        Ok(Some(xml)) => (xml, true, String::new()),
        Ok(None) => (String::new(), false, "No more work.".to_string()),
        Err(e) => (String::new(), false, e.0),
    };
    let conn = s.connection_id;
    db(svc, move |st| {
        st.set_qbwc_progress(conn, id, awaiting, &last_error)
    })
    .await?;
    Ok(Reply::Text(reply))
}

async fn receive_response(svc: &Arc<Service>, req: &SoapRequest) -> Result<Reply, Failure> {
    let Some(s) = live(svc, req.param("ticket")).await? else {
        return Ok(Reply::Int(-1));
    };
    let (id, conn) = (s.id, s.connection_id);
    let ctx = context(&s);
    let hresult = req.param("hresult").trim().to_string();
    let message = req.param("message").to_string();
    let outcome: Result<u8, String> = if !hresult.is_empty() {
        let text = advice::advice(&hresult, &message);
        let t = text.clone();
        db(svc, move |st| st.record_connection_error(conn, &t)).await?;
        match work(svc, move |w| w.receive_error(&ctx, &hresult, &message)).await {
            Ok(()) => Err(text),
            Err(e) => Err(format!("{text} Also: {e}")),
        }
    } else if !s.awaiting_response {
        Err("receiveResponseXML arrived without a request outstanding in this session; the session was reset. The Web Connector will start a new one at its next run.".into())
    } else {
        let response = req.param("response").to_string();
        work(svc, move |w| w.receive_response(&ctx, &response))
            .await
            .map(|p| p.min(100))
            .map_err(|e| e.0)
    };
    match outcome {
        Ok(percent) => {
            db(svc, move |st| st.set_qbwc_progress(conn, id, false, "")).await?;
            Ok(Reply::Int(i32::from(percent)))
        }
        Err(text) => {
            db(svc, move |st| st.set_qbwc_progress(conn, id, false, &text)).await?;
            Ok(Reply::Int(-1))
        }
    }
}

async fn connection_error(svc: &Arc<Service>, req: &SoapRequest) -> Result<Reply, Failure> {
    let Some(s) = live(svc, req.param("ticket")).await? else {
        return Ok(Reply::Text("done".into()));
    };
    let text = advice::advice(req.param("hresult"), req.param("message"));
    let (id, conn) = (s.id, s.connection_id);
    let t = text.clone();
    db(svc, move |st| st.record_connection_error(conn, &t)).await?;
    let t = text.clone();
    let count = db(svc, move |st| st.count_qbwc_connection_error(id, &t)).await?;
    tracing::warn!(connection = %s.connection, attempt = count, "{text}");
    if count > svc.config.qbwc_connection_error_retries {
        if db(svc, move |st| {
            st.end_qbwc_session(id, EndReason::ConnectionError)
        })
        .await?
        {
            notify_ended(svc, vec![(s, EndReason::ConnectionError)]).await;
        }
        return Ok(Reply::Text("done".into()));
    }
    Ok(Reply::Text(s.configured_company_file))
}

async fn close(svc: &Arc<Service>, ticket: &str) -> Result<Reply, Failure> {
    let Some(s) = live(svc, ticket).await? else {
        return Ok(Reply::Text("Session already ended.".into()));
    };
    let id = s.id;
    if db(svc, move |st| st.end_qbwc_session(id, EndReason::Closed)).await? {
        notify_ended(svc, vec![(s, EndReason::Closed)]).await;
    }
    Ok(Reply::Text("OK".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_version_replies() {
        assert_eq!(client_version("2.0.0.116", "2.0.0.0"), "");
        assert_eq!(client_version("2.0.0.116", "2.3.0.215"), "O:2.3.0.215");
        assert_eq!(client_version("2.3.0.215", "2.3.0.215"), "");
        assert!(client_version("", "2.0").starts_with("W:"));
        assert!(client_version("abc", "2.0").starts_with("W:"));
    }

    #[test]
    fn tickets_are_random_and_only_their_hash_is_kept() {
        let (t1, h1) = new_ticket().unwrap();
        let (t2, _) = new_ticket().unwrap();
        assert_eq!(t1.len(), 64);
        assert_ne!(t1, t2);
        assert_eq!(h1, ticket_hash(&t1));
        assert_ne!(h1, t1);
    }
}
