//! Builds the mesh graph from the inputs, one node at a time: each node, with the edges it
//! owns, is computed from the inputs and a few cross-object lookups (`Index`) alone. A full
//! build computes every node; an update recomputes only the nodes a change touches (see
//! `live`), with the very same functions, so the two cannot drift apart.
//!
//! Who owns an edge: the Gateway its Serves edges (from the ingress gateways it selects),
//! the VirtualService its Binds, RoutedBy and Route edges, the Service or Subset its
//! Selects edges. Pods, workloads and namespaces own none.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use super::graph::MeshGraph;
use super::inputs::*;
use super::model::*;
use crate::istio;

/// Namespaces that hold the cluster's own machinery, not the mesh a learner looks at.
const HIDDEN_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
    "metallb-system",
];
/// In Istio's namespace only the ingress gateway is part of a request's path.
pub(crate) const ISTIO_NAMESPACE: &str = "istio-system";
/// Container waiting reasons (and the phase) that mean a pod is broken, not starting.
const FAILING: &[&str] = &[
    "Failed",
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "Error",
];

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

/// The object a node is made from. A Deployment is a workload or, when it runs Istio's
/// ingress gateway, an ingress gateway node; a subset is named by its service and name,
/// whichever DestinationRule defines it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum NodeKey {
    Namespace(String),
    Deployment(Key),
    Pod(Key),
    Service(Key),
    Subset { service: Key, subset: String },
    Gateway(Key),
    VirtualService(Key),
}

/// A node and the edges it owns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub node: GraphNode,
    pub edges: Vec<GraphEdge>,
}

/// The Service a host written in an object in `from_ns` names, by the one host resolution
/// (`istio::resolve_host`); None for a host outside the cluster or a wildcard.
pub(crate) fn service_key(host: &str, from_ns: &str) -> Option<Key> {
    istio::resolve_host(host, from_ns)
        .service()
        .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
}

/// The gateways a VirtualService names (`name` or `namespace/name`; not `mesh`).
pub(crate) fn gateway_refs<'a>(vs: &'a VirtualServiceInfo) -> impl Iterator<Item = Key> + 'a {
    vs.gateways
        .iter()
        .filter(|g| g.as_str() != "mesh")
        .map(|gw| match gw.split_once('/') {
            Some((n, name)) => (n.to_owned(), name.to_owned()),
            None => (vs.namespace.clone(), gw.clone()),
        })
}

/// The services a VirtualService's hosts and route destinations name.
pub(crate) fn service_refs(vs: &VirtualServiceInfo) -> BTreeSet<Key> {
    vs.hosts
        .iter()
        .chain(
            vs.http
                .iter()
                .flat_map(|r| r.destinations.iter().map(|d| &d.host)),
        )
        .filter_map(|h| service_key(h, &vs.namespace))
        .collect()
}

pub(crate) fn is_ingress(d: &DeploymentInfo) -> bool {
    d.template_labels.get("istio").map(String::as_str) == Some("ingressgateway")
}

/// The entries of a table keyed by (namespace, name) that are in `ns`.
pub(crate) fn in_ns<'a, V>(
    table: &'a BTreeMap<Key, V>,
    ns: &str,
) -> impl Iterator<Item = (&'a Key, &'a V)> + 'a {
    let ns = ns.to_owned();
    table
        .range((
            Bound::Included((ns.clone(), String::new())),
            Bound::Unbounded,
        ))
        .take_while(move |(k, _)| k.0 == ns)
}

fn keys_in_ns<'a>(set: &'a BTreeSet<Key>, ns: &str) -> impl Iterator<Item = &'a Key> + 'a {
    let ns = ns.to_owned();
    set.range((
        Bound::Included((ns.clone(), String::new())),
        Bound::Unbounded,
    ))
    .take_while(move |k| k.0 == ns)
}

/// Whether a namespace is drawn. Cluster machinery is hidden; istio-system only when it
/// holds an ingress gateway; a namespace with nothing the model draws (or only `default`'s
/// kubernetes service) is left out.
pub(crate) fn is_visible(inputs: &MeshInputs, ns: &str) -> bool {
    if HIDDEN_NAMESPACES.contains(&ns) {
        return false;
    }
    let has_deployments = in_ns(&inputs.deployments, ns).next().is_some();
    let has_services = in_ns(&inputs.services, ns).next().is_some();
    if !(inputs.namespaces.contains_key(ns) || has_deployments || has_services) {
        return false;
    }
    if ns == ISTIO_NAMESPACE {
        return in_ns(&inputs.deployments, ns).any(|(_, d)| is_ingress(d));
    }
    has_deployments
        || (has_services && ns != "default")
        || in_ns(&inputs.virtual_services, ns).next().is_some()
        || in_ns(&inputs.gateways, ns).next().is_some()
}

