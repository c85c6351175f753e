//! The viewer's interactions, asserted on state with egui_kittest (no GPU needed: the slice
//! images are paint callbacks; the state they are drawn from is what these tests check).

use egui::{Event, Key, Modifiers, MouseWheelSource, MouseWheelUnit, PointerButton, Pos2, TouchPhase, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
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

/// A point inside the axial view (left half of the image area) and the coronal view (top
/// right), with the 300-point AI panel at the right edge.
const AXIAL: Pos2 = Pos2::new(300.0, 400.0);
const CORONAL: Pos2 = Pos2::new(680.0, 200.0);

#[test]
fn wheel_moves_the_slice_of_the_view_under_the_pointer() {
    let mut h = harness();
    let before = h.state().nav.crosshair_mm;
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
    let after = h.state().nav.crosshair_mm;
    assert!((after.z - before.z - 350.0 / 40.0).abs() < 1e-6, "one axial slice up: {before} → {after}");
    assert_eq!((after.x, after.y), (before.x, before.y));
    assert_eq!(h.state().slice_number(0), Some((slice_before + 1, count)));
}

#[test]
fn a_click_moves_the_crosshair_in_the_other_views() {
    let mut h = harness();
    let before = h.state().nav.crosshair_mm;
    let (axial_before, sagittal_before) = (h.state().slice_number(0), h.state().slice_number(2));
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
    let after = h.state().nav.crosshair_mm;
    // A click in the coronal view keeps y (its plane) and moves x and z: the axial view now
    // shows another slice and the sagittal view another plane.
    assert!((after.y - before.y).abs() < 1e-9, "{before} → {after}");
    assert!((after.z - before.z).abs() > 1.0 && (after.x - before.x).abs() > 1.0, "{before} → {after}");
    assert_ne!(h.state().slice_number(0), axial_before, "the axial view shows another slice");
    assert_ne!(h.state().slice_number(2), sagittal_before, "the sagittal view shows another plane");
    assert_eq!(h.state().slice_number(1), Some((33, 64)), "the coronal view keeps its slice (row 33 of 64)");
}

#[test]
fn preset_keys_change_the_window() {
    let mut h = harness();
    assert_eq!(h.state().display.window, Window::LUNG);
    h.key_press(Key::M);
    h.run();
    assert_eq!(h.state().display.window, Window::MEDIASTINUM);
    h.key_press(Key::B);
    h.run();
    assert_eq!(h.state().display.window, Window::BONE);
    h.key_press(Key::O);
    h.run();
    assert!(!h.state().display.overlay_on, "O toggles the overlay");
}

/// The start screen's Japanese line renders with the bundled font; egui_kittest panics on a
/// missing glyph. Without the bundled font the same screen does panic, so the check is live.
#[test]
fn japanese_text_renders_with_no_missing_glyphs() {
    let build = |with_font: bool| {
        let mut builder = Harness::builder().with_size(SIZE);
        if with_font {
            builder = builder.with_context_setup(lungdesk::fonts::install);
        }
        let mut viewer = Viewer::new(None);
        viewer.lang = lungdesk::i18n::Lang::Ja;
        let mut harness = builder.build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
        harness.run();
        harness.get_by_label_contains("DICOM フォルダを開く");
    };
    build(true);
    let without = std::panic::catch_unwind(|| build(false));
    assert!(without.is_err(), "egui's own fonts have no kana: the check should have failed without the bundled font");
}

/// A folder path typed into the toolbar (the keyboard way, and the fallback where the desktop
/// has no folder dialog) is read on the loader thread while frames keep running.
#[test]
fn typing_a_folder_path_opens_it_off_the_ui_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [48, 48, 30], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), Viewer::new(None));
    h.run();
    h.get_by_role(egui::accesskit::Role::TextInput).click();
    h.run();
    h.get_by_role(egui::accesskit::Role::TextInput).type_text(&dir.path().display().to_string());
    h.run();
    h.key_press(Key::Enter);
    h.step();
    assert!(h.state().is_loading() || h.state().volume.is_some(), "Enter starts loading the typed folder");
    let start = std::time::Instant::now();
    while h.state().volume.is_none() {
        assert!(start.elapsed().as_secs() < 60, "loading the phantom took over a minute");
        assert!(h.state().error.is_none(), "{:?}", h.state().error);
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.step();
    }
    assert_eq!(h.state().volume.as_ref().map(|v| v.geometry.dims), Some([48, 48, 30]));
}

