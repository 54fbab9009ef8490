//! Probe bookkeeping with Kubernetes semantics, as pure state machines: the engine runs the probes and feeds each
//! [`Outcome`] here; [`InstanceHealth::observe`] says what changed.
//!
//! - A startup probe, when configured, holds the other probes until it passes once; failing `failureThreshold` times
//!   in a row restarts the instance.
//! - Liveness failing `failureThreshold` times in a row restarts the instance.
//! - Readiness: an instance is ready after `successThreshold` consecutive successes and unready after
//!   `failureThreshold` consecutive failures. It starts unready. Without a readiness probe an instance is ready once
//!   it runs (and its startup probe passed).

use std::time::Duration;

use crate::spec::{Health, Probe, ProbeType};

/// Kubernetes' default probe period.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
/// Kubernetes' default probe timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Kubernetes' default failure threshold.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Kubernetes' default success threshold.
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;

/// Which probe an outcome belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    /// Startup probe.
    Startup,
    /// Liveness probe.
    Liveness,
    /// Readiness probe.
    Readiness,
}

impl ProbeKind {
    /// Lowercase name, as in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
        }
    }
}

/// Result of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The probe passed.
    Success,
    /// The probe failed; the text says how ("GET /health returned 500", "connect timed out after 1s").
    Failure(String),
}

/// A probe's settings with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    /// How it checks.
    pub kind: ProbeType,
    /// HTTP path.
    pub path: String,
    /// Port (http/tcp); `None` for exec.
    pub port: Option<u16>,
    /// Command (exec).
    pub command: Vec<String>,
    /// Time between runs.
    pub period: Duration,
    /// Timeout of one run.
    pub timeout: Duration,
    /// Delay before the first run.
    pub initial_delay: Duration,
    /// Consecutive failures that count as failed.
    pub failure_threshold: u32,
    /// Consecutive successes that count as passed.
    pub success_threshold: u32,
}

impl ProbeSettings {
    /// Applies Kubernetes defaults to a validated probe; `default_port` is the app's first container port.
    pub fn from_spec(probe: &Probe, default_port: Option<u16>, which: ProbeKind) -> ProbeSettings {
        let dur = |d: Option<crate::units::Duration>, default: Duration| d.map_or(default, |d| d.to_std());
        // Kubernetes requires successThreshold 1 for liveness and startup probes.
        let success_threshold = match which {
            ProbeKind::Readiness => probe.success_threshold.unwrap_or(DEFAULT_SUCCESS_THRESHOLD).max(1),
            _ => 1,
        };
        ProbeSettings {
            kind: probe.kind,
            path: probe.path.clone().unwrap_or_else(|| "/".to_string()),
            port: match probe.kind {
                ProbeType::Exec => None,
                _ => probe.port.or(default_port),
            },
            command: probe.command.clone().unwrap_or_default(),
            period: dur(probe.period, DEFAULT_PERIOD),
            timeout: dur(probe.timeout, DEFAULT_TIMEOUT),
            initial_delay: dur(probe.initial_delay, Duration::ZERO),
            failure_threshold: probe.failure_threshold.unwrap_or(DEFAULT_FAILURE_THRESHOLD).max(1),
            success_threshold,
        }
    }

    /// A short description for messages ("http GET :8080/health every 5s").
    pub fn describe(&self) -> String {
        let what = match self.kind {
            ProbeType::Http => format!("http GET :{}{}", self.port.unwrap_or(0), self.path),
            ProbeType::Tcp => format!("tcp connect :{}", self.port.unwrap_or(0)),
            ProbeType::Exec => format!("exec {}", self.command.join(" ")),
        };
        format!("{what} every {}", crate::units::format_millis(self.period.as_millis() as u64))
    }
}

/// Every configured probe of an app, with defaults applied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthSettings {
    /// Startup probe.
    pub startup: Option<ProbeSettings>,
    /// Liveness probe.
    pub liveness: Option<ProbeSettings>,
    /// Readiness probe.
    pub readiness: Option<ProbeSettings>,
}

impl HealthSettings {
    /// From the spec's `health` section.
    pub fn from_spec(health: Option<&Health>, default_port: Option<u16>) -> HealthSettings {
        let Some(h) = health else { return HealthSettings::default() };
        HealthSettings {
            startup: h.startup.as_ref().map(|p| ProbeSettings::from_spec(p, default_port, ProbeKind::Startup)),
            liveness: h.liveness.as_ref().map(|p| ProbeSettings::from_spec(p, default_port, ProbeKind::Liveness)),
            readiness: h.readiness.as_ref().map(|p| ProbeSettings::from_spec(p, default_port, ProbeKind::Readiness)),
        }
    }

