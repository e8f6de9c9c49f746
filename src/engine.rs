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
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision as CedarDecision, Entities, EntityTypeName,
    EntityUid, Policy, PolicySet, PrincipalConstraint, Request, ResourceConstraint, Response,
    RestrictedExpression, Schema,
};

use crate::error::{Field, Problem, RequestError};
use crate::query::{Decision, Query, Verdict};
use crate::{FastMap, FastSet};

mod declared;
mod est;
mod guard;
mod quick;
mod rules;
mod set;

pub use est::PolicyJson;
pub use rules::Memo;
use rules::{Asked, Parts, Prepared, Rule};
pub use set::EntitySet;

/// Which policies Cedar evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the slice whose scope can match the request (the default).
    Sliced,
    /// Every policy of the set, as Cedar does by default (for comparison).
    WholeSet,
}

#[derive(Debug)]
struct Slice {
    /// Its number among the engine's slices (what a [`Memo`] knows it by).
    number: usize,
    principal: EntityTypeName,
    resource: EntityTypeName,
    policies: Prepared,
    /// The slice split by the principal attributes its policies open with
    /// (see [`guard`]); `None` when none does.
    split: Option<guard::Split>,
    /// Its action's context type, when the engine reads contexts of it
    /// itself ([`declared`]).
    context: Option<Arc<declared::Declared>>,
}

impl Slice {
    /// The policies Cedar evaluates for this principal: its sub-slice, or
    /// the whole slice when it has none; with a `memo`, picked once per
    /// principal.
    fn for_principal(
        &self,
        principal: Option<&cedar_policy_core::ast::Entity>,
        memo: Option<&mut Memo<'_>>,
    ) -> &Prepared {
        let Some(split) = &self.split else {
            return &self.policies;
        };
        let index = match memo {
            Some(memo) => memo.pick(self.number, || split.index(principal)),
            None => split.index(principal),
        };
        index.and_then(|i| split.sub(i)).unwrap_or(&self.policies)
    }
}

/// Decides queries against one schema and policy set. Immutable.
#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    whole: PolicySet,
    slices: FastMap<EntityUid, Vec<Slice>>,
    /// The schema's entity types, for checking a request's.
    entity_types: FastSet<EntityTypeName>,
    /// Actions whose context type the empty context satisfies.
    empty_context_ok: FastSet<EntityUid>,
    /// The empty context, shared (cloning it counts a reference).
    empty: Context,
    authorizer: Authorizer,
}

