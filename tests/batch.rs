//! `lungdesk batch` end to end (issue #17): a site's headless pre-read imports, reads every
//! case with the bundled models, and sends each AI read to the dataset service once.
//!
//! Real files: the two real CTs of `../shared/data/ct` (RICORD COVID-19, Lung-PET-CT-Dx A0002).
//! SYNTHETIC: a single sagittal phantom slice and a phantom body without lungs (a non-chest CT),
//! which the AI cannot grade; and, for the kill test, small phantom chests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use clap::Parser as _;
use dicom_dictionary_std::tags;
use lungdesk::cli::{Cli, run};
use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, issue_token};
use lungdesk_cloud::{AiSurveillance, Client, Role, SurveillanceQuery};
use lungdesk_store::{Identity, Store};
use lungdesk_tests::{Capture, real_data, tee_proxy};
use lungdesk_volume::phantom::{Anatomy, PhantomSpec, SliceOrientation, write_anatomy_series};

fn identity() -> Identity {
    Identity {
        reader_id: "R-1".into(),
        display_name: "Reader One".into(),
        site_code: "NAGOYA-U".into(),
        postal_code: "466-8560".into(),
        site_key: Some(lungdesk_store::SiteKey::from_bytes([9; 32])),
    }
}

/// A store with this desk's identity, as the first-start form leaves it.
fn new_store(path: &Path) {
    Store::open(path).expect("store").set_identity(&identity()).expect("identity");
}

fn start_service(db: &TestDatabase) -> (RunningService, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let svc = RunningService::start(
        &Config { database_url: db.url.clone(), min_count: 1, drift: DriftConfig::default() },
        listener,
        None,
    )
    .expect("service");
    let holder = Principal { reader_id: "R-1".into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
    let token = svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token;
    (svc, token)
}

fn batch_args(store: &Path, imports: &[&Path], url: &str, token_file: &Path) -> Vec<String> {
    let mut args = vec!["lungdesk".to_owned(), "batch".into(), "--store".into(), store.display().to_string()];
    for dir in imports {
        args.extend(["--import".to_owned(), dir.display().to_string()]);
    }
    args.extend(["--sync".to_owned(), url.to_owned(), "--token-file".into(), token_file.display().to_string()]);
    args.push("--no-cache".into());
    args
}

fn run_batch(args: &[String]) -> String {
    let cli = Cli::try_parse_from(args).expect("arguments");
    let mut out = Vec::new();
    let result = run(cli, &mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    result.unwrap_or_else(|e| panic!("batch failed: {e}\n{out}"));
    out
}

/// `YYYY-MM-DD` of a DICOM date element of the first file in `dir`, read here with dicom-rs
/// (not through LungDesk's loader).
fn first_file_value(dir: &Path, tag: dicom_core::Tag) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).expect("dir").flatten().map(|e| e.path()).collect();
    files.sort();
    let obj = dicom_object::OpenFileOptions::new().open_file(&files[0]).expect("a DICOM file");
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim_end_matches('\0').trim().to_owned())
        .unwrap_or_default()
}

fn as_iso(date: &str) -> String {
    format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..8])
}

fn ai_counts(client: &Client) -> AiSurveillance {
    client
        .ai_surveillance(&SurveillanceQuery { model: Some("bundled".into()), ..SurveillanceQuery::default() })
        .expect("AI counts")
}

