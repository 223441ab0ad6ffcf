//! Traffic as Istio's own metrics tell it: request rates, errors, latency and mutual TLS per
//! edge (a source workload calling a service, answered by a destination workload), read from
//! the Prometheus addon's HTTP API through the Kubernetes API server's service proxy
//! (`/api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/query`), the path
//! `kubectl get --raw` uses. Nothing is sent anywhere but the cluster's own API server, and
//! real and simulated clusters are read the same way.
//!
//! - [`Prometheus`]: where the addon is and how long to wait; instant and range queries,
//!   answers parsed into [`PromData`], failures typed as [`TelemetryError`].
//! - [`queries`]: the PromQL, modelled on Kiali's graph queries.
//! - [`read_traffic`]: one refresh, five queries at once, assembled into a
//!   [`TrafficSnapshot`]; [`service_history`]: the last minutes of one service
//!   (range queries) for charts.
//! - [`watch`]: a poller sending a [`TelemetryUpdate`] every few seconds.
//!
//! Which proxy's report counts: the source's (`reporter="source"`), because only the client
//! side sees requests that never reached a pod (no route, no healthy upstream, an injected
//! abort, a timeout); the destination's only for clients without a sidecar, which report
//! nothing themselves. Mutual TLS is known only on the destination side, so the mTLS share
//! comes from there.

mod labels;
mod model;
mod prometheus;
pub mod queries;
mod watch;

use std::time::{Duration, SystemTime};

pub use model::{
    HistoryPoint, LatencyPercentiles, Reporter, ResponseRate, ServiceHistory, ServiceTraffic,
    TrafficEdge, TrafficPeer, TrafficService, TrafficSnapshot, VersionRate, VersionShare,
};
pub use prometheus::{
    DEFAULT_TIMEOUT, PromData, PromErrorType, PromSample, PromSeries, Prometheus, parse_response,
};
pub use watch::{TelemetryProblem, TelemetryUpdate, WatchOptions, watch, watch_with_clock};

/// Why traffic figures could not be read. The graph shows the one line and keeps drawing the
/// configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The Service (or the port) Prometheus should be behind does not exist: the addon is
    /// not installed.
    #[error("Prometheus is not installed: {detail}")]
    Missing { detail: String },
    /// The Service exists but nothing answers yet: no ready pod, or Prometheus still loading.
    #[error("Prometheus is still starting: {detail}")]
    Starting { detail: String },
    /// No answer in time.
    #[error("Prometheus did not answer within {} seconds", after.as_secs_f64())]
    Slow { after: Duration },
    /// Prometheus answered with its error shape.
    #[error("Prometheus refused the query ({error_type}): {message}")]
    Refused {
        error_type: PromErrorType,
        message: String,
    },
    /// The API server could not be reached or would not proxy the request.
    #[error("the cluster could not be asked for metrics: {0}")]
    Cluster(String),
    /// The answer was not Prometheus's JSON.
    #[error("the metrics could not be read: {0}")]
    BadResponse(String),
}

impl TelemetryError {
    /// Stable identifier for scripts and the UI.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            TelemetryError::Missing { .. } => crate::ErrorCode::TelemetryMissing,
            TelemetryError::Starting { .. } => crate::ErrorCode::TelemetryStarting,
            TelemetryError::Slow { .. } => crate::ErrorCode::TelemetrySlow,
            TelemetryError::Refused { .. } => crate::ErrorCode::TelemetryRefused,
            TelemetryError::Cluster(_) => crate::ErrorCode::TelemetryCluster,
            TelemetryError::BadResponse(_) => crate::ErrorCode::TelemetryBadResponse,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            TelemetryError::Missing { .. } => "Traffic figures come from Istio's Prometheus addon: install the addons (Setup screen), or apply samples/addons/prometheus.yaml from the Istio release.".into(),
            TelemetryError::Starting { .. } => "Prometheus starts with the addons and needs a minute; `kubectl -n istio-system get pods` shows when it is ready.".into(),
            TelemetryError::Slow { .. } => "Prometheus is busy or short of memory; the figures come back at the next refresh when it catches up.".into(),
            TelemetryError::Refused { .. } => "The query the playground sent was refused; the log file has it. Please report it.".into(),
            TelemetryError::Cluster(_) => "Check that the playground cluster is running (Setup screen).".into(),
            TelemetryError::BadResponse(_) => "Check that the prometheus service in istio-system is Istio's Prometheus addon.".into(),
        })
    }
}

