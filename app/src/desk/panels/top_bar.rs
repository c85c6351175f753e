//! Tabs, import, export, language, the reader, the sync line; the status message below.

use std::path::PathBuf;

use egui::{Key, RichText};

use crate::desk::action::Action;
use crate::desk::model::{DeskModel, Tab};
use crate::i18n::{Lang, tr, trf};
use crate::theme;

/// The running import: what, and how far.
#[derive(Debug)]
pub struct ImportProgress<'a> {
    pub what: &'a str,
    pub fraction: f32,
}

pub fn show(
    ui: &mut egui::Ui,
    m: &DeskModel,
    import: Option<ImportProgress<'_>>,
    frame: &mut super::FrameRequests,
) -> Vec<Action> {
    let lang = m.lang;
    let mut actions = Vec::new();
    // One line from 1280 px up, in both languages: short labels, narrow fields, and the
    // reader and sync status shortened to what is left (whole on hover).
    ui.horizontal(|ui| {
        for (tab, name) in [
            (Tab::Review, "Review (F3)"),
            (Tab::Disagreements, "Disagreements (F4)"),
            (Tab::Surveillance, "Surveillance (F7)"),
        ] {
            if ui.selectable_label(m.tab == tab, tr(lang, name)).clicked() {
                actions.push(Action::ShowTab(tab));
            }
        }
        ui.separator();
        if ui.button(tr(lang, "Import… (Ctrl+I)")).clicked() {
            actions.push(Action::AskImportFolder);
        }
        let mut entry = m.import_entry.clone();
        let response = ui.add(
            egui::TextEdit::singleline(&mut entry)
                .desired_width(150.0)
                .hint_text(tr(lang, "or type a folder path, Enter")),
        );
        if entry != m.import_entry {
            actions.push(Action::ImportEntry(entry.clone()));
        }
        // Enter keeps the keyboard in the field until the import has started (a path that is
        // wrong is corrected in place; the next letters are not taken for shortcuts).
        if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) && !entry.trim().is_empty() {
            actions.push(Action::Import(PathBuf::from(entry.trim())));
            response.request_focus();
        }
        match frame.import_focus.take() {
            Some(true) => response.request_focus(),
            Some(false) if response.has_focus() => response.surrender_focus(),
            _ => {}
        }
        if let Some(job) = import {
            ui.add(egui::ProgressBar::new(job.fraction).desired_width(100.0).show_percentage()).on_hover_text(trf(
                lang,
                "Importing {what}",
                &[("what", &job.what)],
            ));
            if ui.button(tr(lang, "Cancel")).clicked() {
                actions.push(Action::CancelImport);
            }
        }
        ui.separator();
        if ui.button(tr(lang, "Export (Ctrl+E)")).clicked() {
            actions.push(Action::Export);
        }
        // The export folder, editable; Enter exports there.
        let mut folder = m.export_dir.display().to_string();
        let response = ui
            .add(egui::TextEdit::singleline(&mut folder).desired_width(110.0))
            .on_hover_text(tr(lang, "Export folder: CSV and JSON are written here (Enter exports)"));
        if response.changed() {
            actions.push(Action::ExportDir(PathBuf::from(folder)));
        }
        if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
            actions.push(Action::Export);
        }
        ui.separator();
        if ui.button(format!("{} (F2)", lang.other().name())).clicked() {
            actions.push(Action::Lang(lang.other()));
        }
        if ui.button(tr(lang, "Keys (F1)")).clicked() {
            actions.push(Action::ToggleShortcuts);
        }
        ui.separator();
        if let Some(text) = preread_line(lang, m) {
            ui.add(egui::Label::new(RichText::new(&text).weak()).truncate()).on_hover_text(&text);
            ui.separator();
        }
        let (line, color) = crate::cloud_ui::status_line(lang, &m.cloud);
        let sync = ui
            .add(egui::Label::new(RichText::new(&line).color(color)).sense(egui::Sense::click()).truncate())
            .on_hover_text(&line);
        if sync.clicked() {
            actions.push(Action::ShowTab(Tab::Surveillance));
        }
        if let Some(i) = &m.identity {
            let who = format!("{} · {} · {}", i.display_name, i.reader_id, i.site_code);
            ui.add(egui::Label::new(RichText::new(&i.reader_id).weak()).truncate()).on_hover_text(who);
        }
    });
    if let Some(n) = &m.notice {
        ui.colored_label(if n.error { theme::ERROR } else { theme::OK }, &n.text);
    }
    ui.separator();
    actions
}

/// The background pre-read's state for the top bar; `None` when there is nothing to say.
pub fn preread_line(lang: Lang, m: &DeskModel) -> Option<String> {
    let p = m.preread();
    if let Some(why) = &p.stopped {
        return Some(trf(lang, "AI pre-read off: {error}", &[("error", why)]));
    }
    if let Some((why, after)) = &p.retrying {
        let seconds = after.as_secs().max(1);
        return Some(trf(
            lang,
            "AI pre-read waiting for the local store ({error}); next try within {seconds} s",
            &[("error", why), ("seconds", &seconds)],
        ));
    }
    match p.left? {
        0 => None,
        left if p.paused => Some(trf(lang, "AI pre-read: {left} left (paused while you work)", &[("left", &left)])),
        left => Some(trf(lang, "AI pre-read: {left} left", &[("left", &left)])),
    }
}
