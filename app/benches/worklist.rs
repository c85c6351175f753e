//! Benchmark: a worklist of 100,000 cases scrolls and filters with no frame over 16 ms
//! (issue #5).
//!
//! `cargo bench -p lungdesk --bench worklist` fills a label store with 100,000 SYNTHETIC cases
//! (random exam dates, ages, sexes, AI grades, a third of them confirmed) and runs the desk in
//! egui_kittest at 1600×960: 300 frames of wheel scrolling over the worklist, typing a search
//! one character per frame and deleting it, cycling the status filter (F5) and the sort (F6).
//! Each frame's time is the desk's whole UI pass (input, filter, layout, tessellation) on this
//! CPU, without the GPU's draw (the views are empty: no case is open). Prints JSON.

use std::time::{Duration, Instant};

use egui::{Event, Key, Modifiers, MouseWheelSource, MouseWheelUnit, Pos2, TouchPhase, Vec2};
use egui_kittest::Harness;
use lungdesk::desk::{Desk, Phase};
use lungdesk_store::{Identity, Store};

const CASES: i64 = 100_000;

fn fill(store: &Store) {
    let conn = store.connection();
    conn.execute_batch("BEGIN").expect("begin");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for id in 1..=CASES {
        let date = format!("2026-{:02}-{:02}", 1 + next(12), 1 + next(28));
        conn.execute(
            "INSERT INTO cases (id, study_uid, case_key, exam_date, age_years, sex, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '2026-11-23T00:00:00.000Z')",
            rusqlite::params![id, format!("2.25.{id}"), format!("{:016x}", next(u64::MAX)), date, 20 + next(70) as i64, if next(2) == 0 { "M" } else { "F" }],
        )
        .expect("case");
        conn.execute(
            "INSERT INTO series (series_uid, case_id, slices, files) VALUES (?1, ?2, 100, '[]')",
            rusqlite::params![format!("2.25.{id}.1"), id],
        )
        .expect("series");
        let ai = 1 + next(4) as i64;
        conn.execute(
            "INSERT INTO ai_results (case_id, series_uid, grade, scores, explanation, method, models, created_at) VALUES (?1, '', ?2, '[0.25,0.25,0.25,0.25]', '', 'bench', '[]', '')",
            rusqlite::params![id, ai],
        )
        .expect("ai");
        if id % 3 == 0 {
            conn.execute(
                "INSERT INTO reviews (case_id, reader_id, site_code, postal_code, grade, pcr, findings, note, revision, confirmed_at) VALUES (?1, 'R-BENCH', 'SITE-A', '466-8560', ?2, 'positive', '', '', 1, '')",
                rusqlite::params![id, 1 + next(4) as i64],
            )
            .expect("review");
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
}

fn stats(name: &str, frames: Vec<Duration>) -> serde_json::Value {
    let in_order: Vec<f64> = frames.iter().map(|d| (d.as_secs_f64() * 1e4).round() / 10.0).collect();
    let mut frames = frames;
    frames.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(frames[((frames.len() - 1) as f64 * q).round() as usize]);
    serde_json::json!({
        "scenario": name,
        "frames": frames.len(),
        "median_ms": p(0.5),
        "p99_ms": p(0.99),
        "max_ms": ms(*frames.last().expect("frames")),
        "over_16ms": frames.iter().filter(|d| ms(**d) > 16.0).count(),
        "frames_ms_in_order": if in_order.len() <= 40 { serde_json::json!(in_order) } else { serde_json::Value::Null },
    })
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("labels.sqlite");
    {
        let mut store = Store::open(&path).expect("store");
        store
            .set_identity(&Identity {
                reader_id: "R-BENCH".into(),
                display_name: "Bench".into(),
                site_code: "SITE-A".into(),
                postal_code: "466-8560".into(),
                site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
            })
            .expect("identity");
        let start = Instant::now();
        fill(&store);
        eprintln!("filled {CASES} cases in {:.1} s", start.elapsed().as_secs_f64());
    }
    let desk = Desk::new(None, path);
    let mut h = Harness::builder()
        .with_size(Vec2::new(1600.0, 960.0))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    let start = Instant::now();
    while !(matches!(h.state().model().phase(), Phase::Ready) && h.state().is_idle()) {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let open_s = start.elapsed().as_secs_f64();
    assert_eq!(h.state().model().rows().len(), CASES as usize);
    for _ in 0..5 {
        h.step(); // warm up: the first layout of every glyph
    }
    let frame = |h: &mut Harness<'static, Desk>| {
        let t = Instant::now();
        h.step();
        t.elapsed()
    };
    let mut scroll = Vec::new();
    h.hover_at(Pos2::new(200.0, 500.0));
    for i in 0..300 {
        let down = if i < 200 { -1.0 } else { 1.0 };
        h.event(Event::MouseWheel {
            unit: MouseWheelUnit::Point,
            delta: Vec2::new(0.0, down * 400.0),
            phase: TouchPhase::Move,
            source: MouseWheelSource::Wheel,
            modifiers: Modifiers::NONE,
        });
        scroll.push(frame(&mut h));
    }
    let mut filter = Vec::new();
    h.key_press_modifiers(Modifiers::COMMAND, Key::F);
    h.step();
    for c in "2026-07-1".chars() {
        h.event(Event::Text(c.to_string()));
        filter.push(frame(&mut h));
    }
    while !h.state().is_idle() {
        h.step(); // the filter thread's answer
    }
    let narrowed = h.state().model().visible().len();
    for _ in 0..9 {
        h.key_press(Key::Backspace);
        filter.push(frame(&mut h));
    }
    while !h.state().is_idle() {
        h.step();
    }
    assert_eq!(h.state().model().visible().len(), CASES as usize, "the search is cleared");
    for c in "typical".chars() {
        h.event(Event::Text(c.to_string()));
        filter.push(frame(&mut h));
    }
    for _ in 0..7 {
        h.key_press(Key::Backspace);
        filter.push(frame(&mut h));
    }
    h.key_press(Key::Escape);
    h.step();
    let mut cycle = Vec::new();
    for _ in 0..6 {
        h.key_press(Key::F5);
        cycle.push(frame(&mut h));
    }
    for _ in 0..6 {
        h.key_press(Key::F6);
        cycle.push(frame(&mut h));
    }
    let report = serde_json::json!({
        "cases": CASES,
        "store_open_and_worklist_load_s": open_s,
        "rows_matching_2026_07_1": narrowed,
        "results": [stats("scroll", scroll), stats("type a search", filter), stats("status filter and sort", cycle)],
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
