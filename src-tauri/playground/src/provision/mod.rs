//! The setup plan: tools, cluster, MetalLB, Istio, addons, Bookinfo, verification, and the
//! teardown.
//!
//! Every step checks first and acts only on what is missing, so running the plan again after
//! a failure (or a cancel) quickly passes the finished steps ("skipped: already done") and
//! goes on from the first unfinished one. Steps report progress as [`ProvisionEvent`]s and
//! stop when the [`CancellationToken`] fires; child processes and downloads are dropped with
//! them.

pub(crate) mod cluster;
pub mod download;
mod engine;
mod error;
mod istio;
pub mod kubeconfig;
pub mod metallb;
mod process;
mod steps;
pub mod tools;
mod verify;
pub mod workloads;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use cluster::{NodeContainer, kind_config, node_containers};
pub use engine::{Outcome, Step, StepCtx, run_steps};
pub use error::{Error, human};
pub use metallb::{Ipv4Subnet, MetallbPool, kind_network_subnet};
pub(crate) use process::no_console_window;
pub use steps::{SetupRun, plan, setup, setup_steps, teardown};
pub use tokio_util::sync::CancellationToken;
pub use tools::Platform;

use crate::kube::ClusterTarget;
use crate::paths::AppDirs;
use crate::preflight::DockerEndpoint;
use crate::versions;

/// The steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum StepId {
    Tools,
    Cluster,
    Metallb,
    Istio,
    Addons,
    Bookinfo,
    Verify,
    Teardown,
}

impl StepId {
    /// The setup steps in order (teardown is its own plan).
    pub const SETUP: [StepId; 7] = [
        StepId::Tools,
        StepId::Cluster,
        StepId::Metallb,
        StepId::Istio,
        StepId::Addons,
        StepId::Bookinfo,
        StepId::Verify,
    ];

    pub fn title(self) -> &'static str {
        match self {
            StepId::Tools => "Get kind and istioctl",
            StepId::Cluster => "Create the Kubernetes cluster",
            StepId::Metallb => "Install MetalLB (load balancer)",
            StepId::Istio => "Install Istio",
            StepId::Addons => "Install Kiali, Prometheus, Grafana, Jaeger, Loki",
            StepId::Bookinfo => "Deploy the Bookinfo shop",
            StepId::Verify => "Open the product page",
            StepId::Teardown => "Delete the cluster",
        }
    }

    /// One sentence for a newcomer: what this step is for.
    pub fn explanation(self) -> &'static str {
        match self {
            StepId::Tools => {
                "kind builds Kubernetes inside Docker; istioctl installs Istio. Both are checked against their published SHA-256."
            }
            StepId::Cluster => {
                "A one-node Kubernetes cluster runs in a Docker container; its ingress ports answer on localhost."
            }
            StepId::Metallb => {
                "Gives LoadBalancer services (like Istio's ingress gateway) an address, as a cloud would."
            }
            StepId::Istio => {
                "The control plane (istiod) and the ingress and egress gateways, from Istio's demo profile."
            }
            StepId::Addons => {
                "The dashboards: Kiali draws the mesh, Prometheus and Grafana show metrics, Jaeger traces, Loki logs."
            }
            StepId::Bookinfo => {
                "Four small services that make a book shop; each pod gets an Envoy sidecar proxy."
            }
            StepId::Verify => {
                "Asks the shop's product page through the ingress gateway, as your browser will."
            }
            StepId::Teardown => {
                "Deletes the cluster and its containers; your other Docker containers and kubeconfig stay untouched."
            }
        }
    }
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    /// Already done before this run (found in place), or not needed on this machine.
    Skipped,
}

/// Why a step failed, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StepFailure {
    pub code: crate::ErrorCode,
    pub message: String,
    pub hint: Option<String>,
}

impl From<&crate::Error> for StepFailure {
    fn from(e: &crate::Error) -> Self {
        StepFailure {
            code: e.code(),
            message: e.to_string(),
            hint: e.hint(),
        }
    }
}

/// One progress report of one step. The stream for a run starts with every step `pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProvisionEvent {
    pub step: StepId,
    pub state: StepState,
    /// 0 to 100 when the step knows how far it is (downloads, waits).
    pub percent: Option<f32>,
    /// A line for the step's log.
    pub message: Option<String>,
    /// Time since the step started.
    pub elapsed_ms: u32,
    /// Time since the run started.
    pub total_elapsed_ms: u32,
    /// Set with `state: failed`.
    pub failure: Option<StepFailure>,
}

/// What one step would do on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PlannedStep {
    pub id: StepId,
    pub title: String,
    pub explanation: String,
    /// The concrete actions, e.g. the command line, the URL, the MetalLB range.
    pub actions: Vec<String>,
}

