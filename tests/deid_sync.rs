//! De-identification at the boundary, on real files: slices of the RICORD COVID-19 CT (from
//! `../shared/data`) are given a patient name, patient ID, birth date, institution and free
//! text (made up here), imported, labelled with a free-text note, and synced to the service.
//! None of those values, nor the real file's own patient ID, study UID or path, may appear in
//! the bytes that cross the network (captured by a tee proxy), in the service's database, or
//! in the logs of either side. Run on SQLite and PostgreSQL.

use std::net::TcpListener;
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use lungdesk::sync::pass;
use lungdesk_cloud::Role;
use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, Principal, RunningService, issue_token};
use lungdesk_store::{Grade, Identity, Pcr, ReviewDraft, Store, import_folder};
use lungdesk_tests::{Capture, real_data, tee_proxy};
use lungdesk_volume::Progress;

/// Every log line of the process, at every level: one global subscriber, which sees the
/// service's tokio threads and the sync side alike (a thread-local default would see only the
/// test's own thread).
fn global_log_capture() -> Capture {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
    logs
}

const NAME: &str = "SUZUKI^HANAKO";
const PATIENT_ID: &str = "NAGOYA-PID-0031337";
const BIRTH_DATE: &str = "19480229";
const INSTITUTION: &str = "Example University Hospital";
const FREE_TEXT: &str = "lives at 1-2-3 Example-cho, call 052-000-0000";
const NOTE: &str = "patient's daughter reports travel";

#[test]
fn identifying_fields_of_real_files_never_cross_the_network_or_reach_the_service() {
    let Some(ricord) = real_data("ct/ricord-1a-covid") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("with-identifiers");
    std::fs::create_dir_all(&data).expect("dir");
    let mut files: Vec<_> = std::fs::read_dir(&ricord).expect("ricord").flatten().map(|e| e.path()).collect();
    files.sort();
    let mut real_ids = Vec::new();
    for f in files.iter().take(8) {
        let mut obj = OpenFileOptions::new().open_file(f).expect("real file");
        for tag in [tags::PATIENT_ID, tags::STUDY_INSTANCE_UID] {
            if let Some(v) = obj.element(tag).ok().and_then(|e| e.to_str().ok()) {
                real_ids.push(v.trim_end_matches('\0').trim().to_owned());
            }
        }
        let mut put = |tag, vr, value: &str| obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        put(tags::PATIENT_NAME, VR::PN, NAME);
        put(tags::PATIENT_ID, VR::LO, PATIENT_ID);
        put(tags::PATIENT_BIRTH_DATE, VR::DA, BIRTH_DATE);
        put(tags::INSTITUTION_NAME, VR::LO, INSTITUTION);
        put(tags::STUDY_DESCRIPTION, VR::LO, FREE_TEXT);
        put(tags::IMAGE_COMMENTS, VR::LT, FREE_TEXT);
        obj.write_to_file(data.join(f.file_name().expect("name"))).expect("write");
    }
    real_ids.sort();
    real_ids.dedup();
    assert!(real_ids.len() >= 2, "the real files carry a patient ID and a study UID: {real_ids:?}");

    let logs = global_log_capture();
    for db in TestDatabase::both() {
        let wire = Capture::default();
        let (served, shared) = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let svc = RunningService::start(&Config::new(db.url.clone(), 1), listener, None).expect("service");
            let holder = Principal { reader_id: "R-1".into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
            let token = svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token;
            let proxy = tee_proxy(svc.addr, &wire);

            let mut store = Store::open(&dir.path().join(format!("labels-{}.sqlite", db.name))).expect("store");
            let me = store
                .set_identity(&Identity {
                    reader_id: "R-1".into(),
                    display_name: "Reader One".into(),
                    site_code: "NAGOYA-U".into(),
                    postal_code: "466-8560".into(),
                    site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
                })
                .expect("identity");
            let report = import_folder(&mut store, &me, &data, &Progress::new()).expect("import");
            assert_eq!(report.new_cases, 1);
            let draft = ReviewDraft {
                grade: Some(Grade::Typical),
                pcr: Some(Pcr::Positive),
                note: NOTE.into(),
                ..ReviewDraft::default()
            };
            store.confirm(1, &me, &draft).expect("confirm");
            let client = lungdesk_cloud::Client::new(&format!("http://{proxy}"), &token, Duration::from_secs(10), None)
                .expect("client");
            pass(&mut store, &client, 50).expect("sync");
            assert_eq!(store.sync_summary().expect("summary").sent, 1);
            let shared = client.pull(0, 100).expect("pull");
            let served = svc.block_on(svc.db.count_rows("labels")).expect("labels");
            svc.kill();
            (served, shared)
        };
        assert_eq!(served, 1, "the label reached the service ({})", db.name);
        assert_eq!(shared.len(), 1);

        let wire = wire.text();
        assert!(wire.contains("POST /v1/labels/batch"), "the traffic was captured: {wire}");
        assert!(wire.contains("\"grade\":1"), "the label itself crossed: {wire}");
        let mut service_bytes = String::new();
        if db.name == "sqlite" {
            let file = db.url.trim_start_matches("sqlite://");
            for f in [file.to_owned(), format!("{file}-wal")] {
                if let Ok(b) = std::fs::read(&f) {
                    service_bytes.push_str(&String::from_utf8_lossy(&b));
                }
            }
            assert!(service_bytes.contains("NAGOYA-U"), "the service file was read");
        }
        let logs = logs.text();
        assert!(
            logs.contains("/v1/labels/batch"),
            "the service's own log lines (from its runtime's threads) were captured: {logs}"
        );
        let mut secrets = vec![NAME, "SUZUKI", PATIENT_ID, BIRTH_DATE, "1948-02-29", INSTITUTION, FREE_TEXT, NOTE];
        secrets.extend(real_ids.iter().map(String::as_str));
        let data_path = data.display().to_string();
        secrets.push(&data_path);
        // The site key (its hex) keys the case key and never leaves the site.
        let site_key = lungdesk_store::SiteKey::from_bytes([7; 32]).reveal();
        secrets.push(&site_key[6..]);
        for secret in secrets {
            assert!(!wire.contains(secret), "{secret} crossed the network ({})", db.name);
            assert!(!service_bytes.contains(secret), "{secret} is in the service's database");
            assert!(!logs.contains(secret), "{secret} is in the logs");
        }
        // The exact age does not reach the service: it keeps a 10-year band.
        assert!(!service_bytes.is_empty() || db.name == "postgres");
    }
}
