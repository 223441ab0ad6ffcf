//! Traffic figures as the graph and the charts use them, built from query results. Pure:
//! the time of the reading is passed in.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::labels::{EdgeLabels, Label};
use super::prometheus::{PromSeries, Sample};

/// A workload at one end of an edge, as Istio's metrics name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficPeer {
    pub namespace: String,
    /// The Deployment (or other owner): `reviews-v2`, `istio-ingressgateway`.
    pub workload: String,
    /// Istio's canonical service, normally the `app` label: `reviews`.
    pub app: String,
    /// Istio's canonical revision, normally the `version` label: `v2` (`latest` without one).
    pub version: String,
}

/// The service a request was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficService {
    /// None when the host is not a service of the cluster (a request no route matched).
    pub namespace: Option<String>,
    pub name: String,
    /// As Istio reports it: `reviews.default.svc.cluster.local`.
    pub host: String,
}

/// Whose report an edge's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Reporter {
    /// The client's proxy (sidecar or ingress gateway): sees every request it sent.
    Source,
    /// The server's sidecar, for clients without a proxy of their own.
    Destination,
}

/// Requests per second with one response code and set of flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ResponseRate {
    /// HTTP status; 0 when no response came back (reset, timeout, client gave up).
    pub code: u16,
    /// Envoy's response flags (`UH`, `NR`, `FI`, `UT`, `DC`, `UO`, ...); empty for none.
    pub flags: Vec<String>,
    pub per_second: f64,
    /// Counts as an error: no response, 4xx or 5xx.
    pub error: bool,
}

/// Request duration percentiles in milliseconds; None where there were no requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LatencyPercentiles {
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Observed traffic from a source workload to a service, answered by one destination
/// workload (or by none, when requests failed before reaching a pod).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficEdge {
    /// Deterministic: `traffic:<src ns>/<src workload>-><service host>-><dst ns>/<dst workload>`,
    /// with `unknown` for a missing side.
    pub id: String,
    /// None for clients without a sidecar (their requests are known from the destination).
    pub source: Option<TrafficPeer>,
    pub service: TrafficService,
    /// None when the requests reached no pod (no route, no healthy upstream, an abort).
    pub destination: Option<TrafficPeer>,
    pub reporter: Reporter,
    pub requests_per_second: f64,
    /// Share of requests that failed (no response, 4xx, 5xx), 0 to 1.
    pub error_share: f64,
    /// By response code and flags, most frequent first.
    pub responses: Vec<ResponseRate>,
    pub latency: LatencyPercentiles,
    /// Share of requests the destination received over mutual TLS, 0 to 1; None when no
    /// destination sidecar reported them.
    pub mtls_share: Option<f64>,
}

/// How much of a service's traffic one version answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionShare {
    pub version: String,
    pub workload: String,
    pub requests_per_second: f64,
    /// Of the requests that reached a version, 0 to 1.
    pub share: f64,
    pub error_share: f64,
}

/// A service's traffic from all its clients, split by the version that answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ServiceTraffic {
    pub service: TrafficService,
    pub requests_per_second: f64,
    pub error_share: f64,
    /// By version name.
    pub versions: Vec<VersionShare>,
    /// Requests that reached no version (no route, no healthy upstream, an abort).
    pub unrouted_per_second: f64,
}

/// One reading of the mesh's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficSnapshot {
    /// When the figures were evaluated, milliseconds since the Unix epoch.
    #[ts(type = "number")]
    pub at_ms: i64,
    /// Rates are averages over this many seconds before `at_ms`.
    pub window_secs: f64,
    /// Sorted by id.
    pub edges: Vec<TrafficEdge>,
    /// Sorted by host.
    pub services: Vec<ServiceTraffic>,
}

/// Requests per second answered by one version at one point of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionRate {
    pub version: String,
    pub requests_per_second: f64,
}

/// One point of a service's charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HistoryPoint {
    #[ts(type = "number")]
    pub at_ms: i64,
    pub requests_per_second: f64,
    /// None without requests.
    pub error_share: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// By version name; requests that reached no version are not in it.
    pub versions: Vec<VersionRate>,
}

