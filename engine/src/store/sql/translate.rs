//! The SQL the store writes once, in PostgreSQL's spelling where the two dialects differ.
//!
//! Rewritten outside quoted strings and identifiers only:
//! - `?N` → `$N`, and a bare `?` → the next number (SQLite's own numbering);
//! - `AS INTEGER)` → `AS BIGINT)`: SQLite's INTEGER is 64-bit, PostgreSQL's is 32;
//! - `IS ?N` / `IS NOT ?N` → `IS NOT DISTINCT FROM $N` / `IS DISTINCT FROM $N` (SQLite's
//!   `IS` compares any two values, PostgreSQL's only with NULL, TRUE or FALSE);
//! - a unary `+` on a column after `AND`, `OR`, `WHERE` or `(` is dropped: SQLite reads it
//!   as "do not use an index for this term", PostgreSQL has no such hint (and no `+text`).
//!
//! Results are cached per statement text: the store's statements are a few hundred constants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// `sql` in PostgreSQL's spelling.
pub(super) fn to_postgres(sql: &str) -> Arc<str> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<str>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(sql) {
        return hit.clone();
    }
    let out: Arc<str> = rewrite(sql).into();
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    // Statements built at run time (a list of ids) would grow the cache without end.
    if map.len() < 4096 {
        map.insert(sql.to_string(), out.clone());
    }
    out
}

fn rewrite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    let mut next_bare = 0u32;
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                // Copy the quoted text through its closing quote (a doubled quote escapes).
                out.push(c);
                while let Some((_, q)) = chars.next() {
                    out.push(q);
                    if q == c {
                        if chars.peek().map(|&(_, n)| n) == Some(c) {
                            out.push(c);
                            chars.next();
                            continue;
                        }
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() {
                        digits.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if out.ends_with("IS NOT ") || out.ends_with("is not ") {
                    out.truncate(out.len() - "IS NOT ".len());
                    out.push_str("IS DISTINCT FROM ");
                } else if (out.ends_with(" IS ") || out.ends_with(" is "))
                    && !out.ends_with("NOT IS ")
                {
                    out.truncate(out.len() - "IS ".len());
                    out.push_str("IS NOT DISTINCT FROM ");
                }
                out.push('$');
                if digits.is_empty() {
                    next_bare += 1;
                    out.push_str(&next_bare.to_string());
                } else {
                    next_bare = digits.parse().unwrap_or(next_bare);
                    out.push_str(&digits);
                }
            }
            '+' if chars.peek().is_some_and(|&(_, n)| n.is_ascii_alphabetic())
                && after_condition_start(&out) => {}
            'A' | 'a' if starts_word(sql, i, "AS INTEGER)") => {
                out.push_str("AS BIGINT)");
                for _ in 1.."AS INTEGER)".len() {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// True when the text so far ends where a condition starts: `AND`, `OR`, `WHERE`, `(`.
fn after_condition_start(out: &str) -> bool {
    let trimmed = out.trim_end();
    trimmed.ends_with('(')
        || ["AND", "OR", "WHERE"].iter().any(|k| {
            trimmed.len() >= k.len()
                && trimmed[trimmed.len() - k.len()..].eq_ignore_ascii_case(k)
                && !trimmed[..trimmed.len() - k.len()]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn starts_word(sql: &str, at: usize, word: &str) -> bool {
    let before_ok = at == 0
        || !sql[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    before_ok
        && sql
            .get(at..at + word.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn numbers_parameters_and_leaves_quoted_text_alone() {
        assert_eq!(
            rewrite("SELECT a FROM t WHERE b=?2 AND c='?1' AND d=?1"),
            "SELECT a FROM t WHERE b=$2 AND c='?1' AND d=$1"
        );
        assert_eq!(
            rewrite("VALUES (?, ?, 'it''s ?')"),
            "VALUES ($1, $2, 'it''s ?')"
        );
        assert_eq!(
            rewrite("SELECT CAST(x AS INTEGER) / 86400, y AS integer_count"),
            "SELECT CAST(x AS BIGINT) / 86400, y AS integer_count"
        );
        assert_eq!(
            rewrite("WHERE a IS ?1 AND b IS NOT ?2 AND c IS NULL"),
            "WHERE a IS NOT DISTINCT FROM $1 AND b IS DISTINCT FROM $2 AND c IS NULL"
        );
        assert_eq!(
            rewrite("WHERE id IN (1) AND +connection_id=?1 AND (+plugin=?2) AND x = a + b"),
            "WHERE id IN (1) AND connection_id=$1 AND (plugin=$2) AND x = a + b"
        );
    }
}
