//! Watches the cluster and streams the mesh: a snapshot once every watched kind has listed,
//! then a diff after each change, and the connection's state when it changes.
//!
//! One kube-runtime watcher per kind, with backoff (so it recovers by itself when the API
//! server restarts), feeds a reflector store; its task prunes each object to what the
//! model reads and sends the changes to one model task. That task folds whatever arrived
//! meanwhile into one update of the incremental model (`MeshModel`) and sends its diff.
//! After a watch fails and relists, the task sends what changed meanwhile as a diff
//! against what the receiver already has: never a second snapshot.
//!
//! Given a telemetry feed ([`spawn_with_traffic`]), the model task also lays every reading
//! onto the model as it is at that moment and sends it as `MeshEvent::Traffic`, after the
//! snapshot (a reading that arrives before it waits for it, the older ones are dropped).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::hash::Hash;

use ::kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use ::kube::runtime::reflector::store::Writer;
use ::kube::runtime::{WatchStreamExt, watcher};
use ::kube::{Client, Resource};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::diff;
use super::inputs::*;
use super::live::MeshModel;
use super::model::{GraphDiff, MeshEvent, WatchStatus};
use super::traffic;
use crate::telemetry::TelemetryUpdate;
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

const KIND_COUNT: usize = 5 + ISTIO_KINDS.len();