/// A service's traffic over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ServiceHistory {
    pub namespace: String,
    pub name: String,
    pub step_secs: f64,
    /// Oldest first.
    pub points: Vec<HistoryPoint>,
}

/// One refresh's answers, their labels borrowed from the answers' text.
pub(super) struct Inputs<'s, 'a> {
    pub requests: &'s [Sample<EdgeLabels<'a>>],
    pub mtls: &'s [Sample<EdgeLabels<'a>>],
    pub p50: &'s [Sample<EdgeLabels<'a>>],
    pub p95: &'s [Sample<EdgeLabels<'a>>],
    pub p99: &'s [Sample<EdgeLabels<'a>>],
}

fn ms_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn label<'a>(l: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    l.get(k).map(String::as_str).unwrap_or("")
}

fn known(v: &str) -> bool {
    !v.is_empty() && v != "unknown"
}

/// The labels naming one end of an edge: namespace, workload, canonical service and
/// revision.
const SOURCE: [Label; 4] = [
    Label::SourceWorkloadNamespace,
    Label::SourceWorkload,
    Label::SourceCanonicalService,
    Label::SourceCanonicalRevision,
];
const DESTINATION: [Label; 4] = [
    Label::DestinationWorkloadNamespace,
    Label::DestinationWorkload,
    Label::DestinationCanonicalService,
    Label::DestinationCanonicalRevision,
];

fn peer(
    l: &EdgeLabels<'_>,
    [namespace, workload, app, version]: [Label; 4],
) -> Option<TrafficPeer> {
    let workload = l.get(workload);
    known(workload).then(|| TrafficPeer {
        namespace: l.get(namespace).to_string(),
        workload: workload.to_string(),
        app: l.get(app).to_string(),
        version: l.get(version).to_string(),
    })
}

fn service(l: &EdgeLabels<'_>) -> TrafficService {
    let host = l.get(Label::DestinationService);
    let name = l.get(Label::DestinationServiceName);
    let ns = l.get(Label::DestinationServiceNamespace);
    TrafficService {
        namespace: known(ns).then(|| ns.to_string()),
        name: if name.is_empty() { host } else { name }.to_string(),
        host: host.to_string(),
    }
}

/// What identifies an edge across the queries: the values of `queries::KEY_LABELS`,
/// borrowed from the samples.
type EdgeKey<'s> = [&'s str; 5];

fn edge_key<'s>(l: &'s EdgeLabels<'_>) -> EdgeKey<'s> {
    [
        Label::SourceWorkloadNamespace,
        Label::SourceWorkload,
        Label::DestinationService,
        Label::DestinationWorkloadNamespace,
        Label::DestinationWorkload,
    ]
    .map(|k| l.get(k))
}

fn edge_id([src_ns, src_wl, host, dst_ns, dst_wl]: &EdgeKey<'_>) -> String {
    let side = |ns: &str, wl: &str| {
        if known(wl) {
            format!("{ns}/{wl}")
        } else {
            "unknown".to_string()
        }
    };
    format!(
        "traffic:{}->{}->{}",
        side(src_ns, src_wl),
        if host.is_empty() { "unknown" } else { host },
        side(dst_ns, dst_wl)
    )
}

/// Istio writes "0" for no response; anything unreadable counts as no response too.
fn code(response_code: &str) -> u16 {
    response_code.parse().unwrap_or(0)
}

fn is_error(code: u16) -> bool {
    code == 0 || code >= 400
}

/// Istio writes `-` for no flags.
fn flags_text(response_flags: &str) -> &str {
    if response_flags == "-" {
        ""
    } else {
        response_flags
    }
}

