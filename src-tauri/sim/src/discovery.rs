//! Discovery documents (plain and aggregated v2) and the OpenAPI v3 documents kubectl reads
//! to decide how to validate and patch.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// The Kubernetes release the simulated server reports.
pub const KUBE_VERSION: &str = "v1.36.1";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        "gitVersion": format!("{KUBE_VERSION}+istio-playground-sim"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.25.4",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
    })
}

/// Groups in the order discovery lists them: core first, built-ins, then CRD groups.
/// Each entry: group name, versions (preferred first).
pub fn groups(defs: &[ResourceDef]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = vec![];
    let mut sorted: Vec<&ResourceDef> = defs.iter().collect();
    sorted.sort_by_key(|d| d.crd.is_some());
    for d in sorted {
        let entry = match out.iter_mut().position(|(g, _)| *g == d.group) {
            Some(i) => &mut out[i].1,
            None => {
                out.push((d.group.clone(), vec![]));
                &mut out.last_mut().expect("just pushed").1
            }
        };
        for v in &d.versions {
            if !entry.contains(v) {
                entry.push(v.clone());
            }
        }
    }
    for (_, vs) in out.iter_mut() {
        vs.sort_by_key(|v| std::cmp::Reverse(crate::resources::version_priority(v)));
    }
    out
}

/// Kinds with a `/scale` subresource (what `kubectl scale` uses).
pub fn has_scale(d: &ResourceDef) -> bool {
    d.group == "apps" && matches!(d.kind.as_str(), "Deployment" | "ReplicaSet" | "StatefulSet")
}

pub fn api_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]
    })
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": gv(&versions[0]),
    })
}

pub fn api_group_list(defs: &[ResourceDef]) -> Value {
    let groups: Vec<Value> = groups(defs)
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(defs: &[ResourceDef], group: &str) -> Option<Value> {
    let gs = groups(defs);
    let (g, vs) = gs.iter().find(|(g, _)| g == group)?;
    let mut doc = group_doc(g, vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn storage_hash(d: &ResourceDef) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}/{}/{}", d.group, d.kind, d.plural).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut s = String::new();
    for i in 0..11 {
        let c = ((h >> (i * 5)) & 31) as u8;
        s.push(char::from(if c < 26 { b'A' + c } else { b'0' + c - 26 }));
    }
    s
}

/// APIResourceList for one group/version, or None when nothing is served there.
pub fn resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceDef> = defs
        .iter()
        .filter(|d| d.group == group && d.serves(version))
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = vec![];
    for d in served {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs(),
            "storageVersionHash": storage_hash(d),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if d.kind == "Pod" && d.group.is_empty() {
            resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
        if has_scale(d) {
            resources.push(json!({"name": format!("{}/scale", d.plural), "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2` or `v2beta1`) for `/api` (core) or `/apis`.
pub fn aggregated(defs: &[ResourceDef], core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = groups(defs)
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = defs
                        .iter()
                        .filter(|d| d.group == *g && d.serves(v))
                        .map(|d| {
                            let mut r = json!({
                                "resource": d.plural,
                                "responseKind": {"group": "", "version": "", "kind": d.kind},
                                "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": d.singular,
                                "verbs": d.verbs(),
                            });
                            if !d.short_names.is_empty() {
                                r["shortNames"] = json!(d.short_names);
                            }
                            if !d.categories.is_empty() {
                                r["categories"] = json!(d.categories);
                            }
                            let mut subs = vec![];
                            if d.status_subresource {
                                subs.push(json!({"subresource": "status", "responseKind": {"group": "", "version": "", "kind": d.kind}, "verbs": ["get", "patch", "update"]}));
                            }
                            if d.kind == "Pod" && d.group.is_empty() {
                                subs.push(json!({"subresource": "log", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get"]}));
                            }
                            if has_scale(d) {
                                subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
                            }
                            if !subs.is_empty() {
                                r["subresources"] = Value::Array(subs);
                            }
                            r
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut md = json!({"creationTimestamp": null});
            if !g.is_empty() {
                md["name"] = json!(g);
            }
            json!({"metadata": md, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// `/openapi/v3`: where each group/version's document lives.
pub fn openapi_v3_root(defs: &[ResourceDef]) -> Value {
    let mut paths = BTreeMap::new();
    for (g, vs) in groups(defs) {
        for v in vs {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            let hash = storage_hash(&ResourceDef {
                plural: format!("{}", defs.iter().filter(|d| d.group == g).count()),
                ..defs
                    .iter()
                    .find(|d| d.group == g)
                    .cloned()
                    .expect("group has a resource")
            });
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document for one group/version. It declares, for every kind, a PATCH
/// operation tagged with its group/version/kind that accepts the `fieldValidation` query
/// parameter, so kubectl leaves validation to the server (which, like a real one, reports
/// bad input itself), and schemas that accept any fields.
pub fn openapi_v3_group(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceDef> = defs
        .iter()
        .filter(|d| d.group == group && d.serves(version))
        .collect();
    if served.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
    ]);
    for d in served {
        let gvk = json!({"group": d.group, "version": version, "kind": d.kind});
        let item = if d.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
        } else {
            format!("{prefix}/{}/{{name}}", d.plural)
        };
        let schema_name = format!(
            "sim.{}.{}.{}",
            if d.group.is_empty() { "core" } else { &d.group },
            version,
            d.kind
        );
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}});
        paths.insert(
            item,
            json!({
                "get": {"operationId": format!("read{}", d.kind), "responses": ok, "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk},
                "put": {"operationId": format!("replace{}", d.kind), "parameters": params, "responses": ok, "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk},
                "patch": {"operationId": format!("patch{}", d.kind), "parameters": params, "responses": ok, "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk},
            }),
        );
        let collection = if d.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", d.plural)
        } else {
            format!("{prefix}/{}", d.plural)
        };
        paths.insert(
            collection,
            json!({"post": {"operationId": format!("create{}", d.kind), "parameters": params, "responses": ok, "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk}}),
        );
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "description": format!("{} ({}), served by the simulated cluster.", d.kind, d.api_version(version)),
                "x-kubernetes-group-version-kind": [gvk],
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                }
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}
