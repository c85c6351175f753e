//! The review desk end to end with egui_kittest: identity, import, keyboard-only grading,
//! restart, history; IME-safe notes; bad input. The cases are SYNTHETIC phantoms (no real
//! lesion or grade behind them); the shared-data tests say so when `../shared/data` is missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Event, ImeEvent, Key, Modifiers, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use lungdesk::desk::{Action, Desk, Phase};
use lungdesk::i18n::Lang;
use lungdesk_store::{CaseStatus, Finding, Grade, Identity, Pcr, Store};
use lungdesk_volume::phantom::{PhantomSpec, write_phantom_series};
use lungdesk_volume::shared_data::real_data;

const SIZE: Vec2 = Vec2::new(1500.0, 900.0);

fn desk(store: &Path) -> Harness<'static, Desk> {
    let mut desk = Desk::new(None, store.to_owned());
    // The bundled models or the baseline may pre-read; the cache stays off so each run reads.
    desk.viewer.analysis_settings.cache_dir = None;
    let mut h = Harness::builder()
        .with_size(SIZE)
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    settle(&mut h);
    h
}

/// Runs frames until the desk's background work is done.
fn settle(h: &mut Harness<'static, Desk>) {
    let start = Instant::now();
    loop {
        h.step();
        if h.state().is_idle() && !matches!(h.state().model().phase(), Phase::Opening) {
            h.step();
            if h.state().is_idle() {
                return;
            }
        }
        assert!(start.elapsed() < Duration::from_mins(2), "the desk did not settle: {:?}", h.state());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn me() -> Identity {
    Identity {
        reader_id: "R-0042".into(),
        display_name: "山田 花子".into(),
        site_code: "NAGOYA-U".into(),
        postal_code: "4668560".into(),
        site_key: Some(lungdesk_store::SiteKey::from_bytes([7; 32])),
    }
}

fn set_identity(h: &mut Harness<'static, Desk>) {
    h.state_mut().edit_identity(|form| form.identity = Identity { postal_code: "46".into(), ..me() });
    h.state_mut().apply(Action::SaveIdentity);
    settle(h);
    let Phase::Identity(form) = h.state().model().phase() else { panic!("a bad postal code is refused") };
    assert_eq!(form.problems, vec!["postal_code"]);
    h.state_mut().edit_identity(|form| form.identity = me());
    h.state_mut().apply(Action::SaveIdentity);
    settle(h);
    assert!(matches!(h.state().model().phase(), Phase::Ready), "{:?}", h.state().model().phase());
    assert_eq!(h.state().model().identity().map(|i| i.postal_code.as_str()), Some("466-8560"));
}

/// Three SYNTHETIC phantom studies in a folder tree, one sub-folder each.
fn three_cases(root: &Path) {
    for seed in 1..=3 {
        let spec = PhantomSpec { dims: [48, 48, 24], seed, ..PhantomSpec::default() };
        write_phantom_series(&spec, &root.join(format!("site/case-{seed}"))).expect("phantom");
    }
}

/// A desk with its identity set and three phantom cases imported, the AI pre-read off.
fn three_cases_imported() -> (tempfile::TempDir, Harness<'static, Desk>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    three_cases(&data);
    let mut h = desk(&dir.path().join("labels.sqlite"));
    set_identity(&mut h);
    h.state_mut().viewer.analyse_on_load = false;
    h.state_mut().apply(Action::Import(PathBuf::from(&data)));
    settle(&mut h);
    (dir, h)
}

/// A key's press and release, for a frame's input.
fn press_release(key: Key) -> Vec<Event> {
    [true, false]
        .map(|pressed| Event::Key { key, physical_key: None, pressed, repeat: false, modifiers: Modifiers::NONE })
        .to_vec()
}

fn press(h: &mut Harness<'static, Desk>, key: Key) {
    h.key_press(key);
    h.step();
}

#[test]
fn import_grade_three_cases_with_the_keyboard_restart_and_find_them_with_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    three_cases(&data);
    let store = dir.path().join("labels.sqlite");
    {
        let mut h = desk(&store);
        set_identity(&mut h);
        h.state_mut().apply(Action::Import(PathBuf::from(&data)));
        settle(&mut h);
        assert_eq!(h.state().model().rows().len(), 3, "{:?}", h.state().model().notice());
        assert!(h.state().model().rows().iter().all(|r| r.status == CaseStatus::New && r.exam_date.is_some()));
        // Importing the same folder again adds nothing.
        h.state_mut().apply(Action::Import(PathBuf::from(&data)));
        settle(&mut h);
        assert_eq!(h.state().model().last_import().map(|r| (r.new_cases, r.already_imported)), Some((0, 3)));

        // Keyboard only from here: J opens the first case; grade, PCR, Enter confirms and
        // opens the next.
        press(&mut h, Key::J);
        settle(&mut h);
        let first = h.state().model().current().map(|c| c.case_id);
        assert_eq!(first, Some(h.state().model().rows()[0].case_id));
        assert!(h.state().viewer.volume.is_some(), "{:?}", h.state().viewer.error);
        for (grade, pcr, finding) in
            [(Key::Num3, Key::P, None), (Key::Num1, Key::N, None), (Key::Num2, Key::W, Some(Key::Num1))]
        {
            press(&mut h, grade);
            press(&mut h, pcr);
            if let Some(f) = finding {
                h.key_press_modifiers(Modifiers::COMMAND, f);
                h.step();
            }
            settle(&mut h);
            assert_eq!(
                h.state().model().current_row().map(|r| r.status),
                Some(CaseStatus::InReview),
                "a draft is kept"
            );
            press(&mut h, Key::Enter);
            settle(&mut h);
        }
        let grades: Vec<_> = h.state().model().rows().iter().map(|r| (r.status, r.grade, r.pcr)).collect();
        assert_eq!(
            grades,
            vec![
                (CaseStatus::Confirmed, Some(Grade::Atypical), Some(Pcr::Positive)),
                (CaseStatus::Confirmed, Some(Grade::Typical), Some(Pcr::Negative)),
                (CaseStatus::Confirmed, Some(Grade::Indeterminate), Some(Pcr::Pending)),
            ]
        );
        // These 48×48×24 phantoms have 14.6 mm slices: the AI says it cannot grade them.
        assert!(
            h.state().model().rows().iter().all(|r| r.ai_grade.is_some() || r.ai_cannot_grade.is_some()),
            "the AI pre-read of each opened case is stored"
        );
    }
    // Restart: a new desk on the same store.
    let mut h = desk(&store);
    assert!(matches!(h.state().model().phase(), Phase::Ready), "the identity is remembered");
    let grades: Vec<_> =
        h.state().model().rows().iter().map(|r| (r.status, r.grade.map(Grade::number), r.revision)).collect();
    assert_eq!(
        grades,
        vec![
            (CaseStatus::Confirmed, Some(3), Some(1)),
            (CaseStatus::Confirmed, Some(1), Some(1)),
            (CaseStatus::Confirmed, Some(2), Some(1))
        ]
    );
    // The case in review at the close (the last one) is open again; K K goes to the first.
    let last = h.state().model().rows()[2].case_id;
    assert_eq!(
        h.state().model().current().map(|c| (c.case_id, c.draft.grade)),
        Some((last, Some(Grade::Indeterminate)))
    );
    press(&mut h, Key::K);
    press(&mut h, Key::K);
    settle(&mut h);
    let case = h.state().model().current().cloned().expect("a case is open");
    assert_eq!(case.draft.grade, Some(Grade::Atypical), "the confirmed review is shown again");
    let changes: Vec<_> =
        case.history.iter().map(|e| (e.field.as_str(), e.reader_id.as_str(), e.new.as_deref())).collect();
    assert!(changes.contains(&("grade", "R-0042", Some("3"))), "{changes:?}");
    assert!(changes.contains(&("pcr", "R-0042", Some("positive"))), "{changes:?}");
    // Changing the grade makes revision 2 with its history row; the store holds one review.
    press(&mut h, Key::Num4);
    press(&mut h, Key::Enter);
    settle(&mut h);
    let s = Store::open(&store).expect("open");
    let review = s.review(case.case_id, "R-0042").expect("read").expect("review");
    assert_eq!((review.grade, review.revision), (Grade::Negative, 2));
    let last = s.history(case.case_id).expect("history").pop().expect("history row");
    assert_eq!((last.field.as_str(), last.old.as_deref(), last.new.as_deref()), ("grade", Some("3"), Some("4")));
    assert_eq!(s.all_reviews().expect("reviews").len(), 3);
    let third = s.review(3, "R-0042").expect("read").expect("review");
    assert_eq!(third.findings, vec![Finding::CrazyPaving], "Ctrl+1 ticks crazy-paving");
    assert_eq!(s.outbox_pending(100).expect("outbox").len(), 4);
}

#[test]
fn the_note_takes_japanese_ime_input_without_grading_or_confirming() {
    let (dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    settle(&mut h);
    press(&mut h, Key::Num2);
    press(&mut h, Key::I); // focus the note
    h.run_steps(2);
    // An IME session: preedit (with Enter to pick the conversion), then the commit; and a
    // digit typed into the note.
    let preedit = |text: &str| Event::Ime(ImeEvent::Preedit { text: text.into(), active_range_chars: None });
    h.event(preedit("すりがらす"));
    h.step();
    h.key_press(Key::Enter);
    h.event(preedit("すりガラス"));
    h.event(Event::Ime(ImeEvent::Commit("すりガラス影".into())));
    h.event(Event::Text("1".into()));
    h.key_press(Key::Num1);
    h.key_press(Key::P);
    h.event(Event::Text("p".into()));
    h.run_steps(3);
    settle(&mut h);
    let case = h.state().model().current().cloned().expect("case");
    assert!(case.draft.note.contains("すりガラス影"), "note: {:?}", case.draft.note);
    assert!(case.draft.note.ends_with("1p"), "digits and letters go into the note: {:?}", case.draft.note);
    assert_eq!(case.draft.grade, Some(Grade::Indeterminate), "typing in the note does not grade");
    assert_eq!(case.draft.pcr, None, "typing P in the note does not set PCR");
    assert_eq!(h.state().model().rows()[0].status, CaseStatus::InReview, "nothing confirmed while typing");
    // Esc leaves the note; then keys act again.
    press(&mut h, Key::Escape);
    press(&mut h, Key::P);
    settle(&mut h);
    assert_eq!(h.state().model().current().and_then(|c| c.draft.pcr), Some(Pcr::Positive));
    // The draft (note included) is in the store: nothing typed is lost on a crash.
    let s = Store::open(&dir.path().join("labels.sqlite")).expect("open");
    assert!(s.working_copy(case.case_id, "R-0042").expect("draft").note.contains("すりガラス影"));
}

#[test]
fn enter_without_grade_and_pcr_refuses_with_a_message() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    press(&mut h, Key::Num1);
    press(&mut h, Key::Enter);
    settle(&mut h);
    let notice = h.state().model().notice().cloned().expect("a message");
    assert!(notice.error && notice.text.contains("PCR"), "{notice:?}");
    assert_eq!(
        h.state().model().current().map(|c| c.case_id),
        Some(h.state().model().rows()[0].case_id),
        "still on the case"
    );
    assert!(h.state().model().rows().iter().all(|r| r.grade.is_none()));
}

#[test]
fn bad_input_gets_a_clear_message_and_loses_nothing() {
    let (dir, mut h) = three_cases_imported();
    let store = dir.path().join("labels.sqlite");
    press(&mut h, Key::J);
    press(&mut h, Key::Num1);
    press(&mut h, Key::P);
    press(&mut h, Key::Enter);
    settle(&mut h);

    // An unreadable folder.
    let missing = dir.path().join("no such folder");
    h.state_mut().apply(Action::Import(PathBuf::from(&missing)));
    settle(&mut h);
    let notice = h.state().model().notice().cloned().expect("message");
    assert!(notice.error && notice.text.contains("no such folder"), "{notice:?}");
    assert_eq!(h.state().model().rows().len(), 3);

    // A case whose files vanished after import: a clear message, its label kept, and it can
    // still be graded.
    let first = h.state().model().rows()[0].case_id;
    let files = Store::open(&store).expect("open").case_series(first).expect("files").remove(0).1;
    std::fs::remove_dir_all(files[0].parent().expect("case folder")).expect("remove");
    press(&mut h, Key::K); // back to the first case
    settle(&mut h);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(first));
    let error = h.state().viewer.error.clone().expect("an error for the missing files");
    assert!(error.contains("24 of 24 files of this case are gone") && error.contains("labels are kept"), "{error}");
    assert_eq!(h.state().model().rows()[0].grade, Some(Grade::Typical), "its label is kept");
    assert_eq!(h.state().model().current().and_then(|c| c.draft.grade), Some(Grade::Typical));

    // Japanese messages too.
    h.state_mut().apply(Action::Lang(Lang::Ja));
    press(&mut h, Key::J);
    press(&mut h, Key::K);
    settle(&mut h);
    let error = h.state().viewer.error.clone().expect("an error for the missing files");
    assert!(error.contains("ファイル 24 個中 24 個が見つかりません"), "{error}");
    assert_eq!(Store::open(&store).expect("open").all_reviews().expect("reviews").len(), 1);
}

