//! The incremental model against a fresh build, after any sequence of changes.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::mesh::diff;

/// A small world, so that random changes keep meeting each other: two application
/// namespaces, Istio's, and one the model hides.
const NAMESPACES: &[&str] = &["default", "shop", "istio-system", "kube-system"];
/// `lonely` pods belong to no deployment (none has that app).
const APPS: &[&str] = &["reviews", "ratings", "istio-ingressgateway", "lonely"];
const VERSIONS: &[&str] = &["v1", "v2"];
/// Short, qualified, fully qualified, outside the cluster, wildcard.
const HOSTS: &[&str] = &[
    "reviews",
    "ratings",
    "reviews.shop",
    "ratings.default.svc.cluster.local",
    "istio-ingressgateway.istio-system",
    "api.example.org",
    "*",
];
const GATEWAY_REFS: &[&str] = &["gw", "shop/gw", "default/gw", "mesh", "missing"];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_owned)
}

fn namespace() -> impl Strategy<Value = Change> {
    (pick(NAMESPACES), prop::option::of(0..4u8)).prop_map(|(ns, injection)| {
        let info = injection.map(|i| NamespaceInfo {
            name: ns.clone(),
            injection: match i {
                0 => Injection::Enabled,
                1 => Injection::Disabled,
                2 => Injection::Revision {
                    revision: "canary".into(),
                },
                _ => Injection::None,
            },
        });
        Change::Namespace(ns, info)
    })
}

fn pod() -> impl Strategy<Value = Change> {
    let state = (
        prop::sample::select(&[PodPhase::Running, PodPhase::Pending, PodPhase::Failed][..]),
        prop::option::of(pick(&["CrashLoopBackOff", "ContainerCreating"])),
        (0..=2u32, 1..=2u32),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    );
    (
        pick(NAMESPACES),
        pick(APPS),
        pick(VERSIONS),
        0..3u8,
        prop::option::of(state),
    )
        .prop_map(|(ns, app, version, n, state)| {
            let name = format!("{app}-{version}-{n}");
            let info = state.map(
                |(
                    phase,
                    waiting,
                    (ready, total),
                    (sidecar, sidecar_ready, opted_out, deleting),
                )| {
                    let mut l = labels(&[("app", &app), ("version", &version)]);
                    if app == "istio-ingressgateway" {
                        l.insert("istio".into(), "ingressgateway".into());
                    }
                    if opted_out {
                        l.insert(POD_INJECT_LABEL.into(), "false".into());
                    }
                    PodInfo {
                        namespace: ns.clone(),
                        name: name.clone(),
                        labels: l,
                        phase,
                        waiting_reason: waiting,
                        ready: ready.min(total),
                        total,
                        has_sidecar: sidecar,
                        sidecar_ready,
                        ip: None,
                        node: None,
                        restarts: 0,
                        deleting,
                    }
                },
            );
            Change::Pod((ns, name), info)
        })
}

fn deployment() -> impl Strategy<Value = Change> {
    let shape = (
        any::<bool>(),
        any::<bool>(),
        0..3u32,
        0..3u32,
        any::<bool>(),
    );
    (
        pick(NAMESPACES),
        pick(APPS),
        pick(VERSIONS),
        prop::option::of(shape),
    )
        .prop_map(|(ns, app, version, shape)| {
            let name = format!("{app}-{version}");
            let info = shape.map(|(narrow, ingress, replicas, ready, paused)| {
                let mut template = labels(&[("app", &app), ("version", &version)]);
                if ingress || app == "istio-ingressgateway" {
                    template.insert("istio".into(), "ingressgateway".into());
                }
                DeploymentInfo {
                    namespace: ns.clone(),
                    name: name.clone(),
                    // A selector of the app alone takes the other version's pods too.
                    selector: if narrow {
                        labels(&[("app", &app), ("version", &version)])
                    } else {
                        labels(&[("app", &app)])
                    },
                    template_labels: template,
                    replicas,
                    ready_replicas: ready,
                    paused,
                }
            });
            Change::Deployment((ns, name), info)
        })
}

