//! The MLflow client against a real MLflow 3.17.2 server (from the venv
//! `.ci/venvs` builds): model and prompt aliases read and moved, versions
//! that point at the harness's mock backend, and the trap of a deleted
//! version whose alias silently disappears. One server for the whole file.

mod common;

use std::time::Instant;

use common::servers;
use rollback_drill::scenario::golden::{GoldenSet, is_good};
use rollback_drill::scenario::plan::{Candidate, RoutePlan};
use rollback_drill::scenario::staging::MlflowEntity;
use rollback_drill::scenario::{Behaviour, Dur, FindingKind};
use rollback_drill::staging::files::NewEntry;
use rollback_drill::staging::http::Client;
use rollback_drill::staging::mlflow::{Mlflow, VERSION_TAG};
use rollback_drill::staging::mock::MockBackend;
use rollback_drill::staging::preflight;
use rollback_drill::staging::route::{MlflowRoute, RealRoute};
use rollback_drill::staging::standin::{AliasLookup, StandIn};
use serde_json::json;

fn healthy() -> Behaviour {
    Behaviour {
        error_rate: 0.0,
        quality: 1.0,
        p50: Dur(5),
        p99: Dur(10),
    }
}

#[test]
fn mlflow_aliases_versions_and_their_traps_on_a_real_server() {
    let Some(server) = servers::mlflow() else {
        return;
    };
    let golden = GoldenSet::builtin();
    let mock = MockBackend::start(
        1,
        1.0,
        golden.clone(),
        &[("v1".into(), healthy()), ("v2".into(), healthy())],
    )
    .expect("the mock starts");
    let m = Mlflow::new(&server.url).expect("a URL");
    assert!(m.healthy());

    model_alias_moves_to_a_version_serving_from_the_mock(&m, &mock, &golden);
    prompt_aliases_and_the_prompt_search_filter(&m, &mock, &server.url);
    a_deleted_version_takes_its_alias_with_it(&m, &mock);
    errors_name_the_endpoint(&m);
    a_route_drill_leaves_the_aliases_as_it_found_them(&server.url, &mock);
    the_app_sees_a_moved_alias_only_after_its_cache_ttl(&server.url, mock);
}

fn model_alias_moves_to_a_version_serving_from_the_mock(
    m: &Mlflow,
    mock: &MockBackend,
    golden: &GoldenSet,
) {
    let model = MlflowEntity::Model("support-bot-model".into());
    m.create(&model).expect("model created");
    let v1 = m
        .create_version(&model, "v1", &mock.base_url("v1"), "")
        .expect("v1");
    let v2 = m
        .create_version(&model, "v2", &mock.base_url("v2"), "")
        .expect("v2");
    assert_eq!((v1.version.as_str(), v2.version.as_str()), ("1", "2"));
    assert_eq!(
        v2.source,
        format!("rollback-drill://{}/mock/v2/v1", mock.addr())
    );
    assert_eq!(v2.tags[VERSION_TAG], "v2");
    assert_eq!(
        m.alias("support-bot-model", "production").expect("read"),
        None
    );

    m.set_alias("support-bot-model", "production", "1")
        .expect("alias set");
    let serving = m
        .alias("support-bot-model", "production")
        .expect("read")
        .expect("the alias");
    assert_eq!(serving.version, "1");
    // What a stand-in app does: resolve the alias, call its backend.
    let base = serving.base_url().expect("the mock URL tag");
    let case = &golden.cases[0];
    let r = Client::new(base)
        .unwrap()
        .post_json(
            "/chat/completions",
            &json!({"model": "m", "messages": [{"role": "user", "content": case.prompt}]}),
        )
        .expect("an answer");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-rollback-drill-version"), Some("v1"));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(is_good(
        body["choices"][0]["message"]["content"].as_str().unwrap(),
        &case.expect
    ));

    // The rollback (forward here): one call.
    let t = Instant::now();
    m.set_alias("support-bot-model", "production", "2")
        .expect("moved");
    eprintln!("alias move took {} ms", t.elapsed().as_millis());
    m.set_alias("support-bot-model", "previous", "1")
        .expect("second alias");
    let got = m.registered_model("support-bot-model").expect("read");
    let aliases: Vec<(&str, &str)> = got
        .aliases
        .iter()
        .map(|(a, v)| (a.as_str(), v.as_str()))
        .collect();
    assert_eq!(aliases, [("previous", "1"), ("production", "2")]);
    assert!(!got.is_prompt());
    // Search lists the versions, never their aliases.
    let versions = m.versions(&model).expect("search");
    let numbers: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(numbers, ["1", "2"]);
    assert_eq!(versions[1].base_url(), Some(mock.base_url("v2").as_str()));
    m.delete_alias("support-bot-model", "previous")
        .expect("alias removed");
    assert_eq!(
        m.alias("support-bot-model", "previous").expect("read"),
        None
    );
}

