//! The drift monitor of one site × model set: whether that set's AI-only counts from that site
//! can be published, day by day.
//!
//! Two checks, evaluated after each exam day on which anything arrived:
//! - **agreement**: Cohen's κ of the set's grade against the confirmed reader grade over a
//!   rolling window (the last [`DriftConfig::window_cases`] confirmed cases, none older than
//!   [`DriftConfig::window_days`]). Below [`DriftConfig::kappa_floor`] the counts are
//!   withheld; they are released once κ is back at the floor plus
//!   [`DriftConfig::release_margin`] (hysteresis, so that a κ hovering at the floor does not
//!   flap). Fewer than [`DriftConfig::min_cases`] cases in the window: **unmeasured**, published
//!   but flagged, never shown as fine.
//! - **grade mix**: the set's reads (grades 1–4 and "cannot grade") of the last
//!   [`DriftConfig::mix_recent_days`] against the [`DriftConfig::mix_history_days`] before
//!   them: Pearson's χ² test of homogeneity. A shift is a p-value under
//!   [`DriftConfig::mix_p`] *and* a total-variation distance of at least
//!   [`DriftConfig::mix_min_shift`] (with thousands of reads a trivial change is
//!   "significant"). An epidemic wave shifts the mix too, so a shift withholds only where
//!   agreement cannot vouch for the recent reads: when the window is unmeasured, below the
//!   floor, or holds fewer than `min_cases` cases from the recent days.
//!
//! Pure: the service feeds it the cases and reads of one site × set.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::agreement::{Confusion4, Kappa};

/// The monitor's settings; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DriftConfig {
    /// κ under which the counts are withheld (below the 0.45–0.66 between human readers).
    pub kappa_floor: f64,
    /// κ must reach `kappa_floor + release_margin` to release withheld counts.
    pub release_margin: f64,
    /// The rolling window: at most this many of the latest confirmed cases…
    pub window_cases: usize,
    /// …none from more than this many days before the day evaluated.
    pub window_days: i32,
    /// Fewer confirmed cases than this in the window: unmeasured.
    pub min_cases: usize,
    /// The grade mix of the last this many days…
    pub mix_recent_days: i32,
    /// …against the reads of this many days before them.
    pub mix_history_days: i32,
    /// Reads needed on each side before the mix is tested.
    pub mix_min_recent: usize,
    pub mix_min_history: usize,
    /// χ² p-value under which a mix change is significant…
    pub mix_p: f64,
    /// …and the total-variation distance it must also reach.
    pub mix_min_shift: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            kappa_floor: 0.40,
            release_margin: 0.05,
            window_cases: 50,
            window_days: 180,
            min_cases: 20,
            mix_recent_days: 28,
            mix_history_days: 365,
            mix_min_recent: 30,
            mix_min_history: 100,
            mix_p: 0.001,
            mix_min_shift: 0.20,
        }
    }
}

/// A confirmed case with an AI grade: its exam day (see [`day_number`]) and both grades 1–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradedCase {
    pub day: i32,
    pub ai: u8,
    pub reader: u8,
}

/// An AI read for the grade mix: its exam day and class (1–4 a grade, 0 "cannot grade").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixRead {
    pub day: i32,
    pub class: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// Agreement measured and at or above the floor, no unexplained mix shift.
    Published,
    /// Published, but too few confirmed cases to measure agreement.
    Unmeasured,
    /// Left out of the published AI series.
    Withheld,
}

/// Why a day has the status it has (none when published and measured).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum DriftReason {
    KappaBelowFloor {
        kappa: f64,
        floor: f64,
    },
    /// Withheld for κ, which is above the floor again but not yet above floor + margin.
    KappaNotRecovered {
        kappa: f64,
        release_at: f64,
    },
    GradeMixShift {
        p_value: f64,
        shift: f64,
    },
    TooFewCases {
        cases: usize,
        min_cases: usize,
    },
    /// Every case of the window in one and the same category for both: κ is undefined.
    KappaUndefined {
        cases: usize,
    },
}

