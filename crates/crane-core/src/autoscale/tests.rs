//! Table-driven tests of the autoscaler, plus a property test of its invariants.
//!
//! Cases are written in a tiny notation so each fits on a line, e.g. `cpu:70 2..5 cur=3 up=2 93 ? !40 app=150`:
//! - the first token is the metric's spec name and the target (`cpu:70`, `rps:50`, `latency_p95:200`);
//! - `2..5` is min..max (1..10 when omitted); `cur=3` the current count (the number of instances when omitted);
//! - `up=2` / `down=1` are the step limits, `win=30s` the stabilization window (60s when omitted);
//! - instances, named `web-1`, `web-2`… in order: `93` is ready with a sample of 93, `?` ready without a sample,
//!   `!40` unready with a sample of 40, `!` unready without a sample; `150/400` is a usage of 150 against a limit
//!   of 400 (a sample of 37.5 %, weighing 400 in the utilization), as Kubernetes' tests give usage and request;
//!   `30@0.5` a sample of 30 with a limit of 0.5;
//! - `app=150` is the app-level value (latency, custom, or total rps);
//! - `rec=3@30s` is a recommendation of 3 made 30 s before now (`rec=3@-5s`: 5 s after now, a clock that stepped back).
//!
//! The tables are `#[rustfmt::skip]` so each case stays on one line, the whole point of the notation.

use super::*;
use crate::validate::parse_spec;

const NOW: Millis = 1_000_000;

fn millis(text: &str) -> Millis {
    crate::units::parse_duration(text).expect("duration").as_millis()
}

fn input(notation: &str) -> Input {
    let mut tokens = notation.split_whitespace();
    let head = tokens.next().expect("metric:target first");
    let (metric, target) = head.split_once(':').expect("metric:target");
    let mut policy = Policy {
        min: 1,
        max: 10,
        metric: Metric::from_name(metric).expect("metric name"),
        target: target.parse().unwrap(),
        tolerance: DEFAULT_TOLERANCE,
        scale_down_stabilization: DEFAULT_SCALE_DOWN_STABILIZATION,
        max_scale_up_step: None,
        max_scale_down_step: None,
        idle_after: None,
    };
    let mut current = None;
    let mut instances = Vec::new();
    let mut app_value = None;
    let mut recommendations = Vec::new();
    for token in tokens {
        if let Some((lo, hi)) = token.split_once("..") {
            (policy.min, policy.max) = (lo.parse().unwrap(), hi.parse().unwrap());
            continue;
        }
        match token.split_once('=') {
            Some(("cur", n)) => current = Some(n.parse().unwrap()),
            Some(("up", n)) => policy.max_scale_up_step = Some(n.parse().unwrap()),
            Some(("down", n)) => policy.max_scale_down_step = Some(n.parse().unwrap()),
            Some(("win", d)) => policy.scale_down_stabilization = millis(d),
            Some(("app", v)) => app_value = Some(v.parse().unwrap()),
            Some(("rec", r)) => {
                let (count, age) = r.split_once('@').expect("rec=count@age");
                let at = match age.strip_prefix('-') {
                    Some(ahead) => NOW + millis(ahead),
                    None => NOW - millis(age),
                };
                recommendations.push((at, count.parse().unwrap()));
            }
            Some((key, _)) => panic!("unknown option {key}"),
            None => {
                let (ready, value) = match token.strip_prefix('!') {
                    Some(rest) => (false, rest),
                    None => (true, token),
                };
                let (value, limit) = match value.split_once('/') {
                    None if value.contains('@') => {
                        let (v, l) = value.split_once('@').unwrap();
                        (Some(v.parse().unwrap()), Some(l.parse().unwrap()))
                    }
                    Some((usage, limit)) => {
                        let (usage, limit): (f64, f64) = (usage.parse().unwrap(), limit.parse().unwrap());
                        (Some(usage * 100.0 / limit), Some(limit))
                    }
                    None if matches!(value, "" | "?") => (None, None),
                    None => (Some(value.parse().expect("instance value")), None),
                };
                let name = format!("web-{}", instances.len() + 1);
                instances.push(InstanceSample { name, ready, value, limit });
            }
        }
    }
    Input {
        app: "web".to_string(),
        now: NOW,
        current: current.unwrap_or(instances.len() as u32),
        policy,
        instances,
        app_value,
        recommendations,
    }
}

