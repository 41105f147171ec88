//! The native test harness a plugin author gets: every shipped qbXML version checked, and a
//! fake source answering `pull` and `acknowledge`.
#![cfg(feature = "schema")]

use qbridge_sdk::host::{self, HttpRequest};
use qbridge_sdk::serde_json::Value;
use qbridge_sdk::testing::{self, FakeHost};
use qbridge_sdk::{Manifest, MapError, Mapper, Page, PulledRecord, Request};

struct Alerts<const MIN16: bool>;

impl<const MIN16: bool> Mapper for Alerts<MIN16> {
    fn manifest() -> Manifest {
        let mut m = Manifest::new("alerts", "1.0.0", "Test")
            .request_types(&["AlertQuery", "CustomerQuery"])
            .allowed_hosts(&["api.example.com"])
            .supports_pull();
        if MIN16 {
            m.min_qbxml_version = "16.0".into();
        }
        m
    }

    fn map(_kind: &str, _record: &Value) -> Result<Vec<Request>, MapError> {
        Ok(vec![Request::new(
            "alerts",
            "<AlertQueryRq><OwnerID>0</OwnerID></AlertQueryRq>",
        )])
    }

    fn pull(cursor: Option<&str>) -> Result<Page, String> {
        let url = format!(
            "https://api.example.com/records?after={}",
            cursor.unwrap_or("0")
        );
        let body = host::fetch(HttpRequest {
            method: "GET".into(),
            url,
            headers: vec![("x-api-key".into(), "{{secret:api_key}}".into())],
            body: vec![],
        })?
        .json("GET /records")?;
        let records = body["records"]
            .as_array()
            .ok_or("GET /records: no records array")?
            .iter()
            .map(|r| PulledRecord {
                kind: "customer".into(),
                record: r.clone(),
            })
            .collect();
        Ok(Page {
            records,
            next_cursor: body["next"].as_str().map(str::to_string),
        })
    }
}

#[test]
fn every_version_from_the_minimum_up_is_checked() {
    let requests = testing::map::<Alerts<false>>("customer", "{}").unwrap();
    let e = testing::check_all_versions::<Alerts<false>>(&requests).unwrap_err();
    assert!(e.contains("in qbXML 13.0"), "{e}");
    testing::check_all_versions::<Alerts<true>>(&requests).unwrap();
}

#[test]
fn pull_is_tested_natively_against_a_fake_source() {
    let fake = FakeHost::new()
        .json(
            "GET",
            "https://api.example.com/records?after=0",
            200,
            r#"{"records": [{"id": 1}, {"id": 2}], "next": "2"}"#,
        )
        .install();
    let page = Alerts::<true>::pull(None).unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
    let sent = fake.requests();
    assert_eq!(
        sent[0].headers[0].1, "{{secret:api_key}}",
        "the engine fills secrets"
    );
    let e = Alerts::<true>::pull(Some("2")).unwrap_err();
    assert!(
        e.contains("no answer for GET https://api.example.com/records?after=2"),
        "{e}"
    );
}

#[test]
fn a_golden_file_is_compared_and_blessed_on_request() {
    let dir = std::env::temp_dir().join(format!("qbridge-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let golden = dir.join("alerts.golden");
    let result = testing::map::<Alerts<true>>("customer", "{}");
    std::fs::write(&golden, testing::render(&result)).unwrap();
    testing::assert_golden(&golden, &result);
    std::fs::write(&golden, "something else\n").unwrap();
    let failed = std::panic::catch_unwind(|| testing::assert_golden(&golden, &result));
    assert!(failed.is_err(), "a changed mapping fails its golden test");
    assert!(testing::render(&result).contains("== alerts (AlertQuery)\nqbxml: <AlertQueryRq>"));
    std::fs::remove_dir_all(&dir).unwrap();
}
