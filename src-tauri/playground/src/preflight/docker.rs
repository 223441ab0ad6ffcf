//! The Docker engine check: is it reachable, which version, and what it can give to kind.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;

use super::{CheckId, CheckResult, CheckStatus, gib};

/// An engine that has not answered by then is reported as not answering (the promise to the
/// user is a verdict within 3 s, and the rest of preflight needs a little time after it).
pub const TIMEOUT: Duration = Duration::from_millis(2500);

/// The label kind puts on its node containers.
pub const KIND_CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";

/// Recommended and minimum resources for the demo profile, the addons and Bookinfo.
const WANT_CPUS: i64 = 4;
const MIN_CPUS: i64 = 2;
const WANT_MEMORY: i64 = 8 << 30;
const MIN_MEMORY: i64 = 4 << 30;

/// Where the Docker engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEndpoint {
    /// `unix:///var/run/docker.sock` and friends.
    Unix(PathBuf),
    /// `tcp://host:port` or `http://host:port`.
    Tcp(String),
    /// `npipe:////./pipe/docker_engine` on Windows.
    NamedPipe(String),
}

impl std::fmt::Display for DockerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerEndpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerEndpoint::Tcp(a) => write!(f, "{a}"),
            DockerEndpoint::NamedPipe(p) => write!(f, "{p}"),
        }
    }
}

/// What decides which engine the `docker` command (and so kind) talks to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerCliEnv {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub windows: bool,
}

impl DockerCliEnv {
    /// This process's environment.
    pub fn current() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        DockerCliEnv {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            config_dir: var("DOCKER_CONFIG").map(PathBuf::from),
            home: dirs::home_dir(),
            windows: cfg!(windows),
        }
    }
}

/// The engine the app and kind both use, and the docker CLI context it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEngine {
    pub endpoint: DockerEndpoint,
    /// The docker CLI context it came from, when not from `DOCKER_HOST` or a usual socket.
    pub context: Option<String>,
}

/// The sha256 of a context name, in hex: the folder the docker CLI keeps its metadata in.
fn context_dir_name(name: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(name.as_bytes()))
}

/// The endpoint of a docker CLI context, from `<config>/contexts/meta/<sha256>/meta.json`.
fn context_endpoint(config_dir: &std::path::Path, name: &str) -> Result<DockerEndpoint, String> {
    let file = config_dir
        .join("contexts/meta")
        .join(context_dir_name(name))
        .join("meta.json");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    meta["Endpoints"]["docker"]["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(DockerEndpoint::parse)
        .ok_or_else(|| format!("{} names no Endpoints.docker.Host", file.display()))
}

/// Finds the engine the way the docker CLI (and so kind) does: `DOCKER_HOST`, else the
/// current context (`DOCKER_CONTEXT`, else `currentContext` in `config.json`), else the
/// usual sockets (Linux engine, Docker Desktop, Colima, OrbStack, Rancher Desktop), else the
/// platform default. With two engines installed, the app must inspect the one kind builds on.
pub fn find_engine(env: &DockerCliEnv) -> FoundEngine {
    if let Some(host) = &env.docker_host {
        return FoundEngine {
            endpoint: DockerEndpoint::parse(host),
            context: None,
        };
    }
    let config_dir = env
        .config_dir
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".docker")));
    if let Some(config_dir) = &config_dir {
        let current = env.docker_context.clone().or_else(|| {
            let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
            let config: serde_json::Value = serde_json::from_str(&text).ok()?;
            config["currentContext"].as_str().map(str::to_string)
        });
        // "default" is the CLI's name for "no context": DOCKER_HOST or the platform socket.
        if let Some(name) = current.filter(|n| !n.is_empty() && n != "default") {
            match context_endpoint(config_dir, &name) {
                Ok(endpoint) => {
                    return FoundEngine {
                        endpoint,
                        context: Some(name),
                    };
                }
                Err(e) => tracing::warn!(context = %name, "docker context unreadable: {e}"),
            }
        }
    }
    if env.windows {
        return FoundEngine {
            endpoint: DockerEndpoint::NamedPipe("npipe:////./pipe/docker_engine".into()),
            context: None,
        };
    }
    let home = env.home.clone().unwrap_or_default();
    let candidates = [
        PathBuf::from("/var/run/docker.sock"),
        home.join(".docker/run/docker.sock"),
        home.join(".docker/desktop/docker.sock"),
        home.join(".colima/default/docker.sock"),
        home.join(".orbstack/run/docker.sock"),
        home.join(".rd/docker.sock"),
    ];
    let found = candidates.iter().find(|p| p.exists());
    FoundEngine {
        endpoint: DockerEndpoint::Unix(found.unwrap_or(&candidates[0]).clone()),
        context: None,
    }
}

