//! The simulated data plane: an HTTP listener standing in for istio-ingressgateway, and the
//! Bookinfo services behind it. Every hop (ingress to productpage, productpage to details and
//! reviews, reviews to ratings) is routed by the live Istio config in the store, the way
//! Envoy would: Gateway-bound or mesh VirtualServices (URI, header, method and source-label
//! matches, weights, fault injection, timeouts), DestinationRule subsets, and an even spread
//! over the ready pods when no VirtualService applies. Istio objects are read as the typed
//! resources of `playground-istio`, and hosts resolved by its one `resolve_host`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use playground_istio::{
    DestinationRule, Gateway, HttpMatchRequest, HttpRoute, HttpRouteDestination, Labels, MtlsMode,
    PeerAuthentication, ResolvedHost, Resource, Spec, StringMatch, StringRule, VirtualService,
    host_matches, resolve_host, selects,
};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::clock::SimRng;
use crate::controller::pod_is_ready;
use crate::metrics::{HopRecord, MeshMetrics, Outcome};
use crate::selector::LabelSelector;
use crate::store::Store;
use crate::upstream::{Ejection, Limits, Ticket, Upstreams};

/// Data plane settings.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// Add a few milliseconds per hop, as a real mesh would.
    pub latency: bool,
}

#[derive(Debug)]
pub struct DataPlane {
    store: Arc<Store>,
    rng: Mutex<SimRng>,
    cfg: DataPlaneConfig,
    /// The last snapshot and the resourceVersion it was read at: reused until anything changes.
    cache: Mutex<Option<(u64, Arc<Snapshot>)>>,
    /// Where every proxy counts the hops it sees (Istio's standard metrics).
    metrics: Arc<MeshMetrics>,
    /// Client proxies' connection pools and outlier detection.
    upstreams: Upstreams,
}

pub fn router(dp: Arc<DataPlane>) -> Router {
    Router::new().fallback(handle).with_state(dp)
}

impl DataPlane {
    pub fn new(
        store: Arc<Store>,
        rng: SimRng,
        cfg: DataPlaneConfig,
        metrics: Arc<MeshMetrics>,
    ) -> Self {
        DataPlane {
            store,
            rng: Mutex::new(rng),
            cfg,
            cache: Mutex::new(None),
            metrics,
            upstreams: Upstreams::default(),
        }
    }

    /// The routing view of the cluster, read again only when the store has changed.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let rv = self.store.resource_version();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, snap)) = cache.as_ref()
            && *at == rv
        {
            return snap.clone();
        }
        let snap = Arc::new(Snapshot::read(&self.store));
        *cache = Some((rv, snap.clone()));
        snap
    }

    fn rand(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_f64()
    }
}

/// A request as a hop sees it.
#[derive(Debug, Clone)]
pub struct MeshRequest {
    pub method: String,
    pub path: String,
    pub authority: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
}

/// Everything routing needs, read from the store.
#[derive(Debug)]
pub struct Snapshot {
    services: Vec<Value>,
    pods: Vec<Value>,
    /// Oldest first, as Istio orders VirtualServices for the same host.
    virtual_services: Vec<VirtualService>,
    destination_rules: Vec<DestinationRule>,
    gateways: Vec<Gateway>,
    /// Oldest first: Istio takes the oldest when two policies apply at the same level.
    peer_authentications: Vec<PeerAuthentication>,
}

/// Istio's root namespace: a PeerAuthentication there without a selector covers the mesh.
const ROOT_NAMESPACE: &str = "istio-system";

/// The store's objects of an Istio kind, typed. The simulated API server does not check
/// objects against their schema, so one it stored may not have its kind's shape: Envoy
/// would never see it (istiod rejects it), so routing leaves it out too.
fn istio_objects<S: Spec>(store: &Store) -> Vec<Resource<S>> {
    store
        .all(S::GROUP, S::PLURAL)
        .into_iter()
        .filter_map(|v| match Resource::<S>::from_value(v) {
            Ok(r) => Some(r),
            Err(error) => {
                tracing::debug!(%error, "left out of routing");
                None
            }
        })
        .collect()
}

impl Snapshot {
    pub fn read(store: &Store) -> Self {
        let mut vs: Vec<VirtualService> = istio_objects(store);
        vs.sort_by(|a, b| {
            (&a.metadata.creation_timestamp, &a.metadata.name)
                .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
        });
        Snapshot {
            services: store.all("", "services"),
            pods: store
                .all("", "pods")
                .into_iter()
                .filter(|p| pod_is_ready(p) && p.pointer("/metadata/deletionTimestamp").is_none())
                .collect(),
            virtual_services: vs,
            destination_rules: istio_objects(store),
            gateways: istio_objects(store),
            peer_authentications: {
                let mut pa: Vec<PeerAuthentication> = istio_objects(store);
                pa.sort_by(|a, b| {
                    (&a.metadata.creation_timestamp, &a.metadata.name)
                        .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
                });
                pa
            },
        }
    }

    /// The connection pool and outlier detection for a cluster: the subset's own policy
    /// field by field, else the DestinationRule's.
    fn upstream_policy(
        &self,
        host: &str,
        subset: Option<&str>,
    ) -> (
        Option<&playground_istio::ConnectionPool>,
        Option<&playground_istio::OutlierDetection>,
    ) {
        let Some(dr) = self
            .destination_rules
            .iter()
            .filter(|dr| {
                dr.spec.traffic_policy.is_some()
                    || dr.spec.subsets.iter().any(|x| x.traffic_policy.is_some())
            })
            .find(|dr| resolve_host(&dr.spec.host, dr.namespace()).fqdn() == host)
        else {
            return (None, None);
        };
        let top = dr.spec.traffic_policy.as_ref();
        let sub = subset
            .and_then(|n| dr.spec.subset(n))
            .and_then(|x| x.traffic_policy.as_ref());
        (
            sub.and_then(|p| p.connection_pool.as_ref())
                .or_else(|| top.and_then(|p| p.connection_pool.as_ref())),
            sub.and_then(|p| p.outlier_detection.as_ref())
                .or_else(|| top.and_then(|p| p.outlier_detection.as_ref())),
        )
    }

    /// A ready pod by namespace and name.
    fn pod(&self, ns: &str, name: &str) -> Option<&Value> {
        self.pods
            .iter()
            .find(|p| s(p, "/metadata/namespace") == ns && s(p, "/metadata/name") == name)
    }

