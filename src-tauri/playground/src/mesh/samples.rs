//! Meshes as pure inputs (no cluster, no HTTP, no timers): the Bookinfo scenario as the
//! simulated cluster runs it once it has settled, and variations of it. The golden model
//! file and the UI's preview data are built from these, and a test checks that the
//! simulated cluster's live model equals `bookinfo()`'s (pod name endings and IPs aside).

use super::inputs::*;

/// The node the simulated cluster schedules every pod on.
const NODE: &str = "istio-playground-control-plane";

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn namespace(m: &mut MeshInputs, name: &str, l: &[(&str, &str)]) {
    m.namespaces.insert(
        name.into(),
        NamespaceInfo {
            name: name.into(),
            injection: Injection::from_labels(&labels(l)),
        },
    );
}

fn deployment(m: &mut MeshInputs, ns: &str, name: &str, selector: &Labels, template: &Labels) {
    m.deployments.insert(
        (ns.into(), name.into()),
        DeploymentInfo {
            namespace: ns.into(),
            name: name.into(),
            selector: selector.clone(),
            template_labels: template.clone(),
            replicas: 1,
            ready_replicas: 1,
            paused: false,
        },
    );
}

/// A running pod with every container ready (`containers` of them, the sidecar included).
fn pod(m: &mut MeshInputs, ns: &str, name: &str, labels: Labels, containers: u32, ip: &str) {
    m.pods.insert(
        (ns.into(), name.into()),
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels,
            phase: PodPhase::Running,
            waiting_reason: None,
            ready: containers,
            total: containers,
            has_sidecar: true,
            sidecar_ready: true,
            ip: Some(ip.into()),
            node: Some(NODE.into()),
            restarts: 0,
            deleting: false,
        },
    );
}

fn service(
    m: &mut MeshInputs,
    ns: &str,
    name: &str,
    selector: Labels,
    cluster_ip: &str,
    endpoints: u32,
) {
    m.services.insert(
        (ns.into(), name.into()),
        ServiceInfo {
            namespace: ns.into(),
            name: name.into(),
            selector: Some(selector),
            type_: "ClusterIP".into(),
            cluster_ip: Some(cluster_ip.into()),
            ports: vec![ServicePort {
                name: Some("http".into()),
                port: 9080,
                protocol: "TCP".into(),
            }],
        },
    );
    m.endpoint_slices.insert(
        (ns.into(), format!("{name}-slice")),
        EndpointSliceInfo {
            namespace: ns.into(),
            service: name.into(),
            ready: endpoints,
            total: endpoints,
        },
    );
}

fn uri(m: StringMatch) -> RequestMatch {
    RequestMatch {
        uri: Some(m),
        ..RequestMatch::default()
    }
}

