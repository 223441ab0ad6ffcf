//! What a setup or teardown step can fail at, each with what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// A failed provisioning step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user pressed Cancel (or the window closed).
    #[error("cancelled")]
    Cancelled,
    /// kind or istioctl is not released for this OS and CPU.
    #[error("{tool} is not available for {platform}")]
    UnsupportedPlatform {
        tool: &'static str,
        platform: String,
    },
    /// A download could not be made (no network, HTTP error).
    #[error("downloading {url} failed: {reason}")]
    Download { url: String, reason: String },
    /// The server closed the connection before the whole file arrived.
    #[error("the download of {url} stopped after {received} of {expected} bytes")]
    Truncated {
        url: String,
        received: u64,
        expected: u64,
    },
    /// The file does not match the release's published SHA-256.
    #[error(
        "{file} does not match its published checksum (expected {expected}, got {actual}); it was deleted"
    )]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    /// The checksum file is not in the release's format.
    #[error("the checksum file {url} does not hold a SHA-256 for {file}")]
    BadChecksumFile { url: String, file: String },
    /// A downloaded archive could not be unpacked or lacks a file the playground needs.
    #[error("the archive {archive} is unusable: {reason}")]
    Archive { archive: PathBuf, reason: String },
    /// A command-line tool could not be started.
    #[error("{tool} could not be started ({program}): {reason}")]
    ToolStart {
        tool: &'static str,
        program: PathBuf,
        reason: String,
    },
    /// A command-line tool exited with an error.
    #[error("`{command}` failed (exit {exit}): {last_lines}")]
    ToolFailed {
        tool: &'static str,
        command: String,
        exit: String,
        last_lines: String,
        hint: String,
    },
    /// A command-line tool did not finish in time and was stopped.
    #[error("`{command}` did not finish within {} and was stopped", human(*.after))]
    ToolTimeout {
        tool: &'static str,
        command: String,
        after: Duration,
        hint: String,
    },
    /// Docker answered with an error, or the node containers are not what kind left.
    #[error("Docker: {0}")]
    Docker(String),
    /// The kind Docker network is missing or has no IPv4 subnet MetalLB can use.
    #[error("the `{network}` Docker network {reason}")]
    Network { network: String, reason: String },
    /// Something in the cluster did not become ready in time.
    #[error("{what} did not become ready within {}: {detail}", human(*.after))]
    NotReady {
        what: String,
        after: Duration,
        detail: String,
        hint: String,
    },
    /// A Kubernetes call made by a step failed.
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: ::kube::Error,
    },
    /// The product page did not answer as expected.
    #[error("{url} {reason}")]
    Verify { url: String, reason: String },
    /// The cluster is still there after `kind delete cluster`.
    #[error("the cluster is still there after deleting it: {0}")]
    TeardownIncomplete(String),
    /// The step needs something an earlier step provides.
    #[error("{0}")]
    Precondition(String),
    /// Starting a second setup while one runs.
    #[error("a setup or teardown is already running")]
    AlreadyRunning,
}