#[test]
fn batch_reads_both_real_cts_and_the_service_counts_them_by_exam_date_with_cannot_grade_apart() {
    let Some(ct) = real_data("ct") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let sagittal = dir.path().join("synthetic-single-sagittal-slice");
    let spec = PhantomSpec {
        dims: [128, 128, 1],
        orientation: SliceOrientation::Sagittal,
        seed: 41,
        ..PhantomSpec::default()
    };
    write_anatomy_series(&spec, &Anatomy::new(41, None), &sagittal).expect("phantom");
    let no_chest = dir.path().join("synthetic-no-lungs");
    let spec = PhantomSpec { dims: [96, 96, 60], seed: 42, ..PhantomSpec::default() };
    write_anatomy_series(&spec, &Anatomy::new(42, None).without_lungs(), &no_chest).expect("phantom");

    let db = TestDatabase::sqlite();
    let (svc, token) = start_service(&db);
    let wire = Capture::default();
    let proxy = tee_proxy(svc.addr, &wire);
    let url = format!("http://{proxy}");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let store = dir.path().join("site.sqlite");
    new_store(&store);
    let args = batch_args(&store, &[&ct, &sagittal, &no_chest], &url, &token_file);

    let out = run_batch(&args);
    assert!(out.contains("4 read (2 cannot grade), 0 not read, 4 new case(s) imported"), "{out}");
    assert!(out.contains("4 AI read(s) sent, 0 waiting, 0 refused"), "{out}");
    let client = Client::new(&format!("http://{}", svc.addr), &token, Duration::from_secs(10), None).expect("client");
    let counts = ai_counts(&client);
    let ricord = as_iso(&first_file_value(&ct.join("ricord-1a-covid"), tags::STUDY_DATE));
    let a0002 = as_iso(&first_file_value(&ct.join("lung-pet-ct-dx-a0002"), tags::STUDY_DATE));
    let on = |day: &str| counts.rows.iter().filter(|r| r.period_start == day).collect::<Vec<_>>();
    let ricord_cells = on(&ricord);
    assert!(
        ricord_cells.iter().any(|r| r.grade == Some(1) && r.count == Some(1)),
        "RICORD counted as typical on its exam date {ricord}: {:?}",
        counts.rows
    );
    assert!(
        on(&a0002).iter().any(|r| r.grade.is_some_and(|g| g != 1) && r.count == Some(1)),
        "A0002 counted, not typical, on its exam date {a0002}: {:?}",
        counts.rows
    );
    let mut cannot: Vec<&str> = counts.rows.iter().filter_map(|r| r.cannot_grade.as_deref()).collect();
    cannot.sort_unstable();
    assert_eq!(cannot, ["not_chest_ct", "single_slice"], "cannot grade, in cells of its own: {:?}", counts.rows);
    assert!(counts.rows.iter().all(|r| r.grade.is_none() == r.cannot_grade.is_some()));
    assert_eq!(counts.rows.iter().filter_map(|r| r.count).sum::<i64>(), 4, "each case once");

    // Run again: nothing left to read or send.
    let again = run_batch(&args);
    assert!(again.contains("0 read (0 cannot grade), 0 not read, 0 new case(s) imported"), "{again}");
    assert!(again.contains("0 AI read(s) sent"), "{again}");
    assert_eq!(svc.block_on(svc.db.count_rows("ai_reads")).expect("rows"), 4);

    // Nothing identifying crossed the wire: the real files' patient and study identifiers,
    // their paths, the explanation's own words, the site key.
    let wire = wire.text();
    assert!(wire.contains("POST /v1/ai-reads/batch"), "the traffic was captured");
    let mut secrets = Vec::new();
    for case in ["ricord-1a-covid", "lung-pet-ct-dx-a0002"] {
        for tag in [tags::PATIENT_NAME, tags::PATIENT_ID, tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID] {
            let v = first_file_value(&ct.join(case), tag);
            if v.len() >= 4 {
                secrets.push(v);
            }
        }
    }
    assert!(secrets.len() >= 6, "the real files carry identifiers: {secrets:?}");
    secrets.push(ct.display().to_string());
    secrets.push(dir.path().display().to_string());
    secrets.push(lungdesk_store::SiteKey::from_bytes([9; 32]).reveal()[6..].to_owned());
    for secret in &secrets {
        assert!(!wire.contains(secret.as_str()), "{secret} crossed the network");
    }
    for words in ["mL", "peripheral", "bilateral", "because"] {
        assert!(!wire.contains(words), "the explanation's words ({words}) stay home");
    }
    svc.kill();
}

/// The child side of the kill test: runs `lungdesk batch` with the arguments in the
/// environment, and nothing when they are not there (a normal test run).
#[test]
fn batch_child_process() {
    let Ok(args) = std::env::var("LUNGDESK_BATCH_CHILD_ARGS") else { return };
    let args: Vec<String> = serde_json::from_str(&args).expect("arguments");
    let cli = Cli::try_parse_from(&args).expect("arguments");
    run(cli, &mut std::io::stdout()).expect("batch");
}

fn spawn_child(args: &[String], cache: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "batch_child_process", "--nocapture", "--test-threads=1"])
        .env("LUNGDESK_BATCH_CHILD_ARGS", serde_json::to_string(args).expect("json"))
        .env("XDG_CACHE_HOME", cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child")
}

/// Phantom chests the kill test reads.
const CASES: usize = 8;

