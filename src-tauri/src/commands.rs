//! Tauri commands: convert, call `playground`, convert back. Nothing else lives here.

use std::sync::Arc;
use std::time::Duration;

use playground::logging::{LogInfo, LogLine};
use playground::mesh::{self, MeshEvent, ObjectRef};
use playground::preflight::{self, PreflightInput, PreflightReport};
use playground::provision::{self, ProvisionConfig, ProvisionEvent, SetupPlan};
use playground::simulated::{Scenario, SimOptions, SimulatedInfo, SimulatedPlayground};
use tauri::State;
use tauri::ipc::Channel;

use crate::AppState;
use crate::ipc::{AppInfo, IpcError};

#[tauri::command]
pub async fn run_preflight(state: State<'_, AppState>) -> Result<PreflightReport, IpcError> {
    let input = PreflightInput::from_env(state.dirs.clone());
    Ok(preflight::run(&input).await)
}

#[tauri::command]
pub fn log_info(state: State<'_, AppState>) -> LogInfo {
    state.logging.info()
}

/// Streams every new log line to the window until it stops listening.
#[tauri::command]
pub fn subscribe_logs(state: State<'_, AppState>, on_line: Channel<LogLine>) {
    let mut feed = state.logging.ring.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match feed.recv().await {
                Ok(line) => {
                    if on_line.send(line).is_err() {
                        break;
                    }
                }
                // A slow window skips lines rather than holding the logger back.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, IpcError> {
    let simulated = state.simulated.lock().await.as_ref().map(|s| s.info());
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        target: state.target(),
        data_dir: state.dirs.root().display().to_string(),
        simulated,
    })
}

