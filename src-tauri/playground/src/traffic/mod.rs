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
/// The longest user name the generator logs in with.
pub const MAX_USER_CHARS: usize = 64;
/// A failed login is tried again at most this often.
const LOGIN_RETRY: Duration = Duration::from_secs(1);
/// What the user's requests count as when the login failed (nothing was sent).
pub const LOGIN_FAILED: &str = "login failed";
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
    /// A run ended without a single HTTP response.
    #[error("none of the {sent} requests sent to {target} was answered")]
    NoAnswer { target: String, sent: u64 },
    /// The target is not the playground's own ingress.
    #[error(
        "{0} is not the playground's ingress: traffic only goes to this computer or the playground's local network"
    )]
    Target(String),
    #[error("{0:?} cannot be a user name: {1}")]
    User(String, &'static str),
    #[error("a share of {0} percent of the requests is outside 0 to 100")]
    UserShare(String),
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
            TrafficError::NoAnswer { .. } => crate::ErrorCode::TrafficNoAnswer,
            TrafficError::Target(_) => crate::ErrorCode::TrafficTarget,
            TrafficError::User(..) => crate::ErrorCode::TrafficUser,
            TrafficError::UserShare(_) => crate::ErrorCode::TrafficUserShare,
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
            TrafficError::NoAnswer { .. } => {
                "Check that the playground runs and its pods are ready (`istio-playground graph`; for a simulated cluster, that `sim serve` still runs), and that --ingress, when given, is the ingress gateway's URL.".into()
            }
            TrafficError::User(..) => {
                "Type the name to log in with on the product page, such as jason (one word, no password needed).".into()
            }
            TrafficError::UserShare(_) => {
                "Choose what share of the requests is sent as the user, from 0 to 100 percent.".into()
            }
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
    /// Log in on the product page as this user (Bookinfo's login, which productpage turns
    /// into the `end-user` header) for `user_share` of the requests.
    #[serde(default)]
    pub user: Option<String>,
    /// Percent of the requests sent as `user`, 0 to 100; all of them when not given.
    #[serde(default)]
    pub user_share: Option<f64>,
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
        if let Some(user) = &self.user {
            let bad = |why| Err(TrafficError::User(user.clone(), why));
            if user.trim().is_empty() {
                return bad("it is empty");
            }
            if user.chars().count() > MAX_USER_CHARS {
                return bad("it is longer than 64 characters");
            }
            if user.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return bad("it must be one word");
            }
        }
        if let Some(share) = self.user_share
            && (!share.is_finite() || !(0.0..=100.0).contains(&share))
        {
            return Err(TrafficError::UserShare(share.to_string()));
        }
        Ok(())
    }

    /// The user and the fraction (0 to 1) of the requests sent as that user.
    fn login(&self) -> Option<(String, f64)> {
        let user = self.user.as_ref()?.trim().to_string();
        let share = self.user_share.unwrap_or(100.0) / 100.0;
        (share > 0.0).then_some((user, share))
    }
}

/// Whether request `n` (counting from 0) goes as the user: spread evenly, so that after any
/// number of requests the user's count is within one of `share` of them.
fn as_user(n: u64, share: f64) -> bool {
    ((n + 1) as f64 * share).floor() > (n as f64 * share).floor()
}

/// Logs in the way a person does on Bookinfo's product page (its form posts `username` and
/// `passwd`; the password is not checked) and returns the cookies the answer sets, as one
/// `Cookie` header value. productpage keeps the user in that session cookie and sends it on
/// as the `end-user` header, so requests carrying it are that user's.
#[tracing::instrument]
async fn log_in(base: &str, user: &str) -> Result<String, String> {
    // The cookie comes with the login's redirect to the product page: not followed.
    // The ingress is on this machine or the kind network (check_target): never via a proxy.
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", user)
        .append_pair("passwd", user)
        .finish();
    let resp = http
        .post(format!("{}/login", base.trim_end_matches('/')))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookies: Vec<String> = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|kv| kv.trim().to_string())
        .filter(|kv| kv.contains('=') && !kv.ends_with('='))
        .collect();
    if cookies.is_empty() {
        return Err(format!(
            "the login answered {} without a session cookie",
            resp.status()
        ));
    }
    Ok(cookies.join("; "))
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

impl TrafficStats {
    /// Requests that got an HTTP response, whatever its status.
    pub fn answered(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| status.as_str() != "error")
            .map(|(_, n)| n)
            .sum()
    }

    /// The run's figures, or [`TrafficError::NoAnswer`] when requests were sent and none
    /// was answered (nothing listens at the target, or the gateway is down).
    pub fn require_answers(self) -> Result<Self, TrafficError> {
        if self.sent > 0 && self.answered() == 0 {
            return Err(TrafficError::NoAnswer {
                target: self.target,
                sent: self.sent,
            });
        }
        Ok(self)
    }
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

    /// A request that was not sent because the login it needed failed.
    fn unsent(&mut self, status: &str) {
        *self.statuses.entry(status.to_string()).or_default() += 1;
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
    // The ingress is on this machine or the kind network (check_target): never via a proxy.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(settings.concurrency as usize)
        .build()
        .map_err(|e| TrafficError::Client(e.to_string()))?;
    let cancel = CancellationToken::new();
    let url = product_page(ingress_base);
    let handle = tokio::spawn(run(
        http,
        ingress_base.to_string(),
        url,
        settings,
        cancel.clone(),
        Arc::new(on_stats),
    ));
    Ok(TrafficRun { cancel, handle })
}

