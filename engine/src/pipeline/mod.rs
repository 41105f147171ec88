//! The sync pipeline: source record → plugin `map` → queue → QBWC session → QuickBooks →
//! outcome → plugin `on_response` → follow-ups, and for pulled records plugin `acknowledge`
//! → source system; calls that fail are retried by [`deferred`].
//!
//! This module decides *what* QuickBooks is asked and what each answer means for a job; the
//! queue (`store::queue`) makes every step durable and the QBWC session (`qbwc`) owns the
//! protocol. Invariants:
//! - A record is committed with all its jobs before the source is acknowledged ([`ingest`]).
//! - A message set never contains a request whose dependencies have not completed, and the
//!   claimed jobs are `sent` in SQLite before the XML leaves the engine.
//! - A job whose outcome is unknown is resolved by qbXML error recovery (`oldMessageSetID`)
//!   or its probe before anything is re-sent: the effect in QuickBooks is exactly once.

pub mod bulk;
pub mod cli;
pub mod deferred;
mod edits;
pub mod http;
pub mod ingest;
pub mod names;
pub mod policy;
pub mod pull;
pub mod rejected;

use std::collections::HashMap;
use std::sync::Arc;

use crate::plugins::PluginManager;
use crate::qbwc::{SessionContext, SessionEnd, WorkError, WorkProvider};
use crate::qbxml::names::NameList;
use crate::qbxml::{self, OnError, Outcome, Recovery, Response};
use crate::store::audit::AuditEntry;
use crate::store::queue::{
    AnswerTo, Answered, Answering, BatchLimits, Claim, JobBrief, JobRequest, JobResult, NewJob,
    NextPage,
};
use crate::store::{Store, StoreError};

/// What the current message set of a session was, to interpret its response. Kept in the
/// session's row: behind a balancer the response may reach another node than the request.
#[derive(Debug, Clone, PartialEq)]
enum InFlight {
    /// A status check of an unanswered message set.
    Recover(String),
    /// Requests (and the message set id, for mutating sets).
    Send(Option<String>),
}

impl InFlight {
    fn encode(&self) -> String {
        match self {
            InFlight::Recover(id) => format!("recover:{id}"),
            InFlight::Send(Some(id)) => format!("send:{id}"),
            InFlight::Send(None) => "send".to_string(),
        }
    }

    fn decode(text: &str) -> Option<InFlight> {
        match text.split_once(':') {
            Some(("recover", id)) => Some(InFlight::Recover(id.to_string())),
            Some(("send", id)) => Some(InFlight::Send(Some(id.to_string()))),
            None if text == "send" => Some(InFlight::Send(None)),
            _ => None,
        }
    }
}

/// How answers that would otherwise repeat forever are judged.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Sends of a job's request without it being applied, after which it is held
    /// (`pipeline.max_sends`).
    pub max_sends: i64,
    /// What to do when another list of the shared name space holds a name (`names.*`).
    pub names: names::NamePolicy,
    /// What to do when an object qbridge wrote was edited in QuickBooks since (`edits.*`).
    pub edits: policy::PerPlugin<policy::OnEdit>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_sends: 3,
            names: names::NamePolicy::default(),
            edits: policy::PerPlugin::new(policy::OnEdit::SourceWins),
        }
    }
}

/// The pipeline as a [`WorkProvider`] for the QBWC server.
pub struct Pipeline {
    store: Store,
    plugins: Arc<PluginManager>,
    limits: BatchLimits,
    rules: Rules,
}

impl Pipeline {
    /// A pipeline over the store and the running plugins.
    pub fn new(
        store: Store,
        plugins: Arc<PluginManager>,
        limits: BatchLimits,
        rules: Rules,
    ) -> Pipeline {
        Pipeline {
            store,
            plugins,
            limits,
            rules,
        }
    }