#[test]
fn non_ct_series_in_a_real_folder_are_skipped_with_their_modality() {
    let Some(folder) = real_data("dicom/transfer-syntaxes") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = desk(&dir.path().join("labels.sqlite"));
    set_identity(&mut h);
    h.state_mut().apply(Action::Import(PathBuf::from(&folder)));
    settle(&mut h);
    let report = h.state().model().last_import().cloned().expect("report");
    let modalities: Vec<&str> = report.not_ct.iter().map(|(m, _)| m.as_str()).collect();
    assert!(modalities.contains(&"US") && modalities.contains(&"OT"), "{modalities:?}");
    let notice = h.state().model().notice().cloned().expect("message");
    assert!(notice.text.contains("that are not CT (OT, US)"), "{notice:?}");
    assert!(h.state().model().rows().len() >= 2, "the CT series are imported as cases");
}

/// The whole shared data folder, as a new user would import it: every CT case can be labelled
/// with the keyboard. Cases that cannot be shown say why and are still gradeable.
#[test]
fn the_shared_data_folder_imports_and_every_case_is_labelled_with_the_keyboard() {
    let Some(folder) = real_data("") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("labels.sqlite");
    let mut h = desk(&store);
    set_identity(&mut h);
    h.state_mut().viewer.analyse_on_load = false;
    h.state_mut().apply(Action::Import(PathBuf::from(&folder)));
    settle(&mut h);
    let n = h.state().model().rows().len();
    assert!(n >= 4, "RICORD, Lung-PET-CT-Dx, lungmask and more: {n} case(s)");
    press(&mut h, Key::J);
    for i in 0..n {
        settle(&mut h);
        press(&mut h, [Key::Num1, Key::Num2, Key::Num3, Key::Num4][i % 4]);
        press(&mut h, [Key::P, Key::N, Key::W, Key::X][i % 4]);
        press(&mut h, Key::Enter);
    }
    settle(&mut h);
    assert!(
        h.state().model().rows().iter().all(|r| r.status == CaseStatus::Confirmed),
        "{:?}",
        h.state().model().rows()
    );
    assert_eq!(Store::open(&store).expect("open").all_reviews().expect("reviews").len(), n);
}