fn service() -> impl Strategy<Value = Change> {
    (pick(NAMESPACES), pick(APPS), prop::option::of(0..4u8)).prop_map(|(ns, app, selector)| {
        let info = selector.map(|s| ServiceInfo {
            namespace: ns.clone(),
            name: app.clone(),
            selector: match s {
                0 => Some(labels(&[("app", &app)])),
                1 => Some(labels(&[("app", &app), ("version", "v1")])),
                2 => Some(Labels::new()),
                _ => None,
            },
            type_: "ClusterIP".into(),
            cluster_ip: None,
            ports: Vec::new(),
        });
        Change::Service((ns, app), info)
    })
}

fn endpoint_slice() -> impl Strategy<Value = Change> {
    (
        pick(NAMESPACES),
        0..2u8,
        prop::option::of((pick(APPS), 0..3u32, 0..3u32)),
    )
        .prop_map(|(ns, n, slice)| {
            let name = format!("slice-{n}");
            let info = slice.map(|(service, ready, total)| EndpointSliceInfo {
                namespace: ns.clone(),
                service,
                ready,
                total,
            });
            Change::EndpointSlice((ns, name), info)
        })
}

fn gateway() -> impl Strategy<Value = Change> {
    (
        pick(NAMESPACES),
        pick(&["gw", "gw2"]),
        prop::option::of(0..3u8),
    )
        .prop_map(|(ns, name, selector)| {
            let info = selector.map(|s| GatewayInfo {
                namespace: ns.clone(),
                name: name.clone(),
                selector: match s {
                    0 => labels(&[("istio", "ingressgateway")]),
                    1 => labels(&[("istio", "other")]),
                    _ => Labels::new(),
                },
                servers: Vec::new(),
            });
            Change::Gateway((ns, name), info)
        })
}

fn route() -> impl Strategy<Value = HttpRoute> {
    vec(
        (
            pick(HOSTS),
            prop::option::of(pick(&["v1", "v2", "v3"])),
            prop::option::of(0..=100i32),
        ),
        1..4,
    )
    .prop_map(|ds| HttpRoute {
        name: None,
        matches: Vec::new(),
        destinations: ds
            .into_iter()
            .map(|(host, subset, weight)| RouteDestination {
                host,
                subset,
                port: None,
                weight,
            })
            .collect(),
        fault: None,
    })
}

fn virtual_service() -> impl Strategy<Value = Change> {
    let spec = (
        vec(pick(HOSTS), 0..3),
        vec(pick(GATEWAY_REFS), 0..3),
        vec(route(), 0..3),
    );
    (
        pick(NAMESPACES),
        pick(&["vs", "vs2"]),
        prop::option::of(spec),
    )
        .prop_map(|(ns, name, spec)| {
            let info = spec.map(|(hosts, gateways, http)| VirtualServiceInfo {
                namespace: ns.clone(),
                name: name.clone(),
                hosts,
                gateways,
                http,
            });
            Change::VirtualService((ns, name), info)
        })
}

fn destination_rule() -> impl Strategy<Value = Change> {
    let spec = (
        pick(HOSTS),
        prop::sample::subsequence(vec!["v1", "v2", "v3"], 0..=3),
    );
    (
        pick(NAMESPACES),
        pick(&["dr", "dr2"]),
        prop::option::of(spec),
    )
        .prop_map(|(ns, name, spec)| {
            let info = spec.map(|(host, subsets)| DestinationRuleInfo {
                namespace: ns.clone(),
                name: name.clone(),
                host,
                subsets: subsets
                    .into_iter()
                    .map(|v| Subset {
                        name: v.into(),
                        labels: labels(&[("version", v)]),
                    })
                    .collect(),
                tls_mode: None,
            });
            Change::DestinationRule((ns, name), info)
        })
}

