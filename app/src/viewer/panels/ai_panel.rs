//! The AI panel: progress, the grade with its scores and reasons, volumes, the method.

use egui::Color32;
use lungdesk_inference::grade::RsnaGrade;

use crate::ai_text::{explanation, grade_name};
use crate::i18n::{tr, trf};
use crate::viewer::Viewer;

impl Viewer {
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
        if a.cannot_grade.as_ref().is_some_and(|c| c.code.before_segmentation()) {
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
                ("side", &tr(self.lang, side(q.foci, q.bilateral))),
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
}

/// One side or both, only where there is a focus to have a side.
fn side(foci: usize, bilateral: bool) -> &'static str {
    if foci == 0 {
        "no focus"
    } else if bilateral {
        "bilateral"
    } else {
        "unilateral"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_side_is_named_only_where_there_is_a_focus() {
        assert_eq!(super::side(0, false), "no focus", "no lesion: not 'unilateral'");
        assert_eq!(super::side(2, false), "unilateral");
        assert_eq!(super::side(3, true), "bilateral");
    }
}
