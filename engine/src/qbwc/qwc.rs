//! `.qwc` files: what an admin adds to the Web Connector, one per Web Connector user.
//!
//! Each user gets its own AppName (QBWC keys its application list on it, so two users on one
//! machine must not replace each other), the connection's FileID (stamped into the company
//! file), the installation's OwnerID, and an AppURL the Web Connector will accept: https,
//! or plain http only for localhost.

use crate::config::Config;
use crate::store::{Store, StoreError};

use super::envelope::escape;

/// Why a QWC file cannot be issued.
#[derive(Debug, thiserror::Error)]
pub enum QwcError {
    /// No such Web Connector user.
    #[error("no Web Connector user named {0:?}; see `qbridge user list`")]
    UnknownUser(String),
    /// The AppURL would be plain http on a host other than localhost.
    #[error(
        "the Web Connector would be sent to {0}, but it only connects over https (plain http is accepted for localhost only, and passwords would cross the network in clear). Set server.public_url to the https address it reaches this server at (e.g. https://sync.example.com), either served by qbridge itself with tls.cert/tls.key or by an HTTPS reverse proxy"
    )]
    Insecure(String),
    /// There is no public URL and the listening address is not loopback.
    #[error(
        "qbridge listens on {0}, which is not a name the Web Connector can be given. Set server.public_url to the https address it reaches this server at (e.g. https://sync.example.com)"
    )]
    NoPublicUrl(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The AppURL written into QWC files: `server.public_url` (or one derived from a loopback
/// `server.listen`) plus `qbwc.path`, checked to be acceptable to the Web Connector.
pub fn app_url(config: &Config) -> Result<String, QwcError> {
    let base = match &config.public_url {
        Some(u) => u.clone(),
        None if config.listen.ip().is_loopback() => {
            let scheme = if config.serves_tls() { "https" } else { "http" };
            format!("{scheme}://localhost:{}", config.listen.port())
        }
        None => return Err(QwcError::NoPublicUrl(config.listen.to_string())),
    };
    let url = format!("{base}{}", config.qbwc_path);
    if url.starts_with("https://") || is_localhost(&url) {
        Ok(url)
    } else {
        Err(QwcError::Insecure(url))
    }
}

/// True for `http(s)://localhost`, `127.0.0.1` or `[::1]` (with or without a port).
pub fn is_localhost(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    matches!(
        host.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "::1"
    )
}

/// A random GUID (version 4) in the braced upper-case form Intuit's samples use.
pub fn new_guid() -> String {
    let mut b = [0u8; 16];
    // getrandom only fails without an OS random source, where nothing secure can run.
    getrandom::fill(&mut b).expect("the operating system's random source is unavailable");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The installation's OwnerID, generated on first use.
pub fn owner_id(store: &Store) -> Result<String, StoreError> {
    store.qbwc_owner_id(new_guid)
}

/// The QWC file for `username`.
pub fn qwc_for_user(store: &Store, config: &Config, username: &str) -> Result<String, QwcError> {
    let url = app_url(config)?;
    let user = store
        .qbwc_user(username)?
        .ok_or_else(|| QwcError::UnknownUser(username.to_string()))?;
    let connection = store.connection(&user.connection)?;
    let owner = owner_id(store)?;
    let base = url.strip_suffix(&config.qbwc_path).unwrap_or(&url);
    let mut description = format!("qbridge sync for {}", connection.name);
    if description.chars().count() >= 80 {
        description = description.chars().take(79).collect();
    }
    let fields: &[(&str, String)] = &[
        (
            "AppName",
            format!("qbridge {} ({})", connection.name, user.username),
        ),
        ("AppID", String::new()),
        ("AppURL", url.clone()),
        ("AppDescription", description),
        ("AppSupport", format!("{base}/")),
        ("UserName", user.username.clone()),
        ("OwnerID", owner),
        ("FileID", user.file_id.clone()),
        ("QBType", "QBFS".into()),
    ];
    let mut out = String::from("<?xml version=\"1.0\"?>\r\n<QBWCXML>\r\n");
    for (name, value) in fields {
        out.push_str(&format!("  <{name}>{}</{name}>\r\n", escape(value)));
    }
    out.push_str(&format!(
        "  <Scheduler>\r\n    <RunEveryNMinutes>{}</RunEveryNMinutes>\r\n  </Scheduler>\r\n",
        config.qbwc_run_every_minutes
    ));
    out.push_str("  <IsReadOnly>false</IsReadOnly>\r\n");
    out.push_str("  <PersonalDataPref>pdpOptional</PersonalDataPref>\r\n");
    out.push_str("  <UnattendedModePref>umpRequired</UnattendedModePref>\r\n");
    out.push_str("  <AuthFlags>0xF</AuthFlags>\r\n");
    out.push_str("</QBWCXML>\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_may_use_plain_http() {
        let mut c = Config::default();
        assert_eq!(app_url(&c).unwrap(), "http://localhost:8080/qbwc");
        c.public_url = Some("http://sync.example.com".into());
        let err = app_url(&c).unwrap_err().to_string();
        assert!(
            err.contains("only connects over https") && err.contains("server.public_url"),
            "{err}"
        );
        c.public_url = Some("https://sync.example.com".into());
        assert_eq!(app_url(&c).unwrap(), "https://sync.example.com/qbwc");
        c.public_url = Some("http://127.0.0.1:9000".into());
        assert!(app_url(&c).is_ok());
        assert!(is_localhost("http://[::1]:80/x"));
        assert!(!is_localhost("http://localhost.evil.com/"));
    }

    #[test]
    fn guids_are_braced_and_random() {
        let (a, b) = (new_guid(), new_guid());
        assert_eq!(a.len(), 38);
        assert!(a.starts_with('{') && a.ends_with('}'));
        assert_ne!(a, b);
    }
}