fn peer_authentication() -> impl Strategy<Value = Change> {
    (
        pick(NAMESPACES),
        prop::option::of(pick(&["STRICT", "PERMISSIVE"])),
    )
        .prop_map(|(ns, mode)| {
            let info = mode.map(|m| PeerAuthenticationInfo {
                namespace: ns.clone(),
                name: "default".into(),
                mode: Some(m),
            });
            Change::PeerAuthentication((ns, "default".into()), info)
        })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        2 => namespace(),
        6 => pod(),
        4 => deployment(),
        3 => service(),
        2 => endpoint_slice(),
        2 => gateway(),
        3 => virtual_service(),
        3 => destination_rule(),
        1 => peer_authentication(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn after_any_changes_the_model_equals_a_fresh_build_and_its_diffs_lead_there(
        start in vec(change(), 0..30),
        batches in vec(vec(change(), 1..4), 1..25),
    ) {
        let mut inputs = MeshInputs::default();
        for c in start {
            inputs.apply(c);
        }
        let mut model = MeshModel::new(inputs.clone());
        let mut shown = model.snapshot();
        prop_assert_eq!(&shown, &build(&inputs).snapshot());
        // What a receiver that was away for all of it gets: every diff folded into one.
        let first = shown.clone();
        let mut held = GraphDiff::default();
        for batch in batches {
            for c in batch.clone() {
                inputs.apply(c);
            }
            let d = model.apply(batch);
            let fresh = build(&inputs).snapshot();
            prop_assert_eq!(&model.snapshot(), &fresh, "the model after the changes");
            diff::apply(&mut shown, &d);
            prop_assert_eq!(&shown, &fresh, "the last picture patched with the diff");
            held = diff::merge(held, d);
        }
        let mut late = first;
        diff::apply(&mut late, &held);
        prop_assert_eq!(&late, &shown, "the first picture patched with the folded diffs");
    }
}

#[test]
fn a_pod_turning_ready_changes_its_pod_its_workload_and_the_subset_routed_to_it() {
    let mut inputs = crate::mesh::samples::bookinfo_split();
    let key = inputs
        .pods
        .keys()
        .find(|(_, n)| n.starts_with("reviews-v2-"))
        .unwrap()
        .clone();
    inputs.pods.get_mut(&key).unwrap().ready = 1;
    let before = build(&inputs);
    assert_eq!(
        before
            .node("subset/default/reviews/v2")
            .unwrap()
            .validations[0]
            .finding,
        Finding::SubsetNoReadyPods
    );
    let mut model = MeshModel::new(inputs.clone());
    let mut pod = inputs.pods[&key].clone();
    pod.ready = 2;
    let d = model.apply([Change::Pod(key.clone(), Some(pod))]);
    let changed: Vec<&str> = d.changed_nodes.iter().map(|n| n.id.as_str()).collect();
    // The subset's "no ready pods" warning goes away with it.
    assert_eq!(
        changed,
        [
            format!("pod/default/{}", key.1).as_str(),
            "subset/default/reviews/v2",
            "wl/default/reviews-v2"
        ]
    );
    let subset = model.graph().node("subset/default/reviews/v2").unwrap();
    assert!(subset.validations.is_empty(), "{:?}", subset.validations);
    assert!(d.added_nodes.is_empty() && d.removed_nodes.is_empty());
    assert!(d.added_edges.is_empty() && d.changed_edges.is_empty() && d.removed_edges.is_empty());
}

#[test]
fn a_change_that_changes_nothing_diffs_as_nothing() {
    let inputs = crate::mesh::samples::bookinfo();
    let mut model = MeshModel::new(inputs.clone());
    let (key, pod) = inputs.pods.iter().next().unwrap();
    let d = model.apply([Change::Pod(key.clone(), Some(pod.clone()))]);
    assert!(d.is_empty(), "{d:?}");
}
