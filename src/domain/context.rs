//! Context that teamgate derives or checks before Cedar sees a request,
//! because Cedar has no string functions and no ranges:
//! - `inviteExternal`: `inviteeDomain` (the normalised domain of
//!   `inviteeEmail`) and `inviteeDomains` (it and its parent domains) are
//!   derived, replacing whatever the caller sent under those keys; when the
//!   caller names no `invitee`, the address is looked up among the users of
//!   the entity data, so only an address unknown to the data is a new person
//!   (CX12); a caller-sent `invitee` whose address differs is refused.
//! - `newGuests` (GS7) must be a count: 0 to [`MAX_NEW_GUESTS`].

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::email::Address;
use super::integrity::json::as_ref;
use super::{actions, types};
use crate::error::RequestError;
use crate::query::Query;

/// Largest `newGuests` a request may carry.
pub const MAX_NEW_GUESTS: i64 = 1_000_000;

/// Who has which e-mail address, as the entity data says.
pub trait Directory {
    /// The id of the user with this (normalised) address.
    fn user_by_address(&self, address: &str) -> Option<&str>;
    /// The normalised address of a user.
    fn address_of(&self, user_id: &str) -> Option<&str>;
}

/// The query as Cedar sees it: derived keys filled (only those among
/// `declared`, the context keys the schema declares for the action, when
/// known), checked keys in range. A `null` context stays `null` (the engine
/// reads it as `{}`) except for `inviteExternal`, whose derived keys make
/// it an object.
pub fn prepare(
    query: &Query,
    directory: &dyn Directory,
    declared: Option<&BTreeSet<String>>,
) -> Result<Query, RequestError> {
    prepare_cow(query, directory, declared).map(Cow::into_owned)
}

/// [`prepare`], without a copy of the query when there is nothing to derive
/// (any action but `inviteExternal`).
pub fn prepare_cow<'q>(
    query: &'q Query,
    directory: &dyn Directory,
    declared: Option<&BTreeSet<String>>,
) -> Result<Cow<'q, Query>, RequestError> {
    prepare_with(query, directory, || declared)
}

/// [`prepare_cow`], asking for the declared keys only when there is
/// something to derive (a lookup by action saved on every other request).
pub(crate) fn prepare_with<'q, 'k>(
    query: &'q Query,
    directory: &dyn Directory,
    declared: impl FnOnce() -> Option<&'k BTreeSet<String>>,
) -> Result<Cow<'q, Query>, RequestError> {
    let given = match query.context() {
        Value::Null => None,
        Value::Object(m) => {
            check_new_guests(m)?;
            Some(m)
        }
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
    if !is_invite_external(action) {
        return Ok(Cow::Borrowed(query));
    }
    let mut ctx = given.cloned().unwrap_or_default();
    derive_invitee(&mut ctx, directory)?;
    if let Some(keys) = declared() {
        for derived in ["inviteeDomain", "inviteeDomains", "invitee"] {
            if !keys.contains(derived) {
                ctx.remove(derived);
            }
        }
    }
    Ok(Cow::Owned(query.clone().with_context(Value::Object(ctx))))
}

fn is_invite_external(action: &cedar_policy::EntityUid) -> bool {
    action.id().unescaped() == actions::INVITE_EXTERNAL
        && action.type_name().to_string() == types::ACTION
}

fn check_new_guests(ctx: &serde_json::Map<String, Value>) -> Result<(), RequestError> {
    match ctx.get("newGuests") {
        Some(Value::Number(n))
            if n.as_i64()
                .is_some_and(|n| (0..=MAX_NEW_GUESTS).contains(&n)) =>
        {
            Ok(())
        }
        Some(Value::Number(n)) => Err(RequestError::BadContext {
            message: format!(
                "context.newGuests is {n}: a number of guest e-mails, from 0 to {MAX_NEW_GUESTS}"
            ),
        }),
        // Other types are the schema's to refuse.
        _ => Ok(()),
    }
}

fn derive_invitee(
    ctx: &mut serde_json::Map<String, Value>,
    directory: &dyn Directory,
) -> Result<(), RequestError> {
    ctx.remove("inviteeDomain");
    ctx.remove("inviteeDomains");
    let Some(address) = ctx
        .get("inviteeEmail")
        .and_then(Value::as_str)
        .and_then(Address::parse)
    else {
        // No usable address: the policies deny without a domain (CX2).
        return Ok(());
    };
    ctx.insert("inviteeDomain".into(), address.domain.clone().into());
    ctx.insert("inviteeDomains".into(), json!(address.domains()));
    let normal = address.to_string();
    match ctx.get("invitee").and_then(as_ref) {
        None if ctx.contains_key("invitee") => {}
        None => {
            if let Some(id) = directory.user_by_address(&normal) {
                ctx.insert(
                    "invitee".into(),
                    json!({"__entity": {"type": types::USER, "id": id}}),
                );
            }
        }
        Some((ty, id)) if ty == types::USER => {
            if let Some(known) = directory.address_of(&id) {
                if known != normal {
                    return Err(RequestError::BadContext {
                        message: format!(
                            "context.invitee User::{id:?} has the address {known}, not {normal} (inviteeEmail)"
                        ),
                    });
                }
            }
        }
        Some(_) => {}
    }
    Ok(())
}
