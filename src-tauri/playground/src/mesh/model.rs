//! The mesh as the UI draws it: typed nodes and edges with deterministic ids, plus the
//! decorations (health, readiness, sidecars) and validations computed from the cluster.
//!
//! Everything here is data: counts, labels, states and codes. The words a person reads
//! ("2/2", "on (istio-injection=enabled)", "60%") are made where the model is shown: the
//! CLI's printer and the UI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Label key to value, sorted by key.
pub type Labels = BTreeMap<String, String>;

/// What a node stands for. Mirrored in TypeScript; the UI picks shape and colour from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum NodeKind {
    /// A namespace, drawn as a group around what it holds.
    Namespace,
    /// The Envoy deployment at the edge (`istio-ingressgateway`).
    IngressGateway,
    /// Istio `Gateway`: which ports and hosts the ingress gateway accepts.
    Gateway,
    /// Istio `VirtualService`: where requests for a host go.
    VirtualService,
    /// Kubernetes `Service`.
    Service,
    /// A `DestinationRule` subset (a named group of pods, e.g. reviews v2).
    Subset,
    /// A Deployment and the pods it runs.
    Workload,
    Pod,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum EdgeKind {
    /// Ingress gateway pods that a Gateway's selector picks.
    Serves,
    /// A Gateway listed in a VirtualService's `gateways`.
    Binds,
    /// A Service whose host a VirtualService takes over.
    RoutedBy,
    /// A VirtualService route destination (a service or a subset), with its weight.
    Route,
    /// A Service or Subset selecting pods by labels.
    Selects,
}

/// Overall state of a node, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Health {
    Ok,
    /// Not ready yet (pods starting).
    Pending,
    /// Works, but a validation warns.
    Warning,
    /// Broken: requests fail here.
    Error,
}

/// Why a node's health is not `ok`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "reason", rename_all = "kebab-case")]
#[ts(export)]
pub enum HealthReason {
    /// Fewer containers (a pod) or replicas (a workload) are ready than wanted.
    NotReady,
    /// The pod failed, or a container cannot start: the phase `Failed` or the kubelet's
    /// reason (`CrashLoopBackOff`, `ImagePullBackOff`, ...).
    Failing { cause: String },
    /// Its own validations, listed in `validations`; `severity` is the worst of them.
    Findings { severity: Severity },
    /// A pod drawn inside it is not ok.
    Pod { id: String, health: Health },
}

/// Ready and wanted counts, as `kubectl get` shows them: containers of a pod, replicas of a
/// workload, endpoints of a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Readiness {
    pub ready: u32,
    pub total: u32,
}

impl Readiness {
    pub fn new(ready: u32, total: u32) -> Self {
        Self { ready, total }
    }

    /// All ready, or nothing wanted.
    pub fn complete(&self) -> bool {
        self.ready == self.total
    }
}

/// Whether a pod has its Envoy sidecar and why (not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum Sidecar {
    /// Injected and running.
    Ready,
    /// Injected, not ready yet.
    Starting,
    /// Missing although its namespace asks for injection (created before the label, or
    /// injection failed): restart it to get one.
    Missing,
    /// The pod opted out with `sidecar.istio.io/inject: "false"`.
    OptedOut,
    /// Its namespace is not labelled for injection.
    NotInjected,
}

/// How a namespace asks for sidecar injection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[ts(export)]
pub enum Injection {
    /// `istio-injection=enabled`.
    Enabled,
    /// `istio-injection` set to anything else: it wins over a revision label.
    Disabled,
    /// `istio.io/rev=<rev>` without an `istio-injection` label.
    Revision { revision: String },
    /// Neither label.
    None,
}

impl Injection {
    pub fn injects(&self) -> bool {
        matches!(self, Injection::Enabled | Injection::Revision { .. })
    }
}

