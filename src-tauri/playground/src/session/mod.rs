//! The session: what the app holds between two clicks (or two CLI commands), and the
//! decisions about it. The window's commands and the CLI's subcommands both only convert
//! their input, call a method here and convert the result, so they cannot disagree about
//! which cluster is used, whether it is simulated, or where its ingress is.
//!
//! A session owns:
//! - the app's folders and two cluster targets: the *current* one (every read and action
//!   goes there; it switches to the simulated cluster when one starts) and the *setup* one
//!   (the playground's own cluster or the one chosen with `--kubeconfig`/`--context`: Set up
//!   and Tear down always act on it, never on a simulated cluster);
//! - the simulated playground it started, if any;
//! - the mesh watch feeding the Mesh screen (a new one stops the previous);
//! - the setup or teardown in progress;
//! - the undo history of the traffic actions, on disk (see [`undo`]) so it survives a restart;
//! - the traffic run (one at a time) and the dashboards' port-forwards.
//!
//! Whether the current cluster is simulated is decided in one place, [`Session::simulated`]:
//! the session's own simulated playground, else the mark the simulated playground leaves in
//! its kubeconfig (see [`kubeconfig`]), so a CLI pointed at a running `sim serve` gets the same
//! answer as the window that started one.

pub mod kubeconfig;
mod lessons;
pub mod undo;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::actions::ActionError;
use crate::actions::backup::{self, ChangeBackup, TrafficChange, UndoReport};
use crate::actions::breaker::{self, BreakerPlan};
use crate::actions::fault::{self, FaultChange, FaultPlan};
use crate::actions::injection::{self, InjectionReport, InjectionRequest};
use crate::actions::mtls::{self, MtlsPlan};
use crate::actions::policy::{self, RetryPlan, TimeoutPlan};
use crate::actions::reset::{self, ResetPlan, ResetReport};
use crate::actions::route::{self, RoutePlan};
use crate::actions::weights::{self, Routing, WeightChange, WeightPlan};
use crate::dashboards::{self, Dashboard, DashboardError, DashboardLink, PortForward};
use crate::kube::ClusterTarget;
use crate::mesh::watch::MeshWatch;
use crate::mesh::{self, MeshEvent, ObjectRef};
use crate::paths::AppDirs;
use crate::preflight::{self, PreflightInput, PreflightReport};
use crate::provision::{self, EventSink, ProvisionConfig, RunSlot, SetupPlan};
use crate::simulated::SimOptions;
use crate::simulated::{SimulatedInfo, SimulatedPlayground};
use crate::telemetry::{self, Prometheus, ServiceHistory, TimeRange, WatchOptions};
use crate::traffic::{self, TrafficError, TrafficRun, TrafficSettings, TrafficStats};
use crate::{Error, Result};

pub use undo::{UndoKey, UndoStore};

/// The longest history the charts ask for.
pub const MAX_HISTORY_MINUTES: u32 = 60;

/// About this many points per chart, whatever the span.
const HISTORY_POINTS: u64 = 120;

/// The span of `minutes` up to `now` in whole-second steps of about `HISTORY_POINTS`
/// points, and the window each point averages over: the watch's window, or a step when
/// steps are longer (so no request falls between two points).
fn history_range(now: SystemTime, minutes: u32, window: Duration) -> (TimeRange, Duration) {
    let span = Duration::from_secs(u64::from(minutes) * 60);
    let step = Duration::from_secs((span.as_secs() / HISTORY_POINTS).max(1));
    (
        TimeRange {
            start: now - span,
            end: now,
            step,
        },
        window.max(step),
    )
}

/// Options of a setup run that differ between runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetupOptions {
    /// Also add the cluster to the user's own kubeconfig (`up --merge-kubeconfig`).
    pub merge_kubeconfig: bool,
}