/// First start from the keyboard alone: Tab into each field (the site key last), type, Enter
/// saves.
#[test]
fn the_identity_is_typed_with_the_keyboard_and_remembered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("labels.sqlite");
    {
        let mut h = desk(&store);
        assert!(matches!(h.state().model().phase(), Phase::Identity(_)));
        let key = lungdesk_store::SiteKey::from_bytes([7; 32]).reveal();
        // The first field has the keyboard from the start: typing begins at once, Tab moves on.
        for (i, text) in ["R-0042", "山田 花子", "NAGOYA-U", "４６６－８５６０", key.as_str()].into_iter().enumerate()
        {
            if i > 0 {
                press(&mut h, Key::Tab);
            }
            h.event(Event::Text(text.into()));
            h.step();
            if i == 4 {
                press(&mut h, Key::Enter);
            }
        }
        settle(&mut h);
        assert!(matches!(h.state().model().phase(), Phase::Ready), "{:?}", h.state().model().phase());
    }
    let h = desk(&store);
    let identity = h.state().model().identity().cloned().expect("remembered");
    assert_eq!(identity, Identity { postal_code: "466-8560".into(), ..me() });
}

/// The same keyboard labelling with the UI in Japanese (F2 switches at run time).
#[test]
fn every_case_is_labelled_with_the_keyboard_in_japanese() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::F2);
    assert_eq!(h.state().model().lang(), Lang::Ja);
    press(&mut h, Key::J);
    for key in [Key::Num4, Key::Num2, Key::Num1] {
        settle(&mut h);
        press(&mut h, key);
        press(&mut h, Key::X);
        press(&mut h, Key::Enter);
    }
    settle(&mut h);
    let grades: Vec<_> =
        h.state().model().rows().iter().map(|r| (r.status, r.grade.map(Grade::number), r.pcr)).collect();
    assert_eq!(
        grades,
        vec![
            (CaseStatus::Confirmed, Some(4), Some(Pcr::NotTested)),
            (CaseStatus::Confirmed, Some(2), Some(Pcr::NotTested)),
            (CaseStatus::Confirmed, Some(1), Some(Pcr::NotTested)),
        ]
    );
    let notice = h.state().model().notice().cloned().expect("message");
    assert!(notice.text.starts_with("保存しました") && notice.text.ends_with("一覧の最後の症例でした。"), "{notice:?}");
}

/// Ctrl+E writes every confirmed label as CSV and JSON into the export folder.
#[test]
fn ctrl_e_exports_the_confirmed_labels() {
    let (dir, mut h) = three_cases_imported();
    let out = dir.path().join("exports");
    h.state_mut().apply(Action::ExportDir(out.clone()));
    press(&mut h, Key::J);
    for key in [Key::Num1, Key::P, Key::Enter] {
        press(&mut h, key);
    }
    settle(&mut h);
    h.key_press_modifiers(Modifiers::COMMAND, Key::E);
    h.step();
    settle(&mut h);
    let notice = h.state().model().notice().cloned().expect("message");
    assert!(!notice.error && notice.text.starts_with("Exported 1 label(s)"), "{notice:?}");
    let files: Vec<PathBuf> =
        std::fs::read_dir(&out).expect("export folder").map(|e| e.expect("entry").path()).collect();
    let csv = files.iter().find(|p| p.extension().is_some_and(|e| e == "csv")).expect("a CSV");
    let text = std::fs::read_to_string(csv).expect("read");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains(",NAGOYA-U,466-8560,R-0042,1,typical,positive,")), "{text}");
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "json")));
}

