//! The Prometheus addon's HTTP API through the API server's service proxy, and its answers
//! parsed into typed values.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{TelemetryError, TimeRange};

/// Where Istio's addon puts Prometheus.
pub const NAMESPACE: &str = "istio-system";
pub const SERVICE: &str = "prometheus";
pub const PORT: u16 = 9090;
/// How long one query may take before the figures count as late.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Prometheus's `errorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
    Other(String),
}

impl PromErrorType {
    fn parse(s: &str) -> Self {
        match s {
            "bad_data" => PromErrorType::BadData,
            "execution" => PromErrorType::Execution,
            "timeout" => PromErrorType::Timeout,
            "canceled" => PromErrorType::Canceled,
            "internal" => PromErrorType::Internal,
            "unavailable" => PromErrorType::Unavailable,
            "not_found" => PromErrorType::NotFound,
            other => PromErrorType::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for PromErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PromErrorType::BadData => "bad_data",
            PromErrorType::Execution => "execution",
            PromErrorType::Timeout => "timeout",
            PromErrorType::Canceled => "canceled",
            PromErrorType::Internal => "internal",
            PromErrorType::Unavailable => "unavailable",
            PromErrorType::NotFound => "not_found",
            PromErrorType::Other(s) => s,
        })
    }
}

/// A sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    pub labels: BTreeMap<String, String>,
    /// NaN and the infinities come through as such.
    pub value: f64,
}

/// A series of a range vector: (Unix seconds, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

/// What a query returned.
#[derive(Debug, Clone, PartialEq)]
pub enum PromData {
    Vector(Vec<PromSample>),
    Matrix(Vec<PromSeries>),
    Scalar(f64),
    String(String),
}

impl PromData {
    pub fn into_vector(self) -> Result<Vec<PromSample>, TelemetryError> {
        match self {
            PromData::Vector(v) => Ok(v),
            other => Err(TelemetryError::BadResponse(format!(
                "expected a vector, got {}",
                other.kind()
            ))),
        }
    }

    pub fn into_matrix(self) -> Result<Vec<PromSeries>, TelemetryError> {
        match self {
            PromData::Matrix(m) => Ok(m),
            other => Err(TelemetryError::BadResponse(format!(
                "expected a matrix, got {}",
                other.kind()
            ))),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            PromData::Vector(_) => "a vector",
            PromData::Matrix(_) => "a matrix",
            PromData::Scalar(_) => "a scalar",
            PromData::String(_) => "a string",
        }
    }
}

/// A string of an answer: borrowed from its text unless JSON escapes had to be undone.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct Text<'a>(#[serde(borrow)] pub(super) Cow<'a, str>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, D> {
    #[serde(borrow)]
    status: Text<'a>,
    data: Option<D>,
    #[serde(borrow)]
    error_type: Option<Text<'a>>,
    #[serde(borrow)]
    error: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum RawData<'a> {
    #[serde(borrow)]
    Vector(Vec<RawSample<'a, BTreeMap<String, String>>>),
    #[serde(borrow)]
    Matrix(Vec<RawSeries<'a>>),
    #[serde(borrow)]
    Scalar((f64, Text<'a>)),
    String((f64, String)),
}

/// The `data` of an answer read for its vector alone; the other kinds are only named.
enum VectorData<S> {
    Vector(Vec<S>),
    Other(&'static str),
}

const RESULT_TYPES: [&str; 4] = ["vector", "matrix", "scalar", "string"];

impl<'de, S: Deserialize<'de>> Deserialize<'de> for VectorData<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Data<S>(PhantomData<S>);

        impl<'de, S: Deserialize<'de>> Visitor<'de> for Data<S> {
            type Value = VectorData<S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Prometheus's data object")
            }

            // Not serde's adjacently tagged enum: Prometheus writes `resultType` first, but
            // an answer written with sorted keys (`serde_json::json!` without its
            // `preserve_order` feature, as the simulated Prometheus) has `result` first,
            // which serde would buffer as a tree of owned values, several times the cost of
            // the parse. Such a result is kept as its raw text until its type is known.
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut kind: Option<Text<'de>> = None;
                let mut early: Option<&'de RawValue> = None;
                let mut samples: Option<Vec<S>> = None;
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    match &*key {
                        "resultType" => kind = Some(map.next_value()?),
                        "result" => match kind.as_ref().map(|k| &*k.0) {
                            Some("vector") => samples = Some(map.next_value()?),
                            Some(_) => {
                                map.next_value::<IgnoredAny>()?;
                            }
                            None => early = Some(map.next_value()?),
                        },
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("resultType"))?;
                match &*kind.0 {
                    "vector" => {}
                    "matrix" => return Ok(VectorData::Other("a matrix")),
                    "scalar" => return Ok(VectorData::Other("a scalar")),
                    "string" => return Ok(VectorData::Other("a string")),
                    other => return Err(de::Error::unknown_variant(other, &RESULT_TYPES)),
                }
                let samples = match (samples, early) {
                    (Some(samples), _) => samples,
                    (None, Some(raw)) => {
                        serde_json::from_str(raw.get()).map_err(de::Error::custom)?
                    }
                    (None, None) => return Err(de::Error::missing_field("result")),
                };
                Ok(VectorData::Vector(samples))
            }
        }

        deserializer.deserialize_map(Data(PhantomData))
    }
}

