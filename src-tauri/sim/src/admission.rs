//! What the API server (and its built-in admission plugins and istiod's webhook) does to an
//! object before storing it: defaults, allocations (cluster IPs, node ports, load balancer
//! addresses) and validation. Errors are (field, message) pairs for a 422.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::inject;
use crate::resources::{self, ResourceDef};
use crate::selector::LabelSelector;
use crate::store::State;

/// Address pools, like the apiserver's service CIDR allocator and MetalLB's pool.
#[derive(Debug, Default)]
pub struct Allocators {
    next_cluster_ip: u32,
    next_node_port: u32,
    next_lb: u32,
    next_pod_ip: u32,
    used_cluster_ips: BTreeSet<String>,
}

impl Allocators {
    pub fn cluster_ip(&mut self) -> String {
        loop {
            self.next_cluster_ip += 1;
            let n = self.next_cluster_ip + 1; // 10.96.0.1 is the kubernetes service
            let ip = format!("10.96.{}.{}", (n / 250) % 256, n % 250 + 1);
            if self.used_cluster_ips.insert(ip.clone()) {
                return ip;
            }
        }
    }

    pub fn node_port(&mut self) -> u32 {
        let p = 30000 + (self.next_node_port % 2768);
        self.next_node_port += 1;
        p
    }

    pub fn lb_ip(&mut self) -> String {
        let ip = format!("172.18.255.{}", 200 + (self.next_lb % 51));
        self.next_lb += 1;
        ip
    }

    pub fn pod_ip(&mut self) -> String {
        self.next_pod_ip += 1;
        let n = self.next_pod_ip + 1;
        format!("10.244.{}.{}", (n / 254) % 256, n % 254 + 1)
    }
}

type Causes = Vec<(String, String)>;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("object")
}

fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.into(), v);
    }
}