/// A copy of `p` for a slice, whose scope is already known to match: the
/// action constraint and `is T` type constraints become unconstrained. Cedar
/// checks `action in [a, b, ...]` by walking the action hierarchy once per
/// listed action, which made a policy with a long list cost microseconds even
/// when it could not apply; the condition, id, annotations and effect are kept,
/// so decisions, reasons and errors are unchanged.
fn scope_decided(p: &Policy, json: &serde_json::Value) -> Result<Policy, Problem> {
    let mut json = json.clone();
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
    /// Builds the per-request-type slices of `policies`, whose JSON form
    /// is `json` ([`PolicyJson::of`]).
    pub fn new(
        schema: &Schema,
        policies: &PolicySet,
        json: &PolicyJson,
    ) -> Result<Engine, Problem> {
        let actions = schema
            .action_entities()
            .map_err(|e| Problem::new(format!("schema action hierarchy: {e}")))?;
        // The scope-decided copy of a policy and its guards do not depend
        // on the slice it goes into: make each once.
        let mut decided: HashMap<cedar_policy::PolicyId, (Policy, Arc<Rule>, guard::Guards)> =
            HashMap::new();
        for (number, p) in policies.policies().enumerate() {
            let est = json
                .get(p)
                .map_err(|e| Problem::new(format!("policy {}: {e}", p.id())))?;
            let copy = scope_decided(p, &est)?;
            let rule = Rule::new(&copy, number);
            decided.insert(p.id().clone(), (copy, rule, guard::guards(&est)));
        }
        let mut slices: FastMap<EntityUid, Vec<Slice>> = FastMap::default();
        let mut parts = Parts::default();
        let mut contexts: HashMap<EntityUid, Option<Arc<declared::Declared>>> = HashMap::new();
        for (number, env) in schema.request_envs().enumerate() {
            let action = env.action().clone();
            let ptype: &cedar_policy_core::ast::EntityType = env.principal().as_ref();
            let rtype: &cedar_policy_core::ast::EntityType = env.resource().as_ref();
            let ancestors: HashSet<EntityUid> = actions
                .ancestors(&action)
                .map(|it| it.cloned().collect())
                .unwrap_or_default();
            let mut slice = Vec::new();
            let mut guarded = Vec::new();
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
                    let (copy, rule, guards) = decided
                        .get(p.id())
                        .ok_or_else(|| Problem::new(format!("policy {} vanished", p.id())))?;
                    slice.push((copy.clone(), rule.for_types(ptype, rtype, schema.as_ref())));
                    guarded.push(guards);
                }
            }
            let split = guard::Split::new(&slice, &guarded, &mut parts)?;
            let policies = Prepared::new(slice, &mut parts)?;
            let context = contexts
                .entry(action.clone())
                .or_insert_with(|| declared::Declared::of(schema.as_ref(), action.as_ref()))
                .clone();
            slices.entry(action).or_default().push(Slice {
                number,
                principal: env.principal().clone(),
                resource: env.resource().clone(),
                policies,
                split,
                context,
            });
        }
        for slice in slices.values_mut().flatten() {
            slice.policies.settle(&parts);
            if let Some(split) = &mut slice.split {
                split.settle(&parts);
            }
        }
        let empty_context_ok = slices
            .keys()
            .filter(|a| Context::empty().validate(schema, a).is_ok())
            .cloned()
            .collect();
        Ok(Engine {
            schema: schema.clone(),
            whole: policies.clone(),
            slices,
            entity_types: schema.entity_types().cloned().collect(),
            empty_context_ok,
            empty: Context::empty(),
            authorizer: Authorizer::new(),
        })
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
        self.slice_of(principal, action, resource)
            .map(|s| s.policies.set())
    }

    fn slice_of(
        &self,
        principal: &EntityTypeName,
        action: &EntityUid,
        resource: &EntityTypeName,
    ) -> Option<&Slice> {
        self.slices
            .get(action)?
            .iter()
            .find(|s| &s.principal == principal && &s.resource == resource)
    }

    /// Turns Cedar's response into a decision: any error means deny.
    pub fn fail_closed(response: &Response) -> Decision {
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        let reasons = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        Self::closed((response.decision() == CedarDecision::Allow, reasons, errors))
    }

    /// Cedar's answer, failed closed: any error means deny.
    fn closed((cedar_allowed, reasons, errors): rules::Answer) -> Decision {
        let allowed = cedar_allowed && errors.is_empty();
        // A permit's reasons do not explain a deny forced by an error.
        let reasons = if cedar_allowed && !allowed {
            Vec::new()
        } else {
            reasons
        };
        let verdict = if allowed {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        Decision::new(verdict, reasons, errors)
    }

    /// Cedar's own decision, without the fail-closed override (as
    /// `cedar run-tests` reports it).
    pub fn as_cedar(response: &Response) -> Decision {
        let verdict = if response.decision() == CedarDecision::Allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        Decision::new(
            verdict,
            response
                .diagnostics()
                .reason()
                .map(|p| p.to_string())
                .collect(),
            response
                .diagnostics()
                .errors()
                .map(|e| e.to_string())
                .collect(),
        )
    }

    /// Checks `query` and asks Cedar, with either strategy. `Err` says why the
    /// query could not be put to Cedar at all (and is a deny).
    pub fn evaluate(
        &self,
        query: &Query,
        entities: &Entities,
        strategy: Strategy,
    ) -> Result<Response, RequestError> {
        let request = self.request(query, entities)?;
        let policies = match strategy {
            Strategy::WholeSet => &self.whole,
            Strategy::Sliced => self
                .slice_of(
                    query.principal().type_name(),
                    query.action(),
                    query.resource().type_name(),
                )
                .ok_or_else(|| RequestError::WrongResourceType {
                    action: query.action().to_string(),
                    type_name: query.resource().type_name().to_string(),
                })?
                .for_principal(entities.get(query.principal()).map(AsRef::as_ref), None)
                .set(),
        };
        Ok(self.authorizer.is_authorized(&request, policies, entities))
    }

    /// Builds the Cedar request: action known, entity types allowed for it,
    /// entities present, context conforming to the schema. The context must
    /// be a JSON object or `null`.
    pub fn request(&self, query: &Query, entities: &Entities) -> Result<Request, RequestError> {
        self.request_with(query, entities, None)
    }

    /// [`Engine::request`], reusing the contexts already read and checked
    /// for the same action and context JSON (a matrix asks the same sample
    /// contexts of every principal and resource).
    pub fn request_with<'s>(
        &'s self,
        query: &Query,
        entities: &Entities,
        contexts: Option<&mut ContextCache<'s>>,
    ) -> Result<Request, RequestError> {
        let (context, _) =
            self.checked_context(query, &EntitySet::of(entities), contexts, false)?;
        Request::new(
            query.principal().clone(),
            query.action().clone(),
            query.resource().clone(),
            context,
            None,
        )
        .map_err(|e| RequestError::SchemaMismatch {
            message: e.to_string(),
        })
    }

    /// The checks of [`Engine::request_with`]; the request's context and
    /// its slice. With `present`, the caller knows that `entities` holds
    /// the principal and the resource (an earlier request of the same pair
    /// over the same set was checked), and they are not looked up again.
    /// With `contexts`, a kind of request (action, principal type, resource
    /// type) already checked finds its slice there.
    fn checked_context<'s>(
        &'s self,
        query: &Query,
        entities: &EntitySet<'_>,
        mut contexts: Option<&mut ContextCache<'s>>,
        present: bool,
    ) -> Result<(Context, &'s Slice), RequestError> {
        let action = query.action();
        let known = contexts.as_deref().and_then(|cache| cache.kind(query));
        let (slice, empty_ok) = match known {
            Some(kind) => kind,
            None => {
                let (key, slice) = self.slice_checked(query)?;
                let empty_ok = self.empty_context_ok.contains(action);
                if let Some(cache) = contexts.as_deref_mut() {
                    cache.put_kind(key, slice, empty_ok);
                }
                (slice, empty_ok)
            }
        };
        for (field, uid) in [
            (Field::Principal, query.principal()),
            (Field::Resource, query.resource()),
        ] {
            if !present && entities.entity(uid.as_ref()).is_none() {
                return Err(RequestError::UnknownEntity {
                    field,
                    uid: uid.to_string(),
                });
            }
        }
        let bad_context = |e: String| RequestError::BadContext {
            message: format!("context does not match the schema for {action}: {e}"),
        };
        let empty = || match empty_ok {
            true => Ok(self.empty.clone()),
            false => self
                .parse_context(&serde_json::Value::Object(Default::default()), action)
                .map_err(bad_context),
        };
        // Read by its declared type when it conforms in a form the engine
        // reads; otherwise as before, Cedar giving any error.
        let declared = match (query.context(), &slice.context) {
            (serde_json::Value::Object(m), Some(d)) if !m.is_empty() => d.read(m),
            _ => None,
        };
        let context = match (declared, query.context()) {
            (Some(c), _) => c,
            (None, serde_json::Value::Null) => empty()?,
            (None, serde_json::Value::Object(m)) if m.is_empty() => empty()?,
            (None, v @ serde_json::Value::Object(_)) => {
                let known = contexts
                    .as_deref()
                    .and_then(|cache| cache.get(action, v))
                    .cloned();
                match known {
                    Some(c) => c,
                    None => {
                        let c = self.read_context(v, action).map_err(bad_context)?;
                        if let Some(cache) = contexts {
                            cache.put(action, v, &c);
                        }
                        c
                    }
                }
            }
            (None, other) => {
                return Err(RequestError::BadContext {
                    message: format!("context must be a JSON object, not {}", json_kind(other)),
                })
            }
        };
        Ok((context, slice))
    }

    /// The slice of a request's kind, its action as the engine's key:
    /// the entity types in the schema, the action known and the types
    /// allowed for it, or the error saying which is not.
    fn slice_checked(&self, query: &Query) -> Result<(&EntityUid, &Slice), RequestError> {
        for (field, uid) in [
            (Field::Principal, query.principal()),
            (Field::Resource, query.resource()),
        ] {
            if !self.entity_types.contains(uid.type_name()) {
                return Err(RequestError::UnknownType {
                    field,
                    type_name: uid.type_name().to_string(),
                });
            }
        }
        let action = query.action();
        let Some((key, envs)) = self.slices.get_key_value(action) else {
            return Err(RequestError::UnknownAction {
                action: action.to_string(),
            });
        };
        let (ptype, rtype) = (query.principal().type_name(), query.resource().type_name());
        if !envs.iter().any(|s| &s.principal == ptype) {
            return Err(RequestError::WrongPrincipalType {
                action: action.to_string(),
                type_name: ptype.to_string(),
            });
        }
        let Some(slice) = envs
            .iter()
            .find(|s| &s.principal == ptype && &s.resource == rtype)
        else {
            return Err(RequestError::WrongResourceType {
                action: action.to_string(),
                type_name: rtype.to_string(),
            });
        };
        Ok((key, slice))
    }

    /// A context object read and checked against the schema: by its JSON
    /// kinds ([`lean_context`]) when that reading passes the check,
    /// otherwise by Cedar ([`Engine::parse_context`], which gives the error).
    fn read_context(
        &self,
        json: &serde_json::Value,
        action: &EntityUid,
    ) -> Result<Context, String> {
        match lean_context(json).filter(|c| c.validate(&self.schema, action).is_ok()) {
            Some(c) => Ok(c),
            None => self.parse_context(json, action),
        }
    }

    /// Cedar's own reading of a context: parsed with the schema (entity
    /// references and extension values read by their declared types), then
    /// checked against the action's context type. The reference the lean
    /// reading ([`lean_context`]) must agree with, and the source of every
    /// error message.
    fn parse_context(
        &self,
        json: &serde_json::Value,
        action: &EntityUid,
    ) -> Result<Context, String> {
        let context = Context::from_json_value(json.clone(), Some((&self.schema, action)))
            .map_err(|e| e.to_string())?;
        context
            .validate(&self.schema, action)
            .map_err(|e| e.to_string())?;
        Ok(context)
    }

    /// Decides a request built by [`Engine::request`], failing closed.
    pub fn decide_request(&self, request: &Request, entities: &Entities) -> Decision {
        self.decide_request_with(request, &EntitySet::of(entities), None)
    }

    /// [`Engine::decide_request`], reusing (and filling) `memo`: the
    /// outcomes of earlier requests of the same principal and resource
    /// over the same entity set.
    pub fn decide_request_with<'e>(
        &self,
        request: &Request,
        entities: &'e EntitySet<'_>,
        memo: Option<&mut Memo<'e>>,
    ) -> Decision {
        let (Some(principal), Some(action), Some(resource)) =
            (request.principal(), request.action(), request.resource())
        else {
            return Decision::deny_because("request has no policy slice");
        };
        let Some(slice) = self.slice_of(principal.type_name(), action, resource.type_name()) else {
            return Decision::deny_because("request has no policy slice");
        };
        match request.context() {
            Some(context) => {
                let asked = Asked {
                    principal,
                    action,
                    resource,
                    context,
                };
                self.decide_asked(asked, slice, entities, memo)
            }
            // A context left unknown: Cedar's authorizer on the slice.
            None => Self::fail_closed(
                &self.authorizer.is_authorized(
                    request,
                    slice
                        .for_principal(entities.entity(principal.as_ref()), None)
                        .set(),
                    entities.cedar(),
                ),
            ),
        }
    }

    /// Checks `query` and decides it over `entities`: [`Engine::request`]
    /// then [`Engine::decide_request`], without building Cedar's request
    /// (or Cedar's entity map) unless Cedar's own evaluator is asked; with
    /// the contexts already read, the knowledge that `entities` holds the
    /// principal and the resource (`present`, see
    /// [`Engine::checked_context`]) and a `memo`.
    pub(crate) fn decide_query_with<'s, 'e>(
        &'s self,
        query: &Query,
        entities: &'e EntitySet<'_>,
        contexts: Option<&mut ContextCache<'s>>,
        present: bool,
        memo: Option<&mut Memo<'e>>,
    ) -> Result<Decision, RequestError> {
        let (context, slice) = self.checked_context(query, entities, contexts, present)?;
        let asked = Asked {
            principal: query.principal(),
            action: query.action(),
            resource: query.resource(),
            context: &context,
        };
        Ok(self.decide_asked(asked, slice, entities, memo))
    }

    /// Decides a checked request on its `slice`, failing closed.
    fn decide_asked<'e>(
        &self,
        asked: Asked<'_>,
        slice: &Slice,
        entities: &'e EntitySet<'_>,
        memo: Option<&mut Memo<'e>>,
    ) -> Decision {
        let env = quick::Env::new(
            asked,
            entities,
            memo.as_deref().map(Memo::known).unwrap_or_default(),
        );
        let mut memo = memo;
        let policies = slice.for_principal(env.principal_entity(), memo.as_deref_mut());
        match policies.decide(asked, entities, &env, memo) {
            Some(answer) => Self::closed(answer),
            None => Self::fail_closed(&self.authorizer.is_authorized(
                &asked.request(),
                policies.set(),
                entities.cedar(),
            )),
        }
    }
}

