//! The HTTP service: axum routes over [`db::Db`], per-reader bearer tokens, roles, body limits,
//! and optional TLS (rustls).
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /v1/labels` | reader | one label (`lungdesk-label/1`), header `Idempotency-Key` |
//! | `POST /v1/labels/batch` | reader | up to 500 labels in one transaction, an outcome each |
//! | `GET /v1/labels?after=N&limit=M` | reader, site admin (own site); curator (all) | labels, for adjudication |
//! | `GET /v1/surveillance?period=day&from=&to=&prefecture=&grade=&pcr=&source=&format=csv` | any token | counts |
//! | `GET /v1/surveillance?source=ai&model=SET&…` | any token | AI-only counts of a model set, from its AI reads |
//! | `GET /v1/agreement?model=SET&site=&from=&to=` | site admin (own site), curator | AI against readers and readers against each other: confusion, κ unweighted and linear with 95 % CI |
//! | `GET /v1/surveillance/export?format=csv\|json&source=&model=&…` | any token | the published series with source, model set and versions, suppression and withheld marks, drift flags |
//! | `GET /v1/drift?model=&site=` | reader and site admin (own site), curator | the drift monitor of each site × model set: status, reasons, rolling κ per exam day, withheld and unmeasured periods |
//! | `POST /v1/tokens` | site admin | a reader token for their site |
//! | `GET /v1/tokens`, `DELETE /v1/tokens/{id}` | site admin (own site); curator (all) | list and revoke tokens by id |
//! | `GET /v1/audit?after=N` | site admin (own site); curator (all) | audited writes |
//! | `GET /v1/health` | anyone | `ok` |

pub mod backends;
pub mod db;
pub mod monitor;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use lungdesk_domain::{LabelPayload, Pcr};
use serde::Deserialize;

pub use db::{Db, DbError, Ingested, Issuer, Principal};
pub use lungdesk_domain::drift::DriftConfig;

use crate::wire::{ErrorBody, IssuedToken, Period, Role, Source, SurveillanceQuery, TokenRequest};

/// Largest request body accepted; a label is well under 2 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest batch body, and most labels in one batch.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
pub const MAX_BATCH_LABELS: usize = 500;

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://file.sqlite` or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// Surveillance counts below this are suppressed.
    pub min_count: i64,
    /// The drift monitor's floor, windows and tests.
    pub drift: lungdesk_domain::drift::DriftConfig,
}

impl Config {
    /// `database_url` with the drift monitor's defaults.
    pub fn new(database_url: impl Into<String>, min_count: i64) -> Self {
        Self { database_url: database_url.into(), min_count, drift: DriftConfig::default() }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub min_count: i64,
    pub drift: monitor::DriftWatch,
}

/// A refusal or failure, as an HTTP status and a JSON `{"error": …}` body.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "the service's database failed; try again".into())
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

/// The routes, over a connected database.
pub fn router(state: Arc<AppState>) -> Router {
    // Every route but health needs a token, checked from the headers before any body is read:
    // a tokenless request is refused without its body ever being buffered.
    let protected = Router::new()
        .route("/v1/labels", post(post_label).get(get_labels))
        .route("/v1/labels/batch", post(post_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)))
        .route("/v1/ai-reads/batch", post(post_ai_reads).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)))
        .route("/v1/surveillance", get(get_surveillance))
        .route("/v1/surveillance/export", get(get_export))
        .route("/v1/drift", get(get_drift))
        .route("/v1/agreement", get(get_agreement))
        .route("/v1/tokens", post(post_token).get(get_tokens))
        .route("/v1/tokens/{id}", axum::routing::delete(delete_token))
        .route("/v1/audit", get(get_audit))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/v1/health", get(health))
        .merge(protected)
        .layer(axum::middleware::from_fn(access_log))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
        .with_state(state)
}

/// How long a client may take to send a request's headers, and how long an idle keep-alive
/// connection waits for the next request's: a client that sends half its headers is cut off.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests served at once; more wait their turn.
pub const MAX_CONCURRENT_REQUESTS: usize = 256;

