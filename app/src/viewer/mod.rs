//! The viewer: three linked slice views of a CT volume, loading off the UI thread.
//!
//! - [`navigation`]: crosshair, views, window, slab, overlay (plain values);
//! - `loader`: folders scanned, decoded and uploaded on `lungdesk-load`;
//! - `analysis`: the AI pre-read on `lungdesk-analyze`;
//! - `gpu`: what the renderer holds; uploads on their own threads;
//! - `panels`: toolbar, AI panel, series picker, slice views.
//!
//! GPU objects live in the renderer's callback resources, and each frame adds one paint
//! callback per view carrying only that view's frame. The UI thread never touches the disk
//! and never copies a volume or a label volume to the GPU.

mod analysis;
mod gpu;
mod loader;
pub mod navigation;
mod panels;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use egui::Key;
use lungdesk_inference::analysis::Analysis;
use lungdesk_render::slice::SliceRenderer;
use lungdesk_volume::{ScanReport, Volume};

pub use self::analysis::AnalysisSettings;
pub use self::loader::{Loaded, load_and_upload};
use self::navigation::VIEWS;
pub use self::navigation::{Display, Navigation};
use crate::dialog::FolderDialog;
use crate::error::ViewerError;
use crate::i18n::{Lang, tr};

/// How often the progress bar repaints while a folder loads.
pub const PROGRESS_TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// The step a viewer error is of, so that its message says which one failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Finding the series in the folder or the case's files.
    Open,
    /// Reading the images' pixels.
    Read,
    /// Putting them on the GPU.
    Display,
    /// The AI pre-read (the images are shown).
    Ai,
}

impl Step {
    /// What the reader sees before the reason.
    pub fn message(self) -> &'static str {
        match self {
            Step::Open => "Could not open: {error}",
            Step::Read => "Could not read the images: {error}",
            Step::Display => "Could not display the images: {error}",
            Step::Ai => "The AI pre-read failed; the images are shown: {error}",
        }
    }

    /// The step a volume error is of: finding the series, or reading its pixels.
    pub fn of(e: &ViewerError) -> Self {
        use lungdesk_volume::VolumeError as V;
        match e {
            ViewerError::Volume(V::ReadDir { .. } | V::NoImageSeries { .. } | V::SeriesNotFound { .. }) => Step::Open,
            ViewerError::Volume(_) | ViewerError::Cancelled => Step::Read,
            ViewerError::Gpu(_) | ViewerError::LabelsDoNotFit(_) => Step::Display,
            ViewerError::Analysis(_) => Step::Ai,
            _ => Step::Open,
        }
    }
}