#[track_caller]
fn check(notation: &str, desired: u32, reason: &str) {
    let decision = decide(&input(notation));
    assert!(
        decision.desired == desired && decision.reason.contains(reason),
        "\n  case:     {notation}\n  got:      {} — {}\n  expected: {desired} — …{reason}…\n",
        decision.desired,
        decision.reason
    );
}

#[test]
#[rustfmt::skip]
fn hpa_doc_examples() {
    // https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/#algorithm-details
    check("cpu:70 cur=2 90 96", 3, "cpu 93% over 2 ready > target 70% → ceil(2×93/70)=3 → scale 2→3");
    check("custom:100 cur=4 ? ? ? ? app=200", 8, "custom 200 with 4 ready > target 100 → ceil(4×200/100)=8 → scale 4→8");
    check("custom:100 cur=4 ? ? ? ? app=50", 2, "custom 50 with 4 ready < target 100 → ceil(4×50/100)=2 → scale 4→2");
    check("cpu:100 cur=2 200 200", 4, "cpu 200% over 2 ready > target 100% → ceil(2×200/100)=4 → scale 2→4");
    // The php-apache walkthrough: 305% of a 50% target on one pod gives 7.
    check("cpu:50 cur=1 305", 7, "ceil(1×305/50)=7 → scale 1→7");
}

#[test]
#[rustfmt::skip]
fn tolerance() {
    check("cpu:70 cur=3 72 72 72", 3, "cpu 72% within 10% of target 70% → keep 3");
    check("cpu:70 cur=3 70 74 72", 3, "cpu 72% within 10% of target 70% → keep 3");
    // Exactly 10 % off is still within (the doc's ≤), despite 77/70 not being exactly 1.1 in floating point.
    check("cpu:70 cur=3 77 77 77", 3, "cpu 77% within 10% of target 70% → keep 3");
    check("cpu:70 cur=3 63 63 63", 3, "cpu 63% within 10% of target 70% → keep 3");
    check("cpu:70 cur=3 78 78 78", 4, "cpu 78% over 3 ready > target 70% → ceil(3×78/70)=4 → scale 3→4");
    check("cpu:70 cur=3 46 46 46", 2, "cpu 46% over 3 ready < target 70% → ceil(3×46/70)=2 → scale 3→2");
    // Outside tolerance, yet the ceiling lands on the current count.
    check("cpu:100 cur=3 80 80 80", 3, "cpu 80% over 3 ready < target 100% → ceil(3×80/100)=3 → keep 3");
    check("memory:80 cur=2 100 100", 3, "memory 100% over 2 ready > target 80% → ceil(2×100/80)=3 → scale 2→3");
}

#[test]
#[rustfmt::skip]
fn min_max_clamp() {
    check("cpu:50 1..4 cur=1 240", 4, "cpu 240% over 1 ready > target 50% → ceil(1×240/50)=5, limited to max 4 → scale 1→4");
    check("cpu:50 1..4 cur=4 100 100 100 100", 4, "ceil(4×100/50)=8, limited to max 4 → keep 4");
    check("cpu:70 2..10 cur=3 10 10 10", 2, "ceil(3×10/70)=1, raised to min 2 → scale 3→2");
    check("cpu:70 2..10 cur=2 0 0", 2, "cpu 0% over 2 ready < target 70% → ceil(2×0/70)=0, raised to min 2 → keep 2");
}

