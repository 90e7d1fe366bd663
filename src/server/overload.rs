//! Admission control for ingestion (SPEC §8): when writes fall behind, new ingestion requests
//! are answered `429 Too Many Requests` with `Retry-After` instead of queueing without bound.
//!
//! Every ingestion request takes a [`Ticket`] before it reads its body. The gate counts the
//! tickets (requests being read, decoded, waiting to write or writing) and the body bytes they
//! hold (compressed while reading, then inflated), and refuses a ticket, or more bytes for one,
//! beyond `--max-pending-writes` / `--max-pending-bytes`. Refusing costs nothing: no body is
//! buffered and no database work is done. Memory for ingestion is therefore bounded by the byte
//! budget times the decoding overhead (parsed JSON or protobuf holds a few times its text).
//!
//! Admitted requests then enter the database a few at a time ([`Ticket::write`]): on PostgreSQL
//! a writer holds a pooled connection while it waits for its project's lock, so capping writers
//! leaves connections for reads and key checks; on SQLite, which writes one transaction at a
//! time anyway, one writer enters at a time.
//!
//! 429 means "writes are behind, slow down": nothing was stored and the same request will
//! succeed later. 503 (see `ApiError::Unavailable`) means the database itself failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;

/// Ingestion requests in the database stage at once (PostgreSQL; SQLite writes one at a time
/// whatever this says). Half the smaller pool size, so reads always find a connection.
pub const DB_WRITERS: usize = 4;

/// The most a client is told to wait.
const MAX_RETRY_AFTER_SECS: u64 = 60;

/// Why a request was refused: too many writes pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overloaded {
    /// A hint for `Retry-After`: about how long the pending writes take to drain.
    pub retry_after_secs: u64,
}

#[derive(Default, Debug)]
struct Pending {
    requests: usize,
    bytes: usize,
}

/// Shared by the ingestion handlers of one router.
#[derive(Debug)]
pub struct WriteGate {
    max_requests: usize,
    max_bytes: usize,
    /// How many writes the database performs at once (1 on SQLite).
    parallel_writes: usize,
    pending: Mutex<Pending>,
    writers: Semaphore,
    /// Exponential moving average of one write's duration, in microseconds.
    write_us: AtomicU64,
}

