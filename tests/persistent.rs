//! Live drills against one persistent registry, as a monthly drill runs
//! them: the same drill three times takes the same path and leaves the
//! route as it found it; the preflight reads the live registry (exit 3
//! when it cannot, exit 1 naming every difference when it drifted); and
//! simulated and live runs share one history without judging each other.

mod common;

use std::path::Path;
use std::sync::Mutex;

use common::http::{Server, TOKENS};
use serde_json::{Value, json};

const FIXTURE: &str = "fixtures/live/monthly-prompt-rollback.yaml";
const NAME: &str = "live-monthly-prompt-rollback";
const ROUTE: &str = "/api/routes/support-answer";

/// Live drills at 60× take the machine's cores: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn server(dir: &Path) -> Server {
    let tokens = dir.join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    Server::start(&dir.join("staging.db"), &tokens)
}

fn run(args: &[&str], report_dir: &Path) -> (i32, Value, String) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend(["--report-dir", report_dir.to_str().unwrap()]);
    let out = common::bin(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = std::fs::read(report_dir.join(format!("{NAME}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// candidates, versions and retention of the route.
fn state(s: &Server) -> (Value, Value, Value) {
    let (status, body) = s.request("GET", ROUTE, Some("viewer-t"), None);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    (
        v["candidates"].clone(),
        v["versions"].clone(),
        v["keep_last"].clone(),
    )
}

fn live_args(s: &Server) -> Vec<String> {
    vec![
        FIXTURE.into(),
        "--backend".into(),
        "http".into(),
        "--registry".into(),
        format!("http://{}", s.addr),
        "--token".into(),
        "lead-t".into(),
        "--time-scale".into(),
        "60".into(),
    ]
}

#[test]
fn the_same_live_drill_three_times_against_one_registry_takes_the_same_path() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let args = live_args(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut paths = Vec::new();
    let mut start = None;
    for month in 0..3 {
        let reports = dir.path().join(format!("month-{month}"));
        let (code, json, stderr) = run(&args, &reports);
        assert_eq!(code, 0, "month {month}: {stderr}\n{json:#}");
        let t = &json["trigger"];
        paths.push((
            t["metric"].clone(),
            t["action"].clone(),
            t["severity"].clone(),
            json["passed"].clone(),
        ));
        let teardown = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "teardown")
            .unwrap_or_else(|| panic!("month {month}: no teardown step: {json:#}"));
        assert_eq!(teardown["status"], "succeeded", "{teardown:#}");
        // The route is back where the first drill found it (after seeding).
        let now = state(&s);
        let first = start.get_or_insert_with(|| now.clone());
        assert_eq!(&now, first, "month {month}");
    }
    let (candidates, versions, keep_last) = start.unwrap();
    assert_eq!(candidates[0]["version"], "v12");
    assert_eq!(candidates.as_array().unwrap().len(), 1);
    // The release retired v10 (keep_last 3); the teardown held it again.
    assert_eq!(versions, json!(["v10", "v11", "v12"]));
    assert_eq!(keep_last, 3);
    assert!(paths.iter().all(|p| p == &paths[0]), "{paths:?}");
    assert_eq!(paths[0].1, "auto_rollback");
    assert_eq!(paths[0].3, true);
    s.kill9();
}

#[test]
fn a_drill_that_slows_the_registry_leaves_it_as_fast_as_it_found_it() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let url = format!("http://{}", s.addr);
    let slow = "fixtures/faults/registry-slow.yaml";
    let args = [
        slow,
        "--backend",
        "http",
        "--registry",
        &url,
        "--token",
        "lead-t",
        "--time-scale",
        "60",
    ];
    let mut paths = Vec::new();
    for month in 0..2 {
        let reports = dir.path().join(format!("month-{month}"));
        let mut all = vec!["run"];
        all.extend_from_slice(&args);
        all.extend(["--report-dir", reports.to_str().unwrap()]);
        let out = common::bin(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let json: Value = serde_json::from_slice(
            &std::fs::read(reports.join("fault-registry-slow.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "month {month}: {stderr}\n{json:#}"
        );
        paths.push((json["trigger"]["action"].clone(), json["passed"].clone()));
        let teardown = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "teardown")
            .cloned()
            .unwrap();
        assert!(
            teardown["detail"]
                .as_str()
                .unwrap()
                .contains("the faults the drill injected undone"),
            "{teardown:#}"
        );
        // Nothing the drill injected is still in force on the registry.
        let (status, body) = s.request("GET", "/admin/faults", Some("viewer-t"), None);
        assert_eq!(status, 200, "{body}");
        let faults: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            faults["registry_slow"]["add_ms"], 0,
            "month {month}: {faults}"
        );
        assert_eq!(faults["registry_outage"]["left_ms"], 0, "{faults}");
    }
    assert_eq!(paths[0], paths[1]);
    s.kill9();
}

#[test]
fn the_scenario_retention_reaches_the_route_the_drill_seeds() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    // Not the registry's default (3): keep_last 4 must come from the
    // scenario.
    let four = fixture_with(
        dir.path(),
        "keep-four.yaml",
        "retention: {keep_last: 3}",
        "retention: {keep_last: 4}",
    );
    let mut args = live_args(&s);
    args[0] = four.to_str().unwrap().to_string();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, json, stderr) = run(&args, &dir.path().join("reports"));
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    let (_, versions, keep_last) = state(&s);
    assert_eq!(keep_last, 4);
    assert_eq!(versions, json!(["v10", "v11", "v12"]));
    s.kill9();
}

#[test]
fn a_drill_stopped_by_an_error_leaves_the_reports_of_the_others() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    // Two drills, in name order: the first runs; the second reads its
    // metrics from a Prometheus that is not there, which stops it before
    // its drill (exit 3).
    let text = std::fs::read_to_string(common::root().join(FIXTURE)).unwrap();
    let drills = dir.path().join("drills");
    std::fs::create_dir(&drills).unwrap();
    std::fs::write(drills.join("a.yaml"), &text).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let broken = text.replace(
        "name: live-monthly-prompt-rollback",
        "name: live-monthly-prompt-no-prometheus",
    ) + &format!(
        "\nmetrics:\n  prometheus:\n    url: http://127.0.0.1:{closed}\n    queries:\n      error_rate: 'sum(rate(x{{version=\"{{version}}\"}}[1m]))'\n"
    );
    std::fs::write(drills.join("b.yaml"), broken).unwrap();
    let mut args = live_args(&s);
    args[0] = drills.to_str().unwrap().to_string();
    // Two seeds each: what is reported is folded per scenario.
    args.extend(["--repeat".to_string(), "2".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reports = dir.path().join("reports");
    let (code, json, stderr) = run(&args, &reports);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{closed}")), "{stderr}");
    // The drill that ended is reported, its seeds folded, with its teardown.
    assert_eq!(json["passed"], true, "{json:#}");
    assert_eq!(json["repeat"]["seeds"], 2, "{json:#}");
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 1, "{junit}");
    assert!(
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "teardown")
    );
    let results: Value =
        serde_json::from_slice(&std::fs::read(reports.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["counts"]["scenarios"], 1, "{results:#}");
    assert!(reports.join("junit.xml").exists());
    s.kill9();
}

fn scenario_route() -> Value {
    json!({"revision": 0, "change": "prompt", "keep_last": 3,
        "candidates": [{"id": "prompts:support-answer:v12", "version": "v12", "weight": 100}],
        "versions": ["v10", "v11", "v12"], "reason": "as the scenario starts"})
}

/// The fixture with `from` replaced by `to` (which must be in it), written
/// into `dir` as `name`.
fn fixture_with(dir: &Path, name: &str, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::root().join(FIXTURE)).unwrap();
    assert!(text.contains(from), "the fixture holds `{from}`");
    let file = dir.join(name);
    std::fs::write(&file, text.replace(from, to)).unwrap();
    file
}

/// Routes the whole route to `version` at `revision`, as a team would.
fn route_to(s: &Server, revision: &Value, version: &str, reason: &str) {
    let body = json!({"revision": revision, "reason": reason,
        "candidates": [{"id": format!("prompts:support-answer:{version}"), "version": version, "weight": 100}]});
    let (status, answer) = s.request("PUT", ROUTE, Some("lead-t"), Some(&body.to_string()));
    assert_eq!(status, 200, "{answer}");
}

/// Drops a held version, as a team would.
fn drop_version(s: &Server, version: &str) {
    let path = format!("/api/versions/support-answer/{version}");
    let (status, body) = s.request("DELETE", &path, Some("lead-t"), None);
    assert_eq!(status, 200, "{body}");
}

fn findings(json: &Value) -> Vec<(String, String)> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_preflight_reads_the_live_registry_and_names_every_difference() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens: exit 3, naming the registry.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    let (code, _, stderr) = run(
        &[
            FIXTURE,
            "--backend",
            "http",
            "--registry",
            &closed,
            "--token",
            "t",
            "--preflight-only",
        ],
        &dir.path().join("closed"),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(&closed), "{stderr}");

    let mut s = server(dir.path());
    let url = format!("http://{}", s.addr);
    let pre = [
        "--backend",
        "http",
        "--registry",
        &url,
        "--token",
        "lead-t",
        "--preflight-only",
    ];
    let preflight = |name: &str| {
        let mut args = vec![FIXTURE];
        args.extend_from_slice(&pre);
        run(&args, &dir.path().join(name))
    };
    let body = scenario_route().to_string();
    assert_eq!(s.request("PUT", ROUTE, Some("lead-t"), Some(&body)).0, 200);
    let (code, json, stderr) = preflight("aligned");
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    assert!(findings(&json).is_empty(), "{json:#}");
    // A token the registry refuses is the environment's fault (exit 3,
    // naming the endpoint), not a finding about the route.
    let (code, _, stderr) = run(
        &[
            FIXTURE,
            "--backend",
            "http",
            "--registry",
            &url,
            "--token",
            "not-a-token",
            "--preflight-only",
        ],
        &dir.path().join("refused"),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("GET /api/routes/support-answer") && stderr.contains("401"),
        "{stderr}"
    );

    // A flag has moved: someone routed v11.
    route_to(&s, &json!(1), "v11", "hotfix");
    let (code, json, stderr) = preflight("moved");
    assert_eq!(code, 1, "{stderr}");
    let f = findings(&json);
    assert!(
        f.iter().any(|(k, m)| k == "route_moved"
            && m.contains("routes v11 100%")
            && m.contains("starts from v12 100%")),
        "{f:?}"
    );
    // The preflight of a team's registry changes nothing.
    let (candidates, _, _) = state(&s);
    assert_eq!(candidates[0]["version"], "v11");

    // Put v12 back, then drop the version the drill rolls back to.
    route_to(&s, &json!(2), "v12", "undo");
    drop_version(&s, "v11");
    let (code, json, stderr) = preflight("dropped");
    assert_eq!(code, 1, "{stderr}");
    let f = findings(&json);
    assert!(
        f.iter()
            .any(|(k, m)| k == "config_mismatch" && m.contains("missing: v11")),
        "{f:?}"
    );
    // A runbook that rolls back to v11 by name: its target is gone.
    let pinned = fixture_with(
        dir.path(),
        "pinned.yaml",
        "identify_target: {previous: true}",
        "identify_target: {version: v11}",
    );
    let mut args = vec![pinned.to_str().unwrap()];
    args.extend_from_slice(&pre);
    let (code, json, stderr) = run(&args, &dir.path().join("pinned"));
    assert_eq!(code, 1, "{stderr}");
    let f = findings(&json);
    assert!(
        f.iter()
            .any(|(k, m)| k == "target_retired" && m.contains("v11")),
        "{f:?}"
    );
    assert!(
        !f.iter().any(|(k, _)| k == "config_mismatch"),
        "one finding for v11: {f:?}"
    );
    // A run (not only the preflight) on that registry does not start: the
    // drift fails it, and the route is left as it was.
    let args = live_args(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, json, stderr) = run(&args, &dir.path().join("run"));
    assert_eq!(code, 1, "{stderr}");
    assert!(!findings(&json).is_empty());
    assert_eq!(state(&s).1, json!(["v10", "v12"]));

    // Moved and dropped at once: routed to v10, then v12 (what the runbook
    // goes back to from the scenario's start) deleted. Both are named.
    let (_, body) = s.request("GET", ROUTE, Some("viewer-t"), None);
    let revision = serde_json::from_str::<Value>(&body).unwrap()["revision"].clone();
    route_to(&s, &revision, "v10", "hotfix");
    drop_version(&s, "v12");
    let (code, json, stderr) = preflight("moved-and-dropped");
    assert_eq!(code, 1, "{stderr}");
    let f = findings(&json);
    assert!(
        f.iter()
            .any(|(k, m)| k == "route_moved" && m.contains("routes v10 100%")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|(k, m)| k == "target_retired" && m.contains("rollback target v12")),
        "{f:?}"
    );
    s.kill9();
}

