//! The `staging:` section (SPEC section 8): where the drilled route lives,
//! in its raw serde form and its validated, typed form.
//!
//! The raw form is one flat struct discriminated by `kind`, as faults are:
//! every field is located on its own, and a field of another kind is
//! reported where it is written (a `flatten`ed or `untagged` enum would lose
//! both). Validation, in `validate/staging.rs`, turns it into a
//! [`StagingPlan`] with one variant per kind holding only that kind's fields.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::plan::{ExecCall, HttpCall};
use super::raw::{RawExec, RawHttp};
use super::template::Template;
use super::units::Dur;
use super::vocab::StagingKind;

/// `staging:` — the team's own system the drill runs against. Left out,
/// the built-in registry (simulated, or `registry serve` live).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStaging {
    /// Default `builtin`.
    pub kind: Option<StagingKind>,
    /// mlflow: the tracking server, e.g. `${MLFLOW_URL}` (http:// only).
    pub url: Option<String>,
    /// mlflow: the registered model whose alias is the route.
    pub model: Option<String>,
    /// mlflow: a prompt of the prompt registry, instead of `model`.
    pub prompt: Option<String>,
    /// mlflow: the alias that is the route, e.g. `production`.
    pub alias: Option<String>,
    /// mlflow: how long the serving app caches an alias lookup. Default 60s.
    pub cache_ttl: Option<Dur>,
    /// litellm: the proxy's base URL, e.g. `${LITELLM_URL}`.
    pub proxy: Option<String>,
    /// litellm: the proxy's master key, e.g. `${LITELLM_KEY}`.
    pub key: Option<String>,
    /// litellm: the proxy's config.yaml, relative to the scenario file.
    pub config: Option<String>,
    /// litellm: the model group that is the route.
    pub model_name: Option<String>,
    /// litellm, alias_file: how the system picks a rewritten file up.
    pub reload: Option<RawReload>,
    /// alias_file, flag_file: the file, relative to the scenario file.
    pub path: Option<String>,
    /// flag_file: the flag whose `fractional` targeting splits traffic.
    pub flag: Option<String>,
    /// alias_file, flag_file: how often readers re-read the file. Default 5s.
    pub poll: Option<Dur>,
}

/// `reload:` — one `exec` or `http` call, as the procedure's steps write it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawReload {
    Exec(RawExec),
    Http(RawHttp),
}

/// Where the drilled route lives, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StagingPlan {
    /// The project's own registry: simulated, or `registry serve` live.
    #[default]
    Builtin,
    Mlflow(MlflowStaging),
    Litellm(LitellmStaging),
    AliasFile(AliasFileStaging),
    FlagFile(FlagFileStaging),
}

impl StagingPlan {
    pub fn kind(&self) -> StagingKind {
        match self {
            StagingPlan::Builtin => StagingKind::Builtin,
            StagingPlan::Mlflow(_) => StagingKind::Mlflow,
            StagingPlan::Litellm(_) => StagingKind::Litellm,
            StagingPlan::AliasFile(_) => StagingKind::AliasFile,
            StagingPlan::FlagFile(_) => StagingKind::FlagFile,
        }
    }

    /// Whether the route lives in a team's system (and the drill therefore
    /// runs on the wall clock against it).
    pub fn is_real(&self) -> bool {
        !matches!(self, StagingPlan::Builtin)
    }
}

/// What an MLflow alias names: a registered model, or a prompt of the
/// prompt registry (a registered model tagged `mlflow.prompt.is_prompt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlflowEntity {
    Model(String),
    Prompt(String),
}

impl MlflowEntity {
    pub fn name(&self) -> &str {
        match self {
            MlflowEntity::Model(n) | MlflowEntity::Prompt(n) => n,
        }
    }

    pub fn is_prompt(&self) -> bool {
        matches!(self, MlflowEntity::Prompt(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MlflowStaging {
    pub url: Template,
    pub entity: MlflowEntity,
    pub alias: String,
    pub cache_ttl: Dur,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LitellmStaging {
    pub proxy: Template,
    /// The master key; `/model/info` and `/metrics/` need it.
    pub key: Option<Template>,
    /// Resolved against the scenario file's folder.
    pub config: PathBuf,
    pub model_name: String,
    pub reload: Option<Reload>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AliasFileStaging {
    /// Resolved against the scenario file's folder.
    pub path: PathBuf,
    pub alias: String,
    pub poll: Dur,
    pub reload: Option<Reload>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlagFileStaging {
    /// Resolved against the scenario file's folder.
    pub path: PathBuf,
    pub flag: String,
    pub poll: Dur,
}

/// How a system picks a rewritten file up: a command (restart the proxy)
/// or a call (a reload endpoint).
#[derive(Debug, Clone, PartialEq)]
pub enum Reload {
    Exec(ExecCall),
    Http(HttpCall),
}

impl Reload {
    /// The call as a step of the procedure runs it.
    pub fn step(&self) -> super::plan::Step {
        match self {
            Reload::Exec(c) => super::plan::Step::Exec(c.clone()),
            Reload::Http(c) => super::plan::Step::Http(c.clone()),
        }
    }
}
