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
    let spec = PhantomSpec { dims: [48, 40, 40], ..PhantomSpec::default() };
    let files = phantom(dir.path(), &spec);
    let edits: [(dicom_core::Tag, VR, PrimitiveValue, &str); 9] = [
        (tags::ROWS, VR::US, PrimitiveValue::from(0u16), "an empty image"),
        (tags::COLUMNS, VR::US, PrimitiveValue::from(0u16), "an empty image"),
        (tags::ROWS, VR::US, PrimitiveValue::from(65535u16), "over the limit of 4096"),
        (tags::NUMBER_OF_FRAMES, VR::IS, "2000000000".into(), "Number of Frames"),
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
    // Slice 0 was an end: the grid starts one slice later; the inner ones are gaps.
    assert_eq!(v.geometry.dims[2], spec.dims[2] - 1, "the other slices load on the series' grid");
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
    assert!(e.to_string().ends_with("the folder holds no files"), "an empty folder says so: {e}");
    // A folder of non-DICOM files names the first one and why it was skipped.
    std::fs::write(empty.path().join("notes.txt"), "not DICOM").expect("write");
    let e = load_folder(empty.path(), None).expect_err("fails");
    let text = e.to_string();
    assert!(text.contains("1 file(s) skipped, the first") && text.contains("notes.txt"), "{text}");
    assert!(!text.contains("lungdesk inspect"), "the message itself says why: {text}");
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

/// Twelve real RICORD slices (JPEG Lossless) copied to `dir`; slice file `tamper` rewritten by
/// `change`, which receives its Pixel Data fragments.
fn ricord_copy_with(dir: &Path, tamper: usize, change: impl FnOnce(&mut Vec<Vec<u8>>)) -> Option<PathBuf> {
    use dicom_core::value::{PixelFragmentSequence, Value};
    use dicom_core::{DataElement, VR};
    let source = lungdesk_tests::real_data("ct/ricord-1a-covid")?;
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(&source).expect("RICORD").map(|e| e.expect("entry").path()).collect();
    names.sort();
    for name in &names[..12] {
        std::fs::copy(name, dir.join(name.file_name().expect("name"))).expect("copy");
    }
    let target = dir.join(names[tamper].file_name().expect("name"));
    let mut obj = dicom_object::open_file(&target).expect("open");
    let pixel_data = obj.take_element(dicom_dictionary_std::tags::PIXEL_DATA).expect("Pixel Data");
    let Value::PixelSequence(sequence) = pixel_data.into_value() else { panic!("RICORD is encapsulated") };
    let (offsets, fragments) = sequence.into_parts();
    let mut fragments: Vec<Vec<u8>> = fragments.into_iter().collect();
    change(&mut fragments);
    let sequence = PixelFragmentSequence::new(offsets, fragments);
    obj.put(DataElement::new(dicom_dictionary_std::tags::PIXEL_DATA, VR::OB, Value::PixelSequence(sequence)));
    obj.write_to_file(&target).expect("write");
    Some(target)
}

/// A real lossless-JPEG slice whose stream is cut short inside the file (the fragment ends
/// early, the file stays well-formed): the slice is reported as cut short and left as padding,
/// not decoded from invented zero bits, and its neighbours are untouched.
#[test]
fn a_lossless_jpeg_slice_cut_short_is_reported_and_padded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(target) = ricord_copy_with(dir.path(), 5, |fragments| {
        let total = fragments[0].len();
        fragments[0].truncate((total * 2 / 3) & !1);
    }) else {
        return;
    };
    let v = load(dir.path());
    let unreadable: Vec<String> =
        v.problems.iter().filter(|p| matches!(p, Problem::SliceUnreadable { .. })).map(ToString::to_string).collect();
    assert_eq!(unreadable.len(), 1, "{:?}", v.problems);
    let name = target.file_name().expect("name").to_string_lossy().into_owned();
    assert!(unreadable[0].contains(&name) && unreadable[0].contains("cut short"), "{}", unreadable[0]);
    let k = (0..v.geometry.dims[2])
        .find(|&k| v.slice_hu(k).iter().all(|&h| h == v.padding_hu))
        .expect("one slice is all padding");
    assert!(k > 0 && k + 1 < v.geometry.dims[2], "a middle slice: {k}");
    for neighbour in [k - 1, k + 1] {
        assert!(v.slice_hu(neighbour).iter().any(|&h| h > -500), "slice {neighbour} decoded (holds tissue)");
    }
}

/// One way to damage a DICOM object.
type Damage = Box<dyn Fn(&mut dicom_object::DefaultDicomObject)>;

/// Rewrites the DICOM file `file` with `edit` applied.
fn rewrite(file: &Path, edit: impl FnOnce(&mut dicom_object::DefaultDicomObject)) {
    // The loader's own lenient open: some real test files have a slightly odd file meta.
    let mut obj = lungdesk_volume::open::open(file, false).expect("open");
    edit(&mut obj);
    obj.write_to_file(file).expect("rewrite");
}

