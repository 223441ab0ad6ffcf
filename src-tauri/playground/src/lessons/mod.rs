//! Lessons: a course through the playground as data. A lesson is a YAML file (schema in
//! `manifests/lessons/README.md`) of steps; each step says what happens and why in plain
//! words, what the graph should spotlight, what its "Do it" button runs (the same actions as
//! the rest of the app: setup, injection, traffic, weights, routing, faults, mTLS...), and a
//! live check of the outcome read from the cluster and Istio's metrics.
//!
//! - [`schema`]: parsing and validating a lesson file, refusing one that does not fit with
//!   the line and what is wrong;
//! - [`check`]: a check's observation (typed figures; the UI and the CLI write the words);
//! - [`progress`]: which steps passed, kept across restarts;
//! - the session runs steps and checks ([`crate::Session::lesson_do`] and friends), so the
//!   window and `istio-playground lesson run` do the same.

pub mod check;
pub mod progress;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::actions::fault::FaultPlan;
use crate::actions::injection::InjectionRequest;
use crate::actions::mtls::MtlsPlan;
use crate::actions::policy::{RetryPlan, TimeoutPlan};
use crate::actions::reset::ResetPlan;
use crate::actions::route::RoutePlan;
use crate::actions::weights::WeightPlan;
use crate::mesh::NodeKind;
use crate::traffic::TrafficSettings;

pub use check::{CheckOutcome, Observation, VersionPercent};
pub use progress::{LessonProgress, LessonState};
pub use schema::{LessonError, parse};

/// The lessons that come with the app, by file name.
const BUILTIN: &[(&str, &str)] = &[(
    "bookinfo-basics.yaml",
    include_str!("../../../../manifests/lessons/bookinfo-basics.yaml"),
)];

/// A course: steps in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct Lesson {
    /// The schema's name and version, [`schema::SCHEMA`].
    #[serde(rename = "schema")]
    pub schema_version: String,
    /// Short, lower-case, with dashes: what `lesson run NAME` takes.
    pub name: String,
    pub title: String,
    pub summary: String,
    /// About how long a class takes.
    #[serde(default)]
    pub minutes: Option<u32>,
    pub steps: Vec<Step>,
}

/// One step of a lesson.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct Step {
    /// Unique in the lesson, lower-case with dashes.
    pub id: String,
    pub title: String,
    /// What happens, in plain words.
    pub what: String,
    /// Why it matters.
    pub why: String,
    /// What the graph spotlights during the step.
    #[serde(default)]
    pub look: Spotlight,
    /// What "Do it" runs, in order; empty for a step that only looks.
    #[serde(default, rename = "do")]
    #[ts(rename = "do")]
    pub actions: Vec<StepAction>,
    /// The live check of the outcome; none for a step with nothing to check.
    #[serde(default)]
    pub check: Option<Check>,
    /// Shown while the check does not pass yet: what to look at or try.
    #[serde(default)]
    pub hint: String,
    /// What "Reset this step" runs.
    #[serde(default)]
    pub reset: Vec<StepAction>,
}

/// What the graph spotlights: nodes by id (or id prefix ending in `-` or `/`) and by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct Spotlight {
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<NodeKind>,
}

/// One thing a step does: the app's own actions, with the same plans the panels and the
/// CLI use. Externally tagged (`- weights: {...}`) so a mistake in a file is reported at its
/// line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub enum StepAction {
    /// Build the playground: the simulated one in simulated mode, else the real setup.
    Setup,
    /// Remove it again.
    Teardown,
    Inject(InjectionRequest),
    /// Start the traffic generator (replacing a running one).
    Traffic(TrafficSettings),
    /// Stop the traffic generator.
    StopTraffic,
    Weights(WeightPlan),
    Route(RoutePlan),
    Fault(FaultPlan),
    Timeout(TimeoutPlan),
    Retries(RetryPlan),
    Mtls(MtlsPlan),
    ResetRouting(ResetPlan),
}

