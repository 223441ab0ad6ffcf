//! The domain crate's one error type. Every variant knows a stable machine code and, where we
//! can tell the user what to do, a hint. The shell turns this into the IPC error shape.

use std::path::PathBuf;

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
}

impl Error {
    /// Stable identifier for scripts and the UI; never reworded once released.
    pub fn code(&self) -> &'static str {
        match self {
            Error::DockerUnreachable(_) => "docker_unreachable",
            Error::Io { .. } => "io",
            Error::ClusterTarget(_) => "cluster_target",
            Error::InvalidInput(_) => "invalid_input",
            Error::Kube(_) => "kube",
            Error::Logging(_) => "logging",
            Error::Apply(e) => e.code(),
            Error::Provision(e) => e.code(),
            Error::Action(e) => e.code(),
            Error::Traffic(e) => e.code(),
            Error::Dashboard(e) => e.code(),
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
