//! The AI's results by model set, and the AI-read outbox (issue #17).
//!
//! Every pre-read is kept with the model set that made it (the bundled set, or a site's own
//! folder of manifests). A read by trained models becomes one `lungdesk-ai-read/1` payload per
//! case, set and version (its idempotency key), queued in the same file and sent once.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{CaseFields, Result, Store, StoreError, ai_grade_text, insert_history, now};
use crate::model::{AiCannotGrade, AiResult, Grade, Identity};

/// The model set of the models bundled with LungDesk (what the desk reads a case with).
pub const BUNDLED_SET: &str = "bundled";

/// An AI read waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct AiReadOutboxItem {
    pub id: i64,
    pub payload: lungdesk_domain::AiReadPayload,
}

type ResultRow = (i64, String, Option<i64>, Option<String>, Option<String>, String, String, String, String);
type QuantRow = (Option<f64>, Option<i64>, String);

impl Store {
    /// Records the desk's pre-read of a case (bundled models; a new row, the latest is
    /// current), with history.
    pub fn set_ai_result(&mut self, case_id: i64, ai: &AiResult) -> Result<()> {
        self.record_ai_read(case_id, BUNDLED_SET, ai).map(|_| ())
    }

    /// Records the pre-read of a case by model set `model_set`, with history; `false` when it
    /// is the set's latest result again (from the cache), which is kept once.
    pub fn record_ai_read(&mut self, case_id: i64, model_set: &str, ai: &AiResult) -> Result<bool> {
        let path = self.path.clone();
        let err = move |step| {
            let path = path.clone();
            move |source| StoreError::Sql { path, step, source }
        };
        if ai.grade.is_some() == ai.cannot_grade.is_some() {
            return Err(StoreError::Payload("an AI result holds either a grade or a reason it cannot grade".into()));
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err("begin AI result"))?;
        let old: Option<(Option<i64>, Option<String>, String, String)> = tx
            .query_row(
                "SELECT grade, cannot_grade_code, method, models FROM ai_results WHERE case_id = ?1 AND model_set = ?2 \
                 ORDER BY id DESC LIMIT 1",
                params![case_id, model_set],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(err("read the AI result"))?;
        let models = serde_json::to_string(&ai.models).unwrap_or_default();
        let grade = ai.grade.map(|g| i64::from(g.number()));
        let code = ai.cannot_grade.as_ref().map(|c| c.code.clone());
        if old.as_ref().is_some_and(|(g, c, m, ms)| *g == grade && *c == code && *m == ai.method && *ms == models) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO ai_results (case_id, series_uid, grade, cannot_grade_code, cannot_grade_reason, scores, \
             explanation, method, models, created_at, model_set, involvement_percent, severity_score) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                case_id,
                ai.series_uid,
                grade,
                code,
                ai.cannot_grade.as_ref().map(|c| c.reason.clone()),
                serde_json::to_string(&ai.scores).unwrap_or_default(),
                ai.explanation,
                ai.method,
                models,
                now(),
                model_set,
                ai.involvement_percent,
                ai.severity_score
            ],
        )
        .map_err(err("save the AI result"))?;
        let who = if ai.models.is_empty() { "ai:baseline".to_owned() } else { format!("ai:{}", ai.models.join("+")) };
        let who = if model_set == BUNDLED_SET { who } else { format!("{who}@{model_set}") };
        insert_history(
            &tx,
            case_id,
            &who,
            "ai_grade",
            old.map(|(g, c, _, _)| ai_grade_text(g, c.as_deref())).as_deref(),
            Some(ai_grade_text(grade, code.as_deref()).as_str()),
            0,
        )
        .map_err(err("record the AI result in the history"))?;
        tx.commit().map_err(err("commit the AI result"))?;
        Ok(true)
    }

    /// The AI result the desk shows: the latest of the bundled set, else the latest of any set.
    pub fn ai_result(&self, case_id: i64) -> Result<Option<AiResult>> {
        self.ai_result_where("case_id = ?1 ORDER BY model_set = 'bundled' DESC, id DESC LIMIT 1", case_id)
            .map(|r| r.map(|(_, ai)| ai))
    }

    fn ai_result_where(&self, clause: &str, arg: i64) -> Result<Option<(i64, AiResult)>> {
        let row: Option<(ResultRow, QuantRow)> = self
            .conn
            .query_row(
                &format!(
                    "SELECT id, series_uid, grade, cannot_grade_code, cannot_grade_reason, scores, explanation, method, \
                     models, involvement_percent, severity_score, created_at FROM ai_results WHERE {clause}"
                ),
                [arg],
                |r| {
                    Ok((
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?),
                        (r.get(9)?, r.get(10)?, r.get(11)?),
                    ))
                },
            )
            .optional()
            .map_err(self.err("read the AI result"))?;
        let Some(((id, series_uid, grade, code, reason, scores, explanation, method, models), (inv, sev, _))) = row
        else {
            return Ok(None);
        };
        let damaged = |detail: String| StoreError::Damaged { path: self.path.clone(), detail };
        let grade = grade.map(|g| Grade::from_number(g).ok_or_else(|| damaged(format!("AI grade {g}")))).transpose()?;
        Ok(Some((
            id,
            AiResult {
                series_uid,
                grade,
                cannot_grade: code.map(|code| AiCannotGrade { code, reason: reason.unwrap_or_default() }),
                scores: serde_json::from_str(&scores).map_err(|e| damaged(format!("AI scores: {e}")))?,
                explanation,
                method,
                models: serde_json::from_str(&models).map_err(|e| damaged(format!("AI models: {e}")))?,
                involvement_percent: inv,
                severity_score: sev.and_then(|s| u8::try_from(s).ok()),
            },
        )))
    }

    /// Cases that model set `model_set` with exactly these `models` (names and versions) has
    /// not read yet, oldest import first: what a batch pre-read still has to do.
    pub fn cases_to_read(&self, model_set: &str, models: &[String]) -> Result<Vec<i64>> {
        let models = serde_json::to_string(models).unwrap_or_default();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM cases c WHERE NOT EXISTS (SELECT 1 FROM ai_results r WHERE r.case_id = c.id \
                 AND r.model_set = ?1 AND r.models = ?2) ORDER BY id",
            )
            .map_err(self.err("list the cases to read"))?;
        stmt.query_map(params![model_set, models], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(self.err("list the cases to read"))
    }

    /// The case's latest AI read by bundled models as the `lungdesk-ai-read/1` payload of
    /// model set `model_set`, or `None` when the AI has not read the case or only the HU
    /// baseline has (it is not a trained model; its reads stay on the desk).
    pub fn ai_read_payload(
        &self,
        case_id: i64,
        identity: &Identity,
        model_set: &str,
    ) -> Result<Option<lungdesk_domain::AiReadPayload>> {
        let latest = self.conn.query_row(
            "SELECT MAX(id) FROM ai_results WHERE case_id = ?1 AND model_set = ?2",
            params![case_id, model_set],
            |r| r.get::<_, Option<i64>>(0),
        );
        match latest.map_err(self.err("find the AI read"))? {
            Some(id) => self.ai_read_payload_of(id, identity, model_set),
            None => Ok(None),
        }
    }

    /// AI result `result_id` as a payload. A whitelist: the case key, the site and facility
    /// postal code of `identity`, exam date, age band and sex, the models, and the grade with
    /// its scores, involvement and severity, or "cannot grade" with its reason code — never the
    /// reason's text, the explanation, a UID or a path.
    fn ai_read_payload_of(
        &self,
        result_id: i64,
        identity: &Identity,
        model_set: &str,
    ) -> Result<Option<lungdesk_domain::AiReadPayload>> {
        let Some((_, ai)) = self.ai_result_where("id = ?1", result_id)? else { return Ok(None) };
        if ai.models.is_empty() {
            return Ok(None);
        }
        let (case, analysed_at): (CaseFields, String) = self
            .conn
            .query_row(
                "SELECT c.case_key, c.exam_date, c.age_years, c.sex, r.created_at FROM ai_results r \
                 JOIN cases c ON c.id = r.case_id WHERE r.id = ?1",
                [result_id],
                |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?)),
            )
            .map_err(self.err("read the case for its AI read"))?;
        let (case_key, exam_date, age_years, sex) = case;
        let graded = ai.cannot_grade.is_none();
        Ok(Some(lungdesk_domain::AiReadPayload {
            schema: lungdesk_domain::AI_READ_SCHEMA.to_owned(),
            case_key,
            site_code: identity.site_code.clone(),
            facility_postal_code: identity.postal_code.clone(),
            exam_date,
            age_years: age_years.and_then(lungdesk_domain::age_band_start),
            sex: sex.filter(|s| matches!(s.as_str(), "M" | "F" | "O")),
            model_set: model_set.to_owned(),
            // The set's version is its models' versions together (no ':' in it).
            model_version: ai.models.join("+").replace(':', "-"),
            models: ai.models.clone(),
            grade: ai.grade.filter(|_| graded).map(Grade::number),
            cannot_grade: ai.cannot_grade.map(|c| c.code),
            scores: if graded { ai.scores } else { [0.0; 4] },
            involvement_percent: ai.involvement_percent.filter(|_| graded).map(|p| p.clamp(0.0, 100.0)),
            severity_score: ai.severity_score.filter(|s| graded && *s <= 30),
            analysed_at,
        }))
    }

    /// Queues every set's latest read of every case that is not queued yet, under its
    /// idempotency key (`case_key:model_set:model_version`, queued once: a second read by the
    /// same version of a set is not sent again). The number queued. Reads of the HU baseline
    /// and payloads that would not validate are not queued.
    pub fn queue_ai_reads(&mut self, identity: &Identity) -> Result<usize> {
        let todo: Vec<(i64, i64, String)> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT r.id, r.case_id, r.model_set FROM ai_results r \
                     WHERE r.id = (SELECT MAX(id) FROM ai_results WHERE case_id = r.case_id AND model_set = r.model_set) \
                     AND r.models <> '[]' AND NOT EXISTS (SELECT 1 FROM ai_read_outbox o WHERE o.ai_result_id = r.id) \
                     ORDER BY r.id",
                )
                .map_err(self.err("find AI reads to queue"))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(Iterator::collect)
                .map_err(self.err("find AI reads to queue"))?
        };
        let mut payloads = Vec::with_capacity(todo.len());
        for (result_id, case_id, set) in todo {
            if let Some(p) = self.ai_read_payload_of(result_id, identity, &set)? {
                match p.validate() {
                    Ok(()) => payloads.push((result_id, case_id, p)),
                    Err(e) => tracing::warn!(case_id, problem = %e, "an AI read that would not validate is not queued"),
                }
            }
        }
        let path = self.path.clone();
        let err = move |source| StoreError::Sql { path: path.clone(), step: "queue AI reads", source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let mut queued = 0;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO ai_read_outbox (idempotency_key, case_id, ai_result_id, payload, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .map_err(&err)?;
            let at = now();
            for (result_id, case_id, p) in &payloads {
                let json = serde_json::to_string(p).unwrap_or_default();
                queued += insert.execute(params![p.idempotency_key(), case_id, result_id, json, at]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(queued)
    }

    /// AI reads not yet accepted (nor refused) by the service, oldest first.
    pub fn ai_reads_pending(&self, limit: usize) -> Result<Vec<AiReadOutboxItem>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, payload FROM ai_read_outbox WHERE sent_at IS NULL AND refused IS NULL ORDER BY id LIMIT ?1",
            )
            .map_err(self.err("read the AI-read outbox"))?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(self.err("read the AI-read outbox"))?;
        rows.into_iter()
            .map(|(id, json)| {
                let payload = serde_json::from_str(&json).map_err(|e| StoreError::Damaged {
                    path: self.path.clone(),
                    detail: format!("AI-read outbox row {id}: {e}"),
                })?;
                Ok(AiReadOutboxItem { id, payload })
            })
            .collect()
    }

    /// The service took these AI reads (or held them already): one transaction.
    pub fn mark_ai_reads_sent(&mut self, ids: &[i64]) -> Result<()> {
        self.update_ai_reads(ids, "UPDATE ai_read_outbox SET sent_at = ?2, last_error = NULL WHERE id = ?1", &now())
    }

    /// A try that failed and will be retried.
    pub fn record_ai_read_attempt(&mut self, ids: &[i64], error: &str) -> Result<()> {
        self.update_ai_reads(
            ids,
            "UPDATE ai_read_outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            error,
        )
    }

    /// The service will never take this read (a conflict or a refusal): kept, not retried.
    pub fn mark_ai_read_refused(&mut self, id: i64, why: &str) -> Result<()> {
        self.update_ai_reads(
            &[id],
            "UPDATE ai_read_outbox SET attempts = attempts + 1, refused = ?2 WHERE id = ?1",
            why,
        )
    }

    fn update_ai_reads(&mut self, ids: &[i64], sql: &str, value: &str) -> Result<()> {
        let path = self.path.clone();
        let err = move |source| StoreError::Sql { path: path.clone(), step: "update the AI-read outbox", source };
        let tx = self.conn.transaction().map_err(&err)?;
        {
            let mut stmt = tx.prepare_cached(sql).map_err(&err)?;
            for id in ids {
                stmt.execute(params![id, value]).map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// AI reads by state: (waiting, sent, refused).
    pub fn ai_read_summary(&self) -> Result<(i64, i64, i64)> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FILTER (WHERE sent_at IS NULL AND refused IS NULL), \
                 COUNT(*) FILTER (WHERE sent_at IS NOT NULL), COUNT(*) FILTER (WHERE refused IS NOT NULL) \
                 FROM ai_read_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err("count the AI-read outbox"))
    }
}
