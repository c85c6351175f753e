//! LungDesk's cloud dataset service and its client.
//!
//! The service (feature `server`, binary `lungdesk-cloud`) takes confirmed labels from the
//! desks' outboxes, de-duplicated by idempotency key, and publishes surveillance counts by exam
//! day or week, prefecture, grade, PCR and source, with small counts suppressed. It runs the
//! same code on SQLite (default) and PostgreSQL (chosen by URL), over HTTP or HTTPS (rustls).
//! The [`client`] is what the desk's sync thread uses; it is blocking, for a background thread.

pub mod client;
#[cfg(feature = "server")]
pub mod server;
pub mod wire;

pub use client::{Client, ClientError, PushOutcome};
pub use wire::{
    AiSurveillance, AiSurveillanceRow, DriftFlag, DriftMonitor, DriftReport, ExportRow, Period, Role, Source,
    Surveillance, SurveillanceExport, SurveillanceQuery, SurveillanceRow,
};
