//! Contexts read by the type their action declares, and checked while read.
//!
//! Cedar checks a context against the schema by cloning it twice (into a
//! partial value for the entity check, into a restricted expression for the
//! type check) and looking the action up again: about 13,000 instructions
//! for a context of two attributes, more than deciding the request. The
//! context types of a pack are closed records of strings, longs, booleans,
//! entity references, sets and records. A [`Declared`] holds such a type,
//! made once from the schema, and reads a context's JSON into Cedar's
//! values by it: what it reads conforms, and holds exactly the values Cedar's
//! schema-directed reading gives (this module's tests and the engine's
//! compare them over every request of the demo universe and generated
//! workspaces). Anything else -- an undeclared or missing attribute, a
//! value of another kind, an entity reference written any other way, a
//! type it does not know (extension types, enumerated entity types) -- is
//! not read here ([`Declared::read`] gives `None`), and the engine reads
//! the context Cedar's way, which also gives the error message.

use std::collections::BTreeMap;
use std::sync::Arc;

use cedar_policy::Context;
use cedar_policy_core::ast;
use cedar_policy_core::validator::types::{Attributes, EntityKind, OpenTag, Type};
use cedar_policy_core::validator::{ValidatorEntityTypeKind, ValidatorSchema};
use smol_str::SmolStr;

use crate::domain::integrity::json::ref_parts;

/// A context type the engine reads itself: a closed record.
#[derive(Debug)]
pub(super) struct Declared {
    attrs: Vec<Attr>,
    /// How many of `attrs` are required.
    required: usize,
}

/// One declared attribute of a record.
#[derive(Debug)]
struct Attr {
    name: SmolStr,
    required: bool,
    kind: Kind,
}

/// The declared type of a value.
#[derive(Debug)]
enum Kind {
    Bool,
    Long,
    String,
    /// A reference to an entity of this type (named as JSON names it).
    Entity(ast::EntityType, String),
    Set(Box<Kind>),
    Record(Declared),
}

impl Declared {
    /// The context type of `action`, when the engine can read it.
    pub(super) fn of(schema: &ValidatorSchema, action: &ast::EntityUID) -> Option<Arc<Declared>> {
        match schema.context_type(action)? {
            Type::Record {
                attrs,
                open_attributes: OpenTag::ClosedAttributes,
            } => Declared::record(schema, attrs).map(Arc::new),
            _ => None,
        }
    }

    fn record(schema: &ValidatorSchema, attrs: &Attributes) -> Option<Declared> {
        let attrs = attrs
            .iter()
            .map(|(name, ty)| {
                Some(Attr {
                    name: name.clone(),
                    required: ty.is_required(),
                    kind: Kind::of(schema, &ty.attr_type)?,
                })
            })
            .collect::<Option<Vec<Attr>>>()?;
        let required = attrs.iter().filter(|a| a.required).count();
        Some(Declared { attrs, required })
    }