/// Series the AI cannot grade show "—" and the reason in the worklist and the review panel,
/// in English and Japanese, and are stored as such (never as a grade). Real: a single axial
/// slice, a two-slice series. SYNTHETIC: a single sagittal phantom slice, and a phantom body
/// without lungs for a non-chest CT.
#[test]
fn series_the_ai_cannot_grade_show_why_in_the_worklist() {
    use lungdesk_volume::phantom::{Anatomy, SliceOrientation, write_anatomy_series};
    let (Some(syntaxes), Some(two)) = (real_data("dicom/transfer-syntaxes"), real_data("dicom/lungmask-slices")) else {
        return;
    };
    let slice = syntaxes.join("CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("axial")).expect("dir");
    std::fs::copy(&slice, data.join("axial/slice.dcm")).expect("copy");
    std::fs::create_dir_all(data.join("two")).expect("dir");
    for entry in std::fs::read_dir(&two).expect("lungmask") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, data.join("two").join(path.file_name().expect("name"))).expect("copy");
    }
    let sagittal =
        PhantomSpec { dims: [96, 96, 1], orientation: SliceOrientation::Sagittal, seed: 41, ..PhantomSpec::default() };
    write_anatomy_series(&sagittal, &Anatomy::new(41, None), &data.join("sagittal")).expect("phantom");
    let body = PhantomSpec { dims: [64, 64, 40], seed: 42, ..PhantomSpec::default() };
    write_anatomy_series(&body, &Anatomy::new(42, None).without_lungs(), &data.join("body")).expect("phantom");

    let store = dir.path().join("labels.sqlite");
    let mut h = desk(&store);
    set_identity(&mut h);
    h.state_mut().apply(Action::Import(PathBuf::from(&data)));
    settle(&mut h);
    let n = h.state().model().rows().len();
    assert_eq!(n, 4, "{:?}", h.state().model().rows());
    // Open each case with the keyboard; the AI pre-reads it on opening.
    press(&mut h, Key::J);
    for _ in 1..n {
        settle(&mut h);
        press(&mut h, Key::J);
    }
    settle(&mut h);
    let mut codes: Vec<String> = h.state().model().rows().iter().filter_map(|r| r.ai_cannot_grade.clone()).collect();
    codes.sort();
    assert_eq!(
        codes,
        ["not_chest_ct", "single_slice", "single_slice", "too_few_slices"],
        "{:?}",
        h.state().model().rows()
    );
    assert!(h.state().model().rows().iter().all(|r| r.ai_grade.is_none() && r.status == CaseStatus::AiDone));
    // The worklist shows "—" and the reason, in both languages.
    for text in ["— a single slice cannot be graded", "— too few slices to grade", "— not a chest CT"] {
        h.query_all_by_label(text).next().unwrap_or_else(|| panic!("worklist shows {text:?}"));
    }
    h.state_mut().apply(Action::Lang(Lang::Ja));
    h.step();
    h.step();
    for text in ["— 単一スライスは判定できません", "— 胸部 CT ではありません"] {
        h.query_all_by_label(text).next().unwrap_or_else(|| panic!("worklist shows {text:?}"));
    }
    // Stored as "cannot grade", and still gradeable by the reader after a restart.
    drop(h);
    let s = Store::open(&store).expect("open");
    for row in s.worklist("R-0042").expect("worklist") {
        let ai = s.ai_result(row.case_id).expect("read").expect("an AI result");
        assert!(ai.grade.is_none() && ai.cannot_grade.is_some(), "{ai:?}");
    }
}

/// A store made before site keys holds an identity without one: the desk opens on the form
/// with the identity filled in and asks for the key alone; a malformed key is refused by name,
/// "New site key" makes one (shown, to hand out), and once saved the desk is ready with it.
#[test]
fn a_store_from_before_site_keys_asks_for_the_key_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("labels.sqlite");
    {
        let s = lungdesk_store::Store::open(&store).expect("store");
        let old = serde_json::json!({
            "reader_id": "R-0042", "display_name": "山田 花子", "site_code": "NAGOYA-U", "postal_code": "466-8560"
        });
        s.set_setting("identity", &old.to_string()).expect("old identity");
    }
    let mut h = desk(&store);
    let Phase::Identity(form) = h.state().model().phase() else {
        panic!("the key is asked for: {:?}", h.state().model().phase())
    };
    assert_eq!((form.identity.reader_id.as_str(), form.identity.site_code.as_str()), ("R-0042", "NAGOYA-U"));
    assert!(h.state().model().identity().is_none(), "no import or confirm before the key is there");
    h.state_mut().edit_identity(|form| form.site_key_text = "ldsk1-not-a-key".into());
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    let Phase::Identity(form) = h.state().model().phase() else { panic!("a malformed key is refused") };
    assert_eq!(form.problems, vec!["site_key"]);
    assert!(!format!("{:?}", h.state().model().phase()).contains("not-a-key"), "the typed key is not in Debug");
    h.get_by_label("New site key").click();
    h.run();
    let Phase::Identity(form) = h.state().model().phase() else { unreachable!() };
    let made = lungdesk_store::SiteKey::parse(&form.site_key_text).expect("a new key in the field");
    assert!(form.show_site_key, "a new key is shown, to hand to the site's other desks");
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    assert!(matches!(h.state().model().phase(), Phase::Ready), "{:?}", h.state().model().phase());
    assert_eq!(h.state().model().identity().and_then(|i| i.site_key.clone()), Some(made.clone()));
    let debug = format!("{:?}", h.state().model().identity());
    assert!(!debug.contains(&made.reveal()[6..]), "the key is not in Debug: {debug}");
}

/// Grades case 1 with a finding and a note and confirms it (revision 1); the desk is then on
/// case 2.
fn confirm_first_with_finding_and_note(h: &mut Harness<'static, Desk>) -> i64 {
    press(h, Key::J);
    settle(h);
    let first = h.state().model().current().map(|c| c.case_id).expect("open");
    press(h, Key::Num1);
    press(h, Key::P);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num1);
    h.step();
    press(h, Key::I);
    h.run_steps(2);
    h.event(Event::Text("bilateral peripheral GGO".into()));
    h.run_steps(2);
    press(h, Key::Escape);
    settle(h);
    press(h, Key::Enter);
    settle(h);
    first
}

