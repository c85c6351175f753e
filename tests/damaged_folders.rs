//! Damaged and unusual folders, built from the SYNTHETIC phantom: each gives the documented
//! result (README, "What the loader does with damaged folders").

use std::path::{Path, PathBuf};

use glam::DVec3;
use lungdesk_tests::sha256_hu;
use lungdesk_volume::phantom::{PhantomSpec, SliceOrientation, phantom_geometry, write_phantom_series};
use lungdesk_volume::{Problem, Progress, Volume, VolumeError, load_folder, scan};

fn small_spec() -> PhantomSpec {
    PhantomSpec { dims: [48, 40, 24], ..PhantomSpec::default() }
}

fn phantom(dir: &Path, spec: &PhantomSpec) -> Vec<PathBuf> {
    write_phantom_series(spec, dir).expect("phantom written").files
}

fn load(dir: &Path) -> Volume {
    load_folder(dir, None).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn reference_volume() -> Volume {
    let dir = tempfile::tempdir().expect("tempdir");
    phantom(dir.path(), &small_spec());
    load(dir.path())
}

#[test]
fn shuffled_file_names_give_the_same_volume() {
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    // Names in an order unrelated to position: a fixed permutation (7 is coprime to 24).
    for (n, f) in files.iter().enumerate() {
        std::fs::rename(f, dir.path().join(format!("tmp_{n}"))).expect("rename");
    }
    for n in 0..files.len() {
        let permuted = format!("img_{:04}.dcm", (n * 7 + 3) % files.len());
        std::fs::rename(dir.path().join(format!("tmp_{n}")), dir.path().join(permuted)).expect("rename");
    }
    let v = load(dir.path());
    assert_eq!(v.geometry, reference.geometry);
    assert_eq!(sha256_hu(&v.voxels_hu), sha256_hu(&reference.voxels_hu));
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

#[test]
fn files_without_extension_in_subfolders_load() {
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(&dir.path().join("a/b"), &small_spec());
    for (n, f) in files.iter().enumerate() {
        std::fs::rename(f, dir.path().join("a/b").join(format!("IM{n:05}"))).expect("rename");
    }
    let v = load(dir.path());
    assert_eq!(sha256_hu(&v.voxels_hu), sha256_hu(&reference.voxels_hu));
}

#[test]
fn a_missing_middle_slice_keeps_the_grid_and_is_reported() {
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    std::fs::remove_file(&files[10]).expect("remove");
    let v = load(dir.path());
    assert_eq!(v.geometry, reference.geometry, "geometry must not change");
    assert!(
        matches!(v.problems.as_slice(), [Problem::Gap { after_slice: 9, missing_slices: 1, .. }]),
        "{:?}",
        v.problems
    );
    assert!(v.slice_hu(10).iter().all(|&h| h == v.padding_hu), "missing slice is padding");
    assert_eq!(v.slice_hu(9), reference.slice_hu(9));
    assert_eq!(v.slice_hu(11), reference.slice_hu(11));
}

#[test]
fn a_duplicated_slice_is_dropped_and_reported() {
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    std::fs::copy(&files[5], dir.path().join("copy_of_slice_5")).expect("copy");
    let v = load(dir.path());
    assert_eq!(sha256_hu(&v.voxels_hu), sha256_hu(&reference.voxels_hu));
    assert!(
        matches!(v.problems.as_slice(), [Problem::DuplicatePosition { same_instance: true, .. }]),
        "{:?}",
        v.problems
    );
}

#[test]
fn non_image_files_are_skipped_with_a_reason() {
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    phantom(dir.path(), &small_spec());
    std::fs::write(dir.path().join("README.txt"), "not dicom").expect("write");
    std::fs::write(dir.path().join("DICOMDIR"), [0u8; 40]).expect("write");
    let report = scan(dir.path(), &Progress::new()).expect("scan");
    assert_eq!(report.series.len(), 1);
    assert_eq!(report.skipped.len(), 2);
    assert!(report.skipped.iter().all(|s| s.reason.contains("not a DICOM file")), "{:?}", report.skipped);
    let v = load(dir.path());
    assert_eq!(sha256_hu(&v.voxels_hu), sha256_hu(&reference.voxels_hu));
}

/// Rows or Columns of 0, Bits Stored of 0 or over Bits Allocated, and a Rescale Slope of 0,
/// absurd or non-finite (hostile or broken files) are skipped with the reason, never a panic
/// and never garbage HU; the rest of the folder loads.
#[test]
fn unusable_sizes_and_pixel_values_are_skipped_with_a_reason() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    let edits: [(dicom_core::Tag, VR, PrimitiveValue, &str); 7] = [
        (tags::ROWS, VR::US, PrimitiveValue::from(0u16), "an empty image"),
        (tags::COLUMNS, VR::US, PrimitiveValue::from(0u16), "an empty image"),
        (tags::BITS_STORED, VR::US, PrimitiveValue::from(0u16), "Bits Stored 0"),
        (tags::BITS_STORED, VR::US, PrimitiveValue::from(17u16), "Bits Stored 17"),
        (tags::RESCALE_SLOPE, VR::DS, "0".into(), "Rescale Slope 0"),
        (tags::RESCALE_SLOPE, VR::DS, "1e30".into(), "Rescale Slope"),
        (tags::RESCALE_INTERCEPT, VR::DS, "1e300".into(), "Rescale Intercept"),
    ];
    for (file, (tag, vr, value, _)) in files.iter().step_by(3).zip(edits.clone()) {
        let mut obj = dicom_object::open_file(file).expect("open");
        obj.put(DataElement::new(tag, vr, value));
        obj.write_to_file(file).expect("rewrite");
    }
    let report = scan(dir.path(), &Progress::new()).expect("scan");
    assert_eq!(report.skipped.len(), edits.len(), "{:?}", report.skipped);
    for (_, _, _, why) in &edits {
        assert!(report.skipped.iter().any(|s| s.reason.contains(why)), "{why}: {:?}", report.skipped);
    }
    let v = load(dir.path());
    // Slice 0 was an end: the grid starts one slice later; the six inner ones are gaps.
    assert_eq!(v.geometry.dims[2], small_spec().dims[2] - 1, "the other slices load on the series' grid");
    assert!(!v.problems.is_empty(), "the gaps are reported");
}

#[test]
fn a_truncated_file_becomes_a_reported_padding_slice() {
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    let bytes = std::fs::read(&files[7]).expect("read");
    std::fs::write(&files[7], &bytes[..bytes.len() * 3 / 4]).expect("truncate");
    let v = load(dir.path());
    assert_eq!(v.geometry, reference.geometry);
    let unreadable: Vec<_> = v.problems.iter().filter(|p| matches!(p, Problem::SliceUnreadable { .. })).collect();
    assert_eq!(unreadable.len(), 1, "{:?}", v.problems);
    let message = unreadable[0].to_string();
    assert!(message.contains("slice_0007.dcm"), "names the file: {message}");
    assert!(v.slice_hu(7).iter().all(|&h| h == v.padding_hu));
    assert_eq!(v.slice_hu(8), reference.slice_hu(8));
}

#[test]
fn a_file_truncated_inside_its_header_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    let bytes = std::fs::read(&files[3]).expect("read");
    std::fs::write(&files[3], &bytes[..200]).expect("truncate");
    let report = scan(dir.path(), &Progress::new()).expect("scan");
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    let v = load(dir.path());
    assert!(v.problems.iter().any(|p| matches!(p, Problem::Gap { missing_slices: 1, .. })), "{:?}", v.problems);
}

