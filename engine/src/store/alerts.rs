//! Alerts: webhook destinations, the outbox of alert events and each event's deliveries.
//!
//! An event is written in the same transaction as the state change that causes it (a job
//! failed for good, a deferred plugin call given up, a plugin version staged, a connection
//! error recorded) through [`record_in`], or by the alert loop (a connection silent too
//! long). Its `dedup_key` is unique, so the loop can look every tick and a silence still
//! alerts once. Events are fanned out to the destinations that exist when the loop next runs
//! (one `alert_delivery` row each), and each delivery goes pending → delivered, or failed
//! after [`MAX_ATTEMPTS`] attempts with back-off; every attempt is an audit row committed with
//! the delivery's new state.
//!
//! A webhook's signing secret is sealed with the secrets key (as source secrets are), together
//! with the URL's path and query — chat webhooks (Slack, Teams) carry their token there — and
//! neither is returned after creation: lists, logs and the audit log show scheme and host only.
//! An email destination lives in the same table (its [`DestinationKind`] tells them apart): its
//! SMTP URL, credentials included, is sealed with its sender and recipients, and is shown as
//! `smtp://host:port`.

use crate::store::sql::{OptionalExt, Tx, params};

use super::audit::{AuditEntry, append_in, now_ms};
use super::secrets::{SecretError, SecretKey};
use super::{Store, StoreError};
pub use destinations::{DestinationKind, NewEmail, Target};
use destinations::{DestinationRow, insert_destination, open_target};

/// Attempts before a delivery is given up (about four hours with the back-off below).
pub const MAX_ATTEMPTS: i64 = 12;
/// The first retry waits this long; each later one twice the previous.
const FIRST_RETRY_MS: i64 = 1_000;
/// No retry waits longer than this.
const MAX_RETRY_MS: i64 = 30 * 60_000;
/// Longest webhook URL.
const MAX_URL_CHARS: usize = 2048;
/// A delivery handed to a node is not due again, on any node, for this long; a node that
/// dies while sending leaves it to be sent after this (sends time out far below it).
pub const CLAIM_LEASE_MS: i64 = 300_000;
/// Longest stored delivery error.
const MAX_ERROR_CHARS: usize = 500;

/// What an alert is about. The wire names are what receivers switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AlertKind {
    /// No Web Connector contact for longer than `alerts.silence_secs`.
    #[serde(rename = "connection.silent")]
    ConnectionSilent,
    /// QuickBooks refused a job for good (`discarded`).
    #[serde(rename = "job.failed")]
    JobFailed,
    /// The Web Connector or the pipeline reported an error for the connection.
    #[serde(rename = "connection.error")]
    ConnectionError,
    /// A deferred plugin call (acknowledge, on_response) was given up.
    #[serde(rename = "plugin_call.given_up")]
    PluginCallGivenUp,
    /// A plugin version asks for more than the running one and waits for approval.
    #[serde(rename = "plugin.staged")]
    PluginStaged,
    /// Sent on demand to check a destination.
    #[serde(rename = "test")]
    Test,
}

impl AlertKind {
    /// The kinds a webhook can subscribe to, in the order the UI lists them (a test event
    /// goes only to the webhook it tests, whatever it subscribed to).
    pub const SUBSCRIBABLE: [AlertKind; 5] = [
        AlertKind::ConnectionSilent,
        AlertKind::JobFailed,
        AlertKind::ConnectionError,
        AlertKind::PluginCallGivenUp,
        AlertKind::PluginStaged,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ConnectionSilent => "connection.silent",
            AlertKind::JobFailed => "job.failed",
            AlertKind::ConnectionError => "connection.error",
            AlertKind::PluginCallGivenUp => "plugin_call.given_up",
            AlertKind::PluginStaged => "plugin.staged",
            AlertKind::Test => "test",
        }
    }

    /// The kind of a wire name.
    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::SUBSCRIBABLE
            .into_iter()
            .chain([AlertKind::Test])
            .find(|k| k.as_str() == s)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after [`MAX_ATTEMPTS`] attempts.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> DeliveryState {
        match s {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// A webhook destination as listed: never its secret nor its URL's path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Webhook {
    /// Row id.
    pub id: i64,
    /// A webhook or an email destination.
    pub kind: DestinationKind,
    /// Scheme, host and port of its URL, `/…` when it has a path or query (sealed).
    pub url_shown: String,
    /// Only this connection's alerts; `None`: every alert.
    pub connection_id: Option<i64>,
    /// The kinds it receives.
    pub kinds: Vec<AlertKind>,
    /// Unix ms when created.
    pub created_at: i64,
    /// Who created it (audit actor).
    pub created_by: String,
}

/// A new webhook destination (its URL already checked by the caller).
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where alerts are POSTed.
    pub url: crate::logging::Redacted<String>,
    /// Only this connection's alerts.
    pub connection_id: Option<i64>,
    /// The kinds it receives (at least one).
    pub kinds: Vec<AlertKind>,
}