/// The deployment a pod belongs to: the first in its namespace whose selector it matches.
pub(crate) fn owner_of(inputs: &MeshInputs, p: &PodInfo) -> Option<Key> {
    in_ns(&inputs.deployments, &p.namespace)
        .find(|(_, d)| !d.selector.is_empty() && selects(&d.selector, &p.labels))
        .map(|(k, _)| k.clone())
}

/// Lookups across objects, so that computing one node never scans every pod.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    pub visible: BTreeSet<String>,
    /// Pod to the deployment it belongs to.
    pub owner: HashMap<Key, Key>,
    /// Deployment to its pods.
    pub pods_of: HashMap<Key, BTreeSet<Key>>,
    /// Pods that belong to no deployment.
    pub orphans: BTreeSet<Key>,
    /// Deployments that run an ingress gateway.
    pub ingress: BTreeSet<Key>,
    /// Service to the DestinationRules whose host names it.
    pub rules_of: BTreeMap<Key, BTreeSet<Key>>,
    /// Service to the VirtualServices whose hosts or destinations name it.
    pub vs_of_service: BTreeMap<Key, BTreeSet<Key>>,
    /// Gateway to the VirtualServices bound to it.
    pub vs_of_gateway: BTreeMap<Key, BTreeSet<Key>>,
    /// Service to its EndpointSlices.
    pub slices_of: BTreeMap<Key, BTreeSet<Key>>,
}

impl Index {
    pub fn new(inputs: &MeshInputs) -> Self {
        let mut ix = Index {
            visible: inputs
                .namespaces
                .keys()
                .chain(inputs.deployments.keys().map(|(n, _)| n))
                .chain(inputs.services.keys().map(|(n, _)| n))
                .filter(|ns| is_visible(inputs, ns))
                .cloned()
                .collect(),
            ingress: inputs
                .deployments
                .iter()
                .filter(|(_, d)| is_ingress(d))
                .map(|(k, _)| k.clone())
                .collect(),
            ..Index::default()
        };
        for (k, p) in &inputs.pods {
            ix.set_owner(k, owner_of(inputs, p));
        }
        for (k, dr) in &inputs.destination_rules {
            ix.add_rule(k, dr);
        }
        for (k, vs) in &inputs.virtual_services {
            ix.add_virtual_service(k, vs);
        }
        for (k, es) in &inputs.endpoint_slices {
            ix.add_slice(k, es);
        }
        ix
    }

    pub fn set_owner(&mut self, pod: &Key, owner: Option<Key>) {
        match self.owner.remove(pod) {
            Some(old) => {
                if let Some(set) = self.pods_of.get_mut(&old) {
                    set.remove(pod);
                    if set.is_empty() {
                        self.pods_of.remove(&old);
                    }
                }
            }
            None => {
                self.orphans.remove(pod);
            }
        }
        match owner {
            Some(d) => {
                self.pods_of
                    .entry(d.clone())
                    .or_default()
                    .insert(pod.clone());
                self.owner.insert(pod.clone(), d);
            }
            None => {
                self.orphans.insert(pod.clone());
            }
        }
    }

    pub fn remove_pod(&mut self, pod: &Key) {
        self.set_owner(pod, None);
        self.orphans.remove(pod);
    }

    pub fn add_rule(&mut self, key: &Key, dr: &DestinationRuleInfo) {
        // A rule for a host outside the cluster has no service to draw its subsets in.
        if let Some(svc) = service_key(&dr.host, &dr.namespace) {
            self.rules_of.entry(svc).or_default().insert(key.clone());
        }
    }

    pub fn remove_rule(&mut self, key: &Key, dr: &DestinationRuleInfo) {
        if let Some(svc) = service_key(&dr.host, &dr.namespace) {
            remove_from(&mut self.rules_of, &svc, key);
        }
    }

    pub fn add_virtual_service(&mut self, key: &Key, vs: &VirtualServiceInfo) {
        for svc in service_refs(vs) {
            self.vs_of_service
                .entry(svc)
                .or_default()
                .insert(key.clone());
        }
        for gw in gateway_refs(vs) {
            self.vs_of_gateway
                .entry(gw)
                .or_default()
                .insert(key.clone());
        }
    }

    pub fn remove_virtual_service(&mut self, key: &Key, vs: &VirtualServiceInfo) {
        for svc in service_refs(vs) {
            remove_from(&mut self.vs_of_service, &svc, key);
        }
        for gw in gateway_refs(vs) {
            remove_from(&mut self.vs_of_gateway, &gw, key);
        }
    }

    pub fn add_slice(&mut self, key: &Key, es: &EndpointSliceInfo) {
        self.slices_of
            .entry((es.namespace.clone(), es.service.clone()))
            .or_default()
            .insert(key.clone());
    }

