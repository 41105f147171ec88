//! The local admin credential: how commands on this machine reach the running server.
//!
//! One engine owns a data dir (the instance lock), so a command that changes things while the
//! server runs must ask the server — it holds plugins, caches and leases a second process
//! would not see. At start the engine writes `<data_dir>/local-admin.json` (0600, in the
//! 0700 data dir): its URL, its boot id and a fresh admin token made for this run (stored
//! hashed like every token, named [`TOKEN_NAME`]). At a clean stop the token is revoked and
//! the file removed. A server killed without a stop leaves both behind; the next start
//! revokes every earlier token of that name, and a command tells a stale file by its boot id,
//! which no longer matches the lock's holder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::tokens::Scope;
use crate::store::{InstanceLock, Store, StoreError};

/// Name of the credential file in the data dir.
pub const LOCAL_ADMIN_FILE: &str = "local-admin.json";
/// Name of the tokens made for it (audit rows say `token:<id> (local-cli)`).
pub const TOKEN_NAME: &str = "local-cli";
/// Largest credential file read (a URL, a boot id and a token are a few hundred bytes).
const MAX_FILE_BYTES: u64 = 4096;
/// Largest answer read from the server.
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;
/// How long a command waits for a server that holds the lock but has not published yet
/// (it is still booting: plugins compile before it listens).
const STARTING_WAIT: Duration = Duration::from_secs(30);

/// What the file holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Credential {
    url: String,
    boot_id: String,
    token: String,
}

/// Why the running server cannot be reached through its local credential.
#[derive(Debug, thiserror::Error)]
pub enum LocalAdminError {
    /// The token could not be made or revoked.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file could not be written, read or parsed.
    #[error("local admin credential {path}: {message}")]
    File { path: PathBuf, message: String },
    /// Others than the owner may read the file: it is not used.
    #[error(
        "local admin credential {path} has mode {mode:04o}: other users could take the admin token in it. Fix: chmod 600 {path}, or restart the server to write a new one"
    )]
    Unsafe { path: PathBuf, mode: u32 },
    /// The server did not publish a credential (or one of an earlier run is left).
    #[error(
        "a qbridge process holds the data dir {data_dir} but published no local admin credential ({LOCAL_ADMIN_FILE}) within 30 s: another command may be running as the engine (wait for it), the server may still be starting, or it is an older qbridge. Try again, or use the admin API with a token"
    )]
    NotPublished { data_dir: PathBuf },
    /// The server could not be reached.
    #[error("cannot reach the running qbridge server at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The server refused the request.
    #[error("the running server refused ({status}): {message}")]
    Refused { status: u16, message: String },
    /// The server answered something that is not the admin API's JSON.
    #[error("the running server at {url} answered something other than JSON: {message}")]
    BadAnswer { url: String, message: String },
}

/// The server's side: the credential of this run, withdrawn at stop.
#[derive(Debug)]
pub struct Published {
    path: PathBuf,
    token_id: i64,
}