    /// Whether any probe is configured.
    pub fn any(&self) -> bool {
        self.startup.is_some() || self.liveness.is_some() || self.readiness.is_some()
    }

    /// The settings of one probe.
    pub fn get(&self, kind: ProbeKind) -> Option<&ProbeSettings> {
        match kind {
            ProbeKind::Startup => self.startup.as_ref(),
            ProbeKind::Liveness => self.liveness.as_ref(),
            ProbeKind::Readiness => self.readiness.as_ref(),
        }
    }
}

/// Consecutive results of one probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    /// Successes in a row.
    pub successes: u32,
    /// Failures in a row.
    pub failures: u32,
}

impl Counter {
    fn observe(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Success => {
                self.successes += 1;
                self.failures = 0;
            }
            Outcome::Failure(_) => {
                self.failures += 1;
                self.successes = 0;
            }
        }
    }
}

/// What an observation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The startup probe passed: liveness and readiness probes start.
    Started,
    /// The instance became ready (receives traffic).
    Ready,
    /// The instance became unready (taken out of the load balancer); the text says why.
    Unready(String),
    /// The instance must be restarted (startup or liveness failed); the text says why.
    Restart(String),
}

/// Probe state of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHealth {
    settings: HealthSettings,
    /// Whether the startup probe passed (true when there is none).
    pub started: bool,
    /// Whether the instance is ready.
    pub ready: bool,
    /// Counters per probe.
    pub startup: Counter,
    /// Liveness counter.
    pub liveness: Counter,
    /// Readiness counter.
    pub readiness: Counter,
    /// The last failure message and which probe produced it.
    pub last_failure: Option<(ProbeKind, String)>,
    /// Set once a restart was asked for; later outcomes are ignored.
    pub doomed: bool,
}

impl InstanceHealth {
    /// Health of a freshly started instance.
    pub fn new(settings: HealthSettings) -> InstanceHealth {
        let started = settings.startup.is_none();
        // Without a readiness probe a started instance is ready at once.
        let ready = started && settings.readiness.is_none();
        InstanceHealth {
            settings,
            started,
            ready,
            startup: Counter::default(),
            liveness: Counter::default(),
            readiness: Counter::default(),
            last_failure: None,
            doomed: false,
        }
    }

    /// Whether the probe of `kind` should run now (startup gates the others).
    pub fn should_run(&self, kind: ProbeKind) -> bool {
        if self.doomed || self.settings.get(kind).is_none() {
            return false;
        }
        match kind {
            ProbeKind::Startup => !self.started,
            _ => self.started,
        }
    }

    /// Records one outcome and returns what changed.
    pub fn observe(&mut self, kind: ProbeKind, outcome: &Outcome) -> Vec<Transition> {
        let mut out = Vec::new();
        if !self.should_run(kind) {
            return out;
        }
        let Some(settings) = self.settings.get(kind).cloned() else { return out };
        if let Outcome::Failure(why) = outcome {
            self.last_failure = Some((kind, why.clone()));
        }
        match kind {
            ProbeKind::Startup => {
                self.startup.observe(outcome);
                if self.startup.successes >= settings.success_threshold {
                    self.started = true;
                    out.push(Transition::Started);
                    if self.settings.readiness.is_none() {
                        self.ready = true;
                        out.push(Transition::Ready);
                    }
                } else if self.startup.failures >= settings.failure_threshold {
                    self.doomed = true;
                    out.push(Transition::Restart(format!(
                        "startup probe ({}) failed {} times in a row: {}",
                        settings.describe(),
                        self.startup.failures,
                        failure_text(outcome)
                    )));
                }
            }
            ProbeKind::Liveness => {
                self.liveness.observe(outcome);
                if self.liveness.failures >= settings.failure_threshold {
                    self.doomed = true;
                    out.push(Transition::Restart(format!(
                        "liveness probe ({}) failed {} times in a row: {}",
                        settings.describe(),
                        self.liveness.failures,
                        failure_text(outcome)
                    )));
                }
            }
            ProbeKind::Readiness => {
                self.readiness.observe(outcome);
                if !self.ready && self.readiness.successes >= settings.success_threshold {
                    self.ready = true;
                    out.push(Transition::Ready);
                } else if self.ready && self.readiness.failures >= settings.failure_threshold {
                    self.ready = false;
                    out.push(Transition::Unready(format!(
                        "readiness probe ({}) failed {} times in a row: {}",
                        settings.describe(),
                        self.readiness.failures,
                        failure_text(outcome)
                    )));
                }
            }
        }
        out
    }

