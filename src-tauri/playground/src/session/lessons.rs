//! Lessons in the session: a step's "Do it" runs the same session methods as the panels and
//! the CLI, and its check reads the same cluster and metrics the graph shows.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use super::{Session, SetupOptions, state_dir};
use crate::actions::injection;
use crate::lessons::check::{self, DeploymentReady};
use crate::lessons::{
    self, AppliedAction, Check, CheckOutcome, Lesson, LessonError, LessonProgress, LessonSummary,
    Observation, RunEvent, RunFailure, StepAction, StepRun,
};
use crate::mesh::inputs::PodInfo;
use crate::telemetry::{Prometheus, TelemetryProblem, read_traffic};
use crate::{Error, Result};

/// Rates for a check are averaged over this much time. The simulated Prometheus scrapes
/// every second, so a short window follows a change within seconds; the real addon scrapes
/// every 15 s and `rate()` needs two samples, so it needs a minute.
const SIMULATED_WINDOW: Duration = Duration::from_secs(15);
const REAL_WINDOW: Duration = Duration::from_secs(60);

impl Session {
    /// Folder of the lessons a teacher added.
    pub fn lessons_dir(&self) -> std::path::PathBuf {
        self.dirs().root().join("lessons")
    }

    pub fn lessons(&self) -> Vec<LessonSummary> {
        lessons::list(&self.lessons_dir())
    }

    pub fn lesson(&self, name: &str) -> Result<Lesson> {
        Ok(lessons::find(&self.lessons_dir(), name)?)
    }

    /// Validates a teacher's lesson file and adds it to the list.
    pub fn add_lesson_file(&self, path: &std::path::Path) -> Result<LessonSummary> {
        Ok(lessons::add_file(&self.lessons_dir(), path)?)
    }

    pub fn lesson_progress(&self) -> LessonProgress {
        lessons::progress::load(&state_dir(self.dirs()))
    }

    pub fn save_lesson_progress(&self, progress: &LessonProgress) -> Result<()> {
        let dir = state_dir(self.dirs());
        lessons::progress::save(&dir, progress).map_err(|e| Error::io(dir, e))
    }

    /// Runs a step's actions in order ("Do it"); `simulated` picks what `setup` builds. With
    /// `dry_run`, actions that write objects only say what they would write and the others
    /// are listed without running (a step's YAML and kubectl commands, for slides).
    #[tracing::instrument(skip(self))]
    pub async fn lesson_do(
        &self,
        lesson: &str,
        step: &str,
        simulated: bool,
        dry_run: bool,
    ) -> Result<StepRun> {
        let lesson = self.lesson(lesson)?;
        let step = lesson.step(step)?;
        self.run_step_actions(&step.id, &step.actions, simulated, dry_run)
            .await
    }

    /// Runs a step's reset actions ("Reset this step").
    #[tracing::instrument(skip(self))]
    pub async fn lesson_reset_step(&self, lesson: &str, step: &str) -> Result<StepRun> {
        let lesson = self.lesson(lesson)?;
        let step = lesson.step(step)?;
        let simulated = self.is_simulated().await;
        self.run_step_actions(&step.id, &step.reset, simulated, false)
            .await
    }

    async fn run_step_actions(
        &self,
        step: &str,
        actions: &[StepAction],
        simulated: bool,
        dry_run: bool,
    ) -> Result<StepRun> {
        let mut applied = Vec::new();
        for action in actions {
            let (yaml, kubectl) = self.run_action(action, simulated, dry_run).await?;
            applied.push(AppliedAction {
                action: action.clone(),
                yaml: yaml.filter(|y| !y.is_empty()),
                kubectl,
            });
        }
        Ok(StepRun {
            step: step.into(),
            applied,
        })
    }

