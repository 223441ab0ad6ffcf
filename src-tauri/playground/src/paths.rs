//! Where the app keeps its own files. Nothing outside these directories is ever written.

use std::path::{Path, PathBuf};

/// Environment variable that relocates every file the app owns (tests, portable installs).
pub const HOME_ENV: &str = "ISTIO_PLAYGROUND_HOME";

/// The app's own directories.
#[derive(Debug, Clone)]
pub struct AppDirs {
    root: PathBuf,
}

impl AppDirs {
    /// Uses `$ISTIO_PLAYGROUND_HOME` when set, else the platform's local data directory
    /// (`~/.local/share/istio-playground` on Linux, `~/Library/Application Support/...` on
    /// macOS, `%LOCALAPPDATA%\istio-playground` on Windows).
    pub fn from_env() -> Self {
        let root = std::env::var_os(HOME_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs::data_local_dir().map(|d| d.join("istio-playground")))
            .unwrap_or_else(|| std::env::temp_dir().join("istio-playground"));
        Self { root }
    }

    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Rotating log files.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Downloaded kind and istioctl binaries.
    pub fn tools(&self) -> PathBuf {
        self.root.join("tools")
    }

    /// The kubeconfig the playground writes for its own cluster. The user's
    /// `~/.kube/config` is never touched unless they ask for a merge.
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
}
