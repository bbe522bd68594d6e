//! Running `http` and `exec` steps against a team's own staging, on the
//! wall clock. Secrets are expanded only here, at the last moment, and
//! every message is redacted (before any cut) before it can reach a report.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::request::{self, Request};
use crate::scenario::secret::Secrets;
use crate::scenario::{ExecCall, HttpCall, Template, hide_host};

/// How long an `http` step waits for an answer, in wall time.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an answer's body an `http` step reads: its message quotes
/// the start (where servers put the error), redacted, cut to 300
/// characters.
const STEP_BODY: usize = 64 * 1024;

/// Expands headers; `Err(name)` for the first unset variable.
pub fn expand_headers(headers: &[(String, Template)]) -> Result<Vec<(String, String)>, String> {
    headers
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.expand_env()?)))
        .collect()
}

/// Runs an `http` or `exec` step of `plan` (a procedure step, a
/// `reload:`) on the wall clock, `scale` times faster than scenario time:
/// (passed, message). Any secret of the scenario, not only the step's own,
/// is put back as `${NAME}` (a command may print what another step sent).
pub fn step(
    plan: &crate::scenario::Plan,
    step: &crate::scenario::Step,
    scale: f64,
) -> (bool, String) {
    use crate::scenario::Step;
    let secrets = Secrets::from_env(plan.env_refs.iter().map(|r| r.name.as_str()));
    match step {
        Step::Http(call) => http(call, &secrets),
        Step::Exec(call) => {
            let wall = Duration::from_secs_f64(call.timeout.0 as f64 / 1000.0 / scale);
            exec(call, wall, scale, &secrets)
        }
        other => (false, format!("`{}` is not a call", other.name())),
    }
}

/// Runs an `http` step: (passed, message). `secrets` are every value the
/// message must not carry (the scenario's, not only the step's: a server
/// may echo what another step sent).
pub fn http(call: &HttpCall, secrets: &Secrets) -> (bool, String) {
    let what = format!("{} {}", call.method.as_str(), call.url);
    let expanded = (|| -> Result<_, String> {
        Ok((
            call.url.expand_env()?,
            expand_headers(&call.headers)?,
            call.body.as_ref().map(Template::expand_env).transpose()?,
        ))
    })();
    let (url, headers, body) = match expanded {
        Ok(e) => e,
        Err(name) => {
            return (
                false,
                format!("{what}: environment variable `{name}` is not set"),
            );
        }
    };
    let reply = request::send(&Request {
        method: call.method.as_str(),
        url: &url,
        headers: &headers,
        body: body.as_deref(),
        timeout: HTTP_TIMEOUT,
        max_body: STEP_BODY,
    });
    let (ok, message) = match reply {
        Err(e) => (
            false,
            format!(
                "{what} failed: {}",
                hide_host(&e.to_string(), &call.url, &url)
            ),
        ),
        Ok(r) => {
            let ok = if call.expect_status.is_empty() {
                (200..300).contains(&r.status)
            } else {
                call.expect_status.contains(&r.status)
            };
            let expected = if call.expect_status.is_empty() {
                "2xx".to_string()
            } else {
                call.expect_status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            if ok {
                (true, format!("{what} → {}", r.status))
            } else {
                (
                    false,
                    format!(
                        "{what} → {}, expected {expected}: {}",
                        r.status,
                        secrets.excerpt_start(&r.body)
                    ),
                )
            }
        }
    };
    (ok, secrets.redact(&message))
}

/// Runs an `exec` step with `sh -c`, killed (with anything it started)
/// after `wall_timeout`: (passed, message).
pub fn exec(
    call: &ExecCall,
    wall_timeout: Duration,
    time_scale: f64,
    secrets: &Secrets,
) -> (bool, String) {
    let shown = format!("`{}`", call.command);
    let spawned = Command::new("sh")
        .arg("-c")
        // As written: the shell expands `${NAME}` from its environment, so
        // a secret never becomes part of a command line or shell syntax.
        .arg(call.command.raw())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return (false, format!("{shown} could not start: {e}")),
    };
    // stderr is read on its own thread into a shared buffer: a command that
    // leaves something running in the background keeps the pipe open, and
    // the step must not wait for that.
    let mut stderr = child.stderr.take().expect("piped");
    let collected = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    {
        let collected = Arc::clone(&collected);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut all = collected.lock().unwrap_or_else(|p| p.into_inner());
                all.extend_from_slice(&buf[..n]);
                // Only the tail is ever shown.
                let excess = all.len().saturating_sub(64 * 1024);
                all.drain(..excess);
            }
            let _ = done_tx.send(());
        });
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= wall_timeout => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    if status.is_none() {
        // The whole process group: `sh` and whatever it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = done_rx.recv_timeout(Duration::from_millis(500));
    let err =
        String::from_utf8_lossy(&collected.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let (ok, message) = match status {
        Some(s) if s.success() => (true, format!("{shown} exited 0")),
        Some(s) => {
            let code = s
                .code()
                .map_or_else(|| "a signal".to_string(), |c| c.to_string());
            let mut m = format!("{shown} exited with {code}");
            if !err.trim().is_empty() {
                m.push_str(&format!("; stderr: {}", secrets.excerpt(&err)));
            }
            (false, m)
        }
        None => (
            false,
            format!(
                "{shown} did not finish within {} ({:.1}s of wall time at --time-scale {time_scale}) and was killed",
                call.timeout,
                wall_timeout.as_secs_f64()
            ),
        ),
    };
    (ok, secrets.redact(&message))
}
