//! Istio's CustomResourceDefinitions as the simulated istiod install registers them. Written
//! for the playground: names, scopes, versions and printer columns as Istio declares them,
//! with open schemas (`x-kubernetes-preserve-unknown-fields`) instead of Istio's full ones.

use serde_json::{Value, json};

use crate::store::{Store, WriteOpts};

struct Crd {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    versions: &'static [&'static str],
    columns: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

const AGE: (&str, &str, &str, &str) = (
    "Age",
    "date",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

const CRDS: &[Crd] = &[
    Crd {
        group: "networking.istio.io",
        kind: "Gateway",
        plural: "gateways",
        short: &["gw"],
        versions: &["v1", "v1beta1", "v1alpha3"],
        columns: &[AGE],
    },
    Crd {
        group: "networking.istio.io",
        kind: "VirtualService",
        plural: "virtualservices",
        short: &["vs"],
        versions: &["v1", "v1beta1", "v1alpha3"],
        columns: &[
            (
                "Gateways",
                "string",
                ".spec.gateways",
                "The names of gateways and sidecars that should apply these routes",
            ),
            (
                "Hosts",
                "string",
                ".spec.hosts",
                "The destination hosts to which traffic is being sent",
            ),
            AGE,
        ],
    },
    Crd {
        group: "networking.istio.io",
        kind: "DestinationRule",
        plural: "destinationrules",
        short: &["dr"],
        versions: &["v1", "v1beta1", "v1alpha3"],
        columns: &[
            (
                "Host",
                "string",
                ".spec.host",
                "The name of a service from the service registry",
            ),
            AGE,
        ],
    },
    Crd {
        group: "networking.istio.io",
        kind: "ServiceEntry",
        plural: "serviceentries",
        short: &["se"],
        versions: &["v1", "v1beta1", "v1alpha3"],
        columns: &[
            (
                "Hosts",
                "string",
                ".spec.hosts",
                "The hosts associated with the ServiceEntry",
            ),
            (
                "Location",
                "string",
                ".spec.location",
                "Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)",
            ),
            (
                "Resolution",
                "string",
                ".spec.resolution",
                "Service resolution mode for the hosts (NONE, STATIC, or DNS)",
            ),
            AGE,
        ],
    },
    Crd {
        group: "networking.istio.io",
        kind: "Sidecar",
        plural: "sidecars",
        short: &[],
        versions: &["v1", "v1beta1", "v1alpha3"],
        columns: &[AGE],
    },
    Crd {
        group: "security.istio.io",
        kind: "PeerAuthentication",
        plural: "peerauthentications",
        short: &["pa"],
        versions: &["v1", "v1beta1"],
        columns: &[
            (
                "Mode",
                "string",
                ".spec.mtls.mode",
                "Defines the mTLS mode used for peer authentication.",
            ),
            AGE,
        ],
    },
    Crd {
        group: "security.istio.io",
        kind: "AuthorizationPolicy",
        plural: "authorizationpolicies",
        short: &["ap"],
        versions: &["v1", "v1beta1"],
        columns: &[
            ("Action", "string", ".spec.action", "The operation to take."),
            AGE,
        ],
    },
    Crd {
        group: "security.istio.io",
        kind: "RequestAuthentication",
        plural: "requestauthentications",
        short: &["ra"],
        versions: &["v1", "v1beta1"],
        columns: &[AGE],
    },
    Crd {
        group: "telemetry.istio.io",
        kind: "Telemetry",
        plural: "telemetries",
        short: &["telemetry"],
        versions: &["v1", "v1alpha1"],
        columns: &[AGE],
    },
];

fn crd(c: &Crd) -> Value {
    let category = format!("{}-istio-io", c.group.split('.').next().unwrap_or("istio"));
    let versions: Vec<Value> = c
        .versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({
                "name": v,
                "served": true,
                "storage": i == 0,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": format!("{} (simulated: schema not enforced)", c.kind),
                    "x-kubernetes-preserve-unknown-fields": true
                }},
                "additionalPrinterColumns": c.columns.iter().map(|(name, ty, path, desc)| json!({
                    "name": name, "type": ty, "jsonPath": path, "description": desc
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{}", c.plural, c.group),
            "labels": {"app": "istio-pilot", "chart": "istio", "heritage": "Tiller", "release": "istio"},
        },
        "spec": {
            "group": c.group,
            "scope": "Namespaced",
            "names": {
                "kind": c.kind,
                "listKind": format!("{}List", c.kind),
                "plural": c.plural,
                "singular": c.kind.to_lowercase(),
                "shortNames": c.short,
                "categories": ["istio-io", category],
            },
            "versions": versions,
        }
    })
}

/// The Istio CRDs, as objects ready to create.
pub fn istio_crds() -> Vec<Value> {
    CRDS.iter().map(crd).collect()
}

/// Creates (or leaves in place) every Istio CRD.
pub fn install_istio_crds(store: &Store) -> Result<(), crate::ApiError> {
    let def = store
        .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CRDs are built in");
    for c in istio_crds() {
        let name = c["metadata"]["name"].as_str().unwrap_or("").to_string();
        if store.get(&def, "", &name).is_err() {
            store.create(&def, "v1", "", c, &WriteOpts::manager("istioctl"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::from_crd;

    #[test]
    fn every_crd_parses() {
        for c in istio_crds() {
            let d = from_crd(&c).unwrap();
            assert_eq!(d.versions[0], "v1");
            assert!(d.namespaced);
        }
    }
}
