//! The desk's side of the cloud service: connection settings, the sync state line, and the
//! Surveillance tab that plots the service's daily counts (egui_plot).

use std::collections::BTreeMap;

use egui::{Color32, RichText};
use lungdesk_cloud::{Period, SurveillanceQuery};
use lungdesk_domain::drift::DriftStatus;
use lungdesk_store::Grade;

use crate::i18n::{Lang, tr, trf};
use crate::sync::{SurveillanceView, SyncSettings, SyncStatus};

/// What the Surveillance tab holds. `Debug` never shows the token being typed.
#[derive(Clone, Default)]
pub struct CloudPanel {
    /// The service this desk syncs with; `None` until connected.
    pub settings: Option<SyncSettings>,
    pub url_entry: String,
    pub token_entry: String,
    pub status: SyncStatus,
    pub query: SurveillanceQuery,
    /// The model set whose AI-only counts and agreement are shown (`bundled` when empty).
    pub model_set: String,
    /// The grade compared between the AI-only and the confirmed series (`None`: every case).
    pub compare: Option<u8>,
    /// The last counts fetched, or why they could not be.
    pub counts: Option<Result<SurveillanceView, String>>,
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
            .field("model_set", &self.model_set)
            .field("compare", &self.compare)
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
        let Some(Ok(view)) = &self.counts else { return Vec::new() };
        let s = &view.confirmed;
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

/// Every day (or Monday) from the first period in the confirmed counts to the last.
fn all_periods(s: &lungdesk_cloud::Surveillance) -> Vec<String> {
    periods_between(s.rows.iter().map(|r| r.period_start.as_str()), s.period)
}

/// Every day (or Monday) from the first of `starts` to the last.
fn periods_between<'a>(starts: impl Iterator<Item = &'a str>, period: Period) -> Vec<String> {
    let days: Vec<i64> = starts.filter_map(days_from_date).collect();
    let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else { return Vec::new() };
    let step = if period == Period::Week { 7 } else { 1 };
    (0..=((last - first) / step).min(3660)).map(|i| date_from_days(first + i * step)).collect()
}

/// The AI-only series beside the confirmed one, for one grade or every case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compared {
    /// (period start, published count) over the same periods for both.
    pub confirmed: Vec<(String, i64)>,
    pub ai: Vec<(String, i64)>,
    /// AI reads the AI could not grade, per period (shown with "every case").
    pub cannot_grade: Vec<(String, i64)>,
    /// Withheld periods of the set: (first day, first day after, site, reason).
    pub withheld: Vec<(String, Option<String>, String, String)>,
    /// Periods where a cell of either series was suppressed: the value drawn is a lower bound.
    pub confirmed_suppressed: Vec<String>,
    pub ai_suppressed: Vec<String>,
}

/// One site's rolling agreement: (exam day, κ, low, high) where κ is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementSeries {
    pub site_code: String,
    pub points: Vec<(String, f64, f64, f64)>,
}

impl CloudPanel {
    /// The model set shown.
    pub fn model_set(&self) -> &str {
        if self.model_set.is_empty() { lungdesk_store::BUNDLED_SET } else { &self.model_set }
    }

    /// The AI-only and the confirmed counts of the grade compared, summed over prefectures,
    /// PCR, sex and age, on every period from the first to the last of either.
    pub fn compared(&self) -> Compared {
        let Some(Ok(view)) = &self.counts else { return Compared::default() };
        let keep = |g: Option<u8>| self.compare.is_none_or(|c| g == Some(c));
        let mut confirmed: BTreeMap<&str, i64> = BTreeMap::new();
        let mut confirmed_suppressed = std::collections::BTreeSet::new();
        for r in view.confirmed.rows.iter().filter(|r| keep(Some(r.grade))) {
            *confirmed.entry(&r.period_start).or_default() += r.count.unwrap_or(0);
            if r.count.is_none() {
                confirmed_suppressed.insert(r.period_start.clone());
            }
        }
        let (mut ai, mut cannot): (BTreeMap<&str, i64>, BTreeMap<&str, i64>) = Default::default();
        let mut ai_suppressed = std::collections::BTreeSet::new();
        let mut withheld = Vec::new();
        if let Ok(a) = &view.ai {
            for r in &a.rows {
                if r.grade.is_none() {
                    *cannot.entry(&r.period_start).or_default() += r.count.unwrap_or(0);
                } else if keep(r.grade) {
                    *ai.entry(&r.period_start).or_default() += r.count.unwrap_or(0);
                    if r.count.is_none() {
                        ai_suppressed.insert(r.period_start.clone());
                    }
                }
            }
            withheld = a
                .flags
                .iter()
                .filter(|f| f.status == DriftStatus::Withheld)
                .map(|f| (f.from_day.clone(), f.to_day.clone(), f.site_code.clone(), f.reason.clone()))
                .collect();
        }
        let periods =
            periods_between(confirmed.keys().chain(ai.keys()).chain(cannot.keys()).copied(), view.confirmed.period);
        let series = |m: &BTreeMap<&str, i64>| {
            periods.iter().map(|p| (p.clone(), m.get(p.as_str()).copied().unwrap_or(0))).collect()
        };
        Compared {
            confirmed: series(&confirmed),
            ai: series(&ai),
            cannot_grade: series(&cannot),
            withheld,
            confirmed_suppressed: confirmed_suppressed.into_iter().collect(),
            ai_suppressed: ai_suppressed.into_iter().collect(),
        }
    }