#[test]
fn an_unreadable_folder_is_a_clear_error() {
    let missing = Path::new("/nonexistent/lungdesk/folder");
    let e = load_folder(missing, None).expect_err("fails");
    assert!(matches!(e, VolumeError::ReadDir { .. }));
    assert!(e.to_string().contains("/nonexistent/lungdesk/folder"), "{e}");
    let empty = tempfile::tempdir().expect("tempdir");
    let e = load_folder(empty.path(), None).expect_err("fails");
    assert!(matches!(e, VolumeError::NoImageSeries { .. }), "{e}");
}

/// A marker at a known LPS position lands on the voxel the geometry says, for axial, coronal,
/// sagittal and oblique series, and with a gantry tilt.
#[test]
fn marker_lands_where_the_affine_says_in_every_orientation() {
    let marker_lps = DVec3::new(-60.0, 20.0, 35.0);
    for (orientation, tilt) in [
        (SliceOrientation::Axial, 0.0),
        (SliceOrientation::Coronal, 0.0),
        (SliceOrientation::Sagittal, 0.0),
        (SliceOrientation::Oblique, 0.0),
        (SliceOrientation::Axial, 15.0),
    ] {
        let spec = PhantomSpec {
            dims: [64, 64, 48],
            orientation,
            gantry_tilt_deg: tilt,
            marker: Some((marker_lps, 9.0, 2000)),
            ..PhantomSpec::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        phantom(dir.path(), &spec);
        let v = load(dir.path());
        let expected = phantom_geometry(&spec);
        assert_eq!(v.geometry.dims, expected.dims);
        let (got, want) = (v.geometry.patient_from_voxel.to_cols_array(), expected.patient_from_voxel.to_cols_array());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{orientation:?} tilt {tilt}: {got:?} vs {want:?}");
        }
        let ijk = v.geometry.voxel_from_patient().transform_point3(marker_lps).round();
        let value = v.get(ijk.x as usize, ijk.y as usize, ijk.z as usize);
        assert_eq!(value, 2000, "{orientation:?} tilt {tilt}: marker not at voxel {ijk}");
        // The marker's centre of mass, in patient space, is the marker position.
        let mut sum = DVec3::ZERO;
        let mut n = 0.0;
        let [nx, ny, nz] = v.geometry.dims;
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    if v.get(i, j, k) == 2000 {
                        sum += v.geometry.patient_from_voxel_point(DVec3::new(i as f64, j as f64, k as f64));
                        n += 1.0;
                    }
                }
            }
        }
        let centre = sum / n;
        assert!((centre - marker_lps).length() < 2.0, "{orientation:?} tilt {tilt}: centre {centre} vs {marker_lps}");
        let tilted =
            v.problems.iter().any(|p| matches!(p, Problem::GantryTilt { degrees } if (degrees - tilt).abs() < 0.1));
        assert_eq!(tilted, tilt > 0.0, "{orientation:?}: {:?}", v.problems);
        let plane = match orientation {
            SliceOrientation::Axial => "axial",
            SliceOrientation::Coronal => "coronal",
            SliceOrientation::Sagittal => "sagittal",
            SliceOrientation::Oblique => "oblique",
        };
        assert_eq!(v.geometry.plane(), if tilt > 0.0 { "axial" } else { plane });
    }
}

