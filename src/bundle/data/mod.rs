//! The entity store: every entity of the data in a compact form of our own,
//! checked against the schema's shapes when it is built, and, for each
//! request, the few Cedar entities that request can reach.
//!
//! Cedar's own `Entities` keeps every entity as a full Cedar value with its
//! ancestor closure (several KB each: 500 MB for 130,000 entities) and
//! parses JSON slowly (35 µs an entity with a schema). Policies validated
//! at dereference level *L* read attributes of entities at most *L - 1*
//! hops from the principal, the resource and the context's entity
//! references; a request gets exactly those entities, with their ancestors
//! (the hierarchy is shallow), built on the spot with the transitive
//! closure already computed.

mod reach;
mod read;
mod shape;
mod value;

use std::collections::HashSet;
use std::sync::Arc;

use cedar_policy_core::ast::{self, EntityUID, PartialValue};
use serde_json::{json, Value as Json};
use smol_str::SmolStr;

use crate::engine::EntitySet;
use crate::FastSet;

pub(crate) use reach::Reach;
pub(crate) use read::{entries_of_json, labelled, labelled_refs, read_entries, whole_file_problem};
use shape::json_ref;
pub(crate) use shape::Shapes;
pub(crate) use value::{Key, Names, Val};

use crate::domain::integrity::{EntityView, Origin, RefVisitor};
use crate::error::Problem;

/// One stored entity (shared between snapshots while it does not change).
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    attrs: Box<[(u16, Val)]>,
    parents: Box<[Key]>,
    tags: Box<[(SmolStr, Val)]>,
}

/// What the policy pack contributes to every entity store: the shapes of
/// the schema, Cedar's action entities, and how many hops from the request
/// the policies can read.
#[derive(Debug)]
pub(crate) struct StoreSchema {
    /// Types, attribute names and entity shapes.
    pub shapes: Shapes,
    /// Cedar's entity type of each type index.
    pub types: Vec<ast::EntityType>,
    /// The type index of each Cedar entity type.
    type_ids: crate::FastMap<ast::EntityType, u16>,
    /// The hash of the schema files: stores of one schema can share entries.
    pub fingerprint: String,
    /// The schema's action entities, by uid.
    pub actions: crate::FastMap<EntityUID, Arc<ast::Entity>>,
}