/// `text` with every absolute path shortened to its file name ("model lungdesk-lung.onnx:
/// …"): what the AI reports names files of the installation, not the reader's.
pub fn without_install_paths(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let absolute = word.starts_with('/') || word.get(1..3) == Some(":\\");
            match word.rfind(['/', '\\']).filter(|_| absolute) {
                Some(i) => &word[i + 1..],
                None => word,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The viewer's state. `render_state` is None in tests without a GPU.
pub struct Viewer {
    render_state: Option<egui_wgpu::RenderState>,
    pub volume: Option<Arc<Volume>>,
    /// Segmentation labels on the volume's grid (classes of `lungdesk_volume::labels`).
    pub labels: Option<Arc<Vec<u8>>>,
    pub nav: Navigation,
    pub display: Display,
    pub error: Option<String>,
    /// Which step `error` is of.
    pub error_step: Step,
    /// The folder path field takes the keyboard next frame.
    focus_path: bool,
    /// The AI's result for the current volume.
    pub analysis: Option<Analysis>,
    /// Start the analysis as soon as a folder is loaded.
    pub analyse_on_load: bool,
    /// Models and cache of the analysis.
    pub analysis_settings: AnalysisSettings,
    /// Inside the review desk: no folder opening, no side panel (the desk draws both).
    pub embedded: bool,
    /// The UI language.
    pub lang: Lang,
    /// A typed or pasted folder path: for keyboard users, and where the desktop has no folder
    /// dialog (rfd then logs the failure and reports it as a cancel).
    pub path_entry: String,
    gpu: gpu::GpuState,
    generation: gpu::Generation,
    choose: Option<ScanReport>,
    loading: Option<loader::LoadJob>,
    analysis_job: Option<analysis::AnalysisJob>,
    dialog: FolderDialog,
    /// Threads of cancelled work, joined at shutdown.
    finished_threads: Vec<JoinHandle<()>>,
    /// The egui context, once the first frame has run (the loader wakes the UI with it).
    ctx: Option<egui::Context>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("crosshair_mm", &self.nav.crosshair_mm)
            .field("window", &self.display.window)
            .field("loaded", &self.volume.is_some())
            .finish_non_exhaustive()
    }
}

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
            nav: Navigation::default(),
            display: Display::default(),
            error: None,
            analysis: None,
            analyse_on_load: true,
            analysis_settings: AnalysisSettings::default(),
            embedded: false,
            lang: Lang::En,
            path_entry: String::new(),
            error_step: Step::Open,
            focus_path: false,
            gpu: gpu::GpuState::default(),
            generation: gpu::Generation::default(),
            choose: None,
            loading: None,
            analysis_job: None,
            dialog: FolderDialog::default(),
            finished_threads: Vec::new(),
            ctx: None,
        }
    }

    /// Shows `volume` (already loaded), centring the crosshair; its GPU copy is made on the
    /// `lungdesk-upload` thread.
    pub fn set_volume(&mut self, volume: Volume) {
        // The next case keeps the reader's layout (a maximised view stays maximised).
        let (maximised, hover) = (self.nav.maximised, self.nav.hover);
        self.nav = Navigation { maximised, hover, ..Navigation::centred_on(&volume.geometry) };
        self.volume = Some(Arc::new(volume));
        self.generation.volume += 1;
        self.gpu.pending = None;
        self.labels = None;
        self.display.overlay.labels_present = false;
        self.error = None;
        self.analysis = None;
        self.cancel_analysis();
    }

    /// Shows a loaded volume (with its GPU copy when the loader made one) and starts its
    /// analysis when asked to.
    fn show_volume(&mut self, loaded: Loaded) {
        let (volume, uploaded) = *loaded;
        self.choose = None;
        self.set_volume(volume);
        self.gpu.pending = uploaded;
        if self.analyse_on_load {
            self.start_analysis();
        }
    }

    /// Shows a volume loaded elsewhere (the desk's case loader), starting its analysis.
    pub fn show_loaded(&mut self, loaded: Loaded) {
        if let Some(old) = self.loading.take() {
            self.finished_threads.extend(old.cancel());
        }
        self.show_volume(loaded);
    }

    /// Shows why `step` failed.
    pub fn fail(&mut self, step: Step, text: String) {
        self.error_step = step;
        self.error = Some(if step == Step::Ai { without_install_paths(&text) } else { text });
    }

    /// Forgets the volume (the case could not be read).
    pub fn clear(&mut self, error: Option<String>) {
        self.cancel_analysis();
        self.volume = None;
        self.generation.volume += 1;
        self.labels = None;
        self.analysis = None;
        self.display.overlay.labels_present = false;
        self.error = error;
    }

    /// The device and queue that loader threads upload to.
    pub fn gpu(&self) -> Option<(wgpu::Device, wgpu::Queue)> {
        self.render_state.as_ref().map(|rs| (rs.device.clone(), rs.queue.clone()))
    }

    /// A load, an analysis or a GPU upload is running.
    pub fn is_busy(&self) -> bool {
        self.is_loading() || self.is_analysing() || self.gpu.busy()
    }

    /// Moves the crosshair one slice along view `view`'s normal, `steps` times.
    pub fn scroll(&mut self, view: usize, steps: f64) {
        if let Some(volume) = &self.volume {
            self.nav.scroll(&volume.geometry, view, steps);
        }
    }

    /// For a volume of one slice, the view in that slice's own plane (whatever the series'
    /// orientation); `None` for a volume.
    pub fn single_slice_view(&self) -> Option<usize> {
        let g = &self.volume.as_ref()?.geometry;
        let flat = (0..3).filter(|&a| g.dims[a] == 1).collect::<Vec<_>>();
        let &[axis] = flat.as_slice() else { return None };
        let normal = g.patient_from_voxel.col(axis).truncate().normalize_or_zero();
        (0..VIEWS).max_by(|&a, &b| {
            let (da, db) = (
                self.nav.views[a].plane.normal().dot(normal).abs(),
                self.nav.views[b].plane.normal().dot(normal).abs(),
            );
            da.total_cmp(&db)
        })
    }

    /// The slice index (1-based) and count of view `view` at the crosshair.
    pub fn slice_number(&self, view: usize) -> Option<(i64, i64)> {
        self.nav.slice_number(&self.volume.as_ref()?.geometry, view)
    }

    /// Stops the load and the analysis and joins every thread it started.
    pub fn shutdown(&mut self) {
        if let Some(job) = self.loading.take() {
            job.stop();
        }
        self.cancel_analysis();
        for thread in self.finished_threads.drain(..) {
            let _ = thread.join();
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return; // typing in a text field
        }
        let focus = self.nav.focus();
        let embedded = self.embedded;
        let (mut open_dialog, mut analyse) = (false, false);
        let (mut up, mut down) = (0, 0);
        ctx.input_mut(|i| {
            for (key, window) in [
                (Key::L, lungdesk_render::view::Window::LUNG),
                (Key::M, lungdesk_render::view::Window::MEDIASTINUM),
                (Key::B, lungdesk_render::view::Window::BONE),
            ] {
                if i.key_pressed(key) {
                    self.display.window = window;
                }
            }
            if !embedded && i.consume_key(egui::Modifiers::COMMAND, Key::O) {
                open_dialog = true;
            } else if i.key_pressed(Key::O) {
                self.display.overlay_on = !self.display.overlay_on;
            }
            analyse = i.key_pressed(Key::A);
            if i.key_pressed(Key::U) {
                self.display.overlay.outline = !self.display.overlay.outline;
            }
            if i.key_pressed(Key::F) {
                self.nav.toggle_maximised(focus);
            }
            if i.key_pressed(Key::S) {
                self.display.cycle_slab();
            }
            // Every press counts, also several in one slow frame.
            for event in &i.events {
                if let egui::Event::Key { key, pressed: true, .. } = event {
                    match key {
                        Key::ArrowUp | Key::PageUp => up += 1,
                        Key::ArrowDown | Key::PageDown => down += 1,
                        _ => {}
                    }
                }
            }
        });
        if open_dialog {
            self.ask_for_folder();
        }
        if analyse && !self.is_analysing() {
            self.start_analysis();
        }
        if up != down {
            self.scroll(focus, f64::from(up - down));
        }
    }

    /// Opens the system's folder dialog on a named thread (it blocks until the reader picks).
    pub fn ask_for_folder(&mut self) {
        if let Err(e) = self.dialog.open("Open a DICOM folder") {
            self.fail(Step::Open, e.to_string());
        }
    }

    fn poll_dialog(&mut self, ctx: &egui::Context) {
        match self.dialog.poll() {
            Some(Ok(Some(folder))) => self.open_folder(folder),
            Some(Err(ViewerError::NoDialog)) => {
                // No folder dialog on this desktop: the path field takes the keyboard.
                self.fail(Step::Open, tr(self.lang, crate::error::NO_DIALOG).to_owned());
                self.focus_path = true;
            }
            Some(Err(e)) => self.fail(Step::Open, e.to_string()),
            None if self.dialog.is_open() => ctx.request_repaint_after(std::time::Duration::from_millis(100)),
            Some(Ok(None)) | None => {}
        }
    }

    /// Draws the whole viewer into `ui`.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.ctx.get_or_insert_with(|| ctx.clone());
        self.finished_threads.retain(|t| !t.is_finished());
        self.poll_load(&ctx);
        self.poll_analysis(&ctx);
        self.sync_gpu();
        if self.gpu.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(30));
        }
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
        // A single slice has one view, in its own plane: the other two would be empty lines.
        let rects = panels::slice_view::layout(area, self.single_slice_view().or(self.nav.maximised));
        for (view, rect) in rects.into_iter().enumerate() {
            if let Some(rect) = rect {
                self.view_ui(ui, view, rect);
            }
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
        crate::background::start_worker_pool();
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

    fn on_exit(&mut self) {
        self.viewer.shutdown();
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