    pub fn remove_slice(&mut self, key: &Key, es: &EndpointSliceInfo) {
        remove_from(
            &mut self.slices_of,
            &(es.namespace.clone(), es.service.clone()),
            key,
        );
    }

    /// The subset names the DestinationRules of a service define.
    pub fn subsets_of<'a>(
        &'a self,
        inputs: &'a MeshInputs,
        svc: &Key,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.rules_of
            .get(svc)
            .into_iter()
            .flatten()
            .filter_map(|k| inputs.destination_rules.get(k))
            .flat_map(|dr| dr.subsets.iter().map(|s| s.name.as_str()))
    }
}

fn remove_from(map: &mut BTreeMap<Key, BTreeSet<Key>>, at: &Key, key: &Key) {
    if let Some(set) = map.get_mut(at) {
        set.remove(key);
        if set.is_empty() {
            map.remove(at);
        }
    }
}

/// Every node the inputs could make (some compute to nothing: a workload in a hidden
/// namespace), in no particular order.
pub(crate) fn node_keys(inputs: &MeshInputs, ix: &Index) -> Vec<NodeKey> {
    let mut keys: Vec<NodeKey> = Vec::with_capacity(
        ix.visible.len() + inputs.deployments.len() + inputs.pods.len() + inputs.services.len(),
    );
    keys.extend(ix.visible.iter().cloned().map(NodeKey::Namespace));
    keys.extend(inputs.deployments.keys().cloned().map(NodeKey::Deployment));
    keys.extend(inputs.pods.keys().cloned().map(NodeKey::Pod));
    keys.extend(inputs.services.keys().cloned().map(NodeKey::Service));
    for svc in ix.rules_of.keys() {
        let names: BTreeSet<&str> = ix.subsets_of(inputs, svc).collect();
        keys.extend(names.into_iter().map(|name| NodeKey::Subset {
            service: svc.clone(),
            subset: name.to_owned(),
        }));
    }
    keys.extend(inputs.gateways.keys().cloned().map(NodeKey::Gateway));
    keys.extend(
        inputs
            .virtual_services
            .keys()
            .cloned()
            .map(NodeKey::VirtualService),
    );
    keys
}

/// Builds the whole graph.
pub fn build(inputs: &MeshInputs) -> MeshGraph {
    let ix = Index::new(inputs);
    let entries: Vec<(NodeKey, Entry)> = node_keys(inputs, &ix)
        .into_iter()
        .filter_map(|k| compute(inputs, &ix, &k).map(|e| (k, e)))
        .collect();
    assemble(entries)
}

pub(crate) fn assemble(entries: Vec<(NodeKey, Entry)>) -> MeshGraph {
    let mut g = MeshGraph::default();
    let mut edges = Vec::new();
    for (k, e) in entries {
        g.set_node(&k, Some(e.node));
        edges.extend(e.edges);
    }
    for e in edges {
        g.add_edge(e);
    }
    g
}

