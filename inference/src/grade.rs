//! The predicted RSNA chest-CT category from quantified features: an explicit rule set that
//! follows the RSNA consensus statement (Simpson et al. 2020) feature by feature, not a
//! trained classifier.
//!
//! - **Negative**: no opacity — under [`NEGATIVE_PERCENT`] of the lung or [`NEGATIVE_ML`],
//!   with no focus of `SIGNIFICANT_FOCUS_ML` and fewer than three nodules.
//! - **Typical**: peripheral (≥ 50 % in the outer third), bilateral, multifocal (≥ 2
//!   ground-glass foci) opacity in which ground glass predominates, with or without
//!   consolidation.
//! - **Atypical**, without the typical pattern: isolated lobar or segmental consolidation
//!   without ground glass (consolidation ≥ 70 % of opacity, one or two foci, the largest
//!   holding most of it), discrete small nodules (≥ 3, little ground glass), or a solid mass.
//!   Cavitation is not detected, so it cannot raise this grade.
//! - **Indeterminate**: any other opacity — diffuse, perihilar or unilateral ground glass
//!   without a specific distribution, or atypical features mixed with much ground glass, or
//!   the typical pattern beside a solid mass (another diagnosis).
//!
//! Rounded morphology, crazy-paving and the reverse halo are not measured; the specialist
//! sees them and confirms every grade.
//!
//! Scores: each category gets a continuous strength of evidence from the same features (how
//! bilateral, how peripheral, how many foci, how much ground glass, how solid, how central),
//! normalised over the four; the called grade is then raised to the top if needed. Cases with
//! different findings get different splits.

use serde::Serialize;

use crate::quantify::{Quantification, SIGNIFICANT_FOCUS_ML, SOLID_SHARE};

/// The four RSNA categories, numbered as on the reader's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RsnaGrade {
    Typical = 1,
    Indeterminate = 2,
    Atypical = 3,
    Negative = 4,
}

impl RsnaGrade {
    pub const ALL: [RsnaGrade; 4] = [Self::Typical, Self::Indeterminate, Self::Atypical, Self::Negative];

    pub fn name(self) -> &'static str {
        match self {
            Self::Typical => "typical",
            Self::Indeterminate => "indeterminate",
            Self::Atypical => "atypical",
            Self::Negative => "negative for pneumonia",
        }
    }
}

/// A grade with its per-class scores (summing to 1, in [`RsnaGrade::ALL`] order) and the
/// features behind it: as [`Reason`]s (for other languages) and in plain English words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradePrediction {
    pub grade: RsnaGrade,
    pub scores: [f64; 4],
    pub reasons: Vec<Reason>,
    pub explanation: String,
    pub method: &'static str,
}

/// One feature behind a grade, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "feature")]
pub enum Reason {
    NoOpacity {
        opacity_percent: f64,
        lung_ml: f64,
        opacity_ml: f64,
    },
    Bilateral,
    Unilateral,
    Peripheral {
        percent: f64,
    },
    Perihilar {
        percent: f64,
    },
    Foci {
        foci: usize,
        ground_glass: usize,
    },
    Mix {
        ggo_percent: f64,
        consolidation_percent: f64,
        opacity_percent: f64,
    },
    IsolatedConsolidation {
        solid_foci: usize,
    },
    Nodules {
        nodules: usize,
    },
    Mass {
        masses: usize,
    },
    Diffuse {
        zones: u8,
    },
    /// The typical pattern together with a solid mass.
    Mixed,
}

impl Reason {
    /// The reason in plain English.
    pub fn english(&self) -> String {
        match *self {
            Self::NoOpacity { opacity_percent, lung_ml, opacity_ml } => {
                format!("no opacity found ({opacity_percent:.2} % of {lung_ml:.0} mL lung, {opacity_ml:.1} mL)")
            }
            Self::Bilateral => "bilateral".into(),
            Self::Unilateral => "one lung only (unilateral)".into(),
            Self::Peripheral { percent } => format!("{percent:.0} % of opacity in the outer third (peripheral)"),
            Self::Perihilar { percent } => format!("{percent:.0} % in the inner third (perihilar)"),
            Self::Foci { foci, ground_glass } => format!("{foci} focus/foci, {ground_glass} of them ground glass"),
            Self::Mix { ggo_percent, consolidation_percent, opacity_percent } => format!(
                "ground glass {ggo_percent:.0} % and consolidation {consolidation_percent:.0} % of opacity ({opacity_percent:.1} % of lung)"
            ),
            Self::IsolatedConsolidation { solid_foci } => {
                format!("isolated consolidation ({solid_foci} solid focus/foci) without ground glass")
            }
            Self::Nodules { nodules } => format!("{nodules} discrete small nodules"),
            Self::Mass { masses } => format!("{masses} solid mass(es) of 3 cm or more"),
            Self::Diffuse { zones } => format!("diffuse: {zones} of 6 zones involved"),
            Self::Mixed => "typical features mixed with atypical ones".into(),
        }
    }
}

