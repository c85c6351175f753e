//! Where the AI and the readers, or the PCR and the grade, disagree: counts, the AI-versus-
//! reader matrix, and the list (a click opens the case).

use egui::RichText;
use lungdesk_store::{DisagreementKind, Grade};

use crate::desk::action::Action;
use crate::desk::model::DeskModel;
use crate::i18n::{tr, trf};

pub fn show(ui: &mut egui::Ui, m: &DeskModel) -> Vec<Action> {
    let lang = m.lang;
    let mut actions = Vec::new();
    ui.heading(tr(lang, "Disagreements"));
    let Some((list, confusion)) = &m.disagreements else {
        ui.label(tr(lang, "Reading the label store…"));
        return actions;
    };
    let reader_vs_ai = list.iter().filter(|d| d.kind == DisagreementKind::ReaderVsAi).count();
    let pcr_vs_grade = list.iter().filter(|d| d.kind == DisagreementKind::PcrVsGrade).count();
    ui.label(trf(
        lang,
        "Reader grade differs from the AI: {a}. PCR contradicts the grade: {b}. Agreement: {agree} of {total} reviews with an AI result; {without} without.",
        &[
            ("a", &reader_vs_ai),
            ("b", &pcr_vs_grade),
            ("agree", &confusion.agreeing()),
            ("total", &confusion.total()),
            ("without", &confusion.without_ai),
        ],
    ));
    ui.add_space(8.0);
    ui.strong(tr(lang, "AI grade (rows) against reader grade (columns)"));
    egui::Grid::new("confusion").striped(true).min_col_width(60.0).show(ui, |ui| {
        ui.label("");
        for g in Grade::ALL {
            ui.strong(format!("{} {}", g.number(), tr(lang, g.name())));
        }
        ui.end_row();
        for (a, row) in Grade::ALL.iter().zip(confusion.counts) {
            ui.strong(format!("AI {} {}", a.number(), tr(lang, a.name())));
            for (r, n) in row.iter().enumerate() {
                let text = RichText::new(n.to_string());
                ui.label(if usize::from(a.number() - 1) == r { text.strong() } else { text });
            }
            ui.end_row();
        }
    });
    ui.add_space(8.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("disagreement_list").striped(true).show(ui, |ui| {
            for name in ["Case", "Reader", "Kind", "AI", "Grade", "PCR"] {
                ui.strong(tr(lang, name));
            }
            ui.end_row();
            for d in list.iter().take(2000) {
                if ui.link(&d.case_key).clicked() {
                    actions.push(Action::ShowTab(crate::desk::model::Tab::Review));
                    actions.push(Action::Open(d.case_id));
                }
                ui.label(&d.reader_id);
                ui.label(tr(
                    lang,
                    match d.kind {
                        DisagreementKind::ReaderVsAi => "reader ≠ AI",
                        DisagreementKind::PcrVsGrade => "PCR vs grade",
                    },
                ));
                ui.label(d.ai_grade.map_or("—".into(), |g| g.number().to_string()));
                ui.label(d.grade.number().to_string());
                ui.label(tr(lang, d.pcr.name()));
                ui.end_row();
            }
        });
    });
    actions
}
