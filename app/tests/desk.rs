//! The review desk end to end with egui_kittest: identity, import, keyboard-only grading,
//! restart, history; IME-safe notes; bad input. The cases are SYNTHETIC phantoms (no real
//! lesion or grade behind them); the shared-data tests say so when `../shared/data` is missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Event, ImeEvent, Key, Modifiers, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use lungdesk::desk::{Desk, Phase};
use lungdesk::i18n::Lang;
use lungdesk_store::{CaseStatus, Finding, Grade, Identity, Pcr, Store};
use lungdesk_volume::phantom::{PhantomSpec, write_phantom_series};

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
        if h.state().is_idle() && !matches!(h.state().phase, Phase::Opening) {
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
    let Phase::Identity(form) = &mut h.state_mut().phase else { panic!("first start asks for the identity") };
    form.identity = Identity { postal_code: "46".into(), ..me() };
    h.state_mut().save_identity();
    settle(h);
    let Phase::Identity(form) = &h.state().phase else { panic!("a bad postal code is refused") };
    assert_eq!(form.problems, vec!["postal_code"]);
    let Phase::Identity(form) = &mut h.state_mut().phase else { unreachable!() };
    form.identity = me();
    h.state_mut().save_identity();
    settle(h);
    assert!(matches!(h.state().phase, Phase::Ready), "{:?}", h.state().phase);
    assert_eq!(h.state().identity.as_ref().map(|i| i.postal_code.as_str()), Some("466-8560"));
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
    h.state_mut().import(&data);
    settle(&mut h);
    (dir, h)
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
        h.state_mut().import(&data);
        settle(&mut h);
        assert_eq!(h.state().rows.len(), 3, "{:?}", h.state().notice);
        assert!(h.state().rows.iter().all(|r| r.status == CaseStatus::New && r.exam_date.is_some()));
        // Importing the same folder again adds nothing.
        h.state_mut().import(&data);
        settle(&mut h);
        assert_eq!(h.state().last_import.as_ref().map(|r| (r.new_cases, r.already_imported)), Some((0, 3)));

        // Keyboard only from here: J opens the first case; grade, PCR, Enter confirms and
        // opens the next.
        press(&mut h, Key::J);
        settle(&mut h);
        let first = h.state().current.as_ref().map(|c| c.case_id);
        assert_eq!(first, Some(h.state().rows[0].case_id));
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
            assert_eq!(h.state().current_row().map(|r| r.status), Some(CaseStatus::InReview), "a draft is kept");
            press(&mut h, Key::Enter);
            settle(&mut h);
        }
        let grades: Vec<_> = h.state().rows.iter().map(|r| (r.status, r.grade, r.pcr)).collect();
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
            h.state().rows.iter().all(|r| r.ai_grade.is_some() || r.ai_cannot_grade.is_some()),
            "the AI pre-read of each opened case is stored"
        );
    }
    // Restart: a new desk on the same store.
    let mut h = desk(&store);
    assert!(matches!(h.state().phase, Phase::Ready), "the identity is remembered");
    let grades: Vec<_> = h.state().rows.iter().map(|r| (r.status, r.grade.map(Grade::number), r.revision)).collect();
    assert_eq!(
        grades,
        vec![
            (CaseStatus::Confirmed, Some(3), Some(1)),
            (CaseStatus::Confirmed, Some(1), Some(1)),
            (CaseStatus::Confirmed, Some(2), Some(1))
        ]
    );
    press(&mut h, Key::J);
    settle(&mut h);
    let case = h.state().current.clone().expect("a case is open");
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
    let case = h.state().current.clone().expect("case");
    assert!(case.draft.note.contains("すりガラス影"), "note: {:?}", case.draft.note);
    assert!(case.draft.note.ends_with("1p"), "digits and letters go into the note: {:?}", case.draft.note);
    assert_eq!(case.draft.grade, Some(Grade::Indeterminate), "typing in the note does not grade");
    assert_eq!(case.draft.pcr, None, "typing P in the note does not set PCR");
    assert_eq!(h.state().rows[0].status, CaseStatus::InReview, "nothing confirmed while typing");
    // Esc leaves the note; then keys act again.
    press(&mut h, Key::Escape);
    press(&mut h, Key::P);
    settle(&mut h);
    assert_eq!(h.state().current.as_ref().and_then(|c| c.draft.pcr), Some(Pcr::Positive));
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
    let notice = h.state().notice.clone().expect("a message");
    assert!(notice.error && notice.text.contains("PCR"), "{notice:?}");
    assert_eq!(h.state().current.as_ref().map(|c| c.case_id), Some(h.state().rows[0].case_id), "still on the case");
    assert!(h.state().rows.iter().all(|r| r.grade.is_none()));
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
    h.state_mut().import(&missing);
    settle(&mut h);
    let notice = h.state().notice.clone().expect("message");
    assert!(notice.error && notice.text.contains("no such folder"), "{notice:?}");
    assert_eq!(h.state().rows.len(), 3);

    // A case whose files vanished after import: a clear message, its label kept, and it can
    // still be graded.
    let first = h.state().rows[0].case_id;
    let files = Store::open(&store).expect("open").case_series(first).expect("files").remove(0).1;
    std::fs::remove_dir_all(files[0].parent().expect("case folder")).expect("remove");
    press(&mut h, Key::K); // back to the first case
    settle(&mut h);
    assert_eq!(h.state().current.as_ref().map(|c| c.case_id), Some(first));
    let error = h.state().viewer.error.clone().expect("an error for the missing files");
    assert!(error.contains("24 of 24 files of this case are gone") && error.contains("labels are kept"), "{error}");
    assert_eq!(h.state().rows[0].grade, Some(Grade::Typical), "its label is kept");
    assert_eq!(h.state().current.as_ref().and_then(|c| c.draft.grade), Some(Grade::Typical));

    // Japanese messages too.
    h.state_mut().set_lang(Lang::Ja);
    press(&mut h, Key::J);
    press(&mut h, Key::K);
    settle(&mut h);
    let error = h.state().viewer.error.clone().expect("an error for the missing files");
    assert!(error.contains("ファイル 24 個中 24 個が見つかりません"), "{error}");
    assert_eq!(Store::open(&store).expect("open").all_reviews().expect("reviews").len(), 1);
}

