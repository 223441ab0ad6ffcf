//! `networking.istio.io` VirtualService: how requests to a host are routed. Only `http`
//! routes are modelled; `tcp` and `tls` routes are kept as written in `extra`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resource::{Resource, Spec};
use crate::values::{Duration, Extra, Labels, Percent, PortSelector, StringMatch};

pub type VirtualService = Resource<VirtualServiceSpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// Hosts routed; resolve each with [`crate::resolve_host`] and the object's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Gateways (`name` or `namespace/name`) and `mesh` (the sidecars); empty means `mesh`
    /// only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Routes, tried in order; the first whose match fits takes the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Spec for VirtualServiceSpec {
    const GROUP: &'static str = "networking.istio.io";
    const KIND: &'static str = "VirtualService";
    const PLURAL: &'static str = "virtualservices";
}

/// The gateway name Istio uses for the sidecars.
pub const MESH_GATEWAY: &str = "mesh";

impl VirtualServiceSpec {
    /// True when the sidecars use these routes: no gateways listed, or `mesh` among them.
    pub fn applies_to_mesh(&self) -> bool {
        self.gateways.is_empty() || self.gateways.iter().any(|g| g == MESH_GATEWAY)
    }

    /// True when the Gateway `name` in `namespace` is listed. A gateway written without a
    /// namespace is in the VirtualService's namespace `vs_namespace`.
    pub fn binds_gateway(&self, vs_namespace: &str, namespace: &str, name: &str) -> bool {
        self.gateways.iter().any(|g| match g.split_once('/') {
            Some((ns, n)) => ns == namespace && n == name,
            None => vs_namespace == namespace && g == name,
        })
    }
}

/// One http route: conditions, then where matching requests go and what happens on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Any one of these must fit; none means every request.
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    /// Destinations with weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<HttpRedirect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Time allowed for the whole request, retries included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<HttpFault>,
    /// A copy of each request goes here too; its answer is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    /// Kept as written: the app shows it but does not change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Conditions on a request; all that are set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Header names as written; Envoy compares them in lower case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Headers that must not fit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// The port the request was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Labels the calling pod must have.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub source_labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_namespace: Option<String>,
    /// Gateways (or `mesh`) the request must come through; overrides the VirtualService's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a share of the requests goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    pub destination: Destination,
    /// Share of requests (the weights of a route add up to 100); missing means all when
    /// there is one destination, none otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl HttpRouteDestination {
    pub fn new(destination: Destination, weight: Option<i32>) -> Self {
        Self {
            destination,
            weight,
            ..Self::default()
        }
    }
}

/// A service (and optionally a subset and port) requests are sent to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Resolve with [`crate::resolve_host`] and the VirtualService's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// A subset of the host's DestinationRule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Destination {
    pub fn new(host: impl Into<String>, subset: Option<String>) -> Self {
        Self {
            host: host.into(),
            subset,
            ..Self::default()
        }
    }
}

/// Header changes on the request and the response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOperations {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Answer with a redirect instead of routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRedirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// 301 when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Rewrite the path or authority before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Retries of a failed request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated Envoy conditions (`5xx,connect-failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl HttpRetry {
    /// The conditions, one by one.
    pub fn retry_on_conditions(&self) -> impl Iterator<Item = &str> {
        self.retry_on
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }
}

/// Faults injected before a request is forwarded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFault {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
    /// The whole-number percentage of older Istio versions; `percentage` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FaultDelay {
    /// The share of requests delayed, from `percentage` or the older `percent`; None when
    /// neither is written.
    pub fn share(&self) -> Option<f64> {
        fault_share(self.percentage.as_ref(), self.percent)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
    /// The whole-number percentage of older Istio versions; `percentage` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FaultAbort {
    /// The share of requests aborted, from `percentage` or the older `percent`; None when
    /// neither is written.
    pub fn share(&self) -> Option<f64> {
        fault_share(self.percentage.as_ref(), self.percent)
    }
}

fn fault_share(percentage: Option<&Percent>, percent: Option<i32>) -> Option<f64> {
    percentage
        .map(Percent::get)
        .or_else(|| percent.map(f64::from))
}
