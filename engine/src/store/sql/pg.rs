//! PostgreSQL under the store's SQL surface: a small pool of synchronous `postgres` clients,
//! values sent as whatever type the server inferred for each parameter, and any column read
//! back as a [`ValueRef`].

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, IsolationLevel, NoTls};

use super::pg_tls::{self, PgTls};
use super::value::ValueRef;
use super::{Error, Result, translate};

/// Where a PostgreSQL store lives: the server (from `database.url`) and, for tests, a schema
/// of its own inside that database.
#[derive(Clone)]
pub struct PgTarget {
    pub config: Config,
    /// `search_path` for every connection; `None` keeps the database's default (`public`).
    pub schema: Option<String>,
    /// The URL with any password removed, for messages.
    pub shown: String,
    /// The TLS connector `sslmode` and its files asked for; `None` for `sslmode=disable`.
    pub tls: Option<PgTls>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgTarget {
    /// Parses a `postgres://` URL, libpq's TLS options included (`store::sql::pg_tls`).
    pub fn parse(url: &str) -> std::result::Result<PgTarget, String> {
        let shown = redact(url);
        let split = pg_tls::split(url).map_err(|e| format!("database.url {shown}: {e}"))?;
        let config: Config = split
            .url
            .parse()
            .map_err(|e| format!("database.url {shown} is not a PostgreSQL URL: {e}"))?;
        Ok(PgTarget {
            config,
            schema: None,
            shown,
            tls: split.tls,
        })
    }

    /// One client, over TLS when the URL asks for it. Blocks: not on an async task's thread.
    pub fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        self.connect_with(&self.config)
    }

    fn connect_with(&self, config: &Config) -> std::result::Result<Client, postgres::Error> {
        // As libpq: TLS is never tried over a Unix socket (the server does not offer it
        // there, and the socket is on this machine), whatever sslmode says.
        let local = config
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, postgres::config::Host::Tcp(_)));
        match &self.tls {
            Some(tls) if !local => config.connect(tls.clone()),
            Some(_) => config
                .clone()
                .ssl_mode(postgres::config::SslMode::Disable)
                .connect(NoTls),
            None => config.connect(NoTls),
        }
    }
}

/// The URL (or libpq's `key=value` form) without its password, wherever it was given: the
/// user info (up to the last `@`, so an unencoded `@` in the password hides it all), a
/// `password=` query option or a `password=` pair.
fn redact(url: &str) -> String {
    let mut shown = url.to_string();
    if let Some(scheme) = url.find("://")
        && let Some(at) = url.rfind('@').filter(|&at| at > scheme)
        && let Some((user, _)) = url[scheme + 3..at].split_once(':')
    {
        shown = format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]);
    }
    hide_password_options(&shown)
}

/// `password=VALUE` (any case; after `?`, `&`, a space or at the start) with VALUE, quoted
/// or not, replaced by `***`.
fn hide_password_options(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(KEY) {
        let start = from + found;
        let boundary = start == 0
            || matches!(
                text.as_bytes()[start - 1],
                b'?' | b'&' | b' ' | b'\t' | b'\n'
            );
        let value = start + KEY.len();
        from = value;
        if !boundary {
            continue;
        }
        let bytes = text.as_bytes();
        let end = if bytes.get(value) == Some(&b'\'') {
            // A quoted value: up to the closing quote that is not escaped.
            let mut i = value + 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            (i + 1).min(bytes.len())
        } else {
            text[value..]
                .find(['&', ' ', '\t', '\n'])
                .map_or(text.len(), |n| value + n)
        };
        out.push_str(&text[rest..value]);
        out.push_str("***");
        rest = end;
        from = end;
    }
    out.push_str(&text[rest..]);
    out
}

/// A bounded pool of clients. Each client keeps its prepared statements.
pub struct PgPool {
    target: PgTarget,
    max: usize,
    wait: Duration,
    idle: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    clients: Vec<PooledClient>,
    open: usize,
}

pub(super) struct PooledClient {
    client: Client,
    statements: HashMap<Arc<str>, postgres::Statement>,
}

/// A client taken from the pool, given back when dropped.
pub struct PoolGuard<'p> {
    pool: &'p PgPool,
    client: Option<PooledClient>,
}

/// The longest a statement may run, and a transaction may sit idle, before the server ends
/// it: a wedged node must not hold locks (a session lease, the writer lock) for ever.
const STATEMENT_TIMEOUT: &str = "60s";

