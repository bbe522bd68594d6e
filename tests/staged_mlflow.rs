//! Whole drills against a real MLflow 3.17.2 server (from the venv
//! `.ci/venvs` builds), through the CLI: a model alias and a prompt alias
//! released, detected, moved back, verified and torn down, with every alias
//! exactly as before (read through `registered-models/get`) and the drill's
//! versions deleted; a 10 s alias cache shows in the time until traffic is
//! back; drift (a deleted target, a moved alias) fails preflight and
//! changes nothing; Ctrl-C during a drill still tears down. One server for
//! the whole file; each case has a model or prompt of its own.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::servers;
use rollback_drill::scenario::staging::MlflowEntity;
use rollback_drill::staging::mlflow::Mlflow;
use serde_json::Value;

/// A drill on `entity` (`model: NAME` or `prompt: NAME`) whose alias
/// `production` names version 3; the release fails 30% of requests.
fn scenario(entity: &str, change: &str) -> String {
    format!(
        "name: mlflow-drill
change: {change}
seed: 4
duration: 10m
registry:
  routes:
    support-bot:
      candidates:
        - {{id: support-bot/3, version_pin: '3', weight: 100}}
traffic:
  rps: 6
  behaviour:
    '3': {{error_rate: 0.5%, latency: {{p50: 300ms, p99: 900ms}}, quality: 95%}}
release:
  route: support-bot
  version: v4-candidate
  at: 90s
  behaviour: {{error_rate: 30%}}
policy:
  evaluate_every: 5s
  window: 90s
  min_requests: 30
staging:
  kind: mlflow
  url: ${{MLFLOW_URL}}
  {entity}
  alias: production
  cache_ttl: 10s
procedure:
  - identify_target: {{previous: true}}
  - execute: {{mechanism: alias_remap}}
  - verify: {{metric: error_rate, below: 5%, every: 5s, within: 2m}}
expect:
  rollback: true
"
    )
}

/// A model or prompt with versions 1–3, `production` on 3 and `champion`
/// on 2; returns what `registered-models/get` and the version list say.
fn seeded(m: &Mlflow, entity: &MlflowEntity) -> (BTreeMap<String, String>, Vec<String>) {
    m.create(entity).expect("created");
    for n in 1..=3 {
        let v = m
            .create_version(
                entity,
                &n.to_string(),
                &format!("http://127.0.0.1:1/team/{n}/v1"),
                "Answer briefly.",
            )
            .expect("a version");
        assert_eq!(v.version, n.to_string());
    }
    m.set_alias(entity.name(), "production", "3").unwrap();
    m.set_alias(entity.name(), "champion", "2").unwrap();
    state(m, entity)
}

fn state(m: &Mlflow, entity: &MlflowEntity) -> (BTreeMap<String, String>, Vec<String>) {
    let aliases = m.registered_model(entity.name()).expect("read").aliases;
    let versions = m
        .versions(entity)
        .expect("listed")
        .into_iter()
        .map(|v| v.version)
        .collect();
    (aliases, versions)
}

fn command(dir: &Path, url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollback-drill"));
    cmd.args([
        "run",
        "drill.yaml",
        "--time-scale",
        "10",
        "--format",
        "json",
    ])
    .args(["--report-dir", "reports"])
    .args(extra)
    .env("MLFLOW_URL", url)
    .current_dir(dir);
    cmd
}

fn run(url: &str, yaml: &str) -> (Output, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("drill.yaml"), yaml).unwrap();
    let out = command(dir.path(), url, &[]).output().expect("runs");
    let json = report(dir.path());
    (out, json, dir)
}

fn report(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("reports/results.json"))
        .map(|t| serde_json::from_str::<Value>(&t).expect("JSON")["scenarios"][0].clone())
        .unwrap_or(Value::Null)
}

fn step<'a>(drill: &'a Value, name: &str) -> &'a Value {
    drill["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name}: {drill:#}"))
}

#[test]
fn drills_against_a_real_mlflow_server() {
    let Some(server) = servers::mlflow() else {
        return;
    };
    let m = Mlflow::new(&server.url).expect("a URL");
    let started = Instant::now();
    a_drill_passes_and_leaves_every_alias_as_it_was(
        &m,
        &server.url,
        MlflowEntity::Model("support-bot-model".into()),
        "model",
    );
    a_drill_passes_and_leaves_every_alias_as_it_was(
        &m,
        &server.url,
        MlflowEntity::Prompt("support-system-prompt".into()),
        "prompt",
    );
    a_deleted_target_is_target_retired(&m, &server.url);
    a_moved_alias_is_route_moved(&m, &server.url);
    ctrl_c_still_tears_down(&m, &server.url);
    eprintln!(
        "MLflow drills took {:.1} s (server start {:.1} s)",
        started.elapsed().as_secs_f64(),
        server.started_in.as_secs_f64()
    );
}

