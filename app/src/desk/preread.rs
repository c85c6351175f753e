//! The desk's background pre-read: every imported case the bundled models have not read is
//! read on `lungdesk-preread`, one at a time, at the background priority, with the viewer's
//! engine and analysis cache (so opening a pre-read case is a cache hit). It pauses while the
//! reader works (a key, click or scroll in the last seconds, a case loading or its AI running:
//! a read in flight is cancelled, and done again later), and since the store
//! says which cases still need a read, it resumes after a restart where it stopped. Each read
//! is recorded and queued for sync as `lungdesk batch` does it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lungdesk_inference::analysis::Engine;
use lungdesk_store::{AiResult, BUNDLED_SET, Store};
use lungdesk_volume::Progress;

use crate::batch::ReadFailure;
use crate::viewer::AnalysisSettings;

/// How long the thread waits for new cases when everything is read.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// What the pre-read thread reports.
#[derive(Debug)]
pub enum PrereadEvent {
    /// Cases still to read (after each read, and when it starts over).
    Left(usize),
    /// A case read.
    Read { case_id: i64, ai: Box<AiResult>, left: usize },
    /// A case that could not be read this session, and why (not tried again until restart).
    Failed { case_id: i64, why: String },
    /// The store could not be opened, read or written (why); tried again after `after`.
    Retrying { why: String, after: Duration },
    /// The thread ended: no models.
    Stopped(String),
}

enum Command {
    Pause(bool),
    Wake,
    Stop,
}

/// The running pre-read thread; dropping it stops the thread and joins it.
#[derive(Debug)]
pub struct PrereadWorker {
    tx: Sender<Command>,
    /// The read in flight, to cancel when the reader starts working.
    current: Arc<Mutex<Arc<Progress>>>,
    paused: bool,
    thread: Option<JoinHandle<()>>,
}

impl PrereadWorker {
    /// Starts reading the cases of the store at `store_path` with `settings`' engine; paused
    /// from the start where `paused` (a case is open).
    pub fn start(
        store_path: PathBuf,
        settings: &AnalysisSettings,
        paused: bool,
        events: Sender<PrereadEvent>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let current = Arc::new(Mutex::new(Arc::new(Progress::new())));
        let (engine, models_dir, cache_dir) =
            (settings.engine.clone(), settings.models_dir.clone(), settings.cache_dir.clone());
        let in_flight = current.clone();
        let thread = crate::background::spawn("lungdesk-preread", move || {
            let engine = engine.get_or_init(|| Engine::load(models_dir.as_deref()));
            if let Err(why) = run(&store_path, engine, cache_dir.as_deref(), paused, &rx, &in_flight, &events) {
                let _ = events.send(PrereadEvent::Stopped(why));
            }
        })?;
        Ok(Self { tx, current, paused, thread: Some(thread) })
    }

    /// Pauses (the reader works: the read in flight is cancelled) or resumes.
    pub fn pause(&mut self, paused: bool) {
        if paused == self.paused {
            return;
        }
        self.paused = paused;
        // The command first, then the cancel: a read the thread installs after the cancel
        // finds the command waiting (it looks after installing), one installed before is
        // cancelled.
        let _ = self.tx.send(Command::Pause(paused));
        if paused {
            self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).cancel();
        }
    }

    /// New cases may be there (an import finished).
    pub fn wake(&self) {
        let _ = self.tx.send(Command::Wake);
    }
}

impl Drop for PrereadWorker {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Stop);
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The first wait after the store failed; doubled after each further failure in a row, up to
/// [`RETRY_MAX`]. A store error (the disk full, the file locked by another program for longer
/// than the busy timeout) is usually passing: the pre-read waits and tries again rather than
/// stopping for the session.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two tries after store errors.
const RETRY_MAX: Duration = Duration::from_mins(1);

/// The wait after `failures` store errors in a row (1 or more).
fn retry_after(failures: u32) -> Duration {
    RETRY_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(RETRY_MAX)
}

/// What a round of the loop asks for next.
enum Flow {
    Next,
    Stop,
}

