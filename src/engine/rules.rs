//! A policy slice made ready for Cedar's evaluator once, when the engine is
//! built, instead of on every request.
//!
//! Cedar's authorizer asks each policy for its condition on every request:
//! `Policy::condition` clones the policy's whole expression tree and joins it
//! with the scope constraints, and the copy is dropped after one evaluation
//! (without that rebuild a demo decision went from 7.4 to 5.6 µs). A
//! [`Prepared`] slice keeps each
//! policy's condition, built by the same `Policy::condition`, and puts it to
//! the direct evaluator ([`super::quick`]) and, where that does not answer,
//! to the same evaluator (`Evaluator::partial_interpret` with the policy's
//! slot values) that `Authorizer::is_authorized` uses; the results are combined by
//! Cedar's rules (a satisfied forbid denies; otherwise a satisfied permit
//! allows; the determining policies are the satisfied forbids when there are
//! any, else the satisfied permits; an erroring policy is skipped and its
//! error reported with Cedar's message). Anything the authorizer would treat
//! differently -- a residual, a non-boolean result -- makes
//! [`Prepared::decide`] return `None`, and the engine asks Cedar's authorizer
//! instead. Each slice's copy of a condition is also folded for the
//! slice's principal and resource types and the schema's declared
//! attributes ([`Rule::for_types`]): the decided scope (`true && true &&
//! true && ...`), `resource is T` tests and `has` tests of undeclared
//! attributes go; a guard sub-slice's copy also loses the principal
//! comparisons its pick settles ([`Rule::knowing`]). A condition that is a
//! chain of parts other policies of the engine share is evaluated part by
//! part, each part once per decision ([`Plan::Chain`]); a [`Memo`] carries
//! the outcomes and part values that read neither action nor context from
//! one request of a pair (or of a principal) to the next.
//! tests/differential.rs compares every answer with Cedar's whole-set
//! evaluation.

use std::sync::Arc;

use cedar_policy::{Context, EntityUid, Policy, PolicySet, Request};
use cedar_policy_core::ast;
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;
use cedar_policy_core::validator::types::OpenTag;
use cedar_policy_core::validator::ValidatorSchema;

use super::quick;
use super::set::EntitySet;
use crate::error::Problem;

/// One policy's condition, built once.
#[derive(Debug)]
pub(super) struct Rule {
    /// The policy id as Cedar writes it in answers.
    shown_id: String,
    permit: bool,
    condition: ast::Expr,
    slots: ast::SlotEnv,
    /// The rule's number in its engine (its place in a [`Memo`]).
    number: usize,
    /// What the (unfolded) condition reads, so which requests share its
    /// outcome over one entity set (the slices' copies have their action
    /// scope removed). Read before folding: every slice's copy has the
    /// same number and so the same place in a [`Memo`].
    scope: Scope,
}

/// Which requests, over one entity set, an expression has the same value
/// for: the order is from the widest sharing to none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// It reads none of `resource`, `action`, `context`: every request of
    /// one principal.
    Principal,
    /// It reads neither `action` nor `context`: every request of one
    /// principal and resource.
    Pair,
    /// Only this request.
    Request,
}

impl Scope {
    /// What `e` reads.
    fn of(e: &ast::Expr) -> Scope {
        let mut scope = Scope::Principal;
        for s in e.subexpressions() {
            match s.expr_kind() {
                ast::ExprKind::Var(ast::Var::Action | ast::Var::Context)
                | ast::ExprKind::Unknown(_) => return Scope::Request,
                ast::ExprKind::Var(ast::Var::Resource) => scope = Scope::Pair,
                _ => {}
            }
        }
        scope
    }
}

impl Rule {
    /// The rule of `policy` (the scope-decided copy the slices hold),
    /// numbered `number`.
    pub(super) fn new(policy: &Policy, number: usize) -> Arc<Rule> {
        let core: &ast::Policy = policy.as_ref();
        let condition = core.condition();
        let scope = Scope::of(&condition);
        Arc::new(Rule {
            shown_id: core.id().to_string(),
            permit: core.effect() == ast::Effect::Permit,
            condition,
            slots: core.env().clone(),
            number,
            scope,
        })
    }
}

impl Rule {
    /// The rule for a slice whose requests have a principal of type
    /// `principal` and a resource of type `resource`: `principal is T` and
    /// `resource is T` decided, `principal has a` / `resource has a` false
    /// where `schema` declares no `a` for the type (closed attributes), and
    /// then `true && X`, `false && X`, `true || X`, `false || X`,
    /// `X && true`, `X || false` folded where Cedar's own evaluation could
    /// not tell the difference (the folded-away side is never evaluated by
    /// Cedar, and `X` stands alone only when it is certainly a boolean, so
    /// no type error is lost). Every slice copy opens with the decided
    /// scope, `true && true && true && ...`: three evaluations fewer per
    /// policy and request. Same number, so the same outcome in a [`Memo`].
    pub(super) fn for_types(
        &self,
        principal: &ast::EntityType,
        resource: &ast::EntityType,
        schema: &ValidatorSchema,
    ) -> Arc<Rule> {
        self.refolded(&Facts {
            types: Some((principal, resource, schema)),
            equals: &|_, _| None,
        })
    }

