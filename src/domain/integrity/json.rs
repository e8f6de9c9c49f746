//! Entity references inside entity JSON: `{"__entity": {"type", "id"}}` or
//! the bare `{"type", "id"}` form.

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
    let obj = v.as_object()?;
    let inner = match obj.get("__entity") {
        Some(e) => e.as_object()?,
        None if obj.len() == 2 && obj.contains_key("type") && obj.contains_key("id") => obj,
        None => return None,
    };
    Some((
        inner.get("type")?.as_str()?.to_string(),
        inner.get("id")?.as_str()?.to_string(),
    ))
}

/// Every entity reference below `v`, with its JSON path (starting at `path`).
pub fn refs_in(v: &Value, path: String, out: &mut Vec<(String, Uid)>) {
    let mut path = path;
    walk_refs(v, &mut path, &mut |p, uid| out.push((p.to_string(), uid)));
}

/// Calls `f` with the JSON path and uid of every entity reference below `v`;
/// `path` is extended in place and restored, so no path is built unless `f`
/// keeps it.
pub fn walk_refs(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, Uid)) {
    if let Some(r) = as_ref(v) {
        f(path, r);
        return;
    }
    let len = path.len();
    match v {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                walk_refs(x, path, f);
                path.truncate(len);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                path.push('.');
                path.push_str(k);
                walk_refs(x, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The ids of the references in an array attribute (e.g. `memberOf`).
pub fn ref_ids(v: Option<&Value>) -> std::collections::BTreeSet<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(as_ref).map(|(_, id)| id).collect(),
        _ => Default::default(),
    }
}
