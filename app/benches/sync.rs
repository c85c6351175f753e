//! Benchmark: 10,000 labels synced on loopback ≤ 5 s (issue #6).
//!
//! `cargo bench -p lungdesk --bench sync` fills a desk's store with 10,000 confirmed labels
//! (made-up cases; the setup is not timed), starts the service on loopback and times the desk's
//! sync pass (`lungdesk::sync::pass`: batches of 200, each one transaction in the service) until
//! the outbox is empty. For comparison, in the same run: the naive uploader a site would write
//! first, one `POST /v1/labels` per label. On SQLite (the default service) and on PostgreSQL
//! (when `scripts/postgres.sh` has started one). Prints JSON.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lungdesk::sync::pass;
use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, issue_token};
use lungdesk_cloud::{Client, Role};
use lungdesk_store::db::NewSeries;
use lungdesk_store::{Grade, Identity, Pcr, ReviewDraft, Store};

const LABELS: usize = 10_000;

fn store_with_labels(path: &std::path::Path) -> Store {
    let mut store = Store::open(path).expect("store");
    // Setup only: the labels are written without fsync per label.
    store.connection().execute_batch("PRAGMA synchronous = OFF").expect("pragma");
    let me = store
        .set_identity(&Identity {
            reader_id: "R-1".into(),
            display_name: "Reader One".into(),
            site_code: "NAGOYA-U".into(),
            postal_code: "466-8560".into(),
            site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
        })
        .expect("identity");
    for i in 0..LABELS {
        let added = store
            .add_series(
                &store.identity().expect("identity").expect("set"),
                &NewSeries {
                    study_uid: format!("2.25.99.{i}"),
                    series_uid: format!("2.25.99.{i}.1"),
                    exam_date: Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
                    age_years: Some(20 + (i % 70) as i64),
                    sex: Some(if i % 2 == 0 { "F" } else { "M" }.into()),
                    files: vec![PathBuf::from(format!("/nowhere/{i}.dcm"))],
                    info: None,
                },
            )
            .expect("add");
        let lungdesk_store::db::Added::NewCase(case_id) = added else { panic!("new case") };
        let draft =
            ReviewDraft { grade: Some(Grade::ALL[i % 4]), pcr: Some(Pcr::ALL[i % 4]), ..ReviewDraft::default() };
        store.confirm(case_id, &me, &draft).expect("confirm");
    }
    store.connection().execute_batch("PRAGMA synchronous = FULL").expect("pragma");
    store
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut results = Vec::new();
    for db in TestDatabase::both() {
        for (how, batched) in [("lungdesk sync (batches of 200)", true), ("one POST per label", false)] {
            // A fresh service database per run.
            let fresh =
                if db.name == "sqlite" { TestDatabase::sqlite() } else { TestDatabase::postgres().expect("pg") };
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let svc = RunningService::start(
                &Config { database_url: fresh.url.clone(), min_count: 5, drift: DriftConfig::default() },
                listener,
                None,
            )
            .expect("service");
            let holder = Principal { reader_id: "R-1".into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
            let token = svc.block_on(issue_token(&svc.db, &holder, 30, "bench")).expect("token").token;
            let client =
                Client::new(&format!("http://{}", svc.addr), &token, Duration::from_secs(30), None).expect("client");
            let path = dir.path().join(format!("{}-{batched}.sqlite", db.name));
            let mut store = store_with_labels(&path);
            let start = Instant::now();
            if batched {
                pass(&mut store, &client, 200).expect("sync");
            } else {
                for item in store.outbox_pending(usize::MAX).expect("outbox") {
                    client.push(&item.idempotency_key, &item.payload).expect("push");
                    store.mark_sent(item.id).expect("mark");
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let stored = svc.block_on(svc.db.count_rows("labels")).expect("count");
            assert_eq!(stored, LABELS as i64, "every label arrived once");
            assert_eq!(store.sync_summary().expect("summary").pending, 0);
            eprintln!("{} · {how}: {LABELS} labels in {seconds:.2} s", fresh.name);
            results.push(serde_json::json!({
                "backend": fresh.name, "method": how, "labels": LABELS, "seconds": seconds,
                "labels_per_second": LABELS as f64 / seconds,
            }));
            svc.kill();
        }
    }
    println!("{}", serde_json::to_string_pretty(&results).expect("json"));
}
