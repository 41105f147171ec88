//! Sealing, names, grants and the per-connection slots of plugin secrets.

use super::*;

fn setup() -> (tempfile::TempDir, Store, SecretKey) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::testing::open(&dir.path().join("data"));
    let key = SecretKey::open(&dir.path().join("keys/secrets.key")).unwrap();
    (dir, store, key)
}

#[test]
fn values_round_trip_but_are_not_stored_in_clear() {
    let (dir, s, key) = setup();
    s.set_secret(
        &key,
        "ramp",
        "api_key",
        None,
        "sk_live_TOPSECRET",
        "cli:test",
    )
    .unwrap();
    let got = s.secret(&key, "ramp", "api_key", None).unwrap().unwrap();
    assert_eq!(got, Secret::Value(Redacted("sk_live_TOPSECRET".into())));
    assert!(!format!("{got:?}").contains("TOPSECRET"));
    assert_eq!(s.secret(&key, "ramp", "other", None).unwrap(), None);
    let names = s.secret_names(&key, Some("ramp")).unwrap();
    assert_eq!(names.len(), 1);
    assert_eq!(
        (names[0].name.as_str(), names[0].set_by.as_str()),
        ("api_key", "cli:test")
    );
    drop(s);
    for f in ["qbridge.db", "qbridge.db-wal"] {
        let bytes = std::fs::read(dir.path().join("data").join(f)).unwrap_or_default();
        assert!(
            !bytes.windows(8).any(|w| w == b"TOPSECRE"),
            "secret stored in clear in {f}"
        );
    }
}

#[test]
fn a_row_moved_to_another_name_does_not_decrypt() {
    let (_d, s, key) = setup();
    s.set_secret(&key, "ramp", "api_key", None, "value-one", "t")
        .unwrap();
    s.write(|tx| {
        tx.execute(
            "INSERT INTO secret(plugin, name, connection_id, nonce, ciphertext, set_at, set_by)
             SELECT 'stripe', name, connection_id, nonce, ciphertext, set_at, set_by FROM secret",
            [],
        )
    })
    .unwrap();
    assert!(matches!(
        s.secret(&key, "stripe", "api_key", None),
        Err(SecretError::Undecryptable { .. })
    ));
}

#[test]
fn a_connections_own_secret_wins_and_cannot_be_moved_to_another_connection() {
    let (_d, s, key) = setup();
    let firm_a = s.add_connection("firm-a", "fid-a", "", "t").unwrap().id;
    let firm_b = s.add_connection("firm-b", "fid-b", "", "t").unwrap().id;
    s.set_secret(&key, "ramp", "token", None, "shared", "t")
        .unwrap();
    s.set_secret(&key, "ramp", "token", Some(firm_a), "firm-a-only", "t")
        .unwrap();
    let value = |c| match s.secret(&key, "ramp", "token", c).unwrap() {
        Some(Secret::Value(v)) => v.0,
        other => panic!("{other:?}"),
    };
    assert_eq!(value(Some(firm_a)), "firm-a-only");
    assert_eq!(
        value(Some(firm_b)),
        "shared",
        "a connection without its own uses the default"
    );
    assert_eq!(value(None), "shared");
    assert!(matches!(
        s.set_secret(&key, "ramp", "token", Some(9_999), "x", "t"),
        Err(SecretError::Invalid(_))
    ));
    // Firm A's sealed row copied to firm B's slot does not open there.
    s.write(|tx| {
        tx.execute(
            "INSERT INTO secret(plugin, name, connection_id, nonce, ciphertext, set_at, set_by)
             SELECT plugin, name, ?1, nonce, ciphertext, set_at, set_by FROM secret
             WHERE connection_id=?2",
            [firm_b, firm_a],
        )
    })
    .unwrap();
    assert!(matches!(
        s.secret(&key, "ramp", "token", Some(firm_b)),
        Err(SecretError::Undecryptable { .. })
    ));
    let listed = s.secret_names(&key, Some("ramp")).unwrap();
    assert_eq!(
        listed.iter().map(|n| n.connection_id).collect::<Vec<_>>(),
        [None, Some(firm_a), Some(firm_b)]
    );
    s.delete_secret("ramp", "token", Some(firm_a), "t").unwrap();
    assert_eq!(value(Some(firm_a)), "shared");
}

#[test]
fn another_key_file_cannot_open_the_values() {
    let (dir, s, key) = setup();
    s.set_secret(&key, "ramp", "api_key", None, "value", "t")
        .unwrap();
    let other = SecretKey::open(&dir.path().join("other.key")).unwrap();
    assert!(s.secret(&other, "ramp", "api_key", None).is_err());
}