    /// The mTLS mode the sidecar of `pod` enforces for what it receives, by Istio's
    /// precedence: a policy selecting the workload, else its namespace's, else the mesh's
    /// (root namespace), else PERMISSIVE. UNSET inherits from the next level. Port-level
    /// modes are not looked at: Bookinfo's services have one port each.
    pub fn peer_mode(&self, pod: &Value) -> MtlsMode {
        if self.peer_authentications.is_empty() {
            return MtlsMode::Permissive;
        }
        let ns = s(pod, "/metadata/namespace");
        let labels: Labels = pod
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let with_selector = |pa: &PeerAuthentication| {
            pa.spec
                .selector
                .as_ref()
                .is_some_and(|sel| !sel.match_labels.is_empty())
        };
        let workload = self.peer_authentications.iter().find(|pa| {
            pa.namespace() == ns
                && with_selector(pa)
                && pa
                    .spec
                    .selector
                    .as_ref()
                    .is_some_and(|sel| selects(&sel.match_labels, &labels))
                && pa.spec.mode().is_some()
        });
        let level = |in_ns: &str| {
            self.peer_authentications.iter().find(|pa| {
                pa.namespace() == in_ns && !with_selector(pa) && pa.spec.mode().is_some()
            })
        };
        workload
            .or_else(|| level(ns))
            .or_else(|| level(ROOT_NAMESPACE))
            .and_then(|pa| pa.spec.mode().cloned())
            .unwrap_or(MtlsMode::Permissive)
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Typed labels as the JSON map the store's selectors take.
fn label_map(labels: &Labels) -> Map<String, Value> {
    labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Whether `value` passes a string condition; a missing value never does.
fn string_match(m: &StringMatch, value: Option<&str>, ignore_case: bool) -> bool {
    let Some(v) = value else { return false };
    let fold = |t: &str| {
        if ignore_case {
            t.to_lowercase()
        } else {
            t.to_owned()
        }
    };
    let v = fold(v);
    match m.rule() {
        StringRule::Exact(e) => v == fold(e),
        StringRule::Prefix(p) => v.starts_with(&fold(p)),
        // Without a regex engine: the common forms used in lessons.
        StringRule::Regex(r) => {
            let r = fold(r);
            match r.as_str() {
                ".*" | ".+" => true,
                _ if r.ends_with(".*")
                    && !r[..r.len() - 2].contains(['.', '*', '[', '(', '|', '+', '?']) =>
                {
                    v.starts_with(&r[..r.len() - 2])
                }
                _ => v == r,
            }
        }
        StringRule::Present => true,
    }
}

fn match_request(
    m: &HttpMatchRequest,
    req: &MeshRequest,
    source_labels: Option<&Map<String, Value>>,
    gateway: Option<&str>,
) -> bool {
    if let Some(uri) = &m.uri {
        let path = req.path.split('?').next().unwrap_or("");
        if !string_match(uri, Some(path), m.ignore_uri_case == Some(true)) {
            return false;
        }
    }
    if let Some(method) = &m.method
        && !string_match(method, Some(&req.method), false)
    {
        return false;
    }
    if let Some(auth) = &m.authority
        && !string_match(auth, Some(&req.authority), false)
    {
        return false;
    }
    let header = |k: &str| req.headers.get(&k.to_lowercase()).map(String::as_str);
    if !m
        .headers
        .iter()
        .all(|(k, cond)| string_match(cond, header(k), false))
    {
        return false;
    }
    if m.without_headers
        .iter()
        .any(|(k, cond)| string_match(cond, header(k), false))
    {
        return false;
    }
    if !m.source_labels.is_empty() {
        let Some(have) = source_labels else {
            return false;
        };
        if !m
            .source_labels
            .iter()
            .all(|(k, v)| have.get(k).and_then(Value::as_str) == Some(v))
        {
            return false;
        }
    }
    if !m.gateways.is_empty() {
        let g = gateway.unwrap_or(playground_istio::MESH_GATEWAY);
        if !m
            .gateways
            .iter()
            .any(|x| x == g || x.ends_with(&format!("/{g}")))
        {
            return false;
        }
    }
    true
}

/// Why a hop did not reach a pod, as Envoy reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: u16,
    pub body: String,
    /// Envoy's response flag: NR (no route), UH (no healthy upstream), FI (fault injected).
    pub flag: &'static str,
}

/// Where a hop went.
#[derive(Debug, Clone)]
pub struct Routed {
    pub pod: Value,
    /// The service host (FQDN) the route sent the request to.
    pub host: String,
    /// Injected delay before the request reached the pod.
    pub delay: Duration,
    /// The route's timeout, if the VirtualService set one.
    pub timeout: Option<Duration>,
    /// The DestinationRule subset the route named.
    pub subset: Option<String>,
    /// Names of the cluster's ready pods the choice was made from (all in the pod's
    /// namespace): names, not the pods, since every hop carries them.
    pub endpoints: Vec<String>,
    /// The route's retry policy.
    pub retries: Option<playground_istio::HttpRetry>,
}

/// The outcome of routing one hop.
#[derive(Debug, Clone)]
pub enum Hop {
    Routed(Routed),
    Failed { failure: Failure, delay: Duration },
}

impl DataPlane {
    fn pick_weighted<'a>(
        &self,
        routes: &'a [HttpRouteDestination],
    ) -> Option<&'a HttpRouteDestination> {
        if routes.is_empty() {
            return None;
        }
        let weights: Vec<f64> = routes
            .iter()
            .map(|r| f64::from(r.weight.unwrap_or(0)))
            .collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return routes.first().filter(|_| routes.len() == 1).or_else(|| {
                let i = (self.rand() * routes.len() as f64) as usize;
                routes.get(i.min(routes.len() - 1))
            });
        }
        let mut x = self.rand() * total;
        for (r, w) in routes.iter().zip(weights) {
            if x < w {
                return Some(r);
            }
            x -= w;
        }
        routes.last()
    }

    fn fault(&self, http: &HttpRoute) -> (Duration, Option<Failure>) {
        // A fault that does not say how often applies to every request.
        let fault = http.fault.as_ref();
        let mut delay = Duration::ZERO;
        if let Some(d) = fault.and_then(|f| f.delay.as_ref())
            && self.rand() * 100.0 < d.share().unwrap_or(100.0)
        {
            delay = d
                .fixed_delay
                .as_ref()
                .and_then(|d| d.to_std().ok())
                .unwrap_or_default();
        }
        if let Some(a) = fault.and_then(|f| f.abort.as_ref())
            && self.rand() * 100.0 < a.share().unwrap_or(100.0)
        {
            let status = a
                .http_status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(503);
            return (
                delay,
                Some(Failure {
                    status,
                    body: "fault filter abort".into(),
                    flag: "FI",
                }),
            );
        }
        (delay, None)
    }

    /// Ready pods behind a service host, narrowed to a DestinationRule subset.
    fn endpoints<'a>(
        &self,
        snap: &'a Snapshot,
        host: &ResolvedHost,
        subset: Option<&str>,
    ) -> Result<Vec<&'a Value>, Failure> {
        let svc = snap
            .services
            .iter()
            .find(|svc| host.is_service(s(svc, "/metadata/name"), s(svc, "/metadata/namespace")));
        let Some(svc) = svc else {
            return Err(Failure {
                status: 503,
                body: "no healthy upstream".into(),
                flag: "NC",
            });
        };
        let ns = s(svc, "/metadata/namespace");
        let Some(sel) = svc.pointer("/spec/selector").and_then(Value::as_object) else {
            return Err(Failure {
                status: 503,
                body: "no healthy upstream".into(),
                flag: "UH",
            });
        };
        let mut selector = LabelSelector::from_map(sel);
        if let Some(subset) = subset {
            let labels = snap
                .destination_rules
                .iter()
                .find(|dr| resolve_host(&dr.spec.host, dr.namespace()) == *host)
                .and_then(|dr| dr.spec.subset(subset))
                .map(|x| label_map(&x.labels));
            match labels {
                Some(l) => selector.0.extend(LabelSelector::from_map(&l).0),
                // A route to an undefined subset has no cluster behind it.
                None => {
                    return Err(Failure {
                        status: 503,
                        body: "no healthy upstream".into(),
                        flag: "NC",
                    });
                }
            }
        }
        let pods: Vec<&Value> = snap
            .pods
            .iter()
            .filter(|p| {
                s(p, "/metadata/namespace") == ns
                    && selector.matches(p.pointer("/metadata/labels").and_then(Value::as_object))
            })
            .collect();
        if pods.is_empty() {
            return Err(Failure {
                status: 503,
                body: "no healthy upstream".into(),
                flag: "UH",
            });
        }
        Ok(pods)
    }

    fn to_destination(
        &self,
        snap: &Snapshot,
        dest: &HttpRouteDestination,
        vs_ns: &str,
        delay: Duration,
        timeout: Option<Duration>,
    ) -> Hop {
        let host = resolve_host(&dest.destination.host, vs_ns);
        let subset = dest.destination.subset.as_deref();
        match self.endpoints(snap, &host, subset) {
            Ok(pods) => {
                let i = ((self.rand() * pods.len() as f64) as usize).min(pods.len() - 1);
                Hop::Routed(Routed {
                    pod: pods[i].clone(),
                    host: host.fqdn(),
                    delay,
                    timeout,
                    subset: subset.map(String::from),
                    endpoints: pods
                        .iter()
                        .map(|p| s(p, "/metadata/name").to_owned())
                        .collect(),
                    retries: None,
                })
            }
            Err(failure) => Hop::Failed { failure, delay },
        }
    }

    /// Routes a request from a sidecar (source labels given) to a service host in `ns`.
    pub fn route_mesh(
        &self,
        snap: &Snapshot,
        host: &str,
        ns: &str,
        req: &MeshRequest,
        source: Option<&Map<String, Value>>,
    ) -> Hop {
        let target = resolve_host(host, ns);
        let vs = snap.virtual_services.iter().find(|vs| {
            vs.spec.applies_to_mesh()
                && vs
                    .spec
                    .hosts
                    .iter()
                    .any(|h| h != "*" && resolve_host(h, vs.namespace()) == target)
        });
        match vs {
            None => match self.endpoints(snap, &target, None) {
                Ok(pods) => {
                    let i = ((self.rand() * pods.len() as f64) as usize).min(pods.len() - 1);
                    Hop::Routed(Routed {
                        pod: pods[i].clone(),
                        host: target.fqdn(),
                        delay: Duration::ZERO,
                        timeout: None,
                        subset: None,
                        endpoints: pods
                            .iter()
                            .map(|p| s(p, "/metadata/name").to_owned())
                            .collect(),
                        retries: None,
                    })
                }
                Err(failure) => Hop::Failed {
                    failure,
                    delay: Duration::ZERO,
                },
            },
            Some(vs) => self.apply_virtual_service(snap, vs, req, source, None),
        }
    }

    fn apply_virtual_service(
        &self,
        snap: &Snapshot,
        vs: &VirtualService,
        req: &MeshRequest,
        source: Option<&Map<String, Value>>,
        gateway: Option<&str>,
    ) -> Hop {
        let chosen = vs.spec.http.iter().find(|h| {
            h.matches.is_empty()
                || h.matches
                    .iter()
                    .any(|m| match_request(m, req, source, gateway))
        });
        let Some(h) = chosen else {
            return Hop::Failed {
                failure: Failure {
                    status: 404,
                    body: String::new(),
                    flag: "NR",
                },
                delay: Duration::ZERO,
            };
        };
        let (delay, abort) = self.fault(h);
        if let Some(failure) = abort {
            return Hop::Failed { failure, delay };
        }
        let timeout = h
            .timeout
            .as_ref()
            .and_then(|t| t.to_std().ok())
            .filter(|t| !t.is_zero());
        match self.pick_weighted(&h.route) {
            Some(dest) => match self.to_destination(snap, dest, vs.namespace(), delay, timeout) {
                Hop::Routed(mut r) => {
                    r.retries = h.retries.clone();
                    Hop::Routed(r)
                }
                failed => failed,
            },
            None => Hop::Failed {
                failure: Failure {
                    status: 404,
                    body: String::new(),
                    flag: "NR",
                },
                delay,
            },
        }
    }

    /// Routes a request arriving at the ingress gateway on its HTTP port.
    pub fn route_ingress(&self, snap: &Snapshot, req: &MeshRequest) -> Hop {
        let host = req.authority.split(':').next().unwrap_or("").to_string();
        let gateway_labels: Labels = snap
            .pods
            .iter()
            .find(|p| s(p, "/metadata/labels/istio") == "ingressgateway")
            .and_then(|p| p.pointer("/metadata/labels").and_then(Value::as_object))
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_else(|| {
                Labels::from([
                    ("istio".into(), "ingressgateway".into()),
                    ("app".into(), "istio-ingressgateway".into()),
                ])
            });
        let bound: Vec<&Gateway> = snap
            .gateways
            .iter()
            .filter(|g| !g.spec.selector.is_empty() && selects(&g.spec.selector, &gateway_labels))
            .filter(|g| {
                g.spec.servers.iter().any(|srv| {
                    let port = srv.port.as_ref();
                    let proto = port.map(|p| p.protocol.to_uppercase()).unwrap_or_default();
                    matches!(port.map(|p| p.number), Some(8080) | Some(80))
                        && (proto == "HTTP" || proto == "HTTP2" || proto.is_empty())
                        && srv.host_names().any(|h| host_matches(h, &host))
                })
            })
            .collect();
        let vs = snap.virtual_services.iter().find(|vs| {
            let binds = bound.iter().any(|g| {
                vs.spec
                    .binds_gateway(vs.namespace(), g.namespace(), g.name())
            });
            binds && vs.spec.hosts.iter().any(|h| host_matches(h, &host))
        });
        match vs {
            None => Hop::Failed {
                failure: Failure {
                    status: 404,
                    body: String::new(),
                    flag: "NR",
                },
                delay: Duration::ZERO,
            },
            Some(vs) => {
                let gw_name = vs.spec.gateways.first().map(String::as_str);
                self.apply_virtual_service(snap, vs, req, None, gw_name)
            }
        }
    }

    fn hop_latency(&self) -> Duration {
        if self.cfg.latency {
            Duration::from_micros(1_000 + (self.rand() * 3_000.0) as u64)
        } else {
            Duration::ZERO
        }
    }
}

