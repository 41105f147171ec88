//! `qbridge store copy`: a stopped SQLite instance moved into an empty PostgreSQL database —
//! queue, mappings, versions, secrets and the audit chain, row for row with their ids — and
//! checked afterwards (row counts per table, the audit chain recomputed on PostgreSQL), so a
//! firm that outgrows one machine loses nothing and nothing is sent twice: jobs keep their
//! states, message sets and probes, and what was in doubt is still verified before a resend.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::store::audit::AuditVerdict;
use crate::store::sql::{PgTarget, Tx, Value};
use crate::store::{Store, StoreError, StoreOptions};

/// Tables not copied: `job_count` is kept by PostgreSQL's own triggers as the jobs arrive,
/// `node` lists the processes of the old instance, `qbridge_schema` is the target's own.
const NOT_COPIED: &[&str] = &["job_count", "node", "qbridge_schema"];

/// Rows per INSERT: big enough to cut round trips, small enough for any parameter limit.
const BATCH_ROWS: usize = 200;
/// An INSERT is sent once its values reach this size, so large payloads (records hold up to
/// 4 MiB each) never make one statement of hundreds of megabytes.
const BATCH_BYTES: usize = 16 << 20;
/// Rows read from SQLite at a time: memory stays bounded whatever a table holds.
const PAGE_ROWS: i64 = 2_000;

/// What was copied.
#[derive(Debug)]
pub struct CopyReport {
    /// Rows per table, equal on both sides.
    pub tables: BTreeMap<String, i64>,
    /// Audit rows whose chain verified on PostgreSQL.
    pub audit_rows: u64,
}

/// Copies the SQLite store of `data_dir` (its instance lock is taken: the engine must be
/// stopped) into the empty database `target`, in one transaction, then verifies it.
pub fn copy_to_postgres(data_dir: &Path, target: PgTarget) -> Result<CopyReport, StoreError> {
    let source = Store::open(data_dir, StoreOptions::default())?;
    if source.path().is_none() {
        return Err(StoreError::Copy(
            "the data dir's store is already in PostgreSQL (database.url is set): unset it to copy from SQLite".into(),
        ));
    }
    // The target is opened (and migrated) like a node would, on a scratch dir for its lock.
    let scratch = tempfile::tempdir().map_err(|e| StoreError::Copy(format!("no temp dir: {e}")))?;
    let dest = Store::open(
        scratch.path(),
        StoreOptions {
            postgres: Some(target),
            ..StoreOptions::default()
        },
    )?;
    let tables = dest.read(copy_order)?;
    let source_tables: BTreeSet<String> = source.read(|c| {
        c.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()
    })?;
    for name in &source_tables {
        if !NOT_COPIED.contains(&name.as_str()) && !tables.contains(name) {
            return Err(StoreError::Copy(format!(
                "table {name} of the SQLite store has no place in the PostgreSQL schema; this binary cannot copy it"
            )));
        }
    }
    let tables: Vec<String> = tables
        .into_iter()
        .filter(|t| source_tables.contains(t) && !NOT_COPIED.contains(&t.as_str()))
        .collect();
    dest.write(|tx| {
        // One transaction for the whole copy, however long a big instance takes: the
        // engine's per-statement and idle limits are for its own short transactions.
        tx.execute("SET LOCAL statement_timeout = 0", [])?;
        tx.execute("SET LOCAL idle_in_transaction_session_timeout = 0", [])?;
        for table in &tables {
            let n: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            if n > 0 {
                return Err(StoreError::Copy(format!(
                    "the target database is not empty (table {table} has {n} rows): copy into a new, empty database"
                )));
            }
        }
        for table in &tables {
            copy_table(&source, tx, table)?;
        }
        Ok::<_, StoreError>(())
    })?;
    let mut counts = BTreeMap::new();
    for table in &tables {
        let count = |s: &Store| {
            s.read(|t| {
                t.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
            })
        };
        let (from, to) = (count(&source)?, count(&dest)?);
        if from != to {
            return Err(StoreError::Copy(format!(
                "table {table}: {from} rows in SQLite but {to} in PostgreSQL after the copy"
            )));
        }
        counts.insert(table.clone(), to);
    }
    let audit_rows = match dest.verify_audit()? {
        AuditVerdict::Intact(n) => n,
        AuditVerdict::Broken { id } => {
            return Err(StoreError::Copy(format!(
                "the audit chain does not verify on PostgreSQL from row {id}; the copy must not be used"
            )));
        }
    };
    Ok(CopyReport {
        tables: counts,
        audit_rows,
    })
}

