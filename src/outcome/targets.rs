//! Targets for the phases other than `restore` (SPEC section 9):
//! `targets.detect`, `targets.decide` and `targets.mitigate` (onset →
//! restored). Each one set holds its phase to it: a slower `detect` or
//! `decide` fails that check with the measured value and the limit, and
//! `mitigate` becomes a check of its own.

use super::{Check, CheckStatus, DrillOutcome, human};
use crate::scenario::Dur;

impl DrillOutcome {
    /// Tightens `detect` and `decide` by their targets and adds `mitigate`.
    pub(super) fn hold_phase_targets(&self, checks: &mut Vec<Check>) {
        let d = self.durations();
        for (name, measured, target) in [
            ("detect", d.detect, self.targets.detect),
            ("decide", d.decide, self.targets.decide),
        ] {
            let (Some(target), Some(took)) = (target, measured) else {
                continue;
            };
            let Some(check) = checks.iter_mut().find(|c| c.name == name) else {
                continue;
            };
            if took > target.secs_f64() {
                let earlier = if check.status == CheckStatus::Failed {
                    format!("; {}", check.message)
                } else {
                    String::new()
                };
                *check = Check::new(
                    name,
                    CheckStatus::Failed,
                    Some(took),
                    Some(target.secs_f64()),
                    format!("{name} took {}, target {target}{earlier}", human(took)),
                );
            } else if check.status == CheckStatus::Passed {
                check.limit_s = Some(target.secs_f64());
                check.message = format!("{}, target {target}", check.message);
            }
        }
        if let Some(target) = self.targets.mitigate {
            checks.push(self.check_mitigate(target));
        }
    }

    fn check_mitigate(&self, target: Dur) -> Check {
        let limit = Some(target.secs_f64());
        match self.durations().mitigate {
            Some(took) => Check::new(
                "mitigate",
                if took <= target.secs_f64() {
                    CheckStatus::Passed
                } else {
                    CheckStatus::Failed
                },
                Some(took),
                limit,
                format!("mitigate took {}, target {target}", human(took)),
            ),
            None if self.record.detected.is_none() && !self.expect.rollback_expected() => {
                Check::skipped("mitigate", "no regression to mitigate")
            }
            None => Check::new(
                "mitigate",
                CheckStatus::Failed,
                None,
                limit,
                format!(
                    "never mitigated: users were still on the bad version at the end, target {target}"
                ),
            ),
        }
    }
}
