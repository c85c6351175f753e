//! The review panel: the case, the AI's grade, grade, PCR, findings, note, confirm; its sync
//! state and other readers' labels; its history.

use egui::RichText;
use lungdesk_store::{Finding, Grade, Pcr, SharedLabel, SyncState};

use super::FrameRequests;
use crate::desk::action::Action;
use crate::desk::model::{DeskModel, OpenCase};
use crate::i18n::{Lang, tr, trf};
use crate::theme;

pub fn show(ui: &mut egui::Ui, m: &DeskModel, frame: &mut FrameRequests) -> Vec<Action> {
    let lang = m.lang;
    let mut actions = Vec::new();
    let (Some(row), Some(case)) = (m.current_row(), m.current.as_ref()) else { return actions };
    ui.heading(trf(lang, "Case {key}", &[("key", &row.case_key)]));
    ui.label(format!(
        "{} · {} · {} · {}",
        row.exam_date.as_deref().unwrap_or("—"),
        row.age_years.map_or_else(|| "—".to_owned(), |a| trf(lang, "{age} y", &[("age", &a)])),
        row.sex.as_deref().unwrap_or("—"),
        tr(lang, row.status.name())
    ));
    series_switcher(ui, lang, case, &mut actions);
    ai_grade_line(ui, lang, case);
    editing_banner(ui, lang, case);
    ui.separator();
    ui.strong(tr(lang, "RSNA grade (1–4)"));
    for g in Grade::ALL {
        let text = format!("{}  {}", g.number(), tr(lang, g.name()));
        if ui.selectable_label(case.draft.grade == Some(g), text).clicked() {
            actions.push(Action::Grade(g));
        }
    }
    ui.strong(tr(lang, "PCR (P N W X)"));
    ui.horizontal_wrapped(|ui| {
        for (p, key) in [(Pcr::Positive, "P"), (Pcr::Negative, "N"), (Pcr::Pending, "W"), (Pcr::NotTested, "X")] {
            if ui.selectable_label(case.draft.pcr == Some(p), format!("{key} {}", tr(lang, p.name()))).clicked() {
                actions.push(Action::Pcr(p));
            }
        }
    });
    for (title, group) in [
        ("Findings (Ctrl+1–7)", &Finding::PNEUMONIA[..]),
        ("Alternative diagnosis (Alt+1–4)", &Finding::ALTERNATIVE[..]),
    ] {
        ui.strong(tr(lang, title));
        for (n, &f) in group.iter().enumerate() {
            let mut on = case.draft.findings.contains(&f);
            if ui.checkbox(&mut on, format!("{} {}", n + 1, tr(lang, f.name()))).changed() {
                actions.push(Action::ToggleFinding(f));
            }
        }
    }
    ui.strong(tr(lang, "Note (I; Esc to leave)"));
    let mut note = case.draft.note.clone();
    // Text typed before the stored note is read is added to it when it arrives.
    let response = ui.add(
        egui::TextEdit::multiline(&mut note)
            .desired_rows(3)
            .desired_width(f32::INFINITY)
            .hint_text(tr(lang, "kept in this site's store only; never exported or synced")),
    );
    if std::mem::take(&mut frame.focus_note) {
        response.request_focus();
    }
    if note != case.draft.note {
        actions.push(Action::Note(note));
    }
    ui.add_space(6.0);
    if ui.button(RichText::new(tr(lang, "Confirm and next (Enter)")).strong()).clicked() {
        actions.push(Action::Confirm);
    }
    if let Some(r) = row.revision.filter(|_| case.editing_confirmed().is_none()) {
        ui.weak(trf(lang, "Confirmed revision {revision}", &[("revision", &r)]));
    }
    sync_state(ui, m, case, row.revision);
    if !case.history.is_empty() {
        egui::CollapsingHeader::new(tr(lang, "History")).default_open(false).show(ui, |ui| {
            for h in case.history.iter().rev().take(30) {
                ui.weak(format!(
                    "{} {} {}: {} → {}",
                    h.at.get(..19).unwrap_or(&h.at),
                    h.reader_id,
                    tr(lang, history_field(&h.field)),
                    h.old.as_deref().unwrap_or("—"),
                    h.new.as_deref().unwrap_or("—")
                ));
            }
        });
    }
    actions
}

/// The AI's grade of the case, or why it could not grade it.
fn ai_grade_line(ui: &mut egui::Ui, lang: Lang, case: &OpenCase) {
    let Some(ai) = &case.ai else { return };
    match (ai.grade, &ai.cannot_grade) {
        (Some(g), _) => {
            ui.label(trf(lang, "AI grade: {grade} {name}", &[("grade", &g.number()), ("name", &tr(lang, g.name()))]));
        }
        (None, Some(c)) => {
            ui.label(format!(
                "{}: — {}",
                tr(lang, "AI grade"),
                crate::ai_text::cannot_grade_reason(lang, &c.code, &c.reason)
            ));
        }
        (None, None) => {}
    }
}

