//! The autoscaler's brain: a pure function from one app's metrics, policy and recent recommendations to a replica
//! count, with a one-line reason a student can follow.
//!
//! It follows the Kubernetes HorizontalPodAutoscaler algorithm
//! (<https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#algorithm-details>, and its
//! implementation in `kubernetes/pkg/controller/podautoscaler`: `replica_calculator.go` and `horizontal.go`):
//!
//! 1. **Out of range first.** When the current count is outside `[min, max]` (someone scaled by hand, or the policy
//!    changed), it is brought to the nearest bound without looking at the metric, as `reconcileAutoscaler` does.
//! 2. **Ratio.** `ratio = usage / target`. For cpu and memory `usage` is the utilization of the ready instances
//!    that have a sample, total usage over total limits (Kubernetes' `GetResourceUtilizationRatio`, so instances
//!    with different limits during a rollout weigh by their limits); for rps per instance it is their mean; for
//!    app-level metrics (latency p95, custom) it is the app's value, and for rps given as a total it is the total
//!    divided by the ready instances.
//! 3. **Tolerance.** When `|ratio − 1| ≤ tolerance` (10 %) and no instance is set aside, nothing changes.
//! 4. **Set-aside instances.** Unready instances and ready ones without a sample are left out of the first
//!    estimate. Then, on a scale up, both count as 0 usage; on a scale down, those without a sample count as 100 % of
//!    their limit for cpu and memory (Kubernetes' 100 % of the request) and as the target for rps (Kubernetes'
//!    per-pod metrics), and unready ones stay out. When the recomputed ratio reverses the direction or falls within
//!    tolerance, nothing changes. This dampens scaling on partial data.
//! 5. **Count.** `desired = ceil(counted × ratio)`, `counted` being the instances the ratio was computed over, then
//!    clamped to `[min, max]`. That clamped value is the *recommendation* the caller records.
//! 6. **Stabilization.** Scale up is immediate; a scale down goes no lower than the highest recommendation of the
//!    last `scale_down_stabilization` (this one included), as `stabilizeRecommendationWithBehaviors` does.
//! 7. **Step limits.** At most `max_scale_up_step` instances are added, and `max_scale_down_step` removed, per
//!    decision (Kubernetes' `behavior.scaleUp/scaleDown.policies`, simplified to one decision instead of a period).
//!
//! 8. **Scale to zero** (`min: 0`, which the HPA cannot do): the metric never asks for fewer than one instance; an
//!    app goes to zero only through [`crate::scale_to_zero`] (no request for `idleAfter`), and at zero this function
//!    holds, since the next request wakes the app.
//!
//! Besides the sentence, every rule that changed or held the outcome is a typed [`Limit`], so the window shows
//! which rule held a decision without reading prose.
//!
//! Where Crane departs from Kubernetes, a comment at the spot says so and why; `tests.rs` runs the cases of
//! Kubernetes' `replica_calculator_test.go` that Crane's inputs can express, and the README's "Crane vs the
//! Kubernetes HPA" table lists every departure.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::model::Millis;
use crate::spec::Autoscaling;
use crate::units::format_millis;

/// How far the ratio may stray from 1 before anything changes (Kubernetes'
/// `--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;

/// Scale-down stabilization window when the spec does not set one. Kubernetes waits 300 s; Crane waits 60 s so a
/// student watching a lab sees the scale down happen.
pub const DEFAULT_SCALE_DOWN_STABILIZATION: Millis = 60_000;

/// Slack for floating-point noise: `3 × 46.666…/70` is 2 in exact arithmetic and must not round up to 3, and a ratio
/// exactly 10 % off target is within a 10 % tolerance as the Kubernetes doc's `≤` intends.
const EPSILON: f64 = 1e-9;

