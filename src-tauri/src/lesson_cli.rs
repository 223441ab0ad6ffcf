//! `istio-playground lesson ...`: list, validate and run lessons without the window. `lesson
//! run` is a course's own test: it runs each step's "Do it" and waits for its check, as a
//! class would, and prints pass or fail per step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use crate::cli::outln;
use playground::Session;
use playground::lessons::{self, Check, Lesson, LessonSource, Observation, RunEvent, RunFailure};

#[derive(Debug, Subcommand)]
pub enum LessonCommand {
    /// The lessons: the ones that come with the app and the ones a teacher added.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Check a lesson file against the schema; prints the line and what is wrong.
    Validate { file: PathBuf },
    /// Run every step's action and wait for its check, in order; prints pass/fail per step
    /// and exits non-zero at the first step whose check does not pass in time.
    Run {
        /// The lesson's name (`lesson list`) or a lesson file.
        name: String,
        /// Build a simulated playground for the setup step instead of the real one.
        #[arg(long)]
        simulated: bool,
        /// How long each step's check may take to pass, in seconds.
        #[arg(long, default_value_t = 120)]
        step_timeout: u64,
    },
}

pub fn run(
    command: LessonCommand,
    session: &Session,
    runtime: &tokio::runtime::Runtime,
) -> ExitCode {
    match command {
        LessonCommand::List { json } => {
            let list = session.lessons();
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                for l in list {
                    let source = match l.source {
                        LessonSource::Builtin => "built in".to_string(),
                        LessonSource::File { path } => path,
                    };
                    let minutes = l
                        .minutes
                        .map(|m| format!(", about {m} min"))
                        .unwrap_or_default();
                    outln!(
                        "{:<24} {} ({} steps{minutes}; {source})",
                        l.name,
                        l.title,
                        l.step_count
                    );
                }
            }
            ExitCode::SUCCESS
        }
        LessonCommand::Validate { file } => match lessons::read_file(&file) {
            Ok(lesson) => {
                outln!(
                    "{}: fits the schema: lesson {:?}, {} steps",
                    file.display(),
                    lesson.name,
                    lesson.steps.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                if let Some(hint) = e.hint() {
                    eprintln!("  {hint}");
                }
                ExitCode::FAILURE
            }
        },
        LessonCommand::Run {
            name,
            simulated,
            step_timeout,
        } => {
            let lesson = if name.ends_with(".yaml") || name.ends_with(".yml") {
                lessons::read_file(std::path::Path::new(&name)).map_err(playground::Error::from)
            } else {
                session.lesson(&name)
            };
            let lesson = match lesson {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("istio-playground: {e}");
                    if let Some(hint) = e.hint() {
                        eprintln!("  {hint}");
                    }
                    return ExitCode::FAILURE;
                }
            };
            let passed = runtime.block_on(run_lesson(
                session,
                &lesson,
                simulated,
                Duration::from_secs(step_timeout),
            ));
            if simulated {
                runtime.block_on(session.stop_simulated());
            }
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Runs the steps in order through the session and prints what happens.
async fn run_lesson(
    session: &Session,
    lesson: &Lesson,
    simulated: bool,
    timeout: Duration,
) -> bool {
    let total = lesson.steps.len();
    outln!("{} ({total} steps)", lesson.title);
    let check_of = |id: &str| {
        lesson
            .steps
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.check.as_ref())
    };
    let passed = session
        .run_lesson(lesson, simulated, timeout, |event| match event {
            RunEvent::Started { index, step } => {
                let title = lesson
                    .step(&step)
                    .map(|s| s.title.as_str())
                    .unwrap_or_default();
                outln!("\n{}/{total} {title}", index + 1);
            }
            // The commands only; their YAML is in the window and `lesson_do`'s answer.
            RunEvent::Applied { run } => {
                for a in &run.applied {
                    for line in a.kubectl.lines().filter(|l| l.starts_with("kubectl ")) {
                        outln!("    $ {line}");
                    }
                }
            }
            RunEvent::Passed {
                step,
                outcome,
                secs,
            } => match (outcome, check_of(&step)) {
                (Some(o), Some(check)) => outln!(
                    "PASS  {step}: {} ({secs:.0} s)",
                    observation_text(check, &o.observed)
                ),
                _ => outln!("PASS  {step} (nothing to check)"),
            },
            RunEvent::Failed { step, failure } => match failure {
                RunFailure::Action { message, hint } => {
                    outln!("FAIL  {step}: \"Do it\" failed: {message}");
                    if let Some(hint) = hint {
                        outln!("      {hint}");
                    }
                }
                RunFailure::CheckTimedOut {
                    after_secs,
                    last,
                    error,
                } => {
                    let seen = match (last, error, check_of(&step)) {
                        (Some(o), _, Some(check)) => observation_text(check, &o.observed),
                        (_, Some(e), _) => format!("the check could not run: {e}"),
                        _ => "nothing observed".into(),
                    };
                    outln!("FAIL  {step}: not passed after {after_secs:.0} s: {seen}");
                    if let Ok(s) = lesson.step(&step) {
                        outln!("      {}", s.hint.trim());
                    }
                }
            },
            RunEvent::Skipped { step } => outln!("SKIP  {step} (not run)"),
        })
        .await;
    if passed {
        outln!("\nAll {total} steps passed.");
    }
    passed
}

/// The sentence for a check's observation (the window writes its own).
pub fn observation_text(check: &Check, observed: &Observation) -> String {
    let pct = |p: f64| format!("{p:.0}%");
    match (check, observed) {
        (
            _,
            Observation::Ready {
                ready,
                wanted,
                not_ready,
            },
        ) => {
            if not_ready.is_empty() {
                format!("all {wanted} workloads are ready")
            } else {
                format!(
                    "{ready} of {wanted} workloads ready; waiting for {}",
                    not_ready.join(", ")
                )
            }
        }
        (
            _,
            Observation::Sidecars {
                with_sidecar,
                pods,
                without,
            },
        ) => {
            if *pods == 0 {
                "the namespace has no pods".into()
            } else if without.is_empty() {
                format!("all {pods} pods run a ready sidecar")
            } else {
                format!(
                    "{with_sidecar} of {pods} pods have a ready sidecar; not yet: {}",
                    without.join(", ")
                )
            }
        }
        (
            Check::Traffic {
                service,
                min_per_second,
                ..
            },
            Observation::Traffic { per_second },
        ) => {
            format!(
                "{service} receives {per_second:.1} requests/s (needs at least {min_per_second})"
            )
        }
        (
            _,
            Observation::Split {
                answered_per_second,
                versions,
            },
        ) => {
            if *answered_per_second == 0.0 {
                return "no answered requests in the metrics yet".into();
            }
            let shares = versions
                .iter()
                .map(|v| match v.expected {
                    Some(w) => format!("{} {} (set {w}%)", v.version, pct(v.percent)),
                    None => format!("{} {}", v.version, pct(v.percent)),
                })
                .collect::<Vec<_>>()
                .join(", ");
            match check {
                Check::Split {
                    service,
                    version,
                    at_least,
                    ..
                } => format!(
                    "{service}: {shares}; needs at least {} to {version}",
                    pct(*at_least)
                ),
                Check::SplitNear {
                    service, within, ..
                } => {
                    format!("{service}: {shares}; each within {within:.0} points")
                }
                _ => shares,
            }
        }
        (
            Check::Errors {
                service,
                source,
                at_least,
                ..
            },
            Observation::Errors {
                per_second,
                percent,
            },
        ) => {
            let from = source
                .as_deref()
                .map(|s| format!(" from {s}"))
                .unwrap_or_default();
            match percent {
                Some(p) => format!(
                    "{} of {per_second:.1} requests/s to {service}{from} failed (needs at least {})",
                    pct(*p),
                    pct(*at_least)
                ),
                None => format!("no requests to {service}{from} in the metrics yet"),
            }
        }
        (
            Check::Mtls {
                service, at_least, ..
            },
            Observation::Mtls { percent, .. },
        ) => match percent {
            Some(p) => format!(
                "{} of the requests to {service} used mutual TLS (needs at least {})",
                pct(*p),
                pct(*at_least)
            ),
            None => format!("no sidecar reported requests to {service} yet"),
        },
        (
            _,
            Observation::Clients {
                outside_status,
                outside_error,
                inside_status,
            },
        ) => {
            let said = |s: &Option<u16>, error: &str| match s {
                Some(s) => format!("HTTP {s}"),
                None if error.is_empty() => "no answer".into(),
                None => format!("no answer ({})", error.trim()),
            };
            format!(
                "from outside the mesh: {}; from inside: {}",
                said(outside_status, outside_error),
                said(inside_status, "")
            )
        }
        (_, Observation::NoFigures { problem }) => {
            format!("no traffic figures: {}", problem.message)
        }
        (_, Observation::ClusterGone { gone: true }) => "the playground is gone".into(),
        (_, Observation::ClusterGone { gone: false }) => "the playground still runs".into(),
        // A check always yields its own kind of observation; these say the figure plainly.
        (_, Observation::Traffic { per_second }) => format!("{per_second:.1} requests/s"),
        (_, Observation::Errors { percent, .. }) => {
            percent.map_or("no requests yet".into(), |p| format!("{} failed", pct(p)))
        }
        (_, Observation::Mtls { percent, .. }) => percent.map_or("no reports yet".into(), |p| {
            format!("{} over mutual TLS", pct(p))
        }),
    }
}
