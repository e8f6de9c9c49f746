//! Attribute values as teamgate stores them: small, and turned into Cedar's
//! values only for the few entities a request reaches.

use cedar_policy_core::ast::{EntityUID, Name, Value};
use smol_str::SmolStr;

/// An entity reference: an index into the store's type table and the id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    /// Index of the entity type in [`super::EntityStore`]'s type table.
    pub ty: u16,
    /// The entity id.
    pub id: SmolStr,
}

/// One attribute or tag value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit integer.
    Long(i64),
    /// A string.
    Str(SmolStr),
    /// A reference to another entity.
    Entity(Key),
    /// A set (duplicates removed by Cedar when converted).
    Set(Box<[Val]>),
    /// A record: attribute name index and value, sorted by name.
    Record(Box<[(u16, Val)]>),
}

/// What converting needs: the type table and the attribute name table.
pub(crate) trait Names {
    /// The Cedar entity type of a type index.
    fn entity_type(&self, ty: u16) -> &cedar_policy_core::ast::EntityType;
    /// The attribute name of a name index.
    fn attr_name(&self, index: u16) -> &SmolStr;
}

impl Key {
    /// Cedar's uid for this key.
    pub fn to_uid(&self, names: &dyn Names) -> EntityUID {
        EntityUID::from_components(
            names.entity_type(self.ty).clone(),
            cedar_policy_core::ast::Eid::new(self.id.clone()),
            None,
        )
    }
}

impl Val {
    /// Cedar's value.
    pub fn to_value(&self, names: &dyn Names) -> Value {
        match self {
            Val::Bool(b) => Value::from(*b),
            Val::Long(n) => Value::from(*n),
            Val::Str(s) => Value::from(s.clone()),
            Val::Entity(k) => Value::from(k.to_uid(names)),
            Val::Set(items) => Value::set(items.iter().map(|v| v.to_value(names)), None),
            Val::Record(fields) => Value::record(
                fields
                    .iter()
                    .map(|(k, v)| (names.attr_name(*k).clone(), v.to_value(names))),
                None,
            ),
        }
    }

    /// The value as Cedar entity JSON.
    pub fn to_json(&self, names: &dyn Names) -> serde_json::Value {
        use serde_json::json;
        match self {
            Val::Bool(b) => json!(b),
            Val::Long(n) => json!(n),
            Val::Str(s) => json!(s.as_str()),
            Val::Entity(k) => json!({"__entity": {
                "type": names.entity_type(k.ty).to_string(),
                "id": k.id.as_str()
            }}),
            Val::Set(items) => {
                serde_json::Value::Array(items.iter().map(|v| v.to_json(names)).collect())
            }
            Val::Record(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (names.attr_name(*k).to_string(), v.to_json(names)))
                    .collect(),
            ),
        }
    }

    /// The entity keys this value names directly (not inside sets: Cedar
    /// cannot reach into a set's elements, only test membership).
    pub fn direct_refs<'a>(&'a self, out: &mut Vec<&'a Key>) {
        match self {
            Val::Entity(k) => out.push(k),
            Val::Record(fields) => {
                for (_, v) in fields.iter() {
                    v.direct_refs(out);
                }
            }
            _ => {}
        }
    }
}

impl Val {
    /// Whether any entity key this value names (inside sets and records
    /// too) satisfies `f`.
    pub fn any_ref(&self, f: &impl Fn(&Key) -> bool) -> bool {
        match self {
            Val::Entity(k) => f(k),
            Val::Record(fields) => fields.iter().any(|(_, v)| v.any_ref(f)),
            Val::Set(items) => items.iter().any(|v| v.any_ref(f)),
            _ => false,
        }
    }
}

/// Cedar's name of an entity type, parsed once per type (without the source
/// location the parser attaches, which every uid made from it would count).
pub(crate) fn type_name(name: &str) -> Option<cedar_policy_core::ast::EntityType> {
    name.parse::<Name>()
        .ok()
        .map(|n| cedar_policy_core::ast::EntityType::from(n).with_loc(None))
}