/// How serious a validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// What a validation found, with what its sentence needs. `code` is stable
/// (`subset-selects-no-pods`); the UI and the CLI word it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[ts(export)]
pub enum Finding {
    /// A pod without a sidecar in a namespace that asks for injection: it started before
    /// injection was turned on.
    PodWithoutSidecar,
    /// A pod that opted out of injection (`sidecar.istio.io/inject=false`).
    PodOptedOut,
    /// No workload or pod carries the service's selector labels.
    ServiceSelectsNoPods { selector: Labels },
    /// The DestinationRule defining this subset names a host with no service.
    #[serde(rename_all = "camelCase")]
    DestinationRuleHostNotFound {
        rule: String,
        host: String,
        service: String,
        service_namespace: String,
    },
    /// No pod carries the subset's labels (with the service's selector).
    SubsetSelectsNoPods { labels: Labels },
    /// The subset's pods exist but none is ready, and a route sends requests here.
    SubsetNoReadyPods,
    /// No ingress gateway carries the labels the Gateway selects.
    GatewayNotServed { selector: Labels },
    /// A VirtualService is bound to a Gateway that does not exist.
    GatewayNotFound { namespace: String, name: String },
    /// A route's weights (route index `route`, from 0) add up to `sum`, not 100.
    #[serde(rename = "weights-not-100")]
    WeightsNot100 {
        route: u32,
        #[ts(type = "number")]
        sum: i64,
    },
    /// A route (index from 0) sends requests to a host with no service.
    #[serde(rename_all = "camelCase")]
    RouteHostNotFound {
        route: u32,
        host: String,
        service: String,
        service_namespace: String,
    },
    /// A route (index from 0) sends requests to a host outside the cluster: it needs a
    /// ServiceEntry, which the model does not show.
    RouteHostOutsideCluster { route: u32, host: String },
    /// A route (index from 0) sends requests to a subset no DestinationRule defines.
    RouteSubsetNotFound {
        route: u32,
        subset: String,
        service: String,
    },
    /// A route (index from 0) comes after route `after`, which matches every request: no
    /// request ever reaches it, so its fault (`has_fault`) and destinations do nothing.
    #[serde(rename_all = "camelCase")]
    RouteUnreachable {
        route: u32,
        after: u32,
        has_fault: bool,
    },
    /// Other VirtualServices (in the same namespace) also route this host inside the mesh:
    /// Istio uses only one of them for it, so the others' routes may never apply.
    OverlappingVirtualServices { host: String, others: Vec<String> },
    /// No VirtualService routes to this subset: it is defined but unused.
    SubsetNotRouted,
    /// The namespace requires mutual TLS (STRICT) while pods without a sidecar run in
    /// namespaces without injection (`namespaces`): their plain-text requests here are
    /// refused.
    #[serde(rename_all = "camelCase")]
    StrictWithPlainTextClients {
        /// The policy's mode comes from the mesh-wide policy.
        mesh_wide: bool,
        namespaces: Vec<String>,
    },
}

/// A finding about the configuration, attached to the node it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Validation {
    pub severity: Severity,
    #[serde(flatten)]
    pub finding: Finding,
}

/// The Kubernetes object a node was made from, to fetch its YAML on demand.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// A PeerAuthentication that applies to a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MtlsPolicy {
    pub name: String,
    /// In Istio's root namespace, so it applies to the whole mesh.
    pub mesh_wide: bool,
    /// `STRICT`, `PERMISSIVE`, `DISABLE` or `UNSET`, as written.
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NamespaceDetails {
    pub injection: Injection,
    /// Mesh-wide policies first, then this namespace's.
    pub mtls: Vec<MtlsPolicy>,
}

/// A Deployment (a workload, or the ingress gateway). Its replica counts are the node's
/// `ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WorkloadDetails {
    pub selector: Labels,
    /// The labels its pods get (the template's).
    pub pod_labels: Labels,
    /// The rollout is paused.
    pub paused: bool,
}

/// A pod's phase, as the kubelet reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn parse(phase: &str) -> Self {
        match phase {
            "Pending" => Self::Pending,
            "Running" => Self::Running,
            "Succeeded" => Self::Succeeded,
            "Failed" => Self::Failed,
            _ => Self::Unknown,
        }
    }
}

