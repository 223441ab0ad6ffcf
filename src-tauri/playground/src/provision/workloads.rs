//! "Is it ready yet?": Deployments, StatefulSets and DaemonSets read the way `kubectl rollout
//! status` reads them, and pods checked for their Istio sidecar.

use std::time::{Duration, Instant};

use ::kube::api::{Api, DynamicObject, ListParams};
use ::kube::core::GroupVersionKind;
use ::kube::discovery::ApiResource;
use serde_json::Value;

use super::{Error, StepCtx, human};

/// A workload to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The Deployments, StatefulSets and DaemonSets among parsed objects.
pub fn workloads_in(objects: &[DynamicObject], default_namespace: &str) -> Vec<Workload> {
    objects
        .iter()
        .filter_map(|o| {
            let t = o.types.as_ref()?;
            let kind = t.kind.as_str();
            (t.api_version == "apps/v1"
                && matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet"))
            .then(|| Workload {
                kind: kind.to_string(),
                namespace: o
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
                name: o.metadata.name.clone().unwrap_or_default(),
            })
        })
        .collect()
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Why a workload is not ready yet, or None when it is. Works on the object's JSON.
pub fn not_ready_reason(kind: &str, obj: &Value) -> Option<String> {
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    if observed < generation {
        return Some("its controller has not seen the latest change yet".into());
    }
    match kind {
        "Deployment" | "StatefulSet" => {
            let want = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated = int(obj, "/status/updatedReplicas");
            let ready = if kind == "Deployment" {
                int(obj, "/status/availableReplicas")
            } else {
                int(obj, "/status/readyReplicas")
            };
            let total = int(obj, "/status/replicas");
            if updated < want {
                Some(format!("{updated} of {want} pods updated"))
            } else if total > updated {
                Some(format!("{} old pods still terminating", total - updated))
            } else if ready < want {
                Some(format!("{ready} of {want} pods ready"))
            } else {
                None
            }
        }
        "DaemonSet" => {
            let want = int(obj, "/status/desiredNumberScheduled");
            let updated = int(obj, "/status/updatedNumberScheduled");
            let ready = int(obj, "/status/numberAvailable");
            if want == 0 {
                Some("no node runs it yet".into())
            } else if updated < want {
                Some(format!("{updated} of {want} pods updated"))
            } else if ready < want {
                Some(format!("{ready} of {want} pods ready"))
            } else {
                None
            }
        }
        other => Some(format!("cannot tell when a {other} is ready")),
    }
}

/// True when a pod carries Istio's proxy: a container or (native sidecar, Istio 1.27+ on
/// Kubernetes 1.33+) an init container named `istio-proxy`.
pub fn has_sidecar(pod: &Value) -> bool {
    ["/spec/containers", "/spec/initContainers"]
        .iter()
        .any(|p| {
            pod.pointer(p)
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c["name"] == "istio-proxy"))
        })
}

fn apps(kind: &str) -> ApiResource {
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", kind), &plural)
}

fn pods() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Pod"), "pods")
}

/// The workloads not ready now, with why (missing ones count as not ready).
#[tracing::instrument(skip_all, fields(count = workloads.len()))]
pub async fn not_ready(
    client: &::kube::Client,
    workloads: &[Workload],
) -> Result<Vec<(Workload, String)>, Error> {
    let mut out = Vec::new();
    for w in workloads {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &w.namespace, &apps(&w.kind));
        let found = api.get_opt(&w.name).await.map_err(|source| Error::Kube {
            what: format!("reading {w}"),
            source,
        })?;
        let why = match found {
            None => Some("not created yet".to_string()),
            Some(obj) => {
                let json = serde_json::to_value(&obj).unwrap_or_default();
                not_ready_reason(&w.kind, &json)
            }
        };
        if let Some(why) = why {
            out.push((w.clone(), why));
        }
    }
    Ok(out)
}

/// Pods in `namespace` (matching `selector`) that are ready but have no sidecar, and pods
/// not ready at all.
pub async fn pods_without_sidecar(
    client: &::kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<(Vec<String>, usize), Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &pods());
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|source| Error::Kube {
            what: format!("listing pods in {namespace}"),
            source,
        })?;
    let mut missing = Vec::new();
    let total = list.items.len();
    for p in list.items {
        // Pods on their way out are not the ones that count.
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let json = serde_json::to_value(&p).unwrap_or_default();
        if !has_sidecar(&json) {
            missing.push(p.metadata.name.unwrap_or_default());
        }
    }
    Ok((missing, total))
}

