//! The journal: changes made through the data API, kept durable in an
//! embedded database ([redb](https://docs.rs/redb)) as their net effect over
//! the bundle's entity files, so that it stays as large as the changed
//! entities, however many changes were made.
//!
//! Each accepted change is committed (and synced to disk) before its
//! snapshot serves, so an answered change survives a crash. On start, and
//! after the entity files are reloaded, the recorded net change is applied
//! over the files' data: files first, then the journal.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::{json, Value as Json};

use crate::bundle::{Change, EntityRef};
use crate::error::Problem;

/// Entity uid (`Type::"id"`) -> `{"entity": <Cedar entity JSON>}` or
/// `{"deleted": {"type", "id"}}`.
const ENTITIES: TableDefinition<&str, &str> = TableDefinition::new("entities");
/// `replace` ("true" when the entities replace the files' data), `digest`
/// (chain hash of every change), `changes` (how many).
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Page cache of the journal's database.
const JOURNAL_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The net change recorded over the entity files.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Upserts and deletes (or a replacement) to apply over the files' data.
    pub change: Change,
    /// Chain hash of every change made.
    pub digest: String,
    /// How many changes were made.
    pub changes: u64,
}

/// The durable record of data API changes.
pub struct Journal {
    db: redb::Database,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn problem(path: &Path, what: &str, e: impl std::fmt::Display) -> Problem {
    Problem::in_file(path, format!("data store: {what}: {e}"))
}

impl Journal {
    /// Opens the journal at `path`, creating it (and its directory) if needed.
    pub fn open(path: &Path) -> Result<Journal, Problem> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| problem(path, "cannot create its directory", e))?;
        }
        // redb caches up to 1 GiB of pages by default; the journal is read
        // once at start and written in small transactions, so a small
        // cache costs nothing and keeps a large first write (a followed
        // database's whole data) from staying in memory.
        let db = redb::Builder::new()
            .set_cache_size(JOURNAL_CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => problem(
                    path,
                    "cannot open",
                    "another process (a running `teamgate serve`?) has it open",
                ),
                e => problem(path, "cannot open", e),
            })?;
        Ok(Journal {
            db,
            path: path.to_path_buf(),
        })
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> Problem {
        problem(&self.path, what, e)
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The net change recorded, `None` when no change was ever made.
    pub fn recorded(&self) -> Result<Option<Recorded>, Problem> {
        let tx = self
            .db
            .begin_read()
            .map_err(|e| self.fail("cannot read", e))?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.fail("cannot read", e)),
        };
        let get = |k: &str| -> Result<Option<String>, Problem> {
            Ok(meta
                .get(k)
                .map_err(|e| self.fail("cannot read", e))?
                .map(|v| v.value().to_string()))
        };
        let changes: u64 = match get("changes")? {
            None => return Ok(None),
            Some(n) => n
                .parse()
                .map_err(|e| self.fail("corrupt change count", e))?,
        };
        let digest = get("digest")?.unwrap_or_default();
        let replace = get("replace")?.as_deref() == Some("true");
        let table = tx
            .open_table(ENTITIES)
            .map_err(|e| self.fail("cannot read", e))?;
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for row in table.iter().map_err(|e| self.fail("cannot read", e))? {
            let (k, v) = row.map_err(|e| self.fail("cannot read", e))?;
            let mut value: Json = serde_json::from_str(v.value())
                .map_err(|e| self.fail(&format!("corrupt row {}", k.value()), &e))?;
            if let Some(entity) = value.get_mut("entity") {
                upserts.push(entity.take());
            } else if let Some(uid) = value.get("deleted") {
                let r: EntityRef = serde_json::from_value(uid.clone())
                    .map_err(|e| self.fail(&format!("corrupt row {}", k.value()), &e))?;
                deletes.push(r);
            }
        }
        let change = if replace {
            Change::replace(upserts)
        } else {
            Change::upsert_and_delete(upserts, deletes)
        };
        Ok(Some(Recorded {
            change,
            digest,
            changes,
        }))
    }

    /// Whether the recorded data replaces the entity files' (a `PUT
    /// /v1/data`, or a database followed), read from the metadata alone.
    pub fn replaces_files(&self) -> bool {
        let Ok(tx) = self.db.begin_read() else {
            return false;
        };
        let Ok(meta) = tx.open_table(META) else {
            return false;
        };
        meta.get("replace")
            .ok()
            .flatten()
            .is_some_and(|v| v.value() == "true")
    }

    /// Records an accepted change (already checked) in one durable
    /// transaction: its entities, and the new digest and count.
    pub fn record(&self, change: &Change, digest: &str, changes: u64) -> Result<(), Problem> {
        let tx = self
            .db
            .begin_write()
            .map_err(|e| self.fail("cannot write", e))?;
        {
            let mut meta = tx
                .open_table(META)
                .map_err(|e| self.fail("cannot write", e))?;
            let replaced = change.replaces_all()
                || meta
                    .get("replace")
                    .map_err(|e| self.fail("cannot read", e))?
                    .is_some_and(|v| v.value() == "true");
            if change.replaces_all() {
                tx.delete_table(ENTITIES)
                    .map_err(|e| self.fail("cannot write", e))?;
            }
            let mut table = tx
                .open_table(ENTITIES)
                .map_err(|e| self.fail("cannot write", e))?;
            for e in change.upserts() {
                let Some(key) = uid_key_of_json(e) else {
                    return Err(self.fail("cannot record", "an entity without a uid"));
                };
                let row = json!({ "entity": e }).to_string();
                table
                    .insert(key.as_str(), row.as_str())
                    .map_err(|e| self.fail("cannot write", e))?;
            }
            for r in change.deletes() {
                let key = uid_key(&r.type_name, &r.id);
                if replaced {
                    // The stored entities are the whole data: just drop it.
                    table
                        .remove(key.as_str())
                        .map_err(|e| self.fail("cannot write", e))?;
                } else {
                    let row = json!({ "deleted": r }).to_string();
                    table
                        .insert(key.as_str(), row.as_str())
                        .map_err(|e| self.fail("cannot write", e))?;
                }
            }
            let count = changes.to_string();
            for (k, v) in [
                ("replace", if replaced { "true" } else { "false" }),
                ("digest", digest),
                ("changes", count.as_str()),
            ] {
                meta.insert(k, v)
                    .map_err(|e| self.fail("cannot write", e))?;
            }
        }
        tx.commit().map_err(|e| self.fail("cannot commit", e))
    }

    /// Forgets every recorded change: the entity files' data serves alone again.
    pub fn clear(&self) -> Result<(), Problem> {
        let tx = self
            .db
            .begin_write()
            .map_err(|e| self.fail("cannot write", e))?;
        tx.delete_table(ENTITIES)
            .map_err(|e| self.fail("cannot write", e))?;
        tx.delete_table(META)
            .map_err(|e| self.fail("cannot write", e))?;
        tx.commit().map_err(|e| self.fail("cannot commit", e))
    }
}

