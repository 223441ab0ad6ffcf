//! The app's telemetry against the simulated cluster: traffic sent through the simulated
//! ingress shows up as per-edge figures read from the simulated Prometheus, through the API
//! server's service proxy, exactly as they would be read from a real one.

use std::time::{Duration, Instant, SystemTime};

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube::{Client, Config};
use playground::telemetry::{
    self, Prometheus, Reporter, TelemetryError, TelemetryUpdate, TimeRange, TrafficSnapshot,
    WatchOptions,
};
use playground::traffic::{self, TrafficSettings};
use playground_sim::{Scenario, SimCluster, SimOptions};
use serde_json::{Value, json};

struct Env {
    cluster: SimCluster,
    client: Client,
    prom: Prometheus,
}

async fn bookinfo(seed: u64) -> Env {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(50),
        seed: Some(seed),
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let config = Config::new(cluster.api_url().parse().unwrap());
    let client = Client::try_from(config.clone()).unwrap();
    let prom = Prometheus::from_config(config).unwrap();
    // Until every Bookinfo pod (and Prometheus) is ready: the product page names a
    // reviews pod and Prometheus answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pods = cluster
            .store()
            .all("", "pods")
            .iter()
            .filter(|p| p.pointer("/status/podIP").is_some())
            .count();
        let prom_ok = prom.query("time()", SystemTime::now()).await.is_ok();
        if pods >= 14 && prom_ok {
            break;
        }
        assert!(Instant::now() < deadline, "bookinfo never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Env {
        cluster,
        client,
        prom,
    }
}

async fn apply(client: &Client, obj: Value) {
    let kind = obj["kind"].as_str().unwrap();
    let (group, version) = obj["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    let plural = format!("{}s", kind.to_lowercase());
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(
        &name,
        &PatchParams::apply("telemetry-test").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap();
}

async fn split_reviews(client: &Client, weights: [u32; 3]) {
    apply(
        client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "reviews"},
            "spec": {"host": "reviews", "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
                {"name": "v3", "labels": {"version": "v3"}}
            ]}}),
    )
    .await;
    apply(
        client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews"},
            "spec": {"hosts": ["reviews"], "http": [{"route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": weights[0]},
                {"destination": {"host": "reviews", "subset": "v2"}, "weight": weights[1]},
                {"destination": {"host": "reviews", "subset": "v3"}, "weight": weights[2]}
            ]}]}}),
    )
    .await;
}