    /// The rule for a sub-slice whose principals all have known values of
    /// some attributes (see [`super::guard`]): `equals(attr, literal)` says
    /// whether `principal.attr == literal` holds for every principal the
    /// sub-slice serves (`None` when it cannot tell), and each such
    /// comparison it decides is replaced by its value, then folded as in
    /// [`Rule::for_types`]. The sub-slice is picked by reading those very
    /// attributes from the entities the request is decided over, so the
    /// comparison would evaluate, without error, to the same value.
    pub(super) fn knowing(
        &self,
        equals: &dyn Fn(&str, &ast::Literal) -> Option<bool>,
    ) -> Arc<Rule> {
        self.refolded(&Facts {
            types: None,
            equals,
        })
    }

    fn refolded(&self, facts: &Facts<'_>) -> Arc<Rule> {
        Arc::new(Rule {
            shown_id: self.shown_id.clone(),
            permit: self.permit,
            condition: fold(&self.condition, facts),
            slots: self.slots.clone(),
            number: self.number,
            scope: self.scope,
        })
    }

    /// The condition as Cedar writes it (for tests of the folding).
    #[cfg(test)]
    pub(super) fn shown_condition(&self) -> String {
        self.condition.to_string()
    }
}

/// What a slice knows of its requests before evaluating anything.
struct Facts<'a> {
    /// The principal's and the resource's types, and the schema that
    /// declares their attributes.
    types: Option<(
        &'a ast::EntityType,
        &'a ast::EntityType,
        &'a ValidatorSchema,
    )>,
    /// Whether `principal.ATTR == LITERAL` holds, where known.
    equals: &'a dyn Fn(&str, &ast::Literal) -> Option<bool>,
}

impl Facts<'_> {
    /// The value of `e` when it is a type test, a `has` test or a
    /// principal-attribute comparison these facts decide.
    fn decide(&self, e: &ast::Expr) -> Option<bool> {
        use ast::ExprKind;
        match e.expr_kind() {
            ExprKind::Is { expr, entity_type } => {
                let (principal, resource, _) = self.types?;
                match expr.expr_kind() {
                    ExprKind::Var(ast::Var::Principal) => Some(entity_type == principal),
                    ExprKind::Var(ast::Var::Resource) => Some(entity_type == resource),
                    _ => None,
                }
            }
            // `principal has a` / `resource has a` where the type declares no
            // `a` (closed attributes): false. Every entity teamgate decides
            // over was checked against the schema, which refuses undeclared
            // attributes, and a missing entity has no attribute either.
            ExprKind::HasAttr { expr, attr } => {
                let (principal, resource, schema) = self.types?;
                let ty = match expr.expr_kind() {
                    ExprKind::Var(ast::Var::Principal) => principal,
                    ExprKind::Var(ast::Var::Resource) => resource,
                    _ => return None,
                };
                let declared = schema.get_entity_type(ty)?;
                let closed = !declared.is_external()
                    && declared.open_attributes() == OpenTag::ClosedAttributes;
                (closed && declared.attr(attr).is_none()).then_some(false)
            }
            ExprKind::BinaryApp {
                op: ast::BinaryOp::Eq,
                arg1,
                arg2,
            } => {
                let (attr, literal) =
                    principal_attr_eq(arg1, arg2).or_else(|| principal_attr_eq(arg2, arg1))?;
                (self.equals)(attr, literal)
            }
            _ => None,
        }
    }
}

/// `(ATTR, LITERAL)` when `left` is `principal.ATTR` and `right` a literal.
fn principal_attr_eq<'e>(
    left: &'e ast::Expr,
    right: &'e ast::Expr,
) -> Option<(&'e str, &'e ast::Literal)> {
    let ast::ExprKind::GetAttr { expr, attr } = left.expr_kind() else {
        return None;
    };
    let ast::ExprKind::Var(ast::Var::Principal) = expr.expr_kind() else {
        return None;
    };
    let ast::ExprKind::Lit(literal) = right.expr_kind() else {
        return None;
    };
    Some((attr.as_str(), literal))
}

/// `e` with what `facts` decide replaced by its value and the boolean
/// connectives over literals folded (see [`Rule::for_types`]).
fn fold(e: &ast::Expr, facts: &Facts<'_>) -> ast::Expr {
    use ast::ExprKind;
    if let Some(b) = facts.decide(e) {
        return ast::Expr::val(b);
    }
    match e.expr_kind() {
        ExprKind::And { left, right } => connective(left, right, false, ast::Expr::and, facts),
        ExprKind::Or { left, right } => connective(left, right, true, ast::Expr::or, facts),
        _ => e.clone(),
    }
}

/// `left && right` (`decides` false) or `left || right` (`decides` true),
/// folded: a left side equal to `decides` is the answer (Cedar never
/// evaluates the right side); the other literal leaves the right side,
/// alone when it is surely a boolean.
fn connective(
    left: &ast::Expr,
    right: &ast::Expr,
    decides: bool,
    join: fn(ast::Expr, ast::Expr) -> ast::Expr,
    facts: &Facts<'_>,
) -> ast::Expr {
    let left = fold(left, facts);
    let right = || fold(right, facts);
    match left.expr_kind() {
        ast::ExprKind::Lit(ast::Literal::Bool(b)) if *b == decides => ast::Expr::val(decides),
        ast::ExprKind::Lit(ast::Literal::Bool(_)) => {
            let right = right();
            if surely_boolean(&right) {
                right
            } else {
                join(left, right)
            }
        }
        _ => {
            let right = right();
            // `X && true` and `X || false` are X when X is surely a boolean.
            let neutral = matches!(right.expr_kind(),
                ast::ExprKind::Lit(ast::Literal::Bool(b)) if *b != decides);
            if neutral && surely_boolean(&left) {
                left
            } else {
                join(left, right)
            }
        }
    }
}