fn put_ds(obj: &mut dicom_object::DefaultDicomObject, tag: dicom_core::Tag, values: &[&str]) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let strs: dicom_core::value::C<String> = values.iter().map(|v| (*v).to_owned()).collect();
    obj.put(DataElement::new(tag, VR::DS, PrimitiveValue::Strs(strs)));
}

/// Positions and orientations that would make an absurd or singular grid: one slice at
/// z = 1e308 (gap filling overflowed), one 10 m away on the slice grid (a 4 GB volume of
/// padding), an all-zero orientation (taken as axial), and parallel row and column vectors (a
/// singular affine). Each such slice is left out and named as a problem; the rest keeps the
/// series' own grid.
#[test]
fn absurd_positions_and_orientations_are_left_out_and_the_grid_holds() {
    use dicom_dictionary_std::tags;
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    let last = files.len() - 1;
    let position_of = |file: &Path| {
        let obj = dicom_object::open_file(file).expect("open");
        obj.element(tags::IMAGE_POSITION_PATIENT).expect("position").to_multi_float64().expect("DS")
    };
    let last_position = position_of(&files[last]);
    rewrite(&files[last], |o| put_ds(o, tags::IMAGE_POSITION_PATIENT, &["0", "0", "1e308"]));
    let (column, row) = (last_position[0].to_string(), last_position[1].to_string());
    let far = (last_position[2] + 10_000.0).to_string();
    rewrite(&files[0], |o| put_ds(o, tags::IMAGE_POSITION_PATIENT, &[&column, &row, &far]));
    rewrite(&files[5], |o| put_ds(o, tags::IMAGE_ORIENTATION_PATIENT, &["0", "0", "0", "0", "0", "0"]));
    rewrite(&files[9], |o| put_ds(o, tags::IMAGE_ORIENTATION_PATIENT, &["1", "0", "0", "1", "0", "0"]));
    let v = load(dir.path());
    // Three unusable (1e308, zero and parallel vectors) and one far away.
    assert!(v.problems.iter().any(|p| matches!(p, Problem::UnusableGeometry { excluded: 3 })), "{:?}", v.problems);
    assert!(v.problems.iter().any(|p| matches!(p, Problem::OutlyingSlices { excluded: 1, .. })), "{:?}", v.problems);
    let n = small_spec().dims[2];
    assert_eq!(v.geometry.dims, [reference.geometry.dims[0], reference.geometry.dims[1], n - 2], "both ends gone");
    assert_eq!(v.slice_hu(0), reference.slice_hu(1), "the grid starts at the second slice");
    assert_eq!(v.slice_hu(2), reference.slice_hu(3));
    let gaps = v.problems.iter().filter(|p| matches!(p, Problem::Gap { missing_slices: 1, .. })).count();
    assert_eq!(gaps, 2, "slices 5 and 9 are gaps of padding: {:?}", v.problems);
    assert!(v.slice_hu(4).iter().all(|&h| h == v.padding_hu));
}

/// A Pixel Spacing of 1e-308 mm is not taken as meant (1 mm is assumed and said), and exporting
/// such a volume to NIfTI works instead of panicking in the nifti crate.
#[test]
fn an_absurd_pixel_spacing_is_reported_and_nifti_export_does_not_panic() {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    for file in &files {
        rewrite(file, |o| put_ds(o, tags::PIXEL_SPACING, &["1e-308", "1e-308"]));
    }
    let v = load(dir.path());
    assert!(v.problems.iter().any(|p| matches!(p, Problem::MissingPixelSpacing)), "{:?}", v.problems);
    assert_eq!(&v.geometry.spacing_mm[..2], &[1.0, 1.0]);
    let out = dir.path().join("export.nii");
    lungdesk_volume::nifti_export::write_nifti(&v, &out).expect("export");
}

