//! What the workers report, taken into the [`DeskModel`].

use std::path::PathBuf;
use std::sync::Arc;

use lungdesk_store::SyncState;

use super::action::{Action, Job};
use super::identity::IdentityForm;
use super::model::{DeskModel, Notice, Phase};
use super::store_jobs::{Event, StoreRequest};
use crate::i18n::{Lang, tr, trf};
use crate::sync::{SyncEvent, SyncSettings};

impl DeskModel {
    /// Takes in what a worker reported; returns the work that follows from it.
    #[allow(clippy::too_many_lines)] // one arm per event
    pub fn on_event(&mut self, event: Event) -> Vec<Job> {
        let lang = self.lang;
        let mut jobs = Vec::new();
        match event {
            Event::Opened(Ok(opened)) => {
                let opened = *opened;
                if let Some(l) = opened.language.as_deref().and_then(Lang::from_code) {
                    self.lang = l;
                    jobs.push(Job::ViewerLang(l));
                }
                if let Some(dir) = opened.export_dir {
                    self.export_dir = PathBuf::from(dir);
                }
                self.rows = Arc::new(opened.rows);
                self.visible_for = None;
                // The Sync column from the store, before any sync runs: labels still waiting
                // say so after a restart.
                self.sync_states = opened.sync_states;
                // A store made before site keys holds an identity without one: the form asks
                // for the key once, with the rest filled in.
                match opened.identity {
                    Some(identity) if identity.problems().is_empty() => {
                        self.phase = Phase::Ready;
                        self.identity = Some(identity);
                    }
                    other => {
                        self.phase = Phase::Identity(IdentityForm {
                            identity: other.unwrap_or_default(),
                            ..IdentityForm::default()
                        });
                        self.identity = None;
                    }
                }
                if let Some(settings) = opened.cloud {
                    self.start_sync(settings, &mut jobs);
                }
                if matches!(self.phase, Phase::Ready)
                    && let Some(dir) = self.import_when_ready.take()
                {
                    jobs.extend(self.apply(Action::Import(dir)));
                }
                // Back to the case that was in review, with its draft.
                if matches!(self.phase, Phase::Ready)
                    && let Some(case_id) = opened.open_case.filter(|&id| self.row_index(id).is_some())
                {
                    self.open(case_id, &mut jobs);
                }
            }
            Event::Opened(Err(e)) => self.phase = Phase::Failed(e.to_string()),
            Event::IdentitySaved(Ok(identity)) => {
                self.identity = Some(identity);
                self.phase = Phase::Ready;
                jobs.push(Job::Store(StoreRequest::Worklist { reader: self.reader() }));
                if let Some(settings) = self.sync_waiting.take() {
                    self.start_sync(settings, &mut jobs);
                }
                if let Some(dir) = self.import_when_ready.take() {
                    jobs.extend(self.apply(Action::Import(dir)));
                }
            }
            Event::IdentitySaved(Err(e)) => {
                if let Phase::Identity(form) = &mut self.phase {
                    form.saving = false;
                    form.error = Some(e.to_string());
                }
            }
            Event::Worklist(Ok(rows)) => {
                self.rows = Arc::new(rows);
                self.visible_for = None;
            }
            Event::CaseDetails { case_id, with_draft, details } => match details {
                Ok(details) => {
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
                        let details = *details;
                        c.shared = details.shared;
                        c.ai = details.ai;
                        c.history = details.history;
                        if with_draft && !c.loaded {
                            c.confirmed = details.confirmed;
                            // Keys pressed before the details arrived go on top of the stored
                            // draft; the merged draft is saved.
                            if c.merge_stored(details.draft) {
                                self.draft_changed(&mut jobs);
                            }
                            if self.current.as_ref().is_some_and(|c| c.confirm_when_loaded) {
                                self.confirm(&mut jobs);
                            }
                        }
                    }
                }
                Err(e) => {
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id && with_draft && !c.loaded) {
                        c.details_failed = Some(e.to_string());
                        c.confirm_when_loaded = false;
                    }
                    self.notice = Some(Notice::error(e.to_string()));
                }
            },
            Event::Confirmed { case_id, result } => match result {
                Ok((review, history, status)) => {
                    jobs.push(Job::WakeSync);
                    self.sync_states.insert(case_id, SyncState::Pending { error: None });
                    if let Some(i) = self.row_index(case_id) {
                        let row = &mut Arc::make_mut(&mut self.rows)[i];
                        (row.grade, row.pcr, row.revision, row.status) =
                            (Some(review.grade), Some(review.pcr), Some(review.revision), status);
                    }
                    let confirmed = super::store_jobs::confirmed_draft(review.clone());
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
                        c.history = history;
                        c.confirmed = Some(confirmed);
                    }
                    self.visible_for = None;
                    let last =
                        self.current.as_ref().is_some_and(|c| c.case_id == case_id) && self.neighbour(1).is_none();
                    let key = self.row_index(case_id).map(|i| self.rows[i].case_key.clone()).unwrap_or_default();
                    let (grade, pcr, revision) = (review.grade.number(), review.pcr, review.revision);
                    self.notice = Some(Notice::translated(lang, false, move |lang| {
                        let text = trf(
                            lang,
                            "Saved: case {key}, grade {grade}, {pcr} (revision {revision}).",
                            &[
                                ("key", &key),
                                ("grade", &grade),
                                ("pcr", &tr(lang, pcr.name())),
                                ("revision", &revision),
                            ],
                        );
                        text + if last { tr(lang, " That was the last case in the list.") } else { "" }
                    }));
                }
                Err(e) => {
                    self.notice = Some(Notice::error(trf(lang, "Not saved: {error}", &[("error", &e)])));
                    jobs.push(Job::Store(StoreRequest::Worklist { reader: self.reader() }));
                }
            },
            Event::SyncStates(Ok(states)) => self.sync_states = states,
            Event::CloudSaved(Ok(settings)) => {
                self.start_sync(settings, &mut jobs);
                self.refresh_surveillance(&mut jobs);
            }
            Event::AiStored { case_id, result } => match result {
                Ok(history) => {
                    if let Some(c) = self.current.as_mut().filter(|c| c.case_id == case_id) {
                        c.history = history;
                    }
                }
                Err(e) => self.notice = Some(Notice::error(e.to_string())),
            },
            Event::Written(Ok(())) => {}
            Event::Imported(result) => {
                self.importing = None;
                match result {
                    Ok(report) => {
                        let summary = report.clone();
                        self.notice =
                            Some(Notice::translated(lang, false, move |lang| super::import_summary(lang, &summary)));
                        self.last_import = Some(report);
                    }
                    Err(e) => {
                        self.notice = Some(Notice::error(e.to_string()));
                        // The path typed in the top bar was refused: it is corrected in place.
                        if std::mem::take(&mut self.importing_typed) {
                            jobs.push(Job::FocusImport(true));
                        }
                    }
                }
                jobs.push(Job::Store(StoreRequest::Worklist { reader: self.reader() }));
            }
            Event::Disagreements(Ok(d)) => self.disagreements = Some(*d),
            Event::Disagreements(Err(e))
            | Event::Worklist(Err(e))
            | Event::Written(Err(e))
            | Event::SyncStates(Err(e))
            | Event::CloudSaved(Err(e)) => self.notice = Some(Notice::error(e.to_string())),
            Event::Exported(Ok((csv, json, n))) => {
                self.notice = Some(Notice::translated(lang, false, move |lang| {
                    trf(
                        lang,
                        "Exported {n} label(s) to {csv} and {json}",
                        &[("n", &n), ("csv", &csv.display()), ("json", &json.display())],
                    )
                }));
            }
            Event::Exported(Err(e)) => {
                self.notice = Some(Notice::error(trf(lang, "Export failed: {error}", &[("error", &e)])));
            }
        }
        jobs
    }

    /// Takes in what the sync thread reported.
    pub fn on_sync(&mut self, event: SyncEvent) -> Vec<Job> {
        let mut jobs = Vec::new();
        match event {
            SyncEvent::Status(status) => {
                let changed = status.summary != self.cloud.status.summary || status.pulled != self.cloud.status.pulled;
                self.cloud.status = status;
                if changed {
                    jobs.push(Job::Store(StoreRequest::SyncStates));
                    // Other readers' labels of the open case may have arrived.
                    if let Some(case_id) = self.current.as_ref().map(|c| c.case_id) {
                        jobs.push(Job::Store(StoreRequest::CaseDetails {
                            case_id,
                            reader: self.reader(),
                            with_draft: false,
                        }));
                    }
                }
            }
            SyncEvent::Surveillance(counts) => {
                self.cloud.fetching = false;
                self.cloud.counts = Some(counts);
            }
            SyncEvent::Stopped(e) => {
                self.syncing = false;
                self.cloud.fetching = false;
                self.cloud.status.error = Some(e.clone());
                self.notice = Some(Notice::error(trf(self.lang, "Sync stopped: {error}", &[("error", &e)])));
            }
        }
        jobs
    }

    /// Starts syncing with `settings`, or holds them until the identity is complete.
    fn start_sync(&mut self, settings: SyncSettings, jobs: &mut Vec<Job>) {
        if self.identity.is_none() {
            self.sync_waiting = Some(settings);
            return;
        }
        self.cloud.url_entry.clone_from(&settings.url);
        self.cloud.token_entry.clone_from(&settings.token);
        self.cloud.settings = Some(settings.clone());
        self.syncing = true;
        jobs.push(Job::StartSync(settings));
    }
}