/// Whether `e` evaluates to a boolean whenever it evaluates at all.
fn surely_boolean(e: &ast::Expr) -> bool {
    use ast::{BinaryOp, ExprKind, UnaryOp};
    match e.expr_kind() {
        ExprKind::Lit(l) => matches!(l, ast::Literal::Bool(_)),
        ExprKind::And { .. }
        | ExprKind::Or { .. }
        | ExprKind::Is { .. }
        | ExprKind::HasAttr { .. }
        | ExprKind::ExtHasAttr { .. }
        | ExprKind::Like { .. } => true,
        ExprKind::UnaryApp { op, .. } => matches!(op, UnaryOp::Not),
        ExprKind::BinaryApp { op, .. } => matches!(
            op,
            BinaryOp::Eq
                | BinaryOp::Less
                | BinaryOp::LessEq
                | BinaryOp::In
                | BinaryOp::Contains
                | BinaryOp::ContainsAll
                | BinaryOp::ContainsAny
                | BinaryOp::HasTag
        ),
        _ => false,
    }
}

/// A rule's outcome: satisfied or not, or Cedar's error message.
#[derive(Debug, Clone)]
enum Outcome {
    Satisfied(bool),
    Failed(String),
}

/// What earlier requests over one entity set have already evaluated, for
/// the next request to reuse: the outcomes of rules and the values of
/// condition parts that read neither `action` nor `context` (the same for
/// every request of one principal and resource; those that do not read
/// `resource` either, for every request of one principal), an evaluator
/// for them, and the principal's and resource's entities as looked up in
/// the set. A matrix asks every action of every pair; an
/// application asks which of a page's buttons to show, for many resources.
/// Its owner calls [`Memo::next_pair`] whenever the resource changes and
/// [`Memo::next_principal`] whenever the principal does; one memo serves
/// one entity set and one engine.
#[derive(Default)]
pub struct Memo<'e> {
    /// By rule number.
    outcomes: Vec<Stamped<Outcome>>,
    /// By part number (engine-wide, see [`Parts`]).
    parts: Vec<Stamped<Result<bool, String>>>,
    /// The generation of the current principal, and of the current pair.
    principal: u64,
    pair: u64,
    /// The last generation given out.
    last: u64,
    /// An evaluator for the current pair (any of its requests: what it
    /// evaluates reads neither `action` nor `context`).
    eval: Option<Evaluator<'e>>,
    /// The current principal's and resource's entities, where looked up.
    entities: quick::Found<'e>,
    /// The current principal's sub-slices, by slice number: which one
    /// [`super::guard::Split::index`] gave (`None`: the whole slice).
    picks: Vec<(usize, Option<usize>)>,
}

impl std::fmt::Debug for Memo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("principal", &self.principal)
            .field("pair", &self.pair)
            .finish_non_exhaustive()
    }
}

/// A remembered value and the generation of its scope it belongs to.
#[derive(Debug, Clone)]
struct Stamped<T> {
    generation: u64,
    value: Option<T>,
}

impl<T> Default for Stamped<T> {
    fn default() -> Self {
        Stamped {
            generation: 0,
            value: None,
        }
    }
}

impl<'e> Memo<'e> {
    /// The next requests are of another principal (and resource).
    pub fn next_principal(&mut self) {
        self.last += 1;
        self.principal = self.last;
        self.pair = self.last;
        self.eval = None;
        self.entities = (None, None);
        self.picks.clear();
    }

    /// The next requests are of another resource, same principal.
    pub fn next_pair(&mut self) {
        self.last += 1;
        self.pair = self.last;
        self.eval = None;
        self.entities.1 = None;
    }

    /// The current principal's and resource's entities, where an earlier
    /// request of the pair looked them up (none before the first pair).
    pub(super) fn known(&self) -> quick::Found<'e> {
        if self.pair == 0 {
            return (None, None);
        }
        self.entities
    }

    /// The current principal's sub-slice of slice number `slice`: the one
    /// remembered, or `index`'s, remembered (only once
    /// [`Memo::next_principal`] has named a principal).
    pub(super) fn pick(
        &mut self,
        slice: usize,
        index: impl FnOnce() -> Option<usize>,
    ) -> Option<usize> {
        if self.principal == 0 {
            return index();
        }
        if let Some(&(_, i)) = self.picks.iter().find(|(s, _)| *s == slice) {
            return i;
        }
        let i = index();
        self.picks.push((slice, i));
        i
    }

    /// The generation values of `scope` are stored under; `None` for
    /// values of one request.
    fn generation(&self, scope: Scope) -> Option<u64> {
        match scope {
            // 0 is never current: a fresh memo holds nothing.
            Scope::Principal if self.principal > 0 => Some(self.principal),
            Scope::Pair if self.pair > 0 => Some(self.pair),
            _ => None,
        }
    }

    fn recall<T: Clone>(slots: &[Stamped<T>], at: usize, generation: Option<u64>) -> Option<T> {
        let g = generation?;
        slots
            .get(at)
            .filter(|s| s.generation == g)
            .and_then(|s| s.value.clone())
    }

    fn store<T>(slots: &mut Vec<Stamped<T>>, at: usize, generation: u64, value: T) {
        if slots.len() <= at {
            slots.resize_with(at + 1, Stamped::default);
        }
        slots[at] = Stamped {
            generation,
            value: Some(value),
        };
    }
}