/// One access-log line per request, refused ones included: method, route, status, latency and
/// the token's id (the first 12 hex digits of its SHA-256, as kept in the database), never the
/// token, the query string or the body.
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request.uri().path().to_owned();
    let token_id = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| db::token_id(t.trim()));
    let response = next.run(request).await;
    tracing::info!(
        target: "lungdesk_cloud::access",
        %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        token_id = token_id.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

/// Authenticates from the headers alone and hands the holder to the handler; the request's
/// body is untouched until then.
async fn require_token(
    State(state): State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok((who, expiry, token_id)) => {
            request.extensions_mut().insert(who);
            request.extensions_mut().insert(expiry);
            request.extensions_mut().insert(token_id);
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// `ok` when the database answers (its schema rebuilt if it was dropped), else 503 with why.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.db.health().await {
        Ok(()) => "ok".into_response(),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable: {e}")).into_response(),
    }
}

/// When the token that authenticated a request expires (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct TokenExpiry(i64);

/// The public id of the token that authenticated a request (as in the access log), recorded
/// with every write it makes.
#[derive(Debug, Clone)]
struct TokenId(String);

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<(Principal, TokenExpiry, TokenId), ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(refuse(StatusCode::UNAUTHORIZED, "missing bearer token"));
    };
    let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
    if token.is_empty() || token.len() > 256 {
        return Err(refuse(StatusCode::UNAUTHORIZED, "malformed Authorization header; expected 'Bearer <token>'"));
    }
    match state.db.principal(token).await? {
        Ok((p, expires_at)) => Ok((p, TokenExpiry(expires_at), TokenId(db::token_id(token)))),
        Err(db::TokenProblem::Unknown) => Err(refuse(StatusCode::UNAUTHORIZED, "invalid token")),
        Err(db::TokenProblem::Expired) => Err(refuse(StatusCode::UNAUTHORIZED, "token expired")),
        Err(db::TokenProblem::Revoked) => Err(refuse(StatusCode::UNAUTHORIZED, "token revoked")),
    }
}

async fn post_label(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Extension(TokenId(token_id)): Extension<TokenId>,
    headers: HeaderMap,
    body: Result<Json<LabelPayload>, JsonRejection>,
) -> Result<Response, ApiError> {
    if who.role != Role::Reader {
        return Err(refuse(StatusCode::FORBIDDEN, format!("a {} token cannot write labels", who.role.code())));
    }
    let Json(mut payload) = body.map_err(|e| refuse(e.status(), e.body_text()))?;
    payload.validate().map_err(|p| refuse(StatusCode::UNPROCESSABLE_ENTITY, p.to_string()))?;
    normalise_times(&mut payload);
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if key != payload.idempotency_key() {
        return Err(refuse(StatusCode::BAD_REQUEST, "Idempotency-Key must be case_key:reader_id:revision of the body"));
    }
    may_write(&who, &payload)?;
    let ingested = state.db.ingest(&payload, &who, &token_id).await?;
    state.drift.site_changed(&who.site_code);
    Ok(match ingested {
        Ingested::Stored(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Ingested::AlreadyThere(id) => (StatusCode::OK, Json(serde_json::json!({ "id": id }))).into_response(),
        Ingested::Conflict(held) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({
                "error": "this revision of the label is already held with different content",
                "held": held,
            })),
        )
            .into_response(),
        Ingested::OtherSite => return Err(refuse(StatusCode::FORBIDDEN, "a reader writes only for their own site")),
    })
}

/// Stores and compares `confirmed_at` in UTC at a fixed width, so that the text order the
/// database compares by is the order in time (`19:30+09:00` is before `11:00Z`).
fn normalise_times(p: &mut LabelPayload) {
    if let Some(utc) = p.confirmed_at_normalised() {
        p.confirmed_at = utc;
    }
}

fn may_write(who: &Principal, p: &LabelPayload) -> Result<(), ApiError> {
    if p.reader_id != who.reader_id {
        return Err(refuse(StatusCode::FORBIDDEN, "a reader writes only their own labels"));
    }
    if p.site_code != who.site_code {
        return Err(refuse(StatusCode::FORBIDDEN, "a reader writes only for their own site"));
    }
    Ok(())
}

