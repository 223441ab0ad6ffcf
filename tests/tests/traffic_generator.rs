//! The traffic generator against a local HTTP server: it holds its rate, counts status codes
//! and stops when asked.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use playground::traffic::{self, TrafficSettings, TrafficStats};

/// A product page that answers v1 twice, then v3 once, and a 503 every tenth request.
async fn local_server() -> (SocketAddr, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/productpage",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n % 10 == 9 {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "no healthy upstream".to_string(),
                    );
                }
                let v = if n % 3 == 2 { "v3" } else { "v1" };
                (
                    StatusCode::OK,
                    format!("<dt>Reviews served by:</dt><dd><u>reviews-{v}-abc-123</u></dd>"),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generator_holds_its_rate_and_counts_what_came_back() {
    let (addr, hits) = local_server().await;
    let reports: Arc<Mutex<Vec<TrafficStats>>> = Default::default();
    let seen = reports.clone();
    let run = traffic::start(
        &format!("http://{addr}"),
        TrafficSettings {
            rate: 200.0,
            concurrency: 8,
            duration_secs: Some(3.0),
            user: None,
            user_share: None,
        },
        move |s| seen.lock().unwrap().push(s),
    )
    .unwrap();
    let stats = run.finish().await;
    assert_eq!(stats.completed, 600, "{stats:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 600);
    assert!((stats.achieved_rate - 200.0).abs() <= 6.0, "{stats:?}");
    assert_eq!(stats.statuses.get("503"), Some(&60));
    assert_eq!(stats.statuses.get("200"), Some(&540));
    assert_eq!(stats.recent, 200);
    assert!(stats.latency.p50_ms > 0.0 && stats.latency.p99_ms >= stats.latency.p50_ms);
    assert!(!stats.running);
    let reports = reports.lock().unwrap();
    // About one report every 500 ms, the last one final.
    assert!(
        (5..=8).contains(&reports.len()),
        "{} reports",
        reports.len()
    );
    assert!(reports.last().is_some_and(|r| !r.running));
    let live = &reports[reports.len() / 2];
    assert!(
        live.running && (live.current_rate - 200.0).abs() < 30.0,
        "{live:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_an_open_ended_run_and_slow_rates_are_paced() {
    let (addr, _) = local_server().await;
    let run = traffic::start(
        &format!("http://{addr}"),
        TrafficSettings {
            rate: 2.0,
            concurrency: 1,
            duration_secs: None,
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1900)).await;
    run.stop();
    let stats = tokio::time::timeout(Duration::from_secs(2), run.finish())
        .await
        .expect("stop ends the run");
    // Due at 0, 0.5, 1.0, 1.5 s.
    assert_eq!(stats.completed, 4, "{stats:?}");
}

#[tokio::test]
async fn an_unreachable_target_counts_errors_instead_of_failing() {
    let port = playground_tests::free_port();
    let run = traffic::start(
        &format!("http://127.0.0.1:{port}"),
        TrafficSettings {
            rate: 20.0,
            concurrency: 2,
            duration_secs: Some(1.0),
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    let stats = run.finish().await;
    assert_eq!(stats.statuses.get("error"), Some(&20), "{stats:?}");
}
