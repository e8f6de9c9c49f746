//! PostgreSQL as the entity source: the table `teamgate_entities (uid text
//! primary key, entity jsonb not null)`, a trigger that sends each changed
//! uid on the channel `teamgate_entities`, and a follower that reads the
//! table in one consistent snapshot, then re-reads what each notification
//! names, in one transaction, and applies it to the store.
//!
//! A lost connection is retried with backoff while the last data keeps
//! serving; after reconnecting (LISTEN first) the table is read in full
//! again, so no notification lost in between loses a change.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, IsolationLevel, NoTls};

use super::{Follower, Row, SourceHealth};
use crate::Store;

/// The table.
pub const TABLE: &str = "teamgate_entities";
/// The notification channel.
pub const CHANNEL: &str = "teamgate_entities";

/// The table, its primary-key index and the notifying triggers; safe to
/// run again (`teamgate db init`).
pub const SCHEMA_SQL: &str = r#"
CREATE TABLE IF NOT EXISTS teamgate_entities (
  uid    text PRIMARY KEY,          -- Cedar form: User::"bob"
  entity jsonb NOT NULL             -- Cedar entity JSON: {"uid", "attrs", "parents"}
);
CREATE OR REPLACE FUNCTION teamgate_entities_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('teamgate_entities', OLD.uid);
  ELSE
    PERFORM pg_notify('teamgate_entities', NEW.uid);
    IF TG_OP = 'UPDATE' AND OLD.uid IS DISTINCT FROM NEW.uid THEN
      PERFORM pg_notify('teamgate_entities', OLD.uid);
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION teamgate_entities_notify_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('teamgate_entities', '*');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS teamgate_entities_notify ON teamgate_entities;
CREATE TRIGGER teamgate_entities_notify
  AFTER INSERT OR UPDATE OR DELETE ON teamgate_entities
  FOR EACH ROW EXECUTE FUNCTION teamgate_entities_notify();
DROP TRIGGER IF EXISTS teamgate_entities_truncate ON teamgate_entities;
CREATE TRIGGER teamgate_entities_truncate
  AFTER TRUNCATE ON teamgate_entities
  FOR EACH STATEMENT EXECUTE FUNCTION teamgate_entities_notify_all();
"#;

/// How the follower behaves.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// First wait after a lost connection; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// With no notification for this long, a `SELECT 1` proves the
    /// connection alive (and the data current).
    pub heartbeat: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// The URL without its password, for messages and metrics.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Connects, with the connection driven by a task that forwards
/// notifications (the sender closes when the connection ends).
async fn connect(url: &str) -> Result<(Client, mpsc::UnboundedReceiver<String>), String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    config
        .application_name("teamgate")
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5));
    let (client, mut connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "teamgate::source", "connection ended: {e}");
                    break;
                }
            }
        }
    });
    Ok((client, rx))
}

fn rows_of(found: Vec<tokio_postgres::Row>) -> Result<Vec<Row>, String> {
    // `entity::text`: hashed as PostgreSQL writes it (one normal form for jsonb).
    found
        .into_iter()
        .map(|r| {
            let uid = r.try_get::<_, String>(0).map_err(|e| e.to_string())?;
            let text = r.try_get::<_, &str>(1).map_err(|e| e.to_string())?;
            Row::from_text(uid, text)
        })
        .collect()
}

/// Every row, in one repeatable-read snapshot.
pub async fn read_all(client: &mut Client) -> Result<Vec<Row>, String> {
    read(
        client,
        &format!("SELECT uid, entity::text FROM {TABLE}"),
        &[],
    )
    .await
}

/// The rows of these uids (those that exist), in one transaction.
pub async fn read_some(client: &mut Client, uids: &[String]) -> Result<Vec<Row>, String> {
    let sql = format!("SELECT uid, entity::text FROM {TABLE} WHERE uid = ANY($1)");
    read(client, &sql, &[&uids]).await
}

