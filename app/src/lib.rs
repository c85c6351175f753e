//! LungDesk's application library: the command line today, the review UI as it arrives.
//! Kept out of `main.rs` so that it can be tested.

pub mod ai_text;
pub mod background;
pub mod batch;
pub mod cli;
pub mod cloud_ui;
pub mod desk;
pub mod dialog;
pub mod error;
pub mod fonts;
pub mod i18n;
pub mod inspect;
pub mod series_text;
pub mod sync;
pub mod theme;
pub mod viewer;
