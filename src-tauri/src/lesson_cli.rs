//! `istio-playground lesson ...`: list, validate and run lessons without the window. `lesson
//! run` is a course's own test: it runs each step's "Do it" and waits for its check, as a
//! class would, and prints pass or fail per step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use playground::Session;
use playground::lessons::{self, Check, Lesson, LessonSource, Observation};

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
                println!(
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
                    println!(
                        "{:<24} {} ({} steps{minutes}; {source})",
                        l.name, l.title, l.step_count
                    );
                }
            }
            ExitCode::SUCCESS
        }
        LessonCommand::Validate { file } => match lessons::read_file(&file) {
            Ok(lesson) => {
                println!(
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

/// Runs the steps in order; false at the first that fails (the rest are listed as not run).
async fn run_lesson(
    session: &Session,
    lesson: &Lesson,
    simulated: bool,
    timeout: Duration,
) -> bool {
    println!("{} ({} steps)", lesson.title, lesson.steps.len());
    let total = lesson.steps.len();
    for (i, step) in lesson.steps.iter().enumerate() {
        let started = Instant::now();
        println!("\n{}/{total} {}", i + 1, step.title);
        match session
            .lesson_do(&lesson.name, &step.id, simulated, false)
            .await
        {
            Ok(run) => {
                // The commands only; their YAML is in `lesson_do`'s answer and the window.
                for a in &run.applied {
                    for line in a.kubectl.lines().filter(|l| l.starts_with("kubectl ")) {
                        println!("    $ {line}");
                    }
                }
            }
            Err(e) => {
                println!("FAIL  {}: \"Do it\" failed: {e}", step.id);
                if let Some(hint) = e.hint() {
                    println!("      {hint}");
                }
                not_run(lesson, i + 1);
                return false;
            }
        }
        let Some(check) = &step.check else {
            println!("PASS  {} (nothing to check)", step.id);
            continue;
        };
        loop {
            let (outcome, error) = match session.lesson_check(&lesson.name, &step.id).await {
                Ok(outcome) => (outcome, None),
                Err(e) => (None, Some(e.to_string())),
            };
            if let Some(o) = outcome.as_ref().filter(|o| o.passed) {
                println!(
                    "PASS  {}: {} ({:.0} s)",
                    step.id,
                    observation_text(check, &o.observed),
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            if started.elapsed() >= timeout {
                let seen = match (&outcome, &error) {
                    (Some(o), _) => observation_text(check, &o.observed),
                    (None, Some(e)) => format!("the check could not run: {e}"),
                    (None, None) => "nothing observed".into(),
                };
                println!(
                    "FAIL  {}: not passed after {} s: {seen}",
                    step.id,
                    timeout.as_secs()
                );
                println!("      {}", step.hint.trim());
                not_run(lesson, i + 1);
                return false;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    println!("\nAll {total} steps passed.");
    true
}

fn not_run(lesson: &Lesson, from: usize) {
    for step in &lesson.steps[from..] {
        println!("SKIP  {} (not run)", step.id);
    }
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
