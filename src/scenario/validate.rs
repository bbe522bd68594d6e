//! Raw scenario → [`Plan`], collecting every problem on the way.
//!
//! The raw pass deserializes each top-level section (and each list item of
//! the procedure, faults and triggers) separately, so a typo in `policy`
//! still lets us check `procedure`. The semantic pass then resolves names
//! and checks what serde cannot: weights that sum to 100, a release that is
//! really new, a procedure that actually executes a rollback. Problems are
//! located through the node tree by their field path.

mod faults;
mod policy;
mod procedure;
mod set;
mod staging;
mod staging_fits;
mod team;
mod world;

pub use policy::default_policy_triggers;

pub(crate) use faults::fault_fields;
pub(crate) use procedure::{mechanism_fields, mechanism_required};
pub(crate) use set::SET_MECHANISMS;
pub(crate) use staging::staging_fields;

use std::path::Path as FsPath;

use serde::de::DeserializeOwned;

use super::diagnostic::Diagnostic;
use super::plan::*;
use super::raw::*;
use super::units::{Dur, Percent};
use super::vocab::*;
use super::yaml::{self, DeError, Node, NodeKind, Path, suggest};

/// The longest report file stem: `<stem>.json` within the 255 bytes a
/// file name may hold on Linux, macOS and Windows file systems.
const MAX_REPORT_STEM: usize = 250;

pub fn validate(
    text: &str,
    file: &FsPath,
    sets: &[super::set::FieldSet],
) -> Result<Plan, Vec<Diagnostic>> {
    let mut root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            return Err(vec![Diagnostic::new(
                file,
                e.mark,
                "(document)".into(),
                format!("invalid YAML: {}", e.message),
                e.hint.into(),
            )]);
        }
    };
    for set in sets {
        if let Err(e) = set.apply(&mut root) {
            return Err(vec![Diagnostic::file_level(
                file,
                e.to_string(),
                "name a scalar field of the scenario, e.g. --set release.version=v2.1.0",
            )]);
        }
    }
    let mut c = Checker {
        file,
        root: &root,
        diags: Vec::new(),
        env_refs: Vec::new(),
    };
    let raw = c.read_raw();
    let plan = c.plan(raw, text);
    match plan {
        Some(plan) if c.diags.is_empty() => Ok(plan),
        _ => {
            c.diags.sort_by_key(|d| (d.line, d.column));
            for d in &mut c.diags {
                if let Some(set) = sets.iter().find(|s| s.covers(&d.path)) {
                    d.message = format!("{} {}", d.message, set.note());
                }
            }
            Err(c.diags)
        }
    }
}

struct Checker<'a> {
    file: &'a FsPath,
    root: &'a Node,
    diags: Vec<Diagnostic>,
    /// Every `${NAME}` met so far, located.
    env_refs: Vec<EnvRef>,
}

