//! Model tests on a small Bookinfo-shaped mesh built by hand, one decoration or validation
//! per test.

use super::build::*;
use super::diff;
use super::graph::MeshGraph;
use super::inputs::*;
use super::model::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn deploy(
    inputs: &mut MeshInputs,
    ns: &str,
    name: &str,
    l: &[(&str, &str)],
    replicas: u32,
    ready: u32,
) {
    inputs.deployments.insert(
        (ns.into(), name.into()),
        DeploymentInfo {
            namespace: ns.into(),
            name: name.into(),
            selector: labels(l),
            template_labels: labels(l),
            replicas,
            ready_replicas: ready,
            paused: false,
        },
    );
}

fn pod(
    inputs: &mut MeshInputs,
    ns: &str,
    name: &str,
    l: &[(&str, &str)],
    sidecar: bool,
    ready: bool,
) {
    let total = if sidecar { 2 } else { 1 };
    inputs.pods.insert(
        (ns.into(), name.into()),
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: labels(l),
            phase: if ready {
                PodPhase::Running
            } else {
                PodPhase::Pending
            },
            waiting_reason: None,
            ready: if ready { total } else { 0 },
            total,
            has_sidecar: sidecar,
            sidecar_ready: sidecar && ready,
            ip: Some("10.244.0.9".into()),
            node: None,
            restarts: 0,
            deleting: false,
        },
    );
}

fn service(inputs: &mut MeshInputs, ns: &str, name: &str, sel: &[(&str, &str)]) {
    inputs.services.insert(
        (ns.into(), name.into()),
        ServiceInfo {
            namespace: ns.into(),
            name: name.into(),
            selector: Some(labels(sel)),
            type_: "ClusterIP".into(),
            cluster_ip: None,
            ports: vec![ServicePort {
                name: Some("http".into()),
                port: 9080,
                protocol: "TCP".into(),
            }],
        },
    );
}

fn vs_json(
    name: &str,
    hosts: &[&str],
    gateways: &[&str],
    routes: serde_json::Value,
) -> VirtualServiceInfo {
    VirtualServiceInfo::from_json(&serde_json::json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"hosts": hosts, "gateways": gateways, "http": routes}
    }))
    .unwrap()
}

/// istio-system with the ingress gateway; default with Bookinfo, its gateway, a reviews
/// DestinationRule and a 60/30/10 split.
pub(super) fn bookinfo() -> MeshInputs {
    let mut m = MeshInputs::default();
    for (ns, l) in [
        ("istio-system", vec![]),
        ("default", vec![("istio-injection", "enabled")]),
        ("kube-system", vec![]),
    ] {
        m.namespaces.insert(
            ns.into(),
            NamespaceInfo {
                name: ns.into(),
                injection: Injection::from_labels(&labels(&l)),
            },
        );
    }
    let ig = [("app", "istio-ingressgateway"), ("istio", "ingressgateway")];
    deploy(&mut m, "istio-system", "istio-ingressgateway", &ig, 1, 1);
    pod(
        &mut m,
        "istio-system",
        "istio-ingressgateway-6d9f-abcde",
        &ig,
        false,
        true,
    );
    deploy(&mut m, "istio-system", "istiod", &[("app", "istiod")], 1, 1);
    deploy(
        &mut m,
        "kube-system",
        "coredns",
        &[("k8s-app", "kube-dns")],
        2,
        2,
    );
    for (app, version, hash) in [
        ("productpage", "v1", "7f9d"),
        ("details", "v1", "5c4b"),
        ("ratings", "v1", "6b8a"),
        ("reviews", "v1", "9a1c"),
        ("reviews", "v2", "9a2c"),
        ("reviews", "v3", "9a3c"),
    ] {
        let l = [("app", app), ("version", version)];
        deploy(&mut m, "default", &format!("{app}-{version}"), &l, 1, 1);
        pod(
            &mut m,
            "default",
            &format!("{app}-{version}-{hash}-x{version}"),
            &l,
            true,
            true,
        );
    }
    for app in ["productpage", "details", "ratings", "reviews"] {
        service(&mut m, "default", app, &[("app", app)]);
    }
    m.gateways.insert(
        ("default".into(), "bookinfo-gateway".into()),
        GatewayInfo::from_json(&serde_json::json!({
            "metadata": {"name": "bookinfo-gateway", "namespace": "default"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}
        }))
        .unwrap(),
    );
    m.virtual_services.insert(
        ("default".into(), "bookinfo".into()),
        vs_json(
            "bookinfo",
            &["*"],
            &["bookinfo-gateway"],
            serde_json::json!([{
                "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}],
                "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]
            }]),
        ),
    );
    m.destination_rules.insert(
        ("default".into(), "reviews".into()),
        DestinationRuleInfo::from_json(&serde_json::json!({
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {"host": "reviews", "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
                {"name": "v3", "labels": {"version": "v3"}}]}
        }))
        .unwrap(),
    );
    m.virtual_services.insert(
        ("default".into(), "reviews".into()),
        vs_json(
            "reviews",
            &["reviews"],
            &[],
            serde_json::json!([{"route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": 60},
                {"destination": {"host": "reviews", "subset": "v2"}, "weight": 30},
                {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10}]}]),
        ),
    );
    m
}

