//! `security.istio.io` PeerAuthentication: whether workloads accept plain text or require
//! mutual TLS.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::resource::{Resource, Spec};
use crate::values::{Extra, WorkloadSelector, istio_enum};

pub type PeerAuthentication = Resource<PeerAuthenticationSpec>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// No selector: the whole namespace (the whole mesh in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<PeerMtls>,
    /// Per container port; needs a selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub port_level_mtls: BTreeMap<u32, PeerMtls>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Spec for PeerAuthenticationSpec {
    const GROUP: &'static str = "security.istio.io";
    const KIND: &'static str = "PeerAuthentication";
    const PLURAL: &'static str = "peerauthentications";
}

impl PeerAuthenticationSpec {
    /// The mode written for the workload as a whole, if any (`UNSET` counts as none: it
    /// inherits from the parent).
    pub fn mode(&self) -> Option<&MtlsMode> {
        self.mtls
            .as_ref()
            .and_then(|m| m.mode.as_ref())
            .filter(|m| **m != MtlsMode::Unset)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerMtls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MtlsMode>,
    #[serde(flatten)]
    pub extra: Extra,
}

istio_enum! {
    /// What a workload accepts from its peers.
    pub enum MtlsMode {
        /// Inherit from the namespace or mesh policy (PERMISSIVE when none).
        Unset = "UNSET",
        /// Plain text only.
        Disable = "DISABLE",
        /// Both mutual TLS and plain text.
        Permissive = "PERMISSIVE",
        /// Mutual TLS only.
        Strict = "STRICT",
    }
}
