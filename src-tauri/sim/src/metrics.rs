//! Istio's standard request metrics as the proxies of the simulated mesh report them, kept the
//! way the Prometheus addon would hold them after scraping.
//!
//! Every hop the data plane completes is handed to [`MeshMetrics::record`]: the source proxy
//! (ingress gateway or sidecar) reports it with `reporter="source"`, the destination sidecar
//! with `reporter="destination"` when the request reached it, each with the labels Istio's
//! stats plugin writes plus the target labels the addon's `kubernetes-pods` scrape job adds
//! (the pod's own labels, `namespace`, `pod`, `instance`, `job`, `node`).
//!
//! Storage ([`Tsdb`]) holds counters. Prometheus would scrape them every `scrape_interval`;
//! here a counter's value is stored only when it changes, at the first scrape tick at or after
//! the change, and a series has a sample at every tick from its first change up to the latest
//! tick that has passed. That gives exactly the samples a scrape loop would have collected,
//! without a loop. Simplifications, on purpose: series of deleted pods are not marked stale
//! (their counters stay flat, so `rate` over them is 0), and only `istio_requests_total` and
//! `istio_request_duration_milliseconds` are reported (no byte or TCP metrics).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::clock::SharedClock;
use crate::inject::already_injected;
use crate::promql::{Grouping, QueryCache};

/// A series' labels, `__name__` included, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// An interned string: a label name or value, see [`Tsdb::sym`] and [`Tsdb::str`].
pub type Sym = u32;

/// Labels as interned (name, value) pairs in the order of [`Labels`] (by name). The query
/// engine works on these: comparing, hashing and grouping ids instead of strings is what
/// lets it answer a mesh of thousands of series within milliseconds.
pub type LabelSet = Arc<[(Sym, Sym)]>;

pub const METRIC_NAME: &str = "__name__";
pub const REQUESTS_TOTAL: &str = "istio_requests_total";
pub const DURATION_BUCKET: &str = "istio_request_duration_milliseconds_bucket";
pub const DURATION_SUM: &str = "istio_request_duration_milliseconds_sum";
pub const DURATION_COUNT: &str = "istio_request_duration_milliseconds_count";
/// Envoy's default histogram buckets in milliseconds (the last one, `+Inf`, is implied).
pub const DURATION_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// How the simulated Prometheus scrapes and how long it keeps samples.
#[derive(Debug, Clone, Copy)]
pub struct MetricsConfig {
    /// The addon scrapes every 15 s; the simulation every second, so the graph can show
    /// traffic within seconds.
    pub scrape_interval: Duration,
    pub retention: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            scrape_interval: Duration::from_secs(1),
            retention: Duration::from_secs(15 * 60),
        }
    }
}

/// Milliseconds since the epoch, Prometheus's timestamp unit.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug)]
struct Series {
    /// The labels, interned.
    ids: LabelSet,
    /// The same without `__name__`, shared by every function result of the series.
    unnamed: LabelSet,
    /// (tick, value) at every tick where the value changed, oldest first.
    points: VecDeque<(i64, f64)>,
}

impl Series {
    /// How many points are at or before `tick`. Queries read the latest ticks, so this
    /// walks back from the newest point a little way before it searches the whole history:
    /// every probe of a binary search there is a cache miss, and there are tens of
    /// thousands of series to look at.
    fn points_through(&self, tick: i64) -> usize {
        let mut i = self.points.len();
        for _ in 0..16 {
            if i == 0 || self.points[i - 1].0 <= tick {
                return i;
            }
            i -= 1;
        }
        self.points.partition_point(|(t, _)| *t <= tick)
    }

    /// The value a scrape at `tick` saw, if the series existed then.
    fn value_at(&self, tick: i64) -> Option<f64> {
        let i = self.points_through(tick);
        (i > 0).then(|| self.points[i - 1].1)
    }
}

/// Samples of one series inside a range, summarised for `rate`, `increase` and `irate`
/// without materialising every sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// (timestamp ms, value) of the first and last samples.
    pub first: (i64, f64),
    pub last: (i64, f64),
    /// The sample before the last one, when there are two or more.
    pub before_last: Option<(i64, f64)>,
    pub count: usize,
    /// What counter resets inside the window lost (the value before each drop), as
    /// Prometheus adds it back.
    pub resets: f64,
}