impl PgPool {
    pub fn new(target: PgTarget, max: usize, wait: Duration) -> PgPool {
        PgPool {
            target,
            max: max.max(1),
            wait,
            idle: Mutex::new(PoolState {
                clients: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// A client: an idle one, a new one while under `max`, or the next one given back
    /// within the wait.
    pub fn get(&self) -> Result<PoolGuard<'_>> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(client) = state.clients.pop() {
                if client.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(PoolGuard {
                    pool: self,
                    client: Some(client),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(PoolGuard {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.idle.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Pool(format!(
                    "no PostgreSQL connection free within {:?} ({} in use). Raise database.pool_size or find what holds them",
                    self.wait, self.max
                )));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn connect(&self) -> Result<PooledClient> {
        let mut config = self.target.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // A database that vanishes from the network (a partition, a dead host) fails the
        // connection's calls in about half a minute instead of the kernel's quarter hour.
        config
            .tcp_user_timeout(Duration::from_secs(30))
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        let mut client = self.target.connect_with(&config).map_err(|e| {
            Error::Pool(format!(
                "cannot connect to PostgreSQL at {}: {}. {}",
                self.target.shown,
                describe(&e),
                pg_tls::certificate_hint(&e)
                    .unwrap_or("Check that the server runs and database.url is right")
            ))
        })?;
        let mut setup = format!(
            "SET statement_timeout = '{STATEMENT_TIMEOUT}'; SET idle_in_transaction_session_timeout = '{STATEMENT_TIMEOUT}';"
        );
        if let Some(schema) = &self.target.schema {
            setup.push_str(&format!(
                "SET search_path TO \"{}\";",
                schema.replace('"', "")
            ));
        }
        client.batch_execute(&setup)?;
        Ok(PooledClient {
            client,
            statements: HashMap::new(),
        })
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime: not on an async task's thread.
        let clients = std::mem::take(
            &mut self
                .idle
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .clients,
        );
        super::outside_async(move || drop(clients));
    }
}

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let mut state = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            if client.client.is_closed() {
                state.open -= 1;
                drop(state);
                super::outside_async(move || drop(client));
                self.pool.freed.notify_one();
                return;
            } else {
                state.clients.push(client);
            }
            drop(state);
            self.pool.freed.notify_one();
        }
    }
}

impl PoolGuard<'_> {
    /// Begins a transaction: read-only snapshots for reads, read committed for writes (the
    /// store serializes its writers itself, see `Store::write`).
    pub(crate) fn begin(&mut self, read_only: bool) -> Result<PgTx<'_>> {
        let PooledClient { client, statements } =
            self.client.as_mut().expect("a guard holds its client");
        let tx = if read_only {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?
        } else {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()?
        };
        Ok(PgTx { tx, statements })
    }
}

/// An open transaction on a pooled client.
pub struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<Arc<str>, postgres::Statement>,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        let text = translate::to_postgres(sql);
        if let Some(s) = self.statements.get(&text) {
            return Ok(s.clone());
        }
        let stmt = self
            .tx
            .prepare(&text)
            .map_err(|error| Error::PostgresStatement {
                error,
                sql: text.chars().take(400).collect(),
            })?;
        if self.statements.len() >= 1024 {
            self.statements.clear();
        }
        self.statements.insert(text, stmt.clone());
        Ok(stmt)
    }

    pub(super) fn execute(&mut self, sql: &str, values: &[ValueRef<'_>]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let params: Vec<PgParam<'_>> = values.iter().map(|v| PgParam(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let n = self
            .tx
            .execute(&stmt, &refs)
            .map_err(|error| Error::PostgresStatement {
                error,
                sql: sql.chars().take(400).collect(),
            })?;
        Ok(n as usize)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        values: &[ValueRef<'_>],
    ) -> Result<Vec<postgres::Row>> {
        let stmt = self.statement(sql)?;
        let params: Vec<PgParam<'_>> = values.iter().map(|v| PgParam(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.tx
            .query(&stmt, &refs)
            .map_err(|error| Error::PostgresStatement {
                error,
                sql: sql.chars().take(400).collect(),
            })
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        self.tx
            .batch_execute(&translate::to_postgres(sql))
            .map_err(|error| Error::PostgresStatement {
                error,
                sql: sql.chars().take(400).collect(),
            })
    }

    pub(super) fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

/// A parameter, encoded as the type PostgreSQL inferred for its placeholder.
#[derive(Debug)]
struct PgParam<'v>(ValueRef<'v>);

impl ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot send {:?} as a PostgreSQL {ty}", self.0).into()
        };
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i).map_err(|_| mismatch())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i).map_err(|_| mismatch())?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(mismatch()),
            },
            ValueRef::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>().map_err(|_| mismatch())?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>().map_err(|_| mismatch())?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::JSONB => {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSON => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => s.to_sql(ty, out),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => std::str::from_utf8(b)
                    .map_err(|_| mismatch())?
                    .to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Any column, read as a [`ValueRef`].
pub(super) struct AnyValue<'a>(pub ValueRef<'a>);

