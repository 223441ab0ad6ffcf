//! Tauri commands: convert, call `playground`, convert back. Nothing else lives here.

use std::sync::Arc;
use std::time::Duration;

use playground::logging::{LogInfo, LogLine};
use playground::mesh::{self, MeshEvent, ObjectRef};
use playground::preflight::{self, PreflightInput, PreflightReport};
use playground::provision::{self, ProvisionConfig, ProvisionEvent, SetupPlan};
use playground::sim::{Scenario, SimOptions};
use playground::simulated::{SimulatedInfo, SimulatedPlayground};
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
    provision::teardown(
        provision_config(&state),
        channel_sink(on_progress),
        ticket.cancel.clone(),
    )
    .await
    .map_err(IpcError::from)
}
