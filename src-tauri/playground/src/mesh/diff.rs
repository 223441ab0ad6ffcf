//! Differences between two snapshots, by id.

use std::collections::HashMap;

use super::model::{GraphDiff, MeshSnapshot};

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