/// The condition parts of every slice of an engine, numbered by
/// expression: the same part in two slices (two actions) has one number,
/// so that its value, once known for a pair, serves both.
#[derive(Debug, Default)]
pub(super) struct Parts {
    numbers: crate::FastMap<ast::Expr, usize>,
    /// How many times each part appears in the chained rules of every
    /// slice and sub-slice.
    uses: Vec<usize>,
}

impl Parts {
    /// The number of part `e` (a new one if unseen), counting this use.
    fn number(&mut self, e: &ast::Expr) -> usize {
        let n = match self.numbers.get(e) {
            Some(&n) => n,
            None => {
                self.numbers.insert(e.clone(), self.uses.len());
                self.uses.push(0);
                self.uses.len() - 1
            }
        };
        self.uses[n] += 1;
        n
    }
}

/// A checked request, by its parts: what a decision reads. Cedar's own
/// request is built from them only when Cedar's evaluator or authorizer is
/// asked (most decisions need neither, see [`quick`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'q> {
    pub principal: &'q EntityUid,
    pub action: &'q EntityUid,
    pub resource: &'q EntityUid,
    pub context: &'q Context,
}

impl Asked<'_> {
    /// Cedar's core request, as `Request::new` builds it without a schema.
    pub(super) fn core(&self) -> ast::Request {
        let known = |uid: &EntityUid| ast::EntityUIDEntry::known(uid.as_ref().clone(), None);
        ast::Request::new_unchecked(
            known(self.principal),
            known(self.action),
            known(self.resource),
            Some(self.context.as_ref().clone()),
        )
    }

    /// Cedar's request.
    pub(crate) fn request(&self) -> Request {
        Request::from(self.core())
    }
}

/// What Cedar's authorizer would answer, before teamgate's fail-closed
/// override: (Cedar allows, determining policies, error messages).
pub(super) type Answer = (bool, Vec<String>, Vec<String>);

/// A policy set with its rules, in the same order.
#[derive(Debug)]
pub(super) struct Prepared {
    /// The policies, for Cedar's authorizer and for reports.
    policies: Vec<Policy>,
    /// Cedar's set of them, made the first time Cedar's authorizer or a
    /// report asks ([`Prepared::set`]): a pack has hundreds of slices and
    /// sub-slices, most never asked, and making each set on every reload
    /// was a tenth of the reload.
    set: std::sync::OnceLock<PolicySet>,
    rules: Vec<Arc<Rule>>,
    /// How each rule (same order) is evaluated.
    plans: Vec<Plan>,
    /// The conditions the chained rules are made of, each evaluated at
    /// most once per decision.
    parts: Vec<Part>,
}

/// One condition part of a slice's chained rules.
#[derive(Debug)]
struct Part {
    condition: ast::Expr,
    /// Its number in the engine ([`Parts`]): its place in a [`Memo`].
    number: usize,
    /// What it reads.
    scope: Scope,
}

/// How a rule's condition is evaluated.
#[derive(Debug)]
enum Plan {
    /// As it is.
    Alone,
    /// As the chain `c1 && c2 && ... && cn` it is, each `c` a part (or the
    /// negation of one) that another rule of the engine shares: Cedar
    /// evaluates the conjuncts in order and stops at the first `false` or
    /// error, and a part's value or error is the same in every rule that
    /// has it (no slots), so each part is evaluated once per decision (and
    /// once per pair or principal with a [`Memo`]).
    Chain(Vec<Conjunct>),
}

/// One conjunct of a chained rule.
#[derive(Debug)]
struct Conjunct {
    /// Its condition: `parts[part]`...
    part: usize,
    /// ... or the negation of it.
    negated: bool,
}

/// Reads `e` as a chain `c1 && c2 && ... && cn` (nested `&&` flattened in
/// the order Cedar evaluates them), each conjunct `P` or `!P` given as
/// `(P, negated)`; `false` when a conjunct is not surely a boolean, is a
/// literal, or holds a slot (its value could differ between rules).
fn conjuncts<'e>(e: &'e ast::Expr, out: &mut Vec<(&'e ast::Expr, bool)>) -> bool {
    use ast::ExprKind;
    let part = |p: &ast::Expr| {
        surely_boolean(p)
            && !matches!(p.expr_kind(), ExprKind::Lit(_))
            && !p
                .subexpressions()
                .any(|s| matches!(s.expr_kind(), ExprKind::Slot(_) | ExprKind::Unknown(_)))
    };
    match e.expr_kind() {
        ExprKind::And { left, right } => conjuncts(left, out) && conjuncts(right, out),
        ExprKind::UnaryApp {
            op: ast::UnaryOp::Not,
            arg,
        } if part(arg) => {
            out.push((arg, true));
            true
        }
        _ if part(e) => {
            out.push((e, false));
            true
        }
        _ => false,
    }
}

