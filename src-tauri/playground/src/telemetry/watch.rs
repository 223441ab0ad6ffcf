//! The poller: reads the traffic figures every few seconds and sends them, or the reason
//! they are missing, to whoever listens.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;
use ts_rs::TS;

use super::{Prometheus, TelemetryError, TrafficSnapshot, read_traffic};

/// How often and over how much time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchOptions {
    /// Time between two readings.
    pub interval: Duration,
    /// Rates are averaged over this much time before each reading. With the addon's 15 s
    /// scrapes it needs at least 30 s; the simulated Prometheus scrapes every second, so
    /// 10 s shows new traffic within two or three seconds.
    pub window: Duration,
}

impl WatchOptions {
    /// For the simulated Prometheus, which scrapes every second: a rate needs two scrapes
    /// that saw the requests, so new traffic is in Prometheus 1 to 2 s after it starts; a
    /// reading every second shows it within 3 s. Over 10 s a split already settles near its
    /// weights, and a change of weights shows within seconds.
    pub fn simulated() -> Self {
        WatchOptions {
            interval: Duration::from_secs(1),
            window: Duration::from_secs(10),
        }
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(3),
            window: Duration::from_secs(30),
        }
    }
}

/// Why a reading has no figures: one line and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TelemetryProblem {
    /// What kind of trouble: `telemetry_missing`, `telemetry_starting`, `telemetry_slow`, ...
    pub code: crate::ErrorCode,
    pub message: String,
    pub hint: Option<String>,
}

impl From<&TelemetryError> for TelemetryProblem {
    fn from(e: &TelemetryError) -> Self {
        TelemetryProblem {
            code: e.code(),
            message: e.to_string(),
            hint: e.hint(),
        }
    }
}

/// One reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "camelCase")]
#[ts(export)]
pub enum TelemetryUpdate {
    /// Figures as of the snapshot's time.
    Live { snapshot: TrafficSnapshot },
    /// No figures this time, and why.
    #[serde(rename_all = "camelCase")]
    Unavailable {
        #[ts(type = "number")]
        at_ms: i64,
        problem: TelemetryProblem,
    },
}

/// Reads traffic every `opts.interval` (the first reading at once) until the receiver is
/// dropped. Readings never overlap: a slow one delays the next.
pub fn watch(prom: Prometheus, opts: WatchOptions) -> mpsc::Receiver<TelemetryUpdate> {
    watch_with_clock(prom, opts, SystemTime::now)
}

/// [`watch`] with the time of each reading taken from `clock`.
pub fn watch_with_clock(
    prom: Prometheus,
    opts: WatchOptions,
    clock: impl Fn() -> SystemTime + Send + 'static,
) -> mpsc::Receiver<TelemetryUpdate> {
    let (tx, rx) = mpsc::channel(4);
    let span = tracing::info_span!(
        "telemetry_watch",
        interval_s = opts.interval.as_secs_f64(),
        window_s = opts.window.as_secs_f64()
    );
    tokio::spawn(
        async move {
            let mut tick = tokio::time::interval(opts.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    _ = tick.tick() => {}
                }
                let at = clock();
                let reading = tokio::select! {
                    _ = tx.closed() => break,
                    r = read_traffic(&prom, opts.window, at) => r,
                };
                let update = match reading {
                    Ok(snapshot) => TelemetryUpdate::Live { snapshot },
                    Err(e) => {
                        tracing::debug!(error = %e, "no traffic figures");
                        TelemetryUpdate::Unavailable {
                            at_ms: crate::time::unix_ms(at),
                            problem: TelemetryProblem::from(&e),
                        }
                    }
                };
                if tx.send(update).await.is_err() {
                    break;
                }
            }
            tracing::debug!("telemetry watch ended");
        }
        .instrument(span),
    );
    rx
}
