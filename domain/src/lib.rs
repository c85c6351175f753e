//! The labelling vocabulary shared by the desk's store and the cloud service: RSNA chest-CT
//! grades, PCR status, findings, the sync payload (`lungdesk-label/1`) with its whitelist, and
//! the prefecture of a Japanese postal code. Pure data, no I/O.

pub mod agreement;
mod ai_read;
pub mod drift;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod payload;
mod prefecture;

pub use agreement::{Confusion4, Kappa};
pub use ai_read::{AI_READ_SCHEMA, AiReadPayload, is_model_set_name};
pub use payload::{LABEL_SCHEMA, LabelPayload, PayloadProblem, SharedLabel, age_band_start};
pub use prefecture::{PREFECTURES, prefecture_of_postal_code};

use serde::{Deserialize, Serialize};

/// RSNA chest-CT category of COVID-19 pneumonia (Simpson et al. 2020). The number is the key
/// the reader presses and the value stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Typical = 1,
    Indeterminate = 2,
    Atypical = 3,
    Negative = 4,
}

impl Grade {
    pub const ALL: [Grade; 4] = [Grade::Typical, Grade::Indeterminate, Grade::Atypical, Grade::Negative];

    pub fn from_number(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|g| *g as i64 == n)
    }
    pub fn number(self) -> u8 {
        self as u8
    }
    /// English name, as in the RSNA consensus statement.
    pub fn name(self) -> &'static str {
        match self {
            Grade::Typical => "Typical",
            Grade::Indeterminate => "Indeterminate",
            Grade::Atypical => "Atypical",
            Grade::Negative => "Negative for pneumonia",
        }
    }
    /// The stable identifier used in exports and payloads.
    pub fn code(self) -> &'static str {
        match self {
            Grade::Typical => "typical",
            Grade::Indeterminate => "indeterminate",
            Grade::Atypical => "atypical",
            Grade::Negative => "negative",
        }
    }
}

/// SARS-CoV-2 PCR status of the patient at the time of the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pcr {
    Positive,
    Negative,
    Pending,
    NotTested,
}

impl Pcr {
    pub const ALL: [Pcr; 4] = [Pcr::Positive, Pcr::Negative, Pcr::Pending, Pcr::NotTested];

    pub fn code(self) -> &'static str {
        match self {
            Pcr::Positive => "positive",
            Pcr::Negative => "negative",
            Pcr::Pending => "pending",
            Pcr::NotTested => "not_tested",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }
    pub fn name(self) -> &'static str {
        match self {
            Pcr::Positive => "PCR positive",
            Pcr::Negative => "PCR negative",
            Pcr::Pending => "PCR pending",
            Pcr::NotTested => "PCR not tested",
        }
    }
}

/// Optional CT findings the reader may tick (RSNA consensus and Fleischner vocabulary): the
/// seven of COVID-19 pneumonia's differential ([`Finding::PNEUMONIA`]), then four that point
/// to another diagnosis in a grade 3 or 4 case ([`Finding::ALTERNATIVE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    CrazyPaving,
    ReversedHalo,
    OrganizingPneumonia,
    PleuralEffusion,
    Lymphadenopathy,
    TreeInBud,
    Cavitation,
    Mass,
    Emphysema,
    Fibrosis,
    /// Coded as the interchange vocabularies spell it (RadLex "pulmonary edema").
    #[serde(rename = "pulmonary_edema")]
    PulmonaryOedema,
}

impl Finding {
    /// Every finding: [`Self::PNEUMONIA`], then [`Self::ALTERNATIVE`].
    pub const ALL: [Finding; 11] = {
        let mut all = [Finding::CrazyPaving; 11];
        let mut i = 0;
        while i < all.len() {
            all[i] = if i < 7 { Self::PNEUMONIA[i] } else { Self::ALTERNATIVE[i - 7] };
            i += 1;
        }
        all
    };
    /// Findings of the pneumonia's pattern and its differential (keys Ctrl+1 … Ctrl+7).
    pub const PNEUMONIA: [Finding; 7] = [
        Finding::CrazyPaving,
        Finding::ReversedHalo,
        Finding::OrganizingPneumonia,
        Finding::PleuralEffusion,
        Finding::Lymphadenopathy,
        Finding::TreeInBud,
        Finding::Cavitation,
    ];
    /// Findings of an alternative diagnosis (keys Alt+1 … Alt+4).
    pub const ALTERNATIVE: [Finding; 4] =
        [Finding::Mass, Finding::Emphysema, Finding::Fibrosis, Finding::PulmonaryOedema];

