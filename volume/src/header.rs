//! Per-file DICOM header facts that series assembly needs, read without pixel data.
//!
//! Only technical attributes are kept. Patient name, ID and birth date are never read into
//! these structures, so nothing built from them (inspect output, exports, logs) can leak them.

use std::path::{Path, PathBuf};

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, mem::InMemElement};
use glam::DVec3;
use serde::Serialize;

use crate::error::FileError;
use crate::limits;

/// Where a file stands after its header was read.
#[derive(Debug, Clone)]
pub enum HeaderOutcome {
    /// A single- or multi-frame image with the attributes below.
    Image(Box<SliceHeader>),
    /// A DICOM object that holds no image (structured report, SEG without a source, …).
    NotImage { path: PathBuf, sop_class_uid: String, modality: String, why: String },
}

/// The technical header of one image file.
#[derive(Debug, Clone, Serialize)]
pub struct SliceHeader {
    pub path: PathBuf,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub modality: String,
    /// Series Description: free text from the scanner. Shown to the user by `inspect`, never
    /// written to logs, exports or sync payloads.
    #[serde(skip)]
    pub series_description: String,
    /// Frame of Reference UID (0020,0052); empty when missing.
    pub frame_of_reference_uid: String,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
    pub transfer_syntax_uid: String,
    pub instance_number: Option<i32>,
    pub rows: u16,
    pub cols: u16,
    pub number_of_frames: u32,
    pub samples_per_pixel: u16,
    pub photometric: String,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub pixel_representation: u16,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    /// Pixel Padding Value, in stored units (before rescale).
    pub pixel_padding_value: Option<i32>,
    /// Image Position (Patient): centre of the first voxel, LPS, mm.
    pub position_mm: Option<[f64; 3]>,
    /// Image Orientation (Patient): row direction then column direction cosines (LPS).
    pub orientation: Option<[f64; 6]>,
    /// Pixel Spacing: between rows, then between columns (mm).
    pub pixel_spacing_mm: Option<[f64; 2]>,
    pub slice_thickness_mm: Option<f64>,
    pub gantry_tilt_deg: Option<f64>,
    pub acquisition_date: Option<String>,
    pub study_date: Option<String>,
    pub patient_age: Option<String>,
    pub patient_sex: Option<String>,
    /// Lossy Image Compression (0028,2110) is "01".
    pub lossy_image_compression: bool,
}

/// Transfer syntaxes whose pixel encoding loses information.
pub const LOSSY_TRANSFER_SYNTAXES: &[&str] = &[
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.53",
    "1.2.840.10008.1.2.4.55",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.203",
];

impl SliceHeader {
    /// A 1×1 signed 16-bit CT slice with no geometry, for unit tests to adjust.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::blank()
    }

    /// A 1×1 signed 16-bit CT slice with no geometry.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn blank() -> Self {
        Self {
            path: "test.dcm".into(),
            study_uid: "1".into(),
            series_uid: "2".into(),
            sop_instance_uid: "3".into(),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            modality: "CT".into(),
            series_description: String::new(),
            frame_of_reference_uid: String::new(),
            series_number: None,
            transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
            instance_number: None,
            rows: 1,
            cols: 1,
            number_of_frames: 1,
            samples_per_pixel: 1,
            photometric: "MONOCHROME2".into(),
            bits_allocated: 16,
            bits_stored: 16,
            pixel_representation: 1,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            pixel_padding_value: None,
            position_mm: None,
            orientation: None,
            pixel_spacing_mm: None,
            slice_thickness_mm: None,
            gantry_tilt_deg: None,
            acquisition_date: None,
            study_date: None,
            patient_age: None,
            patient_sex: None,
            lossy_image_compression: false,
        }
    }

    /// Pixels went through lossy compression, now or earlier in their life.
    pub fn is_lossy(&self) -> bool {
        self.lossy_image_compression || LOSSY_TRANSFER_SYNTAXES.contains(&self.transfer_syntax_uid.as_str())
    }
    pub fn position(&self) -> Option<DVec3> {
        self.position_mm.map(DVec3::from_array)
    }
    pub fn row_dir(&self) -> Option<DVec3> {
        self.orientation.map(|o| DVec3::new(o[0], o[1], o[2]))
    }
    pub fn col_dir(&self) -> Option<DVec3> {
        self.orientation.map(|o| DVec3::new(o[3], o[4], o[5]))
    }
}

