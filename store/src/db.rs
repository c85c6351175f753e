//! The SQLite store: schema and migrations, cases, AI results, drafts, confirmed reviews,
//! history and outbox.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lungdesk_volume::{Plane, SeriesInfo};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

mod ai_reads;
pub use ai_reads::{AiReadOutboxItem, BUNDLED_SET};

use crate::model::{
    CaseRow, CaseStatus, Finding, Grade, HistoryEntry, Identity, LabelPayload, OutboxItem, Pcr, Review, ReviewDraft,
    SharedLabel, SyncState, SyncSummary,
};

/// Everything that can go wrong with the store, naming the file and the step.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the label store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the label store {path} was written by a newer LungDesk (schema {found}, this one knows {known}); update LungDesk, the file is left untouched"
    )]
    NewerSchema { path: PathBuf, found: i64, known: i64 },
    #[error("label store {path}: {step}: {source}")]
    Sql { path: PathBuf, step: &'static str, source: rusqlite::Error },
    #[error("cannot confirm case {case_id}: {what} is not set")]
    Incomplete { case_id: i64, what: &'static str },
    #[error("case {case_id} is not in the label store {path}")]
    NoSuchCase { path: PathBuf, case_id: i64 },
    #[error("the reader's identity is not set up (reader id, name, site code, postal code, site key)")]
    NoIdentity,
    #[error("the identity has invalid fields: {0}")]
    BadIdentity(String),
    #[error("label store {path}: a stored value is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot build the sync payload: {0}")]
    Payload(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// Case key, exam date, age and sex, as the payload needs them.
type CaseFields = (String, Option<String>, Option<i64>, Option<String>);

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: cases, series, AI results, reviews, history, outbox, settings.
    r"
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        study_uid TEXT NOT NULL UNIQUE,
        case_key TEXT NOT NULL UNIQUE,
        exam_date TEXT,
        age_years INTEGER,
        sex TEXT,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        series_uid TEXT NOT NULL UNIQUE,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        slices INTEGER NOT NULL,
        files TEXT NOT NULL
    );
    CREATE TABLE ai_results (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        series_uid TEXT NOT NULL,
        grade INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 4),
        scores TEXT NOT NULL,
        explanation TEXT NOT NULL,
        method TEXT NOT NULL,
        models TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        reader_id TEXT NOT NULL,
        site_code TEXT NOT NULL,
        postal_code TEXT NOT NULL,
        grade INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 4),
        pcr TEXT NOT NULL,
        findings TEXT NOT NULL,
        note TEXT NOT NULL,
        ai_result_id INTEGER REFERENCES ai_results(id),
        revision INTEGER NOT NULL,
        confirmed_at TEXT NOT NULL,
        UNIQUE (case_id, reader_id)
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        reader_id TEXT NOT NULL,
        at TEXT NOT NULL,
        field TEXT NOT NULL,
        old TEXT,
        new TEXT,
        revision INTEGER NOT NULL
    );
    CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
    CREATE TRIGGER history_is_append_only_delete BEFORE DELETE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    ",
    // 2: drafts (work in progress survives a crash) and the worklist's indexes.
    r"
    CREATE TABLE drafts (
        case_id INTEGER NOT NULL REFERENCES cases(id),
        reader_id TEXT NOT NULL,
        draft TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (case_id, reader_id)
    );
    CREATE INDEX series_case ON series(case_id);
    CREATE INDEX ai_results_case ON ai_results(case_id, id);
    CREATE INDEX history_case ON history(case_id, id);
    CREATE INDEX outbox_unsent ON outbox(sent_at, id);
    ",
    // 3: sync — a label the service holds differently (conflict), and other readers' labels
    // pulled back from the service for adjudication.
    r"
    ALTER TABLE outbox ADD COLUMN conflict TEXT;
    CREATE TABLE remote_labels (
        id INTEGER PRIMARY KEY,
        case_key TEXT NOT NULL,
        site_code TEXT NOT NULL,
        reader_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        grade INTEGER NOT NULL,
        pcr TEXT NOT NULL,
        findings TEXT NOT NULL,
        ai_grade INTEGER,
        confirmed_at TEXT NOT NULL,
        UNIQUE (case_key, reader_id, revision)
    );
    CREATE INDEX remote_labels_case ON remote_labels(case_key);
    ",
    // 4: "cannot grade" is an AI result with no grade and a reason (the AI could not read the
    // series). SQLite cannot loosen a NOT NULL in place, so the table is rebuilt.
    r"
    -- rebuilds a table: run with foreign keys off, checked before commit
    CREATE TABLE ai_results_new (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        series_uid TEXT NOT NULL,
        grade INTEGER CHECK (grade BETWEEN 1 AND 4),
        cannot_grade_code TEXT,
        cannot_grade_reason TEXT,
        scores TEXT NOT NULL,
        explanation TEXT NOT NULL,
        method TEXT NOT NULL,
        models TEXT NOT NULL,
        created_at TEXT NOT NULL,
        CHECK ((grade IS NULL) = (cannot_grade_code IS NOT NULL))
    );
    INSERT INTO ai_results_new (id, case_id, series_uid, grade, scores, explanation, method, models, created_at)
        SELECT id, case_id, series_uid, grade, scores, explanation, method, models, created_at FROM ai_results;
    DROP TABLE ai_results;
    ALTER TABLE ai_results_new RENAME TO ai_results;
    CREATE INDEX ai_results_case ON ai_results(case_id, id);
    ",
    // 5: when the sync thread took a label to send it (before the request, in one transaction
    // with the read), so that a new site key never re-keys a label that may be in flight.
    r"
    ALTER TABLE outbox ADD COLUMN sending_at TEXT;
    ",
    // 6: what the headers say of each series (the desk picks the series to read, lists them,
    // and the worklist shows slices and thickness without opening a file) and the folder it
    // came from. Not the Series Description: scanner free text stays out of the store (the
    // switcher reads it from the headers when the case opens). Old rows get their folder from the first file's path here and the rest when
    // the case is next opened (`Store::set_series_info`).
    r"
    ALTER TABLE series ADD COLUMN modality TEXT;
    ALTER TABLE series ADD COLUMN plane TEXT;
    ALTER TABLE series ADD COLUMN thickness_mm REAL;
    ALTER TABLE series ADD COLUMN coverage_mm REAL;
    ALTER TABLE series ADD COLUMN series_number INTEGER;
    ALTER TABLE series ADD COLUMN series_date TEXT;
    ALTER TABLE series ADD COLUMN folder TEXT;
    UPDATE series SET folder = NULLIF(rtrim(rtrim(json_extract(files, '$[0]'), replace(json_extract(files, '$[0]'), '/', '')), '/'), '')
        WHERE json_valid(files);
    ",
    // 7: AI reads by model set (issue #17): which set made each result, with the involvement
    // and severity it found, and the AI-read outbox (one payload per case, set and version,
    // sent once; `refused` when the service will never take it).
    r"
    ALTER TABLE ai_results ADD COLUMN model_set TEXT NOT NULL DEFAULT 'bundled';
    ALTER TABLE ai_results ADD COLUMN involvement_percent REAL;
    ALTER TABLE ai_results ADD COLUMN severity_score INTEGER;
    CREATE INDEX ai_results_set ON ai_results(model_set, case_id, id);
    CREATE TABLE ai_read_outbox (
        id INTEGER PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        ai_result_id INTEGER NOT NULL REFERENCES ai_results(id),
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        refused TEXT
    );
    CREATE INDEX ai_read_outbox_unsent ON ai_read_outbox(sent_at, id);
    CREATE INDEX ai_read_outbox_result ON ai_read_outbox(ai_result_id);
    ",
];

/// The folder holding every one of `files` (the deepest common parent).
fn common_folder(files: &[PathBuf]) -> Option<PathBuf> {
    let mut folder = files.first()?.parent()?.to_owned();
    for f in &files[1..] {
        while !f.starts_with(&folder) {
            folder = folder.parent()?.to_owned();
        }
    }
    Some(folder)
}

fn write_series_info(tx: &Transaction<'_>, info: &SeriesInfo) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE series SET modality = ?2, plane = ?3, thickness_mm = ?4, coverage_mm = ?5, series_number = ?6, \
         series_date = ?7, slices = ?8 WHERE series_uid = ?1",
        params![
            info.series_uid,
            info.modality,
            info.plane.code(),
            info.thickness_mm,
            info.coverage_mm,
            info.series_number,
            info.date,
            info.slices
        ],
    )
}

/// The AI's result as the history writes it: the grade's number, or "cannot grade: CODE".
/// The score the AI gave `grade`, from an `ai_results.scores` array (`[p1, p2, p3, p4]`);
/// `None` when the stored text is not such an array or the score is not a probability.
fn ai_confidence(scores_json: &str, grade: Grade) -> Option<f64> {
    let scores: [f64; 4] = serde_json::from_str(scores_json).ok()?;
    Some(scores[usize::from(grade.number() - 1)]).filter(|p| (0.0..=1.0).contains(p))
}

fn ai_grade_text(grade: Option<i64>, cannot_grade_code: Option<&str>) -> String {
    match (grade, cannot_grade_code) {
        (Some(g), _) => g.to_string(),
        (None, Some(code)) => format!("cannot grade: {code}"),
        (None, None) => String::new(),
    }
}

/// Marks a migration that rebuilds a table (SQLite's 12-step procedure): it runs with foreign
/// keys off, and `PRAGMA foreign_key_check` must be clean before it commits.
const REBUILDS: &str = "-- rebuilds a table";

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A series to add at import, with what the worklist shows of its study.
#[derive(Debug, Clone)]
pub struct NewSeries {
    pub study_uid: String,
    pub series_uid: String,
    pub exam_date: Option<String>,
    pub age_years: Option<i64>,
    pub sex: Option<String>,
    pub files: Vec<PathBuf>,
    /// What the headers say of the series (`None`: filled in when the case is first opened).
    pub info: Option<SeriesInfo>,
}

/// One series of a case as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSeries {
    pub files: Vec<PathBuf>,
    /// From the headers, without the description; the plane is `Unknown` and the rest empty
    /// for a series imported before the store kept them, until the case is opened.
    pub info: SeriesInfo,
}

