//! The viewer's toolbar (folder, window presets, slab, overlay) and its status line.

use std::path::PathBuf;

use egui::{Color32, Key};
use lungdesk_render::view::{SlabMode, Window};

use crate::i18n::{tr, trf};
use crate::theme;
use crate::viewer::Viewer;

impl Viewer {
    pub(crate) fn toolbar(&mut self, ui: &mut egui::Ui) {
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
                if std::mem::take(&mut self.focus_path) {
                    response.request_focus();
                }
                ui.separator();
            }
            for (name, preset) in [
                (tr(self.lang, "Lung (L)"), Window::LUNG),
                (tr(self.lang, "Mediastinum (M)"), Window::MEDIASTINUM),
                (tr(self.lang, "Bone (B)"), Window::BONE),
            ] {
                if ui.selectable_label(self.display.window == preset, name).clicked() {
                    self.display.window = preset;
                }
            }
            ui.label(format!("W {:.0} / L {:.0}", self.display.window.width_hu, self.display.window.center_hu));
            ui.separator();
            egui::ComboBox::new("slab", tr(self.lang, "slab"))
                .selected_text(match self.display.slab.0 {
                    SlabMode::Thin => tr(self.lang, "Thin (S)"),
                    SlabMode::Mip => tr(self.lang, "MIP (S)"),
                    SlabMode::MinIp => tr(self.lang, "MinIP (S)"),
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.display.slab.0, SlabMode::Thin, tr(self.lang, "Thin"));
                    ui.selectable_value(&mut self.display.slab.0, SlabMode::Mip, "MIP");
                    ui.selectable_value(&mut self.display.slab.0, SlabMode::MinIp, "MinIP");
                });
            if self.display.slab.0 != SlabMode::Thin {
                ui.add(
                    egui::Slider::new(&mut self.display.slab.1, 1.0..=40.0)
                        .suffix(" mm")
                        .fixed_decimals(0)
                        .text(tr(self.lang, "thickness")),
                );
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(&mut self.display.overlay_on, tr(self.lang, "Overlay (O)"));
            let enabled = self.display.overlay_on;
            for (class, name) in [(1u8, tr(self.lang, "lung")), (2, "GGO"), (3, tr(self.lang, "consolidation"))] {
                let mut on = self.display.overlay.visible_classes & (1 << class) != 0;
                let [r, g, b, _] = self.display.overlay.colors[usize::from(class)].map(|c| (c * 255.0) as u8);
                let text = egui::RichText::new(name).color(Color32::from_rgb(r, g, b));
                if ui.add_enabled(enabled, egui::Checkbox::new(&mut on, text)).changed() {
                    self.display.overlay.visible_classes ^= 1 << class;
                }
            }
            ui.add_enabled(
                enabled,
                egui::Slider::new(&mut self.display.overlay.opacity, 0.0..=1.0)
                    .text(tr(self.lang, "opacity"))
                    .fixed_decimals(2),
            );
            ui.add_enabled(
                enabled,
                egui::Checkbox::new(&mut self.display.overlay.outline, tr(self.lang, "outline (U)")),
            );
            if !self.display.overlay.labels_present && self.volume.is_some() {
                ui.weak(tr(self.lang, "no segmentation yet"));
            }
            ui.separator();
            // Each hint whole, never broken inside a word (Japanese has no spaces to break
            // at): the row wraps between hints.
            let hints = tr(
                self.lang,
                "F maximise · Up/Down or wheel: slice · Ctrl+wheel zoom · middle-drag pan · right-drag W/L",
            );
            for hint in hints.split(" · ") {
                ui.add(egui::Label::new(egui::RichText::new(hint).weak()).wrap_mode(egui::TextWrapMode::Extend));
            }
        });
    }

    pub(crate) fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(job) = &self.loading {
                ui.label(trf(self.lang, "Reading {what}", &[("what", &job.what)]));
                ui.add(egui::ProgressBar::new(job.progress.fraction()).desired_width(240.0).show_percentage());
                if ui.button(tr(self.lang, "Cancel")).clicked() {
                    job.progress.cancel();
                }
            }
            if self.dialog.is_open() {
                ui.label(tr(self.lang, "Choosing a folder…"));
            }
        });
        if let Some(e) = &self.error {
            // On its own lines, wrapped to the viewer's width: a long message never pushes the
            // views, or the desk's review panel beside them, out of place.
            // Wrapped to what is visible: a wide toolbar row can widen this ui beyond it.
            let text = trf(self.lang, self.error_step.message(), &[("error", e)]);
            let width = (ui.clip_rect().right() - ui.cursor().left() - 4.0).max(120.0);
            ui.scope(|ui| {
                ui.set_max_width(width);
                ui.add(egui::Label::new(egui::RichText::new(text).color(theme::ERROR)).wrap());
            });
        }
    }
}