#[test]
#[rustfmt::skip]
fn missing_samples() {
    // Scale up: ready instances without a sample count as 0, which dampens the step…
    check("cpu:70 cur=3 140 140 ?", 4, "cpu 140% over 2 ready > target 70%; with 1 without a sample counted as 0%: 93.3% over 3 → ceil(3×93.3/70)=4 → scale 3→4");
    // …or cancels it when the direction reverses or the ratio falls within tolerance.
    check("cpu:70 cur=3 80 ? ?", 3, "with 2 without a sample counted as 0%: 26.7% over 3 is below target, so no scale up → keep 3");
    check("cpu:70 cur=4 84 84 84 ?", 4, "with 1 without a sample counted as 0%: 63% over 4 is within 10% of target, so no scale up → keep 4");
    // Scale down: for cpu and memory they count as 100 % of their limit (Kubernetes: of the request)…
    check("cpu:70 cur=3 35 35 ?", 3, "cpu 35% over 2 ready < target 70%; with 1 without a sample counted as 100%: 56.7% over 3 → ceil(3×56.7/70)=3 → keep 3");
    check("cpu:50 cur=4 !10 10 10 ?", 3, "with 1 without a sample counted as 100%: 40% over 3 → ceil(3×40/50)=3 → scale 4→3");
    check("cpu:70 cur=4 50 ? ? ?", 4, "with 3 without a sample counted as 100%: 87.5% over 4 is above target, so no scale down → keep 4");
    check("memory:200 cur=4 50 ? ? ?", 2, "with 3 without a sample counted as 100%: 87.5% over 4 → ceil(4×87.5/200)=2 → scale 4→2");
    // …and for rps, a per-pod metric, as the target.
    check("rps:50 cur=3 20 20 ?", 2, "with 1 without a sample counted as 50: 30/replica over 3 → ceil(3×30/50)=2 → scale 3→2");
    check("rps:50 cur=3 10 ? ?", 3, "with 2 without a sample counted as 50: 36.7/replica over 3 → ceil(3×36.7/50)=3 → keep 3");
    // With a sample missing, the first estimate's tolerance does not hold: the recount decides (Kubernetes).
    check("cpu:70 cur=3 72 72 ?", 3, "with 1 without a sample counted as 0%: 48% over 3 is below target, so no scale up → keep 3");
}

#[test]
#[rustfmt::skip]
fn unready_instances() {
    // Scale up: unready instances count as 0, whatever they report.
    check("cpu:70 cur=3 150 150 !", 5, "cpu 150% over 2 ready > target 70%; with 1 unready counted as 0%: 100% over 3 → ceil(3×100/70)=5 → scale 3→5");
    check("cpu:70 cur=3 150 150 !500", 5, "with 1 unready counted as 0%: 100% over 3 → ceil(3×100/70)=5 → scale 3→5");
    check("cpu:70 cur=4 200 ? ! !", 4, "with 2 unready and 1 without a sample counted as 0%: 50% over 4 is below target, so no scale up → keep 4");
    // Scale down: unready instances stay aside; missing ones count as the target.
    check("cpu:70 cur=4 20 20 ! !", 1, "cpu 20% over 2 ready < target 70% (2 unready set aside) → ceil(2×20/70)=1 → scale 4→1");
    check("cpu:70 cur=4 20 ? !", 2, "(1 unready set aside); with 1 without a sample counted as 100%: 60% over 2 → ceil(2×60/70)=2 → scale 4→2");
}

#[test]
#[rustfmt::skip]
fn zero_samples() {
    check("cpu:70 cur=2 ? ?", 2, "no cpu samples yet from 2 instances → keep 2");
    check("cpu:70 cur=2 ! !", 2, "no cpu samples yet from 2 instances → keep 2");
    check("memory:80 cur=2", 2, "no memory samples yet from 0 instances → keep 2");
    check("rps:50 cur=1 ?", 1, "no rps samples yet from 1 instance → keep 1");
    check("cpu:70 cur=2 !90 ?", 2, "no cpu samples from ready instances yet (2 instances, 1 ready) → keep 2");
    check("latency_p95:200 cur=3 ? ? ?", 3, "no latency p95 value yet → keep 3");
    check("latency_p95:200 cur=2 ! ! app=900", 2, "latency p95 900ms but no ready instance yet (2 instances) → keep 2");
}

#[test]
#[rustfmt::skip]
fn rps_per_replica() {
    check("rps:50 cur=2 90 110", 4, "rps 100/replica over 2 ready > target 50 → ceil(2×100/50)=4 → scale 2→4");
    check("rps:50 cur=3 12 12 12", 1, "rps 12/replica over 3 ready < target 50 → ceil(3×12/50)=1 → scale 3→1");
    // A total from the load balancer is spread over the ready instances only.
    check("rps:50 cur=2 ? ? app=150", 3, "rps 150/s total over 2 ready = 75/replica > target 50 → ceil(2×75/50)=3 → scale 2→3");
    check("rps:50 cur=3 ? ? ! app=200", 4, "rps 200/s total over 2 ready = 100/replica > target 50 → ceil(2×100/50)=4 → scale 3→4");
    check("rps:50 cur=2 ? ? app=105", 2, "rps 52.5/replica within 10% of target 50 → keep 2");
}

