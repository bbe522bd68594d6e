//! Validation of what touches a team's own staging: the `http`, `exec` and
//! `wait_for` steps, the `metrics.prometheus` source, and the `${NAME}`
//! references in them (syntax here; whether they are set, at run time).

use std::collections::BTreeMap;

use super::Checker;
use crate::scenario::plan::{Bound, EnvRef, ExecCall, HttpCall, Prometheus, Step, WaitFor};
use crate::scenario::raw::{RawExec, RawHttp, RawMetrics, RawWaitFor};
use crate::scenario::template::Template;
use crate::scenario::units::{Dur, Percent};
use crate::scenario::vocab::{HttpMethod, VerifyMetric};
use crate::scenario::yaml::Path;

impl Checker<'_> {
    /// A field that may hold `${NAME}`; its references are remembered with
    /// their location.
    pub(super) fn template(&mut self, text: &str, path: &Path) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => {
                let mark = self.root.locate(path);
                for name in t.env_names() {
                    self.env_refs.push(EnvRef {
                        name: name.to_string(),
                        path: path.to_string(),
                        line: mark.line,
                        column: mark.column,
                    });
                }
                Some(t)
            }
            Err(e) => {
                self.error(path, e.to_string(), e.hint());
                None
            }
        }
    }

    /// A URL template: plain HTTP, or a variable that holds the URL.
    pub(super) fn url(&mut self, text: &str, path: &Path) -> Option<Template> {
        let t = self.template(text, path)?;
        let prefix = t.literal_prefix();
        if prefix.starts_with("http://") || (prefix.is_empty() && text.starts_with("${")) {
            return Some(t);
        }
        let hint = if prefix.starts_with("https://") {
            "TLS is not built in: reach it through a TLS-terminating proxy on plain http://"
        } else {
            "write the full URL, e.g. `http://staging-gateway:8080/healthz`"
        };
        self.error(path, format!("`{text}` is not an http:// URL"), hint);
        None
    }

    fn headers(
        &mut self,
        raw: BTreeMap<String, String>,
        path: &Path,
    ) -> Option<Vec<(String, Template)>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (name, value) in raw {
            let p = path.key(&name);
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                self.error(
                    &p,
                    format!("`{name}` is not an HTTP header name"),
                    "header names are letters, digits and `-`, e.g. `Authorization`",
                );
                ok = false;
            }
            if value.contains(['\r', '\n']) {
                self.error(
                    &p,
                    "a header value holds a line break",
                    "keep a header on one line",
                );
                ok = false;
            }
            match self.template(&value, &p) {
                Some(t) => out.push((name, t)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    pub(super) fn http_step(&mut self, raw: RawHttp, path: &Path) -> Option<Step> {
        let url = self.url(&raw.url, &path.key("url"));
        let headers = self.headers(raw.headers, &path.key("headers"));
        let body = match &raw.body {
            Some(b) => Some(self.template(b, &path.key("body"))?),
            None => None,
        };
        let mut expect_status = Vec::new();
        let mut ok = true;
        for s in raw.expect_status.map(|s| s.0).unwrap_or_default() {
            match u16::try_from(s) {
                Ok(s) if (100..=599).contains(&s) => expect_status.push(s),
                _ => {
                    self.error(
                        &path.key("expect_status"),
                        format!("{s} is not an HTTP status"),
                        "statuses go from 100 to 599, e.g. `expect_status: [200, 202]`",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(())?;
        Some(Step::Http(HttpCall {
            method: raw.method.unwrap_or(HttpMethod::Get),
            url: url?,
            headers: headers?,
            body,
            expect_status,
        }))
    }

    pub(super) fn exec_step(&mut self, raw: RawExec, path: &Path) -> Option<Step> {
        if raw.command.trim().is_empty() {
            self.error(
                &path.key("command"),
                "the command is empty",
                "write the runbook's command, e.g. `kubectl rollout status deploy/gateway`",
            );
            return None;
        }
        let command = self.template(&raw.command, &path.key("command"))?;
        let timeout = raw.timeout.unwrap_or(Dur::from_mins(5));
        if timeout == Dur::ZERO {
            self.error(
                &path.key("timeout"),
                "timeout is 0s",
                "give the command time to run, e.g. `timeout: 2m`",
            );
            return None;
        }
        Some(Step::Exec(ExecCall { command, timeout }))
    }

    pub(super) fn wait_for_step(
        &mut self,
        raw: RawWaitFor,
        path: &Path,
        metrics: Option<&Prometheus>,
    ) -> Option<Step> {
        let (bound, text, key) = match (raw.below, raw.above) {
            (Some(b), None) => (Bound::Below, b, "below"),
            (None, Some(a)) => (Bound::Above, a, "above"),
            _ => {
                self.error(
                    path,
                    "wait_for needs exactly one of `below` and `above`",
                    "e.g. `{prometheus: {query: ...}, below: 0.01, within: 5m}`",
                );
                return None;
            }
        };
        let limit = match text.strip_suffix('%') {
            Some(_) => Percent::parse_unbounded(&text).map(Percent::fraction),
            None => text.trim().parse::<f64>().map_err(|e| e.to_string()),
        };
        let limit = match limit {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.error(
                    &path.key(key),
                    format!("`{text}` is not a number"),
                    "compare with a number (`0.01`) or a percentage (`1%` = 0.01)",
                );
                None
            }
        };
        let q = path.key("prometheus");
        if raw.prometheus.query.trim().is_empty() {
            self.error(
                &q.key("query"),
                "the query is empty",
                "write a PromQL instant query, e.g. `sum(rate(errors_total[1m]))`",
            );
            return None;
        }
        let (url, headers) = match (&raw.prometheus.url, metrics) {
            (Some(u), _) => (self.url(u, &q.key("url"))?, Vec::new()),
            (None, Some(m)) => (m.url.clone(), m.headers.clone()),
            (None, None) => {
                self.error(
                    &q,
                    "wait_for has no Prometheus to ask",
                    "add `url: http://HOST:9090` here, or a scenario-level `metrics.prometheus.url`",
                );
                return None;
            }
        };
        let (every, within) = self.poll_interval(path, "wait_for", raw.every, raw.within)?;
        Some(Step::WaitFor(WaitFor {
            url,
            headers,
            query: raw.prometheus.query,
            bound,
            limit: limit?,
            every,
            within,
        }))
    }

    pub(super) fn metrics(&mut self, raw: RawMetrics) -> Option<Prometheus> {
        let base = Path::root().key("metrics").key("prometheus");
        let p = raw.prometheus;
        let url = self.url(&p.url, &base.key("url"));
        let headers = self.headers(p.headers, &base.key("headers"));
        let mut ok = true;
        if p.queries.is_empty() {
            self.error(
                &base.key("queries"),
                "no queries: nothing would be read from Prometheus",
                "map a metric to PromQL, e.g. `error_rate: 'sum(rate(errors_total{version=\"{version}\"}[{window}])) / sum(rate(requests_total{version=\"{version}\"}[{window}]))'`",
            );
            ok = false;
        }
        for (metric, query) in &p.queries {
            if matches!(
                metric,
                VerifyMetric::QualityDrop | VerifyMetric::LatencyP99Increase
            ) {
                self.error(
                    &base.key("queries").key(metric.as_str()),
                    format!("`{metric}` is derived, not queried"),
                    "map `quality` or `latency_p99` instead: the harness compares them with the baseline",
                );
                ok = false;
                continue;
            }
            if !query.contains("{version}") {
                self.error(
                    &base.key("queries").key(metric.as_str()),
                    format!("the `{metric}` query has no `{{version}}` placeholder"),
                    "select the version being judged, e.g. `{version=\"{version}\"}`: without it every version reads the same value",
                );
                ok = false;
            }
        }
        ok.then_some(())?;
        Some(Prometheus {
            url: url?,
            headers: headers?,
            queries: p.queries.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path as FsPath;

    use crate::scenario::plan::{Bound, Step};
    use crate::scenario::vocab::{HttpMethod, VerifyMetric};
    use crate::scenario::{Diagnostic, Plan, load_str};

    const BASE: &str = "name: t
change: prompt
duration: 1h
registry:
  routes:
    r:
      candidates:
        - {id: p:v1, version_pin: v1, weight: 100}
traffic:
  rps: 10
  behaviour:
    v1: {error_rate: 1%, latency: {p50: 1s, p99: 2s}, quality: 90%}
release: {route: r, version: v2, at: 10m}
";

    fn load(extra: &str) -> Result<Plan, Vec<Diagnostic>> {
        load_str(&format!("{BASE}{extra}"), FsPath::new("t.yaml"))
    }

    fn steps(procedure: &str) -> Vec<Step> {
        let plan = load(&format!(
            "procedure:\n  - execute: {{mechanism: route_weight}}\n{procedure}"
        ))
        .unwrap_or_else(|d| panic!("{d:#?}"));
        plan.procedure.into_iter().skip(1).collect()
    }

    fn errors(extra: &str) -> Vec<(usize, String, String)> {
        load(extra)
            .expect_err("invalid")
            .into_iter()
            .map(|d| (d.line, d.path, d.message))
            .collect()
    }

    #[test]
    fn steps_parse_with_their_defaults() {
        let s = steps(
            "  - http: {url: 'http://h/x'}
  - http: {method: POST, url: '${U}/y', body: '{}', expect_status: 202, headers: {A: 'B ${T}'}}
  - http: {url: 'http://h', expect_status: [200, 204]}
  - exec: {command: 'true'}
  - wait_for: {prometheus: {url: 'http://p:9090', query: 'up'}, above: 1%, every: 1s, within: 1m}
  - wait_for: {prometheus: {url: 'http://p:9090', query: 'up'}, below: 0.5}
",
        );
        let [
            Step::Http(a),
            Step::Http(b),
            Step::Http(c),
            Step::Exec(e),
            Step::WaitFor(w),
            Step::WaitFor(w2),
        ] = &s[..]
        else {
            panic!("{s:#?}")
        };
        assert_eq!(
            (a.method, a.expect_status.as_slice()),
            (HttpMethod::Get, &[][..])
        );
        assert_eq!(
            (b.method, b.expect_status.as_slice()),
            (HttpMethod::Post, &[202][..])
        );
        assert_eq!(b.url.raw(), "${U}/y");
        assert_eq!(b.headers[0].1.env_names(), ["T"]);
        assert_eq!(c.expect_status, [200, 204]);
        assert_eq!(e.timeout.to_string(), "5m");
        assert_eq!((w.bound, w.limit), (Bound::Above, 0.01));
        assert_eq!(
            (w2.bound, w2.limit, w2.every.to_string()),
            (Bound::Below, 0.5, "5s".into())
        );
    }

    #[test]
    fn secrets_are_located_for_the_unset_variable_error() {
        let plan = load(
            "metrics:
  prometheus:
    url: ${PROM}
    queries: {latency_p99: 'histogram_quantile(0.99, x{version=\"{version}\"})'}
procedure:
  - execute: {mechanism: route_weight}
  - exec: {command: 'echo ${A} ${B} ${A}'}
  - wait_for: {prometheus: {query: up}, below: 1}
",
        )
        .unwrap_or_else(|d| panic!("{d:#?}"));
        let refs: Vec<(&str, usize, &str)> = plan
            .env_refs
            .iter()
            .map(|r| (r.name.as_str(), r.line, r.path.as_str()))
            .collect();
        assert_eq!(
            refs,
            [
                ("PROM", 16, "metrics.prometheus.url"),
                ("A", 20, "procedure[1].exec.command"),
                ("B", 20, "procedure[1].exec.command"),
            ]
        );
        let m = plan.metrics.as_ref().unwrap();
        assert!(m.query(VerifyMetric::LatencyP99).is_some());
        // wait_for without a url asks the scenario's Prometheus.
        let Step::WaitFor(w) = &plan.procedure[2] else {
            panic!()
        };
        assert_eq!(w.url.raw(), "${PROM}");
        let missing = plan.missing_env(|n| (n == "A").then(|| "a-long-enough-value".to_string()));
        let names: Vec<&str> = missing.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            names,
            [
                "environment variable `PROM` is not set",
                "environment variable `B` is not set"
            ]
        );
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let found = errors(
            "metrics:
  prometheus:
    url: 'ftp://p'
    queries: {}
procedure:
  - execute: {mechanism: route_weight}
  - http: {url: 'http://h', headers: {'Bad Name': x}, expect_status: [99]}
  - exec: {command: ' ', timeout: 1s}
  - exec: {command: 'x', timeout: 0s}
  - wait_for: {prometheus: {url: 'http://p', query: up}, below: lots}
  - wait_for: {prometheus: {url: 'http://p', query: up}, below: 1, above: 2}
  - wait_for: {prometheus: {url: 'http://p', query: ''}, below: 1}
  - wait_for: {prometheus: {url: 'http://p', query: up}, below: 1, every: 2m, within: 1m}
",
        );
        let want = [
            (
                16,
                "metrics.prometheus.url",
                "`ftp://p` is not an http:// URL",
            ),
            (
                17,
                "metrics.prometheus.queries",
                "no queries: nothing would be read from Prometheus",
            ),
            (
                20,
                "procedure[1].http.headers.Bad Name",
                "`Bad Name` is not an HTTP header name",
            ),
            (
                20,
                "procedure[1].http.expect_status",
                "99 is not an HTTP status",
            ),
            (21, "procedure[2].exec.command", "the command is empty"),
            (22, "procedure[3].exec.timeout", "timeout is 0s"),
            (23, "procedure[4].wait_for.below", "`lots` is not a number"),
            (
                24,
                "procedure[5].wait_for",
                "wait_for needs exactly one of `below` and `above`",
            ),
            (
                25,
                "procedure[6].wait_for.prometheus.query",
                "the query is empty",
            ),
            (
                26,
                "procedure[7].wait_for.every",
                "wait_for polls every 2m within 1m",
            ),
        ];
        let want: Vec<(usize, String, String)> = want
            .iter()
            .map(|(l, p, m)| (*l, p.to_string(), m.to_string()))
            .collect();
        assert_eq!(found, want);
    }
}
