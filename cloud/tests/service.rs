//! The service over HTTP on loopback, on both backends (SQLite, and PostgreSQL when a server
//! is there: `scripts/postgres.sh`; CI requires it): labels stored exactly once, counts that
//! follow revisions, suppression, CSV, pulls by role, TLS, and every refusal writing nothing.

use std::net::TcpListener;
use std::time::Duration;

use lungdesk_cloud::server::backends::TestDatabase;
use lungdesk_cloud::server::{Config, DriftConfig, Principal, RunningService, TlsPem, issue_token};
use lungdesk_cloud::wire::IssuedToken;
use lungdesk_cloud::{Client, Period, PushOutcome, Role, Source, SurveillanceQuery};
use lungdesk_domain::drift::DriftStatus;
use lungdesk_domain::{AI_READ_SCHEMA, AiReadPayload, Finding, LABEL_SCHEMA, LabelPayload, Pcr};
use reqwest::StatusCode;

fn start(db: &TestDatabase, min_count: i64) -> RunningService {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    RunningService::start(
        &Config { database_url: db.url.clone(), min_count, drift: DriftConfig::default() },
        listener,
        None,
    )
    .expect("service starts")
}

fn token(svc: &RunningService, reader: &str, site: &str, role: Role, days: i64) -> String {
    let holder = Principal { reader_id: reader.into(), site_code: site.into(), role };
    let issued: IssuedToken = svc.block_on(issue_token(&svc.db, &holder, days, "test")).expect("token");
    issued.token
}

fn label(case: u32, site: &str, reader: &str, revision: i64, grade: u8, pcr: Pcr, day: &str) -> LabelPayload {
    LabelPayload {
        schema: LABEL_SCHEMA.into(),
        case_key: format!("{case:016x}"),
        site_code: site.into(),
        facility_postal_code: if site == "OSAKA-U" { "565-0871".into() } else { "466-8560".into() },
        exam_date: Some(day.into()),
        age_years: Some(60),
        sex: Some("F".into()),
        reader_id: reader.into(),
        grade,
        pcr,
        findings: vec![Finding::CrazyPaving],
        ai_grade: Some(2),
        ai_models: Some(vec!["lungdesk-lesion 0.3".into()]),
        revision,
        confirmed_at: format!("{day}T09:00:{revision:02}Z"),
    }
}

fn client(svc: &RunningService, token: &str) -> Client {
    Client::new(&format!("http://{}", svc.addr), token, Duration::from_secs(10), None).expect("client")
}

fn push(c: &Client, p: &LabelPayload) -> PushOutcome {
    c.push(&p.idempotency_key(), &serde_json::to_string(p).expect("json")).expect("push")
}

fn rows(svc: &RunningService, table: &str) -> i64 {
    svc.block_on(svc.db.count_rows(table)).expect("count")
}