/// Up to [`MAX_BATCH_LABELS`] labels in one transaction; one outcome per label, in order:
/// `{"status": 201|200|409, "id"?: …, "held"?: …}`. Any invalid label refuses the whole batch.
async fn post_batch(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Extension(TokenId(token_id)): Extension<TokenId>,
    body: Result<Json<Vec<LabelPayload>>, JsonRejection>,
) -> Result<Response, ApiError> {
    if who.role != Role::Reader {
        return Err(refuse(StatusCode::FORBIDDEN, format!("a {} token cannot write labels", who.role.code())));
    }
    let Json(mut labels) = body.map_err(|e| refuse(e.status(), e.body_text()))?;
    if labels.len() > MAX_BATCH_LABELS {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {MAX_BATCH_LABELS} labels per batch")));
    }
    for (i, p) in labels.iter_mut().enumerate() {
        p.validate().map_err(|e| refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("label {i}: {e}")))?;
        may_write(&who, p)?;
        normalise_times(p);
    }
    let outcomes = match state.db.ingest_batch(&labels, &who, &token_id).await? {
        Ok(o) => {
            state.drift.site_changed(&who.site_code);
            o
        }
        Err(i) => {
            return Err(refuse(StatusCode::FORBIDDEN, format!("label {i}: a reader writes only for their own site")));
        }
    };
    let body: Vec<serde_json::Value> = outcomes
        .into_iter()
        .map(|o| match o {
            Ingested::Stored(id) => serde_json::json!({ "status": 201, "id": id }),
            Ingested::AlreadyThere(id) => serde_json::json!({ "status": 200, "id": id }),
            Ingested::Conflict(held) => serde_json::json!({ "status": 409, "held": held }),
            Ingested::OtherSite => serde_json::json!({ "status": 403 }),
        })
        .collect();
    Ok(Json(body).into_response())
}

