//! The desk's side: a blocking HTTP client for a background thread.

use std::time::Duration;

use lungdesk_domain::{LabelPayload, SharedLabel};
use reqwest::StatusCode;

use crate::wire::{AiSurveillance, ErrorBody, Period, Surveillance, SurveillanceQuery};

/// What the service did with a label.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// Stored now.
    Stored,
    /// Already held, identical (an earlier try got through).
    AlreadyThere,
    /// This revision is held with different content; the service's copy.
    Conflict(Box<Option<LabelPayload>>),
}

/// A batch answer: one outcome per item sent, in order (`201` stored, `200` already there,
/// `409` another item under its key, with the service's copy of a label when it sends one).
fn batch_outcomes(res: reqwest::blocking::Response, sent: usize, what: &str) -> Result<Vec<PushOutcome>, ClientError> {
    let outcomes: Vec<serde_json::Value> = res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))?;
    if outcomes.len() != sent {
        return Err(ClientError::BadAnswer(format!("{} outcomes for {sent} {what}", outcomes.len())));
    }
    outcomes
        .into_iter()
        .map(|o| match o["status"].as_u64() {
            Some(201) => Ok(PushOutcome::Stored),
            Some(200) => Ok(PushOutcome::AlreadyThere),
            Some(409) => Ok(PushOutcome::Conflict(Box::new(serde_json::from_value(o["held"].clone()).ok()))),
            _ => Err(ClientError::BadAnswer(format!("unknown outcome {o}"))),
        })
        .collect()
}

/// Why a request failed; [`ClientError::is_transient`] says whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the service {url} cannot be reached: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the service answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("the service refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the service's answer could not be read: {0}")]
    BadAnswer(String),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl ClientError {
    /// Network failures, timeouts and 5xx: worth retrying later. Refusals are not.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. } | ClientError::Server { .. })
    }
}

/// A connection to the service with one reader's token (never shown by `Debug`).
#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &"<redacted>").finish_non_exhaustive()
    }
}

