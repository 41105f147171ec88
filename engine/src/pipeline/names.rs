//! QuickBooks' shared name space: what qbridge does when a name-list Add answers 3100 ("name
//! in use") and the job's own probe finds nothing — another list (customers, vendors,
//! employees, other names) holds the name.
//!
//! The probe set of such a job also asks each other list for the name (requestIDs
//! `j<job>.<attempt>.<List>` beside the probe's own `j<job>.<attempt>`), so one round trip
//! tells which list holds it. Then the plugin's [`OnConflict`] policy decides: `disambiguate`
//! sends the Add again under a deterministic suffixed name (recorded as a note, in the job
//! and, once created, in the mapping), `hold` waits for the bookkeeper with advice.
//!
//! Dependents follow the chosen name by `FullName`, rewritten in the stored request (at
//! completion for jobs already queued, at enqueue for later ones; see
//! `store::queue::names`): the request a job sends is exactly what `jobs show` displays, a
//! customer's jobs (`Name:Job`) follow their parent the same way, and no ListID has to be
//! known before the customer exists.

use super::policy::{Choice, PerPlugin};
use crate::qbxml::names::{self, NameList};

/// What to do when another list holds the name an Add creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Create the record under the name with a suffix naming its list (`Acme (C)`).
    Disambiguate,
    /// Hold the job with advice; the bookkeeper renames one of the two.
    Hold,
}

impl Choice for OnConflict {
    const NAMES: &'static [&'static str] = &["disambiguate", "hold"];
    fn parse(s: &str) -> Option<OnConflict> {
        match s {
            "disambiguate" => Some(OnConflict::Disambiguate),
            "hold" => Some(OnConflict::Hold),
            _ => None,
        }
    }
}

/// The name-conflict policy: a default, per-plugin overrides and the suffix template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePolicy {
    /// What to do, per plugin.
    pub on_conflict: PerPlugin<OnConflict>,
    /// Appended to a disambiguated name; `{initial}` is the list's letter (C, V, E, O).
    pub suffix: String,
}

impl Default for NamePolicy {
    fn default() -> Self {
        NamePolicy {
            on_conflict: PerPlugin::new(OnConflict::Disambiguate),
            suffix: " ({initial})".into(),
        }
    }
}

impl NamePolicy {
    /// Sets the suffix template (setting `names.suffix`): it must name the list, or two
    /// lists' records would get the same disambiguated name, and stay short so the name
    /// keeps most of its 41 characters.
    pub fn set_suffix(&mut self, v: &str) -> Result<(), String> {
        let len = v.replace("{initial}", "C").chars().count();
        if !v.contains("{initial}") || len > 10 {
            return Err(
                "text of at most 10 characters containing {initial}, such as \" ({initial})\""
                    .into(),
            );
        }
        self.suffix = v.to_string();
        Ok(())
    }
}

/// A name-list Add being verified after 3100: which list it creates in, under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCheck {
    /// The job's own list.
    pub list: NameList,
    /// The name it tried to create.
    pub name: String,
}

impl NameCheck {
    /// The check for a job, if it is a top-level name-list Add that QuickBooks last answered
    /// with 3100.
    pub fn of(request_type: &str, qbxml: &str, last_status: Option<i64>) -> Option<NameCheck> {
        if last_status != Some(3100) {
            return None;
        }
        Some(NameCheck {
            list: NameList::of_add(request_type)?,
            name: names::added_name(qbxml)?,
        })
    }

    /// The lookups to send beside the job's probe: `(requestID suffix, query)` for each
    /// other list of the name space.
    pub fn lookups(&self) -> Vec<(&'static str, String)> {
        NameList::ALL
            .into_iter()
            .filter(|l| *l != self.list)
            .map(|l| (l.tag(), l.lookup(&self.name)))
            .collect()
    }
}

/// Splits a lookup's requestID `j<job>.<attempt>.<List>` into the probe's id and the list.
pub fn lookup_of(request_id: &str) -> Option<(&str, NameList)> {
    let (base, tag) = request_id.rsplit_once('.')?;
    Some((base, NameList::from_tag(tag)?))
}

/// Advice for a job held because `holder` has the name.
pub fn hold_advice(job_id: i64, check: &NameCheck, holder: NameList, tried: &str) -> String {
    format!(
        "QuickBooks already has \"{tried}\" in its {holder_list}, and customers, vendors, employees and other names share one name space, \
         so the {own} cannot be created under that name. Fix: in QuickBooks, rename the {holder} (Lists > {holder_list}), \
         or rename the record in the source; then run `qbridge jobs retry {job_id}`. \
         To let qbridge add a suffix instead, set `names.conflict = \"disambiguate\"` (or per plugin in `names.conflict_plugins`).",
        holder_list = holder.menu_name(),
        own = check.list.tag().to_lowercase(),
        holder = holder.tag().to_lowercase(),
    )
}

/// The note kept on a job (and shown with it) when qbridge picked another name.
pub fn rename_note(check: &NameCheck, holder: NameList, chosen: &str) -> String {
    format!(
        "name \"{}\" is used by a {} in QuickBooks (one name space for customers, vendors, employees and other names); created as \"{chosen}\"",
        check.name,
        holder.tag().to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_set_per_plugin_and_the_suffix_must_name_the_list() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let c = crate::config::Config::load(
            None,
            env(&[
                ("QBRIDGE_NAMES_CONFLICT", "hold"),
                (
                    "QBRIDGE_NAMES_CONFLICT_PLUGINS",
                    "ramp=disambiguate, example = hold",
                ),
                ("QBRIDGE_NAMES_SUFFIX", " [{initial}]"),
            ]),
            &[],
        )
        .unwrap();
        let rules = c.pipeline_rules();
        assert_eq!(rules.max_sends, 3);
        assert_eq!(
            rules.names.on_conflict.for_plugin("ramp"),
            OnConflict::Disambiguate
        );
        assert_eq!(
            rules.names.on_conflict.for_plugin("example"),
            OnConflict::Hold
        );
        assert_eq!(
            rules.names.on_conflict.for_plugin("autotask"),
            OnConflict::Hold
        );
        assert_eq!(
            names::disambiguated("Acme", NameList::Vendor, &rules.names.suffix),
            "Acme [V]"
        );
        for (key, bad) in [
            ("QBRIDGE_NAMES_CONFLICT_PLUGINS", "ramp"),
            ("QBRIDGE_NAMES_SUFFIX", " (X)"),
            ("QBRIDGE_NAMES_CONFLICT", "rename"),
        ] {
            let err = crate::config::Config::load(None, env(&[(key, bad)]), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn lookup_ids_name_the_probe_and_the_list() {
        assert_eq!(lookup_of("j12.3.Vendor"), Some(("j12.3", NameList::Vendor)));
        assert_eq!(lookup_of("j12.3"), None);
        assert_eq!(lookup_of("j12.3.Invoice"), None);
    }

    #[test]
    fn only_a_name_list_add_answered_3100_is_checked() {
        let add = "<CustomerAddRq><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>";
        let check = NameCheck::of("CustomerAdd", add, Some(3100)).unwrap();
        let lists: Vec<_> = check.lookups().into_iter().map(|(l, _)| l).collect();
        assert_eq!(lists, ["Vendor", "Employee", "OtherName"]);
        assert_eq!(NameCheck::of("CustomerAdd", add, Some(3175)), None);
        assert_eq!(NameCheck::of("InvoiceAdd", add, Some(3100)), None);
    }
}
