//! Weights between reviews versions against the simulated cluster: bad input refused with
//! the cluster unchanged, 60/30/10 observed through the simulated ingress, undo.

mod actions_common;

use std::collections::BTreeMap;
use std::time::Duration;

use actions_common::Bookinfo;
use playground::actions::weights::{self, WeightPlan};
use playground::traffic::{self, TrafficSettings};

fn plan(service: &str, args: &[&str]) -> WeightPlan {
    WeightPlan::from_args(
        service,
        "default",
        &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .expect("well-formed arguments")
}

fn wide(weights: &[(&str, i64)]) -> WeightPlan {
    WeightPlan {
        service: "reviews".into(),
        namespace: "default".into(),
        weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_weights_are_refused_with_a_clear_message_and_the_cluster_unchanged() {
    let b = Bookinfo::start().await;
    // Something to protect: an existing 80/20 routing.
    weights::apply(&b.client, &plan("reviews", &["v1=80", "v2=20"]))
        .await
        .unwrap();
    let before = b.routing_objects().await;
    assert_eq!(
        before.len(),
        3,
        "bookinfo VS, reviews DR and VS: {before:#?}"
    );

    // Typed on the command line: refused while parsing.
    for (arg, words) in [
        ("v1=101", "at most 100"),
        ("v1=-5", "negative"),
        ("v1=1.5", "whole numbers"),
        ("v1=abc", "not a number"),
    ] {
        let err = WeightPlan::from_args("reviews", "default", &[arg.to_string()]).unwrap_err();
        assert!(err.to_string().contains(words), "{arg}: {err}");
    }
    // Sent as numbers (the window's path): refused by validation before any write.
    let cases: Vec<(WeightPlan, &str, &str)> = vec![
        (
            wide(&[("v1", 101), ("v2", -1)]),
            "invalid_weight",
            "at most 100",
        ),
        (
            wide(&[("v1", 105), ("v2", -5)]),
            "invalid_weight",
            "at most 100",
        ),
        (
            wide(&[("v1", 60), ("v2", 30)]),
            "weights_sum",
            "add up to 90",
        ),
        (
            wide(&[("v1", 90), ("v9", 10)]),
            "unknown_version",
            "has no version v9",
        ),
        (
            plan("nope", &["v1=100"]),
            "unknown_service",
            "no Service nope",
        ),
    ];
    for (p, code, words) in cases {
        let err = weights::apply(&b.client, &p).await.unwrap_err();
        assert_eq!(err.code(), code, "{p:?}: {err}");
        assert!(err.to_string().contains(words), "{p:?}: {err}");
        assert!(err.hint().is_some());
    }

    // A service whose pods have no version label.
    b.kubectl_in(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: v1\nkind: Service\nmetadata: {name: plain, namespace: default}\nspec:\n  selector: {app: plain}\n  ports: [{name: http, port: 80}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: plain, namespace: default}\nspec:\n  selector: {matchLabels: {app: plain}}\n  template:\n    metadata: {labels: {app: plain}}\n    spec: {containers: [{name: plain, image: nginx}]}\n",
        ),
    );
    let err = weights::apply(&b.client, &plan("plain", &["v1=100"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_versions", "{err}");

    // A version whose pods are all gone: 10% to it is refused, 0% is fine.
    b.kubectl(&["scale", "deployment/reviews-v3", "--replicas=0"]);
    b.wait_pods("reviews-v3 gone", |pods| {
        !pods.iter().any(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("version"))
                .map(String::as_str)
                == Some("v3")
                && p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some("reviews")
        })
    })
    .await;
    let err = weights::apply(&b.client, &plan("reviews", &["v1=90", "v3=10"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_ready_pods", "{err}");
    assert!(err.to_string().contains("v3"), "{err}");

    let after = b.routing_objects().await;
    assert_eq!(before, after, "a refused change must not touch the cluster");

    weights::apply(&b.client, &plan("reviews", &["v1=100", "v3=0"]))
        .await
        .expect("no traffic to a version without pods is fine");
}

async fn observe(b: &Bookinfo, n: f64) -> BTreeMap<String, u64> {
    // The simulated data plane in a debug build answers in tens of milliseconds under load:
    // enough requests in flight that the rate holds.
    let rate = 200.0;
    let run = traffic::start(
        &b.sim.ingress_url(),
        TrafficSettings {
            rate,
            concurrency: 128,
            duration_secs: Some(n / rate),
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    let stats = run.finish().await;
    assert_eq!(stats.completed, n as u64, "{stats:?}");
    assert_eq!(stats.statuses.get("200"), Some(&(n as u64)), "{stats:?}");
    stats.versions_total
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_thirty_ten_is_observed_through_the_ingress_and_undo_restores() {
    let b = Bookinfo::start().await;
    let before = b.routing_objects().await;
    let current = weights::read_routing(&b.client, "default", "reviews")
        .await
        .unwrap();
    assert_eq!(current.weights, None, "no reviews VirtualService yet");
    assert_eq!(current.versions.len(), 3);

    let preview = weights::preview(&b.client, &plan("reviews", &["v1=60", "v2=30", "v3=10"]))
        .await
        .unwrap();
    assert!(!preview.applied);
    assert_eq!(
        b.routing_objects().await,
        before,
        "a preview writes nothing"
    );

    let (change, backup) =
        weights::apply(&b.client, &plan("reviews", &["v1=60", "v2=30", "v3=10"]))
            .await
            .unwrap();
    assert_eq!(change.created_subsets, ["v1", "v2", "v3"]);
    assert_eq!(
        change.yaml, preview.yaml,
        "the preview showed exactly what was applied"
    );
    assert!(change.kubectl.contains("kubectl apply --server-side"));
    // The YAML shown is valid input for kubectl, which accepts it as is.
    b.kubectl_in(
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&change.yaml),
    );

    let now = weights::read_routing(&b.client, "default", "reviews")
        .await
        .unwrap();
    let expected: BTreeMap<String, i64> =
        [("v1".into(), 60), ("v2".into(), 30), ("v3".into(), 10)].into();
    assert_eq!(now.weights, Some(expected));
    assert_eq!(now.subsets, ["v1", "v2", "v3"]);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = observe(&b, 1000.0).await;
    let share = |v: &str| *counts.get(v).unwrap_or(&0) as f64 / 10.0;
    assert!((share("v1") - 60.0).abs() <= 5.0, "{counts:?}");
    assert!((share("v2") - 30.0).abs() <= 5.0, "{counts:?}");
    assert!((share("v3") - 10.0).abs() <= 4.0, "{counts:?}");

    let report = weights::undo(&b.client, &backup).await.unwrap();
    assert_eq!(report.done.len(), 2);
    assert!(report.kubectl[0].starts_with("kubectl delete virtualservices reviews"));
    let restored: Vec<_> = b.routing_objects().await;
    assert_eq!(restored, before, "undo deletes what the change created");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_destination_rule_keeps_its_settings_and_undo_puts_it_back() {
    let b = Bookinfo::start().await;
    b.kubectl_in(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews-rule, namespace: default, labels: {owner: teacher}}\nspec:\n  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n  subsets:\n  - {name: v1, labels: {version: v1}}\n",
        ),
    );
    let before = b.routing_objects().await;
    let (change, backup) = weights::apply(&b.client, &plan("reviews", &["v1=50", "v3=50"]))
        .await
        .unwrap();
    assert_eq!(change.created_subsets, ["v2", "v3"]);
    assert!(
        change.yaml.contains("name: reviews-rule"),
        "{}",
        change.yaml
    );
    let dr = b.kubectl(&["get", "destinationrule", "reviews-rule", "-o", "json"]);
    let dr: serde_json::Value = serde_json::from_str(&dr).unwrap();
    assert_eq!(
        dr["spec"]["trafficPolicy"]["loadBalancer"]["simple"],
        "ROUND_ROBIN"
    );
    assert_eq!(dr["spec"]["subsets"].as_array().unwrap().len(), 3);

    weights::undo(&b.client, &backup).await.unwrap();
    let after = b.routing_objects().await;
    let strip = |v: &[serde_json::Value]| {
        v.iter()
            .map(|o| {
                let mut o = o.clone();
                o.as_object_mut().unwrap().remove("resourceVersion");
                o
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&after),
        strip(&before),
        "undo restores the rule as it was"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_virtual_service_puts_the_destination_rule_back() {
    let b = Bookinfo::start().await;
    b.kubectl_in(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: default}\nspec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n",
        ),
    );
    let dr_before = b.kubectl(&[
        "get",
        "destinationrule",
        "reviews",
        "-o",
        "jsonpath={.spec}",
    ]);
    // A broken Istio: the cluster no longer serves VirtualServices.
    b.kubectl(&["delete", "crd", "virtualservices.networking.istio.io"]);
    let err = weights::apply(&b.client, &plan("reviews", &["v1=60", "v2=30", "v3=10"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "apply_rolled_back", "{err}");
    assert!(err.to_string().contains("routing is unchanged"), "{err}");
    assert!(
        err.hint().unwrap().contains("VirtualService"),
        "{:?}",
        err.hint()
    );
    let dr_after = b.kubectl(&[
        "get",
        "destinationrule",
        "reviews",
        "-o",
        "jsonpath={.spec}",
    ]);
    assert_eq!(dr_after, dr_before, "the DestinationRule is as it was");
    assert!(!dr_after.contains("v3"), "{dr_after}");
}
