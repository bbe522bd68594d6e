//! The registry's durable state in SQLite (WAL): routes with a revision,
//! the versions each holds, an audit row for every change, and the
//! responses of idempotent rollbacks. Every change is one transaction with
//! its audit row, so a crash loses nothing acknowledged and never leaves a
//! change without its audit row (or the reverse).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::scenario::{Candidate, ChangeType};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("route `{0}` does not exist")]
    NoRoute(String),
    #[error("route `{route}` is at revision {current}, not {given}: re-read it and retry")]
    Stale {
        route: String,
        current: u64,
        given: u64,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("state file: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("state file holds bad JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRecord {
    pub route: String,
    pub change: ChangeType,
    pub revision: u64,
    pub candidates: Vec<Candidate>,
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: u64,
    pub at: String,
    pub actor: String,
    pub route: String,
    pub revision: u64,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
    pub reason: String,
}

pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS routes (
    name TEXT PRIMARY KEY,
    change TEXT NOT NULL,
    revision INTEGER NOT NULL,
    candidates TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    route TEXT NOT NULL,
    version TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (route, version)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    route TEXT NOT NULL,
    revision INTEGER NOT NULL,
    from_json TEXT NOT NULL,
    to_json TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL
);
";

fn check_weights(candidates: &[Candidate]) -> Result<(), StoreError> {
    if candidates.is_empty() {
        return Err(StoreError::Invalid(
            "`candidates` is empty: a route needs at least one".into(),
        ));
    }
    if let Some(c) = candidates
        .iter()
        .find(|c| !(0.0..=100.0).contains(&c.weight))
    {
        return Err(StoreError::Invalid(format!(
            "weight {} of `{}` is outside 0 to 100",
            c.weight, c.version
        )));
    }
    let sum: f64 = candidates.iter().map(|c| c.weight).sum();
    if (sum - 100.0).abs() > 1e-6 {
        return Err(StoreError::Invalid(format!(
            "weights sum to {sum}, expected 100"
        )));
    }
    Ok(())
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every `/v1/complete` request reads its route: the statements are
    /// prepared once per connection, not parsed again per request.
    fn read_route(conn: &Connection, name: &str) -> Result<Option<RouteRecord>, StoreError> {
        let row: Option<(String, i64, String)> = conn
            .prepare_cached("SELECT change, revision, candidates FROM routes WHERE name = ?1")?
            .query_row(params![name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((change, revision, candidates)) = row else {
            return Ok(None);
        };
        let mut stmt =
            conn.prepare_cached("SELECT version FROM versions WHERE route = ?1 ORDER BY seq")?;
        let versions = stmt
            .query_map(params![name], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(RouteRecord {
            route: name.to_string(),
            change: change.parse().map_err(|e: String| StoreError::Invalid(e))?,
            revision: revision as u64,
            candidates: serde_json::from_str(&candidates)?,
            versions,
        }))
    }

    pub fn route(&self, name: &str) -> Result<Option<RouteRecord>, StoreError> {
        Self::read_route(&self.conn(), name)
    }

    pub fn routes(&self) -> Result<Vec<RouteRecord>, StoreError> {
        let conn = self.conn();
        let names: Vec<String> = conn
            .prepare("SELECT name FROM routes ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        names
            .iter()
            .filter_map(|n| Self::read_route(&conn, n).transpose())
            .collect()
    }

    /// Replaces a route's candidates if it is still at `revision`
    /// (revision 0 with a `change` creates the route). All or nothing.
    pub fn put_route(
        &self,
        name: &str,
        revision: u64,
        change: Option<ChangeType>,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<RouteRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let record = Self::put_in(&tx, name, Some(revision), change, candidates, actor, reason)?;
        tx.commit()?;
        Ok(record)
    }

    /// A rollback: the target takes 100%. With an idempotency key the
    /// lookup, the change and the remembered answer are one transaction, so
    /// a retry (even after a crash) never applies a second change.
    #[allow(clippy::too_many_arguments)]
    pub fn rollback(
        &self,
        name: &str,
        revision: Option<u64>,
        target: &str,
        actor: &str,
        reason: &str,
        key: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(key) = key {
            let stored: Option<String> = tx
                .query_row(
                    "SELECT response FROM idempotency WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(stored) = stored {
                return Ok(stored);
            }
        }
        let current =
            Self::read_route(&tx, name)?.ok_or_else(|| StoreError::NoRoute(name.to_string()))?;
        let id = current
            .candidates
            .iter()
            .find(|c| c.version == target)
            .map_or_else(|| format!("{name}:{target}"), |c| c.id.clone());
        let to = vec![Candidate {
            id,
            version: target.to_string(),
            weight: 100.0,
        }];
        let record = Self::put_in(&tx, name, revision, None, to, actor, reason)?;
        let response = serde_json::to_string(&record)?;
        if let Some(key) = key {
            tx.execute(
                "INSERT INTO idempotency (key, response) VALUES (?1, ?2)",
                params![key, response],
            )?;
        }
        tx.commit()?;
        Ok(response)
    }

    /// Replaces a route's candidates inside `tx` if it is at `revision`
    /// (`None`: whatever it is at now).
    fn put_in(
        tx: &Connection,
        name: &str,
        revision: Option<u64>,
        change: Option<ChangeType>,
        candidates: Vec<Candidate>,
        actor: &str,
        reason: &str,
    ) -> Result<RouteRecord, StoreError> {
        check_weights(&candidates)?;
        let current = Self::read_route(tx, name)?;
        let revision = revision.unwrap_or_else(|| current.as_ref().map_or(0, |r| r.revision));
        let (from, next_revision, change) = match (&current, revision, change) {
            (None, 0, Some(change)) => (serde_json::Value::Null, 1, change),
            (None, 0, None) => {
                return Err(StoreError::Invalid(format!(
                    "route `{name}` does not exist yet: create it with revision 0 and a `change` type"
                )));
            }
            (None, _, _) => return Err(StoreError::NoRoute(name.to_string())),
            (Some(r), given, _) if r.revision != given => {
                return Err(StoreError::Stale {
                    route: name.to_string(),
                    current: r.revision,
                    given,
                });
            }
            (Some(r), _, _) => (
                serde_json::to_value(&r.candidates)?,
                r.revision + 1,
                r.change,
            ),
        };
        let held: Vec<String> = current
            .as_ref()
            .map(|r| r.versions.clone())
            .unwrap_or_default();
        let serving = |v: &str| {
            current.as_ref().is_some_and(|r| {
                r.candidates
                    .iter()
                    .any(|c| c.version == v && c.weight > 0.0)
            })
        };
        if current.is_some()
            && let Some(c) = candidates
                .iter()
                .find(|c| c.weight > 0.0 && !held.contains(&c.version) && !serving(&c.version))
        {
            return Err(StoreError::Invalid(format!(
                "version `{}` is not held for route `{name}`: POST /api/versions first",
                c.version
            )));
        }
        let to = serde_json::to_string(&candidates)?;
        tx.execute(
            "INSERT INTO routes (name, change, revision, candidates) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET revision = ?3, candidates = ?4",
            params![name, change.as_str(), next_revision as i64, to],
        )?;
        if current.is_none() {
            for (i, c) in candidates.iter().enumerate() {
                tx.execute(
                    "INSERT OR IGNORE INTO versions (route, version, seq) VALUES (?1, ?2, ?3)",
                    params![name, c.version, i as i64],
                )?;
            }
        }
        tx.execute(
            "INSERT INTO audit (at, actor, route, revision, from_json, to_json, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                jiff::Timestamp::now().to_string(),
                actor,
                name,
                next_revision as i64,
                from.to_string(),
                to,
                reason
            ],
        )?;
        Ok(Self::read_route(tx, name)?.expect("just written"))
    }

    fn audit_versions(
        tx: &Connection,
        route: &str,
        from: &[String],
        actor: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = Self::read_route(tx, route)?.expect("exists");
        tx.execute(
            "INSERT INTO audit (at, actor, route, revision, from_json, to_json, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                jiff::Timestamp::now().to_string(),
                actor,
                route,
                now.revision as i64,
                serde_json::to_string(from)?,
                serde_json::to_string(&now.versions)?,
                reason
            ],
        )?;
        Ok(())
    }

    /// Adds a version a route holds (newest last).
    pub fn add_version(
        &self,
        route: &str,
        version: &str,
        actor: &str,
    ) -> Result<RouteRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(before) = Self::read_route(&tx, route)? else {
            return Err(StoreError::NoRoute(route.to_string()));
        };
        if before.versions.iter().any(|v| v == version) {
            return Ok(before);
        }
        tx.execute(
            "INSERT OR IGNORE INTO versions (route, version, seq)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE route = ?1))",
            params![route, version],
        )?;
        Self::audit_versions(
            &tx,
            route,
            &before.versions,
            actor,
            &format!("hold version {version}"),
        )?;
        let record = Self::read_route(&tx, route)?.expect("exists");
        tx.commit()?;
        Ok(record)
    }

    /// Removes a version that does not serve traffic.
    pub fn delete_version(
        &self,
        route: &str,
        version: &str,
        actor: &str,
    ) -> Result<RouteRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(r) = Self::read_route(&tx, route)? else {
            return Err(StoreError::NoRoute(route.to_string()));
        };
        if r.candidates
            .iter()
            .any(|c| c.version == version && c.weight > 0.0)
        {
            return Err(StoreError::Invalid(format!(
                "version `{version}` serves traffic on `{route}`: route it away first"
            )));
        }
        let n = tx.execute(
            "DELETE FROM versions WHERE route = ?1 AND version = ?2",
            params![route, version],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "route `{route}` does not hold version `{version}`"
            )));
        }
        Self::audit_versions(
            &tx,
            route,
            &r.versions,
            actor,
            &format!("drop version {version}"),
        )?;
        let record = Self::read_route(&tx, route)?.expect("exists");
        tx.commit()?;
        Ok(record)
    }

    pub fn audit(&self) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, actor, route, revision, from_json, to_json, reason FROM audit ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, at, actor, route, revision, from, to, reason)| {
                Ok(AuditRow {
                    id: id as u64,
                    at,
                    actor,
                    route,
                    revision: revision as u64,
                    from: serde_json::from_str(&from)?,
                    to: serde_json::from_str(&to)?,
                    reason,
                })
            })
            .collect()
    }
}