impl WriteGate {
    pub fn new(max_requests: usize, max_bytes: usize, parallel_writes: usize) -> Arc<WriteGate> {
        let parallel_writes = parallel_writes.clamp(1, DB_WRITERS);
        Arc::new(WriteGate {
            max_requests: max_requests.max(1),
            max_bytes,
            parallel_writes,
            pending: Mutex::new(Pending::default()),
            // As many writers as the database runs at once: then a write's measured time is
            // its own, not its own plus a wait on the store's lock, and `Retry-After` (pending
            // writes × that time ÷ parallel writes) is not several times too long on SQLite.
            writers: Semaphore::new(parallel_writes),
            write_us: AtomicU64::new(100_000),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // The counters stay consistent even if a holder panicked: every update is one statement.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A ticket for one more ingestion request, holding no bytes yet.
    pub fn admit(self: &Arc<Self>) -> Result<Ticket, Overloaded> {
        let mut p = self.lock();
        if p.requests >= self.max_requests {
            let pending = p.requests;
            drop(p);
            return Err(self.overloaded(pending));
        }
        p.requests += 1;
        Ok(Ticket {
            gate: self.clone(),
            bytes: 0,
        })
    }

    /// Requests and bytes currently admitted (for tests and logs).
    pub fn pending(&self) -> (usize, usize) {
        let p = self.lock();
        (p.requests, p.bytes)
    }

    fn overloaded(&self, pending: usize) -> Overloaded {
        let write_us = self.write_us.load(Ordering::Relaxed);
        let drain_us = pending as u64 * write_us / self.parallel_writes as u64;
        Overloaded {
            retry_after_secs: drain_us.div_ceil(1_000_000).clamp(1, MAX_RETRY_AFTER_SECS),
        }
    }

    fn record_write(&self, took_us: u64) {
        // One eighth of each new measurement: smooth enough to ignore one odd batch.
        let old = self.write_us.load(Ordering::Relaxed);
        let new = (old * 7 + took_us) / 8;
        self.write_us.store(new.max(1), Ordering::Relaxed);
    }
}

/// One admitted ingestion request; dropping it gives its place and bytes back.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<WriteGate>,
    bytes: usize,
}

impl Ticket {
    /// Accounts `more` bytes to this request. Refused when the budget is spent, except for a
    /// request that is alone: the body limit bounds it, and a budget smaller than one body must
    /// not refuse that body forever.
    pub fn grow(&mut self, more: usize) -> Result<(), Overloaded> {
        let mut p = self.gate.lock();
        let alone = p.requests == 1;
        if !alone && p.bytes + more > self.gate.max_bytes {
            let pending = p.requests;
            drop(p);
            return Err(self.gate.overloaded(pending));
        }
        p.bytes += more;
        self.bytes += more;
        Ok(())
    }

    /// Gives back all but `keep` of this request's bytes (the compressed body once inflated).
    pub fn shrink_to(&mut self, keep: usize) {
        if keep < self.bytes {
            let mut p = self.gate.lock();
            p.bytes -= self.bytes - keep;
            self.bytes = keep;
        }
    }

    /// Runs the database write `f` once a writer slot is free, timing it for `Retry-After`.
    pub async fn write<F: std::future::Future>(&self, f: F) -> F::Output {
        // The semaphore is never closed, so acquiring cannot fail; without a permit we would
        // still be correct, only less polite to readers.
        let _permit = self.gate.writers.acquire().await.ok();
        let started = Instant::now();
        let out = f.await;
        self.gate
            .record_write(started.elapsed().as_micros().min(u64::MAX as u128) as u64);
        out
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut p = self.gate.lock();
        p.requests -= 1;
        p.bytes -= self.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_beyond_the_limit_are_refused_until_one_finishes() {
        let gate = WriteGate::new(2, 1000, 1);
        let a = gate.admit().unwrap();
        let _b = gate.admit().unwrap();
        let refused = gate.admit().unwrap_err();
        assert!(refused.retry_after_secs >= 1);
        drop(a);
        assert!(gate.admit().is_ok());
    }

    #[test]
    fn bytes_are_budgeted_but_a_lone_request_always_fits() {
        let gate = WriteGate::new(10, 100, 1);
        let mut a = gate.admit().unwrap();
        a.grow(500).expect("alone: bounded by the body limit only");
        let mut b = gate.admit().unwrap();
        assert!(b.grow(1).is_err());
        a.shrink_to(40);
        b.grow(60).unwrap();
        assert!(b.grow(1).is_err());
        assert_eq!(gate.pending(), (2, 100));
        drop(a);
        drop(b);
        assert_eq!(gate.pending(), (0, 0));
    }

    #[test]
    fn writers_enter_as_many_at_once_as_the_database_writes() {
        // SQLite writes one transaction at a time: a second writer would wait on the store's
        // lock inside its timed write and make `Retry-After` several times too long.
        assert_eq!(WriteGate::new(10, 100, 1).writers.available_permits(), 1);
        assert_eq!(
            WriteGate::new(10, 100, DB_WRITERS)
                .writers
                .available_permits(),
            DB_WRITERS
        );
        assert_eq!(
            WriteGate::new(10, 100, 100).writers.available_permits(),
            DB_WRITERS
        );
    }

    #[test]
    fn retry_after_grows_with_the_queue_and_is_capped() {
        let gate = WriteGate::new(1000, 1000, 1);
        for _ in 0..50 {
            gate.record_write(2_000_000);
        }
        assert!(gate.overloaded(3).retry_after_secs >= 5);
        assert_eq!(gate.overloaded(1000).retry_after_secs, MAX_RETRY_AFTER_SECS);
        assert_eq!(WriteGate::new(1, 1, 1).overloaded(0).retry_after_secs, 1);
    }
}
