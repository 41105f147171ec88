//! Foundation: the binary starts on embedded defaults, owns its data dir exclusively, refuses a
//! damaged database, and explains bad configuration in one line.

use std::io::{Seek, SeekFrom, Write};

use crate::support::{self, Server, run, stderr};

#[test]
fn serve_without_config_creates_data_dir_answers_healthz_and_stops_on_sigterm() {
    let cwd = tempfile::tempdir().unwrap();
    // No --data-dir: the embedded default ./qbridge-data relative to the working directory.
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = cwd.path().join("serve.log");
    let child = support::qbridge(cwd.path())
        .args(["serve", "--listen", &listen])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        base: format!("http://{listen}"),
        data_dir: cwd.path().join("qbridge-data"),
        log,
        _tmp: None,
    };
    server.wait_healthy();
    // The data dir is made either way; the database file only when it holds the store.
    assert!(cwd.path().join("qbridge-data").is_dir());
    assert_eq!(
        cwd.path().join("qbridge-data/qbridge.db").is_file(),
        !support::on_postgres()
    );
    let (status, body) = support::get(&format!("{}/healthz", server.base)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let exit = server.terminate();
    assert!(exit.success(), "exit {exit}: {}", server.log_text());
    assert!(
        server.log_text().contains("stopped cleanly"),
        "{}",
        server.log_text()
    );
}

#[test]
fn second_engine_on_same_data_dir_is_refused() {
    let server = Server::start();
    let out = run(
        server.data_dir.parent().unwrap(),
        &[
            "serve",
            "--data-dir",
            server.data_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("another qbridge engine is already using the data dir"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

#[test]
fn corrupt_database_makes_serve_and_doctor_refuse_with_restore_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(tmp.path(), &data_dir, &[]);
    assert!(server.terminate().success());
    // Overwrite every page after the schema page with garbage: the tables' b-tree pages
    // become unreadable, as after a torn write or a bad disk.
    let db = data_dir.join("qbridge.db");
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 4096, "the database has table pages to damage");
    let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.seek(SeekFrom::Start(4096)).unwrap();
    f.write_all(&vec![0xff; (len - 4096) as usize]).unwrap();
    drop(f);
    let dd = data_dir.to_str().unwrap();
    for args in [
        vec!["serve", "--data-dir", dd, "--listen", "127.0.0.1:0"],
        vec!["doctor", "--data-dir", dd],
    ] {
        let out = run(tmp.path(), &args);
        assert!(!out.status.success(), "{args:?} must fail");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(text.contains("corrupt"), "{args:?}: {text}");
        assert!(
            text.contains("restore the latest backup"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn invalid_config_value_is_one_line_naming_key_value_and_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = support::qbridge(tmp.path())
        .args(["doctor"])
        .env("QBRIDGE_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("`log.format`")
            && err.contains("\"xml\"")
            && err.contains("`human` or `json`"),
        "{err}"
    );
}

#[test]
fn unknown_config_key_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("qbridge.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9\"\nport = 80\n").unwrap();
    let out = run(tmp.path(), &["serve", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown setting `server.port`"), "{err}");
}

#[test]
fn unusable_data_dir_is_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A path below a regular file can never be created (this holds even for root).
    let blocker = tmp.path().join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let dd = blocker.join("data");
    let out = run(
        tmp.path(),
        &[
            "serve",
            "--data-dir",
            dd.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("is not usable") && err.contains("not-a-folder/data"),
        "{err}"
    );
}

#[test]
fn doctor_reports_ok_on_a_fresh_install() {
    let tmp = tempfile::tempdir().unwrap();
    let port = support::free_port().to_string();
    let out = run(
        tmp.path(),
        &["doctor", "--listen", &format!("127.0.0.1:{port}")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("data dir") && text.contains("database") && text.contains("tls"),
        "{text}"
    );
}
