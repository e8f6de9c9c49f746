//! The engine: a request and entity data in, a [`Decision`] out. Fails closed.
//!
//! Cedar's authorizer evaluates every policy it is given. The engine gives it
//! only the policies whose scope can match the request: for each
//! (principal type, action, resource type) the schema allows, a slice of the
//! set is built once when the engine is built. A policy left out of a slice has
//! a scope that cannot match the request, so Cedar would skip it without
//! evaluating its conditions: the decision, the determining policies and the
//! errors are the same as for the whole set (tests/differential.rs proves it).
//!
//! On top of Cedar's answer the engine fails closed: an unknown action, an
//! entity missing from the data, a context that does not match the schema, or
//! any evaluation error is a deny that says why (rule P5).

use std::collections::{HashMap, HashSet};

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision as CedarDecision, Entities, EntityTypeName,
    EntityUid, Policy, PolicySet, PrincipalConstraint, Request, ResourceConstraint, Response,
    Schema,
};
use serde::Serialize;

use crate::Problem;

/// One authorization question.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Who asks, e.g. `User::"erin"`.
    pub principal: EntityUid,
    /// What they want to do, e.g. `Action::"viewProject"`.
    pub action: EntityUid,
    /// On what, e.g. `Project::"website"`.
    pub resource: EntityUid,
    /// Context record as Cedar JSON (an object; `null` means `{}`).
    pub context: serde_json::Value,
}

/// Which policies Cedar evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the slice whose scope can match the request (the default).
    Sliced,
    /// Every policy of the set, as Cedar does by default (for comparison).
    WholeSet,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Decision {
    /// True only when Cedar allowed and nothing went wrong.
    pub allowed: bool,
    /// Determining policy ids, sorted: the satisfied permits of an allow, the
    /// satisfied forbids of a deny (empty when no permit applied).
    pub reasons: Vec<String>,
    /// Why the request could not be evaluated cleanly, if it could not.
    pub errors: Vec<String>,
}

impl Decision {
    fn deny_because(error: String) -> Self {
        Decision {
            allowed: false,
            reasons: Vec::new(),
            errors: vec![error],
        }
    }

    /// `"allow"` or `"deny"`.
    pub fn word(&self) -> &'static str {
        if self.allowed {
            "allow"
        } else {
            "deny"
        }
    }
}

/// Why a query could not be put to Cedar. Every kind is a deny; a server
/// answers the malformed ones (all but [`RequestErrorKind::UnknownEntity`])
/// with a 400 naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// What was wrong.
    pub kind: RequestErrorKind,
    /// The request field at fault: `action`, `principal`, `resource`, `context`.
    pub field: &'static str,
    /// Says why.
    pub message: String,
}

/// Kinds of [`RequestError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// The action is not a requestable action of the schema.
    UnknownAction,
    /// The principal or resource type does not fit the action.
    WrongType,
    /// The principal or resource is not in the entity data.
    UnknownEntity,
    /// The context does not match the action's context type.
    BadContext,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn req_err(kind: RequestErrorKind, field: &'static str, message: String) -> RequestError {
    RequestError {
        kind,
        field,
        message,
    }
}

#[derive(Debug)]
struct Slice {
    principal: EntityTypeName,
    resource: EntityTypeName,
    policies: PolicySet,
}

/// Decides queries against one schema and policy set. Immutable.
#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    whole: PolicySet,
    slices: HashMap<EntityUid, Vec<Slice>>,
    authorizer: Authorizer,
}

const INVITE_EXTERNAL: &str = "inviteExternal";

/// A copy of `p` for a slice, whose scope is already known to match: the
/// action constraint and `is T` type constraints become unconstrained. Cedar
/// checks `action in [a, b, ...]` by walking the action hierarchy once per
/// listed action, which made a policy with a long list cost microseconds even
/// when it could not apply; the condition, id, annotations and effect are kept,
/// so decisions, reasons and errors are unchanged.
fn scope_decided(p: &Policy) -> Result<Policy, Problem> {
    let mut json = p
        .to_json()
        .map_err(|e| Problem::new(format!("policy {}: {e}", p.id())))?;
    let all = serde_json::json!({ "op": "All" });
    if let Some(obj) = json.as_object_mut() {
        obj.insert("action".into(), all.clone());
        for key in ["principal", "resource"] {
            let plain_is = obj.get(key).is_some_and(|c| {
                c.get("op").and_then(|o| o.as_str()) == Some("is") && c.get("in").is_none()
            });
            if plain_is {
                obj.insert(key.into(), all.clone());
            }
        }
    }
    Policy::from_json(Some(p.id().clone()), json)
        .map_err(|e| Problem::new(format!("policy {}: {e}", p.id())))
}

