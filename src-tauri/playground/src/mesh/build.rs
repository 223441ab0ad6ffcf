//! Builds the mesh graph from the inputs: first the raw nodes and edges, then decorations
//! (readiness, sidecars, health) and validations, each in its own small function.

use std::collections::{BTreeMap, HashMap};

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use super::inputs::*;
use super::model::*;

/// Namespaces that hold the cluster's own machinery, not the mesh a learner looks at.
const HIDDEN_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
    "metallb-system",
];
/// In Istio's namespace only the ingress gateway is part of a request's path.
const ISTIO_NAMESPACE: &str = "istio-system";

/// The mesh as a petgraph graph with an id index.
#[derive(Debug, Default, Clone)]
pub struct MeshGraph {
    graph: StableDiGraph<GraphNode, GraphEdge>,
    index: HashMap<String, NodeIndex>,
}

impl MeshGraph {
    pub fn node(&self, id: &str) -> Option<&GraphNode> {
        self.index.get(id).map(|&i| &self.graph[i])
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Edges into `id` of a kind.
    pub fn incoming(&self, id: &str, kind: EdgeKind) -> Vec<&GraphEdge> {
        self.edges_of(id, kind, Direction::Incoming)
    }

    /// Edges out of `id` of a kind.
    pub fn outgoing(&self, id: &str, kind: EdgeKind) -> Vec<&GraphEdge> {
        self.edges_of(id, kind, Direction::Outgoing)
    }

    fn edges_of(&self, id: &str, kind: EdgeKind, dir: Direction) -> Vec<&GraphEdge> {
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        self.graph
            .edges_directed(i, dir)
            .map(|e| e.weight())
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// Sorted by id, so equal meshes give equal snapshots.
    pub fn snapshot(&self) -> MeshSnapshot {
        let mut nodes: Vec<GraphNode> = self.graph.node_weights().cloned().collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<GraphEdge> = self.graph.edge_weights().cloned().collect();
        edges.sort_by(|a, b| a.id.cmp(&b.id));
        MeshSnapshot { nodes, edges }
    }

    /// Like `snapshot`, but moves the nodes and edges out instead of copying them.
    pub fn into_snapshot(self) -> MeshSnapshot {
        let (nodes, edges) = petgraph::Graph::from(self.graph).into_nodes_edges();
        let mut nodes: Vec<GraphNode> = nodes.into_iter().map(|n| n.weight).collect();
        nodes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<GraphEdge> = edges.into_iter().map(|e| e.weight).collect();
        edges.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        MeshSnapshot { nodes, edges }
    }

    fn add_node(&mut self, node: GraphNode) {
        if self.index.contains_key(&node.id) {
            return;
        }
        let id = node.id.clone();
        let i = self.graph.add_node(node);
        self.index.insert(id, i);
    }

    fn add_edge(&mut self, edge: GraphEdge) {
        let (Some(&s), Some(&t)) = (self.index.get(&edge.source), self.index.get(&edge.target))
        else {
            return;
        };
        self.graph.add_edge(s, t, edge);
    }

    fn node_mut(&mut self, id: &str) -> Option<&mut GraphNode> {
        self.index.get(id).map(|&i| &mut self.graph[i])
    }

    fn validate(&mut self, id: &str, severity: Severity, code: &str, message: String) {
        if let Some(node) = self.node_mut(id) {
            node.validations.push(Validation {
                severity,
                code: code.into(),
                message,
            });
        }
    }
}

pub fn ns_id(ns: &str) -> String {
    format!("ns/{ns}")
}
pub fn svc_id(ns: &str, name: &str) -> String {
    format!("svc/{ns}/{name}")
}
pub fn wl_id(ns: &str, name: &str) -> String {
    format!("wl/{ns}/{name}")
}
pub fn ingress_id(ns: &str, name: &str) -> String {
    format!("ingress/{ns}/{name}")
}
pub fn pod_id(ns: &str, name: &str) -> String {
    format!("pod/{ns}/{name}")
}
pub fn gw_id(ns: &str, name: &str) -> String {
    format!("gw/{ns}/{name}")
}
pub fn vs_id(ns: &str, name: &str) -> String {
    format!("vs/{ns}/{name}")
}
pub fn subset_id(ns: &str, service: &str, subset: &str) -> String {
    format!("subset/{ns}/{service}/{subset}")
}

fn edge(kind: EdgeKind, source: &str, target: &str) -> GraphEdge {
    let tag = match kind {
        EdgeKind::Serves => "serves",
        EdgeKind::Binds => "binds",
        EdgeKind::RoutedBy => "routed-by",
        EdgeKind::Route => "route",
        EdgeKind::Selects => "selects",
    };
    GraphEdge {
        id: format!("{tag}:{source}->{target}"),
        kind,
        source: source.into(),
        target: target.into(),
        weight: None,
        matches: None,
        label: None,
    }
}

fn field(label: &str, value: impl Into<String>) -> Field {
    Field {
        label: label.into(),
        value: value.into(),
    }
}

fn object(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> Option<ObjectRef> {
    Some(ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: ns.map(str::to_owned),
        name: name.into(),
    })
}

fn fmt_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return "(none)".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_ingress(d: &DeploymentInfo) -> bool {
    d.template_labels.get("istio").map(String::as_str) == Some("ingressgateway")
}

/// Resolves a route or rule host (`reviews`, `reviews.default`,
/// `reviews.default.svc.cluster.local`) to a service key, as Istio does for short names:
/// relative to the namespace of the object that names it.
pub fn resolve_host(host: &str, from_ns: &str) -> (String, String) {
    let mut parts = host.split('.');
    let name = parts.next().unwrap_or_default().to_owned();
    let ns = parts.next().unwrap_or(from_ns).to_owned();
    (ns, name)
}

/// Lookups every step needs, computed once per build so the model stays linear in the
/// number of pods.
struct Index<'a> {
    deployments_by_ns: HashMap<&'a str, Vec<&'a DeploymentInfo>>,
    pods_by_ns: HashMap<&'a str, Vec<&'a PodInfo>>,
    /// The deployment each pod belongs to, by the deployment's selector.
    owner: HashMap<(&'a str, &'a str), &'a DeploymentInfo>,
}

impl<'a> Index<'a> {
    fn new(inputs: &'a MeshInputs) -> Self {
        let mut deployments_by_ns: HashMap<&str, Vec<&DeploymentInfo>> = HashMap::new();
        for d in inputs.deployments.values() {
            deployments_by_ns.entry(&d.namespace).or_default().push(d);
        }
        let mut pods_by_ns: HashMap<&str, Vec<&PodInfo>> = HashMap::new();
        let mut owner = HashMap::new();
        for p in inputs.pods.values() {
            pods_by_ns.entry(&p.namespace).or_default().push(p);
            let found = deployments_by_ns.get(p.namespace.as_str()).and_then(|ds| {
                ds.iter()
                    .find(|d| !d.selector.is_empty() && selects(&d.selector, &p.labels))
            });
            if let Some(d) = found {
                owner.insert((p.namespace.as_str(), p.name.as_str()), *d);
            }
        }
        Self {
            deployments_by_ns,
            pods_by_ns,
            owner,
        }
    }

