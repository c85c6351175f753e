//! Background threads leave the UI thread room: the case loads, the import, the viewer's
//! loads and the AI pre-read run at a lower scheduling priority (Unix nice
//! [`BACKGROUND_NICE`]), and so do the threads they start (rayon's pool, ONNX Runtime's
//! workers: a thread's priority is inherited by the threads it creates). On a two-core
//! machine the analysis then still uses both cores, but a frame of the UI is scheduled first.

/// The nice value of background threads (0 is the UI's; 19 the lowest).
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`BACKGROUND_NICE`] (Linux: nice is per thread).
/// Best effort: a system that refuses leaves the thread as it was.
pub fn lower_priority() {
    // `None` is the calling thread on Linux (nice is per thread there); elsewhere it would be
    // the whole process, UI included, so only Linux lowers.
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(None, BACKGROUND_NICE);
}

/// The calling thread's nice value (for tests); `None` where unknown.
pub fn current_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(None).ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Starts a named background thread at the lower priority.
pub fn spawn<T: Send + 'static>(
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        lower_priority();
        f()
    })
}

/// Builds rayon's global pool from a background thread, so that its workers (which every
/// parallel decode and post-processing step uses) run at the lower priority. Does nothing
/// when the pool exists already.
pub fn start_worker_pool() {
    let _ = spawn("lungdesk-pool-start", || {
        rayon::ThreadPoolBuilder::new().thread_name(|i| format!("lungdesk-rayon-{i}")).build_global()
    })
    .map(std::thread::JoinHandle::join);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn background_threads_and_the_threads_they_start_run_at_the_lower_priority() {
        let ui = current_nice();
        let (own, child) = spawn("lungdesk-test-bg", || {
            let child = std::thread::spawn(current_nice).join().expect("child");
            (current_nice(), child)
        })
        .expect("spawn")
        .join()
        .expect("join");
        // Raising priority needs privileges; lowering never does.
        assert_eq!(own, Some(BACKGROUND_NICE.max(ui.unwrap_or(0))));
        assert_eq!(child, own, "inherited by the threads it starts");
        assert_eq!(current_nice(), ui, "the calling (UI) thread keeps its priority");
    }
}
