//! A whole drill through a real LiteLLM 1.100.0 proxy (from the venv
//! `.ci/venvs` builds), through the CLI: one model group of two
//! deployments, today's on a mock backend of the harness and the release's
//! registered by the drill on the drill's own mock. The release fails every
//! call, which the router's retries hide from clients; the drill still
//! detects it from the proxy's per-deployment `/metrics/`, rolls back by
//! rewriting the weights in config.yaml and restarting the proxy (the
//! scenario's `reload:`, a script a team would have), and leaves the
//! config byte-identical, comments included.

mod common;

use std::process::Command;
use std::time::Instant;

use common::servers;
use rollback_drill::scenario::golden::GoldenSet;
use rollback_drill::scenario::{Behaviour, Dur};
use rollback_drill::staging::mock::MockBackend;
use serde_json::Value;

const KEY: &str = "sk-drill-test";

const SCENARIO: &str = "name: litellm-drill
change: model
seed: 5
duration: 8m
registry:
  routes:
    support-llm:
      candidates:
        - {id: support-v1, version_pin: v1, weight: 100}
traffic:
  rps: 3
  behaviour:
    v1: {error_rate: 0%, latency: {p50: 50ms, p99: 200ms}, quality: 100%}
release:
  route: support-llm
  version: v2
  id: support-v2
  at: 30s
  weight: 25%
  behaviour: {error_rate: 100%}
policy:
  evaluate_every: 5s
  window: 30s
  min_requests: 10
staging:
  kind: litellm
  proxy: ${LITELLM_URL}
  key: ${LITELLM_KEY}
  config: config.yaml
  model_name: support-llm
  reload: {exec: {command: 'sh proxy.sh', timeout: 10m}}
procedure:
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
  - verify: {metric: error_rate, below: 3%, every: 5s, within: 3m}
expect:
  rollback: true
";

fn config(v1: &str) -> String {
    format!(
        "# The staging proxy of the support bot.
model_list:
  # today's backend
  - model_name: support-llm
    litellm_params:
      model: openai/support-v1
      api_base: {v1}   # the harness's mock
      api_key: \"x\"
      weight: 100
    model_info:
      id: support-v1
router_settings:
  routing_strategy: simple-shuffle   # weighted by litellm_params.weight
  num_retries: 3                     # a failed call is retried: clients see no error
  allowed_fails: 1000                # keep the failing deployment in rotation
litellm_settings:
  callbacks: [\"prometheus\"]
general_settings:
  master_key: {KEY}
"
    )
}

/// The team's reload: stop the proxy (its process group) if it runs,
/// start it on its config, wait until it is live.
fn script(litellm: &str, port: u16) -> String {
    format!(
        "#!/bin/sh
dir=$(pwd)
if [ -f proxy.pid ]; then
  pid=$(cat proxy.pid)
  env kill -s TERM -- \"-$pid\" 2>/dev/null
  n=0
  while kill -0 \"$pid\" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n+1)); done
  env kill -s KILL -- \"-$pid\" 2>/dev/null
fi
LITELLM_LOCAL_MODEL_COST_MAP=True setsid {litellm} --config \"$dir/config.yaml\" --host 127.0.0.1 --port {port} >>proxy.log 2>&1 </dev/null &
echo $! >proxy.pid
n=0
until curl -sf http://127.0.0.1:{port}/health/liveliness >/dev/null; do
  sleep 0.2
  n=$((n+1))
  if [ $n -ge 600 ]; then echo 'proxy not ready' >&2; exit 1; fi
done
"
    )
}

/// Stops the proxy the script started, whatever the test did.
struct Proxy(std::path::PathBuf);

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("proxy.pid")) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", pid.trim())])
                .status();
        }
    }
}

#[test]
fn a_litellm_drill_detects_a_deployment_retries_hide_and_rolls_back_by_config() {
    let Some(litellm) = servers::venv_bin("litellm", "litellm") else {
        return;
    };
    let healthy = Behaviour {
        error_rate: 0.0,
        quality: 1.0,
        p50: Dur(50),
        p99: Dur(200),
    };
    let mock = MockBackend::start(1, 10.0, GoldenSet::builtin(), &[("v1".into(), healthy)])
        .expect("the mock");
    let dir = tempfile::tempdir().unwrap();
    let port = servers::free_port();
    let original = config(&mock.base_url("v1"));
    std::fs::write(dir.path().join("config.yaml"), &original).unwrap();
    std::fs::write(dir.path().join("drill.yaml"), SCENARIO).unwrap();
    std::fs::write(
        dir.path().join("proxy.sh"),
        script(&litellm.display().to_string(), port),
    )
    .unwrap();
    let _proxy = Proxy(dir.path().to_path_buf());
    let started = Instant::now();
    let up = Command::new("sh")
        .arg("proxy.sh")
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(up.success(), "the proxy did not start");
    eprintln!("proxy ready in {:.1} s", started.elapsed().as_secs_f64());

    let drilled = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args([
            "run",
            "drill.yaml",
            "--time-scale",
            "10",
            "--format",
            "json",
        ])
        .args(["--report-dir", "reports"])
        .env("LITELLM_URL", format!("http://127.0.0.1:{port}"))
        .env("LITELLM_KEY", KEY)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Value = std::fs::read_to_string(dir.path().join("reports/results.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    let drill = &json["scenarios"][0];
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{drill:#}");
    eprintln!(
        "LiteLLM drill took {:.1} s",
        drilled.elapsed().as_secs_f64()
    );
    assert_eq!(drill["passed"], true, "{drill:#}");
    // Detected on the release's own failures, which the router retried on
    // v1: clients saw (almost) none of them, the proxy's metrics all.
    assert_eq!(drill["trigger"]["metric"], "error_rate", "{drill:#}");
    let why = drill["decision"]["path"][0]["what"].as_str().unwrap();
    assert!(why.contains("on v2"), "{why}");
    assert!(drill["trigger"]["value"].as_f64().unwrap() > 0.9, "{why}");
    eprintln!(
        "detected: {why}; restore {} s (the proxy restart included), impacted requests {}",
        drill["durations"]["restore"], drill["impacted_requests"]
    );
    let audit = drill["audit"].as_array().expect("audit");
    assert_eq!(audit.len(), 2, "{audit:#?}");
    assert_eq!(audit[1]["to"], "v1 100%, v2 0%");
    let steps = drill["steps"].as_array().unwrap();
    let teardown = steps.iter().find(|s| s["name"] == "teardown").unwrap();
    assert_eq!(teardown["status"], "succeeded", "{teardown:#}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.yaml")).unwrap(),
        original,
        "config.yaml byte-identical after teardown"
    );
    assert!(
        mock.served("v1").requests > 0,
        "today's deployment served traffic"
    );
}
