//! The live mesh model against the simulated cluster: the whole Bookinfo chain, equal to
//! the model of the scenario as pure inputs (the golden file), changes made with kubectl
//! showing up as diffs, and a lost connection reported and made good with a diff.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use playground::mesh::watch::{self, MeshWatch};
use playground::mesh::{
    EdgeKind, Finding, Injection, MeshEvent, MeshSnapshot, NodeDetails, NodeKind, Readiness,
    Sidecar, WatchStatus,
};
use playground::mesh::{build, diff, samples};
use playground_sim::{Scenario, SimOptions};
use playground_tests::SimFixture;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

async fn start_sim() -> SimFixture {
    SimFixture::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(100),
        seed: Some(7),
        latency: false,
        ..SimOptions::default()
    })
    .await
}

async fn watch(f: &SimFixture) -> (mpsc::Receiver<MeshEvent>, MeshWatch) {
    watch::spawn(f.target().client().await.expect("client"))
}

/// Follows the stream, keeping a current snapshot, until `done` holds for it.
async fn follow_until(
    rx: &mut mpsc::Receiver<MeshEvent>,
    current: &mut MeshSnapshot,
    what: &str,
    done: impl Fn(&MeshSnapshot) -> bool,
) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    while !done(current) {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
            .expect("stream ended");
        match event {
            MeshEvent::Snapshot { snapshot } => *current = snapshot,
            MeshEvent::Diff { diff: d } => diff::apply(current, &d),
            MeshEvent::Status { .. } | MeshEvent::Traffic { .. } => {}
            MeshEvent::Ended => panic!("the watch ended while waiting for: {what}"),
        }
    }
    started.elapsed()
}

fn all_pods_ready(s: &MeshSnapshot) -> bool {
    let pods: Vec<_> = s
        .nodes
        .iter()
        .filter(|n| n.id.starts_with("pod/default/"))
        .collect();
    pods.len() == 6
        && pods
            .iter()
            .all(|p| p.ready == Some(Readiness::new(2, 2)) && p.sidecar == Some(Sidecar::Ready))
}

/// Every pod and workload ready: nothing is still starting.
fn settled(s: &MeshSnapshot) -> bool {
    let done = |r: &Readiness| r.ready == r.total && r.total != 0;
    all_pods_ready(s)
        && s.nodes.iter().filter_map(|n| n.ready.as_ref()).all(done)
        && s.nodes.iter().all(|n| match &n.details {
            NodeDetails::Service(svc) => done(&svc.endpoints),
            _ => true,
        })
}

fn kubectl(f: &SimFixture, args: &[&str], stdin: Option<&str>) -> String {
    f.kubectl(args, stdin)
}

const REVIEWS_SPLIT: &str = playground_tests::REVIEWS_SPLIT_60_30_10;

fn has_edge(s: &MeshSnapshot, kind: EdgeKind, from: &str, to: &str) -> bool {
    s.edges
        .iter()
        .any(|e| e.kind == kind && e.source == from && e.target == to)
}

/// Ingress gateway -> Gateway -> VirtualService -> productpage, and reviews' workloads.
fn assert_request_chain(s: &MeshSnapshot) {
    for (kind, from, to) in [
        (
            EdgeKind::Serves,
            "ingress/istio-system/istio-ingressgateway",
            "gw/default/bookinfo-gateway",
        ),
        (
            EdgeKind::Binds,
            "gw/default/bookinfo-gateway",
            "vs/default/bookinfo",
        ),
        (
            EdgeKind::Route,
            "vs/default/bookinfo",
            "svc/default/productpage",
        ),
        (
            EdgeKind::Selects,
            "svc/default/reviews",
            "wl/default/reviews-v3",
        ),
    ] {
        assert!(
            has_edge(s, kind, from, to),
            "no {kind:?} edge {from} -> {to}"
        );
    }
}

