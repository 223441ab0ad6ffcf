//! The simulated Prometheus addon: its HTTP API (`/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/status/buildinfo`, `/-/ready`, `/-/healthy`) over the mesh's metrics, answered
//! with Prometheus's JSON, and the API server's service proxy that reaches it
//! (`/api/v1/namespaces/{ns}/services/[scheme:]{name}[:port]/proxy/{path}`), which fails
//! the way a real API server does when the Service, its port or its endpoints are missing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::controller::pod_is_ready;
use crate::metrics::{MeshMetrics, Sym, Tsdb, unix_ms};
use crate::promql::{self, Evaluator, QueryError, QueryValue, RangeSeries, Sample};
use crate::selector::LabelSelector;
use crate::status::ApiError;
use crate::store::Store;

/// The version the simulated server reports (the addon's image in the Bookinfo scenario).
pub const VERSION: &str = "3.10.0";
/// The port Prometheus listens on in its pod.
const PROMETHEUS_PORT: i64 = 9090;

/// The simulated Prometheus server.
#[derive(Debug)]
pub struct SimPrometheus {
    metrics: Arc<MeshMetrics>,
    /// Added before every answer, so tests can see how clients cope with a slow server.
    delay: Mutex<Duration>,
}

impl SimPrometheus {
    pub fn new(metrics: Arc<MeshMetrics>) -> Self {
        SimPrometheus {
            metrics,
            delay: Mutex::new(Duration::ZERO),
        }
    }

    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    pub fn metrics(&self) -> &Arc<MeshMetrics> {
        &self.metrics
    }

    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }

    fn delay(&self) -> Duration {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn json_body(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

fn api_error(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_body(code, &e.to_status())
}

/// Prometheus's error body and status code for a failed query.
fn query_error(e: &QueryError) -> Response {
    let (code, kind) = match e {
        QueryError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
        QueryError::Unsupported(_) | QueryError::Execution(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "execution")
        }
    };
    json_body(
        code,
        &json!({"status": "error", "errorType": kind, "error": e.to_string()}),
    )
}

/// Sample values travel as strings, as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes
/// them, with Prometheus's spelling of the infinities.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// Timestamps are seconds as a JSON number with millisecond precision.
pub fn format_time(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// A query's answer, written straight into its JSON text in Prometheus's shape: the labels
/// are interned in the series database, and a `serde_json::Value` of tens of thousands of
/// label maps would cost more than the evaluation.
struct Answer<'a> {
    db: &'a Tsdb,
    out: Vec<u8>,
}

impl Answer<'_> {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn string(&mut self, s: &str) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.out, s);
    }

    fn time(&mut self, ms: i64) {
        let _ = serde_json::to_writer(&mut self.out, &format_time(ms));
    }

    fn point(&mut self, ms: i64, v: f64) {
        self.raw("[");
        self.time(ms);
        self.raw(",\"");
        self.raw(&format_value(v));
        self.raw("\"]");
    }

    fn metric(&mut self, labels: &[(Sym, Sym)]) {
        self.raw("{\"metric\":{");
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.string(self.db.str(*k));
            self.raw(":");
            self.string(self.db.str(*v));
        }
        self.raw("},");
    }

    fn begin(&mut self, result_type: &str) {
        self.raw("{\"status\":\"success\",\"data\":{\"resultType\":\"");
        self.raw(result_type);
        self.raw("\",\"result\":");
    }

    fn finish(mut self) -> Response {
        self.raw("}}");
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.out,
        )
            .into_response()
    }

    fn vector(mut self, samples: &[Sample], t_ms: i64) -> Response {
        self.begin("vector");
        self.raw("[");
        for (i, s) in samples.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.metric(s.labels.ids(self.db));
            self.raw("\"value\":");
            self.point(t_ms, s.value);
            self.raw("}");
        }
        self.raw("]");
        self.finish()
    }

    fn matrix(mut self, series: &[RangeSeries]) -> Response {
        self.begin("matrix");
        self.raw("[");
        for (i, s) in series.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.metric(&s.labels);
            self.raw("\"values\":[");
            for (j, (t, v)) in s.points.iter().enumerate() {
                if j > 0 {
                    self.raw(",");
                }
                self.point(*t, *v);
            }
            self.raw("]}");
        }
        self.raw("]");
        self.finish()
    }

    fn scalar(mut self, t_ms: i64, v: f64) -> Response {
        self.begin("scalar");
        self.point(t_ms, v);
        self.finish()
    }

    fn text(mut self, t_ms: i64, s: &str) -> Response {
        self.begin("string");
        self.raw("[");
        self.time(t_ms);
        self.raw(",");
        self.string(s);
        self.raw("]");
        self.finish()
    }
}

