//! The desk's sync thread against the real service on loopback, on both backends, through a
//! proxy that injects faults: labels made offline, the network cut, 503s, responses lost after
//! the service committed (timeouts), the service killed mid-sync and restarted. After
//! recovery every label is in the service exactly once and the counts match.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lungdesk::sync::{SyncSettings, SyncTiming, spawn};
use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, issue_token};
use lungdesk_cloud::{Client, Role, Source, SurveillanceQuery};
use lungdesk_store::db::NewSeries;
use lungdesk_store::{Grade, Identity, Pcr, ReviewDraft, Store};
use support::faults::{Fault, FaultProxy};

fn start(db: &TestDatabase) -> RunningService {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    RunningService::start(
        &Config { database_url: db.url.clone(), min_count: 1, drift: DriftConfig::default() },
        listener,
        None,
    )
    .expect("service")
}

fn token(svc: &RunningService, reader: &str, site: &str, role: Role) -> String {
    let holder = Principal { reader_id: reader.into(), site_code: site.into(), role };
    svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token
}

fn identity(reader: &str) -> Identity {
    Identity {
        reader_id: reader.into(),
        display_name: format!("Reader {reader}"),
        site_code: "NAGOYA-U".into(),
        postal_code: "466-8560".into(),
        site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
    }
}

/// `n` cases (made-up studies, no images needed to label them), exam dates over 10 days.
fn seed(store: &mut Store, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let added = store
                .add_series(
                    &identity("R-SEED"),
                    &NewSeries {
                        study_uid: format!("2.25.77.{i}"),
                        series_uid: format!("2.25.77.{i}.1"),
                        exam_date: Some(format!("2026-04-{:02}", 1 + i % 10)),
                        age_years: Some(40 + (i % 50) as i64),
                        sex: Some(if i % 2 == 0 { "F" } else { "M" }.into()),
                        files: vec![PathBuf::from(format!("/nowhere/{i}.dcm"))],
                        info: None,
                    },
                )
                .expect("add");
            match added {
                lungdesk_store::db::Added::NewCase(id) => id,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn confirm(store: &mut Store, who: &Identity, case_id: i64, grade: Grade) {
    let draft = ReviewDraft { grade: Some(grade), pcr: Some(Pcr::Positive), ..ReviewDraft::default() };
    store.confirm(case_id, who, &draft).expect("confirm");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_label_arrives_exactly_once_through_kills_5xx_timeouts_and_a_cut_network() {
    for db in TestDatabase::both() {
        let mut svc = start(&db);
        let proxy = FaultProxy::start(svc.addr, Fault::Cut);
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("labels.sqlite");
        let mut store = Store::open(&path).expect("store");
        let who = identity("R-A");
        store.set_identity(&who).expect("identity");
        let cases = seed(&mut store, 1200);
        // Labelled offline: the network is cut from the start.
        for (i, &c) in cases.iter().enumerate() {
            confirm(&mut store, &who, c, Grade::ALL[i % 4]);
        }
        let settings =
            SyncSettings { url: format!("http://{}", proxy.addr), token: token(&svc, "R-A", "NAGOYA-U", Role::Reader) };
        let timing = SyncTiming {
            timeout: Duration::from_millis(700),
            backoff_start: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            idle_poll: Duration::from_millis(100),
            batch: 40,
        };
        let (tx, _rx) = std::sync::mpsc::channel();
        let sync = spawn(path.clone(), &settings, timing, tx, None).expect("sync thread");
        let watch = Store::open(&path).expect("second connection");
        let summary = || watch.sync_summary().expect("summary");
        wait_for("failed tries while offline", Duration::from_secs(20), || summary().last_error.is_some());
        assert_eq!(summary().sent, 0);

        // Back online; then 503s; then responses lost after the service stored the batch.
        proxy.set(Fault::None);
        wait_for("some labels sent", Duration::from_secs(30), || summary().sent >= 200);
        proxy.set(Fault::Error503);
        std::thread::sleep(Duration::from_millis(400));
        proxy.set(Fault::None);
        wait_for("more labels sent", Duration::from_secs(30), || summary().sent >= 400);
        proxy.set(Fault::SwallowResponses);
        std::thread::sleep(Duration::from_millis(1500));
        proxy.set(Fault::None);
        wait_for("more labels sent", Duration::from_secs(30), || summary().sent >= 600);
        // The service is killed mid-sync and comes back on another port, same database.
        let labels_before_kill = svc.block_on(svc.db.count_rows("labels")).expect("count");
        svc.kill();
        // Revisions made while the service is down.
        for &c in cases.iter().take(100) {
            confirm(&mut store, &who, c, Grade::Negative);
        }
        std::thread::sleep(Duration::from_millis(300));
        svc = start(&db);
        proxy.set_upstream(svc.addr);
        // A short network cut during recovery.
        proxy.set(Fault::Cut);
        std::thread::sleep(Duration::from_millis(300));
        proxy.set(Fault::None);
        sync.wake();
        wait_for("the outbox to drain", Duration::from_mins(2), || {
            let s = summary();
            s.pending == 0 && s.conflicts == 0
        });
        sync.stop_and_wait();

        // Exactly once: one stored label and one audit row per outbox entry, all keys present.
        let outbox = store.outbox_all().expect("outbox");
        // 1200 first labels, and 75 revisions (25 of the first 100 were negative already: unchanged).
        assert_eq!(outbox.len(), 1275);
        let count = |t: &str| svc.block_on(svc.db.count_rows(t)).expect("count");
        assert!(labels_before_kill > 0 && labels_before_kill < 1275, "killed mid-sync ({labels_before_kill} stored)");
        assert_eq!(count("labels"), 1275, "{}", db.name);
        assert_eq!(count("audit"), 1275 + 1, "one audited write per label, plus the reader's token");
        assert_eq!(count("cases"), 1200);
        let curator = Client::new(
            &format!("http://{}", svc.addr),
            &token(&svc, "C-1", "JRS", Role::Curator),
            Duration::from_secs(10),
            None,
        )
        .expect("client");
        let mut keys = Vec::new();
        let mut after = 0;
        loop {
            let page = curator.pull(after, 1000).expect("pull");
            let Some(last) = page.last() else { break };
            after = last.id;
            keys.extend(page.iter().map(|l| format!("{}:{}:{}", l.case_key, l.reader_id, l.revision)));
        }
        keys.sort();
        let mut expected: Vec<String> = outbox.iter().map(|o| o.idempotency_key.clone()).collect();
        expected.sort();
        assert_eq!(keys, expected, "every label once ({})", db.name);
        assert!(outbox.iter().any(|o| o.attempts > 0), "the faults were met");
        // Counts: 1200 cases, each counted once, by its latest revision.
        let counts = curator
            .surveillance(&SurveillanceQuery { source: Some(Source::Radiologist), ..SurveillanceQuery::default() })
            .expect("counts");
        let total: i64 = counts.rows.iter().filter_map(|r| r.count).sum();
        assert_eq!(total, 1200, "{}", db.name);
        let negative: i64 = counts.rows.iter().filter(|r| r.grade == 4).filter_map(|r| r.count).sum();
        assert_eq!(negative, 300 + 75, "300 labelled negative, plus 75 of the first 100 revised to negative");
        svc.kill();
    }
}
