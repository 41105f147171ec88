//! How many plugin calls run at once: as many as the machine has CPUs.
//!
//! Plugin calls are CPU work on blocking threads. Unbounded, a burst of webhook records would
//! take every thread of tokio's blocking pool — the pool the QBWC session's store work needs
//! too — and make each call slower than its deadline. So every call holds a permit of one
//! CPU-sized pool. Background callers (scheduled pulls, deferred calls, responses) wait for a
//! permit; the ingest route takes one *before* it occupies a blocking thread and answers
//! `503 Retry-After` when none is free, so a source retries later instead of queueing threads.

use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex};

struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// The pool of plugin-call permits.
#[derive(Clone)]
pub(crate) struct CallPool {
    slots: Arc<Slots>,
    size: usize,
}

/// One running (or reserved) plugin call; the slot is freed when dropped.
pub struct CallPermit {
    slots: Arc<Slots>,
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        *self.slots.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.slots.freed.notify_one();
    }
}

thread_local! {
    /// True while this thread runs under a permit reserved before it was handed the work
    /// (see [`CallPermit::bind`]), so the call it makes does not take a second one.
    static BOUND: Cell<bool> = const { Cell::new(false) };
}

/// A reserved permit bound to the blocking thread that does the work.
pub struct BoundPermit {
    _permit: CallPermit,
}

impl Drop for BoundPermit {
    fn drop(&mut self) {
        BOUND.with(|b| b.set(false));
    }
}

impl CallPermit {
    /// Makes the plugin calls of this thread run under this permit until the returned guard
    /// is dropped.
    pub fn bind(self) -> BoundPermit {
        BOUND.with(|b| b.set(true));
        BoundPermit { _permit: self }
    }
}

impl CallPool {
    /// A pool of `size` permits (at least one).
    pub(crate) fn new(size: usize) -> CallPool {
        let size = size.max(1);
        CallPool {
            slots: Arc::new(Slots {
                free: Mutex::new(size),
                freed: Condvar::new(),
            }),
            size,
        }
    }

    /// A pool sized to the machine's CPUs.
    pub(crate) fn per_cpu() -> CallPool {
        CallPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Permits in all.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// A permit now, or `None` when every one is taken.
    pub(crate) fn try_reserve(&self) -> Option<CallPermit> {
        let mut free = self.slots.free.lock().unwrap_or_else(|p| p.into_inner());
        (*free > 0).then(|| {
            *free -= 1;
            CallPermit {
                slots: self.slots.clone(),
            }
        })
    }

    /// A permit for a call on this thread, waiting for one to be free; `None` when the thread
    /// already runs under a bound permit.
    pub(crate) fn enter(&self) -> Option<CallPermit> {
        if BOUND.with(Cell::get) {
            return None;
        }
        let mut free = self.slots.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self
                .slots
                .freed
                .wait(free)
                .unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Some(CallPermit {
            slots: self.slots.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pool_refuses_reservations_and_a_bound_thread_takes_no_second_permit() {
        let pool = CallPool::new(2);
        let a = pool.try_reserve().unwrap();
        let b = pool.enter().unwrap();
        assert!(pool.try_reserve().is_none(), "both permits are taken");
        drop(b);
        let bound = pool.try_reserve().unwrap().bind();
        assert!(
            pool.enter().is_none(),
            "the bound permit covers this thread's call"
        );
        drop(bound);
        drop(a);
        assert!(pool.try_reserve().is_some() && pool.try_reserve().is_some());
    }

    #[test]
    fn a_waiting_caller_runs_when_a_permit_is_freed() {
        let pool = CallPool::new(1);
        let held = pool.try_reserve().unwrap();
        let waiter = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.enter().is_some())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "it waits while the permit is held");
        drop(held);
        assert!(waiter.join().unwrap());
    }
}
