//! Evaluating an expression of the subset at one instant, with Prometheus' semantics.
//!
//! The functions follow Prometheus 2.x (`promql/engine.go`, `promql/functions.go`), the version Debian ships and the
//! end-to-end tests compare with: an instant selector takes the latest sample in `[t - 5m, t]`, a range selector the
//! samples in `[t - range, t]` (both ends included), `rate`/`increase` are `extrapolatedRate` (counter resets,
//! extrapolation to the range's edges but not below zero), `irate` uses the last two samples, functions and
//! arithmetic drop the metric name, comparisons filter (keeping the left-hand value, or the vector's value when the
//! scalar is on the left) unless `bool` is given, and vectors are matched one-to-one on their labels without the
//! metric name (or `on`/`ignoring` the listed labels). Results can differ from Prometheus' only in the last bits of
//! floating-point rounding of sums and means.
//!
//! The series come from a [`SeriesSource`] (the engine's stored samples); the work of one evaluation is bounded by
//! [`Limits`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::query::{AggOp, BinOp, Binary, Expr, Grouping, LabelMatcher, Matching, RangeFunc, Selector, METRIC_NAME};
use crate::model::Millis;

/// A label set. `__name__` holds the metric name while a series still has one.
pub type Labels = BTreeMap<String, String>;

/// How far back an instant selector looks for a series' latest sample (Prometheus' default lookback delta).
pub const LOOKBACK_MS: u64 = 5 * 60 * 1000;

/// One series as the source returns it: its labels (with `__name__`) and its samples `(time in ms, value)`, oldest
/// first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The labels, including `__name__`.
    pub labels: Labels,
    /// Samples, oldest first.
    pub samples: Vec<(Millis, f64)>,
}

/// Where the evaluator reads series from; the engine implements it over its stored samples.
pub trait SeriesSource {
    /// The series of the metric `name` whose labels satisfy every matcher (a label a series lacks matches as `""`),
    /// each with its samples whose time is in `[start, end]`, oldest first. Returning more (other series, samples
    /// outside the window, unsorted samples) is harmless: the evaluator filters and sorts again; returning less
    /// makes the result wrong.
    fn select(&self, name: &str, matchers: &[LabelMatcher], start: Millis, end: Millis) -> Result<Vec<Series>, String>;
}

/// Bounds on the work of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most series all selectors of one expression may load together.
    pub max_series: usize,
    /// Most samples all selectors of one expression may load together.
    pub max_samples: usize,
}

