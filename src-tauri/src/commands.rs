//! Tauri commands: convert, call the session, convert back. Nothing else lives here.
//!
//! Every command runs inside a `command` span named after it, and a failure is logged once,
//! here at the boundary, with its code (see [`boundary`]).

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use playground::actions::backup::TrafficChange;
use playground::actions::breaker::BreakerPlan;
use playground::actions::fault::{FaultChange, FaultPlan};
use playground::actions::injection::{InjectionReport, InjectionRequest};
use playground::actions::mtls::MtlsPlan;
use playground::actions::policy::{RetryPlan, TimeoutPlan};
use playground::actions::reset::{ResetPlan, ResetReport};
use playground::actions::route::RoutePlan;
use playground::actions::weights::{Routing, UndoReport, WeightChange, WeightPlan};
use playground::dashboards::{Dashboard, DashboardLink};
use playground::lessons::{CheckOutcome, Lesson, LessonProgress, LessonSummary, StepRun};
use playground::logging::{LogInfo, LogLine};
use playground::mesh::{MeshEvent, ObjectRef};
use playground::preflight::PreflightReport;
use playground::provision::{self, ProvisionEvent, SetupPlan};
use playground::session::SetupOptions;
use playground::simulated::SimulatedInfo;
use playground::telemetry::ServiceHistory;
use playground::traffic::{TrafficSettings, TrafficStats};
use tauri::State;
use tauri::ipc::Channel;
use tracing::Instrument;

use crate::AppState;
use crate::ipc::{AppInfo, IpcError};

/// Runs a command's work in its span; a failure is logged with its code and becomes the
/// IPC error shape.
async fn boundary<T>(
    command: &'static str,
    work: impl Future<Output = playground::Result<T>>,
) -> Result<T, IpcError> {
    let span = tracing::info_span!("command", command);
    async move {
        work.await.map_err(|e| {
            tracing::warn!(command, code = %e.code(), error = %e, hint = ?e.hint(), "command failed");
            IpcError::from(e)
        })
    }
    .instrument(span)
    .await
}

/// The span of a command that cannot fail.
fn infallible<T>(command: &'static str, work: impl FnOnce() -> T) -> T {
    tracing::info_span!("command", command).in_scope(work)
}

#[tauri::command]
pub async fn run_preflight(state: State<'_, AppState>) -> Result<PreflightReport, IpcError> {
    boundary("run_preflight", async {
        Ok(state.session.preflight().await)
    })
    .await
}

#[tauri::command]
pub fn log_info(state: State<'_, AppState>) -> LogInfo {
    infallible("log_info", || state.logging.info())
}

/// Streams every new log line to the window until it stops listening.
#[tauri::command]
pub fn subscribe_logs(state: State<'_, AppState>, on_line: Channel<LogLine>) {
    infallible("subscribe_logs", || {
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
    })
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, IpcError> {
    boundary("app_info", async {
        let session = &state.session;
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            target: session.target(),
            data_dir: session.dirs().root().display().to_string(),
            simulated: session.simulated().await,
        })
    })
    .await
}

/// Streams the mesh of the current cluster: a snapshot, then diffs and status changes, and
/// the observed traffic at every telemetry refresh.
/// Calling it again (the Mesh screen reopened) replaces the previous stream.
#[tauri::command]
pub async fn watch_mesh(
    state: State<'_, AppState>,
    on_event: Channel<MeshEvent>,
) -> Result<(), IpcError> {
    boundary("watch_mesh", async {
        let mut events = state.session.watch_mesh().await?;
        // Ends when the window stops listening, or when the session drops the watch (the
        // simulated playground stopped, another cluster chosen): the window is told, so it
        // does not keep showing a cluster that is gone as if it were live.
        tauri::async_runtime::spawn(async move {
            while let Some(event) = events.recv().await {
                if on_event.send(event).is_err() {
                    return;
                }
            }
            let _ = on_event.send(MeshEvent::Ended);
        });
        Ok(())
    })
    .await
}

