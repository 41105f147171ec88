//! `tracing` set-up: human lines by default, JSON lines with `--log-format json`.
//!
//! Secrets never reach a log line: values that are secret are wrapped in [`Redacted`], whose
//! `Debug` and `Display` print a fixed marker, so even a careless `?field` cannot leak them.

use std::fmt;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. Logs go to stderr so stdout stays clean for command output.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // `try_init` because tests may run several commands in one process.
    let _ = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A secret value that prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_never_prints_its_value() {
        let s = Redacted("hunter2".to_string());
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    }
}
