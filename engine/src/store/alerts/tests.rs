use super::*;

fn setup() -> (tempfile::TempDir, Store, SecretKey) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::testing::open(&dir.path().join("data"));
    let key = SecretKey::open(&dir.path().join("secrets.key")).unwrap();
    (dir, store, key)
}

fn admin() -> AuditEntry {
    AuditEntry {
        actor: "cli:test".into(),
        action: "alert.webhook_add".into(),
        ..Default::default()
    }
}

fn hook(url: &str, connection_id: Option<i64>, kinds: &[AlertKind]) -> NewWebhook {
    NewWebhook {
        url: crate::logging::Redacted(url.into()),
        connection_id,
        kinds: kinds.to_vec(),
    }
}

fn record(s: &Store, kind: AlertKind, connection: Option<i64>, dedup: &str) -> bool {
    s.write(|tx| record_in(tx, kind, connection, dedup, serde_json::json!({"n": dedup})))
        .unwrap()
}

#[test]
fn webhook_secrets_are_sealed_at_rest_and_only_the_sending_loop_opens_them() {
    let (dir, s, key) = setup();
    let id = s
        .add_webhook(
            &key,
            &hook(
                "https://hooks.example.com/services/T0/very-secret-path",
                None,
                &AlertKind::SUBSCRIBABLE,
            ),
            "whsec_very-secret-value",
            &admin(),
        )
        .unwrap();
    for bytes in [crate::store::testing::bytes_at_rest(&s)] {
        for secret in [&b"very-secret-value"[..], b"very-secret-path"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "the secret and the URL's path are not stored in clear"
            );
        }
    }
    let listed = &s.webhooks().unwrap()[0];
    assert_eq!(
        (listed.id, listed.url_shown.as_str()),
        (id, "https://hooks.example.com/…")
    );

    record(&s, AlertKind::PluginStaged, None, "p1");
    let due = s.claim_due_deliveries(&key, 10).unwrap();
    assert_eq!(due.len(), 1);
    let Target::Webhook { url, secret } = &due[0].target else {
        panic!("{:?}", due[0].target)
    };
    assert_eq!(secret.0, "whsec_very-secret-value");
    assert_eq!(
        url.0,
        "https://hooks.example.com/services/T0/very-secret-path"
    );

    // Handed back unattempted, it is due again at once.
    s.release_delivery(&due[0]).unwrap();
    // Another key file cannot open it: the delivery fails with what to do, not silently.
    let other = SecretKey::open(&dir.path().join("other.key")).unwrap();
    assert!(s.claim_due_deliveries(&other, 10).unwrap().is_empty());
    let events = s.alert_events(None, 10).unwrap();
    let d = &events[0].deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(d.last_error.as_deref().unwrap().contains("add it again"));
}

