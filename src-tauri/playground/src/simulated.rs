//! A simulated playground: the in-process simulated cluster (the `playground-sim` crate) with
//! Bookinfo loaded, and the kubeconfig that points every client (the app, kubectl) at it.
//! Once started, the domain crate reaches the simulated cluster only over HTTP, through that
//! kubeconfig and the ingress URL, as it reaches a real one.

use std::path::PathBuf;

use serde::Serialize;
use ts_rs::TS;

use crate::Result;
use crate::kube::ClusterTarget;
use crate::paths::AppDirs;
pub use playground_sim::{SIM_CONTEXT, Scenario, SimCluster, SimOptions};

/// What the UI and CLI show about a running simulated playground.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SimulatedInfo {
    /// `http://127.0.0.1:<port>`: the simulated Kubernetes API.
    pub api_url: String,
    /// `http://127.0.0.1:<port>`: the simulated ingress gateway (open `/productpage`).
    pub ingress_url: String,
    /// The kubeconfig written for it; `kubectl --kubeconfig <this>` works.
    pub kubeconfig: String,
    pub context: String,
}

pub struct SimulatedPlayground {
    pub cluster: SimCluster,
    pub target: ClusterTarget,
}

impl SimulatedPlayground {
    /// Starts the simulated cluster and writes its kubeconfig (to `kubeconfig`, or to
    /// `<app folder>/sim/kubeconfig`). Listens on 127.0.0.1 only.
    #[tracing::instrument(skip(dirs, opts))]
    pub async fn start(
        dirs: &AppDirs,
        opts: SimOptions,
        kubeconfig: Option<PathBuf>,
    ) -> Result<Self> {
        let cluster = playground_sim::start(opts).await?;
        let path = kubeconfig.unwrap_or_else(|| dirs.root().join("sim").join("kubeconfig"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| crate::Error::Io {
                path: parent.to_path_buf(),
                source: e,
            })?;
        }
        // Marked as simulated, so whoever reads this kubeconfig (the CLI too) knows.
        crate::session::kubeconfig::write_simulated(
            &path,
            &cluster.kubeconfig_yaml(SIM_CONTEXT),
            SIM_CONTEXT,
            &cluster.ingress_url(),
        )?;
        let target = ClusterTarget::resolve(dirs, Some(&path), Some(SIM_CONTEXT));
        tracing::info!(api = %cluster.api_url(), ingress = %cluster.ingress_url(), "simulated playground started");
        Ok(Self { cluster, target })
    }

    pub fn info(&self) -> SimulatedInfo {
        SimulatedInfo {
            api_url: self.cluster.api_url(),
            ingress_url: self.cluster.ingress_url(),
            kubeconfig: self.target.kubeconfig.display().to_string(),
            context: self.target.context.clone(),
        }
    }
}

/// The simulated playground the window's button and a lesson's setup step start: Istio and
/// Bookinfo, with pods that take a moment to turn ready, so the Mesh screen shows them
/// starting.
pub fn playground_options() -> SimOptions {
    SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: std::time::Duration::from_millis(1500),
        ..SimOptions::default()
    }
}
