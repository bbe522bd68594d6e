//! `rollback-drill run`: load, check every scenario against its backend,
//! run the drills (in parallel where they may), write the reports, exit.

use std::time::Instant;

use super::console::{Progress, summary_table};
use super::exit::fail;
use super::{Backend, Exit, ExitCode, RunArgs, load_with, print_diagnostics};
use crate::outcome::DrillOutcome;
use crate::report::{self, Format, RunInfo};
use crate::scenario::Diagnostic;

/// `--repeat`: consecutive outcomes of one scenario (its seeds, in order)
/// become one outcome carrying them all.
fn fold_repeats(outcomes: Vec<DrillOutcome>) -> Vec<DrillOutcome> {
    let mut folded = Vec::new();
    let mut group: Vec<DrillOutcome> = Vec::new();
    for o in outcomes {
        if group.first().is_some_and(|g| g.scenario != o.scenario) {
            folded.extend(crate::outcome::Repeat::fold(std::mem::take(&mut group)));
        }
        group.push(o);
    }
    folded.extend(crate::outcome::Repeat::fold(group));
    folded
}

/// Flags of `run` that do not fit together (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("--format: {0}")]
    Format(String),
    #[error("--time-scale must be above 0, found {0}")]
    TimeScale(f64),
    #[error("{0} applies to live drills: add --backend http")]
    LiveOnly(&'static str),
    #[error(
        "--registry does not apply to --backend container (each drill starts its own registry container); use --backend http for an existing registry"
    )]
    RegistryWithContainer,
    #[error("--registry needs --token (or ROLLBACK_DRILL_TOKEN) with platform_lead rights")]
    RegistryWithoutToken,
    #[error("--registry: {0}")]
    RegistryUrl(#[from] crate::live::NotHttp),
}

impl ExitCode for FlagError {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
}

fn parse_formats(raw: &[String]) -> Result<Vec<Format>, FlagError> {
    let mut formats = Vec::new();
    for f in raw {
        formats.push(f.parse().map_err(FlagError::Format)?);
    }
    formats.sort();
    formats.dedup();
    Ok(formats)
}

