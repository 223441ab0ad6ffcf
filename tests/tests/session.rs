//! The session core against simulated clusters: the window's path (it starts the simulated
//! playground itself) and the CLI's path (pointed at a kubeconfig) reach the same decisions;
//! weights undo outlives the session that recorded it and stays with its cluster;
//! dashboards are refused when simulated and closed before a teardown.

mod actions_common;

use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actions_common::Bookinfo;
use playground::actions::weights::WeightPlan;
use playground::dashboards::Dashboard;
use playground::kube::ClusterTarget;
use playground::mesh::MeshEvent;
use playground::paths::AppDirs;
use playground::preflight::DockerEndpoint;
use playground::provision::{EventSink, ProvisionConfig, ProvisionEvent};
use playground::simulated::{SIM_CONTEXT, Scenario, SimOptions};
use playground::traffic::{self, TrafficSettings};
use playground::{ErrorCode, Session};

fn bookinfo_options() -> SimOptions {
    SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(100),
        seed: Some(5),
        latency: false,
        ..SimOptions::default()
    }
}

/// A session as the CLI builds it: the app's folder and `--kubeconfig FILE --context NAME`.
fn cli_session(home: &Path, kubeconfig: &Path, context: &str) -> Session {
    let dirs = AppDirs::at(home);
    let target = ClusterTarget::resolve(&dirs, Some(kubeconfig), Some(context));
    Session::new(dirs, target)
}

/// A session as the window builds it with no options: the playground's own cluster.
fn window_session(home: &Path) -> Session {
    let dirs = AppDirs::at(home);
    let target = ClusterTarget::resolve(&dirs, None, None);
    Session::new(dirs, target)
}

fn plan(service: &str, weights: &[&str]) -> WeightPlan {
    let args: Vec<String> = weights.iter().map(|w| w.to_string()).collect();
    WeightPlan::from_args(service, "default", &args).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_and_the_cli_reach_the_same_simulated_answer_and_ingress() {
    let home = tempfile::tempdir().unwrap();
    let window = window_session(home.path());
    assert!(!window.is_simulated().await);
    assert_eq!(window.ingress_url().await, traffic::REAL_INGRESS);

    let info = window
        .start_simulated(bookinfo_options(), None)
        .await
        .unwrap();
    assert!(window.is_simulated().await);
    assert_eq!(window.ingress_url().await, info.ingress_url);
    assert_eq!(window.target().context, SIM_CONTEXT);
    assert_eq!(
        window.setup_target().context,
        "kind-istio-playground",
        "setup and teardown never follow the simulated cluster"
    );
    let again = window.start_simulated(bookinfo_options(), None).await;
    assert_eq!(
        again.unwrap(),
        info,
        "a second start returns the running one"
    );

    // The CLI, pointed at the kubeconfig the window's simulated playground wrote.
    let cli = cli_session(home.path(), Path::new(&info.kubeconfig), &info.context);
    assert_eq!(cli.simulated().await, Some(info.clone()));
    assert_eq!(cli.ingress_url().await, window.ingress_url().await);

    // Traffic without an explicit ingress goes to the simulated gateway from both paths.
    let settings = TrafficSettings {
        rate: 40.0,
        concurrency: 8,
        duration_secs: Some(1.0),
        user: None,
        user_share: None,
    };
    let used = cli
        .start_traffic(settings.clone(), None, |_| {})
        .await
        .unwrap();
    assert_eq!(used, info.ingress_url);
    let refused = cli.start_traffic(settings, None, |_| {}).await.unwrap_err();
    assert_eq!(
        refused.code(),
        ErrorCode::TrafficRunning,
        "one run at a time"
    );
    let stats = cli.finish_traffic().await.unwrap();
    assert_eq!(stats.target, traffic::product_page(&info.ingress_url));
    assert!(
        stats.statuses.get("200").copied().unwrap_or(0) > 0,
        "{stats:?}"
    );
    assert!(!cli.traffic_running());

    // kubectl still reads the marked kubeconfig.
    let kubeconfig = info.kubeconfig.clone();
    let pods = tokio::task::spawn_blocking(move || {
        playground_tests::kubectl(Path::new(&kubeconfig), &["get", "pods", "-A"], None)
    })
    .await
    .unwrap();
    assert!(pods.contains("productpage-v1"), "{pods}");

    // The mesh watch follows the simulated cluster; stopping it returns to the real target.
    let mut events = window.watch_mesh().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match events.recv().await {
                Some(MeshEvent::Snapshot { snapshot }) => break snapshot,
                Some(_) => continue,
                None => panic!("the watch ended"),
            }
        }
    })
    .await
    .expect("a snapshot");
    assert!(first.nodes.iter().any(|n| n.name == "productpage"));
    assert!(window.watching_mesh());
    assert!(window.stop_simulated().await);
    assert!(!window.watching_mesh());
    assert!(!window.is_simulated().await);
    assert_eq!(window.target(), *window.setup_target());
    assert_eq!(window.ingress_url().await, traffic::REAL_INGRESS);
}

