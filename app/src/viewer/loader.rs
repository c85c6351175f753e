//! Reading a folder on the `lungdesk-load` thread: scan, pick (or ask which series), decode,
//! upload to the GPU.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::thread::JoinHandle;

use lungdesk_render::slice::GpuVolume;
use lungdesk_volume::{Progress, ScanReport, Volume, load_series, scan};

use super::{PROGRESS_TICK, Step, Viewer};
use crate::error::ViewerError;

/// A volume, and its GPU copy when the viewer has a device.
pub type Loaded = Box<(Volume, Option<GpuVolume>)>;

/// Loads one series and, given a device, uploads it (the loader thread's last step).
pub fn load_and_upload(
    series: &lungdesk_volume::Series,
    progress: &Progress,
    gpu: Option<&(wgpu::Device, wgpu::Queue)>,
) -> Result<Loaded, ViewerError> {
    let volume = load_series(series, progress)?;
    let uploaded = match gpu {
        Some((device, queue)) => Some(
            GpuVolume::upload(device, queue, volume.geometry.dims, &volume.voxels_hu)
                .map_err(|e| ViewerError::Gpu(e.to_string()))?,
        ),
        None => None,
    };
    Ok(Box::new((volume, uploaded)))
}

pub(super) enum LoadMessage {
    /// Several CT series: the reader picks one.
    Choose(ScanReport),
    /// The volume, already on the GPU when the viewer has one.
    Loaded(Result<Loaded, ViewerError>),
}

/// A folder being read on the background thread.
pub(super) struct LoadJob {
    pub what: String,
    pub progress: Arc<Progress>,
    rx: Receiver<LoadMessage>,
    /// Set by the loader thread when its result is sent.
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoadJob {
    /// Cancels the load and joins its thread (it stops at its next step).
    pub fn stop(self) {
        if let Some(thread) = self.cancel() {
            let _ = thread.join();
        }
    }

    /// Cancels the load; its thread, to join later.
    pub fn cancel(mut self) -> Option<JoinHandle<()>> {
        self.progress.cancel();
        self.thread.take()
    }
}

impl Viewer {
    /// Starts reading `folder` on a background thread.
    pub fn open_folder(&mut self, folder: PathBuf) {
        let gpu = self.gpu();
        self.start_load(folder.display().to_string(), move |progress| {
            let report = scan(&folder, progress)?;
            if report.ct_series().count() > 1 {
                return Ok(LoadMessage::Choose(report));
            }
            let series = report.pick(None)?;
            Ok(LoadMessage::Loaded(load_and_upload(series, progress, gpu.as_ref())))
        });
    }

    pub(super) fn open_series(&mut self, report: ScanReport, series_uid: String) {
        let gpu = self.gpu();
        self.start_load(format!("series {series_uid}"), move |progress| {
            let series = report.pick(Some(&series_uid))?;
            Ok(LoadMessage::Loaded(load_and_upload(series, progress, gpu.as_ref())))
        });
    }

    fn start_load(
        &mut self,
        what: String,
        job: impl FnOnce(&Progress) -> Result<LoadMessage, ViewerError> + Send + 'static,
    ) {
        if let Some(old) = self.loading.take() {
            self.finished_threads.extend(old.cancel());
        }
        let progress = Arc::new(Progress::new());
        let (tx, rx) = channel();
        let worker_progress = progress.clone();
        let finished = Arc::new(AtomicBool::new(false));
        let worker_finished = finished.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new().name("lungdesk-load".into()).spawn(move || {
            crate::background::lower_priority();
            let message = job(&worker_progress).unwrap_or_else(|e| LoadMessage::Loaded(Err(e)));
            let _ = tx.send(message);
            worker_finished.store(true, Ordering::Release);
            // Show the result at once, not at the next progress tick.
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(thread) => self.loading = Some(LoadJob { what, progress, rx, finished, thread: Some(thread) }),
            Err(source) => self.fail(Step::Open, ViewerError::Spawn { name: "lungdesk-load", source }.to_string()),
        }
    }

    /// True while a folder is being read.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// True when the loader has finished and the next frame will show its result.
    pub fn load_finished(&self) -> bool {
        self.loading.as_ref().is_some_and(|job| job.finished.load(Ordering::Acquire))
    }

    pub(super) fn poll_load(&mut self, ctx: &egui::Context) {
        let Some(job) = &self.loading else { return };
        let message = match job.rx.try_recv() {
            Ok(message) => message,
            // The progress bar updates at 4 Hz: on a software renderer, repainting flat out
            // would take the CPU from the loader. The loader asks for a repaint when done.
            Err(TryRecvError::Empty) => {
                ctx.request_repaint_after(PROGRESS_TICK);
                return;
            }
            Err(TryRecvError::Disconnected) => LoadMessage::Loaded(Err(ViewerError::WorkerGone("lungdesk-load"))),
        };
        if let Some(job) = self.loading.take() {
            job.stop();
        }
        match message {
            LoadMessage::Loaded(Ok(loaded)) => self.show_volume(loaded),
            LoadMessage::Loaded(Err(e)) if e.is_cancelled() => {}
            LoadMessage::Loaded(Err(e)) => self.fail(Step::of(&e), e.to_string()),
            LoadMessage::Choose(report) => self.choose = Some(report),
        }
    }
}
