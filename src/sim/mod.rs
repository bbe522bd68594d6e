//! Simulated drills: an in-process staging world on a virtual clock.
//!
//! A discrete-event loop, not an async runtime: events (canary steps, the
//! procedure's wake-ups) sit in a queue ordered by time and insertion; before
//! each one the world runs traffic up to its time. Nothing sleeps, so three
//! simulated hours take milliseconds, and with one seeded random stream the
//! same plan always yields the same outcome. Running a valid plan cannot
//! fail: a broken rollback is an outcome.

pub mod registry;
pub mod traffic;
mod world;

use crate::drill::{self, Agenda, Procedure, Wake};
use crate::outcome::DrillOutcome;
use crate::scenario::Plan;

pub use world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    ReleaseStep(usize),
    Procedure(Wake),
}

/// The preflight alone: what the world says before any traffic.
pub fn preflight_only(plan: &Plan) -> DrillOutcome {
    let world = World::new(plan);
    let findings = drill::preflight(plan, &world);
    DrillOutcome::not_run(plan, findings, world.measured())
}

/// Runs one drill to its end: verified, stuck, or out of time.
pub fn run(plan: &Plan) -> DrillOutcome {
    let mut world = World::new(plan);
    let preflight = drill::preflight(plan, &world);
    let mut procedure = Procedure::new(plan);
    let mut agenda = Agenda::default();
    for (i, (offset, _)) in plan.release.schedule.iter().enumerate() {
        agenda.push(plan.release.at.0 + offset.0, Event::ReleaseStep(i));
    }
    let (at, wake) = procedure.first_wake();
    agenda.push(at, Event::Procedure(wake));

    let end = plan.duration.0;
    let mut ended = end;
    while let Some((now, event)) = agenda.pop() {
        if now > end {
            break;
        }
        world.advance_to(now);
        match event {
            // Canary analysis halts promotion once a problem is detected.
            Event::ReleaseStep(i) if i > 0 && procedure.record().detected.is_some() => {
                procedure.note_promotion_halted(now, plan.release.schedule[i].1);
            }
            Event::ReleaseStep(i) => world.release_step(now, i),
            Event::Procedure(wake) => {
                for (at, next) in procedure.on_wake(now, wake, &mut world) {
                    agenda.push(at, Event::Procedure(next));
                }
            }
        }
        if procedure.is_done() {
            ended = now;
            break;
        }
    }
    world.advance_to(ended);
    let mut outcome = DrillOutcome::new(plan, procedure.into_record(), world.measured(), ended);
    outcome.preflight = preflight;
    outcome
}