/// Whether `url` may carry a token: HTTPS anywhere, plain HTTP only to this machine.
pub fn url_may_carry_a_token(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return true;
    }
    let Some(rest) = lower.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// `base_url` like `https://dataset.example.jp` (plain `http://` only to loopback: the token
    /// would cross the network readable); `extra_root_pem` trusts a private CA.
    pub fn new(
        base_url: &str,
        token: &str,
        timeout: Duration,
        extra_root_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        if !url_may_carry_a_token(base_url) {
            return Err(ClientError::Setup(format!(
                "{base_url}: the token is sent only over https:// (plain http:// only to this machine)"
            )));
        }
        let mut builder =
            reqwest::blocking::Client::builder().timeout(timeout).connect_timeout(timeout).use_rustls_tls();
        if let Some(pem) = extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ClientError::Setup(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Client { base: base_url.trim_end_matches('/').to_owned(), token: token.to_owned(), http })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<reqwest::blocking::Response, ClientError> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| ClientError::Unreachable { url: self.base.clone(), detail: without_url(&e) })?;
        let status = res.status();
        if status.is_success() || status == StatusCode::CONFLICT {
            return Ok(res);
        }
        let text = res.text().unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text).map(|b| b.error).unwrap_or(text);
        let status = status.as_u16();
        Err(if status >= 500 || status == 408 || status == 429 {
            ClientError::Server { status, message }
        } else {
            ClientError::Refused { status, message }
        })
    }

    /// Sends one label (the outbox's JSON, as is) under its idempotency key.
    pub fn push(&self, idempotency_key: &str, payload_json: &str) -> Result<PushOutcome, ClientError> {
        let res = self.send(
            self.http
                .post(format!("{}/v1/labels", self.base))
                .header("Idempotency-Key", idempotency_key)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload_json.to_owned()),
        )?;
        match res.status() {
            StatusCode::CREATED => Ok(PushOutcome::Stored),
            StatusCode::CONFLICT => {
                let body: serde_json::Value = res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))?;
                let held = serde_json::from_value(body["held"].clone()).ok();
                Ok(PushOutcome::Conflict(Box::new(held)))
            }
            _ => Ok(PushOutcome::AlreadyThere),
        }
    }

    /// Sends outbox labels (their JSON, as is) in one request; an outcome per label, in order.
    pub fn push_batch(&self, payloads: &[&str]) -> Result<Vec<PushOutcome>, ClientError> {
        let body = format!("[{}]", payloads.join(","));
        let res = self.send(
            self.http
                .post(format!("{}/v1/labels/batch", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )?;
        batch_outcomes(res, payloads.len(), "labels")
    }

    /// Sends AI reads (`lungdesk-ai-read/1`) in one batch; one outcome per read: `Stored`,
    /// `AlreadyThere`, or `Conflict(None)` (another read under the same key).
    pub fn push_ai_reads(&self, reads: &[lungdesk_domain::AiReadPayload]) -> Result<Vec<PushOutcome>, ClientError> {
        let res = self.send(self.http.post(format!("{}/v1/ai-reads/batch", self.base)).json(reads))?;
        batch_outcomes(res, reads.len(), "AI reads")
    }

    /// Labels the token may see after receipt number `after`.
    pub fn pull(&self, after: i64, limit: u32) -> Result<Vec<SharedLabel>, ClientError> {
        let res = self.send(self.http.get(format!("{}/v1/labels?after={after}&limit={limit}", self.base)))?;
        res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// Surveillance counts.
    pub fn surveillance(&self, q: &SurveillanceQuery) -> Result<Surveillance, ClientError> {
        let res = self.send(self.http.get(format!("{}/v1/surveillance", self.base)).query(&query_pairs(q, "json")))?;
        res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// The AI-only counts of model set `q.model` (`source=ai` is implied).
    pub fn ai_surveillance(&self, q: &SurveillanceQuery) -> Result<AiSurveillance, ClientError> {
        let q = SurveillanceQuery { source: Some(crate::wire::Source::Ai), ..q.clone() };
        let res = self.send(self.http.get(format!("{}/v1/surveillance", self.base)).query(&query_pairs(&q, "json")))?;
        res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// Agreement of model set `model` with the readers (`site`: a curator's choice; a site
    /// admin gets their own).
    pub fn agreement(
        &self,
        model: &str,
        site: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<crate::wire::Agreement, ClientError> {
        let mut q = vec![("model", model.to_owned())];
        for (k, v) in [("site", site), ("from", from), ("to", to)] {
            if let Some(v) = v {
                q.push((k, v.to_owned()));
            }
        }
        let res = self.send(self.http.get(format!("{}/v1/agreement", self.base)).query(&q))?;
        res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// The drift monitor of model set `model` (all sets when `None`) at `site` (a curator's
    /// choice; a site admin gets their own).
    pub fn drift(&self, model: Option<&str>, site: Option<&str>) -> Result<crate::wire::DriftReport, ClientError> {
        let q: Vec<(&str, &str)> =
            [("model", model), ("site", site)].into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        let res = self.send(self.http.get(format!("{}/v1/drift", self.base)).query(&q))?;
        res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// The published series for citation (`/v1/surveillance/export`), as JSON: the AI-only
    /// series of `q.model` where it names one, else the confirmed one.
    pub fn export(&self, q: &SurveillanceQuery) -> Result<crate::wire::SurveillanceExport, ClientError> {
        let url = format!("{}/v1/surveillance/export", self.base);
        let res = self.send(self.http.get(url).query(&query_pairs(&export_query(q), "json")))?;
        res.json().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// The same as CSV.
    pub fn export_csv(&self, q: &SurveillanceQuery) -> Result<String, ClientError> {
        let url = format!("{}/v1/surveillance/export", self.base);
        let res = self.send(self.http.get(url).query(&query_pairs(&export_query(q), "csv")))?;
        res.text().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// Surveillance counts as CSV.
    pub fn surveillance_csv(&self, q: &SurveillanceQuery) -> Result<String, ClientError> {
        let res = self.send(self.http.get(format!("{}/v1/surveillance", self.base)).query(&query_pairs(q, "csv")))?;
        res.text().map_err(|e| ClientError::BadAnswer(e.to_string()))
    }
}

/// An export names its source: the AI's where a model set is named.
fn export_query(q: &SurveillanceQuery) -> SurveillanceQuery {
    let source = if q.model.is_some() { Some(crate::wire::Source::Ai) } else { q.source };
    SurveillanceQuery { source, ..q.clone() }
}

fn query_pairs(q: &SurveillanceQuery, format: &str) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        (
            "period",
            match q.period {
                Period::Day => "day",
                Period::Week => "week",
            }
            .to_owned(),
        ),
        ("format", format.to_owned()),
    ];
    for (k, v) in [("from", &q.from), ("to", &q.to), ("prefecture", &q.prefecture)] {
        if let Some(v) = v {
            pairs.push((k, v.clone()));
        }
    }
    if let Some(g) = q.grade {
        pairs.push(("grade", g.to_string()));
    }
    if let Some(p) = q.pcr {
        pairs.push(("pcr", p.code().to_owned()));
    }
    if let Some(s) = q.source {
        pairs.push(("source", s.code().to_owned()));
    }
    if let Some(m) = &q.model {
        pairs.push(("model", m.clone()));
    }
    pairs
}

/// reqwest's message without the URL repeated (the URL is in our message already).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_owned() } else { format!("{kind} ({detail})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_travels_only_over_https_or_to_loopback_and_never_into_debug() {
        for ok in
            ["https://dataset.example.jp", "http://127.0.0.1:8443", "http://localhost/", "http://[::1]:80", "HTTPS://X"]
        {
            assert!(url_may_carry_a_token(ok), "{ok}");
        }
        for bad in [
            "http://dataset.example.jp",
            "http://10.0.0.5:8443",
            "http://127.0.0.1.evil.jp",
            "http://user@evil/",
            "ftp://x",
            "",
        ] {
            assert!(!url_may_carry_a_token(bad), "{bad}");
        }
        let e = Client::new("http://dataset.example.jp", "s3cret-token", Duration::from_secs(1), None)
            .expect_err("refused");
        assert!(e.to_string().contains("https://"), "{e}");
        let c = Client::new("http://127.0.0.1:9", "s3cret-token", Duration::from_secs(1), None).expect("loopback");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret") && shown.contains("redacted"), "{shown}");
    }
}
