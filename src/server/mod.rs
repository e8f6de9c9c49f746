//! The HTTP sidecar: routes, API types, errors, metrics, decision log.
//!
//! The server reads the store's current snapshot once per request (or once
//! per batch) and knows nothing of files or watching.

pub mod api;
mod data;
mod decide;
pub mod decision_log;
pub mod error;
pub mod listen;
pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use self::api::{AuthorizeRequest, BatchRequest};
use self::decide::decide;
use self::decision_log::DecisionLog;
use self::error::ApiError;
use self::metrics::Metrics;
use crate::store::{ReloadOutcome, Store};

/// Every route, as `(method, path)`: the OpenAPI document is checked against it.
pub const ROUTES: [(&str, &str); 11] = [
    ("post", "/v1/is_authorized"),
    ("post", "/v1/entities"),
    ("delete", "/v1/entities"),
    ("get", "/v1/entities/{type}/{id}"),
    ("put", "/v1/data"),
    ("post", "/v1/batch_is_authorized"),
    ("get", "/v1/policies"),
    ("post", "/v1/reload"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// What the entities a request brings may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RequestEntities {
    /// `additional_entities` may only add entities that are not stored (a
    /// stored uid is a 400); `entities` is refused. The default: a request
    /// never changes what the store says about anyone.
    #[default]
    Add,
    /// `additional_entities` may also replace stored entities, for that
    /// request (cedar-agent's semantics); `entities` is refused.
    Override,
    /// As `Override`, and `entities` may replace the whole store for a request.
    Replace,
}

/// Default of [`ServerConfig::max_rebuild_entities`].
pub const DEFAULT_MAX_REBUILD_ENTITIES: usize = 50_000;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted body, in bytes (413 beyond).
    pub max_body: usize,
    /// Most requests in one batch (400 beyond).
    pub max_batch: usize,
    /// Bearer token for `POST /v1/reload` and the data API; without one they are off.
    pub admin_token: Option<String>,
    /// Time a request may take, body included (408 beyond).
    pub request_timeout: Duration,
    /// `additional_entities` are applied by rebuilding the stored entity data
    /// with them, a cost that grows with the store: above this many stored
    /// entities such requests are refused (400) instead of stalling the sidecar.
    pub max_rebuild_entities: usize,
    /// What request entities may do.
    pub request_entities: RequestEntities,
    /// `/readyz` answers 503 when the watcher last looked at the bundle
    /// longer ago than this (the watcher looks every rescan interval).
    pub max_staleness: Option<Duration>,
    /// `/readyz` answers 503 when the entity source was last known to match
    /// longer ago than this (it is down and the data ages).
    pub max_source_staleness: Duration,
    /// Serve `POST /v1/floor`: the body read, a constant deny answered,
    /// nothing parsed or decided. It measures the HTTP floor of this server
    /// (same listener, limits and layers) in load tests; off by default.
    pub floor_route: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: 1024 * 1024,
            max_batch: 100,
            admin_token: None,
            request_timeout: Duration::from_secs(10),
            max_rebuild_entities: DEFAULT_MAX_REBUILD_ENTITIES,
            request_entities: RequestEntities::default(),
            max_staleness: None,
            max_source_staleness: Duration::from_secs(60),
            floor_route: false,
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The policy store.
    pub store: Arc<Store>,
    /// Settings.
    pub config: ServerConfig,
    /// Counters.
    pub metrics: Metrics,
    /// Where decisions are logged, if anywhere.
    pub decision_log: Option<DecisionLog>,
    /// One request with its own entities is built at a time, off the async
    /// workers: building them can take far longer than a decision.
    pub entity_builds: tokio::sync::Semaphore,
    /// The outside source the entity data follows (e.g. PostgreSQL), if
    /// any: the data API refuses changes, `/readyz` and `/metrics` report it.
    pub source: Option<Arc<crate::source::SourceHealth>>,
}