    /// The drift monitor's rolling κ of the shown set, per site.
    pub fn agreement(&self) -> Vec<AgreementSeries> {
        let Some(Ok(SurveillanceView { drift: Ok(report), .. })) = &self.counts else { return Vec::new() };
        report
            .monitors
            .iter()
            .map(|m| AgreementSeries {
                site_code: m.site_code.clone(),
                points: m
                    .points
                    .iter()
                    .filter_map(|p| Some((p.day.clone(), p.kappa.kappa?, p.kappa.low?, p.kappa.high?)))
                    .collect(),
            })
            .collect()
    }
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

const CONFIRMED_COLOR: Color32 = Color32::from_rgb(110, 170, 250);
const AI_COLOR: Color32 = Color32::from_rgb(240, 150, 60);
const WITHHELD_FILL: Color32 = Color32::from_rgba_premultiplied(90, 30, 30, 90);

/// The Surveillance tab: the service's settings, then the AI-only counts of a model set beside
/// the confirmed ones with the withheld periods shaded, the set's rolling agreement with the
/// readers per site with its interval, and the drift monitor's flags.
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
    if let Some(a) = controls(ui, lang, panel) {
        action = Some(a);
    }
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
        Some(Ok(view)) => {
            // Two plots and, under them, about five rows of flags.
            let height = ((ui.available_height() - 230.0) / 2.0).max(140.0);
            counts_plot(ui, lang, panel, view, height);
            agreement_plot(ui, lang, panel, view, height);
            flags_list(ui, lang, view);
        }
    }
    action
}

/// Period, model set and grade (a change refetches), refresh and sync.
fn controls(ui: &mut egui::Ui, lang: Lang, panel: &mut CloudPanel) -> Option<CloudAction> {
    let before = (panel.query.period, panel.model_set().to_owned());
    let mut refresh = false;
    let mut sync = false;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut panel.query.period, Period::Day, tr(lang, "By day"));
        ui.selectable_value(&mut panel.query.period, Period::Week, tr(lang, "By week"));
        ui.separator();
        ui.label(tr(lang, "AI model set"));
        let mut sets: Vec<String> = vec![lungdesk_store::BUNDLED_SET.to_owned()];
        if let Some(Ok(SurveillanceView { drift: Ok(r), .. })) = &panel.counts {
            sets.extend(r.monitors.iter().map(|m| m.model_set.clone()));
        }
        sets.sort();
        sets.dedup();
        let mut chosen = panel.model_set().to_owned();
        egui::ComboBox::from_id_salt("model_set").selected_text(&chosen).show_ui(ui, |ui| {
            for set in &sets {
                ui.selectable_value(&mut chosen, set.clone(), set);
            }
        });
        panel.model_set = chosen;
        ui.separator();
        ui.label(tr(lang, "Compare"));
        let every = tr(lang, "every case");
        let name = |g: Option<u8>| g.map_or_else(|| every.to_owned(), |g| format!("{g} {}", tr(lang, grade_name(g))));
        egui::ComboBox::from_id_salt("compare_grade").selected_text(name(panel.compare)).show_ui(ui, |ui| {
            for g in [None, Some(1), Some(2), Some(3), Some(4)] {
                ui.selectable_value(&mut panel.compare, g, name(g));
            }
        });
        ui.separator();
        refresh = ui.button(tr(lang, "Refresh (F7)")).clicked();
        sync = ui.button(tr(lang, "Sync now")).clicked();
        if panel.fetching {
            ui.spinner();
        }
    });
    if sync {
        Some(CloudAction::SyncNow)
    } else if refresh || before != (panel.query.period, panel.model_set().to_owned()) {
        Some(CloudAction::Refresh)
    } else {
        None
    }
}