impl Default for Limits {
    /// 10,000 series and 1,000,000 samples: far above what a Crane of 100 apps holds for one rule.
    fn default() -> Self {
        Limits { max_series: 10_000, max_samples: 1_000_000 }
    }
}

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// The selectors matched more series than [`Limits::max_series`].
    TooManySeries {
        /// The limit.
        limit: usize,
    },
    /// The selectors loaded more samples than [`Limits::max_samples`].
    TooManySamples {
        /// The limit.
        limit: usize,
    },
    /// The source failed.
    Source(String),
    /// Two elements of a result had the same labels (after the metric name was dropped), or a one-to-one match
    /// found several partners; Prometheus fails such an evaluation the same way.
    Ambiguous(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::TooManySeries { limit } => write!(
                f,
                "the expression selects more than {limit} series; narrow its selectors with label matchers (e.g. {{app=\"web\"}})"
            ),
            EvalError::TooManySamples { limit } => write!(
                f,
                "the expression loads more than {limit} samples; use a shorter range or narrow its selectors"
            ),
            EvalError::Source(why) => write!(f, "the stored series could not be read: {why}"),
            EvalError::Ambiguous(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for EvalError {}

/// Evaluates `expr` at time `at` with the default [`Limits`]. A scalar result is one element with no labels, as
/// Prometheus' rule manager makes it. Elements are in label order.
pub fn evaluate(expr: &Expr, at: Millis, source: &dyn SeriesSource) -> Result<Vec<(Labels, f64)>, EvalError> {
    evaluate_with(expr, at, source, Limits::default())
}

/// Evaluates `expr` at time `at` within `limits`.
pub fn evaluate_with(
    expr: &Expr,
    at: Millis,
    source: &dyn SeriesSource,
    limits: Limits,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let mut ev = Evaluator { at, source, limits, series: 0, samples: 0 };
    let mut out = match ev.eval(expr)? {
        Value::Scalar(v) => vec![(Labels::new(), v)],
        Value::Vector(v) => v,
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

enum Value {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

struct Evaluator<'a> {
    at: Millis,
    source: &'a dyn SeriesSource,
    limits: Limits,
    series: usize,
    samples: usize,
}

impl Evaluator<'_> {
    fn eval(&mut self, expr: &Expr) -> Result<Value, EvalError> {
        match expr {
            Expr::Number(n) => Ok(Value::Scalar(*n)),
            Expr::Negate(inner) => Ok(match self.eval(inner)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(v) => Value::Vector(unique(v.into_iter().map(|(l, x)| (drop_name(l), -x)).collect())?),
            }),
            Expr::Selector(sel) => {
                let start = self.at.saturating_sub(LOOKBACK_MS);
                let series = self.load(sel, start)?;
                Ok(Value::Vector(
                    series.into_iter().filter_map(|s| s.samples.last().map(|(_, v)| (s.labels, *v))).collect(),
                ))
            }
            Expr::Range { func, selector, range_ms } => {
                let start = self.at.saturating_sub(*range_ms);
                let series = self.load(selector, start)?;
                let out = series
                    .into_iter()
                    .filter_map(|s| {
                        let v = range_function(*func, &s.samples, start, self.at, *range_ms)?;
                        Some((drop_name(s.labels), v))
                    })
                    .collect();
                Ok(Value::Vector(unique(out)?))
            }
            Expr::Aggregate { op, grouping, expr } => {
                let Value::Vector(v) = self.eval(expr)? else {
                    // The parser only allows vectors here; a scalar would be a bug, and aggregating nothing is empty.
                    return Ok(Value::Vector(Vec::new()));
                };
                Ok(Value::Vector(aggregate(*op, grouping, v)))
            }
            Expr::Binary(b) => self.binary(b),
        }
    }

    /// The series of a selector with their samples in `[start, at]`, checked against the matchers and the limits.
    fn load(&mut self, sel: &Selector, start: Millis) -> Result<Vec<Series>, EvalError> {
        let found = self.source.select(&sel.name, &sel.matchers, start, self.at).map_err(EvalError::Source)?;
        let mut out = Vec::new();
        for mut s in found {
            let value = |name: &str| s.labels.get(name).map(String::as_str).unwrap_or("");
            if value(METRIC_NAME) != sel.name || !sel.matchers.iter().all(|m| m.matches(value(&m.name))) {
                continue;
            }
            s.samples.retain(|(t, _)| (start..=self.at).contains(t));
            if s.samples.is_empty() {
                continue;
            }
            s.samples.sort_by_key(|(t, _)| *t);
            s.samples.dedup_by_key(|(t, _)| *t);
            self.series += 1;
            self.samples = self.samples.saturating_add(s.samples.len());
            if self.series > self.limits.max_series {
                return Err(EvalError::TooManySeries { limit: self.limits.max_series });
            }
            if self.samples > self.limits.max_samples {
                return Err(EvalError::TooManySamples { limit: self.limits.max_samples });
            }
            out.push(s);
        }
        Ok(out)
    }

    fn binary(&mut self, b: &Binary) -> Result<Value, EvalError> {
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        let op = b.op;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (value, keep) = elem(op, l, r);
                // Comparisons between scalars need `bool` (the parser insists), so they always give 1 or 0.
                Ok(Value::Scalar(if op.is_comparison() { f64::from(u8::from(keep)) } else { value }))
            }
            (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(vector_scalar(op, v, s, false, b.return_bool)?)),
            (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(vector_scalar(op, v, s, true, b.return_bool)?)),
            (Value::Vector(l), Value::Vector(r)) => {
                Ok(Value::Vector(vector_vector(op, l, r, &b.matching, b.return_bool)?))
            }
        }
    }
}

/// `op` on two values: the arithmetic result, or for a comparison the left value and whether it holds
/// (Prometheus' `vectorElemBinop`).
fn elem(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
    }
}

