//! Versions of one key: what a new request does when its key already has a live job or is
//! in QuickBooks, the version waiting behind one that may already have landed (`job_next`),
//! what QuickBooks' identity of the object becomes after each write, and turning a write into
//! the matching Mod — or a void into the removal — at the moment it is sent, so the Mod
//! always carries the current EditSequence.

use crate::store::sql::{OptionalExt, Tx, params};
use serde_json::json;

use super::*;
use crate::store::StoreError;
use qbridge_sdk::qbxml::change::{self, ChangeError, Identity, Removal};

/// Where a job belongs: its connection, plugin and source record.
pub(crate) struct KeyOf<'a> {
    pub connection_id: i64,
    pub plugin: &'a str,
    pub record_id: Option<i64>,
}

/// The live job of a key, as far as a new version cares.
pub(crate) struct Live {
    pub id: i64,
    pub state: String,
    pub verify: bool,
    pub sends: i64,
    pub content_hash: Option<String>,
}

impl Live {
    /// True when this job's request cannot have reached QuickBooks: waiting to be sent, or
    /// answered with an error and not sent since. A job sent or in doubt, being verified, or
    /// held after sends of unknown outcome may have landed: a newer version waits behind it.
    fn unsent(&self) -> bool {
        match self.state.as_str() {
            "available" | "retryable" => !self.verify,
            "held" => self.sends == 0,
            _ => false,
        }
    }
}

/// A new version of a key that has a live job: the same version again is that job; an
/// older version never sent is replaced in place (QuickBooks sees only the latest) — or
/// cancelled, when the record was voided before it reached QuickBooks —; behind a version
/// that may already be in QuickBooks the new one waits in `job_next` (a newer one replacing
/// it) until that one finishes.
pub(crate) fn over_live(
    tx: &Tx<'_>,
    at: &KeyOf<'_>,
    job: &NewJob,
    hash: &str,
    live: &Live,
    in_quickbooks: bool,
    now: i64,
) -> Result<Enqueued, StoreError> {
    if live.content_hash.as_deref() == Some(hash) {
        return Ok(Enqueued::Existing(live.id));
    }
    if !live.unsent() {
        tx.execute(
            "INSERT INTO job_next(connection_id, plugin, key, record_id, request, content_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(connection_id, plugin, key) DO UPDATE SET record_id=excluded.record_id,
                request=excluded.request, content_hash=excluded.content_hash, created_at=excluded.created_at",
            params![at.connection_id, at.plugin, job.key, at.record_id, to_json(job), hash, now],
        )?;
        return Ok(Enqueued::Behind(live.id));
    }
    if job.versioning.action != Action::Write && !in_quickbooks {
        tx.execute(
            "UPDATE job SET state='cancelled', verify=0, advice=?2, finalized_at=?3, updated_at=?3 WHERE id=?1",
            params![
                live.id,
                "the source voided or deleted the record before it reached QuickBooks: nothing was sent",
                now
            ],
        )?;
        super::results::hold_dependents(tx, live.id, "was voided at the source", now)?;
        return Ok(Enqueued::Cancelled(live.id));
    }
    let renamed = super::names::follow_renames(tx, at.connection_id, at.plugin, job)?;
    let job = renamed.as_ref().unwrap_or(job);
    tx.execute(
        "UPDATE job SET record_id=COALESCE(?2, record_id), request_type=?3, qbxml=?4, probe=?5,
            adopt_existing=?6, notes=?7, content_hash=?8, action=?9, line_keys=?10, significant=?11,
            modifies=?12, version=version+1, sends=0, sent_type=NULL, sent_qbxml=NULL,
            refresh_query=NULL, refreshes=0, conflict=NULL, updated_at=?13
         WHERE id=?1",
        params![
            live.id,
            at.record_id,
            job.request_type,
            job.qbxml,
            job.probe,
            job.adopt_existing,
            serde_json::to_string(&job.notes).unwrap_or_else(|_| "[]".into()),
            hash,
            job.versioning.action.as_str(),
            serde_json::to_string(&job.versioning.line_keys).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&job.versioning.significant).unwrap_or_else(|_| "[]".into()),
            job.versioning.modifies,
            now
        ],
    )?;
    // The new version's dependencies replace the old one's.
    tx.execute("DELETE FROM job_dep WHERE job_id=?1", [live.id])?;
    let mut unmet = 0i64;
    for dep in &job.depends_on {
        let met = dependency_met(tx, at.connection_id, at.plugin, dep)?;
        if tx.execute(
            "INSERT INTO job_dep(job_id, depends_on, met) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![live.id, dep, met],
        )? == 1
            && !met
        {
            unmet += 1;
        }
    }
    tx.execute(
        "UPDATE job SET unmet=?2 WHERE id=?1",
        params![live.id, unmet],
    )?;
    Ok(Enqueued::Superseded(live.id))
}

