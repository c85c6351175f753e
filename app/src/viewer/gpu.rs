//! What the renderer holds: the HU volume (uploaded by the loader, or on the
//! `lungdesk-upload` thread for a volume set directly) and the labels (written on the
//! `lungdesk-labels` thread). The UI thread only hands finished GPU objects to the renderer.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::thread::JoinHandle;

use lungdesk_render::slice::{GpuVolume, LabelTexture, RenderError, SliceRenderer};

use super::Viewer;
use crate::error::ViewerError;

/// A GPU write running on its thread, for the volume or labels of generation `of`.
struct Upload<T> {
    of: u64,
    rx: Receiver<Result<T, RenderError>>,
    thread: Option<JoinHandle<()>>,
}

impl<T> Upload<T> {
    fn start(
        name: &'static str,
        of: u64,
        work: impl FnOnce() -> Result<T, RenderError> + Send + 'static,
    ) -> Result<Self, ViewerError>
    where
        T: Send + 'static,
    {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tx.send(work());
            })
            .map_err(|source| ViewerError::Spawn { name, source })?;
        Ok(Self { of, rx, thread: Some(thread) })
    }

    /// The result, once in (the thread joined).
    fn poll(&mut self) -> Option<Result<T, ViewerError>> {
        let result = match self.rx.try_recv() {
            Ok(result) => result.map_err(|e| ViewerError::Gpu(e.to_string())),
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(ViewerError::WorkerGone("GPU upload")),
        };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Some(result)
    }
}

/// An upload no longer wanted: its thread is joined at shutdown, never waited for here.
fn retire<T>(upload: Option<Upload<T>>, threads: &mut Vec<JoinHandle<()>>) {
    threads.extend(upload.and_then(|mut u| u.thread.take()));
}

/// Counters of the volumes and label volumes shown, to tell a new one from the last.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Generation {
    pub volume: u64,
    pub labels: u64,
}

/// The renderer's side of the shown volume and labels.
#[derive(Default)]
pub(super) struct GpuState {
    /// A volume uploaded by the loader, handed to the renderer at the next frame.
    pub pending: Option<GpuVolume>,
    /// Generation of the volume the renderer shows (a counter, never an address: a new
    /// volume can be allocated where the last one was).
    shown: Option<u64>,
    upload: Option<Upload<GpuVolume>>,
    label_texture: Option<LabelTexture>,
    /// Generation of the labels in the renderer's label texture.
    labels_shown: Option<u64>,
    labels_upload: Option<Upload<()>>,
    /// Generations whose upload failed (said once, not retried every frame).
    failed: Option<u64>,
    labels_failed: Option<u64>,
}

impl GpuState {
    /// A HU or label upload is running.
    pub fn busy(&self) -> bool {
        self.upload.is_some() || self.labels_upload.is_some()
    }
}

impl Viewer {
    /// Hands finished uploads to the renderer and starts the ones needed: the volume (unless
    /// the loader uploaded it), then the labels.
    pub(super) fn sync_gpu(&mut self) {
        let Some(rs) = self.render_state.clone() else { return };
        let Some(volume) = self.volume.clone() else {
            // No volume (the case could not be read): nothing of the last one is waited for.
            retire(self.gpu.upload.take(), &mut self.finished_threads);
            retire(self.gpu.labels_upload.take(), &mut self.finished_threads);
            return;
        };
        let of = self.generation.volume;
        let gpu = &mut self.gpu;
        if gpu.shown != Some(of) {
            let ready = if let Some(uploaded) = gpu.pending.take() {
                retire(gpu.upload.take(), &mut self.finished_threads);
                Some(Ok(uploaded))
            } else if gpu.failed == Some(of) {
                return;
            } else {
                self.volume_upload(&rs, &volume, of)
            };
            let gpu = &mut self.gpu;
            match ready {
                Some(Ok(uploaded)) => {
                    gpu.label_texture = Some(uploaded.label_texture());
                    gpu.labels_shown = None;
                    retire(gpu.labels_upload.take(), &mut self.finished_threads);
                    gpu.shown = Some(of);
                    if let Some(slices) = rs.renderer.write().callback_resources.get_mut::<SliceRenderer>() {
                        slices.set_volume(uploaded);
                    }
                }
                Some(Err(e)) => {
                    gpu.failed = Some(of);
                    self.fail(super::Step::Display, e.to_string());
                    return;
                }
                None => return,
            }
        }
        let gpu = &mut self.gpu;
        let Some(labels) = self.labels.clone() else { return };
        let labels_of = self.generation.labels;
        if gpu.labels_shown == Some(labels_of) || gpu.labels_failed == Some(labels_of) {
            return;
        }
        if gpu.labels_upload.as_ref().is_none_or(|u| u.of != labels_of)
            && let Some(texture) = gpu.label_texture.clone()
        {
            retire(gpu.labels_upload.take(), &mut self.finished_threads);
            let queue = rs.queue.clone();
            match Upload::start("lungdesk-labels", labels_of, move || texture.write(&queue, &labels)) {
                Ok(upload) => gpu.labels_upload = Some(upload),
                Err(e) => {
                    gpu.labels_failed = Some(labels_of);
                    self.fail(super::Step::Display, e.to_string());
                }
            }
        }
        let gpu = &mut self.gpu;
        if let Some(done) = gpu.labels_upload.as_mut().and_then(Upload::poll) {
            gpu.labels_upload = None;
            match done {
                Ok(()) => {
                    gpu.labels_shown = Some(labels_of);
                    if let Some(slices) = rs.renderer.write().callback_resources.get_mut::<SliceRenderer>() {
                        slices.labels_written();
                    }
                }
                Err(e) => {
                    gpu.labels_failed = Some(labels_of);
                    self.fail(super::Step::Display, e.to_string());
                }
            }
        }
    }

    /// The HU volume's upload on `lungdesk-upload` (started when not running for `volume`),
    /// once it is done.
    fn volume_upload(
        &mut self,
        rs: &egui_wgpu::RenderState,
        volume: &Arc<lungdesk_volume::Volume>,
        of: u64,
    ) -> Option<Result<GpuVolume, ViewerError>> {
        if self.gpu.upload.as_ref().is_none_or(|u| u.of != of) {
            retire(self.gpu.upload.take(), &mut self.finished_threads);
            let (device, queue, v) = (rs.device.clone(), rs.queue.clone(), volume.clone());
            match Upload::start("lungdesk-upload", of, move || {
                GpuVolume::upload(&device, &queue, v.geometry.dims, &v.voxels_hu)
            }) {
                Ok(upload) => self.gpu.upload = Some(upload),
                Err(e) => {
                    self.gpu.failed = Some(of);
                    self.fail(super::Step::Display, e.to_string());
                }
            }
        }
        let done = self.gpu.upload.as_mut().and_then(Upload::poll);
        if done.is_some() {
            self.gpu.upload = None;
        }
        done
    }

    /// The labels on screen are on the GPU (tests wait for this).
    pub fn labels_on_gpu(&self) -> bool {
        self.labels.is_some() && self.gpu.labels_shown == Some(self.generation.labels)
    }
}
