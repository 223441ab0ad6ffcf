//! Field ownership for server-side apply: `metadata.managedFields` in the FieldsV1 format,
//! conflict detection between managers, and the apply merge itself.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::patch::merge_key;

/// One step of a field path: a map field, a list item picked by its key, or a set value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Field(String),
    Key(String),
    Value(String),
}

pub type FieldPath = Vec<Step>;
pub type FieldSet = BTreeSet<FieldPath>;

/// Fields nobody owns: identity and bookkeeping the server maintains itself.
fn excluded(path: &[String]) -> bool {
    match path {
        [f] => matches!(f.as_str(), "apiVersion" | "kind" | "status"),
        [m, f] if m == "metadata" => matches!(
            f.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "selfLink"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "generateName"
        ),
        _ => false,
    }
}

fn list_key(field: &str, items: &[Value], builtin: bool) -> Option<&'static str> {
    if !builtin || items.is_empty() {
        return None;
    }
    let key = merge_key(field, items)?;
    items
        .iter()
        .all(|i| i.get(key).is_some_and(|k| !k.is_null()))
        .then_some(key)
}

fn key_step(key: &str, item: &Value) -> Step {
    Step::Key(json!({ key: item.get(key).cloned().unwrap_or(Value::Null) }).to_string())
}

/// Every field an object sets, as leaf paths (plus item markers for keyed list entries).
pub fn fieldset(obj: &Value, builtin: bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        walk_map(m, &mut vec![], &mut vec![], builtin, &mut out);
    }
    out
}

fn walk_map(
    m: &Map<String, Value>,
    path: &mut FieldPath,
    names: &mut Vec<String>,
    builtin: bool,
    out: &mut FieldSet,
) {
    for (k, v) in m {
        names.push(k.clone());
        if excluded(names) {
            names.pop();
            continue;
        }
        path.push(Step::Field(k.clone()));
        walk_value(k, v, path, names, builtin, out);
        path.pop();
        names.pop();
    }
}

fn walk_value(
    field: &str,
    v: &Value,
    path: &mut FieldPath,
    names: &mut Vec<String>,
    builtin: bool,
    out: &mut FieldSet,
) {
    match v {
        Value::Object(inner) if !inner.is_empty() => walk_map(inner, path, names, builtin, out),
        Value::Array(items) => {
            if let Some(key) = list_key(field, items, builtin) {
                for item in items {
                    path.push(key_step(key, item));
                    out.insert(path.clone());
                    if let Value::Object(im) = item {
                        names.push("[]".into());
                        walk_map(im, path, names, builtin, out);
                        names.pop();
                    }
                    path.pop();
                }
            } else if builtin && field == "finalizers" {
                for item in items {
                    path.push(Step::Value(item.to_string()));
                    out.insert(path.clone());
                    path.pop();
                }
            } else {
                out.insert(path.clone());
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value a path points at, if the object has it.
pub fn value_at<'a>(obj: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    for step in path {
        cur = match step {
            Step::Field(f) => cur.get(f)?,
            Step::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?
                    .iter()
                    .find(|item| key.iter().all(|(kk, kv)| item.get(kk) == Some(kv)))?
            }
            Step::Value(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|x| **x == want)?
            }
        };
    }
    Some(cur)
}

fn remove_at(obj: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parent {
        let next = match step {
            Step::Field(f) => cur.get_mut(f),
            Step::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                cur.as_array_mut().and_then(|a| {
                    a.iter_mut()
                        .find(|item| key.iter().all(|(kk, kv)| item.get(kk) == Some(kv)))
                })
            }
            Step::Value(_) => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Step::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Step::Key(k) => {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            if let Some(a) = cur.as_array_mut() {
                a.retain(|item| !key.iter().all(|(kk, kv)| item.get(kk) == Some(kv)));
            }
        }
        Step::Value(v) => {
            let want: Value = serde_json::from_str(v).unwrap_or(Value::Null);
            if let Some(a) = cur.as_array_mut() {
                a.retain(|x| *x != want);
            }
        }
    }
}

