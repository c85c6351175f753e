//! The ONNX path through `ort` and the real ONNX Runtime library (installed by
//! scripts/setup.sh): agreement with Python onnxruntime, manifest errors, damaged models, and
//! the bundled models on a SYNTHETIC phantom and the real RICORD case.

use std::path::{Path, PathBuf};

use lungdesk_inference::analysis::{Engine, Models, analyze, default_models_dir};
use lungdesk_inference::grade::RsnaGrade;
use lungdesk_inference::manifest::{Manifest, ManifestError};
use lungdesk_inference::model::{ModelError, SliceModel};
use lungdesk_inference::runtime;
use lungdesk_volume::phantom::{Anatomy, PhantomSpec, label_volume, phantom_volume_hu};
use lungdesk_volume::{Progress, labels, load_folder};

mod common;
use common::tracheal_lumen;

fn rt() -> &'static runtime::Runtime {
    runtime::runtime().unwrap_or_else(|e| panic!("these tests need ONNX Runtime: {e}"))
}

fn lesion_manifest() -> PathBuf {
    default_models_dir().join("lungdesk-lesion.json")
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("fixture")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn ort_matches_python_onnxruntime_on_the_fixture() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let input = read_f32(&fixtures.join("input.f32"));
    let want = read_f32(&fixtures.join("logits.f32"));
    let model = SliceModel::load(Manifest::load(&lesion_manifest()).expect("manifest"), rt()).expect("model");
    let got = model.run_tiles(input, 1, [64, 64]).expect("run");
    assert_eq!(got.len(), want.len());
    let max_diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    eprintln!("ort vs Python onnxruntime: max |diff| {max_diff:e} over {} logits", got.len());
    assert!(max_diff < 1e-4, "max |diff| {max_diff}");
}

/// A copy of the bundled lesion model in a temporary folder, with its manifest edited.
fn edited_copy(edit: impl Fn(&mut serde_json::Value)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = default_models_dir();
    std::fs::copy(src.join("lungdesk-lesion.onnx"), dir.path().join("lungdesk-lesion.onnx")).expect("copy");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lesion_manifest()).expect("read")).expect("json");
    edit(&mut json);
    let path = dir.path().join("lungdesk-lesion.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write");
    (dir, path)
}

#[test]
fn manifest_errors_name_the_manifest_and_the_problem() {
    let (_d, path) = edited_copy(|j| j["file"] = "gone.onnx".into());
    let e = Manifest::load(&path).expect_err("missing file");
    assert!(matches!(e, ManifestError::MissingFile { .. }), "{e:?}");
    assert!(e.to_string().contains("gone.onnx") && e.to_string().contains("lungdesk-lesion.json"), "{e}");

    let (_d, path) = edited_copy(|j| j["output"]["classes"][2] = "pneumothorax".into());
    let e = Manifest::load(&path).expect_err("unknown class");
    assert!(matches!(e, ManifestError::UnknownClass { .. }), "{e:?}");
    assert!(e.to_string().contains("\"pneumothorax\""), "{e}");

    let (_d, path) = edited_copy(|j| j["input"]["shape"][1] = 3.into());
    let loaded = Manifest::load(&path).expect("the manifest alone is consistent");
    let e = SliceModel::load(loaded, rt()).expect_err("wrong input shape");
    assert!(matches!(e, ModelError::Manifest(ManifestError::WrongInputShape { .. })), "{e:?}");
    assert!(e.to_string().contains("[batch, 3, 256, 256]"), "{e}");

    let (_d, path) = edited_copy(|j| j["input"]["name"] = "image".into());
    let e = SliceModel::load(Manifest::load(&path).expect("manifest"), rt()).expect_err("wrong input name");
    assert!(e.to_string().contains("no input \"image\""), "{e}");

    let (_d, path) = edited_copy(|j| j["format"] = "something-else".into());
    assert!(matches!(Manifest::load(&path), Err(ManifestError::Format { .. })));
    std::fs::write(&path, "{ not json").expect("write");
    let e = Manifest::load(&path).expect_err("bad JSON");
    assert!(matches!(e, ManifestError::Parse { .. }) && e.to_string().contains("lungdesk-lesion.json"), "{e}");
}

