//! Mesh model benchmarks with 2,000 pods and 200 services: a full build, and the work done
//! for one watch event (prune the object, update the model where the event touches it,
//! produce the diff) over a realistic mix of events: mostly pods changing during rollouts,
//! plus weight edits, DestinationRule, Service and Deployment changes. The last line is the
//! figure the README quotes. Run: `make bench-mesh` (`cargo bench -p playground --bench
//! mesh`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use playground::mesh::inputs::*;
use playground::mesh::{MeshModel, build, diff};
use serde_json::json;

#[path = "common/big_mesh.rs"]
mod big_mesh;

use big_mesh::{big_mesh, labels};

/// The pod as the API server sends it, for the watch task to prune.
fn k8s_pod(p: &PodInfo) -> Pod {
    let status = |name: &str, ready: bool| {
        json!({"name": name, "ready": ready, "restartCount": 0, "image": "x", "imageID": "",
               "started": true, "state": if ready { json!({"running": {}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }})
    };
    let app_ready = p.ready >= 1;
    let proxy_ready = p.ready >= 2;
    serde_json::from_value(json!({
        "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels,
            "annotations": {"sidecar.istio.io/status": "{}"},
            "deletionTimestamp": if p.deleting { json!("2026-12-02T10:00:00Z") } else { json!(null) }},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "x"}, {"name": "istio-proxy", "image": "proxyv2"}]},
        "status": {"phase": "Running", "podIP": p.ip,
            "containerStatuses": [status("app", app_ready), status("istio-proxy", proxy_ready)]}
    }))
    .expect("a pod")
}

/// A small deterministic generator (the benchmark must not depend on a seed crate).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// One watch event as it reaches the model task.
enum Event {
    /// A pod as the API server sends it (pruned inside the timed part).
    Pod(Key, Option<Box<Pod>>),
    /// A VirtualService, DestinationRule, Service or Deployment change, already pruned.
    Other(&'static str, Change),
}

/// The events of rolling out one deployment: for each old pod, a new one is created
/// (starting), gets ready container by container, and the old one terminates and goes, with
/// the deployment's ready count following.
fn rollout(m: &MeshInputs, d: &DeploymentInfo, round: usize, out: &mut Vec<Event>) {
    let old: Vec<PodInfo> = m
        .pods
        .values()
        .filter(|p| p.namespace == d.namespace && selects(&d.selector, &p.labels))
        .cloned()
        .collect();
    for (i, old_pod) in old.iter().enumerate() {
        let mut new = old_pod.clone();
        new.name = format!("{}-r{round}-{i:05}", d.name);
        let key = (new.namespace.clone(), new.name.clone());
        for ready in [0, 1, 2] {
            new.ready = ready;
            new.sidecar_ready = ready == 2;
            out.push(Event::Pod(key.clone(), Some(Box::new(k8s_pod(&new)))));
        }
        let old_key = (old_pod.namespace.clone(), old_pod.name.clone());
        let mut going = old_pod.clone();
        going.deleting = true;
        out.push(Event::Pod(old_key.clone(), Some(Box::new(k8s_pod(&going)))));
        out.push(Event::Pod(old_key, None));
        let mut status = d.clone();
        status.ready_replicas = d.replicas - 1 + u32::from(i + 1 == old.len());
        out.push(Event::Other(
            "deployment status",
            Change::Deployment((d.namespace.clone(), d.name.clone()), Some(status)),
        ));
    }
}

/// Rollouts, with configuration changes in between, as a teacher's class produces them.
fn event_mix(m: &MeshInputs) -> Vec<Event> {
    let mut rng = Lcg(7);
    let deployments: Vec<DeploymentInfo> = m.deployments.values().cloned().collect();
    let vss: Vec<VirtualServiceInfo> = m.virtual_services.values().cloned().collect();
    let drs: Vec<DestinationRuleInfo> = m.destination_rules.values().cloned().collect();
    let services: Vec<ServiceInfo> = m.services.values().cloned().collect();
    let mut events = Vec::new();
    let mut round = 0;
    while events.len() < 3000 {
        round += 1;
        let d = &deployments[1 + rng.below(deployments.len() - 1)];
        rollout(m, d, round, &mut events);
        // A weight edit.
        let mut vs = vss[rng.below(vss.len())].clone();
        let w = i32::try_from(rng.below(101)).unwrap_or(50);
        vs.http[0].destinations[0].weight = Some(w);
        vs.http[0].destinations[1].weight = Some(100 - w);
        events.push(Event::Other(
            "VirtualService weights",
            Change::VirtualService((vs.namespace.clone(), vs.name.clone()), Some(vs)),
        ));
        // A DestinationRule gains a TLS mode or a subset.
        let mut dr = drs[rng.below(drs.len())].clone();
        if rng.below(2) == 0 {
            dr.tls_mode = Some("ISTIO_MUTUAL".into());
        } else {
            dr.subsets.push(Subset {
                name: "v3".into(),
                labels: labels(&[("version", "v3")]),
            });
        }
        events.push(Event::Other(
            "DestinationRule",
            Change::DestinationRule((dr.namespace.clone(), dr.name.clone()), Some(dr)),
        ));
        // A Service gets another port.
        let mut svc = services[rng.below(services.len())].clone();
        svc.ports.push(ServicePort {
            name: Some("metrics".into()),
            port: 15020,
            protocol: "TCP".into(),
        });
        events.push(Event::Other(
            "Service",
            Change::Service((svc.namespace.clone(), svc.name.clone()), Some(svc)),
        ));
        // A Deployment is scaled.
        let mut scaled = deployments[1 + rng.below(deployments.len() - 1)].clone();
        scaled.replicas += 1;
        events.push(Event::Other(
            "Deployment scale",
            Change::Deployment(
                (scaled.namespace.clone(), scaled.name.clone()),
                Some(scaled),
            ),
        ));
    }
    events
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
        ms(quantile(&samples, 0.5)),
        ms(quantile(&samples, 0.9)),
        ms(quantile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
        samples.len()
    )
}

fn main() {
    let inputs = big_mesh();
    let g = build(&inputs);
    println!(
        "mesh: {} pods, {} services -> {} nodes, {} edges",
        inputs.pods.len(),
        inputs.services.len(),
        g.node_count(),
        g.edge_count()
    );

    // Full model build (graph, decorations, validations, sorted snapshot).
    let mut builds = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        let snap = build(&inputs).into_snapshot();
        builds.push(t.elapsed());
        std::hint::black_box(snap);
    }
    builds.sort();
    let full_p50 = quantile(&builds, 0.5);
    println!("full model build + snapshot: {}", percentiles(builds));

