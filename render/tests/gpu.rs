//! The slice pipeline on a real (or software) GPU: a marker at a known LPS position appears
//! where the view mapping says, in all three views, for an axial and a coronal acquisition;
//! the overlay colours labelled voxels. On machines without a GPU, Debian's
//! `mesa-vulkan-drivers` (lavapipe) with `WGPU_BACKEND=vulkan` is enough.

use glam::{DVec2, DVec3};
use lungdesk_render::offscreen::{Headless, TARGET_FORMAT, Target, ViewDraw};
use lungdesk_render::slice::{OverlayStyle, SliceRenderer, ViewUniforms};
use lungdesk_render::view::{Plane, SlabMode, ViewMapping, ViewState, Window};
use lungdesk_volume::phantom::{PhantomSpec, SliceOrientation, write_phantom_series};
use lungdesk_volume::{Volume, load_folder};

fn gpu() -> Option<Headless> {
    match Headless::new() {
        Ok(gpu) => {
            eprintln!(
                "adapter: {} ({:?}), features {:?}",
                gpu.adapter.name,
                gpu.adapter.backend,
                gpu.device.features()
            );
            Some(gpu)
        }
        Err(e) => {
            assert!(std::env::var_os("LUNGDESK_REQUIRE_ADAPTER").is_none(), "{e}");
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

const VIEW: f32 = 200.0;
const MARKER_LPS: DVec3 = DVec3::new(-55.0, 25.0, 30.0);

fn phantom(orientation: SliceOrientation) -> Volume {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = PhantomSpec {
        dims: [96, 96, 72],
        orientation,
        marker: Some((MARKER_LPS, 8.0, 3000)),
        ..PhantomSpec::default()
    };
    write_phantom_series(&spec, dir.path()).expect("phantom");
    load_folder(dir.path(), None).expect("load")
}

/// Draws the three planes side by side through `crosshair`; returns pixels and mappings.
fn draw_three(
    gpu: &Headless,
    renderer: &mut SliceRenderer,
    volume: &Volume,
    crosshair: DVec3,
    overlay: &OverlayStyle,
) -> (Vec<u8>, Vec<ViewMapping>) {
    let target = Target::new(&gpu.device, [3 * VIEW as u32, VIEW as u32]);
    let mut draws = Vec::new();
    let mut mappings = Vec::new();
    for (slot, plane) in Plane::ALL.into_iter().enumerate() {
        let mapping =
            ViewMapping::new(&volume.geometry, &ViewState::new(plane), DVec2::splat(f64::from(VIEW)), crosshair);
        let uniforms = ViewUniforms::new(
            &volume.geometry,
            plane,
            &mapping,
            [VIEW, VIEW],
            Window::LUNG,
            (SlabMode::Thin, 0.0),
            overlay,
            renderer.format,
        );
        draws.push(ViewDraw { slot, rect: [slot as f32 * VIEW, 0.0, VIEW, VIEW], uniforms });
        mappings.push(mapping);
    }
    target.draw(gpu, renderer, &draws);
    (target.read(gpu).expect("readback"), mappings)
}

fn pixel(pixels: &[u8], view: usize, p: DVec2) -> [u8; 4] {
    let x = view * VIEW as usize + p.x.floor() as usize;
    let y = p.y.floor() as usize;
    let i = (y * 3 * VIEW as usize + x) * 4;
    [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]]
}

fn uploaded(gpu: &Headless, volume: &Volume) -> SliceRenderer {
    let mut renderer = SliceRenderer::new(&gpu.device, TARGET_FORMAT, 3);
    renderer.upload_volume(&gpu.device, &gpu.queue, volume.geometry.dims, &volume.voxels_hu).expect("upload");
    renderer
}

#[test]
fn marker_appears_where_the_mapping_says_in_every_view() {
    let Some(gpu) = gpu() else { return };
    for orientation in [SliceOrientation::Axial, SliceOrientation::Coronal] {
        let volume = phantom(orientation);
        let mut renderer = uploaded(&gpu, &volume);
        let (pixels, mappings) = draw_three(&gpu, &mut renderer, &volume, MARKER_LPS, &OverlayStyle::default());
        for (view, mapping) in mappings.iter().enumerate() {
            let at = mapping.view_point(MARKER_LPS);
            let grey = pixel(&pixels, view, at);
            assert!(grey[0] == 255 && grey[1] == 255, "{orientation:?} view {view}: marker missing at {at}: {grey:?}");
            // 15 mm away along screen right, outside the 8 mm marker: not white.
            let beside = at + DVec2::new(15.0 / mapping.mm_per_point, 0.0);
            let grey = pixel(&pixels, view, beside);
            assert!(grey[0] < 250, "{orientation:?} view {view}: marker too large or misplaced: {grey:?}");
        }
    }
}

#[test]
fn overlay_colours_labelled_voxels_and_hides_hidden_classes() {
    let Some(gpu) = gpu() else { return };
    let volume = phantom(SliceOrientation::Axial);
    let mut renderer = uploaded(&gpu, &volume);
    // Label a 10-voxel cube around the marker as class 2 (ground glass, yellow).
    let centre = volume.geometry.voxel_from_patient().transform_point3(MARKER_LPS).round();
    let origin = [centre.x as u32 - 5, centre.y as u32 - 5, centre.z as u32 - 5];
    renderer.update_labels(&gpu.queue, origin, [10, 10, 10], &[2u8; 1000]);
    let style = OverlayStyle { opacity: 0.5, labels_present: true, ..OverlayStyle::default() };
    let (pixels, mappings) = draw_three(&gpu, &mut renderer, &volume, MARKER_LPS, &style);
    let at = mappings[0].view_point(MARKER_LPS);
    let [r, g, b, _] = pixel(&pixels, 0, at);
    assert!(r > 200 && g > 200 && b < 180, "yellow tint expected on the white marker, got {r} {g} {b}");
    let hidden = OverlayStyle { visible_classes: 0b1111_1010, ..style };
    let (pixels, _) = draw_three(&gpu, &mut renderer, &volume, MARKER_LPS, &hidden);
    let [r, g, b, _] = pixel(&pixels, 0, at);
    assert_eq!([r, g, b], [255, 255, 255], "class 2 hidden: plain grey expected");
}