    /// What one response means for the job that sent it; `lookups` are the answers to the
    /// name-space lookups sent beside a probe (which lists hold the name).
    fn judge(
        &self,
        ctx: &SessionContext,
        job_id: i64,
        rs: &Response,
        lookups: &[(NameList, bool)],
    ) -> Result<JobResult, StoreError> {
        let brief = self.store.job_brief(job_id)?;
        // Follow-ups from the plugin; `None` when its `on_response` failed. The write is in
        // QuickBooks either way, so the job completes and the call is retried later
        // (`plugin_calls`) — after the admin fixed or swapped the plugin if need be.
        let follow_ups = |rs: &Response| -> Option<Vec<NewJob>> {
            let xml = rs.ret_xml.as_deref().unwrap_or("");
            match self
                .plugins
                .on_response(&brief.plugin, Some(ctx.connection_id), &brief.key, xml)
            {
                Ok(requests) => {
                    let manifest = self.plugins.manifest(&brief.plugin)?;
                    Some(
                        requests
                            .iter()
                            .map(|r| ingest::to_new_job(r, &manifest))
                            .collect(),
                    )
                }
                Err(e) => {
                    tracing::error!(job = job_id, plugin = %brief.plugin, error = %e, "plugin on_response failed; it will be called again");
                    None
                }
            }
        };
        let completed = |rs: &Response| {
            let follow_ups = follow_ups(rs);
            JobResult::Completed {
                object_id: rs.list_id.clone().or_else(|| rs.txn_id.clone()),
                edit_sequence: rs.edit_sequence.clone(),
                retry_on_response: follow_ups.is_none(),
                follow_ups: follow_ups.unwrap_or_default(),
                acknowledge: self.plugins.acknowledges(&brief.plugin),
            }
        };
        if brief.probing && brief.refreshing {
            return self.refreshed(job_id, &brief, rs, completed);
        }
        Ok(if brief.probing {
            match &rs.outcome {
                Outcome::Success | Outcome::Warning(_) if rs.ret_count > 0 => {
                    self.probe_found(job_id, &brief, rs, completed)?
                }
                Outcome::Success | Outcome::Warning(_) | Outcome::NoMatch => {
                    self.not_applied(job_id, &brief, rs, lookups)?
                }
                Outcome::Transient(code) => JobResult::Retry {
                    code: *code,
                    message: rs.message.clone(),
                },
                Outcome::Permanent { code, advice } => JobResult::Discard {
                    code: *code,
                    message: format!("the probe query failed: {}", rs.message),
                    advice: advice.clone(),
                },
            }
        } else {
            match &rs.outcome {
                Outcome::Success | Outcome::Warning(_) if rs.next_page().is_some() => {
                    self.page(ctx, job_id, &brief, rs, completed(rs))?
                }
                Outcome::Success | Outcome::Warning(_) | Outcome::NoMatch => completed(rs),
                Outcome::Transient(code) => JobResult::Retry {
                    code: *code,
                    message: rs.message.clone(),
                },
                Outcome::Permanent { code: 3100, .. }
                    if brief.adopt_existing && brief.has_probe =>
                {
                    JobResult::Verify {
                        message: rs.message.clone(),
                    }
                }
                Outcome::Permanent { code: 3200, .. } if brief.refreshing => JobResult::Stale {
                    message: rs.message.clone(),
                },
                Outcome::Permanent { code: 3260, .. } => JobResult::Discard {
                    code: 3260,
                    message: rs.message.clone(),
                    advice: permission_advice(ctx, &brief.plugin, &brief.request_type),
                },
                Outcome::Permanent { code, advice } => JobResult::Discard {
                    code: *code,
                    message: rs.message.clone(),
                    advice: advice.clone(),
                },
            }
        })
    }

