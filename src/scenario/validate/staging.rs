//! Validation of the `staging:` section (SPEC section 8) and of
//! `traffic.golden`: each kind takes only its own fields, needs the ones it
//! cannot run without, and agrees with the route the scenario describes.

use std::path::PathBuf;

use super::Checker;
use crate::scenario::golden::GoldenSet;
use crate::scenario::plan::{RegistryPlan, ReleasePlan, Step};
use crate::scenario::staging::{
    AliasFileStaging, FlagFileStaging, LitellmStaging, MlflowEntity, MlflowStaging, RawReload,
    RawStaging, Reload, StagingPlan,
};
use crate::scenario::units::Dur;
use crate::scenario::vocab::StagingKind;
use crate::scenario::yaml::Path;

/// The fields each kind takes (`kind` aside).
fn fields_of(kind: StagingKind) -> &'static [&'static str] {
    match kind {
        StagingKind::Builtin => &[],
        StagingKind::Mlflow => &["url", "model", "prompt", "alias", "cache_ttl"],
        StagingKind::Litellm => &["proxy", "key", "config", "model_name", "reload"],
        StagingKind::AliasFile => &["path", "alias", "poll", "reload"],
        StagingKind::FlagFile => &["path", "flag", "poll"],
    }
}

/// What a kind takes and what it needs (for the JSON Schema).
pub(crate) fn staging_fields(
    kind: StagingKind,
) -> (&'static [&'static str], &'static [&'static str]) {
    (fields_of(kind), required_of(kind))
}

/// The fields a kind cannot do without (`model`/`prompt` is checked apart).
fn required_of(kind: StagingKind) -> &'static [&'static str] {
    match kind {
        StagingKind::Builtin => &[],
        StagingKind::Mlflow => &["url", "alias"],
        StagingKind::Litellm => &["proxy", "config", "model_name"],
        StagingKind::AliasFile => &["path", "alias"],
        StagingKind::FlagFile => &["path", "flag"],
    }
}

