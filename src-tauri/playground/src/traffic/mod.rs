//! The traffic generator: requests to the playground's product page through its ingress at a
//! steady rate, with live figures (achieved rate, status codes, latency percentiles from an
//! HDR histogram, and which reviews version answered) so a newcomer can watch a traffic
//! split converge to the configured weights.
//!
//! Pacing: request `i` is due at `start + i / rate` (absolute times, so small delays do not
//! accumulate into a lower rate); at most `concurrency` requests are in flight, and when the
//! server is too slow for that the generator falls behind and says so in the achieved rate
//! rather than bursting to catch up by more than a second.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

/// The real playground's ingress gateway: kind maps its port to localhost:9080.
pub const REAL_INGRESS: &str = "http://localhost:9080";
/// The lowest and highest rates offered (requests per second).
pub const MIN_RATE: f64 = 0.5;
pub const MAX_RATE: f64 = 500.0;
pub const MAX_CONCURRENCY: u32 = 256;
/// The longest run with a set duration (one hour).
pub const MAX_DURATION_SECS: f64 = 3600.0;
/// How many of the latest requests the "observed split" is computed over.
pub const RECENT: usize = 200;
/// How often live figures are sent.
pub const REPORT_EVERY: Duration = Duration::from_millis(500);
/// The current rate is measured over this much recent time.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);
/// A request that takes longer counts as an error ("timeout").
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the generator refused to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    #[error("a rate of {0} requests per second is outside 0.5 to 500")]
    Rate(String),
    #[error("a concurrency of {0} is outside 1 to 256")]
    Concurrency(String),
    #[error("a duration of {0} seconds is not between 1 second and 1 hour")]
    Duration(String),
    #[error("traffic is already running")]
    AlreadyRunning,
    #[error("no traffic is running")]
    NotRunning,
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    /// The target is not the playground's own ingress.
    #[error(
        "{0} is not the playground's ingress: traffic only goes to this computer or the playground's local network"
    )]
    Target(String),
}

impl TrafficError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            TrafficError::Rate(_) => crate::ErrorCode::TrafficRate,
            TrafficError::Concurrency(_) => crate::ErrorCode::TrafficConcurrency,
            TrafficError::Duration(_) => crate::ErrorCode::TrafficDuration,
            TrafficError::AlreadyRunning => crate::ErrorCode::TrafficRunning,
            TrafficError::NotRunning => crate::ErrorCode::TrafficNotRunning,
            TrafficError::Client(_) => crate::ErrorCode::TrafficClient,
            TrafficError::Target(_) => crate::ErrorCode::TrafficTarget,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            TrafficError::Rate(_) => "Choose a rate from 0.5 to 500 requests per second.".into(),
            TrafficError::Concurrency(_) => {
                "Choose from 1 to 256 requests in flight at once (10 is plenty for the playground)."
                    .into()
            }
            TrafficError::Duration(_) => {
                "Choose a duration from 1 to 3600 seconds, or run until you press Stop.".into()
            }
            TrafficError::AlreadyRunning => "Stop the running traffic first.".into(),
            TrafficError::NotRunning => "Start traffic first.".into(),
            TrafficError::Client(_) => return None,
            TrafficError::Target(_) => {
                "Use the ingress the playground shows (http://localhost:9080, the simulated ingress, or the MetalLB address).".into()
            }
        })
    }
}

/// What the user sets. The target is not part of it: the app decides it (the playground's
/// ingress), so the generator can never be pointed elsewhere from the UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct TrafficSettings {
    /// Requests per second, 0.5 to 500.
    pub rate: f64,
    /// Requests in flight at most, 1 to 256.
    pub concurrency: u32,
    /// Seconds to run; None runs until stopped.
    pub duration_secs: Option<f64>,
}