/// See the module documentation.
pub struct Session {
    /// The app's folders, the setup target and how setup reaches Docker, tools and releases.
    provision: ProvisionConfig,
    target: Mutex<ClusterTarget>,
    /// A tokio mutex: starting a simulated playground awaits while holding it, so two
    /// presses of the button start one.
    simulated: tokio::sync::Mutex<Option<SimulatedPlayground>>,
    mesh_watch: Mutex<Option<MeshWatch>>,
    provisioning: RunSlot,
    undo: UndoStore,
    /// Held across "apply, then record" and "undo, then forget", so two changes from this
    /// process cannot interleave their history.
    undo_order: tokio::sync::Mutex<()>,
    traffic: Mutex<Option<TrafficRun>>,
    /// The latest figures of the current or last traffic run, whoever started it (the
    /// Traffic screen, a lesson step), so every view can follow the same run.
    traffic_stats: tokio::sync::watch::Sender<Option<TrafficStats>>,
    dashboards: tokio::sync::Mutex<HashMap<Dashboard, PortForward>>,
}

impl Session {
    /// A session for the real machine: setup reaches Docker, tools and releases as
    /// [`ProvisionConfig::from_env`] says. `target` is the playground's own cluster or the one
    /// the user chose; it is both the current and the setup target until a simulated
    /// playground starts.
    pub fn new(dirs: AppDirs, target: ClusterTarget) -> Self {
        Self::with_provision(ProvisionConfig::from_env(dirs, target))
    }

