//! The kinds the simulated API server serves: built-ins and whatever CRDs register.

use serde_json::{Value, json};

/// An extra column a CRD asks `kubectl get` to show.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub priority: i64,
    pub description: String,
}

/// One REST resource (group + plural) with everything discovery and storage need to know.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    pub group: String,
    /// Served versions, preferred first. Objects are stored once per group/resource.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// Built-in kinds accept strategic merge patch; custom resources answer 415.
    pub builtin: bool,
    /// Whether metadata.generation tracks spec changes.
    pub generation: bool,
    pub printer_columns: Vec<PrinterColumn>,
    /// Name of the CRD that registered this resource, if any.
    pub crd: Option<String>,
}

impl ResourceDef {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn preferred_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// `deployments.apps`, the way API error messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

#[allow(clippy::too_many_arguments)]
fn def(
    group: &str,
    version: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    all: bool,
    status: bool,
    generation: bool,
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        versions: vec![version.into()],
        plural: plural.into(),
        singular: singular.into(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: if all { vec!["all".into()] } else { vec![] },
        status_subresource: status,
        builtin: true,
        generation,
        printer_columns: vec![],
        crd: None,
    }
}

/// The built-in kinds the playground and its learners touch.
pub fn builtins() -> Vec<ResourceDef> {
    vec![
        def(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            false,
            &["ns"],
            false,
            true,
            false,
        ),
        def(
            "",
            "v1",
            "nodes",
            "node",
            "Node",
            false,
            &["no"],
            false,
            true,
            false,
        ),
        def(
            "",
            "v1",
            "pods",
            "pod",
            "Pod",
            true,
            &["po"],
            true,
            true,
            true,
        ),
        def(
            "",
            "v1",
            "services",
            "service",
            "Service",
            true,
            &["svc"],
            true,
            true,
            false,
        ),
        def(
            "",
            "v1",
            "endpoints",
            "endpoints",
            "Endpoints",
            true,
            &["ep"],
            false,
            false,
            false,
        ),
        def(
            "",
            "v1",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
            &["sa"],
            false,
            false,
            false,
        ),
        def(
            "",
            "v1",
            "configmaps",
            "configmap",
            "ConfigMap",
            true,
            &["cm"],
            false,
            false,
            false,
        ),
        def(
            "",
            "v1",
            "secrets",
            "secret",
            "Secret",
            true,
            &[],
            false,
            false,
            false,
        ),
        def(
            "",
            "v1",
            "events",
            "event",
            "Event",
            true,
            &["ev"],
            false,
            false,
            false,
        ),
        def(
            "",
            "v1",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
            &["pvc"],
            false,
            true,
            false,
        ),
        def(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            true,
            &["deploy"],
            true,
            true,
            true,
        ),
        def(
            "apps",
            "v1",
            "replicasets",
            "replicaset",
            "ReplicaSet",
            true,
            &["rs"],
            true,
            true,
            true,
        ),
        def(
            "apps",
            "v1",
            "daemonsets",
            "daemonset",
            "DaemonSet",
            true,
            &["ds"],
            true,
            true,
            true,
        ),
        def(
            "apps",
            "v1",
            "statefulsets",
            "statefulset",
            "StatefulSet",
            true,
            &["sts"],
            true,
            true,
            true,
        ),
        def(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "endpointslice",
            "EndpointSlice",
            true,
            &[],
            false,
            false,
            false,
        ),
        def(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            false,
            true,
            true,
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "clusterrole",
            "ClusterRole",
            false,
            &[],
            false,
            false,
            false,
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            false,
            &[],
            false,
            false,
            false,
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "role",
            "Role",
            true,
            &[],
            false,
            false,
            false,
        ),
        def(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "rolebinding",
            "RoleBinding",
            true,
            &[],
            false,
            false,
            false,
        ),
        def(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            true,
            &["pdb"],
            false,
            true,
            true,
        ),
        def(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
            true,
            true,
            false,
        ),
        def(
            "coordination.k8s.io",
            "v1",
            "leases",
            "lease",
            "Lease",
            true,
            &[],
            false,
            false,
            false,
        ),
        def(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            false,
            &[],
            false,
            false,
            true,
        ),
        def(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            false,
            &[],
            false,
            false,
            true,
        ),
    ]
}

/// Builds a resource definition from a CustomResourceDefinition object, or says what is wrong.
pub fn from_crd(crd: &Value) -> Result<ResourceDef, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .ok_or("spec.group: Required value")?;
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = names
        .get("plural")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("spec.names.plural: Required value")?;
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("spec.names.kind: Required value")?;
    let expected = format!("{plural}.{group}");
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != expected {
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let scope = spec.get("scope").and_then(Value::as_str).unwrap_or("");
    let namespaced = match scope {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(format!(
                "spec.scope: Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ));
        }
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        )?;
    let mut served: Vec<(String, bool, &Value)> = vec![];
    let mut storage_count = 0;
    for v in versions {
        let vname = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or("spec.versions[].name: Required value")?;
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage_count += 1;
        }
        if v.get("served").and_then(Value::as_bool).unwrap_or(false) {
            served.push((
                vname.to_string(),
                v.get("storage").and_then(Value::as_bool) == Some(true),
                v,
            ));
        }
    }
    if storage_count != 1 {
        return Err(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
                .into(),
        );
    }
    // Preferred version: Kubernetes sorts by version priority (v1 > v1beta1 > v1alpha1).
    served.sort_by_key(|(v, _, _)| std::cmp::Reverse(version_priority(v)));
    let status = served
        .iter()
        .any(|(_, _, v)| v.pointer("/subresources/status").is_some());
    let printer_columns = served
        .first()
        .and_then(|(_, _, v)| v.get("additionalPrinterColumns"))
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some(PrinterColumn {
                        name: c.get("name")?.as_str()?.to_string(),
                        type_: c
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("string")
                            .to_string(),
                        json_path: c.get("jsonPath")?.as_str()?.to_string(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        description: c
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let strs = |k: &str| -> Vec<String> {
        names
            .get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(ResourceDef {
        group: group.into(),
        versions: served.into_iter().map(|(v, _, _)| v).collect(),
        plural: plural.into(),
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind: kind.into(),
        namespaced,
        short_names: strs("shortNames"),
        categories: strs("categories"),
        status_subresource: status,
        builtin: false,
        generation: true,
        printer_columns,
        crd: Some(name.to_string()),
    })
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (stage, n) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    (stage, major, n.parse().unwrap_or(0))
}

/// The CRD status a real API server reports once names are accepted.
pub fn crd_status(crd: &Value, now: &str) -> Value {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}
        ],
        "storedVersions": stored
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority_orders_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v1beta1", "v1", "v2", "v2beta2"];
        v.sort_by_key(|s| std::cmp::Reverse(version_priority(s)));
        assert_eq!(v, vec!["v2", "v1", "v2beta2", "v1beta1", "v1alpha1"]);
    }

    #[test]
    fn crd_becomes_a_resource() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}
        });
        let d = from_crd(&crd).unwrap();
        assert_eq!(d.kind, "Widget");
        assert!(d.status_subresource && d.namespaced && !d.builtin);
        assert_eq!(d.short_names, vec!["wd"]);
        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("nope");
        assert!(from_crd(&bad).is_err());
    }
}
