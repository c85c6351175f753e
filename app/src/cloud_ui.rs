//! The desk's side of the cloud service: connection settings, the sync state line, and the
//! Surveillance tab that plots the service's daily counts (egui_plot).

use std::collections::BTreeMap;

use egui::{Color32, RichText};
use lungdesk_cloud::{Period, Source, Surveillance, SurveillanceQuery};
use lungdesk_store::Grade;

use crate::i18n::{Lang, tr, trf};
use crate::sync::{SyncSettings, SyncStatus};

/// What the Surveillance tab holds. `Debug` never shows the token being typed.
#[derive(Clone, Default)]
pub struct CloudPanel {
    /// The service this desk syncs with; `None` until connected.
    pub settings: Option<SyncSettings>,
    pub url_entry: String,
    pub token_entry: String,
    pub status: SyncStatus,
    pub query: SurveillanceQuery,
    /// The last counts fetched, or why they could not be.
    pub counts: Option<Result<Surveillance, String>>,
    pub fetching: bool,
}

impl std::fmt::Debug for CloudPanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudPanel")
            .field("settings", &self.settings)
            .field("url_entry", &self.url_entry)
            .field("token_entry", &if self.token_entry.is_empty() { "" } else { "<redacted>" })
            .field("status", &self.status)
            .field("query", &self.query)
            .field("fetching", &self.fetching)
            .finish_non_exhaustive()
    }
}

/// What the user asked for in the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudAction {
    Connect(SyncSettings),
    Refresh,
    SyncNow,
}

/// One grade's daily (or weekly) counts, as plotted.
#[derive(Debug, Clone, PartialEq)]
pub struct PlottedSeries {
    pub grade: u8,
    /// (period start `YYYY-MM-DD`, published count summed over prefectures and PCR).
    pub points: Vec<(String, i64)>,
    /// Periods where a cell was suppressed: the plotted value is then a lower bound.
    pub suppressed: Vec<String>,
}

impl CloudPanel {
    /// The counts as the plot draws them: one series per grade, every period from the first
    /// to the last (zero where nothing was counted).
    pub fn plotted(&self) -> Vec<PlottedSeries> {
        let Some(Ok(s)) = &self.counts else { return Vec::new() };
        let mut by: BTreeMap<(u8, &str), (i64, bool)> = BTreeMap::new();
        for r in &s.rows {
            let e = by.entry((r.grade, r.period_start.as_str())).or_default();
            e.0 += r.count.unwrap_or(0);
            e.1 |= r.count.is_none();
        }
        let periods = all_periods(s);
        Grade::ALL
            .iter()
            .map(|g| {
                let grade = g.number();
                let points =
                    periods.iter().map(|p| (p.clone(), by.get(&(grade, p.as_str())).map_or(0, |e| e.0))).collect();
                let suppressed =
                    periods.iter().filter(|p| by.get(&(grade, p.as_str())).is_some_and(|e| e.1)).cloned().collect();
                PlottedSeries { grade, points, suppressed }
            })
            .collect()
    }
}