/// A live check of a step's outcome. Percentages are 0 to 100; rates are over the last
/// `window` of Istio's metrics (the session picks it: short for the simulated cluster, long
/// enough for the real addon's 15-second scrapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub enum Check {
    /// The workloads' pods are all ready.
    Ready {
        namespace: String,
        workloads: Vec<String>,
    },
    /// Every pod of the namespace runs a ready sidecar (2/2).
    Sidecars { namespace: String },
    /// Requests reach the service, at least this many per second.
    Traffic {
        namespace: String,
        service: String,
        #[serde(rename = "minPerSecond")]
        min_per_second: f64,
    },
    /// At least this share of the service's answered requests went to one version.
    Split {
        namespace: String,
        service: String,
        version: String,
        #[serde(rename = "atLeast")]
        at_least: f64,
    },
    /// Each version's share is within `within` points of its weight.
    SplitNear {
        namespace: String,
        service: String,
        #[ts(type = "Record<string, number>")]
        weights: BTreeMap<String, u32>,
        within: f64,
    },
    /// At least this share of the service's requests failed (from `source` when given: a
    /// workload name such as `productpage-v1`).
    Errors {
        namespace: String,
        service: String,
        #[serde(default)]
        source: Option<String>,
        #[serde(rename = "atLeast")]
        at_least: f64,
    },
    /// At least this share of the service's requests arrived over mutual TLS.
    Mtls {
        namespace: String,
        service: String,
        #[serde(rename = "atLeast")]
        at_least: f64,
    },
    /// A client outside the mesh (a `curl` pod without a sidecar) is refused by the service
    /// while a client inside the mesh gets an answer: STRICT mutual TLS at work. The app
    /// deploys the two clients the first time (as the mTLS panel's "Try from outside and
    /// inside" does).
    PlainTextRefused { namespace: String, service: String },
    /// The playground is gone.
    ClusterGone,
}

/// Where a lesson comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "type")]
#[ts(export)]
pub enum LessonSource {
    Builtin,
    File { path: String },
}

/// A lesson in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LessonSummary {
    pub name: String,
    pub title: String,
    pub summary: String,
    pub minutes: Option<u32>,
    pub step_count: u32,
    pub source: LessonSource,
}

impl LessonSummary {
    fn of(lesson: &Lesson, source: LessonSource) -> Self {
        LessonSummary {
            name: lesson.name.clone(),
            title: lesson.title.clone(),
            summary: lesson.summary.clone(),
            minutes: lesson.minutes,
            step_count: lesson.steps.len() as u32,
            source,
        }
    }
}

/// One action a step ran, with what it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppliedAction {
    pub action: StepAction,
    /// The YAML it applied, when it wrote objects.
    pub yaml: Option<String>,
    /// The kubectl commands that do the same by hand (a command may carry its YAML as a
    /// here-document), empty for actions kubectl does not do (setup, traffic).
    pub kubectl: String,
}

/// What "Do it" or "Reset this step" did.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StepRun {
    pub step: String,
    pub applied: Vec<AppliedAction>,
}

/// What [`crate::Session::run_lesson`] reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "type"
)]
#[ts(export)]
pub enum RunEvent {
    Started {
        index: u32,
        step: String,
    },
    Applied {
        run: StepRun,
    },
    /// `outcome` is None for a step without a check.
    Passed {
        step: String,
        outcome: Option<CheckOutcome>,
        secs: f64,
    },
    Failed {
        step: String,
        failure: RunFailure,
    },
    /// Not run because an earlier step failed.
    Skipped {
        step: String,
    },
}

/// Why a step failed in a run.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "type"
)]
#[ts(export)]
pub enum RunFailure {
    /// "Do it" failed.
    Action {
        message: String,
        hint: Option<String>,
    },
    /// The check did not pass in time; its last outcome, or why it could not run.
    CheckTimedOut {
        after_secs: f64,
        last: Option<CheckOutcome>,
        error: Option<String>,
    },
}

/// The app's lessons: the built-in ones, then the files a teacher added to `dir` (sorted by
/// file name). A user file with the name of an earlier lesson is skipped with a warning; a
/// file that no longer fits the schema is skipped too (opening it shows why).
pub fn all(dir: &Path) -> Vec<(Lesson, LessonSource)> {
    let mut out: Vec<(Lesson, LessonSource)> = builtin()
        .iter()
        .map(|lesson| (lesson.clone(), LessonSource::Builtin))
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    for path in files {
        match read_file(&path) {
            Ok(lesson) if out.iter().any(|(l, _)| l.name == lesson.name) => {
                tracing::warn!(path = %path.display(), name = %lesson.name, "a lesson of that name exists; file skipped");
            }
            Ok(lesson) => out.push((
                lesson,
                LessonSource::File {
                    path: path.display().to_string(),
                },
            )),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "lesson file skipped"),
        }
    }
    out
}

