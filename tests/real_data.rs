//! The loader against real files from `../shared/data`, checked against pydicom.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use lungdesk_tests::{real_data, reference, sha256_hu};
use lungdesk_volume::decode::read_frame_hu;
use lungdesk_volume::{FileError, load_folder};

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}

fn check_series_against_pydicom(rel: &str) {
    let Some(dir) = real_data(rel) else { return };
    let volume = load_folder(&dir, None).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let r = &reference("series.json")[rel];
    let dims: Vec<usize> = volume.geometry.dims.to_vec();
    assert_eq!(serde_json::json!(dims), r["dims"], "{rel}: dims");
    for a in 0..3 {
        assert_close(volume.geometry.spacing_mm[a], r["spacing_mm"][a].as_f64().unwrap_or(f64::NAN), 1e-6, "spacing");
    }
    let m = volume.geometry.patient_from_voxel;
    for row in 0..4 {
        for col in 0..4 {
            let expected = r["patient_from_voxel"][row][col].as_f64().unwrap_or(f64::NAN);
            assert_close(m.col(col)[row], expected, 1e-6, &format!("{rel}: patient_from_voxel[{row}][{col}]"));
        }
    }
    assert_eq!(sha256_hu(&volume.voxels_hu), r["sha256"].as_str().unwrap_or_default(), "{rel}: voxel checksum");
    assert_eq!(
        volume.voxels_hu.iter().map(|&v| i64::from(v)).sum::<i64>(),
        r["sum"].as_i64().unwrap_or_default(),
        "{rel}: voxel sum"
    );
}

#[test]
fn ricord_covid_series_matches_pydicom() {
    let Some(dir) = real_data("ct/ricord-1a-covid") else { return };
    let volume = load_folder(&dir, None).expect("RICORD loads");
    assert_eq!(volume.geometry.dims, [512, 512, 255]);
    assert_close(volume.geometry.spacing_mm[0], 0.703_125, 1e-6, "column spacing");
    assert_close(volume.geometry.spacing_mm[1], 0.703_125, 1e-6, "row spacing");
    assert_close(volume.geometry.spacing_mm[2], 1.25, 1e-6, "slice spacing");
    // Axial, head-first supine: i → patient left, j → posterior, k → superior.
    assert_eq!(volume.geometry.orientation_code(), "LPS");
    assert_eq!(volume.geometry.plane(), "axial");
    assert!(volume.problems.is_empty(), "{:?}", volume.problems);
    // Padding outside the reconstruction circle stays recognisable.
    assert_eq!(volume.get(0, 0, 0), -3024);
    assert_eq!(volume.padding_hu, -3024);
    check_series_against_pydicom("ct/ricord-1a-covid");
}

#[test]
fn other_real_series_match_pydicom() {
    for rel in ["ct/lung-pet-ct-dx-a0002", "dicom/seg-3slice/ct-3slice", "dicom/lungmask-slices"] {
        check_series_against_pydicom(rel);
    }
}

#[test]
fn thick_slice_control_has_8_mm_spacing() {
    let Some(dir) = real_data("ct/lung-pet-ct-dx-a0002") else { return };
    let volume = load_folder(&dir, None).expect("loads");
    assert_eq!(volume.geometry.dims, [512, 512, 30]);
    assert_close(volume.geometry.spacing_mm[2], 8.0, 1e-3, "slice spacing");
}

/// How far each CT variant may stray from the uncompressed slice, and why.
/// (max |ΔHU| over the slice, mean |ΔHU|)
fn tolerance(ts: &str) -> (i32, f64, &'static str) {
    match ts {
        // Lossy: the encoder decided the error. Bounds are the error measured on this file
        // (2026-11-22) with a small margin, so a decoder regression shows up.
        "1.2.840.10008.1.2.4.50" => (80, 25.0, "8-bit baseline JPEG of a 16-bit CT: HU quantised to 8 bits"),
        "1.2.840.10008.1.2.4.51" => (48, 5.0, "12-bit extended JPEG, stored with slope 2: DCT error plus quantisation"),
        "1.2.840.10008.1.2.4.53" | "1.2.840.10008.1.2.4.55" => (48, 5.0, "12-bit progressive JPEG, as .51"),
        "1.2.840.10008.1.2.4.81" => (1, 1.0, "JPEG-LS near-lossless with NEAR = 1: |error| ≤ 1 per sample"),
        "1.2.840.10008.1.2.4.91" => (8, 1.0, "JPEG 2000 irreversible wavelet"),
        _ => (0, 0.0, "lossless"),
    }
}

