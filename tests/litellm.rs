//! The LiteLLM client and the config rewriter against a real LiteLLM
//! 1.100.0 proxy (from the venv `.ci/venvs` builds), routing one model
//! group over deployments served by the harness's mock backend: the
//! release's deployment added to config.yaml (and the proxy restarted), the
//! serving deployment read from `x-litellm-model-id`, a failing deployment
//! hidden from clients by the router's retries but counted in `/metrics/`,
//! and a weight rollback by rewriting config.yaml and restarting the proxy,
//! with the file byte-identical after teardown.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::servers;
use rollback_drill::scenario::golden::GoldenSet;
use rollback_drill::scenario::{Behaviour, Dur};
use rollback_drill::staging::files::{Format, NewEntry, RouteFile};
use rollback_drill::staging::litellm::Litellm;
use rollback_drill::staging::mock::MockBackend;

const KEY: &str = "sk-drill-test";

fn behaviour(error_rate: f64) -> Behaviour {
    Behaviour {
        error_rate,
        quality: 1.0,
        p50: Dur(5),
        p99: Dur(20),
    }
}

fn config(mock: &MockBackend) -> String {
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
  - {{model_name: embedder, litellm_params: {{model: openai/e, mock_response: 'hi'}}, model_info: {{id: embed-1}}}}
router_settings:
  routing_strategy: simple-shuffle   # weighted by litellm_params.weight
  num_retries: 5                     # a failed call is retried on a deployment drawn again
litellm_settings:
  callbacks: [\"prometheus\"]
general_settings:
  master_key: {KEY}
",
        v1 = mock.base_url("support-v1"),
    )
}

/// Sends `n` golden prompts; counts answers by (status, serving deployment).
fn send(proxy: &Litellm, golden: &GoldenSet, n: usize) -> BTreeMap<(u16, String), usize> {
    let mut seen = BTreeMap::new();
    for i in 0..n {
        let case = &golden.cases[i % golden.cases.len()];
        let a = proxy.chat("support-llm", &case.prompt).expect("an answer");
        let id = a.model_id.unwrap_or_else(|| "(none)".into());
        if a.status == 200 {
            assert!(
                a.content
                    .as_deref()
                    .is_some_and(|c| c.contains(&case.expect)),
                "{id} answered {:?}",
                a.content
            );
        }
        *seen.entry((a.status, id)).or_default() += 1;
    }
    seen
}

