//! [`Snapshot`]: one validated bundle, immutable, and the one way to decide.

use std::sync::Arc;
use std::time::SystemTime;

use cedar_policy::{Entities, EntityUid, Response, Schema};
use sha2::{Digest, Sha256};

use super::{Change, EntityData, Overlay, PolicyInfo, PolicyPack};
use crate::domain;
use crate::domain::directory::Addresses;
use crate::engine::{Engine, EntitySet, Strategy};
use crate::error::{LoadError, Problem, RequestError};
use crate::query::{Decision, Query};

/// An immutable, validated view of one bundle: schema, policies and entity
/// data. Build one with [`crate::Bundle::load`]; a [`crate::Store`] keeps the
/// current one and swaps in a new one on reload.
///
/// ```
/// use teamgate::{Bundle, Query};
/// let snap = Bundle::new(env!("CARGO_MANIFEST_DIR")).load()?;
/// let q = Query::parse(r#"User::"erin""#, "editProjectDetails", r#"Project::"website""#)?;
/// let d = snap.decide(&q, None);
/// assert!(!d.is_allowed());
/// assert_eq!(d.reasons(), ["external.never-edit-project-details"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    pack: Arc<PolicyPack>,
    data: Arc<EntityData>,
    version: String,
    loaded_at: SystemTime,
    /// Decisions of repeated requests, for this snapshot only.
    cache: Option<Arc<super::cache::DecisionCache>>,
}

impl Snapshot {
    /// Combines a pack and entity data that were checked against its schema.
    pub(crate) fn new(pack: Arc<PolicyPack>, data: Arc<EntityData>) -> Self {
        let mut h = Sha256::new();
        h.update(pack.content_hash.as_bytes());
        h.update(data.content_hash.as_bytes());
        let version = super::hex(&h.finalize())[..16].to_string();
        Snapshot {
            pack,
            data,
            version,
            loaded_at: SystemTime::now(),
            cache: super::cache::DecisionCache::configured().map(Arc::new),
        }
    }

    /// Decides `query` against the stored entities, or against `overlay`
    /// when given. Fails closed: any problem with the request is a deny that
    /// says why.
    pub fn decide(&self, query: &Query, overlay: Option<&Overlay>) -> Decision {
        self.try_decide(query, overlay)
            .unwrap_or_else(Decision::deny_because)
    }

    /// Like [`Snapshot::decide`], but says why a request could not be put to
    /// Cedar at all instead of turning it into a deny (a server answers the
    /// malformed ones with a 400).
    pub fn try_decide(
        &self,
        query: &Query,
        overlay: Option<&Overlay>,
    ) -> Result<Decision, RequestError> {
        match (&self.cache, overlay) {
            (Some(cache), None) => cache.get_or(query, || self.decide_uncached(query, None)),
            _ => self.decide_uncached(query, overlay),
        }
    }

    fn decide_uncached(
        &self,
        query: &Query,
        overlay: Option<&Overlay>,
    ) -> Result<Decision, RequestError> {
        let query = self.prepare(query, overlay)?;
        let entities = self.request_set(&query, overlay);
        self.pack
            .engine
            .decide_query_with(&query, &entities, None, false, None)
    }

    /// [`Snapshot::try_decide`] for each of `queries` against the stored
    /// entities, answered in order: repeated ones from the decision cache
    /// (when on), the others together by [`Snapshot::decide_batch`], taken
    /// in (principal, resource) order so that the actions asked about one
    /// pair share their policies' outcomes.
    pub fn try_decide_many(&self, queries: &[&Query]) -> Vec<Result<Decision, RequestError>> {
        let mut out: Vec<Option<Result<Decision, RequestError>>> = vec![None; queries.len()];
        let mut misses: Vec<usize> = Vec::with_capacity(queries.len());
        for (i, q) in queries.iter().enumerate() {
            match self.cache.as_ref().and_then(|c| c.get(q)) {
                Some(d) => out[i] = Some(Ok(d)),
                None => misses.push(i),
            }
        }
        // Stable: the queries of one pair keep their order.
        misses.sort_by(|&a, &b| {
            (queries[a].principal(), queries[a].resource())
                .cmp(&(queries[b].principal(), queries[b].resource()))
        });
        // All of them over one entity set (what any of them reaches: each
        // entity hashed into Cedar's map once per batch, not once per
        // request).
        let batch: Vec<&Query> = misses.iter().map(|&i| queries[i]).collect();
        for (&i, answer) in misses.iter().zip(self.decide_batch(&batch, None)) {
            if let (Some(cache), Ok(d)) = (&self.cache, &answer) {
                cache.put(queries[i], d.clone());
            }
            out[i] = Some(answer);
        }
        out.into_iter().flatten().collect()
    }