/// Steps the harness until the analysis has arrived (frames keep running meanwhile).
fn wait_for_analysis(h: &mut Harness<'_, Viewer>) {
    let start = std::time::Instant::now();
    while h.state().analysis.is_none() {
        assert!(start.elapsed().as_secs() < 300, "analysis took over five minutes");
        assert!(h.state().error.is_none(), "{:?}", h.state().error);
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.step();
    }
    h.step();
}

/// Opening a folder starts the analysis on its own thread; its labels become the overlay and
/// its grade shows in the AI panel, while frames keep running.
#[test]
fn opening_a_folder_runs_the_analysis_and_shows_its_overlay_and_grade() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [160, 160, 80], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), Viewer::new(None));
    h.state_mut().open_folder(dir.path().to_owned());
    wait_for_analysis(&mut h);
    let viewer = h.state();
    assert!(viewer.display.overlay.labels_present && viewer.labels.is_some(), "the analysis labels are the overlay");
    let labels = viewer.labels.as_ref().expect("labels");
    assert!(labels.contains(&lungdesk_volume::labels::GROUND_GLASS));
    // One of the four grades is shown as the panel's title, with a score bar for each (which
    // grade this phantom gets is the grade rules' business: inference/tests/phantom.rs; the
    // real RICORD case below must show "1 Typical").
    let titles = ["1 Typical", "2 Indeterminate", "3 Atypical", "4 Negative for pneumonia"];
    let shown: Vec<&str> = titles.iter().copied().filter(|t| h.query_by_label(t).is_some()).collect();
    assert_eq!(shown.len(), 1, "one grade title: {shown:?}");
    for (n, name) in [(1, "Typical"), (2, "Indeterminate"), (3, "Atypical"), (4, "Negative for pneumonia")] {
        h.get_by_label_contains(&format!("{n} {name} "));
    }
    let analysis = viewer.analysis.as_ref().expect("analysis");
    assert!(analysis.method.starts_with("ONNX models lungdesk-lung"), "{}", analysis.method);
    h.get_by_label_contains("SYNTHETIC lesions inserted into real CT");
    h.get_by_label_contains("not a trained classifier");
}

/// Without usable models the viewer still works: the HU baseline runs, and the AI panel says
/// the models were not used and exactly why.
#[test]
fn without_models_the_panel_says_what_is_missing_and_shows_the_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [96, 96, 48], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    let mut viewer = Viewer::new(None);
    viewer.analysis_settings.models_dir = Some(empty.path().to_owned());
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    h.state_mut().open_folder(dir.path().to_owned());
    wait_for_analysis(&mut h);
    let analysis = h.state().analysis.as_ref().expect("analysis");
    assert!(analysis.method.starts_with("HU baseline"), "{}", analysis.method);
    let reason = analysis.fallback_reason.clone().expect("a reason");
    assert!(reason.contains("no model manifests") && reason.contains(&empty.path().display().to_string()), "{reason}");
    h.get_by_label("AI models not used; showing the HU baseline.");
    h.get_by_label_contains("no model manifests");
}