#[test]
fn labels_are_stored_once_counts_follow_revisions_and_small_counts_are_suppressed() {
    for db in TestDatabase::both() {
        let svc = start(&db, 2);
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let b = client(&svc, &token(&svc, "R-B", "NAGOYA-U", Role::Reader, 30));
        // Three cases on 2026-04-01 (a Wednesday), one on 04-02; reader B also reads case 1.
        let l1 = label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01");
        assert_eq!(push(&a, &l1), PushOutcome::Stored, "{}", db.name);
        assert_eq!(push(&a, &l1), PushOutcome::AlreadyThere, "a retry is not counted twice ({})", db.name);
        assert_eq!(push(&a, &label(2, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        assert_eq!(push(&a, &label(3, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        assert_eq!(push(&a, &label(4, "NAGOYA-U", "R-A", 1, 4, Pcr::Negative, "2026-04-02")), PushOutcome::Stored);
        // The same revision with other content: a conflict, the service's copy returned.
        let changed = LabelPayload { grade: 3, ..l1.clone() };
        match push(&a, &changed) {
            PushOutcome::Conflict(held) => assert_eq!(held.as_ref().as_ref().map(|h| h.grade), Some(1)),
            other => panic!("expected a conflict, got {other:?}"),
        }
        // Reader B's later label of case 1 becomes the case's current grade: 3 cases stay 3.
        assert_eq!(push(&b, &label(1, "NAGOYA-U", "R-B", 1, 2, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        assert_eq!(rows(&svc, "labels"), 5);
        assert_eq!(rows(&svc, "cases"), 4);

        let q = SurveillanceQuery { source: Some(Source::Radiologist), ..SurveillanceQuery::default() };
        let s = a.surveillance(&q).expect("counts");
        let cell =
            |day: &str, grade: u8| s.rows.iter().find(|r| r.period_start == day && r.grade == grade).map(|r| r.count);
        assert_eq!(s.min_count, 2);
        assert_eq!(cell("2026-04-01", 1), Some(Some(2)), "{} {:?}", db.name, s.rows);
        assert_eq!(cell("2026-04-01", 2), Some(None), "one case: suppressed");
        assert_eq!(cell("2026-04-02", 4), Some(None), "one case: suppressed");
        assert!(s.rows.iter().all(|r| r.prefecture == "23"), "Nagoya is in Aichi (23)");
        // The AI's grade of the same cases, as its own source.
        let ai = a.surveillance(&SurveillanceQuery { source: Some(Source::Ai), ..q.clone() }).expect("counts");
        let ai_total: i64 = ai.rows.iter().filter_map(|r| r.count).sum();
        assert_eq!(ai_total, 3, "four AI-graded cases, three on 04-01 in one cell, one suppressed");
        // Revision 2 of case 2 moves it from grade 1 to 4: the grade-1 cell drops to 1 (suppressed).
        assert_eq!(push(&a, &label(2, "NAGOYA-U", "R-A", 2, 4, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        let s = a.surveillance(&q).expect("counts");
        let g1 = s.rows.iter().find(|r| r.period_start == "2026-04-01" && r.grade == 1).expect("cell");
        assert_eq!(g1.count, None);
        // By week: all four cases fall in the week of Monday 2026-03-30.
        let week = a
            .surveillance(&SurveillanceQuery {
                period: Period::Week,
                source: Some(Source::Radiologist),
                ..Default::default()
            })
            .expect("counts");
        assert!(week.rows.iter().all(|r| r.period_start == "2026-03-30"), "{:?}", week.rows);
        // CSV, with suppressed cells written as "<2".
        let csv = a.surveillance_csv(&q).expect("csv");
        assert!(csv.starts_with("period_start,prefecture,grade,pcr,source,count\n"), "{csv}");
        assert!(csv.contains("2026-04-01,23,2,positive,radiologist,<2"), "{csv}");
        // Filters.
        let none = a.surveillance(&SurveillanceQuery { prefecture: Some("13".into()), ..q.clone() }).expect("counts");
        assert!(none.rows.is_empty(), "nothing in Tokyo");
        let from = a.surveillance(&SurveillanceQuery { from: Some("2026-04-02".into()), ..q }).expect("counts");
        assert!(from.rows.iter().all(|r| r.period_start == "2026-04-02"));
        // Every accepted write is audited: 3 tokens + 6 labels.
        assert_eq!(rows(&svc, "audit"), 2 + 6, "{}", db.name);
        svc.kill();
    }
}

#[test]
fn readers_pull_their_sites_labels_and_curators_read_across_sites() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let o = client(&svc, &token(&svc, "R-O", "OSAKA-U", Role::Reader, 30));
        let curator = client(&svc, &token(&svc, "C-1", "JRS", Role::Curator, 30));
        push(&a, &label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01"));
        // A grade 3 with the findings of another diagnosis: they travel and come back as sent.
        let alternative = vec![Finding::Mass, Finding::Emphysema, Finding::Fibrosis, Finding::PulmonaryOedema];
        push(
            &o,
            &LabelPayload {
                findings: alternative.clone(),
                ..label(9, "OSAKA-U", "R-O", 1, 3, Pcr::Negative, "2026-04-01")
            },
        );
        let mine = a.pull(0, 100).expect("pull");
        assert_eq!(mine.iter().map(|l| l.site_code.as_str()).collect::<Vec<_>>(), ["NAGOYA-U"], "{}", db.name);
        let all = curator.pull(0, 100).expect("pull");
        assert_eq!(all.len(), 2);
        assert_eq!(all.iter().find(|l| l.site_code == "OSAKA-U").map(|l| l.findings.clone()), Some(alternative));
        assert_eq!(curator.pull(all[0].id, 100).expect("pull").len(), 1, "pulls resume after a receipt");
        let osaka = curator.surveillance(&SurveillanceQuery { prefecture: Some("27".into()), ..Default::default() });
        assert_eq!(osaka.expect("counts").rows.len(), 2, "Osaka: radiologist and AI cells");
        svc.kill();
    }
}

/// Sends a raw request; the status.
fn raw(
    svc: &RunningService,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<(String, &str)>,
) -> StatusCode {
    let mut req = reqwest::blocking::Client::new().request(method, format!("http://{}{path}", svc.addr));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some((b, content_type)) = body {
        req = req.header("Content-Type", content_type).body(b);
    }
    req.send().expect("send").status()
}

#[test]
#[allow(clippy::too_many_lines)] // one table of refusals, then what the roles may do
fn every_refusal_has_its_status_and_writes_nothing() {
    use reqwest::Method;
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let reader = token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30);
        let other_site = token(&svc, "R-O", "OSAKA-U", Role::Reader, 30);
        let admin = token(&svc, "ADMIN", "NAGOYA-U", Role::SiteAdmin, 30);
        let curator = token(&svc, "C-1", "JRS", Role::Curator, 30);
        let expired = token(&svc, "R-OLD", "NAGOYA-U", Role::Reader, -1);
        let short_admin = token(&svc, "ADMIN-1D", "NAGOYA-U", Role::SiteAdmin, 1);
        // One label of Nagoya's case 1: the table rows the refusals must leave as they are.
        let good = label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01");
        assert_eq!(push(&client(&svc, &reader), &good), PushOutcome::Stored);
        let before: Vec<i64> = ["labels", "cases", "counts", "audit", "tokens"].iter().map(|t| rows(&svc, t)).collect();

        let json = |p: &LabelPayload| (serde_json::to_string(p).expect("json"), "application/json");
        let l2 = label(2, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01");
        let k2 = l2.idempotency_key();
        let osaka_label_by_nagoya = label(3, "OSAKA-U", "R-A", 1, 3, Pcr::Positive, "2026-04-01");
        let mut big = serde_json::to_value(&l2).expect("json");
        big["ai_models"] = serde_json::json!(vec!["x".repeat(1000); 100]);
        let mut with_name = serde_json::to_value(&l2).expect("json");
        with_name["patient_name"] = serde_json::json!("YAMADA^TARO");
        let injection = LabelPayload { case_key: "'; DROP TABLE labels;--".into(), ..l2.clone() };
        let site_injection = LabelPayload { site_code: "NAGOYA-U' OR '1'='1".into(), ..l2.clone() };
        let with = |f: &dyn Fn(&mut LabelPayload)| {
            let mut p = l2.clone();
            f(&mut p);
            p
        };
        let feb_30 = with(&|p| p.exam_date = Some("2026-02-30".into()));
        let year_2999 = with(&|p| p.exam_date = Some("2999-01-01".into()));
        let pinned = with(&|p| p.confirmed_at = "9999-12-31T00:00:00Z".into());
        let sql_time = with(&|p| p.confirmed_at = "2026-03-02'; DROP TABLE labels;--".into());
        let post = |t: Option<&str>, key: Option<&str>, body: (String, &str)| {
            raw(&svc, Method::POST, "/v1/labels", t, key, Some(body))
        };
        let cases: Vec<(&str, StatusCode, StatusCode)> = vec![
            ("no token", post(None, Some(&k2), json(&l2)), StatusCode::UNAUTHORIZED),
            ("invalid token", post(Some("not-a-token"), Some(&k2), json(&l2)), StatusCode::UNAUTHORIZED),
            ("expired token", post(Some(&expired), Some(&k2), json(&l2)), StatusCode::UNAUTHORIZED),
            ("curator writes a label", post(Some(&curator), Some(&k2), json(&l2)), StatusCode::FORBIDDEN),
            ("site admin writes a label", post(Some(&admin), Some(&k2), json(&l2)), StatusCode::FORBIDDEN),
            ("another reader's label", post(Some(&other_site), Some(&k2), json(&l2)), StatusCode::FORBIDDEN),
            (
                "a label for another site",
                post(Some(&reader), Some(&osaka_label_by_nagoya.idempotency_key()), json(&osaka_label_by_nagoya)),
                StatusCode::FORBIDDEN,
            ),
            (
                "oversized payload",
                post(Some(&reader), Some(&k2), (big.to_string(), "application/json")),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                "malformed JSON",
                post(Some(&reader), Some(&k2), ("{\"schema\": ".into(), "application/json")),
                StatusCode::BAD_REQUEST,
            ),
            (
                "a field outside the whitelist",
                post(Some(&reader), Some(&k2), (with_name.to_string(), "application/json")),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "not JSON",
                post(Some(&reader), Some(&k2), ("grade=1".into(), "text/plain")),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            ("missing idempotency key", post(Some(&reader), None, json(&l2)), StatusCode::BAD_REQUEST),
            (
                "SQL in the case key",
                post(Some(&reader), Some(&injection.idempotency_key()), json(&injection)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "SQL in the site code",
                post(Some(&reader), Some(&site_injection.idempotency_key()), json(&site_injection)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ("exam date 2026-02-30", post(Some(&reader), Some(&k2), json(&feb_30)), StatusCode::UNPROCESSABLE_ENTITY),
            (
                "exam date 2999-01-01",
                post(Some(&reader), Some(&k2), json(&year_2999)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "confirmed_at 9999-12-31 (would pin the case)",
                post(Some(&reader), Some(&k2), json(&pinned)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ("SQL in confirmed_at", post(Some(&reader), Some(&k2), json(&sql_time)), StatusCode::UNPROCESSABLE_ENTITY),
            (
                "a 30-day token from a 1-day admin token (would outlive its issuer)",
                raw(
                    &svc,
                    Method::POST,
                    "/v1/tokens",
                    Some(&short_admin),
                    None,
                    Some((r#"{"reader_id":"R-LONG","role":"reader","days":30}"#.into(), "application/json")),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "site admin issues a token for a blank reader id",
                raw(
                    &svc,
                    Method::POST,
                    "/v1/tokens",
                    Some(&admin),
                    None,
                    Some((r#"{"reader_id":"   ","role":"reader","days":30}"#.into(), "application/json")),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "SQL in a surveillance filter",
                raw(&svc, Method::GET, "/v1/surveillance?prefecture=13'%20OR%20'1'='1", Some(&reader), None, None),
                StatusCode::BAD_REQUEST,
            ),
            (
                "SQL in a pull cursor",
                raw(&svc, Method::GET, "/v1/labels?after=0;DELETE%20FROM%20labels", Some(&reader), None, None),
                StatusCode::BAD_REQUEST,
            ),
            (
                "reader reads the audit trail",
                raw(&svc, Method::GET, "/v1/audit", Some(&reader), None, None),
                StatusCode::FORBIDDEN,
            ),
            (
                "reader issues a token",
                raw(
                    &svc,
                    Method::POST,
                    "/v1/tokens",
                    Some(&reader),
                    None,
                    Some((r#"{"reader_id":"X","role":"reader","days":30}"#.into(), "application/json")),
                ),
                StatusCode::FORBIDDEN,
            ),
            (
                "site admin issues a curator token",
                raw(
                    &svc,
                    Method::POST,
                    "/v1/tokens",
                    Some(&admin),
                    None,
                    Some((r#"{"reader_id":"X","role":"curator","days":30}"#.into(), "application/json")),
                ),
                StatusCode::FORBIDDEN,
            ),
            (
                "no token for the counts",
                raw(&svc, Method::GET, "/v1/surveillance", None, None, None),
                StatusCode::UNAUTHORIZED,
            ),
        ];
        for (what, got, want) in &cases {
            assert_eq!(got, want, "{what} ({})", db.name);
        }
        let after: Vec<i64> = ["labels", "cases", "counts", "audit", "tokens"].iter().map(|t| rows(&svc, t)).collect();
        assert_eq!(before, after, "nothing written by any refused request ({})", db.name);

        // What the roles may do: the site admin issues a reader token (audited) and reads the
        // site's audit trail; a token holder whose id looks like SQL writes it as plain text.
        let issued = raw(
            &svc,
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            None,
            // 29 days: the admin token (30 days) was issued a moment ago, and no token outlives its issuer.
            Some((r#"{"reader_id":"R-NEW","role":"reader","days":29}"#.into(), "application/json")),
        );
        assert_eq!(issued, StatusCode::CREATED);
        assert_eq!(raw(&svc, Method::GET, "/v1/audit", Some(&admin), None, None), StatusCode::OK);
        let odd = "R'); DROP TABLE labels;--";
        let odd_token = token(&svc, odd, "NAGOYA-U", Role::Reader, 30);
        let odd_label = label(5, "NAGOYA-U", odd, 1, 2, Pcr::Pending, "2026-04-03");
        assert_eq!(push(&client(&svc, &odd_token), &odd_label), PushOutcome::Stored);
        assert_eq!(rows(&svc, "labels"), before[0] + 1, "the labels table is intact");
        let pulled = client(&svc, &admin).pull(0, 100).expect("pull");
        assert!(pulled.iter().any(|l| l.reader_id == odd), "stored as text");
        svc.kill();
    }
}

#[test]
fn the_service_speaks_tls() {
    let db = TestDatabase::sqlite();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert_pem = cert.cert.pem();
    let tls = TlsPem { cert: cert_pem.clone().into_bytes(), key: cert.signing_key.serialize_pem().into_bytes() };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let svc = RunningService::start(
        &Config { database_url: db.url.clone(), min_count: 1, drift: DriftConfig::default() },
        listener,
        Some(tls),
    )
    .expect("service starts");
    let t = token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30);
    let url = format!("https://localhost:{}", svc.addr.port());
    let trusted = Client::new(&url, &t, Duration::from_secs(10), Some(cert_pem.as_bytes())).expect("client");
    let l = label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01");
    assert_eq!(push(&trusted, &l), PushOutcome::Stored);
    // Without the certificate trusted, the client refuses the connection; plain HTTP gets nowhere.
    let untrusted = Client::new(&url, &t, Duration::from_secs(10), None).expect("client");
    let err = untrusted.pull(0, 10).expect_err("untrusted certificate");
    assert!(err.to_string().contains("cannot be reached"), "{err}");
    let plain = Client::new(&format!("http://localhost:{}", svc.addr.port()), &t, Duration::from_secs(5), None)
        .expect("client");
    assert!(plain.pull(0, 10).is_err());
    svc.kill();
}

#[test]
fn a_batch_with_repeats_revisions_and_a_conflict_is_stored_and_counted_once() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let r1 = label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01");
        let r2 = label(1, "NAGOYA-U", "R-A", 2, 3, Pcr::Positive, "2026-04-01");
        let other = label(2, "NAGOYA-U", "R-A", 1, 2, Pcr::Negative, "2026-04-02");
        let clash = LabelPayload { grade: 4, ..r1.clone() };
        let batch: Vec<String> =
            [&r1, &r1, &r2, &other, &clash].iter().map(|p| serde_json::to_string(p).expect("json")).collect();
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        let outcomes = a.push_batch(&refs).expect("batch");
        assert_eq!(
            outcomes[..4],
            [PushOutcome::Stored, PushOutcome::AlreadyThere, PushOutcome::Stored, PushOutcome::Stored]
        );
        assert!(
            matches!(&outcomes[4], PushOutcome::Conflict(held) if held.as_ref().as_ref().map(|h| h.grade) == Some(1))
        );
        // Sent again (a lost answer): all already there or the same conflict, nothing new.
        let again = a.push_batch(&refs).expect("batch");
        assert!(again[..4].iter().all(|o| *o == PushOutcome::AlreadyThere), "{again:?}");
        assert_eq!(rows(&svc, "labels"), 3, "{}", db.name);
        assert_eq!(rows(&svc, "audit"), 1 + 3);
        // Case 1 counts once, at its latest revision (grade 3); case 2 at grade 2.
        let s = a
            .surveillance(&SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() })
            .expect("counts");
        let cells: Vec<(String, u8, Option<i64>)> =
            s.rows.iter().map(|r| (r.period_start.clone(), r.grade, r.count)).collect();
        assert_eq!(cells, vec![("2026-04-01".into(), 3, Some(1)), ("2026-04-02".into(), 2, Some(1))], "{}", db.name);
        svc.kill();
    }
}

/// A token names one real scope: an empty or malformed site or reader id is refused when the
/// token is issued (the CLI and the API both go through `issue_token`), and the database's
/// CHECK refuses it too; nothing is written.
#[test]
fn tokens_without_a_real_scope_are_never_issued() {
    use lungdesk_cloud::server::IssueError;
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let before = rows(&svc, "tokens");
        for (reader, site) in [("R-A", ""), ("R-A", "NAGOYA U"), ("R-A", "名大"), ("", "NAGOYA-U"), ("  ", "NAGOYA-U")]
        {
            let holder = Principal { reader_id: reader.into(), site_code: site.into(), role: Role::Reader };
            let issued = svc.block_on(issue_token(&svc.db, &holder, 30, "test"));
            assert!(matches!(issued, Err(IssueError::Invalid(_))), "{reader:?} at {site:?}: {issued:?} ({})", db.name);
        }
        let holder = Principal { reader_id: "R-A".into(), site_code: "NAGOYA-U".into(), role: Role::Reader };
        let overflow = svc.block_on(issue_token(&svc.db, &holder, i64::MAX, "test"));
        assert!(matches!(overflow, Err(IssueError::Invalid(_))), "days overflow: {overflow:?}");
        let empty = Principal { reader_id: "R-A".into(), site_code: String::new(), role: Role::Reader };
        let direct = svc.block_on(svc.db.add_token("f".repeat(64).as_str(), &empty, i64::MAX, "test"));
        assert!(direct.is_err(), "the database refuses an empty site too ({})", db.name);
        assert_eq!(rows(&svc, "tokens"), before, "nothing written ({})", db.name);
        svc.kill();
    }
}

/// `confirmed_at` is compared in UTC: reader A's label at 19:30+09:00 (10:30Z) is older than
/// reader B's at 11:00Z, so B's grade is the case's current one whichever arrives last.
#[test]
fn the_latest_label_is_the_latest_in_time_not_in_text() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let b = client(&svc, &token(&svc, "R-B", "NAGOYA-U", Role::Reader, 30));
        let later = LabelPayload {
            confirmed_at: "2026-04-01T11:00:00Z".into(),
            ..label(1, "NAGOYA-U", "R-B", 1, 2, Pcr::Positive, "2026-04-01")
        };
        let earlier = LabelPayload {
            confirmed_at: "2026-04-01T19:30:00+09:00".into(),
            ..label(1, "NAGOYA-U", "R-A", 1, 3, Pcr::Positive, "2026-04-01")
        };
        assert_eq!(push(&b, &later), PushOutcome::Stored);
        assert_eq!(push(&a, &earlier), PushOutcome::Stored);
        let q = SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() };
        let counts = a.surveillance(&q).expect("counts");
        let by_grade: Vec<(u8, Option<i64>)> = counts.rows.iter().map(|r| (r.grade, r.count)).collect();
        assert_eq!(by_grade, vec![(2, Some(1))], "B's later grade 2 is current ({})", db.name);
        svc.kill();
    }
}

/// `/v1/health` asks the database: 503 with the reason while it is unusable, and `ok` again
/// once it is back, with its schema rebuilt where it was dropped, without a restart.
#[test]
fn health_follows_the_database_and_recovers_without_a_restart() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let health = || raw(&svc, reqwest::Method::GET, "/v1/health", None, None, None);
        assert_eq!(health(), StatusCode::OK, "{}", db.name);
        // The schema dropped under the running service (as when the database is re-created).
        for table in ["labels", "counts", "audit", "cases", "tokens"] {
            let drop = format!("DROP TABLE {table}");
            svc.block_on(sqlx::query(sqlx::AssertSqlSafe(drop)).execute(svc.db.pool())).expect("drop");
        }
        assert_eq!(health(), StatusCode::OK, "the schema is rebuilt ({})", db.name);
        assert_eq!(rows(&svc, "tokens"), 0);
        // A token works again on the rebuilt schema.
        let c = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        assert_eq!(push(&c, &label(7, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        // The database gone: 503 with the reason.
        svc.block_on(svc.db.pool().close());
        let resp = reqwest::blocking::get(format!("http://{}/v1/health", svc.addr)).expect("send");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", db.name);
        assert!(resp.text().expect("body").contains("database unavailable"));
        svc.kill();
    }
}

/// The token is checked from the headers before the body is read: a tokenless POST that
/// announces 1 MiB and sends none of it is answered 401 at once (reading the body first would
/// wait for bytes that never come). A client that sends half its headers is cut off after
/// the header read timeout instead of holding the connection open.
#[test]
fn the_token_is_checked_before_the_body_and_half_sent_headers_time_out() {
    use std::io::{Read, Write};
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let mut stream = std::net::TcpStream::connect(svc.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let head =
            "POST /v1/labels HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n";
        stream.write_all(head.as_bytes()).expect("write");
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).expect("answered before any body byte");
        let text = String::from_utf8_lossy(&reply[..n]);
        assert!(text.starts_with("HTTP/1.1 401"), "{text} ({})", db.name);

        let mut half = std::net::TcpStream::connect(svc.addr).expect("connect");
        half.set_read_timeout(Some(lungdesk_cloud::server::HEADER_READ_TIMEOUT * 2)).expect("timeout");
        half.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ").expect("write");
        let started = std::time::Instant::now();
        let mut buf = [0u8; 256];
        let closed = half.read(&mut buf).is_ok(); // EOF or a 408, not a read timeout
        assert!(closed, "the service closed the half-sent request ({})", db.name);
        assert!(started.elapsed() < lungdesk_cloud::server::HEADER_READ_TIMEOUT * 2);
        svc.kill();
    }
}

/// The differencing attacks: one case on Monday and four on Tuesday of one week, counts under
/// 3 suppressed. A weekly query from Monday and one from Tuesday would once differ by Monday's
/// single case; both now count the whole week and publish the same cell. And the week less its
/// published Tuesday would be Monday's single case: so the week is published only where its
/// suppressed days hold none or at least 3 cases together. The same for the AI-only counts.
#[test]
fn no_suppressed_cell_can_be_recovered_by_differencing_two_queries() {
    for db in TestDatabase::both() {
        let svc = start(&db, 3);
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let confirm = |cases: std::ops::Range<u32>, day: &str| {
            for case in cases {
                assert_eq!(push(&a, &label(case, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, day)), PushOutcome::Stored);
            }
        };
        // 2026-03-30 is a Monday.
        confirm(1..2, "2026-03-30");
        confirm(2..6, "2026-03-31");
        let weekly = |from: &str, to: &str| {
            let q = SurveillanceQuery {
                period: Period::Week,
                from: Some(from.into()),
                to: Some(to.into()),
                source: Some(Source::Radiologist),
                ..Default::default()
            };
            a.surveillance(&q)
                .expect("counts")
                .rows
                .iter()
                .map(|r| (r.period_start.clone(), r.count))
                .collect::<Vec<_>>()
        };
        let daily = |day: &str| {
            let q = SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() };
            a.surveillance(&q).expect("counts").rows.into_iter().find(|r| r.period_start == day).and_then(|r| r.count)
        };
        let week = |count| vec![("2026-03-30".to_owned(), count)];
        assert_eq!(weekly("2026-03-30", "2026-04-05"), week(None), "the week less Tuesday is Monday ({})", db.name);
        assert_eq!(weekly("2026-03-31", "2026-04-01"), week(None), "the same whole week ({})", db.name);
        assert_eq!((daily("2026-03-30"), daily("2026-03-31")), (None, Some(4)), "Monday's single case suppressed");
        // Two more on Monday: every day published, and so the week.
        confirm(6..8, "2026-03-30");
        assert_eq!(weekly("2026-03-30", "2026-04-05"), week(Some(7)), "{}", db.name);
        assert_eq!(weekly("2026-03-31", "2026-04-01"), week(Some(7)), "nothing to subtract ({})", db.name);
        // One on Wednesday, two on Thursday: both suppressed, together 3 (the threshold).
        confirm(8..9, "2026-04-01");
        confirm(9..11, "2026-04-02");
        assert_eq!((daily("2026-04-01"), daily("2026-04-02")), (None, None));
        assert_eq!(weekly("2026-03-30", "2026-04-05"), week(Some(10)), "Wednesday and Thursday together are 3");

        // The AI-only counts: one read on Monday, four on Tuesday.
        let reads: Vec<AiReadPayload> = (1..6)
            .map(|case| AiReadPayload {
                exam_date: Some(if case == 1 { "2026-03-30" } else { "2026-03-31" }.into()),
                ..ai_read(case, "NAGOYA-U", Some(1))
            })
            .collect();
        a.push_ai_reads(&reads).expect("AI reads");
        let ai = |period| {
            let q = SurveillanceQuery { period, model: Some("bundled".into()), ..Default::default() };
            a.ai_surveillance(&q)
                .expect("AI counts")
                .rows
                .into_iter()
                .map(|r| (r.period_start, r.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(ai(Period::Week), week(None), "{}", db.name);
        assert_eq!(
            ai(Period::Day),
            vec![("2026-03-30".to_owned(), None), ("2026-03-31".to_owned(), Some(4))],
            "{}",
            db.name
        );
        svc.kill();
    }
}

/// A site admin lists its site's tokens by id (never the tokens) and revokes one: the reader's
/// next request is 401 "token revoked", the revocation is audited, and an admin of another site
/// neither sees nor revokes it (404, nothing written).
#[test]
fn tokens_are_listed_by_id_and_revoked() {
    use reqwest::Method;
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let reader = token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30);
        let admin = token(&svc, "ADMIN", "NAGOYA-U", Role::SiteAdmin, 30);
        let other_admin = token(&svc, "ADMIN-O", "OSAKA-U", Role::SiteAdmin, 30);
        assert!(client(&svc, &reader).pull(0, 10).is_ok());
        let http = reqwest::blocking::Client::new();
        let base = format!("http://{}", svc.addr);
        let listed: Vec<lungdesk_cloud::wire::TokenInfo> =
            http.get(format!("{base}/v1/tokens")).bearer_auth(&admin).send().expect("list").json().expect("json");
        let id = &lungdesk_cloud::server::db::token_hash(&reader)[..12];
        assert!(listed.iter().any(|t| t.id == *id && t.reader_id == "R-A" && !t.revoked), "{listed:?}");
        assert!(listed.iter().all(|t| t.site_code == "NAGOYA-U"), "only its own site: {listed:?}");
        let body = serde_json::to_string(&listed).expect("json");
        assert!(!body.contains(&reader) && !body.contains(&admin), "no token in the listing");
        // Another site's admin: not found, nothing written.
        let before = (rows(&svc, "revoked_tokens"), rows(&svc, "audit"));
        assert_eq!(
            raw(&svc, Method::DELETE, &format!("/v1/tokens/{id}"), Some(&other_admin), None, None),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            raw(&svc, Method::DELETE, &format!("/v1/tokens/{id}"), Some(&reader), None, None),
            StatusCode::FORBIDDEN
        );
        assert_eq!((rows(&svc, "revoked_tokens"), rows(&svc, "audit")), before, "{}", db.name);
        assert_eq!(
            raw(&svc, Method::DELETE, &format!("/v1/tokens/{id}"), Some(&admin), None, None),
            StatusCode::NO_CONTENT
        );
        let refused = http.get(format!("{base}/v1/labels")).bearer_auth(&reader).send().expect("send");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.text().expect("body").contains("revoked"));
        assert_eq!(rows(&svc, "audit"), before.1 + 1, "the revocation is audited ({})", db.name);
        let listed: Vec<lungdesk_cloud::wire::TokenInfo> =
            http.get(format!("{base}/v1/tokens")).bearer_auth(&admin).send().expect("list").json().expect("json");
        assert!(listed.iter().any(|t| t.id == *id && t.revoked));
        svc.kill();
    }
}

/// Ten desks post the same 400 labels at once, each batch in its own shuffled order (on
/// PostgreSQL this once deadlocked 199 times and took 167 s): every batch succeeds, each label
/// is stored exactly once, and the counts are exact.
#[test]
fn ten_concurrent_shuffled_batches_all_succeed_with_exact_counts() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let token = token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30);
        let labels: Vec<String> = (0..400u32)
            .map(|case| {
                let l = label(100 + case, "NAGOYA-U", "R-A", 1, 1 + (case % 4) as u8, Pcr::Positive, "2026-04-01");
                serde_json::to_string(&l).expect("json")
            })
            .collect();
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..10u64)
                .map(|seed| {
                    let mut order = labels.clone();
                    // A fixed shuffle per desk (xorshift), different for each.
                    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (seed + 1);
                    for i in (1..order.len()).rev() {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        order.swap(i, (state % (i as u64 + 1)) as usize);
                    }
                    let c = client(&svc, &token);
                    scope.spawn(move || {
                        let refs: Vec<&str> = order.iter().map(String::as_str).collect();
                        c.push_batch(&refs)
                    })
                })
                .collect();
            for h in handles {
                let outcomes = h.join().expect("thread").expect("every batch succeeds");
                assert!(
                    outcomes.iter().all(|o| matches!(o, PushOutcome::Stored | PushOutcome::AlreadyThere)),
                    "{outcomes:?}"
                );
            }
        });
        let elapsed = started.elapsed();
        assert_eq!(rows(&svc, "labels"), 400, "each label once ({})", db.name);
        assert_eq!(rows(&svc, "cases"), 400);
        let q = SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() };
        let counts = client(&svc, &token).surveillance(&q).expect("counts");
        let total: i64 = counts.rows.iter().filter_map(|r| r.count).sum();
        assert_eq!(total, 400, "exact counts ({}): {:?}", db.name, counts.rows);
        eprintln!("{}: 10 concurrent shuffled batches of 400 in {elapsed:?}", db.name);
        assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
        svc.kill();
    }
}

/// A case key is its site's own. A reader of Osaka who posts the key of Nagoya's case (or its
/// next one) makes an Osaka case with that key; Nagoya's own labels of its case are still
/// stored (once 403 "another site's case"), and each site pulls only its own.
#[test]
fn case_keys_are_scoped_to_their_site() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let nagoya = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let osaka = client(&svc, &token(&svc, "R-O", "OSAKA-U", Role::Reader, 30));
        assert_eq!(push(&osaka, &label(7, "OSAKA-U", "R-O", 1, 3, Pcr::Negative, "2026-04-01")), PushOutcome::Stored);
        assert_eq!(push(&nagoya, &label(7, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        assert_eq!(push(&nagoya, &label(7, "NAGOYA-U", "R-A", 2, 2, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        assert_eq!(rows(&svc, "cases"), 2, "one case per site ({})", db.name);
        let pulled: Vec<(String, i64, u8)> =
            nagoya.pull(0, 10).expect("pull").iter().map(|l| (l.site_code.clone(), l.revision, l.grade)).collect();
        assert_eq!(pulled, vec![("NAGOYA-U".into(), 1, 1), ("NAGOYA-U".into(), 2, 2)], "{}", db.name);
        let pulled: Vec<(String, u8)> =
            osaka.pull(0, 10).expect("pull").iter().map(|l| (l.site_code.clone(), l.grade)).collect();
        assert_eq!(pulled, vec![("OSAKA-U".into(), 3)]);
        // Each site's case counts at its own current grade and prefecture.
        let q = SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() };
        let cells: Vec<(String, u8, Option<i64>)> = nagoya
            .surveillance(&q)
            .expect("counts")
            .rows
            .iter()
            .map(|r| (r.prefecture.clone(), r.grade, r.count))
            .collect();
        assert_eq!(cells, vec![("23".into(), 2, Some(1)), ("27".into(), 3, Some(1))], "{}", db.name);
        svc.kill();
    }
}

/// A newer revision corrects the case's exam date and postal code: the case moves to the new
/// day and prefecture in the counts, and leaves the old ones. An older revision arriving late
/// does not move it back.
#[test]
fn a_newer_revision_corrects_the_exam_date_and_the_postal_code() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let first = label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01");
        let corrected = LabelPayload {
            exam_date: Some("2026-03-28".into()),
            facility_postal_code: "565-0871".into(),
            confirmed_at: "2026-04-02T09:00:00Z".into(),
            ..label(1, "NAGOYA-U", "R-A", 2, 1, Pcr::Positive, "2026-04-01")
        };
        let q = SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() };
        let cells = |c: &Client| -> Vec<(String, String, Option<i64>)> {
            c.surveillance(&q)
                .expect("counts")
                .rows
                .iter()
                .map(|r| (r.period_start.clone(), r.prefecture.clone(), r.count))
                .collect()
        };
        assert_eq!(push(&a, &first), PushOutcome::Stored);
        assert_eq!(cells(&a), vec![("2026-04-01".into(), "23".into(), Some(1))]);
        assert_eq!(push(&a, &corrected), PushOutcome::Stored);
        assert_eq!(cells(&a), vec![("2026-03-28".into(), "27".into(), Some(1))], "{}", db.name);
        // A second reader's older label of the same case moves nothing.
        let b = client(&svc, &token(&svc, "R-B", "NAGOYA-U", Role::Reader, 30));
        let older = LabelPayload {
            confirmed_at: "2026-04-01T08:00:00Z".into(),
            ..label(1, "NAGOYA-U", "R-B", 1, 1, Pcr::Positive, "2026-04-01")
        };
        assert_eq!(push(&b, &older), PushOutcome::Stored);
        assert_eq!(cells(&a), vec![("2026-03-28".into(), "27".into(), Some(1))], "{}", db.name);
        // The conflict answer shows the label as it was sent, with its own date and postal code.
        let clash = LabelPayload { grade: 4, ..corrected.clone() };
        match push(&a, &clash) {
            PushOutcome::Conflict(held) => {
                let held = (*held).expect("held label");
                assert_eq!(
                    (held.exam_date.as_deref(), held.facility_postal_code.as_str()),
                    (Some("2026-03-28"), "565-0871")
                );
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        svc.kill();
    }
}

/// Every write records the token it came with. A site admin who mints a second token for an
/// existing reader can still write as them, but each label, and each audited write, names the
/// token (by its public id, never the token itself), so the trail shows which one wrote what.
#[test]
fn every_write_records_the_token_that_made_it() {
    use sqlx::Row as _;
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let admin = token(&svc, "ADMIN", "NAGOYA-U", Role::SiteAdmin, 30);
        let first = token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30);
        let http = reqwest::blocking::Client::new();
        let base = format!("http://{}", svc.addr);
        let second: IssuedToken = http
            .post(format!("{base}/v1/tokens"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "reader_id": "R-A", "role": "reader", "days": 7 }))
            .send()
            .expect("issue")
            .json()
            .expect("json");
        let id = lungdesk_cloud::server::db::token_id;
        assert_eq!(
            push(&client(&svc, &first), &label(1, "NAGOYA-U", "R-A", 1, 1, Pcr::Positive, "2026-04-01")),
            PushOutcome::Stored
        );
        assert_eq!(
            push(&client(&svc, &second.token), &label(2, "NAGOYA-U", "R-A", 1, 2, Pcr::Positive, "2026-04-01")),
            PushOutcome::Stored
        );
        let by_label: Vec<(String, String)> = svc
            .block_on(sqlx::query("SELECT case_key, token_id FROM labels ORDER BY case_key").fetch_all(svc.db.pool()))
            .expect("labels")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(
            by_label,
            vec![(format!("{:016x}", 1), id(&first)), (format!("{:016x}", 2), id(&second.token))],
            "{}",
            db.name
        );
        let trail: Vec<lungdesk_cloud::wire::AuditEntry> =
            http.get(format!("{base}/v1/audit")).bearer_auth(&admin).send().expect("audit").json().expect("json");
        let writes: Vec<(&str, &str)> = trail.iter().map(|e| (e.action.as_str(), e.token_id.as_str())).collect();
        assert!(
            writes.contains(&("token.issue", id(&admin).as_str())),
            "the second token's issue names the admin's token: {writes:?}"
        );
        assert!(writes.contains(&("label.store", id(&first).as_str())), "{writes:?}");
        assert!(writes.contains(&("label.store", id(&second.token).as_str())), "{writes:?}");
        let body = serde_json::to_string(&trail).expect("json");
        assert!(
            !body.contains(&first) && !body.contains(&second.token) && !body.contains(&admin),
            "no token in the trail"
        );
        svc.kill();
    }
}

/// A database written by the first schema (case keys global, no token or per-label exam date
/// recorded) is migrated when the service starts: every row kept, the counts as they were, and
/// new labels of its cases stored beside the old.
#[test]
fn a_version_1_database_is_migrated_with_its_rows_kept() {
    for db in TestDatabase::both() {
        let postgres = db.name == "postgres";
        let id = if postgres { "BIGSERIAL PRIMARY KEY" } else { "INTEGER PRIMARY KEY" };
        // The schema as the first release created it (fixture of the old version).
        let v1 = [
            "CREATE TABLE tokens (token_sha256 TEXT PRIMARY KEY, reader_id TEXT NOT NULL, site_code TEXT NOT NULL, \
             role TEXT NOT NULL, expires_at BIGINT NOT NULL, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL, \
             CHECK (reader_id <> '' AND site_code <> ''))".to_owned(),
            "CREATE TABLE cases (case_key TEXT PRIMARY KEY, site_code TEXT NOT NULL, exam_date TEXT, \
             age_band TEXT, sex TEXT, postal_code TEXT NOT NULL, prefecture TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
             cur_label BIGINT, cur_confirmed_at TEXT, cur_grade BIGINT, cur_pcr TEXT, cur_ai_grade BIGINT, \
             touched BIGINT NOT NULL DEFAULT 0)".to_owned(),
            format!("CREATE TABLE labels (id {id}, idempotency_key TEXT NOT NULL UNIQUE, \
             case_key TEXT NOT NULL REFERENCES cases(case_key), site_code TEXT NOT NULL, reader_id TEXT NOT NULL, \
             revision BIGINT NOT NULL, grade BIGINT NOT NULL, pcr TEXT NOT NULL, findings TEXT NOT NULL, ai_grade BIGINT, \
             ai_models TEXT NOT NULL, confirmed_at TEXT NOT NULL, received_at TEXT NOT NULL, payload_sha256 TEXT NOT NULL)"),
            "CREATE TABLE counts (source TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
             prefecture TEXT NOT NULL, grade BIGINT NOT NULL, pcr TEXT NOT NULL, n BIGINT NOT NULL, \
             PRIMARY KEY (source, day, prefecture, grade, pcr))".to_owned(),
            "CREATE TABLE revoked_tokens (token_sha256 TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, revoked_by TEXT NOT NULL)".to_owned(),
            format!("CREATE TABLE audit (id {id}, at TEXT NOT NULL, actor TEXT NOT NULL, site_code TEXT NOT NULL, \
             action TEXT NOT NULL, target TEXT NOT NULL)"),
            "INSERT INTO cases VALUES ('0000000000000001', 'NAGOYA-U', '2026-04-01', '60-69', 'F', '466-8560', '23', \
             '2026-04-01', '2026-03-30', 1, '2026-04-01T09:00:01Z', 1, 'positive', 2, 0)".to_owned(),
            "INSERT INTO labels (id, idempotency_key, case_key, site_code, reader_id, revision, grade, pcr, findings, \
             ai_grade, ai_models, confirmed_at, received_at, payload_sha256) VALUES (1, '0000000000000001:R-A:1', \
             '0000000000000001', 'NAGOYA-U', 'R-A', 1, 1, 'positive', 'crazy_paving', 2, '[]', '2026-04-01T09:00:01Z', \
             '2026-04-01T10:00:00Z', 'x')".to_owned(),
            "INSERT INTO counts VALUES ('radiologist', '2026-04-01', '2026-03-30', '23', 1, 'positive', 1)".to_owned(),
            "INSERT INTO counts VALUES ('ai', '2026-04-01', '2026-03-30', '23', 2, 'positive', 1)".to_owned(),
            "INSERT INTO audit (at, actor, site_code, action, target) VALUES ('2026-04-01T10:00:00Z', 'R-A', 'NAGOYA-U', \
             'label.store', '0000000000000001:R-A:1')".to_owned(),
        ];
        {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                let url = if postgres { db.url.clone() } else { format!("{}?mode=rwc", db.url) };
                let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.expect("connect");
                for statement in &v1 {
                    sqlx::query(sqlx::AssertSqlSafe(statement.clone())).execute(&pool).await.expect(statement);
                }
                pool.close().await;
            });
        }
        let svc = start(&db, 1);
        assert_eq!(
            (rows(&svc, "labels"), rows(&svc, "cases"), rows(&svc, "counts"), rows(&svc, "audit")),
            (1, 1, 2, 1)
        );
        let a = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let pulled: Vec<(i64, i64, u8)> =
            a.pull(0, 10).expect("pull").iter().map(|l| (l.id, l.revision, l.grade)).collect();
        assert_eq!(pulled, vec![(1, 1, 1)], "the old label is kept with its id ({})", db.name);
        // Revision 2 of the old case: stored with a new id after the old, the case counted once.
        assert_eq!(push(&a, &label(1, "NAGOYA-U", "R-A", 2, 3, Pcr::Positive, "2026-04-01")), PushOutcome::Stored);
        let ids: Vec<i64> = a.pull(0, 10).expect("pull").iter().map(|l| l.id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids[1] > ids[0], "{ids:?}");
        let q = SurveillanceQuery { source: Some(Source::Radiologist), ..Default::default() };
        let cells: Vec<(u8, Option<i64>)> =
            a.surveillance(&q).expect("counts").rows.iter().map(|r| (r.grade, r.count)).collect();
        assert_eq!(cells, vec![(3, Some(1))], "{}", db.name);
        svc.kill();
        // Started again: already at version 2, nothing changes.
        let svc = start(&db, 1);
        assert_eq!(rows(&svc, "labels"), 2);
        svc.kill();
    }
}

fn ai_read(case: u32, site: &str, grade: Option<u8>) -> AiReadPayload {
    AiReadPayload {
        schema: AI_READ_SCHEMA.into(),
        case_key: format!("{case:016x}"),
        site_code: site.into(),
        facility_postal_code: "466-8560".into(),
        exam_date: Some("2026-04-01".into()),
        age_years: Some(60),
        sex: Some("F".into()),
        model_set: "bundled".into(),
        model_version: "lungdesk-lung 1.0.0+lungdesk-lesion 2.0.0".into(),
        models: vec!["lungdesk-lung 1.0.0".into(), "lungdesk-lesion 2.0.0".into()],
        grade,
        cannot_grade: if grade.is_none() { Some("single_slice".into()) } else { None },
        scores: if grade.is_some() { [0.7, 0.2, 0.1, 0.0] } else { [0.0; 4] },
        involvement_percent: None,
        severity_score: None,
        analysed_at: "2026-11-30T09:00:00Z".into(),
    }
}

/// AI reads (issue #17) are stored once per case, model set and version: a retry is "already
/// there", another read under the same key a conflict, another site's or an invalid read is
/// refused, and "cannot grade" is stored with its code and no grade.
#[test]
fn ai_reads_are_stored_once_per_case_and_model_version() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let desk = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let reads = [ai_read(1, "NAGOYA-U", Some(1)), ai_read(2, "NAGOYA-U", None)];
        let first = desk.push_ai_reads(&reads).expect("push");
        assert!(first.iter().all(|o| matches!(o, PushOutcome::Stored)), "{}: {first:?}", db.name);
        let again = desk.push_ai_reads(&reads).expect("retry");
        assert!(again.iter().all(|o| matches!(o, PushOutcome::AlreadyThere)), "{}: {again:?}", db.name);
        let changed = AiReadPayload { grade: Some(2), scores: [0.2, 0.7, 0.1, 0.0], ..ai_read(1, "NAGOYA-U", Some(1)) };
        assert!(matches!(desk.push_ai_reads(&[changed]).expect("push")[..], [PushOutcome::Conflict(_)]));
        let newer = AiReadPayload { model_version: "lungdesk-lesion 2.1.0".into(), ..ai_read(1, "NAGOYA-U", Some(2)) };
        assert!(matches!(desk.push_ai_reads(&[newer]).expect("push")[..], [PushOutcome::Stored]), "another version");
        let other_site = desk.push_ai_reads(&[ai_read(3, "OSAKA-U", Some(1))]).expect_err("other site");
        assert!(other_site.to_string().contains("own site"), "{other_site}");
        let both = AiReadPayload { cannot_grade: Some("no_lung".into()), ..ai_read(4, "NAGOYA-U", Some(4)) };
        assert!(desk.push_ai_reads(&[both]).expect_err("invalid").to_string().contains("cannot_grade"));
        assert_eq!(rows(&svc, "ai_reads"), 3, "{}", db.name);
        svc.kill();
    }
}

/// AI-only counts (issue #17, SYNTHETIC reads): each case once by its set's latest read, by
/// exam day or week, "cannot grade" in a cell of its own, other model sets apart, small cells
/// suppressed; a model with a PCR filter or without `source=ai` is refused.
#[test]
fn ai_only_counts_take_each_case_once_by_its_latest_read_and_count_cannot_grade_apart() {
    for db in TestDatabase::both() {
        let svc = start(&db, 2);
        let desk = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let on = |day: &str, r: AiReadPayload| AiReadPayload { exam_date: Some(day.into()), ..r };
        let mut reads = vec![
            on("2026-04-01", ai_read(1, "NAGOYA-U", Some(1))),
            on("2026-04-01", ai_read(2, "NAGOYA-U", Some(1))),
            on("2026-04-01", ai_read(3, "NAGOYA-U", None)),
            on("2026-04-01", ai_read(4, "NAGOYA-U", None)),
            on("2026-04-02", ai_read(5, "NAGOYA-U", Some(1))),
            // Case 6 read first as typical, then by a newer version as negative: counted once, negative.
            on("2026-04-02", ai_read(6, "NAGOYA-U", Some(1))),
            AiReadPayload {
                model_version: "lungdesk-lesion 2.1.0".into(),
                scores: [0.0, 0.0, 0.1, 0.9],
                analysed_at: "2026-11-30T10:00:00Z".into(),
                ..on("2026-04-02", ai_read(6, "NAGOYA-U", Some(4)))
            },
            // Exam date missing: counted on the day of reading.
            AiReadPayload { exam_date: None, ..ai_read(7, "NAGOYA-U", Some(4)) },
        ];
        reads.push(AiReadPayload { model_set: "site-v2".into(), ..on("2026-04-01", ai_read(1, "NAGOYA-U", Some(3))) });
        assert!(desk.push_ai_reads(&reads).expect("push").iter().all(|o| matches!(o, PushOutcome::Stored)));
        let q = SurveillanceQuery { model: Some("bundled".into()), ..SurveillanceQuery::default() };
        let counts = desk.ai_surveillance(&q).expect("AI counts");
        assert_eq!((counts.model_set.as_str(), counts.source, counts.min_count), ("bundled", Source::Ai, 2));
        let cell = |day: &str, grade: Option<u8>| {
            counts.rows.iter().find(|r| r.period_start == day && r.grade == grade).map(|r| r.count)
        };
        assert_eq!(cell("2026-04-01", Some(1)), Some(Some(2)), "{}: {:?}", db.name, counts.rows);
        assert_eq!(cell("2026-04-01", None), Some(Some(2)), "cannot grade, apart");
        let cannot = counts.rows.iter().find(|r| r.grade.is_none()).expect("cannot-grade cell");
        assert_eq!(cannot.cannot_grade.as_deref(), Some("single_slice"));
        assert_eq!(cell("2026-04-02", Some(1)), Some(None), "case 5 alone: suppressed (case 6 is negative now)");
        assert_eq!(cell("2026-04-02", Some(4)), Some(None), "case 6, once, by its latest read");
        assert_eq!(cell("2026-11-30", Some(4)), Some(None), "no exam date: the day of reading");
        let total: usize = counts.rows.len();
        assert_eq!(total, 5, "{:?}", counts.rows);
        let week = desk.ai_surveillance(&SurveillanceQuery { period: Period::Week, ..q.clone() }).expect("weekly");
        let monday = week.rows.iter().find(|r| r.period_start == "2026-03-30" && r.grade == Some(1)).expect("week");
        assert_eq!(
            monday.count, None,
            "cases 1, 2 and 5 in the week of 30 March: 3 less 1 April's published 2 would be 2 April's suppressed 1"
        );
        let site =
            desk.ai_surveillance(&SurveillanceQuery { model: Some("site-v2".into()), ..q.clone() }).expect("set");
        assert_eq!(site.rows.len(), 1);
        assert_eq!((site.rows[0].grade, site.rows[0].count), (Some(3), None));
        let csv = desk.surveillance_csv(&SurveillanceQuery { source: Some(Source::Ai), ..q.clone() }).expect("csv");
        assert!(csv.starts_with("period_start,prefecture,grade,cannot_grade,sex,age_band,source,model_set,count\n"));
        assert!(csv.contains("2026-04-01,23,,single_slice,F,60-69,ai,bundled,2\n"), "{csv}");
        let no_source = desk.surveillance(&q).expect_err("model without source=ai");
        assert!(no_source.to_string().contains("source=ai"), "{no_source}");
        let pcr = desk.ai_surveillance(&SurveillanceQuery { pcr: Some(Pcr::Positive), ..q.clone() });
        assert!(pcr.expect_err("PCR").to_string().contains("PCR"));
        let bad = desk.ai_surveillance(&SurveillanceQuery { model: Some("a b".into()), ..q });
        assert!(bad.expect_err("name").to_string().contains("model set"));
        svc.kill();
    }
}

/// Agreement (issue #17, SYNTHETIC labels and reads): the set's latest graded read against the
/// case's latest confirmed grade, readers against each other by their latest revisions; a site
/// admin sees their own site, a curator every site, a reader nothing.
#[test]
fn agreement_pairs_each_case_once_and_is_scoped_by_role() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let ra = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let rb = client(&svc, &token(&svc, "R-B", "NAGOYA-U", Role::Reader, 30));
        let osaka = client(&svc, &token(&svc, "R-O", "OSAKA-U", Role::Reader, 30));
        let day = "2026-04-01";
        // (case, R-A's grade, AI's grade or cannot grade)
        for (case, reader, ai) in [(1, 1, Some(1)), (2, 1, Some(2)), (3, 2, Some(2)), (4, 4, Some(4)), (6, 1, None)] {
            assert_eq!(push(&ra, &label(case, "NAGOYA-U", "R-A", 1, reader, Pcr::Positive, day)), PushOutcome::Stored);
            ra.push_ai_reads(&[ai_read(case, "NAGOYA-U", ai)]).expect("AI read");
        }
        // Case 5: revised from 2 to 3; the AI says 1.
        push(&ra, &label(5, "NAGOYA-U", "R-A", 1, 2, Pcr::Positive, day));
        push(&ra, &label(5, "NAGOYA-U", "R-A", 2, 3, Pcr::Positive, day));
        ra.push_ai_reads(&[ai_read(5, "NAGOYA-U", Some(1))]).expect("AI read");
        // A second reader on cases 1 and 3, earlier in the day (R-A's label stays the case's).
        for (case, grade) in [(1, 1), (3, 1)] {
            let early = LabelPayload {
                confirmed_at: format!("{day}T08:00:00Z"),
                ..label(case, "NAGOYA-U", "R-B", 1, grade, Pcr::Positive, day)
            };
            assert_eq!(push(&rb, &early), PushOutcome::Stored);
        }
        push(&osaka, &label(7, "OSAKA-U", "R-O", 1, 1, Pcr::Positive, day));
        osaka.push_ai_reads(&[ai_read(7, "OSAKA-U", Some(1))]).expect("AI read");

        let admin = client(&svc, &token(&svc, "ADM", "NAGOYA-U", Role::SiteAdmin, 30));
        let got = admin.agreement("bundled", None, None, None).expect("agreement");
        let mut want = lungdesk_domain::Confusion4::default();
        for (ai, reader) in [(1, 1), (2, 1), (2, 2), (4, 4), (1, 3)] {
            want.add(ai, reader);
        }
        assert_eq!(got.confusion, want, "{}: AI rows, reader columns; cannot grade left out", db.name);
        assert_eq!((got.cases, got.site.as_deref()), (5, Some("NAGOYA-U")));
        // By hand: observed 3/5, chance (2·2 + 2·1 + 1·1)/25 = 7/25, κ = (0.6 − 0.28)/0.72 = 4/9.
        let kappa = got.kappa.kappa.expect("kappa");
        assert!((kappa - 4.0 / 9.0).abs() < 1e-12, "{kappa}");
        let (low, high) = (got.kappa.low.expect("low"), got.kappa.high.expect("high"));
        assert!(low < kappa && kappa < high, "{low} {kappa} {high}");
        let linear = got.linear_kappa.kappa.expect("linear");
        assert!((linear - want.linear_kappa().kappa.expect("linear")).abs() < 1e-12);
        let mut readers = lungdesk_domain::Confusion4::default();
        readers.add(1, 1);
        readers.add(2, 1);
        assert_eq!((got.readers.confusion, got.readers.cases), (readers, 2), "R-A against R-B on cases 1 and 3");
        let other = admin.agreement("bundled", Some("OSAKA-U"), None, None).expect_err("another site");
        assert!(other.to_string().contains("own site"), "{other}");
        let reader = ra.agreement("bundled", None, None, None).expect_err("a reader");
        assert!(reader.to_string().contains("reader token"), "{reader}");
        let curator = client(&svc, &token(&svc, "CUR", "NAGOYA-U", Role::Curator, 30));
        assert_eq!(curator.agreement("bundled", None, None, None).expect("all sites").cases, 6);
        assert_eq!(curator.agreement("bundled", Some("OSAKA-U"), None, None).expect("one site").cases, 1);
        assert_eq!(curator.agreement("bundled", None, Some("2026-04-02"), None).expect("later").cases, 0);
        assert_eq!(curator.agreement("other-set", None, None, None).expect("no reads").kappa.kappa, None);
        svc.kill();
    }
}

/// Agreement is kept at ingest (issue #17, SYNTHETIC labels and reads), so it must follow every
/// write that moves a pair, in whatever order they arrive: reads before labels, a newer read
/// replacing a case's AI grade, a "cannot grade" replaced by a grade, a reader's revision, a
/// revision moving the case to another exam day, a second reader revising. Expected by hand.
#[test]
fn agreement_follows_reads_and_labels_in_any_order() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let ra = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let rb = client(&svc, &token(&svc, "R-B", "NAGOYA-U", Role::Reader, 30));
        let day = "2026-04-01";
        let newer = |case: u32, grade: Option<u8>| AiReadPayload {
            model_version: "lungdesk-lung 1.0.0+lungdesk-lesion 2.1.0".into(),
            analysed_at: "2026-12-01T10:00:00Z".into(),
            ..ai_read(case, "NAGOYA-U", grade)
        };
        // The reads first: nothing to pair yet.
        let first: Vec<AiReadPayload> = [(1, Some(1)), (2, Some(3)), (3, Some(2)), (4, None), (5, Some(3))]
            .map(|(c, g)| ai_read(c, "NAGOYA-U", g))
            .into();
        ra.push_ai_reads(&first).expect("AI reads");
        let curator = client(&svc, &token(&svc, "CUR", "JRS", Role::Curator, 30));
        assert_eq!(curator.agreement("bundled", None, None, None).expect("agreement").cases, 0, "{}", db.name);
        for (case, grade) in [(1, 1), (2, 2), (3, 2), (4, 1), (5, 3)] {
            assert_eq!(push(&ra, &label(case, "NAGOYA-U", "R-A", 1, grade, Pcr::Positive, day)), PushOutcome::Stored);
        }
        // Case 2: a newer read says 2. Case 3: R-A revises to 4. Case 4: its "cannot grade"
        // replaced by a read of grade 1. Case 5: revised onto another exam day.
        ra.push_ai_reads(&[newer(2, Some(2)), newer(4, Some(1))]).expect("newer reads");
        push(&ra, &label(3, "NAGOYA-U", "R-A", 2, 4, Pcr::Positive, day));
        push(&ra, &label(5, "NAGOYA-U", "R-A", 2, 3, Pcr::Positive, "2026-05-01"));
        // R-B on cases 1 and 3, earlier in the day (R-A's stay the cases' grades), then revises case 1.
        for (case, revision, grade) in [(1, 1, 2), (3, 1, 4), (1, 2, 1)] {
            let early = LabelPayload {
                confirmed_at: format!("{day}T08:00:{revision:02}Z"),
                ..label(case, "NAGOYA-U", "R-B", revision, grade, Pcr::Positive, day)
            };
            assert_eq!(push(&rb, &early), PushOutcome::Stored);
        }
        let got = curator.agreement("bundled", None, None, None).expect("agreement");
        let mut want = lungdesk_domain::Confusion4::default();
        for (ai, reader) in [(1, 1), (2, 2), (2, 4), (1, 1), (3, 3)] {
            want.add(ai, reader);
        }
        assert_eq!((got.confusion, got.cases), (want, 5), "{}: AI rows, reader columns", db.name);
        let april = curator.agreement("bundled", None, Some("2026-04-01"), Some("2026-04-30")).expect("April");
        assert_eq!(april.cases, 4, "case 5 was moved to May by its revision");
        let mut readers = lungdesk_domain::Confusion4::default();
        readers.add(1, 1);
        readers.add(4, 4);
        assert_eq!((got.readers.confusion, got.readers.cases), (readers, 2), "each reader by their latest revision");
        // Resent batches change nothing.
        ra.push_ai_reads(&first).expect("resent");
        push(&ra, &label(3, "NAGOYA-U", "R-A", 2, 4, Pcr::Positive, day));
        assert_eq!(curator.agreement("bundled", None, None, None).expect("again").confusion, want);
        svc.kill();
    }
}

/// SYNTHETIC: `n` confirmed cases of NAGOYA-U on `day` (case keys from `first`), the readers'
/// grades cycling 1–4, the AI agreeing on the first `agree` and off by two categories on the
/// rest; each case's label and AI read pushed.
fn push_synthetic_day(reader: &Client, first: u32, day: &str, n: u32, agree: u32) {
    let labels: Vec<String> = (0..n)
        .map(|i| {
            let grade = (i % 4) as u8 + 1;
            serde_json::to_string(&label(first + i, "NAGOYA-U", "R-A", 1, grade, Pcr::Positive, day)).expect("json")
        })
        .collect();
    let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    assert!(reader.push_batch(&refs).expect("labels").iter().all(|o| matches!(o, PushOutcome::Stored)));
    let reads: Vec<AiReadPayload> = (0..n)
        .map(|i| {
            let grade = (i % 4) as u8 + 1;
            let ai = if i < agree { grade } else { (grade + 1) % 4 + 1 };
            AiReadPayload { exam_date: Some(day.into()), ..ai_read(first + i, "NAGOYA-U", Some(ai)) }
        })
        .collect();
    assert!(reader.push_ai_reads(&reads).expect("AI reads").iter().all(|o| matches!(o, PushOutcome::Stored)));
}

/// The drift monitor (issue #17) on SYNTHETIC reads and labels, default settings (window 50
/// cases, 20 to measure, floor 0.40, release at 0.45): NAGOYA-U's AI agrees with its readers,
/// then for three days mostly does not, then agrees again. Rolling κ by hand (readers' grades
/// uniform, so chance agreement 1/4): 1 on 1–4 March (day 1 with 10 cases: unmeasured), then
/// 0.52, 0.04, −0.22, 0.25, 0.73, 1. So its AI-only counts are withheld from 5 March, the
/// withhold audited while it runs, and released on 8 March, audited too; OSAKA-U, with 5
/// confirmed cases, is "unmeasured", counted but flagged, never "published". The export carries
/// all of it.
#[test]
#[allow(clippy::too_many_lines)] // one scenario, told in order
fn synthetic_drift_withholds_ai_counts_when_agreement_drops_releases_them_when_it_recovers_and_flags_unmeasured_sites()
{
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let reader = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let osaka = client(&svc, &token(&svc, "R-O", "OSAKA-U", Role::Reader, 30));
        let curator = client(&svc, &token(&svc, "CUR", "NAGOYA-U", Role::Curator, 30));
        let day = |d: u32| format!("2026-03-{d:02}");
        let mut next = 1;
        for (d, n, agree) in [(1, 10, 10), (2, 10, 10), (3, 10, 10), (4, 20, 2), (5, 20, 2), (6, 20, 2)] {
            push_synthetic_day(&reader, next, &day(d), n, agree);
            next += n;
        }
        for i in 0..5 {
            push(&osaka, &label(1000 + i, "OSAKA-U", "R-O", 1, 1, Pcr::Positive, "2026-03-05"));
            let read =
                AiReadPayload { facility_postal_code: "565-0871".into(), ..ai_read(1000 + i, "OSAKA-U", Some(1)) };
            osaka.push_ai_reads(&[AiReadPayload { exam_date: Some("2026-03-05".into()), ..read }]).expect("read");
        }

        // While agreement is down: withheld, still running, audited once.
        let report = curator.drift(Some("bundled"), None).expect("drift");
        let nagoya = report.monitors.iter().find(|m| m.site_code == "NAGOYA-U").expect("NAGOYA-U");
        assert_eq!(nagoya.status, DriftStatus::Withheld, "{}: {:?}", db.name, nagoya.reasons);
        assert_eq!(nagoya.reasons[0].code(), "kappa_below_floor");
        let withheld: Vec<_> = nagoya.periods.iter().filter(|p| p.status == DriftStatus::Withheld).collect();
        assert_eq!(withheld.len(), 1, "{:?}", nagoya.periods);
        assert_eq!((withheld[0].from_day.as_str(), withheld[0].to_day.as_deref()), ("2026-03-05", None));
        let audit = |action: &str| -> Vec<String> {
            svc.block_on(svc.db.audit_trail(None, 0, 5000))
                .expect("audit")
                .into_iter()
                .filter(|e| e.action == action && e.site_code == "NAGOYA-U")
                .map(|e| e.target)
                .collect()
        };
        let withholds = audit("drift.withhold");
        assert_eq!(withholds.len(), 1, "{}: {withholds:?}", db.name);
        assert!(withholds[0].starts_with("bundled from 2026-03-05: agreement κ"), "{withholds:?}");
        assert!(audit("drift.release").is_empty());
        let q =
            SurveillanceQuery { model: Some("bundled".into()), prefecture: Some("23".into()), ..Default::default() };
        let counts = reader.ai_surveillance(&q).expect("AI counts");
        let days: std::collections::BTreeSet<&str> = counts.rows.iter().map(|r| r.period_start.as_str()).collect();
        assert_eq!(days, ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"].into(), "5 March on: withheld");

        // Agreement recovers.
        for d in [7, 8, 9] {
            push_synthetic_day(&reader, next, &day(d), 20, 20);
            next += 20;
        }
        let report = curator.drift(Some("bundled"), None).expect("drift");
        let nagoya = report.monitors.iter().find(|m| m.site_code == "NAGOYA-U").expect("NAGOYA-U");
        assert_eq!(nagoya.status, DriftStatus::Published, "{:?}", nagoya.reasons);
        let status_on = |d: &str| nagoya.points.iter().find(|p| p.day == d).map(|p| p.status);
        assert_eq!(status_on("2026-03-01"), Some(DriftStatus::Unmeasured), "10 cases");
        assert_eq!(status_on("2026-03-04"), Some(DriftStatus::Published));
        assert_eq!(status_on("2026-03-07"), Some(DriftStatus::Withheld), "κ 0.25");
        assert_eq!(status_on("2026-03-08"), Some(DriftStatus::Published), "κ 0.73");
        let k = nagoya.points.iter().find(|p| p.day == "2026-03-08").expect("8 March").kappa;
        assert!((k.kappa.expect("κ") - 0.733).abs() < 0.001 && k.low.expect("low") < 0.733, "{k:?}");
        let withheld: Vec<_> = nagoya.periods.iter().filter(|p| p.status == DriftStatus::Withheld).collect();
        assert_eq!((withheld[0].from_day.as_str(), withheld[0].to_day.as_deref()), ("2026-03-05", Some("2026-03-08")));
        assert_eq!(audit("drift.withhold").len(), 1, "the same withhold, not a second one");
        let releases = audit("drift.release");
        assert_eq!(releases, vec!["bundled from 2026-03-05: released on 2026-03-08".to_owned()], "{}", db.name);
        let osaka_m = report.monitors.iter().find(|m| m.site_code == "OSAKA-U").expect("OSAKA-U");
        assert_eq!(osaka_m.status, DriftStatus::Unmeasured, "5 cases is not 'fine'");
        assert_eq!(osaka_m.reasons[0].code(), "too_few_cases");

        let counts = reader.ai_surveillance(&SurveillanceQuery { prefecture: None, ..q.clone() }).expect("AI counts");
        let days: std::collections::BTreeSet<&str> =
            counts.rows.iter().filter(|r| r.prefecture == "23").map(|r| r.period_start.as_str()).collect();
        assert!(days.contains("2026-03-08") && days.contains("2026-03-04"), "{days:?}");
        assert!(!days.contains("2026-03-05") && !days.contains("2026-03-07"), "{days:?}");
        let osaka_rows: i64 = counts.rows.iter().filter(|r| r.prefecture == "27").filter_map(|r| r.count).sum();
        assert_eq!(osaka_rows, 5, "unmeasured is published");
        let flag =
            |site: &str, status: DriftStatus| counts.flags.iter().find(|f| f.site_code == site && f.status == status);
        let w = flag("NAGOYA-U", DriftStatus::Withheld).expect("withheld flag");
        assert_eq!(
            (w.prefecture.as_str(), w.from_day.as_str(), w.reason_code.as_str()),
            ("23", "2026-03-05", "kappa_below_floor")
        );
        // Another site's flag, to a reader: its prefecture and reason code, not the site or its κ.
        let other = flag("", DriftStatus::Unmeasured).expect("OSAKA-U's flag, unnamed");
        assert_eq!((other.prefecture.as_str(), other.reason_code.as_str()), ("27", "too_few_cases"));
        assert!(
            !counts.flags.iter().any(|f| f.site_code == "OSAKA-U" || f.reason.contains("κ") && f.site_code.is_empty())
        );
        let all = curator.ai_surveillance(&SurveillanceQuery { prefecture: None, ..q.clone() }).expect("curator");
        assert!(
            all.flags.iter().any(|f| f.site_code == "OSAKA-U" && f.status == DriftStatus::Unmeasured),
            "{:?}",
            all.flags
        );

        // The export: what was counted, by which versions, under which rule, with the marks.
        let export =
            reader.export(&SurveillanceQuery { period: Period::Week, prefecture: None, ..q.clone() }).expect("export");
        assert_eq!(
            (export.schema.as_str(), export.source, export.model_set.as_deref()),
            ("lungdesk-surveillance-export/1", Source::Ai, Some("bundled"))
        );
        assert_eq!(export.model_versions, vec!["lungdesk-lung 1.0.0+lungdesk-lesion 2.0.0".to_owned()]);
        assert!(export.suppression.contains("fewer than 1"), "{}", export.suppression);
        // The week of 2 March holds 5–8 March: partial for Aichi, whole for Osaka.
        let week = |pref: &str| {
            export.rows.iter().filter(|r| r.period_start == "2026-03-02" && r.prefecture == pref).collect::<Vec<_>>()
        };
        assert!(!week("23").is_empty() && week("23").iter().all(|r| r.withheld), "{:?}", week("23"));
        assert!(week("23").iter().all(|r| r.count.is_none() && !r.suppressed), "withheld, not small: no count");
        assert!(week("27").iter().all(|r| !r.withheld));
        let march_first = export.rows.iter().filter(|r| r.period_start == "2026-02-23");
        assert!(march_first.clone().count() > 0 && march_first.into_iter().all(|r| !r.withheld));
        let csv = reader.export_csv(&SurveillanceQuery { prefecture: None, ..q.clone() }).expect("csv");
        assert!(csv.starts_with("row_type,schema,source,model_set,model_versions,period,period_start,"), "{csv}");
        assert!(csv.contains("flag,lungdesk-surveillance-export/1,ai,bundled,lungdesk-lung 1.0.0+lungdesk-lesion 2.0.0,day,,23,,,,,,,,,NAGOYA-U,withheld,2026-03-05,2026-03-08,kappa_below_floor\n"), "{csv}");
        let labels_export = reader.export(&SurveillanceQuery::default()).expect("the confirmed series");
        assert_eq!(
            (labels_export.source, labels_export.model_set.as_ref(), labels_export.flags.len()),
            (Source::Radiologist, None, 0)
        );
        assert!(labels_export.rows.iter().all(|r| r.pcr.is_some() && r.grade.is_some()));

        // Scope: a site admin or a reader sees their own site (κ and status, no confusion table).
        let admin = client(&svc, &token(&svc, "ADM", "OSAKA-U", Role::SiteAdmin, 30));
        let own = admin.drift(None, None).expect("own site");
        assert!(own.monitors.iter().all(|m| m.site_code == "OSAKA-U") && !own.monitors.is_empty());
        assert!(admin.drift(None, Some("NAGOYA-U")).expect_err("other site").to_string().contains("own site"));
        let mine = reader.drift(None, None).expect("a reader's own site");
        assert!(mine.monitors.iter().all(|m| m.site_code == "NAGOYA-U") && !mine.monitors.is_empty());
        assert!(reader.drift(None, Some("OSAKA-U")).expect_err("other site").to_string().contains("own site"));
        svc.kill();
    }
}

/// A version-3 database (AI reads, no `latest` mark, no drift periods, no agreement cells) is
/// brought to the current version with its reads kept, each case's latest read marked (counted
/// once, by that read) and the agreement rebuilt from its reads and labels.
#[test]
fn a_version_3_database_gets_its_latest_ai_reads_marked() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let desk = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let newer = AiReadPayload {
            model_version: "lungdesk-lesion 2.1.0".into(),
            analysed_at: "2026-11-30T10:00:00Z".into(),
            ..ai_read(1, "NAGOYA-U", Some(4))
        };
        desk.push_ai_reads(&[ai_read(1, "NAGOYA-U", Some(1)), newer, ai_read(2, "NAGOYA-U", Some(1))]).expect("push");
        let second = client(&svc, &token(&svc, "R-B", "NAGOYA-U", Role::Reader, 30));
        push(&desk, &label(1, "NAGOYA-U", "R-A", 1, 4, Pcr::Positive, "2026-04-01"));
        push(&desk, &label(2, "NAGOYA-U", "R-A", 1, 2, Pcr::Positive, "2026-04-01"));
        let early = LabelPayload {
            confirmed_at: "2026-04-01T08:00:00Z".into(),
            ..label(1, "NAGOYA-U", "R-B", 1, 3, Pcr::Positive, "2026-04-01")
        };
        push(&second, &early);
        // Back to version 3, as that release left it.
        for statement in [
            "DROP INDEX ai_reads_latest",
            "DROP INDEX ai_reads_site_day",
            "ALTER TABLE ai_reads DROP COLUMN latest",
            "ALTER TABLE ai_reads DROP COLUMN week",
            "CREATE INDEX ai_reads_day ON ai_reads(model_set, day)",
            "DROP TABLE drift_periods",
            "DROP TABLE ai_counts",
            "DROP TABLE agreement_cells",
            "DROP TABLE reader_pairs",
            "UPDATE schema_version SET version = 3",
        ] {
            svc.block_on(sqlx::query(statement).execute(svc.db.pool())).expect(statement);
        }
        svc.kill();
        let svc = start(&db, 1);
        let latest: i64 = svc
            .block_on(sqlx::query_scalar("SELECT COUNT(*) FROM ai_reads WHERE latest = 1").fetch_one(svc.db.pool()))
            .expect("latest marks");
        assert_eq!((latest, rows(&svc, "ai_reads")), (2, 3), "{}", db.name);
        let desk = client(&svc, &token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30));
        let counts = desk.ai_surveillance(&SurveillanceQuery { model: Some("bundled".into()), ..Default::default() });
        let mut cells: Vec<(Option<u8>, Option<i64>)> =
            counts.expect("counts").rows.iter().map(|r| (r.grade, r.count)).collect();
        cells.sort_unstable();
        assert_eq!(cells, vec![(Some(1), Some(1)), (Some(4), Some(1))], "case 1 by its newer read, case 2");
        let weekly = desk.ai_surveillance(&SurveillanceQuery {
            model: Some("bundled".into()),
            period: Period::Week,
            ..Default::default()
        });
        let weeks: Vec<String> = weekly.expect("weekly").rows.into_iter().map(|r| r.period_start).collect();
        assert_eq!(weeks, vec!["2026-03-30".to_owned(); 2], "the exam week, filled in by the migration");
        let curator = client(&svc, &token(&svc, "CUR", "JRS", Role::Curator, 30));
        let agreement = curator.agreement("bundled", None, None, None).expect("agreement");
        let (mut ai, mut readers) = (lungdesk_domain::Confusion4::default(), lungdesk_domain::Confusion4::default());
        ai.add(4, 4);
        ai.add(1, 2);
        readers.add(4, 3);
        assert_eq!((agreement.confusion, agreement.readers.confusion), (ai, readers), "{}", db.name);
        svc.kill();
    }
}

