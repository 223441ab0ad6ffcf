//! kind and istioctl: found on PATH with a fitting version, already downloaded by the app, or
//! to be downloaded during setup.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CheckId, CheckResult, CheckStatus};
use crate::paths::AppDirs;
use crate::versions;

const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// One command-line tool the setup needs.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub id: CheckId,
    pub name: &'static str,
    pub version_args: &'static [&'static str],
    /// The version the app installs.
    pub pinned: &'static str,
    pub why: &'static str,
}

pub const KIND: Tool = Tool {
    id: CheckId::Kind,
    name: "kind",
    version_args: &["version"],
    pinned: versions::KIND,
    why: "kind creates and deletes the playground's Kubernetes cluster inside Docker.",
};

pub const ISTIOCTL: Tool = Tool {
    id: CheckId::Istioctl,
    name: "istioctl",
    version_args: &["version", "--remote=false"],
    pinned: versions::ISTIO,
    why: "istioctl installs Istio's demo profile; it always installs its own version, so it must match the Istio release the playground uses.",
};

impl Tool {
    /// Where the app keeps its own downloaded copy.
    pub fn downloaded_path(&self, dirs: &AppDirs) -> PathBuf {
        dirs.tools().join(format!(
            "{}-{}{}",
            self.name,
            self.pinned,
            std::env::consts::EXE_SUFFIX
        ))
    }

    /// A found version fits when it has the pinned version's major and minor.
    pub fn fits(&self, found: &str) -> bool {
        let key = |v: &str| {
            let v = v.trim_start_matches('v');
            let mut parts = v.split('.');
            (
                parts.next().map(str::to_owned),
                parts.next().map(str::to_owned),
            )
        };
        key(found) == key(self.pinned)
    }
}

/// First `x.y.z` (optionally `v`-prefixed) in a tool's version output.
pub fn parse_version(output: &str) -> Option<String> {
    output
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == ':')
        .map(|w| {
            let w = w.trim_start_matches('v');
            // Drop pre-release and build suffixes: 1.31.0-alpha.0 is 1.31.0.
            w.split(['-', '+']).next().unwrap_or(w)
        })
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// Looks `name` up in `path` like a shell would (with `.exe` on Windows).
pub fn find_on_path(name: &str, path: Option<&OsString>) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path?)
        .map(|dir| dir.join(&file))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Runs `<tool> <version args>` with a timeout and returns the parsed version.
#[tracing::instrument(skip_all, fields(tool = %path.display()))]
pub async fn version_of(path: &Path, args: &[&str]) -> Result<String, String> {
    let mut command = tokio::process::Command::new(path);
    command.args(args).kill_on_drop(true);
    crate::provision::no_console_window(&mut command);
    let run = command.output();
    let out = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .map_err(|_| format!("did not answer within {} s", VERSION_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_version(&text).ok_or_else(|| {
        format!(
            "printed no version (exit {})",
            out.status
                .code()
                .map_or("by signal".into(), |c| c.to_string())
        )
    })
}

pub(super) async fn check_all(path: Option<OsString>, dirs: &AppDirs) -> [CheckResult; 2] {
    let (kind, istioctl) = tokio::join!(
        check(KIND, path.as_ref(), dirs),
        check(ISTIOCTL, path.as_ref(), dirs)
    );
    [kind, istioctl]
}

async fn check(tool: Tool, path: Option<&OsString>, dirs: &AppDirs) -> CheckResult {
    let started = Instant::now();
    let downloaded = tool.downloaded_path(dirs);
    let (status, summary) = if let Some(found) = find_on_path(tool.name, path) {
        match version_of(&found, tool.version_args).await {
            Ok(v) if tool.fits(&v) => (
                CheckStatus::Pass,
                format!(
                    "{} {v} found at {}; it will be used.",
                    tool.name,
                    found.display()
                ),
            ),
            Ok(v) => (
                CheckStatus::Pass,
                format!(
                    "{} {v} found at {}, but the playground needs {}: that version will be downloaded into the app's folder (your copy is left alone).",
                    tool.name,
                    found.display(),
                    tool.pinned
                ),
            ),
            Err(e) => (
                CheckStatus::Warn,
                format!(
                    "{} at {} {e}; {} will be downloaded instead.",
                    tool.name,
                    found.display(),
                    tool.pinned
                ),
            ),
        }
    } else if is_executable(&downloaded) {
        (
            CheckStatus::Pass,
            format!(
                "{} {} was downloaded earlier to {}.",
                tool.name,
                tool.pinned,
                downloaded.display()
            ),
        )
    } else {
        (
            CheckStatus::Pass,
            format!(
                "{} is not on your PATH: {} {} will be downloaded and checked during setup.",
                tool.name, tool.name, tool.pinned
            ),
        )
    };
    CheckResult {
        id: tool.id,
        title: tool.name.into(),
        status,
        summary,
        why: tool.why.into(),
        fix: None,
        elapsed_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_versions_the_real_tools_print() {
        assert_eq!(
            parse_version("kind v0.32.0 go1.25.4 linux/amd64").as_deref(),
            Some("0.32.0")
        );
        assert_eq!(
            parse_version("client version: 1.30.3").as_deref(),
            Some("1.30.3")
        );
        assert_eq!(
            parse_version("1.31.0-alpha.0-abc").as_deref(),
            Some("1.31.0")
        );
        assert_eq!(parse_version("no version here 1.2"), None);
    }

    #[test]
    fn a_version_fits_on_major_and_minor() {
        assert!(KIND.fits("0.32.1"));
        assert!(!KIND.fits("0.31.0"));
        assert!(ISTIOCTL.fits("1.30.0"));
        assert!(!ISTIOCTL.fits("1.29.3"));
    }

    #[cfg(unix)]
    fn fake_tool(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let file = dir.join(name);
        std::fs::write(&file, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn tools_on_path_are_reported_with_their_version() {
        let bin = tempfile::tempdir().unwrap();
        fake_tool(bin.path(), "kind", "echo 'kind v0.32.0 go1.25 linux/amd64'");
        fake_tool(bin.path(), "istioctl", "echo 'client version: 1.28.1'");
        let home = tempfile::tempdir().unwrap();
        let [kind, istioctl] = check_all(
            Some(bin.path().as_os_str().to_owned()),
            &AppDirs::at(home.path()),
        )
        .await;
        assert!(kind.summary.contains("0.32.0 found"), "{}", kind.summary);
        assert!(kind.summary.contains("will be used"));
        assert!(istioctl.summary.contains("1.28.1"), "{}", istioctl.summary);
        assert!(
            istioctl.summary.contains("1.30.3 will be downloaded")
                || istioctl.summary.contains("needs 1.30.3")
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn missing_tools_will_be_downloaded() {
        let empty = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let [kind, _] = check_all(
            Some(empty.path().as_os_str().to_owned()),
            &AppDirs::at(home.path()),
        )
        .await;
        assert_eq!(kind.status, CheckStatus::Pass);
        assert!(
            kind.summary.contains("will be downloaded"),
            "{}",
            kind.summary
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_tool_that_hangs_is_cut_off() {
        let bin = tempfile::tempdir().unwrap();
        fake_tool(bin.path(), "kind", "sleep 30");
        let started = Instant::now();
        let err = version_of(&bin.path().join("kind"), &["version"])
            .await
            .unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(8));
    }
}
