//! The CLI as a user runs it: the real binary, its exit codes and its JSON.

use std::process::Command;

fn app() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_istio-playground"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn help_lists_the_subcommands_and_the_cluster_options() {
    let out = app().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("preflight"), "{text}");
    assert!(text.contains("--kubeconfig <FILE>"), "{text}");
    assert!(text.contains("--context <NAME>"), "{text}");
    assert!(text.contains("never used"), "{text}");
}

#[test]
fn preflight_json_lists_every_check_and_exits_non_zero_when_docker_is_unreachable() {
    let home = tempfile::tempdir().unwrap();
    let out = app()
        .args(["preflight", "--json"])
        .env("ISTIO_PLAYGROUND_HOME", home.path())
        .env(
            "DOCKER_HOST",
            format!("unix://{}", home.path().join("none.sock").display()),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed check must fail the command"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["overall"], "fail");
    let checks = report["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "docker",
            "docker-resources",
            "inotify",
            "ports",
            "disk",
            "kind",
            "istioctl"
        ]
    );
    for check in checks {
        for key in ["title", "status", "summary", "why", "fix", "elapsedMs"] {
            assert!(check.get(key).is_some(), "{key} missing in {check}");
        }
    }
    assert_eq!(checks[0]["status"], "fail");
    assert!(checks[0]["fix"].as_str().unwrap().contains("start"));
    // The log file is written in the app's own folder, not next to the user's files.
    let logs: Vec<_> = std::fs::read_dir(home.path().join("logs"))
        .unwrap()
        .collect();
    assert_eq!(logs.len(), 1);
}

#[test]
fn preflight_text_explains_failures_and_names_the_cluster_target() {
    let home = tempfile::tempdir().unwrap();
    let out = app()
        .args([
            "preflight",
            "--context",
            "lab",
            "--kubeconfig",
            "/tmp/lab-config",
        ])
        .env("ISTIO_PLAYGROUND_HOME", home.path())
        .env(
            "DOCKER_HOST",
            format!("unix://{}", home.path().join("none.sock").display()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[FAIL] Docker engine"), "{text}");
    assert!(text.contains("What to do:"), "{text}");
    assert!(text.contains("Not ready"), "{text}");
    assert!(text.contains("context lab in /tmp/lab-config"), "{text}");
}

/// Starts `sim serve` and returns the child and what it printed on its first lines.
fn sim_serve(
    home: &std::path::Path,
) -> (
    std::process::Child,
    std::collections::HashMap<String, String>,
) {
    use std::io::BufRead;
    // What it says on stderr goes to a file the test shows when the cluster stops answering.
    let stderr = std::fs::File::create(home.join("sim-serve.stderr")).unwrap();
    let mut child = app()
        .args(["sim", "serve", "--scenario", "bookinfo"])
        .env("ISTIO_PLAYGROUND_HOME", home)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = std::collections::HashMap::new();
    for _ in 0..4 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.split_once(": ").unwrap();
        printed.insert(k.to_string(), v.to_string());
    }
    (child, printed)
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sim_serve_prints_its_addresses_and_graph_reads_it_with_an_explicit_target() {
    let home = tempfile::tempdir().unwrap();
    let (child, printed) = sim_serve(home.path());
    let mut guard = Killed(child);
    assert!(
        printed["api"].starts_with("http://127.0.0.1:"),
        "{printed:?}"
    );
    assert!(
        printed["ingress"].starts_with("http://127.0.0.1:"),
        "{printed:?}"
    );
    assert_eq!(printed["context"], "sim-istio-playground");
    let kubeconfig = &printed["kubeconfig"];
    assert!(kubeconfig.starts_with(&home.path().display().to_string()));

    // `graph` with the cluster chosen explicitly; the arguments before it.
    let graph = |args: &[&str]| {
        let mut cmd = app();
        cmd.args(["graph"])
            .args(args)
            .args([
                "--kubeconfig",
                kubeconfig,
                "--context",
                "sim-istio-playground",
            ])
            .env("ISTIO_PLAYGROUND_HOME", home.path());
        cmd
    };
    // Why a graph failed: what it said, and whether the simulated cluster is still there.
    let failure = |out: &std::process::Output, guard: &mut Killed| {
        format!(
            "{}\nsim serve: {:?}, its stderr:\n{}",
            String::from_utf8_lossy(&out.stderr),
            guard.0.try_wait(),
            std::fs::read_to_string(home.path().join("sim-serve.stderr")).unwrap_or_default()
        )
    };

    // Pods become ready after the simulated delay; the graph shows them once it is there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let snapshot = loop {
        let out = graph(&["--json"])
            // A proxy in the environment (as behind a company proxy) must not be used for a
            // cluster on this machine: nothing listens there, so going through it would fail.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", failure(&out, &mut guard));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ready_pods = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["kind"] == "pod" && n["ready"] == serde_json::json!({"ready": 2, "total": 2})
            })
            .count();
        if ready_pods == 6 {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pods never became ready: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let ids: Vec<&str> = snapshot["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    for id in [
        "ingress/istio-system/istio-ingressgateway",
        "gw/default/bookinfo-gateway",
        "vs/default/bookinfo",
        "svc/default/reviews",
        "wl/default/reviews-v3",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    let text = graph(&[]).output().unwrap();
    assert!(text.status.success(), "{}", failure(&text, &mut guard));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("namespace istio-system"), "{text}");
    assert!(text.contains("workload reviews-v2  1/1"), "{text}");
    assert!(text.contains("sidecar: ready"), "{text}");

    // A reader that goes away (`graph --watch --json | head -1`) ends the command quietly
    // at its next write: status 0, no panic, and the cluster it watched is still there.
    let mut watch = graph(&["--watch", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(watch.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
    }
    assert!(first.starts_with('{'), "{first}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = watch.kill();
            panic!("graph --watch went on writing into a closed pipe");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(guard.0.try_wait().unwrap().is_none(), "sim serve ended");
}

#[test]
fn graph_without_a_playground_says_how_to_get_one() {
    let home = tempfile::tempdir().unwrap();
    let out = app()
        .arg("graph")
        .env("ISTIO_PLAYGROUND_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot read kubeconfig"), "{err}");
    assert!(err.contains("Set up the playground first"), "{err}");
}

/// A cluster that refuses every connection: the command says so once, in its own words, and
/// kube's per-request error lines (one for every retry while it waits) stay out of stderr.
#[test]
fn an_unreachable_cluster_is_reported_once_without_the_client_library_s_retries() {
    let home = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: nobody\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    let out = app()
        .args(["graph", "--json", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "gone"])
        .env("ISTIO_PLAYGROUND_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("did not answer"), "{err}");
    assert!(!err.contains("kube_client"), "{err}");
    assert!(!err.contains("ERROR"), "{err}");
}
