//! The command line: raw arguments → validated settings → a command.
//!
//! Library errors stay typed until here; this is the edge where they become
//! messages and the documented exit codes (SPEC section 2).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::outcome::{CheckStatus, DrillOutcome, human};
use crate::report::{self, Format, RunInfo};
use crate::scenario::{self, Diagnostic, Plan};

/// Exit codes of SPEC section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Passed = 0,
    Failed = 1,
    Invalid = 2,
    Environment = 3,
    /// Ctrl-C or SIGTERM stopped a live run (reports so far were written).
    Interrupted = 130,
}

#[derive(Debug, Parser)]
#[command(
    name = "rollback-drill",
    version,
    about = "Rehearse rollbacks of LLM-platform changes: detect, decide, execute, verify, timed against targets"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every scenario given (files or folders) and write reports.
    Run(RunArgs),
    /// Load and check scenario files; print every problem; run nothing.
    Validate(PathsArg),
    /// One line per scenario: name, change type, target, faults.
    List(PathsArg),
    /// Print the JSON Schema of scenario files (for editors).
    Schema,
    /// Per scenario: last runs, phase medians, trend, drift findings.
    History(HistoryArgs),
    /// Write a commented starter scenario that passes as written.
    Init(InitArgs),
    /// The staging registry as an HTTP/JSON service.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve the registry API (SPEC section 7) until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the line
    /// `registry listening on ADDR` tells which).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: std::net::SocketAddr,
    /// SQLite file holding the registry's state (created if missing).
    #[arg(long, default_value = "registry.db")]
    pub state: PathBuf,
    /// YAML or JSON mapping each bearer token to a role (viewer, deployer,
    /// on_call, platform_lead). Without it, one token per role is generated
    /// and printed.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A gateway alias file (`aliases: NAME: candidates: [...]`) to take the
    /// registry's routes from.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// The change type to drill: prompt, model, agent_code, eval or data.
    #[arg(long, default_value = "prompt")]
    pub change: crate::scenario::ChangeType,
    /// Write the scenario here (never over an existing file) instead of
    /// printing it.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The report folder whose history.jsonl to read.
    #[arg(long, default_value = "reports/")]
    pub report_dir: PathBuf,
    /// How many recent runs to show per scenario.
    #[arg(long, default_value_t = 5)]
    pub last: usize,
}

#[derive(Debug, Args)]
pub struct PathsArg {
    /// Scenario files or folders.
    #[arg(default_value = "scenarios/")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    InProcess,
    Http,
    Container,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders.
    #[arg(default_value = "scenarios/")]
    pub paths: Vec<PathBuf>,
    /// Where reports are written.
    #[arg(long, default_value = "reports/")]
    pub report_dir: PathBuf,
    /// Report formats, comma separated: junit, json, md, html.
    /// history.jsonl is always appended.
    #[arg(long, value_delimiter = ',', default_value = "junit,json,md,html")]
    pub format: Vec<String>,
    /// Seed for every scenario, overriding the scenarios' own.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenarios run in parallel (default: the available cores). Results
    /// are identical to --jobs 1.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (e.g. `2/4`), for CI matrices: scenarios
    /// sorted by name, shard K takes every N-th starting at the K-th.
    #[arg(long, value_parser = clap::value_parser!(crate::runner::Partition))]
    pub partition: Option<crate::runner::Partition>,
    /// Where drills run: in-process (simulated, virtual clock), http (live,
    /// wall clock, against a registry server). container is not implemented yet.
    #[arg(long, value_enum, default_value = "in-process")]
    pub backend: Backend,
    /// Live drills: the registry's base URL (`http://HOST:PORT`). Without
    /// it, `--backend http` starts a registry server process of its own on
    /// a free loopback port and stops it afterwards.
    #[arg(long)]
    pub registry: Option<String>,
    /// Live drills: the bearer token for --registry (it needs platform_lead
    /// to seed the registry and inject faults).
    #[arg(long, env = "ROLLBACK_DRILL_TOKEN")]
    pub token: Option<String>,
    /// Live drills: scenario time runs this many times faster than the
    /// wall clock (60: a 30-minute drill rehearses in 30 seconds).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Only the preflight: check route, rollback target and retention,
    /// run no traffic, append no history.
    #[arg(long)]
    pub preflight_only: bool,
    /// Drift: compare with the median of this many recent passing runs
    /// (overrides the scenarios' `drift.runs`).
    #[arg(long)]
    pub drift_runs: Option<usize>,
    /// Drift: fail a phase slower than that median by more than this,
    /// e.g. `25%` (overrides the scenarios' `drift.tolerance`).
    #[arg(long, value_parser = parse_tolerance)]
    pub drift_tolerance: Option<f64>,
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    crate::scenario::Percent::parse_unbounded(s).map(|p| p.fraction())
}