/// A dependency is met when its key is in QuickBooks and no newer version of it is on its
/// way: an invoice naming a renamed customer must not reach QuickBooks before the rename.
pub(crate) fn dependency_met(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM mapping WHERE connection_id=?1 AND plugin=?2 AND key=?3)
               AND NOT EXISTS(SELECT 1 FROM job WHERE connection_id=?1 AND plugin=?2 AND key=?3
                              AND state NOT IN ('completed','discarded','cancelled'))",
        )?
        .query_row(params![connection_id, plugin, key], |r| r.get(0))?)
}

/// True when what QuickBooks has for the key is this version. Mappings made before versions
/// were kept have no hash: the newest completed job's request stands in for it (and the
/// hash is recorded); when that text was pruned nothing can tell, so the first write stays.
pub(crate) fn same_as_mapped(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    key: &str,
    mapped_hash: Option<String>,
    hash: &str,
) -> Result<bool, StoreError> {
    if let Some(h) = mapped_hash {
        return Ok(h == hash);
    }
    let last: Option<(String, String)> = tx
        .query_row(
            "SELECT request_type, qbxml FROM job WHERE connection_id=?1 AND plugin=?2 AND key=?3
               AND state='completed' ORDER BY id DESC LIMIT 1",
            params![connection_id, plugin, key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((request_type, qbxml)) = last.filter(|(_, x)| !x.is_empty()) else {
        return Ok(true);
    };
    let then = NewJob {
        key: key.to_string(),
        depends_on: Vec::new(),
        request_type,
        qbxml,
        probe: None,
        adopt_existing: false,
        notes: Vec::new(),
        versioning: Versioning::default(),
    };
    let then_hash = super::enqueue::content_hash(&then);
    tx.execute(
        "UPDATE mapping SET content_hash=?4 WHERE connection_id=?1 AND plugin=?2 AND key=?3",
        params![connection_id, plugin, key, then_hash],
    )?;
    Ok(then_hash == hash)
}

/// The version waiting behind the job of `key` that just finished becomes a job of its own
/// (judged afresh: nothing if QuickBooks already has it, a Mod if QuickBooks has the key).
pub(crate) fn promote_next(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    key: &str,
    now: i64,
) -> Result<(), StoreError> {
    let next: Option<(Option<i64>, String)> = tx
        .query_row(
            "DELETE FROM job_next WHERE connection_id=?1 AND plugin=?2 AND key=?3
             RETURNING record_id, request",
            params![connection_id, plugin, key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((record_id, request)) = next else {
        return Ok(());
    };
    let job = from_json(key, &request)?;
    super::insert_job(tx, connection_id, plugin, record_id, &job, now)?;
    Ok(())
}

fn to_json(job: &NewJob) -> String {
    json!({
        "depends_on": job.depends_on,
        "request_type": job.request_type,
        "qbxml": job.qbxml,
        "probe": job.probe,
        "adopt_existing": job.adopt_existing,
        "notes": job.notes,
        "action": job.versioning.action.as_str(),
        "line_keys": job.versioning.line_keys,
        "significant": job.versioning.significant,
        "modifies": job.versioning.modifies,
    })
    .to_string()
}

fn from_json(key: &str, text: &str) -> Result<NewJob, StoreError> {
    #[derive(serde::Deserialize)]
    struct Stored {
        depends_on: Vec<String>,
        request_type: String,
        qbxml: String,
        probe: Option<String>,
        adopt_existing: bool,
        notes: Vec<String>,
        action: String,
        line_keys: Vec<String>,
        significant: Vec<String>,
        modifies: bool,
    }
    let s: Stored = serde_json::from_str(text).map_err(|e| {
        StoreError::Conflict(format!("the waiting version of {key} cannot be read: {e}"))
    })?;
    Ok(NewJob {
        key: key.to_string(),
        depends_on: s.depends_on,
        request_type: s.request_type,
        qbxml: s.qbxml,
        probe: s.probe,
        adopt_existing: s.adopt_existing,
        notes: s.notes,
        versioning: Versioning {
            action: Action::parse(&s.action).unwrap_or_default(),
            line_keys: s.line_keys,
            significant: s.significant,
            modifies: s.modifies,
        },
    })
}

/// What QuickBooks knows the key as (a `mapping` row).
struct Mapped {
    object_id: String,
    edit_sequence: Option<String>,
    request_type: String,
    line_ids: Vec<(String, String, Option<String>)>,
    written: Option<String>,
}

fn mapped(
    tx: &Tx<'_>,
    connection_id: i64,
    plugin: &str,
    key: &str,
) -> Result<Option<Mapped>, StoreError> {
    let row = tx
        .query_row(
            "SELECT object_id, edit_sequence, request_type, line_ids, written FROM mapping
             WHERE connection_id=?1 AND plugin=?2 AND key=?3",
            params![connection_id, plugin, key],
            |r| {
                let line_ids: String = r.get(3)?;
                Ok(Mapped {
                    object_id: r.get(0)?,
                    edit_sequence: r.get(1)?,
                    request_type: r.get(2)?,
                    line_ids: serde_json::from_str(&line_ids).unwrap_or_default(),
                    written: r.get(4)?,
                })
            },
        )
        .optional()?;
    Ok(row)
}

/// What a claimed job sends.
pub(crate) enum ToSend {
    /// This request.
    Request(String),
    /// Nothing: the job is held with this advice (a Mod QuickBooks has no form for, a void of
    /// something QuickBooks never had).
    Hold(String),
}

/// The request a claimed job sends: its own for a first write; for a later version the
/// matching Mod with the object's current identity (ListID/TxnID, EditSequence, TxnLineIDs
/// paired by line key or position); for a void or delete the removal. What was built is kept
/// on the job (`sent_type`, `sent_qbxml`) with the query that re-reads the object
/// (`refresh_query`), used after a stale EditSequence or an unknown outcome.
pub(crate) fn request_to_send(
    tx: &Tx<'_>,
    job_id: i64,
    qbxml: String,
) -> Result<ToSend, StoreError> {
    let (connection_id, plugin, key, action, modifies, line_keys): (
        i64,
        String,
        String,
        String,
        bool,
        String,
    ) = tx.query_row(
        "SELECT connection_id, plugin, key, action, modifies, line_keys FROM job WHERE id=?1",
        [job_id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    let action = Action::parse(&action).unwrap_or_default();
    if !modifies {
        return Ok(ToSend::Request(qbxml));
    }
    let Some(m) = mapped(tx, connection_id, &plugin, &key)? else {
        return Ok(match action {
            // The Add it would change never completed: this version is the first write.
            Action::Write => ToSend::Request(qbxml),
            Action::Void | Action::Delete => ToSend::Hold(format!(
                "QuickBooks never had {key}, so there is nothing to void or delete; cancel this job with `qbridge jobs cancel {job_id}`"
            )),
        });
    };
    let line_keys: Vec<String> = serde_json::from_str(&line_keys).unwrap_or_default();
    let built = build(&m, action, &qbxml, &line_keys);
    let changed = match built {
        Ok(changed) => changed,
        Err(e) => {
            return Ok(ToSend::Hold(format!(
                "qbridge cannot change {key} in QuickBooks: {e}. Change it in QuickBooks by hand, then cancel this job with `qbridge jobs cancel {job_id}`"
            )));
        }
    };
    let refresh = change::query_by_id(&m.request_type, &m.object_id).ok();
    tx.execute(
        "UPDATE job SET sent_type=?2, sent_qbxml=?3, refresh_query=?4 WHERE id=?1",
        params![job_id, changed.request_type, changed.qbxml, refresh],
    )?;
    Ok(ToSend::Request(changed.qbxml))
}

fn build(
    m: &Mapped,
    action: Action,
    qbxml: &str,
    line_keys: &[String],
) -> Result<change::Changed, ChangeError> {
    let identity = |lines: Vec<Option<String>>| Identity {
        id: m.object_id.clone(),
        edit_sequence: m.edit_sequence.clone().unwrap_or_default(),
        line_ids: lines,
    };
    let is_txn = change::removal_for(&m.request_type).is_some();
    match action {
        Action::Write => {
            let kinds = change::add_line_kinds(qbxml)?;
            change::to_mod(qbxml, &identity(pair_lines(&m.line_ids, &kinds, line_keys)))
        }
        Action::Void | Action::Delete if is_txn => {
            let how = match (action, change::removal_for(&m.request_type)) {
                (Action::Delete, _) => Removal::Delete,
                (_, Some(how)) => how,
                (_, None) => Removal::Void,
            };
            change::remove_txn(&m.request_type, &m.object_id, how).or_else(|e| match how {
                // A type QuickBooks cannot delete is voided: its amounts leave the books.
                Removal::Delete => change::remove_txn(&m.request_type, &m.object_id, Removal::Void),
                Removal::Void => Err(e),
            })
        }
        Action::Void | Action::Delete => {
            change::deactivate(m.written.as_deref().unwrap_or(qbxml), &identity(Vec::new()))
        }
    }
}

/// TxnLineIDs for the lines of a new version, in its document order: by line key where both
/// versions have keys, else the n-th line of a kind takes the n-th id of that kind; `None`
/// (a new line, `-1`) otherwise.
fn pair_lines(
    old: &[(String, String, Option<String>)],
    kinds: &[String],
    keys: &[String],
) -> Vec<Option<String>> {
    let by_key = !keys.is_empty() && old.iter().any(|(_, _, k)| k.is_some());
    let mut used = vec![false; old.len()];
    let mut out = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let pick = old.iter().enumerate().position(|(j, (k, _, line_key))| {
            !used[j]
                && k == kind
                && (!by_key || line_key.as_deref() == keys.get(i).map(String::as_str))
        });
        out.push(pick.map(|j| {
            used[j] = true;
            old[j].1.clone()
        }));
    }
    out
}

/// After a write reached QuickBooks: the key's identity and what it now holds — the
/// version's hash, the Add written (what a later conflict is judged against), the TxnLineIDs
/// QuickBooks gave its lines (with the plugin's line keys) and, after a void or delete, that
/// the object is gone from the books.
pub(crate) fn record_written(
    tx: &Tx<'_>,
    job_id: i64,
    ret_xml: Option<&str>,
) -> Result<(), StoreError> {
    let (connection_id, plugin, key, action, content_hash, qbxml, line_keys, request_type): (
        i64,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        String,
    ) = tx.query_row(
        "SELECT connection_id, plugin, key, action, content_hash, qbxml, line_keys,
                COALESCE(sent_type, request_type) FROM job WHERE id=?1",
        [job_id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        },
    )?;
    let action = Action::parse(&action).unwrap_or_default();
    if is_query(&request_type) {
        return Ok(());
    }
    if request_type == "TxnDel" {
        // Gone from QuickBooks: a later write of the key is an Add again.
        tx.execute(
            "DELETE FROM mapping WHERE connection_id=?1 AND plugin=?2 AND key=?3",
            params![connection_id, plugin, key],
        )?;
        return Ok(());
    }
    let line_keys: Vec<String> = serde_json::from_str(&line_keys).unwrap_or_default();
    let lines: Vec<(String, String, Option<String>)> = ret_xml
        .map(change::ret_line_ids)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, (kind, id))| (kind, id, line_keys.get(i).cloned()))
        .collect();
    let removed = match (action, request_type.as_str()) {
        (Action::Write, _) => None,
        (_, "TxnVoid") => Some("voided"),
        _ => Some("inactive"),
    };
    if action == Action::Write {
        tx.execute(
            "UPDATE mapping SET content_hash=?4, written=?5, line_ids=?6, removed=NULL
             WHERE connection_id=?1 AND plugin=?2 AND key=?3",
            params![
                connection_id,
                plugin,
                key,
                content_hash,
                qbxml,
                serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into())
            ],
        )?;
    } else {
        tx.execute(
            "UPDATE mapping SET content_hash=?4, removed=?5 WHERE connection_id=?1 AND plugin=?2 AND key=?3",
            params![connection_id, plugin, key, content_hash, removed],
        )?;
    }
    Ok(())
}

impl crate::store::Store {
    /// What qbridge last wrote for the job's key (its Add), to tell a bookkeeper's edit from
    /// the source's change; `None` before versions were kept.
    pub fn written_before(&self, job_id: i64) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT m.written FROM job j JOIN mapping m ON m.connection_id=j.connection_id
                   AND m.plugin=j.plugin AND m.key=j.key WHERE j.id=?1",
                [job_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
        })
    }
}