impl Prepared {
    /// The set of `policies`, each with its rule; the parts of its chains
    /// numbered in `parts`. Every rule that is a chain is planned as one
    /// until [`Prepared::settle`].
    pub(super) fn new(
        policies: Vec<(Policy, Arc<Rule>)>,
        parts: &mut Parts,
    ) -> Result<Prepared, Problem> {
        let mut ids = std::collections::HashSet::with_capacity(policies.len());
        let mut rules = Vec::with_capacity(policies.len());
        let mut kept = Vec::with_capacity(policies.len());
        for (policy, rule) in policies {
            // What `PolicySet::add` would refuse, refused now.
            if !ids.insert(policy.id().clone()) {
                return Err(Problem::new(format!(
                    "building policy slice: policy id `{}` appears twice",
                    policy.id()
                )));
            }
            kept.push(policy);
            rules.push(rule);
        }
        let mut own: Vec<Part> = Vec::new();
        let mut local: crate::FastMap<usize, usize> = Default::default();
        let plans = rules
            .iter()
            .map(|r| {
                let mut chain = Vec::new();
                if !conjuncts(&r.condition, &mut chain) {
                    return Plan::Alone;
                }
                Plan::Chain(
                    chain
                        .into_iter()
                        .map(|(p, negated)| {
                            let number = parts.number(p);
                            let part = *local.entry(number).or_insert_with(|| {
                                own.push(Part {
                                    condition: p.clone(),
                                    number,
                                    scope: Scope::of(p),
                                });
                                own.len() - 1
                            });
                            Conjunct { part, negated }
                        })
                        .collect(),
                )
            })
            .collect();
        Ok(Prepared {
            policies: kept,
            set: std::sync::OnceLock::new(),
            rules,
            plans,
            parts: own,
        })
    }

    /// Cedar's set of the slice's policies. Their ids are distinct (checked
    /// in [`Prepared::new`]), so Cedar takes each; were one refused all the
    /// same, the set is one that forbids everything: a fallback to Cedar
    /// then denies, never allows for want of a forbid.
    pub(super) fn set(&self) -> &PolicySet {
        self.set.get_or_init(|| {
            PolicySet::from_policies(self.policies.iter().cloned()).unwrap_or_else(|e| {
                tracing::error!(target: "teamgate::engine", "a policy slice could not be built ({e}); its requests are denied");
                "forbid (principal, action, resource);"
                    .parse()
                    .unwrap_or_default()
            })
        })
    }

    /// Plans as [`Plan::Alone`] the chains none of whose parts appears
    /// anywhere else in the engine: in another rule, or in this rule's copy
    /// in another slice (`parts` complete).
    pub(super) fn settle(&mut self, parts: &Parts) {
        for plan in &mut self.plans {
            if let Plan::Chain(chain) = plan {
                if chain
                    .iter()
                    .all(|c| parts.uses[self.parts[c.part].number] < 2)
                {
                    *plan = Plan::Alone;
                }
            }
        }
    }

    /// Number of policies.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }

    /// Each rule's condition as Cedar writes it, in order (for tests).
    #[cfg(test)]
    pub(super) fn conditions(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.shown_condition()).collect()
    }

    /// The number of parts the chained rules are made of (for tests).
    #[cfg(test)]
    pub(super) fn parts_len(&self) -> usize {
        self.parts.len()
    }

    /// Evaluates every rule as Cedar's authorizer would; `None` when a rule
    /// gives something the authorizer handles otherwise (a residual or a
    /// non-boolean value), so that the caller asks the authorizer itself.
    /// With a `memo`, what earlier requests of this principal (and
    /// resource) already evaluated is not evaluated again.
    pub(super) fn decide<'e>(
        &self,
        asked: Asked<'_>,
        entities: &'e EntitySet<'_>,
        quick: &quick::Env<'_, 'e>,
        memo: Option<&mut Memo<'e>>,
    ) -> Option<Answer> {
        let mut run = Run {
            asked,
            entities,
            quick,
            own: None,
            mine: false,
            memo,
            values: Vec::new(),
        };
        let (mut permits, mut forbids, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for (rule, plan) in self.rules.iter().zip(&self.plans) {
            let generation = run.generation(rule.scope);
            let known = run
                .memo
                .as_deref()
                .and_then(|m| Memo::recall(&m.outcomes, rule.number, generation));
            let outcome = match known {
                Some(o) => o,
                None => {
                    let o = match plan {
                        Plan::Alone => match quick::truth(&rule.condition, run.quick) {
                            Some(Ok(b)) => Outcome::Satisfied(b),
                            Some(Err(message)) => Outcome::Failed(failed(rule, &message)),
                            None => outcome(run.evaluator(rule.scope), &rule.condition, rule)?,
                        },
                        Plan::Chain(chain) => self.chain(&mut run, chain, rule)?,
                    };
                    if let (Some(m), Some(g)) = (run.memo.as_deref_mut(), generation) {
                        Memo::store(&mut m.outcomes, rule.number, g, o.clone());
                    }
                    o
                }
            };
            match outcome {
                Outcome::Satisfied(true) if rule.permit => permits.push(&rule.shown_id),
                Outcome::Satisfied(true) => forbids.push(&rule.shown_id),
                Outcome::Satisfied(false) => {}
                Outcome::Failed(message) => errors.push(message),
            }
        }
        if let Some(m) = run.memo {
            m.entities = quick.found();
        }
        let allowed = !permits.is_empty() && forbids.is_empty();
        let determining = if forbids.is_empty() { permits } else { forbids };
        Some((allowed, determining.into_iter().cloned().collect(), errors))
    }

    /// The outcome of `rule`, the chain `chain`: its parts in order, each
    /// evaluated only if `run` does not know it yet, up to the first
    /// `false` or error (`None` as in [`value`]).
    fn chain(&self, run: &mut Run<'_, '_>, chain: &[Conjunct], rule: &Rule) -> Option<Outcome> {
        for c in chain {
            let part = &self.parts[c.part];
            let v = match run.known(c.part, part) {
                Some(v) => v,
                None => {
                    let v = match quick::truth(&part.condition, run.quick) {
                        Some(v) => v,
                        None => value(run.evaluator(part.scope), &part.condition, &rule.slots)?,
                    };
                    run.learn(c.part, part, &v);
                    v
                }
            };
            match v {
                Err(message) => return Some(Outcome::Failed(failed(rule, &message))),
                Ok(b) if b == c.negated => return Some(Outcome::Satisfied(false)),
                Ok(_) => {}
            }
        }
        Some(Outcome::Satisfied(true))
    }
}

