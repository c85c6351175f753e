//! Storage: one schema and one set of queries for SQLite and PostgreSQL, through sqlx's `Any`
//! driver. Only the id column's DDL differs between the two.

use lungdesk_domain::{LabelPayload, Pcr, SharedLabel, prefecture_of_postal_code};
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyPool, AssertSqlSafe, Row};

mod agreement;
mod drift;

use crate::wire::{
    Agreement, AiSurveillance, AiSurveillanceRow, AuditEntry, Period, ReaderAgreement, Role, Source, Surveillance,
    SurveillanceQuery, SurveillanceRow, TokenInfo,
};

/// A storage failure, naming the step.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the service database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("service database: {step}: {source}")]
    Sql { step: &'static str, source: sqlx::Error },
    #[error("service database: {step}: a label's case {case_key} was not read in its batch")]
    CaseMissing { step: &'static str, case_key: String },
    #[error("the database URL must start with sqlite: or postgres:, not {0}")]
    Scheme(String),
    #[error("the service database has schema version {0}, newer than this service's; left untouched")]
    NewerSchema(i64),
}

fn sql(step: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
    move |source| DbError::Sql { step, source }
}

type Result<T> = std::result::Result<T, DbError>;

/// What a label did to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    /// New; its receipt number.
    Stored(i64),
    /// The same label was already there (a retry).
    AlreadyThere(i64),
    /// Another label with this idempotency key is there, with different content.
    Conflict(Box<LabelPayload>),
    /// The label is for another site than its writer's.
    OtherSite,
}

/// What ingestion derives from a label before touching the database.
struct Prepared {
    key: String,
    hash: String,
    day: String,
    week: String,
    prefecture: &'static str,
}

impl Prepared {
    fn new(p: &LabelPayload) -> Self {
        let canonical = serde_json::to_string(p).unwrap_or_default();
        let day = p.exam_date.clone().unwrap_or_else(|| p.confirmed_at.get(..10).unwrap_or_default().to_owned());
        Prepared {
            key: p.idempotency_key(),
            hash: format!("{:x}", Sha256::digest(canonical.as_bytes())),
            week: week_of(&day).unwrap_or_else(|| day.clone()),
            day,
            prefecture: prefecture_of_postal_code(&p.facility_postal_code).unwrap_or("00"),
        }
    }
}

/// A case row as ingestion reads it.
struct CaseNow {
    key: String,
    day: String,
    prefecture: String,
    confirmed_at: Option<String>,
    grade: Option<i64>,
    pcr: Option<String>,
    ai_grade: Option<i64>,
}

impl CaseNow {
    fn from_row(r: &AnyRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(CaseNow {
            key: r.try_get(0)?,
            day: r.try_get(2)?,
            prefecture: r.try_get(4)?,
            confirmed_at: r.try_get(5)?,
            grade: r.try_get(6)?,
            pcr: r.try_get(7)?,
            ai_grade: r.try_get(8)?,
        })
    }
}

/// Appends `rows` groups of `columns` numbered placeholders: `($1, $2), ($3, $4)`.
fn push_rows(q: &mut String, rows: usize, columns: usize) {
    for r in 0..rows {
        if r > 0 {
            q.push_str(", ");
        }
        q.push('(');
        push_list(q, r * columns + 1, columns);
        q.push(')');
    }
}

/// Appends `n` numbered placeholders from `$first`: `$1, $2, $3`.
fn push_list(q: &mut String, first: usize, n: usize) {
    use std::fmt::Write as _;
    for i in 0..n {
        let _ = write!(q, "{}${}", if i > 0 { ", " } else { "" }, first + i);
    }
}

/// The token's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub reader_id: String,
    pub site_code: String,
    pub role: Role,
}

/// Who makes a write, for the audit trail: a name, and the id of the token it came with
/// (empty from the service's own command line, which needs no token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issuer<'a> {
    pub name: &'a str,
    pub token_id: &'a str,
}

impl<'a> From<&'a str> for Issuer<'a> {
    /// A write from the command line (or a test), with no token.
    fn from(name: &'a str) -> Self {
        Issuer { name, token_id: "" }
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    Expired,
    Revoked,
}

/// The service's database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
}

/// The schema's version, kept in `schema_version`. Version 1 (no such table) keyed cases by
/// case key alone and recorded neither the writing token nor each label's exam date and postal
/// code; [`MIGRATE_1_TO_2`] brings such a database up to date with its rows kept.
/// Version 3 adds the AI reads (`ai_reads`, issue #17), version 4 the drift monitor's periods
/// (`drift_periods`) and the reads' `latest` mark ([`MIGRATE_3_TO_4`]), version 5 the
/// agreement kept at ingest (`agreement_cells`, `reader_pairs`: rebuilt from the reads and
/// labels on any migration); tables are created where missing.
const SCHEMA_VERSION: i64 = 5;

const CASES_DDL: &str = "(case_key TEXT NOT NULL, site_code TEXT NOT NULL, exam_date TEXT, \
     age_band TEXT, sex TEXT, postal_code TEXT NOT NULL, prefecture TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
     cur_label BIGINT, cur_confirmed_at TEXT, cur_grade BIGINT, cur_pcr TEXT, cur_ai_grade BIGINT, \
     touched BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (site_code, case_key))";

/// A case key is a site's own: the same key at two sites names two cases.
const LABELS_DDL: &str = "(id {ID}, idempotency_key TEXT NOT NULL, \
     case_key TEXT NOT NULL, site_code TEXT NOT NULL, reader_id TEXT NOT NULL, \
     revision BIGINT NOT NULL, grade BIGINT NOT NULL, pcr TEXT NOT NULL, findings TEXT NOT NULL, ai_grade BIGINT, \
     ai_models TEXT NOT NULL, confirmed_at TEXT NOT NULL, received_at TEXT NOT NULL, payload_sha256 TEXT NOT NULL, \
     exam_date TEXT, postal_code TEXT NOT NULL DEFAULT '', token_id TEXT NOT NULL DEFAULT '', \
     UNIQUE (site_code, idempotency_key), FOREIGN KEY (site_code, case_key) REFERENCES {CASES}(site_code, case_key))";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tokens (token_sha256 TEXT PRIMARY KEY, reader_id TEXT NOT NULL, site_code TEXT NOT NULL, \
     role TEXT NOT NULL, expires_at BIGINT NOT NULL, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL, \
     CHECK (reader_id <> '' AND site_code <> ''))",
    "CREATE TABLE IF NOT EXISTS cases {CASES_DDL}",
    "CREATE TABLE IF NOT EXISTS labels {LABELS_DDL}",
    "CREATE INDEX IF NOT EXISTS labels_site ON labels(site_code, id)",
    "CREATE TABLE IF NOT EXISTS counts (source TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
     prefecture TEXT NOT NULL, grade BIGINT NOT NULL, pcr TEXT NOT NULL, n BIGINT NOT NULL, \
     PRIMARY KEY (source, day, prefecture, grade, pcr))",
    "CREATE INDEX IF NOT EXISTS counts_day ON counts(day)",
    "CREATE TABLE IF NOT EXISTS revoked_tokens (token_sha256 TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, \
     revoked_by TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (id {ID}, at TEXT NOT NULL, actor TEXT NOT NULL, site_code TEXT NOT NULL, \
     action TEXT NOT NULL, target TEXT NOT NULL, token_id TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
    // One AI read per site, case, model set and version (its idempotency key); `day` is the
    // exam date (else the day of reading), so that counts go by when the scan was made.
    "CREATE TABLE IF NOT EXISTS ai_reads (id {ID}, idempotency_key TEXT NOT NULL, site_code TEXT NOT NULL, \
     case_key TEXT NOT NULL, model_set TEXT NOT NULL, model_version TEXT NOT NULL, models TEXT NOT NULL, \
     grade BIGINT, cannot_grade TEXT, scores TEXT NOT NULL, day TEXT NOT NULL, prefecture TEXT NOT NULL, \
     age_band TEXT, sex TEXT, analysed_at TEXT NOT NULL, received_at TEXT NOT NULL, payload_sha256 TEXT NOT NULL, \
     token_id TEXT NOT NULL, latest BIGINT NOT NULL DEFAULT 0, week TEXT NOT NULL DEFAULT '', \
     UNIQUE (site_code, idempotency_key), \
     CHECK ((grade IS NULL) = (cannot_grade IS NOT NULL)))",
    // `latest` is 1 on the latest read of each case by each set (by `analysed_at`, then id),
    // kept so by every ingest: the counts, agreement and drift read only those.
    "CREATE INDEX IF NOT EXISTS ai_reads_latest ON ai_reads(model_set, latest, day)",
    // The latest reads counted per cell (no site: the drift monitor's withheld site-days are
    // taken off at query time); NULLs as 0 and '' so that the cell is a key. Kept by ingest.
    "CREATE TABLE IF NOT EXISTS ai_counts (model_set TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
     prefecture TEXT NOT NULL, grade BIGINT NOT NULL, cannot_grade TEXT NOT NULL, sex TEXT NOT NULL, \
     age_band TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (model_set, day, prefecture, grade, cannot_grade, sex, age_band))",
    // The drift monitor reads one site's latest reads by a set in exam-day order. The order is
    // in the index: without it SQLite's planner took `ai_reads_latest` for its order and read
    // every site's reads for each site (30 s for 120 sites at 100,000 reads).
    "DROP INDEX IF EXISTS ai_reads_site_latest",
    "CREATE INDEX IF NOT EXISTS ai_reads_site_day ON ai_reads(site_code, model_set, latest, day, case_key)",
    // A reader's latest revision of a case (agreement between readers).
    "CREATE INDEX IF NOT EXISTS labels_case_reader ON labels(site_code, case_key, reader_id, revision)",
    // The latest read of a case by a set (the counts take only that one).
    "CREATE INDEX IF NOT EXISTS ai_reads_case ON ai_reads(site_code, case_key, model_set, analysed_at)",
    // The drift monitor's periods per site × model set (`drift.rs`): `withheld` ones leave that
    // site's reads of those exam days out of the published AI series.
    "CREATE TABLE IF NOT EXISTS drift_periods (site_code TEXT NOT NULL, model_set TEXT NOT NULL, \
     status TEXT NOT NULL, from_day TEXT NOT NULL, to_day TEXT, reason_code TEXT NOT NULL, reason TEXT NOT NULL, \
     prefecture TEXT NOT NULL, PRIMARY KEY (site_code, model_set, status, from_day))",
    // Agreement kept at ingest (`db/agreement.rs`): cases per site, exam day and grade pair,
    // the set's latest graded read against the case's current grade, and the first two
    // readers' latest grades against each other.
    "CREATE TABLE IF NOT EXISTS agreement_cells (model_set TEXT NOT NULL, site_code TEXT NOT NULL, day TEXT NOT NULL, \
     ai_grade BIGINT NOT NULL, reader_grade BIGINT NOT NULL, n BIGINT NOT NULL, \
     PRIMARY KEY (model_set, site_code, day, ai_grade, reader_grade))",
    "CREATE TABLE IF NOT EXISTS reader_pairs (site_code TEXT NOT NULL, day TEXT NOT NULL, first_grade BIGINT NOT NULL, \
     second_grade BIGINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (site_code, day, first_grade, second_grade))",
];

