//! Fonts: egui's own, with a Japanese fallback (a subset of Noto Sans CJK JP, SIL OFL 1.1,
//! see `assets/fonts/README.md`), so Japanese UI text and notes render with no missing glyphs.

use std::sync::Arc;

use egui::{FontData, FontDefinitions, FontFamily};

/// The bundled Japanese font.
pub const CJK_FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSansCJKjp-Regular-subset.otf");
const CJK_NAME: &str = "noto-sans-cjk-jp-subset";

/// egui's default fonts plus the Japanese fallback for every family.
pub fn definitions() -> FontDefinitions {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert(CJK_NAME.to_owned(), Arc::new(FontData::from_static(CJK_FONT)));
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push(CJK_NAME.to_owned());
    }
    fonts
}

/// Installs [`definitions`] in `ctx`.
pub fn install(ctx: &egui::Context) {
    ctx.set_fonts(definitions());
}
