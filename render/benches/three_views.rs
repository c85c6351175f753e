//! Benchmark: upload a CT volume and render the three views offscreen at 1920×1080.
//!
//! `WGPU_BACKEND=vulkan cargo bench -p lungdesk-render --bench three_views -- [DIR] [--png OUT.png]`
//! Defaults to the RICORD series in ../shared/data. Reports the upload time, the first frame
//! and the median of the following frames in three cases: scrolling the axial view (the axial
//! slice image is redrawn, the other two are reused), dragging the window (all three slice
//! images are redrawn) and a redraw with nothing changed (blits only). Each frame records the
//! slice passes that are due and the blits of all three views at 1920×1080, submits, and waits
//! for the GPU.

use std::path::PathBuf;
use std::time::Instant;

use glam::{DVec2, DVec3};
use lungdesk_render::offscreen::{Headless, TARGET_FORMAT, Target, ViewDraw};
use lungdesk_render::slice::{Look, OverlayStyle, SliceRenderer, ViewFrame};
use lungdesk_render::view::{Plane, SlabMode, ViewMapping, ViewState, Window};

const SIZE: [u32; 2] = [1920, 1080];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let png = args.iter().position(|a| a == "--png").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--") && Some(PathBuf::from(a.as_str())) != png)
        .map_or_else(|| lungdesk_volume::shared_data::shared_data().join("ct/ricord-1a-covid"), PathBuf::from);
    let volume = match lungdesk_volume::load_folder(&dir, None) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    let gpu = Headless::new().expect("GPU adapter (install mesa-vulkan-drivers, set WGPU_BACKEND=vulkan)");
    let mut renderer = SliceRenderer::new(&gpu.device, TARGET_FORMAT, 3);
    let t = Instant::now();
    renderer.upload_volume(&gpu.device, &gpu.queue, volume.geometry.dims, &volume.voxels_hu).expect("upload");
    let _ = gpu.device.poll(wgpu::PollType::wait_indefinitely());
    let upload_s = t.elapsed().as_secs_f64();
    let target = Target::new(&gpu.device, SIZE);
    // Layout: axial on the left half, coronal and sagittal stacked on the right.
    let (w, h) = (SIZE[0] as f32, SIZE[1] as f32);
    let rects = [[0.0, 0.0, w / 2.0, h], [w / 2.0, 0.0, w / 2.0, h / 2.0], [w / 2.0, h / 2.0, w / 2.0, h / 2.0]];
    let (lo, hi) = lungdesk_render::view::patient_bounds(&volume.geometry);
    let centre = (lo + hi) / 2.0;
    let format = renderer.format;
    let frame = |scroll: usize, window: Window, overlay: bool| -> Vec<ViewDraw> {
        // Scroll through the volume: the crosshair moves along z.
        let crosshair = centre + DVec3::new(0.0, 0.0, (scroll % 50) as f64 - 25.0);
        Plane::ALL
            .into_iter()
            .enumerate()
            .map(|(slot, plane)| {
                let r = rects[slot];
                let mapping = ViewMapping::new(
                    &volume.geometry,
                    &ViewState::new(plane),
                    DVec2::new(f64::from(r[2]), f64::from(r[3])),
                    crosshair,
                );
                let overlay = OverlayStyle { labels_present: overlay, ..OverlayStyle::default() };
                let look = Look { window, slab: (SlabMode::Thin, 0.0), overlay };
                let frame =
                    ViewFrame::new(&volume.geometry, plane, &mapping, [r[2], r[3]], crosshair, &look, format, 2048);
                ViewDraw { slot, rect: r, frame }
            })
            .collect()
    };
    let t = Instant::now();
    target.draw(&gpu, &mut renderer, &frame(0, Window::LUNG, false));
    let first_s = t.elapsed().as_secs_f64();
    let run = |renderer: &mut SliceRenderer, name: &str, make: &dyn Fn(usize) -> Vec<ViewDraw>| {
        let mut times = Vec::new();
        let mut redrawn = 0;
        for k in 1..=30 {
            let draws = make(k);
            let t = Instant::now();
            redrawn += target.draw(&gpu, renderer, &draws);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        format!(
            "\"{name}\":{{\"median_s\":{:.4},\"p90_s\":{:.4},\"slice_images_per_frame\":{:.1}}}",
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            redrawn as f64 / 30.0
        )
    };
    let scroll = run(&mut renderer, "scroll", &|k| frame(k, Window::LUNG, false));
    let window =
        run(&mut renderer, "window", &|k| frame(0, Window { center_hu: -600.0 + k as f32, width_hu: 1500.0 }, false));
    let same = run(&mut renderer, "unchanged", &|_| frame(0, Window::LUNG, false));
    // With a label overlay: voxels below −400 HU labelled 1 (a crude air mask; only the cost
    // matters here, the AI's labels come from the inference crate).
    let labels: Vec<u8> = volume.voxels_hu.iter().map(|&hu| u8::from(hu < -400)).collect();
    let d = volume.geometry.dims.map(|d| d as u32);
    renderer.update_labels(&gpu.queue, [0, 0, 0], d, &labels);
    let overlay = run(&mut renderer, "scroll_overlay", &|k| frame(k, Window::LUNG, true));
    println!(
        "{{\"adapter\":{:?},\"backend\":\"{:?}\",\"hu_format\":\"{:?}\",\"dims\":{:?},\"upload_s\":{upload_s:.4},\"first_frame_s\":{first_s:.4},{scroll},{window},{same},{overlay}}}",
        gpu.adapter.name, gpu.adapter.backend, renderer.format, volume.geometry.dims,
    );
    if let Some(path) = png {
        target.draw(&gpu, &mut renderer, &frame(25, Window::LUNG, true));
        let pixels = target.read(&gpu).expect("readback");
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create png"));
        let mut encoder = png::Encoder::new(file, SIZE[0], SIZE[1]);
        encoder.set_color(png::ColorType::Rgba);
        encoder.write_header().expect("png header").write_image_data(&pixels).expect("png data");
        eprintln!("wrote {}", path.display());
    }
}