/// What a kind's watch task tells the model task.
#[derive(Debug)]
enum Update {
    /// Objects of the kind changed.
    Changes(Vec<Change>),
    /// The kind listed completely for the first time (or has no CRD: nothing to list).
    Synced(&'static str),
    /// The kind's watch failed; it retries with backoff.
    Failed(&'static str, String),
    /// The kind's watch answers again (a relist, if one is needed, follows as changes).
    Recovered(&'static str),
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

/// Starts watching; events arrive on the returned receiver until the `MeshWatch` is dropped.
pub fn spawn(client: Client) -> (mpsc::Receiver<MeshEvent>, MeshWatch) {
    spawn_with_traffic(client, None)
}

/// [`spawn`], with the readings of `telemetry` (see [`crate::telemetry::watch`]) laid onto
/// the model and sent as traffic events. Dropping the `MeshWatch` drops the feed's receiver,
/// which ends the telemetry watch.
pub fn spawn_with_traffic(
    client: Client,
    telemetry: Option<mpsc::Receiver<TelemetryUpdate>>,
) -> (mpsc::Receiver<MeshEvent>, MeshWatch) {
    let (updates, rx_updates) = mpsc::channel(1024);
    let (tx, rx) = mpsc::channel(64);
    let mut tasks = vec![
        watch_kind(
            Api::<Namespace>::all(client.clone()),
            Writer::default(),
            "namespaces",
            |o| NamespaceInfo::from_k8s(o).map(|n| (n.name.clone(), n)),
            Change::Namespace,
            updates.clone(),
        ),
        watch_kind(
            Api::<Pod>::all(client.clone()),
            Writer::default(),
            "pods",
            |o| PodInfo::from_k8s(o).map(|p| ((p.namespace.clone(), p.name.clone()), p)),
            Change::Pod,
            updates.clone(),
        ),
        watch_kind(
            Api::<Service>::all(client.clone()),
            Writer::default(),
            "services",
            |o| ServiceInfo::from_k8s(o).map(|s| ((s.namespace.clone(), s.name.clone()), s)),
            Change::Service,
            updates.clone(),
        ),
        watch_kind(
            Api::<Deployment>::all(client.clone()),
            Writer::default(),
            "deployments",
            |o| DeploymentInfo::from_k8s(o).map(|d| ((d.namespace.clone(), d.name.clone()), d)),
            Change::Deployment,
            updates.clone(),
        ),
        watch_kind(
            Api::<EndpointSlice>::all(client.clone()),
            Writer::default(),
            "endpointslices",
            |o| {
                let name = o.metadata.name.clone()?;
                EndpointSliceInfo::from_k8s(o).map(|e| ((e.namespace.clone(), name), e))
            },
            Change::EndpointSlice,
            updates.clone(),
        ),
    ];
    for &(group, version, kind, plural) in ISTIO_KINDS {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let writer = Writer::new(ar);
        let updates = updates.clone();
        tasks.push(match kind {
            "Gateway" => watch_kind(
                api,
                writer,
                plural,
                |o| istio_object(o, GatewayInfo::from_json),
                Change::Gateway,
                updates,
            ),
            "VirtualService" => watch_kind(
                api,
                writer,
                plural,
                |o| istio_object(o, VirtualServiceInfo::from_json),
                Change::VirtualService,
                updates,
            ),
            "DestinationRule" => watch_kind(
                api,
                writer,
                plural,
                |o| istio_object(o, DestinationRuleInfo::from_json),
                Change::DestinationRule,
                updates,
            ),
            _ => watch_kind(
                api,
                writer,
                plural,
                |o| istio_object(o, PeerAuthenticationInfo::from_json),
                Change::PeerAuthentication,
                updates,
            ),
        });
    }
    tasks.push(tokio::spawn(model_loop(rx_updates, telemetry, tx)));
    (rx, MeshWatch { tasks })
}

/// An Istio object read through its typed resource, by (namespace, name).
fn istio_object<T>(
    o: &DynamicObject,
    read: fn(&serde_json::Value) -> Option<T>,
) -> Option<(Key, T)> {
    let key = (o.metadata.namespace.clone()?, o.metadata.name.clone()?);
    let value = serde_json::to_value(o).ok()?;
    Some((key, read(&value)?))
}

/// Watches one kind into a reflector store and sends what changed, pruned. `known` is what
/// the model was last told, so a relist (the store swapped for a fresh list) is sent as the
/// objects that differ, and an event that changes nothing the model reads is not sent.
fn watch_kind<K, KK, T>(
    api: Api<K>,
    writer: Writer<K>,
    kind: &'static str,
    convert: fn(&K) -> Option<(KK, T)>,
    change: fn(KK, Option<T>) -> Change,
    updates: mpsc::Sender<Update>,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
    KK: Ord + Clone + Send + 'static,
    T: PartialEq + Clone + Send + 'static,
{
    tokio::spawn(async move {
        let store = writer.as_reader();
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .boxed();
        let mut known: BTreeMap<KK, T> = BTreeMap::new();
        let mut failing = false;
        let mut synced = false;
        while let Some(item) = stream.next().await {
            let mut out = Vec::new();
            let recovered = item.is_ok() || item.as_ref().is_err_and(is_not_found);
            if recovered && std::mem::take(&mut failing) {
                tracing::info!(kind, "watch recovered");
                out.push(Update::Recovered(kind));
            }
            let listed = match item {
                Ok(watcher::Event::Apply(o)) => {
                    if let Some((k, v)) = convert(&o)
                        && known.get(&k) != Some(&v)
                    {
                        known.insert(k.clone(), v.clone());
                        out.push(Update::Changes(vec![change(k, Some(v))]));
                    }
                    None
                }
                Ok(watcher::Event::Delete(o)) => {
                    if let Some((k, _)) = convert(&o)
                        && known.remove(&k).is_some()
                    {
                        out.push(Update::Changes(vec![change(k, None)]));
                    }
                    None
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                // The reflector has swapped its store for the complete list.
                Ok(watcher::Event::InitDone) => Some(
                    store
                        .state()
                        .iter()
                        .filter_map(|o| convert(o))
                        .collect::<BTreeMap<KK, T>>(),
                ),
                // The CRD is not installed (yet): an empty kind, not a lost connection.
                Err(e) if is_not_found(&e) => Some(BTreeMap::new()),
                Err(e) => {
                    if !failing {
                        tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
                        failing = true;
                        out.push(Update::Failed(kind, e.to_string()));
                    }
                    None
                }
            };
            if let Some(fresh) = listed {
                let changes = relist_changes(&known, &fresh, change);
                known = fresh;
                if !changes.is_empty() {
                    out.push(Update::Changes(changes));
                }
                if !std::mem::replace(&mut synced, true) {
                    out.push(Update::Synced(kind));
                }
            }
            for u in out {
                if updates.send(u).await.is_err() {
                    return;
                }
            }
        }
    })
}

/// The changes that turn `known` into `fresh`.
fn relist_changes<KK: Ord + Clone, T: PartialEq + Clone>(
    known: &BTreeMap<KK, T>,
    fresh: &BTreeMap<KK, T>,
    change: fn(KK, Option<T>) -> Change,
) -> Vec<Change> {
    let mut out: Vec<Change> = known
        .keys()
        .filter(|k| !fresh.contains_key(*k))
        .map(|k| change(k.clone(), None))
        .collect();
    out.extend(
        fresh
            .iter()
            .filter(|(k, v)| known.get(*k) != Some(*v))
            .map(|(k, v)| change(k.clone(), Some(v.clone()))),
    );
    out
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

/// The next telemetry reading; never, without a feed or once it has ended.
async fn next_reading(
    feed: &mut Option<mpsc::Receiver<TelemetryUpdate>>,
) -> Option<TelemetryUpdate> {
    match feed {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Keeps the model and sends what the receiver needs: the snapshot once every kind has
/// listed, then diffs. While a watch is failing, diffs are held (folded into one) and sent
/// right after the status that says the connection is back. Telemetry readings are laid
/// onto the model and sent as they come, once the snapshot is out.
async fn model_loop(
    mut updates: mpsc::Receiver<Update>,
    mut telemetry: Option<mpsc::Receiver<TelemetryUpdate>>,
    tx: mpsc::Sender<MeshEvent>,
) {
    let mut early_reading: Option<TelemetryUpdate> = None;
    let mut pending = MeshInputs::default();
    let mut model: Option<MeshModel> = None;
    let mut synced: BTreeSet<&'static str> = BTreeSet::new();
    let mut failing: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut held = GraphDiff::default();
    let mut was_connected = true;
    loop {
        let first = tokio::select! {
            u = updates.recv() => match u {
                Some(u) => u,
                None => return,
            },
            r = next_reading(&mut telemetry) => {
                match (r, &model) {
                    (None, _) => telemetry = None,
                    (Some(r), None) => early_reading = Some(r),
                    (Some(r), Some(m)) => {
                        let traffic = traffic::traffic_state(m.graph(), r);
                        if tx.send(MeshEvent::Traffic { traffic }).await.is_err() {
                            return;
                        }
                    }
                }
                continue;
            }
        };
        // A burst (a rollout, a relist) becomes one update of the model and one diff.
        let mut batch = vec![first];
        while let Ok(u) = updates.try_recv() {
            batch.push(u);
        }
        let mut changes = Vec::new();
        for u in batch {
            match u {
                Update::Changes(c) => changes.extend(c),
                Update::Synced(kind) => {
                    synced.insert(kind);
                }
                Update::Failed(kind, error) => {
                    failing.insert(kind, error);
                }
                Update::Recovered(kind) => {
                    failing.remove(kind);
                }
            }
        }
        let mut events = Vec::new();
        match &mut model {
            Some(m) => {
                let d = m.apply(changes);
                held = diff::merge(std::mem::take(&mut held), d);
            }
            None => {
                for c in changes {
                    pending.apply(c);
                }
                if synced.len() == KIND_COUNT {
                    let m = MeshModel::new(std::mem::take(&mut pending));
                    events.push(MeshEvent::Snapshot {
                        snapshot: m.snapshot(),
                    });
                    if let Some(r) = early_reading.take() {
                        events.push(MeshEvent::Traffic {
                            traffic: traffic::traffic_state(m.graph(), r),
                        });
                    }
                    model = Some(m);
                }
            }
        }
        let connected = failing.is_empty();
        if connected != was_connected {
            was_connected = connected;
            let status = WatchStatus {
                connected,
                failing: failing.keys().map(|k| (*k).to_owned()).collect(),
                error: failing.values().next().cloned(),
            };
            events.insert(0, MeshEvent::Status { status });
        }
        if connected && !held.is_empty() {
            events.push(MeshEvent::Diff {
                diff: std::mem::take(&mut held),
            });
        }
        for e in events {
            if tx.send(e).await.is_err() {
                return;
            }
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
