//! `http`, `exec` and `wait_for` steps and their `${NAME}` secrets: run for
//! real in live drills against a registry server process (on a free
//! loopback port, killed when the test ends), skipped — never faked — in
//! simulated ones, and an unset secret stops a live run before it starts.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

use common::http::Server;
use rollback_drill::drill::StepStatus;
use rollback_drill::outcome::DrillOutcome;
use rollback_drill::scenario;
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const TOKEN: &str = "tok-team-steps-4be1";
const SECRET: &str = "team-secret-91d7e2";

/// A 20% error rate on a 50% canary, rolled back automatically at the
/// first evaluation (1m30s, 1.5 s of wall time at 60×); `{STEPS}` follow
/// the rollback.
const DRILL: &str = r#"
name: {NAME}
change: prompt
seed: 1
duration: 30m
registry:
  routes:
    support-answer:
      candidates:
        - {id: p:v12, version_pin: v12, weight: 100}
  propagation: 0s
  write_latency: 0s
traffic:
  rps: 100
  behaviour:
    v12: {error_rate: 0.5%, latency: {p50: 700ms, p99: 2s}, quality: 88%}
release:
  route: support-answer
  version: v13
  at: 1m
  weight: 50%
  behaviour: {error_rate: 20%}
policy:
  window: 30s
  min_requests: 50
procedure:
  - identify_target: {previous: true}
  - execute: {mechanism: route_weight}
{STEPS}
"#;

fn write_drill(dir: &Path, name: &str, steps: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        DRILL.replace("{NAME}", name).replace("{STEPS}", steps),
    )
    .unwrap();
    file
}

fn registry(dir: &Path) -> Server {
    let tokens = dir.join("tokens.yaml");
    std::fs::write(&tokens, format!("{TOKEN}: platform_lead\n")).unwrap();
    Server::start(&dir.join("state.db"), &tokens)
}

fn run_live(scenario: &Path, reg: &Server, reports: &Path) -> Output {
    run_live_with(scenario, reg, reports, &[])
}

fn run_live_with(scenario: &Path, reg: &Server, reports: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .arg("run")
        .arg(scenario)
        .args(["--backend", "http", "--time-scale", "60", "--token", TOKEN])
        .arg("--registry")
        .arg(format!("http://{}", reg.addr))
        .arg("--report-dir")
        .arg(reports)
        .env("REG_URL", format!("http://{}", reg.addr))
        .env("REG_TOKEN", TOKEN)
        .env("TEAM_SECRET", SECRET)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

fn report(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn steps(doc: &Value) -> Vec<(String, String, String)> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
                s["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_no_report_holds(dir: &Path, secrets: &[&str]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for s in secrets {
            assert!(!text.contains(s), "{} holds {s}", path.display());
        }
    }
}

#[test]
fn http_and_exec_steps_run_for_real_and_a_failing_command_fails_the_drill() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let steps_yaml = r#"
  - http:
      url: ${REG_URL}/api/routes/support-answer
      headers: {Authorization: "Bearer ${REG_TOKEN}"}
      expect_status: 200
  - http:
      method: POST
      url: ${REG_URL}/api/rollback
      headers: {Authorization: "Bearer ${REG_TOKEN}", Content-Type: application/json}
      body: '{"route": "support-answer", "target_version": "v12", "reason": "runbook curl step"}'
  - http:
      url: ${REG_URL}/api/routes/no-such-route
      headers: {Authorization: "Bearer ${REG_TOKEN}"}
      expect_status: [404]
  - exec: {command: 'echo "using ${TEAM_SECRET}" >&2; test "$TEAM_SECRET" = team-secret-91d7e2', timeout: 1m}
  - exec: {command: 'echo "gateway refused ${TEAM_SECRET} for $REG_TOKEN" >&2; exit 7', timeout: 1m}
  - postmortem: {}
"#;
    let file = write_drill(dir.path(), "team-http-exec", steps_yaml);
    let reports = dir.path().join("reports");
    let out = run_live(&file, &reg, &reports);
    let doc = report(&reports, "team-http-exec");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed step fails the drill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = steps(&doc);
    let names: Vec<(&str, &str)> = s
        .iter()
        .map(|(n, st, _)| (n.as_str(), st.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("identify_target", "succeeded"),
            ("execute", "succeeded"),
            ("http", "succeeded"),
            ("http", "succeeded"),
            ("http", "succeeded"),
            ("exec", "succeeded"),
            ("exec", "failed"),
            ("postmortem", "not_run"),
            // The live drill puts the registry back as it found it.
            ("teardown", "succeeded"),
        ],
        "{doc:#}"
    );
    assert_eq!(s[2].2, "GET ${REG_URL}/api/routes/support-answer → 200");
    assert_eq!(s[3].2, "POST ${REG_URL}/api/rollback → 200");
    assert_eq!(s[4].2, "GET ${REG_URL}/api/routes/no-such-route → 404");
    // The shell saw the secret (the `test` passed) …
    assert!(s[5].2.ends_with("exited 0"), "{}", s[5].2);
    // … and the failure quotes stderr with every secret of the scenario
    // put back as `${…}` (REG_TOKEN is another step's).
    assert_eq!(
        s[6].2,
        "`echo \"gateway refused ${TEAM_SECRET} for $REG_TOKEN\" >&2; exit 7` exited with 7; stderr: gateway refused ${TEAM_SECRET} for ${REG_TOKEN}"
    );
    let procedure = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "procedure")
        .unwrap();
    assert_eq!(procedure["passed"], false);
    // The POST reached the registry: its audit log has the runbook's reason.
    assert!(
        doc["audit"].to_string().contains("runbook curl step"),
        "{:#}",
        doc["audit"]
    );
    assert_no_report_holds(&reports, &[SECRET, TOKEN]);
}