impl TrafficSettings {
    pub fn validate(&self) -> Result<(), TrafficError> {
        if !self.rate.is_finite() || !(MIN_RATE..=MAX_RATE).contains(&self.rate) {
            return Err(TrafficError::Rate(self.rate.to_string()));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(TrafficError::Concurrency(self.concurrency.to_string()));
        }
        if let Some(d) = self.duration_secs
            && (!d.is_finite() || !(1.0..=MAX_DURATION_SECS).contains(&d))
        {
            return Err(TrafficError::Duration(d.to_string()));
        }
        Ok(())
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Live figures of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TrafficStats {
    pub target: String,
    pub settings: Option<TrafficSettings>,
    pub elapsed_secs: f64,
    #[ts(type = "number")]
    pub sent: u64,
    #[ts(type = "number")]
    pub completed: u64,
    /// Completed requests per second since the start.
    pub achieved_rate: f64,
    /// Completed requests per second over the last two seconds.
    pub current_rate: f64,
    /// Status code ("200", "503") or "error" (no answer) -> count.
    #[ts(type = "Record<string, number>")]
    pub statuses: BTreeMap<String, u64>,
    pub latency: Latency,
    /// Reviews version ("v1", or "none" when the page names none) over the last `recent`.
    #[ts(type = "Record<string, number>")]
    pub versions_recent: BTreeMap<String, u64>,
    pub recent: u32,
    /// Reviews version -> count over the whole run.
    #[ts(type = "Record<string, number>")]
    pub versions_total: BTreeMap<String, u64>,
    /// False in the last report of a run.
    pub running: bool,
}

/// Which reviews version served the product page, read from the page the way people do:
/// "Reviews served by: reviews-v2-<pod suffix>".
pub fn served_by(html: &str) -> Option<String> {
    let i = html.find("Reviews served by:")?;
    let rest = &html[i..];
    let start = rest.find("reviews-")?;
    let name: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Some(name.split('-').nth(1)?.to_string())
}

struct Aggregate {
    started: Instant,
    last_done: Option<Instant>,
    sent: u64,
    completed: u64,
    statuses: BTreeMap<String, u64>,
    histogram: Histogram<u64>,
    recent: VecDeque<String>,
    versions_total: BTreeMap<String, u64>,
}

impl Aggregate {
    fn new(started: Instant) -> Self {
        Self {
            started,
            last_done: None,
            sent: 0,
            completed: 0,
            statuses: BTreeMap::new(),
            // 1 µs to 1 minute at 3 significant figures; longer values are clamped.
            histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            recent: VecDeque::with_capacity(RECENT),
            versions_total: BTreeMap::new(),
        }
    }

    fn record(&mut self, status: String, latency: Duration, version: Option<String>, at: Instant) {
        self.completed += 1;
        self.last_done = Some(at);
        *self.statuses.entry(status).or_default() += 1;
        self.histogram
            .saturating_record((latency.as_micros() as u64).max(1));
        let v = version.unwrap_or_else(|| "none".into());
        *self.versions_total.entry(v.clone()).or_default() += 1;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
    }

    fn stats(
        &self,
        target: &str,
        settings: &TrafficSettings,
        now: Instant,
        running: bool,
    ) -> TrafficStats {
        // While running, time runs on; once done, the run lasted until its last answer.
        let end = if running {
            now
        } else {
            self.last_done.unwrap_or(now)
        };
        let elapsed = end.duration_since(self.started).as_secs_f64();
        let ms = |q: f64| {
            if self.histogram.is_empty() {
                0.0
            } else {
                self.histogram.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let mut versions_recent = BTreeMap::new();
        for v in &self.recent {
            *versions_recent.entry(v.clone()).or_default() += 1;
        }
        TrafficStats {
            target: target.to_string(),
            settings: Some(settings.clone()),
            elapsed_secs: elapsed,
            sent: self.sent,
            completed: self.completed,
            achieved_rate: if elapsed > 0.0 {
                self.completed as f64 / elapsed
            } else {
                0.0
            },
            current_rate: 0.0,
            statuses: self.statuses.clone(),
            latency: Latency {
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                max_ms: if self.histogram.is_empty() {
                    0.0
                } else {
                    self.histogram.max() as f64 / 1000.0
                },
            },
            versions_recent,
            recent: self.recent.len() as u32,
            versions_total: self.versions_total.clone(),
            running,
        }
    }
}

/// A running generator. Dropping it does not stop it; call [`TrafficRun::stop`].
pub struct TrafficRun {
    cancel: CancellationToken,
    handle: JoinHandle<TrafficStats>,
}

impl TrafficRun {
    /// Asks the generator to stop sending; requests in flight still finish.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the end (the duration, or [`stop`](Self::stop)) and returns the last figures.
    pub async fn finish(self) -> TrafficStats {
        self.handle.await.unwrap_or_default()
    }
}

/// Refuses targets that cannot be the playground's ingress: only this computer (localhost,
/// loopback) and private addresses (the kind network and its MetalLB pool) are allowed, so
/// the generator can never be aimed at someone else's site.
pub fn check_target(ingress_base: &str) -> Result<(), TrafficError> {
    let refuse = || TrafficError::Target(ingress_base.to_string());
    let url = reqwest::Url::parse(ingress_base).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse());
    }
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ok = host == "localhost"
        || match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
            Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
            Err(_) => false,
        };
    if ok { Ok(()) } else { Err(refuse()) }
}

/// The URL the generator requests: the product page under the ingress base URL.
pub fn product_page(ingress_base: &str) -> String {
    format!("{}/productpage", ingress_base.trim_end_matches('/'))
}

/// Like [`start`] without the rate and concurrency limits offered to users, to measure how
/// fast the generator itself can go (the benchmark compares it with wrk). Not for the UI.
#[doc(hidden)]
pub fn start_unbounded(
    ingress_base: &str,
    settings: TrafficSettings,
    on_stats: impl Fn(TrafficStats) + Send + Sync + 'static,
) -> Result<TrafficRun, TrafficError> {
    spawn_run(ingress_base, settings, on_stats)
}

/// Starts sending requests to `<ingress_base>/productpage`; `on_stats` gets figures every
/// [`REPORT_EVERY`] and once more at the end (with `running: false`).
pub fn start(
    ingress_base: &str,
    settings: TrafficSettings,
    on_stats: impl Fn(TrafficStats) + Send + Sync + 'static,
) -> Result<TrafficRun, TrafficError> {
    settings.validate()?;
    spawn_run(ingress_base, settings, on_stats)
}

fn spawn_run(
    ingress_base: &str,
    settings: TrafficSettings,
    on_stats: impl Fn(TrafficStats) + Send + Sync + 'static,
) -> Result<TrafficRun, TrafficError> {
    check_target(ingress_base)?;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(settings.concurrency as usize)
        .build()
        .map_err(|e| TrafficError::Client(e.to_string()))?;
    let cancel = CancellationToken::new();
    let url = product_page(ingress_base);
    let handle = tokio::spawn(run(http, url, settings, cancel.clone(), Arc::new(on_stats)));
    Ok(TrafficRun { cancel, handle })
}

#[tracing::instrument(skip_all, fields(url = %url, rate = settings.rate, concurrency = settings.concurrency))]
async fn run(
    http: reqwest::Client,
    url: String,
    settings: TrafficSettings,
    cancel: CancellationToken,
    on_stats: Arc<dyn Fn(TrafficStats) + Send + Sync>,
) -> TrafficStats {
    let started = Instant::now();
    let agg = Arc::new(Mutex::new(Aggregate::new(started)));
    let permits = Arc::new(Semaphore::new(settings.concurrency as usize));
    let interval = Duration::from_secs_f64(1.0 / settings.rate);
    let end = settings
        .duration_secs
        .map(|d| started + Duration::from_secs_f64(d));

    let reporter = {
        let agg = agg.clone();
        let on_stats = on_stats.clone();
        let url = url.clone();
        let settings = settings.clone();
        let stop = cancel.child_token();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(started + REPORT_EVERY, REPORT_EVERY);
            // (time, completed) over the last RATE_WINDOW, for a current rate that does not
            // jump with every half second.
            let mut window: VecDeque<(Instant, u64)> = VecDeque::from([(started, 0)]);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = Instant::now();
                let mut stats = agg
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .stats(&url, &settings, now, true);
                window.push_back((now, stats.completed));
                while window.len() > 2 && now.duration_since(window[1].0) >= RATE_WINDOW {
                    window.pop_front();
                }
                let (t0, c0) = window[0];
                let dt = now.duration_since(t0).as_secs_f64();
                stats.current_rate = if dt > 0.0 {
                    (stats.completed - c0) as f64 / dt
                } else {
                    0.0
                };
                on_stats(stats);
            }
        });
        (task, cancel.clone())
    };

    tracing::info!("traffic started");
    let mut base = started;
    let mut i: u64 = 0;
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        let due = base + interval.mul_f64(i as f64);
        if end.is_some_and(|e| due >= e) {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        // More than a second behind (the server is slower than rate x concurrency): start a
        // new schedule from now instead of bursting to catch up.
        let now = Instant::now();
        if now.duration_since(due) > Duration::from_secs(1) {
            base = now;
            i = 0;
        }
        i += 1;
        agg.lock().unwrap_or_else(|p| p.into_inner()).sent += 1;
        let http = http.clone();
        let url = url.clone();
        let agg = agg.clone();
        in_flight.spawn(async move {
            let sent_at = Instant::now();
            let (status, version) = match http.get(&url).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16().to_string();
                    let body = resp.text().await.unwrap_or_default();
                    (status, served_by(&body))
                }
                Err(e) if e.is_timeout() => ("timeout".to_string(), None),
                Err(_) => ("error".to_string(), None),
            };
            let done = Instant::now();
            agg.lock().unwrap_or_else(|p| p.into_inner()).record(
                status,
                done.duration_since(sent_at),
                version,
                done,
            );
            drop(permit);
        });
        // Reap finished tasks so the set does not grow for long runs.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    let (task, stop_reporter) = reporter;
    stop_reporter.cancel();
    let _ = task.await;
    let stats =
        agg.lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats(&url, &settings, Instant::now(), false);
    tracing::info!(
        completed = stats.completed,
        rate = stats.achieved_rate,
        "traffic finished"
    );
    on_stats(stats.clone());
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_by_line_names_the_version() {
        let html =
            "<dl><dt>Reviews served by:</dt><dd><u>reviews-v2-5b667bcbf8-jx4hq</u></dd></dl>";
        assert_eq!(served_by(html).as_deref(), Some("v2"));
        assert_eq!(served_by("<h1>Simple Bookstore App</h1>"), None);
    }

    #[test]
    fn only_the_playgrounds_own_addresses_are_targets() {
        for ok in [
            "http://localhost:9080",
            "http://127.0.0.1:41001",
            "http://172.18.255.200",
            "http://[::1]:8080",
        ] {
            check_target(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "https://example.com",
            "http://8.8.8.8",
            "ftp://127.0.0.1",
            "nonsense",
        ] {
            assert_eq!(
                check_target(bad).unwrap_err().code(),
                "traffic_target",
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_outside_the_offered_ranges_are_refused() {
        let ok = TrafficSettings {
            rate: 10.0,
            concurrency: 4,
            duration_secs: Some(5.0),
        };
        ok.validate().unwrap();
        for (s, code) in [
            (
                TrafficSettings {
                    rate: 0.1,
                    ..ok.clone()
                },
                "traffic_rate",
            ),
            (
                TrafficSettings {
                    rate: 501.0,
                    ..ok.clone()
                },
                "traffic_rate",
            ),
            (
                TrafficSettings {
                    rate: f64::NAN,
                    ..ok.clone()
                },
                "traffic_rate",
            ),
            (
                TrafficSettings {
                    concurrency: 0,
                    ..ok.clone()
                },
                "traffic_concurrency",
            ),
            (
                TrafficSettings {
                    duration_secs: Some(0.0),
                    ..ok.clone()
                },
                "traffic_duration",
            ),
        ] {
            assert_eq!(s.validate().unwrap_err().code(), code, "{s:?}");
        }
        TrafficSettings {
            duration_secs: None,
            ..ok
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn the_split_is_counted_over_the_last_200_and_in_total() {
        let t0 = Instant::now();
        let mut agg = Aggregate::new(t0);
        for i in 0..300 {
            let v = if i < 100 { "v1" } else { "v3" };
            agg.record("200".into(), Duration::from_millis(5), Some(v.into()), t0);
        }
        let settings = TrafficSettings {
            rate: 1.0,
            concurrency: 1,
            duration_secs: None,
        };
        let s = agg.stats("x", &settings, t0 + Duration::from_secs(3), true);
        assert_eq!(s.recent, 200);
        assert_eq!(s.versions_recent.get("v3"), Some(&200));
        assert_eq!(s.versions_total.get("v1"), Some(&100));
        assert!((s.latency.p50_ms - 5.0).abs() < 0.01, "{:?}", s.latency);
        assert!((s.achieved_rate - 100.0).abs() < 0.01);
    }
}
