//! The mesh model kept current change by change: each change to the inputs recomputes only
//! the nodes it can affect (the object's own node, its neighbours, the validations that
//! read it), with the same per-node functions a full build uses, and the diff comes from
//! the replaced nodes and edges directly.
//!
//! What a change can affect, by kind (before and after the change):
//! - a pod: its node, its workload (readiness rolls up), and the subsets selecting that
//!   workload (whether a routed subset has a ready pod); a pod outside any workload also
//!   every service and subset of its namespace (they select it directly);
//! - a deployment: its node; when its selector or pod labels change (or it comes or goes),
//!   the pods, workloads, services and subsets of its namespace, and every Gateway when it
//!   runs an ingress gateway;
//! - a service: its node, its subsets and the VirtualServices naming it; an EndpointSlice:
//!   its service;
//! - a Gateway: its node and the VirtualServices bound to it; a VirtualService: its node
//!   and the subsets it routes to; a DestinationRule: the subsets of its host and the
//!   VirtualServices naming that host;
//! - a namespace: its node, its pods and workloads (injection); a PeerAuthentication: its
//!   namespace's node, or every namespace's in istio-system;
//! - anything that makes a namespace appear or disappear from the drawing: everything.
//!
//! A property test (`live::tests`) checks that after any sequence of changes the model
//! equals a fresh build of the same inputs, and that the diffs it returns lead there.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::build::*;
use super::graph::MeshGraph;
use super::inputs::*;
use super::model::*;

/// The inputs, the lookups across them and the graph built from them, kept in step.
#[derive(Debug, Clone)]
pub struct MeshModel {
    inputs: MeshInputs,
    ix: Index,
    graph: MeshGraph,
}

impl MeshModel {
    /// A model built from scratch.
    pub fn new(inputs: MeshInputs) -> Self {
        let ix = Index::new(&inputs);
        let entries = node_keys(&inputs, &ix)
            .into_iter()
            .filter_map(|k| compute(&inputs, &ix, &k).map(|e| (k, e)))
            .collect();
        Self {
            graph: assemble(entries),
            inputs,
            ix,
        }
    }

    pub fn inputs(&self) -> &MeshInputs {
        &self.inputs
    }

    pub fn graph(&self) -> &MeshGraph {
        &self.graph
    }

    pub fn snapshot(&self) -> MeshSnapshot {
        self.graph.snapshot()
    }

