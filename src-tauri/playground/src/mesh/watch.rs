//! Watches the cluster and streams the mesh: a snapshot once every watched kind has listed,
//! then a diff after each change, and status changes while a watch reconnects.
//!
//! One kube-runtime watcher per kind (with backoff, so they recover by themselves when the
//! API server restarts) writes pruned objects into one `MeshInputs`; a single rebuild task
//! turns bursts of events into one rebuild and one diff.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use ::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use ::kube::runtime::{WatchStreamExt, watcher};
use ::kube::{Client, Resource};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::inputs::*;
use super::model::{MeshEvent, MeshSnapshot, WatchStatus};
use super::{build, diff};
use crate::{Error, Result};

/// Istio kinds the model reads, as (group, version, kind, plural).
pub const ISTIO_KINDS: &[(&str, &str, &str, &str)] = &[
    ("networking.istio.io", "v1", "Gateway", "gateways"),
    (
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
    ),
    (
        "networking.istio.io",
        "v1",
        "DestinationRule",
        "destinationrules",
    ),
    (
        "security.istio.io",
        "v1",
        "PeerAuthentication",
        "peerauthentications",
    ),
];

#[derive(Default)]
struct Shared {
    inputs: MeshInputs,
    /// Kinds whose first list is complete.
    synced: BTreeSet<&'static str>,
    /// Kinds whose watch is failing, with the error.
    failing: BTreeMap<&'static str, String>,
    /// Set when the UI should get a fresh snapshot rather than a diff.
    resync: bool,
}

/// Stops every watch task when dropped.
pub struct MeshWatch {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MeshWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

const KIND_COUNT: usize = 5 + ISTIO_KINDS.len();

/// Starts watching; events arrive on the returned receiver until the `MeshWatch` is dropped.
pub fn spawn(client: Client) -> (mpsc::Receiver<MeshEvent>, MeshWatch) {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let notify = Arc::new(Notify::new());
    let (tx, rx) = mpsc::channel(64);
    let mut tasks = Vec::new();
    let ctx = Ctx {
        shared: shared.clone(),
        notify: notify.clone(),
    };

    tasks.push(ctx.watch_typed::<Namespace, String, _>(
        Api::all(client.clone()),
        "namespaces",
        |o| NamespaceInfo::from_k8s(o).map(|n| (n.name.clone(), n)),
        |i| &mut i.namespaces,
    ));
    tasks.push(ctx.watch_typed::<Pod, Key, _>(
        Api::all(client.clone()),
        "pods",
        |o| PodInfo::from_k8s(o).map(|p| ((p.namespace.clone(), p.name.clone()), p)),
        |i| &mut i.pods,
    ));
    tasks.push(ctx.watch_typed::<Service, Key, _>(
        Api::all(client.clone()),
        "services",
        |o| ServiceInfo::from_k8s(o).map(|s| ((s.namespace.clone(), s.name.clone()), s)),
        |i| &mut i.services,
    ));
    tasks.push(ctx.watch_typed::<Deployment, Key, _>(
        Api::all(client.clone()),
        "deployments",
        |o| DeploymentInfo::from_k8s(o).map(|d| ((d.namespace.clone(), d.name.clone()), d)),
        |i| &mut i.deployments,
    ));
    tasks.push(ctx.watch_typed::<EndpointSlice, Key, _>(
        Api::all(client.clone()),
        "endpointslices",
        |o| {
            let name = o.metadata.name.clone()?;
            EndpointSliceInfo::from_k8s(o).map(|e| ((e.namespace.clone(), name), e))
        },
        |i| &mut i.endpoint_slices,
    ));
    for &(group, version, kind, plural) in ISTIO_KINDS {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        tasks.push(match kind {
            "Gateway" => {
                ctx.watch_dynamic(api, "gateways", GatewayInfo::from_json, |i| &mut i.gateways)
            }
            "VirtualService" => {
                ctx.watch_dynamic(api, "virtualservices", VirtualServiceInfo::from_json, |i| {
                    &mut i.virtual_services
                })
            }
            "DestinationRule" => ctx.watch_dynamic(
                api,
                "destinationrules",
                DestinationRuleInfo::from_json,
                |i| &mut i.destination_rules,
            ),
            _ => ctx.watch_dynamic(
                api,
                "peerauthentications",
                PeerAuthenticationInfo::from_json,
                |i| &mut i.peer_authentications,
            ),
        });
    }
    tasks.push(tokio::spawn(rebuild_loop(shared, notify, tx)));
    (rx, MeshWatch { tasks })
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
}

impl Ctx {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches one typed kind, keeping `table(inputs)` equal to the cluster's objects.
    fn watch_typed<K, KK, T>(
        &self,
        api: Api<K>,
        kind: &'static str,
        convert: fn(&K) -> Option<(KK, T)>,
        table: fn(&mut MeshInputs) -> &mut BTreeMap<KK, T>,
    ) -> JoinHandle<()>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        KK: Ord + Clone + Send + 'static,
        T: Send + 'static,
    {
        let ctx = self.clone();
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut buffer: Option<BTreeMap<KK, T>> = None;
            while let Some(item) = stream.next().await {
                ctx.handle_with(kind, item, &mut buffer, &convert, table);
            }
        })
    }

    /// Watches an Istio kind through the dynamic API; a missing CRD means "not installed".
    fn watch_dynamic<T: Send + 'static>(
        &self,
        api: Api<DynamicObject>,
        kind: &'static str,
        from_json: fn(&serde_json::Value) -> Option<T>,
        table: fn(&mut MeshInputs) -> &mut BTreeMap<Key, T>,
    ) -> JoinHandle<()> {
        let ctx = self.clone();
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut buffer: Option<BTreeMap<Key, T>> = None;
            while let Some(item) = stream.next().await {
                let item = item.map(to_json_event);
                let convert = |v: &serde_json::Value| -> Option<(Key, T)> {
                    let t = from_json(v)?;
                    let m = v.get("metadata")?;
                    Some((
                        (
                            m.get("namespace")?.as_str()?.to_owned(),
                            m.get("name")?.as_str()?.to_owned(),
                        ),
                        t,
                    ))
                };
                ctx.handle_with(kind, item, &mut buffer, &convert, table);
            }
        })
    }

    /// Applies one watcher event to the kind's table (buffering a relist until it is complete).
    fn handle_with<K, KK: Ord, T>(
        &self,
        kind: &'static str,
        item: std::result::Result<watcher::Event<K>, watcher::Error>,
        buffer: &mut Option<BTreeMap<KK, T>>,
        convert: &dyn Fn(&K) -> Option<(KK, T)>,
        table: fn(&mut MeshInputs) -> &mut BTreeMap<KK, T>,
    ) {
        let mut s = self.lock();
        let changed = match item {
            Ok(event) => {
                if s.failing.remove(kind).is_some() {
                    tracing::info!(kind, "watch recovered");
                    s.resync = true;
                }
                match event {
                    watcher::Event::Init => {
                        *buffer = Some(BTreeMap::new());
                        false
                    }
                    watcher::Event::InitApply(o) => {
                        if let (Some(b), Some((k, v))) = (buffer.as_mut(), convert(&o)) {
                            b.insert(k, v);
                        }
                        false
                    }
                    watcher::Event::InitDone => {
                        *table(&mut s.inputs) = buffer.take().unwrap_or_default();
                        s.synced.insert(kind);
                        true
                    }
                    watcher::Event::Apply(o) => {
                        if let Some((k, v)) = convert(&o) {
                            table(&mut s.inputs).insert(k, v);
                        }
                        true
                    }
                    watcher::Event::Delete(o) => {
                        if let Some((k, _)) = convert(&o) {
                            table(&mut s.inputs).remove(&k);
                        }
                        true
                    }
                }
            }
            Err(e) if is_not_found(&e) => {
                // The CRD is not installed (yet): an empty kind, not a lost connection.
                if s.synced.insert(kind) {
                    table(&mut s.inputs).clear();
                    true
                } else {
                    false
                }
            }
            Err(e) => {
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
                s.failing.insert(kind, e.to_string());
                true
            }
        };
        drop(s);
        if changed {
            self.notify.notify_one();
        }
    }
}