/// Up to [`MAX_BATCH_LABELS`] AI reads (`lungdesk-ai-read/1`) of the token's own site in one
/// transaction; one outcome per read, in order: `{"status": 201|200|409, "id"?: …}`. Any
/// invalid read refuses the whole batch.
async fn post_ai_reads(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Extension(TokenId(token_id)): Extension<TokenId>,
    body: Result<Json<Vec<lungdesk_domain::AiReadPayload>>, JsonRejection>,
) -> Result<Response, ApiError> {
    if who.role != Role::Reader {
        return Err(refuse(StatusCode::FORBIDDEN, format!("a {} token cannot write AI reads", who.role.code())));
    }
    let Json(reads) = body.map_err(|e| refuse(e.status(), e.body_text()))?;
    if reads.len() > MAX_BATCH_LABELS {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {MAX_BATCH_LABELS} AI reads per batch")));
    }
    for (i, r) in reads.iter().enumerate() {
        r.validate().map_err(|e| refuse(StatusCode::UNPROCESSABLE_ENTITY, format!("AI read {i}: {e}")))?;
        if r.site_code != who.site_code {
            return Err(refuse(StatusCode::FORBIDDEN, format!("AI read {i}: a desk writes only for its own site")));
        }
    }
    let outcomes = state.db.ingest_ai_reads(&reads, &who.site_code, &token_id).await?;
    let sets: std::collections::BTreeSet<&str> = reads.iter().map(|r| r.model_set.as_str()).collect();
    for set in sets {
        state.drift.reads_changed(&who.site_code, set);
    }
    let body: Vec<serde_json::Value> = outcomes
        .into_iter()
        .map(|o| match o {
            db::AiIngested::Stored(id) => serde_json::json!({ "status": 201, "id": id }),
            db::AiIngested::AlreadyThere(id) => serde_json::json!({ "status": 200, "id": id }),
            db::AiIngested::Conflict => serde_json::json!({ "status": 409 }),
        })
        .collect();
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

fn page(q: Result<Query<Page>, QueryRejection>) -> Result<(i64, i64), ApiError> {
    let Query(p) = q.map_err(|e| refuse(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok((p.after.max(0), p.limit.unwrap_or(1000).clamp(1, 5000)))
}

async fn get_labels(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    q: Result<Query<Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (after, limit) = page(q)?;
    let site = (who.role != Role::Curator).then_some(who.site_code.as_str());
    Ok(Json(state.db.labels(site, after, limit).await?).into_response())
}

async fn get_audit(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    q: Result<Query<Page>, QueryRejection>,
) -> Result<Response, ApiError> {
    let site = match who.role {
        Role::Reader => return Err(refuse(StatusCode::FORBIDDEN, "a reader token cannot read the audit trail")),
        Role::SiteAdmin => Some(who.site_code.as_str()),
        Role::Curator => None,
    };
    let (after, limit) = page(q)?;
    Ok(Json(state.db.audit_trail(site, after, limit).await?).into_response())
}

/// `GET /v1/agreement?model=&site=&from=&to=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgreementParams {
    model: String,
    site: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The site a request about agreement may read: a curator's choice (every site when none),
/// a site admin's own, a reader's own where `readers_own_site` (the drift monitor: κ and
/// status only), else none (the confusion tables would show other readers' grades).
fn scoped_site(
    who: &Principal,
    asked: Option<String>,
    what: &str,
    readers_own_site: bool,
) -> Result<Option<String>, ApiError> {
    match who.role {
        Role::Reader if readers_own_site => match asked {
            Some(s) if s != who.site_code => {
                Err(refuse(StatusCode::FORBIDDEN, format!("a reader reads {what} of their own site only")))
            }
            _ => Ok(Some(who.site_code.clone())),
        },
        Role::Reader => {
            Err(refuse(StatusCode::FORBIDDEN, format!("a reader token cannot read {what} (other readers' grades)")))
        }
        Role::SiteAdmin => match asked {
            Some(s) if s != who.site_code => {
                Err(refuse(StatusCode::FORBIDDEN, format!("a site admin reads {what} of their own site only")))
            }
            _ => Ok(Some(who.site_code.clone())),
        },
        Role::Curator => Ok(asked.filter(|s| !s.is_empty())),
    }
}

/// The AI of a model set against the readers: curators see every site (or the one named), a
/// site admin their own site only, a reader nothing (it would show other readers' grades).
async fn get_agreement(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    q: Result<Query<AgreementParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = q.map_err(|e| refuse(StatusCode::BAD_REQUEST, e.body_text()))?;
    let date_ok = |d: &Option<String>| d.as_deref().is_none_or(|d| d.len() == 10 && db::week_of(d).is_some());
    if !date_ok(&p.from) || !date_ok(&p.to) {
        return Err(refuse(StatusCode::BAD_REQUEST, "from and to must be dates YYYY-MM-DD"));
    }
    if !lungdesk_domain::is_model_set_name(&p.model) {
        return Err(refuse(StatusCode::BAD_REQUEST, "model must be a model set's name: 1–64 letters, digits, - or _"));
    }
    let site = scoped_site(&who, p.site, "agreement", false)?;
    let agreement = state.db.agreement(&p.model, site.as_deref(), p.from.as_deref(), p.to.as_deref()).await?;
    Ok(Json(agreement).into_response())
}

/// The surveillance request as it arrives: every filter checked before it reaches SQL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurveillanceParams {
    period: Option<Period>,
    from: Option<String>,
    to: Option<String>,
    prefecture: Option<String>,
    grade: Option<u8>,
    pcr: Option<Pcr>,
    source: Option<Source>,
    model: Option<String>,
    format: Option<String>,
}

/// The filters of a surveillance request or export, checked; and whether CSV was asked for.
fn surveillance_query(p: SurveillanceParams) -> Result<(SurveillanceQuery, bool), ApiError> {
    let date_ok = |d: &Option<String>| d.as_deref().is_none_or(|d| d.len() == 10 && db::week_of(d).is_some());
    if !date_ok(&p.from) || !date_ok(&p.to) {
        return Err(refuse(StatusCode::BAD_REQUEST, "from and to must be dates YYYY-MM-DD"));
    }
    if p.prefecture.as_deref().is_some_and(|c| {
        c.len() != 2 || !c.bytes().all(|b| b.is_ascii_digit()) || !(1..=47).contains(&c.parse::<u8>().unwrap_or(0))
    }) {
        return Err(refuse(StatusCode::BAD_REQUEST, "prefecture must be a JIS code 01–47"));
    }
    if p.grade.is_some_and(|g| !(1..=4).contains(&g)) {
        return Err(refuse(StatusCode::BAD_REQUEST, "grade must be 1–4"));
    }
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(refuse(StatusCode::BAD_REQUEST, "format must be json or csv")),
    };
    let period = p.period.unwrap_or_default();
    // Whole periods only: a weekly cell always counts its whole week, so two queries whose
    // ranges differ by a day publish the same numbers, and no suppressed day can be recovered
    // by subtracting them. A weekly cell is the sum of its days' cells: it is published only
    // where the suppressed ones among them cannot be recovered from it (`db::publishable`).
    // No totals over prefectures, grades or demographics are published.
    let (from, to) = match period {
        Period::Day => (p.from, p.to),
        Period::Week => (p.from.as_deref().and_then(db::week_of), p.to.as_deref().and_then(db::week_end_of)),
    };
    if let Some(model) = &p.model {
        if p.source != Some(Source::Ai) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "model goes with source=ai (the AI-only counts of a model set)",
            ));
        }
        if p.pcr.is_some() {
            return Err(refuse(StatusCode::BAD_REQUEST, "the AI-only counts have no PCR (an AI read carries none)"));
        }
        if !lungdesk_domain::is_model_set_name(model) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "model must be a model set's name: 1–64 letters, digits, - or _",
            ));
        }
    }
    let query = SurveillanceQuery {
        period,
        from,
        to,
        prefecture: p.prefecture,
        grade: p.grade,
        pcr: p.pcr,
        source: p.source,
        model: p.model,
    };
    Ok((query, csv))
}

