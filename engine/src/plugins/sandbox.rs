//! The parts of the plugin sandbox that bound what a plugin does through its imports rather
//! than with its CPU: sleeping, memory and tables across an instance, and log lines.
//!
//! The CPU deadline (epoch interruption, `host.rs`) only interrupts guest code. A host call
//! that blocks — a WASI clock sleep — would run past it, holding a blocking thread for as long
//! as the plugin asked. So WASI's clock subscriptions trap: a mapping plugin has nothing to
//! wait for except the host's own `fetch`, which carries the call's remaining deadline.

use std::time::Instant;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;

use super::host::HostState;

/// Message of the trap a plugin gets when it tries to sleep or wait on a clock.
pub(crate) const SLEEP_REFUSED: &str = "plugins may not sleep or wait on a clock (WASI monotonic-clock subscriptions are disabled); return, and let qbridge call again";

/// The WASI clock interface as `wasmtime-wasi` defines it; guests built against any 0.2.x
/// resolve to it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces WASI's `subscribe-duration` and `subscribe-instant` with functions that trap, so
/// `std::thread::sleep` (and any poll on a timer) ends the call at once instead of blocking
/// a host thread past the call's deadline.
pub(crate) fn refuse_clock_waits(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |_store, (_nanos,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(wasmtime::format_err!(SLEEP_REFUSED))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |_store, (_when,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(wasmtime::format_err!(SLEEP_REFUSED))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Bytes one table element is counted as (a function reference and its type), so tables and
/// memories share one budget.
const TABLE_ELEMENT_BYTES: usize = 16;
/// Most memories, tables or core instances one plugin instance may create. A Rust component
/// has one or two of each; the budget below bounds their size, this bounds their number.
pub(crate) const MAX_RESOURCES: usize = 16;

/// The memory budget of one plugin instance across all its linear memories and tables: each
/// grow (including a memory's or table's initial allocation) is charged to one total.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: usize,
    /// Set when a grow was refused: (total before, total it would have been) in bytes.
    pub(crate) refused: Option<(usize, usize)>,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            used: 0,
            refused: None,
        }
    }

    /// Charges growing something from `current` to `desired` bytes; refuses (and remembers)
    /// a grow that would take the instance's total over the limit.
    pub(crate) fn charge(&mut self, current: usize, desired: usize) -> Result<(), String> {
        let more = desired.saturating_sub(current);
        let total = self.used.saturating_add(more);
        if total > self.limit {
            self.refused = Some((self.used, total));
            return Err(format!(
                "plugin memory limit exceeded: its memories and tables would grow from {} MiB to {} MiB in total",
                self.used >> 20,
                total >> 20
            ));
        }
        self.used = total;
        Ok(())
    }

    /// Charges a table grow, counted in elements.
    pub(crate) fn charge_table(&mut self, current: usize, desired: usize) -> Result<(), String> {
        self.charge(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }
}

/// Log lines one instance may write in a burst, then per second: enough for any honest
/// plugin's diagnostics, not enough to flood the engine's log or its disk.
const LOG_BURST: f64 = 50.0;
const LOG_PER_SECOND: f64 = 10.0;
/// Longest log message kept, in characters.
pub(crate) const LOG_MAX_CHARS: usize = 4096;

/// A token bucket of log lines per plugin instance, counting what it drops.
#[derive(Debug)]
pub(crate) struct LogBudget {
    tokens: f64,
    last: Instant,
    suppressed: u64,
}

impl LogBudget {
    pub(crate) fn new() -> LogBudget {
        LogBudget {
            tokens: LOG_BURST,
            last: Instant::now(),
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were dropped since the
    /// last one written (to say so); `None` when this line is dropped.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * LOG_PER_SECOND).min(LOG_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// A plugin's log message made safe for a log line: control characters (newlines that would
/// forge extra lines, terminal escape sequences) written as escapes, cut to
/// [`LOG_MAX_CHARS`].
pub(crate) fn escape_log(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(LOG_MAX_CHARS));
    for c in message.chars().take(LOG_MAX_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn many_memories_and_tables_share_one_budget() {
        let mib = 1 << 20;
        let mut budget = MemoryBudget::new(64 * mib);
        // Each memory alone is small, as a plugin that creates many memories would make them.
        for _ in 0..15 {
            budget.charge(0, 4 * mib).unwrap();
        }
        let err = budget.charge(0, 8 * mib).unwrap_err();
        assert!(err.contains("in total"), "{err}");
        assert_eq!(budget.refused, Some((60 * mib, 68 * mib)));
        // Tables count too.
        let mut budget = MemoryBudget::new(mib);
        assert!(budget.charge_table(0, 1 << 20).is_err());
    }

    #[test]
    fn a_log_flood_is_cut_to_the_budget_and_the_drop_is_counted() {
        let mut b = LogBudget::new();
        let start = Instant::now();
        let written = (0..10_000).filter(|_| b.admit(start).is_some()).count();
        assert_eq!(written, LOG_BURST as usize);
        // A second later ten more are allowed, the first of them reporting the drops.
        let later = start + Duration::from_secs(1);
        assert_eq!(b.admit(later), Some(10_000 - LOG_BURST as u64));
        assert_eq!(b.admit(later), Some(0));
    }

    #[test]
    fn log_messages_cannot_forge_lines_or_drive_the_terminal() {
        assert_eq!(
            escape_log("ok\nERROR fake line\u{1b}[2J"),
            "ok\\nERROR fake line\\u{1b}[2J"
        );
        assert_eq!(escape_log(&"x".repeat(10_000)).len(), LOG_MAX_CHARS);
    }
}