/// The thread's loop; `Err` when it cannot read at all (no models). A store that cannot be
/// opened, read or written is tried again after a wait ([`retry_after`]), each time reported.
fn run(
    store_path: &std::path::Path,
    engine: &Engine,
    cache_dir: Option<&std::path::Path>,
    paused: bool,
    rx: &Receiver<Command>,
    current: &Mutex<Arc<Progress>>,
    events: &Sender<PrereadEvent>,
) -> Result<(), String> {
    let models = match engine {
        Engine::Models(models) => models,
        Engine::Baseline { reason } => return Err(format!("the AI pre-read needs the bundled models: {reason}")),
    };
    let mut reader = Reader {
        store_path,
        store: None,
        engine,
        versions: models.versions(),
        cache_dir,
        paused,
        failed: HashSet::new(),
        rx,
        current,
        events,
    };
    let mut failures = 0;
    loop {
        match reader.round() {
            Ok(Flow::Stop) => return Ok(()),
            Ok(Flow::Next) => failures = 0,
            Err(why) => {
                // Opened afresh on the next try.
                reader.store = None;
                failures += 1;
                let after = retry_after(failures);
                let _ = events.send(PrereadEvent::Retrying { why, after });
                match rx.recv_timeout(after) {
                    Ok(Command::Pause(p)) => reader.paused = p,
                    Ok(Command::Wake) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
        }
    }
}

/// The pre-read thread's state between rounds.
struct Reader<'a> {
    store_path: &'a std::path::Path,
    /// Open while it works; dropped after a store error and opened again on the next try.
    store: Option<Store>,
    engine: &'a Engine,
    versions: Vec<String>,
    cache_dir: Option<&'a std::path::Path>,
    paused: bool,
    /// Cases that could not be read this session.
    failed: HashSet<i64>,
    rx: &'a Receiver<Command>,
    current: &'a Mutex<Arc<Progress>>,
    events: &'a Sender<PrereadEvent>,
}

impl Reader<'_> {
    /// Obeys the commands waiting (while paused, waits for them), then reads the next case;
    /// `Err` names the store step that failed.
    fn round(&mut self) -> Result<Flow, String> {
        if self.store.is_none() {
            let store = Store::open(self.store_path).map_err(|e| e.to_string())?;
            // What is left, shown at once, paused or not.
            let left = store.cases_to_read(BUNDLED_SET, &self.versions).map_err(|e| e.to_string())?.len();
            let _ = self.events.send(PrereadEvent::Left(left));
            self.store = Some(store);
        }
        // Commands first; while paused, nothing but commands.
        loop {
            let next = if self.paused { self.rx.recv().map_err(|_| ()) } else { self.rx.try_recv().map_err(|_| ()) };
            match next {
                Ok(Command::Pause(p)) => self.paused = p,
                Ok(Command::Wake) => {}
                Ok(Command::Stop) => return Ok(Flow::Stop),
                Err(()) if self.paused => return Ok(Flow::Stop),
                Err(()) => break,
            }
        }
        let Some(store) = self.store.as_mut() else { return Ok(Flow::Next) };
        let todo: Vec<i64> = store
            .cases_to_read(BUNDLED_SET, &self.versions)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|c| !self.failed.contains(c))
            .collect();
        let _ = self.events.send(PrereadEvent::Left(todo.len()));
        let Some(&case_id) = todo.first() else {
            match self.rx.recv_timeout(IDLE_RECHECK) {
                Ok(Command::Pause(p)) => self.paused = p,
                Ok(Command::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(Flow::Stop),
            }
            return Ok(Flow::Next);
        };
        let progress = Arc::new(Progress::new());
        *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = progress.clone();
        // A pause or stop sent while the next case was being chosen: not started.
        match self.rx.try_recv() {
            Ok(Command::Pause(p)) => {
                self.paused = p;
                return Ok(Flow::Next);
            }
            Ok(Command::Stop) => return Ok(Flow::Stop),
            Ok(Command::Wake) | Err(_) => {}
        }
        match crate::batch::read_case(store, case_id, self.engine, self.cache_dir, &progress) {
            Ok(Some(ai)) => {
                // A failure here leaves the case unread in the store: it is read again (from
                // the analysis cache) on the next try.
                store.record_ai_read(case_id, BUNDLED_SET, &ai).map_err(|e| e.to_string())?;
                if let Some(identity) = store.identity().map_err(|e| e.to_string())? {
                    store.queue_ai_reads(&identity).map_err(|e| e.to_string())?;
                }
                let _ = self.events.send(PrereadEvent::Read { case_id, ai: Box::new(ai), left: todo.len() - 1 });
            }
            // Cancelled because the reader started working: read again later.
            Err(_) if progress.is_cancelled() => {}
            // The store, not the case: tried again after a wait.
            Err(ReadFailure::Store(e)) => return Err(e.to_string()),
            Ok(None) => {
                self.failed.insert(case_id);
                let why = "the analysis gave neither a grade nor a reason".to_owned();
                let _ = self.events.send(PrereadEvent::Failed { case_id, why });
            }
            Err(ReadFailure::Case(why)) => {
                self.failed.insert(case_id);
                let _ = self.events.send(PrereadEvent::Failed { case_id, why });
            }
        }
        Ok(Flow::Next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_after_store_errors_doubles_from_one_second_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_after(u32::MAX), Duration::from_mins(1));
    }
}
