//! The AI's grade, reasons and "cannot grade" in the reader's language, from the structured
//! reasons the inference crate returns (the English text is the same words).

use lungdesk_inference::analysis::Analysis;
use lungdesk_inference::gradable::{CannotGrade, CannotGradeCode};
use lungdesk_inference::grade::{Reason, RsnaGrade};

use crate::i18n::{Lang, tr, trf};

/// The name of an RSNA grade in `lang`.
pub fn grade_name(lang: Lang, grade: RsnaGrade) -> &'static str {
    lungdesk_store::Grade::from_number(grade as i64).map_or(grade.name(), |g| tr(lang, g.name()))
}

/// One reason in `lang`.
pub fn reason(lang: Lang, r: &Reason) -> String {
    if lang == Lang::En {
        return r.english();
    }
    let pct = |v: f64| format!("{v:.0}");
    match *r {
        Reason::NoOpacity { opacity_percent, lung_ml, opacity_ml } => trf(
            lang,
            "no opacity found ({opacity} % of {lung} mL lung, {ml} mL)",
            &[
                ("opacity", &format!("{opacity_percent:.2}")),
                ("lung", &format!("{lung_ml:.0}")),
                ("ml", &format!("{opacity_ml:.1}")),
            ],
        ),
        Reason::Bilateral => tr(lang, "bilateral").to_owned(),
        Reason::Unilateral => tr(lang, "one lung only (unilateral)").to_owned(),
        Reason::Peripheral { percent } => {
            trf(lang, "{percent} % of opacity in the outer third (peripheral)", &[("percent", &pct(percent))])
        }
        Reason::Perihilar { percent } => {
            trf(lang, "{percent} % in the inner third (perihilar)", &[("percent", &pct(percent))])
        }
        Reason::Foci { foci, ground_glass } => {
            trf(lang, "{foci} focus/foci, {ggo} of them ground glass", &[("foci", &foci), ("ggo", &ground_glass)])
        }
        Reason::Mix { ggo_percent, consolidation_percent, opacity_percent } => trf(
            lang,
            "ground glass {ggo} % and consolidation {cons} % of opacity ({opacity} % of lung)",
            &[
                ("ggo", &pct(ggo_percent)),
                ("cons", &pct(consolidation_percent)),
                ("opacity", &format!("{opacity_percent:.1}")),
            ],
        ),
        Reason::IsolatedConsolidation { solid_foci } => {
            trf(lang, "isolated consolidation ({n} solid focus/foci) without ground glass", &[("n", &solid_foci)])
        }
        Reason::Nodules { nodules } => trf(lang, "{n} discrete small nodules", &[("n", &nodules)]),
        Reason::Mass { masses } => trf(lang, "{n} solid mass(es) of 3 cm or more", &[("n", &masses)]),
        Reason::Diffuse { zones } => trf(lang, "diffuse: {zones} of 6 zones involved", &[("zones", &zones)]),
        Reason::Mixed => tr(lang, "typical features mixed with atypical ones").to_owned(),
    }
}

/// What the store keeps of a pre-read of series `series_uid`: the grade with its scores,
/// involvement and severity, or "cannot grade" with its code and reason; `None` when the
/// analysis holds neither.
pub fn ai_result(a: &Analysis, series_uid: &str) -> Option<lungdesk_store::AiResult> {
    use lungdesk_store::{AiCannotGrade, Grade};
    let grade = a.prediction.as_ref().and_then(|p| Grade::from_number(p.grade as i64));
    let cannot_grade =
        a.cannot_grade.as_ref().map(|c| AiCannotGrade { code: c.code.as_str().to_owned(), reason: c.reason.clone() });
    if grade.is_none() == cannot_grade.is_none() {
        return None;
    }
    let q = &a.quantification;
    Some(lungdesk_store::AiResult {
        series_uid: series_uid.to_owned(),
        grade,
        cannot_grade,
        scores: a.prediction.as_ref().map_or([0.0; 4], |p| p.scores),
        explanation: explanation(Lang::En, a),
        method: a.method.clone(),
        models: a.models.clone(),
        involvement_percent: grade.map(|_| q.opacity_percent).filter(|p| p.is_finite()),
        severity_score: grade.map(|_| q.severity_score),
    })
}

/// The grade's explanation in `lang`; for a series the AI cannot grade, why.
pub fn explanation(lang: Lang, a: &Analysis) -> String {
    match (&a.prediction, &a.cannot_grade) {
        (Some(p), _) if lang == Lang::En => p.explanation.clone(),
        (Some(p), _) => {
            let parts: Vec<String> = p.reasons.iter().map(|r| reason(lang, r)).collect();
            format!("{} → {}", parts.join("; "), grade_name(lang, p.grade))
        }
        (None, Some(c)) => cannot_grade(lang, c),
        (None, None) => String::new(),
    }
}

/// Why the AI cannot grade, in `lang` (English: the reason with its numbers).
pub fn cannot_grade(lang: Lang, c: &CannotGrade) -> String {
    if lang == Lang::En {
        return c.reason.clone();
    }
    cannot_grade_code(lang, c.code).to_owned()
}

/// The short reason of a code in `lang`, for the worklist.
pub fn cannot_grade_code(lang: Lang, code: CannotGradeCode) -> &'static str {
    tr(
        lang,
        match code {
            CannotGradeCode::SingleSlice => "a single slice cannot be graded",
            CannotGradeCode::TooFewSlices => "too few slices to grade",
            CannotGradeCode::TooLittleCoverage => "too little head-to-foot coverage to grade",
            CannotGradeCode::SlicesTooThick => "slices too thick to grade",
            CannotGradeCode::Oblique => "an oblique series cannot be read as axial",
            CannotGradeCode::NotChestCt => "not a chest CT",
            CannotGradeCode::NoLung => "no lung found: the AI cannot read this scan",
            CannotGradeCode::ImplausibleLung => "the lung found is implausible",
        },
    )
}

/// The worklist's AI cell: the grade's number, or "—" and why the AI cannot grade.
pub fn ai_grade_cell(lang: Lang, r: &lungdesk_store::CaseRow) -> String {
    match (r.ai_grade, &r.ai_cannot_grade) {
        (Some(g), _) => match r.ai_confidence {
            Some(p) => format!("{} ({:.0} %)", g.number(), p * 100.0),
            None => g.number().to_string(),
        },
        (None, Some(code)) => format!("— {}", cannot_grade_reason(lang, code, "")),
        (None, None) => "—".into(),
    }
}

/// A "cannot grade" in `lang`: the known code's short reason, else the stored text.
pub fn cannot_grade_reason(lang: Lang, code: &str, reason: &str) -> String {
    match lungdesk_inference::gradable::CannotGradeCode::parse(code) {
        Some(c) if lang == Lang::Ja || reason.is_empty() => cannot_grade_code(lang, c).to_owned(),
        _ if !reason.is_empty() => reason.to_owned(),
        _ => code.to_owned(),
    }
}
