//! The fields of cluster objects the mesh model needs, pruned from the full objects so the
//! store stays small and the model does not depend on how an object was fetched.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use crate::istio;

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

/// (namespace, name) of an Istio object, when it has both.
fn istio_key(meta: &istio::ObjectMeta) -> Option<Key> {
    (!meta.namespace.is_empty() && !meta.name.is_empty())
        .then(|| (meta.namespace.clone(), meta.name.clone()))
}

impl GatewayInfo {
    pub fn from_istio(gw: &istio::Gateway) -> Option<Self> {
        let (namespace, name) = istio_key(&gw.metadata)?;
        Some(Self {
            namespace,
            name,
            selector: gw.spec.selector.clone(),
            servers: gw
                .spec
                .servers
                .iter()
                .map(|s| GatewayServer {
                    port: s.port.as_ref().map_or(0, |p| p.number),
                    protocol: s
                        .port
                        .as_ref()
                        .map(|p| p.protocol.clone())
                        .unwrap_or_default(),
                    hosts: s.hosts.clone(),
                })
                .collect(),
        })
    }

    /// From a Gateway as JSON (as the API server sends it), read as the typed resource.
    pub fn from_json(obj: &Value) -> Option<Self> {
        Self::from_istio(&istio::Gateway::from_value(obj.clone()).ok()?)
    }
}

fn string_match(m: &istio::StringMatch) -> StringMatch {
    match m.rule() {
        istio::StringRule::Exact(v) => StringMatch::Exact(v.to_owned()),
        istio::StringRule::Prefix(v) => StringMatch::Prefix(v.to_owned()),
        istio::StringRule::Regex(v) => StringMatch::Regex(v.to_owned()),
        istio::StringRule::Present => StringMatch::Present,
    }
}

fn request_match(m: &istio::HttpMatchRequest) -> RequestMatch {
    RequestMatch {
        uri: m.uri.as_ref().map(string_match),
        headers: m
            .headers
            .iter()
            .map(|(name, v)| (name.clone(), string_match(v)))
            .collect(),
        method: m.method.as_ref().map(string_match),
        port: m.port,
    }
}

fn fault(f: &istio::HttpFault) -> Option<Fault> {
    let delay = f.delay.as_ref().map(|d| FaultDelay {
        fixed_delay: d.fixed_delay.as_ref().map(|t| t.as_str().to_owned()),
        percent: d.share(),
    });
    let abort = f.abort.as_ref().map(|a| FaultAbort {
        http_status: a.http_status.and_then(|s| u32::try_from(s).ok()),
        percent: a.share(),
    });
    (delay.is_some() || abort.is_some()).then_some(Fault { delay, abort })
}

impl VirtualServiceInfo {
    pub fn from_istio(vs: &istio::VirtualService) -> Option<Self> {
        let (namespace, name) = istio_key(&vs.metadata)?;
        let http = vs
            .spec
            .http
            .iter()
            .map(|r| HttpRoute {
                name: r.name.clone(),
                matches: r.matches.iter().map(request_match).collect(),
                destinations: r
                    .route
                    .iter()
                    .map(|d| RouteDestination {
                        host: d.destination.host.clone(),
                        subset: d.destination.subset.clone(),
                        port: d.destination.port.as_ref().and_then(|p| p.number),
                        weight: d.weight,
                    })
                    .collect(),
                fault: r.fault.as_ref().and_then(fault),
            })
            .collect();
        Some(Self {
            namespace,
            name,
            hosts: vs.spec.hosts.clone(),
            gateways: vs.spec.gateways.clone(),
            http,
        })
    }

    /// From a VirtualService as JSON, read as the typed resource.
    pub fn from_json(obj: &Value) -> Option<Self> {
        Self::from_istio(&istio::VirtualService::from_value(obj.clone()).ok()?)
    }
}

impl DestinationRuleInfo {
    pub fn from_istio(dr: &istio::DestinationRule) -> Option<Self> {
        let (namespace, name) = istio_key(&dr.metadata)?;
        Some(Self {
            namespace,
            name,
            host: dr.spec.host.clone(),
            subsets: dr
                .spec
                .subsets
                .iter()
                .map(|s| Subset {
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                })
                .collect(),
            tls_mode: dr
                .spec
                .traffic_policy
                .as_ref()
                .and_then(|p| p.tls.as_ref()?.mode.as_ref())
                .map(|m| m.as_str().to_owned()),
        })
    }

    /// From a DestinationRule as JSON, read as the typed resource.
    pub fn from_json(obj: &Value) -> Option<Self> {
        Self::from_istio(&istio::DestinationRule::from_value(obj.clone()).ok()?)
    }
}

impl PeerAuthenticationInfo {
    pub fn from_istio(pa: &istio::PeerAuthentication) -> Option<Self> {
        let (namespace, name) = istio_key(&pa.metadata)?;
        Some(Self {
            namespace,
            name,
            mode: pa
                .spec
                .mtls
                .as_ref()
                .and_then(|m| m.mode.as_ref())
                .map(|m| m.as_str().to_owned()),
        })
    }

    /// From a PeerAuthentication as JSON, read as the typed resource.
    pub fn from_json(obj: &Value) -> Option<Self> {
        Self::from_istio(&istio::PeerAuthentication::from_value(obj.clone()).ok()?)
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
    fn a_header_match_without_a_value_asks_only_for_the_header() {
        let vs = VirtualServiceInfo::from_json(&serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {"hosts": ["reviews"], "http": [{
                "match": [{"headers": {"x-canary": {}}}],
                "route": [{"destination": {"host": "reviews"}}]}]}
        }))
        .unwrap();
        assert_eq!(
            vs.http[0].matches[0].headers["x-canary"],
            StringMatch::Present
        );
    }

    #[test]
    fn an_object_of_another_kind_is_not_read_as_an_istio_one() {
        let gw = serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "reviews", "namespace": "default"}, "spec": {}});
        assert!(GatewayInfo::from_json(&gw).is_none());
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
