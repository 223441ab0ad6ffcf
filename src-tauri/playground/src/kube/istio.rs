//! Istio objects through kube's dynamic API, read and written as the typed resources of
//! [`crate::istio`]. kube's typed `Api<K>` needs `kube::Resource`, which the orphan rule
//! keeps us from implementing on another crate's types, so objects travel as
//! `DynamicObject` and are converted at this edge.

use ::kube::api::{Api, DynamicObject, ListParams};
use ::kube::core::GroupVersionKind;
use ::kube::discovery::ApiResource;

use crate::istio::{Resource, Spec};

/// Where the API server serves kind `S`.
pub fn api_resource<S: Spec>() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(S::GROUP, S::VERSION, S::KIND),
        S::PLURAL,
    )
}

/// The namespaced API of kind `S`.
pub fn api<S: Spec>(client: &::kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &api_resource::<S>())
}

/// A dynamic object as the typed resource. An object the API server stored but that does
/// not have its kind's shape is left out with a warning: one broken object must not stop
/// an action about another.
pub fn typed<S: Spec>(obj: DynamicObject) -> Option<Resource<S>> {
    let value = match serde_json::to_value(&obj) {
        Ok(v) => v,
        Err(error) => {
            tracing::warn!(%error, kind = S::KIND, "object not readable as JSON; left out");
            return None;
        }
    };
    match Resource::<S>::from_value(value) {
        Ok(r) => Some(r),
        Err(error) => {
            tracing::warn!(
                %error,
                kind = S::KIND,
                name = obj.metadata.name.as_deref().unwrap_or(""),
                "object left out"
            );
            None
        }
    }
}

/// The typed resource as a dynamic object, with `apiVersion` and `kind` filled in when the
/// object was read without them (the API server wants both on a write).
pub fn dynamic<S: Spec>(resource: &Resource<S>) -> DynamicObject {
    let mut value = resource.to_value();
    if resource.api_version.is_empty() {
        value["apiVersion"] = crate::istio::api_version::<S>().into();
    }
    if resource.kind.is_empty() {
        value["kind"] = S::KIND.into();
    }
    serde_json::from_value(value).expect("an Istio object is a Kubernetes object")
}

/// Every object of kind `S` in `namespace` that has its kind's shape.
#[tracing::instrument(skip(client), fields(kind = S::KIND))]
pub async fn list<S: Spec>(
    client: &::kube::Client,
    namespace: &str,
) -> Result<Vec<Resource<S>>, ::kube::Error> {
    Ok(api::<S>(client, namespace)
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter_map(typed)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{DestinationRule, DestinationRuleSpec, VirtualServiceSpec};

    #[test]
    fn typed_and_dynamic_objects_convert_both_ways_and_misshapen_ones_are_left_out() {
        let dr = DestinationRule::new(
            "reviews",
            "default",
            DestinationRuleSpec {
                host: "reviews".into(),
                ..Default::default()
            },
        );
        let dynamic_dr = dynamic(&dr);
        assert_eq!(dynamic_dr.types.as_ref().unwrap().kind, "DestinationRule");
        assert_eq!(
            typed::<DestinationRuleSpec>(dynamic_dr.clone()),
            Some(dr.clone())
        );
        // Read without apiVersion and kind (as some list items are): written with them.
        let mut bare = dr.clone();
        bare.api_version.clear();
        bare.kind.clear();
        assert_eq!(
            dynamic(&bare).types.unwrap().api_version,
            "networking.istio.io/v1"
        );
        assert_eq!(typed::<VirtualServiceSpec>(dynamic_dr), None, "wrong kind");
        let mut misshapen = dynamic(&dr);
        misshapen.data["spec"]["subsets"] = serde_json::json!("v1");
        assert_eq!(typed::<DestinationRuleSpec>(misshapen), None);
        assert_eq!(
            api_resource::<DestinationRuleSpec>().plural,
            "destinationrules"
        );
    }
}