pub const METHOD: &str =
    "rule set over quantified features (RSNA consensus, Simpson et al. 2020); not a trained classifier";

/// Opacity below this share of the lung (%) is no finding.
pub const NEGATIVE_PERCENT: f64 = 0.1;
/// Opacity below this volume (mL) with no focus of [`SIGNIFICANT_FOCUS_ML`] is no finding.
pub const NEGATIVE_ML: f64 = 5.0;

/// Strength (0..1) of each feature, from the numbers.
struct Evidence {
    opacity: f64,
    bilateral: f64,
    peripheral: f64,
    central: f64,
    multifocal: f64,
    ggo: f64,
    solid: f64,
    isolated: f64,
    nodules: f64,
    mass: f64,
    diffuse: f64,
}

fn ramp(x: f64, lo: f64, hi: f64) -> f64 {
    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
}

impl Evidence {
    fn of(q: &Quantification) -> Self {
        let opacity_ml = q.ggo_ml + q.consolidation_ml;
        let ggo = if opacity_ml > 0.0 { q.ggo_ml / opacity_ml } else { 0.0 };
        let side = |s: &crate::quantify::LungStats| s.ggo_ml + s.consolidation_ml;
        let (r, l) = (side(&q.right), side(&q.left));
        Self {
            opacity: 1.0 - (-q.opacity_percent / NEGATIVE_PERCENT).exp(),
            // 1 when both lungs hold a focus and similar amounts; 0 unilateral.
            bilateral: if q.bilateral { 0.5 + 0.5 * ramp(r.min(l) / r.max(l).max(1e-9), 0.0, 0.5) } else { 0.0 },
            peripheral: ramp(q.peripheral_fraction, 0.3, 0.6),
            central: ramp(q.central_fraction, 0.2, 0.5),
            multifocal: 1.0 - (-(q.ggo_foci as f64) / 2.0).exp(),
            ggo,
            solid: ramp(1.0 - ggo, 0.5, 0.9),
            isolated: if q.solid_foci == 0 {
                0.0
            } else {
                ramp(q.largest_focus_share, 0.4, 0.8) / q.foci.max(1) as f64 * 2.0
            },
            nodules: ramp(q.nodules as f64, 1.0, 5.0) * (1.0 - ggo),
            mass: if q.masses > 0 { 1.0 } else { 0.0 },
            diffuse: ramp(f64::from(q.zones_involved), 3.0, 6.0) * (1.0 - ramp(q.peripheral_fraction, 0.4, 0.6)),
        }
    }
}

/// Grades `q`.
pub fn grade(q: &Quantification) -> GradePrediction {
    let opacity_ml = q.ggo_ml + q.consolidation_ml;
    let e = Evidence::of(q);
    let negative = (q.opacity_percent < NEGATIVE_PERCENT || opacity_ml < NEGATIVE_ML)
        && q.largest_focus_share * opacity_ml < SIGNIFICANT_FOCUS_ML
        && q.nodules < 3;
    let ggo_share = e.ggo;
    let typical_pattern = q.bilateral && q.peripheral_fraction >= 0.5 && q.ggo_foci >= 2 && ggo_share >= 0.5;
    // A solid mass beside the typical pattern suggests another diagnosis: the mix is
    // indeterminate, never typical. (A few small solid foci are common in COVID-19 pneumonia;
    // nodules count as atypical only without much ground glass, below.)
    let mixed = typical_pattern && q.masses > 0;
    let typical = typical_pattern && !mixed;
    let lobar = 1.0 - ggo_share >= SOLID_SHARE && (1..=2).contains(&q.solid_foci) && q.largest_focus_share >= 0.6;
    let nodular = q.nodules >= 3 && ggo_share < 0.3;
    let mass = q.masses > 0 && ggo_share < 0.5;
    let atypical = !typical_pattern && (lobar || nodular || mass);

    let typical_strength = (e.bilateral + e.peripheral + e.multifocal + e.ggo) / 4.0;
    let atypical_strength = (e.solid * e.isolated.min(1.0)).max(e.nodules).max(e.mass * (1.0 - ggo_share));
    let indeterminate_strength = (e.ggo * (1.0 - typical_strength)).max(e.central).max(e.diffuse) * 0.9 + 0.1;
    let mut raw = [
        e.opacity * typical_strength,
        e.opacity * indeterminate_strength,
        e.opacity * atypical_strength,
        1.0 - e.opacity,
    ];
    let grade = if negative {
        RsnaGrade::Negative
    } else if typical {
        RsnaGrade::Typical
    } else if atypical {
        RsnaGrade::Atypical
    } else {
        RsnaGrade::Indeterminate
    };
    // The called grade always has the top score.
    let called = grade as usize - 1;
    let top = raw.iter().copied().fold(0.0, f64::max);
    raw[called] = raw[called].max(top + 0.01);
    let total: f64 = raw.iter().sum();
    let scores = raw.map(|s| s / total);
    let (reasons, explanation) = explain(q, grade, Patterns { lobar, nodular, mass, mixed });
    GradePrediction { grade, scores, reasons, explanation, method: METHOD }
}

