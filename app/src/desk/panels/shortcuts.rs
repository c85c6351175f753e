//! The shortcut sheet (F1), from the key table.

use crate::desk::action::Action;
use crate::desk::keymap;
use crate::i18n::{Lang, tr};

pub fn show(ctx: &egui::Context, lang: Lang) -> Vec<Action> {
    let mut open = true;
    egui::Window::new(tr(lang, "Keyboard shortcuts"))
        .open(&mut open)
        .collapsible(false)
        .default_width(520.0)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts").striped(true).num_columns(2).show(ui, |ui| {
                for (keys, what) in keymap::sheet() {
                    ui.monospace(keys);
                    ui.label(tr(lang, what));
                    ui.end_row();
                }
            });
        });
    if open { Vec::new() } else { vec![Action::CloseShortcuts] }
}