impl AppState {
    /// The state of a server over `store`.
    pub fn new(store: Arc<Store>, config: ServerConfig, decision_log: Option<DecisionLog>) -> Self {
        AppState {
            store,
            config,
            metrics: Metrics::default(),
            decision_log,
            entity_builds: tokio::sync::Semaphore::new(1),
            source: None,
        }
    }

    /// The same state, following an outside entity source.
    pub fn following(mut self, source: Arc<crate::source::SourceHealth>) -> Self {
        self.source = Some(source);
        self
    }
}

/// The router with every route.
pub fn router(state: Arc<AppState>) -> Router {
    let timeout = state.config.request_timeout;
    let max_body = state.config.max_body;
    let mut routes = Router::new();
    if state.config.floor_route {
        routes = routes.route("/v1/floor", post(floor));
    }
    routes
        .route("/v1/is_authorized", post(is_authorized))
        .route("/v1/batch_is_authorized", post(batch_is_authorized))
        .route("/v1/policies", get(policies))
        .route("/v1/reload", post(reload))
        .route("/v1/entities", post(data::upsert).delete(data::delete))
        .route("/v1/entities/{type}/{id}", get(data::get_one))
        .route("/v1/data", axum::routing::put(data::replace))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            count_errors,
        ))
        .with_state(state)
}

/// The HTTP floor: the body read, a constant answer (a deny, so that even a
/// client pointed here by mistake is never allowed anything).
async fn floor(body: Bytes) -> impl IntoResponse {
    const ANSWER: &str = r#"{"decision":"Deny","diagnostics":{"reason":[],"errors":["the floor route decides nothing"]},"version":"floor"}"#;
    drop(body);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        ANSWER,
    )
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    // serde would read a struct from a JSON array too; the API takes objects.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object",
        ));
    }
    // The plain reader first; a body it refuses is read again, tracking the
    // path, only to say where the error is.
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request(&field, format!("{inner}"))
    })
}

/// Counts every error answer, whichever layer produced it (413 and 408 come
/// from the body limit and the timeout, before any handler).
async fn count_errors(State(state): State<Arc<AppState>>, response: Response) -> Response {
    state.metrics.error(response.status().as_u16());
    response
}

async fn is_authorized(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let req: AuthorizeRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let snap = state.store.snapshot();
    let answer = if req.brings_entities() {
        let _one = state.entity_builds.acquire().await;
        let (st, sn) = (state.clone(), snap.clone());
        match tokio::task::spawn_blocking(move || decide(&st, &sn, &req)).await {
            Ok(a) => a,
            Err(e) => Err(ApiError::status(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decision task failed: {e}"),
            )),
        }
    } else {
        decide(&state, &snap, &req)
    };
    match answer {
        Ok(decision) => json_body(api::answer_json(&decision, snap.version())),
        Err(e) => e.into_response(),
    }
}

async fn batch_is_authorized(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let batch: BatchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if batch.requests.len() > state.config.max_batch {
        let e = ApiError::bad_request(
            "requests",
            format!(
                "{} requests in one batch; at most {}",
                batch.requests.len(),
                state.config.max_batch
            ),
        );
        return e.into_response();
    }
    // One snapshot for the whole batch.
    let snap = state.store.snapshot();
    let brings_entities = batch.requests.iter().any(AuthorizeRequest::brings_entities);
    let answered = if !brings_entities {
        // All against the stored entities: decided together.
        decide::decide_stored(&state, &snap, &batch.requests)
    } else {
        let sn = snap.clone();
        let run = move |state: &AppState| -> Result<Vec<_>, ApiError> {
            let mut responses = Vec::with_capacity(batch.requests.len());
            for (i, req) in batch.requests.iter().enumerate() {
                responses.push(
                    decide(state, &sn, req).map_err(|e| e.within(&format!("requests[{i}]")))?,
                );
            }
            Ok(responses)
        };
        let _one = state.entity_builds.acquire().await;
        let st = state.clone();
        match tokio::task::spawn_blocking(move || run(&st)).await {
            Ok(r) => r,
            Err(e) => Err(ApiError::status(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decision task failed: {e}"),
            )),
        }
    };
    match answered {
        Ok(decisions) => json_body(api::batch_json(&decisions, snap.version())),
        Err(e) => e.into_response(),
    }
}

