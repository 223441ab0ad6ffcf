//! How long the app's telemetry takes against the simulated cluster: while Bookinfo serves
//! steady traffic, one instant query and one whole refresh (five queries at once, parsed and
//! assembled); and for the traffic of a mesh of 200 services, the simulated Prometheus
//! answering the graph's five queries. Measurements, not checks: run with
//! `cargo test -p playground-tests --test telemetry_bench -- --ignored --nocapture`
//! (add `--release` for optimised figures). The app's side of a refresh for that mesh
//! (parse, assemble, lay onto the model, serialize) is `cargo bench -p playground --bench
//! telemetry`.

use std::time::{Duration, Instant, SystemTime};

use kube::Config;
use playground::telemetry::{self, Prometheus, queries};
use playground::traffic::{self, TrafficSettings};
use playground_sim::{Scenario, SimOptions};

fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99), at(1.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn telemetry_refresh_at_bookinfo_traffic() {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(50),
        seed: Some(3),
        ..Default::default()
    })
    .await
    .unwrap();
    let prom = Prometheus::from_config(Config::new(cluster.api_url().parse().unwrap())).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rate = 50.0;
    let run = traffic::start(
        &cluster.ingress_url(),
        TrafficSettings {
            rate,
            concurrency: 16,
            duration_secs: None,
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    // A window's worth of traffic first.
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;

    let text = queries::requests(window);
    let mut single = vec![];
    let mut refresh = vec![];
    let mut edges = 0;
    for _ in 0..100 {
        let t = Instant::now();
        prom.query(&text, SystemTime::now()).await.unwrap();
        single.push(t.elapsed());
        let t = Instant::now();
        let snap = telemetry::read_traffic(&prom, window, SystemTime::now())
            .await
            .unwrap();
        refresh.push(t.elapsed());
        edges = snap.edges.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.stop();
    let stats = run.finish().await;
    let (s50, s99, smax) = percentiles(single);
    let (r50, r99, rmax) = percentiles(refresh);
    println!(
        "Bookinfo at {rate} requests/s ({} sent), {edges} edges, {window:?} window, 100 samples each:",
        stats.completed
    );
    println!(
        "  one instant query (requests per edge): p50 {s50:.1} ms, p99 {s99:.1} ms, max {smax:.1} ms"
    );
    println!(
        "  one refresh (5 queries + assembly):   p50 {r50:.1} ms, p99 {r99:.1} ms, max {rmax:.1} ms"
    );
}

/// A pod of the synthetic mesh as the API returns it: owned by its Deployment's ReplicaSet,
/// with a sidecar.
fn mesh_pod(ns: &str, app: &str, version: &str, i: usize) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "name": format!("{app}-{version}-7d9f8c-{i:05}"), "namespace": ns,
            "labels": {"app": app, "version": version, "pod-template-hash": "7d9f8c"},
            "annotations": {"sidecar.istio.io/status": "{}"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": format!("{app}-{version}-7d9f8c")}]
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": app}, {"name": "istio-proxy"}]},
        "status": {"podIP": format!("10.244.{}.{}", i / 250, i % 250)}
    })
}