#[test]
fn an_http_step_with_an_unexpected_status_fails_with_the_answer() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    // No token: the registry answers 401.
    let file = write_drill(
        dir.path(),
        "team-http-refused",
        "  - http: {url: '${REG_URL}/api/routes/support-answer'}\n",
    );
    let reports = dir.path().join("reports");
    let out = run_live(&file, &reg, &reports);
    assert_eq!(out.status.code(), Some(1));
    let doc = report(&reports, "team-http-refused");
    let mut s = steps(&doc);
    assert_eq!(s.pop().map(|t| t.0).as_deref(), Some("teardown"));
    let (name, status, detail) = s.pop().unwrap();
    assert_eq!((name.as_str(), status.as_str()), ("http", "failed"));
    assert!(
        detail.starts_with("GET ${REG_URL}/api/routes/support-answer → 401, expected 2xx: "),
        "{detail}"
    );
}

#[test]
fn an_exec_step_past_its_timeout_is_killed_and_fails() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    // 1m of scenario time is 1 s of wall time at 60×; the sleep would take 60 s.
    let file = write_drill(
        dir.path(),
        "team-exec-timeout",
        "  - exec: {command: 'sleep 60; echo never', timeout: 1m}\n",
    );
    let reports = dir.path().join("reports");
    let out = run_live(&file, &reg, &reports);
    assert_eq!(out.status.code(), Some(1));
    let doc = report(&reports, "team-exec-timeout");
    let step = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "exec")
        .unwrap()
        .clone();
    assert_eq!(step["status"], "failed");
    assert!(
        step["detail"]
            .as_str()
            .unwrap()
            .starts_with("`sleep 60; echo never` did not finish within 1m (1.0s of wall time at --time-scale 60) and was killed"),
        "{step:#}"
    );
    // The step lasted its timeout, in scenario seconds.
    let took = step["end_s"].as_f64().unwrap() - step["start_s"].as_f64().unwrap();
    assert!(took >= 59.0, "{took}");
}