impl StoreSchema {
    /// From the schema fragments' JSON and Cedar's schema.
    pub fn new(
        fragments: &[Json],
        schema: &cedar_policy::Schema,
        fingerprint: String,
    ) -> Result<StoreSchema, Problem> {
        let shapes = Shapes::from_schema_json(fragments);
        let types = shapes
            .type_names
            .iter()
            .map(|n| {
                value::type_name(n).ok_or_else(|| {
                    Problem::new(format!("schema: {n:?} is not an entity type name"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let actions = schema
            .action_entities()
            .map_err(|e| Problem::new(format!("schema action entities: {e}")))?
            .iter()
            .map(|e| {
                let inner: &ast::Entity = e.as_ref();
                (inner.uid().clone(), Arc::new(inner.clone()))
            })
            .collect();
        let type_ids = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u16))
            .collect();
        Ok(StoreSchema {
            fingerprint,
            shapes,
            type_ids,
            types,
            actions,
        })
    }

    fn key(&self, uid: &cedar_policy::EntityUid) -> Option<Key> {
        let inner: &EntityUID = uid.as_ref();
        let ty = *self.type_ids.get(inner.entity_type())?;
        Some(Key {
            ty,
            id: SmolStr::new(uid.id().unescaped()),
        })
    }
}

impl Names for StoreSchema {
    fn entity_type(&self, ty: u16) -> &ast::EntityType {
        &self.types[ty as usize]
    }

    fn attr_name(&self, index: u16) -> &SmolStr {
        &self.shapes.attr_names[index as usize]
    }
}

/// The entities by key: the loaded map shared by every store built from
/// it, plus the changes since, so that a change to a few entities makes a
/// new store without copying the rest.
type Map = crate::layered::Layered<Key, Arc<Stored>>;

/// Every entity of the data, compact, checked against the schema's shapes.
pub(crate) struct EntityStore {
    schema: Arc<StoreSchema>,
    entities: Map,
    /// Cedar entities built for recent requests (hub entities such as the
    /// workspace and the roles stay in it): bounded, so memory stays flat.
    built: quick_cache::sync::Cache<Key, Arc<ast::Entity>>,
}

/// Cedar entities kept built per store.
const BUILT_CAPACITY: usize = 16_384;

impl std::fmt::Debug for EntityStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityStore")
            .field("entities", &self.entities.len())
            .field("built", &self.built.len())
            .finish()
    }
}

impl EntityStore {
    /// The stored version of an entry, when it is unchanged in this store
    /// (so that a reload shares it instead of holding it twice).
    pub fn share(&self, entry: &mut Entry) {
        if let Some(old) = self.entities.get(&entry.key) {
            if **old == *entry.stored {
                entry.stored = old.clone();
            }
        }
    }

    /// How many stored values this store shares with `other` (not copies).
    #[cfg(test)]
    pub fn shared_with(&self, other: &EntityStore) -> usize {
        self.entities
            .iter()
            .filter(|(k, v)| other.entities.get(*k).is_some_and(|o| Arc::ptr_eq(o, v)))
            .count()
    }

    /// Whether this store holds exactly this entry (the same shared value:
    /// a reload found it unchanged).
    pub fn holds_same(&self, entry: &Entry) -> bool {
        self.entities
            .get(&entry.key)
            .is_some_and(|s| Arc::ptr_eq(s, &entry.stored))
    }

    /// Every stored key.
    pub fn keys(&self) -> impl Iterator<Item = &Key> + '_ {
        self.entities.keys()
    }

    /// Whether entries typed with `schema` can be shared with this store's.
    pub fn same_schema(&self, schema: &StoreSchema) -> bool {
        self.schema.fingerprint == schema.fingerprint
    }

    /// The store of checked entries (their integrity already checked).
    pub fn from_entries(entries: Vec<Entry>, schema: Arc<StoreSchema>) -> EntityStore {
        let entities: Map = entries.into_iter().map(|e| (e.key, e.stored)).collect();
        Self::with_map(entities, schema)
    }

    fn with_map(entities: Map, schema: Arc<StoreSchema>) -> EntityStore {
        // A request's own few entities need no room for thousands.
        let capacity = entities.len().clamp(16, BUILT_CAPACITY);
        EntityStore {
            schema,
            entities,
            built: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// A new store: this one with `upserts` put in and `deletes` taken out,
    /// everything else shared (O(log n) a change). Its cache of built
    /// entities starts empty: an entity's Cedar value holds its ancestors'
    /// closure, which a change may alter.
    pub fn changed(&self, upserts: Vec<Entry>, deletes: &[Key]) -> EntityStore {
        let mut entities = self.entities.clone();
        for k in deletes {
            entities.remove(k);
        }
        for e in upserts {
            entities.insert(e.key, e.stored);
        }
        entities.compact_if_large();
        Self::with_map(entities, self.schema.clone())
    }

    /// How many entities are stored.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// The key of a stored-or-not entity of a schema type.
    pub fn key_of(&self, type_name: &str, id: &str) -> Option<Key> {
        Some(Key {
            ty: self.schema.shapes.find_type(type_name)?,
            id: SmolStr::new(id),
        })
    }

    /// The stored entity with this key, as an entry that the checks can read
    /// again (labelled `origin`).
    pub fn entry(&self, key: &Key, origin: Origin) -> Option<Entry> {
        let stored = self.entities.get(key)?.clone();
        Some(Entry {
            key: key.clone(),
            stored,
            origin,
        })
    }

    /// The stored entities (other than `except`) that refer to any of
    /// `targets` in an attribute, a tag or a parent: a scan of the store,
    /// paid by deletes only.
    pub fn referrers(&self, targets: &HashSet<Key>, except: &HashSet<Key>) -> Vec<Key> {
        // A delete names a few entities: comparing keys beats hashing each
        // of the millions of references.
        let few: Vec<&Key> = targets.iter().collect();
        let small = few.len() <= 16;
        let hit = |k: &Key| {
            if small {
                few.iter().any(|t| t.ty == k.ty && t.id == k.id)
            } else {
                targets.contains(k)
            }
        };
        self.entities
            .keys_where(|k, s| {
                (s.parents.iter().any(hit)
                    || s.attrs.iter().any(|(_, v)| v.any_ref(&hit))
                    || s.tags.iter().any(|(_, v)| v.any_ref(&hit)))
                    && !except.contains(k)
            })
            .into_iter()
            .cloned()
            .collect()
    }

    /// The stored entity of this type and id, as the checks read it.
    pub fn view(&self, type_name: &str, id: &str) -> Option<View<'_>> {
        let ty = self.schema.shapes.find_type(type_name)?;
        let (key, stored) = self.entities.get_key_value(&Key {
            ty,
            id: SmolStr::new(id),
        })?;
        Some(View {
            key,
            stored,
            schema: &self.schema,
        })
    }

    /// The stored entity with this key, as the checks read it.
    pub fn view_key(&self, key: &Key) -> Option<View<'_>> {
        let (key, stored) = self.entities.get_key_value(key)?;
        Some(View {
            key,
            stored,
            schema: &self.schema,
        })
    }

    /// The keys of the stored entities of this type (by name): a scan.
    pub fn keys_of_type(&self, type_name: &str) -> impl Iterator<Item = &Key> + '_ {
        let ty = self.schema.shapes.find_type(type_name);
        self.entities.keys().filter(move |k| Some(k.ty) == ty)
    }