/// One decision under way: its evaluators and what it knows.
struct Run<'m, 'e> {
    asked: Asked<'m>,
    entities: &'e EntitySet<'e>,
    /// The request for the direct evaluator, tried before Cedar's.
    quick: &'m quick::Env<'m, 'e>,
    /// The request's own evaluator, made when first needed.
    own: Option<Evaluator<'e>>,
    /// The memo's evaluator is this request's (made for it in this run).
    mine: bool,
    memo: Option<&'m mut Memo<'e>>,
    /// The values (or Cedar's error messages) of the slice's parts so far.
    values: Vec<Option<Result<bool, String>>>,
}

impl<'e> Run<'_, 'e> {
    /// The generation a value of `scope` is remembered under; `None`
    /// without a memo.
    fn generation(&self, scope: Scope) -> Option<u64> {
        self.memo.as_deref().and_then(|m| m.generation(scope))
    }

    /// An evaluator for what reads `scope`: the memo's, shared by the pair's
    /// requests, when `scope` reads neither action nor context and the memo
    /// has a current pair; the request's own otherwise. One evaluator per
    /// request at most: the first the pair needs is this request's own
    /// (made or taken), which then serves this request's every scope.
    fn evaluator(&mut self, scope: Scope) -> &Evaluator<'e> {
        let (asked, entities) = (self.asked, self.entities);
        let make = || {
            Evaluator::new(
                asked.core(),
                entities.cedar().as_ref(),
                Extensions::all_available(),
            )
        };
        match self.memo.as_deref_mut() {
            Some(m) if self.mine || m.generation(scope).is_some() => {
                if m.eval.is_none() {
                    m.eval = Some(self.own.take().unwrap_or_else(make));
                    self.mine = true;
                }
                m.eval.get_or_insert_with(make)
            }
            _ => self.own.get_or_insert_with(make),
        }
    }

    /// The value of the slice's part `at` (`part`), if already known.
    fn known(&self, at: usize, part: &Part) -> Option<Result<bool, String>> {
        if let Some(Some(v)) = self.values.get(at) {
            return Some(v.clone());
        }
        let generation = self.generation(part.scope);
        self.memo
            .as_deref()
            .and_then(|m| Memo::recall(&m.parts, part.number, generation))
    }

    /// Remembers the value of the slice's part `at` (`part`).
    fn learn(&mut self, at: usize, part: &Part, value: &Result<bool, String>) {
        if self.values.len() <= at {
            self.values.resize(at + 1, None);
        }
        self.values[at] = Some(value.clone());
        let generation = self.generation(part.scope);
        if let (Some(m), Some(g)) = (self.memo.as_deref_mut(), generation) {
            Memo::store(&mut m.parts, part.number, g, value.clone());
        }
    }
}