/// The "done when": opening the RICORD COVID-19 case shows the bundled ONNX models'
/// overlay and their predicted grade with its explanation.
#[test]
fn opening_ricord_shows_the_onnx_models_overlay_and_grade() {
    let Some(dir) = lungdesk_volume::shared_data::real_data("ct/ricord-1a-covid") else { return };
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), Viewer::new(None));
    h.state_mut().open_folder(dir);
    wait_for_analysis(&mut h);
    let viewer = h.state();
    let analysis = viewer.analysis.as_ref().expect("analysis");
    assert!(analysis.method.starts_with("ONNX models lungdesk-lung 1.0.0"), "{}", analysis.method);
    assert!(analysis.fallback_reason.is_none());
    let labels = viewer.labels.as_ref().expect("labels are the overlay");
    assert!(viewer.display.overlay.labels_present && labels.contains(&lungdesk_volume::labels::GROUND_GLASS));
    h.get_by_label("1 Typical");
    h.get_by_label_contains("of opacity in the outer third");
    h.get_by_label_contains("SYNTHETIC lesions inserted into real CT");
}

/// A failed AI pre-read says that the images are shown, in the reader's language, and names
/// the model by its file name, not by the installation's path; an unreadable folder says it
/// could not be opened.
#[test]
fn a_failed_step_is_named_and_shows_no_installation_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [32, 32, 12], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    let mut viewer = Viewer::new(None);
    viewer.set_volume(load_folder(dir.path(), None).expect("load"));
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    h.run();
    h.state_mut().fail(
        lungdesk::viewer::Step::Ai,
        "model /work/build/assets/models/lungdesk-lung.onnx: inference failed: out of memory".into(),
    );
    h.run();
    h.get_by_label(
        "The AI pre-read failed; the images are shown: model lungdesk-lung.onnx: inference failed: out of memory",
    );
    assert!(h.state().volume.is_some(), "the images stay");
    h.state_mut().lang = lungdesk::i18n::Lang::Ja;
    h.run();
    h.get_by_label_contains("AI 事前読影に失敗しました (画像は表示しています): model lungdesk-lung.onnx");
    h.state_mut().lang = lungdesk::i18n::Lang::En;
    let e = lungdesk::error::ViewerError::Volume(lungdesk_volume::VolumeError::NoImageSeries {
        path: "/data/empty".into(),
        why: "the folder is empty".into(),
    });
    h.state_mut().fail(lungdesk::viewer::Step::of(&e), e.to_string());
    h.run();
    h.get_by_label_contains("Could not open: ");
}

/// A single slice shows one view, in its own plane: axial for an axial slice, sagittal for a
/// sagittal one (SYNTHETIC phantom slices); a volume shows all three.
#[test]
fn a_single_slice_shows_one_view_in_its_own_plane() {
    use lungdesk_volume::phantom::SliceOrientation;
    for (orientation, view) in
        [(SliceOrientation::Axial, 0), (SliceOrientation::Sagittal, 2), (SliceOrientation::Coronal, 1)]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = PhantomSpec { dims: [64, 64, 1], orientation, ..PhantomSpec::default() };
        write_phantom_series(&spec, dir.path()).expect("phantom");
        let mut viewer = Viewer::new(None);
        viewer.analyse_on_load = false;
        viewer.set_volume(load_folder(dir.path(), None).expect("load"));
        let mut h = Harness::builder().with_size(SIZE).build_ui_state(|ui, v: &mut Viewer| v.ui(ui), viewer);
        h.run();
        assert_eq!(h.state().single_slice_view(), Some(view), "{orientation:?}");
        assert_eq!(h.state().slice_number(view), Some((1, 1)));
    }
    assert_eq!(harness().state().single_slice_view(), None, "a volume");
}

