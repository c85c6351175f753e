//! A series as the series switcher and the viewer's picker name it.

use lungdesk_volume::SeriesInfo;

use crate::i18n::{Lang, tr, trf};

/// "#3 · Axial · 240 images · 1.25 mm · 2020-04-01 · Thorax 1.0 B70f": series number, plane,
/// images, thickness, date and description, each left out when the headers lack it.
pub fn series_label(lang: Lang, s: &SeriesInfo) -> String {
    let mut parts = Vec::new();
    if let Some(n) = s.series_number {
        parts.push(format!("#{n}"));
    }
    if !s.is_ct() && !s.modality.is_empty() {
        parts.push(s.modality.clone());
    }
    parts.push(tr(lang, s.plane.name()).to_owned());
    parts.push(trf(lang, "{n} images", &[("n", &s.slices)]));
    if let Some(t) = s.thickness_mm {
        parts.push(format!("{} mm", thickness_text(t)));
    }
    if let Some(d) = s.date.as_deref().filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())) {
        parts.push(format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]));
    }
    let description = s.description.trim();
    if !description.is_empty() {
        parts.push(description.to_owned());
    }
    parts.join(" · ")
}

/// A thickness in mm to two decimals, without trailing zeros: 1.25, 5, 0.6.
pub fn thickness_text(mm: f64) -> String {
    let t = format!("{mm:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use lungdesk_volume::Plane;

    use super::*;

    #[test]
    fn a_series_is_named_by_number_plane_images_thickness_date_and_description() {
        let s = SeriesInfo {
            series_uid: "1.2.3".into(),
            modality: "CT".into(),
            plane: Plane::Axial,
            slices: 240,
            thickness_mm: Some(1.25),
            coverage_mm: Some(300.0),
            series_number: Some(3),
            date: Some("20200401".into()),
            description: "Thorax 1.0 B70f".into(),
        };
        assert_eq!(series_label(Lang::En, &s), "#3 · Axial · 240 images · 1.25 mm · 2020-04-01 · Thorax 1.0 B70f");
        let bare =
            SeriesInfo { series_number: None, thickness_mm: Some(5.0), date: None, description: " ".into(), ..s };
        assert_eq!(series_label(Lang::En, &bare), "Axial · 240 images · 5 mm");
        assert_eq!(series_label(Lang::Ja, &bare), "軸位断 · 240 枚 · 5 mm");
    }
}