/// What one try of a request got.
struct Attempt {
    call: Call,
    /// Envoy's flag for a try that did not get the pod's answer (UO, UH, UT).
    flag: Option<&'static str>,
    /// Whether the answer came from upstream (or its per-try timeout), which retries may
    /// repeat; the pool's overflow and no healthy upstream are not retried here.
    upstream: bool,
    /// The pod it reached, its answer, and when it got the request (from the try's start).
    reached: Option<(Value, Call, Duration)>,
}

/// A route's retry policy as Envoy applies it.
struct RetryPolicy {
    attempts: u32,
    per_try_timeout: Option<Duration>,
    on: Vec<String>,
}

impl RetryPolicy {
    /// Only what the route sets: Istio's own default (two retries on connect failures,
    /// refused streams and 503) is left out, since the simulation has no connection
    /// failures and a 503 from a pod is rare.
    fn of(retry: Option<&playground_istio::HttpRetry>) -> Self {
        RetryPolicy {
            attempts: retry
                .and_then(|r| r.attempts)
                .and_then(|a| u32::try_from(a).ok())
                .unwrap_or(0),
            per_try_timeout: retry
                .and_then(|r| r.per_try_timeout.as_ref())
                .and_then(|d| d.to_std().ok())
                .filter(|d| !d.is_zero()),
            on: retry
                .map(|r| r.retry_on_conditions().map(String::from).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether Envoy's retry-on conditions cover this answer (a per-try timeout is a 504).
    fn retries(&self, status: u16, flag: Option<&str>) -> bool {
        let timed_out = flag == Some("UT");
        self.on.iter().any(|c| match c.as_str() {
            "5xx" => status >= 500 || timed_out,
            "gateway-error" => (502..=504).contains(&status),
            "reset" => timed_out,
            "retriable-4xx" => status == 409,
            code => code.parse::<u16>().is_ok_and(|c| c == status),
        })
    }
}

impl DataPlane {
    /// httpbin's `/status/CODES`: one code, or one picked at random from `a,b` or by weight
    /// from `a:3,b:1`; 400 when a code does not parse.
    fn httpbin_status(&self, codes: &str) -> u16 {
        let choices: Option<Vec<(u16, f64)>> = codes
            .split(',')
            .map(|c| match c.split_once(':') {
                Some((code, w)) => Some((code.trim().parse().ok()?, w.trim().parse().ok()?)),
                None => Some((c.trim().parse().ok()?, 1.0)),
            })
            .collect();
        let Some(choices) = choices.filter(|c| !c.is_empty()) else {
            return 400;
        };
        let total: f64 = choices.iter().map(|(_, w)| w).sum();
        let mut x = self.rand() * total;
        for (code, w) in &choices {
            if x < *w {
                return *code;
            }
            x -= w;
        }
        choices[choices.len() - 1].0
    }
}

/// A request's place in its cluster's pool, and how its answer counts for outlier detection.
struct Guard {
    cluster: String,
    ticket: Ticket,
    ejection: Option<Ejection>,
}

impl DataPlane {
    /// What the client proxy's cluster does before the request leaves: skips hosts that
    /// outlier detection ejected (none left: no healthy upstream, UH; Istio turns Envoy's
    /// panic mode off with outlier detection, so ejected hosts are not used anyway), then
    /// takes a place in the connection pool (none left: overflow, UO).
    ///
    /// Returns the pod to send to (another one than routing chose when that one is ejected).
    fn admit(
        &self,
        snap: &Snapshot,
        r: &Routed,
        client: &str,
    ) -> Result<(Option<Value>, Option<Guard>), (Failure, Duration)> {
        let (pool, od) = snap.upstream_policy(&r.host, r.subset.as_deref());
        if pool.is_none() && od.is_none() {
            return Ok((None, None));
        }
        let mut pod = None;
        let cluster = format!("{}|{}", r.host, r.subset.as_deref().unwrap_or(""));
        let ejection = od.map(Ejection::of);
        if ejection.is_some() {
            let ejected = self.upstreams.ejected(client, &cluster);
            if ejected.iter().any(|e| e == s(&r.pod, "/metadata/name")) {
                let healthy: Vec<&String> = r
                    .endpoints
                    .iter()
                    .filter(|p| !ejected.contains(p))
                    .collect();
                if healthy.is_empty() {
                    return Err((
                        Failure {
                            status: 503,
                            body: "no healthy upstream".into(),
                            flag: "UH",
                        },
                        r.delay,
                    ));
                }
                let i = ((self.rand() * healthy.len() as f64) as usize).min(healthy.len() - 1);
                pod = snap
                    .pod(s(&r.pod, "/metadata/namespace"), healthy[i])
                    .cloned();
            }
        }
        match self.upstreams.admit(client, &cluster, Limits::of(pool)) {
            Some(ticket) => Ok((
                pod,
                Some(Guard {
                    cluster,
                    ticket,
                    ejection,
                }),
            )),
            None => Err((
                Failure {
                    status: 503,
                    body: "upstream connect error or disconnect/reset before headers. reset reason: overflow".into(),
                    flag: "UO",
                },
                r.delay,
            )),
        }
    }
}

/// What one service call returned, in simulated time.
#[derive(Debug, Clone)]
struct Call {
    status: u16,
    elapsed: Duration,
    pod: Option<Value>,
    body: String,
}

/// What a request made from inside a pod got back (see [`DataPlane::request_from_pod`]).
#[derive(Debug, Clone)]
pub enum PodRequestOutcome {
    /// An answer, from the service's pod or from Envoy (a fault, no healthy upstream).
    Answered {
        status: u16,
        /// Simulated time until the answer.
        elapsed: Duration,
        body: String,
    },
    /// Nothing listened: no ready pod behind the Service and no sidecar to answer 503.
    Refused,
    /// The connection was reset: a plain-text client reached a sidecar in STRICT mode.
    Reset,
}

impl DataPlane {
    /// A request made by a process inside `source` (`kubectl exec ... curl`) to the Service
    /// `host` (as `resolve_host` reads it from the pod's namespace). Through the pod's sidecar
    /// it is a mesh hop like any other (VirtualService matches, weights and faults apply);
    /// without one it goes straight to one of the Service's ready pods, as kube-proxy does.
    pub fn request_from_pod(
        &self,
        source: &Value,
        host: &str,
        req: &MeshRequest,
        through_sidecar: bool,
    ) -> PodRequestOutcome {
        let snap = self.snapshot();
        let ns = s(source, "/metadata/namespace");
        let call = if through_sidecar {
            self.call(&snap, host, ns, req, source, Duration::MAX)
        } else {
            match self.direct(&snap, source, host, ns, req) {
                Direct::Served(call) => call,
                Direct::Refused => return PodRequestOutcome::Refused,
                Direct::Reset => return PodRequestOutcome::Reset,
            }
        };
        PodRequestOutcome::Answered {
            status: call.status,
            elapsed: call.elapsed,
            body: call.body,
        }
    }

    /// A request that leaves a pod without passing a sidecar: kube-proxy sends it to one of
    /// the Service's ready pods, and no VirtualService, DestinationRule or fault applies.
    fn direct(
        &self,
        snap: &Snapshot,
        source: &Value,
        host: &str,
        ns: &str,
        req: &MeshRequest,
    ) -> Direct {
        let target = resolve_host(host, ns);
        let Ok(pods) = self.endpoints(snap, &target, None) else {
            return Direct::Refused;
        };
        let i = ((self.rand() * pods.len() as f64) as usize).min(pods.len() - 1);
        let pod = pods[i];
        // A STRICT sidecar's inbound listener has no plain-text filter chain: the
        // connection is closed before any HTTP is read, so the client sees a reset and no
        // proxy reports a request (istio_requests_total counts HTTP requests; Envoy counts
        // this only in its listener's no_filter_chain_match statistic, not simulated).
        if crate::inject::already_injected(pod) && snap.peer_mode(pod) == MtlsMode::Strict {
            return Direct::Reset;
        }
        let inner = self.serve(snap, pod, req);
        let mut call = inner.clone();
        call.elapsed += self.hop_latency();
        // Only the destination's sidecar, if it has one, sees this request.
        let at = Outcome {
            code: inner.status,
            flag: None,
            duration: inner.elapsed,
        };
        self.metrics.record(&HopRecord {
            source,
            source_proxied: false,
            mutual_tls: false,
            service_host: &target.fqdn(),
            destination: Some(pod),
            at_source: Some(at),
            at_destination: Some(at),
            completes_after: call.elapsed,
        });
        Direct::Served(call)
    }
}

/// What a request sent without a sidecar got.
enum Direct {
    Served(Call),
    /// No ready pod behind the Service: nothing accepts the connection.
    Refused,
    /// The destination's sidecar requires mutual TLS and closed the plain-text connection.
    Reset,
}

impl DataPlane {
    /// A call through the caller's sidecar, with the application's own timeout.
    fn call(
        &self,
        snap: &Snapshot,
        host: &str,
        ns: &str,
        req: &MeshRequest,
        source_pod: &Value,
        app_timeout: Duration,
    ) -> Call {
        // An application pod without a sidecar (Bookinfo deployed without injection) is not
        // routed by the mesh either.
        if !crate::inject::already_injected(source_pod) {
            return match self.direct(snap, source_pod, host, ns, req) {
                Direct::Served(call) => call,
                Direct::Refused | Direct::Reset => Call {
                    status: 0,
                    elapsed: Duration::ZERO,
                    pod: None,
                    body: String::new(),
                },
            };
        }
        let lat = self.hop_latency();
        let source = source_pod
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let hop = self.route_mesh(snap, host, ns, req, source);
        self.forward(
            snap,
            hop,
            req,
            Some(source_pod),
            &resolve_host(host, ns).fqdn(),
            lat,
            Some(app_timeout),
        )
    }

    /// A routed request leaving a proxy: the destination serves it unless the route failed,
    /// the route's timeout or the sending application's own cuts it short; the route's
    /// retry policy tries again; both proxies count the hop in the metrics (the destination
    /// every try that reached it, the source the request once).
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        snap: &Snapshot,
        hop: Hop,
        req: &MeshRequest,
        source_pod: Option<&Value>,
        called_host: &str,
        lat: Duration,
        app_timeout: Option<Duration>,
    ) -> Call {
        let mut flag: Option<&'static str>;
        let mut service = called_host.to_string();
        // The pod the final try reached, when it was reached: (pod, its answer, when it got
        // the request, counted from the start of the hop).
        let mut reached: Option<(Value, Call, Duration)> = None;
        let client = source_pod.map(|p| s(p, "/metadata/name")).unwrap_or("");
        let mut call = match hop {
            // Faults are answered by Envoy's fault filter, before the router: the route's
            // retries never see them (istio/istio#13705).
            Hop::Failed { failure, delay } => {
                flag = Some(failure.flag);
                Call {
                    status: failure.status,
                    elapsed: delay + lat,
                    pod: None,
                    body: failure.body,
                }
            }
            Hop::Routed(mut r) => {
                service = r.host.clone();
                let policy = RetryPolicy::of(r.retries.as_ref());
                // Time since the hop started: the injected delay, then the tries.
                let mut spent = r.delay;
                let mut tries = 0;
                loop {
                    if tries > 0 {
                        // Envoy's default back-off: 25 ms base interval, doubled per retry,
                        // fully jittered; and a host picked again.
                        let cap = 25.0 * f64::from(1u32 << (tries - 1).min(3));
                        spent += Duration::from_micros((self.rand() * cap * 1000.0) as u64);
                        let i = ((self.rand() * r.endpoints.len() as f64) as usize)
                            .min(r.endpoints.len().saturating_sub(1));
                        if let Some(p) = r
                            .endpoints
                            .get(i)
                            .and_then(|name| snap.pod(s(&r.pod, "/metadata/namespace"), name))
                        {
                            r.pod = p.clone();
                        }
                    }
                    let a = self.attempt(snap, &r, req, client, lat, policy.per_try_timeout);
                    let ends = spent + a.call.elapsed;
                    if let Some(t) = r.timeout
                        && ends > t
                    {
                        // The route's timeout bounds every try together.
                        flag = Some("UT");
                        reached = a.reached.map(|(pod, inner, at)| (pod, inner, spent + at));
                        break Call {
                            status: 504,
                            elapsed: t,
                            pod: None,
                            body: "upstream request timeout".into(),
                        };
                    }
                    let retriable = a.upstream && policy.retries(a.call.status, a.flag);
                    if retriable && tries < policy.attempts {
                        // This try ends here; only the destination saw it.
                        if let (Some(source), Some((pod, inner, at))) = (source_pod, &a.reached) {
                            let at_destination = if a.call.pod.is_some() {
                                Outcome {
                                    code: inner.status,
                                    flag: None,
                                    duration: inner.elapsed,
                                }
                            } else {
                                Outcome {
                                    code: 0,
                                    flag: Some("DC"),
                                    duration: a.call.elapsed.saturating_sub(*at),
                                }
                            };
                            self.metrics.record(&HopRecord {
                                source,
                                source_proxied: crate::inject::already_injected(source),
                                mutual_tls: snap.peer_mode(pod) != MtlsMode::Disable,
                                service_host: &service,
                                destination: Some(pod),
                                at_source: None,
                                at_destination: Some(at_destination),
                                completes_after: ends,
                            });
                        }
                        spent = ends;
                        tries += 1;
                        continue;
                    }
                    flag = match a.flag {
                        None if retriable && policy.attempts > 0 => Some("URX"),
                        None if !r.delay.is_zero() => Some("DI"),
                        f => f,
                    };
                    reached = a.reached.map(|(pod, inner, at)| (pod, inner, spent + at));
                    break Call {
                        elapsed: ends,
                        ..a.call
                    };
                }
            }
        };
        if let Some(limit) = app_timeout
            && call.elapsed > limit
        {
            flag = Some("DC");
            call = Call {
                status: 0,
                elapsed: limit,
                pod: None,
                body: "timeout".into(),
            };
        }
        if let Some(source) = source_pod {
            let gave_up = call.elapsed;
            // A request still held back by an injected delay when the sender gave up never
            // reached the destination; one cut short while being served ends there as a
            // downstream disconnect.
            let at_destination = reached
                .as_ref()
                .filter(|(_, _, arrived)| *arrived < gave_up || call.pod.is_some())
                .map(|(_, inner, arrived)| {
                    if call.pod.is_some() {
                        Outcome {
                            code: inner.status,
                            flag: None,
                            duration: inner.elapsed,
                        }
                    } else {
                        Outcome {
                            code: 0,
                            flag: Some("DC"),
                            duration: gave_up.saturating_sub(*arrived),
                        }
                    }
                });
            let mutual_tls = reached
                .as_ref()
                .is_none_or(|(pod, _, _)| snap.peer_mode(pod) != MtlsMode::Disable);
            self.metrics.record(&HopRecord {
                source,
                source_proxied: crate::inject::already_injected(source),
                mutual_tls,
                service_host: &service,
                destination: reached
                    .as_ref()
                    .filter(|_| at_destination.is_some())
                    .map(|(pod, _, _)| pod),
                at_source: Some(Outcome {
                    code: call.status,
                    flag,
                    duration: call.elapsed,
                }),
                at_destination,
                completes_after: call.elapsed,
            });
        }
        call
    }

    /// One try of a routed request: past outlier detection and the connection pool to the
    /// pod, cut at the per-try timeout. Times are counted from the start of the try.
    fn attempt(
        &self,
        snap: &Snapshot,
        r: &Routed,
        req: &MeshRequest,
        client: &str,
        lat: Duration,
        per_try_timeout: Option<Duration>,
    ) -> Attempt {
        let (other, guard) = match self.admit(snap, r, client) {
            Err((failure, _)) => {
                return Attempt {
                    call: Call {
                        status: failure.status,
                        elapsed: lat,
                        pod: None,
                        body: failure.body,
                    },
                    flag: Some(failure.flag),
                    upstream: false,
                    reached: None,
                };
            }
            Ok(x) => x,
        };
        let pod = other.as_ref().unwrap_or(&r.pod);
        let inner = self.serve(snap, pod, req);
        let wait = guard.as_ref().map(|g| g.ticket.wait).unwrap_or_default();
        let arrived = wait + lat;
        let elapsed = arrived + inner.elapsed;
        let (call, flag) = match per_try_timeout {
            Some(t) if elapsed > t => (
                Call {
                    status: 504,
                    elapsed: t,
                    pod: None,
                    body: "upstream request timeout".into(),
                },
                Some("UT"),
            ),
            _ => (
                Call {
                    elapsed,
                    ..inner.clone()
                },
                None,
            ),
        };
        if let Some(g) = guard {
            self.upstreams.finish(
                client,
                &g.cluster,
                g.ticket,
                call.elapsed.saturating_sub(wait),
            );
            if let Some(rule) = g.ejection {
                self.upstreams.outcome(
                    client,
                    &g.cluster,
                    s(pod, "/metadata/name"),
                    r.endpoints.len(),
                    call.status,
                    rule,
                );
            }
        }
        Attempt {
            call,
            flag,
            upstream: true,
            reached: Some((pod.clone(), inner, arrived)),
        }
    }

    /// The Bookinfo application code of the pod that received a request.
    fn serve(&self, snap: &Snapshot, pod: &Value, req: &MeshRequest) -> Call {
        let app = s(pod, "/metadata/labels/app");
        let version = s(pod, "/metadata/labels/version");
        let ns = s(pod, "/metadata/namespace");
        let work = if self.cfg.latency {
            Duration::from_micros(500 + (self.rand() * 1_500.0) as u64)
        } else {
            Duration::ZERO
        };
        let mut downstream = req.clone();
        downstream.authority = String::new();
        match app {
            "productpage" => {
                let path = req.path.split('?').next().unwrap_or("");
                match path {
                    "/productpage" => {
                        let mut elapsed = work;
                        downstream.path = "/details/0".into();
                        downstream.authority = "details:9080".into();
                        let details = self.call(snap, "details", ns, &downstream, pod, Duration::from_secs(3));
                        elapsed += details.elapsed;
                        downstream.path = "/reviews/0".into();
                        downstream.authority = "reviews:9080".into();
                        // productpage retries reviews once after its 3 s timeout.
                        let mut reviews = self.call(snap, "reviews", ns, &downstream, pod, Duration::from_secs(3));
                        if reviews.status != 200 {
                            let again = self.call(snap, "reviews", ns, &downstream, pod, Duration::from_secs(3));
                            reviews = Call { elapsed: reviews.elapsed + again.elapsed, ..again };
                        }
                        elapsed += reviews.elapsed;
                        let user = req.headers.get("end-user").cloned();
                        Call { status: 200, elapsed, pod: Some(pod.clone()), body: product_page(&details, &reviews, user.as_deref()) }
                    }
                    // Bookinfo's productpage answers its index page on these two paths.
                    "/" | "/index.html" => Call {
                        status: 200,
                        elapsed: work,
                        pod: Some(pod.clone()),
                        body: "<html><body><h3>Simple Bookstore App (simulated)</h3><a href=\"productpage?u=normal\">Normal user</a></body></html>".into(),
                    },
                    p if p.starts_with("/static") => Call { status: 200, elapsed: work, pod: Some(pod.clone()), body: "/* static asset (simulated) */".into() },
                    "/login" | "/logout" => Call { status: 302, elapsed: work, pod: Some(pod.clone()), body: String::new() },
                    p if p.starts_with("/api/v1/products") => Call {
                        status: 200,
                        elapsed: work,
                        pod: Some(pod.clone()),
                        body: r#"[{"id": 0, "title": "The Comedy of Errors", "descriptionHtml": "A Shakespeare comedy of two pairs of twins (simulated catalogue)."}]"#.into(),
                    },
                    _ => Call { status: 404, elapsed: work, pod: Some(pod.clone()), body: "Not Found".into() },
                }
            }
            // httpbin, the server of Istio's circuit-breaking and security tasks: the
            // endpoints those tasks call.
            "httpbin" => {
                let path = req.path.split('?').next().unwrap_or("");
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let (status, elapsed) = match (parts.next(), parts.next()) {
                    (Some("status"), Some(codes)) => (self.httpbin_status(codes), work),
                    (Some("delay"), Some(secs)) => (
                        200,
                        work + Duration::from_secs_f64(
                            secs.parse::<f64>().unwrap_or(0.0).clamp(0.0, 10.0),
                        ),
                    ),
                    _ => (200, work),
                };
                Call {
                    status,
                    elapsed,
                    pod: Some(pod.clone()),
                    body: if status == 200 {
                        format!("{{\"url\": \"http://{}{}\"}}", req.authority, req.path)
                    } else {
                        String::new()
                    },
                }
            }
            "details" => Call {
                status: 200,
                elapsed: work,
                pod: Some(pod.clone()),
                body: format!("details-{version}"),
            },
            "ratings" => Call {
                status: 200,
                elapsed: work,
                pod: Some(pod.clone()),
                body: "{\"Reviewer1\": 5, \"Reviewer2\": 4}".into(),
            },
            "reviews" => {
                let mut elapsed = work;
                let mut body = format!("reviews-{version}");
                if version == "v2" || version == "v3" {
                    downstream.path = "/ratings/0".into();
                    downstream.authority = "ratings:9080".into();
                    let timeout = if version == "v2" {
                        Duration::from_secs(10)
                    } else {
                        Duration::from_millis(2500)
                    };
                    let ratings = self.call(snap, "ratings", ns, &downstream, pod, timeout);
                    elapsed += ratings.elapsed;
                    if ratings.status != 200 {
                        body.push_str(";ratings-unavailable");
                    }
                }
                Call {
                    status: 200,
                    elapsed,
                    pod: Some(pod.clone()),
                    body,
                }
            }
            _ => Call {
                status: 200,
                elapsed: work,
                pod: Some(pod.clone()),
                body: String::new(),
            },
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn product_page(details: &Call, reviews: &Call, user: Option<&str>) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Simple Bookstore App</title>\n</head>\n<body>\n",
    );
    html.push_str(
        "<nav><b>Simple Bookstore App</b> <small>(Istio Playground simulated cluster)</small> ",
    );
    match user {
        Some(u) => html.push_str(&format!("<span>Signed in as <b>{}</b></span>", escape(u))),
        None => html.push_str("<span>Sign in</span>"),
    }
    html.push_str("</nav>\n<h2>The Comedy of Errors</h2>\n");
    if details.status == 200 {
        html.push_str("<h4>Book Details</h4>\n<dl><dt>Type:</dt><dd>paperback</dd><dt>Pages:</dt><dd>200</dd><dt>Language:</dt><dd>English</dd></dl>\n");
    } else {
        html.push_str("<h4>Error fetching product details!</h4>\n<p>Sorry, product details are currently unavailable for this book.</p>\n");
    }
    let reviews_pod = reviews
        .pod
        .as_ref()
        .map(|p| s(p, "/metadata/name").to_string());
    let version = reviews
        .pod
        .as_ref()
        .map(|p| s(p, "/metadata/labels/version").to_string())
        .unwrap_or_default();
    if reviews.status == 200 {
        html.push_str("<h4>Book Reviews</h4>\n");
        let ratings_down = reviews.body.contains("ratings-unavailable");
        for (who, text, stars) in [
            (
                "Reviewer1",
                "Two sets of twins and one long day: a farce that still lands.",
                5,
            ),
            (
                "Reviewer2",
                "Quick, silly and clever; the mix-ups never get old.",
                4,
            ),
        ] {
            html.push_str(&format!("<blockquote><p>{text}</p><small>{who}</small>"));
            match version.as_str() {
                "v2" | "v3" if ratings_down => {
                    html.push_str("<p><i>Ratings service is currently unavailable</i></p>")
                }
                "v2" | "v3" => {
                    let color = if version == "v2" { "black" } else { "red" };
                    let glyphs: String = "\u{2605}".repeat(stars) + &"\u{2606}".repeat(5 - stars);
                    html.push_str(&format!(
                        "<p class=\"stars\"><font color=\"{color}\">{glyphs}</font></p>"
                    ));
                }
                _ => {}
            }
            html.push_str("</blockquote>\n");
        }
        if let Some(pod) = reviews_pod {
            html.push_str(&format!(
                "<dl><dt>Reviews served by:</dt><dd><u>{}</u></dd></dl>\n",
                escape(&pod)
            ));
        }
    } else {
        html.push_str("<h4>Error fetching product reviews!</h4>\n<p>Sorry, product reviews are currently unavailable for this book.</p>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

async fn handle(State(dp): State<Arc<DataPlane>>, req: Request) -> Response {
    let span =
        tracing::debug_span!("sim_ingress", method = %req.method(), path = %req.uri().path());
    async move {
        let mut headers = BTreeMap::new();
        for (k, v) in req.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(k.as_str().to_lowercase(), v.to_string());
            }
        }
        // Bookinfo's login keeps the user in a session cookie and forwards it as end-user.
        if !headers.contains_key("end-user")
            && let Some(user) = headers.get("cookie").and_then(|c| {
                c.split(';')
                    .find_map(|kv| kv.trim().strip_prefix("session=").map(String::from))
            })
            && !user.is_empty()
        {
            headers.insert("end-user".into(), user);
        }
        let authority = headers.get("host").cloned().unwrap_or_default();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let mreq = MeshRequest {
            method: req.method().as_str().to_string(),
            path: path.clone(),
            authority,
            headers: headers.clone(),
        };
        let login_user = if req.method() == axum::http::Method::POST && req.uri().path() == "/login"
        {
            let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            String::from_utf8_lossy(&body)
                .split('&')
                .find_map(|kv| kv.strip_prefix("username=").map(String::from))
        } else {
            None
        };
        let snap = dp.snapshot();
        let lat = dp.hop_latency();
        let hop = dp.route_ingress(&snap, &mreq);
        let gateway = snap
            .pods
            .iter()
            .find(|p| s(p, "/metadata/labels/istio") == "ingressgateway");
        let host = mreq.authority.split(':').next().unwrap_or("").to_string();
        let Call {
            status,
            elapsed,
            body,
            ..
        } = dp.forward(&snap, hop, &mreq, gateway, &host, lat, None);
        if !elapsed.is_zero() {
            tokio::time::sleep(elapsed).await;
        }
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let ctype = if body.starts_with("<!DOCTYPE") {
            "text/html; charset=utf-8"
        } else {
            "text/plain"
        };
        let mut resp = Response::builder()
            .status(code)
            .header(header::CONTENT_TYPE, ctype)
            .header(header::SERVER, "istio-envoy")
            .header(
                "x-envoy-upstream-service-time",
                elapsed.as_millis().to_string(),
            );
        if status == 302 {
            resp = resp.header(header::LOCATION, "/productpage");
            match login_user {
                Some(u) => resp = resp.header(header::SET_COOKIE, format!("session={u}; Path=/")),
                None if path.starts_with("/logout") => {
                    resp = resp.header(header::SET_COOKIE, "session=; Path=/; Max-Age=0")
                }
                None => {}
            }
        }
        let mut r = resp
            .body(Body::from(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        r.headers_mut()
            .insert("x-istio-playground", HeaderValue::from_static("simulated"));
        r
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> MeshRequest {
        MeshRequest {
            method: method.into(),
            path: path.into(),
            authority: "reviews:9080".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn matcher(v: Value) -> HttpMatchRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn retry_on_conditions_cover_what_envoy_retries() {
        let policy = |on: &str| {
            RetryPolicy::of(Some(
                &serde_json::from_value(json!({"attempts": 2, "retryOn": on})).unwrap(),
            ))
        };
        let p = policy("5xx");
        assert!(p.retries(500, None) && p.retries(504, Some("UT")));
        assert!(!p.retries(404, None) && !p.retries(200, None));
        let p = policy("gateway-error");
        assert!(p.retries(503, None) && !p.retries(500, None));
        let p = policy("retriable-4xx,429");
        assert!(p.retries(409, None) && p.retries(429, None) && !p.retries(404, None));
        let p = policy("reset");
        assert!(p.retries(504, Some("UT")) && !p.retries(503, None));
        assert!(
            !RetryPolicy::of(None).retries(503, None),
            "no policy, no retries"
        );
    }

    #[test]
    fn requests_match_the_way_envoy_reads_a_route() {
        let get = request(
            "GET",
            "/Reviews/0?x=1",
            &[("end-user", "jason"), ("x-debug", "")],
        );
        let m = matcher(json!({"uri": {"prefix": "/reviews"}, "ignoreUriCase": true}));
        assert!(match_request(&m, &get, None, None));
        let m = matcher(json!({"uri": {"prefix": "/reviews"}}));
        assert!(!match_request(&m, &get, None, None));
        let m = matcher(json!({"uri": {"regex": "/Rev.*"}, "method": {"exact": "GET"}}));
        assert!(match_request(&m, &get, None, None));
        let m = matcher(json!({"headers": {"End-User": {"exact": "jason"}, "x-debug": {}}}));
        assert!(match_request(&m, &get, None, None));
        let m = matcher(json!({"headers": {"x-missing": {}}}));
        assert!(!match_request(&m, &get, None, None));
        let m = matcher(json!({"withoutHeaders": {"end-user": {"prefix": "ja"}}}));
        assert!(!match_request(&m, &get, None, None));

        let labels = json!({"app": "productpage", "version": "v1"});
        let source = labels.as_object();
        let m = matcher(json!({"sourceLabels": {"app": "productpage"}}));
        assert!(match_request(&m, &get, source, None));
        assert!(!match_request(&m, &get, None, None), "no caller labels");
        let m = matcher(json!({"gateways": ["istio-system/bookinfo-gateway"]}));
        assert!(match_request(&m, &get, None, Some("bookinfo-gateway")));
        assert!(!match_request(&m, &get, None, None), "from a sidecar");
        let m = matcher(json!({"gateways": ["mesh"]}));
        assert!(match_request(&m, &get, source, None));
    }
}
