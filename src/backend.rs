//! The backends a drill can run on, by name, and what each can do.
//!
//! One loop ([`crate::drill::drive`]) runs every drill; a backend is where
//! its staging world lives. The name is recorded on every history line, so
//! `drift` compares a run only with earlier runs of the same backend.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Simulated: an in-process world on a virtual clock.
    #[default]
    InProcess,
    /// Live: a registry server over HTTP, on the wall clock.
    Http,
    /// Live: a registry server in a container of its own per drill.
    Container,
    /// Live: a team's own staging (`staging:` names it), on the wall clock.
    /// Chosen by the scenario, not by `--backend`.
    #[value(skip)]
    Staged,
}

impl BackendKind {
    pub const ALL: [BackendKind; 4] = [
        BackendKind::InProcess,
        BackendKind::Http,
        BackendKind::Container,
        BackendKind::Staged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::InProcess => "in-process",
            BackendKind::Http => "http",
            BackendKind::Container => "container",
            BackendKind::Staged => "staged",
        }
    }

    /// Whether drills on it run on the wall clock against real servers.
    pub fn is_live(self) -> bool {
        self != BackendKind::InProcess
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
