//! The controllers a newcomer sees at work: Deployments own ReplicaSets own Pods, pods go
//! Pending then Running and Ready, Services get EndpointSlices (and Endpoints), every
//! namespace gets its default ServiceAccount. One task reacts to store events and to timers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;

use crate::clock::rfc3339;
use crate::resources::ResourceDef;
use crate::selector::LabelSelector;
use crate::store::{DeleteOpts, Store, WriteOpts};

const MANAGER: &str = "kube-controller-manager";
/// The one node of the simulated cluster (kind would call it `<cluster>-control-plane`).
pub const NODE_NAME: &str = "istio-playground-control-plane";
pub const NODE_IP: &str = "172.18.0.2";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
        })
}

fn owner_ref(kind: &str, api_version: &str, obj: &Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": s(obj, "/metadata/name"),
        "uid": s(obj, "/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn is_terminating(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

pub fn pod_is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Kubernetes' pod-template-hash: a hash of the template, spelled in the safe alphabet.
pub fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[(b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Resolves "25%" or 1 against a replica count (rounding up for surge, down for unavailable).
fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(p)) if p.ends_with('%') => {
            let pct: f64 = p.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = pct * total as f64 / 100.0;
            if round_up {
                x.ceil() as i64
            } else {
                x.floor() as i64
            }
        }
        Some(Value::String(p)) => p.parse().unwrap_or(default),
        _ => default,
    }
}

/// Controller settings.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub ready_delay: Duration,
    /// How long a deleted pod shows Terminating before its containers are gone.
    pub termination_delay: Duration,
}

/// State the controller keeps between passes: when it first saw each pending pod.
#[derive(Debug, Default)]
pub struct Controller {
    first_seen: HashMap<String, Instant>,
    terminating_since: HashMap<String, Instant>,
}

/// Creates what a fresh kind cluster has: system namespaces, the node, the kubernetes service.
pub fn bootstrap(store: &Store) -> Result<(), crate::ApiError> {
    let ns_def = def(store, "", "namespaces");
    let w = WriteOpts::manager("kube-apiserver");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if store.get(&ns_def, "", ns).is_err() {
            store.create(
                &ns_def,
                "v1",
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &w,
            )?;
        }
    }
    let node_def = def(store, "", "nodes");
    let now = rfc3339(store.clock.now());
    if store.get(&node_def, "", NODE_NAME).is_err() {
        store.create(
            &node_def,
            "v1",
            "",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE_NAME, "labels": {
                "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}},
                "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "providerID": format!("kind://docker/istio-playground/{NODE_NAME}")}}),
            &w,
        )?;
        store.modify(&node_def, "", NODE_NAME, true, "kubelet", |n| {
            n["status"] = json!({
                "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": NODE_NAME}],
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}
                ],
                "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://2.1.4", "kernelVersion": "6.12.0", "kubeProxyVersion": "", "kubeletVersion": crate::discovery::KUBE_VERSION, "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)", "machineID": "0", "systemUUID": "0", "bootID": "0"}
            });
            true
        })?;
    }
    let svc_def = def(store, "", "services");
    if store.get(&svc_def, "default", "kubernetes").is_err() {
        store.create(
            &svc_def,
            "v1",
            "default",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
            &w,
        )?;
    }
    Ok(())
}

fn def(store: &Store, group: &str, plural: &str) -> ResourceDef {
    store
        .resolve(group, "v1", plural)
        .unwrap_or_else(|| panic!("built-in {plural} is registered"))
}