/// Route targets and weights out of a VirtualService.
fn route_weights(s: &MeshSnapshot, from: &str) -> Vec<(String, u32)> {
    let mut v: Vec<_> = s
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Route && e.source == from)
        .filter_map(|e| Some((e.target.clone(), e.route.as_ref()?.weight)))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_bookinfo_shows_the_whole_chain_and_equals_the_model_of_its_pure_inputs() {
    let f = start_sim().await;
    let (mut rx, _watch) = watch(&f).await;
    let mut current = MeshSnapshot::default();
    follow_until(
        &mut rx,
        &mut current,
        "Bookinfo settled, pods 2/2 with sidecars",
        settled,
    )
    .await;

    assert_request_chain(&current);
    let warnings: Vec<_> = current
        .nodes
        .iter()
        .flat_map(|n| {
            n.validations
                .iter()
                .map(move |v| (n.id.clone(), v.finding.clone()))
        })
        .collect();
    assert!(
        warnings.is_empty(),
        "a healthy Bookinfo has no findings: {warnings:?}"
    );

    // The whole model equals the one built from the scenario as pure inputs (which is the
    // golden file and the UI's preview data), pod name endings and IPs aside.
    let pure = build(&samples::bookinfo()).into_snapshot();
    let (live, expected) = (normalized(&current), normalized(&pure));
    if let Some((i, (got, want))) = live
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "the live model differs from samples::bookinfo()'s at line {}: got `{got}`, expected `{want}`",
            i + 1
        );
    }
    assert_eq!(live.lines().count(), expected.lines().count());
}

/// The model as JSON with what depends on the order the controller made pods in (the
/// random end of pod names, pod IPs) taken out.
fn normalized(s: &MeshSnapshot) -> String {
    let mut s = s.clone();
    let mut pod_names = Vec::new();
    for n in &mut s.nodes {
        if let NodeDetails::Pod(pod) = &mut n.details {
            pod.ip = None;
        }
        if n.kind == NodeKind::Pod {
            let (stem, _) = n.name.rsplit_once('-').unwrap();
            pod_names.push((n.name.clone(), format!("{stem}-xxxxx")));
        }
    }
    let mut text = serde_json::to_string_pretty(&s).unwrap();
    for (name, stable) in pod_names {
        text = text.replace(&name, &stable);
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_with_kubectl_arrive_as_diffs() {
    let f = start_sim().await;
    let (mut rx, _watch) = watch(&f).await;
    let mut current = MeshSnapshot::default();
    follow_until(&mut rx, &mut current, "Bookinfo ready", all_pods_ready).await;

    // Weights: a DestinationRule and a 60/30/10 VirtualService applied with kubectl.
    kubectl(&f, &["apply", "-f", "-"], Some(REVIEWS_SPLIT));
    follow_until(&mut rx, &mut current, "the 60/30/10 split", |s| {
        route_weights(s, "vs/default/reviews").len() == 3
    })
    .await;
    assert_eq!(
        route_weights(&current, "vs/default/reviews"),
        [
            ("subset/default/reviews/v1".into(), 60),
            ("subset/default/reviews/v2".into(), 30),
            ("subset/default/reviews/v3".into(), 10),
        ]
    );
    kubectl(
        &f,
        &[
            "patch",
            "virtualservice",
            "reviews",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/http/0/route/0/weight","value":20},{"op":"replace","path":"/spec/http/0/route/2/weight","value":50}]"#,
        ],
        None,
    );
    follow_until(&mut rx, &mut current, "the 20/30/50 split", |s| {
        route_weights(s, "vs/default/reviews")[0].1 == 20
    })
    .await;

    // A label: turning injection off shows on the namespace node.
    kubectl(
        &f,
        &["label", "namespace", "default", "istio-injection-"],
        None,
    );
    follow_until(
        &mut rx,
        &mut current,
        "injection off on the namespace",
        |s| {
            s.nodes.iter().any(|n| {
                n.id == "ns/default"
                    && matches!(&n.details, NodeDetails::Namespace(d) if d.injection == Injection::None)
            })
        },
    )
    .await;

    // A deleted pod: it goes away and its replacement (without a sidecar now) comes.
    let victim = current
        .nodes
        .iter()
        .find(|n| n.id.starts_with("pod/default/ratings-v1-"))
        .unwrap()
        .name
        .clone();
    kubectl(&f, &["delete", "pod", &victim, "--wait=false"], None);
    follow_until(&mut rx, &mut current, "the replacement ratings pod", |s| {
        let ratings: Vec<_> = s
            .nodes
            .iter()
            .filter(|n| n.id.starts_with("pod/default/ratings-v1-"))
            .collect();
        ratings.len() == 1
            && ratings[0].name != victim
            && ratings[0].sidecar == Some(Sidecar::NotInjected)
    })
    .await;
}

/// A TCP proxy in front of the simulated API server that the test can cut and restore, so
/// the app's client loses the cluster exactly while the test changes it.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(to: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, connections) = (up.clone(), connections.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    // While cut, a new connection is closed at once.
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let to = to.clone();
                    connections.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&to).await {
                            let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            }
        });
        Self {
            port,
            up,
            connections,
            accept,
        }
    }

    /// Drops every open connection (the watches with them) and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Follows diffs until the next status, which it returns. A snapshot here fails the test:
