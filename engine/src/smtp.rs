//! A minimal SMTP client for alert email: the destination's URL and addresses checked, a plain
//! text message built, and one blocking send (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA,
//! QUIT) with a timeout on connect and on every read and write.
//!
//! TLS rules: `smtps://` is implicit TLS (port 465 by default). `smtp://` (port 25 by default)
//! upgrades with STARTTLS whenever the server offers it, and a server off loopback that does
//! not offer it is refused, so credentials and alert contents never cross a network in clear.
//! Credentials are sent (AUTH PLAIN) only over TLS or to a loopback relay. Certificates are
//! checked against the Mozilla roots (`webpki-roots`) and the URL's host name.
//!
//! Nothing here knows about the store or alerts' states: `alerts.rs` turns an [`SmtpError`]
//! into a failed attempt, retried with back-off like a webhook's 500.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio_rustls::rustls;

use crate::logging::Redacted;

/// Longest SMTP URL.
const MAX_URL_CHARS: usize = 2048;
/// Longest address (RFC 5321's path limit less the angle brackets).
const MAX_ADDRESS_CHARS: usize = 254;
/// Most recipients of one destination.
pub const MAX_RECIPIENTS: usize = 20;
/// Longest reply line read (RFC 5321 allows 512; some servers say more in EHLO lines).
const MAX_REPLY_LINE: usize = 1024;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 64;
/// Longest line of a message body before it is wrapped (RFC 5322's hard limit is 998).
const MAX_BODY_LINE: usize = 900;

/// Why a destination is refused or a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The URL or an address is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The server answered with an unexpected code at `stage`.
    #[error("SMTP {stage}: {code} {text}")]
    Reply {
        /// The command answered (`connect`, `EHLO`, `RCPT TO`, …).
        stage: &'static str,
        /// The reply code.
        code: u16,
        /// The reply text (bounded).
        text: String,
    },
    /// The connection failed, timed out or spoke something other than SMTP.
    #[error("{0}")]
    Transport(String),
}

impl SmtpError {
    /// The server's reply code, when one came.
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Reply { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Implicit TLS or STARTTLS-when-offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://`: STARTTLS when offered, required off loopback.
    StartTls,
}

/// A parsed `smtp://[user[:password]@]host[:port]` or `smtps://…` URL.
#[derive(Debug, Clone)]
pub struct SmtpUrl {
    /// Implicit TLS or STARTTLS.
    pub security: Security,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User and password (percent-decoded), when given.
    pub credentials: Option<(String, Redacted<String>)>,
}

impl SmtpUrl {
    /// Parses and checks `url`; the error never quotes it (it may hold a password).
    pub fn parse(url: &str) -> Result<SmtpUrl, SmtpError> {
        let refuse = |why: &str| Err(SmtpError::Invalid(format!("SMTP URL: {why}")));
        if url.chars().count() > MAX_URL_CHARS {
            return refuse("longer than 2048 characters");
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return refuse("control characters or spaces are not allowed");
        }
        let (security, rest) = if let Some(rest) = url.strip_prefix("smtps://") {
            (Security::Implicit, rest)
        } else if let Some(rest) = url.strip_prefix("smtp://") {
            (Security::StartTls, rest)
        } else {
            return refuse("it must start with smtp:// or smtps://");
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return refuse("no path or query after the host and port");
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let credentials = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let user = percent_decode(user).ok_or(SmtpError::Invalid(
                    "SMTP URL: the user name is not valid percent-encoded UTF-8".into(),
                ))?;
                let password = percent_decode(password).ok_or(SmtpError::Invalid(
                    "SMTP URL: the password is not valid percent-encoded UTF-8".into(),
                ))?;
                if user.is_empty() {
                    return refuse("a password needs a user name before it");
                }
                if user.contains('\0') || password.contains('\0') {
                    return refuse("the user name and password cannot hold NUL");
                }
                Some((user, Redacted(password)))
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return refuse("unclosed [ in the host");
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return refuse("not an IPv6 address between [ and ]");
            }
            (host.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && (host.contains(':')
                || host.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                }));
        if !host_ok {
            return refuse("no valid host name");
        }
        let port = match port {
            None | Some("") => match security {
                Security::Implicit => 465,
                Security::StartTls => 25,
            },
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return refuse("the port must be 1 to 65535"),
            },
        };
        Ok(SmtpUrl {
            security,
            host,
            port,
            credentials,
        })
    }

    /// What lists, logs and the audit log show: scheme, host and port, never credentials.
    pub fn shown(&self) -> String {
        let scheme = match self.security {
            Security::Implicit => "smtps",
            Security::StartTls => "smtp",
        };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = (bytes.next()? as char).to_digit(16)?;
            let lo = (bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Checks one address: bounded, one `@`, a plausible local part and domain, and nothing that
/// could end a header or an SMTP command (CR, LF, `<`, `>`, spaces, commas).
pub fn check_address(address: &str) -> Result<(), SmtpError> {
    let shown: String = address.chars().take(64).collect();
    let refuse = |why: &str| Err(SmtpError::Invalid(format!("address {shown:?}: {why}")));
    if address.chars().count() > MAX_ADDRESS_CHARS {
        return refuse("longer than 254 characters");
    }
    if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse("line breaks, control characters and spaces are not allowed");
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return refuse("no @");
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return refuse("the part before @ is not a plain mailbox name");
    }
    let domain_ok = domain.len() <= 253
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return refuse("the part after @ is not a domain name");
    }
    Ok(())
}

