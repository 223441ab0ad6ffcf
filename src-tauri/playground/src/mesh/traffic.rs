//! Observed traffic laid onto the graph: a telemetry reading ([`TrafficSnapshot`], named by
//! Istio's workloads and service hosts) merged with the mesh model's node ids, so the UI and
//! the CLI draw it on the nodes the configuration already shows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::build::{ingress_id, pod_id, svc_id, wl_id};
use super::graph::MeshGraph;
use super::model::{EdgeKind, NodeDetails};
use crate::telemetry::{
    LatencyPercentiles, ResponseRate, TelemetryProblem, TelemetryUpdate, TrafficEdge, TrafficPeer,
    TrafficService, TrafficSnapshot,
};

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

/// A telemetry reading as the mesh stream sends it: laid onto `graph` when it has figures.
pub fn traffic_state(graph: &MeshGraph, update: TelemetryUpdate) -> TrafficState {
    match update {
        TelemetryUpdate::Live { snapshot } => TrafficState::Live {
            overlay: overlay(graph, &snapshot),
        },
        TelemetryUpdate::Unavailable { at_ms, problem } => {
            TrafficState::Unavailable { at_ms, problem }
        }
    }
}

/// Where a link ends when the requests reached no pod and the host is no service of the
/// cluster (no route matched): `host/<host>`, which names no node.
pub fn host_id(host: &str) -> String {
    format!("host/{host}")
}

/// The graph node a workload Istio reports is drawn as: its Deployment (`wl/`), the
/// ingress gateway (`ingress/`), or a pod without a Deployment (Istio names such a
/// workload after the pod). A workload the graph does not draw (Istio's own, a hidden
/// namespace) keeps its `wl/` id, which names no node.
fn peer_node(graph: &MeshGraph, peer: &TrafficPeer) -> String {
    let wl = wl_id(&peer.namespace, &peer.workload);
    if graph.node(&wl).is_some() {
        return wl;
    }
    [
        ingress_id(&peer.namespace, &peer.workload),
        pod_id(&peer.namespace, &peer.workload),
    ]
    .into_iter()
    .find(|id| graph.node(id).is_some())
    .unwrap_or(wl)
}

fn service_node(graph: &MeshGraph, service: &TrafficService) -> Option<String> {
    let id = svc_id(service.namespace.as_deref()?, &service.name);
    graph.node(&id).is_some().then_some(id)
}

/// `part` of `whole`; 0 (never -0) without a positive part or whole.
fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 && part > 0.0 {
        part / whole
    } else {
        0.0
    }
}

/// Response rates summed by code and flags, most frequent first; the flags borrowed from
/// the reading until the end.
#[derive(Default)]
struct Responses<'s>(Vec<(u16, &'s [String], f64, bool)>);

impl<'s> Responses<'s> {
    fn add(&mut self, rates: &'s [ResponseRate]) {
        for r in rates {
            // A link or node sees a handful of (code, flags): a scan beats a map.
            match self
                .0
                .iter_mut()
                .find(|(code, flags, ..)| *code == r.code && *flags == r.flags.as_slice())
            {
                Some(e) => e.2 += r.per_second,
                None => self.0.push((r.code, &r.flags, r.per_second, r.error)),
            }
        }
    }

    fn into_sorted(self) -> Vec<ResponseRate> {
        let mut out: Vec<ResponseRate> = self
            .0
            .into_iter()
            .map(|(code, flags, per_second, error)| ResponseRate {
                code,
                flags: flags.to_vec(),
                per_second,
                error,
            })
            .collect();
        out.sort_by(|a, b| {
            b.per_second
                .total_cmp(&a.per_second)
                .then(a.code.cmp(&b.code))
                .then(a.flags.cmp(&b.flags))
        });
        out
    }
}

/// Traffic from several telemetry edges that land on one link or node.
#[derive(Default)]
struct Sum<'s> {
    rate: f64,
    errors: f64,
    responses: Responses<'s>,
    /// Percentiles cannot be added up; those of the busiest edge stand for all (exact in the
    /// usual case of one edge per link).
    latency: Option<(f64, &'s LatencyPercentiles)>,
    mtls: f64,
    mtls_known: f64,
}

impl<'s> Sum<'s> {
    fn add(&mut self, e: &'s TrafficEdge) {
        self.rate += e.requests_per_second;
        self.errors += e.requests_per_second * e.error_share;
        self.responses.add(&e.responses);
        if self
            .latency
            .as_ref()
            .is_none_or(|(r, _)| e.requests_per_second > *r)
        {
            self.latency = Some((e.requests_per_second, &e.latency));
        }
        if let Some(m) = e.mtls_share {
            self.mtls += m * e.requests_per_second;
            self.mtls_known += e.requests_per_second;
        }
    }

