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

/// Writes `bytes` beside `path` and renames it into place, so readers see the old file or the
/// new one, never a mix; creates the folder when missing. A file that exists keeps its
/// permissions; a new one is readable by its owner only (kubeconfigs and the undo history
/// can hold what others should not read).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| keep_permissions(path, &temp))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(unix)]
fn keep_permissions(path: &Path, temp: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o600);
    std::fs::set_permissions(temp, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn keep_permissions(_path: &Path, _temp: &Path) -> std::io::Result<()> {
    Ok(())
}