    /// One page of an iterated query, with more to come: the page completes like any answer
    /// (the plugin's `on_response` gets its `*Ret`s), and the next page is queued as the job
    /// `<key>#<n+1>`, to be sent in this session while QuickBooks keeps the iterator. A page
    /// cut short by the response cap would lose records silently, so it is held instead.
    fn page(
        &self,
        ctx: &SessionContext,
        job_id: i64,
        brief: &JobBrief,
        rs: &Response,
        done: JobResult,
    ) -> Result<JobResult, StoreError> {
        if rs.ret_xml_truncated {
            return Ok(JobResult::Hold {
                code: rs.status_code,
                message: format!(
                    "a page of {} was larger than the {} KiB qbridge keeps of an answer",
                    brief.request_type,
                    qbxml::RET_XML_CAP / 1024
                ),
                advice: format!(
                    "The plugin {} asks for more records per page than fit; lower its MaxReturned, install the fixed plugin and retry job {job_id}.",
                    brief.plugin
                ),
            });
        }
        let request = self.store.job_request(job_id)?;
        let Some(qbxml) = rs
            .next_page()
            .and_then(|id| qbxml::continue_iteration(&request.qbxml, id))
        else {
            return Ok(done);
        };
        Ok(JobResult::Page {
            done: Box::new(done),
            next: NextPage {
                key: next_page_key(&brief.key),
                qbxml,
                session_id: ctx.session_id,
            },
        })
    }

    /// The probe proved the request was not applied. If another list holds the name a
    /// name-list Add creates, the name policy decides; otherwise it is sent again — unless it
    /// went out `max_sends` times already, when sending it again would only repeat the same
    /// answer: then it is held with advice.
    fn not_applied(
        &self,
        job_id: i64,
        brief: &JobBrief,
        rs: &Response,
        lookups: &[(NameList, bool)],
    ) -> Result<JobResult, StoreError> {
        if let Some(holder) = lookups.iter().find(|(_, found)| *found).map(|(l, _)| *l) {
            let request = self.store.job_request(job_id)?;
            let check =
                names::NameCheck::of(&request.request_type, &request.qbxml, request.last_status);
            if let Some(check) = check
                && let Some(result) = self.name_taken(job_id, brief, &request, &check, holder)
            {
                return Ok(result);
            }
        }
        if brief.sends >= self.rules.max_sends {
            // The status that matters is the request's last answer, not the probe's "not found".
            let code = brief.last_status.map_or(rs.status_code, |c| c as i32);
            return Ok(JobResult::Hold {
                code,
                message: format!("sent {} times without QuickBooks applying it", brief.sends),
                advice: format!(
                    "QuickBooks was sent this request {} times and did not apply it (last status {code}), so qbridge stopped sending it. \
                     `qbridge jobs show {job_id}` lists every answer QuickBooks gave. Fix what they point at (in QuickBooks or in the source), \
                     then run `qbridge jobs retry {job_id}`; if the record is already in QuickBooks, run `qbridge jobs cancel {job_id}`.",
                    brief.sends
                ),
            });
        }
        Ok(JobResult::NotApplied)
    }

    /// Another list (`holder`) holds the name the job creates: rename it or hold it, as the
    /// plugin's policy says. A job already renamed whose new name is taken too is held: a
    /// second rename would only loop. `None` if the request cannot be renamed.
    fn name_taken(
        &self,
        job_id: i64,
        brief: &JobBrief,
        request: &JobRequest,
        check: &names::NameCheck,
        holder: NameList,
    ) -> Option<JobResult> {
        let hold = |tried: &str| JobResult::Hold {
            code: 3100,
            message: format!(
                "\"{tried}\" is used by a {} in QuickBooks",
                holder.tag().to_lowercase()
            ),
            advice: names::hold_advice(job_id, check, holder, tried),
        };
        if self.rules.names.on_conflict.for_plugin(&brief.plugin) == names::OnConflict::Hold {
            return Some(hold(&check.name));
        }
        let from = brief.renamed_from.as_deref().unwrap_or(&check.name);
        let chosen = qbxml::names::disambiguated(from, check.list, &self.rules.names.suffix);
        if chosen.eq_ignore_ascii_case(&check.name) {
            return Some(hold(&chosen));
        }
        let probe = request.probe.as_deref().map(|p| {
            qbxml::names::retarget(p, check.list, &check.name, &chosen)
                .unwrap_or_else(|| p.to_string())
        });
        Some(JobResult::Renamed {
            qbxml: qbxml::names::rename_add(&request.qbxml, &chosen)?,
            probe,
            from: from.to_string(),
            note: names::rename_note(check, holder, &chosen),
        })
    }