#[test]
#[rustfmt::skip]
fn app_level_metrics() {
    check("latency_p95:200 cur=3 ? ? ? app=340", 6, "latency p95 340ms with 3 ready > target 200ms → ceil(3×340/200)=6 → scale 3→6");
    check("latency_p95:200 cur=3 ? ? ? app=210", 3, "latency p95 210ms within 10% of target 200ms → keep 3");
    check("latency_p95:200 cur=4 ? ? ? ? app=50", 1, "latency p95 50ms with 4 ready < target 200ms → ceil(4×50/200)=1 → scale 4→1");
    // The base is the ready count, as Kubernetes' object metrics.
    check("latency_p95:200 cur=3 ? ? ! app=400", 4, "latency p95 400ms with 2 ready > target 200ms → ceil(2×400/200)=4 → scale 3→4");
    check("custom:10 cur=2 ? ? app=12.5", 3, "custom 12.5 with 2 ready > target 10 → ceil(2×12.5/10)=3 → scale 2→3");
}

#[test]
#[rustfmt::skip]
fn direction_guard() {
    // Fewer instances run than the spec asks for: the formula would scale down under load, which Kubernetes refuses.
    check("cpu:70 cur=5 100 100", 5, "ceil(2×100/70)=3, but 5 are wanted now: no scale down while cpu is above target → keep 5");
    check("cpu:70 cur=2 50 50 50", 2, "ceil(3×50/70)=3, but 2 are wanted now: no scale up while cpu is below target → keep 2");
}

#[test]
#[rustfmt::skip]
fn scale_down_stabilization() {
    check("rps:50 cur=3 12 12 12 rec=3@30s", 3, "rps 12/replica over 3 ready < target 50 → ceil(3×12/50)=1; highest recommendation in the last 60s is 3 → keep 3 (scale-down stabilization)");
    // Several ages: 5 is too old, 4 and 2 are inside the window, so the app goes down to 4 only.
    check("cpu:70 cur=5 14 14 14 14 14 rec=5@70s rec=4@50s rec=2@10s", 4, "ceil(5×14/70)=1; highest recommendation in the last 60s is 4 → scale 5→4 (scale-down stabilization)");
    // The window's edge belongs to it; a millisecond older does not.
    check("cpu:70 cur=5 14 14 14 14 14 rec=5@60s", 5, "highest recommendation in the last 60s is 5 → keep 5 (scale-down stabilization)");
    check("cpu:70 cur=5 14 14 14 14 14 rec=5@60001ms", 1, "ceil(5×14/70)=1 → scale 5→1");
    check("cpu:70 cur=5 14 14 14 14 14 rec=5@2m rec=4@90s", 1, "ceil(5×14/70)=1 → scale 5→1");
    check("cpu:70 cur=5 14 14 14 14 14 win=30s rec=4@40s rec=3@20s", 3, "highest recommendation in the last 30s is 3 → scale 5→3 (scale-down stabilization)");
    check("cpu:70 cur=5 14 14 14 14 14 win=0 rec=5@1s", 1, "ceil(5×14/70)=1 → scale 5→1");
    // A recommendation stamped after now (a clock that stepped back) is outside [now − window, now].
    check("cpu:70 cur=5 14 14 14 14 14 rec=5@-5s", 1, "ceil(5×14/70)=1 → scale 5→1");
    // Scale up is immediate, whatever the window holds…
    check("cpu:70 cur=2 140 140 rec=2@10s rec=1@20s", 4, "ceil(2×140/70)=4 → scale 2→4");
    // …and the window never scales up: a recommendation above the current count only holds it.
    check("cpu:70 cur=3 35 35 35 rec=6@10s", 3, "ceil(3×35/70)=2; highest recommendation in the last 60s is 6 → keep 3 (scale-down stabilization)");
}

