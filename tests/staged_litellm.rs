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

/// The fixtures (`fixtures/staging/litellm-model-group.yaml`, its config
/// and reload script) copied into a folder of their own, as laid out in
/// the repository: the scenario's `reload:` runs from that folder.
fn copied() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let root = common::root().join("fixtures");
    for (sub, file) in [
        ("staging", "litellm-model-group.yaml"),
        ("staging-files", "litellm-config.yaml"),
        ("staging-files", "restart-litellm.sh"),
    ] {
        let to = dir.path().join("fixtures").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(root.join(sub).join(file), to.join(file)).unwrap();
    }
    dir
}

/// Stops the proxy the script started last, whatever the test did.
struct Proxy(std::path::PathBuf);

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("litellm.pid")) {
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
    let dir = copied();
    let port = servers::free_port();
    let files = dir.path().join("fixtures/staging-files");
    let config = files.join("litellm-config.yaml");
    let original = std::fs::read_to_string(&config).unwrap();
    let _proxy = Proxy(files.clone());
    let env = [
        ("LITELLM_BIN", litellm.display().to_string()),
        ("LITELLM_PORT", port.to_string()),
        ("LITELLM_KEY", KEY.to_string()),
        ("LITELLM_URL", format!("http://127.0.0.1:{port}")),
        ("SUPPORT_V1_API_BASE", mock.base_url("v1")),
    ];
    let started = Instant::now();
    let up = Command::new("sh")
        .arg("fixtures/staging-files/restart-litellm.sh")
        .envs(env.clone())
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(up.success(), "the proxy did not start");
    eprintln!("proxy ready in {:.1} s", started.elapsed().as_secs_f64());

    // Drift first: the file edited but the proxy not restarted on it. The
    // preflight finds the proxy serving other deployments than its config
    // lists, fails the drill and changes nothing.
    let edited = original.replace("id: support-v1", "id: support-v1-eu");
    std::fs::write(&config, &edited).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args(["run", "fixtures/staging/litellm-model-group.yaml"])
        .args(["--format", "json", "--report-dir", "drift-reports"])
        .envs(env.clone())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("drift-reports/results.json")).unwrap(),
    )
    .unwrap();
    let findings = json["scenarios"][0]["findings"].to_string();
    assert!(
        findings.contains("the proxy serves deployments [support-v1] of `support-llm`, its config file lists [support-v1-eu]"),
        "{findings}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        edited,
        "unchanged"
    );
    std::fs::write(&config, &original).unwrap();

    let drilled = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .args(["run", "fixtures/staging/litellm-model-group.yaml"])
        .args(["--time-scale", "10", "--format", "json"])
        .args(["--report-dir", "reports"])
        .envs(env)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Value = std::fs::read_to_string(dir.path().join("reports/results.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    let drill = &json["scenarios"][0];
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{drill:#}");
    // The master key is a secret: no report or message carries it.
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .flatten()
        .collect();
    assert!(reports.len() >= 2, "{reports:?}");
    for f in reports {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(!text.contains(KEY), "{} holds the key", f.path().display());
    }
    assert!(!stderr.contains(KEY), "{stderr}");
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
        std::fs::read_to_string(&config).unwrap(),
        original,
        "config.yaml byte-identical after teardown"
    );
    assert!(
        mock.served("v1").requests > 0,
        "today's deployment served traffic"
    );
}
