//! The decision cache: repeated requests (no request entities) answered
//! from a bounded cache that belongs to one snapshot, so it is dropped with
//! it on every reload or data change and can never answer for another
//! version. Off unless a capacity is set ([`set_decision_cache`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use cedar_policy::EntityUid;

use crate::query::{Decision, Query};

static CAPACITY: AtomicUsize = AtomicUsize::new(0);
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// Sets how many decisions each snapshot built from now on keeps (0: no
/// cache, the default).
pub fn set_decision_cache(capacity: usize) {
    CAPACITY.store(capacity, Ordering::Relaxed);
}

/// Decisions answered from the cache, and computed, since start.
pub fn decision_cache_counts() -> (u64, u64) {
    (HITS.load(Ordering::Relaxed), MISSES.load(Ordering::Relaxed))
}

/// Principal, action, resource and the context's canonical JSON text (keys
/// sorted: serde_json's maps are ordered).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key(EntityUid, EntityUid, EntityUid, String);

/// One snapshot's cache.
pub(crate) struct DecisionCache(quick_cache::sync::Cache<Key, Decision>);

impl std::fmt::Debug for DecisionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionCache")
            .field("len", &self.0.len())
            .finish()
    }
}

impl DecisionCache {
    /// A cache of the configured capacity, or none.
    pub fn configured() -> Option<DecisionCache> {
        match CAPACITY.load(Ordering::Relaxed) {
            0 => None,
            n => Some(DecisionCache(quick_cache::sync::Cache::new(n))),
        }
    }

    /// The decision for `query`, cached or computed by `decide` (only
    /// decisions are cached, not refusals of malformed requests).
    pub fn get_or<E>(
        &self,
        query: &Query,
        decide: impl FnOnce() -> Result<Decision, E>,
    ) -> Result<Decision, E> {
        if let Some(d) = self.get(query) {
            return Ok(d);
        }
        let d = decide()?;
        self.put(query, d.clone());
        Ok(d)
    }

    /// The cached decision for `query`, if there is one (counted as a hit
    /// or a miss).
    pub fn get(&self, query: &Query) -> Option<Decision> {
        let found = self.0.get(&Self::key(query));
        let counter = if found.is_some() { &HITS } else { &MISSES };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `decision` for `query`.
    pub fn put(&self, query: &Query, decision: Decision) {
        self.0.insert(Self::key(query), decision);
    }

    fn key(query: &Query) -> Key {
        Key(
            query.principal().clone(),
            query.action().clone(),
            query.resource().clone(),
            query.context().to_string(),
        )
    }
}
