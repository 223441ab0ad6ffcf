//! Sidecar injection on a namespace against the simulated cluster: off and on with a
//! restart (pods 1/1 then 2/2), paused deployments refused, opted-out pods explained.

mod actions_common;

use actions_common::{Bookinfo, has_sidecar, ready};
use playground::actions::injection::{self, InjectionRequest};

fn req(enabled: bool, restart: bool) -> InjectionRequest {
    InjectionRequest {
        namespace: "default".into(),
        enabled,
        restart,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn injection_off_then_on_with_a_restart_takes_sidecars_away_and_back() {
    let b = Bookinfo::start().await;
    let report = injection::set_injection(&b.client, &req(false, true), "2026-11-26T10:00:00Z")
        .await
        .unwrap();
    assert!(report.label_changed);
    assert_eq!(report.restarted.len(), 6, "{report:?}");
    assert_eq!(
        report.kubectl[0],
        "kubectl label namespace default istio-injection-"
    );
    assert_eq!(
        report.kubectl[1],
        "kubectl rollout restart deployment/details-v1 -n default"
    );
    let ns = b.kubectl(&["get", "namespace", "default", "-o", "json"]);
    assert!(!ns.contains("istio-injection"), "{ns}");
    let d = b.kubectl(&[
        "get",
        "deployment",
        "reviews-v2",
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    assert!(d.contains("2026-11-26T10:00:00Z"), "{d}");
    b.wait_pods("six pods 1/1 without sidecars", |pods| {
        pods.len() == 6 && pods.iter().all(|p| ready(p) && !has_sidecar(p))
    })
    .await;
    let table = b.kubectl(&["get", "pods"]);
    assert!(table.contains("1/1") && !table.contains("2/2"), "{table}");

    let report = injection::set_injection(&b.client, &req(true, true), "2026-11-26T10:05:00Z")
        .await
        .unwrap();
    assert!(report.label_changed);
    assert_eq!(
        report.kubectl[0],
        "kubectl label namespace default istio-injection=enabled --overwrite"
    );
    b.wait_pods("six pods 2/2 with sidecars", |pods| {
        pods.len() == 6 && pods.iter().all(|p| ready(p) && has_sidecar(p))
    })
    .await;
    let table = b.kubectl(&["get", "pods"]);
    assert_eq!(table.matches("2/2").count(), 6, "{table}");

    // Asking again changes nothing and restarts nothing.
    let again = injection::set_injection(&b.client, &req(true, false), "2026-11-26T10:06:00Z")
        .await
        .unwrap();
    assert!(!again.label_changed && again.restarted.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_deployments_are_refused_and_opted_out_pods_are_explained() {
    let b = Bookinfo::start().await;
    b.kubectl(&["rollout", "pause", "deployment/details-v1"]);
    b.kubectl(&[
        "patch",
        "deployment/ratings-v1",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"metadata":{"labels":{"sidecar.istio.io/inject":"false"}}}}}"#,
    ]);
    let report = injection::set_injection(&b.client, &req(true, true), "2026-11-26T11:00:00Z")
        .await
        .unwrap();
    assert!(!report.label_changed, "bookinfo is labelled already");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].name, "details-v1");
    assert!(report.skipped[0].reason.contains("paused"));
    assert!(
        report.skipped[0]
            .reason
            .contains("kubectl rollout resume deployment/details-v1")
    );
    assert!(!report.restarted.contains(&"details-v1".to_string()));
    let annotations = b.kubectl(&[
        "get",
        "deployment",
        "details-v1",
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    assert!(
        !annotations.contains("restartedAt"),
        "a paused deployment is left alone"
    );
    assert!(
        report
            .opted_out
            .iter()
            .any(|o| o.name == "deployment/ratings-v1"
                && o.reason.contains("never gives it a sidecar")),
        "{report:?}"
    );
    let err = injection::set_injection(
        &b.client,
        &InjectionRequest {
            namespace: "nope".into(),
            enabled: true,
            restart: false,
        },
        "2026-11-26T11:00:00Z",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "unknown_namespace");
}
