//! The mesh as the UI draws it: typed nodes and edges with deterministic ids, plus the
//! decorations (health, readiness, sidecars) and validations computed from the cluster.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

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

/// How serious a validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A finding about the configuration, attached to the node it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Validation {
    pub severity: Severity,
    /// Stable code, e.g. `subset-selects-no-pods`.
    pub code: String,
    /// One plain sentence that says what is wrong and what it means for requests.
    pub message: String,
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

/// A key field shown in the side panel ("Hosts: reviews").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Field {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GraphNode {
    /// Deterministic: `ns/<name>`, `gw/<ns>/<name>`, `vs/<ns>/<name>`, `svc/<ns>/<name>`,
    /// `subset/<ns>/<service>/<subset>`, `wl/<ns>/<name>`, `ingress/<ns>/<name>`,
    /// `pod/<ns>/<name>`.
    pub id: String,
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// What the graph writes on the node.
    pub label: String,
    /// Group it is drawn in: the namespace, or for a pod its workload.
    pub parent: Option<String>,
    pub health: Health,
    /// `2/2` as `kubectl get pods` counts it (pods and workloads).
    pub ready: Option<String>,
    /// Pods only.
    pub sidecar: Option<Sidecar>,
    /// Key fields for the side panel.
    pub fields: Vec<Field>,
    pub validations: Vec<Validation>,
    pub object: Option<ObjectRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GraphEdge {
    /// `<kind>:<source>-><target>`, plus `#<route index>` for routes.
    pub id: String,
    pub kind: EdgeKind,
    pub source: String,
    pub target: String,
    /// Route weight in percent, when the route has one.
    pub weight: Option<u32>,
    /// What a route matches, in words (`uri prefix /static`, `header end-user = jason`).
    pub matches: Option<String>,
    /// What the graph writes on the edge (`60%`).
    pub label: Option<String>,
}

/// The whole graph, sorted by id so equal meshes serialize identically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MeshSnapshot {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// What changed between two snapshots; the UI patches its drawing with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
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
    /// Plain sentence for the UI ("Reconnecting to the cluster…").
    pub message: String,
}

/// What the mesh stream sends: a full snapshot first and after every reconnect, then diffs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
#[ts(export)]
pub enum MeshEvent {
    Snapshot { snapshot: MeshSnapshot },
    Diff { diff: GraphDiff },
    Status { status: WatchStatus },
}
