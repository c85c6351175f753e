//! The `lungdesk` command line: `inspect` on every folder of the shared data, `export`, and
//! the privacy of everything it writes.

use std::path::Path;

use clap::Parser as _;
use lungdesk::cli::{Cli, run};
use lungdesk_tests::real_data;
use lungdesk_volume::phantom::{
    FAKE_BIRTH_DATE, FAKE_FREE_TEXT, FAKE_PATIENT_ID, FAKE_PATIENT_NAME, PhantomSpec, write_phantom_series,
};

fn lungdesk(args: &[&str]) -> Result<String, String> {
    let cli =
        Cli::try_parse_from(std::iter::once("lungdesk").chain(args.iter().copied())).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    run(cli, &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("utf-8"))
}

fn inspect_json(dir: &Path) -> serde_json::Value {
    let text = lungdesk(&["inspect", "--json", &dir.to_string_lossy()]).expect("inspect");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn inspect_ricord_reports_its_geometry() {
    let Some(dir) = real_data("ct/ricord-1a-covid") else { return };
    let text = lungdesk(&["inspect", &dir.to_string_lossy()]).expect("inspect");
    for expected in [
        "1 series, 0 file(s) skipped",
        "series 1.2.826.0.1.3680043.10.474.419639.403650391453800318566197197100",
        "modality      CT (255 file(s))",
        "dims          512 × 512 × 255",
        "spacing       0.703 × 0.703 × 1.250 mm",
        "axial (i→L j→P k→S)",
        "1.2.840.10008.1.2.4.70 (JPEG Lossless, Non-Hierarchical, First-Order Prediction)",
        "HU range      -3024 … 1857",
        "problems      none",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let json = inspect_json(&dir);
    let v = &json["series"][0]["volume"];
    assert_eq!(v["dims"], serde_json::json!([512, 512, 255]));
    assert_eq!(v["orientation_code"], "LPS");
    assert_eq!(v["hu"]["min_hu"], -3024);
}

#[test]
fn inspect_summarises_every_shared_folder() {
    let Some(_) = real_data("ct") else { return };
    // (folder, series, skipped, facts about the first series)
    let cases: &[(&str, usize, usize, &[&str])] = &[
        ("ct/lung-pet-ct-dx-a0002", 1, 0, &["dims          512 × 512 × 30", "× 8.000 mm", "problems      none"]),
        ("dicom/lungmask-slices", 1, 0, &["dims          512 × 512 × 2", "0.625 × 0.625 × 1.000 mm"]),
        (
            "dicom/seg-3slice",
            1,
            1,
            &["dims          512 × 512 × 3", "segmentation object, not an image (modality SEG)"],
        ),
        (
            "dicom/transfer-syntaxes",
            7,
            4,
            &[
                "CT (16 file(s))",
                "duplicate slice at 4.70 mm",
                "structured report, not an image (modality SR)",
                "HU range      -3024 … 1378",
            ],
        ),
        // One OT image has no Series Instance UID: grouped under a derived one, not skipped.
        ("dicom/codec-edge-cases", 30, 6, &["radiotherapy object, not an image (modality RTDOSE)", "not a DICOM file"]),
    ];
    let mut uids = std::collections::BTreeSet::new();
    for (rel, series, skipped, facts) in cases {
        let dir = real_data(rel).expect("present");
        let text = lungdesk(&["inspect", &dir.to_string_lossy()]).expect("inspect");
        assert!(text.contains(&format!("{series} series, {skipped} file(s) skipped")), "{rel}:\n{text}");
        for fact in *facts {
            assert!(text.contains(fact), "{rel}: missing {fact:?} in:\n{text}");
        }
        let json = inspect_json(&dir);
        assert_eq!(json["series"].as_array().map(Vec::len), Some(*series), "{rel}");
        uids.extend(json["series"].as_array().into_iter().flatten().map(|s| s["series_uid"].to_string()));
    }
    // The whole tree at once finds the same series (a few UIDs recur across folders).
    let all = inspect_json(&real_data("").expect("present"));
    let all_uids: std::collections::BTreeSet<_> =
        all["series"].as_array().into_iter().flatten().map(|s| s["series_uid"].to_string()).collect();
    uids.insert(
        inspect_json(&real_data("ct/ricord-1a-covid").expect("present"))["series"][0]["series_uid"].to_string(),
    );
    assert_eq!(all_uids, uids);
}

#[test]
fn export_writes_nifti_and_rejects_other_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [32, 32, 16], ..PhantomSpec::default() }, &dir.path().join("in"))
        .expect("phantom");
    let out = dir.path().join("ct.nii.gz");
    let text = lungdesk(&["export", &dir.path().join("in").to_string_lossy(), "--out", &out.to_string_lossy()])
        .expect("export");
    assert!(text.contains("32×32×16"), "{text}");
    assert!(std::fs::metadata(&out).expect("written").len() > 348);
    let e = lungdesk(&["export", &dir.path().join("in").to_string_lossy(), "--out", "ct.png"]).expect_err("bad name");
    assert!(e.contains(".nii or .nii.gz"), "{e}");
    let e = lungdesk(&["export", &dir.path().join("in").to_string_lossy(), "--series", "1.2.3", "--out", "x.nii"])
        .expect_err("no such series");
    assert!(e.contains("series 1.2.3 not found"), "{e}");
}

