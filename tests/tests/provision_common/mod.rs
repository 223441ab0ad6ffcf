//! Stand-ins for the outside world of the setup plan: a local download site, a fake Istio
//! release, kind and istioctl as shell scripts that record their arguments and answer as the
//! real tools do, and a Docker image whose containers play kind's node containers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use playground::kube::ClusterTarget;
use playground::paths::AppDirs;
use playground::provision::{EventSink, ProvisionConfig, ProvisionEvent, Sources, Timeouts};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// How the site answers one path.
#[derive(Clone)]
pub struct Route {
    pub status: u16,
    pub body: Vec<u8>,
    /// Announce the full length but send only this many bytes, then close.
    pub cut_at: Option<usize>,
}

impl Route {
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Route {
            status: 200,
            body: body.into(),
            cut_at: None,
        }
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 with routes the test can change at any time.
#[derive(Clone)]
pub struct Site {
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Site {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let site = Site {
            base,
            routes: Arc::default(),
            hits: Arc::default(),
        };
        let s = site.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    *s.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let route = s
                        .routes
                        .lock()
                        .unwrap()
                        .get(&path)
                        .cloned()
                        .unwrap_or(Route {
                            status: 404,
                            body: b"not found".to_vec(),
                            cut_at: None,
                        });
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        route.status,
                        route.body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let end = route.cut_at.unwrap_or(route.body.len());
                    let _ = conn.write_all(&route.body[..end]).await;
                    let _ = conn.flush().await;
                });
            }
        });
        site
    }

    pub fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

/// The path of kind's file on the site, as the plan will ask for it on this computer.
pub fn kind_path() -> String {
    let file = playground::provision::Platform::current()
        .kind_file()
        .unwrap();
    format!("/kind/{}/{file}", playground::versions::KIND)
}

pub fn istio_path() -> String {
    let file = playground::provision::Platform::current()
        .istio_archive()
        .unwrap();
    format!("/istio/{}/{file}", playground::versions::ISTIO)
}

/// Serves `kind` with a correct checksum file.
pub fn serve_kind(site: &Site, script: &str) {
    let file = kind_path();
    let name = file.rsplit('/').next().unwrap().to_string();
    site.set(&file, Route::ok(script.as_bytes()));
    site.set(
        &format!("{file}.sha256sum"),
        Route::ok(format!("{}  {name}\n", sha256_hex(script.as_bytes()))),
    );
}

/// Serves an Istio release archive with a correct checksum file.
pub fn serve_istio(site: &Site, archive: &[u8]) {
    let file = istio_path();
    let name = file.rsplit('/').next().unwrap().to_string();
    site.set(&file, Route::ok(archive));
    site.set(
        &format!("{file}.sha256"),
        Route::ok(format!("{} {name}\n", sha256_hex(archive))),
    );
}

/// A `.tar.gz` shaped like Istio's release: `istio-1.30.3/bin/istioctl` and the sample YAML.
pub fn istio_archive(istioctl: &str, files: &[(&str, String)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let top = format!("istio-{}", playground::versions::ISTIO);
    let mut add = |path: &str, body: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        tar.append_data(&mut h, format!("{top}/{path}"), body)
            .unwrap();
    };
    add("bin/istioctl", istioctl.as_bytes(), 0o755);
    add("README.md", b"not extracted", 0o644);
    for (path, body) in files {
        add(path, body.as_bytes(), 0o644);
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(f, "#!/bin/sh\n{body}").unwrap();
    drop(f);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A configuration pointing everything at the test's own stand-ins.
pub fn config(home: &Path, site: &Site, cluster: &str, network: &str) -> ProvisionConfig {
    let dirs = AppDirs::at(home);
    let mut target = ClusterTarget::resolve(&dirs, None, None);
    target.context = format!("kind-{cluster}");
    let empty_path = home.join("empty-path");
    std::fs::create_dir_all(&empty_path).unwrap();
    let mut cfg = ProvisionConfig::from_env(dirs, target);
    cfg.cluster_name = cluster.to_string();
    cfg.kind_network = network.to_string();
    cfg.path = Some(empty_path.into_os_string());
    cfg.sources = Sources {
        kind_base: format!("{}/kind", site.base),
        istio_base: format!("{}/istio", site.base),
        metallb_manifest: format!("{}/metallb-native.yaml", site.base),
    };
    cfg.timeouts = Timeouts {
        kind_create: Duration::from_secs(30),
        kind_delete: Duration::from_secs(30),
        istio_install: Duration::from_secs(30),
        workloads: Duration::from_secs(30),
        verify: Duration::from_secs(10),
        short_command: Duration::from_secs(10),
        api_restart: Duration::from_secs(5),
    };
    cfg.poll_interval = Duration::from_millis(200);
    // Never the real ~/.kube/config of the machine running the tests.
    cfg.user_kubeconfig = Some(home.join("users-kube").join("config"));
    cfg
}

/// Collects every event of a run.
pub fn recorder() -> (EventSink, Arc<Mutex<Vec<ProvisionEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::clone(&events);
    (Arc::new(move |ev| e.lock().unwrap().push(ev)), events)
}

/// A unique, short name for Docker objects of one test.
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000)
}

