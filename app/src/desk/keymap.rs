//! The desk's keys: one table, read by key handling and by the shortcut sheet (F1).

use egui::{Key, Modifiers};
use lungdesk_store::{Finding, Grade, Pcr};

use super::action::Action;
use super::model::Tab;

/// One key and what it does; `sheet` is the shortcut sheet's row it belongs to.
#[derive(Debug, Clone)]
pub struct Binding {
    pub modifiers: Modifiers,
    pub key: Key,
    pub action: Action,
    /// Also while a text field has the keyboard (F1, F2, Esc).
    pub in_text: bool,
    pub sheet: SheetRow,
}

/// A row of the shortcut sheet: the keys as written, and what they do (English, translated).
pub type SheetRow = (&'static str, &'static str);

const GRADES: SheetRow = ("1 2 3 4", "Grade: typical, indeterminate, atypical, negative for pneumonia");
const PCR: SheetRow = ("P N W X", "PCR: positive, negative, pending, not tested");
const FINDINGS: SheetRow = ("Ctrl+1 … Ctrl+7", "Toggle a finding (in the order listed)");
const ALTERNATIVE: SheetRow =
    ("Alt+1 … Alt+4", "Toggle a finding of another diagnosis: mass, emphysema, fibrosis, pulmonary oedema");
const STEP: SheetRow = ("J / K", "Next / previous case without confirming");
const FILTERS: SheetRow = ("F5 / F6", "Cycle the status filter / the sort order");
const TABS: SheetRow = ("F3 / F4", "Review / disagreements");
const SHEET: SheetRow = ("F1 / ?", "This sheet");
const IMPORT: SheetRow = ("Ctrl+I", "Import a folder");

/// Every desk key.
pub fn desk() -> Vec<Binding> {
    let none = Modifiers::NONE;
    let bind = |modifiers, key, action, sheet| Binding { modifiers, key, action, in_text: false, sheet };
    let mut keys = Vec::new();
    let digits = [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7];
    // Ctrl+digit and the plain digit are told apart by their modifiers (egui matches Ctrl
    // exactly), so the order here is the sheet's.
    for (key, grade) in digits.into_iter().zip(Grade::ALL) {
        keys.push(bind(none, key, Action::Grade(grade), GRADES));
    }
    for (key, pcr) in
        [(Key::P, Pcr::Positive), (Key::N, Pcr::Negative), (Key::W, Pcr::Pending), (Key::X, Pcr::NotTested)]
    {
        keys.push(bind(none, key, Action::Pcr(pcr), PCR));
    }
    for (key, finding) in digits.into_iter().zip(Finding::PNEUMONIA) {
        keys.push(bind(Modifiers::COMMAND, key, Action::ToggleFinding(finding), FINDINGS));
    }
    for (key, finding) in digits.into_iter().zip(Finding::ALTERNATIVE) {
        keys.push(bind(Modifiers::ALT, key, Action::ToggleFinding(finding), ALTERNATIVE));
    }
    keys.extend([
        bind(none, Key::I, Action::FocusNote, ("I", "Write in the note (Esc leaves it)")),
        bind(none, Key::Enter, Action::Confirm, ("Enter", "Confirm and open the next case")),
        bind(none, Key::J, Action::Step(1), STEP),
        bind(none, Key::K, Action::Step(-1), STEP),
        bind(Modifiers::COMMAND, Key::F, Action::FocusSearch, ("Ctrl+F", "Search the worklist")),
        bind(none, Key::F5, Action::CycleStatusFilter, FILTERS),
        bind(none, Key::F6, Action::CycleSort, FILTERS),
        bind(none, Key::F3, Action::ShowTab(Tab::Review), TABS),
        bind(none, Key::F4, Action::ShowTab(Tab::Disagreements), TABS),
        bind(
            none,
            Key::F7,
            Action::ShowTab(Tab::Surveillance),
            ("F7", "Surveillance: counts from the dataset service (again: refresh)"),
        ),
        bind(Modifiers::COMMAND, Key::I, Action::AskImportFolder, IMPORT),
        bind(Modifiers::COMMAND, Key::O, Action::AskImportFolder, IMPORT),
        bind(Modifiers::COMMAND, Key::E, Action::Export, ("Ctrl+E", "Export labels (CSV and JSON)")),
        Binding { in_text: true, ..bind(none, Key::F2, Action::ToggleLang, ("F2", "English / Japanese")) },
        Binding { in_text: true, ..bind(none, Key::F1, Action::ToggleShortcuts, SHEET) },
        bind(none, Key::Questionmark, Action::ToggleShortcuts, SHEET),
        bind(Modifiers::SHIFT, Key::Slash, Action::ToggleShortcuts, SHEET),
        Binding {
            in_text: true,
            ..bind(none, Key::Escape, Action::CloseShortcuts, ("Esc", "Close this sheet, leave a text field"))
        },
    ]);
    keys
}

