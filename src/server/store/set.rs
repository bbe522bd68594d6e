//! A coordinated rollback: several routes back to their targets in one
//! transaction, all or nothing, each write audited under one change id.

use rusqlite::TransactionBehavior;

use super::{RouteRecord, Store, StoreError};

/// One route of a set: where it goes back to, and (compare-and-set) the
/// revision it must still be at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetItem {
    pub route: String,
    pub target: String,
    pub revision: Option<u64>,
}

impl Store {
    /// Rolls every route of `items` back in the order given, in one
    /// transaction: when one cannot be (an unknown route, a target it
    /// does not hold, a stale revision), nothing is written and the error
    /// names that route. Each write's audit row carries `change_id`.
    pub fn rollback_set(
        &self,
        items: &[SetItem],
        actor: &str,
        reason: &str,
        change_id: &str,
    ) -> Result<Vec<RouteRecord>, (String, StoreError)> {
        let mut conn = self.conn();
        let in_route = |route: &str| {
            let route = route.to_string();
            move |e: StoreError| (route, e)
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| (String::new(), e.into()))?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let record =
                Self::rollback_in(&tx, &item.route, item.revision, &item.target, actor, reason)
                    .map_err(in_route(&item.route))?;
            tx.execute(
                "UPDATE audit SET change_id = ?1 WHERE id = last_insert_rowid()",
                [change_id],
            )
            .map_err(|e| in_route(&item.route)(e.into()))?;
            out.push(record);
        }
        // Dropped without a commit on any error above: nothing written.
        tx.commit().map_err(|e| (String::new(), e.into()))?;
        Ok(out)
    }
}
