//! Reaching the team's system a scenario names, and the preflight against
//! it: the real route read and compared with the scenario before anything
//! changes (SPEC section 8).

use crate::drill::Finding;
use crate::live::LiveError;
use crate::scenario::staging::{MlflowEntity, Reload, StagingPlan};
use crate::scenario::{Dur, FindingKind, Plan, Step, TargetChoice, Template};
use crate::staging::files::{Format, RouteFile};
use crate::staging::litellm::Litellm;
use crate::staging::mlflow::Mlflow;
use crate::staging::preflight::{self as drift, Drift, MatchBy};
use crate::staging::route::{FileRoute, MlflowRoute, RealRoute};

/// The system the route lives in, with what the drill needs of it beyond
/// the route itself.
pub enum System {
    Mlflow {
        client: Mlflow,
        entity: MlflowEntity,
    },
    /// The proxy, and its config file (the route).
    Litellm { client: Litellm, model_name: String },
    /// An alias file or a flag file, re-read by its readers every `poll`.
    File(RouteFile),
}

/// A connected route: the system, the route in it, how a write reaches
/// the clients.
pub struct Connected {
    pub system: System,
    pub route: Box<dyn RealRoute>,
    /// How long a client keeps a lookup (MLflow `cache_ttl`, a file's
    /// `poll`); zero for a proxy, which routes every request itself.
    pub refresh: Dur,
    pub reload: Option<Reload>,
    /// The system in words for messages, as the scenario writes it (a
    /// `${NAME}` stays a name).
    pub label: String,
}

/// The error of a system that cannot be reached or read (exit 3).
pub fn unreachable(plan: &Plan, label: &str, what: &str, message: &str) -> LiveError {
    LiveError::Staging {
        system: label.to_string(),
        what: what.to_string(),
        message: clean(plan, message),
    }
}

/// A message with every secret and `${NAME}` URL of the scenario put back
/// as its name.
pub fn clean(plan: &Plan, message: &str) -> String {
    let names: Vec<&str> = plan.env_refs.iter().map(|r| r.name.as_str()).collect();
    crate::scenario::redact(message, &names)
}

fn expand(plan: &Plan, t: &Template, field: &str) -> Result<String, LiveError> {
    t.expand_env().map_err(|name| {
        LiveError::Environment(format!(
            "{}: staging.{field} needs ${{{name}}}, which is not set: export it and run again",
            plan.file.display()
        ))
    })
}

/// Reaches the system `plan.staging` names (nothing is read or changed
/// yet beyond a health check).
pub fn connect(plan: &Plan) -> Result<Connected, LiveError> {
    match &plan.staging {
        StagingPlan::Builtin => Err(LiveError::Environment(
            "the built-in registry is not a team's staging".into(),
        )),
        StagingPlan::Mlflow(m) => {
            let url = expand(plan, &m.url, "url")?;
            let label = format!("MLflow {}", m.url);
            let client = Mlflow::new(&url)
                .map_err(|e| unreachable(plan, &label, "the URL", &e.to_string()))?;
            if !client.healthy() {
                return Err(unreachable(
                    plan,
                    &label,
                    "GET /health",
                    "no healthy answer: is the tracking server running at staging.url?",
                ));
            }
            let mut route = MlflowRoute::new(
                Mlflow::new(&url)
                    .map_err(|e| unreachable(plan, &label, "the URL", &e.to_string()))?,
                m.entity.clone(),
                m.alias.clone(),
            );
            route.prompt_text = format!(
                "rollback drill release {}: answer the user's question.",
                plan.release.version
            );
            Ok(Connected {
                system: System::Mlflow {
                    client,
                    entity: m.entity.clone(),
                },
                route: Box::new(route),
                refresh: m.cache_ttl,
                reload: None,
                label,
            })
        }
        StagingPlan::Litellm(l) => {
            let url = expand(plan, &l.proxy, "proxy")?;
            let key = match &l.key {
                Some(k) => Some(expand(plan, k, "key")?),
                None => None,
            };
            let label = format!("LiteLLM proxy {}", l.proxy);
            let client = Litellm::new(&url, key.as_deref())
                .map_err(|e| unreachable(plan, &label, "the URL", &e.to_string()))?;
            if !client.live() {
                return Err(unreachable(
                    plan,
                    &label,
                    "GET /health/liveliness",
                    "no answer: is the proxy running at staging.proxy?",
                ));
            }
            let file = RouteFile::new(Format::LitellmConfig, &l.config, &l.model_name);
            Ok(Connected {
                system: System::Litellm {
                    client,
                    model_name: l.model_name.clone(),
                },
                route: Box::new(FileRoute::new(file)),
                refresh: Dur::ZERO,
                reload: l.reload.clone(),
                label,
            })
        }
        StagingPlan::AliasFile(a) => {
            let file = RouteFile::new(Format::AliasFile, &a.path, &a.alias);
            Ok(Connected {
                label: format!("alias file {}", a.path.display()),
                system: System::File(file.clone()),
                route: Box::new(FileRoute::new(file)),
                refresh: a.poll,
                reload: a.reload.clone(),
            })
        }
        StagingPlan::FlagFile(f) => {
            let file = RouteFile::new(Format::FlagFile, &f.path, &f.flag);
            Ok(Connected {
                label: format!("flag file {}", f.path.display()),
                system: System::File(file.clone()),
                route: Box::new(FileRoute::new(file)),
                refresh: f.poll,
                reload: None,
            })
        }
    }
}

