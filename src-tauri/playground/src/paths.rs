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

/// What the app may save for slides: the graph as a picture, a step's YAML or commands.
const EXPORT_EXTENSIONS: &[&str] = &["png", "svg", "txt", "yaml"];

/// Saves an export (base64 of its bytes) as `file_name` in `folder` (the user's Downloads
/// folder in the app), without replacing an earlier export: `mesh.png`, then `mesh (2).png`.
/// Returns where it went. A name with a folder in it, or of another kind, is refused.
pub fn save_export(folder: &Path, file_name: &str, base64_data: &str) -> crate::Result<PathBuf> {
    use base64::Engine as _;
    let path = Path::new(file_name);
    let plain = path.file_name().is_some_and(|n| n == path.as_os_str());
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !plain || file_name.starts_with('.') || !EXPORT_EXTENSIONS.contains(&extension) {
        return Err(crate::Error::InvalidInput(format!(
            "cannot save {file_name:?}: exports are plain file names ending in .{}",
            EXPORT_EXTENSIONS.join(", .")
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_data.trim())
        .map_err(|e| crate::Error::InvalidInput(format!("the export is not base64: {e}")))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("export");
    let mut target = folder.join(file_name);
    let mut n = 2;
    while target.exists() {
        target = folder.join(format!("{stem} ({n}).{extension}"));
        n += 1;
    }
    write_atomically(&target, &bytes).map_err(|e| crate::Error::io(&target, e))?;
    Ok(target)
}

/// Where exports go: the user's Downloads folder, else the home folder.
pub fn export_folder() -> PathBuf {
    dirs::download_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
}

#[cfg(test)]
mod export_tests {
    use super::*;

    #[test]
    fn exports_never_replace_an_earlier_one_and_bad_names_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let first = save_export(dir.path(), "mesh.svg", "PHN2Zy8+").unwrap();
        let second = save_export(dir.path(), "mesh.svg", "PHN2Zy8+").unwrap();
        assert_eq!(first, dir.path().join("mesh.svg"));
        assert_eq!(second, dir.path().join("mesh (2).svg"));
        assert_eq!(std::fs::read(&second).unwrap(), b"<svg/>");
        for bad in [
            "../mesh.png",
            "/tmp/x.png",
            "mesh.sh",
            ".png",
            "sub/mesh.png",
        ] {
            let e = save_export(dir.path(), bad, "PHN2Zy8+").unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::InvalidInput, "{bad}");
        }
        assert!(save_export(dir.path(), "x.png", "not base64!").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