    // Watch events: each is pruned as the watch task does (pods arrive as API objects),
    // applied to the incremental model, and turned into the diff the UI gets.
    let events = event_mix(&inputs);
    let mut model = MeshModel::new(inputs.clone());
    let mut shown = model.snapshot();
    let mut all = Vec::new();
    let mut by_kind: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    let mut diffs = Vec::new();
    for event in events {
        let t = Instant::now();
        let (kind, change) = match event {
            Event::Pod(key, pod) => {
                let info = pod.as_deref().and_then(PodInfo::from_k8s);
                ("Pod", Change::Pod(key, info))
            }
            Event::Other(kind, change) => (kind, change),
        };
        let d = model.apply([change]);
        let took = t.elapsed();
        all.push(took);
        by_kind.entry(kind).or_default().push(took);
        *sizes
            .entry(d.added_nodes.len() + d.changed_nodes.len() + d.removed_nodes.len())
            .or_insert(0) += 1;
        diffs.push(d);
    }
    // The diffs must lead where a fresh build of the same inputs is (checked untimed).
    for d in &diffs {
        diff::apply(&mut shown, d);
    }
    assert_eq!(
        shown,
        build(model.inputs()).snapshot(),
        "diffs and a fresh build differ"
    );

    for (kind, samples) in by_kind {
        println!("  {kind}: {}", percentiles(samples));
    }
    println!("nodes in each diff (count: events): {sizes:?}");
    all.sort();
    let p99 = quantile(&all, 0.99);
    println!("watch event -> diff, all events: {}", percentiles(all));
    println!(
        "goals: p99 under 10 ms and under 0.4 x the full build's p50 ({:.2} ms): {}",
        0.4 * ms(full_p50),
        if ms(p99) < 10.0 && ms(p99) < 0.4 * ms(full_p50) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("watch-to-diff p99 {:.2} ms at 2000 pods", ms(p99));
}
