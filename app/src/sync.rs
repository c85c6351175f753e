//! Sync with the cloud dataset service, on the `lungdesk-sync` thread.
//!
//! The thread drains the store's outbox in batches, oldest first, each label under its
//! idempotency key; it marks a label sent only after the service has it, so a crash or a cut
//! network at any moment means at most a resend, which the service recognises. Failures that
//! may pass (no network, timeouts, 5xx) are retried with exponential backoff and jitter; a
//! label the service holds differently (409) or refuses is marked as a conflict and shown to
//! the reader, never overwritten. After the outbox is empty it pulls the other readers'
//! labels of this site, for adjudication, and it fetches surveillance counts on request.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lungdesk_cloud::{Client, ClientError, PushOutcome, Surveillance, SurveillanceQuery};
use lungdesk_store::{Store, SyncSummary};

/// Where the service is and who we are to it. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncSettings {
    /// `https://…` (or `http://` on loopback).
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for SyncSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncSettings").field("url", &self.url).field("token", &"<redacted>").finish()
    }
}

impl SyncSettings {
    /// The settings key in the store.
    pub const KEY: &'static str = "cloud";
}

/// Timing of the sync loop.
#[derive(Debug, Clone, Copy)]
pub struct SyncTiming {
    /// Per request.
    pub timeout: Duration,
    /// First retry delay; doubles per failure.
    pub backoff_start: Duration,
    pub backoff_max: Duration,
    /// How often to pull and retry when idle.
    pub idle_poll: Duration,
    /// Labels per request.
    pub batch: usize,
}

impl Default for SyncTiming {
    fn default() -> Self {
        SyncTiming {
            timeout: Duration::from_secs(15),
            backoff_start: Duration::from_secs(1),
            backoff_max: Duration::from_mins(1),
            idle_poll: Duration::from_secs(30),
            batch: 200,
        }
    }
}

/// The overall sync state the desk shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    pub summary: SyncSummary,
    /// The last exchange with the service worked.
    pub online: bool,
    /// Why the last exchange failed.
    pub error: Option<String>,
    /// When the next try is, after a failure.
    pub retry_in: Option<Duration>,
    /// Labels of other readers pulled so far in this session.
    pub pulled: usize,
    /// A pass is running now.
    pub busy: bool,
}

/// What the sync thread reports.
#[derive(Debug)]
pub enum SyncEvent {
    Status(SyncStatus),
    Surveillance(Result<SurveillanceView, String>),
    /// The thread could not start syncing (no client for these settings, or no store) and
    /// has ended: nothing will retry until the settings are saved again.
    Stopped(String),
}

enum Command {
    Wake,
    Surveillance(SurveillanceQuery, String),
    Stop,
}

/// What the Surveillance tab shows: the confirmed counts, the AI-only counts of one model set
/// with the drift monitor's flags, and the monitor's rolling agreement of that set per site.
/// The AI parts fail on their own (an older service, or a token that may not read them).
#[derive(Debug, Clone)]
pub struct SurveillanceView {
    pub confirmed: Surveillance,
    pub ai: Result<lungdesk_cloud::AiSurveillance, String>,
    pub drift: Result<lungdesk_cloud::DriftReport, String>,
}

/// Fetches a [`SurveillanceView`] of model set `model_set` under the filters of `q`.
fn fetch_view(client: &Client, q: &SurveillanceQuery, model_set: &str) -> Result<SurveillanceView, String> {
    let confirmed = SurveillanceQuery { source: Some(lungdesk_cloud::Source::Radiologist), model: None, ..q.clone() };
    let confirmed = client.surveillance(&confirmed).map_err(|e| e.to_string())?;
    let ai = SurveillanceQuery { model: Some(model_set.to_owned()), pcr: None, ..q.clone() };
    let ai = client.ai_surveillance(&ai).map_err(|e| e.to_string());
    let drift = client.drift(Some(model_set), None).map_err(|e| e.to_string());
    Ok(SurveillanceView { confirmed, ai, drift })
}

/// The running sync thread; dropping it tells the thread to stop after its current request,
/// without waiting for it (the UI thread never waits on the network). A label in flight at
/// that moment is sent again later, and the service recognises it.
#[derive(Debug)]
pub struct SyncHandle {
    tx: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl SyncHandle {
    /// Sync now (a label was just confirmed, or the user asked).
    pub fn wake(&self) {
        let _ = self.tx.send(Command::Wake);
    }
    /// Fetch the confirmed and the AI-only counts of `model_set` and its drift monitor; they
    /// arrive as [`SyncEvent::Surveillance`].
    pub fn fetch_surveillance(&self, q: SurveillanceQuery, model_set: String) {
        let _ = self.tx.send(Command::Surveillance(q, model_set));
    }
}

impl SyncHandle {
    /// Stops the thread and waits for it (tests, and the end of a command-line sync).
    pub fn stop_and_wait(mut self) {
        let _ = self.tx.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Stop);
    }
}

