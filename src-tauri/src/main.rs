// Release builds on Windows open no console window; the CLI attaches to its parent's console.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    istio_playground_lib::main_entry()
}
