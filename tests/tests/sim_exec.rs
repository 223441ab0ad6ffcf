//! `kubectl exec` and kube's websocket exec against the simulated cluster: curl from inside a
//! Bookinfo pod, routed by the mesh, and every other command refused.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams};
use playground_sim::{Scenario, SimOptions};
use playground_tests::KubectlRun as Run;
use tokio::io::AsyncReadExt;

type Env = playground_tests::SimFixture;

async fn env() -> Env {
    let e = Env::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(100),
        seed: Some(7),
        latency: false,
        ..Default::default()
    })
    .await;
    wait_running(&e).await;
    e
}

fn kubectl(env: &Env, args: &[&str]) -> Run {
    playground_tests::kubectl_run(&env.kubeconfig, env.dir.path(), args)
}

fn exec(env: &Env, cmd: &[&str]) -> Run {
    let mut args = vec!["exec", "deploy/ratings-v1", "-c", "ratings", "--"];
    args.extend_from_slice(cmd);
    kubectl(env, &args)
}

/// Until every pod in default runs (exec needs a running container).
async fn wait_running(env: &Env) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = kubectl(
            env,
            &[
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
            ],
        );
        let phases: Vec<&str> = r.stdout.lines().collect();
        if phases.len() >= 6 && phases.iter().all(|p| *p == "Running") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods not running: {}{}",
            r.stdout,
            r.stderr
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tutorial_curl_from_ratings_gets_the_product_page() {
    let e = env().await;
    let r = exec(&e, &["curl", "-sS", "productpage:9080/productpage"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("<title>Simple Bookstore App</title>"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.is_empty(), "-sS prints no meter: {}", r.stderr);

    let r = exec(
        &e,
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://productpage.default.svc.cluster.local:9080/productpage",
        ],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), "200"),
        "{}",
        r.stderr
    );

    let r = exec(
        &e,
        &[
            "sh",
            "-c",
            "curl -s productpage:9080/productpage | grep -o \"<title>.*</title>\"",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "<title>Simple Bookstore App</title>\n");

    // A path the application does not have: curl succeeds, the page says 404.
    let r = exec(
        &e,
        &[
            "curl",
            "-s",
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            "productpage:9080/nope",
        ],
    );
    assert_eq!(r.stdout, "404");
    let r = exec(&e, &["curl", "-sSf", "productpage:9080/nope"]);
    assert_eq!(r.code, Some(22));
    assert!(
        r.stderr
            .contains("curl: (22) The requested URL returned error: 404"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_fails_the_way_curl_does() {
    let e = env().await;
    let r = exec(&e, &["curl", "-sS", "http://nowhere:9080/"]);
    assert_eq!(r.code, Some(6), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("curl: (6) Could not resolve host: nowhere"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("command terminated with exit code 6"),
        "kubectl reports the exit: {}",
        r.stderr
    );
    // Silent without -S: nothing on stderr but kubectl's own line; -w still prints 000.
    let r = exec(&e, &["curl", "-s", "-w", "%{http_code}", "reviews:1234"]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(7), "000"));
    assert!(!r.stderr.contains("curl:"), "{}", r.stderr);
    // A name in another namespace only resolves with its namespace.
    let r = exec(&e, &["curl", "-sS", "istiod:15014/metrics"]);
    assert_eq!(r.code, Some(6), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_commands_are_refused_with_a_reason() {
    let e = env().await;
    for (cmd, shown) in [
        (vec!["ls", "-l"], "\"ls\""),
        (vec!["sh"], "\"sh\""),
        (
            vec!["sh", "-c", "curl -s productpage:9080 > /tmp/x"],
            "\"curl -s",
        ),
        (vec!["sh", "-c", "wget -qO- productpage:9080"], "\"wget\""),
    ] {
        let r = exec(&e, &cmd);
        assert!(
            matches!(r.code, Some(126) | Some(127)),
            "{cmd:?}: {:?} {}",
            r.code,
            r.stderr
        );
        assert!(
            r.stderr.contains(shown)
                && r.stderr.contains(
                    "not available in the simulated cluster (it runs curl and sh -c with curl only)"
                ),
            "{cmd:?}: {}",
            r.stderr
        );
    }
    let r = kubectl(
        &e,
        &["exec", "deploy/ratings-v1", "-c", "nope", "--", "curl", "x"],
    );
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr
            .contains("container nope is not valid for pod ratings-v1-"),
        "the API server's message, as kubectl shows it: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_refuses_before_the_upgrade_with_a_status() {
    let e = env().await;
    let pods = kubectl(&e, &["get", "pods", "-l", "app=ratings", "-o", "name"]);
    let pod = pods.stdout.trim().trim_start_matches("pod/").to_string();
    let http = reqwest::Client::new();
    let base = e.sim.api_url();
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
            .send()
    };
    let r = get(format!(
        "/api/v1/namespaces/default/pods/{pod}/exec?container=nope&command=ls&stdout=true"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let status: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(
        status["message"],
        format!("container nope is not valid for pod {pod}")
    );
    let r = get("/api/v1/namespaces/default/pods/gone/exec?command=ls".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!(
            "{base}/api/v1/namespaces/default/pods/{pod}/exec?container=ratings&command=ls"
        ))
        .header("Connection", "Upgrade")
        .header("Upgrade", "SPDY/3.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let status: serde_json::Value = r.json().await.unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("websockets only"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_exec_gets_the_same_output_and_status() {
    let e = env().await;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&e.kubeconfig).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let name = pods
        .list(&ListParams::default().labels("app=ratings"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let run = |cmd: Vec<&'static str>| {
        let pods = pods.clone();
        let name = name.clone();
        async move {
            let mut p = pods
                .exec(
                    &name,
                    cmd,
                    &AttachParams::default().container("ratings").stderr(true),
                )
                .await
                .expect("exec upgrades");
            let mut out = String::new();
            p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
            let mut err = String::new();
            p.stderr().unwrap().read_to_string(&mut err).await.unwrap();
            let status = p.take_status().unwrap().await.unwrap();
            (out, err, status)
        }
    };
    let (out, _, status) = run(vec!["curl", "-sS", "productpage:9080/productpage"]).await;
    assert!(out.contains("<title>Simple Bookstore App</title>"), "{out}");
    assert_eq!(status.status.as_deref(), Some("Success"));

    let (_, err, status) = run(vec!["curl", "-sS", "nowhere"]).await;
    assert!(
        err.contains("curl: (6) Could not resolve host: nowhere"),
        "{err}"
    );
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let causes = status.details.unwrap().causes.unwrap();
    assert_eq!(causes[0].reason.as_deref(), Some("ExitCode"));
    assert_eq!(causes[0].message.as_deref(), Some("6"));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_from_a_pod_follow_the_virtual_service() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let vs = dir.path().join("vs.yaml");
    std::fs::write(
        &vs,
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec:\n  host: reviews\n  subsets:\n  - name: v1\n    labels: {version: v1}\n  - name: v3\n    labels: {version: v3}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v3}\n",
    )
    .unwrap();
    let r = kubectl(&e, &["apply", "-f", vs.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for _ in 0..5 {
        let r = exec(&e, &["curl", "-sS", "http://reviews:9080/reviews/0"]);
        assert!(r.stdout.starts_with("reviews-v3"), "{}", r.stdout);
        let r = exec(&e, &["curl", "-sS", "productpage:9080/productpage"]);
        assert!(r.stdout.contains("<u>reviews-v3-"), "{}", r.stdout);
    }
}

/// Until `kubectl get ARGS` prints something `ok` accepts.
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

#[tokio::test(flavor = "multi_thread")]
async fn a_curl_client_outside_the_mesh_as_istio_tasks_make_it() {
    let e = env().await;
    let r = kubectl(&e, &["create", "namespace", "legacy"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = kubectl(&e, &["create", "namespace", "foo"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = kubectl(
        &e,
        &["label", "namespace", "foo", "istio-injection=enabled"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    let r = kubectl(
        &e,
        &[
            "create",
            "deployment",
            "httpbin",
            "--image=docker.io/kong/httpbin:0.1.0",
            "--port=80",
            "-n",
            "foo",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("deployment.apps/httpbin created"),
        "{}",
        r.stdout
    );
    let r = kubectl(
        &e,
        &["get", "deployment", "httpbin", "-n", "foo", "-o", "json"],
    );
    let d: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "httpbin");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "docker.io/kong/httpbin:0.1.0");
    assert_eq!(c["ports"][0]["containerPort"], 80);
    let pods = until(
        &e,
        &["get", "pods", "-n", "foo", "-l", "app=httpbin"],
        |o| o.contains("2/2") && o.contains("Running"),
    )
    .await;
    assert!(pods.contains("httpbin-"), "{pods}");
    let r = kubectl(
        &e,
        &[
            "expose",
            "deployment",
            "httpbin",
            "-n",
            "foo",
            "--port=8000",
            "--target-port=80",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    let r = kubectl(
        &e,
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
    until(&e, &["get", "pod", "curl", "-n", "legacy"], |o| {
        o.contains("1/1") && o.contains("Running")
    })
    .await;
    let r = kubectl(
        &e,
        &[
            "exec",
            "curl",
            "-n",
            "legacy",
            "-c",
            "curl",
            "--",
            "curl",
            "http://httpbin.foo:8000/ip",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\\n",
        ],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), "200\n"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_without_a_sidecar_is_not_routed_by_the_mesh() {
    let e = env().await;
    let r = kubectl(&e, &["create", "namespace", "legacy"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = kubectl(
        &e,
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
    until(&e, &["get", "pod", "curl", "-n", "legacy"], |o| {
        o.contains("Running")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let vs = dir.path().join("vs.yaml");
    std::fs::write(
        &vs,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\nspec:\n  hosts: [reviews]\n  http:\n  - fault:\n      abort: {httpStatus: 500, percentage: {value: 100}}\n    route:\n    - destination: {host: reviews}\n",
    )
    .unwrap();
    let r = kubectl(&e, &["apply", "-f", vs.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let code = |ns: &str, pod: &str, c: &str| {
        let r = kubectl(
            &e,
            &[
                "exec",
                pod,
                "-n",
                ns,
                "-c",
                c,
                "--",
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "http://reviews.default:9080/reviews/0",
            ],
        );
        r.stdout
    };
    let ratings = kubectl(&e, &["get", "pods", "-l", "app=ratings", "-o", "name"]).stdout;
    let ratings = ratings.trim();
    assert_eq!(
        code("default", ratings, "ratings"),
        "500",
        "the sidecar applies the fault"
    );
    assert_eq!(
        code("legacy", "curl", "curl"),
        "200",
        "no sidecar, no fault"
    );
    assert_eq!(
        code("default", ratings, "istio-proxy"),
        "200",
        "the proxy's own traffic is not intercepted"
    );
}
