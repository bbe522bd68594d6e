//! Simulated drills: an in-process staging world on a virtual clock.
//!
//! The world is a backend of the one drill loop ([`crate::drill::drive`]):
//! before each event the world runs traffic up to its time. Nothing
//! sleeps, so three simulated hours take milliseconds, and with one seeded
//! random stream the same plan always yields the same outcome. Running a
//! valid plan cannot fail: a broken rollback is an outcome.

pub mod traffic;
mod world;

use std::convert::Infallible;

use crate::drill::{self, Backend, Staging};
use crate::outcome::{DrillOutcome, Drilled};
use crate::scenario::Plan;

pub use world::World;

/// The simulated world as a backend of the drill loop: time is virtual,
/// so advancing runs the traffic up to it and never waits. The release's
/// regression and the faults act through the world's own hooks at their
/// times, so the loop's onset and fault events have nothing left to do.
struct Simulated<'p> {
    world: World<'p>,
    now: u64,
}

impl Backend for Simulated<'_> {
    type Error = Infallible;

    fn advance_to(&mut self, at: u64) -> Option<u64> {
        self.world.advance_to(at);
        self.now = at;
        Some(at)
    }

    fn now(&self) -> u64 {
        self.now
    }

    fn release_step(&mut self, now: u64, step: usize) -> Result<(), Infallible> {
        self.world.release_step(now, step);
        Ok(())
    }

    fn change_step(&mut self, now: u64, change: usize, step: usize) -> Result<(), Infallible> {
        self.world.change_step(now, change, step);
        Ok(())
    }

    fn onset(&mut self, _now: u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn fault_start(&mut self, _now: u64, _i: usize) -> Result<(), Infallible> {
        // The world's hooks apply every fault at its own time.
        Ok(())
    }

    fn fault_end(&mut self, _now: u64, _i: usize) -> Result<(), Infallible> {
        Ok(())
    }

    fn port(&mut self) -> &mut dyn Staging {
        &mut self.world
    }
}

/// The preflight alone: what the world says before any traffic.
pub fn preflight_only(plan: &Plan) -> DrillOutcome {
    let world = World::new(plan);
    DrillOutcome::new(
        plan,
        Drilled {
            preflight: drill::preflight(plan, &world),
            measured: world.measured(),
            not_run: Some("preflight only: the drill did not run"),
            ..Drilled::default()
        },
    )
}

/// Runs one drill to its end: verified, stuck, or out of time.
pub fn run(plan: &Plan) -> DrillOutcome {
    let world = World::new(plan);
    let preflight = drill::preflight(plan, &world);
    let mut sim = Simulated { world, now: 0 };
    let Ok(driven) = drill::drive(plan, &mut sim);
    sim.world.advance_to(driven.ended);
    DrillOutcome::new(
        plan,
        Drilled {
            record: driven.record,
            measured: sim.world.measured(),
            ended: driven.ended,
            preflight,
            ..Drilled::default()
        },
    )
}
