//! Benchmark: from choosing a folder to the first image of it on screen.
//!
//! `WGPU_BACKEND=vulkan cargo bench -p lungdesk --bench open_to_first_image -- [DIR]`
//! (default: the RICORD series in ../shared/data). The viewer runs in egui_kittest with the
//! real egui-wgpu renderer at 1600×960: `open_folder` is called as the Open dialog or a drop
//! would, then frames are run and rendered as the app asks for them (the progress bar every
//! `PROGRESS_TICK`, and at once when the loader wakes the UI) until a frame shows the volume. The time includes the scan, decode and GPU upload on the loader thread,
//! the first slice images and the read-back of that frame. Five runs; prints JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::wgpu::WgpuTestRenderer;
use lungdesk::viewer::{PROGRESS_TICK, Viewer, with_lungdesk_features};

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| lungdesk_volume::shared_data::shared_data().join("ct/ricord-1a-covid"), PathBuf::from);
    if !dir.is_dir() {
        eprintln!("skipping: no folder at {}", dir.display());
        return;
    }
    let mut times = Vec::new();
    let mut adapter = String::new();
    for _ in 0..5 {
        let setup = with_lungdesk_features(egui_kittest::wgpu::default_wgpu_setup());
        let rs = egui_kittest::wgpu::create_render_state(setup, egui_wgpu::RendererOptions::PREDICTABLE);
        adapter = rs.adapter.get_info().name;
        let viewer = Viewer::new(Some(rs.clone()));
        let mut h = Harness::builder()
            .with_size(egui::vec2(1600.0, 960.0))
            .renderer(WgpuTestRenderer::from_render_state(rs))
            .with_context_setup(lungdesk::fonts::install)
            .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
        h.run();
        let _ = h.render().expect("render");
        let start = Instant::now();
        h.state_mut().open_folder(dir.clone());
        let mut frames = 0;
        let mut last_frame: Option<Instant> = None;
        loop {
            let due = last_frame.is_none_or(|t| t.elapsed() >= PROGRESS_TICK);
            if !due && !h.state().load_finished() {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            last_frame = Some(Instant::now());
            h.step();
            let image = h.render().expect("render");
            frames += 1;
            if h.state().volume.is_some() {
                // The axial view must show the volume, not a black rectangle.
                let bright = image.pixels().filter(|p| p[0] > 60).count();
                assert!(bright > 10_000, "first frame with the volume is blank");
                break;
            }
            assert!(h.state().is_loading(), "loading stopped without a volume");
        }
        times.push((start.elapsed().as_secs_f64(), frames));
    }
    let mut sorted: Vec<f64> = times.iter().map(|t| t.0).collect();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{{\"adapter\":{adapter:?},\"folder\":{:?},\"open_to_first_image_median_s\":{:.3},\"runs\":{:?}}}",
        dir.display().to_string(),
        sorted[sorted.len() / 2],
        times.iter().map(|t| format!("{:.3}s/{} frames", t.0, t.1)).collect::<Vec<_>>()
    );
}
