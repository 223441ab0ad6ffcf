//! The mesh as a petgraph graph: nodes by id and by the object they were made from, and
//! queries over their edges.

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

use super::build::NodeKey;
use super::model::*;

/// The graph; a stable graph so a node keeps its index while others come and go.
#[derive(Debug, Default, Clone)]
pub struct MeshGraph {
    graph: StableDiGraph<GraphNode, GraphEdge>,
    by_id: HashMap<String, NodeIndex>,
    by_key: HashMap<NodeKey, NodeIndex>,
}

impl MeshGraph {
    pub fn node(&self, id: &str) -> Option<&GraphNode> {
        self.by_id.get(id).map(|&i| &self.graph[i])
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Every node, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = &GraphNode> {
        self.graph.node_weights()
    }

    /// Every edge, in no particular order.
    pub fn edges(&self) -> impl Iterator<Item = &GraphEdge> {
        self.graph.edge_weights()
    }

    /// Edges into `id` of a kind.
    pub fn incoming(&self, id: &str, kind: EdgeKind) -> Vec<&GraphEdge> {
        self.edges_of(id, kind, Direction::Incoming)
    }

    /// Edges out of `id` of a kind.
    pub fn outgoing(&self, id: &str, kind: EdgeKind) -> Vec<&GraphEdge> {
        self.edges_of(id, kind, Direction::Outgoing)
    }

    fn edges_of(&self, id: &str, kind: EdgeKind, dir: Direction) -> Vec<&GraphEdge> {
        let Some(&i) = self.by_id.get(id) else {
            return Vec::new();
        };
        self.graph
            .edges_directed(i, dir)
            .map(|e| e.weight())
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// Sorted by id, so equal meshes give equal snapshots.
    pub fn snapshot(&self) -> MeshSnapshot {
        let mut nodes: Vec<GraphNode> = self.graph.node_weights().cloned().collect();
        nodes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<GraphEdge> = self.graph.edge_weights().cloned().collect();
        edges.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        MeshSnapshot { nodes, edges }
    }

    /// Like `snapshot`, but moves the nodes and edges out instead of copying them.
    pub fn into_snapshot(self) -> MeshSnapshot {
        let (nodes, edges) = petgraph::Graph::from(self.graph).into_nodes_edges();
        let mut nodes: Vec<GraphNode> = nodes.into_iter().map(|n| n.weight).collect();
        nodes.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<GraphEdge> = edges.into_iter().map(|e| e.weight).collect();
        edges.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        MeshSnapshot { nodes, edges }
    }

    pub(crate) fn node_by_key(&self, key: &NodeKey) -> Option<&GraphNode> {
        self.by_key.get(key).map(|&i| &self.graph[i])
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &NodeKey> {
        self.by_key.keys()
    }

    /// Sets the node made from `key` (adding it, or replacing it in place when its id
    /// stays), or removes it with every edge at it.
    pub(crate) fn set_node(&mut self, key: &NodeKey, node: Option<GraphNode>) {
        let at = self.by_key.get(key).copied();
        match (at, node) {
            (Some(i), Some(n)) if self.graph[i].id == n.id => self.graph[i] = n,
            (at, node) => {
                if let Some(i) = at
                    && let Some(old) = self.graph.remove_node(i)
                {
                    self.by_id.remove(&old.id);
                    self.by_key.remove(key);
                }
                if let Some(n) = node {
                    let id = n.id.clone();
                    let i = self.graph.add_node(n);
                    self.by_id.insert(id, i);
                    self.by_key.insert(key.clone(), i);
                }
            }
        }
    }

    /// Adds an edge between two nodes that are there; an edge to a node that is not drawn
    /// is not drawn either.
    pub(crate) fn add_edge(&mut self, edge: GraphEdge) -> bool {
        let (Some(&s), Some(&t)) = (self.by_id.get(&edge.source), self.by_id.get(&edge.target))
        else {
            return false;
        };
        self.graph.add_edge(s, t, edge);
        true
    }

    /// The edges a node owns (see `build`): those its entry computes.
    pub(crate) fn owned_edges(&self, key: &NodeKey) -> Vec<&GraphEdge> {
        self.owned_edge_indices(key)
            .into_iter()
            .map(|e| &self.graph[e])
            .collect()
    }

    pub(crate) fn remove_owned_edges(&mut self, key: &NodeKey) {
        for e in self.owned_edge_indices(key) {
            self.graph.remove_edge(e);
        }
    }

    fn owned_edge_indices(&self, key: &NodeKey) -> Vec<EdgeIndex> {
        let Some(&i) = self.by_key.get(key) else {
            return Vec::new();
        };
        let owned = |dir: Direction, kinds: &[EdgeKind]| -> Vec<EdgeIndex> {
            self.graph
                .edges_directed(i, dir)
                .filter(|e| kinds.contains(&e.weight().kind))
                .map(|e| e.id())
                .collect()
        };
        match key {
            NodeKey::Gateway(_) => owned(Direction::Incoming, &[EdgeKind::Serves]),
            NodeKey::VirtualService(_) => {
                let mut out = owned(Direction::Outgoing, &[EdgeKind::Route]);
                out.extend(owned(
                    Direction::Incoming,
                    &[EdgeKind::Binds, EdgeKind::RoutedBy],
                ));
                out
            }
            NodeKey::Service(_) | NodeKey::Subset { .. } => {
                owned(Direction::Outgoing, &[EdgeKind::Selects])
            }
            NodeKey::Namespace(_) | NodeKey::Deployment(_) | NodeKey::Pod(_) => Vec::new(),
        }
    }
}