/// The grade keys are pressed in the frame that opens the case, before its stored draft has
/// been read: the draft saved is the stored one with the new grade on top.
#[test]
fn grade_keys_before_the_case_details_arrive_are_merged_into_the_saved_draft() {
    let (dir, mut h) = three_cases_imported();
    let first = confirm_first_with_finding_and_note(&mut h);
    // Back to case 1 and grade 4, both keys in one frame (straight into its input:
    // `key_press` would run a frame per event): the frame's keys are applied in order before
    // the store thread's answers are read (at the start of the next pass), so the grade lands
    // before the case's details, whatever the machine's speed.
    h.input_mut().events.extend([press_release(Key::K), press_release(Key::Num4)].concat());
    h.step();
    settle(&mut h);
    let shown = h.state().model().current().map(|c| c.draft.clone()).expect("open");
    let s = Store::open(&dir.path().join("labels.sqlite")).expect("open");
    let saved = s.working_copy(first, "R-0042").expect("draft");
    assert_eq!(saved, shown, "the draft on screen is the one saved");
    assert_eq!(saved.grade, Some(Grade::Negative), "the new grade");
    assert_eq!(saved.pcr, Some(Pcr::Positive), "the stored PCR is kept");
    assert_eq!(saved.findings, vec![Finding::CrazyPaving], "the stored finding is kept");
    assert_eq!(saved.note, "bilateral peripheral GGO", "the stored note is kept");
}

/// `4` and Enter in the frame that reopens a confirmed case: the desk waits for the case to
/// load, then confirms revision 2 with the first revision's finding and note.
#[test]
fn grade_and_enter_at_once_on_a_reopened_confirmed_case_keep_its_findings_and_note() {
    let (dir, mut h) = three_cases_imported();
    let first = confirm_first_with_finding_and_note(&mut h);
    h.input_mut().events.extend([press_release(Key::K), press_release(Key::Num4), press_release(Key::Enter)].concat());
    h.step();
    settle(&mut h);
    let s = Store::open(&dir.path().join("labels.sqlite")).expect("open");
    let review = s.review(first, "R-0042").expect("read").expect("review");
    assert_eq!((review.grade, review.revision), (Grade::Negative, 2));
    assert_eq!(review.pcr, Pcr::Positive);
    assert_eq!(review.findings, vec![Finding::CrazyPaving]);
    assert_eq!(review.note, "bilateral peripheral GGO");
    assert_ne!(h.state().model().current().map(|c| c.case_id), Some(first), "the next case opened");
}

/// Enter confirms and the window closes in the same frame: `on_exit` lets the store thread
/// commit what was queued, so the review and its outbox entry are in the store after exit.
#[test]
fn a_confirm_queued_in_the_last_frame_is_committed_on_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    three_cases(&data);
    let store = dir.path().join("labels.sqlite");
    let mut h = Harness::builder().with_size(SIZE).with_context_setup(lungdesk::fonts::install).build_eframe(|cc| {
        let mut app = lungdesk::desk::DeskApp::new(cc, store.clone(), None);
        app.desk.viewer.analyse_on_load = false;
        app.desk.viewer.analysis_settings.cache_dir = None;
        app
    });
    let settle_app = |h: &mut Harness<'_, lungdesk::desk::DeskApp>| {
        let start = Instant::now();
        while !h.state().desk.is_idle() || matches!(h.state().desk.model().phase(), Phase::Opening) {
            assert!(start.elapsed() < Duration::from_mins(1), "did not settle");
            std::thread::sleep(Duration::from_millis(10));
            h.step();
        }
        h.step();
    };
    settle_app(&mut h);
    h.state_mut().desk.edit_identity(|form| form.identity = me());
    h.state_mut().desk.apply(Action::SaveIdentity);
    settle_app(&mut h);
    h.state_mut().desk.apply(Action::Import(data.clone()));
    settle_app(&mut h);
    h.key_press(Key::J);
    h.step();
    settle_app(&mut h);
    h.key_press(Key::Num2);
    h.key_press(Key::N);
    h.step();
    settle_app(&mut h);
    let case_id = h.state().desk.model().current().map(|c| c.case_id).expect("open");
    h.key_press(Key::Enter);
    h.step(); // the confirm is sent to the store thread in this frame …
    eframe::App::on_exit(h.state_mut()); // … and the window closes.
    let s = Store::open(&store).expect("open");
    let review = s.review(case_id, "R-0042").expect("read").expect("the review is committed");
    assert_eq!((review.grade, review.pcr, review.revision), (Grade::Indeterminate, Pcr::Negative, 1));
    assert_eq!(s.outbox_pending(10).expect("outbox").len(), 1, "its outbox entry is committed");
}

/// While the reader reads a case, the next one in the worklist is read and uploaded: Enter
/// shows it from that prefetch. Going back (K) to a case not prefetched is a cold read.
#[test]
fn the_next_case_is_prefetched_while_the_current_one_is_read() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    settle(&mut h);
    assert_eq!(h.state().last_switch().map(|s| s.1), Some(false), "the first case was not prefetched");
    press(&mut h, Key::Num1);
    press(&mut h, Key::P);
    settle(&mut h);
    press(&mut h, Key::Enter);
    settle(&mut h);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(h.state().model().rows()[1].case_id));
    assert_eq!(h.state().last_switch().map(|s| s.1), Some(true), "the second case came from the prefetch");
    assert!(h.state().viewer.volume.is_some());
    press(&mut h, Key::K);
    settle(&mut h);
    assert_eq!(h.state().last_switch().map(|s| s.1), Some(false), "the case before was not prefetched");
}

/// A click on a row's text (its status) opens that case: cell texts are not selectable, the
/// whole row is the target.
#[test]
fn a_click_on_the_text_of_a_worklist_row_opens_its_case() {
    let (_dir, mut h) = three_cases_imported();
    let second = h.state().model().rows()[1].case_id;
    let statuses: Vec<_> = h.query_all_by_label("New").collect();
    assert_eq!(statuses.len(), 3, "one status cell per case");
    statuses[1].click();
    h.step();
    settle(&mut h);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(second));
}

