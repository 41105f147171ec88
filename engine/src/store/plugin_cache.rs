//! The SHA-256 of every compiled plugin file (`<data_dir>/plugin-cache/*.cwasm`).
//!
//! Loading a `.cwasm` runs it as native code with no validation (wasmtime trusts its own
//! output), so a file swapped on disk would be code execution inside the server. The host
//! records each file's hash here when it writes it, and loads only a file whose bytes hash to
//! the recorded value; anything else is compiled again from the plugin's stored component.

use crate::store::sql::{OptionalExt, params};

use super::audit::now_ms;
use super::{Store, StoreError};

impl Store {
    /// Records the hash of a compiled file the host just wrote (replacing an older record).
    pub fn record_plugin_cache(&self, file: &str, sha256: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO plugin_cache(file, sha256, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(file) DO UPDATE SET sha256 = excluded.sha256, created_at = excluded.created_at",
                params![file, sha256, now_ms()],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// The recorded hash of a compiled file, if the host wrote it.
    pub fn plugin_cache_hash(&self, file: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok::<_, StoreError>(
                c.query_row(
                    "SELECT sha256 FROM plugin_cache WHERE file = ?1",
                    [file],
                    |r| r.get(0),
                )
                .optional()?,
            )
        })
    }
}
