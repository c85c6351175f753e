//! The worklist: progress, search, status filter, sort, and the table of cases.

use egui::RichText;
use lungdesk_store::{CaseStatus, Pcr};

use super::FrameRequests;
use crate::desk::action::Action;
use crate::desk::model::DeskModel;
use crate::desk::worklist_query::SortBy;
use crate::i18n::{tr, trf};
use crate::theme;

#[allow(clippy::too_many_lines)] // header, filters and the table, in drawing order
pub fn show(ui: &mut egui::Ui, m: &DeskModel, frame: &mut FrameRequests) -> Vec<Action> {
    let lang = m.lang;
    let mut actions = Vec::new();
    let done = m.rows.iter().filter(|r| r.status.is_done()).count();
    let total = m.rows.len();
    ui.horizontal(|ui| {
        ui.heading(tr(lang, "Worklist"));
        ui.label(trf(lang, "{done} of {total} done", &[("done", &done), ("total", &total)]));
        // The background pre-read: how many cases the AI has still to read.
        if let Some(left) = m.preread.left.filter(|n| *n > 0 && total > 0) {
            let read = total.saturating_sub(left);
            ui.weak(trf(lang, "AI read {read} of {total}", &[("read", &read), ("total", &total)]));
        }
    });
    ui.add(egui::ProgressBar::new(if total == 0 { 0.0 } else { done as f32 / total as f32 }).desired_height(6.0));
    let mut query = m.query.clone();
    ui.horizontal(|ui| {
        let search = ui.add(
            egui::TextEdit::singleline(&mut query.text)
                .hint_text(tr(lang, "search (Ctrl+F): key, date, status, grade"))
                .desired_width(200.0),
        );
        if std::mem::take(&mut frame.focus_search) {
            search.request_focus();
        }
        egui::ComboBox::new("status_filter", tr(lang, "Status"))
            .selected_text(query.status.map_or(tr(lang, "All (F5)"), |s| tr(lang, s.name())))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut query.status, None, tr(lang, "All (F5)"));
                for s in CaseStatus::ALL {
                    ui.selectable_value(&mut query.status, Some(s), tr(lang, s.name()));
                }
            });
    });
    ui.horizontal(|ui| {
        egui::ComboBox::new("sort", tr(lang, "Sort (F6):")).selected_text(tr(lang, query.sort.name())).show_ui(
            ui,
            |ui| {
                for s in SortBy::ALL {
                    ui.selectable_value(&mut query.sort, s, tr(lang, s.name()));
                }
            },
        );
        let arrow = if query.descending { "↓" } else { "↑" };
        if ui.button(arrow).clicked() {
            query.descending = !query.descending;
        }
        ui.weak(trf(lang, "{shown} shown", &[("shown", &m.visible.len())]));
    });
    if query != m.query {
        actions.push(Action::Query(query));
    }
    let current = m.current.as_ref().map(|c| c.case_id);
    let scroll_to = if std::mem::take(&mut frame.scroll_to_current) {
        current.and_then(|id| m.visible.iter().position(|&i| m.rows[i].case_id == id))
    } else {
        None
    };
    // The whole row is the click target: cell texts are not selectable, so a click on
    // "Confirmed" or a date opens the case instead of selecting text (PACS worklists do so).
    ui.style_mut().interaction.selectable_labels = false;
    // Narrower than its columns (the reader dragged it), the table scrolls sideways.
    egui::ScrollArea::horizontal().show(ui, |ui| {
        let mut table = egui_extras::TableBuilder::new(ui)
            .striped(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            // What a reader scans for first (status, grades, sync) before the study details, so
            // that a narrow panel shows it without scrolling sideways.
            .column(egui_extras::Column::exact(66.0))
            .column(egui_extras::Column::exact(100.0))
            .column(egui_extras::Column::exact(26.0))
            .column(egui_extras::Column::exact(38.0))
            .column(egui_extras::Column::exact(56.0))
            .column(egui_extras::Column::exact(30.0))
            .column(egui_extras::Column::exact(76.0))
            .column(egui_extras::Column::exact(52.0))
            .column(egui_extras::Column::remainder().at_least(92.0));
        if let Some(row) = scroll_to {
            table = table.scroll_to_row(row, None);
        }
        table
            .header(18.0, |mut header| {
                for name in ["Case", "Status", "AI", "Grade", "PCR", "Sync", "Exam date", "Age/sex", "Series"] {
                    header.col(|ui| {
                        ui.strong(tr(lang, name));
                    });
                }
            })
            .body(|body| {
                body.rows(18.0, m.visible.len(), |mut row| {
                    let r = &m.rows[m.visible[row.index()]];
                    row.set_selected(Some(r.case_id) == current);
                    row.col(|ui| {
                        // The key's first eight characters, as PACS show a short accession.
                        ui.label(RichText::new(short_key(&r.case_key)).monospace());
                    });
                    row.col(|ui| {
                        ui.label(RichText::new(tr(lang, r.status.name())).color(theme::status(r.status)));
                    });
                    row.col(|ui| {
                        ui.label(crate::ai_text::ai_grade_cell(lang, r));
                    });
                    row.col(|ui| {
                        ui.strong(r.grade.map_or("—".into(), |g| g.number().to_string()));
                    });
                    row.col(|ui| {
                        ui.label(r.pcr.map_or("—", |p| tr(lang, pcr_short(p))));
                    });
                    row.col(|ui| {
                        let (mark, color) = crate::cloud_ui::sync_mark(lang, m.sync_states.get(&r.case_id));
                        ui.label(RichText::new(mark).color(color));
                    });
                    row.col(|ui| {
                        ui.label(r.exam_date.as_deref().unwrap_or("—"));
                    });
                    row.col(|ui| {
                        ui.label(format!(
                            "{}{}",
                            r.age_years.map_or("—".into(), |a| a.to_string()),
                            r.sex.as_deref().unwrap_or("")
                        ));
                    });
                    row.col(|ui| {
                        ui.label(series_cell(r));
                    });
                    let response = row.response();
                    let response = response.on_hover_ui(|ui| {
                        ui.label(trf(lang, "Case {key}", &[("key", &r.case_key)]));
                        if let Some(folder) = &r.folder {
                            ui.label(trf(lang, "Folder: {folder}", &[("folder", folder)]));
                        }
                    });
                    if response.clicked() || response.double_clicked() {
                        actions.push(Action::Open(r.case_id));
                    }
                });
            });
    });
    actions
}

/// The first eight characters of a case key.
pub fn short_key(key: &str) -> &str {
    key.char_indices().nth(8).map_or(key, |(i, _)| &key[..i])
}

/// "2 · 240 × 1.25": the case's series count, then images and slice thickness (mm) of the
/// series the desk opens.
pub fn series_cell(r: &lungdesk_store::CaseRow) -> String {
    let thickness = r.thickness_mm.map(|t| format!(" × {}", crate::series_text::thickness_text(t)));
    format!("{} · {}{}", r.series.max(1), r.slices, thickness.unwrap_or_default())
}

fn pcr_short(p: Pcr) -> &'static str {
    match p {
        Pcr::Positive => "pos",
        Pcr::Negative => "neg",
        Pcr::Pending => "pending",
        Pcr::NotTested => "not tested",
    }
}
