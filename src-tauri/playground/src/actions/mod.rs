//! The moves a newcomer makes from buttons: injection on a namespace (with a rollout
//! restart) and traffic weights between the versions of a service. Each action validates
//! its input before it writes anything and returns the YAML and kubectl commands it is
//! equivalent to, so the UI can show what was done to the cluster.

pub mod backup;
pub mod breaker;
pub mod client;
pub mod fault;
pub mod injection;
pub mod mtls;
pub mod policy;
pub mod reset;
pub mod route;
pub mod weights;

use crate::kube::apply::ApplyError;

/// Why an action was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// A weight is not a whole number from 0 to 100.
    #[error("the weight for {version} is {raw:?}: {reason}")]
    InvalidWeight {
        version: String,
        raw: String,
        reason: String,
    },
    /// A `version=weight` argument is not in that form.
    #[error("{arg:?} is not VERSION=WEIGHT (for example v1=60)")]
    BadWeightArgument { arg: String },
    /// The weights do not add up to 100.
    #[error("the weights add up to {sum}, not 100")]
    WeightSum { sum: i64 },
    /// The same version was given twice.
    #[error("{version} is given more than once")]
    DuplicateVersion { version: String },
    /// The Service does not exist.
    #[error("there is no Service {service} in namespace {namespace}")]
    UnknownService { service: String, namespace: String },
    /// The namespace does not exist.
    #[error("there is no namespace {namespace}")]
    UnknownNamespace { namespace: String },
    /// The Service's pods carry no `version` label, so there is nothing to split between.
    #[error(
        "the pods of {service} have no version label, so there are no versions to split traffic between"
    )]
    NoVersions { service: String },
    /// A version named in the plan has no pods behind the Service.
    #[error("{service} has no version {version} (it has {known})")]
    UnknownVersion {
        service: String,
        version: String,
        known: String,
    },
    /// A version would get traffic but none of its pods is ready.
    #[error(
        "version {version} of {service} would get {weight}% of the traffic, but none of its pods is ready"
    )]
    NoReadyPods {
        service: String,
        version: String,
        weight: i64,
    },
    /// There is nothing to undo.
    #[error("there is no change to undo")]
    NothingToUndo,
    /// A percentage of requests is not a number from 0 to 100.
    #[error("{raw:?} is not a percentage from 0 to 100")]
    InvalidPercent { raw: String },
    /// A duration is not one Istio accepts, or is not positive.
    #[error("the {what} {raw:?} is not a positive duration: {reason}")]
    InvalidDuration {
        what: String,
        raw: String,
        reason: String,
    },
    /// An HTTP status outside 200-599.
    #[error("{status} is not an HTTP status an abort can return (200 to 599)")]
    InvalidHttpStatus { status: i64 },
    /// A header name or value that cannot be matched.
    #[error("the header {name:?} cannot be matched: {reason}")]
    InvalidHeader { name: String, reason: String },
    /// A retry condition Envoy does not know.
    #[error("{condition:?} is not a retry condition Envoy knows")]
    UnknownRetryCondition { condition: String },
    /// A count (attempts, connections, a percentage of hosts) out of range.
    #[error("{what} is {value}; it must be {bound}")]
    InvalidLimit {
        what: String,
        value: i64,
        bound: String,
    },
    /// The request asks for no change at all.
    #[error("nothing to change: {what}")]
    NothingToChange { what: String },
    /// No Deployment or pods carry this workload name.
    #[error("there is no workload {name} in namespace {namespace}")]
    UnknownWorkload { name: String, namespace: String },
    /// One write of a change was refused; the earlier ones were put back.
    #[error("{cause}; what had been written before was put back, so nothing changed")]
    ChangeRolledBack { cause: String },
    /// One write was refused and putting back the earlier ones failed too.
    #[error("{cause}; putting back what had been written failed too ({restore})")]
    ChangeRollbackFailed { cause: String, restore: String },
    /// A curl client pod did not start in time.
    #[error("the curl client in namespace {namespace} did not start within {waited_secs} s")]
    ClientNotReady { namespace: String, waited_secs: u64 },
    /// Reading from the cluster failed.
    #[error("reading {what} failed: {source}")]
    Read {
        what: String,
        #[source]
        source: ::kube::Error,
    },
    /// Writing to the cluster failed (nothing else was changed, or it was put back).
    #[error("{what} failed: {source}")]
    Write {
        what: String,
        #[source]
        source: ::kube::Error,
    },
    /// Applying an object failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The VirtualService could not be applied; the DestinationRule was put back as it was.
    #[error(
        "the VirtualService was refused ({cause}); the DestinationRule was put back as it was, so routing is unchanged"
    )]
    RolledBack { cause: String },
    /// The VirtualService failed and putting the DestinationRule back failed too.
    #[error(
        "the VirtualService was refused ({cause}) and restoring the DestinationRule failed too ({restore})"
    )]
    RollbackFailed { cause: String, restore: String },
}