/// An app's autoscaling policy, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Lowest replica count.
    pub min: u32,
    /// Highest replica count.
    pub max: u32,
    /// What is measured.
    pub metric: Metric,
    /// Target value of the metric (percent for cpu and memory, requests/s per replica for rps, ms for latency p95).
    pub target: f64,
    /// How far `usage / target` may stray from 1 before anything changes ([`DEFAULT_TOLERANCE`]).
    pub tolerance: f64,
    /// How far back recommendations hold a scale down ([`DEFAULT_SCALE_DOWN_STABILIZATION`]).
    pub scale_down_stabilization: Millis,
    /// Most instances added by one decision; `None` for no limit.
    pub max_scale_up_step: Option<u32>,
    /// Most instances removed by one decision; `None` for no limit.
    pub max_scale_down_step: Option<u32>,
    /// With `min: 0`, how long without a request before the app goes to zero ([`DEFAULT_IDLE_AFTER`]); `None`
    /// when the app never scales to zero.
    pub idle_after: Option<Millis>,
}

/// How long an app with `min: 0` may go without a request before it scales to zero, when the spec does not say
/// (Knative's scale-to-zero grace plus its stable window is about a minute; KEDA's `cooldownPeriod` is 5 min, which
/// Crane follows so a lab's app does not vanish between two steps).
pub const DEFAULT_IDLE_AFTER: Millis = 300_000;

impl Policy {
    /// Reads a validated spec's `autoscaling` section, applying Crane's defaults.
    pub fn from_spec(a: &Autoscaling) -> Policy {
        let scale_down_stabilization =
            a.scale_down_stabilization.map_or(DEFAULT_SCALE_DOWN_STABILIZATION, |d| d.as_millis());
        Policy {
            min: a.min,
            max: a.max,
            metric: a.metric,
            target: a.target,
            tolerance: DEFAULT_TOLERANCE,
            scale_down_stabilization,
            max_scale_up_step: a.max_scale_up_step,
            max_scale_down_step: a.max_scale_down_step,
            idle_after: (a.min == 0).then(|| a.idle_after.map_or(DEFAULT_IDLE_AFTER, |d| d.as_millis())),
        }
    }

    /// The lowest count the metric may ask for: `min`, but at least one, since only idleness takes an app to zero.
    pub fn metric_min(&self) -> u32 {
        self.min.max(1)
    }
}

// The metric is the spec's own enum, so the policy and the spec cannot disagree on the names.
pub use crate::spec::Metric;

impl Metric {
    /// The name reasons use for it: "cpu", "memory", "rps", "latency p95", "custom".
    pub fn label(self) -> &'static str {
        match self {
            Metric::LatencyP95 => "latency p95",
            other => other.as_str(),
        }
    }

    /// A target or a counted-as value with its unit: "70%", "50", "200ms".
    fn amount(self, v: f64) -> String {
        match self {
            Metric::Cpu | Metric::Memory => format!("{}%", number(v)),
            Metric::LatencyP95 => format!("{}ms", number(v)),
            Metric::Rps | Metric::Custom => number(v),
        }
    }

    /// A measured value with its unit: "93%", "12/replica", "340ms".
    fn measured(self, v: f64) -> String {
        match self {
            Metric::Rps => format!("{}/replica", number(v)),
            other => other.amount(v),
        }
    }
}

/// One instance's latest sample of a per-instance metric.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSample {
    /// Container name (`web-2`).
    pub name: String,
    /// Whether it passes its readiness probe (and so receives traffic).
    pub ready: bool,
    /// Its latest value; `None` when there is no sample yet. For cpu and memory, percent of its `limit`.
    pub value: Option<f64>,
    /// For cpu and memory, the limit the percentage is of (cores, or bytes; the same unit for every instance), so
    /// utilization is total usage over total limits; `None` weighs the instance as 1. Ignored for rps.
    pub limit: Option<f64>,
}

