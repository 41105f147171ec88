//! Connections and Web Connector users: the operations behind `qbridge connection|user …` and
//! the admin API, in one place so both validate names and handle passwords the same way.
//! Passwords are generated here, returned once to the caller, and only their HMAC-SHA-256
//! under the data dir's Web Connector password key is stored (see `auth`). Rotating a
//! password or disabling a user ends that user's live sessions at once.

use super::{auth, qwc};
use crate::store::connections::ConnectionInfo;
use crate::store::{Store, StoreError};

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A name with characters QBWC or file names cannot carry.
    #[error("{kind} {name:?} is not allowed: use 1 to 64 letters, digits or any of {extra:?}")]
    InvalidName {
        /// What was named (`connection name`, `user name`).
        kind: &'static str,
        /// The refused name.
        name: String,
        /// Characters allowed besides letters and digits.
        extra: &'static str,
    },
    /// Password generation or hashing failed.
    #[error("cannot create a password: {0}")]
    Password(String),
    /// The store refused (unknown connection, duplicate name, …).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_name(kind: &'static str, name: &str, extra: &'static str) -> Result<(), AccountError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(AccountError::InvalidName {
            kind,
            name: name.to_string(),
            extra,
        })
    }
}

/// Adds a connection (company file) with a fresh FileID; `company_file` "" = whichever file
/// is open when the Web Connector runs.
pub fn add_connection(
    store: &Store,
    name: &str,
    company_file: &str,
    actor: &str,
) -> Result<ConnectionInfo, AccountError> {
    check_name("connection name", name, " ._-")?;
    let c = store.add_connection(name, &qwc::new_guid(), company_file, actor)?;
    qwc::owner_id(store)?;
    Ok(c)
}

fn new_password(store: &Store) -> Result<(String, String), AccountError> {
    let key = auth::AuthKey::for_store(store).map_err(|e| AccountError::Password(e.to_string()))?;
    let password = auth::generate_password().map_err(|e| AccountError::Password(e.to_string()))?;
    let hash = key.hash_generated(&password);
    Ok((password, hash))
}

/// Adds a Web Connector user to a connection; returns the password, to be shown once.
pub fn add_user(
    store: &Store,
    connection: &str,
    username: &str,
    actor: &str,
) -> Result<String, AccountError> {
    check_name("user name", username, "._@-")?;
    let (password, hash) = new_password(store)?;
    store.add_qbwc_user(connection, username, &qwc::new_guid(), &hash, actor)?;
    Ok(password)
}

/// Replaces a user's password and ends the user's live sessions (their next call is
/// refused); returns the new password, to be shown once.
pub fn rotate_password(store: &Store, username: &str, actor: &str) -> Result<String, AccountError> {
    let (password, hash) = new_password(store)?;
    store.set_qbwc_password(username, &hash, actor)?;
    Ok(password)
}
