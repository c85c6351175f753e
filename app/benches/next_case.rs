//! Benchmark: switching to the next case with prefetch ≤ 100 ms (issue #5).
//!
//! `WGPU_BACKEND=vulkan cargo bench -p lungdesk --bench next_case` imports the two real chest
//! CTs of `../shared/data/ct` (RICORD 512×512×255 and Lung-PET-CT-Dx 512×512×30) and runs the
//! desk in egui_kittest with the real egui-wgpu renderer at 1600×960. With the first case open
//! and the next one prefetched (the desk reads and uploads it while the reader looks at the
//! first), the reader grades and presses Enter: the time runs from the key to the end of the
//! first rendered frame that shows the next case. For comparison, K goes back to the first
//! case, which is not prefetched: the same measure for a cold load. Five of each. The AI
//! pre-read is off, so that only the switch is timed. Prints JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::{Key, Vec2};
use egui_kittest::Harness;
use egui_kittest::wgpu::WgpuTestRenderer;
use lungdesk::desk::{Action, Desk, Phase};
use lungdesk::viewer::with_lungdesk_features;
use lungdesk_store::Identity;

fn settle(h: &mut Harness<'static, Desk>) {
    let start = Instant::now();
    while !h.state().is_idle() || matches!(h.state().model().phase(), Phase::Opening) {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
        assert!(start.elapsed() < Duration::from_mins(2), "did not settle");
    }
    h.step();
    let _ = h.render().expect("render");
}

/// Presses `key`, then steps and renders until the case `target` is on screen.
fn switch(h: &mut Harness<'static, Desk>, key: Key, target: i64) -> Duration {
    let start = Instant::now();
    h.key_press(key);
    loop {
        h.step();
        let shown =
            h.state().model().current().is_some_and(|c| c.case_id == target) && h.state().viewer.volume.is_some();
        let _ = h.render().expect("render");
        if shown {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(1));
        assert!(start.elapsed() < Duration::from_mins(1), "the case never showed");
    }
}

fn main() {
    let data = lungdesk_volume::shared_data::shared_data().join("ct");
    if !data.is_dir() {
        eprintln!("skipping: no data at {}", data.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = with_lungdesk_features(egui_kittest::wgpu::default_wgpu_setup());
    let rs = egui_kittest::wgpu::create_render_state(setup, egui_wgpu::RendererOptions::PREDICTABLE);
    let adapter = rs.adapter.get_info().name;
    let mut desk = Desk::new(Some(rs.clone()), dir.path().join("labels.sqlite"));
    desk.viewer.analyse_on_load = false;
    let mut h = Harness::builder()
        .with_size(Vec2::new(1600.0, 960.0))
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    settle(&mut h);
    h.state_mut().edit_identity(|form| {
        form.identity = Identity {
            reader_id: "R-BENCH".into(),
            display_name: "Bench".into(),
            site_code: "SITE-A".into(),
            postal_code: "466-8560".into(),
            site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
        };
    });
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    h.state_mut().apply(Action::Import(PathBuf::from(&data)));
    settle(&mut h);
    let ids: Vec<i64> = h.state().model().rows().iter().map(|r| r.case_id).collect();
    assert_eq!(ids.len(), 2, "two CT cases in {}", data.display());
    let mut slices = Vec::new();
    for r in h.state().model().rows() {
        slices.push(r.slices);
    }
    h.key_press(Key::J);
    settle(&mut h);
    let (mut warm, mut cold, mut desk_side) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        h.key_press(Key::Num1);
        h.key_press(Key::P);
        h.step();
        settle(&mut h); // the draft is saved and the next case is prefetched
        warm.push(switch(&mut h, Key::Enter, ids[1]));
        let (t, prefetched) = h.state().last_switch().expect("switch time");
        assert!(prefetched, "the next case was prefetched");
        desk_side.push(t);
        settle(&mut h);
        cold.push(switch(&mut h, Key::K, ids[0]));
        settle(&mut h);
    }
    // For scale on this renderer: an unchanged frame, and a frame that redraws the three
    // slice images (one slice up in the axial view), on the case last shown.
    let (mut steady, mut scroll) = (Vec::new(), Vec::new());
    h.hover_at(egui::pos2(700.0, 500.0));
    for _ in 0..5 {
        let t = Instant::now();
        h.step();
        let _ = h.render().expect("render");
        steady.push(t.elapsed());
        let t = Instant::now();
        h.key_press(Key::ArrowUp);
        h.step();
        let _ = h.render().expect("render");
        scroll.push(t.elapsed());
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        v.iter().map(|d| (d.as_secs_f64() * 1e4).round() / 10.0).collect::<Vec<_>>()
    };
    let (warm, cold, desk_side) = (ms(&mut warm), ms(&mut cold), ms(&mut desk_side));
    let (steady, scroll) = (ms(&mut steady), ms(&mut scroll));
    let report = serde_json::json!({
        "adapter": adapter,
        "cases_slices": slices,
        "next_with_prefetch_ms": warm,
        "next_with_prefetch_median_ms": warm[2],
        "key_to_volume_shown_in_desk_ms": desk_side,
        "cold_switch_without_prefetch_ms": cold,
        "cold_median_ms": cold[2],
        "ratio_cold_over_prefetch": cold[2] / warm[2],
        "unchanged_frame_ms": steady,
        "one_slice_scroll_frame_ms": scroll,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
