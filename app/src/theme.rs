//! Colours of the desk and the viewer, in one place.

use egui::Color32;
use lungdesk_store::CaseStatus;

/// Errors and refusals.
pub const ERROR: Color32 = Color32::from_rgb(255, 120, 100);
/// Done, saved.
pub const OK: Color32 = Color32::from_rgb(140, 220, 140);
/// Worth a look: another reader's grade differs.
pub const WARN: Color32 = Color32::from_rgb(255, 170, 90);

/// Behind the "editing confirmed revision" banner.
pub const EDITING_FILL: Color32 = Color32::from_rgb(70, 48, 20);

/// A worklist status's colour.
pub fn status(s: CaseStatus) -> Color32 {
    match s {
        CaseStatus::New => Color32::from_gray(200),
        CaseStatus::AiDone => Color32::from_rgb(140, 180, 255),
        CaseStatus::InReview => Color32::from_rgb(255, 210, 110),
        CaseStatus::Confirmed => Color32::from_rgb(130, 220, 130),
        CaseStatus::NeedsAdjudication => Color32::from_rgb(255, 130, 110),
    }
}
