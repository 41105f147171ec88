//! Failed Web Connector logins, counted in the database so that the rate limits hold for the
//! whole cluster: with N nodes behind a balancer an attacker gets one budget, not N. Each
//! username and each address (IPv6 by /64) has a token bucket — `per_minute` tokens, refilled
//! continuously, one taken per failed login — the same rule the engine's in-memory buckets
//! apply per node in front of it (they refuse a flood without a database round trip).
//!
//! A bucket untouched for a minute is full again, so its row says nothing and is deleted; the
//! table holds only the keys that failed in the last minute.

use crate::store::sql::{self, OptionalExt, params};
use crate::store::{Store, StoreError};

/// What a bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKey {
    User,
    Address,
}

impl LoginKey {
    fn code(self) -> i64 {
        match self {
            LoginKey::User => 0,
            LoginKey::Address => 1,
        }
    }
}

/// One side of a login attempt: the bucket's key and its size.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub kind: LoginKey,
    pub key: String,
    pub per_minute: u32,
}

const MINUTE_MS: i64 = 60_000;
/// Tokens are kept in thousandths: whole numbers on both backends, and a bucket of
/// `per_minute` tokens refills by `per_minute` thousandths every 60 ms.
const MILLI: i64 = 1_000;

/// Thousandths of a token left in a bucket last charged at `at_ms` holding `milli`.
fn refilled(milli: i64, at_ms: i64, now_ms: i64, per_minute: u32) -> i64 {
    let cap = i64::from(per_minute) * MILLI;
    let elapsed = (now_ms - at_ms).max(0);
    (milli + elapsed * i64::from(per_minute) * MILLI / MINUTE_MS).min(cap)
}

impl Store {
    /// True when every bucket still has a token: the login may be verified. Takes nothing.
    pub fn login_allowed(&self, buckets: &[Bucket], now_ms: i64) -> Result<bool, StoreError> {
        self.read(|t| {
            let mut stmt = t.prepare_cached(
                "SELECT milli_tokens, at_ms FROM login_failure WHERE kind = ?1 AND key = ?2",
            )?;
            for b in buckets {
                let row: Option<(i64, i64)> = stmt
                    .query_row(params![b.kind.code(), b.key.as_str()], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                if let Some((tokens, at)) = row
                    && refilled(tokens, at, now_ms, b.per_minute) < MILLI
                {
                    return Ok(false);
                }
            }
            Ok::<_, StoreError>(true)
        })
    }

    /// Takes one token from every bucket (a failed login), and forgets the buckets that are
    /// full again.
    pub fn charge_login_failure(&self, buckets: &[Bucket], now_ms: i64) -> Result<(), StoreError> {
        // Rows no exclusive writer reads; each bucket's arithmetic happens in its own UPSERT,
        // so nodes charging the same key at once each take their token.
        self.write_shared(|t| {
            for b in buckets {
                // The bucket refilled to now (at most full), less one token, never below 0.
                t.prepare_cached(
                    "INSERT INTO login_failure(kind, key, milli_tokens, at_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(kind, key) DO UPDATE SET
                       milli_tokens = CASE
                         WHEN login_failure.milli_tokens + ?5 * (CASE WHEN ?4 > login_failure.at_ms
                              THEN ?4 - login_failure.at_ms ELSE 0 END) / 60 >= ?6 THEN ?6 - 1000
                         WHEN login_failure.milli_tokens + ?5 * (CASE WHEN ?4 > login_failure.at_ms
                              THEN ?4 - login_failure.at_ms ELSE 0 END) / 60 < 1000 THEN 0
                         ELSE login_failure.milli_tokens - 1000 + ?5 * (CASE WHEN ?4 > login_failure.at_ms
                              THEN ?4 - login_failure.at_ms ELSE 0 END) / 60
                       END,
                       at_ms = CASE WHEN ?4 > login_failure.at_ms THEN ?4 ELSE login_failure.at_ms END",
                )?
                .execute(params![
                    b.kind.code(),
                    b.key.as_str(),
                    (i64::from(b.per_minute) - 1).max(0) * MILLI,
                    now_ms,
                    i64::from(b.per_minute),
                    i64::from(b.per_minute) * MILLI
                ])?;
            }
            t.prepare_cached("DELETE FROM login_failure WHERE at_ms < ?1")?
                .execute([now_ms - MINUTE_MS])?;
            Ok::<_, sql::Error>(())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn buckets(user: &str, address: &str) -> Vec<Bucket> {
        vec![
            Bucket {
                kind: LoginKey::User,
                key: user.into(),
                per_minute: 3,
            },
            Bucket {
                kind: LoginKey::Address,
                key: address.into(),
                per_minute: 5,
            },
        ]
    }

    #[test]
    fn failures_use_up_a_bucket_that_refills_over_the_minute() {
        let dir = tempfile::tempdir().unwrap();
        let store = testing::open(dir.path());
        let t0 = 1_000_000_000;
        let alice = buckets("alice", "192.0.2.1");
        for _ in 0..3 {
            assert!(store.login_allowed(&alice, t0).unwrap());
            store.charge_login_failure(&alice, t0).unwrap();
        }
        assert!(!store.login_allowed(&alice, t0).unwrap(), "3 per minute");
        // Another user from another address is untouched; the same address is at 3 of 5.
        assert!(
            store
                .login_allowed(&buckets("bob", "192.0.2.9"), t0)
                .unwrap()
        );
        assert!(
            store
                .login_allowed(&buckets("bob", "192.0.2.1"), t0)
                .unwrap()
        );
        // One token comes back every 20 s (3 per minute).
        assert!(!store.login_allowed(&alice, t0 + 19_000).unwrap());
        assert!(store.login_allowed(&alice, t0 + 20_000).unwrap());
        // A minute later the bucket is full and its row is gone.
        store
            .charge_login_failure(&buckets("carol", "192.0.2.7"), t0 + 61_000)
            .unwrap();
        let rows: i64 = store
            .read(|t| {
                t.query_row(
                    "SELECT COUNT(*) FROM login_failure WHERE key IN ('alice', '192.0.2.1')",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(rows, 0);
        assert!(store.login_allowed(&alice, t0 + 61_000).unwrap());
    }

    #[test]
    fn two_nodes_share_one_budget() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let first = testing::open(dir.path());
        // SQLite has one engine per file: the second node exists on PostgreSQL only.
        let Some(second) = testing::open_node(dir.path(), other.path()) else {
            return;
        };
        let t0 = 2_000_000_000;
        let b = buckets("alice", "198.51.100.4");
        // Racing charges from both nodes each take their token.
        std::thread::scope(|s| {
            s.spawn(|| first.charge_login_failure(&b, t0).unwrap());
            s.spawn(|| second.charge_login_failure(&b, t0).unwrap());
        });
        assert!(first.login_allowed(&b, t0).unwrap());
        second.charge_login_failure(&b, t0).unwrap();
        assert!(!first.login_allowed(&b, t0).unwrap());
        assert!(!second.login_allowed(&b, t0).unwrap());
    }
}
