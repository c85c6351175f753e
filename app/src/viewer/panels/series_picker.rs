//! The choice of series when a folder holds several CT series: every series, by date then
//! series number, with plane, images, thickness and description, in a list that scrolls.

use lungdesk_volume::ScanReport;
use lungdesk_volume::series_info::picker_order;

use crate::i18n::tr;
use crate::viewer::Viewer;

impl Viewer {
    pub(crate) fn series_picker(&mut self, ui: &mut egui::Ui, report: &ScanReport) {
        ui.heading(tr(self.lang, "This folder holds several CT series; choose one"));
        let series: Vec<_> = report.ct_series().collect();
        let infos: Vec<_> = series.iter().map(|s| s.info()).collect();
        let best = lungdesk_volume::best_for_reading(&infos);
        let mut chosen = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            for i in picker_order(&infos) {
                let text = crate::series_text::series_label(self.lang, &infos[i]);
                let button = egui::Button::new(text).selected(Some(i) == best);
                if ui.add(button).on_hover_text(&infos[i].series_uid).clicked() {
                    chosen = Some(infos[i].series_uid.clone());
                }
            }
        });
        if let Some(uid) = chosen {
            self.choose = None;
            self.open_series(report.clone(), uid);
        }
    }
}
