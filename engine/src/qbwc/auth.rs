//! Web Connector passwords: generation, argon2id hashing, and the guard in front of
//! verification.
//!
//! A verification costs ~25 ms of CPU and 19 MiB, so an attacker who can make us hash at
//! will owns both cores. The guard therefore spends tokens from a per-username and a per-IP
//! bucket *before* any hashing (an attempt without tokens is answered `nvu` at once), and at
//! most two verifications run at a time. Unknown usernames verify against a dummy hash so
//! that they take as long as wrong passwords.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Length of generated passwords (alphanumeric, ~5.9 bits each: ~141 bits).
pub const PASSWORD_LEN: usize = 24;
/// Most keys a bucket map holds; beyond it full buckets are dropped, then attempts refused.
const MAX_BUCKETS: usize = 10_000;
/// Verifications allowed to run at once.
const CONCURRENT_VERIFICATIONS: usize = 2;

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password ({0}); the system's random source or memory may be unavailable")]
pub struct HashError(String);

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

/// The argon2id PHC string for `password` (OWASP minimum parameters, random salt).
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

/// A hash no password matches in practice, verified for unknown users to equalise timing.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = generate_password().unwrap_or_else(|_| "qbridge-dummy".repeat(2));
        hash_password(&random).unwrap_or_default()
    })
}

/// Token buckets keyed by username or IP.
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

    /// Takes one token for `key`; false when none is left.
    fn take(&mut self, key: K, now: Instant) -> bool {
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
        let (tokens, at) = self.map.entry(key).or_insert((cap, now));
        *tokens = (*tokens + rate * now.duration_since(*at).as_secs_f64()).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Rate limits and the verification semaphore, shared by every `authenticate`.
pub(crate) struct Guard {
    users: Mutex<Buckets<String>>,
    ips: Mutex<Buckets<IpAddr>>,
    verifying: Arc<Semaphore>,
}

impl Guard {
    pub(crate) fn new(per_user_per_minute: u32, per_ip_per_minute: u32) -> Self {
        Guard {
            users: Mutex::new(Buckets::new(per_user_per_minute)),
            ips: Mutex::new(Buckets::new(per_ip_per_minute)),
            verifying: Arc::new(Semaphore::new(CONCURRENT_VERIFICATIONS)),
        }
    }

    /// Spends one attempt for this IP and username; false means "answer nvu, do not hash".
    pub(crate) fn admit(&self, username: &str, ip: IpAddr) -> bool {
        let now = Instant::now();
        let ip_ok = self
            .ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(ip, now);
        ip_ok
            && self
                .users
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(username.chars().take(128).collect(), now)
    }

    /// Verifies on the blocking pool, at most two at a time. `hash` is `None` for unknown
    /// users: a dummy hash is verified instead and the answer is always false.
    pub(crate) async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.verifying.clone().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || match hash {
            Some(h) => verify_password(&password, &h),
            None => {
                let _ = verify_password(&password, dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_distinct_and_verify() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert_ne!(a, b);
        let h = hash_password(&a).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&a, &h));
        assert!(!verify_password(&b, &h));
    }

    #[test]
    fn buckets_refuse_after_the_burst() {
        let mut b = Buckets::new(3);
        let now = Instant::now();
        assert!((0..3).all(|_| b.take("u", now)));
        assert!(!b.take("u", now));
        assert!(b.take("other", now));
    }
}