#[tokio::test(flavor = "multi_thread")]
async fn sim_serve_writes_a_kubeconfig_the_cli_recognises_and_the_context_name_alone_does_not_count()
 {
    let home = tempfile::tempdir().unwrap();
    // `sim serve --kubeconfig FILE`: the session writes the kubeconfig where it is told.
    let file = home.path().join("elsewhere").join("sim.yaml");
    let serve = cli_session(home.path(), &file, SIM_CONTEXT);
    let info = serve
        .start_simulated(bookinfo_options(), Some(file.clone()))
        .await
        .unwrap();
    assert_eq!(info.kubeconfig, file.display().to_string());
    let cli = cli_session(home.path(), &file, SIM_CONTEXT);
    assert_eq!(cli.simulated().await, Some(info.clone()));
    assert_eq!(cli.ingress_url().await, info.ingress_url);

    // A cluster whose kubeconfig merely uses the same context name is not simulated: only
    // the mark the simulated playground writes counts.
    let plain = playground_tests::SimFixture::start(SimOptions::default()).await;
    let other = Session::new(AppDirs::at(home.path()), plain.target());
    assert_eq!(other.target().context, SIM_CONTEXT);
    assert!(!other.is_simulated().await);
    assert_eq!(other.ingress_url().await, traffic::REAL_INGRESS);
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_undo_survives_a_new_session_and_is_refused_for_another_cluster() {
    let b = Bookinfo::start().await;
    let home = tempfile::tempdir().unwrap();
    let before = b.routing_objects().await;

    let first = cli_session(home.path(), &b.kubeconfig, SIM_CONTEXT);
    assert_eq!(first.undo_depth().unwrap(), 0);
    let change = first
        .apply_weights(&plan("reviews", &["v1=60", "v2=30", "v3=10"]))
        .await
        .unwrap();
    assert!(change.applied);
    assert_eq!(first.undo_depth().unwrap(), 1);
    let undo_file = home.path().join("state").join("undo.json");
    assert!(undo_file.is_file());
    drop(first);

    // Another cluster, same app folder: its history is empty and nothing is undone there.
    let elsewhere = playground_tests::SimFixture::start(SimOptions::default()).await;
    let other = Session::new(AppDirs::at(home.path()), elsewhere.target());
    let err = other.undo_weights().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NothingToUndo);
    assert_ne!(
        b.routing_objects().await,
        before,
        "the change is still there"
    );

    // A new session on the same folder and cluster (the app restarted) undoes it.
    let restarted = cli_session(home.path(), &b.kubeconfig, SIM_CONTEXT);
    assert_eq!(restarted.undo_depth().unwrap(), 1);
    let report = restarted.undo_weights().await.unwrap();
    assert_eq!(report.done.len(), 2, "{report:?}");
    assert_eq!(b.routing_objects().await, before, "routing is as it was");
    assert_eq!(restarted.undo_depth().unwrap(), 0);
    let err = restarted.undo_weights().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NothingToUndo);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_undo_file_is_set_aside_and_the_buttons_keep_working() {
    let b = Bookinfo::start().await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("undo.json"),
        "{\"version\": 1, \"stacks\": [trunc",
    )
    .unwrap();

    let session = cli_session(home.path(), &b.kubeconfig, SIM_CONTEXT);
    let err = session.undo_weights().await.unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::NothingToUndo,
        "an unreadable history is empty, not an error: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(state.join("undo.json.corrupt")).unwrap(),
        "{\"version\": 1, \"stacks\": [trunc",
        "kept for inspection"
    );
    session
        .apply_weights(&plan("reviews", &["v1=50", "v2=50"]))
        .await
        .unwrap();
    assert_eq!(session.undo_depth().unwrap(), 1);
    session.undo_weights().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_are_refused_when_simulated_from_both_paths() {
    let home = tempfile::tempdir().unwrap();
    let window = window_session(home.path());
    let info = window
        .start_simulated(bookinfo_options(), None)
        .await
        .unwrap();
    let err = window.open_dashboard(Dashboard::Kiali).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DashboardNeedsRealCluster);
    assert!(window.open_dashboards().await.is_empty());

    let cli = cli_session(home.path(), Path::new(&info.kubeconfig), &info.context);
    let err = cli.open_dashboard(Dashboard::Grafana).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DashboardNeedsRealCluster);
    assert!(err.to_string().contains("needs a real cluster"), "{err}");
}

