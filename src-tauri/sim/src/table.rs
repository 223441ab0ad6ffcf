//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks for, with the
//! columns a real API server prints (READY 2/2, STATUS Running, ...).

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::clock::{human_age, parse_rfc3339};
use crate::resources::ResourceDef;

/// How much of each object a row carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

fn col(name: &str, ty: &str, priority: i64, description: &str) -> Value {
    let mut c = json!({"name": name, "type": ty, "format": "", "description": description, "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn n(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn age(obj: &Value, now: SystemTime) -> String {
    match parse_rfc3339(s(obj, "/metadata/creationTimestamp")) {
        Some(t) => human_age(now.duration_since(t).unwrap_or_default()),
        None => "<unknown>".into(),
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn join_strs(v: Option<&Value>, key: &str) -> String {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get(key).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else { return String::new() };
    let mut parts = vec![];
    let labels = sel
        .get("matchLabels")
        .or(Some(sel))
        .and_then(Value::as_object);
    if let Some(m) = labels {
        for (k, v) in m {
            if let Some(v) = v.as_str() {
                parts.push(format!("{k}={v}"));
            }
        }
    }
    parts.join(",")
}

/// READY and STATUS for a pod, following kubectl's printPod rules (restartable init
/// containers count as containers once started).
pub fn pod_ready_and_status(pod: &Value) -> (String, String, i64) {
    let empty = vec![];
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let inits = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let restartable: Vec<&str> = inits
        .iter()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let mut total = containers.len() + restartable.len();
    let _ = &mut total;
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut reason = pod
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .or_else(|| pod.pointer("/status/phase").and_then(Value::as_str))
        .unwrap_or("Pending")
        .to_string();
    let init_statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut initializing = false;
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts += cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let name = cs.get("name").and_then(Value::as_str).unwrap_or("");
        let is_restartable = restartable.contains(&name);
        let started = cs.get("started").and_then(Value::as_bool) == Some(true);
        if is_restartable && started {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = cs.pointer("/state/terminated") {
            if t.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            reason = format!(
                "Init:{}",
                t.get("reason").and_then(Value::as_str).unwrap_or("Error")
            );
        } else if let Some(w) = cs
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{i}/{}", inits.len());
        }
        initializing = true;
        break;
    }
    let initialized = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Initialized" && c["status"] == "True")
        });
    if !initializing || initialized {
        let statuses = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let mut has_running = false;
        for cs in statuses.iter().rev() {
            restarts += cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            if let Some(w) = cs
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                reason = w.to_string();
            } else if let Some(t) = cs.pointer("/state/terminated") {
                reason = t
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("Error")
                    .to_string();
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true)
                && cs.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    (format!("{ready}/{total}"), reason, restarts)
}

fn service_ports(svc: &Value) -> String {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    match p.get("nodePort").and_then(Value::as_i64) {
                        Some(np) => format!("{}:{np}/{proto}", n(p, "/port")),
                        None => format!("{}/{proto}", n(p, "/port")),
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn external_ip(svc: &Value) -> String {
    let ty = s(svc, "/spec/type");
    let ingress = join_strs(svc.pointer("/status/loadBalancer/ingress"), "ip");
    match ty {
        "LoadBalancer" if ingress.is_empty() => "<pending>".into(),
        "LoadBalancer" => ingress,
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        _ => "<none>".into(),
    }
}

fn jsonpath(obj: &Value, path: &str) -> Value {
    let ptr: String = path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect();
    obj.pointer(&ptr).cloned().unwrap_or(Value::Null)
}

/// Column definitions and one row's cells for a kind.
fn columns_and_cells(
    def: &ResourceDef,
    obj: Option<&Value>,
    now: SystemTime,
) -> (Vec<Value>, Vec<Value>) {
    let name = obj
        .map(|o| s(o, "/metadata/name").to_string())
        .unwrap_or_default();
    let nm = col(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    );
    let ag = col(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    let null = Value::Null;
    let o = obj.unwrap_or(&null);
    let a = || age(o, now);
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => {
            let (ready, status, restarts) = pod_ready_and_status(o);
            (
                vec![
                    nm,
                    col(
                        "Ready",
                        "string",
                        0,
                        "The aggregate readiness state of this pod for accepting traffic.",
                    ),
                    col(
                        "Status",
                        "string",
                        0,
                        "The aggregate status of the containers in this pod.",
                    ),
                    col(
                        "Restarts",
                        "string",
                        0,
                        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                    ),
                    ag,
                    col("IP", "string", 1, "IP address allocated to the pod."),
                    col(
                        "Node",
                        "string",
                        1,
                        "Name of the Node this pod is scheduled on.",
                    ),
                    col(
                        "Nominated Node",
                        "string",
                        1,
                        "Name of the Node this pod is nominated to run on.",
                    ),
                    col("Readiness Gates", "string", 1, "Pod readiness gates."),
                ],
                vec![
                    json!(name),
                    json!(ready),
                    json!(status),
                    json!(restarts),
                    json!(a()),
                    json!(or_none(s(o, "/status/podIP").into())),
                    json!(or_none(s(o, "/spec/nodeName").into())),
                    json!("<none>"),
                    json!("<none>"),
                ],
            )
        }
        ("apps", "Deployment") => (
            vec![
                nm,
                col("Ready", "string", 0, "Number of the pod with ready state"),
                col(
                    "Up-to-date",
                    "string",
                    0,
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                col(
                    "Available",
                    "string",
                    0,
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                ag,
                col(
                    "Containers",
                    "string",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col("Selector", "string", 1, "Label selector for pods."),
            ],
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                )),
                json!(n(o, "/status/updatedReplicas")),
                json!(n(o, "/status/availableReplicas")),
                json!(a()),
                json!(join_strs(
                    o.pointer("/spec/template/spec/containers"),
                    "name"
                )),
                json!(join_strs(
                    o.pointer("/spec/template/spec/containers"),
                    "image"
                )),
                json!(selector_string(o.pointer("/spec/selector"))),
            ],
        ),
        ("apps", "ReplicaSet") => (
            vec![
                nm,
                col("Desired", "integer", 0, "Number of desired pods."),
                col("Current", "integer", 0, "Number of actual replicas."),
                col("Ready", "integer", 0, "Number of ready replicas."),
                ag,
                col(
                    "Containers",
                    "string",
                    1,
                    "Names of each container in the template.",
                ),
                col(
                    "Images",
                    "string",
                    1,
                    "Images referenced by each container in the template.",
                ),
                col("Selector", "string", 1, "Label selector for pods."),
            ],
            vec![
                json!(name),
                json!(n(o, "/spec/replicas")),
                json!(n(o, "/status/replicas")),
                json!(n(o, "/status/readyReplicas")),
                json!(a()),
                json!(join_strs(
                    o.pointer("/spec/template/spec/containers"),
                    "name"
                )),
                json!(join_strs(
                    o.pointer("/spec/template/spec/containers"),
                    "image"
                )),
                json!(selector_string(o.pointer("/spec/selector"))),
            ],
        ),
        ("", "Service") => (
            vec![
                nm,
                col("Type", "string", 0, "The type of the service."),
                col("Cluster-IP", "string", 0, "The cluster IP of the service."),
                col(
                    "External-IP",
                    "string",
                    0,
                    "The external IP of the service.",
                ),
                col("Port(s)", "string", 0, "The ports of the service."),
                ag,
                col("Selector", "string", 1, "The selector of the service."),
            ],
            vec![
                json!(name),
                json!(s(o, "/spec/type")),
                json!(or_none(s(o, "/spec/clusterIP").into())),
                json!(external_ip(o)),
                json!(or_none(service_ports(o))),
                json!(a()),
                json!(or_none(selector_string(o.pointer("/spec/selector")))),
            ],
        ),
        ("", "Namespace") => (
            vec![
                nm,
                col("Status", "string", 0, "The status of the namespace"),
                ag,
            ],
            vec![json!(name), json!(s(o, "/status/phase")), json!(a())],
        ),
        ("", "Node") => (
            vec![
                nm,
                col("Status", "string", 0, "The status of the node"),
                col("Roles", "string", 0, "The roles of the node"),
                ag,
                col(
                    "Version",
                    "string",
                    0,
                    "Kubelet Version reported by the node.",
                ),
                col("Internal-IP", "string", 1, "Internal IP of the node."),
            ],
            vec![
                json!(name),
                json!("Ready"),
                json!(if o
                    .pointer("/metadata/labels/node-role.kubernetes.io~1control-plane")
                    .is_some()
                {
                    "control-plane"
                } else {
                    "<none>"
                }),
                json!(a()),
                json!(s(o, "/status/nodeInfo/kubeletVersion")),
                json!(
                    o.pointer("/status/addresses")
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                        .and_then(|x| x["address"].as_str())
                        .unwrap_or("<none>")
                ),
            ],
        ),
        ("", "Endpoints") => {
            let mut eps = vec![];
            for subset in o
                .get("subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .map(|ps| ps.iter().map(|p| n(p, "/port")).collect())
                    .unwrap_or_default();
                for a in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for p in &ports {
                        eps.push(format!("{}:{p}", s(a, "/ip")));
                    }
                }
            }
            let shown = if eps.len() > 3 {
                format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
            } else {
                eps.join(",")
            };
            (
                vec![
                    nm,
                    col("Endpoints", "string", 0, "Endpoints of the service"),
                    ag,
                ],
                vec![json!(name), json!(or_none(shown)), json!(a())],
            )
        }
        ("", "Event") => {
            let last = parse_rfc3339(s(o, "/lastTimestamp"))
                .or_else(|| parse_rfc3339(s(o, "/eventTime")))
                .map(|t| human_age(now.duration_since(t).unwrap_or_default()))
                .unwrap_or_else(|| "<unknown>".into());
            let object = format!(
                "{}/{}",
                s(o, "/involvedObject/kind").to_lowercase(),
                s(o, "/involvedObject/name")
            );
            (
                vec![
                    col(
                        "Last Seen",
                        "string",
                        0,
                        "Time since the event was last seen.",
                    ),
                    col("Type", "string", 0, "Type of this event (Normal, Warning)."),
                    col("Reason", "string", 0, "Why the action was taken."),
                    col("Object", "string", 0, "The object this event is about."),
                    col(
                        "Message",
                        "string",
                        0,
                        "A human-readable description of the status of this operation.",
                    ),
                    col("Source", "string", 1, "The component reporting this event."),
                    col(
                        "Count",
                        "string",
                        1,
                        "The number of times this event has occurred.",
                    ),
                    col(
                        "Name",
                        "string",
                        1,
                        "Name must be unique within a namespace.",
                    ),
                ],
                vec![
                    json!(last),
                    json!(s(o, "/type")),
                    json!(s(o, "/reason")),
                    json!(object),
                    json!(s(o, "/message")),
                    json!(s(o, "/source/component")),
                    json!(n(o, "/count")),
                    json!(name),
                ],
            )
        }
        ("", "ConfigMap") => (
            vec![nm, col("Data", "string", 0, "Number of data entries."), ag],
            vec![
                json!(name),
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                ),
                json!(a()),
            ],
        ),
        ("", "Secret") => (
            vec![
                nm,
                col("Type", "string", 0, "The type of the secret"),
                col("Data", "string", 0, "The number of data entries."),
                ag,
            ],
            vec![
                json!(name),
                json!(s(o, "/type")),
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                ),
                json!(a()),
            ],
        ),
        ("", "ServiceAccount") => (
            vec![nm, col("Secrets", "string", 0, "Number of secrets."), ag],
            vec![
                json!(name),
                json!(
                    o.get("secrets")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                ),
                json!(a()),
            ],
        ),
        ("discovery.k8s.io", "EndpointSlice") => {
            let ports = o
                .get("ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| n(p, "/port").to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let addrs: Vec<String> = o
                .get("endpoints")
                .and_then(Value::as_array)
                .map(|es| {
                    es.iter()
                        .filter_map(|e| {
                            e.pointer("/addresses/0")
                                .and_then(Value::as_str)
                                .map(String::from)
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                vec![
                    nm,
                    col("AddressType", "string", 0, "The IP protocol for this slice"),
                    col("Ports", "string", 0, "The ports of this slice"),
                    col("Endpoints", "string", 0, "The endpoints of this slice"),
                    ag,
                ],
                vec![
                    json!(name),
                    json!(s(o, "/addressType")),
                    json!(or_none(ports)),
                    json!(or_none(addrs.join(","))),
                    json!(a()),
                ],
            )
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => (
            vec![nm, col("Created At", "date", 0, "")],
            vec![json!(name), json!(s(o, "/metadata/creationTimestamp"))],
        ),
        _ if !def.printer_columns.is_empty() => {
            let mut cols = vec![nm];
            let mut cells = vec![json!(name)];
            for pc in &def.printer_columns {
                cols.push(col(&pc.name, &pc.type_, pc.priority, &pc.description));
                let v = jsonpath(o, &pc.json_path);
                cells.push(match (pc.type_.as_str(), &v) {
                    ("date", Value::String(t)) => json!(
                        parse_rfc3339(t)
                            .map(|t| human_age(now.duration_since(t).unwrap_or_default()))
                            .unwrap_or_default()
                    ),
                    (_, Value::Null) => Value::Null,
                    (_, Value::String(_)) | (_, Value::Number(_)) | (_, Value::Bool(_)) => {
                        v.clone()
                    }
                    _ => json!(v.to_string()),
                });
            }
            (cols, cells)
        }
        _ => (vec![nm, ag], vec![json!(name), json!(a())]),
    }
}

fn row_object(obj: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(obj.clone()),
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        })),
    }
}

/// A Table of the given objects. `list_meta` is the list's metadata (resourceVersion, continue).
pub fn table<V: std::borrow::Borrow<Value>>(
    def: &ResourceDef,
    objs: &[V],
    list_meta: Value,
    now: SystemTime,
    include: IncludeObject,
) -> Value {
    let (columns, _) = columns_and_cells(def, None, now);
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let o = o.borrow();
            let (_, cells) = columns_and_cells(def, Some(o), now);
            let mut row = json!({"cells": cells});
            if let Some(obj) = row_object(o, include) {
                row["object"] = obj;
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_sidecar_pod_reads_two_of_two_running() {
        let pod = json!({
            "spec": {
                "containers": [{"name": "reviews"}],
                "initContainers": [{"name": "istio-init"}, {"name": "istio-proxy", "restartPolicy": "Always"}]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [
                    {"name": "istio-init", "ready": true, "restartCount": 0, "started": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "istio-proxy", "ready": true, "restartCount": 0, "started": true, "state": {"running": {}}}
                ],
                "containerStatuses": [{"name": "reviews", "ready": true, "restartCount": 0, "started": true, "state": {"running": {}}}]
            }
        });
        assert_eq!(
            pod_ready_and_status(&pod),
            ("2/2".into(), "Running".into(), 0)
        );
    }

    #[test]
    fn pending_pod_shows_init_progress() {
        let pod = json!({
            "spec": {"containers": [{"name": "a"}], "initContainers": [{"name": "istio-init"}, {"name": "istio-proxy", "restartPolicy": "Always"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "istio-init", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
            ]}
        });
        assert_eq!(
            pod_ready_and_status(&pod),
            ("0/2".into(), "Init:0/2".into(), 0)
        );
    }
}