/// Everything one decision looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// App name.
    pub app: String,
    /// The current time.
    pub now: Millis,
    /// The app's replica count in its spec now.
    pub current: u32,
    /// The app's policy.
    pub policy: Policy,
    /// The app's live instances (not those being removed), with their samples of a per-instance metric (cpu,
    /// memory, rps). App-level metrics use them only to count ready instances.
    pub instances: Vec<InstanceSample>,
    /// The app-level value (latency p95, custom), or for rps the app's total requests/s; `None` when there is none.
    pub app_value: Option<f64>,
    /// Earlier [`Decision::recommendation`]s with their times, any age; only those in the stabilization window count.
    pub recommendations: Vec<(Millis, u32)>,
}

/// Which way a decision scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// More replicas.
    Up,
    /// Fewer replicas.
    Down,
    /// The same count.
    None,
}

/// What to do, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The replica count to set.
    pub desired: u32,
    /// This decision's recommendation before stabilization and step limits; the caller appends `(now, recommendation)`
    /// to the app's recommendations for the next decisions.
    pub recommendation: u32,
    /// Whether `desired` is above, below or equal to the current count.
    pub change: Change,
    /// One line with the formula and its numbers: "cpu 93% over 2 ready > target 70% → ceil(2×93/70)=3 → scale 2→3".
    pub reason: String,
    /// Whether the event log should show it: every change, and every hold by stabilization, limits or missing data.
    /// A steady "keep N" (within tolerance, or rounding back to the current count) is not.
    pub interesting: bool,
    /// The numbers behind the reason: per-instance values, ready counts, ratios, the window's highest recommendation.
    pub inputs: Value,
    /// The measured usage the ratio was computed from (utilization or mean over the counted instances, or the app's
    /// value per the metric's rule); `None` when the decision did not look at the metric (no samples, out of range).
    pub usage: Option<f64>,
    /// `usage / target`, the number the tolerance band is about; `None` with `usage`.
    pub ratio: Option<f64>,
    /// Every rule that changed or held the outcome, in the order they applied (empty for a plain scale or a count
    /// the formula gave).
    pub limits: Vec<Limit>,
}

/// A rule that changed or held a decision, with its numbers, so the window can show which rule held a decision
/// (and the recommendations a stabilization window held) from typed values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Limit {
    /// `|ratio − 1| ≤ tolerance`: too close to the target to act.
    Tolerance {
        /// The ratio that fell inside the band.
        ratio: f64,
        /// The band's half-width (0.1 = 10 %).
        tolerance: f64,
    },
    /// Recounted with the set-aside instances (unready, without a sample), the ratio fell within tolerance or on
    /// the other side of the target, so nothing changes.
    SetAside {
        /// The recomputed ratio.
        ratio: f64,
    },
    /// The formula gave a count that moves against the metric (fewer while above target, or more while below).
    Direction {
        /// The count the formula gave.
        computed: u32,
    },
    /// No sample, value or ready instance to decide on.
    NoData,
    /// The count the metric asks for is above `max`.
    Max {
        /// The policy's max.
        max: u32,
        /// What the metric asked for.
        wanted: u32,
    },
    /// The count the metric asks for is below `min` (at least 1, see [`Policy::metric_min`]).
    Min {
        /// The lowest count the metric may ask for.
        min: u32,
        /// What the metric asked for.
        wanted: u32,
    },
    /// The current count was outside `[min, max]` and is brought back without looking at the metric.
    OutOfRange {
        /// The policy's min.
        min: u32,
        /// The policy's max.
        max: u32,
    },
    /// Scale-down stabilization: no lower than the highest recommendation of the window.
    Stabilization {
        /// The window, ms.
        window_ms: Millis,
        /// The recommendations in the window (time, replicas), this decision's included.
        recommendations: Vec<(Millis, u32)>,
        /// The highest of them.
        highest: u32,
    },
    /// At most `step` instances added per decision.
    StepUp {
        /// `maxScaleUpStep`.
        step: u32,
        /// The count before the limit.
        wanted: u32,
    },
    /// At most `step` instances removed per decision.
    StepDown {
        /// `maxScaleDownStep`.
        step: u32,
        /// The count before the limit.
        wanted: u32,
    },
    /// The app is at zero (`min: 0`): the autoscaler waits for a request to wake it.
    AtZero,
}