    /// The context `json` holds, when it conforms to this type in a form
    /// the engine reads; `None` when Cedar should read it.
    pub(super) fn read(
        &self,
        json: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Context> {
        let values = self.values(json)?;
        Some(Context::from(ast::Context::Value(Arc::new(values))))
    }

    fn values(
        &self,
        json: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<BTreeMap<SmolStr, ast::Value>> {
        let mut required = 0;
        let mut values = BTreeMap::new();
        for (key, value) in json {
            let attr = self.attrs.iter().find(|a| a.name == key.as_str())?;
            required += usize::from(attr.required);
            values.insert(attr.name.clone(), attr.kind.read(value)?);
        }
        (required == self.required).then_some(values)
    }
}

impl Kind {
    fn of(schema: &ValidatorSchema, ty: &Type) -> Option<Kind> {
        Some(match ty {
            Type::Bool(cedar_policy_core::validator::types::BoolType::AnyBool) => Kind::Bool,
            Type::Long => Kind::Long,
            Type::String => Kind::String,
            Type::Entity(EntityKind::Entity(lub)) => {
                let ty = lub.get_single_entity()?;
                // Enumerated entities (whose ids the schema lists) and
                // actions (which it declares) are checked by Cedar.
                let declared = schema.get_entity_type(ty)?;
                if ty.is_action() || !matches!(declared.kind, ValidatorEntityTypeKind::Standard(_))
                {
                    return None;
                }
                Kind::Entity(ty.clone(), ty.to_string())
            }
            Type::Set {
                element_type: Some(element),
            } => Kind::Set(Box::new(Kind::of(schema, element)?)),
            Type::Record {
                attrs,
                open_attributes: OpenTag::ClosedAttributes,
            } => Kind::Record(Declared::record(schema, attrs)?),
            _ => return None,
        })
    }

    /// The value `json` holds, when it has this kind.
    fn read(&self, json: &serde_json::Value) -> Option<ast::Value> {
        use serde_json::Value;
        let literal = |l: ast::Literal| Some(ast::Value::new(l, None));
        match (self, json) {
            (Kind::Bool, Value::Bool(b)) => literal(ast::Literal::Bool(*b)),
            (Kind::Long, Value::Number(n)) => literal(ast::Literal::Long(n.as_i64()?)),
            (Kind::String, Value::String(s)) => literal(ast::Literal::String(s.as_str().into())),
            (Kind::Entity(ty, name), Value::Object(_)) => {
                let (t, id) = entity_parts(json)?;
                (t == name).then(|| {
                    let uid = ast::EntityUID::from_components(ty.clone(), ast::Eid::new(id), None);
                    ast::Value::new(ast::Literal::EntityUID(Arc::new(uid)), None)
                })
            }
            (Kind::Set(element), Value::Array(items)) => Some(ast::Value::set(
                items
                    .iter()
                    .map(|i| element.read(i))
                    .collect::<Option<Vec<_>>>()?,
                None,
            )),
            (Kind::Record(record), Value::Object(m)) if !m.contains_key("__entity") => {
                Some(ast::Value::record_arc(Arc::new(record.values(m)?), None))
            }
            _ => None,
        }
    }
}

/// The (type, id) of `{"__entity": {"type": T, "id": I}}` or
/// `{"type": T, "id": I}` with no other key at either level (the forms
/// both of the engine's own readings take for a reference).
pub(super) fn entity_parts(v: &serde_json::Value) -> Option<(&str, &str)> {
    let m = v.as_object()?;
    let inner = match m.get("__entity") {
        Some(e) if m.len() == 1 => e.as_object()?,
        Some(_) => return None,
        None => m,
    };
    (inner.len() == 2).then(|| ref_parts(v)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::{EntityUid, Schema};
    use std::str::FromStr;

    const SCHEMA: &str = r#"
        entity User { n: Long };
        entity Team;
        entity Color enum ["red", "blue"];
        type Acting = { on?: Team, level: Long };
        action plain appliesTo { principal: User, resource: Team,
            context: { s: String, n?: Long, b?: Bool, who?: User,
                       tags?: Set<String>, teams?: Set<Team>,
                       acting?: Acting, nested?: { deep: { x?: Long } } } };
        action colored appliesTo { principal: User, resource: Team,
            context: { c?: Color } };
        action addressed appliesTo { principal: User, resource: Team,
            context: { ip?: ipaddr } };
        action nothing appliesTo { principal: User, resource: Team, context: {} };
    "#;

    /// Cedar's schema-directed reading and check of `json` for `action`.
    fn cedar(schema: &Schema, action: &EntityUid, json: &serde_json::Value) -> Option<Context> {
        let c = Context::from_json_value(json.clone(), Some((schema, action))).ok()?;
        c.validate(schema, action).ok()?;
        Some(c)
    }

    /// Every context read here is the one Cedar reads and accepts; what
    /// Cedar refuses is never read here; the forms a pack's requests use
    /// are read here.
    #[test]
    fn reads_what_cedar_reads_and_nothing_it_refuses() {
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA).expect("schema");
        let action = |a: &str| EntityUid::from_str(&format!("Action::\"{a}\"")).expect("action");
        let (plain, colored, addressed, nothing) = (
            action("plain"),
            action("colored"),
            action("addressed"),
            action("nothing"),
        );
        let declared = |a: &EntityUid| Declared::of(schema.as_ref(), a.as_ref());
        // Types the engine leaves to Cedar.
        assert!(declared(&colored).is_none(), "enumerated entity type");
        assert!(declared(&addressed).is_none(), "extension type");
        let (d_plain, d_nothing) = (
            declared(&plain).expect("plain"),
            declared(&nothing).expect("nothing"),
        );
        use serde_json::json;
        let user = |id: &str| json!({"__entity": {"type": "User", "id": id}});
        let cases: Vec<(bool, serde_json::Value)> = vec![
            // (read here, context)
            (true, json!({"s": "x"})),
            (true, json!({"s": "", "n": -3, "b": false})),
            (true, json!({"s": "x", "who": user("ghost")})),
            (
                true,
                json!({"s": "x", "who": {"type": "User", "id": "a\u{0}b"}}),
            ),
            (
                true,
                json!({"s": "x", "tags": ["a", "b", "a"], "teams": []}),
            ),
            (
                true,
                json!({"s": "x", "teams": [{"__entity": {"type": "Team", "id": "t"}}]}),
            ),
            (true, json!({"s": "x", "acting": {"level": 2}})),
            (
                true,
                json!({"s": "x", "acting": {"level": 2, "on": {"type": "Team", "id": "t"}}}),
            ),
            (true, json!({"s": "x", "nested": {"deep": {}}})),
            (
                true,
                json!({"s": "x", "nested": {"deep": {"x": 9223372036854775807_i64}}}),
            ),
            // Refused by Cedar: never read here.
            (false, json!({})),
            (false, json!({"n": 1})),
            (false, json!({"s": 1})),
            (false, json!({"s": "x", "extra": 1})),
            (false, json!({"s": "x", "n": 1.5})),
            (false, json!({"s": "x", "n": 9223372036854775808_u64})),
            (false, json!({"s": "x", "b": "true"})),
            (false, json!({"s": "x", "who": {"type": "Team", "id": "t"}})),
            (false, json!({"s": "x", "who": "ghost"})),
            (false, json!({"s": "x", "tags": "a"})),
            (false, json!({"s": "x", "tags": [1]})),
            (false, json!({"s": "x", "acting": {}})),
            (false, json!({"s": "x", "acting": {"level": 1, "x": 2}})),
            (false, json!({"s": "x", "nested": {}})),
            (false, json!({"s": "x", "nested": {"deep": {"x": "1"}}})),
            (false, json!({"s": null})),
            // Forms Cedar may read that are left to it.
            (
                false,
                json!({"s": "x", "who": {"__entity": {"type": "User", "id": "a", "z": 1}}}),
            ),
            (
                false,
                json!({"s": "x", "who": {"__entity": user("a"), "z": 1}}),
            ),
            (
                false,
                json!({"s": "x", "who": {"__extn": {"fn": "ip", "arg": "1.1.1.1"}}}),
            ),
            (
                false,
                json!({"s": "x", "acting": {"__entity": {"type": "Team", "id": "t"}}}),
            ),
        ];
        for (read_here, json) in &cases {
            let m = json.as_object().expect("object");
            let mine = d_plain.read(m);
            let theirs = cedar(&schema, &plain, json);
            match (&mine, &theirs) {
                (Some(a), Some(b)) => assert_eq!(a.as_ref(), b.as_ref(), "{json}"),
                (Some(_), None) => panic!("read what Cedar refuses: {json}"),
                (None, _) => {}
            }
            assert_eq!(mine.is_some(), *read_here, "{json}: Cedar {theirs:?}");
        }
        assert!(d_nothing.read(&serde_json::Map::new()).is_some());
        let one = json!({"x": 1});
        assert!(d_nothing.read(one.as_object().expect("object")).is_none());
        assert!(cedar(&schema, &nothing, &one).is_none());
    }
}