    fn deployments(&self, ns: &str) -> &[&'a DeploymentInfo] {
        self.deployments_by_ns.get(ns).map_or(&[], Vec::as_slice)
    }

    fn pods(&self, ns: &str) -> &[&'a PodInfo] {
        self.pods_by_ns.get(ns).map_or(&[], Vec::as_slice)
    }

    fn owner(&self, p: &PodInfo) -> Option<&'a DeploymentInfo> {
        self.owner
            .get(&(p.namespace.as_str(), p.name.as_str()))
            .copied()
    }
}

/// Builds the whole graph.
pub fn build(inputs: &MeshInputs) -> MeshGraph {
    let mut g = MeshGraph::default();
    let ix = Index::new(inputs);
    let namespaces = namespaces_to_show(inputs);
    add_namespaces(&mut g, inputs, &namespaces);
    add_workloads_and_pods(&mut g, inputs, &ix, &namespaces);
    add_services(&mut g, inputs, &ix, &namespaces);
    add_subsets(&mut g, inputs, &ix, &namespaces);
    add_gateways(&mut g, inputs, &namespaces);
    add_virtual_services(&mut g, inputs, &namespaces);
    validate_gateways_served(&mut g, inputs);
    validate_subsets(&mut g, inputs);
    decorate_health(&mut g);
    g
}