    /// Decides many queries (without the decision cache) over one entity
    /// set: everything any of them reaches, built once instead of once per
    /// query. Consecutive queries of the same principal and resource
    /// evaluate each policy (and shared condition part) that reads neither
    /// `action` nor `context` once, and those of the same principal each
    /// one that does not read `resource` either.
    /// Each answer is the one [`Snapshot::try_decide`] gives: a query's
    /// policies read only what its own request entities hold, and those are
    /// all in the shared set (tests/differential.rs compares both with
    /// Cedar's whole-set answers).
    pub fn decide_batch(
        &self,
        queries: &[&Query],
        overlay: Option<&Overlay>,
    ) -> Vec<Result<Decision, RequestError>> {
        let prepared: Vec<Result<std::borrow::Cow<'_, Query>, RequestError>> =
            queries.iter().map(|q| self.prepare(q, overlay)).collect();
        let (store, under) = match overlay {
            None => (&self.data.store, None),
            Some(o) => (&o.data().store, o.base().map(|b| &b.store)),
        };
        let entities = store.batch_entities(
            prepared
                .iter()
                .flatten()
                .map(|q| (q.principal(), q.action(), q.resource(), q.context())),
            under,
            &self.pack.reach,
        );
        let engine = &self.pack.engine;
        // Consecutive queries of one principal (and resource) share what
        // reads neither action nor context (nor resource).
        let mut memo = crate::engine::Memo::default();
        let mut contexts = crate::engine::ContextCache::default();
        let mut pair: Option<(&EntityUid, &EntityUid)> = None;
        // The last pair whose entities were found in the set.
        let mut present: Option<(&EntityUid, &EntityUid)> = None;
        prepared
            .iter()
            .map(|q| {
                let q = q.as_ref().map_err(Clone::clone)?;
                let this = (q.principal(), q.resource());
                match pair {
                    Some(last) if last == this => {}
                    Some((p, _)) if p == q.principal() => memo.next_pair(),
                    _ => memo.next_principal(),
                }
                pair = Some(this);
                let decision = engine.decide_query_with(
                    q,
                    &entities,
                    Some(&mut contexts),
                    present == Some(this),
                    Some(&mut memo),
                )?;
                present = Some(this);
                Ok(decision)
            })
            .collect()
    }

    /// Cedar's response with either strategy, over the entities the request
    /// reaches: for comparing the sliced evaluation with Cedar's whole-set
    /// one (and for `cedar run-tests` files, which expect Cedar's own answer).
    pub fn evaluate(
        &self,
        query: &Query,
        overlay: Option<&Overlay>,
        strategy: Strategy,
    ) -> Result<Response, RequestError> {
        let query = self.prepare(query, overlay)?;
        let entities = self.request_entities(&query, overlay);
        self.pack.engine.evaluate(&query, &entities, strategy)
    }

    /// Cedar's response over entities the caller gives (e.g. Cedar's own
    /// `Entities` of the whole data), with the context teamgate derives from
    /// the snapshot's (or the overlay's) data: the reference teamgate's
    /// per-request entities are checked against.
    pub fn evaluate_with(
        &self,
        query: &Query,
        overlay: Option<&Overlay>,
        entities: &Entities,
        strategy: Strategy,
    ) -> Result<Response, RequestError> {
        let query = self.prepare(query, overlay)?;
        self.pack.engine.evaluate(&query, entities, strategy)
    }

    /// Whether the data (or the overlay, when given) holds this entity.
    pub fn contains(&self, uid: &EntityUid, overlay: Option<&Overlay>) -> bool {
        match overlay {
            None => self.data.store.contains(uid),
            Some(o) => {
                o.data().store.contains(uid) || o.base().is_some_and(|b| b.store.contains(uid))
            }
        }
    }

