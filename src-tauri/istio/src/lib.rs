//! Typed Istio resources, the one place where Istio objects are read and written: the mesh
//! model, the actions and the simulated cluster's data plane all use these types.
//!
//! - Kinds: [`Gateway`], [`VirtualService`], [`DestinationRule`] (`networking.istio.io`),
//!   [`PeerAuthentication`] (`security.istio.io`), [`Telemetry`] (`telemetry.istio.io`).
//!   Each is a [`Resource`] with `metadata` and a typed `spec`; read one with
//!   [`Resource::from_value`] (or `serde_json::from_value`), write it with
//!   [`Resource::to_value`]. [`IstioObject`] reads whichever of the five an object is.
//! - Nothing is lost: every struct keeps the fields it does not model in `extra`, and
//!   numbers and durations keep how they were written, so a read-modify-write sends back
//!   exactly what it read apart from the change. Empty lists and maps are not written (to
//!   Istio, as in protobuf, empty and missing are the same).
//! - Field names are Istio's in snake case (`http1MaxPendingRequests` is
//!   `http1_max_pending_requests`); `match` is [`HttpRoute::matches`].
//! - Hosts: [`resolve_host`] turns a host written in an object into the Service it names
//!   (or says it is outside the cluster); [`names_service`] and [`host_matches`] answer the
//!   two questions callers ask.
//! - Durations ([`Duration`]) keep their text (`7s`, `0.5s`, `100ms`); `to_std` parses them
//!   the way Istio does.

mod destination_rule;
mod error;
mod gateway;
mod host;
mod peer_authentication;
mod resource;
mod telemetry;
mod values;
mod virtual_service;

pub use destination_rule::*;
pub use error::{Error, Result};
pub use gateway::*;
pub use host::{CLUSTER_DOMAIN, ResolvedHost, host_matches, names_service, resolve_host};
pub use peer_authentication::*;
pub use resource::{ObjectMeta, Resource, Spec, api_version};
pub use telemetry::*;
pub use values::{
    Double, Duration, Extra, Labels, Percent, PortSelector, StringMatch, StringRule,
    WorkloadSelector, selects,
};
pub use virtual_service::*;

use serde_json::Value;

/// Any of the Istio kinds this crate models (boxed: their sizes differ a lot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IstioObject {
    Gateway(Box<Gateway>),
    VirtualService(Box<VirtualService>),
    DestinationRule(Box<DestinationRule>),
    PeerAuthentication(Box<PeerAuthentication>),
    Telemetry(Box<Telemetry>),
}

impl IstioObject {
    /// Reads an object by its `apiVersion` and `kind`: None for kinds this crate does not
    /// model (a ServiceEntry, a Deployment), an error for one of its kinds in a wrong shape.
    pub fn from_value(value: Value) -> Result<Option<Self>> {
        let group = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.split_once('/'))
            .map(|(g, _)| g);
        let kind = value.get("kind").and_then(Value::as_str);
        fn is<S: Spec>(group: Option<&str>, kind: Option<&str>) -> bool {
            group == Some(S::GROUP) && kind == Some(S::KIND)
        }
        Ok(Some(if is::<GatewaySpec>(group, kind) {
            Self::Gateway(Box::new(Resource::from_value(value)?))
        } else if is::<VirtualServiceSpec>(group, kind) {
            Self::VirtualService(Box::new(Resource::from_value(value)?))
        } else if is::<DestinationRuleSpec>(group, kind) {
            Self::DestinationRule(Box::new(Resource::from_value(value)?))
        } else if is::<PeerAuthenticationSpec>(group, kind) {
            Self::PeerAuthentication(Box::new(Resource::from_value(value)?))
        } else if is::<TelemetrySpec>(group, kind) {
            Self::Telemetry(Box::new(Resource::from_value(value)?))
        } else {
            return Ok(None);
        }))
    }

    pub fn to_value(&self) -> Value {
        match self {
            Self::Gateway(o) => o.to_value(),
            Self::VirtualService(o) => o.to_value(),
            Self::DestinationRule(o) => o.to_value(),
            Self::PeerAuthentication(o) => o.to_value(),
            Self::Telemetry(o) => o.to_value(),
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::Gateway(o) => &o.metadata,
            Self::VirtualService(o) => &o.metadata,
            Self::DestinationRule(o) => &o.metadata,
            Self::PeerAuthentication(o) => &o.metadata,
            Self::Telemetry(o) => &o.metadata,
        }
    }
}