/// A confirmed case changes only on purpose: the edit is on screen, with what Enter does.
fn editing_banner(ui: &mut egui::Ui, lang: Lang, case: &OpenCase) {
    let Some(revision) = case.editing_confirmed() else { return };
    egui::Frame::new().fill(theme::EDITING_FILL).inner_margin(6.0).corner_radius(4.0).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(
            RichText::new(trf(
                lang,
                "Editing confirmed revision {revision}: Enter saves revision {next}.",
                &[("revision", &revision), ("next", &(revision + 1))],
            ))
            .color(theme::WARN)
            .strong(),
        );
    });
}

/// The series on screen, and every other series of the case to switch to (PACS order: date,
/// then series number); which series the AI result is of, when it is not the one shown.
fn series_switcher(ui: &mut egui::Ui, lang: Lang, case: &OpenCase, actions: &mut Vec<Action>) {
    let label =
        |uid: &str| case.series.iter().find(|s| s.series_uid == uid).map(|s| crate::series_text::series_label(lang, s));
    let Some(shown) = case.shown_series.as_deref() else { return };
    let shown_label = label(shown).unwrap_or_default();
    if case.series.len() > 1 {
        let mut chosen = shown.to_owned();
        egui::ComboBox::from_id_salt("series_switcher")
            .selected_text(RichText::new(&shown_label).small())
            .width(ui.available_width())
            .truncate()
            .show_ui(ui, |ui| {
                for i in lungdesk_volume::series_info::picker_order(&case.series) {
                    let s = &case.series[i];
                    ui.selectable_value(&mut chosen, s.series_uid.clone(), crate::series_text::series_label(lang, s));
                }
            })
            .response
            .on_hover_text(format!("{}: {shown_label}", tr(lang, "Series")));
        if chosen != shown {
            actions.push(Action::ShowSeries(chosen));
        }
    } else {
        ui.weak(&shown_label);
    }
    if let Some(ai) = case.ai.as_ref().filter(|a| !a.series_uid.is_empty() && a.series_uid != shown) {
        let which = label(&ai.series_uid).unwrap_or_else(|| ai.series_uid.clone());
        ui.weak(trf(lang, "The AI read series {series}.", &[("series", &which)]));
    }
}

/// This case's sync state, conflicts, and what other readers said (from the service).
fn sync_state(ui: &mut egui::Ui, m: &DeskModel, case: &OpenCase, local_revision: Option<i64>) {
    let lang: Lang = m.lang;
    match m.sync_states.get(&case.case_id) {
        Some(SyncState::Sent) => {
            ui.weak(tr(lang, "Synced to the dataset service."));
        }
        Some(SyncState::Pending { error }) => {
            ui.weak(match error {
                Some(e) => trf(lang, "Waiting to sync ({error}).", &[("error", e)]),
                None => tr(lang, "Waiting to sync.").to_owned(),
            });
        }
        Some(SyncState::Conflict(why)) => {
            ui.colored_label(
                theme::ERROR,
                trf(lang, "Sync conflict: {why}. Confirm again to send a new revision.", &[("why", why)]),
            );
        }
        None => {}
    }
    let me = m.reader();
    // This reader's label as the service holds it, newer than here: made at another desk.
    if let Some(mine) = case.shared.iter().find(|l| l.reader_id == me)
        && local_revision.is_some_and(|r| mine.revision > r)
    {
        ui.colored_label(
            theme::ERROR,
            trf(
                lang,
                "Conflict: the service has your revision {theirs} (grade {grade}) from another desk; this desk has revision {ours}.",
                &[("theirs", &mine.revision), ("grade", &mine.grade), ("ours", &local_revision.unwrap_or(0))],
            ),
        );
    }
    let others: Vec<&SharedLabel> = case.shared.iter().filter(|l| l.reader_id != me).collect();
    if !others.is_empty() {
        ui.strong(tr(lang, "Other readers (from the service)"));
        for l in others {
            let text =
                crate::cloud_ui::other_reader_text(lang, &l.reader_id, l.grade, tr(lang, l.pcr.name()), l.revision);
            if case.draft.grade.is_some_and(|g| g.number() != l.grade) {
                ui.label(text.color(theme::WARN));
            } else {
                ui.label(text);
            }
        }
    }
}

fn history_field(field: &str) -> &'static str {
    match field {
        "grade" => "grade",
        "pcr" => "PCR",
        "findings" => "findings",
        "note" => "note",
        "ai_grade" => "AI grade",
        _ => "other",
    }
}
