//! Runs steps in order with events, timing and cancel. Knows nothing about kind or Istio.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{Error, EventSink, ProvisionEvent, StepFailure, StepId, StepState};

/// How a step ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The step acted; the text says what it did.
    Done(String),
    /// Nothing to do: already in place (or not needed here); the text says why.
    Skipped(String),
}

/// One step of a plan: checks, then acts on what is missing.
pub trait Step: Send + Sync {
    fn id(&self) -> StepId;
    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, crate::Result<Outcome>>;
}

/// What a running step can report through, and its cancel.
pub struct StepCtx {
    pub step: StepId,
    pub cancel: CancellationToken,
    sink: EventSink,
    run_started: Instant,
    started: Instant,
    /// Last percent sent, as f32 bits, to avoid flooding the UI with equal values.
    last_percent: AtomicU32,
}

impl StepCtx {
    fn event(&self, state: StepState, percent: Option<f32>, message: Option<String>) {
        (self.sink)(ProvisionEvent {
            step: self.step,
            state,
            percent,
            message,
            elapsed_ms: millis(self.started),
            total_elapsed_ms: millis(self.run_started),
            failure: None,
        });
    }

    /// A line for the step's log (also written to the app log).
    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!(step = ?self.step, "{line}");
        self.event(StepState::Running, None, Some(line));
    }

    /// How far the step is, 0 to 100, with an optional log line.
    pub fn progress(&self, percent: f32, line: Option<String>) {
        let percent = percent.clamp(0.0, 100.0);
        let rounded = (percent * 10.0).round() / 10.0;
        let previous = f32::from_bits(self.last_percent.swap(rounded.to_bits(), Ordering::Relaxed));
        if line.is_none() && previous == rounded {
            return;
        }
        if let Some(l) = &line {
            tracing::info!(step = ?self.step, percent = rounded, "{l}");
        }
        self.event(StepState::Running, Some(rounded), line);
    }

    /// Fails with `Cancelled` when the user cancelled.
    pub fn check_cancel(&self) -> Result<(), Error> {
        if self.cancel.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

fn millis(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX)
}