    pub fn code(self) -> &'static str {
        match self {
            Finding::CrazyPaving => "crazy_paving",
            Finding::ReversedHalo => "reversed_halo",
            Finding::OrganizingPneumonia => "organizing_pneumonia",
            Finding::PleuralEffusion => "pleural_effusion",
            Finding::Lymphadenopathy => "lymphadenopathy",
            Finding::TreeInBud => "tree_in_bud",
            Finding::Cavitation => "cavitation",
            Finding::Mass => "mass",
            Finding::Emphysema => "emphysema",
            Finding::Fibrosis => "fibrosis",
            Finding::PulmonaryOedema => "pulmonary_edema",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }
    pub fn name(self) -> &'static str {
        match self {
            Finding::CrazyPaving => "Crazy-paving",
            Finding::ReversedHalo => "Reversed halo",
            Finding::OrganizingPneumonia => "Organizing pneumonia pattern",
            Finding::PleuralEffusion => "Pleural effusion",
            Finding::Lymphadenopathy => "Lymphadenopathy",
            Finding::TreeInBud => "Tree-in-bud",
            Finding::Cavitation => "Cavitation",
            Finding::Mass => "Mass",
            Finding::Emphysema => "Emphysema",
            Finding::Fibrosis => "Fibrosis",
            Finding::PulmonaryOedema => "Pulmonary oedema",
        }
    }
}
/// `1130033`, `113-0033` or full-width digits → `113-0033`; anything else → `None`.
pub fn normalise_postal_code(code: &str) -> Option<String> {
    let digits: String = code
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '－' | 'ー' | ' '))
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            _ => c,
        })
        .collect();
    (digits.len() == 7 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("{}-{}", &digits[..3], &digits[3..]))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_are_normalised_or_refused() {
        assert_eq!(normalise_postal_code("1130033").as_deref(), Some("113-0033"));
        assert_eq!(normalise_postal_code(" 113-0033 ").as_deref(), Some("113-0033"));
        assert_eq!(normalise_postal_code("１１３－００３３").as_deref(), Some("113-0033"));
        assert_eq!(normalise_postal_code("113003"), None);
        assert_eq!(normalise_postal_code("11300333"), None);
        assert_eq!(normalise_postal_code("abc-defg"), None);
    }

    #[test]
    fn every_finding_has_one_code_in_serde_and_in_code() {
        for f in Finding::ALL {
            assert_eq!(serde_json::to_string(&f).expect("json"), format!("\"{}\"", f.code()));
            assert_eq!(Finding::from_code(f.code()), Some(f));
        }
        let grouped: Vec<Finding> = Finding::PNEUMONIA.into_iter().chain(Finding::ALTERNATIVE).collect();
        assert_eq!(grouped, Finding::ALL, "the two groups are ALL, in its order");
        assert_eq!(Finding::from_code("pulmonary_edema"), Some(Finding::PulmonaryOedema));
    }

    #[test]
    fn grades_and_codes_round_trip() {
        for g in Grade::ALL {
            assert_eq!(Grade::from_number(i64::from(g.number())), Some(g));
        }
        assert_eq!(Grade::from_number(0), None);
        for p in Pcr::ALL {
            assert_eq!(Pcr::from_code(p.code()), Some(p));
            // The serde name is the code, so payloads and exports agree.
            assert_eq!(serde_json::to_value(p).expect("json"), serde_json::json!(p.code()));
        }
        for f in Finding::ALL {
            assert_eq!(Finding::from_code(f.code()), Some(f));
            assert_eq!(serde_json::to_value(f).expect("json"), serde_json::json!(f.code()));
        }
    }
}
