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
    let cluster = cfg.cluster_name.clone();
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
    // What kind may have made before it was stopped is deleted at once.
    let calls = read(dir.path().join("kind.calls"));
    assert!(
        calls.contains(&format!("delete cluster --name {}", cluster)),
        "{calls}"
    );
}

#[tokio::test]
async fn cancel_during_create_kills_what_kind_started_and_deletes_the_unfinished_cluster() {
    let (dir, _site, cfg, _sim) = prepared("pg-tree").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    set_mode(dir.path(), "kind", "hang-tree");
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let child_pid_file = dir.path().join("kind.child.pid");
    let kind_pid_file = dir.path().join("kind.pid");
    tokio::spawn(async move {
        while !(child_pid_file.exists() && kind_pid_file.exists()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c.cancel();
    });
    let (sink, events) = recorder();
    let started = Instant::now();
    let err = setup_steps(cfg.clone(), &StepId::SETUP, sink, cancel)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert!(started.elapsed() < Duration::from_secs(20));
    for file in ["kind.pid", "kind.child.pid"] {
        let pid = read(dir.path().join(file));
        assert!(!pid.trim().is_empty(), "{file}");
        assert!(
            gone(&pid, Duration::from_secs(5)),
            "{file}: pid {pid} still runs after cancel"
        );
    }
    let calls = read(dir.path().join("kind.calls"));
    assert!(
        calls.contains(&format!(
            "delete cluster --name {} --kubeconfig {}",
            cfg.cluster_name,
            cfg.target.kubeconfig.display()
        )),
        "{calls}"
    );
    assert!(
        playground::provision::node_containers(&cfg, &cfg.cluster_name)
            .await
            .unwrap()
            .is_empty(),
        "the half-made node container was deleted"
    );
    let log: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        log.iter()
            .any(|l| l.starts_with("Cleaning up: deleting the unfinished cluster")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn an_unfinished_cluster_left_by_an_earlier_run_is_deleted_and_created_again() {
    let (dir, _site, cfg, _sim) = prepared("pg-half").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    // What a create stopped after "Preparing nodes" leaves (an older app, or a crash): the
    // labelled node container, and a kubeconfig whose API server never came up.
    let image = node_image();
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &format!("{}-control-plane", cfg.cluster_name),
            "--network",
            KIND_NETWORK,
            "--label",
            &format!("io.x-k8s.kind.cluster={}", cfg.cluster_name),
            &image,
            "/bin/sleep",
            "infinity",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    std::fs::create_dir_all(cfg.target.kubeconfig.parent().unwrap()).unwrap();
    std::fs::write(
        &cfg.target.kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\ncontexts:\n- name: {ctx}\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{}}\ncurrent-context: {ctx}\n",
            ctx = cfg.target.context
        ),
    )
    .unwrap();

    let (sink, events) = recorder();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let events = events.lock().unwrap().clone();
    assert_eq!(last_state(&events, StepId::Cluster), Some(StepState::Done));
    let calls = read(dir.path().join("kind.calls"));
    let delete = calls.find("delete cluster").expect(&calls);
    let create = calls.find("create cluster").expect(&calls);
    assert!(delete < create, "deleted before creating again: {calls}");
    let log: Vec<String> = events.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        log.iter().any(|l| l.contains("was never finished")),
        "{log:#?}"
    );

    // Now finished: the next run reuses it without asking kind for anything.
    let before = read(dir.path().join("kind.calls"));
    let (sink, events) = recorder();
    setup_steps(
        cfg,
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        last_state(&events.lock().unwrap(), StepId::Cluster),
        Some(StepState::Skipped)
    );
    assert_eq!(read(dir.path().join("kind.calls")), before);
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
    // The PATH kind gets is the one the config computed (the app's, with Docker's folders).
    let mut path: Vec<std::path::PathBuf> = std::env::split_paths(&cfg.child_path).collect();
    path.push(dir.path().join("docker-cli-folder"));
    cfg.child_path = std::env::join_paths(path).unwrap();
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
    let env = read(dir.path().join("kind.env"));
    assert!(
        env.lines()
            .any(|l| l == format!("PATH={}", cfg.child_path.to_string_lossy())),
        "{env}"
    );
    // The engine the app inspects is the one kind's docker command is told to use.
    assert!(
        env.lines()
            .any(|l| l == format!("DOCKER_HOST={}", cfg.docker)),
        "{env}"
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

/// A TCP proxy on `port` to `target` that starts listening only after `delay`: an API server
/// coming back some seconds after its node container was started again.
fn api_server_back_after(port: u16, target: String, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut up) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                }
            });
        }
    });
}