/// Runs `steps` in order. Every step is announced `pending` first; each then goes `running`
/// and ends `done`, `skipped` or `failed`. The first failure (or a cancel) stops the run and
/// is returned; steps after it stay `pending`.
pub async fn run_steps(
    steps: &[Box<dyn Step>],
    sink: EventSink,
    cancel: CancellationToken,
) -> crate::Result<()> {
    let run_started = Instant::now();
    for step in steps {
        sink(ProvisionEvent {
            step: step.id(),
            state: StepState::Pending,
            percent: None,
            message: None,
            elapsed_ms: 0,
            total_elapsed_ms: 0,
            failure: None,
        });
    }
    for step in steps {
        let ctx = StepCtx {
            step: step.id(),
            cancel: cancel.clone(),
            sink: Arc::clone(&sink),
            run_started,
            started: Instant::now(),
            last_percent: AtomicU32::new(f32::NAN.to_bits()),
        };
        let span = tracing::info_span!("step", id = ?step.id());
        ctx.event(
            StepState::Running,
            None,
            Some(format!("{}…", step.id().title())),
        );
        let result = if cancel.is_cancelled() {
            Err(Error::Cancelled.into())
        } else {
            tokio::select! {
                biased;
                // Dropping the step's future stops its child processes (kill_on_drop) and
                // its downloads.
                _ = cancel.cancelled() => Err(Error::Cancelled.into()),
                r = tracing::Instrument::instrument(step.run(&ctx), span) => r,
            }
        };
        match result {
            Ok(Outcome::Done(text)) => {
                tracing::info!(step = ?step.id(), elapsed_ms = millis(ctx.started), "{text}");
                ctx.event(StepState::Done, Some(100.0), Some(text));
            }
            Ok(Outcome::Skipped(text)) => {
                tracing::info!(step = ?step.id(), "skipped: {text}");
                ctx.event(StepState::Skipped, None, Some(text));
            }
            Err(e) => {
                tracing::warn!(step = ?step.id(), code = %e.code(), "step failed: {e}");
                sink(ProvisionEvent {
                    step: step.id(),
                    state: StepState::Failed,
                    percent: None,
                    message: Some(e.to_string()),
                    elapsed_ms: millis(ctx.started),
                    total_elapsed_ms: millis(run_started),
                    failure: Some(StepFailure::from(&e)),
                });
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// A step whose work is "done" once it has run successfully; it fails while
    /// `fail_runs` is above zero, the way a real step fails until its cause is fixed.
    struct Scripted {
        id: StepId,
        done: Arc<Mutex<bool>>,
        fail_runs: AtomicUsize,
        acted: AtomicUsize,
    }

    impl Step for Scripted {
        fn id(&self) -> StepId {
            self.id
        }
        fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, crate::Result<Outcome>> {
            Box::pin(async move {
                if *self.done.lock().unwrap() {
                    return Ok(Outcome::Skipped("already there".into()));
                }
                self.acted.fetch_add(1, Ordering::SeqCst);
                ctx.progress(50.0, Some("half".into()));
                if self.fail_runs.load(Ordering::SeqCst) > 0 {
                    self.fail_runs.fetch_sub(1, Ordering::SeqCst);
                    return Err(Error::Download {
                        url: "u".into(),
                        reason: "offline".into(),
                    }
                    .into());
                }
                *self.done.lock().unwrap() = true;
                Ok(Outcome::Done("made".into()))
            })
        }
    }

    fn collector() -> (EventSink, Arc<Mutex<Vec<ProvisionEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = Arc::clone(&events);
        (Arc::new(move |ev| e.lock().unwrap().push(ev)), events)
    }

    fn finals(events: &[ProvisionEvent]) -> Vec<(StepId, StepState)> {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e.state,
                    StepState::Done | StepState::Skipped | StepState::Failed
                )
            })
            .map(|e| (e.step, e.state))
            .collect()
    }

    #[tokio::test]
    async fn a_failure_at_any_step_stops_the_run_and_the_next_run_resumes_there() {
        for failing in 0..StepId::SETUP.len() {
            let steps: Vec<Arc<Scripted>> = StepId::SETUP
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    Arc::new(Scripted {
                        id: *id,
                        done: Arc::new(Mutex::new(false)),
                        fail_runs: AtomicUsize::new(usize::from(i == failing)),
                        acted: AtomicUsize::new(0),
                    })
                })
                .collect();
            struct Shared(Arc<Scripted>);
            impl Step for Shared {
                fn id(&self) -> StepId {
                    self.0.id
                }
                fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, crate::Result<Outcome>> {
                    self.0.run(ctx)
                }
            }
            let boxed: Vec<Box<dyn Step>> = steps
                .iter()
                .map(|s| Box::new(Shared(Arc::clone(s))) as Box<dyn Step>)
                .collect();

            let (sink, events) = collector();
            let err = run_steps(&boxed, sink, CancellationToken::new())
                .await
                .unwrap_err();
            assert_eq!(err.code(), "download_failed");
            let first = events.lock().unwrap().clone();
            let pending = first
                .iter()
                .take_while(|e| e.state == StepState::Pending)
                .count();
            assert_eq!(pending, StepId::SETUP.len(), "every step announced first");
            let mut expected: Vec<(StepId, StepState)> = StepId::SETUP[..failing]
                .iter()
                .map(|id| (*id, StepState::Done))
                .collect();
            expected.push((StepId::SETUP[failing], StepState::Failed));
            assert_eq!(finals(&first), expected);
            let failed = first.iter().find(|e| e.state == StepState::Failed).unwrap();
            assert!(failed.failure.as_ref().unwrap().hint.is_some());

            let (sink, events) = collector();
            run_steps(&boxed, sink, CancellationToken::new())
                .await
                .unwrap();
            let mut expected: Vec<(StepId, StepState)> = StepId::SETUP[..failing]
                .iter()
                .map(|id| (*id, StepState::Skipped))
                .collect();
            expected.extend(
                StepId::SETUP[failing..]
                    .iter()
                    .map(|id| (*id, StepState::Done)),
            );
            assert_eq!(finals(&events.lock().unwrap()), expected);
            for (i, s) in steps.iter().enumerate() {
                let acted = s.acted.load(Ordering::SeqCst);
                assert_eq!(acted, if i == failing { 2 } else { 1 }, "step {i}");
            }
        }
    }

    struct Forever;
    impl Step for Forever {
        fn id(&self) -> StepId {
            StepId::Istio
        }
        fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, crate::Result<Outcome>> {
            Box::pin(async move {
                ctx.log("waiting forever");
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Outcome::Done("never".into()))
            })
        }
    }

    #[tokio::test]
    async fn cancel_stops_a_running_step_at_once() {
        let (sink, events) = collector();
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.cancel();
        });
        let started = Instant::now();
        let steps: Vec<Box<dyn Step>> = vec![Box::new(Forever)];
        let err = run_steps(&steps, sink, cancel).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.code(), "cancelled");
        let last = events.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.state, StepState::Failed);
        assert_eq!(last.failure.unwrap().code, "cancelled");
        assert!(last.elapsed_ms >= 90, "{}", last.elapsed_ms);
    }
}
