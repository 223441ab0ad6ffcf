//! The real kubectl against the simulated cluster, through a kubeconfig it wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use playground_sim::{SIM_CONTEXT, Scenario, SimCluster, SimOptions};

struct Env {
    cluster: SimCluster,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn env(scenario: Option<Scenario>) -> Env {
    let cluster = playground_sim::start(SimOptions {
        scenario,
        ready_delay: Duration::from_millis(200),
        termination_delay: Duration::from_millis(300),
        seed: Some(42),
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig, SIM_CONTEXT).unwrap();
    Env {
        cluster,
        dir,
        kubeconfig,
    }
}

fn kubectl(env: &Env, args: &[&str]) -> (bool, String, String) {
    kubectl_in(&env.kubeconfig, env.dir.path(), args)
}

fn kubectl_in(kubeconfig: &Path, home: &Path, args: &[&str]) -> (bool, String, String) {
    let run = playground_tests::kubectl_run(kubeconfig, home, args);
    (run.code == Some(0), run.stdout, run.stderr)
}

fn fixture(name: &str) -> String {
    playground_tests::repo_root()
        .join("tests/fixtures/sim")
        .join(name)
        .display()
        .to_string()
}

/// Runs kubectl until `ok` accepts its stdout, or fails with the last output.
async fn kubectl_until(env: &Env, args: &[&str], what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, out, err) = kubectl(env, args);
        if ok(&out) {
            return out;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}; last output:\n{out}\n{err}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_pods_all_namespaces_shows_injected_bookinfo_ready() {
    let e = env(Some(Scenario::Bookinfo)).await;
    let out = kubectl_until(
        &e,
        &["get", "pods", "-A"],
        "reviews-v2 2/2 Running",
        |out| {
            out.lines().any(|l| {
                l.contains("reviews-v2-")
                    && l.split_whitespace().nth(2) == Some("2/2")
                    && l.split_whitespace().nth(3) == Some("Running")
            })
        },
    )
    .await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    for app in [
        "productpage-v1-",
        "details-v1-",
        "ratings-v1-",
        "reviews-v1-",
        "reviews-v3-",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("default") && l.contains(app)),
            "{app} missing:\n{out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("istio-system") && l.contains("istiod-")),
        "{out}"
    );

    let (ok, events, err) = kubectl(&e, &["get", "events"]);
    assert!(ok, "{err}");
    for reason in [
        "Scheduled",
        "Started",
        "SuccessfulCreate",
        "ScalingReplicaSet",
    ] {
        assert!(events.contains(reason), "{reason} missing:\n{events}");
    }
    let (ok, vs, err) = kubectl(&e, &["get", "virtualservices"]);
    assert!(ok, "{err}");
    let row: Vec<&str> = vs.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["bookinfo", "[\"bookinfo-gateway\"]", "[\"*\"]"]);
    let (ok, svc, _) = kubectl(
        &e,
        &["get", "svc", "istio-ingressgateway", "-n", "istio-system"],
    );
    assert!(
        ok && svc.contains("LoadBalancer") && svc.contains("80:"),
        "{svc}"
    );
    let (ok, all, err) = kubectl(&e, &["get", "all", "-A"]);
    assert!(ok, "{err}");
    assert!(
        all.contains("deployment.apps/reviews-v2") && all.contains("service/productpage"),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_multi_document_yaml_with_a_crd_then_its_custom_resource() {
    let e = env(None).await;
    let (ok, out, err) = kubectl(&e, &["apply", "-f", &fixture("shop.yaml")]);
    assert!(ok, "{out}\n{err}");
    for line in [
        "namespace/shop created",
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.playground.dev created",
        "serviceaccount/cart created",
        "service/cart created",
        "deployment.apps/cart-v1 created",
    ] {
        assert!(out.contains(line), "{line} missing:\n{out}");
    }
    let (ok, out, err) = kubectl(&e, &["apply", "-f", &fixture("widget.yaml")]);
    assert!(
        ok && out.contains("widget.example.playground.dev/sprocket created"),
        "{out}\n{err}"
    );
    let (ok, out, err) = kubectl(
        &e,
        &[
            "apply",
            "-f",
            &fixture("shop.yaml"),
            "-f",
            &fixture("widget.yaml"),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" unchanged")).count(),
        6,
        "{out}"
    );
    let (ok, out, _) = kubectl(&e, &["get", "wdg", "-n", "shop"]);
    assert!(ok);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["sprocket", "3"]);
    // A changed value goes through as a patch.
    let (ok, out, err) = kubectl(&e, &["apply", "-f", &fixture("widget-bigger.yaml")]);
    assert!(ok && out.contains("sprocket configured"), "{out}\n{err}");
    let (_, size, _) = kubectl(
        &e,
        &[
            "get",
            "widget",
            "sprocket",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.size}",
        ],
    );
    assert_eq!(size, "5");
    kubectl_until(
        &e,
        &["get", "pods", "-n", "shop"],
        "cart pods 2/2 Running",
        |out| {
            out.lines()
                .filter(|l| l.contains("cart-v1-") && l.contains("2/2") && l.contains("Running"))
                .count()
                == 2
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn label_rollout_restart_and_delete() {
    let e = env(None).await;
    let (ok, _, err) = kubectl(&e, &["apply", "-f", &fixture("shop.yaml")]);
    assert!(ok, "{err}");
    let before = kubectl_until(
        &e,
        &["get", "pods", "-n", "shop", "-o", "name"],
        "two pods",
        |o| o.lines().count() == 2,
    )
    .await;

    let (ok, out, err) = kubectl(
        &e,
        &[
            "label",
            "deployment",
            "cart-v1",
            "-n",
            "shop",
            "tier=backend",
        ],
    );
    assert!(
        ok && out.contains("deployment.apps/cart-v1 labeled"),
        "{out}{err}"
    );
    let (_, labels, _) = kubectl(
        &e,
        &[
            "get",
            "deployment",
            "cart-v1",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.labels.tier}",
        ],
    );
    assert_eq!(labels, "backend");
    let (ok, _, err) = kubectl(&e, &["label", "namespace", "shop", "istio-injection-"]);
    assert!(ok, "{err}");

    let (ok, out, err) = kubectl(
        &e,
        &["rollout", "restart", "deployment/cart-v1", "-n", "shop"],
    );
    assert!(
        ok && out.contains("deployment.apps/cart-v1 restarted"),
        "{out}{err}"
    );
    let (ok, out, err) = kubectl(
        &e,
        &[
            "rollout",
            "status",
            "deployment/cart-v1",
            "-n",
            "shop",
            "--timeout=20s",
        ],
    );
    assert!(ok && out.contains("successfully rolled out"), "{out}{err}");
    let after = kubectl_until(
        &e,
        &["get", "pods", "-n", "shop", "-o", "name"],
        "two new pods",
        |o| o.lines().count() == 2 && o.lines().all(|l| !before.contains(l)),
    )
    .await;
    assert_eq!(after.lines().count(), 2);
    // The namespace lost its injection label before the restart: the new pods have no sidecar.
    let (_, ready, _) = kubectl(&e, &["get", "pods", "-n", "shop"]);
    assert!(
        ready.lines().skip(1).all(|l| l.contains(" 1/1 ")),
        "{ready}"
    );
    let (_, rs, _) = kubectl(&e, &["get", "rs", "-n", "shop", "--no-headers"]);
    assert_eq!(rs.lines().count(), 2, "old and new ReplicaSet:\n{rs}");

    // Undo goes back to the first ReplicaSet (revision 1 becomes 3), as on a real cluster.
    let (ok, out, err) = kubectl(&e, &["rollout", "undo", "deployment/cart-v1", "-n", "shop"]);
    assert!(ok && out.contains("rolled back"), "{out}{err}");
    let (ok, out, err) = kubectl(
        &e,
        &[
            "rollout",
            "status",
            "deployment/cart-v1",
            "-n",
            "shop",
            "--timeout=20s",
        ],
    );
    assert!(ok, "{out}{err}");
    let (_, history, _) = kubectl(
        &e,
        &["rollout", "history", "deployment/cart-v1", "-n", "shop"],
    );
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    let (_, rs, _) = kubectl(&e, &["get", "rs", "-n", "shop", "--no-headers"]);
    assert_eq!(rs.lines().count(), 2, "{rs}");

    let (ok, out, err) = kubectl(
        &e,
        &[
            "scale",
            "deployment",
            "cart-v1",
            "-n",
            "shop",
            "--replicas=3",
        ],
    );
    assert!(
        ok && out.contains("deployment.apps/cart-v1 scaled"),
        "{out}{err}"
    );
    kubectl_until(
        &e,
        &["get", "deployment", "cart-v1", "-n", "shop", "--no-headers"],
        "3/3 ready",
        |o| o.split_whitespace().nth(1) == Some("3/3"),
    )
    .await;
    let (ok, out, err) = kubectl(&e, &["create", "namespace", "scratch"]);
    assert!(
        ok && out.contains("namespace/scratch created"),
        "{out}{err}"
    );
    let (ok, out, err) = kubectl(
        &e,
        &[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "scratch",
            "--from-literal=k=v",
        ],
    );
    assert!(ok && out.contains("secret/s created"), "{out}{err}");
    let (_, ty, _) = kubectl(
        &e,
        &[
            "get",
            "secret",
            "s",
            "-n",
            "scratch",
            "-o",
            "jsonpath={.type} {.data.k}",
        ],
    );
    assert_eq!(ty, "Opaque dg==");

    let (ok, out, err) = kubectl(&e, &["delete", "deployment", "cart-v1", "-n", "shop"]);
    assert!(
        ok && out.contains("deployment.apps \"cart-v1\" deleted"),
        "{out}{err}"
    );
    kubectl_until(
        &e,
        &["get", "pods,rs", "-n", "shop", "-o", "name"],
        "no pods or replicasets",
        |o| o.trim().is_empty(),
    )
    .await;
    let (ok, _, err) = kubectl(&e, &["delete", "deployment", "cart-v1", "-n", "shop"]);
    assert!(
        !ok && err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_streams_changes() {
    use std::io::BufRead;
    let e = env(None).await;
    let mut child = Command::new("kubectl")
        .args(["get", "configmaps", "-n", "default", "-w"])
        .env("KUBECONFIG", &e.kubeconfig)
        .env("HOME", e.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = vec![];
        while std::time::Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                if l.contains(needle) {
                    return l;
                }
                seen.push(l);
            }
        }
        panic!("no line with {needle}; saw {seen:?}");
    };
    wait_for("kube-root-ca.crt");
    let (ok, _, err) = kubectl(
        &e,
        &["create", "configmap", "watched", "--from-literal=a=1"],
    );
    assert!(ok, "{err}");
    let line = wait_for("watched");
    assert!(
        line.split_whitespace().nth(1) == Some("1"),
        "DATA column: {line}"
    );
    let (ok, _, err) = kubectl(&e, &["delete", "configmap", "watched"]);
    assert!(ok, "{err}");
    wait_for("watched");
    let _ = child.kill();
    let _ = child.wait();
}

/// The kubeconfig the handle writes is the one kubectl uses: its only context, the API URL,
/// namespace `default`; and shutting the handle down stops the API server.
#[tokio::test(flavor = "multi_thread")]
async fn the_written_kubeconfig_points_kubectl_at_the_cluster_until_shutdown() {
    let Env {
        cluster,
        dir,
        kubeconfig,
    } = env(None).await;
    let home = dir.path();
    let (ok, context, err) = kubectl_in(&kubeconfig, home, &["config", "current-context"]);
    assert!(ok, "{err}");
    assert_eq!(context.trim(), SIM_CONTEXT);
    let (ok, view, err) = kubectl_in(
        &kubeconfig,
        home,
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server} {.contexts[0].context.namespace}",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(view, format!("{} default", cluster.api_url()));
    let (ok, version, err) = kubectl_in(&kubeconfig, home, &["get", "--raw", "/version"]);
    assert!(ok, "{err}");
    assert!(version.contains("gitVersion"), "{version}");

    cluster.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (ok, _, err) = kubectl_in(
        &kubeconfig,
        home,
        &["get", "--raw", "/version", "--request-timeout=2s"],
    );
    assert!(!ok, "the API server still answers after shutdown");
    assert!(err.contains("refused"), "{err}");
}
