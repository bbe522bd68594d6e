//! Remembered answers of rollbacks sent with an `Idempotency-Key`.
//!
//! The key is bound to the request it came with: route, target version and
//! revision are columns of the primary key. State files from before kept
//! one string, `rollback:KEY:ROUTE:TARGET:REVISION`, which two different
//! requests could spell alike when a part held a colon.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// An idempotency key and the request it is bound to.
pub(super) struct Bound<'a> {
    pub key: &'a str,
    pub route: &'a str,
    pub target: &'a str,
    pub revision: Option<u64>,
}

/// The revision column: empty without one (a text column, so no number
/// has to stand for "none").
fn revision_text(revision: Option<u64>) -> String {
    revision.map_or_else(String::new, |r| r.to_string())
}

impl Bound<'_> {
    pub fn lookup(&self, tx: &Connection) -> Result<Option<String>, StoreError> {
        Ok(tx
            .query_row(
                "SELECT response FROM idempotent_rollbacks
                 WHERE key = ?1 AND route = ?2 AND target = ?3 AND revision = ?4",
                params![
                    self.key,
                    self.route,
                    self.target,
                    revision_text(self.revision)
                ],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn remember(&self, tx: &Connection, response: &str) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO idempotent_rollbacks (key, route, target, revision, response)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                self.key,
                self.route,
                self.target,
                revision_text(self.revision),
                response
            ],
        )?;
        Ok(())
    }
}

/// Moves the answers of an old `idempotency` table over: a stored string
/// whose parts hold no colon splits one way only and is kept; one that
/// could split several ways is dropped (it is the ambiguity being fixed,
/// and a retry then applies its rollback afresh, audited).
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let old = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'idempotency'")?
        .exists([])?;
    if !old {
        return Ok(());
    }
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT key, response FROM idempotency")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let tx = conn.unchecked_transaction()?;
    for (stored, response) in rows {
        if let Some((key, route, target, revision)) = split_old(&stored) {
            tx.execute(
                "INSERT OR IGNORE INTO idempotent_rollbacks (key, route, target, revision, response)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, route, target, revision_text(revision), response],
            )?;
        }
    }
    tx.execute_batch("DROP TABLE idempotency")?;
    tx.commit()?;
    Ok(())
}

/// `rollback:KEY:ROUTE:TARGET:None` or `…:Some(N)`, when exactly one split
/// exists.
fn split_old(stored: &str) -> Option<(&str, &str, &str, Option<u64>)> {
    let rest = stored.strip_prefix("rollback:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    let [key, route, target, revision] = parts[..] else {
        return None;
    };
    let revision = match revision {
        "None" => None,
        r => Some(r.strip_prefix("Some(")?.strip_suffix(')')?.parse().ok()?),
    };
    Some((key, route, target, revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_answers_that_split_one_way_survive_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.db");
        {
            let conn = Connection::open(&file).unwrap();
            conn.execute_batch(
                "CREATE TABLE idempotency (key TEXT PRIMARY KEY, response TEXT NOT NULL);
                 INSERT INTO idempotency VALUES ('rollback:incident-42:r:v0:None', 'plain');
                 INSERT INTO idempotency VALUES ('rollback:k:r:v2:Some(3)', 'revised');
                 INSERT INTO idempotency VALUES ('rollback:k:r:a:v0:None', 'ambiguous');",
            )
            .unwrap();
        }
        let store = super::super::Store::open(&file).unwrap();
        let conn = store.conn();
        let found = |key, route, target, revision| {
            Bound {
                key,
                route,
                target,
                revision,
            }
            .lookup(&conn)
            .unwrap()
        };
        assert_eq!(
            found("incident-42", "r", "v0", None).as_deref(),
            Some("plain")
        );
        assert_eq!(found("k", "r", "v2", Some(3)).as_deref(), Some("revised"));
        assert_eq!(found("k", "r", "v2", None), None);
        assert_eq!(found("k:r", "a", "v0", None), None);
        assert_eq!(found("k", "r", "a:v0", None), None);
        let old = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE name = 'idempotency'")
            .unwrap()
            .exists([])
            .unwrap();
        assert!(!old, "the old table is gone");
    }
}
