//! The action subcommands (weights, undo, inject, traffic, dashboard) against `sim serve`,
//! as a user runs them.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn app() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_istio-playground"));
    cmd.env_remove("RUST_LOG");
    cmd
}

struct Sim {
    child: Child,
    printed: HashMap<String, String>,
    home: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sim_serve() -> Sim {
    let home = tempfile::tempdir().unwrap();
    let mut child = app()
        .args(["sim", "serve", "--scenario", "bookinfo"])
        .env("ISTIO_PLAYGROUND_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = HashMap::new();
    for _ in 0..4 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.split_once(": ").unwrap();
        printed.insert(k.to_string(), v.to_string());
    }
    Sim {
        child,
        printed,
        home,
    }
}

impl Sim {
    fn run(&self, args: &[&str]) -> Output {
        app()
            .args(args)
            .args(["--kubeconfig", &self.printed["kubeconfig"]])
            .args(["--context", "sim-istio-playground"])
            .env("ISTIO_PLAYGROUND_HOME", self.home.path())
            .output()
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn weights_traffic_inject_and_dashboard_from_the_command_line() {
    let sim = sim_serve();
    // Bad input is refused before anything is written, with what to do.
    let out = sim.run(&["weights", "reviews", "v1=101", "v2=-5"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("at most 100") && err.contains("whole number"),
        "{err}"
    );
    let out = sim.run(&["weights", "reviews", "v1=60", "v2=30"]);
    assert!(
        text(&out.stderr).contains("add up to 90"),
        "{}",
        text(&out.stderr)
    );

    // Pods turn ready after the simulated delay; until then v3 has no ready pods.
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = sim.run(&[
            "weights", "reviews", "v1=60", "v2=30", "v3=10", "-n", "default",
        ]);
        if out.status.success() {
            break out;
        }
        assert!(text(&out.stderr).contains("ready"), "{}", text(&out.stderr));
        assert!(Instant::now() < deadline, "pods never became ready");
        std::thread::sleep(Duration::from_millis(300));
    };
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Routed reviews: v1 60%, v2 30%, v3 10%"),
        "{stdout}"
    );
    assert!(stdout.contains("kubectl apply --server-side"), "{stdout}");
    assert!(
        stdout.contains("DestinationRule subsets created: v1, v2, v3"),
        "{stdout}"
    );

    let ingress = sim.printed["ingress"].clone();
    let out = sim.run(&[
        "traffic",
        "--ingress",
        &ingress,
        "--rate",
        "50",
        "--duration",
        "4",
        "--concurrency",
        "64",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["completed"], 200, "{stats}");
    let v1 = stats["versionsTotal"]["v1"].as_f64().unwrap() / 200.0;
    assert!((v1 - 0.6).abs() < 0.12, "{stats}");
    assert!(stats["latency"]["p99Ms"].as_f64().unwrap() > 0.0);

    // Without --ingress the CLI knows, like the window, that this cluster is simulated and
    // sends the traffic to its ingress rather than to localhost:9080.
    let out = sim.run(&["traffic", "--rate", "20", "--duration", "1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["target"], format!("{ingress}/productpage"), "{stats}");
    assert!(stats["statuses"]["200"].as_u64().unwrap() > 0, "{stats}");

    // Undo from another process: the history is kept in the app's folder.
    let out = sim.run(&["undo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("deleted VirtualService default/reviews (it did not exist before)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kubectl delete virtualservices reviews -n default"),
        "{stdout}"
    );
    let out = sim.run(&["undo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("there is no weight change to undo"),
        "{}",
        text(&out.stderr)
    );

    let out = sim.run(&["inject", "default", "off", "--restart"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Sidecar injection is off for namespace default."),
        "{stdout}"
    );
    assert!(
        stdout.contains("kubectl rollout restart deployment/reviews-v1 -n default"),
        "{stdout}"
    );

    let out = sim.run(&["dashboard", "kiali"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("needs a real cluster"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_command_line_refuses_bad_traffic_settings_and_unknown_dashboards() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        app()
            .args(args)
            .env("ISTIO_PLAYGROUND_HOME", home.path())
            .output()
            .unwrap()
    };
    let out = run(&["traffic", "--rate", "1000", "--duration", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("0.5 to 500"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "traffic",
        "--ingress",
        "https://example.com",
        "--rate",
        "1",
        "--duration",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not the playground's ingress"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dashboard", "loki"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses unknown names");
    let _ = Path::new("");
}