#[derive(Deserialize)]
struct RawSample<'a, L> {
    metric: L,
    /// Absent for native histogram samples (`histogram`), which Istio's metrics are not.
    #[serde(borrow)]
    value: Option<(f64, Text<'a>)>,
}

#[derive(Deserialize)]
struct RawSeries<'a> {
    metric: BTreeMap<String, String>,
    #[serde(borrow, default)]
    values: Vec<(f64, Text<'a>)>,
}

/// Prometheus writes sample values as strings, with `NaN`, `+Inf` and `-Inf`.
fn value(s: &str) -> Result<f64, TelemetryError> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| TelemetryError::BadResponse(format!("{s:?} is not a sample value"))),
    }
}

/// The data of a body of Prometheus's query API, or its error shape as an error.
fn open<'a, D: Deserialize<'a>>(body: &'a str) -> Result<D, TelemetryError> {
    let env: Envelope<'a, D> = serde_json::from_str(body).map_err(|e| {
        let start: String = body.chars().take(120).collect();
        TelemetryError::BadResponse(format!("not Prometheus's JSON ({e}): {start}"))
    })?;
    if env.status.0 != "success" {
        return Err(TelemetryError::Refused {
            error_type: PromErrorType::parse(env.error_type.as_ref().map_or("", |t| &t.0)),
            message: env.error.map(|t| t.0.into_owned()).unwrap_or_default(),
        });
    }
    env.data
        .ok_or_else(|| TelemetryError::BadResponse("a success without data".into()))
}

fn samples<L>(raw: Vec<RawSample<'_, L>>) -> Result<Vec<Sample<L>>, TelemetryError> {
    raw.into_iter()
        .filter_map(|s| s.value.map(|(_, v)| (s.metric, v)))
        .map(|(labels, v)| {
            Ok(Sample {
                labels,
                value: value(&v.0)?,
            })
        })
        .collect()
}

/// Parses a body of Prometheus's query API (success or error shape).
pub fn parse_response(body: &str) -> Result<PromData, TelemetryError> {
    Ok(match open::<RawData<'_>>(body)? {
        RawData::Vector(v) => PromData::Vector(
            samples(v)?
                .into_iter()
                .map(|s| PromSample {
                    labels: s.labels,
                    value: s.value,
                })
                .collect(),
        ),
        RawData::Matrix(m) => PromData::Matrix(
            m.into_iter()
                .map(|s| {
                    Ok(PromSeries {
                        labels: s.metric,
                        points: s
                            .values
                            .iter()
                            .map(|(t, v)| Ok((*t, value(&v.0)?)))
                            .collect::<Result<_, TelemetryError>>()?,
                    })
                })
                .collect::<Result<_, TelemetryError>>()?,
        ),
        RawData::Scalar((_, v)) => PromData::Scalar(value(&v.0)?),
        RawData::String((_, s)) => PromData::String(s),
    })
}