pub fn run(args: RunArgs) -> Exit {
    let formats = match parse_formats(&args.format) {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let mut plans = match load_with(&args.paths, &args.set) {
        Ok(plans) => plans,
        Err(code) => return code,
    };
    // A scenario whose route lives in a team's system (`staging:`) runs
    // against that system on the wall clock, whatever `--backend` says.
    let staged = plans.iter().any(|p| p.staging.is_real());
    let live = match live_options(&args, staged) {
        Ok(live) => live,
        Err(e) => return fail(&e),
    };
    let staged_opts = crate::staged::StagedOptions {
        time_scale: args.time_scale.unwrap_or(1.0),
        preflight_only: args.preflight_only,
    };
    if staged {
        // What a team's staging cannot do is found before any drill runs
        // (what a scenario can say of it, validation has found already).
        for p in plans.iter().filter(|p| p.staging.is_real()) {
            if let Err(e) = crate::faults::check(p, crate::backend::BackendKind::Staged) {
                eprintln!("error: {}: {e}", p.file.display());
                return e.exit();
            }
        }
        crate::interrupt::install();
    }
    let live = match (live, args.backend) {
        (Some(mut opts), Backend::Container) => {
            match container_backend() {
                Ok(backend) => opts.container = Some(std::sync::Arc::new(backend)),
                Err(e) => return fail(&e),
            }
            Some(opts)
        }
        (live, _) => live,
    };
    if let Some(opts) = &live {
        // A fault this backend cannot inject is found before any drill runs.
        for p in &plans {
            if let Err(e) = crate::faults::check(p, crate::live::backend_kind(opts)) {
                eprintln!("error: {}: {e}", p.file.display());
                return e.exit();
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
    // An unusable report folder is found before any drill runs. The probe
    // has a name of its own (created exclusively, removed on drop): runs
    // into one folder at once once removed each other's shared probe.
    let usable = std::fs::create_dir_all(&args.report_dir).and_then(|()| {
        tempfile::Builder::new()
            .prefix(".rollback-drill-write-test-")
            .tempfile_in(&args.report_dir)?
            .close()
    });
    if let Err(source) = usable {
        return fail(&report::ReportError::Folder {
            dir: args.report_dir.clone(),
            source,
        });
    }
    let history_file = args.report_dir.join("history.jsonl");
    let past = match crate::history::read(&history_file) {
        Ok(past) => past,
        Err(e) => return fail(&e),
    };
    if let Some(p) = args.partition {
        plans = crate::runner::shard(plans, p);
    }
    // A live run reads the scenarios' `${NAME}` secrets: all must be set
    // before the first drill starts.
    if (live.is_some() || staged) && !args.preflight_only {
        let unset: Vec<Diagnostic> = plans
            .iter()
            .filter(|p| live.is_some() || p.staging.is_real())
            .flat_map(|p| p.missing_env(|n| std::env::var(n).ok()))
            .collect();
        if !unset.is_empty() {
            print_diagnostics(&unset);
            return Exit::Environment;
        }
    }
    // `--repeat N`: each scenario N times, seeds seed … seed+N-1, in order.
    if args.repeat > 1 {
        plans = plans
            .into_iter()
            .flat_map(|p| {
                (0..args.repeat).map(move |k| {
                    let mut q = p.clone();
                    q.seed = p.seed.wrapping_add(k);
                    q
                })
            })
            .collect();
    }
    let started_at = jiff::Timestamp::now().to_string();
    let clock = Instant::now();
    let total = plans.len();
    // Live drills share the wall clock (and maybe one registry): one at a
    // time, unless each has a container of its own and --jobs asks.
    let jobs = if staged {
        1
    } else if let Some(opts) = &live {
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
            let outcome = match &live {
                _ if plan.staging.is_real() => match crate::staged::run(plan, &staged_opts) {
                    Ok(o) => o,
                    Err(e) => {
                        live_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return None;
                    }
                },
                Some(opts) => match crate::live::run(plan, opts) {
                    Ok(o) => o,
                    Err(e) => {
                        live_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return None;
                    }
                },
                None if args.preflight_only => crate::sim::preflight_only(plan),
                None => crate::sim::run(plan),
            };
            Some(outcome.with_history(past.get(&plan.name).cloned().unwrap_or_default()))
        },
        |done, plan, outcome| progress.finished(done, plan, outcome),
    );
    progress.clear();
    let run = RunInfo {
        started_at,
        finished_at: jiff::Timestamp::now().to_string(),
        wall_ms: clock.elapsed().as_millis() as u64,
        version: env!("CARGO_PKG_VERSION"),
    };
    // `--repeat`: each scenario's seeds folded into one outcome, on every
    // path that writes reports.
    let outcomes = if args.repeat > 1 {
        fold_repeats(outcomes)
    } else {
        outcomes
    };
    if let Some(e) = live_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        // The drills that ended keep their reports.
        if !outcomes.is_empty() {
            match report::write(&args.report_dir, &formats, &outcomes, &run) {
                Ok(files) => eprintln!(
                    "reports of the {} drill(s) that ended: {} file(s) in {}",
                    outcomes.len(),
                    files.len(),
                    args.report_dir.display()
                ),
                Err(w) => eprintln!("error: {w}"),
            }
        }
        return fail(&e);
    }
    // Reports first: a reader that closes stdout early (`| head`) must
    // cost neither the reports nor the exit code.
    let written = report::write(&args.report_dir, &formats, &outcomes, &run);
    quiet_print(&summary_table(&outcomes));
    match written {
        Ok(files) => quiet_print(&format!(
            "reports: {} file(s) in {}\n",
            files.len(),
            args.report_dir.display()
        )),
        Err(e) => return fail(&e),
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

/// Writes to stdout; a closed stdout (a pipe whose reader is gone) is not
/// an error of the run.
pub(super) fn quiet_print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The live options, or why the flags do not fit together.
fn live_options(
    args: &RunArgs,
    staged: bool,
) -> Result<Option<crate::live::LiveOptions>, FlagError> {
    if let Some(time_scale) = args.time_scale
        && !(time_scale.is_finite() && time_scale > 0.0)
    {
        return Err(FlagError::TimeScale(time_scale));
    }
    match args.backend {
        Backend::Container => {
            if args.registry.is_some() {
                return Err(FlagError::RegistryWithContainer);
            }
            let time_scale = args.time_scale.unwrap_or(1.0);
            if !(time_scale.is_finite() && time_scale > 0.0) {
                return Err(FlagError::TimeScale(time_scale));
            }
            Ok(Some(crate::live::LiveOptions {
                registry: None,
                token: None,
                time_scale,
                server_exe: None,
                container: None,
                container_wanted: true,
                preflight_only: args.preflight_only,
                compare_simulated: args.compare_simulated,
            }))
        }
        Backend::InProcess => {
            for (flag, set) in [
                ("--registry", args.registry.is_some()),
                // A drill on a team's staging runs on the wall clock too.
                ("--time-scale", args.time_scale.is_some() && !staged),
                ("--compare-simulated", args.compare_simulated),
            ] {
                if set {
                    return Err(FlagError::LiveOnly(flag));
                }
            }
            Ok(None)
        }
        Backend::Staged => Ok(None),
        Backend::Http => {
            let time_scale = args.time_scale.unwrap_or(1.0);
            if !(time_scale.is_finite() && time_scale > 0.0) {
                return Err(FlagError::TimeScale(time_scale));
            }
            if let Some(url) = &args.registry {
                crate::live::Http::new(url, None)?;
            }
            if args.registry.is_some() && args.token.is_none() {
                return Err(FlagError::RegistryWithoutToken);
            }
            Ok(Some(crate::live::LiveOptions {
                registry: args.registry.clone(),
                token: args.token.clone(),
                time_scale,
                server_exe: std::env::current_exe().ok(),
                container: None,
                container_wanted: false,
                preflight_only: args.preflight_only,
                compare_simulated: args.compare_simulated,
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