impl<'a> FromSql<'a> for AnyValue<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue(match *ty {
            Type::INT8 => ValueRef::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => ValueRef::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => ValueRef::Int(i16::from_sql(ty, raw)?.into()),
            Type::OID => ValueRef::Int(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => ValueRef::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => ValueRef::Int(f64::from_sql(ty, raw)? as i64),
            Type::FLOAT4 => ValueRef::Int(f32::from_sql(ty, raw)? as i64),
            Type::NUMERIC => ValueRef::Int(numeric_to_i64(raw)?),
            Type::BYTEA => ValueRef::Blob(raw),
            Type::JSONB => ValueRef::Text(std::str::from_utf8(raw.get(1..).unwrap_or(&[]))?),
            _ => ValueRef::Text(<&str>::from_sql(&Type::TEXT, raw)?),
        }))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue(ValueRef::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A NUMERIC (what `SUM` of a BIGINT column gives) as an integer; fractions are truncated
/// — the store sums counts and byte sizes, never money.
fn numeric_to_i64(
    raw: &[u8],
) -> std::result::Result<i64, Box<dyn std::error::Error + Sync + Send>> {
    let word = |i: usize| -> std::result::Result<i16, Box<dyn std::error::Error + Sync + Send>> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated NUMERIC".into())
    };
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i32;
    let sign = word(2)? as u16;
    if sign == 0xC000 {
        return Err("NUMERIC NaN has no integer value".into());
    }
    let mut value: i128 = 0;
    for power in (0..=weight.max(-1)).rev() {
        let index = (weight - power) as usize;
        let digit = if index < ndigits {
            word(4 + index)? as i128
        } else {
            0
        };
        value = value * 10_000 + digit;
        if value > i64::MAX as i128 {
            return Err("NUMERIC out of range for a 64-bit integer".into());
        }
    }
    let value = value as i64;
    Ok(if sign == 0x4000 { -value } else { value })
}

/// A PostgreSQL error as one line: the server's message and detail when it sent one.
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(": ");
                s.push_str(detail);
            }
            s
        }
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight, sign as i16, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_sums_read_as_integers() {
        assert_eq!(numeric_to_i64(&numeric(0, 0, 0, &[])).unwrap(), 0);
        assert_eq!(numeric_to_i64(&numeric(1, 0, 0, &[42])).unwrap(), 42);
        // 1_0000_0007 = digits [1, 0, 7] with weight 2; trailing zero groups are omitted.
        assert_eq!(
            numeric_to_i64(&numeric(3, 2, 0, &[1, 0, 7])).unwrap(),
            100_000_007
        );
        assert_eq!(
            numeric_to_i64(&numeric(1, 1, 0x4000, &[3])).unwrap(),
            -30_000
        );
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redact("postgres://qb:s3cret@db:5432/qbridge"),
            "postgres://qb:***@db:5432/qbridge"
        );
        assert_eq!(
            redact("postgres://qb@db/qbridge"),
            "postgres://qb@db/qbridge"
        );
        // An unencoded `@` in the password: nothing of it shows.
        assert_eq!(
            redact("postgres://qb:p@ss@db/qbridge"),
            "postgres://qb:***@db/qbridge"
        );
        // libpq's other ways to give it: a query option, and the key=value form.
        assert_eq!(
            redact("postgres://qb@db/qbridge?sslmode=require&Password=s3cret&x=1"),
            "postgres://qb@db/qbridge?sslmode=require&Password=***&x=1"
        );
        assert_eq!(
            redact("host=db user=qb password='s3 cr\\'et' dbname=qbridge"),
            "host=db user=qb password=*** dbname=qbridge"
        );
        assert_eq!(redact("password=s3cret host=db"), "password=*** host=db");
        // Not a password option: left alone.
        assert_eq!(
            redact("host=db passfile=/p dbname=mypassword=x"),
            "host=db passfile=/p dbname=mypassword=x"
        );
    }
}
