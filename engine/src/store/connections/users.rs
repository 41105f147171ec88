//! Web Connector users: who may log in to which connection, their password hashes, and
//! disabling or rotating them (which ends their live sessions in the same transaction).

use crate::store::sql::{OptionalExt, Row, Tx, params};

use super::sessions::revoke_sessions;
use super::*;

/// A Web Connector user (one per Windows user / QWC file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QbwcUser {
    /// Row id.
    pub id: i64,
    /// Connection the user belongs to.
    pub connection_id: i64,
    /// That connection's name.
    pub connection: String,
    /// `strUserName` as typed in the QWC file.
    pub username: String,
    /// This user's QWC `FileID`: QBWC refuses an OwnerID/FileID pair already stamped in the
    /// file (QBWC1039), so every Web Connector user of one company file needs its own.
    pub file_id: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled user always gets `nvu`.
    pub disabled: bool,
    /// The company-file path this user's Web Connector last reported.
    pub reported_path: Option<String>,
}

fn user_from_row(r: &Row<'_>) -> crate::store::sql::Result<QbwcUser> {
    Ok(QbwcUser {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        connection: r.get(2)?,
        username: r.get(3)?,
        password_hash: r.get(4)?,
        disabled: r.get(5)?,
        reported_path: r.get(6)?,
        file_id: r.get(7)?,
    })
}

const USER_SELECT: &str = "SELECT u.id, u.connection_id, c.name, u.username, u.password_hash, \
     u.disabled, u.reported_path, u.file_id FROM qbwc_user u JOIN qbwc_connection c ON c.id = u.connection_id";

/// Runs an UPDATE keyed by username, or says the user does not exist.
fn update_user(tx: &Tx<'_>, sql: &str, username: &str) -> Result<(), StoreError> {
    let n = tx.execute(sql, [username])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "Web Connector user {username:?} (see `qbridge user list`)"
        )));
    }
    Ok(())
}

impl Store {
    /// Adds a Web Connector user to a connection.
    pub fn add_qbwc_user(
        &self,
        connection: &str,
        username: &str,
        file_id: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<QbwcUser, StoreError> {
        self.write(|tx| {
            let id = connection_id(tx, connection)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM qbwc_user WHERE username = ?1)",
                [username],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StoreError::Conflict(format!(
                    "a Web Connector user named {username:?} already exists; choose another name or use `qbridge user rotate-password`"
                )));
            }
            tx.execute(
                "INSERT INTO qbwc_user(connection_id, username, file_id, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, username, file_id, password_hash, now_ms()],
            )?;
            audit(tx, actor, "qbwc_user.add", username)
        })?;
        self.qbwc_user(username)?
            .ok_or_else(|| StoreError::NotFound(format!("Web Connector user {username:?}")))
    }

    /// Replaces a user's password hash.
    pub fn set_qbwc_password(
        &self,
        username: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE qbwc_user SET password_hash = ?2 WHERE username = ?1",
                params![username, password_hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "Web Connector user {username:?} (see `qbridge user list`)"
                )));
            }
            revoke_sessions(tx, username)?;
            audit(tx, actor, "qbwc_user.rotate_password", username)
        })
    }

    /// Replaces a legacy (argon2id) hash by its HMAC form after a successful login, unless the
    /// password changed meanwhile. True when replaced.
    pub fn upgrade_qbwc_password_hash(
        &self,
        user_id: i64,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE qbwc_user SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                params![user_id, old_hash, new_hash],
            )?;
            Ok(n == 1)
        })
    }

    /// Disables a user: every later login gets `nvu`, and its live sessions end now.
    pub fn disable_qbwc_user(&self, username: &str, actor: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            update_user(
                tx,
                "UPDATE qbwc_user SET disabled = 1 WHERE username = ?1",
                username,
            )?;
            revoke_sessions(tx, username)?;
            audit(tx, actor, "qbwc_user.disable", username)
        })
    }

    /// One user by name.
    pub fn qbwc_user(&self, username: &str) -> Result<Option<QbwcUser>, StoreError> {
        self.read(|c| {
            c.query_row(
                &format!("{USER_SELECT} WHERE u.username = ?1"),
                [username],
                user_from_row,
            )
            .optional()
            .map_err(StoreError::from)
        })
    }

    /// Every user, by connection then name.
    pub fn qbwc_users(&self) -> Result<Vec<QbwcUser>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{USER_SELECT} ORDER BY c.name, u.username"))?;
            let rows = stmt
                .query_map([], user_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}