/// The features behind `grade`, and the same in plain English.
/// Which atypical or mixed patterns the rules found.
#[allow(clippy::struct_excessive_bools)] // four independent findings
#[derive(Clone, Copy)]
struct Patterns {
    lobar: bool,
    nodular: bool,
    mass: bool,
    mixed: bool,
}

fn explain(q: &Quantification, grade: RsnaGrade, found: Patterns) -> (Vec<Reason>, String) {
    let Patterns { lobar, nodular, mass, mixed } = found;
    let opacity_ml = q.ggo_ml + q.consolidation_ml;
    let mut reasons = Vec::new();
    if grade == RsnaGrade::Negative {
        reasons.push(Reason::NoOpacity { opacity_percent: q.opacity_percent, lung_ml: q.lung_ml, opacity_ml });
    } else {
        let ggo_share = if opacity_ml > 0.0 { q.ggo_ml / opacity_ml } else { 0.0 };
        reasons.push(if q.bilateral { Reason::Bilateral } else { Reason::Unilateral });
        reasons.push(Reason::Peripheral { percent: 100.0 * q.peripheral_fraction });
        if q.central_fraction >= 0.3 {
            reasons.push(Reason::Perihilar { percent: 100.0 * q.central_fraction });
        }
        reasons.push(Reason::Foci { foci: q.foci, ground_glass: q.ggo_foci });
        reasons.push(Reason::Mix {
            ggo_percent: 100.0 * ggo_share,
            consolidation_percent: 100.0 * (1.0 - ggo_share),
            opacity_percent: q.opacity_percent,
        });
        if grade == RsnaGrade::Atypical {
            if lobar {
                reasons.push(Reason::IsolatedConsolidation { solid_foci: q.solid_foci });
            }
            if nodular {
                reasons.push(Reason::Nodules { nodules: q.nodules });
            }
            if mass {
                reasons.push(Reason::Mass { masses: q.masses });
            }
        } else if mixed {
            reasons.push(Reason::Mass { masses: q.masses });
            reasons.push(Reason::Mixed);
        } else if q.zones_involved >= 5 && q.peripheral_fraction < 0.5 {
            reasons.push(Reason::Diffuse { zones: q.zones_involved });
        }
    }
    let text = format!("{} → {}", reasons.iter().map(Reason::english).collect::<Vec<_>>().join("; "), grade.name());
    (reasons, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantify::LungStats;

    #[derive(Clone, Copy)]
    struct F {
        bilateral: bool,
        peripheral: f64,
        central: f64,
        foci: usize,
        ggo_foci: usize,
        solid_foci: usize,
        nodules: usize,
        masses: usize,
        largest_share: f64,
        ggo_ml: f64,
        consolidation_ml: f64,
    }

    impl Default for F {
        fn default() -> Self {
            Self {
                bilateral: true,
                peripheral: 0.8,
                central: 0.05,
                foci: 6,
                ggo_foci: 6,
                solid_foci: 0,
                nodules: 0,
                masses: 0,
                largest_share: 0.3,
                ggo_ml: 90.0,
                consolidation_ml: 10.0,
            }
        }
    }

    /// One large consolidation in one lung, no ground glass.
    fn lobar() -> F {
        F {
            bilateral: false,
            foci: 1,
            ggo_foci: 0,
            solid_foci: 1,
            largest_share: 0.95,
            ggo_ml: 2.0,
            consolidation_ml: 80.0,
            ..F::default()
        }
    }

    fn features(f: F) -> Quantification {
        let half = |ml: f64, side: bool| if side { ml / 2.0 } else { 0.0 };
        let stats = |right: bool| LungStats {
            lung_ml: 2000.0,
            ggo_ml: if f.bilateral { f.ggo_ml / 2.0 } else { half(f.ggo_ml * 2.0, right) },
            consolidation_ml: if f.bilateral {
                f.consolidation_ml / 2.0
            } else {
                half(f.consolidation_ml * 2.0, right)
            },
            ..LungStats::default()
        };
        Quantification {
            right: stats(true),
            left: stats(false),
            lung_ml: 4000.0,
            ggo_ml: f.ggo_ml,
            consolidation_ml: f.consolidation_ml,
            opacity_percent: 100.0 * (f.ggo_ml + f.consolidation_ml) / 4000.0,
            foci: f.foci,
            peripheral_fraction: f.peripheral,
            central_fraction: f.central,
            ggo_foci: f.ggo_foci,
            solid_foci: f.solid_foci,
            nodules: f.nodules,
            masses: f.masses,
            largest_focus_share: f.largest_share,
            zones_involved: 4,
            bilateral: f.bilateral,
            severity_score: 0,
        }
    }

    #[test]
    fn each_pattern_gets_its_grade() {
        let cases = [
            (F::default(), RsnaGrade::Typical),
            // Unilateral ground glass.
            (
                F { bilateral: false, foci: 3, ggo_foci: 3, ggo_ml: 60.0, consolidation_ml: 5.0, ..F::default() },
                RsnaGrade::Indeterminate,
            ),
            // Perihilar ground glass in both lungs.
            (F { peripheral: 0.2, central: 0.6, foci: 9, ggo_foci: 9, ..F::default() }, RsnaGrade::Indeterminate),
            // Isolated lobar consolidation.
            (lobar(), RsnaGrade::Atypical),
            // Discrete small nodules.
            (
                F {
                    foci: 0,
                    ggo_foci: 0,
                    nodules: 8,
                    largest_share: 0.15,
                    ggo_ml: 0.2,
                    consolidation_ml: 8.0,
                    ..F::default()
                },
                RsnaGrade::Atypical,
            ),
            // A solid mass with a little ground glass round it.
            (
                F {
                    bilateral: false,
                    foci: 2,
                    ggo_foci: 1,
                    solid_foci: 1,
                    masses: 1,
                    largest_share: 0.8,
                    ggo_ml: 6.0,
                    consolidation_ml: 30.0,
                    ..F::default()
                },
                RsnaGrade::Atypical,
            ),
            (
                F { bilateral: false, foci: 0, ggo_foci: 0, ggo_ml: 0.0, consolidation_ml: 0.0, ..F::default() },
                RsnaGrade::Negative,
            ),
            // A few millilitres of specks: no finding.
            (
                F { foci: 0, ggo_foci: 0, largest_share: 0.05, ggo_ml: 1.0, consolidation_ml: 0.0, ..F::default() },
                RsnaGrade::Negative,
            ),
        ];
        for (f, expected) in cases {
            let p = grade(&features(f));
            assert_eq!(p.grade, expected, "{}", p.explanation);
            assert!((p.scores.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let best = (0..4).max_by(|&a, &b| p.scores[a].total_cmp(&p.scores[b])).unwrap_or(0);
            assert_eq!(best, expected as usize - 1, "the called grade has the top score: {:?}", p.scores);
            assert!(p.explanation.ends_with(expected.name()), "{}", p.explanation);
        }
    }

    /// Two cases with different findings never get the same split.
    #[test]
    fn scores_follow_the_evidence() {
        let a = grade(&features(F::default()));
        let b = grade(&features(F {
            peripheral: 0.55,
            foci: 2,
            ggo_foci: 2,
            ggo_ml: 40.0,
            consolidation_ml: 30.0,
            ..F::default()
        }));
        assert_eq!((a.grade, b.grade), (RsnaGrade::Typical, RsnaGrade::Typical));
        assert!(
            a.scores[0] > b.scores[0] + 0.05,
            "clearer typical findings score higher: {:?} vs {:?}",
            a.scores,
            b.scores
        );
    }

    #[test]
    fn explanation_names_the_features() {
        let p = grade(&features(F::default()));
        assert!(
            p.explanation.starts_with(
                "bilateral; 80 % of opacity in the outer third (peripheral); 6 focus/foci, 6 of them ground glass"
            ),
            "{}",
            p.explanation
        );
        let p = grade(&features(lobar()));
        assert!(p.explanation.contains("isolated consolidation"), "{}", p.explanation);
    }
}
