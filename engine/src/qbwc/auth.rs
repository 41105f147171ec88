//! Web Connector passwords: generation, hashing, verification, and the guard in front of it.
//!
//! Every Web Connector password is generated here: 24 characters from a 57-letter alphabet,
//! ~141 bits from the OS CSPRNG. Guessing one is hopeless whatever the hash, so a slow hash
//! only hands attackers our CPU. They are therefore stored as HMAC-SHA-256 under a 32-byte
//! server key ([`AuthKey`], `<data_dir>/qbwc-auth.key`, 0600, kept like the secrets key) and
//! verified in constant time in microseconds: a stolen database without the key file gives
//! nothing to test guesses against. Argon2id stays for secrets a person chooses; a Web
//! Connector user whose stored hash is still argon2id (created by an older qbridge) is
//! verified with it once more and upgraded to the HMAC form on that successful login.
//!
//! The guard charges **failed** attempts only: a token bucket per username and one per client
//! address (IPv6 per /64) is consulted before anything is verified and debited when the
//! attempt fails, so an MSP's terminal server running fifty Web Connectors from one address
//! never runs out, while a guesser does after a few tries. Argon2 verifications (legacy hashes)
//! run at most two at a time from a bounded queue; when it is full the answer is "busy"
//! (retry later), never `nvu`, so a Web Connector is not told its password is wrong because
//! the server was busy.

use crate::crypto::{KEY_BYTES, KeyFileError, hmac_sha256, load_or_create_key};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::store::Store;
use crate::store::logins::{Bucket, LoginKey};

/// Length of generated passwords (alphanumeric, ~5.9 bits each: ~141 bits).
pub const PASSWORD_LEN: usize = 24;
/// Most keys a bucket map holds; beyond it full buckets are dropped, then attempts refused.
const MAX_BUCKETS: usize = 10_000;
/// Argon2 verifications allowed to run at once.
const CONCURRENT_VERIFICATIONS: usize = 2;
/// Argon2 verifications allowed to wait for one of those slots; beyond it: "busy".
const VERIFY_QUEUE: usize = 32;
/// How a stored HMAC-SHA-256 password hash starts (then 64 hex digits).
pub const HMAC_PREFIX: &str = "$qbr-hmac-sha256$v=1$";
/// The server key's file name in the data dir.
pub const KEY_FILE: &str = "qbwc-auth.key";

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password ({0}); the system's random source or memory may be unavailable")]
pub struct HashError(String);

/// The server key for Web Connector password hashes cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// It cannot be read or created.
    #[error(
        "cannot use the Web Connector password key {path}: {message}. Fix: make the data dir writable for this user"
    )]
    File { path: PathBuf, message: String },
    /// Group or others may read it.
    #[error(
        "the Web Connector password key {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    /// Not 32 bytes.
    #[error(
        "the Web Connector password key {path} is not a qbridge key ({len} bytes, expected 32). Restore it from the backup of the data dir; if it is lost, delete it and rotate every Web Connector password (`qbridge user rotate-password`)"
    )]
    Corrupt { path: PathBuf, len: u64 },
}

/// The key Web Connector passwords are hashed under. Never printed.
pub struct AuthKey([u8; KEY_BYTES]);

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey([redacted])")
    }
}

impl AuthKey {
    /// The key of the data dir that holds `store`'s database, created on first use.
    pub fn for_store(store: &Store) -> Result<AuthKey, KeyError> {
        AuthKey::open(&key_path(store))
    }

    /// Reads the key file, creating it (0600, 32 random bytes) on first use. Refuses a file
    /// that group or others may read.
    pub fn open(path: &Path) -> Result<AuthKey, KeyError> {
        let key = load_or_create_key(path).map_err(|e| match e {
            KeyFileError::Io(e) => KeyError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
            KeyFileError::Permissions(mode) => KeyError::Permissions {
                path: path.to_path_buf(),
                mode,
            },
            KeyFileError::Corrupt(len) => KeyError::Corrupt {
                path: path.to_path_buf(),
                len,
            },
        })?;
        Ok(AuthKey(key))
    }