/// The five queries of one refresh over `window`: requests by code, mTLS, p50, p95, p99.
pub fn traffic_queries(window: Duration) -> [String; 5] {
    [
        queries::requests(window),
        queries::mtls(window),
        queries::latency(0.5, window),
        queries::latency(0.95, window),
        queries::latency(0.99, window),
    ]
}

/// One refresh of the traffic figures: request rates by code, mTLS and latency percentiles
/// over the last `window`, evaluated at `at`, as five queries sent at once.
#[tracing::instrument(skip(prom), fields(window_s = window.as_secs_f64()))]
pub async fn read_traffic(
    prom: &Prometheus,
    window: Duration,
    at: SystemTime,
) -> Result<TrafficSnapshot, TelemetryError> {
    let texts = traffic_queries(window);
    let (requests, mtls, p50, p95, p99) = futures::try_join!(
        prom.query_body(&texts[0], at),
        prom.query_body(&texts[1], at),
        prom.query_body(&texts[2], at),
        prom.query_body(&texts[3], at),
        prom.query_body(&texts[4], at),
    )?;
    traffic_from_answers(at, window, [&requests, &mtls, &p50, &p95, &p99])
}

/// The app's side of a refresh once Prometheus has answered the [`traffic_queries`] (in
/// their order): the answers parsed and assembled into a snapshot.
pub fn traffic_from_answers(
    at: SystemTime,
    window: Duration,
    answers: [&str; 5],
) -> Result<TrafficSnapshot, TelemetryError> {
    let parse = prometheus::parse_vector::<labels::EdgeLabels<'_>>;
    // Parsing is most of a refresh's cost for a large mesh (megabytes of JSON), and the
    // answers are independent: one thread each, so a refresh takes about as long as its
    // largest answer where there are cores for it.
    let [requests, mtls, p50, p95, p99] = std::thread::scope(|scope| {
        let [first, rest @ ..] = answers;
        let others = rest.map(|body| scope.spawn(move || parse(body)));
        let first = parse(first);
        let [mtls, p50, p95, p99] = others.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(TelemetryError::BadResponse("the parser panicked".into())))
        });
        [first, mtls, p50, p95, p99]
    });
    Ok(model::assemble(
        at,
        window,
        &model::Inputs {
            requests: &requests?,
            mtls: &mtls?,
            p50: &p50?,
            p95: &p95?,
            p99: &p99?,
        },
    ))
}

/// From when to when, every how long: the points of a chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeRange {
    pub start: SystemTime,
    pub end: SystemTime,
    pub step: Duration,
}

