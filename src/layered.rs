//! [`Layered`]: a large map shared by every snapshot built from one load,
//! plus the changes made since, so that a change costs O(log d) for d
//! changes while lookups stay those of a plain hash map (the persistent
//! map of changes is small, and empty until the first change).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// The base map's hasher: foldhash, seeded per process. Lookups of a
/// request's entities were about 6 % of an uncached decision with SipHash.
type Fast = foldhash::fast::RandomState;

/// A shared base map and a persistent map of changes over it.
#[derive(Debug, Clone)]
pub(crate) struct Layered<K: Hash + Eq + Clone, V: Clone> {
    base: Arc<HashMap<K, V, Fast>>,
    /// `Some` puts a value in, `None` takes the base's out.
    delta: imbl::HashMap<K, Option<V>>,
    len: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Layered<K, V> {
    fn default() -> Self {
        Layered::from(HashMap::default())
    }
}

impl<K: Hash + Eq + Clone, V: Clone> From<HashMap<K, V, Fast>> for Layered<K, V> {
    fn from(base: HashMap<K, V, Fast>) -> Self {
        Layered {
            len: base.len(),
            base: Arc::new(base),
            delta: imbl::HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> FromIterator<(K, V)> for Layered<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Layered::from(iter.into_iter().collect::<HashMap<K, V, Fast>>())
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Layered<K, V> {
    /// The stored key and value.
    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.delta.is_empty() {
            if let Some((key, v)) = self.delta.get_key_value(k) {
                return v.as_ref().map(|v| (key, v));
            }
        }
        self.base.get_key_value(k)
    }

    /// The value.
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(k).map(|(_, v)| v)
    }

    /// Whether the key is in the map.
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(k).is_some()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Puts a value in.
    pub fn insert(&mut self, k: K, v: V) {
        if !self.contains_key(&k) {
            self.len += 1;
        }
        self.delta.insert(k, Some(v));
    }

    /// Takes a value out (if there is one).
    pub fn remove(&mut self, k: &K) {
        if self.contains_key(k) {
            self.len -= 1;
            if self.base.contains_key(k) {
                self.delta.insert(k.clone(), None);
            } else {
                self.delta.remove(k);
            }
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let delta = &self.delta;
        self.base
            .iter()
            .filter(move |(k, _)| delta.is_empty() || !delta.contains_key(*k))
            .chain(delta.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v))))
    }

    /// The keys of the entries that satisfy `pred`: a scan of the base that
    /// looks up the changes only for the entries that match (far cheaper
    /// than [`Layered::iter`] when few do).
    pub fn keys_where(&self, pred: impl Fn(&K, &V) -> bool) -> Vec<&K> {
        let delta = &self.delta;
        self.base
            .iter()
            .filter(|(k, v)| pred(k, v) && !delta.contains_key(*k))
            .map(|(k, _)| k)
            .chain(
                delta
                    .iter()
                    .filter(|(k, v)| v.as_ref().is_some_and(|v| pred(k, v)))
                    .map(|(k, _)| k),
            )
            .collect()
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Folds the changes into a new base once they are many (more than one
    /// in eight entries, and at least 4,096): an O(n) copy, paid once per
    /// that many changes, so that lookups never degrade.
    pub fn compact_if_large(&mut self) {
        if self.delta.len() <= (self.base.len() / 8).max(4096) {
            return;
        }
        let mut base: HashMap<K, V, Fast> = (*self.base).clone();
        for (k, v) in self.delta.iter() {
            match v {
                Some(v) => {
                    base.insert(k.clone(), v.clone());
                }
                None => {
                    base.remove(k);
                }
            }
        }
        *self = Layered::from(base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_through_and_compact_to_the_same_map() {
        let mut m: Layered<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        let before = m.clone();
        m.insert(5, 50);
        m.insert(20_000, 1);
        m.remove(&7);
        m.remove(&20_000);
        m.remove(&123_456);
        assert_eq!(
            (m.get(&5), m.get(&7), m.get(&20_000)),
            (Some(&50), None, None)
        );
        assert_eq!(m.len(), 9_999);
        assert_eq!(m.iter().count(), 9_999);
        // The map it came from is untouched.
        assert_eq!(
            (before.get(&5), before.get(&7), before.len()),
            (Some(&5), Some(&7), 10_000)
        );
        for i in 0..5_000 {
            m.insert(i, i + 1);
        }
        m.remove(&9_000);
        m.compact_if_large();
        assert!(m.delta.is_empty());
        // 7 came back; 9,000 went.
        assert_eq!(m.len(), 9_999);
        assert_eq!(m.iter().count(), 9_999);
        assert_eq!(
            (m.get(&5), m.get(&7), m.get(&6_000), m.get(&9_000)),
            (Some(&6), Some(&8), Some(&6_000), None)
        );
    }
}
