//! Money as real source exports write it, end to end through the real binary: an Autotask
//! invoice whose doubles carry float artefacts (`349.99999999999914`) is pushed as the JSON
//! text Autotask sent, maps, and its job's note shows the exact digits — the engine handed the
//! plugin the text, not a float — while an invoice missing a billing item is refused (422)
//! with both figures and the lines.

use std::path::Path;

use serde_json::Value;

use crate::pipeline::{Deployment, ingest};
use crate::support::{Server, agent};

fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/sources")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// POSTs `text` as it is (the tests' `ingest` helper re-serialises a `Value`, which would
/// normalise the numbers); returns (status, body).
fn ingest_text(
    server: &Server,
    token: &str,
    plugin: &str,
    kind: &str,
    text: &str,
) -> (u16, String) {
    let mut resp = agent()
        .post(format!(
            "{}/api/v1/ingest/{plugin}?kind={kind}",
            server.base
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(text)
        .unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn float_noise_maps_with_a_note_and_a_missing_line_is_refused_with_both_figures() {
    let d = Deployment::new();
    let admin = d
        .cli(&["token", "create", "--scope", "admin", "--name", "e2e"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let server = d.start();

    let noisy = fixture_text("autotask-invoice-1-basic.json")
        .replace(
            "\"invoiceTotal\": 2228.00",
            "\"invoiceTotal\": 2227.999999999999004",
        )
        .replace(
            "\"extendedPrice\": 225.00",
            "\"extendedPrice\": 224.99999999999997",
        )
        .replace(
            "\"extendedPrice\": 1625.00",
            "\"extendedPrice\": 1625.0000000000002",
        )
        .replace(
            "\"extendedPrice\": 350.00",
            "\"extendedPrice\": 349.99999999999914",
        );
    assert!(
        noisy.contains("349.99999999999914"),
        "the fixture changed shape"
    );
    let (status, body) = ingest_text(&server, &d.token, "autotask", "invoice", &noisy);
    assert_eq!(status, 202, "{body}");

    let mut resp = agent()
        .get(format!("{}/api/v1/jobs", server.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap();
    let jobs: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let invoice = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["key"] == "invoice:29684512")
        .unwrap_or_else(|| panic!("no invoice job: {jobs}"));
    let notes = invoice["notes"].to_string();
    assert!(
        notes.contains("sum to 2199.99999999999931")
            && notes.contains("2199.999999999999004")
            && notes.contains("2200.00"),
        "the rounding note keeps Autotask's digits: {notes}"
    );

    let mut missing: Value =
        serde_json::from_str(&fixture_text("autotask-invoice-1-basic.json")).unwrap();
    missing["billingItems"].as_array_mut().unwrap().remove(0);
    missing["invoice"]["id"] = 29684513.into();
    let (status, body) = ingest(&server, &d.token, "autotask", "invoice", &missing);
    assert_eq!(status, 422, "{body}");
    for needle in [
        "billingItems",
        "sum to 1975.00",
        "invoiceTotal − totalTaxValue is 2200.00",
        "billingItems[0].extendedPrice 1625",
    ] {
        assert!(body.contains(needle), "{needle:?} not in {body}");
    }
}