impl Decision {
    /// The decision's outcome as fields, for the event log and the views: from/to replicas, metric, usage, target.
    pub fn record(&self, input: &Input) -> DecisionRecord {
        DecisionRecord {
            from: input.current,
            to: self.desired,
            metric: input.policy.metric,
            value: self.usage,
            target: input.policy.target,
        }
    }
}

/// A decision's outcome as fields. The engine stores it in the event details under `"decision"`, so readers (chart
/// markers, the window) take the numbers from here and never from the reason's prose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Replicas before the decision.
    pub from: u32,
    /// Replicas after it (equal to `from` for a hold).
    pub to: u32,
    /// The metric it looked at.
    pub metric: Metric,
    /// The measured usage (see [`Decision::usage`]).
    pub value: Option<f64>,
    /// The policy's target.
    pub target: f64,
}

/// Decides an app's replica count from its metrics, as the Kubernetes HPA would (see the module docs).
pub fn decide(input: &Input) -> Decision {
    let policy = &input.policy;
    let current = input.current;
    // Validation keeps max ≥ min; should a policy break that, min wins so the result still lies in one range.
    let (min, max) = (policy.min, policy.max.max(policy.min));
    let mut inputs = Map::new();
    inputs.insert("app".into(), json!(input.app));
    inputs.insert("metric".into(), json!(policy.metric.as_str()));
    inputs.insert("target".into(), json!(policy.target));
    inputs.insert("tolerance".into(), json!(policy.tolerance));
    inputs.insert("current".into(), json!(current));
    inputs.insert("min".into(), json!(min));
    inputs.insert("max".into(), json!(max));
    let instances: Vec<Value> = input
        .instances
        .iter()
        .map(|s| json!({ "name": s.name, "ready": s.ready, "value": s.value, "limit": s.limit }))
        .collect();
    inputs.insert("instances".into(), Value::Array(instances));
    if let Some(value) = input.app_value {
        inputs.insert("app_value".into(), json!(value));
    }
    let outcome = |desired: u32, recommendation: u32, reason: String, inputs: Map<String, Value>, limits| Decision {
        desired,
        recommendation,
        change: match desired.cmp(&current) {
            std::cmp::Ordering::Greater => Change::Up,
            std::cmp::Ordering::Less => Change::Down,
            std::cmp::Ordering::Equal => Change::None,
        },
        interesting: desired != current,
        reason,
        inputs: Value::Object(inputs),
        usage: None,
        ratio: None,
        limits,
    };

    // Kubernetes brings an out-of-range count back to the nearest bound before it looks at any metric
    // (`reconcileAutoscaler`: "Current number of replicas above Spec.MaxReplicas").
    if current < min || current > max {
        let (bound, side) =
            if current > max { (max, format!("above max {max}")) } else { (min, format!("below min {min}")) };
        let reason = format!(
            "{current} replicas is {side} (scaled by hand, or the policy changed) → scale {current}→{bound} back into \
             [{min}, {max}]"
        );
        inputs.insert("desired".into(), json!(bound));
        return outcome(bound, bound, reason, inputs, vec![Limit::OutOfRange { min, max }]);
    }
    // At zero there is nothing to measure: the load balancer holds the next request and wakes the app
    // (`scale_to_zero`), which is faster than any metric could be.
    if current == 0 {
        inputs.insert("desired".into(), json!(0));
        let reason = "scaled to zero; the next request wakes it → keep 0".to_string();
        return outcome(0, 0, reason, inputs, vec![Limit::AtZero]);
    }

    let estimate = estimate(input, &mut inputs);
    let mut text = estimate.text;
    let mut interesting = estimate.interesting;
    let mut limits: Vec<Limit> = estimate.limit.into_iter().collect();

    // Only idleness takes an app to zero, so the metric asks for at least one instance even with `min: 0`.
    let metric_min = policy.metric_min().min(max.max(1));
    let raw = estimate.wanted.unwrap_or(current);
    let recommendation = raw.clamp(metric_min, max.max(metric_min));
    if raw > max {
        text.push_str(&format!(", limited to max {max}"));
        limits.push(Limit::Max { max, wanted: raw });
        interesting = true;
    } else if raw < metric_min {
        text.push_str(&format!(", raised to min {metric_min}"));
        limits.push(Limit::Min { min: metric_min, wanted: raw });
        interesting = true;
    }

    // Scale-down stabilization, as Kubernetes' `stabilizeRecommendationWithBehaviors` with an upscale window of 0:
    // a scale up applies at once; a scale down goes no lower than the highest recommendation in the window (this one
    // included), and the window never scales up. Recording the clamped recommendation rather than the raw one gives
    // the same result (clamping is monotone) and numbers a student recognises.
    let window = policy.scale_down_stabilization;
    let since = input.now.saturating_sub(window);
    let in_window: Vec<(Millis, u32)> =
        input.recommendations.iter().copied().filter(|&(at, _)| at >= since && at <= input.now).collect();
    let window_max = in_window.iter().map(|&(_, r)| r).fold(recommendation, u32::max);
    let stabilized = if recommendation >= current { recommendation } else { current.min(window_max) };
    let stabilizing = stabilized != recommendation;
    if stabilizing {
        text.push_str(&format!("; highest recommendation in the last {} is {window_max}", seconds(window)));
        let mut recommendations = in_window.clone();
        recommendations.push((input.now, recommendation));
        limits.push(Limit::Stabilization { window_ms: window, recommendations, highest: window_max });
        interesting = true;
    }

    let mut desired = stabilized;
    if desired > current {
        // Validation rejects a step of 0; should one slip through, 1 keeps scaling possible.
        if let Some(step) = policy.max_scale_up_step.map(|s| s.max(1)) {
            if desired - current > step {
                limits.push(Limit::StepUp { step, wanted: desired });
                desired = current + step;
                text.push_str(&format!(", at most {step} added per decision (maxScaleUpStep)"));
            }
        }
    } else if desired < current {
        if let Some(step) = policy.max_scale_down_step.map(|s| s.max(1)) {
            if current - desired > step {
                limits.push(Limit::StepDown { step, wanted: desired });
                desired = current - step;
                text.push_str(&format!(", at most {step} removed per decision (maxScaleDownStep)"));
            }
        }
    }

    let change = match desired.cmp(&current) {
        std::cmp::Ordering::Greater => Change::Up,
        std::cmp::Ordering::Less => Change::Down,
        std::cmp::Ordering::Equal => Change::None,
    };
    if change == Change::None {
        text.push_str(&format!(" → keep {current}"));
    } else {
        text.push_str(&format!(" → scale {current}→{desired}"));
        interesting = true;
    }
    if stabilizing {
        text.push_str(" (scale-down stabilization)");
    }

    inputs.insert("raw".into(), json!(estimate.wanted));
    inputs.insert("recommendation".into(), json!(recommendation));
    inputs.insert(
        "window".into(),
        json!({ "ms": window, "recommendations": in_window.len(), "max": window_max, "stabilized": stabilized }),
    );
    inputs.insert("desired".into(), json!(desired));
    Decision {
        desired,
        recommendation,
        change,
        reason: text,
        interesting,
        inputs: Value::Object(inputs),
        usage: estimate.usage,
        ratio: estimate.usage.map(|u| u / policy.target),
        limits,
    }
}