/// The journal's key of an entity: its uid in Cedar's form.
fn uid_key(type_name: &str, id: &str) -> String {
    format!("{type_name}::{}", Json::String(id.to_string()))
}

fn uid_key_of_json(e: &Json) -> Option<String> {
    let uid = e.get("uid")?;
    let uid = uid.get("__entity").unwrap_or(uid);
    Some(uid_key(
        uid.get("type")?.as_str()?,
        uid.get("id")?.as_str()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Json {
        json!({"uid": {"type": "User", "id": id}, "attrs": {}, "parents": []})
    }

    #[test]
    fn keeps_the_net_effect_of_changes_across_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data.redb");
        {
            let j = Journal::open(&path).expect("opens");
            assert_eq!(j.recorded().expect("reads"), None);
            j.record(&Change::upsert(vec![user("a"), user("b")]), "d1", 1)
                .expect("records");
            let gone = EntityRef {
                type_name: "User".into(),
                id: "a".into(),
            };
            j.record(&Change::delete(vec![gone]), "d2", 2)
                .expect("records");
        }
        let j = Journal::open(&path).expect("reopens");
        let r = j.recorded().expect("reads").expect("has changes");
        assert_eq!((r.digest.as_str(), r.changes), ("d2", 2));
        assert!(!r.change.replaces_all());
        assert_eq!(r.change.upserts(), &[user("b")]);
        assert_eq!(r.change.deletes().len(), 1);
        // A replacement drops what was recorded before it; a delete after it
        // just removes the entity.
        j.record(&Change::replace(vec![user("c"), user("d")]), "d3", 3)
            .expect("records");
        let gone = EntityRef {
            type_name: "User".into(),
            id: "d".into(),
        };
        j.record(&Change::delete(vec![gone]), "d4", 4)
            .expect("records");
        let r = j.recorded().expect("reads").expect("has changes");
        assert!(r.change.replaces_all());
        assert_eq!(r.change.upserts(), &[user("c")]);
        assert!(r.change.deletes().is_empty());
        j.clear().expect("clears");
        assert_eq!(j.recorded().expect("reads"), None);
    }
}