/// Starts the `lungdesk-sync` thread on its own connection to the store file. The HTTP client
/// (and its runtime) is built on that thread, never on the caller's (the UI thread); a client
/// that cannot be built is reported as the sync status's error.
pub fn spawn(
    store_path: PathBuf,
    settings: &SyncSettings,
    timing: SyncTiming,
    events: Sender<SyncEvent>,
    repaint: Option<egui::Context>,
) -> Result<SyncHandle, String> {
    let (tx, rx) = channel();
    let (url, token) = (settings.url.clone(), settings.token.clone());
    let thread = std::thread::Builder::new()
        .name("lungdesk-sync".into())
        .spawn(move || match Client::new(&url, &token, timing.timeout, None) {
            Ok(client) => run(&store_path, &client, timing, &rx, &events, repaint.as_ref()),
            Err(e) => {
                let _ = events.send(SyncEvent::Stopped(e.to_string()));
                if let Some(ctx) = repaint {
                    ctx.request_repaint();
                }
            }
        })
        .map_err(|e| format!("cannot start the sync thread: {e}"))?;
    Ok(SyncHandle { tx, thread: Some(thread) })
}

fn run(
    store_path: &std::path::Path,
    client: &Client,
    timing: SyncTiming,
    rx: &Receiver<Command>,
    events: &Sender<SyncEvent>,
    repaint: Option<&egui::Context>,
) {
    let send = |e: SyncEvent| {
        let _ = events.send(e);
        if let Some(ctx) = repaint {
            ctx.request_repaint();
        }
    };
    let mut store = match Store::open(store_path) {
        Ok(s) => s,
        Err(e) => {
            send(SyncEvent::Stopped(e.to_string()));
            return;
        }
    };
    let mut status = SyncStatus::default();
    let mut failures = 0u32;
    loop {
        status.busy = true;
        status.retry_in = None;
        status.summary = store.sync_summary().unwrap_or_default();
        send(SyncEvent::Status(status.clone()));
        let wait = match pass(&mut store, client, timing.batch) {
            Ok(pulled) => {
                failures = 0;
                status.online = true;
                status.error = None;
                status.pulled += pulled;
                timing.idle_poll
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                status.online = false;
                status.error = Some(e.to_string());
                let delay = backoff(timing, failures);
                status.retry_in = Some(delay);
                delay
            }
        };
        status.busy = false;
        status.summary = store.sync_summary().unwrap_or_default();
        send(SyncEvent::Status(status.clone()));
        // Wait for the next pass; surveillance requests are served meanwhile.
        let until = Instant::now() + wait;
        loop {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(Command::Wake) => {
                    // A wake during backoff does not skip the backoff (a confirm storm must
                    // not hammer a failing service), but after success it syncs at once.
                    if failures == 0 {
                        break;
                    }
                }
                Ok(Command::Surveillance(q, set)) => send(SyncEvent::Surveillance(fetch_view(client, &q, &set))),
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
    }
}

/// Exponential backoff with ±25 % jitter, so desks of a site do not retry in step.
fn backoff(timing: SyncTiming, failures: u32) -> Duration {
    let base = timing.backoff_start.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(timing.backoff_max);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = f64::from(nanos % 1000) / 1000.0 * 0.5 - 0.25;
    base.mul_f64(1.0 + jitter)
}

/// Errors of one pass.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Service(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] lungdesk_store::StoreError),
}

/// One pass: push every pending label, then pull other readers' labels. The number pulled.
pub fn pass(store: &mut Store, client: &Client, batch: usize) -> Result<usize, SyncError> {
    loop {
        let pending = store.outbox_take_for_sending(batch.max(1))?;
        if pending.is_empty() {
            break;
        }
        let payloads: Vec<&str> = pending.iter().map(|o| o.payload.as_str()).collect();
        match client.push_batch(&payloads) {
            Ok(outcomes) => {
                let mut sent = Vec::with_capacity(pending.len());
                for (item, outcome) in pending.iter().zip(outcomes) {
                    match outcome {
                        PushOutcome::Stored | PushOutcome::AlreadyThere => sent.push(item.id),
                        PushOutcome::Conflict(held) => {
                            let why = match held.as_ref() {
                                Some(h) => format!(
                                    "the service holds revision {} of this label with grade {} and PCR {}",
                                    h.revision,
                                    h.grade,
                                    h.pcr.code()
                                ),
                                None => "the service holds this revision of the label with other content".into(),
                            };
                            store.mark_conflict(item.id, &why)?;
                        }
                    }
                }
                store.mark_sent_many(&sent)?;
            }
            Err(ClientError::Refused { status, message }) if status == 422 || status == 403 && pending.len() > 1 => {
                // One bad label refuses the batch: send them one by one to find it.
                for item in &pending {
                    push_one(store, client, item)?;
                }
                let _ = (status, message);
            }
            Err(ClientError::Refused { status: 403, message }) => {
                store.mark_conflict(pending[0].id, &format!("refused by the service: {message}"))?;
            }
            Err(e) => {
                for item in &pending {
                    store.record_attempt(item.id, &e.to_string())?;
                }
                return Err(e.into());
            }
        }
    }
    // AI reads never hold up the labels' pull: a failure is kept on the reads and logged.
    if let Err(e) = push_ai_reads(store, client, batch) {
        tracing::warn!(error = %e, "AI reads not sent this pass; they wait in the outbox");
    }
    let mut pulled = 0;
    loop {
        let after = store.last_shared_label_id()?;
        let labels = client.pull(after, 1000)?;
        pulled += labels.len();
        store.add_shared_labels(&labels)?;
        if labels.len() < 1000 {
            return Ok(pulled);
        }
    }
}