    fn latency(&self) -> LatencyPercentiles {
        self.latency.map(|(_, l)| l.clone()).unwrap_or_default()
    }
}

#[derive(Default)]
struct NodeSum<'s> {
    inbound: Sum<'s>,
    out_rate: f64,
    out_errors: f64,
}

/// Where a telemetry edge is drawn: its link's id and the graph nodes at its ends.
struct Ends {
    link: String,
    source: Option<String>,
    target: String,
    service: Option<String>,
}

fn ends(graph: &MeshGraph, e: &TrafficEdge) -> Ends {
    let source = e.source.as_ref().map(|p| peer_node(graph, p));
    let service = service_node(graph, &e.service);
    let target = match (&e.destination, &service, &e.service.namespace) {
        (Some(d), _, _) => peer_node(graph, d),
        (None, Some(svc), _) => svc.clone(),
        (None, None, Some(ns)) => svc_id(ns, &e.service.name),
        (None, None, None) => host_id(&e.service.host),
    };
    Ends {
        link: format!(
            "traffic:{}->{target}",
            source.as_deref().unwrap_or("outside")
        ),
        source,
        target,
        service,
    }
}

/// Answered requests of one service node: (answering workload node, rate, its version), in
/// the order the edges came.
type Answered<'s> = HashMap<&'s str, Vec<(&'s str, f64, &'s str)>>;

/// Lays a telemetry reading onto the graph: one link per (calling node, answering node),
/// the observed share of every route destination that is a subset, and each node's
/// traffic in and out. Pure; the graph is the model's as of the reading.
pub fn overlay(graph: &MeshGraph, snapshot: &TrafficSnapshot) -> TrafficOverlay {
    // Each edge's node ids are made once; the sums below borrow them and the reading, and
    // the output copies each id once.
    let ends: Vec<Ends> = snapshot.edges.iter().map(|e| ends(graph, e)).collect();
    struct Link<'s> {
        ends: &'s Ends,
        sum: Sum<'s>,
    }
    let mut links: HashMap<&str, Link<'_>> = HashMap::new();
    let mut nodes: HashMap<&str, NodeSum<'_>> = HashMap::new();
    let mut answered: Answered<'_> = HashMap::new();
    for (e, ends) in snapshot.edges.iter().zip(&ends) {
        let link = links.entry(&ends.link).or_insert_with(|| Link {
            ends,
            sum: Sum::default(),
        });
        link.sum.add(e);
        let errors = e.requests_per_second * e.error_share;
        if let Some(s) = &ends.source {
            let n = nodes.entry(s).or_default();
            n.out_rate += e.requests_per_second;
            n.out_errors += errors;
        }
        let target = ends.target.as_str();
        nodes.entry(target).or_default().inbound.add(e);
        if let Some(svc) = &ends.service {
            if svc != target {
                nodes.entry(svc).or_default().inbound.add(e);
            }
            if let Some(d) = &e.destination {
                let by_workload = answered.entry(svc).or_default();
                match by_workload.iter_mut().find(|w| w.0 == target) {
                    Some(w) => w.1 += e.requests_per_second,
                    None => by_workload.push((target, e.requests_per_second, &d.version)),
                }
            }
        }
    }
    let splits = splits(graph, &answered);
    let mut links: Vec<TrafficLink> = links
        .into_iter()
        .map(|(id, l)| TrafficLink {
            id: id.to_string(),
            source: l.ends.source.clone(),
            target: l.ends.target.clone(),
            service: l.ends.service.clone(),
            requests_per_second: l.sum.rate,
            error_share: share(l.sum.errors, l.sum.rate),
            latency: l.sum.latency(),
            mtls_share: (l.sum.mtls_known > 0.0).then(|| l.sum.mtls / l.sum.mtls_known),
            responses: l.sum.responses.into_sorted(),
        })
        .collect();
    links.sort_by(|a, b| a.id.cmp(&b.id));
    let mut nodes: Vec<NodeTraffic> = nodes
        .into_iter()
        .map(|(node, n)| NodeTraffic {
            node: node.to_string(),
            inbound_per_second: n.inbound.rate,
            inbound_error_share: share(n.inbound.errors, n.inbound.rate),
            outbound_per_second: n.out_rate,
            outbound_error_share: share(n.out_errors, n.out_rate),
            inbound_latency: n.inbound.latency(),
            inbound_responses: n.inbound.responses.into_sorted(),
        })
        .collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    TrafficOverlay {
        at_ms: snapshot.at_ms,
        window_secs: snapshot.window_secs,
        links,
        splits,
        nodes,
    }
}

