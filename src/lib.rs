//! rollback-drill: rehearse the rollback of an LLM-platform change.
//!
//! The data flow, top to bottom: a scenario file is loaded and validated
//! into a [`scenario::Plan`]; a drill runs the plan's procedure against a
//! staging world on a clock ([`sim`] for the simulated, virtual-clock
//! world); the run yields a [`outcome::DrillOutcome`] that holds only
//! measurements, from which checks, verdict and exit code are derived; the
//! [`report`] writers turn outcomes into bytes.

pub mod backend;
pub mod cli;
pub mod container;
pub mod drill;
pub mod faults;
pub mod history;
pub mod interrupt;
pub mod live;
pub mod metrics;
pub mod outcome;
pub mod registry;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod sim;
pub mod slo;
pub mod staged;
pub mod staging;
pub mod starter;
pub mod stats;
pub mod timeline;
