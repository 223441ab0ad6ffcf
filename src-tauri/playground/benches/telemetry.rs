//! The app's side of one telemetry refresh for a mesh of 200 services and 2,000 pods: the
//! five Prometheus answers parsed and assembled into a snapshot, laid onto the mesh model,
//! and serialized as the traffic event the window gets. The answers are written here in
//! Prometheus's JSON for the traffic such a mesh has (every workload calling the next
//! service of its namespace through a 90/10 split, a few errors, one unrouted call per
//! namespace); what the simulated Prometheus costs to produce them is measured by
//! `tests/tests/telemetry_bench.rs`. The last line is the figure the README quotes. Run:
//! `cargo bench -p playground --bench telemetry`. With `TELEMETRY_BENCH_EVENT=<file>` it
//! also writes the last event's JSON there, to compare the output of two builds.

#[path = "common/big_mesh.rs"]
mod big_mesh;

use std::time::{Duration, Instant, UNIX_EPOCH};

use big_mesh::{NAMESPACES, SERVICES_PER_NS, big_mesh};
use playground::mesh::{MeshEvent, MeshModel, TrafficState, traffic};
use playground::telemetry::{TelemetryUpdate, queries, traffic_from_answers};
use serde_json::{Value, json};

/// One edge of the synthetic traffic: who calls which service, answered by which workload
/// (None: no pod answered), at what rate per response code and flags.
struct Edge {
    source: (String, String, String, String),
    service: (String, String),
    destination: Option<(String, String, String)>,
    rates: Vec<(u16, &'static str, f64)>,
}

fn workload(ns: &str, app: &str, version: &str) -> (String, String, String, String) {
    (
        ns.into(),
        format!("{app}-{version}"),
        app.into(),
        version.into(),
    )
}

fn edges() -> Vec<Edge> {
    let mut out = Vec::new();
    for n in 0..NAMESPACES {
        let ns = format!("team-{n}");
        for s in 0..SERVICES_PER_NS {
            let callee = format!("svc-{s}");
            let callers: Vec<_> = if s == 0 {
                vec![(
                    "istio-system".to_string(),
                    "istio-ingressgateway".to_string(),
                    "istio-ingressgateway".to_string(),
                    "latest".to_string(),
                )]
            } else {
                ["v1", "v2"]
                    .iter()
                    .map(|v| workload(&ns, &format!("svc-{}", s - 1), v))
                    .collect()
            };
            for caller in callers {
                for (version, share) in [("v1", 0.9), ("v2", 0.1)] {
                    let mut rates = vec![(200, "-", 10.0 * share)];
                    if s % 5 == 1 {
                        rates.push((503, "UH", 0.2 * share));
                    }
                    if s % 7 == 3 {
                        rates.push((500, "-", 0.1 * share));
                    }
                    out.push(Edge {
                        source: caller.clone(),
                        service: (ns.clone(), callee.clone()),
                        destination: Some((
                            ns.clone(),
                            format!("{callee}-{version}"),
                            version.into(),
                        )),
                        rates,
                    });
                }
                if s == SERVICES_PER_NS / 2 {
                    out.push(Edge {
                        source: caller.clone(),
                        service: (ns.clone(), callee.clone()),
                        destination: None,
                        rates: vec![(500, "FI", 0.5)],
                    });
                }
            }
        }
    }
    out
}

/// The labels an answer carries for an edge: all the edge labels (the requests query), or
/// only the key labels (the mTLS and latency queries group by those).
fn edge_labels(e: &Edge, key_only: bool) -> serde_json::Map<String, Value> {
    let (sns, swl, sapp, sver) = &e.source;
    let (dns, dname) = &e.service;
    let (dwns, dwl, dver) =
        e.destination
            .clone()
            .unwrap_or(("unknown".into(), "unknown".into(), "unknown".into()));
    let dapp = if e.destination.is_some() {
        dname.as_str()
    } else {
        "unknown"
    };
    let pairs = [
        ("source_workload_namespace", sns.as_str()),
        ("source_workload", swl),
        ("source_canonical_service", sapp),
        ("source_canonical_revision", sver),
        (
            "destination_service",
            &format!("{dname}.{dns}.svc.cluster.local"),
        ),
        ("destination_service_name", dname),
        ("destination_service_namespace", dns),
        ("destination_workload_namespace", &dwns),
        ("destination_workload", &dwl),
        ("destination_canonical_service", dapp),
        ("destination_canonical_revision", &dver),
    ];
    let key: Vec<&str> = queries::KEY_LABELS.split(',').collect();
    pairs
        .iter()
        .filter(|(k, _)| !key_only || key.contains(k))
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

fn body(samples: Vec<Value>) -> String {
    json!({"status": "success", "data": {"resultType": "vector", "result": samples}}).to_string()
}

fn sample(labels: serde_json::Map<String, Value>, at: f64, value: String) -> Value {
    json!({"metric": labels, "value": [at, value]})
}

/// The five answers, in the order of `traffic_queries`.
fn answers(edges: &[Edge], at: f64) -> [String; 5] {
    let mut requests = Vec::new();
    let mut mtls = Vec::new();
    let mut quantiles: [Vec<Value>; 3] = Default::default();
    for e in edges {
        for (code, flags, rate) in &e.rates {
            let mut l = edge_labels(e, false);
            l.insert("reporter".into(), "source".into());
            l.insert("response_code".into(), code.to_string().into());
            l.insert("response_flags".into(), (*flags).into());
            requests.push(sample(l, at, rate.to_string()));
        }
        let total: f64 = e.rates.iter().map(|r| r.2).sum();
        if e.destination.is_some() {
            let mut l = edge_labels(e, true);
            l.insert("connection_security_policy".into(), "mutual_tls".into());
            mtls.push(sample(l, at, total.to_string()));
        }
        for (i, ms) in [4.2, 23.75, 48.5].iter().enumerate() {
            let value = if e.destination.is_some() {
                ms.to_string()
            } else {
                "NaN".into()
            };
            quantiles[i].push(sample(edge_labels(e, true), at, value));
        }
    }
    let [p50, p95, p99] = quantiles;
    [body(requests), body(mtls), body(p50), body(p95), body(p99)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentiles(mut samples: Vec<Duration>) -> (String, Duration) {
    samples.sort();
    let q = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (
        format!(
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
            ms(q(0.5)),
            ms(q(0.9)),
            ms(q(0.99)),
            ms(*samples.last().unwrap()),
            samples.len()
        ),
        q(0.99),
    )
}

fn main() {
    let inputs = big_mesh();
    let model = MeshModel::new(inputs.clone());
    let edges = edges();
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let answers = answers(&edges, at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
    let bytes: usize = answers.iter().map(String::len).sum();
    let window = Duration::from_secs(30);

    let mut parse = Vec::new();
    let mut merge = Vec::new();
    let mut serialize = Vec::new();
    let mut whole = Vec::new();
    let mut last = None;
    for _ in 0..300 {
        let t0 = Instant::now();
        let snapshot =
            traffic_from_answers(at, window, [0, 1, 2, 3, 4].map(|i| answers[i].as_str()))
                .expect("the answers parse");
        let t1 = Instant::now();
        let state = traffic::traffic_state(model.graph(), TelemetryUpdate::Live { snapshot });
        let t2 = Instant::now();
        let event = MeshEvent::Traffic { traffic: state };
        let json = serde_json::to_string(&event).expect("serializes");
        let t3 = Instant::now();
        parse.push(t1 - t0);
        merge.push(t2 - t1);
        serialize.push(t3 - t2);
        whole.push(t3 - t0);
        last = Some((event, json));
    }
    let (event, json) = last.unwrap();
    let json_bytes = json.len();
    if let Some(path) = std::env::var_os("TELEMETRY_BENCH_EVENT") {
        std::fs::write(path, &json).expect("writes the event");
    }
    let MeshEvent::Traffic {
        traffic: TrafficState::Live { overlay },
    } = event
    else {
        panic!("a live overlay");
    };
    // The overlay must be the mesh's: every split seen near its 90/10, every link between
    // nodes of the model.
    assert_eq!(overlay.splits.len(), 400, "two route edges per service");
    for s in &overlay.splits {
        let seen = s.observed_share.expect("every service answered");
        assert!((seen * 100.0 - f64::from(s.weight)).abs() < 1.0, "{s:?}");
    }
    for l in &overlay.links {
        assert!(model.graph().node(&l.target).is_some(), "{}", l.id);
    }
    println!(
        "mesh: {} pods, {} services; {} telemetry edges, {} KB of answers -> {} links, {} splits, {} node summaries, {} KB event",
        inputs.pods.len(),
        inputs.services.len(),
        edges.len(),
        bytes / 1024,
        overlay.links.len(),
        overlay.splits.len(),
        overlay.nodes.len(),
        json_bytes / 1024
    );
    println!("  parse 5 answers + assemble: {}", percentiles(parse).0);
    println!("  lay onto the model:         {}", percentiles(merge).0);
    println!("  serialize the event:        {}", percentiles(serialize).0);
    let (text, p99) = percentiles(whole);
    println!("one refresh, app side: {text}");
    println!(
        "goal: p99 under 20 ms: {}",
        if ms(p99) < 20.0 { "met" } else { "NOT met" }
    );
    println!("telemetry refresh p99 {:.2} ms at 2000 pods", ms(p99));
}
