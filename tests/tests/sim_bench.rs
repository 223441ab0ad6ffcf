//! Throughput and memory of the simulated API server with 2,000 pods. A measurement, not a
//! check: run with
//! `cargo test --release -p playground-tests --test sim_bench -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use playground_sim::SimOptions;
use playground_sim::test_support::WriteOpts;
use serde_json::{Value, json};

const PODS: usize = 2_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bench-{i:05}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
        "spec": {"nodeName": "istio-playground-control-plane", "containers": [{"name": "app", "image": "example.org/bench:1", "ports": [{"containerPort": 8080}]}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn list_and_watch_throughput_with_2000_pods() {
    let cluster = playground_sim::start(SimOptions {
        ready_delay: Duration::from_secs(3600),
        seed: Some(1),
        history_limit: std::env::var("SIM_BENCH_HISTORY")
            .ok()
            .and_then(|h| h.parse().ok())
            .unwrap_or(50_000),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = cluster.store().clone();
    let def = store.def_for_kind("", "Pod").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let rss_before = rss_kib();
    let t = Instant::now();
    for i in 0..PODS {
        store
            .create(&def, "v1", "default", pod(i), &WriteOpts::manager("bench"))
            .unwrap();
    }
    let create = t.elapsed();
    // Let the controller give every pod its Pending status, then measure memory.
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rv = store.resource_version();
        if rv == last {
            break;
        }
        last = rv;
    }
    let rss_after = rss_kib();
    let json_bytes: usize = store
        .all("", "pods")
        .iter()
        .map(|p| p.to_string().len())
        .sum();

    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/pods", cluster.api_url());
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert!(body.len() > json_bytes / 2);
    }
    let list = t.elapsed() / rounds;
    let t = Instant::now();
    for _ in 0..rounds {
        http.get(&url)
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let table = t.elapsed() / rounds;

    // Watch: one client sees every modification of every pod.
    let rv = store.resource_version();
    let resp = http
        .get(format!("{url}?watch=1&resourceVersion={rv}"))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let writer = {
        let store = store.clone();
        let def = def.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..PODS {
                store
                    .modify(
                        &def,
                        "default",
                        &format!("bench-{i:05}"),
                        false,
                        "bench",
                        |p| {
                            p["metadata"]["annotations"] = json!({"bench/round": "1"});
                            true
                        },
                    )
                    .unwrap();
            }
        })
    };
    let t = Instant::now();
    let mut seen = 0usize;
    let mut buf = Vec::new();
    while seen < PODS {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let ev: Value = serde_json::from_slice(&line).unwrap();
            if ev["type"] == "MODIFIED"
                && ev["object"]["metadata"]["annotations"]["bench/round"] == "1"
            {
                seen += 1;
            }
        }
    }
    let watch = t.elapsed();
    writer.await.unwrap();

    println!(
        "simulated API server, {PODS} pods (build: {})",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "  create:            {:>8.0} pods/s ({create:.2?} for {PODS})",
        PODS as f64 / create.as_secs_f64()
    );
    println!(
        "  list (JSON):       {list:>8.2?} per list of {PODS}, {:.0} objects/s",
        PODS as f64 / list.as_secs_f64()
    );
    println!("  list (Table):      {table:>8.2?} per list of {PODS}");
    println!(
        "  watch:             {:>8.0} events/s to one watcher ({watch:.2?} for {PODS})",
        PODS as f64 / watch.as_secs_f64()
    );
    println!(
        "  memory:            {:>8.1} KiB RSS per pod (RSS +{} KiB), {:.1} KiB JSON per pod",
        (rss_after.saturating_sub(rss_before)) as f64 / PODS as f64,
        rss_after.saturating_sub(rss_before),
        json_bytes as f64 / PODS as f64 / 1024.0
    );
}