/// A sample of an instant vector with its labels read as `L` (for the refresh, the labels
/// it needs, borrowed from the answer).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample<L> {
    pub labels: L,
    /// NaN and the infinities come through as such.
    pub value: f64,
}

/// Parses a body of Prometheus's query API that must be an instant vector, reading each
/// sample's labels as `L`: [`parse_response`] and [`PromData::into_vector`] in one, with
/// the same errors, without a map of owned strings per sample.
pub(super) fn parse_vector<'a, L: Deserialize<'a>>(
    body: &'a str,
) -> Result<Vec<Sample<L>>, TelemetryError> {
    match open::<VectorData<RawSample<'a, L>>>(body)? {
        VectorData::Vector(v) => samples(v),
        VectorData::Other(kind) => Err(TelemetryError::BadResponse(format!(
            "expected a vector, got {kind}"
        ))),
    }
}

/// Unix seconds with milliseconds, as Prometheus's time parameters take them.
fn unix_secs(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A Prometheus duration in milliseconds (`3000ms`).
fn prom_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The Prometheus addon as reached through the API server.
#[derive(Clone)]
pub struct Prometheus {
    client: kube::Client,
    namespace: String,
    service: String,
    port: u16,
    timeout: Duration,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("namespace", &self.namespace)
            .field("service", &self.service)
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Prometheus {
    /// Istio's addon (`prometheus:9090` in `istio-system`) through `client`. Give a client
    /// with kube's retries off (see [`from_config`](Self::from_config)): with them, a
    /// Prometheus that is starting (503) is asked again for minutes and shows as slow.
    pub fn new(client: kube::Client) -> Self {
        Prometheus {
            client,
            namespace: NAMESPACE.into(),
            service: SERVICE.into(),
            port: PORT,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Istio's addon through a client built from `config` with kube's retries off, so a 503
    /// (no endpoints, Prometheus starting) reads as "starting" at once.
    pub fn from_config(mut config: kube::Config) -> Result<Self, TelemetryError> {
        config.default_retry = false;
        kube::Client::try_from(config)
            .map(Self::new)
            .map_err(|e| TelemetryError::Cluster(e.to_string()))
    }

    /// Gives up on a query after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Another Service than the addon's.
    pub fn with_service(mut self, namespace: &str, service: &str, port: u16) -> Self {
        self.namespace = namespace.into();
        self.service = service.into();
        self.port = port;
        self
    }

    /// The service proxy path of an API call with url-encoded parameters.
    pub fn proxy_path(&self, api: &str, params: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query.append_pair(k, v);
        }
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy/api/v1/{api}?{}",
            self.namespace,
            self.service,
            self.port,
            query.finish()
        )
    }

    /// An instant query evaluated at `at`.
    #[tracing::instrument(skip(self, at), fields(query = %promql))]
    pub async fn query(&self, promql: &str, at: SystemTime) -> Result<PromData, TelemetryError> {
        let path = self.proxy_path(
            "query",
            &[
                ("query", promql),
                ("time", &unix_secs(at)),
                ("timeout", &prom_duration(self.timeout)),
            ],
        );
        self.get(path).await
    }

    /// A range query: `promql` evaluated at every step of `range`.
    #[tracing::instrument(skip(self, range), fields(query = %promql))]
    pub async fn query_range(
        &self,
        promql: &str,
        range: TimeRange,
    ) -> Result<PromData, TelemetryError> {
        let path = self.proxy_path(
            "query_range",
            &[
                ("query", promql),
                ("start", &unix_secs(range.start)),
                ("end", &unix_secs(range.end)),
                ("step", &prom_duration(range.step)),
                ("timeout", &prom_duration(self.timeout)),
            ],
        );
        self.get(path).await
    }

    /// An instant query's answer as Prometheus wrote it, unparsed (failures of the proxy
    /// and Prometheus's error answers typed as for [`query`](Self::query)).
    #[tracing::instrument(skip(self, at), fields(query = %promql))]
    pub async fn query_body(&self, promql: &str, at: SystemTime) -> Result<String, TelemetryError> {
        let path = self.proxy_path(
            "query",
            &[
                ("query", promql),
                ("time", &unix_secs(at)),
                ("timeout", &prom_duration(self.timeout)),
            ],
        );
        self.get_text(path).await
    }

    async fn get(&self, path: String) -> Result<PromData, TelemetryError> {
        parse_response(&self.get_text(path).await?)
    }

    async fn get_text(&self, path: String) -> Result<String, TelemetryError> {
        let req = http::Request::get(path)
            .body(vec![])
            .map_err(|e| TelemetryError::BadResponse(e.to_string()))?;
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.timeout, self.client.request_text(req)).await {
            Err(_) => Err(TelemetryError::Slow {
                after: self.timeout,
            }),
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(self.classify(e)),
        };
        match &result {
            Ok(_) => tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "answered"
            ),
            Err(e) => {
                tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, error = %e, "failed")
            }
        }
        result
    }

    /// What a failed proxy request means: the API server's own Status (no such service, no
    /// endpoints) or Prometheus's error body passed through it.
    fn classify(&self, e: kube::Error) -> TelemetryError {
        let kube::Error::Api(status) = e else {
            return TelemetryError::Cluster(e.to_string());
        };
        if let Err(err) = parse_response(&status.message)
            && !matches!(err, TelemetryError::BadResponse(_))
        {
            return match err {
                TelemetryError::Refused {
                    error_type: PromErrorType::Timeout,
                    ..
                } => TelemetryError::Slow {
                    after: self.timeout,
                },
                other => other,
            };
        }
        let msg = status.message.trim().to_string();
        match (status.code, status.reason.as_str()) {
            (404, "NotFound") => TelemetryError::Missing {
                detail: format!(
                    "the service {}/{} does not exist ({msg})",
                    self.namespace, self.service
                ),
            },
            (503, "ServiceUnavailable") if msg.contains("no service port") => {
                TelemetryError::Missing {
                    detail: format!(
                        "the service {}/{} has no port {} ({msg})",
                        self.namespace, self.service, self.port
                    ),
                }
            }
            (503, _) => TelemetryError::Starting { detail: msg },
            (401 | 403, _) => TelemetryError::Cluster(format!(
                "the API server refused to proxy to Prometheus: {msg}"
            )),
            (code, _) => TelemetryError::BadResponse(format!("HTTP {code}: {msg}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bodies in the shapes Prometheus's HTTP API documents (written here, not captured).
    const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"destination_workload":"reviews-v2","response_code":"200"},"value":[1435781451.781,"1.5"]},{"metric":{"destination_workload":"reviews-v3"},"value":[1435781451.781,"NaN"]},{"metric":{"le":"x"},"value":[1435781451,"+Inf"]},{"metric":{},"value":[1435781451,"-Inf"]}]}}"#;
    const EMPTY: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    const MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"prometheus"},"values":[[1435781430.781,"1"],[1435781445.781,"0.5"]]}]}}"#;
    const SCALAR: &str =
        r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"2"]}}"#;
    const ERROR: &str = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}"#;
    const HISTOGRAM: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"histogram":[1435781451,{"count":"3","sum":"4","buckets":[]}]}]}}"#;

    #[test]
    fn vectors_parse_with_nan_and_infinities() {
        let v = parse_response(VECTOR).unwrap().into_vector().unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].labels["destination_workload"], "reviews-v2");
        assert_eq!(v[0].value, 1.5);
        assert!(v[1].value.is_nan());
        assert_eq!(v[2].value, f64::INFINITY);
        assert_eq!(v[3].value, f64::NEG_INFINITY);
        assert!(
            parse_response(EMPTY)
                .unwrap()
                .into_vector()
                .unwrap()
                .is_empty()
        );
        // Native histogram samples carry no float value: skipped.
        assert!(
            parse_response(HISTOGRAM)
                .unwrap()
                .into_vector()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn matrices_and_scalars_parse() {
        let m = parse_response(MATRIX).unwrap().into_matrix().unwrap();
        assert_eq!(
            m[0].points,
            vec![(1435781430.781, 1.0), (1435781445.781, 0.5)]
        );
        assert_eq!(parse_response(SCALAR).unwrap(), PromData::Scalar(2.0));
        assert!(matches!(
            parse_response(SCALAR).unwrap().into_vector(),
            Err(TelemetryError::BadResponse(_))
        ));
    }

    #[test]
    fn errors_keep_prometheus_type_and_message() {
        match parse_response(ERROR) {
            Err(TelemetryError::Refused {
                error_type,
                message,
            }) => {
                assert_eq!(error_type, PromErrorType::BadData);
                assert!(message.contains("parse error"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_response("<html>Bad Gateway</html>"),
            Err(TelemetryError::BadResponse(_))
        ));
        assert!(matches!(
            parse_response(
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"many"]}]}}"#
            ),
            Err(TelemetryError::BadResponse(_))
        ));
    }

    fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[tokio::test]
    async fn proxy_failures_say_missing_starting_slow_or_refused() {
        let prom =
            Prometheus::from_config(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let kind = |e: kube::Error| prom.classify(e);
        assert!(matches!(
            kind(api_error(
                404,
                "NotFound",
                "services \"prometheus\" not found"
            )),
            TelemetryError::Missing { .. }
        ));
        assert!(matches!(
            kind(api_error(
                503,
                "ServiceUnavailable",
                "no service port \"9090\" found for service \"prometheus\""
            )),
            TelemetryError::Missing { .. }
        ));
        assert!(matches!(
            kind(api_error(
                503,
                "ServiceUnavailable",
                "no endpoints available for service \"prometheus:9090\""
            )),
            TelemetryError::Starting { .. }
        ));
        // Prometheus itself, while its storage loads: plain text, which kube wraps.
        assert!(matches!(
            kind(api_error(
                503,
                "Failed to parse error data",
                "Service Unavailable"
            )),
            TelemetryError::Starting { .. }
        ));
        // Prometheus's own errors pass through the proxy with its status codes.
        assert!(matches!(
            kind(api_error(
                503,
                "Failed to parse error data",
                r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#
            )),
            TelemetryError::Slow { .. }
        ));
        assert!(matches!(
            kind(api_error(
                422,
                "Failed to parse error data",
                r#"{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}"#
            )),
            TelemetryError::Refused {
                error_type: PromErrorType::Execution,
                ..
            }
        ));
        assert!(matches!(
            kind(api_error(
                403,
                "Forbidden",
                "services \"prometheus:9090\" is forbidden"
            )),
            TelemetryError::Cluster(_)
        ));
        assert!(matches!(
            kind(api_error(
                404,
                "Failed to parse error data",
                "404 page not found"
            )),
            TelemetryError::BadResponse(_)
        ));
    }

    #[tokio::test]
    async fn proxy_paths_encode_the_query() {
        let prom =
            Prometheus::from_config(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let path = |p: &Prometheus| p.proxy_path("query", &[("query", r#"sum(x{a="b"}) > 0"#)]);
        assert_eq!(
            path(&prom),
            "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/query?query=sum%28x%7Ba%3D%22b%22%7D%29+%3E+0"
        );
        let other = prom.with_service("monitoring", "prom", 80);
        assert!(path(&other).starts_with("/api/v1/namespaces/monitoring/services/prom:80/proxy/"));
    }

    #[test]
    fn times_and_durations_are_written_for_prometheus() {
        assert_eq!(
            unix_secs(UNIX_EPOCH + Duration::from_millis(1_435_781_451_781)),
            "1435781451.781"
        );
        assert_eq!(
            unix_secs(UNIX_EPOCH + Duration::from_millis(1_435_781_451_005)),
            "1435781451.005"
        );
        assert_eq!(prom_duration(Duration::from_secs(3)), "3000ms");
    }
}
