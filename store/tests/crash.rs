//! Crash safety: a child process confirms reviews in a loop and is killed with SIGKILL, 100
//! times. After each kill the store is reopened and must hold every confirmation the child
//! reported, none twice, and pass `PRAGMA integrity_check`.
//!
//! The moment of each kill is chosen, not timed, so the test proves the same thing on a fast
//! machine and a slow one. The child reports every commit on stdout and, at a chosen case,
//! stops and waits on stdin (which the parent never writes). Two kinds of kill alternate:
//! - *at rest*: the child stops right after committing case `k`; the parent kills it there.
//! - *in flight*: the parent kills as soon as it reads "confirmed k", while the child is
//!   already writing the next cases; the child stops at `k + IN_FLIGHT` at the latest, so the
//!   kill lands inside one of the next transactions, never after the batch ends.
//!
//! The child is this test binary run again on the same test, with `LUNGDESK_CRASH_DB` set.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use lungdesk_store::db::NewSeries;
use lungdesk_store::{Grade, Identity, Pcr, ReviewDraft, Store};

const CASES: i64 = 60;
const KILLS: usize = 100;
/// How many further cases an *in flight* child may confirm after the one it was killed on.
const IN_FLIGHT: i64 = 5;

fn me() -> Identity {
    Identity {
        reader_id: "R-CRASH".into(),
        display_name: "Crash Tester".into(),
        site_code: "SITE-A".into(),
        postal_code: "466-8560".into(),
        site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
    }
}

/// The grade the child gives `case` in `round`: every round changes every case's grade.
fn grade(round: i64, case: i64) -> Grade {
    Grade::from_number((round + case).rem_euclid(4) + 1).expect("1..=4")
}

/// Where round `round` is killed: after the child reports case `kill_on` (0: as soon as it
/// is ready), and the case after whose commit the child stops and waits to be killed.
fn kill_point(round: usize) -> (i64, i64) {
    let round = i64::try_from(round).expect("small");
    // Visit every case from 0 to CASES - IN_FLIGHT - 1 over the rounds, in a scattered order.
    let kill_on = (round * 37).rem_euclid(CASES - IN_FLIGHT);
    let at_rest = round % 2 == 0 && kill_on > 0;
    (kill_on, if at_rest { kill_on } else { kill_on + IN_FLIGHT })
}

/// The child's work: confirm every case, reporting each confirmation after its commit, and
/// wait to be killed after committing case `stop_at`.
fn child_confirms_in_a_loop(db: &std::ffi::OsStr, round: &std::ffi::OsStr, stop_at: &std::ffi::OsStr) {
    use std::io::Write;
    let round: i64 = round.to_string_lossy().parse().expect("round");
    let stop_at: i64 = stop_at.to_string_lossy().parse().expect("stop_at");
    let mut store = Store::open(Path::new(db)).expect("child opens the store");
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").and_then(|()| out.flush()).expect("stdout");
    for case in 1..=CASES {
        let draft = ReviewDraft { grade: Some(grade(round, case)), pcr: Some(Pcr::Positive), ..ReviewDraft::default() };
        let review = store.confirm(case, &me(), &draft).expect("confirm");
        // Reported only after the commit returned: this confirmation must survive.
        writeln!(out, "confirmed {case} {}", review.revision).and_then(|()| out.flush()).expect("stdout");
        if case == stop_at {
            // The parent never writes: this blocks until the SIGKILL.
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            panic!("the child was not killed at case {stop_at}");
        }
    }
    writeln!(out, "done").and_then(|()| out.flush()).expect("stdout");
}

fn setup(db: &Path) {
    let mut store = Store::open(db).expect("create");
    for n in 1..=CASES {
        store
            .add_series(
                &me(),
                &NewSeries {
                    study_uid: format!("2.25.{n}"),
                    series_uid: format!("2.25.{n}.1"),
                    exam_date: Some("2026-04-01".into()),
                    age_years: Some(50),
                    sex: Some("F".into()),
                    files: vec![PathBuf::from(format!("/nowhere/{n}.dcm"))],
                    info: None,
                },
            )
            .expect("add");
    }
}