/// The target's tables, every table after those its foreign keys point to.
fn copy_order(t: &Tx<'_>) -> Result<Vec<String>, StoreError> {
    let tables: Vec<String> = t
        .prepare(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let edges: Vec<(String, String)> = t
        .prepare(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
             WHERE contype = 'f' AND connamespace = current_schema()::regnamespace",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut order = Vec::new();
    let mut left: BTreeSet<String> = tables.into_iter().collect();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                !edges
                    .iter()
                    .any(|(from, to)| from == *t && to != *t && left.contains(to))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(StoreError::Copy(format!(
                "the foreign keys of {left:?} form a cycle; this binary cannot order the copy"
            )));
        }
        for t in ready {
            left.remove(&t);
            order.push(t);
        }
    }
    Ok(order)
}

/// Copies every row of `table`, ids included, and moves its identity sequences past them.
fn copy_table(source: &Store, tx: &Tx<'_>, table: &str) -> Result<(), StoreError> {
    let columns: Vec<(String, bool)> = tx
        .prepare(
            "SELECT column_name::text, is_identity = 'YES' FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
        )?
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let list = names.join(", ");
    // Read by rowid a page at a time (the source is stopped: the pages agree). A table
    // WITHOUT ROWID holds only short-lived rows (login buckets) and is read at once.
    let by_rowid: bool = source.read(|c| {
        c.query_row(
            "SELECT sql NOT LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
    })?;
    let mut after = i64::MIN;
    let mut copied = 0usize;
    loop {
        let page: Vec<(i64, Vec<Value>)> = source.read(|c| {
            let (sql, args) = if by_rowid {
                (
                    format!(
                        "SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
                    ),
                    vec![after, PAGE_ROWS],
                )
            } else {
                (format!("SELECT 0, {list} FROM {table}"), vec![])
            };
            c.prepare(&sql)?
                .query_map(args, |r| {
                    let values = (1..=names.len())
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<Result<_, _>>()?;
                    Ok((r.get(0)?, values))
                })?
                .collect::<Result<_, _>>()
        })?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        let rows: Vec<Vec<Value>> = page.into_iter().map(|(_, v)| v).collect();
        insert_rows(tx, table, &list, names.len(), &rows)?;
        copied += rows.len();
        if !by_rowid || (rows.len() as i64) < PAGE_ROWS {
            break;
        }
        after = last;
    }
    for (column, identity) in &columns {
        if *identity && copied > 0 {
            tx.query_row(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), MAX({column})) FROM {table}"
                ),
                [],
                |r| r.get::<_, i64>(0),
            )?;
        }
    }
    Ok(())
}

/// INSERTs `rows` into `table` in batches bounded by rows and by bytes.
fn insert_rows(
    tx: &Tx<'_>,
    table: &str,
    list: &str,
    width: usize,
    rows: &[Vec<Value>],
) -> Result<(), StoreError> {
    let size = |row: &Vec<Value>| -> usize {
        row.iter()
            .map(|v| match v {
                Value::Text(t) => t.len(),
                Value::Blob(b) => b.len(),
                _ => 8,
            })
            .sum()
    };
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len() && end - start < BATCH_ROWS && (end == start || bytes < BATCH_BYTES)
        {
            bytes += size(&rows[end]);
            end += 1;
        }
        let batch = &rows[start..end];
        let mut sql = format!("INSERT INTO {table}({list}) VALUES ");
        let mut n = 0;
        for i in 0..batch.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..width {
                n += 1;
                if c > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("?{n}"));
            }
            sql.push(')');
        }
        let params: Vec<&Value> = batch.iter().flatten().collect();
        tx.execute(&sql, params)?;
        start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queue::{NewJob, NewRecord, Origin};

    fn job(key: String) -> NewJob {
        NewJob {
            key,
            depends_on: vec![],
            request_type: "CustomerAdd".into(),
            qbxml: "<CustomerAddRq/>".into(),
            probe: None,
            adopt_existing: false,
            notes: vec![],
            versioning: Default::default(),
        }
    }

    /// More rows than a page and more bytes than a batch: the copy reads and writes in
    /// bounded pieces and still moves every row.
    #[test]
    fn a_store_larger_than_a_page_and_a_batch_is_copied_whole() {
        let dir = tempfile::tempdir().unwrap();
        // The PostgreSQL run of the store suite names the target; the SQLite run has none.
        let Some(target) = crate::store::testing::options(&dir.path().join("target")).postgres
        else {
            return;
        };
        let data = dir.path().join("data");
        let source = Store::open(&data, StoreOptions::default()).unwrap();
        let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(3 << 20));
        let records = PAGE_ROWS as usize + 500;
        for n in 0..records {
            let payload = if n < 6 { big.as_str() } else { "{}" };
            source
                .enqueue_record(&NewRecord {
                    origin: Origin::Push,
                    connection_id: 1,
                    plugin: "p",
                    kind: "customer",
                    source_id: None,
                    payload,
                    jobs: &[job(format!("c{n}"))],
                })
                .unwrap();
        }
        drop(source);
        let report = copy_to_postgres(&data, target).unwrap();
        assert_eq!(report.tables["job"], records as i64);
        assert_eq!(report.tables["record"], records as i64);
    }
}
