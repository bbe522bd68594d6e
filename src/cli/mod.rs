//! The command line: raw arguments → validated settings → a command.
//!
//! Library errors stay typed until here; this is the edge where they become
//! messages and the documented exit codes (SPEC section 2): each error type
//! says its own code ([`ExitCode`]). The `run` flow is in `run`, console
//! tables and progress in `console`.

mod console;
mod exit;
mod run;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::{self, Diagnostic, Plan};

pub use console::summary_table;
pub use exit::{Exit, ExitCode};

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
    /// Rollback-time SLOs from the history: attainment, percentiles and
    /// error budget per change type, phase and backend; writes slo.json
    /// and slo.prom (OpenMetrics) into the report folder.
    Slo(SloArgs),
    /// Write a commented starter scenario that passes as written.
    Init(InitArgs),
    /// The staging registry as an HTTP/JSON service.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve the registry API (README: "Staging registry server") until
    /// Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the line
    /// `registry listening on ADDR` tells which).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: std::net::SocketAddr,
    /// SQLite file holding the registry's state (created if missing).
    /// Default: `$XDG_DATA_HOME/rollback-drill/registry.db`, else
    /// `~/.local/share/rollback-drill/registry.db`; never the current folder.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// YAML or JSON mapping each bearer token to a role (viewer, deployer,
    /// on_call, platform_lead). Without it, one token per role is generated
    /// and printed.
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// A connection must send a whole request head this soon after it
    /// opens or after its last answer, or it is closed (idle clients
    /// cannot hold the server's descriptors).
    #[arg(long, default_value = "10s", value_parser = crate::scenario::Dur::parse)]
    pub header_timeout: crate::scenario::Dur,
    /// Connections open at once; one more is closed at once. Bounded by
    /// the descriptor limit (raised to the hard limit at start) less 64.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A gateway alias file (`aliases: NAME: candidates: [...]`) to take the
    /// registry's routes from.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// The change type to drill: prompt, model, agent_code, eval or data.
    /// Default: inferred from `--from`'s candidate ids (`prompts:…` is a
    /// prompt, a provider's model id a model), else prompt.
    #[arg(long)]
    pub change: Option<crate::scenario::ChangeType>,
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
pub struct SloArgs {
    /// The report folder whose history.jsonl to read (and where slo.json
    /// and slo.prom are written).
    #[arg(long, default_value = "reports/")]
    pub report_dir: PathBuf,
    /// How far back runs count, e.g. `30d`, `7d`, `12h`.
    #[arg(long, default_value = "30d", value_parser = crate::scenario::Dur::parse)]
    pub window: crate::scenario::Dur,
    /// The share of runs that must meet their target, e.g. `99%`.
    #[arg(long, default_value = "99%", value_parser = parse_objective)]
    pub objective: f64,
    /// Only this change type.
    #[arg(long)]
    pub change: Option<crate::scenario::ChangeType>,
    /// The end of the window (RFC 3339, e.g. `2026-11-30T00:00:00Z`;
    /// default now): the same history and `--until` give the same figures.
    #[arg(long)]
    pub until: Option<jiff::Timestamp>,
}

fn parse_objective(s: &str) -> Result<f64, String> {
    let p = crate::scenario::Percent::parse(s)?.fraction();
    if p > 0.0 && p <= 1.0 {
        Ok(p)
    } else {
        Err(format!(
            "`{s}` is not an objective: give a share above 0% and at most 100%, e.g. 99%"
        ))
    }
}

#[derive(Debug, Args)]
pub struct PathsArg {
    /// Scenario files or folders.
    #[arg(default_value = "scenarios/")]
    pub paths: Vec<PathBuf>,
}

pub use crate::backend::BackendKind as Backend;

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
    /// wall clock, against a registry server), container (live, a registry
    /// in a container of its own per drill).
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
    /// Only the preflight: check route, rollback target and retention on
    /// the chosen backend (a live registry is read, never written), run no
    /// traffic, append no history.
    #[arg(long)]
    pub preflight_only: bool,
    /// Run each scenario with N seeds (its seed, seed+1, …): pass rate and
    /// p50/p95/max of every phase; a check fails when any seed fails it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub repeat: u64,
    /// Live drills: also run each drill's simulated twin; another trigger,
    /// action or severity, or detect or restore more than one evaluation
    /// interval apart, is a `path_diverged` finding that fails the drill.
    #[arg(long)]
    pub compare_simulated: bool,
    /// Drift: compare with the median of this many recent passing runs
    /// (overrides the scenarios' `drift.runs`).
    #[arg(long)]
    pub drift_runs: Option<usize>,
    /// Drift: fail a phase slower than that median by more than this,
    /// e.g. `25%` (overrides the scenarios' `drift.tolerance`).
    #[arg(long, value_parser = parse_tolerance)]
    pub drift_tolerance: Option<f64>,
    /// Sets a scalar field of every scenario before validation, e.g.
    /// `--set release.version=v2.1.0` (repeatable; validated like the file).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<crate::scenario::set::FieldSet>,
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    crate::scenario::Percent::parse_unbounded(s).map(|p| p.fraction())
}