fn findings(g: &MeshGraph, id: &str) -> Vec<Finding> {
    g.node(id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .validations
        .iter()
        .map(|v| v.finding.clone())
        .collect()
}

fn route(g: &MeshGraph, id: &str) -> RouteEdge {
    g.outgoing(id, EdgeKind::Route)[0].route.clone().unwrap()
}

#[test]
fn bookinfo_draws_the_whole_chain_from_ingress_to_pods() {
    let g = build(&bookinfo());
    let ingress = "ingress/istio-system/istio-ingressgateway";
    let gw = "gw/default/bookinfo-gateway";
    let vs = "vs/default/bookinfo";
    assert_eq!(g.outgoing(ingress, EdgeKind::Serves)[0].target, gw);
    assert_eq!(g.outgoing(gw, EdgeKind::Binds)[0].target, vs);
    assert_eq!(
        g.outgoing(vs, EdgeKind::Route)[0].target,
        "svc/default/productpage"
    );
    let r = route(&g, vs);
    assert_eq!((r.weight, r.split), (100, false));
    assert_eq!(
        r.matches
            .iter()
            .map(|m| m.uri.clone().unwrap())
            .collect::<Vec<_>>(),
        [
            StringMatch::Exact("/productpage".into()),
            StringMatch::Prefix("/static".into())
        ]
    );
    assert_eq!(
        g.outgoing("svc/default/productpage", EdgeKind::Selects)[0].target,
        "wl/default/productpage-v1"
    );
    let pod = g.node("pod/default/productpage-v1-7f9d-xv1").unwrap();
    assert_eq!(pod.parent.as_deref(), Some("wl/default/productpage-v1"));
    assert_eq!(pod.ready, Some(Readiness::new(2, 2)));
    assert_eq!(pod.sidecar, Some(Sidecar::Ready));
    assert_eq!(pod.health, Health::Ok);
    assert!(pod.health_reasons.is_empty());
    let NodeDetails::Pod(details) = &pod.details else {
        panic!("pod details: {:?}", pod.details)
    };
    assert_eq!(details.labels["app"], "productpage");
    assert_eq!(details.phase, PodPhase::Running);
}

#[test]
fn weights_are_on_the_route_edges_to_the_subsets() {
    let g = build(&bookinfo());
    assert_eq!(
        g.outgoing("svc/default/reviews", EdgeKind::RoutedBy)[0].target,
        "vs/default/reviews"
    );
    let mut routes: Vec<(String, u32, bool)> = g
        .outgoing("vs/default/reviews", EdgeKind::Route)
        .iter()
        .map(|e| {
            let r = e.route.as_ref().unwrap();
            (e.target.clone(), r.weight, r.split)
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            ("subset/default/reviews/v1".to_string(), 60, true),
            ("subset/default/reviews/v2".to_string(), 30, true),
            ("subset/default/reviews/v3".to_string(), 10, true),
        ]
    );
    assert_eq!(
        g.outgoing("subset/default/reviews/v2", EdgeKind::Selects)[0].target,
        "wl/default/reviews-v2"
    );
    assert!(g.node("vs/default/reviews").unwrap().validations.is_empty());
}

#[test]
fn system_namespaces_and_istiod_are_left_out() {
    let g = build(&bookinfo());
    assert!(g.node("ns/kube-system").is_none());
    assert!(g.node("wl/istio-system/istiod").is_none());
    assert!(g.node("ns/istio-system").is_some());
    assert!(g.node("svc/default/kubernetes").is_none());
}

#[test]
fn ids_are_deterministic_and_snapshots_equal_for_equal_inputs() {
    let a = build(&bookinfo()).snapshot();
    let b = build(&bookinfo()).snapshot();
    assert_eq!(a, b);
    assert!(a.nodes.windows(2).all(|w| w[0].id < w[1].id));
    assert!(diff::diff(&a, &b).is_empty());
}

#[test]
fn weights_not_summing_to_100_are_an_error() {
    let mut m = bookinfo();
    let vs = m
        .virtual_services
        .get_mut(&("default".into(), "reviews".into()))
        .unwrap();
    vs.http[0].destinations[0].weight = Some(50);
    let g = build(&m);
    assert_eq!(
        findings(&g, "vs/default/reviews"),
        [Finding::WeightsNot100 { route: 0, sum: 90 }]
    );
    let vs = g.node("vs/default/reviews").unwrap();
    assert_eq!(vs.health, Health::Error);
    assert_eq!(
        vs.health_reasons,
        [HealthReason::Findings {
            severity: Severity::Error
        }]
    );
}

#[test]
fn a_route_to_a_missing_subset_or_host_is_an_error_and_draws_no_edge() {
    let mut m = bookinfo();
    let vs = m
        .virtual_services
        .get_mut(&("default".into(), "reviews".into()))
        .unwrap();
    vs.http[0].destinations[2].subset = Some("v9".into());
    vs.http[0].destinations[1].host = "reviewz".into();
    let g = build(&m);
    assert_eq!(
        findings(&g, "vs/default/reviews"),
        [
            Finding::RouteHostNotFound {
                route: 0,
                host: "reviewz".into(),
                service: "reviewz".into(),
                service_namespace: "default".into()
            },
            Finding::RouteSubsetNotFound {
                route: 0,
                subset: "v9".into(),
                service: "reviews".into()
            },
        ]
    );
    assert_eq!(g.outgoing("vs/default/reviews", EdgeKind::Route).len(), 1);
}

#[test]
fn a_subset_that_selects_no_pods_is_flagged() {
    let mut m = bookinfo();
    m.deployments
        .remove(&("default".into(), "reviews-v3".into()));
    m.pods
        .retain(|(_, name), _| !name.starts_with("reviews-v3"));
    let g = build(&m);
    assert_eq!(
        findings(&g, "subset/default/reviews/v3"),
        [Finding::SubsetSelectsNoPods {
            labels: labels(&[("version", "v3")])
        }]
    );
    let v = &g.node("subset/default/reviews/v3").unwrap().validations[0];
    assert_eq!(
        v.severity,
        Severity::Error,
        "it is routed to, so requests fail"
    );
}

#[test]
fn a_pod_without_a_sidecar_in_an_injected_namespace_is_flagged_and_an_opt_out_explained() {
    let mut m = bookinfo();
    let l = [("app", "ratings"), ("version", "v1")];
    pod(&mut m, "default", "ratings-v1-6b8a-old", &l, false, true);
    let mut opted = l.to_vec();
    opted.push(("sidecar.istio.io/inject", "false"));
    pod(
        &mut m,
        "default",
        "ratings-v1-6b8a-opt",
        &opted,
        false,
        true,
    );
    let g = build(&m);
    let old = g.node("pod/default/ratings-v1-6b8a-old").unwrap();
    assert_eq!(old.sidecar, Some(Sidecar::Missing));
    assert_eq!(findings(&g, &old.id), [Finding::PodWithoutSidecar]);
    assert_eq!(old.health, Health::Warning);
    let wl = g.node("wl/default/ratings-v1").unwrap();
    assert_eq!(wl.health, Health::Warning);
    assert_eq!(
        wl.health_reasons,
        [HealthReason::Pod {
            id: old.id.clone(),
            health: Health::Warning
        }]
    );
    let opt = g.node("pod/default/ratings-v1-6b8a-opt").unwrap();
    assert_eq!(opt.sidecar, Some(Sidecar::OptedOut));
    assert_eq!(findings(&g, &opt.id), [Finding::PodOptedOut]);
    assert_eq!(opt.health, Health::Ok);
}

#[test]
fn a_gateway_no_ingress_serves_and_a_missing_gateway_are_errors() {
    let mut m = bookinfo();
    m.gateways
        .get_mut(&("default".into(), "bookinfo-gateway".into()))
        .unwrap()
        .selector = labels(&[("istio", "my-gateway")]);
    let vs = m
        .virtual_services
        .get_mut(&("default".into(), "bookinfo".into()))
        .unwrap();
    vs.gateways.push("other-gateway".into());
    let g = build(&m);
    assert_eq!(
        findings(&g, "gw/default/bookinfo-gateway"),
        [Finding::GatewayNotServed {
            selector: labels(&[("istio", "my-gateway")])
        }]
    );
    assert_eq!(
        findings(&g, "vs/default/bookinfo"),
        [Finding::GatewayNotFound {
            namespace: "default".into(),
            name: "other-gateway".into()
        }]
    );
}

#[test]
fn a_namespace_without_the_label_shows_injection_off_and_pods_not_injected() {
    let mut m = bookinfo();
    m.namespaces.get_mut("default").unwrap().injection = Injection::None;
    let l = [("app", "ratings"), ("version", "v1")];
    pod(&mut m, "default", "ratings-v1-6b8a-new", &l, false, true);
    let g = build(&m);
    assert_eq!(
        g.node("pod/default/ratings-v1-6b8a-new").unwrap().sidecar,
        Some(Sidecar::NotInjected)
    );
    let ns = g.node("ns/default").unwrap();
    let NodeDetails::Namespace(details) = &ns.details else {
        panic!("namespace details: {:?}", ns.details)
    };
    assert_eq!(details.injection, Injection::None);
}

#[test]
fn starting_pods_are_pending_not_broken() {
    let mut m = bookinfo();
    let l = [("app", "details"), ("version", "v1")];
    pod(&mut m, "default", "details-v1-5c4b-new", &l, true, false);
    let g = build(&m);
    let p = g.node("pod/default/details-v1-5c4b-new").unwrap();
    assert_eq!(p.health, Health::Pending);
    assert_eq!(p.health_reasons, [HealthReason::NotReady]);
    assert_eq!(p.ready, Some(Readiness::new(0, 2)));
    assert_eq!(p.sidecar, Some(Sidecar::Starting));
}

#[test]
fn a_weight_change_diffs_as_changed_edges_only() {
    let before = build(&bookinfo()).snapshot();
    let mut m = bookinfo();
    let vs = m
        .virtual_services
        .get_mut(&("default".into(), "reviews".into()))
        .unwrap();
    vs.http[0].destinations[0].weight = Some(10);
    vs.http[0].destinations[2].weight = Some(60);
    let after = build(&m).snapshot();
    let d = diff::diff(&before, &after);
    assert!(d.added_nodes.is_empty() && d.removed_nodes.is_empty() && d.added_edges.is_empty());
    assert_eq!(d.changed_edges.len(), 2);
    // The VirtualService's routes changed too.
    assert_eq!(d.changed_nodes.len(), 1);
    assert_eq!(d.changed_nodes[0].id, "vs/default/reviews");
    let mut patched = before.clone();
    diff::apply(&mut patched, &d);
    assert_eq!(patched, after);
}

#[test]
fn a_replaced_pod_diffs_as_one_removal_and_one_addition() {
    let before = build(&bookinfo()).snapshot();
    let mut m = bookinfo();
    m.pods
        .remove(&("default".into(), "details-v1-5c4b-xv1".into()));
    let l = [("app", "details"), ("version", "v1")];
    pod(&mut m, "default", "details-v1-5c4b-znew", &l, true, true);
    let after = build(&m).snapshot();
    let d = diff::diff(&before, &after);
    assert_eq!(d.removed_nodes, ["pod/default/details-v1-5c4b-xv1"]);
    assert_eq!(d.added_nodes.len(), 1);
    assert_eq!(d.added_nodes[0].id, "pod/default/details-v1-5c4b-znew");
    let mut patched = before.clone();
    diff::apply(&mut patched, &d);
    assert_eq!(patched, after);
}

#[test]
fn a_crash_looping_pod_is_broken_and_says_why() {
    let mut m = bookinfo();
    let key = ("default".to_string(), "details-v1-5c4b-xv1".to_string());
    let p = m.pods.get_mut(&key).unwrap();
    p.waiting_reason = Some("CrashLoopBackOff".into());
    p.ready = 1;
    let g = build(&m);
    let pod = g.node("pod/default/details-v1-5c4b-xv1").unwrap();
    assert_eq!(pod.health, Health::Error);
    assert_eq!(
        pod.health_reasons,
        [HealthReason::Failing {
            cause: "CrashLoopBackOff".into()
        }]
    );
    assert_eq!(
        g.node("wl/default/details-v1").unwrap().health,
        Health::Error
    );
}

#[test]
fn validations_serialize_as_a_code_with_their_parameters() {
    let v = Validation {
        severity: Severity::Error,
        finding: Finding::RouteHostNotFound {
            route: 0,
            host: "reviewz".into(),
            service: "reviewz".into(),
            service_namespace: "default".into(),
        },
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"severity": "error", "code": "route-host-not-found", "route": 0,
            "host": "reviewz", "service": "reviewz", "serviceNamespace": "default"})
    );
    let back: Validation = serde_json::from_value(serde_json::to_value(&v).unwrap()).unwrap();
    assert_eq!(back, v);
}

