//! Istio sidecar injection as istiod's webhook does it for Istio 1.27+ on Kubernetes 1.33+:
//! the proxy is a native sidecar (an init container with `restartPolicy: Always`).

use serde_json::{Map, Value, json};

/// The proxy image the simulated istiod injects.
pub const PROXY_IMAGE: &str = "docker.io/istio/proxyv2:1.30.3";

/// Decides injection from the namespace's and the pod's labels, in the webhook's order:
/// the pod opt-out wins; `istio-injection` on the namespace decides when present;
/// otherwise `istio.io/rev` on the namespace or `sidecar.istio.io/inject=true` on the pod.
pub fn should_inject(ns_labels: Option<&Map<String, Value>>, pod: &Value) -> bool {
    let pod_label = pod
        .pointer("/metadata/labels/sidecar.istio.io~1inject")
        .and_then(Value::as_str);
    let pod_annotation = pod
        .pointer("/metadata/annotations/sidecar.istio.io~1inject")
        .and_then(Value::as_str);
    if pod_label == Some("false") || (pod_label.is_none() && pod_annotation == Some("false")) {
        return false;
    }
    if pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    if already_injected(pod) {
        return false;
    }
    let ns = |k: &str| ns_labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    match ns("istio-injection") {
        Some(v) => v == "enabled",
        None => ns("istio.io/rev").is_some() || pod_label == Some("true"),
    }
}

/// A pod has a sidecar when istiod marked it or it runs a container named istio-proxy.
pub fn already_injected(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations/sidecar.istio.io~1status")
        .is_some()
        || ["containers", "initContainers"].iter().any(|k| {
            pod.pointer(&format!("/spec/{k}"))
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.get("name").and_then(Value::as_str) == Some("istio-proxy"))
                })
        })
}

