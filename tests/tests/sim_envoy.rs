//! The simulated data plane against Istio's security and resilience tasks: what a client
//! sees (curl's exit code and status, Envoy's answers) and what the proxies report to the
//! simulated Prometheus, as a real mesh would give them.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use kube::Config;
use playground::telemetry::Prometheus;
use playground_sim::{SIM_CONTEXT, Scenario, SimCluster, SimOptions};

struct Env {
    cluster: SimCluster,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn env(latency: bool) -> Env {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(100),
        seed: Some(11),
        latency,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig, SIM_CONTEXT).unwrap();
    let e = Env {
        cluster,
        dir,
        kubeconfig,
    };
    until(&e, &["get", "pods", "-n", "default"], |o| {
        o.lines().count() > 6 && !o.contains("Pending") && !o.contains("0/2")
    })
    .await;
    e
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn kubectl(env: &Env, args: &[&str]) -> Run {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .env("HOME", env.dir.path())
        .env("KUBECACHEDIR", env.dir.path().join("cache"))
        .output()
        .expect("kubectl runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
    reqwest::get(format!("{}/productpage", env.cluster.ingress_url()))
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
    let prom = Prometheus::from_config(Config::new(e.cluster.api_url().parse().unwrap())).unwrap();
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