/// The rows a query selects, in one read-only repeatable-read transaction.
async fn read(
    client: &mut Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, String> {
    let failed = |e: tokio_postgres::Error| format!("cannot read {TABLE}: {e}");
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(failed)?;
    let found = tx.query(sql, params).await.map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    rows_of(found)
}

/// Every row of the table, read over a connection of its own (`teamgate db
/// load` checks the table with the files it adds).
pub async fn read_table(url: &str) -> Result<Vec<Row>, String> {
    let (mut client, _rx) = connect(url).await?;
    read_all(&mut client)
        .await
        .map_err(|e| format!("{e} (did `teamgate db init` run?)"))
}

/// Creates the table, index and triggers (idempotent).
pub async fn init(url: &str) -> Result<(), String> {
    let (client, _rx) = connect(url).await?;
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .map_err(|e| format!("cannot create {TABLE}: {e}"))
}

/// Puts entities into the table in one transaction (each row replaced by
/// uid); returns how many.
pub async fn load(url: &str, rows: &[Row]) -> Result<usize, String> {
    let (mut client, _rx) = connect(url).await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| format!("cannot load: {e}"))?;
    // In chunks of rows, each one statement over arrays (far fewer round
    // trips than a statement per row).
    let statement = tx
        .prepare(&format!(
            "INSERT INTO {TABLE} (uid, entity) SELECT * FROM unnest($1::text[], $2::jsonb[]) \
             ON CONFLICT (uid) DO UPDATE SET entity = EXCLUDED.entity"
        ))
        .await
        .map_err(|e| format!("cannot load (did `teamgate db init` run?): {e}"))?;
    for chunk in rows.chunks(5_000) {
        let uids: Vec<&str> = chunk.iter().map(|r| r.uid.as_str()).collect();
        let entities: Vec<&serde_json::Value> = chunk.iter().map(|r| &r.entity).collect();
        tx.execute(&statement, &[&uids, &entities])
            .await
            .map_err(|e| format!("cannot load: {e}"))?;
    }
    tx.commit()
        .await
        .map_err(|e| format!("cannot commit the load: {e}"))?;
    Ok(rows.len())
}

/// Follows the table for ever (until the runtime stops): spawn it.
pub async fn follow(
    url: String,
    store: Arc<Store>,
    health: Arc<SourceHealth>,
    options: FollowOptions,
) {
    let label = redact(&url);
    let mut follower = Follower::new(store, health.clone(), label.clone());
    let mut backoff = options.min_backoff;
    loop {
        let synced = session(&url, &mut follower, &health, &options).await;
        let why = match synced {
            Ok(()) => "connection closed".to_string(),
            Err(e) => e,
        };
        let status = health.status();
        if status.synced && status.up {
            backoff = options.min_backoff;
        }
        health.down(&why);
        let serving = if status.synced {
            "the last data keeps serving; "
        } else {
            ""
        };
        tracing::warn!(target: "teamgate::source", "{label}: {why}; {serving}retrying in {} ms", backoff.as_millis());
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

/// One connection: LISTEN, a full read, then changes as notified.
async fn session(
    url: &str,
    follower: &mut Follower,
    health: &SourceHealth,
    options: &FollowOptions,
) -> Result<(), String> {
    let (mut client, mut rx) = connect(url).await?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let rows = read_all(&mut client).await?;
    let report = tokio::task::block_in_place(|| follower.full_sync(rows)).map_err(|e| e.0)?;
    health.synced();
    tracing::info!(
        target: "teamgate::source",
        "{}: read in full: {} put, {} taken out, {} refused ({} µs)",
        redact(url), report.upserted, report.deleted, report.rejected.len(), report.micros
    );
    loop {
        let first = match tokio::time::timeout(options.heartbeat, rx.recv()).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err("the connection ended".into()),
            Err(_) => {
                // Quiet: prove the connection alive; nothing is pending.
                tokio::time::timeout(options.heartbeat, client.simple_query("SELECT 1"))
                    .await
                    .map_err(|_| "the database did not answer the heartbeat".to_string())?
                    .map_err(|e| format!("heartbeat failed: {e}"))?;
                health.synced();
                continue;
            }
        };
        let mut uids: BTreeSet<String> = BTreeSet::new();
        let mut everything = false;
        for payload in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            if payload == "*" {
                everything = true;
            } else {
                uids.insert(payload);
            }
        }
        if everything {
            let rows = read_all(&mut client).await?;
            tokio::task::block_in_place(|| follower.full_sync(rows)).map_err(|e| e.0)?;
        } else {
            uids.extend(follower.pending());
            let asked: Vec<String> = uids.into_iter().collect();
            let rows = read_some(&mut client, &asked).await?;
            let report = tokio::task::block_in_place(|| follower.partial_sync(&asked, rows))
                .map_err(|e| e.0)?;
            tracing::debug!(
                target: "teamgate::source",
                "{} rows changed: {} put, {} taken out, {} refused ({} µs)",
                asked.len(), report.upserted, report.deleted, report.rejected.len(), report.micros
            );
        }
        health.synced();
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("host=db user=app"), "host=db user=app");
    }
}