/// Polls until every workload is ready, reporting progress between `from` and `to`.
pub async fn wait_ready(
    client: &::kube::Client,
    ctx: &StepCtx,
    workloads: &[Workload],
    timeout: Duration,
    poll: Duration,
    (from, to): (f32, f32),
    hint: &str,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut last_summary = String::new();
    loop {
        let waiting = not_ready(client, workloads).await?;
        let ready = workloads.len() - waiting.len();
        let share = if workloads.is_empty() {
            1.0
        } else {
            ready as f32 / workloads.len() as f32
        };
        let summary = if waiting.is_empty() {
            format!("All {} ready", workloads.len())
        } else {
            format!(
                "{ready} of {} ready; waiting for {}",
                workloads.len(),
                waiting
                    .iter()
                    .map(|(w, why)| format!("{} ({why})", w.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let line = (summary != last_summary).then(|| summary.clone());
        ctx.progress(from + (to - from) * share, line);
        last_summary = summary;
        if waiting.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(Error::NotReady {
                what: waiting
                    .iter()
                    .map(|(w, _)| w.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                after: timeout,
                detail: last_summary,
                hint: hint.to_string(),
            });
        }
        ctx.check_cancel()?;
        tokio::time::sleep(poll).await;
    }
}

/// The hint for a wait that ran out: image pulls on a slow network, or too little memory.
pub fn slow_hint(
    docker_memory: Option<i64>,
    host: Option<crate::preflight::docker::EngineHost>,
    limit: Duration,
) -> String {
    let gib = docker_memory.map(|m| m as f64 / f64::from(1u32 << 30));
    match gib {
        Some(g) if g < 7.5 => {
            let how = host
                .unwrap_or(crate::preflight::docker::EngineHost::Native)
                .resources_fix();
            format!(
                "Docker has {g:.0} GiB; Istio's demo, the addons and Bookinfo want about 8. {how} Then press \"Set up\" again."
            )
        }
        _ => format!(
            "Pulling the images can take several minutes on a slow connection. Press \"Set up\" again to keep waiting (each wait is limited to {}).",
            human(limit)
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deployments_are_ready_when_every_replica_is_updated_and_available() {
        let d = |gen_, observed, replicas, updated, available, total| {
            json!({"metadata": {"generation": gen_}, "spec": {"replicas": replicas},
                   "status": {"observedGeneration": observed, "updatedReplicas": updated,
                              "availableReplicas": available, "replicas": total}})
        };
        assert_eq!(not_ready_reason("Deployment", &d(2, 2, 1, 1, 1, 1)), None);
        assert!(
            not_ready_reason("Deployment", &d(2, 1, 1, 1, 1, 1))
                .unwrap()
                .contains("not seen")
        );
        assert_eq!(
            not_ready_reason("Deployment", &d(1, 1, 2, 2, 1, 2)).as_deref(),
            Some("1 of 2 pods ready")
        );
        assert!(
            not_ready_reason("Deployment", &d(1, 1, 1, 1, 1, 2))
                .unwrap()
                .contains("terminating")
        );
        assert_eq!(
            not_ready_reason("Deployment", &json!({"metadata": {"generation": 1}})).as_deref(),
            Some("its controller has not seen the latest change yet")
        );
    }

    #[test]
    fn statefulsets_and_daemonsets_have_their_own_counters() {
        let s = json!({"spec": {"replicas": 1}, "status": {"updatedReplicas": 1, "readyReplicas": 1, "replicas": 1}});
        assert_eq!(not_ready_reason("StatefulSet", &s), None);
        let ds = json!({"status": {"desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 0}});
        assert_eq!(
            not_ready_reason("DaemonSet", &ds).as_deref(),
            Some("0 of 1 pods ready")
        );
        let ds_none = json!({"status": {"desiredNumberScheduled": 0}});
        assert!(not_ready_reason("DaemonSet", &ds_none).is_some());
    }

    #[test]
    fn sidecars_are_found_as_containers_or_native_init_containers() {
        let classic = json!({"spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}});
        let native = json!({"spec": {"containers": [{"name": "app"}],
            "initContainers": [{"name": "istio-proxy", "restartPolicy": "Always"}]}});
        let none = json!({"spec": {"containers": [{"name": "app"}]}});
        assert!(has_sidecar(&classic));
        assert!(has_sidecar(&native));
        assert!(!has_sidecar(&none));
    }

    #[test]
    fn the_memory_hint_names_docker_desktops_settings() {
        use crate::preflight::docker::EngineHost;
        let h = slow_hint(
            Some(2 << 30),
            Some(EngineHost::DockerDesktop { wsl2: false }),
            Duration::from_secs(60),
        );
        assert!(h.contains("Docker has 2 GiB"), "{h}");
        assert!(h.contains("Docker Desktop > Settings > Resources"), "{h}");
        let wsl = slow_hint(
            Some(2 << 30),
            Some(EngineHost::DockerDesktop { wsl2: true }),
            Duration::from_secs(60),
        );
        assert!(wsl.contains(".wslconfig"), "{wsl}");
        assert!(
            slow_hint(
                Some(16 << 30),
                Some(EngineHost::Native),
                Duration::from_secs(60)
            )
            .contains("limited to 60 s")
        );
    }

    #[test]
    fn workloads_are_picked_from_parsed_yaml_with_the_default_namespace() {
        let objs = crate::kube::apply::parse_documents(
            "t",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: loki, namespace: istio-system}\n",
        )
        .unwrap();
        let w: Vec<String> = workloads_in(&objs, "default")
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(
            w,
            ["Deployment default/web", "StatefulSet istio-system/loki"]
        );
    }
}