#[cfg(unix)]
#[test]
fn key_file_is_created_0600_and_refused_when_others_can_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.key");
    SecretKey::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SecretKey::open(&path).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn names_and_sizes_are_checked_and_deletes_are_audited() {
    let (_d, s, key) = setup();
    for (p, n) in [("", "a"), ("ramp", "a/b"), ("ramp", &"x".repeat(65))] {
        assert!(matches!(
            s.set_secret(&key, p, n, None, "v", "t"),
            Err(SecretError::Invalid(_))
        ));
    }
    let big = "v".repeat(MAX_VALUE_BYTES + 1);
    assert!(s.set_secret(&key, "ramp", "k", None, &big, "t").is_err());
    s.set_secret(&key, "ramp", "k", None, "v", "t").unwrap();
    s.delete_secret("ramp", "k", None, "t").unwrap();
    assert!(matches!(
        s.delete_secret("ramp", "k", None, "t"),
        Err(StoreError::NotFound(_))
    ));
    let actions: Vec<String> = s
        .audit_rows(0, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    assert_eq!(actions, ["secret.set", "secret.delete"]);
}

fn grant() -> ClientCredentials {
    ClientCredentials {
        token_url: "https://api.ramp.com/developer/v1/token".into(),
        client_id: "client-1".into(),
        client_secret: Redacted("CLIENT-SECRET-XYZ".into()),
        scope: Some("transactions:read bills:read".into()),
    }
}

/// Seals `plaintext` the way every version before grants did, without going through
/// [`Store::set_secret`].
fn store_raw(s: &Store, key: &SecretKey, plugin: &str, name: &str, plaintext: &str) {
    let nonce = [7u8; NONCE_BYTES];
    let sealed = key
        .cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad(plugin, name, None),
            },
        )
        .unwrap();
    s.write(|tx| {
        tx.execute(
            "INSERT INTO secret(plugin, name, connection_id, nonce, ciphertext, set_at, set_by)
             VALUES (?1, ?2, 0, ?3, ?4, 1, 'old version')",
            params![plugin, name, &nonce[..], sealed],
        )
    })
    .unwrap();
}

#[test]
fn values_stored_before_grants_existed_still_read_as_plain_values() {
    let (_d, s, key) = setup();
    // Even a plain value that looks like a grant's JSON stays a plain value.
    let json_like = r#"{"v":1,"kind":"oauth2-client-credentials","token_url":"https://x"}"#;
    store_raw(&s, &key, "ramp", "old", "sk_live_OLD");
    store_raw(&s, &key, "ramp", "json", json_like);
    assert_eq!(
        s.secret(&key, "ramp", "old", None).unwrap(),
        Some(Secret::Value(Redacted("sk_live_OLD".into())))
    );
    assert_eq!(
        s.secret(&key, "ramp", "json", None).unwrap(),
        Some(Secret::Value(Redacted(json_like.into())))
    );
    let kinds: Vec<SecretKind> = s
        .secret_names(&key, None)
        .unwrap()
        .iter()
        .map(|n| n.kind)
        .collect();
    assert_eq!(kinds, [SecretKind::Value, SecretKind::Value]);
}

#[test]
fn grants_round_trip_sealed_and_list_only_their_token_host() {
    let (dir, s, key) = setup();
    s.set_secret_grant(
        &key,
        "ramp",
        "ramp.access_token",
        None,
        &grant(),
        "cli:test",
    )
    .unwrap();
    assert_eq!(
        s.secret(&key, "ramp", "ramp.access_token", None).unwrap(),
        Some(Secret::Oauth2ClientCredentials(grant()))
    );
    let listed = s.secret_names(&key, None).unwrap();
    assert_eq!(listed[0].kind, SecretKind::Oauth2ClientCredentials);
    assert_eq!(listed[0].token_host.as_deref(), Some("api.ramp.com"));
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(
        shown.contains(r#""kind":"oauth2-client-credentials""#),
        "{shown}"
    );
    let audit = serde_json::to_string(&s.audit_rows(0, 10).unwrap()[0].entry.detail).unwrap();
    assert!(audit.contains("api.ramp.com/developer/v1/token"), "{audit}");
    drop(s);
    for f in ["qbridge.db", "qbridge.db-wal"] {
        let bytes = std::fs::read(dir.path().join("data").join(f)).unwrap_or_default();
        assert!(
            !bytes.windows(13).any(|w| w == b"CLIENT-SECRET"),
            "client secret stored in clear in {f}"
        );
    }
    assert!(!shown.contains("CLIENT-SECRET") && !audit.contains("CLIENT-SECRET"));
}

#[test]
fn an_envelope_from_a_newer_version_is_unreadable_not_a_plain_value() {
    let (_d, s, key) = setup();
    store_raw(&s, &key, "ramp", "future", "\0qbridge-secret\0{\"v\":2}");
    assert!(matches!(
        s.secret(&key, "ramp", "future", None),
        Err(SecretError::Undecryptable { .. })
    ));
    let listed = s.secret_names(&key, None).unwrap();
    assert_eq!(listed[0].kind, SecretKind::Unreadable);
}

#[test]
fn bad_grants_and_nul_values_are_refused_saying_what_to_fix() {
    let (_d, s, key) = setup();
    let cases: Vec<(ClientCredentials, &str)> = vec![
        (
            ClientCredentials {
                token_url: "ftp://api.ramp.com/token".into(),
                ..grant()
            },
            "https:// token endpoint",
        ),
        (
            ClientCredentials {
                token_url: "https://user:pw@api.ramp.com/token".into(),
                ..grant()
            },
            "no user:password@",
        ),
        (
            ClientCredentials {
                client_id: String::new(),
                ..grant()
            },
            "client id must be 1 to",
        ),
        (
            ClientCredentials {
                client_secret: Redacted(String::new()),
                ..grant()
            },
            "client secret must be 1 to",
        ),
        (
            ClientCredentials {
                client_secret: Redacted("x".repeat(MAX_CLIENT_SECRET_BYTES + 1)),
                ..grant()
            },
            "client secret must be 1 to",
        ),
        (
            ClientCredentials {
                scope: Some("a  \"b\"".into()),
                ..grant()
            },
            "space-separated list of scope names",
        ),
    ];
    for (g, expected) in cases {
        let err = s
            .set_secret_grant(&key, "ramp", "t", None, &g, "t")
            .unwrap_err();
        assert!(matches!(err, SecretError::Invalid(_)), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let err = s
        .set_secret(&key, "ramp", "t", None, "a\0b", "t")
        .unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    assert!(s.secret_names(&key, None).unwrap().is_empty());
}