/// At 1280×720, a case whose files are gone shows a long error in the viewer: it wraps within
/// the viewer's width and never reaches the review panel, whose grading buttons stay in the
/// window.
#[test]
fn a_long_error_line_stays_beside_the_review_panel_at_1280_by_720() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    three_cases(&data);
    let store = dir.path().join("labels.sqlite");
    let mut desk = Desk::new(None, store.clone());
    desk.viewer.analysis_settings.cache_dir = None;
    desk.viewer.analyse_on_load = false;
    let mut h = Harness::builder()
        .with_size(Vec2::new(1280.0, 720.0))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    settle(&mut h);
    h.state_mut().edit_identity(|form| form.identity = me());
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    h.state_mut().apply(Action::Import(data.clone()));
    settle(&mut h);
    let first = h.state().model().rows()[0].case_id;
    let files = Store::open(&store).expect("open").case_series(first).expect("files").remove(0).1;
    std::fs::remove_dir_all(files[0].parent().expect("case folder")).expect("remove");
    press(&mut h, Key::J);
    settle(&mut h);
    h.run_steps(2);
    let error = h.get_by_label_contains("Could not open:").rect();
    let confirm = h.get_by_label("Confirm and next (Enter)").rect();
    assert!(error.max.x <= confirm.min.x, "the error line {error:?} reaches the review panel at {confirm:?}");
    assert!(confirm.max.x <= 1280.0 && confirm.max.y <= 720.0, "the confirm button is in the window: {confirm:?}");
}

/// A SYNTHETIC study with a sagittal reformat (most images), a coronal one and the axial
/// series, as a scanner's export holds them: the desk opens the axial one, the review panel's
/// switcher lists all three, and choosing the sagittal one shows it (and the AI reads it).
#[test]
fn a_study_with_three_planes_opens_its_axial_series_and_the_switcher_shows_the_others() {
    use lungdesk_volume::phantom::SliceOrientation;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    for (orientation, slices, name) in [
        (SliceOrientation::Sagittal, 48, "sag"),
        (SliceOrientation::Coronal, 40, "cor"),
        (SliceOrientation::Axial, 32, "ax"),
    ] {
        let spec = PhantomSpec { dims: [48, 48, slices], seed: 5, orientation, ..PhantomSpec::default() };
        write_phantom_series(&spec, &data.join(name)).expect("phantom");
    }
    let mut h = desk(&dir.path().join("labels.sqlite"));
    set_identity(&mut h);
    h.state_mut().viewer.analyse_on_load = false;
    h.state_mut().apply(Action::Import(data.clone()));
    settle(&mut h);
    let row = h.state().model().rows()[0].clone();
    assert_eq!((h.state().model().rows().len(), row.series, row.slices), (1, 3, 32), "one case of 3 series");
    assert_eq!(row.folder.as_deref(), Some(data.join("ax").to_string_lossy().as_ref()), "the axial series' folder");
    press(&mut h, Key::J);
    settle(&mut h);
    let case = h.state().model().current().expect("open").clone();
    let shown = case.shown_series.clone().expect("a series on screen");
    let plane = |uid: &str| case.series.iter().find(|s| s.series_uid == uid).map(|s| s.plane);
    assert_eq!(plane(&shown), Some(lungdesk_volume::Plane::Axial));
    assert_eq!(h.state().viewer.volume.as_ref().map(|v| v.series_uid.clone()), Some(shown.clone()));
    assert_eq!(case.series.len(), 3);
    // The switcher names the series by plane and images.
    h.get_by_label_contains("Axial · 32 images").click();
    h.run_steps(2);
    h.get_by_label_contains("Sagittal · 48 images").click();
    h.step();
    settle(&mut h);
    let sagittal = case.series.iter().find(|s| s.plane == lungdesk_volume::Plane::Sagittal).expect("sagittal");
    assert_eq!(h.state().model().current().and_then(|c| c.shown_series.clone()), Some(sagittal.series_uid.clone()));
    assert_eq!(h.state().viewer.volume.as_ref().map(|v| v.series_uid.clone()), Some(sagittal.series_uid.clone()));
}

/// Closing with a case in review and opening again: the same case, with its draft, and the
/// Sync column of a label still waiting (no service configured) says so from the start.
#[test]
fn a_restart_returns_to_the_case_in_review_with_its_draft_and_the_waiting_sync_state() {
    let (dir, mut h) = three_cases_imported();
    let store = dir.path().join("labels.sqlite");
    press(&mut h, Key::J);
    settle(&mut h);
    press(&mut h, Key::Num1);
    press(&mut h, Key::P);
    press(&mut h, Key::Enter);
    settle(&mut h);
    let (first, second) = (h.state().model().rows()[0].case_id, h.state().model().rows()[1].case_id);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(second));
    press(&mut h, Key::Num3);
    settle(&mut h);
    h.state_mut().shutdown();
    drop(h);
    let mut h = desk(&store);
    settle(&mut h);
    let case = h.state().model().current().expect("the case in review is open again");
    assert_eq!((case.case_id, case.draft.grade), (second, Some(Grade::Atypical)));
    assert!(
        matches!(h.state().model().sync_state(first), Some(lungdesk_store::SyncState::Pending { .. })),
        "{:?}",
        h.state().model().sync_states()
    );
    assert!(h.query_by_label_contains("Waiting to sync").is_none(), "the open case has no label yet");
}

/// A confirmed case reopened and changed says so before Enter, and Enter makes revision 2.
#[test]
fn editing_a_confirmed_case_shows_the_revision_being_edited() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    settle(&mut h);
    for key in [Key::Num1, Key::P, Key::Enter] {
        press(&mut h, key);
    }
    settle(&mut h);
    press(&mut h, Key::K);
    settle(&mut h);
    h.run_steps(2);
    assert!(h.query_by_label_contains("Editing confirmed revision").is_none(), "as confirmed");
    press(&mut h, Key::Num2);
    h.run_steps(2);
    h.get_by_label_contains("Editing confirmed revision 1: Enter saves revision 2.");
    press(&mut h, Key::Enter);
    settle(&mut h);
    assert_eq!(h.state().model().rows()[0].revision, Some(2));
}

