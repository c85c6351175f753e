//! The AI pre-read on the `lungdesk-analyze` thread: the models (or the HU baseline) through
//! the per-series cache; the labels and the result come back to the viewer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::thread::JoinHandle;

use lungdesk_inference::analysis::{Analysis, Engine};
use lungdesk_inference::cache;
use lungdesk_volume::{Progress, Volume};

use super::{PROGRESS_TICK, Step, Viewer};
use crate::error::ViewerError;

/// Where the analysis thread finds its models and keeps its results; the engine (ONNX
/// Runtime and the models, or the reason they cannot run) is loaded once, on the analysis
/// thread, and shared by later analyses.
#[derive(Debug, Clone, Default)]
pub struct AnalysisSettings {
    /// Model folder; the bundled models when `None`.
    pub models_dir: Option<PathBuf>,
    /// Per-series result cache; none when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Loaded once, by whichever thread needs it first (the viewer's analysis or the desk's
    /// pre-read), and shared.
    pub(crate) engine: Arc<std::sync::OnceLock<Engine>>,
}

impl AnalysisSettings {
    /// Bundled models and the user's cache folder.
    pub fn user_default() -> Self {
        Self { models_dir: None, cache_dir: cache::default_dir(), engine: Arc::default() }
    }
}

/// The labels and the analysis, or why there are none.
type Outcome = Result<Box<(Vec<u8>, Analysis)>, ViewerError>;

/// Segments, quantifies and grades `volume` (the analysis thread's work), through the
/// per-series cache.
fn analyse(volume: &Volume, settings: &AnalysisSettings, progress: &Progress) -> Outcome {
    let engine = settings.engine.get_or_init(|| Engine::load(settings.models_dir.as_deref()));
    let mut analysis = cache::analyze_cached(
        engine,
        settings.cache_dir.as_deref(),
        &volume.series_uid,
        &volume.geometry,
        &volume.voxels_hu,
        progress,
    )?;
    let labels = std::mem::take(&mut analysis.labels);
    Ok(Box::new((labels, analysis)))
}

/// An analysis running on its thread.
pub(super) struct AnalysisJob {
    volume: Arc<Volume>,
    pub progress: Arc<Progress>,
    rx: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
}

impl AnalysisJob {
    /// Cancels the analysis; its thread ends at its next step (joined at shutdown).
    pub fn cancel(mut self) -> Option<JoinHandle<()>> {
        self.progress.cancel();
        self.thread.take()
    }
}

impl Viewer {
    /// Starts the analysis of the current volume on the `lungdesk-analyze` thread.
    pub fn start_analysis(&mut self) {
        let Some(volume) = self.volume.clone() else { return };
        self.cancel_analysis();
        let progress = Arc::new(Progress::new());
        let (tx, rx) = channel();
        let (worker_volume, worker_progress, ctx) = (volume.clone(), progress.clone(), self.ctx.clone());
        let settings = self.analysis_settings.clone();
        let spawned = std::thread::Builder::new().name("lungdesk-analyze".into()).spawn(move || {
            // Lower priority, and so are ONNX Runtime's workers it starts: the UI goes first.
            crate::background::lower_priority();
            let _ = tx.send(analyse(&worker_volume, &settings, &worker_progress));
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(thread) => self.analysis_job = Some(AnalysisJob { volume, progress, rx, thread: Some(thread) }),
            Err(source) => self.fail(Step::Ai, ViewerError::Spawn { name: "lungdesk-analyze", source }.to_string()),
        }
    }

    pub(super) fn cancel_analysis(&mut self) {
        if let Some(job) = self.analysis_job.take() {
            self.finished_threads.extend(job.cancel());
        }
    }

    /// True while the analysis runs.
    pub fn is_analysing(&self) -> bool {
        self.analysis_job.is_some()
    }

    pub(super) fn poll_analysis(&mut self, ctx: &egui::Context) {
        let Some(job) = &self.analysis_job else { return };
        let result = match job.rx.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => {
                ctx.request_repaint_after(PROGRESS_TICK);
                return;
            }
            Err(TryRecvError::Disconnected) => Err(ViewerError::WorkerGone("lungdesk-analyze")),
        };
        let current = self.volume.as_ref().is_some_and(|v| Arc::ptr_eq(v, &job.volume));
        if let Some(mut job) = self.analysis_job.take()
            && let Some(thread) = job.thread.take()
        {
            let _ = thread.join();
        }
        match result {
            Ok(found) if current => {
                let (labels, analysis) = *found;
                if let Err(e) = self.set_labels(labels) {
                    self.fail(Step::Display, e.to_string());
                }
                self.analysis = Some(analysis);
            }
            Ok(_) => {}
            Err(e) if e.is_cancelled() => {}
            Err(e) => self.fail(Step::Ai, e.to_string()),
        }
    }

    /// Shows `labels` (one class per voxel of the current volume) as the overlay; they go to
    /// the GPU on the `lungdesk-labels` thread.
    pub fn set_labels(&mut self, labels: Vec<u8>) -> Result<(), ViewerError> {
        let Some(volume) = &self.volume else { return Err(ViewerError::LabelsDoNotFit("no volume is open".into())) };
        let expected = volume.voxels_hu.len();
        if labels.len() != expected {
            return Err(ViewerError::LabelsDoNotFit(format!(
                "the labels hold {} voxels, the volume {expected}",
                labels.len()
            )));
        }
        self.labels = Some(Arc::new(labels));
        self.generation.labels += 1;
        self.display.overlay.labels_present = true;
        Ok(())
    }
}
