//! `rollback-drill init`: a commented starter scenario, optionally with the
//! registry taken from a gateway's alias file.
//!
//! The starter is a drill that works as written — a critical error spike on
//! a 25% canary, rolled back by the change type's usual mechanism — so a
//! team starts from something green and edits towards its own runbook.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;

use crate::scenario::yaml::{self, Path as FieldPath};
use crate::scenario::{ChangeType, Diagnostic, Dur, raw::RawCandidate};

/// A gateway alias file: `aliases: NAME: candidates: [{id, version_pin, weight}]`.
/// Other keys a gateway keeps beside `aliases` and `candidates` are ignored;
/// a candidate takes exactly `id`, `version_pin` and `weight`.
#[derive(Debug, Deserialize)]
struct AliasFile {
    aliases: BTreeMap<String, Alias>,
}

#[derive(Debug, Deserialize)]
struct Alias {
    candidates: Vec<RawCandidate>,
}

/// The routes of an alias file, or every problem with it.
pub fn read_aliases(file: &Path) -> Result<Vec<(String, Vec<RawCandidate>)>, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        vec![Diagnostic::file_level(
            file,
            format!("cannot read alias file: {e}"),
            "check the path passed to --from",
        )]
    })?;
    let root = yaml::parse(&text).map_err(|e| {
        vec![Diagnostic::new(
            file,
            e.mark,
            "(document)".into(),
            format!("invalid YAML: {}", e.message),
            e.hint.into(),
        )]
    })?;
    let parsed: AliasFile = yaml::from_node(&root, &FieldPath::root()).map_err(|e| {
        let path = e.path.clone().unwrap_or_default();
        vec![Diagnostic::new(
            file,
            e.mark.unwrap_or_else(|| root.locate(&path)),
            path.to_string(),
            e.message.clone(),
            e.hint.clone().unwrap_or_else(|| {
                "an alias file looks like `aliases: NAME: candidates: [{id, version_pin, weight}]`".into()
            }),
        )]
    })?;
    let mut problems = Vec::new();
    for (name, alias) in &parsed.aliases {
        let sum: u64 = alias.candidates.iter().map(|c| u64::from(c.weight)).sum();
        if sum != 100 {
            let path = FieldPath::root().key("aliases").key(name).key("candidates");
            problems.push(Diagnostic::new(
                file,
                root.locate(&path),
                path.to_string(),
                format!("weights of alias `{name}` sum to {sum}, expected 100"),
                "fix the alias file's weights".into(),
            ));
        }
    }
    if parsed.aliases.is_empty() {
        problems.push(Diagnostic::file_level(
            file,
            "the alias file has no aliases".into(),
            "add at least one alias",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(parsed
        .aliases
        .into_iter()
        .map(|(name, a)| (name, a.candidates))
        .collect())
}

/// The change type an alias file's routes most likely carry, from the
/// first segment of their candidate ids (`prompts:support-answer:v12`):
/// prompts, agents, evals and data sets by name; anything else — a
/// provider's model id, as gateways have — is a model.
pub fn infer_change(routes: &[(String, Vec<RawCandidate>)]) -> ChangeType {
    let kind = |id: &str| {
        let head = id
            .split([':', '/', '@'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match head.trim_end_matches('s') {
            "prompt" => ChangeType::Prompt,
            "agent" | "agent_code" | "agent-code" => ChangeType::AgentCode,
            "eval" => ChangeType::Eval,
            "data" | "dataset" | "kb" | "index" => ChangeType::Data,
            _ => ChangeType::Model,
        }
    };
    let mut kinds = routes
        .iter()
        .flat_map(|(_, c)| c.iter().map(|c| kind(&c.id)));
    let first = kinds.next().unwrap_or(ChangeType::Model);
    if kinds.all(|k| k == first) {
        first
    } else {
        ChangeType::Model
    }
}

/// The starter scenario's text.
pub fn render(change: ChangeType, routes: Option<&[(String, Vec<RawCandidate>)]>) -> String {
    let default_routes;
    let routes = match routes {
        Some(r) => r,
        None => {
            default_routes = vec![(
                "support-answer".to_string(),
                vec![RawCandidate {
                    id: "prompts:support-answer:v12".into(),
                    version_pin: "support-answer@v12".into(),
                    weight: 100,
                }],
            )];
            &default_routes
        }
    };
    let (route, candidates) = &routes[0];
    let main = candidates
        .iter()
        .max_by_key(|c| c.weight)
        .expect("validated: routes have candidates");
    let release = format!("{}-next", main.version_pin);
    let (mechanism, target) = match change {
        ChangeType::Prompt => ("{mechanism: route_weight}", change.default_restore_target()),
        ChangeType::Model => ("{mechanism: alias_remap}", change.default_restore_target()),
        ChangeType::AgentCode => (
            "{mechanism: redeploy, replicas: 4, surge: 2, per_replica: 60s, image_pull: 30s}",
            change.default_restore_target(),
        ),
        ChangeType::Eval => (
            "{mechanism: revert_set, rebaseline: 5m}",
            change.default_restore_target(),
        ),
        ChangeType::Data => (
            "{mechanism: restore_data, documents: 500000, rebuild_rate: 500}",
            change.default_restore_target(),
        ),
    };
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# yaml-language-server: $schema=./scenario.schema.json");
    let _ = writeln!(
        w,
        "# A starter drill from `rollback-drill init`. It passes as written: edit it"
    );
    let _ = writeln!(
        w,
        "# towards your own release and runbook. Reference: the README's"
    );
    let _ = writeln!(
        w,
        "# \"Scenario reference\"; schema: `rollback-drill schema > scenario.schema.json`."
    );
    let _ = writeln!(w, "name: {route}-{change}-rollback-drill");
    let _ = writeln!(w, "description: >");
    let _ = writeln!(
        w,
        "  {release} goes to a 25% canary on {route} and 8% of its requests fail."
    );
    let _ = writeln!(
        w,
        "  The critical error-rate trigger must roll it back to {} within",
        main.version_pin
    );
    let _ = writeln!(
        w,
        "  the {target} target for {} {change} change.",
        change.article()
    );
    let _ = writeln!(
        w,
        "change: {change}            # prompt | model | agent_code | eval | data"
    );
    let _ = writeln!(w, "seed: 1                   # --seed overrides");
    let _ = writeln!(
        w,
        "duration: 2h              # simulated horizon; the drill ends once verified\n"
    );
    let _ = writeln!(
        w,
        "registry:                 # the staging registry when the drill starts"
    );
    let _ = writeln!(w, "  routes:");
    for (name, cands) in routes {
        let _ = writeln!(w, "    {name}:");
        let _ = writeln!(w, "      candidates:");
        for c in cands {
            let _ = writeln!(
                w,
                "        - {{id: {}, version_pin: {}, weight: {}}}",
                c.id, c.version_pin, c.weight
            );
        }
    }
    let _ = writeln!(w, "  retention: {{keep_last: 3}}");
    let _ = writeln!(
        w,
        "  propagation: 2s          # time for a routing change to reach every router"
    );
    let _ = writeln!(
        w,
        "  write_latency: 1s        # time for a registry write to be acknowledged\n"
    );
    let _ = writeln!(w, "traffic:");
    let _ = writeln!(
        w,
        "  rps: 100                 # requests per second on each route"
    );
    let _ = writeln!(w, "  behaviour:               # how each version behaves");
    let mut pins: Vec<&str> = routes
        .iter()
        .flat_map(|(_, c)| c.iter().map(|c| c.version_pin.as_str()))
        .collect();
    pins.sort();
    pins.dedup();
    for pin in pins {
        let _ = writeln!(
            w,
            "    {pin}: {{error_rate: 0.5%, latency: {{p50: 900ms, p99: 2.5s}}, quality: 86%}}"
        );
    }
    let _ = writeln!(w, "\nrelease:                  # the change under test");
    let _ = writeln!(w, "  route: {route}");
    let _ = writeln!(w, "  version: {release}");
    let _ = writeln!(w, "  at: 15m");
    let _ = writeln!(
        w,
        "  weight: 25%              # or steps: [1%, 5%, 25%, 100%] with step_every: 10m"
    );
    let _ = writeln!(
        w,
        "  behaviour: {{error_rate: 8%}}   # the regression; other fields are the stable version's\n"
    );
    let _ = writeln!(
        w,
        "# policy: and responders: use the defaults of the README; override as needed.\n"
    );
    let _ = writeln!(
        w,
        "procedure:                # the runbook under test, in order"
    );
    let _ = writeln!(w, "  - confirm: {{}}");
    let _ = writeln!(w, "  - identify_target: {{previous: true}}");
    let _ = writeln!(w, "  - baseline_check: {{requests: 200}}");
    let _ = writeln!(w, "  - execute: {mechanism}");
    let _ = writeln!(
        w,
        "  - verify: {{metric: error_rate, below: 1%, every: 5s, within: 5m}}"
    );
    let _ = writeln!(w, "  - postmortem: {{}}\n");
    let _ = writeln!(
        w,
        "faults: []                # chaos on the rollback path, e.g. {{kind: config_mismatch, fix_after: 20m}}\n"
    );
    let _ = writeln!(w, "targets:");
    let _ = writeln!(
        w,
        "  restore: {}              # the default for {change}",
        Dur(target.0)
    );
    let _ = writeln!(w, "\nexpect:");
    let _ = writeln!(w, "  rollback: true");
    let _ = writeln!(w, "  severity: critical");
    let _ = writeln!(w, "  verdict: pass");
    out
}