#[test]
fn a_damaged_model_file_is_an_error_not_a_crash() {
    // With its checksum, the damage is caught before ONNX Runtime sees the file.
    let (dir, path) = edited_copy(|_| {});
    let model_file = dir.path().join("lungdesk-lesion.onnx");
    let mut bytes = std::fs::read(&model_file).expect("read");
    bytes.truncate(bytes.len() / 2);
    bytes.extend_from_slice(b"garbage");
    std::fs::write(&model_file, &bytes).expect("write");
    let e = SliceModel::load(Manifest::load(&path).expect("manifest"), rt()).expect_err("checksum");
    assert!(matches!(e, ModelError::Manifest(ManifestError::Checksum { .. })), "{e:?}");
    // Without one, ONNX Runtime refuses it and the error says which file.
    let (dir, path) = edited_copy(|j| j["sha256"] = serde_json::Value::Null);
    std::fs::write(dir.path().join("lungdesk-lesion.onnx"), &bytes).expect("write");
    let e = SliceModel::load(Manifest::load(&path).expect("manifest"), rt()).expect_err("damaged");
    assert!(matches!(e, ModelError::Load { .. }) && e.to_string().contains("lungdesk-lesion.onnx"), "{e}");
    // The analysis then falls back to the HU baseline and says why.
    let engine = Engine::load(Some(dir.path()));
    match engine {
        Engine::Baseline { reason } => assert!(reason.contains("lungdesk-lung") || reason.contains("lung"), "{reason}"),
        Engine::Models(_) => panic!("a folder with a damaged model must not load"),
    }
}

fn dice(a: &[u8], b: &[u8], class: impl Fn(u8) -> bool) -> f64 {
    let (mut both, mut total) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        both += usize::from(class(x) && class(y));
        total += usize::from(class(x)) + usize::from(class(y));
    }
    2.0 * both as f64 / total.max(1) as f64
}

#[test]
fn the_bundled_models_segment_an_unseen_phantom_and_grade_it_typical() {
    let models = Models::load_dir(&default_models_dir()).expect("bundled models");
    // Seed 5: a lesion layout training (seed 11) never saw.
    let spec = PhantomSpec { dims: [160, 160, 80], seed: 5, ..PhantomSpec::default() };
    let anatomy = Anatomy::new(spec.seed, None);
    let (geometry, hu) = phantom_volume_hu(&spec, &anatomy);
    let truth = label_volume(&anatomy, &geometry);
    let engine = Engine::Models(Box::new(models));
    let a = analyze(&engine, &geometry, &hu, &Progress::new()).expect("analysis");
    let lung = dice(&a.labels, &truth, |l| l != labels::BACKGROUND);
    let lesion = dice(&a.labels, &truth, |l| l >= labels::GROUND_GLASS);
    let ggo = dice(&a.labels, &truth, |l| l == labels::GROUND_GLASS);
    eprintln!(
        "phantom seed 5 (SYNTHETIC labels): Dice lung {lung:.3}, GGO {ggo:.3}, any lesion {lesion:.3}; {}",
        graded(&a).explanation
    );
    assert!(lung > 0.95, "lung Dice {lung}");
    // lesion 1.0.0 (synthetic insertions only) reached 0.95 here; 2.0.0 and later learnt mostly from
    // real slices and calls less of the phantom's uniform -650 HU spheres (docs/MODELS.md).
    assert!(ggo > 0.6, "GGO Dice {ggo}");
    assert!(lesion > 0.5, "lesion Dice {lesion}");
    assert_eq!(graded(&a).grade, RsnaGrade::Typical);
    assert!(a.method.contains("lungdesk-lung 1.0.0") && a.fallback_reason.is_none(), "{}", a.method);
}

/// A thin-slice series (0.7 mm) is read by the 2D models at their own spacing along z, one
/// slice in two or four, and still segments as the phantom was built (SYNTHETIC label map):
/// the slices between come from interpolated probabilities, not copies of a neighbour.
#[test]
fn a_thin_slice_series_is_read_at_the_models_spacing_and_still_segments_as_built() {
    let models = Models::load_dir(&default_models_dir()).expect("bundled models");
    let spec = PhantomSpec { dims: [128, 128, 400], fov_mm: [350.0, 350.0, 280.0], seed: 5, ..PhantomSpec::default() };
    let anatomy = Anatomy::new(spec.seed, None);
    let (geometry, hu) = phantom_volume_hu(&spec, &anatomy);
    let gap_mm = geometry.spacing_mm[2];
    assert!((gap_mm - 0.7).abs() < 1e-9, "{gap_mm}");
    assert_eq!(models.lesion.read_slices(400, gap_mm).len(), 201, "the 1.5 mm lesion model reads every second slice");
    assert_eq!(models.lung.read_slices(400, gap_mm).len(), 101, "the 3 mm lung model every fourth");
    let truth = label_volume(&anatomy, &geometry);
    let engine = Engine::Models(Box::new(models));
    let a = analyze(&engine, &geometry, &hu, &Progress::new()).expect("analysis");
    let lung = dice(&a.labels, &truth, |l| l != labels::BACKGROUND);
    let ggo = dice(&a.labels, &truth, |l| l == labels::GROUND_GLASS);
    eprintln!("thin phantom (SYNTHETIC labels): Dice lung {lung:.3}, GGO {ggo:.3}; {}", graded(&a).explanation);
    assert!(lung > 0.95, "lung Dice {lung}");
    assert!(ggo > 0.6, "GGO Dice {ggo}");
    // The slices the lesion model did not read hold lesions too (interpolated), as many as
    // those it read, slice for slice.
    let plane = 128 * 128;
    let ggo_in = |z: usize| {
        a.labels[z * plane..(z + 1) * plane].iter().fold(0, |n, &l| n + usize::from(l == labels::GROUND_GLASS))
    };
    let (read, between): (usize, usize) = (0..199).fold((0, 0), |(r, b), k| (r + ggo_in(2 * k), b + ggo_in(2 * k + 1)));
    assert!(read > 0 && (between as f64) > 0.8 * read as f64, "ground glass on slices read {read}, between {between}");
    assert_eq!(graded(&a).grade, RsnaGrade::Typical);
}