/// Imports (once per process) an image whose containers just sleep, built from this
/// machine's own `/bin/sleep`, to play kind's node containers.
pub fn node_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let tag = "istio-playground-test-node:1".to_string();
            let mut tar = tar::Builder::new(Vec::new());
            for file in [
                "/bin/sleep",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2",
                "/lib/aarch64-linux-gnu/libc.so.6",
                "/lib/ld-linux-aarch64.so.1",
            ] {
                if Path::new(file).exists() {
                    tar.append_path_with_name(file, file.trim_start_matches('/'))
                        .unwrap();
                }
            }
            let bytes = tar.into_inner().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("rootfs.tar");
            std::fs::write(&file, bytes).unwrap();
            let out = std::process::Command::new("docker")
                .args(["import", &file.display().to_string(), &tag])
                .output()
                .expect("docker CLI");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            tag
        })
        .clone()
}

/// A kind stand-in. It records every call in `<dir>/kind.calls` (and the PATH, DOCKER_HOST
/// and DOCKER_CONTEXT of the last one in `<dir>/kind.env`) and reads how to answer
/// from `<dir>/kind.mode`: `ok` (create: start a labelled node container on `network` and
/// copy `<dir>/cluster.kubeconfig` to --kubeconfig), `fail` (kind's message for a busy
/// port, exit 1), `hang` (create never answers; its pid goes to `<dir>/kind.pid`) or
/// `hang-tree` (create starts the node container, then a child process standing for kind's
/// `docker exec ... kubeadm init`, pid in `<dir>/kind.child.pid`, and waits for it). Other
/// commands answer as in `ok`.
pub fn kind_script(dir: &Path, network: &str) -> String {
    let d = dir.display();
    let image = node_image();
    format!(
        r#"#!/bin/sh
echo "$@" >> "{d}/kind.calls"
printf 'PATH=%s\nDOCKER_HOST=%s\nDOCKER_CONTEXT=%s\n' "$PATH" "$DOCKER_HOST" "$DOCKER_CONTEXT" > "{d}/kind.env"
mode=$(cat "{d}/kind.mode" 2>/dev/null || echo ok)
case "$1" in
version) echo "kind v0.32.0 go1.25.4 linux/amd64"; exit 0;;
esac
name=""; kc=""; prev=""
for a in "$@"; do
  case "$prev" in --name) name="$a";; --kubeconfig) kc="$a";; esac
  prev="$a"
done
if [ "$mode" = hang ] && [ "$1" = create ]; then echo $$ > "{d}/kind.pid"; exec sleep 300; fi
if [ "$mode" = hang-tree ] && [ "$1" = create ]; then
  echo "Creating cluster \"$name\" ..." >&2
  docker run -d --name "$name-control-plane" --network "{network}" --label "io.x-k8s.kind.cluster=$name" --label io.x-k8s.kind.role=control-plane {image} /bin/sleep infinity > /dev/null || exit 2
  echo " ✓ Preparing nodes 📦" >&2
  sleep 300 &
  echo $! > "{d}/kind.child.pid"
  echo $$ > "{d}/kind.pid"
  wait
  exit 0