/// The YAML of one object of the mesh, for the side panel.
#[tauri::command]
pub async fn object_yaml(
    state: State<'_, AppState>,
    object: ObjectRef,
) -> Result<String, IpcError> {
    boundary("object_yaml", state.session.object_yaml(&object)).await
}

/// One service's traffic over the last `minutes` (request rate, error share, p50/p95 and
/// the rate each version answered), for the Traffic screen's charts.
#[tauri::command]
pub async fn service_history(
    state: State<'_, AppState>,
    namespace: String,
    name: String,
    minutes: u32,
) -> Result<ServiceHistory, IpcError> {
    boundary(
        "service_history",
        state.session.service_history(&namespace, &name, minutes),
    )
    .await
}

/// Starts the simulated playground (Bookinfo in a simulated cluster, no Docker) and makes
/// it the app's cluster. Starting it again returns the running one.
#[tauri::command]
pub async fn start_simulated(state: State<'_, AppState>) -> Result<SimulatedInfo, IpcError> {
    let opts = playground::simulated::playground_options();
    boundary("start_simulated", state.session.start_simulated(opts, None)).await
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
    boundary("setup_plan", async { Ok(state.session.setup_plan().await) }).await
}

/// Runs (or resumes) the setup; progress goes to `on_progress`; resolves when it ends.
#[tauri::command]
pub async fn setup_start(
    state: State<'_, AppState>,
    on_progress: Channel<ProvisionEvent>,
) -> Result<(), IpcError> {
    boundary(
        "setup_start",
        state
            .session
            .setup(SetupOptions::default(), channel_sink(on_progress)),
    )
    .await
}

/// Cancels the running setup or teardown; false when none runs.
#[tauri::command]
pub fn setup_cancel(state: State<'_, AppState>) -> bool {
    infallible("setup_cancel", || state.session.cancel_provisioning())
}

/// Deletes the playground's cluster; progress goes to `on_progress`.
#[tauri::command]
pub async fn teardown(
    state: State<'_, AppState>,
    on_progress: Channel<ProvisionEvent>,
) -> Result<(), IpcError> {
    boundary(
        "teardown",
        state.session.teardown(channel_sink(on_progress)),
    )
    .await
}

// ---- The four buttons: weights, injection, traffic, dashboards ----

/// How a service's requests are routed now, with its versions and presets.
#[tauri::command]
pub async fn read_routing(
    state: State<'_, AppState>,
    namespace: String,
    service: String,
) -> Result<Routing, IpcError> {
    boundary(
        "read_routing",
        state.session.read_routing(&namespace, &service),
    )
    .await
}

/// Validates a plan and returns the YAML and kubectl command it would apply; writes nothing.
#[tauri::command]
pub async fn preview_weights(
    state: State<'_, AppState>,
    plan: WeightPlan,
) -> Result<WeightChange, IpcError> {
    boundary("preview_weights", state.session.preview_weights(&plan)).await
}

/// Applies a plan (DestinationRule, then VirtualService) and remembers how to undo it.
#[tauri::command]
pub async fn apply_weights(
    state: State<'_, AppState>,
    plan: WeightPlan,
) -> Result<WeightChange, IpcError> {
    boundary("apply_weights", state.session.apply_weights(&plan)).await
}

/// Restores the routing as it was before the last applied change.
#[tauri::command]
pub async fn undo_weights(state: State<'_, AppState>) -> Result<UndoReport, IpcError> {
    boundary("undo_weights", state.session.undo_weights()).await
}

// ---- Routing, faults, timeouts, retries, circuit breaking, mTLS ----
// `dry_run` true validates and returns what would be written, writing nothing.

/// Sends a service's requests (or one user's) to one version.
#[tauri::command]
pub async fn route_traffic(
    state: State<'_, AppState>,
    plan: RoutePlan,
    dry_run: bool,
) -> Result<TrafficChange, IpcError> {
    boundary("route_traffic", state.session.route(&plan, dry_run)).await
}

/// Injects (or clears) a delay or an abort on a service's routes.
#[tauri::command]
pub async fn inject_fault(
    state: State<'_, AppState>,
    plan: FaultPlan,
    dry_run: bool,
) -> Result<FaultChange, IpcError> {
    boundary("inject_fault", state.session.fault(&plan, dry_run)).await
}