/// Keys of one slow frame are applied in the order pressed, every one: "Enter 4" confirms
/// the case and grades the next; Alt+1 ticks "mass", Ctrl+1 crazy-paving, 1 grades.
#[test]
fn every_key_of_a_slow_frame_counts_in_the_order_pressed() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    settle(&mut h);
    let ids: Vec<i64> = h.state().model().rows().iter().map(|r| r.case_id).collect();
    // A press and its release: egui takes a second press of a key still down for a repeat.
    let key = |key, modifiers| {
        [true, false].map(|pressed| Event::Key { key, physical_key: None, pressed, repeat: false, modifiers })
    };
    // Straight into the next frame's input: `Harness::event` would run a frame per event.
    h.input_mut().events.extend(
        [
            key(Key::Num2, Modifiers::NONE),
            key(Key::N, Modifiers::NONE),
            key(Key::Num1, Modifiers::ALT),
            key(Key::Num1, Modifiers::COMMAND),
            key(Key::Enter, Modifiers::NONE),
            key(Key::Num4, Modifiers::NONE),
        ]
        .concat(),
    );
    h.step();
    settle(&mut h);
    let store = Store::open(h.state().model().store_path()).expect("store");
    let review = store.review(ids[0], "R-0042").expect("review").expect("confirmed");
    assert_eq!((review.grade, review.pcr), (Grade::Indeterminate, Pcr::Negative));
    assert_eq!(review.findings, vec![Finding::CrazyPaving, Finding::Mass]);
    let next = h.state().model().current().expect("next");
    assert_eq!((next.case_id, next.draft.grade), (ids[1], Some(Grade::Negative)), "4 graded the next case");
    // Two J in one frame step two cases; two K in one frame step back two.
    press(&mut h, Key::K);
    settle(&mut h);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(ids[0]));
    h.input_mut().events.extend(std::iter::repeat_n(key(Key::J, Modifiers::NONE), 2).flatten());
    h.step();
    settle(&mut h);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(ids[2]), "J J from the first: the third");
    h.input_mut().events.extend(std::iter::repeat_n(key(Key::K, Modifiers::NONE), 2).flatten());
    h.step();
    settle(&mut h);
    assert_eq!(h.state().model().current().map(|c| c.case_id), Some(ids[0]), "K K from the third: the first");
}

/// First start: Enter on the empty form says what is missing, field by field; a site code
/// with a space says that the space is the problem; nothing is saved until it is right.
#[test]
fn the_first_start_form_says_what_is_wrong_with_each_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = desk(&dir.path().join("labels.sqlite"));
    press(&mut h, Key::Enter);
    settle(&mut h);
    h.run_steps(2);
    assert!(matches!(h.state().model().phase(), Phase::Identity(_)), "nothing saved");
    let Phase::Identity(form) = h.state().model().phase() else { panic!() };
    assert_eq!(form.problems.len(), 5, "{form:?}");
    assert!(h.query_all_by_label("required").count() >= 4, "each empty field says so");
    h.get_by_label("Not saved: correct the fields marked in red.");
    h.state_mut().edit_identity(|form| {
        form.identity = Identity { site_code: "NAGOYA U".into(), postal_code: "46685".into(), ..me() }
    });
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    h.run_steps(2);
    h.get_by_label("a space is not allowed: letters A–Z, digits, - and _ only");
    h.get_by_label("7 digits, e.g. 466-8560 (this has 5)");
    assert!(matches!(h.state().model().phase(), Phase::Identity(_)));
}

/// A folder path typed in the top bar and refused keeps the keyboard: the letters typed next
/// correct the path instead of grading.
#[test]
fn enter_in_the_import_path_field_keeps_the_keyboard_until_the_path_is_accepted() {
    let (dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    settle(&mut h);
    // The top bar's first text field is the import path.
    h.query_all_by_role(egui::accesskit::Role::TextInput).next().expect("the path field").click();
    h.step();
    h.event(Event::Text("/no/such/folder".into()));
    h.step();
    press(&mut h, Key::Enter);
    settle(&mut h);
    h.run_steps(2);
    assert!(h.state().model().notice().is_some_and(|n| n.error), "{:?}", h.state().model().notice());
    h.event(Event::Text("1".into()));
    press(&mut h, Key::Num1);
    h.run_steps(2);
    assert_eq!(h.state().model().current().and_then(|c| c.draft.grade), None, "1 went into the field, not the grade");
    // A folder that exists: the import starts and the field lets go.
    h.state_mut().apply(Action::ImportEntry(dir.path().join("data").display().to_string()));
    h.run_steps(2);
    press(&mut h, Key::Enter);
    settle(&mut h);
    h.run_steps(2);
    press(&mut h, Key::Num1);
    h.run_steps(2);
    assert_eq!(h.state().model().current().and_then(|c| c.draft.grade), Some(Grade::Typical), "keys grade again");
}

/// F2 writes the status line again in the other language (and back).
#[test]
fn f2_renders_the_status_message_again_in_the_other_language() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::J);
    settle(&mut h);
    press(&mut h, Key::Enter);
    let refused = h.state().model().notice().expect("refused").text.clone();
    assert!(refused.starts_with("Set the grade"), "{refused}");
    press(&mut h, Key::F2);
    let ja = h.state().model().notice().expect("still there").text.clone();
    assert_eq!(
        ja,
        lungdesk::i18n::tr(Lang::Ja, "Set the grade (1–4) and the PCR status (P, N, W, X) before confirming.")
    );
    for key in [Key::Num1, Key::P, Key::Enter] {
        press(&mut h, key);
    }
    settle(&mut h);
    let saved = h.state().model().notice().expect("saved").text.clone();
    assert!(!saved.starts_with("Saved"), "in Japanese: {saved}");
    press(&mut h, Key::F2);
    assert!(h.state().model().notice().expect("saved").text.starts_with("Saved: case"), "back in English");
}

/// At 1280×720 the top bar is one line in both languages: its first and last controls share
/// a row, and the worklist and review panels keep their width beside the viewer.
#[test]
fn the_top_bar_is_one_line_at_1280_px_in_english_and_japanese() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    three_cases(&data);
    let mut desk = Desk::new(None, dir.path().join("labels.sqlite"));
    desk.viewer.analyse_on_load = false;
    let mut h = Harness::builder()
        .with_size(Vec2::new(1280.0, 720.0))
        .with_context_setup(lungdesk::fonts::install)
        .build_ui_state(|ui, desk: &mut Desk| desk.ui(ui), desk);
    settle(&mut h);
    h.state_mut().edit_identity(|form| form.identity = me());
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    h.state_mut().apply(Action::Import(data));
    settle(&mut h);
    press(&mut h, Key::J);
    settle(&mut h);
    for (first, last) in [("Review (F3)", "Keys (F1)"), ("読影 (F3)", "キー (F1)")] {
        if first.starts_with('読') {
            press(&mut h, Key::F2);
            h.run_steps(2);
        }
        let (a, b) = (h.get_by_label(first).rect(), h.get_by_label(last).rect());
        assert!((a.center().y - b.center().y).abs() < 2.0, "{first} at {a:?}, {last} at {b:?}: the bar wrapped");
        assert!(b.right() <= 1280.0, "{last} inside the window: {b:?}");
        let confirm =
            h.get_by_label_contains(if first.starts_with('R') { "Confirm and next" } else { "確定して次へ" }).rect();
        assert!(
            confirm.left() >= 1280.0 - 330.0 && confirm.right() <= 1280.0,
            "the review panel keeps its place: {confirm:?}"
        );
    }
}

