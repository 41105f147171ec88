//! Changes after the first sync: what an answer means for a job that changes an object
//! QuickBooks already has, and for a probe that finds one.
//!
//! A later version of a key is sent as the matching Mod (built at claim time by
//! `store::queue::versions`). When QuickBooks answers 3200 — the object changed since
//! qbridge last read it — the job re-reads the object (its `refresh_query`) and judges what
//! came back here: equal to what the version asks → done; otherwise the identity is
//! refreshed and the Mod sent again, unless a bookkeeper edited fields qbridge wrote and the
//! plugin's policy (`edits.conflict`) is `hold`: then the job waits with a field-by-field
//! diff. The same re-read settles a Mod whose answer was lost. A probe that finds an object
//! for an Add adopts it only if the fields the plugin marks significant are equal; otherwise
//! the object is adopted and changed to the source's version (or held, under `hold`).

use qbridge_sdk::qbxml::change::{self, FieldDiff};

use super::Pipeline;
use super::policy::OnEdit;
use crate::qbxml::{Outcome, Response};
use crate::store::StoreError;
use crate::store::queue::{Action, JobBrief, JobResult};

impl Pipeline {
    /// The answer to the re-read of the object a version changes.
    pub(super) fn refreshed(
        &self,
        job_id: i64,
        brief: &JobBrief,
        rs: &Response,
        completed: impl FnOnce(&Response) -> JobResult,
    ) -> Result<JobResult, StoreError> {
        let found =
            matches!(rs.outcome, Outcome::Success | Outcome::Warning(_)) && rs.ret_count > 0;
        match &rs.outcome {
            Outcome::Transient(code) => {
                return Ok(JobResult::Retry {
                    code: *code,
                    message: rs.message.clone(),
                });
            }
            Outcome::Permanent { code, advice } => {
                return Ok(JobResult::Discard {
                    code: *code,
                    message: format!("re-reading the object failed: {}", rs.message),
                    advice: advice.clone(),
                });
            }
            _ => {}
        }
        let ret = rs.ret_xml.clone().unwrap_or_default();
        if !found {
            return Ok(match brief.action {
                Action::Delete => completed(rs),
                Action::Write | Action::Void => JobResult::Hold {
                    code: rs.status_code,
                    message: "the object is no longer in QuickBooks".into(),
                    advice: format!(
                        "{} was deleted in QuickBooks after qbridge wrote it, so this change has nothing to apply to. \
                         Run `qbridge jobs cancel {job_id}` to leave it deleted.",
                        brief.key
                    ),
                },
            });
        }
        if brief.action != Action::Write {
            // A void or delete that may not have landed is sent again: voiding twice changes
            // nothing, and a deleted object would not have been found.
            return Ok(JobResult::Refreshed {
                ret_xml: ret,
                edit_sequence: rs.edit_sequence.clone(),
                note: None,
            });
        }
        let request = self.store.job_request(job_id)?;
        let significant: Vec<&str> = brief.significant.iter().map(String::as_str).collect();
        let asked = change::compare(&request.qbxml, &ret, &significant);
        if asked.is_empty() {
            return Ok(completed(rs));
        }
        let edited = if brief.last_status == Some(3200) {
            self.store
                .written_before(job_id)?
                .map(|w| change::compare(&w, &ret, &significant))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(self.over_edit(job_id, brief, rs, ret, &edited, &asked))
    }

    /// A probe for an Add found an object: adopted as it is when its significant fields equal
    /// the Add's; otherwise adopted and changed to the source's version, or held under `hold`.
    /// Plugins before interface 0.3.0 (which cannot modify) adopt without comparing.
    pub(super) fn probe_found(
        &self,
        job_id: i64,
        brief: &JobBrief,
        rs: &Response,
        completed: impl FnOnce(&Response) -> JobResult,
    ) -> Result<JobResult, StoreError> {
        let request = self.store.job_request(job_id)?;
        let modifies = request
            .request_type
            .strip_suffix("Add")
            .is_some_and(|object| {
                self.plugins
                    .manifest(&brief.plugin)
                    .is_some_and(|m| m.request_types.iter().any(|t| *t == format!("{object}Mod")))
            });
        let ret = match (&rs.ret_xml, modifies) {
            (Some(ret), true) if rs.ret_count == 1 => ret.clone(),
            _ => return Ok(completed(rs)),
        };
        let significant: Vec<&str> = brief.significant.iter().map(String::as_str).collect();
        let differs = change::compare(&request.qbxml, &ret, &significant);
        if differs.is_empty() {
            return Ok(completed(rs));
        }
        let (hold, note) = match self.rules.edits.for_plugin(&brief.plugin) {
            OnEdit::Hold => (
                Some((
                    lines(&differs),
                    format!(
                        "QuickBooks already has {} but it differs from the source: {}. \
                         `qbridge jobs retry {job_id}` changes it to the source's version; `qbridge jobs cancel {job_id}` keeps QuickBooks' version.",
                        brief.key,
                        lines(&differs).join("; ")
                    ),
                )),
                None,
            ),
            OnEdit::SourceWins => (
                None,
                Some(format!(
                    "found in QuickBooks with other values ({}); changed to the source's version",
                    lines(&differs).join("; ")
                )),
            ),
        };
        Ok(JobResult::Adopted {
            object_id: rs.list_id.clone().or_else(|| rs.txn_id.clone()),
            edit_sequence: rs.edit_sequence.clone(),
            ret_xml: ret,
            hold,
            note,
        })
    }

    /// The re-read object differs from what the version asks: refresh and send again, noting
    /// a bookkeeper's edit the source overwrites — or hold with the diff under `hold`.
    fn over_edit(
        &self,
        job_id: i64,
        brief: &JobBrief,
        rs: &Response,
        ret: String,
        edited: &[FieldDiff],
        asked: &[FieldDiff],
    ) -> JobResult {
        if edited.is_empty() {
            return JobResult::Refreshed {
                ret_xml: ret,
                edit_sequence: rs.edit_sequence.clone(),
                note: None,
            };
        }
        let diff: Vec<String> = edited
            .iter()
            .map(|d| {
                let source = asked
                    .iter()
                    .find(|a| a.field == d.field)
                    .and_then(|a| a.written.clone())
                    .or_else(|| d.written.clone())
                    .unwrap_or_default();
                format!(
                    "{}: QuickBooks has {:?}, qbridge wrote {:?}, the source now has {:?}",
                    d.field,
                    d.current.as_deref().unwrap_or(""),
                    d.written.as_deref().unwrap_or(""),
                    source
                )
            })
            .collect();
        match self.rules.edits.for_plugin(&brief.plugin) {
            OnEdit::Hold => JobResult::Conflict {
                ret_xml: ret,
                edit_sequence: rs.edit_sequence.clone(),
                advice: format!(
                    "{} was edited in QuickBooks since qbridge wrote it ({}). \
                     `qbridge jobs retry {job_id}` writes the source's version over the edit; `qbridge jobs cancel {job_id}` keeps QuickBooks' version.",
                    brief.key,
                    diff.join("; ")
                ),
                diff,
            },
            OnEdit::SourceWins => JobResult::Refreshed {
                ret_xml: ret,
                edit_sequence: rs.edit_sequence.clone(),
                note: Some(format!(
                    "edited in QuickBooks since qbridge wrote it; the source's version was written over it (edits.conflict = source-wins): {}",
                    diff.join("; ")
                )),
            },
        }
    }
}

fn lines(diffs: &[FieldDiff]) -> Vec<String> {
    diffs.iter().map(ToString::to_string).collect()
}
