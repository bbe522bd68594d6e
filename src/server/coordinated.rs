//! `POST /api/rollback` with a `set`: a coordinated rollback of several
//! routes as one change, all or nothing, with authority checked for every
//! route and for the set (more than one route is the platform lead's).

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::App;
use super::api::{ApiError, blocking, registry_faults};
use super::auth::Role;
use super::store::{SetItem, StoreError};

/// The most routes one set may name.
const MAX_SET: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEntry {
    route: String,
    target_version: String,
    /// Compare-and-set for this route.
    revision: Option<u64>,
}

pub async fn rollback_set(
    app: &Arc<App>,
    who: Role,
    headers: &HeaderMap,
    set: Vec<SetEntry>,
    reason: String,
    change_id: Option<String>,
) -> Result<Response, ApiError> {
    if set.is_empty() || set.len() > MAX_SET {
        return Err(ApiError::invalid(format!(
            "`set` names {} routes: give 1 to {MAX_SET}",
            set.len()
        )));
    }
    if headers.contains_key("idempotency-key") {
        return Err(ApiError::invalid(
            "Idempotency-Key is for single-route rollbacks; make a set safe to retry with each route's `revision`".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = set.iter().find(|e| !seen.insert(e.route.as_str())) {
        return Err(ApiError::invalid(format!(
            "route `{}` is named twice in `set`",
            dup.route
        )));
    }
    if set.len() > 1 && who != Role::PlatformLead {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no_authority",
            format!(
                "role {} may not roll back {} routes together: a coordinated rollback is the platform lead's; escalate to platform_lead",
                who.as_str(),
                set.len()
            ),
        ));
    }
    registry_faults(app).await?;
    // Authority per route, before anything is written.
    let names: Vec<String> = set.iter().map(|e| e.route.clone()).collect();
    let routes = blocking(app, move |a| {
        names
            .iter()
            .map(|n| a.store.route(n).map(|r| (n.clone(), r)))
            .collect::<Result<Vec<_>, StoreError>>()
    })
    .await?;
    for (name, route) in &routes {
        let Some(route) = route else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_route",
                format!("nothing was rolled back: route `{name}` does not exist"),
            ));
        };
        if !who.rollback_authority().contains(&route.change) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "no_authority",
                format!(
                    "nothing was rolled back: role {} may not roll back route `{name}`, {} {} change; escalate to platform_lead",
                    who.as_str(),
                    route.change.article(),
                    route.change
                ),
            ));
        }
    }
    let change_id = change_id.unwrap_or_else(new_change_id);
    let reason = if reason.is_empty() {
        "coordinated rollback".to_string()
    } else {
        reason
    };
    let items: Vec<SetItem> = set
        .into_iter()
        .map(|e| SetItem {
            route: e.route,
            target: e.target_version,
            revision: e.revision,
        })
        .collect();
    let id = change_id.clone();
    let app = Arc::clone(app);
    let written = tokio::task::spawn_blocking(move || {
        app.store.rollback_set(&items, who.as_str(), &reason, &id)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    match written {
        Ok(records) => Ok(Json(json!({"change_id": change_id, "routes": records})).into_response()),
        Err((route, e)) => {
            let mut err = ApiError::from(e);
            err.prefix(&format!("nothing was rolled back: route `{route}`: "));
            Err(err)
        }
    }
}

/// `chg-`, the time in nanoseconds and a count, in hex: unique within a
/// server, and ordered.
fn new_change_id() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("chg-{:x}-{n:x}", jiff::Timestamp::now().as_nanosecond())
}
