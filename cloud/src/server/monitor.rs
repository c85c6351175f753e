//! Keeps the drift monitor's periods current: what an ingest touched is marked, and marked
//! site × model sets are evaluated before any AI series is answered and every
//! [`EVALUATE_EVERY`] in the background (so a withhold is audited even when nobody asks).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use super::db::{Db, DbError};
use lungdesk_domain::drift::DriftConfig;

/// How often marked monitors are evaluated when no request asks first.
pub const EVALUATE_EVERY: Duration = Duration::from_secs(30);

/// What needs evaluating.
#[derive(Debug, Default)]
struct Marked {
    /// Everything (at start: the periods were stored by an older run or another config).
    all: bool,
    /// Every model set of these sites (their confirmed grades changed).
    sites: BTreeSet<String>,
    /// These site × model sets (their AI reads changed).
    pairs: BTreeSet<(String, String)>,
}

/// The marks and the lock that keeps two evaluations of the same periods from interleaving.
#[derive(Debug)]
pub struct DriftWatch {
    pub config: DriftConfig,
    marked: Mutex<Marked>,
    running: tokio::sync::Mutex<()>,
}

impl DriftWatch {
    /// Everything marked.
    pub fn new(config: DriftConfig) -> Self {
        Self {
            config,
            marked: Mutex::new(Marked { all: true, ..Marked::default() }),
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn marked(&self) -> std::sync::MutexGuard<'_, Marked> {
        self.marked.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A site's confirmed grades changed.
    pub fn site_changed(&self, site: &str) {
        self.marked().sites.insert(site.to_owned());
    }

    /// A site's reads by a model set changed.
    pub fn reads_changed(&self, site: &str, model_set: &str) {
        self.marked().pairs.insert((site.to_owned(), model_set.to_owned()));
    }

    /// Evaluates whatever is marked. On a failure, or when the caller stops waiting (the
    /// request is dropped), everything is marked again.
    pub async fn settle(&self, db: &Db) -> Result<(), DbError> {
        let _one_at_a_time = self.running.lock().await;
        self.settle_locked(db).await
    }

    /// Settles, then evaluates every site × set in scope (`site`, `model_set`: all when
    /// `None`) under the same lock, for `GET /v1/drift`.
    pub async fn monitors(
        &self,
        db: &Db,
        site: Option<&str>,
        model_set: Option<&str>,
    ) -> Result<Vec<crate::wire::DriftMonitor>, DbError> {
        let _one_at_a_time = self.running.lock().await;
        self.settle_locked(db).await?;
        let mut out = Vec::new();
        for (site, set) in db.drift_monitors(site, model_set).await? {
            out.push(db.evaluate_drift(&site, &set, &self.config).await?);
        }
        Ok(out)
    }

    async fn settle_locked(&self, db: &Db) -> Result<(), DbError> {
        let marked = std::mem::take(&mut *self.marked());
        let mut guard = Remark { watch: self, done: false };
        let result = self.evaluate(db, &marked).await;
        guard.done = result.is_ok();
        result
    }

    async fn evaluate(&self, db: &Db, marked: &Marked) -> Result<(), DbError> {
        let mut pairs: BTreeSet<(String, String)> = marked.pairs.clone();
        if marked.all {
            pairs.extend(db.drift_monitors(None, None).await?);
        }
        for site in &marked.sites {
            pairs.extend(db.model_sets_of(site).await?.into_iter().map(|set| (site.clone(), set)));
        }
        for (site, set) in &pairs {
            db.evaluate_drift(site, set, &self.config).await?;
        }
        Ok(())
    }
}

/// Marks everything again unless the evaluation it guards finished.
struct Remark<'a> {
    watch: &'a DriftWatch,
    done: bool,
}

impl Drop for Remark<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.watch.marked().all = true;
        }
    }
}