fn analyze_with_bundled_models(dir: &Path) -> lungdesk_inference::analysis::Analysis {
    analyze_volume(&load_folder(dir, None).expect("load"))
}

fn analyze_volume(volume: &lungdesk_volume::Volume) -> lungdesk_inference::analysis::Analysis {
    let engine = Engine::Models(Box::new(Models::load_dir(&default_models_dir()).expect("bundled models")));
    analyze(&engine, &volume.geometry, &volume.voxels_hu, &Progress::new()).expect("analysis")
}

#[test]
fn the_bundled_models_read_ricord_as_bilateral_peripheral_typical() {
    let Some(dir) = lungdesk_volume::shared_data::real_data("ct/ricord-1a-covid") else { return };
    let volume = load_folder(&dir, None).expect("load");
    let a = analyze_volume(&volume);
    // The trachea is not lung (reference lung masks leave it out): RICORD's 255 slices of
    // 1.25 mm reach 21 mm above the lung apices, so the lumen of its top 40 slices (50 mm) runs
    // down past the apices; none of it may be labelled.
    let lumen = tracheal_lumen(&volume, 40);
    let labelled = lumen.iter().filter(|&&i| a.labels[i] != labels::BACKGROUND).count();
    assert!(lumen.len() > 10_000, "tracheal lumen of {} voxels", lumen.len());
    assert!(labelled * 100 <= lumen.len(), "{labelled} of the trachea's {} voxels labelled", lumen.len());
    let q = &a.quantification;
    eprintln!("RICORD with the models: {q:?}\n{}", graded(&a).explanation);
    assert!((2000.0..9000.0).contains(&q.lung_ml), "lungs {:.0} mL", q.lung_ml);
    assert!(q.bilateral && q.peripheral_fraction > 0.5, "{q:?}");
    assert!((1.0..30.0).contains(&q.opacity_percent), "opacity {:.1} %", q.opacity_percent);
    assert_eq!(q.masses, 0, "no mass in RICORD: {q:?}");
    assert_eq!(graded(&a).grade, RsnaGrade::Typical, "{}", graded(&a).explanation);
}

/// The non-COVID control, Lung-PET-CT-Dx A0002 (lung cancer, 8 mm slices), has a solid mass
/// of about 3 cm in the right lower lobe beside the hilum, enclosed by lung in one slice and
/// joined to the hilum in the next (looked at on the images). The AI must find the mass and
/// must not call the case typical of COVID-19; this project holds no radiologist's RSNA grade
/// for it, so the test asks no more than that.
#[test]
fn the_bundled_models_find_the_mass_in_the_lung_cancer_control_and_do_not_call_it_typical() {
    let Some(dir) = lungdesk_volume::shared_data::real_data("ct/lung-pet-ct-dx-a0002") else { return };
    let a = analyze_with_bundled_models(&dir);
    let q = &a.quantification;
    eprintln!("A0002 with the models: {q:?}\n{}", graded(&a).explanation);
    assert!(q.masses >= 1, "the mass is found: {q:?}");
    assert_ne!(graded(&a).grade, RsnaGrade::Typical, "{}", graded(&a).explanation);
    assert!(
        graded(&a).reasons.iter().any(|r| matches!(r, lungdesk_inference::grade::Reason::Mass { .. })),
        "{:?}",
        graded(&a).reasons
    );
}

fn graded(a: &lungdesk_inference::analysis::Analysis) -> &lungdesk_inference::grade::GradePrediction {
    a.prediction.as_ref().unwrap_or_else(|| panic!("no grade: {:?}", a.cannot_grade))
}

#[test]
fn cancelling_stops_the_models() {
    let engine = Engine::Models(Box::new(Models::load_dir(&default_models_dir()).expect("bundled models")));
    let spec = PhantomSpec { dims: [96, 96, 48], seed: 5, ..PhantomSpec::default() };
    let (geometry, hu) = phantom_volume_hu(&spec, &Anatomy::new(spec.seed, None));
    let progress = Progress::new();
    progress.cancel();
    let e = analyze(&engine, &geometry, &hu, &progress).expect_err("cancelled");
    assert!(
        matches!(
            e,
            lungdesk_inference::analysis::AnalysisError::Inference(lungdesk_inference::InferenceError::Cancelled)
        ),
        "{e:?}"
    );
}
