//! Shared by the container test binaries: the engine (or a loud skip),
//! the registry image, and the check that nothing labelled is left.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use rollback_drill::container::{Engine, LABEL};
use rollback_drill::live::ContainerBackend;

/// Container tests share one engine: one at a time keeps wall-clock
/// timings honest on two cores.
pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub const EXE: &str = env!("CARGO_BIN_EXE_rollback-drill");

/// The engine, or `None` (and a loud message) where there is none.
/// Leftovers of killed runs are swept first, as the CLI does: they are not
/// this test's.
pub fn engine() -> Option<Engine> {
    match Engine::connect() {
        Ok(e) => {
            e.sweep_leftovers().expect("sweep leftovers");
            Some(e)
        }
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the container tests for real, but: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: container tests need a Docker engine: {e}");
            None
        }
    }
}

pub fn backend() -> Option<Arc<ContainerBackend>> {
    let engine = engine()?;
    let image = engine
        .ensure_image(Path::new(EXE))
        .expect("the registry image is made");
    Some(Arc::new(ContainerBackend { engine, image }))
}

/// Nothing with the harness's label may be left behind.
pub fn assert_clean(engine: &Engine) {
    assert_eq!(
        engine.labelled().expect("the engine lists"),
        (0, 0, 0),
        "containers, networks, volumes labelled {LABEL} were left behind"
    );
}

/// Runs the binary from the crate root with extra environment.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(EXE);
    cmd.args(args).current_dir(super::root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}