fn day_points(series: &[(String, i64)]) -> Vec<[f64; 2]> {
    series.iter().filter_map(|(d, n)| days_from_date(d).map(|x| [x as f64, *n as f64])).collect()
}

/// AI-only beside confirmed counts, the withheld periods shaded.
fn counts_plot(ui: &mut egui::Ui, lang: Lang, panel: &CloudPanel, view: &SurveillanceView, height: f32) {
    let c = panel.compared();
    let suppressed = view.confirmed.rows.iter().filter(|r| r.count.is_none()).count()
        + view.ai.as_ref().map_or(0, |a| a.rows.iter().filter(|r| r.count.is_none()).count());
    let total: i64 = c.confirmed.iter().map(|p| p.1).sum();
    let ai_total: i64 = c.ai.iter().map(|p| p.1).sum();
    ui.label(trf(
        lang,
        "{total} confirmed, {ai} AI-only ({set}); cells under {min} are suppressed ({n} here).",
        &[
            ("total", &total),
            ("ai", &ai_total),
            ("set", &panel.model_set()),
            ("min", &view.confirmed.min_count),
            ("n", &suppressed),
        ],
    ));
    if let Err(e) = &view.ai {
        ui.colored_label(
            Color32::from_rgb(255, 170, 90),
            trf(lang, "AI-only counts unavailable: {error}", &[("error", e)]),
        );
    }
    let top = c.confirmed.iter().chain(&c.ai).map(|p| p.1).max().unwrap_or(1).max(1) as f64;
    egui_plot::Plot::new("surveillance_plot")
        .legend(egui_plot::Legend::default())
        .height(height)
        .link_axis(egui::Id::unique("surveillance_days"), [true, false])
        .x_axis_formatter(|mark, _| date_from_days(mark.value.round() as i64))
        .y_axis_label(tr(lang, "cases"))
        .y_axis_min_width(24.0)
        .include_y(0.0)
        .include_y(top * 1.1)
        .allow_scroll(false)
        .show(ui, |plot| {
            let last = c.confirmed.last().and_then(|p| days_from_date(&p.0)).unwrap_or(0) as f64 + 1.0;
            for (from, to, site, _reason) in &c.withheld {
                let Some(a) = days_from_date(from) else { continue };
                let b = to.as_deref().and_then(days_from_date).map_or(last, |b| b as f64);
                // One legend entry per site; the reasons are listed under the plots.
                let site = if site.is_empty() { tr(lang, "another site") } else { site.as_str() };
                let name = trf(lang, "withheld: {site}", &[("site", &site)]);
                plot.span(
                    egui_plot::Span::new(name, (a as f64 - 0.5)..=(b - 0.5)).fill(WITHHELD_FILL).border_width(0.0),
                );
            }
            let confirmed = tr(lang, "Radiologist-confirmed").to_owned();
            plot.line(
                egui_plot::Line::new(confirmed.clone(), day_points(&c.confirmed)).color(CONFIRMED_COLOR).width(2.0),
            );
            plot.points(egui_plot::Points::new(confirmed, day_points(&c.confirmed)).color(CONFIRMED_COLOR).radius(3.0));
            let ai = trf(lang, "AI only ({set})", &[("set", &panel.model_set())]);
            plot.line(egui_plot::Line::new(ai.clone(), day_points(&c.ai)).color(AI_COLOR).width(2.0));
            plot.points(egui_plot::Points::new(ai, day_points(&c.ai)).color(AI_COLOR).radius(3.0));
            // Periods with a suppressed cell: the value drawn is a lower bound.
            let marks: Vec<[f64; 2]> = [(&c.confirmed, &c.confirmed_suppressed), (&c.ai, &c.ai_suppressed)]
                .into_iter()
                .flat_map(|(series, suppressed)| {
                    suppressed.iter().filter_map(|d| {
                        let n = series.iter().find(|p| &p.0 == d).map_or(0, |p| p.1);
                        days_from_date(d).map(|x| [x as f64, n as f64])
                    })
                })
                .collect();
            if !marks.is_empty() {
                let name = trf(lang, "suppressed (under {min}): at least", &[("min", &view.confirmed.min_count)]);
                plot.points(
                    egui_plot::Points::new(name, marks)
                        .shape(egui_plot::MarkerShape::Circle)
                        .filled(false)
                        .radius(6.0)
                        .color(Color32::from_gray(200)),
                );
            }
            if panel.compare.is_none() && c.cannot_grade.iter().any(|p| p.1 > 0) {
                let name = tr(lang, "AI: cannot grade");
                plot.line(
                    egui_plot::Line::new(name, day_points(&c.cannot_grade))
                        .color(Color32::from_gray(150))
                        .style(egui_plot::LineStyle::dashed_dense()),
                );
            }
        });
}

