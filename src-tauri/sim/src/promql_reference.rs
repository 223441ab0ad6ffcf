//! The query engine as it was before it worked on interned labels: strings compared,
//! hashed and cloned for every sample. Kept for tests only, as the plain evaluation the
//! interned one must agree with, answer for answer (see `promql::tests`). The arithmetic
//! that did not change (rate's extrapolation, the bucket quantile, operators) is the
//! engine's own, so the comparison is about selecting, grouping and matching series.
// Kept whole as it was, though the tests call only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use promql_parser::label::Matcher;
use promql_parser::parser::token;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, VectorMatchCardinality,
    VectorSelector,
};

use crate::metrics::{Labels, METRIC_NAME, Tsdb};
use crate::promql::{
    LOOKBACK_MS, QueryError, arith, bucket_quantile, check_range, compare, dur_ms, extrapolated,
    irate, offset_ms, unsupported,
};

/// A sample of an instant vector. Labels are shared with the series they come from until an
/// operation changes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Arc<Labels>,
    pub value: f64,
}

/// A series of a range vector or of a range query's result: (timestamp ms, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Arc<Labels>,
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

/// Evaluates queries against the series as scraped up to `now_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Evaluator<'a> {
    pub db: &'a Tsdb,
    pub now_ms: i64,
}

fn matches(vs: &VectorSelector, labels: &Labels) -> bool {
    let get = |m: &Matcher| labels.get(&m.name).map(String::as_str).unwrap_or("");
    let all = |ms: &[Matcher]| ms.iter().all(|m| m.is_match(get(m)));
    vs.name
        .as_ref()
        .is_none_or(|n| labels.get(METRIC_NAME) == Some(n))
        && all(&vs.matchers.matchers)
        && (vs.matchers.or_matchers.is_empty() || vs.matchers.or_matchers.iter().any(|g| all(g)))
}

/// A group's labels, borrowed from its first sample while grouping.
type GroupKey<'a> = Vec<(&'a str, &'a str)>;

fn drop_name(mut l: Arc<Labels>) -> Arc<Labels> {
    if l.contains_key(METRIC_NAME) {
        Arc::make_mut(&mut l).remove(METRIC_NAME);
    }
    l
}

/// What two sides are matched on, borrowed from the labels: the values of the `on` labels
/// in order, or every other label's name and value (the metric name and `ignoring` labels
/// left out).
fn signature<'a>(labels: &'a Labels, matching: Option<&LabelModifier>) -> Vec<&'a str> {
    match matching {
        Some(LabelModifier::Include(on)) => on
            .labels
            .iter()
            .map(|k| labels.get(k).map(String::as_str).unwrap_or(""))
            .collect(),
        Some(LabelModifier::Exclude(ign)) => labels
            .iter()
            .filter(|(k, _)| *k != METRIC_NAME && !ign.labels.contains(k))
            .flat_map(|(k, v)| [k.as_str(), v.as_str()])
            .collect(),
        None => labels
            .iter()
            .filter(|(k, _)| *k != METRIC_NAME)
            .flat_map(|(k, v)| [k.as_str(), v.as_str()])
            .collect(),
    }
}