fn namespaces_to_show(inputs: &MeshInputs) -> Vec<String> {
    let mut all: Vec<String> = inputs
        .namespaces
        .keys()
        .cloned()
        .chain(inputs.deployments.keys().map(|(n, _)| n.clone()))
        .chain(inputs.services.keys().map(|(n, _)| n.clone()))
        .collect();
    all.sort();
    all.dedup();
    // Cluster machinery is hidden; istio-system only when it holds an ingress gateway; a
    // namespace with nothing the model draws (or only `default`'s kubernetes service) is left out.
    all.retain(|ns| {
        if HIDDEN_NAMESPACES.contains(&ns.as_str()) {
            return false;
        }
        if ns == ISTIO_NAMESPACE {
            return inputs
                .deployments
                .values()
                .any(|d| &d.namespace == ns && is_ingress(d));
        }
        inputs.deployments.keys().any(|(n, _)| n == ns)
            || inputs
                .services
                .keys()
                .any(|(n, _)| n == ns && ns != "default")
            || inputs.virtual_services.keys().any(|(n, _)| n == ns)
            || inputs.gateways.keys().any(|(n, _)| n == ns)
    });
    all
}

fn add_namespaces(g: &mut MeshGraph, inputs: &MeshInputs, namespaces: &[String]) {
    for ns in namespaces {
        let injection = inputs
            .namespaces
            .get(ns)
            .map(|n| n.injection.clone())
            .unwrap_or(Injection::None);
        let injection_text = match &injection {
            Injection::Enabled => "on (istio-injection=enabled)".to_string(),
            Injection::Disabled => "off (istio-injection label is not \"enabled\")".to_string(),
            Injection::Revision(r) => format!("on for revision {r} (istio.io/rev={r})"),
            Injection::None => "off (no istio-injection label)".to_string(),
        };
        let mut fields = vec![field("Sidecar injection", injection_text)];
        let mtls: Vec<String> = inputs
            .peer_authentications
            .values()
            .filter(|p| &p.namespace == ns || p.namespace == ISTIO_NAMESPACE)
            .filter_map(|p| {
                let scope = if p.namespace == ISTIO_NAMESPACE {
                    "mesh-wide"
                } else {
                    "this namespace"
                };
                Some(format!("{} ({scope}, {})", p.mode.clone()?, p.name))
            })
            .collect();
        if !mtls.is_empty() {
            fields.push(field("Mutual TLS", mtls.join("; ")));
        }
        g.add_node(GraphNode {
            id: ns_id(ns),
            kind: NodeKind::Namespace,
            namespace: ns.clone(),
            name: ns.clone(),
            label: ns.clone(),
            parent: None,
            health: Health::Ok,
            ready: None,
            sidecar: None,
            fields,
            validations: Vec::new(),
            object: object("v1", "Namespace", None, ns),
        });
    }
}

fn add_workloads_and_pods(
    g: &mut MeshGraph,
    inputs: &MeshInputs,
    ix: &Index,
    namespaces: &[String],
) {
    for d in inputs.deployments.values() {
        if !namespaces.contains(&d.namespace) {
            continue;
        }
        let ingress = is_ingress(d);
        if d.namespace == ISTIO_NAMESPACE && !ingress {
            continue;
        }
        let id = if ingress {
            ingress_id(&d.namespace, &d.name)
        } else {
            wl_id(&d.namespace, &d.name)
        };
        let mut fields = vec![
            field(
                "Replicas",
                format!("{} ready of {}", d.ready_replicas, d.replicas),
            ),
            field("Pod labels", fmt_labels(&d.template_labels)),
        ];
        if d.paused {
            fields.push(field("Rollout", "paused"));
        }
        g.add_node(GraphNode {
            id: id.clone(),
            kind: if ingress {
                NodeKind::IngressGateway
            } else {
                NodeKind::Workload
            },
            namespace: d.namespace.clone(),
            name: d.name.clone(),
            label: d.name.clone(),
            parent: Some(ns_id(&d.namespace)),
            health: Health::Ok,
            ready: Some(format!("{}/{}", d.ready_replicas, d.replicas)),
            sidecar: None,
            fields,
            validations: Vec::new(),
            object: object("apps/v1", "Deployment", Some(&d.namespace), &d.name),
        });
    }
    for p in inputs.pods.values() {
        if !namespaces.contains(&p.namespace) {
            continue;
        }
        let parent = match ix.owner(p) {
            Some(d) if is_ingress(d) => ingress_id(&d.namespace, &d.name),
            Some(d) if d.namespace == ISTIO_NAMESPACE => continue,
            Some(d) => wl_id(&d.namespace, &d.name),
            None if p.namespace == ISTIO_NAMESPACE => continue,
            None => ns_id(&p.namespace),
        };
        add_pod(g, inputs, p, parent);
    }
}

