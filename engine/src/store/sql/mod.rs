//! The one SQL surface the store's modules are written against, over two backends: SQLite
//! (embedded, the default) and PostgreSQL (several nodes on one database).
//!
//! Why a thin shim rather than an ORM or two copies of every query: the store's queries are
//! hand-tuned (partial indexes, counters kept by triggers) and must stay readable as SQL. They
//! are written once in the dialect both databases share — numbered parameters, `ON CONFLICT`,
//! `RETURNING`, `COALESCE` — and [`translate`] rewrites the few spellings that differ
//! (`?N` → `$N`, `CAST(… AS INTEGER)` → `BIGINT`) for PostgreSQL. Values cross as the four
//! kinds SQLite knows ([`ValueRef`]); PostgreSQL parameters take whatever type the server
//! inferred for them (`pg.rs`), so `?1` may be compared with an `INTEGER` or a `BIGINT` alike.
//! Where the dialects really differ (JSON functions, pragmas) the caller asks [`Tx::backend`].

mod pg;
mod pg_tls;
pub mod throwaway;
mod translate;
mod value;

use std::cell::RefCell;

pub use pg::{PgPool, PgTarget};
pub use value::{FromValue, Params, ToValue, Value, ValueRef};

/// Runs blocking database work from wherever the store is called: the synchronous
/// PostgreSQL client drives its own runtime, which may not be entered from an async task,
/// so on a runtime worker the work is moved off it first.
pub(crate) fn outside_async<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Which database a transaction runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A failure of either backend, or a value that does not fit the Rust type asked for.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `query_row` found no row (see [`OptionalExt::optional`]).
    #[error("query returned no rows")]
    NoRows,
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg::describe(.0))]
    Postgres(#[from] postgres::Error),
    /// A statement PostgreSQL refused, with its text (the store's own SQL, no values).
    #[error("{} in: {}", pg::describe(.error), .sql)]
    PostgresStatement { error: postgres::Error, sql: String },
    /// A column's value cannot be read as the Rust type asked for.
    #[error("column {column}: {message}")]
    Decode { column: String, message: String },
    /// A PostgreSQL connection could not be had in time, or the pool is misconfigured.
    #[error("{0}")]
    Pool(String),
}

impl Error {
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            Error::Postgres(e) | Error::PostgresStatement { error: e, .. } => {
                e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

    /// Any constraint (unique, check, foreign key, not null, a trigger's abort) refused it.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            Error::Postgres(e) | Error::PostgresStatement { error: e, .. } => e
                .code()
                .is_some_and(|c| c.code().starts_with("23") || c.code() == "P0001"),
            _ => false,
        }
    }

    /// The other transaction of a serialization conflict won; the caller may retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Postgres(e) | Error::PostgresStatement { error: e, .. } => {
                e.code().is_some_and(|c| {
                    *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                        || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                })
            }
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `query_row(…).optional()`: no row is `None`, not an error.
pub trait OptionalExt<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExt<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Parameters written inline: `params![a, b, c]`.
#[macro_export]
macro_rules! sql_params {
    () => { &[] as &[&dyn $crate::store::sql::ToValue] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::sql::ToValue),+] as &[&dyn $crate::store::sql::ToValue] };
}
pub use crate::sql_params as params;

/// One transaction (or, for SQLite reads, one connection): what every store function takes.
pub enum Tx<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(RefCell<pg::PgTx<'a>>),
}

impl<'a> Tx<'a> {
    pub(crate) fn postgres(tx: pg::PgTx<'a>) -> Tx<'a> {
        Tx::Postgres(RefCell::new(tx))
    }

    /// Commits a PostgreSQL transaction (a SQLite one is committed by its owner).
    pub(crate) fn commit(self) -> Result<()> {
        match self {
            Tx::Postgres(t) => t.into_inner().commit(),
            Tx::Sqlite(_) => Ok(()),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for the few SQLite-only operations (pragmas, backup).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Tx::Sqlite(c) => Some(c),
            Tx::Postgres(_) => None,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        match self {
            Tx::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(value::bind(&params.values()))?)
            }
            Tx::Postgres(t) => t.borrow_mut().execute(sql, &params.values()),
        }
    }

    /// Runs several `;`-separated statements without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Tx::Postgres(t) => t.borrow_mut().batch(sql),
        }
    }

    /// The first row, mapped; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs an `INSERT … RETURNING id` (or another one column) and gives that value: the
    /// new row's id on both backends, where SQLite alone would have `last_insert_rowid`.
    pub fn insert<P: Params>(&self, sql: &str, params: P) -> Result<i64> {
        self.query_row(sql, params, |r| r.get(0))
    }

    pub fn prepare(&self, sql: &str) -> Result<Statement<'_, 'a>> {
        self.prepare_cached(sql)
    }

    /// A statement to run once or many times. SQLite keeps it in its statement cache;
    /// PostgreSQL prepares it on first use per pooled connection.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_, 'a>> {
        Ok(match self {
            Tx::Sqlite(c) => Statement::Sqlite(c.prepare_cached(sql)?),
            Tx::Postgres(t) => Statement::Postgres {
                tx: t,
                sql: sql.to_string(),
            },
        })
    }
}

