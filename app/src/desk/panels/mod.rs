//! The desk's panels: each draws from the [`DeskModel`](super::model::DeskModel) and returns
//! what the reader asked for as [`Action`](super::action::Action)s.

pub mod disagreements;
pub mod review;
pub mod shortcuts;
pub mod top_bar;
pub mod worklist;

/// One-frame requests from the model to the widgets (focus, scroll).
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameRequests {
    pub focus_note: bool,
    pub focus_search: bool,
    pub scroll_to_current: bool,
    /// The import path field gets the keyboard (`true`: its path was not accepted, or there
    /// is no folder dialog) or gives it up (`false`: its import started).
    pub import_focus: Option<bool>,
}