/// A file the tools step would download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PlannedDownload {
    pub what: String,
    pub url: String,
    pub checksum_url: String,
    #[ts(type = "string")]
    pub destination: PathBuf,
}

/// `up --plan`: what setup would do here, without doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupPlan {
    pub cluster_name: String,
    #[ts(type = "string")]
    pub kubeconfig: PathBuf,
    pub context: String,
    pub steps: Vec<PlannedStep>,
    /// What "Tear down" does.
    pub teardown: PlannedStep,
    pub downloads: Vec<PlannedDownload>,
    /// The MetalLB range from the current `kind` network, when that network exists.
    pub metallb_pool: Option<String>,
    /// The engine that keeps container networks in a VM (Docker Desktop, Colima, OrbStack,
    /// Rancher Desktop...), when it does: the MetalLB addresses are not reachable from this
    /// computer, localhost is.
    pub networks_in_vm: Option<String>,
    /// Where the shop will answer.
    pub product_page_url: String,
}

/// Where downloads come from (tests point these at a local server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// `https://kind.sigs.k8s.io/dl`; the file is `<base>/v0.32.0/kind-<os>-<arch>`.
    pub kind_base: String,
    /// `https://github.com/istio/istio/releases/download`; `<base>/1.30.3/istio-1.30.3-<arch>.tar.gz`.
    pub istio_base: String,
    /// MetalLB's native manifest.
    pub metallb_manifest: String,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            kind_base: "https://kind.sigs.k8s.io/dl".into(),
            istio_base: "https://github.com/istio/istio/releases/download".into(),
            metallb_manifest: format!(
                "https://raw.githubusercontent.com/metallb/metallb/{}/config/manifests/metallb-native.yaml",
                versions::METALLB
            ),
        }
    }
}

/// How long each kind of wait may take before the step fails with a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub kind_create: Duration,
    pub kind_delete: Duration,
    pub istio_install: Duration,
    /// Pods of one step becoming ready (image pulls dominate).
    pub workloads: Duration,
    /// The product page answering through the gateway.
    pub verify: Duration,
    /// Anything quick: `kind export kubeconfig`, `kind get clusters`.
    pub short_command: Duration,
    /// An existing cluster's API server coming up after a reboot or a Docker restart
    /// (kubelet starts the static pods again; this takes tens of seconds).
    pub api_restart: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            kind_create: Duration::from_secs(10 * 60),
            kind_delete: Duration::from_secs(3 * 60),
            // istioctl waits up to 300 s for readiness itself; allow for the image pulls.
            istio_install: Duration::from_secs(15 * 60),
            workloads: Duration::from_secs(15 * 60),
            verify: Duration::from_secs(3 * 60),
            short_command: Duration::from_secs(60),
            api_restart: Duration::from_secs(120),
        }
    }
}

/// Everything the plan acts on, passed in so tests can point it anywhere.
#[derive(Debug, Clone)]
pub struct ProvisionConfig {
    pub dirs: AppDirs,
    /// The kubeconfig file and context every cluster call goes to.
    pub target: ClusterTarget,
    /// kind cluster name (tests use their own).
    pub cluster_name: String,
    /// Docker network kind attaches its nodes to.
    pub kind_network: String,
    pub docker: DockerEndpoint,
    /// The docker CLI context `docker` was found through, when it was.
    pub docker_context: Option<String>,
    /// The `PATH` to look for kind and istioctl in.
    pub path: Option<OsString>,
    /// The `PATH` kind and istioctl run with: the app's own with Docker's usual CLI folders
    /// added (kind runs `docker`; a macOS app opened from the Finder has a bare PATH).
    pub child_path: OsString,
    pub platform: Platform,
    pub sources: Sources,
    /// `http://localhost:9080/productpage`.
    pub product_page_url: String,
    /// Also add the cluster to the user's own kubeconfig (only when they ask).
    pub merge_kubeconfig: bool,
    /// The user's own kubeconfig (first file of `$KUBECONFIG`, else `~/.kube/config`):
    /// `--merge-kubeconfig` writes there and teardown removes the playground's entries.
    pub user_kubeconfig: Option<PathBuf>,
    pub timeouts: Timeouts,
    /// How often waits look again.
    pub poll_interval: Duration,
}