    /// Whether the store holds an entry with this key.
    pub fn holds(&self, key: &Key) -> bool {
        self.entities.contains_key(key)
    }

    /// Whether the data holds this entity (or it is an action of the schema).
    pub fn contains(&self, uid: &cedar_policy::EntityUid) -> bool {
        match self.schema.key(uid) {
            Some(k) => self.entities.contains_key(&k),
            None => self.schema.actions.contains_key(uid.as_ref()),
        }
    }

    /// Every entity's uid, actions left out.
    pub fn uids(&self) -> impl Iterator<Item = cedar_policy::EntityUid> + '_ {
        self.entities
            .keys()
            .map(|k| cedar_policy::EntityUid::from(k.to_uid(self.schema.as_ref())))
    }

    /// The entities a request can reach: the principal, the resource, the
    /// entities the context names, the entities their attributes name
    /// (as many hops as the policies read), all their ancestors, and the
    /// action.
    pub fn request_entities(
        &self,
        principal: &cedar_policy::EntityUid,
        action: &cedar_policy::EntityUid,
        resource: &cedar_policy::EntityUid,
        context: &Json,
        under: Option<&EntityStore>,
        reach: &Reach,
    ) -> EntitySet<'static> {
        let mut roots: Vec<Key> = Vec::new();
        self.roots_of(principal, resource, context, &mut roots);
        let included = self.reached(roots, under, reach);
        let action = self.schema.actions.get(action.as_ref()).cloned();
        let mut list = self.entities_of(&included, under);
        list.extend(action);
        EntitySet::closed(list)
    }

    /// The entities any of `requests` (principal, action, resource,
    /// context) can reach, and their actions: one entity set to decide them
    /// all with. A request decides over it as over its own
    /// [`EntityStore::request_entities`]: the walk from all the roots reaches
    /// each entity at its shortest distance from any of them, so the union
    /// holds each request's entities, and the others are entities its
    /// policies do not read.
    pub fn batch_entities<'q>(
        &self,
        requests: impl Iterator<Item = BatchRequest<'q>>,
        under: Option<&EntityStore>,
        reach: &Reach,
    ) -> EntitySet<'static> {
        let mut roots: Vec<Key> = Vec::new();
        let mut actions: Vec<&cedar_policy::EntityUid> = Vec::new();
        // The last pair whose roots were taken (a batch comes grouped by
        // pair; roots repeated otherwise are removed below).
        let mut last: Option<(&cedar_policy::EntityUid, &cedar_policy::EntityUid)> = None;
        for (principal, action, resource, context) in requests {
            if !actions.contains(&action) {
                actions.push(action);
            }
            let plain =
                matches!(context, Json::Null) || context.as_object().is_some_and(|m| m.is_empty());
            if !plain || last != Some((principal, resource)) {
                self.roots_of(principal, resource, context, &mut roots);
                last = Some((principal, resource));
            }
        }
        roots.sort_unstable();
        roots.dedup();
        let included = self.reached(roots, under, reach);
        let mut list = self.entities_of(&included, under);
        list.extend(
            actions
                .into_iter()
                .filter_map(|a| self.schema.actions.get(a.as_ref()).cloned()),
        );
        EntitySet::closed(list)
    }

    /// The walk's starting points for one request.
    fn roots_of(
        &self,
        principal: &cedar_policy::EntityUid,
        resource: &cedar_policy::EntityUid,
        context: &Json,
        roots: &mut Vec<Key>,
    ) {
        for uid in [principal, resource] {
            roots.extend(self.schema.key(uid));
        }
        context_refs(context, &mut |ty, id| {
            if let Some(t) = self.schema.shapes.find_type(ty) {
                roots.push(Key {
                    ty: t,
                    id: SmolStr::new(id),
                });
            }
        });
    }

    /// The entities within the policies' reach of `roots`, and all their
    /// ancestors.
    fn reached(
        &self,
        mut frontier: Vec<Key>,
        under: Option<&EntityStore>,
        reach: &Reach,
    ) -> Included {
        let fits = reach.fits(&self.schema);
        let follows_attr = |i: u16| !fits || reach.follows_attr(i);
        let follows_tags = !fits || reach.follows_tags();
        let get = |k: &Key| self.layered_get(k, under);
        let mut included = Included::default();
        for hop in 0..=reach.hops {
            let mut next = Vec::new();
            for k in frontier.drain(..) {
                if included.contains(&k) {
                    continue;
                }
                let Some(stored) = get(&k) else {
                    continue;
                };
                included.push(k);
                if hop < reach.hops {
                    let mut refs = Vec::new();
                    for (i, v) in stored.attrs.iter() {
                        if follows_attr(*i) {
                            v.direct_refs(&mut refs);
                        }
                    }
                    if follows_tags {
                        for (_, v) in stored.tags.iter() {
                            v.direct_refs(&mut refs);
                        }
                    }
                    next.extend(refs.into_iter().cloned());
                }
            }
            frontier = next;
        }
        // Ancestors, so that `in` and the closure hold for every included entity.
        let mut i = 0;
        while i < included.keys.len() {
            if let Some(stored) = get(&included.keys[i]) {
                for p in stored.parents.iter() {
                    if !included.contains(p) && get(p).is_some() {
                        included.push(p.clone());
                    }
                }
            }
            i += 1;
        }
        included
    }

    /// A stored entity, in this store or the one under it.
    fn layered_get<'s>(&'s self, k: &Key, under: Option<&'s EntityStore>) -> Option<&'s Stored> {
        self.entities
            .get(k)
            .or_else(|| under.and_then(|u| u.entities.get(k)))
            .map(|s| &**s)
    }

    /// Cedar's entities of `included`, each with its ancestor closure.
    fn entities_of(
        &self,
        included: &Included,
        under: Option<&EntityStore>,
    ) -> Vec<Arc<ast::Entity>> {
        let get = |k: &Key| self.layered_get(k, under);
        included
            .keys
            .iter()
            .map(|k| match under {
                // A stored entity under a request's own: built once, cached.
                Some(u) if !self.entities.contains_key(k) => u.built_entity(k),
                // A request's own entity: built for this request only, its
                // ancestors looked up in both layers.
                Some(_) => Arc::new(self.cedar_entity(k, &get)),
                None => self.built_entity(k),
            })
            .collect()
    }

    /// One entity as Cedar's value, from the cache or built now.
    fn built_entity(&self, key: &Key) -> Arc<ast::Entity> {
        self.built
            .get_or_insert_with(key, || {
                let get = |k: &Key| self.entities.get(k).map(|s| &**s);
                Ok::<_, std::convert::Infallible>(Arc::new(self.cedar_entity(key, &get)))
            })
            .unwrap_or_else(|never| match never {})
    }

    /// One entity as Cedar's value, with its ancestor closure (entities
    /// looked up with `get`).
    fn cedar_entity<'s>(
        &'s self,
        key: &Key,
        get: &dyn Fn(&Key) -> Option<&'s Stored>,
    ) -> ast::Entity {
        let names: &StoreSchema = &self.schema;
        let Some(stored) = get(key) else {
            return ast::Entity::with_uid(key.to_uid(names));
        };
        let parents: HashSet<EntityUID> = stored.parents.iter().map(|p| p.to_uid(names)).collect();
        let mut indirect: HashSet<EntityUID> = HashSet::new();
        let mut stack: Vec<&Key> = stored.parents.iter().collect();
        let mut seen: HashSet<&Key> = HashSet::new();
        while let Some(p) = stack.pop() {
            if !seen.insert(p) {
                continue;
            }
            if let Some(ps) = get(p) {
                for gp in ps.parents.iter() {
                    let uid = gp.to_uid(names);
                    if !parents.contains(&uid) {
                        indirect.insert(uid);
                    }
                    stack.push(gp);
                }
            }
        }
        ast::Entity::new_with_attr_partial_value(
            key.to_uid(names),
            stored.attrs.iter().map(|(n, v)| {
                (
                    names.attr_name(*n).clone(),
                    PartialValue::Value(v.to_value(names)),
                )
            }),
            indirect,
            parents,
            stored
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), PartialValue::Value(v.to_value(names)))),
        )
    }

    /// The data as Cedar entity JSON (for building an overlay over it).
    pub fn to_json(&self) -> Vec<Json> {
        self.entities
            .iter()
            .map(|(k, s)| self.stored_json(k, s))
            .collect()
    }

    /// One stored entity as Cedar entity JSON.
    pub fn entity_json(&self, key: &Key) -> Option<Json> {
        self.entities.get(key).map(|s| self.stored_json(key, s))
    }

    fn stored_json(&self, k: &Key, s: &Stored) -> Json {
        let names: &StoreSchema = &self.schema;
        let uid =
            |k: &Key| json!({"type": names.shapes.type_names[k.ty as usize], "id": k.id.as_str()});
        let attrs: serde_json::Map<String, Json> = s
            .attrs
            .iter()
            .map(|(n, v)| (names.attr_name(*n).to_string(), v.to_json(names)))
            .collect();
        let tags: serde_json::Map<String, Json> = s
            .tags
            .iter()
            .map(|(t, v)| (t.to_string(), v.to_json(names)))
            .collect();
        let parents: Vec<Json> = s.parents.iter().map(uid).collect();
        json!({"uid": uid(k), "attrs": attrs, "parents": parents, "tags": tags})
    }
}