/// One service over time (range queries): its request rate, error share, p50 and p95, and
/// the rate each version answered, each point over the `window` before it.
#[tracing::instrument(skip(prom, range), fields(window_s = window.as_secs_f64()))]
pub async fn service_history(
    prom: &Prometheus,
    namespace: &str,
    name: &str,
    range: TimeRange,
    window: Duration,
) -> Result<ServiceHistory, TelemetryError> {
    let texts = [
        queries::service_requests(namespace, name, window),
        queries::service_latency(0.5, namespace, name, window),
        queries::service_latency(0.95, namespace, name, window),
    ];
    let (requests, p50, p95) = futures::try_join!(
        prom.query_range(&texts[0], range),
        prom.query_range(&texts[1], range),
        prom.query_range(&texts[2], range),
    )?;
    Ok(model::history(
        namespace,
        name,
        range.step,
        &requests.into_matrix()?,
        &p50.into_matrix()?,
        &p95.into_matrix()?,
    ))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::labels::{EdgeLabels, Label};
    use super::*;

    /// An answer of `samples` (each `{"metric": ..., "value": [t, "v"]}` as JSON text).
    fn vector(samples: &[String]) -> String {
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            samples.join(",")
        )
    }

    fn sample(metric: &str, value: &str) -> String {
        format!(r#"{{"metric":{{{metric}}},"value":[1800000000.5,"{value}"]}}"#)
    }

    /// The key labels of an edge whose names need JSON escapes: a quote, a backslash, a
    /// `\u` escape, an escaped slash.
    const KEY: &str = r#""source_workload_namespace":"team\u002d1","source_workload":"caf\u00e9 \"v1\"","destination_service":"a\/b.team-1.svc.cluster.local","destination_workload_namespace":"team-1","destination_workload":"back\\slash""#;
    const REST: &str = r#""source_canonical_service":"caf\u00e9","source_canonical_revision":"v1","destination_service_name":"a\/b","destination_service_namespace":"team-1","destination_canonical_service":"b","destination_canonical_revision":"v\u0032","reporter":"source""#;

    fn answers() -> [String; 5] {
        let requests = vector(&[
            sample(
                &format!(r#"{KEY},{REST},"response_code":"200","response_flags":"-""#),
                "\\u0034.5",
            ),
            sample(
                &format!(r#"{KEY},{REST},"response_code":"503","response_flags":"UH,\u0055F""#),
                "0.5",
            ),
            // Not a rate: left out, as a stale series is.
            sample(
                &format!(r#"{KEY},{REST},"response_code":"500","response_flags":"-""#),
                "+Inf",
            ),
            sample(
                &format!(r#"{KEY},{REST},"response_code":"404","response_flags":"NR""#),
                "NaN",
            ),
        ]);
        let mtls = vector(&[
            sample(
                &format!(r#"{KEY},"connection_security_policy":"mutual_tls""#),
                "4",
            ),
            sample(
                &format!(r#"{KEY},"connection_security_policy":"none""#),
                "1",
            ),
        ]);
        // NaN for no requests in a bucket, +Inf for a quantile above the last bucket: no
        // figure either way.
        let p50 = vector(&[sample(&format!(r#"{KEY},"le":"ignored""#), "3.25")]);
        let p95 = vector(&[sample(KEY, "NaN")]);
        let p99 = vector(&[sample(KEY, "+Inf")]);
        [requests, mtls, p50, p95, p99]
    }

    #[test]
    fn escaped_labels_and_special_values_read_as_with_a_map_of_strings() {
        let answers = answers();
        for body in &answers {
            let fast = prometheus::parse_vector::<EdgeLabels<'_>>(body).unwrap();
            let maps = parse_response(body).unwrap().into_vector().unwrap();
            assert_eq!(fast.len(), maps.len());
            for (f, m) in fast.iter().zip(&maps) {
                assert!(
                    f.value == m.value || (f.value.is_nan() && m.value.is_nan()),
                    "{} vs {}",
                    f.value,
                    m.value
                );
                for l in Label::ALL {
                    let name = l.name();
                    assert_eq!(
                        f.labels.get(l),
                        m.labels.get(name).map_or("", String::as_str),
                        "{name}"
                    );
                }
            }
        }
        let fast = prometheus::parse_vector::<EdgeLabels<'_>>(&answers[0]).unwrap();
        assert!(fast[0].labels.is_copied(Label::SourceWorkload));
        assert!(
            !fast[0]
                .labels
                .is_copied(Label::DestinationWorkloadNamespace)
        );

        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let snap = traffic_from_answers(
            at,
            Duration::from_secs(30),
            [0, 1, 2, 3, 4].map(|i| answers[i].as_str()),
        )
        .unwrap();
        assert_eq!(snap.edges.len(), 1);
        let e = &snap.edges[0];
        assert_eq!(
            e.id,
            r#"traffic:team-1/café "v1"->a/b.team-1.svc.cluster.local->team-1/back\slash"#
        );
        let source = e.source.as_ref().unwrap();
        assert_eq!(
            (source.workload.as_str(), source.app.as_str()),
            (r#"café "v1""#, "café")
        );
        assert_eq!(e.destination.as_ref().unwrap().version, "v2");
        assert_eq!(e.service.name, "a/b");
        assert_eq!(
            e.requests_per_second, 5.0,
            "the +Inf and NaN rates are left out"
        );
        assert_eq!(e.error_share, 0.1);
        assert_eq!(e.responses.len(), 2);
        assert_eq!(e.responses[0].flags, Vec::<String>::new());
        assert_eq!(e.responses[1].flags, vec!["UH".to_string(), "UF".into()]);
        assert_eq!(e.mtls_share, Some(0.8));
        assert_eq!(
            e.latency,
            LatencyPercentiles {
                p50_ms: Some(3.25),
                p95_ms: None,
                p99_ms: None
            }
        );
        assert_eq!(snap.services[0].versions[0].version, "v2");

        // With sorted keys, as `serde_json::json!` writes them (the simulated Prometheus):
        // `result` before `resultType`, `data` before `status`.
        let sorted = answers.map(|a| {
            let (head, rest) = a.split_once(r#""result":"#).unwrap();
            let result = rest.strip_suffix("}}").unwrap();
            assert!(head.starts_with(r#"{"status":"success","data":{"resultType":"vector","#));
            format!(r#"{{"data":{{"result":{result},"resultType":"vector"}},"status":"success"}}"#)
        });
        let again = traffic_from_answers(
            at,
            Duration::from_secs(30),
            [0, 1, 2, 3, 4].map(|i| sorted[i].as_str()),
        )
        .unwrap();
        assert_eq!(again, snap);
    }

    #[test]
    fn the_vector_parse_refuses_what_the_map_parse_refuses() {
        // The same error, or for answers that are not Prometheus's, the same kind of error
        // (serde words its messages after the types read into).
        let outcome = |r: Result<usize, TelemetryError>| match r {
            Err(TelemetryError::BadResponse(_)) => Err("bad response".to_string()),
            Err(e) => Err(e.to_string()),
            Ok(n) => Ok(n),
        };
        for body in [
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#,
            r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#,
            r#"{"status":"success"}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"many"]}]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":2},"value":[1,"1"]}]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"histogram":[1,{}]},{"metric":{},"value":[1,"1"]}]}}"#,
            "<html>Bad Gateway</html>",
            r#"{"status":"success","data":{"resultType":"vector"}}"#,
            r#"{"status":"success","data":{"resultType":"histograms","result":[]}}"#,
            // Keys in another order than Prometheus's.
            r#"{"data":{"result":[{"metric":{"a":"b"},"values":[[1,"1"]]}],"resultType":"matrix"},"status":"success"}"#,
            r#"{"data":{"result":[1,"2"],"resultType":"scalar"},"status":"success"}"#,
            r#"{"data":{"result":[{"value":[1,"1"],"metric":{"a":"b"}},{"metric":{},"value":[1,"NaN"]}],"resultType":"vector"},"status":"success"}"#,
            r#"{"data":{"result":[{"metric":{"a":3},"value":[1,"1"]}],"resultType":"vector"},"status":"success"}"#,
            r#"{"error":"bad","errorType":"bad_data","status":"error"}"#,
        ] {
            let fast = prometheus::parse_vector::<EdgeLabels<'_>>(body).map(|v| v.len());
            let maps = parse_response(body)
                .and_then(PromData::into_vector)
                .map(|v| v.len());
            assert_eq!(outcome(fast), outcome(maps), "{body}");
        }
    }
}
