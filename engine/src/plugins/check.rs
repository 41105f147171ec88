//! `qbridge plugin check FILE.wasm --kind K RECORDS.json…`: runs a component on sample
//! records without a server or a data dir, as the engine would at install and ingest.
//!
//! The component is installed into a [`PluginManager`] on a scratch store in a temporary
//! directory (deleted afterwards), so it goes through the real host, sandbox, limits,
//! manifest checks and output checks; only the plugin under test runs, with no source
//! secrets. Each record is then mapped and every request it yields is checked as at ingest
//! (qbXML 16.0); a plugin whose manifest promises qbXML 13.0 gets a warning per request that
//! 13.0 would refuse.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use qbridge_sdk::{MapError, Request};

use super::{NoSecrets, PluginError, PluginManager, config_admin, plugin_config};
use crate::config::Config;
use crate::pipeline::ingest::MAX_RECORD_BYTES;
use crate::store::audit::AuditEntry;
use crate::store::{Store, StoreOptions};

/// Largest records file read (records themselves are bounded by the ingest limit).
const MAX_RECORDS_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most records checked from one file.
const MAX_RECORDS_PER_FILE: usize = 10_000;
/// Actor named in the scratch registry (never kept).
const CHECK_ACTOR: &str = "cli:plugin check";

/// Arguments of `qbridge plugin check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The component, built with `cargo build --release --target wasm32-wasip2`.
    pub file: PathBuf,
    /// The record kind passed to the plugin's `map` (e.g. invoice, company).
    #[arg(long)]
    pub kind: String,
    /// A value for one of the config keys the manifest declares, as an admin would set it
    /// (`--plugin-config label=Client`; `--config` names qbridge's own config file); repeat
    /// for each key. Values of host keys complete their templates, as an admin's approval.
    #[arg(long = "plugin-config", value_name = "KEY=VALUE", value_parser = parse_config_pair)]
    pub plugin_config: Vec<(String, String)>,
    /// Files of records: a JSON array of records, NDJSON (one record per line) or one
    /// JSON object.
    #[arg(required = true)]
    pub records: Vec<PathBuf>,
}

/// `KEY=VALUE` of `--plugin-config`.
fn parse_config_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not KEY=VALUE (e.g. --plugin-config tenant=acme)"
        )),
    }
}

/// What the plugin made of one record.
enum Verdict {
    /// Mapped; every request passed the engine's checks.
    Mapped(Vec<Request>),
    /// The plugin refused the record.
    Refused(MapError),
    /// The plugin failed: invalid output, crash, limit.
    Failed(PluginError),
}