#[test]
fn events_reach_only_the_webhooks_that_want_them_and_a_dedup_key_alerts_once() {
    let (_dir, s, key) = setup();
    let a = s.add_connection("alpha", "{a}", "", "test").unwrap().id;
    let b = s.add_connection("beta", "{b}", "", "test").unwrap().id;
    let every = s
        .add_webhook(
            &key,
            &hook("https://all.example.com/", None, &AlertKind::SUBSCRIBABLE),
            "0123456789abcdef",
            &admin(),
        )
        .unwrap();
    let only_a = s
        .add_webhook(
            &key,
            &hook("https://a.example.com/", Some(a), &[AlertKind::JobFailed]),
            "0123456789abcdef",
            &admin(),
        )
        .unwrap();
    assert!(record(&s, AlertKind::JobFailed, Some(a), "job-a"));
    assert!(!record(&s, AlertKind::JobFailed, Some(a), "job-a"), "dedup");
    assert!(record(&s, AlertKind::JobFailed, Some(b), "job-b"));
    assert!(record(&s, AlertKind::ConnectionError, Some(a), "err-a"));
    assert!(record(&s, AlertKind::PluginStaged, None, "staged"));

    let mut got: Vec<(String, i64)> = s
        .claim_due_deliveries(&key, 100)
        .unwrap()
        .into_iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            assert_eq!(body["id"], d.event_id.as_str());
            (
                body["data"]["n"].as_str().unwrap().to_string(),
                d.webhook_id,
            )
        })
        .collect();
    got.sort();
    let want = [
        ("err-a", every),
        ("job-a", every),
        ("job-a", only_a),
        ("job-b", every),
        ("staged", every),
    ];
    assert_eq!(
        got,
        want.map(|(n, w)| (n.to_string(), w)).to_vec(),
        "scoped by connection and kind; instance-wide events only to unscoped webhooks"
    );
    // Fanned out once, and each handed out once: asking again finds nothing due …
    assert!(s.claim_due_deliveries(&key, 100).unwrap().is_empty());
    let deliveries = |s: &Store| -> i64 {
        s.read(|t| t.query_row("SELECT COUNT(*) FROM alert_delivery", [], |r| r.get(0)))
            .unwrap()
    };
    assert_eq!(deliveries(&s), 5);
    // A webhook added later does not receive what happened before it existed.
    s.add_webhook(
        &key,
        &hook("https://late.example.com/", None, &AlertKind::SUBSCRIBABLE),
        "0123456789abcdef",
        &admin(),
    )
    .unwrap();
    assert!(s.claim_due_deliveries(&key, 100).unwrap().is_empty());
    assert_eq!(deliveries(&s), 5);
    // … until the lease of a node that never reported runs out.
    s.write(|t| {
        t.execute(
            "UPDATE alert_delivery SET next_attempt_at = next_attempt_at - ?1",
            [CLAIM_LEASE_MS],
        )
    })
    .unwrap();
    assert_eq!(s.claim_due_deliveries(&key, 100).unwrap().len(), 5);
}

#[test]
fn failed_attempts_back_off_then_give_up_and_every_attempt_is_audited() {
    let (_dir, s, key) = setup();
    s.add_webhook(
        &key,
        &hook("https://hooks.example.com/", None, &AlertKind::SUBSCRIBABLE),
        "0123456789abcdef",
        &admin(),
    )
    .unwrap();
    record(&s, AlertKind::PluginStaged, None, "staged");
    let audited = |s: &Store| {
        s.audit_rows(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|r| r.entry.action == "alert.delivery")
            .count()
    };
    let mut due = s.claim_due_deliveries(&key, 10).unwrap().remove(0);
    for attempt in 1..MAX_ATTEMPTS {
        let state = s
            .delivery_attempted(&due, &Attempt::Failed(Some(500), "HTTP 500: boom".into()))
            .unwrap();
        assert_eq!(state, DeliveryState::Pending, "attempt {attempt}");
        // Not due again at once: it waits its back-off.
        assert!(s.claim_due_deliveries(&key, 10).unwrap().is_empty());
        due.attempts = attempt;
    }
    let state = s
        .delivery_attempted(&due, &Attempt::Failed(None, "timed out".into()))
        .unwrap();
    assert_eq!(state, DeliveryState::Failed);
    let d = &s.alert_events(None, 1).unwrap()[0].deliveries[0];
    assert_eq!(
        (d.state, d.attempts, d.last_error.as_deref()),
        (DeliveryState::Failed, MAX_ATTEMPTS, Some("timed out"))
    );
    assert_eq!(audited(&s), MAX_ATTEMPTS as usize);

    assert_eq!(retry_delay_ms(1), 1_000);
    assert_eq!(retry_delay_ms(2), 2_000);
    assert_eq!(retry_delay_ms(5), 16_000);
    assert_eq!(retry_delay_ms(MAX_ATTEMPTS), MAX_RETRY_MS);
}

