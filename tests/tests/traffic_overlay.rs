//! Traffic on the Mesh graph, through the session's path: the window starts the simulated
//! playground, watches the mesh, and requests sent through the simulated ingress come back
//! as `MeshEvent::Traffic` overlays laid onto the graph's node ids, within seconds.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kube::api::{Api, DeleteParams};
use playground::actions::fault::{FaultKind, FaultPlan};
use playground::actions::weights::WeightPlan;
use playground::kube::ClusterTarget;
use playground::mesh::{MeshEvent, TrafficLink, TrafficOverlay, TrafficState};
use playground::paths::AppDirs;
use playground::simulated::{Scenario, SimOptions};
use playground::telemetry::TelemetryProblem;
use playground::traffic::TrafficSettings;
use playground::{ErrorCode, Session};
use tokio::sync::mpsc::Receiver;

const INGRESS_TO_PRODUCTPAGE: &str =
    "traffic:ingress/istio-system/istio-ingressgateway->wl/default/productpage-v1";

/// The window's session with a simulated Bookinfo it started itself, and its mesh stream
/// once the first snapshot (every pod ready) is out.
async fn simulated(home: &Path, seed: u64) -> (Session, Receiver<MeshEvent>) {
    let dirs = AppDirs::at(home);
    let session = Session::new(dirs.clone(), ClusterTarget::resolve(&dirs, None, None));
    session
        .start_simulated(
            SimOptions {
                scenario: Some(Scenario::Bookinfo),
                ready_delay: Duration::from_millis(50),
                seed: Some(seed),
                latency: false,
                ..SimOptions::default()
            },
            None,
        )
        .await
        .unwrap();
    // Until the six Bookinfo pods are ready, a new watch (its snapshot shows them).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut events = session.watch_mesh().await.unwrap();
        let snapshot = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                if let Some(MeshEvent::Snapshot { snapshot }) = events.recv().await {
                    break snapshot;
                }
            }
        })
        .await
        .expect("a snapshot");
        let ready = snapshot
            .nodes
            .iter()
            .filter(|n| n.id.starts_with("pod/default/") && n.ready.is_some_and(|r| r.complete()))
            .count();
        if ready == 6 {
            return (session, events);
        }
        assert!(Instant::now() < deadline, "bookinfo never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The next traffic state on the stream (other events skipped).
async fn next_traffic(events: &mut Receiver<MeshEvent>, deadline: Instant) -> TrafficState {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(MeshEvent::Traffic { traffic })) => return traffic,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the mesh stream ended"),
            Err(_) => panic!("no traffic event in time"),
        }
    }
}

/// The first live overlay evaluated at or after `after_ms` that satisfies `done`, within
/// `within`.
async fn overlay_where(
    events: &mut Receiver<MeshEvent>,
    after_ms: i64,
    within: Duration,
    what: &str,
    done: impl Fn(&TrafficOverlay) -> bool,
) -> TrafficOverlay {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        match next_traffic(events, deadline + Duration::from_secs(3)).await {
            TrafficState::Live { overlay } if overlay.at_ms >= after_ms => {
                if done(&overlay) {
                    return overlay;
                }
                last = Some(overlay);
            }
            _ => {}
        }
    }
    panic!("no overlay where {what}; the last: {last:#?}");
}

fn link<'a>(o: &'a TrafficOverlay, id: &str) -> Option<&'a TrafficLink> {
    o.links.iter().find(|l| l.id == id)
}

