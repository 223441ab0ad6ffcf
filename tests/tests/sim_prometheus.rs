//! The simulated Prometheus, reached the way `kubectl get --raw` and `kubectl proxy` reach the
//! real addon: through the API server's service proxy, with Prometheus's JSON in and out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Config};
use playground_sim::{SIM_CONTEXT, Scenario, SimCluster, SimOptions};
use serde_json::{Value, json};

const PROXY: &str = "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy";

struct Env {
    cluster: SimCluster,
    client: Client,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn bookinfo() -> Env {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(50),
        seed: Some(7),
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig, SIM_CONTEXT).unwrap();
    // kube's client retries 503s for minutes by default; these tests want to see them.
    let mut config = Config::new(cluster.api_url().parse().unwrap());
    config.default_retry = false;
    let client = Client::try_from(config).unwrap();
    // Until the product page answers and Prometheus has an endpoint.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = reqwest::get(format!("{}/productpage", cluster.ingress_url()))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        let ready = client
            .request_text(
                http::Request::get(format!("{PROXY}/-/ready"))
                    .body(vec![])
                    .unwrap(),
            )
            .await
            .is_ok();
        if page == 200 && ready {
            break;
        }
        assert!(Instant::now() < deadline, "bookinfo never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Env {
        cluster,
        client,
        dir,
        kubeconfig,
    }
}

fn kubectl(env: &Env, args: &[&str]) -> (bool, String, String) {
    let run = playground_tests::kubectl_run(&env.kubeconfig, env.dir.path(), args);
    (run.code == Some(0), run.stdout, run.stderr)
}

