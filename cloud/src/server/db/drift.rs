//! The drift monitor's side of the database: the inputs of one site × model set, and its
//! withheld and unmeasured periods kept in `drift_periods`, each withhold and release audited.

use lungdesk_domain::drift::{self, DriftConfig, DriftPeriod, DriftStatus, GradedCase, MixRead};
use sqlx::Row;

use super::{Db, Issuer, Result, audit, sql};
use crate::wire::{DriftFlag, DriftMonitor};

/// Who writes the monitor's audit rows.
const MONITOR: &str = "drift-monitor";

fn status_code(s: DriftStatus) -> &'static str {
    match s {
        DriftStatus::Published => "published",
        DriftStatus::Unmeasured => "unmeasured",
        DriftStatus::Withheld => "withheld",
    }
}

fn status_from_code(code: &str) -> DriftStatus {
    match code {
        "withheld" => DriftStatus::Withheld,
        "unmeasured" => DriftStatus::Unmeasured,
        _ => DriftStatus::Published,
    }
}

/// A stored period: status, from, to, reason code, reason.
type Stored = (String, String, Option<String>, String, String);

impl Db {
    /// Every site × model set with AI reads, in `site` (all when `None`) and of `model_set`
    /// (all when `None`).
    pub async fn drift_monitors(&self, site: Option<&str>, model_set: Option<&str>) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT site_code, model_set FROM ai_reads WHERE ($1 = '' OR site_code = $1) \
             AND ($2 = '' OR model_set = $2) ORDER BY site_code, model_set",
        )
        .bind(site.unwrap_or_default().to_owned())
        .bind(model_set.unwrap_or_default().to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(sql("list the drift monitors"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("list the drift monitors"))
    }

    /// The model sets a site has AI reads of.
    pub async fn model_sets_of(&self, site: &str) -> Result<Vec<String>> {
        Ok(self.drift_monitors(Some(site), None).await?.into_iter().map(|(_, set)| set).collect())
    }

    /// Evaluates one site × model set over all its reads and confirmed grades, stores its
    /// periods where they changed, and audits each withhold and release.
    pub async fn evaluate_drift(&self, site: &str, model_set: &str, cfg: &DriftConfig) -> Result<DriftMonitor> {
        // The set's latest read of each case, with the case's latest confirmed grade if any.
        let rows = sqlx::query(
            "SELECT a.day, a.grade, c.cur_grade, a.prefecture FROM ai_reads a LEFT JOIN cases c \
             ON c.site_code = a.site_code AND c.case_key = a.case_key \
             WHERE a.site_code = $1 AND a.model_set = $2 \
             AND a.latest = 1 ORDER BY a.day, a.case_key",
        )
        .bind(site.to_owned())
        .bind(model_set.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(sql("read the drift monitor's cases"))?;
        let mut cases = Vec::new();
        let mut reads = Vec::with_capacity(rows.len());
        // The site's prefecture: the one most of its reads name.
        let mut prefectures: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for r in &rows {
            let day: String = r.try_get(0).map_err(sql("read the drift monitor's cases"))?;
            let ai: Option<i64> = r.try_get(1).map_err(sql("read the drift monitor's cases"))?;
            let reader: Option<i64> = r.try_get(2).map_err(sql("read the drift monitor's cases"))?;
            let pref: String = r.try_get(3).map_err(sql("read the drift monitor's cases"))?;
            if !pref.is_empty() {
                *prefectures.entry(pref).or_default() += 1;
            }
            let Some(day) = drift::day_number(&day) else { continue };
            let ai = ai.and_then(|g| u8::try_from(g).ok());
            reads.push(MixRead { day, class: ai.unwrap_or(0) });
            if let (Some(ai), Some(reader)) = (ai, reader.and_then(|g| u8::try_from(g).ok())) {
                cases.push(GradedCase { day, ai, reader });
            }
        }
        let prefecture = prefectures.into_iter().max_by_key(|(_, n)| *n).map(|(p, _)| p).unwrap_or_default();
        let points = drift::timeline(&cases, &reads, cfg);
        let periods = drift::periods(&points);
        self.store_periods(site, model_set, &prefecture, &periods).await?;
        let (status, reasons) =
            points.last().map_or((DriftStatus::Unmeasured, Vec::new()), |p| (p.status, p.reasons.clone()));
        Ok(DriftMonitor {
            site_code: site.to_owned(),
            prefecture,
            model_set: model_set.to_owned(),
            status,
            reasons,
            points,
            periods,
        })
    }

    /// Replaces the stored periods of a site × set when they changed: a withheld period that
    /// is new is audited `drift.withhold`, one that closed or went away `drift.release`.
    async fn store_periods(
        &self,
        site: &str,
        model_set: &str,
        prefecture: &str,
        periods: &[DriftPeriod],
    ) -> Result<()> {
        let new: Vec<Stored> = periods
            .iter()
            .map(|p| {
                (
                    status_code(p.status).to_owned(),
                    p.from_day.clone(),
                    p.to_day.clone(),
                    p.reason.code().to_owned(),
                    p.reason.text(),
                )
            })
            .collect();
        let mut tx = self.pool.begin().await.map_err(sql("begin storing the drift periods"))?;
        // A write first (SQLite takes its writer lock at once, so a concurrent writer waits
        // instead of failing), and one evaluation of a site × set at a time in PostgreSQL.
        if self.postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::text")
                .bind(format!("drift:{site}:{model_set}"))
                .execute(&mut *tx)
                .await
                .map_err(sql("lock the drift periods"))?;
        }
        let rows = sqlx::query(
            "DELETE FROM drift_periods WHERE site_code = $1 AND model_set = $2 \
             RETURNING status, from_day, to_day, reason_code, reason",
        )
        .bind(site.to_owned())
        .bind(model_set.to_owned())
        .fetch_all(&mut *tx)
        .await
        .map_err(sql("read the drift periods"))?;
        let mut old: Vec<Stored> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read the drift periods"))?;
        old.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        let mut sorted = new.clone();
        sorted.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        // Compared without the reason's text, whose numbers move with every new case.
        let key = |v: &[Stored]| v.iter().map(|p| (p.0.clone(), p.1.clone(), p.2.clone())).collect::<Vec<_>>();
        if key(&old) == key(&sorted) {
            // Unchanged: the delete is rolled back with the transaction.
            return Ok(());
        }
        let monitor = Issuer { name: MONITOR, token_id: "" };
        let withheld = |v: &[Stored]| -> Vec<Stored> {
            v.iter().filter(|p| status_from_code(&p.0) == DriftStatus::Withheld).cloned().collect()
        };
        let (old_w, new_w) = (withheld(&old), withheld(&sorted));
        for p in &new_w {
            let before = old_w.iter().find(|o| o.1 == p.1);
            if before.is_none() {
                let target = format!("{model_set} from {}: {}", p.1, p.4);
                audit(&mut tx, monitor, site, "drift.withhold", &target).await?;
            }
            match (&p.2, before.map(|b| &b.2)) {
                // Released now (or withheld and released since the last evaluation), or
                // released on another day than before.
                (Some(to), None | Some(None)) => {
                    let target = format!("{model_set} from {}: released on {to}", p.1);
                    audit(&mut tx, monitor, site, "drift.release", &target).await?;
                }
                (Some(to), Some(Some(was))) if to != was => {
                    let target = format!("{model_set} from {}: released on {to} (was {was}) on re-evaluation", p.1);
                    audit(&mut tx, monitor, site, "drift.release", &target).await?;
                }
                // Released before, withheld again (late labels or reads).
                (None, Some(Some(was))) => {
                    let target = format!("{model_set} from {}: withheld again (was released on {was})", p.1);
                    audit(&mut tx, monitor, site, "drift.withhold", &target).await?;
                }
                _ => {}
            }
        }
        for o in old_w.iter().filter(|o| !new_w.iter().any(|p| p.1 == o.1)) {
            let target = format!("{model_set} from {}: no longer withheld on re-evaluation", o.1);
            audit(&mut tx, monitor, site, "drift.release", &target).await?;
        }
        for (status, from, to, code, reason) in sorted {
            sqlx::query(
                "INSERT INTO drift_periods (site_code, model_set, status, from_day, to_day, reason_code, reason, prefecture) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(site.to_owned())
            .bind(model_set.to_owned())
            .bind(status)
            .bind(from)
            .bind(to)
            .bind(code)
            .bind(reason)
            .bind(prefecture.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(sql("replace the drift periods"))?;
        }
        tx.commit().await.map_err(sql("commit the drift periods"))
    }

    /// The stored periods of `model_set` overlapping exam days `from`–`to`, in `prefecture`
    /// (all when empty).
    pub async fn drift_flags(&self, model_set: &str, from: &str, to: &str, prefecture: &str) -> Result<Vec<DriftFlag>> {
        let rows = sqlx::query(
            "SELECT site_code, prefecture, status, from_day, to_day, reason_code, reason FROM drift_periods \
             WHERE model_set = $1 AND from_day <= $3 AND (to_day IS NULL OR to_day > $2) AND ($4 = '' OR prefecture = $4) \
             ORDER BY site_code, from_day",
        )
        .bind(model_set.to_owned())
        .bind(from.to_owned())
        .bind(to.to_owned())
        .bind(prefecture.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(sql("read the drift flags"))?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(2)?;
                Ok(DriftFlag {
                    site_code: r.try_get(0)?,
                    prefecture: r.try_get(1)?,
                    model_set: model_set.to_owned(),
                    status: status_from_code(&status),
                    from_day: r.try_get(3)?,
                    to_day: r.try_get(4)?,
                    reason_code: r.try_get(5)?,
                    reason: r.try_get(6)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql("read the drift flags"))
    }
}
