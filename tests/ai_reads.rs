//! The AI pre-read end to end through `lungdesk analyze --json`: what it cannot grade comes
//! back as grade `null` with a reason code, never as a grade; a coronal series is read as
//! axial and graded like the axial original.
//!
//! Real files: a single axial CT slice (cornerstone3D), a two-slice chest CT (lungmask test
//! data), RICORD. SYNTHETIC: a single sagittal phantom slice, and a phantom body without lungs
//! standing in for a non-chest CT.

use std::path::Path;

use clap::Parser as _;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use glam::DVec3;
use lungdesk::cli::{Cli, run};
use lungdesk_tests::real_data;
use lungdesk_volume::phantom::{Anatomy, PhantomSpec, SliceOrientation, write_anatomy_series};

fn analyze_json(dir: &Path) -> serde_json::Value {
    let args = ["lungdesk", "analyze", &dir.to_string_lossy(), "--json", "-", "--no-cache"];
    let cli = Cli::try_parse_from(args).expect("arguments");
    let mut out = Vec::new();
    run(cli, &mut out).expect("analyze");
    serde_json::from_slice(&out).expect("JSON")
}

fn assert_cannot_grade(report: &serde_json::Value, code: &str) {
    assert!(report["grade"].is_null(), "no grade: {report:#}");
    assert!(report["prediction"].is_null(), "no prediction: {report:#}");
    assert_eq!(report["cannot_grade"]["code"], code, "{report:#}");
    assert!(report["cannot_grade"]["reason"].as_str().is_some_and(|r| r.len() > 20), "{report:#}");
}

#[test]
fn a_single_axial_slice_cannot_be_graded() {
    let Some(file) =
        real_data("dicom/transfer-syntaxes/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&file, dir.path().join("slice.dcm")).expect("copy");
    assert_cannot_grade(&analyze_json(dir.path()), "single_slice");
}

#[test]
fn a_single_sagittal_slice_cannot_be_graded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = PhantomSpec {
        dims: [128, 128, 1],
        orientation: SliceOrientation::Sagittal,
        seed: 31,
        ..PhantomSpec::default()
    };
    write_anatomy_series(&spec, &Anatomy::new(31, None), dir.path()).expect("phantom");
    assert_cannot_grade(&analyze_json(dir.path()), "single_slice");
}

#[test]
fn a_two_slice_series_cannot_be_graded() {
    let Some(dir) = real_data("dicom/lungmask-slices") else { return };
    assert_cannot_grade(&analyze_json(&dir), "too_few_slices");
}

#[test]
fn a_series_that_is_not_a_chest_ct_cannot_be_graded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = PhantomSpec { dims: [96, 96, 60], seed: 32, ..PhantomSpec::default() };
    write_anatomy_series(&spec, &Anatomy::new(32, None).without_lungs(), dir.path()).expect("phantom");
    let report = analyze_json(dir.path());
    assert_cannot_grade(&report, "not_chest_ct");
    assert!(report["cannot_grade"]["reason"].as_str().is_some_and(|r| r.contains("0 mL of air")), "{report:#}");
}

/// Writes `volume` (axial) as coronal slices: rows run from head to foot, columns from right
/// to left, one file per row of the axial grid, stored as signed 16-bit HU.
fn write_coronal(volume: &lungdesk_volume::Volume, dir: &Path) {
    let [nx, ny, nz] = volume.geometry.dims;
    let g = &volume.geometry;
    let axes = g.axes();
    assert!(axes[0].x > 0.99 && axes[1].y > 0.99 && axes[2].z > 0.99, "RICORD reads i→L j→P k→S");
    std::fs::create_dir_all(dir).expect("dir");
    let uid = |parts: &str| format!("2.25.4242{parts}");
    for j in 0..ny {
        let mut pixels = Vec::with_capacity(nx * nz);
        for row in 0..nz {
            let k = nz - 1 - row; // the first row is the most superior slice
            pixels.extend_from_slice(&volume.voxels_hu[(k * ny + j) * nx..(k * ny + j) * nx + nx]);
        }
        let position = g.patient_from_voxel_point(DVec3::new(0.0, j as f64, (nz - 1) as f64));
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag, vr, value: PrimitiveValue| obj.put(DataElement::new(tag, vr, value));
        let sop = uid(&format!("3{j}"));
        let ds = |v: &[f64]| PrimitiveValue::Strs(v.iter().map(|x| format!("{x:.6}")).collect());
        put(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2".into());
        put(tags::SOP_INSTANCE_UID, VR::UI, sop.clone().into());
        put(tags::STUDY_INSTANCE_UID, VR::UI, uid("1").into());
        put(tags::SERIES_INSTANCE_UID, VR::UI, uid("2").into());
        put(tags::MODALITY, VR::CS, "CT".into());
        put(tags::STUDY_DATE, VR::DA, "20200401".into());
        put(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&position.to_array()));
        put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&[1.0, 0.0, 0.0, 0.0, 0.0, -1.0]));
        put(tags::PIXEL_SPACING, VR::DS, ds(&[g.spacing_mm[2], g.spacing_mm[0]]));
        put(tags::SLICE_THICKNESS, VR::DS, ds(&[g.spacing_mm[1]]));
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into());
        put(tags::ROWS, VR::US, PrimitiveValue::from(u16::try_from(nz).expect("rows")));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(u16::try_from(nx).expect("columns")));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(1u16));
        put(tags::RESCALE_INTERCEPT, VR::DS, "0".into());
        put(tags::RESCALE_SLOPE, VR::DS, "1".into());
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::I16(pixels.into()));
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax("1.2.840.10008.1.2.1")
                    .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                    .media_storage_sop_instance_uid(sop),
            )
            .expect("meta");
        file.write_to_file(dir.join(format!("coronal_{j:04}.dcm"))).expect("write");
    }
}

/// RICORD written as 512 coronal slices is read as axial and gets the axial series' grade,
/// with its volumes within a few percent.
#[test]
fn ricord_as_coronal_slices_gets_the_axial_grade() {
    let Some(axial_dir) = real_data("ct/ricord-1a-covid") else { return };
    let volume = lungdesk_volume::load_folder(&axial_dir, None).expect("RICORD");
    let dir = tempfile::tempdir().expect("tempdir");
    write_coronal(&volume, dir.path());
    drop(volume);
    let axial = analyze_json(&axial_dir);
    let coronal = analyze_json(dir.path());
    assert_eq!(coronal["read_as"], "coronal series read as axial slices", "{coronal:#}");
    assert!(axial["grade"].is_u64(), "{axial:#}");
    assert_eq!(coronal["grade"], axial["grade"], "same grade");
    for field in ["lung_ml", "ggo_ml", "consolidation_ml"] {
        let (a, c) = (axial["quantification"][field].as_f64(), coronal["quantification"][field].as_f64());
        let (a, c) = (a.expect("axial number"), c.expect("coronal number"));
        assert!((c - a).abs() <= 0.03 * a.max(1.0), "{field}: axial {a:.1} mL, coronal {c:.1} mL");
    }
}