fn a_drill_passes_and_leaves_every_alias_as_it_was(
    m: &Mlflow,
    url: &str,
    entity: MlflowEntity,
    change: &str,
) {
    let before = seeded(m, &entity);
    let field = match &entity {
        MlflowEntity::Model(n) => format!("model: {n}"),
        MlflowEntity::Prompt(n) => format!("prompt: {n}"),
    };
    let (out, drill, _dir) = run(url, &scenario(&field, change));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{drill:#}");
    assert_eq!(drill["passed"], true, "{drill:#}");
    assert_eq!(drill["rollback_target"], "3");
    // The release really was version 4 behind the alias, and the rollback
    // moved the alias back to 3.
    let audit = drill["audit"].as_array().expect("audit");
    assert_eq!(audit.len(), 2, "{audit:#?}");
    assert_eq!(audit[0]["to"], "v4-candidate 100%");
    assert_eq!(audit[1]["to"], "3 100%");
    let execute = step(&drill, "execute");
    assert_eq!(execute["status"], "succeeded", "{execute:#}");
    // The stand-in app caches alias lookups for 10 s: traffic is back only
    // after that.
    let restore = drill["durations"]["restore"].as_f64().expect("restore");
    assert!(restore >= 10.0, "restore {restore} s, under the 10 s cache");
    assert!(restore < 20.0, "restore {restore} s");
    assert_eq!(step(&drill, "verify")["status"], "succeeded");
    assert_eq!(step(&drill, "teardown")["status"], "succeeded");
    assert_eq!(state(m, &entity), before, "aliases and versions as before");
    eprintln!("{change} drill: restore {restore:.1} s (cache_ttl 10 s)");
}

fn a_deleted_target_is_target_retired(m: &Mlflow, url: &str) {
    let entity = MlflowEntity::Model("retired-model".into());
    seeded(m, &entity);
    // Deleting version 3 silently drops `production` with it.
    m.delete_version("retired-model", "3").unwrap();
    let before = state(m, &entity);
    let (out, drill, _dir) = run(url, &scenario("model: retired-model", "model"));
    assert_eq!(out.status.code(), Some(1), "{drill:#}");
    let kinds: Vec<&str> = drill["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"target_retired"), "{kinds:?}");
    assert_eq!(state(m, &entity), before, "nothing changed in MLflow");
}

fn a_moved_alias_is_route_moved(m: &Mlflow, url: &str) {
    let entity = MlflowEntity::Model("moved-model".into());
    seeded(m, &entity);
    m.set_alias("moved-model", "production", "1").unwrap();
    let before = state(m, &entity);
    let (out, drill, _dir) = run(url, &scenario("model: moved-model", "model"));
    assert_eq!(out.status.code(), Some(1), "{drill:#}");
    let findings = drill["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["kind"], "route_moved");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("alias `production` names version 1, the scenario says 3"),
        "{findings:#?}"
    );
    assert_eq!(state(m, &entity), before, "nothing changed in MLflow");
}

fn ctrl_c_still_tears_down(m: &Mlflow, url: &str) {
    let entity = MlflowEntity::Model("interrupted-model".into());
    let before = seeded(m, &entity);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("drill.yaml"),
        scenario("model: interrupted-model", "model"),
    )
    .unwrap();
    let child = command(dir.path(), url, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("started");
    // Wait until the release has moved the alias, then Ctrl-C.
    let start = Instant::now();
    loop {
        let now = m.alias("interrupted-model", "production").unwrap();
        if now.is_some_and(|v| v.version == "4") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never released");
        std::thread::sleep(Duration::from_millis(50));
    }
    let moved = state(m, &entity);
    assert_eq!(moved.0["production"], "4");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let drill = report(dir.path());
    assert_eq!(step(&drill, "teardown")["status"], "succeeded", "{drill:#}");
    assert_eq!(
        state(m, &entity),
        before,
        "the alias is back on 3 and version 4 deleted"
    );
}
