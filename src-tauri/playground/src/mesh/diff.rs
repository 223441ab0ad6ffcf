//! Differences between two snapshots by id, applying them, and folding several into one.

use std::collections::{BTreeMap, HashMap};

use super::model::{GraphDiff, GraphEdge, GraphNode, MeshSnapshot};

/// What the UI must add, change and remove to turn `old` into `new`.
pub fn diff(old: &MeshSnapshot, new: &MeshSnapshot) -> GraphDiff {
    let mut out = GraphDiff::default();
    let old_nodes: HashMap<&str, _> = old.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let new_nodes: HashMap<&str, _> = new.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    for n in &new.nodes {
        match old_nodes.get(n.id.as_str()) {
            None => out.added_nodes.push(n.clone()),
            Some(o) if *o != n => out.changed_nodes.push(n.clone()),
            _ => {}
        }
    }
    out.removed_nodes = old
        .nodes
        .iter()
        .filter(|n| !new_nodes.contains_key(n.id.as_str()))
        .map(|n| n.id.clone())
        .collect();
    let old_edges: HashMap<&str, _> = old.edges.iter().map(|e| (e.id.as_str(), e)).collect();
    let new_edges: HashMap<&str, _> = new.edges.iter().map(|e| (e.id.as_str(), e)).collect();
    for e in &new.edges {
        match old_edges.get(e.id.as_str()) {
            None => out.added_edges.push(e.clone()),
            Some(o) if *o != e => out.changed_edges.push(e.clone()),
            _ => {}
        }
    }
    out.removed_edges = old
        .edges
        .iter()
        .filter(|e| !new_edges.contains_key(e.id.as_str()))
        .map(|e| e.id.clone())
        .collect();
    out
}

/// Applies a diff; used by the CLI's `--watch` and to check diffs in tests.
pub fn apply(snapshot: &mut MeshSnapshot, d: &GraphDiff) {
    snapshot.nodes.retain(|n| {
        !d.removed_nodes.contains(&n.id) && !d.changed_nodes.iter().any(|c| c.id == n.id)
    });
    snapshot.nodes.extend(d.changed_nodes.iter().cloned());
    snapshot.nodes.extend(d.added_nodes.iter().cloned());
    snapshot.nodes.sort_by(|a, b| a.id.cmp(&b.id));
    snapshot.edges.retain(|e| {
        !d.removed_edges.contains(&e.id) && !d.changed_edges.iter().any(|c| c.id == e.id)
    });
    snapshot.edges.extend(d.changed_edges.iter().cloned());
    snapshot.edges.extend(d.added_edges.iter().cloned());
    snapshot.edges.sort_by(|a, b| a.id.cmp(&b.id));
}

/// What happened to one node or edge over several diffs.
enum Fate<T> {
    Added(T),
    Changed(T),
    Removed,
}

/// Folds `next` into `fates`, given by id, so that one diff says what both did.
fn fold<T>(
    fates: &mut BTreeMap<String, Fate<T>>,
    id: impl Fn(&T) -> String,
    added: Vec<T>,
    changed: Vec<T>,
    removed: Vec<String>,
) {
    for r in removed {
        match fates.remove(&r) {
            // Came and went within the diffs: nothing to say.
            Some(Fate::Added(_)) => {}
            _ => {
                fates.insert(r, Fate::Removed);
            }
        }
    }
    for a in added {
        let key = id(&a);
        let fate = match fates.remove(&key) {
            // Went and came back: the receiver has the old one.
            Some(Fate::Removed) => Fate::Changed(a),
            _ => Fate::Added(a),
        };
        fates.insert(key, fate);
    }
    for c in changed {
        let key = id(&c);
        let fate = match fates.remove(&key) {
            Some(Fate::Added(_)) => Fate::Added(c),
            _ => Fate::Changed(c),
        };
        fates.insert(key, fate);
    }
}

fn unfold<T>(fates: BTreeMap<String, Fate<T>>) -> (Vec<T>, Vec<T>, Vec<String>) {
    let (mut added, mut changed, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for (id, fate) in fates {
        match fate {
            Fate::Added(x) => added.push(x),
            Fate::Changed(x) => changed.push(x),
            Fate::Removed => removed.push(id),
        }
    }
    (added, changed, removed)
}

/// One diff that does what `first` then `then` do: for changes held back while the
/// connection is down, sent as one when it is back.
pub fn merge(first: GraphDiff, then: GraphDiff) -> GraphDiff {
    let mut nodes = BTreeMap::new();
    let mut edges = BTreeMap::new();
    for d in [first, then] {
        fold(
            &mut nodes,
            |n: &GraphNode| n.id.clone(),
            d.added_nodes,
            d.changed_nodes,
            d.removed_nodes,
        );
        fold(
            &mut edges,
            |e: &GraphEdge| e.id.clone(),
            d.added_edges,
            d.changed_edges,
            d.removed_edges,
        );
    }
    let (added_nodes, changed_nodes, removed_nodes) = unfold(nodes);
    let (added_edges, changed_edges, removed_edges) = unfold(edges);
    GraphDiff {
        added_nodes,
        changed_nodes,
        removed_nodes,
        added_edges,
        changed_edges,
        removed_edges,
    }
}