/// The background pre-read (issue #17) on three SYNTHETIC phantoms: started while the reader
/// works (here: a key pressed, and the idle time set to an hour), it reads nothing and says it
/// is paused; the desk closed and started again (the case it had open reopened), it reads every
/// case once the reader is idle, the worklist showing each AI result at once; a third start
/// finds nothing left to read.
#[test]
fn the_background_preread_waits_while_the_reader_works_and_resumes_after_a_restart() {
    let (dir, mut h) = three_cases_imported();
    let store = dir.path().join("labels.sqlite");
    h.state_mut().preread_idle_after = Duration::from_hours(1);
    press(&mut h, Key::J);
    settle(&mut h);
    h.state_mut().start_preread();
    let wait_left = |h: &mut Harness<'static, Desk>| {
        let started = Instant::now();
        while h.state().model().preread().left.is_none() {
            assert!(started.elapsed() < Duration::from_mins(1), "the pre-read never reported");
            h.step();
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_left(&mut h);
    assert_eq!(h.state().model().preread().left, Some(3));
    // Two seconds of the reader "working": nothing read (a read takes well under that here).
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(h.state().model().preread().read, 0, "{:?}", h.state().model().preread());
    h.get_by_label("AI pre-read: 3 left (paused while you work)");
    h.get_by_label("AI read 0 of 3");
    drop(h);
    let s = Store::open(&store).expect("open");
    let rows = s.worklist("R-0042").expect("worklist");
    assert!(rows.iter().all(|r| s.ai_result(r.case_id).expect("read").is_none()), "nothing read while paused");
    drop(s);

    // Started again, the reader idle: every case read.
    let mut h = desk(&store);
    h.state_mut().preread_idle_after = Duration::ZERO;
    h.state_mut().start_preread();
    let started = Instant::now();
    while h.state().model().preread().left != Some(0) || h.state().model().preread().read == 0 {
        assert!(started.elapsed() < Duration::from_mins(3), "pre-read: {:?}", h.state().model().preread());
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let p = h.state().model().preread().clone();
    assert_eq!((p.failed, p.stopped.as_deref()), (0, None), "{p:?}");
    for r in h.state().model().rows() {
        assert_eq!(r.status, CaseStatus::AiDone, "{r:?}");
        assert!(r.ai_grade.is_some() || r.ai_cannot_grade.is_some(), "the worklist shows the read: {r:?}");
    }
    drop(h);
    let s = Store::open(&store).expect("open");
    for r in s.worklist("R-0042").expect("worklist") {
        assert!(s.ai_result(r.case_id).expect("read").is_some(), "stored: case {}", r.case_id);
    }
    drop(s);

    // A third start: nothing left, nothing read again.
    let mut h = desk(&store);
    h.state_mut().preread_idle_after = Duration::ZERO;
    h.state_mut().start_preread();
    wait_left(&mut h);
    h.step();
    assert_eq!((h.state().model().preread().left, h.state().model().preread().read), (Some(0), 0));
}

/// The background pre-read (issue #17) on three SYNTHETIC phantoms while another program holds
/// the store's write lock past its busy timeout: the pre-read does not stop for the session;
/// it says it is waiting for the store (model and top bar), and once the lock is gone it reads
/// and stores every case, none failed, each once.
#[test]
fn the_background_preread_waits_out_a_locked_store_and_then_reads_every_case() {
    let (dir, mut h) = three_cases_imported();
    let store = dir.path().join("labels.sqlite");
    let other = rusqlite::Connection::open(&store).expect("open the store from outside");
    other.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    h.state_mut().preread_idle_after = Duration::ZERO;
    h.state_mut().start_preread();
    let started = Instant::now();
    while h.state().model().preread().retrying.is_none() {
        assert!(started.elapsed() < Duration::from_mins(2), "no retry reported: {:?}", h.state().model().preread());
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
    let p = h.state().model().preread().clone();
    assert_eq!((p.stopped.as_deref(), p.read), (None, 0), "{p:?}");
    let (why, _) = p.retrying.clone().expect("retrying");
    assert!(why.contains("locked") || why.contains("busy"), "says why: {why}");
    let line = lungdesk::desk::panels::top_bar::preread_line(Lang::En, h.state().model()).expect("a line");
    assert!(line.starts_with("AI pre-read waiting for the local store ("), "{line}");
    h.get_by_label(&line);
    other.execute_batch("ROLLBACK").expect("let the lock go");
    drop(other);
    let started = Instant::now();
    while h.state().model().preread().left != Some(0) || h.state().model().preread().read < 3 {
        assert!(started.elapsed() < Duration::from_mins(4), "pre-read: {:?}", h.state().model().preread());
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let p = h.state().model().preread().clone();
    assert_eq!((p.read, p.failed, p.stopped.as_deref(), p.retrying.as_ref()), (3, 0, None, None), "{p:?}");
    drop(h);
    let s = Store::open(&store).expect("open");
    let db = rusqlite::Connection::open(&store).expect("open");
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect("count") };
    assert_eq!(count("SELECT COUNT(*) FROM ai_results"), 3, "each case stored once");
    assert_eq!(count("SELECT COUNT(*) FROM ai_read_outbox"), 3, "each read queued for sync once");
    for r in s.worklist("R-0042").expect("worklist") {
        assert!(s.ai_result(r.case_id).expect("read").is_some(), "stored: case {}", r.case_id);
    }
}

/// `lungdesk desk --import DIR` on a first start: the folder waits for the identity, then is
/// imported without being asked for again.
#[test]
fn a_folder_given_at_start_is_imported_once_the_identity_is_entered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    three_cases(&data);
    let mut h = desk(&dir.path().join("labels.sqlite"));
    assert!(matches!(h.state().model().phase(), Phase::Identity(_)));
    h.state_mut().import_when_ready(data);
    settle(&mut h);
    assert!(h.state().model().rows().is_empty(), "nothing imported before the identity");
    h.state_mut().edit_identity(|form| form.identity = me());
    h.state_mut().apply(Action::SaveIdentity);
    settle(&mut h);
    settle(&mut h);
    assert_eq!(h.state().model().rows().len(), 3);
}
