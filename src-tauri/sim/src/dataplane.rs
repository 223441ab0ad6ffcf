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
    DestinationRule, Gateway, HttpMatchRequest, HttpRoute, HttpRouteDestination, Labels,
    ResolvedHost, Resource, Spec, StringMatch, StringRule, VirtualService, host_matches,
    resolve_host, selects,
};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::clock::SimRng;
use crate::controller::pod_is_ready;
use crate::selector::LabelSelector;
use crate::store::Store;

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
}

pub fn router(dp: Arc<DataPlane>) -> Router {
    Router::new().fallback(handle).with_state(dp)
}

impl DataPlane {
    pub fn new(store: Arc<Store>, rng: SimRng, cfg: DataPlaneConfig) -> Self {
        DataPlane {
            store,
            rng: Mutex::new(rng),
            cfg,
            cache: Mutex::new(None),
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
}

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
        }
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
    /// Injected delay before the request reached the pod.
    pub delay: Duration,
    /// The route's timeout, if the VirtualService set one.
    pub timeout: Option<Duration>,
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
                    delay,
                    timeout,
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
                        delay: Duration::ZERO,
                        timeout: None,
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
        let timeout = h.timeout.as_ref().and_then(|t| t.to_std().ok());
        match self.pick_weighted(&h.route) {
            Some(dest) => self.to_destination(snap, dest, vs.namespace(), delay, timeout),
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
            let labels = source
                .pointer("/metadata/labels")
                .and_then(Value::as_object);
            self.call(&snap, host, ns, req, labels, Duration::MAX)
        } else {
            match self.endpoints(&snap, &resolve_host(host, ns), None) {
                Ok(pods) => {
                    let i = ((self.rand() * pods.len() as f64) as usize).min(pods.len() - 1);
                    let mut call = self.serve(&snap, pods[i], req);
                    call.elapsed += self.hop_latency();
                    call
                }
                Err(_) => return PodRequestOutcome::Refused,
            }
        };
        PodRequestOutcome::Answered {
            status: call.status,
            elapsed: call.elapsed,
            body: call.body,
        }
    }
}

impl DataPlane {
    /// A call through the caller's sidecar, with the application's own timeout.
    fn call(
        &self,
        snap: &Snapshot,
        host: &str,
        ns: &str,
        req: &MeshRequest,
        source: Option<&Map<String, Value>>,
        app_timeout: Duration,
    ) -> Call {
        let lat = self.hop_latency();
        let hop = self.route_mesh(snap, host, ns, req, source);
        let mut call = match hop {
            Hop::Failed { failure, delay } => Call {
                status: failure.status,
                elapsed: delay + lat,
                pod: None,
                body: failure.body,
            },
            Hop::Routed(r) => {
                let inner = self.serve(snap, &r.pod, req);
                let elapsed = r.delay + lat + inner.elapsed;
                match r.timeout {
                    Some(t) if elapsed > t => Call {
                        status: 504,
                        elapsed: t,
                        pod: None,
                        body: "upstream request timeout".into(),
                    },
                    _ => Call { elapsed, ..inner },
                }
            }
        };
        if call.elapsed > app_timeout {
            call = Call {
                status: 0,
                elapsed: app_timeout,
                pod: None,
                body: "timeout".into(),
            };
        }
        call
    }

    /// The Bookinfo application code of the pod that received a request.
    fn serve(&self, snap: &Snapshot, pod: &Value, req: &MeshRequest) -> Call {
        let app = s(pod, "/metadata/labels/app");
        let version = s(pod, "/metadata/labels/version");
        let ns = s(pod, "/metadata/namespace");
        let labels = pod.pointer("/metadata/labels").and_then(Value::as_object);
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
                        let details = self.call(snap, "details", ns, &downstream, labels, Duration::from_secs(3));
                        elapsed += details.elapsed;
                        downstream.path = "/reviews/0".into();
                        downstream.authority = "reviews:9080".into();
                        // productpage retries reviews once after its 3 s timeout.
                        let mut reviews = self.call(snap, "reviews", ns, &downstream, labels, Duration::from_secs(3));
                        if reviews.status == 0 {
                            let again = self.call(snap, "reviews", ns, &downstream, labels, Duration::from_secs(3));
                            reviews = Call { elapsed: reviews.elapsed + again.elapsed, ..again };
                        }
                        elapsed += reviews.elapsed;
                        let user = req.headers.get("end-user").cloned();
                        Call { status: 200, elapsed, pod: Some(pod.clone()), body: product_page(&details, &reviews, user.as_deref()) }
                    }
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
                    let ratings = self.call(snap, "ratings", ns, &downstream, labels, timeout);
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
        let (status, elapsed, body) = match dp.route_ingress(&snap, &mreq) {
            Hop::Failed { failure, delay } => (failure.status, delay + lat, failure.body),
            Hop::Routed(r) => {
                let call = dp.serve(&snap, &r.pod, &mreq);
                let elapsed = r.delay + lat + call.elapsed;
                match r.timeout {
                    Some(t) if elapsed > t => (504, t, "upstream request timeout".to_string()),
                    _ => (call.status, elapsed, call.body),
                }
            }
        };
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
