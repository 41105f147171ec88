//! TLS to PostgreSQL, configured by libpq's own URL options so that the `database.url` an
//! operator already uses with `psql` means the same thing here:
//!
//! | `sslmode`     | encrypted        | server certificate checked                          |
//! |---------------|------------------|-----------------------------------------------------|
//! | `disable`     | never            | —                                                   |
//! | `prefer` (default) | if the server offers it | no (as libpq)                          |
//! | `require`     | always           | no — unless `sslrootcert` is given: then as `verify-ca` (as libpq) |
//! | `verify-ca`   | always           | chains to `sslrootcert`                             |
//! | `verify-full` | always           | chains to `sslrootcert` and names the URL's host    |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the public (Mozilla) roots;
//! `sslcert` + `sslkey` present a client certificate (PostgreSQL's `cert` authentication).
//! `allow` and the options this build does not implement are refused by name rather than
//! ignored, so no URL silently means less than its operator wrote.
//!
//! The transport is rustls with the ring provider, the same stack the engine serves HTTPS and
//! sends alert mail with; the `postgres` crate only sees it through `MakeTlsConnect`. SCRAM
//! channel binding (`tls-server-end-point`, RFC 5929) is offered, so a server or URL asking
//! for `channel_binding=require` is satisfied.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::Socket;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, RootCertStore};

/// How much of the server's identity is checked (see the module table).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The URL with the options only this module understands taken out (what the `postgres`
/// crate's own parser accepts), and the TLS set-up they asked for.
pub struct Split {
    pub url: String,
    pub tls: Option<PgTls>,
}

/// Options libpq knows that this build does not implement: named in the refusal.
const UNSUPPORTED: &[&str] = &[
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "sslcertmode",
    "sslcompression",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requiressl",
    "sslsni",
    "gssencmode",
];

/// Takes libpq's TLS options out of a `postgres://` URL and builds the connector they ask
/// for. Files are read now, so a wrong path or a bad PEM is reported when the setting is
/// loaded, not at the first connection.
pub fn split(url: &str) -> Result<Split, String> {
    let Some((base, query)) = url.split_once('?').filter(|_| is_url(url)) else {
        // No query, or the key=value form, which the `postgres` parser reads itself: its
        // sslmode can only be disable/prefer/require, and nothing names a root file.
        let mode = match url.parse::<postgres::Config>().map(|c| c.get_ssl_mode()) {
            Ok(postgres::config::SslMode::Disable) => SslMode::Disable,
            Ok(postgres::config::SslMode::Require) => SslMode::Require,
            // A URL that does not parse is reported by the caller's own parse.
            _ => SslMode::Prefer,
        };
        return Ok(Split {
            url: url.to_string(),
            tls: build(mode, None, None)?,
        });
    };
    let mut mode = SslMode::Prefer;
    let mut root = None;
    let mut cert = None;
    let mut key = None;
    // Pairs this module does not read pass through byte for byte: re-encoding them could
    // change what the `postgres` parser decodes (it does not read `+` as a space).
    let mut kept: Vec<String> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| format!("the URL option {name} is not valid UTF-8 once decoded"))
        };
        match name {
            "sslmode" => {
                mode = match value()?.as_str() {
                    "disable" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    "allow" => {
                        return Err("sslmode=allow (plain first, TLS only if the server insists) is not supported: use prefer, or require/verify-full to insist on TLS".into());
                    }
                    other => {
                        return Err(format!(
                            "sslmode={other} is not a TLS mode: use disable, prefer, require, verify-ca or verify-full"
                        ));
                    }
                };
                // The `postgres` parser knows only the first three; the checks the others
                // add are this module's.
                kept.push(
                    match mode {
                        SslMode::Disable => "sslmode=disable",
                        SslMode::Prefer => "sslmode=prefer",
                        _ => "sslmode=require",
                    }
                    .to_string(),
                );
            }
            "sslrootcert" => root = Some(value()?),
            "sslcert" => cert = Some(PathBuf::from(value()?)),
            "sslkey" => key = Some(PathBuf::from(value()?)),
            other if UNSUPPORTED.contains(&other) => {
                return Err(format!(
                    "the URL option {other} is not supported by qbridge: remove it (TLS is set with sslmode, sslrootcert, sslcert and sslkey)"
                ));
            }
            _ => kept.push(pair.to_string()),
        }
    }
    // As libpq: a root file turns `require` into a verified connection.
    if mode == SslMode::Require && root.is_some() {
        mode = SslMode::VerifyCa;
    }
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("sslcert and sslkey go together: give both files (a client certificate and its private key) or neither".into()),
    };
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Split {
        url,
        tls: build(mode, root.as_deref(), client)?,
    })
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