/// Runs the controller until the task is aborted.
pub async fn run(store: Arc<Store>, cfg: ControllerConfig) {
    let mut rx = store.subscribe();
    let mut ctl = Controller::default();
    loop {
        let wake = ctl.reconcile(&store, &cfg, Instant::now());
        let sleep = wake.unwrap_or(Duration::from_secs(5));
        tokio::select! {
            r = rx.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r {
                    return;
                }
                // Coalesce a burst of events (a kubectl apply, a rollout) into one pass.
                tokio::time::sleep(Duration::from_millis(10)).await;
                while let Ok(_) | Err(TryRecvError::Lagged(_)) = rx.try_recv() {}
            }
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

impl Controller {
    /// One pass over everything. Returns how soon it wants to run again for timers.
    pub fn reconcile(
        &mut self,
        store: &Store,
        cfg: &ControllerConfig,
        now: Instant,
    ) -> Option<Duration> {
        self.namespaces(store);
        self.deployments(store);
        self.replicasets(store);
        self.statefulsets(store);
        let wake = self.pods(store, cfg, now);
        self.endpoints(store);
        self.replicaset_status(store);
        self.deployment_status(store);
        wake
    }

    fn namespaces(&mut self, store: &Store) {
        let sa = def(store, "", "serviceaccounts");
        let cm = def(store, "", "configmaps");
        for ns in store.all_shared("", "namespaces") {
            if is_terminating(&ns) {
                continue;
            }
            let name = s(&ns, "/metadata/name");
            if store.get(&sa, name, "default").is_err() {
                let _ = store.create(&sa, "v1", name, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}), &WriteOpts::manager(MANAGER));
            }
            if store.get(&cm, name, "kube-root-ca.crt").is_err() {
                let _ = store.create(
                    &cm,
                    "v1",
                    name,
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No real CA in the simulated cluster."}},
                        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nSIMULATED\n-----END CERTIFICATE-----\n"}}),
                    &WriteOpts::manager(MANAGER),
                );
            }
        }
    }

    fn deployments(&mut self, store: &Store) {
        let rs_def = def(store, "apps", "replicasets");
        let all_rs = store.all_shared("apps", "replicasets");
        for d in store.all_shared("apps", "deployments") {
            if is_terminating(&d) {
                continue;
            }
            let ns = s(&d, "/metadata/namespace").to_string();
            let uid = s(&d, "/metadata/uid").to_string();
            let name = s(&d, "/metadata/name").to_string();
            let replicas = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let hash = template_hash(&template);
            let owned: Vec<&Value> = all_rs
                .iter()
                .map(Arc::as_ref)
                .filter(|r| owned_by(r, &uid))
                .collect();
            let max_rev = owned
                .iter()
                .map(|r| {
                    s(
                        r,
                        "/metadata/annotations/deployment.kubernetes.io~1revision",
                    )
                    .parse::<i64>()
                    .unwrap_or(0)
                })
                .max()
                .unwrap_or(0);
            let new_rs = owned
                .iter()
                .find(|r| s(r, "/metadata/labels/pod-template-hash") == hash)
                .map(|r| (*r).clone());
            let old: Vec<&Value> = owned
                .iter()
                .copied()
                .filter(|r| s(r, "/metadata/labels/pod-template-hash") != hash)
                .collect();
            let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
            let recreate = s(&d, "/spec/strategy/type") == "Recreate";
            let old_total: i64 = old.iter().map(|r| i(r, "/spec/replicas")).sum();
            let ready_total: i64 = owned.iter().map(|r| i(r, "/status/readyReplicas")).sum();
            let max_surge = if recreate {
                0
            } else {
                int_or_percent(
                    d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                    replicas,
                    true,
                    1,
                )
            };
            let mut max_unavailable = if recreate {
                replicas
            } else {
                int_or_percent(
                    d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                    replicas,
                    false,
                    0,
                )
            };
            if max_surge == 0 && max_unavailable == 0 {
                max_unavailable = 1;
            }
            let new_rs = match new_rs {
                Some(r) => r,
                None if paused => continue,
                None => {
                    let mut labels = template
                        .pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(json!({}));
                    labels["pod-template-hash"] = json!(hash);
                    let mut tmpl = template.clone();
                    tmpl["metadata"]["labels"] = labels.clone();
                    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
                    if !selector.get("matchLabels").is_some_and(Value::is_object) {
                        selector["matchLabels"] = json!({});
                    }
                    selector["matchLabels"]["pod-template-hash"] = json!(hash);
                    let initial = if old.is_empty() {
                        replicas
                    } else if recreate {
                        0
                    } else {
                        (replicas + max_surge - old_total).clamp(0, replicas)
                    };
                    let mut annotations = json!({
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (replicas + max_surge).to_string(),
                        "deployment.kubernetes.io/revision": (max_rev + 1).to_string(),
                    });
                    if let Some(Value::Object(da)) = d.pointer("/metadata/annotations") {
                        for (k, v) in da {
                            if !k.starts_with("deployment.kubernetes.io/")
                                && k != "kubectl.kubernetes.io/last-applied-configuration"
                            {
                                annotations[k] = v.clone();
                            }
                        }
                    }
                    let rs = json!({
                        "apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": format!("{name}-{hash}"), "labels": labels, "annotations": annotations,
                            "ownerReferences": [owner_ref("Deployment", "apps/v1", &d)]},
                        "spec": {"replicas": initial, "selector": selector, "template": tmpl, "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0))}
                    });
                    match store.create(&rs_def, "v1", &ns, rs, &WriteOpts::manager(MANAGER)) {
                        Ok(r) => {
                            if initial > 0 {
                                record_event(
                                    store,
                                    &d,
                                    "ScalingReplicaSet",
                                    &format!(
                                        "Scaled up replica set {name}-{hash} from 0 to {initial}"
                                    ),
                                    "deployment-controller",
                                );
                            }
                            r
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "replicaset create failed");
                            continue;
                        }
                    }
                }
            };
            let new_name = s(&new_rs, "/metadata/name").to_string();
            if paused {
                continue;
            }
            // Revision bookkeeping when an old template comes back (rollback).
            let rev = s(
                &new_rs,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            )
            .parse::<i64>()
            .unwrap_or(0);
            let rev = if rev < max_rev && !old.is_empty() {
                let _ = store.modify(&rs_def, &ns, &new_name, false, MANAGER, |r| {
                    r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        json!((max_rev + 1).to_string());
                    true
                });
                max_rev + 1
            } else {
                rev
            };
            // The Deployment carries its current revision too (`kubectl rollout undo` reads it).
            let rev_s = rev.to_string();
            if s(
                &d,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            ) != rev_s
            {
                let d_def = def(store, "apps", "deployments");
                let _ = store.modify(&d_def, &ns, &name, false, MANAGER, |x| {
                    if !x["metadata"]["annotations"].is_object() {
                        x["metadata"]["annotations"] = json!({});
                    }
                    x["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        json!(rev_s);
                    true
                });
            }
            let new_spec = i(&new_rs, "/spec/replicas");
            let new_ready = i(&new_rs, "/status/readyReplicas");
            // Scale the new ReplicaSet up within the surge budget.
            let target_new = if recreate {
                if old
                    .iter()
                    .all(|r| i(r, "/status/replicas") == 0 && i(r, "/spec/replicas") == 0)
                {
                    replicas
                } else {
                    0
                }
            } else if new_spec < replicas {
                let budget = replicas + max_surge - (old_total + new_spec);
                (new_spec + budget.max(0)).min(replicas)
            } else {
                replicas
            };
            if target_new != new_spec {
                let _ = store.modify(&rs_def, &ns, &new_name, false, MANAGER, |r| {
                    r["spec"]["replicas"] = json!(target_new);
                    r["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                        json!(replicas.to_string());
                    true
                });
                let verb = if target_new > new_spec { "up" } else { "down" };
                record_event(
                    store,
                    &d,
                    "ScalingReplicaSet",
                    &format!(
                        "Scaled {verb} replica set {new_name} from {new_spec} to {target_new}"
                    ),
                    "deployment-controller",
                );
            }
            // Scale old ReplicaSets down as far as availability allows.
            let min_available = replicas - max_unavailable;
            let mut can_remove = if recreate {
                old_total
            } else {
                (ready_total - min_available).max(0)
            };
            // Old pods that are not ready do not count against availability.
            let old_unready: i64 = old
                .iter()
                .map(|r| (i(r, "/spec/replicas") - i(r, "/status/readyReplicas")).max(0))
                .sum();
            can_remove += old_unready;
            let _ = new_ready;
            for r in old {
                if can_remove <= 0 {
                    break;
                }
                let cur = i(r, "/spec/replicas");
                if cur == 0 {
                    continue;
                }
                let take = cur.min(can_remove);
                can_remove -= take;
                let rname = s(r, "/metadata/name").to_string();
                let _ = store.modify(&rs_def, &ns, &rname, false, MANAGER, |x| {
                    x["spec"]["replicas"] = json!(cur - take);
                    true
                });
                record_event(
                    store,
                    &d,
                    "ScalingReplicaSet",
                    &format!(
                        "Scaled down replica set {rname} from {cur} to {}",
                        cur - take
                    ),
                    "deployment-controller",
                );
            }
        }
    }

    fn replicasets(&mut self, store: &Store) {
        let pod_def = def(store, "", "pods");
        let pods = store.all_shared("", "pods");
        for rs in store.all_shared("apps", "replicasets") {
            if is_terminating(&rs) {
                continue;
            }
            let ns = s(&rs, "/metadata/namespace").to_string();
            let uid = s(&rs, "/metadata/uid").to_string();
            let name = s(&rs, "/metadata/name").to_string();
            let want = rs
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(0) as usize;
            let mut mine: Vec<&Value> = pods
                .iter()
                .map(Arc::as_ref)
                .filter(|p| owned_by(p, &uid) && !is_terminating(p))
                .collect();
            if mine.len() < want {
                for _ in mine.len()..want {
                    let pod_name = format!("{name}-{}", store.random_suffix(5));
                    let mut pod = pod_from_template(&rs, "ReplicaSet", &pod_name);
                    pod["metadata"]["generateName"] = json!(format!("{name}-"));
                    match store.create(&pod_def, "v1", &ns, pod, &WriteOpts::manager(MANAGER)) {
                        Ok(_) => record_event(
                            store,
                            &rs,
                            "SuccessfulCreate",
                            &format!("Created pod: {pod_name}"),
                            "replicaset-controller",
                        ),
                        Err(e) => tracing::debug!(error = %e, "pod create failed"),
                    }
                }
            } else if mine.len() > want {
                // Unready first, then the youngest.
                mine.sort_by_key(|p| {
                    (
                        pod_is_ready(p),
                        std::cmp::Reverse(s(p, "/metadata/creationTimestamp").to_string()),
                        std::cmp::Reverse(i(p, "/metadata/resourceVersion")),
                    )
                });
                for p in mine.iter().take(mine.len() - want) {
                    let pname = s(p, "/metadata/name").to_string();
                    if store
                        .delete(&pod_def, &ns, &pname, &DeleteOpts::default())
                        .is_ok()
                    {
                        record_event(
                            store,
                            &rs,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {pname}"),
                            "replicaset-controller",
                        );
                    }
                }
            }
        }
    }

    /// StatefulSets: stable names `<set>-<ordinal>`, created in order once the previous pod is
    /// ready, and replaced from the highest ordinal down when the template changes.
    fn statefulsets(&mut self, store: &Store) {
        let pod_def = def(store, "", "pods");
        let sts_def = def(store, "apps", "statefulsets");
        let pods = store.all_shared("", "pods");
        for set in store.all_shared("apps", "statefulsets") {
            if is_terminating(&set) {
                continue;
            }
            let ns = s(&set, "/metadata/namespace").to_string();
            let uid = s(&set, "/metadata/uid").to_string();
            let name = s(&set, "/metadata/name").to_string();
            let want = set
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(0);
            let revision = format!(
                "{name}-{}",
                template_hash(&set.pointer("/spec/template").cloned().unwrap_or(json!({})))
            );
            let mine: Vec<&Value> = pods
                .iter()
                .map(Arc::as_ref)
                .filter(|p| owned_by(p, &uid))
                .collect();
            let ordinal = |p: &Value| {
                s(p, "/metadata/name")
                    .rsplit('-')
                    .next()
                    .and_then(|o| o.parse::<i64>().ok())
                    .unwrap_or(-1)
            };
            let all_ready = mine.iter().all(|p| pod_is_ready(p) && !is_terminating(p));
            // Scale down from the top.
            for p in mine.iter().filter(|p| ordinal(p) >= want) {
                let _ = store.delete(
                    &pod_def,
                    &ns,
                    s(p, "/metadata/name"),
                    &DeleteOpts::default(),
                );
            }
            // Create the lowest missing ordinal once everything before it is ready.
            if all_ready
                && let Some(missing) = (0..want).find(|o| !mine.iter().any(|p| ordinal(p) == *o))
            {
                let mut pod = pod_from_template(&set, "StatefulSet", &format!("{name}-{missing}"));
                let labels = &mut pod["metadata"]["labels"];
                if !labels.is_object() {
                    *labels = json!({});
                }
                labels["statefulset.kubernetes.io/pod-name"] = json!(format!("{name}-{missing}"));
                labels["apps.kubernetes.io/pod-index"] = json!(missing.to_string());
                labels["controller-revision-hash"] = json!(revision);
                pod["spec"]["hostname"] = json!(format!("{name}-{missing}"));
                if let Some(svc) = set.pointer("/spec/serviceName").and_then(Value::as_str) {
                    pod["spec"]["subdomain"] = json!(svc);
                }
                let _ = store.create(&pod_def, "v1", &ns, pod, &WriteOpts::manager(MANAGER));
            } else if all_ready
                && let Some(stale) = mine
                    .iter()
                    .filter(|p| s(p, "/metadata/labels/controller-revision-hash") != revision)
                    .max_by_key(|p| ordinal(p))
            {
                let _ = store.delete(
                    &pod_def,
                    &ns,
                    s(stale, "/metadata/name"),
                    &DeleteOpts::default(),
                );
            }
            let live: Vec<&&Value> = mine
                .iter()
                .filter(|p| !is_terminating(p) && ordinal(p) < want)
                .collect();
            let ready = live.iter().filter(|p| pod_is_ready(p)).count();
            let current = live
                .iter()
                .filter(|p| s(p, "/metadata/labels/controller-revision-hash") == revision)
                .count();
            let status = strip_zero(json!({
                "observedGeneration": i(&set, "/metadata/generation"),
                "replicas": live.len(),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "currentReplicas": current,
                "updatedReplicas": current,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            }));
            if set.get("status") != Some(&status) {
                let _ = store.modify(&sts_def, &ns, &name, true, MANAGER, |x| {
                    x["status"] = status.clone();
                    true
                });
            }
        }
    }

    fn pods(&mut self, store: &Store, cfg: &ControllerConfig, now: Instant) -> Option<Duration> {
        let pod_def = def(store, "", "pods");
        let mut wake: Option<Duration> = None;
        let mut live = HashMap::new();
        let ts = rfc3339(store.clock.now());
        for p in store.all_shared("", "pods") {
            let uid = s(&p, "/metadata/uid").to_string();
            let ns = s(&p, "/metadata/namespace").to_string();
            let name = s(&p, "/metadata/name").to_string();
            let seen = *self.first_seen.entry(uid.clone()).or_insert(now);
            live.insert(uid.clone(), ());
            if is_terminating(&p) {
                if p.pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| !f.is_empty())
                {
                    continue;
                }
                let since = *self.terminating_since.entry(uid.clone()).or_insert(now);
                let elapsed = now.saturating_duration_since(since);
                if elapsed >= cfg.termination_delay {
                    let opts = DeleteOpts {
                        grace_period: Some(0),
                        ..Default::default()
                    };
                    let _ = store.delete(&pod_def, &ns, &name, &opts);
                } else {
                    let left = cfg.termination_delay - elapsed;
                    wake = Some(wake.map_or(left, |w| w.min(left)));
                }
                continue;
            }
            if s(&p, "/spec/nodeName").is_empty() {
                // The scheduler binds it to the only node.
                let _ = store.modify(&pod_def, &ns, &name, false, "kube-scheduler", |x| {
                    x["spec"]["nodeName"] = json!(NODE_NAME);
                    true
                });
                continue;
            }
            let phase = s(&p, "/status/phase");
            let has_status = p.pointer("/status/conditions").is_some();
            if phase == "Pending" && !has_status {
                let _ = store.modify(&pod_def, &ns, &name, true, "kubelet", |x| {
                    x["status"] = pending_status(x, &ts);
                    true
                });
                record_event(
                    store,
                    &p,
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {NODE_NAME}"),
                    "default-scheduler",
                );
            }
            if phase == "Pending" {
                let elapsed = now.saturating_duration_since(seen);
                if elapsed >= cfg.ready_delay {
                    let ip = store.allocate_pod_ip();
                    let _ = store.modify(&pod_def, &ns, &name, true, "kubelet", |x| {
                        x["status"] = running_status(x, &ip, &ts);
                        true
                    });
                    for key in ["initContainers", "containers"] {
                        for (c, image, _) in container_names(&p, key) {
                            record_event(
                                store,
                                &p,
                                "Pulled",
                                &format!(
                                    "Container image \"{image}\" already present on machine (simulated)"
                                ),
                                "kubelet",
                            );
                            record_event(
                                store,
                                &p,
                                "Created",
                                &format!("Created container: {c}"),
                                "kubelet",
                            );
                            record_event(
                                store,
                                &p,
                                "Started",
                                &format!("Started container {c}"),
                                "kubelet",
                            );
                        }
                    }
                } else {
                    let left = cfg.ready_delay - elapsed;
                    wake = Some(wake.map_or(left, |w| w.min(left)));
                }
            }
        }
        self.first_seen.retain(|k, _| live.contains_key(k));
        self.terminating_since.retain(|k, _| live.contains_key(k));
        wake
    }

    fn endpoints(&mut self, store: &Store) {
        let slice_def = store
            .resolve("discovery.k8s.io", "v1", "endpointslices")
            .expect("registered");
        let ep_def = def(store, "", "endpoints");
        let pods = store.all_shared("", "pods");
        let slices = store.all_shared("discovery.k8s.io", "endpointslices");
        for svc in store.all_shared("", "services") {
            let Some(sel) = svc
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .filter(|m| !m.is_empty())
            else {
                continue;
            };
            let sel = LabelSelector::from_map(sel);
            let ns = s(&svc, "/metadata/namespace").to_string();
            let name = s(&svc, "/metadata/name").to_string();
            let mut chosen: Vec<&Value> = pods
                .iter()
                .map(Arc::as_ref)
                .filter(|p| {
                    s(p, "/metadata/namespace") == ns
                        && !is_terminating(p)
                        && !s(p, "/status/podIP").is_empty()
                })
                .filter(|p| sel.matches(p.pointer("/metadata/labels").and_then(Value::as_object)))
                .collect();
            chosen.sort_by_key(|p| s(p, "/metadata/name").to_string());
            let svc_ports = svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ports: Vec<Value> = svc_ports
                .iter()
                .map(|sp| {
                    let target = match sp.get("targetPort") {
                        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                        Some(Value::String(named)) => chosen
                            .iter()
                            .flat_map(|p| p.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default())
                            .flat_map(|c| c.get("ports").and_then(Value::as_array).cloned().unwrap_or_default())
                            .find(|cp| cp.get("name").and_then(Value::as_str) == Some(named))
                            .and_then(|cp| cp.get("containerPort").and_then(Value::as_i64))
                            .unwrap_or(0),
                        _ => i(sp, "/port"),
                    };
                    let mut p = json!({"port": target, "protocol": sp.get("protocol").cloned().unwrap_or(json!("TCP"))});
                    p["name"] = sp.get("name").cloned().unwrap_or(json!(""));
                    if let Some(ap) = sp.get("appProtocol") {
                        p["appProtocol"] = ap.clone();
                    }
                    p
                })
                .collect();
            let endpoints: Vec<Value> = chosen
                .iter()
                .map(|p| {
                    let ready = pod_is_ready(p);
                    json!({
                        "addresses": [s(p, "/status/podIP")],
                        "conditions": {"ready": ready, "serving": ready, "terminating": false},
                        "nodeName": s(p, "/spec/nodeName"),
                        "targetRef": {"kind": "Pod", "name": s(p, "/metadata/name"), "namespace": ns, "uid": s(p, "/metadata/uid")}
                    })
                })
                .collect();
            let existing = slices.iter().find(|sl| {
                s(sl, "/metadata/namespace") == ns
                    && s(sl, "/metadata/labels/kubernetes.io~1service-name") == name
            });
            match existing {
                Some(sl) => {
                    if sl.get("endpoints").cloned().unwrap_or(json!([])) != json!(endpoints)
                        || sl.get("ports").cloned().unwrap_or(json!([])) != json!(ports)
                    {
                        let sname = s(sl, "/metadata/name").to_string();
                        let _ = store.modify(
                            &slice_def,
                            &ns,
                            &sname,
                            false,
                            "endpointslice-controller",
                            |x| {
                                x["endpoints"] = json!(endpoints);
                                x["ports"] = json!(ports);
                                true
                            },
                        );
                    }
                }
                None => {
                    let mut labels = svc
                        .pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(json!({}));
                    labels["kubernetes.io/service-name"] = json!(name);
                    labels["endpointslice.kubernetes.io/managed-by"] =
                        json!("endpointslice-controller.k8s.io");
                    let _ = store.create(
                        &slice_def,
                        "v1",
                        &ns,
                        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                            "metadata": {"generateName": format!("{name}-"), "labels": labels, "ownerReferences": [owner_ref("Service", "v1", &svc)]},
                            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}),
                        &WriteOpts::manager("endpointslice-controller"),
                    );
                }
            }
            // The older Endpoints object, still read by many tools.
            let (ready, not_ready): (Vec<&&Value>, Vec<&&Value>) =
                chosen.iter().partition(|p| pod_is_ready(p));
            let addr = |p: &&&Value| json!({"ip": s(p, "/status/podIP"), "nodeName": s(p, "/spec/nodeName"), "targetRef": {"kind": "Pod", "name": s(p, "/metadata/name"), "namespace": ns, "uid": s(p, "/metadata/uid")}});
            let mut subset = json!({"ports": ports.iter().map(|p| { let mut q = p.clone(); if q["name"] == "" { q.as_object_mut().map(|m| m.remove("name")); } q }).collect::<Vec<_>>()});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready.iter().map(addr).collect::<Vec<_>>());
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready.iter().map(addr).collect::<Vec<_>>());
            }
            let subsets = if chosen.is_empty() {
                json!([])
            } else {
                json!([subset])
            };
            match store.get(&ep_def, &ns, &name) {
                Ok(ep) => {
                    if ep.get("subsets").cloned().unwrap_or(json!([])) != subsets {
                        let _ =
                            store.modify(&ep_def, &ns, &name, false, "endpoint-controller", |x| {
                                x["subsets"] = subsets.clone();
                                true
                            });
                    }
                }
                Err(_) => {
                    let labels = svc
                        .pointer("/metadata/labels")
                        .cloned()
                        .unwrap_or(json!({}));
                    let _ = store.create(
                        &ep_def,
                        "v1",
                        &ns,
                        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "labels": labels}, "subsets": subsets}),
                        &WriteOpts::manager("endpoint-controller"),
                    );
                }
            }
        }
    }

    fn replicaset_status(&mut self, store: &Store) {
        let rs_def = def(store, "apps", "replicasets");
        let pods = store.all_shared("", "pods");
        for rs in store.all_shared("apps", "replicasets") {
            let uid = s(&rs, "/metadata/uid");
            let mine: Vec<&Value> = pods
                .iter()
                .map(Arc::as_ref)
                .filter(|p| owned_by(p, uid) && !is_terminating(p))
                .collect();
            let ready = mine.iter().filter(|p| pod_is_ready(p)).count() as i64;
            let status = json!({
                "replicas": mine.len(),
                "fullyLabeledReplicas": mine.len(),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": i(&rs, "/metadata/generation"),
            });
            let status = strip_zero(status);
            if rs.get("status") != Some(&status) {
                let ns = s(&rs, "/metadata/namespace").to_string();
                let name = s(&rs, "/metadata/name").to_string();
                let _ = store.modify(&rs_def, &ns, &name, true, MANAGER, |x| {
                    x["status"] = status.clone();
                    true
                });
            }
        }
    }

    fn deployment_status(&mut self, store: &Store) {
        let d_def = def(store, "apps", "deployments");
        let all_rs = store.all_shared("apps", "replicasets");
        let ts = rfc3339(store.clock.now());
        for d in store.all_shared("apps", "deployments") {
            let uid = s(&d, "/metadata/uid");
            let hash = template_hash(&d.pointer("/spec/template").cloned().unwrap_or(json!({})));
            let owned: Vec<&Value> = all_rs
                .iter()
                .map(Arc::as_ref)
                .filter(|r| owned_by(r, uid))
                .collect();
            let replicas: i64 = owned.iter().map(|r| i(r, "/status/replicas")).sum();
            let ready: i64 = owned.iter().map(|r| i(r, "/status/readyReplicas")).sum();
            let new_rs = owned
                .iter()
                .find(|r| s(r, "/metadata/labels/pod-template-hash") == hash);
            let updated = new_rs.map_or(0, |r| i(r, "/status/replicas"));
            let want = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let max_unavailable = int_or_percent(
                d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                want,
                false,
                0,
            );
            let available_ok = ready >= want - max_unavailable;
            let complete = updated == want && replicas == want && ready == want;
            let old_conds = d
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let cond = |ty: &str, status: &str, reason: &str, message: String| {
                let prev = old_conds.iter().find(|c| c["type"] == ty);
                let transition = match prev {
                    Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
                    _ => json!(ts),
                };
                let update = match prev {
                    Some(p) if p["status"] == status && p["reason"] == reason => {
                        p["lastUpdateTime"].clone()
                    }
                    _ => json!(ts),
                };
                json!({"type": ty, "status": status, "reason": reason, "message": message, "lastTransitionTime": transition, "lastUpdateTime": update})
            };
            let rs_name = new_rs
                .map(|r| s(r, "/metadata/name").to_string())
                .unwrap_or_default();
            let conditions = vec![
                if available_ok {
                    cond(
                        "Available",
                        "True",
                        "MinimumReplicasAvailable",
                        "Deployment has minimum availability.".into(),
                    )
                } else {
                    cond(
                        "Available",
                        "False",
                        "MinimumReplicasUnavailable",
                        "Deployment does not have minimum availability.".into(),
                    )
                },
                if complete {
                    cond(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                    )
                } else {
                    cond(
                        "Progressing",
                        "True",
                        "ReplicaSetUpdated",
                        format!("ReplicaSet \"{rs_name}\" is progressing."),
                    )
                },
            ];
            let mut status = json!({
                "observedGeneration": i(&d, "/metadata/generation"),
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "unavailableReplicas": (want - ready).max(0),
                "conditions": conditions,
            });
            status = strip_zero(status);
            if d.get("status") != Some(&status) {
                let ns = s(&d, "/metadata/namespace").to_string();
                let name = s(&d, "/metadata/name").to_string();
                let _ = store.modify(&d_def, &ns, &name, true, MANAGER, |x| {
                    x["status"] = status.clone();
                    true
                });
            }
        }
    }
}