/// Files with a (made-up) patient name, ID, birth date and free text: none of them may reach
/// inspect's text or JSON, an exported NIfTI, or an error message.
#[test]
fn identifying_fields_never_reach_any_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    let spec = PhantomSpec { dims: [32, 32, 12], with_identifying_fields: true, ..PhantomSpec::default() };
    let files = write_phantom_series(&spec, &input).expect("phantom").files;
    // Prove the fixture really contains them.
    let raw = std::fs::read(&files[0]).expect("read");
    let raw = String::from_utf8_lossy(&raw);
    for secret in [FAKE_PATIENT_NAME, FAKE_PATIENT_ID, FAKE_BIRTH_DATE, FAKE_FREE_TEXT] {
        assert!(raw.contains(secret), "fixture lacks {secret}");
    }
    // Damage one file so that error paths run too.
    std::fs::write(&files[3], &std::fs::read(&files[3]).expect("read")[..1500]).expect("truncate");
    let mut outputs = vec![
        lungdesk(&["inspect", &input.to_string_lossy()]).expect("inspect"),
        lungdesk(&["inspect", "--json", &input.to_string_lossy()]).expect("inspect json"),
        lungdesk(&["inspect", "--headers-only", &input.to_string_lossy()]).expect("inspect headers"),
    ];
    let out = dir.path().join("ct.nii");
    outputs.push(lungdesk(&["export", &input.to_string_lossy(), "--out", &out.to_string_lossy()]).expect("export"));
    outputs.push(String::from_utf8_lossy(&std::fs::read(&out).expect("nifti")).into_owned());
    outputs
        .push(lungdesk(&["export", &input.to_string_lossy(), "--series", "9.9", "--out", "x.nii"]).expect_err("error"));
    for json in [false, true] {
        let mut args = vec!["analyze", "--no-cache"];
        if json {
            args.extend(["--json", "-"]);
        }
        let path = input.to_string_lossy();
        args.push(&path);
        outputs.push(lungdesk(&args).unwrap_or_else(|e| e));
    }
    let report = input.join("report.json");
    let path = input.to_string_lossy();
    let report_path = report.to_string_lossy();
    outputs.push(lungdesk(&["analyze", "--no-cache", "--json", &report_path, &path]).unwrap_or_else(|e| e));
    outputs.push(std::fs::read_to_string(&report).unwrap_or_default());
    for file in &files {
        if let Err(e) = lungdesk_volume::decode::read_frame_hu(file, 0) {
            outputs.push(e.to_string());
        }
    }
    for (n, output) in outputs.iter().enumerate() {
        for secret in [FAKE_PATIENT_NAME, "YAMADA", FAKE_PATIENT_ID, FAKE_BIRTH_DATE, "Suzuki", "Nagoya"] {
            assert!(!output.contains(secret), "output {n} leaks {secret:?}:\n{output}");
        }
    }
}

/// `analyze` segments, quantifies and grades a synthetic phantom (bilateral peripheral
/// ground glass drawn into it) with the bundled ONNX models, says which method produced the
/// result, and writes the report and the label volume where asked; `--baseline` runs the HU
/// baseline instead.
#[test]
fn analyze_reports_quantification_and_a_grade_with_its_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = PhantomSpec { dims: [160, 160, 80], ..PhantomSpec::default() };
    write_phantom_series(&spec, dir.path()).expect("phantom");
    let out = tempfile::tempdir().expect("tempdir");
    let (json_path, mask_path) = (out.path().join("r.json"), out.path().join("labels.nii.gz"));
    let series = dir.path().to_string_lossy();
    let plain = lungdesk(&[
        "analyze",
        "--no-cache",
        "--json",
        &json_path.to_string_lossy(),
        "--mask",
        &mask_path.to_string_lossy(),
        &series,
    ])
    .expect("analyze");
    assert!(plain.contains("predicted grade: ") && plain.contains("why: bilateral"), "{plain}");
    assert!(plain.contains("SYNTHETIC insertions") && plain.contains("wrote"), "{plain}");
    let text = std::fs::read_to_string(&json_path).expect("report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let lung_ml = report["quantification"]["lung_ml"].as_f64().expect("lung_ml");
    assert!((5000.0..6200.0).contains(&lung_ml), "{lung_ml}");
    assert_eq!(report["quantification"]["bilateral"], true, "{text}");
    assert!(report["prediction"]["explanation"].as_str().is_some_and(|e| e.contains('→')), "{text}");
    assert!(report["method"].as_str().is_some_and(|m| m.starts_with("ONNX models lungdesk-lung 1.0.0")), "{text}");
    assert_eq!(
        report["models"],
        serde_json::json!(["lungdesk-lung 1.0.0", "lungdesk-lesion 2.5.0", "post-processing 3"]),
        "{text}"
    );
    assert!(report["grade"].is_u64() && report["cannot_grade"].is_null(), "{text}");
    assert!(report["prediction"]["method"].as_str().is_some_and(|m| m.contains("not a trained classifier")));
    // The label volume: NIfTI on the series' grid, classes 0..3, lungs present.
    let labels = nifti::ReaderOptions::new().read_file(&mask_path).expect("NIfTI");
    let labels = nifti::NiftiObject::header(&labels);
    assert_eq!(&labels.dim[1..4], &[160, 160, 80]);
    let baseline = lungdesk(&["analyze", "--no-cache", "--baseline", "--json", "-", &series]).expect("baseline");
    let report: serde_json::Value = serde_json::from_str(&baseline).expect("JSON");
    assert!(report["method"].as_str().is_some_and(|m| m.starts_with("HU baseline")), "{baseline}");
    assert_eq!(report["prediction"]["grade"], "Typical", "{baseline}");
    let wrong = lungdesk(&["analyze", "--no-cache", "--mask", "labels.png", &series]).expect_err("mask name");
    assert!(wrong.contains("labels.png") && wrong.contains(".nii"), "{wrong}");
}

