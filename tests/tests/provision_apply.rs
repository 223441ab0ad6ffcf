//! The app's own YAML apply against the simulated API server: several documents, a CRD and
//! its objects in one file (CRD first, waited for), server-side apply with the playground's
//! field manager, and a second apply that changes nothing.

use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use playground::kube::ClusterTarget;
use playground::kube::apply::Applier;
use playground::paths::AppDirs;
use playground_sim::{SimCluster, SimOptions};

// Objects first, their CRD last: the apply must reorder them.
const FILE: &str = r#"
apiVersion: example.org/v1
kind: Widget
metadata:
  name: first
spec:
  size: 3
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  colour: green
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.org
spec:
  group: example.org
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: in-default
"#;

async fn client(dir: &std::path::Path, cluster: &SimCluster) -> kube::Client {
    let file = dir.join("kubeconfig");
    cluster.write_kubeconfig(&file, "sim").unwrap();
    ClusterTarget::resolve(&AppDirs::at(dir), Some(&file), Some("sim"))
        .client()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_file_with_a_crd_and_its_objects_applies_in_one_go_and_twice_changes_nothing() {
    let cluster = playground_sim::start(SimOptions {
        latency: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path(), &cluster).await;
    let mut applier = Applier::new(client.clone());
    let applied = applier.apply_yaml("file.yaml", FILE, "shop").await.unwrap();
    let order: Vec<String> = applied.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        order,
        [
            "CustomResourceDefinition widgets.example.org",
            "Namespace shop",
            "Widget shop/first",
            "ConfigMap shop/settings",
            "ConfigMap shop/in-default",
        ]
    );
    let widgets = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.org", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "shop", &widgets);
    let w = api.get("first").await.unwrap();
    assert_eq!(w.data["spec"]["size"], 3);
    let managers: Vec<(String, String)> = w
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        [("istio-playground".to_string(), "Apply".to_string())]
    );
    let version = w.metadata.resource_version.clone();

    // Again, from a new applier (fresh discovery): nothing changes.
    let again = Applier::new(client.clone())
        .apply_yaml("file.yaml", FILE, "shop")
        .await
        .unwrap();
    assert_eq!(again.len(), 5);
    assert_eq!(
        api.get("first").await.unwrap().metadata.resource_version,
        version
    );

    // A changed value is applied over the old one.
    Applier::new(client.clone())
        .apply_yaml(
            "w.yaml",
            "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: first}\nspec: {size: 5}\n",
            "shop",
        )
        .await
        .unwrap();
    assert_eq!(api.get("first").await.unwrap().data["spec"]["size"], 5);
}

#[tokio::test]
async fn a_kind_the_cluster_does_not_know_is_refused_with_what_to_install() {
    let cluster = playground_sim::start(SimOptions {
        latency: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path(), &cluster).await;
    let started = std::time::Instant::now();
    let err = Applier::new(client)
        .apply_yaml("vs.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec: {hosts: [reviews]}\n", "default")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "apply_unknown_kind", "{err}");
    assert!(err.to_string().contains("VirtualService"), "{err}");
    assert!(err.hint().unwrap().contains("Istio"), "{err:?}");
    // It looked again for a while (discovery lags behind new CRDs) but not forever.
    assert!(started.elapsed() < Duration::from_secs(20));
}