/// Sends `n` requests with the app's own traffic generator and waits for them: at most 250
/// a second, and as long as it takes a busy machine to answer `n` (a fixed duration left
/// too few when parallel builds slowed the simulated data plane down).
async fn generate(env: &Env, n: u32) {
    let completed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = completed.clone();
    let run = traffic::start(
        &env.cluster.ingress_url(),
        TrafficSettings {
            rate: f64::from(n.min(250)),
            concurrency: 32,
            duration_secs: None,
            user: None,
            user_share: None,
        },
        move |s| count.store(s.completed, std::sync::atomic::Ordering::Relaxed),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while completed.load(std::sync::atomic::Ordering::Relaxed) < u64::from(n) {
        assert!(Instant::now() < deadline, "{n} requests took over a minute");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.stop();
    let stats = run.finish().await;
    assert!(stats.completed >= u64::from(n), "{stats:?}");
    assert_eq!(stats.statuses.get("200"), Some(&stats.completed));
}

/// Lets the simulated Prometheus's next one-second scrape happen.
async fn next_scrape() {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

async fn read(env: &Env) -> TrafficSnapshot {
    telemetry::read_traffic(&env.prom, Duration::from_secs(30), SystemTime::now())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_30_10_split_shows_on_the_reviews_edges() {
    let env = bookinfo(60).await;
    split_reviews(&env.client, [60, 30, 10]).await;
    generate(&env, 1_000).await;
    next_scrape().await;
    let snap = read(&env).await;

    let reviews = snap
        .services
        .iter()
        .find(|s| s.service.name == "reviews")
        .expect("reviews traffic");
    let share = |v: &str| {
        reviews
            .versions
            .iter()
            .find(|x| x.version == v)
            .map(|x| x.share * 100.0)
            .unwrap_or(0.0)
    };
    for (v, want) in [("v1", 60.0), ("v2", 30.0), ("v3", 10.0)] {
        let got = share(v);
        assert!(
            (got - want).abs() <= 5.0,
            "{v}: {got:.1}% seen, {want}% set"
        );
    }
    assert_eq!(reviews.error_share, 0.0);
    assert_eq!(reviews.unrouted_per_second, 0.0);

    // The ingress gateway's requests to productpage, reported by the gateway itself.
    let ingress = snap
        .edges
        .iter()
        .find(|e| {
            e.source
                .as_ref()
                .is_some_and(|s| s.workload == "istio-ingressgateway")
        })
        .expect("ingress edge");
    assert_eq!(
        ingress.service.host,
        "productpage.default.svc.cluster.local"
    );
    assert_eq!(ingress.reporter, Reporter::Source);
    assert_eq!(ingress.source.as_ref().unwrap().namespace, "istio-system");
    let dest = ingress.destination.as_ref().unwrap();
    assert_eq!(
        (dest.workload.as_str(), dest.version.as_str()),
        ("productpage-v1", "v1")
    );
    assert!(ingress.requests_per_second > 0.0);
    assert_eq!(ingress.responses.len(), 1);
    assert_eq!(ingress.responses[0].code, 200);
    // Sidecars and the gateway talk mutual TLS to each other.
    assert_eq!(ingress.mtls_share, Some(1.0));
    let p50 = ingress.latency.p50_ms.expect("p50");
    let p99 = ingress.latency.p99_ms.expect("p99");
    assert!(p50 > 0.0 && p50 <= p99, "{:?}", ingress.latency);

    // Every hop of Bookinfo is an edge: productpage to details and to each reviews
    // version, reviews v2 and v3 to ratings.
    let has = |src: &str, dst: &str| {
        snap.edges.iter().any(|e| {
            e.source.as_ref().is_some_and(|s| s.workload == src)
                && e.destination.as_ref().is_some_and(|d| d.workload == dst)
                && e.mtls_share == Some(1.0)
        })
    };
    for (src, dst) in [
        ("productpage-v1", "details-v1"),
        ("productpage-v1", "reviews-v1"),
        ("productpage-v1", "reviews-v2"),
        ("productpage-v1", "reviews-v3"),
        ("reviews-v2", "ratings-v1"),
        ("reviews-v3", "ratings-v1"),
    ] {
        assert!(has(src, dst), "no edge {src} -> {dst}");
    }
    assert!(
        !has("reviews-v1", "ratings-v1"),
        "reviews v1 does not call ratings"
    );
    // Sorted, with deterministic ids.
    assert!(snap.edges.windows(2).all(|w| w[0].id < w[1].id));

    // The same split over time, from range queries.
    let now = SystemTime::now();
    let history = telemetry::service_history(
        &env.prom,
        "default",
        "reviews",
        TimeRange {
            start: now - Duration::from_secs(4),
            end: now,
            step: Duration::from_secs(1),
        },
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let last = history.points.last().expect("points");
    assert!(last.requests_per_second > 0.0);
    assert_eq!(last.versions.len(), 3);
    assert_eq!(last.error_share, Some(0.0));
    assert!(last.p95_ms.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_injected_abort_shows_as_errors_on_the_ratings_edges() {
    let env = bookinfo(500).await;
    apply(
        &env.client,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "ratings"},
            "spec": {"hosts": ["ratings"], "http": [{
                "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}},
                "route": [{"destination": {"host": "ratings"}}]
            }]}}),
    )
    .await;
    // The product page still answers 200 ("Ratings service is currently unavailable").
    generate(&env, 300).await;
    next_scrape().await;
    let snap = read(&env).await;
    let aborted: Vec<_> = snap
        .edges
        .iter()
        .filter(|e| e.service.name == "ratings")
        .collect();
    assert!(!aborted.is_empty());
    for e in &aborted {
        assert_eq!(e.destination, None, "{}", e.id);
        assert_eq!(e.error_share, 1.0, "{}", e.id);
        assert_eq!(e.responses[0].code, 500);
        assert_eq!(e.responses[0].flags, vec!["FI".to_string()]);
        assert_eq!(e.mtls_share, None, "no sidecar saw them arrive");
    }
    let sources: Vec<&str> = aborted
        .iter()
        .map(|e| e.source.as_ref().unwrap().workload.as_str())
        .collect();
    assert!(
        sources.contains(&"reviews-v2") && sources.contains(&"reviews-v3"),
        "{sources:?}"
    );
    let ratings = snap
        .services
        .iter()
        .find(|s| s.service.name == "ratings")
        .unwrap();
    assert_eq!(ratings.error_share, 1.0);
    assert!(ratings.versions.is_empty());
    assert!((ratings.unrouted_per_second - ratings.requests_per_second).abs() < 1e-9);
    // Upstream edges stay clean.
    for e in snap.edges.iter().filter(|e| e.service.name == "reviews") {
        assert_eq!(e.error_share, 0.0, "{}", e.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_poller_sends_live_figures_and_says_why_when_prometheus_fails() {
    let env = bookinfo(7).await;
    generate(&env, 50).await;
    next_scrape().await;
    let mut rx = telemetry::watch(
        env.prom.clone().with_timeout(Duration::from_millis(500)),
        WatchOptions {
            interval: Duration::from_millis(200),
            window: Duration::from_secs(10),
        },
    );
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let TelemetryUpdate::Live { snapshot } = first else {
        panic!("{first:?}");
    };
    assert!(!snapshot.edges.is_empty());

    // Slow: the simulated Prometheus answers after the client has given up.
    env.cluster.set_prometheus_delay(Duration::from_secs(2));
    let problem = loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            TelemetryUpdate::Unavailable { problem, .. } => break problem,
            TelemetryUpdate::Live { .. } => continue,
        }
    };
    assert_eq!(problem.code, playground::ErrorCode::TelemetrySlow);
    assert!(problem.hint.is_some());
    env.cluster.set_prometheus_delay(Duration::ZERO);
    drop(rx);

    // Still starting: the Service is there, its pod is not ready.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.client.clone(), "istio-system");
    deployments
        .patch(
            "prometheus",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match telemetry::read_traffic(&env.prom, Duration::from_secs(10), SystemTime::now()).await {
            Err(e) => break e,
            Ok(_) => {
                assert!(Instant::now() < deadline, "prometheus never stopped");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(matches!(err, TelemetryError::Starting { .. }), "{err:?}");
    assert!(err.to_string().contains("no endpoints available"), "{err}");

    // Missing: no Service at all.
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(env.client.clone(), "istio-system");
    services
        .delete("prometheus", &DeleteParams::default())
        .await
        .unwrap();
    let err = telemetry::read_traffic(&env.prom, Duration::from_secs(10), SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(err, TelemetryError::Missing { .. }), "{err:?}");
    assert_eq!(err.code(), "telemetry_missing");
    let app_err = playground::Error::from(err);
    assert_eq!(app_err.code(), "telemetry_missing");
    assert!(app_err.hint().unwrap().contains("addons"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_query_keeps_prometheus_error_type() {
    let env = bookinfo(8).await;
    match env.prom.query("quantile(0.5, up)", SystemTime::now()).await {
        Err(TelemetryError::Refused {
            error_type,
            message,
        }) => {
            assert_eq!(error_type, telemetry::PromErrorType::Execution);
            assert!(message.contains("simulated Prometheus"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match env.prom.query("sum(", SystemTime::now()).await {
        Err(TelemetryError::Refused { error_type, .. }) => {
            assert_eq!(error_type, telemetry::PromErrorType::BadData)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_without_sidecar_sends_plain_text_seen_only_by_the_destination() {
    let env = bookinfo(9).await;
    // Injection off, productpage recreated: it runs without a sidecar.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    namespaces
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"istio-injection": "disabled"}}})),
        )
        .await
        .unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client.clone(), "default");
    let old = pods
        .list(&kube::api::ListParams::default().labels("app=productpage"))
        .await
        .unwrap()
        .items;
    for p in &old {
        pods.delete(
            p.metadata.name.as_deref().unwrap(),
            &DeleteParams::default(),
        )
        .await
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = pods
            .list(&kube::api::ListParams::default().labels("app=productpage"))
            .await
            .unwrap()
            .items;
        let plain_and_ready = now.len() == 1
            && now[0]
                .metadata
                .annotations
                .as_ref()
                .is_none_or(|a| !a.contains_key("sidecar.istio.io/status"))
            && now[0]
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if plain_and_ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "productpage never came back without a sidecar"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    generate(&env, 100).await;
    next_scrape().await;
    let snap = read(&env).await;
    // productpage reports nothing; details' sidecar saw plain text from an unknown client.
    let to_details = snap
        .edges
        .iter()
        .find(|e| e.service.name == "details")
        .expect("details edge");
    assert_eq!(to_details.source, None);
    assert_eq!(to_details.reporter, Reporter::Destination);
    assert_eq!(to_details.mtls_share, Some(0.0));
    assert!(
        !snap.edges.iter().any(|e| e
            .source
            .as_ref()
            .is_some_and(|s| s.workload == "productpage-v1")),
        "a workload without sidecar reports no requests"
    );
    // The gateway still reports its requests; no sidecar received them.
    let ingress = snap
        .edges
        .iter()
        .find(|e| e.service.name == "productpage")
        .unwrap();
    assert_eq!(ingress.reporter, Reporter::Source);
    assert_eq!(ingress.mtls_share, None);
}
