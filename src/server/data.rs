//! The data API: entity data changed while the sidecar serves, behind the
//! admin token (without one it answers 404).
//!
//! - `POST /v1/entities`: a JSON array of Cedar entity JSON objects, put in
//!   (replacing stored ones with the same uid) in one atomic change;
//! - `DELETE /v1/entities`: a JSON array of `{"type", "id"}`, taken out in
//!   one atomic change;
//! - `GET /v1/entities/{type}/{id}`: one stored entity as Cedar entity JSON;
//! - `PUT /v1/data`: a JSON array of entities that replaces all entity data
//!   (cedar-agent's `PUT /data`).
//!
//! A change that breaks the schema or an integrity rule is refused whole
//! with a 422 that names each entity, JSON path and rule; `If-Match:
//! <version>` makes a change conditional (412 when another version serves).
//! A success answers the new version (also as the `ETag` header).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::bundle::{Change, EntityRef};
use crate::store::UpdateError;

/// Answers 404 when the data API is off and 401 without the admin token.
pub(super) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.config.admin_token else {
        return Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "the data API is off: start the server with --admin-token-file to enable it",
        ));
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| super::constant_time_eq(g.as_bytes(), token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::status(
            StatusCode::UNAUTHORIZED,
            "a valid admin bearer token is required",
        ))
    }
}

/// `POST /v1/entities`.
pub(super) async fn upsert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(state, headers, body, |entities| {
        entity_objects(&entities).map(|()| Change::upsert(entities))
    })
    .await
}

/// `PUT /v1/data`.
pub(super) async fn replace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(state, headers, body, |entities| {
        entity_objects(&entities).map(|()| Change::replace(entities))
    })
    .await
}

/// `DELETE /v1/entities`.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    change(state, headers, body, |uids| {
        let mut refs = Vec::with_capacity(uids.len());
        for (i, u) in uids.into_iter().enumerate() {
            let r: EntityRef = serde_json::from_value(u).map_err(|e| {
                ApiError::bad_request(
                    &format!("[{i}]"),
                    format!("an entity to delete is {{\"type\": ..., \"id\": ...}}: {e}"),
                )
            })?;
            refs.push(r);
        }
        Ok(Change::delete(refs))
    })
    .await
}

/// `GET /v1/entities/{type}/{id}`.
pub(super) async fn get_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((type_name, id)): Path<(String, String)>,
) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e.into_response();
    }
    let snap = state.store.snapshot();
    let uid = match crate::query::uid_of(crate::Field::Resource, &type_name, &id) {
        Ok(u) => u,
        Err(e) => return ApiError::bad_request("type", e.to_string()).into_response(),
    };
    match snap.entity_json(&uid) {
        Some(entity) => {
            ([("etag", format!("\"{}\"", snap.version()))], Json(entity)).into_response()
        }
        None => ApiError::status(
            StatusCode::NOT_FOUND,
            format!("{uid} is not in the entity data"),
        )
        .into_response(),
    }
}

/// Every element of a body array is a JSON object (the change's own checks
/// say what is wrong inside one).
fn entity_objects(entities: &[Value]) -> Result<(), ApiError> {
    match entities.iter().position(|e| !e.is_object()) {
        None => Ok(()),
        Some(i) => Err(ApiError::bad_request(
            &format!("[{i}]"),
            "an entity is a JSON object {\"uid\": ..., \"attrs\": ..., \"parents\": [...]}",
        )),
    }
}

async fn change(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Bytes,
    make: impl FnOnce(Vec<Value>) -> Result<Change, ApiError>,
) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e.into_response();
    }
    if let Some(source) = &state.source {
        return ApiError::status(
            StatusCode::CONFLICT,
            format!(
                "the entity data follows {}: change it there (this sidecar applies what it reads)",
                source.status().source
            ),
        )
        .into_response();
    }
    let items: Vec<Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            return ApiError::bad_request("body", "the body must be a JSON array").into_response()
        }
        Err(e) => {
            return ApiError::bad_request("body", format!("not JSON: {e}")).into_response();
        }
    };
    let change = match make(items) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let if_match = match headers.get("if-match").map(|v| v.to_str()) {
        None => None,
        // `*` matches whatever serves (RFC 9110).
        Some(Ok(v)) if v.trim() == "*" => None,
        Some(Ok(v)) => Some(v.trim().trim_matches('"').to_string()),
        Some(Err(_)) => {
            return ApiError::bad_request("If-Match", "not a readable header value").into_response()
        }
    };
    let store = state.store.clone();
    let done =
        tokio::task::spawn_blocking(move || store.update(&change, if_match.as_deref())).await;
    match done {
        Ok(Ok(updated)) => {
            state.metrics.data_change(true);
            (
                [("etag", format!("\"{}\"", updated.version))],
                Json(json!(updated)),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            state.metrics.data_change(false);
            refused(&e)
        }
        Err(e) => ApiError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("change task failed: {e}"),
        )
        .into_response(),
    }
}

/// The answer to a refused change.
fn refused(e: &UpdateError) -> Response {
    match e {
        UpdateError::VersionMismatch { current, .. } => (
            StatusCode::PRECONDITION_FAILED,
            Json(json!({"error": e.to_string(), "version": current})),
        )
            .into_response(),
        UpdateError::Invalid(load) => {
            let problems: Vec<Value> = load
                .problems()
                .iter()
                .map(|p| {
                    json!({
                        "entity": p.entity(),
                        "path": p.json_path(),
                        "rule": crate::domain::integrity::rule_of(p.message()),
                        "message": p.message(),
                    })
                })
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.to_string(), "problems": problems})),
            )
                .into_response()
        }
        UpdateError::Storage(p) => ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the change could not be recorded, nothing changed: {}",
                p.message()
            ),
        )
        .into_response(),
    }
}
