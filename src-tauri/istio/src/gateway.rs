//! `networking.istio.io` Gateway: which ports and hosts an ingress (or egress) gateway
//! listens on.

use serde::{Deserialize, Serialize};

use crate::resource::{Resource, Spec};
use crate::values::{Extra, Labels, istio_enum};

pub type Gateway = Resource<GatewaySpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// Labels of the gateway pods this applies to (`istio: ingressgateway`).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub selector: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Spec for GatewaySpec {
    const GROUP: &'static str = "networking.istio.io";
    const KIND: &'static str = "Gateway";
    const PLURAL: &'static str = "gateways";
}

/// One listener of the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    /// Hosts served, optionally `namespace/host`; `*` for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Server {
    /// The hosts without their `namespace/` part.
    pub fn host_names(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .iter()
            .map(|h| h.rsplit_once('/').map_or(h.as_str(), |(_, host)| host))
    }
}

/// A gateway port: the number the gateway pod listens on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// 0 when missing (Istio refuses that), and then not written back, as in protobuf.
    #[serde(default, skip_serializing_if = "crate::values::is_zero")]
    pub number: u32,
    /// HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP or TLS.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Port {
    /// True for the protocols whose traffic VirtualServices' `http` routes handle. Istio
    /// reads protocol names without regard to case.
    pub fn is_http(&self) -> bool {
        matches!(
            self.protocol.to_ascii_uppercase().as_str(),
            "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB"
        )
    }
}

/// How a gateway server terminates TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    /// Answer plain HTTP with a redirect to HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServerTlsMode>,
    /// The Secret holding the certificate and key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

istio_enum! {
    /// TLS modes of a gateway server.
    pub enum ServerTlsMode {
        Passthrough = "PASSTHROUGH",
        Simple = "SIMPLE",
        Mutual = "MUTUAL",
        AutoPassthrough = "AUTO_PASSTHROUGH",
        IstioMutual = "ISTIO_MUTUAL",
        OptionalMutual = "OPTIONAL_MUTUAL",
    }
}
