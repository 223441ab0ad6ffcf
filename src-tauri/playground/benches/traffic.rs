//! Traffic generator benchmarks (`cargo bench -p playground --bench traffic`), against a
//! local HTTP server that answers like the product page:
//!
//! 1. steadiness: 100 requests/s for 30 s; the achieved rate overall and per second;
//! 2. maximum: as fast as 64 requests in flight allow for 10 s, next to `wrk` with the same
//!    connections and one thread (the generator runs on one tokio worker) against the same
//!    server in the same run (when wrk is installed).
//!
//! Set `TRAFFIC_BENCH_SECS` to shorten the steadiness run.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use playground::traffic::{self, TrafficSettings};

const PAGE: &str = "<html><head><title>Simple Bookstore App</title></head><body>\
<dl><dt>Reviews served by:</dt><dd><u>reviews-v2-5b667bcbf8-jx4hq</u></dd></dl></body></html>";

async fn server() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/productpage",
        get(move || {
            h.fetch_add(1, Ordering::Relaxed);
            async { PAGE }
        }),
    );
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

async fn steadiness(base: &str, hits: &AtomicU64, secs: f64) {
    let rate = 100.0;
    let start_hits = hits.load(Ordering::Relaxed);
    let per_report: Arc<Mutex<Vec<(f64, u64)>>> = Default::default();
    let seen = per_report.clone();
    let run = traffic::start(
        base,
        TrafficSettings {
            rate,
            concurrency: 16,
            duration_secs: Some(secs),
            user: None,
            user_share: None,
        },
        move |s| seen.lock().unwrap().push((s.elapsed_secs, s.completed)),
    )
    .unwrap();
    let stats = run.finish().await;
    let expected = (rate * secs).round() as u64;
    let served = hits.load(Ordering::Relaxed) - start_hits;
    // Rates between reports one second apart (every second report), skipping the first.
    let reports = per_report.lock().unwrap().clone();
    let mut window_rates: Vec<f64> = reports
        .windows(3)
        .step_by(2)
        .skip(1)
        .filter(|w| w[2].0 - w[0].0 > 0.0)
        .map(|w| (w[2].1 - w[0].1) as f64 / (w[2].0 - w[0].0))
        .collect();
    window_rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let deviation = (stats.achieved_rate - rate).abs() / rate * 100.0;
    println!("steadiness: target {rate} req/s for {secs} s");
    println!(
        "  completed {} of {expected} (server saw {served}); achieved {:.2} req/s over {:.2} s; deviation {:.2} %",
        stats.completed, stats.achieved_rate, stats.elapsed_secs, deviation
    );
    if let (Some(lo), Some(hi)) = (window_rates.first(), window_rates.last()) {
        println!(
            "  per-second rate: min {lo:.1}, max {hi:.1} ({} windows)",
            window_rates.len()
        );
    }
    println!(
        "  latency p50 {:.3} ms, p99 {:.3} ms",
        stats.latency.p50_ms, stats.latency.p99_ms
    );
    println!(
        "  within 1 %: {}",
        if deviation <= 1.0 && stats.completed == expected {
            "yes"
        } else {
            "NO"
        }
    );
}

async fn maximum(base: &str, connections: u32, secs: f64) {
    let run = traffic::start_unbounded(
        base,
        TrafficSettings {
            rate: 1_000_000.0,
            concurrency: connections,
            duration_secs: Some(secs),
            user: None,
            user_share: None,
        },
        |_| {},
    )
    .unwrap();
    let stats = run.finish().await;
    println!(
        "maximum: generator with {connections} in flight for {secs} s: {:.0} req/s ({} requests, p50 {:.3} ms, p99 {:.3} ms, statuses {:?})",
        stats.achieved_rate,
        stats.completed,
        stats.latency.p50_ms,
        stats.latency.p99_ms,
        stats.statuses
    );
}

fn wrk(base: &str, connections: u32, secs: u64) {
    let url = format!("{base}/productpage");
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            &url,
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let rps = text
                .lines()
                .find(|l| l.starts_with("Requests/sec:"))
                .unwrap_or("Requests/sec: ?");
            let p50 = text
                .lines()
                .find(|l| l.trim_start().starts_with("50%"))
                .unwrap_or("")
                .trim();
            println!(
                "maximum: wrk -t1 -c{connections} -d{secs}s: {} (latency {p50})",
                rps.trim()
            );
        }
        Ok(o) => println!("wrk failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => println!("wrk is not installed ({e}); apt-get install wrk to compare"),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run briefly then.
    let benching = std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("TRAFFIC_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if benching { 30.0 } else { 2.0 });
    let max_secs = if benching { 10 } else { 1 };
    // The server gets its own runtime and threads, like a separate process would.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (base, hits) = server_rt.block_on(server());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    rt.block_on(steadiness(&base, &hits, secs));
    rt.block_on(maximum(&base, 64, max_secs as f64));
    if benching {
        wrk(&base, 64, max_secs);
    }
    println!("(total {:.1} s)", started.elapsed().as_secs_f64());
    let _ = Duration::ZERO;
}