fi
if [ "$mode" = fail ]; then
  echo "Creating cluster \"$name\" ..." >&2
  echo "ERROR: failed to create cluster: command \"docker run --name $name-control-plane\" failed with error: exit status 125" >&2
  echo "Command Output: docker: Error response from daemon: driver failed programming external connectivity: Bind for 127.0.0.1:9080 failed: port is already allocated." >&2
  exit 1
fi
case "$1 $2" in
"create cluster")
  echo "Creating cluster \"$name\" ..." >&2
  echo " ✓ Ensuring node image (kindest/node:v1.36.1) 🖼" >&2
  docker run -d --name "$name-control-plane" --network "{network}" --label "io.x-k8s.kind.cluster=$name" --label io.x-k8s.kind.role=control-plane {image} /bin/sleep infinity > /dev/null || exit 2
  echo " ✓ Preparing nodes 📦" >&2
  echo " ✓ Writing configuration 📜" >&2
  echo " ✓ Starting control-plane 🕹️" >&2
  echo " ✓ Installing CNI 🔌" >&2
  echo " ✓ Installing StorageClass 💾" >&2
  cp "{d}/cluster.kubeconfig" "$kc"
  echo "Set kubectl context to \"kind-$name\"" >&2
  ;;
"export kubeconfig")
  cp "{d}/cluster.kubeconfig" "$kc"
  echo "Set kubectl context to \"kind-$name\"" >&2
  ;;
"delete cluster")
  echo "Deleting cluster \"$name\" ..." >&2
  ids=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$name")
  [ -n "$ids" ] && docker rm -f $ids > /dev/null
  # kind removes the context from the kubeconfig it was given; the app checks that.
  [ -n "$kc" ] && [ -f "$kc" ] && printf 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n' > "$kc"
  echo "Deleted nodes: [\"$name-control-plane\"]" >&2
  ;;
*) echo "unexpected: $@" >&2; exit 9;;
esac
"#
    )
}

/// An istioctl stand-in: records calls in `<dir>/istioctl.calls`; `ok` posts the objects
/// in `<dir>/istio-objects/` (listed with their API paths in `<dir>/istio-objects/paths`) to
/// the API server named in `<dir>/server` and prints istioctl's progress lines; `fail`
/// prints a readiness time-out and exits 1; `hang` never finishes.
pub fn istioctl_script(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"#!/bin/sh
echo "$@" >> "{d}/istioctl.calls"
mode=$(cat "{d}/istioctl.mode" 2>/dev/null || echo ok)
case "$1" in version) echo "client version: 1.30.3"; exit 0;; esac
if [ "$mode" = hang ]; then echo $$ > "{d}/istioctl.pid"; exec sleep 300; fi
if [ "$mode" = fail ]; then
  echo "✔ Istio core installed ⛵️"
  echo "✘ Istiod encountered an error: failed to wait for resource: resources not ready after 5m0s: context deadline exceeded" >&2
  echo "Error: failed to install manifests: errors occurred during operation" >&2
  exit 1
fi
server=$(cat "{d}/server")
while read -r file path; do
  curl -sS -f -X POST -H 'Content-Type: application/json' --data @"{d}/istio-objects/$file" "$server$path" > /dev/null || exit 3
done < "{d}/istio-objects/paths"
echo "✔ Istio core installed ⛵️"
echo "✔ Istiod installed 🧠"
echo "✔ Egress gateways installed 🛫"
echo "✔ Ingress gateways installed 🛬"
echo "✔ Installation complete"
"#
    )
}

