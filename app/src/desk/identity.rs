//! The identity form of the first start (and of a store made before site keys, which asks for
//! its key once): its state and its panel.

use egui::Key;
use lungdesk_store::Identity;

use super::action::Action;
use crate::i18n::{Lang, tr, trf};
use crate::theme;

/// The form's state.
#[derive(Clone, Default, PartialEq)]
pub struct IdentityForm {
    pub identity: Identity,
    /// The site key as typed or pasted (`ldsk1-…`); read into `identity.site_key` on save.
    pub site_key_text: String,
    /// Whether the site key field shows its text (after "New site key", to hand it out).
    pub show_site_key: bool,
    pub problems: Vec<&'static str>,
    pub error: Option<String>,
    pub saving: bool,
}

/// Never the site key: only whether one was typed.
impl std::fmt::Debug for IdentityForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityForm")
            .field("identity", &self.identity)
            .field("site_key_typed", &!self.site_key_text.is_empty())
            .field("problems", &self.problems)
            .field("error", &self.error)
            .field("saving", &self.saving)
            .finish_non_exhaustive()
    }
}

impl IdentityForm {
    /// Reads the typed site key into the identity (an empty field keeps the one it has), then
    /// lists what is wrong.
    pub fn check(&mut self) {
        let typed = self.site_key_text.trim();
        let mut bad_key = false;
        if !typed.is_empty() {
            match lungdesk_store::SiteKey::parse(typed) {
                Ok(key) => self.identity.site_key = Some(key),
                Err(_) => bad_key = true,
            }
        }
        self.problems = self.identity.problems();
        if bad_key && !self.problems.contains(&"site_key") {
            self.problems.push("site_key");
        }
    }
}

/// The form: reader, site, site key, language. Edits come back as [`Action::EditIdentity`].
pub fn show(ui: &mut egui::Ui, form: &IdentityForm, lang: Lang) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut edited = form.clone();
    ui.vertical_centered(|ui| {
        ui.add_space(40.0);
        ui.heading(tr(lang, "Welcome to LungDesk"));
        ui.label(tr(
            lang,
            "Who is reading? This is kept in the label store's settings and goes with every label you confirm.",
        ));
        ui.add_space(12.0);
    });
    egui::Grid::new("identity").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
        for (field, label, hint) in [
            ("reader_id", "Reader id", "specialist number, e.g. R-0042"),
            ("display_name", "Display name", "e.g. 山田 花子"),
            ("site_code", "Site code", "letters, digits, - and _"),
            ("postal_code", "Facility postal code", "7 digits, e.g. 466-8560"),
        ] {
            ui.label(tr(lang, label));
            let value = match field {
                "reader_id" => &mut edited.identity.reader_id,
                "display_name" => &mut edited.identity.display_name,
                "site_code" => &mut edited.identity.site_code,
                _ => &mut edited.identity.postal_code,
            };
            let response = ui.add(egui::TextEdit::singleline(value).hint_text(tr(lang, hint)).desired_width(280.0));
            if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                actions.push(Action::SaveIdentity);
            }
            // First start: the first field has the keyboard, so typing starts at once (and
            // gets it back after an Enter on the empty form).
            if field == "reader_id" && ui.memory(|m| m.focused().is_none()) && form.identity == Identity::default() {
                response.request_focus();
            }
            if form.problems.contains(&field) {
                ui.colored_label(theme::ERROR, field_problem(field, &form.identity, lang));
            }
            ui.end_row();
        }
        ui.label(tr(lang, "Site key"));
        if site_key_row(ui, &mut edited, lang) {
            actions.push(Action::SaveIdentity);
        }
        ui.end_row();
        ui.label(tr(lang, "Language"));
        ui.horizontal(|ui| {
            for l in [Lang::En, Lang::Ja] {
                if ui.selectable_label(lang == l, l.name()).clicked() {
                    actions.push(Action::Lang(l));
                }
            }
        });
        ui.end_row();
    });
    if let Some(e) = &form.error {
        ui.colored_label(theme::ERROR, e);
    }
    if ui.button(tr(lang, "Save and start (Enter)")).clicked()
        || (ui.memory(|m| m.focused().is_none()) && ui.input(|i| i.key_pressed(Key::Enter)))
    {
        actions.push(Action::SaveIdentity);
    }
    if !form.problems.is_empty() {
        ui.colored_label(theme::ERROR, tr(lang, "Not saved: correct the fields marked in red."));
    }
    if edited != *form {
        actions.insert(0, Action::EditIdentity(Box::new(edited)));
    }
    actions
}

