//! The file kinds as the engine drives them, without a drill loop: a
//! gateway alias file and a flagd flag file, each with the release
//! registered at no traffic, shipped as a canary, rolled back by rewriting
//! weights and torn down to the original bytes, while the stand-in app
//! (re-reading the file every poll) sends golden prompts to the mock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rollback_drill::scenario::golden::GoldenSet;
use rollback_drill::scenario::plan::{Candidate, RoutePlan};
use rollback_drill::scenario::{Behaviour, Dur, FindingKind};
use rollback_drill::staging::files::{Format, NewEntry, RouteFile};
use rollback_drill::staging::mock::MockBackend;
use rollback_drill::staging::preflight::{self, MatchBy as By};
use rollback_drill::staging::route::{FileRoute, RealRoute};
use rollback_drill::staging::standin::{FileLookup, StandIn};

const POLL: Duration = Duration::from_millis(300);

fn behaviour(error_rate: f64, quality: f64) -> Behaviour {
    Behaviour {
        error_rate,
        quality,
        p50: Dur(1),
        p99: Dur(3),
    }
}

/// Sends until the app's traffic is all on `version` (20 in a row);
/// returns how long that took.
fn until_all_on(app: &mut StandIn, version: &str) -> Duration {
    let start = Instant::now();
    let mut streak = 0;
    while streak < 20 {
        let s = app.send().expect("sent");
        streak = if s.served.as_deref() == Some(version) {
            streak + 1
        } else {
            0
        };
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "traffic never all on {version}"
        );
    }
    start.elapsed()
}

fn drill(format: Format, text: &str, route_name: &str, v1_id: &str, by: By) {
    let golden = GoldenSet::builtin();
    let mock = Arc::new(
        MockBackend::start(
            5,
            1.0,
            golden.clone(),
            &[("v1".into(), behaviour(0.0, 1.0))],
        )
        .expect("the mock"),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("route");
    std::fs::write(&path, text).unwrap();
    let file = RouteFile::new(format, &path, route_name);
    let mut route = FileRoute::new(file.clone());

    // Preflight: the file is as the scenario says.
    let expected = RoutePlan {
        name: route_name.into(),
        candidates: vec![Candidate {
            id: v1_id.into(),
            version: "v1".into(),
            weight: 100.0,
        }],
        versions: Vec::new(),
    };
    let found = route.read().unwrap();
    assert!(preflight::weighted_route(&expected, found.as_deref(), by, "v1").is_empty());
    route.snapshot().unwrap();

    // Release: v2 registered at no traffic, then a 50% canary that
    // answers wrong.
    mock.set_behaviour("v2", behaviour(0.0, 0.0));
    let release = NewEntry {
        id: "v2".into(),
        version: "v2".into(),
        base_url: mock.base_url("v2"),
        weight: 0.0,
    };
    let id = route.register(&release).unwrap();
    route
        .write(&[(v1_id.into(), 50.0), (id.clone(), 50.0)])
        .unwrap();
    let m = mock.clone();
    let mut app = StandIn::new(
        Box::new(FileLookup(file.clone())),
        POLL,
        Box::new(move |v| m.base_url(v)),
        golden,
        9,
    );
    let sent: Vec<_> = (0..40).map(|_| app.send().unwrap()).collect();
    let wrong = sent
        .iter()
        .filter(|s| s.served.as_deref() == Some("v2") && !s.good)
        .count();
    assert!(
        wrong > 5,
        "the canary's wrong answers are measured: {sent:?}"
    );
    assert!(
        sent.iter()
            .filter(|s| s.served.as_deref() == Some("v1"))
            .all(|s| s.good)
    );

    // Rollback: weights rewritten; traffic is back after the next poll.
    route.write(&[(v1_id.into(), 100.0), (id, 0.0)]).unwrap();
    let back = until_all_on(&mut app, "v1");
    assert!(back <= POLL * 4, "{back:?}");

    // Teardown: the original bytes.
    route.restore().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn an_alias_file_drill_keeps_its_comments() {
    drill(
        Format::AliasFile,
        "# Gateway aliases (owned by the platform team).
aliases:
  support:          # the support bot's route
    candidates:
      - id: prov:v1   # today
        version_pin: v1
        weight: 100
  other: {candidates: [{id: x, version_pin: x, weight: 100}]}
",
        "support",
        "prov:v1",
        By::Id,
    );
}

#[test]
fn a_flag_file_drill_keeps_its_layout_and_finds_an_undefined_variant() {
    let text = r#"{
  "flags": {
    "support": {
      "state": "ENABLED",
      "variants": {"v1": "support-v1"},
      "defaultVariant": "v1",
      "targeting": {"fractional": [["v1", 100]]}
    }
  }
}
"#;
    drill(Format::FlagFile, text, "support", "v1", By::Version);
    // A split naming a variant the flag no longer defines fails preflight.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(
        &path,
        text.replace("[\"v1\", 100]", "[\"v1\", 90], [\"v0\", 10]"),
    )
    .unwrap();
    let file = RouteFile::new(Format::FlagFile, &path, "support");
    let missing = file.missing_variants().unwrap();
    let findings = preflight::undefined_variants("support", &missing);
    assert_eq!(
        findings.iter().map(|d| d.kind).collect::<Vec<_>>(),
        [FindingKind::ConfigMismatch]
    );
    assert_eq!(
        findings[0].detail,
        "the split of flag `support` names variant `v0`, which the flag does not define"
    );
}
