//! The one drill loop, whatever the backend.
//!
//! A drill is a timeline of events: the release's canary steps, the
//! regression's onset, the start and end of each fault, and the
//! procedure's own wake-ups. [`drive`] pops them in time order, lets the
//! backend bring its world to that time (running simulated traffic, or
//! waiting on the wall clock), and hands each event to the backend or the
//! procedure. It never asks which backend it has: the simulated world, a
//! registry server over HTTP, a container, or a team's staging all supply
//! the same [`Backend`].

use std::collections::BTreeSet;

use crate::scenario::Plan;

use super::{Agenda, Procedure, Record, Staging, Wake};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    ReleaseStep(usize),
    Onset,
    /// Canary step of change `.0` of a release set (0 is the release).
    ChangeStep(usize, usize),
    ChangeOnset(usize),
    FaultStart(usize),
    FaultEnd(usize),
    Procedure(Wake),
}

/// What a backend supplies to the drill loop: a clock, the harness's own
/// moves in the staging world (the release, the regression, the faults),
/// and the port the procedure reads and changes it through. Times are
/// scenario milliseconds since the drill started.
pub trait Backend {
    type Error;

    /// Brings the world to `at` (simulated traffic runs up to it; a live
    /// backend waits for it on the wall clock) and says what time it is
    /// now (at least `at`), or `None` when the drill was interrupted.
    fn advance_to(&mut self, at: u64) -> Option<u64>;
    /// The time now, without waiting.
    fn now(&self) -> u64;
    /// The deployer ships canary step `step` of the release.
    fn release_step(&mut self, now: u64, step: usize) -> Result<(), Self::Error>;
    /// The regression starts: the release behaves badly from now on.
    fn onset(&mut self, now: u64) -> Result<(), Self::Error>;
    /// The deployer ships canary step `step` of change `change` (1 or
    /// later) of the plan's release set. Backends that cannot ship a set
    /// refuse a plan with one before the drill starts.
    fn change_step(&mut self, _now: u64, _change: usize, _step: usize) -> Result<(), Self::Error> {
        Ok(())
    }
    /// The regression of change `change` of the release set starts.
    fn change_onset(&mut self, _now: u64, _change: usize) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Fault `i` of the plan starts. Until a fault that holds the harness
    /// ends ([`crate::faults::holds_harness`]), the loop holds the
    /// deployer's canary steps (registry writes); the regression's onset
    /// keeps its time (a backend that cannot set it then, e.g. a paused
    /// container, sets it once it can).
    fn fault_start(&mut self, now: u64, i: usize) -> Result<(), Self::Error>;
    /// Fault `i` ends (only faults with a window end). A fault still in
    /// force when the drill ends is the backend's to end.
    fn fault_end(&mut self, now: u64, i: usize) -> Result<(), Self::Error>;
    /// What the procedure observes and changes.
    fn port(&mut self) -> &mut dyn Staging;
}

/// What the loop measured: the procedure's record and when the drill ended.
#[derive(Debug)]
pub struct Driven {
    pub record: Record,
    pub ended: u64,
    /// Ctrl-C (or SIGTERM) stopped the drill before it ended.
    pub interrupted: bool,
}

/// Runs one drill to its end: verified, stuck, out of time, or interrupted.
pub fn drive<B: Backend>(plan: &Plan, backend: &mut B) -> Result<Driven, B::Error> {
    let mut procedure = Procedure::new(plan);
    let mut agenda = Agenda::default();
    for (i, (offset, _)) in plan.release.schedule.iter().enumerate() {
        agenda.push(plan.release.at.0 + offset.0, Event::ReleaseStep(i));
    }
    agenda.push(plan.release.at.0 + plan.release.onset.0, Event::Onset);
    for (c, rel) in plan.releases().into_iter().enumerate().skip(1) {
        for (i, (offset, _)) in rel.schedule.iter().enumerate() {
            agenda.push(rel.at.0 + offset.0, Event::ChangeStep(c, i));
        }
        agenda.push(rel.at.0 + rel.onset.0, Event::ChangeOnset(c));
    }
    for (i, f) in plan.faults.iter().enumerate() {
        match f.window() {
            Some((from, to)) => {
                agenda.push(from, Event::FaultStart(i));
                agenda.push(to, Event::FaultEnd(i));
            }
            None => agenda.push(0, Event::FaultStart(i)),
        }
    }
    let (at, wake) = procedure.first_wake();
    agenda.push(at, Event::Procedure(wake));

    let end = plan.duration.0;
    let mut ended = end;
    let mut interrupted = false;
    // Faults in force that hold the harness's own calls.
    let mut holding = BTreeSet::new();
    while let Some((at, event)) = agenda.pop() {
        if at > end {
            break;
        }
        let Some(now) = backend.advance_to(at) else {
            interrupted = true;
            ended = backend.now();
            break;
        };
        // The deployer's writes wait while the registry takes no calls;
        // the regression's onset is the release's behaviour, not a
        // registry call, and keeps its time.
        let deployer = matches!(event, Event::ReleaseStep(_) | Event::ChangeStep(..));
        if deployer
            && let Some((kind, until)) = holding
                .iter()
                .filter_map(|&i: &usize| Some((plan.faults[i].kind(), plan.faults[i].window()?.1)))
                .max_by_key(|(_, to)| *to)
        {
            procedure.note_held(now, &held_step(plan, event), kind, until.max(at));
            agenda.push(until.max(at) + 1, event);
            continue;
        }
        match event {
            // Canary analysis halts promotion once a problem is detected.
            Event::ReleaseStep(i) if i > 0 && procedure.record().detected.is_some() => {
                procedure.note_promotion_halted(now, plan.release.schedule[i].1);
            }
            Event::ReleaseStep(i) => {
                backend.release_step(now, i)?;
                if i == 0 {
                    procedure.note_shipped(now);
                }
            }
            Event::Onset => backend.onset(now)?,
            // Nor are the set's remaining changes shipped.
            Event::ChangeStep(c, i) if procedure.record().detected.is_some() => {
                let rel = plan.releases()[c];
                procedure.note_change_halted(now, rel, rel.schedule[i].1);
            }
            Event::ChangeStep(c, i) => backend.change_step(now, c, i)?,
            Event::ChangeOnset(c) => backend.change_onset(now, c)?,
            Event::FaultStart(i) => {
                backend.fault_start(now, i)?;
                if crate::faults::holds_harness(plan.faults[i].kind()) {
                    holding.insert(i);
                }
            }
            Event::FaultEnd(i) => {
                holding.remove(&i);
                backend.fault_end(now, i)?;
            }
            Event::Procedure(wake) => {
                for (at, next) in procedure.on_wake(now, wake, backend.port()) {
                    agenda.push(at, Event::Procedure(next));
                }
            }
        }
        if procedure.is_done() {
            ended = backend.now();
            break;
        }
    }
    if !interrupted {
        procedure.judge_recovery(backend.now(), backend.port());
    }
    Ok(Driven {
        record: procedure.into_record(),
        ended,
        interrupted,
    })
}

/// A deployer's step in words, for the note that it was held.
fn held_step(plan: &Plan, event: Event) -> String {
    let pct = crate::scenario::Percent;
    match event {
        Event::ReleaseStep(i) => format!(
            "release of {} at {}",
            plan.release.version,
            pct(plan.release.schedule[i].1)
        ),
        Event::ChangeStep(c, i) => {
            let rel = plan.releases()[c];
            format!(
                "release of {} on {} at {}",
                rel.version,
                rel.route,
                pct(rel.schedule[i].1)
            )
        }
        _ => String::new(),
    }
}