/// The versions the rollback may go back to: the route's candidates as
/// the scenario starts, and any `identify_target: {version}` names.
fn targets(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .registry
        .routes
        .iter()
        .filter(|r| r.name == plan.release.route)
        .flat_map(|r| r.candidates.iter().map(|c| c.version.clone()))
        .collect();
    for step in &plan.procedure {
        if let Step::IdentifyTarget(TargetChoice::Version(v)) = step {
            out.push(v.clone());
        }
    }
    out
}

/// Reads the real route and compares it with the scenario; also takes the
/// snapshot teardown restores. Findings fail the drill; an unreadable
/// system is an error (exit 3).
pub fn preflight(plan: &Plan, c: &mut Connected) -> Result<Vec<Finding>, LiveError> {
    let label = c.label.clone();
    let fail =
        |what: &str, e: &dyn std::fmt::Display| unreachable(plan, &label, what, &e.to_string());
    let expected = plan
        .registry
        .routes
        .iter()
        .find(|r| r.name == plan.release.route)
        .cloned()
        .unwrap_or_else(|| crate::scenario::plan::RoutePlan {
            name: plan.release.route.clone(),
            candidates: Vec::new(),
            versions: Vec::new(),
        });
    let main = expected
        .candidates
        .iter()
        .max_by(|a, b| a.weight.total_cmp(&b.weight))
        .map(|c| c.version.clone())
        .unwrap_or_default();
    let mut found: Vec<Drift> = Vec::new();
    match &c.system {
        System::Mlflow { client, entity } => {
            let name = entity.name();
            let alias = match &plan.staging {
                StagingPlan::Mlflow(m) => m.alias.clone(),
                _ => String::new(),
            };
            match client.registered_model(name) {
                Ok(_) => {}
                Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => {
                    found.push(Drift {
                        kind: FindingKind::RouteMoved,
                        detail: format!(
                            "{} `{name}` does not exist (renamed or deleted)",
                            kind_of(entity)
                        ),
                    });
                    return Ok(findings(plan, &label, found));
                }
                Err(e) => return Err(fail(&format!("reading {} `{name}`", kind_of(entity)), &e)),
            }
            let now = client
                .alias(name, &alias)
                .map_err(|e| fail("reading the alias", &e))?;
            let exists = client
                .version(name, &main)
                .map_err(|e| fail("reading the target version", &e))?
                .is_some();
            found.extend(drift::alias(
                &expected,
                &alias,
                now.as_ref().map(|v| v.version.as_str()),
                &main,
                exists,
            ));
            for t in targets(plan).iter().filter(|t| **t != main) {
                let there = client
                    .version(name, t)
                    .map_err(|e| fail("reading a target version", &e))?
                    .is_some();
                if !there {
                    found.push(Drift {
                        kind: FindingKind::TargetRetired,
                        detail: format!("version {t}, named by identify_target, no longer exists"),
                    });
                }
            }
        }
        System::Litellm { client, model_name } => {
            let entries = c.route.read().map_err(|e| fail("reading the config", &e))?;
            found.extend(drift::weighted_route(
                &expected,
                entries.as_deref(),
                MatchBy::Id,
                &main,
            ));
            // The proxy must serve what its config says: a proxy started
            // from another config (or not restarted since an edit) is drift.
            let serving = client
                .deployments()
                .map_err(|e| fail("GET /model/info", &e))?;
            // The per-deployment failure counters are how a failing
            // deployment the router's retries hide is seen at all: a
            // proxy without them cannot be drilled (exit 3, with the hint).
            client
                .deployment_failures()
                .map_err(|e| fail("GET /metrics/", &e))?;
            let mut live: Vec<&str> = serving
                .iter()
                .filter(|d| d.model_name == *model_name)
                .map(|d| d.id.as_str())
                .collect();
            let mut file: Vec<&str> = entries.iter().flatten().map(|e| e.id.as_str()).collect();
            live.sort_unstable();
            file.sort_unstable();
            if live != file {
                found.push(Drift {
                    kind: FindingKind::ConfigMismatch,
                    detail: format!(
                        "the proxy serves deployments [{}] of `{model_name}`, its config file lists [{}]: restart it on its config, or fix the file",
                        live.join(", "),
                        file.join(", ")
                    ),
                });
            }
        }
        System::File(file) => {
            let entries = c.route.read().map_err(|e| fail("reading the file", &e))?;
            let by = match file.format {
                Format::FlagFile => MatchBy::Version,
                _ => MatchBy::Id,
            };
            found.extend(drift::weighted_route(
                &expected,
                entries.as_deref(),
                by,
                &main,
            ));
            if entries.is_some() {
                let missing = file
                    .missing_variants()
                    .map_err(|e| fail("reading the flag", &e))?;
                found.extend(drift::undefined_variants(&file.route, &missing));
            }
        }
    }
    if found.is_empty() {
        c.route
            .snapshot()
            .map_err(|e| fail("taking the snapshot teardown restores", &e))?;
    }
    Ok(findings(plan, &label, found))
}

fn findings(plan: &Plan, label: &str, found: Vec<Drift>) -> Vec<Finding> {
    found
        .into_iter()
        .map(|d| Finding {
            kind: d.kind,
            step: "preflight".into(),
            message: format!(
                "{}: {}: the drill changed nothing; put the system back as the scenario says, or update the scenario",
                label,
                clean(plan, &d.detail)
            ),
        })
        .collect()
}

fn kind_of(entity: &MlflowEntity) -> &'static str {
    if entity.is_prompt() {
        "prompt"
    } else {
        "registered model"
    }
}