/// Series in memory with a fixed scrape grid (see the module documentation).
#[derive(Debug)]
pub struct Tsdb {
    interval_ms: i64,
    retention_ms: i64,
    series: Vec<Series>,
    index: HashMap<Arc<Labels>, usize>,
    by_name: HashMap<String, Vec<usize>>,
    /// Every label name and value, by [`Sym`].
    strings: Vec<Arc<str>>,
    string_ids: HashMap<Arc<str>, Sym>,
    /// The rank of each [`Sym`]'s string among all of them, for ordering label sets as
    /// strings order; computed when first needed after new strings came in.
    ranks: Mutex<Option<Arc<[u32]>>>,
    /// Sub-query results the query engine keeps; every write drops what it changes.
    cache: Mutex<QueryCache>,
    /// The series each recently used selector picked, and how many series it has looked
    /// at. Exact for as long as it is kept: a series' labels never change and no series is
    /// removed, so only series added since need looking at (a postings index, as
    /// Prometheus keeps, for the selectors in use rather than for every label).
    selections: Mutex<HashMap<String, Selection>>,
    /// The group each series falls in, per aggregation grouping in use (see [`Grouping`]).
    groupings: Mutex<HashMap<String, Arc<Mutex<Grouping>>>>,
}

/// How many series a selector has looked at, and the ids of those it picked.
type Selection = (usize, Arc<Vec<usize>>);

/// How many selectors' series [`Tsdb::select_memo`] keeps (all dropped when full).
const SELECTIONS_KEPT: usize = 64;

impl Tsdb {
    pub fn new(cfg: MetricsConfig) -> Self {
        Tsdb {
            interval_ms: (cfg.scrape_interval.as_millis() as i64).max(1),
            retention_ms: cfg.retention.as_millis() as i64,
            series: vec![],
            index: HashMap::new(),
            by_name: HashMap::new(),
            strings: vec![],
            string_ids: HashMap::new(),
            ranks: Mutex::new(None),
            cache: Mutex::new(QueryCache::default()),
            selections: Mutex::new(HashMap::new()),
            groupings: Mutex::new(HashMap::new()),
        }
    }

    /// The groups of series for an aggregation's grouping known by `key` (everything that
    /// decides the groups): kept, like [`Tsdb::select_memo`]'s selections, because labels
    /// never change.
    pub(crate) fn grouping(&self, key: &str) -> Arc<Mutex<Grouping>> {
        let mut all = self.groupings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = all.get(key) {
            return g.clone();
        }
        if all.len() >= SELECTIONS_KEPT {
            all.clear();
        }
        let g = Arc::<Mutex<Grouping>>::default();
        all.insert(key.to_string(), g.clone());
        g
    }

    fn intern(&mut self, s: &str) -> Sym {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as Sym;
        let s: Arc<str> = Arc::from(s);
        self.strings.push(s.clone());
        self.string_ids.insert(s, id);
        *self.ranks.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        id
    }

    /// The id of a string that some label name or value has, if any has it.
    pub fn sym(&self, s: &str) -> Option<Sym> {
        self.string_ids.get(s).copied()
    }

    /// The string of an id.
    pub fn str(&self, sym: Sym) -> &str {
        &self.strings[sym as usize]
    }

    /// Each id's rank among all strings in byte order: comparing ranks orders label sets
    /// as comparing their strings does.
    pub fn ranks(&self) -> Arc<[u32]> {
        let mut r = self.ranks.lock().unwrap_or_else(|e| e.into_inner());
        r.get_or_insert_with(|| {
            let mut order: Vec<Sym> = (0..self.strings.len() as Sym).collect();
            order.sort_unstable_by(|a, b| self.str(*a).cmp(self.str(*b)));
            let mut ranks = vec![0; order.len()];
            for (rank, sym) in order.into_iter().enumerate() {
                ranks[sym as usize] = rank as u32;
            }
            ranks.into()
        })
        .clone()
    }

    /// A label set back as strings.
    #[cfg(test)]
    pub fn to_labels(&self, set: &[(Sym, Sym)]) -> Labels {
        set.iter()
            .map(|(k, v)| (self.str(*k).to_string(), self.str(*v).to_string()))
            .collect()
    }

    /// The query engine's cache (see [`QueryCache`]).
    pub(crate) fn cache(&self) -> std::sync::MutexGuard<'_, QueryCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest and the latest scrape tick an evaluation at `now_ms` can read: all that
    /// the answers depend on besides the query, its time and the samples.
    pub fn readable_ticks(&self, now_ms: i64) -> (i64, i64) {
        (
            self.tick_after(now_ms - self.retention_ms),
            self.tick_before(now_ms),
        )
    }

    /// The id of the series with exactly these labels, created empty when new.
    pub fn series_id(&mut self, labels: Labels) -> usize {
        if let Some(id) = self.index.get(&labels) {
            return *id;
        }
        let labels = Arc::new(labels);
        let id = self.series.len();
        if let Some(name) = labels.get(METRIC_NAME) {
            self.by_name.entry(name.clone()).or_default().push(id);
        }
        let ids: Vec<(Sym, Sym)> = labels
            .iter()
            .map(|(k, v)| (self.intern(k), self.intern(v)))
            .collect();
        let unnamed: LabelSet = ids
            .iter()
            .filter(|(k, _)| self.str(*k) != METRIC_NAME)
            .copied()
            .collect();
        self.series.push(Series {
            ids: ids.into(),
            unnamed,
            points: VecDeque::new(),
        });
        self.index.insert(labels, id);
        id
    }