#[test]
fn confirmations_survive_sigkill() {
    // Run again by itself as the child (see the module doc).
    if let (Some(db), Some(round), Some(stop_at)) = (
        std::env::var_os("LUNGDESK_CRASH_DB"),
        std::env::var_os("LUNGDESK_CRASH_ROUND"),
        std::env::var_os("LUNGDESK_CRASH_STOP_AT"),
    ) {
        child_confirms_in_a_loop(&db, &round, &stop_at);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("labels.sqlite");
    setup(&db);
    let exe = std::env::current_exe().expect("test binary");
    let mut killed_mid_batch = 0;
    let mut killed_in_flight = 0;
    for round in 0..KILLS {
        let (kill_on, stop_at) = kill_point(round);
        let mut child = Command::new(&exe)
            .args(["--exact", "confirmations_survive_sigkill", "--nocapture", "--test-threads=1"])
            .env("LUNGDESK_CRASH_DB", &db)
            .env("LUNGDESK_CRASH_ROUND", round.to_string())
            .env("LUNGDESK_CRASH_STOP_AT", stop_at.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the chosen report, then kill at once.
        let awaited = format!("confirmed {kill_on} ");
        loop {
            let line = rx.recv_timeout(Duration::from_mins(1)).expect("the child reaches its kill point");
            assert_ne!(line, "done", "round {round}: the child finished before its kill point");
            // libtest may print the test's name before "ready" on the same line.
            if (kill_on == 0 && line.ends_with("ready")) || (kill_on > 0 && line.starts_with(&awaited)) {
                break;
            }
        }
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("reap the child");
        reader.join().expect("reader thread");
        let lines: Vec<String> = rx.try_iter().collect();
        if !lines.iter().any(|l| l == "done") {
            killed_mid_batch += 1;
            assert!(!status.success(), "killed child reports failure");
        }
        if stop_at != kill_on {
            killed_in_flight += 1;
        }
        let reported: Vec<(i64, i64)> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("confirmed "))
            .map(|l| {
                let (case, revision) = l.split_once(' ').expect("case revision");
                (case.parse().expect("case"), revision.parse().expect("revision"))
            })
            .collect();

        let store = Store::open(&db).expect("reopen after SIGKILL");
        assert_eq!(store.integrity_check().expect("integrity"), "ok", "round {round}");
        for &(case, revision) in &reported {
            let review = store.review(case, "R-CRASH").expect("read").expect("a reported confirmation is present");
            assert_eq!(review.revision, revision, "round {round}, case {case}");
            assert_eq!(review.grade, grade(round as i64, case), "round {round}, case {case}");
        }
        // None duplicated: one review per case and reader, one outbox entry and one grade
        // history row per revision.
        let conn = store.connection();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
        assert_eq!(
            count("SELECT COUNT(*) FROM (SELECT case_id FROM reviews GROUP BY case_id, reader_id HAVING COUNT(*) > 1)"),
            0
        );
        let revisions = count("SELECT COALESCE(SUM(revision), 0) FROM reviews");
        assert_eq!(count("SELECT COUNT(*) FROM outbox"), revisions, "round {round}");
        assert_eq!(count("SELECT COUNT(DISTINCT idempotency_key) FROM outbox"), revisions);
        assert_eq!(count("SELECT COUNT(*) FROM history WHERE field = 'grade'"), revisions, "round {round}");
    }
    eprintln!("{killed_mid_batch} of {KILLS} children killed mid-batch, {killed_in_flight} of them in flight");
    // Every kill point lies before the end of the batch, so every kill lands mid-batch.
    assert_eq!(killed_mid_batch, KILLS, "every kill lands mid-batch");
    assert!(killed_in_flight >= KILLS / 2, "half the kills are in flight ({killed_in_flight})");
}
