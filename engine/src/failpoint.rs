//! Named crash points for the crash tests: `hit("name")` aborts the process when the
//! environment variable `QBRIDGE_FAILPOINTS` (comma-separated names, read once) lists `name`.
//!
//! Inert unless that variable is set: production never sets it, and then `hit` is one
//! `OnceLock` read. An abort (not a panic, not an error) is the point — it simulates a power cut
//! or SIGKILL at exactly that moment: no destructor, no `session_ended`, no graceful shutdown;
//! the kernel releases the instance lock and SQLite's journal is all that survives.

use std::sync::OnceLock;

/// The variable that arms crash points.
pub const ENV: &str = "QBRIDGE_FAILPOINTS";

/// Aborts the process if `name` is armed through [`ENV`].
pub fn hit(name: &'static str) {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| parse(&std::env::var(ENV).unwrap_or_default()));
    if armed.iter().any(|a| a == name) {
        eprintln!("qbridge: failpoint {name} hit; aborting as armed by {ENV}");
        std::process::abort();
    }
}

/// Names in a comma-separated list; blanks ignored, at most 64 names of at most 128 bytes.
fn parse(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 128)
        .take(64)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_comma_separated_and_blanks_ignored() {
        assert_eq!(
            parse(" queue::after_claim_commit,,pipeline::x "),
            vec!["queue::after_claim_commit", "pipeline::x"]
        );
        assert!(parse("").is_empty());
    }
}