/// Queues the AI reads not queued yet and sends every waiting one (`POST /v1/ai-reads/batch`),
/// marking each sent only once the service holds it. A read the service holds differently
/// (409) or refuses is kept and never resent. A service too old to take AI reads (404) leaves
/// them waiting, and the labels' sync goes on. The number sent.
pub fn push_ai_reads(store: &mut Store, client: &Client, batch: usize) -> Result<usize, SyncError> {
    if let Some(identity) = store.identity()? {
        store.queue_ai_reads(&identity)?;
    }
    let mut sent_total = 0;
    loop {
        let pending = store.ai_reads_pending(batch.max(1))?;
        if pending.is_empty() {
            return Ok(sent_total);
        }
        let reads: Vec<lungdesk_domain::AiReadPayload> = pending.iter().map(|p| p.payload.clone()).collect();
        match client.push_ai_reads(&reads) {
            Ok(outcomes) => {
                let mut sent = Vec::with_capacity(pending.len());
                for (item, outcome) in pending.iter().zip(outcomes) {
                    match outcome {
                        PushOutcome::Stored | PushOutcome::AlreadyThere => sent.push(item.id),
                        PushOutcome::Conflict(_) => store.mark_ai_read_refused(
                            item.id,
                            "the service holds another AI read under this case, model set and version",
                        )?,
                    }
                }
                sent_total += sent.len();
                store.mark_ai_reads_sent(&sent)?;
            }
            Err(ClientError::Refused { status: 404, .. }) => {
                tracing::info!("the service takes no AI reads yet (404); they wait in the outbox");
                return Ok(sent_total);
            }
            Err(ClientError::Refused { status, message }) if status == 422 && pending.len() > 1 => {
                // One bad read refuses the batch: send them one by one to find it.
                let _ = message;
                for item in &pending {
                    match client.push_ai_reads(std::slice::from_ref(&item.payload)) {
                        Ok(o) if matches!(o.first(), Some(PushOutcome::Stored | PushOutcome::AlreadyThere)) => {
                            sent_total += 1;
                            store.mark_ai_reads_sent(&[item.id])?;
                        }
                        Ok(_) => {
                            store.mark_ai_read_refused(item.id, "the service holds another AI read under this key")?;
                        }
                        Err(ClientError::Refused { status: 422, message }) if !message.contains("analysed_at") => {
                            store.mark_ai_read_refused(item.id, &format!("refused by the service (422): {message}"))?;
                        }
                        Err(e) => {
                            store.record_ai_read_attempt(&[item.id], &e.to_string())?;
                            return Err(e.into());
                        }
                    }
                }
            }
            // A time ahead of the service's clock passes once the clocks agree: tried again later.
            Err(ClientError::Refused { status: 422, message }) if !message.contains("analysed_at") => {
                store.mark_ai_read_refused(pending[0].id, &format!("refused by the service (422): {message}"))?;
            }
            Err(e) => {
                let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
                store.record_ai_read_attempt(&ids, &e.to_string())?;
                return Err(e.into());
            }
        }
    }
}

fn push_one(store: &Store, client: &Client, item: &lungdesk_store::OutboxItem) -> Result<(), SyncError> {
    match client.push(&item.idempotency_key, &item.payload) {
        Ok(PushOutcome::Stored | PushOutcome::AlreadyThere) => store.mark_sent(item.id)?,
        Ok(PushOutcome::Conflict(_)) => {
            store.mark_conflict(item.id, "the service holds this revision of the label with other content")?;
        }
        Err(ClientError::Refused { status, message }) if status != 401 => {
            store.mark_conflict(item.id, &format!("refused by the service ({status}): {message}"))?;
        }
        Err(e) => {
            store.record_attempt(item.id, &e.to_string())?;
            return Err(e.into());
        }
    }
    Ok(())
}
