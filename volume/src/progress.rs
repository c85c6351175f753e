//! Progress and cancellation shared between a worker thread and whoever watches it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counters a long job updates and a UI (or CLI) reads; `cancel` asks the job to stop.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
    cancelled: AtomicBool,
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn start(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }
    pub fn advance(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    /// (done, total)
    pub fn get(&self) -> (usize, usize) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
    pub fn fraction(&self) -> f32 {
        let (done, total) = self.get();
        if total == 0 { 0.0 } else { done as f32 / total as f32 }
    }
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}