/// A prepared statement of a [`Tx`].
pub enum Statement<'t, 'a> {
    Sqlite(rusqlite::CachedStatement<'t>),
    Postgres {
        tx: &'t RefCell<pg::PgTx<'a>>,
        sql: String,
    },
}

impl Statement<'_, '_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        match self {
            Statement::Sqlite(s) => Ok(s.execute(value::bind(&params.values()))?),
            Statement::Postgres { tx, sql } => tx.borrow_mut().execute(sql, &params.values()),
        }
    }

    /// [`Tx::insert`] for a prepared statement.
    pub fn insert<P: Params>(&mut self, params: P) -> Result<i64> {
        self.query_row(params, |r| r.get(0))
    }

    pub fn query_row<T, P: Params>(
        &mut self,
        params: P,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        match self {
            Statement::Sqlite(s) => {
                let mut rows = s.query(value::bind(&params.values()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(Error::NoRows),
                }
            }
            Statement::Postgres { tx, sql } => {
                let rows = tx.borrow_mut().query(sql, &params.values())?;
                match rows.first() {
                    Some(r) => f(&Row::Postgres(r)),
                    None => Err(Error::NoRows),
                }
            }
        }
    }

    /// Every row, mapped. Collected before it is returned: callers hold no cursor while they
    /// run other statements of the same transaction.
    pub fn query_map<T, P: Params>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut out = Vec::new();
        match self {
            Statement::Sqlite(s) => {
                let mut rows = s.query(value::bind(&params.values()))?;
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r)));
                }
            }
            Statement::Postgres { tx, sql } => {
                let rows = tx.borrow_mut().query(sql, &params.values())?;
                out.extend(rows.iter().map(|r| f(&Row::Postgres(r))));
            }
        }
        Ok(out.into_iter())
    }

    /// True when the query returns at least one row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        match self.query_row(params, |_| Ok(())) {
            Ok(()) => Ok(true),
            Err(Error::NoRows) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The rows as owned values, for a caller that walks them one by one.
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows> {
        let rows = self.query_map(params, |r| r.values())?;
        Ok(Rows {
            rows: rows.collect::<Result<Vec<_>>>()?.into_iter(),
            current: None,
        })
    }
}

/// One row of a result, borrowed from the backend's own row type.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
    Owned(&'r [value::Value]),
}

/// A column named by position or by name.
pub trait RowIndex:
    rusqlite::RowIndex + postgres::row::RowIndex + std::fmt::Display + Copy
{
    fn position(self, names: &[String]) -> Option<usize>;
}

impl RowIndex for usize {
    fn position(self, _: &[String]) -> Option<usize> {
        Some(self)
    }
}

impl RowIndex for &str {
    fn position(self, names: &[String]) -> Option<usize> {
        names.iter().position(|n| n.eq_ignore_ascii_case(self))
    }
}

impl Row<'_> {
    /// Column `idx` as `T`.
    pub fn get<I: RowIndex, T: FromValue>(&self, idx: I) -> Result<T> {
        let decode = |message: String| Error::Decode {
            column: idx.to_string(),
            message,
        };
        match self {
            Row::Sqlite(r) => {
                T::from_value(value::from_sqlite(r.get_ref(idx)?).map_err(decode)?).map_err(decode)
            }
            Row::Postgres(r) => {
                let v: pg::AnyValue<'_> = r.try_get(idx)?;
                T::from_value(v.0).map_err(decode)
            }
            Row::Owned(values) => {
                let i = idx
                    .position(&[])
                    .ok_or_else(|| decode("columns of a walked row are read by position".into()))?;
                let v = values
                    .get(i)
                    .ok_or_else(|| decode("no such column".into()))?;
                T::from_value(v.as_ref()).map_err(decode)
            }
        }
    }

    fn values(&self) -> Result<Vec<value::Value>> {
        let n = match self {
            Row::Sqlite(r) => r.as_ref().column_count(),
            Row::Postgres(r) => r.len(),
            Row::Owned(v) => v.len(),
        };
        (0..n).map(|i| self.get::<_, value::Value>(i)).collect()
    }
}

/// Rows walked one at a time (`while let Some(r) = rows.next()?`).
pub struct Rows {
    rows: std::vec::IntoIter<Vec<value::Value>>,
    current: Option<Vec<value::Value>>,
}

impl Rows {
    #[allow(clippy::should_implement_trait)] // a lending walk, as rusqlite's own `Rows`
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        self.current = self.rows.next();
        Ok(self.current.as_deref().map(Row::Owned))
    }
}
