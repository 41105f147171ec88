//! Admin access: tokens, temporary support grants, and the audit trail.

use crate::support::{Server, agent, run, stderr};

fn secret_from(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn whoami(server: &Server, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(format!("{}/api/v1/whoami", server.base));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn first_start_writes_the_bootstrap_token_to_an_owner_only_file_never_to_stdout_or_the_log() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = Server::start();
    let file = server
        .data_dir
        .join(qbridge::admin::bootstrap::BOOTSTRAP_TOKEN_FILE);
    let token = crate::admin_api::bootstrap_token(&server);
    assert!(token.starts_with("qbr_"), "{token}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&server.data_dir)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700,
        "the data dir is created owner-only"
    );
    let (status, body) = whoami(&server, Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"scope\":\"admin\""), "{body}");
    server.terminate();
    let stdout = server.stdout_text();
    assert!(
        stdout.contains(file.to_str().unwrap()),
        "stdout names the file: {stdout}"
    );
    for (what, text) in [("stdout", stdout), ("log", server.log_text())] {
        assert!(
            !text.contains(&token),
            "the token must not appear in the {what} (a journal keeps it)"
        );
    }
}

#[test]
fn unauthenticated_requests_get_401_except_healthz() {
    let server = Server::start();
    assert_eq!(whoami(&server, None).0, 401);
    assert_eq!(whoami(&server, Some("qbr_nonsense")).0, 401);
    let (s, _) = crate::support::get(&format!("{}/some/other/path", server.base)).unwrap();
    assert_eq!(s, 401);
    let (s, _) = crate::support::get(&format!("{}/healthz", server.base)).unwrap();
    assert_eq!(s, 200);
}

#[test]
fn expired_or_revoked_grants_are_refused_on_their_next_request_and_use_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    let out = run(
        tmp.path(),
        &[
            "support",
            "grant",
            "--data-dir",
            dd,
            "--to",
            "Jane (Acme support)",
            "--expires",
            "2h",
            "--reason",
            "ticket 4411",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let grant = secret_from(&out.stdout);
    assert!(grant.starts_with("qbs_"));
    let out = run(
        tmp.path(),
        &[
            "support",
            "grant",
            "--data-dir",
            dd,
            "--to",
            "x",
            "--expires",
            "100h",
            "--reason",
            "r",
        ],
    );
    assert!(!out.status.success() && stderr(&out).contains("at most 72h"));

    let server = Server::start_in(tmp.path(), &data, &[]);
    let (s, body) = whoami(&server, Some(&grant));
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"scope\":\"read\""), "{body}");
    drop(server);

    // Revoke while the server is stopped, then use it again on the next start.
    let out = run(
        tmp.path(),
        &["support", "revoke", "--data-dir", dd, "--all"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 grant(s) revoked"));
    let server = Server::start_in(tmp.path(), &data, &[]);
    let (s, body) = whoami(&server, Some(&grant));
    assert_eq!(s, 401);
    assert!(body.contains("revoked"), "{body}");
    drop(server);

    let out = run(tmp.path(), &["audit", "export", "--data-dir", dd]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("\"action\":\"http.request\"") && log.contains("GET /api/v1/whoami"),
        "{log}"
    );
    assert!(log.contains("grant:1 (Jane (Acme support))"), "{log}");
    assert!(!log.contains(&grant), "secrets never reach the audit log");
}

#[test]
fn audit_verify_detects_an_edited_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dd = tmp.path().join("data");
    let dd = dd.to_str().unwrap();
    for name in ["a", "b", "c"] {
        assert!(
            run(
                tmp.path(),
                &[
                    "token",
                    "create",
                    "--data-dir",
                    dd,
                    "--name",
                    name,
                    "--scope",
                    "read"
                ]
            )
            .status
            .success()
        );
    }
    let out = run(tmp.path(), &["audit", "verify", "--data-dir", dd]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut db = crate::support::Db::open(&tmp.path().join("data"));
    db.drop_trigger("audit_no_update", "audit");
    db.execute("UPDATE audit SET detail='{\"scope\":\"admin\"}' WHERE id=2");
    drop(db);
    let out = run(tmp.path(), &["audit", "verify", "--data-dir", dd]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("row 2"), "{}", stderr(&out));
}

#[test]
fn audit_verify_detects_the_newest_rows_cut_off_after_the_server_anchored_them() {
    let mut server = Server::start();
    let admin = crate::admin_api::bootstrap_token(&server);
    for scope in ["read", "operator"] {
        crate::admin_api::new_token(&server, &admin, scope);
    }
    // Shutdown anchors the head (the server also does so every few minutes).
    server.terminate();
    let data = server.data_dir.clone();
    let dd = data.to_str().unwrap();
    let cwd = data.parent().unwrap();
    let out = run(cwd, &["audit", "verify", "--data-dir", dd]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("signed anchor(s) of the newest rows match"),
        "{text}"
    );

    // Someone with the database removes the two newest rows, and the anchors in it: what is
    // left is still a valid hash chain.
    let mut db = crate::support::Db::open(&data);
    db.drop_trigger("audit_no_delete", "audit");
    db.execute(
        "DELETE FROM audit WHERE id > (SELECT MAX(id) FROM audit) - 2;
         DELETE FROM audit_anchor;",
    );
    drop(db);
    let out = run(cwd, &["audit", "verify", "--data-dir", dd]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("removed from the end of the log"),
        "{}",
        stderr(&out)
    );
}