/// Prometheus's time parameter: Unix seconds (with a fraction) or RFC 3339.
fn parse_time(name: &str, s: &str) -> Result<i64, QueryError> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            QueryError::BadData(format!(
                "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
            ))
        })
}

/// Prometheus's duration parameter: seconds (with a fraction) or a duration such as `15s`.
fn parse_step(name: &str, s: &str) -> Result<i64, QueryError> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    promql_parser::util::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| {
            QueryError::BadData(format!(
                "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid duration"
            ))
        })
}

/// Parameters from the URL and, for a form POST, from the body; the body's value wins, as
/// Go's `Request.FormValue` reads them.
fn params(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> HashMap<String, String> {
    let mut out = q.clone();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        for (k, v) in form_urlencoded::parse(body) {
            out.insert(k.into_owned(), v.into_owned());
        }
    }
    out
}

impl SimPrometheus {
    /// Answers a request for `path` on Prometheus's port.
    #[tracing::instrument(skip_all, fields(%method, path))]
    pub async fn serve(
        &self,
        method: &Method,
        path: &str,
        q: &HashMap<String, String>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let delay = self.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let path = format!("/{}", path.trim_start_matches('/'));
        let is_api = matches!(path.as_str(), "/api/v1/query" | "/api/v1/query_range");
        if is_api && *method != Method::GET && *method != Method::POST {
            return (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n").into_response();
        }
        match path.as_str() {
            "/-/ready" => (StatusCode::OK, "Prometheus Server is Ready.\n").into_response(),
            "/-/healthy" => (StatusCode::OK, "Prometheus Server is Healthy.\n").into_response(),
            "/api/v1/status/buildinfo" => json_body(
                StatusCode::OK,
                &json!({"status": "success", "data": {"version": VERSION, "revision": "simulated", "branch": "", "buildUser": "istio-playground", "buildDate": "", "goVersion": ""}}),
            ),
            "/api/v1/query" => {
                let p = params(q, headers, body);
                match self.query(&p) {
                    Ok(r) => r,
                    Err(e) => query_error(&e),
                }
            }
            "/api/v1/query_range" => {
                let p = params(q, headers, body);
                match self.query_range(&p) {
                    Ok(r) => r,
                    Err(e) => query_error(&e),
                }
            }
            _ => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
        }
    }

    fn query(&self, p: &HashMap<String, String>) -> Result<Response, QueryError> {
        let text = p.get("query").map(String::as_str).unwrap_or("");
        let expr = promql::parse(text)?;
        let now_ms = unix_ms(self.metrics.now());
        let t = match p.get("time").filter(|t| !t.is_empty()) {
            Some(t) => parse_time("time", t)?,
            None => now_ms,
        };
        if let Some(timeout) = p.get("timeout").filter(|t| !t.is_empty()) {
            parse_step("timeout", timeout)?;
        }
        let started = std::time::Instant::now();
        let db = self.metrics.read();
        let value = Evaluator { db: &db, now_ms }.instant(&expr, t)?;
        let evaluated = started.elapsed();
        let answer = Answer {
            db: &db,
            out: Vec::new(),
        };
        let response = match value {
            QueryValue::Scalar(v) => answer.scalar(t, v),
            QueryValue::String(s) => answer.text(t, &s),
            QueryValue::Vector(v) => answer.vector(&v, t),
            QueryValue::Matrix(m) => answer.matrix(&m),
        };
        drop(db);
        tracing::debug!(
            query = text,
            evaluated_us = evaluated.as_micros() as u64,
            elapsed_us = started.elapsed().as_micros() as u64,
            "evaluated"
        );
        Ok(response)
    }

    fn query_range(&self, p: &HashMap<String, String>) -> Result<Response, QueryError> {
        let need = |k: &str| {
            p.get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| QueryError::BadData(format!("invalid parameter \"{k}\": missing")))
        };
        let start = parse_time("start", need("start")?)?;
        let end = parse_time("end", need("end")?)?;
        let step = parse_step("step", need("step")?)?;
        let text = p.get("query").map(String::as_str).unwrap_or("");
        let expr = promql::parse(text)?;
        let now_ms = unix_ms(self.metrics.now());
        let db = self.metrics.read();
        let series = Evaluator { db: &db, now_ms }.range(&expr, start, end, step)?;
        Ok(Answer {
            db: &db,
            out: Vec::new(),
        }
        .matrix(&series))
    }
}