/// A pod. Its container counts are the node's `ready`, its sidecar the node's `sidecar`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PodDetails {
    pub phase: PodPhase,
    /// Why a container waits, when the kubelet says (`CrashLoopBackOff`).
    pub waiting_reason: Option<String>,
    /// Being deleted.
    pub terminating: bool,
    pub labels: Labels,
    pub ip: Option<String>,
    /// The cluster node it runs on.
    pub node: Option<String>,
    /// Container restarts, summed.
    pub restarts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u32,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ServiceDetails {
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub service_type: String,
    pub cluster_ip: Option<String>,
    pub ports: Vec<ServicePort>,
    /// None: a service without a selector (its endpoints are managed by hand).
    pub selector: Option<Labels>,
    /// Ready and all endpoints, from its EndpointSlices.
    pub endpoints: Readiness,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GatewayServer {
    pub port: u32,
    pub protocol: String,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GatewayDetails {
    /// Labels of the ingress gateway pods that serve it.
    pub selector: Labels,
    pub servers: Vec<GatewayServer>,
}

/// How a string is matched, as Istio writes it (`{"prefix": "/static"}`); `present` (a
/// header match written `{}`) asks only that the header is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
    Present,
}

/// One `match` entry of an http route: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RequestMatch {
    pub uri: Option<StringMatch>,
    pub headers: BTreeMap<String, StringMatch>,
    pub method: Option<StringMatch>,
    pub port: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RouteDestination {
    /// As written in the route (`reviews`, `reviews.default.svc.cluster.local`).
    pub host: String,
    pub subset: Option<String>,
    pub port: Option<u32>,
    pub weight: Option<i32>,
}

/// Fault injection on a route. Percentages are of requests, as written (0 to 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Fault {
    pub delay: Option<FaultDelay>,
    pub abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FaultDelay {
    /// As written (`7s`).
    pub fixed_delay: Option<String>,
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FaultAbort {
    pub http_status: Option<u32>,
    pub percent: Option<f64>,
}

/// One http route of a VirtualService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HttpRoute {
    pub name: Option<String>,
    /// Any of them selects the route; empty means every request.
    pub matches: Vec<RequestMatch>,
    pub destinations: Vec<RouteDestination>,
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VirtualServiceDetails {
    pub hosts: Vec<String>,
    /// Gateways it is bound to as written; empty means only inside the mesh.
    pub gateways: Vec<String>,
    pub routes: Vec<HttpRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SubsetDetails {
    /// The service it is part of (in the node's namespace).
    pub service: String,
    /// The DestinationRule that defines it, and the host as written there.
    pub rule: String,
    pub rule_namespace: String,
    pub host: String,
    /// The subset's own labels (a pod also needs the service's selector).
    pub labels: Labels,
    /// The rule's TLS mode for this host (`ISTIO_MUTUAL`), when set.
    pub tls_mode: Option<String>,
}

/// What the side panel shows about a node, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[ts(export)]
pub enum NodeDetails {
    Namespace(NamespaceDetails),
    IngressGateway(WorkloadDetails),
    Gateway(GatewayDetails),
    VirtualService(VirtualServiceDetails),
    Service(ServiceDetails),
    Subset(SubsetDetails),
    Workload(WorkloadDetails),
    Pod(PodDetails),
}

impl NodeDetails {
    pub fn kind(&self) -> NodeKind {
        match self {
            Self::Namespace(_) => NodeKind::Namespace,
            Self::IngressGateway(_) => NodeKind::IngressGateway,
            Self::Gateway(_) => NodeKind::Gateway,
            Self::VirtualService(_) => NodeKind::VirtualService,
            Self::Service(_) => NodeKind::Service,
            Self::Subset(_) => NodeKind::Subset,
            Self::Workload(_) => NodeKind::Workload,
            Self::Pod(_) => NodeKind::Pod,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GraphNode {
    /// Deterministic: `ns/<name>`, `gw/<ns>/<name>`, `vs/<ns>/<name>`, `svc/<ns>/<name>`,
    /// `subset/<ns>/<service>/<subset>`, `wl/<ns>/<name>`, `ingress/<ns>/<name>`,
    /// `pod/<ns>/<name>`.
    pub id: String,
    /// Always the kind of `details`.
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// Group it is drawn in: the namespace, or for a pod its workload.
    pub parent: Option<String>,
    pub health: Health,
    /// Why `health` is not `ok`; empty when it is.
    pub health_reasons: Vec<HealthReason>,
    /// Pods: containers ready of all; workloads: replicas ready of wanted.
    pub ready: Option<Readiness>,
    /// Pods only (not the ingress gateway's own pods, whose Envoy is the pod itself).
    pub sidecar: Option<Sidecar>,
    pub details: NodeDetails,
    pub validations: Vec<Validation>,
    pub object: Option<ObjectRef>,
}

/// What a route edge carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RouteEdge {
    /// Index of the http route in its VirtualService, from 0.
    pub route: u32,
    /// Share of the route's requests in percent (100 for a lone destination).
    pub weight: u32,
    /// The route splits requests over several destinations.
    pub split: bool,
    /// The route's matches; empty means every request.
    pub matches: Vec<RequestMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GraphEdge {
    /// `<kind>:<source>-><target>`, plus `#<route index>.<destination index>` for routes.
    pub id: String,
    pub kind: EdgeKind,
    pub source: String,
    pub target: String,
    /// Route edges only.
    pub route: Option<RouteEdge>,
}

/// The whole graph, sorted by id so equal meshes serialize identically.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MeshSnapshot {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// What changed; the UI patches its drawing with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GraphDiff {
    pub added_nodes: Vec<GraphNode>,
    pub changed_nodes: Vec<GraphNode>,
    pub removed_nodes: Vec<String>,
    pub added_edges: Vec<GraphEdge>,
    pub changed_edges: Vec<GraphEdge>,
    pub removed_edges: Vec<String>,
}

impl GraphDiff {
    pub fn is_empty(&self) -> bool {
        self.added_nodes.is_empty()
            && self.changed_nodes.is_empty()
            && self.removed_nodes.is_empty()
            && self.added_edges.is_empty()
            && self.changed_edges.is_empty()
            && self.removed_edges.is_empty()
    }
}

/// State of the watch connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WatchStatus {
    pub connected: bool,
    /// Kinds whose watch is failing (`pods`, `virtualservices`), while reconnecting.
    pub failing: Vec<String>,
    /// The first failing watch's error as the client reports it, for the curious.
    pub error: Option<String>,
}

/// What the mesh stream sends: a full snapshot first, then diffs (also after a reconnect:
/// what changed meanwhile), the connection's state when it changes, and after the snapshot
/// the observed traffic at every telemetry refresh; `Ended` when the session dropped it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
#[ts(export)]
pub enum MeshEvent {
    Snapshot {
        snapshot: MeshSnapshot,
    },
    Diff {
        diff: GraphDiff,
    },
    Status {
        status: WatchStatus,
    },
    Traffic {
        traffic: super::traffic::TrafficState,
    },
    /// The last event: the session stopped this watch because the cluster it watched was
    /// stopped (the simulated playground torn down) or another one was chosen. Whoever
    /// still wants a graph watches again, which follows the session's current cluster.
    Ended,
}
