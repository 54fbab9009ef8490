//! The cases of Kubernetes' own replica-calculator tests (`pkg/controller/podautoscaler/replica_calculator_test.go`,
//! kubernetes/kubernetes at 00067268967ec95a40035bd666374a1caf48dd1a), transcribed as Crane inputs and the replica
//! count Kubernetes expects, so a regression names the Kubernetes test it breaks.
//!
//! The transcription, in the notation of `tests.rs`:
//! - resource metrics (`GetResourceReplicas`) are `cpu`: a level of 300 mCPU per container against a 1-CPU request
//!   is 30 %; different requests are written as usage/limit (`1010/900`);
//! - per-pod custom metrics (`GetMetricReplicas`, `podMetric`) are `rps` per instance, in whole units (Kubernetes
//!   gives milli-units: 20000 is 20);
//! - object and external metrics with a `Value` target (`GetObjectMetricReplicas`, `GetExternalMetricReplicas`:
//!   `ceil(ready × value / target)`) are `custom` with the app's value;
//! - per-pod object and external metrics (`AverageValue`: `ceil(total / target)`) are `rps` given as the app's total;
//! - `podReadiness: False` is `!`, a pod without a sample `?`; failed, pending-deletion and superfluous pods are not
//!   among Crane's instances (the engine passes only live instances, each with its own sample);
//! - an error in Kubernetes (no metrics at all) leaves the HPA at its current count, which is what Crane's hold does.

use super::*;

/// How Crane's answer relates to Kubernetes'.
enum Verdict {
    /// The same replica count.
    Same,
    /// A deliberate departure, listed in the README's "Crane vs the Kubernetes HPA" table.
    Departs {
        /// Crane's count.
        crane: u32,
        /// The README row.
        why: &'static str,
    },
}
use Verdict::*;

const UNREADY: &str = "unready instances are set aside for every metric, not only cpu";
const DIRECTION: &str = "the direction check applies on every path";

/// (Kubernetes test, Crane input, Kubernetes' expected replicas, verdict).
#[rustfmt::skip]
const CASES: &[(&str, &str, u32, Verdict)] = &[
    ("TestReplicaCalcScaleUp",                                   "cpu:30 30 50 70", 5, Same),
    ("TestReplicaCalcScaleUpUnreadyLessScale",                   "cpu:30 !30 50 70", 4, Same),
    ("TestReplicaCalcScaleUpUnreadyNoScale",                     "cpu:30 40 !50 !70", 3, Same),
    // Its hot-CPU pods are unready too; readiness alone gives the answer.
    ("TestReplicaCalcScaleHotCpuNoScale",                        "cpu:30 40 !50 !70", 3, Same),
    ("TestReplicaCalcScaleUpIgnoresFailedPods",                  "cpu:30 cur=2 50 70", 4, Same),
    ("TestReplicaCalcScaleUpIgnoresDeletionPods",                "cpu:30 cur=2 50 70", 4, Same),
    ("TestReplicaCalcScaleUpCM",                                 "rps:15 20 10 30", 4, Same),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale",         "rps:15 50 10 !30", 6, Departs { crane: 4, why: UNREADY }),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", "rps:15 !50 15 !30", 7, Departs { crane: 3, why: UNREADY }),
    ("TestReplicaCalcScaleUpCMObject",                           "custom:15 ? ? ? app=20", 4, Same),
    ("TestReplicaCalcScaleUpCMPerPodObject",                     "rps:5 ? ? ? app=20", 4, Same),
    ("TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods",         "custom:10 ! ? ! app=50", 5, Same),
    ("TestReplicaCalcScaleUpCMExternal",                         "rps:4.4 8.6", 2, Same),
    ("TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods",       "custom:4.4 ! ? ! app=8.6", 2, Departs { crane: 3, why: DIRECTION }),
    ("TestReplicaCalcScaleUpCMExternalNoLabels",                 "rps:4.4 8.6", 2, Same),
    ("TestReplicaCalcScaleUpPerPodCMExternal",                   "rps:2.15 ? ? ? app=8.6", 4, Same),
    ("TestReplicaCalcScaleDown",                                 "cpu:50 10 30 50 25 25", 3, Same),
    ("TestReplicaCalcScaleDownCM",                               "rps:20 12 12 12 12 12", 3, Same),
    ("TestReplicaCalcScaleDownPerPodCMObject",                   "rps:2 ? ? ? ? ? app=6", 3, Same),
    ("TestReplicaCalcScaleDownCMObject",                         "custom:20 ? ? ? ? ? app=12", 3, Same),
    ("TestReplicaCalcScaleDownCMExternal",                       "custom:14.334 ? ? ? ? ? app=8.6", 3, Same),
    ("TestReplicaCalcScaleDownPerPodCMExternal",                 "rps:2.867 ? ? ? ? ? app=8.6", 3, Same),
    ("TestReplicaCalcScaleDownIncludeUnreadyPods",               "cpu:50 10 30 50 !25 !25", 2, Same),
    ("TestReplicaCalcScaleDownExcludeUnscheduledPods",           "cpu:50 10 ! ! ! !", 1, Same),
    ("TestReplicaCalcScaleDownIgnoresFailedPods",                "cpu:50 10 30 50 25 25", 3, Same),
    ("TestReplicaCalcScaleDownIgnoresDeletionPods",              "cpu:50 10 30 50 25 25", 3, Same),
    ("TestReplicaCalcTolerance",                                 "cpu:100 1010/900 1030/1000 1020/1100", 3, Same),
    ("TestReplicaCalcToleranceCM",                               "rps:20 20 21 21", 3, Same),
    ("TestReplicaCalcToleranceCMObject",                         "custom:20 ? ? ? app=20.666", 3, Same),
    ("TestReplicaCalcTolerancePerPodCMObject",                   "rps:5 ? ? ? ? app=20.166", 4, Same),
    ("TestReplicaCalcToleranceCMExternal",                       "custom:8.888 ? ? ? app=8.6", 3, Same),
    ("TestReplicaCalcTolerancePerPodCMExternal",                 "rps:2.9 ? ? ? app=8.6", 3, Same),
    ("TestReplicaCalcSuperfluousMetrics",                        "cpu:100 1..30 400 950 300 700", 24, Same),
    ("TestReplicaCalcMissingMetrics",                            "cpu:100 40 9.5 ? ?", 3, Same),
    ("TestReplicaCalcEmptyMetrics",                              "cpu:100 cur=4 ? ? ?", 4, Same),
    ("TestReplicaCalcMissingMetricsNoChangeEq",                  "cpu:100 100 ?", 2, Same),
    ("TestReplicaCalcMissingMetricsNoChangeGt",                  "cpu:100 190 ?", 2, Same),
    ("TestReplicaCalcMissingMetricsNoChangeLt",                  "cpu:100 60 ?", 2, Same),
    ("TestReplicaCalcMissingMetricsUnreadyChange",               "cpu:50 !10 45 ?", 3, Same),
    ("TestReplicaCalcMissingMetricsUnreadyScaleUp",              "cpu:50 !10 200 ?", 4, Same),
    ("TestReplicaCalcMissingMetricsHotCpuScaleUp",               "cpu:50 !10 200 ?", 4, Same),
    // The case of issue 12: a ready instance without a sample counts as 100 % of its limit on a scale down.
    ("TestReplicaCalcMissingMetricsUnreadyScaleDown",            "cpu:50 !10 10 10 ?", 3, Same),
    ("TestReplicaCalcDuringRollingUpdateWithMaxSurge",           "cpu:50 cur=2 10 10 ?", 2, Same),
    // 10 pods at 150 mCPU against requests spread around 300 mCPU: 50 % by total usage over total requests (the
    // mean of the percentages would be 51.3 %, and give 10 at target 56).
    ("TestReplicaCalcComputedToleranceAlgImplementation/scale",  "cpu:56 1..20 150/400 150/200 150/310 150/290 150/302 150/298 150/301 150/299 150/300 150/300", 9, Same),
    ("TestReplicaCalcComputedToleranceAlgImplementation/hold",   "cpu:55 1..20 150/400 150/200 150/310 150/290 150/302 150/298 150/301 150/299 150/300 150/300", 10, Same),
];

