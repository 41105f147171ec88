//! libpq's TLS options against a real PostgreSQL with `ssl=on` (a throw-away cluster with the
//! certificates in `tests/fixtures/tls/postgres`, see its README), and the refusals.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::*;
use crate::store::sql::PgTarget;
use crate::store::sql::throwaway::{ServerTls, ThrowawayCluster};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tls/postgres")
        .join(name)
}

/// The client key as an operator keeps it (git does not keep the 0600 mode).
fn client_key(dir: &Path, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("client.key.pem");
    std::fs::copy(fixture("client.key.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    key
}

fn refused(url: &str) -> String {
    match PgTarget::parse(url) {
        Ok(_) => panic!("{url} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn urls_that_ask_for_what_this_build_cannot_do_are_refused_by_name() {
    let ca = fixture("ca.cert.pem");
    let base = "postgres://u@db.example:5432/q";
    let e = refused(&format!("{base}?sslmode=allow"));
    assert!(
        e.contains("sslmode=allow") && e.contains("use prefer"),
        "{e}"
    );
    let e = refused(&format!("{base}?sslmode=verify-full"));
    assert!(e.contains("needs sslrootcert"), "{e}");
    let e = refused(&format!("{base}?sslmode=verify-ca"));
    assert!(e.contains("needs sslrootcert"), "{e}");
    let e = refused(&format!("{base}?sslmode=bogus"));
    assert!(e.contains("sslmode=bogus is not a TLS mode"), "{e}");
    let e = refused(&format!("{base}?sslmode=require&sslcrl=/x.crl"));
    assert!(e.contains("sslcrl is not supported"), "{e}");
    let e = refused(&format!(
        "{base}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
    ));
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    let e = refused(&format!(
        "{base}?sslmode=require&sslcert={}",
        fixture("client.cert.pem").display()
    ));
    assert!(e.contains("sslcert and sslkey go together"), "{e}");
    let e = refused(&format!(
        "{base}?sslmode=disable&sslrootcert={}",
        ca.display()
    ));
    assert!(e.contains("would never be used"), "{e}");
    // A key file others can read is refused, as libpq refuses it.
    let dir = tempfile::tempdir().unwrap();
    let key = client_key(dir.path(), 0o644);
    let e = refused(&format!(
        "{base}?sslmode=require&sslcert={}&sslkey={}",
        fixture("client.cert.pem").display(),
        key.display()
    ));
    assert!(
        e.contains("can be read by others") && e.contains("chmod 600"),
        "{e}"
    );
    // A file that is not PEM names itself.
    let e = refused(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        key.display()
    ));
    assert!(e.contains("holds no certificate"), "{e}");
}

#[test]
fn the_url_keeps_its_other_options_byte_for_byte_and_modes_follow_libpq() {
    let ca = fixture("ca.cert.pem");
    let s = split(&format!(
        "postgres://u@h/db?options=-c%20search_path%3Dx&sslmode=verify-full&sslrootcert={}&application_name=a+b",
        ca.display()
    ))
    .unwrap();
    assert_eq!(
        s.url,
        "postgres://u@h/db?options=-c%20search_path%3Dx&sslmode=require&application_name=a+b"
    );
    assert!(s.tls.is_some());
    // No sslmode means libpq's default, prefer (a connector, used if the server offers TLS);
    // disable builds none, in either URL form.
    assert!(split("postgres://u@h/db").unwrap().tls.is_some());
    assert!(
        split("postgres://u@h/db?sslmode=disable")
            .unwrap()
            .tls
            .is_none()
    );
    assert!(
        split("host=h user=u sslmode=disable")
            .unwrap()
            .tls
            .is_none()
    );
    assert!(
        split("host=h user=u sslmode=require")
            .unwrap()
            .tls
            .is_some()
    );
}

#[test]
fn channel_binding_hashes_the_certificate_with_its_signatures_hash() {
    let pem = std::fs::read(fixture("server.cert.pem")).unwrap();
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    // The fixture is signed ecdsa-with-SHA384 (1.2.840.10045.4.3.3).
    assert_eq!(
        signature_oid(&der),
        Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03][..])
    );
    assert_eq!(
        server_end_point(&der),
        Some(sha2::Sha384::digest(&der).to_vec())
    );
    let pem = std::fs::read(fixture("client.cert.pem")).unwrap();
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        server_end_point(&der),
        Some(sha2::Sha256::digest(&der).to_vec())
    );
    // Truncated or foreign bytes give no binding rather than a wrong one.
    assert_eq!(server_end_point(&der[..40]), None);
    assert_eq!(server_end_point(b"not a certificate"), None);
}

