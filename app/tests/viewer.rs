//! The viewer's interactions, asserted on state with egui_kittest (no GPU needed: the slice
//! images are paint callbacks; the state they are drawn from is what these tests check).

use egui::{Event, Key, Modifiers, MouseWheelSource, MouseWheelUnit, PointerButton, Pos2, TouchPhase, Vec2};
use egui_kittest::Harness;
use lungdesk::viewer::Viewer;
use lungdesk_render::view::Window;
use lungdesk_volume::load_folder;
use lungdesk_volume::phantom::{PhantomSpec, write_phantom_series};

const SIZE: Vec2 = Vec2::new(1200.0, 800.0);

fn harness() -> Harness<'static, Viewer> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [64, 64, 40], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    let mut viewer = Viewer::new(None);
    viewer.set_volume(load_folder(dir.path(), None).expect("load"));
    let mut harness =
        Harness::builder().with_size(SIZE).build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    harness.run();
    harness
}

/// A point inside the axial view (left half) and the coronal view (top right).
const AXIAL: Pos2 = Pos2::new(300.0, 400.0);
const CORONAL: Pos2 = Pos2::new(900.0, 200.0);

#[test]
fn wheel_moves_the_slice_of_the_view_under_the_pointer() {
    let mut h = harness();
    let before = h.state().crosshair_mm;
    let (slice_before, count) = h.state().slice_number(0).expect("slice");
    h.hover_at(AXIAL);
    h.event(Event::MouseWheel {
        unit: MouseWheelUnit::Line,
        delta: Vec2::new(0.0, 1.0),
        phase: TouchPhase::Move,
        source: MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    });
    h.run();
    let after = h.state().crosshair_mm;
    assert!((after.z - before.z - 350.0 / 40.0).abs() < 1e-6, "one axial slice up: {before} → {after}");
    assert_eq!((after.x, after.y), (before.x, before.y));
    assert_eq!(h.state().slice_number(0), Some((slice_before + 1, count)));
}

#[test]
fn a_click_moves_the_crosshair_in_the_other_views() {
    let mut h = harness();
    let before = h.state().crosshair_mm;
    h.event(Event::PointerButton {
        pos: CORONAL,
        button: PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.event(Event::PointerButton {
        pos: CORONAL,
        button: PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.run();
    let after = h.state().crosshair_mm;
    // A click in the coronal view keeps y (its plane) and moves x and z: the axial view now
    // shows another slice and the sagittal view another plane.
    assert!((after.y - before.y).abs() < 1e-9, "{before} → {after}");
    assert!((after.z - before.z).abs() > 1.0 && (after.x - before.x).abs() > 1.0, "{before} → {after}");
    assert_ne!(h.state().slice_number(0), Some((0, 0)));
}

#[test]
fn preset_keys_change_the_window() {
    let mut h = harness();
    assert_eq!(h.state().window, Window::LUNG);
    h.key_press(Key::M);
    h.run();
    assert_eq!(h.state().window, Window::MEDIASTINUM);
    h.key_press(Key::B);
    h.run();
    assert_eq!(h.state().window, Window::BONE);
    h.key_press(Key::O);
    h.run();
    assert!(!h.state().overlay_on, "O toggles the overlay");
}