impl Error {
    /// Stable identifier for scripts and the UI.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            Error::Cancelled => crate::ErrorCode::Cancelled,
            Error::UnsupportedPlatform { .. } => crate::ErrorCode::UnsupportedPlatform,
            Error::Download { .. } => crate::ErrorCode::DownloadFailed,
            Error::Truncated { .. } => crate::ErrorCode::DownloadTruncated,
            Error::ChecksumMismatch { .. } => crate::ErrorCode::ChecksumMismatch,
            Error::BadChecksumFile { .. } => crate::ErrorCode::ChecksumFile,
            Error::Archive { .. } => crate::ErrorCode::Archive,
            Error::ToolStart { .. } => crate::ErrorCode::ToolStart,
            Error::ToolFailed { .. } => crate::ErrorCode::ToolFailed,
            Error::ToolTimeout { .. } => crate::ErrorCode::ToolTimeout,
            Error::Docker(_) => crate::ErrorCode::Docker,
            Error::Network { .. } => crate::ErrorCode::DockerNetwork,
            Error::NotReady { .. } => crate::ErrorCode::NotReady,
            Error::Kube { .. } => crate::ErrorCode::Kube,
            Error::Verify { .. } => crate::ErrorCode::Verify,
            Error::TeardownIncomplete(_) => crate::ErrorCode::TeardownIncomplete,
            Error::Precondition(_) => crate::ErrorCode::Precondition,
            Error::AlreadyRunning => crate::ErrorCode::AlreadyRunning,
        }
    }

    /// What the user should do, in a sentence.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Cancelled => "Press \"Set up\" to continue where it stopped.".into(),
            Error::UnsupportedPlatform { tool, .. } => format!(
                "Install {tool} yourself (a build for your computer) and put it on your PATH; the playground uses it when its version fits."
            ),
            Error::Download { .. } => "Check your internet connection (and proxy), then press \"Set up\" again: it continues with this download.".into(),
            Error::Truncated { .. } => "The connection dropped; the partial file was deleted. Press \"Set up\" again to download it again.".into(),
            Error::ChecksumMismatch { .. } => "The file was changed on the way (a proxy or a broken mirror); nothing was installed. Press \"Set up\" again, or try another network.".into(),
            Error::BadChecksumFile { .. } => "The release site answered with something unexpected (a captive portal?). Check the network, then press \"Set up\" again.".into(),
            Error::Archive { archive, .. } => format!(
                "Delete {} and press \"Set up\" again to download it again.",
                archive.display()
            ),
            Error::ToolStart { program, .. } => format!(
                "Check that {} exists and may be run; delete it to have the playground download it again.",
                program.display()
            ),
            Error::ToolFailed { hint, .. }
            | Error::ToolTimeout { hint, .. }
            | Error::NotReady { hint, .. } => hint.clone(),
            Error::Docker(_) => crate::preflight::docker::start_docker_hint(),
            Error::Network { .. } => "Create the cluster first (the Cluster step creates the `kind` network), then press \"Set up\" again.".into(),
            Error::Kube { .. } => "Check that the playground cluster runs: `docker ps` should list istio-playground-control-plane. Press \"Set up\" again to continue.".into(),
            Error::Verify { .. } => "Wait a minute and press \"Set up\" again. If it keeps failing, check that nothing else uses port 9080 and look at the istio-ingressgateway pod in the log.".into(),
            Error::TeardownIncomplete(_) => "Press \"Tear down\" again; if it stays, remove the containers with `docker rm -f istio-playground-control-plane`.".into(),
            Error::Precondition(_) => "Press \"Set up\" again: it runs the earlier steps first.".into(),
            Error::AlreadyRunning => "Wait for it to finish, or press Cancel.".into(),
        })
    }
}

/// "90 s", "5 min", "2 min 30 s".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 1 {
        format!("{} ms", d.as_millis())
    } else if s < 120 {
        format!("{s} s")
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_secs(90)), "90 s");
        assert_eq!(human(Duration::from_secs(300)), "5 min");
        assert_eq!(human(Duration::from_secs(150)), "2 min 30 s");
    }

    #[test]
    fn every_error_has_a_code_and_a_hint() {
        let all = [
            Error::Cancelled,
            Error::Download {
                url: "u".into(),
                reason: "r".into(),
            },
            Error::Truncated {
                url: "u".into(),
                received: 1,
                expected: 2,
            },
            Error::ChecksumMismatch {
                file: "f".into(),
                expected: "a".into(),
                actual: "b".into(),
            },
            Error::Docker("x".into()),
            Error::TeardownIncomplete("x".into()),
        ];
        for e in all {
            assert!(!e.code().as_str().is_empty());
            assert!(e.hint().is_some_and(|h| h.len() > 10), "{e}");
        }
    }
}