/// SOP classes that can never be a slice of a volume.
const NON_IMAGE_SOP_PREFIXES: &[(&str, &str)] = &[
    ("1.2.840.10008.5.1.4.1.1.88.", "structured report"),
    ("1.2.840.10008.5.1.4.1.1.66.4", "segmentation object"),
    ("1.2.840.10008.5.1.4.1.1.481.", "radiotherapy object"),
    ("1.2.840.10008.5.1.4.1.1.11.", "presentation state"),
    ("1.2.840.10008.5.1.4.1.1.104.", "encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.66", "raw data / registration"),
];

/// Reads the header of `path`, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<HeaderOutcome, FileError> {
    let obj = crate::open::open(path, true)?;
    Ok(header_from_object(path, &obj, false))
}

/// Builds the header from an already opened object. `has_pixels_loaded` tells whether the object
/// was read with its pixel data, in which case the presence check is exact.
pub(crate) fn header_from_object(path: &Path, obj: &DefaultDicomObject, has_pixels_loaded: bool) -> HeaderOutcome {
    let sop_class_uid = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    let modality = text(obj, tags::MODALITY).unwrap_or_default();
    if let Some((_, kind)) = NON_IMAGE_SOP_PREFIXES.iter().find(|(prefix, _)| sop_class_uid.starts_with(prefix)) {
        return HeaderOutcome::NotImage {
            path: path.to_owned(),
            sop_class_uid,
            modality,
            why: format!("{kind}, not an image"),
        };
    }
    let rows = uint(obj, tags::ROWS);
    let cols = uint(obj, tags::COLUMNS);
    let (Some(rows), Some(cols)) = (rows, cols) else {
        return HeaderOutcome::NotImage {
            path: path.to_owned(),
            sop_class_uid,
            modality,
            why: "no Rows/Columns: not an image".into(),
        };
    };
    // Checked here, before any size is computed from them.
    let frames = float(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1.0);
    if let Some(why) = unusable_size(rows, cols, frames) {
        return HeaderOutcome::NotImage { path: path.to_owned(), sop_class_uid, modality, why };
    }
    if has_pixels_loaded && obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return HeaderOutcome::NotImage {
            path: path.to_owned(),
            sop_class_uid,
            modality,
            why: "no Pixel Data element".into(),
        };
    }
    // Empty when missing: a single file still decodes; the scan sets such files aside.
    let series_uid = text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default();
    let bits_allocated = uint(obj, tags::BITS_ALLOCATED).unwrap_or(16);
    let header = SliceHeader {
        path: path.to_owned(),
        study_uid: text(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        series_uid,
        sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        sop_class_uid,
        modality,
        series_description: text(obj, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        frame_of_reference_uid: text(obj, tags::FRAME_OF_REFERENCE_UID).unwrap_or_default(),
        series_number: float(obj, tags::SERIES_NUMBER).filter(|n| n.is_finite()).map(|n| n as i64),
        transfer_syntax_uid: obj.meta().transfer_syntax().trim_end_matches('\0').to_owned(),
        instance_number: float(obj, tags::INSTANCE_NUMBER).map(|v| v as i32),
        rows,
        cols,
        number_of_frames: (frames as u32).max(1),
        samples_per_pixel: uint(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        photometric: text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
        bits_allocated,
        bits_stored: uint(obj, tags::BITS_STORED).unwrap_or(bits_allocated),
        pixel_representation: uint(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0),
        // Missing means 1; a present 0 is refused below, not taken as 1.
        rescale_slope: float(obj, tags::RESCALE_SLOPE).unwrap_or(1.0),
        rescale_intercept: float(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        pixel_padding_value: obj
            .element_opt(tags::PIXEL_PADDING_VALUE)
            .ok()
            .flatten()
            .and_then(|e| e.to_int::<i32>().ok()),
        position_mm: floats::<3>(obj, tags::IMAGE_POSITION_PATIENT),
        orientation: floats::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT),
        pixel_spacing_mm: floats::<2>(obj, tags::PIXEL_SPACING),
        slice_thickness_mm: float(obj, tags::SLICE_THICKNESS),
        gantry_tilt_deg: float(obj, tags::GANTRY_DETECTOR_TILT),
        acquisition_date: text(obj, tags::ACQUISITION_DATE),
        study_date: text(obj, tags::STUDY_DATE),
        patient_age: text(obj, tags::PATIENT_AGE),
        patient_sex: text(obj, tags::PATIENT_SEX),
        lossy_image_compression: text(obj, tags::LOSSY_IMAGE_COMPRESSION).is_some_and(|v| v == "01"),
    };
    if let Some(why) = unusable_pixel_values(&header) {
        return HeaderOutcome::NotImage {
            path: path.to_owned(),
            sop_class_uid: header.sop_class_uid,
            modality: header.modality,
            why,
        };
    }
    HeaderOutcome::Image(Box::new(header))
}

/// Why Rows, Columns or Number of Frames cannot be decoded, if they cannot: an empty image, or
/// a size over the named limits of [`limits`].
fn unusable_size(rows: u16, cols: u16, frames: f64) -> Option<String> {
    if rows == 0 || cols == 0 {
        return Some(format!("Rows × Columns is {cols}×{rows}: an empty image"));
    }
    if rows > limits::MAX_ROWS_OR_COLUMNS || cols > limits::MAX_ROWS_OR_COLUMNS {
        return Some(format!(
            "Rows × Columns is {cols}×{rows}, over the limit of {} per side",
            limits::MAX_ROWS_OR_COLUMNS
        ));
    }
    (frames > f64::from(limits::MAX_FRAMES))
        .then(|| format!("Number of Frames {frames} is over the limit of {}", limits::MAX_FRAMES))
}

/// The largest |Rescale Slope| and |Rescale Intercept| taken as meant: beyond them no CT value
/// fits 16 bits of HU, so the file is damaged or hostile.
const MAX_RESCALE_SLOPE: f64 = 1000.0;
const MAX_RESCALE_INTERCEPT: f64 = 100_000.0;

/// Why the pixel values of `h` cannot become HU, if they cannot: Bits Stored of 0 or over
/// Bits Allocated, a Rescale Slope of 0, non-finite or absurd, a non-finite or absurd
/// intercept. Refused, never guessed: garbage HU would look like an image.
fn unusable_pixel_values(h: &SliceHeader) -> Option<String> {
    if h.bits_stored == 0 || h.bits_stored > h.bits_allocated {
        return Some(format!(
            "Bits Stored {} with Bits Allocated {}: the pixel values are unusable",
            h.bits_stored, h.bits_allocated
        ));
    }
    let slope = h.rescale_slope;
    if !slope.is_finite() || slope == 0.0 || slope.abs() > MAX_RESCALE_SLOPE || slope.abs() < 1.0 / MAX_RESCALE_SLOPE {
        return Some(format!("Rescale Slope {slope} is unusable"));
    }
    if !h.rescale_intercept.is_finite() || h.rescale_intercept.abs() > MAX_RESCALE_INTERCEPT {
        return Some(format!("Rescale Intercept {} is unusable", h.rescale_intercept));
    }
    None
}

fn element(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<&InMemElement> {
    obj.element_opt(tag).ok().flatten()
}

/// Text of an element. An element stored with VR UN (unknown) holds its raw bytes.
pub(crate) fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let e = element(obj, tag)?;
    let raw = if e.vr() == VR::UN {
        String::from_utf8_lossy(&e.to_bytes().ok()?).into_owned()
    } else {
        e.to_str().ok()?.into_owned()
    };
    Some(raw.trim_end_matches(['\0', ' ']).trim().to_owned())
}

/// An unsigned short (US). With VR UN, the two raw bytes are read little-endian.
pub(crate) fn uint(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<u16> {
    let e = element(obj, tag)?;
    if e.vr() == VR::UN {
        let b = e.to_bytes().ok()?;
        return Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]));
    }
    e.to_int::<u16>().ok()
}

/// A single number from a DS/IS/FD value. With VR UN, the bytes are read as a decimal string.
pub(crate) fn float(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<f64> {
    floats_dyn(obj, tag)?.first().copied()
}

fn floats_dyn(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    let e = element(obj, tag)?;
    let values = if e.vr() == VR::UN {
        text(obj, tag)?.split('\\').map(|v| v.trim().parse::<f64>()).collect::<Result<Vec<_>, _>>().ok()?
    } else {
        e.to_multi_float64().ok()?
    };
    values.iter().all(|v| v.is_finite()).then_some(values)
}

fn floats<const N: usize>(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<[f64; N]> {
    floats_dyn(obj, tag)?.get(..N)?.try_into().ok()
}
