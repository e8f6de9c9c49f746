//! One decision over HTTP: the API body -> a [`Query`] and an optional
//! [`Overlay`] -> the snapshot's decision -> the answer and a log line.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::api::{AuthorizeRequest, EntityRef};
use super::error::ApiError;
use super::{AppState, RequestEntities};
use cedar_policy::EntityUid;

use crate::{Decision, Field, Overlay, Query, Snapshot};

/// Decides one API request against a snapshot. `Err` is a 400: a malformed
/// request; an unknown entity id is an ordinary deny that says why.
pub(super) fn decide(
    state: &AppState,
    snap: &Snapshot,
    req: &AuthorizeRequest,
) -> Result<Decision, ApiError> {
    let started = Instant::now();
    let query = query(req, &mut Recent::keeping(0)).map_err(|e| ApiError::from(&e))?;
    let overlay = overlay(state, snap, req)?;
    let decision = match snap.try_decide(&query, overlay.as_ref()) {
        Ok(d) => d,
        Err(e) if e.is_malformed() => return Err(ApiError::from(&e)),
        Err(e) => Decision::deny_because(e),
    };
    let nanos = started.elapsed().as_nanos() as u64;
    count(state, snap, &query, &decision, nanos, overlay.is_some());
    Ok(decision)
}

/// Decides a batch of requests that bring no entities of their own, all
/// against the stored entities at once ([`Snapshot::try_decide_many`]).
/// `Err` is a 400 for the first malformed request, named by its index.
pub(super) fn decide_stored(
    state: &AppState,
    snap: &Snapshot,
    requests: &[AuthorizeRequest],
) -> Result<Vec<Decision>, ApiError> {
    let started = Instant::now();
    let at = |i: usize| format!("requests[{i}]");
    let mut read = Recent::keeping(8);
    let queries = requests
        .iter()
        .enumerate()
        .map(|(i, r)| query(r, &mut read).map_err(|e| ApiError::from(&e).within(&at(i))))
        .collect::<Result<Vec<Query>, ApiError>>()?;
    let refs: Vec<&Query> = queries.iter().collect();
    let decisions = snap
        .try_decide_many(&refs)
        .into_iter()
        .enumerate()
        .map(|(i, d)| match d {
            Ok(d) => Ok(d),
            Err(e) if e.is_malformed() => Err(ApiError::from(&e).within(&at(i))),
            Err(e) => Ok(Decision::deny_because(e)),
        })
        .collect::<Result<Vec<Decision>, ApiError>>()?;
    // Each decision's share of the batch's time.
    let nanos = started.elapsed().as_nanos() as u64 / queries.len().max(1) as u64;
    for (q, d) in queries.iter().zip(&decisions) {
        count(state, snap, q, d, nanos, false);
    }
    Ok(decisions)
}

/// The uids of a batch's most recent entity references, so that a
/// reference repeated in it (one principal over a page of resources, the
/// same few actions for each) is read once.
struct Recent<'a> {
    kept: usize,
    /// Each reference, its uid, and when it was last used.
    seen: Vec<(&'a EntityRef, EntityUid, usize)>,
    /// Uses so far.
    clock: usize,
}

impl<'a> Recent<'a> {
    /// Keeping the `kept` references used last (a page's principal,
    /// actions and resources repeat within a few requests); 0 for a single
    /// request.
    fn keeping(kept: usize) -> Self {
        Recent {
            kept,
            seen: Vec::new(),
            clock: 0,
        }
    }

    /// The uid `r` names, for `field`.
    fn uid(&mut self, r: &'a EntityRef, field: Field) -> Result<EntityUid, crate::RequestError> {
        self.clock += 1;
        if let Some(hit) = self.seen.iter_mut().rev().find(|(seen, ..)| *seen == r) {
            hit.2 = self.clock;
            return Ok(hit.1.clone());
        }
        let uid = r.uid(field)?;
        if self.seen.len() < self.kept {
            self.seen.push((r, uid.clone(), self.clock));
        } else if let Some(oldest) = self.seen.iter_mut().min_by_key(|(.., used)| *used) {
            // The least recently used goes: a page's principal and actions
            // stay while its resources come and go.
            *oldest = (r, uid.clone(), self.clock);
        }
        Ok(uid)
    }
}

/// Counts one decided query in the metrics and logs it.
fn count(
    state: &AppState,
    snap: &Snapshot,
    query: &Query,
    decision: &Decision,
    nanos: u64,
    overlay: bool,
) {
    state.metrics.decision(decision.is_allowed(), nanos);
    if let Some(log) = &state.decision_log {
        log.record(log_line(query, decision, snap, nanos, overlay));
    }
}

fn query<'a>(
    req: &'a AuthorizeRequest,
    read: &mut Recent<'a>,
) -> Result<Query, crate::RequestError> {
    Ok(Query::new(
        read.uid(&req.principal, Field::Principal)?,
        read.uid(&req.action, Field::Action)?,
        read.uid(&req.resource, Field::Resource)?,
    )
    .with_context(req.context.clone().unwrap_or(Value::Null)))
}

/// The request's own entities, checked like the stored ones: added to the
/// store (the default), replacing stored ones, or instead of the store, as
/// the server's `--request-entities` allows.
fn overlay(
    state: &AppState,
    snap: &Snapshot,
    req: &AuthorizeRequest,
) -> Result<Option<Overlay>, ApiError> {
    let mode = state.config.request_entities;
    let (builder, list, field) = match (&req.entities, &req.additional_entities) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "entities",
                "give entities or additional_entities, not both",
            ))
        }
        (Some(_), None) if mode != RequestEntities::Replace => {
            return Err(ApiError::bad_request(
                "entities",
                "`entities` (deciding against a request's entities instead of the store) is off: \
                 start the sidecar with --request-entities replace to allow it",
            ))
        }
        (Some(list), None) => (Overlay::instead_of_stored("entities"), list, "entities"),
        // An empty list changes nothing: decide against the store as it is.
        (None, Some(list)) if list.is_empty() => return Ok(None),
        (None, Some(list)) if mode == RequestEntities::Add => (
            Overlay::adding_to_stored("additional_entities"),
            list,
            "additional_entities",
        ),
        (None, Some(list)) => {
            let stored = snap.entity_count();
            if stored > state.config.max_rebuild_entities {
                return Err(ApiError::bad_request(
                    "additional_entities",
                    format!(
                        "with --request-entities override, additional_entities are applied by \
                         rebuilding the stored entity data ({stored} entities), which this sidecar \
                         refuses above {} entities (--max-rebuild-entities)",
                        state.config.max_rebuild_entities
                    ),
                ));
            }
            (
                Overlay::over_stored("additional_entities"),
                list,
                "additional_entities",
            )
        }
        (None, None) => return Ok(None),
    };
    builder
        .upsert(list.clone())
        .build(snap)
        .map(Some)
        .map_err(|e| ApiError::from(&e).at(field))
}

fn log_line(q: &Query, d: &Decision, snap: &Snapshot, nanos: u64, overlay: bool) -> Value {
    json!({
        "time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        "request": {
            "principal": q.principal().to_string(),
            "action": q.action().to_string(),
            "resource": q.resource().to_string(),
            "context": q.context(),
        },
        "request_entities": overlay,
        "decision": if d.is_allowed() { "Allow" } else { "Deny" },
        "reasons": d.reasons(),
        "errors": d.errors(),
        "version": snap.version(),
        "latency_us": nanos as f64 / 1000.0,
    })
}