/// The value of `condition` (part of a rule's, with its `slots`):
/// satisfied or not, or Cedar's error message; `None` for what Cedar's
/// authorizer handles otherwise (a residual or a non-boolean value).
fn value(
    eval: &Evaluator<'_>,
    condition: &ast::Expr,
    slots: &ast::SlotEnv,
) -> Option<Result<bool, String>> {
    match eval.partial_interpret(condition, slots) {
        Ok(ast::PartialValue::Value(ast::Value {
            value: ast::ValueKind::Lit(ast::Literal::Bool(b)),
            ..
        })) => Some(Ok(b)),
        Ok(_) => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

/// [`value`] as `rule`'s outcome.
fn outcome(eval: &Evaluator<'_>, condition: &ast::Expr, rule: &Rule) -> Option<Outcome> {
    Some(match value(eval, condition, &rule.slots)? {
        Ok(b) => Outcome::Satisfied(b),
        Err(message) => Outcome::Failed(failed(rule, &message)),
    })
}

/// The message of Cedar's `AuthorizationError::PolicyEvaluationError`.
fn failed(rule: &Rule, message: &str) -> String {
    format!(
        "error while evaluating policy `{}`: {message}",
        rule.shown_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::Entities;

    fn rule(condition: &str) -> Arc<Rule> {
        let text = format!("permit(principal, action, resource) when {{ {condition} }};");
        let policy = Policy::parse(None, text).expect("policy");
        let (user, project): (ast::EntityType, ast::EntityType) = (
            "User".parse().expect("type"),
            "Project".parse().expect("type"),
        );
        let schema = cedar_policy::Schema::from_cedarschema_str(
            "entity User { n: Long, flag: Bool, role: String }; \
             entity Project { creator?: User }; entity Task { project: Project };",
        )
        .expect("schema")
        .0;
        Rule::new(&policy, 0).for_types(&user, &project, schema.as_ref())
    }

    /// `prepared`'s answer, as the engine asks it (the principal's and
    /// resource's entities handed on by `memo`).
    fn answer<'e>(
        prepared: &Prepared,
        request: &Request,
        entities: &'e EntitySet<'_>,
        memo: Option<&mut Memo<'e>>,
    ) -> Option<Answer> {
        let asked = Asked {
            principal: request.principal().expect("principal"),
            action: request.action().expect("action"),
            resource: request.resource().expect("resource"),
            context: request.context().expect("context"),
        };
        let known = memo.as_deref().map(Memo::known).unwrap_or_default();
        let env = quick::Env::new(asked, entities, known);
        prepared.decide(asked, entities, &env, memo)
    }

    fn folded(condition: &str) -> String {
        rule(condition).shown_condition()
    }

    /// The slice of `policies` (id, text) for User principals and Project
    /// resources of `schema`, its chains settled.
    fn settled(schema: &str, policies: &[(&str, &str)]) -> Prepared {
        let (user, project): (ast::EntityType, ast::EntityType) = (
            "User".parse().expect("type"),
            "Project".parse().expect("type"),
        );
        let schema = cedar_policy::Schema::from_cedarschema_str(schema)
            .expect("schema")
            .0;
        let with_rules: Vec<(Policy, Arc<Rule>)> = policies
            .iter()
            .enumerate()
            .map(|(i, (id, text))| {
                let p =
                    Policy::parse(Some(cedar_policy::PolicyId::new(*id)), *text).expect("policy");
                let r = Rule::new(&p, i).for_types(&user, &project, schema.as_ref());
                (p, r)
            })
            .collect();
        let mut parts = Parts::default();
        let mut prepared = Prepared::new(with_rules, &mut parts).expect("slice");
        prepared.settle(&parts);
        prepared
    }

    #[test]
    fn type_tests_are_decided_and_only_safe_connectives_folded() {
        // The scope (`true && true && true && ...`) and a decided type test go.
        assert_eq!(
            folded("resource is Project && principal.n == 1"),
            "principal.n == 1"
        );
        // `false && X` is false: Cedar never evaluates X.
        assert_eq!(folded("resource is Task && principal.n == 1"), "false");
        // `false || X` is X when X is surely a boolean.
        assert_eq!(
            folded("principal is Project || principal.n == 1"),
            "principal.n == 1"
        );
        // An attribute may hold anything: `true && X` keeps Cedar's type check.
        assert_eq!(folded("principal.flag"), "true && principal.flag");
        // `X && false` keeps X: it may raise an error.
        assert_eq!(
            folded("principal.n == 1 && resource is Task"),
            "(principal.n == 1) && false"
        );
        // `X || false` and `X && true` are X when X is surely a boolean...
        assert_eq!(
            folded("principal.n == 1 || resource is Task"),
            "principal.n == 1"
        );
        assert_eq!(
            folded("principal.n == 1 && resource is Project"),
            "principal.n == 1"
        );
        // ... and keep the type check when it is not.
        assert_eq!(
            folded("principal.flag || resource is Task"),
            "principal.flag || false"
        );
    }

    #[test]
    fn attributes_the_schema_does_not_declare_are_absent() {
        // Project declares no `project`: the whole second branch goes.
        assert_eq!(
            folded("(resource has creator && resource.creator == principal) || (resource has project && resource.project.creator == principal)"),
            "(resource has creator) && (resource.creator == principal)"
        );
        // Declared (optional or required) attributes are still asked.
        assert_eq!(folded("principal has n"), "principal has n");
        // Only `principal` and `resource`, whose types the slice knows.
        assert_eq!(folded("context has project"), "context has project");
    }

    #[test]
    fn known_principal_attributes_decide_their_comparisons() {
        let admin = ast::Literal::String("admin".into());
        let equals = |attr: &str, lit: &ast::Literal| (attr == "role").then(|| *lit == admin);
        let known = |condition: &str| rule(condition).knowing(&equals).shown_condition();
        assert_eq!(
            known(r#"principal.role == "admin" && principal.n == 1"#),
            "principal.n == 1"
        );
        assert_eq!(
            known(r#""user" == principal.role && principal.n == 1"#),
            "false"
        );
        // Other attributes, and comparisons that are not with a literal, stay.
        assert_eq!(
            known(r#"principal.flag == true && principal.role == resource.role"#),
            "(principal.flag == true) && (principal.role == resource.role)"
        );
    }

    #[test]
    fn shared_leading_conditions_answer_as_cedar_does_with_and_without_errors() {
        let texts = [
            (
                "a",
                r#"permit(principal, action, resource) when { principal.n == 1 && principal.role == "x" };"#,
            ),
            (
                "b",
                r#"permit(principal, action, resource) when { principal.n == 1 };"#,
            ),
            (
                "c",
                r#"forbid(principal, action, resource) when { !(principal.n == 1) };"#,
            ),
            (
                "d",
                r#"permit(principal, action, resource) when { (principal.n == 1 && principal.role == "y") && principal.n == 1 };"#,
            ),
            (
                "e",
                r#"permit(principal, action, resource) when { principal.role == "x" };"#,
            ),
        ];
        let prepared = settled(
            "entity User { n: Long, role: String }; entity Project; \
             action go appliesTo { principal: User, resource: Project };",
            &texts,
        );
        assert_eq!(
            prepared.parts_len(),
            3,
            "`principal.n == 1` and both role tests are shared"
        );
        let request = Request::new(
            r#"User::"u""#.parse().expect("uid"),
            r#"Action::"go""#.parse().expect("uid"),
            r#"Project::"p""#.parse().expect("uid"),
            cedar_policy::Context::empty(),
            None,
        )
        .expect("request");
        let user_with = |n: i64, role: &str| {
            serde_json::json!([{"uid": {"type": "User", "id": "u"},
                                "attrs": {"n": n, "role": role}, "parents": []}])
        };
        // Satisfied, not satisfied, and an error (no such user) in the lead.
        for data in [
            user_with(1, "x"),
            user_with(1, "y"),
            user_with(2, "x"),
            serde_json::json!([]),
        ] {
            let entities = Entities::from_json_value(data.clone(), None).expect("entities");
            let (allowed, mut reasons, mut errors) =
                answer(&prepared, &request, &EntitySet::of(&entities), None).expect("decided");
            let cedar =
                cedar_policy::Authorizer::new().is_authorized(&request, prepared.set(), &entities);
            let mut cedar_reasons: Vec<String> = cedar
                .diagnostics()
                .reason()
                .map(|p| p.to_string())
                .collect();
            let mut cedar_errors: Vec<String> = cedar
                .diagnostics()
                .errors()
                .map(|e| e.to_string())
                .collect();
            for v in [
                &mut reasons,
                &mut errors,
                &mut cedar_reasons,
                &mut cedar_errors,
            ] {
                v.sort();
            }
            assert_eq!(
                (allowed, reasons, errors),
                (
                    cedar.decision() == cedar_policy::Decision::Allow,
                    cedar_reasons,
                    cedar_errors
                ),
                "{data}"
            );
        }
    }

    #[test]
    fn a_memo_answers_as_fresh_evaluation_across_actions_resources_and_principals() {
        let texts = [
            // A principal part, then a pair part.
            (
                "owner",
                r#"permit(principal, action, resource) when { principal.n == 1 && resource.owner == principal };"#,
            ),
            // The same principal part, then a part of the request's context.
            (
                "context",
                r#"permit(principal, action, resource) when { principal.n == 1 && context.k == 1 };"#,
            ),
            // A pair rule that errors where the owner is missing.
            (
                "owner-n",
                r#"forbid(principal, action, resource) when { resource.owner.n == 2 };"#,
            ),
            // A rule of one action, and a principal rule that errors for a
            // missing principal.
            (
                "action",
                r#"permit(principal, action == Action::"a", resource) when { principal.n == 3 };"#,
            ),
            (
                "both",
                r#"forbid(principal, action, resource) when { principal.n == 4 && resource.owner.n == 1 };"#,
            ),
        ];
        let prepared = settled(
            "entity User { n: Long }; entity Project { owner: User }; \
             action a, b appliesTo { principal: User, resource: Project, context: { k?: Long } };",
            &texts,
        );
        let entities = Entities::from_json_value(
            serde_json::json!([
                {"uid": {"type": "User", "id": "u1"}, "attrs": {"n": 1}, "parents": []},
                {"uid": {"type": "User", "id": "u2"}, "attrs": {"n": 2}, "parents": []},
                {"uid": {"type": "User", "id": "u3"}, "attrs": {"n": 3}, "parents": []},
                {"uid": {"type": "User", "id": "u4"}, "attrs": {"n": 4}, "parents": []},
                {"uid": {"type": "Project", "id": "p1"},
                 "attrs": {"owner": {"__entity": {"type": "User", "id": "u1"}}}, "parents": []},
                {"uid": {"type": "Project", "id": "p2"},
                 "attrs": {"owner": {"__entity": {"type": "User", "id": "u2"}}}, "parents": []},
                {"uid": {"type": "Project", "id": "p3"},
                 "attrs": {"owner": {"__entity": {"type": "User", "id": "gone"}}}, "parents": []}
            ]),
            None,
        )
        .expect("entities");
        let uid = |t: &str, id: &str| -> cedar_policy::EntityUid {
            format!(r#"{t}::"{id}""#).parse().expect("uid")
        };
        // The store's kind of set (its own map; Cedar's built on demand).
        let entities = EntitySet::closed(
            entities
                .as_ref()
                .iter()
                .map(|e| Arc::new(e.clone()))
                .collect(),
        );
        let mut memo = Memo::default();
        let mut decided = 0;
        for principal in ["u1", "u2", "u3", "u4", "gone"] {
            memo.next_principal();
            for (i, resource) in ["p1", "p2", "p3"].into_iter().enumerate() {
                if i > 0 {
                    memo.next_pair();
                }
                for (action, k) in [("a", 1), ("b", 1), ("b", 2), ("a", 2)] {
                    let context =
                        cedar_policy::Context::from_json_value(serde_json::json!({"k": k}), None)
                            .expect("context");
                    let request = Request::new(
                        uid("User", principal),
                        uid("Action", action),
                        uid("Project", resource),
                        context,
                        None,
                    )
                    .expect("request");
                    let fresh = answer(&prepared, &request, &entities, None);
                    assert_eq!(
                        answer(&prepared, &request, &entities, Some(&mut memo)),
                        fresh,
                        "{principal} {action} {resource} k={k}"
                    );
                    decided += usize::from(fresh.is_some_and(|(allowed, _, _)| allowed));
                }
            }
        }
        assert!(decided > 0, "some requests are allowed");
    }
}