pub fn main(cli: Cli) -> Exit {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate(&args.paths),
        Command::List(args) => list(&args.paths),
        Command::History(args) => history(&args),
        Command::Slo(args) => slo(&args),
        Command::Init(args) => init(&args),
        Command::Registry(RegistryCommand::Serve(args)) => {
            let state = match args
                .state
                .clone()
                .map_or_else(crate::server::default_state, Ok)
            {
                Ok(state) => state,
                Err(e) => return exit::fail(&e),
            };
            let limits = crate::server::Limits {
                header_timeout: std::time::Duration::from_millis(args.header_timeout.0.max(1)),
                max_connections: args.max_connections as usize,
            };
            match crate::server::serve(args.addr, &state, args.tokens.as_deref(), limits) {
                Ok(()) => Exit::Passed,
                Err(e) => exit::fail(&e),
            }
        }
        Command::Schema => {
            let schema = scenario::schema::schema();
            run::quiet_print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).expect("a schema serializes")
            ));
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
    load_with(paths, &[])
}

fn load_with(paths: &[PathBuf], sets: &[scenario::set::FieldSet]) -> Result<Vec<Plan>, Exit> {
    scenario::load_all_with(paths, sets).map_err(|diags| {
        print_diagnostics(&diags);
        Exit::Invalid
    })
}

fn validate(paths: &[PathBuf]) -> Exit {
    match load(paths) {
        Ok(plans) => {
            run::quiet_print(&format!("{} scenario(s) valid\n", plans.len()));
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
    use std::fmt::Write as _;
    let width = plans.iter().map(|p| p.name.len()).max().unwrap_or(8).max(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:width$}  {:10}  {:>7}  FAULTS",
        "SCENARIO", "CHANGE", "TARGET"
    );
    for p in &plans {
        let faults: Vec<&str> = p.faults.iter().map(|f| f.kind().as_str()).collect();
        let _ = writeln!(
            out,
            "{:width$}  {:10}  {:>7}  {}",
            p.name,
            p.change.as_str(),
            p.restore_target.to_string(),
            if faults.is_empty() {
                "none".to_string()
            } else {
                faults.join(", ")
            }
        );
    }
    run::quiet_print(&out);
    Exit::Passed
}

fn history(args: &HistoryArgs) -> Exit {
    let file = args.report_dir.join("history.jsonl");
    let past = match crate::history::read(&file) {
        Ok(past) => past,
        Err(e) => return exit::fail(&e),
    };
    if past.is_empty() {
        eprintln!(
            "no drill history in {}: run `rollback-drill run --report-dir {}` first",
            file.display(),
            args.report_dir.display()
        );
        return Exit::Passed;
    }
    run::quiet_print(&crate::history::table(&past, args.last));
    Exit::Passed
}

fn slo(args: &SloArgs) -> Exit {
    let file = args.report_dir.join("history.jsonl");
    let past = match crate::history::read(&file) {
        Ok(past) => past,
        Err(e) => return exit::fail(&e),
    };
    let query = crate::slo::Query {
        window_s: args.window.secs_f64(),
        objective: args.objective,
        change: args.change,
        until: args.until.unwrap_or_else(jiff::Timestamp::now),
    };
    let report = crate::slo::compute(past.values().flatten(), &query);
    // Files first: a reader that closes stdout early (`| head`) must not
    // cost them.
    let json = serde_json::to_string_pretty(&report).expect("the report serializes") + "\n";
    for (name, bytes) in [
        ("slo.json", json),
        ("slo.prom", crate::slo::openmetrics(&report)),
    ] {
        let path = args.report_dir.join(name);
        if let Err(source) = std::fs::write(&path, bytes) {
            return exit::fail(&crate::report::ReportError::File { file: path, source });
        }
    }
    run::quiet_print(&format!(
        "{}slo: slo.json and slo.prom in {}\n",
        crate::slo::table(&report),
        args.report_dir.display()
    ));
    Exit::Passed
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
    let change = match (args.change, &routes) {
        (Some(c), _) => c,
        (None, Some(r)) => {
            let c = crate::starter::infer_change(r);
            eprintln!(
                "change type: {c} (inferred from the alias file's candidate ids; pass --change to choose another)"
            );
            c
        }
        (None, None) => crate::scenario::ChangeType::Prompt,
    };
    let text = crate::starter::render(change, routes.as_deref());
    let Some(out) = &args.output else {
        run::quiet_print(&text);
        return Exit::Passed;
    };
    // A new drills folder is made, as a newcomer's first `--output
    // drills/first.yaml` expects.
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    let written = parent
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(out)
        })
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