impl DockerEndpoint {
    /// The engine for this process's environment (see [`find_engine`]).
    pub fn from_env() -> Self {
        find_engine(&DockerCliEnv::current()).endpoint
    }

    /// Parses a `DOCKER_HOST` value.
    pub fn parse(host: &str) -> Self {
        if let Some(path) = host.strip_prefix("unix://") {
            DockerEndpoint::Unix(PathBuf::from(path))
        } else if host.starts_with("npipe://") {
            DockerEndpoint::NamedPipe(host.to_string())
        } else {
            DockerEndpoint::Tcp(host.to_string())
        }
    }

    /// True when the engine runs on this machine, so its disk and /proc limits are ours.
    pub fn is_local(&self) -> bool {
        match self {
            DockerEndpoint::Unix(_) | DockerEndpoint::NamedPipe(_) => true,
            DockerEndpoint::Tcp(a) => a.contains("127.0.0.1") || a.contains("localhost"),
        }
    }

    /// A bollard client for this endpoint; connecting is lazy, so this does not touch Docker.
    pub fn client(&self, timeout: Duration) -> Result<Docker, bollard::errors::Error> {
        let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
        match self {
            #[cfg(unix)]
            DockerEndpoint::Unix(p) => {
                Docker::connect_with_unix(&p.to_string_lossy(), secs, bollard::API_DEFAULT_VERSION)
            }
            #[cfg(not(unix))]
            DockerEndpoint::Unix(p) => Err(bollard::errors::Error::SocketNotFoundError(
                p.display().to_string(),
            )),
            DockerEndpoint::Tcp(a) => {
                Docker::connect_with_http(a, secs, bollard::API_DEFAULT_VERSION)
            }
            #[cfg(windows)]
            DockerEndpoint::NamedPipe(p) => {
                Docker::connect_with_named_pipe(p, secs, bollard::API_DEFAULT_VERSION)
            }
            #[cfg(not(windows))]
            DockerEndpoint::NamedPipe(p) => {
                Err(bollard::errors::Error::SocketNotFoundError(p.clone()))
            }
        }
    }
}

/// Where the engine runs its containers, as far as the playground cares: on this computer's
/// own kernel, or inside a VM (whose container networks, and so MetalLB's addresses, the
/// host cannot reach; its CPU and memory limits are set in that product).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineHost {
    /// Docker Engine on this Linux machine.
    Native,
    /// Docker Desktop; on Windows usually on WSL 2, which takes its limits from `.wslconfig`.
    DockerDesktop {
        wsl2: bool,
    },
    Colima,
    OrbStack,
    RancherDesktop,
    PodmanMachine,
    Lima,
    /// Some other engine on macOS or Windows: there, Linux containers always run in a VM.
    OtherVm,
}

/// The parts of `docker info` (and the endpoint) that tell the engines apart.
#[derive(Debug, Clone, Default)]
pub struct EngineInfo<'a> {
    /// `OperatingSystem`: "Docker Desktop", "OrbStack", "Rancher Desktop WSL Distribution",
    /// "Ubuntu 24.04 LTS"...
    pub operating_system: &'a str,
    /// `KernelVersion`: "...-microsoft-standard-WSL2" on WSL 2.
    pub kernel_version: &'a str,
    /// `Name`, the engine's host name: "colima", "lima-rancher-desktop"...
    pub name: &'a str,
    pub labels: &'a [String],
    /// Where the app reached it: `unix:///Users/ana/.colima/default/docker.sock`...
    pub endpoint: &'a str,
    /// The OS this app runs on (`std::env::consts::OS`).
    pub host_os: &'a str,
}