/// Bookinfo as the simulated cluster runs it (`Scenario::Bookinfo`) once every pod is
/// ready: Istio's ingress gateway in istio-system, the four Bookinfo services with their
/// six workloads in `default` (injection on), the bookinfo Gateway and VirtualService.
pub fn bookinfo() -> MeshInputs {
    let mut m = MeshInputs::default();
    namespace(&mut m, "istio-system", &[]);
    namespace(&mut m, "default", &[("istio-injection", "enabled")]);
    namespace(&mut m, "kube-system", &[]);

    let gateway_selector = labels(&[("app", "istio-ingressgateway"), ("istio", "ingressgateway")]);
    let mut gateway_labels = gateway_selector.clone();
    gateway_labels.extend(labels(&[
        ("install.operator.istio.io/owning-resource", "unknown"),
        ("istio.io/rev", "default"),
        ("operator.istio.io/component", "IngressGateways"),
        ("sidecar.istio.io/inject", "false"),
    ]));
    deployment(
        &mut m,
        "istio-system",
        "istio-ingressgateway",
        &gateway_selector,
        &gateway_labels,
    );
    let mut pod_labels = gateway_labels.clone();
    pod_labels.insert("pod-template-hash".into(), "668dbd8849".into());
    // The gateway's Envoy container is named istio-proxy, like a sidecar.
    pod(
        &mut m,
        "istio-system",
        "istio-ingressgateway-668dbd8849-q2x8m",
        pod_labels,
        1,
        "10.244.0.5",
    );
    let istiod = labels(&[("app", "istiod"), ("istio", "pilot")]);
    deployment(&mut m, "istio-system", "istiod", &istiod, &istiod);
    let dns = labels(&[("k8s-app", "kube-dns")]);
    deployment(&mut m, "kube-system", "coredns", &dns, &dns);

    for (app, cluster_ip, endpoints) in [
        ("details", "10.96.0.13", 1),
        ("ratings", "10.96.0.14", 1),
        ("reviews", "10.96.0.15", 3),
        ("productpage", "10.96.0.16", 1),
    ] {
        service(
            &mut m,
            "default",
            app,
            labels(&[("app", app)]),
            cluster_ip,
            endpoints,
        );
    }
    for (app, version, hash, suffix, ip) in [
        ("productpage", "v1", "6d4d746786", "k8xqz", "10.244.0.11"),
        ("details", "v1", "84c79d7c56", "w5n2p", "10.244.0.12"),
        ("ratings", "v1", "6b977d548d", "h7r4c", "10.244.0.13"),
        ("reviews", "v1", "5969578f8f", "b2lxm", "10.244.0.14"),
        ("reviews", "v2", "fffdf465", "t9dfs", "10.244.0.15"),
        ("reviews", "v3", "855f58646f", "m4vqj", "10.244.0.16"),
    ] {
        let workload = format!("{app}-{version}");
        let l = labels(&[("app", app), ("version", version)]);
        deployment(&mut m, "default", &workload, &l, &l);
        let mut pod_labels = l.clone();
        pod_labels.extend(labels(&[
            ("pod-template-hash", hash),
            ("security.istio.io/tlsMode", "istio"),
            ("service.istio.io/canonical-name", app),
            ("service.istio.io/canonical-revision", version),
        ]));
        pod(
            &mut m,
            "default",
            &format!("{workload}-{hash}-{suffix}"),
            pod_labels,
            2,
            ip,
        );
    }

    m.gateways.insert(
        ("default".into(), "bookinfo-gateway".into()),
        GatewayInfo {
            namespace: "default".into(),
            name: "bookinfo-gateway".into(),
            selector: labels(&[("istio", "ingressgateway")]),
            servers: vec![GatewayServer {
                port: 8080,
                protocol: "HTTP".into(),
                hosts: vec!["*".into()],
            }],
        },
    );
    m.virtual_services.insert(
        ("default".into(), "bookinfo".into()),
        VirtualServiceInfo {
            namespace: "default".into(),
            name: "bookinfo".into(),
            hosts: vec!["*".into()],
            gateways: vec!["bookinfo-gateway".into()],
            http: vec![HttpRoute {
                name: None,
                matches: vec![
                    uri(StringMatch::Exact("/productpage".into())),
                    uri(StringMatch::Prefix("/static".into())),
                    uri(StringMatch::Exact("/login".into())),
                    uri(StringMatch::Exact("/logout".into())),
                    uri(StringMatch::Prefix("/api/v1/products".into())),
                ],
                destinations: vec![RouteDestination {
                    host: "productpage".into(),
                    subset: None,
                    port: Some(9080),
                    weight: None,
                }],
                fault: None,
            }],
        },
    );
    m
}

/// `bookinfo()` with the reviews split a lesson starts from: a DestinationRule with the
/// subsets v1, v2, v3 and a VirtualService sending 60/30/10 of reviews' requests to them.
pub fn bookinfo_split() -> MeshInputs {
    let mut m = bookinfo();
    m.destination_rules.insert(
        ("default".into(), "reviews".into()),
        DestinationRuleInfo {
            namespace: "default".into(),
            name: "reviews".into(),
            host: "reviews".into(),
            subsets: ["v1", "v2", "v3"]
                .into_iter()
                .map(|v| Subset {
                    name: v.into(),
                    labels: labels(&[("version", v)]),
                })
                .collect(),
            tls_mode: None,
        },
    );
    m.virtual_services.insert(
        ("default".into(), "reviews".into()),
        VirtualServiceInfo {
            namespace: "default".into(),
            name: "reviews".into(),
            hosts: vec!["reviews".into()],
            gateways: Vec::new(),
            http: vec![HttpRoute {
                name: None,
                matches: Vec::new(),
                destinations: [("v1", 60), ("v2", 30), ("v3", 10)]
                    .into_iter()
                    .map(|(v, w)| RouteDestination {
                        host: "reviews".into(),
                        subset: Some(v.into()),
                        port: None,
                        weight: Some(w),
                    })
                    .collect(),
                fault: None,
            }],
        },
    );
    m
}

/// `bookinfo_split()` as a newcomer meets it: the ratings pod was started before injection
/// was turned on, so it runs without a sidecar (one warning).
pub fn bookinfo_teaching() -> MeshInputs {
    let mut m = bookinfo_split();
    let ratings = m
        .pods
        .values_mut()
        .find(|p| p.name.starts_with("ratings-v1-"))
        .expect("bookinfo has a ratings pod");
    ratings.has_sidecar = false;
    ratings.sidecar_ready = false;
    ratings.ready = 1;
    ratings.total = 1;
    ratings.labels.remove("security.istio.io/tlsMode");
    m
}
