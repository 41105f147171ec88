//! Per-installation plugin configuration: the rules for the `config` keys a manifest declares,
//! for the values an admin gives them, and for host templates — `allowed_hosts` entries such
//! as `{tenant}.halopsa.com` that a configured value completes.
//!
//! A host template widens what a plugin may reach only through the admin: the value of its
//! key is the admin's approval of the one host it completes, so values of such keys are
//! single DNS labels (the host stays inside the template's fixed domain), only the admin scope
//! sets them, and a template whose key has no value allows nothing. The declared default
//! never completes a template (a key used in one may not have a default at all).
//!
//! Template rules (checked at install): exactly one `{key}` naming a declared key, inside the
//! first label (`webservices{zone}.autotask.net` and `{tenant}-api.example.com` are fine), and
//! at least two fixed labels after that label, so the registrable domain is the author's, not
//! the admin's value (`{x}`, `{x}.com` and `api.{x}.com` are refused).

use qbridge_sdk::{ConfigKey, Manifest};

use crate::store::Store;

/// Most keys one manifest may declare.
pub const MAX_KEYS: usize = 32;
/// Longest value (and declared default) of a key, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Longest key description, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Longest key name.
const MAX_NAME_CHARS: usize = 32;

/// Checks a key name: `[a-z][a-z0-9_]{0,31}`.
pub fn check_key_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "config key {name:?} must be 1 to {MAX_NAME_CHARS} lowercase letters, digits and '_', starting with a letter"
        ))
    }
}

/// Checks a value (or declared default): 1 to [`MAX_VALUE_BYTES`] bytes, no control
/// characters (values reach logs, audit rows and URLs).
pub fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "a config value must be 1 to {MAX_VALUE_BYTES} bytes (got {})",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("a config value cannot contain control characters (newlines, tabs, …)".into());
    }
    Ok(())
}

/// True for one DNS label: `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a value of a key used in a host template: one DNS label, so the host it completes
/// stays inside the template's domain.
pub fn check_host_value(key: &str, value: &str) -> Result<(), String> {
    if is_dns_label(value) {
        Ok(())
    } else {
        Err(format!(
            "{key:?} completes a host name, so its value must be one DNS label: 1 to 63 lowercase letters, digits and '-', not starting or ending with '-' (got {value:?})"
        ))
    }
}

/// An `allowed_hosts` entry with a `{key}` placeholder in its first label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTemplate {
    /// The entry as declared (lowercase), for messages.
    pub text: String,
    /// The key whose value completes it.
    pub key: String,
    /// What precedes the placeholder (`webservices`).
    before: String,
    /// What follows it, the fixed domain included (`.autotask.net`).
    after: String,
}