async fn get_surveillance(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    q: Result<Query<SurveillanceParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = q.map_err(|e| refuse(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (query, csv) = surveillance_query(p)?;
    if query.model.is_some() {
        state.drift.settle(&state.db).await?;
        let mut counts = state.db.ai_surveillance(&query, state.min_count).await?;
        scope_flags(&mut counts.flags, &who);
        if !csv {
            return Ok(Json(counts).into_response());
        }
        let mut out = String::from("period_start,prefecture,grade,cannot_grade,sex,age_band,source,model_set,count\n");
        for r in &counts.rows {
            let count = r.count.map_or_else(|| format!("<{}", counts.min_count), |n| n.to_string());
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},ai,{},{count}",
                r.period_start,
                r.prefecture,
                r.grade.map(|g| g.to_string()).unwrap_or_default(),
                r.cannot_grade.as_deref().unwrap_or_default(),
                r.sex.as_deref().unwrap_or_default(),
                r.age_band.as_deref().unwrap_or_default(),
                counts.model_set,
            );
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let counts = state.db.surveillance(&query, state.min_count).await?;
    if !csv {
        return Ok(Json(counts).into_response());
    }
    let mut out = String::from("period_start,prefecture,grade,pcr,source,count\n");
    for r in &counts.rows {
        let count = r.count.map_or_else(|| format!("<{}", counts.min_count), |n| n.to_string());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            r.period_start,
            r.prefecture,
            r.grade,
            r.pcr.code(),
            r.source.code(),
            count
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
}

/// `GET /v1/drift?model=&site=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftParams {
    model: Option<String>,
    site: Option<String>,
}

/// The drift monitor of every site × model set in scope (curators every site, a site admin
/// or a reader their own), each with its verdict and rolling κ after every exam day.
async fn get_drift(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    q: Result<Query<DriftParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = q.map_err(|e| refuse(StatusCode::BAD_REQUEST, e.body_text()))?;
    if p.model.as_deref().is_some_and(|m| !lungdesk_domain::is_model_set_name(m)) {
        return Err(refuse(StatusCode::BAD_REQUEST, "model must be a model set's name: 1–64 letters, digits, - or _"));
    }
    let site = scoped_site(&who, p.site, "the drift monitor", true)?;
    let monitors = state.drift.monitors(&state.db, site.as_deref(), p.model.as_deref()).await?;
    Ok(Json(crate::wire::DriftReport { config: state.drift.config, monitors }).into_response())
}

/// The schema of `GET /v1/surveillance/export`.
pub const EXPORT_SCHEMA: &str = "lungdesk-surveillance-export/1";

/// `GET /v1/surveillance/export?format=csv|json&source=&model=&…`: the published series (the
/// filters of `/v1/surveillance`) with its source, model set and versions, the suppression
/// rule, each cell's suppressed and withheld marks, and the drift monitor's flags.
async fn get_export(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    q: Result<Query<SurveillanceParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = q.map_err(|e| refuse(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (mut query, csv) = surveillance_query(p)?;
    if query.source == Some(Source::Ai) && query.model.is_none() {
        return Err(refuse(StatusCode::BAD_REQUEST, "an AI export names its model set: source=ai&model=SET"));
    }
    let source = *query.source.get_or_insert(Source::Radiologist);
    let (lo, hi) = (
        query.from.clone().unwrap_or_else(|| "0000-00-00".into()),
        query.to.clone().unwrap_or_else(|| "9999-99-99".into()),
    );
    let (rows, flags, model_versions) = if let Some(model) = query.model.clone() {
        state.drift.settle(&state.db).await?;
        let mut counts = state.db.ai_surveillance(&query, state.min_count).await?;
        scope_flags(&mut counts.flags, &who);
        let versions = state.db.ai_model_versions(&model, &lo, &hi).await?;
        let rows = counts
            .rows
            .into_iter()
            .map(|r| {
                let withheld = withheld_in(&counts.flags, &r.prefecture, &r.period_start, query.period);
                crate::wire::ExportRow {
                    // A withheld cell has no count either, but it is not small.
                    suppressed: r.count.is_none() && !withheld,
                    period_start: r.period_start,
                    prefecture: r.prefecture,
                    grade: r.grade,
                    cannot_grade: r.cannot_grade,
                    pcr: None,
                    sex: r.sex,
                    age_band: r.age_band,
                    count: r.count,
                    withheld,
                }
            })
            .collect();
        (rows, counts.flags, versions)
    } else {
        let counts = state.db.surveillance(&query, state.min_count).await?;
        let rows = counts
            .rows
            .into_iter()
            .map(|r| crate::wire::ExportRow {
                suppressed: r.count.is_none(),
                period_start: r.period_start,
                prefecture: r.prefecture,
                grade: Some(r.grade),
                cannot_grade: None,
                pcr: Some(r.pcr),
                sex: None,
                age_band: None,
                count: r.count,
                withheld: false,
            })
            .collect();
        (rows, Vec::new(), Vec::new())
    };
    let export = crate::wire::SurveillanceExport {
        schema: EXPORT_SCHEMA.to_owned(),
        generated_at: db::now(),
        service_version: env!("CARGO_PKG_VERSION").to_owned(),
        source,
        model_set: query.model.clone(),
        model_versions,
        period: query.period,
        from: query.from.clone(),
        to: query.to.clone(),
        min_count: state.min_count,
        suppression: format!(
            "cells of fewer than {0} cases are published without their count (suppressed = true), and so is a weekly \
             cell whose suppressed daily cells hold between 1 and {1} cases together; no totals are published",
            state.min_count,
            state.min_count - 1
        ),
        rows,
        flags,
    };
    if !csv {
        return Ok(Json(export).into_response());
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], export_csv(&export)).into_response())
}

/// Another site's drift flags, to all but curators: the prefecture, period and reason code,
/// never the site or its κ (a site's agreement is its own and the curators').
fn scope_flags(flags: &mut [crate::wire::DriftFlag], who: &Principal) {
    if who.role == Role::Curator {
        return;
    }
    for f in flags.iter_mut().filter(|f| f.site_code != who.site_code) {
        f.site_code.clear();
        let generic = match f.reason_code.as_str() {
            "kappa_below_floor" | "kappa_not_recovered" => "agreement with the readers below the floor",
            "grade_mix_shift" => "grade mix shifted",
            _ => "agreement not measured",
        };
        generic.clone_into(&mut f.reason);
    }
}

/// Whether a withheld flag of `prefecture` overlaps the period starting `start`.
fn withheld_in(flags: &[crate::wire::DriftFlag], prefecture: &str, start: &str, period: Period) -> bool {
    let end = match period {
        Period::Day => start.to_owned(),
        Period::Week => db::week_end_of(start).unwrap_or_else(|| start.to_owned()),
    };
    flags.iter().any(|f| {
        f.status == lungdesk_domain::drift::DriftStatus::Withheld
            && f.prefecture == prefecture
            && f.from_day.as_str() <= end.as_str()
            && f.to_day.as_deref().is_none_or(|to| to > start)
    })
}

/// One line per cell, each carrying what it is a count of; the flags follow as rows of their
/// own (`row_type` `flag`), so that one file is the whole citation.
fn export_csv(e: &crate::wire::SurveillanceExport) -> String {
    let mut out = String::from(
        "row_type,schema,source,model_set,model_versions,period,period_start,prefecture,grade,cannot_grade,pcr,sex,\
         age_band,count,suppressed,withheld,site_code,status,from_day,to_day,reason_code\n",
    );
    let versions = e.model_versions.join(";");
    let model = e.model_set.as_deref().unwrap_or_default();
    let period = match e.period {
        Period::Day => "day",
        Period::Week => "week",
    };
    let head = format!("{},{},{model},{},{period}", e.schema, e.source.code(), csv_field(&versions));
    for r in &e.rows {
        let _ = writeln!(
            out,
            "cell,{head},{},{},{},{},{},{},{},{},{},{},,,,,",
            r.period_start,
            r.prefecture,
            r.grade.map(|g| g.to_string()).unwrap_or_default(),
            r.cannot_grade.as_deref().unwrap_or_default(),
            r.pcr.map(Pcr::code).unwrap_or_default(),
            r.sex.as_deref().unwrap_or_default(),
            r.age_band.as_deref().unwrap_or_default(),
            r.count.map(|n| n.to_string()).unwrap_or_default(),
            r.suppressed,
            r.withheld,
        );
    }
    for f in &e.flags {
        let status = match f.status {
            lungdesk_domain::drift::DriftStatus::Withheld => "withheld",
            lungdesk_domain::drift::DriftStatus::Unmeasured => "unmeasured",
            lungdesk_domain::drift::DriftStatus::Published => "published",
        };
        let _ = writeln!(
            out,
            "flag,{head},,{},,,,,,,,,{},{status},{},{},{}",
            f.prefecture,
            f.site_code,
            f.from_day,
            f.to_day.as_deref().unwrap_or_default(),
            f.reason_code,
        );
    }
    out
}

/// A CSV field, quoted where it holds a comma or a quote.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

async fn post_token(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Extension(TokenExpiry(issuer_expires_at)): Extension<TokenExpiry>,
    Extension(TokenId(token_id)): Extension<TokenId>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    if who.role != Role::SiteAdmin {
        return Err(refuse(StatusCode::FORBIDDEN, "only a site admin issues tokens"));
    }
    let Json(req) = body.map_err(|e| refuse(e.status(), e.body_text()))?;
    if req.role != Role::Reader {
        return Err(refuse(StatusCode::FORBIDDEN, "a site admin issues reader tokens only"));
    }
    if req.reader_id.trim().is_empty() || req.reader_id.len() > 64 || req.reader_id.chars().any(char::is_control) {
        return Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, "reader_id: must be 1–64 printable characters"));
    }
    if !(1..=400).contains(&req.days) {
        return Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, "days: must be 1–400"));
    }
    if db::unix_now() + req.days * 86_400 > issuer_expires_at {
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "days: a token cannot outlive the token that issues it; ask for fewer days",
        ));
    }
    let holder = Principal { reader_id: req.reader_id, site_code: who.site_code.clone(), role: Role::Reader };
    let by = Issuer { name: &who.reader_id, token_id: &token_id };
    let issued = issue_token(&state.db, &holder, req.days, by).await.map_err(|e| match e {
        IssueError::Invalid(why) => refuse(StatusCode::UNPROCESSABLE_ENTITY, why),
        IssueError::Db(e) => e.into(),
        IssueError::Random(why) => {
            tracing::error!(%why, "no random bytes for a token");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "no random source for a new token; try again")
        }
    })?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