    /// A session whose setup and teardown use `config` (its folders and target included):
    /// tests point it at a fake Docker and their own cluster name.
    pub fn with_provision(config: ProvisionConfig) -> Self {
        Self {
            undo: UndoStore::new(&state_dir(&config.dirs)),
            target: Mutex::new(config.target.clone()),
            provision: config,
            simulated: tokio::sync::Mutex::new(None),
            mesh_watch: Mutex::new(None),
            provisioning: RunSlot::default(),
            undo_order: tokio::sync::Mutex::new(()),
            traffic: Mutex::new(None),
            traffic_stats: tokio::sync::watch::Sender::new(None),
            dashboards: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn dirs(&self) -> &AppDirs {
        &self.provision.dirs
    }

    /// The cluster every read and action goes to now.
    pub fn target(&self) -> ClusterTarget {
        lock(&self.target).clone()
    }

    /// The cluster Set up builds and Tear down deletes.
    pub fn setup_target(&self) -> &ClusterTarget {
        &self.provision.target
    }

    /// A client for the current target.
    pub async fn client(&self) -> Result<::kube::Client> {
        self.target().client().await
    }

    // ---- Simulated or real ----

    /// Starts a simulated playground and makes it the current cluster; starting it again
    /// returns the running one. Its kubeconfig goes to `kubeconfig`, or to
    /// `<app dir>/sim/kubeconfig`. The undo history of that kubeconfig is cleared: the new
    /// cluster starts from its scenario, so older entries describe objects it never had.
    #[tracing::instrument(skip(self, opts))]
    pub async fn start_simulated(
        &self,
        opts: SimOptions,
        kubeconfig: Option<PathBuf>,
    ) -> Result<SimulatedInfo> {
        let mut running = self.simulated.lock().await;
        if let Some(sim) = running.as_ref() {
            return Ok(sim.info());
        }
        let sim = SimulatedPlayground::start(self.dirs(), opts, kubeconfig).await?;
        let info = sim.info();
        if let Err(e) = self.undo.clear(&sim.target.kubeconfig, &sim.target.context) {
            tracing::warn!(error = %e, "could not clear the simulated cluster's undo history");
        }
        *lock(&self.target) = sim.target.clone();
        *running = Some(sim);
        Ok(info)
    }

    /// Stops the simulated playground this session started (the mesh watch on it too) and
    /// goes back to the setup target; false when none runs.
    #[tracing::instrument(skip(self))]
    pub async fn stop_simulated(&self) -> bool {
        let Some(sim) = self.simulated.lock().await.take() else {
            return false;
        };
        *lock(&self.mesh_watch) = None;
        *lock(&self.target) = self.provision.target.clone();
        sim.cluster.shutdown();
        true
    }

    /// The simulated playground behind the current target, if it is one: the one this
    /// session started, else the one whose marked kubeconfig the target names (a running
    /// `sim serve`). `None` for a real cluster.
    pub async fn simulated(&self) -> Option<SimulatedInfo> {
        if let Some(sim) = self.simulated.lock().await.as_ref() {
            return Some(sim.info());
        }
        kubeconfig::context_facts(&self.target()).and_then(|f| f.simulated)
    }

    pub async fn is_simulated(&self) -> bool {
        self.simulated().await.is_some()
    }

    /// Base URL of the ingress traffic goes to: the simulated gateway when the cluster is
    /// simulated, else the real playground's `http://localhost:9080`.
    pub async fn ingress_url(&self) -> String {
        match self.simulated().await {
            Some(sim) => sim.ingress_url,
            None => traffic::REAL_INGRESS.to_string(),
        }
    }

    // ---- Reading the cluster ----

    pub async fn preflight(&self) -> PreflightReport {
        preflight::run(&PreflightInput::from_env(self.dirs().clone())).await
    }

    /// Watches the mesh of the current cluster: a snapshot, then diffs and status changes on
    /// the returned receiver, and the observed traffic (or why there is none) at every
    /// telemetry refresh. A new watch replaces (and so stops) the previous one, its
    /// telemetry watch included.
    #[tracing::instrument(skip(self))]
    pub async fn watch_mesh(&self) -> Result<mpsc::Receiver<MeshEvent>> {
        let client = self.client().await?;
        let prometheus = self.prometheus().await?;
        let readings = telemetry::watch(prometheus, self.telemetry_options().await);
        let (events, watch) = mesh::watch::spawn_with_traffic(client, Some(readings));
        *lock(&self.mesh_watch) = Some(watch);
        Ok(events)
    }

    /// Istio's Prometheus addon of the current cluster, through its API server, with kube's
    /// retries off so a starting Prometheus says so at once instead of looking slow.
    pub async fn prometheus(&self) -> Result<Prometheus> {
        Ok(Prometheus::from_config(self.target().config().await?)?)
    }

    /// How often and over how long the traffic figures are read: the simulated Prometheus
    /// scrapes every second, the addon every 15 s (see [`WatchOptions`]).
    pub async fn telemetry_options(&self) -> WatchOptions {
        if self.is_simulated().await {
            WatchOptions::simulated()
        } else {
            WatchOptions::default()
        }
    }

    /// One service's request rate, error share, latency and split per version over the
    /// last `minutes` (1 to 60), about 120 points, for the Traffic screen's charts.
    #[tracing::instrument(skip(self))]
    pub async fn service_history(
        &self,
        namespace: &str,
        name: &str,
        minutes: u32,
    ) -> Result<ServiceHistory> {
        if namespace.is_empty() || name.is_empty() {
            return Err(Error::InvalidInput(
                "a service's history needs its namespace and name".into(),
            ));
        }
        if !(1..=MAX_HISTORY_MINUTES).contains(&minutes) {
            return Err(Error::InvalidInput(format!(
                "a service's history covers 1 to {MAX_HISTORY_MINUTES} minutes, not {minutes}"
            )));
        }
        let prometheus = self.prometheus().await?;
        let options = self.telemetry_options().await;
        let (range, window) = history_range(SystemTime::now(), minutes, options.window);
        Ok(telemetry::service_history(&prometheus, namespace, name, range, window).await?)
    }

    /// Whether a mesh watch runs (the Mesh screen is fed).
    pub fn watching_mesh(&self) -> bool {
        lock(&self.mesh_watch).is_some()
    }

    pub async fn object_yaml(&self, object: &ObjectRef) -> Result<String> {
        mesh::watch::object_yaml(self.client().await?, object).await
    }

    // ---- Set up and tear down ----

    fn provision_config(&self, options: SetupOptions) -> ProvisionConfig {
        let mut config = self.provision.clone();
        config.merge_kubeconfig = options.merge_kubeconfig;
        config
    }

    /// Where the shop answers once setup is done.
    pub fn product_page_url(&self) -> &str {
        &self.provision.product_page_url
    }

    pub async fn setup_plan(&self) -> SetupPlan {
        provision::plan(&self.provision).await
    }

    /// Runs (or resumes) the setup of the setup target; one run at a time.
    #[tracing::instrument(skip(self, sink))]
    pub async fn setup(&self, options: SetupOptions, sink: EventSink) -> Result<()> {
        let ticket = self.provisioning.begin()?;
        provision::setup(self.provision_config(options), sink, ticket.cancel.clone()).await
    }

    /// Cancels the running setup or teardown; false when none runs.
    pub fn cancel_provisioning(&self) -> bool {
        self.provisioning.cancel()
    }

    /// Deletes the setup target's cluster. The dashboards' port-forwards lead into it, so
    /// they are closed first; its undo history goes once it is gone. A cluster the app does
    /// not own is refused by the teardown step itself, and then nothing is closed.
    #[tracing::instrument(skip_all)]
    pub async fn teardown(&self, sink: EventSink) -> Result<()> {
        let ticket = self.provisioning.begin()?;
        let config = self.provision_config(SetupOptions::default());
        if config.owns_cluster() {
            let closed = self.close_dashboards().await;
            if closed > 0 {
                tracing::info!(
                    count = closed,
                    "closed dashboard port-forwards before teardown"
                );
            }
        }
        provision::teardown(config, sink, ticket.cancel.clone()).await?;
        let target = &self.provision.target;
        if let Err(e) = self.undo.clear(&target.kubeconfig, &target.context) {
            tracing::warn!(error = %e, "could not clear the deleted cluster's undo history");
        }
        Ok(())
    }

    // ---- Weights ----

    pub async fn read_routing(&self, namespace: &str, service: &str) -> Result<Routing> {
        let client = self.client().await?;
        Ok(weights::read_routing(&client, namespace, service).await?)
    }

    /// Validates a plan and returns what it would apply; writes nothing.
    pub async fn preview_weights(&self, plan: &WeightPlan) -> Result<WeightChange> {
        let client = self.client().await?;
        Ok(weights::preview(&client, plan).await?)
    }

    /// Applies a plan and records how to undo it in the current cluster's history.
    #[tracing::instrument(skip(self), fields(service = %plan.service, namespace = %plan.namespace))]
    pub async fn apply_weights(&self, plan: &WeightPlan) -> Result<WeightChange> {
        let client = self.client().await?;
        let key = self.undo_key();
        let _order = self.undo_order.lock().await;
        let (change, backup) = weights::apply(&client, plan).await?;
        // The change is in the cluster whatever happens here; failing the command would say
        // otherwise. The log says why Undo will not offer it.
        if let Err(e) = self.undo.push(&key, backup.into()) {
            tracing::error!(error = %e, "the weight change was applied but cannot be undone later");
        }
        Ok(change)
    }

    /// Puts back the objects of the current cluster's last recorded change, whichever action
    /// made it (weights, routing, a fault...), by this window, an earlier run of the app, or
    /// the CLI. The window's Undo button calls it under its first name.
    pub async fn undo_weights(&self) -> Result<UndoReport> {
        self.undo_last().await
    }

    /// See [`undo_weights`](Self::undo_weights).
    #[tracing::instrument(skip(self))]
    pub async fn undo_last(&self) -> Result<UndoReport> {
        let client = self.client().await?;
        let key = self.undo_key();
        let _order = self.undo_order.lock().await;
        let entry = self
            .undo
            .last(&key)?
            .ok_or(Error::from(ActionError::NothingToUndo))?;
        let report = backup::undo(&client, &entry.backup).await?;
        self.undo.remove(&key, entry.id)?;
        Ok(report)
    }

    /// How many changes of the current cluster can be undone.
    pub fn undo_depth(&self) -> Result<usize> {
        self.undo.depth(&self.undo_key())
    }

    /// The undo history's key for the current target (see [`undo`] for why the server is in
    /// it).
    pub fn undo_key(&self) -> UndoKey {
        let target = self.target();
        UndoKey {
            server: kubeconfig::context_facts(&target).and_then(|f| f.server),
            kubeconfig: target.kubeconfig,
            context: target.context,
        }
    }

    // ---- Routing, faults, timeouts, retries, circuit breaking, mTLS ----

    /// Runs an action on the current cluster and records how to undo what it wrote. A dry
    /// run writes nothing and records nothing.
    async fn recorded<T, F, Fut>(&self, action: F) -> Result<T>
    where
        F: FnOnce(::kube::Client) -> Fut,
        Fut: Future<Output = std::result::Result<(T, Option<ChangeBackup>), ActionError>>,
    {
        let client = self.client().await?;
        let key = self.undo_key();
        let _order = self.undo_order.lock().await;
        let (out, backup) = action(client).await?;
        if let Some(backup) = backup
            && let Err(e) = self.undo.push(&key, backup)
        {
            // The change is in the cluster; failing the command would say otherwise.
            tracing::error!(error = %e, "the change was applied but cannot be undone later");
        }
        Ok(out)
    }

    /// Sends a service's requests (or one user's) to one version.
    #[tracing::instrument(skip(self))]
    pub async fn route(&self, plan: &RoutePlan, dry_run: bool) -> Result<TrafficChange> {
        self.recorded(|c| async move { route::apply(&c, plan, dry_run).await })
            .await
    }

    /// Injects (or clears) a delay or an abort on a service's routes.
    #[tracing::instrument(skip(self))]
    pub async fn fault(&self, plan: &FaultPlan, dry_run: bool) -> Result<FaultChange> {
        self.recorded(|c| async move { fault::apply(&c, plan, dry_run).await })
            .await
    }

    /// Sets (or clears) the timeout of a service's routes.
    #[tracing::instrument(skip(self))]
    pub async fn set_timeout(&self, plan: &TimeoutPlan, dry_run: bool) -> Result<TrafficChange> {
        self.recorded(|c| async move { policy::apply_timeout(&c, plan, dry_run).await })
            .await
    }

    /// Sets (or clears) the retries of a service's routes.
    #[tracing::instrument(skip(self))]
    pub async fn set_retries(&self, plan: &RetryPlan, dry_run: bool) -> Result<TrafficChange> {
        self.recorded(|c| async move { policy::apply_retries(&c, plan, dry_run).await })
            .await
    }

    /// Sets (or clears) a service's circuit breaker.
    #[tracing::instrument(skip(self))]
    pub async fn set_breaker(&self, plan: &BreakerPlan, dry_run: bool) -> Result<TrafficChange> {
        self.recorded(|c| async move { breaker::apply(&c, plan, dry_run).await })
            .await
    }

    /// Sets (or removes) the mTLS mode of the mesh, a namespace or a workload.
    #[tracing::instrument(skip(self))]
    pub async fn set_mtls(&self, plan: &MtlsPlan, dry_run: bool) -> Result<TrafficChange> {
        self.recorded(|c| async move { mtls::apply(&c, plan, dry_run).await })
            .await
    }

    /// Runs curl from a client outside the mesh and one inside (deploying them the first
    /// time) against a Service, for the mTLS lesson.
    #[tracing::instrument(skip(self))]
    pub async fn probe_clients(
        &self,
        probe: &crate::actions::client::ClientProbe,
    ) -> Result<crate::actions::client::ProbeReport> {
        let client = self.client().await?;
        Ok(crate::actions::client::probe(&client, probe).await?)
    }

    /// Removes the two curl clients (and their namespace outside the mesh).
    #[tracing::instrument(skip(self))]
    pub async fn remove_clients(&self) -> Result<Vec<String>> {
        let client = self.client().await?;
        Ok(crate::actions::client::remove(&client).await?)
    }

    /// Lists, and unless `dry_run` removes, the routing objects the app wrote.
    #[tracing::instrument(skip(self))]
    pub async fn reset_routing(&self, plan: &ResetPlan, dry_run: bool) -> Result<ResetReport> {
        self.recorded(|c| async move { reset::reset(&c, plan, dry_run).await })
            .await
    }

    // ---- Injection ----

    /// Turns sidecar injection on or off; restarted deployments are stamped with `now`.
    pub async fn set_injection(
        &self,
        request: &InjectionRequest,
        now: SystemTime,
    ) -> Result<InjectionReport> {
        let client = self.client().await?;
        let stamp = injection::rfc3339(now);
        Ok(injection::set_injection(&client, request, &stamp).await?)
    }

    // ---- Traffic ----

    /// Starts traffic to the product page of [`ingress_url`](Self::ingress_url), or of
    /// `ingress` when the caller names one explicitly (`traffic --ingress`). One run at a
    /// time; returns the base URL used.
    #[tracing::instrument(skip(self, on_stats))]
    pub async fn start_traffic(
        &self,
        settings: TrafficSettings,
        ingress: Option<String>,
        on_stats: impl Fn(TrafficStats) + Send + Sync + 'static,
    ) -> Result<String> {
        let base = match ingress {
            Some(explicit) => explicit,
            None => self.ingress_url().await,
        };
        let mut slot = lock(&self.traffic);
        if slot.as_ref().is_some_and(|r| !r.is_finished()) {
            return Err(TrafficError::AlreadyRunning.into());
        }
        let published = self.traffic_stats.clone();
        let on_stats = move |stats: TrafficStats| {
            published.send_replace(Some(stats.clone()));
            on_stats(stats);
        };
        *slot = Some(traffic::start(&base, settings, on_stats)?);
        Ok(base)
    }

    /// The figures of every traffic run from now on (the current value first): what the
    /// Traffic screen follows, so a run a lesson started shows there too.
    pub fn follow_traffic(&self) -> tokio::sync::watch::Receiver<Option<TrafficStats>> {
        self.traffic_stats.subscribe()
    }

    /// True while traffic is being sent.
    pub fn traffic_running(&self) -> bool {
        lock(&self.traffic)
            .as_ref()
            .is_some_and(|r| !r.is_finished())
    }

    /// Asks the running traffic to stop; false when none runs.
    pub fn stop_traffic(&self) -> bool {
        match lock(&self.traffic).as_ref() {
            Some(run) if !run.is_finished() => {
                run.stop();
                true
            }
            _ => false,
        }
    }

    /// Waits for the last run to end and returns its final figures; `None` when there was
    /// no run.
    pub async fn finish_traffic(&self) -> Option<TrafficStats> {
        let run = lock(&self.traffic).take()?;
        Some(run.finish().await)
    }

    // ---- Dashboards ----

    /// Opens (or reuses) a dashboard's port-forward. Refused in simulated mode: the
    /// simulated cluster has no real pods, and a fake dashboard would teach the wrong thing.
    #[tracing::instrument(skip(self))]
    pub async fn open_dashboard(&self, dashboard: Dashboard) -> Result<DashboardLink> {
        if self.is_simulated().await {
            return Err(DashboardError::Simulated(dashboard.title()).into());
        }
        let mut open = self.dashboards.lock().await;
        if let Some(forward) = open.get(&dashboard) {
            return Ok(forward.link.clone());
        }
        let forward = dashboards::open(self.client().await?, dashboard, false).await?;
        let link = forward.link.clone();
        open.insert(dashboard, forward);
        Ok(link)
    }

    /// The port-forwards open now.
    pub async fn open_dashboards(&self) -> Vec<DashboardLink> {
        let mut links: Vec<_> = self
            .dashboards
            .lock()
            .await
            .values()
            .map(|f| f.link.clone())
            .collect();
        links.sort_by_key(|l| l.local_port);
        links
    }

    /// Closes every port-forward; returns how many were open.
    pub async fn close_dashboards(&self) -> usize {
        let closed = std::mem::take(&mut *self.dashboards.lock().await);
        closed.len()
    }
}

/// `<app dir>/state`: what the app remembers between runs (the undo history).
pub fn state_dir(dirs: &AppDirs) -> PathBuf {
    dirs.root().join("state")
}

/// [`crate::paths::write_atomically`], failing with the path it could not write.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::paths::write_atomically(path, bytes).map_err(|e| Error::io(path, e))
}

/// The session's plain mutexes guard values a panic cannot leave half-changed.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::history_range;

    #[test]
    fn history_ranges_have_about_120_whole_second_steps() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (range, window) = history_range(now, 10, Duration::from_secs(10));
        assert_eq!(range.end, now);
        assert_eq!(range.start, now - Duration::from_secs(600));
        assert_eq!(range.step, Duration::from_secs(5));
        assert_eq!(window, Duration::from_secs(10));
        // An hour: 30 s steps, each point averaging over its whole step.
        let (range, window) = history_range(now, 60, Duration::from_secs(10));
        assert_eq!(range.step, Duration::from_secs(30));
        assert_eq!(window, Duration::from_secs(30));
        // A minute: never below one second.
        let (range, _) = history_range(now, 1, Duration::from_secs(10));
        assert_eq!(range.step, Duration::from_secs(1));
    }
}