fn settings(rate: f64, secs: f64) -> TrafficSettings {
    TrafficSettings {
        rate,
        concurrency: 32,
        duration_secs: Some(secs),
        user: None,
        user_share: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_30_10_split_through_the_simulated_ingress_shows_on_the_overlay() {
    let home = tempfile::tempdir().unwrap();
    let (session, mut events) = simulated(home.path(), 60).await;
    let args: Vec<String> = ["v1=60", "v2=30", "v3=10"].map(String::from).to_vec();
    session
        .apply_weights(&WeightPlan::from_args("reviews", "default", &args).unwrap())
        .await
        .unwrap();

    // Requests show on the graph within 3 seconds of the first one (a rate needs two of the
    // simulated Prometheus's one-second scrapes, then the next one-second reading). The
    // assertion allows a second more for a machine busy with parallel builds and tests.
    let started = Instant::now();
    let started_ms = now_ms();
    // Until 1,000 requests are answered, however long a busy machine takes for them.
    let completed = Arc::new(AtomicU64::new(0));
    let count = completed.clone();
    session
        .start_traffic(
            TrafficSettings {
                rate: 250.0,
                concurrency: 32,
                duration_secs: None,
                user: None,
                user_share: None,
            },
            None,
            move |s| count.store(s.completed, Ordering::Relaxed),
        )
        .await
        .unwrap();
    overlay_where(
        &mut events,
        started_ms,
        Duration::from_secs(6),
        "the ingress calls productpage",
        |o| link(o, INGRESS_TO_PRODUCTPAGE).is_some_and(|l| l.requests_per_second > 0.0),
    )
    .await;
    let first_seen = started.elapsed();
    eprintln!("requests first seen on the overlay after {first_seen:?}");
    assert!(
        first_seen < Duration::from_secs(4),
        "traffic took {first_seen:?} to show"
    );

    while completed.load(Ordering::Relaxed) < 1_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "too slow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    session.stop_traffic();
    let stats = session.finish_traffic().await.unwrap();
    eprintln!(
        "{} requests in {:.1} s",
        stats.completed, stats.elapsed_secs
    );
    assert!(stats.completed >= 1_000, "{stats:?}");
    assert_eq!(stats.statuses.get("200"), Some(&stats.completed));
    // An overlay evaluated after the scrape that saw the last request (its 10 s window holds
    // the whole run unless the machine was too busy to send 250 a second).
    let o = overlay_where(
        &mut events,
        now_ms() + 1_100,
        Duration::from_secs(8),
        "every reviews subset has an observed share",
        |o| o.splits.len() == 3 && o.splits.iter().all(|s| s.observed_share.is_some()),
    )
    .await;
    let seen: Vec<(String, u32, f64)> = o
        .splits
        .iter()
        .map(|s| {
            (
                s.subset.clone(),
                s.weight,
                s.observed_share.unwrap() * 100.0,
            )
        })
        .collect();
    eprintln!("splits set and seen: {seen:?}");
    for (subset, weight, share) in &seen {
        assert!(
            (share - f64::from(*weight)).abs() <= 5.0,
            "{subset}: {weight}% set, {share:.1}% seen"
        );
    }
    assert_eq!(
        o.splits
            .iter()
            .map(|s| s.subset.as_str())
            .collect::<Vec<_>>(),
        [
            "subset/default/reviews/v1",
            "subset/default/reviews/v2",
            "subset/default/reviews/v3"
        ]
    );
    assert!(o.splits.iter().all(|s| {
        s.route_edge
            .starts_with("route:vs/default/reviews->subset/default/reviews/")
    }));
    // Every hop, between the graph's own nodes, over mutual TLS, without errors.
    for id in [
        INGRESS_TO_PRODUCTPAGE,
        "traffic:wl/default/productpage-v1->wl/default/details-v1",
        "traffic:wl/default/productpage-v1->wl/default/reviews-v1",
        "traffic:wl/default/productpage-v1->wl/default/reviews-v2",
        "traffic:wl/default/productpage-v1->wl/default/reviews-v3",
        "traffic:wl/default/reviews-v2->wl/default/ratings-v1",
        "traffic:wl/default/reviews-v3->wl/default/ratings-v1",
    ] {
        let l = link(&o, id).unwrap_or_else(|| panic!("no link {id}: {:#?}", o.links));
        assert!(l.requests_per_second > 0.0, "{l:?}");
        assert_eq!(l.error_share, 0.0, "{l:?}");
        assert!(l.latency.p95_ms.is_some(), "{l:?}");
    }
    let pp = o
        .nodes
        .iter()
        .find(|n| n.node == "wl/default/productpage-v1")
        .unwrap();
    assert!(pp.inbound_per_second > 0.0 && pp.outbound_per_second > pp.inbound_per_second);

    // The charts read the same telemetry.
    let history = session
        .service_history("default", "reviews", 1)
        .await
        .unwrap();
    let versions: std::collections::BTreeSet<&str> = history
        .points
        .iter()
        .flat_map(|p| p.versions.iter().map(|v| v.version.as_str()))
        .collect();
    assert_eq!(versions, ["v1", "v2", "v3"].into());
    let err = session
        .service_history("default", "reviews", 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    session.stop_simulated().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abort_on_ratings_shows_as_errors_on_the_links_to_ratings() {
    let home = tempfile::tempdir().unwrap();
    let (session, mut events) = simulated(home.path(), 61).await;
    session
        .fault(
            &FaultPlan {
                service: "ratings".into(),
                namespace: "default".into(),
                fault: Some(FaultKind::Abort { status: 500 }),
                percent: 100.0,
                user: None,
                header: None,
            },
            false,
        )
        .await
        .unwrap();
    session
        .start_traffic(settings(60.0, 2.0), None, |_| {})
        .await
        .unwrap();
    let stats = session.finish_traffic().await.unwrap();
    assert!(stats.completed > 0, "{stats:?}");
    let o = overlay_where(
        &mut events,
        now_ms() + 1_100,
        Duration::from_secs(8),
        "both reviews versions that call ratings are seen failing",
        |o| {
            ["v2", "v3"].iter().all(|v| {
                link(
                    o,
                    &format!("traffic:wl/default/reviews-{v}->svc/default/ratings"),
                )
                .is_some()
            })
        },
    )
    .await;
    for v in ["v2", "v3"] {
        let l = link(
            &o,
            &format!("traffic:wl/default/reviews-{v}->svc/default/ratings"),
        )
        .unwrap();
        assert_eq!(l.target, "svc/default/ratings", "no pod answered");
        assert_eq!(l.service.as_deref(), Some("svc/default/ratings"));
        assert_eq!(l.error_share, 1.0, "{l:?}");
        assert_eq!(l.responses[0].code, 500);
        assert_eq!(l.responses[0].flags, ["FI"]);
        // Reviews copes (it shows no stars), so the error stays on the link to ratings.
        let to_reviews = link(
            &o,
            &format!("traffic:wl/default/productpage-v1->wl/default/reviews-{v}"),
        )
        .unwrap();
        assert_eq!(to_reviews.error_share, 0.0, "{to_reviews:?}");
    }
    assert!(
        !o.links.iter().any(|l| l.target == "wl/default/ratings-v1"),
        "no request reached ratings' pod"
    );
    let ratings = o
        .nodes
        .iter()
        .find(|n| n.node == "svc/default/ratings")
        .unwrap();
    assert_eq!(ratings.inbound_error_share, 1.0);
    session.stop_simulated().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_prometheus_the_stream_says_so_and_keeps_the_graph() {
    let home = tempfile::tempdir().unwrap();
    let (session, mut events) = simulated(home.path(), 62).await;
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(session.client().await.unwrap(), "istio-system");
    services
        .delete("prometheus", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let problem: TelemetryProblem = loop {
        if let TrafficState::Unavailable { problem, .. } = next_traffic(&mut events, deadline).await
        {
            break problem;
        }
    };
    assert_eq!(problem.code, ErrorCode::TelemetryMissing);
    assert!(problem.message.contains("not installed"), "{problem:?}");
    assert!(problem.hint.is_some());
    session.stop_simulated().await;
}
