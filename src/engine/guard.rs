//! Finer slices: policies a cheap look at the principal rules out.
//!
//! Many policies open their condition with a test of the principal's own
//! attributes: `when { principal.role == Role::"admin" && ... }`,
//! `when { principal.license == "guest" && ... }`. Cedar evaluates a policy's
//! scope (which cannot error), then its conditions in the order written, and
//! `&&` stops at the first `false`. So when such a *guard* (an equality
//! between a principal attribute and a literal, in the unbroken run of guards
//! that opens the first `when` clause) is false for a principal, the policy
//! is not satisfied and evaluates nothing that could error: leaving it out
//! changes neither the decision, nor the determining policies, nor the errors.
//!
//! A slice with guarded policies is split once, when the engine is built,
//! into one sub-slice per combination of the guarded attributes' values
//! (each literal a guard names, plus "any other value"). A decision reads the
//! principal's attributes and picks its sub-slice; when an attribute is
//! missing (Cedar would raise an error evaluating the guard) it falls back to
//! the whole slice, so every error still shows.

use std::collections::BTreeMap;
use std::sync::Arc;

use cedar_policy::{EntityUid, Policy};
use cedar_policy_core::ast;

use super::rules::{Parts, Prepared, Rule};
use crate::error::Problem;

/// A literal a guard compares a principal attribute with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Literal {
    Entity(EntityUid),
    String(String),
    Long(i64),
    Bool(bool),
}

impl Literal {
    fn from_est(v: &serde_json::Value) -> Option<Literal> {
        match v {
            serde_json::Value::String(s) => Some(Literal::String(s.clone())),
            serde_json::Value::Bool(b) => Some(Literal::Bool(*b)),
            serde_json::Value::Number(n) => n.as_i64().map(Literal::Long),
            serde_json::Value::Object(o) => {
                let e = o.get("__entity")?;
                let uid = EntityUid::from_json(e.clone()).ok()?;
                Some(Literal::Entity(uid))
            }
            _ => None,
        }
    }

    /// Whether an attribute value equals this literal, as Cedar's `==` says
    /// (values of another kind are simply not equal). Read in place: no
    /// copy of the value.
    fn matches(&self, value: &ast::Value) -> bool {
        match &value.value {
            ast::ValueKind::Lit(lit) => self.equals(lit),
            _ => false,
        }
    }