#[cfg(test)]
mod tests {
    use lungdesk_store::{CaseRow, CaseStatus, Finding, Grade, Identity, Pcr, ReviewDraft};

    use super::*;
    use crate::desk::action::Action;
    use crate::desk::model::OpenCase;
    use crate::desk::store_jobs::{CaseDetails, Opened};

    fn me() -> Identity {
        Identity {
            reader_id: "R-1".into(),
            display_name: "Reader".into(),
            site_code: "SITE".into(),
            postal_code: "466-8560".into(),
            site_key: Some(lungdesk_store::SiteKey::from_bytes([3; 32])),
        }
    }

    fn row(case_id: i64) -> CaseRow {
        CaseRow {
            case_id,
            case_key: format!("{case_id:016x}"),
            exam_date: None,
            age_years: None,
            sex: None,
            slices: 10,
            series: 1,
            thickness_mm: None,
            folder: None,
            status: CaseStatus::New,
            ai_grade: None,
            ai_cannot_grade: None,
            ai_confidence: None,
            grade: None,
            pcr: None,
            revision: None,
        }
    }

    /// A ready desk with cases 1 and 2, case 1 opened and its details not yet in.
    fn ready_with_case_opening() -> DeskModel {
        let mut m = DeskModel::new("labels.sqlite".into(), "exports".into());
        let opened = Opened { identity: Some(me()), rows: vec![row(1), row(2)], ..Opened::default() };
        m.on_event(Event::Opened(Ok(Box::new(opened))));
        m.refilter_now();
        let jobs = m.apply(Action::Open(1));
        assert!(
            jobs.iter().any(|j| matches!(j, Job::LoadCase { case_id: 1, series: None, next: Some(2) })),
            "{jobs:?}"
        );
        m
    }