/// Runs `plugin check`; exits non-zero when any record was refused or failed.
pub fn run(args: CheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    // Read every input first: a typo in the last file should not cost a compile.
    let mut files = Vec::new();
    for path in &args.records {
        files.push((path.clone(), read_records(path)?));
    }
    let wasm = std::fs::read(&args.file)
        .with_context(|| format!("cannot read the plugin file {}", args.file.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("qbridge-plugin-check-")
        .tempdir()
        .context("cannot create a temporary directory for the check")?;
    let config = Config {
        data_dir: scratch.path().to_path_buf(),
        // A signature is a matter for install, not for trying a build out.
        plugin_trusted_keys: Vec::new(),
        ..config.clone()
    };
    let store = Store::open(&config.data_dir, StoreOptions::default())?;
    let manager = PluginManager::empty(store.clone(), &config, Arc::new(NoSecrets))?;
    manager
        .install(&wasm, None, CHECK_ACTOR)
        .with_context(|| format!("{} is not an installable plugin", args.file.display()))?;
    let Some(manifest) = manager.list()?.into_iter().next().map(|v| v.manifest) else {
        anyhow::bail!("the plugin was not registered by the check");
    };
    println!(
        "plugin {} {} (interface {}): manifest OK; request types {}",
        manifest.name,
        manifest.version,
        manifest.interface_version,
        manifest.request_types.join(", ")
    );
    for (key, value) in &args.plugin_config {
        let who = AuditEntry {
            actor: CHECK_ACTOR.to_string(),
            ..Default::default()
        };
        config_admin::set(&store, &manifest.name, key, None, value, who)
            .with_context(|| format!("--plugin-config {key}=…"))?;
    }
    let unset = plugin_config::missing_required(&manifest.config, |name| {
        args.plugin_config
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    });
    if !unset.is_empty() {
        println!(
            "note: the required config key(s) {} have no value here; give them with --plugin-config KEY=VALUE as an admin would with `qbridge plugin config`",
            unset.join(", ")
        );
    }
    println!("(checked in a temporary directory that is deleted afterwards; nothing is kept)");
    let (mut ok, mut bad) = (0usize, 0usize);
    for (path, records) in &files {
        for (i, record) in records.iter().enumerate() {
            let label = format!("{}#{}", path.display(), i + 1);
            let verdict = match manager.map(&manifest.name, None, &args.kind, record) {
                Ok(Ok(requests)) => Verdict::Mapped(requests),
                Ok(Err(refusal)) => Verdict::Refused(refusal),
                Err(e) => Verdict::Failed(e),
            };
            if matches!(verdict, Verdict::Mapped(_)) {
                ok += 1;
            } else {
                bad += 1;
            }
            print_verdict(&label, &verdict);
            if let Verdict::Mapped(requests) = &verdict
                && manifest.min_qbxml_version == "13.0"
            {
                warn_older_quickbooks(requests);
            }
        }
    }
    println!("{ok} record(s) OK, {bad} refused or failed");
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_verdict(label: &str, verdict: &Verdict) {
    match verdict {
        Verdict::Mapped(requests) => {
            println!("{label}: OK, {} request(s)", requests.len());
            for r in requests {
                let deps = if r.depends_on.is_empty() {
                    String::new()
                } else {
                    format!("  after {}", r.depends_on.join(", "))
                };
                println!(
                    "  {}  {}{deps}",
                    r.key,
                    r.request_type().unwrap_or("(unknown)")
                );
                for note in &r.notes {
                    println!("    note: {note}");
                }
            }
        }
        Verdict::Refused(e) => match &e.field {
            Some(field) => println!("{label}: REFUSED at `{field}`: {}", e.message),
            None => println!("{label}: REFUSED: {}", e.message),
        },
        Verdict::Failed(e) => println!("{label}: FAILED: {e}"),
    }
}

/// The engine checks requests against qbXML 16.0; a plugin that says it works with 13.0
/// (QuickBooks 2014 and older) is also checked against 13.0 here, as a warning: those
/// QuickBooks versions would refuse such a request, but newer ones accept it.
fn warn_older_quickbooks(requests: &[Request]) {
    for (key, e) in refused_by_qbxml_13(requests) {
        println!(
            "    warning: {key} is not valid qbXML 13.0, which the manifest's min_qbxml_version promises ({e})"
        );
    }
}

/// (key, why) of each request QuickBooks speaking qbXML 13.0 would refuse.
fn refused_by_qbxml_13(requests: &[Request]) -> Vec<(&str, String)> {
    use crate::qbxml::{OnError, Recovery, build_message_set};
    use qbridge_sdk::schema::{QbxmlVersion, validate};
    requests
        .iter()
        .filter_map(|r| {
            build_message_set(
                (13, 0),
                OnError::Continue,
                &Recovery::None,
                &[("1", &r.qbxml)],
            )
            .map_err(|e| e.to_string())
            .and_then(|set| validate(QbxmlVersion::V13_0, &set).map_err(|e| e.to_string()))
            .err()
            .map(|e| (r.key.as_str(), e))
        })
        .collect()
}

/// Reads a records file, bounded in size.
fn read_records(path: &Path) -> anyhow::Result<Vec<String>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read the records file {}", path.display()))?
        .len();
    if len > MAX_RECORDS_FILE_BYTES {
        anyhow::bail!(
            "the records file {} is {len} bytes; at most {MAX_RECORDS_FILE_BYTES} are read",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the records file {} as text", path.display()))?;
    parse_records(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The records of a file, each as the JSON text the plugin receives: a JSON array of
/// objects, objects one per line (NDJSON), or one object.
pub(crate) fn parse_records(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err("holds no records; give a JSON array of records, NDJSON or one object".into());
    }
    let values: Vec<serde_json::Value> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|e| format!("is not a JSON array of records: {e}"))?
    } else {
        serde_json::Deserializer::from_str(text)
            .into_iter::<serde_json::Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("is not one JSON object or NDJSON (one object per line): {e}"))?
    };
    if values.is_empty() {
        return Err("holds no records (the array is empty)".into());
    }
    if values.len() > MAX_RECORDS_PER_FILE {
        return Err(format!(
            "holds {} records; at most {MAX_RECORDS_PER_FILE} are checked from one file",
            values.len()
        ));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if !v.is_object() {
                return Err(format!(
                    "record {} is not a JSON object (records are objects, as sources send them)",
                    i + 1
                ));
            }
            let json = v.to_string();
            if json.len() > MAX_RECORD_BYTES {
                return Err(format!(
                    "record {} is {} bytes; at most {MAX_RECORD_BYTES} are accepted, as at ingest",
                    i + 1,
                    json.len()
                ));
            }
            Ok(json)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{parse_records, refused_by_qbxml_13};

    #[test]
    fn a_request_only_qbxml_16_knows_is_reported_for_older_quickbooks() {
        let request = |key: &str, xml: &str| qbridge_sdk::Request::new(key, xml);
        let requests = [
            request("customers", "<CustomerQueryRq/>"),
            request("alerts", "<AlertQueryRq/>"),
        ];
        let refused = refused_by_qbxml_13(&requests);
        let keys: Vec<&str> = refused.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["alerts"], "{refused:?}");
    }

    #[test]
    fn an_array_ndjson_and_one_object_are_records() {
        assert_eq!(
            parse_records(r#"[{"id":1},{"id":2}]"#).unwrap(),
            [r#"{"id":1}"#, r#"{"id":2}"#]
        );
        assert_eq!(
            parse_records("{\"id\":1}\n{\"id\":2}\n\n{\"id\":3}\n").unwrap(),
            [r#"{"id":1}"#, r#"{"id":2}"#, r#"{"id":3}"#]
        );
        assert_eq!(
            parse_records("\u{feff} {\n \"id\": 1\n}\n").unwrap(),
            [r#"{"id":1}"#]
        );
    }

    #[test]
    fn files_that_are_not_records_are_refused_clearly() {
        for (text, why) in [
            ("", "holds no records"),
            ("[]", "array is empty"),
            ("[{\"id\":1},", "not a JSON array"),
            ("{\"id\":1}\n{\"id\":", "NDJSON"),
            ("[{\"id\":1}, 7]", "record 2 is not a JSON object"),
            ("\"text\"", "record 1 is not a JSON object"),
        ] {
            let err = parse_records(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn records_and_files_are_bounded() {
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(super::MAX_RECORD_BYTES));
        assert!(parse_records(&big).unwrap_err().contains("record 1 is"));
        let many = "{}\n".repeat(super::MAX_RECORDS_PER_FILE + 1);
        assert!(parse_records(&many).unwrap_err().contains("at most"));
    }
}
