//! `kubectl apply --server-side` for multi-document YAML, without kubectl.
//!
//! Documents are parsed into dynamic objects, CustomResourceDefinitions go first (and are
//! waited for until the API server serves them), then Namespaces, then everything else in
//! file order. Each object's resource is found by discovery of its group and version only,
//! which is one small request instead of the whole API surface, and cached. Every object is
//! sent as a server-side apply patch with the playground's field manager, forcing ownership
//! of the fields it sets, so applying the same file twice changes nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ::kube::api::{Api, DynamicObject, Patch, PatchParams};
use ::kube::core::{GroupVersionKind, TypeMeta};
use ::kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde::Deserialize;
use serde_json::Value;

/// How long a new CRD may take to be served before applying its objects gives up.
pub const CRD_ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A document is not YAML, or not an object with apiVersion, kind and metadata.name.
    #[error("document {index} of {source_name} is not a Kubernetes object: {reason}")]
    Parse {
        source_name: String,
        index: usize,
        reason: String,
    },
    /// The cluster does not serve this kind (a missing CRD, or a removed API version).
    #[error("the cluster does not know {kind} in {api_version} (needed by {object})")]
    UnknownKind {
        api_version: String,
        kind: String,
        object: String,
    },
    /// The API server refused the object.
    #[error("applying {object} failed: {source}")]
    Api {
        object: String,
        #[source]
        source: ::kube::Error,
    },
    /// A CRD was applied but the API server did not start serving it in time.
    #[error("the CustomResourceDefinition {name} was not established within {secs} s")]
    CrdNotEstablished { name: String, secs: u64 },
}

impl ApplyError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            ApplyError::Parse { .. } => crate::ErrorCode::ApplyParse,
            ApplyError::UnknownKind { .. } => crate::ErrorCode::ApplyUnknownKind,
            ApplyError::Api { .. } => crate::ErrorCode::ApplyRefused,
            ApplyError::CrdNotEstablished { .. } => crate::ErrorCode::ApplyCrdNotEstablished,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ApplyError::Parse { .. } => {
                "The file is damaged: delete the app's downloaded copy (Tear down, then Set up) so it is fetched again.".into()
            }
            ApplyError::UnknownKind { kind, .. } => format!(
                "Install what defines {kind} first (for Istio kinds: the Istio step), then set up again."
            ),
            ApplyError::Api { source, .. } => match source {
                ::kube::Error::Api(status) if status.code == 409 => {
                    "Another tool owns these fields; the playground forces its own values, so retrying Set up usually fixes it.".into()
                }
                ::kube::Error::Api(status) if status.code >= 500 => {
                    "The cluster is still starting something up (often a webhook): wait a minute and set up again.".into()
                }
                _ => "Check that the playground cluster is running (Setup screen), then set up again.".into(),
            },
            ApplyError::CrdNotEstablished { .. } => {
                "The cluster is overloaded or still starting: wait a minute and set up again.".into()
            }
        })
    }
}

/// One object the apply created or updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedObject {
    pub api_version: String,
    pub kind: String,
    /// None for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for AppliedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Splits multi-document YAML into objects. Empty documents (`---` at the ends, comments
/// only) are skipped; a `kind: List` is flattened into its items.
pub fn parse_documents(source_name: &str, yaml: &str) -> Result<Vec<DynamicObject>, ApplyError> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let parse_err = |reason: String| ApplyError::Parse {
            source_name: source_name.to_string(),
            index,
            reason,
        };
        let value = Value::deserialize(doc).map_err(|e| parse_err(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let items = if value.get("kind").and_then(Value::as_str) == Some("List") {
            value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        } else {
            vec![value]
        };
        for item in items {
            let obj: DynamicObject =
                serde_json::from_value(item).map_err(|e| parse_err(e.to_string()))?;
            let types = obj
                .types
                .as_ref()
                .filter(|t| !t.api_version.is_empty() && !t.kind.is_empty());
            if types.is_none() {
                return Err(parse_err("apiVersion and kind are required".into()));
            }
            if obj.metadata.name.as_deref().unwrap_or("").is_empty() {
                return Err(parse_err("metadata.name is required".into()));
            }
            out.push(obj);
        }
    }
    Ok(out)
}

