//! Observed traffic laid onto the graph: a telemetry reading ([`TrafficSnapshot`], named by
//! Istio's workloads and service hosts) merged with the mesh model's node ids, so the UI and
//! the CLI draw it on the nodes the configuration already shows.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::telemetry::{LatencyPercentiles, ResponseRate, TelemetryProblem};

/// One refresh of the telemetry merged with the mesh model's node ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficOverlay {
    /// When the figures were evaluated, milliseconds since the Unix epoch.
    #[ts(type = "number")]
    pub at_ms: i64,
    /// Rates are averages over this many seconds before `at_ms`.
    pub window_secs: f64,
    /// Sorted by id.
    pub links: Vec<TrafficLink>,
    /// One per weighted route destination (VirtualService -> subset route edge), sorted by
    /// route edge id.
    pub splits: Vec<SplitSeen>,
    /// Nodes with traffic in or out (workloads, services, the ingress gateway), sorted by
    /// node id.
    pub nodes: Vec<NodeTraffic>,
}

/// Requests from one caller to one answering node, as seen in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficLink {
    /// `traffic:<source node id or 'outside'>-><target node id>`.
    pub id: String,
    /// Graph node id of the calling workload (`wl/<ns>/<name>`, `ingress/<ns>/<name>`);
    /// None for a client without a sidecar (outside the mesh).
    pub source: Option<String>,
    /// Graph node id of the answering workload (`wl/<ns>/<name>`); when the requests reached
    /// no pod (abort, no healthy upstream, no route) the service's node id
    /// (`svc/<ns>/<name>`).
    pub target: String,
    /// Graph node id of the service addressed (`svc/<ns>/<name>`); None when the host is
    /// not a service of the graph.
    pub service: Option<String>,
    pub requests_per_second: f64,
    /// Share of requests that failed, 0 to 1.
    pub error_share: f64,
    /// By response code and Envoy response flags, most frequent first.
    pub responses: Vec<ResponseRate>,
    pub latency: LatencyPercentiles,
    /// Share of requests received over mutual TLS, 0 to 1; None when no destination sidecar
    /// reported them (then the lock is unknown).
    pub mtls_share: Option<f64>,
}

/// A weighted route destination with the share its version was seen answering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SplitSeen {
    /// GraphEdge id of the route edge (VirtualService -> subset) this is about.
    pub route_edge: String,
    /// Subset node id.
    pub subset: String,
    /// Configured weight, 0 to 100.
    pub weight: u32,
    /// Share of the service's answered requests that this subset's pods answered, 0 to 1;
    /// None when the service had no answered requests in the window.
    pub observed_share: Option<f64>,
}

/// A node's traffic in and out, for its side panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NodeTraffic {
    pub node: String,
    pub inbound_per_second: f64,
    pub inbound_error_share: f64,
    pub outbound_per_second: f64,
    pub outbound_error_share: f64,
    /// Inbound responses by code and flags, most frequent first.
    pub inbound_responses: Vec<ResponseRate>,
    pub inbound_latency: LatencyPercentiles,
}

/// The traffic part of the mesh stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "camelCase")]
#[ts(export)]
pub enum TrafficState {
    /// Figures as of the overlay's time.
    Live { overlay: TrafficOverlay },
    /// No figures this time, and why (Prometheus missing, starting, slow).
    #[serde(rename_all = "camelCase")]
    Unavailable {
        #[ts(type = "number")]
        at_ms: i64,
        problem: TelemetryProblem,
    },
}