pub(crate) fn on_create(
    st: &mut State,
    def: &ResourceDef,
    ns: &str,
    obj: &mut Value,
    now: &str,
) -> Result<(), Causes> {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            let md = obj_mut(obj, "metadata");
            let labels = md.entry("labels").or_insert_with(|| json!({}));
            if let Value::Object(l) = labels {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "Service") => service_defaults(st, obj, None)?,
        ("", "Pod") => {
            pod_spec_defaults(obj_mut(obj, "spec"), "spec")?;
            let nsdef = st.def("", "namespaces");
            let ns_labels = st
                .get(&nsdef, "", ns)
                .and_then(|n| n.pointer("/metadata/labels"))
                .and_then(Value::as_object)
                .cloned();
            if inject::should_inject(ns_labels.as_ref(), obj) {
                let revision = ns_labels
                    .as_ref()
                    .filter(|l| l.get("istio-injection").is_none())
                    .and_then(|l| l.get("istio.io/rev"))
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string();
                inject::inject(obj, &revision);
            }
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("apps", "Deployment")
        | ("apps", "ReplicaSet")
        | ("apps", "StatefulSet")
        | ("apps", "DaemonSet") => {
            workload_defaults(def, obj)?;
            obj["status"] = json!({});
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            resources::from_crd(obj).map_err(|m| {
                let (f, msg) = m
                    .split_once(": ")
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or(("spec".into(), m.clone()));
                vec![(f, msg)]
            })?;
            obj["status"] = resources::crd_status(obj, now);
        }
        ("", "Secret")
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty) =>
        {
            obj["type"] = json!("Opaque");
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn on_update(
    st: &mut State,
    def: &ResourceDef,
    old: &Value,
    new: &mut Value,
) -> Result<(), Causes> {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Service") => service_defaults(st, new, Some(old))?,
        ("", "Namespace") => {
            let name = new["metadata"]["name"].as_str().unwrap_or("").to_string();
            let md = obj_mut(new, "metadata");
            let labels = md.entry("labels").or_insert_with(|| json!({}));
            if let Value::Object(l) = labels {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if new.get("spec").is_none() {
                new["spec"] = old["spec"].clone();
            }
        }
        ("", "Pod") => {
            if new.get("spec").is_some() {
                pod_spec_defaults(obj_mut(new, "spec"), "spec")?;
            }
            // Pod specs are immutable apart from images and a few fields.
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                for k in ["containers", "initContainers"] {
                    if let Some(Value::Array(cs)) = s.get_mut(k) {
                        for c in cs {
                            if let Some(m) = c.as_object_mut() {
                                m.remove("image");
                            }
                        }
                    }
                }
                if let Some(m) = s.as_object_mut() {
                    for k in [
                        "activeDeadlineSeconds",
                        "tolerations",
                        "terminationGracePeriodSeconds",
                        "nodeName",
                    ] {
                        m.remove(k);
                    }
                }
                s
            };
            if strip(old) != strip(new) {
                return Err(vec![(
                    "spec".into(),
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                )]);
            }
        }
        ("apps", "Deployment")
        | ("apps", "ReplicaSet")
        | ("apps", "StatefulSet")
        | ("apps", "DaemonSet") => {
            workload_defaults(def, new)?;
            if old.pointer("/spec/selector") != new.pointer("/spec/selector") {
                return Err(vec![(
                    "spec.selector".into(),
                    format!(
                        "Invalid value: {}: field is immutable",
                        new.pointer("/spec/selector")
                            .cloned()
                            .unwrap_or(Value::Null)
                    ),
                )]);
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let rd = resources::from_crd(new).map_err(|m| vec![("spec".to_string(), m)])?;
            let was = resources::from_crd(old).ok();
            if was.is_some_and(|w| w.group != rd.group || w.plural != rd.plural) {
                return Err(vec![(
                    "spec.group".into(),
                    "Invalid value: field is immutable".into(),
                )]);
            }
            let now = old
                .pointer("/status/conditions/0/lastTransitionTime")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            new["status"] = resources::crd_status(new, &now);
        }
        _ => {}
    }
    Ok(())
}

fn service_defaults(st: &mut State, obj: &mut Value, old: Option<&Value>) -> Result<(), Causes> {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if !matches!(
        ty.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        return Err(vec![(
            "spec.type".into(),
            format!(
                "Unsupported value: \"{ty}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
            ),
        )]);
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports_empty = spec
        .get("ports")
        .and_then(Value::as_array)
        .is_none_or(|p| p.is_empty());
    if ports_empty && !headless && ty != "ExternalName" {
        return Err(vec![("spec.ports".into(), "Required value".into())]);
    }
    if ty != "ExternalName" {
        match old.and_then(|o| o.pointer("/spec/clusterIP")).cloned() {
            Some(ip) => {
                if let Some(newip) = spec.get("clusterIP").and_then(Value::as_str)
                    && !newip.is_empty()
                    && Some(newip) != ip.as_str()
                {
                    return Err(vec![(
                        "spec.clusterIPs[0]".into(),
                        format!("Invalid value: []string{{\"{newip}\"}}: may not change once set"),
                    )]);
                }
                spec.insert("clusterIP".into(), ip.clone());
                spec.insert("clusterIPs".into(), json!([ip]));
            }
            None => {
                if spec
                    .get("clusterIP")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    let ip = st.alloc.cluster_ip();
                    spec.insert("clusterIP".into(), json!(ip));
                }
                let ip = spec["clusterIP"].clone();
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let needs_node_port = matches!(ty.as_str(), "NodePort" | "LoadBalancer");
    let mut causes = vec![];
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        let many = ports.len() > 1;
        for (i, p) in ports.iter_mut().enumerate() {
            let Some(pm) = p.as_object_mut() else {
                causes.push((
                    format!("spec.ports[{i}]"),
                    "Invalid value: must be an object".into(),
                ));
                continue;
            };
            let port = pm.get("port").and_then(Value::as_i64);
            match port {
                Some(n) if (1..=65535).contains(&n) => {}
                _ => {
                    causes.push((
                        format!("spec.ports[{i}].port"),
                        "Invalid value: must be between 1 and 65535, inclusive".into(),
                    ));
                    continue;
                }
            }
            if many
                && pm
                    .get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                causes.push((format!("spec.ports[{i}].name"), "Required value".into()));
            }
            set_default(pm, "protocol", json!("TCP"));
            let port_v = pm["port"].clone();
            set_default(pm, "targetPort", port_v);
            if needs_node_port && pm.get("nodePort").is_none_or(Value::is_null) {
                let prev = old_ports
                    .iter()
                    .find(|o| o.get("port") == pm.get("port"))
                    .and_then(|o| o.get("nodePort"))
                    .cloned();
                let np = prev.unwrap_or_else(|| json!(st.alloc.node_port()));
                pm.insert("nodePort".into(), np);
            }
        }
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    if needs_node_port {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        let status = old
            .and_then(|o| o.pointer("/status/loadBalancer/ingress/0/ip"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| st.alloc.lb_ip());
        obj["status"] = json!({"loadBalancer": {"ingress": [{"ip": status, "ipMode": "VIP"}]}});
    } else if old.is_none() {
        obj["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}

fn pod_spec_defaults(spec: &mut Map<String, Value>, path: &str) -> Result<(), Causes> {
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        return Err(vec![(
            format!("{path}.containers"),
            "Required value".into(),
        )]);
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "serviceAccountName", json!("default"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(spec, "priority", json!(0));
    let sa = spec["serviceAccountName"].clone();
    set_default(spec, "serviceAccount", sa);
    let mut causes = vec![];
    for key in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(key) {
            let mut seen = BTreeSet::new();
            for (i, c) in cs.iter_mut().enumerate() {
                let Some(cm) = c.as_object_mut() else {
                    causes.push((
                        format!("{path}.{key}[{i}]"),
                        "Invalid value: must be an object".into(),
                    ));
                    continue;
                };
                let name = cm
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if name.is_empty() {
                    causes.push((format!("{path}.{key}[{i}].name"), "Required value".into()));
                } else if !seen.insert(name.clone()) {
                    causes.push((
                        format!("{path}.{key}[{i}].name"),
                        format!("Duplicate value: \"{name}\""),
                    ));
                }
                let image = cm
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if image.is_empty() {
                    causes.push((format!("{path}.{key}[{i}].image"), "Required value".into()));
                }
                let policy = if image.ends_with(":latest")
                    || !image.rsplit('/').next().unwrap_or("").contains(':')
                {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(cm, "imagePullPolicy", json!(policy));
                set_default(cm, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(cm, "terminationMessagePolicy", json!("File"));
                set_default(cm, "resources", json!({}));
                if let Some(Value::Array(ports)) = cm.get_mut("ports") {
                    for p in ports {
                        if let Some(pm) = p.as_object_mut() {
                            set_default(pm, "protocol", json!("TCP"));
                        }
                    }
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let any_resources = ["containers", "initContainers"].iter().any(|k| {
        spec.get(*k).and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("resources")
                    .and_then(Value::as_object)
                    .is_some_and(|r| !r.is_empty())
            })
        })
    });
    if any_resources {
        "Burstable"
    } else {
        "BestEffort"
    }
}

fn workload_defaults(def: &ResourceDef, obj: &mut Value) -> Result<(), Causes> {
    let spec = obj_mut(obj, "spec");
    if def.kind != "DaemonSet" {
        set_default(spec, "replicas", json!(1));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    if def.kind == "Deployment" {
        set_default(spec, "progressDeadlineSeconds", json!(600));
        set_default(
            spec,
            "strategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        );
    }
    let Some(selector) = spec.get("selector").filter(|s| s.is_object()).cloned() else {
        return Err(vec![("spec.selector".into(), "Required value".into())]);
    };
    let sel = LabelSelector::from_structured(&selector)
        .map_err(|m| vec![("spec.selector".to_string(), m)])?;
    if sel.0.is_empty() {
        return Err(vec![(
            "spec.selector".into(),
            "Invalid value: empty selector is invalid for deployment".into(),
        )]);
    }
    let tmpl_labels = spec
        .get("template")
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .cloned();
    if !sel.matches(tmpl_labels.as_ref()) {
        return Err(vec![(
            "spec.template.metadata.labels".into(),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                tmpl_labels.map(Value::Object).unwrap_or(json!({}))
            ),
        )]);
    }
    let tspec = spec
        .get_mut("template")
        .and_then(|t| t.as_object_mut())
        .map(|t| t.entry("spec").or_insert_with(|| json!({})));
    match tspec {
        Some(Value::Object(ts)) => pod_spec_defaults(ts, "spec.template.spec")?,
        _ => {
            return Err(vec![(
                "spec.template.spec.containers".into(),
                "Required value".into(),
            )]);
        }
    }
    Ok(())
}