pub fn main(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Validate(args) => validate(&args.paths),
        Command::List(args) => list(&args.paths),
        Command::History(args) => history(&args),
        Command::Init(args) => init(&args),
        Command::Registry(RegistryCommand::Serve(args)) => {
            match crate::server::serve(args.addr, &args.state, args.tokens.as_deref()) {
                Ok(()) => Exit::Passed,
                Err(e) => {
                    eprintln!("error: {e}");
                    match e {
                        crate::server::ServeError::Tokens(_) => Exit::Invalid,
                        _ => Exit::Environment,
                    }
                }
            }
        }
        Command::Schema => {
            let schema = schemars::schema_for!(scenario::raw::RawScenario);
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("a schema serializes")
            );
            Exit::Passed
        }
    }
}

fn print_diagnostics(diags: &[Diagnostic]) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        let _ = writeln!(err, "error: {d}");
    }
    let files: std::collections::BTreeSet<_> = diags.iter().map(|d| &d.file).collect();
    let _ = writeln!(
        err,
        "{} problem(s) in {} file(s); nothing was run",
        diags.len(),
        files.len()
    );
}

fn load(paths: &[PathBuf]) -> Result<Vec<Plan>, Exit> {
    scenario::load_all(paths).map_err(|diags| {
        print_diagnostics(&diags);
        Exit::Invalid
    })
}

fn validate(paths: &[PathBuf]) -> Exit {
    match load(paths) {
        Ok(plans) => {
            println!("{} scenario(s) valid", plans.len());
            Exit::Passed
        }
        Err(code) => code,
    }
}

fn list(paths: &[PathBuf]) -> Exit {
    let plans = match load(paths) {
        Ok(plans) => plans,
        Err(code) => return code,
    };
    let width = plans.iter().map(|p| p.name.len()).max().unwrap_or(8).max(8);
    println!(
        "{:width$}  {:10}  {:>7}  FAULTS",
        "SCENARIO", "CHANGE", "TARGET"
    );
    for p in &plans {
        println!(
            "{:width$}  {:10}  {:>7}  none",
            p.name,
            p.change.as_str(),
            p.restore_target.to_string()
        );
    }
    Exit::Passed
}

fn parse_formats(raw: &[String]) -> Result<Vec<Format>, String> {
    let mut formats = Vec::new();
    for f in raw {
        formats.push(f.parse()?);
    }
    formats.sort();
    formats.dedup();
    Ok(formats)
}