/// A plain-text message ready for DATA.
#[derive(Debug, Clone)]
pub struct Message {
    /// Header lines, without CRLF; each already checked for line breaks.
    pub headers: Vec<(&'static str, String)>,
    /// The body as text lines.
    pub body: String,
}

impl Message {
    /// The DATA payload: headers, a blank line, the body with CRLF line ends, long lines wrapped
    /// and lines starting with `.` doubled (RFC 5321 §4.5.2), then the `.` terminator.
    pub fn to_data(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.headers {
            // Header values are built from checked or cleaned text; never let a break through.
            let value: String = value.chars().filter(|c| !c.is_control()).collect();
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        for line in self.body.lines() {
            let line = line.trim_end_matches('\r');
            for chunk in wrap(line, MAX_BODY_LINE) {
                out.push_str(&dot_stuff(chunk));
                out.push_str("\r\n");
            }
        }
        out.push_str(".\r\n");
        out
    }
}

/// Splits `line` into pieces of at most `max` bytes on character boundaries.
fn wrap(line: &str, max: usize) -> Vec<&str> {
    if line.is_empty() {
        return vec![""];
    }
    let mut pieces = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        pieces.push(&rest[..end]);
        rest = &rest[end..];
    }
    pieces
}

/// A body line as sent: a leading `.` is doubled so the receiver does not read it as the end.
pub fn dot_stuff(line: &str) -> std::borrow::Cow<'_, str> {
    if line.starts_with('.') {
        format!(".{line}").into()
    } else {
        line.into()
    }
}

/// A header value that may carry any text (a connection name): control characters dropped,
/// non-ASCII encoded as an RFC 2047 word.
pub fn header_text(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        clean
    } else {
        format!(
            "=?utf-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(clean)
        )
    }
}

/// The byte stream, plain or TLS.
enum Wire {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}

/// One SMTP conversation.
struct Session {
    wire: Wire,
    host: String,
}

fn transport(what: &str, e: impl std::fmt::Display) -> SmtpError {
    SmtpError::Transport(format!("{what}: {e}"))
}

impl Session {
    /// Reads one reply, byte by byte so nothing past it is buffered when TLS starts after it.
    fn reply(&mut self) -> Result<(u16, String), SmtpError> {
        let mut text = Vec::new();
        for _ in 0..MAX_REPLY_LINES {
            let mut line = Vec::new();
            loop {
                let mut byte = [0u8];
                let n = self
                    .wire
                    .read(&mut byte)
                    .map_err(|e| transport("reading the SMTP reply", e))?;
                if n == 0 {
                    return Err(SmtpError::Transport(
                        "the SMTP server closed the connection".into(),
                    ));
                }
                if byte[0] == b'\n' {
                    break;
                }
                if line.len() >= MAX_REPLY_LINE {
                    return Err(SmtpError::Transport(
                        "an SMTP reply line longer than 1024 bytes".into(),
                    ));
                }
                line.push(byte[0]);
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    SmtpError::Transport("the server does not speak SMTP".to_string())
                })?;
            text.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text.join("\n")));
            }
        }
        Err(SmtpError::Transport(
            "an SMTP reply of more than 64 lines".into(),
        ))
    }

    /// Sends `line` (when given) and expects a reply in `ok`; returns the reply text.
    fn command(
        &mut self,
        stage: &'static str,
        line: Option<&str>,
        ok: &[u16],
    ) -> Result<String, SmtpError> {
        if let Some(line) = line {
            self.wire
                .write_all(format!("{line}\r\n").as_bytes())
                .and_then(|()| self.wire.flush())
                .map_err(|e| transport("writing to the SMTP server", e))?;
        }
        let (code, text) = self.reply()?;
        if ok.contains(&code) {
            Ok(text)
        } else {
            Err(SmtpError::Reply {
                stage,
                code,
                text: text.chars().take(200).collect(),
            })
        }
    }

    fn start_tls(self) -> Result<Session, SmtpError> {
        let Wire::Plain(tcp) = self.wire else {
            return Ok(self);
        };
        Ok(Session {
            wire: Wire::Tls(Box::new(tls(&self.host, tcp)?)),
            host: self.host,
        })
    }
}

