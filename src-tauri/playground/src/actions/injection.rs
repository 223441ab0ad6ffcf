//! Sidecar injection for a namespace: the `istio-injection=enabled` label, and a rollout
//! restart of its deployments so existing pods are recreated with (or without) a sidecar.
//! Istio only injects when a pod is created, which is why the restart is offered at all.

use ::kube::api::{Api, ListParams, Patch, PatchParams};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use super::{ActionError, shell_word};

type Result<T, E = ActionError> = std::result::Result<T, E>;

pub const INJECTION_LABEL: &str = "istio-injection";
pub const OPT_OUT_LABEL: &str = "sidecar.istio.io/inject";
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// What the user asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct InjectionRequest {
    pub namespace: String,
    /// True: label the namespace `istio-injection=enabled`; false: remove the label.
    pub enabled: bool,
    /// Also restart the namespace's deployments so their pods are recreated.
    pub restart: bool,
}

/// A deployment that was not restarted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// What the toggle did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct InjectionReport {
    pub namespace: String,
    pub enabled: bool,
    /// Whether the label had to change (false when it already was as asked).
    pub label_changed: bool,
    /// Deployments restarted (their pods are being recreated).
    pub restarted: Vec<String>,
    /// Deployments not restarted, with the reason (paused ones).
    pub skipped: Vec<Skipped>,
    /// Pods (or deployments' pod templates) that opt out with `sidecar.istio.io/inject=false`.
    pub opted_out: Vec<Skipped>,
    /// The equivalent kubectl commands, in order.
    pub kubectl: Vec<String>,
}

/// The kubectl command that sets (or removes) the namespace's injection label.
pub fn label_command(req: &InjectionRequest) -> String {
    let ns = shell_word(&req.namespace);
    if req.enabled {
        format!("kubectl label namespace {ns} {INJECTION_LABEL}=enabled --overwrite")
    } else {
        format!("kubectl label namespace {ns} {INJECTION_LABEL}-")
    }
}

/// `kubectl rollout restart` for one deployment, or for all of the namespace's.
pub fn restart_command(namespace: &str, deployment: Option<&str>) -> String {
    match deployment {
        Some(name) => format!(
            "kubectl rollout restart deployment/{} -n {}",
            shell_word(name),
            shell_word(namespace)
        ),
        None => format!(
            "kubectl rollout restart deployment -n {}",
            shell_word(namespace)
        ),
    }
}

/// Sets or removes the injection label, then restarts the deployments when asked.
/// `now` is the RFC 3339 time written into the restart annotation.
#[tracing::instrument(skip(client), fields(namespace = %req.namespace, enabled = req.enabled, restart = req.restart))]
pub async fn set_injection(
    client: &::kube::Client,
    req: &InjectionRequest,
    now: &str,
) -> Result<InjectionReport> {
    let ns = &req.namespace;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let current = namespaces
        .get_opt(ns)
        .await
        .map_err(|source| ActionError::Read {
            what: format!("namespace {ns}"),
            source,
        })?
        .ok_or_else(|| ActionError::UnknownNamespace {
            namespace: ns.clone(),
        })?;
    let label_now = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(INJECTION_LABEL))
        .cloned();
    let wanted = req.enabled.then(|| "enabled".to_string());
    let label_changed = label_now != wanted;
    let mut kubectl = vec![label_command(req)];
    if label_changed {
        // A merge patch on the one label: other labels and fields are left alone, and null
        // removes the key.
        let patch = json!({"metadata": {"labels": {INJECTION_LABEL: wanted}}});
        namespaces
            .patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| ActionError::Write {
                what: format!("labelling namespace {ns}"),
                source,
            })?;
    }

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let list = deployments
        .list(&ListParams::default())
        .await
        .map_err(|source| ActionError::Read {
            what: format!("deployments in {ns}"),
            source,
        })?;
    let mut opted_out = Vec::new();
    let opt_out_reason = |what: &str| {
        format!(
            "{what} has the label {OPT_OUT_LABEL}=false, so Istio never gives it a sidecar, whatever the namespace says"
        )
    };
    for d in &list {
        let name = d.metadata.name.clone().unwrap_or_default();
        let opts_out = d
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.as_ref())
            .and_then(|l| l.get(OPT_OUT_LABEL))
            .is_some_and(|v| v == "false");
        if opts_out {
            opted_out.push(Skipped {
                reason: opt_out_reason(&format!("Deployment {name}'s pod template")),
                name: format!("deployment/{name}"),
            });
        }
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for pod in pods
        .list(&ListParams::default().labels(&format!("{OPT_OUT_LABEL}=false")))
        .await
        .map_err(|source| ActionError::Read {
            what: format!("pods in {ns}"),
            source,
        })?
    {
        let name = pod.metadata.name.unwrap_or_default();
        let owned_by_listed = opted_out.iter().any(|o| {
            o.name
                .strip_prefix("deployment/")
                .is_some_and(|d| name.starts_with(&format!("{d}-")))
        });
        if !owned_by_listed {
            opted_out.push(Skipped {
                reason: opt_out_reason(&format!("Pod {name}")),
                name: format!("pod/{name}"),
            });
        }
    }

    let mut restarted = Vec::new();
    let mut skipped = Vec::new();
    if req.restart {
        for d in &list {
            let name = d.metadata.name.clone().unwrap_or_default();
            if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
                skipped.push(Skipped {
                    reason: format!(
                        "Deployment {name} is paused (someone ran kubectl rollout pause), and a paused deployment does not roll out; resume it with kubectl rollout resume deployment/{name} -n {ns}"
                    ),
                    name,
                });
                continue;
            }
            // Not kube's `Api::restart`: it writes `kube.kubernetes.io/restartedAt` and reads
            // the clock itself, while this writes kubectl's own annotation (so the change is
            // exactly the `kubectl rollout restart` we show) with the time passed in.
            let patch =
                json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
            deployments
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| ActionError::Write {
                    what: format!("restarting deployment {name}"),
                    source,
                })?;
            kubectl.push(restart_command(ns, Some(&name)));
            restarted.push(name);
        }
    }
    tracing::info!(
        label_changed,
        restarted = restarted.len(),
        skipped = skipped.len(),
        "injection set"
    );
    Ok(InjectionReport {
        namespace: ns.clone(),
        enabled: req.enabled,
        label_changed,
        restarted,
        skipped,
        opted_out,
        kubectl,
    })
}

/// `time` as RFC 3339 in UTC (`2026-11-26T10:00:00Z`), the form kubectl writes into the
/// restart annotation.
pub use crate::time::rfc3339;

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn restart_times_are_rfc3339_in_utc() {
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_683_600);
        assert_eq!(super::rfc3339(t), "2026-11-26T09:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661);
        assert_eq!(super::rfc3339(leap), "2000-02-29T01:01:01Z");
    }
}
