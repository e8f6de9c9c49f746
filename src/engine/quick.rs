//! A direct evaluator for the conditions a policy pack is made of, reading
//! values where they lie instead of copying them.
//!
//! Cedar's evaluator returns every intermediate value by value (an
//! attribute read clones it into a `PartialValue`, each result travels in a
//! `Result` as large as Cedar's error type) and looks each entity up in the
//! entity map by hashing its uid. Most conditions of a pack are short
//! tests over a few attributes -- `principal.license == "collaborator"`,
//! `resource.hasTag(principal.userId)`, `resource in principal.workspace`
//! -- whose values are already in the entities. [`truth`] evaluates such a
//! condition over borrowed values, by the same rules as Cedar's evaluator,
//! and answers only when the evaluation met nothing but well-typed values
//! and entities that exist. Anything else -- an error of any kind, a
//! missing entity or attribute, an extension function, a slot, an
//! operator it does not implement -- gives `None`, and the caller asks
//! Cedar's evaluator, whose answer (and error message) is then the one
//! given. An answer of `Some(b)` is Cedar's value `b`: evaluation has no
//! side effects, both evaluate the same operands in the same order and
//! short-circuit `&&`, `||` and `if` alike, so where neither meets an error
//! they compute the same value (tests/differential.rs and this module's
//! tests compare them).

use std::cell::Cell;
use std::collections::BTreeMap;

use cedar_policy_core::ast::{self, BinaryOp, ExprKind, Literal, UnaryOp, ValueKind, Var};
use smol_str::SmolStr;

use super::rules::Asked;
use super::set::EntitySet;

/// What a condition is evaluated against: the request's variables (`'r`)
/// and its entity set (`'e`).
pub(super) struct Env<'r, 'e> {
    principal: &'r ast::EntityUID,
    action: &'r ast::EntityUID,
    resource: &'r ast::EntityUID,
    context: Option<&'r BTreeMap<SmolStr, ast::Value>>,
    entities: &'e EntitySet<'e>,
    /// The principal's and the resource's entities, once looked up.
    principal_entity: Cell<Option<Option<&'e ast::Entity>>>,
    resource_entity: Cell<Option<Option<&'e ast::Entity>>>,
    /// The error that stopped the evaluation under way, when it is one
    /// whose message is Cedar's for certain (see [`Env::missing`]).
    error: Cell<Option<String>>,
}

/// The principal's and the resource's entities, each where looked up
/// (`Some(None)`: the set has none).
pub(super) type Found<'e> = (
    Option<Option<&'e ast::Entity>>,
    Option<Option<&'e ast::Entity>>,
);

impl<'r, 'e> Env<'r, 'e> {
    /// The environment of `asked` over `entities`; the principal's and
    /// the resource's entities as already looked up (by an earlier request
    /// of the same principal and resource over the same set), if they were.
    pub(super) fn new(
        asked: Asked<'r>,
        entities: &'e EntitySet<'e>,
        found: Found<'e>,
    ) -> Env<'r, 'e> {
        let context = match asked.context.as_ref() {
            ast::Context::Value(map) => Some(&**map),
            ast::Context::RestrictedResidual(_) => None,
        };
        Env {
            principal: asked.principal.as_ref(),
            action: asked.action.as_ref(),
            resource: asked.resource.as_ref(),
            context,
            entities,
            principal_entity: Cell::new(found.0),
            resource_entity: Cell::new(found.1),
            error: Cell::new(None),
        }
    }

    /// The principal's and the resource's entities, where looked up (to
    /// hand to the next request of the pair).
    pub(super) fn found(&self) -> Found<'e> {
        (self.principal_entity.get(), self.resource_entity.get())
    }

    /// The principal's entity, if the set holds it.
    pub(super) fn principal_entity(&self) -> Option<&'e ast::Entity> {
        self.entity(self.principal)
    }

    /// The entity of `uid`; `None` when the set does not hold it (or holds
    /// a residual).
    fn entity(&self, uid: &ast::EntityUID) -> Option<&'e ast::Entity> {
        let look = || self.entities.entity(uid);
        let cached = |cell: &Cell<Option<Option<&'e ast::Entity>>>| match cell.get() {
            Some(e) => e,
            None => {
                let e = look();
                cell.set(Some(e));
                e
            }
        };
        // The request's own variables are handed out by reference, so a
        // pointer comparison finds them.
        if std::ptr::eq(self.principal, uid) {
            cached(&self.principal_entity)
        } else if std::ptr::eq(self.resource, uid) {
            cached(&self.resource_entity)
        } else {
            look()
        }
    }

    /// Stops an evaluation that read an attribute or a tag of `uid`, an
    /// entity the set does not hold: Cedar's evaluator stops there with
    /// `EntityDoesNotExist`, whose message is recorded (a residual entity,
    /// which only Cedar evaluates, records nothing). Always `None`.
    fn missing<T>(&self, uid: &ast::EntityUID) -> Option<T> {
        if self.entities.lacks(uid) {
            self.error
                .set(Some(format!("entity `{uid}` does not exist")));
        }
        None
    }
}