/// Prometheus' `VectorscalarBinop`: `swap` when the scalar was on the left.
fn vector_scalar(
    op: BinOp,
    v: Vec<(Labels, f64)>,
    s: f64,
    swap: bool,
    return_bool: bool,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let mut out = Vec::new();
    for (labels, x) in v {
        let (l, r) = if swap { (s, x) } else { (x, s) };
        let (mut value, mut keep) = elem(op, l, r);
        // A comparison keeps the vector's value even when the scalar is on the left.
        if op.is_comparison() && swap {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if !op.is_comparison() || return_bool { drop_name(labels) } else { labels };
            out.push((labels, value));
        }
    }
    unique(out)
}

/// Prometheus' `VectorBinop` for one-to-one matching.
fn vector_vector(
    op: BinOp,
    lhs: Vec<(Labels, f64)>,
    rhs: Vec<(Labels, f64)>,
    matching: &Matching,
    return_bool: bool,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let signature = |labels: &Labels| -> Vec<(String, String)> {
        match matching {
            Matching::On(names) => {
                let mut sig: Vec<_> =
                    names.iter().filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone()))).collect();
                sig.sort();
                sig.dedup();
                sig
            }
            Matching::Ignoring(names) => labels
                .iter()
                .filter(|(k, _)| k.as_str() != METRIC_NAME && !names.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    };
    let mut right: HashMap<Vec<(String, String)>, (Labels, f64)> = HashMap::new();
    for (labels, v) in rhs {
        let sig = signature(&labels);
        if let Some((first, _)) = right.get(&sig) {
            return Err(EvalError::Ambiguous(format!(
                "found duplicate series for the match group {} on the right hand-side of the operation: [{}, {}]; \
                 many-to-many matching not allowed: matching labels must be unique on one side",
                render_sig(&sig),
                render_labels(first),
                render_labels(&labels)
            )));
        }
        right.insert(sig, (labels, v));
    }
    let mut matched: HashMap<Vec<(String, String)>, ()> = HashMap::new();
    let mut out = Vec::new();
    for (labels, l) in lhs {
        let sig = signature(&labels);
        let Some((_, r)) = right.get(&sig) else { continue };
        let (mut value, mut keep) = elem(op, l, *r);
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if !keep {
            continue;
        }
        if matched.insert(sig, ()).is_some() {
            return Err(EvalError::Ambiguous(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right), \
                 which Crane's built-in evaluator does not support"
                    .into(),
            ));
        }
        let mut metric = labels;
        if !op.is_comparison() || return_bool {
            metric.remove(METRIC_NAME);
        }
        match matching {
            Matching::On(names) => metric.retain(|k, _| names.contains(k)),
            Matching::Ignoring(names) => metric.retain(|k, _| !names.contains(k)),
        }
        out.push((metric, value));
    }
    unique(out)
}

/// Prometheus' aggregation for sum, avg, max, min and count.
fn aggregate(op: AggOp, grouping: &Grouping, v: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    struct Group {
        value: f64,
        count: f64,
    }
    // Prometheus aggregates in the order of its input; sorting by labels gives the same order as its storage.
    let mut v = v;
    v.sort_by(|a, b| a.0.cmp(&b.0));
    let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
    for (labels, x) in v {
        let key: Labels = match grouping {
            Grouping::By(names) => labels.into_iter().filter(|(k, _)| names.contains(k)).collect(),
            Grouping::Without(names) => {
                labels.into_iter().filter(|(k, _)| k != METRIC_NAME && !names.contains(k)).collect()
            }
        };
        match groups.get_mut(&key) {
            None => {
                let value = if op == AggOp::Count { 1.0 } else { x };
                groups.insert(key, Group { value, count: 1.0 });
            }
            Some(g) => {
                g.count += 1.0;
                match op {
                    AggOp::Sum => g.value += x,
                    // The incremental mean Prometheus uses, which does not overflow for large values.
                    AggOp::Avg => g.value += x / g.count - g.value / g.count,
                    AggOp::Max => {
                        if g.value < x || g.value.is_nan() {
                            g.value = x
                        }
                    }
                    AggOp::Min => {
                        if g.value > x || g.value.is_nan() {
                            g.value = x
                        }
                    }
                    AggOp::Count => g.value += 1.0,
                }
            }
        }
    }
    groups.into_iter().map(|(labels, g)| (labels, g.value)).collect()
}