#[test]
fn a_test_alert_goes_to_its_webhook_only() {
    let (_dir, s, key) = setup();
    let first = s
        .add_webhook(
            &key,
            &hook("https://one.example.com/", None, &[AlertKind::JobFailed]),
            "0123456789abcdef",
            &admin(),
        )
        .unwrap();
    s.add_webhook(
        &key,
        &hook("https://two.example.com/", None, &AlertKind::SUBSCRIBABLE),
        "0123456789abcdef",
        &admin(),
    )
    .unwrap();
    let id = s.queue_test_alert(first, &admin()).unwrap();
    let due = s.claim_due_deliveries(&key, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].webhook_id, &due[0].event_id), (first, &id));
    assert!(matches!(
        s.queue_test_alert(999, &admin()),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_connection_error_alerts_with_its_record_and_a_repeat_within_the_hour_does_not() {
    let (_dir, s, _key) = setup();
    let a = s.add_connection("alpha", "{a}", "", "test").unwrap().id;
    s.record_connection_error(a, "QuickBooks is not running")
        .unwrap();
    s.record_connection_error(a, "QuickBooks is not running")
        .unwrap();
    s.record_connection_error(a, "the company file is open in single-user mode")
        .unwrap();
    let errors: Vec<String> = s
        .alert_events(Some(a), 10)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AlertKind::ConnectionError)
        .map(|e| e.data["error"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "the company file is open in single-user mode",
            "QuickBooks is not running"
        ]
    );
}

#[test]
fn a_staged_plugin_version_alerts_once_and_an_active_one_does_not() {
    let (_dir, s, _key) = setup();
    let manifest = qbridge_sdk::Manifest::new("ramp", "1.0.0", "Ramp");
    let install = |status, version: &str, sha: &str| {
        let manifest = qbridge_sdk::Manifest {
            version: version.into(),
            ..manifest.clone()
        };
        s.plugin_add_version(
            &super::super::NewPluginVersion {
                manifest: &manifest,
                sha256: sha,
                wasm: b"\0asm",
                installed_by: "cli:test",
                status,
                replace_content: false,
            },
            &admin(),
        )
        .unwrap();
    };
    install(super::super::PluginStatus::Active, "1.0.0", "aa");
    install(super::super::PluginStatus::Staged, "1.1.0", "bb");
    install(super::super::PluginStatus::Staged, "1.1.0", "bb");
    let events = s.alert_events(None, 10).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, AlertKind::PluginStaged);
    assert_eq!(
        (
            events[0].data["plugin"].as_str(),
            events[0].data["version"].as_str()
        ),
        (Some("ramp"), Some("1.1.0"))
    );
}

#[test]
fn only_scheme_and_host_of_a_url_are_shown() {
    for (url, shown) in [
        (
            "https://hooks.slack.com/services/T0/B0/XyZ",
            "https://hooks.slack.com/…",
        ),
        (
            "https://h.example.com:8443?token=x",
            "https://h.example.com:8443/…",
        ),
        ("https://h.example.com/", "https://h.example.com/"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
    ] {
        assert_eq!(url_shown(url), shown, "{url}");
    }
}

#[test]
fn an_email_destinations_smtp_password_is_sealed_and_it_shares_fan_out_with_webhooks() {
    let (_dir, s, key) = setup();
    let new = NewEmail {
        smtp_url: crate::logging::Redacted("smtps://alerts:pw-sealed-4411@mail.example.com".into()),
        url_shown: "smtps://mail.example.com:465".into(),
        from: "qbridge@example.com".into(),
        to: vec!["ops@example.com".into(), "owner@example.com".into()],
        connection_id: None,
        kinds: vec![AlertKind::PluginStaged],
    };
    let id = s.add_email(&key, &new, &admin()).unwrap();
    let bytes = crate::store::testing::bytes_at_rest(&s);
    let secret = &b"pw-sealed-4411"[..];
    assert!(!bytes.windows(secret.len()).any(|w| w == secret));
    let listed = &s.webhooks().unwrap()[0];
    assert_eq!(
        (listed.id, listed.kind, listed.url_shown.as_str()),
        (id, DestinationKind::Email, "smtps://mail.example.com:465")
    );
    record(&s, AlertKind::PluginStaged, None, "p1");
    let due = s.claim_due_deliveries(&key, 10).unwrap();
    let Target::Email { smtp_url, from, to } = &due[0].target else {
        panic!("{:?}", due[0].target)
    };
    assert_eq!(smtp_url.0, "smtps://alerts:pw-sealed-4411@mail.example.com");
    assert_eq!(from, "qbridge@example.com");
    assert_eq!(to, &new.to);
}
