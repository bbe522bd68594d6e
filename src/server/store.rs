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

use crate::registry::rules;

mod idempotency;
mod set;
use crate::scenario::{Candidate, ChangeType};
pub use set::SetItem;

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
    /// Retention: how many versions the route holds at most (never
    /// dropping one that serves).
    pub keep_last: u32,
}

/// A write of a route: its candidates at a revision, and optionally its
/// retention and the exact versions it holds (a drill's teardown puts a
/// route back as it found it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteWrite {
    pub revision: u64,
    /// Needed to create a route (revision 0).
    pub change: Option<ChangeType>,
    pub candidates: Vec<Candidate>,
    /// Default [`rules::DEFAULT_KEEP_LAST`] for a new route; unchanged otherwise.
    pub keep_last: Option<u32>,
    /// Replaces the held versions, oldest first.
    pub versions: Option<Vec<String>>,
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
    /// The coordinated rollback this write was part of (one id for every
    /// route of the set); absent for a write on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
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
    reason TEXT NOT NULL,
    change_id TEXT
);
CREATE TABLE IF NOT EXISTS idempotent_rollbacks (
    key TEXT NOT NULL,
    route TEXT NOT NULL,
    target TEXT NOT NULL,
    revision TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (key, route, target, revision)
);
";

fn check_weights(candidates: &[Candidate]) -> Result<(), StoreError> {
    rules::check_weights(candidates).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// State files written before routes had a retention get the default;
/// remembered rollback answers move to their own columns.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    idempotency::migrate(conn)?;
    let has_keep_last = conn
        .prepare("SELECT 1 FROM pragma_table_info('routes') WHERE name = 'keep_last'")?
        .exists([])?;
    if !has_keep_last {
        conn.execute_batch(&format!(
            "ALTER TABLE routes ADD COLUMN keep_last INTEGER NOT NULL DEFAULT {}",
            rules::DEFAULT_KEEP_LAST
        ))?;
    }
    let has_change_id = conn
        .prepare("SELECT 1 FROM pragma_table_info('audit') WHERE name = 'change_id'")?
        .exists([])?;
    if !has_change_id {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN change_id TEXT")?;
    }
    Ok(())
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
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
        let row: Option<(String, i64, String, i64)> = conn
            .prepare_cached(
                "SELECT change, revision, candidates, keep_last FROM routes WHERE name = ?1",
            )?
            .query_row(params![name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((change, revision, candidates, keep_last)) = row else {
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
            keep_last: keep_last.clamp(0, u32::MAX as i64) as u32,
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
        write: RouteWrite,
        actor: &str,
        reason: &str,
    ) -> Result<RouteRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let record = Self::put_in(&tx, name, Some(write.revision), write, actor, reason)?;
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
        // The key is bound to the request: reusing it for another
        // rollback does not replay the first answer.
        let bound = key.map(|key| idempotency::Bound {
            key,
            route: name,
            target,
            revision,
        });
        if let Some(bound) = &bound
            && let Some(stored) = bound.lookup(&tx)?
        {
            return Ok(stored);
        }
        let record = Self::rollback_in(&tx, name, revision, target, actor, reason)?;
        let response = serde_json::to_string(&record)?;
        if let Some(bound) = &bound {
            bound.remember(&tx, &response)?;
        }
        tx.commit()?;
        Ok(response)
    }

    /// Inside `tx`: all of a route's traffic to `target`, a version it
    /// holds (the rule of a single rollback and of each route of a set).
    fn rollback_in(
        tx: &Connection,
        name: &str,
        revision: Option<u64>,
        target: &str,
        actor: &str,
        reason: &str,
    ) -> Result<RouteRecord, StoreError> {
        let current =
            Self::read_route(tx, name)?.ok_or_else(|| StoreError::NoRoute(name.to_string()))?;
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
        let write = RouteWrite {
            candidates: to,
            ..RouteWrite::default()
        };
        Self::put_in(tx, name, revision, write, actor, reason)
    }

    /// Replaces a route's candidates inside `tx` if it is at `revision`
    /// (`None`: whatever it is at now).
    fn put_in(
        tx: &Connection,
        name: &str,
        revision: Option<u64>,
        write: RouteWrite,
        actor: &str,
        reason: &str,
    ) -> Result<RouteRecord, StoreError> {
        let candidates = write.candidates;
        check_weights(&candidates)?;
        if write.keep_last == Some(0) {
            return Err(StoreError::Invalid(
                "`keep_last` is 0: no version would stay available; give 1 or more".into(),
            ));
        }
        let current = Self::read_route(tx, name)?;
        let revision = revision.unwrap_or_else(|| current.as_ref().map_or(0, |r| r.revision));
        let (from, next_revision, change) = match (&current, revision, write.change) {
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
        let keep_last = write
            .keep_last
            .or(current.as_ref().map(|r| r.keep_last))
            .unwrap_or(rules::DEFAULT_KEEP_LAST);
        let (held, serving_now) = match &current {
            Some(r) => (r.versions.clone(), r.candidates.clone()),
            None => (Vec::new(), Vec::new()),
        };
        // The held versions after this write: as given, as they were, or
        // (a new route) the versions it routes to.
        let versions = match write.versions {
            Some(v) => {
                if let Some(c) = rules::unheld(&candidates, &v, &[]) {
                    return Err(StoreError::Invalid(format!(
                        "version `{}` takes traffic but is not in `versions`",
                        c.version
                    )));
                }
                Some(v)
            }
            None if current.is_none() => {
                Some(candidates.iter().map(|c| c.version.clone()).collect())
            }
            None => {
                if let Some(c) = rules::unheld(&candidates, &held, &serving_now) {
                    return Err(StoreError::Invalid(format!(
                        "version `{}` is not held for route `{name}`: POST /api/versions first",
                        c.version
                    )));
                }
                None
            }
        };
        // Versions given are held exactly (a seed or a teardown); retention
        // applies on the next version added, as in the simulated registry.
        let to = serde_json::to_string(&candidates)?;
        tx.execute(
            "INSERT INTO routes (name, change, revision, candidates, keep_last) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET revision = ?3, candidates = ?4, keep_last = ?5",
            params![name, change.as_str(), next_revision as i64, to, keep_last as i64],
        )?;
        if let Some(versions) = versions {
            tx.execute("DELETE FROM versions WHERE route = ?1", params![name])?;
            for (i, v) in versions.iter().enumerate() {
                tx.execute(
                    "INSERT OR IGNORE INTO versions (route, version, seq) VALUES (?1, ?2, ?3)",
                    params![name, v, i as i64],
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
        // Retention, as in every registry: the oldest idle versions beyond
        // the route's keep_last go.
        let mut held = before.versions.clone();
        let retired = rules::hold(&mut held, version, &before.candidates, before.keep_last);
        for v in &retired {
            tx.execute(
                "DELETE FROM versions WHERE route = ?1 AND version = ?2",
                params![route, v],
            )?;
        }
        let reason = if retired.is_empty() {
            format!("hold version {version}")
        } else {
            format!(
                "hold version {version}; retention (keep_last={}) retired {}",
                before.keep_last,
                retired.join(", ")
            )
        };
        Self::audit_versions(&tx, route, &before.versions, actor, &reason)?;
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
        if crate::registry::rules::serves(&r.candidates, version) {
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
            "SELECT id, at, actor, route, revision, from_json, to_json, reason, change_id FROM audit ORDER BY id",
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
                    r.get::<_, Option<String>>(8)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(id, at, actor, route, revision, from, to, reason, change_id)| {
                    Ok(AuditRow {
                        id: id as u64,
                        at,
                        actor,
                        route,
                        revision: revision as u64,
                        from: serde_json::from_str(&from)?,
                        to: serde_json::from_str(&to)?,
                        reason,
                        change_id,
                    })
                },
            )
            .collect()
    }
}
