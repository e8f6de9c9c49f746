//! The entities a decision is made over, looked up without Cedar's entity
//! map until Cedar itself is asked.
//!
//! Cedar's `Entities` is a map hashed with SipHash, and building one for a
//! request or a batch hashes every entity's uid twice (the map, and a set of
//! the entities touched, kept for a closure the store has already
//! computed): a fifth of a batch's decision time. Most decisions are
//! answered by the direct evaluator ([`super::quick`]), which only looks
//! entities up; an [`EntitySet`] keeps them in a map of its own and builds
//! Cedar's map, from the same entities, the first time Cedar's evaluator or
//! authorizer needs it.

use std::cell::OnceCell;
use std::sync::Arc;

use cedar_policy::Entities;
use cedar_policy_core::ast;
use cedar_policy_core::entities::{Dereference, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;

use crate::FastMap;

/// Entities to decide over: Cedar's, or a list of entities whose ancestor
/// closure is already computed (the store's).
#[derive(Debug)]
pub struct EntitySet<'c> {
    /// The list's entities by uid (empty when Cedar's set is given).
    own: FastMap<ast::EntityUID, Arc<ast::Entity>>,
    /// Cedar's set, when given.
    given: Option<&'c Entities>,
    /// Cedar's set of the list, once needed.
    built: OnceCell<Entities>,
}

impl<'c> EntitySet<'c> {
    /// Cedar's set as it is.
    pub fn of(entities: &'c Entities) -> EntitySet<'c> {
        EntitySet {
            own: FastMap::default(),
            given: Some(entities),
            built: OnceCell::new(),
        }
    }

    /// Entities whose ancestors are already closed (each holds all of its
    /// ancestors), distinct by uid.
    pub(crate) fn closed(list: Vec<Arc<ast::Entity>>) -> EntitySet<'static> {
        let mut own = FastMap::default();
        own.reserve(list.len());
        for e in list {
            own.entry(e.uid().clone()).or_insert(e);
        }
        EntitySet {
            own,
            given: None,
            built: OnceCell::new(),
        }
    }

    /// The entity of `uid`, if the set holds it.
    pub fn entity(&self, uid: &ast::EntityUID) -> Option<&ast::Entity> {
        match self.given {
            Some(given) => match given.as_ref().entity(uid) {
                Dereference::Data(e) => Some(e),
                Dereference::NoSuchEntity | Dereference::Residual(_) => None,
            },
            None => self.own.get(uid).map(|e| &**e),
        }
    }

    /// Whether the set holds no entity of `uid` (not even a residual one):
    /// what Cedar's evaluator calls an entity that does not exist.
    pub fn lacks(&self, uid: &ast::EntityUID) -> bool {
        match self.given {
            Some(given) => matches!(given.as_ref().entity(uid), Dereference::NoSuchEntity),
            None => !self.own.contains_key(uid),
        }
    }

    /// Cedar's set: the one given, or one built now (once) of the list.
    pub fn cedar(&self) -> &Entities {
        match self.given {
            Some(given) => given,
            None => self.built.get_or_init(|| cedar_of(&self.own)),
        }
    }

    /// Cedar's set, owned: a copy of the one given, or the one built of the
    /// list (taken, not copied, when [`EntitySet::cedar`] built it already).
    pub fn into_cedar(self) -> Entities {
        match self.given {
            Some(given) => given.clone(),
            None => {
                let own = self.own;
                self.built.into_inner().unwrap_or_else(|| cedar_of(&own))
            }
        }
    }
}

/// Cedar's set of entities whose closure is already computed.
fn cedar_of(own: &FastMap<ast::EntityUID, Arc<ast::Entity>>) -> Entities {
    let core = cedar_policy_core::entities::Entities::new()
        .add_entities(
            own.values().cloned(),
            None::<&NoEntitiesSchema>,
            TCComputation::AssumeAlreadyComputed,
            Extensions::all_available(),
        )
        .unwrap_or_default();
    Entities::from(core)
}
