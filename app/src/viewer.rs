//! The viewer: three linked slice views of a CT volume, loading off the UI thread.
//!
//! State lives here as plain values (crosshair, per-view zoom and pan, window, overlay
//! settings); GPU objects live in the renderer's callback resources, and each frame adds one
//! paint callback per view carrying only that view's frame (what its slice image shows and
//! where it sits). The UI thread never touches the disk and never copies the volume to the
//! GPU: folders are scanned, decoded and uploaded on a named background thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use egui::{Color32, FontId, Key, Pos2, Rect, Sense, Stroke, Vec2};
use glam::{DVec2, DVec3};
use lungdesk_inference::analysis::{Analysis, Engine};
use lungdesk_inference::cache;
use lungdesk_inference::grade::RsnaGrade;

use crate::ai_text::{explanation, grade_name};
use lungdesk_render::slice::{GpuVolume, Look, OverlayStyle, SliceRenderer, ViewFrame, hu_at_patient};
use lungdesk_render::view::{Plane, SlabMode, ViewMapping, ViewState, Window, patient_bounds, slice_step_mm};
use lungdesk_volume::{Progress, ScanReport, Volume, load_series, scan};

use crate::i18n::{Lang, tr, trf};

/// A folder being read on the background thread.
struct LoadJob {
    what: String,
    progress: Arc<Progress>,
    rx: Receiver<LoadMessage>,
    /// Set by the loader thread when its result is sent.
    finished: Arc<std::sync::atomic::AtomicBool>,
}

enum LoadMessage {
    /// Several CT series: the reader picks one.
    Choose(ScanReport),
    /// The volume, already on the GPU when the viewer has one.
    Loaded(Result<Box<(Volume, Option<GpuVolume>)>, String>),
}

/// An analysis running on its thread.
struct AnalysisJob {
    volume: Arc<Volume>,
    progress: Arc<Progress>,
    rx: Receiver<AnalysisOutcome>,
}

/// The labels and the analysis, or why there are none.
type AnalysisOutcome = Result<Box<(Vec<u8>, Analysis)>, String>;

/// Where the analysis thread finds its models and keeps its results; the engine (ONNX
/// Runtime and the models, or the reason they cannot run) is loaded once, on the analysis
/// thread, and shared by later analyses.
#[derive(Debug, Clone, Default)]
pub struct AnalysisSettings {
    /// Model folder; the bundled models when `None`.
    pub models_dir: Option<PathBuf>,
    /// Per-series result cache; none when `None`.
    pub cache_dir: Option<PathBuf>,
    engine: Arc<std::sync::OnceLock<Engine>>,
}

impl AnalysisSettings {
    /// Bundled models and the user's cache folder.
    pub fn user_default() -> Self {
        Self { models_dir: None, cache_dir: cache::default_dir(), engine: Arc::default() }
    }
}

/// Segments, quantifies and grades `volume` (the analysis thread's work), through the
/// per-series cache.
fn analyse(volume: &Volume, settings: &AnalysisSettings, progress: &Progress) -> AnalysisOutcome {
    let engine = settings.engine.get_or_init(|| Engine::load(settings.models_dir.as_deref()));
    let mut analysis = cache::analyze_cached(
        engine,
        settings.cache_dir.as_deref(),
        &volume.series_uid,
        &volume.geometry,
        &volume.voxels_hu,
        progress,
    )
    .map_err(|e| e.to_string())?;
    let labels = std::mem::take(&mut analysis.labels);
    Ok(Box::new((labels, analysis)))
}

/// A volume, and its GPU copy when the viewer has a device.
pub type Loaded = Box<(Volume, Option<GpuVolume>)>;

/// Loads one series and, given a device, uploads it (the loader thread's last step).
pub fn load_and_upload(
    series: &lungdesk_volume::Series,
    progress: &Progress,
    gpu: Option<&(wgpu::Device, wgpu::Queue)>,
) -> Result<Box<(Volume, Option<GpuVolume>)>, String> {
    let volume = load_series(series, progress).map_err(|e| e.to_string())?;
    let uploaded = match gpu {
        Some((device, queue)) => Some(
            GpuVolume::upload(device, queue, volume.geometry.dims, &volume.voxels_hu)
                .map_err(|e| format!("cannot show this volume on the GPU: {e}"))?,
        ),
        None => None,
    };
    Ok(Box::new((volume, uploaded)))
}