/// What the metric alone asks for, before min/max, stabilization and step limits.
struct Estimate {
    /// The replica count the metric asks for; `None` holds the current count.
    wanted: Option<u32>,
    /// The reasoning so far, without the outcome: "cpu 93% over 2 ready > target 70% → ceil(2×93/70)=3".
    text: String,
    /// Whether a hold is worth logging (missing data, a reversed direction); a steady state is not.
    interesting: bool,
    /// The measured usage, once there is one.
    usage: Option<f64>,
    /// The rule that held it, for a hold.
    limit: Option<Limit>,
}

impl Estimate {
    fn hold(text: String, interesting: bool, limit: Limit) -> Estimate {
        Estimate { wanted: None, text, interesting, usage: None, limit: Some(limit) }
    }

    /// The same estimate, computed from `usage`.
    fn with_usage(self, usage: f64) -> Estimate {
        Estimate { usage: Some(usage), ..self }
    }
}

fn estimate(input: &Input, inputs: &mut Map<String, Value>) -> Estimate {
    let policy = &input.policy;
    let label = policy.metric.label();
    if !(policy.target > 0.0 && policy.target.is_finite()) {
        // Validation rejects it; a pure function must still answer something sensible rather than divide by zero.
        return Estimate::hold(
            format!("{label} target {} is not a positive number", policy.target),
            true,
            Limit::NoData,
        );
    }
    match policy.metric {
        Metric::Cpu | Metric::Memory => per_instance(input, inputs),
        Metric::Rps if input.app_value.is_none() => per_instance(input, inputs),
        Metric::Rps | Metric::LatencyP95 | Metric::Custom => app_level(input, inputs),
    }
}