impl ActionError {
    /// Stable identifier for scripts and the UI.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            ActionError::InvalidWeight { .. } => crate::ErrorCode::InvalidWeight,
            ActionError::BadWeightArgument { .. } => crate::ErrorCode::InvalidWeight,
            ActionError::WeightSum { .. } => crate::ErrorCode::WeightsSum,
            ActionError::DuplicateVersion { .. } => crate::ErrorCode::InvalidWeight,
            ActionError::UnknownService { .. } => crate::ErrorCode::UnknownService,
            ActionError::UnknownNamespace { .. } => crate::ErrorCode::UnknownNamespace,
            ActionError::NoVersions { .. } => crate::ErrorCode::NoVersions,
            ActionError::UnknownVersion { .. } => crate::ErrorCode::UnknownVersion,
            ActionError::NoReadyPods { .. } => crate::ErrorCode::NoReadyPods,
            ActionError::NothingToUndo => crate::ErrorCode::NothingToUndo,
            ActionError::Read { .. } => crate::ErrorCode::Kube,
            ActionError::Write { .. } => crate::ErrorCode::Kube,
            ActionError::Apply(e) => e.code(),
            ActionError::RolledBack { .. } => crate::ErrorCode::ApplyRolledBack,
            ActionError::RollbackFailed { .. } => crate::ErrorCode::RollbackFailed,
            ActionError::InvalidPercent { .. } => crate::ErrorCode::InvalidPercent,
            ActionError::InvalidDuration { .. } => crate::ErrorCode::InvalidDuration,
            ActionError::InvalidHttpStatus { .. } => crate::ErrorCode::InvalidHttpStatus,
            ActionError::InvalidHeader { .. } => crate::ErrorCode::InvalidHeader,
            ActionError::UnknownRetryCondition { .. } => crate::ErrorCode::UnknownRetryCondition,
            ActionError::InvalidLimit { .. } => crate::ErrorCode::InvalidLimit,
            ActionError::NothingToChange { .. } => crate::ErrorCode::NothingToChange,
            ActionError::UnknownWorkload { .. } => crate::ErrorCode::UnknownWorkload,
            ActionError::ChangeRolledBack { .. } => crate::ErrorCode::ApplyRolledBack,
            ActionError::ChangeRollbackFailed { .. } => crate::ErrorCode::RollbackFailed,
            ActionError::ClientNotReady { .. } => crate::ErrorCode::NotReady,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ActionError::InvalidWeight { .. } | ActionError::BadWeightArgument { .. } => {
                "Give each version a whole number from 0 to 100, like v1=60 v2=30 v3=10.".into()
            }
            ActionError::WeightSum { sum } => format!(
                "Every request must go somewhere: change the weights by {} so they add up to 100.",
                100 - sum
            ),
            ActionError::DuplicateVersion { .. } => "Name each version once.".into(),
            ActionError::UnknownService { .. } => {
                "Check the name and the namespace (-n); the Mesh screen lists every Service.".into()
            }
            ActionError::UnknownNamespace { .. } => {
                "Check the name; the Mesh screen lists every namespace.".into()
            }
            ActionError::NoVersions { .. } => {
                "Weights split traffic between versions; pick a service with several versions, such as reviews.".into()
            }
            ActionError::UnknownVersion { known, .. } => {
                format!("Use one of the versions that exist: {known}.")
            }
            ActionError::NoReadyPods { version, .. } => format!(
                "Give {version} a weight of 0, or wait until its pods are ready (see the Mesh screen)."
            ),
            ActionError::NothingToUndo => {
                "Apply a change first (weights, routing, a fault, a timeout...).".into()
            }
            ActionError::InvalidPercent { .. } => {
                "Give a number from 0 to 100, like 50 or 12.5.".into()
            }
            ActionError::InvalidDuration { .. } => {
                "Write a duration with its unit, like 7s, 0.5s, 100ms or 3m.".into()
            }
            ActionError::InvalidHttpStatus { .. } => {
                "Use a status such as 500 (server error) or 503 (unavailable).".into()
            }
            ActionError::InvalidHeader { .. } => {
                "Header names are one word of letters, digits and - (like end-user); values are one line of text.".into()
            }
            ActionError::UnknownRetryCondition { .. } => format!(
                "Use Envoy's conditions, separated by commas: {}, or a status code such as 503.",
                policy::RETRY_ON.join(", ")
            ),
            ActionError::InvalidLimit { what, bound, .. } => {
                format!("Give a {what} that is {bound}.")
            }
            ActionError::NothingToChange { .. } => {
                "Give at least one setting, or --clear to remove them.".into()
            }
            ActionError::UnknownWorkload { .. } => {
                "Name a Deployment (like reviews-v2) or an app label (like reviews); the Mesh screen lists them.".into()
            }
            ActionError::ChangeRolledBack { .. } => {
                "Nothing was changed. Check that Istio is installed (its kinds), then try again.".into()
            }
            ActionError::ChangeRollbackFailed { .. } => {
                "Look at the objects on the Mesh screen; Undo, or use Reset routing.".into()
            }
            ActionError::ClientNotReady { namespace, .. } => format!(
                "Its image ({}) may still be downloading: try again in a minute, or look at `kubectl get pods -n {namespace}`.",
                client::CLIENT_IMAGE
            ),
            ActionError::Read { .. } | ActionError::Write { .. } => {
                "Check that the playground cluster is running (Setup screen), then try again.".into()
            }
            ActionError::Apply(e) => return e.hint(),
            ActionError::RolledBack { .. } => {
                "Nothing was changed. Check that Istio is installed (its VirtualService kind), then try again.".into()
            }
            ActionError::RollbackFailed { .. } => {
                "Look at the reviews DestinationRule on the Mesh screen; Undo, or apply the weights again.".into()
            }
        })
    }
}

/// The shell-quoted form of one argument, for the kubectl commands we show.
/// An RFC 1123 label, as Kubernetes names namespaces and Services: lower-case letters,
/// digits and dashes, not at either end, at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
