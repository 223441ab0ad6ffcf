//! The simulated data plane against Istio's security and resilience tasks: what a client
//! sees (curl's exit code and status, Envoy's answers) and what the proxies report to the
//! simulated Prometheus, as a real mesh would give them.

use std::time::{Duration, SystemTime};

use kube::Config;
use playground::telemetry::Prometheus;
use playground_sim::{Scenario, SimOptions};
use playground_tests::KubectlRun as Run;

type Env = playground_tests::SimFixture;

async fn env(latency: bool) -> Env {
    let e = Env::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(100),
        seed: Some(11),
        latency,
        ..Default::default()
    })
    .await;
    until(&e, &["get", "pods", "-n", "default"], |o| {
        o.lines().count() > 6 && !o.contains("Pending") && !o.contains("0/2")
    })
    .await;
    e
}

fn kubectl(env: &Env, args: &[&str]) -> Run {
    playground_tests::kubectl_run(&env.kubeconfig, env.dir.path(), args)
}

fn apply(env: &Env, yaml: &str) {
    let file = env.dir.path().join("apply.yaml");
    std::fs::write(&file, yaml).unwrap();
    let r = kubectl(env, &["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// Until `kubectl ARGS` prints something `ok` accepts.
async fn until(env: &Env, args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = kubectl(env, args);
        if ok(&r.stdout) {
            return r.stdout;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{args:?}: {}{}",
            r.stdout,
            r.stderr
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Istio's mTLS-migration client: a curl pod in `legacy`, a namespace without injection.
async fn legacy_client(env: &Env) {
    let r = kubectl(env, &["create", "namespace", "legacy"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = kubectl(
        env,
        &[
            "run",
            "curl",
            "-n",
            "legacy",
            "--image=curlimages/curl",
            "--",
            "sleep",
            "infinity",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    until(env, &["get", "pod", "curl", "-n", "legacy"], |o| {
        o.contains("1/1") && o.contains("Running")
    })
    .await;
}

/// curl's `%{http_code}` and exit code for `url` from a pod's container.
fn curl_code(env: &Env, ns: &str, target: &str, container: &str, url: &str) -> Run {
    kubectl(
        env,
        &[
            "exec",
            target,
            "-n",
            ns,
            "-c",
            container,
            "--",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ],
    )
}

async fn ingress_status(env: &Env) -> u16 {
    reqwest::get(format!("{}/productpage", env.sim.ingress_url()))
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn peer_authentication(ns: &str, selector: Option<&str>, mode: &str) -> String {
    let selector = selector
        .map(|app| format!("  selector:\n    matchLabels:\n      app: {app}\n"))
        .unwrap_or_default();
    let name = if selector.is_empty() {
        "default"
    } else {
        "workload"
    };
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{selector}  mtls:\n    mode: {mode}\n"
    )
}

const PRODUCTPAGE: &str = "http://productpage.default:9080/productpage";

#[tokio::test(flavor = "multi_thread")]
async fn strict_refuses_the_plain_text_client_and_the_mesh_keeps_working() {
    let e = env(false).await;
    legacy_client(&e).await;
    let plain = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!((plain.code, plain.stdout.as_str()), (Some(0), "200"));

    apply(&e, &peer_authentication("default", None, "STRICT"));
    let plain = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!(
        (plain.code, plain.stdout.as_str()),
        (Some(56), "000"),
        "{}",
        plain.stderr
    );
    assert!(
        plain
            .stderr
            .contains("curl: (56) Recv failure: Connection reset by peer"),
        "{}",
        plain.stderr
    );
    let meshed = curl_code(&e, "default", "deploy/ratings-v1", "ratings", PRODUCTPAGE);
    assert_eq!(
        (meshed.code, meshed.stdout.as_str()),
        (Some(0), "200"),
        "{}",
        meshed.stderr
    );
    assert_eq!(ingress_status(&e).await, 200);

    // A workload policy wins over the namespace's.
    apply(
        &e,
        &peer_authentication("default", Some("productpage"), "PERMISSIVE"),
    );
    let plain = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!((plain.code, plain.stdout.as_str()), (Some(0), "200"));
    let details = curl_code(
        &e,
        "legacy",
        "curl",
        "curl",
        "http://details.default:9080/details/0",
    );
    assert_eq!(details.code, Some(56), "details is still STRICT");
    let r = kubectl(&e, &["delete", "peerauthentication", "workload"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    // PERMISSIVE takes plain text again.
    apply(&e, &peer_authentication("default", None, "PERMISSIVE"));
    let plain = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!((plain.code, plain.stdout.as_str()), (Some(0), "200"));

    // The namespace's PERMISSIVE wins over the mesh's STRICT; without it, the mesh's holds.
    apply(&e, &peer_authentication("istio-system", None, "STRICT"));
    let plain = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!(plain.code, Some(0));
    let r = kubectl(&e, &["delete", "peerauthentication", "default"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let plain = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!(plain.code, Some(56));
    assert_eq!(ingress_status(&e).await, 200);
}

/// `sum by (connection_security_policy)` of what destination sidecars counted for `service`.
async fn policies(prom: &Prometheus, service: &str) -> Vec<(String, f64)> {
    let q = format!(
        "sum by (connection_security_policy) (istio_requests_total{{reporter=\"destination\",destination_service_name=\"{service}\"}})"
    );
    let mut v: Vec<(String, f64)> = prom
        .query(&q, SystemTime::now())
        .await
        .unwrap()
        .into_vector()
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.labels
                    .get("connection_security_policy")
                    .cloned()
                    .unwrap_or_default(),
                s.value,
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn destination_metrics_tell_mutual_tls_from_plain_text() {
    let e = env(false).await;
    let prom = Prometheus::from_config(Config::new(e.sim.api_url().parse().unwrap())).unwrap();
    legacy_client(&e).await;
    // details takes plain text only: its callers' sidecars send it plain text.
    apply(
        &e,
        &peer_authentication("default", Some("details"), "DISABLE"),
    );
    for _ in 0..3 {
        assert_eq!(ingress_status(&e).await, 200);
    }
    apply(&e, &peer_authentication("default", None, "STRICT"));
    let refused = curl_code(&e, "legacy", "curl", "curl", PRODUCTPAGE);
    assert_eq!(refused.code, Some(56));
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let reviews = policies(&prom, "reviews").await;
    assert_eq!(reviews, vec![("mutual_tls".to_string(), 3.0)]);
    let details = policies(&prom, "details").await;
    assert_eq!(details, vec![("none".to_string(), 3.0)]);
    // The refused plain-text connection never became an HTTP request at productpage.
    let productpage = policies(&prom, "productpage").await;
    assert_eq!(productpage, vec![("mutual_tls".to_string(), 3.0)]);
}

/// Runs the app's traffic generator against the ingress and returns its status counts.
async fn generate(
    env: &Env,
    rate: f64,
    concurrency: u32,
) -> std::collections::BTreeMap<String, u64> {
    let run = playground::traffic::start(
        &env.sim.ingress_url(),
        playground::traffic::TrafficSettings {
            rate,
            concurrency,
            duration_secs: Some(1.0),
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    run.finish().await.statuses
}

async fn flagged(prom: &Prometheus, reporter: &str, flag: &str) -> f64 {
    let q = format!(
        "sum(istio_requests_total{{reporter=\"{reporter}\",response_flags=\"{flag}\",response_code=\"503\"}})"
    );
    prom.query(&q, SystemTime::now())
        .await
        .unwrap()
        .into_vector()
        .unwrap()
        .first()
        .map(|s| s.value)
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breaker_of_one_connection_trips_concurrent_requests_only() {
    let e = env(true).await;
    let prom = Prometheus::from_config(Config::new(e.sim.api_url().parse().unwrap())).unwrap();
    // Istio's circuit-breaking task's DestinationRule, on productpage.
    apply(
        &e,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: productpage\nspec:\n  host: productpage\n  trafficPolicy:\n    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}\n    outlierDetection:\n      consecutive5xxErrors: 1\n      interval: 1s\n      baseEjectionTime: 3m\n      maxEjectionPercent: 100\n",
    );
    let sequential = generate(&e, 50.0, 1).await;
    assert_eq!(
        sequential.keys().collect::<Vec<_>>(),
        vec!["200"],
        "{sequential:?}"
    );

    let concurrent = generate(&e, 500.0, 3).await;
    eprintln!("concurrency 1: {sequential:?}; concurrency 3: {concurrent:?}");
    let tripped = concurrent.get("503").copied().unwrap_or(0);
    let served = concurrent.get("200").copied().unwrap_or(0);
    assert!(tripped > 0 && served > 0, "{concurrent:?}");
    assert_eq!(
        tripped + served,
        concurrent.values().sum::<u64>(),
        "{concurrent:?}"
    );

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let uo = flagged(&prom, "source", "UO").await;
    assert!(
        (uo - tripped as f64).abs() < 0.5,
        "{uo} UO against {tripped} 503s"
    );
    assert_eq!(
        flagged(&prom, "destination", "UO").await,
        0.0,
        "never reached productpage"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_failing_in_a_row_are_ejected_until_no_healthy_upstream() {
    let e = env(false).await;
    let prom = Prometheus::from_config(Config::new(e.sim.api_url().parse().unwrap())).unwrap();
    let r = kubectl(
        &e,
        &[
            "create",
            "deployment",
            "httpbin",
            "--image=docker.io/kong/httpbin:0.1.0",
            "--port=80",
            "--replicas=2",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = kubectl(
        &e,
        &[
            "expose",
            "deployment",
            "httpbin",
            "--port=8000",
            "--target-port=80",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    until(&e, &["get", "pods", "-l", "app=httpbin"], |o| {
        o.matches("2/2").count() == 2 && o.matches("Running").count() == 2
    })
    .await;
    apply(
        &e,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: httpbin\nspec:\n  host: httpbin\n  trafficPolicy:\n    outlierDetection:\n      consecutive5xxErrors: 1\n      interval: 1s\n      baseEjectionTime: 3m\n      maxEjectionPercent: 100\n",
    );
    let code = |path: &str| {
        let r = curl_code(
            &e,
            "default",
            "deploy/ratings-v1",
            "ratings",
            &format!("http://httpbin:8000{path}"),
        );
        r.stdout
    };
    assert_eq!(code("/get"), "200");
    // Each failing host is ejected after its first 5xx: two 500s, then nothing is left.
    assert_eq!(code("/status/500"), "500");
    assert_eq!(code("/status/500"), "500");
    assert_eq!(code("/get"), "503");
    let r = kubectl(
        &e,
        &[
            "exec",
            "deploy/ratings-v1",
            "-c",
            "ratings",
            "--",
            "curl",
            "-sS",
            "http://httpbin:8000/get",
        ],
    );
    assert_eq!(r.stdout, "no healthy upstream");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(flagged(&prom, "source", "UH").await, 2.0);
}

/// httpbin in `default` (injected), one pod, behind `httpbin:8000`.
async fn httpbin(env: &Env) {
    let r = kubectl(
        env,
        &[
            "create",
            "deployment",
            "httpbin",
            "--image=docker.io/kong/httpbin:0.1.0",
            "--port=80",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = kubectl(
        env,
        &[
            "expose",
            "deployment",
            "httpbin",
            "--port=8000",
            "--target-port=80",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    until(env, &["get", "pods", "-l", "app=httpbin"], |o| {
        o.contains("2/2") && o.contains("Running")
    })
    .await;
}

async fn count(prom: &Prometheus, selector: &str) -> f64 {
    prom.query(
        &format!("sum(istio_requests_total{{{selector}}})"),
        SystemTime::now(),
    )
    .await
    .unwrap()
    .into_vector()
    .unwrap()
    .first()
    .map(|s| s.value)
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_turn_a_flaky_upstream_into_successes_and_say_when_they_ran_out() {
    let e = env(false).await;
    let prom = Prometheus::from_config(Config::new(e.sim.api_url().parse().unwrap())).unwrap();
    httpbin(&e).await;
    let failures = |path: &str, n: usize| {
        (0..n)
            .filter(|_| {
                let r = curl_code(
                    &e,
                    "default",
                    "deploy/ratings-v1",
                    "ratings",
                    &format!("http://httpbin:8000{path}"),
                );
                r.stdout != "200"
            })
            .count()
    };
    // Half of httpbin's answers fail; no retries yet.
    let without = failures("/status/200,500", 30);
    assert!((7..=23).contains(&without), "{without} of 30 failed");

    apply(
        &e,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: httpbin\nspec:\n  hosts: [httpbin]\n  http:\n  - route:\n    - destination: {host: httpbin}\n    retries: {attempts: 3, retryOn: 5xx}\n",
    );
    let with = failures("/status/200,500", 30);
    eprintln!("/status/200,500: {without} of 30 failed without retries, {with} with three");
    assert!(with <= 6, "{with} of 30 failed with three retries");
    // Always failing: one request at the source, four tries at the destination, and URX.
    assert_eq!(failures("/status/500", 1), 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let urx_before_faults = count(&prom, "reporter=\"source\",response_flags=\"URX\"").await;
    // An injected abort is answered before the router, so the route's retries never see it
    // (istio/istio#13705): half the requests still fail.
    apply(
        &e,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: httpbin\nspec:\n  hosts: [httpbin]\n  http:\n  - fault:\n      abort: {httpStatus: 503, percentage: {value: 50}}\n    route:\n    - destination: {host: httpbin}\n    retries: {attempts: 3, retryOn: 5xx}\n",
    );
    let aborted = failures("/get", 30);
    eprintln!("50 % abort with three retries: {aborted} of 30 failed");
    assert!((7..=23).contains(&aborted), "{aborted} of 30 failed");
    assert_eq!(urx_before_faults, (with + 1) as f64);
    let tried = count(
        &prom,
        "reporter=\"destination\",destination_service_name=\"httpbin\",response_code=\"500\"",
    )
    .await;
    let sent_500 = count(
        &prom,
        "reporter=\"source\",destination_service_name=\"httpbin\",response_code=\"500\"",
    )
    .await;
    assert_eq!(sent_500, (without + with + 1) as f64);
    assert!(
        tried >= (without + 4 * (with + 1)) as f64,
        "{tried} 500s at httpbin"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn istio_request_timeouts_task_answers_in_about_a_second() {
    let e = env(false).await;
    apply(
        &e,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v2}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: ratings\nspec:\n  hosts: [ratings]\n  http:\n  - fault:\n      delay: {percentage: {value: 100}, fixedDelay: 2s}\n    route:\n    - destination: {host: ratings}\n",
    );
    let page = |e: &Env| {
        let url = format!("{}/productpage", e.sim.ingress_url());
        async move {
            let t = std::time::Instant::now();
            let body = reqwest::get(url).await.unwrap().text().await.unwrap();
            (t.elapsed(), body)
        }
    };
    let (took, body) = page(&e).await;
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(body.contains("<u>reviews-v2-"), "{body}");

    apply(
        &e,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v2}\n    timeout: 0.5s\n",
    );
    let (took, body) = page(&e).await;
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(1_600),
        "{took:?}"
    );
    assert!(
        body.contains("Sorry, product reviews are currently unavailable for this book."),
        "{body}"
    );
}