/// One counted instance: its value and its weight (its limit for cpu and memory, else 1).
#[derive(Clone, Copy)]
struct Counted {
    value: f64,
    weight: f64,
}

/// Utilization (cpu, memory: total usage over total limits) or mean (rps) of the counted instances.
fn usage_of(counted: &[Counted]) -> f64 {
    let weights: f64 = counted.iter().map(|c| c.weight).sum();
    if weights <= 0.0 {
        return 0.0;
    }
    counted.iter().map(|c| c.value * c.weight).sum::<f64>() / weights
}

/// Per-instance metrics, as Kubernetes' `GetResourceReplicas` (cpu, memory) and `calcPlainMetricReplicas` (rps).
fn per_instance(input: &Input, inputs: &mut Map<String, Value>) -> Estimate {
    let policy = &input.policy;
    let metric = policy.metric;
    let label = metric.label();
    let target = policy.target;
    let current = input.current;
    let resource = matches!(metric, Metric::Cpu | Metric::Memory);
    let weight = |s: &InstanceSample| match s.limit {
        Some(l) if resource && l.is_finite() && l > 0.0 => l,
        _ => 1.0,
    };

    // Kubernetes sets unready pods aside only for cpu, whose start-up burst would mislead it; Crane sets them aside
    // for every metric because an unready instance gets no traffic, so its rps (and its idle cpu or memory) says
    // nothing about the load. A ready instance without a sample is "missing", as in Kubernetes.
    let mut counted = Vec::new();
    let mut missing = Vec::new();
    let mut unready = Vec::new();
    for sample in &input.instances {
        match (sample.ready, sample.value.filter(|v| v.is_finite())) {
            (false, _) => unready.push(sample),
            (true, None) => missing.push(sample),
            (true, Some(v)) => counted.push(Counted { value: v, weight: weight(sample) }),
        }
    }
    let names = |list: &[&InstanceSample]| list.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let ready = counted.len() + missing.len();
    inputs.insert("ready".into(), json!(ready));
    inputs.insert("counted".into(), json!(counted.len()));
    inputs.insert("missing".into(), json!(names(&missing[..])));
    inputs.insert("unready".into(), json!(names(&unready[..])));

    // Kubernetes refuses to scale when no ready pod has a metric ("did not receive metrics for any ready pods").
    if counted.is_empty() {
        let total = input.instances.len();
        let any_sample = input.instances.iter().any(|s| s.value.is_some_and(f64::is_finite));
        let text = if any_sample {
            format!("no {label} samples from ready instances yet ({total} instances, {ready} ready)")
        } else {
            format!("no {label} samples yet from {total} {}", plural(total, "instance"))
        };
        return Estimate::hold(text, true, Limit::NoData);
    }

    let n = counted.len();
    let usage = usage_of(&counted);
    let measured = usage;
    let ratio = usage / target;
    inputs.insert("usage".into(), json!(usage));
    inputs.insert("ratio".into(), json!(ratio));
    let up = ratio > 1.0;
    // Exactly on target nothing is recounted, as in Kubernetes (neither branch of its `usageRatio < 1.0` /
    // `> 1.0` fires), and the tolerance holds.
    let down = ratio < 1.0;
    let rebalance_unready = up && !unready.is_empty();
    if (!rebalance_unready && missing.is_empty()) || !(up || down) {
        if let Some(hold) = tolerance_hold(label, metric, usage, target, policy.tolerance) {
            return hold.with_usage(measured);
        }
    }

    let mut text = format!(
        "{label} {} over {n} ready {} target {}",
        metric.measured(usage),
        if up { ">" } else { "<" },
        metric.amount(target)
    );
    if !up && !unready.is_empty() {
        text.push_str(&format!(" ({} unready set aside)", unready.len()));
    }

    // The conservative second pass. On a scale up, set-aside instances count as 0. On a scale down, a ready
    // instance without a sample counts as 100 % of its limit for cpu and memory (Kubernetes: 100 % of the
    // request) and as the target for rps (Kubernetes' per-pod metrics); unready ones stay out.
    let mut recount = counted.clone();
    let adjustment = if up && !(missing.is_empty() && unready.is_empty()) {
        let mut who = Vec::new();
        if !unready.is_empty() {
            who.push(format!("{} unready", unready.len()));
        }
        if !missing.is_empty() {
            who.push(format!("{} without a sample", missing.len()));
        }
        for s in missing.iter().chain(&unready) {
            recount.push(Counted { value: 0.0, weight: weight(s) });
        }
        Some(format!("{} counted as {}", who.join(" and "), metric.amount(0.0)))
    } else if down && !missing.is_empty() {
        let fallback = if resource { 100.0 } else { target };
        for s in &missing {
            recount.push(Counted { value: fallback, weight: weight(s) });
        }
        Some(format!("{} without a sample counted as {}", missing.len(), metric.amount(fallback)))
    } else {
        None
    };
    let n = recount.len();
    let usage = usage_of(&recount);
    if let Some(note) = adjustment {
        let ratio = usage / target;
        inputs.insert("recomputed".into(), json!({ "count": n, "usage": usage, "ratio": ratio }));
        text.push_str(&format!("; with {note}: {} over {n}", metric.measured(usage)));
        let direction = if up { "up" } else { "down" };
        if within(ratio, policy.tolerance) {
            text.push_str(&format!(" is within {} of target, so no scale {direction}", percent(policy.tolerance)));
            return Estimate::hold(text, true, Limit::SetAside { ratio }).with_usage(measured);
        }
        if (ratio > 1.0) != up {
            let side = if up { "below" } else { "above" };
            text.push_str(&format!(" is {side} target, so no scale {direction}"));
            return Estimate::hold(text, true, Limit::SetAside { ratio }).with_usage(measured);
        }
    }

    let desired = ceil_count(n as f64 * usage / target);
    text.push_str(&format!(" → ceil({n}×{}/{})={desired}", number(usage), number(target)));
    guard_direction(text, desired, current, up, label).with_usage(measured)
}

