//! Checks of this machine itself: inotify limits and free disk.

use std::path::{Path, PathBuf};

use super::docker::DockerFacts;
use super::{CheckId, CheckResult, CheckStatus, gib};
use crate::paths::AppDirs;

/// What kind's documentation recommends for clusters with many pods.
pub const WANT_WATCHES: u64 = 524_288;
pub const WANT_INSTANCES: u64 = 512;

const WANT_DISK: u64 = 10 << 30;
const MIN_DISK: u64 = 5 << 30;

const WHY_INOTIFY: &str = "Every pod watches files; with low inotify limits kind's pods crash with \"too many open files\".";
const WHY_DISK: &str = "The kind node image, Istio and the addons' images take about 6 GiB, plus room for logs and metrics.";

pub(super) async fn check_inotify(proc_sys: &Path) -> CheckResult {
    let row = |status, summary: String, fix: Option<String>| CheckResult {
        id: CheckId::Inotify,
        title: "File watch limits (inotify)".into(),
        status,
        summary,
        why: WHY_INOTIFY.into(),
        fix,
        elapsed_ms: 0,
    };
    if !cfg!(target_os = "linux") {
        return row(
            CheckStatus::Pass,
            "Docker Desktop's virtual machine sets these limits itself.".into(),
            None,
        );
    }
    let dir = proc_sys.join("fs/inotify");
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    let (Some(watches), Some(instances)) = (read("max_user_watches"), read("max_user_instances"))
    else {
        return row(
            CheckStatus::Warn,
            format!("Could not read the limits under {}.", dir.display()),
            Some("If pods later fail with \"too many open files\", raise the limits with `sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512`.".into()),
        );
    };
    let found = format!("max_user_watches is {watches}, max_user_instances is {instances}");
    if watches >= WANT_WATCHES && instances >= WANT_INSTANCES {
        row(CheckStatus::Pass, format!("{found}."), None)
    } else {
        row(
            CheckStatus::Warn,
            format!("{found}; kind recommends at least {WANT_WATCHES} and {WANT_INSTANCES}."),
            Some(format!(
                "Raise them: run `sudo sysctl fs.inotify.max_user_watches={} fs.inotify.max_user_instances={}` (add the same lines to /etc/sysctl.d/99-kind.conf to keep them after a reboot).",
                watches.max(WANT_WATCHES),
                instances.max(WANT_INSTANCES)
            )),
        )
    }
}

pub(super) async fn check_disk(dirs: &AppDirs, docker: Option<&DockerFacts>) -> CheckResult {
    // Images land in Docker's root directory when the engine is on this machine and we can
    // see that directory; otherwise the app's own directory is the best we can measure.
    let docker_dir = docker
        .and_then(|f| f.root_dir.as_deref())
        .map(PathBuf::from)
        .filter(|p| p.exists() && docker.is_some_and(|f| !f.host.networks_in_vm()));
    let (place, path) = match docker_dir {
        Some(p) => ("Docker's image store", p),
        None => ("the app's data folder", existing_ancestor(dirs.root())),
    };
    let row = |status, summary: String, fix: Option<String>| CheckResult {
        id: CheckId::Disk,
        title: "Free disk space".into(),
        status,
        summary,
        why: WHY_DISK.into(),
        fix,
        elapsed_ms: 0,
    };
    let free = match fs4::available_space(&path) {
        Ok(b) => b,
        Err(e) => {
            return row(
                CheckStatus::Warn,
                format!("Could not measure free space at {}: {e}.", path.display()),
                Some("Make sure about 10 GiB are free.".into()),
            );
        }
    };
    let found = format!("{} free for {place} ({}).", gib(free), path.display());
    let how = if docker
        .is_some_and(|f| matches!(f.host, super::docker::EngineHost::DockerDesktop { .. }))
    {
        "Free some space, or raise the disk limit in Docker Desktop > Settings > Resources."
    } else {
        "Free some space (for example `docker system prune` removes unused images)."
    };
    if free >= WANT_DISK {
        row(CheckStatus::Pass, found, None)
    } else if free >= MIN_DISK {
        row(
            CheckStatus::Warn,
            format!("{found} About 10 GiB is comfortable."),
            Some(how.into()),
        )
    } else {
        row(
            CheckStatus::Fail,
            format!("{found} At least 5 GiB are needed."),
            Some(how.into()),
        )
    }
}

fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(watches: &str, instances: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let inotify = dir.path().join("fs/inotify");
        std::fs::create_dir_all(&inotify).unwrap();
        std::fs::write(inotify.join("max_user_watches"), watches).unwrap();
        std::fs::write(inotify.join("max_user_instances"), instances).unwrap();
        dir
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn low_inotify_limits_warn_with_the_sysctl_command() {
        let proc = fake_proc("8192\n", "128\n");
        let row = check_inotify(proc.path()).await;
        assert_eq!(row.status, CheckStatus::Warn);
        assert!(row.summary.contains("8192"));
        let fix = row.fix.unwrap();
        assert!(fix.contains("fs.inotify.max_user_watches=524288"), "{fix}");
        assert!(fix.contains("max_user_instances=512"), "{fix}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn generous_inotify_limits_pass_and_are_never_lowered() {
        let proc = fake_proc("1048576", "8192");
        assert_eq!(check_inotify(proc.path()).await.status, CheckStatus::Pass);
        let proc = fake_proc("1048576", "128");
        let fix = check_inotify(proc.path()).await.fix.unwrap();
        assert!(fix.contains("max_user_watches=1048576"), "{fix}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn unreadable_limits_warn_instead_of_guessing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_inotify(dir.path()).await.status, CheckStatus::Warn);
    }

    #[tokio::test]
    async fn disk_is_measured_where_the_app_keeps_its_files_when_docker_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = AppDirs::at(dir.path().join("not/yet/created"));
        let row = check_disk(&dirs, None).await;
        assert!(
            row.summary.contains("the app's data folder"),
            "{}",
            row.summary
        );
        assert!(row.summary.contains(&dir.path().display().to_string()));
    }
}
