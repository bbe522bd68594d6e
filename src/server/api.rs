//! The HTTP/JSON API of the staging registry (SPEC section 7).
//!
//! Every failure is a JSON error with a code and a sentence, and a 4xx for
//! anything the caller got wrong: bad JSON, wrong types, unknown routes,
//! stale revisions, oversize bodies, missing tokens. Nothing is half
//! applied: each change is one store transaction.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::auth::Role;
use super::store::StoreError;
use crate::scenario::{Candidate, ChangeType, Dur, FaultKind};

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl ApiError {
    pub fn internal(message: String) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn invalid(message: String) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// Puts `context` before the message (what the error was part of).
    pub(super) fn prefix(&mut self, context: &str) {
        self.message.insert_str(0, context);
    }
}

/// The caller must hold `needed`.
pub fn require(app: &App, headers: &HeaderMap, needed: Role) -> Result<Role, ApiError> {
    let who = role(app, headers)?;
    if who != needed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "role {} may not do this; {} may",
                who.as_str(),
                needed.as_str()
            ),
        ));
    }
    Ok(who)
}

/// A JSON body (for the other API modules).
pub fn parse<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body(b)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match &e {
            StoreError::NoRoute(_) => StatusCode::NOT_FOUND,
            StoreError::Stale { .. } => StatusCode::CONFLICT,
            StoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Db(_) | StoreError::Json(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let code = match &e {
            StoreError::NoRoute(_) => "unknown_route",
            StoreError::Stale { .. } => "stale_revision",
            StoreError::Invalid(_) => "invalid",
            _ => "internal",
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// A JSON body, or a JSON error that says what is wrong with it.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(|rejection| {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "content_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            _ => "bad_json",
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => format!("the body is larger than {MAX_BODY} bytes"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "send `Content-Type: application/json`".into(),
            _ => rejection.body_text(),
        };
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, code, message)
    })
}

type ApiResult = Result<Response, ApiError>;

pub(super) fn role(app: &App, headers: &HeaderMap) -> Result<Role, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 7235 section 2.1).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no_token",
                "send `Authorization: Bearer <token>`",
            )
        })?;
    app.tokens.role(token.trim()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "the token is not known to this registry",
        )
    })
}

/// Registry faults injected through /admin/faults, checked on every /api call.
pub(super) async fn registry_faults(app: &App) -> Result<(), ApiError> {
    let (down, slow) = app.faults.state();
    if down {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registry_unavailable",
            "the registry is unavailable (injected registry_outage): retry with backoff",
        ));
    }
    if slow > Duration::ZERO {
        tokio::time::sleep(slow).await;
    }
    Ok(())
}

pub(super) async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(ApiError::from)
}

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/api/routes", get(list_routes))
        .route("/api/routes/{route}", get(get_route).put(put_route))
        .route("/api/rollback", post(rollback))
        .route("/api/versions", post(add_version))
        .route("/api/versions/{route}/{version}", delete(delete_version))
        .route("/api/audit", get(audit))
        .route("/v1/complete", post(super::complete::complete))
        .route("/metrics", get(super::complete::metrics))
        .route("/admin/faults", get(faults_in_force).post(inject_fault))
        .route("/admin/behaviour", post(super::complete::set_behaviour))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_endpoint",
                "no such endpoint: see the README's \"Staging registry server\" section for the API",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    // Wrapped whole: a layer on the inner router runs inside each route,
    // before axum adds the `Allow` header the 405 message quotes.
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::map_response(method_not_allowed))
}

/// axum answers a known path with a wrong method by an empty 405; give it
/// the JSON error every other failure has, naming the methods it takes.
async fn method_not_allowed(res: Response) -> Response {
    if res.status() != StatusCode::METHOD_NOT_ALLOWED {
        return res;
    }
    let allow = res.headers().get(axum::http::header::ALLOW).cloned();
    let methods = allow
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("another method")
        .to_string();
    let mut out = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this endpoint does not take that method; it takes {methods}"),
    )
    .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}

async fn list_routes(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    role(&app, &headers)?;
    registry_faults(&app).await?;
    let routes = blocking(&app, |a| a.store.routes()).await?;
    Ok(Json(json!({"routes": routes})).into_response())
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", e.body_text()))
}