/// App-level metrics, as Kubernetes' `GetObjectMetricReplicas` (a `Value` target: `ceil(ready × value / target)`),
/// and rps given as a total, as `GetExternalPerPodMetricReplicas` (an `AverageValue` target: `ceil(total / target)`).
fn app_level(input: &Input, inputs: &mut Map<String, Value>) -> Estimate {
    let policy = &input.policy;
    let metric = policy.metric;
    let label = metric.label();
    let target = policy.target;
    let ready = input.instances.iter().filter(|s| s.ready).count();
    inputs.insert("ready".into(), json!(ready));

    let Some(value) = input.app_value.filter(|v| v.is_finite()) else {
        return Estimate::hold(format!("no {label} value yet"), true, Limit::NoData);
    };
    // Kubernetes would compute 0 replicas from 0 ready pods and scale to min; Crane waits for an instance to be
    // ready instead, since an app that is starting up has no meaningful latency yet.
    if ready == 0 {
        let total = input.instances.len();
        return Estimate::hold(
            format!(
                "{label} {} but no ready instance yet ({total} {})",
                metric.amount(value),
                plural(total, "instance")
            ),
            true,
            Limit::NoData,
        );
    }

    // For rps the total is spread over the ready instances, the only ones that receive traffic. (Kubernetes divides
    // by all pods; a pod without traffic would make the per-replica load look lighter than it is.)
    let (usage, head) = if metric == Metric::Rps {
        let per = value / ready as f64;
        (per, format!("rps {}/s total over {ready} ready = {}", number(value), metric.measured(per)))
    } else {
        (value, format!("{label} {} with {ready} ready", metric.amount(value)))
    };
    let ratio = usage / target;
    inputs.insert("usage".into(), json!(usage));
    inputs.insert("ratio".into(), json!(ratio));
    if let Some(hold) = tolerance_hold(label, metric, usage, target, policy.tolerance) {
        return hold.with_usage(usage);
    }

    let up = ratio > 1.0;
    let exact = if metric == Metric::Rps { value / target } else { ready as f64 * value / target };
    let desired = ceil_count(exact);
    let text = format!(
        "{head} {} target {} → ceil({ready}×{}/{})={desired}",
        if up { ">" } else { "<" },
        metric.amount(target),
        number(usage),
        number(target)
    );
    guard_direction(text, desired, input.current, up, label).with_usage(usage)
}