    /// Response entries that answered nothing this session sent: a confused or hostile client.
    /// Logged with the session and user, and audited, so an attempt to complete another
    /// company file's jobs leaves a trace; the genuine answers beside them were applied.
    fn report_ignored(&self, ctx: &SessionContext, ignored: Vec<String>) {
        if ignored.is_empty() {
            return;
        }
        tracing::warn!(
            session = ctx.session_id,
            user = %ctx.username,
            connection = %ctx.connection,
            ignored = ignored.len(),
            first = ?ignored.iter().take(5).collect::<Vec<_>>(),
            "response entries that answer nothing this session sent were ignored"
        );
        let entry = AuditEntry {
            actor: format!("qbwc:{}", ctx.username),
            action: "qbwc.response_ignored".into(),
            target: format!("connection:{}", ctx.connection),
            detail: serde_json::json!({
                "session": ctx.session_id,
                "count": ignored.len(),
                "request_ids": ignored.iter().take(20).collect::<Vec<_>>(),
            }),
            ip: None,
            user_agent: None,
        };
        if let Err(e) = self.store.audit(&entry) {
            tracing::error!(error = %e, "could not audit ignored response entries");
        }
    }

    /// For each probe verifying a name-list Add that QuickBooks answered with 3100, the
    /// queries asking the other lists of the name space for the name (see [`names`]).
    fn name_lookups(
        &self,
        jobs: &[crate::store::queue::ClaimedJob],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for j in jobs.iter().filter(|j| j.probing) {
            let request = self.store.job_request(j.job_id)?;
            let check =
                names::NameCheck::of(&request.request_type, &request.qbxml, request.last_status);
            for (list, query) in check.iter().flat_map(names::NameCheck::lookups) {
                out.push((format!("{}.{list}", j.request_id), query));
            }
        }
        Ok(out)
    }

    fn percent(&self, ctx: &SessionContext, answered: u64) -> Result<u8, StoreError> {
        if !self.store.has_work(ctx.connection_id)? {
            return Ok(100);
        }
        let pending = self.store.pending_jobs(ctx.connection_id)? as u64;
        let total = answered + pending.max(1);
        Ok(((answered * 100) / total).min(99) as u8)
    }
}

/// Runs `round` on the blocking pool every `every` until the process stops (the background
/// loops: scheduled pulls, deferred plugin calls). Rounds never overlap; a failed round is
/// logged under `what` and the next tick tries again.
pub async fn run_every(
    every: std::time::Duration,
    what: &'static str,
    round: impl Fn() -> Result<(), StoreError> + Send + Sync + 'static,
) {
    let round = Arc::new(round);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let round = round.clone();
        match tokio::task::spawn_blocking(move || round()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "{what}: the store could not be read"),
            Err(e) => tracing::error!(error = %e, "{what}: task failed"),
        }
    }
}

/// Plain advice for status 3260: which permission, for which request, declared by which
/// plugin, and how to fix it.
pub fn permission_advice(ctx: &SessionContext, plugin: &str, request_type: &str) -> String {
    let area = qbxml::permission_area(request_type)
        .map(|a| format!("{} (Pro/Premier: {})", a.enterprise_name(), a.pro_name()))
        .unwrap_or_else(|| "the area this request needs".to_string());
    format!(
        "The QuickBooks user the Web Connector logs in as for `{user}` lacks {area} access, needed by plugin {plugin} for {request_type}. \
         Fix: in QuickBooks (Company > Users), give that user {area} access or the Full Access role — ideally a dedicated QuickBooks user for qbridge — \
         and choose it under Edit > Preferences > Integrated Applications > Properties > Login as. Then retry the job.",
        user = ctx.username
    )
}

/// A response entry's requestID as logged (bounded: it comes from the client).
fn request_id(rs: &Response) -> String {
    match rs.request_id.as_deref() {
        None => "(none)".to_string(),
        Some(id) => id.chars().take(60).collect(),
    }
}