    /// The stored form of a generated password: [`HMAC_PREFIX`] + hex HMAC-SHA-256.
    pub fn hash_generated(&self, password: &str) -> String {
        let mac = hmac_sha256(&self.0, &[password.as_bytes()]);
        let mut out = String::with_capacity(HMAC_PREFIX.len() + 64);
        out.push_str(HMAC_PREFIX);
        for b in mac {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Constant-time check of `password` against an HMAC-form `stored` hash.
    fn verify_generated(&self, password: &str, stored: &str) -> bool {
        let Some(hex) = stored.strip_prefix(HMAC_PREFIX) else {
            return false;
        };
        let Some(expected) = decode_hex32(hex) else {
            return false;
        };
        let mac = hmac_sha256(&self.0, &[password.as_bytes()]);
        mac.ct_eq(&expected).into()
    }
}

/// Where the key of `store`'s data dir lives.
pub fn key_path(store: &Store) -> PathBuf {
    store
        .password_key_file()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| store.data_dir().join(KEY_FILE))
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// A new password from the OS CSPRNG: [`PASSWORD_LEN`] characters from letters and digits
/// without look-alikes, so it can be typed from a screen.
pub fn generate_password() -> Result<String, HashError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(PASSWORD_LEN);
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - (256 % ALPHABET.len());
    while out.len() < PASSWORD_LEN {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|e| HashError(e.to_string()))?;
        for b in buf {
            if (b as usize) < limit && out.len() < PASSWORD_LEN {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// The argon2id PHC string for `password` (OWASP minimum parameters, random salt): for
/// secrets a person chooses. Generated Web Connector passwords use [`AuthKey::hash_generated`].
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches the PHC string `hash`. CPU-heavy: call off the async threads.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// True when `stored` is an argon2 PHC string (to be upgraded after a successful login).
pub fn is_legacy_hash(stored: &str) -> bool {
    stored.starts_with("$argon2")
}

/// What a verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The password is right.
    Match,
    /// Wrong password, or no such user.
    NoMatch,
    /// The verification queue is full: answer "busy", charge nothing.
    Busy,
}

/// Token buckets keyed by username or address.
struct Buckets<K> {
    per_minute: f64,
    map: HashMap<K, (f64, Instant)>,
}

impl<K: std::hash::Hash + Eq> Buckets<K> {
    fn new(per_minute: u32) -> Self {
        Buckets {
            per_minute: f64::from(per_minute),
            map: HashMap::new(),
        }
    }

    fn refill(&mut self, key: &K, now: Instant) -> f64 {
        let cap = self.per_minute;
        let rate = cap / 60.0;
        match self.map.get_mut(key) {
            None => cap,
            Some((tokens, at)) => {
                *tokens = (*tokens + rate * now.duration_since(*at).as_secs_f64()).min(cap);
                *at = now;
                *tokens
            }
        }
    }

    /// True when `key` has a token left (nothing is taken).
    fn has_token(&mut self, key: &K, now: Instant) -> bool {
        self.refill(key, now) >= 1.0
    }

    /// Takes one token for `key` (a failed attempt); false when the map is full of keys.
    fn charge(&mut self, key: K, now: Instant) -> bool {
        let cap = self.per_minute;
        let rate = cap / 60.0;
        if self.map.len() >= MAX_BUCKETS && !self.map.contains_key(&key) {
            self.map.retain(|_, (tokens, at)| {
                *tokens + rate * now.duration_since(*at).as_secs_f64() < cap
            });
            if self.map.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let tokens = self.refill(&key, now);
        self.map.insert(key, ((tokens - 1.0).max(0.0), now));
        true
    }
}

/// The address a rate limit or connection cap counts: IPv4 as is, IPv6 by its /64 (one
/// subscriber's prefix), IPv4-mapped IPv6 as the IPv4 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Rate limits and the verification queue, shared by every `authenticate`.
pub(crate) struct Guard {
    per_user_per_minute: u32,
    per_ip_per_minute: u32,
    users: Mutex<Buckets<String>>,
    ips: Mutex<Buckets<IpAddr>>,
    verifying: Arc<Semaphore>,
    /// Argon2 verifications running or waiting.
    admitted: AtomicUsize,
}

/// Releases an admission to the argon2 queue.
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn user_key(username: &str) -> String {
    username.chars().take(128).collect()
}

impl Guard {
    pub(crate) fn new(per_user_per_minute: u32, per_ip_per_minute: u32) -> Self {
        Guard {
            per_user_per_minute,
            per_ip_per_minute,
            users: Mutex::new(Buckets::new(per_user_per_minute)),
            ips: Mutex::new(Buckets::new(per_ip_per_minute)),
            verifying: Arc::new(Semaphore::new(CONCURRENT_VERIFICATIONS)),
            admitted: AtomicUsize::new(0),
        }
    }

    /// False when this address or username has used up its failed attempts: answer `nvu`
    /// without verifying. Takes nothing; only [`Guard::charge_failure`] does.
    pub(crate) fn allowed(&self, username: &str, ip: IpAddr) -> bool {
        let now = Instant::now();
        let ip_ok = self
            .ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .has_token(&address_key(ip), now);
        ip_ok
            && self
                .users
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .has_token(&user_key(username), now)
    }

    /// The cluster-wide buckets (in the store) of this username and address: the same keys
    /// and sizes as this node's own.
    pub(crate) fn shared_buckets(&self, username: &str, ip: IpAddr) -> Vec<Bucket> {
        vec![
            Bucket {
                kind: LoginKey::User,
                key: user_key(username),
                per_minute: self.per_user_per_minute,
            },
            Bucket {
                kind: LoginKey::Address,
                key: address_key(ip).to_string(),
                per_minute: self.per_ip_per_minute,
            },
        ]
    }

    /// Charges one failed attempt to the address and the username.
    pub(crate) fn charge_failure(&self, username: &str, ip: IpAddr) {
        let now = Instant::now();
        self.ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(address_key(ip), now);
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(user_key(username), now);
    }

    /// Checks `password` against the stored hash (`None`: unknown user, a dummy HMAC is
    /// checked so the answer takes as long). HMAC hashes are checked inline; argon2 ones on
    /// the blocking pool, two at a time, from a queue of [`VERIFY_QUEUE`].
    pub(crate) async fn verify(
        &self,
        key: &AuthKey,
        password: String,
        stored: Option<&str>,
    ) -> Verdict {
        let matched = |ok: bool| if ok { Verdict::Match } else { Verdict::NoMatch };
        let Some(stored) = stored else {
            let _ = key.verify_generated(&password, dummy_hmac(key));
            return Verdict::NoMatch;
        };
        if !is_legacy_hash(stored) {
            return matched(key.verify_generated(&password, stored));
        }
        let cap = CONCURRENT_VERIFICATIONS + VERIFY_QUEUE;
        if self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_err()
        {
            return Verdict::Busy;
        }
        let _admitted = Admitted(&self.admitted);
        let Ok(_permit) = self.verifying.clone().acquire_owned().await else {
            return Verdict::Busy;
        };
        let stored = stored.to_string();
        match tokio::task::spawn_blocking(move || verify_password(&password, &stored)).await {
            Ok(ok) => matched(ok),
            Err(_) => Verdict::Busy,
        }
    }

    /// Argon2 verifications running or queued (for tests).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

/// An HMAC hash no password matches in practice, checked for unknown users.
fn dummy_hmac(key: &AuthKey) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = generate_password().unwrap_or_else(|_| "qbridge-dummy".repeat(2));
        key.hash_generated(&random)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (tempfile::TempDir, AuthKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = AuthKey::open(&dir.path().join("k")).unwrap();
        (dir, key)
    }

    #[test]
    fn generated_passwords_are_long_distinct_and_verify_under_the_key_only() {
        let (dir, k) = key();
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert_ne!(a, b);
        let h = k.hash_generated(&a);
        assert!(h.starts_with(HMAC_PREFIX) && h.len() == HMAC_PREFIX.len() + 64);
        assert!(k.verify_generated(&a, &h));
        assert!(!k.verify_generated(&b, &h));
        assert!(!k.verify_generated(&a, &h[..h.len() - 1]));
        let other = AuthKey::open(&dir.path().join("other")).unwrap();
        assert!(
            !other.verify_generated(&a, &h),
            "another key file opens nothing"
        );
        // The same file gives the same key.
        let again = AuthKey::open(&dir.path().join("k")).unwrap();
        assert!(again.verify_generated(&a, &h));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_0600_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        AuthKey::open(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            AuthKey::open(&path),
            Err(KeyError::Permissions { .. })
        ));
        std::fs::write(dir.path().join("short"), b"abc").unwrap();
        std::fs::set_permissions(
            dir.path().join("short"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            AuthKey::open(&dir.path().join("short")),
            Err(KeyError::Corrupt { len: 3, .. })
        ));
    }

    #[tokio::test]
    async fn legacy_argon2_hashes_still_verify() {
        let (_d, k) = key();
        let g = Guard::new(10, 10);
        let h = hash_password("pw").unwrap();
        assert!(is_legacy_hash(&h));
        assert_eq!(g.verify(&k, "pw".into(), Some(&h)).await, Verdict::Match);
        assert_eq!(g.verify(&k, "no".into(), Some(&h)).await, Verdict::NoMatch);
        assert_eq!(g.verify(&k, "pw".into(), None).await, Verdict::NoMatch);
        assert_eq!(g.queued(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_verification_queue_answers_busy_not_no_match() {
        let (_d, k) = key();
        let g = Arc::new(Guard::new(10, 10));
        let h = hash_password("pw").unwrap();
        let k = Arc::new(k);
        let tasks: Vec<_> = (0..(CONCURRENT_VERIFICATIONS + VERIFY_QUEUE) * 2)
            .map(|_| {
                let (g, k, h) = (g.clone(), k.clone(), h.clone());
                tokio::spawn(async move { g.verify(&k, "pw".into(), Some(&h)).await })
            })
            .collect();
        let mut verdicts = Vec::new();
        for t in tasks {
            verdicts.push(t.await.unwrap());
        }
        assert!(verdicts.contains(&Verdict::Busy), "{verdicts:?}");
        assert!(verdicts.contains(&Verdict::Match), "{verdicts:?}");
        assert!(!verdicts.contains(&Verdict::NoMatch), "{verdicts:?}");
        assert_eq!(g.queued(), 0);
    }

    #[test]
    fn only_failures_are_charged_and_ipv6_counts_per_64() {
        let g = Guard::new(3, 3);
        let ip: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        // Successful logins charge nothing: any number are allowed.
        for _ in 0..100 {
            assert!(g.allowed("alice", ip));
        }
        for _ in 0..3 {
            g.charge_failure("mallory", ip);
        }
        assert!(!g.allowed("alice", same64), "the /64 is out of attempts");
        assert!(g.allowed("alice", other64));
        assert!(
            !g.allowed("mallory", other64),
            "the user is out of attempts"
        );
        assert_eq!(
            address_key("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }
}
