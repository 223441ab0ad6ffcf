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
            // Behind a company proxy: the cluster and its ingress are on this machine, so the
            // commands must reach them directly (nothing listens on this proxy's port).
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
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
    let out = sim.run(&["traffic", "--rate", "20", "--duration", "1s", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["target"], format!("{ingress}/productpage"), "{stats}");
    assert!(stats["statuses"]["200"].as_u64().unwrap() > 0, "{stats}");

    // The graph carries the traffic just sent, read from the simulated Prometheus: every
    // hop between the graph's nodes, and the split seen next to the weights set.
    let out = sim.run(&["graph", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(graph["nodes"].as_array().is_some_and(|n| !n.is_empty()));
    let traffic = &graph["traffic"];
    assert_eq!(traffic["state"], "live", "{traffic}");
    let overlay = &traffic["overlay"];
    assert_eq!(
        overlay["windowSecs"], 10.0,
        "the simulated cluster's window"
    );
    let link = |id: &str| {
        overlay["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("no link {id} in {overlay}"))
            .clone()
    };
    let gw = link("traffic:ingress/istio-system/istio-ingressgateway->wl/default/productpage-v1");
    assert!(gw["requestsPerSecond"].as_f64().unwrap() > 0.0, "{gw}");
    assert_eq!(gw["errorShare"], 0.0);
    assert_eq!(gw["mtlsShare"], 1.0);
    assert!(gw["latency"]["p95Ms"].as_f64().is_some(), "{gw}");
    link("traffic:wl/default/reviews-v2->wl/default/ratings-v1");
    let splits = overlay["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 3, "{overlay}");
    let v1 = splits
        .iter()
        .find(|s| s["subset"] == "subset/default/reviews/v1")
        .unwrap();
    assert_eq!(v1["weight"], 60);
    assert!(
        (v1["observedShare"].as_f64().unwrap() - 0.6).abs() < 0.12,
        "{v1}"
    );

    let out = sim.run(&["graph"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("traffic over the last 10 s:"), "{stdout}");
    assert!(
        stdout.contains("  istio-ingressgateway -> productpage-v1  "),
        "{stdout}"
    );
    assert!(
        stdout.contains("  subset/default/reviews/v1  60% set, "),
        "{stdout}"
    );

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
        text(&out.stderr).contains("there is no change to undo"),
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
    // Nothing listens there: every request fails, and the command says what to check.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&[
        "traffic",
        "--ingress",
        &format!("http://127.0.0.1:{closed}"),
        "--rate",
        "5",
        "--duration",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("was answered"), "{err}");
    assert!(err.contains("sim serve"), "{err}");
    let out = run(&["traffic", "--duration", "soon"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses it");
    assert!(
        text(&out.stderr).contains("write seconds (30) or 10s, 2m, 1m30s"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dashboard", "loki"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses unknown names");
    let _ = Path::new("");
}

#[test]
fn route_fault_reset_routing_and_undo_from_the_command_line() {
    let sim = sim_serve();
    // Bad input: refused before anything is written, with what to do.
    for (args, words) in [
        (
            vec!["fault", "ratings", "--abort", "500", "--percent", "101"],
            "not a percentage from 0 to 100",
        ),
        (vec!["fault", "ratings", "--delay", "7"], "unit is missing"),
        (vec!["fault", "ratings", "--abort", "700"], "200 to 599"),
        (vec!["route", "reviews", "--to", "v9"], "has no version v9"),
        (
            vec![
                "route", "reviews", "--to", "v2", "--user", "jason", "--header", "end user",
            ],
            "spaces",
        ),
        (
            vec!["retries", "ratings", "--on", "often"],
            "retry condition",
        ),
    ] {
        let out = sim.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(err.lines().count() >= 2, "a hint follows: {err}");
    }
    let out = sim.run(&["fault", "ratings"]);
    assert_eq!(out.status.code(), Some(2), "nothing asked");

    // Pods turn ready after the simulated delay; until then the versions have none.
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = sim.run(&[
            "route", "reviews", "--to", "v2", "--user", "jason", "--else", "v1",
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
        stdout.contains("Applied DestinationRule default/reviews"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Applied VirtualService default/reviews"),
        "{stdout}"
    );
    assert!(stdout.contains("end-user"), "{stdout}");
    assert!(stdout.contains("kubectl apply --server-side"), "{stdout}");

    let out = sim.run(&[
        "fault",
        "ratings",
        "--delay",
        "7s",
        "--user",
        "jason",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Would apply VirtualService default/ratings"),
        "{stdout}"
    );
    assert!(
        stdout.contains("productpage waits for reviews (3 s, 2 tries)")
            && stdout.contains("after about 6 s")
            && stdout.contains("reviews v2 itself would have waited 10 s"),
        "{stdout}"
    );
    let out = sim.run(&["fault", "ratings", "--abort", "500", "--percent", "100"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Ratings service is currently unavailable"),
        "{}",
        text(&out.stdout)
    );

    let out = sim.run(&["reset-routing", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Would remove VirtualService default/ratings"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Would remove DestinationRule default/reviews"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Kept VirtualService default/bookinfo (the ingress's routing"),
        "{stdout}"
    );

    // Undo takes back the fault, then the routing, from another process each time.
    let out = sim.run(&["undo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Undid the last fault change"), "{stdout}");
    assert!(
        stdout.contains("deleted VirtualService default/ratings (it did not exist before)"),
        "{stdout}"
    );
    let out = sim.run(&["undo"]);
    assert!(
        text(&out.stdout).contains("Undid the last route change"),
        "{}",
        text(&out.stdout)
    );
    let out = sim.run(&["reset-routing"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Nothing to remove"),
        "{}",
        text(&out.stdout)
    );
}
