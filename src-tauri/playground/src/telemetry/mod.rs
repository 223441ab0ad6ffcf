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
    let parse = |body: &str| parse_response(body).and_then(PromData::into_vector);
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