/// What a run of requests (a batch) has already checked: contexts read and
/// checked against the schema, by action and context JSON, and the slices
/// of request kinds (action, principal type, resource type), with whether
/// the action takes the empty context. A handful of each: linear searches,
/// cheaper than hashing a request's action and types again.
#[derive(Debug, Default)]
pub struct ContextCache<'s> {
    contexts: Vec<(EntityUid, serde_json::Value, Context)>,
    kinds: Vec<(&'s EntityUid, &'s Slice, bool)>,
}

impl<'s> ContextCache<'s> {
    /// Most contexts, and most request kinds, kept; past it, new ones are
    /// read or checked each time.
    const MAX: usize = 64;

    fn get(&self, action: &EntityUid, json: &serde_json::Value) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|(a, j, _)| a == action && j == json)
            .map(|(_, _, c)| c)
    }

    fn put(&mut self, action: &EntityUid, json: &serde_json::Value, context: &Context) {
        if self.contexts.len() < Self::MAX {
            self.contexts
                .push((action.clone(), json.clone(), context.clone()));
        }
    }

    /// The slice of `query`'s kind, and whether its action takes the empty
    /// context, when that kind was checked.
    fn kind(&self, query: &Query) -> Option<(&'s Slice, bool)> {
        let (ptype, rtype) = (query.principal().type_name(), query.resource().type_name());
        self.kinds
            .iter()
            .find(|(a, s, _)| *a == query.action() && &s.principal == ptype && &s.resource == rtype)
            .map(|&(_, s, ok)| (s, ok))
    }

    fn put_kind(&mut self, action: &'s EntityUid, slice: &'s Slice, empty_ok: bool) {
        if self.kinds.len() < Self::MAX {
            self.kinds.push((action, slice, empty_ok));
        }
    }
}