#[test]
fn an_unset_secret_stops_a_live_run_with_exit_3_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_drill(
        dir.path(),
        "team-unset",
        "  - http:\n      url: http://127.0.0.1:9/hook\n      headers: {Authorization: \"Bearer ${ROLLBACK_DRILL_TEST_UNSET}\"}\n",
    );
    let reports = dir.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .arg("run")
        .arg(&file)
        .args(["--backend", "http", "--time-scale", "60", "--report-dir"])
        .arg(&reports)
        .env_remove("ROLLBACK_DRILL_TEST_UNSET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let expected = format!(
        "{}:31:17: procedure[2].http.headers.Authorization: environment variable `ROLLBACK_DRILL_TEST_UNSET` is not set",
        file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("hint: export ROLLBACK_DRILL_TEST_UNSET"));
    assert!(
        !reports.join("team-unset.json").exists(),
        "nothing ran, nothing was reported"
    );
    // Simulated, the step is skipped and the variable is not needed.
    let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
        .arg("run")
        .arg(&file)
        .arg("--report-dir")
        .arg(&reports)
        .env_remove("ROLLBACK_DRILL_TEST_UNSET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

fn simulated(file: &str) -> DrillOutcome {
    let plan = scenario::load_file(&common::root().join(file)).expect("valid");
    rollback_drill::sim::run(&plan)
}

#[test]
fn simulated_drills_skip_live_only_steps_and_stay_deterministic() {
    let file = "fixtures/live/prometheus-verified-rollback.yaml";
    let (a, b) = (simulated(file), simulated(file));
    let json = rollback_drill::report::json::scenario;
    assert_eq!(json(&a), json(&b), "byte-identical JSON");
    for s in a.steps() {
        if ["http", "exec", "wait_for"].contains(&s.name.as_str()) {
            assert_eq!(s.status, StepStatus::Skipped, "{s:?}");
            assert_eq!(s.detail, "live only: runs with --backend http or container");
            assert_eq!(s.start_s, s.end_s, "takes no time");
        } else {
            assert_eq!(s.status, StepStatus::Succeeded, "{s:?}");
        }
    }
    let procedure = a
        .checks()
        .into_iter()
        .find(|c| c.name == "procedure")
        .unwrap();
    assert!(
        procedure.message.contains("3 did not apply"),
        "{procedure:?}"
    );
}

#[test]
fn the_schema_describes_the_live_steps_and_metrics() {
    let out = common::bin(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema["properties"]["metrics"].is_object(), "metrics");
    let steps: Vec<String> = schema["$defs"]["RawStep"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["required"].as_array().cloned().unwrap_or_default())
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    for step in ["http", "exec", "wait_for"] {
        assert!(steps.iter().any(|s| s == step), "{step} in {steps:?}");
    }
    let http = &schema["$defs"]["RawHttp"]["properties"];
    assert_eq!(
        http["expect_status"]["anyOf"][0]["$ref"],
        "#/$defs/StatusList"
    );
    let queries = &schema["$defs"]["RawPrometheus"]["properties"]["queries"]["properties"];
    for metric in ["error_rate", "quality", "latency_p50", "latency_p99"] {
        assert!(queries[metric].is_object(), "{metric}");
    }
}

#[test]
fn an_exec_step_does_not_wait_for_what_it_leaves_running() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    // The background sleep holds stderr open for 40 s of wall time (40
    // scenario minutes, past the drill's 30m): waiting for it would leave the
    // postmortem step not run.
    let file = write_drill(
        dir.path(),
        "team-exec-background",
        "  - exec: {command: 'sleep 40 & echo started >&2', timeout: 1m}\n  - postmortem: {}\n",
    );
    let reports = dir.path().join("reports");
    let out = run_live(&file, &reg, &reports);
    let doc = report(&reports, "team-exec-background");
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let s = steps(&doc);
    assert_eq!(s[2].1, "succeeded", "{s:?}");
    assert_eq!(s[3].1, "succeeded", "{s:?}");
}

/// The cases that leaked: a step's stderr cut to its last 300 characters
/// before redaction kept the tail of a long token, and control characters
/// flattened before redaction hid a token holding a tab from it.
#[test]
fn no_part_of_a_secret_reaches_a_report_from_long_or_tabbed_output() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const LONG: &str = "tok_0123456789abcdefghijklmnopqrstuvwxyzABC";
    const TABBED: &str = "tabbed\tsecret-9f3e1c";
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    write_drill(
        &scenarios,
        "team-leak-long",
        "  - exec: {command: 'head -c 290 /dev/zero | tr \"\\0\" x >&2; printf %s \"${LONG_TOKEN}\" >&2; exit 5', timeout: 1m}\n",
    );
    write_drill(
        &scenarios,
        "team-leak-tab",
        "  - exec: {command: 'printf \"refused: %s\" \"${TABBED_TOKEN}\" >&2; exit 6', timeout: 1m}\n",
    );
    let reports = dir.path().join("reports");
    let env = [("LONG_TOKEN", LONG), ("TABBED_TOKEN", TABBED)];
    let out = run_live_with(&scenarios, &reg, &reports, &env);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let long = steps(&report(&reports, "team-leak-long"));
    assert!(long[2].2.ends_with("${LONG_TOKEN}"), "{long:?}");
    assert!(long[2].2.contains("…xxx"), "{long:?}");
    let tab = steps(&report(&reports, "team-leak-tab"));
    assert!(
        tab[2].2.ends_with("stderr: refused: ${TABBED_TOKEN}"),
        "{tab:?}"
    );
    assert_no_report_holds(&reports, &[&LONG[23..], "secret-9f3e1c"]);
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(&LONG[23..]) && !text.contains("secret-9f3e1c"),
            "{text}"
        );
    }
}

/// A value with a line break would inject headers into an `http` step; a
/// value of a few characters would be "redacted" out of every word.
#[test]
fn a_secret_with_a_line_break_or_under_8_characters_is_refused_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_drill(
        dir.path(),
        "team-refused",
        "  - http:\n      url: http://127.0.0.1:9/hook\n      headers: {Authorization: \"Bearer ${ROLLBACK_DRILL_TEST_BAD}\"}\n",
    );
    let reports = dir.path().join("reports");
    for (value, why) in [
        ("abcdefgh\r\nX-Injected: 1", "holds a line break"),
        ("abc", "is shorter than 8 characters"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rollback-drill"))
            .arg("run")
            .arg(&file)
            .args(["--backend", "http", "--time-scale", "60", "--report-dir"])
            .arg(&reports)
            .env("ROLLBACK_DRILL_TEST_BAD", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        let expected = format!("environment variable `ROLLBACK_DRILL_TEST_BAD` {why}");
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(!stderr.contains("X-Injected"), "{stderr}");
        assert!(!reports.join("team-refused.json").exists());
    }
}
