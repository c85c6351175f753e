//! Privacy at import and export: files carrying (made-up) patient name, ID, birth date,
//! institution and free text are imported, labelled and exported; none of those values may
//! appear in the store file, its WAL, the outbox payload, the CSV/JSON export or the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lungdesk_store::export::export_to_file;
use lungdesk_store::{Grade, Identity, Pcr, ReviewDraft, Store, import_folder};
use lungdesk_volume::Progress;
use lungdesk_volume::phantom::{
    FAKE_BIRTH_DATE, FAKE_FREE_TEXT, FAKE_PATIENT_ID, FAKE_PATIENT_NAME, PhantomSpec, write_phantom_series,
};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);
impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn identifying_fields_never_reach_the_store_exports_payloads_or_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let spec = PhantomSpec { dims: [32, 32, 8], with_identifying_fields: true, ..PhantomSpec::default() };
    let written = write_phantom_series(&spec, &data).expect("phantom");
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let db = dir.path().join("labels.sqlite");
    let csv = dir.path().join("labels.csv");
    let json = dir.path().join("labels.json");
    let payloads = tracing::subscriber::with_default(subscriber, || {
        let mut store = Store::open(&db).expect("store");
        let me = store
            .set_identity(&Identity {
                reader_id: "R-1".into(),
                display_name: "Reader One".into(),
                site_code: "SITE-A".into(),
                postal_code: "466-8560".into(),
                site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
            })
            .expect("identity");
        let report = import_folder(&mut store, &me, &data, &Progress::new()).expect("import");
        assert_eq!(report.new_cases, 1);
        let draft = ReviewDraft { grade: Some(Grade::Typical), pcr: Some(Pcr::Positive), ..ReviewDraft::default() };
        store.confirm(1, &me, &draft).expect("confirm");
        export_to_file(&store, &csv).expect("csv");
        export_to_file(&store, &json).expect("json");
        let mut payloads =
            store.outbox_all().expect("outbox").into_iter().map(|o| o.payload).collect::<Vec<_>>().join("\n");
        // The AI read payload (issue #17): the series UID and the explanation stay home.
        let series_uid = store.case_series(1).expect("series")[0].0.clone();
        let ai = lungdesk_store::AiResult {
            series_uid: series_uid.clone(),
            grade: Some(Grade::Typical),
            cannot_grade: None,
            scores: [0.7, 0.2, 0.1, 0.0],
            explanation: "the AI's own words stay home".into(),
            method: "test".into(),
            models: vec!["lungdesk-lung 1.0.0".into(), "lungdesk-lesion 2.0.0".into()],
            involvement_percent: None,
            severity_score: None,
        };
        store.set_ai_result(1, &ai).expect("AI result");
        let read = store.ai_read_payload(1, &me, "bundled").expect("read").expect("an AI read");
        read.validate().expect("a valid lungdesk-ai-read/1 payload");
        assert_eq!((read.grade, read.model_version.as_str()), (Some(1), "lungdesk-lung 1.0.0+lungdesk-lesion 2.0.0"));
        let read = serde_json::to_string(&read).expect("json");
        assert!(!read.contains(&series_uid), "no series UID in the AI read");
        assert!(!read.contains("the AI's own words"), "no explanation in the AI read");
        payloads.push('\n');
        payloads.push_str(&read);
        payloads
    });
    let logs = String::from_utf8(log.0.lock().expect("log").clone()).expect("utf8");
    assert!(logs.contains("import finished"), "the log was captured: {logs}");
    let mut store_bytes = std::fs::read(&db).expect("db");
    if let Ok(wal) = std::fs::read(db.with_extension("sqlite-wal")) {
        store_bytes.extend(wal);
    }
    let store_text = String::from_utf8_lossy(&store_bytes);
    let exports = std::fs::read_to_string(&csv).expect("csv") + &std::fs::read_to_string(&json).expect("json");
    for secret in [
        FAKE_PATIENT_NAME,
        FAKE_PATIENT_ID,
        FAKE_BIRTH_DATE,
        FAKE_FREE_TEXT,
        "Nagoya Example Hospital",
        "YAMADA",
        // The Series Description: the desk shows it from the headers, the store never keeps it.
        "SYNTHETIC chest phantom",
    ] {
        assert!(!store_text.contains(secret), "{secret} is in the store file");
        assert!(!exports.contains(secret), "{secret} is in an export");
        assert!(!payloads.contains(secret), "{secret} is in a sync payload");
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
    // Beyond the store (which needs the files' paths to open the case), no path or UID leaves.
    let data_path = data.display().to_string();
    for outside in [&exports, &payloads, &logs] {
        assert!(!outside.contains(&data_path), "a file path left the store");
        assert!(!outside.contains(&written.series_uid), "a UID left the store");
    }
}
