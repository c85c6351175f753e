//! The predicted RSNA chest-CT category from quantified features: an explicit rule set that
//! follows the RSNA consensus statement (Simpson et al. 2020), not a trained classifier.
//!
//! - **Negative**: opacity under 0.1 % of the lung and no focus.
//! - **Typical**: bilateral, mostly peripheral (≥ 50 % in the outer third), multifocal
//!   (≥ 2 foci) opacity in which ground glass predominates.
//! - **Atypical**: consolidation predominates (≥ 70 % of opacity) in one or two foci, without
//!   the typical pattern: isolated lobar or segmental consolidation. Nodules, cavitation and
//!   septal thickening with effusion are not detected yet, so they cannot raise this grade.
//! - **Indeterminate**: any other opacity (diffuse, perihilar or unilateral ground glass).
//!
//! Each class gets a score: the share of its criteria that hold, normalised over the four
//! classes, so the scores show how clear-cut the call is.

use serde::Serialize;

use crate::quantify::Quantification;

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
/// features behind it in plain words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradePrediction {
    pub grade: RsnaGrade,
    pub scores: [f64; 4],
    pub explanation: String,
    pub method: &'static str,
}

pub const METHOD: &str =
    "rule set over quantified features (RSNA consensus, Simpson et al. 2020); not a trained classifier";

/// Grades `q`.
pub fn grade(q: &Quantification) -> GradePrediction {
    let opacity_ml = q.ggo_ml + q.consolidation_ml;
    let ggo_share = if opacity_ml > 0.0 { q.ggo_ml / opacity_ml } else { 0.0 };
    let consolidation_share = 1.0 - ggo_share;
    let negative = q.opacity_percent < 0.1 && q.foci == 0;
    let frac = |held: &[bool]| held.iter().filter(|&&h| h).count() as f64 / held.len() as f64;
    let typical_criteria =
        [q.bilateral, q.peripheral_fraction >= 0.5, q.foci >= 2, ggo_share >= 0.5 && opacity_ml > 0.0];
    let atypical_criteria = [consolidation_share >= 0.7 && opacity_ml > 0.0, (1..=2).contains(&q.foci), !q.bilateral];
    let typical = frac(&typical_criteria);
    let atypical = frac(&atypical_criteria);
    let mut raw = if negative {
        [0.0, 0.05, 0.0, 0.95]
    } else {
        // Indeterminate holds when neither pattern is complete.
        let indeterminate = 1.0 - typical.max(atypical) + 0.25;
        [typical, indeterminate, atypical, if q.foci == 0 { 0.25 } else { 0.0 }]
    };
    let grade = if negative {
        RsnaGrade::Negative
    } else if typical_criteria.iter().all(|&c| c) {
        RsnaGrade::Typical
    } else if atypical_criteria.iter().all(|&c| c) {
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

    let explanation = if negative {
        format!("no opacity found ({:.2} % of {:.0} mL lung) → {}", q.opacity_percent, q.lung_ml, grade.name())
    } else {
        format!(
            "{}; {:.0} % of opacity in the outer third; {} focus/foci; ground glass {:.0} % and consolidation {:.0} % of opacity ({:.1} % of lung) → {}",
            if q.bilateral { "bilateral" } else { "unilateral" },
            100.0 * q.peripheral_fraction,
            q.foci,
            100.0 * ggo_share,
            100.0 * consolidation_share,
            q.opacity_percent,
            grade.name()
        )
    };
    GradePrediction { grade, scores, explanation, method: METHOD }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantify::LungStats;

    fn features(bilateral: bool, peripheral: f64, foci: usize, ggo_ml: f64, consolidation_ml: f64) -> Quantification {
        Quantification {
            right: LungStats::default(),
            left: LungStats::default(),
            lung_ml: 4000.0,
            ggo_ml,
            consolidation_ml,
            opacity_percent: 100.0 * (ggo_ml + consolidation_ml) / 4000.0,
            foci,
            peripheral_fraction: peripheral,
            bilateral,
            severity_score: 0,
        }
    }

    #[test]
    fn each_pattern_gets_its_grade() {
        let cases = [
            (features(true, 0.82, 6, 90.0, 10.0), RsnaGrade::Typical),
            (features(false, 0.3, 3, 60.0, 5.0), RsnaGrade::Indeterminate),
            (features(true, 0.2, 9, 200.0, 20.0), RsnaGrade::Indeterminate),
            (features(false, 0.6, 1, 2.0, 80.0), RsnaGrade::Atypical),
            (features(false, 0.0, 0, 0.0, 0.0), RsnaGrade::Negative),
        ];
        for (q, expected) in cases {
            let p = grade(&q);
            assert_eq!(p.grade, expected, "{}", p.explanation);
            assert!((p.scores.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let best = (0..4).max_by(|&a, &b| p.scores[a].total_cmp(&p.scores[b])).unwrap_or(0);
            assert_eq!(best, expected as usize - 1, "the called grade has the top score: {:?}", p.scores);
            assert!(p.explanation.ends_with(expected.name()), "{}", p.explanation);
        }
    }

    #[test]
    fn explanation_names_the_features() {
        let p = grade(&features(true, 0.82, 6, 90.0, 10.0));
        assert!(
            p.explanation.starts_with("bilateral; 82 % of opacity in the outer third; 6 focus/foci"),
            "{}",
            p.explanation
        );
    }
}
