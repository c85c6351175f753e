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

    /// Evaluates whatever is marked. On a failure everything is marked again.
    pub async fn settle(&self, db: &Db) -> Result<(), DbError> {
        let _one_at_a_time = self.running.lock().await;
        let marked = std::mem::take(&mut *self.marked());
        let result = self.evaluate(db, &marked).await;
        if result.is_err() {
            self.marked().all = true;
        }
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