#[test]
fn simulated_and_live_runs_share_a_history_without_judging_each_other() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let sim = [FIXTURE];
    let (code, _, stderr) = run(&sim, &reports);
    assert_eq!(code, 0, "{stderr}");
    let live = [FIXTURE, "--backend", "http", "--time-scale", "60"];
    let (code, json, stderr) = run(&live, &reports);
    assert_eq!(code, 0, "{stderr}");
    let drift = |json: &Value| {
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "drift")
            .cloned()
            .unwrap()
    };
    // The live run has no earlier live run to compare with.
    assert_eq!(drift(&json)["status"], "skipped", "{json:#}");
    let (code, json, stderr) = run(&sim, &reports);
    assert_eq!(code, 0, "{stderr}");
    let d = drift(&json);
    assert_eq!(d["status"], "passed", "{d:#}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("against 1 earlier run(s)"),
        "{d:#}"
    );
    let history = std::fs::read_to_string(reports.join("history.jsonl")).unwrap();
    let lines: Vec<Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let backends: Vec<&str> = lines
        .iter()
        .map(|l| l["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["in-process", "http", "in-process"]);
    assert_eq!(lines[1]["time_scale"], 60.0);
    assert!(lines[0]["time_scale"].is_null());
    let out = common::bin(&["history", "--report-dir", reports.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("http ×60"), "{table}");
    assert!(
        table.contains("in-process: median of 2 passing run(s)"),
        "{table}"
    );
}

/// `--compare-simulated`: a live drill that takes the scenario's path
/// passes its `simulated_twin` check; a run that took another path (here:
/// another error rate, so a page instead of an automatic rollback) is
/// named by what differs.
#[test]
fn the_simulated_twin_passes_a_faithful_live_run_and_names_a_divergence() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let live = [
        FIXTURE,
        "--backend",
        "http",
        "--time-scale",
        "60",
        "--compare-simulated",
    ];
    let (code, json, stderr) = run(&live, &dir.path().join("twin"));
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    let twin = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "simulated_twin")
        .cloned()
        .unwrap_or_else(|| panic!("no simulated_twin check: {json:#}"));
    assert_eq!(twin["status"], "passed", "{twin:#}");
    assert!(findings(&json).iter().all(|(k, _)| k != "path_diverged"));

    // A scenario that no longer describes the registry: it says a write
    // takes 5m to be acknowledged, `registry serve` takes milliseconds. The
    // twin restores 5m later than the live run, far more than one
    // evaluation interval: `path_diverged`, and the run fails (exit 1).
    let slow = fixture_with(
        dir.path(),
        "slow-writes.yaml",
        "write_latency: 0s",
        "write_latency: 5m",
    );
    let slow = slow.to_str().unwrap();
    let diverging = [
        slow,
        "--backend",
        "http",
        "--time-scale",
        "60",
        "--compare-simulated",
    ];
    let (code, json, stderr) = run(&diverging, &dir.path().join("diverged"));
    assert_eq!(code, 1, "{stderr}\n{json:#}");
    assert!(
        findings(&json)
            .iter()
            .any(|(k, m)| k == "path_diverged" && m.contains("restore took")),
        "{json:#}"
    );

    let paged = common::canary(3, 100, "50%", "3%", "");
    let spike = common::canary(3, 100, "50%", "10%", "");
    let sim = rollback_drill::sim::run(&spike);
    let other = rollback_drill::sim::run(&paged);
    let t = rollback_drill::outcome::Twin::of(&sim, 30.0);
    assert!(t.differences(&sim).is_empty());
    let diffs = t.differences(&other);
    assert!(
        diffs
            .iter()
            .any(|d| d.contains("page") && d.contains("auto_rollback")),
        "{diffs:?}"
    );
}