/// Why a token was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no random bytes for the token from the operating system: {0}")]
    Random(String),
}

/// Whether `holder` names one real scope: a site code of 1–32 letters, digits, `-` or `_` (the
/// payload's rule; never empty, which once read every site), and a reader id of 1–64 printable
/// characters that is not blank.
fn check_holder(holder: &Principal, days: i64) -> Result<i64, IssueError> {
    let site_ok = (1..=32).contains(&holder.site_code.len())
        && holder.site_code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !site_ok {
        return Err(IssueError::Invalid("site: must be 1–32 letters, digits, - or _"));
    }
    let reader = &holder.reader_id;
    if reader.trim().is_empty() || reader.chars().count() > 64 || reader.chars().any(char::is_control) {
        return Err(IssueError::Invalid("reader_id: must be 1–64 printable characters"));
    }
    days.checked_mul(86_400)
        .and_then(|seconds| db::unix_now().checked_add(seconds))
        .ok_or(IssueError::Invalid("days: out of range"))
}

/// Where a token holder may see and revoke tokens: a site admin their site's, a curator all.
fn token_scope(who: &Principal) -> Result<Option<&str>, ApiError> {
    match who.role {
        Role::Reader => Err(refuse(StatusCode::FORBIDDEN, "a reader token cannot list or revoke tokens")),
        Role::SiteAdmin => Ok(Some(who.site_code.as_str())),
        Role::Curator => Ok(None),
    }
}