/// Sets (or clears) a service's request timeout.
#[tauri::command]
pub async fn set_timeout(
    state: State<'_, AppState>,
    plan: TimeoutPlan,
    dry_run: bool,
) -> Result<TrafficChange, IpcError> {
    boundary("set_timeout", state.session.set_timeout(&plan, dry_run)).await
}

/// Sets (or clears) a service's retries.
#[tauri::command]
pub async fn set_retries(
    state: State<'_, AppState>,
    plan: RetryPlan,
    dry_run: bool,
) -> Result<TrafficChange, IpcError> {
    boundary("set_retries", state.session.set_retries(&plan, dry_run)).await
}

/// Sets (or clears) a service's circuit breaker.
#[tauri::command]
pub async fn set_breaker(
    state: State<'_, AppState>,
    plan: BreakerPlan,
    dry_run: bool,
) -> Result<TrafficChange, IpcError> {
    boundary("set_breaker", state.session.set_breaker(&plan, dry_run)).await
}

/// Sets (or removes) the mTLS mode of the mesh, a namespace or a workload.
#[tauri::command]
pub async fn set_mtls(
    state: State<'_, AppState>,
    plan: MtlsPlan,
    dry_run: bool,
) -> Result<TrafficChange, IpcError> {
    boundary("set_mtls", state.session.set_mtls(&plan, dry_run)).await
}

/// Runs curl from a client outside the mesh and one inside it, side by side.
#[tauri::command]
pub async fn probe_clients(
    state: State<'_, AppState>,
    probe: playground::actions::client::ClientProbe,
) -> Result<playground::actions::client::ProbeReport, IpcError> {
    boundary("probe_clients", state.session.probe_clients(&probe)).await
}

/// Lists (with `dry_run`) or removes the routing objects the app wrote.
#[tauri::command]
pub async fn reset_routing(
    state: State<'_, AppState>,
    plan: ResetPlan,
    dry_run: bool,
) -> Result<ResetReport, IpcError> {
    boundary("reset_routing", state.session.reset_routing(&plan, dry_run)).await
}

/// Turns sidecar injection on or off for a namespace, restarting its deployments if asked.
#[tauri::command]
pub async fn set_injection(
    state: State<'_, AppState>,
    request: InjectionRequest,
) -> Result<InjectionReport, IpcError> {
    boundary(
        "set_injection",
        state.session.set_injection(&request, SystemTime::now()),
    )
    .await
}

/// Starts traffic to the product page; figures stream to `on_stats` every 500 ms and once
/// more at the end.
#[tauri::command]
pub async fn traffic_start(
    state: State<'_, AppState>,
    settings: TrafficSettings,
    on_stats: Channel<TrafficStats>,
) -> Result<(), IpcError> {
    let on_stats = move |stats| {
        let _ = on_stats.send(stats);
    };
    boundary("traffic_start", async {
        state
            .session
            .start_traffic(settings, None, on_stats)
            .await
            .map(drop)
    })
    .await
}

/// Stops the running traffic; false when none ran.
/// Sends the figures of the current and every later traffic run, whoever started it (the
/// Traffic screen or a lesson step), until the window goes away.
#[tauri::command]
pub fn traffic_follow(state: State<'_, AppState>, on_stats: Channel<TrafficStats>) {
    let mut stats = state.session.follow_traffic();
    infallible("traffic_follow", || {
        tauri::async_runtime::spawn(async move {
            loop {
                let latest = stats.borrow_and_update().clone();
                if let Some(latest) = latest
                    && on_stats.send(latest).is_err()
                {
                    break;
                }
                if stats.changed().await.is_err() {
                    break;
                }
            }
        });
    })
}

#[tauri::command]
pub fn traffic_stop(state: State<'_, AppState>) -> bool {
    infallible("traffic_stop", || state.session.stop_traffic())
}