impl ProvisionConfig {
    /// The real machine: Docker from the environment, the user's PATH, the release sites.
    pub fn from_env(dirs: AppDirs, target: ClusterTarget) -> Self {
        let engine = crate::preflight::docker::find_engine(
            &crate::preflight::docker::DockerCliEnv::current(),
        );
        Self {
            dirs,
            target,
            cluster_name: crate::CLUSTER_NAME.into(),
            kind_network: "kind".into(),
            docker: engine.endpoint,
            docker_context: engine.context,
            path: Some(crate::preflight::path::child_path()),
            child_path: crate::preflight::path::child_path(),
            platform: Platform::current(),
            sources: Sources::default(),
            product_page_url: format!(
                "http://localhost:{}/productpage",
                versions::ports::INGRESS_HTTP
            ),
            merge_kubeconfig: false,
            user_kubeconfig: kubeconfig::user_kubeconfig(
                std::env::var_os("KUBECONFIG").as_deref(),
                dirs::home_dir().as_deref(),
            ),
            timeouts: Timeouts::default(),
            poll_interval: Duration::from_secs(2),
        }
    }

    /// The Istio release unpacked: `<data>/istio-1.30.3/`.
    pub fn istio_dir(&self) -> PathBuf {
        self.dirs.root().join(format!("istio-{}", versions::ISTIO))
    }

    /// Downloads in progress and archives: `<data>/downloads/`.
    pub fn downloads_dir(&self) -> PathBuf {
        self.dirs.root().join("downloads")
    }

    /// kind's context name for the cluster.
    pub fn kind_context(&self) -> String {
        format!("kind-{}", self.cluster_name)
    }

    /// The environment kind and istioctl get on top of the app's own: the PATH, and the
    /// engine the app checked and inspects, named the way the docker CLI that kind runs
    /// understands (the same context, or DOCKER_HOST), so both use one engine.
    pub fn child_env(&self) -> Vec<(&'static str, OsString)> {
        let engine = match &self.docker_context {
            Some(name) => ("DOCKER_CONTEXT", OsString::from(name)),
            None => ("DOCKER_HOST", OsString::from(self.docker.to_string())),
        };
        vec![("PATH", self.child_path.clone()), engine]
    }

    /// True when the plan may create and delete the cluster itself (its own target).
    pub fn owns_cluster(&self) -> bool {
        !self.target.explicit
    }
}

/// Receives every event of a run (a Tauri channel, the CLI printer, a test's Vec).
pub type EventSink = Arc<dyn Fn(ProvisionEvent) + Send + Sync>;

/// At most one setup or teardown at a time per app, and the Cancel button's handle on it.
#[derive(Debug, Default)]
pub struct RunSlot(std::sync::Mutex<Option<CancellationToken>>);

/// Holds the slot while a run lasts; frees it when dropped.
#[derive(Debug)]
pub struct RunTicket<'a> {
    slot: &'a RunSlot,
    pub cancel: CancellationToken,
}

impl RunSlot {
    /// Takes the slot, or refuses while another run holds it.
    pub fn begin(&self) -> Result<RunTicket<'_>, Error> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some() {
            return Err(Error::AlreadyRunning);
        }
        let cancel = CancellationToken::new();
        *held = Some(cancel.clone());
        Ok(RunTicket { slot: self, cancel })
    }

    /// Cancels the running setup or teardown; false when none runs.
    pub fn cancel(&self) -> bool {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match held.as_ref() {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }
}

impl Drop for RunTicket<'_> {
    fn drop(&mut self) {
        *self.slot.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_pointed_at_the_engine_the_app_inspects() {
        let dirs = AppDirs::at("/tmp/pg");
        let mut cfg =
            ProvisionConfig::from_env(dirs.clone(), ClusterTarget::resolve(&dirs, None, None));
        cfg.docker = DockerEndpoint::parse("unix:///home/u/.colima/default/docker.sock");
        cfg.docker_context = None;
        let env = cfg.child_env();
        assert!(env.contains(&(
            "DOCKER_HOST",
            OsString::from("unix:///home/u/.colima/default/docker.sock")
        )));
        // Found through a context: kind's docker is given the context itself (it may carry
        // TLS settings that DOCKER_HOST alone would lose).
        cfg.docker_context = Some("colima".into());
        let env = cfg.child_env();
        assert!(env.contains(&("DOCKER_CONTEXT", OsString::from("colima"))));
        assert!(!env.iter().any(|(k, _)| *k == "DOCKER_HOST"));
        assert!(env.iter().any(|(k, _)| *k == "PATH"));
    }

    #[test]
    fn one_run_at_a_time_and_cancel_reaches_it() {
        let slot = RunSlot::default();
        assert!(!slot.cancel(), "nothing to cancel");
        let ticket = slot.begin().unwrap();
        assert_eq!(slot.begin().unwrap_err().code(), "already_running");
        assert!(slot.cancel());
        assert!(ticket.cancel.is_cancelled());
        drop(ticket);
        let again = slot.begin().unwrap();
        assert!(!again.cancel.is_cancelled(), "a new run starts uncancelled");
    }
}