fn tls(
    host: &str,
    tcp: TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, SmtpError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| transport("TLS set-up", e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| transport("TLS server name", e))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| transport("TLS set-up", e))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    // Finish the handshake now so a bad certificate is reported as such, not as a write error.
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| transport("TLS handshake", e))?;
    }
    Ok(stream)
}

fn connect(url: &SmtpUrl, timeout: Duration) -> Result<TcpStream, SmtpError> {
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| transport(&format!("resolving {}", url.host), e))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))
                    .and_then(|()| s.set_write_timeout(Some(timeout)))
                    .map_err(|e| transport("socket set-up", e))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(SmtpError::Transport(format!(
        "no connection to {}: {}",
        url.shown(),
        last.map_or("no address".to_string(), |e| e.to_string())
    )))
}

/// Sends `message` from `from` to every address in `to` through the server of `url`.
pub fn send(
    url: &SmtpUrl,
    from: &str,
    to: &[String],
    message: &Message,
    timeout: Duration,
) -> Result<(), SmtpError> {
    let tcp = connect(url, timeout)?;
    // EHLO names this side by its address literal, which needs no DNS name of our own.
    let ehlo = match tcp.local_addr() {
        Ok(std::net::SocketAddr::V4(a)) => format!("EHLO [{}]", a.ip()),
        Ok(std::net::SocketAddr::V6(a)) => format!("EHLO [IPv6:{}]", a.ip()),
        Err(_) => "EHLO qbridge".to_string(),
    };
    let wire = match url.security {
        Security::Implicit => Wire::Tls(Box::new(tls(&url.host, tcp)?)),
        Security::StartTls => Wire::Plain(tcp),
    };
    let mut s = Session {
        wire,
        host: url.host.clone(),
    };
    s.command("connect", None, &[220])?;
    let mut features = s.command("EHLO", Some(&ehlo), &[250])?;
    if url.security == Security::StartTls {
        let offered = features
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"));
        if offered {
            s.command("STARTTLS", Some("STARTTLS"), &[220])?;
            s = s.start_tls()?;
            features = s.command("EHLO", Some(&ehlo), &[250])?;
        } else if !url.is_loopback() {
            return Err(SmtpError::Transport(format!(
                "{} does not offer STARTTLS; use smtps:// or a server that does (plain SMTP is only for a loopback relay)",
                url.shown()
            )));
        }
    }
    if let Some((user, password)) = &url.credentials {
        let plain = format!("\0{user}\0{}", password.0);
        let token = base64::engine::general_purpose::STANDARD.encode(plain);
        let auth = Redacted(format!("AUTH PLAIN {token}"));
        s.command("AUTH", Some(&auth.0), &[235])?;
    }
    let eight_bit = features
        .lines()
        .any(|l| l.trim().eq_ignore_ascii_case("8BITMIME"));
    let mail = if eight_bit {
        format!("MAIL FROM:<{from}> BODY=8BITMIME")
    } else {
        format!("MAIL FROM:<{from}>")
    };
    s.command("MAIL FROM", Some(&mail), &[250])?;
    for rcpt in to {
        s.command("RCPT TO", Some(&format!("RCPT TO:<{rcpt}>")), &[250, 251])?;
    }
    s.command("DATA", Some("DATA"), &[354])?;
    let data = message.to_data();
    s.command("end of DATA", Some(data.trim_end_matches("\r\n")), &[250])?;
    // The message is accepted; a failed QUIT changes nothing.
    let _ = s.command("QUIT", Some("QUIT"), &[221]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_credentials_shown_never() {
        let u = SmtpUrl::parse("smtp://alerts%40firm:p%3Ass@mail.example.com").unwrap();
        assert_eq!(u.security, Security::StartTls);
        assert_eq!((u.host.as_str(), u.port), ("mail.example.com", 25));
        let (user, password) = u.credentials.as_ref().unwrap();
        assert_eq!(
            (user.as_str(), password.0.as_str()),
            ("alerts@firm", "p:ss")
        );
        assert_eq!(u.shown(), "smtp://mail.example.com:25");
        let u = SmtpUrl::parse("smtps://mail.example.com/").unwrap();
        assert_eq!((u.security, u.port), (Security::Implicit, 465));
        assert!(u.credentials.is_none());
        let u = SmtpUrl::parse("smtp://[::1]:2525").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
        assert_eq!(u.shown(), "smtp://[::1]:2525");
        assert!(u.is_loopback());
        for bad in [
            "https://mail.example.com",
            "smtp://",
            "smtp://mail.example.com:0",
            "smtp://mail.example.com:99999",
            "smtp://mail.example.com/path",
            "smtp://mail.example.com?x=1",
            "smtp://mail example.com",
            "smtp://mail.example.com\r\nRCPT TO:<x@y>",
            "smtp://:pw@mail.example.com",
            "smtp://u:%zz@mail.example.com",
            "smtp://[zz]:25",
        ] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_url_never_quotes_its_password() {
        let e = SmtpUrl::parse("smtp://u:hunter22@mail.example.com/x").unwrap_err();
        assert!(!e.to_string().contains("hunter22"), "{e}");
    }

    #[test]
    fn addresses_with_line_breaks_or_odd_shapes_are_refused() {
        for ok in [
            "ops@example.com",
            "a.b+alerts@mail.example.co.uk",
            "root@localhost",
        ] {
            check_address(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "ops@example.com\r\nBcc: victim@example.com",
            "ops@example.com\nX: y",
            "ops@exa\rmple.com",
            "ops example.com",
            "ops@",
            "@example.com",
            "ops@example..com",
            "<ops@example.com>",
            "ops@example.com>",
            "a,b@example.com",
            "ops@-example.com",
            ".ops@example.com",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("ops@{}.com", "a.".repeat(130)),
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn body_lines_starting_with_a_dot_are_doubled_and_lines_end_in_crlf() {
        let m = Message {
            headers: vec![("Subject", "x\r\nBcc: victim@example.com".into())],
            body: "first\n.\n..two\nplain.line\n.".into(),
        };
        let data = m.to_data();
        assert_eq!(
            data,
            "Subject: xBcc: victim@example.com\r\n\r\nfirst\r\n..\r\n...two\r\nplain.line\r\n..\r\n.\r\n"
        );
        assert_eq!(dot_stuff(".x"), "..x");
        assert_eq!(dot_stuff("x."), "x.");
    }

    #[test]
    fn long_body_lines_are_wrapped_on_character_boundaries() {
        let long = "é".repeat(600);
        let m = Message {
            headers: vec![],
            body: long.clone(),
        };
        let data = m.to_data();
        let lines: Vec<&str> = data.split("\r\n").collect();
        assert!(lines.iter().all(|l| l.len() <= MAX_BODY_LINE));
        assert_eq!(lines[1..lines.len() - 2].concat(), long);
    }

    /// A relay on loopback that answers each command from `script` in turn (after its 220).
    fn scripted_relay(script: &'static [&'static str]) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            stream.write_all(b"220 relay\r\n").unwrap();
            for reply in script {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 {
                    return;
                }
                stream.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
            }
        });
        port
    }

    fn message() -> Message {
        Message {
            headers: vec![("Subject", "x".into())],
            body: "hello".into(),
        }
    }

    #[test]
    fn a_refused_recipient_is_a_failed_send_with_the_relays_code() {
        let port = scripted_relay(&["250 relay", "250 ok", "550 5.1.1 no such user"]);
        let url = SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}")).unwrap();
        let to = ["nobody@example.com".to_string()];
        let e = send(
            &url,
            "q@example.com",
            &to,
            &message(),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert_eq!(e.code(), Some(550), "{e}");
        assert!(e.to_string().starts_with("SMTP RCPT TO: 550"), "{e}");
    }

    #[test]
    fn a_refused_login_is_a_failed_send_with_the_relays_code() {
        let port = scripted_relay(&["250 relay", "535 5.7.8 bad credentials"]);
        let url = SmtpUrl::parse(&format!("smtp://u:pw@127.0.0.1:{port}")).unwrap();
        let to = ["ops@example.com".to_string()];
        let e = send(
            &url,
            "q@example.com",
            &to,
            &message(),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert_eq!(e.code(), Some(535), "{e}");
    }

    #[test]
    fn a_silent_relay_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}")).unwrap();
        let to = ["ops@example.com".to_string()];
        let started = std::time::Instant::now();
        let e = send(
            &url,
            "q@example.com",
            &to,
            &message(),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(matches!(e, SmtpError::Transport(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }

    #[test]
    fn header_text_drops_breaks_and_encodes_non_ascii() {
        assert_eq!(header_text("acme\r\nBcc: x"), "acmeBcc: x");
        assert_eq!(header_text("Café"), "=?utf-8?B?Q2Fmw6k=?=");
    }
}