impl EngineHost {
    pub fn classify(info: &EngineInfo<'_>) -> Self {
        let os = info.operating_system.to_lowercase();
        let kernel = info.kernel_version.to_lowercase();
        let name = info.name.to_lowercase();
        let endpoint = info.endpoint.to_lowercase();
        let labelled = |word: &str| info.labels.iter().any(|l| l.to_lowercase().contains(word));
        if os.contains("docker desktop") {
            EngineHost::DockerDesktop {
                wsl2: kernel.contains("microsoft") || kernel.contains("wsl2"),
            }
        } else if os.contains("orbstack") || endpoint.contains(".orbstack") {
            EngineHost::OrbStack
        } else if os.contains("rancher desktop")
            || name.contains("rancher-desktop")
            || endpoint.contains("/.rd/")
            || endpoint.contains("rancher-desktop")
        {
            EngineHost::RancherDesktop
        } else if name == "colima" || name.starts_with("colima-") || endpoint.contains("/.colima/")
        {
            EngineHost::Colima
        } else if (labelled("podman") || endpoint.contains("podman") || os.contains("podman"))
            && info.host_os != "linux"
        {
            EngineHost::PodmanMachine
        } else if name.starts_with("lima-") || endpoint.contains("/.lima/") {
            EngineHost::Lima
        } else if info.host_os == "macos" || info.host_os == "windows" {
            EngineHost::OtherVm
        } else {
            EngineHost::Native
        }
    }

    /// The product's name, for sentences.
    pub fn name(self) -> &'static str {
        match self {
            EngineHost::Native => "Docker Engine",
            EngineHost::DockerDesktop { .. } => "Docker Desktop",
            EngineHost::Colima => "Colima",
            EngineHost::OrbStack => "OrbStack",
            EngineHost::RancherDesktop => "Rancher Desktop",
            EngineHost::PodmanMachine => "Podman machine",
            EngineHost::Lima => "Lima",
            EngineHost::OtherVm => "Your Docker engine",
        }
    }

    /// Where this engine's CPU and memory limits are raised, as a sentence.
    pub fn resources_fix(self) -> &'static str {
        match self {
            EngineHost::Native => {
                "Docker uses this machine directly: close other programs, or use a machine with more CPUs and memory."
            }
            EngineHost::DockerDesktop { wsl2: false } => {
                "Give Docker more in Docker Desktop > Settings > Resources."
            }
            // Docker Desktop on WSL 2 has no such settings: WSL's VM has the limits.
            EngineHost::DockerDesktop { wsl2: true } => {
                "Docker Desktop on WSL 2 gets its CPUs and memory from WSL: put the three lines `[wsl2]`, `memory=8GB` and `processors=4` in %UserProfile%\\.wslconfig (create the file if it is missing), run `wsl --shutdown` in a terminal, then start Docker Desktop again."
            }
            EngineHost::Colima => {
                "Restart Colima with more: `colima stop`, then `colima start --cpu 4 --memory 8`."
            }
            EngineHost::OrbStack => {
                "Raise the memory limit in OrbStack > Settings > System (OrbStack uses every CPU by default)."
            }
            EngineHost::RancherDesktop => {
                "Give it more in Rancher Desktop > Preferences > Virtual Machine (on Windows, in %UserProfile%\\.wslconfig under `[wsl2]`, then `wsl --shutdown`)."
            }
            EngineHost::PodmanMachine => {
                "Give the machine more: `podman machine stop`, `podman machine set --cpus 4 --memory 8192`, then `podman machine start`."
            }
            EngineHost::Lima => {
                "Give the instance more: `limactl stop <instance>`, `limactl edit <instance> --cpus 4 --memory 8`, then `limactl start <instance>`."
            }
            EngineHost::OtherVm => {
                "Give the virtual machine your Docker engine runs in about 4 CPUs and 8 GiB."
            }
        }
    }

    /// True when containers run in a VM: their networks (MetalLB's addresses) are not
    /// reachable from this computer, only ports published on localhost are.
    pub fn networks_in_vm(self) -> bool {
        self != EngineHost::Native
    }
}

/// What the engine told us.
#[derive(Debug, Clone)]
pub struct DockerFacts {
    pub version: String,
    pub api_version: String,
    pub operating_system: String,
    /// Where its containers run (Docker Desktop, Colima... keep them in a VM).
    pub host: EngineHost,
    pub cpus: i64,
    pub memory_bytes: i64,
    pub root_dir: Option<String>,
    /// Host ports published by the playground's own kind node containers.
    pub playground_ports: Vec<u16>,
    pub latency: Duration,
}