fn build(
    mode: SslMode,
    root: Option<&str>,
    client: Option<(PathBuf, PathBuf)>,
) -> Result<Option<PgTls>, String> {
    if mode == SslMode::Disable {
        if root.is_some() || client.is_some() {
            return Err("sslmode=disable with sslrootcert/sslcert/sslkey: the certificates would never be used; drop them or choose a TLS sslmode".into());
        }
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = match root {
        Some(root) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider.clone())
                .build()
                .map_err(|e| format!("sslrootcert {root}: {e}"))?,
        ),
        None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
            return Err(format!(
                "sslmode={} checks the server's certificate, so it needs sslrootcert: the PEM file of the CA that signed it, or sslrootcert=system for the public roots",
                if mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ));
        }
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, chain) {
        (SslMode::VerifyFull, Some(chain)) => chain,
        (_, chain) => Arc::new(Verifier {
            chain,
            algorithms: provider.signature_verification_algorithms,
        }),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(&cert)?, private_key(&key)?)
            .map_err(|e| {
                format!(
                    "sslcert {} and sslkey {} do not make a client certificate: {e}",
                    cert.display(),
                    key.display()
                )
            })?,
        None => builder.with_no_client_auth(),
    };
    // PostgreSQL 17's direct TLS negotiation requires it; earlier servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Some(PgTls {
        config: Arc::new(config),
    }))
}

fn roots(root: &str) -> Result<RootCertStore, String> {
    if root == "system" {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    }
    let mut store = RootCertStore::empty();
    for cert in certificates(Path::new(root))? {
        store
            .add(cert)
            .map_err(|e| format!("sslrootcert {root}: a certificate in it is not a CA: {e}"))?;
    }
    Ok(store)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read the certificate file {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The client key, refused (as libpq does) when others could read it.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
    if meta.mode() & 0o777 & !allowed != 0 {
        return Err(format!(
            "the key file {} can be read by others (mode {:o}): chmod 600 it",
            path.display(),
            meta.mode() & 0o777
        ));
    }
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("{} is not a PEM private key: {e}", path.display()))
}

/// What to check when a connection failed on the server's certificate; `None` for any other
/// failure.
pub fn certificate_hint(e: &postgres::Error) -> Option<&'static str> {
    let io = std::error::Error::source(e)?.downcast_ref::<io::Error>()?;
    match io.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Some(
            "the server's certificate does not name the host in database.url: connect by a name the certificate carries, or use sslmode=verify-ca",
        ),
        rustls::Error::InvalidCertificate(_) => Some(
            "the server's certificate does not verify: sslrootcert must hold the CA that signed it (and the certificate must be current)",
        ),
        _ => None,
    }
}

/// `prefer`/`require` without a root file: the channel is encrypted and the handshake's
/// signatures are checked, but not who signed the certificate — libpq's meaning of those
/// modes. `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The connector handed to `postgres::Config::connect`.
#[derive(Clone)]
pub struct PgTls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgTls")
    }
}

impl MakeTlsConnect<Socket> for PgTls {
    type Stream = PgTlsStream;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<PgTlsConnect> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host} is not a host name TLS can check: {e}"),
            )
        })?;
        Ok(PgTlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

pub struct PgTlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for PgTlsConnect {
    type Stream = PgTlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            connector
                .connect(self.name, socket)
                .await
                .map(|s| PgTlsStream(Box::new(s)))
        })
    }
}

pub struct PgTlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for PgTlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        let end_entity = self
            .0
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first());
        match end_entity.and_then(|cert| server_end_point(cert)) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash),
            None => ChannelBinding::none(),
        }
    }
}

/// RFC 5929 `tls-server-end-point`: the certificate hashed with its own signature's hash,
/// SHA-256 where that is MD5 or SHA-1. `None` for algorithms with no single hash (Ed25519,
/// RSA-PSS), where the server cannot bind either.
fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const SHA256: &[&[u8]] = &[
        // md5, sha1, sha256 WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        // ecdsa-with-SHA1, ecdsa-with-SHA256
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
    ];
    const SHA384: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ];
    const SHA512: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ];
    let oid = signature_oid(cert)?;
    if SHA256.contains(&oid) {
        Some(sha2::Sha256::digest(cert).to_vec())
    } else if SHA384.contains(&oid) {
        Some(sha2::Sha384::digest(cert).to_vec())
    } else if SHA512.contains(&oid) {
        Some(sha2::Sha512::digest(cert).to_vec())
    } else {
        None
    }
}

/// The OID of `Certificate.signatureAlgorithm` (the SEQUENCE after `tbsCertificate`).
fn signature_oid(der: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = der_element(der, 0x30)?;
    let (_, after_tbs) = der_element(certificate, 0x30)?;
    let (algorithm, _) = der_element(after_tbs, 0x30)?;
    let (oid, _) = der_element(algorithm, 0x06)?;
    Some(oid)
}

/// One DER element of the expected tag: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = if len < 0x80 {
        (len as usize, rest)
    } else {
        let n = (len & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "pg_tls_tests.rs"]
mod tests;
