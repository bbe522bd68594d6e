//! The closed vocabularies of scenario files, one enum each.
//!
//! They are externally tagged and spelled in snake_case exactly as SPEC.md
//! writes them; an unknown word is an error with a "did you mean" hint.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<$name, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("`{s}` is not one of {}", names.join(", "))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What kind of change is released and must be rolled back.
    ChangeType {
        Prompt => "prompt",
        Model => "model",
        AgentCode => "agent_code",
        Eval => "eval",
        Data => "data",
    }
}

vocabulary! {
    /// What a responder may roll back: a change type, or `coordinated`
    /// (a rollback that touches more than one route).
    Authority {
        Prompt => "prompt",
        Model => "model",
        AgentCode => "agent_code",
        Eval => "eval",
        Data => "data",
        Coordinated => "coordinated",
    }
}

vocabulary! {
    /// Which routes of a coordinated release roll back: all of them, or
    /// each whose own trigger fires.
    RollbackScope {
        Together => "together",
        PerRoute => "per_route",
    }
}

vocabulary! {
    /// What happens when one route of a coordinated rollback cannot be
    /// rolled back: the others stay rolled back, or go forward again.
    OnPartial {
        Stay => "stay",
        RollAllForward => "roll_all_forward",
    }
}

impl Authority {
    /// The change type this authority covers (`coordinated` covers none).
    pub fn change_type(self) -> Option<ChangeType> {
        match self {
            Authority::Prompt => Some(ChangeType::Prompt),
            Authority::Model => Some(ChangeType::Model),
            Authority::AgentCode => Some(ChangeType::AgentCode),
            Authority::Eval => Some(ChangeType::Eval),
            Authority::Data => Some(ChangeType::Data),
            Authority::Coordinated => None,
        }
    }
}

vocabulary! {
    /// How the `execute` step rolls back.
    Mechanism {
        RouteWeight => "route_weight",
        AliasRemap => "alias_remap",
        Gradual => "gradual",
        Redeploy => "redeploy",
        RevertSet => "revert_set",
        RestoreData => "restore_data",
    }
}

vocabulary! {
    /// What a firing trigger does.
    Action {
        AutoRollback => "auto_rollback",
        Page => "page",
        Alert => "alert",
        Observe => "observe",
    }
}

vocabulary! {
    Severity {
        Critical => "critical",
        High => "high",
        Medium => "medium",
        Low => "low",
    }
}

vocabulary! {
    /// A metric a trigger watches on the released version.
    TriggerMetric {
        ErrorRate => "error_rate",
        QualityDrop => "quality_drop",
        LatencyP99Increase => "latency_p99_increase",
    }
}

vocabulary! {
    /// A metric the `verify` step (and `abort_if`) reads on the route: the
    /// four absolute ones, and the two relative to the baseline.
    VerifyMetric {
        ErrorRate => "error_rate",
        Quality => "quality",
        LatencyP50 => "latency_p50",
        LatencyP99 => "latency_p99",
        QualityDrop => "quality_drop",
        LatencyP99Increase => "latency_p99_increase",
    }
}

vocabulary! {
    /// What a responder decides once it has looked.
    Decision {
        Rollback => "rollback",
        Investigate => "investigate",
        RollForward => "roll_forward",
    }
}

vocabulary! {
    Verdict {
        Pass => "pass",
        Fail => "fail",
    }
}

vocabulary! {
    /// Faults on the rollback path (SPEC section 5).
    FaultKind {
        RegistryOutage => "registry_outage",
        RegistrySlow => "registry_slow",
        RetireTarget => "retire_target",
        RenameRoute => "rename_route",
        ConfigMismatch => "config_mismatch",
        StaleCache => "stale_cache",
        PartialPropagation => "partial_propagation",
        MetricsLag => "metrics_lag",
        MetricsGap => "metrics_gap",
        PagerDown => "pager_down",
        TargetAlsoBad => "target_also_bad",
        RegistryFreeze => "registry_freeze",
        RegistryCrash => "registry_crash",
        NetworkPartition => "network_partition",
    }
}

vocabulary! {
    /// What a finding is about; a team fixes each kind differently.
    FindingKind {
        RegistryUnavailable => "registry_unavailable",
        TargetRetired => "target_retired",
        RouteMoved => "route_moved",
        ConfigMismatch => "config_mismatch",
        PartialRollback => "partial_rollback",
        MetricsMissing => "metrics_missing",
        PagerUnavailable => "pager_unavailable",
        TargetUnhealthy => "target_unhealthy",
        ProblemNotConfirmed => "problem_not_confirmed",
        NoRollbackTarget => "no_rollback_target",
        NoDecision => "no_decision",
        PathDiverged => "path_diverged",
    }
}

impl ChangeType {
    /// "a" or "an", as English has it before the change type's name.
    pub fn article(self) -> &'static str {
        match self {
            ChangeType::AgentCode | ChangeType::Eval => "an",
            _ => "a",
        }
    }

    /// SPEC section 4: the default restore target of each change type.
    pub fn default_restore_target(self) -> crate::scenario::Dur {
        use crate::scenario::Dur;
        match self {
            ChangeType::Prompt => Dur::from_mins(5),
            ChangeType::Model => Dur::from_mins(10),
            ChangeType::AgentCode => Dur::from_mins(30),
            ChangeType::Eval => Dur::from_mins(15),
            ChangeType::Data => Dur::from_mins(240),
        }
    }
}

/// An `http` step's method, written in capitals as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
        }
    }
}

impl TriggerMetric {
    /// The version metric a trigger is computed from.
    pub fn underlying(self) -> VerifyMetric {
        match self {
            TriggerMetric::ErrorRate => VerifyMetric::ErrorRate,
            TriggerMetric::QualityDrop => VerifyMetric::Quality,
            TriggerMetric::LatencyP99Increase => VerifyMetric::LatencyP99,
        }
    }
}

vocabulary! {
    /// Where the drilled route lives (SPEC section 8): the built-in
    /// registry, or a team's own system.
    StagingKind {
        Builtin => "builtin",
        Mlflow => "mlflow",
        Litellm => "litellm",
        AliasFile => "alias_file",
        FlagFile => "flag_file",
    }
}
