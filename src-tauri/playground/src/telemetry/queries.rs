//! The PromQL the telemetry sends, modelled on Kiali's graph queries: rates of
//! `istio_requests_total` and quantiles of `istio_request_duration_milliseconds_bucket`,
//! summed by the labels that name an edge.
//!
//! Each request is counted once: from the source proxy's report, or, for a client without a
//! sidecar (which reports nothing), from the destination's (`source_workload="unknown"`).

use std::time::Duration;

/// The labels that name an edge: source workload, service, destination workload (with the
/// canonical service and revision, i.e. app and version, of both workloads).
pub const EDGE_LABELS: &str = "source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,destination_service,destination_service_name,destination_service_namespace,destination_workload_namespace,destination_workload,destination_canonical_service,destination_canonical_revision";

/// The labels that tell edges apart (what the figures are joined on): the mTLS and latency
/// queries group by these alone, which halves their answers (the other edge labels follow
/// from the workloads).
pub const KEY_LABELS: &str = "source_workload_namespace,source_workload,destination_service,destination_workload_namespace,destination_workload";

/// A range for PromQL: whole seconds when it has no fraction, else milliseconds.
pub fn range(window: Duration) -> String {
    let ms = window.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A label value inside double quotes, escaped as PromQL strings are.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `rate(metric{reporter="source",..}[w]) or rate(metric{reporter="destination",source_workload="unknown",..}[w])`:
/// every request once.
fn counted_once(metric: &str, extra: &str, window: Duration) -> String {
    let w = range(window);
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    format!(
        "rate({metric}{{reporter=\"source\"{extra}}}[{w}]) or rate({metric}{{reporter=\"destination\",source_workload=\"unknown\"{extra}}}[{w}])"
    )
}

/// Requests per second per edge, response code and flags.
pub fn requests(window: Duration) -> String {
    format!(
        "sum by ({EDGE_LABELS},reporter,response_code,response_flags) ({}) > 0",
        counted_once("istio_requests_total", "", window)
    )
}

/// Requests per second per edge by `connection_security_policy`, as destinations report it
/// (the only side that knows).
pub fn mtls(window: Duration) -> String {
    format!(
        "sum by ({KEY_LABELS},connection_security_policy) (rate(istio_requests_total{{reporter=\"destination\"}}[{}])) > 0",
        range(window)
    )
}

/// The `q` quantile of request duration in milliseconds per edge.
pub fn latency(q: f64, window: Duration) -> String {
    format!(
        "histogram_quantile({q}, sum by (le,{KEY_LABELS}) ({}))",
        counted_once("istio_request_duration_milliseconds_bucket", "", window)
    )
}

fn service_matchers(namespace: &str, name: &str) -> String {
    format!(
        "destination_service_namespace={},destination_service_name={}",
        quote(namespace),
        quote(name)
    )
}

/// One service's requests per second by answering version and response code.
pub fn service_requests(namespace: &str, name: &str, window: Duration) -> String {
    format!(
        "sum by (destination_workload,destination_canonical_revision,response_code) ({})",
        counted_once(
            "istio_requests_total",
            &service_matchers(namespace, name),
            window
        )
    )
}

/// The `q` quantile of one service's request duration in milliseconds.
pub fn service_latency(q: f64, namespace: &str, name: &str, window: Duration) -> String {
    format!(
        "histogram_quantile({q}, sum by (le) ({}))",
        counted_once(
            "istio_request_duration_milliseconds_bucket",
            &service_matchers(namespace, name),
            window
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_strings_are_written_for_promql() {
        assert_eq!(range(Duration::from_secs(60)), "60s");
        assert_eq!(range(Duration::from_millis(1500)), "1500ms");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn requests_count_sources_and_sidecarless_clients() {
        let q = requests(Duration::from_secs(30));
        assert!(q.starts_with("sum by (source_workload_namespace,"));
        assert!(q.contains(r#"rate(istio_requests_total{reporter="source"}[30s]) or rate(istio_requests_total{reporter="destination",source_workload="unknown"}[30s])"#));
        assert!(q.ends_with(") > 0"));
        // Figures are joined on the key labels, so those queries group by them alone.
        assert!(
            KEY_LABELS
                .split(',')
                .all(|k| EDGE_LABELS.split(',').any(|e| e == k))
        );
        assert!(mtls(Duration::from_secs(30)).starts_with(&format!(
            "sum by ({KEY_LABELS},connection_security_policy) ("
        )));
        assert!(latency(0.95, Duration::from_secs(30)).starts_with(&format!(
            "histogram_quantile(0.95, sum by (le,{KEY_LABELS}) ("
        )));
        let s = service_requests("default", "reviews", Duration::from_secs(10));
        assert!(s.contains(r#"{reporter="source",destination_service_namespace="default",destination_service_name="reviews"}[10s]"#), "{s}");
    }
}
