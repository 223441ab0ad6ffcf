//! Mutual TLS (Istio's "Mutual TLS migration" task): a PeerAuthentication for the whole mesh
//! (`default` in istio-system, the root namespace), a namespace (`default` there) or one
//! workload (named after it, with a selector), in mode PERMISSIVE, STRICT or DISABLE. Only
//! that one object is written; clearing deletes it.

use ::kube::api::Api;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::ActionError;
use super::backup::{ActionKind, ChangeBackup, Step, TrafficChange, for_apply};
use super::route::{ensure_namespace, run};
use super::weights::read_err;
use crate::istio::{
    Labels, MtlsMode, PeerAuthentication, PeerAuthenticationSpec, PeerMtls, WorkloadSelector,
};
use crate::kube::istio as istio_api;

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// Istio's root namespace: a policy there is the mesh's.
pub const ROOT_NAMESPACE: &str = "istio-system";

/// The mode to require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[ts(export)]
pub enum MtlsSetting {
    Permissive,
    Strict,
    Disable,
}

impl MtlsSetting {
    fn mode(self) -> MtlsMode {
        match self {
            MtlsSetting::Permissive => MtlsMode::Permissive,
            MtlsSetting::Strict => MtlsMode::Strict,
            MtlsSetting::Disable => MtlsMode::Disable,
        }
    }
}

/// What a policy covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "type")]
#[ts(export)]
pub enum MtlsScope {
    Mesh,
    Namespace {
        namespace: String,
    },
    /// A Deployment's pods (by its selector), or the pods labelled `app: <name>`.
    Workload {
        namespace: String,
        name: String,
    },
}

/// A mode for a scope, or (`mode: None`) the removal of that scope's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct MtlsPlan {
    pub scope: MtlsScope,
    pub mode: Option<MtlsSetting>,
}

impl MtlsPlan {
    /// Namespace and name of the one PeerAuthentication the plan writes.
    pub fn object(&self) -> (&str, &str) {
        match &self.scope {
            MtlsScope::Mesh => (ROOT_NAMESPACE, "default"),
            MtlsScope::Namespace { namespace } => (namespace, "default"),
            MtlsScope::Workload { namespace, name } => (namespace, name),
        }
    }
}

/// The labels that pick a workload's pods.
#[tracing::instrument(skip(client))]
async fn workload_selector(client: &::kube::Client, namespace: &str, name: &str) -> Result<Labels> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(read_err(format!("Deployment {namespace}/{name}")))?;
    if let Some(labels) = deployment
        .and_then(|d| d.spec)
        .and_then(|s| s.selector.match_labels)
        .filter(|l| !l.is_empty())
    {
        return Ok(labels.into_iter().collect());
    }
    let app = Labels::from([("app".to_string(), name.to_string())]);
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(
            &::kube::api::ListParams::default()
                .labels(&format!("app={name}"))
                .limit(1),
        )
        .await
        .map_err(read_err(format!("pods of {name}")))?;
    if pods.items.is_empty() {
        return Err(ActionError::UnknownWorkload {
            name: name.into(),
            namespace: namespace.into(),
        });
    }
    Ok(app)
}

/// Validates, then writes (or deletes) the PeerAuthentication.
#[tracing::instrument(skip(client))]
pub async fn apply(
    client: &::kube::Client,
    plan: &MtlsPlan,
    dry_run: bool,
) -> Result<(TrafficChange, Option<ChangeBackup>)> {
    let (namespace, name) = plan.object();
    ensure_namespace(client, namespace).await?;
    let selector = match &plan.scope {
        MtlsScope::Workload { namespace, name } => {
            Some(workload_selector(client, namespace, name).await?)
        }
        _ => None,
    };
    let current = istio_api::api::<PeerAuthenticationSpec>(client, namespace)
        .get_opt(name)
        .await
        .map_err(read_err(format!("PeerAuthentication {namespace}/{name}")))?
        .and_then(istio_api::typed::<PeerAuthenticationSpec>);
    let steps = match (plan.mode, current) {
        (None, None) => Vec::new(),
        (None, Some(existing)) => vec![Step::delete(existing)],
        (Some(mode), current) => {
            let mut pa = match &current {
                Some(c) => for_apply(c),
                None => PeerAuthentication::new(name, namespace, Default::default()),
            };
            pa.spec.selector = selector.map(|match_labels| WorkloadSelector {
                match_labels,
                ..Default::default()
            });
            pa.spec.mtls = Some(PeerMtls {
                mode: Some(mode.mode()),
                ..Default::default()
            });
            if current.as_ref().is_some_and(|c| for_apply(c) == pa) {
                Vec::new()
            } else {
                vec![Step::apply(&pa, current)]
            }
        }
    };
    run(client, ActionKind::Mtls, steps, dry_run).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mesh_policy_lives_in_the_root_namespace_and_a_workloads_is_named_after_it() {
        let mesh = MtlsPlan {
            scope: MtlsScope::Mesh,
            mode: Some(MtlsSetting::Strict),
        };
        assert_eq!(mesh.object(), ("istio-system", "default"));
        let ns = MtlsPlan {
            scope: MtlsScope::Namespace {
                namespace: "foo".into(),
            },
            mode: None,
        };
        assert_eq!(ns.object(), ("foo", "default"));
        let w = MtlsPlan {
            scope: MtlsScope::Workload {
                namespace: "foo".into(),
                name: "httpbin".into(),
            },
            mode: Some(MtlsSetting::Disable),
        };
        assert_eq!(w.object(), ("foo", "httpbin"));
        assert_eq!(MtlsSetting::Disable.mode().as_str(), "DISABLE");
        assert_eq!(
            serde_json::to_value(MtlsSetting::Permissive).unwrap(),
            "PERMISSIVE"
        );
    }
}