#[test]
fn a_litellm_proxy_routes_hides_failures_and_rolls_back_by_config() {
    let golden = GoldenSet::builtin();
    let mock = MockBackend::start(
        3,
        1.0,
        golden.clone(),
        &[
            ("support-v1".into(), behaviour(0.0)),
            ("support-v2".into(), behaviour(0.0)),
        ],
    )
    .expect("the mock starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("config.yaml");
    let original = config(&mock);
    std::fs::write(&path, &original).expect("config written");
    let Some(mut server) = servers::litellm(&path) else {
        return;
    };
    let proxy = Litellm::new(&server.url, Some(KEY)).expect("a URL");
    let route = RouteFile::new(Format::LitellmConfig, &path, "support-llm");
    let snapshot = route.snapshot().expect("snapshot");

    // The proxy serves what the file says.
    let group = |proxy: &Litellm| {
        let mut d: Vec<(String, Option<f64>)> = proxy
            .deployments()
            .expect("model info")
            .into_iter()
            .filter(|d| d.model_name == "support-llm")
            .map(|d| (d.id, d.weight))
            .collect();
        d.sort_by(|a, b| a.0.cmp(&b.0));
        d
    };
    assert_eq!(group(&proxy), [("support-v1".to_string(), Some(100.0))]);
    let seen = send(&proxy, &golden, 10);
    assert_eq!(
        seen.get(&(200, "support-v1".to_string())),
        Some(&10),
        "{seen:?}"
    );

    // The release: a deployment serving from the mock, at a 10% canary.
    let release = NewEntry {
        id: "support-v2".into(),
        version: "support-v2".into(),
        base_url: mock.base_url("support-v2"),
        weight: 10.0,
    };
    route.add(&release).expect("release added");
    route
        .set_weights(&[("support-v1".into(), 90.0)])
        .expect("canary weights");
    let released = std::fs::read_to_string(&path).unwrap();
    let line = format!(
        "  - {{model_name: support-llm, litellm_params: {{model: openai/support-v2, api_base: \"{}\", api_key: mock, weight: 10}}, model_info: {{id: support-v2}}}}\n",
        release.base_url
    );
    assert_eq!(
        released,
        original
            .replace("      weight: 100\n", "      weight: 90\n")
            .replace("router_settings:", &format!("{line}router_settings:"))
    );
    eprintln!(
        "proxy restart (release): ready in {:.1} s",
        server.restart().as_secs_f64()
    );
    assert_eq!(
        group(&proxy),
        [
            ("support-v1".to_string(), Some(90.0)),
            ("support-v2".to_string(), Some(10.0))
        ]
    );
    let entries = route.read().expect("read").expect("the group");
    assert_eq!(
        entries.iter().map(|e| e.weight).collect::<Vec<_>>(),
        [Some(90.0), Some(10.0)]
    );
    // At 10%, 80 requests miss support-v2 with a chance of 0.9^80 = 0.02%.
    let seen = send(&proxy, &golden, 80);
    assert!(seen.keys().all(|(s, _)| *s == 200), "{seen:?}");
    for id in ["support-v1", "support-v2"] {
        assert!(
            seen.contains_key(&(200, id.to_string())),
            "{id} never served: {seen:?}"
        );
    }

    // The regression: support-v2 fails every call. Clients see nothing:
    // a request fails only if six draws in a row pick support-v2 (1e-6).
    let before = proxy.deployment_failures().expect("metrics");
    mock.set_behaviour("support-v2", behaviour(1.0));
    let seen = send(&proxy, &golden, 80);
    assert_eq!(
        seen.get(&(200, "support-v1".to_string())),
        Some(&80),
        "{seen:?}"
    );
    let failed = mock.served("support-v2").errors;
    assert!(failed > 0, "the router never tried support-v2");
    // Only the per-deployment counter shows it (written in the background:
    // polled for a few seconds).
    let delta = |after: &BTreeMap<String, f64>, id: &str| {
        after.get(id).copied().unwrap_or(0.0) - before.get(id).copied().unwrap_or(0.0)
    };
    let t = Instant::now();
    let after = loop {
        let after = proxy.deployment_failures().expect("metrics");
        if delta(&after, "support-v2") >= 1.0 || t.elapsed().as_secs() > 10 {
            break after;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let counted = delta(&after, "support-v2");
    assert!(
        counted >= 1.0 && counted <= failed as f64,
        "{counted} of {failed}: {after:?}"
    );
    assert_eq!(delta(&after, "support-v1"), 0.0, "{after:?}");
    eprintln!("support-v2 failed {failed} calls, the proxy counted {counted}, clients saw none");

    // The rollback: weights rewritten in the file, the proxy restarted.
    route
        .set_weights(&[("support-v1".into(), 100.0), ("support-v2".into(), 0.0)])
        .expect("rewritten");
    let rewritten = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        rewritten,
        released
            .replace("      weight: 90\n", "      weight: 100\n")
            .replace("api_key: mock, weight: 10}", "api_key: mock, weight: 0}")
    );
    let t = Instant::now();
    let ready = server.restart();
    eprintln!(
        "proxy restart (rollback): ready in {:.1} s ({:.1} s with the stop)",
        ready.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    proxy
        .wait_ready(std::time::Duration::from_secs(5))
        .expect("ready");
    mock.set_behaviour("support-v2", behaviour(0.0));
    let v2_before = mock.served("support-v2").requests;
    let seen = send(&proxy, &golden, 20);
    assert_eq!(
        seen.get(&(200, "support-v1".to_string())),
        Some(&20),
        "{seen:?}"
    );
    assert_eq!(
        mock.served("support-v2").requests,
        v2_before,
        "weight 0 still served"
    );

    // Teardown: the file exactly as found, comments and all.
    snapshot.restore().expect("restored");
    assert_eq!(std::fs::read(&path).unwrap(), original.as_bytes());
}