fn prompt_aliases_and_the_prompt_search_filter(m: &Mlflow, mock: &MockBackend, url: &str) {
    let prompt = MlflowEntity::Prompt("support-system-prompt".into());
    m.create(&prompt).expect("prompt created");
    for (v, text) in [
        ("v1", "You are a support agent."),
        ("v2", "You are a terse agent."),
    ] {
        m.create_version(&prompt, v, &mock.base_url(v), text)
            .expect("prompt version");
    }
    m.set_alias(prompt.name(), "production", "2")
        .expect("alias");
    let got = m.registered_model(prompt.name()).expect("read");
    assert!(got.is_prompt());
    assert_eq!(got.aliases["production"], "2");
    let serving = m.alias(prompt.name(), "production").unwrap().unwrap();
    assert_eq!(serving.prompt_text(), Some("You are a terse agent."));
    assert_eq!(serving.base_url(), Some(mock.base_url("v2").as_str()));
    let versions = m.versions(&prompt).expect("search");
    assert_eq!(versions.len(), 2);
    // The trap the client avoids: a plain name filter finds no prompt version.
    let plain = Client::new(url)
        .unwrap()
        .get("/api/2.0/mlflow/model-versions/search?filter=name%3D%27support-system-prompt%27")
        .expect("an answer");
    let plain: serde_json::Value = serde_json::from_str(&plain.body).unwrap();
    assert!(
        plain["model_versions"].as_array().is_none_or(Vec::is_empty),
        "{plain}"
    );
    // Rolling the prompt back is the same alias call.
    m.set_alias(prompt.name(), "production", "1")
        .expect("rolled back");
    assert_eq!(
        m.alias(prompt.name(), "production")
            .unwrap()
            .unwrap()
            .version,
        "1"
    );
}

fn a_deleted_version_takes_its_alias_with_it(m: &Mlflow, mock: &MockBackend) {
    let model = MlflowEntity::Model("retired-target".into());
    m.create(&model).expect("model");
    for v in ["v1", "v2"] {
        m.create_version(&model, v, &mock.base_url(v), "")
            .expect("version");
    }
    m.set_alias(model.name(), "stable", "1").expect("alias");
    m.set_alias(model.name(), "production", "2").expect("alias");
    // Someone retires version 1: MLflow says nothing about its alias.
    m.delete_version(model.name(), "1").expect("deleted");
    let got = m.registered_model(model.name()).expect("read");
    assert_eq!(got.aliases.keys().collect::<Vec<_>>(), ["production"]);
    assert_eq!(m.alias(model.name(), "stable").unwrap(), None);
    assert_eq!(m.version(model.name(), "1").unwrap(), None);
    assert!(m.version(model.name(), "2").unwrap().is_some());
    // Moving the alias back to it is what fails, at rollback time.
    let e = m
        .set_alias(model.name(), "production", "1")
        .expect_err("gone");
    assert_eq!(e.code(), Some("RESOURCE_DOES_NOT_EXIST"));
    assert!(
        e.to_string()
            .starts_with("MLflow POST registered-models/alias answered 404"),
        "{e}"
    );
    // Preflight reads this as the drift it is, and changes nothing.
    let expected = RoutePlan {
        name: "support".into(),
        candidates: vec![Candidate {
            id: "retired-target/2".into(),
            version: "2".into(),
            weight: 100.0,
        }],
        versions: Vec::new(),
    };
    let read = |m: &Mlflow| {
        let found = m
            .alias(model.name(), "production")
            .unwrap()
            .map(|v| v.version);
        let exists = m.version(model.name(), "1").unwrap().is_some();
        preflight::alias(&expected, "production", found.as_deref(), "1", exists)
    };
    let kinds: Vec<FindingKind> = read(m).into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [FindingKind::TargetRetired]);
    m.create_version(&model, "v3", &mock.base_url("v2"), "")
        .expect("v3");
    m.set_alias(model.name(), "production", "3")
        .expect("moved by someone");
    let before = m.registered_model(model.name()).unwrap();
    let kinds: Vec<FindingKind> = read(m).into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [FindingKind::TargetRetired, FindingKind::RouteMoved]);
    assert_eq!(m.registered_model(model.name()).unwrap(), before);
    m.delete(model.name()).expect("model deleted");
}