impl DriftReason {
    /// Plain words, for the desk and the export.
    pub fn text(&self) -> String {
        match *self {
            Self::KappaBelowFloor { kappa, floor } => format!("agreement κ {kappa:.2} below the floor {floor:.2}"),
            Self::KappaNotRecovered { kappa, release_at } => {
                format!("agreement κ {kappa:.2} not yet back to {release_at:.2}")
            }
            Self::GradeMixShift { p_value, shift } => {
                format!("grade mix shifted by {:.0} % (χ² p = {p_value:.1e})", shift * 100.0)
            }
            Self::TooFewCases { cases, min_cases } => {
                format!("{cases} confirmed cases, {min_cases} needed to measure agreement")
            }
            Self::KappaUndefined { cases } => format!("all {cases} confirmed cases in one category: κ undefined"),
        }
    }

    /// A short code (`kappa_below_floor`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::KappaBelowFloor { .. } => "kappa_below_floor",
            Self::KappaNotRecovered { .. } => "kappa_not_recovered",
            Self::GradeMixShift { .. } => "grade_mix_shift",
            Self::TooFewCases { .. } => "too_few_cases",
            Self::KappaUndefined { .. } => "kappa_undefined",
        }
    }
}

/// The monitor's verdict after one exam day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftPoint {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub status: DriftStatus,
    pub reasons: Vec<DriftReason>,
    /// Confirmed cases in the agreement window, and their κ.
    pub cases: usize,
    pub kappa: Kappa,
    /// The mix test, where both sides had enough reads.
    pub mix_p_value: Option<f64>,
    pub mix_shift: Option<f64>,
}

/// A run of days with one status other than published: `from_day` inclusive, `to_day`
/// exclusive (`None`: still running).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftPeriod {
    pub status: DriftStatus,
    pub from_day: String,
    pub to_day: Option<String>,
    /// The reason on its first day.
    pub reason: DriftReason,
}

/// Days since an epoch of a `YYYY-MM-DD` date (Julian day number).
pub fn day_number(day: &str) -> Option<i32> {
    time::Date::parse(day, time::macros::format_description!("[year]-[month]-[day]"))
        .ok()
        .map(time::Date::to_julian_day)
}