fn encode(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

async fn send_requests(env: &Env, n: usize) {
    let http = reqwest::Client::new();
    let url = format!("{}/productpage", env.cluster.ingress_url());
    for _ in 0..n {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// Lets the next one-second scrape of the simulated Prometheus happen.
async fn next_scrape() {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_raw_reads_request_counts_per_edge() {
    let env = bookinfo().await;
    send_requests(&env, 20).await;
    next_scrape().await;
    let query = r#"sum by (source_workload, destination_workload) (istio_requests_total{reporter="destination", destination_service_name="details"})"#;
    let (ok, out, err) = kubectl(
        &env,
        &[
            "get",
            "--raw",
            &format!("{PROXY}/api/v1/query?query={}", encode(query)),
        ],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{out}");
    assert_eq!(
        result[0]["metric"],
        json!({"source_workload": "productpage-v1", "destination_workload": "details-v1"})
    );
    // The readiness loop sent some requests of its own before these 20.
    let count: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(count >= 20.0, "{out}");
    assert!(result[0]["value"][0].is_number());

    // The ingress gateway reports its requests to productpage as the source.
    let q = r#"sum(istio_requests_total{reporter="source",source_workload="istio-ingressgateway",destination_service_name="productpage",response_code="200"})"#;
    let (ok, out, _) = kubectl(
        &env,
        &[
            "get",
            "--raw",
            &format!(
                "/api/v1/namespaces/istio-system/services/http:prometheus:9090/proxy/api/v1/query?query={}",
                encode(q)
            ),
        ],
    );
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    let n: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 20.0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rates_quantiles_and_range_queries_answer_in_prometheus_json() {
    let env = bookinfo().await;
    for _ in 0..3 {
        send_requests(&env, 10).await;
        next_scrape().await;
    }
    let get = |path: String| {
        let client = env.client.clone();
        async move {
            let text = client
                .request_text(http::Request::get(path).body(vec![]).unwrap())
                .await
                .unwrap();
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let rate = get(format!(
        "{PROXY}/api/v1/query?query={}",
        encode(
            r#"sum by (destination_service_name) (rate(istio_requests_total{reporter="source",destination_service_name="reviews"}[10s])) > 0"#
        )
    ))
    .await;
    let r: f64 = rate["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(r > 0.5, "{rate}");
    let p95 = get(format!(
        "{PROXY}/api/v1/query?query={}",
        encode(
            r#"histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_name="productpage"}[30s])))"#
        )
    ))
    .await;
    let ms: f64 = p95["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The simulated hops take a few milliseconds each; productpage waits for three of them.
    assert!(ms > 1.0 && ms < 100.0, "{p95}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let range = get(format!(
        "{PROXY}/api/v1/query_range?query={}&start={}&end={}&step=1s",
        encode(r#"sum(rate(istio_requests_total{reporter="source"}[5s]))"#),
        now - 5.0,
        now
    ))
    .await;
    assert_eq!(range["data"]["resultType"], "matrix");
    let values = range["data"]["result"][0]["values"].as_array().unwrap();
    // One point a second up to the end; the first steps may fall before the simulated
    // cluster's first scrape, when the series did not exist yet.
    assert!(values.len() >= 3 && values.len() <= 6, "{range}");
    let times: Vec<f64> = values.iter().map(|p| p[0].as_f64().unwrap()).collect();
    assert!((times[times.len() - 1] - now).abs() < 0.001, "{range}");
    assert!(times.windows(2).all(|w| (w[1] - w[0] - 1.0).abs() < 0.001));
    assert!(values.iter().all(|p| p[1].is_string()));

    // POST with a form body works as well, as Grafana and Kiali send it.
    let text = env
        .client
        .request_text(
            http::Request::post(format!("{PROXY}/api/v1/query"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("query={}", encode("time()")).into_bytes())
                .unwrap(),
        )
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"]["resultType"], "scalar");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_queries_get_prometheus_errors() {
    let env = bookinfo().await;
    let raw = |q: &str| {
        kubectl(
            &env,
            &[
                "get",
                "--raw",
                &format!("{PROXY}/api/v1/query?query={}", encode(q)),
            ],
        )
    };
    // kubectl shows only the status code's reason for a body that is not a Status, as it
    // does with a real Prometheus.
    let (ok, out, err) = raw("sum(rate(istio_requests_total[1m]");
    assert!(!ok, "{out}");
    assert!(err.contains("BadRequest"), "{err}");
    let (ok, _, err) = raw("topk(3, istio_requests_total)");
    assert!(!ok);
    assert!(err.contains("The request is invalid"), "{err}");
    // Through the kube client, the status codes are Prometheus's: 400 and 422.
    let code = |q: &str| {
        let client = env.client.clone();
        let path = format!("{PROXY}/api/v1/query?query={}", encode(q));
        async move {
            match client
                .request_text(http::Request::get(path).body(vec![]).unwrap())
                .await
            {
                Err(kube::Error::Api(s)) => (s.code, s.message),
                other => panic!("{other:?}"),
            }
        }
    };
    let (c, body) = code("rate(").await;
    assert_eq!(c, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");
    let (c, body) = code("absent(istio_requests_total)").await;
    assert_eq!(c, 422);
    assert!(body.contains("absent"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_fails_like_an_api_server_without_prometheus() {
    let env = bookinfo().await;
    // A service with endpoints but nothing simulated behind it.
    let (ok, _, err) = kubectl(
        &env,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/istio-system/services/grafana:3000/proxy/api/health",
        ],
    );
    assert!(!ok);
    assert!(err.contains("error trying to reach service"), "{err}");
    // A port the service does not have.
    let (ok, _, err) = kubectl(
        &env,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/istio-system/services/prometheus:9999/proxy/-/ready",
        ],
    );
    assert!(!ok);
    assert!(err.contains("no service port"), "{err}");

    // No ready pod behind the service: 503, no endpoints.
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
        let r = env
            .client
            .request_text(
                http::Request::get(format!("{PROXY}/-/ready"))
                    .body(vec![])
                    .unwrap(),
            )
            .await;
        match r {
            Err(kube::Error::Api(s)) => break s,
            Ok(_) => {
                assert!(Instant::now() < deadline, "prometheus never went away");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(err.code, 503);
    assert_eq!(err.reason, "ServiceUnavailable");
    assert!(err.message.contains("no endpoints available"), "{err:?}");

    // Without the Service: 404 NotFound.
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(env.client.clone(), "istio-system");
    services
        .delete("prometheus", &DeleteParams::default())
        .await
        .unwrap();
    let (ok, _, err) = kubectl(&env, &["get", "--raw", &format!("{PROXY}/-/ready")]);
    assert!(!ok);
    assert!(err.contains("services \"prometheus\" not found"), "{err}");
}

/// The value of a one-sample instant query, 0 when there is no sample.
async fn count(env: &Env, query: &str) -> f64 {
    let text = env
        .client
        .request_text(
            http::Request::get(format!("{PROXY}/api/v1/query?query={}", encode(query)))
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .map(|s| s.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_from_inside_a_pod_is_counted_by_the_proxies_that_see_it() {
    let env = bookinfo().await;
    // Through ratings' sidecar: both proxies report, over mutual TLS.
    let (ok, out, err) = kubectl(
        &env,
        &[
            "exec",
            "deploy/ratings-v1",
            "-c",
            "ratings",
            "--",
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "details:9080/details/0",
        ],
    );
    assert!(ok && out == "200", "{out} {err}");
    // From the istio-proxy container itself, whose traffic its sidecar does not capture:
    // only details' sidecar sees it, as plain text from an unknown client.
    let (ok, out, err) = kubectl(
        &env,
        &[
            "exec",
            "deploy/ratings-v1",
            "-c",
            "istio-proxy",
            "--",
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "details:9080/details/0",
        ],
    );
    assert!(ok && out == "200", "{out} {err}");
    next_scrape().await;
    let sel = r#"destination_workload="details-v1",response_code="200""#;
    assert_eq!(
        count(&env, &format!(r#"sum(istio_requests_total{{reporter="source",source_workload="ratings-v1",{sel}}})"#)).await,
        1.0
    );
    assert_eq!(
        count(&env, &format!(r#"sum(istio_requests_total{{reporter="destination",source_workload="ratings-v1",connection_security_policy="mutual_tls",{sel}}})"#)).await,
        1.0
    );
    assert_eq!(
        count(&env, &format!(r#"sum(istio_requests_total{{reporter="destination",source_workload="unknown",connection_security_policy="none",{sel}}})"#)).await,
        1.0
    );
}
