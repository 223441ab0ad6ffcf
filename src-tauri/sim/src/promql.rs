//! The simulated Prometheus's query engine: PromQL parsed by `promql-parser` and evaluated
//! over the mesh's series ([`Tsdb`]) with Prometheus's semantics for the subset that Istio
//! dashboards and Kiali-style graphs use ([`SUPPORTED`]). Anything else is refused as
//! [`QueryError::Unsupported`], never answered approximately.
//!
//! Semantics kept from Prometheus: ranges are open on the left (`(t - range, t]`), instant
//! selectors look back 5 minutes, `rate`/`increase` extrapolate like `extrapolatedRate`
//! (to the range's ends, at most half an average sample interval beyond the samples, never
//! below zero), counter resets are added back, `histogram_quantile` interpolates linearly
//! inside the bucket like `BucketQuantile`, arithmetic drops the metric name and comparison
//! filters keep it.
//!
//! Labels travel as interned ids ([`LabelSet`]): matching, grouping and hashing compare
//! integers, and output is ordered by the strings' ranks, the order the strings themselves
//! would give. Strings are looked up again only for the answer's JSON.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};

use promql_parser::label::Matcher;
use promql_parser::parser::token;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset,
    VectorMatchCardinality, VectorSelector,
};

use crate::metrics::{LabelSet, METRIC_NAME, Sym, Tsdb, Window};

/// How far back an instant selector finds a sample, as Prometheus's default.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Prometheus refuses range queries with more points per series.
pub const MAX_POINTS: i64 = 11_000;

/// What the simulated Prometheus evaluates, for error messages and the README.
pub const SUPPORTED: &str = "instant and range selectors with label matchers (=, !=, =~, !~) and offset; rate, irate and increase over a range; sum, avg, min, max and count, with by or without; histogram_quantile; round, abs, ceil, floor, clamp_min, clamp_max, scalar, vector and time; + - * / % ^ and comparisons (with or without bool) between scalars and vectors, one-to-one vector matching with on or ignoring; and, or, unless";

/// Why a query got no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Not PromQL, or a bad parameter (Prometheus: 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Valid PromQL that the simulation does not evaluate (422, `execution`).
    #[error("{0}")]
    Unsupported(String),
    /// Supported, but failed while running (422, `execution`), e.g. many-to-many matching.
    #[error("{0}")]
    Execution(String),
}

pub(crate) fn unsupported(what: impl std::fmt::Display) -> QueryError {
    QueryError::Unsupported(format!(
        "{what} is not supported by the simulated Prometheus; it evaluates {SUPPORTED}"
    ))
}

/// A sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: SampleLabels,
    pub value: f64,
}

/// A sample's labels: a series' own until an operation changes them (named by the series,
/// so that passing a sample on touches nothing of its labels), else a set of their own.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleLabels {
    /// The series' labels.
    Series(usize),
    /// The series' labels without the metric name.
    Unnamed(usize),
    Set(LabelSet),
}

impl SampleLabels {
    /// The labels, interned.
    pub fn ids<'a>(&'a self, db: &'a Tsdb) -> &'a [(Sym, Sym)] {
        match self {
            SampleLabels::Series(id) => db.label_ids(*id),
            SampleLabels::Unnamed(id) => db.labels_without_name(*id),
            SampleLabels::Set(set) => set,
        }
    }
}

/// A series of a range vector or of a range query's result: (timestamp ms, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: LabelSet,
    pub points: Vec<(i64, f64)>,
}

/// The result of an instant evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
}

/// Parses a query; a parse error reads like Prometheus's (`parse error: ...`).
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    if query.trim().is_empty() {
        return Err(QueryError::BadData(
            "invalid parameter \"query\": 1:1: parse error: no expression found in input".into(),
        ));
    }
    promql_parser::parser::parse(query)
        .map_err(|e| QueryError::BadData(format!("invalid parameter \"query\": parse error: {e}")))
}

/// Buckets of a histogram grouped by their labels other than `le` (in label order), each
/// as (upper bound, count) pairs in the order the vector had them.
type BucketGroups = Vec<(LabelSet, Vec<(f64, f64)>)>;

/// Bucket groups being computed or computed: a query that finds another's computation
/// under way waits for it instead of doing the same work beside it.
type Slot = Arc<OnceLock<Result<Arc<BucketGroups>, QueryError>>>;

#[derive(Debug)]
struct CacheEntry {
    expr: String,
    t_ms: i64,
    /// [`Tsdb::readable_ticks`] at the evaluation: the oldest and latest ticks it read.
    ticks: (i64, i64),
    groups: Slot,
}

/// The bucket groups of recent `histogram_quantile` arguments.
///
/// Real Prometheus needs no such cache: it evaluates each query on its own cores. The graph
/// asks for three quantiles of the same histogram at once (`histogram_quantile(q, sum by
/// (le, ...) (rate(..._bucket[w])))` for p50, p95 and p99), and in the simulation all three
/// share the machine with the app and the rest of the simulated cluster; summing tens of
/// thousands of bucket series is most of each. The three ask at the same evaluation time,
/// so the second and third reuse the first's buckets. An entry holds while no sample it
/// could have read changes: every write to the series drops the entries that read the tick
/// it wrote (see [`QueryCache::written`]). At most [`QueryCache::CAPACITY`] entries, the
/// oldest dropped first.
#[derive(Debug, Default)]
pub struct QueryCache {
    entries: VecDeque<CacheEntry>,
}

impl QueryCache {
    pub const CAPACITY: usize = 8;