/// Adds istio-init and the istio-proxy native sidecar, the volumes, labels and annotations.
pub fn inject(pod: &mut Value, revision: &str) {
    let app = pod
        .pointer("/metadata/labels/app")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| {
            pod.pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .unwrap_or("pod")
                .trim_end_matches('-')
                .to_string()
        });
    let version = pod
        .pointer("/metadata/labels/version")
        .and_then(Value::as_str)
        .unwrap_or("latest")
        .to_string();
    let first_container = pod
        .pointer("/spec/containers/0/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ports: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .flat_map(|c| {
                    c.get("ports")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let volumes = [
        "workload-socket",
        "credential-socket",
        "workload-certs",
        "istio-envoy",
        "istio-data",
        "istio-podinfo",
        "istio-token",
        "istiod-ca-cert",
        "istio-ca-crl",
    ];
    let init = json!({
        "name": "istio-init",
        "image": PROXY_IMAGE,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "10m", "memory": "40Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}, "privileged": false, "readOnlyRootFilesystem": false, "runAsGroup": 0, "runAsNonRoot": false, "runAsUser": 0},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    });
    let proxy = json!({
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "env": [
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
            {"name": "INSTANCE_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
            {"name": "SERVICE_ACCOUNT", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.serviceAccountName"}}},
            {"name": "ISTIO_META_WORKLOAD_NAME", "value": app},
            {"name": "ISTIO_META_APP_CONTAINERS", "value": first_container},
            {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
            {"name": "TRUST_DOMAIN", "value": "cluster.local"},
            {"name": "ISTIO_KUBE_APP_PROBERS", "value": "{}"}
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"}, "periodSeconds": 15, "successThreshold": 1, "timeoutSeconds": 3},
        "startupProbe": {"failureThreshold": 600, "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"}, "periodSeconds": 1, "successThreshold": 1, "timeoutSeconds": 3},
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "10m", "memory": "40Mi"}},
        "restartPolicy": "Always",
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false, "readOnlyRootFilesystem": true, "runAsGroup": 1337, "runAsNonRoot": true, "runAsUser": 1337},
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
            {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
            {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
            {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
            {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
            {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"}
        ]
    });
    let status = json!({
        "initContainers": ["istio-init", "istio-proxy"],
        "containers": null,
        "volumes": volumes,
        "imagePullSecrets": null,
        "revision": revision,
    });
    let _ = ports;
    let spec = ensure_obj(pod, "spec");
    let inits = spec.entry("initContainers").or_insert_with(|| json!([]));
    if let Value::Array(list) = inits {
        list.insert(0, proxy);
        list.insert(0, init);
    }
    let vols = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Value::Array(list) = vols {
        for v in volumes {
            let body = match v {
                "istio-podinfo" => json!({"name": v, "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}}),
                "istio-token" => {
                    json!({"name": v, "projected": {"sources": [{"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}})
                }
                "istiod-ca-cert" => json!({"name": v, "configMap": {"name": "istio-ca-root-cert"}}),
                "istio-ca-crl" => {
                    json!({"name": v, "configMap": {"name": "istio-ca-crl", "optional": true}})
                }
                "istio-envoy" => json!({"name": v, "emptyDir": {"medium": "Memory"}}),
                _ => json!({"name": v, "emptyDir": {}}),
            };
            list.push(body);
        }
    }
    let md = ensure_obj(pod, "metadata");
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    if let Value::Object(l) = labels {
        l.insert("security.istio.io/tlsMode".into(), json!("istio"));
        l.insert("service.istio.io/canonical-name".into(), json!(app));
        l.insert("service.istio.io/canonical-revision".into(), json!(version));
    }
    let ann = md.entry("annotations").or_insert_with(|| json!({}));
    if let Value::Object(a) = ann {
        a.insert("istio.io/rev".into(), json!(revision));
        a.insert(
            "kubectl.kubernetes.io/default-container".into(),
            json!(first_container),
        );
        a.insert(
            "kubectl.kubernetes.io/default-logs-container".into(),
            json!(first_container),
        );
        a.insert("prometheus.io/path".into(), json!("/stats/prometheus"));
        a.insert("prometheus.io/port".into(), json!("15020"));
        a.insert("prometheus.io/scrape".into(), json!("true"));
        a.insert("sidecar.istio.io/status".into(), json!(status.to_string()));
    }
}

fn ensure_obj<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "reviews", "image": "r"}]}})
    }

    #[test]
    fn namespace_label_decides_and_pod_opts_out() {
        let on = labels(json!({"istio-injection": "enabled"}));
        let off = labels(json!({"istio-injection": "disabled", "istio.io/rev": "default"}));
        let rev = labels(json!({"istio.io/rev": "default"}));
        assert!(should_inject(Some(&on), &pod(json!({"app": "reviews"}))));
        assert!(!should_inject(
            Some(&on),
            &pod(json!({"sidecar.istio.io/inject": "false"}))
        ));
        assert!(!should_inject(Some(&off), &pod(json!({}))));
        assert!(should_inject(Some(&rev), &pod(json!({}))));
        assert!(!should_inject(None, &pod(json!({}))));
        assert!(should_inject(
            None,
            &pod(json!({"sidecar.istio.io/inject": "true"}))
        ));
    }

    #[test]
    fn injected_proxy_is_a_native_sidecar() {
        let mut p = pod(json!({"app": "reviews", "version": "v2"}));
        inject(&mut p, "default");
        let inits = p["spec"]["initContainers"].as_array().unwrap();
        let proxy = inits.iter().find(|c| c["name"] == "istio-proxy").unwrap();
        assert_eq!(proxy["restartPolicy"], "Always");
        assert_eq!(p["spec"]["containers"].as_array().unwrap().len(), 1);
        let status: Value = serde_json::from_str(
            p["metadata"]["annotations"]["sidecar.istio.io/status"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            status["initContainers"],
            json!(["istio-init", "istio-proxy"])
        );
        assert_eq!(
            p["metadata"]["labels"]["service.istio.io/canonical-revision"],
            "v2"
        );
        assert!(already_injected(&p));
        assert!(!should_inject(
            Some(&labels(json!({"istio-injection": "enabled"}))),
            &p
        ));
    }
}