/// One delivery of an event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// The destination.
    pub webhook_id: i64,
    /// Pending, delivered or failed.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only; Unix ms).
    pub next_attempt_at: Option<i64>,
    /// The last attempt's failure.
    pub last_error: Option<String>,
}

/// An alert event with its deliveries.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertEvent {
    /// The id receivers see (`X-Qbridge-Event`), the same on every attempt.
    pub id: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The connection concerned, when one is.
    pub connection_id: Option<i64>,
    /// Unix ms when it happened.
    pub at: i64,
    /// The kind's details.
    pub data: serde_json::Value,
    /// One per destination it was fanned out to.
    pub deliveries: Vec<Delivery>,
}

/// A delivery whose attempt is due, with what is needed to make it.
#[derive(Debug)]
pub struct DueDelivery {
    /// The event (row id).
    pub event_row: i64,
    /// The destination.
    pub webhook_id: i64,
    /// Where and how to send, opened with the secrets key.
    pub target: Target,
    /// What may be shown of its URL.
    pub url_shown: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The exact body to send.
    pub body: String,
    /// The event id (`X-Qbridge-Event`).
    pub event_id: String,
}

/// The outcome of one delivery attempt.
#[derive(Debug)]
pub enum Attempt {
    /// 2xx, with the status.
    Delivered(u16),
    /// Anything else: the status (if an answer came) and why.
    Failed(Option<u16>, String),
}

/// The public id of event row `row`.
fn event_id(row: i64) -> String {
    format!("evt_{row}")
}

/// The wait after `attempts` failed attempts: doubled each time from a second, capped.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let shift = attempts.clamp(1, 30) - 1;
    FIRST_RETRY_MS.saturating_mul(1 << shift).min(MAX_RETRY_MS)
}

/// What may be shown of `url`: scheme and authority, and `/…` when a path or query follows.
pub fn url_shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let tail = if rest[end..].is_empty() || &rest[end..] == "/" {
        "/"
    } else {
        "/…"
    };
    format!("{scheme}://{}{tail}", &rest[..end])
}

/// Records an alert event inside the caller's transaction, once per `dedup_key`. Returns
/// whether it was new.
pub(crate) fn record_in(
    tx: &Tx<'_>,
    kind: AlertKind,
    connection_id: Option<i64>,
    dedup_key: &str,
    data: serde_json::Value,
) -> Result<bool, StoreError> {
    let inserted = tx.execute(
        "INSERT INTO alert_event(kind, connection_id, dedup_key, data, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            kind.as_str(),
            connection_id,
            dedup_key,
            data.to_string(),
            now_ms()
        ],
    )?;
    Ok(inserted == 1)
}

fn kinds_text(kinds: &[AlertKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn kinds_of(text: &str) -> Vec<AlertKind> {
    text.split(',').filter_map(AlertKind::parse).collect()
}

/// The columns [`webhook_from_row`] reads, in its order.
const WEBHOOK_COLUMNS: &str = "id, url_shown, connection_id, kinds, created_at, created_by, kind";

fn webhook_from_row(r: &crate::store::sql::Row<'_>) -> crate::store::sql::Result<Webhook> {
    Ok(Webhook {
        id: r.get(0)?,
        kind: DestinationKind::parse(&r.get::<_, String>(6)?),
        url_shown: r.get(1)?,
        connection_id: r.get(2)?,
        kinds: kinds_of(&r.get::<_, String>(3)?),
        created_at: r.get(4)?,
        created_by: r.get(5)?,
    })
}

/// The body every attempt of an event sends: built from stored columns only, so a retry sends
/// the same bytes.
fn body(row: i64, kind: &str, connection: Option<(i64, String)>, at: i64, data: &str) -> String {
    let data: serde_json::Value = serde_json::from_str(data).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": event_id(row),
        "kind": kind,
        "at": at,
        "connection": connection.map(|(id, name)| serde_json::json!({"id": id, "name": name})),
        "data": data,
    })
    .to_string()
}

