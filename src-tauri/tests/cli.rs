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
