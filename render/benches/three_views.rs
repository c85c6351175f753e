//! Benchmark: upload a CT volume and render the three views offscreen at 1920×1080.
//!
//! `WGPU_BACKEND=vulkan cargo bench -p lungdesk-render --bench three_views -- [DIR] [--png OUT.png]`
//! Defaults to the RICORD series in ../shared/data. Reports the upload time, the first frame
//! and the median of the following frames (each frame: uniforms, one pass, wait for the GPU).

use std::path::PathBuf;
use std::time::Instant;

use glam::{DVec2, DVec3};
use lungdesk_render::offscreen::{Headless, TARGET_FORMAT, Target, ViewDraw};
use lungdesk_render::slice::{OverlayStyle, SliceRenderer, ViewUniforms};
use lungdesk_render::view::{Plane, SlabMode, ViewMapping, ViewState, Window};

const SIZE: [u32; 2] = [1920, 1080];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let png = args.iter().position(|a| a == "--png").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let dir = args.iter().find(|a| !a.starts_with("--") && Some(PathBuf::from(a.as_str())) != png).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/ct/ricord-1a-covid")),
        PathBuf::from,
    );
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
    let frame = |k: usize| -> Vec<ViewDraw> {
        // Scroll through the volume: the crosshair moves each frame.
        let crosshair = centre + DVec3::new(0.0, 0.0, (k % 50) as f64 - 25.0);
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
                let uniforms = ViewUniforms::new(
                    &volume.geometry,
                    plane,
                    &mapping,
                    [r[2], r[3]],
                    Window::LUNG,
                    (SlabMode::Thin, 0.0),
                    &OverlayStyle::default(),
                    format,
                );
                ViewDraw { slot, rect: r, uniforms }
            })
            .collect()
    };
    let t = Instant::now();
    target.draw(&gpu, &mut renderer, &frame(0));
    let first_s = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    for k in 1..=30 {
        let t = Instant::now();
        target.draw(&gpu, &mut renderer, &frame(k));
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"adapter\":{:?},\"backend\":\"{:?}\",\"hu_format\":\"{:?}\",\"dims\":{:?},\"upload_s\":{upload_s:.4},\"first_frame_s\":{first_s:.4},\"frame_median_s\":{:.4},\"frame_p90_s\":{:.4}}}",
        gpu.adapter.name,
        gpu.adapter.backend,
        renderer.format,
        volume.geometry.dims,
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
    if let Some(path) = png {
        target.draw(&gpu, &mut renderer, &frame(25));
        let pixels = target.read(&gpu).expect("readback");
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create png"));
        let mut encoder = png::Encoder::new(file, SIZE[0], SIZE[1]);
        encoder.set_color(png::ColorType::Rgba);
        encoder.write_header().expect("png header").write_image_data(&pixels).expect("png data");
        eprintln!("wrote {}", path.display());
    }
}