fn run(args: RunArgs) -> Exit {
    let formats = match parse_formats(&args.format) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("error: --format: {message}");
            return Exit::Invalid;
        }
    };
    let live = match live_options(&args) {
        Ok(live) => live,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
    };
    let mut plans = match load(&args.paths) {
        Ok(plans) => plans,
        Err(code) => return code,
    };
    // The real-staging components are not wired into a drill yet: drilling
    // the built-in registry instead would pass a drill that never touched
    // the team's system.
    if let Some(p) = plans.iter().find(|p| p.staging.is_real()) {
        eprintln!(
            "error: {}: `staging: {{kind: {}}}` is validated, but drills against a team's own staging are not run yet\n  hint: leave `staging:` out to drill the built-in registry",
            p.file.display(),
            p.staging.kind()
        );
        return Exit::Invalid;
    }
    let live = match (live, args.backend) {
        (Some(mut opts), Backend::Container) if !args.preflight_only => {
            match container_backend() {
                Ok(backend) => opts.container = Some(std::sync::Arc::new(backend)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Environment;
                }
            }
            Some(opts)
        }
        (live, _) => live,
    };
    if let Some(opts) = &live {
        // A fault this backend cannot inject is found before any drill runs.
        for p in &plans {
            if let Err(e) = crate::live::check_faults(p, opts) {
                eprintln!("error: {}: {e}", p.file.display());
                return Exit::Invalid;
            }
        }
        crate::interrupt::install();
    }
    for p in &mut plans {
        if let Some(seed) = args.seed {
            p.seed = seed;
        }
        if let Some(runs) = args.drift_runs {
            p.drift.runs = runs.max(1);
        }
        if let Some(tolerance) = args.drift_tolerance {
            p.drift.tolerance = tolerance;
        }
    }
    // An unusable report folder is found before any drill runs.
    let probe = args.report_dir.join(".rollback-drill-write-test");
    let usable = std::fs::create_dir_all(&args.report_dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe));
    if let Err(source) = usable {
        let e = report::ReportError::Folder {
            dir: args.report_dir.clone(),
            source,
        };
        eprintln!("error: {e}");
        return Exit::Environment;
    }
    let history_file = args.report_dir.join("history.jsonl");
    let past = match crate::history::read(&history_file) {
        Ok(past) => past,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Environment;
        }
    };
    if let Some(p) = args.partition {
        plans = crate::runner::shard(plans, p);
    }
    // A live run reads the scenarios' `${NAME}` secrets: all must be set
    // before the first drill starts.
    if live.is_some() && !args.preflight_only {
        let unset: Vec<Diagnostic> = plans
            .iter()
            .flat_map(|p| p.missing_env(|n| std::env::var(n).ok()))
            .collect();
        if !unset.is_empty() {
            print_diagnostics(&unset);
            return Exit::Environment;
        }
    }
    let started_at = jiff::Timestamp::now().to_string();
    let clock = Instant::now();
    let total = plans.len();
    // Live drills share the wall clock (and maybe one registry): one at a
    // time, unless each has a container of its own and --jobs asks.
    let jobs = if let Some(opts) = &live {
        match (&opts.container, args.jobs) {
            (Some(_), Some(jobs)) => jobs,
            _ => 1,
        }
    } else {
        args.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    };
    let live_error: std::sync::Mutex<Option<crate::live::LiveError>> = std::sync::Mutex::new(None);
    let progress = Progress::new(total);
    let outcomes = crate::runner::run_all(
        &plans,
        jobs,
        |plan| {
            if crate::interrupt::requested() {
                return None;
            }
            progress.started(plan);
            let mut outcome = match &live {
                _ if args.preflight_only => crate::sim::preflight_only(plan),
                Some(opts) => match crate::live::run(plan, opts) {
                    Ok(o) => o,
                    Err(e) => {
                        let o = crate::sim::preflight_only(plan);
                        live_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        o
                    }
                },
                None => crate::sim::run(plan),
            };
            outcome.history = Some(past.get(&plan.name).cloned().unwrap_or_default());
            Some(outcome)
        },
        |done, plan, outcome| progress.finished(done, plan, outcome),
    );
    progress.clear();
    if let Some(e) = live_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        eprintln!("error: {e}");
        return match e {
            crate::live::LiveError::Unsupported(..) => Exit::Invalid,
            _ => Exit::Environment,
        };
    }
    let run = RunInfo {
        started_at,
        finished_at: jiff::Timestamp::now().to_string(),
        wall_ms: clock.elapsed().as_millis() as u64,
        version: env!("CARGO_PKG_VERSION"),
    };
    print!("{}", summary_table(&outcomes));
    match report::write(&args.report_dir, &formats, &outcomes, &run) {
        Ok(files) => {
            println!(
                "reports: {} file(s) in {}",
                files.len(),
                args.report_dir.display()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Environment;
        }
    }
    if crate::interrupt::requested() {
        eprintln!(
            "interrupted: {} of {} drill(s) reported",
            outcomes.len(),
            total
        );
        Exit::Interrupted
    } else if outcomes.iter().all(DrillOutcome::passed) {
        Exit::Passed
    } else {
        Exit::Failed
    }
}

/// Scenario names and messages may hold control characters (ANSI escapes,
/// NUL): never let them reach a terminal or a CI log raw.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The table printed on stdout: failures first, each failed check beneath.
pub fn summary_table(outcomes: &[DrillOutcome]) -> String {
    use std::fmt::Write as _;
    let ordered = report::markdown::ordered(outcomes);
    let width = outcomes
        .iter()
        .map(|o| o.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:6}  {:width$}  {:10}  {:>8}  {:>8}  {:>8}  {:>7}",
        "RESULT", "SCENARIO", "CHANGE", "DETECT", "DECIDE", "RESTORE", "TARGET"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), human);
    for o in &ordered {
        let d = o.durations();
        let _ = writeln!(
            out,
            "{:6}  {:width$}  {:10}  {:>8}  {:>8}  {:>8}  {:>7}",
            if o.passed() { "pass" } else { "FAIL" },
            printable(&o.scenario),
            o.change.as_str(),
            opt(d.detect),
            opt(d.decide),
            opt(d.restore),
            o.restore_target.to_string()
        );
        for c in o
            .checks()
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
        {
            let _ = writeln!(out, "        {}: {}", c.name, printable(&c.message));
        }
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let _ = writeln!(
        out,
        "{} drill(s): {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failed,
        failed
    );
    out
}