/// A value under evaluation, borrowed from the condition, the request or
/// the entities. Literals are kept apart from other values by kind, so
/// that equality is a comparison of like with like.
#[derive(Clone, Copy)]
enum V<'a> {
    Bool(bool),
    Long(i64),
    Str(&'a str),
    Uid(&'a ast::EntityUID),
    /// A set, a record or an extension value.
    Other(&'a ast::Value),
}

impl<'a> V<'a> {
    fn of_literal(l: &'a Literal) -> V<'a> {
        match l {
            Literal::Bool(b) => V::Bool(*b),
            Literal::EntityUID(u) => V::Uid(u),
            Literal::Long(n) => V::Long(*n),
            Literal::String(s) => V::Str(s),
        }
    }

    fn of_value(v: &'a ast::Value) -> V<'a> {
        match &v.value {
            ValueKind::Lit(l) => V::of_literal(l),
            _ => V::Other(v),
        }
    }

    fn of_partial(v: &'a ast::PartialValue) -> Option<V<'a>> {
        match v {
            ast::PartialValue::Value(v) => Some(V::of_value(v)),
            ast::PartialValue::Residual(_) => None,
        }
    }

    /// Cedar's `==`: structural, `false` between values of different types.
    fn equals(self, other: V<'_>) -> bool {
        match (self, other) {
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Uid(a), V::Uid(b)) => a == b,
            (V::Long(a), V::Long(b)) => a == b,
            (V::Str(a), V::Str(b)) => a == b,
            (V::Other(a), V::Other(b)) => a == b,
            _ => false,
        }
    }

    fn boolean(self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn set(self) -> Option<&'a ast::Set> {
        match self {
            V::Other(ast::Value {
                value: ValueKind::Set(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    fn string(self) -> Option<&'a str> {
        match self {
            V::Str(s) => Some(s),
            _ => None,
        }
    }

    fn long(self) -> Option<i64> {
        match self {
            V::Long(n) => Some(n),
            _ => None,
        }
    }
}

/// The elements of a set operand: a set value, or a set literal of the
/// condition whose elements were evaluated.
enum Elements<'a> {
    Value(&'a ast::Set),
    Listed(Vec<V<'a>>),
    /// An entity on the right of `in`.
    One(V<'a>),
}

impl<'a> Elements<'a> {
    fn any(&self, mut f: impl FnMut(V<'a>) -> bool) -> bool {
        match self {
            Elements::Value(s) => s.iter().any(|v| f(V::of_value(v))),
            Elements::Listed(l) => l.iter().any(|v| f(*v)),
            Elements::One(v) => f(*v),
        }
    }

    fn all(&self, mut f: impl FnMut(V<'a>) -> bool) -> bool {
        !self.any(|v| !f(v))
    }

    fn contains(&self, x: V<'_>) -> bool {
        self.any(|v| v.equals(x))
    }
}

/// The value of `condition` in `env`, when it is a boolean Cedar's
/// evaluator would give without error, or Cedar's error message when the
/// evaluation stopped at an entity that does not exist; `None` otherwise
/// (see the module documentation).
///
/// An error is given only for a missing entity's attribute or tag: every
/// operand evaluated before it had a value (any other stop gives `None` at
/// once), Cedar evaluates the same operands in the same order, so it
/// stops at the same read with the same error.
pub(super) fn truth(condition: &ast::Expr, env: &Env<'_, '_>) -> Option<Result<bool, String>> {
    match eval(condition, env) {
        Some(v) => v.boolean().map(Ok),
        None => env.error.take().map(Err),
    }
}

fn eval<'v>(e: &'v ast::Expr, env: &'v Env<'_, '_>) -> Option<V<'v>> {
    match e.expr_kind() {
        ExprKind::Lit(l) => Some(V::of_literal(l)),
        ExprKind::Var(Var::Principal) => Some(V::Uid(env.principal)),
        ExprKind::Var(Var::Action) => Some(V::Uid(env.action)),
        ExprKind::Var(Var::Resource) => Some(V::Uid(env.resource)),
        ExprKind::If {
            test_expr,
            then_expr,
            else_expr,
        } => {
            if eval(test_expr, env)?.boolean()? {
                eval(then_expr, env)
            } else {
                eval(else_expr, env)
            }
        }
        ExprKind::And { left, right } => {
            if eval(left, env)?.boolean()? {
                eval(right, env)?.boolean().map(V::Bool)
            } else {
                Some(V::Bool(false))
            }
        }
        ExprKind::Or { left, right } => {
            if eval(left, env)?.boolean()? {
                Some(V::Bool(true))
            } else {
                eval(right, env)?.boolean().map(V::Bool)
            }
        }
        ExprKind::UnaryApp { op, arg } => {
            let v = eval(arg, env)?;
            match op {
                UnaryOp::Not => v.boolean().map(|b| V::Bool(!b)),
                UnaryOp::IsEmpty => v.set().map(|s| V::Bool(s.is_empty())),
                UnaryOp::Neg => v.long()?.checked_neg().map(V::Long),
            }
        }
        ExprKind::BinaryApp { op, arg1, arg2 } => binary(*op, arg1, arg2, env),
        ExprKind::GetAttr { expr, attr } => {
            if let ExprKind::Var(Var::Context) = expr.expr_kind() {
                return env.context?.get(attr).map(V::of_value);
            }
            match eval(expr, env)? {
                V::Uid(uid) => match env.entity(uid) {
                    Some(entity) => V::of_partial(entity.get(attr)?),
                    None => env.missing(uid),
                },
                V::Other(ast::Value {
                    value: ValueKind::Record(r),
                    ..
                }) => r.get(attr).map(V::of_value),
                _ => None,
            }
        }
        ExprKind::HasAttr { expr, attr } => {
            if let ExprKind::Var(Var::Context) = expr.expr_kind() {
                return Some(V::Bool(env.context?.contains_key(attr)));
            }
            match eval(expr, env)? {
                // A missing entity has no attribute, as in Cedar.
                V::Uid(uid) => match env.entity(uid) {
                    Some(entity) => Some(V::Bool(entity.get(attr).is_some())),
                    None if env.entities.lacks(uid) => Some(V::Bool(false)),
                    None => None,
                },
                V::Other(ast::Value {
                    value: ValueKind::Record(r),
                    ..
                }) => Some(V::Bool(r.contains_key(attr))),
                _ => None,
            }
        }
        ExprKind::Is { expr, entity_type } => match eval(expr, env)? {
            V::Uid(uid) => Some(V::Bool(uid.entity_type() == entity_type)),
            _ => None,
        },
        // The context as a whole, slots, unknowns, extension functions,
        // `like`, records and set literals outside a set operator.
        _ => None,
    }
}

fn binary<'v>(
    op: BinaryOp,
    arg1: &'v ast::Expr,
    arg2: &'v ast::Expr,
    env: &'v Env<'_, '_>,
) -> Option<V<'v>> {
    let b = |x: bool| Some(V::Bool(x));
    match op {
        BinaryOp::Eq => {
            let (x, y) = (eval(arg1, env)?, eval(arg2, env)?);
            b(x.equals(y))
        }
        BinaryOp::In => {
            let uid = match eval(arg1, env)? {
                V::Uid(u) => u,
                _ => return None,
            };
            let targets = elements(arg2, env, true)?;
            if !targets.all(|t| matches!(t, V::Uid(_))) {
                return None;
            }
            // A missing entity is in nothing but itself, as in Cedar.
            let entity = env.entity(uid);
            b(targets.any(|t| match t {
                V::Uid(t) => uid == t || entity.is_some_and(|e| e.is_descendant_of(t)),
                _ => false,
            }))
        }
        BinaryOp::Contains => {
            let set = elements(arg1, env, false)?;
            let x = eval(arg2, env)?;
            b(set.contains(x))
        }
        BinaryOp::ContainsAll | BinaryOp::ContainsAny => {
            let (s1, s2) = (elements(arg1, env, false)?, elements(arg2, env, false)?);
            if let (Elements::Value(s1), Elements::Value(s2)) = (&s1, &s2) {
                // Two set values: Cedar's own set operations (ordered sets).
                return b(if op == BinaryOp::ContainsAll {
                    s2.is_subset(s1)
                } else {
                    !s1.is_disjoint(s2)
                });
            }
            if op == BinaryOp::ContainsAll {
                b(s2.all(|v| s1.contains(v)))
            } else {
                b(s2.any(|v| s1.contains(v)))
            }
        }
        BinaryOp::HasTag | BinaryOp::GetTag => {
            let (x, key) = (eval(arg1, env)?, eval(arg2, env)?);
            let (V::Uid(uid), Some(key)) = (x, key.string()) else {
                return None;
            };
            let Some(entity) = env.entity(uid) else {
                // A missing entity has no tag; reading one is Cedar's error.
                return match op {
                    BinaryOp::HasTag if env.entities.lacks(uid) => b(false),
                    BinaryOp::HasTag => None,
                    _ => env.missing(uid),
                };
            };
            let tag = entity.get_tag(key);
            if op == BinaryOp::HasTag {
                b(tag.is_some())
            } else {
                V::of_partial(tag?)
            }
        }
        BinaryOp::Less | BinaryOp::LessEq => {
            let (x, y) = (eval(arg1, env)?.long()?, eval(arg2, env)?.long()?);
            b(if op == BinaryOp::Less { x < y } else { x <= y })
        }
        // Overflow is an error in Cedar: left to it.
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
            let (x, y) = (eval(arg1, env)?.long()?, eval(arg2, env)?.long()?);
            match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                _ => x.checked_mul(y),
            }
            .map(V::Long)
        }
    }
}

/// The elements of the set operand `e`; with `single`, an entity (the
/// right side of `in`) counts as the set of itself.
fn elements<'v>(e: &'v ast::Expr, env: &'v Env<'_, '_>, single: bool) -> Option<Elements<'v>> {
    if let ExprKind::Set(items) = e.expr_kind() {
        return items
            .iter()
            .map(|i| eval(i, env))
            .collect::<Option<Vec<_>>>()
            .map(Elements::Listed);
    }
    match eval(e, env)? {
        V::Uid(u) if single => Some(Elements::One(V::Uid(u))),
        v => v.set().map(Elements::Value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy_core::evaluator::Evaluator;
    use cedar_policy_core::extensions::Extensions;
    use std::str::FromStr;

    const ENTITIES: &str = r#"[
      {"uid": {"type": "User", "id": "alice"}, "parents": [{"type": "Team", "id": "t1"}],
       "attrs": {"license": "collaborator", "userId": "a1", "n": 3,
                 "workspace": {"__entity": {"type": "Workspace", "id": "w1"}},
                 "memberOf": [{"__entity": {"type": "Team", "id": "t1"}},
                              {"__entity": {"type": "Team", "id": "t2"}}],
                 "prefs": {"calendar": true, "level": 2}},
       "tags": {"k": "v"}},
      {"uid": {"type": "User", "id": "bob"}, "parents": [],
       "attrs": {"license": "full", "userId": "b1", "n": 5,
                 "workspace": {"__entity": {"type": "Workspace", "id": "w2"}},
                 "memberOf": [{"__entity": {"type": "Team", "id": "t2"}}]}},
      {"uid": {"type": "Team", "id": "t1"}, "parents": [{"type": "Org", "id": "o"}], "attrs": {}},
      {"uid": {"type": "Team", "id": "t2"}, "parents": [], "attrs": {}},
      {"uid": {"type": "Org", "id": "o"}, "parents": [], "attrs": {}},
      {"uid": {"type": "Workspace", "id": "w1"}, "parents": [], "attrs": {}},
      {"uid": {"type": "Project", "id": "p1"}, "parents": [{"type": "Workspace", "id": "w1"}],
       "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "w1"}},
                 "assignees": [{"__entity": {"type": "User", "id": "alice"}}],
                 "owner": {"__entity": {"type": "User", "id": "alice"}},
                 "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}},
       "tags": {"a1": "manager"}},
      {"uid": {"type": "Project", "id": "p2"}, "parents": [],
       "attrs": {"workspace": {"__entity": {"type": "Workspace", "id": "w2"}},
                 "assignees": [], "nums": [1, 2]}},
      {"uid": {"type": "Action", "id": "view"}, "parents": [{"type": "Action", "id": "read"}], "attrs": {}},
      {"uid": {"type": "Action", "id": "read"}, "parents": [], "attrs": {}}
    ]"#;

    /// Conditions, and whether the direct evaluator must answer them for
    /// alice viewing p1 with the full context (the forms a pack is made of).
    const CONDITIONS: &[(&str, bool)] = &[
        (r#"principal.license == "collaborator""#, true),
        (r#"principal.license != "full""#, true),
        ("principal == resource.owner", true),
        ("principal.n == 3", true),
        (r#"principal.n == "3""#, true),
        ("principal.n < 4 && principal.n <= 3", true),
        ("principal.license < 4", false),
        ("principal.missing == 1", false),
        ("principal has license && !(principal has missing)", true),
        ("resource has owner && resource.owner == principal", true),
        ("resource.hasTag(principal.userId)", true),
        (r#"resource.getTag(principal.userId) == "manager""#, true),
        (r#"resource.getTag("zz") == "x""#, false),
        ("resource.hasTag(1)", false),
        ("resource in principal.workspace", true),
        (r#"principal in Team::"t1" && principal in Org::"o""#, true),
        (r#"principal in [Team::"t2", Org::"o"]"#, true),
        ("principal in [1]", false),
        (r#"principal in Team::"zz""#, true),
        (
            r#"action in Action::"read" && action == Action::"view""#,
            true,
        ),
        (r#"action in [Action::"read"]"#, true),
        ("resource.assignees.contains(principal)", true),
        ("!resource.assignees.contains(principal)", true),
        (
            r#"principal.memberOf.containsAny(User::"bob".memberOf)"#,
            true,
        ),
        (r#"principal.memberOf.containsAll([Team::"t1"])"#, true),
        (
            r#"principal.memberOf.containsAll([Team::"t1", Team::"zz"])"#,
            true,
        ),
        (
            r#"principal.memberOf.containsAll(User::"bob".memberOf)"#,
            true,
        ),
        ("context has item", true),
        ("context has nothing", true),
        (r#"["mywork", "calendar"].contains(context.item)"#, true),
        (
            r#"context.item == "calendar" && principal has prefs && principal.prefs.calendar"#,
            true,
        ),
        (
            "context has item && context.r has x && context.r.x == 1",
            true,
        ),
        ("context.missing == 1", false),
        ("if principal.n == 3 then true else principal.missing", true),
        ("if principal.n then true else false", false),
        (
            r#"principal.license == "collaborator" || principal.missing"#,
            true,
        ),
        (r#"principal.license == "full" && principal.missing"#, true),
        (
            "principal is User && resource is Project && !(principal is Project)",
            true,
        ),
        ("1 is User", false),
        ("resource.assignees.isEmpty()", true),
        ("resource.nums.contains(1)", false),
        (r#"resource.ip == ip("10.0.0.1")"#, false),
        (
            "principal.n + 1 == 4 && principal.n * 2 - 7 == -1 && -principal.n < 0",
            true,
        ),
        ("9223372036854775807 + principal.n == 1", false),
        ("principal.n - 1 < principal.license", false),
        ("principal.workspace.id == 1", false),
        ("resource.workspace == principal.workspace", true),
        ("principal.prefs == {calendar: true, level: 2}", false),
        (
            "principal.prefs.level == 2 && principal.prefs == principal.prefs",
            true,
        ),
        (r#"principal.userId like "a*""#, false),
        ("[1, principal.missing].contains(1)", false),
        (r#"principal.memberOf == [Team::"t1", Team::"t2"]"#, false),
        ("resource.assignees == resource.assignees", true),
        ("true && 1", false),
        ("!1", false),
        (
            r#"User::"ghost" in Team::"t1" || User::"ghost" in User::"ghost""#,
            true,
        ),
        (r#"User::"ghost".license == "x""#, true),
        (r#"User::"ghost" has license"#, true),
        (
            r#"User::"ghost".hasTag("k") || User::"ghost".getTag("k") == "v""#,
            true,
        ),
        (
            r#"principal.n == 3 && [1, User::"ghost".n].contains(1)"#,
            true,
        ),
        (r#"principal.license < 4 || User::"ghost".n == 1"#, false),
        (
            r#"resource.owner.n == 3 && resource.owner.gone.n == 1"#,
            false,
        ),
        (
            "context has who && context.who has license && context.who.license == \"full\"",
            true,
        ),
        ("context has who && context.who.n == 1", true),
        ("(context has who && context.who.n == 1) || true", true),
        (
            "resource.owner has license && resource.owner.n == principal.n",
            true,
        ),
        (r#"principal.memberOf.containsAny([Team::"t1", 1])"#, true),
        ("principal.memberOf.containsAny(1)", false),
        (
            r#"principal.memberOf.contains(Team::"t2") && !principal.memberOf.isEmpty()"#,
            true,
        ),
    ];

    fn uid(s: &str) -> cedar_policy::EntityUid {
        cedar_policy::EntityUid::from_str(s).expect("uid")
    }

    /// Every condition over every request of three principals (one
    /// missing), two actions, three resources (one missing) and two
    /// contexts: where the direct evaluator answers, Cedar's evaluator
    /// gives the same boolean; it answers where it must.
    #[test]
    fn answers_only_what_cedars_evaluator_answers_alike() {
        let entities = cedar_policy::Entities::from_json_str(ENTITIES, None).expect("entities");
        // The store's kind of set: each entity with its ancestors closed.
        let entities = EntitySet::closed(
            entities
                .as_ref()
                .iter()
                .map(|e| std::sync::Arc::new(e.clone()))
                .collect(),
        );
        let contexts = [
            serde_json::json!({}),
            serde_json::json!({"item": "calendar", "r": {"x": 1},
                               "who": {"__entity": {"type": "User", "id": "ghost"}}}),
        ];
        let (mut answered, mut tried, mut errors) = (0, 0, 0);
        for (text, must) in CONDITIONS {
            let condition = ast::Expr::from_str(text).expect("condition");
            for p in [r#"User::"alice""#, r#"User::"bob""#, r#"User::"ghost""#] {
                for a in [r#"Action::"view""#, r#"Action::"read""#] {
                    for r in [r#"Project::"p1""#, r#"Project::"p2""#, r#"Project::"gone""#] {
                        for c in &contexts {
                            let context = cedar_policy::Context::from_json_value(c.clone(), None)
                                .expect("context");
                            let uids = (uid(p), uid(a), uid(r));
                            let asked = Asked {
                                principal: &uids.0,
                                action: &uids.1,
                                resource: &uids.2,
                                context: &context,
                            };
                            let quick =
                                truth(&condition, &Env::new(asked, &entities, (None, None)));
                            let cedar = Evaluator::new(
                                asked.core(),
                                entities.cedar().as_ref(),
                                Extensions::all_available(),
                            )
                            .interpret(&condition, &std::collections::HashMap::new())
                            .map_err(|e| e.to_string())
                            .map(|v| match v.value {
                                ValueKind::Lit(Literal::Bool(b)) => Some(b),
                                _ => None,
                            });
                            tried += 1;
                            match &quick {
                                Some(Ok(b)) => assert_eq!(
                                    cedar,
                                    Ok(Some(*b)),
                                    "`{text}` for {p} {a} {r} {c}: Cedar {cedar:?}, direct {b}"
                                ),
                                // Cedar's very error.
                                Some(Err(m)) => {
                                    errors += 1;
                                    assert_eq!(
                                        cedar.as_ref().err(),
                                        Some(m),
                                        "`{text}` for {p} {a} {r} {c}: Cedar {cedar:?}"
                                    )
                                }
                                None => {}
                            }
                            answered += usize::from(quick.is_some());
                            let full = p.contains("alice")
                                && a.contains("view")
                                && r.contains("p1")
                                && !c.as_object().is_some_and(|m| m.is_empty());
                            if full && *must {
                                assert!(quick.is_some(), "`{text}` not answered for alice");
                            }
                        }
                    }
                }
            }
        }
        // Answers, Cedar's errors and refusals are all exercised.
        assert!(
            answered > tried / 3 && answered < tried && errors > 0,
            "{answered} ({errors} errors) of {tried}"
        );
    }
}