fn shared(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("LUNGDESK_REQUIRE_DATA").is_none(), "missing real data: {}", dir.display());
    eprintln!("SKIPPED: real data missing at {} (see ../shared/data/README.md)", dir.display());
    None
}

#[test]
fn non_ct_series_in_a_real_folder_are_skipped_with_their_modality() {
    let Some(folder) = shared("dicom/transfer-syntaxes") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = desk(&dir.path().join("labels.sqlite"));
    set_identity(&mut h);
    h.state_mut().import(&folder);
    settle(&mut h);
    let report = h.state().last_import.clone().expect("report");
    let modalities: Vec<&str> = report.not_ct.iter().map(|(m, _)| m.as_str()).collect();
    assert!(modalities.contains(&"US") && modalities.contains(&"OT"), "{modalities:?}");
    let notice = h.state().notice.clone().expect("message");
    assert!(notice.text.contains("that are not CT (OT, US)"), "{notice:?}");
    assert!(h.state().rows.len() >= 2, "the CT series are imported as cases");
}

/// The whole shared data folder, as a new user would import it: every CT case can be labelled
/// with the keyboard. Cases that cannot be shown say why and are still gradeable.
#[test]
fn the_shared_data_folder_imports_and_every_case_is_labelled_with_the_keyboard() {
    let Some(folder) = shared("") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("labels.sqlite");
    let mut h = desk(&store);
    set_identity(&mut h);
    h.state_mut().viewer.analyse_on_load = false;
    h.state_mut().import(&folder);
    settle(&mut h);
    let n = h.state().rows.len();
    assert!(n >= 4, "RICORD, Lung-PET-CT-Dx, lungmask and more: {n} case(s)");
    press(&mut h, Key::J);
    for i in 0..n {
        settle(&mut h);
        press(&mut h, [Key::Num1, Key::Num2, Key::Num3, Key::Num4][i % 4]);
        press(&mut h, [Key::P, Key::N, Key::W, Key::X][i % 4]);
        press(&mut h, Key::Enter);
    }
    settle(&mut h);
    assert!(h.state().rows.iter().all(|r| r.status == CaseStatus::Confirmed), "{:?}", h.state().rows);
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
        assert!(matches!(h.state().phase, Phase::Identity(_)));
        let key = lungdesk_store::SiteKey::from_bytes([7; 32]).reveal();
        for (i, text) in ["R-0042", "山田 花子", "NAGOYA-U", "４６６－８５６０", key.as_str()].into_iter().enumerate()
        {
            press(&mut h, Key::Tab);
            h.event(Event::Text(text.into()));
            h.step();
            if i == 4 {
                press(&mut h, Key::Enter);
            }
        }
        settle(&mut h);
        assert!(matches!(h.state().phase, Phase::Ready), "{:?}", h.state().phase);
    }
    let h = desk(&store);
    let identity = h.state().identity.clone().expect("remembered");
    assert_eq!(identity, Identity { postal_code: "466-8560".into(), ..me() });
}