/// A context read from JSON by its kinds alone, without Cedar's JSON parser
/// (which, for every object, first tries the extension-value form and builds
/// a serde error to throw away): strings, booleans, integers, entity
/// references (`{"type": T, "id": I}` or `{"__entity": ...}`), sets and
/// records. `None` for anything else (an extension value, a fraction,
/// `null`). It is used only when it passes the schema's check of the
/// action's context, and then holds what Cedar's schema-directed reading
/// would: every value already has its declared type. Otherwise the engine
/// reads the context Cedar's way, which also gives the error message.
fn lean_context(json: &serde_json::Value) -> Option<Context> {
    let serde_json::Value::Object(map) = json else {
        return None;
    };
    let pairs = map
        .iter()
        .map(|(k, v)| Some((k.clone(), restricted(v)?)))
        .collect::<Option<Vec<_>>>()?;
    Context::from_pairs(pairs).ok()
}

fn restricted(v: &serde_json::Value) -> Option<RestrictedExpression> {
    use serde_json::Value;
    Some(match v {
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::Number(n) => RestrictedExpression::new_long(n.as_i64()?),
        Value::Array(items) => {
            RestrictedExpression::new_set(items.iter().map(restricted).collect::<Option<Vec<_>>>()?)
        }
        Value::Object(m) => {
            if let Some(uid) = entity_ref(v) {
                RestrictedExpression::new_entity_uid(uid)
            } else if m.contains_key("__entity") || m.contains_key("__extn") {
                return None;
            } else {
                RestrictedExpression::new_record(
                    m.iter()
                        .map(|(k, v)| Some((k.clone(), restricted(v)?)))
                        .collect::<Option<Vec<_>>>()?,
                )
                .ok()?
            }
        }
        Value::Null => return None,
    })
}

