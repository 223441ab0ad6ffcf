//! A step's check: what was observed (typed figures) and whether it passes. The figures come
//! from the cluster (deployments, pods) and from Istio's metrics (the same [`TrafficSnapshot`]
//! the graph draws); the evaluation itself is pure, so it is tested on recorded figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Check;
use crate::mesh::inputs::PodInfo;
use crate::telemetry::{TelemetryProblem, TrafficSnapshot};

/// One version's share of a service's answered requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionPercent {
    pub version: String,
    /// 0 to 100.
    pub percent: f64,
    /// The weight the check expects, for `splitNear`.
    pub expected: Option<u32>,
}

/// What a check saw. The UI and the CLI write the sentence ("87% of reviews' requests went
/// to v1; needs at least 85%").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "type"
)]
#[ts(export)]
pub enum Observation {
    /// Deployments with all their replicas ready, of those named.
    Ready {
        ready: u32,
        wanted: u32,
        not_ready: Vec<String>,
    },
    /// Pods of the namespace with a ready sidecar.
    Sidecars {
        with_sidecar: u32,
        pods: u32,
        without: Vec<String>,
    },
    /// Requests per second reaching the service.
    Traffic { per_second: f64 },
    /// How the service's answered requests split between its versions.
    Split {
        answered_per_second: f64,
        versions: Vec<VersionPercent>,
    },
    /// Failed share of the service's requests (from the source, when the check names one);
    /// None without requests.
    Errors {
        per_second: f64,
        percent: Option<f64>,
    },
    /// Share of the service's requests that arrived over mutual TLS; None when no sidecar
    /// reported it.
    Mtls {
        per_second: f64,
        percent: Option<f64>,
    },
    /// curl from a pod outside the mesh (no sidecar) and from one inside it: the HTTP
    /// status each got (None: no answer, with curl's error).
    Clients {
        outside_status: Option<u16>,
        outside_error: String,
        inside_status: Option<u16>,
    },
    /// Traffic figures could not be read.
    NoFigures { problem: TelemetryProblem },
    /// Whether the playground is gone.
    ClusterGone { gone: bool },
}

/// A check's result at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckOutcome {
    pub passed: bool,
    #[ts(type = "number")]
    pub at_ms: i64,
    /// Over how many seconds of metrics rates were averaged, for checks that read traffic.
    pub window_secs: Option<f64>,
    pub observed: Observation,
}

/// A Deployment's name and whether all its wanted replicas are ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentReady {
    pub name: String,
    pub ready: bool,
}

/// `ready` for the named workloads; a missing one counts as not ready.
pub fn ready(workloads: &[String], deployments: &[DeploymentReady]) -> (bool, Observation) {
    let not_ready: Vec<String> = workloads
        .iter()
        .filter(|w| !deployments.iter().any(|d| &d.name == *w && d.ready))
        .cloned()
        .collect();
    let wanted = workloads.len() as u32;
    let ready = wanted - not_ready.len() as u32;
    (
        not_ready.is_empty(),
        Observation::Ready {
            ready,
            wanted,
            not_ready,
        },
    )
}

/// `sidecars`: every running pod (not being deleted) has a ready sidecar; a namespace
/// without pods does not pass.
pub fn sidecars(pods: &[PodInfo]) -> (bool, Observation) {
    let live: Vec<&PodInfo> = pods.iter().filter(|p| !p.deleting).collect();
    let without: Vec<String> = live
        .iter()
        .filter(|p| !(p.has_sidecar && p.sidecar_ready))
        .map(|p| p.name.clone())
        .collect();
    let pods = live.len() as u32;
    (
        pods > 0 && without.is_empty(),
        Observation::Sidecars {
            with_sidecar: pods - without.len() as u32,
            pods,
            without,
        },
    )
}