impl HostTemplate {
    /// Parses an entry: `Ok(None)` for a plain host, the template, or why it is refused.
    pub fn parse(entry: &str) -> Result<Option<HostTemplate>, String> {
        let text = entry.to_ascii_lowercase();
        let Some(open) = text.find('{') else {
            if text.contains('}') {
                return Err(format!("allowed host {entry:?} has a '}}' without a '{{'"));
            }
            return Ok(None);
        };
        let refuse = |why: &str| Err(format!("allowed host template {entry:?} {why}"));
        let Some(close) = text[open..].find('}').map(|i| open + i) else {
            return refuse("has a '{' without a '}'");
        };
        let (before, key, after) = (&text[..open], &text[open + 1..close], &text[close + 1..]);
        if after.contains(['{', '}']) {
            return refuse("has more than one placeholder; one `{key}` is allowed");
        }
        check_key_name(key).map_err(|e| format!("allowed host template {entry:?}: {e}"))?;
        if before.contains('.') {
            return refuse(
                "has its placeholder after the first label; it must be in the first label (e.g. {tenant}.example.com), so the domain stays fixed",
            );
        }
        let (label_rest, domain) = after.split_once('.').unwrap_or((after, ""));
        let fixed_ok = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !fixed_ok(before) || !fixed_ok(label_rest) {
            return refuse(
                "has characters other than letters, digits and '-' around the placeholder",
            );
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if domain.is_empty() || labels.len() < 2 || !labels.iter().all(|l| is_dns_label(l)) {
            return refuse(
                "must be followed by at least two fixed labels (e.g. {tenant}.halopsa.com), so the registrable domain cannot be chosen by a value",
            );
        }
        Ok(Some(HostTemplate {
            key: key.to_string(),
            before: before.to_string(),
            after: after.to_string(),
            text,
        }))
    }

    /// The host `value` completes, if it is a DNS label and the first label stays within 63
    /// characters.
    pub fn resolve(&self, value: &str) -> Option<String> {
        if !is_dns_label(value) {
            return None;
        }
        let host = format!("{}{value}{}", self.before, self.after);
        let first = host.split('.').next().unwrap_or("");
        is_dns_label(first).then_some(host)
    }
}

/// Checks a manifest's `config` keys and host templates (at install).
pub fn check_manifest(m: &Manifest) -> Result<(), String> {
    if m.config.len() > MAX_KEYS {
        return Err(format!(
            "it declares {} config keys; at most {MAX_KEYS} are allowed",
            m.config.len()
        ));
    }
    for (i, k) in m.config.iter().enumerate() {
        check_key_name(&k.name)?;
        if m.config[..i].iter().any(|o| o.name == k.name) {
            return Err(format!("config key {:?} is declared twice", k.name));
        }
        if k.description.len() > MAX_DESCRIPTION_BYTES
            || k.description.chars().any(char::is_control)
        {
            return Err(format!(
                "the description of config key {:?} must be at most {MAX_DESCRIPTION_BYTES} bytes without control characters",
                k.name
            ));
        }
        if let Some(d) = &k.default_value {
            check_value(d).map_err(|e| format!("config key {:?}: default: {e}", k.name))?;
        }
    }
    for entry in &m.allowed_hosts {
        let Some(t) = HostTemplate::parse(entry)? else {
            continue;
        };
        let Some(key) = m.config.iter().find(|k| k.name == t.key) else {
            return Err(format!(
                "allowed host template {entry:?} names {:?}, which is not a declared config key",
                t.key
            ));
        };
        if key.default_value.is_some() {
            return Err(format!(
                "config key {:?} completes the host template {entry:?}, so it cannot have a default: the admin's value is the approval of that host",
                t.key
            ));
        }
    }
    Ok(())
}

/// The host templates of a manifest (entries that do not parse are left out: installed
/// manifests passed [`check_manifest`]).
pub fn templates(m: &Manifest) -> Vec<HostTemplate> {
    m.allowed_hosts
        .iter()
        .filter_map(|h| HostTemplate::parse(h).ok().flatten())
        .collect()
}

/// Where configured values come from. The plugin host asks on every `config.get` and for
/// every request that only a template allows, so a value set through the API or beside the
/// server applies from the next call.
pub trait ConfigSource: Send + Sync {
    /// The admin's value of key `name` of `plugin` for `connection`: the connection's own,
    /// else the plugin-wide one. Defaults are not this source's business.
    fn value(&self, plugin: &str, name: &str, connection: Option<i64>) -> Option<String>;
}

/// Values in the store (`qbridge plugin config`, `PUT /api/v1/plugins/{name}/config/{key}`).
pub struct StoredConfig(pub Store);

impl ConfigSource for StoredConfig {
    fn value(&self, plugin: &str, name: &str, connection: Option<i64>) -> Option<String> {
        match self.0.plugin_config_value(plugin, name, connection) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(plugin, name, error = %e, "cannot read a plugin config value");
                None
            }
        }
    }
}

/// What one plugin version may reach: its plain hosts and its host templates.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHosts {
    plain: Vec<String>,
    templates: Vec<HostTemplate>,
}