/// Version 3 → 4, before [`SCHEMA`]: the AI reads' `latest` mark and exam week (then
/// [`MIGRATE_3_TO_4_AFTER`], and each day's week filled in).
const MIGRATE_3_TO_4: &[&str] = &[
    "ALTER TABLE ai_reads ADD COLUMN latest BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE ai_reads ADD COLUMN week TEXT NOT NULL DEFAULT ''",
];

/// Version 3 → 4, after [`SCHEMA`]: every case's latest read by each set marked, the index the
/// mark replaces dropped.
const MIGRATE_3_TO_4_AFTER: &[&str] = &[
    "UPDATE ai_reads SET latest = CASE WHEN NOT EXISTS (SELECT 1 FROM ai_reads b WHERE b.site_code = ai_reads.site_code \
     AND b.case_key = ai_reads.case_key AND b.model_set = ai_reads.model_set AND (b.analysed_at > ai_reads.analysed_at \
     OR (b.analysed_at = ai_reads.analysed_at AND b.id > ai_reads.id))) THEN 1 ELSE 0 END",
    "DROP INDEX IF EXISTS ai_reads_day",
];

/// Version 1 → 2, in one transaction: cases and labels rebuilt with site-scoped keys (their
/// rows copied, each label given its case's exam date and postal code), the writing token
/// recorded from now on (`''` for what was written before).
const MIGRATE_1_TO_2: &[&str] = &[
    "CREATE TABLE cases_v2 {CASES_DDL}",
    "INSERT INTO cases_v2 (case_key, site_code, exam_date, age_band, sex, postal_code, prefecture, day, week, \
     cur_label, cur_confirmed_at, cur_grade, cur_pcr, cur_ai_grade, touched) \
     SELECT case_key, site_code, exam_date, age_band, sex, postal_code, prefecture, day, week, \
     cur_label, cur_confirmed_at, cur_grade, cur_pcr, cur_ai_grade, touched FROM cases",
    "CREATE TABLE labels_v2 {LABELS_DDL_V2}",
    "INSERT INTO labels_v2 (id, idempotency_key, case_key, site_code, reader_id, revision, grade, pcr, findings, \
     ai_grade, ai_models, confirmed_at, received_at, payload_sha256, exam_date, postal_code, token_id) \
     SELECT l.id, l.idempotency_key, l.case_key, l.site_code, l.reader_id, l.revision, l.grade, l.pcr, l.findings, \
     l.ai_grade, l.ai_models, l.confirmed_at, l.received_at, l.payload_sha256, c.exam_date, c.postal_code, '' \
     FROM labels l JOIN cases c ON c.case_key = l.case_key",
    "DROP TABLE labels",
    "DROP TABLE cases",
    "ALTER TABLE cases_v2 RENAME TO cases",
    "ALTER TABLE labels_v2 RENAME TO labels",
    "CREATE INDEX IF NOT EXISTS labels_site ON labels(site_code, id)",
    "ALTER TABLE audit ADD COLUMN token_id TEXT NOT NULL DEFAULT ''",
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
];

/// Now, RFC 3339 UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// How often a batch is retried after PostgreSQL aborted it for a deadlock or a serialization
/// failure.
const MAX_BATCH_RETRIES: u32 = 8;

/// What storing one AI read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiIngested {
    /// New; its receipt number.
    Stored(i64),
    /// The same read was already there (a retry).
    AlreadyThere(i64),
    /// Another read with this idempotency key is there, with different content.
    Conflict,
}

/// A token's public id: the first hex digits of its SHA-256 (as in the access log).
pub const TOKEN_ID_LEN: usize = 12;

/// A token's public id: the first [`TOKEN_ID_LEN`] hex digits of its SHA-256, in the access
/// log, the token list and beside every write it made.
pub fn token_id(token: &str) -> String {
    token_hash(token)[..TOKEN_ID_LEN].to_owned()
}

/// sha256 hex of a token: tokens are kept only as hashes.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// The 10-year age band the service keeps instead of the age.
pub fn age_band(age_years: Option<i64>) -> Option<String> {
    age_years.map(|a| if a >= 90 { "90+".to_owned() } else { format!("{}-{}", a / 10 * 10, a / 10 * 10 + 9) })
}

/// The Monday of the ISO week of a `YYYY-MM-DD` date.
pub fn week_of(day: &str) -> Option<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, format).ok()?;
    let monday = date - time::Duration::days(i64::from(date.weekday().number_days_from_monday()));
    monday.format(format).ok()
}

/// The Sunday ending the ISO week of `day` (`YYYY-MM-DD`).
pub fn week_end_of(day: &str) -> Option<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let monday = time::Date::parse(&week_of(day)?, format).ok()?;
    (monday + time::Duration::days(6)).format(format).ok()
}