/// `plainTextRefused`: the client outside the mesh got no answer while the one inside got a
/// success, which is what STRICT mutual TLS does (and only it: under PERMISSIVE both get
/// answers).
pub fn clients(report: &crate::actions::client::ProbeReport) -> (bool, Observation) {
    let ok = |s: Option<u16>| s.is_some_and(|s| (200..400).contains(&s));
    (
        report.outside.status.is_none() && ok(report.inside.status),
        Observation::Clients {
            outside_status: report.outside.status,
            outside_error: report.outside.error.clone(),
            inside_status: report.inside.status,
        },
    )
}

/// A traffic check against one reading of the metrics.
pub fn traffic<'a>(check: &'a Check, snapshot: &'a TrafficSnapshot) -> (bool, Observation) {
    let service_of = |namespace: &str, service: &str| {
        snapshot.services.iter().find(|s| {
            s.service.name == service && s.service.namespace.as_deref() == Some(namespace)
        })
    };
    let edges_to = |namespace: &'a str, service: &'a str| {
        snapshot.edges.iter().filter(move |e| {
            e.service.name == service && e.service.namespace.as_deref() == Some(namespace)
        })
    };
    match check {
        Check::Traffic {
            namespace,
            service,
            min_per_second,
        } => {
            let per_second = service_of(namespace, service).map_or(0.0, |s| s.requests_per_second);
            (
                per_second > 0.0 && per_second >= *min_per_second,
                Observation::Traffic { per_second },
            )
        }
        Check::Split {
            namespace,
            service,
            version,
            at_least,
        } => {
            let (answered, versions) = split(service_of(namespace, service), &BTreeMap::new());
            let share = versions
                .iter()
                .find(|v| &v.version == version)
                .map_or(0.0, |v| v.percent);
            (
                answered > 0.0 && share >= *at_least,
                Observation::Split {
                    answered_per_second: answered,
                    versions,
                },
            )
        }
        Check::SplitNear {
            namespace,
            service,
            weights,
            within,
        } => {
            let (answered, versions) = split(service_of(namespace, service), weights);
            let near = versions
                .iter()
                .all(|v| (v.percent - f64::from(v.expected.unwrap_or(0))).abs() <= *within);
            (
                answered > 0.0 && near,
                Observation::Split {
                    answered_per_second: answered,
                    versions,
                },
            )
        }
        Check::Errors {
            namespace,
            service,
            source,
            at_least,
        } => {
            let (total, failed) = edges_to(namespace, service)
                .filter(|e| match source {
                    Some(s) => e.source.as_ref().is_some_and(|p| &p.workload == s),
                    None => true,
                })
                .fold((0.0, 0.0), |(t, f), e| {
                    (
                        t + e.requests_per_second,
                        f + e.requests_per_second * e.error_share,
                    )
                });
            let percent = (total > 0.0).then(|| 100.0 * failed / total);
            (
                percent.is_some_and(|p| p >= *at_least),
                Observation::Errors {
                    per_second: total,
                    percent,
                },
            )
        }
        Check::Mtls {
            namespace,
            service,
            at_least,
        } => {
            let (total, reported, mutual) =
                edges_to(namespace, service).fold((0.0, 0.0, 0.0), |(t, r, m), e| {
                    match e.mtls_share {
                        Some(share) => (
                            t + e.requests_per_second,
                            r + e.requests_per_second,
                            m + e.requests_per_second * share,
                        ),
                        None => (t + e.requests_per_second, r, m),
                    }
                });
            let percent = (reported > 0.0).then(|| 100.0 * mutual / reported);
            (
                percent.is_some_and(|p| p >= *at_least),
                Observation::Mtls {
                    per_second: total,
                    percent,
                },
            )
        }
        Check::Ready { .. }
        | Check::Sidecars { .. }
        | Check::PlainTextRefused { .. }
        | Check::ClusterGone => {
            unreachable!("not a traffic check")
        }
    }
}

