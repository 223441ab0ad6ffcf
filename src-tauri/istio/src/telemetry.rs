//! `telemetry.istio.io` Telemetry: tracing, metrics and access logs of the proxies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resource::{Resource, Spec};
use crate::values::{Double, Duration, Extra, WorkloadSelector};

pub type Telemetry = Resource<TelemetrySpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {
    /// No selector: the whole namespace (the whole mesh in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracing: Vec<Tracing>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metrics>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<AccessLogging>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Spec for TelemetrySpec {
    const GROUP: &'static str = "telemetry.istio.io";
    const KIND: &'static str = "Telemetry";
    const PLURAL: &'static str = "telemetries";
}

/// A provider defined in the mesh config (`jaeger`, `prometheus`, `envoy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// Share of requests traced, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_sampling_percentage: Option<Double>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_span_reporting: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// Per-metric changes (tags, disabling); kept as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<Duration>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogging {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Which requests are logged (`{expression: "response.code >= 400"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<AccessLogFilter>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogFilter {
    /// A CEL expression over the request's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}