    /// The first scrape that sees something that happened at `at_ms`.
    fn tick_after(&self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.interval_ms) + i64::from(at_ms.rem_euclid(self.interval_ms) != 0)
    }

    /// The latest scrape that has happened at `now_ms`.
    fn tick_before(&self, now_ms: i64) -> i64 {
        now_ms.div_euclid(self.interval_ms)
    }

    /// Adds `delta` to a counter at `at_ms`. Events may arrive slightly out of order (a hop
    /// is recorded when it completes in simulated time): later points move up with it.
    pub fn add(&mut self, id: usize, at_ms: i64, delta: f64) {
        let tick = self.tick_after(at_ms);
        let keep_from = self.tick_before(at_ms - self.retention_ms);
        let s = &mut self.series[id];
        let i = s.points.partition_point(|(t, _)| *t < tick);
        if s.points.get(i).is_some_and(|(t, _)| *t == tick) {
            for p in s.points.range_mut(i..) {
                p.1 += delta;
            }
        } else {
            let before = if i > 0 { s.points[i - 1].1 } else { 0.0 };
            for p in s.points.range_mut(i..) {
                p.1 += delta;
            }
            s.points.insert(i, (tick, before + delta));
        }
        // Keep one point at or before the retention cut: it is the value at the cut.
        let mut dropped = false;
        while s.points.len() >= 2 && s.points[1].0 <= keep_from {
            s.points.pop_front();
            dropped = true;
        }
        let born = dropped.then(|| s.points[0].0);
        self.cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .written(tick, born);
    }

    /// Sets a series to `value` from the scrape at or after `at_ms` on (hand-made series in
    /// tests; a lower value than before is a counter reset).
    #[cfg(test)]
    pub fn set(&mut self, id: usize, at_ms: i64, value: f64) {
        let tick = self.tick_after(at_ms);
        let s = &mut self.series[id];
        let i = s.points.partition_point(|(t, _)| *t < tick);
        if s.points.get(i).is_some_and(|(t, _)| *t == tick) {
            s.points[i].1 = value;
        } else {
            s.points.insert(i, (tick, value));
        }
        self.cache
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .written(tick, None);
    }

    /// Ids of the series named `name` (every series when None) that `keep` accepts, by
    /// their labels as strings.
    #[cfg(test)]
    pub fn select(&self, name: Option<&str>, keep: impl Fn(&Labels) -> bool) -> Vec<usize> {
        self.select_ids(name, |ids| keep(&self.to_labels(ids)))
    }

    /// Ids of the series named `name` (every series when None) whose interned labels
    /// `keep` accepts.
    #[cfg(test)]
    pub fn select_ids(
        &self,
        name: Option<&str>,
        keep: impl Fn(&[(Sym, Sym)]) -> bool,
    ) -> Vec<usize> {
        match name {
            Some(n) => self
                .by_name
                .get(n)
                .map(|ids| {
                    ids.iter()
                        .copied()
                        .filter(|id| keep(&self.series[*id].ids))
                        .collect()
                })
                .unwrap_or_default(),
            None => (0..self.series.len())
                .filter(|id| keep(&self.series[*id].ids))
                .collect(),
        }
    }

    /// The series' labels as strings.
    #[cfg(test)]
    pub fn labels(&self, id: usize) -> Arc<Labels> {
        Arc::new(self.to_labels(&self.series[id].ids))
    }

    /// [`Tsdb::select_ids`] for a selector known by `key` (everything that decides what
    /// `keep` accepts): the ids it picked before, plus those of series added since.
    pub fn select_memo(
        &self,
        key: &str,
        name: Option<&str>,
        keep: impl Fn(&[(Sym, Sym)]) -> bool,
    ) -> Arc<Vec<usize>> {
        let memo = || self.selections.lock().unwrap_or_else(|e| e.into_inner());
        let known = memo().get(key).cloned();
        let (seen, mut ids) = known.unwrap_or_default();
        let total = self.series.len();
        if seen == total {
            return ids;
        }
        let keep = |id: &usize| keep(&self.series[*id].ids);
        let added: Vec<usize> = match name {
            Some(n) => self
                .by_name
                .get(n)
                .map(|all| {
                    let from = all.partition_point(|id| *id < seen);
                    all[from..].iter().copied().filter(keep).collect()
                })
                .unwrap_or_default(),
            None => (seen..total).filter(keep).collect(),
        };
        Arc::make_mut(&mut ids).extend(added);
        let mut memo = memo();
        if memo.len() >= SELECTIONS_KEPT && !memo.contains_key(key) {
            memo.clear();
        }
        memo.insert(key.to_string(), (total, ids.clone()));
        ids
    }

    /// The series' labels, interned.
    pub fn label_ids(&self, id: usize) -> &LabelSet {
        &self.series[id].ids
    }

    /// The series' labels without the metric name, as functions return them.
    pub fn labels_without_name(&self, id: usize) -> &LabelSet {
        &self.series[id].unnamed
    }

    /// The ticks with samples in (start_ms, end_ms], given that scrapes up to `now_ms` have
    /// happened and older samples than the retention are gone.
    fn ticks(&self, id: usize, start_ms: i64, end_ms: i64, now_ms: i64) -> Option<(i64, i64)> {
        let s = &self.series[id];
        let born = s.points.front()?.0;
        let oldest = self.tick_after(now_ms - self.retention_ms);
        let from = (start_ms.div_euclid(self.interval_ms) + 1)
            .max(born)
            .max(oldest);
        let to = self.tick_before(end_ms.min(now_ms));
        (from <= to).then_some((from, to))
    }

    /// The latest sample at or before `at_ms` and after `at_ms - lookback_ms`.
    pub fn instant(&self, id: usize, at_ms: i64, lookback_ms: i64, now_ms: i64) -> Option<f64> {
        let (_, to) = self.ticks(id, at_ms - lookback_ms, at_ms, now_ms)?;
        self.series[id].value_at(to)
    }

    /// Every sample in (start_ms, end_ms] as (timestamp ms, value).
    pub fn samples(&self, id: usize, start_ms: i64, end_ms: i64, now_ms: i64) -> Vec<(i64, f64)> {
        let Some((from, to)) = self.ticks(id, start_ms, end_ms, now_ms) else {
            return vec![];
        };
        let s = &self.series[id];
        (from..=to)
            .filter_map(|k| s.value_at(k).map(|v| (k * self.interval_ms, v)))
            .collect()
    }

    /// [`Tsdb::window`] as it was written first, a value looked up per tick it needs; the
    /// tests check the walk against it.
    #[cfg(test)]
    pub fn window_by_values(
        &self,
        id: usize,
        start_ms: i64,
        end_ms: i64,
        now_ms: i64,
    ) -> Option<Window> {
        let (from, to) = self.ticks(id, start_ms, end_ms, now_ms)?;
        let s = &self.series[id];
        let first = s.value_at(from)?;
        let last = s.value_at(to)?;
        let before_last = (to > from)
            .then(|| s.value_at(to - 1).map(|v| ((to - 1) * self.interval_ms, v)))
            .flatten();
        let mut resets = 0.0;
        let mut prev = first;
        let start = s.points.partition_point(|(t, _)| *t <= from);
        for (t, v) in s.points.range(start..) {
            if *t > to {
                break;
            }
            if *v < prev {
                resets += prev;
            }
            prev = *v;
        }
        Some(Window {
            first: (from * self.interval_ms, first),
            last: (to * self.interval_ms, last),
            before_last,
            count: (to - from + 1) as usize,
            resets,
        })
    }

    /// The samples in (start_ms, end_ms] summarised; None when there are none.
    pub fn window(&self, id: usize, start_ms: i64, end_ms: i64, now_ms: i64) -> Option<Window> {
        let (from, to) = self.ticks(id, start_ms, end_ms, now_ms)?;
        let s = &self.series[id];
        // One search for the point in force at `from`, then a walk over the changes up to
        // `to` (a series holds a point per change, not per tick).
        let start = s.points_through(from);
        let first = s.points.get(start.checked_sub(1)?)?.1;
        let mut resets = 0.0;
        let mut prev = first;
        let mut before_to = first;
        for (t, v) in s.points.range(start..) {
            if *t > to {
                break;
            }
            if *v < prev {
                resets += prev;
            }
            prev = *v;
            if *t < to {
                before_to = *v;
            }
        }
        Some(Window {
            first: (from * self.interval_ms, first),
            last: (to * self.interval_ms, prev),
            before_last: (to > from).then(|| ((to - 1) * self.interval_ms, before_to)),
            count: (to - from + 1) as usize,
            resets,
        })
    }
}