    /// Every entity of the data (or the overlay), actions left out.
    pub fn entity_uids<'a>(
        &'a self,
        overlay: Option<&'a Overlay>,
    ) -> Box<dyn Iterator<Item = EntityUid> + 'a> {
        match overlay {
            None => Box::new(self.data.store.uids()),
            Some(o) => Box::new(
                o.data()
                    .store
                    .uids()
                    .chain(o.base().into_iter().flat_map(|b| b.store.uids())),
            ),
        }
    }

    /// The entities a prepared query can reach, as Cedar's `Entities`.
    pub(crate) fn request_entities(&self, query: &Query, overlay: Option<&Overlay>) -> Entities {
        self.request_set(query, overlay).into_cedar()
    }

    /// The entities a prepared query can reach.
    fn request_set(&self, query: &Query, overlay: Option<&Overlay>) -> EntitySet<'static> {
        let (store, under) = match overlay {
            None => (&self.data.store, None),
            Some(o) => (&o.data().store, o.base().map(|b| &b.store)),
        };
        store.request_entities(
            query.principal(),
            query.action(),
            query.resource(),
            query.context(),
            under,
            &self.pack.reach,
        )
    }

    /// Content hash of policies, schema and entity data (16 hex digits).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// When this snapshot was built.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// Every policy, by id.
    pub fn policies(&self) -> impl Iterator<Item = &PolicyInfo> {
        self.pack.index.values()
    }

    /// One policy by its `@id`.
    pub fn policy(&self, id: &str) -> Option<&PolicyInfo> {
        self.pack.index.get(id)
    }

    /// Number of policies.
    pub fn policy_count(&self) -> usize {
        self.pack.index.len()
    }

    /// Validator warnings (not errors).
    pub fn warnings(&self) -> &[Problem] {
        &self.pack.warnings
    }

    /// Actions that can be requested (those with `appliesTo`), sorted.
    pub fn actions(&self) -> Vec<&EntityUid> {
        self.pack.engine.actions()
    }

    /// Number of stored entities (read from the bundle's entity files, with
    /// the changes applied since).
    pub fn entity_count(&self) -> usize {
        self.data.count
    }

    /// The version of the entity data alone: the hash of the entity files,
    /// combined with the chain of changes applied over them.
    pub fn data_version(&self) -> &str {
        &self.data.content_hash[..16.min(self.data.content_hash.len())]
    }

    /// How many changes ([`Snapshot::with_change`], the data API) were
    /// applied over the entity files' data.
    pub fn data_changes(&self) -> u64 {
        self.data.changes
    }

    /// The chain hash of the changes applied over the files' data.
    pub(crate) fn updates_digest(&self) -> &str {
        &self.data.updates_digest
    }

    /// One stored entity as Cedar entity JSON (`None` when not stored).
    pub fn entity_json(&self, uid: &EntityUid) -> Option<serde_json::Value> {
        let key = self
            .data
            .store
            .key_of(&uid.type_name().to_string(), uid.id().unescaped())?;
        self.data.store.entity_json(&key)
    }

    /// A new snapshot: this one with `change` applied to its entity data
    /// (the policies and everything the change leaves alone are shared), or
    /// every problem the change would bring. Costs what the change touches,
    /// not the size of the data (a delete also scans the data for entities
    /// that refer to what it deletes).
    pub fn with_change(&self, change: &Change) -> Result<Snapshot, LoadError> {
        let digest = change.chain(&self.data.updates_digest);
        self.with_change_as(change, "change", digest, self.data.changes + 1)
    }

    /// [`Snapshot::with_change`] with the change's label in messages, and
    /// the digest and count of the changes over the files' data it makes.
    pub(crate) fn with_change_as(
        &self,
        change: &Change,
        label: &str,
        digest: String,
        changes: u64,
    ) -> Result<Snapshot, LoadError> {
        let data = self
            .data
            .apply(change, &self.pack, label, digest, changes)?;
        Ok(Snapshot::new(self.pack.clone(), Arc::new(data)))
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.pack.schema
    }

    /// Number of policies Cedar evaluates for a request of these types.
    pub fn slice_len(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
    ) -> Option<usize> {
        self.pack
            .engine
            .slice_len(principal.type_name(), action, resource.type_name())
    }

    /// True when both snapshots hold the very same entity data (a policy
    /// reload shares it instead of parsing it again).
    pub fn shares_entities_with(&self, other: &Snapshot) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// The query with the context teamgate derives and checks (see
    /// [`domain::context`]).
    pub(crate) fn prepare<'q>(
        &self,
        query: &'q Query,
        overlay: Option<&Overlay>,
    ) -> Result<std::borrow::Cow<'q, Query>, RequestError> {
        let declared = || self.pack.context_keys.get(query.action_name());
        domain::context::prepare_with(query, &self.directory_for(overlay), declared)
    }

    pub(crate) fn directory_for<'a>(&'a self, overlay: Option<&'a Overlay>) -> Layered<'a> {
        match overlay {
            None => Layered(&self.data.addresses, None),
            Some(o) => Layered(&o.data().addresses, o.base().map(|b| &b.addresses)),
        }
    }

    pub(crate) fn pack(&self) -> &Arc<PolicyPack> {
        &self.pack
    }

    pub(crate) fn data(&self) -> &Arc<EntityData> {
        &self.data
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.pack.engine
    }
}

/// Addresses of an overlay's own users over the stored ones.
pub(crate) struct Layered<'a>(&'a Addresses, Option<&'a Addresses>);

impl domain::context::Directory for Layered<'_> {
    fn user_by_address(&self, address: &str) -> Option<&str> {
        self.0
            .user_by_address(address)
            .or_else(|| self.1.and_then(|b| b.user_by_address(address)))
    }

    fn address_of(&self, user_id: &str) -> Option<&str> {
        self.0
            .address_of(user_id)
            .or_else(|| self.1.and_then(|b| b.address_of(user_id)))
    }
}