fn to_json_event(ev: watcher::Event<DynamicObject>) -> watcher::Event<serde_json::Value> {
    let json = |o: DynamicObject| serde_json::to_value(o).unwrap_or(serde_json::Value::Null);
    match ev {
        watcher::Event::Apply(o) => watcher::Event::Apply(json(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(json(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(json(o)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

fn is_not_found(e: &watcher::Error) -> bool {
    let api_code = |err: &::kube::Error| match err {
        ::kube::Error::Api(status) => status.code == 404,
        _ => false,
    };
    match e {
        watcher::Error::InitialListFailed(err)
        | watcher::Error::WatchStartFailed(err)
        | watcher::Error::WatchFailed(err) => api_code(err),
        watcher::Error::WatchError(status) => status.code == 404,
        _ => false,
    }
}

async fn rebuild_loop(
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    tx: mpsc::Sender<MeshEvent>,
) {
    let mut last: Option<MeshSnapshot> = None;
    let mut was_connected = true;
    loop {
        notify.notified().await;
        let (inputs, failing, ready, resync) = {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            let resync = std::mem::take(&mut s.resync);
            (
                s.inputs.clone(),
                s.failing.clone(),
                s.synced.len() == KIND_COUNT,
                resync,
            )
        };
        let connected = failing.is_empty();
        if connected != was_connected {
            was_connected = connected;
            let status = WatchStatus {
                connected,
                failing: failing.keys().map(|k| (*k).to_owned()).collect(),
                error: failing.values().next().cloned(),
            };
            if tx.send(MeshEvent::Status { status }).await.is_err() {
                return;
            }
        }
        if !ready || !connected {
            continue;
        }
        let snapshot = build(&inputs).into_snapshot();
        let event = match &last {
            Some(prev) if !resync => {
                let d = diff::diff(prev, &snapshot);
                if d.is_empty() {
                    continue;
                }
                MeshEvent::Diff { diff: d }
            }
            _ => MeshEvent::Snapshot {
                snapshot: snapshot.clone(),
            },
        };
        last = Some(snapshot);
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

/// The YAML of one object, for the side panel (managed fields left out: they are noise
/// for a learner).
#[tracing::instrument(skip(client))]
pub async fn object_yaml(client: Client, object: &super::model::ObjectRef) -> Result<String> {
    let (group, version) = match object.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", object.api_version.as_str()),
    };
    let plural = match object.kind.as_str() {
        "Namespace" => "namespaces",
        "Pod" => "pods",
        "Service" => "services",
        "Deployment" => "deployments",
        "Gateway" => "gateways",
        "VirtualService" => "virtualservices",
        "DestinationRule" => "destinationrules",
        "PeerAuthentication" => "peerauthentications",
        other => {
            return Err(Error::InvalidInput(format!(
                "the app cannot show objects of kind {other}"
            )));
        }
    };
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, &object.kind),
        plural,
    );
    let api: Api<DynamicObject> = match &object.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    };
    let mut obj = api.get(&object.name).await?;
    obj.metadata.managed_fields = None;
    serde_yaml_ng::to_string(&obj).map_err(|e| Error::InvalidInput(e.to_string()))
}