/// `lungdesk site-key`: `new` prints a fresh key and stores nothing; a store made before site
/// keys cannot import until `set` gives it one; `show` prints only the fingerprint unless told
/// to reveal the key; and two desks given the same key compute the same case key for a study,
/// which differs from the unkeyed hash of site code and Study UID.
#[test]
fn the_site_key_is_made_shared_and_shown_only_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let series = dir.path().join("series");
    write_phantom_series(&PhantomSpec { dims: [32, 32, 4], ..PhantomSpec::default() }, &series).expect("phantom");
    let made = lungdesk(&["site-key", "new"]).expect("new");
    let key_text = made.lines().next().expect("the key").to_owned();
    let key = lungdesk_store::SiteKey::parse(&key_text).expect("a key");
    assert_ne!(lungdesk(&["site-key", "new"]).expect("new").lines().next(), Some(key_text.as_str()), "random");
    let key_file = dir.path().join("site.key");
    std::fs::write(&key_file, format!("{key_text}\n")).expect("key file");
    let mut keys = Vec::new();
    for desk in ["a", "b"] {
        let store = dir.path().join(format!("{desk}.sqlite"));
        let store_arg = store.to_string_lossy().into_owned();
        {
            let s = lungdesk_store::Store::open(&store).expect("store");
            let old = r#"{"reader_id":"R-1","display_name":"Reader","site_code":"NAGOYA-U","postal_code":"466-8560"}"#;
            s.set_setting("identity", old).expect("identity without a key");
        }
        let refused = lungdesk(&["import", &series.to_string_lossy(), "--store", &store_arg]).expect_err("no key");
        assert!(refused.contains("site key"), "{refused}");
        assert!(lungdesk(&["site-key", "show", "--store", &store_arg]).expect_err("none yet").contains("site-key set"));
        let set = lungdesk(&["site-key", "set", &key_file.to_string_lossy(), "--store", &store_arg]).expect("set");
        assert!(set.contains(&key.fingerprint()) && !set.contains(&key_text), "{set}");
        let shown = lungdesk(&["site-key", "show", "--store", &store_arg]).expect("show");
        assert!(shown.contains(&key.fingerprint()) && !shown.contains(&key_text[6..]), "{shown}");
        let revealed = lungdesk(&["site-key", "show", "--reveal", "--store", &store_arg]).expect("reveal");
        assert!(revealed.contains(&key_text));
        lungdesk(&["import", &series.to_string_lossy(), "--store", &store_arg]).expect("import");
        let s = lungdesk_store::Store::open(&store).expect("store");
        let rows = s.worklist("R-1").expect("worklist");
        assert_eq!(rows.len(), 1);
        keys.push(rows[0].case_key.clone());
    }
    assert_eq!(keys[0], keys[1], "both desks of the site compute the same key");
    // What anyone holding the study could compute without the key: not the case key.
    let study_uid =
        lungdesk_volume::scan(&series, &lungdesk_volume::Progress::new()).expect("scan").series[0].study_uid.clone();
    for guess in [
        format!("lungdesk-case/1\0NAGOYA-U\0{study_uid}"),
        format!("lungdesk-case/2\0NAGOYA-U\0{study_uid}"),
        format!("NAGOYA-U{study_uid}"),
    ] {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(guess.as_bytes());
        let hex = digest[..8].iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        });
        assert_ne!(hex, keys[0]);
    }
    assert_eq!(keys[0], key.case_key("NAGOYA-U", &study_uid));
    assert_ne!(keys[0], lungdesk_store::SiteKey::from_bytes([0; 32]).case_key("NAGOYA-U", &study_uid));
}
