//! Simulated JSON stays what it was before the engine redesign: every
//! shipped scenario and fault fixture, run with its own seed, gives the
//! JSON recorded in `tests/snapshots/sim-json/` apart from fields added
//! since (new keys in an object, new named entries in `checks`; the
//! `steps` a drill takes are its path and may not change). A changed or
//! removed value fails, naming its path. `tests/snapshots/README.md` says
//! when the snapshot was made and the one time it was re-baselined.

mod common;

use std::path::Path;

use serde_json::Value;

/// Folders whose scenarios all run simulated; the snapshot holds one JSON
/// per scenario.
const FOLDERS: [&str; 4] = [
    "scenarios",
    "fixtures/faults",
    "fixtures/failing",
    "fixtures/container",
];

/// `old` is contained in `new`: the same values, with additions allowed.
fn contained(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                // Wall-clock stamps live under `run` and differ per run.
                if k == "run" && path.is_empty() {
                    continue;
                }
                match n.get(k) {
                    Some(nv) => contained(v, nv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: removed")),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) if named(o) && named(n) => {
            // Checks: matched by name, new checks allowed, the old ones in
            // their old order. Steps are the drill loop's path: none may
            // appear or go.
            if path.ends_with(".steps") && o.len() != n.len() {
                let names =
                    |a: &[Value]| a.iter().map(|x| x["name"].to_string()).collect::<Vec<_>>();
                out.push(format!("{path}: steps {:?}, were {:?}", names(n), names(o)));
                return;
            }
            let mut from = 0;
            for v in o {
                let name = &v["name"];
                match n[from..].iter().position(|x| &x["name"] == name) {
                    Some(i) => {
                        contained(v, &n[from + i], &format!("{path}[{name}]"), out);
                        from += i + 1;
                    }
                    None => out.push(format!("{path}[{name}]: removed or reordered")),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            if o.len() != n.len() {
                out.push(format!("{path}: {} entries, was {}", n.len(), o.len()));
                return;
            }
            for (i, (a, b)) in o.iter().zip(n).enumerate() {
                contained(a, b, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {b}, was {a}")),
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|v| v["name"].is_string())
}

#[test]
fn simulated_json_is_unchanged_apart_from_added_fields() {
    let root = common::root();
    let snapshots = root.join("tests/snapshots/sim-json");
    let mut problems = Vec::new();
    let mut compared = 0;
    for folder in FOLDERS {
        let dir = tempfile::tempdir().unwrap();
        let out = common::bin(&[
            "run",
            folder,
            "--format",
            "json",
            "--report-dir",
            dir.path().to_str().unwrap(),
        ]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{folder}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".json") || name == "results.json" {
                continue;
            }
            let new: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let snapshot = snapshots.join(folder.replace('/', "-")).join(&name);
            let old: Value = match std::fs::read(&snapshot) {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
                Err(_) => {
                    problems.push(format!(
                        "{folder}/{name}: no snapshot in {}",
                        rel(&snapshot)
                    ));
                    continue;
                }
            };
            let mut diffs = Vec::new();
            contained(&old, &new, "", &mut diffs);
            problems.extend(diffs.into_iter().map(|d| format!("{name}: {d}")));
            compared += 1;
        }
    }
    let expected: usize = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(
        compared, expected,
        "every snapshot has a scenario: {problems:#?}"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

fn rel(p: &Path) -> String {
    p.strip_prefix(common::root())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn containment_catches_changes_and_allows_additions() {
    let old: Value = serde_json::json!({"a": 1, "checks": [{"name": "x", "passed": true}]});
    let added: Value = serde_json::json!({"a": 1, "b": 2, "checks": [
        {"name": "x", "passed": true, "more": 1}, {"name": "recovered", "passed": true}]});
    let mut out = Vec::new();
    contained(&old, &added, "", &mut out);
    assert!(out.is_empty(), "{out:?}");
    let changed: Value = serde_json::json!({"a": 2, "checks": [{"name": "x", "passed": false}]});
    contained(&old, &changed, "", &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    // A step more is another path, not an addition.
    let steps: Value = serde_json::json!({"steps": [{"name": "confirm"}, {"name": "execute"}]});
    let more: Value = serde_json::json!({"steps": [
        {"name": "confirm"}, {"name": "teardown"}, {"name": "execute"}]});
    let mut out = Vec::new();
    contained(&steps, &more, "", &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].contains("teardown"), "{out:?}");
}
