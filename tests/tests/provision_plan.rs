//! The whole setup plan with its real steps, against stand-ins: a local download site,
//! kind and istioctl as scripts, a real Docker network and labelled containers as kind's,
//! and the simulated Kubernetes API server as the cluster. A failure is provoked at each
//! step in turn; every next run resumes at the failed step.

mod provision_common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use playground::provision::{
    CancellationToken, ProvisionEvent, StepId, StepState, plan, setup, teardown,
};
use playground_sim::SimOptions;
use provision_common::*;
use serde_json::{Value, json};

fn deployment(ns: &str, name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": format!("example.org/{name}:1")}]}}}})
}

fn crd(group: &str, version: &str, kind: &str, plural: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
            "versions": [{"name": version, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

fn yaml_docs(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| serde_yaml_ng::to_string(v).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

fn service(ns: &str, name: &str, selector: &[(&str, &str)], ports: Value) -> Value {
    let selector: serde_json::Map<String, Value> = selector
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"selector": selector, "ports": ports}})
}

/// The objects the istioctl stand-in creates, as `istioctl install` would (in shape).
fn istio_objects(dir: &std::path::Path) {
    let objects = dir.join("istio-objects");
    std::fs::create_dir_all(&objects).unwrap();
    let list: Vec<(&str, Value)> = vec![
        (
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd("telemetry.istio.io", "v1", "Telemetry", "telemetries"),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd("networking.istio.io", "v1", "Gateway", "gateways"),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd(
                "networking.istio.io",
                "v1",
                "VirtualService",
                "virtualservices",
            ),
        ),
        (
            "/apis/apps/v1/namespaces/istio-system/deployments",
            deployment(
                "istio-system",
                "istiod",
                &[("app", "istiod"), ("istio", "pilot")],
            ),
        ),
        (
            "/apis/apps/v1/namespaces/istio-system/deployments",
            deployment(
                "istio-system",
                "istio-ingressgateway",
                &[("app", "istio-ingressgateway"), ("istio", "ingressgateway")],
            ),
        ),
        ("/api/v1/namespaces/istio-system/services", {
            let mut s = service(
                "istio-system",
                "istio-ingressgateway",
                &[("app", "istio-ingressgateway"), ("istio", "ingressgateway")],
                json!([
                {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
                {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]),
            );
            s["spec"]["type"] = json!("LoadBalancer");
            s
        }),
    ];
    let mut paths = String::new();
    for (i, (path, body)) in list.iter().enumerate() {
        let file = format!("{i:02}.json");
        std::fs::write(objects.join(&file), body.to_string()).unwrap();
        paths.push_str(&format!("{file} {path}\n"));
    }
    std::fs::write(objects.join("paths"), paths).unwrap();
}

fn metallb_manifest() -> String {
    yaml_docs(&[
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}),
        crd("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools"),
        crd(
            "metallb.io",
            "v1beta1",
            "L2Advertisement",
            "l2advertisements",
        ),
        deployment(
            "metallb-system",
            "controller",
            &[("app", "metallb"), ("component", "controller")],
        ),
    ])
}

fn bookinfo() -> String {
    let mut docs = Vec::new();
    for svc in ["details", "ratings", "reviews", "productpage"] {
        docs.push(service(
            "",
            svc,
            &[("app", svc)],
            json!([{"name": "http", "port": 9080}]),
        ));
    }
    for (app, version) in [
        ("details", "v1"),
        ("ratings", "v1"),
        ("reviews", "v1"),
        ("reviews", "v2"),
        ("reviews", "v3"),
        ("productpage", "v1"),
    ] {
        let mut d = deployment(
            "",
            &format!("{app}-{version}"),
            &[("app", app), ("version", version)],
        );
        d["metadata"].as_object_mut().unwrap().remove("namespace");
        docs.push(d);
    }
    for d in docs.iter_mut() {
        if d["metadata"]["namespace"] == "" {
            d["metadata"].as_object_mut().unwrap().remove("namespace");
        }
    }
    yaml_docs(&docs)
}

fn bookinfo_gateway() -> String {
    yaml_docs(&[
        json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "bookinfo-gateway"},
            "spec": {"selector": {"istio": "ingressgateway"},
                "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}),
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "bookinfo"},
            "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"],
                "http": [{"match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}],
                    "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}}),
    ])
}

fn release(dir: &std::path::Path) -> Vec<u8> {
    let addons: Vec<(String, String)> = ["prometheus", "grafana", "jaeger", "kiali", "loki"]
        .iter()
        .map(|a| {
            (
                format!("samples/addons/{a}.yaml"),
                yaml_docs(&[
                    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": a, "namespace": "istio-system"}}),
                    deployment("istio-system", a, &[("app", a)]),
                ]),
            )
        })
        .collect();
    let mut files: Vec<(&str, String)> = addons
        .iter()
        .map(|(p, b)| (p.as_str(), b.clone()))
        .collect();
    files.push(("samples/bookinfo/platform/kube/bookinfo.yaml", bookinfo()));
    files.push((
        "samples/bookinfo/networking/bookinfo-gateway.yaml",
        bookinfo_gateway(),
    ));
    istio_archive(&istioctl_script(dir), &files)
}

fn finals(events: &[ProvisionEvent]) -> Vec<(StepId, StepState)> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                StepState::Done | StepState::Skipped | StepState::Failed
            )
        })
        .map(|e| (e.step, e.state))
        .collect()
}

