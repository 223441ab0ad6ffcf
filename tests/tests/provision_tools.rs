//! kind and istioctl as child processes through stand-ins that hang: the time limit stops
//! them, Cancel stops them at once, and in both cases the process is really gone. Also: a
//! cluster found through its labelled containers is reused without calling `kind create`.

mod provision_common;

use std::time::{Duration, Instant};

use playground::provision::{CancellationToken, StepId, StepState, setup_steps};
use playground_sim::{SimCluster, SimOptions};
use provision_common::*;

const KIND_NETWORK: &str = "bridge";

async fn prepared(
    name: &str,
) -> (
    tempfile::TempDir,
    Site,
    playground::provision::ProvisionConfig,
    SimCluster,
) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique(name);
    let sim = playground_sim::start(SimOptions {
        ready_delay: Duration::from_millis(50),
        latency: false,
        ..Default::default()
    })
    .await
    .unwrap();
    std::fs::write(
        dir.path().join("cluster.kubeconfig"),
        sim.kubeconfig_yaml(&format!("kind-{cluster}")),
    )
    .unwrap();
    std::fs::write(dir.path().join("server"), sim.api_url()).unwrap();
    std::fs::create_dir_all(dir.path().join("istio-objects")).unwrap();
    std::fs::write(dir.path().join("istio-objects/paths"), "").unwrap();
    let site = Site::start().await;
    serve_kind(&site, &kind_script(dir.path(), KIND_NETWORK));
    let files: Vec<(&str, String)> = ["prometheus", "grafana", "jaeger", "kiali", "loki"]
        .iter()
        .map(|a| {
            (
                Box::leak(format!("samples/addons/{a}.yaml").into_boxed_str()) as &str,
                String::new(),
            )
        })
        .chain([
            (
                "samples/bookinfo/platform/kube/bookinfo.yaml",
                String::new(),
            ),
            (
                "samples/bookinfo/networking/bookinfo-gateway.yaml",
                String::new(),
            ),
        ])
        .collect();
    serve_istio(&site, &istio_archive(&istioctl_script(dir.path()), &files));
    let cfg = config(&dir.path().join("home"), &site, &cluster, KIND_NETWORK);
    (dir, site, cfg, sim)
}

fn last_state(events: &[playground::provision::ProvisionEvent], step: StepId) -> Option<StepState> {
    events
        .iter()
        .rev()
        .find(|e| e.step == step)
        .map(|e| e.state)
}

#[tokio::test]
async fn a_kind_that_hangs_is_stopped_at_its_time_limit() {
    let (dir, _site, mut cfg, _sim) = prepared("pg-hang").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    set_mode(dir.path(), "kind", "hang");
    cfg.timeouts.kind_create = Duration::from_millis(800);
    let (sink, events) = recorder();
    let started = Instant::now();
    let err = setup_steps(
        cfg,
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), "tool_timeout", "{err}");
    assert!(
        err.to_string().contains("did not finish within 800 ms"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("1 to 3 minutes"));
    assert_eq!(
        last_state(&events.lock().unwrap(), StepId::Cluster),
        Some(StepState::Failed)
    );
    let pid = read(dir.path().join("kind.pid"));
    assert!(!pid.is_empty());
    assert!(
        gone(&pid, Duration::from_secs(5)),
        "kind (pid {pid}) was killed"
    );
}

#[tokio::test]
async fn cancel_stops_kind_at_once_and_kills_it() {
    let (dir, _site, cfg, _sim) = prepared("pg-cancel").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    set_mode(dir.path(), "kind", "hang");
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let pid_file = dir.path().join("kind.pid");
    tokio::spawn(async move {
        while !pid_file.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c.cancel();
    });
    let (sink, events) = recorder();
    let started = Instant::now();
    let err = setup_steps(cfg, &StepId::SETUP, sink, cancel)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert!(started.elapsed() < Duration::from_secs(10));
    let events = events.lock().unwrap().clone();
    let failed = events
        .iter()
        .find(|e| e.state == StepState::Failed)
        .unwrap();
    assert_eq!(failed.step, StepId::Cluster);
    assert!(
        failed
            .failure
            .as_ref()
            .unwrap()
            .hint
            .as_ref()
            .unwrap()
            .contains("continue")
    );
    // Later steps were never started.
    assert_eq!(
        last_state(&events, StepId::Metallb),
        Some(StepState::Pending)
    );
    let pid = read(dir.path().join("kind.pid"));
    assert!(
        gone(&pid, Duration::from_secs(5)),
        "kind (pid {pid}) was killed"
    );
}

#[tokio::test]
async fn an_istioctl_that_hangs_is_stopped_and_an_existing_cluster_is_reused() {
    let (dir, _site, mut cfg, _sim) = prepared("pg-istio").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    // First the cluster, through the stand-in kind.
    let (sink, _) = recorder();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        read(dir.path().join("kind.calls"))
            .matches("create cluster")
            .count(),
        1
    );

    // The playground's kubeconfig is lost: the cluster is found by its labelled container
    // and its context written again with `kind export kubeconfig`, not created again.
    std::fs::remove_file(&cfg.target.kubeconfig).unwrap();
    set_mode(dir.path(), "istioctl", "hang");
    cfg.timeouts.istio_install = Duration::from_millis(800);
    let (sink, events) = recorder();
    let err = setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster, StepId::Istio],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    let events = events.lock().unwrap().clone();
    assert_eq!(
        last_state(&events, StepId::Cluster),
        Some(StepState::Skipped)
    );
    let calls = read(dir.path().join("kind.calls"));
    assert_eq!(calls.matches("create cluster").count(), 1, "{calls}");
    assert!(
        calls.contains(&format!("export kubeconfig --name {}", cfg.cluster_name)),
        "{calls}"
    );
    assert_eq!(err.code(), "tool_timeout", "{err}");
    assert!(
        err.to_string()
            .starts_with("`istioctl install --set profile=demo -y"),
        "{err}"
    );
    let pid = read(dir.path().join("istioctl.pid"));
    assert!(
        gone(&pid, Duration::from_secs(5)),
        "istioctl (pid {pid}) was killed"
    );
    let log: Vec<String> = events.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        log.iter().any(|l| l.starts_with("$ istioctl install")),
        "{log:#?}"
    );
}
