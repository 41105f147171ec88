//! Policies an admin sets for all plugins with per-plugin overrides (`names.conflict` and
//! `names.conflict_plugins`, `edits.conflict` and `edits.conflict_plugins`): one parser for
//! the `plugin=policy,…` lists, so every such setting reads and fails alike.

use std::collections::BTreeMap;

/// A policy chosen by name in the configuration.
pub trait Choice: Copy {
    /// The names accepted, for messages (`disambiguate`, `hold`).
    const NAMES: &'static [&'static str];
    /// The policy called `s`.
    fn parse(s: &str) -> Option<Self>;
}

/// A default policy and per-plugin overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerPlugin<P> {
    /// For plugins not listed in `per_plugin`.
    pub default: P,
    /// Plugin name → policy.
    pub per_plugin: BTreeMap<String, P>,
}

impl<P: Choice> PerPlugin<P> {
    /// `default` for every plugin.
    pub fn new(default: P) -> PerPlugin<P> {
        PerPlugin {
            default,
            per_plugin: BTreeMap::new(),
        }
    }

    /// Sets the per-plugin policies from `plugin=policy,…`.
    pub fn set_per_plugin(&mut self, v: &str) -> Result<(), String> {
        let shape = || {
            format!(
                "comma-separated plugin=policy pairs with policy one of {} (e.g. ramp={})",
                P::NAMES.join(", "),
                P::NAMES.last().copied().unwrap_or_default()
            )
        };
        let mut per_plugin = BTreeMap::new();
        for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (plugin, policy) = pair.split_once('=').ok_or_else(shape)?;
            let policy = P::parse(policy.trim()).ok_or_else(shape)?;
            per_plugin.insert(plugin.trim().to_string(), policy);
        }
        self.per_plugin = per_plugin;
        Ok(())
    }

    /// The policy for `plugin`.
    pub fn for_plugin(&self, plugin: &str) -> P {
        self.per_plugin.get(plugin).copied().unwrap_or(self.default)
    }
}

/// What to do when an object qbridge wrote was changed in QuickBooks since, and the source
/// sends a new version of it (found after a stale EditSequence, 3200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEdit {
    /// The source's version is written over the bookkeeper's edit (noted on the job).
    SourceWins,
    /// The job waits with a field-by-field diff; retry sends the source's version, cancel
    /// keeps QuickBooks' edit.
    Hold,
}

impl Choice for OnEdit {
    const NAMES: &'static [&'static str] = &["source-wins", "hold"];
    fn parse(s: &str) -> Option<OnEdit> {
        match s {
            "source-wins" => Some(OnEdit::SourceWins),
            "hold" => Some(OnEdit::Hold),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_plugin_lists_override_the_default_and_bad_ones_name_the_choices() {
        let mut p = PerPlugin::new(OnEdit::SourceWins);
        p.set_per_plugin(" ramp=hold , autotask=source-wins")
            .unwrap();
        assert_eq!(p.for_plugin("ramp"), OnEdit::Hold);
        assert_eq!(p.for_plugin("autotask"), OnEdit::SourceWins);
        assert_eq!(p.for_plugin("other"), OnEdit::SourceWins);
        let e = p.set_per_plugin("ramp=maybe").unwrap_err();
        assert!(e.contains("source-wins, hold"), "{e}");
    }
}