impl Checker<'_> {
    /// A polling step's `every` and `within` (defaults 5s and 5m): a
    /// positive interval no longer than `within`.
    fn poll_interval(
        &mut self,
        path: &Path,
        step: &str,
        every: Option<Dur>,
        within: Option<Dur>,
    ) -> Option<(Dur, Dur)> {
        let every = every.unwrap_or(Dur::from_secs(5));
        let within = within.unwrap_or(Dur::from_mins(5));
        if every == Dur::ZERO || within < every {
            self.error(
                &path.key("every"),
                format!("{step} polls every {every} within {within}"),
                "poll at a positive interval no longer than `within`",
            );
            return None;
        }
        Some((every, within))
    }

    fn error(&mut self, path: &Path, message: impl Into<String>, hint: impl Into<String>) {
        let mark = self.root.locate(path);
        self.diags.push(Diagnostic::new(
            self.file,
            mark,
            path.to_string(),
            message.into(),
            hint.into(),
        ));
    }

    fn de_error(&mut self, e: DeError, fallback: &Path) {
        let path = e.path.clone().unwrap_or_else(|| fallback.clone());
        let mark = e.mark.unwrap_or_else(|| self.root.locate(&path));
        let hint = e.hint.clone().unwrap_or_else(|| hint_for(&e.message));
        self.diags.push(Diagnostic::new(
            self.file,
            mark,
            path.to_string(),
            e.message,
            hint,
        ));
    }

    fn field<T: DeserializeOwned>(&mut self, node: &Node, path: &Path) -> Option<T> {
        match yaml::from_node(node, path) {
            Ok(v) => Some(v),
            Err(e) => {
                self.de_error(e, path);
                None
            }
        }
    }

    /// A list read item by item; `None` if any item is invalid (so later
    /// checks do not pile follow-on errors onto a half-read list).
    fn list<T: DeserializeOwned>(&mut self, node: &Node, path: &Path) -> Option<Vec<T>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.field(item, &path.index(i)) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Null => Some(Vec::new()),
            _ => {
                self.error(
                    path,
                    format!("expected a list, found {}", node.describe()),
                    "write one `- item` per line",
                );
                None
            }
        }
    }

    fn read_raw(&mut self) -> RawScenario {
        let mut raw = RawScenario::default();
        let entries = match &self.root.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => {
                self.error(
                    &Path::root(),
                    "the scenario file is empty",
                    "start from `rollback-drill schema` or a file in scenarios/",
                );
                return raw;
            }
            _ => {
                self.error(
                    &Path::root(),
                    format!(
                        "a scenario is a mapping of fields, found {}",
                        self.root.describe()
                    ),
                    "start from a file in scenarios/",
                );
                return raw;
            }
        };
        for (key, value) in entries {
            let name = key.as_str().unwrap_or("");
            let path = Path::root().key(name);
            match name {
                "name" => raw.name = self.field(value, &path),
                "description" => raw.description = self.field(value, &path),
                "change" => raw.change = self.field(value, &path),
                "seed" => raw.seed = self.field(value, &path),
                "duration" => raw.duration = self.field(value, &path),
                "registry" => raw.registry = self.field(value, &path),
                "traffic" => raw.traffic = self.field(value, &path),
                "release" => raw.release = self.read_release(value, &path),
                "policy" => raw.policy = self.read_policy(value, &path),
                "responders" => raw.responders = self.field(value, &path),
                "procedure" => raw.procedure = self.list(value, &path),
                "faults" => raw.faults = self.list(value, &path),
                "targets" => raw.targets = self.field(value, &path),
                "drift" => raw.drift = self.field(value, &path),
                "expect" => raw.expect = self.field(value, &path),
                "metrics" => raw.metrics = self.field(value, &path),
                "staging" => raw.staging = self.field(value, &path),
                // The key's own mark: locating it through the tree would
                // scan the mapping once per unknown key.
                other => self.diags.push(Diagnostic::new(
                    self.file,
                    key.mark,
                    path.to_string(),
                    format!("unknown field `{other}`"),
                    suggest(other, SCENARIO_FIELDS),
                )),
            }
        }
        for (field, hint) in [
            (
                "change",
                "add `change:` with one of prompt, model, agent_code, eval, data",
            ),
            (
                "duration",
                "add `duration:`, the simulated horizon, e.g. `3h`",
            ),
            (
                "registry",
                "add `registry:` with the routes before the release",
            ),
            (
                "traffic",
                "add `traffic:` with `rps` and each version's behaviour",
            ),
            ("release", "add `release:`, the change under test"),
            ("procedure", "add `procedure:`, the runbook's steps"),
        ] {
            let present = entries.iter().any(|(k, _)| k.as_str() == Some(field));
            if !present {
                self.diags.push(Diagnostic::new(
                    self.file,
                    yaml::Mark { line: 1, column: 1 },
                    field.to_string(),
                    format!("missing field `{field}`"),
                    hint.to_string(),
                ));
            }
        }
        raw
    }

    /// `release`: one route, or several as `changes`.
    fn read_release(&mut self, node: &Node, path: &Path) -> Option<RawReleaseForm> {
        let set = node
            .as_map()
            .is_some_and(|entries| entries.iter().any(|(k, _)| k.as_str() == Some("changes")));
        if set {
            self.field(node, path).map(RawReleaseForm::Set)
        } else {
            self.field(node, path).map(RawReleaseForm::One)
        }
    }

    /// `policy` with its trigger list read item by item.
    fn read_policy(&mut self, node: &Node, path: &Path) -> Option<RawPolicy> {
        let triggers_node = node.as_map().and_then(|entries| {
            entries
                .iter()
                .find(|(k, _)| k.as_str() == Some("triggers"))
                .map(|(_, v)| v)
        });
        let Some(triggers_node) = triggers_node else {
            return self.field(node, path);
        };
        let triggers = self.list::<RawTrigger>(triggers_node, &path.key("triggers"));
        let NodeKind::Map(entries) = &node.kind else {
            return None;
        };
        let rest = Node {
            kind: NodeKind::Map(
                entries
                    .iter()
                    .filter(|(k, _)| k.as_str() != Some("triggers"))
                    .cloned()
                    .collect(),
            ),
            mark: node.mark,
        };
        let mut policy: RawPolicy = self.field(&rest, path)?;
        policy.triggers = Some(triggers?);
        Some(policy)
    }

    fn plan(&mut self, raw: RawScenario, text: &str) -> Option<Plan> {
        let name = raw.name.clone().unwrap_or_else(|| {
            self.file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        if name.trim().is_empty() {
            self.error(
                &Path::root().key("name"),
                "the scenario name is empty",
                "name the scenario, or leave `name` out to use the file's stem",
            );
        }
        // The report file is `<stem>.json`; `/`, NUL and every other
        // character a file name cannot hold are already replaced in the
        // stem, so only its length can make the write fail after the run.
        let stem = super::file_stem_for(&name);
        if stem.len() > MAX_REPORT_STEM {
            let start: String = stem.chars().take(32).collect();
            self.error(
                &Path::root().key("name"),
                format!(
                    "the scenario name is too long for its report file: `{start}….json` would be {} bytes, a file name holds at most {}",
                    stem.len() + ".json".len(),
                    MAX_REPORT_STEM + ".json".len()
                ),
                format!("shorten the name to at most {MAX_REPORT_STEM} characters"),
            );
        }
        let duration = raw.duration;
        if duration == Some(Dur::ZERO) {
            self.error(
                &Path::root().key("duration"),
                "duration is 0s (durations are whole milliseconds)",
                "give the drill time to run, e.g. `3h`",
            );
        }
        if duration.is_some_and(|d| d > Dur::from_mins(30 * 24 * 60)) {
            self.error(
                &Path::root().key("duration"),
                format!(
                    "duration {} is longer than 30 days",
                    duration.unwrap_or_default()
                ),
                "a drill's horizon is hours or days; split longer studies",
            );
        }
        let policy = self.policy(raw.policy.unwrap_or_default());
        let related = raw
            .registry
            .as_ref()
            .map(|r| r.related.clone())
            .unwrap_or_default();
        let registry = raw.registry.and_then(|r| self.registry(r));
        let mut traffic = match (&raw.traffic, &registry) {
            (Some(t), Some(reg)) => self.traffic(t, reg),
            _ => None,
        };
        let (release, release_set) = match (raw.release, &registry, &traffic, &policy, duration) {
            (Some(RawReleaseForm::One(rel)), Some(reg), Some(tr), Some(pol), Some(dur)) => {
                self.related_without_set(&related);
                (
                    self.release(rel, &Path::root().key("release"), reg, tr, pol, dur),
                    Some(None),
                )
            }
            (Some(RawReleaseForm::Set(set)), Some(reg), Some(tr), Some(pol), Some(dur)) => {
                match self.release_set(set, &related, reg, tr, pol, dur) {
                    Some((rel, set)) => (Some(rel), Some(set)),
                    None => (None, None),
                }
            }
            _ => (None, None),
        };
        let responders = self.responders(
            raw.responders.unwrap_or_default(),
            release.as_ref(),
            registry.as_ref(),
            traffic.as_mut(),
        );
        let metrics = match raw.metrics {
            Some(m) => self.metrics(m).map(Some),
            None => Some(None),
        };
        let procedure = match (raw.procedure, &registry, &traffic, &release) {
            (Some(steps), Some(reg), Some(tr), Some(rel)) => {
                let source = metrics.as_ref().and_then(Option::as_ref);
                self.procedure(steps, reg, tr, rel, source)
            }
            _ => None,
        };
        if let (Some(Some(_)), Some(steps), Some(people)) = (&release_set, &procedure, &responders)
        {
            self.set_fits(steps, people);
        }
        let staging = self.staging(raw.staging, registry.as_ref(), release.as_ref());
        if let (Some(st), Some(steps)) = (&staging, &procedure) {
            let set = matches!(release_set, Some(Some(_)));
            self.staging_fits(st, steps, set, matches!(metrics, Some(Some(_))));
        }
        let golden = self.golden(raw.traffic.as_ref().and_then(|t| t.golden.as_deref()));
        let faults = match (raw.faults, &release, &registry) {
            (Some(list), Some(rel), Some(reg)) => self.faults(list, rel, reg, traffic.as_ref()),
            (None, _, _) => Some(Vec::new()),
            _ => None,
        };
        let drift = match raw.drift {
            Some(d) => {
                let runs = d.runs.unwrap_or(5);
                if runs == 0 {
                    self.error(
                        &Path::root().key("drift").key("runs"),
                        "drift runs is 0: there would be nothing to compare with",
                        "compare with the median of a few recent passing runs, e.g. `runs: 5`",
                    );
                }
                DriftPolicy {
                    runs: runs.max(1) as usize,
                    tolerance: d.tolerance.map_or(0.25, |t| t.0.fraction()),
                }
            }
            None => DriftPolicy::default(),
        };
        let mut targets = PhaseTargets::default();
        if let Some(t) = &raw.targets {
            for (name, value, slot) in [
                ("detect", t.detect, &mut targets.detect),
                ("decide", t.decide, &mut targets.decide),
                ("mitigate", t.mitigate, &mut targets.mitigate),
            ] {
                if value == Some(Dur::ZERO) {
                    self.error(
                        &Path::root().key("targets").key(name),
                        format!("{name} target is 0s"),
                        "give a positive target, or leave it out (unset: not checked)",
                    );
                }
                *slot = value;
            }
        }
        let restore_target = match raw.targets.as_ref().and_then(|t| t.restore) {
            Some(Dur::ZERO) => {
                self.error(
                    &Path::root().key("targets").key("restore"),
                    "restore target is 0s",
                    "give a positive target, or leave it out for the change type's default",
                );
                None
            }
            Some(t) => Some(t),
            None => raw.change.map(ChangeType::default_restore_target),
        };
        let expect = raw.expect.unwrap_or_default();
        let procedure_hash = procedure
            .as_ref()
            .map(|p| fnv_hex(format!("{p:?}").as_bytes()));
        Some(Plan {
            name,
            description: raw.description.unwrap_or_default(),
            file: self.file.to_path_buf(),
            scenario_hash: fnv_hex(text.as_bytes()),
            procedure_hash: procedure_hash?,
            change: raw.change?,
            seed: raw.seed.unwrap_or(0),
            duration: duration?,
            registry: registry?,
            traffic: TrafficPlan {
                golden: golden?,
                ..traffic?
            },
            release: release?,
            release_set: release_set?,
            policy: policy?,
            responders: responders?,
            procedure: procedure?,
            faults: faults?,
            restore_target: restore_target?,
            targets,
            drift,
            expect: Expect {
                rollback: expect.rollback,
                severity: expect.severity,
                verdict: expect.verdict,
                findings: expect.findings.unwrap_or_default(),
            },
            metrics: metrics?,
            staging: staging?,
            env_refs: {
                let mut refs = std::mem::take(&mut self.env_refs);
                refs.sort_by_key(|r| (r.line, r.column));
                refs
            },
        })
    }
}

fn metric_unit(metric: VerifyMetric) -> &'static str {
    match metric {
        VerifyMetric::ErrorRate | VerifyMetric::Quality => "percentage such as `1%`",
        VerifyMetric::QualityDrop | VerifyMetric::LatencyP99Increase => {
            "percentage relative to the baseline such as `10%`"
        }
        VerifyMetric::LatencyP50 | VerifyMetric::LatencyP99 => "duration such as `2.5s`",
    }
}

fn suggest_owned(given: &str, known: &[&str]) -> String {
    suggest(given, known)
}

/// A hint for serde's own messages, which carry none.
fn hint_for(message: &str) -> String {
    if message.contains("duration") {
        "write durations like `30s`, `5m`, `2h`".into()
    } else if message.contains("outside 0% to 100%") {
        "a share goes from 0% to 100%".into()
    } else if message.contains("percentage") {
        "write percentages like `8%` or `0.5%`".into()
    } else if message.starts_with("invalid type") {
        "check the value's type against `rollback-drill schema`".into()
    } else {
        String::new()
    }
}

/// FNV-1a, 64 bits, as hex: stable across builds and platforms.
pub fn fnv_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;