/// The tokens in the holder's scope, by id (never the tokens themselves).
async fn get_tokens(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let scope = token_scope(&who)?;
    Ok(Json(state.db.tokens(scope).await?).into_response())
}

/// Revokes one token by id within the holder's scope; audited. 404 when there is none there.
async fn delete_token(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Extension(TokenId(token_id)): Extension<TokenId>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let scope = token_scope(&who)?;
    if state.db.revoke_token(&id, scope, Issuer { name: &who.reader_id, token_id: &token_id }).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(refuse(StatusCode::NOT_FOUND, "no such token in your scope"))
    }
}

/// Makes a new random token for `holder`, valid `days` days; only its hash is stored. An empty
/// or malformed site or reader id is refused here (for the CLI and the API alike) and by the
/// database's CHECK.
pub async fn issue_token(
    db: &Db,
    holder: &Principal,
    days: i64,
    issued_by: impl Into<Issuer<'_>>,
) -> Result<IssuedToken, IssueError> {
    let expires_at = check_holder(holder, days)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| IssueError::Random(e.to_string()))?;
    let token = bytes.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    db.add_token(&token, holder, expires_at, issued_by).await?;
    Ok(IssuedToken {
        token,
        reader_id: holder.reader_id.clone(),
        site_code: holder.site_code.clone(),
        role: holder.role,
        expires_at,
    })
}

