//! The headless command line. Same binary as the window: `istio-playground` with no
//! subcommand opens the app.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use playground::kube::ClusterTarget;
use playground::mesh::{self, EdgeKind, GraphDiff, MeshEvent, MeshSnapshot, NodeKind};
use playground::paths::AppDirs;
use playground::preflight::{self, CheckStatus, PreflightInput, PreflightReport};
use playground::sim::{Scenario, SimOptions};
use playground::simulated::SimulatedPlayground;

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
    /// Print the mesh graph of the cluster: nodes, routes, readiness and findings.
    Graph {
        /// Print the model as JSON (the same nodes and edges the Mesh screen draws).
        #[arg(long)]
        json: bool,
        /// Keep running and print every change (with --json: one event per line).
        #[arg(long)]
        watch: bool,
    },
    /// The simulated cluster: a Kubernetes API, controller and Bookinfo data plane in one
    /// process, with no Docker.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run a simulated cluster in the foreground until Ctrl-C. Writes a kubeconfig for it
    /// (to --kubeconfig FILE when given) so kubectl and the app can use it.
    Serve {
        /// Port of the simulated Kubernetes API on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Port of the simulated ingress gateway on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        ingress_port: u16,
        /// What to load: `bookinfo` (Istio, its addons' services and Bookinfo), or nothing.
        #[arg(long, value_name = "NAME")]
        scenario: Option<String>,
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
    let result = match command {
        Command::Preflight { json } => {
            return runtime.block_on(preflight_command(json, dirs, target));
        }
        Command::Graph { json, watch } => runtime.block_on(graph_command(json, watch, target)),
        Command::Sim {
            command:
                SimCommand::Serve {
                    port,
                    ingress_port,
                    scenario,
                },
        } => runtime.block_on(sim_serve(dirs, target, port, ingress_port, scenario)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("istio-playground: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("  {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// How long `graph` waits for the first complete picture of the cluster.
const FIRST_SNAPSHOT: Duration = Duration::from_secs(15);

async fn graph_command(json: bool, watch: bool, target: &ClusterTarget) -> playground::Result<()> {
    let client = target.client().await?;
    let (mut events, _watch) = mesh::watch::spawn(client);
    let mut current = loop {
        let next = tokio::time::timeout(FIRST_SNAPSHOT, events.recv()).await;
        match next {
            Ok(Some(MeshEvent::Snapshot { snapshot })) => break snapshot,
            Ok(Some(MeshEvent::Status { status })) => eprintln!("{}", status.message),
            Ok(Some(MeshEvent::Diff { .. })) => {}
            Ok(None) | Err(_) => {
                return Err(playground::Error::ClusterTarget(format!(
                    "the cluster at context {} did not answer within {} s",
                    target.context,
                    FIRST_SNAPSHOT.as_secs()
                )));
            }
        }
    };
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock<'_>, text: String| {
        // A closed pipe (`| head`) ends the command quietly.
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    };
    let first = if json && watch {
        serde_json::to_string(&MeshEvent::Snapshot {
            snapshot: current.clone(),
        })
        .unwrap_or_default()
            + "\n"
    } else if json {
        serde_json::to_string_pretty(&current).unwrap_or_default() + "\n"
    } else {
        render_graph(&current)
    };
    if !print(&mut out, first) || !watch {
        return Ok(());
    }
    drop(out);
    while let Some(event) = events.recv().await {
        let text = if json {
            serde_json::to_string(&event).unwrap_or_default() + "\n"
        } else {
            match &event {
                MeshEvent::Diff { diff: d } => {
                    mesh::diff::apply(&mut current, d);
                    format!(
                        "--- changed: {}\n{}",
                        describe_diff(d),
                        render_graph(&current)
                    )
                }
                MeshEvent::Snapshot { snapshot } => {
                    current = snapshot.clone();
                    format!("--- reconnected\n{}", render_graph(&current))
                }
                MeshEvent::Status { status } => format!("--- {}\n", status.message),
            }
        };
        if !print(&mut std::io::stdout().lock(), text) {
            break;
        }
    }
    Ok(())
}

fn describe_diff(d: &GraphDiff) -> String {
    let mut parts = Vec::new();
    for (n, what) in [
        (d.added_nodes.len(), "added"),
        (d.changed_nodes.len(), "changed"),
        (d.removed_nodes.len(), "removed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let edges = d.added_edges.len() + d.changed_edges.len() + d.removed_edges.len();
    if edges > 0 {
        parts.push(format!("{edges} links"));
    }
    parts.join(", ")
}

fn children<'a>(
    s: &'a MeshSnapshot,
    parent: &'a str,
) -> impl Iterator<Item = &'a playground::mesh::GraphNode> {
    s.nodes
        .iter()
        .filter(move |n| n.parent.as_deref() == Some(parent))
}

/// The mesh as indented text: namespaces, what they hold, then the request's routes.
fn render_graph(s: &MeshSnapshot) -> String {
    let mut text = String::new();
    let kind_name = |k: NodeKind| match k {
        NodeKind::Namespace => "namespace",
        NodeKind::IngressGateway => "ingress gateway",
        NodeKind::Gateway => "Gateway",
        NodeKind::VirtualService => "VirtualService",
        NodeKind::Service => "Service",
        NodeKind::Subset => "subset",
        NodeKind::Workload => "workload",
        NodeKind::Pod => "pod",
    };
    let line = |n: &playground::mesh::GraphNode, indent: usize| {
        let mut l = format!("{}{} {}", "  ".repeat(indent), kind_name(n.kind), n.name);
        if let Some(r) = &n.ready {
            l.push_str(&format!("  {r}"));
        }
        if let Some(sc) = n.sidecar {
            l.push_str(&format!(
                "  sidecar: {}",
                serde_json::to_value(sc)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("")
            ));
        }
        l.push('\n');
        for v in &n.validations {
            l.push_str(&format!(
                "{}  ! {:?}: {}\n",
                "  ".repeat(indent),
                v.severity,
                v.message
            ));
        }
        l
    };
    // Namespaces holding an ingress gateway first: that is where requests come in.
    let mut namespaces: Vec<_> = s
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Namespace)
        .collect();
    namespaces.sort_by_key(|ns| !children(s, &ns.id).any(|n| n.kind == NodeKind::IngressGateway));
    for ns in namespaces {
        let injection = ns.fields.first().map(|f| f.value.as_str()).unwrap_or("");
        text.push_str(&format!(
            "namespace {}  (sidecar injection: {injection})\n",
            ns.name
        ));
        for n in children(s, &ns.id) {
            text.push_str(&line(n, 1));
            for p in children(s, &n.id) {
                text.push_str(&line(p, 2));
            }
        }
    }
    text.push_str("routes:\n");
    let mut routes: Vec<_> = s
        .edges
        .iter()
        .filter(|e| e.kind != EdgeKind::Selects)
        .collect();
    // In the request's direction: ingress, Gateway, VirtualService, destinations.
    routes.sort_by_key(|e| (e.kind, e.id.clone()));
    for e in routes {
        let mut l = format!("  {} -> {}", e.source, e.target);
        if let Some(label) = &e.label {
            l.push_str(&format!("  {label}"));
        }
        if let Some(m) = &e.matches {
            l.push_str(&format!("  when {m}"));
        }
        text.push_str(&l);
        text.push('\n');
    }
    text
}

async fn sim_serve(
    dirs: &AppDirs,
    target: &ClusterTarget,
    port: u16,
    ingress_port: u16,
    scenario: Option<String>,
) -> playground::Result<()> {
    let scenario = scenario
        .map(|s| s.parse::<Scenario>())
        .transpose()
        .map_err(|e| playground::Error::InvalidInput(e.to_string()))?;
    let opts = SimOptions {
        api_port: port,
        ingress_port,
        scenario,
        ..SimOptions::default()
    };
    // `--kubeconfig FILE` says where to write the kubeconfig of this cluster.
    let kubeconfig = target.explicit.then(|| target.kubeconfig.clone());
    let sim = SimulatedPlayground::start(dirs, opts, kubeconfig).await?;
    let info = sim.info();
    println!("api: {}", info.api_url);
    println!("ingress: {}", info.ingress_url);
    println!("kubeconfig: {}", info.kubeconfig);
    println!("context: {}", info.context);
    eprintln!(
        "Simulated cluster running (no Docker). Try: kubectl --kubeconfig {} get pods -A   Stop with Ctrl-C.",
        info.kubeconfig
    );
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| playground::Error::InvalidInput(format!("cannot wait for Ctrl-C: {e}")))?;
    sim.cluster.shutdown();
    Ok(())
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
