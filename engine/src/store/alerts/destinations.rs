//! Alert destinations: what kind each is, what is sealed for it and how a row is written and
//! opened again. Webhooks and email destinations share one table, so fan-out, back-off and
//! audit rows in `store::alerts` do not care which kind a delivery goes to.

use crate::store::sql::{OptionalExt, Tx, params};

use super::super::StoreError;
use super::super::audit::{AuditEntry, append_in, now_ms};
use super::{AlertKind, kinds_text};

/// What a destination is. The wire names are what the API lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// A signed JSON POST.
    Webhook,
    /// A plain-text message through an SMTP relay.
    Email,
}

impl DestinationKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Webhook => "webhook",
            DestinationKind::Email => "email",
        }
    }

    pub(super) fn parse(s: &str) -> DestinationKind {
        match s {
            "email" => DestinationKind::Email,
            _ => DestinationKind::Webhook,
        }
    }

    /// Associated data of a destination's sealed part: one copied onto another host's row (or
    /// another kind's) fails to open instead of sending where it was not made for.
    pub(super) fn aad(self, url_shown: &str) -> Vec<u8> {
        format!("alert-{}\0{url_shown}", self.as_str()).into_bytes()
    }
}

/// A new email destination (its URL and addresses already checked by the caller).
#[derive(Debug, Clone)]
pub struct NewEmail {
    /// The SMTP URL, credentials included.
    pub smtp_url: crate::logging::Redacted<String>,
    /// What may be shown of it: `smtp://host:port`.
    pub url_shown: String,
    /// The envelope and header sender.
    pub from: String,
    /// The recipients (at least one; none holds a line break).
    pub to: Vec<String>,
    /// Only this connection's alerts.
    pub connection_id: Option<i64>,
    /// The kinds it receives (at least one).
    pub kinds: Vec<AlertKind>,
}

/// Where a due delivery goes, with its opened secrets.
#[derive(Debug)]
pub enum Target {
    /// POST to `url`, signed with `secret`.
    Webhook {
        /// Its full URL (a secret: it may carry a token).
        url: crate::logging::Redacted<String>,
        /// The signing secret.
        secret: crate::logging::Redacted<String>,
    },
    /// Mail through the relay of `smtp_url`.
    Email {
        /// The SMTP URL (a secret: it may carry a password).
        smtp_url: crate::logging::Redacted<String>,
        /// The sender.
        from: String,
        /// The recipients.
        to: Vec<String>,
    },
}

/// What [`insert_destination`] writes besides the sealed part.
pub(super) struct DestinationRow<'a> {
    pub(super) kind: DestinationKind,
    pub(super) shown: &'a str,
    pub(super) connection_id: Option<i64>,
    pub(super) kinds: &'a [AlertKind],
}

/// Inserts a destination and its audit row (target and detail filled in here).
pub(super) fn insert_destination(
    tx: &Tx<'_>,
    row: &DestinationRow<'_>,
    (nonce, sealed): &(Vec<u8>, Vec<u8>),
    audit: &AuditEntry,
) -> Result<i64, StoreError> {
    if let Some(c) = row.connection_id {
        let known: Option<i64> = tx
            .query_row("SELECT id FROM qbwc_connection WHERE id = ?1", [c], |r| {
                r.get(0)
            })
            .optional()?;
        if known.is_none() {
            return Err(StoreError::Conflict(format!(
                "there is no connection with id {c}"
            )));
        }
    }
    let id = tx.insert(
        "INSERT INTO alert_webhook(url_shown, connection_id, kinds, nonce, ciphertext, created_at, created_by, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        params![
            row.shown,
            row.connection_id,
            kinds_text(row.kinds),
            nonce,
            sealed,
            now_ms(),
            audit.actor,
            row.kind.as_str()
        ],
    )?;
    append_in(
        tx,
        &AuditEntry {
            target: format!("webhook:{id}"),
            detail: serde_json::json!({
                "destination": row.kind.as_str(),
                "url": row.shown,
                "connection_id": row.connection_id,
                "kinds": kinds_text(row.kinds),
            }),
            ..audit.clone()
        },
    )?;
    Ok(id)
}

/// The target sealed in a destination's plain text (see `add_webhook`, `add_email`).
pub(super) fn open_target(kind: DestinationKind, plain: &str) -> Option<Target> {
    match kind {
        DestinationKind::Webhook => {
            let (secret, url) = plain.split_once('\n')?;
            Some(Target::Webhook {
                url: crate::logging::Redacted(url.to_string()),
                secret: crate::logging::Redacted(secret.to_string()),
            })
        }
        DestinationKind::Email => {
            let mut lines = plain.split('\n');
            let smtp_url = lines.next()?.to_string();
            let from = lines.next()?.to_string();
            let to: Vec<String> = lines.map(str::to_string).collect();
            (!to.is_empty()).then_some(Target::Email {
                smtp_url: crate::logging::Redacted(smtp_url),
                from,
                to,
            })
        }
    }
}