#[test]
fn every_ct_transfer_syntax_decodes_to_the_uncompressed_hu() {
    let Some(dir) = real_data("dicom/transfer-syntaxes") else { return };
    let (_, reference_hu) = read_frame_hu(&dir.join("CTImage.dcm"), 0).expect("uncompressed reference");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if !name.starts_with("CTImage.dcm_") {
            continue;
        }
        let (header, hu) = match read_frame_hu(&path, 0) {
            Ok(decoded) => decoded,
            Err(e) => panic!("{name} failed to decode: {e}"),
        };
        let (max_allowed, mean_allowed, why) = tolerance(&header.transfer_syntax_uid);
        let diffs: Vec<i32> =
            hu.iter().zip(&reference_hu).map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs()).collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        eprintln!("{} max |ΔHU| {max}, mean {mean:.3} ({why})", header.transfer_syntax_uid);
        assert!(
            max <= max_allowed && mean <= mean_allowed,
            "{name}: max {max} mean {mean:.3} > {max_allowed}/{mean_allowed} ({why})"
        );
        checked.push(header.transfer_syntax_uid);
    }
    checked.sort();
    let expected = [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.53",
        "1.2.840.10008.1.2.4.55",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
    ];
    assert_eq!(checked, expected);
}

const LOSSY: &[&str] =
    &["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91"];

/// Every single file in the transfer-syntax and codec edge-case folders: decode to what
/// pydicom decodes, or fail with a clear error. Never a panic.
#[test]
fn single_files_match_pydicom_or_fail_clearly() {
    let Some(data) = real_data("dicom") else { return };
    let references = reference("single-files.json");
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (rel, r) in references.as_object().expect("object") {
        if rel.starts_with('_') {
            continue;
        }
        let path = data.parent().unwrap_or(Path::new(".")).join(rel);
        let outcome = catch_unwind(AssertUnwindSafe(|| read_frame_hu(&path, 0)))
            .unwrap_or_else(|_| panic!("{rel}: decoder panicked"));
        let status = r["status"].as_str().unwrap_or_default();
        match (status, outcome) {
            ("decoded", Ok((header, hu))) => {
                let sum: i64 = hu.iter().map(|&v| i64::from(v)).sum();
                if LOSSY.contains(&header.transfer_syntax_uid.as_str()) {
                    // Lossy JPEG: IDCT implementations differ by a rounding step.
                    let mean_diff = (sum - r["sum"].as_i64().unwrap_or_default()).abs() as f64 / hu.len() as f64;
                    assert!(mean_diff <= 1.0, "{rel}: mean HU differs from pydicom by {mean_diff}");
                    *counts.entry("lossy, within 1 HU mean of pydicom").or_default() += 1;
                } else {
                    assert_eq!(sha256_hu(&hu), r["sha256"].as_str().unwrap_or_default(), "{rel}: differs from pydicom");
                    *counts.entry("identical to pydicom").or_default() += 1;
                }
            }
            ("decoded", Err(e)) => {
                // Allowed only for objects that are not images (an RT dose grid), by name.
                eprintln!("{rel}: pydicom decodes, LungDesk refuses: {e}");
                assert!(
                    matches!(&e, FileError::UnsupportedLayout { detail, .. } if detail.contains("not an image")),
                    "{rel}: pydicom decodes it but LungDesk fails: {e}"
                );
                *counts.entry("not an image (RT dose), refused clearly").or_default() += 1;
            }
            ("colour", outcome) => {
                let e = outcome.expect_err("colour images are refused");
                assert!(e.to_string().contains("samples per pixel"), "{rel}: {e}");
                *counts.entry("colour, refused clearly").or_default() += 1;
            }
            (_, Ok(_)) => *counts.entry("decoded where pydicom cannot").or_default() += 1,
            (_, Err(e)) => {
                assert!(e.to_string().contains(&*path.to_string_lossy()), "{rel}: error does not name the file: {e}");
                *counts.entry("refused clearly (pydicom refuses too)").or_default() += 1;
            }
        }
    }
    eprintln!("{counts:#?}");
    assert!(counts.get("identical to pydicom").copied().unwrap_or(0) >= 40, "{counts:?}");
}
