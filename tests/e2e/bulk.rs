//! Bulk ingest from the command line: a first sync of a firm's history is tens of thousands of
//! records in one file, queued a batch per transaction, with progress on a terminal.

use std::process::Command;

use crate::pipeline::{Deployment, customer};
use crate::support::{bin, stderr};

#[test]
fn a_hundred_thousand_records_are_queued_by_one_command_with_progress_on_a_terminal() {
    let d = Deployment::new();
    let records: Vec<serde_json::Value> = (0..100_000).map(customer).collect();
    let file = d.tmp.path().join("customers.json");
    std::fs::write(&file, serde_json::to_string(&records).unwrap()).unwrap();
    // `script` gives the command a pseudo-terminal, as an admin's shell would.
    let command = format!(
        "{} ingest --data-dir {} --plugin example --kind customer {}",
        bin(),
        d.data_dir.display(),
        file.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(d.tmp.path())
        .output()
        .expect("script(1) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("\r500 / 100000 records (0%)"),
        "progress from the first batch: {}",
        &text[..text.len().min(300)]
    );
    assert!(
        text.contains("100000 / 100000 records (100%), 0 refused"),
        "{}",
        tail(&text)
    );
    assert!(
        text.contains("100000 of 100000 record(s) queued (100000 new job(s))"),
        "{}",
        tail(&text)
    );
    let status = d.cli(&["status"]);
    assert!(status.contains("100000"), "{status}");
}

#[test]
fn one_record_per_line_refused_records_are_named_and_the_rest_stay_queued() {
    let d = Deployment::new();
    let mut lines: Vec<String> = (0..10).map(|i| customer(i).to_string()).collect();
    lines[3] = r#"{"id": 3}"#.to_string();
    let file = d.tmp.path().join("customers.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = crate::support::run(
        d.tmp.path(),
        &[
            "ingest",
            "--data-dir",
            d.data_dir.to_str().unwrap(),
            "--plugin",
            "example",
            "--kind",
            "customer",
            "--batch",
            "4",
            file.to_str().unwrap(),
        ],
    );
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!out.status.success());
    assert!(
        err.contains("record 3: plugin example cannot map this customer record"),
        "{err}"
    );
    assert!(err.contains("1 of 10 record(s) were not queued"), "{err}");
    assert!(
        !err.contains('\r'),
        "no progress redraws off a terminal: {err:?}"
    );
    assert!(
        stdout.contains("9 of 10 record(s) queued (9 new job(s))"),
        "{stdout}"
    );
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(400);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[start..]
}