impl Checker<'_> {
    /// `traffic.golden`, read relative to the scenario file; the built-in
    /// set when it is left out.
    pub(super) fn golden(&mut self, raw: Option<&str>) -> Option<GoldenSet> {
        let Some(raw) = raw else {
            return Some(GoldenSet::builtin());
        };
        let path = Path::root().key("traffic").key("golden");
        if raw.trim().is_empty() {
            self.error(
                &path,
                "the golden file name is empty",
                "name a JSON Lines file of `{\"prompt\", \"expect\"}`, or leave `golden` out for the built-in set",
            );
            return None;
        }
        let file = self.beside_scenario(raw);
        if !file.is_file() {
            self.error(
                &path,
                format!("golden set `{raw}` not found"),
                format!(
                    "paths are relative to the scenario file's folder (looked for {})",
                    file.display()
                ),
            );
            return None;
        }
        match GoldenSet::load(&file) {
            Ok(set) => Some(set),
            Err(mut problems) => {
                self.diags.append(&mut problems);
                None
            }
        }
    }

    fn beside_scenario(&self, raw: &str) -> PathBuf {
        let p = std::path::Path::new(raw);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        self.file
            .parent()
            .map_or_else(|| p.to_path_buf(), |dir| dir.join(p))
    }

    pub(super) fn staging(
        &mut self,
        raw: Option<RawStaging>,
        registry: Option<&RegistryPlan>,
        release: Option<&ReleasePlan>,
    ) -> Option<StagingPlan> {
        let Some(raw) = raw else {
            return Some(StagingPlan::Builtin);
        };
        let base = Path::root().key("staging");
        let kind = raw.kind.unwrap_or(StagingKind::Builtin);
        let present = [
            ("url", raw.url.is_some()),
            ("model", raw.model.is_some()),
            ("prompt", raw.prompt.is_some()),
            ("alias", raw.alias.is_some()),
            ("cache_ttl", raw.cache_ttl.is_some()),
            ("proxy", raw.proxy.is_some()),
            ("key", raw.key.is_some()),
            ("config", raw.config.is_some()),
            ("model_name", raw.model_name.is_some()),
            ("reload", raw.reload.is_some()),
            ("path", raw.path.is_some()),
            ("flag", raw.flag.is_some()),
            ("poll", raw.poll.is_some()),
        ];
        let takes = fields_of(kind);
        let listed = if takes.is_empty() {
            format!("`{kind}` takes no other fields: the route is `registry.routes`")
        } else {
            let names: Vec<String> = takes.iter().map(|f| format!("`{f}`")).collect();
            format!("`{kind}` takes {}", names.join(", "))
        };
        let mut ok = true;
        for (field, set) in present {
            if set && !takes.contains(&field) {
                self.error(
                    &base.key(field),
                    format!("`{field}` does not apply to staging kind `{kind}`"),
                    listed.clone(),
                );
                ok = false;
            }
        }
        for field in required_of(kind) {
            if !present.iter().any(|(f, set)| f == field && *set) {
                self.error(
                    &base.key("kind"),
                    format!("staging kind `{kind}` needs `{field}`"),
                    listed.clone(),
                );
                ok = false;
            }
        }
        ok.then_some(())?;
        let plan = match kind {
            StagingKind::Builtin => Some(StagingPlan::Builtin),
            StagingKind::Mlflow => self.mlflow(raw, &base).map(StagingPlan::Mlflow),
            StagingKind::Litellm => self.litellm(raw, &base).map(StagingPlan::Litellm),
            StagingKind::AliasFile => self.alias_file(raw, &base).map(StagingPlan::AliasFile),
            StagingKind::FlagFile => self.flag_file(raw, &base).map(StagingPlan::FlagFile),
        }?;
        match (registry, release) {
            (Some(reg), Some(rel)) => self.agrees_with_route(&plan, reg, rel).then_some(plan),
            // The route's own problems are reported already.
            _ => Some(plan),
        }
    }

    /// A name field (alias, model, flag, ...): not blank.
    fn name(&mut self, value: Option<String>, path: &Path, example: &str) -> Option<String> {
        let value = value.unwrap_or_default();
        if value.trim().is_empty() {
            self.error(path, "the name is empty", format!("e.g. `{example}`"));
            return None;
        }
        Some(value)
    }

    fn file_field(&mut self, value: Option<String>, path: &Path) -> Option<PathBuf> {
        let value = value.unwrap_or_default();
        if value.trim().is_empty() {
            self.error(
                path,
                "the file name is empty",
                "name the file, relative to the scenario file's folder",
            );
            return None;
        }
        Some(self.beside_scenario(&value))
    }

    fn poll(&mut self, poll: Option<Dur>, path: &Path) -> Option<Dur> {
        let poll = poll.unwrap_or(Dur::from_secs(5));
        if poll == Dur::ZERO {
            self.error(
                path,
                "poll is 0s",
                "say how often readers re-read the file, e.g. `poll: 5s`",
            );
            return None;
        }
        Some(poll)
    }

    fn reload(&mut self, raw: Option<RawReload>, path: &Path) -> Option<Option<Reload>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let reload = match raw {
            RawReload::Exec(e) => match self.exec_step(e, &path.key("exec"))? {
                Step::Exec(call) => Reload::Exec(call),
                _ => return None,
            },
            RawReload::Http(h) => match self.http_step(h, &path.key("http"))? {
                Step::Http(call) => Reload::Http(call),
                _ => return None,
            },
        };
        Some(Some(reload))
    }

    fn mlflow(&mut self, raw: RawStaging, base: &Path) -> Option<MlflowStaging> {
        let url = self.url(raw.url.as_deref().unwrap_or_default(), &base.key("url"));
        let alias = self.name(raw.alias, &base.key("alias"), "alias: production");
        let entity = match (raw.model, raw.prompt) {
            (Some(m), None) => self
                .name(Some(m), &base.key("model"), "model: support-bot-model")
                .map(MlflowEntity::Model),
            (None, Some(p)) => self
                .name(
                    Some(p),
                    &base.key("prompt"),
                    "prompt: support-system-prompt",
                )
                .map(MlflowEntity::Prompt),
            (Some(_), Some(_)) => {
                self.error(
                    &base.key("prompt"),
                    "both `model` and `prompt` are set",
                    "an alias belongs to a registered model or to a prompt: keep one",
                );
                None
            }
            (None, None) => {
                self.error(
                    &base.key("kind"),
                    "staging kind `mlflow` needs `model` or `prompt`",
                    "name the registered model (`model:`) or the prompt (`prompt:`) whose alias is the route",
                );
                None
            }
        };
        Some(MlflowStaging {
            url: url?,
            entity: entity?,
            alias: alias?,
            cache_ttl: raw.cache_ttl.unwrap_or(Dur::from_secs(60)),
        })
    }

    fn litellm(&mut self, raw: RawStaging, base: &Path) -> Option<LitellmStaging> {
        let proxy = self.url(raw.proxy.as_deref().unwrap_or_default(), &base.key("proxy"));
        let key = match raw.key {
            Some(k) => Some(self.template(&k, &base.key("key"))?),
            None => None,
        };
        let config = self.file_field(raw.config, &base.key("config"));
        let model_name = self.name(
            raw.model_name,
            &base.key("model_name"),
            "model_name: support-llm",
        );
        let reload = self.reload(raw.reload, &base.key("reload"));
        Some(LitellmStaging {
            proxy: proxy?,
            key,
            config: config?,
            model_name: model_name?,
            reload: reload?,
        })
    }

    fn alias_file(&mut self, raw: RawStaging, base: &Path) -> Option<AliasFileStaging> {
        let path = self.file_field(raw.path, &base.key("path"));
        let alias = self.name(raw.alias, &base.key("alias"), "alias: smart-reasoner");
        let poll = self.poll(raw.poll, &base.key("poll"));
        let reload = self.reload(raw.reload, &base.key("reload"));
        Some(AliasFileStaging {
            path: path?,
            alias: alias?,
            poll: poll?,
            reload: reload?,
        })
    }

    fn flag_file(&mut self, raw: RawStaging, base: &Path) -> Option<FlagFileStaging> {
        let path = self.file_field(raw.path, &base.key("path"));
        let flag = self.name(raw.flag, &base.key("flag"), "flag: support-llm-route");
        let poll = self.poll(raw.poll, &base.key("poll"));
        Some(FlagFileStaging {
            path: path?,
            flag: flag?,
            poll: poll?,
        })
    }

    /// The scenario's route must be the real system's route: named alike
    /// (a file's alias, a model group, a flag), and for an MLflow alias, one
    /// version that the release replaces whole.
    fn agrees_with_route(
        &mut self,
        plan: &StagingPlan,
        registry: &RegistryPlan,
        release: &ReleasePlan,
    ) -> bool {
        let base = Path::root().key("staging");
        let named = match plan {
            StagingPlan::Litellm(l) => Some(("model_name", &l.model_name, "model group")),
            StagingPlan::AliasFile(a) => Some(("alias", &a.alias, "alias")),
            StagingPlan::FlagFile(f) => Some(("flag", &f.flag, "flag")),
            StagingPlan::Builtin | StagingPlan::Mlflow(_) => None,
        };
        if let Some((field, name, what)) = named
            && *name != release.route
        {
            self.error(
                &base.key(field),
                format!(
                    "the release goes to route `{}`, not to the {what} `{name}`",
                    release.route
                ),
                format!("name the route after the {what}: `release.route: {name}` and `registry.routes.{name}`"),
            );
            return false;
        }
        let StagingPlan::Mlflow(_) = plan else {
            return true;
        };
        let mut ok = true;
        if let Some(route) = registry.routes.iter().find(|r| r.name == release.route) {
            let path = Path::root()
                .key("registry")
                .key("routes")
                .key(&route.name)
                .key("candidates");
            if route.candidates.len() != 1 {
                self.error(
                    &path,
                    format!(
                        "route `{}` lists {} candidates, but an MLflow alias names one version",
                        route.name,
                        route.candidates.len()
                    ),
                    "list the one version the alias points to, at weight 100",
                );
                ok = false;
            }
            for (i, cand) in route.candidates.iter().enumerate() {
                let number = cand.version.parse::<u64>().is_ok_and(|n| n > 0);
                if !number {
                    self.error(
                        &path.index(i).key("version_pin"),
                        format!("`{}` is not an MLflow version number", cand.version),
                        "MLflow numbers versions 1, 2, 3...: write the one the alias points to, e.g. `version_pin: '3'`",
                    );
                    ok = false;
                }
            }
        }
        if release.schedule.len() != 1 || release.schedule[0].1 < 1.0 {
            self.error(
                &Path::root().key("release").key("weight"),
                "an MLflow alias moves all traffic at once: the release cannot be a canary",
                "leave `weight` and `steps` out (the release takes 100%)",
            );
            ok = false;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path as FsPath;

    use crate::scenario::staging::{MlflowEntity, Reload, StagingPlan};
    use crate::scenario::{Diagnostic, Plan, load_str};

    fn scenario(route: &str, pin: &str, release: &str, staging: &str) -> String {
        // The mechanism the kind rolls back with (an MLflow alias moves).
        let mechanism = if staging.contains("kind: mlflow") {
            "alias_remap"
        } else {
            "route_weight"
        };
        format!(
            "name: t
change: model
duration: 1h
registry:
  routes:
    {route}:
      candidates:
        - {{id: a, version_pin: '{pin}', weight: 100}}
traffic:
  rps: 10
  behaviour:
    '{pin}': {{error_rate: 1%, latency: {{p50: 1s, p99: 2s}}, quality: 90%}}
release: {{route: {route}, version: v2, at: 10m{release}}}
procedure:
  - execute: {{mechanism: {mechanism}}}
{staging}"
        )
    }

    fn load(text: &str) -> Result<Plan, Vec<Diagnostic>> {
        load_str(text, FsPath::new("dir/t.yaml"))
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .expect_err("invalid")
            .into_iter()
            .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message))
            .collect()
    }

    #[test]
    fn no_section_is_the_builtin_registry_and_the_builtin_golden_set() {
        let plan = load(&scenario("r", "v1", "", "")).unwrap_or_else(|d| panic!("{d:#?}"));
        assert_eq!(plan.staging, StagingPlan::Builtin);
        assert!(!plan.staging.is_real());
        assert!(plan.traffic.golden.source.is_none());
        assert!(!plan.traffic.golden.cases.is_empty());
    }

    #[test]
    fn each_kind_parses_with_its_defaults() {
        let plan = load(&scenario(
            "r",
            "3",
            "",
            "staging: {kind: mlflow, url: '${MLFLOW_URL}', prompt: sys, alias: production}\n",
        ))
        .unwrap_or_else(|d| panic!("{d:#?}"));
        let StagingPlan::Mlflow(m) = &plan.staging else {
            panic!("{:?}", plan.staging)
        };
        assert_eq!(m.entity, MlflowEntity::Prompt("sys".into()));
        assert_eq!(m.cache_ttl.to_string(), "1m");
        assert_eq!(plan.env_refs[0].name, "MLFLOW_URL");
        assert_eq!(plan.env_refs[0].path, "staging.url");

        let plan = load(&scenario(
            "llm",
            "v1",
            "",
            "staging:
  kind: litellm
  proxy: http://127.0.0.1:4000
  key: ${LITELLM_KEY}
  config: proxy/config.yaml
  model_name: llm
  reload: {exec: {command: 'systemctl restart litellm', timeout: 1m}}
",
        ))
        .unwrap_or_else(|d| panic!("{d:#?}"));
        let StagingPlan::Litellm(l) = &plan.staging else {
            panic!("{:?}", plan.staging)
        };
        assert_eq!(l.config, FsPath::new("dir/proxy/config.yaml"));
        assert_eq!(l.key.as_ref().map(|k| k.raw()), Some("${LITELLM_KEY}"));
        let Some(Reload::Exec(e)) = &l.reload else {
            panic!("{:?}", l.reload)
        };
        assert_eq!(e.timeout.to_string(), "1m");

        let plan = load(&scenario(
            "f",
            "v1",
            "",
            "staging: {kind: flag_file, path: /etc/flags.json, flag: f}\n",
        ))
        .unwrap_or_else(|d| panic!("{d:#?}"));
        let StagingPlan::FlagFile(f) = &plan.staging else {
            panic!("{:?}", plan.staging)
        };
        assert_eq!(
            (f.path.as_path(), f.poll.to_string()),
            (FsPath::new("/etc/flags.json"), "5s".into())
        );

        let plan = load(&scenario(
            "a",
            "v1",
            "",
            "staging: {kind: alias_file, path: a.yaml, alias: a, poll: 200ms, reload: {http: {method: POST, url: 'http://gw/reload'}}}\n",
        ))
        .unwrap_or_else(|d| panic!("{d:#?}"));
        let StagingPlan::AliasFile(a) = &plan.staging else {
            panic!("{:?}", plan.staging)
        };
        assert_eq!(a.poll.to_string(), "200ms");
        assert!(matches!(a.reload, Some(Reload::Http(_))));
    }

    #[test]
    fn fields_of_another_kind_and_missing_fields_are_located() {
        let found = errors(&scenario(
            "r",
            "v1",
            "",
            "staging:
  kind: flag_file
  flag: r
  alias: x
  poll: 0s
",
        ));
        assert_eq!(
            found,
            [
                "17:3 staging.kind: staging kind `flag_file` needs `path`",
                "19:3 staging.alias: `alias` does not apply to staging kind `flag_file`",
            ]
        );
        let found = errors(&scenario(
            "r",
            "v1",
            "",
            "staging: {kind: mlflow, url: 'https://m', model: m, prompt: p, alias: ' '}\n",
        ));
        assert_eq!(
            found,
            [
                "16:25 staging.url: `https://m` is not an http:// URL",
                "16:53 staging.prompt: both `model` and `prompt` are set",
                "16:64 staging.alias: the name is empty",
            ]
        );
        let found = errors(&scenario("r", "v1", "", "staging: {kind: mlfow}\n"));
        assert_eq!(found, ["16:17 staging.kind: unknown value `mlfow`"]);
    }

    #[test]
    fn the_scenario_route_must_be_the_real_route() {
        let found = errors(&scenario(
            "r",
            "v1",
            "",
            "staging: {kind: litellm, proxy: 'http://p', config: c.yaml, model_name: llm}\n",
        ));
        assert_eq!(
            found,
            [
                "16:61 staging.model_name: the release goes to route `r`, not to the model group `llm`"
            ]
        );
        let found = errors(&scenario(
            "r",
            "v12",
            ", weight: 25%",
            "staging: {kind: mlflow, url: 'http://m', model: m, alias: prod}\n",
        ));
        assert_eq!(
            found,
            [
                "8:19 registry.routes.r.candidates[0].version_pin: `v12` is not an MLflow version number",
                "13:43 release.weight: an MLflow alias moves all traffic at once: the release cannot be a canary",
            ]
        );
    }

    #[test]
    fn a_missing_golden_file_is_located_in_the_scenario() {
        let text = scenario("r", "v1", "", "")
            .replace("  rps: 10\n", "  rps: 10\n  golden: nowhere.jsonl\n");
        assert_eq!(
            errors(&text),
            ["11:3 traffic.golden: golden set `nowhere.jsonl` not found"]
        );
    }
}