/// The same keyboard labelling with the UI in Japanese (F2 switches at run time).
#[test]
fn every_case_is_labelled_with_the_keyboard_in_japanese() {
    let (_dir, mut h) = three_cases_imported();
    press(&mut h, Key::F2);
    assert_eq!(h.state().lang, Lang::Ja);
    press(&mut h, Key::J);
    for key in [Key::Num4, Key::Num2, Key::Num1] {
        settle(&mut h);
        press(&mut h, key);
        press(&mut h, Key::X);
        press(&mut h, Key::Enter);
    }
    settle(&mut h);
    let grades: Vec<_> = h.state().rows.iter().map(|r| (r.status, r.grade.map(Grade::number), r.pcr)).collect();
    assert_eq!(
        grades,
        vec![
            (CaseStatus::Confirmed, Some(4), Some(Pcr::NotTested)),
            (CaseStatus::Confirmed, Some(2), Some(Pcr::NotTested)),
            (CaseStatus::Confirmed, Some(1), Some(Pcr::NotTested)),
        ]
    );
    let notice = h.state().notice.clone().expect("message");
    assert!(notice.text.starts_with("保存しました") && notice.text.ends_with("一覧の最後の症例でした。"), "{notice:?}");
}

/// Ctrl+E writes every confirmed label as CSV and JSON into the export folder.
#[test]
fn ctrl_e_exports_the_confirmed_labels() {
    let (dir, mut h) = three_cases_imported();
    let out = dir.path().join("exports");
    h.state_mut().export_dir.clone_from(&out);
    press(&mut h, Key::J);
    for key in [Key::Num1, Key::P, Key::Enter] {
        press(&mut h, key);
    }
    settle(&mut h);
    h.key_press_modifiers(Modifiers::COMMAND, Key::E);
    h.step();
    settle(&mut h);
    let notice = h.state().notice.clone().expect("message");
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
    let (Some(syntaxes), Some(two)) = (shared("dicom/transfer-syntaxes"), shared("dicom/lungmask-slices")) else {
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
    h.state_mut().import(&data);
    settle(&mut h);
    let n = h.state().rows.len();
    assert_eq!(n, 4, "{:?}", h.state().rows);
    // Open each case with the keyboard; the AI pre-reads it on opening.
    press(&mut h, Key::J);
    for _ in 1..n {
        settle(&mut h);
        press(&mut h, Key::J);
    }
    settle(&mut h);
    let mut codes: Vec<String> = h.state().rows.iter().filter_map(|r| r.ai_cannot_grade.clone()).collect();
    codes.sort();
    assert_eq!(codes, ["not_chest_ct", "single_slice", "single_slice", "too_few_slices"], "{:?}", h.state().rows);
    assert!(h.state().rows.iter().all(|r| r.ai_grade.is_none() && r.status == CaseStatus::AiDone));
    // The worklist shows "—" and the reason, in both languages.
    for text in ["— a single slice cannot be graded", "— too few slices to grade", "— not a chest CT"] {
        h.query_all_by_label(text).next().unwrap_or_else(|| panic!("worklist shows {text:?}"));
    }
    h.state_mut().set_lang(Lang::Ja);
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
    let Phase::Identity(form) = &mut h.state_mut().phase else { panic!("the key is asked for: {:?}", h.state().phase) };
    assert_eq!((form.identity.reader_id.as_str(), form.identity.site_code.as_str()), ("R-0042", "NAGOYA-U"));
    assert!(h.state().identity.is_none(), "no import or confirm before the key is there");
    let Phase::Identity(form) = &mut h.state_mut().phase else { unreachable!() };
    form.site_key_text = "ldsk1-not-a-key".into();
    h.state_mut().save_identity();
    settle(&mut h);
    let Phase::Identity(form) = &h.state().phase else { panic!("a malformed key is refused") };
    assert_eq!(form.problems, vec!["site_key"]);
    assert!(!format!("{:?}", h.state().phase).contains("not-a-key"), "the typed key is not in Debug");
    h.get_by_label("New site key").click();
    h.run();
    let Phase::Identity(form) = &h.state().phase else { unreachable!() };
    let made = lungdesk_store::SiteKey::parse(&form.site_key_text).expect("a new key in the field");
    assert!(form.show_site_key, "a new key is shown, to hand to the site's other desks");
    h.state_mut().save_identity();
    settle(&mut h);
    assert!(matches!(h.state().phase, Phase::Ready), "{:?}", h.state().phase);
    assert_eq!(h.state().identity.as_ref().and_then(|i| i.site_key.clone()), Some(made.clone()));
    let debug = format!("{:?}", h.state().identity);
    assert!(!debug.contains(&made.reveal()[6..]), "the key is not in Debug: {debug}");
}
