//! A simulated Bookinfo for the action and traffic tests, with kubectl and a kube client.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use playground::actions::weights::{destination_rule_resource, virtual_service_resource};
use playground_sim::{Scenario, SimCluster, SimOptions};

pub struct Bookinfo {
    pub sim: SimCluster,
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
    _dir: tempfile::TempDir,
}

impl Bookinfo {
    /// Starts the simulated playground and waits until every Bookinfo pod is ready.
    pub async fn start() -> Self {
        let fixture = playground_tests::SimFixture::start(SimOptions {
            scenario: Some(Scenario::Bookinfo),
            ready_delay: Duration::from_millis(100),
            seed: Some(11),
            latency: false,
            ..SimOptions::default()
        })
        .await;
        let client = fixture.target().client().await.expect("client");
        let playground_tests::SimFixture {
            sim,
            kubeconfig,
            dir,
        } = fixture;
        let b = Self {
            sim,
            kubeconfig,
            client,
            _dir: dir,
        };
        b.wait_pods("every Bookinfo pod ready", |pods| {
            pods.len() == 6 && pods.iter().all(ready)
        })
        .await;
        b
    }

    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_in(args, None)
    }

    pub fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        playground_tests::kubectl(&self.kubeconfig, args, stdin)
    }

    /// Waits (up to 15 s) until the pods of `default` satisfy `done`.
    pub async fn wait_pods(&self, what: &str, done: impl Fn(&[Pod]) -> bool) -> Vec<Pod> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let pods: Vec<Pod> = api
                .list(&ListParams::default())
                .await
                .unwrap()
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            if done(&pods) {
                return pods;
            }
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The routing objects of `default` (DestinationRules and VirtualServices), without the
    /// fields the server changes on every write, to compare before and after.
    pub async fn routing_objects(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for ar in [destination_rule_resource(), virtual_service_resource()] {
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), "default", &ar);
            for o in api.list(&ListParams::default()).await.unwrap() {
                out.push(serde_json::json!({
                    "kind": ar.kind,
                    "name": o.metadata.name,
                    "labels": o.metadata.labels,
                    "resourceVersion": o.metadata.resource_version,
                    "spec": o.data.get("spec"),
                }));
            }
        }
        out
    }
}

pub fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// True when the pod has an Istio sidecar (a container or native init container).
pub fn has_sidecar(p: &Pod) -> bool {
    let spec = p.spec.as_ref().unwrap();
    spec.containers.iter().any(|c| c.name == "istio-proxy")
        || spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == "istio-proxy")
}
