//! The schema's entity shapes, read from its JSON form, and the conversion
//! of entity JSON into stored values that checks each value against its
//! declared type: what Cedar's schema-based entity parser checks (declared
//! types, required and undeclared attributes, parent types, tag types), in
//! a form fast enough for a hundred thousand users.

use std::collections::HashMap;

use serde_json::Value as Json;
use smol_str::SmolStr;

use super::value::{Key, Val};

/// A declared attribute type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    /// `String`.
    String,
    /// `Long`.
    Long,
    /// `Bool`.
    Bool,
    /// An entity of this type (index in the type table).
    Entity(u16),
    /// `Set<T>`.
    Set(Box<Ty>),
    /// A record: attribute name index, type, required.
    Record(Vec<(u16, Ty, bool)>),
    /// An extension type (`ipaddr`, `decimal`, ...): not stored yet.
    Extension(String),
}

/// What an entity type declares.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntityShape {
    /// Attributes: name index, type, required.
    pub attrs: Vec<(u16, Ty, bool)>,
    /// Types its parents may have.
    pub parents: Vec<u16>,
    /// Type of its tags, if it has tags.
    pub tags: Option<Ty>,
}

/// The type table, the attribute name table and the entity shapes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shapes {
    /// Entity type names (qualified), by index.
    pub type_names: Vec<String>,
    type_index: HashMap<String, u16>,
    /// Attribute names, by index.
    pub attr_names: Vec<SmolStr>,
    attr_index: HashMap<SmolStr, u16>,
    /// Shapes of the declared entity types, by type index.
    pub shapes: HashMap<u16, EntityShape>,
}

impl Shapes {
    /// The index of a type name, added if new.
    pub fn type_id(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.type_index.get(name) {
            return i;
        }
        let i = self.type_names.len() as u16;
        self.type_names.push(name.to_string());
        self.type_index.insert(name.to_string(), i);
        i
    }

    /// The index of a type name, if known.
    pub fn find_type(&self, name: &str) -> Option<u16> {
        self.type_index.get(name).copied()
    }

    /// The index of an attribute name, if known.
    pub fn find_attr(&self, name: &str) -> Option<u16> {
        self.attr_index.get(name).copied()
    }

    /// The index of an attribute name, added if new.
    pub fn attr_id(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.attr_index.get(name) {
            return i;
        }
        let i = self.attr_names.len() as u16;
        self.attr_names.push(SmolStr::new(name));
        self.attr_index.insert(SmolStr::new(name), i);
        i
    }

    /// Reads the entity types of schema fragments in JSON form.
    pub fn from_schema_json(fragments: &[Json]) -> Shapes {
        let mut s = Shapes::default();
        // Declare every entity type first, so references resolve in any order.
        for frag in fragments {
            for (ns, body) in frag.as_object().into_iter().flatten() {
                for name in body
                    .get("entityTypes")
                    .and_then(Json::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    s.type_id(&qualify(ns, name));
                }
            }
        }
        for frag in fragments {
            for (ns, body) in frag.as_object().into_iter().flatten() {
                let common = body.get("commonTypes").and_then(Json::as_object);
                let Some(types) = body.get("entityTypes").and_then(Json::as_object) else {
                    continue;
                };
                for (name, decl) in types {
                    let id = s.type_id(&qualify(ns, name));
                    let attrs = decl
                        .get("shape")
                        .map(|shape| match s.ty(ns, common, shape, 0) {
                            Ty::Record(a) => a,
                            _ => Vec::new(),
                        })
                        .unwrap_or_default();
                    let parents = decl
                        .get("memberOfTypes")
                        .and_then(Json::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Json::as_str)
                        .map(|p| s.entity_ref(ns, p))
                        .collect();
                    let tags = decl.get("tags").map(|t| s.ty(ns, common, t, 0));
                    s.shapes.insert(
                        id,
                        EntityShape {
                            attrs,
                            parents,
                            tags,
                        },
                    );
                }
            }
        }
        s
    }

    fn entity_ref(&mut self, ns: &str, name: &str) -> u16 {
        let q = qualify(ns, name);
        match self.find_type(&q) {
            Some(i) => i,
            None => self.type_id(name),
        }
    }

