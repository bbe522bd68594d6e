//! `report.html`: a structure snapshot, escaping of hostile text, no
//! external references, and a real browser (headless Chromium) rendering
//! every shipped scenario with no network access.
//!
//! The browser test is skipped, loudly, when no `chromium` is on PATH; CI
//! (`.ci/run`) installs it so it runs there.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollback_drill::history::HistoryRun;
use rollback_drill::outcome::{DrillOutcome, Durations};
use rollback_drill::report::{self, Format, RunInfo, html, json};
use rollback_drill::{scenario, sim};

fn run_file(file: &str) -> DrillOutcome {
    // Relative paths: cargo runs tests from the package root.
    sim::run(&scenario::load_file(&PathBuf::from(file)).expect("valid scenario"))
}

fn shipped() -> Vec<DrillOutcome> {
    scenario::load_all(&[PathBuf::from("scenarios")])
        .expect("shipped scenarios are valid")
        .iter()
        .map(sim::run)
        .collect()
}

fn past(at: &str, passed: bool, decide: f64, restore: f64) -> HistoryRun {
    HistoryRun {
        scenario: "prompt-errors-paged-to-on-call".into(),
        scenario_hash: String::new(),
        procedure_hash: String::new(),
        // The scenario's own seed and backend: drift judges a run by the
        // earlier runs of its seed on its backend.
        seed: 3,
        backend: Some(rollback_drill::backend::BackendKind::InProcess),
        version: "0.1.0".into(),
        at: at.into(),
        passed,
        durations: Durations {
            decide: Some(decide),
            restore: Some(restore),
            ..Durations::default()
        },
        checks: Vec::new(),
        ..HistoryRun::default()
    }
}

/// The page with the bulky parts (CSS, path data) reduced to their size, so
/// the snapshot pins the structure and stays readable in a diff.
fn skeleton(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(i) = rest.find(" d=\"") {
        let (head, tail) = rest.split_at(i + 4);
        let end = tail.find('"').expect("attribute closes");
        let points = tail[..end].matches(['M', 'L']).count();
        out.push_str(head);
        out.push_str(&format!("[{points} points]"));
        rest = &tail[end..];
    }
    out.push_str(rest);
    let (a, b) = (out.find("<style>").unwrap(), out.find("</style>").unwrap());
    format!(
        "{}<style>[{} bytes of CSS]{}",
        &out[..a],
        b - a - 7,
        &out[b..]
    )
}

#[test]
fn html_structure_snapshot() {
    let mut paged = run_file("scenarios/prompt-errors-paged-to-on-call.yaml");
    // Two earlier runs, so the trend chart is pinned too.
    paged.history = Some(vec![
        past("2025-01-01T00:00:00Z", true, 180.0, 4.0),
        past("2025-01-02T00:00:00Z", false, 420.0, 330.0),
    ]);
    let outage = run_file("fixtures/faults/registry-outage.yaml");
    let outcomes = [paged, outage];
    let page = html::render(&outcomes);
    assert_eq!(page, html::render(&outcomes), "rendering is deterministic");
    assert_eq!(page.matches("class=\"trend\"").count(), 1);
    assert_eq!(page.matches("no-history").count(), 1);
    // The outage's retries are phases of identify_target.
    assert_eq!(page.matches("class=\"phase fault\"").count(), 13);
    insta::assert_snapshot!("report_html_skeleton", skeleton(&page));
}

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"'><img src=x>";

fn hostile() -> DrillOutcome {
    let mut plan = scenario::load_file(Path::new("scenarios/prompt-errors-paged-to-on-call.yaml"))
        .expect("valid scenario");
    plan.name = format!("{SCRIPT}{IMG}");
    plan.description = format!("a & b {IMG} {SCRIPT}");
    sim::run(&plan)
}

