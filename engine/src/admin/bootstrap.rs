//! The first admin token, made on the first start of a server with no tokens.
//!
//! It is written to a 0600 file in the data dir (0700 itself), not to stdout or the log:
//! under systemd or Docker, stdout is kept in a journal any operator can read long after the
//! token matters. Only when stdout is a terminal — a person watching — is it also shown there.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::store::tokens::Scope;
use crate::store::{Store, StoreError};

/// Name of the file in the data dir that holds the bootstrap token.
pub const BOOTSTRAP_TOKEN_FILE: &str = "bootstrap-admin-token";

/// Why the bootstrap token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The token could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file could not be written.
    #[error("cannot write the bootstrap admin token to {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// On first start (no token exists), creates an admin token and writes it to
/// `<data_dir>/bootstrap-admin-token` (0600). Returns the file's path when one was made.
pub fn bootstrap_admin_token(
    store: &Store,
    data_dir: &Path,
) -> Result<Option<PathBuf>, BootstrapError> {
    if !store.no_tokens_yet()? {
        return Ok(None);
    }
    let path = data_dir.join(BOOTSTRAP_TOKEN_FILE);
    let (_, secret) = store.create_token(false, Scope::Admin, "bootstrap", None, None, "system")?;
    write_private(&path, &secret).map_err(|source| BootstrapError::File {
        path: path.clone(),
        source,
    })?;
    let mut out = std::io::stdout();
    // A failed write to stdout is not worth refusing to start over: the file has the token.
    let _ = if out.is_terminal() {
        writeln!(
            out,
            "First start: your admin token (shown once here; also in {}, delete that file once you have stored it):\n{secret}",
            path.display()
        )
    } else {
        writeln!(
            out,
            "First start: an admin token was written to {} (readable by this user only); sign in with it, then delete the file",
            path.display()
        )
    };
    Ok(Some(path))
}

/// Writes `secret` to a new file only its owner can read. An existing file is replaced: it
/// can only hold an older bootstrap token of a database that has since been recreated.
fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(f, "{secret}")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    #[test]
    fn the_first_start_writes_one_owner_only_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let path = bootstrap_admin_token(&store, dir.path())
            .unwrap()
            .expect("a token on first start");
        let secret = std::fs::read_to_string(&path).unwrap();
        assert!(matches!(
            store.check_token(secret.trim()).unwrap(),
            crate::store::tokens::TokenCheck::Valid(t) if t.scope == Scope::Admin
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(bootstrap_admin_token(&store, dir.path()).unwrap(), None);
    }
}