/// The viewer's state. `render_state` is None in tests without a GPU.
#[allow(clippy::struct_excessive_bools)] // independent display toggles
pub struct Viewer {
    render_state: Option<egui_wgpu::RenderState>,
    pub volume: Option<Arc<Volume>>,
    /// Segmentation labels on the volume's grid (classes of `lungdesk_volume::labels`).
    pub labels: Option<Arc<Vec<u8>>>,
    labels_uploaded: bool,
    /// A volume uploaded by the loader, handed to the renderer at the next frame.
    pending_upload: Option<GpuVolume>,
    uploaded_revision: Option<u64>,
    pub crosshair_mm: DVec3,
    pub views: [ViewState; 3],
    pub window: Window,
    pub overlay: OverlayStyle,
    pub overlay_on: bool,
    pub slab: (SlabMode, f64),
    pub maximised: Option<usize>,
    pub error: Option<String>,
    /// The view under the pointer and the patient point there.
    pub hover: Option<(usize, DVec3)>,
    choose: Option<ScanReport>,
    analysis_job: Option<AnalysisJob>,
    /// The AI's result for the current volume.
    pub analysis: Option<Analysis>,
    /// Start the analysis as soon as a folder is loaded.
    pub analyse_on_load: bool,
    /// Models and cache of the analysis.
    pub analysis_settings: AnalysisSettings,
    /// The egui context, once the first frame has run (the loader wakes the UI with it).
    ctx: Option<egui::Context>,
    /// A native folder dialog open on its own thread.
    dialog: Option<Receiver<Result<Option<PathBuf>, String>>>,
    /// A typed or pasted folder path: for keyboard users, and where the desktop has no folder
    /// dialog (rfd then logs the failure and reports it as a cancel).
    pub path_entry: String,
    loading: Option<LoadJob>,
    mappings: [Option<ViewMapping>; 3],
    /// Inside the review desk: no folder opening, no side panel (the desk draws both).
    pub embedded: bool,
    /// The UI language.
    pub lang: Lang,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("crosshair_mm", &self.crosshair_mm)
            .field("window", &self.window)
            .field("loaded", &self.volume.is_some())
            .finish_non_exhaustive()
    }
}

/// Number of slice views.
const VIEWS: usize = 3;

/// How often the progress bar repaints while a folder loads.
pub const PROGRESS_TICK: std::time::Duration = std::time::Duration::from_millis(250);

impl Viewer {
    /// A viewer drawing with `render_state` (eframe's wgpu state), or without GPU output.
    pub fn new(render_state: Option<egui_wgpu::RenderState>) -> Self {
        if let Some(rs) = &render_state {
            let renderer = SliceRenderer::new(&rs.device, rs.target_format, VIEWS);
            rs.renderer.write().callback_resources.insert(renderer);
        }
        Self {
            render_state,
            volume: None,
            labels: None,
            labels_uploaded: false,
            pending_upload: None,
            uploaded_revision: None,
            crosshair_mm: DVec3::ZERO,
            views: Plane::ALL.map(ViewState::new),
            window: Window::LUNG,
            overlay: OverlayStyle::default(),
            overlay_on: true,
            slab: (SlabMode::Thin, 10.0),
            maximised: None,
            error: None,
            hover: None,
            choose: None,
            analysis_job: None,
            analysis: None,
            analyse_on_load: true,
            analysis_settings: AnalysisSettings::default(),
            ctx: None,
            dialog: None,
            path_entry: String::new(),
            loading: None,
            mappings: [None; 3],
            embedded: false,
            lang: Lang::En,
        }
    }

    /// Shows `volume` (already loaded), centring the crosshair.
    pub fn set_volume(&mut self, volume: Volume) {
        let (lo, hi) = patient_bounds(&volume.geometry);
        self.crosshair_mm = (lo + hi) / 2.0;
        self.views = Plane::ALL.map(ViewState::new);
        self.volume = Some(Arc::new(volume));
        self.uploaded_revision = None;
        self.labels = None;
        self.overlay.labels_present = false;
        self.error = None;
        self.analysis = None;
        if let Some(job) = self.analysis_job.take() {
            job.progress.cancel();
        }
    }