/// The rolling κ of the shown set per site, with its 95 % interval and the floor.
fn agreement_plot(ui: &mut egui::Ui, lang: Lang, panel: &CloudPanel, view: &SurveillanceView, height: f32) {
    let report = match &view.drift {
        Ok(r) => r,
        Err(e) => {
            ui.colored_label(
                Color32::from_rgb(255, 170, 90),
                trf(lang, "Agreement unavailable: {error}", &[("error", e)]),
            );
            return;
        }
    };
    ui.label(trf(
        lang,
        "Agreement of {set} with the readers: Cohen's κ over the last {n} confirmed cases, 95 % interval; counts withheld under {floor}.",
        &[("set", &panel.model_set()), ("n", &report.config.window_cases), ("floor", &report.config.kappa_floor)],
    ));
    let colors = [Color32::from_rgb(240, 150, 60), Color32::from_rgb(160, 120, 240), Color32::from_rgb(90, 200, 160)];
    egui_plot::Plot::new("agreement_plot")
        .legend(egui_plot::Legend::default())
        .height(height)
        .link_axis(egui::Id::unique("surveillance_days"), [true, false])
        .x_axis_formatter(|mark, _| date_from_days(mark.value.round() as i64))
        .y_axis_label("κ")
        .y_axis_min_width(24.0)
        .include_y(-0.2)
        .include_y(1.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.hline(
                egui_plot::HLine::new(tr(lang, "floor"), report.config.kappa_floor)
                    .color(Color32::from_rgb(235, 90, 80))
                    .style(egui_plot::LineStyle::dashed_loose()),
            );
            for (s, color) in panel.agreement().iter().zip(colors.iter().cycle()) {
                let xs: Vec<f64> = s.points.iter().filter_map(|p| days_from_date(&p.0)).map(|x| x as f64).collect();
                if xs.len() != s.points.len() {
                    continue;
                }
                let low: Vec<f64> = s.points.iter().map(|p| p.2.max(-1.0)).collect();
                let high: Vec<f64> = s.points.iter().map(|p| p.3.min(1.0)).collect();
                let name = format!("{} κ", s.site_code);
                plot.add(
                    egui_plot::FilledArea::new(name.clone(), &xs, &low, &high).fill_color(color.gamma_multiply(0.25)),
                );
                let kappa: Vec<[f64; 2]> = xs.iter().zip(&s.points).map(|(x, p)| [*x, p.1]).collect();
                plot.line(egui_plot::Line::new(name, kappa).color(*color).width(2.0));
            }
        });
}

/// The drift monitor's verdict per site in scope, then every flag on the shown set's counts
/// (all sites), each with its reason.
fn flags_list(ui: &mut egui::Ui, lang: Lang, view: &SurveillanceView) {
    let monitors = view.drift.as_ref().map(|r| r.monitors.as_slice()).unwrap_or_default();
    let flags = view.ai.as_ref().map(|a| a.flags.as_slice()).unwrap_or_default();
    egui::ScrollArea::vertical().id_salt("drift_flags_scroll").show(ui, |ui| flags_grid(ui, lang, monitors, flags));
}

fn flags_grid(
    ui: &mut egui::Ui,
    lang: Lang,
    monitors: &[lungdesk_cloud::DriftMonitor],
    flags: &[lungdesk_cloud::DriftFlag],
) {
    egui::Grid::new("drift_flags").num_columns(4).striped(true).show(ui, |ui| {
        for m in monitors {
            let (word, color) = status_word(lang, m.status);
            ui.strong(&m.site_code);
            ui.colored_label(color, word);
            let reasons: Vec<String> = m.reasons.iter().map(lungdesk_domain::drift::DriftReason::text).collect();
            ui.label(if reasons.is_empty() {
                tr(lang, "agreement measured, above the floor").to_owned()
            } else {
                reasons.join("; ")
            });
            ui.label(tr(lang, "now"));
            ui.end_row();
        }
        for f in flags {
            let (word, color) = status_word(lang, f.status);
            if f.site_code.is_empty() {
                ui.label(trf(lang, "another site ({prefecture})", &[("prefecture", &f.prefecture)]));
            } else {
                ui.strong(&f.site_code);
            }
            ui.colored_label(color, word);
            ui.label(&f.reason);
            ui.label(format!("{} – {}", f.from_day, f.to_day.as_deref().unwrap_or(tr(lang, "now"))));
            ui.end_row();
        }
    });
}

