//! Agreement kept at ingest: per site, exam day and grade pair, the cases that pair a model
//! set's latest graded read with the case's current confirmed grade (`agreement_cells`), and
//! the cases two readers graded (`reader_pairs`, the first two readers by id, each by their
//! latest revision). Every write that can change a pair (an AI read that becomes a case's
//! latest, a label that moves a case's current grade or exam day, a reader's new revision)
//! takes what its cases contributed before and after, in its own transaction, and moves the
//! cells by the difference; the agreement query then sums at most 16 numbers per site and day
//! instead of joining every read with its case.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use super::{Result, push_list, push_rows, sql};

/// An AI-against-reader cell: model set, site, the case's exam day, AI grade, reader grade.
pub(super) type AiPair = (String, String, String, i64, i64);
/// A reader-against-reader cell: site, the case's exam day, first reader's grade, second's.
pub(super) type ReaderPair = (String, String, i64, i64);

/// What a set of cases contributes to the agreement cells.
#[derive(Debug, Default)]
pub(super) struct Contribution {
    pub ai: Vec<AiPair>,
    pub readers: Vec<ReaderPair>,
}

/// Which cases: those of one site (the writes), or every case (rebuilding after a migration).
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    Cases { site: &'a str, cases: &'a [&'a str] },
    Everything,
}

impl Scope<'_> {
    /// The filter on `alias`'s site and case key, its values bound from `$1`.
    fn filter(self, alias: &str) -> String {
        match self {
            Scope::Cases { cases, .. } => {
                let mut q = format!(" AND {alias}.site_code = $1 AND {alias}.case_key IN (");
                push_list(&mut q, 2, cases.len());
                q.push(')');
                q
            }
            Scope::Everything => String::new(),
        }
    }

    fn bind(
        self,
        mut query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        if let Scope::Cases { site, cases } = self {
            query = query.bind(site.to_owned());
            for c in cases {
                query = query.bind((*c).to_owned());
            }
        }
        query
    }

    fn is_empty(self) -> bool {
        matches!(self, Scope::Cases { cases: [], .. })
    }
}

/// The pairs of the cases in `scope` as the transaction sees them now. `readers`: also the
/// reader-against-reader pairs (an AI read cannot change those).
pub(super) async fn contribution(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    scope: Scope<'_>,
    readers: bool,
) -> Result<Contribution> {
    let mut out = Contribution::default();
    if scope.is_empty() {
        return Ok(out);
    }
    let q = format!(
        "SELECT a.model_set, a.site_code, c.day, a.grade, c.cur_grade FROM ai_reads a JOIN cases c \
         ON c.site_code = a.site_code AND c.case_key = a.case_key \
         WHERE a.latest = 1 AND a.grade IS NOT NULL AND c.cur_grade IS NOT NULL{}",
        scope.filter("a")
    );
    let step = "read the AI and reader grades of the cases";
    for r in scope.bind(sqlx::query(AssertSqlSafe(q))).fetch_all(&mut **tx).await.map_err(sql(step))? {
        out.ai.push((
            r.try_get(0).map_err(sql(step))?,
            r.try_get(1).map_err(sql(step))?,
            r.try_get(2).map_err(sql(step))?,
            r.try_get(3).map_err(sql(step))?,
            r.try_get(4).map_err(sql(step))?,
        ));
    }
    if !readers {
        return Ok(out);
    }
    let q = format!(
        "SELECT l.site_code, l.case_key, c.day, l.reader_id, l.grade FROM labels l JOIN cases c \
         ON c.site_code = l.site_code AND c.case_key = l.case_key WHERE 1 = 1{} \
         ORDER BY l.site_code, l.case_key, l.reader_id, l.revision",
        scope.filter("l")
    );
    let step = "read the readers' grades of the cases";
    let rows = scope.bind(sqlx::query(AssertSqlSafe(q))).fetch_all(&mut **tx).await.map_err(sql(step))?;
    // In (site, case, reader, revision) order: a reader's last row is their latest revision.
    let mut case: Option<(String, String, String)> = None;
    let mut grades: Vec<(String, i64)> = Vec::new();
    let mut flush = |case: &Option<(String, String, String)>, grades: &mut Vec<(String, i64)>| {
        if let (Some((site, _, day)), [(_, a), (_, b), ..]) = (case, &grades[..]) {
            out.readers.push((site.clone(), day.clone(), *a, *b));
        }
        grades.clear();
    };
    for r in &rows {
        let (site, key, day, reader, grade): (String, String, String, String, i64) = (
            r.try_get(0).map_err(sql(step))?,
            r.try_get(1).map_err(sql(step))?,
            r.try_get(2).map_err(sql(step))?,
            r.try_get(3).map_err(sql(step))?,
            r.try_get(4).map_err(sql(step))?,
        );
        if case.as_ref().is_none_or(|(s, k, _)| *s != site || *k != key) {
            flush(&case, &mut grades);
            case = Some((site, key, day));
        }
        match grades.last_mut() {
            Some((last, g)) if *last == reader => *g = grade,
            _ => grades.push((reader, grade)),
        }
    }
    flush(&case, &mut grades);
    Ok(out)
}