    /// Starts the analysis of the current volume on the `lungdesk-analyze` thread.
    pub fn start_analysis(&mut self) {
        let Some(volume) = self.volume.clone() else { return };
        if let Some(job) = self.analysis_job.take() {
            job.progress.cancel();
        }
        let progress = Arc::new(Progress::new());
        let (tx, rx) = channel();
        let (worker_volume, worker_progress, ctx) = (volume.clone(), progress.clone(), self.ctx.clone());
        let settings = self.analysis_settings.clone();
        let spawned = std::thread::Builder::new().name("lungdesk-analyze".into()).spawn(move || {
            let _ = tx.send(analyse(&worker_volume, &settings, &worker_progress));
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(_) => self.analysis_job = Some(AnalysisJob { volume, progress, rx }),
            Err(e) => self.error = Some(format!("cannot start the analysis thread: {e}")),
        }
    }

    /// True while the analysis runs.
    pub fn is_analysing(&self) -> bool {
        self.analysis_job.is_some()
    }

    fn poll_analysis(&mut self, ctx: &egui::Context) {
        let Some(job) = &self.analysis_job else { return };
        match job.rx.try_recv() {
            Ok(result) => {
                let current = self.volume.as_ref().is_some_and(|v| Arc::ptr_eq(v, &job.volume));
                self.analysis_job = None;
                match result {
                    Ok(found) if current => {
                        let (labels, analysis) = *found;
                        if let Err(e) = self.set_labels(labels) {
                            self.error = Some(format!("analysis result does not fit the volume: {e}"));
                        }
                        self.analysis = Some(analysis);
                    }
                    Ok(_) => {}
                    Err(e) if e == lungdesk_inference::InferenceError::Cancelled.to_string() => {}
                    Err(e) => self.error = Some(format!("analysis failed: {e}")),
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => ctx.request_repaint_after(PROGRESS_TICK),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.analysis_job = None;
                self.error = Some("the analysis stopped unexpectedly".into());
            }
        }
    }

    /// Shows `labels` (one class per voxel of the current volume) as the overlay.
    pub fn set_labels(&mut self, labels: Vec<u8>) -> Result<(), String> {
        let Some(volume) = &self.volume else { return Err("no volume is open".into()) };
        let expected = volume.voxels_hu.len();
        if labels.len() != expected {
            return Err(format!("the labels hold {} voxels, the volume {expected}", labels.len()));
        }
        self.labels = Some(Arc::new(labels));
        self.labels_uploaded = false;
        self.overlay.labels_present = true;
        Ok(())
    }

    /// The device and queue that loader threads upload to.
    pub fn gpu(&self) -> Option<(wgpu::Device, wgpu::Queue)> {
        self.render_state.as_ref().map(|rs| (rs.device.clone(), rs.queue.clone()))
    }

    /// Starts reading `folder` on a background thread.
    pub fn open_folder(&mut self, folder: PathBuf) {
        let gpu = self.gpu();
        self.start_job(folder.display().to_string(), move |progress| {
            let report = scan(&folder, progress).map_err(|e| e.to_string())?;
            if report.ct_series().count() > 1 {
                return Ok(LoadMessage::Choose(report));
            }
            let series = report.pick(None).map_err(|e| e.to_string())?;
            Ok(LoadMessage::Loaded(load_and_upload(series, progress, gpu.as_ref())))
        });
    }

    fn open_series(&mut self, report: ScanReport, series_uid: String) {
        let gpu = self.gpu();
        self.start_job(format!("series {series_uid}"), move |progress| {
            let series = report.pick(Some(&series_uid)).map_err(|e| e.to_string())?;
            Ok(LoadMessage::Loaded(load_and_upload(series, progress, gpu.as_ref())))
        });
    }

    fn start_job(&mut self, what: String, job: impl FnOnce(&Progress) -> Result<LoadMessage, String> + Send + 'static) {
        if let Some(old) = self.loading.take() {
            old.progress.cancel();
        }
        let progress = Arc::new(Progress::new());
        let (tx, rx) = channel();
        let worker_progress = progress.clone();
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let worker_finished = finished.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new().name("lungdesk-load".into()).spawn(move || {
            let message = job(&worker_progress).unwrap_or_else(|e| LoadMessage::Loaded(Err(e)));
            let _ = tx.send(message);
            worker_finished.store(true, std::sync::atomic::Ordering::Release);
            // Show the result at once, not at the next progress tick.
            if let Some(ctx) = ctx {
                ctx.request_repaint();
            }
        });
        match spawned {
            Ok(_) => self.loading = Some(LoadJob { what, progress, rx, finished }),
            Err(e) => self.error = Some(format!("cannot start the loader thread: {e}")),
        }
    }

    /// True while a folder is being read.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// True when the loader has finished and the next frame will show its result.
    pub fn load_finished(&self) -> bool {
        self.loading.as_ref().is_some_and(|job| job.finished.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Shows a volume loaded elsewhere (the desk's case loader), starting its analysis.
    pub fn show_loaded(&mut self, loaded: Loaded) {
        let (volume, uploaded) = *loaded;
        if let Some(old) = self.loading.take() {
            old.progress.cancel();
        }
        self.choose = None;
        self.set_volume(volume);
        self.pending_upload = uploaded;
        if self.analyse_on_load {
            self.start_analysis();
        }
    }

    /// Forgets the volume (the case could not be read).
    pub fn clear(&mut self, error: Option<String>) {
        if let Some(job) = self.analysis_job.take() {
            job.progress.cancel();
        }
        self.volume = None;
        self.labels = None;
        self.analysis = None;
        self.overlay.labels_present = false;
        self.error = error;
    }

    fn poll_job(&mut self, ctx: &egui::Context) {
        let Some(job) = &self.loading else { return };
        match job.rx.try_recv() {
            Ok(LoadMessage::Loaded(Ok(loaded))) => {
                let (volume, uploaded) = *loaded;
                self.loading = None;
                self.set_volume(volume);
                self.pending_upload = uploaded;
                if self.analyse_on_load {
                    self.start_analysis();
                }
            }
            Ok(LoadMessage::Loaded(Err(e))) => {
                self.loading = None;
                if e != "loading cancelled" {
                    self.error = Some(e);
                }
            }
            Ok(LoadMessage::Choose(report)) => {
                self.loading = None;
                self.choose = Some(report);
            }
            // The progress bar updates at 4 Hz: on a software renderer, repainting flat out would
            // take the CPU from the loader. The loader asks for a repaint when it is done.
            Err(std::sync::mpsc::TryRecvError::Empty) => ctx.request_repaint_after(PROGRESS_TICK),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.loading = None;
                self.error = Some("the loader stopped unexpectedly".into());
            }
        }
    }

    /// Hands the volume to the renderer: the loader's upload when there is one (no copy on
    /// this thread), else an upload here (a volume set directly, as in tests); then the labels.
    fn upload_if_needed(&mut self) {
        let (Some(rs), Some(volume)) = (&self.render_state, &self.volume) else { return };
        let revision = Arc::as_ptr(volume) as u64;
        let mut renderer = rs.renderer.write();
        let Some(slices) = renderer.callback_resources.get_mut::<SliceRenderer>() else { return };
        if self.uploaded_revision != Some(revision) {
            self.labels_uploaded = false;
            self.uploaded_revision = Some(revision);
            let uploaded = match self.pending_upload.take() {
                Some(uploaded) => Ok(uploaded),
                None => GpuVolume::upload(&rs.device, &rs.queue, volume.geometry.dims, &volume.voxels_hu),
            };
            match uploaded {
                Ok(uploaded) => slices.set_volume(uploaded),
                Err(e) => {
                    self.error = Some(format!("cannot show this volume on the GPU: {e}"));
                    return;
                }
            }
        }
        if !self.labels_uploaded
            && let Some(labels) = &self.labels
        {
            slices.update_labels(&rs.queue, [0, 0, 0], volume.geometry.dims.map(|d| d as u32), labels);
            self.labels_uploaded = true;
        }
    }

    /// Moves the crosshair one slice along view `view`'s normal, `steps` times.
    pub fn scroll(&mut self, view: usize, steps: f64) {
        let Some(volume) = &self.volume else { return };
        let plane = self.views[view].plane;
        self.crosshair_mm += plane.normal() * slice_step_mm(&volume.geometry, plane) * steps;
        let (lo, hi) = patient_bounds(&volume.geometry);
        self.crosshair_mm = self.crosshair_mm.clamp(lo, hi);
    }

    /// The slice index (1-based) and count of view `view` at the crosshair.
    pub fn slice_number(&self, view: usize) -> Option<(i64, i64)> {
        let volume = self.volume.as_ref()?;
        let g = &volume.geometry;
        let plane = self.views[view].plane;
        let axis = (0..3).max_by(|&a, &b| {
            let da = g.patient_from_voxel.col(a).truncate().normalize_or_zero().dot(plane.normal()).abs();
            let db = g.patient_from_voxel.col(b).truncate().normalize_or_zero().dot(plane.normal()).abs();
            da.total_cmp(&db)
        })?;
        let v = g.voxel_from_patient().transform_point3(self.crosshair_mm);
        Some((v[axis].round() as i64 + 1, g.dims[axis] as i64))
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let focus = self.hover.map_or(0, |(v, _)| v);
        if ctx.egui_wants_keyboard_input() {
            return; // typing in a text field
        }
        let embedded = self.embedded;
        let mut open_dialog = false;
        let mut analyse = false;
        ctx.input_mut(|i| {
            if i.key_pressed(Key::L) {
                self.window = Window::LUNG;
            }
            if i.key_pressed(Key::M) {
                self.window = Window::MEDIASTINUM;
            }
            if i.key_pressed(Key::B) {
                self.window = Window::BONE;
            }
            if !embedded && i.consume_key(egui::Modifiers::COMMAND, Key::O) {
                open_dialog = true;
            } else if i.key_pressed(Key::O) {
                self.overlay_on = !self.overlay_on;
            }
            if i.key_pressed(Key::A) {
                analyse = true;
            }
            if i.key_pressed(Key::U) {
                self.overlay.outline = !self.overlay.outline;
            }
            if i.key_pressed(Key::F) {
                self.maximised = if self.maximised.is_some() { None } else { Some(focus) };
            }
            if i.key_pressed(Key::S) {
                self.slab.0 = match self.slab.0 {
                    SlabMode::Thin => SlabMode::Mip,
                    SlabMode::Mip => SlabMode::MinIp,
                    SlabMode::MinIp => SlabMode::Thin,
                };
            }
        });
        if open_dialog {
            self.ask_for_folder();
        }
        if analyse && !self.is_analysing() {
            self.start_analysis();
        }
        let up = ctx.input(|i| i.key_pressed(Key::ArrowUp) || i.key_pressed(Key::PageUp));
        let down = ctx.input(|i| i.key_pressed(Key::ArrowDown) || i.key_pressed(Key::PageDown));
        if up {
            self.scroll(focus, 1.0);
        }
        if down {
            self.scroll(focus, -1.0);
        }
    }

    /// Draws the whole viewer into `ui`.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.ctx.get_or_insert_with(|| ctx.clone());
        self.poll_job(&ctx);
        self.poll_analysis(&ctx);
        self.upload_if_needed();
        self.handle_keys(&ctx);
        if !self.embedded {
            for file in ctx.input(|i| i.raw.dropped_files.clone()) {
                self.open_folder(file.path().to_owned());
            }
        }
        self.poll_dialog(&ctx);
        self.toolbar(ui);
        self.status_bar(ui);
        if let Some(report) = self.choose.clone() {
            self.series_picker(ui, &report);
            return;
        }
        if self.volume.is_none() {
            if !self.embedded {
                ui.centered_and_justified(|ui| {
                    ui.label(tr(
                        self.lang,
                        "Open a DICOM folder: Ctrl+O, drop it here, or start with `lungdesk view FOLDER`.",
                    ));
                });
            }
            return;
        }
        if !self.embedded {
            egui::Panel::right("ai").resizable(false).exact_size(300.0).show(ui, |ui| self.analysis_panel(ui));
        }
        let area = ui.available_rect_before_wrap().intersect(ui.clip_rect().shrink(1.0));
        let rects = layout(area, self.maximised);
        for (view, rect) in rects.into_iter().enumerate() {
            if let Some(rect) = rect {
                self.view_ui(ui, view, rect);
            }
        }
    }

    /// Opens the system's folder dialog on a named thread (it blocks until the reader picks).
    pub fn ask_for_folder(&mut self) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new().name("lungdesk-dialog".into()).spawn(move || {
            let picked =
                std::panic::catch_unwind(|| rfd::FileDialog::new().set_title("Open a DICOM folder").pick_folder())
                    .map_err(|_| "the system folder dialog failed".to_owned());
            let _ = tx.send(picked);
        });
        match spawned {
            Ok(_) => self.dialog = Some(rx),
            Err(e) => self.error = Some(format!("cannot open the folder dialog: {e}; type the folder's path instead")),
        }
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        let Some(rx) = &self.dialog else { return };
        match rx.try_recv() {
            Ok(Ok(Some(folder))) => {
                self.dialog = None;
                self.open_folder(folder);
            }
            Ok(Ok(None)) => self.dialog = None,
            Ok(Err(e)) => {
                self.dialog = None;
                self.error = Some(format!("{e}; type the folder's path instead"));
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.dialog = None;
                self.error = Some("the folder dialog stopped unexpectedly; type the folder's path instead".into());
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                ctx.request_repaint_after(std::time::Duration::from_millis(100));
            }
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if !self.embedded {
                if ui.button(tr(self.lang, "Open folder… (Ctrl+O)")).clicked() {
                    self.ask_for_folder();
                }
                let response = ui.add(
                    egui::TextEdit::singleline(&mut self.path_entry)
                        .desired_width(220.0)
                        .hint_text(tr(self.lang, "or type a folder path, Enter")),
                );
                if response.lost_focus()
                    && ui.input(|i| i.key_pressed(Key::Enter))
                    && !self.path_entry.trim().is_empty()
                {
                    let folder = PathBuf::from(self.path_entry.trim());
                    self.open_folder(folder);
                }
                ui.separator();
            }
            for (name, preset) in [
                (tr(self.lang, "Lung (L)"), Window::LUNG),
                (tr(self.lang, "Mediastinum (M)"), Window::MEDIASTINUM),
                (tr(self.lang, "Bone (B)"), Window::BONE),
            ] {
                if ui.selectable_label(self.window == preset, name).clicked() {
                    self.window = preset;
                }
            }
            ui.label(format!("W {:.0} / L {:.0}", self.window.width_hu, self.window.center_hu));
            ui.separator();
            egui::ComboBox::new("slab", tr(self.lang, "slab"))
                .selected_text(match self.slab.0 {
                    SlabMode::Thin => tr(self.lang, "Thin (S)"),
                    SlabMode::Mip => tr(self.lang, "MIP (S)"),
                    SlabMode::MinIp => tr(self.lang, "MinIP (S)"),
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.slab.0, SlabMode::Thin, tr(self.lang, "Thin"));
                    ui.selectable_value(&mut self.slab.0, SlabMode::Mip, "MIP");
                    ui.selectable_value(&mut self.slab.0, SlabMode::MinIp, "MinIP");
                });
            if self.slab.0 != SlabMode::Thin {
                ui.add(
                    egui::Slider::new(&mut self.slab.1, 1.0..=40.0)
                        .suffix(" mm")
                        .fixed_decimals(0)
                        .text(tr(self.lang, "thickness")),
                );
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(&mut self.overlay_on, tr(self.lang, "Overlay (O)"));
            let enabled = self.overlay_on;
            for (class, name) in [(1u8, tr(self.lang, "lung")), (2, "GGO"), (3, tr(self.lang, "consolidation"))] {
                let mut on = self.overlay.visible_classes & (1 << class) != 0;
                let [r, g, b, _] = self.overlay.colors[usize::from(class)].map(|c| (c * 255.0) as u8);
                let text = egui::RichText::new(name).color(Color32::from_rgb(r, g, b));
                if ui.add_enabled(enabled, egui::Checkbox::new(&mut on, text)).changed() {
                    self.overlay.visible_classes ^= 1 << class;
                }
            }
            ui.add_enabled(
                enabled,
                egui::Slider::new(&mut self.overlay.opacity, 0.0..=1.0)
                    .text(tr(self.lang, "opacity"))
                    .fixed_decimals(2),
            );
            ui.add_enabled(enabled, egui::Checkbox::new(&mut self.overlay.outline, tr(self.lang, "outline (U)")));
            if !self.overlay.labels_present && self.volume.is_some() {
                ui.weak(tr(self.lang, "no segmentation yet"));
            }
            ui.separator();
            ui.weak(tr(
                self.lang,
                "F maximise · Up/Down or wheel: slice · Ctrl+wheel zoom · middle-drag pan · right-drag W/L",
            ));
        });
    }

    /// The AI's pre-read: progress, grade with scores and explanation, volumes, method.
    pub fn analysis_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr(self.lang, "AI pre-read"));
        if let Some(job) = &self.analysis_job {
            ui.horizontal(|ui| {
                ui.label(tr(self.lang, "Analysing…"));
                ui.add(egui::ProgressBar::new(job.progress.fraction()).desired_width(120.0).show_percentage());
                if ui.button(tr(self.lang, "Cancel")).clicked() {
                    job.progress.cancel();
                }
            });
            return;
        }
        let Some(a) = &self.analysis else {
            if ui.button(tr(self.lang, "Analyse (A)")).clicked() {
                self.start_analysis();
            }
            return;
        };
        match &a.prediction {
            Some(p) => {
                ui.label(
                    egui::RichText::new(format!("{} {}", p.grade as u8, grade_name(self.lang, p.grade)))
                        .size(20.0)
                        .strong(),
                );
                for (g, score) in RsnaGrade::ALL.iter().zip(p.scores) {
                    ui.add(egui::ProgressBar::new(score as f32).text(format!(
                        "{} {} {:.0} %",
                        *g as u8,
                        grade_name(self.lang, *g),
                        100.0 * score
                    )));
                }
            }
            // "Cannot grade" is a result, shown as such: never a grade, no scores.
            None => {
                ui.label(egui::RichText::new(format!("— {}", tr(self.lang, "Cannot grade"))).size(20.0).strong());
            }
        }
        if let Some(read_as) = &a.read_as {
            ui.label(read_as);
        }
        ui.add(egui::Label::new(explanation(self.lang, a)).wrap());
        ui.separator();
        // Refused before the models ran: there are no numbers to show.
        if a.models.is_empty() && a.fallback_reason.is_none() {
            ui.weak(tr(self.lang, "The AI did not segment this series."));
            return;
        }
        let q = &a.quantification;
        egui::Grid::new("quantification").striped(true).show(ui, |ui| {
            ui.label("");
            ui.label(tr(self.lang, "right"));
            ui.label(tr(self.lang, "left"));
            ui.end_row();
            for (name, r, l) in [
                (tr(self.lang, "lung mL"), q.right.lung_ml, q.left.lung_ml),
                ("GGO mL", q.right.ggo_ml, q.left.ggo_ml),
                ("GGO %", q.right.ggo_percent, q.left.ggo_percent),
                (tr(self.lang, "consolidation mL"), q.right.consolidation_ml, q.left.consolidation_ml),
                (tr(self.lang, "consolidation %"), q.right.consolidation_percent, q.left.consolidation_percent),
            ] {
                ui.label(name);
                ui.label(format!("{r:.1}"));
                ui.label(format!("{l:.1}"));
                ui.end_row();
            }
        });
        ui.label(trf(
            self.lang,
            "foci {foci} · peripheral {peripheral} % · {side} · severity {severity}/30",
            &[
                ("foci", &q.foci),
                ("peripheral", &format!("{:.0}", 100.0 * q.peripheral_fraction)),
                ("side", &tr(self.lang, if q.bilateral { "bilateral" } else { "unilateral" })),
                ("severity", &q.severity_score),
            ],
        ));
        ui.separator();
        if let Some(reason) = &a.fallback_reason {
            ui.colored_label(
                Color32::from_rgb(255, 190, 90),
                tr(self.lang, "AI models not used; showing the HU baseline."),
            );
            ui.add(egui::Label::new(egui::RichText::new(reason).small()).wrap());
            ui.weak(trf(
                self.lang,
                "Segmentation: {method}. A deterministic baseline, not a trained model; no real lesion ground truth behind it.",
                &[("method", &a.method)],
            ));
        } else {
            ui.weak(trf(
                self.lang,
                "Segmentation: {models}. The lesion model learnt from 50 real CT slices labelled by a radiologist (MedSeg, 8-bit images mapped to estimated HU) and from SYNTHETIC lesions inserted into real CT; see the model cards for what it was and was not checked on.",
                &[("models", &a.models.join(" + "))],
            ));
        }
        ui.weak(trf(self.lang, "Grade: {method}.", &[("method", &tr(self.lang, lungdesk_inference::grade::METHOD))]));
        if a.from_cache {
            ui.weak(tr(self.lang, "(from this series' saved result)"));
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(job) = &self.loading {
                ui.label(trf(self.lang, "Reading {what}", &[("what", &job.what)]));
                ui.add(egui::ProgressBar::new(job.progress.fraction()).desired_width(240.0).show_percentage());
                if ui.button(tr(self.lang, "Cancel")).clicked() {
                    job.progress.cancel();
                }
            }
            if self.dialog.is_some() {
                ui.label(tr(self.lang, "Choosing a folder…"));
            }
            if let Some(e) = &self.error {
                ui.colored_label(
                    Color32::from_rgb(255, 120, 100),
                    trf(self.lang, "Could not open: {error}", &[("error", e)]),
                );
            }
        });
    }

    fn series_picker(&mut self, ui: &mut egui::Ui, report: &ScanReport) {
        ui.heading(tr(self.lang, "This folder holds several CT series; choose one"));
        let mut chosen = None;
        for s in report.ct_series() {
            let text = format!("{} — {} slice(s) — {}", s.description, s.slices.len(), s.series_uid);
            if ui.button(text).clicked() {
                chosen = Some(s.series_uid.clone());
            }
        }
        if let Some(uid) = chosen {
            self.choose = None;
            self.open_series(report.clone(), uid);
        }
    }

    #[allow(clippy::too_many_lines)] // input, image and annotations of one view, in drawing order
    fn view_ui(&mut self, ui: &mut egui::Ui, view: usize, rect: Rect) {
        let Some(volume) = self.volume.clone() else { return };
        let response = ui.allocate_rect(rect, Sense::click_and_drag());
        let size = DVec2::new(f64::from(rect.width()), f64::from(rect.height()));
        let state = self.views[view];
        let mapping = ViewMapping::new(&volume.geometry, &state, size, self.crosshair_mm);
        self.mappings[view] = Some(mapping);
        let local = |p: Pos2| DVec2::new(f64::from(p.x - rect.min.x), f64::from(p.y - rect.min.y));

        // Pointer: hover readout, click moves the crosshair, wheel scrolls, drags adjust.
        if let Some(pos) = response.hover_pos() {
            self.hover = Some((view, mapping.patient(local(pos))));
            // Discrete wheel events: one slice per notch, whatever the platform's scroll speed.
            let (scroll, zoom) = ui.input(|i| {
                let wheel: f32 = i
                    .raw
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        egui::Event::MouseWheel { delta, .. } => Some(delta.y.signum()),
                        _ => None,
                    })
                    .sum();
                (wheel, i.modifiers.command)
            });
            if scroll != 0.0 {
                if zoom {
                    self.views[view].zoom =
                        (self.views[view].zoom * if scroll > 0.0 { 1.1 } else { 1.0 / 1.1 }).clamp(0.2, 20.0);
                } else {
                    self.scroll(view, f64::from(scroll.signum()));
                }
            }
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            self.crosshair_mm = mapping.patient(local(pos));
        }
        if response.double_clicked() {
            self.maximised = if self.maximised.is_some() { None } else { Some(view) };
        }
        if response.dragged_by(egui::PointerButton::Secondary) {
            let d = response.drag_delta();
            self.window.width_hu = (self.window.width_hu + d.x * 4.0).clamp(1.0, 6000.0);
            self.window.center_hu += d.y * 2.0;
        }
        if response.dragged_by(egui::PointerButton::Middle) {
            let d = response.drag_delta();
            self.views[view].pan_mm -= DVec2::new(f64::from(d.x), f64::from(d.y)) * mapping.mm_per_point;
        }

        // The image.
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::BLACK);
        if self.render_state.is_some() {
            let overlay = OverlayStyle {
                visible_classes: if self.overlay_on { self.overlay.visible_classes } else { 0 },
                ..self.overlay
            };
            let (format, max_side) =
                self.render_state.as_ref().map_or((lungdesk_render::HuFormat::Sint16, 2048), |rs| {
                    (
                        lungdesk_render::HuFormat::for_features(rs.device.features()),
                        rs.device.limits().max_texture_dimension_2d,
                    )
                });
            let look = Look { window: self.window, slab: self.slab, overlay };
            let frame = ViewFrame::new(
                &volume.geometry,
                state.plane,
                &mapping,
                [rect.width(), rect.height()],
                self.crosshair_mm,
                &look,
                format,
                max_side.min(4096),
            );
            painter.add(egui_wgpu::Callback::new_paint_callback(rect, SliceCallback { slot: view, frame }));
        }

        // Crosshair, orientation letters, slice number, position and HU.
        let c = mapping.view_point(self.crosshair_mm);
        let c = Pos2::new(rect.min.x + c.x as f32, rect.min.y + c.y as f32);
        let stroke = Stroke::new(1.0, Color32::from_rgba_unmultiplied(80, 220, 120, 160));
        painter.line_segment([Pos2::new(rect.min.x, c.y), Pos2::new(rect.max.x, c.y)], stroke);
        painter.line_segment([Pos2::new(c.x, rect.min.y), Pos2::new(c.x, rect.max.y)], stroke);
        let [left, right, top, bottom] = state.plane.edge_letters();
        let font = FontId::proportional(16.0);
        let letter = Color32::from_rgb(255, 210, 80);
        let (mid_x, mid_y) = (rect.center().x, rect.center().y);
        for (pos, align, text) in [
            (Pos2::new(rect.min.x + 4.0, mid_y), egui::Align2::LEFT_CENTER, left),
            (Pos2::new(rect.max.x - 4.0, mid_y), egui::Align2::RIGHT_CENTER, right),
            (Pos2::new(mid_x, rect.min.y + 4.0), egui::Align2::CENTER_TOP, top),
            (Pos2::new(mid_x, rect.max.y - 4.0), egui::Align2::CENTER_BOTTOM, bottom),
        ] {
            text_with_backdrop(&painter, pos, align, text.to_string(), font.clone(), letter);
        }
        let (n, count) = self.slice_number(view).unwrap_or((0, 0));
        let position = self.crosshair_mm.dot(state.plane.normal());
        let mut info = format!("{} {n}/{count}  {position:.1} mm", state.plane.name());
        if let Some((hv, p)) = self.hover
            && hv == view
            && let Some(hu) = hu_at_patient(&volume.geometry, &volume.voxels_hu, p)
        {
            use std::fmt::Write as _;
            let _ = write!(info, "\n({:.1}, {:.1}, {:.1}) mm  {hu} HU", p.x, p.y, p.z);
        }
        text_with_backdrop(
            &painter,
            rect.min + Vec2::new(4.0, 24.0),
            egui::Align2::LEFT_TOP,
            info,
            FontId::monospace(12.0),
            Color32::from_gray(235),
        );
        painter.rect_stroke(rect, 0.0, Stroke::new(1.0, Color32::from_gray(60)), egui::StrokeKind::Inside);
    }
}

