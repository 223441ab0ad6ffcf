//! The moves a newcomer makes from buttons: injection on a namespace (with a rollout
//! restart) and traffic weights between the versions of a service. Each action validates
//! its input before it writes anything and returns the YAML and kubectl commands it is
//! equivalent to, so the UI can show what was done to the cluster.

pub mod injection;
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
    #[error("there is no weight change to undo")]
    NothingToUndo,
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
            ActionError::NothingToUndo => "Apply some weights first.".into(),
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