/// The node made from `key`, with the edges it owns; None when it is not drawn.
pub(crate) fn compute(inputs: &MeshInputs, ix: &Index, key: &NodeKey) -> Option<Entry> {
    let mut entry = match key {
        NodeKey::Namespace(ns) => namespace_entry(inputs, ix, ns),
        NodeKey::Deployment(k) => deployment_entry(inputs, ix, k),
        NodeKey::Pod(k) => pod_entry(inputs, ix, k),
        NodeKey::Service(k) => service_entry(inputs, ix, k),
        NodeKey::Subset { service, subset } => subset_entry(inputs, ix, service, subset),
        NodeKey::Gateway(k) => gateway_entry(inputs, ix, k),
        NodeKey::VirtualService(k) => virtual_service_entry(inputs, ix, k),
    }?;
    // A host or gateway written twice (`reviews` and `reviews.default`) is one edge.
    let mut seen = BTreeSet::new();
    entry.edges.retain(|e| seen.insert(e.id.clone()));
    Some(entry)
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
        route: None,
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

fn problem(severity: Severity, finding: Finding) -> Validation {
    Validation { severity, finding }
}

/// A node with health from its validations alone (most kinds: only pods and workloads
/// have readiness).
fn node(
    id: String,
    namespace: &str,
    name: &str,
    details: NodeDetails,
    validations: Vec<Validation>,
    object: Option<ObjectRef>,
) -> GraphNode {
    let mut n = GraphNode {
        id,
        kind: details.kind(),
        namespace: namespace.into(),
        name: name.into(),
        parent: (details.kind() != NodeKind::Namespace).then(|| ns_id(namespace)),
        health: Health::Ok,
        health_reasons: Vec::new(),
        ready: None,
        sidecar: None,
        details,
        validations,
        object,
    };
    let (health, reasons) = health_of(Health::Ok, Vec::new(), &n.validations);
    n.health = health;
    n.health_reasons = reasons;
    n
}

/// Raises `own` (from readiness) by the validations' worst severity, with the reasons.
fn health_of(
    own: Health,
    mut reasons: Vec<HealthReason>,
    validations: &[Validation],
) -> (Health, Vec<HealthReason>) {
    let mut health = own;
    if let Some(worst) = validations.iter().map(|v| v.severity).max() {
        let raised = match worst {
            Severity::Error => Health::Error,
            Severity::Warning => Health::Warning,
            Severity::Info => Health::Ok,
        };
        if raised > Health::Ok {
            reasons.push(HealthReason::Findings { severity: worst });
        }
        health = health.max(raised);
    }
    (health, reasons)
}

/// Ready when every container (replica) is, or none is wanted.
fn readiness_health(r: Readiness) -> (Health, Vec<HealthReason>) {
    if r.complete() || r.total == 0 {
        (Health::Ok, Vec::new())
    } else {
        (Health::Pending, vec![HealthReason::NotReady])
    }
}

/// Drawn namespaces without injection where a pod runs without a sidecar: clients that
/// send plain text.
pub(crate) fn plain_text_namespaces(inputs: &MeshInputs, ix: &Index) -> Vec<String> {
    ix.visible
        .iter()
        .filter(|ns| ns.as_str() != ISTIO_NAMESPACE)
        .filter(|ns| {
            !inputs
                .namespaces
                .get(ns.as_str())
                .is_some_and(|n| n.injection.injects())
        })
        .filter(|ns| in_ns(&inputs.pods, ns).any(|(_, p)| !p.has_sidecar && !p.deleting))
        .cloned()
        .collect()
}

fn namespace_entry(inputs: &MeshInputs, ix: &Index, ns: &str) -> Option<Entry> {
    if !ix.visible.contains(ns) {
        return None;
    }
    let injection = inputs
        .namespaces
        .get(ns)
        .map_or(Injection::None, |n| n.injection.clone());
    let policy = |p: &PeerAuthenticationInfo| {
        Some(MtlsPolicy {
            name: p.name.clone(),
            mesh_wide: p.namespace == ISTIO_NAMESPACE,
            mode: p.mode.clone()?,
        })
    };
    let mut mtls: Vec<MtlsPolicy> = in_ns(&inputs.peer_authentications, ISTIO_NAMESPACE)
        .filter_map(|(_, p)| policy(p))
        .collect();
    if ns != ISTIO_NAMESPACE {
        mtls.extend(in_ns(&inputs.peer_authentications, ns).filter_map(|(_, p)| policy(p)));
    }
    let mut validations = Vec::new();
    // The namespace's own namespace-wide policy wins over the mesh's (a workload policy,
    // which has a selector, is not in these inputs' scope).
    let effective = mtls
        .iter()
        .filter(|p| p.name == "default" || p.mesh_wide)
        .min_by_key(|p| p.mesh_wide);
    if ns != ISTIO_NAMESPACE
        && let Some(p) = effective
        && p.mode == "STRICT"
    {
        let namespaces = plain_text_namespaces(inputs, ix);
        if !namespaces.is_empty() {
            validations.push(problem(
                Severity::Warning,
                Finding::StrictWithPlainTextClients {
                    mesh_wide: p.mesh_wide,
                    namespaces,
                },
            ));
        }
    }
    Some(Entry {
        node: node(
            ns_id(ns),
            ns,
            ns,
            NodeDetails::Namespace(NamespaceDetails { injection, mtls }),
            validations,
            object("v1", "Namespace", None, ns),
        ),
        edges: Vec::new(),
    })
}

/// The node id of a deployment when it is drawn.
fn deployment_node_id(ix: &Index, d: &DeploymentInfo) -> Option<String> {
    if !ix.visible.contains(&d.namespace) {
        return None;
    }
    if is_ingress(d) {
        Some(ingress_id(&d.namespace, &d.name))
    } else if d.namespace == ISTIO_NAMESPACE {
        None
    } else {
        Some(wl_id(&d.namespace, &d.name))
    }
}

fn deployment_entry(inputs: &MeshInputs, ix: &Index, key: &Key) -> Option<Entry> {
    let d = inputs.deployments.get(key)?;
    let id = deployment_node_id(ix, d)?;
    let details = WorkloadDetails {
        selector: d.selector.clone(),
        pod_labels: d.template_labels.clone(),
        paused: d.paused,
    };
    let ready = Readiness::new(d.ready_replicas, d.replicas);
    let (mut health, mut reasons) = readiness_health(ready);
    // Pod problems roll up into their workload, so a folded box still shows them.
    for pod_key in ix.pods_of.get(key).into_iter().flatten() {
        if let Some(p) = inputs.pods.get(pod_key) {
            let state = pod_state(inputs, p);
            if state.health > Health::Ok {
                health = health.max(state.health);
                reasons.push(HealthReason::Pod {
                    id: pod_id(&p.namespace, &p.name),
                    health: state.health,
                });
            }
        }
    }
    let mut n = node(
        id,
        &d.namespace,
        &d.name,
        if is_ingress(d) {
            NodeDetails::IngressGateway(details)
        } else {
            NodeDetails::Workload(details)
        },
        Vec::new(),
        object("apps/v1", "Deployment", Some(&d.namespace), &d.name),
    );
    n.ready = Some(ready);
    n.health = health;
    n.health_reasons = reasons;
    Some(Entry {
        node: n,
        edges: Vec::new(),
    })
}

/// The group a pod is drawn in, when it is drawn: its workload (or ingress gateway), else
/// its namespace. Istio's own pods other than the ingress gateway's are left out.
fn pod_parent(inputs: &MeshInputs, ix: &Index, key: &Key) -> Option<String> {
    if !ix.visible.contains(&key.0) {
        return None;
    }
    match ix.owner.get(key).and_then(|k| inputs.deployments.get(k)) {
        Some(d) => deployment_node_id(ix, d),
        None if key.0 == ISTIO_NAMESPACE => None,
        None => Some(ns_id(&key.0)),
    }
}

/// What a pod's node shows beyond its details: sidecar, findings, health.
struct PodState {
    sidecar: Sidecar,
    /// The ingress gateway's own pods: their Envoy is the pod itself, not a sidecar.
    gateway_pod: bool,
    validations: Vec<Validation>,
    health: Health,
    reasons: Vec<HealthReason>,
}

fn pod_state(inputs: &MeshInputs, p: &PodInfo) -> PodState {
    let injects = inputs
        .namespaces
        .get(&p.namespace)
        .is_some_and(|n| n.injection.injects());
    let gateway_pod = p.labels.contains_key("istio");
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
    let mut validations = Vec::new();
    match sidecar {
        Sidecar::Missing if !gateway_pod => {
            validations.push(problem(Severity::Warning, Finding::PodWithoutSidecar))
        }
        Sidecar::OptedOut => validations.push(problem(Severity::Info, Finding::PodOptedOut)),
        _ => {}
    }
    let failing = match &p.waiting_reason {
        Some(reason) => FAILING.contains(&reason.as_str()).then(|| reason.clone()),
        None if !p.deleting && p.phase == PodPhase::Failed => Some("Failed".to_owned()),
        None => None,
    };
    let (own, reasons) = match failing {
        Some(cause) => (Health::Error, vec![HealthReason::Failing { cause }]),
        None => readiness_health(Readiness::new(p.ready, p.total)),
    };
    let (health, reasons) = health_of(own, reasons, &validations);
    PodState {
        sidecar,
        gateway_pod,
        validations,
        health,
        reasons,
    }
}

fn pod_entry(inputs: &MeshInputs, ix: &Index, key: &Key) -> Option<Entry> {
    let p = inputs.pods.get(key)?;
    let parent = pod_parent(inputs, ix, key)?;
    let state = pod_state(inputs, p);
    let details = PodDetails {
        phase: p.phase,
        waiting_reason: p.waiting_reason.clone(),
        terminating: p.deleting,
        labels: p.labels.clone(),
        ip: p.ip.clone(),
        node: p.node.clone(),
        restarts: p.restarts,
    };
    let mut n = node(
        pod_id(&p.namespace, &p.name),
        &p.namespace,
        &p.name,
        NodeDetails::Pod(details),
        state.validations,
        object("v1", "Pod", Some(&p.namespace), &p.name),
    );
    n.parent = Some(parent);
    n.ready = Some(Readiness::new(p.ready, p.total));
    n.sidecar = (!state.gateway_pod).then_some(state.sidecar);
    n.health = state.health;
    n.health_reasons = state.reasons;
    Some(Entry {
        node: n,
        edges: Vec::new(),
    })
}

/// What a Service or Subset selects: a workload (by its pods' labels) or a pod that
/// belongs to no workload, with its node id when it is drawn.
struct Target<'a> {
    node: Option<String>,
    what: Selected<'a>,
}