/// Why the engine could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerProblem {
    /// No socket or pipe: Docker is not installed or not started.
    NotFound(String),
    /// Something is there but refuses connections: the engine is stopped.
    Refused(String),
    /// The socket exists but this user may not use it.
    PermissionDenied(String),
    /// Connected, but no answer in time.
    Timeout(Duration),
    Other(String),
}

/// Result of talking to the engine once.
#[derive(Debug, Clone)]
pub struct DockerProbe {
    pub endpoint: DockerEndpoint,
    pub outcome: Result<DockerFacts, DockerProblem>,
}

impl DockerProbe {
    pub fn info(&self) -> Option<&DockerFacts> {
        self.outcome.as_ref().ok()
    }

    pub fn published_ports(&self) -> &[u16] {
        self.info()
            .map(|f| f.playground_ports.as_slice())
            .unwrap_or(&[])
    }
}

/// Pings the engine and reads its version, resources and the playground's containers, all
/// within `timeout`.
#[tracing::instrument(skip_all, fields(endpoint = %endpoint))]
pub async fn probe(endpoint: &DockerEndpoint, timeout: Duration) -> DockerProbe {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, ask(endpoint, timeout)).await {
        Ok(Ok(mut facts)) => {
            facts.latency = started.elapsed();
            Ok(facts)
        }
        Ok(Err(problem)) => Err(problem),
        Err(_) => Err(DockerProblem::Timeout(timeout)),
    };
    match &outcome {
        Ok(f) => tracing::info!(version = %f.version, cpus = f.cpus, "Docker answered"),
        Err(p) => tracing::warn!(problem = ?p, "Docker is not usable"),
    }
    DockerProbe {
        endpoint: endpoint.clone(),
        outcome,
    }
}

async fn ask(endpoint: &DockerEndpoint, timeout: Duration) -> Result<DockerFacts, DockerProblem> {
    let docker = endpoint.client(timeout).map_err(classify)?;
    docker.ping().await.map_err(classify)?;
    let version = docker.version().await.map_err(classify)?;
    let info = docker.info().await.map_err(classify)?;
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{KIND_CLUSTER_LABEL}={}", crate::CLUSTER_NAME)],
    )]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(classify)?;
    let playground_ports = containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.public_port)
        .collect();
    let operating_system = info.operating_system.clone().unwrap_or_default();
    let endpoint_text = endpoint.to_string();
    let labels = info.labels.clone().unwrap_or_default();
    let host = EngineHost::classify(&EngineInfo {
        operating_system: &operating_system,
        kernel_version: info.kernel_version.as_deref().unwrap_or_default(),
        name: info.name.as_deref().unwrap_or_default(),
        labels: &labels,
        endpoint: &endpoint_text,
        host_os: std::env::consts::OS,
    });
    Ok(DockerFacts {
        version: version.version.unwrap_or_else(|| "unknown".into()),
        api_version: version.api_version.unwrap_or_default(),
        host,
        operating_system,
        cpus: info.ncpu.unwrap_or(0),
        memory_bytes: info.mem_total.unwrap_or(0),
        root_dir: info.docker_root_dir,
        playground_ports,
        latency: Duration::ZERO,
    })
}

fn classify(err: bollard::errors::Error) -> DockerProblem {
    use bollard::errors::Error as E;
    if let E::SocketNotFoundError(path) = &err {
        return DockerProblem::NotFound(path.clone());
    }
    // Connection errors arrive wrapped; their text is the only stable thing across OSes.
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let lower = text.to_lowercase();
    if lower.contains("permission denied") || lower.contains("access is denied") {
        DockerProblem::PermissionDenied(text)
    } else if lower.contains("connection refused")
        || lower.contains("os error 111")
        || lower.contains("os error 61")
    {
        DockerProblem::Refused(text)
    } else if lower.contains("no such file")
        || lower.contains("cannot find the file")
        || lower.contains("os error 2")
    {
        DockerProblem::NotFound(text)
    } else if lower.contains("timed out") || lower.contains("timeout") {
        DockerProblem::Timeout(TIMEOUT)
    } else {
        DockerProblem::Other(text)
    }
}

/// The one sentence telling the user how to get Docker running on their OS.
pub fn start_docker_hint() -> String {
    if cfg!(target_os = "linux") {
        "Start Docker: run `sudo systemctl start docker` (or open Docker Desktop if you use it), then press Check again.".into()
    } else {
        "Start Docker Desktop and wait until it says \"Engine running\", then press Check again."
            .into()
    }
}