#[test]
#[rustfmt::skip]
fn step_limits() {
    check("cpu:50 cur=2 up=2 200 200", 4, "ceil(2×200/50)=8, at most 2 added per decision (maxScaleUpStep) → scale 2→4");
    check("cpu:50 cur=2 up=6 200 200", 8, "ceil(2×200/50)=8 → scale 2→8");
    check("cpu:70 cur=6 down=1 7 7 7 7 7 7", 5, "ceil(6×7/70)=1, at most 1 removed per decision (maxScaleDownStep) → scale 6→5");
    check("cpu:70 cur=6 down=1 7 7 7 7 7 7 rec=4@30s", 5, "highest recommendation in the last 60s is 4, at most 1 removed per decision (maxScaleDownStep) → scale 6→5 (scale-down stabilization)");
    check("cpu:50 1..5 cur=2 up=1 500 500", 3, "ceil(2×500/50)=20, limited to max 5, at most 1 added per decision (maxScaleUpStep) → scale 2→3");
    // A down limit does not slow a scale up, nor an up limit a scale down.
    check("cpu:50 cur=2 down=1 200 200", 8, "scale 2→8");
    check("cpu:70 cur=6 up=1 7 7 7 7 7 7", 1, "scale 6→1");
}

#[test]
#[rustfmt::skip]
fn scaled_by_hand_outside_range() {
    check("cpu:70 2..5 cur=8 90 90 90 90 90 90 90 90", 5, "8 replicas is above max 5 (scaled by hand, or the policy changed) → scale 8→5 back into [2, 5]");
    check("cpu:70 2..5 cur=1 10", 2, "1 replicas is below min 2 (scaled by hand, or the policy changed) → scale 1→2 back into [2, 5]");
    check("cpu:70 2..5 cur=0", 2, "scale 0→2");
}

/// The rule that held or changed a decision is a typed value, with the numbers the window shows.
#[test]
fn limits_name_the_rule() {
    let limits = |notation: &str| decide(&input(notation)).limits;
    assert_eq!(limits("cpu:70 cur=3 72 72 72"), [Limit::Tolerance { ratio: 72.0 / 70.0, tolerance: 0.1 }]);
    assert_eq!(limits("cpu:70 cur=2 90 96"), []);
    assert_eq!(limits("cpu:70 cur=2 ? ?"), [Limit::NoData]);
    assert_eq!(limits("cpu:70 cur=5 100 100"), [Limit::Direction { computed: 3 }]);
    assert_eq!(limits("cpu:70 cur=3 80 ? ?"), [Limit::SetAside { ratio: 80.0 / 3.0 / 70.0 }]);
    assert_eq!(limits("cpu:50 1..4 cur=1 240"), [Limit::Max { max: 4, wanted: 5 }]);
    assert_eq!(limits("cpu:70 2..10 cur=3 10 10 10"), [Limit::Min { min: 2, wanted: 1 }]);
    assert_eq!(limits("cpu:70 2..5 cur=8"), [Limit::OutOfRange { min: 2, max: 5 }]);
    assert_eq!(
        limits("rps:50 cur=3 12 12 12 rec=3@30s rec=2@10s"),
        [Limit::Stabilization {
            window_ms: 60_000,
            recommendations: vec![(NOW - 30_000, 3), (NOW - 10_000, 2), (NOW, 1)],
            highest: 3
        }]
    );
    assert_eq!(limits("cpu:50 cur=2 up=2 200 200"), [Limit::StepUp { step: 2, wanted: 8 }]);
    assert_eq!(limits("cpu:70 cur=6 down=1 7 7 7 7 7 7"), [Limit::StepDown { step: 1, wanted: 1 }]);
    let ratio = decide(&input("cpu:70 cur=2 90 96")).ratio.unwrap();
    assert!((ratio - 93.0 / 70.0).abs() < 1e-9, "{ratio}");
}

/// `min: 0`: the metric asks for at least one instance, and at zero the autoscaler waits for a request.
#[test]
#[rustfmt::skip]
fn scale_to_zero_policy() {
    check("cpu:70 0..5 cur=3 0 0 0", 1, "ceil(3×0/70)=0, raised to min 1 → scale 3→1");
    check("rps:50 0..5 cur=1 0", 1, "rps 0/replica over 1 ready < target 50 → ceil(1×0/50)=0, raised to min 1 → keep 1");
    check("rps:50 0..5 cur=0", 0, "scaled to zero; the next request wakes it → keep 0");
    assert_eq!(decide(&input("rps:50 0..5 cur=0")).limits, [Limit::AtZero]);
    let spec = parse_spec("name: web\nimage: x\nports: [{ container: 80 }]\nautoscaling: { min: 0, max: 3, metric: rps, target: 5 }\n").unwrap();
    assert_eq!(Policy::from_spec(spec.autoscaling.as_ref().unwrap()).idle_after, Some(DEFAULT_IDLE_AFTER));
    let spec = parse_spec("name: web\nimage: x\nports: [{ container: 80 }]\nautoscaling: { min: 0, max: 3, metric: rps, target: 5, idleAfter: 90s }\n").unwrap();
    assert_eq!(Policy::from_spec(spec.autoscaling.as_ref().unwrap()).idle_after, Some(90_000));
}