fn flags(text: &str) -> Vec<String> {
    match flags_text(text) {
        "" => vec![],
        f => f.split(',').map(str::to_string).collect(),
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// `part` of `whole`, 0 without a whole. An empty float sum is -0.0, which would print as
/// `-0.0`: only a positive part makes a share.
fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 && part > 0.0 {
        part / whole
    } else {
        0.0
    }
}

/// An edge's figures from the five answers as they are read.
struct EdgeAcc<'s, 'a> {
    key: EdgeKey<'s>,
    /// The first requests sample's, which name the edge's ends.
    labels: &'s EdgeLabels<'a>,
    /// (code, flags as written with `-` as empty, rate), in the order first seen: an edge
    /// has a few.
    responses: Vec<(u16, &'s str, f64)>,
    /// (mutual TLS, all), from destination reports.
    mtls: (f64, f64),
    latency: [Option<f64>; 3],
}

/// Merges the five instant results into edges and per-service splits.
pub(super) fn assemble(
    at: SystemTime,
    window: Duration,
    inputs: &Inputs<'_, '_>,
) -> TrafficSnapshot {
    let mut accs: Vec<EdgeAcc<'_, '_>> = Vec::new();
    let mut index: HashMap<EdgeKey<'_>, usize> = HashMap::new();
    for s in inputs.requests {
        if !s.value.is_finite() || s.value <= 0.0 {
            continue;
        }
        let l = &s.labels;
        let key = edge_key(l);
        let i = *index.entry(key).or_insert_with(|| {
            accs.push(EdgeAcc {
                key,
                labels: l,
                responses: Vec::new(),
                mtls: (0.0, 0.0),
                latency: [None; 3],
            });
            accs.len() - 1
        });
        let (c, f) = (
            code(l.get(Label::ResponseCode)),
            flags_text(l.get(Label::ResponseFlags)),
        );
        let responses = &mut accs[i].responses;
        match responses.iter_mut().find(|r| r.0 == c && r.1 == f) {
            Some(r) => r.2 += s.value,
            None => responses.push((c, f, s.value)),
        }
    }
    // The other answers only add to edges that had requests.
    for s in inputs.mtls {
        if !s.value.is_finite() {
            continue;
        }
        if let Some(&i) = index.get(&edge_key(&s.labels)) {
            let m = &mut accs[i].mtls;
            if s.labels.get(Label::ConnectionSecurityPolicy) == "mutual_tls" {
                m.0 += s.value;
            }
            m.1 += s.value;
        }
    }
    for (q, samples) in [inputs.p50, inputs.p95, inputs.p99].into_iter().enumerate() {
        for s in samples {
            if let (Some(v), Some(&i)) = (finite(s.value), index.get(&edge_key(&s.labels))) {
                accs[i].latency[q] = Some(v);
            }
        }
    }
    let mut out_edges: Vec<(EdgeKey<'_>, TrafficEdge)> = accs
        .into_iter()
        .map(|acc| {
            // Summed in (code, flags) order, the order the figures have always been added in.
            let mut by_code: Vec<(u16, Vec<String>, f64)> = acc
                .responses
                .iter()
                .map(|&(c, f, v)| (c, flags(f), v))
                .collect();
            by_code.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let total: f64 = by_code.iter().map(|r| r.2).sum();
            let errors: f64 = by_code.iter().filter(|r| is_error(r.0)).map(|r| r.2).sum();
            let mut responses: Vec<ResponseRate> = by_code
                .into_iter()
                .map(|(code, flags, per_second)| ResponseRate {
                    code,
                    flags,
                    per_second,
                    error: is_error(code),
                })
                .collect();
            responses.sort_by(|a, b| {
                b.per_second
                    .total_cmp(&a.per_second)
                    .then(a.code.cmp(&b.code))
                    .then(a.flags.cmp(&b.flags))
            });
            let l = acc.labels;
            let (mtls, all) = acc.mtls;
            let [p50_ms, p95_ms, p99_ms] = acc.latency;
            let edge = TrafficEdge {
                id: edge_id(&acc.key),
                source: peer(l, SOURCE),
                service: service(l),
                destination: peer(l, DESTINATION),
                reporter: if l.get(Label::Reporter) == "destination" {
                    Reporter::Destination
                } else {
                    Reporter::Source
                },
                requests_per_second: total,
                error_share: share(errors, total),
                responses,
                latency: LatencyPercentiles {
                    p50_ms,
                    p95_ms,
                    p99_ms,
                },
                mtls_share: (all > 0.0).then(|| mtls / all),
            };
            (acc.key, edge)
        })
        .collect();
    // Two keys can make one id (`unknown` for either missing side): those keep the order of
    // their keys.
    out_edges.sort_by(|a, b| a.1.id.cmp(&b.1.id).then(a.0.cmp(&b.0)));
    let edges: Vec<TrafficEdge> = out_edges.into_iter().map(|(_, e)| e).collect();
    TrafficSnapshot {
        at_ms: ms_since_epoch(at),
        window_secs: window.as_secs_f64(),
        services: services(&edges),
        edges,
    }
}

/// Per service: all its clients' requests, split by the version that answered.
fn services(edges: &[TrafficEdge]) -> Vec<ServiceTraffic> {
    struct Acc<'e> {
        service: &'e TrafficService,
        total: f64,
        errors: f64,
        unrouted: f64,
        // version -> (workload, rate, errors)
        versions: BTreeMap<&'e str, (&'e str, f64, f64)>,
    }
    let mut by_host: BTreeMap<&str, Acc<'_>> = BTreeMap::new();
    for e in edges {
        let acc = by_host.entry(&e.service.host).or_insert_with(|| Acc {
            service: &e.service,
            total: 0.0,
            errors: 0.0,
            unrouted: 0.0,
            versions: BTreeMap::new(),
        });
        let errors = e.requests_per_second * e.error_share;
        acc.total += e.requests_per_second;
        acc.errors += errors;
        match &e.destination {
            Some(d) => {
                let v = acc
                    .versions
                    .entry(&d.version)
                    .or_insert((&d.workload, 0.0, 0.0));
                v.1 += e.requests_per_second;
                v.2 += errors;
            }
            None => acc.unrouted += e.requests_per_second,
        }
    }
    by_host
        .into_values()
        .map(|a| {
            let routed: f64 = a.versions.values().map(|v| v.1).sum();
            ServiceTraffic {
                service: a.service.clone(),
                requests_per_second: a.total,
                error_share: share(a.errors, a.total),
                versions: a
                    .versions
                    .into_iter()
                    .map(|(version, (workload, rate, errors))| VersionShare {
                        version: version.to_string(),
                        workload: workload.to_string(),
                        requests_per_second: rate,
                        share: share(rate, routed),
                        error_share: share(errors, rate),
                    })
                    .collect(),
                unrouted_per_second: a.unrouted,
            }
        })
        .collect()
}

fn to_ms(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

/// Merges a service's range results into chart points.
pub(super) fn history(
    namespace: &str,
    name: &str,
    step: Duration,
    requests: &[PromSeries],
    p50: &[PromSeries],
    p95: &[PromSeries],
) -> ServiceHistory {
    #[derive(Default)]
    struct Acc {
        total: f64,
        errors: f64,
        versions: BTreeMap<String, f64>,
        p50: Option<f64>,
        p95: Option<f64>,
    }
    let mut points: BTreeMap<i64, Acc> = BTreeMap::new();
    for s in requests {
        let c = code(label(&s.labels, "response_code"));
        let version = known(label(&s.labels, "destination_workload"))
            .then(|| label(&s.labels, "destination_canonical_revision").to_string());
        for (t, v) in &s.points {
            if !v.is_finite() {
                continue;
            }
            let p = points.entry(to_ms(*t)).or_default();
            p.total += v;
            if is_error(c) {
                p.errors += v;
            }
            if let Some(version) = &version {
                *p.versions.entry(version.clone()).or_default() += v;
            }
        }
    }
    for (series, pick) in [(p50, 0), (p95, 1)] {
        for s in series {
            for (t, v) in &s.points {
                let p = points.entry(to_ms(*t)).or_default();
                let slot = if pick == 0 { &mut p.p50 } else { &mut p.p95 };
                *slot = finite(*v);
            }
        }
    }
    ServiceHistory {
        namespace: namespace.to_string(),
        name: name.to_string(),
        step_secs: step.as_secs_f64(),
        points: points
            .into_iter()
            .map(|(at_ms, a)| HistoryPoint {
                at_ms,
                requests_per_second: a.total,
                error_share: (a.total > 0.0).then(|| a.errors / a.total),
                p50_ms: a.p50,
                p95_ms: a.p95,
                versions: a
                    .versions
                    .into_iter()
                    .map(|(version, requests_per_second)| VersionRate {
                        version,
                        requests_per_second,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(pairs: &[(&'a str, &'a str)], value: f64) -> Sample<EdgeLabels<'a>> {
        Sample {
            labels: EdgeLabels::from_pairs(pairs),
            value,
        }
    }

    fn edge_labels<'a>(
        src: &'a str,
        svc: &'a str,
        dst: &'a str,
        version: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("source_workload_namespace", "default"),
            ("source_workload", src),
            ("source_canonical_service", "productpage"),
            ("source_canonical_revision", "v1"),
            ("destination_service", svc),
            ("destination_service_name", "reviews"),
            ("destination_service_namespace", "default"),
            (
                "destination_workload_namespace",
                if dst == "unknown" {
                    "unknown"
                } else {
                    "default"
                },
            ),
            ("destination_workload", dst),
            ("destination_canonical_service", "reviews"),
            ("destination_canonical_revision", version),
            ("reporter", "source"),
        ]
    }

    fn with(
        mut l: Vec<(&'static str, &'static str)>,
        more: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        l.extend_from_slice(more);
        l
    }

    const REVIEWS: &str = "reviews.default.svc.cluster.local";

    #[test]
    fn edges_sum_codes_and_split_a_service_by_version() {
        let v2 = edge_labels("productpage-v1", REVIEWS, "reviews-v2", "v2");
        let v3 = edge_labels("productpage-v1", REVIEWS, "reviews-v3", "v3");
        let none = edge_labels("productpage-v1", REVIEWS, "unknown", "unknown");
        let ok = [("response_code", "200"), ("response_flags", "-")];
        let requests = vec![
            sample(&with(v2.clone(), &ok), 6.0),
            sample(
                &with(
                    v2.clone(),
                    &[("response_code", "503"), ("response_flags", "-")],
                ),
                2.0,
            ),
            sample(&with(v3.clone(), &ok), 2.0),
            sample(
                &with(
                    none.clone(),
                    &[("response_code", "503"), ("response_flags", "UH")],
                ),
                1.0,
            ),
            // Stale series (Kiali filters them with > 0 too).
            sample(
                &with(
                    v3.clone(),
                    &[("response_code", "404"), ("response_flags", "NR")],
                ),
                0.0,
            ),
        ];
        let mtls = vec![
            sample(
                &with(v2.clone(), &[("connection_security_policy", "mutual_tls")]),
                6.0,
            ),
            sample(
                &with(v2.clone(), &[("connection_security_policy", "none")]),
                2.0,
            ),
        ];
        let p95 = vec![
            sample(&with(v2.clone(), &[]), 12.5),
            sample(&with(v3.clone(), &[]), f64::NAN),
        ];
        let at = UNIX_EPOCH + Duration::from_millis(1_000_500);
        let snap = assemble(
            at,
            Duration::from_secs(30),
            &Inputs {
                requests: &requests,
                mtls: &mtls,
                p50: &[],
                p95: &p95,
                p99: &[],
            },
        );
        assert_eq!(snap.at_ms, 1_000_500);
        assert_eq!(snap.window_secs, 30.0);
        assert_eq!(snap.edges.len(), 3);
        let e2 = snap
            .edges
            .iter()
            .find(|e| {
                e.destination
                    .as_ref()
                    .is_some_and(|d| d.workload == "reviews-v2")
            })
            .unwrap();
        assert_eq!(
            e2.id,
            "traffic:default/productpage-v1->reviews.default.svc.cluster.local->default/reviews-v2"
        );
        assert_eq!(e2.requests_per_second, 8.0);
        assert_eq!(e2.error_share, 0.25);
        assert_eq!(e2.responses[0].code, 200);
        assert!(e2.responses[1].error);
        assert_eq!(e2.mtls_share, Some(0.75));
        assert_eq!(e2.latency.p95_ms, Some(12.5));
        assert_eq!(e2.latency.p50_ms, None);
        assert_eq!(e2.reporter, Reporter::Source);
        let e3 = snap
            .edges
            .iter()
            .find(|e| {
                e.destination
                    .as_ref()
                    .is_some_and(|d| d.workload == "reviews-v3")
            })
            .unwrap();
        assert_eq!(e3.responses.len(), 1, "the zero-rate series is dropped");
        assert!(
            e3.error_share.is_sign_positive(),
            "no errors is 0, not -0 (it would print as -0.0)"
        );
        assert_eq!(e3.latency.p95_ms, None, "NaN means no data");
        assert_eq!(e3.mtls_share, None);
        let unrouted = snap.edges.iter().find(|e| e.destination.is_none()).unwrap();
        assert_eq!(
            unrouted.id,
            "traffic:default/productpage-v1->reviews.default.svc.cluster.local->unknown"
        );
        assert_eq!(unrouted.responses[0].flags, vec!["UH".to_string()]);
        assert_eq!(unrouted.error_share, 1.0);

        assert_eq!(snap.services.len(), 1);
        let s = &snap.services[0];
        assert_eq!(s.service.name, "reviews");
        assert_eq!(s.requests_per_second, 11.0);
        assert_eq!(s.unrouted_per_second, 1.0);
        assert_eq!(s.error_share, 3.0 / 11.0);
        let shares: Vec<(&str, f64)> = s
            .versions
            .iter()
            .map(|v| (v.version.as_str(), v.share))
            .collect();
        assert_eq!(shares, vec![("v2", 0.8), ("v3", 0.2)]);
        assert_eq!(s.versions[0].error_share, 0.25);
    }

    #[test]
    fn a_client_without_sidecar_is_an_edge_from_nobody() {
        let mut l = edge_labels(
            "unknown",
            "productpage.default.svc.cluster.local",
            "productpage-v1",
            "v1",
        );
        l.retain(|(k, _)| *k != "reporter" && *k != "source_workload_namespace");
        let l = with(
            l,
            &[
                ("reporter", "destination"),
                ("source_workload_namespace", "unknown"),
                ("response_code", "200"),
                ("response_flags", "-"),
            ],
        );
        let snap = assemble(
            UNIX_EPOCH,
            Duration::from_secs(10),
            &Inputs {
                requests: &[sample(&l, 1.0)],
                mtls: &[sample(
                    &with(l.clone(), &[("connection_security_policy", "none")]),
                    1.0,
                )],
                p50: &[],
                p95: &[],
                p99: &[],
            },
        );
        let e = &snap.edges[0];
        assert_eq!(e.source, None);
        assert_eq!(e.reporter, Reporter::Destination);
        assert_eq!(e.mtls_share, Some(0.0));
        assert!(e.id.starts_with("traffic:unknown->"));
    }

    #[test]
    fn history_points_carry_rate_errors_versions_and_latency() {
        let series = |pairs: &[(&str, &str)], points: &[(f64, f64)]| PromSeries {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            points: points.to_vec(),
        };
        let requests = vec![
            series(
                &[
                    ("destination_workload", "reviews-v1"),
                    ("destination_canonical_revision", "v1"),
                    ("response_code", "200"),
                ],
                &[(100.0, 3.0), (105.0, 4.0)],
            ),
            series(
                &[
                    ("destination_workload", "reviews-v2"),
                    ("destination_canonical_revision", "v2"),
                    ("response_code", "500"),
                ],
                &[(105.0, 1.0)],
            ),
            series(
                &[
                    ("destination_workload", "unknown"),
                    ("destination_canonical_revision", "unknown"),
                    ("response_code", "503"),
                ],
                &[(105.0, 1.0)],
            ),
        ];
        let p50 = vec![series(&[], &[(100.0, 4.0), (105.0, f64::NAN)])];
        let h = history(
            "default",
            "reviews",
            Duration::from_secs(5),
            &requests,
            &p50,
            &[],
        );
        assert_eq!(h.points.len(), 2);
        assert_eq!(h.points[0].at_ms, 100_000);
        assert_eq!(h.points[0].error_share, Some(0.0));
        assert_eq!(h.points[0].p50_ms, Some(4.0));
        let last = &h.points[1];
        assert_eq!(last.requests_per_second, 6.0);
        assert_eq!(last.error_share, Some(2.0 / 6.0));
        assert_eq!(last.p50_ms, None);
        assert_eq!(
            last.versions,
            vec![
                VersionRate {
                    version: "v1".into(),
                    requests_per_second: 4.0
                },
                VersionRate {
                    version: "v2".into(),
                    requests_per_second: 1.0
                }
            ]
        );
    }
}