/// A match group as Prometheus's errors show it: `{k="v", ...}`.
fn describe(labels: &Labels, matching: Option<&LabelModifier>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(k, _)| match matching {
            Some(LabelModifier::Include(on)) => on.labels.contains(k),
            Some(LabelModifier::Exclude(ign)) => *k != METRIC_NAME && !ign.labels.contains(k),
            None => *k != METRIC_NAME,
        })
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{{{}}}", inner.join(", "))
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
                            labels: drop_name(s.labels),
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
        let mut out: BTreeMap<Arc<Labels>, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start_ms;
        while t <= end_ms {
            match self.instant(expr, t)? {
                QueryValue::Scalar(v) => {
                    out.entry(Arc::new(Labels::new())).or_default().push((t, v))
                }
                QueryValue::Vector(v) => {
                    for s in v {
                        out.entry(s.labels).or_default().push((t, s.value));
                    }
                }
                _ => return Err(unsupported("this expression in a range query")),
            }
            t += step_ms;
        }
        Ok(out
            .into_iter()
            .map(|(labels, points)| RangeSeries { labels, points })
            .collect())
    }

    fn select(&self, vs: &VectorSelector, t_ms: i64) -> Result<Vec<Sample>, QueryError> {
        if vs.at.is_some() {
            return Err(unsupported("the @ modifier"));
        }
        let at = t_ms - offset_ms(&vs.offset);
        let ids = self.db.select(vs.name.as_deref(), |l| matches(vs, l));
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                self.db
                    .instant(id, at, LOOKBACK_MS, self.now_ms)
                    .map(|value| Sample {
                        labels: self.db.labels(id),
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
        let ids = self
            .db
            .select(ms.vs.name.as_deref(), |l| matches(&ms.vs, l));
        Ok(ids
            .into_iter()
            .map(|id| RangeSeries {
                labels: self.db.labels(id),
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
        let ids = self
            .db
            .select(ms.vs.name.as_deref(), |l| matches(&ms.vs, l));
        let mut out = vec![];
        for id in ids {
            let Some(w) = self.db.window_by_values(id, start, end, self.now_ms) else {
                continue;
            };
            let v = match name {
                "rate" => extrapolated(&w, start, end, true),
                "increase" => extrapolated(&w, start, end, false),
                _ => irate(&w),
            };
            if let Some(value) = v {
                out.push(Sample {
                    labels: drop_name(self.db.labels(id)),
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
                        labels: drop_name(s.labels),
                        value: f(s.value),
                    })
                    .collect(),
            )
        };
        match name {
            "rate" | "increase" | "irate" => self.over_range(name, arg(0)?, t_ms),
            "time" => Ok(QueryValue::Scalar(t_ms as f64 / 1000.0)),
            "vector" => Ok(QueryValue::Vector(vec![Sample {
                labels: Arc::new(Labels::new()),
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
                let v = self.vector_arg(arg(1)?, t_ms, name)?;
                // Buckets grouped by their other labels, borrowed until the end.
                let mut groups: BTreeMap<GroupKey<'_>, Vec<(f64, f64)>> = BTreeMap::new();
                for s in &v {
                    let Some(Ok(le)) = s.labels.get("le").map(|le| le.parse::<f64>()) else {
                        continue;
                    };
                    let key: Vec<(&str, &str)> = s
                        .labels
                        .iter()
                        .filter(|(k, _)| *k != METRIC_NAME && *k != "le")
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    groups.entry(key).or_default().push((le, s.value));
                }
                Ok(QueryValue::Vector(
                    groups
                        .into_iter()
                        .map(|(key, buckets)| Sample {
                            labels: Arc::new(
                                key.into_iter()
                                    .map(|(k, v)| (k.to_string(), v.to_string()))
                                    .collect(),
                            ),
                            value: bucket_quantile(q, buckets),
                        })
                        .collect(),
                ))
            }
            other => Err(unsupported(format!("the function {other}()"))),
        }
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
        let listed: std::collections::HashSet<&str> = a
            .modifier
            .as_ref()
            .map(|m| m.labels().labels.iter().map(String::as_str).collect())
            .unwrap_or_default();
        // (sum or extreme, count) per group, keyed by borrowed labels until the end.
        let mut groups: BTreeMap<GroupKey<'_>, (f64, usize)> = BTreeMap::new();
        for s in &input {
            let key: Vec<(&str, &str)> = match &a.modifier {
                Some(LabelModifier::Include(_)) => s
                    .labels
                    .iter()
                    .filter(|(k, _)| listed.contains(k.as_str()))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
                Some(LabelModifier::Exclude(_)) => s
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != METRIC_NAME && !listed.contains(k.as_str()))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
                None => vec![],
            };
            let e = groups.entry(key).or_insert((f64::NAN, 0));
            e.0 = match (op, e.1) {
                (_, 0) => s.value,
                (token::T_MIN, _) if s.value < e.0 || e.0.is_nan() => s.value,
                (token::T_MAX, _) if s.value > e.0 || e.0.is_nan() => s.value,
                (token::T_MIN | token::T_MAX, _) => e.0,
                _ => e.0 + s.value,
            };
            e.1 += 1;
        }
        Ok(QueryValue::Vector(
            groups
                .into_iter()
                .map(|(key, (acc, n))| Sample {
                    labels: Arc::new(
                        key.into_iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    ),
                    value: match op {
                        token::T_AVG => acc / n as f64,
                        token::T_COUNT => n as f64,
                        _ => acc,
                    },
                })
                .collect(),
        ))
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
        let relabel = |l: Arc<Labels>| if keep_name { l } else { drop_name(l) };
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
                let matching = modifier.and_then(|m| m.matching.as_ref());
                if b.op.is_set_operator() {
                    return Ok(QueryValue::Vector(set_op(op, l, r, matching)));
                }
                let mut right: HashMap<Vec<&str>, &Sample> = HashMap::new();
                for s in &r {
                    if right.insert(signature(&s.labels, matching), s).is_some() {
                        return Err(QueryError::Execution(format!(
                            "found duplicate series for the match group {} on the right hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                            describe(&s.labels, matching)
                        )));
                    }
                }
                let mut seen = std::collections::HashSet::new();
                let mut out = vec![];
                for s in &l {
                    let sig = signature(&s.labels, matching);
                    let Some(other) = right.get(&sig) else {
                        continue;
                    };
                    if !seen.insert(sig) {
                        return Err(QueryError::Execution(format!(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); match group {}",
                            describe(&s.labels, matching)
                        )));
                    }
                    let Some(value) = apply(s.value, other.value) else {
                        continue;
                    };
                    let mut labels = relabel(s.labels.clone());
                    match matching {
                        Some(LabelModifier::Include(on)) => {
                            Arc::make_mut(&mut labels).retain(|k, _| on.labels.contains(k))
                        }
                        Some(LabelModifier::Exclude(ign)) => {
                            Arc::make_mut(&mut labels).retain(|k, _| !ign.labels.contains(k))
                        }
                        None => {}
                    }
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
}

fn set_op(
    op: token::TokenId,
    l: Vec<Sample>,
    r: Vec<Sample>,
    matching: Option<&LabelModifier>,
) -> Vec<Sample> {
    use std::collections::HashSet;
    let in_right: HashSet<Vec<&str>> = r.iter().map(|s| signature(&s.labels, matching)).collect();
    let left_matched: Vec<bool> = l
        .iter()
        .map(|s| in_right.contains(&signature(&s.labels, matching)))
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
            let in_left: HashSet<Vec<&str>> =
                l.iter().map(|s| signature(&s.labels, matching)).collect();
            let right_new: Vec<bool> = r
                .iter()
                .map(|s| !in_left.contains(&signature(&s.labels, matching)))
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