/// Text on a translucent dark box, readable over bright bone or soft tissue.
fn text_with_backdrop(
    painter: &egui::Painter,
    pos: Pos2,
    align: egui::Align2,
    text: String,
    font: FontId,
    color: Color32,
) {
    let galley = painter.layout_no_wrap(text, font, color);
    let rect = align.anchor_size(pos, galley.size());
    painter.rect_filled(rect.expand(2.0), 3.0, Color32::from_black_alpha(150));
    painter.galley(rect.min, galley, color);
}

/// Axial on the left half, coronal and sagittal stacked on the right; or one maximised view.
fn layout(area: Rect, maximised: Option<usize>) -> [Option<Rect>; 3] {
    if let Some(m) = maximised {
        let mut rects = [None; 3];
        rects[m] = Some(area);
        return rects;
    }
    let half = area.width() / 2.0;
    let left = Rect::from_min_size(area.min, Vec2::new(half, area.height()));
    let top = Rect::from_min_size(Pos2::new(area.min.x + half, area.min.y), Vec2::new(half, area.height() / 2.0));
    let bottom = Rect::from_min_size(
        Pos2::new(area.min.x + half, area.min.y + area.height() / 2.0),
        Vec2::new(half, area.height() / 2.0),
    );
    [Some(left), Some(top), Some(bottom)]
}