fn history(args: &HistoryArgs) -> Exit {
    let file = args.report_dir.join("history.jsonl");
    let past = match crate::history::read(&file) {
        Ok(past) => past,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Environment;
        }
    };
    if past.is_empty() {
        eprintln!(
            "no drill history in {}: run `rollback-drill run --report-dir {}` first",
            file.display(),
            args.report_dir.display()
        );
        return Exit::Passed;
    }
    print!("{}", history_table(&past, args.last));
    Exit::Passed
}

/// Per scenario: the last runs, medians of the passing ones, the trend of
/// `restore` and the latest drift verdict.
pub fn history_table(
    past: &std::collections::BTreeMap<String, Vec<crate::history::HistoryRun>>,
    last: usize,
) -> String {
    use std::fmt::Write as _;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), human);
    let mut out = String::new();
    for (scenario, runs) in past {
        let passing: Vec<_> = runs.iter().filter(|r| r.passed).collect();
        let _ = writeln!(
            out,
            "{scenario}: {} run(s), {} passed",
            runs.len(),
            passing.len()
        );
        let _ = writeln!(
            out,
            "  {:25}  {:6}  {:>8}  {:>8}  {:>8}",
            "AT", "RESULT", "DETECT", "DECIDE", "RESTORE"
        );
        for r in runs.iter().rev().take(last).rev() {
            let _ = writeln!(
                out,
                "  {:25}  {:6}  {:>8}  {:>8}  {:>8}",
                r.at,
                if r.passed { "pass" } else { "FAIL" },
                opt(r.durations.detect),
                opt(r.durations.decide),
                opt(r.durations.restore)
            );
        }
        let med = |f: fn(&crate::history::HistoryRun) -> Option<f64>| {
            let mut v: Vec<f64> = passing.iter().filter_map(|r| f(r)).collect();
            crate::history::median(&mut v)
        };
        let restore = med(|r| r.durations.restore);
        let _ = writeln!(
            out,
            "  median of passing runs: detect {}, decide {}, restore {}",
            opt(med(|r| r.durations.detect)),
            opt(med(|r| r.durations.decide)),
            opt(restore)
        );
        let latest = runs.last().expect("a scenario has runs");
        let trend = match (latest.durations.restore, restore) {
            (Some(now), Some(m)) if m > 0.0 && now > m * 1.1 => {
                format!(
                    "restore slower than the median (+{})",
                    crate::scenario::Percent(now / m - 1.0)
                )
            }
            (Some(now), Some(m)) if m > 0.0 && now < m * 0.9 => {
                "restore faster than the median".to_string()
            }
            (Some(_), Some(_)) => "restore steady".to_string(),
            _ => "no restore to compare".to_string(),
        };
        let drift = latest
            .checks
            .iter()
            .find(|c| c.name == "drift")
            .map_or("not checked", |c| match c.status {
                CheckStatus::Failed => "DRIFT in the latest run",
                CheckStatus::Passed => "no drift in the latest run",
                CheckStatus::Skipped => "drift not checked (no earlier runs)",
            });
        let _ = writeln!(out, "  trend: {trend}; {drift}");
    }
    out
}