/// Writes the credential for a server listening at `url` (revoking the tokens of earlier
/// runs first: they belong to engines that are gone, one engine per data dir).
pub fn publish(store: &Store, data_dir: &Path, url: &str) -> Result<Published, LocalAdminError> {
    store.revoke_tokens_named(TOKEN_NAME, "system")?;
    let (token_id, token) =
        store.create_token(false, Scope::Admin, TOKEN_NAME, None, None, "system")?;
    let path = data_dir.join(LOCAL_ADMIN_FILE);
    let text = serde_json::to_string(&Credential {
        url: url.to_string(),
        boot_id: store.boot_id().to_string(),
        token,
    })
    .expect("a credential serialises");
    write_private(&path, &text).map_err(|e| LocalAdminError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(Published { path, token_id })
}

impl Published {
    /// Revokes this run's token and removes the file (at a clean stop).
    pub fn withdraw(self, store: &Store) {
        let _ = std::fs::remove_file(&self.path);
        if let Err(e) = store.revoke_tokens(Some(self.token_id), "system") {
            tracing::warn!(error = %e, "could not revoke the local admin token; the next start revokes it");
        }
    }
}

/// Removes a credential a killed server left and revokes its token; for commands that took
/// the instance lock themselves (no server runs, so the file is stale).
pub fn discard_stale(store: &Store, data_dir: &Path) -> Result<(), LocalAdminError> {
    let path = data_dir.join(LOCAL_ADMIN_FILE);
    if path.exists() {
        store.revoke_tokens_named(TOKEN_NAME, "system")?;
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

/// A client of the running server's admin API, authenticated by the local credential.
pub struct LocalAdmin {
    url: String,
    token: String,
    agent: ureq::Agent,
}

impl LocalAdmin {
    /// Reads the credential of the engine that holds `data_dir`'s lock, waiting a little for
    /// one still starting; `None` when no engine runs.
    pub fn find(data_dir: &Path) -> Result<Option<LocalAdmin>, LocalAdminError> {
        let path = data_dir.join(LOCAL_ADMIN_FILE);
        let started = Instant::now();
        loop {
            let Some(boot_id) = InstanceLock::holder_boot_id(data_dir) else {
                return Ok(None);
            };
            if let Some(c) = read_credential(&path)?
                && c.boot_id == boot_id
            {
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(600)))
                    .build()
                    .into();
                return Ok(Some(LocalAdmin {
                    url: c.url.trim_end_matches('/').to_string(),
                    token: c.token,
                    agent,
                }));
            }
            if started.elapsed() > STARTING_WAIT {
                return Err(LocalAdminError::NotPublished {
                    data_dir: data_dir.to_path_buf(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Base URL of the server (e.g. `http://127.0.0.1:8080`), for `--url`-style clients.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin token of this run.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `GET path` → the JSON answer.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, LocalAdminError> {
        let req = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token));
        self.answer(req.call())
    }

    /// `PUT path` with a JSON body → the JSON answer.
    pub fn put_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, LocalAdminError> {
        let req = self
            .agent
            .put(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json");
        self.answer(req.send(body.to_string().as_bytes()))
    }

    /// `DELETE path` → the JSON answer (`Null` for `204 No Content`).
    pub fn delete(&self, path: &str) -> Result<serde_json::Value, LocalAdminError> {
        let req = self
            .agent
            .delete(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token));
        self.answer(req.call())
    }

    /// `POST path` with a JSON body → the JSON answer.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, LocalAdminError> {
        self.post(path, "application/json", body.to_string().as_bytes())
    }

    /// `POST path` with a body of `content_type` → the JSON answer (a `207` counts as an
    /// answer: the batch routes list each item's fate in it).
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, LocalAdminError> {
        self.post_accepting(path, content_type, body, &[])
            .map(|(_, v)| v)
    }

    /// [`LocalAdmin::post`] that also takes the statuses in `accept` as an answer (a batch
    /// route's `422` lists why each item was refused); returns the status with it.
    pub fn post_accepting(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        accept: &[u16],
    ) -> Result<(u16, serde_json::Value), LocalAdminError> {
        let req = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", content_type);
        self.answer_accepting(req.send(body), accept)
    }

    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<serde_json::Value, LocalAdminError> {
        self.answer_accepting(result, &[]).map(|(_, v)| v)
    }

    fn answer_accepting(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        accept: &[u16],
    ) -> Result<(u16, serde_json::Value), LocalAdminError> {
        let mut resp = result.map_err(|e| LocalAdminError::Unreachable {
            url: self.url.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| LocalAdminError::Unreachable {
                url: self.url.clone(),
                message: e.to_string(),
            })?;
        let value: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if !(200..300).contains(&status) && !accept.contains(&status) {
            let message = value
                .as_ref()
                .and_then(|v| v.get("error")?.as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(500).collect());
            return Err(LocalAdminError::Refused { status, message });
        }
        if text.trim().is_empty() {
            // `204 No Content`: done, nothing to show.
            return Ok((status, serde_json::Value::Null));
        }
        value
            .map(|v| (status, v))
            .ok_or_else(|| LocalAdminError::BadAnswer {
                url: self.url.clone(),
                message: text.chars().take(200).collect(),
            })
    }
}

/// `s` as one URL path segment (names may hold spaces; `@`, `/` and the rest are escaped).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The credential in `path`, `None` when there is none; refused when others may read it.
fn read_credential(path: &Path) -> Result<Option<Credential>, LocalAdminError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LocalAdminError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(LocalAdminError::Unsafe {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let file_error = |message: String| LocalAdminError::File {
        path: path.to_path_buf(),
        message,
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_error(format!(
            "{} bytes is more than a credential holds ({MAX_FILE_BYTES} at most)",
            meta.len()
        )));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // Removed between the two calls: the server just stopped.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(e.to_string())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| file_error(format!("not a credential the server wrote: {e}")))
}

/// Writes `text` to `path` readable by the owner only, replacing the file atomically so a
/// command never reads half of it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let partial = path.with_extension("json.partial");
    let _ = std::fs::remove_file(&partial);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&partial)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::store::tokens::TokenCheck;

    #[test]
    fn a_credential_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCAL_ADMIN_FILE);
        std::fs::write(&path, r#"{"url":"http://x","boot_id":"b","token":"t"}"#).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = read_credential(&path).err().unwrap();
            assert!(matches!(err, LocalAdminError::Unsafe { .. }), "{err}");
        }
    }

    #[test]
    fn publish_writes_a_private_file_and_withdraw_revokes_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let published = publish(&store, dir.path(), "http://127.0.0.1:1").unwrap();
        let c = read_credential(&dir.path().join(LOCAL_ADMIN_FILE))
            .unwrap()
            .unwrap();
        assert_eq!(c.boot_id, store.boot_id());
        let live = |t: &str| matches!(store.check_token(t).unwrap(), TokenCheck::Valid(_));
        assert!(live(&c.token));
        published.withdraw(&store);
        assert!(!dir.path().join(LOCAL_ADMIN_FILE).exists());
        assert!(!live(&c.token), "revoked at stop");
    }
}