fn status_word(lang: Lang, s: DriftStatus) -> (&'static str, Color32) {
    match s {
        DriftStatus::Published => (tr(lang, "published"), Color32::from_rgb(140, 220, 140)),
        DriftStatus::Unmeasured => (tr(lang, "unmeasured"), Color32::from_rgb(240, 200, 90)),
        DriftStatus::Withheld => (tr(lang, "withheld"), Color32::from_rgb(255, 120, 100)),
    }
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

    /// SYNTHETIC counts: the AI-only series beside the confirmed one for one grade, every
    /// period from the first to the last of either, suppressed cells marked, cannot-grade
    /// apart, and the withheld flags taken as spans (an unmeasured flag is not one).
    #[test]
    fn synthetic_compared_series_line_up_by_period_and_keep_their_marks() {
        use lungdesk_cloud::{AiSurveillance, AiSurveillanceRow, DriftFlag, Source, Surveillance, SurveillanceRow};
        let confirmed = |day: &str, grade: u8, count: Option<i64>| SurveillanceRow {
            period_start: day.into(),
            prefecture: "23".into(),
            grade,
            pcr: lungdesk_domain::Pcr::Positive,
            source: Source::Radiologist,
            count,
        };
        let ai = |day: &str, grade: Option<u8>, count: Option<i64>| AiSurveillanceRow {
            period_start: day.into(),
            prefecture: "23".into(),
            grade,
            cannot_grade: grade.is_none().then(|| "not_chest_ct".into()),
            sex: Some("F".into()),
            age_band: Some("60-69".into()),
            count,
        };
        let flag = |status, from: &str| DriftFlag {
            site_code: "NAGOYA-U".into(),
            prefecture: "23".into(),
            model_set: "bundled".into(),
            status,
            from_day: from.into(),
            to_day: None,
            reason_code: "kappa_below_floor".into(),
            reason: "agreement κ 0.2 below the floor 0.40".into(),
        };
        let view = SurveillanceView {
            confirmed: Surveillance {
                period: Period::Day,
                min_count: 3,
                rows: vec![
                    confirmed("2026-04-01", 1, Some(5)),
                    confirmed("2026-04-01", 4, Some(7)),
                    confirmed("2026-04-03", 1, None),
                ],
            },
            ai: Ok(AiSurveillance {
                period: Period::Day,
                min_count: 3,
                source: Source::Ai,
                model_set: "bundled".into(),
                rows: vec![
                    ai("2026-04-02", Some(1), Some(4)),
                    ai("2026-04-02", Some(1), None),
                    ai("2026-04-04", None, Some(6)),
                ],
                flags: vec![flag(DriftStatus::Unmeasured, "2026-03-01"), flag(DriftStatus::Withheld, "2026-04-03")],
            }),
            drift: Err("a reader token".into()),
        };
        let panel = CloudPanel { counts: Some(Ok(view)), compare: Some(1), ..CloudPanel::default() };
        let c = panel.compared();
        let days = ["2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04"];
        let want = |v: [i64; 4]| days.iter().zip(v).map(|(d, n)| ((*d).to_owned(), n)).collect::<Vec<_>>();
        assert_eq!(c.confirmed, want([5, 0, 0, 0]), "grade 1 only; a suppressed cell adds nothing");
        assert_eq!(c.ai, want([0, 4, 0, 0]));
        assert_eq!(c.cannot_grade, want([0, 0, 0, 6]));
        assert_eq!((c.confirmed_suppressed, c.ai_suppressed), (vec!["2026-04-03".into()], vec!["2026-04-02".into()]));
        assert_eq!(c.withheld.len(), 1);
        assert_eq!((c.withheld[0].0.as_str(), c.withheld[0].2.as_str()), ("2026-04-03", "NAGOYA-U"));
        let every = CloudPanel { compare: None, ..panel.clone() }.compared();
        assert_eq!(every.confirmed, want([12, 0, 0, 0]));
        assert!(panel.agreement().is_empty(), "no monitor for this token");
        assert_eq!(panel.model_set(), "bundled");
    }
}