    /// One action; returns the YAML it wrote and the kubectl commands for it.
    async fn run_action(
        &self,
        action: &StepAction,
        simulated: bool,
        dry_run: bool,
    ) -> Result<(Option<String>, String)> {
        let change = |c: crate::actions::backup::TrafficChange| (Some(c.yaml), c.kubectl);
        Ok(match action {
            StepAction::Setup if dry_run => (None, String::new()),
            StepAction::Setup if simulated => {
                self.start_simulated(crate::simulated::playground_options(), None)
                    .await?;
                (None, String::new())
            }
            StepAction::Setup => {
                let sink: crate::provision::EventSink = Arc::new(|event| {
                    tracing::info!(?event, "lesson setup");
                });
                self.setup(SetupOptions::default(), sink).await?;
                (None, String::new())
            }
            StepAction::Teardown if dry_run => (None, String::new()),
            StepAction::Teardown => {
                self.stop_traffic();
                if !self.stop_simulated().await {
                    let sink: crate::provision::EventSink = Arc::new(|event| {
                        tracing::info!(?event, "lesson teardown");
                    });
                    self.teardown(sink).await?;
                }
                (None, String::new())
            }
            StepAction::Inject(request) if dry_run => {
                let mut kubectl = vec![injection::label_command(request)];
                if request.restart {
                    kubectl.push(injection::restart_command(&request.namespace, None));
                }
                (None, kubectl.join("\n"))
            }
            StepAction::Inject(request) => {
                let report = self.set_injection(request, SystemTime::now()).await?;
                (None, report.kubectl.join("\n"))
            }
            StepAction::Traffic(settings) => {
                settings.validate()?;
                if !dry_run {
                    if self.stop_traffic() {
                        self.finish_traffic().await;
                    }
                    self.start_traffic(settings.clone(), None, |_| {}).await?;
                }
                (None, String::new())
            }
            StepAction::StopTraffic => {
                if !dry_run && self.stop_traffic() {
                    self.finish_traffic().await;
                }
                (None, String::new())
            }
            StepAction::Weights(plan) => {
                let c = if dry_run {
                    self.preview_weights(plan).await?
                } else {
                    self.apply_weights(plan).await?
                };
                (Some(c.yaml), c.kubectl)
            }
            StepAction::Route(plan) => change(self.route(plan, dry_run).await?),
            StepAction::Fault(plan) => change(self.fault(plan, dry_run).await?.change),
            StepAction::Timeout(plan) => change(self.set_timeout(plan, dry_run).await?),
            StepAction::Retries(plan) => change(self.set_retries(plan, dry_run).await?),
            StepAction::Mtls(plan) => change(self.set_mtls(plan, dry_run).await?),
            StepAction::ResetRouting(plan) => {
                let report = self.reset_routing(plan, dry_run).await?;
                (None, report.change.kubectl)
            }
        })
    }

    /// The step's check, now; None for a step without one.
    #[tracing::instrument(skip(self))]
    pub async fn lesson_check(&self, lesson: &str, step: &str) -> Result<Option<CheckOutcome>> {
        let lesson = self.lesson(lesson)?;
        let step = lesson.step(step)?;
        match &step.check {
            Some(check) => Ok(Some(self.evaluate(check).await?)),
            None => Ok(None),
        }
    }