/// The single-slice CT image in the compressed transfer syntaxes that dicom-rs decodes (RLE,
/// JPEG 2000, JPEG-LS, JPEG baseline and extended), damaged three ways: Rows and Columns that
/// disagree with the codestream, the stream cut to a third, and (RLE) a tampered segment
/// table. Each decode is an error that names the file, never a panic and never an image.
#[test]
fn damaged_streams_for_third_party_decoders_are_errors_not_panics() {
    use dicom_core::value::{PixelFragmentSequence, Value};
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let Some(source) = lungdesk_tests::real_data("dicom/transfer-syntaxes") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let syntaxes = [
        "RLELossless",
        "JPEG2000LosslessOnly",
        "JPEG2000Transfer",
        "JPEGLSLossless",
        "JPEGLSLossy",
        "JPEGProcess1T",
        "JPEGProcess2_4",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(&source).expect("folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        if !name.starts_with("CTImage.dcm_") || !syntaxes.iter().any(|s| name.contains(s)) {
            continue;
        }
        let damages: [(&str, Damage); 3] = [
            (
                "size",
                Box::new(|o| {
                    o.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(64u16)));
                    o.put(DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(64u16)));
                }),
            ),
            (
                "cut",
                Box::new(|o| {
                    let e = o.take_element(tags::PIXEL_DATA).expect("pixel data");
                    let Value::PixelSequence(seq) = e.into_value() else { panic!("encapsulated") };
                    let (offsets, fragments) = seq.into_parts();
                    let mut fragments: Vec<Vec<u8>> = fragments.into_iter().collect();
                    let keep = (fragments[0].len() / 3) & !1;
                    fragments[0].truncate(keep);
                    fragments.truncate(1);
                    o.put(DataElement::new(
                        tags::PIXEL_DATA,
                        VR::OB,
                        Value::PixelSequence(PixelFragmentSequence::new(offsets, fragments)),
                    ));
                }),
            ),
            (
                "segments",
                Box::new(|o| {
                    let e = o.take_element(tags::PIXEL_DATA).expect("pixel data");
                    let Value::PixelSequence(seq) = e.into_value() else { panic!("encapsulated") };
                    let (offsets, fragments) = seq.into_parts();
                    let mut fragments: Vec<Vec<u8>> = fragments.into_iter().collect();
                    // Segment count 2 (as for 16 bits) with the second offset far past the end.
                    if fragments[0].len() >= 64 {
                        fragments[0][8..12].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
                    }
                    o.put(DataElement::new(
                        tags::PIXEL_DATA,
                        VR::OB,
                        Value::PixelSequence(PixelFragmentSequence::new(offsets, fragments)),
                    ));
                }),
            ),
        ];
        for (damage, edit) in &damages {
            if *damage == "segments" && !name.contains("RLE") {
                continue;
            }
            let target = dir.path().join(format!("{damage}-{name}"));
            std::fs::copy(&path, &target).expect("copy");
            rewrite(&target, |o| edit(o));
            match lungdesk_volume::decode::read_frame_hu(&target, 0) {
                Err(e) => {
                    assert!(e.to_string().contains(&format!("{damage}-")), "{damage} {name}: names the file: {e}");
                }
                Ok(_) => panic!("{damage} {name}: a damaged stream decoded as an image"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 14, "{checked} damaged files checked");
}

/// A multi-frame file whose Basic Offset Table decreases (frame 1 before frame 0) made the
/// frame lookup slice a reversed range; it is now that frame's error.
#[test]
fn a_decreasing_basic_offset_table_is_an_error_not_a_panic() {
    use dicom_core::value::{PixelFragmentSequence, Value};
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(target) = ricord_copy_with(dir.path(), 0, |_| {}) else { return };
    rewrite(&target, |o| {
        let e = o.take_element(tags::PIXEL_DATA).expect("pixel data");
        let Value::PixelSequence(seq) = e.into_value() else { panic!("encapsulated") };
        let (_, fragments) = seq.into_parts();
        let one = fragments[0].clone();
        let second = 8 + one.len() as u32;
        let sequence = PixelFragmentSequence::new(vec![second, 0], vec![one.clone(), one]);
        o.put(DataElement::new(tags::PIXEL_DATA, VR::OB, Value::PixelSequence(sequence)));
        o.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, dicom_core::PrimitiveValue::from("2")));
    });
    let e = lungdesk_volume::decode::read_frame_hu(&target, 0).expect_err("reversed table");
    assert!(e.to_string().contains("Basic Offset Table"), "{e}");
}

/// Anonymisers blank the Series Instance UID. Such files are grouped by study, frame of
/// reference, orientation, size and Series Number (as SimpleITK and dcm2niix do), given a
/// derived UID that is the same on every scan, loaded, and the problem is said. Files of the
/// same study with another Series Number form another series.
#[test]
fn a_series_with_a_blank_series_uid_loads_and_says_so() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let reference = reference_volume();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = phantom(dir.path(), &small_spec());
    for (n, file) in files.iter().enumerate() {
        rewrite(file, |o| {
            o.put(DataElement::new(tags::SERIES_INSTANCE_UID, VR::UI, PrimitiveValue::from("")));
            if n == 3 {
                o.put(DataElement::new(tags::SERIES_NUMBER, VR::IS, PrimitiveValue::from("99")));
            }
        });
    }
    let report = scan(dir.path(), &Progress::new()).expect("scan");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.series.len(), 2, "the Series Number 99 file is its own series");
    let again = scan(dir.path(), &Progress::new()).expect("scan");
    assert_eq!(report.series[0].series_uid, again.series[0].series_uid, "the derived UID is stable");
    assert!(report.series[0].series_uid.starts_with("2.25.") && report.series[0].uid_derived);
    let v = load(dir.path());
    assert!(matches!(v.problems.first(), Some(Problem::SeriesUidDerived { .. })), "{:?}", v.problems);
    assert_eq!(v.geometry.dims, reference.geometry.dims);
    assert_eq!(v.slice_hu(10), reference.slice_hu(10));
    assert!(v.problems.iter().any(|p| matches!(p, Problem::Gap { missing_slices: 1, .. })), "slice 3 is elsewhere");
}