async fn sim_get(api: &str, path: &str) -> Value {
    reqwest::get(format!("{api}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Each failure the plan can meet, one per step, in order; `arm` provokes it for the next
/// run and `disarm` fixes its cause.
#[tokio::test]
async fn the_whole_setup_resumes_after_a_failure_at_each_step_then_tears_down() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let cluster = unique("pg-plan");
    let network = unique("pg-net");
    let _cleanup = DockerCleanup {
        cluster: cluster.clone(),
        network: Some(network.clone()),
    };
    let (_, expected_pool) = create_network(&network, &subnets_16(213..240)).await;

    let sim = playground_sim::start(SimOptions {
        ready_delay: Duration::from_millis(100),
        latency: false,
        seed: Some(7),
        ..Default::default()
    })
    .await
    .unwrap();
    let context = format!("kind-{cluster}");
    std::fs::write(
        dir.path().join("cluster.kubeconfig"),
        sim.kubeconfig_yaml(&context),
    )
    .unwrap();
    std::fs::write(dir.path().join("server"), sim.api_url()).unwrap();
    istio_objects(dir.path());

    let site = Site::start().await;
    serve_kind(&site, &kind_script(dir.path(), &network));
    let archive = release(dir.path());
    serve_istio(&site, &archive);
    site.set("/metallb-native.yaml", Route::ok(metallb_manifest()));
    site.set(
        "/productpage",
        Route::ok("<title>Simple Bookstore App</title>"),
    );

    let base = {
        let mut c = config(&home, &site, &cluster, &network);
        c.product_page_url = format!("{}/productpage", site.base);
        c
    };

    // The plan before anything exists: the pool comes from the real network already.
    let preview = plan(&base).await;
    assert_eq!(
        preview.metallb_pool.as_deref(),
        Some(expected_pool.as_str())
    );
    assert_eq!(preview.downloads.len(), 2, "{:?}", preview.downloads);
    assert!(preview.downloads[0].url.starts_with(&site.base));
    let cluster_actions = &preview.steps[1].actions;
    assert!(
        cluster_actions[0].contains("kind create cluster"),
        "{cluster_actions:?}"
    );

    let istio_file = istio_path();
    type Arm = Box<dyn Fn(&mut playground::provision::ProvisionConfig)>;
    let d = dir.path().to_path_buf();
    let s = site.clone();
    let archive2 = archive.clone();
    let failures: Vec<(StepId, &str, Arm, Arm)> = vec![
        (
            StepId::Tools,
            "download_failed",
            Box::new({
                let s = s.clone();
                let f = istio_file.clone();
                move |_| {
                    s.set(
                        &f,
                        Route {
                            status: 500,
                            body: b"oops".to_vec(),
                            cut_at: None,
                        },
                    )
                }
            }),
            Box::new({
                let s = s.clone();
                move |_| serve_istio(&s, &archive2)
            }),
        ),
        (
            StepId::Cluster,
            "tool_failed",
            Box::new({
                let d = d.clone();
                move |_| set_mode(&d, "kind", "fail")
            }),
            Box::new({
                let d = d.clone();
                move |_| set_mode(&d, "kind", "ok")
            }),
        ),
        (
            StepId::Metallb,
            "download_failed",
            Box::new({
                let s = s.clone();
                move |_| {
                    s.set(
                        "/metallb-native.yaml",
                        Route {
                            status: 404,
                            body: b"no".to_vec(),
                            cut_at: None,
                        },
                    )
                }
            }),
            Box::new({
                let s = s.clone();
                move |_| s.set("/metallb-native.yaml", Route::ok(metallb_manifest()))
            }),
        ),
        (
            StepId::Istio,
            "tool_failed",
            Box::new({
                let d = d.clone();
                move |_| set_mode(&d, "istioctl", "fail")
            }),
            Box::new({
                let d = d.clone();
                move |_| set_mode(&d, "istioctl", "ok")
            }),
        ),
        (
            StepId::Addons,
            "not_ready",
            Box::new(|c| c.timeouts.workloads = Duration::ZERO),
            Box::new(|_| {}),
        ),
        (
            StepId::Bookinfo,
            "not_ready",
            Box::new(|c| c.timeouts.workloads = Duration::ZERO),
            Box::new(|_| {}),
        ),
        (
            StepId::Verify,
            "verify",
            Box::new({
                let s = s.clone();
                move |c| {
                    c.timeouts.verify = Duration::from_millis(300);
                    s.set(
                        "/productpage",
                        Route {
                            status: 503,
                            body: b"no healthy upstream".to_vec(),
                            cut_at: None,
                        },
                    );
                }
            }),
            Box::new({
                let s = s.clone();
                move |_| {
                    s.set(
                        "/productpage",
                        Route::ok("<title>Simple Bookstore App</title>"),
                    )
                }
            }),
        ),
    ];

    for (i, (step, code, arm, disarm)) in failures.iter().enumerate() {
        let mut cfg = base.clone();
        arm(&mut cfg);
        let (sink, events) = recorder();
        let started = Instant::now();
        let err = setup(cfg, sink, CancellationToken::new())
            .await
            .unwrap_err();
        let events = events.lock().unwrap().clone();
        assert_eq!(err.code(), *code, "run {i} at {step:?}: {err}");
        let mut expected: Vec<(StepId, StepState)> = StepId::SETUP[..i]
            .iter()
            .map(|id| (*id, StepState::Skipped))
            .collect();
        let mut got = finals(&events);
        if i > 0 {
            // The step fixed just before this run acts now, unless it had failed only while
            // waiting: then its pods usually became ready meanwhile and it finds nothing to
            // do; on a loaded machine they may still be starting and it waits again (Done).
            let waited = matches!(StepId::SETUP[i - 1], StepId::Addons | StepId::Bookinfo);
            expected[i - 1].1 = if waited {
                StepState::Skipped
            } else {
                StepState::Done
            };
            if waited && got.get(i - 1) == Some(&(StepId::SETUP[i - 1], StepState::Done)) {
                got[i - 1].1 = StepState::Skipped;
            }
        }
        expected.push((*step, StepState::Failed));
        assert_eq!(got, expected, "run {i}: {err}");
        let failed = events
            .iter()
            .find(|e| e.state == StepState::Failed)
            .unwrap();
        let failure = failed.failure.clone().unwrap();
        assert!(
            failure.hint.as_ref().is_some_and(|h| !h.is_empty()),
            "{failure:?}"
        );
        println!(
            "run {i}: failed at {step:?} after {:?}: {} / {}",
            started.elapsed(),
            failure.message,
            failure.hint.unwrap()
        );
        disarm(&mut base.clone());
    }

    // The last failure fixed: this run does the verification and finishes.
    let (sink, events) = recorder();
    setup(base.clone(), sink, CancellationToken::new())
        .await
        .unwrap();
    let mut expected: Vec<(StepId, StepState)> = StepId::SETUP
        .iter()
        .map(|id| (*id, StepState::Skipped))
        .collect();
    expected[6].1 = StepState::Done;
    assert_eq!(finals(&events.lock().unwrap()), expected);

    // What the tools were asked to do, exactly.
    let kind_calls = read(dir.path().join("kind.calls"));
    let create = format!(
        "create cluster --name {cluster} --config {} --kubeconfig {} --wait 120s",
        home.join("kind-config.yaml").display(),
        home.join("kubeconfig").display()
    );
    assert_eq!(kind_calls.matches(&create).count(), 2, "{kind_calls}");
    assert!(read(home.join("kind-config.yaml")).contains("hostPort: 9080"));
    let istioctl_calls = read(dir.path().join("istioctl.calls"));
    let install = format!(
        "install --set profile=demo -y --kubeconfig {} --context {context}",
        home.join("kubeconfig").display()
    );
    assert_eq!(
        istioctl_calls.lines().filter(|l| *l == install).count(),
        2,
        "{istioctl_calls}"
    );

    // What ended up in the cluster.
    let api = sim.api_url();
    let gw = sim_get(
        &api,
        "/api/v1/namespaces/istio-system/services/istio-ingressgateway",
    )
    .await;
    let node_ports: HashMap<String, i64> = gw["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["nodePort"].as_i64()?)))
        .collect();
    assert_eq!(node_ports["http2"], 30080);
    assert_eq!(node_ports["https"], 30443);
    let pool = sim_get(
        &api,
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/playground-pool",
    )
    .await;
    assert_eq!(pool["spec"]["addresses"], json!([expected_pool]));
    let tel = sim_get(
        &api,
        "/apis/telemetry.istio.io/v1/namespaces/istio-system/telemetries/mesh-default",
    )
    .await;
    assert_eq!(tel["spec"]["tracing"][0]["providers"][0]["name"], "jaeger");
    assert!(
        tel["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "istio-playground" && m["operation"] == "Apply"),
        "{tel}"
    );
    let ns = sim_get(&api, "/api/v1/namespaces/default").await;
    assert_eq!(ns["metadata"]["labels"]["istio-injection"], "enabled");
    let pods = sim_get(
        &api,
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dproductpage",
    )
    .await;
    let pod = &pods["items"][0];
    let names: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .map(|s| Box::leak(s.into_boxed_str()) as &str)
        .collect();
    assert!(
        names.contains(&"istio-proxy"),
        "sidecar injected: {names:?}"
    );
    let vs = sim_get(
        &api,
        "/apis/networking.istio.io/v1/namespaces/default/virtualservices/bookinfo",
    )
    .await;
    assert_eq!(vs["spec"]["gateways"], json!(["bookinfo-gateway"]));

    // The simulated ingress, routed by what the plan applied, serves the shop.
    let page = reqwest::get(format!("{}/productpage", sim.ingress_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Simple Bookstore App"), "{page}");

    // A complete setup run again only re-verifies.
    let (sink, events) = recorder();
    let again = Instant::now();
    setup(base.clone(), sink, CancellationToken::new())
        .await
        .unwrap();
    println!("a finished setup run again took {:?}", again.elapsed());
    assert_eq!(finals(&events.lock().unwrap()), expected);
    assert_eq!(
        read(dir.path().join("kind.calls"))
            .matches("create cluster")
            .count(),
        2
    );

    // Teardown: kind deletes, the app checks containers and context are gone.
    assert!(!node_containers(&base, &cluster).await.is_empty());
    let (sink, events) = recorder();
    teardown(base.clone(), sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        finals(&events.lock().unwrap()),
        [(StepId::Teardown, StepState::Done)]
    );
    assert!(read(dir.path().join("kind.calls")).contains(&format!(
        "delete cluster --name {cluster} --kubeconfig {}",
        home.join("kubeconfig").display()
    )));
    assert!(node_containers(&base, &cluster).await.is_empty());
    assert!(!read(home.join("kubeconfig")).contains(&context));
    let (sink, events) = recorder();
    teardown(base, sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        finals(&events.lock().unwrap()),
        [(StepId::Teardown, StepState::Skipped)]
    );
}

async fn node_containers(
    cfg: &playground::provision::ProvisionConfig,
    cluster: &str,
) -> Vec<playground::provision::NodeContainer> {
    playground::provision::node_containers(cfg, cluster)
        .await
        .unwrap()
}