#[test]
fn hostile_names_and_descriptions_are_shown_as_text() {
    let page = html::render(&[hostile()]);
    for tag in ["<script", "<img", "<SCRIPT", "<IMG"] {
        assert!(!page.contains(tag), "page holds a raw {tag}");
    }
    let name = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x&gt;";
    assert!(page.contains(&format!("data-scenario=\"{name}\"")));
    assert!(page.contains(&format!("</span> {name}</h2>")), "heading");
    assert!(
        page.contains(&format!("<a href=\"#s1\">{name}</a>")),
        "summary"
    );
    assert!(page.contains(
        "a &amp; b &quot;&#39;&gt;&lt;img src=x&gt; &lt;script&gt;alert(1)&lt;/script&gt;"
    ));
}

fn assert_self_contained(page: &str) {
    for bad in [
        "<script", "http://", "https://", "<link", "url(", "@import", " src=", "<iframe",
        "<object", "<embed",
    ] {
        assert!(!page.contains(bad), "report.html holds `{bad}`");
    }
}

#[test]
fn page_has_no_external_references() {
    let mut outcomes = shipped();
    outcomes.push(run_file("fixtures/faults/registry-outage.yaml"));
    outcomes.push(run_file("fixtures/faults/config-mismatch.yaml"));
    let page = html::render(&outcomes);
    assert_self_contained(&page);
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs headless Chromium on a file with DNS mapped to nowhere; returns
/// its stdout. Killed after 60 s.
fn browse(bin: &Path, profile: &Path, file: &Path, extra: &[String]) -> String {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", file.display()));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut pipes = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipes.0.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipes.1.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium failed ({status}): {err}");
    out
}

/// The sections of a dumped page, as (data-scenario, section text).
fn sections(dom: &str) -> Vec<(String, &str)> {
    dom.split("<section class=\"scenario")
        .skip(1)
        .map(|chunk| {
            let chunk = &chunk[..chunk.find("</section>").expect("section closes")];
            let at = chunk.find("data-scenario=\"").expect("data-scenario") + 15;
            let name = &chunk[at..at + chunk[at..].find('"').unwrap()];
            (name.to_string(), chunk)
        })
        .collect()
}

/// The `data-t` of the marker for `point`, if the section has one.
fn marker_t(section: &str, point: &str) -> Option<String> {
    let at = section.find(&format!("data-point=\"{point}\""))?;
    let tag = &section[at..at + section[at..].find('>').unwrap()];
    let t = tag.find("data-t=\"").expect("marker has data-t") + 8;
    Some(tag[t..t + tag[t..].find('"').unwrap()].to_string())
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED: chromium not installed — html browser test did not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = RunInfo {
        started_at: "2025-01-01T00:00:00Z".into(),
        finished_at: "2025-01-01T00:00:01Z".into(),
        wall_ms: 1000,
        version: "test",
    };
    let mut outcomes = shipped();
    assert!(outcomes.len() >= 4 && outcomes.iter().all(|o| o.passed()));
    // A drill that fails the run (config-mismatch is a negative control,
    // an expected failure that passes it).
    outcomes.push(run_file("fixtures/failing/restore-target-missed.yaml"));
    let failing: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.scenario.as_str())
        .collect();
    assert_eq!(
        failing.len(),
        1,
        "restore-target-missed is the one failing drill"
    );
    let written = report::write(dir.path(), &[Format::Html], &outcomes, &run).unwrap();
    let file = dir.path().join("report.html");
    assert!(written.contains(&file), "write() wrote report.html");
    let page = std::fs::read_to_string(&file).unwrap();
    assert_self_contained(&page);

    let profile = dir.path().join("profile");
    let dom = browse(&bin, &profile, &file, &["--dump-dom".into()]);
    assert!(
        dom.contains("<h1>Rollback drills:"),
        "the DOM was dumped: {dom:.200}"
    );
    assert_eq!(dom.matches("class=\"timeline\"").count(), outcomes.len());
    let found = sections(&dom);
    assert_eq!(found.len(), outcomes.len());
    assert_eq!(
        found[0].0, failing[0],
        "the failing drill's section comes first"
    );
    for o in &outcomes {
        let (_, section) = found
            .iter()
            .find(|(name, _)| *name == o.scenario)
            .unwrap_or_else(|| panic!("no section for {}", o.scenario));
        assert_eq!(section.matches("class=\"timeline\"").count(), 1);
        let timeline = &json::value(o)["timeline"];
        for point in [
            "released", "onset", "detected", "decided", "restored", "verified",
        ] {
            let want = Some(&timeline[point])
                .filter(|v| !v.is_null())
                .map(|v| v.to_string());
            assert_eq!(marker_t(section, point), want, "{}: {point}", o.scenario);
        }
        let band = section.contains("class=\"target-band\"");
        assert_eq!(band, !timeline["decided"].is_null(), "{}: band", o.scenario);
    }
    assert!(
        found.iter().any(|(_, s)| marker_t(s, "detected").is_some()),
        "some drill detected something"
    );

    // Hostile text stays text in the browser's DOM too.
    let hostile_file = dir.path().join("hostile.html");
    std::fs::write(&hostile_file, html::render(&[hostile()])).unwrap();
    let dom = browse(&bin, &profile, &hostile_file, &["--dump-dom".into()]);
    assert!(dom.contains("data-scenario=\"&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<script") && !dom.contains("<img"));

    let png = dir.path().join("report.png");
    browse(
        &bin,
        &profile,
        &file,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,3000".into(),
        ],
    );
    let size = std::fs::metadata(&png).expect("screenshot written").len();
    assert!(size > 10 * 1024, "screenshot is only {size} bytes");
    std::fs::copy(&png, "/tmp/report.png").expect("copy the screenshot to /tmp");
}

