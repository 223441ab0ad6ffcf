//! Tauri commands: convert, call `playground`, convert back. Nothing else lives here.

use playground::logging::{LogInfo, LogLine};
use playground::preflight::{self, PreflightInput, PreflightReport};
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
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        target: state.target.clone(),
        data_dir: state.dirs.root().display().to_string(),
    }
}
