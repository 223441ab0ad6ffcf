//! The domain crate's one error type. Every variant knows a stable machine code and, where we
//! can tell the user what to do, a hint. The shell turns this into the IPC error shape.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Anything the playground can fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Docker engine could not be reached or answered with an error.
    #[error("Docker is not reachable: {0}")]
    DockerUnreachable(String),
    /// A file or directory of the app's own could not be read or written.
    #[error("could not use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The chosen kubeconfig or context cannot be used.
    #[error("cluster target is not usable: {0}")]
    ClusterTarget(String),
    /// The user gave input the playground refuses before touching anything.
    #[error("{0}")]
    InvalidInput(String),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] ::kube::Error),
    /// Logging could not be set up.
    #[error("logging could not start: {0}")]
    Logging(String),
    /// Applying YAML to the cluster failed.
    #[error(transparent)]
    Apply(#[from] crate::kube::apply::ApplyError),
    /// A setup or teardown step failed.
    #[error(transparent)]
    Provision(#[from] crate::provision::Error),
    /// An action (weights, injection) was refused or failed.
    #[error(transparent)]
    Action(#[from] crate::actions::ActionError),
    /// The traffic generator could not run.
    #[error(transparent)]
    Traffic(#[from] crate::traffic::TrafficError),
    /// A dashboard could not be opened.
    #[error(transparent)]
    Dashboard(#[from] crate::dashboards::DashboardError),
    /// Traffic figures could not be read from Istio's metrics.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// A lesson file does not fit, or names a lesson or step that does not exist.
    #[error(transparent)]
    Lesson(crate::lessons::LessonError),
}

impl Error {
    /// Stable identifier for scripts and the UI; never reworded once released.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::DockerUnreachable(_) => ErrorCode::DockerUnreachable,
            Error::Io { .. } => ErrorCode::Io,
            Error::ClusterTarget(_) => ErrorCode::ClusterTarget,
            Error::InvalidInput(_) => ErrorCode::InvalidInput,
            Error::Kube(_) => ErrorCode::Kube,
            Error::Logging(_) => ErrorCode::Logging,
            Error::Apply(e) => e.code(),
            Error::Provision(e) => e.code(),
            Error::Action(e) => e.code(),
            Error::Traffic(e) => e.code(),
            Error::Dashboard(e) => e.code(),
            Error::Telemetry(e) => e.code(),
            Error::Lesson(e) => e.code(),
        }
    }

    /// What the user can do about it, in one sentence, when we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::DockerUnreachable(_) => Some(crate::preflight::docker::start_docker_hint()),
            Error::Io { path, .. } => Some(format!(
                "Check that {} exists and that you may write to it.",
                path.display()
            )),
            Error::ClusterTarget(_) => Some(
                "Set up the playground first, or pass --kubeconfig FILE and --context NAME to choose a cluster explicitly."
                    .into(),
            ),
            Error::InvalidInput(_) => None,
            Error::Kube(_) => Some("Check that the playground cluster is running (Setup screen).".into()),
            Error::Logging(_) => None,
            Error::Apply(e) => e.hint(),
            Error::Provision(e) => e.hint(),
            Error::Action(e) => e.hint(),
            Error::Traffic(e) => e.hint(),
            Error::Dashboard(e) => e.hint(),
            Error::Telemetry(e) => e.hint(),
            Error::Lesson(e) => e.hint(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The simulated cluster failing to start is a cluster-target problem to the user, except for
/// its kubeconfig, which is a file of the app's own.
impl From<playground_sim::Error> for Error {
    fn from(e: playground_sim::Error) -> Self {
        match e {
            playground_sim::Error::Kubeconfig { path, source } => Error::Io { path, source },
            other => Error::ClusterTarget(other.to_string()),
        }
    }
}

/// Every machine-readable error code the app reports, in one place: the window compares
/// them (generated into `ui/src/lib/generated/ErrorCode.ts`), scripts read them from the CLI's
/// log, and `StepFailure` carries them. The strings are stable: a variant may be added, never
/// renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    // The crate's own errors.
    DockerUnreachable,
    Io,
    ClusterTarget,
    InvalidInput,
    Kube,
    Logging,
    // Applying YAML.
    ApplyParse,
    ApplyUnknownKind,
    ApplyRefused,
    ApplyCrdNotEstablished,
    // Setup and teardown steps.
    Cancelled,
    UnsupportedPlatform,
    DownloadFailed,
    DownloadTruncated,
    ChecksumMismatch,
    ChecksumFile,
    Archive,
    ToolStart,
    ToolFailed,
    ToolTimeout,
    Docker,
    DockerNetwork,
    NotReady,
    Verify,
    TeardownIncomplete,
    Precondition,
    AlreadyRunning,
    // Weights and injection.
    InvalidWeight,
    WeightsSum,
    UnknownService,
    UnknownNamespace,
    NoVersions,
    UnknownVersion,
    NoReadyPods,
    NothingToUndo,
    ApplyRolledBack,
    RollbackFailed,
    // Routing, faults, timeouts, retries, circuit breaking, mTLS.
    InvalidPercent,
    InvalidDuration,
    InvalidHttpStatus,
    InvalidHeader,
    UnknownRetryCondition,
    InvalidLimit,
    NothingToChange,
    UnknownWorkload,
    // The traffic generator.
    TrafficRate,
    TrafficConcurrency,
    TrafficDuration,
    TrafficRunning,
    TrafficNotRunning,
    TrafficClient,
    TrafficTarget,
    TrafficNoAnswer,
    TrafficUser,
    TrafficUserShare,
    // Dashboards.
    DashboardNeedsRealCluster,
    DashboardNotInstalled,
    DashboardNotReady,
    DashboardBind,
    // Traffic figures from Istio's metrics.
    TelemetryMissing,
    TelemetryStarting,
    TelemetrySlow,
    TelemetryRefused,
    TelemetryCluster,
    TelemetryBadResponse,
    // Lessons.
    LessonInvalid,
    LessonUnknown,
    /// Never produced by the backend: the window's code for a rejection that did not come
    /// from a command's error (Tauri refusing the arguments, a script error), so every error
    /// the UI shows has a code of this type.
    Unknown,
}

impl ErrorCode {
    /// Every code, for the tests that the strings and the TypeScript type agree.
    pub const ALL: [ErrorCode; 68] = [
        ErrorCode::DockerUnreachable,
        ErrorCode::Io,
        ErrorCode::ClusterTarget,
        ErrorCode::InvalidInput,
        ErrorCode::Kube,
        ErrorCode::Logging,
        ErrorCode::ApplyParse,
        ErrorCode::ApplyUnknownKind,
        ErrorCode::ApplyRefused,
        ErrorCode::ApplyCrdNotEstablished,
        ErrorCode::Cancelled,
        ErrorCode::UnsupportedPlatform,
        ErrorCode::DownloadFailed,
        ErrorCode::DownloadTruncated,
        ErrorCode::ChecksumMismatch,
        ErrorCode::ChecksumFile,
        ErrorCode::Archive,
        ErrorCode::ToolStart,
        ErrorCode::ToolFailed,
        ErrorCode::ToolTimeout,
        ErrorCode::Docker,
        ErrorCode::DockerNetwork,
        ErrorCode::NotReady,
        ErrorCode::Verify,
        ErrorCode::TeardownIncomplete,
        ErrorCode::Precondition,
        ErrorCode::AlreadyRunning,
        ErrorCode::InvalidWeight,
        ErrorCode::WeightsSum,
        ErrorCode::UnknownService,
        ErrorCode::UnknownNamespace,
        ErrorCode::NoVersions,
        ErrorCode::UnknownVersion,
        ErrorCode::NoReadyPods,
        ErrorCode::NothingToUndo,
        ErrorCode::ApplyRolledBack,
        ErrorCode::RollbackFailed,
        ErrorCode::InvalidPercent,
        ErrorCode::InvalidDuration,
        ErrorCode::InvalidHttpStatus,
        ErrorCode::InvalidHeader,
        ErrorCode::UnknownRetryCondition,
        ErrorCode::InvalidLimit,
        ErrorCode::NothingToChange,
        ErrorCode::UnknownWorkload,
        ErrorCode::TrafficRate,
        ErrorCode::TrafficConcurrency,
        ErrorCode::TrafficDuration,
        ErrorCode::TrafficRunning,
        ErrorCode::TrafficNotRunning,
        ErrorCode::TrafficClient,
        ErrorCode::TrafficTarget,
        ErrorCode::TrafficNoAnswer,
        ErrorCode::TrafficUser,
        ErrorCode::TrafficUserShare,
        ErrorCode::DashboardNeedsRealCluster,
        ErrorCode::DashboardNotInstalled,
        ErrorCode::DashboardNotReady,
        ErrorCode::DashboardBind,
        ErrorCode::TelemetryMissing,
        ErrorCode::TelemetryStarting,
        ErrorCode::TelemetrySlow,
        ErrorCode::TelemetryRefused,
        ErrorCode::TelemetryCluster,
        ErrorCode::TelemetryBadResponse,
        ErrorCode::LessonInvalid,
        ErrorCode::LessonUnknown,
        ErrorCode::Unknown,
    ];

    /// The code as it travels: `docker_unreachable`, `nothing_to_undo`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::DockerUnreachable => "docker_unreachable",
            ErrorCode::Io => "io",
            ErrorCode::ClusterTarget => "cluster_target",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Kube => "kube",
            ErrorCode::Logging => "logging",
            ErrorCode::ApplyParse => "apply_parse",
            ErrorCode::ApplyUnknownKind => "apply_unknown_kind",
            ErrorCode::ApplyRefused => "apply_refused",
            ErrorCode::ApplyCrdNotEstablished => "apply_crd_not_established",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::UnsupportedPlatform => "unsupported_platform",
            ErrorCode::DownloadFailed => "download_failed",
            ErrorCode::DownloadTruncated => "download_truncated",
            ErrorCode::ChecksumMismatch => "checksum_mismatch",
            ErrorCode::ChecksumFile => "checksum_file",
            ErrorCode::Archive => "archive",
            ErrorCode::ToolStart => "tool_start",
            ErrorCode::ToolFailed => "tool_failed",
            ErrorCode::ToolTimeout => "tool_timeout",
            ErrorCode::Docker => "docker",
            ErrorCode::DockerNetwork => "docker_network",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Verify => "verify",
            ErrorCode::TeardownIncomplete => "teardown_incomplete",
            ErrorCode::Precondition => "precondition",
            ErrorCode::AlreadyRunning => "already_running",
            ErrorCode::InvalidWeight => "invalid_weight",
            ErrorCode::WeightsSum => "weights_sum",
            ErrorCode::UnknownService => "unknown_service",
            ErrorCode::UnknownNamespace => "unknown_namespace",
            ErrorCode::NoVersions => "no_versions",
            ErrorCode::UnknownVersion => "unknown_version",
            ErrorCode::NoReadyPods => "no_ready_pods",
            ErrorCode::NothingToUndo => "nothing_to_undo",
            ErrorCode::ApplyRolledBack => "apply_rolled_back",
            ErrorCode::RollbackFailed => "rollback_failed",
            ErrorCode::InvalidPercent => "invalid_percent",
            ErrorCode::InvalidDuration => "invalid_duration",
            ErrorCode::InvalidHttpStatus => "invalid_http_status",
            ErrorCode::InvalidHeader => "invalid_header",
            ErrorCode::UnknownRetryCondition => "unknown_retry_condition",
            ErrorCode::InvalidLimit => "invalid_limit",
            ErrorCode::NothingToChange => "nothing_to_change",
            ErrorCode::UnknownWorkload => "unknown_workload",
            ErrorCode::TrafficRate => "traffic_rate",
            ErrorCode::TrafficConcurrency => "traffic_concurrency",
            ErrorCode::TrafficDuration => "traffic_duration",
            ErrorCode::TrafficRunning => "traffic_running",
            ErrorCode::TrafficNotRunning => "traffic_not_running",
            ErrorCode::TrafficClient => "traffic_client",
            ErrorCode::TrafficTarget => "traffic_target",
            ErrorCode::TrafficNoAnswer => "traffic_no_answer",
            ErrorCode::TrafficUser => "traffic_user",
            ErrorCode::TrafficUserShare => "traffic_user_share",
            ErrorCode::DashboardNeedsRealCluster => "dashboard_needs_real_cluster",
            ErrorCode::DashboardNotInstalled => "dashboard_not_installed",
            ErrorCode::DashboardNotReady => "dashboard_not_ready",
            ErrorCode::DashboardBind => "dashboard_bind",
            ErrorCode::TelemetryMissing => "telemetry_missing",
            ErrorCode::TelemetryStarting => "telemetry_starting",
            ErrorCode::TelemetrySlow => "telemetry_slow",
            ErrorCode::TelemetryRefused => "telemetry_refused",
            ErrorCode::TelemetryCluster => "telemetry_cluster",
            ErrorCode::TelemetryBadResponse => "telemetry_bad_response",
            ErrorCode::LessonInvalid => "lesson_invalid",
            ErrorCode::LessonUnknown => "lesson_unknown",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So a test or a script can still say `err.code() == "cancelled"`.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<ErrorCode> for String {
    fn from(code: ErrorCode) -> Self {
        code.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_travels_as_its_string_and_the_typescript_type_lists_them_all() {
        let decl = ErrorCode::decl(&ts_rs::Config::default());
        let in_ts: std::collections::BTreeSet<&str> = decl.split('"').skip(1).step_by(2).collect();
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::json!(code.as_str()), "{code:?}");
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
            assert!(
                in_ts.contains(code.as_str()),
                "{code:?} missing from {decl}"
            );
            assert!(seen.insert(code.as_str()), "{code:?} listed twice");
        }
        // The TypeScript union is made from the enum itself: same size means ALL misses none.
        assert_eq!(in_ts.len(), ErrorCode::ALL.len(), "{decl}");
    }

    #[test]
    fn the_strings_released_before_the_enum_are_unchanged() {
        for (code, text) in [
            (ErrorCode::DockerUnreachable, "docker_unreachable"),
            (ErrorCode::ClusterTarget, "cluster_target"),
            (ErrorCode::InvalidInput, "invalid_input"),
            (ErrorCode::NothingToUndo, "nothing_to_undo"),
            (
                ErrorCode::ApplyCrdNotEstablished,
                "apply_crd_not_established",
            ),
            (
                ErrorCode::DashboardNeedsRealCluster,
                "dashboard_needs_real_cluster",
            ),
            (ErrorCode::TrafficRunning, "traffic_running"),
            (ErrorCode::DownloadFailed, "download_failed"),
        ] {
            assert_eq!(code, text);
            assert_eq!(code.to_string(), text);
        }
        let err = Error::from(crate::actions::ActionError::NothingToUndo);
        assert_eq!(err.code(), ErrorCode::NothingToUndo);
    }
}