#[test]
fn a_server_without_tls_is_refused_under_require_not_used_in_the_clear() {
    // A server that answers PostgreSQL's SSLRequest with 'N' (no TLS here).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(1) {
            let mut conn = conn.unwrap();
            let mut request = [0u8; 8];
            conn.read_exact(&mut request).unwrap();
            assert_eq!(&request[4..], &[0x04, 0xd2, 0x16, 0x2f], "an SSLRequest");
            conn.write_all(b"N").unwrap();
        }
    });
    let target =
        PgTarget::parse(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=require")).unwrap();
    let e = target.connect().err().expect("require must not fall back");
    assert!(
        format!("{e:?}").contains("server does not support TLS"),
        "{e:?}"
    );
}

#[test]
fn a_unix_socket_connects_in_the_clear_whatever_sslmode_says_as_with_libpq() {
    let cluster = tls_cluster();
    let dir = cluster.socket_dir().display().to_string();
    let dir: String =
        percent_encoding::utf8_percent_encode(&dir, percent_encoding::NON_ALPHANUMERIC).to_string();
    for mode in ["", "&sslmode=prefer", "&sslmode=require"] {
        let url = format!(
            "postgres://qbridge@/qbridge?host={dir}&port={}{mode}",
            cluster.port()
        );
        let target = PgTarget::parse(&url).unwrap();
        let mut client = target.connect().unwrap_or_else(|e| panic!("{url}: {e:?}"));
        let local: bool = client
            .query_one("SELECT inet_client_addr() IS NULL", &[])
            .unwrap()
            .get(0);
        assert!(local, "{url} went over TCP");
    }
}

const TLS_ONLY: &str = "tls_only";

/// One cluster with `ssl=on` for the connection tests: `tls_only` may not connect in the
/// clear, `qbridge_cert` authenticates by client certificate, `qbridge_scram` by password.
fn tls_cluster() -> ThrowawayCluster {
    let cluster = ThrowawayCluster::start_with(Some(&ServerTls {
        cert: &fixture("server.cert.pem"),
        key: &fixture("server.key.pem"),
        client_ca: &fixture("ca.cert.pem"),
        hba_first: &[
            "hostnossl all tls_only 127.0.0.1/32 reject",
            "hostssl all qbridge_cert 127.0.0.1/32 cert",
            "hostssl all qbridge_scram 127.0.0.1/32 scram-sha-256",
        ],
    }))
    .unwrap_or_else(|e| panic!("a PostgreSQL cluster with TLS: {e}"));
    let mut admin = postgres::Client::connect(&cluster.url("qbridge"), postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE ROLE tls_only LOGIN SUPERUSER;
             CREATE ROLE qbridge_cert LOGIN;
             CREATE ROLE qbridge_scram LOGIN PASSWORD 'scram-pw';",
        )
        .unwrap();
    cluster
}

/// Whether this connection is encrypted, as the server sees it.
fn encrypted(target: &PgTarget) -> Result<bool, String> {
    let mut client = target.connect().map_err(|e| format!("{e:?}"))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map_err(|e| format!("{e:?}"))?;
    Ok(row.get(0))
}