/// Calls `f` with every entity reference in a context value.
fn context_refs(v: &Json, f: &mut dyn FnMut(&str, &str)) {
    if let Some((t, id)) = json_ref(v) {
        f(t, id);
        return;
    }
    match v {
        Json::Array(items) => items.iter().for_each(|x| context_refs(x, f)),
        Json::Object(m) => m.values().for_each(|x| context_refs(x, f)),
        _ => {}
    }
}

/// One entity read from JSON, typed by the schema, and where it was read.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Its type index and id.
    pub key: Key,
    stored: Arc<Stored>,
    /// Where it was read, for messages.
    pub origin: Origin,
}

/// An entry as the integrity checks read it.
pub(crate) struct View<'a> {
    key: &'a Key,
    stored: &'a Stored,
    schema: &'a StoreSchema,
}

impl<'a> View<'a> {
    /// The view of an entry.
    pub fn new(entry: &'a Entry, schema: &'a StoreSchema) -> Self {
        View {
            key: &entry.key,
            stored: &entry.stored,
            schema,
        }
    }

    /// Type name and id, borrowed from the store.
    pub fn uid_names(&self) -> (&'a str, &'a str) {
        self.uid(self.key)
    }

    fn attr(&self, name: &str) -> Option<&'a Val> {
        let i = self.schema.shapes.find_attr(name)?;
        self.stored
            .attrs
            .iter()
            .find(|(n, _)| *n == i)
            .map(|(_, v)| v)
    }

    fn uid(&self, k: &'a Key) -> (&'a str, &'a str) {
        (
            self.schema.shapes.type_names[k.ty as usize].as_str(),
            k.id.as_str(),
        )
    }
}