/// Waits until `pid` is gone (the process was killed), up to `limit`.
pub fn gone(pid: &str, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        let alive = std::process::Command::new("kill")
            .args(["-0", pid.trim()])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        // A killed child may linger as a zombie until reaped; /proc tells them apart.
        let zombie = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .map(|s| s.contains(") Z "))
            .unwrap_or(false);
        if !alive || zombie {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn set_mode(dir: &Path, tool: &str, mode: &str) {
    std::fs::write(dir.join(format!("{tool}.mode")), mode).unwrap();
}

/// Removes every container labelled for `cluster` and the network, whatever happened.
pub struct DockerCleanup {
    pub cluster: String,
    pub network: Option<String>,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let out = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=io.x-k8s.kind.cluster={}", self.cluster),
            ])
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", id])
                    .output();
            }
        }
        if let Some(n) = &self.network {
            let _ = std::process::Command::new("docker")
                .args(["network", "rm", n])
                .output();
        }
    }
}

pub fn home_file(home: &Path, rel: &str) -> PathBuf {
    home.join(rel)
}

/// The label every test network carries: the id of the test process that made it, so a later
/// run can tell the leftovers of a run that was killed before its cleanup (their process is
/// gone) from the networks of a run going on beside it.
const TEST_NETWORK_LABEL: &str = "io.istio-playground.test.pid";

/// Creates a bridge network, as kind creates its `kind` network, with the first of `subnets`
/// (IPv4, each with the MetalLB pool the app must compute for it) that no other Docker network
/// on this engine overlaps, and returns that pair. Docker refuses a subnet that overlaps
/// another network's, and the engine is this machine's: it keeps the networks of a test run
/// that was killed before its cleanup ran, and may hold any network of its own. Those
/// leftovers (a test network whose process is gone) are removed first, with their containers.
pub async fn create_network(name: &str, subnets: &[(String, String)]) -> (String, String) {
    use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
    let docker = playground::preflight::DockerEndpoint::from_env()
        .client(Duration::from_secs(10))
        .unwrap();
    remove_leftover_networks(&docker).await;
    let mut refused = Vec::new();
    for (subnet, pool) in subnets {
        let created = docker
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.clone()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(HashMap::from([(
                    TEST_NETWORK_LABEL.to_string(),
                    std::process::id().to_string(),
                )])),
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => return (subnet.clone(), pool.clone()),
            Err(e) if e.to_string().contains("overlap") => refused.push(e.to_string()),
            Err(e) => panic!("create the test's Docker network {name} ({subnet}): {e}"),
        }
    }
    panic!("every subnet this test may use overlaps a Docker network on this engine: {refused:?}");
}

/// Removes the test networks (and their containers) of test processes that are gone.
async fn remove_leftover_networks(docker: &bollard::Docker) {
    use bollard::query_parameters::{
        InspectNetworkOptions, ListNetworksOptions, RemoveContainerOptions,
    };
    let filters = HashMap::from([("label".to_string(), vec![TEST_NETWORK_LABEL.to_string()])]);
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap_or_default();
    for network in networks {
        let Some(name) = network.name else { continue };
        let owner = network
            .labels
            .as_ref()
            .and_then(|l| l.get(TEST_NETWORK_LABEL))
            .and_then(|pid| pid.parse::<u32>().ok());
        if owner.is_none_or(process_is_alive) {
            continue;
        }
        let attached = docker
            .inspect_network(&name, None::<InspectNetworkOptions>)
            .await
            .ok()
            .and_then(|n| n.containers)
            .unwrap_or_default();
        for id in attached.keys() {
            let _ = docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
        let _ = docker.remove_network(&name).await;
    }
}

fn process_is_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without /proc, keep every network: only Linux machines clean up here.
        true
    }
}

/// Candidate `/16` subnets `10.N.0.0/16` for N in `range`, each with the pool MetalLB gets
/// from it (the top of the range, as the app computes it).
pub fn subnets_16(range: std::ops::Range<u8>) -> Vec<(String, String)> {
    range
        .map(|n| {
            (
                format!("10.{n}.0.0/16"),
                format!("10.{n}.255.200-10.{n}.255.250"),
            )
        })
        .collect()
}