/// Five wheel notches in one frame move five slices; a sideways notch moves none; a trackpad
/// scrolls a slice per 40 points, keeping the rest for its next events.
#[test]
fn every_vertical_notch_of_a_frame_moves_a_slice_and_sideways_ones_none() {
    let mut h = harness();
    h.hover_at(AXIAL);
    h.run();
    let (start, _) = h.state().slice_number(0).expect("slice");
    let wheel = |unit, delta| Event::MouseWheel {
        unit,
        delta,
        phase: TouchPhase::Move,
        source: MouseWheelSource::Wheel,
        modifiers: Modifiers::NONE,
    };
    h.input_mut().events.extend(std::iter::repeat_n(wheel(MouseWheelUnit::Line, Vec2::new(0.0, 1.0)), 5));
    h.step();
    assert_eq!(h.state().slice_number(0).map(|s| s.0), Some(start + 5), "five notches, one frame");
    h.input_mut().events.push(wheel(MouseWheelUnit::Line, Vec2::new(1.0, 0.0)));
    h.step();
    assert_eq!(h.state().slice_number(0).map(|s| s.0), Some(start + 5), "sideways: no slice");
    h.input_mut().events.push(wheel(MouseWheelUnit::Point, Vec2::new(0.0, 30.0)));
    h.step();
    assert_eq!(h.state().slice_number(0).map(|s| s.0), Some(start + 5), "30 points: not yet a step");
    h.input_mut().events.push(wheel(MouseWheelUnit::Point, Vec2::new(0.0, 30.0)));
    h.step();
    assert_eq!(h.state().slice_number(0).map(|s| s.0), Some(start + 6), "60 points: one step, 20 kept");
}

/// A folder of several CT series: the picker lists each by date and series number with plane,
/// images and thickness (not bare UIDs), the series for reading marked, and a click opens one.
#[test]
fn the_series_picker_names_each_series_and_opens_the_one_clicked() {
    use lungdesk_volume::phantom::SliceOrientation;
    let dir = tempfile::tempdir().expect("tempdir");
    for (orientation, slices, name) in [
        (SliceOrientation::Sagittal, 48, "sag"),
        (SliceOrientation::Coronal, 40, "cor"),
        (SliceOrientation::Axial, 32, "ax"),
    ] {
        let spec = PhantomSpec { dims: [48, 48, slices], seed: 5, orientation, ..PhantomSpec::default() };
        write_phantom_series(&spec, &dir.path().join(name)).expect("phantom");
    }
    let mut viewer = Viewer::new(None);
    viewer.analyse_on_load = false;
    let mut h = Harness::builder().with_size(SIZE).build_ui_state(|ui, v: &mut Viewer| v.ui(ui), viewer);
    h.state_mut().open_folder(dir.path().to_owned());
    let start = std::time::Instant::now();
    // `step`, not `run`: the loader repaints while it works, so the UI never settles.
    while h.query_by_label_contains("Sagittal · 48 images").is_none() {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(start.elapsed().as_secs() < 60, "no picker");
    }
    for text in ["Axial · 32 images", "Coronal · 40 images", "Sagittal · 48 images"] {
        h.get_by_label_contains(text);
    }
    h.get_by_label_contains("Coronal · 40 images").click();
    while h.state().volume.is_none() {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(start.elapsed().as_secs() < 60, "nothing opened");
    }
    assert_eq!(h.state().volume.as_ref().map(|v| v.geometry.dims[2]), Some(40), "the coronal series (40 slices)");
}

/// In Japanese each viewer hint stays whole on one line (no break inside a word).
#[test]
fn viewer_hints_never_break_inside_a_word_in_japanese() {
    let mut viewer = Viewer::new(None);
    viewer.lang = lungdesk::i18n::Lang::Ja;
    let dir = tempfile::tempdir().expect("tempdir");
    write_phantom_series(&PhantomSpec { dims: [32, 32, 12], ..PhantomSpec::default() }, dir.path()).expect("phantom");
    viewer.set_volume(load_folder(dir.path(), None).expect("load"));
    let mut h = Harness::builder()
        .with_size(Vec2::new(900.0, 700.0))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, v: &mut Viewer| v.ui(ui), viewer);
    h.run();
    for hint in ["F 最大化", "↑↓/ホイール: スライス", "Ctrl+ホイール 拡大", "中ドラッグ 移動", "右ドラッグ W/L"]
    {
        let r = h.get_by_label(hint).rect();
        assert!(r.height() < 24.0, "{hint} on one line: {r:?}");
    }
}
