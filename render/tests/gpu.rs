//! The slice pipeline on a real (or software) GPU: a marker at a known LPS position appears
//! where the view mapping says, in all three views, for an axial and a coronal acquisition;
//! the overlay colours labelled voxels. On machines without a GPU, Debian's
//! `mesa-vulkan-drivers` (lavapipe) with `WGPU_BACKEND=vulkan` is enough.

use glam::{DVec2, DVec3};
use lungdesk_render::offscreen::{Headless, TARGET_FORMAT, Target, ViewDraw};
use lungdesk_render::slice::{Look, OverlayStyle, SliceRenderer, ViewFrame};
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
        let look = Look { window: Window::LUNG, slab: (SlabMode::Thin, 0.0), overlay: *overlay };
        let frame =
            ViewFrame::new(&volume.geometry, plane, &mapping, [VIEW, VIEW], crosshair, &look, renderer.format, 2048);
        draws.push(ViewDraw { slot, rect: [slot as f32 * VIEW, 0.0, VIEW, VIEW], frame });
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

/// Slice images are redrawn only when what they show changes: scrolling the axial view
/// redraws the axial image alone, zoom and pan redraw none, a new window redraws all three.
#[test]
fn only_changed_slice_images_are_redrawn() {
    let Some(gpu) = gpu() else { return };
    let volume = phantom(SliceOrientation::Axial);
    let mut renderer = uploaded(&gpu, &volume);
    let target = Target::new(&gpu.device, [3 * VIEW as u32, VIEW as u32]);
    let draw = |renderer: &mut SliceRenderer, crosshair: DVec3, zoom: f64, window: Window| {
        let draws: Vec<ViewDraw> = Plane::ALL
            .into_iter()
            .enumerate()
            .map(|(slot, plane)| {
                let state = ViewState { zoom, ..ViewState::new(plane) };
                let mapping = ViewMapping::new(&volume.geometry, &state, DVec2::splat(f64::from(VIEW)), crosshair);
                let look = Look { window, slab: (SlabMode::Thin, 0.0), overlay: OverlayStyle::default() };
                let frame = ViewFrame::new(
                    &volume.geometry,
                    plane,
                    &mapping,
                    [VIEW, VIEW],
                    crosshair,
                    &look,
                    renderer.format,
                    2048,
                );
                ViewDraw { slot, rect: [slot as f32 * VIEW, 0.0, VIEW, VIEW], frame }
            })
            .collect();
        target.draw(&gpu, renderer, &draws)
    };
    assert_eq!(draw(&mut renderer, MARKER_LPS, 1.0, Window::LUNG), 3, "first frame draws every view");
    assert_eq!(draw(&mut renderer, MARKER_LPS, 1.0, Window::LUNG), 0, "nothing changed");
    assert_eq!(draw(&mut renderer, MARKER_LPS + DVec3::Z * 5.0, 1.0, Window::LUNG), 1, "axial scroll");
    assert_eq!(draw(&mut renderer, MARKER_LPS + DVec3::Z * 5.0, 2.5, Window::LUNG), 0, "zoom");
    assert_eq!(draw(&mut renderer, MARKER_LPS + DVec3::Z * 5.0, 2.5, Window::BONE), 3, "window");
    // Zoomed in 2.5×, the marker is still where the mapping says.
    let crosshair = MARKER_LPS;
    draw(&mut renderer, crosshair, 2.5, Window::LUNG);
    let pixels = target.read(&gpu).expect("readback");
    let mut checked = 0;
    for (view, plane) in Plane::ALL.into_iter().enumerate() {
        let state = ViewState { zoom: 2.5, ..ViewState::new(plane) };
        let mapping = ViewMapping::new(&volume.geometry, &state, DVec2::splat(f64::from(VIEW)), crosshair);
        let at = mapping.view_point(MARKER_LPS);
        if at.min_element() >= 0.0 && at.max_element() < f64::from(VIEW) {
            let grey = pixel(&pixels, view, at);
            assert!(grey[0] == 255, "view {view} zoomed: marker missing at {at}: {grey:?}");
            checked += 1;
        }
    }
    assert!(checked >= 2, "the marker should be in view in at least two planes, was in {checked}");
}