/// Rows per upsert: well under either backend's limit on bound values.
const CHUNK: usize = 2_000;

/// Moves the cells from what `before` contributed to what `after` does.
pub(super) async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    before: Contribution,
    after: Contribution,
) -> Result<()> {
    let mut ai: BTreeMap<AiPair, i64> = BTreeMap::new();
    let mut readers: BTreeMap<ReaderPair, i64> = BTreeMap::new();
    for (pairs, sign) in [(before, -1), (after, 1)] {
        for p in pairs.ai {
            *ai.entry(p).or_default() += sign;
        }
        for p in pairs.readers {
            *readers.entry(p).or_default() += sign;
        }
    }
    ai.retain(|_, n| *n != 0);
    readers.retain(|_, n| *n != 0);
    // In key order: the lock order of concurrent writers.
    let ai: Vec<_> = ai.into_iter().collect();
    for chunk in ai.chunks(CHUNK) {
        let mut q =
            String::from("INSERT INTO agreement_cells (model_set, site_code, day, ai_grade, reader_grade, n) VALUES ");
        push_rows(&mut q, chunk.len(), 6);
        q.push_str(
            " ON CONFLICT (model_set, site_code, day, ai_grade, reader_grade) DO UPDATE SET n = agreement_cells.n + excluded.n",
        );
        let mut upsert = sqlx::query(AssertSqlSafe(q));
        for ((set, site, day, a, r), n) in chunk {
            upsert = upsert.bind(set.clone()).bind(site.clone()).bind(day.clone()).bind(*a).bind(*r).bind(*n);
        }
        upsert.execute(&mut **tx).await.map_err(sql("move the agreement cells"))?;
    }
    let readers: Vec<_> = readers.into_iter().collect();
    for chunk in readers.chunks(CHUNK) {
        let mut q = String::from("INSERT INTO reader_pairs (site_code, day, first_grade, second_grade, n) VALUES ");
        push_rows(&mut q, chunk.len(), 5);
        q.push_str(
            " ON CONFLICT (site_code, day, first_grade, second_grade) DO UPDATE SET n = reader_pairs.n + excluded.n",
        );
        let mut upsert = sqlx::query(AssertSqlSafe(q));
        for ((site, day, a, b), n) in chunk {
            upsert = upsert.bind(site.clone()).bind(day.clone()).bind(*a).bind(*b).bind(*n);
        }
        upsert.execute(&mut **tx).await.map_err(sql("move the readers' agreement cells"))?;
    }
    Ok(())
}

/// Rebuilds both tables from the reads and labels (after a migration from a version that did
/// not keep them).
pub(super) async fn rebuild(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
    for table in ["DELETE FROM agreement_cells", "DELETE FROM reader_pairs"] {
        sqlx::query(table).execute(&mut **tx).await.map_err(sql("rebuild the agreement cells"))?;
    }
    let now = contribution(tx, Scope::Everything, true).await?;
    apply(tx, Contribution::default(), now).await
}

/// The AI-against-reader and reader-against-reader confusion counts of `model_set` at `site`
/// (every site when empty) over exam days `from`–`to`: (AI or first grade, reader or second
/// grade, cases).
pub(super) async fn sums(
    db: &super::Db,
    model_set: &str,
    site: &str,
    from: &str,
    to: &str,
) -> Result<(Vec<(i64, i64, i64)>, Vec<(i64, i64, i64)>)> {
    let read = |rows: Vec<sqlx::any::AnyRow>, step: &'static str| {
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(sql(step))
    };
    // Both in one snapshot, so that a write between them cannot pair one table's state with
    // the other's.
    let mut tx = db.pool.begin().await.map_err(sql("begin reading the agreement"))?;
    if db.postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await
            .map_err(sql("begin reading the agreement"))?;
    }
    let ai = sqlx::query(
        "SELECT ai_grade, reader_grade, CAST(SUM(n) AS BIGINT) FROM agreement_cells \
         WHERE model_set = $1 AND ($2 = '' OR site_code = $2) AND day >= $3 AND day <= $4 \
         GROUP BY ai_grade, reader_grade",
    )
    .bind(model_set.to_owned())
    .bind(site.to_owned())
    .bind(from.to_owned())
    .bind(to.to_owned())
    .fetch_all(&mut *tx)
    .await
    .map_err(sql("sum the AI and reader grades"))?;
    let readers = sqlx::query(
        "SELECT first_grade, second_grade, CAST(SUM(n) AS BIGINT) FROM reader_pairs \
         WHERE ($1 = '' OR site_code = $1) AND day >= $2 AND day <= $3 GROUP BY first_grade, second_grade",
    )
    .bind(site.to_owned())
    .bind(from.to_owned())
    .bind(to.to_owned())
    .fetch_all(&mut *tx)
    .await
    .map_err(sql("sum the readers' grades"))?;
    tx.commit().await.map_err(sql("finish reading the agreement"))?;
    Ok((read(ai, "sum the AI and reader grades")?, read(readers, "sum the readers' grades")?))
}
