//! [`Overlay`]: entities that one request (or one scenario, or one CLI run)
//! decides against instead of, or on top of, the snapshot's. Every path that
//! brings its own entities (HTTP `additional_entities` and `entities`, the
//! CLI's `--entities`, a scenario's `entities:`) builds one here, so the
//! same integrity checks as the loader apply everywhere.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy::EntityUid;
use serde_json::{Map, Value};

use super::{EntityData, Snapshot};
use crate::domain::integrity::json::uid_of;
use crate::domain::integrity::Origin;
use crate::error::{LoadError, Problem};

/// Entity data for one request, checked like the bundle's own.
///
/// ```
/// use serde_json::json;
/// use teamgate::{Bundle, Overlay, Query};
/// let snap = Bundle::new(env!("CARGO_MANIFEST_DIR")).load()?;
/// // Acme switches guest sharing off, for this request only.
/// let acme = json!({"uid": {"type": "Workspace", "id": "acme"}, "parents": [], "attrs": {
///     "domain": "acme.com", "plan": "business", "subscription": "active",
///     "guestSharing": false, "guestEmailsUsed": 1,
///     "connectionDomainExceptions": [], "ownProjects": 3}});
/// let overlay = Overlay::over_stored("example").upsert(vec![acme]).build(&snap)?;
/// let q = Query::parse(r#"User::"ivy""#, "viewProject", r#"Project::"launch""#)?;
/// assert!(snap.decide(&q, None).is_allowed());
/// assert!(!snap.decide(&q, Some(&overlay)).is_allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Overlay {
    data: EntityData,
    /// For an overlay that adds to the stored entities: the stored data it
    /// lies over (its own entities are only the added ones).
    base: Option<Arc<EntityData>>,
}

impl Overlay {
    /// Starts an overlay on top of the snapshot's entities.
    pub fn over_stored(label: impl Into<String>) -> OverlayBuilder {
        OverlayBuilder::new(label, true)
    }

    /// Starts an overlay that replaces the snapshot's entities entirely.
    pub fn instead_of_stored(label: impl Into<String>) -> OverlayBuilder {
        OverlayBuilder::new(label, false)
    }

    /// Starts an overlay that only adds entities to the snapshot's: none of
    /// them may be stored already, and it costs what the added entities
    /// cost, whatever the size of the store (the stored data is shared, not
    /// copied). Only [`OverlayBuilder::upsert`] applies.
    pub fn adding_to_stored(label: impl Into<String>) -> OverlayBuilder {
        let mut b = OverlayBuilder::new(label, true);
        b.add_only = true;
        b
    }

    /// Number of entities the overlay decides against (actions left out).
    pub fn len(&self) -> usize {
        self.data.count
    }

    /// True when it holds no entity.
    pub fn is_empty(&self) -> bool {
        self.data.count == 0
    }

    pub(crate) fn data(&self) -> &EntityData {
        &self.data
    }

    pub(crate) fn base(&self) -> Option<&EntityData> {
        self.base.as_deref()
    }
}

/// The changes an [`Overlay`] makes, applied in order: remove, upsert, set.
#[derive(Debug, Clone)]
pub struct OverlayBuilder {
    label: String,
    keep_stored: bool,
    remove: Vec<EntityUid>,
    upsert: Vec<Value>,
    set: Vec<(EntityUid, Map<String, Value>)>,
    add_only: bool,
}

impl OverlayBuilder {
    fn new(label: impl Into<String>, keep_stored: bool) -> Self {
        OverlayBuilder {
            label: label.into(),
            keep_stored,
            remove: Vec::new(),
            upsert: Vec::new(),
            set: Vec::new(),
            add_only: false,
        }
    }

    /// Entity JSON objects: each replaces the entity with the same uid, or is added.
    pub fn upsert(mut self, entities: Vec<Value>) -> Self {
        self.upsert.extend(entities);
        self
    }

    /// Removes an entity (it must exist).
    pub fn remove(mut self, uid: EntityUid) -> Self {
        self.remove.push(uid);
        self
    }

    /// Sets attributes of an entity (it must exist), keeping the others.
    pub fn set_attrs(mut self, uid: EntityUid, attrs: Map<String, Value>) -> Self {
        self.set.push((uid, attrs));
        self
    }

    /// Applies the changes and checks the result against the snapshot's
    /// schema and the integrity rules; every problem is reported, located
    /// by JSON path under the overlay's label.
    pub fn build(self, snapshot: &Snapshot) -> Result<Overlay, LoadError> {
        if self.add_only {
            if !self.remove.is_empty() || !self.set.is_empty() {
                return Err(Problem::new(format!(
                    "{}: an overlay that adds to the stored entities cannot remove or change them",
                    self.label
                ))
                .into());
            }
            let base = snapshot.data().clone();
            let data = EntityData::added_over(self.upsert, snapshot.pack(), &self.label, &base)?;
            return Ok(Overlay {
                data,
                base: Some(base),
            });
        }
        // Each value keeps where it came from: the stored data, or its index
        // in this overlay's own list, so a problem points at the caller's input.
        let stored: Arc<str> = Arc::from("stored entities");
        let mine: Arc<str> = Arc::from(self.label.as_str());
        let origin = |file: &Arc<str>, index| Origin {
            file: file.clone(),
            index: Some(index),
            line: None,
        };
        let mut json: Vec<(Value, Origin)> = if self.keep_stored {
            snapshot
                .data()
                .to_json()
                .into_iter()
                .enumerate()
                .map(|(i, v)| (v, origin(&stored, i)))
                .collect()
        } else {
            Vec::new()
        };
        let key = |v: &Value| uid_of(v);
        let uid_key = |u: &EntityUid| (u.type_name().to_string(), u.id().unescaped().to_string());
        for r in &self.remove {
            let k = uid_key(r);
            let before = json.len();
            json.retain(|(v, _)| key(v).as_ref() != Some(&k));
            if json.len() == before {
                return Err(Problem::new(format!("{}: remove: no entity {r}", self.label)).into());
            }
        }
        let mut pos: HashMap<(String, String), usize> = json
            .iter()
            .enumerate()
            .filter_map(|(i, (v, _))| key(v).map(|k| (k, i)))
            .collect();
        for (j, v) in self.upsert.into_iter().enumerate() {
            let entry = (v, origin(&mine, j));
            match key(&entry.0).and_then(|k| pos.get(&k).copied()) {
                Some(i) => json[i] = entry,
                None => {
                    if let Some(k) = key(&entry.0) {
                        pos.insert(k, json.len());
                    }
                    json.push(entry);
                }
            }
        }
        for (uid, attrs) in &self.set {
            let target = pos
                .get(&uid_key(uid))
                .and_then(|&i| json[i].0.get_mut("attrs"))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| {
                    Problem::new(format!("{}: set: no entity {uid} with attrs", self.label))
                })?;
            for (a, v) in attrs {
                target.insert(a.clone(), v.clone());
            }
        }
        let data = EntityData::from_json(json, snapshot.pack(), &self.label)?;
        Ok(Overlay { data, base: None })
    }
}