/// Answered requests per second and each version's share; versions the check expects but
/// nobody answered from are listed at 0 %.
fn split(
    service: Option<&crate::telemetry::ServiceTraffic>,
    expected: &BTreeMap<String, u32>,
) -> (f64, Vec<VersionPercent>) {
    let answered: f64 = service.map_or(0.0, |s| {
        s.versions.iter().map(|v| v.requests_per_second).sum()
    });
    let mut versions: Vec<VersionPercent> = service
        .map(|s| {
            s.versions
                .iter()
                .map(|v| VersionPercent {
                    version: v.version.clone(),
                    percent: if answered > 0.0 {
                        100.0 * v.requests_per_second / answered
                    } else {
                        0.0
                    },
                    expected: expected.get(&v.version).copied(),
                })
                .collect()
        })
        .unwrap_or_default();
    for (version, weight) in expected {
        if !versions.iter().any(|v| &v.version == version) {
            versions.push(VersionPercent {
                version: version.clone(),
                percent: 0.0,
                expected: Some(*weight),
            });
        }
    }
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    (answered, versions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{
        LatencyPercentiles, Reporter, ServiceTraffic, TrafficEdge, TrafficPeer, TrafficService,
        VersionShare,
    };

    fn service(versions: &[(&str, f64)]) -> ServiceTraffic {
        let total: f64 = versions.iter().map(|(_, r)| r).sum();
        ServiceTraffic {
            service: TrafficService {
                namespace: Some("default".into()),
                name: "reviews".into(),
                host: "reviews.default.svc.cluster.local".into(),
            },
            requests_per_second: total,
            error_share: 0.0,
            versions: versions
                .iter()
                .map(|(v, r)| VersionShare {
                    version: (*v).into(),
                    workload: format!("reviews-{v}"),
                    requests_per_second: *r,
                    share: r / total,
                    error_share: 0.0,
                })
                .collect(),
            unrouted_per_second: 0.0,
        }
    }

    fn edge(source: &str, rps: f64, errors: f64, mtls: Option<f64>) -> TrafficEdge {
        TrafficEdge {
            id: format!("traffic:{source}"),
            source: Some(TrafficPeer {
                namespace: "default".into(),
                workload: source.into(),
                app: source.split('-').next().unwrap().into(),
                version: "v1".into(),
            }),
            service: TrafficService {
                namespace: Some("default".into()),
                name: "reviews".into(),
                host: "reviews.default.svc.cluster.local".into(),
            },
            destination: None,
            reporter: Reporter::Source,
            requests_per_second: rps,
            error_share: errors,
            responses: vec![],
            latency: LatencyPercentiles {
                p50_ms: None,
                p95_ms: None,
                p99_ms: None,
            },
            mtls_share: mtls,
        }
    }

    fn snapshot(services: Vec<ServiceTraffic>, edges: Vec<TrafficEdge>) -> TrafficSnapshot {
        TrafficSnapshot {
            at_ms: 0,
            window_secs: 15.0,
            edges,
            services,
        }
    }

    #[test]
    fn split_passes_at_the_threshold_and_not_below() {
        let check = |at_least| Check::Split {
            namespace: "default".into(),
            service: "reviews".into(),
            version: "v1".into(),
            at_least,
        };
        let s = snapshot(vec![service(&[("v1", 8.7), ("v2", 1.3)])], vec![]);
        let (passed, observed) = traffic(&check(85.0), &s);
        assert!(passed);
        let Observation::Split { versions, .. } = observed else {
            panic!()
        };
        assert!((versions[0].percent - 87.0).abs() < 1e-9);
        assert!(!traffic(&check(90.0), &s).0);
        // No traffic at all is not a pass, even for 0 %.
        assert!(!traffic(&check(0.0), &snapshot(vec![], vec![])).0);
    }

    #[test]
    fn split_near_needs_every_version_within_the_margin_including_silent_ones() {
        let weights: BTreeMap<String, u32> =
            [("v1".into(), 60), ("v2".into(), 30), ("v3".into(), 10)].into();
        let check = Check::SplitNear {
            namespace: "default".into(),
            service: "reviews".into(),
            weights,
            within: 5.0,
        };
        let ok = snapshot(
            vec![service(&[("v1", 5.8), ("v2", 3.1), ("v3", 1.1)])],
            vec![],
        );
        assert!(traffic(&check, &ok).0);
        let v3_silent = snapshot(vec![service(&[("v1", 6.0), ("v2", 4.0)])], vec![]);
        let (passed, observed) = traffic(&check, &v3_silent);
        assert!(!passed);
        let Observation::Split { versions, .. } = observed else {
            panic!()
        };
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[2].percent, 0.0);
        assert_eq!(versions[2].expected, Some(10));
    }

    #[test]
    fn errors_weigh_edges_by_rate_and_can_be_narrowed_to_a_source() {
        let s = snapshot(
            vec![],
            vec![
                edge("productpage-v1", 9.0, 0.5, Some(1.0)),
                edge("sleep", 1.0, 0.0, None),
            ],
        );
        let check = |source: Option<&str>, at_least| Check::Errors {
            namespace: "default".into(),
            service: "reviews".into(),
            source: source.map(Into::into),
            at_least,
        };
        let (passed, observed) = traffic(&check(None, 45.0), &s);
        assert!(passed);
        assert_eq!(
            observed,
            Observation::Errors {
                per_second: 10.0,
                percent: Some(45.0)
            }
        );
        assert!(traffic(&check(Some("productpage-v1"), 50.0), &s).0);
        assert!(!traffic(&check(Some("sleep"), 1.0), &s).0);
    }

    #[test]
    fn mtls_counts_only_reported_requests() {
        let s = snapshot(
            vec![],
            vec![
                edge("productpage-v1", 3.0, 0.0, Some(1.0)),
                edge("sleep", 1.0, 0.0, Some(0.0)),
                edge("unknown", 5.0, 0.0, None),
            ],
        );
        let check = Check::Mtls {
            namespace: "default".into(),
            service: "reviews".into(),
            at_least: 95.0,
        };
        let (passed, observed) = traffic(&check, &s);
        assert!(!passed);
        assert_eq!(
            observed,
            Observation::Mtls {
                per_second: 9.0,
                percent: Some(75.0)
            }
        );
    }

    #[test]
    fn plain_text_refused_needs_the_outside_refused_and_the_inside_answered() {
        use crate::actions::client::{ClientPlace, ProbeReport, ProbeResult};
        let result = |place, status: Option<u16>, error: &str| ProbeResult {
            place,
            namespace: "x".into(),
            pod: "p".into(),
            sidecar: place == ClientPlace::Inside,
            kubectl: String::new(),
            exit_code: if status.is_some() { 0 } else { 56 },
            status,
            error: error.into(),
        };
        let report = |outside, inside| ProbeReport {
            url: "http://productpage.default:9080/".into(),
            outside: result(ClientPlace::Outside, outside, "curl: (56) reset"),
            inside: result(ClientPlace::Inside, inside, ""),
            created: vec![],
        };
        assert!(clients(&report(None, Some(200))).0, "STRICT");
        assert!(!clients(&report(Some(200), Some(200))).0, "PERMISSIVE");
        assert!(!clients(&report(None, None)).0, "nothing answers at all");
        assert!(
            !clients(&report(None, Some(503))).0,
            "the inside one fails too"
        );
    }

    #[test]
    fn ready_and_sidecars_name_what_is_missing() {
        let deployments = [
            DeploymentReady {
                name: "details-v1".into(),
                ready: true,
            },
            DeploymentReady {
                name: "reviews-v1".into(),
                ready: false,
            },
        ];
        let (passed, observed) = ready(
            &[
                "details-v1".into(),
                "reviews-v1".into(),
                "ratings-v1".into(),
            ],
            &deployments,
        );
        assert!(!passed);
        assert_eq!(
            observed,
            Observation::Ready {
                ready: 1,
                wanted: 3,
                not_ready: vec!["reviews-v1".into(), "ratings-v1".into()]
            }
        );
        assert!(!sidecars(&[]).0, "an empty namespace does not pass");
    }
}