/// after the first, the app only ever sends diffs.
async fn next_status(
    rx: &mut mpsc::Receiver<MeshEvent>,
    current: &mut MeshSnapshot,
    what: &str,
) -> WatchStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
            .expect("stream ended")
        {
            MeshEvent::Status { status } => return status,
            MeshEvent::Diff { diff: d } => diff::apply(current, &d),
            MeshEvent::Traffic { .. } => {}
            MeshEvent::Snapshot { .. } => panic!("a second snapshot while waiting for: {what}"),
            MeshEvent::Ended => panic!("the watch ended while waiting for: {what}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_reported_and_what_changed_meanwhile_arrives_as_a_diff() {
    let f = start_sim().await;
    let proxy = Proxy::start(f.sim.api_url().trim_start_matches("http://").to_owned()).await;
    let through_proxy = f.dir.path().join("proxy-kubeconfig");
    let yaml = f.sim.kubeconfig_yaml(playground_sim::SIM_CONTEXT).replace(
        &f.sim.api_url(),
        &format!("http://127.0.0.1:{}", proxy.port),
    );
    std::fs::write(&through_proxy, yaml).unwrap();
    let target = playground::kube::ClusterTarget::resolve(
        &playground::paths::AppDirs::at(f.dir.path()),
        Some(&through_proxy),
        Some(playground_sim::SIM_CONTEXT),
    );
    let (mut rx, _watch) = watch::spawn(target.client().await.expect("client"));
    let mut current = MeshSnapshot::default();
    follow_until(&mut rx, &mut current, "Bookinfo ready", all_pods_ready).await;

    // The connection goes: the app says so.
    proxy.cut();
    let lost = next_status(&mut rx, &mut current, "the lost connection").await;
    assert!(!lost.connected, "{lost:?}");
    assert!(!lost.failing.is_empty() && lost.error.is_some(), "{lost:?}");

    // Meanwhile the cluster changes (with kubectl, not through the proxy): a new split, a
    // Gateway deleted; and the API server forgets its watch history, so the app must list
    // everything again to find out.
    kubectl(&f, &["apply", "-f", "-"], Some(REVIEWS_SPLIT));
    kubectl(&f, &["delete", "gateway", "bookinfo-gateway"], None);
    f.sim.expire_watches();
    let before = current.clone();
    proxy.restore();

    // The connection is back, and what changed arrives as a diff against what the app
    // already showed (next_status fails on a snapshot).
    let back = next_status(&mut rx, &mut current, "the connection back").await;
    assert!(back.connected, "{back:?}");
    assert_eq!(
        current, before,
        "nothing arrives while the connection is down"
    );
    follow_until(&mut rx, &mut current, "the changes made meanwhile", |s| {
        route_weights(s, "vs/default/reviews").len() == 3
            && !s
                .nodes
                .iter()
                .any(|n| n.id == "gw/default/bookinfo-gateway")
    })
    .await;
    let bookinfo = current
        .nodes
        .iter()
        .find(|n| n.id == "vs/default/bookinfo")
        .unwrap();
    assert!(
        bookinfo
            .validations
            .iter()
            .any(|v| matches!(&v.finding, Finding::GatewayNotFound { name, .. } if name == "bookinfo-gateway")),
        "{:?}",
        bookinfo.validations
    );
    // And the diffs lead to what a fresh watch of the cluster shows. The relist after the
    // lost history arrives kind by kind, so the last diffs may still be on their way when
    // the changes above have arrived: follow them until the two agree (or time out).
    let (mut fresh_rx, _fresh) = watch(&f).await;
    let mut fresh = MeshSnapshot::default();
    follow_until(&mut fresh_rx, &mut fresh, "a fresh picture", |s| {
        !s.nodes.is_empty()
    })
    .await;
    let want = normalized(&fresh);
    // (Shorter than follow_until's own limit, so a disagreement ends in the diff below.)
    let _ = tokio::time::timeout(
        Duration::from_secs(8),
        follow_until(&mut rx, &mut current, "the fresh picture", |s| {
            normalized(s) == want
        }),
    )
    .await;
    assert_eq!(normalized(&current), want);
}

/// Istio's own Bookinfo samples (1.30) applied with kubectl to a simulated cluster that has
/// only Istio installed. The samples are not part of this repository: point ISTIO_SAMPLES at
/// an Istio release's `samples/` folder (`bookinfo/platform/kube/bookinfo.yaml`,
/// `bookinfo/networking/...`) and run with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Istio's sample YAML: ISTIO_SAMPLES=<istio>/samples cargo test -p playground-tests --test mesh_watch -- --ignored"]
async fn the_model_of_istios_own_bookinfo_samples_is_right() {
    let samples = PathBuf::from(std::env::var("ISTIO_SAMPLES").expect("ISTIO_SAMPLES"));
    let f = SimFixture::start(SimOptions {
        ready_delay: Duration::from_millis(100),
        latency: false,
        ..SimOptions::default()
    })
    .await;
    playground_sim::test_support::install_istio(f.sim.store()).unwrap();
    kubectl(
        &f,
        &["label", "namespace", "default", "istio-injection=enabled"],
        None,
    );
    for file in [
        "bookinfo/platform/kube/bookinfo.yaml",
        "bookinfo/networking/bookinfo-gateway.yaml",
        "bookinfo/networking/destination-rule-all.yaml",
        "bookinfo/networking/virtual-service-reviews-80-20.yaml",
    ] {
        let path = samples.join(file);
        kubectl(&f, &["apply", "-f", path.to_str().unwrap()], None);
    }
    let (mut rx, _watch) = watch(&f).await;
    let mut current = MeshSnapshot::default();
    follow_until(&mut rx, &mut current, "Istio's Bookinfo settled", |s| {
        settled(s) && route_weights(s, "vs/default/reviews").len() == 2
    })
    .await;
    assert_eq!(
        route_weights(&current, "vs/default/reviews"),
        [
            ("subset/default/reviews/v1".into(), 80),
            ("subset/default/reviews/v2".into(), 20),
        ]
    );
    assert_request_chain(&current);
    assert!(has_edge(
        &current,
        EdgeKind::Selects,
        "subset/default/reviews/v3",
        "wl/default/reviews-v3"
    ));
    // destination-rule-all.yaml defines subsets with no pods in bookinfo.yaml (ratings v2,
    // v2-mysql, v2-mysql-vm and details v2): nothing routes there, so they are warnings.
    let mut findings: Vec<(String, String)> = current
        .nodes
        .iter()
        .flat_map(|n| {
            n.validations.iter().map(move |v| {
                let code = serde_json::to_value(&v.finding).unwrap()["code"].clone();
                (n.id.clone(), code.as_str().unwrap().to_owned())
            })
        })
        .collect();
    findings.sort();
    assert_eq!(
        findings,
        [
            (
                "subset/default/details/v2".to_string(),
                "subset-selects-no-pods".to_string()
            ),
            (
                "subset/default/ratings/v2".into(),
                "subset-selects-no-pods".into()
            ),
            (
                "subset/default/ratings/v2-mysql".into(),
                "subset-selects-no-pods".into()
            ),
            (
                "subset/default/ratings/v2-mysql-vm".into(),
                "subset-selects-no-pods".into()
            ),
        ]
    );
    let pods: Vec<_> = current
        .nodes
        .iter()
        .filter(|n| n.id.starts_with("pod/default/"))
        .collect();
    assert_eq!(pods.len(), 6);
    assert!(pods.iter().all(|p| p.sidecar == Some(Sidecar::Ready)));
}