/// Utilization is total usage over total limits (Kubernetes' rule), so instances with different limits weigh
/// by their limits during a rollout; the mean of the percentages would say otherwise.
#[test]
#[rustfmt::skip]
fn utilization_weighs_by_limits() {
    // 0.9 of 0.5 cores (180 %) and 0.1 of 2 cores (5 %): 1.0 of 2.5 cores is 40 %, not the mean 92.5 %.
    check("cpu:50 cur=2 0.9/0.5 0.1/2", 2, "cpu 40% over 2 ready < target 50% → ceil(2×40/50)=2 → keep 2");
    check("cpu:50 cur=2 0.9/0.5 0.9/2", 3, "cpu 72% over 2 ready > target 50% → ceil(2×72/50)=3 → scale 2→3");
    // rps is a per-pod metric: limits do not weigh it.
    check("rps:10 cur=2 30@0.5 10@2", 4, "rps 20/replica over 2 ready > target 10 → ceil(2×20/10)=4 → scale 2→4");
}

mod kubernetes;

#[track_caller]
fn check_flags(notation: &str, recommendation: u32, interesting: bool, change: Change) {
    let d = decide(&input(notation));
    assert_eq!(
        (d.recommendation, d.interesting, d.change),
        (recommendation, interesting, change),
        "\n  case: {notation}\n  reason: {}",
        d.reason
    );
}

#[test]
#[rustfmt::skip]
fn recommendation_and_interesting() {
    check_flags("cpu:70 cur=3 72 72 72", 3, false, Change::None);
    check_flags("cpu:100 cur=3 80 80 80", 3, false, Change::None);
    check_flags("latency_p95:200 cur=3 ? ? ? app=210", 3, false, Change::None);
    check_flags("cpu:70 cur=2 90 96", 3, true, Change::Up);
    check_flags("rps:50 cur=3 12 12 12", 1, true, Change::Down);
    // The recommendation is what the metric asks for, before stabilization and steps: that is what the window holds.
    check_flags("rps:50 cur=3 12 12 12 rec=3@30s", 1, true, Change::None);
    check_flags("cpu:50 cur=2 up=2 200 200", 8, true, Change::Up);
    check_flags("cpu:70 cur=2 ? ?", 2, true, Change::None);
    check_flags("cpu:70 cur=3 80 ? ?", 3, true, Change::None);
    check_flags("cpu:70 cur=5 100 100", 5, true, Change::None);
    check_flags("cpu:50 1..4 cur=4 100 100 100 100", 4, true, Change::None);
    check_flags("cpu:50 1..4 cur=1 240", 4, true, Change::Up);
    check_flags("cpu:70 2..5 cur=8", 5, true, Change::Down);
}

#[test]
fn inputs_carry_the_numbers() {
    let d = decide(&input("cpu:70 cur=3 140 140 ? !9 rec=5@10s rec=9@5m"));
    let i = &d.inputs;
    assert_eq!(i["metric"], "cpu");
    assert_eq!(i["instances"][0], json!({ "name": "web-1", "ready": true, "value": 140.0, "limit": null }));
    assert_eq!(i["instances"][2]["value"], Value::Null);
    assert_eq!((i["ready"].as_u64(), i["counted"].as_u64()), (Some(3), Some(2)));
    assert_eq!((i["missing"].clone(), i["unready"].clone()), (json!(["web-3"]), json!(["web-4"])));
    assert_eq!(i["ratio"].as_f64(), Some(2.0));
    assert_eq!(i["recomputed"], json!({ "count": 4, "usage": 70.0, "ratio": 1.0 }));
    assert_eq!(i["window"], json!({ "ms": 60_000, "recommendations": 1, "max": 5, "stabilized": 3 }));
    assert_eq!((i["recommendation"].as_u64(), i["desired"].as_u64()), (Some(3), Some(3)));
    assert!(d.reason.contains("70% over 4 is within 10% of target, so no scale up → keep 3"), "{}", d.reason);

    let app = decide(&input("latency_p95:200 cur=3 ? ? ! app=400"));
    assert_eq!((app.inputs["app_value"].as_f64(), app.inputs["ready"].as_u64()), (Some(400.0), Some(2)));
    assert_eq!(app.inputs["ratio"].as_f64(), Some(2.0));
}

