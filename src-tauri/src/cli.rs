//! The headless command line. Same binary as the window: `istio-playground` with no
//! subcommand opens the app.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use playground::kube::ClusterTarget;
use playground::paths::AppDirs;
use playground::preflight::{self, CheckStatus, PreflightInput, PreflightReport};

#[derive(Debug, Parser)]
#[command(
    name = "istio-playground",
    version,
    about = "Learn and show an Istio service mesh on your laptop.",
    long_about = "Learn and show an Istio service mesh on your laptop.\n\nWith no subcommand, opens the app window. Every subcommand talks only to the playground's own cluster (its own kubeconfig, context kind-istio-playground) unless --kubeconfig and --context name another one; your current kubectl context is never used."
)]
pub struct Cli {
    /// Kubeconfig file of the cluster to use (default: the playground's own kubeconfig).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context inside that kubeconfig (default: kind-istio-playground).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that this machine can run the playground (exit code 1 when a check fails).
    Preflight {
        /// Print the report as JSON (schema in the README).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: Command, dirs: &AppDirs, target: &ClusterTarget) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("istio-playground: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Preflight { json } => runtime.block_on(preflight_command(json, dirs, target)),
    }
}

async fn preflight_command(json: bool, dirs: &AppDirs, target: &ClusterTarget) -> ExitCode {
    let report = preflight::run(&PreflightInput::from_env(dirs.clone())).await;
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(render_report(&report, target).as_bytes())
    };
    if let Err(e) = written {
        eprintln!("istio-playground: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    if report.overall == CheckStatus::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn render_report(report: &PreflightReport, target: &ClusterTarget) -> String {
    let mut text = String::new();
    for check in &report.checks {
        let mark = match check.status {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        };
        text.push_str(&format!("[{mark}] {}: {}\n", check.title, check.summary));
        if check.status != CheckStatus::Pass {
            text.push_str(&format!("       Why it matters: {}\n", check.why));
        }
        if let Some(fix) = &check.fix {
            text.push_str(&format!("       What to do: {fix}\n"));
        }
    }
    let verdict = match report.overall {
        CheckStatus::Pass => "Ready to set up.",
        CheckStatus::Warn => "Ready to set up, with warnings.",
        CheckStatus::Fail => "Not ready: fix the failed checks first.",
    };
    text.push_str(&format!(
        "\n{verdict} ({} checks in {} ms)\nCluster target: context {} in {}\n",
        report.checks.len(),
        report.elapsed_ms,
        target.context,
        target.kubeconfig.display()
    ));
    text
}

/// On Windows the release binary has no console of its own; print into the terminal that
/// started it, if any.
pub fn attach_parent_console() {
    #[cfg(windows)]
    {
        unsafe extern "system" {
            fn AttachConsole(process_id: u32) -> i32;
        }
        const ATTACH_PARENT_PROCESS: u32 = u32::MAX;
        // SAFETY: AttachConsole has no preconditions; failure (no parent console) is fine.
        unsafe {
            AttachConsole(ATTACH_PARENT_PROCESS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_cluster_options_work_after_the_subcommand() {
        let cli = Cli::parse_from([
            "istio-playground",
            "preflight",
            "--json",
            "--kubeconfig",
            "/k",
            "--context",
            "lab",
        ]);
        assert_eq!(cli.kubeconfig, Some(PathBuf::from("/k")));
        assert_eq!(cli.context.as_deref(), Some("lab"));
        assert!(matches!(
            cli.command,
            Some(Command::Preflight { json: true })
        ));
    }

    #[test]
    fn no_subcommand_means_the_window() {
        assert!(Cli::parse_from(["istio-playground"]).command.is_none());
    }
}