impl Store {
    /// Adds a webhook destination with `secret` sealed under `key`; audited as `audit` (its
    /// target and detail filled in here). Returns its id.
    pub fn add_webhook(
        &self,
        key: &SecretKey,
        new: &NewWebhook,
        secret: &str,
        audit: &AuditEntry,
    ) -> Result<i64, SecretError> {
        if new.url.0.chars().count() > MAX_URL_CHARS {
            return Err(SecretError::Invalid(format!(
                "the webhook URL is longer than {MAX_URL_CHARS} characters"
            )));
        }
        if new.kinds.is_empty() {
            return Err(SecretError::Invalid(
                "choose at least one kind of alert".into(),
            ));
        }
        let shown = url_shown(&new.url.0);
        // The secret never holds a newline (printable ASCII), so it ends the first line.
        let plain = format!("{secret}\n{}", new.url.0);
        let sealed = key.seal(&DestinationKind::Webhook.aad(&shown), plain.as_bytes())?;
        let row = DestinationRow {
            kind: DestinationKind::Webhook,
            shown: &shown,
            connection_id: new.connection_id,
            kinds: &new.kinds,
        };
        Ok(self.write(|tx| insert_destination(tx, &row, &sealed, audit))?)
    }

    /// Adds an email destination with its SMTP URL, sender and recipients sealed under `key`;
    /// audited as `audit` (shown URL and recipients only). Returns its id.
    pub fn add_email(
        &self,
        key: &SecretKey,
        new: &NewEmail,
        audit: &AuditEntry,
    ) -> Result<i64, SecretError> {
        if new.kinds.is_empty() || new.to.is_empty() {
            return Err(SecretError::Invalid(
                "choose at least one kind of alert and one recipient".into(),
            ));
        }
        // None of the parts holds a line break (checked by the caller), so lines split them.
        let mut plain = format!("{}\n{}", new.smtp_url.0, new.from);
        for to in &new.to {
            plain.push('\n');
            plain.push_str(to);
        }
        let sealed = key.seal(
            &DestinationKind::Email.aad(&new.url_shown),
            plain.as_bytes(),
        )?;
        let row = DestinationRow {
            kind: DestinationKind::Email,
            shown: &new.url_shown,
            connection_id: new.connection_id,
            kinds: &new.kinds,
        };
        Ok(self.write(|tx| insert_destination(tx, &row, &sealed, audit))?)
    }