impl Db {
    /// Opens (creating a SQLite file if missing) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if !postgres && !url.starts_with("sqlite:") {
            return Err(DbError::Scheme(url.split(':').next().unwrap_or_default().to_owned()));
        }
        let url_with_create = if !postgres && !url.contains('?') && !url.contains(":memory:") {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let options = AnyPoolOptions::new().max_connections(if postgres { 16 } else { 4 });
        let options = if postgres {
            options
        } else {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in
                        ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 10000"]
                    {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
        };
        let pool =
            options.connect(&url_with_create).await.map_err(|source| DbError::Open { url: redact(url), source })?;
        let db = Db { pool, postgres };
        db.create_schema().await?;
        Ok(db)
    }

    /// The schema's DDL with the backend's id column and the shared table bodies spliced in.
    fn ddl(&self, text: &str) -> String {
        let id = if self.postgres { "BIGSERIAL PRIMARY KEY" } else { "INTEGER PRIMARY KEY" };
        text.replace("{CASES_DDL}", CASES_DDL)
            .replace("{LABELS_DDL_V2}", &LABELS_DDL.replace("{CASES}", "cases_v2"))
            .replace("{LABELS_DDL}", &LABELS_DDL.replace("{CASES}", "cases"))
            .replace("{ID}", id)
    }

    /// Creates whatever of the schema is missing, or migrates a version-1 database, in one
    /// transaction. A database of a newer version is refused, untouched.
    async fn create_schema(&self) -> Result<()> {
        // Probed outside the transaction: a failed statement would abort a PostgreSQL one.
        let version: Option<i64> =
            match sqlx::query("SELECT MAX(version) FROM schema_version").fetch_one(&self.pool).await {
                Ok(row) => Some(row.try_get::<Option<i64>, _>(0).map_err(sql("read the schema version"))?.unwrap_or(0)),
                // Only a missing table means "before versions" (PostgreSQL 42P01, SQLite "no such
                // table"); any other failure is reported, never taken for an old schema.
                Err(e) if missing_table(&e) => None,
                Err(e) => return Err(DbError::Sql { step: "read the schema version", source: e }),
            };
        if let Some(v) = version
            && v > SCHEMA_VERSION
        {
            return Err(DbError::NewerSchema(v));
        }
        let version_1 = match version {
            Some(_) => false,
            None => match sqlx::query("SELECT COUNT(*) FROM cases").fetch_one(&self.pool).await {
                Ok(_) => true,
                Err(e) if missing_table(&e) => false,
                Err(e) => return Err(DbError::Sql { step: "look for a version-1 schema", source: e }),
            },
        };
        let mut tx = self.pool.begin().await.map_err(sql("begin creating the schema"))?;
        let steps: Vec<&str> = if version_1 {
            MIGRATE_1_TO_2.iter().chain(SCHEMA).copied().collect()
        } else if version == Some(3) {
            MIGRATE_3_TO_4.iter().chain(SCHEMA).chain(MIGRATE_3_TO_4_AFTER).copied().collect()
        } else {
            SCHEMA.to_vec()
        };
        for ddl in steps {
            // The DDL is constant; only the id column type and the table bodies are spliced in.
            sqlx::query(AssertSqlSafe(self.ddl(ddl))).execute(&mut *tx).await.map_err(sql(if version_1 {
                "migrate the schema from version 1"
            } else {
                "create the schema"
            }))?;
        }
        if version == Some(3) {
            let days: Vec<String> = sqlx::query_scalar("SELECT DISTINCT day FROM ai_reads")
                .fetch_all(&mut *tx)
                .await
                .map_err(sql("migrate the schema from version 3"))?;
            for day in days {
                sqlx::query("UPDATE ai_reads SET week = $1 WHERE day = $2")
                    .bind(week_of(&day).unwrap_or_else(|| day.clone()))
                    .bind(day)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql("migrate the schema from version 3"))?;
            }
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO ai_counts (model_set, day, week, prefecture, grade, cannot_grade, sex, age_band, n) \
                 SELECT {AI_CELL}, COUNT(*) FROM ai_reads WHERE latest = 1 GROUP BY {AI_CELL}"
            )))
            .execute(&mut *tx)
            .await
            .map_err(sql("migrate the schema from version 3"))?;
        }
        if version != Some(SCHEMA_VERSION) {
            // Older versions did not keep the agreement cells (a new database has nothing to count).
            agreement::rebuild(&mut tx).await?;
        }
        if version_1 && self.postgres {
            // The copied ids were given explicitly; the new table's sequence continues after them.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('labels', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM labels",
            )
            .execute(&mut *tx)
            .await
            .map_err(sql("migrate the schema from version 1"))?;
        }
        if version != Some(SCHEMA_VERSION) {
            sqlx::query("DELETE FROM schema_version")
                .execute(&mut *tx)
                .await
                .map_err(sql("record the schema version"))?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(SCHEMA_VERSION)
                .execute(&mut *tx)
                .await
                .map_err(sql("record the schema version"))?;
        }
        tx.commit().await.map_err(sql("commit the schema"))
    }

    /// Whether the database answers with its schema in place. When it answers but the schema is
    /// gone (dropped and re-created), the schema is rebuilt; a database that does not answer is
    /// the error, with the reason. The pool reconnects by itself once the database is back.
    pub async fn health(&self) -> Result<()> {
        let probe = || sqlx::query("SELECT COUNT(*) FROM tokens").fetch_one(&self.pool);
        if probe().await.is_ok() {
            return Ok(());
        }
        self.create_schema().await?;
        probe().await.map(|_| ()).map_err(sql("check the database"))
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Stores a token (by its hash) for a reader; audited.
    pub async fn add_token(
        &self,
        token: &str,
        who: &Principal,
        expires_at: i64,
        issued_by: impl Into<Issuer<'_>>,
    ) -> Result<()> {
        let issued_by = issued_by.into();
        let mut tx = self.pool.begin().await.map_err(sql("begin issuing a token"))?;
        sqlx::query(
            "INSERT INTO tokens (token_sha256, reader_id, site_code, role, expires_at, issued_at, issued_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash(token))
        .bind(&who.reader_id)
        .bind(&who.site_code)
        .bind(who.role.code())
        .bind(expires_at)
        .bind(now())
        .bind(issued_by.name)
        .execute(&mut *tx)
        .await
        .map_err(sql("store the token"))?;
        audit(&mut tx, issued_by, &who.site_code, "token.issue", &format!("{}:{}", who.reader_id, who.role.code()))
            .await?;
        tx.commit().await.map_err(sql("commit the token"))
    }

    /// The tokens of `site` (every site's with `None`): id, holder, role, expiry, revoked.
    pub async fn tokens(&self, site: Option<&str>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.token_sha256, t.reader_id, t.site_code, t.role, t.expires_at, \
             (SELECT COUNT(*) FROM revoked_tokens r WHERE r.token_sha256 = t.token_sha256) \
             FROM tokens t WHERE ($1 = 1 OR t.site_code = $2) ORDER BY t.issued_at, t.token_sha256",
        )
        .bind(i64::from(site.is_none()))
        .bind(site.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(sql("list the tokens"))?;
        rows.iter()
            .map(|r| {
                let hash: String = r.try_get(0)?;
                let role: String = r.try_get(3)?;
                Ok(TokenInfo {
                    id: hash.get(..TOKEN_ID_LEN).unwrap_or_default().to_owned(),
                    reader_id: r.try_get(1)?,
                    site_code: r.try_get(2)?,
                    role: Role::from_code(&role).unwrap_or(Role::Reader),
                    expires_at: r.try_get(4)?,
                    revoked: r.try_get::<i64, _>(5)? > 0,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read the tokens"))
    }

    /// Revokes the token whose id is `id` within `site` (any site with `None`); audited.
    /// Returns whether such a token exists (revoking twice is not an error).
    pub async fn revoke_token(&self, id: &str, site: Option<&str>, actor: impl Into<Issuer<'_>>) -> Result<bool> {
        let actor = actor.into();
        if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await.map_err(sql("begin revoking a token"))?;
        let row = sqlx::query(
            "SELECT token_sha256, site_code, reader_id FROM tokens \
             WHERE substr(token_sha256, 1, 12) = $1 AND ($2 = 1 OR site_code = $3)",
        )
        .bind(id.to_ascii_lowercase())
        .bind(i64::from(site.is_none()))
        .bind(site.unwrap_or_default())
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql("find the token"))?;
        let Some(row) = row else { return Ok(false) };
        let (hash, token_site, reader): (String, String, String) = (
            row.try_get(0).map_err(sql("read the token"))?,
            row.try_get(1).map_err(sql("read the token"))?,
            row.try_get(2).map_err(sql("read the token"))?,
        );
        sqlx::query(
            "INSERT INTO revoked_tokens (token_sha256, revoked_at, revoked_by) VALUES ($1, $2, $3) \
             ON CONFLICT (token_sha256) DO NOTHING",
        )
        .bind(&hash)
        .bind(now())
        .bind(actor.name)
        .execute(&mut *tx)
        .await
        .map_err(sql("revoke the token"))?;
        audit(&mut tx, actor, &token_site, "token.revoke", &format!("{id}:{reader}")).await?;
        tx.commit().await.map_err(sql("commit the revocation"))?;
        Ok(true)
    }

    /// Who holds this token and when it expires (Unix seconds), if it is known, not revoked and
    /// not expired.
    pub async fn principal(&self, token: &str) -> Result<std::result::Result<(Principal, i64), TokenProblem>> {
        let row = sqlx::query(
            "SELECT t.reader_id, t.site_code, t.role, t.expires_at, \
             (SELECT COUNT(*) FROM revoked_tokens r WHERE r.token_sha256 = t.token_sha256) \
             FROM tokens t WHERE t.token_sha256 = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await
        .map_err(sql("look up the token"))?;
        let Some(row) = row else { return Ok(Err(TokenProblem::Unknown)) };
        let expires_at: i64 = row.try_get(3).map_err(sql("read the token"))?;
        let revoked: i64 = row.try_get(4).map_err(sql("read the token"))?;
        if revoked > 0 {
            return Ok(Err(TokenProblem::Revoked));
        }
        if expires_at <= unix_now() {
            return Ok(Err(TokenProblem::Expired));
        }
        let role: String = row.try_get(2).map_err(sql("read the token"))?;
        Ok(Role::from_code(&role)
            .map(|role| {
                let who = Principal {
                    reader_id: row.try_get(0).unwrap_or_default(),
                    site_code: row.try_get(1).unwrap_or_default(),
                    role,
                };
                (who, expires_at)
            })
            .ok_or(TokenProblem::Unknown))
    }

    /// Stores one validated label (see [`Db::ingest_batch`]).
    pub async fn ingest(&self, p: &LabelPayload, actor: &Principal, token_id: &str) -> Result<Ingested> {
        Ok(match self.ingest_batch(std::slice::from_ref(p), actor, token_id).await? {
            Ok(mut one) => one.pop().unwrap_or(Ingested::OtherSite),
            Err(_) => Ingested::OtherSite,
        })
    }

    /// Stores validated labels in one transaction: each once per idempotency key, with its
    /// case, the counts it moves, the id of the token that wrote it and its audit row. Case keys
    /// are the writer's site's own (the same key at another site is another case). A label for
    /// any other site than the writer's refuses the whole batch (`Err(index)`) and writes
    /// nothing. A label that becomes its case's current one (the latest confirmed) also sets
    /// the case's exam date, postal code, age band and sex, so a revision corrects them and the
    /// counts move with it. The transaction is retried (a bounded
    /// number of times, with a short growing pause) when PostgreSQL aborts it for a deadlock
    /// (40P01) or a serialization failure (40001) against a concurrent batch; rows are also
    /// locked and inserted in one global order (case key, idempotency key, counts key), so
    /// concurrent batches rarely wait on each other in a cycle at all.
    pub async fn ingest_batch(
        &self,
        labels: &[LabelPayload],
        actor: &Principal,
        token_id: &str,
    ) -> Result<std::result::Result<Vec<Ingested>, usize>> {
        if let Some(i) = labels.iter().position(|p| p.site_code != actor.site_code) {
            return Ok(Err(i));
        }
        let mut attempt = 0u32;
        loop {
            match self.ingest_batch_once(labels, actor, token_id).await {
                Err(DbError::Sql { source: sqlx::Error::Database(e), step })
                    if matches!(e.code().as_deref(), Some("40P01" | "40001")) && attempt < MAX_BATCH_RETRIES =>
                {
                    attempt += 1;
                    tracing::info!(step, attempt, code = ?e.code(), "batch retried after a concurrent transaction");
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(6))).await;
                }
                other => return other,
            }
        }
    }

    /// Stores AI reads (validated, all of `site`) in one transaction, each once per
    /// idempotency key; one outcome per read, in order. Set-based: one insert, one read-back
    /// and one update of the `latest` marks per batch, whatever its size.
    pub async fn ingest_ai_reads(
        &self,
        reads: &[lungdesk_domain::AiReadPayload],
        site: &str,
        token_id: &str,
    ) -> Result<Vec<AiIngested>> {
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let received = now();
        let prepared: Vec<(String, String, String)> = reads
            .iter()
            .map(|r| {
                let json = serde_json::to_string(r).unwrap_or_default();
                // Validated before it got here; compared and counted in UTC.
                let analysed_at = r.analysed_at_utc().unwrap_or_else(|| r.analysed_at.clone());
                (r.idempotency_key(), format!("{:x}", Sha256::digest(json.as_bytes())), analysed_at)
            })
            .collect();
        let mut tx = self.pool.begin().await.map_err(sql("begin storing AI reads"))?;
        if self.postgres {
            lock_site(&mut tx, site).await?;
        }
        // 1. The new ones, in key order (the lock order), a key twice in the batch once.
        let mut order: Vec<usize> = (0..reads.len()).collect();
        order.sort_by(|&a, &b| prepared[a].0.cmp(&prepared[b].0));
        order.dedup_by(|a, b| prepared[*a].0 == prepared[*b].0);
        let mut q = String::from(
            "INSERT INTO ai_reads (idempotency_key, site_code, case_key, model_set, model_version, models, grade, \
             cannot_grade, scores, day, week, prefecture, age_band, sex, analysed_at, received_at, payload_sha256, token_id) \
             VALUES ",
        );
        push_rows(&mut q, order.len(), 18);
        q.push_str(" ON CONFLICT (site_code, idempotency_key) DO NOTHING RETURNING idempotency_key");
        let mut insert = sqlx::query(AssertSqlSafe(q));
        for &i in &order {
            let (r, (key, sha, analysed_at)) = (&reads[i], &prepared[i]);
            let day = r.exam_date.clone().unwrap_or_else(|| analysed_at.get(..10).unwrap_or_default().to_owned());
            insert = insert
                .bind(key.clone())
                .bind(site.to_owned())
                .bind(r.case_key.clone())
                .bind(r.model_set.clone())
                .bind(r.model_version.clone())
                .bind(serde_json::to_string(&r.models).unwrap_or_default())
                .bind(r.grade.map(i64::from))
                .bind(r.cannot_grade.clone())
                .bind(serde_json::to_string(&r.scores).unwrap_or_default())
                .bind(day.clone())
                .bind(week_of(&day).unwrap_or(day))
                .bind(prefecture_of_postal_code(&r.facility_postal_code).unwrap_or_default().to_owned())
                .bind(age_band(r.age_years))
                .bind(r.sex.clone())
                .bind(analysed_at.clone())
                .bind(received.clone())
                .bind(sha.clone())
                .bind(token_id.to_owned());
        }
        let inserted: std::collections::HashSet<String> = insert
            .fetch_all(&mut *tx)
            .await
            .map_err(sql("store AI reads"))?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("store AI reads"))?;
        // 2. What is held under each key now.
        let mut q = String::from(
            "SELECT idempotency_key, id, payload_sha256 FROM ai_reads WHERE site_code = $1 AND idempotency_key IN (",
        );
        push_list(&mut q, 2, order.len());
        q.push(')');
        let mut select = sqlx::query(AssertSqlSafe(q)).bind(site.to_owned());
        for &i in &order {
            select = select.bind(prepared[i].0.clone());
        }
        let held: HashMap<String, (i64, String)> = select
            .fetch_all(&mut *tx)
            .await
            .map_err(sql("read stored AI reads"))?
            .iter()
            .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read stored AI reads"))?;
        // 3. The latest read of each case the batch added to, by each set.
        let mut cases: Vec<&str> =
            order.iter().filter(|&&i| inserted.contains(&prepared[i].0)).map(|&i| reads[i].case_key.as_str()).collect();
        cases.sort_unstable();
        cases.dedup();
        move_latest(&mut tx, site, &cases).await?;
        tx.commit().await.map_err(sql("commit AI reads"))?;
        // One outcome per read, in order: the first of a key that was inserted is stored.
        let mut first_seen = std::collections::HashSet::new();
        Ok(prepared
            .iter()
            .map(|(key, sha, _)| {
                let Some((id, held_sha)) = held.get(key) else { return AiIngested::Conflict };
                if first_seen.insert(key.clone()) && inserted.contains(key) {
                    AiIngested::Stored(*id)
                } else if held_sha == sha {
                    AiIngested::AlreadyThere(*id)
                } else {
                    AiIngested::Conflict
                }
            })
            .collect())
    }

    #[allow(clippy::too_many_lines)] // the eight steps of one transaction, in order
    async fn ingest_batch_once(
        &self,
        labels: &[LabelPayload],
        actor: &Principal,
        token_id: &str,
    ) -> Result<std::result::Result<Vec<Ingested>, usize>> {
        if labels.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        // Set-based: a handful of statements per batch whatever its size, so a batch costs
        // about one round trip per step, not one per label and step.
        let prepared: Vec<Prepared> = labels.iter().map(Prepared::new).collect();
        let mut tx = self.pool.begin().await.map_err(sql("begin storing labels"))?;
        if self.postgres {
            // One writer of a site's cases and reads at a time: the agreement cells move by what
            // each write changed, which needs the state it started from.
            lock_site(&mut tx, &actor.site_code).await?;
        }

        // 1. The cases, new ones inserted (a write first: SQLite's write lock at once).
        let mut case_keys: Vec<&str> = labels.iter().map(|p| p.case_key.as_str()).collect();
        case_keys.sort_unstable();
        case_keys.dedup();
        let mut q = String::from(
            "INSERT INTO cases (case_key, site_code, exam_date, age_band, sex, postal_code, prefecture, day, week) VALUES ",
        );
        push_rows(&mut q, labels.len(), 9);
        q.push_str(" ON CONFLICT (site_code, case_key) DO NOTHING");
        let mut insert = sqlx::query(AssertSqlSafe(q));
        // In case-key order, whatever the batch's order: the global lock order.
        let mut by_case: Vec<usize> = (0..labels.len()).collect();
        by_case.sort_by(|&a, &b| labels[a].case_key.cmp(&labels[b].case_key));
        for (p, x) in by_case.iter().map(|&i| (&labels[i], &prepared[i])) {
            insert = insert
                .bind(p.case_key.clone())
                .bind(p.site_code.clone())
                .bind(p.exam_date.clone())
                .bind(age_band(p.age_years))
                .bind(p.sex.clone())
                .bind(p.facility_postal_code.clone())
                .bind(x.prefecture)
                .bind(x.day.clone())
                .bind(x.week.clone());
        }
        insert.execute(&mut *tx).await.map_err(sql("store the cases"))?;

        // 2. The cases as they stand, locked in key order in PostgreSQL.
        let mut q = String::from(
            "SELECT case_key, site_code, day, week, prefecture, cur_confirmed_at, cur_grade, cur_pcr, cur_ai_grade \
             FROM cases WHERE site_code = $1 AND case_key IN (",
        );
        push_list(&mut q, 2, case_keys.len());
        q.push_str(") ORDER BY case_key");
        if self.postgres {
            q.push_str(" FOR UPDATE");
        }
        let mut select = sqlx::query(AssertSqlSafe(q)).bind(actor.site_code.clone());
        for k in &case_keys {
            select = select.bind(k.to_string());
        }
        let mut cases: HashMap<String, CaseNow> = HashMap::new();
        for r in select.fetch_all(&mut *tx).await.map_err(sql("lock the cases"))? {
            let c = CaseNow::from_row(&r).map_err(sql("read the cases"))?;
            cases.insert(c.key.clone(), c);
        }
        if let Some(i) = labels.iter().position(|p| !cases.contains_key(&p.case_key)) {
            tx.rollback().await.map_err(sql("roll back"))?;
            return Ok(Err(i));
        }

        // 3. Labels already held under these keys.
        let mut q = String::from(
            "SELECT idempotency_key, id, payload_sha256 FROM labels WHERE site_code = $1 AND idempotency_key IN (",
        );
        push_list(&mut q, 2, labels.len());
        q.push(')');
        let mut select = sqlx::query(AssertSqlSafe(q)).bind(actor.site_code.clone());
        for x in &prepared {
            select = select.bind(x.key.clone());
        }
        let mut held: HashMap<String, (i64, String)> = HashMap::new();
        for r in select.fetch_all(&mut *tx).await.map_err(sql("look up the labels"))? {
            let key: String = r.try_get(0).map_err(sql("read the labels"))?;
            held.insert(
                key,
                (r.try_get(1).map_err(sql("read the labels"))?, r.try_get(2).map_err(sql("read the labels"))?),
            );
        }

        // 4. Which are new (a key twice in one batch counts once), and what they do to the
        //    cases' current labels and the counts.
        let mut outcome: Vec<Option<Ingested>> = vec![None; labels.len()];
        let mut conflicts = Vec::new();
        let mut new: Vec<usize> = Vec::new();
        let mut in_batch: HashMap<&str, usize> = HashMap::new();
        for (i, x) in prepared.iter().enumerate() {
            if let Some((id, hash)) = held.get(&x.key) {
                if *hash == x.hash {
                    outcome[i] = Some(Ingested::AlreadyThere(*id));
                } else {
                    conflicts.push((i, *id));
                }
            } else if let Some(&first) = in_batch.get(x.key.as_str()) {
                if prepared[first].hash != x.hash {
                    conflicts.push((i, -1 - first as i64));
                }
                // Same content: resolved to the first one's id below.
            } else {
                in_batch.insert(&x.key, i);
                new.push(i);
            }
        }
        if !new.is_empty() {
            let scope = agreement::Scope::Cases { site: &actor.site_code, cases: &case_keys };
            let agreement_before = agreement::contribution(&mut tx, scope, true).await?;
            // 5. The new labels, their ids back by key.
            let mut q = String::from(
                "INSERT INTO labels (idempotency_key, case_key, site_code, reader_id, revision, grade, pcr, findings, \
                 ai_grade, ai_models, confirmed_at, received_at, payload_sha256, exam_date, postal_code, token_id) VALUES ",
            );
            push_rows(&mut q, new.len(), 16);
            q.push_str(" RETURNING id, idempotency_key");
            let received = now();
            let mut insert = sqlx::query(AssertSqlSafe(q));
            let mut by_key = new.clone();
            by_key.sort_by(|&a, &b| prepared[a].key.cmp(&prepared[b].key));
            for &i in &by_key {
                let (p, x) = (&labels[i], &prepared[i]);
                insert = insert
                    .bind(x.key.clone())
                    .bind(p.case_key.clone())
                    .bind(p.site_code.clone())
                    .bind(p.reader_id.clone())
                    .bind(p.revision)
                    .bind(i64::from(p.grade))
                    .bind(p.pcr.code())
                    .bind(p.findings.iter().map(|f| f.code()).collect::<Vec<_>>().join(";"))
                    .bind(p.ai_grade.map(i64::from))
                    .bind(serde_json::to_string(&p.ai_models).unwrap_or_default())
                    .bind(p.confirmed_at.clone())
                    .bind(received.clone())
                    .bind(x.hash.clone())
                    .bind(p.exam_date.clone())
                    .bind(p.facility_postal_code.clone())
                    .bind(token_id.to_owned());
            }
            let mut ids: HashMap<String, i64> = HashMap::new();
            for r in insert.fetch_all(&mut *tx).await.map_err(sql("store the labels"))? {
                ids.insert(
                    r.try_get(1).map_err(sql("read the label ids"))?,
                    r.try_get(0).map_err(sql("read the label ids"))?,
                );
            }
            for &i in &new {
                outcome[i] = Some(Ingested::Stored(ids.get(&prepared[i].key).copied().unwrap_or_default()));
            }

            // 6. Each case's current label: the latest confirmed; the counts follow it.
            let mut deltas: BTreeMap<(Source, String, String, i64, String), i64> = BTreeMap::new();
            let mut changed: BTreeMap<String, (i64, &LabelPayload)> = BTreeMap::new();
            for &i in &new {
                let p = &labels[i];
                let c = cases.get_mut(&p.case_key).ok_or_else(|| DbError::CaseMissing {
                    step: "move the case's current label",
                    case_key: p.case_key.clone(),
                })?;
                if c.confirmed_at.as_deref().is_some_and(|cur| p.confirmed_at.as_str() < cur) {
                    continue;
                }
                if let (Some(g), Some(pcr)) = (c.grade, c.pcr.clone()) {
                    *deltas
                        .entry((Source::Radiologist, c.day.clone(), c.prefecture.clone(), g, pcr.clone()))
                        .or_default() -= 1;
                    if let Some(ai) = c.ai_grade {
                        *deltas.entry((Source::Ai, c.day.clone(), c.prefecture.clone(), ai, pcr)).or_default() -= 1;
                    }
                }
                // The current label says when and where the case is counted: a revision that
                // corrects the exam date or the postal code moves the case's counts.
                let x = &prepared[i];
                c.day.clone_from(&x.day);
                x.prefecture.clone_into(&mut c.prefecture);
                let pcr = p.pcr.code().to_owned();
                *deltas
                    .entry((Source::Radiologist, c.day.clone(), c.prefecture.clone(), i64::from(p.grade), pcr.clone()))
                    .or_default() += 1;
                if let Some(ai) = p.ai_grade {
                    *deltas
                        .entry((Source::Ai, c.day.clone(), c.prefecture.clone(), i64::from(ai), pcr.clone()))
                        .or_default() += 1;
                }
                c.confirmed_at = Some(p.confirmed_at.clone());
                c.grade = Some(i64::from(p.grade));
                c.pcr = Some(pcr);
                c.ai_grade = p.ai_grade.map(i64::from);
                let id = ids.get(&prepared[i].key).copied().unwrap_or_default();
                changed.insert(p.case_key.clone(), (id, p));
            }
            deltas.retain(|_, d| *d != 0);
            if !deltas.is_empty() {
                let mut q = String::from("INSERT INTO counts (source, day, week, prefecture, grade, pcr, n) VALUES ");
                push_rows(&mut q, deltas.len(), 7);
                q.push_str(
                    " ON CONFLICT (source, day, prefecture, grade, pcr) DO UPDATE SET n = counts.n + excluded.n",
                );
                let mut upsert = sqlx::query(AssertSqlSafe(q));
                for ((source, day, prefecture, grade, pcr), delta) in &deltas {
                    let week = week_of(day).unwrap_or_else(|| day.clone());
                    upsert = upsert
                        .bind(source.code())
                        .bind(day.clone())
                        .bind(week)
                        .bind(prefecture.clone())
                        .bind(*grade)
                        .bind(pcr.clone())
                        .bind(*delta);
                }
                upsert.execute(&mut *tx).await.map_err(sql("update the counts"))?;
            }
            // 7. The cases' current labels.
            if !changed.is_empty() {
                let mut q = String::from(
                    "UPDATE cases SET cur_label = v.column2, cur_confirmed_at = v.column3, \
                     cur_grade = v.column4, cur_pcr = v.column5, cur_ai_grade = v.column6, exam_date = v.column7, \
                     postal_code = v.column8, prefecture = v.column9, day = v.column10, week = v.column11, \
                     age_band = v.column12, sex = v.column13 FROM (VALUES ",
                );
                push_rows(&mut q, changed.len(), 13);
                q.push_str(") AS v WHERE cases.case_key = v.column1 AND cases.site_code = $");
                q.push_str(&(changed.len() * 13 + 1).to_string());
                let mut update = sqlx::query(AssertSqlSafe(q));
                for (key, (id, p)) in &changed {
                    let c = &cases[key];
                    update = update
                        .bind(key.clone())
                        .bind(*id)
                        .bind(p.confirmed_at.clone())
                        .bind(i64::from(p.grade))
                        .bind(p.pcr.code())
                        .bind(p.ai_grade.map(i64::from))
                        .bind(p.exam_date.clone())
                        .bind(p.facility_postal_code.clone())
                        .bind(c.prefecture.clone())
                        .bind(c.day.clone())
                        .bind(week_of(&c.day).unwrap_or_else(|| c.day.clone()))
                        .bind(age_band(p.age_years))
                        .bind(p.sex.clone());
                }
                update = update.bind(actor.site_code.clone());
                update.execute(&mut *tx).await.map_err(sql("update the cases"))?;
            }
            let agreement_after = agreement::contribution(&mut tx, scope, true).await?;
            agreement::apply(&mut tx, agreement_before, agreement_after).await?;
            // 8. One audit row per stored label.
            let mut q = String::from("INSERT INTO audit (at, actor, site_code, action, target, token_id) VALUES ");
            push_rows(&mut q, new.len(), 6);
            let mut insert = sqlx::query(AssertSqlSafe(q));
            for &i in &new {
                insert = insert
                    .bind(received.clone())
                    .bind(actor.reader_id.clone())
                    .bind(actor.site_code.clone())
                    .bind("label.store")
                    .bind(prepared[i].key.clone())
                    .bind(token_id.to_owned());
            }
            insert.execute(&mut *tx).await.map_err(sql("audit the writes"))?;
        }
        // Duplicates inside the batch take the first one's id; conflicts carry the held label.
        for (i, x) in prepared.iter().enumerate() {
            if outcome[i].is_none()
                && let Some(&first) = in_batch.get(x.key.as_str())
                && prepared[first].hash == x.hash
                && let Some(Ingested::Stored(id)) = outcome[first]
            {
                outcome[i] = Some(Ingested::AlreadyThere(id));
            }
        }
        for (i, id) in conflicts {
            let held =
                if id >= 0 { self.label_payload_in(&mut tx, id).await? } else { labels[(-1 - id) as usize].clone() };
            outcome[i] = Some(Ingested::Conflict(Box::new(held)));
        }
        tx.commit().await.map_err(sql("commit the labels"))?;
        Ok(Ok(outcome.into_iter().map(|o| o.unwrap_or(Ingested::OtherSite)).collect()))
    }

    async fn label_payload_in(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: i64) -> Result<LabelPayload> {
        let row = sqlx::query(
            "SELECT case_key, site_code, postal_code, exam_date, reader_id, grade, pcr, findings, \
             ai_grade, ai_models, revision, confirmed_at FROM labels WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .map_err(sql("read the stored label"))?;
        let get = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
        let int = |i: usize| row.try_get::<Option<i64>, _>(i).ok().flatten();
        Ok(LabelPayload {
            schema: lungdesk_domain::LABEL_SCHEMA.to_owned(),
            case_key: get(0),
            site_code: get(1),
            facility_postal_code: get(2),
            exam_date: row.try_get(3).ok().flatten(),
            age_years: None,
            sex: None,
            reader_id: get(4),
            grade: int(5).and_then(|g| u8::try_from(g).ok()).unwrap_or_default(),
            pcr: Pcr::from_code(&get(6)).unwrap_or(Pcr::Pending),
            findings: get(7).split(';').filter_map(lungdesk_domain::Finding::from_code).collect(),
            ai_grade: int(8).and_then(|g| u8::try_from(g).ok()),
            ai_models: serde_json::from_str(&get(9)).ok().flatten(),
            revision: int(10).unwrap_or_default(),
            confirmed_at: get(11),
        })
    }

    /// Labels after receipt `after`, oldest first: of one site, or of all sites (`None`).
    pub async fn labels(&self, site: Option<&str>, after: i64, limit: i64) -> Result<Vec<SharedLabel>> {
        let rows = sqlx::query(
            "SELECT id, case_key, site_code, reader_id, revision, grade, pcr, findings, ai_grade, confirmed_at \
             FROM labels WHERE id > $1 AND ($2 = 1 OR site_code = $3) ORDER BY id LIMIT $4",
        )
        .bind(after)
        .bind(i64::from(site.is_none()))
        .bind(site.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(sql("read the labels"))?;
        rows.iter().map(shared_label).collect::<std::result::Result<_, _>>().map_err(sql("read the labels"))
    }

    /// Audited writes after `after`, of one site or all.
    pub async fn audit_trail(&self, site: Option<&str>, after: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, site_code, action, target, token_id FROM audit WHERE id > $1 AND ($2 = 1 OR site_code = $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(after)
        .bind(i64::from(site.is_none()))
        .bind(site.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(sql("read the audit trail"))?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    site_code: r.try_get(3)?,
                    action: r.try_get(4)?,
                    target: r.try_get(5)?,
                    token_id: r.try_get(6)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read the audit trail"))
    }

    /// Counts by period, prefecture, grade, PCR and source; those below `min_count` suppressed.
    pub async fn surveillance(&self, q: &SurveillanceQuery, min_count: i64) -> Result<Surveillance> {
        let period = match q.period {
            Period::Day => "day",
            Period::Week => "week",
        };
        let text = format!(
            "SELECT {period}, prefecture, grade, pcr, source, CAST(SUM(n) AS BIGINT), \
             CAST(SUM(CASE WHEN n < $7 THEN n ELSE 0 END) AS BIGINT) FROM counts \
             WHERE n > 0 AND day >= $1 AND day <= $2 AND ($3 = '' OR prefecture = $3) AND ($4 = 0 OR grade = $4) \
             AND ($5 = '' OR pcr = $5) AND ($6 = '' OR source = $6) \
             GROUP BY {period}, prefecture, grade, pcr, source ORDER BY {period}, prefecture, grade, pcr, source"
        );
        // Only the period column (one of two constants) is spliced in; every value is bound.
        let rows = sqlx::query(AssertSqlSafe(text))
            .bind(q.from.as_deref().unwrap_or("0000-00-00"))
            .bind(q.to.as_deref().unwrap_or("9999-99-99"))
            .bind(q.prefecture.as_deref().unwrap_or_default())
            .bind(i64::from(q.grade.unwrap_or(0)))
            .bind(q.pcr.map(Pcr::code).unwrap_or_default())
            .bind(q.source.map(Source::code).unwrap_or_default())
            .bind(min_count)
            .fetch_all(&self.pool)
            .await
            .map_err(sql("count"))?;
        let rows = rows
            .iter()
            .map(|r| {
                let (n, small): (i64, i64) = (r.try_get(5)?, r.try_get(6)?);
                let pcr: String = r.try_get(3)?;
                let source: String = r.try_get(4)?;
                Ok(SurveillanceRow {
                    period_start: r.try_get(0)?,
                    prefecture: r.try_get(1)?,
                    grade: u8::try_from(r.try_get::<i64, _>(2)?).unwrap_or_default(),
                    pcr: Pcr::from_code(&pcr).unwrap_or(Pcr::Pending),
                    source: if source == "ai" { Source::Ai } else { Source::Radiologist },
                    count: publishable(n, small, min_count).then_some(n),
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read the counts"))?;
        Ok(Surveillance { period: q.period, min_count, rows })
    }

    /// The AI-only counts of model set `q.model`: every case the set read, once, by its
    /// latest read (a newer version's read replaces an older one's), counted by the day of
    /// the exam (else of the reading), prefecture, grade or "cannot grade", sex and age band;
    /// the reads of a site the drift monitor withheld for those days left out (and flagged),
    /// and a cell they were left out of published without its count. From `ai_counts` (kept by
    /// ingest), less the withheld site-days' reads.
    pub async fn ai_surveillance(&self, q: &SurveillanceQuery, min_count: i64) -> Result<AiSurveillance> {
        type Cell = (String, String, i64, String, String, String);
        // A cell's cases, and how many of them are in its days' suppressed daily cells.
        let model_set = q.model.clone().unwrap_or_default();
        let (from, to) = (q.from.as_deref().unwrap_or("0000-00-00"), q.to.as_deref().unwrap_or("9999-99-99"));
        // The period's column is one of two names; the filters are bound.
        let period = match q.period {
            Period::Day => "day",
            Period::Week => "week",
        };
        let cells_of = |rows: &[AnyRow]| -> std::result::Result<Vec<(Cell, i64, i64)>, sqlx::Error> {
            rows.iter()
                .map(|r| {
                    let cell =
                        (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?);
                    Ok((cell, r.try_get(6)?, r.try_get(7)?))
                })
                .collect()
        };
        // Every latest read counted, less the withheld site-days' reads (read from the few
        // periods outward; `0 * $6`: no daily cells of their own, the same parameters); both in one snapshot, so that an ingest between them cannot skew
        // the difference.
        let statements = [
            (
                format!(
                    "SELECT {period}, prefecture, grade, cannot_grade, sex, age_band, CAST(SUM(n) AS BIGINT), \
                     CAST(SUM(CASE WHEN n < $6 THEN n ELSE 0 END) AS BIGINT) FROM ai_counts \
                     WHERE model_set = $1 AND day >= $2 AND day <= $3 AND ($4 = '' OR prefecture = $4) AND ($5 = 0 OR grade = $5) \
                     GROUP BY {period}, prefecture, grade, cannot_grade, sex, age_band"
                ),
                1,
                "count AI reads",
            ),
            (
                format!(
                    "SELECT a.{period}, a.prefecture, COALESCE(a.grade, 0), COALESCE(a.cannot_grade, ''), COALESCE(a.sex, ''), \
                     COALESCE(a.age_band, ''), COUNT(*), CAST(0 * $6 AS BIGINT) FROM drift_periods w JOIN ai_reads a ON a.site_code = w.site_code \
                     AND a.model_set = w.model_set AND a.latest = 1 AND a.day >= w.from_day AND (w.to_day IS NULL OR a.day < w.to_day) \
                     WHERE w.model_set = $1 AND w.status = 'withheld' AND a.day >= $2 AND a.day <= $3 \
                     AND ($4 = '' OR a.prefecture = $4) AND ($5 = 0 OR a.grade = $5) \
                     GROUP BY a.{period}, a.prefecture, a.grade, a.cannot_grade, a.sex, a.age_band"
                ),
                -1,
                "count withheld AI reads",
            ),
        ];
        let mut tx = self.pool.begin().await.map_err(sql("begin counting AI reads"))?;
        if self.postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .map_err(sql("begin counting AI reads"))?;
        }
        let mut cells: BTreeMap<Cell, (i64, i64)> = BTreeMap::new();
        for (text, sign, step) in statements {
            let rows = sqlx::query(AssertSqlSafe(text))
                .bind(model_set.clone())
                .bind(from.to_owned())
                .bind(to.to_owned())
                .bind(q.prefecture.clone().unwrap_or_default())
                .bind(i64::from(q.grade.unwrap_or(0)))
                .bind(min_count)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql(step))?;
            for (cell, n, small) in cells_of(&rows).map_err(sql("read the AI counts"))? {
                let e = cells.entry(cell).or_default();
                e.0 += sign * n;
                e.1 += small;
            }
        }
        tx.commit().await.map_err(sql("finish counting AI reads"))?;
        let none_if_empty = |s: String| (!s.is_empty()).then_some(s);
        let flags = self.drift_flags(&model_set, from, to, q.prefecture.as_deref().unwrap_or_default()).await?;
        // A cell a withheld site's reads were taken out of is published without its count: the
        // difference between two exports around a withhold would otherwise be that site's reads.
        let partial = |prefecture: &str, start: &str| {
            let end = match q.period {
                Period::Day => start.to_owned(),
                Period::Week => week_end_of(start).unwrap_or_else(|| start.to_owned()),
            };
            flags.iter().any(|f| {
                f.status == lungdesk_domain::drift::DriftStatus::Withheld
                    && f.prefecture == prefecture
                    && f.from_day.as_str() <= end.as_str()
                    && f.to_day.as_deref().is_none_or(|to| to > start)
            })
        };
        let rows = cells
            .into_iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|((period_start, prefecture, grade, cannot_grade, sex, age_band), (n, small))| AiSurveillanceRow {
                grade: u8::try_from(grade).ok().filter(|g| *g > 0),
                cannot_grade: none_if_empty(cannot_grade),
                sex: none_if_empty(sex),
                age_band: none_if_empty(age_band),
                count: (publishable(n, small, min_count) && !partial(&prefecture, &period_start)).then_some(n),
                period_start,
                prefecture,
            })
            .collect();
        Ok(AiSurveillance { period: q.period, min_count, source: Source::Ai, model_set, rows, flags })
    }

    /// The model versions of the AI reads of `model_set` with exam days `from`–`to`.
    pub async fn ai_model_versions(&self, model_set: &str, from: &str, to: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT model_version FROM ai_reads WHERE model_set = $1 AND latest = 1 AND day >= $2 AND day <= $3 \
             ORDER BY model_version",
        )
        .bind(model_set.to_owned())
        .bind(from.to_owned())
        .bind(to.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(sql("list the model versions"))?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("list the model versions"))
    }

    /// Agreement of model set `model_set` with the readers (and of readers with each other)
    /// at `site` (every site when `None`), over exam days `from`–`to`.
    pub async fn agreement(
        &self,
        model_set: &str,
        site: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Agreement> {
        let (lo, hi) = (from.unwrap_or("0000-00-00"), to.unwrap_or("9999-99-99"));
        let (ai_cells, reader_cells) = agreement::sums(self, model_set, site.unwrap_or_default(), lo, hi).await?;
        let confusion = |cells: Vec<(i64, i64, i64)>| {
            let mut m = lungdesk_domain::Confusion4::default();
            for (a, b, n) in cells {
                m.add_cases(u8::try_from(a).unwrap_or(0), u8::try_from(b).unwrap_or(0), u64::try_from(n).unwrap_or(0));
            }
            m
        };
        let (ai, readers) = (confusion(ai_cells), confusion(reader_cells));
        Ok(Agreement {
            model_set: model_set.to_owned(),
            site: site.map(str::to_owned),
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            cases: ai.total(),
            kappa: ai.kappa(),
            linear_kappa: ai.linear_kappa(),
            confusion: ai,
            readers: ReaderAgreement {
                cases: readers.total(),
                kappa: readers.kappa(),
                linear_kappa: readers.linear_kappa(),
                confusion: readers,
            },
        })
    }

    /// Rows in a table (tests and the health endpoint).
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        let table = match table {
            "labels" | "cases" | "counts" | "audit" | "tokens" | "revoked_tokens" | "ai_reads" => table,
            _ => return Ok(0),
        };
        // `table` is one of the names matched above.
        sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(sql("count rows"))
    }
}

/// Whether a cell of `n` cases is published with its count: at least `min_count` cases, and
/// (a weekly cell) the cases of its days' suppressed daily cells (`small_daily`) none, or
/// `min_count` or more. A weekly cell less its published days is the sum of the suppressed
/// ones, so one suppressed day of 1 beside six published days would otherwise be recovered by
/// subtraction; of a daily cell, `small_daily` is the cell itself when it is under the
/// threshold, so the rule is the threshold alone.
fn publishable(n: i64, small_daily: i64, min_count: i64) -> bool {
    n >= min_count && (small_daily == 0 || small_daily >= min_count)
}

/// Whether a query failed only because its table does not exist (PostgreSQL 42P01, SQLite
/// "no such table"): the one failure that means "this part of the schema is not there yet".
fn missing_table(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") || d.message().contains("no such table"))
}

fn shared_label(r: &AnyRow) -> std::result::Result<SharedLabel, sqlx::Error> {
    let pcr: String = r.try_get(6)?;
    let findings: String = r.try_get(7)?;
    Ok(SharedLabel {
        id: r.try_get(0)?,
        case_key: r.try_get(1)?,
        site_code: r.try_get(2)?,
        reader_id: r.try_get(3)?,
        revision: r.try_get(4)?,
        grade: u8::try_from(r.try_get::<i64, _>(5)?).unwrap_or_default(),
        pcr: Pcr::from_code(&pcr).unwrap_or(Pcr::Pending),
        findings: findings.split(';').filter_map(lungdesk_domain::Finding::from_code).collect(),
        ai_grade: r.try_get::<Option<i64>, _>(8)?.and_then(|g| u8::try_from(g).ok()),
        confirmed_at: r.try_get(9)?,
    })
}

/// One site's AI-read and label batches one at a time in PostgreSQL, so that two cannot each
/// take their own read of a case for the latest, nor move the agreement cells from the same
/// starting state (SQLite's writer lock does this already: each batch writes first). Taken
/// first in every such transaction, before any row lock.
async fn lock_site(tx: &mut sqlx::Transaction<'_, sqlx::Any>, site: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::text")
        .bind(format!("site-writes:{site}"))
        .execute(&mut **tx)
        .await
        .map_err(sql("lock the site's AI reads"))?;
    Ok(())
}

/// The columns of an `ai_counts` cell, from `ai_reads`.
const AI_CELL: &str = "model_set, day, week, prefecture, COALESCE(grade, 0), COALESCE(cannot_grade, ''), \
     COALESCE(sex, ''), COALESCE(age_band, '')";

/// An `ai_counts` cell: set, day, week, prefecture, grade (0: cannot grade), cannot-grade
/// code, sex, age band ('' for none).
type AiCell = (String, String, String, String, i64, String, String, String);

/// The cells of the latest reads of `cases` at `site`, each once per read.
async fn latest_cells(tx: &mut sqlx::Transaction<'_, sqlx::Any>, site: &str, cases: &[&str]) -> Result<Vec<AiCell>> {
    let mut q = format!("SELECT {AI_CELL} FROM ai_reads WHERE latest = 1 AND site_code = $1 AND case_key IN (");
    push_list(&mut q, 2, cases.len());
    q.push(')');
    let mut select = sqlx::query(AssertSqlSafe(q)).bind(site.to_owned());
    for c in cases {
        select = select.bind((*c).to_owned());
    }
    select
        .fetch_all(&mut **tx)
        .await
        .map_err(sql("read the AI count cells"))?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get(6)?,
                r.try_get(7)?,
            ))
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(sql("read the AI count cells"))
}

/// Moves `ai_counts` by the change of the latest reads of `cases`: marks them, and counts
/// what became latest in, what stopped being latest out.
async fn move_latest(tx: &mut sqlx::Transaction<'_, sqlx::Any>, site: &str, cases: &[&str]) -> Result<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let before = latest_cells(tx, site, cases).await?;
    let scope = agreement::Scope::Cases { site, cases };
    let agreement_before = agreement::contribution(tx, scope, false).await?;
    mark_latest(tx, site, cases).await?;
    let after = latest_cells(tx, site, cases).await?;
    let agreement_after = agreement::contribution(tx, scope, false).await?;
    agreement::apply(tx, agreement_before, agreement_after).await?;
    let mut delta: BTreeMap<AiCell, i64> = BTreeMap::new();
    for c in before {
        *delta.entry(c).or_default() -= 1;
    }
    for c in after {
        *delta.entry(c).or_default() += 1;
    }
    delta.retain(|_, n| *n != 0);
    if delta.is_empty() {
        return Ok(());
    }
    // In key order: the lock order of concurrent batches.
    let mut q = String::from(
        "INSERT INTO ai_counts (model_set, day, week, prefecture, grade, cannot_grade, sex, age_band, n) VALUES ",
    );
    push_rows(&mut q, delta.len(), 9);
    q.push_str(
        " ON CONFLICT (model_set, day, prefecture, grade, cannot_grade, sex, age_band) DO UPDATE SET n = ai_counts.n + excluded.n",
    );
    let mut upsert = sqlx::query(AssertSqlSafe(q));
    for ((set, day, week, prefecture, grade, cannot, sex, age), n) in delta {
        upsert =
            upsert.bind(set).bind(day).bind(week).bind(prefecture).bind(grade).bind(cannot).bind(sex).bind(age).bind(n);
    }
    upsert.execute(&mut **tx).await.map_err(sql("move the AI counts"))?;
    Ok(())
}

/// Marks the latest read of each of `cases` by each set (by `analysed_at`, then id), and only it.
async fn mark_latest(tx: &mut sqlx::Transaction<'_, sqlx::Any>, site: &str, cases: &[&str]) -> Result<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let mut q = String::from(
        "UPDATE ai_reads SET latest = CASE WHEN id = (SELECT b.id FROM ai_reads b WHERE b.site_code = ai_reads.site_code \
         AND b.case_key = ai_reads.case_key AND b.model_set = ai_reads.model_set \
         ORDER BY b.analysed_at DESC, b.id DESC LIMIT 1) THEN 1 ELSE 0 END \
         WHERE site_code = $1 AND case_key IN (",
    );
    push_list(&mut q, 2, cases.len());
    q.push(')');
    let mut update = sqlx::query(AssertSqlSafe(q)).bind(site.to_owned());
    for c in cases {
        update = update.bind((*c).to_owned());
    }
    update.execute(&mut **tx).await.map_err(sql("mark the latest AI reads"))?;
    Ok(())
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: Issuer<'_>,
    site: &str,
    action: &str,
    target: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO audit (at, actor, site_code, action, target, token_id) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(now())
        .bind(actor.name)
        .bind(site)
        .bind(action)
        .bind(target)
        .bind(actor.token_id)
        .execute(&mut **tx)
        .await
        .map_err(sql("audit the write"))?;
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}://{user}:***{}", &url[..s], &url[at..])
        }
        _ => url.to_owned(),
    };
    // Query parameters that carry secrets (`?password=…`, `&sslpassword=…`, `&token=…`).
    let Some(q) = url.find('?') else { return url };
    let params: Vec<String> = url[q + 1..]
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _))
                if ["password", "pass", "pwd", "sslpassword", "token", "secret"]
                    .contains(&k.to_ascii_lowercase().as_str()) =>
            {
                format!("{k}=***")
            }
            _ => kv.to_owned(),
        })
        .collect();
    format!("{}?{}", &url[..q], params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_become_bands_and_days_weeks() {
        assert_eq!(age_band(Some(61)).as_deref(), Some("60-69"));
        assert_eq!(age_band(Some(9)).as_deref(), Some("0-9"));
        assert_eq!(age_band(Some(97)).as_deref(), Some("90+"));
        assert_eq!(age_band(None), None);
        assert_eq!(week_of("2026-04-01").as_deref(), Some("2026-03-30")); // a Wednesday
        assert_eq!(week_of("2026-03-30").as_deref(), Some("2026-03-30"));
        assert_eq!(week_of("2026-04-05").as_deref(), Some("2026-03-30")); // Sunday
        assert_eq!(week_of("nonsense"), None);
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=secret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact("postgres://h/db?PassWord=x"), "postgres://h/db?PassWord=***");
        assert_eq!(redact("postgres://u:s@h/db?sslpassword=k"), "postgres://u:***@h/db?sslpassword=***");
    }
}