/// Every route edge to a subset with the share of its service's answered requests that
/// the subset's pods answered. A workload belongs to the subset when the subset selects
/// its node; a workload the graph does not draw, when its version is the subset's
/// `version` label.
fn splits(graph: &MeshGraph, answered: &Answered<'_>) -> Vec<SplitSeen> {
    let mut out: Vec<SplitSeen> = graph
        .edges()
        .filter(|e| e.kind == EdgeKind::Route)
        .filter_map(|e| {
            let route = e.route.as_ref()?;
            let subset = graph.node(&e.target)?;
            let NodeDetails::Subset(details) = &subset.details else {
                return None;
            };
            let by_workload = answered
                .get(svc_id(&subset.namespace, &details.service).as_str())
                .map_or(&[][..], Vec::as_slice);
            let total: f64 = by_workload.iter().map(|w| w.1).sum();
            let observed_share = (total > 0.0).then(|| {
                let selected = graph.outgoing(&subset.id, EdgeKind::Selects);
                let version = details.labels.get("version").map(String::as_str);
                let mine: f64 = by_workload
                    .iter()
                    .filter(|(node, _, v)| {
                        selected.iter().any(|s| s.target == *node)
                            || (graph.node(node).is_none() && version == Some(*v))
                    })
                    .map(|w| w.1)
                    .sum();
                mine / total
            });
            Some(SplitSeen {
                route_edge: e.id.clone(),
                subset: subset.id.clone(),
                weight: route.weight,
                observed_share,
            })
        })
        .collect();
    out.sort_by(|a, b| a.route_edge.cmp(&b.route_edge));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{build, samples};
    use crate::telemetry::{Reporter, TrafficPeer};

    fn peer(ns: &str, workload: &str, app: &str, version: &str) -> TrafficPeer {
        TrafficPeer {
            namespace: ns.into(),
            workload: workload.into(),
            app: app.into(),
            version: version.into(),
        }
    }

    fn bookinfo_peer(workload: &str) -> TrafficPeer {
        let (app, version) = workload.rsplit_once('-').unwrap();
        peer("default", workload, app, version)
    }

    fn service(name: &str) -> TrafficService {
        TrafficService {
            namespace: Some("default".into()),
            name: name.into(),
            host: format!("{name}.default.svc.cluster.local"),
        }
    }

    fn rate(code: u16, flags: &[&str], per_second: f64) -> ResponseRate {
        ResponseRate {
            code,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            per_second,
            error: code == 0 || code >= 400,
        }
    }

    /// An edge with the given responses; p95 and mTLS as given.
    fn edge(
        source: Option<TrafficPeer>,
        svc: &str,
        destination: Option<TrafficPeer>,
        responses: Vec<ResponseRate>,
        p95: f64,
        mtls: Option<f64>,
    ) -> TrafficEdge {
        let total: f64 = responses.iter().map(|r| r.per_second).sum();
        let errors: f64 = responses
            .iter()
            .filter(|r| r.error)
            .map(|r| r.per_second)
            .sum();
        TrafficEdge {
            id: format!(
                "traffic:{:?}->{svc}->{:?}",
                source.as_ref().map(|p| &p.workload),
                destination.as_ref().map(|p| &p.workload)
            ),
            reporter: if source.is_some() {
                Reporter::Source
            } else {
                Reporter::Destination
            },
            source,
            service: service(svc),
            destination,
            requests_per_second: total,
            error_share: errors / total,
            responses,
            latency: LatencyPercentiles {
                p50_ms: Some(p95 / 2.0),
                p95_ms: Some(p95),
                p99_ms: None,
            },
            mtls_share: mtls,
        }
    }

    fn snapshot(edges: Vec<TrafficEdge>) -> TrafficSnapshot {
        TrafficSnapshot {
            at_ms: 1_700_000_000_000,
            window_secs: 10.0,
            edges,
            services: Vec::new(),
        }
    }

    fn link<'a>(o: &'a TrafficOverlay, id: &str) -> &'a TrafficLink {
        o.links
            .iter()
            .find(|l| l.id == id)
            .unwrap_or_else(|| panic!("no link {id} in {:#?}", o.links))
    }

    fn node<'a>(o: &'a TrafficOverlay, id: &str) -> &'a NodeTraffic {
        o.nodes.iter().find(|n| n.node == id).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Bookinfo at 10 requests per second with reviews split 60/30/10 and seen 58/31/11.
    fn split_traffic() -> TrafficSnapshot {
        let gw = peer(
            "istio-system",
            "istio-ingressgateway",
            "istio-ingressgateway",
            "latest",
        );
        let pp = bookinfo_peer("productpage-v1");
        snapshot(vec![
            edge(
                Some(gw),
                "productpage",
                Some(pp.clone()),
                vec![rate(200, &[], 10.0)],
                40.0,
                Some(1.0),
            ),
            edge(
                Some(pp.clone()),
                "details",
                Some(bookinfo_peer("details-v1")),
                vec![rate(200, &[], 10.0)],
                3.0,
                Some(1.0),
            ),
            edge(
                Some(pp.clone()),
                "reviews",
                Some(bookinfo_peer("reviews-v1")),
                vec![rate(200, &[], 5.8)],
                5.0,
                Some(1.0),
            ),
            edge(
                Some(pp.clone()),
                "reviews",
                Some(bookinfo_peer("reviews-v2")),
                vec![rate(200, &[], 3.1)],
                12.0,
                Some(1.0),
            ),
            edge(
                Some(pp),
                "reviews",
                Some(bookinfo_peer("reviews-v3")),
                vec![rate(200, &[], 1.1)],
                14.0,
                Some(1.0),
            ),
            edge(
                Some(bookinfo_peer("reviews-v2")),
                "ratings",
                Some(bookinfo_peer("ratings-v1")),
                vec![rate(200, &[], 3.1)],
                2.0,
                Some(1.0),
            ),
            edge(
                Some(bookinfo_peer("reviews-v3")),
                "ratings",
                Some(bookinfo_peer("ratings-v1")),
                vec![rate(200, &[], 1.1)],
                2.0,
                Some(1.0),
            ),
        ])
    }

    #[test]
    fn splits_set_60_30_10_and_seen_58_31_11() {
        let graph = build(&samples::bookinfo_split());
        let o = overlay(&graph, &split_traffic());
        assert_eq!(o.at_ms, 1_700_000_000_000);
        assert_eq!(o.window_secs, 10.0);
        let seen: Vec<(&str, &str, u32, f64)> = o
            .splits
            .iter()
            .map(|s| {
                (
                    s.route_edge.as_str(),
                    s.subset.as_str(),
                    s.weight,
                    (s.observed_share.unwrap() * 1000.0).round() / 1000.0,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "route:vs/default/reviews->subset/default/reviews/v1#0.0",
                    "subset/default/reviews/v1",
                    60,
                    0.58
                ),
                (
                    "route:vs/default/reviews->subset/default/reviews/v2#0.1",
                    "subset/default/reviews/v2",
                    30,
                    0.31
                ),
                (
                    "route:vs/default/reviews->subset/default/reviews/v3#0.2",
                    "subset/default/reviews/v3",
                    10,
                    0.11
                ),
            ]
        );
        // Every route edge id names a route edge of the graph.
        for s in &o.splits {
            assert!(graph.edges().any(|e| e.id == s.route_edge));
        }
    }

    #[test]
    fn links_join_graph_nodes_with_the_ingress_gateway_as_its_node() {
        let graph = build(&samples::bookinfo_split());
        let o = overlay(&graph, &split_traffic());
        let ids: Vec<&str> = o.links.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "traffic:ingress/istio-system/istio-ingressgateway->wl/default/productpage-v1",
                "traffic:wl/default/productpage-v1->wl/default/details-v1",
                "traffic:wl/default/productpage-v1->wl/default/reviews-v1",
                "traffic:wl/default/productpage-v1->wl/default/reviews-v2",
                "traffic:wl/default/productpage-v1->wl/default/reviews-v3",
                "traffic:wl/default/reviews-v2->wl/default/ratings-v1",
                "traffic:wl/default/reviews-v3->wl/default/ratings-v1",
            ]
        );
        for l in &o.links {
            assert!(
                graph.node(l.source.as_deref().unwrap()).is_some(),
                "{}",
                l.id
            );
            assert!(graph.node(&l.target).is_some(), "{}", l.id);
        }
        let gw = link(
            &o,
            "traffic:ingress/istio-system/istio-ingressgateway->wl/default/productpage-v1",
        );
        assert_eq!(gw.service.as_deref(), Some("svc/default/productpage"));
        assert_eq!(gw.requests_per_second, 10.0);
        assert_eq!(gw.latency.p95_ms, Some(40.0));
        assert_eq!(gw.mtls_share, Some(1.0));
        assert_eq!(gw.error_share, 0.0);

        let pp = node(&o, "wl/default/productpage-v1");
        assert_eq!(pp.inbound_per_second, 10.0);
        assert!(close(pp.outbound_per_second, 20.0));
        assert_eq!(pp.inbound_latency.p95_ms, Some(40.0));
        let reviews = node(&o, "svc/default/reviews");
        assert!(close(reviews.inbound_per_second, 10.0));
        assert_eq!(reviews.outbound_per_second, 0.0);
        let ratings = node(&o, "wl/default/ratings-v1");
        assert!(close(ratings.inbound_per_second, 4.2));
        assert_eq!(ratings.inbound_responses, [rate(200, &[], 4.2)]);
        let ingress = node(&o, "ingress/istio-system/istio-ingressgateway");
        assert_eq!(ingress.outbound_per_second, 10.0);
        assert_eq!(ingress.inbound_per_second, 0.0);
        // Sorted by node id.
        assert!(o.nodes.windows(2).all(|w| w[0].node < w[1].node));
    }

    #[test]
    fn requests_all_aborted_end_on_the_service_node_in_error() {
        let graph = build(&samples::bookinfo_split());
        let pp = bookinfo_peer("productpage-v1");
        let o = overlay(
            &graph,
            &snapshot(vec![edge(
                Some(pp),
                "reviews",
                None,
                vec![rate(500, &["FI"], 2.0)],
                0.5,
                None,
            )]),
        );
        assert_eq!(o.links.len(), 1);
        let l = &o.links[0];
        assert_eq!(
            l.id,
            "traffic:wl/default/productpage-v1->svc/default/reviews"
        );
        assert_eq!(l.target, "svc/default/reviews");
        assert_eq!(l.service.as_deref(), Some("svc/default/reviews"));
        assert_eq!(l.error_share, 1.0);
        assert_eq!(l.responses, [rate(500, &["FI"], 2.0)]);
        assert_eq!(l.mtls_share, None);
        // Nothing answered: no share seen for any subset.
        assert_eq!(o.splits.len(), 3);
        assert!(o.splits.iter().all(|s| s.observed_share.is_none()));
        let svc = node(&o, "svc/default/reviews");
        assert_eq!(svc.inbound_per_second, 2.0, "counted once on the service");
        assert_eq!(svc.inbound_error_share, 1.0);
        assert_eq!(
            node(&o, "wl/default/productpage-v1").outbound_error_share,
            1.0
        );
    }

    #[test]
    fn clients_outside_the_mesh_and_unknown_hosts() {
        let graph = build(&samples::bookinfo());
        let pp = bookinfo_peer("productpage-v1");
        let o = overlay(
            &graph,
            &snapshot(vec![
                edge(
                    None,
                    "productpage",
                    Some(pp.clone()),
                    vec![rate(200, &[], 3.0), rate(503, &["UO"], 1.0)],
                    9.0,
                    Some(0.0),
                ),
                TrafficEdge {
                    service: TrafficService {
                        namespace: None,
                        name: "api.example.com".into(),
                        host: "api.example.com".into(),
                    },
                    ..edge(
                        Some(pp),
                        "x",
                        None,
                        vec![rate(502, &["NR"], 1.0)],
                        1.0,
                        None,
                    )
                },
            ]),
        );
        let outside = link(&o, "traffic:outside->wl/default/productpage-v1");
        assert_eq!(outside.source, None);
        assert_eq!(outside.error_share, 0.25);
        assert_eq!(outside.responses[0].code, 200);
        assert_eq!(outside.mtls_share, Some(0.0), "plain text: an open lock");
        let nowhere = link(
            &o,
            "traffic:wl/default/productpage-v1->host/api.example.com",
        );
        assert_eq!(nowhere.service, None);
        // bookinfo() has no subsets: no splits.
        assert!(o.splits.is_empty());
    }

    #[test]
    fn a_workload_the_graph_does_not_draw_counts_for_its_version_subset() {
        let mut inputs = samples::bookinfo_split();
        inputs
            .deployments
            .retain(|(_, name), _| name != "reviews-v3");
        inputs
            .pods
            .retain(|(_, name), _| !name.starts_with("reviews-v3"));
        let graph = build(&inputs);
        let o = overlay(&graph, &split_traffic());
        let v3 = o
            .splits
            .iter()
            .find(|s| s.subset == "subset/default/reviews/v3")
            .unwrap();
        assert!(close(v3.observed_share.unwrap(), 0.11));
        assert!(
            o.links.iter().any(|l| l.target == "wl/default/reviews-v3"),
            "the link keeps the workload's id"
        );
    }
}