/// Every day (or Monday) from the first period in the counts to the last.
fn all_periods(s: &Surveillance) -> Vec<String> {
    let days: Vec<i64> = s.rows.iter().filter_map(|r| days_from_date(&r.period_start)).collect();
    let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else { return Vec::new() };
    let step = if s.period == Period::Week { 7 } else { 1 };
    (0..=((last - first) / step).min(3660)).map(|i| date_from_days(first + i * step)).collect()
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (proleptic Gregorian).
pub fn days_from_date(d: &str) -> Option<i64> {
    let y: i64 = d.get(..4)?.parse().ok()?;
    let m: i64 = d.get(5..7)?.parse().ok()?;
    let day: i64 = d.get(8..10)?.parse().ok()?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `YYYY-MM-DD` of days since 1970-01-01.
pub fn date_from_days(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

const GRADE_COLORS: [Color32; 4] = [
    Color32::from_rgb(235, 90, 80),
    Color32::from_rgb(240, 180, 60),
    Color32::from_rgb(110, 170, 250),
    Color32::from_rgb(120, 200, 120),
];

/// The sync state for the top bar: text and colour.
pub fn status_line(lang: Lang, panel: &CloudPanel) -> (String, Color32) {
    let s = &panel.status;
    if panel.settings.is_none() {
        return (tr(lang, "Sync: not connected (F7)").to_owned(), Color32::GRAY);
    }
    if let Some(e) = &s.error {
        let retry = s.retry_in.map_or(0, |d| d.as_secs().max(1));
        let text = trf(
            lang,
            "Sync: offline, {pending} waiting; retry in {retry} s ({error})",
            &[("pending", &s.summary.pending), ("retry", &retry), ("error", e)],
        );
        return (text, Color32::from_rgb(255, 170, 90));
    }
    let text = trf(
        lang,
        "Sync: {sent} sent, {pending} waiting, {conflicts} conflicts",
        &[("sent", &s.summary.sent), ("pending", &s.summary.pending), ("conflicts", &s.summary.conflicts)],
    );
    let color =
        if s.summary.conflicts > 0 { Color32::from_rgb(255, 120, 100) } else { Color32::from_rgb(140, 220, 140) };
    (text, color)
}

/// The Surveillance tab.
pub fn surveillance_ui(ui: &mut egui::Ui, lang: Lang, panel: &mut CloudPanel) -> Option<CloudAction> {
    let mut action = None;
    ui.heading(tr(lang, "Surveillance: daily CT-based pneumonia counts"));
    egui::CollapsingHeader::new(tr(lang, "Dataset service")).default_open(panel.settings.is_none()).show(ui, |ui| {
        egui::Grid::new("cloud_settings").num_columns(2).show(ui, |ui| {
            ui.label(tr(lang, "Service URL"));
            ui.add(egui::TextEdit::singleline(&mut panel.url_entry).hint_text("https://…").desired_width(320.0));
            ui.end_row();
            ui.label(tr(lang, "Reader token"));
            ui.add(egui::TextEdit::singleline(&mut panel.token_entry).password(true).desired_width(320.0));
            ui.end_row();
        });
        let ready = !panel.url_entry.trim().is_empty() && !panel.token_entry.trim().is_empty();
        if ui.add_enabled(ready, egui::Button::new(tr(lang, "Connect and sync"))).clicked() {
            action = Some(CloudAction::Connect(SyncSettings {
                url: panel.url_entry.trim().to_owned(),
                token: panel.token_entry.trim().to_owned(),
            }));
        }
    });
    let (line, color) = status_line(lang, panel);
    ui.colored_label(color, line);
    if panel.settings.is_none() {
        return action;
    }
    ui.horizontal(|ui| {
        let before = (panel.query.source, panel.query.period);
        ui.selectable_value(&mut panel.query.source, Some(Source::Radiologist), tr(lang, "Radiologist-confirmed"));
        ui.selectable_value(&mut panel.query.source, Some(Source::Ai), tr(lang, "AI only"));
        ui.separator();
        ui.selectable_value(&mut panel.query.period, Period::Day, tr(lang, "By day"));
        ui.selectable_value(&mut panel.query.period, Period::Week, tr(lang, "By week"));
        ui.separator();
        if ui.button(tr(lang, "Refresh (F7)")).clicked() || before != (panel.query.source, panel.query.period) {
            action = Some(CloudAction::Refresh);
        }
        if ui.button(tr(lang, "Sync now")).clicked() {
            action = Some(CloudAction::SyncNow);
        }
        if panel.fetching {
            ui.spinner();
        }
    });
    match &panel.counts {
        None => {
            ui.weak(tr(lang, "No counts fetched yet."));
        }
        Some(Err(e)) => {
            ui.colored_label(
                Color32::from_rgb(255, 120, 100),
                trf(lang, "Counts unavailable: {error}", &[("error", e)]),
            );
        }
        Some(Ok(s)) => {
            let series = panel.plotted();
            let suppressed: usize = series.iter().map(|s| s.suppressed.len()).sum();
            let total: i64 = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).sum();
            ui.label(trf(
                lang,
                "{total} cases counted; cells under {min} are suppressed ({n} here).",
                &[("total", &total), ("min", &s.min_count), ("n", &suppressed)],
            ));
            egui_plot::Plot::new("surveillance_plot")
                .legend(egui_plot::Legend::default())
                .height(ui.available_height().max(200.0) - 8.0)
                .x_axis_formatter(|mark, _| date_from_days(mark.value.round() as i64))
                .y_axis_min_width(24.0)
                .include_y(0.0)
                .allow_scroll(false)
                .show(ui, |plot| {
                    for (s, color) in series.iter().zip(GRADE_COLORS) {
                        let points: Vec<[f64; 2]> = s
                            .points
                            .iter()
                            .filter_map(|(d, n)| days_from_date(d).map(|x| [x as f64, *n as f64]))
                            .collect();
                        let name = format!("{} {}", s.grade, tr(lang, grade_name(s.grade)));
                        plot.line(egui_plot::Line::new(name.clone(), points.clone()).color(color).width(2.0));
                        plot.points(egui_plot::Points::new(name, points).color(color).radius(3.0));
                    }
                    // Periods with a suppressed cell: the value drawn is a lower bound.
                    let marks: Vec<[f64; 2]> = series
                        .iter()
                        .flat_map(|s| {
                            s.suppressed.iter().filter_map(|d| {
                                let n = s.points.iter().find(|p| &p.0 == d).map_or(0, |p| p.1);
                                days_from_date(d).map(|x| [x as f64, n as f64])
                            })
                        })
                        .collect();
                    let name = trf(lang, "suppressed (under {min}): at least", &[("min", &s.min_count)]);
                    plot.points(
                        egui_plot::Points::new(name, marks)
                            .shape(egui_plot::MarkerShape::Circle)
                            .filled(false)
                            .radius(6.0)
                            .color(Color32::from_gray(200)),
                    );
                });
        }
    }
    action
}

fn grade_name(n: u8) -> &'static str {
    Grade::from_number(i64::from(n)).map_or("", Grade::name)
}

/// A short word for the worklist's sync column.
pub fn sync_mark(lang: Lang, state: Option<&lungdesk_store::SyncState>) -> (&'static str, Color32) {
    match state {
        None => ("", Color32::GRAY),
        Some(lungdesk_store::SyncState::Sent) => (tr(lang, "sent"), Color32::from_rgb(130, 220, 130)),
        Some(lungdesk_store::SyncState::Pending { .. }) => (tr(lang, "waiting"), Color32::from_rgb(255, 210, 110)),
        Some(lungdesk_store::SyncState::Conflict(_)) => (tr(lang, "conflict"), Color32::from_rgb(255, 120, 100)),
    }
}

/// Text colour for a heading in the review panel about other readers.
pub fn other_reader_text(lang: Lang, reader: &str, grade: u8, pcr: &str, revision: i64) -> RichText {
    RichText::new(trf(
        lang,
        "{reader}: grade {grade}, {pcr} (revision {revision})",
        &[("reader", &reader), ("grade", &grade), ("pcr", &pcr), ("revision", &revision)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_day_numbers_round_trip() {
        assert_eq!(days_from_date("1970-01-01"), Some(0));
        assert_eq!(days_from_date("2026-04-01"), Some(20_544));
        for d in [0, 59, 60, 365, 11_016, 20_544, 20_600] {
            assert_eq!(days_from_date(&date_from_days(d)), Some(d));
        }
        assert_eq!(date_from_days(20_544), "2026-04-01");
        assert_eq!(date_from_days(19_782), "2024-02-29");
    }

    #[test]
    fn no_debug_output_shows_the_token() {
        let settings = SyncSettings { url: "https://dataset.example.jp".into(), token: "s3cret-token".into() };
        let panel =
            CloudPanel { settings: Some(settings.clone()), token_entry: "s3cret-typed".into(), ..Default::default() };
        for shown in [format!("{settings:?}"), format!("{panel:?}"), format!("{:?}", CloudAction::Connect(settings))] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
    }
}