/// The object as QuickBooks has it now (re-read after a stale EditSequence or an unknown
/// outcome): its EditSequence and TxnLineIDs replace the stored ones, line keys kept for the
/// lines that are still there, so the next Mod is built on what QuickBooks holds.
pub(crate) fn refresh_identity(
    tx: &Tx<'_>,
    job_id: i64,
    ret_xml: &str,
    edit_sequence: Option<&str>,
) -> Result<(), StoreError> {
    let (connection_id, plugin, key): (i64, String, String) = tx.query_row(
        "SELECT connection_id, plugin, key FROM job WHERE id=?1",
        [job_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Some(m) = mapped(tx, connection_id, &plugin, &key)? else {
        return Ok(());
    };
    let lines: Vec<(String, String, Option<String>)> = change::ret_line_ids(ret_xml)
        .into_iter()
        .map(|(kind, id)| {
            let line_key = m
                .line_ids
                .iter()
                .find(|(_, old, _)| *old == id)
                .and_then(|(_, _, k)| k.clone());
            (kind, id, line_key)
        })
        .collect();
    tx.execute(
        "UPDATE mapping SET edit_sequence=COALESCE(?4, edit_sequence), line_ids=?5
         WHERE connection_id=?1 AND plugin=?2 AND key=?3",
        params![
            connection_id,
            plugin,
            key,
            edit_sequence,
            serde_json::to_string(&lines).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pair_lines;

    fn old() -> Vec<(String, String, Option<String>)> {
        vec![
            ("InvoiceLine".into(), "L1".into(), Some("a".into())),
            ("InvoiceLine".into(), "L2".into(), Some("b".into())),
            ("InvoiceLine".into(), "L3".into(), Some("c".into())),
        ]
    }

    #[test]
    fn lines_pair_by_key_so_a_removed_line_does_not_shift_the_others() {
        let kinds = vec!["InvoiceLine".to_string(); 3];
        let keys = ["a", "c", "new"].map(String::from);
        assert_eq!(
            pair_lines(&old(), &kinds, &keys),
            vec![Some("L1".into()), Some("L3".into()), None]
        );
    }

    #[test]
    fn without_keys_lines_pair_by_position_within_their_kind() {
        let old = vec![
            ("ExpenseLine".to_string(), "E1".to_string(), None),
            ("ItemLine".to_string(), "I1".to_string(), None),
        ];
        let kinds = ["ExpenseLine", "ExpenseLine", "ItemLine"].map(String::from);
        assert_eq!(
            pair_lines(&old, &kinds, &[]),
            vec![Some("E1".into()), None, Some("I1".into())]
        );
    }
}
