//! Checks made before setup, each answering: is this machine ready, why does it matter, and
//! what exactly should the user do if not. Checks run concurrently; the Docker check has a
//! hard 3 s limit so an engine that does not answer is reported quickly.

pub mod docker;
mod host;
pub mod path;
mod ports;
pub mod tools;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use docker::DockerEndpoint;
pub use ports::PlannedPort;

use crate::paths::AppDirs;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum CheckStatus {
    /// Ready.
    Pass,
    /// Setup can go on, but something may be slow or fail later.
    Warn,
    /// Setup would fail; fix this first.
    Fail,
}

/// Stable identifiers of the checks (also the order they are shown in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum CheckId {
    Docker,
    DockerResources,
    Inotify,
    Ports,
    Disk,
    Kind,
    Istioctl,
}

/// One row of the preflight report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckResult {
    pub id: CheckId,
    /// Short name of what is checked ("Docker engine").
    pub title: String,
    pub status: CheckStatus,
    /// What was found, in one sentence ("Docker 28.2.2 answered in 4 ms").
    pub summary: String,
    /// Why this matters for the playground, in one sentence.
    pub why: String,
    /// What to do about a warning or failure: a sentence, often with the exact command.
    pub fix: Option<String>,
    /// How long the check took.
    pub elapsed_ms: u32,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PreflightReport {
    /// The worst status of all checks.
    pub overall: CheckStatus,
    pub checks: Vec<CheckResult>,
    /// Wall time of the whole preflight.
    pub elapsed_ms: u32,
}

impl PreflightReport {
    pub fn check(&self, id: CheckId) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// Everything the checks look at, passed in so tests can point them anywhere.
#[derive(Debug, Clone)]
pub struct PreflightInput {
    pub docker: DockerEndpoint,
    pub docker_timeout: Duration,
    pub dirs: AppDirs,
    pub ports: Vec<PlannedPort>,
    /// The `PATH` to look for kind, istioctl and the `docker` command in.
    pub path: Option<OsString>,
    /// Where `/proc/sys/fs/inotify` lives (tests point this at a fake tree).
    pub proc_sys: PathBuf,
}

impl PreflightInput {
    /// The real machine: Docker from `DOCKER_HOST` or the platform's usual socket, the
    /// playground's ports, the user's `PATH` with Docker's usual CLI folders (what kind will
    /// get).
    pub fn from_env(dirs: AppDirs) -> Self {
        Self {
            docker: DockerEndpoint::from_env(),
            docker_timeout: docker::TIMEOUT,
            dirs,
            ports: ports::planned(),
            path: Some(path::child_path()),
            proc_sys: PathBuf::from("/proc/sys"),
        }
    }
}

/// Runs every check concurrently and returns them in display order.
#[tracing::instrument(skip_all)]
pub async fn run(input: &PreflightInput) -> PreflightReport {
    let started = Instant::now();
    let docker_probe = async {
        let t = Instant::now();
        let probe = docker::probe(&input.docker, input.docker_timeout).await;
        (probe, t.elapsed())
    };
    let ((probe, docker_elapsed), inotify, tools) = tokio::join!(
        docker_probe,
        timed(host::check_inotify(&input.proc_sys)),
        tools::check_all(input.path.clone(), &input.dirs),
    );
    let [kind, istioctl] = tools;
    // These read what the Docker probe learnt, so they come after it, but they are cheap.
    let port_check = timed(ports::check(&input.ports, probe.published_ports())).await;
    let disk = timed(host::check_disk(&input.dirs, probe.info())).await;
    let resources = docker::check_resources(&probe);
    let docker_cli = tools::find_on_path("docker", input.path.as_ref());
    let mut docker_row = docker::check_engine(&probe, docker_cli.as_deref());
    docker_row.elapsed_ms = millis(docker_elapsed);

    let checks = vec![
        docker_row, resources, inotify, port_check, disk, kind, istioctl,
    ];
    let overall = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Pass);
    let report = PreflightReport {
        overall,
        checks,
        elapsed_ms: millis(started.elapsed()),
    };
    tracing::info!(overall = ?report.overall, elapsed_ms = report.elapsed_ms, "preflight done");
    report
}

async fn timed(fut: impl std::future::Future<Output = CheckResult>) -> CheckResult {
    let t = Instant::now();
    let mut result = fut.await;
    result.elapsed_ms = millis(t.elapsed());
    result
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Human size in GiB with one decimal.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}