fn is_crd(obj: &DynamicObject) -> bool {
    obj.types.as_ref().is_some_and(|t| {
        t.kind == "CustomResourceDefinition" && t.api_version.starts_with("apiextensions.k8s.io/")
    })
}

fn is_namespace(obj: &DynamicObject) -> bool {
    obj.types
        .as_ref()
        .is_some_and(|t| t.kind == "Namespace" && t.api_version == "v1")
}

/// CRDs first, then Namespaces, then the rest; file order is kept within each group.
pub fn apply_order(mut objects: Vec<DynamicObject>) -> Vec<DynamicObject> {
    objects.sort_by_key(|o| {
        if is_crd(o) {
            0
        } else if is_namespace(o) {
            1
        } else {
            2
        }
    });
    objects
}

/// Applies objects to one cluster. Keeps its discovery cache between calls.
pub struct Applier {
    client: ::kube::Client,
    field_manager: String,
    resources: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

impl Applier {
    pub fn new(client: ::kube::Client) -> Self {
        Self::with_field_manager(client, crate::FIELD_MANAGER)
    }

    pub fn with_field_manager(client: ::kube::Client, field_manager: &str) -> Self {
        Self {
            client,
            field_manager: field_manager.to_string(),
            resources: HashMap::new(),
        }
    }

    /// Parses and applies a multi-document YAML text. Namespaced objects without a namespace
    /// go to `default_namespace`.
    pub async fn apply_yaml(
        &mut self,
        source_name: &str,
        yaml: &str,
        default_namespace: &str,
    ) -> Result<Vec<AppliedObject>, ApplyError> {
        let objects = parse_documents(source_name, yaml)?;
        self.apply_objects(objects, default_namespace).await
    }

    /// Applies objects in [`apply_order`], waiting for new CRDs to be served before the
    /// objects that need them.
    #[tracing::instrument(skip_all, fields(objects = objects.len(), manager = %self.field_manager))]
    pub async fn apply_objects(
        &mut self,
        objects: Vec<DynamicObject>,
        default_namespace: &str,
    ) -> Result<Vec<AppliedObject>, ApplyError> {
        let objects = apply_order(objects);
        let mut applied = Vec::with_capacity(objects.len());
        let mut new_crds: Vec<String> = Vec::new();
        for obj in objects {
            if !new_crds.is_empty() && !is_crd(&obj) {
                for name in std::mem::take(&mut new_crds) {
                    self.wait_established(&name, CRD_ESTABLISH_TIMEOUT).await?;
                }
            }
            let done = self.apply_one(obj, default_namespace).await?;
            if done.kind == "CustomResourceDefinition" {
                new_crds.push(done.name.clone());
            }
            applied.push(done);
        }
        for name in new_crds {
            self.wait_established(&name, CRD_ESTABLISH_TIMEOUT).await?;
        }
        Ok(applied)
    }