impl AllowedHosts {
    pub(crate) fn new(m: &Manifest) -> AllowedHosts {
        let mut out = AllowedHosts::default();
        for entry in &m.allowed_hosts {
            match HostTemplate::parse(entry) {
                Ok(Some(t)) => out.templates.push(t),
                Ok(None) => out.plain.push(entry.to_ascii_lowercase()),
                Err(_) => {}
            }
        }
        out
    }

    /// `Ok` when `host` is a plain allowed host or the host a template's value completes
    /// (`value(key)` is the configured value for the call's connection); otherwise why not.
    pub(crate) fn allows(
        &self,
        host: &str,
        value: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        if self.plain.iter().any(|h| h == host) {
            return Ok(());
        }
        let mut seen = self.plain.clone();
        for t in &self.templates {
            match value(&t.key).map(|v| (t.resolve(&v), v)) {
                Some((Some(resolved), _)) if resolved == host => return Ok(()),
                Some((Some(resolved), _)) => seen.push(format!("{} = {resolved}", t.text)),
                Some((None, v)) => seen.push(format!(
                    "{} (the value {v:?} of `{}` is not a DNS label, so it allows nothing)",
                    t.text, t.key
                )),
                None => seen.push(format!(
                    "{} (allows nothing until the admin sets `{}`)",
                    t.text, t.key
                )),
            }
        }
        Err(format!(
            "host {host} is not in the manifest's allowed_hosts ({}); declare it and have the admin approve the new version",
            seen.join(", ")
        ))
    }
}

