//! The Tauri shell: parses the command line, then either runs a headless subcommand or opens
//! the window. All behaviour lives in the `playground` crate.

mod cli;
mod commands;
mod ipc;

use std::process::ExitCode;
use std::sync::Mutex;

use clap::Parser;
use playground::kube::ClusterTarget;
use playground::logging::Logging;
use playground::mesh::watch::MeshWatch;
use playground::paths::AppDirs;
use playground::simulated::SimulatedPlayground;

/// What every command can reach.
pub struct AppState {
    pub dirs: AppDirs,
    /// The only cluster the app talks to; it changes when a simulated playground starts.
    pub target: Mutex<ClusterTarget>,
    pub logging: Logging,
    /// The running simulated playground, if the user started one.
    pub simulated: tokio::sync::Mutex<Option<SimulatedPlayground>>,
    /// The mesh watch feeding the Mesh screen; replacing it stops the previous one.
    pub mesh_watch: Mutex<Option<MeshWatch>>,
    /// The cluster that Set up builds and Tear down deletes: the playground's own, or the one
    /// chosen with --kubeconfig/--context. It does not follow a simulated playground.
    pub setup_target: ClusterTarget,
    /// The setup or teardown in progress, if any.
    pub provisioning: playground::provision::RunSlot,
    /// Weights undo history, the traffic generator and dashboard port-forwards.
    pub actions: commands::ActionsState,
}

impl AppState {
    pub fn target(&self) -> ClusterTarget {
        self.target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Entry point shared by the binary: CLI when a subcommand is given, the window otherwise.
pub fn main_entry() -> ExitCode {
    cli::attach_parent_console();
    let args = cli::Cli::parse();
    let dirs = AppDirs::from_env();
    let target = ClusterTarget::resolve(&dirs, args.kubeconfig.as_deref(), args.context.as_deref());
    let headless = args.command.is_some();
    let logging = match playground::logging::init(&dirs.logs(), headless) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("istio-playground: {e}; {}", e.hint().unwrap_or_default());
            return ExitCode::from(2);
        }
    };
    match args.command {
        Some(command) => cli::run(command, &dirs, &target),
        None => {
            run_window(AppState {
                dirs,
                setup_target: target.clone(),
                target: Mutex::new(target),
                logging,
                simulated: tokio::sync::Mutex::new(None),
                mesh_watch: Mutex::new(None),
                provisioning: Default::default(),
                actions: Default::default(),
            });
            ExitCode::SUCCESS
        }
    }
}

fn run_window(state: AppState) {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        target = %state.target().context,
        "opening the window"
    );
    tauri::Builder::default()
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::run_preflight,
            commands::log_info,
            commands::subscribe_logs,
            commands::app_info,
            commands::watch_mesh,
            commands::object_yaml,
            commands::start_simulated,
            commands::setup_plan,
            commands::setup_start,
            commands::setup_cancel,
            commands::teardown,
            commands::read_routing,
            commands::preview_weights,
            commands::apply_weights,
            commands::undo_weights,
            commands::set_injection,
            commands::traffic_start,
            commands::traffic_stop,
            commands::open_dashboard,
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}