#[test]
fn policy_from_spec() {
    let spec = |autoscaling: &str| {
        let yaml = format!("name: web\nimage: x\nautoscaling: {autoscaling}\n");
        Policy::from_spec(parse_spec(&yaml).expect("valid spec").autoscaling.as_ref().unwrap())
    };
    assert_eq!(
        spec("{ min: 2, max: 10, metric: cpu, target: 70 }"),
        Policy {
            min: 2,
            max: 10,
            metric: Metric::Cpu,
            target: 70.0,
            tolerance: 0.1,
            scale_down_stabilization: 60_000,
            max_scale_up_step: None,
            max_scale_down_step: None,
            idle_after: None,
        }
    );
    let full = spec(
        "{ min: 1, max: 5, metric: latency_p95, target: 200, scaleDownStabilization: 1m30s, maxScaleUpStep: 2, \
         maxScaleDownStep: 1 }",
    );
    assert_eq!(full.metric, Metric::LatencyP95);
    assert_eq!(full.scale_down_stabilization, 90_000);
    assert_eq!((full.max_scale_up_step, full.max_scale_down_step), (Some(2), Some(1)));
    assert_eq!(spec("{ min: 1, max: 5, metric: rps, target: 50, scaleDownStabilization: 30s }").metric, Metric::Rps);
    for name in crate::validate::AUTOSCALING_METRICS {
        let metric = Metric::from_name(name).expect("every metric validation accepts is known");
        assert_eq!(metric.as_str(), *name);
    }
    let labels: Vec<&str> =
        [Metric::Cpu, Metric::Memory, Metric::Rps, Metric::LatencyP95, Metric::Custom].map(Metric::label).to_vec();
    assert_eq!(labels, ["cpu", "memory", "rps", "latency p95", "custom"]);
}

#[test]
fn numbers_read_well() {
    let cases =
        [(93.0, "93"), (93.333, "93.3"), (46.666, "46.7"), (0.25, "0.25"), (1.5, "1.5"), (0.0, "0"), (-0.001, "0")];
    for (value, text) in cases {
        assert_eq!(number(value), text, "{value}");
    }
    assert_eq!(ceil_count(3.0 * (140.0 / 3.0) / 70.0), 2);
    assert_eq!(ceil_count(2.01), 3);
    assert_eq!(ceil_count(-1.0), 0);
    assert_eq!(ceil_count(f64::NAN), 0);
    assert_eq!(ceil_count(1e12), u32::MAX);
}

use crate::test_rng::{tape, Rng};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn property_invariants(tape in tape()) {
        property_case(Rng::new(tape));
    }
}