/// A service running on its own thread and tokio runtime, for the desk's tests and the binary.
#[derive(Debug)]
pub struct RunningService {
    pub addr: SocketAddr,
    pub db: Db,
    handle: axum_server::Handle<SocketAddr>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("cannot read the TLS certificate or key: {0}")]
    Tls(std::io::Error),
    #[error("cannot start the service's runtime: {0}")]
    Runtime(std::io::Error),
}

/// hyper's own read timeouts (a timer is needed for them to act).
fn with_timeouts(builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>) {
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(hyper_util::rt::TokioTimer::new()).keep_alive_interval(Some(HEADER_READ_TIMEOUT));
}

/// TLS certificate chain and private key, PEM.
#[derive(Debug, Clone)]
pub struct TlsPem {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl RunningService {
    /// Connects the database and serves on `listener` until stopped.
    pub fn start(config: &Config, listener: std::net::TcpListener, tls: Option<TlsPem>) -> Result<Self, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lungdesk-cloud")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: "?".into(), source })?;
        listener.set_nonblocking(true).map_err(|source| StartError::Listen { addr: addr.to_string(), source })?;
        let db = runtime.block_on(Db::connect(&config.database_url))?;
        let state = Arc::new(AppState {
            db: db.clone(),
            min_count: config.min_count,
            drift: monitor::DriftWatch::new(config.drift),
        });
        // The drift monitor between requests, so that a withhold is audited when it happens.
        let watched = state.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(monitor::EVALUATE_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = watched.drift.settle(&watched.db).await {
                    tracing::warn!("drift monitor: {e}");
                }
            }
        });
        let app = router(state).into_make_service();
        let handle = axum_server::Handle::new();
        let _entered = runtime.enter();
        match tls {
            None => {
                let mut server = axum_server::from_tcp(listener)
                    .map_err(|source| StartError::Listen { addr: addr.to_string(), source })?
                    .handle(handle.clone());
                with_timeouts(server.http_builder());
                runtime.spawn(async move { server.serve(app).await });
            }
            Some(pem) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let config = runtime
                    .block_on(axum_server::tls_rustls::RustlsConfig::from_pem(pem.cert, pem.key))
                    .map_err(StartError::Tls)?;
                let mut server = axum_server::tls_rustls::from_tcp_rustls(listener, config)
                    .map_err(|source| StartError::Listen { addr: addr.to_string(), source })?
                    .handle(handle.clone());
                with_timeouts(server.http_builder());
                runtime.spawn(async move { server.serve(app).await });
            }
        }
        Ok(RunningService { addr, db, handle, runtime: Some(runtime) })
    }

    /// Runs `f` on the service's runtime (for tests that inspect the database).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().expect("running").block_on(f)
    }

    /// Stops at once, dropping open connections: what a crash looks like to the desks.
    pub fn kill(mut self) {
        self.handle.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }

    /// Waits until the service stops (the binary's main loop).
    pub fn wait(&self) {
        self.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