    /// The slot for `expr` at `t_ms`, added empty when there is none.
    fn slot(&mut self, expr: String, t_ms: i64, ticks: (i64, i64)) -> Slot {
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.t_ms == t_ms && e.ticks == ticks && e.expr == expr)
        {
            return e.groups.clone();
        }
        if self.entries.len() >= Self::CAPACITY {
            self.entries.pop_front();
        }
        let groups = Slot::default();
        self.entries.push_back(CacheEntry {
            expr,
            t_ms,
            ticks,
            groups: groups.clone(),
        });
        groups
    }

    /// A write changed what the scrapes from `tick` on saw (a scrape never sees a later
    /// change) and, when it dropped points older than the retention, made the series begin
    /// at `born`: which changes only reads before `born`.
    pub(crate) fn written(&mut self, tick: i64, born: Option<i64>) {
        self.entries
            .retain(|e| tick > e.ticks.1 && born.is_none_or(|b| b <= e.ticks.0));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The group key of each series (its labels without the metric name, filtered by an
/// aggregation's `by` or `without`), computed the first time the series is aggregated that
/// way: aggregating then reads an id per sample instead of each series' labels, which for
/// tens of thousands of series is mostly waiting on memory.
#[derive(Debug, Default)]
pub struct Grouping {
    /// By series id: the key's index in `keys`, or [`Grouping::UNKNOWN`].
    of_series: Vec<u32>,
    keys: Vec<LabelSet>,
    index: FxHashMap<LabelSet, u32>,
}

impl Grouping {
    const UNKNOWN: u32 = u32::MAX;

    fn key_id(&mut self, key: &[(Sym, Sym)]) -> u32 {
        if let Some(k) = self.index.get(key) {
            return *k;
        }
        let id = self.keys.len() as u32;
        let key: LabelSet = key.into();
        self.keys.push(key.clone());
        self.index.insert(key, id);
        id
    }

    fn of_series(&mut self, series: usize, key: impl FnOnce() -> Vec<(Sym, Sym)>) -> u32 {
        if series >= self.of_series.len() {
            self.of_series.resize(series + 1, Self::UNKNOWN);
        }
        if self.of_series[series] == Self::UNKNOWN {
            let k = key();
            self.of_series[series] = self.key_id(&k);
        }
        self.of_series[series]
    }
}

/// Evaluates queries against the series as scraped up to `now_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Evaluator<'a> {
    pub db: &'a Tsdb,
    pub now_ms: i64,
}

pub(crate) fn dur_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

/// A label's value in a set.
fn get(set: &[(Sym, Sym)], name: Sym) -> Option<Sym> {
    set.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// Orders label sets as their strings order (names, then values, pair by pair).
fn cmp_sets(ranks: &[u32], a: &[(Sym, Sym)], b: &[(Sym, Sym)]) -> Ordering {
    let r = |(k, v): &(Sym, Sym)| (ranks[*k as usize], ranks[*v as usize]);
    a.iter().map(r).cmp(b.iter().map(r))
}

/// A selector's matchers with their label names interned (None: no series has the label).
struct Compiled<'m> {
    all: Vec<(Option<Sym>, &'m Matcher)>,
    any: Vec<Vec<(Option<Sym>, &'m Matcher)>>,
}

/// Where an absent label, or one with an empty value, stands in a signature.
const EMPTY: Sym = Sym::MAX;

/// What two sides are matched on, with label names interned.
enum Matching {
    /// The values of these labels, in order.
    On(Vec<Option<Sym>>),
    /// Every label but the metric name and these.
    Ignoring(Vec<Sym>),
}

/// Prometheus's `extrapolatedRate`: the increase between the first and last samples,
/// extrapolated to the range's ends when the samples come close to them.
pub(crate) fn extrapolated(
    w: &Window,
    range_start: i64,
    range_end: i64,
    is_rate: bool,
) -> Option<f64> {
    if w.count < 2 {
        return None;
    }
    let mut result = w.last.1 - w.first.1 + w.resets;
    let sampled = (w.last.0 - w.first.0) as f64 / 1000.0;
    let avg_between = sampled / (w.count - 1) as f64;
    let threshold = avg_between * 1.1;
    let mut to_start = (w.first.0 - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - w.last.0) as f64 / 1000.0;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if result > 0.0 && w.first.1 >= 0.0 {
        // A counter cannot have been below zero: do not extrapolate past its zero point.
        let to_zero = sampled * (w.first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let factor = (sampled + to_start + to_end) / sampled;
    result *= factor;
    if is_rate {
        result /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result)
}

pub(crate) fn irate(w: &Window) -> Option<f64> {
    let (t0, v0) = w.before_last?;
    let (t1, v1) = w.last;
    let dt = (t1 - t0) as f64 / 1000.0;
    if dt <= 0.0 {
        return None;
    }
    let delta = if v1 < v0 { v1 } else { v1 - v0 };
    Some(delta / dt)
}

/// Prometheus's `BucketQuantile` over (upper bound, cumulative count) pairs.
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return f64::NAN;
    }
    // Same bound twice (from series that differ only in label spelling): add them up.
    let mut merged: Vec<(f64, f64)> = vec![];
    for (le, c) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    // Counts from separate scrapes can be slightly out of order; force them monotonic.
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 < max {
            b.1 = max;
        } else {
            max = b.1;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|x| x.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let mut start = 0.0;
    let end = merged[b].0;
    let mut count = merged[b].1;
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

pub(crate) fn arith(op: token::TokenId, l: f64, r: f64) -> Option<f64> {
    Some(match op {
        token::T_ADD => l + r,
        token::T_SUB => l - r,
        token::T_MUL => l * r,
        token::T_DIV => l / r,
        token::T_MOD => l % r,
        token::T_POW => l.powf(r),
        token::T_ATAN2 => l.atan2(r),
        _ => return None,
    })
}

pub(crate) fn compare(op: token::TokenId, l: f64, r: f64) -> Option<bool> {
    Some(match op {
        token::T_EQLC => l == r,
        token::T_NEQ => l != r,
        token::T_GTR => l > r,
        token::T_LSS => l < r,
        token::T_GTE => l >= r,
        token::T_LTE => l <= r,
        _ => return None,
    })
}

impl Evaluator<'_> {
    /// Evaluates `expr` at `t_ms`.
    pub fn instant(&self, expr: &Expr, t_ms: i64) -> Result<QueryValue, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(QueryValue::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(QueryValue::String(s.val.clone())),
            Expr::Paren(p) => self.instant(&p.expr, t_ms),
            Expr::Unary(u) => match self.instant(&u.expr, t_ms)? {
                QueryValue::Scalar(v) => Ok(QueryValue::Scalar(-v)),
                QueryValue::Vector(v) => Ok(QueryValue::Vector(
                    v.into_iter()
                        .map(|s| Sample {
                            labels: self.drop_name(s.labels),
                            value: -s.value,
                        })
                        .collect(),
                )),
                _ => Err(unsupported("negating this expression")),
            },
            Expr::VectorSelector(vs) => Ok(QueryValue::Vector(self.select(vs, t_ms)?)),
            Expr::MatrixSelector(ms) => Ok(QueryValue::Matrix(self.select_range(ms, t_ms)?)),
            Expr::Subquery(_) => Err(unsupported("a subquery")),
            Expr::Call(c) => self.call(c, t_ms),
            Expr::Aggregate(a) => self.aggregate(a, t_ms),
            Expr::Binary(b) => self.binary(b, t_ms),
            Expr::Extension(e) => Err(unsupported(format!("the extension {}", e.expr.name()))),
        }
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms`, as `/api/v1/query_range`.
    pub fn range(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<RangeSeries>, QueryError> {
        check_range(expr, start_ms, end_ms, step_ms)?;
        let mut out: FxHashMap<LabelSet, Vec<(i64, f64)>> = FxHashMap::default();
        let mut t = start_ms;
        while t <= end_ms {
            match self.instant(expr, t)? {
                QueryValue::Scalar(v) => out.entry(LabelSet::from([])).or_default().push((t, v)),
                QueryValue::Vector(v) => {
                    for s in v {
                        out.entry(s.labels.ids(self.db).into())
                            .or_default()
                            .push((t, s.value));
                    }
                }
                _ => return Err(unsupported("this expression in a range query")),
            }
            t += step_ms;
        }
        let ranks = self.db.ranks();
        let mut series: Vec<RangeSeries> = out
            .into_iter()
            .map(|(labels, points)| RangeSeries { labels, points })
            .collect();
        series.sort_unstable_by(|a, b| cmp_sets(&ranks, &a.labels, &b.labels));
        Ok(series)
    }

    fn name_sym(&self) -> Option<Sym> {
        self.db.sym(METRIC_NAME)
    }

    fn drop_name(&self, l: SampleLabels) -> SampleLabels {
        match l {
            SampleLabels::Series(id) => SampleLabels::Unnamed(id),
            SampleLabels::Set(set) => match self.name_sym() {
                Some(n) if get(&set, n).is_some() => {
                    SampleLabels::Set(set.iter().filter(|(k, _)| *k != n).copied().collect())
                }
                _ => SampleLabels::Set(set),
            },
            unnamed => unnamed,
        }
    }

    fn compile<'m>(&self, vs: &'m VectorSelector) -> Compiled<'m> {
        let one = |ms: &'m [Matcher]| ms.iter().map(|m| (self.db.sym(&m.name), m)).collect();
        Compiled {
            all: one(&vs.matchers.matchers),
            any: vs.matchers.or_matchers.iter().map(|g| one(g)).collect(),
        }
    }

    fn accepts(&self, c: &Compiled<'_>, set: &[(Sym, Sym)]) -> bool {
        let value = |name: Option<Sym>| {
            name.and_then(|n| get(set, n))
                .map(|v| self.db.str(v))
                .unwrap_or("")
        };
        let all = |ms: &[(Option<Sym>, &Matcher)]| ms.iter().all(|(n, m)| m.is_match(value(*n)));
        all(&c.all) && (c.any.is_empty() || c.any.iter().any(|g| all(g)))
    }

    /// Series ids that a selector picks, by its metric name and matchers.
    fn selected(&self, vs: &VectorSelector) -> Arc<Vec<usize>> {
        let c = self.compile(vs);
        // Debug shows every part of the matchers, so equal keys select the same.
        let key = format!("{:?} {:?}", vs.name, vs.matchers);
        self.db
            .select_memo(&key, vs.name.as_deref(), |l| self.accepts(&c, l))
    }

    fn select(&self, vs: &VectorSelector, t_ms: i64) -> Result<Vec<Sample>, QueryError> {
        if vs.at.is_some() {
            return Err(unsupported("the @ modifier"));
        }
        let at = t_ms - offset_ms(&vs.offset);
        Ok(self
            .selected(vs)
            .iter()
            .copied()
            .filter_map(|id| {
                self.db
                    .instant(id, at, LOOKBACK_MS, self.now_ms)
                    .map(|value| Sample {
                        labels: SampleLabels::Series(id),
                        value,
                    })
            })
            .collect())
    }

    fn range_bounds(ms: &MatrixSelector, t_ms: i64) -> (i64, i64) {
        let end = t_ms - offset_ms(&ms.vs.offset);
        (end - dur_ms(&ms.range), end)
    }

    fn select_range(&self, ms: &MatrixSelector, t_ms: i64) -> Result<Vec<RangeSeries>, QueryError> {
        if ms.vs.at.is_some() {
            return Err(unsupported("the @ modifier"));
        }
        let (start, end) = Self::range_bounds(ms, t_ms);
        Ok(self
            .selected(&ms.vs)
            .iter()
            .copied()
            .map(|id| RangeSeries {
                labels: self.db.label_ids(id).clone(),
                points: self.db.samples(id, start, end, self.now_ms),
            })
            .filter(|s| !s.points.is_empty())
            .collect())
    }

    /// rate, increase, irate: one output sample per series with enough samples in range.
    fn over_range(&self, name: &str, arg: &Expr, t_ms: i64) -> Result<QueryValue, QueryError> {
        let Expr::MatrixSelector(ms) = arg else {
            return Err(unsupported(format!("{name}() over a subquery")));
        };
        if ms.vs.at.is_some() {
            return Err(unsupported("the @ modifier"));
        }
        let (start, end) = Self::range_bounds(ms, t_ms);
        let mut out = vec![];
        for &id in self.selected(&ms.vs).iter() {
            let Some(w) = self.db.window(id, start, end, self.now_ms) else {
                continue;
            };
            let v = match name {
                "rate" => extrapolated(&w, start, end, true),
                "increase" => extrapolated(&w, start, end, false),
                _ => irate(&w),
            };
            if let Some(value) = v {
                out.push(Sample {
                    labels: SampleLabels::Unnamed(id),
                    value,
                });
            }
        }
        Ok(QueryValue::Vector(out))
    }

    fn scalar_arg(&self, e: &Expr, t_ms: i64, f: &str) -> Result<f64, QueryError> {
        match self.instant(e, t_ms)? {
            QueryValue::Scalar(v) => Ok(v),
            _ => Err(QueryError::Execution(format!(
                "expected a scalar argument to {f}()"
            ))),
        }
    }

    fn vector_arg(&self, e: &Expr, t_ms: i64, f: &str) -> Result<Vec<Sample>, QueryError> {
        match self.instant(e, t_ms)? {
            QueryValue::Vector(v) => Ok(v),
            _ => Err(QueryError::Execution(format!(
                "expected an instant vector argument to {f}()"
            ))),
        }
    }

    fn call(&self, c: &Call, t_ms: i64) -> Result<QueryValue, QueryError> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| {
            args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
                QueryError::BadData(format!("missing argument {} to {name}()", i + 1))
            })
        };
        let map = |v: Vec<Sample>, f: &dyn Fn(f64) -> f64| {
            QueryValue::Vector(
                v.into_iter()
                    .map(|s| Sample {
                        labels: self.drop_name(s.labels),
                        value: f(s.value),
                    })
                    .collect(),
            )
        };
        match name {
            "rate" | "increase" | "irate" => self.over_range(name, arg(0)?, t_ms),
            "time" => Ok(QueryValue::Scalar(t_ms as f64 / 1000.0)),
            "vector" => Ok(QueryValue::Vector(vec![Sample {
                labels: SampleLabels::Set(LabelSet::from([])),
                value: self.scalar_arg(arg(0)?, t_ms, name)?,
            }])),
            "scalar" => {
                let v = self.vector_arg(arg(0)?, t_ms, name)?;
                Ok(QueryValue::Scalar(if v.len() == 1 {
                    v[0].value
                } else {
                    f64::NAN
                }))
            }
            "abs" => Ok(map(self.vector_arg(arg(0)?, t_ms, name)?, &f64::abs)),
            "ceil" => Ok(map(self.vector_arg(arg(0)?, t_ms, name)?, &f64::ceil)),
            "floor" => Ok(map(self.vector_arg(arg(0)?, t_ms, name)?, &f64::floor)),
            "round" => {
                let v = self.vector_arg(arg(0)?, t_ms, name)?;
                let to = match args.get(1) {
                    Some(e) => self.scalar_arg(e, t_ms, name)?,
                    None => 1.0,
                };
                let inv = 1.0 / to;
                Ok(map(v, &|x| (x * inv + 0.5).floor() / inv))
            }
            "clamp_min" | "clamp_max" => {
                let v = self.vector_arg(arg(0)?, t_ms, name)?;
                let bound = self.scalar_arg(arg(1)?, t_ms, name)?;
                Ok(if name == "clamp_min" {
                    map(v, &|x| x.max(bound))
                } else {
                    map(v, &|x| x.min(bound))
                })
            }
            "histogram_quantile" => {
                let q = self.scalar_arg(arg(0)?, t_ms, name)?;
                let groups = self.bucket_groups(arg(1)?, t_ms)?;
                Ok(QueryValue::Vector(
                    groups
                        .iter()
                        .map(|(labels, buckets)| Sample {
                            labels: SampleLabels::Set(labels.clone()),
                            value: bucket_quantile(q, buckets.clone()),
                        })
                        .collect(),
                ))
            }
            other => Err(unsupported(format!("the function {other}()"))),
        }
    }

    /// `histogram_quantile`'s buckets from evaluating `e`, grouped by their other labels
    /// and ordered by them; from the [`QueryCache`] when the same was evaluated for the same
    /// time and nothing it read has changed since.
    fn bucket_groups(&self, e: &Expr, t_ms: i64) -> Result<Arc<BucketGroups>, QueryError> {
        // Debug shows every part of the expression, so equal keys evaluate the same.
        let key = format!("{e:?}");
        let ticks = self.db.readable_ticks(self.now_ms);
        let slot = self.db.cache().slot(key, t_ms, ticks);
        slot.get_or_init(|| self.group_buckets(e, t_ms).map(Arc::new))
            .clone()
    }

    fn group_buckets(&self, e: &Expr, t_ms: i64) -> Result<BucketGroups, QueryError> {
        let v = self.vector_arg(e, t_ms, "histogram_quantile")?;
        let (name, le_sym) = (self.name_sym(), self.db.sym("le"));
        let mut index: FxHashMap<Vec<(Sym, Sym)>, usize> = FxHashMap::default();
        let mut groups: BucketGroups = vec![];
        let mut key_buf: Vec<(Sym, Sym)> = vec![];
        for s in &v {
            let labels = s.labels.ids(self.db);
            let Some(Ok(le)) = le_sym
                .and_then(|l| get(labels, l))
                .map(|le| self.db.str(le).parse::<f64>())
            else {
                continue;
            };
            key_buf.clear();
            key_buf.extend(
                labels
                    .iter()
                    .filter(|(k, _)| Some(*k) != name && Some(*k) != le_sym),
            );
            let i = match index.get(key_buf.as_slice()) {
                Some(i) => *i,
                None => {
                    index.insert(key_buf.clone(), groups.len());
                    groups.push((key_buf.as_slice().into(), vec![]));
                    groups.len() - 1
                }
            };
            groups[i].1.push((le, s.value));
        }
        let ranks = self.db.ranks();
        groups.sort_unstable_by(|a, b| cmp_sets(&ranks, &a.0, &b.0));
        Ok(groups)
    }

    fn aggregate(&self, a: &AggregateExpr, t_ms: i64) -> Result<QueryValue, QueryError> {
        let op = a.op.id();
        if a.param.is_some()
            || !matches!(
                op,
                token::T_SUM | token::T_AVG | token::T_MIN | token::T_MAX | token::T_COUNT
            )
        {
            return Err(unsupported(format!("the aggregation {}", a.op)));
        }
        let input = self.vector_arg(&a.expr, t_ms, &a.op.to_string())?;
        // Which labels make the group key: the listed ones (by), or all but those and the
        // metric name (without); a flag per interned string.
        let name = self.name_sym();
        let mut in_key = vec![false; self.db.ranks().len()];
        match &a.modifier {
            Some(LabelModifier::Include(by)) => {
                for l in &by.labels {
                    if let Some(k) = self.db.sym(l) {
                        in_key[k as usize] = true;
                    }
                }
            }
            Some(LabelModifier::Exclude(without)) => {
                in_key.fill(true);
                for k in without
                    .labels
                    .iter()
                    .filter_map(|l| self.db.sym(l))
                    .chain(name)
                {
                    in_key[k as usize] = false;
                }
            }
            None => {}
        }
        let key_of = |labels: &[(Sym, Sym)]| -> Vec<(Sym, Sym)> {
            labels
                .iter()
                .filter(|(k, _)| in_key[*k as usize])
                .copied()
                .collect()
        };
        // A series' key from the memo: computed without the metric name, so a sample that
        // still has it uses the memo only when the name is not part of the key.
        let name_in_key = name.is_some_and(|n| in_key[n as usize]);
        let memo = self.db.grouping(&format!("{:?}", a.modifier));
        let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
        // (key id, sum or extreme, count) per group, in the order groups first appear.
        let mut index: FxHashMap<u32, usize> = FxHashMap::default();
        let mut groups: Vec<(u32, f64, usize)> = vec![];
        for s in &input {
            let key = match &s.labels {
                SampleLabels::Unnamed(id) => {
                    memo.of_series(*id, || key_of(self.db.labels_without_name(*id)))
                }
                SampleLabels::Series(id) if !name_in_key => {
                    memo.of_series(*id, || key_of(self.db.labels_without_name(*id)))
                }
                other => memo.key_id(&key_of(other.ids(self.db))),
            };
            let i = *index.entry(key).or_insert_with(|| {
                groups.push((key, f64::NAN, 0));
                groups.len() - 1
            });
            let e = &mut groups[i];
            e.1 = match (op, e.2) {
                (_, 0) => s.value,
                (token::T_MIN, _) if s.value < e.1 || e.1.is_nan() => s.value,
                (token::T_MAX, _) if s.value > e.1 || e.1.is_nan() => s.value,
                (token::T_MIN | token::T_MAX, _) => e.1,
                _ => e.1 + s.value,
            };
            e.2 += 1;
        }
        let mut groups: Vec<(LabelSet, f64, usize)> = groups
            .into_iter()
            .map(|(k, acc, n)| (memo.keys[k as usize].clone(), acc, n))
            .collect();
        drop(memo);
        let ranks = self.db.ranks();
        groups.sort_unstable_by(|a, b| cmp_sets(&ranks, &a.0, &b.0));
        Ok(QueryValue::Vector(
            groups
                .into_iter()
                .map(|(labels, acc, n)| Sample {
                    labels: SampleLabels::Set(labels),
                    value: match op {
                        token::T_AVG => acc / n as f64,
                        token::T_COUNT => n as f64,
                        _ => acc,
                    },
                })
                .collect(),
        ))
    }

    fn matching(&self, m: Option<&LabelModifier>) -> Matching {
        match m {
            Some(LabelModifier::Include(on)) => {
                Matching::On(on.labels.iter().map(|l| self.db.sym(l)).collect())
            }
            Some(LabelModifier::Exclude(ign)) => Matching::Ignoring(
                ign.labels
                    .iter()
                    .filter_map(|l| self.db.sym(l))
                    .chain(self.name_sym())
                    .collect(),
            ),
            None => Matching::Ignoring(self.name_sym().into_iter().collect()),
        }
    }

    /// What a sample is matched on: for `on`, (position, value) with an empty or absent
    /// value as [`EMPTY`]; otherwise its labels without the left-out ones, borrowed when
    /// there are none to leave out.
    fn signature<'s>(&self, labels: &'s [(Sym, Sym)], m: &Matching) -> Cow<'s, [(Sym, Sym)]> {
        match m {
            Matching::On(on) => {
                let empty = self.db.sym("");
                Cow::Owned(
                    on.iter()
                        .enumerate()
                        .map(|(i, k)| {
                            let v = k.and_then(|k| get(labels, k)).filter(|v| Some(*v) != empty);
                            (i as Sym, v.unwrap_or(EMPTY))
                        })
                        .collect(),
                )
            }
            Matching::Ignoring(out) => {
                if labels.iter().any(|(k, _)| out.contains(k)) {
                    Cow::Owned(
                        labels
                            .iter()
                            .filter(|(k, _)| !out.contains(k))
                            .copied()
                            .collect(),
                    )
                } else {
                    Cow::Borrowed(labels)
                }
            }
        }
    }

    /// A match group as Prometheus's errors show it: `{k="v", ...}`.
    fn describe(&self, labels: &[(Sym, Sym)], matching: Option<&LabelModifier>) -> String {
        let inner: Vec<String> = labels
            .iter()
            .map(|(k, v)| (self.db.str(*k), self.db.str(*v)))
            .filter(|(k, _)| match matching {
                Some(LabelModifier::Include(on)) => on.labels.iter().any(|l| l.as_str() == *k),
                Some(LabelModifier::Exclude(ign)) => {
                    *k != METRIC_NAME && !ign.labels.iter().any(|l| l.as_str() == *k)
                }
                None => *k != METRIC_NAME,
            })
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{{{}}}", inner.join(", "))
    }

    fn binary(&self, b: &BinaryExpr, t_ms: i64) -> Result<QueryValue, QueryError> {
        let op = b.op.id();
        let modifier = b.modifier.as_ref();
        let return_bool = modifier.is_some_and(|m| m.return_bool);
        if let Some(m) = modifier {
            if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                return Err(unsupported("fill modifiers"));
            }
            if matches!(
                m.card,
                VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_)
            ) {
                return Err(unsupported("group_left and group_right"));
            }
        }
        let lhs = self.instant(&b.lhs, t_ms)?;
        let rhs = self.instant(&b.rhs, t_ms)?;
        let is_cmp = b.op.is_comparison_operator();
        let apply = |l: f64, r: f64| -> Option<f64> {
            if is_cmp {
                let ok = compare(op, l, r)?;
                if return_bool {
                    Some(if ok { 1.0 } else { 0.0 })
                } else {
                    ok.then_some(l)
                }
            } else {
                arith(op, l, r)
            }
        };
        let keep_name = is_cmp && !return_bool;
        let relabel = |l: SampleLabels| if keep_name { l } else { self.drop_name(l) };
        match (lhs, rhs) {
            (QueryValue::Scalar(l), QueryValue::Scalar(r)) => {
                let v = if is_cmp {
                    compare(op, l, r).map(|ok| if ok { 1.0 } else { 0.0 })
                } else {
                    arith(op, l, r)
                };
                v.map(QueryValue::Scalar)
                    .ok_or_else(|| unsupported(format!("the operator {}", b.op)))
            }
            (QueryValue::Vector(v), QueryValue::Scalar(r)) => {
                if b.op.is_set_operator() {
                    return Err(unsupported(format!("{} with a scalar", b.op)));
                }
                Ok(QueryValue::Vector(
                    v.into_iter()
                        .filter_map(|s| {
                            apply(s.value, r).map(|value| Sample {
                                labels: relabel(s.labels),
                                value,
                            })
                        })
                        .collect(),
                ))
            }
            (QueryValue::Scalar(l), QueryValue::Vector(v)) => {
                if b.op.is_set_operator() {
                    return Err(unsupported(format!("{} with a scalar", b.op)));
                }
                Ok(QueryValue::Vector(
                    v.into_iter()
                        .filter_map(|s| {
                            let out = apply(l, s.value)?;
                            // A filter keeps the vector's own value.
                            let value = if is_cmp && !return_bool { s.value } else { out };
                            Some(Sample {
                                labels: relabel(s.labels),
                                value,
                            })
                        })
                        .collect(),
                ))
            }
            (QueryValue::Vector(l), QueryValue::Vector(r)) => {
                let modifier_matching = modifier.and_then(|m| m.matching.as_ref());
                let matching = self.matching(modifier_matching);
                if b.op.is_set_operator() {
                    return Ok(QueryValue::Vector(self.set_op(op, l, r, &matching)));
                }
                let mut right: FxHashMap<Cow<'_, [(Sym, Sym)]>, &Sample> = FxHashMap::default();
                for s in &r {
                    if right
                        .insert(self.signature(s.labels.ids(self.db), &matching), s)
                        .is_some()
                    {
                        return Err(QueryError::Execution(format!(
                            "found duplicate series for the match group {} on the right hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                            self.describe(s.labels.ids(self.db), modifier_matching)
                        )));
                    }
                }
                let mut seen = FxHashSet::default();
                let mut out = vec![];
                for s in &l {
                    let sig = self.signature(s.labels.ids(self.db), &matching);
                    let Some(other) = right.get(&sig) else {
                        continue;
                    };
                    if !seen.insert(sig) {
                        return Err(QueryError::Execution(format!(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); match group {}",
                            self.describe(s.labels.ids(self.db), modifier_matching)
                        )));
                    }
                    let Some(value) = apply(s.value, other.value) else {
                        continue;
                    };
                    let labels = relabel(s.labels.clone());
                    let kept = |keep: &dyn Fn(Sym) -> bool| {
                        SampleLabels::Set(
                            labels
                                .ids(self.db)
                                .iter()
                                .filter(|(k, _)| keep(*k))
                                .copied()
                                .collect(),
                        )
                    };
                    let labels = match modifier_matching {
                        Some(LabelModifier::Include(on)) => {
                            let on: Vec<Sym> =
                                on.labels.iter().filter_map(|l| self.db.sym(l)).collect();
                            kept(&|k| on.contains(&k))
                        }
                        Some(LabelModifier::Exclude(ign)) => {
                            let ign: Vec<Sym> =
                                ign.labels.iter().filter_map(|l| self.db.sym(l)).collect();
                            kept(&|k| !ign.contains(&k))
                        }
                        None => labels,
                    };
                    out.push(Sample { labels, value });
                }
                Ok(QueryValue::Vector(out))
            }
            _ => Err(unsupported(format!(
                "the operator {} between these operand types",
                b.op
            ))),
        }
    }

    fn set_op(
        &self,
        op: token::TokenId,
        l: Vec<Sample>,
        r: Vec<Sample>,
        m: &Matching,
    ) -> Vec<Sample> {
        // An empty side decides alone (what the general case below would find, without
        // hashing the other side).
        if r.is_empty() {
            return if op == token::T_LAND { vec![] } else { l };
        }
        if l.is_empty() {
            return if op == token::T_LOR { r } else { vec![] };
        }
        let in_right: FxHashSet<Cow<'_, [(Sym, Sym)]>> = r
            .iter()
            .map(|s| self.signature(s.labels.ids(self.db), m))
            .collect();
        let left_matched: Vec<bool> = l
            .iter()
            .map(|s| in_right.contains(&self.signature(s.labels.ids(self.db), m)))
            .collect();
        match op {
            token::T_LAND | token::T_LUNLESS => {
                let keep = op == token::T_LAND;
                l.into_iter()
                    .zip(left_matched)
                    .filter(|(_, m)| *m == keep)
                    .map(|(s, _)| s)
                    .collect()
            }
            _ => {
                let in_left: FxHashSet<Cow<'_, [(Sym, Sym)]>> = l
                    .iter()
                    .map(|s| self.signature(s.labels.ids(self.db), m))
                    .collect();
                let right_new: Vec<bool> = r
                    .iter()
                    .map(|s| !in_left.contains(&self.signature(s.labels.ids(self.db), m)))
                    .collect();
                drop(in_left);
                drop(in_right);
                let mut out = l;
                out.extend(
                    r.into_iter()
                        .zip(right_new)
                        .filter(|(_, n)| *n)
                        .map(|(s, _)| s),
                );
                out
            }
        }
    }
}

/// What Prometheus checks before a range query: an instant expression, `end` not before
/// `start`, a positive step and at most 11,000 points per series.
pub(crate) fn check_range(
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<(), QueryError> {
    use promql_parser::parser::value::ValueType;
    match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => {}
        other => {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                match other {
                    ValueType::Matrix => "range vector".to_string(),
                    o => o.to_string(),
                }
            )));
        }
    }
    if end_ms < start_ms {
        return Err(QueryError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    if step_ms <= 0 {
        return Err(QueryError::BadData(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end_ms - start_ms) / step_ms > MAX_POINTS {
        return Err(QueryError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Labels, MetricsConfig};

    /// Labels and (seconds, value) samples of a hand-made series.
    type Spec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

    /// Builds a database with a 15 s scrape interval (the addon's) from (labels, samples).
    fn db(series: &[Spec<'_>]) -> Tsdb {
        let mut d = Tsdb::new(MetricsConfig {
            scrape_interval: Duration::from_secs(15),
            retention: Duration::from_secs(3600),
        });
        for (labels, samples) in series {
            let l: Labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = d.series_id(l);
            for (t, v) in *samples {
                d.set(id, *t * 1000, *v);
            }
        }
        d
    }

    fn eval(d: &Tsdb, q: &str, t_s: i64) -> Result<QueryValue, QueryError> {
        let e = Evaluator {
            db: d,
            now_ms: t_s * 1000,
        };
        e.instant(&parse(q)?, t_s * 1000)
    }

    /// A sample with its labels as strings.
    #[derive(Debug, Clone, PartialEq)]
    struct Named {
        labels: Labels,
        value: f64,
    }

    fn vector(d: &Tsdb, q: &str, t_s: i64) -> Vec<Named> {
        match eval(d, q, t_s).unwrap() {
            QueryValue::Vector(v) => v
                .into_iter()
                .map(|s| Named {
                    labels: d.to_labels(s.labels.ids(d)),
                    value: s.value,
                })
                .collect(),
            other => panic!("not a vector: {other:?}"),
        }
    }

    fn one(d: &Tsdb, q: &str, t_s: i64) -> f64 {
        let v = vector(d, q, t_s);
        assert_eq!(v.len(), 1, "{q}: {v:?}");
        v[0].value
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// A counter going up 30 per scrape (2/s) from t=15 s to t=150 s.
    fn steady() -> Tsdb {
        let samples: Vec<(i64, f64)> = (1..=10).map(|k| (k * 15, 30.0 * k as f64)).collect();
        db(&[(
            &[
                ("__name__", "istio_requests_total"),
                ("reporter", "source"),
                ("code", "200"),
            ],
            &samples,
        )])
    }

    #[test]
    fn rate_over_a_fully_covered_window_is_the_slope() {
        let d = steady();
        // Window (90, 150]: samples at 105..150 (4), 3 intervals of 15 s, 90 counted; the
        // first sample is 15 s from the start (within 1.1 x 15 s), so extrapolate fully:
        // 90 x 60/45 = 120 over 60 s = 2/s.
        assert!(close(one(&d, "rate(istio_requests_total[1m])", 150), 2.0));
        assert!(close(
            one(&d, "increase(istio_requests_total[1m])", 150),
            120.0
        ));
        assert!(close(one(&d, "irate(istio_requests_total[1m])", 150), 2.0));
    }

    #[test]
    fn rate_extrapolates_only_half_an_interval_past_a_series_start() {
        // Starts at t=90 with 30 (born mid-window), samples 90..150 step 15: 5 samples.
        let samples: Vec<(i64, f64)> = (6..=10).map(|k| (k * 15, 30.0 * (k - 5) as f64)).collect();
        let d = db(&[(&[("__name__", "c")], &samples)]);
        // Window (30, 150]: first sample 60 s after the start (> 1.1 x 15): extrapolate 7.5 s;
        // the zero point is 15 s before (30 / 120 x 60 s), further than 7.5 s, so 7.5 stays.
        // Increase 120 over 60 s sampled -> x (60 + 7.5 + 0) / 60 = 135; rate 135/120 s.
        assert!(close(one(&d, "increase(c[2m])", 150), 135.0));
        assert!(close(one(&d, "rate(c[2m])", 150), 135.0 / 120.0));
    }

    #[test]
    fn rate_adds_back_counter_resets_and_needs_two_samples() {
        let d = db(&[
            (
                &[("__name__", "c")],
                &[(15, 10.0), (30, 20.0), (45, 5.0), (60, 15.0)],
            ),
            (&[("__name__", "lonely")], &[(60, 3.0)]),
        ]);
        // 15 - 10 + 20 (lost at the reset) = 25 over 45 s sampled, window (0, 60]: the first
        // sample is 15 s in (not beyond 16.5 s) but the zero point is 18 s back, so extend 15 s.
        assert!(close(one(&d, "increase(c[1m])", 60), 25.0 * 60.0 / 45.0));
        assert!(vector(&d, "rate(lonely[1m])", 60).is_empty());
    }

    #[test]
    fn sum_by_groups_and_drops_other_labels() {
        let d = db(&[
            (
                &[("__name__", "r"), ("dst", "reviews"), ("v", "v1")],
                &[(15, 1.0)],
            ),
            (
                &[("__name__", "r"), ("dst", "reviews"), ("v", "v2")],
                &[(15, 2.0)],
            ),
            (
                &[("__name__", "r"), ("dst", "ratings"), ("v", "v1")],
                &[(15, 4.0)],
            ),
        ]);
        let v = vector(&d, "sum by (dst) (r)", 15);
        assert_eq!(v.len(), 2);
        let reviews = v.iter().find(|s| s.labels["dst"] == "reviews").unwrap();
        assert_eq!(reviews.value, 3.0);
        assert_eq!(reviews.labels.len(), 1);
        assert_eq!(one(&d, "sum(r)", 15), 7.0);
        assert_eq!(one(&d, "count(r{dst=\"reviews\"})", 15), 2.0);
        assert_eq!(one(&d, "max(r)", 15), 4.0);
        assert_eq!(one(&d, "min(r)", 15), 1.0);
        assert!(close(one(&d, "avg(r)", 15), 7.0 / 3.0));
        let w = vector(&d, "sum without (v) (r)", 15);
        assert_eq!(w.len(), 2);
        assert!(w.iter().all(|s| !s.labels.contains_key("__name__")));
        assert_eq!(vector(&d, "r{v=~\"v.\", dst!~\"rat.*\"}", 15).len(), 2);
        assert_eq!(vector(&d, "r{v!=\"v1\"}", 15).len(), 1);
    }

    #[test]
    fn remembered_selections_and_groups_take_in_new_series() {
        let mut d = db(&[(&[("__name__", "r"), ("dst", "a"), ("v", "1")], &[(15, 1.0)])]);
        let q = "sum by (dst) (r{v=\"1\"})";
        assert_eq!(vector(&d, q, 15).len(), 1);
        // A new group, a new member of a known one, and one the selector leaves out.
        for (dst, v, value) in [("b", "1", 2.0), ("a", "1", 4.0), ("a", "2", 8.0)] {
            let l: Labels = [("__name__", "r"), ("dst", dst), ("v", v), ("pod", "p2")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = d.series_id(l);
            d.set(id, 15_000, value);
        }
        let got: Vec<(String, f64)> = vector(&d, q, 15)
            .into_iter()
            .map(|s| (s.labels["dst"].clone(), s.value))
            .collect();
        assert_eq!(got, [("a".to_string(), 5.0), ("b".to_string(), 2.0)]);
        assert_eq!(
            answer(&d, q, 15_000, 15_000),
            reference(&d, q, 15_000, 15_000)
        );
    }

    #[test]
    fn histogram_quantile_interpolates_inside_the_bucket() {
        let bucket = |le: &'static str| [("__name__", "h_bucket"), ("le", le)];
        let (b10, b50, b100, binf) = (bucket("10"), bucket("50"), bucket("100"), bucket("+Inf"));
        let refs: [Spec<'_>; 4] = [
            (&b10, &[(15, 20.0)]),
            (&b50, &[(15, 60.0)]),
            (&b100, &[(15, 90.0)]),
            (&binf, &[(15, 100.0)]),
        ];
        let d = db(&refs);
        // p50: rank 50 of 100 lies in (10, 50] holding 40 observations, 30 into it:
        // 10 + 40 x 30/40 = 40.
        assert!(close(
            one(&d, "histogram_quantile(0.5, h_bucket)", 15),
            40.0
        ));
        // p95: rank 95 lies in (100, +Inf]: the highest finite bound.
        assert!(close(
            one(&d, "histogram_quantile(0.95, h_bucket)", 15),
            100.0
        ));
        // p10: rank 10 in the first bucket, from 0: 10 x 10/20 = 5.
        assert!(close(one(&d, "histogram_quantile(0.1, h_bucket)", 15), 5.0));
        assert_eq!(
            one(&d, "histogram_quantile(2, h_bucket)", 15),
            f64::INFINITY
        );
        assert!(one(&d, "histogram_quantile(0.5, h_bucket{le!=\"+Inf\"})", 15).is_nan());
    }

    #[test]
    fn binary_operators_filter_match_and_round() {
        let d = db(&[
            (&[("__name__", "a"), ("k", "x")], &[(15, 3.0)]),
            (&[("__name__", "a"), ("k", "y")], &[(15, 0.0)]),
            (
                &[("__name__", "b"), ("k", "x"), ("extra", "1")],
                &[(15, 4.0)],
            ),
        ]);
        let filtered = vector(&d, "a > 0", 15);
        assert_eq!(filtered.len(), 1);
        assert_eq!(filtered[0].labels["__name__"], "a");
        assert_eq!(vector(&d, "a > bool 0", 15).len(), 2);
        assert_eq!(one(&d, "a{k=\"x\"} * 2 + 1", 15), 7.0);
        assert!(close(one(&d, "round(a{k=\"x\"} / 7, 0.001)", 15), 0.429));
        // One-to-one on k: labels of the result are only k.
        let m = vector(&d, "a / on (k) b", 15);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].value, 0.75);
        assert_eq!(m[0].labels, Labels::from([("k".into(), "x".into())]));
        assert_eq!(vector(&d, "a / ignoring (extra) b", 15).len(), 1);
        assert!(vector(&d, "a / b", 15).is_empty());
        assert_eq!(vector(&d, "a or b", 15).len(), 3);
        assert_eq!(vector(&d, "a and on (k) b", 15).len(), 1);
        assert_eq!(vector(&d, "a unless on (k) b", 15).len(), 1);
        match eval(&d, "time()", 15).unwrap() {
            QueryValue::Scalar(t) => assert_eq!(t, 15.0),
            other => panic!("{other:?}"),
        }
        assert_eq!(one(&d, "vector(2) * 3", 15), 6.0);
    }

    #[test]
    fn refusals_say_what_is_supported() {
        let d = steady();
        for q in [
            "topk(3, istio_requests_total)",
            "predict_linear(istio_requests_total[5m], 60)",
            "rate(istio_requests_total[5m:1m])",
            "istio_requests_total @ 100",
            "a * on (k) group_left b",
        ] {
            match eval(&d, q, 150) {
                Err(QueryError::Unsupported(m)) => {
                    assert!(m.contains("histogram_quantile"), "{q}: {m}")
                }
                other => panic!("{q}: {other:?}"),
            }
        }
        assert!(matches!(eval(&d, "sum(", 150), Err(QueryError::BadData(_))));
        assert!(matches!(eval(&d, "", 150), Err(QueryError::BadData(_))));
        let dup = db(&[
            (&[("__name__", "a"), ("k", "x")], &[(15, 1.0)]),
            (&[("__name__", "b"), ("k", "x"), ("j", "1")], &[(15, 1.0)]),
            (&[("__name__", "b"), ("k", "x"), ("j", "2")], &[(15, 1.0)]),
        ]);
        assert!(matches!(
            eval(&dup, "a / on (k) b", 15),
            Err(QueryError::Execution(_))
        ));
    }

    #[test]
    fn range_queries_step_through_time() {
        let d = steady();
        let e = Evaluator {
            db: &d,
            now_ms: 150_000,
        };
        let r = e
            .range(
                &parse("rate(istio_requests_total[1m])").unwrap(),
                90_000,
                150_000,
                30_000,
            )
            .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].points.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![90_000, 120_000, 150_000]
        );
        assert!(r[0].points.iter().all(|p| close(p.1, 2.0)));
        assert!(matches!(
            e.range(&parse("istio_requests_total[1m]").unwrap(), 0, 10, 1),
            Err(QueryError::BadData(_))
        ));
        assert!(matches!(
            e.range(&parse("time()").unwrap(), 10, 0, 1),
            Err(QueryError::BadData(_))
        ));
    }

    #[test]
    fn instant_selectors_look_back_five_minutes_and_honour_offset() {
        let d = steady();
        // Scraped up to 150 s: at 400 s the last sample is 250 s old, at 460 s too old.
        let e = Evaluator {
            db: &d,
            now_ms: 150_000,
        };
        let q = parse("istio_requests_total").unwrap();
        let at = |t: i64| match e.instant(&q, t).unwrap() {
            QueryValue::Vector(v) => v.iter().map(|s| s.value).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at(400_000), vec![300.0]);
        assert!(at(460_000).is_empty());
        assert_eq!(one(&d, "istio_requests_total offset 30s", 150), 240.0);
    }

    /// A clock the test moves by hand.
    #[derive(Debug)]
    struct Manual(std::sync::Mutex<std::time::SystemTime>);

    impl crate::clock::Clock for Manual {
        fn now(&self) -> std::time::SystemTime {
            *self.0.lock().unwrap()
        }
    }

    fn mesh_pod(name: &str, app: &str, version: &str, sidecar: bool) -> serde_json::Value {
        let mut p = serde_json::json!({
            "metadata": {"name": format!("{name}-5f7d-{version}x"), "namespace": "shop",
                "labels": {"app": app, "version": version, "pod-template-hash": "5f7d"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": format!("{name}-5f7d")}]},
            "spec": {"serviceAccountName": app, "nodeName": "n1"},
            "status": {"podIP": "10.244.0.7"}
        });
        if sidecar {
            p["metadata"]["annotations"] = serde_json::json!({"sidecar.istio.io/status": "{}"});
        }
        p
    }

    /// 60 s of traffic in a small mesh: a gateway and a client without a sidecar calling the
    /// front, the front calling three versions of a backend (some 503s, some aborted at the
    /// source), every backend version calling a store; durations spread over the buckets.
    /// Recorded every second, so the last scrapes are still filling at `now`.
    fn recorded_mesh() -> (crate::metrics::MeshMetrics, Arc<Manual>) {
        use crate::metrics::{HopRecord, MeshMetrics, Outcome};
        let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Arc::new(Manual(std::sync::Mutex::new(start)));
        let m = MeshMetrics::new(clock.clone(), MetricsConfig::default());
        let gateway = mesh_pod("istio-ingressgateway", "istio-ingressgateway", "v1", true);
        let curl = mesh_pod("curl", "curl", "v1", false);
        let front = mesh_pod("front-v1", "front", "v1", true);
        let backends: Vec<_> = ["v1", "v2", "v3"]
            .iter()
            .map(|v| mesh_pod(&format!("back-{v}"), "back", v, true))
            .collect();
        let store = mesh_pod("store-v1", "store", "v1", true);
        let mut rng = crate::clock::SimRng::new(7);
        for second in 0..60u64 {
            *clock.0.lock().unwrap() = start + Duration::from_millis(second * 1000 + 300);
            let hop = |src: &serde_json::Value,
                       host: &str,
                       dst: Option<&serde_json::Value>,
                       code: u16,
                       flag: Option<&'static str>,
                       ms: u64| {
                let outcome = Outcome {
                    code,
                    flag,
                    duration: Duration::from_millis(ms),
                };
                m.record(&HopRecord {
                    source: src,
                    source_proxied: crate::inject::already_injected(src),
                    mutual_tls: second % 20 < 15,
                    service_host: host,
                    destination: dst,
                    at_source: Some(outcome),
                    at_destination: dst.map(|_| outcome),
                    completes_after: Duration::from_millis(ms),
                });
            };
            for _ in 0..1 + rng.below(4) {
                let ms = 1 + rng.below(400);
                hop(
                    &gateway,
                    "front.shop.svc.cluster.local",
                    Some(&front),
                    200,
                    None,
                    ms,
                );
            }
            if second % 3 == 0 {
                hop(
                    &curl,
                    "front.shop.svc.cluster.local",
                    Some(&front),
                    200,
                    None,
                    2,
                );
            }
            for (i, b) in backends.iter().enumerate() {
                for _ in 0..rng.below(3 + i as u64) {
                    let ms = rng.below(3000);
                    let code = if rng.below(10) == 0 { 503 } else { 200 };
                    let flag = (code == 503).then_some("UO");
                    hop(
                        &front,
                        "back.shop.svc.cluster.local",
                        Some(b),
                        code,
                        flag,
                        ms,
                    );
                    hop(
                        b,
                        "store.shop.svc.cluster.local",
                        Some(&store),
                        200,
                        None,
                        ms / 7,
                    );
                }
            }
            if second % 7 == 0 {
                hop(
                    &front,
                    "back.shop.svc.cluster.local",
                    None,
                    500,
                    Some("FI"),
                    0,
                );
            }
        }
        (m, clock)
    }

    /// The answer as (labels, value bits) in order, from either engine.
    type Answer = Result<Vec<(Labels, u64)>, String>;

    /// A value's bits, every NaN the same (the engines may make different NaNs).
    fn bits(v: f64) -> u64 {
        if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        }
    }

    fn answer(d: &Tsdb, q: &str, t_ms: i64, now_ms: i64) -> Answer {
        let e = parse(q).map_err(|e| e.to_string())?;
        match (Evaluator { db: d, now_ms }).instant(&e, t_ms) {
            Ok(QueryValue::Vector(v)) => Ok(v
                .into_iter()
                .map(|s| (d.to_labels(s.labels.ids(d)), bits(s.value)))
                .collect()),
            Ok(QueryValue::Scalar(v)) => Ok(vec![(Labels::new(), bits(v))]),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn reference(d: &Tsdb, q: &str, t_ms: i64, now_ms: i64) -> Answer {
        use crate::promql_reference as old;
        let e = parse(q).map_err(|e| e.to_string())?;
        match (old::Evaluator { db: d, now_ms }).instant(&e, t_ms) {
            Ok(old::QueryValue::Vector(v)) => Ok(v
                .into_iter()
                .map(|s| ((*s.labels).clone(), bits(s.value)))
                .collect()),
            Ok(old::QueryValue::Scalar(v)) => Ok(vec![(Labels::new(), bits(v))]),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    const KEY: &str = "source_workload_namespace,source_workload,destination_service,destination_workload_namespace,destination_workload";
    const EDGE: &str = "source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,destination_service,destination_service_name,destination_service_namespace,destination_workload_namespace,destination_workload,destination_canonical_service,destination_canonical_revision";

    fn once(metric: &str) -> String {
        format!(
            "rate({metric}{{reporter=\"source\"}}[10s]) or rate({metric}{{reporter=\"destination\",source_workload=\"unknown\"}}[10s])"
        )
    }

    #[test]
    fn interned_evaluation_answers_as_the_plain_one() {
        let (m, clock) = recorded_mesh();
        let now = crate::metrics::unix_ms(*clock.0.lock().unwrap());
        let d = m.read();
        let bucket = "istio_request_duration_milliseconds_bucket";
        let mut queries = vec![
            // The graph's five queries.
            format!(
                "sum by ({EDGE},reporter,response_code,response_flags) ({}) > 0",
                once("istio_requests_total")
            ),
            format!(
                "sum by ({KEY},connection_security_policy) (rate(istio_requests_total{{reporter=\"destination\"}}[10s])) > 0"
            ),
        ];
        for q in ["0.5", "0.95", "0.99"] {
            queries.push(format!(
                "histogram_quantile({q}, sum by (le,{KEY}) ({}))",
                once(bucket)
            ));
        }
        queries.extend(
            [
                "histogram_quantile(0.9, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_service_name=\"back\"}[30s])))",
                "histogram_quantile(0.5, rate(istio_request_duration_milliseconds_bucket[15s]))",
                "sum by (destination_workload,destination_canonical_revision,response_code) (increase(istio_requests_total{destination_service_name=\"back\"}[20s]))",
                "sum without (pod, instance, pod_template_hash) (irate(istio_requests_total[5s]))",
                "count by (response_code, __name__) (istio_requests_total)",
                "avg by (reporter) (istio_request_duration_milliseconds_sum offset 10s)",
                "max by (destination_app) (istio_requests_total{response_code=~\"5..\"}) or min by (destination_app) (istio_requests_total)",
                "sum by (destination_workload) (rate(istio_requests_total[10s])) / on (destination_workload) sum by (destination_workload) (rate(istio_request_duration_milliseconds_count[10s]))",
                "rate(istio_requests_total{reporter=\"source\"}[10s]) and on (destination_workload, response_code) rate(istio_requests_total{reporter=\"destination\"}[10s])",
                "rate(istio_requests_total[10s]) unless rate(istio_requests_total{response_flags!=\"-\"}[10s])",
                "istio_request_duration_milliseconds_sum / ignoring (__name__) istio_request_duration_milliseconds_count",
                "round(sum by (source_app) (rate(istio_requests_total[30s])) * 100, 0.5) > bool 40",
                "-abs(clamp_max(istio_requests_total{grpc_response_status=\"\"}, 20))",
                "scalar(sum(rate(istio_requests_total[10s]))) * vector(2)",
                "istio_requests_total{reporter=\"source\"} + on (pod, response_code, destination_workload, response_flags, connection_security_policy, destination_service) istio_request_duration_milliseconds_count{reporter=\"source\"}",
                "sum by (no_such_label) (istio_requests_total)",
            ]
            .map(String::from),
        );
        let mut nonempty = 0;
        for q in &queries {
            for t in [now, now - 4_500, now - 40_000, now - 70_000] {
                let new = answer(&d, q, t, now);
                assert_eq!(new, reference(&d, q, t, now), "{q} at {t}");
                nonempty += usize::from(new.is_ok_and(|v| !v.is_empty()));
            }
        }
        // Most answers hold samples: the comparison is about something.
        assert!(nonempty >= queries.len() * 2, "{nonempty}");
        // The latency queries see several edges and the sidecar-less client's.
        let p50 = answer(&d, &queries[2], now, now).unwrap();
        assert!(p50.len() >= 5, "{p50:?}");
        assert!(p50.iter().any(|(l, _)| l["source_workload"] == "unknown"));
        // Walking a window gives what looking up each tick gave.
        for id in 0..d.select_ids(None, |_| true).len() {
            for (start, end) in [(now - 10_000, now), (now - 61_000, now - 3_000)] {
                assert_eq!(
                    d.window(id, start, end, now),
                    d.window_by_values(id, start, end, now)
                );
            }
        }
    }

    #[test]
    fn quantiles_share_their_buckets_until_a_sample_they_read_changes() {
        let (m, clock) = recorded_mesh();
        // On a scrape tick: a write now is seen by the latest scrape.
        let now = crate::metrics::unix_ms(*clock.0.lock().unwrap()) / 1000 * 1000;
        let q = |p: &str| {
            format!(
                "histogram_quantile({p}, sum by (le,{KEY}) ({}))",
                once("istio_request_duration_milliseconds_bucket")
            )
        };
        let before = {
            let d = m.read();
            let p50 = answer(&d, &q("0.5"), now, now);
            assert_eq!(d.cache().len(), 1);
            let p99 = answer(&d, &q("0.99"), now, now);
            assert_eq!(d.cache().len(), 1, "the second quantile reuses the buckets");
            assert_eq!(p99, reference(&d, &q("0.99"), now, now));
            assert_ne!(p50, p99);
            p50
        };
        // A change after the latest scrape: nothing read changed, the entry holds.
        let buckets = m
            .read()
            .select_ids(Some("istio_request_duration_milliseconds_bucket"), |_| true);
        m.write_for_test(|d| {
            for id in &buckets {
                d.add(*id, now + 1, 1_000.0);
            }
        });
        {
            let d = m.read();
            assert_eq!(d.cache().len(), 1);
            assert_eq!(answer(&d, &q("0.5"), now, now), before);
            assert_eq!(
                answer(&d, &q("0.5"), now, now),
                reference(&d, &q("0.5"), now, now)
            );
        }
        // A sample at the latest scrape: the answer moves, as a fresh evaluation's does.
        let inf = {
            let d = m.read();
            let (le, inf) = (d.sym("le"), d.sym("+Inf"));
            d.select_ids(Some("istio_request_duration_milliseconds_bucket"), |l| {
                l.iter().any(|(k, v)| Some(*k) == le && Some(*v) == inf)
            })
        };
        assert!(!inf.is_empty());
        m.write_for_test(|d| {
            for id in &inf {
                d.add(*id, now, 50.0);
            }
        });
        let d = m.read();
        assert_eq!(d.cache().len(), 0);
        let after = answer(&d, &q("0.5"), now, now);
        assert_ne!(after, before);
        assert_eq!(after, reference(&d, &q("0.5"), now, now));
        // Bounded: many evaluation times keep at most CAPACITY entries.
        for back in 0..20 {
            answer(&d, &q("0.5"), now - back * 100, now).unwrap();
        }
        assert_eq!(d.cache().len(), QueryCache::CAPACITY);
    }
}
