//! Context that teamgate derives before Cedar sees a request, because Cedar
//! has no string functions: for `inviteExternal`, `inviteeDomain` is taken
//! from `inviteeEmail`, replacing whatever the caller sent under that key.

use serde_json::Value;

use super::{actions, types};
use crate::error::RequestError;
use crate::query::Query;

/// The query as Cedar sees it: `null` context is `{}`, derived keys filled.
pub fn prepare(query: &Query) -> Result<Query, RequestError> {
    let mut ctx = match query.context() {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m.clone(),
        other => {
            return Err(RequestError::BadContext {
                message: format!(
                    "context must be a JSON object, not {}",
                    crate::engine::json_kind(other)
                ),
            })
        }
    };
    let action = query.action();
    if action.id().unescaped() == actions::INVITE_EXTERNAL
        && action.type_name().to_string() == types::ACTION
    {
        ctx.remove("inviteeDomain");
        if let Some(Value::String(email)) = ctx.get("inviteeEmail") {
            if let Some(domain) = email_domain(email) {
                ctx.insert("inviteeDomain".into(), domain.into());
            }
        }
    }
    Ok(query.clone().with_context(Value::Object(ctx)))
}

/// The lower-case domain of an e-mail address, if it has a local part and a domain.
fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then(|| domain.to_ascii_lowercase())
}
