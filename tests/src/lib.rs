//! Shared helpers for the integration and end-to-end tests.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `<root>/tests`). Read when the test runs, not
/// when it was compiled: several checkouts may share one cargo target directory.
pub fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Where end-to-end screenshots go: `<repo>/target/e2e/`, whatever CARGO_TARGET_DIR is.
pub fn screenshot_dir() -> PathBuf {
    let dir = repo_root().join("target").join("e2e");
    std::fs::create_dir_all(&dir).expect("create target/e2e");
    dir
}

/// The app binary with the UI embedded, as built by `make app` (absolute path).
pub fn app_binary() -> PathBuf {
    let path = std::env::var_os("ISTIO_PLAYGROUND_APP")
        .map(PathBuf::from)
        .expect("set ISTIO_PLAYGROUND_APP to the app built with the UI embedded (make e2e does)");
    assert!(
        path.is_absolute() && path.is_file(),
        "ISTIO_PLAYGROUND_APP must be an absolute path to the built app, got {}",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running tauri-driver (which starts WebKitWebDriver, which starts the app).
pub struct TauriDriver {
    child: Child,
    pub port: u16,
}

impl TauriDriver {
    /// Starts tauri-driver on free ports; `env` is passed down to the app.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let native_port = free_port();
        let mut cmd = Command::new(which("tauri-driver"));
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start tauri-driver");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: tauri-driver then stops WebKitWebDriver too; a killed driver
        // leaves it orphaned holding the test's pipes open.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds a program on PATH or in ~/.cargo/bin (where `cargo install` puts tauri-driver).
pub fn which(name: &str) -> PathBuf {
    let from_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    });
    from_path
        .or_else(|| {
            let cargo_bin =
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name))?;
            cargo_bin.is_file().then_some(cargo_bin)
        })
        .unwrap_or_else(|| panic!("{name} is not installed (make deps installs it)"))
}

/// A simulated cluster started for one test, with a kubeconfig written for it.
pub struct SimFixture {
    pub sim: playground_sim::SimCluster,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
}

impl SimFixture {
    /// Starts the simulated cluster with `opts` (bound to 127.0.0.1 on free ports).
    pub async fn start(opts: playground_sim::SimOptions) -> Self {
        let sim = playground_sim::start(opts)
            .await
            .expect("simulated cluster starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig, playground_sim::SIM_CONTEXT)
            .expect("kubeconfig written");
        Self {
            sim,
            kubeconfig,
            dir,
        }
    }

    /// The cluster target a user would choose with --kubeconfig and --context.
    pub fn target(&self) -> playground::kube::ClusterTarget {
        playground::kube::ClusterTarget::resolve(
            &playground::paths::AppDirs::at(self.dir.path()),
            Some(&self.kubeconfig),
            Some(playground_sim::SIM_CONTEXT),
        )
    }

    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        kubectl(&self.kubeconfig, args, stdin)
    }
}

/// Runs the machine's kubectl against `kubeconfig`, feeding it `stdin`; panics with
/// kubectl's own message when it fails. Call it from a multi-threaded runtime when the
/// cluster runs in the same process (it blocks its thread).
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs (Debian's kubernetes-client or any kubectl on PATH)");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("kubectl finishes");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What one kubectl run gave, for tests that expect it to fail too.
#[derive(Debug)]
pub struct KubectlRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the machine's kubectl against `kubeconfig` with HOME and its discovery cache inside
/// `home`, so it never reads or writes the user's own files. Unlike [`kubectl`] it does not
/// assert success: the exit code and both streams come back.
pub fn kubectl_run(kubeconfig: &Path, home: &Path, args: &[&str]) -> KubectlRun {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env("KUBECACHEDIR", home.join("cache"))
        .output()
        .expect("kubectl runs (Debian's kubernetes-client or any kubectl on PATH)");
    KubectlRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Reviews split 60/30/10 over subsets v1, v2, v3: the seed tutorial's lesson as YAML.
pub const REVIEWS_SPLIT_60_30_10: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 60}
    - {destination: {host: reviews, subset: v2}, weight: 30}
    - {destination: {host: reviews, subset: v3}, weight: 10}
"#;
