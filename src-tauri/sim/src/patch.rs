//! The three patch flavours of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch for built-in kinds (lists merged by key).

use serde_json::{Map, Value};

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("just made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902. Errors say which operation failed, like the API server's 422.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| format!("invalid JSON patch: {e}"))?;
    json_patch::patch(target, &ops).map_err(|e| e.to_string())
}

/// The key a built-in list merges its items by, as the Go types declare with
/// `patchMergeKey` (the playground only touches core and apps kinds).
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Lists of scalars whose patch strategy is "merge" (set union).
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

/// Applies a strategic merge patch (with `$patch`, `$retainKeys`, `$setElementOrder` and
/// `$deleteFromPrimitiveList` directives) to a built-in object.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        return Err("strategic merge patch must be a JSON object".into());
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    smp_map(target.as_object_mut().expect("object"), p)
}

fn smp_map(t: &mut Map<String, Value>, p: &Map<String, Value>) -> Result<(), String> {
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *t = strip_directives(p);
            return Ok(());
        }
        Some("delete") => {
            t.clear();
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other}")),
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = v.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = t.get_mut(field) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(format!("unknown directive {k}"));
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(pm) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                    continue;
                }
                let entry = t
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                smp_map(entry.as_object_mut().expect("object"), pm)?;
            }
            Value::Array(items) => {
                let existing = t.get(k).and_then(Value::as_array).cloned();
                let merged = match existing {
                    Some(orig) => smp_list(k, orig, items)?,
                    None => items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .map(|i| match i {
                            Value::Object(m) => Value::Object(strip_directives(m)),
                            other => other.clone(),
                        })
                        .collect(),
                };
                t.insert(k.clone(), Value::Array(merged));
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn strip_directives(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| {
            let v = match v {
                Value::Object(inner) => Value::Object(strip_directives(inner)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

fn smp_list(field: &str, mut orig: Vec<Value>, patch: &[Value]) -> Result<Vec<Value>, String> {
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect());
    }
    if merges_as_set(field) {
        for item in patch {
            if !orig.contains(item) {
                orig.push(item.clone());
            }
        }
        return Ok(orig);
    }
    let Some(key) = merge_key(field, patch).or_else(|| merge_key(field, &orig)) else {
        return Ok(patch.to_vec());
    };
    for item in patch {
        let Value::Object(pm) = item else {
            return Err(format!(
                "{field}: list items must be objects to merge by {key}"
            ));
        };
        let Some(kv) = pm.get(key) else {
            return Err(format!(
                "map: {item} does not contain declared merge key: {key}"
            ));
        };
        let pos = orig.iter().position(|o| o.get(key) == Some(kv));
        let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                orig.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                if let Value::Object(om) = &mut orig[i] {
                    smp_map(om, pm)?;
                }
            }
            (None, false) => orig.push(Value::Object(strip_directives(pm))),
        }
    }
    Ok(orig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}
        ]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                {"name": "side", "$patch": "delete"}
            ]}}),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"spec": {"containers": [
                {"name": "app", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
            ]}})
        );
    }

    #[test]
    fn strategic_merge_retain_keys_and_finalizers() {
        let mut t = json!({"metadata": {"finalizers": ["a"]}, "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        strategic_merge_patch(
            &mut t,
            &json!({"metadata": {"finalizers": ["b"]}, "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        )
        .unwrap();
        assert_eq!(t["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(t["metadata"]["finalizers"], json!(["a", "b"]));
    }

    #[test]
    fn json_patch_reports_bad_paths() {
        let mut t = json!({"a": 1});
        assert!(
            json_patch(
                &mut t,
                &json!([{"op": "replace", "path": "/b", "value": 2}])
            )
            .is_err()
        );
        json_patch(&mut t, &json!([{"op": "add", "path": "/b", "value": 2}])).unwrap();
        assert_eq!(t, json!({"a": 1, "b": 2}));
        assert!(json_patch(&mut t, &json!({"not": "a list"})).is_err());
    }
}
