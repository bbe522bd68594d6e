//! What every fault spec says about itself: its kind, and the window the
//! drill loop schedules.

use super::plan::FaultSpec;

impl FaultSpec {
    pub fn kind(&self) -> super::vocab::FaultKind {
        use super::vocab::FaultKind as K;
        match self {
            FaultSpec::RegistryOutage { .. } => K::RegistryOutage,
            FaultSpec::RegistrySlow { .. } => K::RegistrySlow,
            FaultSpec::RetireTarget { .. } => K::RetireTarget,
            FaultSpec::RenameRoute { .. } => K::RenameRoute,
            FaultSpec::ConfigMismatch { .. } => K::ConfigMismatch,
            FaultSpec::StaleCache { .. } => K::StaleCache,
            FaultSpec::PartialPropagation { .. } => K::PartialPropagation,
            FaultSpec::MetricsLag { .. } => K::MetricsLag,
            FaultSpec::MetricsGap { .. } => K::MetricsGap,
            FaultSpec::PagerDown { .. } => K::PagerDown,
            FaultSpec::TargetAlsoBad { .. } => K::TargetAlsoBad,
            FaultSpec::RegistryFreeze { .. } => K::RegistryFreeze,
            FaultSpec::RegistryCrash { .. } => K::RegistryCrash,
            FaultSpec::NetworkPartition { .. } => K::NetworkPartition,
        }
    }
}

impl FaultSpec {
    /// When a fault with a window starts and ends, in scenario ms: the
    /// drill loop schedules both. Faults without one act for the whole
    /// drill (or from the moment they match, inside the world's hooks).
    pub fn window(&self) -> Option<(u64, u64)> {
        match *self {
            FaultSpec::RegistryOutage { at, for_ }
            | FaultSpec::RegistryFreeze { at, for_ }
            | FaultSpec::NetworkPartition { at, for_ }
            | FaultSpec::MetricsGap { at, for_ } => Some((at.0, at.0.saturating_add(for_.0))),
            FaultSpec::RegistryCrash { at, restart_after } => {
                Some((at.0, at.0.saturating_add(restart_after.0)))
            }
            _ => None,
        }
    }
}