/// What adding a series did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    NewCase(i64),
    /// Another series of a case already imported.
    NewSeriesOfCase(i64),
    /// The series was imported before (same Series Instance UID).
    AlreadyImported(i64),
}

/// One case in the disagreements view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub case_id: i64,
    pub case_key: String,
    pub reader_id: String,
    pub kind: DisagreementKind,
    pub ai_grade: Option<Grade>,
    pub grade: Grade,
    pub pcr: Pcr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisagreementKind {
    /// The reader's grade differs from the AI's.
    ReaderVsAi,
    /// PCR positive graded negative for pneumonia, or PCR negative graded typical.
    PcrVsGrade,
}

/// AI grade (rows) against reader grade (columns), over confirmed reviews with an AI result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub counts: [[u32; 4]; 4],
    /// Confirmed reviews of cases the AI has not read.
    pub without_ai: u32,
}

impl Confusion {
    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }
    pub fn agreeing(&self) -> u32 {
        (0..4).map(|i| self.counts[i][i]).sum()
    }
}

/// The label store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Now, UTC, RFC 3339 with milliseconds.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"))
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Creates the store file readable and writable by its owner only (it holds the service token
/// and who read what), and takes away group and other access from an existing one. SQLite
/// gives its -wal and -shm files the main file's permissions. Best effort: an error here leaves
/// the permissions as they were, and the open below reports real problems.
fn owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let _ = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path);
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            // A missing folder is reported by SQLite's open below, with the path.
            let _ = std::fs::create_dir_all(parent);
        }
        owner_only(path);
        let conn = Connection::open(path).map_err(open_err)?;
        Self::configure(conn, path.to_owned(), MIGRATIONS.len())
    }

    /// Opens the store applying only the first `migrations` migrations (tests of upgrades).
    #[doc(hidden)]
    pub fn open_at_schema(path: &Path, migrations: usize) -> Result<Self> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        Self::configure(conn, path.to_owned(), migrations)
    }

    fn configure(conn: Connection, path: PathBuf, migrations: usize) -> Result<Self> {
        let sql = |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql("set busy timeout"))?;
        // WAL: readers never block the writer. FULL: a confirmed review survives power loss too.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", true).map_err(sql("enable foreign keys"))?;
        let mut store = Self { conn, path };
        store.migrate(migrations)?;
        Ok(store)
    }

    fn err(&self, step: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sql { path: self.path.clone(), step, source }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the file.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(self.err("read schema version"))
    }

    fn migrate(&mut self, upto: usize) -> Result<()> {
        let found = self.schema_version()?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(StoreError::NewerSchema { path: self.path.clone(), found, known });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().take(upto).skip(found as usize) {
            let path = self.path.clone();
            let step_err = |source| StoreError::Sql { path: path.clone(), step: "migrate the schema", source };
            let rebuilds = migration.contains(REBUILDS);
            if rebuilds {
                self.conn.pragma_update(None, "foreign_keys", false).map_err(step_err)?;
            }
            let result = (|| {
                let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(step_err)?;
                // Read again inside the exclusive transaction: another process may have
                // migrated the file since it was opened.
                let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(step_err)?;
                if now > known {
                    return Err(StoreError::NewerSchema { path: path.clone(), found: now, known });
                }
                if now > i as i64 {
                    return Ok(());
                }
                tx.execute_batch(migration).map_err(step_err)?;
                if rebuilds {
                    let broken: i64 = tx
                        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
                        .map_err(step_err)?;
                    if broken > 0 {
                        return Err(StoreError::Damaged {
                            path: path.clone(),
                            detail: format!("{broken} broken references after migration {}", i + 1),
                        });
                    }
                }
                tx.pragma_update(None, "user_version", i as i64 + 1).map_err(step_err)?;
                tx.commit().map_err(step_err)
            })();
            if rebuilds {
                self.conn.pragma_update(None, "foreign_keys", true).map_err(step_err)?;
            }
            result?;
            tracing::info!(version = i + 1, "label store schema migrated");
        }
        Ok(())
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(self.err("check integrity"))
    }

    // --- settings and identity ---

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err("read a setting"))
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .map(|_| ())
            .map_err(self.err("save a setting"))
    }

    pub fn identity(&self) -> Result<Option<Identity>> {
        match self.setting("identity")? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| StoreError::Damaged { path: self.path.clone(), detail: format!("identity: {e}") }),
        }
    }

    /// Saves the identity (postal code normalised) after checking every field. When the site
    /// code or site key changes (a key entered for the first time, or rotated), every case that
    /// has not left this desk is given its key under the new one, in the same transaction;
    /// see [`Store::rekey_cases`].
    pub fn set_identity(&mut self, identity: &Identity) -> Result<Identity> {
        let problems = identity.problems();
        if !problems.is_empty() {
            return Err(StoreError::BadIdentity(problems.join(", ")));
        }
        let clean = Identity {
            reader_id: identity.reader_id.trim().to_owned(),
            display_name: identity.display_name.trim().to_owned(),
            site_code: identity.site_code.trim().to_owned(),
            postal_code: crate::model::normalise_postal_code(&identity.postal_code).unwrap_or_default(),
            site_key: identity.site_key.clone(),
        };
        let before = self.identity()?;
        let json = serde_json::to_string(&clean).unwrap_or_default();
        let path = self.path.clone();
        let err = move |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("begin saving the identity"))?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('identity', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
            [&json],
        )
        .map_err(err("save the identity"))?;
        let keyed_as_before =
            before.as_ref().is_some_and(|b| b.site_key == clean.site_key && b.site_code == clean.site_code);
        if !keyed_as_before && let Some(key) = &clean.site_key {
            rekey_cases(&tx, key, &clean.site_code).map_err(err("give the cases their keys under the site key"))?;
        }
        tx.commit().map_err(err("commit the identity"))?;
        Ok(clean)
    }

    // --- import ---

    /// Adds one series (and its case, when new) in one transaction; a series already present
    /// is left as it is.
    pub fn add_series(&mut self, identity: &Identity, series: &NewSeries) -> Result<Added> {
        let key = identity.site_key.as_ref().ok_or(StoreError::NoIdentity)?;
        let path = self.path.clone();
        let err = |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err("begin import"))?;
        let existing: Option<i64> = tx
            .query_row("SELECT case_id FROM series WHERE series_uid = ?1", [&series.series_uid], |r| r.get(0))
            .optional()
            .map_err(err("look up a series"))?;
        if let Some(case_id) = existing {
            // Imported before; if the files have moved, point the series at their new place.
            let files = serde_json::to_string(&series.files).unwrap_or_default();
            let folder = common_folder(&series.files).map(|f| f.to_string_lossy().into_owned());
            tx.execute(
                "UPDATE series SET files = ?1, slices = ?2, folder = ?4 WHERE series_uid = ?3 AND files <> ?1",
                params![files, series.files.len() as i64, series.series_uid, folder],
            )
            .map_err(err("relink a moved series"))?;
            if let Some(info) = &series.info {
                write_series_info(&tx, info).map_err(err("record a series' headers"))?;
            }
            tx.commit().map_err(err("commit import"))?;
            return Ok(Added::AlreadyImported(case_id));
        }
        let case: Option<i64> = tx
            .query_row("SELECT id FROM cases WHERE study_uid = ?1", [&series.study_uid], |r| r.get(0))
            .optional()
            .map_err(err("look up a case"))?;
        let added = if let Some(case_id) = case {
            Added::NewSeriesOfCase(case_id)
        } else {
            tx.execute(
                "INSERT INTO cases (study_uid, case_key, exam_date, age_years, sex, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    series.study_uid,
                    key.case_key(&identity.site_code, &series.study_uid),
                    series.exam_date,
                    series.age_years,
                    series.sex,
                    now()
                ],
            )
            .map_err(err("add a case"))?;
            Added::NewCase(tx.last_insert_rowid())
        };
        let case_id = match added {
            Added::NewCase(id) | Added::NewSeriesOfCase(id) | Added::AlreadyImported(id) => id,
        };
        let files = serde_json::to_string(&series.files).unwrap_or_default();
        let folder = common_folder(&series.files).map(|f| f.to_string_lossy().into_owned());
        tx.execute(
            "INSERT INTO series (series_uid, case_id, slices, files, folder) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![series.series_uid, case_id, series.files.len() as i64, files, folder],
        )
        .map_err(err("add a series"))?;
        if let Some(info) = &series.info {
            write_series_info(&tx, info).map_err(err("record a series' headers"))?;
        }
        tx.commit().map_err(err("commit import"))?;
        Ok(added)
    }

    /// Records what the headers say of series already in the store (a case imported before
    /// the store kept them, opened now). Series not in the store are passed over.
    pub fn set_series_info(&mut self, infos: &[SeriesInfo]) -> Result<()> {
        let path = self.path.clone();
        let err = |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        let tx = self.conn.transaction().map_err(err("begin recording series headers"))?;
        for info in infos {
            write_series_info(&tx, info).map_err(err("record a series' headers"))?;
        }
        tx.commit().map_err(err("commit series headers"))
    }

    /// Every series of a case with its files and what its headers say, in import order.
    pub fn case_series_info(&self, case_id: i64) -> Result<Vec<StoredSeries>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT series_uid, files, slices, modality, plane, thickness_mm, coverage_mm, series_number, \
                 series_date FROM series WHERE case_id = ?1 ORDER BY id",
            )
            .map_err(self.err("read a case's series"))?;
        let rows = stmt
            .query_map([case_id], |r| {
                let files: String = r.get(1)?;
                let info = SeriesInfo {
                    series_uid: r.get(0)?,
                    slices: r.get(2)?,
                    modality: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    plane: Plane::from_code(r.get::<_, Option<String>>(4)?.as_deref().unwrap_or("")),
                    thickness_mm: r.get(5)?,
                    coverage_mm: r.get(6)?,
                    series_number: r.get(7)?,
                    date: r.get(8)?,
                    description: String::new(),
                };
                Ok((files, info))
            })
            .map_err(self.err("read a case's series"))?;
        let mut out = Vec::new();
        for row in rows {
            let (files, info) = row.map_err(self.err("read a case's series"))?;
            let files: Vec<PathBuf> = serde_json::from_str(&files)
                .map_err(|e| StoreError::Damaged { path: self.path.clone(), detail: format!("series files: {e}") })?;
            out.push(StoredSeries { files, info });
        }
        if out.is_empty() {
            return Err(StoreError::NoSuchCase { path: self.path.clone(), case_id });
        }
        Ok(out)
    }

    /// The files of each series of a case, largest series first.
    pub fn case_series(&self, case_id: i64) -> Result<Vec<(String, Vec<PathBuf>)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT series_uid, files FROM series WHERE case_id = ?1 ORDER BY slices DESC, id")
            .map_err(self.err("read a case's series"))?;
        let rows = stmt
            .query_map([case_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err("read a case's series"))?;
        let mut out = Vec::new();
        for row in rows {
            let (uid, files) = row.map_err(self.err("read a case's series"))?;
            let files: Vec<PathBuf> = serde_json::from_str(&files)
                .map_err(|e| StoreError::Damaged { path: self.path.clone(), detail: format!("series files: {e}") })?;
            out.push((uid, files));
        }
        if out.is_empty() {
            return Err(StoreError::NoSuchCase { path: self.path.clone(), case_id });
        }
        Ok(out)
    }

    pub fn case_count(&self) -> Result<i64> {
        self.conn.query_row("SELECT COUNT(*) FROM cases", [], |r| r.get(0)).map_err(self.err("count cases"))
    }

    pub fn series_count(&self) -> Result<i64> {
        self.conn.query_row("SELECT COUNT(*) FROM series", [], |r| r.get(0)).map_err(self.err("count series"))
    }

    // --- drafts and reviews ---

    /// Saves work in progress on a case (not a confirmation: no history, no outbox).
    pub fn save_draft(&self, case_id: i64, reader_id: &str, draft: &ReviewDraft) -> Result<()> {
        let json = serde_json::to_string(draft).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO drafts (case_id, reader_id, draft, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(case_id, reader_id) DO UPDATE SET draft = ?3, updated_at = ?4",
                params![case_id, reader_id, json, now()],
            )
            .map(|_| ())
            .map_err(self.err("save a draft"))
    }

    /// What the reader sees on opening a case: their draft, else their confirmed review.
    pub fn working_copy(&self, case_id: i64, reader_id: &str) -> Result<ReviewDraft> {
        let draft: Option<String> = self
            .conn
            .query_row(
                "SELECT draft FROM drafts WHERE case_id = ?1 AND reader_id = ?2",
                params![case_id, reader_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("read a draft"))?;
        if let Some(json) = draft {
            return serde_json::from_str(&json)
                .map_err(|e| StoreError::Damaged { path: self.path.clone(), detail: format!("draft: {e}") });
        }
        Ok(self
            .review(case_id, reader_id)?
            .map(|r| ReviewDraft { grade: Some(r.grade), pcr: Some(r.pcr), findings: r.findings, note: r.note })
            .unwrap_or_default())
    }

    /// Confirms the reader's review of a case in one transaction: the review (a new revision
    /// when anything changed), one history row per changed field, and an outbox entry for the
    /// sync service. Confirming an unchanged review changes nothing.
    #[allow(clippy::too_many_lines)] // one transaction, in the order the doc lists its writes
    pub fn confirm(&mut self, case_id: i64, identity: &Identity, draft: &ReviewDraft) -> Result<Review> {
        let grade = draft.grade.ok_or(StoreError::Incomplete { case_id, what: "the RSNA grade" })?;
        let pcr = draft.pcr.ok_or(StoreError::Incomplete { case_id, what: "the PCR status" })?;
        if !identity.problems().is_empty() {
            return Err(StoreError::NoIdentity);
        }
        let old = self.review(case_id, &identity.reader_id)?;
        let path = self.path.clone();
        let err = move |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        let reader = identity.reader_id.as_str();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err("begin confirm"))?;
        let case: Option<CaseFields> = tx
            .query_row("SELECT case_key, exam_date, age_years, sex FROM cases WHERE id = ?1", [case_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
            .map_err(err("read the case"))?;
        let Some((key, exam_date, age_years, sex)) = case else {
            return Err(StoreError::NoSuchCase { path: self.path.clone(), case_id });
        };
        let findings = draft.findings_codes();
        let unchanged = old
            .as_ref()
            .is_some_and(|o| o.grade == grade && o.pcr == pcr && o.findings == draft.findings && o.note == draft.note);
        tx.execute("DELETE FROM drafts WHERE case_id = ?1 AND reader_id = ?2", params![case_id, reader])
            .map_err(err("clear the draft"))?;
        if unchanged && let Some(old) = old {
            tx.commit().map_err(err("commit confirm"))?;
            return Ok(old);
        }
        let revision = old.as_ref().map_or(1, |o| o.revision + 1);
        let at = now();
        let ai: Option<(i64, Option<i64>, String)> = tx
            .query_row(
                "SELECT id, grade, models FROM ai_results WHERE case_id = ?1 ORDER BY model_set = 'bundled' DESC, id DESC LIMIT 1",
                [case_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err("read the AI result"))?;
        tx.execute(
            "INSERT INTO reviews (case_id, reader_id, site_code, postal_code, grade, pcr, findings, note, ai_result_id, revision, confirmed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT(case_id, reader_id) DO UPDATE SET site_code = ?3, postal_code = ?4, grade = ?5, pcr = ?6, \
             findings = ?7, note = ?8, ai_result_id = ?9, revision = ?10, confirmed_at = ?11",
            params![
                case_id,
                reader,
                identity.site_code,
                identity.postal_code,
                grade.number(),
                pcr.code(),
                findings,
                draft.note,
                ai.as_ref().map(|a| a.0),
                revision,
                at
            ],
        )
        .map_err(err("save the review"))?;
        let changes = [
            ("grade", old.as_ref().map(|o| o.grade.number().to_string()), grade.number().to_string()),
            ("pcr", old.as_ref().map(|o| o.pcr.code().to_owned()), pcr.code().to_owned()),
            (
                "findings",
                old.as_ref().map(|o| o.findings.iter().map(|f| f.code()).collect::<Vec<_>>().join(";")),
                findings.clone(),
            ),
            ("note", old.as_ref().map(|o| o.note.clone()), draft.note.clone()),
        ];
        for (field, before, after) in changes {
            if before.as_deref() != Some(after.as_str()) && !(before.is_none() && after.is_empty()) {
                insert_history(&tx, case_id, reader, field, before.as_deref(), Some(after.as_str()), revision)
                    .map_err(err("record the change in the history"))?;
            }
        }
        // The sync payload: a whitelist of fields, nothing identifying and no free text.
        let payload = LabelPayload {
            schema: lungdesk_domain::LABEL_SCHEMA.to_owned(),
            case_key: key.clone(),
            site_code: identity.site_code.clone(),
            facility_postal_code: identity.postal_code.clone(),
            exam_date,
            // The age band, never the exact age (the store keeps that for the site's own use).
            age_years: age_years.and_then(lungdesk_domain::age_band_start),
            sex: sex.filter(|s| matches!(s.as_str(), "M" | "F" | "O")),
            reader_id: reader.to_owned(),
            grade: grade.number(),
            pcr,
            findings: draft.findings.clone(),
            // "Cannot grade" never goes out as an AI grade.
            ai_grade: ai.as_ref().and_then(|a| a.1).and_then(|g| u8::try_from(g).ok()),
            ai_models: ai.as_ref().map(|a| serde_json::from_str::<Vec<String>>(&a.2).unwrap_or_default()),
            revision,
            confirmed_at: at.clone(),
        };
        let payload = serde_json::to_string(&payload).map_err(|e| StoreError::Payload(e.to_string()))?;
        tx.execute(
            "INSERT INTO outbox (idempotency_key, case_id, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![format!("{key}:{reader}:{revision}"), case_id, payload, at],
        )
        .map_err(err("queue the label for sync"))?;
        tx.commit().map_err(err("commit confirm"))?;
        Ok(Review {
            case_id,
            reader_id: reader.to_owned(),
            grade,
            pcr,
            findings: draft.findings.clone(),
            note: draft.note.clone(),
            revision,
            confirmed_at: at,
        })
    }

    /// The reader's confirmed review of a case.
    pub fn review(&self, case_id: i64, reader_id: &str) -> Result<Option<Review>> {
        Ok(self.reviews_where("case_id = ?1 AND reader_id = ?2", params![case_id, reader_id])?.pop())
    }

    /// Every reader's confirmed review of a case.
    pub fn reviews(&self, case_id: i64) -> Result<Vec<Review>> {
        self.reviews_where("case_id = ?1", params![case_id])
    }

    /// Every confirmed review in the store.
    pub fn all_reviews(&self) -> Result<Vec<Review>> {
        self.reviews_where("1 = 1", params![])
    }

    fn reviews_where(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Review>> {
        let sql = format!(
            "SELECT case_id, reader_id, grade, pcr, findings, note, revision, confirmed_at FROM reviews WHERE {filter} ORDER BY case_id, reader_id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err("read reviews"))?;
        let rows = stmt
            .query_map(args, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(self.err("read reviews"))?;
        let mut out = Vec::new();
        for row in rows {
            let (case_id, reader_id, grade, pcr, findings, note, revision, confirmed_at) =
                row.map_err(self.err("read reviews"))?;
            let damaged = |detail: String| StoreError::Damaged { path: self.path.clone(), detail };
            out.push(Review {
                case_id,
                reader_id,
                grade: Grade::from_number(grade).ok_or_else(|| damaged(format!("grade {grade}")))?,
                pcr: Pcr::from_code(&pcr).ok_or_else(|| damaged(format!("PCR {pcr}")))?,
                findings: parse_findings(&findings).map_err(damaged)?,
                note,
                revision,
                confirmed_at,
            });
        }
        Ok(out)
    }

    /// The history of a case, oldest first.
    pub fn history(&self, case_id: i64) -> Result<Vec<HistoryEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT case_id, reader_id, at, field, old, new, revision FROM history WHERE case_id = ?1 ORDER BY id",
            )
            .map_err(self.err("read the history"))?;
        stmt.query_map([case_id], |r| {
            Ok(HistoryEntry {
                case_id: r.get(0)?,
                reader_id: r.get(1)?,
                at: r.get(2)?,
                field: r.get(3)?,
                old: r.get(4)?,
                new: r.get(5)?,
                revision: r.get(6)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(self.err("read the history"))
    }

    // --- worklist and disagreements ---

    /// Every case with its status for `reader_id`, in import order.
    pub fn worklist(&self, reader_id: &str) -> Result<Vec<CaseRow>> {
        self.worklist_where(reader_id, None)
    }

    /// One case's worklist row.
    pub fn worklist_row(&self, case_id: i64, reader_id: &str) -> Result<Option<CaseRow>> {
        Ok(self.worklist_where(reader_id, Some(case_id))?.pop())
    }

    fn worklist_where(&self, reader_id: &str, case_id: Option<i64>) -> Result<Vec<CaseRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.id, c.case_key, c.exam_date, c.age_years, c.sex, 0, \
                   (SELECT grade FROM ai_results a WHERE a.case_id = c.id ORDER BY a.model_set = 'bundled' DESC, a.id DESC LIMIT 1), \
                   r.grade, r.pcr, r.revision, \
                   EXISTS (SELECT 1 FROM drafts d WHERE d.case_id = c.id AND d.reader_id = ?1), \
                   EXISTS (SELECT 1 FROM reviews x JOIN reviews y ON x.case_id = y.case_id AND x.reader_id < y.reader_id \
                           WHERE x.case_id = c.id AND (x.grade <> y.grade OR x.pcr <> y.pcr)), \
                   (SELECT cannot_grade_code FROM ai_results a WHERE a.case_id = c.id ORDER BY a.model_set = 'bundled' DESC, a.id DESC LIMIT 1), \
                   (SELECT scores FROM ai_results a WHERE a.case_id = c.id ORDER BY a.model_set = 'bundled' DESC, a.id DESC LIMIT 1) \
                 FROM cases c LEFT JOIN reviews r ON r.case_id = c.id AND r.reader_id = ?1 \
                 WHERE ?2 IS NULL OR c.id = ?2 ORDER BY c.id",
            )
            .map_err(self.err("read the worklist"))?;
        let rows = stmt
            .query_map(params![reader_id, case_id], |r| {
                let ai_grade: Option<i64> = r.get(6)?;
                let grade: Option<i64> = r.get(7)?;
                let pcr: Option<String> = r.get(8)?;
                let draft: bool = r.get(10)?;
                let split: bool = r.get(11)?;
                let ai_cannot_grade: Option<String> = r.get(12)?;
                let ai_scores: Option<String> = r.get(13)?;
                let grade = grade.and_then(Grade::from_number);
                let ai_grade = ai_grade.and_then(Grade::from_number);
                let ai_confidence = ai_grade.and_then(|g| ai_confidence(ai_scores.as_deref()?, g));
                let status = if split {
                    CaseStatus::NeedsAdjudication
                } else if draft {
                    CaseStatus::InReview
                } else if grade.is_some() {
                    CaseStatus::Confirmed
                } else if ai_grade.is_some() || ai_cannot_grade.is_some() {
                    CaseStatus::AiDone
                } else {
                    CaseStatus::New
                };
                Ok(CaseRow {
                    case_id: r.get(0)?,
                    case_key: r.get(1)?,
                    exam_date: r.get(2)?,
                    age_years: r.get(3)?,
                    sex: r.get(4)?,
                    slices: r.get(5)?,
                    series: 0,
                    thickness_mm: None,
                    folder: None,
                    status,
                    ai_grade,
                    ai_cannot_grade,
                    ai_confidence,
                    grade,
                    pcr: pcr.as_deref().and_then(Pcr::from_code),
                    revision: r.get(9)?,
                })
            })
            .map_err(self.err("read the worklist"))?;
        let mut rows = rows.collect::<std::result::Result<Vec<_>, _>>().map_err(self.err("read the worklist"))?;
        self.add_series_columns(&mut rows, case_id)?;
        Ok(rows)
    }

    /// Series count, and slices, thickness and folder of the series the desk opens for reading.
    /// `rows` are in case id order.
    fn add_series_columns(&self, rows: &mut [CaseRow], case_id: Option<i64>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT case_id, slices, modality, plane, thickness_mm, coverage_mm, series_number, folder \
                 FROM series WHERE ?1 IS NULL OR case_id = ?1 ORDER BY case_id, id",
            )
            .map_err(self.err("read the worklist's series"))?;
        let series = stmt
            .query_map([case_id], |r| {
                let info = SeriesInfo {
                    series_uid: String::new(),
                    slices: r.get(1)?,
                    modality: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    plane: Plane::from_code(r.get::<_, Option<String>>(3)?.as_deref().unwrap_or("")),
                    thickness_mm: r.get(4)?,
                    coverage_mm: r.get(5)?,
                    series_number: r.get(6)?,
                    date: None,
                    description: String::new(),
                };
                Ok((r.get::<_, i64>(0)?, info, r.get::<_, Option<String>>(7)?))
            })
            .map_err(self.err("read the worklist's series"))?;
        let mut at = 0;
        let mut group: Vec<(SeriesInfo, Option<String>)> = Vec::new();
        let mut group_case = None;
        let mut flush = |case: Option<i64>, group: &mut Vec<(SeriesInfo, Option<String>)>| {
            let Some(case) = case else { return };
            while at < rows.len() && rows[at].case_id < case {
                at += 1;
            }
            if let Some(row) = rows.get_mut(at).filter(|r| r.case_id == case) {
                let infos: Vec<SeriesInfo> = group.iter().map(|(i, _)| i.clone()).collect();
                if let Some(best) = lungdesk_volume::best_for_reading(&infos) {
                    row.series = group.len() as i64;
                    row.slices = infos[best].slices;
                    row.thickness_mm = infos[best].thickness_mm;
                    row.folder.clone_from(&group[best].1);
                }
            }
            group.clear();
        };
        for s in series {
            let (case, info, folder) = s.map_err(self.err("read the worklist's series"))?;
            if group_case != Some(case) {
                flush(group_case, &mut group);
                group_case = Some(case);
            }
            group.push((info, folder));
        }
        flush(group_case, &mut group);
        Ok(())
    }

    /// Cases where a reader's grade differs from the AI's, or contradicts the PCR result, and
    /// the confusion matrix of AI grade against reader grade, over every reader in the store.
    pub fn disagreements(&self) -> Result<(Vec<Disagreement>, Confusion)> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.case_id, c.case_key, r.reader_id, r.grade, r.pcr, \
                   (SELECT grade FROM ai_results a WHERE a.case_id = r.case_id ORDER BY a.model_set = 'bundled' DESC, a.id DESC LIMIT 1) \
                 FROM reviews r JOIN cases c ON c.id = r.case_id ORDER BY r.case_id, r.reader_id",
            )
            .map_err(self.err("read disagreements"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .map_err(self.err("read disagreements"))?;
        let mut list = Vec::new();
        let mut confusion = Confusion::default();
        for row in rows {
            let (case_id, case_key, reader_id, grade, pcr, ai) = row.map_err(self.err("read disagreements"))?;
            let damaged = |detail: String| StoreError::Damaged { path: self.path.clone(), detail };
            let grade = Grade::from_number(grade).ok_or_else(|| damaged(format!("grade {grade}")))?;
            let pcr = Pcr::from_code(&pcr).ok_or_else(|| damaged(format!("PCR {pcr}")))?;
            let ai_grade = ai.and_then(Grade::from_number);
            match ai_grade {
                Some(a) => confusion.counts[usize::from(a.number() - 1)][usize::from(grade.number() - 1)] += 1,
                None => confusion.without_ai += 1,
            }
            let base =
                Disagreement { case_id, case_key, reader_id, kind: DisagreementKind::ReaderVsAi, ai_grade, grade, pcr };
            if ai_grade.is_some_and(|a| a != grade) {
                list.push(base.clone());
            }
            if matches!((pcr, grade), (Pcr::Positive, Grade::Negative) | (Pcr::Negative, Grade::Typical)) {
                list.push(Disagreement { kind: DisagreementKind::PcrVsGrade, ..base });
            }
        }
        Ok((list, confusion))
    }

    // --- outbox ---

    /// Labels not yet accepted by the service, oldest first.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxItem>> {
        self.outbox_where("sent_at IS NULL AND conflict IS NULL", limit)
    }

    /// The labels to send now ([`Store::outbox_pending`]), marked as taken for sending in the
    /// same transaction: from here on the service may hold them under their case key, so a new
    /// site key leaves their cases' keys as they are ([`Store::set_identity`]).
    pub fn outbox_take_for_sending(&mut self, limit: usize) -> Result<Vec<OutboxItem>> {
        let path = self.path.clone();
        let err = move |source| StoreError::Sql { path: path.clone(), step: "take labels for sending", source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let items = outbox_select(&tx, "sent_at IS NULL AND conflict IS NULL", limit).map_err(&err)?;
        {
            let mut mark = tx
                .prepare_cached("UPDATE outbox SET sending_at = ?2 WHERE id = ?1 AND sending_at IS NULL")
                .map_err(&err)?;
            let at = now();
            for item in &items {
                mark.execute(params![item.id, at]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(items)
    }

    /// The service accepted the label (or already had it, identical).
    pub fn mark_sent(&self, outbox_id: i64) -> Result<()> {
        self.conn
            .execute("UPDATE outbox SET sent_at = ?2, last_error = NULL WHERE id = ?1", params![outbox_id, now()])
            .map_err(self.err("mark a label as sent"))?;
        Ok(())
    }

    /// Many labels accepted at once: one transaction (one fsync) for a whole batch.
    pub fn mark_sent_many(&mut self, outbox_ids: &[i64]) -> Result<()> {
        let at = now();
        let path = self.path.clone();
        let err = move |source| StoreError::Sql { path: path.clone(), step: "mark labels as sent", source };
        let tx = self.conn.transaction().map_err(&err)?;
        {
            let mut stmt =
                tx.prepare_cached("UPDATE outbox SET sent_at = ?2, last_error = NULL WHERE id = ?1").map_err(&err)?;
            for id in outbox_ids {
                stmt.execute(params![id, at]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// A try that failed and will be retried; `error` is shown to the user.
    pub fn record_attempt(&self, outbox_id: i64, error: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![outbox_id, error],
            )
            .map_err(self.err("record a sync attempt"))?;
        Ok(())
    }

    /// The service holds this label differently (or refuses it): it is not retried and is shown
    /// to the user, who resolves it by confirming a new revision.
    pub fn mark_conflict(&self, outbox_id: i64, why: &str) -> Result<()> {
        self.conn
            .execute("UPDATE outbox SET attempts = attempts + 1, conflict = ?2 WHERE id = ?1", params![outbox_id, why])
            .map_err(self.err("record a sync conflict"))?;
        Ok(())
    }

    /// Per case with anything in the outbox: its latest label's sync state.
    pub fn sync_states(&self) -> Result<HashMap<i64, SyncState>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT case_id, sent_at IS NOT NULL, conflict, last_error FROM outbox o \
                 WHERE id = (SELECT MAX(id) FROM outbox WHERE case_id = o.case_id)",
            )
            .map_err(self.err("read the sync state"))?;
        stmt.query_map([], |r| {
            let sent: bool = r.get(1)?;
            let conflict: Option<String> = r.get(2)?;
            let error: Option<String> = r.get(3)?;
            let state = match (conflict, sent) {
                (Some(why), _) => SyncState::Conflict(why),
                (None, true) => SyncState::Sent,
                (None, false) => SyncState::Pending { error },
            };
            Ok((r.get(0)?, state))
        })
        .and_then(Iterator::collect)
        .map_err(self.err("read the sync state"))
    }

    /// Counts of the whole outbox by state.
    pub fn sync_summary(&self) -> Result<SyncSummary> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FILTER (WHERE sent_at IS NULL AND conflict IS NULL), \
                 COUNT(*) FILTER (WHERE sent_at IS NOT NULL), COUNT(*) FILTER (WHERE conflict IS NOT NULL), \
                 (SELECT last_error FROM outbox WHERE sent_at IS NULL AND conflict IS NULL AND last_error IS NOT NULL \
                  ORDER BY id DESC LIMIT 1) FROM outbox",
                [],
                |r| {
                    Ok(SyncSummary { pending: r.get(0)?, sent: r.get(1)?, conflicts: r.get(2)?, last_error: r.get(3)? })
                },
            )
            .map_err(self.err("read the sync summary"))
    }

    /// Keeps labels pulled from the service (idempotent: a label seen twice is kept once).
    pub fn add_shared_labels(&mut self, labels: &[SharedLabel]) -> Result<()> {
        let path = self.path.clone();
        let err = move |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        let tx = self.conn.transaction().map_err(err("begin saving pulled labels"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO remote_labels (id, case_key, site_code, reader_id, revision, grade, pcr, findings, ai_grade, confirmed_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
                )
                .map_err(err("save pulled labels"))?;
            for l in labels {
                let findings = l.findings.iter().map(|f| f.code()).collect::<Vec<_>>().join(";");
                stmt.execute(params![
                    l.id,
                    l.case_key,
                    l.site_code,
                    l.reader_id,
                    l.revision,
                    l.grade,
                    l.pcr.code(),
                    findings,
                    l.ai_grade,
                    l.confirmed_at
                ])
                .map_err(err("save pulled labels"))?;
            }
        }
        tx.commit().map_err(err("commit pulled labels"))
    }

    /// The service's receipt number of the last label pulled: where the next pull starts.
    pub fn last_shared_label_id(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM remote_labels", [], |r| r.get(0))
            .map_err(self.err("read the pulled labels"))
    }

    /// The latest revision of each reader's label of this case, as the service holds them.
    pub fn shared_labels(&self, case_id: i64) -> Result<Vec<SharedLabel>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.id, r.case_key, r.site_code, r.reader_id, r.revision, r.grade, r.pcr, r.findings, r.ai_grade, r.confirmed_at \
                 FROM remote_labels r JOIN cases c ON c.case_key = r.case_key WHERE c.id = ?1 \
                 AND r.revision = (SELECT MAX(revision) FROM remote_labels WHERE case_key = r.case_key AND reader_id = r.reader_id) \
                 ORDER BY r.reader_id",
            )
            .map_err(self.err("read the pulled labels"))?;
        stmt.query_map([case_id], |r| {
            let pcr: String = r.get(6)?;
            let findings: String = r.get(7)?;
            Ok(SharedLabel {
                id: r.get(0)?,
                case_key: r.get(1)?,
                site_code: r.get(2)?,
                reader_id: r.get(3)?,
                revision: r.get(4)?,
                grade: r.get(5)?,
                pcr: Pcr::from_code(&pcr).unwrap_or(Pcr::Pending),
                findings: findings.split(';').filter_map(Finding::from_code).collect(),
                ai_grade: r.get(8)?,
                confirmed_at: r.get(9)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(self.err("read the pulled labels"))
    }

    /// The whole outbox, oldest first.
    pub fn outbox_all(&self) -> Result<Vec<OutboxItem>> {
        self.outbox_where("1 = 1", usize::MAX)
    }

    fn outbox_where(&self, filter: &str, limit: usize) -> Result<Vec<OutboxItem>> {
        outbox_select(&self.conn, filter, limit).map_err(self.err("read the outbox"))
    }

    /// The raw connection, for the exporters and tests that inspect the file.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Outbox entries matching `filter` (a constant of this module), oldest first.
fn outbox_select(conn: &Connection, filter: &str, limit: usize) -> rusqlite::Result<Vec<OutboxItem>> {
    let sql = format!(
        "SELECT id, idempotency_key, payload, created_at, sent_at, attempts FROM outbox WHERE {filter} ORDER BY id LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok(OutboxItem {
            id: r.get(0)?,
            idempotency_key: r.get(1)?,
            payload: r.get(2)?,
            created_at: r.get(3)?,
            sent_at: r.get(4)?,
            attempts: r.get(5)?,
        })
    })
    .and_then(Iterator::collect)
}

/// Gives every case that has not left this desk its case key under `key`, and returns how
/// many changed. A case has left when any of its labels was sent, taken for sending or tried
/// (the service may hold it under its key) or other readers' labels of it were pulled; such a case keeps its
/// key, so its later revisions still reach the same case at the service. The unsent outbox
/// entries of a re-keyed case get the new key in their payload and idempotency key.
fn rekey_cases(tx: &rusqlite::Transaction<'_>, key: &crate::SiteKey, site_code: &str) -> rusqlite::Result<usize> {
    let cases: Vec<(i64, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT c.id, c.study_uid, c.case_key FROM cases c WHERE NOT EXISTS (SELECT 1 FROM outbox o \
             WHERE o.case_id = c.id AND (o.sent_at IS NOT NULL OR o.sending_at IS NOT NULL OR o.attempts > 0 \
             OR o.conflict IS NOT NULL)) \
             AND NOT EXISTS (SELECT 1 FROM remote_labels r WHERE r.case_key = c.case_key)",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
    };
    let mut changed = 0;
    for (case_id, study_uid, old) in cases {
        let new = key.case_key(site_code, &study_uid);
        if new == old {
            continue;
        }
        tx.execute("UPDATE cases SET case_key = ?1 WHERE id = ?2", params![new, case_id])?;
        let entries: Vec<(i64, String, String)> = {
            let mut stmt = tx.prepare("SELECT id, idempotency_key, payload FROM outbox WHERE case_id = ?1")?;
            stmt.query_map([case_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
        };
        for (id, idempotency_key, payload) in entries {
            let mut label: LabelPayload =
                serde_json::from_str(&payload).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            label.case_key.clone_from(&new);
            let payload =
                serde_json::to_string(&label).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let idempotency_key = idempotency_key
                .strip_prefix(old.as_str())
                .map_or_else(|| label.idempotency_key(), |rest| format!("{new}{rest}"));
            tx.execute(
                "UPDATE outbox SET payload = ?1, idempotency_key = ?2 WHERE id = ?3",
                params![payload, idempotency_key, id],
            )?;
        }
        changed += 1;
    }
    Ok(changed)
}

fn insert_history(
    tx: &Transaction<'_>,
    case_id: i64,
    reader_id: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    revision: i64,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO history (case_id, reader_id, at, field, old, new, revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![case_id, reader_id, now(), field, old, new, revision],
    )
}

fn parse_findings(codes: &str) -> std::result::Result<Vec<Finding>, String> {
    codes
        .split(';')
        .filter(|c| !c.is_empty())
        .map(|c| Finding::from_code(c).ok_or_else(|| format!("finding {c}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AiCannotGrade, AiResult};

    pub(crate) fn reader(id: &str) -> Identity {
        Identity {
            reader_id: id.into(),
            display_name: "Test Reader".into(),
            site_code: "SITE-A".into(),
            postal_code: "466-8560".into(),
            site_key: Some(crate::SiteKey::from_bytes([7; 32])),
        }
    }

    fn series(n: usize) -> NewSeries {
        NewSeries {
            study_uid: format!("1.2.3.{n}"),
            series_uid: format!("1.2.3.{n}.1"),
            exam_date: Some("2026-04-01".into()),
            age_years: Some(61),
            sex: Some("M".into()),
            files: vec![PathBuf::from(format!("/data/{n}/1.dcm"))],
            info: None,
        }
    }

    /// Case 1 with one series of two files, as a build before schema 6 wrote it (no header
    /// columns, no folder).
    fn insert_old_case(old: &Store) {
        old.connection()
            .execute_batch(
                "INSERT INTO cases (study_uid, case_key, exam_date, age_years, sex, imported_at) \
                 VALUES ('1.2.3.1', '00000000000000aa', '2026-04-01', 61, 'M', '2026-01-01T00:00:00.000Z'); \
                 INSERT INTO series (series_uid, case_id, slices, files) \
                 VALUES ('1.2.3.1.1', 1, 2, '[\"/data/old/1.dcm\",\"/data/old/2.dcm\"]');",
            )
            .expect("an old case");
    }

    fn info(uid: &str, plane: Plane, slices: i64, thickness_mm: f64) -> SeriesInfo {
        SeriesInfo {
            series_uid: uid.into(),
            modality: "CT".into(),
            plane,
            slices,
            thickness_mm: Some(thickness_mm),
            coverage_mm: Some(300.0),
            series_number: Some(slices),
            date: Some("20260401".into()),
            description: "Thorax 1.0 B70f".into(),
        }
    }

    #[test]
    fn an_ai_read_that_could_not_grade_goes_out_as_its_code_never_as_a_grade() {
        let (_d, mut s) = store();
        let me = reader("R1");
        s.add_series(&me, &series(1)).expect("add");
        assert_eq!(s.ai_read_payload(1, &me, "bundled").expect("read"), None, "not read yet");
        let ai = AiResult {
            series_uid: "1.2.3.1.1".into(),
            grade: None,
            cannot_grade: Some(AiCannotGrade { code: "single_slice".into(), reason: "one image".into() }),
            scores: [0.0; 4],
            explanation: String::new(),
            method: "test".into(),
            models: vec!["lungdesk-lesion 2.0.0".into()],
            involvement_percent: None,
            severity_score: None,
        };
        s.set_ai_result(1, &ai).expect("AI result");
        let read = s.ai_read_payload(1, &me, "bundled").expect("read").expect("an AI read");
        assert_eq!((read.grade, read.cannot_grade.as_deref()), (None, Some("single_slice")));
        assert_eq!(read.age_years, Some(60), "the age band of a 61-year-old");
        assert_eq!(read.idempotency_key(), format!("{}:bundled:lungdesk-lesion 2.0.0", read.case_key));
        read.validate().expect("valid");
        assert!(!serde_json::to_string(&read).expect("json").contains("one image"), "the code, not the text");
    }

    #[test]
    fn each_model_sets_read_is_queued_once_and_the_baseline_never() {
        let (_d, mut s) = store();
        let me = reader("R1");
        for n in 1..=3 {
            s.add_series(&me, &series(n)).expect("add");
        }
        let models = vec!["lungdesk-lung 1.0.0".to_owned(), "lungdesk-lesion 2.0.0".to_owned()];
        let read = |grade, models: &[String]| AiResult {
            series_uid: "x".into(),
            grade: Some(grade),
            cannot_grade: None,
            scores: [0.7, 0.2, 0.1, 0.0],
            explanation: "why".into(),
            method: "test".into(),
            models: models.to_vec(),
            involvement_percent: Some(12.5),
            severity_score: Some(7),
        };
        assert_eq!(s.cases_to_read("bundled", &models).expect("todo"), vec![1, 2, 3]);
        s.set_ai_result(1, &read(Grade::Typical, &models)).expect("desk read");
        assert!(s.record_ai_read(2, "site-v2", &read(Grade::Atypical, &["site 2.0".to_owned()])).expect("site read"));
        s.set_ai_result(3, &read(Grade::Typical, &[])).expect("HU baseline read");
        assert_eq!(s.cases_to_read("bundled", &models).expect("todo"), vec![2, 3], "case 1 is read by this version");
        assert_eq!(s.cases_to_read("site-v2", &["site 2.0".to_owned()]).expect("todo"), vec![1, 3]);
        assert_eq!(s.queue_ai_reads(&me).expect("queue"), 2, "two trained-model reads; the baseline stays home");
        assert_eq!(s.queue_ai_reads(&me).expect("queue"), 0, "queued once");
        // The same version reading case 1 again (another grade): the key is taken, not sent again.
        s.set_ai_result(1, &read(Grade::Indeterminate, &models)).expect("read again");
        assert_eq!(s.queue_ai_reads(&me).expect("queue"), 0);
        let pending = s.ai_reads_pending(10).expect("pending");
        assert_eq!(pending.len(), 2);
        let sets: Vec<&str> = pending.iter().map(|p| p.payload.model_set.as_str()).collect();
        assert_eq!(sets, ["bundled", "site-v2"]);
        assert_eq!(pending[0].payload.involvement_percent, Some(12.5));
        assert_eq!(pending[0].payload.severity_score, Some(7));
        for p in &pending {
            p.payload.validate().expect("valid");
        }
        s.mark_ai_reads_sent(&[pending[0].id]).expect("sent");
        s.mark_ai_read_refused(pending[1].id, "409").expect("refused");
        assert!(s.ai_reads_pending(10).expect("pending").is_empty());
        assert_eq!(s.ai_read_summary().expect("summary"), (0, 1, 1));
        // The desk shows the bundled set's read even when another set read later.
        assert!(s.record_ai_read(1, "site-v2", &read(Grade::Negative, &["site 2.0".to_owned()])).expect("site"));
        assert_eq!(s.ai_result(1).expect("ai").and_then(|a| a.grade), Some(Grade::Indeterminate));
    }

    #[test]
    fn the_worklist_shows_the_series_the_desk_reads_and_its_folder() {
        let (_d, mut s) = store();
        let me = reader("R1");
        let sagittal = NewSeries {
            series_uid: "1.2.3.1.9".into(),
            files: (0..400).map(|i| PathBuf::from(format!("/data/1/sag/{i}.dcm"))).collect(),
            info: Some(info("1.2.3.1.9", Plane::Sagittal, 400, 1.0)),
            ..series(1)
        };
        let axial = NewSeries {
            series_uid: "1.2.3.1.2".into(),
            files: (0..240).map(|i| PathBuf::from(format!("/data/1/ax/{i}.dcm"))).collect(),
            info: Some(info("1.2.3.1.2", Plane::Axial, 240, 1.25)),
            ..series(1)
        };
        s.add_series(&me, &sagittal).expect("sagittal");
        s.add_series(&me, &axial).expect("axial");
        s.add_series(&me, &series(2)).expect("a case imported without headers");
        let rows = s.worklist("R1").expect("worklist");
        assert_eq!((rows[0].series, rows[0].slices, rows[0].thickness_mm), (2, 240, Some(1.25)));
        assert_eq!(rows[0].folder.as_deref(), Some("/data/1/ax"));
        assert_eq!((rows[1].series, rows[1].slices, rows[1].thickness_mm), (1, 1, None));
        let stored = s.case_series_info(rows[0].case_id).expect("series");
        assert_eq!(stored.len(), 2);
        let without_text = SeriesInfo { description: String::new(), ..info("1.2.3.1.2", Plane::Axial, 240, 1.25) };
        assert_eq!(stored[1].info, without_text, "all but the description (free text stays out of the store)");
        // Headers read when the case is opened fill in what an old import lacked.
        let uid = series(2).series_uid;
        s.set_series_info(&[info(&uid, Plane::Axial, 1, 5.0)]).expect("set");
        assert_eq!(s.worklist_row(rows[1].case_id, "R1").expect("row").and_then(|r| r.thickness_mm), Some(5.0));
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("labels.sqlite")).expect("open");
        (dir, store)
    }

    /// The store holds the service token: its file (and SQLite's -wal beside it) is readable by
    /// its owner only, also when it existed with wider permissions.
    #[cfg(unix)]
    #[test]
    fn the_store_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.sqlite");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        {
            let store = Store::open(&path).expect("open");
            store.set_setting("cloud", "{}").expect("write");
            assert_eq!(mode(&path), 0o600);
            let wal = dir.path().join("labels.sqlite-wal");
            assert!(!wal.exists() || mode(&wal) == 0o600, "{:o}", mode(&wal));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(Store::open(&path).expect("reopen"));
        assert_eq!(mode(&path), 0o600, "an existing store is tightened");
    }

    fn draft(grade: Grade, pcr: Pcr) -> ReviewDraft {
        ReviewDraft { grade: Some(grade), pcr: Some(pcr), ..ReviewDraft::default() }
    }

    #[test]
    fn series_are_deduplicated_and_grouped_by_study() {
        let (_dir, mut s) = store();
        assert_eq!(s.add_series(&reader("R1"), &series(1)).expect("add"), Added::NewCase(1));
        assert_eq!(s.add_series(&reader("R1"), &series(1)).expect("add"), Added::AlreadyImported(1));
        let moved = NewSeries { files: vec![PathBuf::from("/moved/1.dcm")], ..series(1) };
        assert_eq!(s.add_series(&reader("R1"), &moved).expect("add"), Added::AlreadyImported(1));
        assert_eq!(s.case_series(1).expect("files")[0].1, moved.files, "a moved series is relinked");
        let second = NewSeries { series_uid: "1.2.3.1.2".into(), ..series(1) };
        assert_eq!(s.add_series(&reader("R1"), &second).expect("add"), Added::NewSeriesOfCase(1));
        assert_eq!((s.case_count().expect("count"), s.series_count().expect("count")), (1, 2));
        let row = &s.worklist("R1").expect("worklist")[0];
        assert_eq!((row.series, row.slices), (2, 1), "two series; the one read has one image");
        assert_eq!(row.folder.as_deref(), Some("/moved"), "the relinked series' folder");
    }

    #[test]
    fn confirming_writes_review_history_and_outbox_once_per_change() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        let me = reader("R1");
        let first = s.confirm(1, &me, &draft(Grade::Typical, Pcr::Positive)).expect("confirm");
        assert_eq!(first.revision, 1);
        // Unchanged: nothing new.
        assert_eq!(s.confirm(1, &me, &draft(Grade::Typical, Pcr::Positive)).expect("again").revision, 1);
        let mut changed = draft(Grade::Indeterminate, Pcr::Positive);
        changed.toggle(Finding::CrazyPaving);
        let second = s.confirm(1, &me, &changed).expect("change");
        assert_eq!(second.revision, 2);
        let history = s.history(1).expect("history");
        let fields: Vec<_> = history.iter().map(|h| (h.field.as_str(), h.old.as_deref(), h.new.as_deref())).collect();
        assert_eq!(
            fields,
            vec![
                ("grade", None, Some("1")),
                ("pcr", None, Some("positive")),
                ("grade", Some("1"), Some("2")),
                ("findings", Some(""), Some("crazy_paving")),
            ]
        );
        let outbox = s.outbox_pending(100).expect("outbox");
        assert_eq!(outbox.len(), 2);
        assert!(outbox[1].idempotency_key.ends_with(":R1:2"));
        // The case was imported at 61: the payload carries its band (60 = 60–69), and the
        // service's validation accepts it; the exact age stays in the local store.
        let payload: LabelPayload = serde_json::from_str(&outbox[0].payload).expect("payload");
        assert_eq!(payload.age_years, Some(60));
        assert!(!outbox[0].payload.contains("\"age_years\":61"), "no exact age in {}", outbox[0].payload);
        assert_eq!(payload.validate(), Ok(()));
        assert_eq!(s.worklist("R1").expect("worklist")[0].status, CaseStatus::Confirmed);
        assert_eq!(s.worklist("R2").expect("worklist")[0].status, CaseStatus::New);
    }

    #[test]
    fn sync_state_follows_the_outbox_and_pulled_labels_are_kept_once() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        s.add_series(&reader("R1"), &series(2)).expect("add");
        let me = reader("R1");
        s.confirm(1, &me, &draft(Grade::Typical, Pcr::Positive)).expect("confirm");
        s.confirm(2, &me, &draft(Grade::Atypical, Pcr::Negative)).expect("confirm");
        let pending = s.outbox_pending(10).expect("outbox");
        assert_eq!(s.sync_states().expect("states").get(&1), Some(&SyncState::Pending { error: None }));
        s.record_attempt(pending[0].id, "the service cannot be reached").expect("attempt");
        assert_eq!(
            s.sync_states().expect("states").get(&1),
            Some(&SyncState::Pending { error: Some("the service cannot be reached".into()) })
        );
        s.mark_sent(pending[0].id).expect("sent");
        s.mark_conflict(pending[1].id, "held differently").expect("conflict");
        let states = s.sync_states().expect("states");
        assert_eq!(states.get(&1), Some(&SyncState::Sent));
        assert_eq!(states.get(&2), Some(&SyncState::Conflict("held differently".into())));
        assert!(s.outbox_pending(10).expect("outbox").is_empty(), "a conflict is not retried");
        assert_eq!(
            s.sync_summary().expect("summary"),
            SyncSummary { pending: 0, sent: 1, conflicts: 1, last_error: None }
        );
        // A new revision of the conflicting case is pending again.
        s.confirm(2, &me, &draft(Grade::Negative, Pcr::Negative)).expect("confirm");
        assert_eq!(s.sync_states().expect("states").get(&2), Some(&SyncState::Pending { error: None }));

        let key: String =
            s.connection().query_row("SELECT case_key FROM cases WHERE id = 1", [], |r| r.get(0)).expect("key");
        let other = SharedLabel {
            id: 7,
            case_key: key,
            site_code: "SITE-A".into(),
            reader_id: "R2".into(),
            revision: 1,
            grade: 3,
            pcr: Pcr::Positive,
            findings: vec![Finding::CrazyPaving],
            ai_grade: None,
            confirmed_at: now(),
        };
        s.add_shared_labels(&[other.clone(), other.clone()]).expect("pulled");
        s.add_shared_labels(&[SharedLabel { id: 9, revision: 2, grade: 4, ..other.clone() }]).expect("pulled");
        assert_eq!(s.last_shared_label_id().expect("last"), 9);
        let shared = s.shared_labels(1).expect("shared");
        assert_eq!(shared.len(), 1, "the latest revision per reader");
        assert_eq!((shared[0].revision, shared[0].grade), (2, 4));
        assert!(s.shared_labels(2).expect("shared").is_empty());
    }

    #[test]
    fn an_incomplete_review_is_refused_and_nothing_is_written() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        let e = s.confirm(1, &reader("R1"), &ReviewDraft { grade: Some(Grade::Typical), ..ReviewDraft::default() });
        assert!(matches!(e, Err(StoreError::Incomplete { what: "the PCR status", .. })), "{e:?}");
        assert!(s.all_reviews().expect("reviews").is_empty());
        assert!(s.outbox_all().expect("outbox").is_empty());
        let e = s.confirm(99, &reader("R1"), &draft(Grade::Typical, Pcr::Positive));
        assert!(matches!(e, Err(StoreError::NoSuchCase { case_id: 99, .. })), "{e:?}");
    }

    #[test]
    fn history_cannot_be_changed_or_deleted() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        s.confirm(1, &reader("R1"), &draft(Grade::Typical, Pcr::Positive)).expect("confirm");
        let update = s.connection().execute("UPDATE history SET new = '4'", []);
        assert!(update.is_err_and(|e| e.to_string().contains("append-only")));
        let delete = s.connection().execute("DELETE FROM history", []);
        assert!(delete.is_err_and(|e| e.to_string().contains("append-only")));
        assert_eq!(s.history(1).expect("history").len(), 2);
    }

    #[test]
    fn drafts_show_in_review_and_clear_on_confirm() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        let mut d =
            ReviewDraft { grade: Some(Grade::Atypical), note: "右下葉に結節".into(), ..ReviewDraft::default() };
        s.save_draft(1, "R1", &d).expect("draft");
        assert_eq!(s.worklist("R1").expect("worklist")[0].status, CaseStatus::InReview);
        assert_eq!(s.working_copy(1, "R1").expect("copy"), d);
        d.pcr = Some(Pcr::Pending);
        s.confirm(1, &reader("R1"), &d).expect("confirm");
        assert_eq!(s.worklist("R1").expect("worklist")[0].status, CaseStatus::Confirmed);
        assert_eq!(s.working_copy(1, "R1").expect("copy"), d);
    }

    #[test]
    fn readers_who_disagree_make_a_case_need_adjudication() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        s.confirm(1, &reader("R1"), &draft(Grade::Typical, Pcr::Positive)).expect("confirm");
        s.confirm(1, &reader("R2"), &draft(Grade::Typical, Pcr::Positive)).expect("confirm");
        assert_eq!(s.worklist("R1").expect("worklist")[0].status, CaseStatus::Confirmed);
        s.confirm(1, &reader("R2"), &draft(Grade::Atypical, Pcr::Positive)).expect("confirm");
        assert_eq!(s.worklist("R1").expect("worklist")[0].status, CaseStatus::NeedsAdjudication);
    }

    #[test]
    fn disagreements_and_confusion_matrix() {
        let (_dir, mut s) = store();
        let ai = |g| AiResult {
            series_uid: "x".into(),
            grade: Some(g),
            cannot_grade: None,
            scores: [0.25; 4],
            explanation: String::new(),
            method: "test".into(),
            models: vec!["m 1".into()],
            involvement_percent: None,
            severity_score: None,
        };
        for n in 1..=4 {
            s.add_series(&reader("R1"), &series(n)).expect("add");
        }
        s.set_ai_result(1, &ai(Grade::Typical)).expect("ai");
        s.set_ai_result(2, &ai(Grade::Typical)).expect("ai");
        s.set_ai_result(3, &ai(Grade::Negative)).expect("ai");
        assert_eq!(s.worklist("R1").expect("worklist")[0].status, CaseStatus::AiDone);
        let me = reader("R1");
        s.confirm(1, &me, &draft(Grade::Typical, Pcr::Positive)).expect("agree");
        s.confirm(2, &me, &draft(Grade::Atypical, Pcr::Negative)).expect("disagree");
        s.confirm(3, &me, &draft(Grade::Negative, Pcr::Positive)).expect("contradiction");
        s.confirm(4, &me, &draft(Grade::Typical, Pcr::Negative)).expect("contradiction, no AI");
        let (list, confusion) = s.disagreements().expect("disagreements");
        let kinds: Vec<_> = list.iter().map(|d| (d.case_id, d.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (2, DisagreementKind::ReaderVsAi),
                (3, DisagreementKind::PcrVsGrade),
                (4, DisagreementKind::PcrVsGrade)
            ]
        );
        assert_eq!(confusion.counts[0][0], 1);
        assert_eq!(confusion.counts[0][2], 1);
        assert_eq!(confusion.counts[3][3], 1);
        assert_eq!((confusion.total(), confusion.agreeing(), confusion.without_ai), (3, 2, 1));
        // The same AI result again (from the cache) adds no history.
        s.set_ai_result(1, &ai(Grade::Typical)).expect("ai");
        assert_eq!(s.history(1).expect("history").iter().filter(|h| h.field == "ai_grade").count(), 1);
    }

    /// The worklist carries the AI's score for the grade it gave (its confidence), from the
    /// latest result; none for a "cannot grade" or a case the AI has not read.
    #[test]
    fn the_worklist_row_carries_the_score_of_the_ai_grade() {
        let (_dir, mut s) = store();
        for n in 1..=3 {
            s.add_series(&reader("R1"), &series(n)).expect("add");
        }
        let ai = |grade, scores| AiResult {
            series_uid: "x".into(),
            grade,
            cannot_grade: grade.is_none().then(|| AiCannotGrade { code: "no_lung".into(), reason: "no lung".into() }),
            scores,
            explanation: String::new(),
            method: "test".into(),
            models: vec!["m 1".into()],
            involvement_percent: None,
            severity_score: None,
        };
        s.set_ai_result(1, &ai(Some(Grade::Indeterminate), [0.2, 0.55, 0.15, 0.1])).expect("ai");
        s.set_ai_result(2, &ai(None, [0.0; 4])).expect("ai");
        let rows = s.worklist("R1").expect("worklist");
        let confidence: Vec<Option<f64>> = rows.iter().map(|r| r.ai_confidence).collect();
        assert_eq!(confidence, vec![Some(0.55), None, None]);
        s.set_ai_result(1, &ai(Some(Grade::Typical), [0.9, 0.05, 0.05, 0.0])).expect("a newer read");
        assert_eq!(s.worklist_row(1, "R1").expect("row").and_then(|r| r.ai_confidence), Some(0.9));
    }

    /// "Cannot grade" is stored as a result with its reason, shown on the worklist, never
    /// counted as a grade or sent as one, and a result must be one or the other.
    #[test]
    fn cannot_grade_is_stored_with_its_reason_and_never_as_a_grade() {
        let (_dir, mut s) = store();
        s.add_series(&reader("R1"), &series(1)).expect("add");
        let cannot = AiResult {
            series_uid: "x".into(),
            grade: None,
            cannot_grade: Some(AiCannotGrade { code: "single_slice".into(), reason: "a single slice".into() }),
            scores: [0.0; 4],
            explanation: "a single slice".into(),
            method: "not analysed".into(),
            models: Vec::new(),
            involvement_percent: None,
            severity_score: None,
        };
        s.set_ai_result(1, &cannot).expect("cannot grade");
        assert_eq!(s.ai_result(1).expect("read"), Some(cannot.clone()));
        let row = &s.worklist("R1").expect("worklist")[0];
        assert_eq!(
            (row.status, row.ai_grade, row.ai_cannot_grade.as_deref()),
            (CaseStatus::AiDone, None, Some("single_slice"))
        );
        let history = s.history(1).expect("history");
        assert_eq!(
            history.iter().find(|h| h.field == "ai_grade").and_then(|h| h.new.as_deref()),
            Some("cannot grade: single_slice")
        );
        s.confirm(1, &reader("R1"), &draft(Grade::Indeterminate, Pcr::Positive)).expect("confirm");
        let payload: serde_json::Value =
            serde_json::from_str(&s.outbox_pending(10).expect("outbox")[0].payload).expect("payload");
        assert!(payload["ai_grade"].is_null(), "{payload}");
        let (_, confusion) = s.disagreements().expect("disagreements");
        assert_eq!((confusion.total(), confusion.without_ai), (0, 1), "not counted as any AI grade");
        // Both or neither: refused, nothing written.
        let both = AiResult { grade: Some(Grade::Negative), ..cannot.clone() };
        assert!(s.set_ai_result(1, &both).is_err());
        let neither = AiResult { cannot_grade: None, ..cannot };
        assert!(s.set_ai_result(1, &neither).is_err());
        assert_eq!(
            s.ai_result(1).expect("read").and_then(|a| a.cannot_grade).map(|c| c.code),
            Some("single_slice".into())
        );
    }

    /// Migration 4 rebuilds the AI results table: rows and the reviews that point at them stay,
    /// and foreign keys are enforced again afterwards.
    #[test]
    fn schema_3_ai_results_survive_the_rebuild() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.sqlite");
        {
            let old = Store::open_at_schema(&path, 3).expect("v3");
            insert_old_case(&old);
            old.connection()
                .execute(
                    "INSERT INTO ai_results (case_id, series_uid, grade, scores, explanation, method, models, created_at) \
                     VALUES (1, 'x', 1, '[1,0,0,0]', 'why', 'test', '[]', '2026-01-01T00:00:00.000Z')",
                    [],
                )
                .expect("v3 AI result");
            // A review confirmed against it, as a version-3 desk wrote one.
            old.connection()
                .execute(
                    "INSERT INTO reviews (case_id, reader_id, site_code, postal_code, grade, pcr, findings, note, \
                     ai_result_id, revision, confirmed_at) VALUES (1, 'R1', 'SITE-A', '466-8560', 1, 'positive', '[]', '', \
                     1, 1, '2026-01-01T00:00:00.000Z')",
                    [],
                )
                .expect("v3 review");
        }
        let s = Store::open(&path).expect("migrate");
        assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(s.ai_result(1).expect("read").and_then(|a| a.grade), Some(Grade::Typical));
        let linked: i64 = s
            .connection()
            .query_row("SELECT COUNT(*) FROM reviews r JOIN ai_results a ON a.id = r.ai_result_id", [], |r| r.get(0))
            .expect("join");
        assert_eq!(linked, 1);
        assert_eq!(s.integrity_check().expect("integrity"), "ok");
        let orphan = s.connection().execute("UPDATE reviews SET ai_result_id = 999", []);
        assert!(orphan.is_err(), "foreign keys are on again");
    }

    #[test]
    fn an_old_schema_is_migrated_and_keeps_its_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.sqlite");
        {
            let old = Store::open_at_schema(&path, 1).expect("v1");
            assert_eq!(old.schema_version().expect("version"), 1);
            insert_old_case(&old);
            // A series whose file list an old build could not write (a path that is not UTF-8
            // became ""): the migration must pass it by, not fail the whole store.
            old.connection()
                .execute_batch(
                    "INSERT INTO cases (study_uid, case_key, exam_date, age_years, sex, imported_at) \
                     VALUES ('1.2.3.2', '00000000000000bb', NULL, NULL, NULL, '2026-01-01T00:00:00.000Z'); \
                     INSERT INTO series (series_uid, case_id, slices, files) VALUES ('1.2.3.2.1', 2, 1, '');",
                )
                .expect("a damaged row");
            old.connection()
                .execute(
                    "INSERT INTO reviews (case_id, reader_id, site_code, postal_code, grade, pcr, findings, note, revision, confirmed_at) \
                     VALUES (1, 'R1', 'SITE-A', '466-8560', 2, 'pending', '', '', 1, '2026-01-01T00:00:00.000Z')",
                    [],
                )
                .expect("v1 review");
        }
        let s = Store::open(&path).expect("migrate");
        assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(s.review(1, "R1").expect("review").map(|r| r.grade), Some(Grade::Indeterminate));
        s.save_draft(1, "R1", &ReviewDraft::default()).expect("v2 table exists");
        let row = s.worklist_row(1, "R1").expect("row").expect("case 1");
        assert_eq!(row.folder.as_deref(), Some("/data/old"), "v6 takes the folder from the first file");
        assert_eq!((row.series, row.slices, row.thickness_mm), (1, 2, None));
        assert_eq!(s.worklist_row(2, "R1").expect("row").and_then(|r| r.folder), None, "no folder, no failure");
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.sqlite");
        Store::open(&path).expect("create").connection().pragma_update(None, "user_version", 99).expect("bump");
        let e = Store::open(&path).expect_err("newer");
        assert!(e.to_string().contains("newer LungDesk (schema 99"), "{e}");
        let conn = Connection::open(&path).expect("raw");
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
        assert_eq!(v, 99);
    }

    #[test]
    fn a_file_that_is_not_a_database_gets_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.sqlite");
        std::fs::write(&path, b"this is not SQLite, it is a note someone saved here").expect("write");
        let e = Store::open(&path).expect_err("not a database");
        assert!(e.to_string().contains("labels.sqlite"), "{e}");
        assert_eq!(std::fs::read(&path).expect("read").len(), 51, "the file is left as it was");
    }

    #[test]
    fn identity_is_checked_normalised_and_kept() {
        let (_dir, mut s) = store();
        assert_eq!(s.identity().expect("identity"), None);
        let bad = Identity { postal_code: "12".into(), ..reader("R1") };
        assert!(matches!(s.set_identity(&bad), Err(StoreError::BadIdentity(f)) if f == "postal_code"));
        let saved = s.set_identity(&Identity { postal_code: "4668560".into(), ..reader(" R1 ") }).expect("save");
        assert_eq!((saved.reader_id.as_str(), saved.postal_code.as_str()), ("R1", "466-8560"));
        assert_eq!(s.identity().expect("identity"), Some(saved));
    }

    #[test]
    fn case_keys_are_keyed_by_the_site_key_and_a_new_key_rekeys_only_what_has_not_left() {
        let (_dir, mut s) = store();
        let key_a = crate::SiteKey::from_bytes([7; 32]);
        let key_b = crate::SiteKey::from_bytes([9; 32]);
        let me = s.set_identity(&reader("R1")).expect("identity");
        assert_eq!(me.site_key, Some(key_a.clone()));
        for n in 1..=4 {
            s.add_series(&me, &series(n)).expect("add");
        }
        let key_of = |s: &Store, id: i64| -> String {
            s.conn.query_row("SELECT case_key FROM cases WHERE id = ?1", [id], |r| r.get(0)).expect("key")
        };
        assert_eq!(key_of(&s, 1), key_a.case_key("SITE-A", "1.2.3.1"));
        assert!(!key_of(&s, 1).contains("1.2.3"));
        let draft = ReviewDraft { grade: Some(Grade::Typical), pcr: Some(Pcr::Positive), ..ReviewDraft::default() };
        s.confirm(3, &me, &draft).expect("confirm 3");
        s.confirm(1, &me, &draft).expect("confirm 1");
        s.confirm(2, &me, &draft).expect("confirm 2");
        // Case 3's label is taken for sending (in flight), case 1's is sent.
        let in_flight = s.outbox_take_for_sending(1).expect("take");
        assert_eq!(in_flight.len(), 1);
        let sent = s.outbox_pending(10).expect("outbox")[1].id;
        s.mark_sent(sent).expect("sent");
        // A new key (rotated): cases 1 (sent) and 3 (in flight) have left the desk and keep
        // their keys; case 2 (label queued) and case 4 (no label) get keys under the new one,
        // with the queued label.
        let rotated = s.set_identity(&Identity { site_key: Some(key_b.clone()), ..me.clone() }).expect("rotate");
        assert_eq!(key_of(&s, 1), key_a.case_key("SITE-A", "1.2.3.1"));
        assert_eq!(key_of(&s, 3), key_a.case_key("SITE-A", "1.2.3.3"));
        assert_eq!(key_of(&s, 2), key_b.case_key("SITE-A", "1.2.3.2"));
        assert_eq!(key_of(&s, 4), key_b.case_key("SITE-A", "1.2.3.4"));
        let pending = s.outbox_pending(10).expect("outbox");
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].payload, in_flight[0].payload, "the label in flight is left as it was sent");
        let payload: LabelPayload = serde_json::from_str(&pending[1].payload).expect("payload");
        assert_eq!(payload.case_key, key_b.case_key("SITE-A", "1.2.3.2"));
        assert_eq!(pending[1].idempotency_key, payload.idempotency_key());
        // Saving the same identity again changes nothing; a confirm of case 1 keeps its key.
        s.set_identity(&rotated).expect("same");
        s.confirm(1, &rotated, &ReviewDraft { grade: Some(Grade::Atypical), ..draft }).expect("revise 1");
        let last: LabelPayload =
            serde_json::from_str(&s.outbox_pending(10).expect("outbox")[2].payload).expect("payload");
        assert_eq!(last.case_key, key_a.case_key("SITE-A", "1.2.3.1"));
        // Without a key nothing is imported.
        let keyless = Identity { site_key: None, ..rotated };
        assert!(matches!(s.add_series(&keyless, &series(4)), Err(StoreError::NoIdentity)));
    }
}
