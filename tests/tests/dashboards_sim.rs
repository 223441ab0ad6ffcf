//! Dashboards against the simulated cluster: the addon Services resolve to a ready pod and
//! the container port behind the Service port (Jaeger's 80 is the UI's 16686), and opening
//! one in simulated mode is refused plainly rather than faked.

mod actions_common;

use actions_common::Bookinfo;
use playground::dashboards::{self, Dashboard};

#[tokio::test(flavor = "multi_thread")]
async fn each_dashboard_resolves_to_a_ready_addon_pod_and_its_ui_port() {
    let b = Bookinfo::start().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for d in Dashboard::ALL {
        let (pod, port) = loop {
            match dashboards::ready_pod(&b.client, d).await {
                Ok(found) => break found,
                Err(e)
                    if e.code() == "dashboard_not_ready"
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{d:?}: {e}"),
            }
        };
        let expected_prefix = match d {
            Dashboard::Jaeger => "jaeger",
            other => other.service(),
        };
        assert!(pod.starts_with(expected_prefix), "{d:?}: {pod}");
        let expected_port = match d {
            Dashboard::Jaeger => 16686,
            other => other.service_port(),
        };
        assert_eq!(port, expected_port, "{d:?}");
    }

    let Err(err) = dashboards::open(b.client.clone(), Dashboard::Kiali, true).await else {
        panic!("simulated mode must refuse");
    };
    assert_eq!(err.code(), "dashboard_needs_real_cluster");
    assert!(err.to_string().contains("needs a real cluster"), "{err}");
    assert!(err.hint().unwrap().contains("Setup screen"));

    // An addon that is missing says so and how to get it.
    b.kubectl(&["delete", "service", "grafana", "-n", "istio-system"]);
    let err = dashboards::ready_pod(&b.client, Dashboard::Grafana)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "dashboard_not_installed", "{err}");
}
