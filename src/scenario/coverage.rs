//! Coverage of a scenario run: which policies determined a decision, which
//! never did, which actions no scenario asks about, which rule ids no
//! scenario names.

use std::collections::BTreeSet;

use serde::Serialize;

use super::outcome::FileReport;
use crate::Snapshot;

/// What a run exercised.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Coverage {
    /// Policies that determined at least one decision.
    pub determined: BTreeSet<String>,
    /// Policies that never did.
    pub never_determined: BTreeSet<String>,
    /// Requestable actions no request asked about.
    pub actions_not_exercised: BTreeSet<String>,
    /// Rule ids named by some scenario.
    pub rules_named: BTreeSet<String>,
}

impl Coverage {
    /// Computes coverage of `reports` over the snapshot's policies and actions.
    pub fn of(reports: &[FileReport], snap: &Snapshot) -> Coverage {
        let mut determined = BTreeSet::new();
        let mut actions = BTreeSet::new();
        let mut rules_named = BTreeSet::new();
        for s in reports.iter().flat_map(|f| &f.scenarios) {
            rules_named.extend(s.rules.iter().cloned());
            for o in &s.outcomes {
                determined.extend(o.decision.reasons().iter().cloned());
                actions.insert(o.action.clone());
            }
        }
        let never_determined = snap
            .policies()
            .map(|p| p.id().to_string())
            .filter(|id| !determined.contains(id))
            .collect();
        let actions_not_exercised = snap
            .actions()
            .into_iter()
            .map(|a| a.id().unescaped().to_string())
            .filter(|a| !actions.contains(a))
            .collect();
        Coverage {
            determined,
            never_determined,
            actions_not_exercised,
            rules_named,
        }
    }

    /// True when every policy determined a decision and every action was asked.
    pub fn complete(&self) -> bool {
        self.never_determined.is_empty() && self.actions_not_exercised.is_empty()
    }

    /// As a reviewer reads it.
    pub fn render(&self, snap: &Snapshot) -> String {
        let total = snap.policy_count();
        let mut out = format!(
            "coverage: {} of {} policies determined a decision; {} of {} actions exercised\n",
            self.determined
                .iter()
                .filter(|d| snap.policy(d).is_some())
                .count(),
            total,
            snap.actions().len() - self.actions_not_exercised.len(),
            snap.actions().len()
        );
        for id in &self.never_determined {
            let at = snap.policy(id).map(|i| i.location()).unwrap_or_default();
            out.push_str(&format!("  never determined: {id}  {at}\n"));
        }
        for a in &self.actions_not_exercised {
            out.push_str(&format!("  action not exercised: {a}\n"));
        }
        out
    }
}
