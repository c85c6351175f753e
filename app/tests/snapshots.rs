//! Snapshot tests of the real slice views, drawn by egui_kittest through egui-wgpu on the
//! software adapter (lavapipe: Debian's `mesa-vulkan-drivers`, `WGPU_BACKEND=vulkan`), with
//! assertions on state beside the pixels. Without an adapter they skip, unless
//! `LUNGDESK_REQUIRE_ADAPTER` is set (as `.ci/run` does). The RICORD test needs
//! `../shared/data` and says so when it is missing (fatal with `LUNGDESK_REQUIRE_DATA`).
//!
//! Update the images after an intended change: `UPDATE_SNAPSHOTS=1 WGPU_BACKEND=vulkan cargo
//! test -p lungdesk --test snapshots`, then look at them before committing.

use std::path::PathBuf;

use egui::{Key, Vec2};
use egui_kittest::Harness;
use egui_kittest::wgpu::WgpuTestRenderer;
use lungdesk::viewer::{Viewer, with_lungdesk_features};
use lungdesk_render::view::{SlabMode, Window};
use lungdesk_volume::phantom::{PhantomSpec, label_volume, write_phantom_series};
use lungdesk_volume::{Volume, labels, load_folder};

const SIZE: Vec2 = Vec2::new(960.0, 600.0);

fn render_state() -> Option<egui_wgpu::RenderState> {
    let setup = with_lungdesk_features(egui_kittest::wgpu::default_wgpu_setup());
    let created = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        egui_kittest::wgpu::create_render_state(setup, egui_wgpu::RendererOptions::PREDICTABLE)
    }));
    if let Ok(rs) = created {
        return Some(rs);
    }
    assert!(
        std::env::var_os("LUNGDESK_REQUIRE_ADAPTER").is_none(),
        "no GPU adapter (install mesa-vulkan-drivers and set WGPU_BACKEND=vulkan)"
    );
    eprintln!("SKIPPED: no GPU adapter");
    None
}

fn harness(volume: Volume, labels: Option<Vec<u8>>) -> Option<Harness<'static, Viewer>> {
    let rs = render_state()?;
    let mut viewer = Viewer::new(Some(rs.clone()));
    viewer.set_volume(volume);
    if let Some(labels) = labels {
        viewer.set_labels(labels).expect("labels fit the volume");
    }
    let mut harness = Harness::builder()
        .with_size(SIZE)
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    settle(&mut harness);
    Some(harness)
}

/// Runs frames until the volume and its labels are on the GPU (uploaded on their threads).
fn settle(h: &mut Harness<'static, Viewer>) {
    let start = std::time::Instant::now();
    while h.state().is_busy() || (h.state().labels.is_some() && !h.state().labels_on_gpu()) {
        assert!(start.elapsed().as_secs() < 120, "the GPU uploads did not finish");
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
    }
    h.run();
}

/// Mean absolute difference of two images' RGB inside the axial view (left half).
fn axial_difference(first: &image::RgbaImage, second: &image::RgbaImage) -> f64 {
    let (width, height) = first.dimensions();
    let mut sum = 0u64;
    let mut count = 0u64;
    for y in height / 5..height * 4 / 5 {
        for x in width / 20..width / 2 - width / 20 {
            let (p, q) = (first.get_pixel(x, y), second.get_pixel(x, y));
            sum += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
            count += 3;
        }
    }
    sum as f64 / count as f64
}

#[test]
fn phantom_three_views_with_the_overlay_on_and_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = PhantomSpec { dims: [128, 128, 80], ..PhantomSpec::default() };
    let written = write_phantom_series(&spec, dir.path()).expect("phantom");
    let volume = load_folder(dir.path(), None).expect("load");
    let labels = label_volume(&written.anatomy, &volume.geometry);
    assert!(labels.contains(&labels::GROUND_GLASS) && labels.contains(&labels::CONSOLIDATION));
    let Some(mut h) = harness(volume, Some(labels)) else { return };
    assert!(h.state().display.overlay_on && h.state().display.overlay.labels_present);
    let on = h.render().expect("render");
    h.snapshot("phantom_three_views_overlay_on");
    h.key_press(Key::O);
    h.run();
    assert!(!h.state().display.overlay_on, "O turns the overlay off");
    let off = h.render().expect("render");
    h.snapshot("phantom_three_views_overlay_off");
    let d = axial_difference(&on, &off);
    assert!(d > 2.0, "the overlay should change the axial image visibly (mean |Δ| {d:.2})");
    // The whole label volume went to the GPU on a worker thread, never on this (the UI) one.
    let writers = lungdesk_render::slice::label_writers();
    assert!(!writers.is_empty(), "the labels were written");
    assert!(writers.iter().all(|w| w == "lungdesk-labels"), "label volumes written by {writers:?}");
}

fn ricord() -> Option<PathBuf> {
    lungdesk_volume::shared_data::real_data("ct/ricord-1a-covid")
}

/// A test overlay for RICORD, which has no segmentation of its own: voxels of −750..−300 HU
/// labelled ground glass, below that (air and lung) lung. A crude threshold, not a reading.
fn threshold_labels(volume: &Volume) -> Vec<u8> {
    volume
        .voxels_hu
        .iter()
        .map(|&hu| match hu {
            -1000..-750 => labels::LUNG,
            -750..-300 => labels::GROUND_GLASS,
            _ => labels::BACKGROUND,
        })
        .collect()
}