    /// Runs a whole lesson as a class would: each step's actions, then its check until it
    /// passes or `timeout` has gone by. Stops at the first step that fails; the rest are
    /// reported as skipped. True when every step passed.
    #[tracing::instrument(skip_all, fields(lesson = %lesson.name, simulated))]
    pub async fn run_lesson(
        &self,
        lesson: &Lesson,
        simulated: bool,
        timeout: Duration,
        mut on_event: impl FnMut(RunEvent),
    ) -> bool {
        for (index, step) in lesson.steps.iter().enumerate() {
            let started = std::time::Instant::now();
            on_event(RunEvent::Started {
                index: index as u32,
                step: step.id.clone(),
            });
            match self
                .run_step_actions(&step.id, &step.actions, simulated, false)
                .await
            {
                Ok(run) => on_event(RunEvent::Applied { run }),
                Err(e) => {
                    on_event(RunEvent::Failed {
                        step: step.id.clone(),
                        failure: RunFailure::Action {
                            message: e.to_string(),
                            hint: e.hint(),
                        },
                    });
                    skip_rest(lesson, index + 1, &mut on_event);
                    return false;
                }
            }
            let Some(check) = &step.check else {
                on_event(RunEvent::Passed {
                    step: step.id.clone(),
                    outcome: None,
                    secs: started.elapsed().as_secs_f64(),
                });
                continue;
            };
            loop {
                let (outcome, error) = match self.evaluate(check).await {
                    Ok(o) => (Some(o), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                if outcome.as_ref().is_some_and(|o| o.passed) {
                    on_event(RunEvent::Passed {
                        step: step.id.clone(),
                        outcome,
                        secs: started.elapsed().as_secs_f64(),
                    });
                    break;
                }
                if started.elapsed() >= timeout {
                    on_event(RunEvent::Failed {
                        step: step.id.clone(),
                        failure: RunFailure::CheckTimedOut {
                            after_secs: timeout.as_secs_f64(),
                            last: outcome,
                            error,
                        },
                    });
                    skip_rest(lesson, index + 1, &mut on_event);
                    return false;
                }
                tokio::time::sleep(CHECK_EVERY).await;
            }
        }
        true
    }

    async fn evaluate(&self, check: &Check) -> Result<CheckOutcome> {
        let now = SystemTime::now();
        let at_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let outcome = |(passed, observed): (bool, Observation), window: Option<f64>| CheckOutcome {
            passed,
            at_ms,
            window_secs: window,
            observed,
        };
        match check {
            Check::ClusterGone => {
                // The simulated playground this session runs is there until it is stopped;
                // any other cluster is gone when its API server no longer answers.
                let gone = self.simulated.lock().await.is_none()
                    && crate::provision::cluster::target_answers(&self.target())
                        .await
                        .is_err();
                Ok(outcome((gone, Observation::ClusterGone { gone }), None))
            }
            Check::Ready {
                namespace,
                workloads,
            } => {
                let deployments = self.deployments(namespace).await?;
                Ok(outcome(check::ready(workloads, &deployments), None))
            }
            Check::PlainTextRefused { namespace, service } => {
                let report = self
                    .probe_clients(&crate::actions::client::ClientProbe {
                        service: service.clone(),
                        namespace: namespace.clone(),
                        path: None,
                    })
                    .await?;
                Ok(outcome(check::clients(&report), None))
            }
            Check::Sidecars { namespace } => {
                let client = self.client().await?;
                let pods: Vec<PodInfo> = Api::<Pod>::namespaced(client, namespace)
                    .list(&ListParams::default())
                    .await?
                    .items
                    .iter()
                    .filter_map(PodInfo::from_k8s)
                    .collect();
                Ok(outcome(check::sidecars(&pods), None))
            }
            traffic_check => {
                let window = if self.is_simulated().await {
                    SIMULATED_WINDOW
                } else {
                    REAL_WINDOW
                };
                let prom = Prometheus::from_config(self.target().config().await?)?
                    .with_timeout(Duration::from_secs(5));
                match read_traffic(&prom, window, now).await {
                    Ok(snapshot) => Ok(outcome(
                        check::traffic(traffic_check, &snapshot),
                        Some(window.as_secs_f64()),
                    )),
                    Err(e) => Ok(outcome(
                        (
                            false,
                            Observation::NoFigures {
                                problem: TelemetryProblem::from(&e),
                            },
                        ),
                        Some(window.as_secs_f64()),
                    )),
                }
            }
        }
    }

    async fn deployments(&self, namespace: &str) -> Result<Vec<DeploymentReady>> {
        let client = self.client().await?;
        let list = Api::<Deployment>::namespaced(client, namespace)
            .list(&ListParams::default())
            .await?;
        Ok(list
            .items
            .iter()
            .filter_map(|d| {
                let name = d.metadata.name.clone()?;
                let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let status = d.status.as_ref();
                let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
                let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
                let total = status.and_then(|s| s.replicas).unwrap_or(0);
                // Ready as `kubectl rollout status` sees it: every replica updated and ready,
                // no old ones left.
                Some(DeploymentReady {
                    name,
                    ready: wanted > 0 && ready >= wanted && updated >= wanted && total <= wanted,
                })
            })
            .collect())
    }
}

/// How often [`Session::run_lesson`] looks again at a check that does not pass yet.
const CHECK_EVERY: Duration = Duration::from_secs(2);

fn skip_rest(lesson: &Lesson, from: usize, on_event: &mut impl FnMut(RunEvent)) {
    for step in &lesson.steps[from..] {
        on_event(RunEvent::Skipped {
            step: step.id.clone(),
        });
    }
}

impl From<LessonError> for Error {
    fn from(e: LessonError) -> Self {
        Error::Lesson(e)
    }
}