impl Engine {
    /// Builds the per-request-type slices of `policies`.
    pub fn new(schema: &Schema, policies: &PolicySet) -> Result<Engine, Problem> {
        let actions = schema
            .action_entities()
            .map_err(|e| Problem::new(format!("schema action hierarchy: {e}")))?;
        // The scope-decided copy of a policy does not depend on the slice it
        // goes into: make each once.
        let mut decided: HashMap<cedar_policy::PolicyId, Policy> = HashMap::new();
        for p in policies.policies() {
            decided.insert(p.id().clone(), scope_decided(p)?);
        }
        let mut slices: HashMap<EntityUid, Vec<Slice>> = HashMap::new();
        for env in schema.request_envs() {
            let action = env.action().clone();
            let ancestors: HashSet<EntityUid> = actions
                .ancestors(&action)
                .map(|it| it.cloned().collect())
                .unwrap_or_default();
            let mut slice = PolicySet::new();
            for p in policies.policies() {
                let action_ok = match p.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(a) => a == action,
                    ActionConstraint::In(groups) => {
                        groups.iter().any(|g| *g == action || ancestors.contains(g))
                    }
                };
                let principal_ok = match p.principal_constraint() {
                    PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
                    PrincipalConstraint::Eq(uid) => uid.type_name() == env.principal(),
                    PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => {
                        &t == env.principal()
                    }
                };
                let resource_ok = match p.resource_constraint() {
                    ResourceConstraint::Any | ResourceConstraint::In(_) => true,
                    ResourceConstraint::Eq(uid) => uid.type_name() == env.resource(),
                    ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => {
                        &t == env.resource()
                    }
                };
                if action_ok && principal_ok && resource_ok {
                    let copy = decided
                        .get(p.id())
                        .cloned()
                        .ok_or_else(|| Problem::new(format!("policy {} vanished", p.id())))?;
                    slice
                        .add(copy)
                        .map_err(|e| Problem::new(format!("building policy slice: {e}")))?;
                }
            }
            slices.entry(action).or_default().push(Slice {
                principal: env.principal().clone(),
                resource: env.resource().clone(),
                policies: slice,
            });
        }
        Ok(Engine {
            schema: schema.clone(),
            whole: policies.clone(),
            slices,
            authorizer: Authorizer::new(),
        })
    }

    /// The schema the engine checks requests against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Actions that can be requested (those with `appliesTo`), sorted.
    pub fn actions(&self) -> Vec<&EntityUid> {
        let mut v: Vec<&EntityUid> = self.slices.keys().collect();
        v.sort_by_key(|a| a.to_string());
        v
    }

    /// The policies (scope-decided copies) Cedar evaluates for a request of these types.
    pub fn slice_for(
        &self,
        principal: &EntityTypeName,
        action: &EntityUid,
        resource: &EntityTypeName,
    ) -> Option<&PolicySet> {
        self.slice(principal, action, resource)
    }

    /// The whole policy set, as parsed.
    pub fn policies(&self) -> &PolicySet {
        &self.whole
    }

    /// Asks Cedar about `request` with only `policies`.
    pub fn authorize_with(
        &self,
        request: &Request,
        policies: &PolicySet,
        entities: &Entities,
    ) -> Response {
        self.authorizer.is_authorized(request, policies, entities)
    }

    /// Number of policies Cedar evaluates for a request of these types.
    pub fn slice_len(
        &self,
        principal: &EntityTypeName,
        action: &EntityUid,
        resource: &EntityTypeName,
    ) -> Option<usize> {
        self.slice(principal, action, resource)
            .map(|s| s.policies().count())
    }

    fn slice(
        &self,
        principal: &EntityTypeName,
        action: &EntityUid,
        resource: &EntityTypeName,
    ) -> Option<&PolicySet> {
        self.slices
            .get(action)?
            .iter()
            .find(|s| &s.principal == principal && &s.resource == resource)
            .map(|s| &s.policies)
    }

    /// Decides `query` against `entities`, failing closed.
    pub fn decide(&self, query: &Query, entities: &Entities) -> Decision {
        match self.request(query, entities) {
            Ok(request) => self.decide_request(&request, entities),
            Err(why) => Decision::deny_because(why.message),
        }
    }

    /// Turns Cedar's response into a decision: any error means deny.
    pub fn fail_closed(response: &Response) -> Decision {
        let mut errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        errors.sort();
        let allowed = response.decision() == CedarDecision::Allow && errors.is_empty();
        let reasons = if response.decision() == CedarDecision::Allow && !allowed {
            Vec::new()
        } else {
            let mut r: Vec<String> = response
                .diagnostics()
                .reason()
                .map(|id| id.to_string())
                .collect();
            r.sort();
            r
        };
        Decision {
            allowed,
            reasons,
            errors,
        }
    }

    /// Checks `query` and asks Cedar, with either strategy. `Err` says why the
    /// query could not be put to Cedar at all (and is a deny).
    pub fn evaluate(
        &self,
        query: &Query,
        entities: &Entities,
        strategy: Strategy,
    ) -> Result<Response, String> {
        let request = self.request(query, entities).map_err(|e| e.message)?;
        let policies = match strategy {
            Strategy::WholeSet => &self.whole,
            Strategy::Sliced => self
                .slice(
                    query.principal.type_name(),
                    &query.action,
                    query.resource.type_name(),
                )
                .ok_or_else(|| {
                    format!(
                        "{} does not apply to a {} acting on a {}",
                        query.action,
                        query.principal.type_name(),
                        query.resource.type_name()
                    )
                })?,
        };
        Ok(self.authorizer.is_authorized(&request, policies, entities))
    }

    /// Builds the Cedar request: action known, entity types allowed for it,
    /// entities present, context conforming to the schema.
    pub fn request(&self, query: &Query, entities: &Entities) -> Result<Request, RequestError> {
        use RequestErrorKind::*;
        let Some(envs) = self.slices.get(&query.action) else {
            return Err(req_err(
                UnknownAction,
                "action",
                format!(
                    "unknown action {}: not an action of the schema",
                    query.action
                ),
            ));
        };
        let (ptype, rtype) = (query.principal.type_name(), query.resource.type_name());
        if !envs.iter().any(|s| &s.principal == ptype) {
            return Err(req_err(
                WrongType,
                "principal",
                format!(
                    "request does not match the schema: {} is not for a principal of type {ptype}",
                    query.action
                ),
            ));
        }
        if !envs
            .iter()
            .any(|s| &s.principal == ptype && &s.resource == rtype)
        {
            return Err(req_err(
                WrongType,
                "resource",
                format!("request does not match the schema: {} does not apply to a resource of type {rtype}", query.action),
            ));
        }
        for (what, uid) in [
            ("principal", &query.principal),
            ("resource", &query.resource),
        ] {
            if entities.get(uid).is_none() {
                return Err(req_err(
                    UnknownEntity,
                    what,
                    format!("unknown {what} {uid}: no such entity in the entity data"),
                ));
            }
        }
        let bad_context = |e: String| {
            req_err(
                BadContext,
                "context",
                format!(
                    "context does not match the schema for {}: {e}",
                    query.action
                ),
            )
        };
        let context_json = prepare_context(&query.action, &query.context)
            .map_err(|e| req_err(BadContext, "context", e))?;
        // Parsing with the schema reads entity references and extension values
        // by their declared types; `validate` then checks the context against
        // the action's context type. The principal and resource types were
        // checked above, so the request itself needs no schema pass.
        let context = Context::from_json_value(context_json, Some((&self.schema, &query.action)))
            .map_err(|e| bad_context(e.to_string()))?;
        context
            .validate(&self.schema, &query.action)
            .map_err(|e| bad_context(e.to_string()))?;
        Request::new(
            query.principal.clone(),
            query.action.clone(),
            query.resource.clone(),
            context,
            None,
        )
        .map_err(|e| {
            req_err(
                WrongType,
                "action",
                format!("request does not match the schema: {e}"),
            )
        })
    }

    /// Decides a request built by [`Engine::request`], failing closed.
    pub fn decide_request(&self, request: &Request, entities: &Entities) -> Decision {
        let slice = match (request.principal(), request.action(), request.resource()) {
            (Some(p), Some(a), Some(r)) => self.slice(p.type_name(), a, r.type_name()),
            _ => None,
        };
        match slice {
            Some(policies) => {
                Self::fail_closed(&self.authorizer.is_authorized(request, policies, entities))
            }
            None => Decision::deny_because("request has no policy slice".into()),
        }
    }
}

/// The context as Cedar sees it. `null` is `{}`. For `inviteExternal`,
/// `inviteeDomain` is derived from `inviteeEmail` (Cedar has no string
/// functions), replacing whatever the caller sent under that key.
pub fn prepare_context(
    action: &EntityUid,
    context: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut ctx = match context {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(m) => m.clone(),
        other => {
            return Err(format!(
                "context must be a JSON object, not {}",
                json_kind(other)
            ))
        }
    };
    if action.id().unescaped() == INVITE_EXTERNAL && action.type_name().to_string() == "Action" {
        ctx.remove("inviteeDomain");
        if let Some(serde_json::Value::String(email)) = ctx.get("inviteeEmail") {
            if let Some((local, domain)) = email.trim().rsplit_once('@') {
                if !local.is_empty() && !domain.is_empty() {
                    ctx.insert("inviteeDomain".into(), domain.to_ascii_lowercase().into());
                }
            }
        }
    }
    Ok(serde_json::Value::Object(ctx))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