    /// Applies changes to the inputs and returns what they changed in the graph.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = Change>) -> GraphDiff {
        let mut touched = Touched::default();
        for change in changes {
            self.touch(change, &mut touched);
        }
        let keys: BTreeSet<NodeKey> = if touched.everything {
            self.graph
                .keys()
                .cloned()
                .chain(node_keys(&self.inputs, &self.ix))
                .collect()
        } else {
            touched.keys
        };
        self.recompute(keys)
    }

    /// Applies one change to the inputs and the index, noting what it can affect.
    fn touch(&mut self, change: Change, t: &mut Touched) {
        match change {
            Change::Namespace(name, value) => {
                if !self.inputs.apply(Change::Namespace(name.clone(), value)) {
                    return;
                }
                t.add(NodeKey::Namespace(name.clone()));
                // Its injection decides whether its pods without sidecars are plain-text
                // clients of every STRICT namespace.
                self.every_namespace(t);
                self.namespace_workloads(&name, t);
                self.check_visible(&name, t);
            }
            Change::PeerAuthentication(key, value) => {
                if !self
                    .inputs
                    .apply(Change::PeerAuthentication(key.clone(), value))
                {
                    return;
                }
                if key.0 == ISTIO_NAMESPACE {
                    t.keys
                        .extend(self.ix.visible.iter().cloned().map(NodeKey::Namespace));
                }
                t.add(NodeKey::Namespace(key.0));
            }
            Change::Pod(key, value) => self.touch_pod(key, value, t),
            Change::Deployment(key, value) => self.touch_deployment(key, value, t),
            Change::Service(key, value) => {
                if !self.inputs.apply(Change::Service(key.clone(), value)) {
                    return;
                }
                self.service_neighbours(&key, t);
                t.add(NodeKey::Service(key.clone()));
                self.check_visible(&key.0, t);
            }
            Change::EndpointSlice(key, value) => {
                let old = self.inputs.endpoint_slices.get(&key).cloned();
                if !self
                    .inputs
                    .apply(Change::EndpointSlice(key.clone(), value.clone()))
                {
                    return;
                }
                for es in old.iter().chain(value.iter()) {
                    t.add(NodeKey::Service((es.namespace.clone(), es.service.clone())));
                }
                if let Some(es) = &old {
                    self.ix.remove_slice(&key, es);
                }
                if let Some(es) = &value {
                    self.ix.add_slice(&key, es);
                }
            }
            Change::Gateway(key, value) => {
                if !self.inputs.apply(Change::Gateway(key.clone(), value)) {
                    return;
                }
                t.add(NodeKey::Gateway(key.clone()));
                if let Some(vss) = self.ix.vs_of_gateway.get(&key) {
                    t.keys
                        .extend(vss.iter().cloned().map(NodeKey::VirtualService));
                }
                self.check_visible(&key.0, t);
            }
            Change::VirtualService(key, value) => {
                let old = self.inputs.virtual_services.get(&key).cloned();
                if !self
                    .inputs
                    .apply(Change::VirtualService(key.clone(), value.clone()))
                {
                    return;
                }
                t.add(NodeKey::VirtualService(key.clone()));
                for vs in old.iter().chain(value.iter()) {
                    t.keys.extend(routed_subsets(vs));
                    // The other VirtualServices of its hosts (whether they overlap).
                    for svc in service_refs(vs) {
                        if let Some(vss) = self.ix.vs_of_service.get(&svc) {
                            t.keys
                                .extend(vss.iter().cloned().map(NodeKey::VirtualService));
                        }
                    }
                }
                if let Some(vs) = &old {
                    self.ix.remove_virtual_service(&key, vs);
                }
                if let Some(vs) = &value {
                    self.ix.add_virtual_service(&key, vs);
                }
                self.check_visible(&key.0, t);
            }
            Change::DestinationRule(key, value) => {
                let old = self.inputs.destination_rules.get(&key).cloned();
                let hosts: BTreeSet<Key> = old
                    .iter()
                    .chain(value.iter())
                    .filter_map(|dr| service_key(&dr.host, &dr.namespace))
                    .collect();
                // Subsets named before the change, by any rule of these hosts.
                for svc in &hosts {
                    self.subsets_of_service(svc, t);
                }
                if !self
                    .inputs
                    .apply(Change::DestinationRule(key.clone(), value.clone()))
                {
                    return;
                }
                if let Some(dr) = &old {
                    self.ix.remove_rule(&key, dr);
                }
                if let Some(dr) = &value {
                    self.ix.add_rule(&key, dr);
                }
                for svc in &hosts {
                    self.subsets_of_service(svc, t);
                    if let Some(vss) = self.ix.vs_of_service.get(svc) {
                        t.keys
                            .extend(vss.iter().cloned().map(NodeKey::VirtualService));
                    }
                }
            }
        }
    }

    fn every_namespace(&self, t: &mut Touched) {
        t.keys
            .extend(self.ix.visible.iter().cloned().map(NodeKey::Namespace));
    }

    fn touch_pod(&mut self, key: Key, value: Option<PodInfo>, t: &mut Touched) {
        let old = self.inputs.pods.get(&key).cloned();
        if !self.inputs.apply(Change::Pod(key.clone(), value.clone())) {
            return;
        }
        let old_owner = self.ix.owner.get(&key).cloned();
        let new_owner = value.as_ref().and_then(|p| owner_of(&self.inputs, p));
        match &value {
            Some(_) => self.ix.set_owner(&key, new_owner.clone()),
            None => self.ix.remove_pod(&key),
        }
        t.add(NodeKey::Pod(key.clone()));
        // A client without a sidecar coming or going changes what STRICT namespaces say.
        let plain = |p: &Option<PodInfo>| p.as_ref().is_some_and(|p| !p.has_sidecar && !p.deleting);
        if plain(&old) != plain(&value) {
            self.every_namespace(t);
        }
        let orphan =
            (old.is_some() && old_owner.is_none()) || (value.is_some() && new_owner.is_none());
        if orphan {
            // Services and subsets select pods outside workloads directly.
            self.namespace_selectors(&key.0, t);
        }
        for owner in [old_owner, new_owner].into_iter().flatten() {
            self.workload_and_its_subsets(&owner, t);
        }
    }

    fn touch_deployment(&mut self, key: Key, value: Option<DeploymentInfo>, t: &mut Touched) {
        let old = self.inputs.deployments.get(&key).cloned();
        if !self
            .inputs
            .apply(Change::Deployment(key.clone(), value.clone()))
        {
            return;
        }
        t.add(NodeKey::Deployment(key.clone()));
        let same_shape = matches!((&old, &value), (Some(a), Some(b))
            if a.selector == b.selector && a.template_labels == b.template_labels);
        if !same_shape {
            let ns = key.0.clone();
            // Its pods (their group's id changes when it becomes an ingress gateway), and
            // every pod whose workload changes.
            if let Some(pods) = self.ix.pods_of.get(&key) {
                t.keys.extend(pods.iter().cloned().map(NodeKey::Pod));
            }
            let pods: Vec<(Key, Option<Key>)> = in_ns(&self.inputs.pods, &ns)
                .map(|(k, p)| (k.clone(), owner_of(&self.inputs, p)))
                .collect();
            for (pod, owner) in pods {
                let before = self.ix.owner.get(&pod).cloned();
                if before != owner {
                    t.add(NodeKey::Pod(pod.clone()));
                    for d in before.iter().chain(owner.iter()) {
                        t.add(NodeKey::Deployment(d.clone()));
                    }
                    self.ix.set_owner(&pod, owner);
                }
            }
            self.namespace_selectors(&ns, t);
            let ingress_before = old.as_ref().is_some_and(is_ingress);
            let ingress_after = value.as_ref().is_some_and(is_ingress);
            if ingress_after {
                self.ix.ingress.insert(key.clone());
            } else {
                self.ix.ingress.remove(&key);
            }
            if ingress_before || ingress_after {
                t.keys
                    .extend(self.inputs.gateways.keys().cloned().map(NodeKey::Gateway));
            }
        }
        self.check_visible(&key.0, t);
    }

    /// A workload and the subsets whose pods it runs (their readiness rolls up).
    fn workload_and_its_subsets(&self, d: &Key, t: &mut Touched) {
        t.add(NodeKey::Deployment(d.clone()));
        let Some(dep) = self.inputs.deployments.get(d) else {
            return;
        };
        for (svc, names) in self.subsets_in(&d.0) {
            let selector = self
                .inputs
                .services
                .get(&svc)
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            for name in names {
                // As the subset selects: the service's selector with the subset's labels.
                let picks = self.subset_labels(&svc, &name).is_some_and(|labels| {
                    let mut all = selector.clone();
                    all.extend(labels);
                    selects(&all, &dep.template_labels)
                });
                if picks {
                    t.add(NodeKey::Subset {
                        service: svc.clone(),
                        subset: name,
                    });
                }
            }
        }
    }

    /// The labels of a subset, from the rule that defines it.
    fn subset_labels(&self, svc: &Key, name: &str) -> Option<Labels> {
        self.ix
            .rules_of
            .get(svc)?
            .iter()
            .filter_map(|k| self.inputs.destination_rules.get(k))
            .find_map(|dr| dr.subsets.iter().find(|s| s.name == name))
            .map(|s| s.labels.clone())
    }

    /// Subset names by service, for the services of a namespace.
    fn subsets_in(&self, ns: &str) -> BTreeMap<Key, BTreeSet<String>> {
        in_ns(&self.ix.rules_of, ns)
            .map(|(svc, _)| {
                let names = self
                    .ix
                    .subsets_of(&self.inputs, svc)
                    .map(str::to_owned)
                    .collect();
                (svc.clone(), names)
            })
            .collect()
    }

    fn subsets_of_service(&self, svc: &Key, t: &mut Touched) {
        let names: BTreeSet<String> = self
            .ix
            .subsets_of(&self.inputs, svc)
            .map(str::to_owned)
            .collect();
        t.keys
            .extend(names.into_iter().map(|subset| NodeKey::Subset {
                service: svc.clone(),
                subset,
            }));
    }

    /// Every service and subset of a namespace: what selects pods there.
    fn namespace_selectors(&self, ns: &str, t: &mut Touched) {
        t.keys
            .extend(in_ns(&self.inputs.services, ns).map(|(k, _)| NodeKey::Service(k.clone())));
        for (svc, names) in self.subsets_in(ns) {
            t.keys
                .extend(names.into_iter().map(|subset| NodeKey::Subset {
                    service: svc.clone(),
                    subset,
                }));
        }
    }

    /// A service's subsets and the VirtualServices that name it.
    fn service_neighbours(&self, svc: &Key, t: &mut Touched) {
        self.subsets_of_service(svc, t);
        if let Some(vss) = self.ix.vs_of_service.get(svc) {
            t.keys
                .extend(vss.iter().cloned().map(NodeKey::VirtualService));
        }
    }

    /// A namespace's pods (their sidecar state) and workloads (which roll pods up).
    fn namespace_workloads(&self, ns: &str, t: &mut Touched) {
        t.keys
            .extend(in_ns(&self.inputs.pods, ns).map(|(k, _)| NodeKey::Pod(k.clone())));
        t.keys.extend(
            in_ns(&self.inputs.deployments, ns).map(|(k, _)| NodeKey::Deployment(k.clone())),
        );
    }

    /// When a namespace appears in or disappears from the drawing, everything that points
    /// into it changes: recompute everything (rare: a namespace's first or last object).
    fn check_visible(&mut self, ns: &str, t: &mut Touched) {
        let now = is_visible(&self.inputs, ns);
        if now != self.ix.visible.contains(ns) {
            if now {
                self.ix.visible.insert(ns.to_owned());
            } else {
                self.ix.visible.remove(ns);
            }
            t.everything = true;
        }
    }

    /// Recomputes the nodes of `keys` with the edges they own, and says what changed.
    fn recompute(&mut self, keys: BTreeSet<NodeKey>) -> GraphDiff {
        let mut old_nodes: HashMap<String, GraphNode> = HashMap::new();
        let mut old_edges: HashMap<String, GraphEdge> = HashMap::new();
        for k in &keys {
            if let Some(n) = self.graph.node_by_key(k) {
                old_nodes.insert(n.id.clone(), n.clone());
            }
            for e in self.graph.owned_edges(k) {
                old_edges.insert(e.id.clone(), e.clone());
            }
        }
        let entries: Vec<(NodeKey, Option<Entry>)> = keys
            .into_iter()
            .map(|k| {
                let e = compute(&self.inputs, &self.ix, &k);
                (k, e)
            })
            .collect();
        for (k, _) in &entries {
            self.graph.remove_owned_edges(k);
        }
        let mut new_edges = Vec::new();
        let mut new_nodes = Vec::new();
        for (k, e) in entries {
            match e {
                Some(Entry { node, edges }) => {
                    new_nodes.push(node.clone());
                    self.graph.set_node(&k, Some(node));
                    new_edges.extend(edges);
                }
                None => self.graph.set_node(&k, None),
            }
        }
        let new_edges: Vec<GraphEdge> = new_edges
            .into_iter()
            .filter(|e| self.graph.add_edge(e.clone()))
            .collect();

        let mut d = GraphDiff::default();
        for n in new_nodes {
            match old_nodes.remove(&n.id) {
                None => d.added_nodes.push(n),
                Some(old) if old != n => d.changed_nodes.push(n),
                Some(_) => {}
            }
        }
        d.removed_nodes = old_nodes.into_keys().collect();
        for e in new_edges {
            match old_edges.remove(&e.id) {
                None => d.added_edges.push(e),
                Some(old) if old != e => d.changed_edges.push(e),
                Some(_) => {}
            }
        }
        d.removed_edges = old_edges.into_keys().collect();
        d.added_nodes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        d.changed_nodes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        d.removed_nodes.sort_unstable();
        d.added_edges.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        d.changed_edges.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        d.removed_edges.sort_unstable();
        d
    }
}

/// The subsets a VirtualService's routes name (whether a subset is routed to changes what
/// its validations say).
fn routed_subsets(vs: &VirtualServiceInfo) -> impl Iterator<Item = NodeKey> + '_ {
    vs.http
        .iter()
        .flat_map(|r| &r.destinations)
        .filter_map(|d| {
            Some(NodeKey::Subset {
                service: service_key(&d.host, &vs.namespace)?,
                subset: d.subset.clone()?,
            })
        })
}

/// What a batch of changes can affect.
#[derive(Default)]
struct Touched {
    keys: BTreeSet<NodeKey>,
    /// A namespace appeared or disappeared: recompute every node.
    everything: bool,
}

impl Touched {
    fn add(&mut self, key: NodeKey) {
        self.keys.insert(key);
    }
}

#[cfg(test)]
mod tests;