#[test]
fn every_sslmode_does_what_libpq_does_against_a_real_server() {
    let cluster = tls_cluster();
    let port = cluster.port();
    let dir = tempfile::tempdir().unwrap();
    let ca = fixture("ca.cert.pem");
    let other = fixture("other-ca.cert.pem");
    let url = |user: &str, host: &str, query: &str| {
        PgTarget::parse(&format!("postgres://{user}@{host}:{port}/qbridge?{query}"))
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    };
    let ok = |target: PgTarget| encrypted(&target).unwrap_or_else(|e| panic!("{target:?}: {e}"));
    let err = |target: PgTarget| match encrypted(&target) {
        Ok(_) => panic!("{target:?} connected"),
        Err(e) => e,
    };

    // Encrypted without checks (libpq's prefer and require); disable is plain, and the
    // server refuses tls_only in the clear.
    assert!(ok(url(TLS_ONLY, "127.0.0.1", "sslmode=require")));
    assert!(ok(url(TLS_ONLY, "127.0.0.1", "")));
    assert!(!ok(url("qbridge", "127.0.0.1", "sslmode=disable")));
    let e = err(url(TLS_ONLY, "127.0.0.1", "sslmode=disable"));
    assert!(
        e.contains("no encryption") || e.contains("rejects connection"),
        "{e}"
    );

    // verify-full: the right CA and a name in the certificate (DNS:localhost only).
    let root = |mode: &str, ca: &Path| format!("sslmode={mode}&sslrootcert={}", ca.display());
    assert!(ok(url(TLS_ONLY, "localhost", &root("verify-full", &ca))));
    let e = err(url(TLS_ONLY, "127.0.0.1", &root("verify-full", &ca)));
    assert!(e.contains("NotValidForName"), "{e}");
    let e = err(url(TLS_ONLY, "localhost", &root("verify-full", &other)));
    assert!(e.contains("UnknownIssuer"), "{e}");
    // verify-ca checks the chain, not the name; require with a root file is verify-ca.
    assert!(ok(url(TLS_ONLY, "127.0.0.1", &root("verify-ca", &ca))));
    let e = err(url(TLS_ONLY, "127.0.0.1", &root("verify-ca", &other)));
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = err(url(TLS_ONLY, "127.0.0.1", &root("require", &other)));
    assert!(e.contains("UnknownIssuer"), "{e}");
    // The public roots do not vouch for a private CA.
    let e = err(url(
        TLS_ONLY,
        "localhost",
        "sslmode=verify-full&sslrootcert=system",
    ));
    assert!(e.contains("UnknownIssuer"), "{e}");

    // A client certificate (PostgreSQL's cert authentication).
    let key = client_key(dir.path(), 0o600);
    let cert = fixture("client.cert.pem");
    assert!(ok(url(
        "qbridge_cert",
        "localhost",
        &format!(
            "{}&sslcert={}&sslkey={}",
            root("verify-full", &ca),
            cert.display(),
            key.display()
        )
    )));
    let e = err(url("qbridge_cert", "localhost", &root("verify-full", &ca)));
    assert!(e.contains("certificate"), "{e}");

    // SCRAM with channel binding required: the server checks the tls-server-end-point hash
    // (its certificate is signed with SHA-384) against the one this connector offers.
    assert!(ok(PgTarget::parse(&format!(
        "postgres://qbridge_scram:scram-pw@localhost:{port}/qbridge?{}&channel_binding=require",
        root("verify-full", &ca)
    ))
    .unwrap()));
}

#[test]
fn the_store_runs_on_a_verified_tls_connection() {
    let cluster = tls_cluster();
    let dir = tempfile::tempdir().unwrap();
    let target = PgTarget::parse(&format!(
        "postgres://{TLS_ONLY}@localhost:{}/qbridge?sslmode=verify-full&sslrootcert={}",
        cluster.port(),
        fixture("ca.cert.pem").display()
    ))
    .unwrap();
    let opts = crate::store::StoreOptions {
        postgres: Some(target),
        ..Default::default()
    };
    // Migrations, the node row and a read, all through the pool; the server refuses
    // tls_only any connection in the clear.
    let store = crate::store::Store::open(dir.path(), opts).expect("the store over TLS");
    let encrypted: bool = store
        .read(|t| {
            t.query_row(
                "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'tls_only'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert!(encrypted);
    let jobs: i64 = store
        .read(|t| t.query_row("SELECT COUNT(*) FROM job", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(jobs, 0);
}