/// Streams the mesh of the current cluster: a snapshot, then diffs and status changes.
/// Calling it again (the Mesh screen reopened) replaces the previous stream.
#[tauri::command]
pub async fn watch_mesh(
    state: State<'_, AppState>,
    on_event: Channel<MeshEvent>,
) -> Result<(), IpcError> {
    let client = state.target().client().await?;
    let (mut events, watch) = mesh::watch::spawn(client);
    // Dropping the old watch stops it, and its forwarding task ends with it.
    *state.mesh_watch.lock().unwrap_or_else(|p| p.into_inner()) = Some(watch);
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            if on_event.send(event).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// The YAML of one object of the mesh, for the side panel.
#[tauri::command]
pub async fn object_yaml(
    state: State<'_, AppState>,
    object: ObjectRef,
) -> Result<String, IpcError> {
    let client = state.target().client().await?;
    Ok(mesh::watch::object_yaml(client, &object).await?)
}

/// Starts the simulated playground (Bookinfo in a simulated cluster, no Docker) and makes
/// it the app's cluster. Starting it again returns the running one.
#[tauri::command]
pub async fn start_simulated(state: State<'_, AppState>) -> Result<SimulatedInfo, IpcError> {
    let mut running = state.simulated.lock().await;
    if let Some(sim) = running.as_ref() {
        return Ok(sim.info());
    }
    let opts = SimOptions {
        scenario: Some(Scenario::Bookinfo),
        ready_delay: Duration::from_millis(1500),
        ..SimOptions::default()
    };
    let sim = SimulatedPlayground::start(&state.dirs, opts, None).await?;
    let info = sim.info();
    *state.target.lock().unwrap_or_else(|p| p.into_inner()) = sim.target.clone();
    *running = Some(sim);
    Ok(info)
}

fn provision_config(state: &AppState) -> ProvisionConfig {
    // Setup always builds the real cluster, even while a simulated one is shown.
    ProvisionConfig::from_env(state.dirs.clone(), state.setup_target.clone())
}

fn channel_sink(channel: Channel<ProvisionEvent>) -> provision::EventSink {
    // A closed window drops events; the run itself goes on until it ends or is cancelled.
    Arc::new(move |event| {
        let _ = channel.send(event);
    })
}

/// What setup would do on this machine.
#[tauri::command]
pub async fn setup_plan(state: State<'_, AppState>) -> Result<SetupPlan, IpcError> {
    Ok(provision::plan(&provision_config(&state)).await)
}

/// Runs (or resumes) the setup; progress goes to `on_progress`; resolves when it ends.
#[tauri::command]
pub async fn setup_start(
    state: State<'_, AppState>,
    on_progress: Channel<ProvisionEvent>,
) -> Result<(), IpcError> {
    let ticket = state
        .provisioning
        .begin()
        .map_err(playground::Error::from)?;
    provision::setup(
        provision_config(&state),
        channel_sink(on_progress),
        ticket.cancel.clone(),
    )
    .await
    .map_err(IpcError::from)
}

/// Cancels the running setup or teardown; false when none runs.
#[tauri::command]
pub fn setup_cancel(state: State<'_, AppState>) -> bool {
    state.provisioning.cancel()
}

/// Deletes the playground's cluster; progress goes to `on_progress`.
#[tauri::command]
pub async fn teardown(
    state: State<'_, AppState>,
    on_progress: Channel<ProvisionEvent>,
) -> Result<(), IpcError> {
    let ticket = state
        .provisioning
        .begin()
        .map_err(playground::Error::from)?;
    // The dashboards' port-forwards lead into the cluster being deleted: close them first.
    let closed = std::mem::take(&mut *state.actions.dashboards.lock().await);
    if !closed.is_empty() {
        tracing::info!(
            count = closed.len(),
            "closed dashboard port-forwards before teardown"
        );
    }
    drop(closed);
    provision::teardown(
        provision_config(&state),
        channel_sink(on_progress),
        ticket.cancel.clone(),
    )
    .await
    .map_err(IpcError::from)
}

// ---- The four buttons: weights, injection, traffic, dashboards ----

use playground::actions::injection::{self, InjectionReport, InjectionRequest};
use playground::actions::weights::{
    self, Routing, RoutingBackup, UndoReport, WeightChange, WeightPlan,
};
use playground::dashboards::{self, Dashboard, DashboardLink, PortForward};
use playground::traffic::{self, TrafficRun, TrafficSettings, TrafficStats};

/// What the action commands keep between calls.
#[derive(Default)]
pub struct ActionsState {
    /// Routing before each applied weight change, newest last: Undo pops one.
    weight_undo: tokio::sync::Mutex<Vec<RoutingBackup>>,
    /// The traffic generator, while one runs.
    traffic: std::sync::Mutex<Option<TrafficRun>>,
    /// Open dashboard port-forwards, kept until the app closes.
    dashboards: tokio::sync::Mutex<std::collections::HashMap<Dashboard, PortForward>>,
}

/// How a service's requests are routed now, with its versions and presets.
#[tauri::command]
pub async fn read_routing(
    state: State<'_, AppState>,
    namespace: String,
    service: String,
) -> Result<Routing, IpcError> {
    let client = state.target().client().await?;
    Ok(weights::read_routing(&client, &namespace, &service)
        .await
        .map_err(playground::Error::from)?)
}

/// Validates a plan and returns the YAML and kubectl command it would apply; writes nothing.
#[tauri::command]
pub async fn preview_weights(
    state: State<'_, AppState>,
    plan: WeightPlan,
) -> Result<WeightChange, IpcError> {
    let client = state.target().client().await?;
    Ok(weights::preview(&client, &plan)
        .await
        .map_err(playground::Error::from)?)
}

/// Applies a plan (DestinationRule, then VirtualService) and remembers how to undo it.
#[tauri::command]
pub async fn apply_weights(
    state: State<'_, AppState>,
    plan: WeightPlan,
) -> Result<WeightChange, IpcError> {
    let client = state.target().client().await?;
    let mut undo = state.actions.weight_undo.lock().await;
    let (change, backup) = weights::apply(&client, &plan)
        .await
        .map_err(playground::Error::from)?;
    undo.push(backup);
    Ok(change)
}

/// Restores the routing as it was before the last applied change.
#[tauri::command]
pub async fn undo_weights(state: State<'_, AppState>) -> Result<UndoReport, IpcError> {
    let client = state.target().client().await?;
    let mut undo = state.actions.weight_undo.lock().await;
    let backup = undo
        .last()
        .ok_or(playground::Error::from(
            playground::actions::ActionError::NothingToUndo,
        ))?
        .clone();
    let report = weights::undo(&client, &backup)
        .await
        .map_err(playground::Error::from)?;
    undo.pop();
    Ok(report)
}

/// Turns sidecar injection on or off for a namespace, restarting its deployments if asked.
#[tauri::command]
pub async fn set_injection(
    state: State<'_, AppState>,
    request: InjectionRequest,
) -> Result<InjectionReport, IpcError> {
    let client = state.target().client().await?;
    let now = injection::rfc3339(std::time::SystemTime::now());
    Ok(injection::set_injection(&client, &request, &now)
        .await
        .map_err(playground::Error::from)?)
}

/// Where traffic goes: the simulated ingress, or the real playground's localhost port.
async fn ingress(state: &AppState) -> String {
    match state.simulated.lock().await.as_ref() {
        Some(sim) => sim.info().ingress_url,
        None => traffic::REAL_INGRESS.to_string(),
    }
}

/// Starts traffic to the product page; figures stream to `on_stats` every 500 ms and once
/// more at the end.
#[tauri::command]
pub async fn traffic_start(
    state: State<'_, AppState>,
    settings: TrafficSettings,
    on_stats: Channel<TrafficStats>,
) -> Result<(), IpcError> {
    let target = ingress(&state).await;
    let mut slot = state
        .actions
        .traffic
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if slot.as_ref().is_some_and(|r| !r.is_finished()) {
        return Err(playground::Error::from(traffic::TrafficError::AlreadyRunning).into());
    }
    let run = traffic::start(&target, settings, move |stats| {
        let _ = on_stats.send(stats);
    })
    .map_err(playground::Error::from)?;
    *slot = Some(run);
    Ok(())
}

/// Stops the running traffic; false when none ran.
#[tauri::command]
pub fn traffic_stop(state: State<'_, AppState>) -> bool {
    let slot = state
        .actions
        .traffic
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match slot.as_ref() {
        Some(run) if !run.is_finished() => {
            run.stop();
            true
        }
        _ => false,
    }
}

/// Opens (or reuses) the port-forward of a dashboard and returns its URL. In simulated mode
/// it refuses plainly: dashboards need a real cluster.
#[tauri::command]
pub async fn open_dashboard(
    state: State<'_, AppState>,
    dashboard: Dashboard,
) -> Result<DashboardLink, IpcError> {
    let mut open = state.actions.dashboards.lock().await;
    if let Some(forward) = open.get(&dashboard) {
        return Ok(forward.link.clone());
    }
    let simulated = state.simulated.lock().await.is_some();
    if simulated {
        return Err(
            playground::Error::from(dashboards::DashboardError::Simulated(dashboard.title()))
                .into(),
        );
    }
    let client = state.target().client().await?;
    let forward = dashboards::open(client, dashboard, false)
        .await
        .map_err(playground::Error::from)?;
    let link = forward.link.clone();
    open.insert(dashboard, forward);
    Ok(link)
}
