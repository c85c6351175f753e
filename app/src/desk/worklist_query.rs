//! The worklist's filter and order: by text (case key, date, status, grade, PCR in the
//! reader's language), status, and a sort key.

use lungdesk_store::{CaseRow, CaseStatus, Grade, Pcr};

use crate::i18n::{Lang, tr};

/// Worklist columns the reader can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Imported,
    Status,
    ExamDate,
    Age,
    AiGrade,
    /// The AI's score for its grade, least sure first; cases without a grade from the AI last.
    AiConfidence,
    Grade,
}

impl SortBy {
    pub const ALL: [SortBy; 7] = [
        SortBy::Imported,
        SortBy::Status,
        SortBy::ExamDate,
        SortBy::Age,
        SortBy::AiGrade,
        SortBy::AiConfidence,
        SortBy::Grade,
    ];
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Imported => "Import order",
            SortBy::Status => "Status",
            SortBy::ExamDate => "Exam date",
            SortBy::Age => "Age",
            SortBy::AiGrade => "AI grade",
            SortBy::AiConfidence => "AI confidence",
            SortBy::Grade => "Grade",
        }
    }
}

/// The worklist's filter and order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklistQuery {
    pub text: String,
    pub status: Option<CaseStatus>,
    pub sort: SortBy,
    pub descending: bool,
}

impl Default for WorklistQuery {
    fn default() -> Self {
        Self { text: String::new(), status: None, sort: SortBy::Imported, descending: false }
    }
}

/// Indices of `rows` that pass `query`, in its order.
pub fn filter_rows(rows: &[CaseRow], query: &WorklistQuery, lang: Lang) -> Vec<usize> {
    let needle = query.text.trim().to_lowercase();
    // Which statuses, grades and PCR states match the search text, worked out once.
    let matches = |name: &'static str| !needle.is_empty() && tr(lang, name).to_lowercase().contains(&needle);
    let status_hit = CaseStatus::ALL.map(|s| matches(s.name()));
    let grade_hit = Grade::ALL.map(|g| matches(g.name()));
    let pcr_hit = Pcr::ALL.map(|p| matches(p.name()));
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut out: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| query.status.is_none_or(|s| r.status == s))
        .filter(|(_, r)| {
            needle.is_empty()
                || finder.find(r.case_key.as_bytes()).is_some()
                || r.exam_date.as_deref().is_some_and(|d| finder.find(d.as_bytes()).is_some())
                || status_hit[r.status as usize]
                || r.grade.is_some_and(|g| grade_hit[usize::from(g.number() - 1)])
                || r.pcr.is_some_and(|p| pcr_hit[p as usize])
        })
        .map(|(i, _)| i)
        .collect();
    // One integer key per row (dates as YYYYMMDD), ties broken by import order: the sort
    // compares integers only.
    let key = |r: &CaseRow| -> i64 {
        match query.sort {
            SortBy::Imported => 0,
            SortBy::Status => r.status as i64,
            SortBy::ExamDate => r
                .exam_date
                .as_deref()
                .map_or(0, |d| d.bytes().filter(u8::is_ascii_digit).fold(0i64, |n, b| n * 10 + i64::from(b - b'0'))),
            SortBy::Age => r.age_years.unwrap_or(-1),
            SortBy::AiGrade => r.ai_grade.map_or(9, |g| i64::from(g.number())),
            // In thousandths, so that the sort stays on integers; no grade from the AI sorts last.
            SortBy::AiConfidence => r.ai_confidence.map_or(i64::MAX, |p| (p * 1000.0).round() as i64),
            SortBy::Grade => r.grade.map_or(9, |g| i64::from(g.number())),
        }
    };
    if query.sort != SortBy::Imported {
        let mut keyed: Vec<(i64, i64, usize)> = out.iter().map(|&i| (key(&rows[i]), rows[i].case_id, i)).collect();
        keyed.sort_unstable();
        out = keyed.into_iter().map(|(_, _, i)| i).collect();
    }
    if query.descending {
        out.reverse();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case_id: i64, date: &str, status: CaseStatus, grade: Option<Grade>) -> CaseRow {
        CaseRow {
            case_id,
            case_key: format!("{case_id:016x}"),
            exam_date: Some(date.into()),
            age_years: Some(40 + case_id),
            sex: Some("F".into()),
            slices: 10,
            series: 1,
            thickness_mm: None,
            folder: None,
            status,
            ai_grade: None,
            ai_cannot_grade: None,
            ai_confidence: None,
            grade,
            pcr: None,
            revision: None,
        }
    }

    #[test]
    fn the_worklist_filters_by_text_status_and_sorts() {
        let rows = vec![
            row(1, "2026-04-03", CaseStatus::New, None),
            row(2, "2026-04-01", CaseStatus::Confirmed, Some(Grade::Typical)),
            row(3, "2026-05-02", CaseStatus::Confirmed, Some(Grade::Atypical)),
            row(4, "2026-04-02", CaseStatus::InReview, None),
        ];
        let q = |text: &str, status, sort, descending| WorklistQuery { text: text.into(), status, sort, descending };
        assert_eq!(filter_rows(&rows, &WorklistQuery::default(), Lang::En), vec![0, 1, 2, 3]);
        assert_eq!(filter_rows(&rows, &q("2026-04", None, SortBy::ExamDate, false), Lang::En), vec![1, 3, 0]);
        assert_eq!(filter_rows(&rows, &q("", None, SortBy::ExamDate, true), Lang::En), vec![2, 0, 3, 1]);
        assert_eq!(
            filter_rows(&rows, &q("", Some(CaseStatus::Confirmed), SortBy::Imported, false), Lang::En),
            vec![1, 2]
        );
        assert_eq!(filter_rows(&rows, &q("typical", None, SortBy::Imported, false), Lang::En), vec![1, 2]);
        assert_eq!(filter_rows(&rows, &q("atyp", None, SortBy::Imported, false), Lang::En), vec![2]);
        assert_eq!(filter_rows(&rows, &q("確定", None, SortBy::Imported, false), Lang::Ja), vec![1, 2]);
        assert_eq!(filter_rows(&rows, &q("", None, SortBy::Age, true), Lang::En), vec![3, 2, 1, 0]);
    }

    /// Least sure first, so that a reader can start where the AI is weakest; cases the AI gave
    /// no grade go last, ties by import order.
    #[test]
    fn the_worklist_sorts_by_ai_confidence() {
        let mut rows: Vec<CaseRow> = (1..=5).map(|i| row(i, "2026-04-01", CaseStatus::AiDone, None)).collect();
        for (r, p) in rows.iter_mut().zip([Some(0.91), None, Some(0.42), Some(0.42), Some(0.6)]) {
            r.ai_grade = p.map(|_| Grade::Typical);
            r.ai_confidence = p;
        }
        let q = |descending| WorklistQuery { sort: SortBy::AiConfidence, descending, ..WorklistQuery::default() };
        assert_eq!(filter_rows(&rows, &q(false), Lang::En), vec![2, 3, 4, 0, 1]);
        assert_eq!(filter_rows(&rows, &q(true), Lang::En), vec![1, 0, 4, 3, 2]);
    }
}