/// A range function over one series' samples in `[start, end]`; `None` drops the series (too few samples).
fn range_function(
    func: RangeFunc,
    samples: &[(Millis, f64)],
    start: Millis,
    end: Millis,
    range_ms: u64,
) -> Option<f64> {
    match func {
        RangeFunc::Rate => extrapolated_rate(samples, start, end, range_ms, true, true),
        RangeFunc::Increase => extrapolated_rate(samples, start, end, range_ms, true, false),
        RangeFunc::Irate => instant_rate(samples),
        RangeFunc::AvgOverTime => avg_over_time(samples),
        RangeFunc::MaxOverTime => {
            samples.iter().map(|(_, v)| *v).reduce(|m, v| if v > m || m.is_nan() { v } else { m })
        }
        RangeFunc::MinOverTime => {
            samples.iter().map(|(_, v)| *v).reduce(|m, v| if v < m || m.is_nan() { v } else { m })
        }
    }
}

/// A port of Prometheus' `extrapolatedRate` (promql/functions.go) for float samples: the increase between the
/// first and last sample in the range, with counter resets added back, extrapolated towards the range's edges when
/// the samples reach close to them (by at most half a sample interval otherwise), never to below zero for a
/// counter; divided by the range in seconds for `rate`.
pub fn extrapolated_rate(
    samples: &[(Millis, f64)],
    range_start: Millis,
    range_end: Millis,
    range_ms: u64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (first_t, first_v) = samples[0];
    let (last_t, last_v) = samples[samples.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for (_, v) in &samples[1..] {
            if *v < prev {
                result += prev;
            }
            prev = *v;
        }
    }
    let mut duration_to_start = (first_t as f64 - range_start as f64) / 1000.0;
    let duration_to_end = (range_end as f64 - last_t as f64) / 1000.0;
    let sampled_interval = (last_t as f64 - first_t as f64) / 1000.0;
    let average_between_samples = sampled_interval / (samples.len() - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // Counters cannot be negative: when the slope reaches zero before the range's start, extrapolate only to
        // that zero point.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_between_samples * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold { duration_to_start } else { average_between_samples / 2.0 };
    extrapolate_to += if duration_to_end < threshold { duration_to_end } else { average_between_samples / 2.0 };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus' `instantValue` for `irate`: per-second increase between the last two samples (the last value alone
/// after a counter reset).
fn instant_rate(samples: &[(Millis, f64)]) -> Option<f64> {
    let [.., (prev_t, prev_v), (last_t, last_v)] = samples else { return None };
    let increase = if last_v < prev_v { *last_v } else { last_v - prev_v };
    let interval = last_t.checked_sub(*prev_t).filter(|i| *i > 0)?;
    Some(increase / (interval as f64 / 1000.0))
}

/// Prometheus' `avg_over_time`: an incremental mean with Kahan–Neumaier compensation.
fn avg_over_time(samples: &[(Millis, f64)]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for (_, v) in samples {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (*v > 0.0) {
                // The mean stays at this infinity.
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        let inc = v / count - mean / count;
        let t = mean + inc;
        if mean.abs() >= inc.abs() {
            c += (mean - t) + inc;
        } else {
            c += (inc - t) + mean;
        }
        mean = t;
    }
    Some(if mean.is_infinite() { mean } else { mean + c })
}

fn drop_name(mut labels: Labels) -> Labels {
    labels.remove(METRIC_NAME);
    labels
}

/// Refuses a result with two elements of the same labels, as Prometheus does ("vector cannot contain metrics with
/// the same labelset"): after a function or arithmetic drops the metric name, two series may become one.
fn unique(v: Vec<(Labels, f64)>) -> Result<Vec<(Labels, f64)>, EvalError> {
    let mut seen = std::collections::BTreeSet::new();
    for (labels, _) in &v {
        if !seen.insert(labels) {
            return Err(EvalError::Ambiguous(format!(
                "vector cannot contain metrics with the same labelset: {} appears twice (the metric name was dropped \
                 by a function or an operator); aggregate first, e.g. `sum by (app) (…)`",
                render_labels(labels)
            )));
        }
    }
    Ok(v)
}

/// A label set as PromQL writes it: `{app="web", code="5xx"}`.
pub fn render_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn render_sig(sig: &[(String, String)]) -> String {
    let inner: Vec<String> = sig.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}
