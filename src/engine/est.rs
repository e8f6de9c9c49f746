//! Each policy of a set in Cedar's JSON form (its EST), made once per pack.
//!
//! Cedar makes a parsed policy's JSON by parsing the policy's text again
//! (`Policy::to_json`), and the engine's scope-decided copies, its guards
//! and the pack's reach all read that form: made once here, it is shared by
//! them instead of being parsed three times per policy and reload.

use std::collections::HashMap;

use cedar_policy::{Policy, PolicyId, PolicySet};

/// The JSON form of each policy of a set, or Cedar's reason it has none.
#[derive(Debug, Default)]
pub struct PolicyJson(HashMap<PolicyId, Result<serde_json::Value, String>>);

impl PolicyJson {
    /// The JSON form of every policy of `policies`.
    pub fn of(policies: &PolicySet) -> PolicyJson {
        PolicyJson(
            policies
                .policies()
                .map(|p| (p.id().clone(), p.to_json().map_err(|e| e.to_string())))
                .collect(),
        )
    }

    /// The JSON form of `policy` (made now if the set it came from did not
    /// hold it).
    pub fn get(&self, policy: &Policy) -> Result<std::borrow::Cow<'_, serde_json::Value>, String> {
        match self.0.get(policy.id()) {
            Some(Ok(json)) => Ok(std::borrow::Cow::Borrowed(json)),
            Some(Err(e)) => Err(e.clone()),
            None => policy
                .to_json()
                .map(std::borrow::Cow::Owned)
                .map_err(|e| e.to_string()),
        }
    }
}