/// Progress on stderr: a bar with the drill in flight on a terminal, one
/// plain line per finished drill otherwise (CI logs).
struct Progress {
    total: usize,
    terminal: bool,
    done: std::sync::atomic::AtomicUsize,
    lock: std::sync::Mutex<()>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            terminal: std::io::stderr().is_terminal(),
            done: std::sync::atomic::AtomicUsize::new(0),
            lock: std::sync::Mutex::new(()),
        }
    }

    fn started(&self, plan: &Plan) {
        if self.terminal {
            let _guard = self.lock.lock();
            let done = self.done.load(std::sync::atomic::Ordering::Relaxed);
            eprint!(
                "\r\x1b[2K{} running {}",
                self.bar(done),
                printable(&plan.name)
            );
        }
    }

    fn finished(&self, done: usize, plan: &Plan, outcome: &DrillOutcome) {
        let _guard = self.lock.lock();
        self.done.store(done, std::sync::atomic::Ordering::Relaxed);
        let verdict = if outcome.passed() { "pass" } else { "FAIL" };
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        let d = outcome.durations();
        let restore = d.restore.map_or("-".to_string(), human);
        eprintln!(
            "[{done}/{}] {verdict} {} (restore {restore}, target {})",
            self.total,
            printable(&plan.name),
            outcome.restore_target
        );
        if self.terminal && done < self.total {
            eprint!("{}", self.bar(done));
        }
    }

    fn bar(&self, done: usize) -> String {
        let width = 24;
        let filled = (done * width).checked_div(self.total).unwrap_or(width);
        format!(
            "[{}{}] {done}/{}",
            "=".repeat(filled),
            " ".repeat(width - filled),
            self.total
        )
    }

    fn clear(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

fn init(args: &InitArgs) -> Exit {
    let routes = match &args.from {
        Some(file) => match crate::starter::read_aliases(file) {
            Ok(routes) => Some(routes),
            Err(diags) => {
                print_diagnostics(&diags);
                return Exit::Invalid;
            }
        },
        None => None,
    };
    let text = crate::starter::render(args.change, routes.as_deref());
    let Some(out) = &args.output else {
        print!("{text}");
        return Exit::Passed;
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {}: check it with `rollback-drill validate {}`",
                out.display(),
                out.display()
            );
            Exit::Passed
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} exists already; choose another --output",
                out.display()
            );
            Exit::Invalid
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            Exit::Environment
        }
    }
}

/// The live options, or why the flags do not fit together.
fn live_options(args: &RunArgs) -> Result<Option<crate::live::LiveOptions>, String> {
    match args.backend {
        Backend::Container => {
            if args.registry.is_some() {
                return Err(
                    "--registry does not apply to --backend container (each drill starts its own registry container); use --backend http for an existing registry"
                        .into(),
                );
            }
            let time_scale = args.time_scale.unwrap_or(1.0);
            if !(time_scale.is_finite() && time_scale > 0.0) {
                return Err(format!("--time-scale must be above 0, found {time_scale}"));
            }
            Ok(Some(crate::live::LiveOptions {
                registry: None,
                token: None,
                time_scale,
                server_exe: None,
                container: None,
            }))
        }
        Backend::InProcess => {
            for (flag, set) in [
                ("--registry", args.registry.is_some()),
                ("--time-scale", args.time_scale.is_some()),
            ] {
                if set {
                    return Err(format!("{flag} applies to live drills: add --backend http"));
                }
            }
            Ok(None)
        }
        Backend::Http => {
            let time_scale = args.time_scale.unwrap_or(1.0);
            if !(time_scale.is_finite() && time_scale > 0.0) {
                return Err(format!("--time-scale must be above 0, found {time_scale}"));
            }
            if args.registry.is_some() && args.token.is_none() {
                return Err(
                    "--registry needs --token (or ROLLBACK_DRILL_TOKEN) with platform_lead rights"
                        .into(),
                );
            }
            Ok(Some(crate::live::LiveOptions {
                registry: args.registry.clone(),
                token: args.token.clone(),
                time_scale,
                server_exe: std::env::current_exe().ok(),
                container: None,
            }))
        }
    }
}

/// `--backend container`: a checked engine (exit 3 when there is none or it
/// is too old), leftovers of killed runs removed, the image made or reused.
fn container_backend() -> Result<crate::live::ContainerBackend, crate::container::ContainerError> {
    use crate::container::{Engine, image};
    let engine = Engine::connect()?;
    let swept = engine.sweep_leftovers()?;
    if swept != crate::container::Swept::default() {
        eprintln!(
            "removed leftovers of interrupted runs: {} container(s), {} network(s), {} volume(s)",
            swept.containers, swept.networks, swept.volumes
        );
    }
    let exe = image::chosen_exe().map_err(crate::container::ContainerError::Image)?;
    let image = engine.ensure_image(&exe)?;
    eprintln!(
        "registry image {}:{} ({}, {}) on the engine at {} (API {})",
        image::REPO,
        image.tag,
        if image.created { "imported" } else { "reused" },
        if image.is_static {
            "one static binary"
        } else {
            "dynamic binary with its libraries"
        },
        engine.host(),
        engine.api_version
    );
    Ok(crate::live::ContainerBackend { engine, image })
}