    /// Every webhook destination, oldest first; never their secrets.
    pub fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM alert_webhook ORDER BY id"
            ))?;
            let rows = stmt
                .query_map([], webhook_from_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Deletes webhook `id` and its pending deliveries; audited.
    pub fn delete_webhook(&self, id: i64, actor: &AuditEntry) -> Result<(), StoreError> {
        self.write(|tx| {
            if tx.execute("DELETE FROM alert_webhook WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::NotFound(format!("webhook {id}")));
            }
            append_in(tx, actor)?;
            Ok(())
        })
    }

    /// Queues a test event for webhook `id` only; audited. Returns the event id.
    pub fn queue_test_alert(&self, id: i64, actor: &AuditEntry) -> Result<String, StoreError> {
        self.write(|tx| {
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM alert_webhook WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("webhook {id}")));
            }
            let now = now_ms();
            // Every test is its own event (two in one millisecond too): the key is the row id
            // it is about to get, unique inside this write transaction.
            let next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(id), 0) + 1 FROM alert_event",
                [],
                |r| r.get(0),
            )?;
            // Already fanned out: a test goes to the webhook it tests, not to every one.
            let row = tx.insert(
                "INSERT INTO alert_event(kind, connection_id, dedup_key, data, created_at, fanned_out)
                 VALUES ('test', NULL, ?1, ?2, ?3, 1) RETURNING id",
                params![
                    format!("test:{next}"),
                    serde_json::json!({"webhook_id": id, "requested_by": actor.actor}).to_string(),
                    now
                ],
            )?;
            tx.execute(
                "INSERT INTO alert_delivery(event_id, webhook_id, state, next_attempt_at)
                 VALUES (?1, ?2, 'pending', ?3)",
                params![row, id, now],
            )?;
            append_in(tx, actor)?;
            Ok(event_id(row))
        })
    }

    /// Records a `connection.silent` event for every connection whose last Web Connector
    /// contact is older than `silence_ms`, once per silence (the dedup key holds the contact
    /// time, so the next silence after a contact alerts again). Returns how many were new.
    pub fn record_silences(&self, silence_ms: i64) -> Result<usize, StoreError> {
        let now = now_ms();
        self.write(|tx| {
            let mut stmt = tx.prepare(
                "SELECT c.id, (SELECT MAX(last_seen_at) FROM qbwc_session s WHERE s.connection_id = c.id)
                 FROM qbwc_connection c",
            )?;
            let silent: Vec<(i64, i64)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?)))?
                .filter_map(|r| match r {
                    Ok((id, Some(last))) if now - last > silence_ms => Some(Ok((id, last))),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_, _>>()?;
            let mut new = 0;
            for (id, last) in silent {
                let recorded = record_in(
                    tx,
                    AlertKind::ConnectionSilent,
                    Some(id),
                    &format!("connection.silent:{id}:{last}"),
                    serde_json::json!({"last_contact_at": last, "silent_for_ms": now - last}),
                )?;
                new += usize::from(recorded);
            }
            Ok(new)
        })
    }

    /// Fans new events out to the webhooks that want them, then returns up to `limit`
    /// deliveries due now with their opened secrets, each handed to the caller alone for
    /// [`CLAIM_LEASE_MS`] (every node runs the delivery loop; one sends each). A delivery
    /// whose secret no longer opens (another key file) is failed at once with that reason.
    pub fn claim_due_deliveries(
        &self,
        key: &SecretKey,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let now = now_ms();
        self.write(|tx| {
            fan_out(tx, now)?;
            let mut stmt = tx.prepare(
                "SELECT d.event_id, d.webhook_id, w.url_shown, w.nonce, w.ciphertext, d.attempts,
                        e.kind, e.connection_id, c.name, e.created_at, e.data, w.kind
                 FROM alert_delivery d
                 JOIN alert_webhook w ON w.id = d.webhook_id
                 JOIN alert_event e ON e.id = d.event_id
                 LEFT JOIN qbwc_connection c ON c.id = e.connection_id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
                 ORDER BY d.next_attempt_at LIMIT ?2",
            )?;
            type Row = (
                i64,
                i64,
                String,
                Vec<u8>,
                Vec<u8>,
                i64,
                String,
                Option<i64>,
                Option<String>,
                i64,
                String,
                String,
            );
            let rows: Vec<Row> = stmt
                .query_map(params![now, limit as i64], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                        r.get(11)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let mut due = Vec::new();
            for (row, webhook, shown, nonce, sealed, attempts, kind, conn, name, at, data, dest) in
                rows
            {
                let dest = DestinationKind::parse(&dest);
                let opened = key
                    .unseal(&dest.aad(&shown), &nonce, &sealed)
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|plain| open_target(dest, &plain));
                let Some(target) = opened else {
                    tx.execute(
                        "UPDATE alert_delivery SET state = 'failed', last_error = ?3
                         WHERE event_id = ?1 AND webhook_id = ?2",
                        params![
                            row,
                            webhook,
                            "the webhook's secret does not open with the secrets key in use; delete the webhook and add it again"
                        ],
                    )?;
                    continue;
                };
                tx.execute(
                    "UPDATE alert_delivery SET next_attempt_at = ?3 WHERE event_id = ?1 AND webhook_id = ?2",
                    params![row, webhook, now + CLAIM_LEASE_MS],
                )?;
                due.push(DueDelivery {
                    event_row: row,
                    webhook_id: webhook,
                    target,
                    url_shown: shown,
                    attempts,
                    body: body(row, &kind, conn.zip(name), at, &data),
                    event_id: event_id(row),
                });
            }
            Ok(due)
        })
    }

    /// Hands a claimed delivery back unattempted: due again at once, on any node.
    pub fn release_delivery(&self, due: &DueDelivery) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE alert_delivery SET next_attempt_at = ?3
                 WHERE event_id = ?1 AND webhook_id = ?2 AND state = 'pending'",
                params![due.event_row, due.webhook_id, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Records one attempt's outcome and its audit row together: delivered, retried after
    /// [`retry_delay_ms`], or failed after [`MAX_ATTEMPTS`]. Returns the delivery's new state.
    pub fn delivery_attempted(
        &self,
        due: &DueDelivery,
        outcome: &Attempt,
    ) -> Result<DeliveryState, StoreError> {
        let now = now_ms();
        let attempts = due.attempts + 1;
        let (state, status, error) = match outcome {
            Attempt::Delivered(status) => (DeliveryState::Delivered, Some(*status), None),
            Attempt::Failed(status, why) => {
                let why: String = why.chars().take(MAX_ERROR_CHARS).collect();
                let state = if attempts >= MAX_ATTEMPTS {
                    DeliveryState::Failed
                } else {
                    DeliveryState::Pending
                };
                (state, *status, Some(why))
            }
        };
        self.write(|tx| {
            tx.execute(
                "UPDATE alert_delivery SET state = ?3, attempts = ?4, last_error = ?5, next_attempt_at = ?6
                 WHERE event_id = ?1 AND webhook_id = ?2",
                params![
                    due.event_row,
                    due.webhook_id,
                    state.as_str(),
                    attempts,
                    error,
                    now + retry_delay_ms(attempts)
                ],
            )?;
            append_in(
                tx,
                &AuditEntry {
                    actor: "system".into(),
                    action: "alert.delivery".into(),
                    target: format!("webhook:{}", due.webhook_id),
                    detail: serde_json::json!({
                        "event": due.event_id,
                        "attempt": attempts,
                        "status": status,
                        "outcome": state.as_str(),
                        "error": error,
                    }),
                    ..Default::default()
                },
            )?;
            Ok(state)
        })
    }

    /// The newest `limit` events (of one connection, or all) with their deliveries.
    pub fn alert_events(
        &self,
        connection_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, kind, connection_id, created_at, data FROM alert_event
                 WHERE connection_id=?1 OR ?1 IS NULL ORDER BY id DESC LIMIT ?2",
            )?;
            let mut events: Vec<(i64, AlertEvent)> = stmt
                .query_map(params![connection_id, limit as i64], |r| {
                    let row: i64 = r.get(0)?;
                    let kind: String = r.get(1)?;
                    let data: String = r.get(4)?;
                    Ok((
                        row,
                        AlertEvent {
                            id: event_id(row),
                            kind: AlertKind::parse(&kind).unwrap_or(AlertKind::Test),
                            connection_id: r.get(2)?,
                            at: r.get(3)?,
                            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                            deliveries: Vec::new(),
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let mut deliveries = c.prepare(
                "SELECT webhook_id, state, attempts, next_attempt_at, last_error
                 FROM alert_delivery WHERE event_id = ?1 ORDER BY webhook_id",
            )?;
            for (row, event) in &mut events {
                event.deliveries = deliveries
                    .query_map([*row], |r| {
                        let state = DeliveryState::parse(&r.get::<_, String>(1)?);
                        let next: i64 = r.get(3)?;
                        Ok(Delivery {
                            webhook_id: r.get(0)?,
                            state,
                            attempts: r.get(2)?,
                            next_attempt_at: (state == DeliveryState::Pending).then_some(next),
                            last_error: r.get(4)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
            }
            Ok(events.into_iter().map(|(_, e)| e).collect())
        })
    }
}

/// One delivery row per (new event, webhook that wants it). A webhook limited to a connection
/// gets only that connection's events; events about the whole instance (a staged plugin) go
/// to webhooks without a connection.
fn fan_out(tx: &Tx<'_>, now: i64) -> Result<(), StoreError> {
    let events: Vec<(i64, String, Option<i64>)> = tx
        .prepare("SELECT id, kind, connection_id FROM alert_event WHERE fanned_out = 0")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    if events.is_empty() {
        return Ok(());
    }
    let webhooks: Vec<Webhook> = tx
        .prepare(&format!("SELECT {WEBHOOK_COLUMNS} FROM alert_webhook"))?
        .query_map([], webhook_from_row)?
        .collect::<Result<_, _>>()?;
    for (row, kind, connection) in events {
        let kind = AlertKind::parse(&kind);
        for w in &webhooks {
            let wants = kind.is_some_and(|k| w.kinds.contains(&k))
                && (w.connection_id.is_none() || w.connection_id == connection);
            if wants {
                tx.execute(
                    "INSERT INTO alert_delivery(event_id, webhook_id, state, next_attempt_at)
                     VALUES (?1, ?2, 'pending', ?3) ON CONFLICT DO NOTHING",
                    params![row, w.id, now],
                )?;
            }
        }
        tx.execute("UPDATE alert_event SET fanned_out = 1 WHERE id = ?1", [row])?;
    }
    Ok(())
}

mod destinations;
#[cfg(test)]
mod tests;
