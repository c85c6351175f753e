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
    /// The thread ended: no models, or no store.
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

/// The thread's loop; `Err` when it cannot read at all.
fn run(
    store_path: &std::path::Path,
    engine: &Engine,
    cache_dir: Option<&std::path::Path>,
    mut paused: bool,
    rx: &Receiver<Command>,
    current: &Mutex<Arc<Progress>>,
    events: &Sender<PrereadEvent>,
) -> Result<(), String> {
    let models = match engine {
        Engine::Models(models) => models,
        Engine::Baseline { reason } => return Err(format!("the AI pre-read needs the bundled models: {reason}")),
    };
    let versions = models.versions();
    let mut store = Store::open(store_path).map_err(|e| e.to_string())?;
    // What is left, shown at once, paused or not.
    let left = store.cases_to_read(BUNDLED_SET, &versions).map_err(|e| e.to_string())?.len();
    let _ = events.send(PrereadEvent::Left(left));
    let mut failed: HashSet<i64> = HashSet::new();
    loop {
        // Commands first; while paused, nothing but commands.
        loop {
            let next = if paused { rx.recv().map_err(|_| ()) } else { rx.try_recv().map_err(|_| ()) };
            match next {
                Ok(Command::Pause(p)) => paused = p,
                Ok(Command::Wake) => {}
                Ok(Command::Stop) => return Ok(()),
                Err(()) if paused => return Ok(()),
                Err(()) => break,
            }
        }
        let todo: Vec<i64> = store
            .cases_to_read(BUNDLED_SET, &versions)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|c| !failed.contains(c))
            .collect();
        let _ = events.send(PrereadEvent::Left(todo.len()));
        let Some(&case_id) = todo.first() else {
            match rx.recv_timeout(IDLE_RECHECK) {
                Ok(Command::Pause(p)) => paused = p,
                Ok(Command::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            continue;
        };
        let progress = Arc::new(Progress::new());
        *current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = progress.clone();
        // A pause or stop sent while the next case was being chosen: not started.
        match rx.try_recv() {
            Ok(Command::Pause(p)) => {
                paused = p;
                continue;
            }
            Ok(Command::Stop) => return Ok(()),
            Ok(Command::Wake) | Err(_) => {}
        }
        match crate::batch::read_case(&mut store, case_id, engine, cache_dir, &progress) {
            Ok(Some(ai)) => {
                store.record_ai_read(case_id, BUNDLED_SET, &ai).map_err(|e| e.to_string())?;
                if let Some(identity) = store.identity().map_err(|e| e.to_string())? {
                    store.queue_ai_reads(&identity).map_err(|e| e.to_string())?;
                }
                let _ = events.send(PrereadEvent::Read { case_id, ai: Box::new(ai), left: todo.len() - 1 });
            }
            // Cancelled because the reader started working: read again later.
            Err(_) if progress.is_cancelled() => {}
            Ok(None) => {
                failed.insert(case_id);
                let why = "the analysis gave neither a grade nor a reason".to_owned();
                let _ = events.send(PrereadEvent::Failed { case_id, why });
            }
            Err(why) => {
                failed.insert(case_id);
                let _ = events.send(PrereadEvent::Failed { case_id, why });
            }
        }
    }
}
