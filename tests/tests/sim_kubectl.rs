//! The real kubectl against the simulated cluster, through a kubeconfig it wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use playground::sim::{self, SimCluster, SimOptions};

struct Env {
    cluster: SimCluster,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn env(scenario: Option<sim::Scenario>) -> Env {
    let cluster = sim::start(SimOptions {
        scenario,
        ready_delay: Duration::from_millis(200),
        seed: Some(42),
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster
        .write_kubeconfig(&kubeconfig, sim::SIM_CONTEXT)
        .unwrap();
    Env {
        cluster,
        dir,
        kubeconfig,
    }
}

fn kubectl(env: &Env, args: &[&str]) -> (bool, String, String) {
    kubectl_in(&env.kubeconfig, env.dir.path(), args)
}

fn kubectl_in(kubeconfig: &Path, home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env("KUBECACHEDIR", home.join("cache"))
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `SIM_SERVE_SECS=600 cargo test -p playground-tests --test sim_kubectl serve_for_manual_poking -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn serve_for_manual_poking() {
    let e = env(Some(sim::Scenario::Bookinfo)).await;
    e.cluster
        .write_kubeconfig(Path::new("/tmp/sim.kubeconfig"), sim::SIM_CONTEXT)
        .unwrap();
    println!(
        "api: {}\ningress: {}",
        e.cluster.api_url(),
        e.cluster.ingress_url()
    );
    let secs: u64 = std::env::var("SIM_SERVE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