/// `YYYY-MM-DD` of a [`day_number`].
pub fn day_string(day: i32) -> String {
    time::Date::from_julian_day(day)
        .ok()
        .and_then(|d| d.format(time::macros::format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_default()
}

/// The verdict after each day on which a case or a read arrived, in day order. `cases` and
/// `reads` may come in any order.
pub fn timeline(cases: &[GradedCase], reads: &[MixRead], cfg: &DriftConfig) -> Vec<DriftPoint> {
    let mut cases = cases.to_vec();
    cases.sort_by_key(|c| c.day);
    let mut days: Vec<i32> = cases.iter().map(|c| c.day).chain(reads.iter().map(|r| r.day)).collect();
    days.sort_unstable();
    days.dedup();
    let mix = MixCounts::new(reads);
    let mut withheld_for_kappa = false;
    let mut out = Vec::with_capacity(days.len());
    for &day in &days {
        // The agreement window: the latest `window_cases` cases up to `day`, within `window_days`.
        let end = cases.partition_point(|c| c.day <= day);
        let start = cases.partition_point(|c| c.day <= day - cfg.window_days).max(end.saturating_sub(cfg.window_cases));
        let window = &cases[start..end];
        let mut confusion = Confusion4::default();
        for c in window {
            confusion.add(c.ai, c.reader);
        }
        let kappa = confusion.kappa();
        let recent_cases = window.iter().filter(|c| c.day > day - cfg.mix_recent_days).count();
        let mut reasons = Vec::new();
        let measured = window.len() >= cfg.min_cases;
        let mut vouched = false;
        let mut status = DriftStatus::Published;
        if !measured {
            reasons.push(DriftReason::TooFewCases { cases: window.len(), min_cases: cfg.min_cases });
            // Withheld for κ stays withheld until a measured κ is back: too few cases is no
            // recovery.
            status = if withheld_for_kappa { DriftStatus::Withheld } else { DriftStatus::Unmeasured };
        } else if let Some(k) = kappa.kappa {
            let release_at = cfg.kappa_floor + cfg.release_margin;
            if k < cfg.kappa_floor {
                withheld_for_kappa = true;
                reasons.push(DriftReason::KappaBelowFloor { kappa: k, floor: cfg.kappa_floor });
            } else if withheld_for_kappa && k < release_at {
                reasons.push(DriftReason::KappaNotRecovered { kappa: k, release_at });
            } else {
                withheld_for_kappa = false;
                vouched = recent_cases >= cfg.min_cases;
            }
            if withheld_for_kappa {
                status = DriftStatus::Withheld;
            }
        } else {
            reasons.push(DriftReason::KappaUndefined { cases: window.len() });
            status = if withheld_for_kappa { DriftStatus::Withheld } else { DriftStatus::Unmeasured };
        }
        let test = mix.test(day, cfg);
        if let Some((p_value, shift)) = test
            && p_value < cfg.mix_p
            && shift >= cfg.mix_min_shift
            && !vouched
        {
            reasons.push(DriftReason::GradeMixShift { p_value, shift });
            status = DriftStatus::Withheld;
        }
        out.push(DriftPoint {
            day: day_string(day),
            status,
            reasons,
            cases: window.len(),
            kappa,
            mix_p_value: test.map(|t| t.0),
            mix_shift: test.map(|t| t.1),
        });
    }
    out
}

/// The runs of withheld and of unmeasured days in a timeline. A run ends on the first later
/// day with another status.
pub fn periods(points: &[DriftPoint]) -> Vec<DriftPeriod> {
    let mut out: Vec<DriftPeriod> = Vec::new();
    let mut open: Option<DriftPeriod> = None;
    for p in points {
        if open.as_ref().is_some_and(|o| o.status != p.status) {
            let mut done = open.take().unwrap_or_else(|| unreachable!("checked just above"));
            done.to_day = Some(p.day.clone());
            out.push(done);
        }
        if open.is_none() && p.status != DriftStatus::Published {
            // The reason for the status: a withheld day names what withheld it, not that it
            // was also unmeasured.
            let withholds =
                |r: &&DriftReason| !matches!(r, DriftReason::TooFewCases { .. } | DriftReason::KappaUndefined { .. });
            let reason = match p.status {
                DriftStatus::Withheld => p.reasons.iter().find(withholds).or(p.reasons.first()),
                _ => p.reasons.first(),
            };
            let reason = reason.copied().unwrap_or(DriftReason::TooFewCases { cases: 0, min_cases: 0 });
            open = Some(DriftPeriod { status: p.status, from_day: p.day.clone(), to_day: None, reason });
        }
    }
    out.extend(open);
    out
}

/// Reads per day and class, summed from the first day, so that any range of days is two
/// look-ups.
struct MixCounts {
    days: Vec<i32>,
    /// `cumulative[i][c]`: reads of class `c` on `days[..i]`.
    cumulative: Vec<[u64; 5]>,
}

impl MixCounts {
    fn new(reads: &[MixRead]) -> Self {
        let mut reads: Vec<MixRead> = reads.iter().copied().filter(|r| r.class <= 4).collect();
        reads.sort_by_key(|r| r.day);
        let mut days = Vec::new();
        let mut cumulative = vec![[0u64; 5]];
        for r in reads {
            if days.last() != Some(&r.day) {
                days.push(r.day);
                let last = *cumulative.last().unwrap_or(&[0; 5]);
                cumulative.push(last);
            }
            if let Some(c) = cumulative.last_mut() {
                c[usize::from(r.class)] += 1;
            }
        }
        Self { days, cumulative }
    }

    /// Reads of each class with `lo < day <= hi`.
    fn between(&self, lo: i32, hi: i32) -> [u64; 5] {
        let a = self.cumulative[self.days.partition_point(|&d| d <= lo)];
        let b = self.cumulative[self.days.partition_point(|&d| d <= hi)];
        std::array::from_fn(|c| b[c] - a[c])
    }

    /// χ² p-value and total-variation distance of the recent mix against its history, where
    /// both sides have enough reads.
    fn test(&self, day: i32, cfg: &DriftConfig) -> Option<(f64, f64)> {
        let split = day - cfg.mix_recent_days;
        let recent = self.between(split, day);
        let history = self.between(split - cfg.mix_history_days, split);
        let (nr, nh) = (recent.iter().sum::<u64>(), history.iter().sum::<u64>());
        if (nr as usize) < cfg.mix_min_recent || (nh as usize) < cfg.mix_min_history {
            return None;
        }
        Some((chi_square_homogeneity(&recent, &history), total_variation(&recent, &history)))
    }
}

/// Pearson's χ² test that two samples come from one categorical distribution: its p-value
/// (categories empty in both are left out; one category left: 1).
pub fn chi_square_homogeneity(a: &[u64], b: &[u64]) -> f64 {
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    let n = na + nb;
    let mut statistic = 0.0;
    let mut categories = 0u32;
    for (&x, &y) in a.iter().zip(b) {
        let column = (x + y) as f64;
        if column == 0.0 {
            continue;
        }
        categories += 1;
        for (observed, row) in [(x as f64, na), (y as f64, nb)] {
            let expected = row * column / n;
            if expected > 0.0 {
                statistic += (observed - expected).powi(2) / expected;
            }
        }
    }
    if categories < 2 || na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    ChiSquared::new(f64::from(categories - 1)).map_or(1.0, |d| d.sf(statistic))
}

/// Half the sum of the absolute differences of two samples' proportions (0 same mix, 1 disjoint).
pub fn total_variation(a: &[u64], b: &[u64]) -> f64 {
    let (na, nb) = (a.iter().sum::<u64>() as f64, b.iter().sum::<u64>() as f64);
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    a.iter().zip(b).map(|(&x, &y)| (x as f64 / na - y as f64 / nb).abs()).sum::<f64>() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SYNTHETIC: `n` cases on `day`, the AI agreeing with the reader on `agree` of them
    /// (grades cycling 1–4), the rest off by two categories.
    fn synthetic_cases(day: i32, n: usize, agree: usize) -> Vec<GradedCase> {
        (0..n)
            .map(|i| {
                let reader = (i % 4) as u8 + 1;
                let ai = if i < agree { reader } else { (reader + 1) % 4 + 1 };
                GradedCase { day, ai, reader }
            })
            .collect()
    }

    #[test]
    fn synthetic_too_few_cases_are_unmeasured_never_published_as_fine() {
        let cases = synthetic_cases(100, 5, 5);
        let t = timeline(&cases, &[], &DriftConfig::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].status, DriftStatus::Unmeasured);
        assert_eq!(t[0].reasons, vec![DriftReason::TooFewCases { cases: 5, min_cases: 20 }]);
        // κ is still reported, with its (wide) interval.
        assert_eq!(t[0].kappa.kappa, Some(1.0));
    }

    #[test]
    fn synthetic_agreement_drop_withholds_and_recovery_releases_past_the_margin() {
        let cfg = DriftConfig { window_cases: 40, ..DriftConfig::default() };
        let mut cases = synthetic_cases(1, 40, 40); // κ 1
        cases.extend(synthetic_cases(2, 40, 4)); // window now 4 of 40 agreeing: κ < 0
        cases.extend(synthetic_cases(3, 24, 24)); // window: 16 disagreeing of day 2, 24 agreeing
        let t = timeline(&cases, &[], &cfg);
        let status: Vec<DriftStatus> = t.iter().map(|p| p.status).collect();
        assert_eq!(status[0], DriftStatus::Published);
        assert_eq!(status[1], DriftStatus::Withheld);
        assert_eq!(t[1].reasons[0].code(), "kappa_below_floor");
        // 24 agreeing of 40, the readers' grades uniform (so chance agreement 1/4):
        // κ = (0.6 − 0.25) / 0.75 = 0.4667, back over 0.45: released.
        assert!((t[2].kappa.kappa.expect("κ") - 0.35 / 0.75).abs() < 1e-9, "{:?}", t[2].kappa);
        assert_eq!(status[2], DriftStatus::Published);
        let p = periods(&t);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].status, DriftStatus::Withheld);
        assert_eq!((p[0].from_day.as_str(), p[0].to_day.as_deref()), (day_string(2).as_str(), Some(&*day_string(3))));
    }

    #[test]
    fn synthetic_a_kappa_withhold_is_not_released_by_cases_ageing_out_of_the_window() {
        let cfg = DriftConfig { window_cases: 40, window_days: 30, ..DriftConfig::default() };
        // Withheld on day 1; on day 100 only 5 new (agreeing) cases are in the 30-day window.
        let mut cases = synthetic_cases(1, 40, 4);
        cases.extend(synthetic_cases(100, 5, 5));
        let t = timeline(&cases, &[], &cfg);
        assert_eq!(t[0].status, DriftStatus::Withheld);
        assert_eq!(t[1].status, DriftStatus::Withheld, "too few cases is no recovery: {:?}", t[1]);
        assert_eq!(t[1].reasons[0].code(), "too_few_cases");
    }

    #[test]
    fn synthetic_kappa_between_floor_and_margin_keeps_withheld_counts_withheld() {
        let cfg = DriftConfig { window_cases: 40, ..DriftConfig::default() };
        let mut cases = synthetic_cases(1, 40, 4);
        // 23 of 40 agreeing: κ = (0.575 − 0.25) / 0.75 = 0.433, over the floor, under 0.45.
        cases.extend(synthetic_cases(2, 40, 23));
        let t = timeline(&cases, &[], &cfg);
        assert_eq!(t[0].status, DriftStatus::Withheld);
        assert_eq!(t[1].status, DriftStatus::Withheld, "{:?}", t[1]);
        assert_eq!(t[1].reasons[0].code(), "kappa_not_recovered");
        // The same κ never withheld before is published.
        let fresh = timeline(&synthetic_cases(2, 40, 23), &[], &cfg);
        assert_eq!(fresh[0].status, DriftStatus::Published);
    }

    #[test]
    fn synthetic_grade_mix_shift_withholds_only_where_agreement_cannot_vouch() {
        // History: 200 reads, mostly negative; then 60 recent reads, mostly "cannot grade"
        // (a new scanner the AI cannot read).
        let mut reads: Vec<MixRead> =
            (0..200).map(|i| MixRead { day: 1000 - 30 - (i % 100), class: if i % 5 == 0 { 1 } else { 4 } }).collect();
        reads.extend((0..60).map(|i| MixRead { day: 1000 - (i % 20), class: if i % 6 == 0 { 4 } else { 0 } }));
        let t = timeline(&[], &reads, &DriftConfig::default());
        let last = t.last().expect("a day");
        assert_eq!(last.status, DriftStatus::Withheld);
        assert!(last.reasons.iter().any(|r| r.code() == "grade_mix_shift"), "{last:?}");
        assert!(last.mix_p_value.expect("tested") < 1e-6);
        let withheld = periods(&t).into_iter().find(|p| p.status == DriftStatus::Withheld).expect("a withheld period");
        assert_eq!(withheld.reason.code(), "grade_mix_shift", "what withheld it, not that it was also unmeasured");
        // The same shift with 30 recent confirmed cases in good agreement: an epidemic wave the
        // readers confirm, published.
        let cases = synthetic_cases(1000, 30, 30);
        let t = timeline(&cases, &reads, &DriftConfig::default());
        assert_eq!(t.last().expect("a day").status, DriftStatus::Published, "{:?}", t.last());
        // A small change in a large sample is significant but not a shift.
        let big: Vec<MixRead> = (0..20_000)
            .map(|i| MixRead { day: 1000 - 30 - (i % 300), class: (i % 4) as u8 + 1 })
            .chain(
                (0..20_000)
                    .map(|i| MixRead { day: 1000 - (i % 20), class: if i % 10 == 0 { 1 } else { (i % 4) as u8 + 1 } }),
            )
            .collect();
        let last = timeline(&[], &big, &DriftConfig::default()).pop().expect("a day");
        assert!(last.mix_p_value.expect("tested") < 0.001 && last.mix_shift.expect("tested") < 0.2, "{last:?}");
        assert!(!last.reasons.iter().any(|r| r.code() == "grade_mix_shift"));
    }

    #[test]
    fn chi_square_matches_a_hand_computed_table() {
        // 2×2 with margins 50/50 and 50/50: 30 20 / 20 30 → χ² = 4, df 1, p = 0.0455003.
        let p = chi_square_homogeneity(&[30, 20], &[20, 30]);
        assert!((p - 0.045_500_263_896_358).abs() < 1e-9, "{p}");
        assert!((chi_square_homogeneity(&[5, 0, 0], &[7, 0, 0]) - 1.0).abs() < 1e-12, "one category: no test");
        assert!((total_variation(&[1, 1], &[2, 0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn days_round_trip() {
        let d = day_number("2026-03-01").expect("a date");
        assert_eq!(day_number("2026-02-28").expect("a date") + 1, d);
        assert_eq!(day_string(d), "2026-03-01");
        assert_eq!(day_number("2026-02-30"), None);
    }
}