#[test]
fn codes_keep_their_stable_spelling() {
    let code = |f: Finding| serde_json::to_value(f).unwrap()["code"].clone();
    assert_eq!(
        code(Finding::WeightsNot100 { route: 0, sum: 90 }),
        "weights-not-100"
    );
    assert_eq!(code(Finding::PodWithoutSidecar), "pod-without-sidecar");
    assert_eq!(code(Finding::SubsetNoReadyPods), "subset-no-ready-pods");
}

/// A folder of this checkout, found when the test runs (checkouts may share a target dir).
fn repo_path(rel: &str) -> std::path::PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest.join("../..").join(rel)
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap() + "\n"
}

/// The golden file is the model of the Bookinfo scenario built from pure inputs; change it
/// on purpose with UPDATE_GOLDEN=1 and read its diff.
#[test]
fn the_bookinfo_model_matches_the_golden_file() {
    let golden = repo_path("tests/golden/bookinfo-mesh.json");
    let text = pretty(&build(&super::samples::bookinfo()).snapshot());
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let expected =
        std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    if let Some((i, (got, want))) = text
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "model differs from {} at line {}: got `{got}`, expected `{want}` (UPDATE_GOLDEN=1 rewrites it)",
            golden.display(),
            i + 1
        );
    }
    assert_eq!(text.lines().count(), expected.lines().count());
}