const WHY_DOCKER: &str =
    "kind runs the whole Kubernetes cluster as Docker containers, so nothing works without it.";
const WHY_RESOURCES: &str = "Istio's demo profile, its addons and Bookinfo run about 30 containers; with too little CPU or memory pods stay Pending or restart.";

/// What to do when the engine answers but no `docker` command is found (kind needs one).
fn docker_cli_fix() -> String {
    if cfg!(target_os = "macos") {
        "Open Docker Desktop > Settings > Advanced and choose to install the CLI tools for the system (/usr/local/bin) or your user (~/.docker/bin); with Colima or another engine, install the CLI with `brew install docker`. Then press Check again.".into()
    } else if cfg!(windows) {
        "Reinstall or repair Docker Desktop: it puts docker.exe in C:\\Program Files\\Docker\\Docker\\resources\\bin. Then press Check again.".into()
    } else {
        "Install the Docker command: `sudo apt-get install docker.io` (Debian, Ubuntu) or the docker-ce-cli package from Docker, then press Check again.".into()
    }
}

/// The engine row; `docker_cli` is the `docker` command found on the PATH kind will get.
pub(super) fn check_engine(
    probe: &DockerProbe,
    docker_cli: Option<&std::path::Path>,
) -> CheckResult {
    let (status, summary, fix) = match &probe.outcome {
        Ok(f) if docker_cli.is_none() => (
            CheckStatus::Fail,
            format!(
                "Docker {} answered, but the `docker` command is not installed where the playground looks (your PATH and Docker's usual folders); kind needs it to create the cluster.",
                f.version
            ),
            Some(docker_cli_fix()),
        ),
        Ok(f) => (
            CheckStatus::Pass,
            format!(
                "Docker {} (API {}) answered in {} ms on {}.",
                f.version,
                f.api_version,
                f.latency.as_millis(),
                match f.host {
                    EngineHost::Native | EngineHost::OtherVm => f.operating_system.clone(),
                    host => host.name().to_string(),
                }
            ),
            None,
        ),
        Err(DockerProblem::NotFound(_)) => (
            CheckStatus::Fail,
            format!(
                "No Docker engine at {}: Docker is not installed or not started.",
                probe.endpoint
            ),
            Some(format!(
                "{} If Docker is not installed, install Docker Desktop (macOS, Windows) or Docker Engine (Linux) first.",
                start_docker_hint()
            )),
        ),
        Err(DockerProblem::Refused(_)) => (
            CheckStatus::Fail,
            format!(
                "Docker at {} refused the connection: the engine is not running.",
                probe.endpoint
            ),
            Some(start_docker_hint()),
        ),
        Err(DockerProblem::PermissionDenied(_)) => (
            CheckStatus::Fail,
            format!(
                "Docker is running, but your user may not use {}.",
                probe.endpoint
            ),
            Some(if cfg!(target_os = "linux") {
                "Add yourself to the docker group: run `sudo usermod -aG docker $USER`, then log out and back in.".into()
            } else {
                "Restart Docker Desktop; if that does not help, reinstall it for your user.".into()
            }),
        ),
        Err(DockerProblem::Timeout(t)) => (
            CheckStatus::Fail,
            format!(
                "Docker at {} did not answer within {:.1} s.",
                probe.endpoint,
                t.as_secs_f64()
            ),
            Some(if cfg!(target_os = "linux") {
                "The engine is stuck or still starting: wait a moment, or run `sudo systemctl restart docker`, then press Check again.".into()
            } else {
                "Docker Desktop is still starting or stuck: wait until it says \"Engine running\" (or restart it), then press Check again.".into()
            }),
        ),
        Err(DockerProblem::Other(e)) => (
            CheckStatus::Fail,
            format!("Docker at {} answered with an error: {e}", probe.endpoint),
            Some(start_docker_hint()),
        ),
    };
    CheckResult {
        id: CheckId::Docker,
        title: "Docker engine".into(),
        status,
        summary,
        why: WHY_DOCKER.into(),
        fix,
        elapsed_ms: 0,
    }
}