/// The lessons that come with the app, parsed once: `all` runs on every check of a step.
fn builtin() -> &'static [Lesson] {
    static PARSED: std::sync::LazyLock<Vec<Lesson>> = std::sync::LazyLock::new(|| {
        BUILTIN
            .iter()
            .map(|(file, text)| {
                parse(text).unwrap_or_else(|e| panic!("built-in lesson {file}: {e}"))
            })
            .collect()
    });
    &PARSED
}

/// The summaries of [`all`].
pub fn list(dir: &Path) -> Vec<LessonSummary> {
    all(dir)
        .iter()
        .map(|(l, s)| LessonSummary::of(l, s.clone()))
        .collect()
}

/// The lesson called `name`.
pub fn find(dir: &Path, name: &str) -> Result<Lesson, LessonError> {
    let lessons = all(dir);
    let known = lessons.iter().map(|(l, _)| l.name.clone()).collect();
    lessons
        .into_iter()
        .map(|(l, _)| l)
        .find(|l| l.name == name)
        .ok_or_else(|| LessonError::Unknown {
            name: name.into(),
            known,
        })
}

/// Reads and validates a lesson file.
pub fn read_file(path: &Path) -> Result<Lesson, LessonError> {
    parse(&read_text(path)?)
}

fn read_text(path: &Path) -> Result<String, LessonError> {
    std::fs::read_to_string(path).map_err(|e| LessonError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Validates `path` and copies it into `dir` (as `<name>.yaml`), so it is listed from now on.
/// Nothing is copied when it does not fit the schema or a built-in lesson has its name.
pub fn add_file(dir: &Path, path: &Path) -> Result<LessonSummary, LessonError> {
    let text = read_text(path)?;
    let lesson = parse(&text)?;
    if builtin().iter().any(|b| b.name == lesson.name) {
        return Err(LessonError::NameTaken {
            name: lesson.name.clone(),
        });
    }
    let target = dir.join(format!("{}.yaml", lesson.name));
    std::fs::create_dir_all(dir)
        .and_then(|()| crate::paths::write_atomically(&target, text.as_bytes()))
        .map_err(|e| LessonError::Read {
            path: target.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(LessonSummary::of(
        &lesson,
        LessonSource::File {
            path: target.display().to_string(),
        },
    ))
}

impl Lesson {
    pub fn step(&self, id: &str) -> Result<&Step, LessonError> {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| LessonError::UnknownStep {
                lesson: self.name.clone(),
                step: id.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_lessons_fit_the_schema() {
        for (file, text) in BUILTIN {
            let lesson = parse(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(format!("{}.yaml", lesson.name), *file);
            assert!(
                lesson.steps.len() >= 8,
                "{file} has {} steps",
                lesson.steps.len()
            );
        }
    }

    #[test]
    fn a_teachers_file_is_listed_after_it_is_added_and_a_bad_one_is_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let lessons = dir.path().join("lessons");
        let good = dir.path().join("mine.yaml");
        std::fs::write(
            &good,
            "schema: istio-playground/lesson/v1\nname: my-class\ntitle: Mine\nsummary: S\nsteps:\n  - id: one\n    title: One\n    what: W\n    why: Y\n",
        )
        .unwrap();
        let added = add_file(&lessons, &good).unwrap();
        assert_eq!(added.name, "my-class");
        assert_eq!(added.step_count, 1);
        let names: Vec<_> = list(&lessons).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["bookinfo-basics", "my-class"]);

        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            "schema: istio-playground/lesson/v1\nname: bad-one\ntitle: T\nsummary: S\nsteps:\n  - id: one\n    title: One\n    what: W\n    why: Y\n    chek: {clusterGone: null}\n",
        )
        .unwrap();
        let err = add_file(&lessons, &bad).unwrap_err();
        assert!(
            matches!(err, LessonError::Invalid { line: Some(10), .. }),
            "{err:?}"
        );
        assert!(!lessons.join("bad-one.yaml").exists());

        let builtin_name = dir.path().join("again.yaml");
        std::fs::write(
            &builtin_name,
            "schema: istio-playground/lesson/v1\nname: bookinfo-basics\ntitle: T\nsummary: S\nsteps:\n  - id: one\n    title: One\n    what: W\n    why: Y\n",
        )
        .unwrap();
        assert!(matches!(
            add_file(&lessons, &builtin_name),
            Err(LessonError::NameTaken { .. })
        ));
    }
}
