//! The envelope every Istio object shares: `apiVersion`, `kind`, `metadata`, `spec`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::values::{Extra, Labels};

/// The spec of one Istio kind, with where the API server serves it.
pub trait Spec: Serialize + DeserializeOwned + Default + Clone + PartialEq {
    /// API group, e.g. `networking.istio.io`.
    const GROUP: &'static str;
    /// The version this crate writes; older versions (`v1beta1`, `v1alpha3`) have the same
    /// shape and are read too.
    const VERSION: &'static str = "v1";
    const KIND: &'static str;
    /// The resource name in API paths, e.g. `virtualservices`.
    const PLURAL: &'static str;
}

/// The part of Kubernetes' `ObjectMeta` the app reads; the rest (uid, managedFields,
/// ownerReferences...) is kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Empty for an object written without one (a sample file); the API server fills it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub annotations: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// RFC 3339, as the API server writes it; Istio orders VirtualServices by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ObjectMeta {
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }
}

/// One Istio object. `status` and other top-level fields are kept in `extra`.
///
/// Lists and maps follow protobuf, where an empty list and a missing one are the same: they
/// read as empty and are not written back when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "S: DeserializeOwned + Default")
)]
pub struct Resource<S> {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: S,
    #[serde(flatten)]
    pub extra: Extra,
}

impl<S: Spec> Resource<S> {
    /// A new object of this kind, at the version this crate writes.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>, spec: S) -> Self {
        Self {
            api_version: api_version::<S>(),
            kind: S::KIND.to_owned(),
            metadata: ObjectMeta::new(name, namespace),
            spec,
            extra: Extra::new(),
        }
    }

    /// Reads an object from JSON (as the API server or a YAML file gives it). A missing
    /// `apiVersion` or `kind` is accepted (list items may lack them); a different one is not.
    pub fn from_value(value: Value) -> Result<Self> {
        let kind = value.get("kind").and_then(Value::as_str);
        let api_version = value.get("apiVersion").and_then(Value::as_str);
        let group = api_version.map(|v| v.split_once('/').map_or("", |(g, _)| g));
        if kind.is_some_and(|k| k != S::KIND) || group.is_some_and(|g| g != S::GROUP) {
            return Err(Error::WrongKind {
                expected: S::KIND,
                group: S::GROUP,
                found: format!(
                    "{} {}",
                    api_version.unwrap_or("(no apiVersion)"),
                    kind.unwrap_or("(no kind)")
                ),
            });
        }
        serde_json::from_value(value).map_err(|source| Error::Shape {
            kind: S::KIND,
            source,
        })
    }

    /// The object as JSON, for server-side apply or display.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("Istio objects have string keys and plain values")
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
}

/// `group/version` of a kind, as this crate writes it.
pub fn api_version<S: Spec>() -> String {
    format!("{}/{}", S::GROUP, S::VERSION)
}
