//! The HU baseline, quantification and grade on the synthetic phantom, whose label map is
//! known because the phantom was drawn from it (synthetic shapes, not anyone's reading).

use lungdesk_inference::baseline::{BaselineParams, segment};
use lungdesk_inference::grade::{RsnaGrade, grade};
use lungdesk_inference::quantify::quantify;
use lungdesk_volume::phantom::{Anatomy, PhantomSpec, label_volume, phantom_volume_hu};
use lungdesk_volume::{Progress, labels};

fn dice(a: &[u8], b: &[u8], class: impl Fn(u8) -> bool) -> f64 {
    let (mut both, mut sum) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        let (p, q) = (class(x), class(y));
        both += usize::from(p && q);
        sum += usize::from(p) + usize::from(q);
    }
    if sum == 0 { 1.0 } else { 2.0 * both as f64 / sum as f64 }
}

fn run(anatomy: &Anatomy) -> (Vec<u8>, Vec<u8>, lungdesk_inference::quantify::Quantification) {
    let spec = PhantomSpec::default();
    let (geometry, hu) = phantom_volume_hu(&spec, anatomy);
    let found = segment(&geometry, &hu, &BaselineParams::default(), &Progress::new()).expect("baseline");
    let q = quantify(&geometry, &found.labels).expect("quantify");
    (found.labels, label_volume(anatomy, &geometry), q)
}

#[test]
fn baseline_finds_the_phantom_lungs_and_lesions_and_grades_them_typical() {
    let (found, drawn, q) = run(&Anatomy::new(1, None));
    let lung = dice(&found, &drawn, |l| l != labels::BACKGROUND);
    let ggo = dice(&found, &drawn, |l| l == labels::GROUND_GLASS);
    let consolidation = dice(&found, &drawn, |l| l == labels::CONSOLIDATION);
    eprintln!(
        "Dice against the phantom's synthetic labels: lung {lung:.3}, GGO {ggo:.3}, consolidation {consolidation:.3}"
    );
    eprintln!("{q:?}");
    assert!(lung > 0.95, "lung Dice {lung:.3}");
    assert!(ggo > 0.7, "GGO Dice {ggo:.3}");
    assert!(consolidation > 0.5, "consolidation Dice {consolidation:.3}");
    // Two lungs of about 2.8 L each (ellipsoids of 60 × 85 × 130 mm semi-axes).
    let ellipsoid_ml = 4.0 / 3.0 * std::f64::consts::PI * 60.0 * 85.0 * 130.0 / 1000.0;
    for side in [q.right, q.left] {
        assert!((side.lung_ml / ellipsoid_ml - 1.0).abs() < 0.05, "{} vs {ellipsoid_ml}", side.lung_ml);
    }
    assert!(q.bilateral && q.foci >= 6 && q.peripheral_fraction > 0.5, "{q:?}");
    let p = grade(&q);
    assert_eq!(p.grade, RsnaGrade::Typical, "{}", p.explanation);
}

#[test]
fn a_phantom_without_lesions_is_negative() {
    let (found, _, q) = run(&Anatomy::new(1, None).without_lesions());
    assert!(q.lung_ml > 5000.0);
    let p = grade(&q);
    assert_eq!(p.grade, RsnaGrade::Negative, "{} ({q:?})", p.explanation);
    let consolidation_voxels: usize = found.iter().map(|&l| usize::from(l == labels::CONSOLIDATION)).sum();
    assert!(consolidation_voxels < 1000, "vessels mistaken for consolidation: {consolidation_voxels} voxels");
}

#[test]
fn unilateral_lesions_are_not_typical() {
    let (_, _, q) = run(&Anatomy::new(1, None).left_lesions_only());
    assert!(!q.bilateral, "{q:?}");
    assert!(q.left.ggo_ml > 1.0 && q.right.ggo_ml < 0.5, "{q:?}");
    let p = grade(&q);
    assert_eq!(p.grade, RsnaGrade::Indeterminate, "{}", p.explanation);
}