/// `.spec.template.spec.containers[name="app"].image`, as conflict messages print paths.
pub fn render_path(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Step::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let inner: Vec<String> = key.iter().map(|(kk, kv)| format!("{kk}={kv}")).collect();
                s.push_str(&format!("[{}]", inner.join(",")));
            }
            Step::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// FieldsV1 JSON for a set of paths.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for step in path {
            let key = match step {
                Step::Field(f) => format!("f:{f}"),
                Step::Key(k) => format!("k:{k}"),
                Step::Value(v) => format!("v:{v}"),
            };
            node = node
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    // Members that also have children carry a "." marker.
    fn mark(node: &mut Map<String, Value>, set: &FieldSet, path: &mut FieldPath) {
        let keys: Vec<String> = node.keys().cloned().collect();
        for k in keys {
            let step = parse_step(&k);
            let Some(step) = step else { continue };
            path.push(step);
            if let Some(Value::Object(child)) = node.get_mut(&k)
                && !child.is_empty()
            {
                mark(child, set, path);
                if set.contains(path) {
                    child.insert(".".into(), json!({}));
                }
            }
            path.pop();
        }
    }
    mark(&mut root, set, &mut vec![]);
    Value::Object(root)
}

fn parse_step(k: &str) -> Option<Step> {
    if let Some(f) = k.strip_prefix("f:") {
        Some(Step::Field(f.into()))
    } else if let Some(x) = k.strip_prefix("k:") {
        Some(Step::Key(x.into()))
    } else {
        k.strip_prefix("v:").map(|x| Step::Value(x.into()))
    }
}

/// Paths from FieldsV1 JSON; unknown markers are ignored.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(node: &Map<String, Value>, path: &mut FieldPath, out: &mut FieldSet) {
        for (k, child) in node {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let Some(step) = parse_step(k) else { continue };
            path.push(step);
            match child {
                Value::Object(c) if !c.is_empty() => go(c, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Value::Object(m) = v {
        go(m, &mut vec![], &mut out);
    }
    out
}

/// One `managedFields` entry in parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .into(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    time: e.get("time").and_then(Value::as_str).unwrap_or("").into(),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            })
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Records a non-apply write: the writer takes the fields it changed, others lose them.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    builtin: bool,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_set = fieldset(new, builtin);
    let changed: FieldSet = match old {
        None => new_set.clone(),
        Some(o) => {
            let old_set = fieldset(o, builtin);
            let mut c: FieldSet = new_set
                .iter()
                .filter(|p| value_at(o, p) != value_at(new, p))
                .cloned()
                .collect();
            c.extend(old_set.difference(&new_set).cloned());
            c
        }
    };
    if changed.is_empty() && old.is_some() {
        write_entries(new, &entries);
        return;
    }
    for e in entries.iter_mut() {
        e.fields
            .retain(|p| !changed.contains(p) && new_set.contains(p));
    }
    let idx = entries
        .iter()
        .position(|e| e.manager == manager && e.operation == "Update");
    let idx = match idx {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.into(),
                operation: "Update".into(),
                api_version: api_version.into(),
                time: now.into(),
                fields: FieldSet::new(),
            });
            entries.len() - 1
        }
    };
    let e = &mut entries[idx];
    e.fields
        .extend(changed.into_iter().filter(|p| new_set.contains(p)));
    e.time = now.into();
    e.api_version = api_version.into();
    entries.retain(|e| !e.fields.is_empty());
    write_entries(new, &entries);
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: String,
}