/// The simulated Prometheus answering the graph's five queries for the traffic of a mesh of
/// 200 services (10 namespaces of 20; v1 and v2 of each): the ingress gateway calls the
/// first service of each namespace and every version of a service calls the next one, 90/10
/// to v1/v2, with a few 503s and one injected abort per namespace. Each workload's traffic
/// is reported by its first pod (the pod labels multiply the series; with all 2,000 pods
/// reporting, the simulation would hold about 300,000). A measurement: run with
/// `cargo test --release -p playground-tests --test telemetry_bench -- --ignored --nocapture graph_queries`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn graph_queries_for_200_services() {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(50),
        seed: Some(4),
        latency: false,
        ..Default::default()
    })
    .await
    .unwrap();
    // Debug builds need far longer than the app's 3 s for this mesh.
    let prom = Prometheus::from_config(Config::new(cluster.api_url().parse().unwrap()))
        .unwrap()
        .with_timeout(Duration::from_secs(60));
    let gateway = loop {
        let pods = cluster.store().all("", "pods");
        if let Some(p) = pods.iter().find(|p| {
            p.pointer("/metadata/namespace").and_then(|n| n.as_str()) == Some("istio-system")
                && p.pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| n.starts_with("istio-ingressgateway"))
                && p.pointer("/status/podIP").is_some()
        }) {
            break p.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut hops = Vec::new();
    for n in 0..10 {
        let ns = format!("team-{n}");
        for s in 0..20 {
            let app = format!("svc-{s}");
            let host = format!("{app}.{ns}.svc.cluster.local");
            let callers: Vec<serde_json::Value> = if s == 0 {
                vec![gateway.clone()]
            } else {
                ["v1", "v2"]
                    .iter()
                    .map(|v| mesh_pod(&ns, &format!("svc-{}", s - 1), v, 0))
                    .collect()
            };
            for caller in callers {
                for (version, count) in [("v1", 9), ("v2", 1)] {
                    let callee = mesh_pod(&ns, &app, version, 0);
                    for k in 0..count {
                        let code = if s % 5 == 1 && k == 0 { 503 } else { 200 };
                        hops.push((
                            caller.clone(),
                            host.clone(),
                            Some(callee.clone()),
                            code,
                            None,
                        ));
                    }
                }
                if s == 10 {
                    hops.push((caller.clone(), host.clone(), None, 500, Some("FI")));
                }
            }
        }
    }
    // A batch every second while the queries are timed, so every edge keeps a rate over
    // the window (three scrapes' worth before the first query).
    // On a thread of its own: recording is synchronous and must not hold up the runtime
    // that serves the simulated API.
    let cluster = std::sync::Arc::new(cluster);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder = {
        let (cluster, stop) = (cluster.clone(), stop.clone());
        let hops = hops.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (source, host, dest, code, flag) in &hops {
                    cluster.record_request(
                        source,
                        host,
                        dest.as_ref(),
                        *code,
                        *flag,
                        Duration::from_millis(12),
                    );
                }
                std::thread::sleep(Duration::from_millis(1_000));
            }
        })
    };
    let window = Duration::from_secs(10);
    // Until every edge has a rate (two scrapes that saw it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while telemetry::read_traffic(&prom, window, SystemTime::now())
        .await
        .unwrap()
        .edges
        .len()
        < 800
    {
        assert!(
            Instant::now() < deadline,
            "the synthetic traffic never showed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let texts = telemetry::traffic_queries(window);
    let names = ["requests", "mtls", "p50", "p95", "p99"];
    let mut single: Vec<Vec<Duration>> = vec![vec![]; 5];
    let mut refresh = vec![];
    let mut edges = 0;
    let runs = 10;
    for run in 0..runs {
        for (i, text) in texts.iter().enumerate() {
            let t = Instant::now();
            prom.query_body(text, SystemTime::now()).await.unwrap();
            single[i].push(t.elapsed());
        }
        let t = Instant::now();
        let snap = telemetry::read_traffic(&prom, window, SystemTime::now())
            .await
            .unwrap();
        refresh.push(t.elapsed());
        edges = snap.edges.len();
        eprintln!("run {run}: refresh {:?}, {edges} edges", refresh[run]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    recorder.join().unwrap();
    println!(
        "200 services, {} requests a scrape, {edges} edges, 10 s window, {runs} samples each, through the API server's proxy:",
        hops.len()
    );
    for (name, samples) in names.iter().zip(single) {
        let (p50, p99, max) = percentiles(samples);
        println!("  {name:>8} query: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
    }
    let (p50, p99, max) = percentiles(refresh);
    println!(
        "  one refresh (5 queries at once, parsed, assembled): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
    );
}