enum Selected<'a> {
    Workload(&'a Key),
    Pod(&'a Key),
}

impl Target<'_> {
    /// A selected workload with a ready pod, or a selected pod that is ready.
    fn has_ready_pod(&self, inputs: &MeshInputs, ix: &Index) -> bool {
        match self.what {
            Selected::Pod(k) => inputs.pods.get(k).is_some_and(pod_ready),
            Selected::Workload(d) => ix
                .pods_of
                .get(d)
                .into_iter()
                .flatten()
                .filter_map(|p| inputs.pods.get(p))
                .any(pod_ready),
        }
    }
}

/// Workloads whose pods carry `labels`, and pods with no workload that carry them.
fn selected_targets<'a>(
    inputs: &'a MeshInputs,
    ix: &'a Index,
    ns: &str,
    labels: &Labels,
) -> Vec<Target<'a>> {
    let mut out: Vec<Target> = in_ns(&inputs.deployments, ns)
        .filter(|(_, d)| selects(labels, &d.template_labels))
        .map(|(k, d)| Target {
            node: deployment_node_id(ix, d),
            what: Selected::Workload(k),
        })
        .collect();
    out.extend(
        keys_in_ns(&ix.orphans, ns)
            .filter(|k| {
                inputs
                    .pods
                    .get(*k)
                    .is_some_and(|p| selects(labels, &p.labels))
            })
            .map(|k| Target {
                node: pod_parent(inputs, ix, k).map(|_| pod_id(&k.0, &k.1)),
                what: Selected::Pod(k),
            }),
    );
    out
}