#[test]
fn cancelling_stops_the_baseline() {
    let spec = PhantomSpec { dims: [64, 64, 32], ..PhantomSpec::default() };
    let (geometry, hu) = phantom_volume_hu(&spec, &Anatomy::new(1, None));
    let progress = Progress::new();
    progress.cancel();
    let result = segment(&geometry, &hu, &BaselineParams::default(), &progress);
    assert!(matches!(result, Err(lungdesk_inference::InferenceError::Cancelled)), "{result:?}");
}

#[test]
fn the_cache_returns_a_stored_result_and_ignores_a_damaged_one() {
    use lungdesk_inference::analysis::Engine;
    use lungdesk_inference::cache::analyze_cached;
    let spec = PhantomSpec { dims: [96, 96, 48], ..PhantomSpec::default() };
    let anatomy = Anatomy::new(spec.seed, None);
    let (geometry, hu) = phantom_volume_hu(&spec, &anatomy);
    let engine = Engine::Baseline { reason: "test".into() };
    let dir = tempfile::tempdir().expect("tempdir");
    let first = analyze_cached(&engine, Some(dir.path()), "1.2.3", &geometry, &hu, &Progress::new()).expect("first");
    assert!(!first.from_cache);
    let second = analyze_cached(&engine, Some(dir.path()), "1.2.3", &geometry, &hu, &Progress::new()).expect("second");
    assert!(second.from_cache);
    assert_eq!(first.labels, second.labels);
    assert_eq!(first.quantification, second.quantification);
    assert_eq!(first.fallback_reason, second.fallback_reason);
    // Another series is another entry; file names carry no UID.
    let other = analyze_cached(&engine, Some(dir.path()), "1.2.4", &geometry, &hu, &Progress::new()).expect("other");
    assert!(!other.from_cache);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().all(|n| !n.contains("1.2.3") && std::path::Path::new(n).extension().is_some_and(|e| e == "gz")),
        "{names:?}"
    );
    // A damaged entry is a miss: recomputed, then replaced.
    for n in &names {
        std::fs::write(dir.path().join(n), b"not gzip").expect("damage");
    }
    let again = analyze_cached(&engine, Some(dir.path()), "1.2.3", &geometry, &hu, &Progress::new()).expect("again");
    assert!(!again.from_cache);
    assert_eq!(again.labels, first.labels);
}

/// SYNTHETIC phantoms built for each RSNA category are graded as built, from their own label
/// maps (the grade rules alone) and from the HU baseline's segmentation of their images.
#[test]
fn synthetic_phantoms_of_each_rsna_category_are_graded_as_built() {
    use lungdesk_volume::phantom::LesionPattern as P;
    let cases = [
        (P::PeripheralBilateralGgo, RsnaGrade::Typical),
        (P::PerihilarGgo, RsnaGrade::Indeterminate),
        (P::UnilateralGgo, RsnaGrade::Indeterminate),
        (P::LobarConsolidation, RsnaGrade::Atypical),
        (P::SmallNodules, RsnaGrade::Atypical),
        (P::SolidMass, RsnaGrade::Atypical),
        (P::None, RsnaGrade::Negative),
    ];
    let spec = PhantomSpec { dims: [200, 200, 140], ..PhantomSpec::default() };
    let mut splits = Vec::new();
    for (pattern, built_as) in cases {
        let anatomy = Anatomy::new(7, None).with_pattern(pattern, 7);
        let (geometry, hu) = phantom_volume_hu(&spec, &anatomy);
        let drawn = label_volume(&anatomy, &geometry);
        let from_labels = grade(&quantify(&geometry, &drawn).expect("quantify"));
        assert_eq!(from_labels.grade, built_as, "{pattern:?} from its labels: {}", from_labels.explanation);
        let found = segment(&geometry, &hu, &BaselineParams::default(), &Progress::new()).expect("baseline");
        let q = quantify(&geometry, &found.labels).expect("quantify");
        let from_images = grade(&q);
        eprintln!("{pattern:?}: {} {:?}", from_images.explanation, from_images.scores);
        assert_eq!(from_images.grade, built_as, "{pattern:?} from the baseline: {} ({q:?})", from_images.explanation);
        splits.push(from_images.scores);
    }
    // Different findings, different splits.
    for (i, a) in splits.iter().enumerate() {
        for b in &splits[i + 1..] {
            assert!(a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-3), "two patterns share a split: {a:?}");
        }
    }
}