/// What `jobs show` displays for an answer: the Ret elements, or the status as a well-formed
/// element.
fn raw_response(rs: &Response) -> String {
    rs.ret_xml.clone().unwrap_or_else(|| {
        let message = rs
            .message
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;");
        format!(
            "<{} statusCode=\"{}\" statusMessage=\"{message}\"/>",
            rs.kind, rs.status_code
        )
    })
}

fn work_err(e: impl std::fmt::Display) -> WorkError {
    WorkError(format!(
        "qbridge could not prepare the sync: {e}. The server log has details."
    ))
}

impl WorkProvider for Pipeline {
    fn has_work(&self, connection_id: i64) -> Result<bool, WorkError> {
        self.store.has_work(connection_id).map_err(work_err)
    }

    fn next_request(&self, ctx: &SessionContext) -> Result<Option<String>, WorkError> {
        let claim = self
            .store
            .claim(ctx.connection_id, ctx.session_id, self.limits)
            .map_err(work_err)?;
        let (xml, in_flight) = match claim {
            None => return Ok(None),
            Some(Claim::Recover { old_message_set_id }) => (
                qbxml::build_message_set(
                    ctx.qbxml_version,
                    OnError::Continue,
                    &Recovery::Old(old_message_set_id.clone()),
                    &[],
                ),
                InFlight::Recover(old_message_set_id),
            ),
            Some(Claim::Send {
                message_set_id,
                jobs,
            }) => {
                let lookups = self.name_lookups(&jobs).map_err(work_err)?;
                let requests: Vec<(&str, &str)> = jobs
                    .iter()
                    .map(|j| (j.request_id.as_str(), j.qbxml.as_str()))
                    .chain(lookups.iter().map(|(id, xml)| (id.as_str(), xml.as_str())))
                    .collect();
                let recovery = match &message_set_id {
                    Some(id) => Recovery::New(id.clone()),
                    None => Recovery::None,
                };
                (
                    // Everything in one set is independent (dependencies completed before),
                    // so one failure must not stop the others.
                    qbxml::build_message_set(
                        ctx.qbxml_version,
                        OnError::Continue,
                        &recovery,
                        &requests,
                    ),
                    InFlight::Send(message_set_id),
                )
            }
        };
        let xml = xml.map_err(work_err)?;
        self.store
            .set_in_flight(ctx.connection_id, ctx.session_id, Some(&in_flight.encode()))
            .map_err(work_err)?;
        crate::failpoint::hit("queue::after_claim_commit");
        Ok(Some(xml))
    }