fn add_pod(g: &mut MeshGraph, inputs: &MeshInputs, p: &PodInfo, parent: String) {
    let injects = inputs
        .namespaces
        .get(&p.namespace)
        .is_some_and(|n| n.injection.injects());
    let is_gateway_pod = p.labels.contains_key("istio");
    let sidecar = if p.has_sidecar {
        if p.sidecar_ready {
            Sidecar::Ready
        } else {
            Sidecar::Starting
        }
    } else if p.opted_out() {
        Sidecar::OptedOut
    } else if injects {
        Sidecar::Missing
    } else {
        Sidecar::NotInjected
    };
    let mut fields = vec![
        field(
            "Status",
            p.waiting_reason.clone().unwrap_or_else(|| {
                if p.deleting {
                    "Terminating".into()
                } else {
                    p.phase.clone()
                }
            }),
        ),
        field("Ready containers", format!("{}/{}", p.ready, p.total)),
        field("Labels", fmt_labels(&p.labels)),
    ];
    if let Some(ip) = &p.ip {
        fields.push(field("Pod IP", ip.clone()));
    }
    if p.restarts > 0 {
        fields.push(field("Restarts", p.restarts.to_string()));
    }
    let id = pod_id(&p.namespace, &p.name);
    g.add_node(GraphNode {
        id: id.clone(),
        kind: NodeKind::Pod,
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        label: short_pod_name(&p.name),
        parent: Some(parent),
        health: Health::Ok,
        ready: Some(format!("{}/{}", p.ready, p.total)),
        // The gateway's own Envoy is the pod itself, not a sidecar.
        sidecar: (!is_gateway_pod).then_some(sidecar),
        fields,
        validations: Vec::new(),
        object: object("v1", "Pod", Some(&p.namespace), &p.name),
    });
    match sidecar {
        Sidecar::Missing if !is_gateway_pod => g.validate(
            &id,
            Severity::Warning,
            "pod-without-sidecar",
            format!(
                "This pod has no sidecar although namespace {} asks for injection: it was started before injection was turned on. Restart its workload to give it one.",
                p.namespace
            ),
        ),
        Sidecar::OptedOut => g.validate(
            &id,
            Severity::Info,
            "pod-opted-out",
            "This pod opted out of injection with the label sidecar.istio.io/inject=false, so Istio does not route or observe its traffic.".into(),
        ),
        _ => {}
    }
}

/// `reviews-v2-5b9c7d8f4-x7k2p` is shown as `x7k2p` inside its workload's box.
fn short_pod_name(name: &str) -> String {
    name.rsplit('-').next().unwrap_or(name).to_owned()
}