pub(super) fn check_resources(probe: &DockerProbe) -> CheckResult {
    let row = |status, summary: String, fix: Option<String>| CheckResult {
        id: CheckId::DockerResources,
        title: "CPUs and memory for Docker".into(),
        status,
        summary,
        why: WHY_RESOURCES.into(),
        fix,
        elapsed_ms: 0,
    };
    let Some(f) = probe.info() else {
        return row(
            CheckStatus::Warn,
            "Not checked: Docker did not answer.".into(),
            Some("Fix the Docker engine check first.".into()),
        );
    };
    let have = format!(
        "Docker can use {} CPUs and {} of memory",
        f.cpus,
        gib(f.memory_bytes.max(0) as u64)
    );
    let status = if f.cpus < MIN_CPUS || f.memory_bytes < MIN_MEMORY {
        CheckStatus::Fail
    } else if f.cpus < WANT_CPUS || f.memory_bytes < WANT_MEMORY {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    let how = f.host.resources_fix();
    match status {
        CheckStatus::Pass => row(
            status,
            format!("{have}; the playground wants about 4 CPUs and 8 GiB."),
            None,
        ),
        CheckStatus::Warn => row(
            status,
            format!(
                "{have}; the playground wants about 4 CPUs and 8 GiB, so setup will be slow and some pods may restart."
            ),
            Some(how.into()),
        ),
        CheckStatus::Fail => row(
            status,
            format!("{have}; the playground needs at least 2 CPUs and 4 GiB."),
            Some(how.into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cpus: i64, mem_gib: i64, desktop: bool) -> DockerProbe {
        DockerProbe {
            endpoint: DockerEndpoint::parse("unix:///var/run/docker.sock"),
            outcome: Ok(DockerFacts {
                version: "28.2.2".into(),
                api_version: "1.50".into(),
                operating_system: if desktop { "Docker Desktop" } else { "Debian" }.into(),
                host: if desktop {
                    EngineHost::DockerDesktop { wsl2: false }
                } else {
                    EngineHost::Native
                },
                cpus,
                memory_bytes: mem_gib << 30,
                root_dir: None,
                playground_ports: vec![],
                latency: Duration::from_millis(3),
            }),
        }
    }

    fn write_context(config_dir: &std::path::Path, name: &str, host: &str) {
        let dir = config_dir
            .join("contexts/meta")
            .join(context_dir_name(name));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("meta.json"),
            serde_json::json!({"Name": name, "Metadata": {"Description": "x"},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}})
            .to_string(),
        )
        .unwrap();
    }

    #[test]
    fn the_docker_clis_current_context_decides_the_engine_as_it_does_for_kind() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".docker");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.json"),
            r#"{"auths": {}, "currentContext": "colima"}"#,
        )
        .unwrap();
        write_context(
            &config,
            "colima",
            "unix:///Users/ana/.colima/default/docker.sock",
        );
        write_context(
            &config,
            "orbstack",
            "unix:///Users/ana/.orbstack/run/docker.sock",
        );
        // The folder name is the sha256 of the context name, as the docker CLI stores it.
        assert_eq!(
            context_dir_name("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
        let env = DockerCliEnv {
            home: Some(home.path().to_path_buf()),
            ..Default::default()
        };
        assert_eq!(
            find_engine(&env),
            FoundEngine {
                endpoint: DockerEndpoint::Unix("/Users/ana/.colima/default/docker.sock".into()),
                context: Some("colima".into()),
            }
        );
        // DOCKER_CONTEXT wins over config.json, DOCKER_HOST over both.
        let env2 = DockerCliEnv {
            docker_context: Some("orbstack".into()),
            ..env.clone()
        };
        assert_eq!(
            find_engine(&env2).endpoint,
            DockerEndpoint::Unix("/Users/ana/.orbstack/run/docker.sock".into())
        );
        let env3 = DockerCliEnv {
            docker_host: Some("tcp://127.0.0.1:2375".into()),
            ..env2
        };
        assert_eq!(
            find_engine(&env3),
            FoundEngine {
                endpoint: DockerEndpoint::Tcp("tcp://127.0.0.1:2375".into()),
                context: None
            }
        );
        // "default", or a context whose metadata is missing, falls back to the sockets.
        for name in ["default", "gone"] {
            let env4 = DockerCliEnv {
                docker_context: Some(name.into()),
                ..env.clone()
            };
            let found = find_engine(&env4);
            assert_eq!(found.context, None, "{name}");
            assert!(matches!(found.endpoint, DockerEndpoint::Unix(_)), "{name}");
        }
        // DOCKER_CONFIG moves the whole folder.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(
            elsewhere.path().join("config.json"),
            r#"{"currentContext": "remote"}"#,
        )
        .unwrap();
        write_context(elsewhere.path(), "remote", "tcp://127.0.0.1:2376");
        let env5 = DockerCliEnv {
            config_dir: Some(elsewhere.path().to_path_buf()),
            ..env
        };
        assert_eq!(
            find_engine(&env5).endpoint,
            DockerEndpoint::Tcp("tcp://127.0.0.1:2376".into())
        );
    }

    #[test]
    fn engines_that_keep_containers_in_a_vm_are_told_apart_from_docker_info() {
        let classify = |os: &str, kernel: &str, name: &str, endpoint: &str, host_os: &str| {
            EngineHost::classify(&EngineInfo {
                operating_system: os,
                kernel_version: kernel,
                name,
                labels: &[],
                endpoint,
                host_os,
            })
        };
        // Values as `docker info` reports them on each product.
        assert_eq!(
            classify(
                "Docker Desktop",
                "6.10.14-linuxkit",
                "docker-desktop",
                "unix:///Users/a/.docker/run/docker.sock",
                "macos"
            ),
            EngineHost::DockerDesktop { wsl2: false }
        );
        assert_eq!(
            classify(
                "Docker Desktop",
                "5.15.167.4-microsoft-standard-WSL2",
                "docker-desktop",
                "npipe:////./pipe/docker_engine",
                "windows"
            ),
            EngineHost::DockerDesktop { wsl2: true }
        );
        assert_eq!(
            classify(
                "Ubuntu 24.04.1 LTS",
                "6.8.0-50-generic",
                "colima",
                "unix:///Users/a/.colima/default/docker.sock",
                "macos"
            ),
            EngineHost::Colima
        );
        assert_eq!(
            classify(
                "Ubuntu 24.04 LTS",
                "6.8.0",
                "colima-work",
                "unix:///x.sock",
                "macos"
            ),
            EngineHost::Colima
        );
        assert_eq!(
            classify(
                "OrbStack",
                "6.12.5-orbstack",
                "orbstack",
                "unix:///Users/a/.orbstack/run/docker.sock",
                "macos"
            ),
            EngineHost::OrbStack
        );
        assert_eq!(
            classify(
                "Alpine Linux v3.20",
                "6.6.14-0-virt",
                "lima-rancher-desktop",
                "unix:///Users/a/.rd/docker.sock",
                "macos"
            ),
            EngineHost::RancherDesktop
        );
        assert_eq!(
            classify(
                "Rancher Desktop WSL Distribution",
                "5.15.153.1-microsoft-standard-WSL2",
                "x",
                "npipe:////./pipe/docker_engine",
                "windows"
            ),
            EngineHost::RancherDesktop
        );
        assert_eq!(
            classify(
                "fedora",
                "6.12.7-200.fc41",
                "localhost.localdomain",
                "unix:///var/folders/x/podman/podman-machine-default-api.sock",
                "macos"
            ),
            EngineHost::PodmanMachine
        );
        assert_eq!(
            classify(
                "Ubuntu 24.10",
                "6.11.0",
                "lima-docker",
                "unix:///Users/a/.lima/docker/sock/docker.sock",
                "macos"
            ),
            EngineHost::Lima
        );
        assert_eq!(
            classify(
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-28-amd64",
                "box",
                "unix:///var/run/docker.sock",
                "linux"
            ),
            EngineHost::Native
        );
        assert_eq!(
            classify(
                "Ubuntu 22.04",
                "6.1.0",
                "vm",
                "tcp://192.168.64.2:2375",
                "macos"
            ),
            EngineHost::OtherVm
        );
        assert!(!EngineHost::Native.networks_in_vm());
        for host in [
            EngineHost::DockerDesktop { wsl2: true },
            EngineHost::Colima,
            EngineHost::OrbStack,
            EngineHost::RancherDesktop,
            EngineHost::PodmanMachine,
            EngineHost::Lima,
            EngineHost::OtherVm,
        ] {
            assert!(host.networks_in_vm(), "{host:?}");
        }
    }

    #[test]
    fn parses_docker_host_values() {
        assert_eq!(
            DockerEndpoint::parse("unix:///tmp/d.sock"),
            DockerEndpoint::Unix("/tmp/d.sock".into())
        );
        assert_eq!(
            DockerEndpoint::parse("tcp://127.0.0.1:2375"),
            DockerEndpoint::Tcp("tcp://127.0.0.1:2375".into())
        );
        assert!(matches!(
            DockerEndpoint::parse("npipe:////./pipe/docker_engine"),
            DockerEndpoint::NamedPipe(_)
        ));
        assert!(!DockerEndpoint::parse("tcp://10.0.0.5:2375").is_local());
    }

    #[test]
    fn resources_grade_against_the_demo_profiles_needs() {
        assert_eq!(
            check_resources(&facts(8, 16, false)).status,
            CheckStatus::Pass
        );
        assert_eq!(
            check_resources(&facts(2, 24, false)).status,
            CheckStatus::Warn
        );
        assert_eq!(
            check_resources(&facts(4, 6, false)).status,
            CheckStatus::Warn
        );
        assert_eq!(
            check_resources(&facts(1, 16, false)).status,
            CheckStatus::Fail
        );
        assert_eq!(
            check_resources(&facts(4, 2, false)).status,
            CheckStatus::Fail
        );
    }

    #[test]
    fn docker_desktop_users_are_sent_to_its_resource_settings() {
        let row = check_resources(&facts(4, 2, true));
        assert!(row.fix.unwrap().contains("Settings > Resources"));
        let row = check_resources(&facts(4, 2, false));
        assert!(!row.fix.unwrap().contains("Settings"));
    }

    #[test]
    fn docker_desktop_on_wsl2_is_sent_to_wslconfig_not_to_settings_it_does_not_have() {
        let mut probe = facts(4, 2, true);
        if let Ok(f) = &mut probe.outcome {
            // What `docker info` says on Windows with the WSL 2 backend.
            f.host = EngineHost::classify(&EngineInfo {
                operating_system: "Docker Desktop",
                kernel_version: "5.15.167.4-microsoft-standard-WSL2",
                name: "docker-desktop",
                labels: &[],
                endpoint: "npipe:////./pipe/docker_engine",
                host_os: "windows",
            });
        }
        let fix = check_resources(&probe).fix.unwrap();
        assert!(fix.contains(r"%UserProfile%\.wslconfig"), "{fix}");
        assert!(
            fix.contains("`[wsl2]`")
                && fix.contains("`memory=8GB`")
                && fix.contains("`processors=4`"),
            "{fix}"
        );
        assert!(fix.contains("wsl --shutdown"), "{fix}");
        assert!(!fix.contains("Settings > Resources"), "{fix}");
        let colima = EngineHost::Colima.resources_fix();
        assert!(
            colima.contains("colima start --cpu 4 --memory 8"),
            "{colima}"
        );
    }

    #[test]
    fn an_engine_without_a_docker_command_fails_because_kind_needs_it() {
        let with = check_engine(
            &facts(4, 8, true),
            Some(std::path::Path::new("/usr/local/bin/docker")),
        );
        assert_eq!(with.status, CheckStatus::Pass, "{}", with.summary);
        let without = check_engine(&facts(4, 8, true), None);
        assert_eq!(without.status, CheckStatus::Fail);
        assert!(
            without.summary.contains("`docker` command"),
            "{}",
            without.summary
        );
        assert!(without.fix.is_some_and(|f| f.contains("press Check again")));
    }

    #[test]
    fn every_failure_says_what_to_do() {
        for problem in [
            DockerProblem::NotFound("x".into()),
            DockerProblem::Refused("x".into()),
            DockerProblem::PermissionDenied("x".into()),
            DockerProblem::Timeout(TIMEOUT),
            DockerProblem::Other("x".into()),
        ] {
            let row = check_engine(
                &DockerProbe {
                    endpoint: DockerEndpoint::parse("unix:///nope.sock"),
                    outcome: Err(problem.clone()),
                },
                Some(std::path::Path::new("/usr/bin/docker")),
            );
            assert_eq!(row.status, CheckStatus::Fail, "{problem:?}");
            assert!(
                row.fix.as_deref().is_some_and(|f| !f.is_empty()),
                "{problem:?}"
            );
            assert!(row.summary.contains("/nope.sock"), "{}", row.summary);
        }
    }
}
