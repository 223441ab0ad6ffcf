//! The PATH kind and istioctl get. kind drives Docker through the `docker` command it finds
//! on PATH; an app opened from the macOS Finder or Dock gets only `/usr/bin:/bin:/usr/sbin:
//! /sbin`, where Docker Desktop's CLI is not. So the folders where Docker Desktop, Homebrew,
//! Rancher Desktop and OrbStack put it are added when missing.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Where the `docker` command usually lives on `os` (`std::env::consts::OS` values).
pub fn docker_cli_dirs(os: &str, home: Option<&Path>) -> Vec<PathBuf> {
    let in_home = |rel: &str| home.map(|h| h.join(rel));
    let mut dirs: Vec<Option<PathBuf>> = match os {
        "macos" => vec![
            Some("/usr/local/bin".into()),
            Some("/opt/homebrew/bin".into()),
            in_home(".docker/bin"),
            Some("/Applications/Docker.app/Contents/Resources/bin".into()),
            in_home(".rd/bin"),
            in_home(".orbstack/bin"),
            Some("/opt/local/bin".into()),
        ],
        "windows" => vec![
            Some(r"C:\Program Files\Docker\Docker\resources\bin".into()),
            Some(r"C:\Program Files\Rancher Desktop\resources\resources\win32\bin".into()),
        ],
        _ => vec![
            Some("/usr/local/bin".into()),
            Some("/usr/bin".into()),
            Some("/bin".into()),
            Some("/snap/bin".into()),
            in_home(".docker/bin"),
            in_home(".rd/bin"),
        ],
    };
    dirs.drain(..).flatten().collect()
}

/// `path` with Docker's usual CLI folders for `os` appended where missing. Appended, not
/// prepended: a `docker` the user put earlier on their PATH still wins.
pub fn with_docker_cli_dirs(path: Option<&OsStr>, os: &str, home: Option<&Path>) -> OsString {
    let mut dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for dir in docker_cli_dirs(os, home) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    // join_paths fails only on a folder containing the separator, which split_paths cannot
    // produce; the extra folders contain none.
    std::env::join_paths(&dirs).unwrap_or_else(|_| path.map(OsStr::to_owned).unwrap_or_default())
}

/// This process's PATH, extended for this computer.
pub fn child_path() -> OsString {
    with_docker_cli_dirs(
        std::env::var_os("PATH").as_deref(),
        std::env::consts::OS,
        dirs::home_dir().as_deref(),
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn parts(p: &OsStr) -> Vec<String> {
        std::env::split_paths(p)
            .map(|d| d.display().to_string())
            .collect()
    }

    #[test]
    fn the_finder_path_on_macos_gets_docker_desktops_folders() {
        let home = Path::new("/Users/ana");
        let p = with_docker_cli_dirs(
            Some(OsStr::new("/usr/bin:/bin:/usr/sbin:/sbin")),
            "macos",
            Some(home),
        );
        assert_eq!(
            parts(&p),
            [
                "/usr/bin",
                "/bin",
                "/usr/sbin",
                "/sbin",
                "/usr/local/bin",
                "/opt/homebrew/bin",
                "/Users/ana/.docker/bin",
                "/Applications/Docker.app/Contents/Resources/bin",
                "/Users/ana/.rd/bin",
                "/Users/ana/.orbstack/bin",
                "/opt/local/bin",
            ]
        );
    }

    #[test]
    fn folders_already_there_keep_their_place_and_are_not_repeated() {
        let p = with_docker_cli_dirs(
            Some(OsStr::new("/opt/homebrew/bin:/usr/bin:/usr/local/bin")),
            "macos",
            None,
        );
        let got = parts(&p);
        assert_eq!(
            &got[..3],
            ["/opt/homebrew/bin", "/usr/bin", "/usr/local/bin"]
        );
        assert_eq!(got.iter().filter(|d| *d == "/usr/local/bin").count(), 1);
        assert!(
            !got.iter().any(|d| d.contains(".docker")),
            "no home, no home folders"
        );
    }

    #[test]
    fn no_path_at_all_still_finds_the_usual_folders() {
        let p = with_docker_cli_dirs(None, "linux", Some(Path::new("/home/u")));
        assert_eq!(parts(&p)[0], "/usr/local/bin");
        assert!(parts(&p).contains(&"/usr/bin".to_string()));
    }
}