    /// What a confirmed case's working copy holds: its last revision.
    fn stored() -> ReviewDraft {
        ReviewDraft {
            grade: Some(Grade::Typical),
            pcr: Some(Pcr::Positive),
            findings: vec![Finding::ALL[0], Finding::ALL[2]],
            note: "bilateral peripheral GGO".into(),
        }
    }

    fn details(draft: ReviewDraft) -> Event {
        Event::CaseDetails {
            case_id: 1,
            with_draft: true,
            details: Ok(Box::new(CaseDetails { draft, ..CaseDetails::default() })),
        }
    }

    fn saved_drafts(jobs: &[Job]) -> Vec<ReviewDraft> {
        jobs.iter()
            .filter_map(|j| match j {
                Job::Store(StoreRequest::SaveDraft { draft, .. }) => Some(draft.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_restart_reopens_the_case_in_review_and_shows_the_stored_sync_states() {
        let mut m = DeskModel::new("labels.sqlite".into(), "exports".into());
        let waiting = SyncState::Pending { error: None };
        let opened = Opened {
            identity: Some(me()),
            rows: vec![row(1), row(2)],
            sync_states: [(1, waiting.clone())].into(),
            open_case: Some(2),
            ..Opened::default()
        };
        let jobs = m.on_event(Event::Opened(Ok(Box::new(opened))));
        assert_eq!(m.current().map(|c| c.case_id), Some(2), "case 2 was in review");
        assert!(
            jobs.iter()
                .any(|j| matches!(j, Job::Store(StoreRequest::CaseDetails { case_id: 2, with_draft: true, .. }))),
            "its draft is read: {jobs:?}"
        );
        assert_eq!(m.sync_state(1), Some(&waiting), "the Sync column before any sync runs");
        // Opening a case remembers it; a case since deleted is not reopened.
        let jobs = m.apply(Action::Open(1));
        assert!(
            jobs.iter()
                .any(|j| matches!(j, Job::Store(StoreRequest::Setting { key: "open_case", value }) if value == "1"))
        );
        let mut fresh = DeskModel::new("labels.sqlite".into(), "exports".into());
        let gone = Opened { identity: Some(me()), rows: vec![row(1)], open_case: Some(9), ..Opened::default() };
        fresh.on_event(Event::Opened(Ok(Box::new(gone))));
        assert!(fresh.current().is_none());
    }

    #[test]
    fn a_confirmed_case_shows_the_revision_being_edited_until_it_is_confirmed_again() {
        let mut m = ready_with_case_opening();
        let with_review = Event::CaseDetails {
            case_id: 1,
            with_draft: true,
            details: Ok(Box::new(CaseDetails {
                draft: stored(),
                confirmed: Some((1, stored())),
                ..CaseDetails::default()
            })),
        };
        m.on_event(with_review);
        assert_eq!(m.current().and_then(OpenCase::editing_confirmed), None, "as confirmed: not editing");
        m.apply(Action::Grade(Grade::Negative));
        assert_eq!(m.current().and_then(OpenCase::editing_confirmed), Some(1), "one key: editing revision 1");
        m.apply(Action::Grade(Grade::Typical));
        assert_eq!(m.current().and_then(OpenCase::editing_confirmed), None, "back as confirmed");
    }

    #[test]
    fn another_series_is_loaded_on_request_and_headers_an_old_store_lacked_are_recorded() {
        use lungdesk_volume::{Plane, SeriesInfo};
        let info = |uid: &str, plane, slices, thickness| SeriesInfo {
            series_uid: uid.into(),
            modality: "CT".into(),
            plane,
            slices,
            thickness_mm: Some(thickness),
            coverage_mm: Some(300.0),
            series_number: None,
            date: None,
            description: String::new(),
        };
        let mut m = ready_with_case_opening();
        m.on_event(details(stored()));
        let series = vec![info("1.2.3.1", Plane::Sagittal, 300, 1.0), info("1.2.3.2", Plane::Axial, 200, 1.25)];
        let jobs = m.series_shown(1, series.clone(), "1.2.3.2".into(), true);
        assert!(matches!(&jobs[..], [Job::Store(StoreRequest::SeriesInfo(s))] if *s == series), "{jobs:?}");
        // The row shows the axial series (the one for reading), not the longer sagittal one.
        assert_eq!(m.current_row().map(|r| (r.series, r.slices, r.thickness_mm)), Some((2, 200, Some(1.25))));
        assert!(m.apply(Action::ShowSeries("1.2.3.2".into())).is_empty(), "already shown");
        assert!(m.apply(Action::ShowSeries("9.9".into())).is_empty(), "not a series of this case");
        let jobs = m.apply(Action::ShowSeries("1.2.3.1".into()));
        assert!(
            jobs.iter().any(|j| matches!(j, Job::LoadCase { case_id: 1, series: Some(s), .. } if s == "1.2.3.1")),
            "{jobs:?}"
        );
        assert!(m.apply(Action::ShowSeries("1.2.3.1".into())).is_empty(), "already loading");
        assert!(m.is_reading_series("1.2.3.2") && !m.is_reading_series("1.2.3.1"));
        // A failed load can be asked for again.
        m.load_failed(1);
        assert!(!m.apply(Action::ShowSeries("1.2.3.1".into())).is_empty());
    }

    #[test]
    fn keys_before_the_details_arrive_are_merged_into_the_stored_draft() {
        let mut m = ready_with_case_opening();
        let early: Vec<Job> = [Action::Grade(Grade::Negative), Action::ToggleFinding(Finding::ALL[1])]
            .into_iter()
            .flat_map(|a| m.apply(a))
            .collect();
        assert!(saved_drafts(&early).is_empty(), "nothing is written over the stored draft before it is read");
        let jobs = m.on_event(details(stored()));
        let expected = ReviewDraft {
            grade: Some(Grade::Negative),
            findings: vec![Finding::ALL[0], Finding::ALL[1], Finding::ALL[2]],
            ..stored()
        };
        assert_eq!(saved_drafts(&jobs), vec![expected.clone()], "the merged draft is saved");
        assert_eq!(m.current().map(|c| c.draft.clone()), Some(expected));
        assert_eq!(m.current_row().map(|r| r.status), Some(CaseStatus::InReview));
    }

    #[test]
    fn a_note_typed_before_the_stored_one_is_read_is_added_to_it() {
        let mut m = ready_with_case_opening();
        assert!(m.apply(Action::FocusNote).iter().any(|j| matches!(j, Job::FocusNote)), "the note opens at once");
        assert!(saved_drafts(&m.apply(Action::Note("crazy paving".into()))).is_empty());
        let jobs = m.on_event(details(stored()));
        let note = "bilateral peripheral GGO\ncrazy paving";
        assert_eq!(saved_drafts(&jobs).iter().map(|d| d.note.as_str()).collect::<Vec<_>>(), vec![note]);
        assert_eq!(m.current().map(|c| c.draft.note.as_str()), Some(note));
    }

    #[test]
    fn a_case_whose_details_cannot_be_read_is_not_confirmed_and_says_why() {
        let mut m = ready_with_case_opening();
        m.apply(Action::Grade(Grade::Typical));
        m.apply(Action::Confirm);
        let failed = Event::CaseDetails {
            case_id: 1,
            with_draft: true,
            details: Err(crate::error::DeskError::WorkerGone("lungdesk-store")),
        };
        let jobs = m.on_event(failed);
        assert!(!jobs.iter().any(|j| matches!(j, Job::Store(StoreRequest::Confirm { .. }))), "{jobs:?}");
        let jobs = m.apply(Action::Confirm);
        assert!(jobs.is_empty(), "{jobs:?}");
        assert!(m.notice().is_some_and(|n| n.error && n.text.contains("could not be read")), "{:?}", m.notice());
    }

    #[test]
    fn enter_before_the_details_arrive_confirms_once_they_do_with_findings_and_note_kept() {
        let mut m = ready_with_case_opening();
        let mut jobs = m.apply(Action::Grade(Grade::Negative));
        jobs.extend(m.apply(Action::Confirm));
        assert!(!jobs.iter().any(|j| matches!(j, Job::Store(StoreRequest::Confirm { .. }))), "not before it is loaded");
        assert_eq!(m.current().map(|c| c.case_id), Some(1), "still on the case");
        let jobs = m.on_event(details(stored()));
        let confirmed: Vec<&ReviewDraft> = jobs
            .iter()
            .filter_map(|j| match j {
                Job::Store(StoreRequest::Confirm { case_id: 1, draft, .. }) => Some(draft),
                _ => None,
            })
            .collect();
        assert_eq!(confirmed, vec![&ReviewDraft { grade: Some(Grade::Negative), ..stored() }]);
        assert_eq!(m.current().map(|c| c.case_id), Some(2), "the next case opens");
    }

    #[test]
    fn enter_on_a_loaded_case_without_grade_and_pcr_refuses() {
        let mut m = ready_with_case_opening();
        m.on_event(details(ReviewDraft::default()));
        let jobs = m.apply(Action::Confirm);
        assert!(jobs.is_empty(), "{jobs:?}");
        assert!(m.notice().is_some_and(|n| n.error && n.text.contains("PCR")));
        assert_eq!(m.current().map(|c| c.case_id), Some(1));
    }

    #[test]
    fn sync_waits_for_the_site_key() {
        let mut m = DeskModel::new("labels.sqlite".into(), "exports".into());
        let settings = SyncSettings { url: "http://127.0.0.1:1".into(), token: "t".into() };
        let keyless = Identity { site_key: None, ..me() };
        let opened = Opened {
            identity: Some(keyless),
            language: None,
            export_dir: None,
            rows: Vec::new(),
            cloud: Some(settings.clone()),
            ..Opened::default()
        };
        let jobs = m.on_event(Event::Opened(Ok(Box::new(opened))));
        assert!(!jobs.iter().any(|j| matches!(j, Job::StartSync(_))), "{jobs:?}");
        assert!(matches!(m.phase(), Phase::Identity(_)));
        let jobs = m.on_event(Event::IdentitySaved(Ok(me())));
        assert!(jobs.iter().any(|j| matches!(j, Job::StartSync(s) if *s == settings)), "{jobs:?}");
    }
}
