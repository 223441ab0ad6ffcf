//! `playground-sim`: the simulated cluster of Istio Playground. A Kubernetes-API-compatible
//! HTTP server with an in-memory store, a small controller (Deployments to ReplicaSets to
//! Pods, StatefulSets, EndpointSlices, Istio sidecar injection, restarts, events), the
//! Bookinfo scenario and a simulated ingress gateway that routes by the live VirtualServices.
//!
//! Its public surface is the entry point: [`start`] with [`SimOptions`] returns a
//! [`SimCluster`], the handle that knows the two URLs, writes a kubeconfig and stops it all.
//! Everything else (the app, the CLI, kubectl) talks to it over HTTP like to any cluster.
//!
//! ```no_run
//! # async fn demo() -> playground_sim::Result<()> {
//! use playground_sim::{Scenario, SimOptions, SIM_CONTEXT};
//! let cluster = playground_sim::start(SimOptions {
//!     scenario: Some(Scenario::Bookinfo),
//!     ..Default::default()
//! })
//! .await?;
//! println!("api: {}", cluster.api_url());         // http://127.0.0.1:P
//! println!("ingress: {}", cluster.ingress_url()); // http://127.0.0.1:Q
//! cluster.write_kubeconfig(std::path::Path::new("sim.kubeconfig"), SIM_CONTEXT)?;
//! // ... until Ctrl-C; dropping the cluster (or `shutdown()`) stops it.
//! # Ok(()) }
//! ```
//!
//! Both listeners bind 127.0.0.1 only. The kubeconfig is plain HTTP with an empty user and the
//! context, cluster and user all named [`SIM_CONTEXT`] (namespace `default`).
//!
//! Inside (all private): `store` (objects, resourceVersions, watch history, write paths),
//! `api` (HTTP, content negotiation, watch streaming), `discovery` (plain and aggregated
//! discovery, OpenAPI v3), `table` (server-side printing), `patch` and `managed` (patches,
//! server-side apply), `admission` and `inject` (defaults, allocation, validation, sidecar
//! injection), `controller`, `crds`, `scenario`, `dataplane`, `proto` (kubectl's protobuf
//! bodies), `resources`, `selector`, `status` (`metav1.Status` errors) and `clock`. The
//! `test-support` feature opens a few of them to tests (module `test_support`).

mod admission;
mod api;
mod clock;
mod commands;
mod controller;
mod crds;
mod curl;
mod dataplane;
mod discovery;
mod exec;
mod inject;
mod managed;
mod metrics;
mod patch;
mod prometheus;
mod promql;
#[cfg(test)]
mod promql_reference;
mod proto;
mod resources;
mod scenario;
mod selector;
mod status;
mod store;
mod table;
mod upstream;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use clock::{SimRng, SystemClock};
use status::ApiError;
use store::Store;

/// What tests and benchmarks may reach inside the simulated cluster for (the store of a running
/// cluster, a scenario installer, the patch and selector functions under property tests). Only
/// with the `test-support` feature; the app never enables it.
#[cfg(feature = "test-support")]
pub mod test_support {
    pub use crate::clock::{SimRng, SystemClock};
    pub use crate::crds::istio_crds;
    pub use crate::patch::{merge_patch, strategic_merge_patch};
    pub use crate::scenario::install_istio;
    pub use crate::selector::LabelSelector;
    pub use crate::store::{PatchKind, Store, WriteOpts};
}

/// Name of the kubeconfig context (and cluster and user) written for the simulated cluster.
pub const SIM_CONTEXT: &str = "sim-istio-playground";

/// Failures of the simulated cluster itself (not API errors, which are `ApiError`s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listening socket could not be opened.
    #[error("could not listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("could not write kubeconfig {path}: {source}")]
    Kubeconfig {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Loading a scenario failed at an API call.
    #[error("scenario could not be loaded: {0}")]
    Scenario(#[from] ApiError),
    /// An unknown scenario name was given.
    #[error("unknown scenario \"{0}\" (known: bookinfo)")]
    UnknownScenario(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to preload into the simulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scenario {
    /// Istio (demo profile shape) in istio-system, the addons, and Bookinfo in default.
    Bookinfo,
}

impl std::str::FromStr for Scenario {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bookinfo" => Ok(Scenario::Bookinfo),
            other => Err(Error::UnknownScenario(other.to_string())),
        }
    }
}

/// How to start the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// API server port on 127.0.0.1; 0 picks a free one.
    pub api_port: u16,
    /// Simulated ingress gateway port on 127.0.0.1; 0 picks a free one.
    pub ingress_port: u16,
    pub scenario: Option<Scenario>,
    /// How long a new pod stays Pending before it runs and turns Ready.
    pub ready_delay: Duration,
    /// How long a deleted pod stays Terminating before it is gone; zero (the default) removes
    /// deleted pods at once. A second or two shows rollouts the way a real cluster does.
    pub termination_delay: Duration,
    /// Seed for names, uids and traffic choices; None seeds from the clock.
    pub seed: Option<u64>,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Watch events kept for resumption; older resourceVersions get 410 Gone.
    pub history_limit: usize,
    /// Add realistic per-hop latency in the data plane (a few ms per hop).
    pub latency: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            api_port: 0,
            ingress_port: 0,
            scenario: None,
            ready_delay: Duration::from_secs(2),
            termination_delay: Duration::ZERO,
            seed: None,
            bookmark_interval: Duration::from_secs(30),
            history_limit: 10_000,
            latency: true,
        }
    }
}