/// A service is drawn unless it is Istio's own or the API server's.
fn service_drawn(inputs: &MeshInputs, ix: &Index, key: &Key) -> bool {
    ix.visible.contains(&key.0)
        && key.0 != ISTIO_NAMESPACE
        && !(key.0 == "default" && key.1 == "kubernetes")
        && inputs.services.contains_key(key)
}

fn service_entry(inputs: &MeshInputs, ix: &Index, key: &Key) -> Option<Entry> {
    if !service_drawn(inputs, ix, key) {
        return None;
    }
    let s = inputs.services.get(key)?;
    let id = svc_id(&s.namespace, &s.name);
    let endpoints = ix
        .slices_of
        .get(key)
        .into_iter()
        .flatten()
        .filter_map(|k| inputs.endpoint_slices.get(k))
        .fold(Readiness::default(), |r, e| {
            Readiness::new(r.ready + e.ready, r.total + e.total)
        });
    let mut validations = Vec::new();
    let mut edges = Vec::new();
    if let Some(selector) = s.selector.as_ref().filter(|sel| !sel.is_empty()) {
        let targets = selected_targets(inputs, ix, &s.namespace, selector);
        if targets.is_empty() {
            validations.push(problem(
                Severity::Warning,
                Finding::ServiceSelectsNoPods {
                    selector: selector.clone(),
                },
            ));
        }
        edges.extend(
            targets
                .iter()
                .filter_map(|t| t.node.as_deref())
                .map(|t| edge(EdgeKind::Selects, &id, t)),
        );
    }
    let details = ServiceDetails {
        service_type: s.type_.clone(),
        cluster_ip: s.cluster_ip.clone(),
        ports: s.ports.clone(),
        selector: s.selector.clone(),
        endpoints,
    };
    Some(Entry {
        node: node(
            id,
            &s.namespace,
            &s.name,
            NodeDetails::Service(details),
            validations,
            object("v1", "Service", Some(&s.namespace), &s.name),
        ),
        edges,
    })
}

/// The DestinationRule (first by namespace and name) that defines a subset of a service.
fn subset_rule<'a>(
    inputs: &'a MeshInputs,
    ix: &Index,
    svc: &Key,
    name: &str,
) -> Option<(&'a DestinationRuleInfo, &'a Subset)> {
    ix.rules_of
        .get(svc)?
        .iter()
        .filter_map(|k| inputs.destination_rules.get(k))
        .find_map(|dr| Some((dr, dr.subsets.iter().find(|s| s.name == name)?)))
}

fn subset_drawn(inputs: &MeshInputs, ix: &Index, svc: &Key, name: &str) -> bool {
    ix.visible.contains(&svc.0) && subset_rule(inputs, ix, svc, name).is_some()
}

/// Whether any drawn VirtualService routes requests to this subset.
fn subset_routed(inputs: &MeshInputs, ix: &Index, svc: &Key, name: &str) -> bool {
    ix.vs_of_service
        .get(svc)
        .into_iter()
        .flatten()
        .filter(|k| ix.visible.contains(&k.0))
        .filter_map(|k| inputs.virtual_services.get(k))
        .any(|vs| {
            vs.http.iter().flat_map(|r| &r.destinations).any(|d| {
                d.subset.as_deref() == Some(name)
                    && service_key(&d.host, &vs.namespace).as_ref() == Some(svc)
            })
        })
}

fn pod_ready(p: &PodInfo) -> bool {
    p.phase == PodPhase::Running && p.total > 0 && p.ready == p.total && !p.deleting
}

