//! Logging: stderr, a daily-rotated file in the app's log directory, and an in-memory ring of
//! recent lines that the UI's log panel shows and follows.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use ts_rs::TS;

use crate::{Error, Result};

/// How many recent lines the UI can ask for.
pub const RECENT_LINES: usize = 500;
/// Log files kept before the oldest is deleted.
pub const KEPT_FILES: usize = 7;
/// File name prefix inside the log directory (`istio-playground.log.2026-11-26`).
pub const FILE_PREFIX: &str = "istio-playground.log";

/// One log line as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    #[ts(type = "number")]
    pub unix_ms: u64,
    /// ERROR, WARN, INFO, DEBUG or TRACE.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message followed by its fields (`key=value`).
    pub message: String,
}

/// Where the log file is and what was logged lately.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogInfo {
    /// Directory holding the rotated files.
    pub dir: String,
    /// Today's file.
    pub file: String,
    pub recent: Vec<LogLine>,
}

/// Recent lines plus a feed of new ones. Cheap to clone.
#[derive(Clone)]
pub struct LogRing {
    inner: Arc<Mutex<VecDeque<LogLine>>>,
    feed: broadcast::Sender<LogLine>,
}

impl Default for LogRing {
    fn default() -> Self {
        Self::new()
    }
}

impl LogRing {
    pub fn new() -> Self {
        let (feed, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES))),
            feed,
        }
    }

    pub fn push(&self, line: LogLine) {
        {
            let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if ring.len() == RECENT_LINES {
                ring.pop_front();
            }
            ring.push_back(line.clone());
        }
        // No receivers is normal (no window open).
        let _ = self.feed.send(line);
    }

    pub fn recent(&self) -> Vec<LogLine> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.feed.subscribe()
    }
}

/// Keeps the file writer alive; drop it last so buffered lines reach the disk.
pub struct Logging {
    pub ring: LogRing,
    pub dir: PathBuf,
    _guard: WorkerGuard,
}

impl Logging {
    /// Today's file name as tracing-appender names it.
    pub fn current_file(&self) -> PathBuf {
        current_file(&self.dir, SystemTime::now())
    }

    pub fn info(&self) -> LogInfo {
        LogInfo {
            dir: self.dir.display().to_string(),
            file: self.current_file().display().to_string(),
            recent: self.ring.recent(),
        }
    }
}

/// Lines waiting for the log file's writer thread at most (32 bytes each).
const QUEUED_LINES: usize = 8_192;

/// Installs the global subscriber. `RUST_LOG` overrides the default level (info for our
/// crates, warn for the rest). `quiet_stderr` keeps stderr to errors: the CLI prints its own
/// report, and the file still gets everything.
pub fn init(dir: &Path, quiet_stderr: bool) -> Result<Logging> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .max_log_files(KEPT_FILES)
        .build(dir)
        .map_err(|e| Error::Logging(e.to_string()))?;
    // The writer's queue is allocated and written through whole when it is made, and the
    // default (128,000 lines) is 4 MB of the app's memory from the first moment (README,
    // "Start-up and memory of the release app"). The app writes a few lines a second, in
    // bursts of tens; a full queue drops lines rather than stalling the app.
    let (file_writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .finish(appender);
    let ring = LogRing::new();

    // kube's client logs an ERROR line for every request that fails (each retry while the app
    // waits for a cluster to answer, a watch losing its connection), and then returns the
    // error, which the app reports once with what to do: a newcomer's log bar and the CLI's
    // stderr would count a dozen "errors" for one unreachable cluster. `RUST_LOG` still
    // shows them.
    const KUBE_REQUEST_ERRORS: &str = "kube_client::client::builder=off";
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "warn,playground=info,istio_playground=info,istio_playground_lib=info,{KUBE_REQUEST_ERRORS}"
            ))
        })
    };
    let stderr_filter = if quiet_stderr {
        EnvFilter::new(format!("error,{KUBE_REQUEST_ERRORS}"))
    } else {
        filter()
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .with_filter(stderr_filter),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(file_writer)
                .with_filter(filter()),
        )
        .with(RingLayer { ring: ring.clone() }.with_filter(filter()))
        .try_init()
        .map_err(|e| Error::Logging(e.to_string()))?;
    Ok(Logging {
        ring,
        dir: dir.to_path_buf(),
        _guard: guard,
    })
}

fn current_file(dir: &Path, now: SystemTime) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}.{}", crate::time::utc_date(now)))
}

struct RingLayer {
    ring: LogRing,
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = MessageText::default();
        event.record(&mut text);
        let meta = event.metadata();
        self.ring.push(LogLine {
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            level: level_name(*meta.level()).into(),
            target: meta.target().into(),
            message: text.finish(),
        });
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl MessageText {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_string()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_only_the_newest_lines() {
        let ring = LogRing::new();
        for i in 0..(RECENT_LINES + 3) {
            ring.push(LogLine {
                unix_ms: i as u64,
                level: "INFO".into(),
                target: "t".into(),
                message: format!("line {i}"),
            });
        }
        let recent = ring.recent();
        assert_eq!(recent.len(), RECENT_LINES);
        assert_eq!(recent[0].message, "line 3");
        assert_eq!(
            recent.last().unwrap().message,
            format!("line {}", RECENT_LINES + 2)
        );
    }

    #[test]
    fn subscribers_receive_new_lines() {
        let ring = LogRing::new();
        let mut rx = ring.subscribe();
        ring.push(LogLine {
            unix_ms: 1,
            level: "WARN".into(),
            target: "t".into(),
            message: "hello".into(),
        });
        assert_eq!(rx.try_recv().unwrap().message, "hello");
    }

    #[test]
    fn file_name_matches_the_daily_rotation_date() {
        // 2026-11-26T10:00:00Z
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_687_200);
        let f = current_file(Path::new("/logs"), t);
        assert_eq!(f, PathBuf::from("/logs/istio-playground.log.2026-11-26"));
    }
}