/// `{"type": T, "id": I}` or `{"__entity": {"type": T, "id": I}}`, with no
/// other key at either level ([`declared::entity_parts`]): anything looser
/// is left to Cedar's reading.
fn entity_ref(v: &serde_json::Value) -> Option<EntityUid> {
    let (ty, id) = declared::entity_parts(v)?;
    Some(EntityUid::from_type_name_and_id(
        ty.parse().ok()?,
        cedar_policy::EntityId::new(id),
    ))
}

/// How a JSON value is named in messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::universe;
    use crate::{testkit, Bundle, Query, Snapshot};

    fn shipped() -> Snapshot {
        Bundle::new(env!("CARGO_MANIFEST_DIR"))
            .load()
            .expect("shipped bundle")
    }

    /// A run of requests sharing a [`ContextCache`] (request kinds' slices)
    /// and a [`Memo`] (the principal's sub-slices), driven as a batch is,
    /// answers each request as it is answered alone: with an action that
    /// applies to two principal and two resource types, guarded policies,
    /// principals of different roles, and requests that fail their checks
    /// between those that pass.
    #[test]
    fn remembered_kinds_and_sub_slices_answer_as_each_request_alone() {
        let (schema, _) = Schema::from_cedarschema_str(
            "entity User { role: String }; entity Bot { role: String }; \
             entity Project; entity Task; \
             action view appliesTo { principal: [User, Bot], resource: [Project, Task], context: {} }; \
             action edit appliesTo { principal: [User], resource: [Project], context: { note?: String } };",
        )
        .expect("schema");
        let policies: PolicySet = r#"
            permit(principal, action == Action::"view", resource is Project)
              when { principal.role == "admin" };
            permit(principal is Bot, action == Action::"view", resource is Task)
              when { principal.role == "reader" };
            permit(principal, action == Action::"edit", resource)
              when { principal.role == "admin" && context has note };
            forbid(principal, action, resource)
              when { principal.role == "banned" };
        "#
        .parse()
        .expect("policies");
        let engine = Engine::new(&schema, &policies, &PolicyJson::of(&policies)).expect("engine");
        let entities = cedar_policy::Entities::from_json_value(
            serde_json::json!([
                {"uid": {"type": "User", "id": "ann"}, "attrs": {"role": "admin"}, "parents": []},
                {"uid": {"type": "User", "id": "bo"}, "attrs": {"role": "member"}, "parents": []},
                {"uid": {"type": "Bot", "id": "r2"}, "attrs": {"role": "reader"}, "parents": []},
                {"uid": {"type": "Bot", "id": "b9"}, "attrs": {"role": "banned"}, "parents": []},
                {"uid": {"type": "Project", "id": "p"}, "attrs": {}, "parents": []},
                {"uid": {"type": "Task", "id": "t"}, "attrs": {}, "parents": []}
            ]),
            Some(&schema),
        )
        .expect("entities");
        let set = EntitySet::of(&entities);
        let uid =
            |t: &str, id: &str| -> EntityUid { format!("{t}::\"{id}\"").parse().expect("uid") };
        let mut queries = Vec::new();
        for (pt, p) in [
            ("User", "ann"),
            ("User", "bo"),
            ("Bot", "r2"),
            ("Bot", "b9"),
            ("User", "ann"),
        ] {
            for (rt, r) in [
                ("Project", "p"),
                ("Task", "t"),
                ("Project", "nowhere"),
                ("Workspace", "w"),
            ] {
                for a in ["view", "edit", "delete"] {
                    let q = Query::new(uid(pt, p), uid("Action", a), uid(rt, r));
                    queries.push(q.clone());
                    queries.push(q.with_context(serde_json::json!({"note": "n"})));
                }
            }
        }
        let alone: Vec<_> = queries
            .iter()
            .map(|q| engine.decide_query_with(q, &set, None, false, None))
            .collect();
        assert!(alone
            .iter()
            .any(|d| d.as_ref().is_ok_and(Decision::is_allowed)));
        assert!(alone
            .iter()
            .any(|d| d.as_ref().is_ok_and(|d| !d.is_allowed())));
        assert!(alone.iter().any(|d| d.is_err()));
        let mut contexts = ContextCache::default();
        let mut memo = Memo::default();
        let mut last: Option<(&EntityUid, &EntityUid)> = None;
        for (q, alone) in queries.iter().zip(&alone) {
            match last {
                Some((p, r)) if p == q.principal() && r == q.resource() => {}
                Some((p, _)) if p == q.principal() => memo.next_pair(),
                _ => memo.next_principal(),
            }
            last = Some((q.principal(), q.resource()));
            let remembered =
                engine.decide_query_with(q, &set, Some(&mut contexts), false, Some(&mut memo));
            assert_eq!(&remembered, alone, "{q:?}");
        }
    }

    /// The lean reading, when the schema accepts it, and the reading by
    /// the declared type ([`declared`]), when it reads the context, hold
    /// exactly what Cedar's schema-directed reading holds; when Cedar
    /// refuses the context, neither reads it. Whether each read it.
    fn agree(engine: &Engine, action: &EntityUid, json: &serde_json::Value) -> (bool, bool) {
        let lean = lean_context(json).filter(|c| c.validate(&engine.schema, action).is_ok());
        let declared = engine
            .slices
            .get(action)
            .and_then(|s| s.first()?.context.as_ref()?.read(json.as_object()?));
        let cedar = engine.parse_context(json, action);
        let mut read = (false, false);
        for (mine, used) in [(lean, &mut read.0), (declared, &mut read.1)] {
            match (mine, &cedar) {
                (Some(l), Ok(c)) => {
                    assert_eq!(l.as_ref(), c.as_ref(), "{action} {json}");
                    *used = true;
                }
                (Some(_), Err(e)) => {
                    panic!("a reading accepted what Cedar refuses: {action} {json}: {e}")
                }
                (None, _) => {}
            }
        }
        read
    }

    #[test]
    fn the_lean_context_reading_agrees_with_cedars() {
        let snap = shipped();
        let engine = snap.engine();
        let (mut lean, mut declared) = (0, 0);
        let mut queries: Vec<Query> = universe::cases(&snap, None)
            .into_iter()
            .map(|c| c.query)
            .collect();
        let (_, ids) = testkit::workspace(300, 7);
        queries.extend(testkit::requests(&ids, 3000, 11));
        for q in &queries {
            let Ok(prepared) = snap.prepare(q, None) else {
                continue;
            };
            let (l, d) = agree(engine, prepared.action(), prepared.context());
            lean += usize::from(l);
            declared += usize::from(d);
        }
        assert!(lean > 100, "the lean reading was used {lean} times");
        assert!(
            declared > 100,
            "the reading by declared type was used {declared} times"
        );
        // Forms the lean reading leaves to Cedar, or that Cedar reads by
        // the declared type: each still agrees.
        let log = EntityUid::from_type_name_and_id(
            "Action".parse().expect("type"),
            cedar_policy::EntityId::new("logTime"),
        );
        let field = EntityUid::from_type_name_and_id(
            "Action".parse().expect("type"),
            cedar_policy::EntityId::new("viewProjectField"),
        );
        for (action, json) in [
            (
                &log,
                serde_json::json!({"forUser": {"type": "User", "id": "erin"}}),
            ),
            (
                &log,
                serde_json::json!({"forUser": {"__entity": {"type": "User", "id": "erin"}}}),
            ),
            (&log, serde_json::json!({"forUser": "erin"})),
            (
                &log,
                serde_json::json!({"forUser": {"type": "Task", "id": "x"}}),
            ),
            (
                &log,
                serde_json::json!({"forUser": {"type": "User", "id": "erin"}, "x": 1}),
            ),
            (
                &log,
                serde_json::json!({"forUser": {"__extn": {"fn": "ip", "arg": "1.2.3.4"}}}),
            ),
            (
                &log,
                serde_json::json!({"forUser": {"type": "User", "id": "erin", "z": 1}}),
            ),
            (&field, serde_json::json!({"field": "stage"})),
            (&field, serde_json::json!({"field": 1.5})),
            (&field, serde_json::json!({"field": ["stage"]})),
            (&field, serde_json::json!({"field": null})),
        ] {
            agree(engine, action, &json);
        }
    }
}
