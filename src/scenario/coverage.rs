//! Coverage of a scenario run: which policies determined a decision, which
//! never did, which actions no scenario asks about, which rule ids no
//! scenario names.

use std::collections::BTreeSet;

use serde::Serialize;

use super::run::FileReport;
use crate::PolicyPack;

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
    /// Computes coverage of `reports` over `pack`.
    pub fn of(reports: &[FileReport], pack: &PolicyPack) -> Coverage {
        let mut determined = BTreeSet::new();
        let mut actions = BTreeSet::new();
        let mut rules_named = BTreeSet::new();
        for s in reports.iter().flat_map(|f| &f.scenarios) {
            rules_named.extend(s.rules.iter().cloned());
            for o in &s.outcomes {
                determined.extend(o.decision.reasons.iter().cloned());
                actions.insert(o.action.clone());
            }
        }
        let never_determined = pack
            .index
            .keys()
            .filter(|id| !determined.contains(*id))
            .cloned()
            .collect();
        let actions_not_exercised = pack
            .engine
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
    pub fn render(&self, pack: &PolicyPack) -> String {
        let total = pack.index.len();
        let mut out = format!(
            "coverage: {} of {} policies determined a decision; {} of {} actions exercised\n",
            self.determined
                .iter()
                .filter(|d| pack.index.contains_key(*d))
                .count(),
            total,
            pack.engine.actions().len() - self.actions_not_exercised.len(),
            pack.engine.actions().len()
        );
        for id in &self.never_determined {
            let at = pack.info(id).map(|i| i.location()).unwrap_or_default();
            out.push_str(&format!("  never determined: {id}  {at}\n"));
        }
        for a in &self.actions_not_exercised {
            out.push_str(&format!("  action not exercised: {a}\n"));
        }
        out
    }
}