/// The tests of that file Crane's inputs cannot express, and why.
#[rustfmt::skip]
const NOT_EXPRESSIBLE: &[(&str, &str)] = &[
    ("TestReplicaCalcDisjointResourcesMetrics", "a sample of a pod that does not exist: each Crane sample belongs to the instance that carries it"),
    ("TestReplicaCalcEmptyCPURequest", "a pod without a CPU request: every Crane instance has limits (the spec's, or Crane's defaults)"),
    ("TestReplicaCalcScaleUpHotCpuLessScale", "a ready pod inside the CPU initialization period: Crane's input has no start times"),
    ("TestReplicaCalcScaleDownIgnoreHotCpuPods", "a ready pod inside the CPU initialization period: Crane's input has no start times"),
    ("TestReplicaCalcMissingMetricsHotCpuNoChange", "a ready pod inside the CPU initialization period: Crane's input has no start times"),
    ("TestGroupPods", "tests the pod grouping helper, not a replica count"),
];

#[test]
fn kubernetes_replica_calculator_cases() {
    let mut failures = Vec::new();
    for (name, notation, kubernetes, verdict) in CASES {
        let decision = decide(&input(notation));
        let (expected, note) = match verdict {
            Same => (*kubernetes, String::new()),
            Departs { crane, why } => {
                assert_ne!(crane, kubernetes, "{name}: a departure must differ from Kubernetes");
                (*crane, format!(" (departure: {why})"))
            }
        };
        if decision.desired != expected {
            failures.push(format!(
                "{name}: `{notation}` gave {}, expected {expected}{note}; Kubernetes says {kubernetes}\n    {}",
                decision.desired, decision.reason
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// Every test of the file is either transcribed or named with the reason it cannot be.
#[test]
fn every_kubernetes_case_is_accounted_for() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.0.split('/').next().unwrap()).collect();
    names.extend(NOT_EXPRESSIBLE.iter().map(|c| c.0));
    names.sort();
    names.dedup();
    // The file at that commit has 50 test functions.
    assert_eq!(names.len(), 50, "{names:?}");
    let departures = CASES.iter().filter(|c| matches!(c.3, Departs { .. })).count();
    assert_eq!((CASES.len(), departures), (45, 3));
}
