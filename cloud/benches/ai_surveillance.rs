//! Benchmark (issue #17): AI reads at scale. Ingest of AI reads ≥ 5,000/s; with 1,000,000 AI
//! reads and 100,000 labels in PostgreSQL, AI-only surveillance p95 ≤ 200 ms and agreement p95
//! ≤ 500 ms; on SQLite the same at one tenth of the data; and how each grows, by tenfold steps.
//!
//! `cargo bench -p lungdesk-cloud --bench ai_surveillance [-- postgres|sqlite]` (both by
//! default). Everything goes through the service over HTTP, as the desks and `lungdesk batch`
//! send it: SYNTHETIC reads of made-up cases (120 sites in 8 prefectures, 730 exam days, one
//! read per case by the bundled set and a second, newer-version read of every 20th case), and
//! a SYNTHETIC confirmed label for every 10th case (agreeing with the AI on 4 of 5). Four
//! threads send batches of 500. After each step: the first AI query (which evaluates the drift
//! monitor of every site the step touched) timed on its own, then 20 runs of each query, end
//! to end (HTTP, JSON). For comparison, in the same run: the counts the way an analyst would
//! write them in SQL (latest read per case by an anti-join, then GROUP BY). Prints JSON.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, Principal, RunningService, issue_token};
use lungdesk_cloud::{Client, Period, Role, SurveillanceQuery};
use lungdesk_domain::{AI_READ_SCHEMA, AiReadPayload, LABEL_SCHEMA, LabelPayload, Pcr};
use sqlx::AssertSqlSafe;

const SITES: usize = 120;
const POSTAL: [&str; 8] =
    ["100-0001", "466-8560", "565-0871", "060-8638", "980-8575", "812-8582", "700-8558", "904-0215"];
const BATCH: usize = 500;
const THREADS: usize = 4;

/// The analyst's way: the latest read of each case by the set, then the counts.
const ANALYST_SQL: &str = "SELECT a.day, a.prefecture, a.grade, a.cannot_grade, a.sex, a.age_band, COUNT(*) FROM ai_reads a \
     WHERE a.model_set = 'bundled' AND a.day >= '2026-08-02' AND a.day <= '2026-10-31' AND NOT EXISTS (SELECT 1 FROM ai_reads b \
     WHERE b.site_code = a.site_code AND b.case_key = a.case_key AND b.model_set = a.model_set AND b.analysed_at > a.analysed_at) \
     GROUP BY a.day, a.prefecture, a.grade, a.cannot_grade, a.sex, a.age_band";

fn site(i: usize) -> String {
    format!("SITE-{:03}", i % SITES)
}