/// SYNTHETIC phantom chests. Each run is killed at a point drawn (seeded, printed) from the
/// work it still has: during the import, or right after the k-th case it read (so the next
/// read is cut off half way), or in the sync. Kills are placed by what the batch prints, not
/// by the clock, so they land mid-work on a fast machine and a slow one alike. In the end every
/// case is read once by the bundled set, and every AI read is in the service once.
#[test]
fn batch_killed_at_random_points_reads_each_series_once_and_sends_each_read_once() {
    use std::io::BufRead as _;
    if matches!(lungdesk_inference::analysis::Engine::load(None), lungdesk_inference::analysis::Engine::Baseline { .. })
    {
        assert!(std::env::var_os("LUNGDESK_REQUIRE_ADAPTER").is_none(), "the models must run here (ONNX Runtime)");
        eprintln!("skipped: the bundled models do not run here (no ONNX Runtime)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("synthetic-chests");
    for seed in 0..CASES as u64 {
        let spec = PhantomSpec { dims: [96, 96, 64], seed: 60 + seed, ..PhantomSpec::default() };
        write_anatomy_series(&spec, &Anatomy::new(60 + seed, None), &data.join(format!("case-{seed}")))
            .expect("phantom");
    }
    let db = TestDatabase::sqlite();
    let (svc, token) = start_service(&db);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let store = dir.path().join("site.sqlite");
    new_store(&store);
    let args = batch_args(&store, &[&data], &format!("http://{}", svc.addr), &token_file);
    let cache = dir.path().join("cache");

    let seed = std::env::var("LUNGDESK_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(2026u64);
    println!("kill seed {seed} (LUNGDESK_KILL_SEED)");
    let mut state = seed;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n.max(1)
    };
    let read_so_far = || {
        Store::open(&store)
            .and_then(|s| {
                s.connection()
                    .query_row("SELECT COUNT(DISTINCT case_id) FROM ai_results WHERE model_set = 'bundled'", [], |r| {
                        r.get(0)
                    })
                    .map_err(|e| lungdesk_store::StoreError::Payload(e.to_string()))
            })
            .unwrap_or(0usize)
    };
    let mut mid_read_kills = 0;
    let mut import_kill = false;
    loop {
        let left = CASES - read_so_far();
        let mut child = spawn_child(&args, &cache);
        let lines = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        if !import_kill {
            // The first run dies before its first read: in start-up or the import.
            std::thread::sleep(Duration::from_millis(50 + next(250) as u64));
            import_kill = true;
        } else if left >= 3 {
            // Right after the k-th case of this run (at least one, so that every run gets
            // somewhere), the next read cut short.
            let k = 1 + next(left - 2);
            let mut cases_done = 0;
            for line in lines.lines() {
                let Ok(line) = line else { break };
                if line.starts_with("  case ") {
                    cases_done += 1;
                    if cases_done == k {
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(next(150) as u64));
            mid_read_kills += 1;
        } else {
            break;
        }
        child.kill().expect("kill");
        child.wait().expect("reap");
    }
    // One more run, killed in its sync or after it, then one run to the end.
    let mut child = spawn_child(&args, &cache);
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
        if line.is_ok_and(|l| l.starts_with("  case ")) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(next(40) as u64));
    child.kill().expect("kill");
    child.wait().expect("reap");
    let status = spawn_child(&args, &cache).wait().expect("final run");
    assert!(status.success(), "the last, uninterrupted run: {status}");
    println!("{mid_read_kills} kill(s) in the middle of reading, one in start-up or import, one at the end");
    assert!(mid_read_kills >= 1, "at least one kill cut a read short");

    assert_each_case_read_and_sent_once(&store, &svc);
    svc.kill();
}

/// Every case of the kill test read once by the bundled set, and its read in the service once.
fn assert_each_case_read_and_sent_once(store: &Path, svc: &RunningService) {
    let s = Store::open(store).expect("store");
    assert_eq!(s.case_count().expect("cases"), CASES as i64, "every phantom imported once");
    let per_case: Vec<(i64, i64)> = s
        .connection()
        .prepare("SELECT case_id, COUNT(*) FROM ai_results WHERE model_set = 'bundled' GROUP BY case_id")
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(per_case.len(), CASES, "every case read: {per_case:?}");
    assert!(per_case.iter().all(|(_, n)| *n == 1), "each read recorded once: {per_case:?}");
    assert_eq!(s.ai_read_summary().expect("outbox"), (0, CASES as i64, 0), "all sent, none waiting or refused");
    assert_eq!(
        svc.block_on(svc.db.count_rows("ai_reads")).expect("rows"),
        CASES as i64,
        "each AI read in the service once"
    );
}