async fn get_route(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> ApiResult {
    role(&app, &headers)?;
    let route = path(p)?;
    registry_faults(&app).await?;
    let name = route.clone();
    match blocking(&app, move |a| a.store.route(&name)).await? {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(StoreError::NoRoute(route).into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutRoute {
    revision: u64,
    candidates: Vec<Candidate>,
    change: Option<ChangeType>,
    #[serde(default)]
    reason: String,
    /// Retention of the route (default 3 when created).
    keep_last: Option<u32>,
    /// The exact versions the route holds afterwards, oldest first.
    versions: Option<Vec<String>>,
}

async fn put_route(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    b: Result<Json<PutRoute>, JsonRejection>,
) -> ApiResult {
    let who = role(&app, &headers)?;
    let route = path(p)?;
    if !who.may_deploy() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "role {} may not change weights; a deployer or platform_lead may",
                who.as_str()
            ),
        ));
    }
    let req = body(b)?;
    registry_faults(&app).await?;
    let record = blocking(&app, move |a| {
        let write = crate::server::store::RouteWrite {
            revision: req.revision,
            change: req.change,
            candidates: req.candidates,
            keep_last: req.keep_last,
            versions: req.versions,
        };
        a.store.put_route(&route, write, who.as_str(), &req.reason)
    })
    .await?;
    Ok(Json(record).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    route: Option<String>,
    /// Runbooks for prompts name the prompt; it is the route.
    prompt: Option<String>,
    target_version: Option<String>,
    /// A coordinated rollback: several routes, all or nothing.
    set: Option<Vec<super::coordinated::SetEntry>>,
    /// Links the set's audit rows (generated when not given).
    change_id: Option<String>,
    #[serde(default)]
    reason: String,
    /// Compare-and-set: roll back only if the route is still at this revision.
    revision: Option<u64>,
}

async fn rollback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: Result<Json<RollbackRequest>, JsonRejection>,
) -> ApiResult {
    let who = role(&app, &headers)?;
    // A role that may roll back nothing learns nothing about the body.
    if who.rollback_authority().is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no_authority",
            format!(
                "role {} may not roll back; on_call or platform_lead may",
                who.as_str()
            ),
        ));
    }
    let req = body(b)?;
    if let Some(set) = req.set {
        if req.route.is_some() || req.prompt.is_some() || req.target_version.is_some() {
            return Err(ApiError::invalid(
                "give either `set` or `route` and `target_version`, not both".into(),
            ));
        }
        let change_id = req.change_id;
        return super::coordinated::rollback_set(&app, who, &headers, set, req.reason, change_id)
            .await;
    }
    let Some(target_version) = req.target_version else {
        return Err(ApiError::invalid(
            "missing field `target_version` (or give a `set` of {route, target_version})".into(),
        ));
    };
    let route = match (req.route, req.prompt) {
        (Some(r), None) | (None, Some(r)) => r,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "name exactly one of `route` and `prompt`",
            ));
        }
    };
    registry_faults(&app).await?;
    let name = route.clone();
    let current = blocking(&app, move |a| a.store.route(&name)).await?;
    let Some(current) = current else {
        return Err(StoreError::NoRoute(route).into());
    };
    if !who.rollback_authority().contains(&current.change) {
        let allowed: Vec<&str> = who
            .rollback_authority()
            .iter()
            .map(|c| c.as_str())
            .collect();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no_authority",
            format!(
                "role {} may not roll back {} {} change (authority: {}); escalate to platform_lead",
                who.as_str(),
                current.change.article(),
                current.change,
                allowed.join(", ")
            ),
        ));
    }
    // The store binds the key to the route, target and revision.
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let reason = if req.reason.is_empty() {
        "rollback".to_string()
    } else {
        req.reason
    };
    let result = blocking(&app, move |a| {
        a.store.rollback(
            &route,
            req.revision,
            &target_version,
            who.as_str(),
            &reason,
            key.as_deref(),
        )
    })
    .await?;
    let value: Value =
        serde_json::from_str(&result).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(value).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddVersion {
    route: String,
    version: String,
}

async fn add_version(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: Result<Json<AddVersion>, JsonRejection>,
) -> ApiResult {
    let who = role(&app, &headers)?;
    if !who.may_deploy() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("role {} may not add versions", who.as_str()),
        ));
    }
    let req = body(b)?;
    registry_faults(&app).await?;
    let record = blocking(&app, move |a| {
        a.store.add_version(&req.route, &req.version, who.as_str())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

async fn delete_version(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let who = role(&app, &headers)?;
    let (route, version) = path(p)?;
    if !who.may_deploy() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("role {} may not remove versions", who.as_str()),
        ));
    }
    registry_faults(&app).await?;
    let record = blocking(&app, move |a| {
        a.store.delete_version(&route, &version, who.as_str())
    })
    .await?;
    Ok(Json(record).into_response())
}

async fn audit(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    role(&app, &headers)?;
    let rows = blocking(&app, |a| a.store.audit()).await?;
    Ok(Json(json!({"audit": rows})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    kind: FaultKind,
    #[serde(rename = "for")]
    for_: Option<String>,
    add: Option<String>,
}

/// The registry faults in force now: an outage's wall-clock remainder
/// and the delay added to every /api call (`0ms` when none). Any role.
async fn faults_in_force(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    role(&app, &headers)?;
    let (outage_left, slow) = app.faults.in_force();
    Ok(Json(json!({
        "registry_outage": {"left_ms": outage_left.as_millis() as u64},
        "registry_slow": {"add_ms": slow.as_millis() as u64},
    }))
    .into_response())
}

/// Registry faults for live and container drills: `registry_outage`
/// (`for`) and `registry_slow` (`add`, or `0s` to clear).
async fn inject_fault(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: Result<Json<FaultRequest>, JsonRejection>,
) -> ApiResult {
    let who = role(&app, &headers)?;
    if who != Role::PlatformLead {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "role {} may not inject faults; platform_lead may",
                who.as_str()
            ),
        ));
    }
    let req = body(b)?;
    let dur = |field: &str, v: Option<String>| -> Result<Duration, ApiError> {
        let text = v.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("`{}` needs `{field}`", req.kind),
            )
        })?;
        Dur::parse(&text)
            .map(|d| Duration::from_millis(d.0))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("`{field}`: {e}"),
                )
            })
    };
    match req.kind {
        FaultKind::RegistryOutage => app.faults.outage(dur("for", req.for_)?),
        FaultKind::RegistrySlow => app.faults.slow(dur("add", req.add)?),
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_fault",
                format!(
                    "the server injects registry_outage and registry_slow; `{other}` acts on the drill's side"
                ),
            ));
        }
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"injected": req.kind}))).into_response())
}
