//! Benchmark: the surveillance query over 1,000,000 labels in PostgreSQL ≤ 200 ms (issue #6).
//!
//! `cargo bench -p lungdesk-cloud --bench surveillance` makes a fresh database on the test
//! PostgreSQL server (`scripts/postgres.sh`), fills it with 1,000,000 made-up labels of
//! 1,000,000 cases (two years of exam dates, 47 prefectures, 120 sites; the setup is not
//! timed), starts the service and times `GET /v1/surveillance` end to end (HTTP, JSON) for
//! three queries, 15 times each. For comparison, in the same run: the same counts computed the
//! way an analyst would with SQL over the labels table (latest label per case, then GROUP BY).
//! Prints JSON.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, issue_token};
use lungdesk_cloud::{Client, Period, Role, Source, SurveillanceQuery};
use sqlx::AssertSqlSafe;

const LABELS: i64 = 1_000_000;

const FILL: &[&str] = &[
    "INSERT INTO cases (case_key, site_code, exam_date, age_band, sex, postal_code, prefecture, day, week, \
     cur_label, cur_confirmed_at, cur_grade, cur_pcr, cur_ai_grade) \
     SELECT lpad(to_hex(g), 16, '0'), 'SITE-' || (g % 120), d, ((g % 9) * 10) || '-' || ((g % 9) * 10 + 9), \
     CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END, '100-0001', pref, d, \
     to_char(date_trunc('week', d::date), 'YYYY-MM-DD'), g, d || 'T09:00:00Z', (g * 31) % 4 + 1, \
     (ARRAY['positive','negative','pending','not_tested'])[(g * 17) % 4 + 1], (g * 13) % 4 + 1 \
     FROM (SELECT g, to_char(date '2025-01-01' + (g % 730)::int, 'YYYY-MM-DD') AS d, \
           lpad(((g * 7919) % 47 + 1)::text, 2, '0') AS pref FROM generate_series(1::bigint, 1000000) g) s",
    "INSERT INTO labels (idempotency_key, case_key, site_code, reader_id, revision, grade, pcr, findings, ai_grade, \
     ai_models, confirmed_at, received_at, payload_sha256) \
     SELECT case_key || ':R-' || (cur_label % 500) || ':1', case_key, site_code, 'R-' || (cur_label % 500), 1, \
     cur_grade, cur_pcr, '', cur_ai_grade, '[]', cur_confirmed_at, cur_confirmed_at, md5(case_key) FROM cases",
    "INSERT INTO counts (source, day, week, prefecture, grade, pcr, n) \
     SELECT 'radiologist', day, week, prefecture, cur_grade, cur_pcr, COUNT(*) FROM cases \
     GROUP BY day, week, prefecture, cur_grade, cur_pcr",
    "INSERT INTO counts (source, day, week, prefecture, grade, pcr, n) \
     SELECT 'ai', day, week, prefecture, cur_ai_grade, cur_pcr, COUNT(*) FROM cases \
     GROUP BY day, week, prefecture, cur_ai_grade, cur_pcr",
    "ANALYZE",
];

/// The analyst's way: the latest label of each case, then the counts, straight from labels.
const ANALYST_SQL: &str = "SELECT c.day, c.prefecture, l.grade, l.pcr, COUNT(*) FROM \
     (SELECT DISTINCT ON (case_key) case_key, grade, pcr FROM labels ORDER BY case_key, confirmed_at DESC) l \
     JOIN cases c ON c.case_key = l.case_key WHERE c.day >= '2026-10-02' AND c.day <= '2026-12-30' \
     GROUP BY c.day, c.prefecture, l.grade, l.pcr";

fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    serde_json::json!({ "median_ms": ms[ms.len() / 2], "max_ms": ms[ms.len() - 1], "runs": ms.len() })
}

fn main() {
    let Some(db) = TestDatabase::postgres() else {
        eprintln!("SKIPPED: no PostgreSQL server (run scripts/postgres.sh)");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let svc =
        // Threshold 1: nothing suppressed, so the totals can be compared with the analyst's SQL.
        RunningService::start(&Config { database_url: db.url.clone(), min_count: 1, drift: DriftConfig::default() }, listener, None).expect("service");
    let fill = Instant::now();
    for statement in FILL {
        svc.block_on(sqlx::query(AssertSqlSafe(*statement)).execute(svc.db.pool())).expect("fill");
    }
    let labels = svc.block_on(svc.db.count_rows("labels")).expect("count");
    assert_eq!(labels, LABELS);
    let cells = svc.block_on(svc.db.count_rows("counts")).expect("count");
    eprintln!("filled {labels} labels ({cells} count cells) in {:.0} s", fill.elapsed().as_secs_f64());
    let holder = Principal { reader_id: "C-1".into(), site_code: "JRS".into(), role: Role::Curator };
    let token = svc.block_on(issue_token(&svc.db, &holder, 1, "bench")).expect("token").token;
    let client = Client::new(&format!("http://{}", svc.addr), &token, Duration::from_mins(1), None).expect("client");
    let queries = [
        (
            "national daily, last 90 days, radiologist (the app's plot)",
            SurveillanceQuery {
                from: Some("2026-10-02".into()),
                to: Some("2026-12-30".into()),
                source: Some(Source::Radiologist),
                ..SurveillanceQuery::default()
            },
        ),
        (
            "Tokyo by week, two years, both sources",
            SurveillanceQuery { period: Period::Week, prefecture: Some("13".into()), ..SurveillanceQuery::default() },
        ),
        (
            "everything by week, two years, both sources",
            SurveillanceQuery { period: Period::Week, ..SurveillanceQuery::default() },
        ),
    ];
    let mut results = Vec::new();
    for (name, q) in &queries {
        let _ = client.surveillance(q).expect("warm-up");
        let mut ms = Vec::new();
        let mut rows = 0;
        for _ in 0..15 {
            let t = Instant::now();
            let s = client.surveillance(q).expect("counts");
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            rows = s.rows.len();
        }
        eprintln!("{name}: {rows} rows, {}", stats(ms.clone()));
        results.push(serde_json::json!({ "query": name, "rows": rows, "http_end_to_end": stats(ms) }));
    }
    // The analyst's SQL for the first query, timed for comparison. Its total is printed, not
    // asserted: the counts here were filled by SQL from the same cases, so agreement would
    // prove nothing. That the service's counts follow its labels is tested in
    // `cloud/tests/service.rs` (`labels_are_stored_once_counts_follow_revisions_and_small_counts_are_suppressed`).
    let mut ms = Vec::new();
    let mut analyst_total = 0i64;
    for _ in 0..3 {
        let t = Instant::now();
        let rows = svc.block_on(sqlx::query(ANALYST_SQL).fetch_all(svc.db.pool())).expect("analyst");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        analyst_total = rows.iter().map(|r| sqlx::Row::get::<i64, _>(r, 4)).sum();
    }
    let ours = client.surveillance(&queries[0].1).expect("counts");
    let ours_total: i64 = ours.rows.iter().map(|r| r.count.unwrap_or(0)).sum();
    let suppressed = ours.rows.iter().filter(|r| r.count.is_none()).count();
    eprintln!("analyst SQL: {} (total {analyst_total}; service total {ours_total})", stats(ms.clone()));
    results.push(serde_json::json!({
        "query": "analyst SQL over labels, same as the first query", "sql": stats(ms),
        "analyst_total": analyst_total, "service_published_total": ours_total, "service_suppressed_cells": suppressed,
    }));
    println!("{}", serde_json::to_string_pretty(&results).expect("json"));
    svc.kill();
}