/// One view's paint callback: carries only its frame.
struct SliceCallback {
    slot: usize,
    frame: ViewFrame,
}

impl egui_wgpu::CallbackTrait for SliceCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(renderer) = resources.get_mut::<SliceRenderer>() {
            renderer.prepare(device, queue, encoder, self.slot, &self.frame);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = resources.get::<SliceRenderer>() {
            renderer.paint(pass, self.slot);
        }
    }
}

/// The eframe application: the viewer filling the window.
#[derive(Debug)]
pub struct ViewerApp {
    pub viewer: Viewer,
}

impl ViewerApp {
    pub fn new(cc: &eframe::CreationContext<'_>, folder: Option<PathBuf>) -> Self {
        crate::fonts::install(&cc.egui_ctx);
        let mut viewer = Viewer::new(cc.wgpu_render_state.clone());
        viewer.analysis_settings = AnalysisSettings::user_default();
        if let Some(folder) = folder {
            viewer.open_folder(folder);
        }
        Self { viewer }
    }
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| self.viewer.ui(ui));
    }
}

/// `setup` changed to ask the GPU for what the slice views use where it has it: 16-bit
/// normalised textures (exact, filterable HU) and the adapter's full 3D texture size (egui-wgpu
/// asks for no features and default limits).
pub fn with_lungdesk_features(mut setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut setup {
        let base = create.device_descriptor.clone();
        create.device_descriptor = Arc::new(move |adapter| {
            let mut descriptor = base(adapter);
            descriptor.required_features |= lungdesk_render::slice::wanted_features(adapter.features());
            descriptor.required_limits.max_texture_dimension_3d = adapter.limits().max_texture_dimension_3d;
            descriptor
        });
    }
    setup
}

/// Native options: the wgpu renderer with [`with_lungdesk_features`].
pub fn native_options() -> eframe::NativeOptions {
    let mut wgpu_options = egui_wgpu::WgpuConfiguration::default();
    wgpu_options.wgpu_setup = with_lungdesk_features(wgpu_options.wgpu_setup);
    eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        wgpu_options,
        viewport: egui::ViewportBuilder::default().with_inner_size([1600.0, 960.0]).with_title("LungDesk"),
        ..Default::default()
    }
}