    fn receive_response(&self, ctx: &SessionContext, response_xml: &str) -> Result<u8, WorkError> {
        let in_flight = self
            .store
            .take_in_flight(ctx.connection_id, ctx.session_id)
            .map_err(work_err)?
            .and_then(|text| InFlight::decode(&text));
        let parsed = qbxml::parse_response(response_xml.as_bytes()).map_err(|e| {
            WorkError(format!("QuickBooks' response could not be read ({e}); the requests will be verified next session"))
        });
        let response = match parsed {
            Ok(response) => response,
            Err(e) => {
                // Unknown outcome: treat like a lost response.
                let _ = self.store.session_lost(ctx.session_id);
                return Err(e);
            }
        };
        crate::failpoint::hit("pipeline::after_send_before_commit");
        let set = match &in_flight {
            Some(InFlight::Recover(old)) => Answering::Recovered(old),
            Some(InFlight::Send(id)) => Answering::Sent(id.as_deref()),
            None => {
                // Nothing is outstanding in this session (e.g. the engine restarted since the
                // request left): the response answers nothing.
                let ignored = response.responses.iter().map(request_id).collect();
                self.report_ignored(ctx, ignored);
                return self.percent(ctx, 0).map_err(work_err);
            }
        };
        let to = AnswerTo {
            connection_id: ctx.connection_id,
            session_id: ctx.session_id,
            set,
        };
        // Only what this session sent in the outstanding set is judged: another company
        // file's jobs, jobs never sent and stale attempts are ignored, never applied.
        let mut owed = self.store.owed_jobs(&to).map_err(work_err)?;
        // Answers to name-space lookups, by the requestID of the probe they were sent with.
        let mut lookups: HashMap<String, Vec<(NameList, bool)>> = HashMap::new();
        for rs in &response.responses {
            if let Some((probe, list)) = rs.request_id.as_deref().and_then(names::lookup_of)
                && owed.contains_key(probe)
            {
                let found = matches!(rs.outcome, Outcome::Success | Outcome::Warning(_))
                    && rs.ret_count > 0;
                lookups
                    .entry(probe.to_string())
                    .or_default()
                    .push((list, found));
            }
        }
        let mut results = Vec::with_capacity(response.responses.len());
        let mut ignored = Vec::new();
        for rs in &response.responses {
            if rs
                .request_id
                .as_deref()
                .and_then(names::lookup_of)
                .is_some_and(|(probe, _)| lookups.contains_key(probe))
            {
                continue;
            }
            let Some((rid, job_id)) = rs
                .request_id
                .as_deref()
                .and_then(|rid| owed.remove_entry(rid))
            else {
                ignored.push(request_id(rs));
                continue;
            };
            let found = lookups.get(&rid).map_or(&[][..], Vec::as_slice);
            let result = self.judge(ctx, job_id, rs, found).map_err(work_err)?;
            results.push(Answered {
                request_id: rid,
                job_id,
                result,
                response: Some(raw_response(rs)),
            });
        }
        if let (Answering::Recovered(old), true) = (set, results.is_empty()) {
            // QuickBooks has no stored response for that set: verify each job by probe.
            self.report_ignored(ctx, ignored);
            self.store.recovery_unavailable(old).map_err(work_err)?;
            return self.percent(ctx, 0).map_err(work_err);
        }
        let recorded = self.store.record_results(&to, &results).map_err(work_err)?;
        ignored.extend(recorded.ignored);
        self.report_ignored(ctx, ignored);
        crate::failpoint::hit("pipeline::after_commit_before_reply");
        self.percent(ctx, recorded.session_answered)
            .map_err(work_err)
    }

    fn receive_error(
        &self,
        ctx: &SessionContext,
        hresult: &str,
        message: &str,
    ) -> Result<(), WorkError> {
        // The request processor failed instead of answering: whether anything was applied is
        // unknown, so the sent jobs go in doubt and are checked before any re-send.
        self.store
            .set_in_flight(ctx.connection_id, ctx.session_id, None)
            .map_err(work_err)?;
        let n = self.store.session_lost(ctx.session_id).map_err(work_err)?;
        tracing::warn!(hresult, message, jobs = n, connection = %ctx.connection, "QuickBooks failed to process a request set");
        Ok(())
    }

    fn session_ended(&self, ctx: &SessionContext, how: SessionEnd) {
        match self.store.session_lost(ctx.session_id) {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(jobs = n, ?how, connection = %ctx.connection, "session ended with unanswered requests; they will be verified next session")
            }
            Err(e) => tracing::error!(error = %e, "could not mark unanswered requests in doubt"),
        }
    }
}

/// `lists:1:accounts` → `lists:1:accounts#2`, `…#2` → `…#3`.
fn next_page_key(key: &str) -> String {
    match key.rsplit_once('#') {
        Some((base, n)) if n.parse::<u32>().is_ok() => {
            format!("{base}#{}", n.parse::<u32>().unwrap_or(1) + 1)
        }
        _ => format!("{key}#2"),
    }
}

#[cfg(test)]
mod page_tests {
    #[test]
    fn page_keys_count_on_from_the_query_key() {
        assert_eq!(
            super::next_page_key("lists:7:accounts"),
            "lists:7:accounts#2"
        );
        assert_eq!(
            super::next_page_key("lists:7:accounts#2"),
            "lists:7:accounts#3"
        );
        assert_eq!(super::next_page_key("odd#name"), "odd#name#2");
    }
}