fn property_case(mut rng: Rng) {
    const METRICS: [Metric; 5] = [Metric::Cpu, Metric::Memory, Metric::Rps, Metric::LatencyP95, Metric::Custom];
    let case = 0;
    {
        let min = rng.range(0, 5) as u32;
        let max = min.max(1) + rng.range(0, 8) as u32;
        let target = rng.range(10, 200) as f64;
        let policy = Policy {
            min,
            max,
            metric: METRICS[rng.range(0, 4) as usize],
            target,
            tolerance: DEFAULT_TOLERANCE,
            scale_down_stabilization: [0, 30_000, 60_000][rng.range(0, 2) as usize],
            max_scale_up_step: rng.chance(40).then(|| rng.range(1, 3) as u32),
            max_scale_down_step: rng.chance(40).then(|| rng.range(1, 3) as u32),
            idle_after: (min == 0).then_some(DEFAULT_IDLE_AFTER),
        };
        let instances = (0..rng.range(0, 8))
            .map(|i| InstanceSample {
                name: format!("web-{}", i + 1),
                ready: rng.chance(80),
                value: rng.chance(80).then(|| rng.range(0, 300) as f64 * target / 100.0),
                limit: rng.chance(30).then(|| rng.range(1, 8) as f64 / 4.0),
            })
            .collect();
        let recommendations =
            (0..rng.range(0, 5)).map(|_| (NOW - rng.range(0, 120_000), rng.range(1, 15) as u32)).collect();
        let input = Input {
            app: "web".to_string(),
            now: NOW,
            current: rng.range(0, u64::from(max) + 3) as u32,
            policy: policy.clone(),
            instances,
            app_value: rng.chance(60).then(|| rng.range(0, 400) as f64 * target / 100.0),
            recommendations,
        };
        let d = decide(&input);
        let current = input.current;
        let context = format!("case {case}: {input:?}\n  → {d:?}");

        assert!((min..=max).contains(&d.desired), "desired outside [min, max]: {context}");
        assert!((min..=max).contains(&d.recommendation), "recommendation outside [min, max]: {context}");
        assert_eq!(d, decide(&input), "not deterministic: {context}");
        let expected_change = match d.desired.cmp(&current) {
            std::cmp::Ordering::Greater => Change::Up,
            std::cmp::Ordering::Less => Change::Down,
            std::cmp::Ordering::Equal => Change::None,
        };
        assert_eq!(d.change, expected_change, "{context}");
        assert!(d.change == Change::None || d.interesting, "every change is interesting: {context}");
        // Only idleness takes an app to zero: the metric never does.
        assert!(current == 0 || d.desired >= 1, "the metric took the app to zero: {context}");
        // A hold that is worth logging names the rule that held it.
        if d.change == Change::None && d.interesting {
            assert!(!d.limits.is_empty(), "an interesting hold without its rule: {context}");
        }
        let outcome = match d.change {
            Change::None => format!("→ keep {current}"),
            _ => format!("→ scale {current}→{}", d.desired),
        };
        assert!(d.reason.contains(&outcome), "the reason ends with its outcome: {context}");

        if !(min..=max).contains(&current) {
            return;
        }
        // Stabilization: a scale down never goes below any recommendation of the window, nor below this one.
        if d.change == Change::Down {
            let since = NOW - policy.scale_down_stabilization;
            for &(at, r) in input.recommendations.iter().filter(|(at, _)| *at >= since) {
                assert!(d.desired >= r, "scaled down below the recommendation {r} made at {at}: {context}");
            }
            assert!(d.desired >= d.recommendation, "{context}");
        }
        // Step limits, and scale up is immediate when there is none.
        match d.change {
            Change::Up => {
                let step = policy.max_scale_up_step.unwrap_or(u32::MAX);
                assert!(d.desired - current <= step, "up step exceeded: {context}");
                assert_eq!(d.desired, d.recommendation.min(current.saturating_add(step)), "{context}");
            }
            Change::Down => {
                let step = policy.max_scale_down_step.unwrap_or(u32::MAX);
                assert!(current - d.desired <= step, "down step exceeded: {context}");
            }
            Change::None => {}
        }
    }
}

/// The decision's record carries the numbers as fields (what chart markers and the window read), and serializes
/// with the spec's metric names.
#[test]
fn decision_record_has_the_numbers() {
    let record = |notation: &str| {
        let input = input(notation);
        decide(&input).record(&input)
    };
    let up = record("cpu:70 cur=2 90 96");
    assert_eq!((up.from, up.to, up.metric, up.target), (2, 3, Metric::Cpu, 70.0));
    assert!((up.value.unwrap() - 93.0).abs() < 1e-9, "{up:?}");
    let per_replica = record("rps:10 cur=2 ? ? app=60");
    assert_eq!((per_replica.from, per_replica.to, per_replica.value), (2, 6, Some(30.0)));
    let hold = record("cpu:70 cur=3 72 72 72");
    assert_eq!((hold.from, hold.to, hold.value), (3, 3, Some(72.0)));
    assert_eq!(record("cpu:70 cur=2 ? ?").value, None, "no samples, no usage");
    assert_eq!(record("cpu:70 2..5 cur=9 50").value, None, "out of range: the metric is not looked at");
    let json = serde_json::to_value(record("latency_p95:200 cur=2 ? ? app=400")).unwrap();
    assert_eq!(json, json!({ "from": 2, "to": 4, "metric": "latency_p95", "value": 400.0, "target": 200.0 }));
    assert_eq!(serde_json::from_value::<DecisionRecord>(json).unwrap().metric, Metric::LatencyP95);
}
