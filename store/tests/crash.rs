//! Crash safety: a child process confirms reviews in a loop and is killed with SIGKILL at a
//! random moment, 100 times. After each kill the store is reopened and must hold every
//! confirmation the child reported, none twice, and pass `PRAGMA integrity_check`.
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

fn me() -> Identity {
    Identity {
        reader_id: "R-CRASH".into(),
        display_name: "Crash Tester".into(),
        site_code: "SITE-A".into(),
        postal_code: "466-8560".into(),
    }
}

/// The grade the child gives `case` in `round`: every round changes every case's grade.
fn grade(round: i64, case: i64) -> Grade {
    Grade::from_number((round + case).rem_euclid(4) + 1).expect("1..=4")
}

/// The child's work: confirm every case, reporting each confirmation after its commit.
fn child_confirms_in_a_loop(db: &std::ffi::OsStr, round: &std::ffi::OsStr) {
    let round: i64 = round.to_string_lossy().parse().expect("round");
    let mut store = Store::open(Path::new(db)).expect("child opens the store");
    println!("ready");
    for case in 1..=CASES {
        let draft = ReviewDraft { grade: Some(grade(round, case)), pcr: Some(Pcr::Positive), ..ReviewDraft::default() };
        let review = store.confirm(case, &me(), &draft).expect("confirm");
        // Reported only after the commit returned: this confirmation must survive.
        println!("confirmed {case} {}", review.revision);
    }
    println!("done");
}

/// A small xorshift generator: kill times differ run to run, reproducibly per seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn setup(db: &Path) {
    let mut store = Store::open(db).expect("create");
    for n in 1..=CASES {
        store
            .add_series(
                "SITE-A",
                &NewSeries {
                    study_uid: format!("2.25.{n}"),
                    series_uid: format!("2.25.{n}.1"),
                    exam_date: Some("2026-04-01".into()),
                    age_years: Some(50),
                    sex: Some("F".into()),
                    files: vec![PathBuf::from(format!("/nowhere/{n}.dcm"))],
                },
            )
            .expect("add");
    }
}

#[test]
fn confirmations_survive_sigkill() {
    // Run again by itself as the child (see the module doc).
    if let (Some(db), Some(round)) = (std::env::var_os("LUNGDESK_CRASH_DB"), std::env::var_os("LUNGDESK_CRASH_ROUND")) {
        child_confirms_in_a_loop(&db, &round);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("labels.sqlite");
    setup(&db);
    let exe = std::env::current_exe().expect("test binary");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    eprintln!("kill-time seed {seed}");
    let mut rng = Rng(seed | 1);
    let mut killed_mid_batch = 0;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "confirmations_survive_sigkill", "--nocapture", "--test-threads=1"])
            .env("LUNGDESK_CRASH_DB", &db)
            .env("LUNGDESK_CRASH_ROUND", round.to_string())
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
        // Wait until the child has its store open, then let it confirm for a random while.
        loop {
            let line = rx.recv_timeout(Duration::from_mins(1)).expect("child starts");
            if line.ends_with("ready") {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.next(60_000)));
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("reap the child");
        reader.join().expect("reader thread");
        let lines: Vec<String> = rx.try_iter().collect();
        if !lines.iter().any(|l| l == "done") {
            killed_mid_batch += 1;
            assert!(!status.success(), "killed child reports failure");
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
    eprintln!("{killed_mid_batch} of {KILLS} children killed mid-batch");
    assert!(killed_mid_batch >= KILLS / 2, "most kills should land mid-batch ({killed_mid_batch} of {KILLS})");
}
