//! Entity data followed from an outside source of truth (a PostgreSQL table,
//! [`postgres`]): rows of `(uid, Cedar entity JSON)` applied to a [`Store`]
//! through the same checks and update path as the data API.
//!
//! A [`Follower`] keeps which rows it applied (a hash of each), so that:
//! - a re-read of changed rows applies only what differs;
//! - the data version is a hash of the source's *content* (an order-free sum
//!   of the row hashes), the same on every sidecar that follows the same
//!   table, however their changes were batched;
//! - a row the integrity rules refuse is reported and kept aside (retried
//!   with every later change) while the rest of the batch applies.

#[cfg(feature = "postgres")]
pub mod postgres;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::bundle::{Change, EntityRef};
use crate::store::UpdateError;
use crate::{Problem, Store};

/// One row of the source: the entity's uid in Cedar form (`User::"bob"`),
/// its Cedar entity JSON, and a hash of the row as the source gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `Type::"id"`.
    pub uid: String,
    /// `{"uid": ..., "attrs": ..., "parents": [...]}`.
    pub entity: Json,
    /// Hash of the uid and the entity's text (see [`Row::from_text`]).
    pub hash: u128,
}

fn hash_of(uid: &str, text: &[u8]) -> u128 {
    let mut h = Sha256::new();
    h.update(uid.as_bytes());
    h.update([0]);
    h.update(text);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

impl Row {
    /// A row from the entity's JSON text as the source keeps it (PostgreSQL
    /// gives `jsonb` in one normal form, so equal content is equal text on
    /// every sidecar); the hash is of that text, not re-serialised.
    pub fn from_text(uid: String, text: &str) -> Result<Row, String> {
        let entity = serde_json::from_str(text).map_err(|e| format!("{uid}: not JSON: {e}"))?;
        let hash = hash_of(&uid, text.as_bytes());
        Ok(Row { uid, entity, hash })
    }

    /// A row from a JSON value (hashed as serialised).
    pub fn from_value(uid: String, entity: Json) -> Row {
        let hash = hash_of(&uid, entity.to_string().as_bytes());
        Row { uid, entity, hash }
    }
}

/// How a source is doing, for `/metrics` and `/readyz`. Shared between the
/// follower and the server.
#[derive(Debug, Default)]
pub struct SourceHealth {
    up: AtomicBool,
    synced_once: AtomicBool,
    /// Unix time (ms) when the source was last known to be read in full
    /// (a sync, or a heartbeat with nothing pending).
    last_sync_ms: AtomicU64,
    reconnects: AtomicU64,
    changes: AtomicU64,
    rejected_rows: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// What the source is, for messages (the URL without its password).
    name: Mutex<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A snapshot of [`SourceHealth`].
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// The source, e.g. `postgres://teamgate@db:5432/app`.
    pub source: String,
    /// Connected and following.
    pub up: bool,
    /// Read in full at least once since start.
    pub synced: bool,
    /// Seconds since the data was last known to match the source.
    pub stale_seconds: Option<f64>,
    /// Connections lost and made again.
    pub reconnects: u64,
    /// Changes applied from the source.
    pub changes: u64,
    /// Rows the integrity rules refuse, kept aside.
    pub rejected_rows: u64,
    /// The last connection or read error.
    pub last_error: Option<String>,
}

impl SourceHealth {
    /// A health record for a source called `name`.
    pub fn new(name: impl Into<String>) -> Arc<SourceHealth> {
        let h = SourceHealth::default();
        *h.name.lock().unwrap_or_else(|e| e.into_inner()) = name.into();
        Arc::new(h)
    }

    /// The source is read: the served data matches it as of now.
    pub fn synced(&self) {
        self.up.store(true, Ordering::Relaxed);
        self.synced_once.store(true, Ordering::Relaxed);
        self.last_sync_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The connection is lost (or could not be made).
    pub fn down(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
    }

    fn applied(&self, n: u64, rejected: usize) {
        self.changes.fetch_add(n, Ordering::Relaxed);
        self.rejected_rows.store(rejected as u64, Ordering::Relaxed);
    }

    /// Now.
    pub fn status(&self) -> SourceStatus {
        let last = self.last_sync_ms.load(Ordering::Relaxed);
        SourceStatus {
            source: self.name.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            up: self.up.load(Ordering::Relaxed),
            synced: self.synced_once.load(Ordering::Relaxed),
            stale_seconds: (last > 0).then(|| now_ms().saturating_sub(last) as f64 / 1000.0),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            rejected_rows: self.rejected_rows.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Rows put in (new or changed).
    pub upserted: usize,
    /// Rows taken out.
    pub deleted: usize,
    /// Rows refused, with why (kept aside, retried with later changes).
    pub rejected: Vec<(String, String)>,
    /// Time to check and apply.
    pub micros: u128,
}

enum Item {
    Upsert(Row),
    Delete(String),
}

impl Item {
    fn uid(&self) -> &str {
        match self {
            Item::Upsert(r) => &r.uid,
            Item::Delete(u) => u,
        }
    }
}

/// Applies a source's rows to a store; see the module documentation.
pub struct Follower {
    store: Arc<Store>,
    health: Arc<SourceHealth>,
    label: String,
    /// uid -> hash of the row as applied.
    accepted: HashMap<String, u128>,
    sum: u128,
    /// Rows refused, by uid, with why.
    pending: BTreeMap<String, String>,
}

/// A read of rows or a change failed in a way that stops the sync (the
/// journal cannot write); the data stays as it was.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(pub String);

impl Follower {
    /// A follower that applies to `store`, naming the source `label` in
    /// problems.
    pub fn new(store: Arc<Store>, health: Arc<SourceHealth>, label: impl Into<String>) -> Self {
        Follower {
            store,
            health,
            label: label.into(),
            accepted: HashMap::new(),
            sum: 0,
            pending: BTreeMap::new(),
        }
    }

    /// The uids of rows refused so far (a re-read includes them).
    pub fn pending(&self) -> Vec<String> {
        self.pending.keys().cloned().collect()
    }

    /// The content version of the rows applied: the same for the same
    /// content, on every sidecar.
    pub fn content_version(&self) -> String {
        version_of(self.sum, self.accepted.len())
    }

    /// Everything in the source, read in one consistent snapshot: the
    /// served data becomes exactly these rows (less those refused).
    pub fn full_sync(&mut self, rows: Vec<Row>) -> Result<SyncReport, SyncError> {
        self.sync(rows, |me, rows, report| {
            if me.accepted.is_empty() {
                // The first read replaces whatever served before (the
                // bundle's entity files, or data from an earlier run).
                return me.replace_all(rows, report);
            }
            let present: std::collections::HashSet<&str> =
                rows.iter().map(|r| r.uid.as_str()).collect();
            let mut items: Vec<Item> = me
                .accepted
                .keys()
                .filter(|u| !present.contains(u.as_str()))
                .map(|u| Item::Delete(u.clone()))
                .collect();
            me.pending.retain(|u, _| present.contains(u.as_str()));
            items.extend(
                rows.into_iter()
                    .filter(|row| me.accepted.get(&row.uid) != Some(&row.hash))
                    .map(Item::Upsert),
            );
            me.apply_items(items, report)
        })
    }

    /// A re-read of the rows `asked` (changed in the source): those found
    /// are put in, those missing taken out.
    pub fn partial_sync(
        &mut self,
        asked: &[String],
        rows: Vec<Row>,
    ) -> Result<SyncReport, SyncError> {
        self.sync(rows, |me, rows, report| {
            let found: std::collections::HashSet<&str> =
                rows.iter().map(|r| r.uid.as_str()).collect();
            let mut items = Vec::new();
            for uid in asked.iter().filter(|u| !found.contains(u.as_str())) {
                me.pending.remove(uid);
                if me.accepted.contains_key(uid) || me.stored(uid) {
                    items.push(Item::Delete(uid.clone()));
                }
            }
            items.extend(
                rows.into_iter()
                    .filter(|row| {
                        me.accepted.get(&row.uid) != Some(&row.hash)
                            || me.pending.contains_key(&row.uid)
                    })
                    .map(Item::Upsert),
            );
            me.apply_items(items, report)
        })
    }

    /// Checks the rows' uids, lets `apply` apply the good ones, and reports.
    fn sync(
        &mut self,
        rows: Vec<Row>,
        apply: impl FnOnce(&mut Self, Vec<Row>, &mut SyncReport) -> Result<(), SyncError>,
    ) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let mut report = SyncReport::default();
        let (rows, bad) = checked(rows);
        self.reject(&mut report, bad);
        apply(self, rows, &mut report)?;
        report.micros = started.elapsed().as_micros();
        let changed = report.upserted + report.deleted > 0;
        self.health.applied(u64::from(changed), self.pending.len());
        // The rows read are freed: give their pages back (glibc).
        crate::bundle::release_free_memory();
        Ok(report)
    }

    fn stored(&self, uid: &str) -> bool {
        crate::parse_uid(crate::Field::Resource, uid)
            .map(|u| self.store.snapshot().contains(&u, None))
            .unwrap_or(false)
    }

    fn reject(&mut self, report: &mut SyncReport, bad: Vec<(String, String)>) {
        for (uid, why) in bad {
            tracing::warn!(target: "teamgate::source", "{}: row {uid} refused: {why}", self.label);
            self.pending.insert(uid.clone(), why.clone());
            report.rejected.push((uid, why));
        }
    }

    /// The first read: a replacement of all data. A refused replacement
    /// drops the rows its problems name (kept aside) and tries again.
    fn replace_all(&mut self, rows: Vec<Row>, report: &mut SyncReport) -> Result<(), SyncError> {
        // The entities move into the change; uids and hashes stay here.
        let mut keys: Vec<(String, u128)> = rows.iter().map(|r| (r.uid.clone(), r.hash)).collect();
        let mut entities: Vec<Json> = rows.into_iter().map(|r| r.entity).collect();
        for _round in 0..64 {
            let sum = keys.iter().fold(0u128, |a, (_, h)| a.wrapping_add(*h));
            let version = version_of(sum, keys.len());
            let change = Change::replace(entities);
            let refused = match self.store.apply_from_source(&change, &version, &self.label) {
                Ok(_) => {
                    for (uid, _) in &keys {
                        self.pending.remove(uid);
                    }
                    report.upserted += keys.len();
                    self.accepted = keys.into_iter().collect();
                    self.sum = sum;
                    return Ok(());
                }
                Err(UpdateError::Invalid(e)) => e,
                Err(other) => return Err(SyncError(other.to_string())),
            };
            let named: BTreeMap<String, String> = refused
                .problems()
                .iter()
                .filter_map(|p| p.entity().map(|u| (u.to_string(), p.to_string())))
                .collect();
            let before = keys.len();
            (keys, entities) = keys
                .into_iter()
                .zip(change.into_upserts())
                .filter(|((uid, _), _)| !named.contains_key(uid))
                .unzip();
            if keys.len() == before {
                // Nothing to drop: the data as a whole is refused (e.g. no
                // default project role). Keep serving what serves.
                let why: Vec<String> = refused.problems().iter().map(|p| p.to_string()).collect();
                return Err(SyncError(format!(
                    "{}: the source's data is refused as a whole: {}",
                    self.label,
                    why.join("; ")
                )));
            }
            self.reject(report, named.into_iter().collect());
        }
        Err(SyncError(format!(
            "{}: too many refused rows to apply the source",
            self.label
        )))
    }

    /// Applies items as one change; if refused, one by one until nothing
    /// more applies (an order the checks accept), the rest kept aside.
    fn apply_items(&mut self, items: Vec<Item>, report: &mut SyncReport) -> Result<(), SyncError> {
        if items.is_empty() {
            return Ok(());
        }
        match self.try_apply(&items) {
            Ok(()) => {
                self.commit(items, report);
                return Ok(());
            }
            Err(ApplyError::Refused(_)) if items.len() > 1 => {}
            Err(ApplyError::Refused(why)) => {
                let uid = items[0].uid().to_string();
                self.reject(report, vec![(uid, why)]);
                return Ok(());
            }
            Err(ApplyError::Fatal(e)) => return Err(e),
        }
        let mut remaining = items;
        loop {
            let mut progress = false;
            let mut still = Vec::new();
            let mut reasons = Vec::new();
            for item in remaining {
                match self.try_apply(std::slice::from_ref(&item)) {
                    Ok(()) => {
                        self.commit(vec![item], report);
                        progress = true;
                    }
                    Err(ApplyError::Refused(why)) => {
                        reasons.push((item.uid().to_string(), why));
                        still.push(item);
                    }
                    Err(ApplyError::Fatal(e)) => return Err(e),
                }
            }
            remaining = still;
            if remaining.is_empty() {
                return Ok(());
            }
            if !progress {
                self.reject(report, reasons);
                return Ok(());
            }
        }
    }

    fn next_sum(&self, items: &[Item]) -> (u128, usize) {
        let mut sum = self.sum;
        let mut count = self.accepted.len() as i64;
        for item in items {
            if let Some(old) = self.accepted.get(item.uid()) {
                sum = sum.wrapping_sub(*old);
                count -= 1;
            }
            if let Item::Upsert(r) = item {
                sum = sum.wrapping_add(r.hash);
                count += 1;
            }
        }
        (sum, count.max(0) as usize)
    }

    fn try_apply(&self, items: &[Item]) -> Result<(), ApplyError> {
        let (sum, count) = self.next_sum(items);
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for item in items {
            match item {
                Item::Upsert(r) => upserts.push(r.entity.clone()),
                Item::Delete(uid) => match crate::parse_uid(crate::Field::Resource, uid) {
                    Ok(u) => deletes.push(EntityRef {
                        type_name: u.type_name().to_string(),
                        id: u.id().unescaped().to_string(),
                    }),
                    Err(e) => return Err(ApplyError::Refused(e.to_string())),
                },
            }
        }
        let change = Change::upsert_and_delete(upserts, deletes);
        match self
            .store
            .apply_from_source(&change, &version_of(sum, count), &self.label)
        {
            Ok(_) => Ok(()),
            Err(UpdateError::Invalid(e)) => {
                let why: Vec<String> = e.problems().iter().map(Problem::to_string).collect();
                Err(ApplyError::Refused(why.join("; ")))
            }
            Err(other) => Err(ApplyError::Fatal(SyncError(other.to_string()))),
        }
    }

    fn commit(&mut self, items: Vec<Item>, report: &mut SyncReport) {
        let (sum, _) = self.next_sum(&items);
        self.sum = sum;
        for item in items {
            match item {
                Item::Upsert(r) => {
                    self.pending.remove(&r.uid);
                    self.accepted.insert(r.uid, r.hash);
                    report.upserted += 1;
                }
                Item::Delete(uid) => {
                    self.pending.remove(&uid);
                    self.accepted.remove(&uid);
                    report.deleted += 1;
                }
            }
        }
    }
}

enum ApplyError {
    Refused(String),
    Fatal(SyncError),
}

fn version_of(sum: u128, count: usize) -> String {
    format!("source:{sum:032x}:{count}")
}

/// Rows whose entity JSON is an object naming the row's own uid, and the
/// others with why they are refused.
fn checked(rows: Vec<Row>) -> (Vec<Row>, Vec<(String, String)>) {
    let mut good = Vec::with_capacity(rows.len());
    let mut bad = Vec::new();
    for row in rows {
        match uid_matches(&row) {
            Ok(()) => good.push(row),
            Err(why) => bad.push((row.uid, why)),
        }
    }
    (good, bad)
}

fn uid_matches(row: &Row) -> Result<(), String> {
    let want = crate::parse_uid(crate::Field::Resource, &row.uid)
        .map_err(|e| format!("the uid column is not an entity uid: {e}"))?;
    let uid = row.entity.get("uid").ok_or("the entity has no \"uid\"")?;
    let uid = uid.get("__entity").unwrap_or(uid);
    let (t, id) = (
        uid.get("type").and_then(Json::as_str),
        uid.get("id").and_then(Json::as_str),
    );
    match (t, id) {
        (Some(t), Some(id)) if t == want.type_name().to_string() && id == want.id().unescaped() => {
            Ok(())
        }
        (Some(t), Some(id)) => Err(format!(
            "the entity's uid {t}::{id:?} is not the row's uid {}",
            row.uid
        )),
        _ => Err("the entity's \"uid\" is not {\"type\": ..., \"id\": ...}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_hash_is_of_the_text_and_the_uid() {
        let text = r#"{"uid": {"type": "User", "id": "a"}, "attrs": {"x": 1}}"#;
        let a = Row::from_text("User::\"a\"".into(), text).expect("row");
        assert_eq!(
            a.hash,
            Row::from_text(a.uid.clone(), text).expect("row").hash
        );
        let b = Row::from_text("User::\"a\"".into(), &text.replace('1', "2")).expect("row");
        assert_ne!(a.hash, b.hash);
        let c = Row::from_text("User::\"b\"".into(), text).expect("row");
        assert_ne!(a.hash, c.hash);
        assert!(Row::from_text("User::\"a\"".into(), "{").is_err());
    }

    #[test]
    fn a_row_must_name_its_own_uid() {
        let entity = serde_json::json!({"uid": {"type": "User", "id": "a"}});
        let ok = Row::from_value("User::\"a\"".into(), entity.clone());
        assert!(uid_matches(&ok).is_ok());
        let other = Row::from_value("User::\"b\"".into(), entity.clone());
        assert!(uid_matches(&other)
            .unwrap_err()
            .contains("not the row's uid"));
        let junk = Row::from_value("not a uid".into(), entity);
        assert!(uid_matches(&junk).is_err());
    }
}