fn day(case: usize) -> String {
    let d = time::Date::from_calendar_date(2024, time::Month::November, 1).expect("date")
        + time::Duration::days((case * 7919 % 730) as i64);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn ai_grade(case: usize) -> Option<u8> {
    (!case.is_multiple_of(37)).then_some(((case * 31) % 4 + 1) as u8)
}

/// The reads of cases `from..to`: one each, and a newer version's of every 20th.
fn reads(from: usize, to: usize) -> Vec<AiReadPayload> {
    let mut out = Vec::new();
    for case in from..to {
        let grade = ai_grade(case);
        let read = AiReadPayload {
            schema: AI_READ_SCHEMA.into(),
            case_key: format!("{case:016x}"),
            site_code: site(case),
            facility_postal_code: POSTAL[case % SITES % POSTAL.len()].into(),
            exam_date: Some(day(case)),
            age_years: Some(((case % 9) * 10) as i64),
            sex: Some(if case.is_multiple_of(2) { "F" } else { "M" }.into()),
            model_set: "bundled".into(),
            model_version: "lungdesk-lung 1.0.0+lungdesk-lesion 2.0.0".into(),
            models: vec!["lungdesk-lung 1.0.0".into(), "lungdesk-lesion 2.0.0".into()],
            grade,
            cannot_grade: grade.is_none().then(|| "too_few_slices".into()),
            scores: if grade.is_some() { [0.7, 0.1, 0.1, 0.1] } else { [0.0; 4] },
            involvement_percent: Some(12.5),
            severity_score: Some(6),
            analysed_at: "2026-11-30T09:00:00Z".into(),
        };
        if case.is_multiple_of(20) {
            out.push(AiReadPayload {
                model_version: "lungdesk-lung 1.0.0+lungdesk-lesion 2.1.0".into(),
                analysed_at: "2026-11-30T10:00:00Z".into(),
                ..read.clone()
            });
        }
        out.push(read);
    }
    out
}

fn label(case: usize) -> LabelPayload {
    let ai = ai_grade(case).unwrap_or(4);
    LabelPayload {
        schema: LABEL_SCHEMA.into(),
        case_key: format!("{case:016x}"),
        site_code: site(case),
        facility_postal_code: POSTAL[case % SITES % POSTAL.len()].into(),
        exam_date: Some(day(case)),
        age_years: Some(((case % 9) * 10) as i64),
        sex: Some(if case.is_multiple_of(2) { "F" } else { "M" }.into()),
        reader_id: format!("R-{}", case % SITES),
        grade: if case.is_multiple_of(5) { ai % 4 + 1 } else { ai },
        pcr: Pcr::Positive,
        findings: vec![],
        ai_grade: Some(ai),
        ai_models: None,
        revision: 1,
        confirmed_at: format!("{}T12:00:00Z", day(case)),
    }
}

/// Sends `items` for every site in batches of [`BATCH`] from [`THREADS`] threads; the wall time.
fn send<T: Send + Sync + 'static>(
    clients: &Arc<Vec<Client>>,
    items: Vec<T>,
    site_of: fn(&T) -> usize,
    push: fn(&Client, &[T]),
) -> Duration {
    let mut by_site: Vec<Vec<T>> = (0..SITES).map(|_| Vec::new()).collect();
    for item in items {
        let s = site_of(&item);
        by_site[s].push(item);
    }
    let batches: Vec<(usize, Vec<T>)> = by_site
        .into_iter()
        .enumerate()
        .flat_map(|(s, mut v)| {
            let mut out = Vec::new();
            while !v.is_empty() {
                let rest = v.split_off(v.len().min(BATCH));
                out.push((s, std::mem::replace(&mut v, rest)));
            }
            out
        })
        .collect();
    let work = Arc::new(std::sync::Mutex::new(batches));
    let t = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (work, clients) = (work.clone(), clients.clone());
            std::thread::spawn(move || {
                loop {
                    let next = work.lock().expect("work").pop();
                    let Some((s, batch)) = next else { break };
                    push(&clients[s], &batch);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender");
    }
    t.elapsed()
}

fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let p95 = ms[((ms.len() as f64 * 0.95).ceil() as usize).saturating_sub(1)];
    serde_json::json!({ "median_ms": ms[ms.len() / 2], "p95_ms": p95, "max_ms": ms[ms.len() - 1], "runs": ms.len() })
}

fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> serde_json::Value {
    let _ = f();
    let ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let _ = f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    stats(ms)
}

fn run(db: &TestDatabase, steps: &[usize]) -> serde_json::Value {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let svc = RunningService::start(&Config::new(db.url.clone(), 5), listener, None).expect("service");
    let token = |reader: &str, site: &str, role| {
        let holder = Principal { reader_id: reader.into(), site_code: site.into(), role };
        let t = svc.block_on(issue_token(&svc.db, &holder, 1, "bench")).expect("token").token;
        Client::new(&format!("http://{}", svc.addr), &t, Duration::from_mins(5), None).expect("client")
    };
    let readers: Arc<Vec<Client>> =
        Arc::new((0..SITES).map(|s| token(&format!("R-{s}"), &site(s), Role::Reader)).collect());
    let curator = token("C-1", "JRS", Role::Curator);
    let mut out = Vec::new();
    let mut done = 0;
    for &cases in steps {
        let new_reads = reads(done, cases);
        let n_reads = new_reads.len();
        let ingest = send(
            &readers,
            new_reads,
            |r| r.site_code[5..].parse().unwrap_or(0),
            |c, b| {
                let outcomes = c.push_ai_reads(b).expect("AI reads");
                assert!(outcomes.iter().all(|o| matches!(o, lungdesk_cloud::PushOutcome::Stored)));
            },
        );
        let labels: Vec<String> = (done..cases)
            .filter(|c| c.is_multiple_of(10))
            .map(|c| serde_json::to_string(&label(c)).expect("json"))
            .collect();
        let n_labels = labels.len();
        let label_time = send(
            &readers,
            labels,
            |l| l[l.find("SITE-").unwrap_or(0) + 5..][..3].parse().unwrap_or(0),
            |c, b| {
                let refs: Vec<&str> = b.iter().map(String::as_str).collect();
                c.push_batch(&refs).expect("labels");
            },
        );
        done = cases;
        let total_reads = svc.block_on(svc.db.count_rows("ai_reads")).expect("count");
        let q90 = SurveillanceQuery {
            model: Some("bundled".into()),
            from: Some("2026-08-02".into()),
            to: Some("2026-10-31".into()),
            ..SurveillanceQuery::default()
        };
        let first = Instant::now();
        let _ = curator.ai_surveillance(&q90).expect("first query");
        let first_ms = first.elapsed().as_secs_f64() * 1e3;
        let weekly = SurveillanceQuery { period: Period::Week, from: None, to: None, ..q90.clone() };
        let rows = curator.ai_surveillance(&weekly).expect("weekly").rows.len();
        let step = serde_json::json!({
            "backend": db.name,
            "ai_reads": total_reads,
            "labels": svc.block_on(svc.db.count_rows("labels")).expect("count"),
            "ingest_ai_reads_per_s": n_reads as f64 / ingest.as_secs_f64(),
            "ingest_labels_per_s": n_labels as f64 / label_time.as_secs_f64(),
            "first_ai_query_after_ingest_ms (drift monitor evaluated)": first_ms,
            "ai_national_daily_90_days": time(20, || curator.ai_surveillance(&q90).expect("counts")),
            "ai_everything_by_week": time(20, || curator.ai_surveillance(&weekly).expect("counts")),
            "ai_everything_by_week_rows": rows,
            "agreement_all_sites": time(20, || curator.agreement("bundled", None, None, None).expect("agreement")),
            "agreement_one_site": time(20, || curator.agreement("bundled", Some("SITE-007"), None, None).expect("agreement")),
            "analyst_sql_national_daily_90_days": time(5, || {
                svc.block_on(sqlx::query(AssertSqlSafe(ANALYST_SQL)).fetch_all(svc.db.pool())).expect("analyst")
            }),
        });
        eprintln!("{}", serde_json::to_string(&step).expect("json"));
        out.push(step);
    }
    svc.kill();
    serde_json::Value::Array(out)
}

fn main() {
    let which = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut all = Vec::new();
    if which.as_deref().is_none_or(|w| w == "postgres") {
        match TestDatabase::postgres() {
            Some(db) => all.push(run(&db, &[10_000, 100_000, 1_000_000])),
            None => eprintln!("SKIPPED PostgreSQL: no server (run scripts/postgres.sh)"),
        }
    }
    if which.as_deref().is_none_or(|w| w == "sqlite") {
        all.push(run(&TestDatabase::sqlite(), &[1_000, 10_000, 100_000]));
    }
    println!("{}", serde_json::to_string_pretty(&all).expect("json"));
}
