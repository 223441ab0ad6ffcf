//! The synthetic mesh the benchmarks share: 200 services and 2,000 pods.

#![allow(dead_code)]

use playground::mesh::inputs::*;

pub const NAMESPACES: usize = 10;
pub const SERVICES_PER_NS: usize = 20;
pub const PODS_PER_SERVICE: usize = 10;

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// 10 namespaces x 20 services x 10 pods = 200 services, 2,000 pods, each service with a
/// DestinationRule (v1, v2) and a 90/10 VirtualService, one Gateway per namespace.
pub fn big_mesh() -> MeshInputs {
    let mut m = MeshInputs::default();
    let ig = labels(&[("app", "istio-ingressgateway"), ("istio", "ingressgateway")]);
    m.deployments.insert(
        ("istio-system".into(), "istio-ingressgateway".into()),
        DeploymentInfo {
            namespace: "istio-system".into(),
            name: "istio-ingressgateway".into(),
            selector: ig.clone(),
            template_labels: ig,
            replicas: 1,
            ready_replicas: 1,
            paused: false,
        },
    );
    for n in 0..NAMESPACES {
        let ns = format!("team-{n}");
        m.namespaces.insert(
            ns.clone(),
            NamespaceInfo {
                name: ns.clone(),
                injection: Injection::Enabled,
            },
        );
        let gw = serde_json::json!({"metadata": {"name": "edge", "namespace": ns},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["*"]}]}});
        m.gateways.insert(
            (ns.clone(), "edge".into()),
            GatewayInfo::from_json(&gw).unwrap(),
        );
        for s in 0..SERVICES_PER_NS {
            let app = format!("svc-{s}");
            m.services.insert(
                (ns.clone(), app.clone()),
                ServiceInfo {
                    namespace: ns.clone(),
                    name: app.clone(),
                    selector: Some(labels(&[("app", &app)])),
                    type_: "ClusterIP".into(),
                    cluster_ip: None,
                    ports: vec![ServicePort {
                        name: Some("http".into()),
                        port: 9080,
                        protocol: "TCP".into(),
                    }],
                },
            );
            for version in ["v1", "v2"] {
                let l = labels(&[("app", &app), ("version", version)]);
                let name = format!("{app}-{version}");
                m.deployments.insert(
                    (ns.clone(), name.clone()),
                    DeploymentInfo {
                        namespace: ns.clone(),
                        name: name.clone(),
                        selector: l.clone(),
                        template_labels: l.clone(),
                        replicas: (PODS_PER_SERVICE / 2) as u32,
                        ready_replicas: (PODS_PER_SERVICE / 2) as u32,
                        paused: false,
                    },
                );
                for p in 0..PODS_PER_SERVICE / 2 {
                    let pod = format!("{name}-7d9f8c-{p:05}");
                    m.pods
                        .insert((ns.clone(), pod.clone()), pod_info(&ns, &pod, &l, true));
                }
            }
            let dr = serde_json::json!({"metadata": {"name": app, "namespace": ns},
                "spec": {"host": app, "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}});
            m.destination_rules.insert(
                (ns.clone(), app.clone()),
                DestinationRuleInfo::from_json(&dr).unwrap(),
            );
            let vs = serde_json::json!({"metadata": {"name": app, "namespace": ns},
                "spec": {"hosts": [app], "gateways": if s == 0 { vec!["edge", "mesh"] } else { vec![] },
                         "http": [{"route": [{"destination": {"host": app, "subset": "v1"}, "weight": 90},
                                             {"destination": {"host": app, "subset": "v2"}, "weight": 10}]}]}});
            m.virtual_services.insert(
                (ns.clone(), app.clone()),
                VirtualServiceInfo::from_json(&vs).unwrap(),
            );
        }
    }
    m
}

pub fn pod_info(ns: &str, name: &str, labels: &Labels, ready: bool) -> PodInfo {
    PodInfo {
        namespace: ns.into(),
        name: name.into(),
        labels: labels.clone(),
        phase: PodPhase::Running,
        waiting_reason: None,
        ready: if ready { 2 } else { 1 },
        total: 2,
        has_sidecar: true,
        sidecar_ready: ready,
        ip: Some("10.244.1.1".into()),
        node: None,
        restarts: 0,
        deleting: false,
    }
}
