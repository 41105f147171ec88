//! Web UI sessions and the data dir at rest: the cookie holds a server-side session id, never
//! the API token; signing out or revoking the token ends the session for every copy of the
//! cookie; the server refuses a data dir other users can reach and `doctor` says why.

use std::os::unix::fs::PermissionsExt;

use crate::admin_api::{agent, api, bootstrap_token, call, json, new_token};
use crate::support::{Server, run, stderr};

/// Signs in through the login form as a browser on our own page does; returns the
/// `qbridge_session=…` pair of the cookie that was set.
pub(crate) fn sign_in(server: &Server, token: &str) -> String {
    let req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}/login", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", server.base.as_str())
        .body(format!("token={token}&next=%2Fjobs"))
        .unwrap();
    let resp = agent().run(req).unwrap();
    assert_eq!(resp.status().as_u16(), 303, "signed in");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    cookie.split(';').next().unwrap().to_string()
}

fn page(server: &Server, cookie: &str) -> u16 {
    call(server, "get", "/jobs", &[("Cookie", cookie)], None).0
}

#[test]
fn a_stolen_cookie_stops_working_after_sign_out_and_never_holds_the_token() {
    let server = Server::start();
    let admin = bootstrap_token(&server);
    let cookie = sign_in(&server, &admin);
    assert!(
        !cookie.contains(&admin) && cookie.starts_with("qbridge_session=qbc_"),
        "the cookie holds a session id, not the token: {cookie}"
    );
    // The attacker's copy of the cookie works exactly as the browser's does …
    let stolen = cookie.clone();
    assert_eq!(page(&server, &stolen), 200);
    // … until the admin signs out: the session ends on the server, not just in the browser.
    let (s, _) = call(
        &server,
        "post",
        "/logout",
        &[("Cookie", &cookie), ("Origin", &server.base)],
        Some(""),
    );
    assert_eq!(s, 303);
    assert_eq!(page(&server, &stolen), 401, "the stolen cookie is refused");
    let (s, body) = call(
        &server,
        "get",
        "/api/v1/whoami",
        &[("Cookie", &stolen)],
        None,
    );
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("signed out"), "{body}");
    // The token itself keeps working for the API; a new sign-in is a new session.
    assert_eq!(api(&server, &admin, "get", "/api/v1/jobs", None).0, 200);
    let again = sign_in(&server, &admin);
    assert_ne!(again, cookie);
    assert_eq!(page(&server, &again), 200);
    let (_, audit) = api(&server, &admin, "get", "/api/v1/audit/export", None);
    assert!(
        audit.contains("\"action\":\"ui.logout\""),
        "sign-out is audited: {audit}"
    );
}

#[test]
fn revoking_a_token_ends_the_ui_sessions_signed_in_with_it() {
    let server = Server::start();
    let admin = bootstrap_token(&server);
    let reader = new_token(&server, &admin, "read");
    let cookie = sign_in(&server, &reader);
    assert_eq!(page(&server, &cookie), 200);
    let (_, body) = api(&server, &admin, "get", "/api/v1/tokens", None);
    let id = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scope"] == "read")
        .unwrap()["id"]
        .clone();
    let (s, _) = api(
        &server,
        &admin,
        "delete",
        &format!("/api/v1/tokens/{id}"),
        None,
    );
    assert_eq!(s, 204);
    assert_eq!(page(&server, &cookie), 401);
}

#[test]
fn serve_refuses_a_data_dir_other_users_can_reach_and_doctor_explains_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dd = data.to_str().unwrap();
    // Made by an admin with a default umask, as `mkdir` would.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(
        tmp.path(),
        &["serve", "--data-dir", dd, "--listen", "127.0.0.1:0"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("0755") && err.contains(&format!("chmod 700 {dd}")),
        "{err}"
    );
    let out = run(tmp.path(), &["doctor", "--data-dir", dd]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("FAIL data dir")
            && report.contains("open to other users")
            && report.contains(&format!("fix: chmod 700 {dd}")),
        "{report}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = run(tmp.path(), &["doctor", "--data-dir", dd]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!report.contains("FAIL data dir"), "{report}");
}
