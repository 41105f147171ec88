//! Server keys and keyed hashing: the 32-byte key files beside the database (the secrets key,
//! the Web Connector password key) and HMAC-SHA-256, used by Web Connector passwords
//! (`qbwc::auth`) and the audit chain's anchors (`store::audit_anchor`).

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Bytes in a server key.
pub(crate) const KEY_BYTES: usize = 32;

/// Why a key file cannot be used; each caller words it for its own key.
#[derive(Debug)]
pub(crate) enum KeyFileError {
    /// It could not be created or read.
    Io(std::io::Error),
    /// Group or others may read it (the mode found).
    Permissions(u32),
    /// It does not hold exactly [`KEY_BYTES`] bytes (the length found).
    Corrupt(u64),
}

/// Reads the key at `path`, creating it (0600, [`KEY_BYTES`] random bytes) on first use.
/// Refuses a file that group or others may read, or of the wrong length.
pub(crate) fn load_or_create_key(path: &Path) -> Result<[u8; KEY_BYTES], KeyFileError> {
    if !path.exists() {
        create_key_file(path).map_err(KeyFileError::Io)?;
    }
    let meta = std::fs::metadata(path).map_err(KeyFileError::Io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions(mode));
        }
    }
    if meta.len() != KEY_BYTES as u64 {
        return Err(KeyFileError::Corrupt(meta.len()));
    }
    let bytes = std::fs::read(path).map_err(KeyFileError::Io)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::Corrupt(bytes.len() as u64))
}

fn create_key_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(&key)?;
            f.sync_all()
        }
        // Another process created it between our check and open: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// HMAC-SHA-256 (RFC 2104) of the concatenation of `parts`, over the `sha2` crate the engine
/// already uses. Callers that authenticate several fields length-prefix them, so no two
/// different lists of fields authenticate the same bytes.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_rfc_4231() {
        // Test case 2, also split in two parts.
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"])),
            want
        );
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            want
        );
        // Test case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