/// What is wrong with `field` of `identity`, in words (the rules of `Identity::problems`).
pub fn field_problem(field: &str, identity: &Identity, lang: Lang) -> String {
    let value = match field {
        "reader_id" => identity.reader_id.as_str(),
        "display_name" => identity.display_name.as_str(),
        "site_code" => identity.site_code.as_str(),
        _ => identity.postal_code.as_str(),
    };
    if value.trim().is_empty() {
        return tr(lang, "required").to_owned();
    }
    if value.chars().any(char::is_control) {
        return tr(lang, "no control characters (a pasted tab or line break?)").to_owned();
    }
    match field {
        "reader_id" if value.len() > 64 => tr(lang, "too long: at most 64 bytes (21 Japanese characters)").to_owned(),
        "display_name" if value.chars().count() > 100 => tr(lang, "at most 100 characters").to_owned(),
        "site_code" => {
            if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
                let c = if c == ' ' { tr(lang, "a space").to_owned() } else { format!("“{c}”") };
                trf(lang, "{what} is not allowed: letters A–Z, digits, - and _ only", &[("what", &c)])
            } else {
                tr(lang, "at most 32 characters").to_owned()
            }
        }
        "postal_code" => {
            let digits = value.chars().filter(char::is_ascii_digit).count();
            if digits == 7 {
                tr(lang, "7 digits and - only, e.g. 466-8560").to_owned()
            } else {
                trf(lang, "7 digits, e.g. 466-8560 (this has {n})", &[("n", &digits)])
            }
        }
        _ => tr(lang, "required").to_owned(),
    }
}

/// The site key row: the key (hidden unless just made), "New site key", and the key's
/// fingerprint. Returns whether Enter was pressed in the field.
fn site_key_row(ui: &mut egui::Ui, form: &mut IdentityForm, lang: Lang) -> bool {
    let mut save = false;
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            let response = ui.add(
                egui::TextEdit::singleline(&mut form.site_key_text)
                    .password(!form.show_site_key)
                    .hint_text(tr(lang, "ldsk1-… from your site admin"))
                    .desired_width(280.0),
            );
            if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                save = true;
            }
            if ui
                .button(tr(lang, "New site key"))
                .on_hover_text(tr(
                    lang,
                    "Only for the first desk of a site: makes the key that every other desk of the site must then be given.",
                ))
                .clicked()
            {
                match lungdesk_store::SiteKey::generate() {
                    Ok(key) => {
                        form.site_key_text = key.reveal();
                        form.show_site_key = true;
                    }
                    Err(e) => form.error = Some(e.to_string()),
                }
            }
        });
        let typed = lungdesk_store::SiteKey::parse(&form.site_key_text).ok();
        if let Some(key) = typed.as_ref().or(form.identity.site_key.as_ref()) {
            ui.weak(trf(lang, "fingerprint {fingerprint}: the same on every desk of the site", &[(
                "fingerprint",
                &key.fingerprint(),
            )]));
        } else {
            ui.weak(tr(
                lang,
                "Keys the case keys, so that a study cannot be linked to its labels without it. Never sent.",
            ));
        }
        if form.problems.contains(&"site_key") {
            ui.colored_label(
                theme::ERROR,
                tr(lang, "required: ldsk1- followed by 64 hex digits, as your site admin gave it"),
            );
        }
    });
    save
}
