//! The Tauri shell: parses the command line, then either runs a headless subcommand or opens
//! the window. All behaviour lives in the `playground` crate.

mod cli;
mod commands;
mod ipc;
mod lesson_cli;
#[cfg(target_os = "linux")]
mod webkit;

use std::process::ExitCode;

use clap::Parser;
use playground::Session;
use playground::kube::ClusterTarget;
use playground::logging::Logging;
use playground::paths::AppDirs;

/// What every command can reach: the session (cluster, simulated playground, undo, traffic,
/// dashboards and the decisions about them) and the log.
pub struct AppState {
    pub session: Session,
    pub logging: Logging,
}

/// Entry point shared by the binary: CLI when a subcommand is given, the window otherwise.
pub fn main_entry() -> ExitCode {
    cli::attach_parent_console();
    let args = cli::Cli::parse();
    if args.command.is_none() {
        paint_webview_on_cpu();
    }
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
    let session = Session::new(dirs, target);
    match args.command {
        Some(command) => cli::run(command, session),
        None => {
            run_window(AppState { session, logging });
            ExitCode::SUCCESS
        }
    }
}

fn run_window(state: AppState) {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        target = %state.session.target().context,
        "opening the window"
    );
    tauri::Builder::default()
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        // `_app`: used on Linux only.
        .setup(|_app| {
            #[cfg(target_os = "linux")]
            if let Some(window) = tauri::Manager::get_webview_window(_app, "main") {
                window.with_webview(|w| webkit::turn_off_costly_features(&w.inner()))?;
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::run_preflight,
            commands::log_info,
            commands::subscribe_logs,
            commands::app_info,
            commands::watch_mesh,
            commands::object_yaml,
            commands::service_history,
            commands::start_simulated,
            commands::setup_plan,
            commands::setup_start,
            commands::setup_cancel,
            commands::teardown,
            commands::read_routing,
            commands::preview_weights,
            commands::apply_weights,
            commands::undo_weights,
            commands::route_traffic,
            commands::inject_fault,
            commands::set_timeout,
            commands::set_retries,
            commands::set_breaker,
            commands::set_mtls,
            commands::reset_routing,
            commands::probe_clients,
            commands::set_injection,
            commands::traffic_start,
            commands::traffic_stop,
            commands::traffic_follow,
            commands::open_dashboard,
            commands::lessons_list,
            commands::lesson_get,
            commands::lesson_open_file,
            commands::lesson_do,
            commands::lesson_check,
            commands::lesson_reset_step,
            commands::lesson_progress,
            commands::lesson_save_progress,
            commands::save_export,
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
}

/// WebKitGTK's variable for how the page is painted; `0` (or any value the user sets) is left
/// alone.
const CPU_PAINTING_ENV: &str = "WEBKIT_SKIA_ENABLE_CPU_RENDERING";

/// WebKitGTK (2.46 and later, Linux) paints the page with OpenGL by default. This UI is flat
/// 2D (text, boxes, the graph's canvas), and on the many machines without a GPU (classroom
/// laptops, virtual machines, Xvfb) that OpenGL is Mesa's software renderer, whose textures
/// and caches held about 45 MB of the web process's memory for the Setup screen (README,
/// "Start-up and memory of the release app"). Painting with the CPU looks the same and
/// keeps WebKit's compositing, which WebDriver's screenshots and clicks rely on (turning
/// compositing off instead saved more but left them hanging on an idle page). WebKit reads
/// the variable once per process, before the window opens, and its web process inherits it:
/// it has no API for this.
fn paint_webview_on_cpu() {
    if cfg!(target_os = "linux") && std::env::var_os(CPU_PAINTING_ENV).is_none() {
        // SAFETY: called first thing in `main_entry`, before logging or any runtime starts a
        // thread, so nothing reads the environment concurrently.
        unsafe { std::env::set_var(CPU_PAINTING_ENV, "1") };
    }
}