/// Kubernetes keeps the current count when the computed one moves against the metric ("the change of metrics
/// length would cause a change in scale direction"): fewer replicas while the load is above target can happen when
/// fewer instances run than the spec asks for. Crane applies the check on every path, not just the recomputed one.
fn guard_direction(mut text: String, desired: u32, current: u32, up: bool, label: &str) -> Estimate {
    if (up && desired < current) || (!up && desired > current) {
        let (side, way) = if up { ("above", "down") } else { ("below", "up") };
        text.push_str(&format!(", but {current} are wanted now: no scale {way} while {label} is {side} target"));
        return Estimate::hold(text, true, Limit::Direction { computed: desired });
    }
    // Rounding back to the current count is a steady state, not news.
    Estimate { wanted: Some(desired), text, interesting: desired != current, usage: None, limit: None }
}

/// The "keep" estimate when the usage is within tolerance of the target (HPA's no-change band), else `None`.
fn tolerance_hold(label: &str, metric: Metric, usage: f64, target: f64, tolerance: f64) -> Option<Estimate> {
    within(usage / target, tolerance).then(|| {
        Estimate::hold(
            format!(
                "{label} {} within {} of target {}",
                metric.measured(usage),
                percent(tolerance),
                metric.amount(target)
            ),
            false,
            Limit::Tolerance { ratio: usage / target, tolerance },
        )
    })
}

/// Whether `ratio` is close enough to 1 to leave the count alone.
fn within(ratio: f64, tolerance: f64) -> bool {
    (ratio - 1.0).abs() <= tolerance.max(0.0) + EPSILON
}

/// `ceil(x)` as a replica count, forgiving floating-point noise just above a whole number.
fn ceil_count(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    // `as` saturates at u32::MAX, and min/max clamp it afterwards.
    (x - EPSILON).ceil().max(0.0) as u32
}

/// A number as a student reads it: at most one decimal from 10 up, two below, no trailing zeros ("93", "46.7").
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let decimals = if v.abs() >= 10.0 { 1 } else { 2 };
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    if text == "-0" {
        "0".to_string()
    } else {
        text
    }
}

/// A fraction as a percentage: 0.1 → "10%".
fn percent(fraction: f64) -> String {
    format!("{}%", number(fraction * 100.0))
}

/// A window as the reasons show it: whole seconds ("60s", "300s"), or as [`format_millis`] otherwise.
fn seconds(ms: Millis) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format_millis(ms)
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests;