/// What one end of a hop saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// HTTP status; 0 when no response came back.
    pub code: u16,
    /// Envoy's response flag, when one applies (`NR`, `UH`, `FI`, `UT`, `DC`, ...).
    pub flag: Option<&'static str>,
    pub duration: Duration,
}

/// One request from a proxy to a service, as the data plane completed it.
#[derive(Debug, Clone, Copy)]
pub struct HopRecord<'a> {
    /// The pod that sent it: the ingress gateway, or an app pod.
    pub source: &'a Value,
    /// Whether it left through the source pod's proxy (not so from a pod without a
    /// sidecar, or from the istio-proxy container itself, whose traffic is not captured).
    pub source_proxied: bool,
    /// Whether the two proxies spoke mutual TLS: both sides have one and the destination's
    /// PeerAuthentication is not DISABLE (auto mTLS then sends plain text).
    pub mutual_tls: bool,
    /// The service host it was for (FQDN), or the request's authority when no route matched.
    pub service_host: &'a str,
    /// The pod it reached, when it reached one.
    pub destination: Option<&'a Value>,
    /// What the sender saw; None for a try that a retry replaced (only the destination
    /// counts it).
    pub at_source: Option<Outcome>,
    /// What the receiving pod saw, when the request reached it.
    pub at_destination: Option<Outcome>,
    /// How long the hop took: the counters move that long after it was routed, when a real
    /// proxy would report it. (The time spent before the hop within an outer request is not
    /// added: a few milliseconds, except behind an injected delay.)
    pub completes_after: Duration,
}

