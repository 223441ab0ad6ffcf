//! The fields of cluster objects the mesh model needs, pruned from the full objects so the
//! store stays small and the model does not depend on how an object was fetched.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

pub use super::model::{
    Fault, FaultAbort, FaultDelay, GatewayServer, HttpRoute, Injection, Labels, PodPhase,
    RequestMatch, RouteDestination, ServicePort, StringMatch,
};

/// (namespace, name)
pub type Key = (String, String);

pub const INJECTION_LABEL: &str = "istio-injection";
pub const REVISION_LABEL: &str = "istio.io/rev";
pub const POD_INJECT_LABEL: &str = "sidecar.istio.io/inject";
pub const SIDECAR_STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
pub const PROXY_CONTAINER: &str = "istio-proxy";

impl Injection {
    pub fn from_labels(labels: &Labels) -> Self {
        match labels.get(INJECTION_LABEL).map(String::as_str) {
            Some("enabled") => Injection::Enabled,
            Some(_) => Injection::Disabled,
            None => match labels.get(REVISION_LABEL) {
                Some(rev) => Injection::Revision {
                    revision: rev.clone(),
                },
                None => Injection::None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    pub injection: Injection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub phase: PodPhase,
    /// Why it is not running, when the kubelet says (`CrashLoopBackOff`, `ImagePullBackOff`).
    pub waiting_reason: Option<String>,
    pub ready: u32,
    pub total: u32,
    pub has_sidecar: bool,
    pub sidecar_ready: bool,
    pub ip: Option<String>,
    pub node: Option<String>,
    pub restarts: u32,
    pub deleting: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    pub selector: Option<Labels>,
    pub type_: String,
    pub cluster_ip: Option<String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub namespace: String,
    pub name: String,
    pub selector: Labels,
    pub template_labels: Labels,
    pub replicas: u32,
    pub ready_replicas: u32,
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSliceInfo {
    pub namespace: String,
    pub service: String,
    pub ready: u32,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayInfo {
    pub namespace: String,
    pub name: String,
    pub selector: Labels,
    pub servers: Vec<GatewayServer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServiceInfo {
    pub namespace: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    pub http: Vec<HttpRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subset {
    pub name: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRuleInfo {
    pub namespace: String,
    pub name: String,
    pub host: String,
    pub subsets: Vec<Subset>,
    pub tls_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuthenticationInfo {
    pub namespace: String,
    pub name: String,
    pub mode: Option<String>,
}

/// Everything the model is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeshInputs {
    pub namespaces: BTreeMap<String, NamespaceInfo>,
    pub pods: BTreeMap<Key, PodInfo>,
    pub services: BTreeMap<Key, ServiceInfo>,
    pub deployments: BTreeMap<Key, DeploymentInfo>,
    /// By (namespace, slice name); each slice names its service.
    pub endpoint_slices: BTreeMap<Key, EndpointSliceInfo>,
    pub gateways: BTreeMap<Key, GatewayInfo>,
    pub virtual_services: BTreeMap<Key, VirtualServiceInfo>,
    pub destination_rules: BTreeMap<Key, DestinationRuleInfo>,
    pub peer_authentications: BTreeMap<Key, PeerAuthenticationInfo>,
}

/// One object of the inputs created or changed (`Some`) or deleted (`None`), by its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Namespace(String, Option<NamespaceInfo>),
    Pod(Key, Option<PodInfo>),
    Service(Key, Option<ServiceInfo>),
    Deployment(Key, Option<DeploymentInfo>),
    EndpointSlice(Key, Option<EndpointSliceInfo>),
    Gateway(Key, Option<GatewayInfo>),
    VirtualService(Key, Option<VirtualServiceInfo>),
    DestinationRule(Key, Option<DestinationRuleInfo>),
    PeerAuthentication(Key, Option<PeerAuthenticationInfo>),
}

fn put<K: Ord, V: PartialEq>(table: &mut BTreeMap<K, V>, key: K, value: Option<V>) -> bool {
    match value {
        Some(v) if table.get(&key) == Some(&v) => false,
        Some(v) => {
            table.insert(key, v);
            true
        }
        None => table.remove(&key).is_some(),
    }
}

impl MeshInputs {
    /// Applies one change; false when it changed nothing.
    pub fn apply(&mut self, change: Change) -> bool {
        match change {
            Change::Namespace(k, v) => put(&mut self.namespaces, k, v),
            Change::Pod(k, v) => put(&mut self.pods, k, v),
            Change::Service(k, v) => put(&mut self.services, k, v),
            Change::Deployment(k, v) => put(&mut self.deployments, k, v),
            Change::EndpointSlice(k, v) => put(&mut self.endpoint_slices, k, v),
            Change::Gateway(k, v) => put(&mut self.gateways, k, v),
            Change::VirtualService(k, v) => put(&mut self.virtual_services, k, v),
            Change::DestinationRule(k, v) => put(&mut self.destination_rules, k, v),
            Change::PeerAuthentication(k, v) => put(&mut self.peer_authentications, k, v),
        }
    }
}

fn labels_of(map: &Option<BTreeMap<String, String>>) -> Labels {
    map.clone().unwrap_or_default()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl NamespaceInfo {
    pub fn from_k8s(ns: &Namespace) -> Option<Self> {
        Some(Self {
            name: ns.metadata.name.clone()?,
            injection: Injection::from_labels(&labels_of(&ns.metadata.labels)),
        })
    }
}

impl PodInfo {
    pub fn from_k8s(pod: &Pod) -> Option<Self> {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        let init_statuses = status
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or_default();
        // kubectl counts regular containers plus restartable (native sidecar) init containers.
        let restartable: Vec<&str> = spec
            .and_then(|s| s.init_containers.as_ref())
            .map(|ics| {
                ics.iter()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always"))
                    .map(|c| c.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let containers = count(spec.map_or(0, |s| s.containers.len()));
        let total = containers + count(restartable.len());
        let ready_regular = count(statuses.iter().filter(|c| c.ready).count());
        let ready_sidecars = count(
            init_statuses
                .iter()
                .filter(|c| {
                    restartable.contains(&c.name.as_str()) && c.started == Some(true) && c.ready
                })
                .count(),
        );
        let annotated = meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(SIDECAR_STATUS_ANNOTATION));
        let proxy_in_spec = spec.is_some_and(|s| {
            s.containers.iter().any(|c| c.name == PROXY_CONTAINER)
                || s.init_containers
                    .iter()
                    .flatten()
                    .any(|c| c.name == PROXY_CONTAINER)
        });
        let sidecar_ready = statuses
            .iter()
            .chain(init_statuses.iter())
            .any(|c| c.name == PROXY_CONTAINER && c.ready);
        let waiting_reason = statuses
            .iter()
            .chain(init_statuses.iter())
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .find(|r| r != "PodInitializing" && r != "ContainerCreating");
        let restarts = statuses
            .iter()
            .chain(init_statuses.iter())
            .map(|c| u32::try_from(c.restart_count).unwrap_or(0))
            .sum();
        Some(Self {
            namespace: meta.namespace.clone()?,
            name: meta.name.clone()?,
            labels: labels_of(&meta.labels),
            phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending")),
            waiting_reason,
            ready: ready_regular + ready_sidecars,
            total,
            has_sidecar: annotated || proxy_in_spec,
            sidecar_ready,
            ip: status.and_then(|s| s.pod_ip.clone()),
            node: spec.and_then(|s| s.node_name.clone()),
            restarts,
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    pub fn opted_out(&self) -> bool {
        self.labels.get(POD_INJECT_LABEL).map(String::as_str) == Some("false")
    }
}

impl ServiceInfo {
    pub fn from_k8s(svc: &Service) -> Option<Self> {
        let spec = svc.spec.as_ref();
        Some(Self {
            namespace: svc.metadata.namespace.clone()?,
            name: svc.metadata.name.clone()?,
            selector: spec.and_then(|s| s.selector.clone()),
            type_: spec
                .and_then(|s| s.type_.clone())
                .unwrap_or_else(|| "ClusterIP".into()),
            cluster_ip: spec.and_then(|s| s.cluster_ip.clone()),
            ports: spec
                .and_then(|s| s.ports.as_ref())
                .map(|ps| {
                    ps.iter()
                        .map(|p| ServicePort {
                            name: p.name.clone(),
                            port: u32::try_from(p.port).unwrap_or(0),
                            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

impl DeploymentInfo {
    pub fn from_k8s(d: &Deployment) -> Option<Self> {
        let spec = d.spec.as_ref()?;
        let non_negative = |n: i32| u32::try_from(n).unwrap_or(0);
        Some(Self {
            namespace: d.metadata.namespace.clone()?,
            name: d.metadata.name.clone()?,
            selector: spec.selector.match_labels.clone().unwrap_or_default(),
            template_labels: spec
                .template
                .metadata
                .as_ref()
                .map(|m| labels_of(&m.labels))
                .unwrap_or_default(),
            replicas: non_negative(spec.replicas.unwrap_or(1)),
            ready_replicas: non_negative(
                d.status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0),
            ),
            paused: spec.paused.unwrap_or(false),
        })
    }
}

impl EndpointSliceInfo {
    pub fn from_k8s(es: &EndpointSlice) -> Option<Self> {
        let service = es
            .metadata
            .labels
            .as_ref()?
            .get("kubernetes.io/service-name")?
            .clone();
        let endpoints = es.endpoints.as_deref().unwrap_or_default();
        let total = count(endpoints.len());
        let ready = count(
            endpoints
                .iter()
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
                .count(),
        );
        Some(Self {
            namespace: es.metadata.namespace.clone()?,
            service,
            ready,
            total,
        })
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn str_map(v: &Value) -> Labels {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn meta_key(obj: &Value) -> Option<Key> {
    let meta = obj.get("metadata")?;
    Some((
        meta.get("namespace")?.as_str()?.to_owned(),
        meta.get("name")?.as_str()?.to_owned(),
    ))
}

fn small_number(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

impl GatewayInfo {
    /// From a `networking.istio.io` Gateway as JSON.
    pub fn from_json(obj: &Value) -> Option<Self> {
        let (namespace, name) = meta_key(obj)?;
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        Some(Self {
            namespace,
            name,
            selector: str_map(&spec["selector"]),
            servers: spec["servers"]
                .as_array()
                .map(|ss| {
                    ss.iter()
                        .map(|s| GatewayServer {
                            port: small_number(&s["port"]["number"]).unwrap_or(0),
                            protocol: s["port"]["protocol"].as_str().unwrap_or("").to_owned(),
                            hosts: str_list(&s["hosts"]),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Istio's StringMatch: one of `exact`, `prefix`, `regex`.
fn string_match(v: &Value) -> Option<StringMatch> {
    let o = v.as_object()?;
    let text = |key: &str| o.get(key)?.as_str().map(str::to_owned);
    text("exact")
        .map(StringMatch::Exact)
        .or_else(|| text("prefix").map(StringMatch::Prefix))
        .or_else(|| text("regex").map(StringMatch::Regex))
}

/// One `match` entry of a VirtualService http route.
fn request_match(m: &Value) -> RequestMatch {
    RequestMatch {
        uri: m.get("uri").and_then(string_match),
        headers: m
            .get("headers")
            .and_then(Value::as_object)
            .map(|hs| {
                hs.iter()
                    .filter_map(|(name, v)| Some((name.clone(), string_match(v)?)))
                    .collect()
            })
            .unwrap_or_default(),
        method: m.get("method").and_then(string_match),
        port: m.get("port").and_then(small_number),
    }
}

fn fault(f: &Value) -> Option<Fault> {
    let percent = |v: &Value| v["percentage"]["value"].as_f64();
    let delay = f.get("delay").map(|d| FaultDelay {
        fixed_delay: d["fixedDelay"].as_str().map(str::to_owned),
        percent: percent(d),
    });
    let abort = f.get("abort").map(|a| FaultAbort {
        http_status: small_number(&a["httpStatus"]),
        percent: percent(a),
    });
    (delay.is_some() || abort.is_some()).then_some(Fault { delay, abort })
}

impl VirtualServiceInfo {
    pub fn from_json(obj: &Value) -> Option<Self> {
        let (namespace, name) = meta_key(obj)?;
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let http = spec["http"]
            .as_array()
            .map(|routes| {
                routes
                    .iter()
                    .map(|r| HttpRoute {
                        name: r["name"].as_str().map(str::to_owned),
                        matches: r["match"]
                            .as_array()
                            .map(|ms| ms.iter().map(request_match).collect())
                            .unwrap_or_default(),
                        destinations: r["route"]
                            .as_array()
                            .map(|ds| {
                                ds.iter()
                                    .map(|d| RouteDestination {
                                        host: d["destination"]["host"]
                                            .as_str()
                                            .unwrap_or("")
                                            .to_owned(),
                                        subset: d["destination"]["subset"]
                                            .as_str()
                                            .map(str::to_owned),
                                        port: small_number(&d["destination"]["port"]["number"]),
                                        weight: d["weight"]
                                            .as_i64()
                                            .map(|w| w.clamp(i32::MIN.into(), i32::MAX.into()))
                                            .and_then(|w| i32::try_from(w).ok()),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        fault: r.get("fault").and_then(fault),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            namespace,
            name,
            hosts: str_list(&spec["hosts"]),
            gateways: str_list(&spec["gateways"]),
            http,
        })
    }
}

impl DestinationRuleInfo {
    pub fn from_json(obj: &Value) -> Option<Self> {
        let (namespace, name) = meta_key(obj)?;
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        Some(Self {
            namespace,
            name,
            host: spec["host"].as_str().unwrap_or("").to_owned(),
            subsets: spec["subsets"]
                .as_array()
                .map(|ss| {
                    ss.iter()
                        .filter_map(|s| {
                            Some(Subset {
                                name: s["name"].as_str()?.to_owned(),
                                labels: str_map(&s["labels"]),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            tls_mode: spec["trafficPolicy"]["tls"]["mode"]
                .as_str()
                .map(str::to_owned),
        })
    }
}

impl PeerAuthenticationInfo {
    pub fn from_json(obj: &Value) -> Option<Self> {
        let (namespace, name) = meta_key(obj)?;
        Some(Self {
            namespace,
            name,
            mode: obj["spec"]["mtls"]["mode"].as_str().map(str::to_owned),
        })
    }
}

/// Kubernetes equality-based selector match: every selector label is on the object.
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn injection_label_wins_over_revision() {
        assert_eq!(
            Injection::from_labels(&labels(&[("istio-injection", "enabled")])),
            Injection::Enabled
        );
        assert_eq!(
            Injection::from_labels(&labels(&[
                ("istio-injection", "disabled"),
                ("istio.io/rev", "canary")
            ])),
            Injection::Disabled
        );
        assert_eq!(
            Injection::from_labels(&labels(&[("istio.io/rev", "canary")])),
            Injection::Revision {
                revision: "canary".into()
            }
        );
        assert!(!Injection::None.injects());
    }

    #[test]
    fn a_native_sidecar_pod_counts_like_kubectl() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "reviews-v2-5b9c7d-abcde", "namespace": "default",
                "labels": {"app": "reviews", "version": "v2"},
                "annotations": {"sidecar.istio.io/status": "{\"initContainers\":[\"istio-validation\",\"istio-proxy\"],\"containers\":null}"}},
            "spec": {"containers": [{"name": "reviews", "image": "x"}],
                "initContainers": [{"name": "istio-proxy", "image": "proxyv2", "restartPolicy": "Always"}]},
            "status": {"phase": "Running", "podIP": "10.244.0.12",
                "containerStatuses": [{"name": "reviews", "ready": true, "restartCount": 0, "image": "x", "imageID": ""}],
                "initContainerStatuses": [{"name": "istio-proxy", "ready": true, "started": true, "restartCount": 1, "image": "x", "imageID": ""}]}
        }))
        .unwrap();
        let info = PodInfo::from_k8s(&pod).unwrap();
        assert_eq!((info.ready, info.total), (2, 2));
        assert_eq!(info.phase, PodPhase::Running);
        assert!(info.has_sidecar && info.sidecar_ready);
        assert_eq!(info.restarts, 1);
    }

    #[test]
    fn matches_and_faults_are_read_as_data() {
        let vs = VirtualServiceInfo::from_json(&serde_json::json!({
            "metadata": {"name": "ratings", "namespace": "default"},
            "spec": {"hosts": ["ratings"], "http": [{
                "match": [{"headers": {"end-user": {"exact": "jason"}}, "uri": {"prefix": "/r"}, "port": 9080}],
                "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100.0}}},
                "route": [{"destination": {"host": "ratings", "subset": "v1"}}]}]}
        }))
        .unwrap();
        let m = &vs.http[0].matches[0];
        assert_eq!(m.headers["end-user"], StringMatch::Exact("jason".into()));
        assert_eq!(m.uri, Some(StringMatch::Prefix("/r".into())));
        assert_eq!((m.method.as_ref(), m.port), (None, Some(9080)));
        let delay = vs.http[0].fault.as_ref().unwrap().delay.as_ref().unwrap();
        assert_eq!(
            (delay.fixed_delay.as_deref(), delay.percent),
            (Some("7s"), Some(100.0))
        );
        assert!(vs.http[0].fault.as_ref().unwrap().abort.is_none());
        assert_eq!(vs.http[0].destinations[0].subset.as_deref(), Some("v1"));
    }

    #[test]
    fn a_change_that_changes_nothing_says_so() {
        let mut inputs = MeshInputs::default();
        let ns = NamespaceInfo {
            name: "shop".into(),
            injection: Injection::Enabled,
        };
        assert!(inputs.apply(Change::Namespace("shop".into(), Some(ns.clone()))));
        assert!(!inputs.apply(Change::Namespace("shop".into(), Some(ns))));
        assert!(inputs.apply(Change::Namespace("shop".into(), None)));
        assert!(!inputs.apply(Change::Namespace("shop".into(), None)));
    }
}