/// The declared keys a pull for a connection lacks: required, no value and no default.
pub(crate) fn missing_required(
    keys: &[ConfigKey],
    value: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    keys.iter()
        .filter(|k| k.required && k.default_value.is_none() && value(&k.name).is_none())
        .map(|k| k.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(hosts: &[&str], keys: &[(&str, Option<&str>)]) -> Manifest {
        let mut m = Manifest::new("echo", "1.0.0", "Test").allowed_hosts(hosts);
        for (k, d) in keys {
            m = m.config_key(k, "", true, *d);
        }
        m
    }

    #[test]
    fn key_names_are_short_lowercase_identifiers() {
        for ok in ["tenant", "zone", "a", "base_url2", &"a".repeat(32)] {
            assert!(check_key_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Tenant",
            "1zone",
            "_x",
            "a-b",
            "a.b",
            &"a".repeat(33),
            "tenant ",
        ] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_are_bounded_and_free_of_control_characters() {
        assert!(check_value("acme").is_ok());
        assert!(check_value(&"x".repeat(1024)).is_ok());
        for bad in ["", "a\nb", "a\tb", "\u{7f}", &"x".repeat(1025)] {
            assert!(check_value(bad).is_err(), "{bad:?}");
        }
        assert!(check_host_value("tenant", "acme-2").is_ok());
        for bad in [
            "Acme",
            "-acme",
            "acme-",
            "a.b",
            "a_b",
            "",
            &"a".repeat(64),
            "évil",
        ] {
            let err = check_host_value("tenant", bad).unwrap_err();
            assert!(err.contains("one DNS label"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn templates_keep_the_registrable_domain_fixed() {
        let t = HostTemplate::parse("{tenant}.halopsa.com")
            .unwrap()
            .unwrap();
        assert_eq!(t.key, "tenant");
        assert_eq!(t.resolve("acme").as_deref(), Some("acme.halopsa.com"));
        let t = HostTemplate::parse("webservices{zone}.AutoTask.net")
            .unwrap()
            .unwrap();
        assert_eq!(t.resolve("5").as_deref(), Some("webservices5.autotask.net"));
        assert!(HostTemplate::parse("api.ramp.com").unwrap().is_none());
        for (bad, why) in [
            ("{x}", "two fixed labels"),
            ("{x}.com", "two fixed labels"),
            ("api.{x}.com", "first label"),
            ("{a}{b}.x.com", "more than one placeholder"),
            ("{a}.{b}.x.com", "more than one placeholder"),
            ("{Bad-Key}.x.com", "config key"),
            ("{x.x.com", "without a '}'"),
            ("x}.x.com", "without a '{'"),
            ("a_{x}.x.com", "letters, digits"),
            ("{x}.x..com", "two fixed labels"),
            ("{x}.x.com.", "two fixed labels"),
        ] {
            let err = HostTemplate::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_template_resolves_only_labels_that_keep_its_domain() {
        let t = HostTemplate::parse("{tenant}.echo.test").unwrap().unwrap();
        for bad in ["evil.com/", "a.evil", "acme.evil.test", "", "-x", "UPPER"] {
            assert_eq!(t.resolve(bad), None, "{bad:?}");
        }
        let t = HostTemplate::parse("webservices{zone}.autotask.net")
            .unwrap()
            .unwrap();
        // 11 + 52 = 63 characters fit the first label; one more does not.
        assert!(t.resolve(&"9".repeat(52)).is_some());
        assert_eq!(t.resolve(&"9".repeat(53)), None);
    }

    #[test]
    fn manifests_may_only_template_declared_keys_without_defaults() {
        assert!(check_manifest(&manifest(&["{tenant}.echo.test"], &[("tenant", None)])).is_ok());
        let err = check_manifest(&manifest(&["{tenant}.echo.test"], &[])).unwrap_err();
        assert!(err.contains("not a declared config key"), "{err}");
        let err = check_manifest(&manifest(
            &["{tenant}.echo.test"],
            &[("tenant", Some("acme"))],
        ))
        .unwrap_err();
        assert!(err.contains("cannot have a default"), "{err}");
        let err = check_manifest(&manifest(&[], &[("a", None), ("a", None)])).unwrap_err();
        assert!(err.contains("declared twice"), "{err}");
        let many: Vec<(String, Option<&str>)> = (0..33).map(|i| (format!("k{i}"), None)).collect();
        let many: Vec<(&str, Option<&str>)> = many.iter().map(|(k, d)| (k.as_str(), *d)).collect();
        let err = check_manifest(&manifest(&[], &many)).unwrap_err();
        assert!(err.contains("at most 32"), "{err}");
        let err = check_manifest(&manifest(&[], &[("Tenant", None)])).unwrap_err();
        assert!(err.contains("lowercase"), "{err}");
        let err = check_manifest(&manifest(&[], &[("a", Some("x\ny"))])).unwrap_err();
        assert!(err.contains("control characters"), "{err}");
    }

    #[test]
    fn a_template_allows_exactly_the_host_its_configured_value_completes() {
        let m = manifest(
            &["api.echo.test", "{tenant}.echo.test"],
            &[("tenant", None)],
        );
        let hosts = AllowedHosts::new(&m);
        assert_eq!(hosts.plain, ["api.echo.test"]);
        let acme = |k: &str| (k == "tenant").then(|| "acme".to_string());
        assert!(hosts.allows("api.echo.test", |_| None).is_ok());
        assert!(hosts.allows("acme.echo.test", acme).is_ok());
        for refused in [
            "evil.echo.test",
            "acme.evil.test",
            "echo.test",
            "acme.echo.test.evil",
        ] {
            let err = hosts.allows(refused, acme).unwrap_err();
            assert!(err.contains("{tenant}.echo.test = acme.echo.test"), "{err}");
        }
        let err = hosts.allows("acme.echo.test", |_| None).unwrap_err();
        assert!(
            err.contains("allows nothing until the admin sets `tenant`"),
            "{err}"
        );
        let dotted = |_: &str| Some("acme.evil.test".to_string());
        let err = hosts
            .allows("acme.evil.test.echo.test", dotted)
            .unwrap_err();
        assert!(err.contains("not a DNS label"), "{err}");
    }

    #[test]
    fn required_keys_without_a_value_or_default_are_missing() {
        let m = Manifest::new("echo", "1.0.0", "Test")
            .config_key("tenant", "", true, None)
            .config_key("region", "", true, Some("eu"))
            .config_key("label", "", false, None);
        assert_eq!(missing_required(&m.config, |_| None), ["tenant"]);
        assert!(missing_required(&m.config, |_| Some("x".into())).is_empty());
    }
}