#[test]
fn ricord_mip_slab_at_lung_window_with_the_overlay_on_and_off() {
    let Some(dir) = ricord() else { return };
    let volume = load_folder(&dir, None).expect("RICORD loads");
    let labels = threshold_labels(&volume);
    let Some(mut h) = harness(volume, Some(labels)) else { return };
    h.state_mut().display.slab = (SlabMode::Mip, 10.0);
    h.run();
    assert_eq!(h.state().display.window, Window::LUNG);
    assert_eq!(h.state().display.slab.0, SlabMode::Mip);
    let on = h.render().expect("render");
    h.snapshot("ricord_mip10_lung_overlay_on");
    h.key_press(Key::O);
    h.run();
    assert!(!h.state().display.overlay_on);
    let off = h.render().expect("render");
    h.snapshot("ricord_mip10_lung_overlay_off");
    let d = axial_difference(&on, &off);
    assert!(d > 2.0, "the overlay should change the axial image visibly (mean |Δ| {d:.2})");
}

/// The review desk in Japanese: identity form, worklist, review panel, shortcut sheet and
/// disagreements, drawn through egui-wgpu with the bundled font. Every key asked for in
/// Japanese has an entry, and the font has every glyph of every Japanese string.
#[test]
fn the_desk_in_japanese_has_every_string_and_glyph() {
    use lungdesk::desk::{Action, Desk, Phase};
    use lungdesk::i18n::{JA, Lang, missing_keys};
    let Some(rs) = render_state() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for seed in 1..=3 {
        let spec = PhantomSpec { dims: [64, 64, 32], seed, ..PhantomSpec::default() };
        write_phantom_series(&spec, &dir.path().join(format!("data/case-{seed}"))).expect("phantom");
    }
    let mut desk = Desk::new(Some(rs.clone()), dir.path().join("labels.sqlite"));
    desk.viewer.analyse_on_load = false;
    desk.apply(Action::ExportDir(PathBuf::from("exports"))); // not $HOME: the image must not depend on the machine
    let mut h = Harness::builder()
        .with_size(Vec2::new(1500.0, 900.0))
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    let settle = |h: &mut Harness<'static, Desk>| {
        let start = std::time::Instant::now();
        while !h.state().is_idle() || matches!(h.state().model().phase(), Phase::Opening) {
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(10));
            assert!(start.elapsed().as_secs() < 120, "the desk did not settle");
        }
        h.run_steps(3);
    };
    settle(&mut h);
    h.state_mut().apply(Action::Lang(Lang::Ja));
    h.run_steps(2);
    h.snapshot("desk_ja_identity");
    h.state_mut().edit_identity(|form| {
        form.identity = lungdesk_store::Identity {
            reader_id: "R-0042".into(),
            display_name: "山田 花子".into(),
            site_code: "NAGOYA-U".into(),
            postal_code: "466-8560".into(),
            site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
        };
    });
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    h.state_mut().apply(Action::Import(PathBuf::from(&dir.path().join("data"))));
    settle(&mut h);
    h.key_press(Key::J);
    settle(&mut h);
    for key in [Key::Num1, Key::P] {
        h.key_press(key);
        h.step();
    }
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Num1);
    settle(&mut h);
    assert_eq!(h.state().model().lang(), Lang::Ja);
    assert!(h.state().viewer.volume.is_some());
    h.snapshot("desk_ja_review");
    h.key_press(Key::F1);
    h.run_steps(3);
    assert!(h.state().model().show_shortcuts());
    h.snapshot("desk_ja_shortcuts");
    h.key_press(Key::Escape);
    h.key_press(Key::Enter);
    settle(&mut h);
    h.key_press(Key::F4);
    settle(&mut h);
    h.snapshot("desk_ja_disagreements");
    assert_eq!(missing_keys(), Vec::<&str>::new(), "keys shown in Japanese without a translation");
    let font = egui::FontId::proportional(14.0);
    h.ctx.fonts_mut(|fonts| {
        for (_, ja) in JA {
            let missing: String = ja.chars().filter(|&c| !fonts.has_glyph(&font, c)).collect();
            assert!(missing.is_empty(), "no glyph for {missing:?} in {ja}");
        }
    });
}

/// A second volume of another size after the first, each with its labels (as when the desk
/// moves to the next case): each volume gets its own GPU copy and its labels go into its own
/// label texture, also when the new volume lands where the old one was in memory.
#[test]
fn the_next_volume_gets_its_own_gpu_copy_and_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut volumes = Vec::new();
    for (i, dims) in [[96, 96, 60], [80, 80, 24], [96, 96, 60]].into_iter().enumerate() {
        let spec = PhantomSpec { dims, seed: i as u64 + 1, ..PhantomSpec::default() };
        let folder = dir.path().join(format!("case-{i}"));
        let written = write_phantom_series(&spec, &folder).expect("phantom");
        let volume = load_folder(&folder, None).expect("load");
        let labels = label_volume(&written.anatomy, &volume.geometry);
        volumes.push((volume, labels));
    }
    let mut volumes = volumes.into_iter();
    let (first, first_labels) = volumes.next().expect("first");
    let Some(mut h) = harness(first, Some(first_labels)) else { return };
    for (volume, labels) in volumes {
        let dims = volume.geometry.dims;
        // As the desk does on the next case: the old volume goes first, then the new one
        // arrives (and may be allocated where the old one was).
        h.state_mut().clear(None);
        h.step();
        h.state_mut().set_volume(volume);
        h.state_mut().set_labels(labels).expect("labels fit");
        settle(&mut h);
        assert_eq!(h.state().error, None, "volume {dims:?}");
        assert!(h.state().labels_on_gpu(), "the labels of {dims:?} are on the GPU");
    }
}