impl EntityView for View<'_> {
    fn type_name(&self) -> &str {
        &self.schema.shapes.type_names[self.key.ty as usize]
    }

    fn id(&self) -> &str {
        &self.key.id
    }

    fn str_attr(&self, name: &str) -> Option<&str> {
        match self.attr(name)? {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    fn bool_attr(&self, name: &str) -> Option<bool> {
        match self.attr(name)? {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn long_attr(&self, name: &str) -> Option<i64> {
        match self.attr(name)? {
            Val::Long(n) => Some(*n),
            _ => None,
        }
    }

    fn ref_attr(&self, name: &str) -> Option<(&str, &str)> {
        match self.attr(name)? {
            Val::Entity(k) => Some(self.uid(k)),
            _ => None,
        }
    }

    fn ref_set_attr(&self, name: &str) -> Vec<(&str, &str)> {
        match self.attr(name) {
            Some(Val::Set(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Val::Entity(k) => Some(self.uid(k)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    fn str_set_attr(&self, name: &str) -> Vec<&str> {
        match self.attr(name) {
            Some(Val::Set(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Val::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn tag_keys(&self) -> Vec<&str> {
        self.stored.tags.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn each_ref(&self, f: &mut RefVisitor<'_>) {
        let names = &self.schema.shapes;
        for (n, v) in self.stored.attrs.iter() {
            let attr = &names.attr_names[*n as usize];
            walk(v, names, &mut |suffix, k| {
                let (t, id) = self.uid(k);
                f(&|| format!(".attrs.{attr}{}", suffix()), t, id)
            });
        }
        for (tag, v) in self.stored.tags.iter() {
            walk(v, names, &mut |suffix, k| {
                let (t, id) = self.uid(k);
                f(&|| format!(".tags.{tag}{}", suffix()), t, id)
            });
        }
        for (i, p) in self.stored.parents.iter().enumerate() {
            let (t, id) = self.uid(p);
            f(&|| format!(".parents[{i}]"), t, id);
        }
    }
}

/// Calls `f` with every entity key in a value and a function giving its
/// JSON path below the value.
fn walk<'a>(v: &'a Val, names: &Shapes, f: &mut dyn FnMut(&dyn Fn() -> String, &'a Key)) {
    fn go<'a>(
        v: &'a Val,
        path: &mut Vec<PathPart>,
        names: &Shapes,
        f: &mut dyn FnMut(&dyn Fn() -> String, &'a Key),
    ) {
        match v {
            Val::Entity(k) => {
                let p = path.clone();
                f(&|| render(&p, names), k)
            }
            Val::Set(items) => {
                for (i, x) in items.iter().enumerate() {
                    path.push(PathPart::Index(i));
                    go(x, path, names, f);
                    path.pop();
                }
            }
            Val::Record(fields) => {
                for (n, x) in fields.iter() {
                    path.push(PathPart::Attr(*n));
                    go(x, path, names, f);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    go(v, &mut Vec::new(), names, f)
}

#[derive(Debug, Clone)]
enum PathPart {
    Index(usize),
    Attr(u16),
}

fn render(parts: &[PathPart], names: &Shapes) -> String {
    parts
        .iter()
        .map(|p| match p {
            PathPart::Index(i) => format!("[{i}]"),
            PathPart::Attr(n) => format!(".{}", names.attr_names[*n as usize]),
        })
        .collect()
}

/// Converts one entity's JSON into an entry, checking every value against
/// its declared type; `Ok(None)` for an action entity (the schema's own are
/// used).
pub(crate) fn convert(
    v: &Json,
    origin: Origin,
    schema: &StoreSchema,
) -> Result<Option<Entry>, Problem> {
    let shapes = &schema.shapes;
    let uid = v.get("uid").and_then(|u| {
        json_ref(u).or_else(|| Some((u.get("type")?.as_str()?, u.get("id")?.as_str()?)))
    });
    let Some((ty, id)) = uid else {
        return Err(origin.problem(None, ".uid", "has no uid {\"type\": ..., \"id\": ...}"));
    };
    let fail = |path: &str, message: String| origin.problem(Some((ty, id)), path, message);
    if ty == crate::domain::types::ACTION || ty.ends_with("::Action") {
        return Ok(None);
    }
    let Some(t) = shapes
        .find_type(ty)
        .filter(|t| shapes.shapes.contains_key(t))
    else {
        return Err(fail(
            ".uid.type",
            format!("does not match the schema: entity type {ty} is not declared in the schema"),
        ));
    };
    let shape = &shapes.shapes[&t];
    let empty = serde_json::Map::new();
    let attrs = match v.get("attrs") {
        None | Some(Json::Null) => &empty,
        Some(Json::Object(m)) => m,
        Some(_) => return Err(fail(".attrs", "attrs must be a JSON object".into())),
    };
    if let Some((path, message)) = crate::domain::integrity::user::before_schema(ty, attrs) {
        return Err(fail(&path, message));
    }
    let schema_error = |(path, message): (String, String)| {
        fail(&path, format!("does not match the schema: {message}"))
    };
    let mut attrs = shapes
        .record(&shape.attrs, attrs, ".attrs")
        .map_err(schema_error)?;
    for (n, val) in attrs.iter_mut() {
        normalize(ty, &shapes.attr_names[*n as usize], val);
    }
    let mut parents = Vec::new();
    for (i, p) in v
        .get("parents")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!(".parents[{i}]");
        let Some((pt, pid)) = json_ref(p) else {
            return Err(fail(
                &path,
                "a parent is an entity reference {\"type\": ..., \"id\": ...}".into(),
            ));
        };
        match shapes.find_type(pt).filter(|x| shape.parents.contains(x)) {
            Some(x) => parents.push(Key {
                ty: x,
                id: SmolStr::new(pid),
            }),
            None => {
                return Err(fail(
                    &path,
                    format!("does not match the schema: {ty} cannot have a parent of type {pt}"),
                ))
            }
        }
    }
    let mut tags = Vec::new();
    if let Some(obj) = v
        .get("tags")
        .and_then(Json::as_object)
        .filter(|o| !o.is_empty())
    {
        let Some(tag_ty) = &shape.tags else {
            return Err(fail(
                ".tags",
                format!("does not match the schema: {ty} has no tags"),
            ));
        };
        for (k, tv) in obj {
            let val = shapes
                .convert(tag_ty, tv, &format!(".tags.{k}"))
                .map_err(schema_error)?;
            tags.push((SmolStr::new(k), val));
        }
    }
    Ok(Some(Entry {
        key: Key {
            ty: t,
            id: SmolStr::new(id),
        },
        stored: Arc::new(Stored {
            attrs: attrs.into_boxed_slice(),
            parents: parents.into_boxed_slice(),
            tags: tags.into_boxed_slice(),
        }),
        origin,
    }))
}

/// Puts a string (or the strings of a set) in the normal form teamgate
/// compares it in, where the domain says so.
fn normalize(ty: &str, attr: &str, v: &mut Val) {
    match v {
        Val::Str(s) => {
            if let Some(n) = crate::domain::integrity::normalize(ty, attr, s) {
                *s = SmolStr::new(n);
            }
        }
        Val::Set(items) => {
            for item in items.iter_mut() {
                normalize(ty, attr, item);
            }
        }
        _ => {}
    }
}

/// The keys a walk has included, in the order met; past a handful, also
/// hashed (a request reaches a few entities, a batch thousands).
#[derive(Default)]
struct Included {
    keys: Vec<Key>,
    index: Option<FastSet<Key>>,
}

impl Included {
    /// Past this many keys a linear search loses to a hash set.
    const LINEAR: usize = 32;

    fn contains(&self, k: &Key) -> bool {
        match &self.index {
            Some(set) => set.contains(k),
            None => self.keys.contains(k),
        }
    }

    fn push(&mut self, k: Key) {
        match &mut self.index {
            Some(set) => {
                set.insert(k.clone());
            }
            None if self.keys.len() >= Self::LINEAR => {
                let mut set: FastSet<Key> = self.keys.iter().cloned().collect();
                set.insert(k.clone());
                self.index = Some(set);
            }
            None => {}
        }
        self.keys.push(k);
    }
}

/// One request of a batch: principal, action, resource, context.
pub(crate) type BatchRequest<'q> = (
    &'q cedar_policy::EntityUid,
    &'q cedar_policy::EntityUid,
    &'q cedar_policy::EntityUid,
    &'q Json,
);
