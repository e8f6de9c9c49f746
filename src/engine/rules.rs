//! A policy slice made ready for Cedar's evaluator once, when the engine is
//! built, instead of on every request.
//!
//! Cedar's authorizer asks each policy for its condition on every request:
//! `Policy::condition` clones the policy's whole expression tree and joins it
//! with the scope constraints, and the copy is dropped after one evaluation.
//! That rebuild was a fifth of a decision. A [`Prepared`] slice keeps each
//! policy's condition, built by the same `Policy::condition`, and puts it to
//! the same evaluator (`Evaluator::partial_interpret` with the policy's slot
//! values) that `Authorizer::is_authorized` uses; the results are combined by
//! Cedar's rules (a satisfied forbid denies; otherwise a satisfied permit
//! allows; the determining policies are the satisfied forbids when there are
//! any, else the satisfied permits; an erroring policy is skipped and its
//! error reported with Cedar's message). Anything the authorizer would treat
//! differently -- a residual, a non-boolean result -- makes
//! [`Prepared::decide`] return `None`, and the engine asks Cedar's authorizer
//! instead. tests/differential.rs compares every answer with Cedar's
//! whole-set evaluation.

use std::sync::Arc;

use cedar_policy::{Entities, Policy, PolicySet, Request};
use cedar_policy_core::ast;
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;

use crate::error::Problem;

/// One policy's condition, built once.
#[derive(Debug)]
pub(super) struct Rule {
    id: ast::PolicyID,
    permit: bool,
    condition: ast::Expr,
    slots: ast::SlotEnv,
}

impl Rule {
    /// The rule of `policy` (the scope-decided copy the slices hold).
    pub(super) fn new(policy: &Policy) -> Arc<Rule> {
        let core: &ast::Policy = policy.as_ref();
        Arc::new(Rule {
            id: core.id().clone(),
            permit: core.effect() == ast::Effect::Permit,
            condition: core.condition(),
            slots: core.env().clone(),
        })
    }
}

/// What Cedar's authorizer would answer, before teamgate's fail-closed
/// override: (Cedar allows, determining policies, error messages).
pub(super) type Answer = (bool, Vec<String>, Vec<String>);

/// A policy set with its rules, in the same order.
#[derive(Debug)]
pub(super) struct Prepared {
    /// The policies, for Cedar's authorizer and for reports.
    pub(super) set: PolicySet,
    rules: Vec<Arc<Rule>>,
}

impl Prepared {
    /// The set of `policies`, each with its rule.
    pub(super) fn new(policies: Vec<(Policy, Arc<Rule>)>) -> Result<Prepared, Problem> {
        let mut set = PolicySet::new();
        let mut rules = Vec::with_capacity(policies.len());
        for (policy, rule) in policies {
            set.add(policy)
                .map_err(|e| Problem::new(format!("building policy slice: {e}")))?;
            rules.push(rule);
        }
        Ok(Prepared { set, rules })
    }

    /// Number of policies.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }

    /// Evaluates every rule as Cedar's authorizer would; `None` when a rule
    /// gives something the authorizer handles otherwise (a residual or a
    /// non-boolean value), so that the caller asks the authorizer itself.
    pub(super) fn decide(&self, request: &Request, entities: &Entities) -> Option<Answer> {
        let core: &ast::Request = request.as_ref();
        let eval = Evaluator::new(core.clone(), entities.as_ref(), Extensions::all_available());
        let (mut permits, mut forbids, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for rule in &self.rules {
            match eval.partial_interpret(&rule.condition, &rule.slots) {
                Ok(ast::PartialValue::Value(ast::Value {
                    value: ast::ValueKind::Lit(ast::Literal::Bool(satisfied)),
                    ..
                })) => {
                    if satisfied {
                        if rule.permit {
                            permits.push(&rule.id);
                        } else {
                            forbids.push(&rule.id);
                        }
                    }
                }
                Ok(_) => return None,
                // The message of Cedar's `AuthorizationError::PolicyEvaluationError`.
                Err(e) => errors.push(format!("error while evaluating policy `{}`: {e}", rule.id)),
            }
        }
        let allowed = !permits.is_empty() && forbids.is_empty();
        let determining = if forbids.is_empty() { permits } else { forbids };
        Some((
            allowed,
            determining.into_iter().map(ToString::to_string).collect(),
            errors,
        ))
    }
}