/// The UI's preview and test meshes, written next to the TypeScript types like ts-rs
/// writes those (`make types-current` fails when the committed copy is stale).
#[test]
fn the_ui_samples_are_built_from_the_same_inputs() {
    use super::samples::*;
    let bookinfo = build(&bookinfo()).into_snapshot();
    let split = build(&bookinfo_split()).into_snapshot();
    let split_diff = diff::diff(&bookinfo, &split);
    let teaching = build(&bookinfo_teaching()).into_snapshot();
    let warnings: Vec<&Finding> = teaching
        .nodes
        .iter()
        .flat_map(|n| n.validations.iter().map(|v| &v.finding))
        .collect();
    assert_eq!(warnings, [&Finding::PodWithoutSidecar]);
    let mut patched = bookinfo.clone();
    diff::apply(&mut patched, &split_diff);
    assert_eq!(patched, split);
    let samples = serde_json::json!({
        "bookinfo": bookinfo,
        "split": split,
        "splitDiff": split_diff,
        "teaching": teaching,
    });
    let dir = std::env::var_os("TS_RS_EXPORT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_path("ui/src/lib/generated"));
    std::fs::write(dir.join("meshSamples.json"), pretty(&samples)).unwrap();
}

#[test]
fn hosts_outside_the_cluster_name_no_service() {
    let mut m = bookinfo();
    let vs = m
        .virtual_services
        .get_mut(&("default".into(), "reviews".into()))
        .unwrap();
    vs.hosts = vec!["bookinfo.example.com".into()];
    vs.http[0].destinations[2].host = "api.httpbin.org".into();
    vs.http[0].destinations[2].subset = None;
    m.destination_rules.insert(
        ("default".into(), "external".into()),
        DestinationRuleInfo {
            namespace: "default".into(),
            name: "external".into(),
            host: "api.example.com".into(),
            subsets: vec![Subset {
                name: "v1".into(),
                labels: labels(&[("version", "v1")]),
            }],
            tls_mode: None,
        },
    );
    let g = build(&m);
    // Not Service `bookinfo` in namespace `example`.
    assert!(
        g.incoming("vs/default/reviews", EdgeKind::RoutedBy)
            .is_empty()
    );
    assert_eq!(
        findings(&g, "vs/default/reviews"),
        [Finding::RouteHostOutsideCluster {
            route: 0,
            host: "api.httpbin.org".into()
        }]
    );
    assert!(g.node("subset/example/api/v1").is_none());
    assert!(
        !g.snapshot()
            .nodes
            .iter()
            .any(|n| n.namespace == "example" || n.namespace == "com")
    );
}

// ---- Traffic management mistakes ----

fn key(ns: &str, name: &str) -> Key {
    (ns.into(), name.into())
}

#[test]
fn a_route_after_a_catch_all_is_never_reached_and_its_fault_does_nothing() {
    let mut m = bookinfo();
    // The catch-all first, then jason's delay: Istio takes the first route that matches.
    let vs = vs_json(
        "ratings",
        &["ratings"],
        &[],
        serde_json::json!([
            {"route": [{"destination": {"host": "ratings"}}]},
            {
                "match": [{"headers": {"end-user": {"exact": "jason"}}}],
                "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}},
                "route": [{"destination": {"host": "ratings"}}]
            },
            {"route": [{"destination": {"host": "ratings"}}]}
        ]),
    );
    m.virtual_services
        .insert(key("default", "ratings"), vs.clone());
    let g = build(&m);
    assert_eq!(
        findings(&g, "vs/default/ratings"),
        [
            Finding::RouteUnreachable {
                route: 1,
                after: 0,
                has_fault: true
            },
            Finding::RouteUnreachable {
                route: 2,
                after: 0,
                has_fault: false
            },
        ]
    );
    assert_eq!(
        g.node("vs/default/ratings").unwrap().health,
        Health::Warning
    );

    // In Istio's order (the match first) every route can be reached.
    let mut fixed = vs;
    fixed.http.swap(0, 1);
    fixed.http.pop();
    m.virtual_services.insert(key("default", "ratings"), fixed);
    assert_eq!(findings(&build(&m), "vs/default/ratings"), []);
}

#[test]
fn two_virtual_services_for_one_host_are_flagged_on_both_until_one_goes() {
    let mut m = bookinfo();
    let extra = vs_json(
        "reviews-test",
        &["reviews.default.svc.cluster.local"],
        &[],
        serde_json::json!([{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]),
    );
    m.virtual_services
        .insert(key("default", "reviews-test"), extra.clone());
    let g = build(&m);
    assert!(
        findings(&g, "vs/default/reviews").contains(&Finding::OverlappingVirtualServices {
            host: "reviews".into(),
            others: vec!["reviews-test".into()],
        }),
        "{:?}",
        findings(&g, "vs/default/reviews")
    );
    assert_eq!(
        findings(&g, "vs/default/reviews-test"),
        [Finding::OverlappingVirtualServices {
            host: "reviews.default.svc.cluster.local".into(),
            others: vec!["reviews".into()],
        }]
    );
    // A VirtualService bound only to a gateway routes there, not inside the mesh.
    let mut at_gateway = extra.clone();
    at_gateway.gateways = vec!["bookinfo-gateway".into()];
    m.virtual_services
        .insert(key("default", "reviews-test"), at_gateway);
    assert!(
        !findings(&build(&m), "vs/default/reviews")
            .iter()
            .any(|f| matches!(f, Finding::OverlappingVirtualServices { .. }))
    );

    // Kept current change by change: the second one coming and going updates the first.
    let mut model = super::live::MeshModel::new(bookinfo());
    model.apply([Change::VirtualService(
        key("default", "reviews-test"),
        Some(extra),
    )]);
    assert!(
        model
            .graph()
            .node("vs/default/reviews")
            .unwrap()
            .validations
            .iter()
            .any(|v| matches!(v.finding, Finding::OverlappingVirtualServices { .. }))
    );
    model.apply([Change::VirtualService(key("default", "reviews-test"), None)]);
    assert_eq!(model.snapshot(), build(&bookinfo()).snapshot());
}

#[test]
fn a_subset_no_route_uses_is_noted_without_raising_health() {
    let mut m = bookinfo();
    let vs = m
        .virtual_services
        .get_mut(&key("default", "reviews"))
        .unwrap();
    vs.http[0].destinations.truncate(1);
    vs.http[0].destinations[0].weight = None;
    let g = build(&m);
    assert_eq!(findings(&g, "subset/default/reviews/v1"), []);
    for v in ["v2", "v3"] {
        let id = format!("subset/default/reviews/{v}");
        assert_eq!(findings(&g, &id), [Finding::SubsetNotRouted]);
        assert_eq!(g.node(&id).unwrap().validations[0].severity, Severity::Info);
        assert_eq!(g.node(&id).unwrap().health, Health::Ok);
    }
}

#[test]
fn strict_while_a_pod_without_sidecar_runs_outside_injection_is_flagged() {
    let mut m = bookinfo();
    m.peer_authentications.insert(
        key("default", "default"),
        PeerAuthenticationInfo {
            namespace: "default".into(),
            name: "default".into(),
            mode: Some("STRICT".into()),
        },
    );
    assert_eq!(
        findings(&build(&m), "ns/default"),
        [],
        "no plain-text client yet"
    );

    m.namespaces.insert(
        "legacy".into(),
        NamespaceInfo {
            name: "legacy".into(),
            injection: Injection::None,
        },
    );
    deploy(&mut m, "legacy", "curl", &[("app", "curl")], 1, 1);
    pod(
        &mut m,
        "legacy",
        "curl-6d8f",
        &[("app", "curl")],
        false,
        true,
    );
    let g = build(&m);
    assert_eq!(
        findings(&g, "ns/default"),
        [Finding::StrictWithPlainTextClients {
            mesh_wide: false,
            namespaces: vec!["legacy".into()],
        }]
    );
    assert_eq!(findings(&g, "ns/legacy"), [], "legacy itself is not STRICT");

    // PERMISSIVE accepts plain text: nothing to say.
    let mut permissive = m.clone();
    permissive
        .peer_authentications
        .get_mut(&key("default", "default"))
        .unwrap()
        .mode = Some("PERMISSIVE".into());
    assert_eq!(findings(&build(&permissive), "ns/default"), []);

    // Mesh-wide STRICT: the mesh's namespaces say so.
    let mut mesh = m.clone();
    mesh.peer_authentications.remove(&key("default", "default"));
    mesh.peer_authentications.insert(
        key("istio-system", "default"),
        PeerAuthenticationInfo {
            namespace: "istio-system".into(),
            name: "default".into(),
            mode: Some("STRICT".into()),
        },
    );
    assert_eq!(
        findings(&build(&mesh), "ns/default"),
        [Finding::StrictWithPlainTextClients {
            mesh_wide: true,
            namespaces: vec!["legacy".into()],
        }]
    );

    // Kept current: the client pod going away clears the finding on default.
    let mut model = super::live::MeshModel::new(m.clone());
    model.apply([Change::Pod(key("legacy", "curl-6d8f"), None)]);
    let mut without = m;
    without.pods.remove(&key("legacy", "curl-6d8f"));
    assert_eq!(model.snapshot(), build(&without).snapshot());
    assert_eq!(findings(model.graph(), "ns/default"), []);
}