fn errors_name_the_endpoint(m: &Mlflow) {
    let e = m.registered_model("no-such-model").expect_err("missing");
    assert_eq!(e.code(), Some("RESOURCE_DOES_NOT_EXIST"));
    assert!(e.to_string().contains("GET registered-models/get"), "{e}");
}

/// Forward and back (N, N+1, N) through the route interface, then
/// teardown: aliases and versions exactly as before.
fn a_route_drill_leaves_the_aliases_as_it_found_them(url: &str, mock: &MockBackend) {
    for entity in [
        MlflowEntity::Model("drilled-model".into()),
        MlflowEntity::Prompt("drilled-prompt".into()),
    ] {
        let m = Mlflow::new(url).unwrap();
        m.create(&entity).expect("created");
        m.create_version(&entity, "v1", &mock.base_url("v1"), "v1 text")
            .expect("v1");
        m.set_alias(entity.name(), "production", "1")
            .expect("alias");
        m.set_alias(entity.name(), "champion", "1").expect("alias");
        let before = m.registered_model(entity.name()).expect("read");

        let mut route = MlflowRoute::new(Mlflow::new(url).unwrap(), entity.clone(), "production");
        route.prompt_text = "v2 text".into();
        route.snapshot().expect("snapshot");
        let entries = route.read().expect("read").expect("the alias");
        assert_eq!(
            (entries[0].id.as_str(), entries[0].version.as_str()),
            ("1", "v1")
        );
        let release = NewEntry {
            id: "release".into(),
            version: "v2".into(),
            base_url: mock.base_url("v2"),
            weight: 100.0,
        };
        let id = route.register(&release).expect("release registered");
        assert_eq!(id, "2");
        route.write(&[(id.clone(), 100.0)]).expect("released");
        assert_eq!(route.read().unwrap().unwrap()[0].version, "v2");
        m.set_alias(entity.name(), "canary", "2")
            .expect("an alias the drill set");
        route
            .write(&[("1".into(), 100.0), (id, 0.0)])
            .expect("rolled back");
        assert_eq!(route.read().unwrap().unwrap()[0].id, "1");

        route.restore().expect("teardown");
        let after = m.registered_model(entity.name()).expect("read");
        assert_eq!(after.aliases, before.aliases, "{entity:?}");
        let versions: Vec<String> = m
            .versions(&entity)
            .unwrap()
            .into_iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(
            versions,
            ["1"],
            "{entity:?}: the drill's version is deleted"
        );
    }
}

/// The stand-in app caches the alias lookup for its TTL, as MLflow's
/// client does: traffic is back only after the cache expires.
fn the_app_sees_a_moved_alias_only_after_its_cache_ttl(url: &str, mock: MockBackend) {
    let model = MlflowEntity::Model("cached-model".into());
    let m = Mlflow::new(url).unwrap();
    m.create(&model).expect("created");
    for v in ["v1", "v2"] {
        m.create_version(&model, v, &mock.base_url(v), "")
            .expect("version");
    }
    m.set_alias(model.name(), "production", "2").expect("alias");
    let mock = std::sync::Arc::new(mock);
    let backend = mock.clone();
    let ttl = std::time::Duration::from_secs(2);
    let mut app = StandIn::new(
        Box::new(AliasLookup {
            client: Mlflow::new(url).unwrap(),
            name: model.name().into(),
            alias: "production".into(),
        }),
        ttl,
        Box::new(move |v| backend.base_url(v)),
        GoldenSet::builtin(),
        1,
    );
    let first = app.send().expect("sent");
    assert_eq!(
        (first.served.as_deref(), first.status, first.good),
        (Some("v2"), 200, true)
    );
    let rolled = Instant::now();
    m.set_alias(model.name(), "production", "1")
        .expect("rolled back");
    let back = loop {
        let s = app.send().expect("sent");
        if s.served.as_deref() == Some("v1") {
            break rolled.elapsed();
        }
        assert!(rolled.elapsed() < ttl * 5, "the app never saw the rollback");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    eprintln!(
        "alias moved back: traffic back after {} ms (cache TTL {} ms)",
        back.as_millis(),
        ttl.as_millis()
    );
    assert!(
        back >= ttl - std::time::Duration::from_millis(300),
        "{back:?}"
    );
}
