//! The choice of series when a folder holds several CT series.

use lungdesk_volume::ScanReport;

use crate::i18n::tr;
use crate::viewer::Viewer;

impl Viewer {
    pub(crate) fn series_picker(&mut self, ui: &mut egui::Ui, report: &ScanReport) {
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
}