/// A 200 with a JSON body written by [`api`]'s answer writers (a 500 in
/// the unlikely case that serde_json refused to write it).
fn json_body(body: serde_json::Result<Vec<u8>>) -> Response {
    match body {
        Ok(body) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ApiError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the answer could not be written: {e}"),
        )
        .into_response(),
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

async fn policies(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.store.snapshot();
    let status = state.store.status();
    let list: Vec<Value> = snap
        .policies()
        .map(|p| json!({"id": p.id(), "file": p.file(), "line": p.line(), "effect": p.effect(), "rules": p.rules()}))
        .collect();
    Json(json!({
        "version": snap.version(),
        "loaded_at": unix(snap.loaded_at()),
        "policies": list,
        "entities": snap.entity_count(),
        "data_version": snap.data_version(),
        "data_changes": snap.data_changes(),
        "reloads": status.reloads,
        "reload_failures": status.failures,
        "last_reload_error": status.last_error,
        "last_reload_error_at": status.last_error_at.map(unix),
    }))
    .into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    // The store only exists with a valid snapshot; a failed reload is
    // reported but the last good snapshot still serves. Not ready: a dead
    // watcher, or one that has not looked at the bundle for too long.
    let status = state.store.status();
    let mut problems: Vec<String> = Vec::new();
    if let Some(w) = &status.watcher {
        if !w.up {
            problems.push("the file watcher is down: bundle edits are not seen".into());
        }
        let age = w
            .last_check
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        if let (Some(max), Some(age)) = (state.config.max_staleness, age) {
            if age > max {
                problems.push(format!(
                    "the bundle was last looked at {} s ago (more than {} s)",
                    age.as_secs(),
                    max.as_secs()
                ));
            }
        }
    }
    let source = state.source.as_ref().map(|s| s.status());
    if let Some(src) = &source {
        if !src.synced {
            problems.push(format!(
                "the entity data has not been read from {} yet",
                src.source
            ));
        } else if let Some(stale) = src.stale_seconds {
            let max = state.config.max_source_staleness.as_secs_f64();
            if !src.up && stale > max {
                problems.push(format!(
                    "{} is unreachable: the entity data is {stale:.0} s old (more than {max:.0} s)",
                    src.source
                ));
            }
        }
    }
    let ready = problems.is_empty();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({
            "ready": ready,
            "version": status.version,
            "last_reload_failed": status.last_error.is_some(),
            "watcher": status.watcher,
            "source": source,
            "problems": problems,
        })),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut body = state.metrics.render(&state.store.status());
    if let Some(log) = &state.decision_log {
        metrics::family(
            &mut body,
            "teamgate_decision_log_dropped_total",
            "counter",
            "Decision lines dropped because the log's queue was full.",
            log.dropped(),
        );
        metrics::family(
            &mut body,
            "teamgate_decision_log_written_total",
            "counter",
            "Decision lines written.",
            log.written(),
        );
    }
    if let Some(source) = &state.source {
        metrics::source(&mut body, &source.status());
    }
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config.admin_token.is_none() {
        return ApiError::status(
            StatusCode::NOT_FOUND,
            "reload is off: start the server with --admin-token-file to enable it",
        )
        .into_response();
    }
    if let Err(e) = data::authorize(&state, &headers) {
        return e.into_response();
    }
    let store = state.store.clone();
    let outcome = match tokio::task::spawn_blocking(move || store.reload()).await {
        Ok(o) => o,
        Err(e) => {
            return ApiError::status(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload task failed: {e}"),
            )
            .into_response()
        }
    };
    let status = match outcome {
        ReloadOutcome::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    (
        status,
        Json(json!({ "outcome": outcome, "version": state.store.status().version })),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