#[test]
fn nifti_export_round_trips_voxels_and_affine() {
    use nifti::{IntoNdArray, NiftiObject, ReaderOptions};
    let spec = PhantomSpec { dims: [32, 28, 20], orientation: SliceOrientation::Oblique, ..PhantomSpec::default() };
    let dir = tempfile::tempdir().expect("tempdir");
    phantom(&dir.path().join("dicom"), &spec);
    let v = load(&dir.path().join("dicom"));
    for name in ["out.nii", "out.nii.gz"] {
        let path = dir.path().join(name);
        lungdesk_volume::nifti_export::write_nifti(&v, &path).expect("written");
        let obj = ReaderOptions::new().read_file(&path).expect("read back");
        let header = obj.header().clone();
        assert_eq!(&header.dim[..4], &[3, 32, 28, 20]);
        assert_eq!(header.sform_code, 1);
        let lps = v.geometry.patient_from_voxel;
        for (row, srow) in [header.srow_x, header.srow_y, header.srow_z].iter().enumerate() {
            let sign = if row < 2 { -1.0 } else { 1.0 };
            for c in 0..4 {
                let want = sign * lps.col(c)[row];
                assert!((f64::from(srow[c]) - want).abs() < 1e-3, "{name} srow {row}: {srow:?}");
            }
        }
        let data = obj.into_volume().into_ndarray::<i16>().expect("data");
        for (i, j, k) in [(0, 0, 0), (5, 7, 3), (31, 27, 19), (16, 14, 10)] {
            assert_eq!(data[[i, j, k]], v.get(i, j, k), "{name} voxel {i},{j},{k}");
        }
    }
}
