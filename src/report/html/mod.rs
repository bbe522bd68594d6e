//! `report.html`: the whole run on one self-contained page.
//!
//! Inline CSS and inline SVG only: no scripts, no external references, and a
//! Content-Security-Policy that would forbid both anyway. Every piece of
//! text that comes from a scenario or a drill goes through [`esc`]. Pure:
//! the same outcomes give the same bytes.

use std::fmt::Write;

use crate::outcome::{Check, CheckStatus, DrillOutcome, DrillResult, human};

use super::markdown::ordered;

/// `write!` into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

mod repeat;
mod slo;
mod steps;
mod svg;
mod timeline;
mod trend;

const CSS: &str = "
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--pass:#15803d;--fail:#b91c1c;--skip:#9ca3af}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 48px;background:var(--bg);color:var(--fg);
 font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
header,section{max-width:1120px;margin:0 auto 18px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 6px;overflow-wrap:anywhere}
h3{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:22px 0 8px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px}
section.failed{border-left:5px solid var(--fail)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.summary td:nth-child(2){white-space:nowrap;max-width:380px;overflow:hidden;text-overflow:ellipsis}
td.over{color:var(--fail);font-weight:600}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:700;color:#fff;vertical-align:2px}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.xfail{background:#6b7280}
table.summary tr[data-status=failed] td,table.checks tr[data-status=failed] td{background:#fef2f2}
.st{font-weight:600}.st.passed,.st.succeeded{color:var(--pass)}.st.failed{color:var(--fail)}
.st.skipped,.st.not_run{color:var(--skip)}
.desc{color:#374151;margin:4px 0 10px;max-width:90ch;overflow-wrap:anywhere}
.facts{display:flex;flex-wrap:wrap;gap:4px 22px;font-size:12.5px;color:var(--muted);margin:0 0 4px}
.facts b{color:var(--fg);font-weight:600;overflow-wrap:anywhere}
.muted{color:var(--muted)}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:inherit;font-size:11px;fill:#4b5563}
svg .halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .ptitle{font-weight:600;fill:#374151}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:12px;color:var(--muted);margin:4px 0 0 64px}
.sw{display:inline-block;width:16px;height:4px;border-radius:2px;vertical-align:middle;margin-right:6px}
.sw.box{height:10px;opacity:.8}
table.steps svg{width:360px;max-width:none}
table.steps td.detail{color:#374151;font-size:12px;overflow-wrap:anywhere}
table.steps td.detail div{color:var(--muted)}
.cols{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:28px}
ul.findings,ol.path{margin:0;padding-left:20px}ul.findings li,ol.path li{margin:0 0 6px;overflow-wrap:anywhere}
ol.path .t{font-variant-numeric:tabular-nums;color:var(--muted)}
@media (max-width:900px){.cols{grid-template-columns:1fr}}
";

/// Text for HTML content and attribute values: markup escaped, control
/// characters other than line breaks and tabs dropped.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".to_string(), human)
}

fn badge(result: DrillResult) -> &'static str {
    match result {
        DrillResult::Pass => "<span class=\"badge pass\">PASS</span>",
        DrillResult::Xfail => {
            "<span class=\"badge xfail\" title=\"failed exactly as expected: a negative control\">XFAIL (expected fail)</span>"
        }
        DrillResult::Fail => "<span class=\"badge fail\">FAIL</span>",
    }
}

/// The section's class and `data-status`: `passed`, `xfail` or `failed`.
fn status_class(result: DrillResult) -> &'static str {
    match result {
        DrillResult::Pass => "passed",
        DrillResult::Xfail => "xfail",
        DrillResult::Fail => "failed",
    }
}

fn check_status(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "failed",
        CheckStatus::Skipped => "skipped",
    }
}

/// The page: a summary of the run, then one section per scenario, failing
/// scenarios first.
/// The page without an SLO section.
pub fn render(outcomes: &[DrillOutcome]) -> String {
    render_with_slo(outcomes, None)
}

/// The page, with the history's rollback-time SLOs when given.
pub fn render_with_slo(outcomes: &[DrillOutcome], slo: Option<&crate::slo::Report>) -> String {
    let list = ordered(outcomes);
    let title = format!("Rollback drills: {}", super::counts(outcomes));
    let mut out = String::with_capacity(32 * 1024 * (list.len() + 1));
    put!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <header>\n<h1>{title}</h1>\n<p class=\"muted\">{} drill(s). Times are drill time since each drill started (<code>20m30s</code>: 20 minutes 30 seconds in).</p>\n</header>\n",
        list.len()
    );
    summary(&mut out, &list);
    if let Some(report) = slo.filter(|r| r.series.iter().any(|s| s.runs > 0)) {
        slo::render(&mut out, report);
    }
    for (i, o) in list.iter().enumerate() {
        scenario(&mut out, i + 1, o);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn summary(out: &mut String, list: &[&DrillOutcome]) {
    out.push_str(
        "<section class=\"run\">\n<h2>Summary</h2>\n<table class=\"summary\">\n<thead><tr>\
         <th>result</th><th>scenario</th><th>change</th><th class=\"num\">detect</th>\
         <th class=\"num\">decide</th><th class=\"num\">restore</th><th class=\"num\">target</th>\
         <th>failed checks</th></tr></thead>\n<tbody>\n",
    );
    for (i, o) in list.iter().enumerate() {
        let d = o.durations();
        let checks = o.checks();
        let result = DrillOutcome::result_of(&o.expect, &checks);
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
            .map(|c| format!("<b>{}</b>: {}", c.name, esc(&c.message)))
            .collect();
        let over = d.restore.is_some_and(|r| r > o.restore_target.secs_f64());
        put!(
            out,
            "<tr data-status=\"{}\"><td>{}</td><td><a href=\"#s{}\">{}</a></td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>\n",
            status_class(result),
            badge(result),
            i + 1,
            esc(&o.scenario),
            o.change,
            opt(d.detect),
            opt(d.decide),
            if over { " over" } else { "" },
            opt(d.restore),
            o.restore_target,
            if failed.is_empty() {
                "—".to_string()
            } else {
                failed.join("<br>")
            }
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn scenario(out: &mut String, n: usize, o: &DrillOutcome) {
    let checks = o.checks();
    let result = DrillOutcome::result_of(&o.expect, &checks);
    let passed = result.ok();
    let d = o.durations();
    let name = esc(&o.scenario);
    put!(
        out,
        "<section class=\"scenario {}\" id=\"s{n}\" data-scenario=\"{name}\" data-passed=\"{passed}\">\n\
         <h2>{} {name}</h2>\n",
        status_class(result),
        badge(result)
    );
    if !o.description.trim().is_empty() {
        put!(out, "<p class=\"desc\">{}</p>\n", esc(o.description.trim()));
    }
    let mechanism = o.mechanism.map_or("—", |m| m.as_str());
    let target = o.record.rollback_target.as_deref().unwrap_or("—");
    put!(
        out,
        "<p class=\"facts\"><span>change <b>{}</b></span><span>route <b>{}</b></span>\
         <span>release <b>{}</b></span><span>mechanism <b>{mechanism}</b></span>\
         <span>rollback target <b>{}</b></span><span>seed <b>{}</b></span><span>file <b>{}</b></span></p>\n\
         <p class=\"facts\"><span>detect <b>{}</b></span><span>decide <b>{}</b></span>\
         <span>restore <b>{}</b> (target {})</span><span>verify <b>{}</b></span>\
         <span>impact <b>{}</b></span><span>{} <b>{}</b> of {}</span></p>\n",
        o.change,
        esc(&o.route),
        esc(&o.release_version),
        esc(target),
        o.seed,
        esc(&o.file),
        opt(d.detect),
        opt(d.decide),
        opt(d.restore),
        o.restore_target,
        opt(d.verify),
        opt(d.impact),
        // Nothing detected: the release's requests after onset, not harm.
        if o.record.detected.is_some() {
            "impacted requests"
        } else {
            "requests on the release"
        },
        o.impacted_requests,
        o.total_requests
    );
    if let Some(r) = &o.repeat {
        repeat::render(out, o, r);
    }
    out.push_str("<h3>Timeline</h3>\n");
    if o.ran {
        out.push_str(&timeline::render(o));
    } else {
        out.push_str("<p class=\"muted\">Preflight only: the drill ran no traffic.</p>\n");
    }
    out.push_str("<h3>Procedure</h3>\n");
    out.push_str(&steps::render(o));
    set_table(out, o);
    out.push_str("<div class=\"cols\">\n<div>\n<h3>Checks</h3>\n");
    checks_table(out, &checks);
    out.push_str("</div>\n<div>\n<h3>Findings</h3>\n");
    let findings = o.findings();
    if findings.is_empty() {
        out.push_str("<p class=\"muted\">No findings.</p>\n");
    } else {
        out.push_str("<ul class=\"findings\">\n");
        for f in &findings {
            put!(
                out,
                "<li><b>{}</b> during step <i>{}</i>: {}</li>\n",
                f.kind,
                esc(&f.step),
                esc(&f.message)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h3>Decision path</h3>\n");
    if o.decision_path().is_empty() {
        out.push_str("<p class=\"muted\">Nothing fired: no decision was needed.</p>\n");
    } else {
        out.push_str("<ol class=\"path\">\n");
        for e in o.decision_path() {
            put!(
                out,
                "<li><span class=\"t\">{}</span> <b>{}</b>: {}</li>\n",
                human(e.at_s),
                esc(&e.who),
                esc(&e.what)
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</div>\n</div>\n<h3>Trend over the history</h3>\n");
    match trend::render(o) {
        Some(chart) => out.push_str(&chart),
        None => out.push_str(
            "<p class=\"muted no-history\">No history for this scenario yet: \
             the trend of restore and decide appears once earlier runs are in the report folder.</p>\n",
        ),
    }
    out.push_str("</section>\n");
}

/// A coordinated rollback: one row per route of the set, then its totals.
fn set_table(out: &mut String, o: &DrillOutcome) {
    let Some(t) = crate::report::set::totals(o) else {
        return;
    };
    out.push_str("<h3>Coordinated rollback</h3>\n<table class=\"set\">\n<thead><tr><th>route</th><th>release</th><th>target</th><th>mechanism</th><th>status</th><th>phase</th><th>detail</th></tr></thead>\n<tbody>\n");
    for r in crate::report::set::routes(o) {
        put!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.route),
            esc(&r.release),
            esc(r.target.as_deref().unwrap_or("—")),
            r.mechanism,
            r.status.as_str(),
            r.took_s().map_or("—".to_string(), human),
            esc(&r.detail)
        );
    }
    put!(
        out,
        "<tr><td colspan=\"5\"><b>set: {} of {} routes rolled back</b></td><td><b>{}</b></td><td>restore {} ({})</td></tr>\n</tbody>\n</table>\n",
        t.rolled_back,
        t.routes,
        human(t.phases_s),
        t.restore_s.map_or("—".to_string(), human),
        crate::report::set::restore_is(&t)
    );
}

fn checks_table(out: &mut String, checks: &[Check]) {
    let rank = |c: &&Check| match c.status {
        CheckStatus::Failed => 0,
        CheckStatus::Passed => 1,
        CheckStatus::Skipped => 2,
    };
    let mut sorted: Vec<&Check> = checks.iter().collect();
    sorted.sort_by_key(rank);
    out.push_str(
        "<table class=\"checks\">\n<thead><tr><th>check</th><th>status</th>\
         <th class=\"num\">measured</th><th class=\"num\">limit</th><th>message</th></tr></thead>\n<tbody>\n",
    );
    for c in sorted {
        let status = check_status(c.status);
        put!(
            out,
            "<tr data-status=\"{status}\"><td>{}</td><td><span class=\"st {status}\">{status}</span></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            c.name,
            opt(c.measured_s),
            opt(c.limit_s),
            esc(&c.message)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}