#[tracing::instrument(skip_all, fields(url = %url, rate = settings.rate, concurrency = settings.concurrency))]
async fn run(
    http: reqwest::Client,
    base: String,
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
    let login = settings.login();
    // The session cookie of the logged-in user, and when a login was last tried.
    let mut cookie: Option<String> = None;
    let mut login_tried: Option<Instant> = None;
    let mut n: u64 = 0;
    let mut base_at = started;
    let mut i: u64 = 0;
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        let due = base_at + interval.mul_f64(i as f64);
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
            base_at = now;
            i = 0;
        }
        i += 1;
        let user = login.as_ref().filter(|(_, share)| as_user(n, *share));
        n += 1;
        if let Some((user, _)) = user
            && cookie.is_none()
            && login_tried.is_none_or(|t| t.elapsed() >= LOGIN_RETRY)
        {
            login_tried = Some(Instant::now());
            match log_in(&base, user).await {
                Ok(c) => cookie = Some(c),
                Err(e) => tracing::warn!(user, error = %e, "logging in for the traffic failed"),
            }
        }
        let mut request = http.get(&url);
        if user.is_some() {
            match &cookie {
                Some(c) => request = request.header(reqwest::header::COOKIE, c),
                None => {
                    agg.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .unsent(LOGIN_FAILED);
                    continue;
                }
            }
        }
        agg.lock().unwrap_or_else(|p| p.into_inner()).sent += 1;
        let agg = agg.clone();
        in_flight.spawn(async move {
            let sent_at = Instant::now();
            let (status, version) = match request.send().await {
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
    fn a_run_without_one_response_is_an_error_and_any_status_is_an_answer() {
        let stats = |pairs: &[(&str, u64)]| TrafficStats {
            target: "http://127.0.0.1:9/productpage".into(),
            sent: pairs.iter().map(|(_, n)| n).sum(),
            statuses: pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            ..TrafficStats::default()
        };
        let refused = stats(&[("error", 12)]).require_answers().unwrap_err();
        assert_eq!(refused.code(), crate::ErrorCode::TrafficNoAnswer);
        assert!(refused.to_string().contains("none of the 12 requests"));
        assert!(refused.hint().unwrap().contains("sim serve"));
        assert_eq!(stats(&[("error", 3), ("503", 1)]).answered(), 1);
        assert!(stats(&[("503", 5)]).require_answers().is_ok());
        assert!(
            stats(&[]).require_answers().is_ok(),
            "nothing sent: nothing to complain about"
        );
    }

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
    fn the_users_share_is_spread_evenly_over_the_requests() {
        for (share, n, want) in [
            (0.5, 100, 50),
            (0.25, 100, 25),
            (1.0, 7, 7),
            (0.0, 9, 0),
            (0.3, 10, 3),
        ] {
            let got = (0..n).filter(|&i| as_user(i, share)).count();
            assert_eq!(got, want, "share {share} of {n}");
        }
        // Half: every other request, not the first half then the second.
        assert_eq!(
            (0..6).map(|i| as_user(i, 0.5)).collect::<Vec<_>>(),
            [false, true, false, true, false, true]
        );
    }

    #[test]
    fn settings_outside_the_offered_ranges_are_refused() {
        let ok = TrafficSettings {
            rate: 10.0,
            concurrency: 4,
            duration_secs: Some(5.0),
            user: None,
            user_share: None,
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
            (
                TrafficSettings {
                    user: Some("jason smith".into()),
                    ..ok.clone()
                },
                "traffic_user",
            ),
            (
                TrafficSettings {
                    user: Some(" ".into()),
                    ..ok.clone()
                },
                "traffic_user",
            ),
            (
                TrafficSettings {
                    user: Some("jason".into()),
                    user_share: Some(150.0),
                    ..ok.clone()
                },
                "traffic_user_share",
            ),
            (
                TrafficSettings {
                    user: Some("jason".into()),
                    user_share: Some(-1.0),
                    ..ok.clone()
                },
                "traffic_user_share",
            ),
        ] {
            assert_eq!(s.validate().unwrap_err().code(), code, "{s:?}");
        }
        TrafficSettings {
            duration_secs: None,
            user: Some("jason".into()),
            user_share: Some(50.0),
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
            user: None,
            user_share: None,
        };
        let s = agg.stats("x", &settings, t0 + Duration::from_secs(3), true);
        assert_eq!(s.recent, 200);
        assert_eq!(s.versions_recent.get("v3"), Some(&200));
        assert_eq!(s.versions_total.get("v1"), Some(&100));
        assert!((s.latency.p50_ms - 5.0).abs() < 0.01, "{:?}", s.latency);
        assert!((s.achieved_rate - 100.0).abs() < 0.01);
    }
}
