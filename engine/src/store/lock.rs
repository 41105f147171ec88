//! The instance lock: one engine per data dir.
//!
//! Two engines on one database would each believe they own the leases of running jobs and
//! could send the same write to QuickBooks twice. An OS file lock (released by the kernel when
//! the process dies, even on SIGKILL) makes the second engine refuse to start instead. The
//! lock file also records a fresh `boot_id`: every lease the queue hands out carries it, so at
//! start-up any lease with another boot id belongs to a dead process and is rescued at once —
//! no hour-long timeout as in multi-node queues.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Holds the exclusive lock for as long as it lives.
#[derive(Debug)]
pub struct InstanceLock {
    file: File,
    path: PathBuf,
    boot_id: String,
}

impl InstanceLock {
    /// File name of the lock inside the data dir.
    pub const FILE_NAME: &'static str = "qbridge.lock";

    /// Takes the lock or explains who holds it.
    pub fn acquire(data_dir: &Path) -> Result<InstanceLock, StoreError> {
        let path = data_dir.join(Self::FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::DataDir {
                path: data_dir.to_path_buf(),
                message: format!("cannot open lock file {}: {e}", path.display()),
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    data_dir: data_dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::DataDir {
                    path: data_dir.to_path_buf(),
                    message: format!("cannot lock {}: {e}", path.display()),
                });
            }
        }
        let boot_id = new_boot_id();
        let stamp = format!("pid {} boot {boot_id}\n", std::process::id());
        // Best effort: the lock itself is what matters, the text only helps the error message.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(stamp.as_bytes());
        let _ = file.sync_all();
        Ok(InstanceLock {
            file,
            path,
            boot_id,
        })
    }

    /// True when another live process holds the lock (used by `doctor`, which must not take it).
    pub fn is_held(data_dir: &Path) -> Option<String> {
        let path = data_dir.join(Self::FILE_NAME);
        let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(_) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Some(holder.trim().to_string())
            }
        }
    }

    /// The boot id of the live engine holding the lock, read from the lock file; `None`
    /// when no engine runs. Commands beside the server judge leases by it.
    pub fn holder_boot_id(data_dir: &Path) -> Option<String> {
        let holder = Self::is_held(data_dir)?;
        let id = holder
            .split_whitespace()
            .skip_while(|w| *w != "boot")
            .nth(1)?;
        (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
    }

    /// The id stamped on every lease this process hands out.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// Where the lock file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

pub(super) fn new_boot_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