    /// A JSON schema type.
    fn ty(
        &mut self,
        ns: &str,
        common: Option<&serde_json::Map<String, Json>>,
        t: &Json,
        depth: usize,
    ) -> Ty {
        if depth > 32 {
            return Ty::Extension("(type nested too deep)".into());
        }
        let kind = t.get("type").and_then(Json::as_str).unwrap_or_default();
        let name = t.get("name").and_then(Json::as_str).unwrap_or_default();
        match kind {
            "String" => Ty::String,
            "Long" => Ty::Long,
            "Boolean" | "Bool" => Ty::Bool,
            "Entity" => Ty::Entity(self.entity_ref(ns, name)),
            "Set" => Ty::Set(Box::new(
                t.get("element")
                    .map(|e| self.ty(ns, common, e, depth + 1))
                    .unwrap_or(Ty::String),
            )),
            "Record" => Ty::Record(
                t.get("attributes")
                    .and_then(Json::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, a)| {
                        let required = a.get("required").and_then(Json::as_bool).unwrap_or(true);
                        let ty = self.ty(ns, common, a, depth + 1);
                        (self.attr_id(k), ty, required)
                    })
                    .collect(),
            ),
            "Extension" => Ty::Extension(name.to_string()),
            "EntityOrCommon" => self.named(ns, common, name, depth),
            other => self.named(ns, common, other, depth),
        }
    }

    /// A type given by name: a primitive, a common type or an entity type.
    fn named(
        &mut self,
        ns: &str,
        common: Option<&serde_json::Map<String, Json>>,
        name: &str,
        depth: usize,
    ) -> Ty {
        match name {
            "String" | "__cedar::String" => return Ty::String,
            "Long" | "__cedar::Long" => return Ty::Long,
            "Bool" | "Boolean" | "__cedar::Bool" => return Ty::Bool,
            _ => {}
        }
        if let Some(t) = common.and_then(|c| c.get(name)) {
            return self.ty(ns, common, t, depth + 1);
        }
        let q = qualify(ns, name);
        match self.find_type(&q).or_else(|| self.find_type(name)) {
            Some(i) => Ty::Entity(i),
            None => Ty::Extension(name.to_string()),
        }
    }
}

fn qualify(ns: &str, name: &str) -> String {
    if ns.is_empty() || name.contains("::") {
        name.to_string()
    } else {
        format!("{ns}::{name}")
    }
}

pub(crate) use crate::domain::integrity::json::ref_parts as json_ref;

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

impl Shapes {
    /// Converts a JSON value of declared type `ty`; `Err` is (JSON path
    /// suffix, message).
    pub fn convert(&self, ty: &Ty, v: &Json, path: &str) -> Result<Val, (String, String)> {
        let wrong = |want: &str| {
            Err((
                path.to_string(),
                format!("expected {want}, found {}", kind(v)),
            ))
        };
        match ty {
            Ty::String => v
                .as_str()
                .map(|s| Val::Str(SmolStr::new(s)))
                .map_or_else(|| wrong("a string"), Ok),
            Ty::Long => match v.as_i64() {
                Some(n) => Ok(Val::Long(n)),
                None => wrong("a whole number (Long)"),
            },
            Ty::Bool => v
                .as_bool()
                .map(Val::Bool)
                .map_or_else(|| wrong("a boolean"), Ok),
            Ty::Entity(t) => {
                let Some((rt, id)) = json_ref(v) else {
                    return wrong("an entity reference {\"type\": ..., \"id\": ...}");
                };
                let want = &self.type_names[*t as usize];
                if rt != want {
                    return Err((
                        path.to_string(),
                        format!("expected an entity of type {want}, found {rt}"),
                    ));
                }
                Ok(Val::Entity(Key {
                    ty: *t,
                    id: SmolStr::new(id),
                }))
            }
            Ty::Set(elem) => {
                let Some(items) = v.as_array() else {
                    return wrong("a set (JSON array)");
                };
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.convert(elem, item, &format!("{path}[{i}]"))?);
                }
                Ok(Val::Set(out.into_boxed_slice()))
            }
            Ty::Record(attrs) => {
                let Some(obj) = v.as_object() else {
                    return wrong("a record (JSON object)");
                };
                Ok(Val::Record(
                    self.record(attrs, obj, path)?.into_boxed_slice(),
                ))
            }
            Ty::Extension(name) => Err((
                path.to_string(),
                format!("values of type {name} are not supported in teamgate's entity data yet"),
            )),
        }
    }

    /// The attributes of a record, checked: required ones present, no
    /// undeclared ones; sorted by attribute name.
    pub fn record(
        &self,
        attrs: &[(u16, Ty, bool)],
        obj: &serde_json::Map<String, Json>,
        path: &str,
    ) -> Result<Vec<(u16, Val)>, (String, String)> {
        for k in obj.keys() {
            let declared = self
                .attr_index
                .get(k.as_str())
                .is_some_and(|i| attrs.iter().any(|(n, _, _)| n == i));
            if !declared {
                return Err((
                    format!("{path}.{k}"),
                    format!("attribute {k:?} is not declared in the schema"),
                ));
            }
        }
        let mut out = Vec::with_capacity(obj.len());
        for (n, ty, required) in attrs {
            let name = &self.attr_names[*n as usize];
            match obj.get(name.as_str()) {
                Some(v) => out.push((*n, self.convert(ty, v, &format!("{path}.{name}"))?)),
                None if *required => {
                    return Err((
                        path.to_string(),
                        format!("required attribute {name:?} is missing"),
                    ))
                }
                None => {}
            }
        }
        out.sort_by(|a, b| self.attr_names[a.0 as usize].cmp(&self.attr_names[b.0 as usize]));
        Ok(out)
    }
}