#[tokio::test]
async fn after_a_restart_a_stopped_cluster_is_started_and_its_api_server_waited_for() {
    let (dir, _site, mut cfg, sim) = prepared("pg-restart").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    let (sink, _) = recorder();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();

    // The computer restarted: the node container is stopped, and its API server answers
    // only some seconds after the container runs again.
    let name = format!("{}-control-plane", cfg.cluster_name);
    let out = std::process::Command::new("docker")
        .args(["stop", "-t", "0", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let api = sim.api_url();
    let kubeconfig =
        read(&cfg.target.kubeconfig).replace(&api, &format!("http://127.0.0.1:{port}"));
    std::fs::write(&cfg.target.kubeconfig, kubeconfig).unwrap();
    api_server_back_after(
        port,
        api.trim_start_matches("http://").to_string(),
        Duration::from_secs(3),
    );

    cfg.timeouts.api_restart = Duration::from_secs(30);
    let (sink, events) = recorder();
    let started = Instant::now();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    let events = events.lock().unwrap().clone();
    assert_eq!(
        last_state(&events, StepId::Cluster),
        Some(StepState::Skipped),
        "the cluster is reused, not made again"
    );
    assert!(took >= Duration::from_secs(3), "{took:?}");
    let calls = read(dir.path().join("kind.calls"));
    assert_eq!(calls.matches("create cluster").count(), 1, "{calls}");
    assert!(!calls.contains("delete cluster"), "{calls}");
    let log: Vec<String> = events.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        log.iter()
            .any(|l| l == &format!("Starting the stopped node container {name}")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("The API server is not answering yet")),
        "{log:#?}"
    );
    let nodes = playground::provision::node_containers(&cfg, &cfg.cluster_name)
        .await
        .unwrap();
    assert!(nodes.iter().all(|n| n.running), "{nodes:?}");

    // The same for a cluster made by an older version of the app (no "created" marker): it
    // is waited for too, then found complete (its node is Ready) and kept.
    let marker = cfg
        .dirs
        .root()
        .join(format!("cluster-{}.created", cfg.cluster_name));
    assert!(marker.is_file());
    std::fs::remove_file(&marker).unwrap();
    let out = std::process::Command::new("docker")
        .args(["stop", "-t", "0", &name])
        .output()
        .unwrap();
    assert!(out.status.success());
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port2 = free.local_addr().unwrap().port();
    drop(free);
    let kubeconfig = read(&cfg.target.kubeconfig).replace(
        &format!("http://127.0.0.1:{port}"),
        &format!("http://127.0.0.1:{port2}"),
    );
    std::fs::write(&cfg.target.kubeconfig, kubeconfig).unwrap();
    api_server_back_after(
        port2,
        api.trim_start_matches("http://").to_string(),
        Duration::from_secs(2),
    );
    let (sink, events) = recorder();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        last_state(&events.lock().unwrap(), StepId::Cluster),
        Some(StepState::Skipped)
    );
    let calls = read(dir.path().join("kind.calls"));
    assert!(!calls.contains("delete cluster"), "{calls}");
    assert!(marker.is_file(), "adopted: the marker is written");
}

#[tokio::test]
async fn merge_kubeconfig_adds_the_context_to_the_users_file_without_switching_and_down_removes_it()
{
    let (_dir, _site, mut cfg, _sim) = prepared("pg-merge").await;
    let _cleanup = DockerCleanup {
        cluster: cfg.cluster_name.clone(),
        network: None,
    };
    let users = cfg.user_kubeconfig.clone().unwrap();
    std::fs::create_dir_all(users.parent().unwrap()).unwrap();
    let mine = "apiVersion: v1\nkind: Config\nclusters:\n- name: work\n  cluster: {server: 'https://work.example:6443'}\ncontexts:\n- name: work\n  context: {cluster: work, user: me}\ncurrent-context: work\nusers:\n- name: me\n  user: {token: abc}\n";
    std::fs::write(&users, mine).unwrap();
    cfg.merge_kubeconfig = true;
    let (sink, events) = recorder();
    setup_steps(
        cfg.clone(),
        &[StepId::Tools, StepId::Cluster],
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let context = cfg.target.context.clone();
    let merged: serde_json::Value = serde_yaml_ng::from_str(&read(&users)).unwrap();
    assert_eq!(
        merged["current-context"], "work",
        "the user's context is kept"
    );
    let contexts: Vec<&str> = merged["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(contexts, ["work", context.as_str()]);
    let log: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("kubectl config use-context {context}"))),
        "{log:#?}"
    );

    let (sink, _) = recorder();
    playground::provision::teardown(cfg.clone(), sink, CancellationToken::new())
        .await
        .unwrap();
    let after: serde_json::Value = serde_yaml_ng::from_str(&read(&users)).unwrap();
    let before: serde_json::Value = serde_yaml_ng::from_str(mine).unwrap();
    assert_eq!(after, before, "down leaves the user's kubeconfig as it was");
}