/// Server-side apply of `config` by `manager` over `live` (None when creating).
/// Returns the new object, or the conflicts when `force` is false.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    api_version: &str,
    now: &str,
    force: bool,
    builtin: bool,
) -> Result<Value, Vec<Conflict>> {
    let config_set = fieldset(config, builtin);
    let mut entries = live.map(read_entries).unwrap_or_default();
    let empty = json!({});
    let live_v = live.unwrap_or(&empty);

    let mut conflicts = vec![];
    for e in entries.iter_mut() {
        if e.manager == manager && e.operation == "Apply" {
            continue;
        }
        let clashing: Vec<FieldPath> = e
            .fields
            .intersection(&config_set)
            .filter(|p| !matches!(p.last(), Some(Step::Key(_))))
            .filter(|p| value_at(live_v, p) != value_at(config, p))
            .cloned()
            .collect();
        if clashing.is_empty() {
            continue;
        }
        if force {
            for p in &clashing {
                e.fields.remove(p);
            }
        } else {
            conflicts.extend(clashing.iter().map(|p| Conflict {
                manager: e.manager.clone(),
                api_version: e.api_version.clone(),
                path: render_path(p),
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let mine = entries
        .iter()
        .position(|e| e.manager == manager && e.operation == "Apply");
    let previously: FieldSet = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let others: FieldSet = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != mine)
        .flat_map(|(_, e)| e.fields.iter().cloned())
        .collect();

    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    // Fields this manager set before and no longer sets go away, unless someone else owns them.
    let mut dropped: Vec<&FieldPath> = previously.difference(&config_set).collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        let owned_below = others.iter().any(|o| o.starts_with(p));
        if !owned_below {
            remove_at(&mut result, p);
        }
    }
    merge_config(&mut result, config, "", builtin);

    let entry = Entry {
        manager: manager.into(),
        operation: "Apply".into(),
        api_version: api_version.into(),
        time: now.into(),
        fields: config_set,
    };
    match mine {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    entries.retain(|e| !e.fields.is_empty());
    write_entries(&mut result, &entries);
    Ok(result)
}

fn merge_config(target: &mut Value, config: &Value, field: &str, builtin: bool) {
    match (target, config) {
        (Value::Object(t), Value::Object(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    continue;
                }
                match t.get_mut(k) {
                    Some(existing) => merge_config(existing, v, k, builtin),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(c)) => {
            if let Some(key) = list_key(field, c, builtin)
                .filter(|_| list_key(field, t, builtin).is_some() || t.is_empty())
            {
                for item in c {
                    match t.iter_mut().find(|x| x.get(key) == item.get(key)) {
                        Some(existing) => merge_config(existing, item, "", builtin),
                        None => t.push(item.clone()),
                    }
                }
            } else if builtin && field == "finalizers" {
                for item in c {
                    if !t.contains(item) {
                        t.push(item.clone());
                    }
                }
            } else {
                *t = c.clone();
            }
        }
        (t, c) => *t = c.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    #[test]
    fn fields_v1_round_trips() {
        let set = fieldset(&deploy(1, "x"), true);
        let v = to_fields_v1(&set);
        assert!(
            v.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"app\"}/.")
                .is_some()
        );
        assert_eq!(from_fields_v1(&v), set);
    }

    #[test]
    fn second_manager_conflicts_until_forced() {
        let a = apply(None, &deploy(1, "x"), "alice", "apps/v1", "t", false, true).unwrap();
        let err = apply(
            Some(&a),
            &deploy(2, "x"),
            "bob",
            "apps/v1",
            "t",
            false,
            true,
        )
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].path, ".spec.replicas");
        assert_eq!(err[0].manager, "alice");
        let b = apply(Some(&a), &deploy(2, "x"), "bob", "apps/v1", "t", true, true).unwrap();
        assert_eq!(b["spec"]["replicas"], 2);
        // Alice no longer owns replicas, so her next apply without it leaves it alone.
        let mut cfg = deploy(1, "x");
        cfg["spec"].as_object_mut().unwrap().remove("replicas");
        let c = apply(Some(&b), &cfg, "alice", "apps/v1", "t", false, true).unwrap();
        assert_eq!(c["spec"]["replicas"], 2);
    }

    #[test]
    fn applier_removes_what_it_stops_setting() {
        let mut cfg = deploy(1, "x");
        let a = apply(None, &cfg, "alice", "apps/v1", "t", false, true).unwrap();
        cfg["metadata"].as_object_mut().unwrap().remove("labels");
        let b = apply(Some(&a), &cfg, "alice", "apps/v1", "t", false, true).unwrap();
        assert!(b.pointer("/metadata/labels/a").is_none());
    }

    #[test]
    fn updates_take_ownership() {
        let a = apply(None, &deploy(1, "x"), "alice", "apps/v1", "t", false, true).unwrap();
        let mut b = a.clone();
        b["spec"]["replicas"] = json!(5);
        record_update(Some(&a), &mut b, "kubectl-scale", "apps/v1", "t", true);
        let err = apply(
            Some(&b),
            &deploy(1, "x"),
            "alice",
            "apps/v1",
            "t",
            false,
            true,
        )
        .unwrap_err();
        assert_eq!(err[0].manager, "kubectl-scale");
    }
}
