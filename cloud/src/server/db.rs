//! Storage: one schema and one set of queries for SQLite and PostgreSQL, through sqlx's `Any`
//! driver. Only the id column's DDL differs between the two.

use lungdesk_domain::{LabelPayload, Pcr, SharedLabel, prefecture_of_postal_code};
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::wire::{AuditEntry, Period, Role, Source, Surveillance, SurveillanceQuery, SurveillanceRow};

/// A storage failure, naming the step.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the service database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("service database: {step}: {source}")]
    Sql { step: &'static str, source: sqlx::Error },
    #[error("the database URL must start with sqlite: or postgres:, not {0}")]
    Scheme(String),
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
    /// The case belongs to another site.
    OtherSite,
}

/// The token's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub reader_id: String,
    pub site_code: String,
    pub role: Role,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    Expired,
}

/// The service's database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tokens (token_sha256 TEXT PRIMARY KEY, reader_id TEXT NOT NULL, site_code TEXT NOT NULL, \
     role TEXT NOT NULL, expires_at BIGINT NOT NULL, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cases (case_key TEXT PRIMARY KEY, site_code TEXT NOT NULL, exam_date TEXT, \
     age_band TEXT, sex TEXT, postal_code TEXT NOT NULL, prefecture TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
     cur_label BIGINT, cur_confirmed_at TEXT, cur_grade BIGINT, cur_pcr TEXT, cur_ai_grade BIGINT, \
     touched BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS labels (id {ID}, idempotency_key TEXT NOT NULL UNIQUE, \
     case_key TEXT NOT NULL REFERENCES cases(case_key), site_code TEXT NOT NULL, reader_id TEXT NOT NULL, \
     revision BIGINT NOT NULL, grade BIGINT NOT NULL, pcr TEXT NOT NULL, findings TEXT NOT NULL, ai_grade BIGINT, \
     ai_models TEXT NOT NULL, confirmed_at TEXT NOT NULL, received_at TEXT NOT NULL, payload_sha256 TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS labels_site ON labels(site_code, id)",
    "CREATE TABLE IF NOT EXISTS counts (source TEXT NOT NULL, day TEXT NOT NULL, week TEXT NOT NULL, \
     prefecture TEXT NOT NULL, grade BIGINT NOT NULL, pcr TEXT NOT NULL, n BIGINT NOT NULL, \
     PRIMARY KEY (source, day, prefecture, grade, pcr))",
    "CREATE INDEX IF NOT EXISTS counts_day ON counts(day)",
    "CREATE TABLE IF NOT EXISTS audit (id {ID}, at TEXT NOT NULL, actor TEXT NOT NULL, site_code TEXT NOT NULL, \
     action TEXT NOT NULL, target TEXT NOT NULL)",
];

/// Now, RFC 3339 UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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
        let id = if postgres { "BIGSERIAL PRIMARY KEY" } else { "INTEGER PRIMARY KEY" };
        for ddl in SCHEMA {
            // The DDL is a constant; only the id column type is spliced in.
            sqlx::query(AssertSqlSafe(ddl.replace("{ID}", id)))
                .execute(&db.pool)
                .await
                .map_err(sql("create the schema"))?;
        }
        Ok(db)
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Stores a token (by its hash) for a reader; audited.
    pub async fn add_token(&self, token: &str, who: &Principal, expires_at: i64, issued_by: &str) -> Result<()> {
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
        .bind(issued_by)
        .execute(&mut *tx)
        .await
        .map_err(sql("store the token"))?;
        audit(&mut tx, issued_by, &who.site_code, "token.issue", &format!("{}:{}", who.reader_id, who.role.code()))
            .await?;
        tx.commit().await.map_err(sql("commit the token"))
    }

    /// Who holds this token, if it is known and not expired.
    pub async fn principal(&self, token: &str) -> Result<std::result::Result<Principal, TokenProblem>> {
        let row = sqlx::query("SELECT reader_id, site_code, role, expires_at FROM tokens WHERE token_sha256 = $1")
            .bind(token_hash(token))
            .fetch_optional(&self.pool)
            .await
            .map_err(sql("look up the token"))?;
        let Some(row) = row else { return Ok(Err(TokenProblem::Unknown)) };
        let expires_at: i64 = row.try_get(3).map_err(sql("read the token"))?;
        if expires_at <= unix_now() {
            return Ok(Err(TokenProblem::Expired));
        }
        let role: String = row.try_get(2).map_err(sql("read the token"))?;
        Ok(Role::from_code(&role)
            .map(|role| Principal {
                reader_id: row.try_get(0).unwrap_or_default(),
                site_code: row.try_get(1).unwrap_or_default(),
                role,
            })
            .ok_or(TokenProblem::Unknown))
    }

    /// Stores one validated label: once per idempotency key, in one transaction with its case,
    /// the counts it moves and its audit row.
    pub async fn ingest(&self, p: &LabelPayload, actor: &Principal) -> Result<Ingested> {
        let canonical = serde_json::to_string(p).unwrap_or_default();
        let hash = format!("{:x}", Sha256::digest(canonical.as_bytes()));
        let key = p.idempotency_key();
        let confirmed_day = p.confirmed_at.get(..10).unwrap_or_default().to_owned();
        let day = p.exam_date.clone().unwrap_or(confirmed_day);
        let week = week_of(&day).unwrap_or_else(|| day.clone());
        let prefecture = prefecture_of_postal_code(&p.facility_postal_code).unwrap_or("00");

        let mut tx = self.pool.begin().await.map_err(sql("begin storing a label"))?;
        // A write first: it takes SQLite's write lock at once, and the UPDATE below locks the
        // case row in PostgreSQL, so labels of one case are stored one at a time.
        sqlx::query(
            "INSERT INTO cases (case_key, site_code, exam_date, age_band, sex, postal_code, prefecture, day, week) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (case_key) DO NOTHING",
        )
        .bind(&p.case_key)
        .bind(&p.site_code)
        .bind(p.exam_date.as_deref())
        .bind(age_band(p.age_years))
        .bind(p.sex.as_deref())
        .bind(&p.facility_postal_code)
        .bind(prefecture)
        .bind(&day)
        .bind(&week)
        .execute(&mut *tx)
        .await
        .map_err(sql("store the case"))?;
        let case = sqlx::query(
            "UPDATE cases SET touched = touched + 1 WHERE case_key = $1 \
             RETURNING site_code, day, week, prefecture, cur_label, cur_confirmed_at, cur_grade, cur_pcr, cur_ai_grade",
        )
        .bind(&p.case_key)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("lock the case"))?;
        let site: String = case.try_get(0).map_err(sql("read the case"))?;
        if site != p.site_code {
            tx.rollback().await.map_err(sql("roll back"))?;
            return Ok(Ingested::OtherSite);
        }
        let existing = sqlx::query("SELECT id, payload_sha256 FROM labels WHERE idempotency_key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql("look up the label"))?;
        if let Some(row) = existing {
            tx.rollback().await.map_err(sql("roll back"))?;
            let id: i64 = row.try_get(0).map_err(sql("read the label"))?;
            let stored_hash: String = row.try_get(1).map_err(sql("read the label"))?;
            if stored_hash == hash {
                return Ok(Ingested::AlreadyThere(id));
            }
            let held = self.label_payload(id).await?;
            return Ok(Ingested::Conflict(Box::new(held)));
        }
        let findings = p.findings.iter().map(|f| f.code()).collect::<Vec<_>>().join(";");
        let id: i64 = sqlx::query(
            "INSERT INTO labels (idempotency_key, case_key, site_code, reader_id, revision, grade, pcr, findings, \
             ai_grade, ai_models, confirmed_at, received_at, payload_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(&key)
        .bind(&p.case_key)
        .bind(&p.site_code)
        .bind(&p.reader_id)
        .bind(p.revision)
        .bind(i64::from(p.grade))
        .bind(p.pcr.code())
        .bind(&findings)
        .bind(p.ai_grade.map(i64::from))
        .bind(serde_json::to_string(&p.ai_models).unwrap_or_default())
        .bind(&p.confirmed_at)
        .bind(now())
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("store the label"))?
        .try_get(0)
        .map_err(sql("read the label id"))?;

        // The case's current label is its latest confirmed one; the counts follow it.
        let cur_confirmed: Option<String> = case.try_get(5).map_err(sql("read the case"))?;
        if cur_confirmed.as_deref().is_none_or(|c| p.confirmed_at.as_str() >= c) {
            let case_day: String = case.try_get(1).map_err(sql("read the case"))?;
            let case_week: String = case.try_get(2).map_err(sql("read the case"))?;
            let case_pref: String = case.try_get(3).map_err(sql("read the case"))?;
            let old_grade: Option<i64> = case.try_get(6).map_err(sql("read the case"))?;
            let old_pcr: Option<String> = case.try_get(7).map_err(sql("read the case"))?;
            let old_ai: Option<i64> = case.try_get(8).map_err(sql("read the case"))?;
            let cell = |source: Source, grade: i64, pcr: String| (source, grade, pcr);
            let mut old = Vec::new();
            if let (Some(g), Some(pcr)) = (old_grade, old_pcr.clone()) {
                old.push(cell(Source::Radiologist, g, pcr));
            }
            if let (Some(g), Some(pcr)) = (old_ai, old_pcr) {
                old.push(cell(Source::Ai, g, pcr));
            }
            let mut new = vec![cell(Source::Radiologist, i64::from(p.grade), p.pcr.code().to_owned())];
            if let Some(g) = p.ai_grade {
                new.push(cell(Source::Ai, i64::from(g), p.pcr.code().to_owned()));
            }
            for (source, grade, pcr) in old {
                sqlx::query(
                    "UPDATE counts SET n = n - 1 WHERE source = $1 AND day = $2 AND prefecture = $3 AND grade = $4 AND pcr = $5",
                )
                .bind(source.code())
                .bind(&case_day)
                .bind(&case_pref)
                .bind(grade)
                .bind(pcr)
                .execute(&mut *tx)
                .await
                .map_err(sql("update the counts"))?;
            }
            for (source, grade, pcr) in new {
                sqlx::query(
                    "INSERT INTO counts (source, day, week, prefecture, grade, pcr, n) VALUES ($1, $2, $3, $4, $5, $6, 1) \
                     ON CONFLICT (source, day, prefecture, grade, pcr) DO UPDATE SET n = counts.n + 1",
                )
                .bind(source.code())
                .bind(&case_day)
                .bind(&case_week)
                .bind(&case_pref)
                .bind(grade)
                .bind(pcr)
                .execute(&mut *tx)
                .await
                .map_err(sql("update the counts"))?;
            }
            sqlx::query(
                "UPDATE cases SET cur_label = $2, cur_confirmed_at = $3, cur_grade = $4, cur_pcr = $5, cur_ai_grade = $6 \
                 WHERE case_key = $1",
            )
            .bind(&p.case_key)
            .bind(id)
            .bind(&p.confirmed_at)
            .bind(i64::from(p.grade))
            .bind(p.pcr.code())
            .bind(p.ai_grade.map(i64::from))
            .execute(&mut *tx)
            .await
            .map_err(sql("update the case"))?;
        }
        audit(&mut tx, &actor.reader_id, &actor.site_code, "label.store", &key).await?;
        tx.commit().await.map_err(sql("commit the label"))?;
        Ok(Ingested::Stored(id))
    }

    async fn label_payload(&self, id: i64) -> Result<LabelPayload> {
        let row = sqlx::query(
            "SELECT l.case_key, l.site_code, c.postal_code, c.exam_date, l.reader_id, l.grade, l.pcr, l.findings, \
             l.ai_grade, l.ai_models, l.revision, l.confirmed_at FROM labels l JOIN cases c ON c.case_key = l.case_key \
             WHERE l.id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
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
             FROM labels WHERE id > $1 AND ($2 = '' OR site_code = $2) ORDER BY id LIMIT $3",
        )
        .bind(after)
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
            "SELECT id, at, actor, site_code, action, target FROM audit WHERE id > $1 AND ($2 = '' OR site_code = $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(after)
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
            "SELECT {period}, prefecture, grade, pcr, source, CAST(SUM(n) AS BIGINT) FROM counts \
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
            .fetch_all(&self.pool)
            .await
            .map_err(sql("count"))?;
        let rows = rows
            .iter()
            .map(|r| {
                let n: i64 = r.try_get(5)?;
                let pcr: String = r.try_get(3)?;
                let source: String = r.try_get(4)?;
                Ok(SurveillanceRow {
                    period_start: r.try_get(0)?,
                    prefecture: r.try_get(1)?,
                    grade: u8::try_from(r.try_get::<i64, _>(2)?).unwrap_or_default(),
                    pcr: Pcr::from_code(&pcr).unwrap_or(Pcr::Pending),
                    source: if source == "ai" { Source::Ai } else { Source::Radiologist },
                    count: (n >= min_count).then_some(n),
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read the counts"))?;
        Ok(Surveillance { period: q.period, min_count, rows })
    }

    /// Rows in a table (tests and the health endpoint).
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        let table = match table {
            "labels" | "cases" | "counts" | "audit" | "tokens" => table,
            _ => return Ok(0),
        };
        // `table` is one of the five names matched above.
        sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(sql("count rows"))
    }
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

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &str,
    site: &str,
    action: &str,
    target: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO audit (at, actor, site_code, action, target) VALUES ($1, $2, $3, $4, $5)")
        .bind(now())
        .bind(actor)
        .bind(site)
        .bind(action)
        .bind(target)
        .execute(&mut **tx)
        .await
        .map_err(sql("audit the write"))?;
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}://{user}:***{}", &url[..s], &url[at..])
        }
        _ => url.to_owned(),
    }
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
    }
}