/// The series ids of one label set across the request counter and the duration histogram.
#[derive(Debug, Clone)]
struct Family {
    requests: usize,
    buckets: Vec<usize>,
    sum: usize,
    count: usize,
}

/// The mesh's metrics: what the data plane records and the simulated Prometheus reads.
#[derive(Debug)]
pub struct MeshMetrics {
    clock: SharedClock,
    db: RwLock<Tsdb>,
    families: std::sync::Mutex<HashMap<Labels, Family>>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn or_unknown(v: &str) -> String {
    if v.is_empty() {
        "unknown".into()
    } else {
        v.to_string()
    }
}

/// A pod as Istio's stats plugin names it.
struct Peer {
    workload: String,
    namespace: String,
    app: String,
    version: String,
    canonical_service: String,
    canonical_revision: String,
    principal: String,
}

impl Peer {
    fn unknown() -> Self {
        let u = || "unknown".to_string();
        Peer {
            workload: u(),
            namespace: u(),
            app: u(),
            version: u(),
            canonical_service: u(),
            canonical_revision: u(),
            principal: u(),
        }
    }

    fn of(pod: &Value, mtls: bool) -> Self {
        let label = |k: &str| {
            pod.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let namespace = s(pod, "/metadata/namespace").to_string();
        let workload = workload_name(pod);
        let app = label("app");
        let version = label("version");
        let canonical_service = [label("service.istio.io/canonical-name"), app]
            .into_iter()
            .find(|x| !x.is_empty())
            .map(String::from)
            .unwrap_or_else(|| workload.clone());
        let canonical_revision = [label("service.istio.io/canonical-revision"), version]
            .into_iter()
            .find(|x| !x.is_empty())
            .unwrap_or("latest")
            .to_string();
        let sa = [s(pod, "/spec/serviceAccountName"), "default"]
            .into_iter()
            .find(|x| !x.is_empty())
            .unwrap_or("default");
        Peer {
            principal: if mtls {
                format!("spiffe://cluster.local/ns/{namespace}/sa/{sa}")
            } else {
                "unknown".into()
            },
            workload,
            namespace,
            app: or_unknown(app),
            version: or_unknown(version),
            canonical_service,
            canonical_revision,
        }
    }
}

/// Istio's workload name: the owning Deployment (the ReplicaSet without its template hash),
/// StatefulSet or other owner, else the pod's own name.
pub fn workload_name(pod: &Value) -> String {
    let owner = pod
        .pointer("/metadata/ownerReferences/0")
        .filter(|o| !s(o, "/name").is_empty());
    match owner {
        Some(o) => {
            let name = s(o, "/name");
            let hash = s(pod, "/metadata/labels/pod-template-hash");
            if s(o, "/kind") == "ReplicaSet" && !hash.is_empty() {
                name.strip_suffix(hash)
                    .and_then(|n| n.strip_suffix('-'))
                    .unwrap_or(name)
                    .to_string()
            } else {
                name.to_string()
            }
        }
        None => s(pod, "/metadata/name").to_string(),
    }
}

/// `reviews.default.svc.cluster.local` -> (`reviews`, `default`); other hosts keep their name.
fn service_parts(host: &str) -> (String, String) {
    match host.strip_suffix(".svc.cluster.local") {
        Some(rest) => match rest.split_once('.') {
            Some((name, ns)) => (name.to_string(), ns.to_string()),
            None => (rest.to_string(), "unknown".into()),
        },
        None => (host.to_string(), "unknown".into()),
    }
}

/// Prometheus's label name rule: anything outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitize_label(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The labels the addon's `kubernetes-pods` job puts on everything it scrapes from a pod.
fn target_labels(pod: &Value, into: &mut Labels) {
    if let Some(Value::Object(l)) = pod.pointer("/metadata/labels") {
        for (k, v) in l {
            if let Some(v) = v.as_str() {
                into.insert(sanitize_label(k), v.to_string());
            }
        }
    }
    into.insert("namespace".into(), s(pod, "/metadata/namespace").into());
    into.insert("pod".into(), s(pod, "/metadata/name").into());
    into.insert("node".into(), s(pod, "/spec/nodeName").into());
    into.insert(
        "instance".into(),
        format!("{}:15020", s(pod, "/status/podIP")),
    );
    into.insert("job".into(), "kubernetes-pods".into());
}

fn format_le(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".into()
    } else {
        le.to_string()
    }
}

impl MeshMetrics {
    pub fn new(clock: SharedClock, cfg: MetricsConfig) -> Self {
        MeshMetrics {
            clock,
            db: RwLock::new(Tsdb::new(cfg)),
            families: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The series, for reading (the simulated Prometheus's queries).
    pub fn read(&self) -> RwLockReadGuard<'_, Tsdb> {
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the series by hand, for tests of what reads them.
    #[cfg(test)]
    pub fn write_for_test(&self, f: impl FnOnce(&mut Tsdb)) {
        f(&mut self.db.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts one hop at both proxies that saw it. A pod without a sidecar reports nothing,
    /// as in a real mesh.
    pub fn record(&self, hop: &HopRecord<'_>) {
        let at_ms = unix_ms(self.clock.now() + hop.completes_after);
        let source_proxy = hop.source_proxied;
        let dest_proxy = hop.destination.is_some_and(already_injected);
        // Sidecars speak mutual TLS to each other on their own (auto mTLS) unless the
        // destination disables it; a client without one sends plain text.
        let mtls = source_proxy && dest_proxy && hop.mutual_tls;
        let source = Peer::of(hop.source, mtls);
        let destination = hop
            .destination
            .map(|d| Peer::of(d, mtls))
            .unwrap_or_else(Peer::unknown);
        if source_proxy && let Some(at_source) = &hop.at_source {
            let labels = self.labels(
                "source",
                hop,
                &source,
                &destination,
                at_source,
                "unknown",
                hop.source,
            );
            self.count(labels, at_ms, at_source);
        }
        if let (true, Some(outcome), Some(dest_pod)) =
            (dest_proxy, hop.at_destination.as_ref(), hop.destination)
        {
            // The destination sidecar does not know a client without a proxy.
            let source = if source_proxy {
                source
            } else {
                Peer::unknown()
            };
            let policy = if mtls { "mutual_tls" } else { "none" };
            let labels = self.labels(
                "destination",
                hop,
                &source,
                &destination,
                outcome,
                policy,
                dest_pod,
            );
            self.count(labels, at_ms, outcome);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn labels(
        &self,
        reporter: &str,
        hop: &HopRecord<'_>,
        source: &Peer,
        destination: &Peer,
        outcome: &Outcome,
        policy: &str,
        reporting_pod: &Value,
    ) -> Labels {
        let mut l = Labels::new();
        target_labels(reporting_pod, &mut l);
        let (svc_name, svc_ns) = service_parts(hop.service_host);
        let mut put = |k: &str, v: &str| {
            l.insert(k.to_string(), v.to_string());
        };
        put("reporter", reporter);
        put("source_workload", &source.workload);
        put("source_workload_namespace", &source.namespace);
        put("source_principal", &source.principal);
        put("source_app", &source.app);
        put("source_version", &source.version);
        put("source_canonical_service", &source.canonical_service);
        put("source_canonical_revision", &source.canonical_revision);
        put(
            "source_cluster",
            if source.workload == "unknown" {
                "unknown"
            } else {
                "Kubernetes"
            },
        );
        put("destination_workload", &destination.workload);
        put("destination_workload_namespace", &destination.namespace);
        put("destination_principal", &destination.principal);
        put("destination_app", &destination.app);
        put("destination_version", &destination.version);
        put("destination_service", hop.service_host);
        put("destination_service_name", &svc_name);
        put("destination_service_namespace", &svc_ns);
        put(
            "destination_canonical_service",
            &destination.canonical_service,
        );
        put(
            "destination_canonical_revision",
            &destination.canonical_revision,
        );
        put(
            "destination_cluster",
            if destination.workload == "unknown" {
                "unknown"
            } else {
                "Kubernetes"
            },
        );
        put("request_protocol", "http");
        put("response_code", &outcome.code.to_string());
        put("grpc_response_status", "");
        put("response_flags", outcome.flag.unwrap_or("-"));
        put("connection_security_policy", policy);
        l
    }

    fn count(&self, base: Labels, at_ms: i64, outcome: &Outcome) {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        let family = {
            let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
            match families.get(&base) {
                Some(f) => f.clone(),
                None => {
                    let named = |name: &str, le: Option<f64>| {
                        let mut l = base.clone();
                        l.insert(METRIC_NAME.into(), name.into());
                        if let Some(le) = le {
                            l.insert("le".into(), format_le(le));
                        }
                        l
                    };
                    let f = Family {
                        requests: db.series_id(named(REQUESTS_TOTAL, None)),
                        buckets: DURATION_BUCKETS_MS
                            .iter()
                            .copied()
                            .chain([f64::INFINITY])
                            .map(|le| db.series_id(named(DURATION_BUCKET, Some(le))))
                            .collect(),
                        sum: db.series_id(named(DURATION_SUM, None)),
                        count: db.series_id(named(DURATION_COUNT, None)),
                    };
                    families.insert(base, f.clone());
                    f
                }
            }
        };
        let ms = outcome.duration.as_secs_f64() * 1000.0;
        db.add(family.requests, at_ms, 1.0);
        for (id, le) in family
            .buckets
            .iter()
            .zip(DURATION_BUCKETS_MS.iter().copied().chain([f64::INFINITY]))
        {
            if ms <= le {
                db.add(*id, at_ms, 1.0);
            }
        }
        db.add(family.sum, at_ms, ms);
        db.add(family.count, at_ms, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db(interval_s: u64) -> Tsdb {
        Tsdb::new(MetricsConfig {
            scrape_interval: Duration::from_secs(interval_s),
            retention: Duration::from_secs(600),
        })
    }

    fn named(name: &str) -> Labels {
        Labels::from([(METRIC_NAME.to_string(), name.to_string())])
    }

    #[test]
    fn a_change_shows_at_the_next_scrape_and_samples_fill_every_tick() {
        let mut d = db(10);
        let id = d.series_id(named("c"));
        d.add(id, 1_000, 1.0); // seen by the scrape at 10 s
        d.add(id, 10_000, 1.0); // exactly at a scrape: that scrape sees it
        d.add(id, 25_000, 3.0); // at 30 s
        let all = d.samples(id, 0, 60_000, 60_000);
        assert_eq!(
            all,
            vec![
                (10_000, 2.0),
                (20_000, 2.0),
                (30_000, 5.0),
                (40_000, 5.0),
                (50_000, 5.0),
                (60_000, 5.0)
            ]
        );
        // Nothing after "now": the scrape at 40 s has not happened at 35 s.
        assert_eq!(d.samples(id, 0, 60_000, 35_000).len(), 3);
        // The range is open on the left.
        assert_eq!(d.samples(id, 10_000, 30_000, 60_000).len(), 2);
        assert_eq!(d.instant(id, 35_000, 300_000, 60_000), Some(5.0));
        assert_eq!(d.instant(id, 5_000, 300_000, 60_000), None);
    }

    #[test]
    fn late_events_move_later_points_up() {
        let mut d = db(1);
        let id = d.series_id(named("c"));
        d.add(id, 5_000, 1.0);
        d.add(id, 2_000, 1.0);
        assert_eq!(
            d.samples(id, 0, 6_000, 6_000),
            vec![
                (2_000, 1.0),
                (3_000, 1.0),
                (4_000, 1.0),
                (5_000, 2.0),
                (6_000, 2.0)
            ]
        );
    }

    #[test]
    fn windows_count_resets_like_prometheus() {
        let mut d = db(1);
        let id = d.series_id(named("c"));
        d.set(id, 1_000, 5.0);
        d.set(id, 3_000, 8.0);
        d.set(id, 4_000, 2.0);
        let w = d.window(id, 0, 5_000, 5_000).unwrap();
        assert_eq!(w.first, (1_000, 5.0));
        assert_eq!(w.last, (5_000, 2.0));
        assert_eq!(w.before_last, Some((4_000, 2.0)));
        assert_eq!(w.count, 5);
        assert_eq!(w.resets, 8.0);
    }

    #[test]
    fn retention_drops_old_samples() {
        let mut d = Tsdb::new(MetricsConfig {
            scrape_interval: Duration::from_secs(1),
            retention: Duration::from_secs(10),
        });
        let id = d.series_id(named("c"));
        d.add(id, 1_000, 1.0);
        d.add(id, 30_000, 1.0);
        // The old point still gives the value at the cut.
        assert_eq!(d.series[id].points.len(), 2);
        let s = d.samples(id, 0, 30_000, 30_000);
        assert_eq!(s.first(), Some(&(20_000, 1.0)));
        assert_eq!(s.len(), 11);
        d.add(id, 45_000, 1.0);
        assert_eq!(d.series[id].points, VecDeque::from([(30, 2.0), (45, 3.0)]));
    }

    fn pod(name: &str, app: &str, version: &str, sidecar: bool) -> Value {
        let mut p = json!({
            "metadata": {"name": format!("{name}-7d4b9-x2x4z"), "namespace": "default",
                "labels": {"app": app, "version": version, "pod-template-hash": "7d4b9"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": format!("{name}-7d4b9")}]},
            "spec": {"serviceAccountName": format!("bookinfo-{app}"), "nodeName": "n1"},
            "status": {"podIP": "10.244.0.9"}
        });
        if sidecar {
            p["metadata"]["annotations"] = json!({"sidecar.istio.io/status": "{}"});
        }
        p
    }

    fn clock_at(secs: u64) -> SharedClock {
        #[derive(Debug)]
        struct Fixed(SystemTime);
        impl crate::clock::Clock for Fixed {
            fn now(&self) -> SystemTime {
                self.0
            }
        }
        Arc::new(Fixed(UNIX_EPOCH + Duration::from_secs(secs)))
    }

    fn requests(m: &MeshMetrics) -> Vec<Labels> {
        let db = m.read();
        db.select(Some(REQUESTS_TOTAL), |_| true)
            .into_iter()
            .map(|id| (*db.labels(id)).clone())
            .collect()
    }

    #[test]
    fn both_sidecars_report_a_hop_with_istio_labels() {
        let m = MeshMetrics::new(clock_at(1_000), MetricsConfig::default());
        let src = pod("productpage-v1", "productpage", "v1", true);
        let dst = pod("reviews-v2", "reviews", "v2", true);
        let ok = Outcome {
            code: 200,
            flag: None,
            duration: Duration::from_millis(7),
        };
        m.record(&HopRecord {
            source: &src,
            source_proxied: already_injected(&src),
            mutual_tls: true,
            service_host: "reviews.default.svc.cluster.local",
            destination: Some(&dst),
            at_source: Some(ok),
            at_destination: Some(ok),
            completes_after: Duration::ZERO,
        });
        let series = requests(&m);
        assert_eq!(series.len(), 2);
        let by = |r: &str| series.iter().find(|l| l["reporter"] == r).unwrap().clone();
        let d = by("destination");
        assert_eq!(d["source_workload"], "productpage-v1");
        assert_eq!(d["destination_workload"], "reviews-v2");
        assert_eq!(d["destination_version"], "v2");
        assert_eq!(d["destination_service_name"], "reviews");
        assert_eq!(d["destination_service_namespace"], "default");
        assert_eq!(d["connection_security_policy"], "mutual_tls");
        assert_eq!(
            d["source_principal"],
            "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
        );
        assert_eq!(d["response_code"], "200");
        assert_eq!(d["response_flags"], "-");
        assert_eq!(d["pod"], "reviews-v2-7d4b9-x2x4z");
        assert_eq!(d["pod_template_hash"], "7d4b9");
        let s = by("source");
        assert_eq!(s["connection_security_policy"], "unknown");
        assert_eq!(s["pod"], "productpage-v1-7d4b9-x2x4z");
        // 7 ms lands in the buckets from 10 ms up.
        let db = m.read();
        let buckets = db.select(Some(DURATION_BUCKET), |l| l["reporter"] == "source");
        assert_eq!(buckets.len(), 20);
        let counted: Vec<String> = buckets
            .into_iter()
            .filter(|id| db.instant(*id, 1_001_000, 300_000, 1_001_000) == Some(1.0))
            .map(|id| db.labels(id)["le"].clone())
            .collect();
        assert_eq!(counted.len(), 17);
        assert!(counted.contains(&"10".to_string()) && counted.contains(&"+Inf".to_string()));
        assert!(!counted.contains(&"5".to_string()));
    }

    #[test]
    fn a_client_without_sidecar_is_seen_only_by_the_destination_in_plain_text() {
        let m = MeshMetrics::new(clock_at(1_000), MetricsConfig::default());
        let src = pod("curl", "curl", "", false);
        let dst = pod("productpage-v1", "productpage", "v1", true);
        let ok = Outcome {
            code: 200,
            flag: None,
            duration: Duration::from_millis(3),
        };
        m.record(&HopRecord {
            source: &src,
            source_proxied: already_injected(&src),
            mutual_tls: true,
            service_host: "productpage.default.svc.cluster.local",
            destination: Some(&dst),
            at_source: Some(ok),
            at_destination: Some(ok),
            completes_after: Duration::ZERO,
        });
        let series = requests(&m);
        assert_eq!(series.len(), 1);
        assert_eq!(series[0]["reporter"], "destination");
        assert_eq!(series[0]["source_workload"], "unknown");
        assert_eq!(series[0]["connection_security_policy"], "none");
    }

    #[test]
    fn a_failure_at_the_source_has_no_destination_workload() {
        let m = MeshMetrics::new(clock_at(1_000), MetricsConfig::default());
        let src = pod("reviews-v2", "reviews", "v2", true);
        m.record(&HopRecord {
            source: &src,
            source_proxied: already_injected(&src),
            mutual_tls: true,
            service_host: "ratings.default.svc.cluster.local",
            destination: None,
            at_source: Some(Outcome {
                code: 500,
                flag: Some("FI"),
                duration: Duration::ZERO,
            }),
            at_destination: None,
            completes_after: Duration::ZERO,
        });
        let series = requests(&m);
        assert_eq!(series.len(), 1);
        assert_eq!(series[0]["destination_workload"], "unknown");
        assert_eq!(series[0]["destination_service_name"], "ratings");
        assert_eq!(series[0]["response_code"], "500");
        assert_eq!(series[0]["response_flags"], "FI");
    }

    #[test]
    fn workload_names_drop_the_template_hash() {
        let p = pod("reviews-v2", "reviews", "v2", true);
        assert_eq!(workload_name(&p), "reviews-v2");
        assert_eq!(
            workload_name(
                &json!({"metadata": {"name": "loki-0", "ownerReferences": [{"kind": "StatefulSet", "name": "loki"}]}})
            ),
            "loki"
        );
        assert_eq!(
            workload_name(&json!({"metadata": {"name": "bare"}})),
            "bare"
        );
    }
}