fn subset_entry(inputs: &MeshInputs, ix: &Index, svc: &Key, name: &str) -> Option<Entry> {
    if !ix.visible.contains(&svc.0) {
        return None;
    }
    let (dr, subset) = subset_rule(inputs, ix, svc, name)?;
    let (svc_ns, svc_name) = svc;
    let id = subset_id(svc_ns, svc_name, name);
    let mut validations = Vec::new();
    let mut edges = Vec::new();
    match inputs.services.get(svc) {
        None => validations.push(problem(
            Severity::Error,
            Finding::DestinationRuleHostNotFound {
                rule: dr.name.clone(),
                host: dr.host.clone(),
                service: svc_name.clone(),
                service_namespace: svc_ns.clone(),
            },
        )),
        Some(service) => {
            // A subset's pods are the service's pods that also carry the subset labels.
            let mut labels = service.selector.clone().unwrap_or_default();
            labels.extend(subset.labels.clone());
            // Only what is drawn counts: a subset of istiod's service selects nothing here.
            let targets: Vec<Target> = selected_targets(inputs, ix, svc_ns, &labels)
                .into_iter()
                .filter(|t| t.node.is_some())
                .collect();
            let routed = subset_routed(inputs, ix, svc, name);
            if targets.is_empty() {
                validations.push(problem(
                    if routed {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    Finding::SubsetSelectsNoPods {
                        labels: subset.labels.clone(),
                    },
                ));
            } else if routed && !targets.iter().any(|t| t.has_ready_pod(inputs, ix)) {
                validations.push(problem(Severity::Warning, Finding::SubsetNoReadyPods));
            }
            if !routed {
                validations.push(problem(Severity::Info, Finding::SubsetNotRouted));
            }
            edges.extend(
                targets
                    .iter()
                    .filter_map(|t| t.node.as_deref())
                    .map(|t| edge(EdgeKind::Selects, &id, t)),
            );
        }
    }
    let details = SubsetDetails {
        service: svc_name.clone(),
        rule: dr.name.clone(),
        rule_namespace: dr.namespace.clone(),
        host: dr.host.clone(),
        labels: subset.labels.clone(),
        tls_mode: dr.tls_mode.clone(),
    };
    Some(Entry {
        node: node(
            id,
            svc_ns,
            name,
            NodeDetails::Subset(details),
            validations,
            object(
                "networking.istio.io/v1",
                "DestinationRule",
                Some(&dr.namespace),
                &dr.name,
            ),
        ),
        edges,
    })
}

fn gateway_entry(inputs: &MeshInputs, ix: &Index, key: &Key) -> Option<Entry> {
    let gw = inputs.gateways.get(key)?;
    if !ix.visible.contains(&gw.namespace) {
        return None;
    }
    let id = gw_id(&gw.namespace, &gw.name);
    // Istio matches a Gateway's selector against gateway pods in every namespace.
    let edges: Vec<GraphEdge> = if gw.selector.is_empty() {
        Vec::new()
    } else {
        ix.ingress
            .iter()
            .filter_map(|k| inputs.deployments.get(k))
            .filter(|d| selects(&gw.selector, &d.template_labels))
            .filter_map(|d| deployment_node_id(ix, d))
            .map(|from| edge(EdgeKind::Serves, &from, &id))
            .collect()
    };
    let mut validations = Vec::new();
    if edges.is_empty() {
        validations.push(problem(
            Severity::Error,
            Finding::GatewayNotServed {
                selector: gw.selector.clone(),
            },
        ));
    }
    let details = GatewayDetails {
        selector: gw.selector.clone(),
        servers: gw.servers.clone(),
    };
    Some(Entry {
        node: node(
            id,
            &gw.namespace,
            &gw.name,
            NodeDetails::Gateway(details),
            validations,
            object(
                "networking.istio.io/v1",
                "Gateway",
                Some(&gw.namespace),
                &gw.name,
            ),
        ),
        edges,
    })
}

/// Whether a VirtualService routes requests inside the mesh (not only at a gateway).
pub(crate) fn routes_mesh(vs: &VirtualServiceInfo) -> bool {
    vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh")
}

/// The other drawn VirtualServices of the same namespace that route `host` (resolved to the
/// same service) inside the mesh, by name.
fn overlapping(
    inputs: &MeshInputs,
    ix: &Index,
    vs: &VirtualServiceInfo,
    host: &str,
) -> Vec<String> {
    let Some(svc) = service_key(host, &vs.namespace) else {
        return Vec::new();
    };
    ix.vs_of_service
        .get(&svc)
        .into_iter()
        .flatten()
        .filter(|k| k.0 == vs.namespace && k.1 != vs.name)
        .filter_map(|k| inputs.virtual_services.get(k))
        .filter(|other| {
            routes_mesh(other)
                && other
                    .hosts
                    .iter()
                    .any(|h| service_key(h, &other.namespace).as_ref() == Some(&svc))
        })
        .map(|other| other.name.clone())
        .collect()
}

fn virtual_service_entry(inputs: &MeshInputs, ix: &Index, key: &Key) -> Option<Entry> {
    let vs = inputs.virtual_services.get(key)?;
    if !ix.visible.contains(&vs.namespace) {
        return None;
    }
    let id = vs_id(&vs.namespace, &vs.name);
    let mut validations = Vec::new();
    let mut edges = Vec::new();
    for gw in gateway_refs(vs) {
        if inputs.gateways.contains_key(&gw) {
            if ix.visible.contains(&gw.0) {
                edges.push(edge(EdgeKind::Binds, &gw_id(&gw.0, &gw.1), &id));
            }
        } else {
            validations.push(problem(
                Severity::Error,
                Finding::GatewayNotFound {
                    namespace: gw.0,
                    name: gw.1,
                },
            ));
        }
    }
    let applies_to_mesh = vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh");
    if applies_to_mesh {
        for host in &vs.hosts {
            if let Some(svc) = service_key(host, &vs.namespace)
                && service_drawn(inputs, ix, &svc)
            {
                edges.push(edge(EdgeKind::RoutedBy, &svc_id(&svc.0, &svc.1), &id));
            }
        }
    }
    // Istio takes the first route that matches: after one without matches, none is tried.
    let catch_all = vs.http.iter().position(|r| r.matches.is_empty());
    if let Some(first) = catch_all {
        for (i, route) in vs.http.iter().enumerate().skip(first + 1) {
            validations.push(problem(
                Severity::Warning,
                Finding::RouteUnreachable {
                    route: u32::try_from(i).unwrap_or(u32::MAX),
                    after: u32::try_from(first).unwrap_or(u32::MAX),
                    has_fault: route.fault.is_some(),
                },
            ));
        }
    }
    if applies_to_mesh {
        for host in &vs.hosts {
            let others: Vec<String> = overlapping(inputs, ix, vs, host);
            if !others.is_empty() {
                validations.push(problem(
                    Severity::Warning,
                    Finding::OverlappingVirtualServices {
                        host: host.clone(),
                        others,
                    },
                ));
            }
        }
    }
    for (i, route) in vs.http.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let several = route.destinations.len() > 1;
        let sum: i64 = route
            .destinations
            .iter()
            .map(|d| i64::from(d.weight.unwrap_or(0)))
            .sum();
        if several && sum != 100 {
            validations.push(problem(
                Severity::Error,
                Finding::WeightsNot100 { route: index, sum },
            ));
        }
        for (j, d) in route.destinations.iter().enumerate() {
            let Some(svc) = service_key(&d.host, &vs.namespace) else {
                validations.push(problem(
                    Severity::Warning,
                    Finding::RouteHostOutsideCluster {
                        route: index,
                        host: d.host.clone(),
                    },
                ));
                continue;
            };
            if !inputs.services.contains_key(&svc) {
                validations.push(problem(
                    Severity::Error,
                    Finding::RouteHostNotFound {
                        route: index,
                        host: d.host.clone(),
                        service: svc.1,
                        service_namespace: svc.0,
                    },
                ));
                continue;
            }
            let target = match &d.subset {
                Some(subset) if !subset_drawn(inputs, ix, &svc, subset) => {
                    validations.push(problem(
                        Severity::Error,
                        Finding::RouteSubsetNotFound {
                            route: index,
                            subset: subset.clone(),
                            service: svc.1.clone(),
                        },
                    ));
                    continue;
                }
                Some(subset) => subset_id(&svc.0, &svc.1, subset),
                None if service_drawn(inputs, ix, &svc) => svc_id(&svc.0, &svc.1),
                None => continue,
            };
            let weight = match d.weight {
                Some(w) => u32::try_from(w.clamp(0, 100)).unwrap_or(0),
                None if !several => 100,
                None => 0,
            };
            let mut e = edge(EdgeKind::Route, &id, &target);
            e.id = format!("{}#{i}.{j}", e.id);
            e.route = Some(RouteEdge {
                route: index,
                weight,
                split: several,
                matches: route.matches.clone(),
            });
            edges.push(e);
        }
    }
    let details = VirtualServiceDetails {
        hosts: vs.hosts.clone(),
        gateways: vs.gateways.clone(),
        routes: vs.http.clone(),
    };
    Some(Entry {
        node: node(
            id,
            &vs.namespace,
            &vs.name,
            NodeDetails::VirtualService(details),
            validations,
            object(
                "networking.istio.io/v1",
                "VirtualService",
                Some(&vs.namespace),
                &vs.name,
            ),
        ),
        edges,
    })
}
