//! Entity references inside JSON (request contexts, entity JSON before it is
//! typed): `{"__entity": {"type", "id"}}` or the bare `{"type", "id"}` form.

use serde_json::Value;

/// An entity's `(type, id)`.
pub type Uid = (String, String);

/// The uid of an entity JSON object.
pub fn uid_of(v: &Value) -> Option<Uid> {
    let u = v.get("uid")?;
    as_ref(u).or_else(|| {
        Some((
            u.get("type")?.as_str()?.to_string(),
            u.get("id")?.as_str()?.to_string(),
        ))
    })
}

/// An entity reference written as `{"__entity": {...}}` or `{"type", "id"}`.
pub fn as_ref(v: &Value) -> Option<Uid> {
    ref_parts(v).map(|(t, id)| (t.to_string(), id.to_string()))
}

/// The (type, id) of an entity reference written as `{"__entity": {...}}`
/// or `{"type", "id"}`, borrowed.
pub fn ref_parts(v: &Value) -> Option<(&str, &str)> {
    let obj = v.as_object()?;
    let inner = match obj.get("__entity") {
        Some(e) => e.as_object()?,
        None if obj.len() == 2 => obj,
        None => return None,
    };
    Some((inner.get("type")?.as_str()?, inner.get("id")?.as_str()?))
}