/// Opens a dashboard, waiting (up to 15 s) until the simulated addon's pod is ready.
async fn open_kiali(session: &Session) -> playground::dashboards::DashboardLink {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match session.open_dashboard(Dashboard::Kiali).await {
            Ok(link) => return link,
            Err(e) if e.code() == ErrorCode::DashboardNotReady && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Waits (up to 2 s) until nothing listens on `port` any more.
async fn closed(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while listening(port) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn collecting_sink() -> (EventSink, Arc<Mutex<Vec<ProvisionEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&events);
    let sink: EventSink = Arc::new(move |e| into.lock().unwrap().push(e));
    (sink, events)
}

#[tokio::test(flavor = "multi_thread")]
async fn port_forwards_are_closed_before_a_teardown_of_the_apps_own_cluster() {
    let b = Bookinfo::start().await;
    let home = tempfile::tempdir().unwrap();
    let dirs = AppDirs::at(home.path());
    // The app's own target, pointing at the simulated cluster without the simulated mark: to
    // the session this is the real playground, so dashboards open.
    let own = ClusterTarget::resolve(&dirs, None, None);
    b.sim
        .write_kubeconfig(&own.kubeconfig, &own.context)
        .unwrap();
    let mut config = ProvisionConfig::from_env(dirs.clone(), own);
    // Teardown must not find (let alone delete) any real kind cluster: its own name, and a
    // Docker that is not there, so the step fails right after the forwards are closed.
    config.cluster_name = format!("session-test-{}", std::process::id());
    config.docker = DockerEndpoint::Unix(home.path().join("no-docker.sock"));
    config.path = Some(std::ffi::OsString::new());
    let session = Session::with_provision(config);

    let link = open_kiali(&session).await;
    assert!(listening(link.local_port));
    let reused = session.open_dashboard(Dashboard::Kiali).await.unwrap();
    assert_eq!(
        reused.local_port, link.local_port,
        "an open forward is reused"
    );
    assert_eq!(session.open_dashboards().await, vec![link.clone()]);

    let (sink, events) = collecting_sink();
    let result = session.teardown(sink).await;
    assert!(
        result.is_err(),
        "no Docker here, so the teardown step fails"
    );
    assert!(
        events.lock().unwrap().iter().any(|e| e.failure.is_some()),
        "the step ran and reported its failure"
    );
    assert!(
        session.open_dashboards().await.is_empty(),
        "closed before the teardown step ran"
    );
    assert!(closed(link.local_port).await, "nothing listens any more");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_teardown_of_a_chosen_cluster_leaves_the_forwards_open() {
    let b = Bookinfo::start().await;
    let home = tempfile::tempdir().unwrap();
    let session = cli_session(home.path(), &b.kubeconfig, SIM_CONTEXT);
    let link = open_kiali(&session).await;

    let (sink, _events) = collecting_sink();
    let err = session.teardown(sink).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Precondition, "{err}");
    assert_eq!(session.open_dashboards().await, vec![link.clone()]);
    assert!(listening(link.local_port));
    assert_eq!(session.close_dashboards().await, 1);
    assert!(closed(link.local_port).await);
}