    /// Whether a Cedar literal is this literal.
    fn equals(&self, lit: &ast::Literal) -> bool {
        match (self, lit) {
            (Literal::Entity(a), ast::Literal::EntityUID(b)) => {
                let a: &ast::EntityUID = a.as_ref();
                a == &**b
            }
            (Literal::String(a), ast::Literal::String(b)) => a.as_str() == b.as_str(),
            (Literal::Long(a), ast::Literal::Long(b)) => a == b,
            (Literal::Bool(a), ast::Literal::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// `principal.ATTR == LITERAL` (either side), from a policy's JSON form.
fn guard_of(expr: &serde_json::Value) -> Option<(String, Literal)> {
    let eq = expr.get("==")?;
    let (left, right) = (eq.get("left")?, eq.get("right")?);
    let attr_of = |e: &serde_json::Value| -> Option<String> {
        let dot = e.get(".")?;
        (dot.get("left")?.get("Var")?.as_str()? == "principal")
            .then(|| dot.get("attr")?.as_str().map(str::to_string))
            .flatten()
    };
    let lit_of = |e: &serde_json::Value| Literal::from_est(e.get("Value")?);
    match (attr_of(left), lit_of(right)) {
        (Some(a), Some(l)) => Some((a, l)),
        _ => Some((attr_of(right)?, lit_of(left)?)),
    }
}

/// The conjuncts of an `&&` chain, leftmost first.
fn conjuncts<'a>(expr: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    match expr.get("&&") {
        Some(and) => {
            if let (Some(l), Some(r)) = (and.get("left"), and.get("right")) {
                conjuncts(l, out);
                conjuncts(r, out);
            } else {
                out.push(expr);
            }
        }
        None => out.push(expr),
    }
}

/// The guards of one policy: (principal attribute, literal) pairs.
pub(super) type Guards = Vec<(String, Literal)>;

/// The guards that open `policy`'s first `when` clause (see the module
/// documentation); empty when it has none. Read once per policy.
pub(super) fn guards(json: &serde_json::Value) -> Guards {
    let Some(first) = json
        .get("conditions")
        .and_then(|c| c.as_array())
        .and_then(|c| c.first())
    else {
        return Vec::new();
    };
    if first.get("kind").and_then(|k| k.as_str()) != Some("when") {
        return Vec::new();
    }
    let Some(body) = first.get("body") else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    conjuncts(body, &mut parts);
    parts.into_iter().map_while(guard_of).collect()
}

/// Most sub-slices one slice is split into; past it the slice stays whole.
const MAX_SUB_SLICES: usize = 256;

/// A slice split by the values of the principal attributes its policies
/// guard on.
#[derive(Debug)]
pub(super) struct Split {
    /// Each guarded attribute with the literals guards compare it with.
    attrs: Vec<(String, Vec<Literal>)>,
    /// Sub-slices in mixed-radix order of the attributes' value indexes
    /// (index `literals.len()` = any other value).
    subs: Vec<Prepared>,
}

impl Split {
    /// Splits `policies` (a slice), each with its [`guards`], or `None` when
    /// no policy has a guard or the split would be too large.
    pub(super) fn new(
        policies: &[(Policy, Arc<Rule>)],
        guarded: &[&Guards],
        parts: &mut Parts,
    ) -> Result<Option<Split>, Problem> {
        let mut attrs: BTreeMap<String, Vec<Literal>> = BTreeMap::new();
        for (attr, lit) in guarded.iter().copied().flatten() {
            let lits = attrs.entry(attr.clone()).or_default();
            if !lits.contains(lit) {
                lits.push(lit.clone());
            }
        }
        if attrs.is_empty() {
            return Ok(None);
        }
        let attrs: Vec<(String, Vec<Literal>)> = attrs.into_iter().collect();
        let combos = attrs
            .iter()
            .try_fold(1usize, |n, (_, l)| n.checked_mul(l.len() + 1));
        let Some(combos) = combos.filter(|n| *n <= MAX_SUB_SLICES) else {
            return Ok(None);
        };
        let mut subs = Vec::with_capacity(combos);
        for combo in 0..combos {
            // The value index of each attribute in this combination.
            let mut rest = combo;
            let picks: Vec<Option<&Literal>> = attrs
                .iter()
                .map(|(_, lits)| {
                    let i = rest % (lits.len() + 1);
                    rest /= lits.len() + 1;
                    lits.get(i)
                })
                .collect();
            // Every principal of this sub-slice has each guarded attribute
            // equal to its pick, or (for "any other value") to none of the
            // literals: comparisons with those literals are decided.
            let equals = |attr: &str, lit: &ast::Literal| -> Option<bool> {
                let i = attrs.iter().position(|(a, _)| a == attr)?;
                match picks[i] {
                    Some(pick) => Some(pick.equals(lit)),
                    None => attrs[i].1.iter().any(|l| l.equals(lit)).then_some(false),
                }
            };
            let mut set = Vec::new();
            for ((policy, rule), gs) in policies.iter().zip(guarded) {
                let kept = gs.iter().all(|(attr, lit)| {
                    attrs
                        .iter()
                        .position(|(a, _)| a == attr)
                        .is_some_and(|i| picks[i] == Some(lit))
                });
                if kept {
                    set.push((policy.clone(), rule.knowing(&equals)));
                }
            }
            subs.push(Prepared::new(set, parts)?);
        }
        Ok(Some(Split { attrs, subs }))
    }

    /// Plans each sub-slice's chains (see [`Prepared::settle`]).
    pub(super) fn settle(&mut self, parts: &Parts) {
        self.subs.iter_mut().for_each(|s| s.settle(parts));
    }

    /// The number of the sub-slice for the principal `principal` is the
    /// entity of (see [`Split::sub`]), or `None` when there is none or one
    /// of its guarded attributes cannot be read (the whole slice then
    /// decides).
    pub(super) fn index(&self, principal: Option<&ast::Entity>) -> Option<usize> {
        let entity = principal?;
        let mut index = 0usize;
        let mut radix = 1usize;
        for (attr, lits) in &self.attrs {
            let ast::PartialValue::Value(value) = entity.get(attr)? else {
                return None;
            };
            let i = lits
                .iter()
                .position(|l| l.matches(value))
                .unwrap_or(lits.len());
            index += i * radix;
            radix *= lits.len() + 1;
        }
        Some(index)
    }

    /// Sub-slice number `index`.
    pub(super) fn sub(&self, index: usize) -> Option<&Prepared> {
        self.subs.get(index)
    }

    /// The largest sub-slice's size (for reports).
    #[cfg(test)]
    pub(super) fn largest(&self) -> usize {
        self.subs.iter().map(Prepared::len).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        named("p", text)
    }

    fn named(id: &str, text: &str) -> Policy {
        Policy::parse(Some(cedar_policy::PolicyId::new(id)), text).expect("policy")
    }

    /// The split of a slice of `policies`, each with its guards and rule.
    fn split_of(policies: &[Policy]) -> Split {
        let gs: Vec<Guards> = policies
            .iter()
            .map(|p| guards(&p.to_json().expect("json")))
            .collect();
        let refs: Vec<&Guards> = gs.iter().collect();
        let with_rules: Vec<(Policy, Arc<Rule>)> = policies
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), Rule::new(p, i)))
            .collect();
        let mut parts = Parts::default();
        let mut split = Split::new(&with_rules, &refs, &mut parts)
            .expect("split")
            .expect("guarded");
        split.settle(&parts);
        split
    }

    #[test]
    fn guards_are_the_opening_run_of_principal_equalities() {
        let p = policy(
            r#"permit(principal, action, resource) when { principal.role == Role::"admin" && "guest" == principal.license && resource.x == principal.role && principal.license == "full" };"#,
        );
        let g = guards(&p.to_json().expect("json"));
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].0, "role");
        assert_eq!(
            g[1],
            ("license".to_string(), Literal::String("guest".into()))
        );
    }

    #[test]
    fn no_guard_after_a_conjunct_that_may_error_or_in_unless_or_or() {
        for text in [
            r#"permit(principal, action, resource) when { resource.x && principal.license == "guest" };"#,
            r#"permit(principal, action, resource) unless { principal.license == "guest" };"#,
            r#"permit(principal, action, resource) when { principal.license == "guest" || resource.x };"#,
            r#"permit(principal, action, resource) when { principal.manager.license == "guest" };"#,
            r#"permit(principal, action, resource) when { resource.license == "guest" };"#,
        ] {
            assert!(
                guards(&policy(text).to_json().expect("json")).is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn a_split_keeps_unguarded_policies_everywhere_and_guarded_ones_where_they_hold() {
        let ps = [
            named(
                "a",
                r#"permit(principal, action, resource) when { principal.license == "guest" };"#,
            ),
            named(
                "b",
                r#"permit(principal, action, resource) when { principal.license == "full" };"#,
            ),
            named("c", r#"permit(principal, action, resource);"#),
        ];
        let split = split_of(&ps);
        // guest, full, other
        let ids = |i: usize| -> Vec<String> {
            let mut v: Vec<String> = split.subs[i]
                .set()
                .policies()
                .map(|p| p.id().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids(0), ["a", "c"]);
        assert_eq!(ids(1), ["b", "c"]);
        assert_eq!(ids(2), ["c"]);
        assert_eq!(split.largest(), 2);
    }

    #[test]
    fn each_sub_slice_decides_the_comparisons_its_pick_settles() {
        let ps = [
            named(
                "a",
                r#"permit(principal, action, resource) when { principal.license == "guest" && principal.n > 1 };"#,
            ),
            named(
                "b",
                r#"permit(principal, action, resource) when { principal.license == "full" };"#,
            ),
            // No guard (a disjunction): kept everywhere, its comparisons
            // decided where the pick settles them.
            named(
                "d",
                r#"permit(principal, action, resource) when { principal.license == "guest" || principal.license == "trial" };"#,
            ),
        ];
        let split = split_of(&ps);
        let scope = "true && (true && (true && ";
        let conditions = |i: usize| -> Vec<String> {
            split.subs[i]
                .conditions()
                .into_iter()
                .map(|c| c.replace(scope, "").replace(")))", ""))
                .collect()
        };
        // guest: `a` reduced to its rest, `d` satisfied.
        assert_eq!(conditions(0), ["!(principal.n <= 1)", "true"]);
        // full: `b` satisfied, `d` false (a full licence is neither).
        assert_eq!(conditions(1), ["true", "false"]);
        // Any other value: not guest, but perhaps trial.
        assert_eq!(conditions(2), [r#"principal.license == "trial""#]);
    }
}