/// Records a Normal event about `obj`, as the named component would.
fn record_event(store: &Store, obj: &Value, reason: &str, message: &str, component: &str) {
    let Some(ev_def) = store.resolve("", "v1", "events") else {
        return;
    };
    let ns = s(obj, "/metadata/namespace");
    let name = s(obj, "/metadata/name");
    let now = rfc3339(store.clock.now());
    // Like the real ones: the hex of a nanosecond timestamp, so names sort in time order.
    let nanos = store
        .clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let suffix = format!(
        "{:016x}",
        nanos - nanos % 1_000_000 + store.resource_version() % 1_000_000
    );
    let host = if component == "kubelet" {
        json!(NODE_NAME)
    } else {
        Value::Null
    };
    let mut source = json!({"component": component});
    if !host.is_null() {
        source["host"] = host;
    }
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{suffix}")},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion").cloned().unwrap_or(json!("v1")),
            "kind": obj.get("kind").cloned().unwrap_or(json!("")),
            "name": name, "namespace": ns,
            "uid": s(obj, "/metadata/uid"),
            "resourceVersion": s(obj, "/metadata/resourceVersion"),
        },
        "reason": reason, "message": message, "type": "Normal", "count": 1,
        "source": source, "firstTimestamp": now, "lastTimestamp": now,
        "reportingComponent": component, "reportingInstance": if component == "kubelet" { NODE_NAME } else { "" },
    });
    let _ = store.create(&ev_def, "v1", ns, ev, &WriteOpts::manager(component));
}