/// The viewer's keys, for the sheet (the viewer handles them).
pub const VIEWER_SHEET: &[SheetRow] = &[
    ("↑ ↓  PgUp PgDn", "Previous / next slice in the view under the pointer (or the mouse wheel)"),
    ("L M B", "Window: lung, mediastinum, bone"),
    ("O / U", "Overlay on or off / outline"),
    ("S", "Slab: thin, MIP, MinIP"),
    ("F", "Maximise the view under the pointer"),
    ("A", "Run the AI pre-read again"),
];

/// The sheet's rows: the desk's, in the table's order without repeats, then the viewer's;
/// Esc last.
pub fn sheet() -> Vec<SheetRow> {
    let mut rows: Vec<SheetRow> = Vec::new();
    for b in desk() {
        if !rows.contains(&b.sheet) {
            rows.push(b.sheet);
        }
    }
    let esc = rows.iter().position(|r| r.0 == "Esc").map(|i| rows.remove(i));
    rows.extend_from_slice(VIEWER_SHEET);
    rows.extend(esc);
    rows
}

/// The actions of this frame's keys, in the order they were pressed: every press counts
/// (three J in one slow frame step three cases; "Enter 4" confirms before grading the next
/// case), and a key with modifiers matches its own binding (Ctrl+1 is a finding, not a grade).
/// A held key repeats only the case steps (J, K): a held Enter confirms once. A text field
/// with the keyboard (the note, a search, IME composition) gets every key but F1, F2 and Esc.
pub fn actions(ctx: &egui::Context) -> Vec<Action> {
    let typing = ctx.egui_wants_keyboard_input();
    let table = desk();
    let mut out = Vec::new();
    ctx.input_mut(|i| {
        i.events.retain(|event| {
            let egui::Event::Key { key, modifiers, pressed: true, repeat, .. } = event else { return true };
            let hit = table
                .iter()
                .filter(|b| b.key == *key && (!typing || b.in_text) && modifiers.matches_logically(b.modifiers))
                .max_by_key(|b| {
                    [b.modifiers.ctrl, b.modifiers.command, b.modifiers.shift, b.modifiers.alt]
                        .into_iter()
                        .filter(|&m| m)
                        .count()
                });
            match hit {
                Some(b) if !*repeat || matches!(b.action, Action::Step(_)) => {
                    out.push(b.action.clone());
                    false
                }
                Some(_) => false,
                None => true,
            }
        });
    });
    if out.contains(&Action::CloseShortcuts) {
        ctx.memory_mut(|m| {
            if let Some(id) = m.focused() {
                m.surrender_focus(id);
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The actions of consecutive frames, each with its events.
    fn frames_actions(frames: Vec<Vec<egui::Event>>) -> Vec<Action> {
        let ctx = egui::Context::default();
        let mut out = Vec::new();
        for events in frames {
            let mut output =
                ctx.run_ui(egui::RawInput { events, ..egui::RawInput::default() }, |ui| out.extend(actions(ui.ctx())));
            output.textures_delta.clear();
        }
        out
    }

    fn frame_actions(events: Vec<egui::Event>) -> Vec<Action> {
        frames_actions(vec![events])
    }

    /// A press and its release (egui takes a second press of a key still down for a repeat).
    fn key(key: Key, modifiers: Modifiers) -> [egui::Event; 2] {
        [true, false].map(|pressed| egui::Event::Key { key, physical_key: None, pressed, repeat: false, modifiers })
    }

    #[test]
    fn one_frame_s_keys_act_in_the_order_pressed_with_their_own_modifiers() {
        let actions = frame_actions(
            [
                key(Key::Enter, Modifiers::NONE),
                key(Key::Num4, Modifiers::NONE),
                key(Key::Num1, Modifiers::COMMAND),
                key(Key::Num1, Modifiers::ALT),
                key(Key::J, Modifiers::NONE),
                key(Key::J, Modifiers::NONE),
            ]
            .concat(),
        );
        assert_eq!(
            actions,
            [
                Action::Confirm,
                Action::Grade(Grade::Negative),
                Action::ToggleFinding(Finding::CrazyPaving),
                Action::ToggleFinding(Finding::Mass),
                Action::Step(1),
                Action::Step(1),
            ]
        );
    }

    #[test]
    fn a_held_enter_confirms_once_and_a_held_j_keeps_stepping() {
        // Held: pressed in one frame, and the system's repeats (a press while still down, which
        // egui marks as a repeat) in the next.
        let down = |k| egui::Event::Key {
            key: k,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: Modifiers::NONE,
        };
        let actions = frames_actions(vec![
            vec![down(Key::Enter)],
            vec![down(Key::Enter), down(Key::Enter)],
            vec![down(Key::J)],
            vec![down(Key::J), down(Key::J)],
        ]);
        assert_eq!(actions, [Action::Confirm, Action::Step(1), Action::Step(1), Action::Step(1)]);
    }
}