    /// The settings this state was made with.
    pub fn settings(&self) -> &HealthSettings {
        &self.settings
    }
}

fn failure_text(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Success => "ok",
        Outcome::Failure(why) => why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(kind: ProbeType, failure: u32, success: u32) -> Probe {
        Probe {
            kind,
            path: Some("/health".into()),
            port: None,
            command: None,
            period: Some(crate::units::Duration::from_secs(1)),
            timeout: None,
            initial_delay: None,
            failure_threshold: Some(failure),
            success_threshold: Some(success),
        }
    }

    fn health(startup: bool, liveness: bool, readiness: bool) -> InstanceHealth {
        let h = Health {
            startup: startup.then(|| probe(ProbeType::Http, 2, 1)),
            liveness: liveness.then(|| probe(ProbeType::Http, 3, 1)),
            readiness: readiness.then(|| probe(ProbeType::Http, 2, 2)),
        };
        InstanceHealth::new(HealthSettings::from_spec(Some(&h), Some(8080)))
    }

    const OK: Outcome = Outcome::Success;
    fn bad() -> Outcome {
        Outcome::Failure("GET /health returned 500".into())
    }

    /// Feeds `steps` ("s+" startup ok, "l-" liveness failed, "r+"…) and returns the transitions, one string each.
    fn check(mut h: InstanceHealth, steps: &str, expected: &[&str]) {
        let mut got = Vec::new();
        for step in steps.split_whitespace() {
            let kind = match &step[..1] {
                "s" => ProbeKind::Startup,
                "l" => ProbeKind::Liveness,
                _ => ProbeKind::Readiness,
            };
            let outcome = if step.ends_with('+') { OK } else { bad() };
            for t in h.observe(kind, &outcome) {
                got.push(match t {
                    Transition::Started => "started".to_string(),
                    Transition::Ready => "ready".to_string(),
                    Transition::Unready(_) => "unready".to_string(),
                    Transition::Restart(why) => format!("restart:{}", why.split(' ').next().unwrap()),
                });
            }
        }
        assert_eq!(got, expected, "steps: {steps}");
    }

    #[test]
    fn transitions_follow_kubernetes_semantics() {
        check(health(false, false, false), "r+ l-", &[]);
        check(health(false, false, true), "r+ r+", &["ready"]);
        check(health(false, false, true), "r+ r- r+ r+ r- r-", &["ready", "unready"]);
        check(health(false, false, true), "r+ r+ r- r+ r- r-", &["ready", "unready"]);
        check(health(false, true, false), "l- l- l+ l- l- l-", &["restart:liveness"]);
        check(health(false, true, false), "l- l- l- l- l-", &["restart:liveness"]);
        check(health(true, true, true), "l- l- l- r+ r+", &[]);
        check(health(true, true, true), "s- s+ r+ r+", &["started", "ready"]);
        check(health(true, false, false), "s+", &["started", "ready"]);
        check(health(true, true, false), "s- s-", &["restart:startup"]);
    }

    #[test]
    fn readiness_starts_unready_and_no_probe_means_ready() {
        assert!(!health(false, false, true).ready);
        assert!(health(false, true, false).ready);
        assert!(!health(true, false, false).ready);
    }

    #[test]
    fn defaults_follow_kubernetes() {
        let p = Probe {
            kind: ProbeType::Tcp,
            path: None,
            port: None,
            command: None,
            period: None,
            timeout: None,
            initial_delay: None,
            failure_threshold: None,
            success_threshold: Some(5),
        };
        let s = ProbeSettings::from_spec(&p, Some(8080), ProbeKind::Liveness);
        assert_eq!(
            (s.period, s.timeout, s.failure_threshold, s.success_threshold),
            (DEFAULT_PERIOD, DEFAULT_TIMEOUT, 3, 1)
        );
        assert_eq!(s.port, Some(8080));
        assert_eq!(ProbeSettings::from_spec(&p, Some(8080), ProbeKind::Readiness).success_threshold, 5);
    }
}
