//! Preflight against real things: this machine's Docker engine (CI starts Debian's dockerd),
//! a socket with nothing behind it, a socket that never answers, and a port this test holds.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use playground::paths::AppDirs;
use playground::preflight::{
    self, CheckId, CheckStatus, DockerEndpoint, PlannedPort, PreflightInput,
};

fn input(home: &std::path::Path, docker: DockerEndpoint) -> PreflightInput {
    let mut input = PreflightInput::from_env(AppDirs::at(home));
    input.docker = docker;
    input
}

#[tokio::test]
async fn a_running_docker_engine_passes_with_its_version_and_resources() {
    let home = tempfile::tempdir().unwrap();
    let report = preflight::run(&input(home.path(), DockerEndpoint::from_env())).await;
    let docker = report.check(CheckId::Docker).unwrap();
    assert_eq!(
        docker.status,
        CheckStatus::Pass,
        "this test needs a running Docker engine (make test starts one): {}",
        docker.summary
    );
    assert!(docker.summary.starts_with("Docker "), "{}", docker.summary);
    assert!(docker.summary.contains("API 1."), "{}", docker.summary);
    let resources = report.check(CheckId::DockerResources).unwrap();
    assert!(resources.summary.contains("CPUs"), "{}", resources.summary);
    assert_ne!(resources.summary, "Not checked: Docker did not answer.");
    // Every check is present, in display order, each with a reason.
    let ids: Vec<CheckId> = report.checks.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            CheckId::Docker,
            CheckId::DockerResources,
            CheckId::Inotify,
            CheckId::Ports,
            CheckId::Disk,
            CheckId::Kind,
            CheckId::Istioctl
        ]
    );
    assert!(report.checks.iter().all(|c| !c.why.is_empty()));
    assert!(
        report
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Pass)
            .all(|c| c.fix.is_some()),
        "every warning or failure says what to do"
    );
}

#[tokio::test]
async fn a_socket_with_nothing_behind_it_fails_at_once_and_says_how_to_start_docker() {
    let home = tempfile::tempdir().unwrap();
    let sock = home.path().join("docker.sock");
    // A socket file whose listener is gone: connecting is refused.
    drop(UnixListener::bind(&sock).unwrap());
    let started = Instant::now();
    let report = preflight::run(&input(home.path(), DockerEndpoint::Unix(sock.clone()))).await;
    let docker = report.check(CheckId::Docker).unwrap();
    assert_eq!(docker.status, CheckStatus::Fail);
    assert!(
        docker.summary.contains(&sock.display().to_string()),
        "{}",
        docker.summary
    );
    assert!(docker.summary.contains("not running"), "{}", docker.summary);
    assert!(
        docker
            .fix
            .as_deref()
            .unwrap()
            .contains("sudo systemctl start docker"),
        "{:?}",
        docker.fix
    );
    assert_eq!(report.overall, CheckStatus::Fail);
    assert!(started.elapsed() < Duration::from_secs(3));
    // What depends on Docker is marked as not checked, not invented.
    let resources = report.check(CheckId::DockerResources).unwrap();
    assert_eq!(resources.status, CheckStatus::Warn);
    assert!(resources.summary.contains("Not checked"));
}

#[tokio::test]
async fn a_missing_socket_says_docker_is_not_installed_or_started() {
    let home = tempfile::tempdir().unwrap();
    let report = preflight::run(&input(
        home.path(),
        DockerEndpoint::Unix(home.path().join("absent.sock")),
    ))
    .await;
    let docker = report.check(CheckId::Docker).unwrap();
    assert_eq!(docker.status, CheckStatus::Fail);
    assert!(
        docker.summary.contains("not installed or not started"),
        "{}",
        docker.summary
    );
}

#[tokio::test]
async fn an_engine_that_never_answers_is_reported_within_3_seconds() {
    let home = tempfile::tempdir().unwrap();
    let sock = home.path().join("stuck.sock");
    // Accepts connections (the kernel's backlog) but never reads or answers.
    let _listener = UnixListener::bind(&sock).unwrap();
    let started = Instant::now();
    let report = preflight::run(&input(home.path(), DockerEndpoint::Unix(sock))).await;
    let took = started.elapsed();
    let docker = report.check(CheckId::Docker).unwrap();
    assert_eq!(docker.status, CheckStatus::Fail);
    assert!(
        docker.summary.contains("did not answer within"),
        "{}",
        docker.summary
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "gave up too early: {took:?}"
    );
}

#[tokio::test]
async fn a_port_this_test_occupies_fails_the_ports_check() {
    let home = tempfile::tempdir().unwrap();
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let mut input = input(home.path(), DockerEndpoint::from_env());
    input.ports = vec![PlannedPort {
        port,
        purpose: "the ingress gateway (HTTP)",
        required: true,
    }];
    let report = preflight::run(&input).await;
    let ports = report.check(CheckId::Ports).unwrap();
    assert_eq!(ports.status, CheckStatus::Fail);
    assert!(
        ports.summary.contains(&port.to_string()),
        "{}",
        ports.summary
    );
    assert!(
        ports
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("lsof -i :{port}"))
    );
    assert_eq!(report.overall, CheckStatus::Fail);

    drop(held);
    let report = preflight::run(&input).await;
    assert_eq!(
        report.check(CheckId::Ports).unwrap().status,
        CheckStatus::Pass
    );
}