fn add_services(g: &mut MeshGraph, inputs: &MeshInputs, ix: &Index, namespaces: &[String]) {
    for s in inputs.services.values() {
        if !namespaces.contains(&s.namespace) || s.namespace == ISTIO_NAMESPACE {
            continue;
        }
        if s.namespace == "default" && s.name == "kubernetes" {
            continue;
        }
        let id = svc_id(&s.namespace, &s.name);
        let ports = s
            .ports
            .iter()
            .map(|p| match &p.name {
                Some(n) => format!("{} ({n})", p.port),
                None => p.port.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut fields = vec![
            field("Type", s.type_.clone()),
            field("Ports", ports),
            field(
                "Selects pods with",
                s.selector
                    .as_ref()
                    .map_or("(no selector)".into(), fmt_labels),
            ),
            field(
                "DNS name",
                format!("{}.{}.svc.cluster.local", s.name, s.namespace),
            ),
        ];
        let endpoints = inputs
            .endpoint_slices
            .values()
            .filter(|e| e.namespace == s.namespace && e.service == s.name)
            .fold((0, 0), |(r, t), e| (r + e.ready, t + e.total));
        fields.push(field(
            "Endpoints",
            format!("{} ready of {}", endpoints.0, endpoints.1),
        ));
        g.add_node(GraphNode {
            id: id.clone(),
            kind: NodeKind::Service,
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            label: s.name.clone(),
            parent: Some(ns_id(&s.namespace)),
            health: Health::Ok,
            ready: None,
            sidecar: None,
            fields,
            validations: Vec::new(),
            object: object("v1", "Service", Some(&s.namespace), &s.name),
        });
        let Some(selector) = s.selector.as_ref().filter(|sel| !sel.is_empty()) else {
            continue;
        };
        let targets = selected_targets(ix, &s.namespace, selector);
        if targets.is_empty() {
            g.validate(
                &id,
                Severity::Warning,
                "service-selects-no-pods",
                format!(
                    "No pod has the labels {}, so requests to this service have nowhere to go.",
                    fmt_labels(selector)
                ),
            );
        }
        for target in targets {
            g.add_edge(edge(EdgeKind::Selects, &id, &target));
        }
    }
}

/// Workloads whose pods carry `labels` (and pods with no workload that carry them).
fn selected_targets(ix: &Index, ns: &str, labels: &Labels) -> Vec<String> {
    let mut out: Vec<String> = ix
        .deployments(ns)
        .iter()
        .filter(|d| selects(labels, &d.template_labels))
        .map(|d| {
            if is_ingress(d) {
                ingress_id(ns, &d.name)
            } else {
                wl_id(ns, &d.name)
            }
        })
        .collect();
    out.extend(
        ix.pods(ns)
            .iter()
            .filter(|p| ix.owner(p).is_none() && selects(labels, &p.labels))
            .map(|p| pod_id(ns, &p.name)),
    );
    out
}

fn add_subsets(g: &mut MeshGraph, inputs: &MeshInputs, ix: &Index, namespaces: &[String]) {
    for dr in inputs.destination_rules.values() {
        let (svc_ns, svc_name) = resolve_host(&dr.host, &dr.namespace);
        if !namespaces.contains(&svc_ns) {
            continue;
        }
        let service = inputs.services.get(&(svc_ns.clone(), svc_name.clone()));
        for subset in &dr.subsets {
            let id = subset_id(&svc_ns, &svc_name, &subset.name);
            let mut fields = vec![
                field(
                    "Destination rule",
                    format!("{} (host {})", dr.name, dr.host),
                ),
                field("Pod labels", fmt_labels(&subset.labels)),
            ];
            if let Some(mode) = &dr.tls_mode {
                fields.push(field("TLS mode", mode.clone()));
            }
            g.add_node(GraphNode {
                id: id.clone(),
                kind: NodeKind::Subset,
                namespace: svc_ns.clone(),
                name: subset.name.clone(),
                label: format!("{svc_name} {}", subset.name),
                parent: Some(ns_id(&svc_ns)),
                health: Health::Ok,
                ready: None,
                sidecar: None,
                fields,
                validations: Vec::new(),
                object: object(
                    "networking.istio.io/v1",
                    "DestinationRule",
                    Some(&dr.namespace),
                    &dr.name,
                ),
            });
            let Some(service) = service else {
                g.validate(
                    &id,
                    Severity::Error,
                    "destination-rule-host-not-found",
                    format!(
                        "Destination rule {} is for host {}, but there is no service {svc_name} in namespace {svc_ns}.",
                        dr.name, dr.host
                    ),
                );
                continue;
            };
            // A subset's pods are the service's pods that also carry the subset labels.
            let mut labels = service.selector.clone().unwrap_or_default();
            labels.extend(subset.labels.clone());
            for target in selected_targets(ix, &svc_ns, &labels) {
                g.add_edge(edge(EdgeKind::Selects, &id, &target));
            }
        }
    }
}

fn add_gateways(g: &mut MeshGraph, inputs: &MeshInputs, namespaces: &[String]) {
    for gw in inputs.gateways.values() {
        if !namespaces.contains(&gw.namespace) {
            continue;
        }
        let id = gw_id(&gw.namespace, &gw.name);
        let servers = gw
            .servers
            .iter()
            .map(|s| format!("{} {} for {}", s.protocol, s.port, s.hosts.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        g.add_node(GraphNode {
            id: id.clone(),
            kind: NodeKind::Gateway,
            namespace: gw.namespace.clone(),
            name: gw.name.clone(),
            label: gw.name.clone(),
            parent: Some(ns_id(&gw.namespace)),
            health: Health::Ok,
            ready: None,
            sidecar: None,
            fields: vec![
                field("Selects gateway pods with", fmt_labels(&gw.selector)),
                field("Listens on", servers),
            ],
            validations: Vec::new(),
            object: object(
                "networking.istio.io/v1",
                "Gateway",
                Some(&gw.namespace),
                &gw.name,
            ),
        });
        // Istio matches a Gateway's selector against gateway pods in every namespace.
        for d in inputs.deployments.values().filter(|d| is_ingress(d)) {
            if !gw.selector.is_empty() && selects(&gw.selector, &d.template_labels) {
                g.add_edge(edge(
                    EdgeKind::Serves,
                    &ingress_id(&d.namespace, &d.name),
                    &id,
                ));
            }
        }
    }
}

fn add_virtual_services(g: &mut MeshGraph, inputs: &MeshInputs, namespaces: &[String]) {
    for vs in inputs.virtual_services.values() {
        if !namespaces.contains(&vs.namespace) {
            continue;
        }
        let id = vs_id(&vs.namespace, &vs.name);
        let applies_to_mesh = vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh");
        let mut fields = vec![
            field("Hosts", vs.hosts.join(", ")),
            field(
                "Applies to",
                if vs.gateways.is_empty() {
                    "requests between services inside the mesh".to_string()
                } else {
                    vs.gateways.join(", ")
                },
            ),
        ];
        for (i, route) in vs.http.iter().enumerate() {
            let to = route
                .destinations
                .iter()
                .map(|d| {
                    let target = match &d.subset {
                        Some(s) => format!("{} {s}", d.host),
                        None => d.host.clone(),
                    };
                    match d.weight {
                        Some(w) => format!("{target} {w}%"),
                        None => target,
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let when = if route.matches.is_empty() {
                "any request".to_string()
            } else {
                route.matches.join(" or ")
            };
            let mut text = format!("{when} → {to}");
            if let Some(f) = &route.fault {
                text.push_str(&format!(" (fault: {f})"));
            }
            fields.push(field(&format!("Route {}", i + 1), text));
        }
        g.add_node(GraphNode {
            id: id.clone(),
            kind: NodeKind::VirtualService,
            namespace: vs.namespace.clone(),
            name: vs.name.clone(),
            label: vs.name.clone(),
            parent: Some(ns_id(&vs.namespace)),
            health: Health::Ok,
            ready: None,
            sidecar: None,
            fields,
            validations: Vec::new(),
            object: object(
                "networking.istio.io/v1",
                "VirtualService",
                Some(&vs.namespace),
                &vs.name,
            ),
        });
        for gw in vs.gateways.iter().filter(|g| g.as_str() != "mesh") {
            let (gw_ns, gw_name) = match gw.split_once('/') {
                Some((n, name)) => (n.to_owned(), name.to_owned()),
                None => (vs.namespace.clone(), gw.clone()),
            };
            if inputs
                .gateways
                .contains_key(&(gw_ns.clone(), gw_name.clone()))
            {
                g.add_edge(edge(EdgeKind::Binds, &gw_id(&gw_ns, &gw_name), &id));
            } else {
                g.validate(
                    &id,
                    Severity::Error,
                    "gateway-not-found",
                    format!(
                        "This virtual service is bound to gateway {gw_ns}/{gw_name}, which does not exist, so requests through it are not routed."
                    ),
                );
            }
        }
        if applies_to_mesh {
            for host in &vs.hosts {
                let key = resolve_host(host, &vs.namespace);
                if inputs.services.contains_key(&key) {
                    g.add_edge(edge(EdgeKind::RoutedBy, &svc_id(&key.0, &key.1), &id));
                }
            }
        }
        add_routes(g, inputs, vs, &id);
    }
}

fn add_routes(g: &mut MeshGraph, inputs: &MeshInputs, vs: &VirtualServiceInfo, id: &str) {
    for (i, route) in vs.http.iter().enumerate() {
        let several = route.destinations.len() > 1;
        let sum: i64 = route
            .destinations
            .iter()
            .map(|d| d.weight.unwrap_or(0))
            .sum();
        if several && sum != 100 {
            g.validate(
                id,
                Severity::Error,
                "weights-not-100",
                format!(
                    "Route {} splits traffic with weights that add up to {sum}, not 100; Istio rejects or misroutes such a split.",
                    i + 1
                ),
            );
        }
        let matches = (!route.matches.is_empty()).then(|| route.matches.join(" or "));
        for (j, d) in route.destinations.iter().enumerate() {
            let (ns, name) = resolve_host(&d.host, &vs.namespace);
            if !inputs.services.contains_key(&(ns.clone(), name.clone())) {
                g.validate(
                    id,
                    Severity::Error,
                    "route-host-not-found",
                    format!(
                        "Route {} sends requests to host {}, but there is no service {name} in namespace {ns}: those requests fail.",
                        i + 1,
                        d.host
                    ),
                );
                continue;
            }
            let target = match &d.subset {
                Some(subset) => {
                    let sid = subset_id(&ns, &name, subset);
                    if g.node(&sid).is_none() {
                        g.validate(
                            id,
                            Severity::Error,
                            "route-subset-not-found",
                            format!(
                                "Route {} sends requests to subset {subset} of {name}, but no destination rule defines that subset: those requests fail with 503.",
                                i + 1
                            ),
                        );
                        continue;
                    }
                    sid
                }
                None => svc_id(&ns, &name),
            };
            let weight = match d.weight {
                Some(w) => Some(w.clamp(0, 100) as u32),
                None if !several => Some(100),
                None => Some(0),
            };
            let mut e = edge(EdgeKind::Route, id, &target);
            e.id = format!("{}#{}.{}", e.id, i, j);
            e.weight = weight;
            e.label = (several || weight != Some(100)).then(|| format!("{}%", weight.unwrap_or(0)));
            e.matches = matches.clone();
            g.add_edge(e);
        }
    }
}

fn validate_gateways_served(g: &mut MeshGraph, inputs: &MeshInputs) {
    for gw in inputs.gateways.values() {
        let id = gw_id(&gw.namespace, &gw.name);
        if g.node(&id).is_some() && g.incoming(&id, EdgeKind::Serves).is_empty() {
            g.validate(
                &id,
                Severity::Error,
                "gateway-not-served",
                format!(
                    "No ingress gateway has the labels {} that this Gateway selects, so nothing accepts requests for it.",
                    fmt_labels(&gw.selector)
                ),
            );
        }
    }
}

fn validate_subsets(g: &mut MeshGraph, inputs: &MeshInputs) {
    // Pods by the box they are drawn in, so each subset's targets are checked directly.
    let mut pods_in: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for n in g.graph.node_weights().filter(|n| n.kind == NodeKind::Pod) {
        if let Some(p) = &n.parent {
            pods_in
                .entry(p.clone())
                .or_default()
                .push((n.namespace.clone(), n.name.clone()));
        }
    }
    let subset_ids: Vec<String> = g
        .graph
        .node_weights()
        .filter(|n| n.kind == NodeKind::Subset)
        .map(|n| n.id.clone())
        .collect();
    for id in subset_ids {
        let routed = !g.incoming(&id, EdgeKind::Route).is_empty();
        let selected: Vec<String> = g
            .outgoing(&id, EdgeKind::Selects)
            .iter()
            .map(|e| e.target.clone())
            .collect();
        let has_dr_error = g
            .node(&id)
            .is_some_and(|n| n.validations.iter().any(|v| v.severity == Severity::Error));
        if has_dr_error {
            continue;
        }
        if selected.is_empty() {
            let labels = g
                .node(&id)
                .and_then(|n| n.fields.iter().find(|f| f.label == "Pod labels"))
                .map(|f| f.value.clone())
                .unwrap_or_default();
            g.validate(
                &id,
                if routed { Severity::Error } else { Severity::Warning },
                "subset-selects-no-pods",
                format!(
                    "No pod has the labels {labels}, so requests routed to this subset fail with 503 (no healthy upstream)."
                ),
            );
            continue;
        }
        let ready = selected
            .iter()
            .any(|t| target_has_ready_pod(g, inputs, &pods_in, t));
        if !ready && routed {
            g.validate(
                &id,
                Severity::Warning,
                "subset-no-ready-pods",
                "The pods of this subset are not ready yet; requests routed here fail until they are.".into(),
            );
        }
    }
}

fn target_has_ready_pod(
    g: &MeshGraph,
    inputs: &MeshInputs,
    pods_in: &HashMap<String, Vec<(String, String)>>,
    target: &str,
) -> bool {
    match g.node(target) {
        Some(n) if n.kind == NodeKind::Pod => pod_ready(inputs, &n.namespace, &n.name),
        Some(_) => pods_in
            .get(target)
            .is_some_and(|pods| pods.iter().any(|(ns, name)| pod_ready(inputs, ns, name))),
        None => false,
    }
}

fn pod_ready(inputs: &MeshInputs, ns: &str, name: &str) -> bool {
    inputs
        .pods
        .get(&(ns.to_owned(), name.to_owned()))
        .is_some_and(|p| p.phase == "Running" && p.total > 0 && p.ready == p.total && !p.deleting)
}

/// Health from readiness and validations; groups take the worst of what they hold.
fn decorate_health(g: &mut MeshGraph) {
    let ids: Vec<NodeIndex> = g.graph.node_indices().collect();
    for i in &ids {
        let n = &g.graph[*i];
        let mut health = match n.kind {
            NodeKind::Pod => pod_health(n),
            NodeKind::Workload | NodeKind::IngressGateway => match n.ready.as_deref() {
                Some(r) => ready_health(r),
                None => Health::Ok,
            },
            _ => Health::Ok,
        };
        if let Some(worst) = n.validations.iter().map(|v| v.severity).max() {
            health = health.max(match worst {
                Severity::Error => Health::Error,
                Severity::Warning => Health::Warning,
                Severity::Info => Health::Ok,
            });
        }
        g.graph[*i].health = health;
    }
    // Roll pod problems up into their workload so a folded box still shows them.
    let mut worst_child: BTreeMap<String, Health> = BTreeMap::new();
    for n in g.graph.node_weights().filter(|n| n.kind == NodeKind::Pod) {
        if let Some(p) = &n.parent {
            let e = worst_child.entry(p.clone()).or_insert(Health::Ok);
            *e = (*e).max(n.health);
        }
    }
    for (parent, h) in worst_child {
        if let Some(node) = g.node_mut(&parent)
            && node.kind != NodeKind::Namespace
        {
            node.health = node.health.max(h);
        }
    }
}

fn pod_health(n: &GraphNode) -> Health {
    let status = n
        .fields
        .iter()
        .find(|f| f.label == "Status")
        .map(|f| f.value.as_str())
        .unwrap_or("");
    if matches!(
        status,
        "Failed" | "CrashLoopBackOff" | "ImagePullBackOff" | "ErrImagePull" | "Error"
    ) {
        return Health::Error;
    }
    match n.ready.as_deref() {
        Some(r) => ready_health(r),
        None => Health::Pending,
    }
}

fn ready_health(ready: &str) -> Health {
    match ready.split_once('/') {
        Some((a, b)) if a == b && b != "0" => Health::Ok,
        Some((_, "0")) => Health::Ok,
        _ => Health::Pending,
    }
}
