//! How long the app's telemetry takes against the simulated cluster while Bookinfo serves
//! steady traffic: one instant query, and one whole refresh (five queries at once, parsed
//! and assembled). A measurement, not a check: run with
//! `cargo test -p playground-tests --test telemetry_bench -- --ignored --nocapture`
//! (add `--release` for optimised figures).

use std::time::{Duration, Instant, SystemTime};

use kube::Config;
use playground::telemetry::{self, Prometheus, queries};
use playground::traffic::{self, TrafficSettings};
use playground_sim::{Scenario, SimOptions};

fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99), at(1.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn telemetry_refresh_at_bookinfo_traffic() {
    let cluster = playground_sim::start(SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(50),
        seed: Some(3),
        ..Default::default()
    })
    .await
    .unwrap();
    let prom = Prometheus::from_config(Config::new(cluster.api_url().parse().unwrap())).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rate = 50.0;
    let run = traffic::start(
        &cluster.ingress_url(),
        TrafficSettings {
            rate,
            concurrency: 16,
            duration_secs: None,
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    // A window's worth of traffic first.
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;

    let text = queries::requests(window);
    let mut single = vec![];
    let mut refresh = vec![];
    let mut edges = 0;
    for _ in 0..100 {
        let t = Instant::now();
        prom.query(&text, SystemTime::now()).await.unwrap();
        single.push(t.elapsed());
        let t = Instant::now();
        let snap = telemetry::read_traffic(&prom, window, SystemTime::now())
            .await
            .unwrap();
        refresh.push(t.elapsed());
        edges = snap.edges.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.stop();
    let stats = run.finish().await;
    let (s50, s99, smax) = percentiles(single);
    let (r50, r99, rmax) = percentiles(refresh);
    println!(
        "Bookinfo at {rate} requests/s ({} sent), {edges} edges, {window:?} window, 100 samples each:",
        stats.completed
    );
    println!(
        "  one instant query (requests per edge): p50 {s50:.1} ms, p99 {s99:.1} ms, max {smax:.1} ms"
    );
    println!(
        "  one refresh (5 queries + assembly):   p50 {r50:.1} ms, p99 {r99:.1} ms, max {rmax:.1} ms"
    );
}
