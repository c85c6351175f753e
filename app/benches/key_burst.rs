//! Benchmark: no key or wheel notch is dropped when frames are slow (issue #16).
//!
//! `cargo bench -p lungdesk --bench key_burst` opens a SYNTHETIC phantom (128×128×80) in the
//! viewer under egui_kittest and, five times each, queues a burst of 20 presses (↓, then ↑,
//! then PgDn) or 20 wheel notches while one frame is kept busy for 300 ms (a slow frame: the
//! events arrive together in the next one), then runs that one frame. It reports how many
//! slices the axial view moved (20 expected) and how long the frame that took the burst ran.
//! Prints JSON; exits non-zero when a burst moved a different number of slices.

use std::time::{Duration, Instant};

use egui::{Event, Key, Modifiers, MouseWheelSource, MouseWheelUnit, Pos2, TouchPhase, Vec2};
use egui_kittest::Harness;
use lungdesk::viewer::Viewer;
use lungdesk_volume::load_folder;
use lungdesk_volume::phantom::{PhantomSpec, write_phantom_series};

const BURST: i64 = 20;
const SLOW_FRAME: Duration = Duration::from_millis(300);
const AXIAL: Pos2 = Pos2::new(300.0, 400.0);

/// `n` presses of `key`, each with its release (egui takes a second press of a key still
/// down for a repeat).
fn presses(key: Key, n: usize) -> Vec<Event> {
    let press = [true, false].map(|pressed| Event::Key {
        key,
        physical_key: None,
        pressed,
        repeat: false,
        modifiers: Modifiers::NONE,
    });
    std::iter::repeat_n(press, n).flatten().collect()
}

fn wheel(down: bool) -> Event {
    Event::MouseWheel {
        unit: MouseWheelUnit::Line,
        delta: Vec2::new(0.0, if down { -1.0 } else { 1.0 }),
        phase: TouchPhase::Move,
        source: MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [128, 128, 80], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    let mut viewer = Viewer::new(None);
    viewer.set_volume(load_folder(dir.path(), None).expect("load"));
    let mut h = Harness::builder()
        .with_size(Vec2::new(1200.0, 800.0))
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    h.run();
    h.hover_at(AXIAL);
    h.run();
    let mut results = Vec::new();
    let mut failed = false;
    for (name, events, sign) in [
        ("20 × ↓", presses(Key::ArrowDown, BURST as usize), -1),
        ("20 × ↑", presses(Key::ArrowUp, BURST as usize), 1),
        ("20 × PgDn", presses(Key::PageDown, BURST as usize), -1),
        ("20 wheel notches down", vec![wheel(true); BURST as usize], -1),
        ("20 wheel notches up", vec![wheel(false); BURST as usize], 1),
    ] {
        for _ in 0..5 {
            let (before, _) = h.state().slice_number(0).expect("axial slice");
            // The slow frame: the burst arrives while it runs, so the next frame gets it whole.
            std::thread::sleep(SLOW_FRAME);
            // Into one frame's input (`Harness::event` would run a frame per event).
            h.input_mut().events.extend(events.iter().cloned());
            let start = Instant::now();
            h.step();
            let frame = start.elapsed();
            let (after, count) = h.state().slice_number(0).expect("axial slice");
            let moved = (after - before) * sign;
            // At the first or last slice a burst stops there; the bench starts mid-volume and
            // alternates directions, so it never reaches an end.
            failed |= moved != BURST;
            results.push(serde_json::json!({
                "burst": name, "slices_moved": moved, "expected": BURST, "of": count,
                "frame_ms": frame.as_secs_f64() * 1e3,
            }));
            // Back to where it was, for the next burst.
            h.state_mut().scroll(0, f64::from(i32::try_from(-(after - before)).unwrap_or(0)));
            h.step();
        }
    }
    println!("{}", serde_json::to_string_pretty(&results).expect("json"));
    if failed {
        eprintln!("a burst lost presses");
        std::process::exit(1);
    }
}