/// `[scheme:]name[:port]` as the API server splits a proxied service's id.
fn split_id(id: &str) -> (&str, &str) {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        [name] => (name, ""),
        [name, port] => (name, port),
        [_scheme, name, port] => (name, port),
        _ => (id, ""),
    }
}

/// The API server's service proxy: finds the Service, its port and a ready endpoint, then
/// hands the request to what listens there. Only the Prometheus addon has a simulated
/// server; any other service answers like a pod with nothing listening.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(ns, id, path))]
pub async fn service_proxy(
    store: &Store,
    prometheus: &SimPrometheus,
    method: &Method,
    ns: &str,
    id: &str,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let (name, port) = split_id(id);
    let Some(def) = store.resolve("", "v1", "services") else {
        return api_error(&ApiError::no_such_path());
    };
    let svc = match store.get(&def, ns, name) {
        Ok(svc) => svc,
        Err(e) => return api_error(&e),
    };
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let svc_port = ports.iter().find(|p| {
        port.is_empty()
            || p.get("name").and_then(Value::as_str) == Some(port)
            || p.get("port")
                .and_then(Value::as_i64)
                .map(|n| n.to_string())
                .as_deref()
                == Some(port)
    });
    let Some(svc_port) = svc_port else {
        return api_error(&ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no service port \"{port}\" found for service \"{name}\""),
        ));
    };
    let selector = svc.pointer("/spec/selector").and_then(Value::as_object);
    // Shared with the store: a proxied query copies no pod.
    let endpoints: Vec<Arc<Value>> = match selector {
        Some(sel) if !sel.is_empty() => {
            let sel = LabelSelector::from_map(sel);
            store
                .all_shared("", "pods")
                .into_iter()
                .filter(|p| {
                    p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                        && p.pointer("/metadata/deletionTimestamp").is_none()
                        && pod_is_ready(p)
                        && sel.matches(p.pointer("/metadata/labels").and_then(Value::as_object))
                })
                .collect()
        }
        _ => vec![],
    };
    let Some(pod) = endpoints.first() else {
        return api_error(&ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{id}\""),
        ));
    };
    let target = target_port(svc_port, pod);
    let is_prometheus = target == Some(PROMETHEUS_PORT)
        && pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("image")
                        .and_then(Value::as_str)
                        .is_some_and(|i| i.contains("prometheus"))
                })
            });
    if is_prometheus {
        return prometheus.serve(method, path, q, headers, &body).await;
    }
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    api_error(&ApiError::new(
        503,
        "ServiceUnavailable",
        format!(
            "error trying to reach service: dial tcp {ip}:{}: connect: connection refused",
            target.unwrap_or(0)
        ),
    ))
}

/// The container port a service port leads to (a number, or a named container port).
fn target_port(svc_port: &Value, pod: &Value) -> Option<i64> {
    match svc_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)?
            .iter()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort").and_then(Value::as_i64)),
        _ => svc_port.get("port").and_then(Value::as_i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_are_written_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1e-5), "0.00001");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_time(1_435_781_451_000).to_string(), "1435781451");
        assert_eq!(format_time(1_435_781_451_781).to_string(), "1435781451.781");
    }

    #[test]
    fn parameters_parse_like_prometheus() {
        assert_eq!(
            parse_time("time", "1435781451.781").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("time", "2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert!(parse_time("time", "yesterday").is_err());
        assert_eq!(parse_step("step", "15").unwrap(), 15_000);
        assert_eq!(parse_step("step", "1m30s").unwrap(), 90_000);
        assert_eq!(parse_step("step", "0.5").unwrap(), 500);
        assert!(parse_step("step", "soon").is_err());
    }

    #[test]
    fn proxied_ids_split_into_name_and_port() {
        assert_eq!(split_id("prometheus"), ("prometheus", ""));
        assert_eq!(split_id("prometheus:9090"), ("prometheus", "9090"));
        assert_eq!(split_id("http:prometheus:9090"), ("prometheus", "9090"));
        assert_eq!(split_id("https:prometheus:"), ("prometheus", ""));
    }
}