    async fn apply_one(
        &mut self,
        mut obj: DynamicObject,
        default_namespace: &str,
    ) -> Result<AppliedObject, ApplyError> {
        let types: TypeMeta = obj.types.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let label = format!("{} {}", types.kind, name);
        let (ar, caps) = self.resolve(&types, &label).await?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = obj
                    .metadata
                    .namespace
                    .get_or_insert_with(|| default_namespace.to_string())
                    .clone();
                Api::namespaced_with(self.client.clone(), &ns, &ar)
            }
            Scope::Cluster => {
                obj.metadata.namespace = None;
                Api::all_with(self.client.clone(), &ar)
            }
        };
        let done = AppliedObject {
            api_version: types.api_version.clone(),
            kind: types.kind.clone(),
            namespace: obj.metadata.namespace.clone(),
            name: name.clone(),
        };
        let params = PatchParams::apply(&self.field_manager).force();
        api.patch(&name, &params, &Patch::Apply(&obj))
            .await
            .map_err(|source| ApplyError::Api {
                object: done.to_string(),
                source,
            })?;
        tracing::debug!(object = %done, "applied");
        Ok(done)
    }

    /// Finds the resource for a kind. A kind that is missing is looked up again for a few
    /// seconds, because a CRD that was just established can take a moment to show up in
    /// discovery.
    async fn resolve(
        &mut self,
        types: &TypeMeta,
        object: &str,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let gvk = GroupVersionKind::try_from(types).map_err(|e| ApplyError::Parse {
            source_name: object.to_string(),
            index: 0,
            reason: e.to_string(),
        })?;
        if let Some(found) = self.resources.get(&gvk) {
            return Ok(found.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ::kube::discovery::pinned_kind(&self.client, &gvk).await {
                Ok(found) => {
                    self.resources.insert(gvk, found.clone());
                    return Ok(found);
                }
                Err(e) if is_missing(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) if is_missing(&e) => {
                    return Err(ApplyError::UnknownKind {
                        api_version: types.api_version.clone(),
                        kind: types.kind.clone(),
                        object: object.to_string(),
                    });
                }
                Err(source) => {
                    return Err(ApplyError::Api {
                        object: object.to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// Waits until the CRD's `Established` condition is true: kube-runtime's
    /// `await_condition` watches the one object instead of polling it.
    async fn wait_established(&self, name: &str, timeout: Duration) -> Result<(), ApplyError> {
        use ::kube::runtime::wait::{await_condition, conditions};
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let established = await_condition(api, name, conditions::is_crd_established());
        match tokio::time::timeout(timeout, established).await {
            Ok(Ok(_)) => Ok(()),
            // The watch itself failed (the API server went away): the same advice applies.
            Ok(Err(e)) => {
                tracing::warn!(crd = name, error = %e, "watching the CRD failed");
                Err(ApplyError::CrdNotEstablished {
                    name: name.to_string(),
                    secs: timeout.as_secs(),
                })
            }
            Err(_) => Err(ApplyError::CrdNotEstablished {
                name: name.to_string(),
                secs: timeout.as_secs(),
            }),
        }
    }
}

fn is_missing(e: &::kube::Error) -> bool {
    match e {
        ::kube::Error::Discovery(_) => true,
        ::kube::Error::Api(status) => status.code == 404,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = r#"
# a comment-only document first
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
"#;

    #[test]
    fn multi_document_yaml_skips_empty_documents_and_puts_crds_then_namespaces_first() {
        let objects = parse_documents("mixed.yaml", MIXED).unwrap();
        assert_eq!(objects.len(), 4);
        let order: Vec<String> = apply_order(objects)
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.clone())
            .collect();
        assert_eq!(
            order,
            [
                "CustomResourceDefinition",
                "Namespace",
                "Deployment",
                "Widget"
            ]
        );
    }

    #[test]
    fn a_list_is_flattened() {
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        let names: Vec<String> = parse_documents("list.yaml", yaml)
            .unwrap()
            .into_iter()
            .map(|o| o.metadata.name.unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn documents_that_are_not_objects_are_refused_with_their_position() {
        let err = parse_documents("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n").unwrap_err();
        assert_eq!(err.code(), "apply_parse");
        let text = err.to_string();
        assert!(text.contains("document 1 of bad.yaml"), "{text}");
        assert!(text.contains("apiVersion and kind"), "{text}");
        let err = parse_documents("x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
            .unwrap_err();
        assert!(err.to_string().contains("metadata.name"), "{err}");
        let err = parse_documents("x.yaml", "a: [unclosed\n").unwrap_err();
        assert_eq!(err.code(), "apply_parse");
    }
}
