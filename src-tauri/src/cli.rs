//! The headless command line. Same binary as the window: `istio-playground` with no
//! subcommand opens the app.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};
use playground::Session;
use playground::kube::ClusterTarget;
use playground::mesh::{
    self, EdgeKind, Finding, GraphDiff, GraphNode, Injection, MeshEvent, MeshSnapshot, NodeDetails,
    NodeKind, RequestMatch, Severity, Sidecar, StringMatch, TrafficState, Validation, WatchStatus,
};
use playground::preflight::{CheckStatus, PreflightReport};
use playground::provision::{self, ProvisionEvent, SetupPlan, StepState};
use playground::session::SetupOptions;
use playground::simulated::{Scenario, SimOptions};
use playground::telemetry::ResponseRate;

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
    /// Set up the playground: kind cluster, MetalLB, Istio, addons, Bookinfo. Running it
    /// again resumes after the last finished step. Ctrl-C cancels.
    Up {
        /// Only show what each step would do on this machine; change nothing.
        #[arg(long)]
        plan: bool,
        /// With --plan: print the plan as JSON.
        #[arg(long, requires = "plan")]
        json: bool,
        /// Also add the cluster to your own kubeconfig (~/.kube/config or $KUBECONFIG).
        #[arg(long)]
        merge_kubeconfig: bool,
    },
    /// Delete the playground's cluster and check that it is gone.
    Down,
    /// Print the mesh graph of the cluster: nodes, routes, readiness and findings.
    Graph {
        /// Print the model as JSON (the same nodes and edges the Mesh screen draws).
        #[arg(long)]
        json: bool,
        /// Keep running and print every change (with --json: one event per line).
        #[arg(long)]
        watch: bool,
    },
    /// Split a service's traffic between its versions, e.g. `weights reviews v1=60 v2=30
    /// v3=10` (creates the DestinationRule subsets when missing, then the VirtualService).
    Weights {
        /// The Service, e.g. reviews.
        service: String,
        /// VERSION=PERCENT for each version that gets traffic; they must add up to 100.
        #[arg(value_name = "VERSION=WEIGHT", required = true)]
        weights: Vec<String>,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Only validate and print the YAML and kubectl command; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Undo the last change made to this cluster by weights, route, fault, timeout, retries,
    /// breaker, mtls or reset-routing (from the window or the command line, also before a
    /// restart): every object it touched goes back as it was.
    Undo,
    /// Send all of a service's requests to one version (`route reviews --to v1`), or one
    /// user's (`route reviews --user jason --to v2 --else v1`: the `end-user` header
    /// Bookinfo's login sets). Creates the DestinationRule subsets when missing.
    Route {
        service: String,
        /// The version that gets the requests.
        #[arg(long, value_name = "VERSION")]
        to: String,
        /// Only this user's requests (the value of the end-user header).
        #[arg(long)]
        user: Option<String>,
        /// The header compared with --user.
        #[arg(long, default_value = "end-user", requires = "user")]
        header: String,
        /// With --user: where everyone else's requests go (default: where they went).
        #[arg(long = "else", value_name = "VERSION", requires = "user")]
        otherwise: Option<String>,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Only validate and print the YAML and kubectl command; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Inject a delay or an HTTP abort on a service's routes (`fault ratings --delay 7s
    /// --user jason`, `fault ratings --abort 500 --percent 50`), or remove them (`--clear`).
    Fault {
        service: String,
        /// Hold requests this long (7s, 500ms).
        #[arg(long, value_name = "DURATION", group = "what")]
        delay: Option<String>,
        /// Answer with this HTTP status (200-599) instead of forwarding.
        #[arg(
            long,
            value_name = "STATUS",
            group = "what",
            allow_negative_numbers = true
        )]
        abort: Option<i64>,
        /// Remove the faults (of --user's route, or of every route).
        #[arg(long, group = "what")]
        clear: bool,
        /// Share of requests affected, 0 to 100.
        #[arg(long, default_value_t = 100.0, allow_negative_numbers = true)]
        percent: f64,
        /// Only this user's requests (the value of the end-user header).
        #[arg(long)]
        user: Option<String>,
        /// The header compared with --user.
        #[arg(long, default_value = "end-user", requires = "user")]
        header: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Set the timeout of a service's requests (`timeout reviews 0.5s`), or remove it.
    Timeout {
        service: String,
        /// 0.5s, 3s, 100ms...
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        timeout: Option<String>,
        #[arg(long)]
        clear: bool,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Set the retries of a service's requests (`retries ratings --attempts 3 --per-try 2s
    /// --on 5xx,connect-failure`), or remove them.
    Retries {
        service: String,
        #[arg(long, allow_negative_numbers = true)]
        attempts: Option<i64>,
        /// Time allowed to each try.
        #[arg(long, value_name = "DURATION")]
        per_try: Option<String>,
        /// Envoy's retry conditions, comma-separated (5xx, connect-failure, 503...).
        #[arg(long, value_delimiter = ',')]
        on: Vec<String>,
        #[arg(long)]
        clear: bool,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Put a circuit breaker on a service (its DestinationRule's connection pool and
    /// outlier detection; subsets are kept), or remove it.
    Breaker {
        service: String,
        #[arg(long, allow_negative_numbers = true)]
        max_connections: Option<i64>,
        #[arg(long, allow_negative_numbers = true)]
        max_pending: Option<i64>,
        #[arg(long, allow_negative_numbers = true)]
        max_requests_per_connection: Option<i64>,
        #[arg(long = "consecutive-5xx", allow_negative_numbers = true)]
        consecutive_5xx: Option<i64>,
        /// Time between ejection sweeps (1s).
        #[arg(long, value_name = "DURATION")]
        interval: Option<String>,
        /// Base ejection time (3m).
        #[arg(long, value_name = "DURATION")]
        ejection: Option<String>,
        /// Max ejection percent, 0 to 100.
        #[arg(long, allow_negative_numbers = true)]
        max_ejection: Option<i64>,
        #[arg(long)]
        clear: bool,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Set the mutual TLS mode of the mesh (no -n), a namespace (-n) or one workload
    /// (-n and --workload), or remove that policy (`clear`).
    Mtls {
        #[arg(value_parser = ["strict", "permissive", "disable", "clear"])]
        mode: String,
        /// A namespace instead of the whole mesh.
        #[arg(short, long)]
        namespace: Option<String>,
        /// One workload (a Deployment, or the pods labelled app=NAME) of the namespace.
        #[arg(long, requires = "namespace")]
        workload: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the VirtualServices, DestinationRules and PeerAuthentications the app wrote,
    /// back to Bookinfo's routing as setup left it. Lists what it removes and keeps.
    ResetRouting {
        /// Only list what would be removed and kept.
        #[arg(long)]
        dry_run: bool,
        /// Also remove such objects written by others (kubectl, other tools).
        #[arg(long)]
        include_user_objects: bool,
    },
    /// Run curl from a client pod outside the mesh (namespace outside-mesh, no sidecar) and
    /// one inside it (default, with a sidecar), side by side: the mutual TLS lesson. The
    /// first run deploys the two clients.
    MtlsClients {
        /// The Service to call.
        #[arg(default_value = "productpage")]
        service: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// The path to request (default: /productpage for productpage, else /).
        #[arg(long)]
        path: Option<String>,
        /// Remove the two clients (and the outside-mesh namespace) instead.
        #[arg(long, conflicts_with = "path")]
        remove: bool,
    },
    /// Turn Istio sidecar injection on or off for a namespace.
    Inject {
        namespace: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// Also restart the namespace's deployments so existing pods get (or lose) sidecars.
        #[arg(long)]
        restart: bool,
    },
    /// Send requests to the product page through the playground's ingress and print the
    /// achieved rate, status codes, latency percentiles and which reviews version answered.
    Traffic {
        /// Requests per second (0.5 to 500).
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// How long to run: seconds (30) or a duration (10s, 2m, 1m30s); default: until
        /// Ctrl-C.
        #[arg(long, value_parser = duration_secs, value_name = "DURATION")]
        duration: Option<f64>,
        /// Requests in flight at most (1 to 256).
        #[arg(long, default_value_t = 10)]
        concurrency: u32,
        /// Base URL of the ingress (default: the simulated ingress when the cluster is a
        /// simulated playground, else the real playground's http://localhost:9080).
        #[arg(long, value_name = "URL")]
        ingress: Option<String>,
        /// Log in on the product page as this user (as Bookinfo's login does) and send
        /// requests as that user, so routes matching `end-user` apply to them.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Percent of the requests sent as --user (0 to 100; default 100).
        #[arg(long, value_name = "PERCENT", requires = "user")]
        user_share: Option<f64>,
        /// Print the final figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open a port-forward to an observability dashboard and print its local URL; keeps it
    /// open until Ctrl-C.
    Dashboard {
        #[arg(value_parser = ["kiali", "grafana", "jaeger", "prometheus"])]
        name: String,
    },
    /// Lessons: list them, check a lesson file, or run a whole course headlessly.
    Lesson {
        #[command(subcommand)]
        command: crate::lesson_cli::LessonCommand,
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

/// Writes one line to standard output.
///
/// A reader that went away (`istio-playground graph | head`) ends the command quietly with
/// status 0, as ripgrep and other Unix tools do. Rust ignores SIGPIPE, and it must stay
/// ignored here: the simulated cluster (`sim serve`), the kube client and the traffic
/// generator write to sockets with `writev`, which raises SIGPIPE when the peer has gone,
/// and the default action would kill the whole process. So the broken pipe arrives as an
/// error on this write instead, where `println!` would panic.
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        exit_on_write_error(&e);
    }
}

/// Ends the command after a failed write to standard output: quietly when the reader closed
/// the pipe, else saying why.
pub(crate) fn exit_on_write_error(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("istio-playground: cannot write the output: {e}");
    std::process::exit(2);
}

pub fn run(command: Command, session: Session) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("istio-playground: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Shared with the Ctrl-C handler of `up` and `down`, which cancels through it.
    let session = Arc::new(session);
    let result = match command {
        Command::Preflight { json } => {
            return runtime.block_on(preflight_command(json, &session));
        }
        Command::Up {
            plan: true, json, ..
        } => return runtime.block_on(plan_command(json, &session)),
        Command::Up {
            merge_kubeconfig, ..
        } => {
            let options = SetupOptions { merge_kubeconfig };
            return runtime.block_on(provision_command(session, Some(options)));
        }
        Command::Down => return runtime.block_on(provision_command(session, None)),
        Command::Graph { json, watch } => runtime.block_on(graph_command(json, watch, &session)),
        Command::Weights {
            service,
            weights,
            namespace,
            dry_run,
        } => runtime.block_on(weights_command(
            &session, &service, &namespace, &weights, dry_run,
        )),
        Command::Undo => runtime.block_on(undo_command(&session)),
        Command::Route {
            service,
            to,
            user,
            header,
            otherwise,
            namespace,
            dry_run,
        } => {
            let plan = playground::actions::route::RoutePlan {
                header: user.as_ref().map(|_| header),
                service,
                namespace,
                to,
                user,
                otherwise,
            };
            runtime.block_on(async {
                let change = session.route(&plan, dry_run).await?;
                print_change(&change);
                Ok(())
            })
        }
        Command::Fault {
            service,
            delay,
            abort,
            clear,
            percent,
            user,
            header,
            namespace,
            dry_run,
        } => {
            use playground::actions::fault::{FaultKind, FaultPlan};
            let fault = match (delay, abort) {
                (Some(delay), _) => Some(FaultKind::Delay { delay }),
                (_, Some(status)) => Some(FaultKind::Abort { status }),
                _ if clear => None,
                _ => {
                    return usage_error("give --delay DURATION, --abort STATUS or --clear");
                }
            };
            let plan = FaultPlan {
                header: user.as_ref().map(|_| header),
                service,
                namespace,
                fault,
                percent,
                user,
            };
            runtime.block_on(async {
                let change = session.fault(&plan, dry_run).await?;
                print_change(&change.change);
                if let Some(effect) = &change.effect {
                    outln!("\nWhat to expect: {}", fault_effect_text(effect));
                }
                Ok(())
            })
        }
        Command::Timeout {
            service,
            timeout,
            clear: _,
            namespace,
            dry_run,
        } => {
            let plan = playground::actions::policy::TimeoutPlan {
                service,
                namespace,
                timeout,
            };
            runtime.block_on(async {
                print_change(&session.set_timeout(&plan, dry_run).await?);
                Ok(())
            })
        }
        Command::Retries {
            service,
            attempts,
            per_try,
            on,
            clear,
            namespace,
            dry_run,
        } => {
            let plan = playground::actions::policy::RetryPlan {
                service,
                namespace,
                clear,
                attempts,
                per_try_timeout: per_try,
                retry_on: on,
            };
            runtime.block_on(async {
                print_change(&session.set_retries(&plan, dry_run).await?);
                Ok(())
            })
        }
        Command::Breaker {
            service,
            max_connections,
            max_pending,
            max_requests_per_connection,
            consecutive_5xx,
            interval,
            ejection,
            max_ejection,
            clear,
            namespace,
            dry_run,
        } => {
            let plan = playground::actions::breaker::BreakerPlan {
                service,
                namespace,
                clear,
                max_connections,
                max_pending_requests: max_pending,
                max_requests_per_connection,
                consecutive_5xx_errors: consecutive_5xx,
                interval,
                base_ejection_time: ejection,
                max_ejection_percent: max_ejection,
            };
            runtime.block_on(async {
                print_change(&session.set_breaker(&plan, dry_run).await?);
                Ok(())
            })
        }
        Command::Mtls {
            mode,
            namespace,
            workload,
            dry_run,
        } => {
            use playground::actions::mtls::{MtlsPlan, MtlsScope, MtlsSetting};
            let mode = match mode.as_str() {
                "strict" => Some(MtlsSetting::Strict),
                "permissive" => Some(MtlsSetting::Permissive),
                "disable" => Some(MtlsSetting::Disable),
                _ => None,
            };
            let scope = match (namespace, workload) {
                (Some(namespace), Some(name)) => MtlsScope::Workload { namespace, name },
                (Some(namespace), None) => MtlsScope::Namespace { namespace },
                (None, _) => MtlsScope::Mesh,
            };
            runtime.block_on(async {
                print_change(&session.set_mtls(&MtlsPlan { scope, mode }, dry_run).await?);
                Ok(())
            })
        }
        Command::ResetRouting {
            dry_run,
            include_user_objects,
        } => runtime.block_on(async {
            let plan = playground::actions::reset::ResetPlan {
                include_user_objects,
            };
            let report = session.reset_routing(&plan, dry_run).await?;
            print_reset(&report);
            Ok(())
        }),
        Command::MtlsClients {
            service,
            namespace,
            path,
            remove,
        } => runtime.block_on(async {
            if remove {
                for line in session.remove_clients().await? {
                    outln!("Deleted {line}");
                }
                return Ok(());
            }
            let path = path.or_else(|| (service == "productpage").then(|| "/productpage".into()));
            let probe = playground::actions::client::ClientProbe {
                service,
                namespace,
                path,
            };
            print_probe(&session.probe_clients(&probe).await?);
            Ok(())
        }),
        Command::Inject {
            namespace,
            state,
            restart,
        } => runtime.block_on(inject_command(&session, &namespace, state == "on", restart)),
        Command::Traffic {
            rate,
            duration,
            concurrency,
            ingress,
            user,
            user_share,
            json,
        } => runtime.block_on(traffic_command(
            &session,
            playground::traffic::TrafficSettings {
                rate,
                concurrency,
                duration_secs: duration,
                user,
                user_share,
            },
            ingress,
            json,
        )),
        Command::Dashboard { name } => runtime.block_on(dashboard_command(&session, &name)),
        Command::Lesson { command } => {
            return crate::lesson_cli::run(command, &session, &runtime);
        }
        Command::Sim {
            command:
                SimCommand::Serve {
                    port,
                    ingress_port,
                    scenario,
                },
        } => runtime.block_on(sim_serve(&session, port, ingress_port, scenario)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::warn!(code = %e.code(), error = %e, "command failed");
            eprintln!("istio-playground: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("  {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn weights_command(
    session: &Session,
    service: &str,
    namespace: &str,
    args: &[String],
    dry_run: bool,
) -> playground::Result<()> {
    use playground::actions::weights::WeightPlan;
    // Parse before connecting: a typo is reported even when no cluster runs.
    let plan = WeightPlan::from_args(service, namespace, args)?;
    let change = if dry_run {
        session.preview_weights(&plan).await?
    } else {
        session.apply_weights(&plan).await?
    };
    if !change.created_subsets.is_empty() {
        outln!(
            "DestinationRule subsets created: {}",
            change.created_subsets.join(", ")
        );
    }
    outln!(
        "{} {service}: {}",
        if dry_run { "Would route" } else { "Routed" },
        plan.weights
            .iter()
            .map(|(v, w)| format!("{v} {w}%"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    outln!("\nThe same with kubectl:\n{}", change.kubectl);
    Ok(())
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("istio-playground: {message}");
    ExitCode::from(2)
}

fn action_name(action: playground::actions::backup::ActionKind) -> &'static str {
    use playground::actions::backup::ActionKind as A;
    match action {
        A::Weights => "weights",
        A::Route => "route",
        A::Fault => "fault",
        A::Timeout => "timeout",
        A::Retries => "retries",
        A::Breaker => "breaker",
        A::Mtls => "mtls",
        A::ResetRouting => "reset-routing",
    }
}

fn object_text(o: &playground::actions::backup::ObjectId) -> String {
    format!("{:?} {}/{}", o.kind, o.namespace, o.name)
}

/// What an action wrote (or would write) and the kubectl that does the same.
fn print_change(change: &playground::actions::backup::TrafficChange) {
    let (apply, delete) = if change.applied {
        ("Applied", "Deleted")
    } else {
        ("Would apply", "Would delete")
    };
    if change.applied_objects.is_empty() && change.deleted_objects.is_empty() {
        outln!("Nothing to change: the cluster already is that way.");
        return;
    }
    for o in &change.applied_objects {
        outln!("{apply} {}", object_text(o));
    }
    for o in &change.deleted_objects {
        outln!("{delete} {}", object_text(o));
    }
    outln!("\nThe same with kubectl:\n{}", change.kubectl);
}

fn print_reset(report: &playground::actions::reset::ResetReport) {
    use playground::actions::reset::KeptReason;
    let verb = if report.change.applied {
        "Removed"
    } else {
        "Would remove"
    };
    if report.removed.is_empty() {
        outln!("Nothing to remove: no routing object written by the app is left.");
    }
    for o in &report.removed {
        outln!("{verb} {}", object_text(o));
    }
    for k in &report.kept {
        let why = match k.reason {
            KeptReason::IngressRouting => "the ingress's routing, as setup left it",
            KeptReason::NotWrittenByApp => {
                "not written by the app (add --include-user-objects to remove it too)"
            }
        };
        outln!("Kept {} ({why})", object_text(&k.object));
    }
    if !report.change.kubectl.is_empty() {
        outln!("\nThe same with kubectl:\n{}", report.change.kubectl);
    }
}

fn print_probe(report: &playground::actions::client::ProbeReport) {
    use playground::actions::client::ClientPlace;
    for created in &report.created {
        outln!("Created {created}");
    }
    outln!("curl {}", report.url);
    for r in [&report.outside, &report.inside] {
        let place = match r.place {
            ClientPlace::Outside => "From outside the mesh",
            ClientPlace::Inside => "From inside the mesh ",
        };
        let result = match r.status {
            Some(s) => format!("HTTP {s}"),
            None if r.exit_code == 56 => "refused (connection reset)".into(),
            None => format!("failed (curl exit {})", r.exit_code),
        };
        outln!(
            "{place} ({}, {}): {result}",
            r.namespace,
            if r.sidecar { "sidecar" } else { "no sidecar" }
        );
        if !r.error.is_empty() {
            outln!("    {}", r.error);
        }
        outln!("    {}", r.kubectl);
    }
}

/// The lesson of a fault, in words.
fn fault_effect_text(effect: &playground::actions::fault::FaultEffect) -> String {
    use playground::actions::fault::FaultEffect as E;
    let secs = |ms: u64| format!("{}", ms as f64 / 1000.0);
    match effect {
        E::ProductpageGivesUp {
            service,
            delay_ms,
            productpage_timeout_ms,
            productpage_attempts,
            page_wait_ms,
            reviews_timeout_ms,
        } => format!(
            "the {} s delay on {service} is longer than productpage waits for reviews ({} s, {productpage_attempts} tries), so after about {} s the page says \"Sorry, product reviews are currently unavailable for this book.\" reviews v2 itself would have waited {} s for ratings: the timeouts do not fit together, which is the bug this fault finds.",
            secs(*delay_ms),
            secs(*productpage_timeout_ms),
            secs(*page_wait_ms),
            secs(*reviews_timeout_ms)
        ),
        E::Slower { service, delay_ms } => format!(
            "requests to {service} take {} s longer; every timeout on the way is longer, so the page only slows down.",
            secs(*delay_ms)
        ),
        E::RatingsUnavailable { status } => format!(
            "ratings answers {status} at once, so reviews v2 and v3 show \"Ratings service is currently unavailable\" (reviews v1 never calls ratings)."
        ),
        E::PartUnavailable { service, status } => format!(
            "{service} answers {status} at once, so the page says that part is currently unavailable."
        ),
        E::PageFails { status } => format!("the product page itself answers {status}."),
        E::Other { service } => format!("the callers of {service} get the delay or the error."),
    }
}

async fn undo_command(session: &Session) -> playground::Result<()> {
    let report = session.undo_last().await?;
    outln!(
        "Undid the last {} change; every object it touched is as it was:",
        action_name(report.action)
    );
    for line in &report.done {
        outln!("  {line}");
    }
    outln!("\nThe same with kubectl:");
    for line in &report.kubectl {
        outln!("{line}");
    }
    Ok(())
}

async fn inject_command(
    session: &Session,
    namespace: &str,
    enabled: bool,
    restart: bool,
) -> playground::Result<()> {
    use playground::actions::injection::InjectionRequest;
    let request = InjectionRequest {
        namespace: namespace.into(),
        enabled,
        restart,
    };
    let report = session.set_injection(&request, SystemTime::now()).await?;
    outln!(
        "Sidecar injection is {} for namespace {namespace}{}.",
        if enabled { "on" } else { "off" },
        if report.label_changed {
            ""
        } else {
            " (it already was)"
        }
    );
    if !restart {
        outln!(
            "Existing pods keep their state until they are recreated: add --restart to restart the deployments."
        );
    }
    for name in &report.restarted {
        outln!("  restarted deployment/{name}");
    }
    for s in report.skipped.iter().chain(&report.opted_out) {
        outln!("  {}: {}", s.name, s.reason);
    }
    outln!("\nThe same with kubectl:");
    for line in &report.kubectl {
        outln!("  {line}");
    }
    Ok(())
}

async fn traffic_command(
    session: &Session,
    settings: playground::traffic::TrafficSettings,
    ingress: Option<String>,
    json: bool,
) -> playground::Result<()> {
    session
        .start_traffic(settings, ingress, move |s| {
            if !json && s.running {
                eprint!(
                    "\r{:>6.1} s  {:>6} done  {:>7.1} req/s  p50 {:>6.1} ms   ",
                    s.elapsed_secs, s.completed, s.current_rate, s.latency.p50_ms
                );
            }
        })
        .await?;
    tokio::select! {
        _ = wait_for_traffic(session) => {}
        _ = tokio::signal::ctrl_c() => {
            session.stop_traffic();
        }
    }
    let stats = session.finish_traffic().await.unwrap_or_default();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&stats).unwrap_or_default()
        );
        stats.require_answers()?;
        return Ok(());
    }
    eprintln!();
    let pct = |m: &std::collections::BTreeMap<String, u64>, total: u64| {
        m.iter()
            .map(|(k, v)| format!("{k} {:.0}%", *v as f64 * 100.0 / total.max(1) as f64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    outln!("Target:        {}", stats.target);
    outln!(
        "Requests:      {} in {:.1} s, {:.1} req/s achieved",
        stats.completed,
        stats.elapsed_secs,
        stats.achieved_rate
    );
    outln!(
        "Status codes:  {}",
        stats
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    outln!(
        "Latency:       p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
        stats.latency.p50_ms,
        stats.latency.p90_ms,
        stats.latency.p99_ms
    );
    outln!(
        "Reviews split: {} (all {}); last {}: {}",
        pct(&stats.versions_total, stats.completed),
        stats.completed,
        stats.recent,
        pct(&stats.versions_recent, u64::from(stats.recent))
    );
    stats.require_answers()?;
    Ok(())
}

/// `traffic --duration`: plain seconds (`30`, `2.5`), or a duration as people write it
/// (`10s`, `2m`, `1m30s`), read by jiff's friendly duration format. The range is checked
/// where the settings are (1 s to 1 h).
fn duration_secs(arg: &str) -> Result<f64, String> {
    let arg = arg.trim();
    if let Ok(secs) = arg.parse::<f64>() {
        return Ok(secs);
    }
    arg.parse::<jiff::SignedDuration>()
        .map(|d| d.as_secs_f64())
        .map_err(|_| format!("{arg:?} is not a duration: write seconds (30) or 10s, 2m, 1m30s"))
}

/// Polls until the run has ended (the duration passed).
async fn wait_for_traffic(session: &Session) {
    while session.traffic_running() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dashboard_command(session: &Session, name: &str) -> playground::Result<()> {
    use playground::dashboards::{Dashboard, DashboardError};
    let dashboard =
        Dashboard::parse(name).ok_or_else(|| DashboardError::Unknown(name.to_string()))?;
    let link = session.open_dashboard(dashboard).await?;
    outln!("{}: {}", link.title, link.url);
    for (label, url) in &link.extra {
        outln!("{label}: {url}");
    }
    if !link.usual_port {
        eprintln!(
            "(port {} was taken, so another one is used)",
            dashboard.usual_local_port()
        );
    }
    eprintln!("Forwarding until Ctrl-C.");
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

/// How long `graph` waits for the first complete picture of the cluster.
const FIRST_SNAPSHOT: Duration = Duration::from_secs(15);

/// How long `graph` waits for the first traffic reading after the snapshot: the reading
/// starts with the watch and gives up on Prometheus after 3 s, so this is plenty.
const FIRST_TRAFFIC: Duration = Duration::from_secs(10);

/// `graph --json`: the model (nodes and edges at the top, as the Mesh screen gets them) and
/// the traffic read once after it (null when no reading came in time).
#[derive(serde::Serialize)]
struct GraphJson<'a> {
    #[serde(flatten)]
    snapshot: &'a MeshSnapshot,
    traffic: Option<&'a TrafficState>,
}

async fn graph_command(json: bool, watch: bool, session: &Session) -> playground::Result<()> {
    let mut events = session.watch_mesh().await?;
    let mut current = loop {
        let next = tokio::time::timeout(FIRST_SNAPSHOT, events.recv()).await;
        match next {
            Ok(Some(MeshEvent::Snapshot { snapshot })) => break snapshot,
            Ok(Some(MeshEvent::Status { status })) => eprintln!("{}", status_text(&status)),
            Ok(Some(MeshEvent::Diff { .. } | MeshEvent::Traffic { .. })) => {}
            Ok(None | Some(MeshEvent::Ended)) | Err(_) => {
                return Err(playground::Error::ClusterTarget(format!(
                    "the cluster at context {} did not answer within {} s",
                    session.target().context,
                    FIRST_SNAPSHOT.as_secs()
                )));
            }
        }
    };
    // The first reading follows the snapshot; changes meanwhile go into the model printed.
    let deadline = tokio::time::Instant::now() + FIRST_TRAFFIC;
    let traffic = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(MeshEvent::Traffic { traffic })) => break Some(traffic),
            Ok(Some(MeshEvent::Diff { diff: d })) => mesh::diff::apply(&mut current, &d),
            Ok(Some(MeshEvent::Snapshot { snapshot })) => current = snapshot,
            Ok(Some(MeshEvent::Status { status })) => eprintln!("{}", status_text(&status)),
            Ok(None | Some(MeshEvent::Ended)) | Err(_) => break None,
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
        let mut lines = serde_json::to_string(&MeshEvent::Snapshot {
            snapshot: current.clone(),
        })
        .unwrap_or_default()
            + "\n";
        if let Some(traffic) = &traffic {
            lines += &(serde_json::to_string(&MeshEvent::Traffic {
                traffic: traffic.clone(),
            })
            .unwrap_or_default()
                + "\n");
        }
        lines
    } else if json {
        let out = GraphJson {
            snapshot: &current,
            traffic: traffic.as_ref(),
        };
        serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
    } else {
        render_graph(&current) + &render_traffic(&current, traffic.as_ref())
    };
    if !print(&mut out, first) || !watch {
        return Ok(());
    }
    drop(out);
    while let Some(event) = events.recv().await {
        if event == MeshEvent::Ended {
            break;
        }
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
                MeshEvent::Status { status } => format!("--- {}\n", status_text(status)),
                MeshEvent::Traffic { traffic } => traffic_line(&current, traffic),
                MeshEvent::Ended => break,
            }
        };
        if !print(&mut std::io::stdout().lock(), text) {
            break;
        }
    }
    Ok(())
}

/// A node as the traffic lines name it: its name, and what it is when not a workload.
fn traffic_node(s: &MeshSnapshot, id: Option<&str>) -> String {
    let Some(id) = id else {
        return "outside the mesh".into();
    };
    match s.nodes.iter().find(|n| n.id == id) {
        Some(n) if n.kind == NodeKind::Service => format!("{} (service, no pod answered)", n.name),
        Some(n) => n.name.clone(),
        None => id.to_string(),
    }
}

fn percent(share: f64) -> String {
    // Adding +0 turns a -0 (an empty float sum) into 0, so it never prints as -0.0%.
    let p = share * 100.0 + 0.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

fn responses_text(responses: &[ResponseRate]) -> String {
    responses
        .iter()
        .filter(|r| r.error)
        .map(|r| {
            let code = if r.code == 0 {
                "no response".to_string()
            } else {
                r.code.to_string()
            };
            if r.flags.is_empty() {
                code
            } else {
                format!("{code} {}", r.flags.join(","))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn mtls_text(share: Option<f64>) -> String {
    match share {
        None => "mTLS unknown".into(),
        Some(s) if s >= 1.0 => "mTLS".into(),
        Some(s) if s <= 0.0 => "plain text".into(),
        Some(s) => format!("mTLS {}", percent(s)),
    }
}

fn ms_text(ms: Option<f64>) -> String {
    ms.map(|v| format!("{v:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

/// The traffic part of `graph`: every link with its rate, errors, p95 and mTLS, then the
/// splits set and seen; or the one line saying why there are no figures.
fn render_traffic(s: &MeshSnapshot, traffic: Option<&TrafficState>) -> String {
    let overlay = match traffic {
        None => return "traffic: no reading yet\n".into(),
        Some(TrafficState::Unavailable { problem, .. }) => {
            let mut text = format!("traffic: {}\n", problem.message);
            if let Some(hint) = &problem.hint {
                text.push_str(&format!("  {hint}\n"));
            }
            return text;
        }
        Some(TrafficState::Live { overlay }) => overlay,
    };
    let mut text = format!("traffic over the last {:.0} s:\n", overlay.window_secs);
    if overlay.links.is_empty() {
        text.push_str("  no requests\n");
    }
    for l in &overlay.links {
        let mut line = format!(
            "  {} -> {}  {:.1} req/s  errors {}",
            traffic_node(s, l.source.as_deref()),
            traffic_node(s, Some(&l.target)),
            l.requests_per_second,
            percent(l.error_share)
        );
        let codes = responses_text(&l.responses);
        if !codes.is_empty() {
            line.push_str(&format!(" ({codes})"));
        }
        line.push_str(&format!(
            "  p95 {}  {}\n",
            ms_text(l.latency.p95_ms),
            mtls_text(l.mtls_share)
        ));
        text.push_str(&line);
    }
    if !overlay.splits.is_empty() {
        text.push_str("splits:\n");
    }
    for split in &overlay.splits {
        let seen = split
            .observed_share
            .map(|v| format!("{} seen", percent(v)))
            .unwrap_or_else(|| "nothing answered".into());
        text.push_str(&format!(
            "  {}  {}% set, {seen}\n",
            split.subset, split.weight
        ));
    }
    text
}

/// `graph --watch` without --json: one line per reading.
fn traffic_line(s: &MeshSnapshot, traffic: &TrafficState) -> String {
    let overlay = match traffic {
        TrafficState::Unavailable { problem, .. } => {
            return format!("--- traffic: {}\n", problem.message);
        }
        TrafficState::Live { overlay } => overlay,
    };
    if overlay.links.is_empty() {
        return "--- traffic: no requests\n".into();
    }
    let links: Vec<String> = overlay
        .links
        .iter()
        .map(|l| {
            let mut t = format!(
                "{} -> {} {:.1}/s",
                traffic_node(s, l.source.as_deref()),
                traffic_node(s, Some(&l.target)),
                l.requests_per_second
            );
            if l.error_share > 0.0 {
                t.push_str(&format!(" ({} errors)", percent(l.error_share)));
            }
            t
        })
        .collect();
    format!("--- traffic: {}\n", links.join("; "))
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

fn children<'a>(s: &'a MeshSnapshot, parent: &'a str) -> impl Iterator<Item = &'a GraphNode> {
    s.nodes
        .iter()
        .filter(move |n| n.parent.as_deref() == Some(parent))
}

fn status_text(status: &WatchStatus) -> String {
    if status.connected {
        "Connected to the cluster.".to_owned()
    } else {
        format!(
            "Lost the connection to the cluster; reconnecting… ({})",
            status.error.as_deref().unwrap_or("no answer")
        )
    }
}

fn labels_text(labels: &mesh::Labels) -> String {
    if labels.is_empty() {
        return "(none)".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn injection_text(injection: &Injection) -> String {
    match injection {
        Injection::Enabled => "on (istio-injection=enabled)".into(),
        Injection::Disabled => "off (istio-injection label is not \"enabled\")".into(),
        Injection::Revision { revision } => {
            format!("on for revision {revision} (istio.io/rev={revision})")
        }
        Injection::None => "off (no istio-injection label)".into(),
    }
}

fn sidecar_text(sidecar: Sidecar) -> &'static str {
    match sidecar {
        Sidecar::Ready => "ready",
        Sidecar::Starting => "starting",
        Sidecar::Missing => "missing",
        Sidecar::OptedOut => "opted out",
        Sidecar::NotInjected => "not injected",
    }
}

fn string_match_text(m: &StringMatch) -> String {
    match m {
        StringMatch::Exact(v) => format!("exact {v}"),
        StringMatch::Prefix(v) => format!("prefix {v}"),
        StringMatch::Regex(v) => format!("regex {v}"),
        StringMatch::Present => "present".into(),
    }
}

/// One match in words: `uri prefix /static and header end-user exact jason`.
fn match_text(m: &RequestMatch) -> String {
    let mut parts = Vec::new();
    if let Some(uri) = &m.uri {
        parts.push(format!("uri {}", string_match_text(uri)));
    }
    for (name, v) in &m.headers {
        parts.push(format!("header {name} {}", string_match_text(v)));
    }
    if let Some(method) = &m.method {
        parts.push(format!("method {}", string_match_text(method)));
    }
    if let Some(port) = m.port {
        parts.push(format!("port {port}"));
    }
    if parts.is_empty() {
        "any request".into()
    } else {
        parts.join(" and ")
    }
}

/// What a validation found, in one sentence.
fn finding_text(node: &GraphNode, v: &Validation) -> String {
    match &v.finding {
        Finding::PodWithoutSidecar => format!(
            "no sidecar although namespace {} asks for injection: it started before injection was on; restart its workload",
            node.namespace
        ),
        Finding::PodOptedOut => {
            "opted out of injection (sidecar.istio.io/inject=false): Istio does not route or observe its traffic".into()
        }
        Finding::ServiceSelectsNoPods { selector } => format!(
            "no pod has the labels {}: requests to this service have nowhere to go",
            labels_text(selector)
        ),
        Finding::DestinationRuleHostNotFound {
            rule,
            host,
            service,
            service_namespace,
        } => format!(
            "destination rule {rule} is for host {host}, but there is no service {service} in namespace {service_namespace}"
        ),
        Finding::SubsetSelectsNoPods { labels } => format!(
            "no pod has the labels {}: requests routed to this subset fail with 503",
            labels_text(labels)
        ),
        Finding::SubsetNoReadyPods => {
            "its pods are not ready yet: requests routed here fail until they are".into()
        }
        Finding::GatewayNotServed { selector } => format!(
            "no ingress gateway has the labels {}: nothing accepts requests for it",
            labels_text(selector)
        ),
        Finding::GatewayNotFound { namespace, name } => format!(
            "bound to gateway {namespace}/{name}, which does not exist: requests through it are not routed"
        ),
        Finding::WeightsNot100 { route, sum } => format!(
            "route {} splits requests with weights adding up to {sum}, not 100",
            route + 1
        ),
        Finding::RouteHostNotFound {
            route,
            host,
            service,
            service_namespace,
        } => format!(
            "route {} sends requests to host {host}, but there is no service {service} in namespace {service_namespace}",
            route + 1
        ),
        Finding::RouteHostOutsideCluster { route, host } => format!(
            "route {} sends requests to host {host} outside the cluster: that needs a ServiceEntry",
            route + 1
        ),
        Finding::RouteSubsetNotFound {
            route,
            subset,
            service,
        } => format!(
            "route {} sends requests to subset {subset} of {service}, which no destination rule defines: they fail with 503",
            route + 1
        ),
        Finding::RouteUnreachable {
            route,
            after,
            has_fault,
        } => format!(
            "route {} is never used: route {} before it matches every request{}",
            route + 1,
            after + 1,
            if *has_fault {
                ", so its fault injection has no effect"
            } else {
                ""
            }
        ),
        Finding::OverlappingVirtualServices { host, others } => format!(
            "other virtual services ({}) also route {host} inside the mesh: Istio uses only one of them for it",
            others.join(", ")
        ),
        Finding::SubsetNotRouted => "no virtual service routes to this subset".into(),
        Finding::StrictWithPlainTextClients {
            mesh_wide,
            namespaces,
        } => format!(
            "{} mutual TLS (STRICT) while pods without a sidecar run in {} (no injection): their plain-text requests are refused",
            if *mesh_wide {
                "the whole mesh requires"
            } else {
                "this namespace requires"
            },
            namespaces.join(", ")
        ),
    }
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
    let line = |n: &GraphNode, indent: usize| {
        let mut l = format!("{}{} {}", "  ".repeat(indent), kind_name(n.kind), n.name);
        if let Some(r) = &n.ready {
            l.push_str(&format!("  {}/{}", r.ready, r.total));
        }
        if let Some(sc) = n.sidecar {
            l.push_str(&format!("  sidecar: {}", sidecar_text(sc)));
        }
        l.push('\n');
        for v in &n.validations {
            let severity = match v.severity {
                Severity::Info => "Info",
                Severity::Warning => "Warning",
                Severity::Error => "Error",
            };
            l.push_str(&format!(
                "{}  ! {severity}: {}\n",
                "  ".repeat(indent),
                finding_text(n, v)
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
        let injection = match &ns.details {
            NodeDetails::Namespace(d) => injection_text(&d.injection),
            _ => String::new(),
        };
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
        if let Some(r) = &e.route {
            if r.split || r.weight != 100 {
                l.push_str(&format!("  {}%", r.weight));
            }
            if !r.matches.is_empty() {
                let when: Vec<String> = r.matches.iter().map(match_text).collect();
                l.push_str(&format!("  when {}", when.join(" or ")));
            }
        }
        text.push_str(&l);
        text.push('\n');
    }
    text
}

async fn sim_serve(
    session: &Session,
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
    let target = session.setup_target();
    let kubeconfig = target.explicit.then(|| target.kubeconfig.clone());
    let info = session.start_simulated(opts, kubeconfig).await?;
    outln!("api: {}", info.api_url);
    outln!("ingress: {}", info.ingress_url);
    outln!("kubeconfig: {}", info.kubeconfig);
    outln!("context: {}", info.context);
    eprintln!(
        "Simulated cluster running (no Docker). Try: kubectl --kubeconfig {} get pods -A   Stop with Ctrl-C.",
        info.kubeconfig
    );
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| playground::Error::InvalidInput(format!("cannot wait for Ctrl-C: {e}")))?;
    session.stop_simulated().await;
    Ok(())
}

async fn preflight_command(json: bool, session: &Session) -> ExitCode {
    let report = session.preflight().await;
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(render_report(&report, &session.target()).as_bytes())
    };
    if let Err(e) = written {
        exit_on_write_error(&e);
    }
    if report.overall == CheckStatus::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn plan_command(json: bool, session: &Session) -> ExitCode {
    let plan = session.setup_plan().await;
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &plan)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(render_plan(&plan).as_bytes())
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_on_write_error(&e),
    }
}

fn render_plan(plan: &SetupPlan) -> String {
    let mut text = format!(
        "Setup plan for cluster {} (kubeconfig {}, context {}):\n",
        plan.cluster_name,
        plan.kubeconfig.display(),
        plan.context
    );
    for (i, step) in plan.steps.iter().enumerate() {
        text.push_str(&format!(
            "\n{}. {}\n   {}\n",
            i + 1,
            step.title,
            step.explanation
        ));
        for action in &step.actions {
            text.push_str(&format!("   - {action}\n"));
        }
    }
    text.push_str(&format!(
        "\nWhen it is done: {}\nNothing was changed. Run `istio-playground up` to do it.\n",
        plan.product_page_url
    ));
    text
}

/// One printed line per event that says something; a summary line per finished step.
fn render_event(e: &ProvisionEvent) -> Option<String> {
    let secs = f64::from(e.elapsed_ms) / 1000.0;
    let title = e.step.title();
    match e.state {
        StepState::Pending => None,
        StepState::Running => e.message.as_ref().map(|m| match e.percent {
            Some(p) => format!("   [{p:>3.0}%] {m}"),
            None => format!("   {m}"),
        }),
        StepState::Done => Some(format!(
            "[done] {title} ({secs:.1} s){}",
            e.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        StepState::Skipped => Some(format!(
            "[skip] {title}{}",
            e.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        StepState::Failed => {
            let f = e.failure.as_ref();
            Some(format!(
                "[FAIL] {title} ({secs:.1} s): {}\n       What to do: {}",
                f.map(|f| f.message.as_str()).unwrap_or("failed"),
                f.and_then(|f| f.hint.as_deref())
                    .map(for_the_terminal)
                    .unwrap_or_else(|| "see the log".into())
            ))
        }
    }
}

/// Hints are written for the window's buttons; in a terminal the same advice names the
/// commands.
fn for_the_terminal(hint: &str) -> String {
    hint.replace("press \"Set up\" again", "run `istio-playground up` again")
        .replace("Press \"Set up\" again", "Run `istio-playground up` again")
        .replace("Press \"Set up\"", "Run `istio-playground up`")
        .replace("press \"Tear down\"", "run `istio-playground down`")
        .replace("Press \"Tear down\"", "Run `istio-playground down`")
}

/// `up` with its options, or `down` (`None`).
async fn provision_command(session: Arc<Session>, up: Option<SetupOptions>) -> ExitCode {
    let on_ctrl_c = Arc::clone(&session);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nCancelling… (run the same command again to continue)");
            on_ctrl_c.cancel_provisioning();
        }
    });
    let sink: provision::EventSink = std::sync::Arc::new(|e: ProvisionEvent| {
        if let Some(line) = render_event(&e) {
            outln!("{line}");
        }
    });
    let started = std::time::Instant::now();
    let result = match up {
        Some(options) => session.setup(options, sink).await,
        None => session.teardown(sink).await,
    };
    let total = started.elapsed().as_secs_f64();
    match result {
        Ok(()) if up.is_none() => {
            outln!("\nThe playground's cluster is gone ({total:.1} s).");
            ExitCode::SUCCESS
        }
        Ok(()) => {
            outln!(
                "\nThe playground is ready ({total:.1} s): open {}\nkubectl: kubectl --kubeconfig {} --context {} get pods -A",
                session.product_page_url(),
                session.setup_target().kubeconfig.display(),
                session.setup_target().context
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "\nStopped after {total:.1} s: {e}\n{}",
                for_the_terminal(&e.hint().unwrap_or_default())
            );
            ExitCode::FAILURE
        }
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
    fn the_graph_text_says_counts_sidecars_weights_matches_and_findings_in_words() {
        let s = mesh::build(&mesh::samples::bookinfo_teaching()).into_snapshot();
        let text = render_graph(&s);
        assert!(text.starts_with("namespace istio-system"), "{text}");
        for line in [
            "namespace default  (sidecar injection: on (istio-injection=enabled))",
            "  workload reviews-v2  1/1",
            "    pod reviews-v2-fffdf465-t9dfs  2/2  sidecar: ready",
            "    pod ratings-v1-6b977d548d-h7r4c  1/1  sidecar: missing",
            "      ! Warning: no sidecar although namespace default asks for injection",
            "  vs/default/reviews -> subset/default/reviews/v2  30%",
            "  vs/default/bookinfo -> svc/default/productpage  when uri exact /productpage or uri prefix /static or",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn durations_are_seconds_or_written_with_units() {
        assert_eq!(duration_secs("45"), Ok(45.0));
        assert_eq!(duration_secs("2.5"), Ok(2.5));
        assert_eq!(duration_secs("10s"), Ok(10.0));
        assert_eq!(duration_secs("2m"), Ok(120.0));
        assert_eq!(duration_secs("1m30s"), Ok(90.0));
        assert_eq!(duration_secs(" 1m 30s "), Ok(90.0));
        assert!(duration_secs("soon").unwrap_err().contains("1m30s"));
        let cli = Cli::parse_from(["istio-playground", "traffic", "--duration", "1m30s"]);
        assert!(matches!(
            cli.command,
            Some(Command::Traffic {
                duration: Some(90.0),
                ..
            })
        ));
    }

    fn sample_overlay() -> (MeshSnapshot, TrafficState) {
        use playground::mesh::{SplitSeen, TrafficLink, TrafficOverlay};
        use playground::telemetry::LatencyPercentiles;
        let s = mesh::build(&mesh::samples::bookinfo_split()).into_snapshot();
        let link = |source: Option<&str>, target: &str, rate: f64, responses: Vec<ResponseRate>| {
            let errors: f64 = responses
                .iter()
                .filter(|r| r.error)
                .map(|r| r.per_second)
                .sum();
            TrafficLink {
                id: format!("traffic:{}->{target}", source.unwrap_or("outside")),
                source: source.map(String::from),
                target: target.into(),
                service: None,
                requests_per_second: rate,
                error_share: errors / rate,
                responses,
                latency: LatencyPercentiles {
                    p50_ms: Some(2.0),
                    p95_ms: Some(12.25),
                    p99_ms: None,
                },
                mtls_share: source.map(|_| 1.0),
            }
        };
        let ok = |r: f64| ResponseRate {
            code: 200,
            flags: vec![],
            per_second: r,
            error: false,
        };
        let overlay = TrafficOverlay {
            at_ms: 0,
            window_secs: 10.0,
            links: vec![
                link(
                    Some("ingress/istio-system/istio-ingressgateway"),
                    "wl/default/productpage-v1",
                    10.0,
                    vec![ok(10.0)],
                ),
                link(
                    Some("wl/default/productpage-v1"),
                    "svc/default/reviews",
                    2.0,
                    vec![ResponseRate {
                        code: 500,
                        flags: vec!["FI".into()],
                        per_second: 2.0,
                        error: true,
                    }],
                ),
                link(None, "wl/default/productpage-v1", 1.0, vec![ok(1.0)]),
            ],
            splits: vec![SplitSeen {
                route_edge: "route:vs/default/reviews->subset/default/reviews/v1#0.0".into(),
                subset: "subset/default/reviews/v1".into(),
                weight: 60,
                observed_share: Some(0.585),
            }],
            nodes: vec![],
        };
        (s, TrafficState::Live { overlay })
    }

    #[test]
    fn the_graph_text_shows_links_with_rate_errors_p95_and_mtls_and_splits_set_and_seen() {
        let (s, traffic) = sample_overlay();
        let text = render_traffic(&s, Some(&traffic));
        for line in [
            "traffic over the last 10 s:",
            "  istio-ingressgateway -> productpage-v1  10.0 req/s  errors 0.0%  p95 12.2 ms  mTLS",
            "  productpage-v1 -> reviews (service, no pod answered)  2.0 req/s  errors 100.0% (500 FI)  p95 12.2 ms  mTLS",
            "  outside the mesh -> productpage-v1  1.0 req/s  errors 0.0%  p95 12.2 ms  mTLS unknown",
            "splits:\n  subset/default/reviews/v1  60% set, 58.5% seen",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        let watch = traffic_line(&s, &traffic);
        assert!(
            watch.starts_with("--- traffic: istio-ingressgateway -> productpage-v1 10.0/s; productpage-v1 -> reviews (service, no pod answered) 2.0/s (100.0% errors);"),
            "{watch}"
        );
        let problem = TrafficState::Unavailable {
            at_ms: 0,
            problem: playground::telemetry::TelemetryProblem {
                code: playground::ErrorCode::TelemetryStarting,
                message: "Prometheus is still starting: no endpoints".into(),
                hint: Some("Wait a minute.".into()),
            },
        };
        assert_eq!(
            render_traffic(&s, Some(&problem)),
            "traffic: Prometheus is still starting: no endpoints\n  Wait a minute.\n"
        );
        assert_eq!(render_traffic(&s, None), "traffic: no reading yet\n");
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
    fn up_takes_plan_json_and_merge_and_down_takes_nothing() {
        let cli = Cli::parse_from(["istio-playground", "up", "--plan", "--json"]);
        assert!(matches!(
            cli.command,
            Some(Command::Up {
                plan: true,
                json: true,
                merge_kubeconfig: false
            })
        ));
        let cli = Cli::parse_from(["istio-playground", "up", "--merge-kubeconfig"]);
        assert!(matches!(
            cli.command,
            Some(Command::Up {
                plan: false,
                merge_kubeconfig: true,
                ..
            })
        ));
        // --json only means something with --plan.
        assert!(Cli::try_parse_from(["istio-playground", "up", "--json"]).is_err());
        assert!(matches!(
            Cli::parse_from(["istio-playground", "down"]).command,
            Some(Command::Down)
        ));
    }

    #[test]
    fn progress_lines_say_what_failed_and_what_to_do() {
        use playground::provision::{StepFailure, StepId};
        let failed = ProvisionEvent {
            step: StepId::Istio,
            state: StepState::Failed,
            percent: None,
            message: None,
            elapsed_ms: 2500,
            total_elapsed_ms: 9000,
            failure: Some(StepFailure {
                code: playground::ErrorCode::NotReady,
                message: "istiod did not become ready".into(),
                hint: Some("Docker has 2 GiB".into()),
            }),
        };
        assert_eq!(
            render_event(&failed).unwrap(),
            "[FAIL] Install Istio (2.5 s): istiod did not become ready\n       What to do: Docker has 2 GiB"
        );
        let download = ProvisionEvent {
            failure: Some(StepFailure {
                code: playground::ErrorCode::DownloadFailed,
                message: "no network".into(),
                hint: Some(
                    "Check your internet connection, then press \"Set up\" again: it continues."
                        .into(),
                ),
            }),
            ..failed.clone()
        };
        assert!(
            render_event(&download)
                .unwrap()
                .ends_with("then run `istio-playground up` again: it continues.")
        );
        let progress = ProvisionEvent {
            state: StepState::Running,
            percent: Some(42.0),
            message: Some("Downloading".into()),
            failure: None,
            ..failed.clone()
        };
        assert_eq!(render_event(&progress).unwrap(), "   [ 42%] Downloading");
        let silent = ProvisionEvent {
            message: None,
            ..progress
        };
        assert_eq!(render_event(&silent), None);
    }

    #[test]
    fn no_subcommand_means_the_window() {
        assert!(Cli::parse_from(["istio-playground"]).command.is_none());
    }
}