/// A running simulated cluster. Dropping it stops its servers and controller.
#[derive(Debug)]
pub struct SimCluster {
    api_addr: SocketAddr,
    ingress_addr: SocketAddr,
    #[cfg(feature = "test-support")]
    store: Arc<Store>,
    #[cfg(feature = "test-support")]
    prometheus: Arc<prometheus::SimPrometheus>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the API server, the controller and the ingress, then loads the scenario.
pub async fn start(opts: SimOptions) -> Result<SimCluster> {
    let clock: clock::SharedClock = Arc::new(SystemClock);
    let rng = match opts.seed {
        Some(s) => SimRng::new(s),
        None => SimRng::from_entropy(),
    };
    let store = Arc::new(Store::new(clock, rng, opts.history_limit));
    store.set_graceful_pod_deletion(!opts.termination_delay.is_zero());
    let api_listener = TcpListener::bind(("127.0.0.1", opts.api_port))
        .await
        .map_err(|source| Error::Bind {
            port: opts.api_port,
            source,
        })?;
    let ingress_listener = TcpListener::bind(("127.0.0.1", opts.ingress_port))
        .await
        .map_err(|source| Error::Bind {
            port: opts.ingress_port,
            source,
        })?;
    let api_addr = api_listener.local_addr().map_err(|source| Error::Bind {
        port: opts.api_port,
        source,
    })?;
    let ingress_addr = ingress_listener
        .local_addr()
        .map_err(|source| Error::Bind {
            port: opts.ingress_port,
            source,
        })?;
    let metrics = Arc::new(metrics::MeshMetrics::new(
        store.clock.clone(),
        metrics::MetricsConfig::default(),
    ));
    let prometheus = Arc::new(prometheus::SimPrometheus::new(metrics.clone()));
    let dp_seed = store.rng_u64();
    let dp = Arc::new(dataplane::DataPlane::new(
        store.clone(),
        SimRng::new(dp_seed),
        dataplane::DataPlaneConfig {
            latency: opts.latency,
        },
        metrics,
    ));
    let state = Arc::new(api::ApiState {
        store: store.clone(),
        prometheus: prometheus.clone(),
        server_address: api_addr.to_string(),
        bookmark_interval: opts.bookmark_interval,
        dataplane: dp.clone(),
    });
    let mut tasks = vec![];
    let app = api::router(state);
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(api_listener, app).await {
            tracing::warn!(error = %e, "simulated API server stopped");
        }
    }));
    let ingress_app = dataplane::router(dp);
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(ingress_listener, ingress_app).await {
            tracing::warn!(error = %e, "simulated ingress stopped");
        }
    }));
    controller::bootstrap(&store)?;
    tasks.push(tokio::spawn(controller::run(
        store.clone(),
        controller::ControllerConfig {
            ready_delay: opts.ready_delay,
            termination_delay: opts.termination_delay,
        },
    )));
    match opts.scenario {
        Some(Scenario::Bookinfo) => scenario::bookinfo(&store)?,
        None => {}
    }
    let cluster = SimCluster {
        api_addr,
        ingress_addr,
        #[cfg(feature = "test-support")]
        store,
        #[cfg(feature = "test-support")]
        prometheus,
        tasks,
    };
    tracing::info!(api = %cluster.api_url(), ingress = %cluster.ingress_url(), "simulated cluster started");
    Ok(cluster)
}

impl SimCluster {
    /// `http://127.0.0.1:P`, the API server.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// `http://127.0.0.1:Q`, the simulated ingress gateway.
    pub fn ingress_url(&self) -> String {
        format!("http://{}", self.ingress_addr)
    }

    /// The store, for in-process inspection (tests, benchmarks).
    #[cfg(feature = "test-support")]
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The kubeconfig YAML for this cluster: plain HTTP, no credentials.
    pub fn kubeconfig_yaml(&self, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n    namespace: default\ncurrent-context: {context}\nusers:\n- name: {context}\n  user: {{}}\npreferences: {{}}\n",
            server = self.api_url()
        )
    }

    /// Writes a kubeconfig whose only (and current) context is `context`.
    pub fn write_kubeconfig(&self, path: &Path, context: &str) -> Result<()> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|source| Error::Kubeconfig {
                path: path.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(path, self.kubeconfig_yaml(context)).map_err(|source| Error::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Makes the simulated Prometheus wait this long before every answer, as an overloaded
    /// one would. For tests of clients' timeouts.
    #[cfg(feature = "test-support")]
    pub fn set_prometheus_delay(&self, delay: Duration) {
        self.prometheus.set_delay(delay);
    }

    /// Counts one request from the pod `source` to `service_host` (an FQDN), answered by
    /// `destination` (None: it reached no pod) with `code` and Envoy's `flag`, as both
    /// proxies report it once the data plane completes it (mutual TLS between sidecars).
    /// For benchmarks that need the traffic of a mesh the data plane does not run; the pods
    /// are JSON as the API returns them and need not exist in the store.
    #[cfg(feature = "test-support")]
    pub fn record_request(
        &self,
        source: &serde_json::Value,
        service_host: &str,
        destination: Option<&serde_json::Value>,
        code: u16,
        flag: Option<&'static str>,
        duration: Duration,
    ) {
        let outcome = metrics::Outcome {
            code,
            flag,
            duration,
        };
        self.prometheus.metrics().record(&metrics::HopRecord {
            source,
            source_proxied: true,
            mutual_tls: true,
            service_host,
            destination,
            at_source: Some(outcome),
            at_destination: destination.map(|_| outcome),
            completes_after: Duration::ZERO,
        });
    }

    /// Drops the watch cache: open watches end and clients resuming from an older
    /// resourceVersion get 410 Gone. For tests of client recovery.
    #[cfg(feature = "test-support")]
    pub fn expire_watches(&self) {
        self.store.expire_watches();
    }

    /// Stops the servers and the controller.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