/// The timeline's small things stay visible: a healthy 1% and 5% canary on a log
/// share axis with a tick per step, each version's quality, and points of
/// one instant under one label (an automatic rollback detects and decides
/// at once).
#[test]
fn small_canary_steps_per_version_quality_and_labels_that_do_not_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/healthy-release-not-rolled-back.yaml")
        .unwrap()
        .replace(
            "  weight: 25%\n",
            "  steps: [1%, 5%, 25%]\n  step_every: 4m\n",
        );
    let file = dir.path().join("canary.yaml");
    std::fs::write(&file, text).unwrap();
    let staged = sim::run(&scenario::load_file(&file).expect("valid scenario"));
    let steps: Vec<String> = staged
        .audit
        .iter()
        .filter(|a| a.actor == "deployer")
        .map(|a| a.to.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(steps.first().map(String::as_str), Some("1%"), "{steps:?}");
    let page = html::render(&[staged]);
    assert!(
        page.contains("traffic share by version (log scale)"),
        "log axis"
    );
    assert_eq!(page.matches("class=\"release-step\"").count(), steps.len());
    for share in &steps {
        assert!(
            page.contains(&format!(">{share}</text>")),
            "a tick names the {share} step"
        );
    }
    assert!(page.matches("class=\"version-quality\"").count() >= 2);

    let auto = run_file("scenarios/prompt-error-spike-auto-rollback.yaml");
    let (detected, decided) = (auto.record.detected, auto.record.decided);
    assert_eq!(
        detected, decided,
        "an automatic rollback decides when it detects"
    );
    let page = html::render(&[auto]);
    // Two markers (each keeps its time), one label naming both.
    assert_eq!(page.matches("data-point=\"detected\"").count(), 1);
    assert_eq!(page.matches("data-point=\"decided\"").count(), 1);
    assert!(
        page.contains(">detected, decided "),
        "one label for one instant"
    );
}

/// Wherever latencies were recorded, each version's p99 has a panel of its
/// own; a latency regression shows as the release's line above the rest.
#[test]
fn each_versions_p99_latency_is_charted() {
    let o = run_file("scenarios/model-latency-regression-alias-remap.yaml");
    let release = o.release_version.clone();
    let page = html::render(&[o]);
    assert!(page.contains("latency p99 by version"), "the panel");
    assert!(
        page.contains(&format!("class=\"latency-p99\" data-version=\"{release}\"")),
        "the release's p99 line"
    );
    assert!(
        page.matches("class=\"latency-p99\"").count() >= 2,
        "every version"
    );
}