/// Eight desks of one site send reads of the same cases by eight model versions at once, while
/// a ninth sends the readers' labels of them: each case is counted once, by one latest read,
/// and paired once with its grade, whatever the interleaving.
#[test]
fn concurrent_reads_of_the_same_cases_are_counted_once() {
    for db in TestDatabase::both() {
        let svc = start(&db, 1);
        let token = token(&svc, "R-A", "NAGOYA-U", Role::Reader, 30);
        std::thread::scope(|scope| {
            for v in 0..8 {
                let desk = client(&svc, &token);
                scope.spawn(move || {
                    let reads: Vec<AiReadPayload> = (1..=20)
                        .map(|case| AiReadPayload {
                            model_version: format!("lungdesk-lesion 2.{v}.0"),
                            analysed_at: format!("2026-11-30T09:00:0{v}Z"),
                            ..ai_read(case, "NAGOYA-U", Some(v % 4 + 1))
                        })
                        .collect();
                    desk.push_ai_reads(&reads).expect("push");
                });
            }
            let desk = client(&svc, &token);
            scope.spawn(move || {
                for case in 1..=20 {
                    assert_eq!(
                        push(&desk, &label(case, "NAGOYA-U", "R-A", 1, 4, Pcr::Positive, "2026-04-01")),
                        PushOutcome::Stored
                    );
                }
            });
        });
        let latest: i64 = svc
            .block_on(sqlx::query_scalar("SELECT COUNT(*) FROM ai_reads WHERE latest = 1").fetch_one(svc.db.pool()))
            .expect("latest marks");
        assert_eq!((latest, rows(&svc, "ai_reads")), (20, 160), "{}", db.name);
        let desk = client(&svc, &token);
        let counts = desk.ai_surveillance(&SurveillanceQuery { model: Some("bundled".into()), ..Default::default() });
        let rows = counts.expect("counts").rows;
        assert_eq!(rows.iter().filter_map(|r| r.count).sum::<i64>(), 20, "{}: {rows:?}", db.name);
        // The newest version's read (analysed last) is each case's.
        assert!(rows.iter().all(|r| r.grade == Some(7 % 4 + 1)), "{rows:?}");
        let holder = Principal { reader_id: "CUR".into(), site_code: "JRS".into(), role: Role::Curator };
        let curator = client(&svc, &svc.block_on(issue_token(&svc.db, &holder, 30, "test")).expect("token").token);
        let agreement = curator.agreement("bundled", None, None, None).expect("agreement");
        let mut want = lungdesk_domain::Confusion4::default();
        want.add_cases(4, 4, 20);
        assert_eq!(agreement.confusion, want, "{}: each case paired once, by its latest read", db.name);
        svc.kill();
    }
}