/// Opens (or reuses) the port-forward of a dashboard and returns its URL. In simulated mode
/// it refuses plainly: dashboards need a real cluster.
#[tauri::command]
pub async fn open_dashboard(
    state: State<'_, AppState>,
    dashboard: Dashboard,
) -> Result<DashboardLink, IpcError> {
    boundary("open_dashboard", state.session.open_dashboard(dashboard)).await
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use playground::ErrorCode;
    use playground::actions::ActionError;

    use super::*;

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_command_is_logged_once_in_its_span_with_its_code() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (failed, fine) = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let failed = boundary("undo_weights", async {
                    Err::<(), _>(playground::Error::from(ActionError::NothingToUndo))
                })
                .await;
                let fine = boundary("app_info", async { Ok(7) }).await;
                (failed, fine)
            })
        });
        let err = failed.unwrap_err();
        assert_eq!(err.code, ErrorCode::NothingToUndo);
        assert_eq!(
            err.hint.as_deref(),
            Some("Apply a change first (weights, routing, a fault, a timeout...).")
        );
        assert_eq!(fine.unwrap(), 7);
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches("command failed").count(), 1, "{log}");
        let line = log.lines().find(|l| l.contains("command failed")).unwrap();
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("command{command=\"undo_weights\"}"), "{line}");
        assert!(line.contains("code=nothing_to_undo"), "{line}");
        assert!(line.contains("there is no change to undo"), "{line}");
    }
}

// ---- Lessons ----

#[tauri::command]
pub fn lessons_list(state: State<'_, AppState>) -> Vec<LessonSummary> {
    infallible("lessons_list", || state.session.lessons())
}

#[tauri::command]
pub async fn lesson_get(state: State<'_, AppState>, name: String) -> Result<Lesson, IpcError> {
    boundary("lesson_get", async { state.session.lesson(&name) }).await
}

/// A teacher's own lesson file: validated (refused with its line and reason), then listed.
#[tauri::command]
pub async fn lesson_open_file(
    state: State<'_, AppState>,
    path: String,
) -> Result<LessonSummary, IpcError> {
    boundary("lesson_open_file", async {
        state.session.add_lesson_file(std::path::Path::new(&path))
    })
    .await
}

/// "Do it": the step's actions, in order. `simulated` picks what a setup step builds;
/// `dry_run` only returns the YAML and commands (for slides).
#[tauri::command]
pub async fn lesson_do(
    state: State<'_, AppState>,
    name: String,
    step: String,
    simulated: bool,
    dry_run: bool,
) -> Result<StepRun, IpcError> {
    boundary(
        "lesson_do",
        state.session.lesson_do(&name, &step, simulated, dry_run),
    )
    .await
}

/// The step's check now; null for a step without one.
#[tauri::command]
pub async fn lesson_check(
    state: State<'_, AppState>,
    name: String,
    step: String,
) -> Result<Option<CheckOutcome>, IpcError> {
    boundary("lesson_check", state.session.lesson_check(&name, &step)).await
}

#[tauri::command]
pub async fn lesson_reset_step(
    state: State<'_, AppState>,
    name: String,
    step: String,
) -> Result<StepRun, IpcError> {
    boundary(
        "lesson_reset_step",
        state.session.lesson_reset_step(&name, &step),
    )
    .await
}

#[tauri::command]
pub fn lesson_progress(state: State<'_, AppState>) -> LessonProgress {
    infallible("lesson_progress", || state.session.lesson_progress())
}

#[tauri::command]
pub async fn lesson_save_progress(
    state: State<'_, AppState>,
    progress: LessonProgress,
) -> Result<(), IpcError> {
    boundary("lesson_save_progress", async {
        state.session.save_lesson_progress(&progress)
    })
    .await
}

/// Saves an export for slides (base64 bytes) into the Downloads folder; returns its path.
#[tauri::command]
pub async fn save_export(file_name: String, base64_data: String) -> Result<String, IpcError> {
    boundary("save_export", async {
        playground::paths::save_export(
            &playground::paths::export_folder(),
            &file_name,
            &base64_data,
        )
        .map(|p| p.display().to_string())
    })
    .await
}
