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
        .envs(crate::support::postgres_for(d.tmp.path()).map(|url| ("QBRIDGE_DATABASE_URL", url)))
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

/// POSTs NDJSON to the batch route; returns (status, parsed body).
fn post_batch(
    server: &crate::support::Server,
    token: &str,
    body: String,
) -> (u16, serde_json::Value) {
    let mut resp = crate::support::agent()
        .post(format!(
            "{}/api/v1/ingest/example/batch?kind=customer",
            server.base
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/x-ndjson")
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[test]
fn the_batch_api_queues_every_good_line_and_names_each_refused_one() {
    let d = Deployment::new();
    let server = d.start();
    // 1,200 records (three transactions) with two the plugin refuses, and a blank line.
    let mut lines: Vec<String> = (0..1_200).map(|i| customer(i).to_string()).collect();
    lines[7] = r#"{"id": 7}"#.into();
    lines[1_100] = "not json".into();
    lines.insert(500, String::new());
    let (status, body) = post_batch(&server, &d.token, lines.join("\n"));
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        (body["queued"].as_u64(), body["refused"].as_u64()),
        (Some(1_198), Some(2))
    );
    let refused: Vec<&serde_json::Value> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(refused[0]["line"], 8);
    assert_eq!(refused[0]["status"], 422);
    assert_eq!(
        refused[1]["line"], 1_102,
        "line numbers count the blank line"
    );
    assert_eq!(refused[1]["status"], 400);
    // Sending the same batch again queues nothing new: every key is already live.
    let (status, body) = post_batch(&server, &d.token, lines[..5].join("\n"));
    assert_eq!(status, 202, "{body}");
    assert!(
        body["results"][0]["jobs"][0][1]["existing"].is_number(),
        "{body}"
    );
    let (status, _) = post_batch(&server, &d.token, r#"{"id": 1}"#.into());
    assert_eq!(status, 422);
    let too_many: Vec<String> = (0..10_001).map(|i| format!("{{\"id\":{i}}}")).collect();
    let (status, body) = post_batch(&server, &d.token, too_many.join("\n"));
    assert_eq!(status, 413, "{body}");
}