/// A pod from a workload's template, owned by it, bound to the node.
fn pod_from_template(owner: &Value, kind: &str, name: &str) -> Value {
    let tmpl = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = serde_json::Map::new();
    for k in ["labels", "annotations"] {
        if let Some(v) = tmpl
            .pointer(&format!("/metadata/{k}"))
            .filter(|v| v.is_object())
        {
            meta.insert(k.into(), v.clone());
        }
    }
    meta.insert("name".into(), json!(name));
    meta.insert(
        "ownerReferences".into(),
        json!([owner_ref(kind, "apps/v1", owner)]),
    );
    let mut spec = tmpl.get("spec").cloned().unwrap_or(json!({}));
    spec["nodeName"] = json!(NODE_NAME);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

/// Kubernetes omits zero counts from workload status (`omitempty`).
fn strip_zero(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, x| k == "replicas" || k == "observedGeneration" || x.as_i64() != Some(0));
    }
    v
}

fn container_names(pod: &Value, key: &str) -> Vec<(String, String, bool)> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        c.get("image")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        c.get("restartPolicy").and_then(Value::as_str) == Some("Always"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn image_ref(image: &str) -> String {
    let full = if image.contains('/') {
        image.to_string()
    } else {
        format!("docker.io/library/{image}")
    };
    format!("{full}@sha256:{}", "0".repeat(64))
}

fn pending_status(pod: &Value, ts: &str) -> Value {
    let inits = container_names(pod, "initContainers");
    let mut status = json!({
        "phase": "Pending",
        "qosClass": pod.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort")),
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "startTime": ts,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": null, "lastTransitionTime": ts},
            {"type": "Initialized", "status": if inits.is_empty() { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": ts, "reason": if inits.is_empty() { Value::Null } else { json!("ContainersNotInitialized") }},
            {"type": "Ready", "status": "False", "lastProbeTime": null, "lastTransitionTime": ts, "reason": "ContainersNotReady"},
            {"type": "ContainersReady", "status": "False", "lastProbeTime": null, "lastTransitionTime": ts, "reason": "ContainersNotReady"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts}
        ],
        "containerStatuses": container_names(pod, "containers").iter().map(|(n, img, _)| json!({
            "name": n, "image": img, "imageID": "", "ready": false, "restartCount": 0, "started": false,
            "state": {"waiting": {"reason": if inits.is_empty() { "ContainerCreating" } else { "PodInitializing" }}}
        })).collect::<Vec<_>>(),
    });
    if !inits.is_empty() {
        status["initContainerStatuses"] = json!(inits.iter().map(|(n, img, _)| json!({
            "name": n, "image": img, "imageID": "", "ready": false, "restartCount": 0, "started": false,
            "state": {"waiting": {"reason": "PodInitializing"}}
        })).collect::<Vec<_>>());
    }
    if let Some(conds) = status
        .pointer_mut("/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds {
            if c["reason"].is_null() {
                c.as_object_mut().map(|m| m.remove("reason"));
            }
        }
    }
    status
}

fn running_status(pod: &Value, ip: &str, ts: &str) -> Value {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cid = |n: &str| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("{uid}/{n}").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!(
            "containerd://{h:016x}{:016x}{h:016x}{:016x}",
            h.rotate_left(17),
            h.rotate_left(31)
        )
    };
    let started = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or(json!(ts));
    let mut status = json!({
        "phase": "Running",
        "qosClass": pod.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort")),
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts},
            {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts},
            {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": ts},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": started}
        ],
        "containerStatuses": container_names(pod, "containers").iter().map(|(n, img, _)| json!({
            "name": n, "image": img, "imageID": image_ref(img), "containerID": cid(n),
            "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": ts}}
        })).collect::<Vec<_>>(),
    });
    let inits = container_names(pod, "initContainers");
    if !inits.is_empty() {
        status["initContainerStatuses"] = json!(inits.iter().map(|(n, img, restartable)| if *restartable {
            json!({"name": n, "image": img, "imageID": image_ref(img), "containerID": cid(n), "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": ts}}})
        } else {
            json!({"name": n, "image": img, "imageID": image_ref(img), "containerID": cid(n), "ready": true, "restartCount": 0, "started": false,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts, "finishedAt": ts, "containerID": cid(n)}}})
        }).collect::<Vec<_>>());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_safe() {
        let t = json!({"metadata": {"labels": {"app": "reviews"}}, "spec": {"containers": [{"name": "r", "image": "x"}]}});
        let h = template_hash(&t);
        assert_eq!(h, template_hash(&t.clone()));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        let mut t2 = t.clone();
        t2["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2026-11-26T10:00:00Z"});
        assert_ne!(h, template_hash(&t2));
    }

    #[test]
    fn surge_and_unavailable_round_like_kubernetes() {
        assert_eq!(int_or_percent(Some(&json!("25%")), 1, true, 0), 1);
        assert_eq!(int_or_percent(Some(&json!("25%")), 1, false, 0), 0);
        assert_eq!(int_or_percent(Some(&json!(2)), 1, false, 0), 2);
    }
}
